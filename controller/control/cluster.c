// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cluster.h"
#include "gc.h"
#include "json.h"
#include "log.h"
#include "util.h"

#define TICK_MS 500
/* A node claiming more than this is lying (or a planet): refused. */
#define MAX_NODE_MEMORY_MB (64u << 20)
#define MAX_NODE_CPU_MILLI (4096u * 1000)
#define MAX_NODE_GPUS 1024

static const char *const state_names[] = { "starting", "warm", "draining", "removed" };

json_t *cluster_sandbox_json(const struct gsandbox *s)
{
	return json_pack("{s:s,s:i,s:s,s:s,s:s,s:I,s:s,s:i,s:i,s:i,s:i,s:s,s:i,s:s,s:I,s:i}",
			 "id", s->id, "node", s->node, "action_id", s->action_id, "subject",
			 s->subject, "docid", s->docid, "revision", (json_int_t)s->revision, "kind",
			 s->kind, "memory_mb", s->memory_mb, "cpu_milli", s->cpu_milli, "gpus",
			 s->gpus, "concurrency", s->concurrency, "addr", s->addr, "port", s->port,
			 "state", state_names[s->state], "last_used_ms",
			 (json_int_t)s->last_used_ms, "inflight", s->inflight);
}

void publish_sandbox(struct cluster *c, struct gsandbox *s, const char *op)
{
	event_log_publish(c->events, "sandbox",
			  json_pack("{s:s,s:o}", "op", op, "sandbox", cluster_sandbox_json(s)));
}

static void node_release(struct cluster *c, struct gsandbox *s)
{
	struct cnode *n = s->node <= CLUSTER_MAX_NODES ? c->nodes[s->node] : NULL;

	if (!n)
		return;
	n->used_memory_mb -= s->memory_mb < n->used_memory_mb ? s->memory_mb : n->used_memory_mb;
	n->used_cpu_milli -= s->cpu_milli < n->used_cpu_milli ? s->cpu_milli : n->used_cpu_milli;
	n->used_gpus -= s->gpus < n->used_gpus ? s->gpus : n->used_gpus;
}

static uint32_t id_bucket(const char *id)
{
	return str_hash(id) % CLUSTER_ID_BUCKETS;
}

void cluster_add(struct cluster *c, struct gsandbox *s)
{
	uint32_t b = id_bucket(s->id);

	s->prev = NULL;
	s->next = c->sandboxes;
	if (c->sandboxes)
		c->sandboxes->prev = s;
	c->sandboxes = s;
	s->hnext = c->by_id[b];
	c->by_id[b] = s;
	c->nsandboxes++;
}

void cluster_remove(struct cluster *c, struct gsandbox *s, const char *why)
{
	struct gsandbox **pp;

	for (pp = &c->by_id[id_bucket(s->id)]; *pp && *pp != s; pp = &(*pp)->hnext)
		;
	if (!*pp)
		return;
	*pp = s->hnext;
	if (s->prev)
		s->prev->next = s->next;
	else
		c->sandboxes = s->next;
	if (s->next)
		s->next->prev = s->prev;
	c->nsandboxes--;
	node_release(c, s);
	if (c->hooks.removed)
		c->hooks.removed(c->hooks.data, s);
	s->state = GS_REMOVED;
	pr_debug("cluster: sandbox %s on node %u removed (%s)", s->id, s->node, why);
	publish_sandbox(c, s, "remove");
	free(s);
}

struct gsandbox *cluster_sandbox(struct cluster *c, const char *id)
{
	for (struct gsandbox *s = c->by_id[id_bucket(id)]; s; s = s->hnext)
		if (!strcmp(s->id, id))
			return s;
	return NULL;
}

bool cluster_node_reaches(const struct cluster *c, uint16_t from, uint16_t to)
{
	const struct cnode *a = from ? c->nodes[from] : NULL, *b = c->nodes[to];

	return !a || !b || from == to || !cidr_overlap(a->subnet, b->subnet);
}

struct cnode *cluster_node_by_name(struct cluster *c, const char *name)
{
	for (unsigned i = 1; i <= CLUSTER_MAX_NODES; i++)
		if (c->nodes[i] && !strcmp(c->nodes[i]->name, name))
			return c->nodes[i];
	return NULL;
}

static bool small_string(const json_t *v, size_t max)
{
	return json_is_string(v) && json_string_length(v) > 0 && json_string_length(v) < max;
}

