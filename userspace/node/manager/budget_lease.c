// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "node/manager/budget_lease.h"
#include "log.h"
#include "loop.h"
#include "names.h"
#include "node/ingress/ns_table.h"

#define EXPIRY_CHECK_MS 1000

/* The per-minute kinds, sampled for demand: the invocation and the fire windows. */
enum { RATE_INVOCATIONS, RATE_FIRES, RATES };

struct lease_entry {
	uint32_t limit[BUDGET_KINDS]; /* the namespace's own, valid when known */
	bool known;
	uint32_t share[BUDGET_KINDS];
	uint64_t expires_ms; /* monotonic; 0: no lease */
	/* for demand: each window's count at the last report, and the 429s */
	uint32_t sampled_minute[RATES], sampled_count[RATES];
	uint64_t throttled_seen;
	/* requests (rates) or 429s (concurrency) lately: since the last report, or half the
	 * previous value when more, so that a report between two bursts still shows them */
	uint32_t recent[BUDGET_KINDS];
};

struct budget_lease {
	struct node *node;
	pthread_mutex_t lock;
	uint32_t nodes; /* live nodes as the controller last said; 0: never told */
	uint64_t lease_ms, applied_ms; /* the last answer's lease time, and when it came */
	struct loop_timer *timer;
	struct lease_entry e[XW_MAX_NAMESPACES];
};

static __u32 *enforced_field(struct xw_namespace *ns, int k)
{
	if (k == BUDGET_INVOCATIONS)
		return &ns->invocations_per_minute;
	return k == BUDGET_CONCURRENT ? &ns->concurrent_invocations : &ns->fires_per_minute;
}

uint32_t budget_lease_enforced(uint32_t limit, uint32_t share, uint64_t expires_ms,
			       uint32_t nodes, uint64_t now_ms)
{
	if (expires_ms > now_ms)
		return share < limit ? share : limit;
	return budget_fallback(limit, nodes);
}

/* Writes what idx enforces (lock held). */
static void enforce(struct budget_lease *l, uint32_t idx, uint64_t now_ms)
{
	struct xw_namespace *ns = &l->node->maps->namespaces[idx];
	const struct lease_entry *e = &l->e[idx];

	if (!e->known)
		return;
	for (int k = 0; k < BUDGET_KINDS; k++) {
		uint32_t v = budget_lease_enforced(e->limit[k], e->share[k], e->expires_ms,
						   l->nodes, now_ms);

		__atomic_store_n(enforced_field(ns, k), v, __ATOMIC_RELAXED);
	}
}

void budget_lease_set_limits(struct node *node, uint32_t idx, const uint32_t limit[BUDGET_KINDS])
{
	struct xw_namespace *ns = &node->maps->namespaces[idx];
	struct budget_lease *l = node->budget;

	if (!l) {
		for (int k = 0; k < BUDGET_KINDS; k++)
			__atomic_store_n(enforced_field(ns, k), limit[k], __ATOMIC_RELAXED);
		return;
	}
	pthread_mutex_lock(&l->lock);
	memcpy(l->e[idx].limit, limit, sizeof(l->e[idx].limit));
	l->e[idx].known = true;
	enforce(l, idx, clock_mono_ms());
	pthread_mutex_unlock(&l->lock);
}

static uint32_t window_count(const __u64 *window, uint32_t minute)
{
	__u64 v = __atomic_load_n(window, __ATOMIC_RELAXED);

	return (uint32_t)(v >> 32) == minute ? (uint32_t)v : 0;
}

/* used plus the recent pressure of kind k, which since updates (saturating). */
static struct budget_claim claim_of(struct lease_entry *e, int k, uint32_t used, uint64_t since)
{
	uint64_t recent = since > e->recent[k] / 2 ? since : e->recent[k] / 2;
	struct budget_claim c = { .used = used };

	e->recent[k] = recent > UINT32_MAX ? UINT32_MAX : (uint32_t)recent;
	c.demand = used + (uint64_t)e->recent[k] > UINT32_MAX ? UINT32_MAX : used + e->recent[k];
	return c;
}

/* A per-minute window's claim: admitted this minute, plus the requests lately (since the
 * last report, all of this minute's when the minute changed). */
static struct budget_claim sample_rate(struct lease_entry *e, int k, int r, const __u64 *window,
				       const __u64 *rejected, uint32_t minute)
{
	uint32_t count = window_count(window, minute);
	uint32_t since = e->sampled_minute[r] == minute ? count - e->sampled_count[r] : count;

	e->sampled_minute[r] = minute;
	e->sampled_count[r] = count;
	return claim_of(e, k, count - window_count(rejected, minute), since);
}

/* In flight, plus the 429s lately (of any kind: a hint, not a count). */
static struct budget_claim sample_concurrency(struct lease_entry *e, struct xw_namespace *ns)
{
	uint64_t throttled = __atomic_load_n(&ns->throttled, __ATOMIC_RELAXED);
	uint64_t since = throttled - e->throttled_seen;

	e->throttled_seen = throttled;
	return claim_of(e, BUDGET_CONCURRENT, __atomic_load_n(&ns->inflight, __ATOMIC_RELAXED),
			since);
}

