// SPDX-License-Identifier: Apache-2.0
/*
 * The cluster's side of the pool: waiting activations become allocation requests to the
 * controller (which picks the node), a draining sandbox is unmarked instead when one
 * exists, and the event stream's sandbox events become slots (other nodes' sandboxes)
 * or actions on this node's own ones (start an allocation, drain, remove).
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
#include "node/activation/slots.h"
#include "util.h"
#include "node/ingress/worker.h"

/* ---- demand ---- */

struct demand *demand_find(struct pool *p, uint64_t action_id)
{
	for (struct demand *d = p->demands; d; d = d->next)
		if (d->action_id == action_id)
			return d;
	return NULL;
}

void demand_drop(struct pool *p, struct demand *d)
{
	for (struct demand **pp = &p->demands; *pp; pp = &(*pp)->next) {
		if (*pp == d) {
			*pp = d->next;
			action_entry_unref(d->action);
			free(d);
			return;
		}
	}
}

/* A cold start for action ended (warm, or failed): the workers drain and ask again if
 * they still wait. */
void demand_started(struct pool *p, uint64_t action_id, bool warm)
{
	struct demand *d = demand_find(p, action_id);

	if (!d)
		return;
	if (d->starting)
		d->starting--;
	if (warm || !d->starting) {
		memset(d->waiting, 0, sizeof(d->waiting));
		if (!d->starting)
			demand_drop(p, d);
	}
}

struct alloc_call {
	struct pool *p;
	struct action_entry *action;
	uint64_t action_id;
};

static struct rsandbox *remote_find(struct pool *p, const char *gid);

static void start_locally(struct pool *p, struct action_entry *a, const char *gid)
{
	struct demand *d = demand_find(p, a->id);
	int err = pool_start_own(p, a, gid, d);

	if (!err)
		return;
	pool_report_unprovisioned(p, gid, "no room on the chosen node");
	pool_tell_workers(p, a->id, ACTIVATION_WHISK_ERROR,
			  err == -ENOSPC ? "No node has room for the action's sandbox."
					 : "Failed to provision a sandbox for the action.",
			  NULL, 0);
	demand_started(p, a->id, false);
}

static void on_allocated(int status, json_t *body, void *data)
{
	struct alloc_call *ac = data;
	struct pool *p = ac->p;
	json_t *sb = json_object_get(body, "sandbox");
	const char *gid = json_obj_str(sb, "id");
	char local[GID_LEN + 1];

	if (status == 200 && gid && strlen(gid) == GID_LEN) {
		/* Ours to start; another node's comes back as a "warm" event. */
		if (json_integer_value(json_object_get(sb, "node")) == p->index &&
		    !pool_own_by_gid(p, gid))
			start_locally(p, ac->action, gid);
	} else if (status == 503) {
		pool_tell_workers(p, ac->action_id, ACTIVATION_WHISK_ERROR,
				  "No node has room for the action's sandbox.", NULL, 0);
		demand_started(p, ac->action_id, false);
	} else {
		/* No controller to ask: this node starts it itself and tells the controller
		 * when it is back (registration lists what runs). */
		pr_warn("pool: allocation through the controller failed (%d); starting locally",
			status);
		random_hex(local, GID_LEN);
		start_locally(p, ac->action, local);
	}
	action_entry_unref(ac->action);
	free(ac);
}

/* 0 when asked; -ENOTCONN when there is no controller to ask (the caller starts it here). */
static int request_allocation(struct pool *p, struct demand *d)
{
	struct alloc_call *ac;
	struct action_entry *a = d->action;
	char action_id[17];
	json_t *body;
	int err;

	if (!p->index)
		return -ENOTCONN;
	ac = calloc(1, sizeof(*ac));
	if (!ac)
		return -ENOMEM;
	ac->p = p;
	action_entry_ref(a);
	ac->action = a;
	ac->action_id = a->id;
	snprintf(action_id, sizeof(action_id), "%016" PRIx64, a->id);
	body = json_pack("{s:s,s:s,s:s,s:s,s:I,s:i,s:i,s:s}", "subject", a->subject, "docid",
			 a->docid, "action_id", action_id, "kind", pool_sandbox_kind(a), "revision", (json_int_t)a->revision, "memory_mb", a->memory_mb,
			 "concurrency", a->concurrency, "node", p->name);
	err = ctlclient_call(p->cc, "POST", "/internal/v1/allocate", body, 0, on_allocated, ac);
	json_decref(body);
	if (err) {
		action_entry_unref(ac->action);
		free(ac);
		return -ENOTCONN;
	}
	return 0;
}

struct unmark_call {
	struct pool *p;
	uint64_t action_id;
};

static void on_unmarked(int status, json_t *body, void *data)
{
	struct unmark_call *uc = data;

	/* Accepted: the "warm" event republishes it. Refused: it is gone, start another. */
	if (status != 200) {
		struct demand *d = demand_find(uc->p, uc->action_id);

		demand_started(uc->p, uc->action_id, false);
		if (d)
			demand_serve(uc->p, d);
	}
	free(uc);
}

