// SPDX-License-Identifier: Apache-2.0
/* The life of this node's own sandboxes: a stem cell, /init, warm in the maps, broken,
 * dead, idle. */
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
#include "xwhisk/sandbox_net.h"

/* A worker's word on one slot's sandbox, carried to the manager thread. */
struct slot_msg {
	struct node *node;
	uint32_t slot, generation;
	char why[32];
};


/* ---- the life of a sandbox ---- */

void ps_free(struct psandbox *ps)
{
	struct pool *p = ps->p;
	struct slot_logs *sl = &p->logs[ps->slot];

	if (ps->end_timer)
		loop_timer_cancel(p->node->loop, ps->end_timer);
	pool_logs_flush(ps);
	pthread_mutex_lock(&sl->lock);
	if (sl->generation == ps->generation)
		pool_logs_clear(sl);
	pthread_mutex_unlock(&sl->lock);
	actlogs_seg_free(&ps->seg);
	if (p->by_slot[ps->slot] == ps)
		p->by_slot[ps->slot] = NULL;
	p->used_mb -= ps->memory_mb < p->used_mb ? ps->memory_mb : p->used_mb;
	action_entry_unref(ps->action);
	free(ps);
}

static void ps_unpublish(struct psandbox *ps)
{
	if (ps->state == PS_WARM || ps->state == PS_DRAINING)
		(void)slot_warm_remove(ps->p->node->maps, ps->action_id, ps->slot);
}

void ps_destroy(struct psandbox *ps)
{
	struct pool *p = ps->p;

	ps_unpublish(ps);
	pool_slot_reset(p, ps->slot);
	if (ps->init_call) {
		http_call_cancel(ps->init_call);
		ps->init_call = NULL;
	}
	if (ps->req)
		sandbox_acquire_cancel(ps->req);
	if (ps->sb) {
		sandbox_set_data(ps->sb, NULL);
		sandbox_destroy(ps->sb);
	}
	ps_free(ps);
}

/* The controller's mark: routers stop using it; the sweep removes it later. */
void ps_set_draining(struct psandbox *ps)
{
	if (ps->state != PS_WARM)
		return;
	ps->state = PS_DRAINING;
	pool_slot_publish(ps->p, ps, XW_SLOT_DRAINING);
	(void)slot_warm_remove(ps->p->node->maps, ps->action_id, ps->slot);
}

bool ps_set_warm(struct psandbox *ps)
{
	if (ps->state != PS_DRAINING)
		return false;
	ps->state = PS_WARM;
	__atomic_store_n(&ps->p->node->maps->slots[ps->slot].last_used_ns, clock_mono_us() * 1000,
			 __ATOMIC_RELAXED);
	pool_slot_publish(ps->p, ps, XW_SLOT_WARM);
	return slot_warm_add(ps->p->node->maps, ps->action_id, ps->slot) == 0;
}

struct psandbox *pool_own_by_gid(struct pool *p, const char *gid)
{
	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++)
		if (p->by_slot[i] && !strcmp(p->by_slot[i]->gid, gid))
			return p->by_slot[i];
	return NULL;
}

void pool_tell_workers(struct pool *p, uint64_t action_id, int status, const char *message,
		       json_t *error, uint64_t init_ms)
{
	pool_tell_workers_logs(p, action_id, status, message, error, init_ms, NULL);
}

void pool_tell_workers_logs(struct pool *p, uint64_t action_id, int status, const char *message,
			    json_t *error, uint64_t init_ms, json_t *logs)
{
	struct node *node = p->node;

	for (unsigned i = 0; i < node->nworkers; i++) {
		struct warm_news *n = calloc(1, sizeof(*n));

		if (!n)
			continue;
		n->w = node->workers[i];
		n->action_id = action_id;
		n->status = status;
		n->message = message ? strdup(message) : NULL;
		n->error = json_incref(error);
		n->logs = json_incref(logs);
		n->init_ms = init_ms;
		if (mailbox_post(n->w->mailbox, worker_on_warm_news, n)) {
			free(n->message);
			json_decref(n->error);
			json_decref(n->logs);
			free(n);
		}
	}
}

