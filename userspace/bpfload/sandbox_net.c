// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <ifaddrs.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "loop.h"
#include "pinned_maps.h"
#include "sandbox_net.h"
#include "sandbox_tc.skel.h"
#include "util.h"

/* enum bpf_attach_type's BPF_TCX_INGRESS (kernel 6.6); our uapi headers may predate it. */
#define ATTACH_TCX_INGRESS 46
#define CLSACT_HANDLE 1
#define CLSACT_PRIORITY 1
#define HOSTS_REFRESH_MS 1000
#define DNS_PORT 53

struct sandbox_net {
	struct xwhisk_sandbox_tc *skel;
	enum sandbox_net_mode mode;
	int prog_fd;
	int ifaces_fd, policy_fd, allow_fd, hosts_fd;
	uint64_t hosts_read_ms;
	char link_dir[PATH_MAX - 32];
};

/* ---- the policy ---- */

/* "a.b.c.d[/len][:port]" -> an allow key. */
static int parse_allow(const char *s, uint16_t default_port, struct xw_sandbox_allow_key *k)
{
	char addr[32];
	unsigned long len = 32, port = default_port;
	const char *slash = strchr(s, '/'), *colon = strchr(s, ':');
	size_t alen = strcspn(s, "/:");
	char *end;
	struct in_addr ia;
	uint32_t mask;

	if (alen >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, s, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, &ia) != 1)
		return -EINVAL;
	if (slash && (!colon || slash < colon)) {
		errno = 0;
		len = strtoul(slash + 1, &end, 10);
		if (errno || end == slash + 1 || len > 32 || (*end && *end != ':'))
			return -EINVAL;
	}
	if (colon) {
		errno = 0;
		port = strtoul(colon + 1, &end, 10);
		if (errno || end == colon + 1 || *end || !port || port > 65535)
			return -EINVAL;
	}
	mask = len ? htonl(~0u << (32 - len)) : 0;
	ia.s_addr &= mask;
	memset(k, 0, sizeof(*k));
	k->prefixlen = 16 + (uint32_t)len;
	k->port = (uint16_t)port;
	memcpy(k->addr, &ia.s_addr, 4);
	return 0;
}

/* Parses a comma-separated list into keys[*n...]. */
static int parse_list(const char *list, uint16_t default_port, struct xw_sandbox_allow_key *keys,
		      size_t *n, size_t max, const char **bad)
{
	char *copy, *tok, *save = NULL;
	int err = 0;

	if (!list)
		return 0;
	copy = strdup(list);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ", \t", &save); tok; tok = strtok_r(NULL, ", \t", &save)) {
		err = *n < max ? parse_allow(tok, default_port, &keys[*n]) : -E2BIG;
		if (err) {
			if (bad)
				*bad = list + (tok - copy);
			break;
		}
		(*n)++;
	}
	free(copy);
	return err;
}

static bool key_in(const struct xw_sandbox_allow_key *k, const struct xw_sandbox_allow_key *keys,
		   size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!memcmp(k, &keys[i], sizeof(*k)))
			return true;
	return false;
}

/* The allow trie becomes keys: entries kept keep their counters. */
static int allow_sync(struct sandbox_net *net, const struct xw_sandbox_allow_key *keys, size_t n)
{
	struct xw_sandbox_allow_key cur, next, stale[64];
	struct xw_sandbox_allow zero = { 0 };
	size_t nstale = 0;
	void *prev = NULL;

	do {
		nstale = 0;
		prev = NULL;
		while (nstale < ARRAY_SIZE(stale) && !bpf_map_get_next_key(net->allow_fd, prev, &next)) {
			cur = next;
			prev = &cur;
			if (!key_in(&cur, keys, n))
				stale[nstale++] = cur;
		}
		for (size_t i = 0; i < nstale; i++)
			(void)bpf_map_delete_elem(net->allow_fd, &stale[i]);
	} while (nstale == ARRAY_SIZE(stale));
	for (size_t i = 0; i < n; i++)
		if (bpf_map_update_elem(net->allow_fd, &keys[i], &zero, BPF_NOEXIST) &&
		    errno != EEXIST)
			return -errno;
	return 0;
}

