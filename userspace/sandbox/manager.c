// SPDX-License-Identifier: Apache-2.0
/*
 * The sandbox manager's life: set up from its configuration (manifest, cgroup tree,
 * subnet, bridge, the host's root), re-adopting what a previous manager left, freed
 * (sandboxes stay up) or drained (every sandbox destroyed); and what it reports.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sandbox_internal.h"
#include "util.h"

static int read_cap_last(void)
{
	char buf[16] = "";
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		(void)!read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	return buf[0] ? atoi(buf) : 63;
}

static char *dir_of(const char *path)
{
	char *d = strdup(path), *slash;

	if (d && (slash = strrchr(d, '/')))
		*slash = slash == d ? '/' : '\0';
	return d;
}

/* The plain settings, with their defaults. */
static void manager_settings(struct sandbox_manager *m, const struct sandbox_config *cfg)
{
	m->uid = cfg->uid ? cfg->uid : NOBODY;
	m->gid = cfg->gid ? cfg->gid : NOBODY;
	m->max_starting = cfg->max_starting ? cfg->max_starting : DEFAULT_MAX_STARTING;
	m->start_timeout_ms = cfg->start_timeout_ms ? cfg->start_timeout_ms :
						     DEFAULT_START_TIMEOUT_MS;
	m->pids_max = cfg->pids_max ? cfg->pids_max : DEFAULT_PIDS_MAX;
	m->cap_last = read_cap_last();
}

/* The state directory, the platform directories and the runtimes manifest. */
static int manager_load(struct sandbox_manager *m, const struct sandbox_config *cfg,
			const char *runtimes_dir)
{
	const char *prewarm, *bad = NULL;
	int err;

	err = mkdir_p(m->state_dir, 0700);
	if (err) {
		pr_err("sandbox: cannot create %s: %s", m->state_dir, strerror(-err));
		return err;
	}
	/* Resolved: sandboxes see these two at their real paths and nothing around them. */
	m->proxy = realpath(cfg->proxy, NULL);
	m->runtimes_dir = realpath(runtimes_dir, NULL);
	if (!m->proxy || !m->runtimes_dir) {
		err = -errno;
		pr_err("sandbox: cannot find %s: %s", m->proxy ? runtimes_dir : cfg->proxy,
		       strerror(-err));
		return err;
	}
	err = manifest_load(&m->manifest, cfg->runtimes, m->proxy, m->runtimes_dir);
	if (err) {
		pr_err("sandbox: cannot load the runtimes manifest %s: %s", cfg->runtimes,
		       strerror(-err));
		return err;
	}
	prewarm = cfg->prewarm ? cfg->prewarm : getenv("XWHISK_PREWARM");
	if (prewarm) {
		err = manifest_prewarm(&m->manifest, prewarm, &bad);
		if (err) {
			pr_err("sandbox: bad prewarm setting '%s'%s%s", prewarm,
			       bad ? ": unknown kind " : "", bad ? bad : "");
			return err;
		}
	}
	return 0;
}

/*
 * Another interface holding an address of our subnet with a prefix at least as long has a
 * route at least as specific as our bridge's: sandboxes would be reached through it (two
 * nodes on one host given the same subnet, each /init reaching the other's sandbox).
 * -EADDRINUSE, naming it. A wider network around ours (a link-local /16) is no conflict.
 */
static int subnet_free(const struct ipam *ip, const char *bridge)
{
	uint32_t mask = ip->prefix ? ~0u << (32 - ip->prefix) : 0;
	struct ifaddrs *ifa, *i;
	int err = 0;

	if (getifaddrs(&ifa) < 0)
		return 0; /* cannot tell: the bridge's own setup says what fails */
	for (i = ifa; i && !err; i = i->ifa_next) {
		uint32_t addr, theirs;

		if (!i->ifa_addr || !i->ifa_netmask || i->ifa_addr->sa_family != AF_INET ||
		    !strcmp(i->ifa_name, bridge))
			continue;
		addr = ntohl(((struct sockaddr_in *)i->ifa_addr)->sin_addr.s_addr);
		theirs = ntohl(((struct sockaddr_in *)i->ifa_netmask)->sin_addr.s_addr);
		if ((addr & mask) != ip->network || theirs < mask)
			continue;
		pr_err("sandbox: the sandbox subnet is taken: %s holds %s in it (another node on "
		       "this host? give each its own XWHISK_SANDBOX_SUBNET)", i->ifa_name,
		       inet_ntoa(((struct sockaddr_in *)i->ifa_addr)->sin_addr));
		err = -EADDRINUSE;
	}
	freeifaddrs(ifa);
	return err;
}

