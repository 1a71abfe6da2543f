// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actlogs.h"
#include "buf.h"
#include "json.h"
#include "json_write.h"
#include "log.h"
#include "node/activation/cached_result.h"
#include "node/activation/invocation.h"
#include "node/ingress/metrics.h"
#include "node/manager/pool.h"
#include "node/activation/record.h"
#include "node/activation/run_answer.h"
#include "node/activation/run_times.h"
#include "node/activation/slots.h"
#include "node/activation/wait_board.h"
#include "util.h"
#include "node/ingress/worker.h"

/* A sandbox answering 429 is full (another node claimed it): try elsewhere this often. */
#define BUSY_RETRIES 3
/* An activation that never got a sandbox gives up after this. */
#define WAIT_LIMIT_MS (5 * 60 * 1000)
/* A /run's headers; the logs limit follows (in band, if the sandbox is an xwhisk-proxy:
 * lib/actlogs.h). */
#define RUN_HEADERS "Content-Type: application/json\r\n" ACTLOGS_HEADER ": "

static void invocation_run(struct invocation *inv);
static void invocation_finish(struct invocation *inv);
static void leave_queue(struct invocation *inv);
static void note_queue(struct worker *w, uint64_t action_id, int delta);

struct invocation *invocation_new(struct worker *w, struct action_entry *action,
				  const struct identity *who, json_t *params, const char *tid)
{
	struct invocation *inv = zalloc(sizeof(*inv));

	if (!inv) {
		json_decref(params);
		return NULL;
	}
	inv->w = w;
	action_entry_ref(action);
	inv->action = action;
	inv->who = *who;
	inv->params = params ? params : json_object();
	str_copy(inv->tid, sizeof(inv->tid), tid);
	activation_id_new(inv->activation_id);
	inv->received_ms = clock_real_ms();
	return inv;
}

void invocation_free(struct invocation *inv)
{
	if (!inv)
		return;
	if (inv->wait_timer)
		loop_timer_cancel(inv->w->loop, inv->wait_timer);
	if (inv->need_timer)
		loop_timer_cancel(inv->w->loop, inv->need_timer);
	if (inv->call)
		http_call_cancel(inv->call);
	action_entry_unref(inv->action);
	json_decref(inv->params);
	json_decref(inv->result);
	buf_free(&inv->answer);
	json_decref(inv->logs);
	record_clear(&inv->record);
	free(inv);
}

static void on_wait_expired(struct loop *loop, void *data)
{
	struct invocation *inv = data;

	inv->wait_timer = NULL;
	if (overflow_remove(inv->w->waiting, inv->action->id, inv)) {
		note_queue(inv->w, inv->action->id, -1);
		leave_queue(inv);
		invocation_fail(inv, ACTIVATION_WHISK_ERROR,
				"No sandbox became available for the action in time.");
	}
}

/* Asks the manager for the sandboxes the action's queue on this worker needs; overdue:
 * an activation waited longer than the estimate said, one more than it says. */
static void ask_for_sandboxes(struct invocation *inv, bool overdue)
{
	struct worker *w = inv->w;
	unsigned waiting = overflow_waiting(w->waiting, inv->action->id);
	unsigned needed = run_times_starts_needed(
		inv->action, slot_warm_capacity(w->node->maps, inv->action->id), waiting,
		wait_board_count(w->node->waits, inv->action->id));

	if (overdue && needed < waiting)
		needed++;
	/* None: the busy sandboxes will do, and the manager thread need not wake up. */
	if (needed)
		pool_need(w->node, inv->action, w->id, needed, inv->activation_id, inv->tid,
			  inv->who.credential);
}

/* It is still waiting although busy sandboxes should have served it by now: the estimate
 * was wrong (runs got slower), a cold start more. */
static void on_need_due(struct loop *loop, void *data)
{
	struct invocation *inv = data;

	inv->need_timer = NULL;
	ask_for_sandboxes(inv, true);
}

static bool try_claim(struct invocation *inv)
{
	return !slot_claim(inv->w->node->maps, inv->w->warm, inv->action->id, &inv->slot,
			   &inv->slot_generation);
}

/*
 * One queue. Each worker keeps its own activations waiting, but the node's wait board
 * (wait_board.h) says how many of an action wait on all workers and since when each
 * worker's first has: a sandbox that frees up goes to the activation that has waited
 * longest, wherever it waits, and none that arrives later takes it first. Without this a
 * worker whose clients come right back kept a busy sandbox to itself, and the other's
 * activations waited until their need timer started a sandbox the load did not need.
 */
