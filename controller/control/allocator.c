// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "allocator.h"
#include "gc.h"
#include "json.h"
#include "log.h"
#include "util.h"

int alloc_request_parse(struct cluster *c, const json_t *body, struct alloc_request *req,
			const char **why)
{
	json_t *mem = json_object_get(body, "memory_mb"), *cpu = json_object_get(body, "cpu_milli");
	json_t *gpus = json_object_get(body, "gpus"), *conc = json_object_get(body, "concurrency");
	const char *node = json_obj_str(body, "node");

	memset(req, 0, sizeof(*req));
	if (!json_obj_copy_str(body, "subject", req->subject, sizeof(req->subject)) ||
	    !json_obj_copy_str(body, "docid", req->docid, sizeof(req->docid)) ||
	    !json_obj_copy_str(body, "kind", req->kind, sizeof(req->kind)) ||
	    !json_obj_copy_str(body, "action_id", req->action_id, sizeof(req->action_id)) ||
	    strspn(req->action_id, "0123456789abcdef") != strlen(req->action_id)) {
		*why = "subject, docid, kind and action_id (hex) are required";
		return -EINVAL;
	}
	if (!json_is_integer(mem) || json_integer_value(mem) <= 0 ||
	    json_integer_value(mem) > 1 << 20 ||
	    (cpu && (!json_is_integer(cpu) || json_integer_value(cpu) < 0 ||
		     json_integer_value(cpu) > 1 << 24)) ||
	    (gpus && (!json_is_integer(gpus) || json_integer_value(gpus) < 0 ||
		      json_integer_value(gpus) > 64)) ||
	    (conc && (!json_is_integer(conc) || json_integer_value(conc) <= 0 ||
		      json_integer_value(conc) > 100000))) {
		*why = "memory_mb, cpu_milli, gpus and concurrency must be plausible numbers";
		return -EINVAL;
	}
	req->revision = json_integer_value(json_object_get(body, "revision"));
	req->memory_mb = (uint32_t)json_integer_value(mem);
	/* OpenWhisk places by memory; CPU is a share the sandbox gets, not a reservation.
	 * Only a request that names CPU (or GPUs) reserves it. */
	req->cpu_milli = cpu ? (uint32_t)json_integer_value(cpu) : 0;
	req->gpus = gpus ? (uint32_t)json_integer_value(gpus) : 0;
	req->concurrency = conc ? (uint32_t)json_integer_value(conc) : 1;
	if (node) {
		struct cnode *n = cluster_node_by_name(c, node);

		req->prefer_node = n ? n->idx : 0;
	}
	if (c->hooks.locality)
		req->prefer_node = c->hooks.locality(c->hooks.data, req->prefer_node);
	return 0;
}

static bool fits(const struct cnode *n, const struct alloc_request *req)
{
	return !n->lost && n->memory_mb >= n->used_memory_mb + req->memory_mb &&
	       n->cpu_milli >= n->used_cpu_milli + req->cpu_milli &&
	       n->gpus >= n->used_gpus + req->gpus;
}

static bool has_stem_cell(const struct cnode *n, const char *kind)
{
	return json_integer_value(json_object_get(n->stem_cells, kind)) > 0;
}

/* Best fit: the node left with the least free memory; locality and stem cells first. */
static struct cnode *choose(struct cluster *c, const struct alloc_request *req)
{
	struct cnode *best = NULL;
	uint64_t best_score = UINT64_MAX;

	for (unsigned i = 1; i <= CLUSTER_MAX_NODES; i++) {
		struct cnode *n = c->nodes[i];
		uint64_t left, score;

		if (!n || !fits(n, req) || !cluster_node_reaches(c, req->prefer_node, (uint16_t)i) ||
		    (c->hooks.placeable && !c->hooks.placeable(c->hooks.data, n)))
			continue;
		left = n->memory_mb - n->used_memory_mb - req->memory_mb;
		score = ((uint64_t)(i != req->prefer_node) << 62) |
			((uint64_t)!has_stem_cell(n, req->kind) << 61) | left;
		if (score < best_score) {
			best_score = score;
			best = n;
		}
	}
	return best;
}

int allocate(struct cluster *c, const struct alloc_request *req, struct gsandbox **out)
{
	struct cnode *n;
	struct gsandbox *s;

	if (c->standby)
		return -EAGAIN;
	n = choose(c, req);
	if (!n) {
		/* Memory pressure: the GC policy picks idle and marked sandboxes to make room. */
		struct gsandbox *victims[256];
		uint16_t node = 0;
		size_t k = c->cfg.policy->victims(c, req->memory_mb, req->cpu_milli,
						  req->prefer_node, victims, 256, &node);

		for (size_t i = 0; i < k; i++)
			cluster_remove(c, victims[i], "memory pressure");
		n = k || node ? choose(c, req) : NULL;
		if (!n) {
			c->placement_failures++;
			return -ENOSPC;
		}
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	random_hex(s->id, SANDBOX_ID_CHARS);
	s->node = n->idx;
	memcpy(s->action_id, req->action_id, sizeof(s->action_id));
	memcpy(s->subject, req->subject, sizeof(s->subject));
	memcpy(s->docid, req->docid, sizeof(s->docid));
	memcpy(s->kind, req->kind, sizeof(s->kind));
	s->revision = req->revision;
	s->memory_mb = req->memory_mb;
	s->cpu_milli = req->cpu_milli;
	s->gpus = req->gpus;
	s->concurrency = req->concurrency;
	s->state = GS_STARTING;
	s->created_ms = s->last_used_ms = loop_now_ms(c->loop);
	n->used_memory_mb += s->memory_mb;
	n->used_cpu_milli += s->cpu_milli;
	n->used_gpus += s->gpus;
	cluster_add(c, s);
	c->placements++;
	publish_sandbox(c, s, "allocate");
	if (c->hooks.allocated)
		c->hooks.allocated(c->hooks.data, s);
	*out = s;
	return 0;
}
