// SPDX-License-Identifier: Apache-2.0
/*
 * The ingress guard's loader: xdp_guard through libxdp, sockops_conns through a pinned
 * cgroup link, the guard's maps pinned beside the node's (guard.h says what the node calls).
 *
 * Re-adoption: an xdp_guard already on the interface is kept when it is the same code
 * (program tag) on the same pinned maps (map ids) in the requested mode; otherwise the new
 * one is attached and the old one detached, so a restart never stacks two guards. The
 * sockops link is pinned as <pin_dir>/sockops_conns_link and updated in place.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <xdp/libxdp.h>

#include "guard.h"
#include "log.h"
#include "pinned_maps.h"
#include "sockops_conns.skel.h"
#include "util.h"
#include "xdp_guard.skel.h"
#include "xwhisk/maps.h"

#define GUARD_PROG_NAME "xdp_guard"
#define SOCKOPS_LINK_PIN "sockops_conns_link"
#define GUARD_RUN_PRIO 10 /* libxdp runs lower priorities first: the guard goes early */
#define MAX_PROG_MAPS 16

struct xw_guard {
	char pin_dir[256];
	const char *mode; /* "native", "generic", "none" */
	int guard_fd;
	int cfg_fd;
	int exempt_fd;
	int conns_fd;
	int stats_fd;
};

static const char *const guard_pins[] = {
	XW_MAP_GUARD,	    XW_MAP_GUARD_CFG,	XW_MAP_GUARD_EXEMPT,
	XW_MAP_GUARD_CONNS, XW_MAP_GUARD_STATS, XW_MAP_GUARD_SOCKS,
};

static int libxdp_print(enum libxdp_print_level level, const char *fmt, va_list ap)
{
	char msg[1024];

	if (log_get_level() < LOG_LEVEL_DEBUG)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	pr_debug("libxdp: %s", msg);
	return 0;
}

/* ---- the handle and its maps ---- */

void xw_guard_close(struct xw_guard *g)
{
	if (!g)
		return;
	if (g->guard_fd >= 0)
		close(g->guard_fd);
	if (g->cfg_fd >= 0)
		close(g->cfg_fd);
	if (g->exempt_fd >= 0)
		close(g->exempt_fd);
	if (g->conns_fd >= 0)
		close(g->conns_fd);
	if (g->stats_fd >= 0)
		close(g->stats_fd);
	free(g);
}

static int pin_get(const char *pin_dir, const char *name)
{
	char path[300];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	fd = bpf_obj_get(path);
	return fd < 0 ? -errno : fd;
}

int xw_guard_open(const char *pin_dir, struct xw_guard **out)
{
	struct xw_guard *g;
	int err = 0;

	if (!pin_dir)
		pin_dir = XW_PIN_DIR;
	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	snprintf(g->pin_dir, sizeof(g->pin_dir), "%s", pin_dir);
	g->mode = "none";
	g->guard_fd = pin_get(pin_dir, XW_MAP_GUARD);
	g->cfg_fd = pin_get(pin_dir, XW_MAP_GUARD_CFG);
	g->exempt_fd = pin_get(pin_dir, XW_MAP_GUARD_EXEMPT);
	g->conns_fd = pin_get(pin_dir, XW_MAP_GUARD_CONNS);
	g->stats_fd = pin_get(pin_dir, XW_MAP_GUARD_STATS);
	if (g->guard_fd < 0)
		err = g->guard_fd;
	else if (g->cfg_fd < 0)
		err = g->cfg_fd;
	else if (g->exempt_fd < 0)
		err = g->exempt_fd;
	else if (g->conns_fd < 0)
		err = g->conns_fd;
	else if (g->stats_fd < 0)
		err = g->stats_fd;
	if (err) {
		pr_debug("guard: cannot open the guard's maps in %s: %s", pin_dir, strerror(-err));
		xw_guard_close(g);
		return err;
	}
	*out = g;
	return 0;
}

