// SPDX-License-Identifier: Apache-2.0
/*
 * The cluster's side of the pool: the event stream's sandbox events become slots (other
 * nodes' sandboxes) or actions on this node's own ones (start an allocation, drain,
 * remove); snapshots after a broken stream; lost nodes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "activation.h"
#include "json.h"
#include "log.h"
#include "node/manager/pool_internal.h"
#include "node/manager/routes.h"
#include "node/activation/slots.h"
#include "util.h"
#include "node/ingress/worker.h"

/* ---- other nodes' sandboxes ---- */

static uint32_t gid_hash(const char *gid)
{
	return str_hash(gid) % REMOTE_BUCKETS;
}

static struct rsandbox *remote_find(struct pool *p, const char *gid)
{
	for (struct rsandbox *r = p->remote[gid_hash(gid)]; r; r = r->next)
		if (!strcmp(r->gid, gid))
			return r;
	return NULL;
}

static void remote_drop(struct pool *p, struct rsandbox *r)
{
	struct xw_slot *s = &p->node->maps->slots[r->slot];

	(void)slot_warm_remove(p->node->maps, r->action_id, r->slot);
	__atomic_store_n(&s->state, XW_SLOT_REMOVED, __ATOMIC_SEQ_CST);
	p->remote_by_slot[r->slot] = NULL;
	for (struct rsandbox **pp = &p->remote[gid_hash(r->gid)]; *pp; pp = &(*pp)->next) {
		if (*pp == r) {
			*pp = r->next;
			break;
		}
	}
	free(r);
}

static void on_broken_reported(int status, json_t *body, void *data)
{
	if (status != 200 && status != 404)
		pr_warn("pool: the controller did not take a failed sandbox (%d)", status);
}

void pool_remote_broken(struct pool *p, uint32_t slot, uint32_t generation)
{
	struct rsandbox *r = slot < XW_MAX_SLOTS ? p->remote_by_slot[slot] : NULL;

	char target[96];
	json_t *body;

	if (!r || __atomic_load_n(&p->node->maps->slots[slot].generation, __ATOMIC_ACQUIRE) !=
			  generation)
		return;
	/* The controller has its owner remove it and every node stop routing to it; this
	 * node stops at once, and its next cold start asks for another. */
	pr_info("pool: sandbox %s of node %u failed here: reporting it", r->gid, r->node);
	snprintf(target, sizeof(target), "/internal/v1/sandboxes/%s/broken", r->gid);
	body = json_pack("{s:s}", "node", p->name);
	(void)ctlclient_call(p->cc, "POST", target, body, 0, on_broken_reported, NULL);
	json_decref(body);
	remote_drop(p, r);
}

void pool_remote_clear(struct pool *p)
{
	for (size_t b = 0; b < REMOTE_BUCKETS; b++)
		while (p->remote[b])
			remote_drop(p, p->remote[b]);
}

/* Another node's sandbox became usable: a slot this node's routers can claim. */
/*
 * True when addr lies in this node's own sandbox subnet: another node's sandbox there
 * cannot be reached from here (the bridge would take the packets). Nodes that share a
 * subnet (a DaemonSet with one setting for all) each serve from their own; the
 * allocator does not place one's sandboxes on the other for the same reason.
 */
static bool unreachable_here(struct pool *p, struct in_addr addr)
{
	uint32_t net;
	int prefix;

	return !cidr_parse(pool_subnet(p->node), &net, &prefix) &&
	       cidr_contains(net, prefix, ntohl(addr.s_addr));
}

/* Routes to another node's warm sandbox from here; false when it cannot (bad fields,
 * unreachable, no slot left). */
