/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xwhisk-node's shared state. The main thread runs the manager loop (sandboxes, the
 * controller's event stream, shipping activation records); worker threads each run a
 * router loop on the ingress port (SO_REUSEPORT). Workers share routing state through the
 * pinned BPF maps (atomics on memory-mapped slots and namespaces) and the action cache.
 */
#ifndef XWHISK_NODE_H
#define XWHISK_NODE_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "http.h"
#include "loop.h"
#include "mailbox.h"
#include "node/ctlclient.h"
#include "pinned_maps.h"

#define NODE_MAX_WORKERS 16
/* exec (48 MB) plus parameters and annotations (1 MB each) plus JSON overhead: the
 * management calls the node passes on carry whole actions. */
#define NODE_MAX_BODY ((48u << 20) + (4u << 20))

struct node_config {
	const char *listen;
	const char *controller_url;
	const char *data_dir;
	const char *pin_dir;
	const char *runtimes;
	const char *proxy_bin;
	const char *api_host;  /* __OW_API_HOST inside sandboxes */
	char api_host_default[96];
	char sandbox_listen[80]; /* the ingress on the sandboxes' bridge, when the main one is
				  * on loopback where they cannot reach it ("": none) */
	unsigned ingress_port;
	unsigned drain_ms;      /* how long SIGTERM waits for activations in flight */
	bool ephemeral;         /* on exit, remove sandboxes, bridge, programs and maps */
	bool sock_msg;          /* /run bytes to own sandboxes by sk_msg redirect */
	bool accel_answer;      /* streaming answers straight to the client (accel_answer) */
	const char *bridge;    /* the sandboxes' bridge (NULL: the backend's default) */
	const char *subnet;    /* their addresses (NULL: the backend's default) */
	bool subnet_given;     /* the controller chose it (XWHISK_SANDBOX_SUBNET unset) */
	const char *name;      /* this node in the cluster */
	const char *cgroup_parent;
	char data_dir_abs[4096];
	const char *advertise; /* its ingress as others reach it */
	unsigned gpus;
	unsigned workers;
	unsigned memory_mb;     /* what this node's sandboxes may use in all */
	unsigned queue_max;     /* waiting activations per action and worker */
	unsigned parallel_starts; /* sandboxes of one action starting at once (0: no limit) */
	unsigned auth_ttl_s;    /* how long an authenticated credential is trusted */
	unsigned cache_bytes;   /* the response cache's budget (0: none) */
	char node_token[65];
	struct ctl_targets controllers; /* from controller_url; the current one shared */
};

struct action_cache;
struct wait_board;
struct result_cache;
struct ns_table;
struct pool;
struct shipper;
struct event_watch;
struct worker;
struct metrics;
struct xw_guard;
struct xw_msg;
struct routes;
struct budget_lease;

struct node {
	struct node_config cfg;
	struct loop *loop; /* the manager's */
	struct mailbox *mailbox;
	struct xw_maps *maps;
	struct ns_table *ns;
	struct action_cache *actions;
	struct wait_board *waits; /* who waits for which action, across workers */
	struct result_cache *results; /* the response cache (issue 14) */
	struct pool *pool;
	struct shipper *shipper;
	struct event_watch *watch;
	struct routes *routes;   /* to the other nodes' sandbox subnets */
	struct metrics *metrics;
	struct budget_lease *budget; /* this node's shares of namespace limits, or NULL */
	struct xw_guard *guard;  /* xdp_guard on the ingress interface, or NULL */
	struct xw_msg *sock_msg; /* sk_msg redirect to own sandboxes (XWHISK_SOCK_MSG), or NULL */
	unsigned guard_strikes;  /* refusals a second that put a source on its block list */
	unsigned guard_block_ms;
	struct worker *workers[NODE_MAX_WORKERS];
	unsigned nworkers;
	uint64_t started_ms;
};


#endif
