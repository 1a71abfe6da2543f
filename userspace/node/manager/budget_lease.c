// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>

#include "node/manager/budget_lease.h"
#include "log.h"
#include "loop.h"
#include "names.h"
#include "node/ingress/ns_table.h"

#define EXPIRY_CHECK_MS 1000

/* Per-minute kinds sampled for demand: the invocation and the fire windows. */
enum { RATE_INVOCATIONS, RATE_FIRES, RATES };

struct lease_entry {
	uint32_t share[BUDGET_KINDS];
	uint64_t expires_ms; /* monotonic; 0: no lease */
	/* demand: the last sample of each window, and the minute before's last sample */
	uint32_t sampled_minute[RATES], sampled_count[RATES], previous_count[RATES];
	uint32_t concurrency_throttled_seen;
};

struct budget_lease {
	struct node *node;
	pthread_mutex_t lock;
	uint32_t nodes; /* live nodes as the controller last said; 0: never told */
	uint64_t lease_ms, applied_ms; /* the last answer's lease time, and when it came */
	struct loop_timer *timer;
	struct lease_entry e[XW_MAX_NAMESPACES];
};

static __u32 *enforced_field(struct xw_namespace *ns, enum budget_kind k)
{
	if (k == BUDGET_INVOCATIONS)
		return &ns->invocations_per_minute;
	return k == BUDGET_CONCURRENT ? &ns->concurrent_invocations : &ns->fires_per_minute;
}

static __u32 *limit_field(struct xw_namespace *ns, enum budget_kind k)
{
	if (k == BUDGET_INVOCATIONS)
		return &ns->limit_invocations_per_minute;
	return k == BUDGET_CONCURRENT ? &ns->limit_concurrent_invocations
				      : &ns->limit_fires_per_minute;
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

	if (!(__atomic_load_n(&ns->flags, __ATOMIC_RELAXED) & XW_NS_LIMITS))
		return;
	for (int k = 0; k < BUDGET_KINDS; k++) {
		uint32_t limit = __atomic_load_n(limit_field(ns, k), __ATOMIC_RELAXED);

		__atomic_store_n(enforced_field(ns, k),
				 budget_lease_enforced(limit, e->share[k], e->expires_ms, l->nodes,
						       now_ms),
				 __ATOMIC_RELAXED);
	}
}

void budget_lease_set_limits(struct node *node, uint32_t idx, const uint32_t limit[BUDGET_KINDS])
{
	struct xw_namespace *ns = &node->maps->namespaces[idx];
	struct budget_lease *l = node->budget;

	for (int k = 0; k < BUDGET_KINDS; k++) {
		__atomic_store_n(limit_field(ns, k), limit[k], __ATOMIC_RELAXED);
		if (!l)
			__atomic_store_n(enforced_field(ns, k), limit[k], __ATOMIC_RELAXED);
	}
	__atomic_or_fetch(&ns->flags, XW_NS_LIMITS, __ATOMIC_RELAXED);
	if (!l)
		return;
	pthread_mutex_lock(&l->lock);
	enforce(l, idx, clock_mono_ms());
	pthread_mutex_unlock(&l->lock);
}

/* A per-minute window's claim: admitted this minute (at most what is enforced) and the
 * larger of this minute's requests and the last minute's. */
static struct budget_claim sample_rate(struct lease_entry *e, int r, const __u64 *window_p,
				       uint32_t minute, const __u32 *enforced_p)
{
	__u64 window = __atomic_load_n(window_p, __ATOMIC_RELAXED);
	uint32_t enforced = __atomic_load_n(enforced_p, __ATOMIC_RELAXED);
	uint32_t count = (uint32_t)(window >> 32) == minute ? (uint32_t)window : 0;
	struct budget_claim c;

	if (e->sampled_minute[r] != minute) {
		e->previous_count[r] = e->sampled_minute[r] + 1 == minute ? e->sampled_count[r] : 0;
		e->sampled_minute[r] = minute;
	}
	e->sampled_count[r] = count;
	c.used = count < enforced ? count : enforced;
	c.demand = count > e->previous_count[r] ? count : e->previous_count[r];
	return c;
}

