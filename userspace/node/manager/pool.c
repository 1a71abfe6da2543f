// SPDX-License-Identifier: Apache-2.0
/* This node's own sandboxes: cold start (a stem cell, then /init), publication in the maps
 * once warm, logs, removal, and adoption after a restart. The cluster's side (who gets
 * a sandbox, other nodes' sandboxes) is in pool_cluster.c. */
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

#define TICK_MS 1000
/* After /run answered, the sentinels normally follow within milliseconds. */
#define LOG_WAIT_MS 2000

/* ---- cross-thread messages and logs ---- */

struct slot_msg {
	struct node *node;
	uint32_t slot, generation;
	char why[32];
};

struct logs_msg {
	struct node *node;
	struct worker *w;
	uint32_t slot, generation;
	uint64_t limit;
	uint64_t since_ns;
	pool_logs_cb cb;
	void *data;
};

struct logs_reply {
	pool_logs_cb cb;
	void *data;
	json_t *logs;
};

static void deliver_logs_on_worker(void *arg)
{
	struct logs_reply *r = arg;

	r->cb(r->logs, r->data);
	free(r);
}

/* Cuts lines to the action's limit, and says so, as OpenWhisk does. */
static void cut_logs(json_t *lines, uint64_t limit)
{
	uint64_t total = 0;
	size_t i;
	json_t *l;

	json_array_foreach(lines, i, l) {
		total += json_string_length(l);
		if (limit && total > limit) {
			char msg[160];

			while (json_array_size(lines) > i)
				json_array_remove(lines, i);
			snprintf(msg, sizeof(msg),
				 "Logs were truncated because the total bytes size exceeds the "
				 "limit of %llu bytes.",
				 (unsigned long long)limit);
			json_array_append_new(lines, json_string(msg));
			break;
		}
	}
}

/* Hands lines (stolen) to a waiting worker, cut to its limit. */
static void deliver_logs(struct worker *w, pool_logs_cb cb, void *data, json_t *lines,
			 uint64_t limit)
{
	struct logs_reply *r = calloc(1, sizeof(*r));

	if (!r) {
		json_decref(lines);
		return;
	}
	cut_logs(lines, limit);
	r->cb = cb;
	r->data = data;
	r->logs = lines;
	if (mailbox_post(w->mailbox, deliver_logs_on_worker, r)) {
		json_decref(lines);
		free(r);
	}
}

/* ---- logs ---- */

/*
 * Segments nobody asks for: activations that other nodes ran in this sandbox, and ours
 * with logs switched off. They are dropped when a request shows they are older than its
 * /run, and at most this many wait.
 */
#define MAX_SEGMENTS 16

/* The first segment of sl, taken out (sl locked). */
static struct log_segment *segment_pop(struct slot_logs *sl)
{
	struct log_segment *seg = sl->segments;

	sl->segments = seg->next;
	if (!sl->segments)
		sl->tail = NULL;
	sl->n--;
	return seg;
}

static void segment_free(struct log_segment *seg)
{
	json_decref(seg->lines);
	free(seg);
}

/* sl locked */
static void segments_clear(struct slot_logs *sl)
{
	while (sl->segments)
		segment_free(segment_pop(sl));
}

static void segment_append(struct psandbox *ps, struct log_segment *seg)
{
	struct slot_logs *sl = &ps->p->logs[ps->slot];

	pthread_mutex_lock(&sl->lock);
	if (sl->generation != ps->generation) {
		segments_clear(sl);
		sl->generation = ps->generation;
	}
	if (sl->n >= MAX_SEGMENTS)
		segment_free(segment_pop(sl));
	sl->n++;
	if (sl->tail)
		sl->tail->next = seg;
	else
		sl->segments = seg;
	sl->tail = seg;
	pthread_mutex_unlock(&sl->lock);
}

/*
 * The lines of the first segment of slot's sandbox (of generation) that ended after
 * since_ns, taken; NULL when there is none yet. Older ones ended before the activation's
 * /run was sent: someone else's, dropped. Any thread.
 */
