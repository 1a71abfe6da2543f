// SPDX-License-Identifier: Apache-2.0
#include <stdbool.h>
#include <stdio.h>

#include "node/activation/throttle.h"

/* Adds one to a (minute << 32 | count) window, starting a new window when the minute
 * changed. Returns the count after the add. */
static uint32_t window_add(__u64 *window, uint32_t minute)
{
	__u64 old = __atomic_load_n(window, __ATOMIC_RELAXED), new;

	do {
		if ((uint32_t)(old >> 32) == minute)
			new = old + 1;
		else
			new = (uint64_t)minute << 32 | 1;
	} while (!__atomic_compare_exchange_n(window, &old, new, true, __ATOMIC_ACQ_REL,
					      __ATOMIC_RELAXED));
	return (uint32_t)new;
}

/* A window's count in minute (0 when it holds an older minute). */
static uint32_t window_count(const __u64 *window, uint32_t minute)
{
	__u64 v = __atomic_load_n(window, __ATOMIC_RELAXED);

	return (uint32_t)(v >> 32) == minute ? (uint32_t)v : 0;
}

static uint32_t seconds_to_next_minute(uint64_t now_ms)
{
	return (uint32_t)((60000 - now_ms % 60000 + 999) / 1000);
}

/* One more in the calendar minute's window; THROTTLE_RATE once per_minute were admitted.
 * Rejected requests count in the window (OpenWhisk's count) and in its rejected twin, so
 * that a share raised during the minute admits as many more (see maps.h). */
static struct throttle_result rate_check(struct xw_namespace *ns, __u64 *window,
					 __u64 *rejected, uint32_t per_minute, uint64_t now_ms)
{
	struct throttle_result r = { THROTTLE_OK, 0, 0, 0 };
	uint32_t minute = (uint32_t)(now_ms / 60000);

	r.count = window_add(window, minute);
	if (r.count - window_count(rejected, minute) > per_minute) {
		window_add(rejected, minute);
		r.verdict = THROTTLE_RATE;
		r.allowed = per_minute;
		r.retry_after_s = seconds_to_next_minute(now_ms);
		__atomic_fetch_add(&ns->throttled, 1, __ATOMIC_RELAXED);
	}
	return r;
}

struct throttle_result throttle_invoke(struct xw_namespace *ns, uint64_t now_ms)
{
	uint32_t concurrent = __atomic_load_n(&ns->concurrent_invocations, __ATOMIC_RELAXED);
	struct throttle_result r = rate_check(
		ns, &ns->invocation_window, &ns->invocation_rejected,
		__atomic_load_n(&ns->invocations_per_minute, __ATOMIC_RELAXED), now_ms);
	uint32_t inflight;

	if (r.verdict != THROTTLE_OK)
		return r;
	inflight = __atomic_load_n(&ns->inflight, __ATOMIC_RELAXED);
	do {
		if (inflight >= concurrent) {
			r.verdict = THROTTLE_CONCURRENT;
			r.count = inflight;
			r.allowed = concurrent;
			r.retry_after_s = 1;
			__atomic_fetch_add(&ns->throttled, 1, __ATOMIC_RELAXED);
			return r;
		}
	} while (!__atomic_compare_exchange_n(&ns->inflight, &inflight, inflight + 1, true,
					      __ATOMIC_ACQ_REL, __ATOMIC_RELAXED));
	return r;
}

void throttle_release(struct xw_namespace *ns)
{
	uint32_t v = __atomic_load_n(&ns->inflight, __ATOMIC_RELAXED);

	/* Never below zero: a restart resets the counters under activations still ending. */
	while (v && !__atomic_compare_exchange_n(&ns->inflight, &v, v - 1, true, __ATOMIC_ACQ_REL,
						 __ATOMIC_RELAXED))
		;
}

struct throttle_result throttle_fire(struct xw_namespace *ns, uint64_t now_ms)
{
	return rate_check(ns, &ns->fire_window, &ns->fire_rejected,
			  __atomic_load_n(&ns->fires_per_minute, __ATOMIC_RELAXED), now_ms);
}

void throttle_message(const struct throttle_result *r, char *out, size_t size)
{
	if (r->verdict == THROTTLE_CONCURRENT)
		snprintf(out, size,
			 "Too many concurrent requests in flight (count: %u, allowed: %u).", r->count,
			 r->allowed);
	else
		snprintf(out, size, "Too many requests in the last minute (count: %u, allowed: %u).",
			 r->count, r->allowed);
}
