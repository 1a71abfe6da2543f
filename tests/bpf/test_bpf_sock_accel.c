// SPDX-License-Identifier: Apache-2.0
/*
 * sock_accel: the verdict program on crafted skbs (bpf_prog_test_run_opts: a socket without
 * an entry is dropped, one whose peer is absent is held), then real splices between pairs
 * of loopback TCP connections in a private network namespace: bytes cross both ways in
 * order and are counted, a socket alone keeps its bytes, a removed pair stops splicing,
 * pair numbers run out and come back; a client's bytes go straight into the receive queue
 * of a socket in msg_socks (XW_ACCEL_F_INTO) behind what the node sent it there, its FIN
 * alone does not. Needs root and a kernel with sockmap.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <linux/sockios.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpfload/sock_accel.h"
#include "bpfload/sock_msg.h"
#include "pinned_maps.h"
#include "held_wait.h"
#include "tcp_pair.h"
#include "../unit/test.h"

static char pin_dir[128];
static struct xw_accel *accel;


static int map_fd(const char *name)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	return bpf_obj_get(path);
}

/* 0 without the program (a test's ASSERT(accel) then says so, rather than a crash). */
static uint64_t stat_skbs(unsigned reason)
{
	struct xw_accel_stat st[XW_DROP__MAX];

	return !accel || xw_accel_counters(accel, st) ? 0 : st[reason].skbs;
}

static void test_open(void)
{
	ASSERT(xw_accel_open(pin_dir, true, &accel) == 0);
	/* Opening again (a restarted node) re-adopts the pins and attaches anew. */
	struct xw_accel *again = NULL;

	CHECK(xw_accel_open(pin_dir, true, &again) == 0);
	xw_accel_close(again);
	again = NULL;
	CHECK(map_fd(XW_MAP_ACCEL_SOCKS) >= 0);
	/* Without accel_answer (XWHISK_ACCEL_ANSWER=0, or a verifier that refuses it) a stream
	 * cannot ask for it: the node sends its answer by TCP. */
	struct xw_msg_key key = {0};

	CHECK(xw_accel_answer_set(accel, &key, 1) == 0);
	xw_accel_answer_del(accel, &key);
	CHECK(xw_accel_open(pin_dir, false, &again) == 0);
	if (again) {
		CHECK(xw_accel_answer_set(again, &key, 1) == -EOPNOTSUPP);
		xw_accel_close(again);
	}
}

/* Crafted skbs: test_run has no socket, so the cookie is 0. */
static void test_verdict_fixtures(void)
{
	char pkt[64] = {0};
	struct xw_accel_peer peer = {.peer = 1};
	uint64_t zero = 0;
	int prog, peers = map_fd(XW_MAP_ACCEL_PEERS);
	LIBBPF_OPTS(bpf_test_run_opts, o, .data_in = pkt, .data_size_in = sizeof(pkt));
	uint64_t unpaired, held;
	int err;

	ASSERT(accel && peers >= 0);
	prog = xw_accel_prog_fd(accel);
	unpaired = stat_skbs(XW_DROP_ACCEL_UNPAIRED);
	held = stat_skbs(XW_ACCEL_HELD);
	(void)bpf_map_delete_elem(peers, &zero);
	err = bpf_prog_test_run_opts(prog, &o);
	if (err == -524 /* ENOTSUPP */ || err == -EOPNOTSUPP) {
		/* Kernels without test_run for sk_skb: the real splices below still run. */
		fprintf(stderr, "  sk_skb test_run not supported here (%d)\n", err);
		close(peers);
		return;
	}
	CHECK(err == 0);
	CHECK(o.retval == SK_DROP);
	CHECK(stat_skbs(XW_DROP_ACCEL_UNPAIRED) == unpaired + 1);
	ASSERT(bpf_map_update_elem(peers, &zero, &peer, BPF_ANY) == 0);
	err = bpf_prog_test_run_opts(prog, &o);
	CHECK(err == 0);
	CHECK(o.retval == SK_PASS);
	CHECK(stat_skbs(XW_ACCEL_HELD) == held + 1);
	(void)bpf_map_delete_elem(peers, &zero);
	close(peers);
}

/* A client's connection (a_far -> a_near, the node's end) spliced to a sandbox's (b_near,
 * the node's end -> b_far) as the node does: the sandbox's side first. */
static bool splice_two(int *a_far, int *a_near, int *b_far, int *b_near, uint32_t *k,
		       uint64_t *ca, uint64_t *cb)
{
	return tcp_pair(a_far, a_near) == 0 && tcp_pair(b_far, b_near) == 0 &&
	       xw_accel_pair_get(accel, k) == 0 &&
	       xw_accel_add(accel, 2 * *k + 1, *b_near, XW_ACCEL_F_STATUS, NULL, cb) == 0 &&
	       xw_accel_add(accel, 2 * *k, *a_near, 0, NULL, ca) == 0;
}

/* The end of a test's splice: the pair's number back, the four sockets closed. */
static void splice_end(uint32_t k, int a_far, int a_near, int b_far, int b_near)
{
	xw_accel_pair_put(accel, k);
	close(a_far);
	close(a_near);
	close(b_far);
	close(b_near);
}

