// SPDX-License-Identifier: Apache-2.0
/*
 * Activations waiting on this node become demands: an allocation request to the controller
 * (which picks the node), or the unmark of a draining sandbox of the action when there is
 * one; the demand is served as sandboxes turn warm.
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
#include "node/activation/invocation.h"
#include "node/activation/slots.h"
#include "node/activation/wait_board.h"
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
	if (warm)
		d->no_room_since_ms = 0;
	if (warm || !d->starting) {
		memset(d->waiting, 0, sizeof(d->waiting));
		if (!d->starting)
			demand_drop(p, d);
	}
}

/* How long activations wait for room (idle sandboxes evicted, busy ones freeing up)
 * before they fail as the platform's error. */
#define DEMAND_ROOM_WAIT_MS 60000

static const char no_room_msg[] = "No node has room for the action's sandbox.";

void demand_no_room(struct pool *p, uint64_t action_id)
{
	struct demand *d = demand_find(p, action_id);
	uint64_t now = clock_mono_ms();

	if (!d)
		return;
	if (d->starting)
		d->starting--;
	if (!d->no_room_since_ms)
		d->no_room_since_ms = now;
	/* Kept: pool_tick serves it again, and busy sandboxes freeing up serve its workers. */
	if (now - d->no_room_since_ms < DEMAND_ROOM_WAIT_MS)
		return;
	pr_warn("pool: no room for a sandbox of %s for %u s", d->action->fqn,
		DEMAND_ROOM_WAIT_MS / 1000);
	pool_tell_workers(p, action_id, ACTIVATION_WHISK_ERROR, no_room_msg, NULL, 0);
	memset(d->waiting, 0, sizeof(d->waiting));
	if (!d->starting)
		demand_drop(p, d);
}

struct alloc_call {
	struct pool *p;
	struct action_entry *action;
	uint64_t action_id;
};


static void start_locally(struct pool *p, struct action_entry *a, const char *gid)
{
	struct demand *d = demand_find(p, a->id);
	int err = pool_start_own(p, a, gid, d);

	char msg[400];

	if (!err)
		return;
	if (err == -ENOENT && a->xkind == XW_KIND_BLACKBOX) {
		/* An image this platform cannot run: the developer's error, as OpenWhisk says
		 * when it cannot pull one. */
		snprintf(msg, sizeof(msg), "Failed to pull container image '%s'.",
			 pool_sandbox_kind(a));
		pool_report_unprovisioned(p, gid, msg);
		pool_tell_workers(p, a->id, ACTIVATION_DEVELOPER_ERROR, msg, NULL, 0);
		demand_started(p, a->id, false);
		return;
	}
	if (err == -ENOSPC) {
		/* The controller's accounting ran ahead of this node's (its evictions are on
		 * their way here): nodes waiting for it ask again, and so does this one. */
		pool_report(p, gid, "removed", NULL, 0, NULL, NULL);
		demand_no_room(p, a->id);
		return;
	}
	pool_report_unprovisioned(p, gid, "no sandbox could be provisioned");
	pool_tell_workers(p, a->id, ACTIVATION_WHISK_ERROR,
			  "Failed to provision a sandbox for the action.", NULL, 0);
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
		/* Nothing to evict now (every sandbox busy or starting): wait for room. */
		demand_no_room(p, ac->action_id);
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
		struct demand *d;

		/* It may drop the demand: looked up after (it was used freed). */
		demand_started(uc->p, uc->action_id, false);
		d = demand_find(uc->p, uc->action_id);
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
	unsigned waiting = 0, wanted, instances_max, free_room, really;
	json_t *inst = json_object_get(json_object_get(d->action->doc, "limits"), "instances");

	for (unsigned i = 0; i < NODE_MAX_WORKERS; i++)
		waiting += d->waiting[i];
	/* A worker's report is as of its asking: some it counted have been served since. */
	really = wait_board_count(p->node->waits, d->action_id);
	if (waiting > really)
		waiting = really;
	/* A sandbox just warm whose room the workers have not taken yet serves some of them:
	 * counted, or a start that ends while workers ask again makes one too many. And the
	 * workers are told again: room left while activations wait is a wake-up lost on the
	 * way (no activation waits for its time limit beside an idle sandbox). */
	free_room = slot_warm_free(p->node->maps, d->action_id);
	if (free_room && really)
		for (unsigned i = 0; i < p->node->nworkers; i++)
			invocation_post_room(p->node->workers[i], d->action_id);
	waiting = waiting > free_room ? waiting - free_room : 0;
	wanted = (waiting + d->action->concurrency - 1) / d->action->concurrency;
	instances_max = json_is_integer(inst) && json_integer_value(inst) > 0
				? (unsigned)json_integer_value(inst)
				: UINT32_MAX;
	if (wanted > instances_max)
		wanted = instances_max;
	/* A start is CPU work (fork, exec, the runtime's own start): more at once than the
	 * node has CPUs make each one slower, the first ready later, and the activations
	 * queued behind the warm ones wait longer (burst.sh in docs/BENCHMARKS.md). The rest
	 * are started as these finish, if the queue still needs them then. */
	if (p->node->cfg.parallel_starts && wanted > p->node->cfg.parallel_starts)
		wanted = p->node->cfg.parallel_starts;
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