static bool remote_warm(struct pool *p, const json_t *sb, uint64_t action_id, const char *gid,
			uint64_t version)
{
	struct rsandbox *r = remote_find(p, gid);
	const char *addr = json_obj_str(sb, "addr");
	json_int_t port = json_integer_value(json_object_get(sb, "port"));
	json_int_t conc = json_integer_value(json_object_get(sb, "concurrency"));
	struct xw_slot *s;
	struct in_addr a;
	uint32_t slot;

	if (!addr || inet_pton(AF_INET, addr, &a) != 1 || port <= 0 || port > 65535 || conc <= 0)
		return false;
	if (!r && unreachable_here(p, a)) {
		if (!p->warned_shared_subnet)
			pr_warn("pool: sandbox %s of node %" PRId64 " is at %s, inside this node's "
				"own sandbox subnet: not routed to (give each node its own "
				"XWHISK_SANDBOX_SUBNET to share sandboxes across nodes)",
				gid, (int64_t)json_integer_value(json_object_get(sb, "node")), addr);
		p->warned_shared_subnet = true;
		return false;
	}
	if (!r) {
		if (pool_slot_alloc(p, &slot)) {
			pr_warn("pool: no slot left for sandbox %s of another node", gid);
			return false;
		}
		r = calloc(1, sizeof(*r));
		if (!r)
			return false;
		snprintf(r->gid, sizeof(r->gid), "%s", gid);
		r->slot = slot;
		r->action_id = action_id;
		r->next = p->remote[gid_hash(gid)];
		p->remote[gid_hash(gid)] = r;
		p->remote_by_slot[slot] = r;
		s = &p->node->maps->slots[slot];
		memset(s, 0, offsetof(struct xw_slot, generation));
		(void)__atomic_add_fetch(&s->generation, 1, __ATOMIC_SEQ_CST);
	}
	s = &p->node->maps->slots[r->slot];
	if (version > r->version)
		r->version = version;
	r->node = (uint16_t)json_integer_value(json_object_get(sb, "node"));
	s->action_id = action_id;
	memcpy(s->addr, &a.s_addr, sizeof(s->addr));
	s->port = (uint16_t)port;
	s->node = r->node;
	s->concurrency = (uint32_t)conc;
	s->last_used_ns = clock_mono_us() * 1000;
	__atomic_store_n(&s->state, XW_SLOT_WARM, __ATOMIC_SEQ_CST);
	(void)slot_warm_add(p->node->maps, action_id, r->slot);
	return true;
}

static void apply_sandbox_event(struct pool *p, const json_t *ev)
{
	const char *op = json_obj_str(ev, "op");
	json_t *sb = json_object_get(ev, "sandbox");
	const char *gid = json_obj_str(sb, "id");
	const char *hex = json_obj_str(sb, "action_id");
	bool mine = json_integer_value(json_object_get(sb, "node")) == p->index && p->index;
	struct psandbox *own;
	struct rsandbox *r;
	uint64_t action_id;

	if (!op || !gid || strlen(gid) != GID_LEN || !hex)
		return;
	resync_window_note(&p->resync, gid,
			   (uint64_t)json_integer_value(json_object_get(ev, "version")));
	action_id = strtoull(hex, NULL, 16);
	/* Ours by id, whatever the index says: before registering (again) it is 0. */
	own = pool_own_by_gid(p, gid);
	mine = mine || own;
	r = mine ? NULL : remote_find(p, gid);
	if (!strcmp(op, "allocate")) {
		/* Placed here for another node's request: resolve the action, then start it. */
		if (mine && !own)
			pool_start_allocated(p, sb);
	} else if (!strcmp(op, "warm")) {
		if (mine) {
			/* Our own report coming back is published and counted already (pool_own.c:
			 * counting it again made the demand start one sandbox too many). An unmark
			 * of one of ours being drained ends that start, back in service or not;
			 * one hosted here that this process does not hold is counted as before. */
			if (own && own->state == PS_DRAINING) {
				if (ps_set_warm(own))
					pool_tell_workers(p, action_id, 0, NULL, NULL, 0);
				demand_started(p, action_id, true);
			} else if (!own) {
				demand_started(p, action_id, true);
			}
			return;
		}
		/* Another node's sandbox for another node's request, which this node cannot
		 * use, answers none of its demand. */
		if (remote_warm(p, sb, action_id, gid,
				(uint64_t)json_integer_value(json_object_get(ev, "version")))) {
			pool_tell_workers(p, action_id, 0, NULL, NULL, 0);
			demand_started(p, action_id, true);
		}
	} else if (!strcmp(op, "draining")) {
		if (own)
			ps_set_draining(own);
		else if (r) {
			(void)slot_warm_remove(p->node->maps, r->action_id, r->slot);
			__atomic_store_n(&p->node->maps->slots[r->slot].state, XW_SLOT_DRAINING,
					 __ATOMIC_SEQ_CST);
		}
	} else if (!strcmp(op, "failed")) {
		/* Its /init failed somewhere (or the platform could not make it): activations
		 * waiting here fail the same way. */
		if (!own && demand_find(p, action_id)) {
			json_t *error = json_object_get(ev, "error");

			pool_tell_workers(p, action_id,
					  json_is_true(json_object_get(ev, "whisk"))
						  ? ACTIVATION_WHISK_ERROR
						  : ACTIVATION_DEVELOPER_ERROR,
					  json_obj_str(ev, "message"), json_is_object(error) ? error : NULL,
					  0);
			demand_started(p, action_id, false);
		}
	} else if (!strcmp(op, "remove")) {
		/* Never under a running activation: a busy one drains and goes when idle.
		 * Reading in-flight before marking let a worker claim it in between, and its
		 * activation died with the sandbox, charged to the action. */
		if (own) {
			if (!ps_remove_if_idle(own)) {
				ps_set_draining(own);
				own->remove_when_idle = true;
			}
		} else if (r) {
			remote_drop(p, r);
		} else if (demand_find(p, action_id)) {
			/* Gone before it was ever warm (its node lost, its start timed out):
			 * what waits here for it asks again. */
			demand_started(p, action_id, false);
			pool_tell_workers(p, action_id, 0, NULL, NULL, 0);
		}
	}
}