/* Two connections spliced: A's far end talks to B's far end through the node's sockets. */
static void test_splice_both_ways(void)
{
	int a_far, a_near, b_far, b_near;
	uint64_t ca, cb, passed = stat_skbs(XW_REASON_PASS);
	struct xw_accel_peer pa = {0}, pb = {0};
	uint32_t k;
	char buf[64];

	ASSERT(accel);
	ASSERT(splice_two(&a_far, &a_near, &b_far, &b_near, &k, &ca, &cb));
	CHECK(write(a_far, "hello sandbox", 13) == 13);
	CHECK(read_full(b_far, buf, 13, 2000) == 0 && !memcmp(buf, "hello sandbox", 13));
	/* The sandbox's side answers: its status is read on the way. */
	CHECK(write(b_far, "HTTP/1.1 201 Created\r\n", 22) == 22);
	CHECK(read_full(a_far, buf, 22, 2000) == 0 && !memcmp(buf, "HTTP/1.1 201 Created\r\n", 22));
	CHECK(!xw_accel_peer_get(accel, ca, &pa) && pa.bytes == 13 && pa.status == 0);
	CHECK(!xw_accel_peer_get(accel, cb, &pb) && pb.bytes == 22 && pb.status == 201);
	CHECK(stat_skbs(XW_REASON_PASS) >= passed + 2);
	/* The node sees none of it. */
	CHECK(recv(a_near, buf, sizeof(buf), MSG_DONTWAIT) < 0 && errno == EAGAIN);
	CHECK(xw_accel_remove(accel, 2 * k, ca, &pa) == 0 && pa.bytes == 13);
	CHECK(xw_accel_remove(accel, 2 * k + 1, cb, &pb) == 0 && pb.bytes == 22);
	/* Out of the map, a socket keeps what it receives. */
	CHECK(write(a_far, "x", 1) == 1);
	CHECK(read_full(a_near, buf, 1, 2000) == 0 && buf[0] == 'x');
	splice_end(k, a_far, a_near, b_far, b_near);
}

/* The sandbox's socket is in, the client's not yet: the sandbox's bytes wait on it, and
 * so do later ones, until the node forwarded what was held: none overtakes. */
static void test_held_until_peer(void)
{
	int a_far, a_near, b_far, b_near;
	uint64_t ca, cb, held = stat_skbs(XW_ACCEL_HELD);
	struct xw_accel_peer pb = {0};
	struct pollfd pf;
	uint32_t k;
	char buf[16], scratch[64];
	struct xw_accel_held h = {.buf = scratch, .cap = sizeof(scratch)};
	ssize_t n, fwd = 0;

	ASSERT(accel);
	ASSERT(tcp_pair(&a_far, &a_near) == 0);
	ASSERT(tcp_pair(&b_far, &b_near) == 0);
	ASSERT(xw_accel_pair_get(accel, &k) == 0);
	ASSERT(xw_accel_add(accel, 2 * k + 1, b_near, XW_ACCEL_F_STATUS, NULL, &cb) == 0);
	CHECK(write(b_far, "early", 5) == 5);
	pf = (struct pollfd){.fd = b_near, .events = POLLIN};
	CHECK(poll(&pf, 1, 2000) == 1);
	CHECK(stat_skbs(XW_ACCEL_HELD) >= held + 1);
	ASSERT(xw_accel_add(accel, 2 * k, a_near, 0, NULL, &ca) == 0);
	CHECK(write(b_far, "late", 4) == 4);
	CHECK(read_full(a_far, buf, 1, 200) == -ETIMEDOUT); /* "late" waits behind "early" */
	for (int i = 0; i < 100 && fwd < 9; i++) {
		n = xw_accel_forward_held(accel, b_near, 2 * k + 1, a_near, 2 * k, NULL, &h);
		if (n > 0)
			fwd += n;
		else
			usleep(10 * 1000);
	}
	CHECK(fwd == 9);
	CHECK(read_full(a_far, buf, 9, 2000) == 0 && !memcmp(buf, "earlylate", 9));
	/* All forwarded: the verdict splices again. */
	CHECK(write(b_far, "next", 4) == 4);
	CHECK(read_full(a_far, buf, 4, 2000) == 0 && !memcmp(buf, "next", 4));
	/* Held bytes are counted as received: the record's count stays whole. */
	CHECK(xw_accel_remove(accel, 2 * k + 1, cb, &pb) == 0 && pb.bytes == 13 && pb.held == 9);
	CHECK(xw_accel_remove(accel, 2 * k, ca, &pb) == 0);
	splice_end(k, a_far, a_near, b_far, b_near);
}

/* A client's FIN alone goes nowhere: sent to the sandbox's socket's egress it would be a
 * hard error to the kernel's psock worker (EPIPE on that socket, nothing sent to it again,
 * held bytes dropped). The sandbox's side neither ends nor fails, and answers still go. */
