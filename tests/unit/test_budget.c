// SPDX-License-Identifier: Apache-2.0
/* Cluster-wide namespace limits: the split arithmetic (shares sum to the limit, follow
 * demand, keep what was used, give minimums), the controller's leases (never more than the
 * limit handed out at once, a single node gets everything, rebalancing over heartbeats,
 * expired leases counted at the fallback, lost nodes forgotten) and the node's side (its
 * share while the lease holds, limit / nodes after). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "budget.h"
#include "cluster.h"
#include "node/ingress/ns_table.h"
#include "node/manager/budget_lease.h"
#include "ns_budget.h"
#include "util.h"
#include "test.h"

static uint64_t sum(const uint32_t *share, size_t n)
{
	uint64_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += share[i];
	return s;
}

static void test_split_sums_to_limit(void)
{
	static const uint32_t limits[] = { 1, 2, 3, 7, 60, 61, 1000, 4000000000u };
	struct budget_claim c[5];
	uint32_t share[5];

	for (size_t l = 0; l < ARRAY_SIZE(limits); l++) {
		for (size_t n = 1; n <= 5; n++) {
			for (size_t i = 0; i < n; i++)
				c[i] = (struct budget_claim){ 0, (uint32_t)(i * 13 % 7) };
			budget_split(limits[l], n, c, share);
			CHECK(sum(share, n) == limits[l]);
		}
	}
}

static void test_split_single_node_gets_all(void)
{
	struct budget_claim c = { .used = 3, .demand = 5 };
	uint32_t share;

	budget_split(60, 1, &c, &share);
	CHECK(share == 60);
	c = (struct budget_claim){ 0, 0 };
	budget_split(30, 1, &c, &share);
	CHECK(share == 30);
}

static void test_split_toward_demand(void)
{
	struct budget_claim c[3] = { { 0, 100 }, { 0, 0 }, { 0, 0 } };
	uint32_t s[3];

	/* one busy node: everything but the others' minimum */
	budget_split(60, 3, c, s);
	CHECK(s[0] == 58 && s[1] == 1 && s[2] == 1);
	/* no demand: even */
	c[0].demand = 0;
	budget_split(60, 3, c, s);
	CHECK(s[0] == 20 && s[1] == 20 && s[2] == 20);
	/* max-min fair: the small demand is met whole, the big ones share the rest */
	c[0].demand = 10, c[1].demand = 100, c[2].demand = 100;
	budget_split(60, 3, c, s);
	CHECK(s[0] == 10 && s[1] == 25 && s[2] == 25);
	/* demand below the limit: met, the rest spread evenly */
	c[0].demand = 10, c[1].demand = 4, c[2].demand = 0;
	budget_split(60, 3, c, s);
	CHECK(s[0] == 25 && s[1] == 19 && s[2] == 16);
	CHECK(sum(s, 3) == 60);
}

static void test_split_keeps_used(void)
{
	struct budget_claim c[3] = { { 50, 50 }, { 0, 30 }, { 0, 0 } };
	uint32_t s[3];

	budget_split(60, 3, c, s);
	CHECK(s[0] == 50 && s[1] == 9 && s[2] == 1);
	/* used beyond the limit (shares moved): no one gets more, nothing is taken back */
	c[1].used = 15;
	budget_split(60, 3, c, s);
	CHECK(s[0] == 50 && s[1] == 15 && s[2] == 0);
}

static void test_split_minimums(void)
{
	struct budget_claim c[3] = { { 0, 9 }, { 0, 9 }, { 0, 9 } };
	uint32_t s[3];

	budget_split(2, 3, c, s);
	CHECK(s[0] == 1 && s[1] == 1 && s[2] == 0);
	budget_split(0, 3, c, s);
	CHECK(sum(s, 3) == 0);
	/* scarce units go to whoever misses most */
	c[0].demand = 2, c[1].demand = 9, c[2].demand = 5;
	budget_split(4, 3, c, s);
	CHECK(s[0] == 1 && s[1] == 2 && s[2] == 1);
}

