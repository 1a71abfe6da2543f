/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The sandbox subnet of a node that sets none (XWHISK_SANDBOX_SUBNET unset): the block
 * the controller gave it before (kept in DIR/node/subnet), else the controller's answer to
 * a first registration (its block of XWHISK_SANDBOX_CIDR), else the sandbox backend's
 * default. Needed before the sandbox pool exists: the bridge and every sandbox address
 * come from it.
 */
#ifndef XWHISK_NODE_SUBNET_H
#define XWHISK_NODE_SUBNET_H

#include <jansson.h>

#include "node/ctlclient.h"
#include "node/node.h"

/* Sets node->cfg.subnet (and what follows from it) unless it is set already; cc NULL:
 * only a kept block (an uninstall asks nobody). */
int node_subnet_obtain(struct node *node, struct ctlclient *cc);
/* A registration's answer: keeps a newly given block for the next start, and says when
 * it differs from the one in use. */
void node_subnet_answer(struct node *node, const json_t *answer);

#endif