/* status: ACTIVATION_DEVELOPER_ERROR (the action's failure) or ACTIVATION_WHISK_ERROR. */
static void init_failed_as(struct psandbox *ps, int status, const char *message, json_t *error)
{
	struct pool *p = ps->p;
	uint64_t init_ms = clock_real_ms() - ps->started_ms;
	json_t *logs;

	pr_info("pool: /init of %s failed: %s", ps->action ? ps->action->fqn : "?",
		message ? message : "error");
	pool_report(p, ps->gid, "failed", NULL, 0, message, error);
	if (ps->sb)
		sandbox_read_logs(ps->sb);
	/* What the runtime printed while it failed (a syntax error's traceback) goes into the
	 * record, as OpenWhisk keeps the logs of a failed /init. */
	logs = pool_logs_take_all(ps);
	pool_tell_workers_logs(p, ps->action_id, status, message, error, init_ms,
			       json_array_size(logs) ? logs : NULL);
	json_decref(logs);
	demand_started(p, ps->action_id, false);
	ps_destroy(ps);
}

static void init_failed(struct psandbox *ps, const char *message, json_t *error)
{
	init_failed_as(ps, ACTIVATION_DEVELOPER_ERROR, message, error);
}

/* A language loop that serves /run itself names its port (xwhisk/sandbox_net.h): runs
 * skip xwhisk-proxy. Anything else keeps the runtime server's. */
static uint16_t run_port(const struct http_response *resp, uint16_t server_port)
{
	long long port = actlogs_header_value(
		http_header_get(resp->headers, resp->nheaders, XW_RUN_PORT_HEADER));

	return port > 0 && port < 65536 ? (uint16_t)port : server_port;
}

static void on_init_answer(struct http_response *resp, int err, void *data)
{
	struct psandbox *ps = data;
	struct pool *p = ps->p;
	struct xw_slot *s = &p->node->maps->slots[ps->slot];
	char msg[600];

	ps->init_call = NULL;
	if (err || resp->status != 200) {
		/* An xwhisk-proxy answers with the logs in band, before the runtime's answer. */
		size_t skip = 0;
		json_t *logs = err ? NULL : actlogs_from_answer(resp, SIZE_MAX, &skip);
		const char *body = err ? NULL : resp->body.data + skip;
		size_t len = err ? 0 : resp->body.len - skip;
		json_t *j = len ? json_parse(body, len, NULL, 0) : NULL;

		if (logs)
			pool_logs_add(ps, logs);

		if (err == -ETIMEDOUT) {
			snprintf(msg, sizeof(msg),
				 "The action exceeded its time limits of %u milliseconds during "
				 "initialization.",
				 ps->action->timeout_ms);
			init_failed(ps, msg, NULL);
		} else if (err) {
			init_failed(ps, "The action did not initialize and exited unexpectedly.",
				    NULL);
		} else if (json_is_object(j) && json_object_get(j, "error")) {
			json_t *e = json_pack("{s:O}", "error", json_object_get(j, "error"));

			init_failed(ps, NULL, e);
			json_decref(e);
		} else {
			snprintf(msg, sizeof(msg), "The action failed during initialization: %.*s",
				 (int)(len > 400 ? 400 : len), body ? body : "");
			init_failed(ps, msg, NULL);
		}
		json_decref(j);
		return;
	}
	/* Warm: routers may claim it from now on, on the port its runs go to. */
	s->port = run_port(resp, s->port);
	s->concurrency = ps->concurrency;
	s->last_used_ns = clock_mono_us() * 1000;
	ps->state = PS_WARM;
	pool_slot_publish(p, ps, XW_SLOT_WARM);
	if (slot_warm_add(p->node->maps, ps->action_id, ps->slot)) {
		pr_warn("pool: %s has too many warm sandboxes to list one more", ps->action->fqn);
		pool_report(p, ps->gid, "removed", NULL, 0, NULL, NULL);
		ps_destroy(ps);
		return;
	}
	pool_report(p, ps->gid, "warm", sandbox_ip(ps->sb), s->port, NULL, NULL);
	pool_tell_workers(p, ps->action_id, 0, NULL, NULL, clock_real_ms() - ps->started_ms);
	demand_started(p, ps->action_id, true);
}