static bool in_range(const json_t *v, json_int_t max)
{
	return json_is_integer(v) && json_integer_value(v) >= 0 && json_integer_value(v) <= max;
}

static bool listed(const json_t *list, const char *id)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
		if (!strcmp(json_obj_str(e, "id") ?: "", id))
			return true;
	return false;
}

/* A (re)registering node lists the sandboxes it runs: a restarted controller learns them
 * again, and the ones it no longer runs (gone while it was away) leave the pool, or other
 * nodes would keep routing to them. Entries that do not parse, or that are another
 * node's, are ignored. */
static void adopt_listed(struct cluster *c, struct cnode *n, const json_t *list)
{
	struct gsandbox *next;
	size_t i;
	json_t *e;

	for (struct gsandbox *s = c->sandboxes; s; s = next) {
		next = s->next;
		/* (starting ones are on their way: their report settles them) */
		if (s->node == n->idx && (s->state == GS_WARM || s->state == GS_DRAINING) &&
		    !listed(list, s->id))
			cluster_remove(c, s, "not listed by its node");
	}

	json_array_foreach(list, i, e) {
		struct gsandbox *s = cluster_sandbox(c, json_obj_str(e, "id") ?: "");
		json_t *mem = json_object_get(e, "memory_mb"), *port = json_object_get(e, "port");
		json_t *conc = json_object_get(e, "concurrency");

		if (s)
			continue; /* known already (or another node's): nothing to learn */
		if (!in_range(mem, 1 << 20) || !in_range(port, 65535) || !in_range(conc, 100000) ||
		    !json_integer_value(conc))
			continue;
		s = calloc(1, sizeof(*s));
		if (!s)
			return;
		if (!json_obj_copy_str(e, "id", s->id, sizeof(s->id)) || strlen(s->id) != SANDBOX_ID_CHARS ||
		    !json_obj_copy_str(e, "action_id", s->action_id, sizeof(s->action_id)) ||
		    !json_obj_copy_str(e, "subject", s->subject, sizeof(s->subject)) ||
		    !json_obj_copy_str(e, "docid", s->docid, sizeof(s->docid)) ||
		    !json_obj_copy_str(e, "kind", s->kind, sizeof(s->kind)) ||
		    !json_obj_copy_str(e, "addr", s->addr, sizeof(s->addr))) {
			free(s);
			continue;
		}
		s->node = n->idx;
		s->revision = json_integer_value(json_object_get(e, "revision"));
		s->memory_mb = (uint32_t)json_integer_value(mem);
		s->cpu_milli = 0;
		s->concurrency = (uint32_t)json_integer_value(conc);
		s->port = (uint16_t)json_integer_value(port);
		s->state = strcmp(json_obj_str(e, "state") ?: "", "draining") ? GS_WARM : GS_DRAINING;
		s->created_ms = s->last_used_ms = s->marked_ms = loop_now_ms(c->loop);
		n->used_memory_mb += s->memory_mb;
		n->used_cpu_milli += s->cpu_milli;
		cluster_add(c, s);
		publish_sandbox(c, s, s->state == GS_WARM ? "warm" : "draining");
	}
}

void cluster_lead(struct cluster *c)
{
	uint64_t now = loop_now_ms(c->loop);

	c->standby = false;
	for (unsigned i = 1; i <= CLUSTER_MAX_NODES; i++) {
		if (!c->nodes[i])
			continue;
		c->nodes[i]->last_heard_ms = now;
		c->nodes[i]->rejoin = true;
	}
}

void cluster_step_down(struct cluster *c)
{
	c->standby = true;
}

struct cnode *cluster_register(struct cluster *c, const json_t *body, const char **why)
{
	json_t *name = json_object_get(body, "name"), *addr = json_object_get(body, "address");
	json_t *mem = json_object_get(body, "memory_mb"), *cpu = json_object_get(body, "cpu_milli");
	json_t *gpus = json_object_get(body, "gpus"), *subnet = json_object_get(body, "subnet");
	struct cnode *n;