/* The cgroup tree, the subnet and the bridge. */
static int manager_host_setup(struct sandbox_manager *m, const struct sandbox_config *cfg)
{
	int err;

	err = cgroup_tree_init(&m->cgtree, cfg->cgroup_parent);
	if (err) {
		pr_err("sandbox: no usable memory cgroup: %s", strerror(-err));
		return err;
	}
	err = ipam_init(&m->ipam, cfg->subnet ? cfg->subnet : SANDBOX_DEFAULT_SUBNET);
	if (err) {
		pr_err("sandbox: bad subnet '%s'", cfg->subnet);
		return err;
	}
	err = subnet_free(&m->ipam, cfg->bridge ? cfg->bridge : SANDBOX_DEFAULT_BRIDGE);
	if (err)
		return err;
	err = rtnl_open(&m->nl);
	if (err)
		return err;
	m->bridge_ifindex = rtnl_bridge_ensure(&m->nl, cfg->bridge ? cfg->bridge :
								  SANDBOX_DEFAULT_BRIDGE,
					       ipam_gateway(&m->ipam), m->ipam.prefix);
	if (m->bridge_ifindex < 0) {
		err = m->bridge_ifindex;
		pr_err("sandbox: cannot set up the bridge: %s", strerror(-err));
		return err;
	}
	return 0;
}

/*
 * What sandboxes see of the host (rootfs.c's allow-list, the proxy, the runtimes, the
 * operator's cfg->expose and $XWHISK_SANDBOX_EXPOSE; without the state directory and
 * cfg->hide) and the system calls they may make.
 */
static int manager_confinement(struct sandbox_manager *m, const struct sandbox_config *cfg)
{
	const char *hide[64] = { NULL }, *expose[64] = { NULL }, *bad = NULL;
	const char *env = getenv("XWHISK_SANDBOX_EXPOSE");
	char *list = env ? strdup(env) : NULL, *save = NULL;
	size_t nhide = 0, nexpose = 0;
	int err;

	hide[nhide++] = m->state_dir;
	for (size_t i = 0; cfg->hide && cfg->hide[i] && nhide < ARRAY_SIZE(hide) - 1; i++)
		hide[nhide++] = cfg->hide[i];
	expose[nexpose++] = m->proxy;
	expose[nexpose++] = m->runtimes_dir;
	for (size_t i = 0; cfg->expose && cfg->expose[i] && nexpose < ARRAY_SIZE(expose) - 1;
	     i++)
		expose[nexpose++] = cfg->expose[i];
	for (char *p = list ? strtok_r(list, ",", &save) : NULL;
	     p && nexpose < ARRAY_SIZE(expose) - 1; p = strtok_r(NULL, ",", &save))
		expose[nexpose++] = p;
	err = env && !list ? -ENOMEM : rootfs_scan(&m->rootfs, expose, hide, &bad);
	if (err)
		pr_err("sandbox: cannot show %s to sandboxes: %s", bad ? bad : "the host",
		       strerror(-err));
	free(list);
	if (err)
		return err;
	err = syscall_filter_build(&m->filter);
	if (err)
		pr_err("sandbox: cannot build the seccomp filter: %s", strerror(-err));
	return err;
}