struct placed {
	struct pool *p;
	char gid[GID_LEN + 1];
	char subject[257];
	char name[900];
	uint64_t action_id;
};

static void on_placed_action(int status, json_t *body, void *data)
{
	struct placed *pl = data;
	struct pool *p = pl->p;
	struct action_entry *a = NULL;

	/* Only to start the sandbox: the cache and the maps keep what the workers put there. */
	if (status == 200)
		a = action_entry_new(pl->subject, pl->name, body);
	/* The action changed since the allocation: that sandbox is of no use any more. */
	if (!a || a->id != pl->action_id) {
		pool_report_unprovisioned(p, pl->gid, "the action changed");
	} else if (!pool_own_by_gid(p, pl->gid)) {
		int err = pool_start_own(p, a, pl->gid, NULL);

		/* No room here after all: the nodes waiting for it ask again (a "remove");
		 * any other failure is the platform's, and they fail. */
		if (err == -ENOSPC)
			pool_report(p, pl->gid, "removed", NULL, 0, NULL, NULL);
		else if (err)
			pool_report_unprovisioned(p, pl->gid, "no sandbox could be provisioned");
	}
	action_entry_unref(a);
	free(pl);
}

/* The allocator placed a sandbox here for another node's activations: this node learns
 * the action from the controller, then starts it. */
void pool_start_allocated(struct pool *p, const json_t *sb)
{
	struct placed *pl = calloc(1, sizeof(*pl));
	const char *subject = json_obj_str(sb, "subject"), *docid = json_obj_str(sb, "docid");

	if (!pl || !subject || !docid) {
		free(pl);
		return;
	}
	pl->p = p;
	snprintf(pl->gid, sizeof(pl->gid), "%s", json_obj_str(sb, "id"));
	snprintf(pl->subject, sizeof(pl->subject), "%s", subject);
	snprintf(pl->name, sizeof(pl->name), "/%s", docid);
	pl->action_id = strtoull(json_obj_str(sb, "action_id") ?: "0", NULL, 16);
	if (ctlclient_resolve(p->cc, "action", subject, pl->name, on_placed_action, pl)) {
		pool_report_unprovisioned(p, pl->gid, "the action could not be resolved");
		free(pl);
	}
}

/* Whether an event that came while the snapshot was on its way is newer than it about
 * this sandbox or its node (removed, drained, lost). */
static bool superseded(struct pool *p, const char *gid, const json_t *sb, uint64_t version)
{
	char key[32];

	return resync_window_newer(&p->resync, gid, version) ||
	       resync_window_newer(&p->resync,
				   resync_node_key(key, sizeof(key),
						   json_integer_value(json_object_get(sb, "node"))),
				   version);
}

