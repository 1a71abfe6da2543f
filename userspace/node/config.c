// SPDX-License-Identifier: Apache-2.0
/* xwhisk-node's settings: defaults, the environment, then the command line. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "ipam.h"
#include "log.h"
#include "node/config.h"
#include "node/ingress/forward.h"
#include "sandbox.h"
#include "util.h"

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
		"  -c, --controller URL    the controller (XWHISK_CONTROLLER, default %s); several\n"
		"                          controllers on one store: URL,URL,... (the node calls\n"
		"                          the next one when one is unreachable or on standby)\n"
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
		"  XWHISK_PARALLEL_STARTS  sandboxes of one action started at once (default: half the\n"
		"                          CPUs; 0: as many as its waiting activations need)\n"
		"  XWHISK_AUTH_TTL_S       seconds a checked credential is trusted (default 60)\n"
		"  XWHISK_CACHE_BYTES      the response cache's memory (default 16 MB; 0: off)\n"
		"  XWHISK_PREWARM          stem cells per kind, e.g. nodejs:20=2,python:3=2\n"
		"  XWHISK_RUNTIMES         the runtimes manifest (default <bindir>/runtimes/runtimes.json)\n"
		"  XWHISK_SANDBOX_SUBNET, XWHISK_SANDBOX_BRIDGE   the sandboxes' network (subnet\n"
		"                          unset: the controller's block for this node, kept in\n"
		"                          DIR/node/subnet, else the default; the node routes to\n"
		"                          the other nodes' blocks through them)\n"
		"  XWHISK_SUBNET_WAIT_MS   how long a first start waits for that block (30000)\n"
		"  XWHISK_NODE_NAME        this node's name in the cluster (default: the hostname)\n"
		"  XWHISK_NODE_ADDRESS     its ingress as others reach it (default: --listen)\n"
		"  XWHISK_NODE_GPUS        GPUs it offers (default 0)\n"
		"  XWHISK_CGROUP_PARENT    the sandboxes' cgroup parent; absolute (/xwhisk) under a\n"
		"                          supervisor that kills the node's cgroup (pods, systemd)\n"
		"  XWHISK_DRAIN_MS         on SIGTERM/SIGINT, how long activations in flight may\n"
		"                          finish before the node exits (30000; a second signal: now)\n"
		"  XWHISK_EPHEMERAL        1: on exit remove this node's sandboxes, bridge, programs\n"
		"                          and maps (make run); 0: leave them to the next start to\n"
		"                          adopt (a DaemonSet, an upgrade) (default 0)\n"
		"  XWHISK_SOCK_MSG         1: /run bytes between the node and its sandboxes skip TCP\n"
		"                          (sk_msg redirect; cgroup v2 and BPF sockops); 0: by TCP,\n"
		"                          seen and counted by sandbox_tc on the veth (default 1)\n"
		"  XWHISK_ACCEL_ANSWER     1: a streaming web action's answer goes straight to the\n"
		"                          client's socket (accel_answer, with XWHISK_SOCK_MSG); 0:\n"
		"                          by TCP through the node's socket (default 1)\n"
		"  XWHISK_API_HOST         __OW_API_HOST in sandboxes (default: this node's ingress\n"
		"                          as sandboxes reach it; on loopback it also listens on the\n"
		"                          bridge's gateway address)\n"
		"  XWHISK_SANDBOX_ALLOW    networks sandboxes may reach, CIDR[:port],... (sandbox_tc)\n"
		"  XWHISK_SANDBOX_DNS      DNS servers sandboxes may ask, addr,...\n"
		"  XWHISK_SANDBOX_EGRESS   on: sandboxes may reach the outside world (default off)\n"
		"  XWHISK_SANDBOX_RPS      on, off or a hex CPU mask: RPS on both ends of every\n"
		"                          sandbox's veth (default off; docs/SANDBOXES.md)\n"
		"  XWHISK_XDP_IFACE        xdp_guard on this interface (unset or empty: none)\n"
		"  XWHISK_XDP_MODE         auto (native, else generic), native or generic\n"
		"  XWHISK_GUARD_SYN_RATE, XWHISK_GUARD_SYN_BURST   new connections a second per source\n"
		"                          (200, 400)\n"
		"  XWHISK_GUARD_MAX_CONNS  open connections per source (1024)\n"
		"  XWHISK_GUARD_STRIKES    401/429 answers a second that block a source (50; 0: never)\n"
		"  XWHISK_GUARD_BLOCK_MS   how long (10000); XWHISK_GUARD_EXEMPT: CIDRs never limited\n"
		"  (docs/EBPF.md and docs/SANDBOXES.md say more)\n",
		DEFAULT_LISTEN, DEFAULT_CONTROLLER, NODE_MAX_WORKERS, XW_PIN_DIR);
}

/* The controller's node token: the environment, else the embedded system's file. */
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