static json_t *segment_take(struct pool *p, uint32_t slot, uint32_t generation,
			    uint64_t since_ns)
{
	struct slot_logs *sl = &p->logs[slot];
	struct log_segment *seg = NULL;
	json_t *lines = NULL;

	pthread_mutex_lock(&sl->lock);
	if (sl->generation == generation) {
		while (sl->segments && sl->segments->done_ns < since_ns)
			segment_free(segment_pop(sl));
		if (sl->segments)
			seg = segment_pop(sl);
	}
	pthread_mutex_unlock(&sl->lock);
	if (seg) {
		lines = seg->lines;
		free(seg);
	}
	return lines;
}

static void log_segment_done(struct psandbox *ps, uint64_t done_ns)
{
	json_t *lines = ps->lines ? ps->lines : json_array();

	ps->lines = NULL;
	ps->lines_bytes = 0;
	ps->sentinels = 0;
	if (ps->waiters) {
		struct log_waiter *lw = ps->waiters;

		ps->waiters = lw->next;
		loop_timer_cancel(ps->p->node->loop, lw->timer);
		deliver_logs(lw->w, lw->cb, lw->data, lines, lw->limit);
		free(lw);
		return;
	}
	{
		struct log_segment *seg = calloc(1, sizeof(*seg));

		if (!seg) {
			json_decref(lines);
			return;
		}
		seg->lines = lines;
		seg->done_ns = done_ns;
		segment_append(ps, seg);
	}
}

static void on_log(struct sandbox *sb, enum sandbox_stream stream, const char *line, size_t len,
		   uint64_t ts_ns, bool sentinel, void *data)
{
	struct psandbox *ps = sandbox_data(sb);
	char stamp[40];
	struct buf b = BUF_INIT;
	size_t limit;

	if (!ps)
		return;
	if (sentinel) {
		if (++ps->sentinels >= 2)
			log_segment_done(ps, ts_ns);
		return;
	}
	/* Kept up to the first line past the action's limit, counted as delivery counts
	 * (which cuts there and says so); nothing when its logs are off. Adopted sandboxes
	 * keep 10 MB. */
	limit = ps->action ? (size_t)ps->action->logs_mb << 20 : 10u << 20;
	if (!limit || ps->lines_bytes > limit)
		return;
	if (!ps->lines)
		ps->lines = json_array();
	/* OpenWhisk's "%-30s %s: %s" of the Docker timestamp, the stream and the line. */
	format_rfc3339_nano(stamp, sizeof(stamp), ts_ns);
	buf_printf(&b, "%-30s %s: %.*s", stamp, stream == SANDBOX_STDERR ? "stderr" : "stdout",
		   (int)len, line);
	json_array_append_new(ps->lines, json_stringn(b.data ? b.data : "", b.len));
	ps->lines_bytes += b.len;
	buf_free(&b);
}

static void on_log_wait_over(struct loop *loop, void *data)
{
	struct log_waiter *lw = data;
	struct psandbox *ps = lw->ps;
	json_t *lines;

	for (struct log_waiter **pp = &ps->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == lw) {
			*pp = lw->next;
			break;
		}
	}
	/* No sentinels in time: what there is, and a word that something may be missing. */
	lines = ps->lines ? ps->lines : json_array();
	ps->lines = NULL;
	ps->lines_bytes = 0;
	ps->sentinels = 0;
	json_array_append_new(lines, json_string("There was an issue while collecting your logs. "
						 "Data might be missing."));
	deliver_logs(lw->w, lw->cb, lw->data, lines, lw->limit);
	free(lw);
}

static void handle_logs(void *arg)
{
	struct logs_msg *m = arg;
	struct pool *p = m->node->pool;
	struct psandbox *ps = p->by_slot[m->slot];
	json_t *lines;

	if (!ps || ps->generation != m->generation) {
		deliver_logs(m->w, m->cb, m->data, NULL, m->limit);
	} else if ((lines = segment_take(p, m->slot, m->generation, m->since_ns))) {
		deliver_logs(m->w, m->cb, m->data, lines, m->limit);
	} else {
		struct log_waiter *lw = calloc(1, sizeof(*lw)), **pp;

		if (!lw) {
			deliver_logs(m->w, m->cb, m->data, NULL, m->limit);
			goto out;
		}
		lw->w = m->w;
		lw->cb = m->cb;
		lw->data = m->data;
		lw->limit = m->limit;
		lw->ps = ps;
		lw->timer = loop_timer_add(p->node->loop, LOG_WAIT_MS, on_log_wait_over, lw);
		for (pp = &ps->waiters; *pp; pp = &(*pp)->next)
			;
		*pp = lw;
	}
out:
	free(m);
}

