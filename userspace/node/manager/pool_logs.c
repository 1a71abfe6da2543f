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

/* A waiter whose logs did not come in time asks the manager for what there is. */
struct late_msg {
	struct node *node;
	struct worker *w;
	uint32_t slot, generation;
	uint64_t limit;
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

/* Hands lines (stolen) to a waiting worker, cut to its limit. */
static void deliver_logs(struct worker *w, pool_logs_cb cb, void *data, json_t *lines,
			 uint64_t limit)
{
	struct logs_reply *r = calloc(1, sizeof(*r));

	if (!r) {
		json_decref(lines);
		return;
	}
	actlogs_cut(lines, limit);
	r->cb = cb;
	r->data = data;
	r->logs = lines;
	if (mailbox_post(w->mailbox, deliver_logs_on_worker, r)) {
		json_decref(lines);
		free(r);
	}
}

/* On the worker: its logs came; the wait is over. */
static void waiter_answered(void *arg)
{
	struct logs_reply *r = arg;
	struct slot_waiter *sw = r->data;

	if (sw->timer)
		loop_timer_cancel(sw->w->loop, sw->timer);
	sw->cb(r->logs, sw->data);
	free(sw);
	free(r);
}

/* Hands lines (stolen, or NULL) to a waiter taken out of its slot's list. */
static void waiter_answer(struct slot_waiter *sw, json_t *lines)
{
	struct logs_reply *r = calloc(1, sizeof(*r));

	if (lines)
		actlogs_cut(lines, sw->limit);
	if (!r) {
		json_decref(lines);
		return;
	}
	r->data = sw;
	r->logs = lines;
	if (mailbox_post(sw->w->mailbox, waiter_answered, r)) {
		/* Its worker is gone (the node stops): nobody waits any more. */
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

/* The first waiter the segment is for (sl locked): one whose /run went before it ended. */
static struct slot_waiter *waiter_for(struct slot_logs *sl, uint64_t done_ns)
{
	struct slot_waiter *sw = sl->waiters;

	if (!sw || sw->since_ns > done_ns)
		return NULL;
	sl->waiters = sw->next;
	return sw;
}

/* Waiters of another sandbox than generation's (sl locked), taken out: theirs is gone. */
static struct slot_waiter *waiters_of_others(struct slot_logs *sl, uint32_t generation)
{
	struct slot_waiter *gone = NULL, **pp = &sl->waiters;

	while (*pp) {
		struct slot_waiter *sw = *pp;

		if (sw->generation == generation) {
			pp = &sw->next;
			continue;
		}
		*pp = sw->next;
		sw->next = gone;
		gone = sw;
	}
	return gone;
}

/* A finished segment: to the worker waiting for it, else into the slot's list. */
static void segment_append(struct psandbox *ps, struct log_segment *seg)
{
	struct slot_logs *sl = &ps->p->logs[ps->slot];
	struct slot_waiter *sw, *gone = NULL, *next;

	pthread_mutex_lock(&sl->lock);
	if (sl->generation != ps->generation) {
		pool_logs_clear(sl);
		sl->generation = ps->generation;
		gone = waiters_of_others(sl, ps->generation);
	}
	/* Checked and appended under one lock: a worker that found nothing is listed. */
	sw = waiter_for(sl, seg->done_ns);
	if (!sw) {
		if (sl->n >= MAX_SEGMENTS)
			segment_free(segment_pop(sl));
		sl->n++;
		if (sl->tail)
			sl->tail->next = seg;
		else
			sl->segments = seg;
		sl->tail = seg;
	}
	pthread_mutex_unlock(&sl->lock);
	for (; gone; gone = next) {
		next = gone->next;
		waiter_answer(gone, NULL);
	}
	if (sw) {
		waiter_answer(sw, seg->lines);
		free(seg);
	}
}

static void log_segment_done(struct psandbox *ps, uint64_t done_ns)
{
	struct log_segment *seg = calloc(1, sizeof(*seg));
	json_t *lines = actlogs_take(&ps->seg);

	if (!seg || !lines) {
		json_decref(lines);
		free(seg);
		return;
	}
	__atomic_fetch_add(&ps->p->pipe_segments, 1, __ATOMIC_RELAXED);
	seg->lines = lines;
	seg->done_ns = done_ns;
	segment_append(ps, seg);
}

void pool_on_log(struct sandbox *sb, enum sandbox_stream stream, const char *line, size_t len,
		   uint64_t ts_ns, bool sentinel, void *data)
{
	struct psandbox *ps = sandbox_data(sb);

	if (!ps)
		return;
	if (sentinel) {
		if (actlogs_sentinel(&ps->seg))
			log_segment_done(ps, ts_ns);
		return;
	}
	/* Kept up to the first line past the action's limit, counted as delivery counts
	 * (which cuts there and says so); nothing when its logs are off. Adopted sandboxes
	 * keep 10 MB. */
	actlogs_add(&ps->seg, ps->action ? (uint64_t)ps->action->logs_mb << 20 : 10u << 20,
		    stream, line, len, ts_ns);
}

/* Manager: a waiter's logs did not come in time; it gets what there is, and a word that
 * something may be missing. */
static void handle_late(void *arg)
{
	struct late_msg *m = arg;
	struct psandbox *ps = m->node->pool->by_slot[m->slot];
	json_t *lines = NULL;

	if (ps && ps->generation == m->generation) {
		lines = actlogs_take(&ps->seg);
		json_array_append_new(lines, actlogs_note(ACTLOGS_MSG_LATE));
	}
	deliver_logs(m->w, m->cb, m->data, lines, m->limit);
	free(m);
}

/* Worker: no segment came within LOG_WAIT_MS. */
static void on_waiter_late(struct loop *loop, void *data)
{
	struct slot_waiter *sw = data, **pp;
	struct slot_logs *sl = &sw->node->pool->logs[sw->slot];
	struct late_msg *m;
	bool mine = false;

	sw->timer = NULL;
	pthread_mutex_lock(&sl->lock);
	for (pp = &sl->waiters; *pp; pp = &(*pp)->next) {
		if (*pp == sw) {
			*pp = sw->next;
			mine = true;
			break;
		}
	}
	pthread_mutex_unlock(&sl->lock);
	/* Not in the list: its answer is already on the way (waiter_answered frees it). */
	if (!mine)
		return;
	m = calloc(1, sizeof(*m));
	if (!m || (m->node = sw->node, m->w = sw->w, m->slot = sw->slot,
		   m->generation = sw->generation, m->limit = sw->limit, m->cb = sw->cb,
		   m->data = sw->data, node_post(sw->node, handle_late, m))) {
		free(m);
		sw->cb(NULL, sw->data);
	}
	free(sw);
}

void pool_logs(struct node *node, struct worker *w, uint32_t slot, uint32_t generation,
	       uint64_t since_ns, uint64_t limit_bytes, pool_logs_cb cb, void *data)
{
	struct slot_logs *sl = &node->pool->logs[slot];
	struct slot_waiter *sw = calloc(1, sizeof(*sw)), **pp;
	struct log_segment *seg = NULL;
	json_t *lines;
	bool waiting = false;

	pthread_mutex_lock(&sl->lock);
	if (sl->generation == generation || !sl->segments) {
		sl->generation = generation;
		while (sl->segments && sl->segments->done_ns < since_ns)
			segment_free(segment_pop(sl));
		if (sl->segments)
			seg = segment_pop(sl);
		else if (sw) {
			*sw = (struct slot_waiter){ .node = node, .w = w, .slot = slot,
						    .generation = generation, .since_ns = since_ns,
						    .limit = limit_bytes, .cb = cb, .data = data };
			for (pp = &sl->waiters; *pp; pp = &(*pp)->next)
				;
			*pp = sw;
			waiting = true;
		}
	}
	pthread_mutex_unlock(&sl->lock);
	if (waiting) {
		/* Answered through the worker's mailbox: never before this returns. */
		sw->timer = loop_timer_add(w->loop, LOG_WAIT_MS, on_waiter_late, sw);
		return;
	}
	free(sw);
	lines = seg ? seg->lines : NULL;
	free(seg);
	if (lines)
		actlogs_cut(lines, limit_bytes);
	cb(lines, data);
}

void pool_logs_add(struct psandbox *ps, json_t *lines)
{
	if (!ps->seg.lines)
		ps->seg.lines = json_array();
	json_array_extend(ps->seg.lines, lines);
	json_decref(lines);
}

json_t *pool_logs_take_all(struct psandbox *ps)
{
	struct slot_logs *sl = &ps->p->logs[ps->slot];
	json_t *all = json_array();
	struct log_segment *seg;

	if (!all)
		return NULL;
	pthread_mutex_lock(&sl->lock);
	while (sl->generation == ps->generation && sl->segments) {
		seg = segment_pop(sl);
		json_array_extend(all, seg->lines);
		segment_free(seg);
	}
	pthread_mutex_unlock(&sl->lock);
	if (ps->seg.lines)
		json_array_extend(all, ps->seg.lines);
	actlogs_seg_free(&ps->seg);
	return all;
}

/* The sandbox is gone: whoever waits for its logs gets what there is. */
void pool_logs_flush(struct psandbox *ps)
{
	struct slot_logs *sl = &ps->p->logs[ps->slot];
	struct slot_waiter *sw, *next;

	pthread_mutex_lock(&sl->lock);
	sw = sl->generation == ps->generation ? sl->waiters : NULL;
	if (sw)
		sl->waiters = NULL;
	pthread_mutex_unlock(&sl->lock);
	for (; sw; sw = next) {
		json_t *lines = actlogs_take(&ps->seg);

		next = sw->next;
		json_array_append_new(lines, actlogs_note(ACTLOGS_MSG_DIED));
		waiter_answer(sw, lines);
	}
}

void pool_logs_forget_waiters(struct slot_logs *sl)
{
	while (sl->waiters) {
		struct slot_waiter *sw = sl->waiters;

		sl->waiters = sw->next;
		free(sw);
	}
}

uint64_t pool_pipe_segments(const struct node *node)
{
	return node->pool ? __atomic_load_n(&node->pool->pipe_segments, __ATOMIC_RELAXED) : 0;
}