static void test_fin_alone_goes_nowhere(void)
{
	int a_far, a_near, b_far, b_near, err = -1;
	uint64_t ca, cb, fins = stat_skbs(XW_ACCEL_FIN);
	struct xw_accel_peer pa = {0};
	uint32_t k;
	char buf[16];

	ASSERT(accel);
	ASSERT(splice_two(&a_far, &a_near, &b_far, &b_near, &k, &ca, &cb));
	CHECK(write(a_far, "one", 3) == 3);
	CHECK(read_full(b_far, buf, 3, 2000) == 0 && !memcmp(buf, "one", 3));
	shutdown(a_far, SHUT_WR);
	CHECK(read_full(b_far, buf, 1, 300) == -ETIMEDOUT);
	CHECK(getsockopt(b_near, SOL_SOCKET, SO_ERROR, &err, &(socklen_t){sizeof(err)}) == 0 &&
	      err == 0);
	CHECK(stat_skbs(XW_ACCEL_FIN) >= fins + 1);
	CHECK(write(b_far, "last", 4) == 4);
	CHECK(read_full(a_far, buf, 4, 2000) == 0 && !memcmp(buf, "last", 4));
	CHECK(xw_accel_remove(accel, 2 * k, ca, &pa) == 0 && pa.bytes == 3);
	CHECK(xw_accel_remove(accel, 2 * k + 1, cb, &pa) == 0 && pa.bytes == 4);
	splice_end(k, a_far, a_near, b_far, b_near);
}

/* A socket in the map without its entry (a bookkeeping error): its bytes are dropped and
 * counted, never delivered anywhere. */
static void test_unpaired_dropped(void)
{
	int a_far, a_near, socks = map_fd(XW_MAP_ACCEL_SOCKS);
	uint64_t dropped = stat_skbs(XW_DROP_ACCEL_UNPAIRED), fd64;
	uint32_t idx = 2 * XW_ACCEL_MAX_PAIRS - 1;
	char buf[8];

	ASSERT(accel && socks >= 0);
	ASSERT(tcp_pair(&a_far, &a_near) == 0);
	fd64 = (uint64_t)a_near;
	ASSERT(bpf_map_update_elem(socks, &idx, &fd64, BPF_ANY) == 0);
	CHECK(write(a_far, "lost", 4) == 4);
	CHECK(read_full(a_near, buf, 4, 300) == -ETIMEDOUT);
	CHECK(stat_skbs(XW_DROP_ACCEL_UNPAIRED) >= dropped + 1);
	(void)bpf_map_delete_elem(socks, &idx);
	close(socks);
	close(a_far);
	close(a_near);
}

/* 16 MB one way while 16 MB come back: every byte in order, counted. */
static void test_splice_bulk(void)
{
	enum { TOTAL = 16 << 20, CHUNK = 65536 };
	static char up_buf[256 << 10], down_buf[256 << 10];
	struct xw_accel_held up = {.buf = up_buf, .cap = sizeof(up_buf)},
			     down = {.buf = down_buf, .cap = sizeof(down_buf)};
	int a_far, a_near, b_far, b_near;
	struct xw_accel_peer pa = {0}, pb = {0};
	uint64_t ca, cb;
	uint32_t k;
	pid_t child;
	char *buf = malloc(CHUNK), *want = malloc(CHUNK);
	int status = 1;
	size_t got = 0;

	ASSERT(accel && buf && want);
	ASSERT(splice_two(&a_far, &a_near, &b_far, &b_near, &k, &ca, &cb));
	child = fork();
	ASSERT(child >= 0);
	if (child == 0) {
		/* The client uploads a counting pattern and the sandbox echoes it back. */
		pid_t echo = fork();

		if (echo == 0) {
			ssize_t n;

			while ((n = read(b_far, buf, CHUNK)) > 0)
				if (write(b_far, buf, (size_t)n) != n)
					_exit(2);
			_exit(0);
		}
		write_pattern(a_far, TOTAL, 7, buf, CHUNK);
	}
	/* The node's part: what the verdict held for a side behind goes by hand, waited for
	 * as stream.c does (held_wait.h). Only 5 s without a byte back is a failure. */
	for (time_t last = time(NULL); got < TOTAL && time(NULL) - last < 5;) {
		ssize_t fwd_up = xw_accel_forward_held(accel, a_near, 2 * k, b_near, 2 * k + 1,
						       NULL, &up);
		ssize_t fwd_down = xw_accel_forward_held(accel, b_near, 2 * k + 1, a_near, 2 * k,
							 NULL, &down);
		struct pollfd pf[3] = {{.fd = a_far, .events = POLLIN},
				       {.fd = a_near, .events = held_events(fwd_up, fwd_down)},
				       {.fd = b_near, .events = held_events(fwd_down, fwd_up)}};
		ssize_t n = recv(a_far, buf, TOTAL - got < CHUNK ? TOTAL - got : CHUNK,
				 MSG_DONTWAIT);

		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
		if (n < 0 && fwd_up <= 0 && fwd_down <= 0)
			(void)poll(pf, 3, held_wait_ms(fwd_up, fwd_down, 10));
		if (n < 0)
			continue;
		last = time(NULL);
		for (ssize_t i = 0; i < n; i++)
			want[i] = (char)((got + (size_t)i) * 7);
		if (memcmp(buf, want, (size_t)n))
			break;
		got += (size_t)n;
	}
	if (got != TOTAL)
		fprintf(stderr, "  %zu of %d bytes came back\n", got, TOTAL);
	CHECK(got == TOTAL);
	shutdown(b_far, SHUT_RDWR);
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(!xw_accel_remove(accel, 2 * k, ca, &pa) && pa.bytes == TOTAL);
	CHECK(!xw_accel_remove(accel, 2 * k + 1, cb, &pb) && pb.bytes == TOTAL);
	xw_accel_pair_put(accel, k);
	close(a_far);
	close(a_near);
	close(b_far);
	close(b_near);
	while (wait(NULL) > 0)
		;
	free(buf);
	free(want);
}

