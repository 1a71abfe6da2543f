// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "budget.h"
#include "names.h"
#include "ns_budget.h"
#include "util.h"

#define NS_BUDGET_BUCKETS 1024

/* One node's place in a namespace's budget. */
struct seat {
	uint16_t node;
	struct budget_claim claim[BUDGET_KINDS];
	uint32_t granted[BUDGET_KINDS];
	uint64_t reported_ms; /* 0: never */
	uint64_t granted_ms;  /* 0: never */
};

struct nsb {
	struct nsb *next;
	char *name;
	uint32_t limit[BUDGET_KINDS];
	uint64_t reported_ms; /* by any node */
	struct seat *seats;
	size_t nseats, cap;
};

struct ns_budget {
	unsigned lease_ms;
	struct nsb *bucket[NS_BUDGET_BUCKETS];
	/* one split's scratch, by live node */
	uint16_t live[CLUSTER_MAX_NODES];
	size_t nlive;
	struct budget_claim claims[CLUSTER_MAX_NODES];
	uint32_t target[CLUSTER_MAX_NODES];
};

struct ns_budget *ns_budget_new(unsigned lease_ms)
{
	struct ns_budget *b = calloc(1, sizeof(*b));

	if (b)
		b->lease_ms = lease_ms ? lease_ms : NS_BUDGET_LEASE_MS_DEFAULT;
	return b;
}

static void nsb_free(struct nsb *ns)
{
	free(ns->name);
	free(ns->seats);
	free(ns);
}

void ns_budget_free(struct ns_budget *b)
{
	if (!b)
		return;
	for (size_t i = 0; i < NS_BUDGET_BUCKETS; i++) {
		while (b->bucket[i]) {
			struct nsb *ns = b->bucket[i];

			b->bucket[i] = ns->next;
			nsb_free(ns);
		}
	}
	free(b);
}

static struct nsb *nsb_get(struct ns_budget *b, const char *name)
{
	struct nsb **head = &b->bucket[str_hash(name) % NS_BUDGET_BUCKETS], *ns;

	for (ns = *head; ns; ns = ns->next)
		if (!strcmp(ns->name, name))
			return ns;
	ns = calloc(1, sizeof(*ns));
	if (!ns || !(ns->name = strdup(name))) {
		free(ns);
		return NULL;
	}
	ns->next = *head;
	*head = ns;
	return ns;
}

static struct seat *seat_find(const struct nsb *ns, uint16_t node)
{
	for (size_t i = 0; i < ns->nseats; i++)
		if (ns->seats[i].node == node)
			return &ns->seats[i];
	return NULL;
}

static struct seat *seat_get(struct nsb *ns, uint16_t node)
{
	struct seat *s = seat_find(ns, node);

	if (s)
		return s;
	if (ns->nseats == ns->cap) {
		size_t cap = ns->cap ? ns->cap * 2 : 4;
		struct seat *seats = realloc(ns->seats, cap * sizeof(*seats));

		if (!seats)
			return NULL;
		ns->seats = seats;
		ns->cap = cap;
	}
	s = &ns->seats[ns->nseats++];
	memset(s, 0, sizeof(*s));
	s->node = node;
	return s;
}

static int take_report(struct ns_budget *b, const struct cnode *n, const json_t *report,
		       uint64_t now_ms, const char **why)
{
	const char *name;
	json_t *v;

	if (!report)
		return 0;
	if (!json_is_object(report)) {
		*why = "namespaces must be an object";
		return -EINVAL;
	}
	json_object_foreach((json_t *)report, name, v) {
		uint32_t limit[BUDGET_KINDS], used[BUDGET_KINDS], demand[BUDGET_KINDS];
		struct nsb *ns;
		struct seat *s;

		if (!namespace_valid(name) ||
		    !budget_kinds_parse(json_object_get(v, "limits"), limit) ||
		    !budget_kinds_parse(json_object_get(v, "used"), used) ||
		    !budget_kinds_parse(json_object_get(v, "demand"), demand)) {
			*why = "a namespace's report needs limits, used and demand: 3 counts each";
			return -EINVAL;
		}
		ns = nsb_get(b, name);
		s = ns ? seat_get(ns, n->idx) : NULL;
		if (!s) {
			*why = "out of memory";
			return -ENOMEM;
		}
		memcpy(ns->limit, limit, sizeof(limit));
		ns->reported_ms = now_ms;
		for (int k = 0; k < BUDGET_KINDS; k++)
			s->claim[k] = (struct budget_claim){ .used = used[k], .demand = demand[k] };
		s->reported_ms = now_ms;
	}
	return 0;
}

