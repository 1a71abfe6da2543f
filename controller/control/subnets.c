// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <arpa/inet.h>

#include "log.h"
#include "subnets.h"
#include "util.h"

/* A plan of more blocks than this is a mistake (and a slow search). */
#define MAX_BLOCK_BITS 20
/* Other replicas may take a block between our read and our write: read again. */
#define ASSIGN_TRIES 4

int subnet_plan_init(struct subnet_plan *sp, const char *cidr, unsigned block)
{
	if (cidr_parse(cidr, &sp->network, &sp->prefix) || block > 30 ||
	    (int)block <= sp->prefix || (int)block - sp->prefix > MAX_BLOCK_BITS)
		return -EINVAL;
	sp->block = (int)block;
	return 0;
}

static void block_text(const struct subnet_plan *sp, uint32_t i, char *out, size_t len)
{
	struct in_addr a = { .s_addr = htonl(sp->network + (i << (32 - sp->block))) };
	char addr[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &a, addr, sizeof(addr));
	snprintf(out, len, "%s/%d", addr, sp->block);
}

int subnet_plan_pick(const struct subnet_plan *sp, const json_t *taken, char *out, size_t len)
{
	uint32_t count = 1u << (sp->block - sp->prefix);
	char cand[SUBNET_TEXT];

	for (uint32_t i = 0; i < count; i++) {
		const char *name;
		json_t *v;
		bool free_block = true;

		block_text(sp, i, cand, sizeof(cand));
		json_object_foreach((json_t *)taken, name, v)
			if (json_is_string(v) && cidr_overlap(cand, json_string_value(v)))
				free_block = false;
		if (free_block) {
			snprintf(out, len, "%s", cand);
			return 0;
		}
	}
	return -ENOSPC;
}

static bool in_plan(const struct subnet_plan *sp, const char *cidr)
{
	uint32_t net;
	int prefix;

	return !cidr_parse(cidr, &net, &prefix) && prefix >= sp->prefix &&
	       cidr_contains(sp->network, sp->prefix, net);
}

/* One round: read the stored blocks, then keep, claim or add one. */
static int assign_once(const struct subnet_plan *sp, struct store *st, const char *node,
		       const char *reported, char *out, size_t len)
{
	json_t *taken = NULL;
	const char *stored;
	int err = st->ops->node_subnet_list(st, &taken);

	if (err)
		return err;
	stored = json_string_value(json_object_get(taken, node));
	if (stored) {
		if (reported && strcmp(reported, stored))
			pr_warn("subnets: node %s uses %s, not its block %s", node, reported,
				stored);
		snprintf(out, len, "%s", stored);
	} else if (reported && !in_plan(sp, reported)) {
		out[0] = '\0'; /* its own, outside the cluster's CIDR: none of our business */
	} else if (reported) {
		err = st->ops->node_subnet_add(st, node, reported);
		if (err == -EEXIST)
			pr_warn("subnets: node %s reports %s, which overlaps another node's block",
				node, reported);
		snprintf(out, len, "%s", err ? "" : reported);
		err = err == -EEXIST ? 0 : err;
	} else {
		err = subnet_plan_pick(sp, taken, out, len);
		if (!err)
			err = st->ops->node_subnet_add(st, node, out);
		if (!err)
			pr_info("subnets: node %s gets the sandbox subnet %s", node, out);
	}
	json_decref(taken);
	return err;
}

int subnet_plan_assign(const struct subnet_plan *sp, struct store *st, const char *node,
		       const char *reported, char *out, size_t len)
{
	int err = -EEXIST;

	for (int i = 0; i < ASSIGN_TRIES && err == -EEXIST; i++)
		err = assign_once(sp, st, node, reported, out, len);
	if (err == -ENOSPC)
		pr_err("subnets: no block left for node %s: widen XWHISK_SANDBOX_CIDR", node);
	return err;
}
