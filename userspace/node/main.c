// SPDX-License-Identifier: Apache-2.0
/* xwhisk-node: the per-node agent. The main thread runs the manager (sandboxes, the
 * controller's event stream, shipping records); worker threads route on :3233. */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/activation/action_cache.h"
#include "node/activation/result_cache.h"
#include "node/config.h"
#include "node/manager/agent.h"
#include "node/manager/budget_lease.h"
#include "node/ctlclient.h"
#include "node/manager/event_watch.h"
#include "guard.h"
#include "ipam.h"
#include "bpfload/sock_msg.h"
#include "pinned_maps.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "node/node.h"
#include "node/ingress/ns_table.h"
#include "node/manager/pool.h"
#include "node/manager/routes.h"
#include "node/manager/subnet.h"
#include "rtnl.h"
#include "sandbox.h"
#include "node/activation/spool.h"
#include "node/activation/wait_board.h"
#include "node/manager/shipper.h"
#include "util.h"
#include "node/ingress/worker.h"

int node_post(struct node *node, mailbox_fn fn, void *arg)
{
	return mailbox_post(node->mailbox, fn, arg);
}

static void on_event(const json_t *ev, void *data)
{
	struct node *node = data;
	const char *type = json_obj_str(ev, "type");

	if (!strcmp(type, "entity"))
		action_cache_invalidate(node->actions, json_obj_str(ev, "docid") ?: "");
	else if (!strcmp(type, "resync"))
		action_cache_invalidate(node->actions, NULL);
	else if (!strcmp(type, "node"))
		routes_node_event(node->routes, ev);
	pool_event(node, ev);
}

/* An entity changed: the answers built from it go with the resolved actions. */
static void drop_results(const char *docid, void *data)
{
	result_cache_invalidate(data, docid);
}

#define DRAIN_CHECK_MS 50
/* A terminal's Ctrl-C reaches the node and scripts/xwhisk-run, which passes it on: a
 * second signal this soon is the same request to stop, not an impatient user. */
#define SIGNAL_ECHO_MS 1000

struct drain {
	struct node *node;
	uint64_t deadline_ms;
	uint64_t started_ms;
	bool started;
};

static unsigned activations_in_flight(const struct node *node)
{
	unsigned n = 0;

	for (unsigned i = 0; i < node->nworkers; i++)
		n += worker_activations(node->workers[i]);
	return n;
}

static void drain_check(struct loop *loop, void *data)
{
	struct drain *d = data;
	unsigned left = activations_in_flight(d->node);

	if (!left) {
		pr_info("drained: stopping");
		loop_stop(loop);
	} else if (clock_mono_ms() >= d->deadline_ms) {
		pr_warn("%u activations still running after %u ms: stopping (their records say "
			"interrupted)",
			left, d->node->cfg.drain_ms);
		loop_stop(loop);
	} else if (!loop_timer_add(loop, DRAIN_CHECK_MS, drain_check, d)) {
		loop_stop(loop);
	}
}

/* The first signal drains (no new requests; what runs may finish within drain_ms), a
 * second one stops at once. */
static void on_signal(struct loop *loop, int signo, void *data)
{
	struct drain *d = data;

	if (d->started) {
		if (clock_mono_ms() - d->started_ms < SIGNAL_ECHO_MS)
			return;
		pr_info("signal %d again: stopping now", signo);
		loop_stop(loop);
		return;
	}
	d->started = true;
	d->started_ms = clock_mono_ms();
	d->deadline_ms = clock_mono_ms() + d->node->cfg.drain_ms;
	pr_info("signal %d: draining (%u activations in flight, at most %u ms)", signo,
		activations_in_flight(d->node), d->node->cfg.drain_ms);
	for (unsigned i = 0; i < d->node->nworkers; i++)
		worker_drain(d->node->workers[i]);
	drain_check(loop, d);
}

/* Uninstall: the sandboxes' bridge goes with them. */
static void remove_bridge(const char *name)
{
	struct rtnl nl;
	int err;

	if (rtnl_open(&nl))
		return;
	err = rtnl_link_del(&nl, name);
	if (err && err != -ENODEV)
		pr_warn("cannot remove the bridge %s: %s", name, strerror(-err));
	rtnl_close(&nl);
}

/* The previous process's activations died with it: nothing of it is in flight. */
static void reset_inflight(struct xw_maps *maps)
{
	for (uint32_t i = 0; i < XW_MAX_NAMESPACES; i++)
		__atomic_store_n(&maps->namespaces[i].inflight, 0, __ATOMIC_SEQ_CST);
}

