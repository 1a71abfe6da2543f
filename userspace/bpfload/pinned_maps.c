// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>

#include "log.h"
#include "pinned_maps.h"
#include "sandbox_net.h"
#include "xwhisk/sock_accel.h"
#include "xwhisk/sock_msg.h"
#include "maps.skel.h"
#include "util.h"

static int libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char msg[1024];

	if (log_get_level() < LOG_LEVEL_DEBUG && level != LIBBPF_WARN)
		return 0;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	/* libbpf warns about things we handle ourselves; the caller logs what matters. */
	pr_debug("libbpf: %s", msg);
	return 0;
}

void xw_bpf_setup_logging(void)
{
	libbpf_set_print(libbpf_print);
}

/* bpffs must be mounted where the pins live; the node mounts it when it is not. */
static int ensure_bpffs(const char *pin_dir)
{
	char parent[256], *slash;
	struct statfs sfs;

	snprintf(parent, sizeof(parent), "%s", pin_dir);
	slash = strrchr(parent, '/');
	if (slash && slash != parent)
		*slash = '\0';
	if (statfs(parent, &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC)
		return 0;
	if (mount("bpf", parent, "bpf", 0, "mode=0700") < 0) {
		pr_err("bpf: %s is not a bpf file system and mounting one failed: %s", parent,
		       strerror(errno));
		return -errno;
	}
	pr_info("bpf: mounted bpffs on %s", parent);
	return 0;
}

static void *map_mmap(int fd, size_t value_size, unsigned entries)
{
	size_t len = value_size * entries;
	long page = sysconf(_SC_PAGESIZE);
	void *p;

	len = (len + (size_t)page - 1) / (size_t)page * (size_t)page;
	p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	return p == MAP_FAILED ? NULL : p;
}

static void map_munmap(void *p, size_t value_size, unsigned entries)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t len = value_size * entries;

	if (p)
		munmap(p, (len + (size_t)page - 1) / (size_t)page * (size_t)page);
}

int xw_pin_dir_prepare(const char *pin_dir)
{
	int err;

	err = ensure_bpffs(pin_dir);
	if (err)
		return err;
	err = mkdir_p(pin_dir, 0700);
	if (err)
		pr_err("bpf: cannot create %s: %s", pin_dir, strerror(-err));
	return err;
}

int xw_pins_replace_incompatible(struct bpf_object *obj, const char *pin_dir,
				 const char *replace_prefix)
{
	struct bpf_map *map;
	int replaced = 0;

	bpf_object__for_each_map(map, obj) {
		struct bpf_map_info info = {};
		__u32 len = sizeof(info);
		const char *name = bpf_map__name(map);
		char path[300];
		bool same;
		int fd;

		if (!bpf_map__autocreate(map) ||
		    strncmp(name, replace_prefix, strlen(replace_prefix)))
			continue;
		snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		same = bpf_obj_get_info_by_fd(fd, &info, &len) == 0 &&
		       info.type == bpf_map__type(map) && info.key_size == bpf_map__key_size(map) &&
		       info.value_size == bpf_map__value_size(map) &&
		       info.max_entries == bpf_map__max_entries(map) &&
		       info.map_flags == bpf_map__map_flags(map);
		close(fd);
		if (same)
			continue;
		if (unlink(path) < 0) {
			pr_warn("bpf: cannot remove the incompatible pinned map %s: %s", path,
				strerror(errno));
			continue;
		}
		pr_warn("bpf: the pinned map %s was made by an incompatible version; replaced "
			"(it holds no state worth keeping)", path);
		replaced++;
	}
	return replaced;
}

void xw_pins_own_only(struct bpf_object *obj, const char *pin_dir, const char *prefix)
{
	struct bpf_map *map;

	bpf_object__for_each_map(map, obj)
		if (bpf_map__pin_path(map) && strncmp(bpf_map__name(map), prefix, strlen(prefix)))
			bpf_map__set_autocreate(map, false);
	(void)xw_pins_replace_incompatible(obj, pin_dir, prefix);
}

int xw_percpu_sum(int fd, uint32_t nkeys, size_t value_size, uint64_t *out)
{
	int ncpus = libbpf_num_possible_cpus();
	size_t counters = value_size / sizeof(uint64_t);
	uint64_t *vals;
	int err = 0;

	if (ncpus <= 0)
		return ncpus < 0 ? ncpus : -EINVAL;
	vals = calloc((size_t)ncpus, value_size);
	if (!vals)
		return -ENOMEM;
	memset(out, 0, nkeys * value_size);
	for (uint32_t k = 0; k < nkeys; k++) {
		if (bpf_map_lookup_elem(fd, &k, vals) < 0) {
			err = -errno;
			break;
		}
		for (int c = 0; c < ncpus; c++)
			for (size_t i = 0; i < counters; i++)
				out[k * counters + i] += vals[(size_t)c * counters + i];
	}
	free(vals);
	return err;
}