const char *xw_guard_mode_name(const struct xw_guard *g)
{
	return g ? g->mode : "none";
}

/* ---- loading ---- */

static int xdp_skel_open(const char *pin_dir, struct xwhisk_xdp_guard **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	struct xwhisk_xdp_guard *skel;

	skel = xwhisk_xdp_guard__open_opts(&opts);
	if (!skel)
		return -errno;
	/* The routing maps belong to xw_maps_open(), which refuses an incompatible pin. */
	xw_pins_own_only(skel->obj, pin_dir, "guard");
	*out = skel;
	return 0;
}

struct prog_id {
	__u8 tag[BPF_TAG_SIZE];
	__u32 nmaps;
	__u32 maps[MAX_PROG_MAPS];
};

static int prog_identify(int prog_fd, struct prog_id *id)
{
	struct bpf_prog_info info = {};
	__u32 len = sizeof(info);

	memset(id, 0, sizeof(*id));
	info.nr_map_ids = MAX_PROG_MAPS;
	info.map_ids = (__u64)(unsigned long)id->maps;
	if (bpf_obj_get_info_by_fd(prog_fd, &info, &len) < 0)
		return -errno;
	memcpy(id->tag, info.tag, sizeof(id->tag));
	id->nmaps = info.nr_map_ids < MAX_PROG_MAPS ? info.nr_map_ids : MAX_PROG_MAPS;
	return 0;
}

/* The same code on the same maps. */
static bool prog_same(int prog_fd, const struct prog_id *want)
{
	struct prog_id have;

	if (prog_fd < 0 || prog_identify(prog_fd, &have) < 0)
		return false;
	if (memcmp(have.tag, want->tag, sizeof(have.tag)) || have.nmaps != want->nmaps)
		return false;
	for (__u32 i = 0; i < want->nmaps; i++) {
		bool found = false;

		for (__u32 j = 0; j < have.nmaps && !found; j++)
			found = have.maps[j] == want->maps[i];
		if (!found)
			return false;
	}
	return true;
}

/* ---- xdp_guard ---- */

static const char *xdp_mode_name(enum xdp_attach_mode mode)
{
	return mode == XDP_MODE_NATIVE ? "native" : mode == XDP_MODE_SKB ? "generic" : "other";
}

static struct xdp_program *find_guard(struct xdp_multiprog *mp)
{
	struct xdp_program *p;

	if (xdp_multiprog__is_legacy(mp)) {
		p = xdp_multiprog__main_prog(mp);
		return p && !strcmp(xdp_program__name(p), GUARD_PROG_NAME) ? p : NULL;
	}
	for (p = xdp_multiprog__next_prog(NULL, mp); p; p = xdp_multiprog__next_prog(p, mp))
		if (!strcmp(xdp_program__name(p), GUARD_PROG_NAME))
			return p;
	return NULL;
}

/* One attempt in one mode, from a fresh object (libxdp loads it as a dispatcher extension). */
static int xdp_attach_once(const char *pin_dir, int ifindex, enum xdp_attach_mode mode)
{
	struct xwhisk_xdp_guard *skel = NULL;
	struct xdp_program *prog = NULL;
	int err;

	err = xdp_skel_open(pin_dir, &skel);
	if (err)
		goto out;
	{
		DECLARE_LIBXDP_OPTS(xdp_program_opts, opts, .obj = skel->obj,
				    .prog_name = GUARD_PROG_NAME);

		prog = xdp_program__create(&opts);
	}
	err = libxdp_get_error(prog);
	if (err) {
		prog = NULL;
		goto out;
	}
	err = xdp_program__set_run_prio(prog, GUARD_RUN_PRIO);
	if (err)
		goto out;
	err = xdp_program__attach(prog, ifindex, mode, 0);
out:
	xdp_program__close(prog);
	xwhisk_xdp_guard__destroy(skel);
	return err;
}