/* The environment's settings (and the defaults) into cfg. */
static void config_from_env(struct node_config *cfg)
{
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	static char hostname[64];

	cfg->listen = env_or("XWHISK_NODE_LISTEN", DEFAULT_LISTEN);
	cfg->controller_url = env_or("XWHISK_CONTROLLER", DEFAULT_CONTROLLER);
	cfg->data_dir = env_or("XWHISK_DATA_DIR", ".xwhisk");
	cfg->pin_dir = env_or("XWHISK_PIN_DIR", XW_PIN_DIR);
	cfg->workers = env_unsigned("XWHISK_WORKERS", cpus > 0 ? (unsigned)cpus : 1);
	cfg->memory_mb = env_unsigned("XWHISK_NODE_MEMORY_MB", 8192);
	cfg->queue_max = env_unsigned("XWHISK_QUEUE_MAX", 256);
	/* A start takes about a CPU: half of them start, the rest serve the queue that waits
	 * (on two CPUs, two starts at once doubled a burst's p99, docs/BENCHMARKS.md). */
	cfg->parallel_starts = env_unsigned("XWHISK_PARALLEL_STARTS", cpus > 1 ? (unsigned)cpus / 2 : 1);
	cfg->auth_ttl_s = env_unsigned("XWHISK_AUTH_TTL_S", 60);
	cfg->cache_bytes = env_unsigned("XWHISK_CACHE_BYTES", 16u << 20);
	cfg->subnet = getenv("XWHISK_SANDBOX_SUBNET");
	if (gethostname(hostname, sizeof(hostname)))
		snprintf(hostname, sizeof(hostname), "node");
	hostname[sizeof(hostname) - 1] = '\0';
	cfg->name = env_or("XWHISK_NODE_NAME", hostname);
	cfg->gpus = env_unsigned("XWHISK_NODE_GPUS", 0);
	cfg->cgroup_parent = getenv("XWHISK_CGROUP_PARENT");
	cfg->bridge = getenv("XWHISK_SANDBOX_BRIDGE");
	cfg->api_host = getenv("XWHISK_API_HOST");
	cfg->drain_ms = env_unsigned("XWHISK_DRAIN_MS", 30000);
	cfg->ephemeral = env_unsigned("XWHISK_EPHEMERAL", 0) != 0;
	cfg->sock_msg = env_unsigned("XWHISK_SOCK_MSG", 1) != 0;
	cfg->accel_answer = env_unsigned("XWHISK_ACCEL_ANSWER", 1) != 0;
}

/* What follows from the settings once all are read. */
static void config_derive(struct node_config *cfg)
{
	static char runtimes[PATH_MAX], proxy[PATH_MAX];

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
}

static bool host_is_loopback(const char *host)
{
	return !strncmp(host, "127.", 4) || !strcmp(host, "localhost") || !strcmp(host, "[::1]") ||
	       !strcmp(host, "::1");
}

/* How actions reach this node's API (__OW_API_HOST): on the sandboxes' bridge, where the
 * node also listens when its ingress is on loopback. */
static void config_sandbox_ingress(struct node_config *cfg)
{
	char host[256], gw[INET_ADDRSTRLEN];
	const char *colon = strrchr(cfg->listen, ':');
	struct ipam ip;
	struct in_addr a;
	uint64_t port;

	if (!colon || parse_u64(colon + 1, &port) || port > 65535)
		return;
	cfg->ingress_port = (unsigned)port;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - cfg->listen), cfg->listen);
	if (ipam_init(&ip, cfg->subnet ? cfg->subnet : SANDBOX_DEFAULT_SUBNET))
		return;
	a.s_addr = ipam_gateway(&ip);
	ipam_free(&ip);
	inet_ntop(AF_INET, &a, gw, sizeof(gw));
	if (host_is_loopback(host))
		snprintf(cfg->sandbox_listen, sizeof(cfg->sandbox_listen), "%s:%u", gw,
			 cfg->ingress_port);
	if (cfg->api_host)
		return;
	if (cfg->sandbox_listen[0] || !*host || !strcmp(host, "0.0.0.0"))
		snprintf(cfg->api_host_default, sizeof(cfg->api_host_default), "http://%s:%u", gw,
			 cfg->ingress_port);
	else
		snprintf(cfg->api_host_default, sizeof(cfg->api_host_default), "http://%s",
			 cfg->listen);
	cfg->api_host = cfg->api_host_default;
}

void node_config_set_subnet(struct node_config *cfg, const char *subnet)
{
	cfg->subnet = subnet;
	cfg->subnet_given = true;
	cfg->sandbox_listen[0] = '\0';
	if (cfg->api_host == cfg->api_host_default)
		cfg->api_host = NULL;
	config_sandbox_ingress(cfg);
}

int node_config_load(struct node_config *cfg, int argc, char **argv, struct node_flags *flags)
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
	int opt;

	config_from_env(cfg);
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
			flags->reset_maps = true;
			break;
		case 'D':
			flags->destroy = true;
			break;
		case 'v':
			if (log_set_level_name(optarg)) {
				fprintf(stderr, "unknown log level '%s'\n", optarg);
				return 2;
			}
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
	config_derive(cfg);
	config_sandbox_ingress(cfg);
	if (ctl_targets_parse(&cfg->controllers, cfg->controller_url)) {
		pr_err("bad controller address '%s'", cfg->controller_url);
		return 2;
	}
	if (load_token(cfg) && !flags->destroy)
		return 1;
	return -1;
}