int xw_maps_open(const char *pin_dir, struct xw_maps **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	struct xwhisk_maps *skel = NULL;
	struct xw_maps *m = NULL;
	char probe[300];
	int err;

	err = xw_pin_dir_prepare(pin_dir);
	if (err)
		return err;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	snprintf(m->pin_dir, sizeof(m->pin_dir), "%s", pin_dir);
	snprintf(probe, sizeof(probe), "%s/%s", pin_dir, XW_MAP_SLOTS);
	m->adopted = access(probe, F_OK) == 0;

	skel = xwhisk_maps__open_opts(&opts);
	if (!skel) {
		err = -errno;
		pr_err("bpf: cannot open the maps object: %s", strerror(-err));
		goto fail;
	}
	/* The guard's maps (xdp_guard's) changed their key to 16-byte addresses, and the
	 * socket maps (sock_accel's, sock_msg_redirect's) hold only live connections: an old
	 * pin of theirs is replaced, while the routing maps are never silently dropped. */
	(void)xw_pins_replace_incompatible(skel->obj, pin_dir, "guard");
	(void)xw_pins_replace_incompatible(skel->obj, pin_dir, "accel");
	(void)xw_pins_replace_incompatible(skel->obj, pin_dir, "msg");
	err = xwhisk_maps__load(skel);
	if (err) {
		/* Pinned maps from an incompatible build are refused rather than replaced:
		 * replacing them would silently drop every route. */
		pr_err("bpf: cannot create or re-adopt the maps in %s: %s (pinned maps from an "
		       "incompatible version? remove them with xwhisk-node --reset-maps)",
		       pin_dir, strerror(-err));
		goto fail;
	}
	m->skel = skel;
	m->actions_fd = bpf_map__fd(skel->maps.actions);
	m->warm_fd = bpf_map__fd(skel->maps.warm);
	m->slots_fd = bpf_map__fd(skel->maps.slots);
	m->namespaces_fd = bpf_map__fd(skel->maps.namespaces);
	m->auth_fd = bpf_map__fd(skel->maps.auth);
	m->guard_fd = bpf_map__fd(skel->maps.guard);
	m->slots = map_mmap(m->slots_fd, sizeof(struct xw_slot), XW_MAX_SLOTS);
	m->namespaces = map_mmap(m->namespaces_fd, sizeof(struct xw_namespace), XW_MAX_NAMESPACES);
	if (!m->slots || !m->namespaces) {
		err = -errno;
		pr_err("bpf: cannot map the slots and namespaces maps: %s", strerror(-err));
		goto fail;
	}
	pr_info("bpf: maps %s in %s", m->adopted ? "re-adopted" : "created", pin_dir);
	*out = m;
	return 0;
fail:
	if (m)
		m->skel = NULL;
	xw_maps_close(m);
	xwhisk_maps__destroy(skel);
	return err;
}

void xw_maps_close(struct xw_maps *m)
{
	if (!m)
		return;
	map_munmap(m->slots, sizeof(struct xw_slot), XW_MAX_SLOTS);
	map_munmap(m->namespaces, sizeof(struct xw_namespace), XW_MAX_NAMESPACES);
	xwhisk_maps__destroy(m->skel);
	free(m);
}

int xw_maps_unpin(const char *pin_dir)
{
	static const char *const names[] = {
		XW_MAP_ACTIONS,	    XW_MAP_WARM,	XW_MAP_SLOTS,	    XW_MAP_NAMESPACES,
		XW_MAP_AUTH,	    XW_MAP_GUARD,	XW_MAP_GUARD_CFG,   XW_MAP_GUARD_EXEMPT,
		XW_MAP_GUARD_CONNS, XW_MAP_GUARD_STATS, XW_MAP_GUARD_SOCKS,
		XW_MAP_ACCEL_SOCKS, XW_MAP_ACCEL_PEERS, XW_MAP_ACCEL_STATS, XW_MAP_ACCEL_FWD,
		XW_MAP_ACCEL_ANSWER,
		XW_MAP_MSG_SOCKS,   XW_MAP_MSG_INTO,	XW_MAP_MSG_STATS,   XW_MAP_MSG_CFG,
	};
	char path[300];
	int err = 0;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, names[i]);
		if (unlink(path) < 0 && errno != ENOENT)
			err = -errno;
	}
	/* sandbox_tc's maps (declared with the others) and its pinned links */
	if (sandbox_net_unpin(pin_dir) && !err)
		err = -EIO;
	if (rmdir(pin_dir) < 0 && errno != ENOENT && errno != ENOTEMPTY)
		err = -errno;
	return err;
}

int xw_cgroup2_mount(char *out, size_t size)
{
	char line[1024], point[512];
	int err = -ENOENT;
	FILE *f = fopen("/proc/self/mountinfo", "r");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (strstr(line, " - cgroup2 ") &&
		    sscanf(line, "%*s %*s %*s %*s %511s", point) == 1) {
			snprintf(out, size, "%s", point);
			err = 0;
			break;
		}
	}
	fclose(f);
	return err;
}
