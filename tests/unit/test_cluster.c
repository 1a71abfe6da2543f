// SPDX-License-Identifier: Apache-2.0
/* The control plane's decisions: registration, best-fit placement with locality and stem
 * cells, mark and sweep, memory pressure under both GC policies, node loss, garbage. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "allocator.h"
#include "cluster.h"
#include "events.h"
#include "gc.h"
#include "json.h"
#include "test.h"

static struct loop *loop;
static struct event_log *events;

static void stop_loop(struct loop *l, void *data)
{
	loop_stop(l);
}

static struct cluster *new_cluster(const struct gc_policy *policy)
{
	struct cluster_config cfg = {
		.keepalive_s = 600,
		.grace_ms = 0,
		.node_lost_ms = 10000,
		.start_timeout_ms = 60000,
		.policy = policy,
	};

	return cluster_new(loop, events, &cfg);
}

static struct cnode *add_node(struct cluster *c, const char *name, int memory_mb)
{
	json_t *b = json_pack("{s:s,s:s,s:i,s:i}", "name", name, "address", "10.0.0.1:3233",
			      "memory_mb", memory_mb, "cpu_milli", 64000);
	const char *why = NULL;
	struct cnode *n = cluster_register(c, b, &why);

	json_decref(b);
	return n;
}

static struct gsandbox *place(struct cluster *c, const char *prefer, int memory_mb)
{
	json_t *b = json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:s}", "subject", "guest", "docid",
			      "guest/a", "action_id", "0123456789abcdef", "kind", "nodejs:20",
			      "revision", 1, "memory_mb", memory_mb, "node", prefer ? prefer : "");
	struct alloc_request req;
	struct gsandbox *s = NULL;
	const char *why;

	if (!alloc_request_parse(c, b, &req, &why))
		(void)allocate(c, &req, &s);
	json_decref(b);
	return s;
}

static void make_warm(struct cluster *c, struct gsandbox *s)
{
	json_t *b = json_pack("{s:s,s:s,s:i}", "state", "warm", "addr", "169.254.1.2", "port",
			      8080);
	const char *why;

	CHECK(cluster_sandbox_report(c, c->nodes[s->node], s, b, &why) == 0);
	json_decref(b);
}

static void test_register_refuses_garbage(void)
{
	struct cluster *c = new_cluster(NULL);
	const char *why = NULL;
	json_t *bad[] = {
		json_pack("{s:s}", "name", "x"),
		json_pack("{s:s,s:s,s:i,s:i}", "name", "x", "address", "a", "memory_mb", -1,
			  "cpu_milli", 1000),
		json_pack("{s:s,s:s,s:I,s:i}", "name", "x", "address", "a", "memory_mb",
			  (json_int_t)1 << 40, "cpu_milli", 1000),
		json_pack("{s:i,s:s,s:i,s:i}", "name", 5, "address", "a", "memory_mb", 10,
			  "cpu_milli", 1000),
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK(cluster_register(c, bad[i], &why) == NULL && why);
		json_decref(bad[i]);
	}
	CHECK(add_node(c, "n1", 1024)->idx == 1);
	/* A restart re-registers under the same index. */
	CHECK(add_node(c, "n1", 2048)->idx == 1);
	CHECK(c->nodes[1]->memory_mb == 2048);
	cluster_free(c);
}

static void test_best_fit_locality_and_stem_cells(void)
{
	struct cluster *c = new_cluster(NULL);
	struct gsandbox *s;

	add_node(c, "big", 4096);
	add_node(c, "small", 1024);
	add_node(c, "mid", 2048);
	s = place(c, NULL, 512);
	CHECK(s && s->node == 2); /* best fit: the smallest that fits */
	s = place(c, "big", 512);
	CHECK(s && s->node == 1); /* the asking node first */
	c->nodes[3]->stem_cells = json_pack("{s:i}", "nodejs:20", 1);
	s = place(c, NULL, 256);
	CHECK(s && s->node == 3); /* a stem cell beats a tighter fit */
	CHECK(c->nodes[2]->used_memory_mb == 512 && c->nodes[1]->used_memory_mb == 512);
	CHECK(place(c, NULL, 8192) == NULL);
	CHECK(c->placement_failures == 1);
	cluster_free(c);
}