/* XWHISK_SOCK_MSG: /run bytes between the workers' pooled connections and the node's own
 * sandboxes go by sk_msg redirect (sockops_msg adds the sandboxes' ends, the workers their
 * own once idle). Where it cannot be had (no cgroup v2, no sockmap), the node says so once
 * and uses TCP. */
static void node_attach_sock_msg(struct node *node)
{
	const char *subnet = node->cfg.subnet ? node->cfg.subnet : SANDBOX_DEFAULT_SUBNET;
	char cgroup[512];
	struct ipam ip;
	int err;

	if (!node->cfg.sock_msg)
		return;
	err = ipam_init(&ip, subnet) ?: xw_cgroup2_mount(cgroup, sizeof(cgroup)) ?:
	      xw_msg_open(node->cfg.pin_dir, &node->sock_msg);
	if (!err)
		/* the node reaches its sandboxes from the bridge's address, the gateway */
		err = xw_msg_attach_sandboxes(node->sock_msg, cgroup, ip.network, ip.prefix,
					      ntohl(ipam_gateway(&ip)), SANDBOX_PORT);
	ipam_free(&ip);
	if (err) {
		pr_warn("sock_msg: %s; /run goes by TCP", strerror(-err));
		xw_msg_close(node->sock_msg);
		node->sock_msg = NULL;
		return;
	}
	pr_info("sock_msg: /run to the sandboxes of %s by sk_msg redirect", subnet);
}

/* xdp_guard on the ingress interface (XWHISK_XDP_IFACE): where it cannot be attached
 * (an old kernel, no capability), the node says so once and serves unguarded. */
static void node_attach_guard(struct node *node)
{
	struct xw_guard_config gcfg;
	int err = xw_guard_config_from_env(&gcfg, (uint16_t)node->cfg.ingress_port,
					   node->cfg.pin_dir);

	if (err == -ENOENT)
		return;
	if (err) {
		pr_warn("guard: bad XWHISK_XDP_*/XWHISK_GUARD_* setting: %s; serving unguarded",
			strerror(-err));
		return;
	}
	node->guard_block_ms = gcfg.block_ms;
	node->guard_strikes = env_unsigned("XWHISK_GUARD_STRIKES", 50);
	if (xw_guard_attach(&gcfg, &node->guard))
		node->guard = NULL; /* the loader said why */
}

/* Uninstall: the sandboxes, then the bridge and the maps that routed to them. */
static int node_destroy(struct node *node)
{
	const struct node_config *cfg = &node->cfg;
	const char *iface = getenv("XWHISK_XDP_IFACE");

	if (pool_destroy_all(node->pool, 10000))
		pr_warn("some sandboxes were still being cleaned up");
	pool_free(node->pool);
	node->pool = NULL;
	remove_bridge(cfg->bridge ? cfg->bridge : SANDBOX_DEFAULT_BRIDGE);
	xw_guard_close(node->guard);
	node->guard = NULL;
	if (iface && *iface)
		(void)xw_guard_detach(iface, cfg->pin_dir);
	xw_maps_close(node->maps);
	node->maps = NULL;
	return xw_maps_unpin(cfg->pin_dir);
}

/* The state every thread shares: maps, namespaces, the action cache, the manager's loop. */
static int node_open_state(struct node *node, struct node_flags *flags)
{
	struct node_config *cfg = &node->cfg;
	char path[PATH_MAX];
	int err;

	snprintf(path, sizeof(path), "%s/node", cfg->data_dir);
	err = mkdir_p(path, 0700);
	if (err) {
		pr_err("cannot create %s: %s", path, strerror(-err));
		return err;
	}
	if (!realpath(cfg->data_dir, cfg->data_dir_abs))
		snprintf(cfg->data_dir_abs, sizeof(cfg->data_dir_abs), "%s", cfg->data_dir);
	if (flags->reset_maps)
		(void)xw_maps_unpin(cfg->pin_dir);
	err = xw_maps_open(cfg->pin_dir, &node->maps);
	if (err)
		return err;
	reset_inflight(node->maps);
	if (!flags->destroy)
		node_attach_guard(node);
	snprintf(path, sizeof(path), "%s/node/namespaces", cfg->data_dir);
	err = ns_table_open(path, &node->ns);
	if (err)
		return err;
	node->started_ms = clock_real_ms();
	node->loop = loop_new();
	if (!node->loop)
		return -ENOMEM;
	node->mailbox = mailbox_new(node->loop);
	node->actions = action_cache_new(node->maps);
	node->waits = wait_board_new();
	if (!node->mailbox || !node->actions || !node->waits)
		return -ENOMEM;
	/* XWHISK_CACHE_BYTES=0: no response cache at all, not one that never keeps. */
	if (!cfg->cache_bytes)
		return 0;
	node->results = result_cache_new(cfg->cache_bytes, XW_MAX_NAMESPACES);
	if (!node->results)
		return -ENOMEM;
	action_cache_on_invalidate(node->actions, drop_results, node->results);
	return 0;
}