/*
 * A sandbox that does not read: the kernel queues at most XW_ACCEL_QUEUE_MAX skbs for it,
 * then the client's bytes stay on the node's socket (FULL), whose window closes: the
 * client stops, a bounded amount in. Then the node forwards the held bytes by hand while
 * the sandbox reads: every byte arrives, in order, and the verdict takes over again. With
 * into, the client's bytes go into the sandbox's own socket (XW_ACCEL_F_INTO), and so do
 * the node's, by sock_msg_redirect, as much as that socket's receive buffer has left.
 */
static void slow_reader(bool into)
{
	enum { TOTAL = 96 << 20, CHUNK = 65536, BOUND = 40 << 20 };
	int a_far, a_near, node, sandbox, into_fd = -1;
	struct xw_accel_peer pa = {0};
	uint64_t ca, cb, full = stat_skbs(XW_ACCEL_FULL), last = 0, fwd = 0;
	uint64_t into0 = stat_skbs(XW_ACCEL_INTO);
	struct xw_msg *m = NULL;
	struct xw_msg_key key;
	uint32_t k;
	pid_t child;
	char *buf = malloc(4 * CHUNK), *want = malloc(4 * CHUNK);
	struct xw_accel_held h = {.buf = malloc(4 * CHUNK), .cap = 4 * CHUNK};
	size_t got = 0;
	int status = 1, still = 0;

	ASSERT(accel && buf && want && h.buf);
	ASSERT(tcp_pair(&a_far, &a_near) == 0 && tcp_pair(&node, &sandbox) == 0);
	if (into) {
		ASSERT(xw_msg_open(pin_dir, &m) == 0);
		into_fd = map_fd(XW_MAP_MSG_INTO);
		(void)xw_msg_peer_in(m, node, &key);
		ASSERT(bpf_map_update_elem(into_fd, &key, &(uint64_t){(uint64_t)sandbox},
					   BPF_ANY) == 0);
		ASSERT(xw_msg_add(m, node) == 0);
	}
	ASSERT(xw_accel_pair_get(accel, &k) == 0);
	ASSERT(xw_accel_add(accel, 2 * k + 1, node, 0, NULL, &cb) == 0);
	ASSERT(xw_accel_add(accel, 2 * k, a_near, 0, into ? &key : NULL, &ca) == 0);
	child = fork();
	ASSERT(child >= 0);
	if (child == 0)
		write_pattern(a_far, TOTAL, 13, buf, CHUNK);
	/* Until the client stops: what reached the node's socket no longer grows. */
	for (int i = 0; i < 100 && still < 3; i++) {
		usleep(100 * 1000);
		CHECK(!xw_accel_peer_get(accel, ca, &pa));
		still = pa.bytes == last ? still + 1 : 0;
		last = pa.bytes;
	}
	CHECK(still >= 3);
	CHECK(pa.bytes < BOUND); /* without the bound: all of TOTAL, in the kernel's queues */
	CHECK(pa.held > 0);
	CHECK(stat_skbs(XW_ACCEL_FULL) > full);
	/* Waits as stream.c does (held_wait.h); 5 s without a byte is a failure. */
	for (time_t at = time(NULL); got < TOTAL && time(NULL) - at < 5;) {
		ssize_t f = xw_accel_forward_held(accel, a_near, 2 * k, node, 2 * k + 1,
						  into ? &key : NULL, &h);
		struct pollfd pf[3] = {{.fd = sandbox, .events = POLLIN},
				       {.fd = a_near, .events = held_events(f, 0)},
				       {.fd = node, .events = held_events(0, f)}};
		ssize_t n;

		if (held_failed(f))
			break;
		if (f > 0)
			fwd += (uint64_t)f;
		n = recv(sandbox, buf, 4 * CHUNK, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
		if (n < 0 && f <= 0)
			(void)poll(pf, 3, held_wait_ms(f, 0, 10));
		if (n < 0)
			continue;
		at = time(NULL);
		for (ssize_t i = 0; i < n; i++)
			want[i] = (char)((got + (size_t)i) * 13);
		if (memcmp(buf, want, (size_t)n))
			break;
		got += (size_t)n;
	}
	CHECK(got == TOTAL);
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(!xw_accel_remove(accel, 2 * k, ca, &pa) && pa.bytes == TOTAL);
	CHECK(pa.held == fwd && fwd > 0 && fwd < TOTAL);
	CHECK(!into || stat_skbs(XW_ACCEL_INTO) > into0);
	CHECK(!xw_accel_remove(accel, 2 * k + 1, cb, &pa));
	splice_end(k, a_far, a_near, node, sandbox);
	if (into_fd >= 0)
		close(into_fd);
	xw_msg_close(m);
	free(buf);
	free(want);
	free(h.buf);
}

static void test_slow_reader_held(void)
{
	slow_reader(false);
}

static void test_slow_sandbox_held_into(void)
{
	slow_reader(true);
}

static uint16_t csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static uint32_t csum_add(uint32_t sum, const void *data, size_t len)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)(p[len - 1] << 8);
	return sum;
}

