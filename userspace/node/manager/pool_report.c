// SPDX-License-Identifier: Apache-2.0
/* What the controller hears of this node's sandboxes: state reports, the sandboxes
 * listed at registration, the heartbeat. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "buf.h"
#include "json.h"
#include "log.h"
#include "node/manager/pool_internal.h"
#include "node/activation/record.h"
#include "node/activation/slots.h"
#include "util.h"
#include "node/ingress/worker.h"


/* ---- reports to the controller ---- */

struct report {
	struct pool *p;
	char gid[GID_LEN + 1];
	bool warm;
};

static void on_reported(int status, json_t *body, void *data)
{
	struct report *r = data;
	struct psandbox *ps;

	if (status != 200)
		pr_debug("pool: the controller did not take a report (%d)", status);
	else if (r->warm && (ps = pool_own_by_gid(r->p, r->gid)))
		ps->confirmed = true;
	free(r);
}

/* Sends body (taken) as the report on sandbox gid. */
static void report_send(struct pool *p, const char *gid, json_t *body)
{
	const char *state = json_obj_str(body, "state");
	char target[96];
	struct report *r;

	/* Before registration there is nobody to tell: registering lists what lives. */
	if (!p->index || !p->cc || !(r = calloc(1, sizeof(*r)))) {
		json_decref(body);
		return;
	}
	r->p = p;
	snprintf(r->gid, sizeof(r->gid), "%s", gid);
	r->warm = !strcmp(state, "warm");
	snprintf(target, sizeof(target), "/internal/v1/sandboxes/%s", gid);
	if (ctlclient_call(p->cc, "POST", target, body, 0, on_reported, r)) {
		pr_debug("pool: cannot report %s on %s", state, gid);
		free(r);
	}
	json_decref(body);
}

void pool_report(struct pool *p, const char *gid, const char *state, const char *addr, int port,
		 const char *message, json_t *error)
{
	json_t *body = json_pack("{s:s,s:s}", "node", p->name, "state", state);

	if (!body)
		return;
	if (addr) {
		json_object_set_new(body, "addr", json_string(addr));
		json_object_set_new(body, "port", json_integer(port));
	}
	if (message)
		json_object_set_new(body, "message", json_string(message));
	if (error)
		json_object_set(body, "error", error);
	report_send(p, gid, body);
}

void pool_report_unprovisioned(struct pool *p, const char *gid, const char *why)
{
	/* "whisk": the platform's failure, not the action's; waiting nodes answer a whisk
	 * error rather than a developer error. */
	json_t *body = json_pack("{s:s,s:s,s:s,s:b}", "node", p->name, "state", "failed",
				 "message", why, "whisk", true);

	if (body)
		report_send(p, gid, body);
}


/* ---- what the controller hears from this node ---- */

static bool key_parts(const char *key, char *subject, size_t ssize, char *docid, size_t dsize,
		      long long *rev)
{
	const char *bar = strchr(key, '|'), *at = strrchr(key, '@');

	if (!bar || !at || at < bar)
		return false;
	snprintf(subject, ssize, "%.*s", (int)(bar - key), key);
	snprintf(docid, dsize, "%.*s", (int)(at - bar - 1), bar + 1);
	*rev = atoll(at + 1);
	return true;
}

json_t *pool_own_sandboxes(struct node *node)
{
	struct pool *p = node->pool;
	json_t *list = json_array();

	for (uint32_t i = 0; p && i < XW_MAX_SLOTS; i++) {
		struct psandbox *ps = p->by_slot[i];
		struct xw_slot *s = &node->maps->slots[i];
		char subject[260], docid[800], action_id[17], addr[INET_ADDRSTRLEN];
		struct in_addr a;
		long long rev;

		if (!ps || (ps->state != PS_WARM && ps->state != PS_DRAINING) ||
		    !key_parts(ps->key, subject, sizeof(subject), docid, sizeof(docid), &rev))
			continue;
		memcpy(&a.s_addr, s->addr, sizeof(s->addr));
		inet_ntop(AF_INET, &a, addr, sizeof(addr));
		snprintf(action_id, sizeof(action_id), "%016" PRIx64, ps->action_id);
		json_array_append_new(
			list, json_pack("{s:s,s:s,s:s,s:s,s:I,s:s,s:i,s:i,s:s,s:i,s:s}", "id", ps->gid,
					"action_id", action_id, "subject", subject, "docid", docid,
					"revision", (json_int_t)rev, "kind", ps->kind, "memory_mb",
					ps->memory_mb, "concurrency", ps->concurrency, "addr", addr,
					"port", s->port, "state",
					ps->state == PS_WARM ? "warm" : "draining"));
	}
	return list;
}

static void add_stem_cells(const char *kind, const char *image, unsigned ready, void *data)
{
	json_t *counts = data;

	if (!ready)
		return;
	json_object_set_new(counts, kind, json_integer(ready));
	/* Blackbox requests name their image. */
	if (image)
		json_object_set_new(counts, image, json_integer(ready));
}

json_t *pool_heartbeat(struct node *node)
{
	struct pool *p = node->pool;
	uint64_t now_ns = clock_mono_us() * 1000;
	json_t *list = json_array(), *stem = json_object();

	for (uint32_t i = 0; p && i < XW_MAX_SLOTS; i++) {
		struct psandbox *ps = p->by_slot[i];
		struct xw_slot *s = &node->maps->slots[i];
		uint64_t last = __atomic_load_n(&s->last_used_ns, __ATOMIC_RELAXED);

		if (!ps || (ps->state != PS_WARM && ps->state != PS_DRAINING))
			continue;
		json_array_append_new(
			list, json_pack("{s:s,s:i,s:I}", "id", ps->gid, "inflight",
					__atomic_load_n(&s->inflight, __ATOMIC_RELAXED), "idle_ms",
					(json_int_t)(now_ns > last ? (now_ns - last) / 1000000 : 0)));
	}
	if (p && p->sm)
		sandbox_manager_stem_cells(p->sm, add_stem_cells, stem);
	return json_pack("{s:o,s:o}", "sandboxes", list, "stem_cells", stem);
}

const char *pool_subnet(const struct node *node)
{
	return node->cfg.subnet ? node->cfg.subnet : SANDBOX_DEFAULT_SUBNET;
}

void pool_set_node_index(struct node *node, uint16_t index, const char *name)
{
	struct pool *p = node->pool;

	p->index = index;
	snprintf(p->name, sizeof(p->name), "%s", name);
}