/* The manager's parts and the workers; then the manager loop runs until a signal. */
static int node_serve(struct node *node, struct ctlclient *cc, struct agent **agent)
{
	const int signals[] = { SIGINT, SIGTERM };
	const struct node_config *cfg = &node->cfg;
	static struct drain drain;
	char path[PATH_MAX];
	int err;

	node->watch = event_watch_new(node->loop, cc, on_event, node);
	if (!node->watch)
		return -ENOMEM;
	err = budget_lease_new(node, &node->budget);
	if (err)
		return err;
	err = agent_start(node, cc, agent);
	if (err)
		return err;
	/* Blocked before the workers exist, so that they inherit the mask: a SIGTERM taken
	 * by a worker thread would end the process on the spot, without the drain. */
	drain.node = node;
	err = loop_add_signals(node->loop, signals, 2, on_signal, &drain);
	if (err)
		return err;
	/* Before any worker writes: what the previous run left half done gets its record. */
	snprintf(path, sizeof(path), "%s/node/spool", cfg->data_dir);
	(void)spool_recover(path, NODE_MAX_WORKERS);
	for (unsigned i = 0; i < cfg->workers; i++) {
		err = worker_start(node, i, &node->workers[i]);
		if (err)
			return err;
		node->nworkers++;
	}
	pr_info("serving on http://%s with %u workers, controller %s, maps in %s", cfg->listen,
		node->nworkers, cfg->controller_url, cfg->pin_dir);
	return loop_run(node->loop);
}

int main(int argc, char **argv)
{
	struct node node = { 0 };
	struct node_flags flags = { 0 };
	struct ctlclient *cc = NULL;
	struct agent *agent = NULL;
	char path[PATH_MAX];
	int err;

	log_init("xwhisk-node");
	err = node_config_load(&node.cfg, argc, argv, &flags);
	if (err >= 0)
		return err;
	signal(SIGPIPE, SIG_IGN);
	xw_bpf_setup_logging();
	err = node_open_state(&node, &flags);
	if (err)
		goto out;
	err = -ENOMEM;
	cc = ctlclient_new(node.loop, &node.cfg.controllers, node.cfg.node_token);
	if (!cc)
		goto out;
	snprintf(path, sizeof(path), "%s/node/spool", node.cfg.data_dir);
	node.shipper = shipper_new(node.loop, node.mailbox, path, cc);
	if (!node.shipper)
		goto out;
	/* (an uninstall takes the subnet it kept: it asks nobody) */
	err = node_subnet_obtain(&node, flags.destroy ? NULL : cc);
	if (err)
		goto out;
	err = pool_new(&node, cc, &node.pool);
	if (err)
		goto out;
	err = -ENOMEM;
	node.routes = flags.destroy ? NULL : routes_new(&node.cfg);
	if (!node.routes && !flags.destroy)
		goto out;
	if (!flags.destroy)
		node_attach_sock_msg(&node);
	err = flags.destroy ? node_destroy(&node) : node_serve(&node, cc, &agent);
out:
	for (unsigned i = 0; i < node.nworkers; i++)
		worker_stop(node.workers[i]);
	node.nworkers = 0;
	/* make run's mode: nothing of this node outlives it. */
	if (node.cfg.ephemeral && node.pool && !flags.destroy) {
		pr_info("ephemeral: removing this node's sandboxes, bridge, programs and maps");
		agent_free(agent);
		agent = NULL;
		(void)node_destroy(&node);
	}
	agent_free(agent);
	budget_lease_free(node.budget);
	event_watch_free(node.watch);
	routes_free(node.routes, node.cfg.ephemeral);
	pool_free(node.pool);
	shipper_free(node.shipper);
	ctlclient_free(cc);
	action_cache_free(node.actions);
	wait_board_free(node.waits);
	result_cache_free(node.results);
	mailbox_free(node.mailbox);
	loop_free(node.loop);
	ns_table_free(node.ns);
	xw_guard_close(node.guard); /* its programs stay attached for the next start */
	xw_msg_close(node.sock_msg);
	xw_maps_close(node.maps);
	return err ? 1 : 0;
}