/* A TCP segment from `from` to `to` (loopback, network order) with this sequence, ACK
 * and payload, sent by a raw socket: what a retransmission looks like to the receiver. */
static int send_segment(const struct sockaddr_in *from, const struct sockaddr_in *to,
			uint32_t seq, uint32_t ack, const char *data, size_t len)
{
	struct {
		uint16_t sport, dport;
		uint32_t seq, ack;
		uint8_t off, flags;
		uint16_t win, sum, urg;
		char data[8192];
	} __attribute__((packed)) seg = {.sport = from->sin_port, .dport = to->sin_port,
					 .seq = htonl(seq), .ack = htonl(ack), .off = 5 << 4,
					 .flags = 0x18 /* PSH ACK */, .win = htons(65535)};
	struct {
		uint32_t src, dst;
		uint8_t zero, proto;
		uint16_t len;
	} __attribute__((packed)) pseudo = {from->sin_addr.s_addr, to->sin_addr.s_addr, 0,
					    IPPROTO_TCP, htons((uint16_t)(20 + len))};
	int fd = socket(AF_INET, SOCK_RAW, IPPROTO_TCP), err;

	if (fd < 0 || len > sizeof(seg.data))
		return -1;
	memcpy(seg.data, data, len);
	seg.sum = htons(csum_fold(csum_add(csum_add(0, &pseudo, sizeof(pseudo)), &seg, 20 + len)));
	err = sendto(fd, &seg, 20 + len, 0, (const struct sockaddr *)to, sizeof(*to)) ==
		      (ssize_t)(20 + len)
		  ? 0
		  : -1;
	close(fd);
	return err;
}

/* The sequence numbers of an established socket: next to send, next to receive. */
static int tcp_seqs(int fd, uint32_t *snd, uint32_t *rcv)
{
	int on = 1, off = 0, q;
	socklen_t l = sizeof(*snd);
	int err = setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &on, sizeof(on));

	q = TCP_SEND_QUEUE;
	err = err ?: setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q));
	err = err ?: getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, snd, &l);
	q = TCP_RECV_QUEUE;
	err = err ?: setsockopt(fd, IPPROTO_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q));
	err = err ?: getsockopt(fd, IPPROTO_TCP, TCP_QUEUE_SEQ, rcv, &l);
	(void)setsockopt(fd, IPPROTO_TCP, TCP_REPAIR, &off, sizeof(off));
	return err;
}

/*
 * A retransmission that overlaps bytes already received: TCP queues it whole (its start
 * before rcv_nxt), and the verdict, which gets whole skbs, cuts the old front off. Seen
 * as a 1 GB upload that arrived 65,483 bytes too long (one loopback segment twice), when
 * held bytes filled a client socket's receive memory and it dropped segments.
 */