/* Writes the policy map and the allow trie. */
static int policy_write(struct sandbox_net *net, const struct sandbox_net_policy *pol,
			const char **bad)
{
	struct xw_sandbox_policy p = { 0 };
	struct xw_sandbox_allow_key *keys;
	size_t n = 0;
	__u32 zero = 0;
	int err;

	keys = calloc(XW_SANDBOX_ALLOW_MAX, sizeof(*keys));
	if (!keys)
		return -ENOMEM;
	err = parse_list(pol->allow, 0, keys, &n, XW_SANDBOX_ALLOW_MAX, bad);
	if (!err)
		err = parse_list(pol->dns, DNS_PORT, keys, &n, XW_SANDBOX_ALLOW_MAX, bad);
	if (!err)
		err = allow_sync(net, keys, n);
	free(keys);
	if (err)
		return err;
	memcpy(p.gateway, &pol->gateway, 4);
	memcpy(p.subnet, &pol->subnet, 4);
	p.prefix = (__u8)(pol->prefix < 0 ? 0 : pol->prefix > 32 ? 32 : pol->prefix);
	p.ingress_port = pol->ingress_port;
	p.server_port = pol->server_port;
	p.egress = pol->egress;
	return bpf_map_update_elem(net->policy_fd, &zero, &p, BPF_ANY) ? -errno : 0;
}

int sandbox_net_refresh_hosts(struct sandbox_net *net, bool force)
{
	struct xw_sandbox_host_key keys[XW_SANDBOX_HOSTS_MAX], cur, next;
	struct ifaddrs *ifa, *i;
	uint64_t now = clock_mono_ms(), zero = 0;
	size_t n = 0;
	void *prev = NULL;

	if (!force && net->hosts_read_ms && now - net->hosts_read_ms < HOSTS_REFRESH_MS)
		return 0;
	if (getifaddrs(&ifa) < 0)
		return -errno;
	net->hosts_read_ms = now;
	for (i = ifa; i && n < ARRAY_SIZE(keys); i = i->ifa_next) {
		if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
			continue;
		memcpy(keys[n++].addr, &((struct sockaddr_in *)i->ifa_addr)->sin_addr, 4);
	}
	freeifaddrs(ifa);
	for (size_t k = 0; k < n; k++)
		if (bpf_map_update_elem(net->hosts_fd, &keys[k], &zero, BPF_NOEXIST) &&
		    errno != EEXIST)
			return -errno;
	/* Addresses the node no longer has; deleting while walking restarts the walk. */
	while (!bpf_map_get_next_key(net->hosts_fd, prev, &next)) {
		bool have = false;

		cur = next;
		for (size_t k = 0; k < n && !have; k++)
			have = !memcmp(&keys[k], &cur, sizeof(cur));
		if (!have && !bpf_map_delete_elem(net->hosts_fd, &cur)) {
			prev = NULL;
			continue;
		}
		prev = &cur;
	}
	return 0;
}

/* ---- loading ---- */

/* tcx is there when the kernel's BTF knows BPF_TCX_INGRESS. */
static bool kernel_has_tcx(void)
{
	struct btf *btf = btf__load_vmlinux_btf();
	bool found = false;
	int id;

	if (!btf)
		return false;
	id = btf__find_by_name_kind(btf, "bpf_attach_type", BTF_KIND_ENUM);
	if (id > 0) {
		const struct btf_type *t = btf__type_by_id(btf, (__u32)id);
		const struct btf_enum *e = btf_enum(t);

		for (int k = 0; k < btf_vlen(t) && !found; k++)
			found = !strcmp(btf__name_by_offset(btf, e[k].name_off), "BPF_TCX_INGRESS");
	}
	btf__free(btf);
	return found;
}

int sandbox_net_open(const char *pin_dir, const struct sandbox_net_policy *pol,
		     struct sandbox_net **out, const char **bad)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	struct sandbox_net *net;
	int err;

	err = xw_pin_dir_prepare(pin_dir);
	if (err)
		return err;
	net = calloc(1, sizeof(*net));
	if (!net)
		return -ENOMEM;
	snprintf(net->link_dir, sizeof(net->link_dir), "%s/%s", pin_dir, XW_SANDBOX_LINK_DIR);
	net->mode = kernel_has_tcx() ? SANDBOX_NET_TCX : SANDBOX_NET_CLSACT;
	/* The fallback, on demand: how it is tested on a kernel with tcx. */
	if (getenv("XWHISK_SANDBOX_TC_CLSACT"))
		net->mode = SANDBOX_NET_CLSACT;
	net->skel = xwhisk_sandbox_tc__open_opts(&opts);
	if (!net->skel) {
		err = -errno;
		goto fail;
	}
	xw_pins_own_only(net->skel->obj, pin_dir, "sandbox");
	err = xwhisk_sandbox_tc__load(net->skel);
	if (err)
		goto fail;
	net->prog_fd = bpf_program__fd(net->skel->progs.sandbox_tc);
	net->ifaces_fd = bpf_map__fd(net->skel->maps.sandbox_ifaces);
	net->policy_fd = bpf_map__fd(net->skel->maps.sandbox_policy);
	net->allow_fd = bpf_map__fd(net->skel->maps.sandbox_allow);
	net->hosts_fd = bpf_map__fd(net->skel->maps.sandbox_hosts);
	if (net->mode == SANDBOX_NET_TCX && mkdir(net->link_dir, 0700) < 0 && errno != EEXIST) {
		err = -errno;
		goto fail;
	}
	err = policy_write(net, pol, bad);
	if (!err)
		err = sandbox_net_refresh_hosts(net, true);
	if (err)
		goto fail;
	*out = net;
	return 0;