static void note_queue(struct worker *w, uint64_t action_id, int delta)
{
	struct invocation *first = overflow_peek(w->waiting, action_id);

	(void)wait_board_note(w->node->waits, action_id, w->id, delta,
			      first ? first->queued_us : 0);
}

/* Whether anything waits, after a release: the board's sequentially consistent load comes
 * after the release's compare-and-swap, and a waiter counts itself before it tries to
 * claim again (invocation_wait): one sees the other. */
static bool room_wanted_after_release(struct worker *w)
{
	return wait_board_any(w->node->waits);
}

/* Runs w's first waiting activation of the action in a sandbox with room; returns it, or
 * NULL when none waits or none has room (it may be finished when this returns: compare,
 * never read). news: the warm news of the cold start that made the room, or NULL (a busy
 * sandbox freed up). */
static struct invocation *serve_first(struct worker *w, uint64_t action_id,
				      const struct warm_news *news)
{
	struct invocation *inv = overflow_peek(w->waiting, action_id);

	if (!inv || !try_claim(inv))
		return NULL;
	(void)overflow_pop(w->waiting, action_id);
	note_queue(w, action_id, -1);
	leave_queue(inv);
	inv->cold = news != NULL;
	if (news) {
		inv->init_ms = news->init_ms;
		STAT_INC(w, cold_starts);
	}
	invocation_run(inv);
	return inv;
}

struct room_news {
	struct worker *w;
	uint64_t action_id;
};

static void on_room_news(void *arg)
{
	struct room_news *news = arg;

	invocation_give_room(news->w, news->action_id);
	free(news);
}

void invocation_post_room(struct worker *to, uint64_t action_id)
{
	struct room_news *news = malloc(sizeof(*news));

	if (!news)
		return;
	news->w = to;
	news->action_id = action_id;
	if (mailbox_post(to->mailbox, on_room_news, news))
		free(news);
}

void invocation_give_room(struct worker *w, uint64_t action_id)
{
	int who = wait_board_oldest(w->node->waits, action_id);

	if (who < 0)
		return;
	if (who == (int)w->id)
		(void)serve_first(w, action_id, NULL);
	else
		invocation_post_room(w->node->workers[who], action_id);
}

/* Queues inv until a sandbox has room: a busy one freeing up, or a new one. claim_now:
 * try the sandboxes once more after counting itself (not after a sandbox just said it is
 * full: it would say so again at once). */