static void test_overlapping_retransmission(void)
{
	int a_far, a_near, b_far, b_near;
	struct sockaddr_in far_addr, near_addr;
	socklen_t sl = sizeof(far_addr);
	uint64_t ca, cb, old = 0;
	struct xw_accel_stat st[XW_DROP__MAX];
	struct xw_accel_peer pa = {0};
	uint32_t snd, rcv, k;
	char buf[32];
	static char big[6006]; /* 6,000 old bytes and 6 new */

	ASSERT(accel);
	ASSERT(splice_two(&a_far, &a_near, &b_far, &b_near, &k, &ca, &cb));
	ASSERT(getsockname(a_far, (struct sockaddr *)&far_addr, &sl) == 0);
	sl = sizeof(near_addr);
	ASSERT(getsockname(a_near, (struct sockaddr *)&near_addr, &sl) == 0);
	CHECK(write(a_far, "0123456789", 10) == 10);
	CHECK(read_full(b_far, buf, 10, 2000) == 0 && !memcmp(buf, "0123456789", 10));
	if (!xw_accel_counters(accel, st))
		old = st[XW_ACCEL_OLD].bytes;
	ASSERT(tcp_seqs(a_far, &snd, &rcv) == 0);
	/* "6789" again, then "abcdef": only the new bytes may reach the sandbox. */
	ASSERT(send_segment(&far_addr, &near_addr, snd - 4, rcv, "6789abcdef", 10) == 0);
	CHECK(read_full(b_far, buf, 6, 2000) == 0 && !memcmp(buf, "abcdef", 6));
	CHECK(read_full(b_far, buf, 1, 200) == -ETIMEDOUT);
	/* Wholly old: nothing. */
	ASSERT(send_segment(&far_addr, &near_addr, snd, rcv, "abcdef", 6) == 0);
	CHECK(read_full(b_far, buf, 1, 200) == -ETIMEDOUT);
	CHECK(!xw_accel_counters(accel, st) && st[XW_ACCEL_OLD].bytes >= old + 4);
	CHECK(!xw_accel_remove(accel, 2 * k, ca, &pa) && pa.bytes == 16);
	CHECK(!xw_accel_remove(accel, 2 * k + 1, cb, &pa));
	splice_end(k, a_far, a_near, b_far, b_near);

	/* An overlap longer than bpf_skb_adjust_room cuts at once (4,095 bytes): before the
	 * cut went in steps, the skb was dropped whole, its new bytes with it. */
	ASSERT(splice_two(&a_far, &a_near, &b_far, &b_near, &k, &ca, &cb));
	sl = sizeof(far_addr);
	ASSERT(getsockname(a_far, (struct sockaddr *)&far_addr, &sl) == 0);
	sl = sizeof(near_addr);
	ASSERT(getsockname(a_near, (struct sockaddr *)&near_addr, &sl) == 0);
	memset(big, 'o', sizeof(big));
	CHECK(write(a_far, big, sizeof(big) - 6) == (ssize_t)sizeof(big) - 6);
	CHECK(read_full(b_far, big, sizeof(big) - 6, 2000) == 0);
	ASSERT(tcp_seqs(a_far, &snd, &rcv) == 0);
	memset(big, 'o', sizeof(big));
	memcpy(big + sizeof(big) - 6, "ghijkl", 6);
	if (!xw_accel_counters(accel, st))
		old = st[XW_ACCEL_OLD].bytes;
	ASSERT(send_segment(&far_addr, &near_addr, snd - (uint32_t)(sizeof(big) - 6), rcv, big,
			    sizeof(big)) == 0);
	CHECK(read_full(b_far, buf, 6, 2000) == 0 && !memcmp(buf, "ghijkl", 6));
	CHECK(!xw_accel_counters(accel, st) && st[XW_ACCEL_OLD].bytes == old + sizeof(big) - 6);
	CHECK(read_full(b_far, buf, 1, 200) == -ETIMEDOUT);
	CHECK(!xw_accel_remove(accel, 2 * k, ca, &pa) && pa.bytes == sizeof(big));
	CHECK(!xw_accel_remove(accel, 2 * k + 1, cb, &pa));
	splice_end(k, a_far, a_near, b_far, b_near);
}

static uint64_t tcp_queued(int fd)
{
	uint64_t q = UINT64_MAX;

	(void)xw_accel_tcp_queued(fd, &q);
	return q;
}

/*
 * A streaming action's upload, as the node splices it when its sandbox's server end is in
 * msg_socks: the head by sock_msg_redirect, the client's bytes into that socket by the
 * verdict, in that order, nothing by TCP; without that socket, by TCP after all; the
 * client's FIN alone stays out (an HTTP server would read it as the request's end); the
 * answer by TCP, spliced back with its status, and delivered as the node tells it.
 */
