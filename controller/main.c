// SPDX-License-Identifier: Apache-2.0
/* xwhisk-controller: the management API, the store, the control plane and the nodes' API. */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>

#include "api.h"
#include "auth.h"
#include "cluster.h"
#include "controller.h"
#include "gc.h"
#include "events.h"
#include "entity_limits.h"
#include "lease.h"
#include "pg_leader.h"
#include "log.h"
#include "ns_budget.h"
#include "offload.h"
#include "pods.h"
#include "retention.h"
#include "store_events.h"
#include "subnets.h"
#include "util.h"

#define DEFAULT_LISTEN "127.0.0.1:3234"
/* Events a node may fall behind by and still resume without a resync. */
#define EVENT_LOG_CAPACITY 65536

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: xwhisk-controller [options]\n"
		"\n"
		"The xwhisk controller: the OpenWhisk management API (/api/v1), the store and the\n"
		"control plane. Nodes (xwhisk-node) serve users on :3233 and call it.\n"
		"\n"
		"Options (each also read from the environment variable shown):\n"
		"  -l, --listen ADDR      host:port to serve on (XWHISK_CONTROLLER_LISTEN, default %s)\n"
		"  -d, --data-dir DIR     state directory (XWHISK_DATA_DIR, default ./.xwhisk)\n"
		"  -s, --store URI        sqlite:<path>, postgresql://... or a libpq connection string\n"
		"                         (XWHISK_STORE, default sqlite:DIR/controller/xwhisk.db)\n"
		"  -r, --runtimes FILE    runtimes manifest (XWHISK_RUNTIMES, default <bindir>/runtimes/runtimes.json)\n"
		"  -v, --log-level LEVEL  error, warn, info or debug (XWHISK_LOG_LEVEL, default info)\n"
		"  -h, --help             this text\n"
		"\n"
		"XWHISK_ACTIVATION_RETENTION=AGE (7d, 12h, 30m, 90s; default off) deletes activation\n"
		"records older than AGE; a namespace's limit %s overrides it.\n"
		"\n"
		"XWHISK_BACKEND=local (the default) or kubernetes: where sandboxes run. local: the\n"
		"node agents start them as isolated processes. kubernetes: the controller creates a\n"
		"pod per sandbox on the chosen node (nodeName set), in XWHISK_KUBE_NAMESPACE, from\n"
		"XWHISK_POD_IMAGE; the API is XWHISK_KUBE_API (a URL, e.g. of kubectl proxy), else\n"
		"a kubeconfig (XWHISK_KUBECONFIG or KUBECONFIG, XWHISK_KUBE_CONTEXT), else the\n"
		"in-cluster service account's; XWHISK_POD_PREWARM=kind=N,... keeps N ready stem cell\n"
		"pods of a kind per node (XWHISK_POD_STEM_MEMORY_MB each, 256). XWHISK_LEASE=NAME: replicas elect the one that\n"
		"runs the allocator, the GC and the backend with that coordination.k8s.io Lease.\n"
		"See docs/KUBERNETES.md. On a PostgreSQL store without XWHISK_LEASE, controllers\n"
		"elect it with an advisory lock (XWHISK_LEADER_PERIOD_MS, default 1000: how often\n"
		"candidates try); see docs/STORE.md.\n"
		"\n"
		"XWHISK_SANDBOX_CIDR=CIDR: a node that registers without XWHISK_SANDBOX_SUBNET gets a\n"
		"block of it (XWHISK_SANDBOX_NODE_PREFIX, default 24), the same one every time, and\n"
		"the nodes route to each other's blocks (docs/ARCHITECTURE.md).\n",
		DEFAULT_LISTEN, RETENTION_LIMIT_KEY);
}

/* XWHISK_SANDBOX_CIDR: the nodes' sandbox blocks come from the controller. */
static int load_subnet_plan(struct controller *ctl)
{
	static struct subnet_plan plan;
	const char *cidr = getenv("XWHISK_SANDBOX_CIDR");
	unsigned block = env_unsigned("XWHISK_SANDBOX_NODE_PREFIX", 24);

	if (!cidr || !*cidr)
		return 0;
	if (subnet_plan_init(&plan, cidr, block)) {
		pr_err("XWHISK_SANDBOX_CIDR '%s' with XWHISK_SANDBOX_NODE_PREFIX %u: not an IPv4 "
		       "CIDR wider than the node blocks (at most 2^20 of them, each /30 or wider)",
		       cidr, block);
		return -EINVAL;
	}
	pr_info("nodes without a sandbox subnet get a /%u of %s", block, cidr);
	ctl->subnets = &plan;
	return 0;
}

