// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <linux/tcp.h> /* tcp_info with tcpi_bytes_acked */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfload/sock_accel.h"
#include "log.h"
#include "pinned_maps.h"
#include "accel_answer.skel.h"
#include "accel_room.skel.h"
#include "sock_accel.skel.h"

struct xw_accel {
	struct xwhisk_sock_accel *skel;
	struct xwhisk_accel_room *room;
	struct xwhisk_accel_answer *answer;
	int socks_fd, peers_fd, stats_fd, prog_fd, room_fd;
	int answer_fd; /* accel_answer's map, -1 without the program */
	uint64_t *fwd; /* accel_fwd, mapped: the node's count of held bytes it forwarded */
	pthread_mutex_t lock; /* guards used and next */
	uint32_t next;
	uint8_t used[XW_ACCEL_MAX_PAIRS];
};

#define FWD_BYTES (2 * XW_ACCEL_MAX_PAIRS * sizeof(uint64_t))

/* accel_room, on the maps sock_accel just pinned. */
static int room_open(struct xw_accel *a, const char *pin_dir)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	int err;

	a->room = xwhisk_accel_room__open_opts(&opts);
	if (!a->room)
		return -errno;
	xw_pins_own_only(a->room->obj, pin_dir, "accel");
	err = bpf_map__set_autocreate(a->room->maps.msg_into, true) ?:
	      xwhisk_accel_room__load(a->room);
	if (err)
		return err;
	a->room_fd = bpf_program__fd(a->room->progs.accel_room);
	return 0;
}

/* accel_answer, on the pinned maps, attached to msg_into. Without it (a kernel whose
 * verifier refuses it) answers go by TCP and the verdict, as before. */
static void answer_open(struct xw_accel *a, const char *pin_dir)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	int err;

	a->answer = xwhisk_accel_answer__open_opts(&opts);
	if (!a->answer) {
		err = -errno;
		goto out;
	}
	xw_pins_own_only(a->answer->obj, pin_dir, "accel");
	err = bpf_map__set_autocreate(a->answer->maps.msg_into, true) ?:
	      xwhisk_accel_answer__load(a->answer);
	if (!err &&
	    bpf_prog_attach(bpf_program__fd(a->answer->progs.accel_answer),
			    bpf_map__fd(a->answer->maps.msg_into), BPF_SK_MSG_VERDICT, 0) < 0)
		err = -errno;
	if (!err)
		a->answer_fd = bpf_map__fd(a->answer->maps.accel_answers);
out:
	if (err) {
		pr_warn("sock_accel: answers go by TCP (accel_answer: %s)", strerror(-err));
		xwhisk_accel_answer__destroy(a->answer);
		a->answer = NULL;
	}
}

int xw_accel_open(const char *pin_dir, bool answers, struct xw_accel **out)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir ?: XW_PIN_DIR);
	struct xw_accel *a = calloc(1, sizeof(*a));
	int err;

	if (!a)
		return -ENOMEM;
	a->answer_fd = -1;
	pthread_mutex_init(&a->lock, NULL);
	err = xw_pin_dir_prepare(pin_dir ?: XW_PIN_DIR);
	if (err)
		goto out;
	a->skel = xwhisk_sock_accel__open_opts(&opts);
	if (!a->skel) {
		err = -errno;
		goto out;
	}
	/* accel maps hold only live sessions, none of which outlive the node process. */
	xw_pins_own_only(a->skel->obj, pin_dir ?: XW_PIN_DIR, "accel");
	/* The verdict redirects into msg_into: the one pinned already (the node's maps), or a
	 * new one, pinned for it, where XW_ACCEL_F_INTO finds no socket until it does. */
	err = bpf_map__set_autocreate(a->skel->maps.msg_into, true);
	if (err)
		goto out;
	err = xwhisk_sock_accel__load(a->skel);
	if (err)
		goto out;
	a->socks_fd = bpf_map__fd(a->skel->maps.accel_socks);
	a->peers_fd = bpf_map__fd(a->skel->maps.accel_peers);
	a->stats_fd = bpf_map__fd(a->skel->maps.accel_stats);
	a->prog_fd = bpf_program__fd(a->skel->progs.sock_accel);
	a->fwd = mmap(NULL, FWD_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED,
		      bpf_map__fd(a->skel->maps.accel_fwd), 0);
	if (a->fwd == MAP_FAILED) {
		a->fwd = NULL;
		err = -errno;
		goto out;
	}
	err = room_open(a, pin_dir ?: XW_PIN_DIR);
	if (err)
		goto out;
	if (answers)
		answer_open(a, pin_dir ?: XW_PIN_DIR);
	/* Replaces the program a previous node process attached: the map keeps it only for
	 * sockets added from now on. */
	if (bpf_prog_attach(a->prog_fd, a->socks_fd, BPF_SK_SKB_STREAM_VERDICT, 0) < 0) {
		err = -errno;
		goto out;
	}
	*out = a;
	a = NULL;