static bool mode_wanted(enum xw_guard_mode want, enum xdp_attach_mode have)
{
	if (want == XW_GUARD_MODE_NATIVE)
		return have == XDP_MODE_NATIVE;
	if (want == XW_GUARD_MODE_GENERIC)
		return have == XDP_MODE_SKB;
	return have == XDP_MODE_NATIVE || have == XDP_MODE_SKB;
}

/* *fell_back: why native mode failed when auto fell back to generic (0 otherwise). */
static int xdp_attach(const struct xw_guard_config *cfg, int ifindex, const char *pin_dir,
		      const struct prog_id *want, const char **mode, bool *adopted, int *fell_back)
{
	struct xdp_multiprog *mp;
	struct xdp_program *old = NULL;
	enum xdp_attach_mode old_mode = XDP_MODE_UNSPEC, first;
	int err, native_err = 0;

	mp = xdp_multiprog__get_from_ifindex(ifindex);
	if (libxdp_get_error(mp))
		mp = NULL;
	if (mp) {
		old = find_guard(mp);
		old_mode = xdp_multiprog__attach_mode(mp);
	}
	if (old && mode_wanted(cfg->mode, old_mode) && prog_same(xdp_program__fd(old), want)) {
		*mode = xdp_mode_name(old_mode);
		*adopted = true;
		err = 0;
		goto out;
	}
	/* A device runs native or generic XDP, not both: a guard in the other mode goes first.
	 * So does one attached without libxdp's dispatcher ("legacy": nothing can be added
	 * beside it), which leaves the interface unguarded for the few ms of the swap. */
	first = cfg->mode == XW_GUARD_MODE_GENERIC ? XDP_MODE_SKB : XDP_MODE_NATIVE;
	if (old && (old_mode != first || xdp_multiprog__is_legacy(mp))) {
		err = xdp_program__detach(old, ifindex, old_mode, 0);
		if (err)
			pr_debug("guard: detaching the old xdp_guard: %s", strerror(-err));
		old = NULL;
	}
	if (cfg->mode != XW_GUARD_MODE_GENERIC) {
		err = xdp_attach_once(pin_dir, ifindex, XDP_MODE_NATIVE);
		if (!err) {
			*mode = "native";
			goto replaced;
		}
		if (cfg->mode == XW_GUARD_MODE_NATIVE)
			goto out;
		native_err = err;
	}
	err = xdp_attach_once(pin_dir, ifindex, XDP_MODE_SKB);
	if (err)
		goto out;
	*mode = "generic";
	*fell_back = native_err;
replaced:
	if (old) {
		err = xdp_program__detach(old, ifindex, old_mode, 0);
		if (err)
			pr_warn("guard: the previous xdp_guard on %s could not be detached: %s",
				cfg->ifname, strerror(-err));
		err = 0;
	}
out:
	xdp_multiprog__close(mp);
	return err;
}

/* ---- sockops_conns ---- */

/* This process's cgroup v2 directory: the cgroup2 mount joined with /proc/self/cgroup's
 * "0::/path". */
static int own_cgroup(char *out, size_t size)
{
	char line[1024], mnt[512] = "", rel[512] = "";
	FILE *f;

	if (xw_cgroup2_mount(mnt, sizeof(mnt)))
		mnt[0] = '\0';
	f = fopen("/proc/self/cgroup", "r");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(rel, sizeof(rel), "%s", line + 3);
		}
	fclose(f);
	if (!*mnt || !*rel)
		return -ENOENT;
	snprintf(out, size, "%s%s", mnt, strcmp(rel, "/") ? rel : "");
	return 0;
}

static int cgroup_id(const char *path, __u64 *id)
{
	struct {
		struct file_handle fh;
		__u64 id;
	} h = { .fh.handle_bytes = sizeof(__u64) };
	int mount_id;

	if (name_to_handle_at(AT_FDCWD, path, &h.fh, &mount_id, 0) < 0)
		return -errno;
	memcpy(id, h.fh.f_handle, sizeof(*id));
	return 0;
}