static void test_fallback_and_grant(void)
{
	CHECK(budget_fallback(60, 3) == 20);
	CHECK(budget_fallback(61, 3) == 20);
	CHECK(budget_fallback(2, 3) == 1); /* at least 1 */
	CHECK(budget_fallback(0, 3) == 0);
	CHECK(budget_fallback(60, 1) == 60);
	CHECK(budget_fallback(60, 0) == 60); /* never told of other nodes */
	CHECK(budget_grant(60, 58, 40) == 20);
	CHECK(budget_grant(60, 40, 10) == 40);
	CHECK(budget_grant(60, 5, 70) == 0);
}

/* ---- the controller's leases ---- */

static struct cluster *cluster;
static struct cnode nodes[4];

static void cluster_with(unsigned n)
{
	free(cluster);
	cluster = calloc(1, sizeof(*cluster));
	for (unsigned i = 1; i <= n; i++) {
		memset(&nodes[i], 0, sizeof(nodes[i]));
		nodes[i].idx = (uint16_t)i;
		snprintf(nodes[i].name, sizeof(nodes[i].name), "n%u", i);
		cluster->nodes[i] = &nodes[i];
	}
}

static json_t *report(unsigned used, unsigned demand)
{
	return json_pack("{s:{s:[i,i,i],s:[i,i,i],s:[i,i,i]}}", "guest", "limits", 60, 6, 60,
			 "used", used, 0, 0, "demand", demand, 0, 0);
}

static uint32_t granted[4]; /* the invocation shares each node holds */

/* Node i heartbeats (report taken); returns its invocation share, -1 when none. */
static int64_t beat(struct ns_budget *b, unsigned i, json_t *rep, uint64_t now)
{
	const char *why = NULL;
	json_t *answer = NULL, *s;
	int64_t share = -1;

	if (ns_budget_heartbeat(b, cluster, &nodes[i], rep, now, &answer, &why) == 0) {
		s = json_object_get(json_object_get(answer, "shares"), "guest");
		if (s)
			share = json_integer_value(json_array_get(json_object_get(s, "share"), 0));
		CHECK(!s || json_integer_value(
				    json_array_get(json_object_get(s, "limits"), 1)) == 6);
		CHECK(json_integer_value(json_object_get(answer, "lease_ms")) == 1000);
	}
	if (share >= 0)
		granted[i] = (uint32_t)share;
	json_decref(rep);
	json_decref(answer);
	return share;
}

static void test_single_node_gets_whole_limit(void)
{
	struct ns_budget *b = ns_budget_new(1000);
	json_t *answer = NULL;
	const char *why;

	cluster_with(1);
	CHECK(beat(b, 1, report(0, 1), 10) == 60);
	CHECK(beat(b, 1, report(60, 200), 20) == 60);
	CHECK(beat(b, 1, NULL, 30) == 60);
	ASSERT(ns_budget_heartbeat(b, cluster, &nodes[1], NULL, 40, &answer, &why) == 0);
	CHECK(json_integer_value(json_object_get(answer, "nodes")) == 1);
	json_decref(answer);
	ns_budget_free(b);
}

static void test_rebalance_never_hands_out_more(void)
{
	struct ns_budget *b = ns_budget_new(1000);
	uint64_t t = 100;

	cluster_with(3);
	granted[1] = granted[2] = granted[3] = 20; /* all start on the fallback */
	/* n1 is busy, n2 and n3 have never seen the namespace */
	CHECK(beat(b, 1, report(0, 100), t++) == 20); /* the others hold 20 each */
	CHECK(beat(b, 2, NULL, t++) == 1);
	CHECK(sum(granted + 1, 3) <= 60);
	CHECK(beat(b, 3, NULL, t++) == 1);
	CHECK(beat(b, 1, report(20, 100), t++) == 58);
	CHECK(sum(granted + 1, 3) == 60);
	/* n2 gets busy too: it grows as n1 gives way, never past what n1 still holds */
	for (int round = 0; round < 3; round++) {
		CHECK(beat(b, 2, report(granted[2], 100), t++) >= 0);
		CHECK(sum(granted + 1, 3) <= 60);
		CHECK(beat(b, 1, report(20, 100), t++) >= 20);
		CHECK(sum(granted + 1, 3) <= 60);
		CHECK(beat(b, 3, NULL, t++) == 1);
		CHECK(sum(granted + 1, 3) <= 60);
	}
	/* n2's next heartbeat takes what n1 gave up: an even split of the busy pair */
	CHECK(beat(b, 2, report(granted[2], 100), t++) == 29);
	CHECK(granted[1] == 30 && granted[3] == 1);
	ns_budget_free(b);
}