	if (!small_string(name, sizeof(n->name)) || !small_string(addr, sizeof(n->address))) {
		*why = "name and address are required strings";
		return NULL;
	}
	if (!in_range(mem, MAX_NODE_MEMORY_MB) || json_integer_value(mem) == 0 ||
	    !in_range(cpu, MAX_NODE_CPU_MILLI) || json_integer_value(cpu) == 0 ||
	    (gpus && !in_range(gpus, MAX_NODE_GPUS)) ||
	    (subnet && !small_string(subnet, sizeof(n->subnet)))) {
		*why = "memory_mb and cpu_milli must be positive and plausible; gpus and subnet "
		       "optional";
		return NULL;
	}
	n = cluster_node_by_name(c, json_string_value(name));
	if (!n) {
		unsigned idx = 1;

		while (idx <= CLUSTER_MAX_NODES && c->nodes[idx])
			idx++;
		if (idx > CLUSTER_MAX_NODES) {
			*why = "the cluster is full";
			return NULL;
		}
		n = calloc(1, sizeof(*n));
		if (!n) {
			*why = "out of memory";
			return NULL;
		}
		n->idx = (uint16_t)idx;
		snprintf(n->name, sizeof(n->name), "%s", json_string_value(name));
		c->nodes[idx] = n;
	} else {
		/* A restarted node keeps its index and its sandboxes (it re-adopts them). */
		n->lost = false;
	}
	snprintf(n->address, sizeof(n->address), "%s", json_string_value(addr));
	snprintf(n->subnet, sizeof(n->subnet), "%s", subnet ? json_string_value(subnet) : "");
	n->memory_mb = (uint32_t)json_integer_value(mem);
	n->cpu_milli = (uint32_t)json_integer_value(cpu);
	n->gpus = gpus ? (uint32_t)json_integer_value(gpus) : 0;
	n->last_heard_ms = loop_now_ms(c->loop);
	/* Without a list (a node asking for its subnet before it knows its sandboxes), the
	 * pool stays as it is, and a new leader still waits for the list. */
	if (json_object_get(body, "sandboxes")) {
		n->rejoin = false;
		adopt_listed(c, n, json_object_get(body, "sandboxes"));
	}
	event_log_publish(c->events, "node",
			  json_pack("{s:s,s:i,s:s,s:s,s:s}", "op", "join", "index", n->idx, "name",
				    n->name, "address", n->address, "subnet", n->subnet));
	pr_info("cluster: node %s (%u) at %s: %u MB, %u mCPU, %u GPUs", n->name, n->idx, n->address,
		n->memory_mb, n->cpu_milli, n->gpus);
	if (c->hooks.registered)
		c->hooks.registered(c->hooks.data, n);
	return n;
}

int cluster_heartbeat(struct cluster *c, struct cnode *n, const json_t *body, json_t *unknown,
		      const char **why)
{
	json_t *list = json_object_get(body, "sandboxes"), *e, *stem = json_object_get(body, "stem_cells");
	uint64_t now = loop_now_ms(c->loop);
	size_t i;

	if ((list && !json_is_array(list)) || (stem && !json_is_object(stem))) {
		*why = "sandboxes must be an array and stem_cells an object";
		return -EINVAL;
	}
	n->last_heard_ms = now;
	if (n->lost) {
		n->lost = false;
		pr_info("cluster: node %s is back", n->name);
		/* The other nodes route to its sandbox subnet again. */
		event_log_publish(c->events, "node",
				  json_pack("{s:s,s:i,s:s,s:s,s:s}", "op", "join", "index", n->idx,
					    "name", n->name, "address", n->address, "subnet",
					    n->subnet));
	}
	json_decref(n->stem_cells);
	n->stem_cells = json_incref(stem);
	json_array_foreach(list, i, e) {
		struct gsandbox *s = cluster_sandbox(c, json_obj_str(e, "id") ?: "");
		json_t *inflight = json_object_get(e, "inflight"), *idle = json_object_get(e, "idle_ms");

		if (!s && unknown && json_obj_str(e, "id") &&
		    json_string_length(json_object_get(e, "id")) <= SANDBOX_ID_CHARS)
			json_array_append(unknown, json_object_get(e, "id"));
		/* Only its own sandboxes, and only sane numbers: a confused node corrupts nothing. */
		if (!s || s->node != n->idx || !in_range(inflight, 1 << 20) ||
		    !in_range(idle, 1ll << 40))
			continue;
		s->inflight = (uint32_t)json_integer_value(inflight);
		if ((uint64_t)json_integer_value(idle) < now - s->last_used_ms)
			s->last_used_ms = now - (uint64_t)json_integer_value(idle);
		if (s->state == GS_DRAINING && !s->inflight)
			s->reported_idle_since_mark = true;
	}
	return 0;
}