/* A resync: other nodes' sandboxes become exactly the snapshot's warm ones, except
 * that what an event newer than the snapshot said stays. This node's own sandboxes are
 * not judged here: the heartbeat's answer names those the controller does not know. */
static void on_pool_snapshot(int status, json_t *body, void *data)
{
	struct pool *p = data;
	json_t *list = json_object_get(body, "sandboxes"), *sb;
	uint64_t version = (uint64_t)json_integer_value(json_object_get(body, "version"));
	size_t i;

	if (status != 200 || !json_is_array(list)) {
		pr_warn("pool: cannot read the cluster's pool for a resync (%d)", status);
		resync_window_close(&p->resync);
		return;
	}
	routes_sync(p->node->routes, json_object_get(body, "nodes"));
	for (size_t b = 0; b < REMOTE_BUCKETS; b++) {
		struct rsandbox *r = p->remote[b], *next;

		for (; r; r = next) {
			bool keep = r->version > version;

			next = r->next;
			json_array_foreach(list, i, sb)
				keep |= !strcmp(json_obj_str(sb, "id") ?: "", r->gid) &&
					!strcmp(json_obj_str(sb, "state") ?: "", "warm");
			if (!keep)
				remote_drop(p, r);
		}
	}
	json_array_foreach(list, i, sb) {
		const char *gid = json_obj_str(sb, "id");

		if (gid && strlen(gid) == GID_LEN && !pool_own_by_gid(p, gid) &&
		    json_integer_value(json_object_get(sb, "node")) != p->index &&
		    !strcmp(json_obj_str(sb, "state") ?: "", "warm") &&
		    !superseded(p, gid, sb, version))
			remote_warm(p, sb, strtoull(json_obj_str(sb, "action_id") ?: "0", NULL, 16),
				    gid, version);
	}
	resync_window_close(&p->resync);
}

/* The controller answered a heartbeat with sandboxes of ours it does not know (removed
 * while this node was not listening): those it had confirmed go. */
void pool_forget(struct node *node, const json_t *unknown)
{
	struct pool *p = node->pool;
	size_t i;
	json_t *id;

	json_array_foreach(unknown, i, id) {
		struct psandbox *ps = pool_own_by_gid(p, json_string_value(id) ?: "");

		if (ps && ps->confirmed) {
			pr_info("pool: the controller no longer knows sandbox %s; removing it",
				ps->gid);
			if (!ps_remove_if_idle(ps)) {
				ps_set_draining(ps);
				ps->remove_when_idle = true;
			}
		}
	}
}

static void apply_node_event(struct pool *p, const json_t *ev)
{
	json_int_t idx = json_integer_value(json_object_get(ev, "index"));
	char key[32];

	if (strcmp(json_obj_str(ev, "op") ?: "", "lost"))
		return;
	resync_window_note(&p->resync, resync_node_key(key, sizeof(key), idx),
			   (uint64_t)json_integer_value(json_object_get(ev, "version")));
	for (size_t b = 0; b < REMOTE_BUCKETS; b++) {
		struct rsandbox *r = p->remote[b], *next;

		for (; r; r = next) {
			next = r->next;
			if (r->node == idx)
				remote_drop(p, r);
		}
	}
}

void pool_event(struct node *node, const json_t *ev)
{
	struct pool *p = node->pool;
	const char *type = json_obj_str(ev, "type");

	if (!p || !type)
		return;
	if (!strcmp(type, "sandbox"))
		apply_sandbox_event(p, ev);
	else if (!strcmp(type, "node"))
		apply_node_event(p, ev);
	else if (!strcmp(type, "resync")) {
		if (resync_window_open(&p->resync))
			pr_warn("pool: cannot note events during a resync");
		if (ctlclient_call(p->cc, "GET", "/internal/v1/sandboxes", NULL, 0, on_pool_snapshot,
				   p)) {
			pr_warn("pool: cannot ask for the cluster's pool");
			resync_window_close(&p->resync);
		}
	}
}
