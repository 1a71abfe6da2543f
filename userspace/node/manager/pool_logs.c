// SPDX-License-Identifier: Apache-2.0
/* The logs of this node's sandboxes: segments cut by the runtimes' sentinels, handed
 * to the worker whose activation ended (under a per-slot lock, or through the manager
 * thread when they come late). */
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

/* After /run answered, the sentinels normally follow within milliseconds. */
#define LOG_WAIT_MS 2000

/* ---- cross-thread messages and logs ---- */

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
void pool_logs_clear(struct slot_logs *sl)
{
	while (sl->segments)
		segment_free(segment_pop(sl));
}

static void segment_append(struct psandbox *ps, struct log_segment *seg)
{
	struct slot_logs *sl = &ps->p->logs[ps->slot];

	pthread_mutex_lock(&sl->lock);
	if (sl->generation != ps->generation) {
		pool_logs_clear(sl);
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

void pool_on_log(struct sandbox *sb, enum sandbox_stream stream, const char *line, size_t len,
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
void pool_logs_flush(struct psandbox *ps)
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