static void test_into_sandbox_socket(void)
{
	struct xw_accel_peer pa = {0}, pb = {0};
	struct xw_msg *m = NULL;
	struct xw_msg_key key;
	uint64_t ca, cb, queued, a_queued, passed, into = stat_skbs(XW_ACCEL_INTO);
	uint32_t k;
	int a_far, a_near, node, sandbox, into_fd;
	struct pollfd pf;
	char buf[32];

	ASSERT(accel);
	/* accel made and pinned msg_into; sock_msg adopts it. */
	ASSERT(xw_msg_open(pin_dir, &m) == 0);
	into_fd = map_fd(XW_MAP_MSG_INTO);
	ASSERT(into_fd >= 0);
	ASSERT(tcp_pair(&a_far, &a_near) == 0);
	ASSERT(tcp_pair(&node, &sandbox) == 0);
	queued = tcp_queued(node); /* the SYN's sequence number counts */
	a_queued = tcp_queued(a_near);
	CHECK(xw_msg_peer_in(m, node, &key) == -ENOENT); /* it tells the key all the same */
	/* what sockops_msg does with a streaming action's server end */
	ASSERT(bpf_map_update_elem(into_fd, &key, &(uint64_t){(uint64_t)sandbox}, BPF_ANY) == 0);
	ASSERT(xw_msg_peer_in(m, node, &key) == 0);
	ASSERT(xw_msg_add(m, node) == 0);
	CHECK(write(node, "HEAD|", 5) == 5);
	ASSERT(xw_accel_pair_get(accel, &k) == 0);
	ASSERT(xw_accel_add(accel, 2 * k + 1, node, XW_ACCEL_F_STATUS, NULL, &cb) == 0);
	ASSERT(xw_accel_add(accel, 2 * k, a_near, 0, &key, &ca) == 0);
	CHECK(write(a_far, "body", 4) == 4);
	CHECK(read_full(sandbox, buf, 9, 2000) == 0 && !memcmp(buf, "HEAD|body", 9));
	CHECK(stat_skbs(XW_ACCEL_INTO) >= into + 1);
	CHECK(tcp_queued(node) == queued); /* nothing by TCP */
	/* Its socket gone from msg_into (closed), the client's bytes take the node's socket's
	 * egress, by TCP, as without XW_ACCEL_F_INTO. */
	passed = stat_skbs(XW_REASON_PASS);
	ASSERT(bpf_map_delete_elem(into_fd, &key) == 0);
	CHECK(write(a_far, "more", 4) == 4);
	CHECK(read_full(sandbox, buf, 4, 2000) == 0 && !memcmp(buf, "more", 4));
	CHECK(stat_skbs(XW_REASON_PASS) >= passed + 1);
	CHECK(tcp_queued(node) == queued + 4);
	shutdown(a_far, SHUT_WR);
	pf = (struct pollfd){.fd = sandbox, .events = POLLIN | POLLRDHUP};
	CHECK(poll(&pf, 1, 300) == 0);
	/* What the server end sends keeps TCP (no accel_answers entry), for the verdict on
	 * the node's socket. */
	CHECK(write(sandbox, "HTTP/1.1 200 OK\r\n", 17) == 17);
	CHECK(read_full(a_far, buf, 17, 2000) == 0 && !memcmp(buf, "HTTP/1.1 200 OK\r\n", 17));
	/* The node's test before it closes: every byte of the answer is in the client's socket. */
	CHECK(xw_accel_delivered(accel, cb, a_near, a_queued) == 1);
	CHECK(xw_accel_delivered(accel, cb, a_near, a_queued + 1) == 0);
	CHECK(xw_accel_delivered(accel, ~0ull, a_near, a_queued) == -ENOENT);
	CHECK(!xw_accel_remove(accel, 2 * k, ca, &pa) && pa.bytes == 8);
	CHECK(!xw_accel_remove(accel, 2 * k + 1, cb, &pb) && pb.bytes == 17 && pb.status == 200);
	splice_end(k, a_far, a_near, node, sandbox);
	close(into_fd);
	xw_msg_close(m);
}

/* Bytes the socket fd still has to send (not acknowledged). */
static int unacked(int fd)
{
	int n = -1;

	return ioctl(fd, SIOCOUTQ, &n) < 0 ? -1 : n;
}

/*
 * An answer by accel_answer: the server end's writes go straight to the client's socket
 * (sk_msg), not by TCP to the node's; the first (the status line) by TCP, for the verdict
 * to read. A client that stops reading: writes fall back to TCP, where the verdict holds
 * them, the server's socket stops being writable (an event loop waits instead of spinning),
 * and once the node forwarded the held bytes every byte arrives, in order.
 */
