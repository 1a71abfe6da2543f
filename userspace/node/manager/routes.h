/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Routes to the other nodes' sandbox subnets, each through its node's address, so that
 * this node's routers reach every node's warm sandboxes (the local backend's cluster).
 * Learnt from the controller's "node" events (join: add or move the route; lost: remove
 * it) and from a resync's node list (its live nodes' routes added, its lost ones' removed;
 * a node it does not list keeps its route: a restarted controller lists only the nodes
 * that have registered again). Kept by node name: indexes change with the controller. Never for a subnet that overlaps this node's own,
 * nor through an address of this host (nodes sharing a host share its routes already);
 * a route to the same place that xwhisk did not add is left alone. Routes are marked
 * "proto 88" (ip route show proto 88). Manager thread only.
 */
#ifndef XWHISK_NODE_ROUTES_H
#define XWHISK_NODE_ROUTES_H

#include <jansson.h>
#include <stdbool.h>

#include "node/node.h"

#define ROUTES_PROTOCOL 88

struct routes;

struct routes *routes_new(const struct node_config *cfg);
/* remove: take this node's routes away too (an ephemeral node's exit). */
void routes_free(struct routes *rt, bool remove);
void routes_node_event(struct routes *rt, const json_t *ev);
/* nodes: the controller's list ({index, name, address, subnet, lost}). */
void routes_sync(struct routes *rt, const json_t *nodes);
/* Routes installed now. */
unsigned routes_count(const struct routes *rt);

#endif
