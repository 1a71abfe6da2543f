// SPDX-License-Identifier: Apache-2.0
/*
 * Kind pools: each kind's stem cells, the back-off of a kind whose starts fail, and the
 * scheduler that starts sandboxes for waiting requests first and stem cells second.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "sandbox_internal.h"
#include "util.h"

void kind_pool_remove(struct sandbox *sb)
{
	struct kind_pool *kp = sb->kp;

	if (!kp) /* found dead at adoption: never pooled */
		return;
	for (struct sandbox **p = &kp->idle; *p; p = &(*p)->pool_next) {
		if (*p == sb) {
			*p = sb->pool_next;
			sb->pool_next = NULL;
			kp->nidle--;
			return;
		}
	}
}

void kind_pool_push(struct sandbox *sb)
{
	sb->pool_next = sb->kp->idle;
	sb->kp->idle = sb;
	sb->kp->nidle++;
}

bool kind_failing(const struct kind_pool *kp)
{
	return kp->failures >= FAILURES_BEFORE_ERRORS;
}

void kind_fail_waiting(struct kind_pool *kp, int err)
{
	struct sandbox_request *req;

	while ((req = request_dequeue(kp, NULL)))
		request_complete(req, NULL, err);
}

/*
 * A start of kind failed, before or after the clone: the kind backs off (schedule_now()
 * comes back when the back-off ends). A one-off failure (a transient kernel error) costs
 * the waiting requests nothing: another start is made for them. A failing kind fails its
 * waiting requests, and those that come during its back-off, at once; afterwards one
 * trial start at a time is made, however many wait.
 */
void kind_start_failed(struct kind_pool *kp, int err)
{
	struct sandbox_manager *m = kp->m;
	unsigned delay;

	kp->nstarting--;
	m->nstarting--;
	m->stats.failed++;
	delay = BACKOFF_MIN_MS << (kp->failures < 9 ? kp->failures : 9);
	kp->backoff_until = clock_mono_ms() + (delay > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay);
	kp->failures++;
	kp->last_err = err;
	if (kind_failing(kp))
		kind_fail_waiting(kp, err);
	manager_schedule(m);
}

/* ---- the pool scheduler ---- */

static bool kind_wants_more(struct kind_pool *kp, bool for_requests, uint64_t now)
{
	unsigned want = kp->nwaiting + (for_requests ? 0 : kp->rt->stem_cells);

	/* Requests do not wait out the back-off of a one-off failure; a failing kind's do. */
	if ((!for_requests || kind_failing(kp)) && now < kp->backoff_until)
		return false;
	if (kind_failing(kp) && kp->nstarting)
		return false;
	return kp->nidle + kp->nstarting < want;
}

static void schedule_now(struct sandbox_manager *m);

static void on_schedule(struct loop *loop, void *data)
{
	struct sandbox_manager *m = data;

	(void)loop;
	m->schedule_timer = NULL;
	schedule_now(m);
}

static void on_backoff_over(struct loop *loop, void *data)
{
	struct sandbox_manager *m = data;

	(void)loop;
	m->backoff_timer = NULL;
	schedule_now(m);
}

static void schedule_now(struct sandbox_manager *m)
{
	uint64_t now = clock_mono_ms(), wake = 0;

	if (m->draining)
		return;
	/* Waiting requests first, then stem cells; a failing start stops a loop of them. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < m->manifest.nkinds; i++) {
			struct kind_pool *kp = &m->pools[i];

			if (!pass && kind_failing(kp) && now < kp->backoff_until)
				kind_fail_waiting(kp, kp->last_err);
			while (m->nstarting < m->max_starting && kind_wants_more(kp, !pass, now))
				if (sb_start(kp))
					break;
		}
	}
	/* Stem cells held back by a back-off are made when it ends, not at the next
	 * unrelated event. */
	for (size_t i = 0; i < m->manifest.nkinds; i++) {
		struct kind_pool *kp = &m->pools[i];

		if (kp->backoff_until > now && kind_wants_more(kp, false, kp->backoff_until) &&
		    (!wake || kp->backoff_until < wake))
			wake = kp->backoff_until;
	}
	/* Re-armed each time: a kind's new, shorter back-off must not wait for another's. */
	cancel_timer(m, &m->backoff_timer);
	if (wake)
		m->backoff_timer = loop_timer_add(m->loop, wake - now, on_backoff_over, m);
}

/* Deferred to the loop: starting sandboxes inside a callback chain invites re-entry. */
void manager_schedule(struct sandbox_manager *m)
{
	if (!m->schedule_timer && !m->draining)
		m->schedule_timer = loop_timer_add(m->loop, 0, on_schedule, m);
}

/* ---- setting the pools up ---- */

static char *zygote_env_json(struct sandbox_manager *m, struct runtime_kind *rt)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "PATH", json_string(SANDBOX_PATH));
	json_object_set_new(o, "HOME", json_string("/tmp"));
	json_object_set_new(o, "LANG", json_string("C.UTF-8"));
	if (m->api_host)
		json_object_set_new(o, "__OW_API_HOST", json_string(m->api_host));
	for (char **e = rt->env; e && *e; e++) {
		char *eq = strchr(*e, '=');

		if (eq) {
			*eq = '\0';
			json_object_set_new(o, *e, json_string(eq + 1));
			*eq = '=';
		}
	}
	s = json_dump(o);
	json_decref(o);
	return s;
}

int kind_pools_init(struct sandbox_manager *m)
{
	m->pools = calloc(m->manifest.nkinds ? m->manifest.nkinds : 1, sizeof(*m->pools));
	if (!m->pools)
		return -ENOMEM;
	for (size_t i = 0; i < m->manifest.nkinds; i++) {
		struct kind_pool *kp = &m->pools[i];
		struct runtime_kind *rt = &m->manifest.kinds[i];

		kp->m = m;
		kp->rt = rt;
		if (!rt->zygote)
			continue;
		kp->zygote_env = zygote_env_json(m, rt);
		if (!kp->zygote_env)
			return -ENOMEM;
		/* The zygote runs as the host sees it, with the sandbox's PATH. */
		{
			/* Symbols bound once in the zygote, not lazily in every loop. */
			char *zenv[] = { "PATH=" SANDBOX_PATH, "LANG=C.UTF-8", "LD_BIND_NOW=1",
					 NULL };

			kp->zygote = zygote_new(m->loop, rt->zygote, zenv, m->filter.memfd);
		}
	}
	return 0;
}

void kind_pools_free(struct sandbox_manager *m)
{
	for (size_t i = 0; m->pools && i < m->manifest.nkinds; i++) {
		struct kind_pool *kp = &m->pools[i];

		while (kp->waiting) {
			struct sandbox_request *r = request_dequeue(kp, NULL);

			free(r);
		}
		zygote_free(kp->zygote);
		free(kp->zygote_env);
	}
	free(m->pools);
	m->pools = NULL;
}
