/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The node's membership in the cluster: it registers with the controller (name, ingress
 * address, capacity, its sandboxes' subnet and the sandboxes it already runs, so that a
 * restarted controller learns them again), then heartbeats with what its sandboxes do.
 * A controller that no longer knows the node (404) gets a fresh registration.
 */
#ifndef XWHISK_AGENT_H
#define XWHISK_AGENT_H

#include <jansson.h>
#include <stdint.h>

#include "node/ctlclient.h"
#include "node/node.h"

struct agent;

int agent_start(struct node *node, struct ctlclient *cc, struct agent **out);
void agent_free(struct agent *a);
/* A registration's body; subnet and sandboxes (taken) may be NULL: a registration
 * without sandboxes leaves the controller's pool as it is. */
json_t *agent_registration(struct node *node, const char *subnet, json_t *sandboxes);

#endif