static void test_mark_unmark_sweep(void)
{
	struct cluster *c = new_cluster(NULL);
	struct gsandbox *s;
	json_t *hb;
	const char *why;

	add_node(c, "n1", 1024);
	s = place(c, "n1", 256);
	ASSERT(s);
	make_warm(c, s);
	c->cfg.keepalive_s = 0;
	s->last_used_ms = 0;
	gc_tick(c);
	CHECK(s->state == GS_DRAINING);
	/* An activation came for it: back to warm. */
	CHECK(cluster_unmark(c, s) == 0 && s->state == GS_WARM);
	s->last_used_ms = 0;
	gc_tick(c);
	CHECK(s->state == GS_DRAINING);
	gc_tick(c); /* not swept before its node reports it idle after the mark */
	CHECK(c->nsandboxes == 1);
	hb = json_pack("{s:[{s:s,s:i,s:i}]}", "sandboxes", "id", s->id, "inflight", 0, "idle_ms", 5);
	CHECK(cluster_heartbeat(c, c->nodes[1], hb, NULL, &why) == 0);
	json_decref(hb);
	gc_tick(c);
	CHECK(c->nsandboxes == 0 && c->nodes[1]->used_memory_mb == 0);
	CHECK(c->marked == 2 && c->swept == 1);
	cluster_free(c);
}

/* Three nodes of 1 GB: node 1 holds one idle 512 MB sandbox and nothing else; node 2
 * holds two idle 256 MB ones and a busy one. A 900 MB request must empty a node. */
static void fill_for_pressure(struct cluster *c)
{
	struct gsandbox *s;

	add_node(c, "n1", 1024);
	add_node(c, "n2", 1024);
	s = place(c, "n1", 512);
	make_warm(c, s);
	s->last_used_ms = 100;
	s = place(c, "n1", 512);
	make_warm(c, s);
	s->inflight = 1; /* busy: never a victim */
	for (int i = 0; i < 3; i++) {
		s = place(c, "n2", 256);
		make_warm(c, s);
		s->last_used_ms = 50 + (uint64_t)i;
	}
	place(c, "n2", 256)->inflight = 1;
}

static void test_pressure_compact_frees_whole_nodes(void)
{
	struct cluster *c = new_cluster(&gc_policy_compact);
	struct gsandbox *s;

	fill_for_pressure(c);
	/* 768 MB: n2 can give it by dropping its three idle sandboxes but keeps a busy
	 * one; n1 cannot (one of its two is busy). */
	s = place(c, NULL, 768);
	CHECK(s && s->node == 2);
	CHECK(c->nodes[2]->used_memory_mb == 1024);
	cluster_free(c);
}

static void test_pressure_lru(void)
{
	struct cluster *c = new_cluster(&gc_policy_lru);

	fill_for_pressure(c);
	CHECK(place(c, NULL, 768) != NULL);
	CHECK(place(c, NULL, 2000) == NULL);
	CHECK(gc_policy_by_name("lru") == &gc_policy_lru && gc_policy_by_name("nope") == NULL);
	cluster_free(c);
}

static struct cnode *add_node_subnet(struct cluster *c, const char *name, int memory_mb,
				     const char *subnet)
{
	json_t *b = json_pack("{s:s,s:s,s:i,s:i,s:s}", "name", name, "address", "10.0.0.1:3233",
			      "memory_mb", memory_mb, "cpu_milli", 64000, "subnet", subnet);
	const char *why = NULL;
	struct cnode *n = cluster_register(c, b, &why);

	json_decref(b);
	return n;
}

/* A node cannot route into another node's sandboxes in its own subnet: the allocator does
 * not place there for it, nor frees room there for it. */