int cluster_sandbox_report(struct cluster *c, struct cnode *n, struct gsandbox *s,
			   const json_t *body, const char **why)
{
	const char *state = json_obj_str(body, "state");
	json_t *addr = json_object_get(body, "addr"), *port = json_object_get(body, "port");

	if (s->node != n->idx) {
		*why = "the sandbox is another node's";
		return -EPERM;
	}
	if (!state) {
		*why = "state is required";
		return -EINVAL;
	}
	if (!strcmp(state, "warm")) {
		if (!small_string(addr, sizeof(s->addr)) || !in_range(port, 65535)) {
			*why = "a warm sandbox needs addr and port";
			return -EINVAL;
		}
		if (s->state != GS_STARTING) {
			*why = "the sandbox is not starting";
			return -EALREADY;
		}
		snprintf(s->addr, sizeof(s->addr), "%s", json_string_value(addr));
		s->port = (uint16_t)json_integer_value(port);
		s->state = GS_WARM;
		s->last_used_ms = loop_now_ms(c->loop);
		publish_sandbox(c, s, "warm");
		return 0;
	}
	if (!strcmp(state, "failed") || !strcmp(state, "removed")) {
		json_t *error = json_object_get(body, "error");
		const char *message = json_obj_str(body, "message");

		if (!strcmp(state, "failed")) {
			/* Nodes waiting for it fail their activations with the same result. */
			json_t *ev = json_pack("{s:s,s:o}", "op", "failed", "sandbox",
					       cluster_sandbox_json(s));

			if (message && strlen(message) < 1024)
				json_object_set_new(ev, "message", json_string(message));
			if (json_is_object(error) && json_object_size(error) < 64)
				json_object_set(ev, "error", error);
			if (json_is_true(json_object_get(body, "whisk")))
				json_object_set_new(ev, "whisk", json_true());
			event_log_publish(c->events, "sandbox", ev);
		}
		cluster_remove(c, s, state);
		return 0;
	}
	*why = "state must be warm, failed or removed";
	return -EINVAL;
}

int cluster_unmark(struct cluster *c, struct gsandbox *s)
{
	if (s->state != GS_DRAINING)
		return s->state == GS_WARM ? 0 : -EALREADY;
	s->state = GS_WARM;
	s->last_used_ms = loop_now_ms(c->loop);
	s->reported_idle_since_mark = false;
	publish_sandbox(c, s, "warm");
	return 0;
}

json_t *cluster_pool_json(struct cluster *c)
{
	json_t *nodes = json_array(), *sandboxes = json_array();

	for (unsigned i = 1; i <= CLUSTER_MAX_NODES; i++) {
		struct cnode *n = c->nodes[i];

		if (!n)
			continue;
		json_array_append_new(
			nodes, json_pack("{s:i,s:s,s:s,s:s,s:i,s:i,s:i,s:i,s:i,s:b,s:o}", "index",
					 n->idx, "name", n->name, "address", n->address, "subnet",
					 n->subnet, "memory_mb", n->memory_mb, "cpu_milli",
					 n->cpu_milli, "gpus", n->gpus, "used_memory_mb",
					 n->used_memory_mb, "used_cpu_milli", n->used_cpu_milli,
					 "lost", n->lost, "stem_cells",
					 n->stem_cells ? json_incref(n->stem_cells) : json_object()));
	}
	for (struct gsandbox *s = c->sandboxes; s; s = s->next)
		json_array_append_new(sandboxes, cluster_sandbox_json(s));
	return json_pack("{s:I,s:o,s:o}", "version", (json_int_t)event_log_version(c->events),
			 "nodes", nodes, "sandboxes", sandboxes);
}

void cluster_free_memory(struct cluster *c, uint64_t *total_free, uint64_t *largest_free)
{
	*total_free = *largest_free = 0;
	for (unsigned i = 1; i <= CLUSTER_MAX_NODES; i++) {
		struct cnode *n = c->nodes[i];
		uint64_t f;

		if (!n || n->lost)
			continue;
		f = n->memory_mb > n->used_memory_mb ? n->memory_mb - n->used_memory_mb : 0;
		*total_free += f;
		if (f > *largest_free)
			*largest_free = f;
	}
}