static json_t *init_body(struct psandbox *ps)
{
	const struct action_entry *a = ps->action;
	json_t *exec = json_object_get(a->doc, "exec"), *env = json_deep_copy(a->init_env);
	json_t *value;
	char deadline[24];

	snprintf(deadline, sizeof(deadline), "%llu",
		 (unsigned long long)(clock_real_ms() + a->timeout_ms));
	json_object_set_new(env, "__OW_NAMESPACE", json_string(a->subject));
	json_object_set_new(env, "__OW_ACTION_NAME", json_string(a->fqn));
	json_object_set_new(env, "__OW_ACTION_VERSION", json_string(a->version));
	json_object_set_new(env, "__OW_ACTIVATION_ID", json_string(ps->activation_id));
	json_object_set_new(env, "__OW_TRANSACTION_ID", json_string(ps->tid));
	json_object_set_new(env, "__OW_DEADLINE", json_string(deadline));
	if (a->provide_api_key && ps->api_key[0])
		json_object_set_new(env, "__OW_API_KEY", json_string(ps->api_key));
	/* An xwhisk extension: a streaming web action's runtime serves HTTP itself, beside
	 * the proxy (ingress/stream.c connects to it). */
	if (a->web_stream)
		json_object_set_new(env, "__OW_WEB_STREAM", json_string("true"));
	value = json_pack("{s:s,s:s,s:b}", "name", a->name, "main",
			  json_obj_str(exec, "main") ?: "main", "binary",
			  json_is_true(json_object_get(exec, "binary")));
	if (json_object_get(exec, "code"))
		json_object_set(value, "code", json_object_get(exec, "code"));
	json_object_set_new(value, "env", env);
	/* An xwhisk extension the reference runtimes ignore: xwhisk-proxy takes this many
	 * activations at once and answers 429 beyond. */
	return json_pack("{s:o,s:i}", "value", value, "concurrency", a->concurrency);
}

static void on_ready(struct sandbox *sb, int err, void *data)
{
	struct psandbox *ps = data;
	struct pool *p = ps->p;
	struct xw_slot *s = &p->node->maps->slots[ps->slot];
	struct http_pool *hp;
	char label[1100], headers[96], *text;
	json_t *body;
	struct in_addr a;

	ps->req = NULL;
	if (err || !sb) {
		pr_warn("pool: no sandbox for %s: %s", ps->action->fqn, strerror(-err));
		pool_report_unprovisioned(p, ps->gid, "no sandbox");
		pool_tell_workers(p, ps->action_id, ACTIVATION_WHISK_ERROR,
				  "Failed to provision a sandbox for the action.", NULL, 0);
		demand_started(p, ps->action_id, false);
		ps_destroy(ps);
		return;
	}
	ps->sb = sb;
	sandbox_set_data(sb, ps);
	/* What a restarted node needs to serve it again: see pool_on_adopted(). */
	snprintf(label, sizeof(label), "%016" PRIx64 " %u %s %s", ps->action_id, ps->slot, ps->gid,
		 ps->key);
	(void)sandbox_set_label(sb, label);
	inet_pton(AF_INET, sandbox_ip(sb), &a);
	memcpy(s->addr, &a.s_addr, sizeof(s->addr));
	s->port = (uint16_t)sandbox_port(sb);
	s->pid = (uint32_t)sandbox_pid(sb);
	ps->state = PS_INITING;
	http_pool_free(p->init_pools[ps->slot]);
	hp = p->init_pools[ps->slot] = http_pool_new(p->node->loop, sandbox_ip(sb),
						     sandbox_port(sb), 1);
	body = init_body(ps);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	/* A failed /init's logs in band, if the sandbox is an xwhisk-proxy (lib/actlogs.h). */
	snprintf(headers, sizeof(headers),
		 "Content-Type: application/json\r\n" ACTLOGS_HEADER ": %llu\r\n",
		 (unsigned long long)ps->action->logs_mb << 20);
	json_decref(body);
	if (hp && text)
		ps->init_call = http_pool_call(hp, "POST", "/init", headers, text, strlen(text),
					       ps->action->timeout_ms, on_init_answer, ps);
	free(text);
	if (!ps->init_call)
		init_failed(ps, "The action did not initialize and exited unexpectedly.", NULL);
}