static int invocation_wait(struct invocation *inv, bool claim_now)
{
	struct worker *w = inv->w;
	uint64_t id = inv->action->id;
	struct invocation *served;
	int err;

	inv->queued_us = clock_mono_us();
	err = overflow_push(w->waiting, id, inv);
	if (err)
		return err;
	note_queue(w, id, +1);
	inv->wait_timer = loop_timer_add(w->loop, WAIT_LIMIT_MS, on_wait_expired, inv);
	/* Room freed since the claim that failed, and its releaser did not see this one
	 * counted: this worker's first (inv, or one before it) takes it if it is the oldest. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	while (claim_now && wait_board_oldest(w->node->waits, id) == (int)w->id &&
	       (served = serve_first(w, id, NULL)))
		if (served == inv)
			return 0;
	ask_for_sandboxes(inv, false);
	inv->need_timer = loop_timer_add(w->loop, 2 * run_times_cold_us(inv->action) / 1000 + 1,
					 on_need_due, inv);
	return 0;
}

/* Out of the queue and into a sandbox: no timer of the wait is due any more. */
static void leave_queue(struct invocation *inv)
{
	if (inv->wait_timer) {
		loop_timer_cancel(inv->w->loop, inv->wait_timer);
		inv->wait_timer = NULL;
	}
	if (inv->need_timer) {
		loop_timer_cancel(inv->w->loop, inv->need_timer);
		inv->need_timer = NULL;
	}
}

int invocation_start(struct invocation *inv)
{
	STAT_INC(inv->w, invocations);
	/* Behind the action's waiting activations, never before them (one queue). */
	if (!wait_board_count(inv->w->node->waits, inv->action->id) && try_claim(inv)) {
		invocation_run(inv);
		return 0;
	}
	return invocation_wait(inv, true);
}

void invocation_fail(struct invocation *inv, int status, const char *message)
{
	inv->status = status;
	json_decref(inv->result);
	inv->result = record_error(message);
	invocation_finish(inv);
}

/* Drains the action's queue after the manager made a sandbox warm (or failed to). */
void worker_on_warm_news(void *arg)
{
	struct warm_news *news = arg;
	struct worker *w = news->w;
	struct invocation *inv;

	if (news->status) {
		while ((inv = overflow_pop(w->waiting, news->action_id))) {
			note_queue(w, news->action_id, -1);
			leave_queue(inv);
			inv->cold = true;
			inv->init_ms = news->init_ms;
			inv->status = news->status;
			json_decref(inv->result);
			inv->result = news->error ? json_incref(news->error)
						  : record_error(news->message ?: "");
			if (news->logs) {
				json_decref(inv->logs);
				inv->logs = news->logs;
				news->logs = NULL;
			}
			invocation_finish(inv);
		}
		goto out;
	}
	/* How long the first in line waited for this start: what the next one may take. */
	inv = overflow_peek(w->waiting, news->action_id);
	if (inv)
		run_times_start(inv->action, clock_mono_us() - inv->queued_us);
	while (serve_first(w, news->action_id, news))
		;
	/* Still no room for the rest: ask for more. */
	inv = overflow_peek(w->waiting, news->action_id);
	if (inv)
		ask_for_sandboxes(inv, false);
out:
	json_decref(news->error);
	json_decref(news->logs);
	free(news->message);
	free(news);
}

/* The /run body, into out (emptied first). */
static int run_body(struct invocation *inv, struct buf *out)
{
	const struct action_entry *a = inv->action;
	char deadline[24];
	struct json_writer jw;

	(void)u64_dec(deadline, clock_real_ms() + a->timeout_ms);
	buf_reset(out);
	jw_init(&jw, out);
	jw_obj_open(&jw);
	jw_key(&jw, "value");
	jw_value(&jw, inv->params);
	jw_key(&jw, "namespace");
	jw_str(&jw, inv->who.ns);
	jw_key(&jw, "action_name");
	jw_str(&jw, a->fqn);
	jw_key(&jw, "action_version");
	jw_str(&jw, a->version);
	jw_key(&jw, "activation_id");
	jw_str(&jw, inv->activation_id);
	jw_key(&jw, "transaction_id");
	jw_str(&jw, inv->tid);
	/* A string, as OpenWhisk sends it. */
	jw_key(&jw, "deadline");
	jw_str(&jw, deadline);
	if (a->provide_api_key && inv->who.credential[0]) {
		jw_key(&jw, "api_key");
		jw_str(&jw, inv->who.credential);
	}
	jw_obj_close(&jw);
	return jw.err;
}

/* The verdict of a run that lost its answer, from why its sandbox ended (known once
 * its logs came: the manager hands them over as it removes the sandbox). */
static void lost_verdict(struct invocation *inv)
{
	const char *why = pool_death_reason(inv->w->node, inv->slot, inv->slot_generation);
	/* Killed from outside (the host out of memory): the platform failed, not the action. */
	bool killed = why && !strcmp(why, "killed");

	inv->status = killed ? ACTIVATION_WHISK_ERROR : ACTIVATION_DEVELOPER_ERROR;
	json_decref(inv->result);
	inv->result = record_error(
		killed ? SANDBOX_KILLED_MSG
		: why && !strcmp(why, "oom")
			? "The action exhausted its memory and was aborted."
			: "The action did not produce a valid response and exited unexpectedly.");
}

static void run_finish(struct invocation *inv)
{
	if (inv->no_answer)
		lost_verdict(inv);
	invocation_finish(inv);
}

static void on_logs(json_t *logs, void *data)
{
	struct invocation *inv = data;

	/* A run without an answer asks even with logs off: for the end they come with. */
	if (inv->action->logs_mb) {
		json_decref(inv->logs);
		inv->logs = logs;
	} else {
		json_decref(logs);
	}
	run_finish(inv);
}

/* The run is over (its verdict in inv, or inv->no_answer): the slot goes back, or with
 * broken_why the sandbox goes too; the logs are collected and the record finished. */
static void run_ended(struct invocation *inv, const char *broken_why, bool inband)
{
	struct worker *w = inv->w;
	struct node *node = w->node;
	uint64_t action_id = inv->action->id;
	uint32_t slot = inv->slot, generation = inv->slot_generation;
	bool broken = broken_why != NULL, room_wanted, remote;

	/* Another node's sandbox: its logs are that node's to read, none come here. */
	remote = __atomic_load_n(&node->maps->slots[slot].node, __ATOMIC_RELAXED) != 0;
	if (broken)
		slot_retire(node->maps, slot, generation);
	slot_release(node->maps, slot, inv->status >= ACTIVATION_DEVELOPER_ERROR);
	/* Its room goes to an activation waiting for it, once inv has ended. */
	room_wanted = !broken && room_wanted_after_release(w);
	/* Without them in band, logs are asked for before the sandbox goes: the manager hands
	 * over what it has (a failed runtime may never write its sentinels) as it removes
	 * the sandbox, and a sandbox that went without an answer first gets a moment to end
	 * by itself and tell why (pool_broken). inv may be finished (freed) when pool_logs
	 * returns. */
	if (!remote && !inband && (inv->action->logs_mb || inv->no_answer))
		pool_logs(node, w, slot, generation, inv->run_sent_ns,
			  (uint64_t)inv->action->logs_mb << 20, on_logs, inv);
	else
		run_finish(inv);
	if (broken)
		pool_broken(node, slot, generation, broken_why);
	if (room_wanted)
		invocation_give_room(w, action_id);
}

static void on_run_answer(struct http_response *resp, int err, void *data)
{
	struct invocation *inv = data;
	struct worker *w = inv->w;
	bool inband = false;
	long long skip;
	char msg[256];

	inv->call = NULL;
	inv->end_ms = clock_real_ms();
	if (!err && resp->status != 429)
		run_times_run(inv->action, inv->cold, (clock_real_ns() - inv->run_sent_ns) / 1000);
	if (!err && resp->status == 429) {
		/* The sandbox's own concurrency guard: another node (or a run of a previous
		 * node process) filled it. Not the action's fault: another sandbox, or the
		 * cold path once this one was tried a few times. */
		slot_release(w->node->maps, inv->slot, false);
		inv->start_ms = inv->end_ms = 0;
		if (++inv->busy_retries <= BUSY_RETRIES && try_claim(inv))
			invocation_run(inv);
		else if (invocation_wait(inv, false))
			invocation_fail(inv, ACTIVATION_WHISK_ERROR,
					"Too many requests are waiting for the action.");
		return;
	}
	if (err == -ETIMEDOUT) {
		inv->timed_out = true;
		inv->status = ACTIVATION_DEVELOPER_ERROR;
		snprintf(msg, sizeof(msg), "The action exceeded its time limits of %u milliseconds.",
			 inv->action->timeout_ms);
		json_decref(inv->result);
		inv->result = record_error(msg);
		run_ended(inv, "timeout", false);
		return;
	}
	if (err) {
		/* A runtime answering on its own port dies before its sandbox's init, which
		 * tells why (out of memory, killed from outside) as it ends: the verdict waits
		 * for that end (on_logs). */
		inv->no_answer = true;
		inv->status = ACTIVATION_DEVELOPER_ERROR;
		run_ended(inv, POOL_NO_ANSWER, false);
		return;
	}
	/* An xwhisk-proxy answers with the logs in band, before the result: no lines, no
	 * array (the record says [] without one). */
	skip = actlogs_in_band(resp, actlogs_answer_room((uint64_t)inv->action->logs_mb << 20));
	if (skip >= 0) {
		json_decref(inv->logs);
		inv->logs = skip ? actlogs_decode(resp->body.data, (size_t)skip) : NULL;
		inband = true;
		STAT_INC(w, inband_logs);
	} else {
		skip = 0;
	}
	/* body_total: past the limit only the logs and RESULT_MAX + 1 bytes were kept */
	invocation_take_answer(inv, resp->status, resp->body.data + skip,
			       resp->body_total - (size_t)skip);
	/* As OpenWhisk's invoker does: a runtime that failed this way (an exception, a bad
	 * answer) is not trusted with another activation. */
	run_ended(inv, inv->status == ACTIVATION_DEVELOPER_ERROR ? "developer error" : NULL, inband);
}

static void on_unreachable(struct loop *loop, void *data)
{
	struct invocation *inv = data;

	inv->wait_timer = NULL;
	invocation_fail(inv, ACTIVATION_DEVELOPER_ERROR,
			"The action did not produce a valid response and exited unexpectedly.");
}

/* The session's turn, off invocation_start's stack (it may end at once). */
static void on_session_due(struct loop *loop, void *data)
{
	struct invocation *inv = data;

	inv->wait_timer = NULL;
	inv->session(inv, inv->session_data);
}

void invocation_session_end(struct invocation *inv, int status, json_t *result,
			    const char *broken_why)
{
	struct worker *w = inv->w;
	struct node *node = w->node;
	uint64_t action_id = inv->action->id;
	bool room_wanted;
	uint32_t slot = inv->slot, generation = inv->slot_generation;
	bool remote = __atomic_load_n(&node->maps->slots[slot].node, __ATOMIC_RELAXED) != 0;

	inv->end_ms = clock_real_ms();
	inv->status = status;
	json_decref(inv->result);
	inv->result = result;
	if (broken_why)
		slot_retire(node->maps, slot, generation);
	slot_release(node->maps, slot, status >= ACTIVATION_DEVELOPER_ERROR);
	room_wanted = !broken_why && room_wanted_after_release(w);
	/* As on_run_answer: inv may be finished when pool_logs returns. */
	if (inv->action->logs_mb && !remote)
		pool_logs(node, w, slot, generation, inv->run_sent_ns,
			  (uint64_t)inv->action->logs_mb << 20, on_logs, inv);
	else
		invocation_finish(inv);
	if (broken_why)
		pool_broken(node, slot, generation, broken_why);
	if (room_wanted)
		invocation_give_room(w, action_id);
}

static void invocation_run(struct invocation *inv)
{
	uint64_t logs_limit = (uint64_t)inv->action->logs_mb << 20;
	struct buf *body = &inv->w->scratch;
	struct http_pool *pool;
	char headers[sizeof(RUN_HEADERS) + 24];
	size_t n;

	if (!inv->start_ms)
		inv->start_ms = clock_real_ms();
	inv->run_sent_ns = clock_real_ns();
	if (inv->session) {
		inv->wait_timer = loop_timer_add(inv->w->loop, 0, on_session_due, inv);
		if (!inv->wait_timer)
			invocation_session_end(inv, ACTIVATION_WHISK_ERROR,
					       record_error("The node is out of memory."), NULL);
		return;
	}
	pool = worker_sandbox_pool(inv->w, inv->slot);
	n = sizeof(RUN_HEADERS) - 1;
	memcpy(headers, RUN_HEADERS, n);
	n += u64_dec(headers + n, logs_limit);
	memcpy(headers + n, "\r\n", 3);
	/* The call copies the body: the worker's scratch buffer serves every /run. */
	if (pool && !run_body(inv, body))
		inv->call = http_pool_call(pool, "POST", "/run", headers, body->data, body->len,
					   inv->action->timeout_ms, on_run_answer, inv);
	/* A result past the limit is cut anyway: not kept whole in memory meanwhile. */
	http_call_limit_body(inv->call, actlogs_answer_room(logs_limit) + RESULT_MAX + 1);
	/* A huge parameter set does not keep its memory for good. */
	if (body->cap > (64u << 10))
		buf_free(body);
	if (!inv->call) {
		/* Out of use at once, as on_run_answer does with a broken sandbox. */
		slot_retire(inv->w->node->maps, inv->slot, inv->slot_generation);
		slot_release(inv->w->node->maps, inv->slot, true);
		pool_broken(inv->w->node, inv->slot, inv->slot_generation, "unreachable");
		inv->end_ms = clock_real_ms();
		/* Never end before invocation_start returns: its caller still holds inv. */
		inv->wait_timer = loop_timer_add(inv->w->loop, 0, on_unreachable, inv);
	}
}

static void count_latency(struct worker_stats *st, uint64_t ms)
{
	static const uint64_t bounds[] = { 1,	2,    5,    10,	  25,	50,   100,
					   250, 500,  1000, 2500, 5000, 10000 };
	size_t i = 0;

	while (i < sizeof(bounds) / sizeof(bounds[0]) && ms > bounds[i])
		i++;
	__atomic_fetch_add(&st->latency_hist[i], 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&st->latency_sum_us, ms * 1000, __ATOMIC_RELAXED);
}

static void invocation_finish(struct invocation *inv)
{
	struct worker *w = inv->w;

	if (!inv->end_ms)
		inv->end_ms = clock_real_ms();
	if (!inv->start_ms)
		inv->start_ms = inv->end_ms;
	/* __ow_cache is a wish to the platform, not part of the answer nor of the record. */
	inv->cache_ttl_s = cached_result_take_ttl(inv->result);
	if (inv->status != ACTIVATION_SUCCESS)
		inv->cache_ttl_s = 0;
	/* The record is in the spool before anyone hears of the result. */
	worker_spool(w, record_of_invocation(inv, &inv->record) ? NULL : &inv->record);
	STAT_INC(w, errors[inv->status & 3]);
	count_latency(&w->stats, inv->end_ms - inv->received_ms);
	if (inv->done)
		inv->done(inv, inv->done_data);
	invocation_free(inv);
}