fail:
	sandbox_net_close(net);
	return err < 0 ? err : -EIO;
}

void sandbox_net_close(struct sandbox_net *net)
{
	if (!net)
		return;
	xwhisk_sandbox_tc__destroy(net->skel);
	free(net);
}

enum sandbox_net_mode sandbox_net_mode(const struct sandbox_net *net)
{
	return net->mode;
}

const char *sandbox_net_mode_name(enum sandbox_net_mode mode)
{
	return mode == SANDBOX_NET_TCX ? "tcx" : "clsact";
}

int sandbox_net_prog_fd(const struct sandbox_net *net)
{
	return net->prog_fd;
}

int sandbox_net_ifaces_fd(const struct sandbox_net *net)
{
	return net->ifaces_fd;
}

/* ---- attaching ---- */

static int link_path(const struct sandbox_net *net, const char *veth, char *path, size_t size)
{
	if (!veth[0] || strchr(veth, '/'))
		return -EINVAL;
	return snprintf(path, size, "%s/%s", net->link_dir, veth) >= (int)size ? -ENAMETOOLONG : 0;
}

/* A pinned link found for the veth gets the new program; else a new link is pinned. */
static int attach_tcx(struct sandbox_net *net, int ifindex, const char *veth)
{
	char path[PATH_MAX];
	int fd, err;

	err = link_path(net, veth, path, sizeof(path));
	if (err)
		return err;
	fd = bpf_obj_get(path);
	if (fd >= 0) {
		err = bpf_link_update(fd, net->prog_fd, NULL);
		close(fd);
		if (!err)
			return 0;
		/* Defunct (its device is gone): replaced below. */
		(void)unlink(path);
	}
	fd = bpf_link_create(net->prog_fd, ifindex, (enum bpf_attach_type)ATTACH_TCX_INGRESS, NULL);
	if (fd < 0)
		return -errno;
	err = bpf_obj_pin(fd, path) ? -errno : 0;
	close(fd); /* the pin holds the link; without it the program goes now */
	return err;
}

static int attach_clsact(struct sandbox_net *net, int ifindex)
{
	LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
	LIBBPF_OPTS(bpf_tc_opts, opts, .handle = CLSACT_HANDLE, .priority = CLSACT_PRIORITY,
		    .prog_fd = net->prog_fd, .flags = BPF_TC_F_REPLACE);
	int err = bpf_tc_hook_create(&hook);

	if (err && err != -EEXIST)
		return err;
	return bpf_tc_attach(&hook, &opts);
}

/* The sandbox's entry; one left by an earlier node for the same sandbox keeps its counters. */
static int iface_write(struct sandbox_net *net, int ifindex, const char *id, in_addr_t addr)
{
	struct xw_sandbox_iface v = { 0 }, old;
	__u32 key = (__u32)ifindex;

	snprintf(v.sandbox, sizeof(v.sandbox), "%s", id);
	memcpy(v.addr, &addr, 4);
	if (!bpf_map_lookup_elem(net->ifaces_fd, &key, &old) &&
	    !strncmp(old.sandbox, v.sandbox, sizeof(v.sandbox)) && !memcmp(old.addr, v.addr, 4))
		return 0;
	return bpf_map_update_elem(net->ifaces_fd, &key, &v, BPF_ANY) ? -errno : 0;
}

int sandbox_net_attach(struct sandbox_net *net, int ifindex, const char *veth, const char *id,
		       in_addr_t addr)
{
	int err;

	if (ifindex <= 0 || !veth || !id)
		return -EINVAL;
	(void)sandbox_net_refresh_hosts(net, false);
	/* The entry first: the program drops everything from a veth it has none for. */
	err = iface_write(net, ifindex, id, addr);
	if (err)
		return err;
	if (net->mode == SANDBOX_NET_TCX)
		return attach_tcx(net, ifindex, veth);
	return attach_clsact(net, ifindex);
}