static void test_unreachable_nodes_are_not_used(void)
{
	struct cluster *c = new_cluster(NULL);
	struct gsandbox *s;

	add_node_subnet(c, "n1", 512, "169.254.32.0/19");
	add_node_subnet(c, "n2", 4096, "169.254.32.0/19");  /* the same: unreachable */
	add_node_subnet(c, "n3", 1024, "169.254.72.0/22");  /* its own: reachable */
	CHECK(cluster_node_reaches(c, 1, 1) && !cluster_node_reaches(c, 1, 2) &&
	      cluster_node_reaches(c, 1, 3) && cluster_node_reaches(c, 0, 2));
	ASSERT((s = place(c, "n1", 512)) && s->node == 1);
	make_warm(c, s);
	/* n1 full: n3 (reachable), never n2 though it has the most room */
	ASSERT((s = place(c, "n1", 512)) && s->node == 3);
	make_warm(c, s);
	ASSERT((s = place(c, "n1", 512)) && s->node == 3);
	make_warm(c, s);
	/* all reachable room used: idle sandboxes on n1 or n3 make room, not n2's space */
	ASSERT((s = place(c, "n1", 512)) && s->node != 2);
	/* a request from n2 may use n2 */
	ASSERT((s = place(c, "n2", 512)) && s->node == 2);
	cluster_free(c);
}

/* Where the policies part: each node can make room with one victim; compact takes the
 * node that then empties (n2), lru the first that frees enough soonest (n1). */
static uint16_t victim_node(const struct gc_policy *policy)
{
	struct cluster *c = new_cluster(policy);
	struct gsandbox *s;
	uint16_t node;

	add_node(c, "n1", 1024);
	add_node(c, "n2", 1024);
	make_warm(c, place(c, "n1", 512));
	make_warm(c, place(c, "n1", 512));
	make_warm(c, place(c, "n2", 1024));
	s = place(c, NULL, 512);
	node = s ? s->node : 0;
	cluster_free(c);
	return node;
}

static void test_policies_differ(void)
{
	CHECK(victim_node(&gc_policy_compact) == 2);
	CHECK(victim_node(&gc_policy_lru) == 1);
}

/* A warm sandbox of subject's action, idle since last_used. */
static struct gsandbox *idle_of(struct cluster *c, const char *subject, int memory_mb,
				uint64_t last_used)
{
	struct gsandbox *s = place(c, "n1", memory_mb);

	if (!s) {
		CHECK(s != NULL);
		exit(1);
	}
	snprintf(s->subject, sizeof(s->subject), "%s", subject);
	make_warm(c, s);
	s->last_used_ms = last_used;
	return s;
}

/* Victims under pressure: marked ones first, then the namespace holding the most idle
 * memory gives, one at a time, least recently used first within it. */
static void test_victim_order_is_fair(void)
{
	struct cluster *c = new_cluster(&gc_policy_lru);
	struct gsandbox *bob[4], *alice[2], *marked, *list[8];

	add_node(c, "n1", 4096);
	for (int i = 0; i < 4; i++)
		bob[i] = idle_of(c, "bob", 256, 100 + (uint64_t)(3 - i)); /* bob[3] is the LRU */
	alice[0] = idle_of(c, "alice", 256, 10); /* older than any of bob's */
	alice[1] = idle_of(c, "alice", 256, 20);
	marked = idle_of(c, "carol", 256, 500);
	marked->state = GS_DRAINING;
	list[0] = alice[0], list[1] = bob[0], list[2] = marked, list[3] = bob[1];
	list[4] = alice[1], list[5] = bob[2], list[6] = bob[3];
	gc_victim_order(list, 7);
	CHECK(list[0] == marked);
	/* bob holds 1024 MB: he gives until he holds what alice does, then they alternate,
	 * each its least recently used first (ties: the older sandbox) */
	CHECK(list[1] == bob[3] && list[2] == bob[2]);
	CHECK(list[3] == alice[0] && list[4] == bob[1] && list[5] == alice[1] && list[6] == bob[0]);
	cluster_free(c);
}

/* Memory full of one namespace's idle and marked sandboxes: another's allocations take
 * them, the marked first, and busy or starting ones never. */
