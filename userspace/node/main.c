// SPDX-License-Identifier: Apache-2.0
/* xwhisk-node: the per-node agent. The main thread runs the manager (sandboxes, the
 * controller's event stream, shipping records); worker threads route on :3233. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "node/activation/action_cache.h"
#include "node/manager/agent.h"
#include "node/ctlclient.h"
#include "node/manager/event_watch.h"
#include "node/ingress/forward.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "node/node.h"
#include "node/ingress/ns_table.h"
#include "node/manager/pool.h"
#include "rtnl.h"
#include "sandbox.h"
#include "node/activation/spool.h"
#include "util.h"
#include "node/ingress/worker.h"

#define DEFAULT_LISTEN "127.0.0.1:3233"
#define DEFAULT_CONTROLLER "http://127.0.0.1:3234"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: xwhisk-node [options]\n"
		"\n"
		"The xwhisk node agent: the OpenWhisk API ingress of this node (HTTP on :3233),\n"
		"routing invocations to warm sandboxes from pinned BPF maps.\n"
		"\n"
		"Options (each also read from the environment variable shown):\n"
		"  -l, --listen ADDR       ingress host:port (XWHISK_NODE_LISTEN, default %s)\n"
		"  -c, --controller URL    the controller (XWHISK_CONTROLLER, default %s)\n"
		"  -d, --data-dir DIR      state directory (XWHISK_DATA_DIR, default ./.xwhisk)\n"
		"  -w, --workers N         router threads (XWHISK_WORKERS, default: CPUs, at most %d)\n"
		"  -p, --pin-dir DIR       where the BPF maps are pinned (XWHISK_PIN_DIR, default %s)\n"
		"      --reset-maps        remove pinned maps first (all routing state is lost)\n"
		"      --destroy           remove this node's sandboxes and pinned maps, then exit\n"
		"  -v, --log-level LEVEL   error, warn, info or debug (XWHISK_LOG_LEVEL)\n"
		"  -h, --help              this text\n"
		"\n"
		"More settings, from the environment only:\n"
		"  XWHISK_NODE_TOKEN       the controller's node token (default: read from\n"
		"                          DIR/controller/node.token, as in the embedded system)\n"
		"  XWHISK_NODE_MEMORY_MB   memory for sandboxes on this node (default 8192)\n"
		"  XWHISK_QUEUE_MAX        activations waiting per action and worker (default 256)\n"
		"  XWHISK_AUTH_TTL_S       seconds a checked credential is trusted (default 60)\n"
		"  XWHISK_PREWARM          stem cells per kind, e.g. nodejs:20=2,python:3=2\n"
		"  XWHISK_RUNTIMES         the runtimes manifest (default <bindir>/runtimes/runtimes.json)\n"
		"  XWHISK_SANDBOX_SUBNET, XWHISK_SANDBOX_BRIDGE   the sandboxes' network\n"
		"  XWHISK_NODE_NAME        this node's name in the cluster (default: the hostname)\n"
		"  XWHISK_NODE_ADDRESS     its ingress as others reach it (default: --listen)\n"
		"  XWHISK_NODE_GPUS        GPUs it offers (default 0)\n"
		"  XWHISK_CGROUP_PARENT    the sandboxes' cgroup parent; absolute (/xwhisk) under a\n"
		"                          supervisor that kills the node's cgroup (pods, systemd)\n",
		DEFAULT_LISTEN, DEFAULT_CONTROLLER, NODE_MAX_WORKERS, XW_PIN_DIR);
}

int node_post(struct node *node, mailbox_fn fn, void *arg)
{
	return mailbox_post(node->mailbox, fn, arg);
}

static int load_token(struct node_config *cfg)
{
	const char *env = getenv("XWHISK_NODE_TOKEN");
	char path[PATH_MAX], *text;

	if (env && *env) {
		snprintf(cfg->node_token, sizeof(cfg->node_token), "%s", env);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/controller/node.token", cfg->data_dir);
	text = file_read_all(path, NULL);
	if (!text) {
		pr_err("no node token: set XWHISK_NODE_TOKEN or start the controller with the same "
		       "data directory");
		return -ENOENT;
	}
	snprintf(cfg->node_token, sizeof(cfg->node_token), "%.64s", text);
	cfg->node_token[strcspn(cfg->node_token, "\r\n")] = '\0';
	free(text);
	return 0;
}

static void on_event(const json_t *ev, void *data)
{
	struct node *node = data;
	const char *type = json_obj_str(ev, "type");

	if (!strcmp(type, "entity"))
		action_cache_invalidate(node->actions, json_obj_str(ev, "docid") ?: "");
	else if (!strcmp(type, "resync"))
		action_cache_invalidate(node->actions, NULL);
	pool_event(node, ev);
}

static void on_signal(struct loop *loop, int signo, void *data)
{
	pr_info("signal %d: stopping", signo);
	loop_stop(loop);
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

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "controller", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "workers", required_argument, NULL, 'w' },
		{ "pin-dir", required_argument, NULL, 'p' },
		{ "reset-maps", no_argument, NULL, 'R' },
		{ "destroy", no_argument, NULL, 'D' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const int signals[] = { SIGINT, SIGTERM };
	struct node node = { 0 };
	struct node_config *cfg = &node.cfg;
	struct ctlclient *cc = NULL;
	struct agent *agent = NULL;
	char hostname[64];
	char runtimes[PATH_MAX], proxy[PATH_MAX], path[PATH_MAX];
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	bool reset_maps = false, destroy = false;
	int opt, err, level;

	log_init("xwhisk-node");
	cfg->listen = env_or("XWHISK_NODE_LISTEN", DEFAULT_LISTEN);
	cfg->controller_url = env_or("XWHISK_CONTROLLER", DEFAULT_CONTROLLER);
	cfg->data_dir = env_or("XWHISK_DATA_DIR", ".xwhisk");
	cfg->pin_dir = env_or("XWHISK_PIN_DIR", XW_PIN_DIR);
	cfg->workers = env_unsigned("XWHISK_WORKERS", cpus > 0 ? (unsigned)cpus : 1);
	cfg->memory_mb = env_unsigned("XWHISK_NODE_MEMORY_MB", 8192);
	cfg->queue_max = env_unsigned("XWHISK_QUEUE_MAX", 256);
	cfg->auth_ttl_s = env_unsigned("XWHISK_AUTH_TTL_S", 60);
	cfg->subnet = getenv("XWHISK_SANDBOX_SUBNET");
	if (gethostname(hostname, sizeof(hostname)))
		snprintf(hostname, sizeof(hostname), "node");
	hostname[sizeof(hostname) - 1] = '\0';
	cfg->name = env_or("XWHISK_NODE_NAME", hostname);
	cfg->gpus = env_unsigned("XWHISK_NODE_GPUS", 0);
	cfg->cgroup_parent = getenv("XWHISK_CGROUP_PARENT");
	cfg->bridge = getenv("XWHISK_SANDBOX_BRIDGE");
	while ((opt = getopt_long(argc, argv, "l:c:d:w:p:v:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			cfg->listen = optarg;
			break;
		case 'c':
			cfg->controller_url = optarg;
			break;
		case 'd':
			cfg->data_dir = optarg;
			break;
		case 'w':
			cfg->workers = (unsigned)atoi(optarg);
			break;
		case 'p':
			cfg->pin_dir = optarg;
			break;
		case 'R':
			reset_maps = true;
			break;
		case 'D':
			destroy = true;
			break;
		case 'v':
			level = log_parse_level(optarg);
			if (level < 0) {
				fprintf(stderr, "unknown log level '%s'\n", optarg);
				return 2;
			}
			log_set_level((enum log_level)level);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	/* What other nodes and the controller call this node's ingress. */
	cfg->advertise = env_or("XWHISK_NODE_ADDRESS", cfg->listen);
	if (cfg->workers < 1)
		cfg->workers = 1;
	if (cfg->workers > NODE_MAX_WORKERS)
		cfg->workers = NODE_MAX_WORKERS;
	snprintf(runtimes, sizeof(runtimes), "%s/runtimes/runtimes.json", exe_dir());
	snprintf(proxy, sizeof(proxy), "%s/xwhisk-proxy", exe_dir());
	cfg->runtimes = env_or("XWHISK_RUNTIMES", runtimes);
	cfg->proxy_bin = env_or("XWHISK_PROXY", proxy);
	cfg->api_host = getenv("XWHISK_API_HOST");
	signal(SIGPIPE, SIG_IGN);
	xw_bpf_setup_logging();

	if (url_host_port(cfg->controller_url, cfg->controller_host, sizeof(cfg->controller_host),
			  &cfg->controller_port)) {
		pr_err("bad controller address '%s'", cfg->controller_url);
		return 2;
	}
	err = load_token(cfg);
	if (err && !destroy)
		return 1;
	snprintf(path, sizeof(path), "%s/node", cfg->data_dir);
	err = mkdir_p(path, 0700);
	if (err) {
		pr_err("cannot create %s: %s", path, strerror(-err));
		return 1;
	}
	if (!realpath(cfg->data_dir, cfg->data_dir_abs))
		snprintf(cfg->data_dir_abs, sizeof(cfg->data_dir_abs), "%s", cfg->data_dir);
	if (reset_maps)
		(void)xw_maps_unpin(cfg->pin_dir);
	err = xw_maps_open(cfg->pin_dir, &node.maps);
	if (err)
		goto out;
	reset_inflight(node.maps);
	snprintf(path, sizeof(path), "%s/node/namespaces", cfg->data_dir);
	err = ns_table_open(path, &node.ns);
	if (err)
		goto out;
	err = -ENOMEM;
	node.started_ms = clock_real_ms();
	node.loop = loop_new();
	if (!node.loop)
		goto out;
	node.mailbox = mailbox_new(node.loop);
	node.actions = action_cache_new(node.maps);
	cc = ctlclient_new(node.loop, cfg->controller_host, cfg->controller_port, cfg->node_token);
	if (!node.mailbox || !node.actions || !cc)
		goto out;
	snprintf(path, sizeof(path), "%s/node/spool", cfg->data_dir);
	node.shipper = shipper_new(node.loop, node.mailbox, path, cc);
	if (!node.shipper)
		goto out;
	err = pool_new(&node, cc, &node.pool);
	if (err)
		goto out;
	if (destroy) {
		/* Uninstall: the sandboxes, then the maps that routed to them. */
		err = pool_destroy_all(node.pool, 10000);
		if (err)
			pr_warn("some sandboxes were still being cleaned up");
		pool_free(node.pool);
		node.pool = NULL;
		remove_bridge(cfg->bridge ? cfg->bridge : SANDBOX_DEFAULT_BRIDGE);
		xw_maps_close(node.maps);
		node.maps = NULL;
		err = xw_maps_unpin(cfg->pin_dir);
		goto out;
	}
	node.watch = event_watch_new(node.loop, cc, on_event, &node);
	if (!node.watch) {
		err = -ENOMEM;
		goto out;
	}
	err = agent_start(&node, cc, &agent);
	if (err)
		goto out;
	/* Before any worker writes: what the previous run left half done gets its record. */
	snprintf(path, sizeof(path), "%s/node/spool", cfg->data_dir);
	(void)spool_recover(path, NODE_MAX_WORKERS);
	for (unsigned i = 0; i < cfg->workers; i++) {
		err = worker_start(&node, i, &node.workers[i]);
		if (err)
			goto out;
		node.nworkers++;
	}
	err = loop_add_signals(node.loop, signals, 2, on_signal, NULL);
	if (err)
		goto out;
	pr_info("serving on http://%s with %u workers, controller %s, maps in %s", cfg->listen,
		node.nworkers, cfg->controller_url, cfg->pin_dir);
	err = loop_run(node.loop);
out:
	for (unsigned i = 0; i < node.nworkers; i++)
		worker_stop(node.workers[i]);
	agent_free(agent);
	event_watch_free(node.watch);
	pool_free(node.pool);
	shipper_free(node.shipper);
	ctlclient_free(cc);
	action_cache_free(node.actions);
	mailbox_free(node.mailbox);
	loop_free(node.loop);
	ns_table_free(node.ns);
	xw_maps_close(node.maps);
	return err ? 1 : 0;
}