void pool_logs(struct node *node, struct worker *w, uint32_t slot, uint32_t generation,
	       uint64_t since_ns, uint64_t limit_bytes, pool_logs_cb cb, void *data)
{
	json_t *lines = segment_take(node->pool, slot, generation, since_ns);
	struct logs_msg *m;

	if (lines) {
		cut_logs(lines, limit_bytes);
		cb(lines, data);
		return;
	}
	m = calloc(1, sizeof(*m));
	if (!m || (m->node = node, m->w = w, m->slot = slot, m->generation = generation,
		   m->since_ns = since_ns, m->limit = limit_bytes, m->cb = cb, m->data = data,
		   node_post(node, handle_logs, m))) {
		free(m);
		cb(NULL, data);
	}
}

/* The sandbox is gone: whoever waits for its logs gets what there is. */
static void flush_log_waiters(struct psandbox *ps)
{
	while (ps->waiters) {
		struct log_waiter *lw = ps->waiters;
		json_t *lines = ps->lines ? ps->lines : json_array();

		ps->waiters = lw->next;
		ps->lines = NULL;
		ps->lines_bytes = 0;
		json_array_append_new(lines,
				      json_string("The action did not initialize or run as expected. "
						  "Log data might be missing."));
		loop_timer_cancel(ps->p->node->loop, lw->timer);
		deliver_logs(lw->w, lw->cb, lw->data, lines, lw->limit);
		free(lw);
	}
}

/* ---- slots ---- */

int pool_slot_alloc(struct pool *p, uint32_t *out)
{
	struct xw_maps *m = p->node->maps;

	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++) {
		struct xw_slot *s = &m->slots[i];
		uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);

		if (p->by_slot[i] || (st != XW_SLOT_FREE && st != XW_SLOT_REMOVED) ||
		    __atomic_load_n(&s->inflight, __ATOMIC_ACQUIRE))
			continue;
		*out = i;
		return 0;
	}
	return -ENOSPC;
}

static void slot_publish(struct pool *p, struct psandbox *ps, enum xw_slot_state state)
{
	__atomic_store_n(&p->node->maps->slots[ps->slot].state, state, __ATOMIC_SEQ_CST);
}

static void slot_reset(struct pool *p, uint32_t slot)
{
	struct xw_slot *s = &p->node->maps->slots[slot];

	__atomic_store_n(&s->state, XW_SLOT_REMOVED, __ATOMIC_SEQ_CST);
	s->pid = 0;
}

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

/* ---- the life of a sandbox ---- */

static void ps_free(struct psandbox *ps)
{
	struct pool *p = ps->p;
	struct slot_logs *sl = &p->logs[ps->slot];

	flush_log_waiters(ps);
	pthread_mutex_lock(&sl->lock);
	if (sl->generation == ps->generation)
		segments_clear(sl);
	pthread_mutex_unlock(&sl->lock);
	json_decref(ps->lines);
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
	slot_reset(p, ps->slot);
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
	slot_publish(ps->p, ps, XW_SLOT_DRAINING);
	(void)slot_warm_remove(ps->p->node->maps, ps->action_id, ps->slot);
}

bool ps_set_warm(struct psandbox *ps)
{
	if (ps->state != PS_DRAINING)
		return false;
	ps->state = PS_WARM;
	__atomic_store_n(&ps->p->node->maps->slots[ps->slot].last_used_ns, clock_mono_us() * 1000,
			 __ATOMIC_RELAXED);
	slot_publish(ps->p, ps, XW_SLOT_WARM);
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
		n->init_ms = init_ms;
		if (mailbox_post(n->w->mailbox, worker_on_warm_news, n)) {
			free(n->message);
			json_decref(n->error);
			free(n);
		}
	}
}

static void init_failed(struct psandbox *ps, const char *message, json_t *error)
{
	struct pool *p = ps->p;
	uint64_t init_ms = clock_real_ms() - ps->started_ms;

	pr_info("pool: /init of %s failed: %s", ps->action ? ps->action->fqn : "?",
		message ? message : "error");
	pool_report(p, ps->gid, "failed", NULL, 0, message, error);
	pool_tell_workers(p, ps->action_id, ACTIVATION_DEVELOPER_ERROR, message, error, init_ms);
	demand_started(p, ps->action_id, false);
	ps_destroy(ps);
}