static void find_live(struct ns_budget *b, const struct cluster *c)
{
	b->nlive = 0;
	for (uint16_t i = 1; i <= CLUSTER_MAX_NODES; i++)
		if (c->nodes[i] && !c->nodes[i]->lost)
			b->live[b->nlive++] = i;
}

/* What node holds of kind k now: its grant while the lease lasts, else the fallback. */
static uint32_t held(const struct ns_budget *b, const struct nsb *ns, uint16_t node, int k,
		     uint64_t now_ms)
{
	const struct seat *s = seat_find(ns, node);

	if (s && s->granted_ms && now_ms - s->granted_ms < b->lease_ms)
		return s->granted[k];
	return budget_fallback(ns->limit[k], (uint32_t)b->nlive);
}

/* Node me's share of kind k: the split's target, as far as the others' shares allow. */
static uint32_t grant_kind(struct ns_budget *b, const struct nsb *ns, uint16_t me, int k,
			   uint64_t now_ms)
{
	uint64_t others = 0;
	uint32_t target = budget_fallback(ns->limit[k], (uint32_t)b->nlive);

	for (size_t j = 0; j < b->nlive; j++) {
		const struct seat *s = seat_find(ns, b->live[j]);
		bool fresh = s && s->reported_ms && now_ms - s->reported_ms < b->lease_ms;

		b->claims[j] = fresh ? s->claim[k] : (struct budget_claim){ 0, 0 };
	}
	budget_split(ns->limit[k], b->nlive, b->claims, b->target);
	for (size_t j = 0; j < b->nlive; j++) {
		if (b->live[j] == me)
			target = b->target[j];
		else
			others += held(b, ns, b->live[j], k, now_ms);
	}
	return budget_grant(ns->limit[k], target, others);
}

/* Forgets the seats of nodes no longer live. */
static void prune_seats(struct nsb *ns, const struct cluster *c)
{
	for (size_t i = 0; i < ns->nseats;) {
		const struct cnode *n = c->nodes[ns->seats[i].node];

		if (n && !n->lost)
			i++;
		else
			ns->seats[i] = ns->seats[--ns->nseats];
	}
}

static int grant(struct ns_budget *b, struct nsb *ns, uint16_t me, uint64_t now_ms,
		 json_t *shares)
{
	uint32_t g[BUDGET_KINDS];
	struct seat *s;

	for (int k = 0; k < BUDGET_KINDS; k++)
		g[k] = grant_kind(b, ns, me, k, now_ms);
	s = seat_get(ns, me);
	if (!s)
		return -ENOMEM;
	memcpy(s->granted, g, sizeof(g));
	s->granted_ms = now_ms;
	json_object_set_new(shares, ns->name,
			    json_pack("{s:o,s:o}", "share", budget_kinds_json(g), "limits",
				      budget_kinds_json(ns->limit)));
	return 0;
}

/* Grants me its share of every active namespace; forgets namespaces idle long enough that
 * every lease on them has run out. */
static int grant_all(struct ns_budget *b, const struct cluster *c, uint16_t me,
		     uint64_t now_ms, json_t *shares)
{
	for (size_t i = 0; i < NS_BUDGET_BUCKETS; i++) {
		for (struct nsb **p = &b->bucket[i], *ns; (ns = *p);) {
			int err;

			if (now_ms - ns->reported_ms >= 2ull * b->lease_ms) {
				*p = ns->next;
				nsb_free(ns);
				continue;
			}
			p = &ns->next;
			if (now_ms - ns->reported_ms >= b->lease_ms)
				continue; /* idle: the leases run out, nodes fall back */
			prune_seats(ns, c);
			err = grant(b, ns, me, now_ms, shares);
			if (err)
				return err;
		}
	}
	return 0;
}

int ns_budget_heartbeat(struct ns_budget *b, const struct cluster *c, const struct cnode *n,
			const json_t *report, uint64_t now_ms, json_t **answer, const char **why)
{
	json_t *shares;
	int err = take_report(b, n, report, now_ms, why);

	if (err)
		return err;
	find_live(b, c);
	shares = json_object();
	err = grant_all(b, c, n->idx, now_ms, shares);
	if (err) {
		json_decref(shares);
		*why = "out of memory";
		return err;
	}
	*answer = json_pack("{s:I,s:I,s:o}", "nodes", (json_int_t)(b->nlive ? b->nlive : 1),
			    "lease_ms", (json_int_t)b->lease_ms, "shares", shares);
	return 0;
}