/* A draining sandbox of the action (this node's or another's), if any. */
static const char *draining_of(struct pool *p, uint64_t action_id)
{
	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++) {
		struct xw_slot *s = &p->node->maps->slots[i];

		if (s->action_id != action_id ||
		    __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != XW_SLOT_DRAINING)
			continue;
		if (p->by_slot[i])
			return p->by_slot[i]->gid;
		if (p->remote_by_slot[i])
			return p->remote_by_slot[i]->gid;
	}
	return NULL;
}

static bool request_unmark(struct pool *p, struct demand *d)
{
	const char *gid = p->index ? draining_of(p, d->action_id) : NULL;
	struct unmark_call *uc;
	char target[96];
	json_t *body;

	if (!gid || !(uc = calloc(1, sizeof(*uc))))
		return false;
	uc->p = p;
	uc->action_id = d->action_id;
	snprintf(target, sizeof(target), "/internal/v1/sandboxes/%s/unmark", gid);
	body = json_pack("{s:s}", "node", p->name);
	if (ctlclient_call(p->cc, "POST", target, body, 0, on_unmarked, uc)) {
		free(uc);
		json_decref(body);
		return false;
	}
	json_decref(body);
	return true;
}

/* Starts as many sandboxes as the waiting activations need, given what is starting. */
void demand_serve(struct pool *p, struct demand *d)
{
	unsigned waiting = 0, wanted, instances_max;
	json_t *inst = json_object_get(json_object_get(d->action->doc, "limits"), "instances");

	for (unsigned i = 0; i < NODE_MAX_WORKERS; i++)
		waiting += d->waiting[i];
	wanted = (waiting + d->action->concurrency - 1) / d->action->concurrency;
	instances_max = json_is_integer(inst) && json_integer_value(inst) > 0
				? (unsigned)json_integer_value(inst)
				: UINT32_MAX;
	if (wanted > instances_max)
		wanted = instances_max;
	while (d->starting < wanted) {
		uint64_t action_id = d->action_id;
		char gid[GID_LEN + 1];
		int err;

		/* An activation arrived for a sandbox being collected: keep it instead. */
		if (request_unmark(p, d)) {
			d->starting++;
			continue;
		}
		err = request_allocation(p, d);
		d->starting++;
		if (err == -ENOTCONN) {
			/* Not registered (no controller yet): this node starts it itself and
			 * tells the controller when it registers. */
			random_hex(gid, GID_LEN);
			start_locally(p, d->action, gid);
		} else if (err) {
			d->starting--;
			return;
		}
		/* A failed start may have dropped the demand. */
		d = demand_find(p, action_id);
		if (!d)
			return;
	}
}

struct need_msg {
	struct node *node;
	struct action_entry *action;
	unsigned worker, waiting;
	char activation_id[33], tid[72], api_key[160];
};

static void handle_need(void *arg)
{
	struct need_msg *m = arg;
	struct pool *p = m->node->pool;
	struct demand *d = demand_find(p, m->action->id);

	if (!d) {
		d = calloc(1, sizeof(*d));
		if (!d) {
			action_entry_unref(m->action);
			free(m);
			return;
		}
		d->action_id = m->action->id;
		d->action = m->action;
		m->action = NULL;
		d->next = p->demands;
		p->demands = d;
	}
	if (m->worker < NODE_MAX_WORKERS)
		d->waiting[m->worker] = m->waiting;
	snprintf(d->activation_id, sizeof(d->activation_id), "%s", m->activation_id);
	snprintf(d->tid, sizeof(d->tid), "%s", m->tid);
	snprintf(d->api_key, sizeof(d->api_key), "%s", m->api_key);
	demand_serve(p, d);
	action_entry_unref(m->action);
	free(m);
}

void pool_need(struct node *node, struct action_entry *action, unsigned worker,
	       unsigned waiting, const char *activation_id, const char *tid, const char *api_key)
{
	struct need_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return;
	m->node = node;
	action_entry_ref(action);
	m->action = action;
	m->worker = worker;
	m->waiting = waiting;
	snprintf(m->activation_id, sizeof(m->activation_id), "%s", activation_id);
	snprintf(m->tid, sizeof(m->tid), "%s", tid);
	snprintf(m->api_key, sizeof(m->api_key), "%s", api_key ? api_key : "");
	if (node_post(node, handle_need, m)) {
		action_entry_unref(action);
		free(m);
	}
}

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
	s->addr = a.s_addr;
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
			/* Our own report coming back is published already; an unmark of one of
			 * ours being drained puts it back in service. */
			if (own && own->state == PS_DRAINING && ps_set_warm(own))
				pool_tell_workers(p, action_id, 0, NULL, NULL, 0);
			demand_started(p, action_id, true);
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
		/* Never under a running activation: a busy one drains and goes when idle. */
		if (own && __atomic_load_n(&p->node->maps->slots[own->slot].inflight,
					   __ATOMIC_SEQ_CST)) {
			ps_set_draining(own);
			own->remove_when_idle = true;
		} else if (own) {
			ps_destroy(own);
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
	} else if (!pool_own_by_gid(p, pl->gid) && pool_start_own(p, a, pl->gid, NULL)) {
		pool_report_unprovisioned(p, pl->gid, "no room on the chosen node");
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
			ps_destroy(ps);
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