static void on_init_answer(struct http_response *resp, int err, void *data)
{
	struct psandbox *ps = data;
	struct pool *p = ps->p;
	struct xw_slot *s = &p->node->maps->slots[ps->slot];
	char msg[600];

	ps->init_call = NULL;
	if (err || resp->status != 200) {
		json_t *j = !err && resp->body.len
				    ? json_loadb(resp->body.data, resp->body.len, JSON_DECODE_ANY, NULL)
				    : NULL;

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
				 (int)(resp->body.len > 400 ? 400 : resp->body.len),
				 resp->body.data ? resp->body.data : "");
			init_failed(ps, msg, NULL);
		}
		json_decref(j);
		return;
	}
	/* Warm: routers may claim it from now on. */
	s->concurrency = ps->concurrency;
	s->last_used_ns = clock_mono_us() * 1000;
	ps->state = PS_WARM;
	slot_publish(p, ps, XW_SLOT_WARM);
	if (slot_warm_add(p->node->maps, ps->action_id, ps->slot)) {
		pr_warn("pool: %s has too many warm sandboxes to list one more", ps->action->fqn);
		pool_report(p, ps->gid, "removed", NULL, 0, NULL, NULL);
		ps_destroy(ps);
		return;
	}
	pool_report(p, ps->gid, "warm", sandbox_ip(ps->sb), sandbox_port(ps->sb), NULL, NULL);
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
	char label[1100], *text;
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
	/* What a restarted node needs to serve it again: see on_adopted(). */
	snprintf(label, sizeof(label), "%016" PRIx64 " %u %s %s", ps->action_id, ps->slot, ps->gid,
		 ps->key);
	(void)sandbox_set_label(sb, label);
	inet_pton(AF_INET, sandbox_ip(sb), &a);
	s->addr = a.s_addr;
	s->port = (uint16_t)sandbox_port(sb);
	s->pid = (uint32_t)sandbox_pid(sb);
	ps->state = PS_INITING;
	http_pool_free(p->init_pools[ps->slot]);
	hp = p->init_pools[ps->slot] = http_pool_new(p->node->loop, sandbox_ip(sb),
						     sandbox_port(sb), 1);
	body = init_body(ps);
	text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (hp && text)
		ps->init_call = http_pool_call(hp, "POST", "/init",
					       "Content-Type: application/json\r\n", text,
					       strlen(text), ps->action->timeout_ms, on_init_answer, ps);
	free(text);
	if (!ps->init_call)
		init_failed(ps, "The action did not initialize and exited unexpectedly.", NULL);
}