static void flush_events(struct loop *loop, void *data)
{
	event_log_flush(data);
}

static void on_signal(struct loop *loop, int signo, void *data)
{
	pr_info("signal %d: stopping", signo);
	loop_stop(loop);
}

/* The node token: XWHISK_NODE_TOKEN, or a random one kept in the data directory. */
static int load_node_token(struct controller *ctl, const char *dir)
{
	const char *env = getenv("XWHISK_NODE_TOKEN");
	char path[PATH_MAX], *text;
	int err;

	if (env && *env) {
		snprintf(ctl->node_token, sizeof(ctl->node_token), "%s", env);
		return 0;
	}
	snprintf(path, sizeof(path), "%s/node.token", dir);
	text = file_read_all(path, NULL);
	if (text && strlen(text) >= 32) {
		snprintf(ctl->node_token, sizeof(ctl->node_token), "%.64s", text);
		ctl->node_token[strcspn(ctl->node_token, "\r\n")] = '\0';
		free(text);
		return 0;
	}
	free(text);
	secret_alnum(ctl->node_token, 64);
	err = file_write_atomic(path, ctl->node_token, strlen(ctl->node_token), 0600);
	if (err)
		pr_err("cannot write %s: %s", path, strerror(-err));
	return err;
}

/* XWHISK_BACKEND: local (the node agents' sandboxes, nothing to start) or kubernetes. */
static int start_backend(struct controller *ctl, struct pods **out)
{
	const char *backend = env_or("XWHISK_BACKEND", "local");
	struct pods_config cfg = {
		.image = getenv("XWHISK_POD_IMAGE"),
		.openwhisk_images = !strcmp(env_or("XWHISK_POD_RUNTIME_IMAGES", "xwhisk"), "openwhisk"),
		.adopt_wait_ms = env_unsigned("XWHISK_POD_ADOPT_WAIT_MS", 30000),
		.prewarm = getenv("XWHISK_POD_PREWARM"),
		.stem_memory_mb = env_unsigned("XWHISK_POD_STEM_MEMORY_MB", 256),
	};

	if (!strcmp(backend, "local"))
		return 0;
	if (strcmp(backend, "kubernetes")) {
		pr_err("unknown XWHISK_BACKEND '%s' (local or kubernetes)", backend);
		return -EINVAL;
	}
	if (kube_config_load(&cfg.kube)) {
		pr_err("XWHISK_BACKEND=kubernetes: no API server (XWHISK_KUBE_API, a kubeconfig "
		       "in XWHISK_KUBECONFIG or KUBECONFIG, or a pod's service account)");
		return -ENOENT;
	}
	*out = pods_start(ctl->loop, ctl->cluster, ctl->store, ctl->runtimes, &cfg);
	return *out ? 0 : -ENOMEM;
}

/* Several controllers: the leader (leader.h) runs the allocator, the GC and the backend;
 * the others serve the API on standby. Elected with a Kubernetes Lease (XWHISK_LEASE=
 * <Lease name>) or, on a PostgreSQL store, its advisory lock; otherwise this one leads. */
struct election {
	struct controller *ctl;
	struct pods **pods;
	bool backend_up;
	int err;
};

static void on_elected(void *data)
{
	struct election *e = data;

	cluster_lead(e->ctl->cluster);
	if (e->backend_up)
		return;
	e->err = start_backend(e->ctl, e->pods);
	e->backend_up = !e->err;
	if (e->err)
		loop_stop(e->ctl->loop);
}

static void on_lost(void *data)
{
	struct election *e = data;

	cluster_step_down(e->ctl->cluster);
	if (!*e->pods)
		return; /* a candidate again: the next round may elect it */
	/* The pod backend acts on pods on its own: stop, and let the Deployment start us
	 * again. */
	e->err = -ENOLCK;
	loop_stop(e->ctl->loop);
}