/* idx's claims, or NULL when it has no activity (lock held). */
static json_t *claim_json(struct budget_lease *l, uint32_t idx, uint32_t minute)
{
	struct xw_namespace *ns = &l->node->maps->namespaces[idx];
	struct lease_entry *e = &l->e[idx];
	struct budget_claim c[BUDGET_KINDS];
	uint32_t used[BUDGET_KINDS], demand[BUDGET_KINDS];
	bool active = false;

	c[BUDGET_INVOCATIONS] =
		sample_rate(e, BUDGET_INVOCATIONS, RATE_INVOCATIONS, &ns->invocation_window,
			    &ns->invocation_rejected, minute);
	c[BUDGET_CONCURRENT] = sample_concurrency(e, ns);
	c[BUDGET_FIRES] = sample_rate(e, BUDGET_FIRES, RATE_FIRES, &ns->fire_window,
				      &ns->fire_rejected, minute);
	for (int k = 0; k < BUDGET_KINDS; k++) {
		used[k] = c[k].used;
		demand[k] = c[k].demand;
		active |= c[k].demand > 0;
	}
	if (!active)
		return NULL;
	return json_pack("{s:o,s:o,s:o}", "limits", budget_kinds_json(e->limit), "used",
			 budget_kinds_json(used), "demand", budget_kinds_json(demand));
}

json_t *budget_lease_report(struct budget_lease *l)
{
	uint32_t minute = (uint32_t)(clock_real_ms() / 60000);
	json_t *out = json_object();
	char name[NAME_MAX_LEN + 1];

	if (!l)
		return out;
	pthread_mutex_lock(&l->lock);
	for (uint32_t idx = 1; idx < XW_MAX_NAMESPACES; idx++) {
		json_t *claim;

		if (!l->e[idx].known || ns_table_name(l->node->ns, idx, name, sizeof(name)))
			continue;
		claim = claim_json(l, idx, minute);
		if (claim)
			json_object_set_new(out, name, claim);
	}
	pthread_mutex_unlock(&l->lock);
	return out;
}

/* Takes one namespace's lease {"share": [..], "limits": [..]} (lock held). */
static void take_lease(struct budget_lease *l, const char *name, const json_t *lease,
		       uint64_t expires_ms)
{
	uint32_t share[BUDGET_KINDS], limit[BUDGET_KINDS], idx;
	struct lease_entry *e;

	if (!budget_kinds_parse(json_object_get(lease, "share"), share) ||
	    !budget_kinds_parse(json_object_get(lease, "limits"), limit) ||
	    ns_table_index(l->node->ns, name, &idx))
		return;
	e = &l->e[idx];
	memcpy(e->share, share, sizeof(share));
	memcpy(e->limit, limit, sizeof(limit));
	e->known = true;
	e->expires_ms = expires_ms;
}

void budget_lease_apply(struct budget_lease *l, const json_t *budget)
{
	json_int_t nodes = json_integer_value(json_object_get(budget, "nodes"));
	json_int_t lease_ms = json_integer_value(json_object_get(budget, "lease_ms"));
	uint64_t now = clock_mono_ms();
	const char *name;
	json_t *lease;

	if (!l || !json_is_object(budget) || nodes < 1 || nodes > UINT32_MAX)
		return;
	pthread_mutex_lock(&l->lock);
	if (l->nodes != (uint32_t)nodes)
		pr_info("budget: %lld live node(s) share each namespace's limits",
			(long long)nodes);
	l->nodes = (uint32_t)nodes;
	l->lease_ms = lease_ms > 0 ? (uint64_t)lease_ms : 0;
	l->applied_ms = now;
	json_object_foreach(json_object_get(budget, "shares"), name, lease)
		take_lease(l, name, lease, now + l->lease_ms);
	for (uint32_t idx = 1; idx < XW_MAX_NAMESPACES; idx++)
		enforce(l, idx, now);
	pthread_mutex_unlock(&l->lock);
}

static void expiry_tick(struct loop *loop, void *data)
{
	struct budget_lease *l = data;
	uint64_t now = clock_mono_ms();
	unsigned expired = 0;

	pthread_mutex_lock(&l->lock);
	for (uint32_t idx = 1; idx < XW_MAX_NAMESPACES; idx++) {
		if (!l->e[idx].expires_ms || l->e[idx].expires_ms > now)
			continue;
		l->e[idx].expires_ms = 0;
		enforce(l, idx, now);
		expired++;
	}
	/* Leases of namespaces gone idle run out quietly; without answers it is news. */
	if (expired && now - l->applied_ms >= l->lease_ms)
		pr_warn("budget: %u namespace leases expired without word from the controller: "
			"each falls back to its limit / %u nodes",
			expired, l->nodes ? l->nodes : 1);
	pthread_mutex_unlock(&l->lock);
	l->timer = loop_timer_add(loop, EXPIRY_CHECK_MS, expiry_tick, l);
}

int budget_lease_new(struct node *node, struct budget_lease **out)
{
	struct budget_lease *l = calloc(1, sizeof(*l));

	if (!l)
		return -ENOMEM;
	l->node = node;
	pthread_mutex_init(&l->lock, NULL);
	l->timer = loop_timer_add(node->loop, EXPIRY_CHECK_MS, expiry_tick, l);
	if (!l->timer) {
		budget_lease_free(l);
		return -ENOMEM;
	}
	*out = l;
	return 0;
}

void budget_lease_free(struct budget_lease *l)
{
	if (!l)
		return;
	loop_timer_cancel(l->node->loop, l->timer);
	pthread_mutex_destroy(&l->lock);
	free(l);
}