static int sockops_skel_load(const char *pin_dir, struct xwhisk_sockops_conns **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	struct xwhisk_sockops_conns *skel;
	int err;

	skel = xwhisk_sockops_conns__open_opts(&opts);
	if (!skel)
		return -errno;
	xw_pins_own_only(skel->obj, pin_dir, "guard");
	err = xwhisk_sockops_conns__load(skel);
	if (err) {
		xwhisk_sockops_conns__destroy(skel);
		return err;
	}
	*out = skel;
	return 0;
}

static int sockops_attach(const char *cgroup, const char *pin_dir, bool *adopted)
{
	struct xwhisk_sockops_conns *skel = NULL;
	struct bpf_link_info li = {};
	struct bpf_link *link = NULL;
	__u32 li_len = sizeof(li);
	struct prog_id want;
	int link_fd = -1, cg_fd = -1, old_fd, prog_fd, err;
	char path[300];
	__u64 cg_id = 0;

	err = sockops_skel_load(pin_dir, &skel);
	if (err)
		goto out;
	prog_fd = bpf_program__fd(skel->progs.sockops_conns);
	err = prog_identify(prog_fd, &want);
	if (err)
		goto out;
	err = cgroup_id(cgroup, &cg_id);
	if (err)
		goto out;
	snprintf(path, sizeof(path), "%s/%s", pin_dir, SOCKOPS_LINK_PIN);
	link_fd = bpf_obj_get(path);
	if (link_fd >= 0 && bpf_obj_get_info_by_fd(link_fd, &li, &li_len) == 0 &&
	    li.type == BPF_LINK_TYPE_CGROUP && li.cgroup.cgroup_id == cg_id) {
		old_fd = bpf_prog_get_fd_by_id(li.prog_id);
		*adopted = prog_same(old_fd, &want);
		if (old_fd >= 0)
			close(old_fd);
		/* The same cgroup: a new build replaces the program in place, atomically. */
		err = *adopted ? 0 : bpf_link_update(link_fd, prog_fd, NULL);
		if (err)
			err = -errno;
		goto out;
	}
	if (link_fd >= 0) {
		/* Attached to another cgroup (the node moved): that link goes. */
		(void)unlink(path);
		(void)bpf_link_detach(link_fd);
	}
	cg_fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg_fd < 0) {
		err = -errno;
		goto out;
	}
	link = bpf_program__attach_cgroup(skel->progs.sockops_conns, cg_fd);
	err = libbpf_get_error(link);
	if (err) {
		link = NULL;
		goto out;
	}
	err = bpf_link__pin(link, path);
	if (err)
		goto out;
	bpf_link__disconnect(link); /* the pin keeps it attached */
out:
	bpf_link__destroy(link);
	if (link_fd >= 0)
		close(link_fd);
	if (cg_fd >= 0)
		close(cg_fd);
	xwhisk_sockops_conns__destroy(skel);
	return err;
}

/* ---- config and exemptions ---- */

int xw_guard_set_limits(struct xw_guard *g, uint32_t syn_rate, uint32_t syn_burst,
			uint32_t max_conns)
{
	struct xw_guard_cfg c;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(g->cfg_fd, &zero, &c) < 0)
		return -errno;
	c.syn_rate = syn_rate;
	c.syn_burst = syn_burst;
	c.max_conns = max_conns;
	return bpf_map_update_elem(g->cfg_fd, &zero, &c, BPF_ANY) < 0 ? -errno : 0;
}

static int write_cfg(struct xw_guard *g, const struct xw_guard_config *cfg)
{
	struct xw_guard_cfg c = {
		.port = cfg->port,
		.flags = cfg->flags,
		.syn_rate = cfg->syn_rate,
		.syn_burst = cfg->syn_burst,
		.max_conns = cfg->max_conns,
	};
	__u32 zero = 0;

	return bpf_map_update_elem(g->cfg_fd, &zero, &c, BPF_ANY) < 0 ? -errno : 0;
}