static const char *election_identity(void)
{
	static char identity[128];
	char host[64] = "controller";

	gethostname(host, sizeof(host) - 1);
	snprintf(identity, sizeof(identity), "%s_%d", host, (int)getpid());
	return env_or("XWHISK_LEASE_IDENTITY", identity);
}

static int start_election(struct election *e, const char *store_uri, struct leader **out)
{
	const char *name = getenv("XWHISK_LEASE");
	struct lease_config cfg = {
		.name = name,
		.duration_s = env_unsigned("XWHISK_LEASE_DURATION_S", 15),
		.renew_ms = env_unsigned("XWHISK_LEASE_RENEW_MS", 2000),
	};

	e->ctl->cluster->standby = true;
	if (name && *name) {
		if (kube_config_load(&cfg.kube)) {
			pr_err("XWHISK_LEASE: no API server (XWHISK_KUBE_API, a kubeconfig in "
			       "XWHISK_KUBECONFIG or KUBECONFIG, or a pod's service account)");
			return -ENOENT;
		}
		cfg.identity = election_identity();
		*out = lease_start(e->ctl->loop, &cfg, on_elected, on_lost, e);
	} else if (store_uri_is_pg(store_uri)) {
		*out = pg_leader_start(e->ctl->loop, store_uri, election_identity(),
				       env_unsigned("XWHISK_LEADER_PERIOD_MS", 1000), on_elected,
				       on_lost, e);
	} else {
		e->ctl->cluster->standby = false;
		e->backend_up = true;
		return start_backend(e->ctl, e->pods);
	}
	if (!*out)
		return -ENOMEM;
	return e->err;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "store", required_argument, NULL, 's' },
		{ "runtimes", required_argument, NULL, 'r' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const int signals[] = { SIGINT, SIGTERM };
	struct http_server_opts hopts = {
		/* exec (48 MB) plus parameters and annotations (1 MB each) plus JSON overhead */
		.max_body = EXEC_SIZE_MAX + 4 * PARAMETERS_SIZE_MAX,
		.head_check = api_head_check,
	};
	struct controller ctl = { .build = __DATE__ };
	const char *listen = env_or("XWHISK_CONTROLLER_LISTEN", DEFAULT_LISTEN);
	const char *data_dir = env_or("XWHISK_DATA_DIR", ".xwhisk");
	const char *store_uri = getenv("XWHISK_STORE");
	const char *runtimes = getenv("XWHISK_RUNTIMES");
	char dir[PATH_MAX], default_store[PATH_MAX + 16], default_runtimes[PATH_MAX];
	char store_shown[PATH_MAX + 16];
	struct retention *retention = NULL;
	struct pods *pods = NULL;
	struct leader *leader = NULL;
	struct election election = { .ctl = &ctl, .pods = &pods };
	int64_t retention_ms = 0;
	int opt, err;

	log_init("xwhisk-controller");
	while ((opt = getopt_long(argc, argv, "l:d:s:r:v:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			listen = optarg;
			break;
		case 'd':
			data_dir = optarg;
			break;
		case 's':
			store_uri = optarg;
			break;
		case 'r':
			runtimes = optarg;
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
	signal(SIGPIPE, SIG_IGN);

	snprintf(dir, sizeof(dir), "%s/controller", data_dir);
	err = mkdir_p(dir, 0700);
	if (err) {
		pr_err("cannot create %s: %s", dir, strerror(-err));
		return 1;
	}
	if (!store_uri) {
		snprintf(default_store, sizeof(default_store), "sqlite:%s/xwhisk.db", dir);
		store_uri = default_store;
	}
	if (!runtimes) {
		snprintf(default_runtimes, sizeof(default_runtimes), "%s/runtimes/runtimes.json",
			 exe_dir());
		runtimes = default_runtimes;
	}

	err = -ENOMEM;
	ctl.loop = loop_new();
	if (!ctl.loop)
		goto out;
	err = runtimes_load(runtimes, &ctl.runtimes);
	if (err)
		goto out;
	store_uri_redact(store_uri, store_shown, sizeof(store_shown));
	err = store_open(store_uri, &ctl.store);
	if (err) {
		pr_err("cannot open the store %s: %s", store_shown, strerror(-err));
		goto out;
	}
	err = -ENOMEM;
	ctl.events = event_log_new(ctl.loop, EVENT_LOG_CAPACITY);
	if (!ctl.events)
		goto out;
	{
		struct store *cached = store_with_doc_cache(ctl.store);

		if (!cached)
			goto out;
		ctl.store = cached;
	}
	{
		struct store *observed = store_with_events(ctl.store, ctl.events);

		if (!observed)
			goto out;
		ctl.store = observed;
	}
	err = store_events_follow(ctl.store, ctl.loop);
	if (err)
		goto out;
	/* Not fatal: without it the loop writes large documents itself, as before. */
	if (store_open_second(store_uri, &ctl.store_offload))
		pr_warn("no second connection to the store %s: large writes stall the API",
			store_shown);
	err = auth_seed(ctl.store);
	if (err) {
		pr_err("cannot seed namespaces: %s", strerror(-err));
		goto out;
	}
	err = load_subnet_plan(&ctl);
	if (err)
		goto out;
	{
		struct cluster_config ccfg = {
			.keepalive_s = env_unsigned("XWHISK_KEEPALIVE_S", 600),
			.grace_ms = env_unsigned("XWHISK_GC_GRACE_MS", 5000),
			.node_lost_ms = env_unsigned("XWHISK_NODE_LOST_MS", 10000),
			.start_timeout_ms = env_unsigned("XWHISK_START_TIMEOUT_MS", 120000),
			.policy = gc_policy_by_name(getenv("XWHISK_GC_POLICY")),
		};

		if (!ccfg.policy) {
			pr_err("unknown XWHISK_GC_POLICY '%s' (compact or lru)",
			       getenv("XWHISK_GC_POLICY"));
			err = -EINVAL;
			goto out;
		}
		err = -ENOMEM;
		ctl.cluster = cluster_new(ctl.loop, ctl.events, &ccfg);
		ctl.budget = ns_budget_new(env_unsigned("XWHISK_BUDGET_LEASE_MS",
							NS_BUDGET_LEASE_MS_DEFAULT));
		if (!ctl.cluster || !ctl.budget)
			goto out;
	}
	/* Once, before any thread of the Kubernetes backend exists (it is not thread-safe). */
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		err = -ENOMEM;
		goto out;
	}
	err = start_election(&election, store_uri, &leader);
	if (err)
		goto out;
	if (retention_parse_age(env_or("XWHISK_ACTIVATION_RETENTION", "off"), &retention_ms)) {
		pr_err("XWHISK_ACTIVATION_RETENTION '%s' is not an age like 7d, 12h, 30m or 90s",
		       getenv("XWHISK_ACTIVATION_RETENTION"));
		err = -EINVAL;
		goto out;
	}
	err = -ENOMEM;
	retention = retention_start(ctl.loop, ctl.store, retention_ms,
				    env_unsigned("XWHISK_RETENTION_PERIOD_MS", 60000));
	if (!retention)
		goto out;
	err = load_node_token(&ctl, dir);
	if (err)
		goto out;
	err = -ENOMEM;
	ctl.offload = offload_new(ctl.loop);
	ctl.http = http_server_new(ctl.loop, &hopts, api_handle, &ctl);
	if (!ctl.offload || !ctl.http)
		goto out;
	err = http_server_listen(ctl.http, listen, false);
	if (err) {
		pr_err("cannot listen on %s: %s", listen, strerror(-err));
		goto out;
	}
	/* Events published while handling a batch of requests go out in one write each. */
	loop_set_before_sleep(ctl.loop, flush_events, ctl.events);
	err = loop_add_signals(ctl.loop, signals, 2, on_signal, NULL);
	if (err)
		goto out;
	pr_info("serving the API on http://%s (store %s)", listen, store_shown);
	err = loop_run(ctl.loop);
	if (!err)
		err = election.err;
out:
	offload_free(ctl.offload); /* answers what it holds before the server goes */
	store_close(ctl.store_offload);
	http_server_free(ctl.http);
	leader_stop(leader);
	pods_stop(pods);
	retention_free(retention);
	store_close(ctl.store);
	cluster_free(ctl.cluster);
	ns_budget_free(ctl.budget);
	event_log_free(ctl.events);
	runtimes_free(ctl.runtimes);
	loop_free(ctl.loop);
	return err ? 1 : 0;
}
