// SPDX-License-Identifier: Apache-2.0
/*
 * The node protocol of the control plane (/internal/v1, node token):
 *   POST /nodes                      register {name, address, memory_mb, cpu_milli[, gpus,
 *                                    subnet]} -> {index, version, budget[, subnet]}:
 *                                    subnet is the node's block of XWHISK_SANDBOX_CIDR
 *   POST /nodes/{name}/heartbeat     {sandboxes: [{id, inflight, idle_ms}], stem_cells: {},
 *                                    namespaces: {}} -> {unknown, budget} (ns_budget.h)
 *   POST /allocate                   {subject, docid, action_id, kind, revision, memory_mb,
 *                                    concurrency[, cpu_milli, gpus], node} -> {sandbox}
 *   GET  /sandboxes                  the whole pool (for a resync)
 *   POST /sandboxes/{id}             the owner's report {node, state: warm|failed|removed,
 *                                    addr, port}
 *   POST /sandboxes/{id}/unmark      {node}: an activation arrived while it was draining
 *   POST /sandboxes/{id}/broken      {node}: an activation failed in it (any node may say)
 * Every change goes out on the event stream.
 *
 * A controller on standby (another one leads, leader.h) answers heartbeats and
 * allocations 503 with "X-Xwhisk-Standby: 1": a node given several controllers moves on
 * to the next one. Registration works on standby too (the node is known at the election).
 */
#include <errno.h>
#include <string.h>

#include "allocator.h"
#include "cluster.h"
#include "controller.h"
#include "internal.h"
#include "json.h"
#include "log.h"
#include "ns_budget.h"
#include "subnets.h"

static struct cnode *caller_node(struct api_req *r, const json_t *body, const char *name)
{
	struct cnode *n = cluster_node_by_name(r->ctl->cluster, name ? name : json_obj_str(body, "node") ?: "");

	if (!n)
		api_error(r, 404, "Unknown node; register first.");
	return n;
}

/* The node should ask the controller that leads. */
static void standby_error(struct api_req *r)
{
	http_resp_header(r->http, "X-Xwhisk-Standby", "1");
	api_error(r, 503, "This controller is on standby: another one leads the cluster.");
}

/* The node's shares of namespace limits, into reply; none from a standby controller (the
 * node's leases run out and it falls back to an even share). */
static int add_budget(struct api_req *r, struct cnode *n, const json_t *report, json_t *reply)
{
	json_t *budget = NULL;
	const char *why = NULL;
	int err;

	if (r->ctl->cluster->standby)
		return 0;
	err = ns_budget_heartbeat(r->ctl->budget, r->ctl->cluster, n, report,
				  loop_now_ms(r->ctl->loop), &budget, &why);
	if (err) {
		pr_warn("cluster: bad namespace report from %s: %s", n->name, why);
		return err;
	}
	json_object_set_new(reply, "budget", budget);
	return 0;
}

/* The node's block of the cluster's sandbox CIDR into block ("" when none), and into the
 * registration when the node brought no subnet of its own. */
static int assign_subnet(struct api_req *r, json_t *body, char *block, size_t len)
{
	const char *name = json_obj_str(body, "name"), *own = json_obj_str(body, "subnet");
	int err;

	block[0] = '\0';
	if (!r->ctl->subnets || !name || strlen(name) >= 64 || (own && strlen(own) >= 32))
		return 0; /* (cluster_register says what is wrong with the rest) */
	err = subnet_plan_assign(r->ctl->subnets, r->st, name, own, block, len);
	if (err == -ENOSPC)
		api_error(r, 503, "No sandbox subnet is left for this node in XWHISK_SANDBOX_CIDR.");
	else if (err)
		api_error_store(r, err);
	if (err)
		return err;
	if (!own && block[0])
		json_object_set_new(body, "subnet", json_string(block));
	return 0;
}

static void nodes_register(struct api_req *r)
{
	json_t *body = api_body_object(r), *answer;
	char block[SUBNET_TEXT];
	const char *why = NULL;
	struct cnode *n;

	if (!body || assign_subnet(r, body, block, sizeof(block))) {
		json_decref(body);
		return;
	}
	n = cluster_register(r->ctl->cluster, body, &why);
	if (!n) {
		pr_warn("cluster: refused a registration from %s: %s", r->http->peer, why);
		api_error(r, 400, "%s", why);
	} else {
		answer = json_pack("{s:i,s:I}", "index", n->idx, "version",
				   (json_int_t)event_log_version(r->ctl->events));
		add_budget(r, n, NULL, answer);
		if (block[0])
			json_object_set_new(answer, "subnet", json_string(block));
		api_reply(r, 200, answer);
	}
	json_decref(body);
}