static void test_pressure_takes_idle_and_marked(void)
{
	struct cluster *c = new_cluster(&gc_policy_compact);
	struct gsandbox *busy, *starting, *marked, *s;
	char marked_id[SANDBOX_ID_CHARS + 1];

	add_node(c, "n1", 1024);
	busy = idle_of(c, "bob", 256, 1);
	busy->inflight = 1;
	marked = idle_of(c, "bob", 256, 300);
	marked->state = GS_DRAINING;
	memcpy(marked_id, marked->id, sizeof(marked_id));
	idle_of(c, "bob", 256, 2);
	starting = place(c, "n1", 256);
	ASSERT(starting && c->nodes[1]->used_memory_mb == 1024);
	/* the marked one goes first, though it was used last; then the idle one */
	ASSERT((s = place(c, "n1", 256)) && cluster_sandbox(c, marked_id) == NULL);
	ASSERT((s = place(c, "n1", 256)) && c->nsandboxes == 4);
	/* busy and starting ones stay: no room is made from them */
	CHECK(cluster_sandbox(c, busy->id) == busy && cluster_sandbox(c, starting->id) == starting);
	CHECK(place(c, "n1", 256) == NULL && c->placement_failures == 1);
	cluster_free(c);
}

static json_t *listed_sandbox(char c)
{
	char id[33];

	memset(id, c, 32);
	id[32] = '\0';
	return json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:i,s:i,s:i}", "id", id, "action_id",
			 "0123456789abcdef", "subject", "guest", "docid", "guest/a", "kind",
			 "nodejs:20", "addr", "169.254.1.9", "memory_mb", 256, "port", 8080,
			 "concurrency", 1);
}

static struct cnode *register_with(struct cluster *c, json_t *sandboxes)
{
	json_t *b = json_pack("{s:s,s:s,s:i,s:i,s:o}", "name", "n1", "address", "10.0.0.1:3233",
			      "memory_mb", 4096, "cpu_milli", 64000, "sandboxes", sandboxes);
	const char *why = NULL;
	struct cnode *n = cluster_register(c, b, &why);

	json_decref(b);
	return n;
}

/* A node registering again lists what it runs: what it no longer runs leaves the pool. */
static void test_reregistration_forgets_what_is_gone(void)
{
	struct cluster *c = new_cluster(NULL);
	char a[33], b[33];

	memset(a, 'a', 32);
	a[32] = '\0';
	memset(b, 'b', 32);
	b[32] = '\0';
	ASSERT(register_with(c, json_pack("[o,o]", listed_sandbox('a'), listed_sandbox('b'))));
	CHECK(c->nsandboxes == 2 && cluster_sandbox(c, a) && cluster_sandbox(c, b));
	CHECK(c->nodes[1]->used_memory_mb == 512);
	ASSERT(register_with(c, json_pack("[o]", listed_sandbox('a'))));
	CHECK(c->nsandboxes == 1 && cluster_sandbox(c, a) && !cluster_sandbox(c, b));
	CHECK(c->nodes[1]->used_memory_mb == 256);
	cluster_free(c);
}

static void test_reports_cannot_corrupt(void)
{
	struct cluster *c = new_cluster(NULL);
	struct gsandbox *s;
	const char *why;
	json_t *b;

	add_node(c, "n1", 1024);
	add_node(c, "n2", 1024);
	s = place(c, "n1", 256);
	ASSERT(s);
	b = json_pack("{s:s,s:s,s:i}", "state", "warm", "addr", "x", "port", 1);
	CHECK(cluster_sandbox_report(c, c->nodes[2], s, b, &why) == -EPERM);
	json_decref(b);
	b = json_pack("{s:s}", "state", "warm");
	CHECK(cluster_sandbox_report(c, c->nodes[1], s, b, &why) == -EINVAL);
	json_decref(b);
	b = json_pack("{s:s}", "state", "exploded");
	CHECK(cluster_sandbox_report(c, c->nodes[1], s, b, &why) == -EINVAL);
	json_decref(b);
	b = json_pack("{s:[{s:s,s:i,s:i}]}", "sandboxes", "id", s->id, "inflight", -3, "idle_ms", 1);
	CHECK(cluster_heartbeat(c, c->nodes[1], b, NULL, &why) == 0 && s->inflight == 0);
	json_decref(b);
	/* Ids it does not hold are answered back, so the node drops what the pool lost. */
	b = json_pack("{s:[{s:s,s:i,s:i}]}", "sandboxes", "id", "ffffffffffffffffffffffffffffffff",
		      "inflight", 0, "idle_ms", 1);
	{
		json_t *unknown = json_array();

		CHECK(cluster_heartbeat(c, c->nodes[1], b, unknown, &why) == 0);
		CHECK(json_array_size(unknown) == 1);
		json_decref(unknown);
	}
	json_decref(b);
	b = json_pack("{s:i}", "sandboxes", 7);
	CHECK(cluster_heartbeat(c, c->nodes[1], b, NULL, &why) == -EINVAL);
	json_decref(b);
	CHECK(s->state == GS_STARTING && c->nsandboxes == 1);
	cluster_free(c);
}