int sandbox_net_detach(struct sandbox_net *net, int ifindex, const char *veth, const char *id)
{
	struct xw_sandbox_iface old;
	__u32 key = (__u32)ifindex;
	char path[PATH_MAX];
	int err = 0;

	if (net->mode == SANDBOX_NET_TCX) {
		err = link_path(net, veth, path, sizeof(path));
		if (!err && unlink(path) < 0 && errno != ENOENT)
			err = -errno;
	} else if (ifindex > 0) {
		LIBBPF_OPTS(bpf_tc_hook, hook, .ifindex = ifindex, .attach_point = BPF_TC_INGRESS);
		LIBBPF_OPTS(bpf_tc_opts, opts, .handle = CLSACT_HANDLE, .priority = CLSACT_PRIORITY);

		err = bpf_tc_detach(&hook, &opts);
		if (err == -ENOENT || err == -ENODEV || err == -EINVAL)
			err = 0;
	}
	/* Only its own entry: the ifindex may belong to another veth by now. */
	if (ifindex > 0 && !bpf_map_lookup_elem(net->ifaces_fd, &key, &old) &&
	    !strncmp(old.sandbox, id, sizeof(old.sandbox)))
		(void)bpf_map_delete_elem(net->ifaces_fd, &key);
	return err;
}

void sandbox_net_prune(struct sandbox_net *net,
		       bool (*keep)(const char *id, const char *veth, void *data), void *data)
{
	struct xw_sandbox_iface v;
	__u32 cur, next;
	void *prev = NULL;
	struct dirent *de;
	DIR *d;

	while (!bpf_map_get_next_key(net->ifaces_fd, prev, &next)) {
		char id[sizeof(v.sandbox) + 1];

		cur = next;
		prev = &cur;
		if (bpf_map_lookup_elem(net->ifaces_fd, &cur, &v))
			continue;
		snprintf(id, sizeof(id), "%.*s", (int)sizeof(v.sandbox), v.sandbox);
		if (!keep(id, NULL, data) && !bpf_map_delete_elem(net->ifaces_fd, &cur))
			prev = NULL; /* the walk starts over without it */
	}
	d = opendir(net->link_dir);
	while (d && (de = readdir(d))) {
		char path[PATH_MAX + NAME_MAX + 2];

		if (de->d_name[0] == '.' || keep(NULL, de->d_name, data))
			continue;
		snprintf(path, sizeof(path), "%s/%s", net->link_dir, de->d_name);
		(void)unlink(path);
	}
	if (d)
		closedir(d);
}

/* ---- counters ---- */

int sandbox_net_drops(const char *pin_dir, uint64_t out[XW_DROP__MAX])
{
	char path[PATH_MAX];
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, XW_MAP_SANDBOX_VERDICT);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	err = xw_percpu_sum(fd, XW_DROP__MAX, sizeof(uint64_t), out);
	close(fd);
	return err;
}

int sandbox_net_iface_drops(const struct sandbox_net *net, int ifindex,
			    uint64_t out[XW_DROP__MAX])
{
	struct xw_sandbox_iface v;
	__u32 key = (__u32)ifindex;

	if (bpf_map_lookup_elem(net->ifaces_fd, &key, &v))
		return -errno;
	for (int r = 0; r < XW_DROP__MAX; r++)
		out[r] = v.verdicts[r];
	return 0;
}

/* ---- cleanup ---- */

int sandbox_net_unpin(const char *pin_dir)
{
	static const char *const names[] = { XW_MAP_SANDBOX_IFACES, XW_MAP_SANDBOX_POLICY,
					     XW_MAP_SANDBOX_ALLOW, XW_MAP_SANDBOX_HOSTS,
					     XW_MAP_SANDBOX_VERDICT };
	char path[PATH_MAX];
	struct dirent *de;
	int err = 0;
	DIR *d;

	for (size_t i = 0; i < ARRAY_SIZE(names); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, names[i]);
		if (unlink(path) < 0 && errno != ENOENT)
			err = -errno;
	}
	snprintf(path, sizeof(path), "%s/%s", pin_dir, XW_SANDBOX_LINK_DIR);
	d = opendir(path);
	while (d && (de = readdir(d))) {
		char link[PATH_MAX + NAME_MAX + 2];

		if (de->d_name[0] == '.')
			continue;
		snprintf(link, sizeof(link), "%s/%s", path, de->d_name);
		if (unlink(link) < 0 && errno != ENOENT)
			err = -errno;
	}
	if (d)
		closedir(d);
	if (rmdir(path) < 0 && errno != ENOENT && !err)
		err = -errno;
	return err;
}