bool ps_remove_if_idle(struct psandbox *ps)
{
	struct xw_slot *s = &ps->p->node->maps->slots[ps->slot];
	uint32_t was = __atomic_load_n(&s->state, __ATOMIC_SEQ_CST);

	/* Mark first, then look at in-flight: see slots.h. */
	pool_slot_publish(ps->p, ps, XW_SLOT_DRAINING);
	if (__atomic_load_n(&s->inflight, __ATOMIC_SEQ_CST)) {
		pool_slot_publish(ps->p, ps, (enum xw_slot_state)was);
		return false;
	}
	ps_destroy(ps);
	return true;
}

/* Frees room for memory_mb by removing sandboxes with nothing running in them: those the
 * controller marked first (they were going anyway), then the least recently used. */
bool pool_make_room(struct pool *p, unsigned memory_mb)
{
	while (p->used_mb + memory_mb > p->node->cfg.memory_mb) {
		struct psandbox *victim = NULL;
		uint64_t best = UINT64_MAX;
		char gid[GID_LEN + 1];

		for (uint32_t i = 0; i < XW_MAX_SLOTS; i++) {
			struct psandbox *ps = p->by_slot[i];
			struct xw_slot *s = &p->node->maps->slots[i];
			uint64_t rank;

			if (!ps || (ps->state != PS_WARM && ps->state != PS_DRAINING) ||
			    __atomic_load_n(&s->inflight, __ATOMIC_SEQ_CST))
				continue;
			rank = ps->state == PS_DRAINING ? 0 : s->last_used_ns | 1;
			if (rank < best) {
				best = rank;
				victim = ps;
			}
		}
		if (!victim)
			return false;
		snprintf(gid, sizeof(gid), "%s", victim->gid);
		if (!ps_remove_if_idle(victim))
			return false;
		pool_report(p, gid, "removed", NULL, 0, NULL, NULL);
	}
	return true;
}

const char *pool_sandbox_kind(const struct action_entry *a)
{
	json_t *exec = json_object_get(a->doc, "exec");

	/* A blackbox names its image; the manifest knows which images it runs itself. */
	if (a->xkind == XW_KIND_BLACKBOX)
		return json_obj_str(exec, "image") ?: "blackbox";
	return a->kind;
}

int pool_start_own(struct pool *p, struct action_entry *a, const char *gid,
		   const struct demand *d)
{
	struct psandbox *ps;
	uint32_t slot;
	struct xw_slot *s;

	if (!pool_make_room(p, a->memory_mb) || pool_slot_alloc(p, &slot))
		return -ENOSPC;
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->p = p;
	ps->slot = slot;
	ps->action_id = a->id;
	action_entry_ref(a);
	ps->action = a;
	snprintf(ps->gid, sizeof(ps->gid), "%s", gid);
	snprintf(ps->key, sizeof(ps->key), "%s|%s@%lld", a->subject, a->docid,
		 (long long)a->revision);
	snprintf(ps->kind, sizeof(ps->kind), "%s", pool_sandbox_kind(a));
	ps->concurrency = a->concurrency;
	ps->memory_mb = a->memory_mb;
	ps->state = PS_STARTING;
	ps->started_ms = clock_real_ms();
	if (d) {
		snprintf(ps->activation_id, sizeof(ps->activation_id), "%s", d->activation_id);
		snprintf(ps->tid, sizeof(ps->tid), "%s", d->tid);
		snprintf(ps->api_key, sizeof(ps->api_key), "%s", d->api_key);
	}
	s = &p->node->maps->slots[slot];
	s->action_id = a->id;
	s->concurrency = a->concurrency;
	s->node = 0;
	__atomic_store_n(&s->inflight, 0, __ATOMIC_SEQ_CST);
	ps->generation = __atomic_add_fetch(&s->generation, 1, __ATOMIC_SEQ_CST);
	__atomic_store_n(&s->state, XW_SLOT_STARTING, __ATOMIC_SEQ_CST);
	p->by_slot[slot] = ps;
	p->used_mb += ps->memory_mb;
	ps->req = sandbox_acquire(p->sm, ps->kind, a->memory_mb, on_ready, ps);
	if (!ps->req) {
		int err = errno ? -errno : -EINVAL;

		pr_warn("pool: cannot start a sandbox for %s (kind %s): %s", a->fqn, ps->kind,
			strerror(-err));
		ps_destroy(ps);
		return err;
	}
	return 0;
}

/* How long a sandbox that went without an answer has to end by itself (its proxy exits
 * 100 ms after its runtime) before it is removed. */
#define SANDBOX_END_WAIT_MS 500