int xw_guard_exempt(struct xw_guard *g, const uint8_t addr[16], unsigned prefix_len)
{
	struct xw_guard_prefix k = { .prefixlen = prefix_len > 128 ? 128 : prefix_len };
	__u32 one = 1;

	memcpy(k.addr, addr, 16);
	return bpf_map_update_elem(g->exempt_fd, &k, &one, BPF_ANY) < 0 ? -errno : 0;
}

int xw_guard_prefix_parse(const char *text, uint8_t addr[16], unsigned *prefix_len)
{
	char buf[INET6_ADDRSTRLEN + 8], *slash, *end;
	unsigned long bits;
	bool v4;
	int err;

	snprintf(buf, sizeof(buf), "%s", text);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	err = xw_guard_addr_parse(buf, addr);
	if (err)
		return err;
	v4 = strchr(buf, ':') == NULL;
	if (!slash) {
		*prefix_len = 128;
		return 0;
	}
	errno = 0;
	bits = strtoul(slash + 1, &end, 10);
	if (errno || end == slash + 1 || *end || bits > (v4 ? 32 : 128))
		return -EINVAL;
	*prefix_len = (unsigned)bits + (v4 ? 96 : 0);
	return 0;
}

static int exempt_list(struct xw_guard *g, const char *list)
{
	char *copy, *tok, *save = NULL;
	unsigned plen;
	uint8_t a[16];
	int err = 0;

	if (!list || !*list)
		return 0;
	copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ", ", &save); tok && !err; tok = strtok_r(NULL, ", ", &save)) {
		err = xw_guard_prefix_parse(tok, a, &plen);
		if (err)
			pr_err("guard: exempt prefix '%s' does not parse", tok);
		else
			err = xw_guard_exempt(g, a, plen);
	}
	free(copy);
	return err;
}

static int env_u32(const char *name, uint32_t def, uint32_t *out)
{
	const char *v = getenv(name);
	unsigned long n;
	char *end;

	if (!v || !*v) {
		*out = def;
		return 0;
	}
	errno = 0;
	n = strtoul(v, &end, 10);
	if (errno || *end || n > UINT32_MAX) {
		pr_err("guard: %s=%s is not a number", name, v);
		return -EINVAL;
	}
	*out = (uint32_t)n;
	return 0;
}

int xw_guard_config_from_env(struct xw_guard_config *cfg, uint16_t port, const char *pin_dir)
{
	const char *iface = getenv("XWHISK_XDP_IFACE"), *mode = getenv("XWHISK_XDP_MODE");
	uint32_t frags;
	int err = 0;

	if (!iface || !*iface)
		return -ENOENT;
	memset(cfg, 0, sizeof(*cfg));
	cfg->ifname = iface;
	cfg->port = port;
	cfg->pin_dir = pin_dir;
	if (!mode || !*mode || !strcmp(mode, "auto")) {
		cfg->mode = XW_GUARD_MODE_AUTO;
	} else if (!strcmp(mode, "native")) {
		cfg->mode = XW_GUARD_MODE_NATIVE;
	} else if (!strcmp(mode, "generic") || !strcmp(mode, "skb")) {
		cfg->mode = XW_GUARD_MODE_GENERIC;
	} else {
		pr_err("guard: XWHISK_XDP_MODE=%s: auto, native or generic", mode);
		return -EINVAL;
	}
	err = err ?: env_u32("XWHISK_GUARD_SYN_RATE", 200, &cfg->syn_rate);
	err = err ?: env_u32("XWHISK_GUARD_SYN_BURST", 400, &cfg->syn_burst);
	err = err ?: env_u32("XWHISK_GUARD_MAX_CONNS", 1024, &cfg->max_conns);
	err = err ?: env_u32("XWHISK_GUARD_BLOCK_MS", 10000, &cfg->block_ms);
	err = err ?: env_u32("XWHISK_GUARD_PASS_FRAGMENTS", 0, &frags);
	if (err)
		return err;
	if (frags)
		cfg->flags |= XW_GUARD_F_PASS_FRAGMENTS;
	cfg->cgroup = getenv("XWHISK_GUARD_CGROUP"); /* unset: own cgroup; empty: none */
	cfg->exempt = getenv("XWHISK_GUARD_EXEMPT");
	return 0;
}