static void test_node_lost_and_fragmentation(void)
{
	struct cluster *c = new_cluster(NULL);
	uint64_t total, largest;

	add_node(c, "n1", 1000);
	add_node(c, "n2", 1000);
	place(c, "n1", 500);
	cluster_free_memory(c, &total, &largest);
	CHECK(total == 1500 && largest == 1000);
	CHECK(cluster_fragmentation(c) > 0.33 && cluster_fragmentation(c) < 0.34);
	c->nodes[1]->last_heard_ms = 0;
	c->cfg.node_lost_ms = 0;
	/* The tick declares n1 lost (n2 too: it never spoke since registering at time 0). */
	loop_timer_add(loop, 600, stop_loop, NULL);
	loop_run(loop);
	CHECK(c->nodes[1]->lost && c->nsandboxes == 0 && c->lost_nodes >= 1);
	cluster_free(c);
}

static void hold_the_loop(struct loop *l, void *data)
{
	usleep(*(unsigned *)data * 1000); /* the controller stopped: nothing is read meanwhile */
}

/* A controller that did not run for longer than node_lost_ms (stopped, frozen) comes back
 * without dropping the nodes that kept talking to it; a node silent while it runs is
 * still lost. */
static void test_controller_away_keeps_nodes(void)
{
	struct cluster *c = new_cluster(NULL);
	unsigned away_ms = 1500;

	add_node(c, "n1", 1000);
	make_warm(c, place(c, "n1", 500));
	c->nodes[1]->last_heard_ms = clock_mono_ms();
	c->cfg.node_lost_ms = 700;
	loop_timer_add(loop, 1, hold_the_loop, &away_ms);
	/* overdue once the loop is back: runs right after the late tick */
	loop_timer_add(loop, 600, stop_loop, NULL);
	loop_run(loop);
	CHECK(!c->nodes[1]->lost && c->nsandboxes == 1 && c->lost_nodes == 0);
	/* Then silence while the controller runs: lost after node_lost_ms. */
	loop_timer_add(loop, 1500, stop_loop, NULL);
	loop_run(loop);
	CHECK(c->nodes[1]->lost && c->nsandboxes == 0 && c->lost_nodes == 1);
	cluster_free(c);
}

int main(void)
{
	loop = loop_new();
	events = event_log_new(loop, 1024);
	RUN(test_register_refuses_garbage);
	RUN(test_best_fit_locality_and_stem_cells);
	RUN(test_mark_unmark_sweep);
	RUN(test_pressure_compact_frees_whole_nodes);
	RUN(test_pressure_lru);
	RUN(test_policies_differ);
	RUN(test_victim_order_is_fair);
	RUN(test_pressure_takes_idle_and_marked);
	RUN(test_reports_cannot_corrupt);
	RUN(test_unreachable_nodes_are_not_used);
	RUN(test_reregistration_forgets_what_is_gone);
	RUN(test_node_lost_and_fragmentation);
	RUN(test_controller_away_keeps_nodes);
	event_log_free(events);
	loop_free(loop);
	TEST_EXIT();
}