static void test_answer_by_msg(void)
{
	enum { CHUNK = 65536, CAP = 256 << 20 };
	struct xw_accel_peer pb = {0};
	struct xw_msg *m = NULL;
	struct xw_msg_key key;
	uint64_t ca, cb, queued, msgs = stat_skbs(XW_ACCEL_MSG);
	uint32_t k;
	int a_far, a_near, node, sandbox, into_fd, flags, i;
	struct xw_accel_held h = {.buf = malloc(4 * CHUNK), .cap = 4 * CHUNK};
	char *buf = malloc(4 * CHUNK), head[19];
	size_t sent = 0, got = 0;
	struct pollfd pf;
	bool in_order = true, quiet = false, woken = false;
	int failed_after_wake = 0;

	ASSERT(accel && buf && h.buf);
	ASSERT(xw_msg_open(pin_dir, &m) == 0);
	into_fd = map_fd(XW_MAP_MSG_INTO);
	ASSERT(into_fd >= 0);
	ASSERT(tcp_pair(&a_far, &a_near) == 0 && tcp_pair(&node, &sandbox) == 0);
	(void)xw_msg_peer_in(m, node, &key);
	/* what sockops_msg does with a streaming action's server end */
	ASSERT(bpf_map_update_elem(into_fd, &key, &(uint64_t){(uint64_t)sandbox}, BPF_ANY) == 0);
	ASSERT(xw_accel_pair_get(accel, &k) == 0);
	ASSERT(xw_accel_add(accel, 2 * k + 1, node, XW_ACCEL_F_STATUS, NULL, &cb) == 0);
	ASSERT(xw_accel_add(accel, 2 * k, a_near, 0, NULL, &ca) == 0);
	ASSERT(xw_accel_answer_set(accel, &key, cb) == 0);
	queued = tcp_queued(sandbox);
	CHECK(write(sandbox, "HTTP/1.1 200 OK\r\n\r\n", 19) == 19);
	CHECK(read_full(a_far, head, 19, 2000) == 0 && !memcmp(head, "HTTP/1.1 200 OK", 15));
	CHECK(tcp_queued(sandbox) == queued + 19); /* by TCP */
	for (i = 0; i < 100 && unacked(sandbox); i++)
		usleep(10 * 1000);
	CHECK(!xw_accel_peer_get(accel, cb, &pb) && pb.status == 200);
	CHECK(write(sandbox, "direct", 6) == 6);
	CHECK(read_full(a_far, head, 6, 2000) == 0 && !memcmp(head, "direct", 6));
	CHECK(tcp_queued(sandbox) == queued + 19); /* not by TCP */
	CHECK(stat_skbs(XW_ACCEL_MSG) == msgs + 1);
	/* The client reads nothing: an event loop's writes end in EAGAIN, and then the
	 * server's socket is not writable. Without the fallback it stays writable and the loop
	 * spins, each write failing. The node's socket may still take a little more as TCP
	 * grows its buffer: a wake-up is then a write that succeeds, and soon none comes. */
	flags = fcntl(sandbox, F_GETFL);
	ASSERT(fcntl(sandbox, F_SETFL, flags | O_NONBLOCK) == 0);
	for (int wakes = 0; sent < CAP && wakes < 1000;) {
		ssize_t n;

		for (i = 0; i < CHUNK; i++)
			buf[i] = (char)((sent + (size_t)i) * 7);
		n = write(sandbox, buf, CHUNK);
		if (n > 0) {
			sent += (size_t)n;
			woken = false;
			continue;
		}
		if (errno != EAGAIN)
			break;
		failed_after_wake += woken;
		pf = (struct pollfd){.fd = sandbox, .events = POLLOUT};
		if (poll(&pf, 1, 300) == 0) {
			quiet = true;
			break;
		}
		woken = true;
		wakes++;
	}
	CHECK(quiet && sent > 0 && sent < CAP);
	CHECK(failed_after_wake <= 2);
	CHECK(!xw_accel_peer_get(accel, cb, &pb) && pb.held > 0);
	/* The client reads it all while the node forwards what was held; 5 s without a byte
	 * is a failure. */
	for (time_t at = time(NULL); got < sent && in_order && time(NULL) - at < 5;) {
		ssize_t n;

		pf = (struct pollfd){.fd = a_far, .events = POLLIN};
		if (poll(&pf, 1, 20) < 0)
			break;
		n = xw_accel_forward_held(accel, node, 2 * k + 1, a_near, 2 * k, NULL, &h);
		if (held_failed(n))
			break;
		n = recv(a_far, buf, 4 * CHUNK, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
		if (n > 0)
			at = time(NULL);
		for (ssize_t j = 0; j < n; j++)
			in_order &= buf[j] == (char)((got + (size_t)j) * 7);
		if (n > 0)
			got += (size_t)n;
	}
	CHECK(in_order);
	CHECK(got == sent);
	CHECK(stat_skbs(XW_ACCEL_MSG) > msgs + 1);
	CHECK(!xw_accel_peer_get(accel, cb, &pb) && pb.bytes == 19 + 6 + sent);
	xw_accel_answer_del(accel, &key);
	CHECK(!xw_accel_remove(accel, 2 * k, ca, &pb));
	CHECK(!xw_accel_remove(accel, 2 * k + 1, cb, &pb));
	splice_end(k, a_far, a_near, node, sandbox);
	close(into_fd);
	xw_msg_close(m);
	free(buf);
	free(h.buf);
}

static void test_pairs_run_out(void)
{
	uint32_t k, first = 0;
	unsigned n = 0;

	ASSERT(accel);
	while (!xw_accel_pair_get(accel, &k)) {
		if (!n)
			first = k;
		n++;
	}
	CHECK(n == XW_ACCEL_MAX_PAIRS);
	CHECK(xw_accel_pair_get(accel, &k) == -ENOSPC);
	xw_accel_pair_put(accel, first);
	CHECK(xw_accel_pair_get(accel, &k) == 0 && k == first);
	for (k = 0; k < XW_ACCEL_MAX_PAIRS; k++)
		xw_accel_pair_put(accel, k);
}

int main(void)
{
	char cmd[300];

	if (geteuid() != 0) {
		printf("not ok - the BPF tests need root\n");
		return 1;
	}
	/* No TCP timestamps: the crafted retransmission carries none. */
	if (unshare(CLONE_NEWNET) || system("ip link set lo up") != 0 ||
	    system("sysctl -qw net.ipv4.tcp_timestamps=0") != 0) {
		printf("not ok - cannot make a network namespace\n");
		return 1;
	}
	xw_bpf_setup_logging();
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/xwhisk-test-accel-%d", getpid());
	RUN(test_open);
	RUN(test_verdict_fixtures);
	RUN(test_splice_both_ways);
	RUN(test_held_until_peer);
	RUN(test_fin_alone_goes_nowhere);
	RUN(test_unpaired_dropped);
	RUN(test_splice_bulk);
	RUN(test_overlapping_retransmission);
	RUN(test_slow_reader_held);
	RUN(test_slow_sandbox_held_into);
	RUN(test_into_sandbox_socket);
	RUN(test_answer_by_msg);
	RUN(test_pairs_run_out);
	xw_accel_close(accel);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", pin_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "  could not remove %s\n", pin_dir);
	TEST_EXIT();
}