/* Every address of this host (in this network namespace) is exempt. */
static int exempt_own_addresses(struct xw_guard *g)
{
	struct ifaddrs *ifa, *i;
	uint8_t addr[16];
	int n = 0;

	if (getifaddrs(&ifa) < 0)
		return -errno;
	for (i = ifa; i; i = i->ifa_next)
		if (i->ifa_addr && xw_guard_addr_from_sockaddr(i->ifa_addr, addr) == 0 &&
		    xw_guard_exempt(g, addr, 128) == 0)
			n++;
	freeifaddrs(ifa);
	return n;
}

/* ---- attach / detach ---- */

/* The connection cap needs sockops_conns; without it the guard still runs, uncapped. */
static void sockops_setup(const struct xw_guard_config *cfg, const char *pin_dir, char *cap,
			  size_t size)
{
	char cgroup[512];
	bool adopted = false;
	int err;

	snprintf(cap, size, "no connection cap");
	if (cfg->cgroup && !*cfg->cgroup)
		return;
	if (cfg->cgroup) {
		snprintf(cgroup, sizeof(cgroup), "%s", cfg->cgroup);
	} else if (own_cgroup(cgroup, sizeof(cgroup)) < 0) {
		pr_warn("guard: this process is in no cgroup v2: no connection cap");
		return;
	}
	err = sockops_attach(cgroup, pin_dir, &adopted);
	if (err) {
		pr_warn("guard: cannot attach sockops_conns to %s (%s): no connection cap", cgroup,
			strerror(-err));
		return;
	}
	pr_debug("guard: sockops_conns %s on %s", adopted ? "re-adopted" : "attached", cgroup);
	if (cfg->max_conns)
		snprintf(cap, size, "%u connections", cfg->max_conns);
}