static void test_expired_leases_count_as_fallback(void)
{
	struct ns_budget *b = ns_budget_new(1000);

	cluster_with(3);
	CHECK(beat(b, 2, NULL, 1) == -1); /* nothing active yet */
	CHECK(beat(b, 1, report(0, 100), 2) == 20);
	CHECK(beat(b, 2, NULL, 3) == 1);
	CHECK(beat(b, 3, NULL, 4) == 1);
	CHECK(beat(b, 1, report(0, 100), 5) == 58);
	/* n1 goes silent; once its lease has run out it enforces 20, and n2 is counted so */
	CHECK(beat(b, 2, report(0, 100), 900) == 1);
	CHECK(beat(b, 3, NULL, 900) == 1);
	CHECK(beat(b, 2, report(0, 100), 1006) == 39); /* 60 - n1's 20 - n3's 1 */
	/* n3 is lost: two nodes share, and the answer says so */
	nodes[3].lost = true;
	{
		json_t *answer = NULL, *shares;
		const char *why;

		ASSERT(ns_budget_heartbeat(b, cluster, &nodes[2], report(0, 100), 1010, &answer,
					   &why) == 0);
		CHECK(json_integer_value(json_object_get(answer, "nodes")) == 2);
		/* n1 (silent, expired) holds 30 of the fallback */
		shares = json_object_get(json_object_get(answer, "shares"), "guest");
		shares = json_object_get(shares, "share");
		CHECK(json_integer_value(json_array_get(shares, 0)) == 30);
		json_decref(answer);
	}
	/* nobody reports for a lease: no shares, the leases run out everywhere */
	CHECK(beat(b, 1, NULL, 2100) == -1);
	ns_budget_free(b);
}

static void test_malformed_report(void)
{
	struct ns_budget *b = ns_budget_new(1000);
	const char *why = NULL;
	json_t *answer = NULL;
	json_t *bad[] = {
		json_string("x"),
		json_pack("{s:{s:[i,i]}}", "guest", "limits", 1, 2),
		json_pack("{s:{s:[i,i,i],s:[i,i,i],s:[i,i,i]}}", "guest", "limits", 60, 6, -1,
			  "used", 0, 0, 0, "demand", 0, 0, 0),
		json_pack("{s:{s:[i,i,i],s:[i,i,i],s:[i,i,i]}}", "bad/name", "limits", 1, 1, 1,
			  "used", 0, 0, 0, "demand", 0, 0, 0),
	};

	cluster_with(1);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		int err = ns_budget_heartbeat(b, cluster, &nodes[1], bad[i], 1, &answer, &why);

		CHECK(err == -EINVAL);
		CHECK(why != NULL);
		json_decref(bad[i]);
	}
	ns_budget_free(b);
}

/* ---- the node's leases ---- */

static void test_node_enforces_share_then_fallback(void)
{
	CHECK(budget_lease_enforced(60, 40, 2000, 3, 1000) == 40); /* lease holds */
	CHECK(budget_lease_enforced(30, 40, 2000, 3, 1000) == 30); /* never past the limit */
	CHECK(budget_lease_enforced(60, 40, 2000, 3, 2000) == 20); /* expired: limit / 3 */
	CHECK(budget_lease_enforced(2, 0, 0, 3, 5) == 1);          /* at least 1 */
	CHECK(budget_lease_enforced(60, 0, 0, 0, 5) == 60);        /* alone: everything */
	CHECK(budget_lease_enforced(60, 0, 0, 1, 5) == 60);
}

