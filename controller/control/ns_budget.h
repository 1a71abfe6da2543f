/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Cluster-wide namespace limits: the controller leases every live node a share of each
 * active namespace's limits (invocations and fires per minute, concurrent invocations)
 * and moves the shares toward demand. Nodes report per namespace, in their heartbeat, the
 * limits, what they used and what they were asked for; each answer carries that node's
 * shares of every active namespace, valid for lease_ms (the arithmetic: lib/budget.h).
 *
 * The shares the controller hands out never add up to more than a limit: a node is
 * granted its target only as far as the other nodes' current shares leave room, and a
 * node whose lease ran out, or that never had one, is counted at the fallback share it
 * then enforces (limit / live nodes). A node that must give up part of its share hears so
 * at its next heartbeat, and the others can grow at theirs. A single node gets the whole
 * limit.
 */
#ifndef XWHISK_NS_BUDGET_H
#define XWHISK_NS_BUDGET_H

#include <jansson.h>
#include <stdint.h>

#include "cluster.h"

#define NS_BUDGET_LEASE_MS_DEFAULT 10000

struct ns_budget;

struct ns_budget *ns_budget_new(unsigned lease_ms);
void ns_budget_free(struct ns_budget *b);

/* Node n's report (its heartbeat's "namespaces", or NULL: nothing to report, as on
 * registration) taken in; *answer set to its "budget": {"nodes", "lease_ms", "shares":
 * {"ns": {"share": [..], "limits": [..]}}}, arrays in enum budget_kind order. -EINVAL and
 * *why on a malformed report. */
int ns_budget_heartbeat(struct ns_budget *b, const struct cluster *c, const struct cnode *n,
			const json_t *report, uint64_t now_ms, json_t **answer, const char **why);

#endif