int xw_guard_attach(const struct xw_guard_config *cfg, struct xw_guard **out)
{
	const char *pin_dir = cfg->pin_dir ? cfg->pin_dir : XW_PIN_DIR;
	struct xwhisk_xdp_guard *ref = NULL;
	struct xw_guard *g = NULL;
	bool xdp_adopted = false;
	const char *mode = "none";
	char why[96] = "";
	int fell_back = 0;
	char cap[64];
	struct prog_id want;
	int ifindex, err;

	if (!cfg->ifname || !*cfg->ifname || !cfg->port) {
		pr_err("guard: an interface and the ingress port are needed");
		return -EINVAL;
	}
	libxdp_set_print(libxdp_print);
	ifindex = (int)if_nametoindex(cfg->ifname);
	if (!ifindex) {
		err = -ENODEV;
		pr_err("guard: no interface %s: xdp_guard not attached", cfg->ifname);
		goto out;
	}
	err = xw_pin_dir_prepare(pin_dir);
	if (err)
		goto out;
	/* A plain load makes (or re-adopts) the pinned maps and tells what the code is. */
	err = xdp_skel_open(pin_dir, &ref);
	if (!err)
		err = xwhisk_xdp_guard__load(ref);
	if (!err)
		err = prog_identify(bpf_program__fd(ref->progs.xdp_guard), &want);
	if (err) {
		pr_err("guard: cannot load xdp_guard: %s%s; serving without it", strerror(-err),
		       err == -EPERM ? " (needs CAP_BPF and CAP_NET_ADMIN)" : "");
		goto out;
	}
	err = xw_guard_open(pin_dir, &g);
	if (!err)
		err = write_cfg(g, cfg);
	if (err) {
		pr_err("guard: cannot open the guard's maps in %s: %s", pin_dir, strerror(-err));
		goto out;
	}
	(void)exempt_own_addresses(g);
	err = exempt_list(g, cfg->exempt);
	if (err)
		goto out;
	err = xdp_attach(cfg, ifindex, pin_dir, &want, &mode, &xdp_adopted, &fell_back);
	if (err) {
		pr_err("guard: cannot attach xdp_guard to %s (%s mode): %s%s; serving without it",
		       cfg->ifname,
		       cfg->mode == XW_GUARD_MODE_NATIVE    ? "native"
		       : cfg->mode == XW_GUARD_MODE_GENERIC ? "generic"
							    : "native or generic",
		       strerror(-err), err == -EPERM ? " (needs CAP_BPF and CAP_NET_ADMIN)" : "");
		goto out;
	}
	g->mode = mode;
	sockops_setup(cfg, pin_dir, cap, sizeof(cap));
	/* One line; a warning when auto had to fall back to generic mode, saying why. */
	if (fell_back)
		snprintf(why, sizeof(why), ": %s has no native XDP (%s), generic is slower",
			 cfg->ifname, strerror(-fell_back));
	log_print(fell_back ? LOG_LEVEL_WARN : LOG_LEVEL_INFO,
		  "guard: xdp_guard %s on %s (%s mode%s), port %u: %u new connections/s (burst %u), "
		  "%s per source",
		  xdp_adopted ? "re-adopted" : "attached", cfg->ifname, mode, why, cfg->port,
		  cfg->syn_rate, cfg->syn_burst ? cfg->syn_burst : cfg->syn_rate, cap);
	*out = g;
	g = NULL;
out:
	xwhisk_xdp_guard__destroy(ref);
	xw_guard_close(g);
	return err;
}

int xw_guard_detach(const char *ifname, const char *pin_dir)
{
	struct xdp_multiprog *mp = NULL;
	struct xdp_program *p;
	char path[300];
	int ifindex, fd, err = 0;

	if (!pin_dir)
		pin_dir = XW_PIN_DIR;
	libxdp_set_print(libxdp_print);
	ifindex = ifname ? (int)if_nametoindex(ifname) : 0;
	if (ifindex) {
		mp = xdp_multiprog__get_from_ifindex(ifindex);
		if (libxdp_get_error(mp))
			mp = NULL;
	}
	p = mp ? find_guard(mp) : NULL;
	if (p) {
		err = xdp_program__detach(p, ifindex, xdp_multiprog__attach_mode(mp), 0);
		if (err)
			pr_debug("guard: detaching xdp_guard from %s: %s", ifname, strerror(-err));
	}
	xdp_multiprog__close(mp);
	snprintf(path, sizeof(path), "%s/%s", pin_dir, SOCKOPS_LINK_PIN);
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		(void)bpf_link_detach(fd);
		close(fd);
	}
	(void)unlink(path);
	for (size_t i = 0; i < ARRAY_SIZE(guard_pins); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, guard_pins[i]);
		if (unlink(path) < 0 && errno != ENOENT && !err)
			err = -errno;
	}
	return err;
}

/* ---- block list and counters ---- */

static bool addr_loopback(const uint8_t a[16])
{
	static const uint8_t v6_lo[16] = { [15] = 1 };
	static const uint8_t mapped[12] = { [10] = 0xff, [11] = 0xff };

	return !memcmp(a, v6_lo, 16) || (!memcmp(a, mapped, 12) && a[12] == 127);
}

static bool addr_exempt(struct xw_guard *g, const uint8_t addr[16])
{
	struct xw_guard_prefix k = { .prefixlen = 128 };
	__u32 v;

	if (addr_loopback(addr))
		return true;
	memcpy(k.addr, addr, 16);
	return bpf_map_lookup_elem(g->exempt_fd, &k, &v) == 0;
}