static void test_node_lease_round_trip(void)
{
	static struct xw_namespace nss[XW_MAX_NAMESPACES];
	char dir[] = "/tmp/xwhisk-budget-XXXXXX", path[64];
	const uint32_t limits[BUDGET_KINDS] = { 60, 6, 30 };
	struct xw_maps maps = { .namespaces = nss };
	struct node node = { .maps = &maps };
	uint64_t minute = clock_real_ms() / 60000;
	json_t *answer, *rep, *g;
	uint32_t idx, other;

	ASSERT(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/namespaces", dir);
	ASSERT(ns_table_open(path, &node.ns) == 0);
	node.loop = loop_new();
	ASSERT(node.loop && budget_lease_new(&node, &node.budget) == 0);
	ASSERT(ns_table_index(node.ns, "guest", &idx) == 0);
	/* before any answer: the whole limits, as a single node */
	budget_lease_set_limits(&node, idx, limits);
	CHECK(nss[idx].invocations_per_minute == 60 && nss[idx].concurrent_invocations == 6);
	/* three nodes, no lease yet: the fallback */
	answer = json_pack("{s:i,s:i,s:{}}", "nodes", 3, "lease_ms", 200, "shares");
	budget_lease_apply(node.budget, answer);
	json_decref(answer);
	CHECK(nss[idx].invocations_per_minute == 20 && nss[idx].concurrent_invocations == 2 &&
	      nss[idx].fires_per_minute == 10);
	/* a lease, also for a namespace this node has not seen yet (it learns the limits) */
	answer = json_pack("{s:i,s:i,s:{s:{s:[i,i,i],s:[i,i,i]},s:{s:[i,i,i],s:[i,i,i]}}}",
			   "nodes", 3, "lease_ms", 200, "shares", "guest", "share", 41, 4, 1,
			   "limits", 60, 6, 30, "other", "share", 5, 5, 5, "limits", 9, 9, 9);
	budget_lease_apply(node.budget, answer);
	json_decref(answer);
	CHECK(nss[idx].invocations_per_minute == 41 && nss[idx].concurrent_invocations == 4 &&
	      nss[idx].fires_per_minute == 1);
	ASSERT(ns_table_index(node.ns, "other", &other) == 0);
	CHECK(nss[other].invocations_per_minute == 5);
	/* the report: admitted this minute (50 counted, 8 of them rejected), in flight */
	nss[idx].invocation_window = minute << 32 | 50;
	nss[idx].invocation_rejected = minute << 32 | 8;
	nss[idx].inflight = 3;
	nss[idx].throttled = 2;
	rep = budget_lease_report(node.budget);
	g = json_object_get(rep, "guest");
	CHECK(json_integer_value(json_array_get(json_object_get(g, "used"), 0)) == 42);
	CHECK(json_integer_value(json_array_get(json_object_get(g, "demand"), 0)) == 92);
	CHECK(json_integer_value(json_array_get(json_object_get(g, "used"), 1)) == 3);
	CHECK(json_integer_value(json_array_get(json_object_get(g, "demand"), 1)) == 5);
	CHECK(json_integer_value(json_array_get(json_object_get(g, "limits"), 2)) == 30);
	CHECK(json_object_get(rep, "other") == NULL); /* no activity */
	json_decref(rep);
	/* nothing new since: the pressure halves each report */
	rep = budget_lease_report(node.budget);
	g = json_object_get(rep, "guest");
	CHECK(json_integer_value(json_array_get(json_object_get(g, "demand"), 0)) == 42 + 25);
	CHECK(json_integer_value(json_array_get(json_object_get(g, "demand"), 1)) == 3 + 1);
	json_decref(rep);
	for (int i = 0; i < 8; i++)
		json_decref(budget_lease_report(node.budget));
	rep = budget_lease_report(node.budget);
	g = json_object_get(rep, "guest");
	CHECK(json_integer_value(json_array_get(json_object_get(g, "demand"), 0)) == 42);
	json_decref(rep);
	/* cut off: once the lease expires, limit / the 3 nodes it knew */
	usleep(250 * 1000);
	budget_lease_set_limits(&node, idx, limits);
	CHECK(nss[idx].invocations_per_minute == 20 && nss[idx].concurrent_invocations == 2);
	budget_lease_free(node.budget);
	loop_free(node.loop);
	ns_table_free(node.ns);
	unlink(path);
	rmdir(dir);
}

int main(void)
{
	RUN(test_split_sums_to_limit);
	RUN(test_split_single_node_gets_all);
	RUN(test_split_toward_demand);
	RUN(test_split_keeps_used);
	RUN(test_split_minimums);
	RUN(test_fallback_and_grant);
	RUN(test_single_node_gets_whole_limit);
	RUN(test_rebalance_never_hands_out_more);
	RUN(test_expired_leases_count_as_fallback);
	RUN(test_malformed_report);
	RUN(test_node_enforces_share_then_fallback);
	RUN(test_node_lease_round_trip);
	free(cluster);
	TEST_EXIT();
}
