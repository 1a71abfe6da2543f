// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "node/ingress/authn.h"
#include "node/activation/pipeline.h"
#include "json.h"
#include "log.h"
#include "node/ingress/metrics.h"
#include "node/ingress/reply.h"
#include "node/activation/resolve.h"
#include "node/activation/throttle.h"
#include "node/ingress/trigger.h"
#include "util.h"
#include "node/ingress/worker.h"


struct fire {
	struct worker *w;
	struct http_request *req;
	char tid[72];
	char ns[257], name[257];
	struct identity who;
	json_t *payload;   /* the request body */
	json_t *headers;   /* __ow_headers */
	json_t *trigger;   /* the resolved trigger */
	json_t *args;      /* trigger parameters merged with the payload */
	json_t *logs;      /* one JSON line per rule */
	char id[33];
	uint64_t start_ms;
	size_t pending;    /* rules not dispatched yet */
};

struct rule_fire {
	struct fire *f;
	char rule[600];
	char action[600];
};

static void fire_free(struct fire *f)
{
	json_decref(f->payload);
	json_decref(f->headers);
	json_decref(f->trigger);
	json_decref(f->args);
	json_decref(f->logs);
	free(f);
}

static json_t *trigger_record(struct fire *f)
{
	return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:{s:i,s:O},s:O,s:[],s:s,s:b}", "namespace",
			 f->who.ns, "name", f->name, "subject", f->who.ns, "activationId", f->id,
			 "start", (json_int_t)f->start_ms, "end", (json_int_t)0, "response",
			 "statusCode", 0, "result", f->payload, "logs", f->logs, "annotations",
			 "version", json_obj_str(f->trigger, "version") ?: "0.0.1", "publish", false);
}

static int trigger_record_text(struct fire *f, struct record *out)
{
	json_t *tree = trigger_record(f);
	int err = tree ? record_from_tree(tree, out) : -ENOMEM;

	json_decref(tree);
	return err;
}

/* Answered 202 before the rules ran: the record to keep if the node stops first. */
static void write_acceptance(struct fire *f)
{
	struct record fallback = { 0 };

	worker_accept(f->w, f->id, trigger_record_text(f, &fallback) ? NULL : &fallback);
	record_clear(&fallback);
}

/* All rules are dispatched: the trigger's record goes to the spool. */
static void fire_record(struct fire *f)
{
	struct record rec = { 0 };

	worker_spool(f->w, trigger_record_text(f, &rec) ? NULL : &rec);
	record_clear(&rec);
	fire_free(f);
}

/* One rule fewer to wait for; the last one writes the record. */
static void fire_rule_done(struct fire *f)
{
	if (--f->pending == 0)
		fire_record(f);
}

static void rule_logged(struct rule_fire *rf, int status_code, const char *activation_id,
			const char *error)
{
	struct fire *f = rf->f;
	json_t *line = json_pack("{s:i,s:b}", "statusCode", status_code, "success",
				 status_code == 0);
	char *text;

	if (activation_id)
		json_object_set_new(line, "activationId", json_string(activation_id));
	if (error)
		json_object_set_new(line, "error", json_string(error));
	json_object_set_new(line, "rule", json_string(rf->rule));
	json_object_set_new(line, "action", json_string(rf->action));
	text = json_dumps(line, JSON_COMPACT);
	json_array_append_new(f->logs, json_string(text ? text : "{}"));
	free(text);
	json_decref(line);
	free(rf);
	fire_rule_done(f);
}

static void on_rule_action(int status, struct action_entry *a, const char *message, void *data)
{
	struct rule_fire *rf = data;
	struct fire *f = rf->f;
	struct activation_refusal why;
	struct activation *act;
	char id[33];

	if (status) {
		rule_logged(rf, status >= 500 ? 3 : 1, NULL, message);
		return;
	}
	/* Rule-fired invokes count against the caller's throttles, as OpenWhisk's do. */
	act = activation_admit(f->w, &f->who, true, &why);
	if (!act || activation_start(act,
				     &(struct activation_spec){
					     .action = a,
					     .tid = f->tid,
					     .params = json_incref(f->args),
					     .params_mode = PARAMS_MERGE,
					     .wait_ms = ACTIVATION_NO_WAIT,
				     },
				     id, &why)) {
		action_entry_unref(a);
		rule_logged(rf, why.status >= 500 ? 3 : 1, NULL, why.message);
		return;
	}
	action_entry_unref(a);
	rule_logged(rf, 0, id, NULL);
}