static void ps_remove(struct psandbox *ps, const char *why)
{
	pr_info("pool: removing the sandbox of %s in slot %u (%s)",
		ps->action ? ps->action->fqn : ps->key, ps->slot, why);
	pool_report(ps->p, ps->gid, "removed", NULL, 0, NULL, NULL);
	ps_destroy(ps);
}

static void on_end_due(struct loop *loop, void *data)
{
	struct psandbox *ps = data;

	(void)loop;
	ps->end_timer = NULL;
	ps_remove(ps, POOL_NO_ANSWER);
}

static void handle_broken(void *arg)
{
	struct slot_msg *m = arg;
	struct pool *p = m->node->pool;
	struct psandbox *ps = p->by_slot[m->slot];

	if (ps && ps->generation == m->generation) {
		if (ps->end_timer)
			goto out;
		/* Its runtime went: its init follows, telling why, or it is made to. */
		if (ps->sb && !strcmp(m->why, POOL_NO_ANSWER)) {
			ps->end_timer = loop_timer_add(p->node->loop, SANDBOX_END_WAIT_MS,
						       on_end_due, ps);
			if (ps->end_timer) {
				ps_unpublish(ps);
				goto out;
			}
		}
		ps_remove(ps, m->why);
	} else if (!ps) {
		pool_remote_broken(p, m->slot, m->generation);
	}
out:
	free(m);
}

void pool_broken(struct node *node, uint32_t slot, uint32_t generation, const char *why)
{
	struct slot_msg *m = calloc(1, sizeof(*m));

	if (!m)
		return;
	m->node = node;
	m->slot = slot;
	m->generation = generation;
	snprintf(m->why, sizeof(m->why), "%s", why);
	if (node_post(node, handle_broken, m))
		free(m);
}

const char *pool_death_reason(struct node *node, uint32_t slot, uint32_t generation)
{
	struct pool *p = node->pool;

	if (slot >= XW_MAX_SLOTS ||
	    __atomic_load_n(&p->death_gen[slot], __ATOMIC_ACQUIRE) != generation)
		return NULL;
	return p->death[slot][0] ? p->death[slot] : NULL;
}

void pool_on_exited(struct sandbox *sb, enum sandbox_exit_reason reason, int status,
		      void *data)
{
	struct psandbox *ps = sandbox_data(sb);
	struct pool *p;

	if (!ps)
		return;
	p = ps->p;
	snprintf(p->death[ps->slot], sizeof(p->death[0]), "%s",
		 reason == SANDBOX_OOM ? "oom" : reason == SANDBOX_KILLED ? "killed" : "exit");
	__atomic_store_n(&p->death_gen[ps->slot], ps->generation, __ATOMIC_RELEASE);
	pr_info("pool: the sandbox of %s in slot %u: %s (%d)", ps->action ? ps->action->fqn : ps->key,
		ps->slot, p->death[ps->slot], status);
	ps->sb = NULL; /* freed by the backend after this callback */
	if (ps->state == PS_INITING && ps->init_call) {
		http_call_cancel(ps->init_call);
		ps->init_call = NULL;
		if (reason == SANDBOX_KILLED)
			init_failed_as(ps, ACTIVATION_WHISK_ERROR, SANDBOX_KILLED_MSG, NULL);
		else
			init_failed(ps, reason == SANDBOX_OOM
						? "The action exhausted its memory and was aborted."
						: "The action did not initialize and exited unexpectedly.",
				    NULL);
		return;
	}
	pool_report(p, ps->gid, "removed", NULL, 0, NULL, NULL);
	ps_unpublish(ps);
	pool_slot_reset(p, ps->slot);
	ps_free(ps);
}

void pool_tick(struct loop *loop, void *data)
{
	struct pool *p = data;

	p->gc = NULL;
	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++) {
		struct psandbox *ps = p->by_slot[i];

		if (ps && ps->remove_when_idle &&
		    !__atomic_load_n(&p->node->maps->slots[i].inflight, __ATOMIC_SEQ_CST))
			ps_destroy(ps);
	}
	/* Demands waiting for room (or for the controller) try again. */
	for (struct demand *d = p->demands, *next; d; d = next) {
		next = d->next;
		demand_serve(p, d);
	}
	p->gc = loop_timer_add(loop, TICK_MS, pool_tick, p);
}