/* Frees room for memory_mb by removing idle sandboxes, least recently used first. */
bool pool_make_room(struct pool *p, unsigned memory_mb)
{
	while (p->used_mb + memory_mb > p->node->cfg.memory_mb) {
		struct psandbox *victim = NULL;
		uint64_t oldest = UINT64_MAX;

		for (uint32_t i = 0; i < XW_MAX_SLOTS; i++) {
			struct psandbox *ps = p->by_slot[i];
			struct xw_slot *s = &p->node->maps->slots[i];

			if (!ps || ps->state != PS_WARM ||
			    __atomic_load_n(&s->inflight, __ATOMIC_SEQ_CST))
				continue;
			if (s->last_used_ns < oldest) {
				oldest = s->last_used_ns;
				victim = ps;
			}
		}
		if (!victim)
			return false;
		/* Mark first, then look at in-flight: see slots.h. */
		slot_publish(p, victim, XW_SLOT_DRAINING);
		if (__atomic_load_n(&p->node->maps->slots[victim->slot].inflight, __ATOMIC_SEQ_CST)) {
			slot_publish(p, victim, XW_SLOT_WARM);
			return false;
		}
		pool_report(p, victim->gid, "removed", NULL, 0, NULL, NULL);
		ps_destroy(victim);
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

static void handle_broken(void *arg)
{
	struct slot_msg *m = arg;
	struct pool *p = m->node->pool;
	struct psandbox *ps = p->by_slot[m->slot];

	if (ps && ps->generation == m->generation) {
		pr_info("pool: removing the sandbox of %s in slot %u (%s)",
			ps->action ? ps->action->fqn : ps->key, m->slot, m->why);
		pool_report(p, ps->gid, "removed", NULL, 0, NULL, NULL);
		ps_destroy(ps);
	} else if (!ps) {
		pool_remote_broken(p, m->slot, m->generation);
	}
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

static void on_exited(struct sandbox *sb, enum sandbox_exit_reason reason, int status,
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
		init_failed(ps, reason == SANDBOX_OOM
					? "The action exhausted its memory and was aborted."
					: "The action did not initialize and exited unexpectedly.",
			    NULL);
		return;
	}
	pool_report(p, ps->gid, "removed", NULL, 0, NULL, NULL);
	ps_unpublish(ps);
	slot_reset(p, ps->slot);
	ps_free(ps);
}

static void pool_tick(struct loop *loop, void *data)
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
		a.s_addr = s->addr;
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

/* ---- adoption after a restart ---- */

static void on_adopted(struct sandbox *sb, void *data)
{
	struct pool *p = data;
	uint64_t action_id;
	unsigned slot;
	int n = 0;
	char gid[GID_LEN + 1];
	const char *label = sandbox_label(sb);
	struct xw_slot *s;
	struct psandbox *ps;
	struct in_addr a;

	if (!label || sscanf(label, "%" SCNx64 " %u %32s %n", &action_id, &slot, gid, &n) != 3 ||
	    !n || slot >= XW_MAX_SLOTS || p->by_slot[slot]) {
		sandbox_destroy(sb);
		return;
	}
	s = &p->node->maps->slots[slot];
	inet_pton(AF_INET, sandbox_ip(sb), &a);
	if (s->action_id != action_id || s->addr != a.s_addr ||
	    __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != XW_SLOT_WARM) {
		sandbox_destroy(sb);
		return;
	}
	ps = calloc(1, sizeof(*ps));
	if (!ps) {
		sandbox_destroy(sb);
		return;
	}
	ps->p = p;
	ps->sb = sb;
	ps->slot = slot;
	ps->generation = __atomic_load_n(&s->generation, __ATOMIC_ACQUIRE);
	ps->action_id = action_id;
	snprintf(ps->gid, sizeof(ps->gid), "%s", gid);
	snprintf(ps->key, sizeof(ps->key), "%s", label + n);
	snprintf(ps->kind, sizeof(ps->kind), "%s", sandbox_kind(sb));
	ps->concurrency = s->concurrency;
	ps->memory_mb = sandbox_memory_mb(sb);
	ps->state = PS_WARM;
	ps->confirmed = true; /* registration lists it: the controller learns it again */
	sandbox_set_data(sb, ps);
	p->by_slot[slot] = ps;
	p->used_mb += ps->memory_mb;
	/* Activations of the previous process are gone with it: nothing is in flight. */
	__atomic_store_n(&s->inflight, 0, __ATOMIC_SEQ_CST);
	(void)slot_warm_add(p->node->maps, action_id, slot);
}

/* After adoption: slots no sandbox backs are freed (other nodes' sandboxes come back
 * with the event stream's resync), and warm lists only what lives. */
static void reconcile_maps(struct pool *p)
{
	struct xw_maps *m = p->node->maps;
	uint64_t key, next;
	int kept = 0;

	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++) {
		if (p->by_slot[i]) {
			kept++;
			continue;
		}
		if (m->slots[i].state != XW_SLOT_FREE)
			memset(&m->slots[i], 0, offsetof(struct xw_slot, generation));
		m->slots[i].state = XW_SLOT_FREE;
		m->slots[i].inflight = 0;
	}
	if (bpf_map_get_next_key(m->warm_fd, NULL, &key))
		goto out;
	for (;;) {
		struct xw_warm w, fixed = { 0 };
		bool more = !bpf_map_get_next_key(m->warm_fd, &key, &next);

		if (!bpf_map_lookup_elem(m->warm_fd, &key, &w)) {
			for (uint32_t i = 0; i < w.count && i < XW_WARM_MAX; i++)
				if (w.slot[i] < XW_MAX_SLOTS && p->by_slot[w.slot[i]] &&
				    p->by_slot[w.slot[i]]->action_id == key)
					fixed.slot[fixed.count++] = w.slot[i];
			if (!fixed.count)
				(void)bpf_map_delete_elem(m->warm_fd, &key);
			else if (fixed.count != w.count)
				(void)bpf_map_update_elem(m->warm_fd, &key, &fixed, BPF_ANY);
		}
		if (!more)
			break;
		key = next;
	}
out:
	if (kept)
		pr_info("pool: %d warm sandboxes re-adopted", kept);
}

int pool_new(struct node *node, struct ctlclient *cc, struct pool **out)
{
	struct sandbox_callbacks cb = { .exited = on_exited, .log = on_log };
	struct sandbox_config cfg = { 0 };
	struct pool *p = calloc(1, sizeof(*p));
	char state_dir[600], cgroup_parent[64];
	const char *hide[2] = { NULL, NULL };

	if (!p)
		return -ENOMEM;
	p->node = node;
	p->cc = cc;
	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++)
		pthread_mutex_init(&p->logs[i].lock, NULL);
	node->pool = p;
	snprintf(state_dir, sizeof(state_dir), "%s/node/sandboxes", node->cfg.data_dir);
	cfg.state_dir = state_dir;
	cfg.runtimes = node->cfg.runtimes;
	cfg.proxy = node->cfg.proxy_bin;
	cfg.api_host = node->cfg.api_host;
	cfg.bridge = node->cfg.bridge;
	cfg.subnet = node->cfg.subnet;
	/* One cgroup tree per sandbox manager, as one bridge: several nodes on one machine
	 * must not take each other's sandboxes for orphans. Under a supervisor that kills
	 * the node's cgroup on restart (a pod, a systemd unit), an absolute parent
	 * (XWHISK_CGROUP_PARENT=/xwhisk) keeps sandboxes out of it. */
	snprintf(cgroup_parent, sizeof(cgroup_parent), "xwhisk-%s",
		 node->cfg.bridge ? node->cfg.bridge : SANDBOX_DEFAULT_BRIDGE);
	cfg.cgroup_parent = node->cfg.cgroup_parent ? node->cfg.cgroup_parent : cgroup_parent;
	/* Sandboxes see the host read-only, but not this node's (or the controller's) state. */
	hide[0] = node->cfg.data_dir_abs;
	cfg.hide = hide;
	p->sm = sandbox_manager_new(node->loop, &cfg, &cb, p);
	if (!p->sm) {
		int err = -errno;

		pr_err("pool: the sandbox backend did not start: %s", strerror(-err));
		node->pool = NULL;
		free(p);
		return err ? err : -EIO;
	}
	sandbox_manager_adopted(p->sm, on_adopted, p);
	reconcile_maps(p);
	p->gc = loop_timer_add(node->loop, TICK_MS, pool_tick, p);
	*out = p;
	return 0;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	loop_timer_cancel(p->node->loop, p->gc);
	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++) {
		struct psandbox *ps = p->by_slot[i];

		if (ps) {
			/* Sandboxes outlive the node: the next one adopts them. */
			if (ps->sb)
				sandbox_set_data(ps->sb, NULL);
			if (ps->init_call)
				http_call_cancel(ps->init_call);
			if (ps->req)
				sandbox_acquire_cancel(ps->req);
			ps_free(ps);
		}
		http_pool_free(p->init_pools[i]);
		segments_clear(&p->logs[i]);
		pthread_mutex_destroy(&p->logs[i].lock);
	}
	pool_remote_clear(p);
	resync_window_free(&p->resync);
	while (p->demands)
		demand_drop(p, p->demands);
	sandbox_manager_free(p->sm);
	free(p);
}

static void wait_tick(struct loop *loop, void *data)
{
	loop_stop(loop);
}

int pool_destroy_all(struct pool *p, unsigned timeout_ms)
{
	uint64_t deadline = clock_mono_ms() + timeout_ms;
	struct sandbox_stats st;

	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++)
		if (p->by_slot[i])
			ps_destroy(p->by_slot[i]);
	sandbox_manager_destroy_all(p->sm);
	do {
		sandbox_manager_stats(p->sm, &st);
		if (!st.dying && !st.live && !st.starting)
			return 0;
		loop_timer_add(p->node->loop, 20, wait_tick, NULL);
		loop_run(p->node->loop);
	} while (clock_mono_ms() < deadline);
	return -ETIMEDOUT;
}