static void nodes_heartbeat(struct api_req *r, const char *name)
{
	json_t *body = api_body_object(r), *unknown, *reply;
	const char *why = NULL;
	struct cnode *n;

	if (!body)
		return;
	if (r->ctl->cluster->standby) {
		standby_error(r);
		goto out;
	}
	n = caller_node(r, body, name);
	if (!n)
		goto out;
	if (n->rejoin) {
		/* elected since its last registration: its list of sandboxes is wanted */
		api_error(r, 404, "Register again: this controller leads the cluster now.");
		goto out;
	}
	unknown = json_array();
	reply = json_pack("{s:o}", "unknown", unknown);
	if (cluster_heartbeat(r->ctl->cluster, n, body, unknown, &why)) {
		pr_warn("cluster: bad heartbeat from %s: %s", n->name, why);
		api_error(r, 400, "%s", why);
		json_decref(reply);
	} else if (add_budget(r, n, json_object_get(body, "namespaces"), reply)) {
		api_error(r, 400, "The heartbeat's namespaces are malformed.");
		json_decref(reply);
	} else {
		api_reply(r, 200, reply);
	}
out:
	json_decref(body);
}

static void allocate_sandbox(struct api_req *r)
{
	json_t *body = api_body_object(r);
	struct alloc_request req;
	struct gsandbox *s;
	const char *why = NULL;
	int err;

	if (!body)
		return;
	if (alloc_request_parse(r->ctl->cluster, body, &req, &why)) {
		api_error(r, 400, "%s", why);
		goto out;
	}
	err = allocate(r->ctl->cluster, &req, &s);
	if (err == -ENOSPC)
		api_error(r, 503, "No node has room for the sandbox.");
	else if (err == -EAGAIN)
		standby_error(r);
	else if (err)
		api_error(r, 500, "Internal Server Error");
	else
		api_reply(r, 200, json_pack("{s:o}", "sandbox", cluster_sandbox_json(s)));
out:
	json_decref(body);
}

enum report_kind { REPORT_STATE, REPORT_UNMARK, REPORT_BROKEN };

static void sandbox_report(struct api_req *r, const char *id, enum report_kind kind)
{
	json_t *body = api_body_object(r);
	struct gsandbox *s;
	struct cnode *n;
	const char *why = NULL;
	int err;

	if (!body)
		return;
	n = caller_node(r, body, NULL);
	if (!n)
		goto out;
	s = cluster_sandbox(r->ctl->cluster, id);
	if (!s) {
		api_error(r, 404, "No such sandbox.");
		goto out;
	}
	if (kind == REPORT_BROKEN) {
		/* Sandboxes are the cluster's: any node that saw one fail says so, and its
		 * owner removes it (when idle) on the "remove" event, as OpenWhisk's invoker
		 * destroys a container that failed. */
		pr_info("cluster: %s reports sandbox %s of node %u failed", n->name, id, s->node);
		cluster_remove(r->ctl->cluster, s, "failed on a node");
		api_reply(r, 200, json_object());
		goto out;
	}
	if (kind == REPORT_UNMARK) {
		err = cluster_unmark(r->ctl->cluster, s);
		if (err)
			api_error(r, 409, "The sandbox is no longer draining.");
		else
			api_reply(r, 200, json_pack("{s:o}", "sandbox", cluster_sandbox_json(s)));
		goto out;
	}
	err = cluster_sandbox_report(r->ctl->cluster, n, s, body, &why);
	if (err) {
		pr_warn("cluster: bad report from %s on %s: %s", n->name, id, why);
		api_error(r, err == -EPERM ? 403 : 400, "%s", why);
	} else {
		api_reply(r, 200, json_object());
	}
out:
	json_decref(body);
}

bool internal_cluster(struct api_req *r)
{
	enum http_method m = r->http->method;
	const char *what = r->nseg ? r->seg[0] : "";

	if (!strcmp(what, "nodes")) {
		if (r->nseg == 1 && m == HTTP_POST)
			nodes_register(r);
		else if (r->nseg == 3 && !strcmp(r->seg[2], "heartbeat") && m == HTTP_POST)
			nodes_heartbeat(r, r->seg[1]);
		else
			api_error(r, 404, "The requested resource could not be found.");
		return true;
	}
	if (!strcmp(what, "allocate") && r->nseg == 1) {
		if (m != HTTP_POST)
			api_error_method(r, "POST");
		else
			allocate_sandbox(r);
		return true;
	}
	if (!strcmp(what, "sandboxes")) {
		if (r->nseg == 1 && m == HTTP_GET)
			api_reply(r, 200, cluster_pool_json(r->ctl->cluster));
		else if (r->nseg == 2 && m == HTTP_POST)
			sandbox_report(r, r->seg[1], REPORT_STATE);
		else if (r->nseg == 3 && !strcmp(r->seg[2], "unmark") && m == HTTP_POST)
			sandbox_report(r, r->seg[1], REPORT_UNMARK);
		else if (r->nseg == 3 && !strcmp(r->seg[2], "broken") && m == HTTP_POST)
			sandbox_report(r, r->seg[1], REPORT_BROKEN);
		else
			api_error(r, 404, "The requested resource could not be found.");
		return true;
	}
	return false;
}
