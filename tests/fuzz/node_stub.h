/* SPDX-License-Identifier: Apache-2.0 */
/*
 * For the targets that link node code (libnode.a) without the node's main.c: node_post
 * hands work to the manager thread, which a target never has. Nothing a target feeds
 * reaches it; if something does, that is a harness bug to see at once.
 */
#ifndef XWHISK_FUZZ_NODE_STUB_H
#define XWHISK_FUZZ_NODE_STUB_H

#include <stdio.h>
#include <stdlib.h>

#include "node/crossing.h"

int node_post(struct node *node, mailbox_fn fn, void *arg)
{
	fprintf(stderr, "fuzz: node_post reached from a target\n");
	abort();
}

#endif
