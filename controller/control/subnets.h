/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sandbox subnets for the local backend's nodes: the cluster's sandbox CIDR
 * (XWHISK_SANDBOX_CIDR) cut into one block per node (XWHISK_SANDBOX_NODE_PREFIX, /24 by
 * default). A node that registers without a subnet of its own gets the block stored for
 * its name, else the first free one, stored: the same block across re-registrations and
 * controller restarts, so that its sandboxes keep their addresses and the other nodes
 * route to them through it.
 */
#ifndef XWHISK_SUBNETS_H
#define XWHISK_SUBNETS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define SUBNET_TEXT 20 /* "255.255.255.255/32" */

struct subnet_plan {
	uint32_t network; /* host order */
	int prefix;       /* of the cluster's CIDR */
	int block;        /* of each node's block */
};

/* -EINVAL unless cidr parses and block lies in (prefix, 30] at most 20 bits below it. */
int subnet_plan_init(struct subnet_plan *sp, const char *cidr, unsigned block);
/* The first block that overlaps none of taken's values ({"node": "cidr"}); -ENOSPC. */
int subnet_plan_pick(const struct subnet_plan *sp, const json_t *taken, char *out, size_t len);
/*
 * The subnet of a registering node into out ("" when it has its own outside the plan):
 * its stored block; else the one it reports (a node that kept its block while the store
 * was lost), claimed when free and inside the plan; else a new block, stored.
 */
int subnet_plan_assign(const struct subnet_plan *sp, struct store *st, const char *node,
		       const char *reported, char *out, size_t len);

#endif
