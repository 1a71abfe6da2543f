// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/manager/agent.h"
#include "json.h"
#include "log.h"
#include "node/manager/budget_lease.h"
#include "node/manager/pool.h"
#include "node/manager/subnet.h"
#include "util.h"

#define HEARTBEAT_MS 2000
#define RETRY_MS 1000

struct agent {
	struct node *node;
	struct ctlclient *cc;
	struct loop_timer *timer;
	char name[64];
	uint16_t index;
	bool in_flight;
};

static void agent_tick(struct loop *loop, void *data);

static void schedule(struct agent *a, unsigned ms)
{
	loop_timer_cancel(a->node->loop, a->timer);
	a->timer = loop_timer_add(a->node->loop, ms, agent_tick, a);
}

static void on_registered(int status, json_t *body, void *data)
{
	struct agent *a = data;
	json_t *idx = json_object_get(body, "index");

	a->in_flight = false;
	if (status != 200 || !json_is_integer(idx)) {
		pr_warn("agent: registration refused or failed (%d): %s", status,
			json_obj_str(body, "error") ?: "no answer");
		schedule(a, RETRY_MS);
		return;
	}
	if (a->index != json_integer_value(idx))
		pr_info("agent: registered as node %s (%lld)", a->name,
			(long long)json_integer_value(idx));
	a->index = (uint16_t)json_integer_value(idx);
	pool_set_node_index(a->node, a->index, a->name);
	node_subnet_answer(a->node, body);
	budget_lease_apply(a->node->budget, json_object_get(body, "budget"));
	schedule(a, HEARTBEAT_MS);
}

json_t *agent_registration(struct node *node, const char *subnet, json_t *sandboxes)
{
	struct node_config *cfg = &node->cfg;
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	json_t *body;

	body = json_pack("{s:s,s:s,s:i,s:I,s:i}", "name", cfg->name, "address", cfg->advertise,
			 "memory_mb", cfg->memory_mb, "cpu_milli",
			 (json_int_t)(cpus > 0 ? cpus : 1) * 1000, "gpus", cfg->gpus);
	if (body && subnet)
		json_object_set_new(body, "subnet", json_string(subnet));
	if (body && sandboxes)
		json_object_set_new(body, "sandboxes", sandboxes);
	else
		json_decref(sandboxes);
	return body;
}

static void agent_register(struct agent *a)
{
	json_t *body = agent_registration(a->node, pool_subnet(a->node),
					  pool_own_sandboxes(a->node));

	a->in_flight = !ctlclient_call(a->cc, "POST", "/internal/v1/nodes", body, 0, on_registered,
				       a);
	json_decref(body);
	if (!a->in_flight)
		schedule(a, RETRY_MS);
}

static void on_heartbeat(int status, json_t *body, void *data)
{
	struct agent *a = data;

	a->in_flight = false;
	if (status == 404) {
		/* The controller forgot us (it restarted): join again, with our sandboxes. */
		agent_register(a);
		return;
	}
	if (status != 200) {
		pr_debug("agent: heartbeat failed (%d)", status);
	} else {
		budget_lease_apply(a->node->budget, json_object_get(body, "budget"));
		if (json_array_size(json_object_get(body, "unknown")))
			pool_forget(a->node, json_object_get(body, "unknown"));
	}
	schedule(a, HEARTBEAT_MS);
}

static void agent_tick(struct loop *loop, void *data)
{
	struct agent *a = data;
	char target[128];
	json_t *body;

	a->timer = NULL;
	if (a->in_flight)
		return;
	if (!a->index) {
		agent_register(a);
		return;
	}
	snprintf(target, sizeof(target), "/internal/v1/nodes/%s/heartbeat", a->name);
	body = pool_heartbeat(a->node);
	json_object_set_new(body, "namespaces", budget_lease_report(a->node->budget));
	a->in_flight = !ctlclient_call(a->cc, "POST", target, body, 0, on_heartbeat, a);
	json_decref(body);
	if (!a->in_flight)
		schedule(a, RETRY_MS);
}

int agent_start(struct node *node, struct ctlclient *cc, struct agent **out)
{
	struct agent *a = calloc(1, sizeof(*a));

	if (!a)
		return -ENOMEM;
	a->node = node;
	a->cc = cc;
	snprintf(a->name, sizeof(a->name), "%s", node->cfg.name);
	schedule(a, 0);
	*out = a;
	return 0;
}

void agent_free(struct agent *a)
{
	if (!a)
		return;
	loop_timer_cancel(a->node->loop, a->timer);
	free(a);
}