double cluster_fragmentation(struct cluster *c)
{
	uint64_t total, largest;

	cluster_free_memory(c, &total, &largest);
	return total ? 1.0 - (double)largest / (double)total : 0.0;
}

static void node_lost(struct cluster *c, struct cnode *n)
{
	struct gsandbox *s = c->sandboxes, *next;

	n->lost = true;
	c->lost_nodes++;
	pr_warn("cluster: node %s (%u) lost: no word for %u ms; its sandboxes go", n->name, n->idx,
		c->cfg.node_lost_ms);
	for (; s; s = next) {
		next = s->next;
		if (s->node == n->idx)
			cluster_remove(c, s, "node lost");
	}
	n->used_memory_mb = n->used_cpu_milli = n->used_gpus = 0;
	event_log_publish(c->events, "node",
			  json_pack("{s:s,s:i,s:s}", "op", "lost", "index", n->idx, "name", n->name));
}

static void on_tick(struct loop *loop, void *data);

static void tick_later(struct cluster *c)
{
	c->tick = loop_timer_add(c->loop, TICK_MS, on_tick, c);
	c->tick_due_ms = clock_mono_ms() + TICK_MS; /* as the timer reckons it */
}

/* t moved later by d, but not past now. */
static uint64_t later_by(uint64_t t, uint64_t d, uint64_t now)
{
	return t + d < now ? t + d : now;
}

/*
 * Time this loop did not run (the process stopped, its machine frozen, or one piece of
 * work holding the loop) is time nobody listened: a node whose heartbeats wait unread in
 * its connection is not silent, and a start whose report waits is not late. That time is
 * given back to both, so that a controller coming back does not drop every node's
 * sandboxes before it has read what the nodes said meanwhile.
 */
static void forgive_absence(struct cluster *c, uint64_t now)
{
	uint64_t away = now > c->tick_due_ms ? now - c->tick_due_ms : 0;
	struct gsandbox *s;

	if (away <= TICK_MS)
		return;
	pr_warn("cluster: this controller did not run for %llu ms; nodes and starts get that time "
		"back", (unsigned long long)away);
	for (unsigned i = 1; i <= CLUSTER_MAX_NODES; i++)
		if (c->nodes[i] && !c->nodes[i]->lost)
			c->nodes[i]->last_heard_ms = later_by(c->nodes[i]->last_heard_ms, away, now);
	for (s = c->sandboxes; s; s = s->next)
		if (s->state == GS_STARTING)
			s->created_ms = later_by(s->created_ms, away, now);
}

static void on_tick(struct loop *loop, void *data)
{
	struct cluster *c = data;
	uint64_t now = loop_now_ms(loop);
	struct gsandbox *s, *next;

	c->tick = NULL;
	if (c->standby)
		goto out;
	forgive_absence(c, now);
	for (unsigned i = 1; i <= CLUSTER_MAX_NODES; i++)
		if (c->nodes[i] && !c->nodes[i]->lost &&
		    now - c->nodes[i]->last_heard_ms > c->cfg.node_lost_ms)
			node_lost(c, c->nodes[i]);
	/* A node that vanished mid-allocation leaves a start that never ends. */
	for (s = c->sandboxes; s; s = next) {
		next = s->next;
		if (s->state == GS_STARTING && now - s->created_ms > c->cfg.start_timeout_ms)
			cluster_remove(c, s, "start timed out");
	}
	gc_tick(c);
out:
	tick_later(c);
}

struct cluster *cluster_new(struct loop *loop, struct event_log *events,
			    const struct cluster_config *cfg)
{
	struct cluster *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->loop = loop;
	c->events = events;
	c->cfg = *cfg;
	if (!c->cfg.policy)
		c->cfg.policy = &gc_policy_compact;
	tick_later(c);
	return c;
}

void cluster_free(struct cluster *c)
{
	if (!c)
		return;
	loop_timer_cancel(c->loop, c->tick);
	while (c->sandboxes) {
		struct gsandbox *s = c->sandboxes;

		c->sandboxes = s->next;
		free(s);
	}
	for (unsigned i = 1; i <= CLUSTER_MAX_NODES; i++) {
		if (c->nodes[i])
			json_decref(c->nodes[i]->stem_cells);
		free(c->nodes[i]);
	}
	free(c);
}