out:
	if (a)
		xw_accel_close(a);
	return err;
}

void xw_accel_close(struct xw_accel *a)
{
	if (!a)
		return;
	if (a->fwd)
		munmap(a->fwd, FWD_BYTES);
	xwhisk_accel_answer__destroy(a->answer);
	xwhisk_accel_room__destroy(a->room);
	xwhisk_sock_accel__destroy(a->skel);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

int xw_accel_pair_get(struct xw_accel *a, uint32_t *k)
{
	int err = -ENOSPC;

	pthread_mutex_lock(&a->lock);
	for (uint32_t i = 0; i < XW_ACCEL_MAX_PAIRS; i++) {
		uint32_t c = (a->next + i) % XW_ACCEL_MAX_PAIRS;

		if (!a->used[c]) {
			a->used[c] = 1;
			a->next = c + 1;
			*k = c;
			err = 0;
			break;
		}
	}
	pthread_mutex_unlock(&a->lock);
	return err;
}

void xw_accel_pair_put(struct xw_accel *a, uint32_t k)
{
	if (k >= XW_ACCEL_MAX_PAIRS)
		return;
	pthread_mutex_lock(&a->lock);
	a->used[k] = 0;
	pthread_mutex_unlock(&a->lock);
}

int xw_accel_add(struct xw_accel *a, uint32_t idx, int fd, uint16_t flags,
		 const struct xw_msg_key *into, uint64_t *cookie)
{
	struct xw_accel_peer peer = {.peer = idx ^ 1, .flags = flags};
	socklen_t len = sizeof(*cookie);
	uint64_t c, sock = (uint64_t)fd;

	if (idx >= 2 * XW_ACCEL_MAX_PAIRS)
		return -EINVAL;
	if (into) {
		peer.flags |= XW_ACCEL_F_INTO;
		peer.into = *into;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &c, &len) < 0)
		return -errno;
	/* The entry first: a socket in the map without one would have its bytes dropped. */
	__atomic_store_n(&a->fwd[idx], 0, __ATOMIC_RELEASE);
	if (bpf_map_update_elem(a->peers_fd, &c, &peer, BPF_ANY) < 0)
		return -errno;
	if (bpf_map_update_elem(a->socks_fd, &idx, &sock, BPF_ANY) < 0) {
		int err = -errno;

		(void)bpf_map_delete_elem(a->peers_fd, &c);
		return err;
	}
	*cookie = c;
	return 0;
}

int xw_accel_answer_set(struct xw_accel *a, const struct xw_msg_key *sandbox_end,
			uint64_t scookie)
{
	struct xw_accel_answer v = {.scookie = scookie};

	if (a->answer_fd < 0)
		return -EOPNOTSUPP;
	if (bpf_map_update_elem(a->answer_fd, sandbox_end, &v, BPF_ANY) < 0)
		return -errno;
	return 0;
}

void xw_accel_answer_del(struct xw_accel *a, const struct xw_msg_key *sandbox_end)
{
	if (a->answer_fd >= 0)
		(void)bpf_map_delete_elem(a->answer_fd, sandbox_end);
}

