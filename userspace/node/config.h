/* SPDX-License-Identifier: Apache-2.0 */
/* xwhisk-node's settings: defaults, the environment, then the command line (--help). */
#ifndef XWHISK_NODE_CONFIG_H
#define XWHISK_NODE_CONFIG_H

#include <stdbool.h>

#include "node/node.h"

/* What the command line asks besides settings. */
struct node_flags {
	bool reset_maps; /* remove the pinned maps first */
	bool destroy;    /* uninstall: remove sandboxes and maps, then exit */
};

/* Fills cfg and flags. -1 to go on; otherwise the exit code (--help, a bad option, no
 * node token). */
int node_config_load(struct node_config *cfg, int argc, char **argv, struct node_flags *flags);
/* The sandboxes' subnet the controller gave (subnet outlives cfg), and what follows. */
void node_config_set_subnet(struct node_config *cfg, const char *subnet);

#endif