struct sandbox_manager *sandbox_manager_new(struct loop *loop, const struct sandbox_config *cfg,
					    const struct sandbox_callbacks *cb, void *data)
{
	char *runtimes_dir = NULL;
	struct sandbox_manager *m;
	int err = -EINVAL;

	if (!cfg->state_dir || !cfg->runtimes || !cfg->proxy) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	m->loop = loop;
	m->nl.fd = -1;
	m->filter.memfd = -1;
	if (cb)
		m->cb = *cb;
	m->cb_data = data;
	manager_settings(m, cfg);
	m->state_dir = strdup(cfg->state_dir);
	m->api_host = cfg->api_host ? strdup(cfg->api_host) : NULL;
	runtimes_dir = cfg->runtimes_dir ? strdup(cfg->runtimes_dir) : dir_of(cfg->runtimes);
	if (!m->state_dir || !runtimes_dir || (cfg->api_host && !m->api_host)) {
		err = -ENOMEM;
		goto out;
	}
	err = manager_load(m, cfg, runtimes_dir);
	if (!err)
		err = manager_host_setup(m, cfg);
	if (!err)
		err = manager_net_open(m, cfg);
	if (!err)
		err = manager_confinement(m, cfg);
	if (!err)
		err = kind_pools_init(m);
	if (err)
		goto out;
	adopt_all(m);
	manager_net_prune(m);
	manager_schedule(m);
out:
	free(runtimes_dir);
	if (err) {
		sandbox_manager_free(m);
		errno = -err;
		return NULL;
	}
	return m;
}

void sandbox_manager_free(struct sandbox_manager *m)
{
	if (!m)
		return;
	cancel_timer(m, &m->schedule_timer);
	cancel_timer(m, &m->backoff_timer);
	while (m->due) {
		struct sandbox_request *req = m->due;

		m->due = req->next;
		cancel_timer(m, &req->timer);
		free(req);
	}
	/* Detach only: the processes live on for the next manager to adopt. */
	while (m->all)
		sb_forget(m->all);
	kind_pools_free(m);
	/* Goes only when empty (after sandbox_manager_destroy_all); otherwise the cgroups of
	 * the sandboxes left for the next manager keep it (EBUSY). */
	(void)cgroup_tree_remove(&m->cgtree);
	manifest_free(&m->manifest);
	rootfs_free(&m->rootfs);
	syscall_filter_free(&m->filter);
	ipam_free(&m->ipam);
	rtnl_close(&m->nl);
	manager_net_close(m);
	free(m->state_dir);
	free(m->proxy);
	free(m->runtimes_dir);
	free(m->api_host);
	free(m);
}

void sandbox_manager_destroy_all(struct sandbox_manager *m)
{
	struct sandbox *sb, *next;

	m->draining = true;
	cancel_timer(m, &m->schedule_timer);
	cancel_timer(m, &m->backoff_timer);
	for (size_t i = 0; i < m->manifest.nkinds; i++) {
		struct kind_pool *kp = &m->pools[i];
		struct sandbox_request *r;

		while ((r = request_dequeue(kp, NULL)))
			request_complete(r, NULL, -ECANCELED);
		kp->idle = NULL;
		kp->nidle = 0;
	}
	for (sb = m->all; sb; sb = next) {
		next = sb->next;
		if (sb->phase == SB_STARTING) {
			sb->kp->nstarting--;
			m->nstarting--;
		}
		if (sb->phase != SB_DYING)
			sb_kill(sb);
	}
}

void sandbox_manager_adopted(struct sandbox_manager *m, void (*cb)(struct sandbox *sb, void *data),
			     void *data)
{
	for (struct sandbox *sb = m->all; sb; sb = sb->next) {
		if (!sb->unclaimed)
			continue;
		sb->unclaimed = false;
		cb(sb, data);
	}
}

void sandbox_manager_stem_cells(const struct sandbox_manager *m,
				void (*cb)(const char *kind, const char *image, unsigned ready,
					   void *data),
				void *data)
{
	for (size_t i = 0; m->pools && i < m->manifest.nkinds; i++)
		cb(m->pools[i].rt->kind, m->pools[i].rt->image, m->pools[i].nidle, data);
}

bool sandbox_manager_has_kind(const struct sandbox_manager *m, const char *kind)
{
	return manifest_find(&m->manifest, kind) != NULL;
}

void sandbox_manager_stats(const struct sandbox_manager *m, struct sandbox_stats *st)
{
	*st = m->stats;
	st->live = st->pooled = st->starting = st->dying = 0;
	for (const struct sandbox *sb = m->all; sb; sb = sb->next) {
		if (sb->phase == SB_STARTING)
			st->starting++;
		else if (sb->phase == SB_DYING)
			st->dying++;
		else if (sb->owned)
			st->live++;
		else
			st->pooled++;
	}
}
