// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "node/config.h"
#include "node/manager/agent.h"
#include "node/manager/subnet.h"
#include "util.h"

#define ASK_RETRY_MS 1000

struct ask {
	struct node *node;
	struct loop_timer *timer;
	char subnet[32];
	bool answered;
	bool in_flight;
	bool done; /* given up: a late answer changes nothing */
};

static void subnet_path(const struct node *node, char *out, size_t len)
{
	snprintf(out, len, "%s/node/subnet", node->cfg.data_dir);
}

static bool valid_subnet(const char *s)
{
	uint32_t net;
	int prefix;

	return s && strlen(s) < 32 && !cidr_parse(s, &net, &prefix) && prefix <= 30;
}

/* The block kept from an earlier answer, into out; false when there is none. */
static bool kept_subnet(const struct node *node, char *out, size_t len)
{
	char path[PATH_MAX], *text;

	subnet_path(node, path, sizeof(path));
	text = file_read_all(path, NULL);
	if (!text)
		return false;
	text[strcspn(text, "\r\n")] = '\0';
	snprintf(out, len, "%s", valid_subnet(text) ? text : "");
	free(text);
	return out[0] != '\0';
}

static void keep_subnet(const struct node *node, const char *subnet)
{
	char path[PATH_MAX];
	int err;

	subnet_path(node, path, sizeof(path));
	err = file_write_atomic(path, subnet, strlen(subnet), 0600);
	if (err)
		pr_warn("subnet: cannot keep %s in %s: %s", subnet, path, strerror(-err));
}

static void on_answer(int status, json_t *body, void *data)
{
	struct ask *a = data;
	const char *subnet = json_obj_str(body, "subnet");

	a->in_flight = false;
	if (a->done)
		return;
	if (status != 200) {
		pr_info("subnet: the controller did not answer yet (%d)", status);
		return;
	}
	a->answered = true;
	if (valid_subnet(subnet))
		snprintf(a->subnet, sizeof(a->subnet), "%s", subnet);
	loop_stop(a->node->loop);
}

static void ask_tick(struct loop *loop, void *data)
{
	struct ask *a = data;

	a->timer = NULL;
	loop_stop(loop);
}

/* A registration without sandboxes (the pool does not exist yet): the controller gives
 * the node its block and judges none of its sandboxes. */
static int ask_controller(struct node *node, struct ctlclient *cc, char *out, size_t len)
{
	unsigned wait_ms = env_unsigned("XWHISK_SUBNET_WAIT_MS", 30000);
	uint64_t deadline = clock_mono_ms() + wait_ms;
	/* static: an answer still on its way when we give up lands here */
	static struct ask a;
	int err = 0;

	a = (struct ask){ .node = node };
	while (!a.answered && clock_mono_ms() < deadline) {
		if (!a.in_flight) {
			json_t *body = agent_registration(node, NULL, NULL);

			a.in_flight = body && !ctlclient_call(cc, "POST", "/internal/v1/nodes", body,
							       ASK_RETRY_MS, on_answer, &a);
			json_decref(body);
		}
		a.timer = loop_timer_add(node->loop, ASK_RETRY_MS, ask_tick, &a);
		if (!a.timer) {
			err = -ENOMEM;
			break;
		}
		loop_run(node->loop);
		loop_timer_cancel(node->loop, a.timer);
		a.timer = NULL;
	}
	a.done = true;
	if (!err && !a.answered)
		err = -ETIMEDOUT;
	if (!err)
		snprintf(out, len, "%s", a.subnet);
	return err;
}

int node_subnet_obtain(struct node *node, struct ctlclient *cc)
{
	static char subnet[32];
	int err;

	if (node->cfg.subnet)
		return 0;
	if (kept_subnet(node, subnet, sizeof(subnet))) {
		pr_info("subnet: sandboxes in %s, the controller's block for this node", subnet);
	} else if (!cc) {
		return 0;
	} else {
		err = ask_controller(node, cc, subnet, sizeof(subnet));
		if (err == -ENOMEM)
			return err;
		if (err)
			pr_warn("subnet: no answer from the controller within XWHISK_SUBNET_WAIT_MS: "
				"sandboxes in the default subnet");
		if (!subnet[0])
			return 0;
		keep_subnet(node, subnet);
		pr_info("subnet: the controller gave this node %s for its sandboxes", subnet);
	}
	node_config_set_subnet(&node->cfg, subnet);
	return 0;
}

void node_subnet_answer(struct node *node, const json_t *answer)
{
	const char *given = json_obj_str(answer, "subnet");
	const char *used = node->cfg.subnet ? node->cfg.subnet : "the default";

	if (!valid_subnet(given) || (node->cfg.subnet && !strcmp(given, node->cfg.subnet)))
		return;
	if (node->cfg.subnet && !node->cfg.subnet_given) {
		pr_warn("subnet: the controller's block for this node is %s, but "
			"XWHISK_SANDBOX_SUBNET says %s",
			given, used);
		return;
	}
	/* (the controller was not there at the start, or gave another block since) */
	keep_subnet(node, given);
	pr_warn("subnet: the controller gives this node %s, its sandboxes are in %s: the next "
		"start takes it",
		given, used);
}