/* In-flight activations, plus the ones turned away for concurrency since the last report. */
static struct budget_claim sample_concurrency(struct lease_entry *e, struct xw_namespace *ns)
{
	uint32_t turned = __atomic_load_n(&ns->concurrency_throttled, __ATOMIC_RELAXED);
	struct budget_claim c;

	c.used = __atomic_load_n(&ns->inflight, __ATOMIC_RELAXED);
	c.demand = c.used + (turned - e->concurrency_throttled_seen);
	e->concurrency_throttled_seen = turned;
	return c;
}

static json_t *claim_json(struct budget_lease *l, uint32_t idx, uint32_t minute)
{
	struct xw_namespace *ns = &l->node->maps->namespaces[idx];
	struct lease_entry *e = &l->e[idx];
	struct budget_claim c[BUDGET_KINDS];
	json_t *limits = json_array(), *used = json_array(), *demand = json_array();
	bool active = false;

	c[BUDGET_INVOCATIONS] = sample_rate(e, RATE_INVOCATIONS, &ns->invocation_window, minute,
					    &ns->invocations_per_minute);
	c[BUDGET_CONCURRENT] = sample_concurrency(e, ns);
	c[BUDGET_FIRES] = sample_rate(e, RATE_FIRES, &ns->fire_window, minute, &ns->fires_per_minute);
	for (int k = 0; k < BUDGET_KINDS; k++) {
		json_array_append_new(limits, json_integer(__atomic_load_n(limit_field(ns, k),
									   __ATOMIC_RELAXED)));
		json_array_append_new(used, json_integer(c[k].used));
		json_array_append_new(demand, json_integer(c[k].demand));
		active |= c[k].demand > 0;
	}
	if (active)
		return json_pack("{s:o,s:o,s:o}", "limits", limits, "used", used, "demand", demand);
	json_decref(limits);
	json_decref(used);
	json_decref(demand);
	return NULL;
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

		if (!(__atomic_load_n(&l->node->maps->namespaces[idx].flags, __ATOMIC_RELAXED) &
		      XW_NS_LIMITS) ||
		    ns_table_name(l->node->ns, idx, name, sizeof(name)))
			continue;
		claim = claim_json(l, idx, minute);
		if (claim)
			json_object_set_new(out, name, claim);
	}
	pthread_mutex_unlock(&l->lock);
	return out;
}

/* Takes one namespace's shares [invocations, concurrent, fires] (lock held). */
static void take_shares(struct budget_lease *l, const char *name, const json_t *shares,
			uint64_t expires_ms)
{
	struct lease_entry *e;
	uint32_t idx;

	if (!json_is_array(shares) || json_array_size(shares) != BUDGET_KINDS ||
	    ns_table_index(l->node->ns, name, &idx))
		return;
	e = &l->e[idx];
	for (int k = 0; k < BUDGET_KINDS; k++) {
		json_int_t v = json_integer_value(json_array_get(shares, (size_t)k));

		e->share[k] = v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
	}
	e->expires_ms = expires_ms;
}

void budget_lease_apply(struct budget_lease *l, const json_t *budget)
{
	json_int_t nodes = json_integer_value(json_object_get(budget, "nodes"));
	json_int_t lease_ms = json_integer_value(json_object_get(budget, "lease_ms"));
	uint64_t now = clock_mono_ms();
	const char *name;
	json_t *shares;

	if (!l || !json_is_object(budget) || nodes < 1)
		return;
	pthread_mutex_lock(&l->lock);
	if (l->nodes != (uint32_t)nodes)
		pr_info("budget: %lld nodes share every namespace's limits", (long long)nodes);
	l->nodes = (uint32_t)nodes;
	l->lease_ms = lease_ms > 0 ? (uint64_t)lease_ms : 0;
	l->applied_ms = now;
	json_object_foreach(json_object_get(budget, "shares"), name, shares)
		take_shares(l, name, shares, now + l->lease_ms);
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
