// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfload/sock_msg.h"
#include "pinned_maps.h"
#include "sock_msg_redirect.skel.h"
#include "sockops_msg.skel.h"

struct xw_msg {
	char pin_dir[256];
	struct xwhisk_sock_msg_redirect *skel;
	struct xwhisk_sockops_msg *sockops; /* with xw_msg_attach_sandboxes() */
	struct bpf_link *sockops_link;
	int socks_fd, into_fd, stats_fd;
};

int xw_msg_open(const char *pin_dir, struct xw_msg **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir ?: XW_PIN_DIR);
	struct xw_msg *m = calloc(1, sizeof(*m));
	int err;

	if (!m)
		return -ENOMEM;
	err = xw_pin_dir_prepare(pin_dir ?: XW_PIN_DIR);
	if (err)
		goto out;
	snprintf(m->pin_dir, sizeof(m->pin_dir), "%s", pin_dir ?: XW_PIN_DIR);
	m->skel = xwhisk_sock_msg_redirect__open_opts(&opts);
	if (!m->skel) {
		err = -errno;
		goto out;
	}
	/* msg maps hold only live connections, none of which outlive their process. */
	xw_pins_own_only(m->skel->obj, pin_dir ?: XW_PIN_DIR, "msg");
	err = xwhisk_sock_msg_redirect__load(m->skel);
	if (err)
		goto out;
	m->socks_fd = bpf_map__fd(m->skel->maps.msg_socks);
	m->into_fd = bpf_map__fd(m->skel->maps.msg_into);
	m->stats_fd = bpf_map__fd(m->skel->maps.msg_stats);
	if (bpf_prog_attach(bpf_program__fd(m->skel->progs.sock_msg_redirect), m->socks_fd,
			    BPF_SK_MSG_VERDICT, 0) < 0) {
		err = -errno;
		goto out;
	}
	*out = m;
	m = NULL;
out:
	if (m)
		xw_msg_close(m);
	return err;
}

void xw_msg_close(struct xw_msg *m)
{
	if (!m)
		return;
	bpf_link__destroy(m->sockops_link);
	xwhisk_sockops_msg__destroy(m->sockops);
	xwhisk_sock_msg_redirect__destroy(m->skel);
	free(m);
}

int xw_msg_attach_sandboxes(struct xw_msg *m, const char *cgroup_v2, uint32_t net, int prefix,
			    uint32_t peer, uint16_t port)
{
	struct xw_msg_cfg cfg = {
		.net = htonl(net),
		.mask = htonl(prefix ? ~0u << (32 - prefix) : 0),
		.peer = htonl(peer),
		.port = port,
	};
	uint32_t zero = 0;
	int cg = -1, err;

	if (m->sockops)
		return -EALREADY;
	cfg.net &= cfg.mask;
	if (bpf_map_update_elem(bpf_map__fd(m->skel->maps.msg_cfg), &zero, &cfg, BPF_ANY) < 0)
		return -errno;
	{
		LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = m->pin_dir);

		/* The sk_msg program's maps, pinned by name in the same directory. */
		m->sockops = xwhisk_sockops_msg__open_opts(&opts);
	}
	if (!m->sockops)
		return -errno;
	xw_pins_own_only(m->sockops->obj, m->pin_dir, "msg");
	err = xwhisk_sockops_msg__load(m->sockops);
	if (err)
		goto out;
	cg = open(cgroup_v2, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0) {
		err = -errno;
		goto out;
	}
	m->sockops_link = bpf_program__attach_cgroup(m->sockops->progs.sockops_msg, cg);
	if (!m->sockops_link) {
		err = -errno;
		goto out;
	}
out:
	if (cg >= 0)
		close(cg);
	if (err) {
		xwhisk_sockops_msg__destroy(m->sockops);
		m->sockops = NULL;
	}
	return err;
}

/* fd's own view of its connection, as sock_msg_redirect computes its peer's. */
static int msg_key(int fd, struct xw_msg_key *k)
{
	struct sockaddr_in local, remote;
	socklen_t ll = sizeof(local), rl = sizeof(remote);

	if (getsockname(fd, (struct sockaddr *)&local, &ll) < 0 ||
	    getpeername(fd, (struct sockaddr *)&remote, &rl) < 0)
		return -errno;
	if (local.sin_family != AF_INET || remote.sin_family != AF_INET)
		return -EAFNOSUPPORT;
	k->local_ip4 = local.sin_addr.s_addr;
	k->remote_ip4 = remote.sin_addr.s_addr;
	k->local_port = local.sin_port;
	k->remote_port = remote.sin_port;
	return 0;
}

int xw_msg_add(struct xw_msg *m, int fd)
{
	struct xw_msg_key k;
	uint64_t sock = (uint64_t)fd;
	int err = msg_key(fd, &k);

	if (err)
		return err;
	return bpf_map_update_elem(m->socks_fd, &k, &sock, BPF_ANY) < 0 ? -errno : 0;
}

int xw_msg_remove(struct xw_msg *m, int fd)
{
	struct xw_msg_key k;
	int err = msg_key(fd, &k);

	if (err)
		return err;
	return bpf_map_delete_elem(m->socks_fd, &k) < 0 ? -errno : 0;
}

int xw_msg_peer_in(struct xw_msg *m, int fd, struct xw_msg_key *peer)
{
	struct xw_msg_key k;
	uint64_t cookie;
	int err = msg_key(fd, &k);

	if (err)
		return err;
	*peer = (struct xw_msg_key){
	    .local_ip4 = k.remote_ip4,
	    .remote_ip4 = k.local_ip4,
	    .local_port = k.remote_port,
	    .remote_port = k.local_port,
	};
	return bpf_map_lookup_elem(m->into_fd, peer, &cookie) < 0 ? -errno : 0;
}

int xw_msg_counters(struct xw_msg *m, struct xw_msg_stat out[XW_MSG__MAX])
{
	return xw_percpu_sum(m->stats_fd, XW_MSG__MAX, sizeof(*out), (uint64_t *)out);
}