int xw_accel_peer_get(struct xw_accel *a, uint64_t cookie, struct xw_accel_peer *out)
{
	if (bpf_map_lookup_elem(a->peers_fd, &cookie, out) < 0)
		return -errno;
	return 0;
}

int xw_accel_tcp_queued(int fd, uint64_t *out)
{
	struct tcp_info ti;
	socklen_t len = sizeof(ti);
	int outq = 0;

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) < 0 || ioctl(fd, SIOCOUTQ, &outq) < 0)
		return -errno;
	*out = ti.tcpi_bytes_acked + (uint64_t)outq;
	return 0;
}

int xw_accel_delivered(struct xw_accel *a, uint64_t cookie, int to_fd, uint64_t to_queued0)
{
	struct xw_accel_peer p;
	uint64_t queued;
	int err = xw_accel_peer_get(a, cookie, &p) ?: xw_accel_tcp_queued(to_fd, &queued);

	if (err)
		return err;
	return queued - to_queued0 >= p.bytes;
}

int xw_accel_remove(struct xw_accel *a, uint32_t idx, uint64_t cookie, struct xw_accel_peer *last)
{
	int err;

	/* A closed socket left the map by itself: -ENOENT is no error here. */
	if (bpf_map_delete_elem(a->socks_fd, &idx) < 0 && errno != ENOENT)
		return -errno;
	err = xw_accel_peer_get(a, cookie, last);
	(void)bpf_map_delete_elem(a->peers_fd, &cookie);
	return err;
}

/* How many bytes the side at idx (or with into, the sandbox end behind it) takes by hand
 * now: accel_room's answer (xwhisk/sock_accel.h, struct xw_accel_room_ask). */
static int room_for(struct xw_accel *a, uint32_t idx, const struct xw_msg_key *into,
		    uint32_t *room)
{
	/* An Ethernet frame to test_run: the ask follows 14 bytes of header. */
	struct {
		char eth[14];
		struct xw_accel_room_ask ask;
	} __attribute__((packed)) pkt = {.ask = {.idx = idx, .into = into != NULL}};
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = &pkt, .data_size_in = sizeof(pkt));

	if (into)
		pkt.ask.key = *into;
	if (bpf_prog_test_run_opts(a->room_fd, &o) < 0)
		return -errno;
	*room = o.retval;
	return 0;
}

ssize_t xw_accel_forward_held(struct xw_accel *a, int from, uint32_t from_idx, int to,
			      uint32_t to_idx, const struct xw_msg_key *into,
			      struct xw_accel_held *h)
{
	uint32_t room = 0;
	ssize_t n;
	int err = from_idx < 2 * XW_ACCEL_MAX_PAIRS ? room_for(a, to_idx, into, &room) : -EINVAL;

	if (err)
		return err;
	if (!room)
		return -ENOSPC;
	if (h->off == h->len) {
		h->off = h->len = 0;
		n = recv(from, h->buf, h->cap < room ? h->cap : room, MSG_DONTWAIT);
		if (n <= 0)
			return n == 0 ? 0 : errno == EINTR ? -EAGAIN : -errno;
		h->len = (size_t)n;
	}
	n = h->len - h->off;
	n = send(to, h->buf + h->off, (size_t)n < room ? (size_t)n : room,
		 MSG_DONTWAIT | MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? -ENOBUFS : -errno;
	h->off += (size_t)n;
	/* Later bytes on `from` may be spliced again once this reaches held. */
	__atomic_add_fetch(&a->fwd[from_idx], (uint64_t)n, __ATOMIC_RELEASE);
	return n;
}

int xw_accel_prog_fd(struct xw_accel *a)
{
	return a->prog_fd;
}

int xw_accel_counters(struct xw_accel *a, struct xw_accel_stat out[XW_DROP__MAX])
{
	return xw_percpu_sum(a->stats_fd, XW_DROP__MAX, sizeof(*out), (uint64_t *)out);
}