int xw_guard_block(struct xw_guard *g, const uint8_t addr[16], uint64_t until_ns)
{
	struct xw_guard_key k;
	struct xw_guard_entry v = {};

	if (addr_exempt(g, addr))
		return -EPERM;
	memcpy(k.addr, addr, 16);
	(void)bpf_map_lookup_elem(g->guard_fd, &k, &v);
	v.blocked_until_ns = until_ns;
	return bpf_map_update_elem(g->guard_fd, &k, &v, BPF_ANY) < 0 ? -errno : 0;
}

int xw_guard_block_for(struct xw_guard *g, const uint8_t addr[16], uint32_t ms)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return xw_guard_block(g, addr,
			      (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec +
				      (uint64_t)ms * 1000000ull);
}

int xw_guard_unblock(struct xw_guard *g, const uint8_t addr[16])
{
	struct xw_guard_key k;
	struct xw_guard_entry v;

	memcpy(k.addr, addr, 16);
	if (bpf_map_lookup_elem(g->guard_fd, &k, &v) < 0)
		return errno == ENOENT ? 0 : -errno;
	v.blocked_until_ns = 0;
	return bpf_map_update_elem(g->guard_fd, &k, &v, BPF_EXIST) < 0 ? -errno : 0;
}

int xw_guard_counters(struct xw_guard *g, uint64_t out[XW_DROP__MAX])
{
	XW_STATIC_ASSERT(sizeof(struct xw_guard_stat) == sizeof(uint64_t), "one counter");
	return xw_percpu_sum(g->stats_fd, XW_DROP__MAX, sizeof(struct xw_guard_stat), out);
}

int xw_guard_open_conns(struct xw_guard *g, const uint8_t addr[16], int32_t *open)
{
	struct xw_guard_key k;
	struct xw_guard_conns v;

	memcpy(k.addr, addr, 16);
	if (bpf_map_lookup_elem(g->conns_fd, &k, &v) < 0) {
		if (errno != ENOENT)
			return -errno;
		v.open = 0;
	}
	*open = v.open;
	return 0;
}

/* ---- addresses ---- */

static void addr_from_v4(const struct in_addr *in, uint8_t addr[16])
{
	memset(addr, 0, 10);
	addr[10] = 0xff;
	addr[11] = 0xff;
	memcpy(addr + 12, in, 4);
}

int xw_guard_addr_from_sockaddr(const struct sockaddr *sa, uint8_t addr[16])
{
	if (sa->sa_family == AF_INET) {
		addr_from_v4(&((const struct sockaddr_in *)sa)->sin_addr, addr);
		return 0;
	}
	if (sa->sa_family == AF_INET6) {
		memcpy(addr, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
		return 0;
	}
	return -EAFNOSUPPORT;
}

int xw_guard_addr_parse(const char *text, uint8_t addr[16])
{
	char buf[INET6_ADDRSTRLEN + 2];
	struct in_addr v4;
	size_t n = strlen(text);

	if (n >= sizeof(buf))
		return -EINVAL;
	if (n >= 2 && text[0] == '[' && text[n - 1] == ']') {
		memcpy(buf, text + 1, n - 2);
		buf[n - 2] = '\0';
	} else {
		memcpy(buf, text, n + 1);
	}
	if (inet_pton(AF_INET, buf, &v4) == 1) {
		addr_from_v4(&v4, addr);
		return 0;
	}
	return inet_pton(AF_INET6, buf, addr) == 1 ? 0 : -EINVAL;
}

int xw_guard_addr_from_peer(const char *peer, uint8_t addr[16])
{
	char buf[INET6_ADDRSTRLEN + 2];
	const char *colon = strrchr(peer, ':');
	size_t n;

	if (!colon)
		return -EINVAL;
	n = (size_t)(colon - peer);
	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, peer, n);
	buf[n] = '\0';
	return xw_guard_addr_parse(buf, addr);
}