static void on_trigger(int status, json_t *body, void *data)
{
	struct fire *f = data;
	json_t *rules, *rule, *params, *kv;
	const char *key;
	size_t i;

	if (status != 200) {
		if (status == 404 || status == 409)
			reply_error(f->req, f->tid, status,
				    status == 404
					    ? "The requested resource does not exist."
					    : "Resource by this name exists but is not in this collection.");
		else if (status == 403)
			reply_error(f->req, f->tid, 403,
				    "The supplied authentication is not authorized to access '%s'.",
				    f->ns);
		else
			reply_error(f->req, f->tid, 503, "The controller is not reachable.");
		fire_free(f);
		return;
	}
	f->trigger = json_incref(body);
	rules = json_object_get(body, "rules");
	json_object_foreach(rules, key, rule)
		if (!strcmp(json_obj_str(rule, "status") ?: "", "active"))
			f->pending++;
	if (!f->pending) {
		reply_headers(f->req, f->tid);
		http_resp_send(f->req, 204, NULL, NULL, 0);
		fire_free(f);
		return;
	}
	/* The arguments: trigger parameters, then the payload, then the fire's headers. */
	f->args = json_object();
	params = json_object_get(body, "parameters");
	json_array_foreach(params, i, kv)
		if (json_obj_str(kv, "key"))
			json_object_set(f->args, json_obj_str(kv, "key"),
					json_object_get(kv, "value") ?: json_null());
	json_object_update(f->args, f->payload);
	json_object_set(f->args, "__ow_headers", f->headers);
	activation_id_new(f->id);
	f->start_ms = clock_real_ms();
	f->logs = json_array();
	write_acceptance(f);
	http_resp_header(f->req, "x-openwhisk-activation-id", "%s", f->id);
	reply_json(f->req, f->tid, 202, json_pack("{s:s}", "activationId", f->id));
	f->req = NULL;
	/* Rules may finish while this loop runs (cached actions): hold one count for it. */
	f->pending = 1;
	json_object_foreach(rules, key, rule) {
		json_t *action = json_object_get(rule, "action");
		struct rule_fire *rf;

		if (strcmp(json_obj_str(rule, "status") ?: "", "active"))
			continue;
		rf = calloc(1, sizeof(*rf));
		if (!rf)
			continue;
		f->pending++;
		rf->f = f;
		snprintf(rf->rule, sizeof(rf->rule), "%s", key);
		snprintf(rf->action, sizeof(rf->action), "%s/%s", json_obj_str(action, "path") ?: "",
			 json_obj_str(action, "name") ?: "");
		{
			char name[700];

			snprintf(name, sizeof(name), "/%s", rf->action);
			resolve_action(f->w, &f->who, name, on_rule_action, rf);
		}
	}
	fire_rule_done(f);
}

static void on_authenticated(const struct identity *who, void *data)
{
	struct fire *f = data;
	struct throttle_result t;
	char name[600], msg[160];

	f->who = *who;
	t = throttle_fire(&f->w->node->maps->namespaces[who->ns_idx], clock_real_ms());
	if (t.verdict != THROTTLE_OK) {
		STAT_INC(f->w, throttled);
		throttle_message(&t, msg, sizeof(msg));
		reply_throttled(f->req, f->tid, msg, t.retry_after_s);
		fire_free(f);
		return;
	}
	snprintf(name, sizeof(name), "/%s/%s", strcmp(f->ns, "_") ? f->ns : who->ns, f->name);
	if (ctlclient_resolve(f->w->ctl, "trigger", who->ns, name, on_trigger, f)) {
		reply_error(f->req, f->tid, 503, "The controller is not reachable.");
		fire_free(f);
	}
}

static void on_auth_failed(void *data)
{
	fire_free(data);
}

void trigger_fire_http(struct worker *w, struct http_request *req, const char *tid,
		       const char *ns, const char *name)
{
	struct fire *f = calloc(1, sizeof(*f));
	char err[256];

	if (!f) {
		reply_error(req, tid, 503, "The node is out of memory.");
		return;
	}
	f->w = w;
	f->req = req;
	snprintf(f->tid, sizeof(f->tid), "%s", tid);
	snprintf(f->ns, sizeof(f->ns), "%s", ns);
	snprintf(f->name, sizeof(f->name), "%s", name);
	if (request_oversize(req)) {
		reply_error(req, tid, 413, PAYLOAD_TOO_LARGE, request_oversize(req), PAYLOAD_MAX);
		fire_free(f);
		return;
	}
	if (req->body.len && strspn(req->body.data, " \t\r\n") != req->body.len) {
		f->payload = json_parse(req->body.data, req->body.len, err, sizeof(err));
		if (!json_is_object(f->payload)) {
			reply_error(req, tid, 400, "The request content was malformed:\n%s",
				    f->payload ? "Object expected" : err);
			fire_free(f);
			return;
		}
	} else {
		f->payload = json_object();
	}
	f->headers = request_headers_json(req);
	authn_request(w, req, f->tid, on_authenticated, on_auth_failed, f);
}
