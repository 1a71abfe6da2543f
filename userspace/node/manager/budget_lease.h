/* SPDX-License-Identifier: Apache-2.0 */
/*
 * This node's leases on namespace limits (cluster-wide limits, docs/ARCHITECTURE.md).
 * A namespace's own limits come with the controller's identity answer (and with every
 * lease); the heartbeat reports each active namespace's use and demand; the controller
 * answers with this node's share of every active namespace's limits, valid for lease_ms.
 * The throttles (activation/throttle.c) read what is written here into the "namespaces"
 * map: the share while the lease holds, then budget_fallback (limit / the nodes last
 * known, at least 1). A single node, or one never told of other nodes, enforces the whole
 * limits, as before there were leases.
 * Thread-safe: workers set limits, the manager thread reports, applies and expires.
 */
#ifndef XWHISK_BUDGET_LEASE_H
#define XWHISK_BUDGET_LEASE_H

#include <jansson.h>
#include <stdint.h>

#include "budget.h"
#include "node/node.h"

struct budget_lease;

/* Starts the expiry timer on node's manager loop. */
int budget_lease_new(struct node *node, struct budget_lease **out);
void budget_lease_free(struct budget_lease *l);

/* idx's namespace has these limits (from the controller): what this node enforces of them
 * goes into the map. node->budget may be NULL: the whole limits. */
void budget_lease_set_limits(struct node *node, uint32_t idx, const uint32_t limit[BUDGET_KINDS]);

/* The heartbeat's "namespaces": {"ns": {"limits": [..], "used": [..], "demand": [..]}} for
 * every namespace with activity, arrays in enum budget_kind order. used: admitted this
 * minute (rates), in flight (concurrency); demand: used plus the requests (rates) or 429s
 * (concurrency) lately: since the last report, or half the previous figure when more. */
json_t *budget_lease_report(struct budget_lease *l);

/* The controller's "budget": {"nodes": N, "lease_ms": T, "shares": {"ns": {"share": [..],
 * "limits": [..]}}}. NULL (an older or a standby controller): nothing changes, leases run
 * out. */
void budget_lease_apply(struct budget_lease *l, const json_t *budget);

/* What a node enforces of limit: share while the lease holds (expires_ms after now_ms),
 * else the fallback for the nodes it last knew. */
uint32_t budget_lease_enforced(uint32_t limit, uint32_t share, uint64_t expires_ms,
			       uint32_t nodes, uint64_t now_ms);

#endif
