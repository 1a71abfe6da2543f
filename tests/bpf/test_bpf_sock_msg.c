// SPDX-License-Identifier: Apache-2.0
/*
 * sock_msg_redirect on real loopback TCP connections in a private network namespace:
 * with both ends in msg_socks the bytes cross both ways without a TCP data segment and
 * are counted; with one end only they go by TCP and are counted as without a peer; a
 * removed socket stops being redirected; 4 MB each way arrive whole and in order;
 * sockops_msg puts the server end of a filtered connection in by itself. Needs root and a
 * kernel with sockhash, sk_msg and cgroup v2 sockops.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bpfload/sock_msg.h"
#include "pinned_maps.h"
#include "tcp_pair.h"
#include "xwhisk/sandbox_net.h"
#include "../unit/test.h"

static char pin_dir[128];
static struct xw_msg *msg;


/* Data segments fd sent by TCP: a redirected msg sends none. */
static unsigned data_segs_out(int fd)
{
	struct tcp_info ti = {0};
	socklen_t len = sizeof(ti);

	return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) ? ~0u : ti.tcpi_data_segs_out;
}

static struct xw_msg_stat stat_of(unsigned verdict)
{
	struct xw_msg_stat st[XW_MSG__MAX] = {0};

	(void)xw_msg_counters(msg, st);
	return st[verdict];
}

static void test_open(void)
{
	ASSERT(xw_msg_open(pin_dir, &msg) == 0);
}

/* A /run request and its answer, each end in msg_socks: no TCP data segment either way. */
static void test_redirect_both_ways(void)
{
	int node, sb;
	struct xw_msg_stat r0 = stat_of(XW_MSG_REDIRECTED), r1;
	unsigned node_segs, sb_segs;
	char buf[64];

	ASSERT(msg);
	ASSERT(tcp_pair(&node, &sb) == 0);
	ASSERT(xw_msg_add(msg, node) == 0);
	ASSERT(xw_msg_add(msg, sb) == 0);
	node_segs = data_segs_out(node);
	sb_segs = data_segs_out(sb);
	CHECK(write(node, "POST /run HTTP/1.1\r\n", 20) == 20);
	CHECK(read_full(sb, buf, 20, 2000) == 0 && !memcmp(buf, "POST /run HTTP/1.1\r\n", 20));
	CHECK(write(sb, "HTTP/1.1 200 OK\r\n", 17) == 17);
	CHECK(read_full(node, buf, 17, 2000) == 0 && !memcmp(buf, "HTTP/1.1 200 OK\r\n", 17));
	r1 = stat_of(XW_MSG_REDIRECTED);
	CHECK(r1.msgs == r0.msgs + 2);
	CHECK(r1.bytes == r0.bytes + 37);
	CHECK(data_segs_out(node) == node_segs);
	CHECK(data_segs_out(sb) == sb_segs);
	close(node);
	close(sb);
}

/* What the node relays with splice(2) (a stream it cannot splice in the kernel) into its
 * socket in the map is redirected like a write, whole and in order. */
static void test_splice_into_redirected(void)
{
	int node, sb, pfd[2];
	struct xw_msg_stat r0 = stat_of(XW_MSG_REDIRECTED);
	unsigned segs;
	char buf[16];

	ASSERT(msg);
	ASSERT(pipe(pfd) == 0);
	ASSERT(tcp_pair(&node, &sb) == 0);
	ASSERT(xw_msg_add(msg, node) == 0);
	ASSERT(xw_msg_add(msg, sb) == 0);
	segs = data_segs_out(node);
	CHECK(write(node, "head|", 5) == 5);
	CHECK(write(pfd[1], "relayed", 7) == 7);
	CHECK(splice(pfd[0], NULL, node, NULL, 7, SPLICE_F_MOVE) == 7);
	CHECK(read_full(sb, buf, 12, 2000) == 0 && !memcmp(buf, "head|relayed", 12));
	CHECK(stat_of(XW_MSG_REDIRECTED).bytes == r0.bytes + 12);
	CHECK(data_segs_out(node) == segs);
	close(pfd[0]);
	close(pfd[1]);
	close(node);
	close(sb);
}

/* Only the node's end in the map: its bytes go by TCP, counted as without a peer. */
static void test_no_peer_goes_by_tcp(void)
{
	int node, sb;
	struct xw_msg_stat n0 = stat_of(XW_MSG_NO_PEER), r0 = stat_of(XW_MSG_REDIRECTED);
	unsigned segs;
	char buf[8];

	ASSERT(msg);
	ASSERT(tcp_pair(&node, &sb) == 0);
	ASSERT(xw_msg_add(msg, node) == 0);
	segs = data_segs_out(node);
	CHECK(write(node, "hello", 5) == 5);
	CHECK(read_full(sb, buf, 5, 2000) == 0 && !memcmp(buf, "hello", 5));
	CHECK(data_segs_out(node) > segs);
	CHECK(stat_of(XW_MSG_NO_PEER).msgs == n0.msgs + 1);
	CHECK(stat_of(XW_MSG_REDIRECTED).msgs == r0.msgs);
	close(node);
	close(sb);
}

/* Out of the map again, a pair talks by TCP and the program no longer sees it. */
static void test_removed_stops(void)
{
	int node, sb;
	struct xw_msg_stat r0, n0;
	char buf[8];

	ASSERT(msg);
	ASSERT(tcp_pair(&node, &sb) == 0);
	ASSERT(xw_msg_add(msg, node) == 0 && xw_msg_add(msg, sb) == 0);
	CHECK(xw_msg_remove(msg, node) == 0);
	CHECK(xw_msg_remove(msg, sb) == 0);
	CHECK(xw_msg_remove(msg, sb) == -ENOENT);
	r0 = stat_of(XW_MSG_REDIRECTED);
	n0 = stat_of(XW_MSG_NO_PEER);
	CHECK(write(node, "x", 1) == 1);
	CHECK(read_full(sb, buf, 1, 2000) == 0 && buf[0] == 'x');
	CHECK(stat_of(XW_MSG_REDIRECTED).msgs == r0.msgs);
	CHECK(stat_of(XW_MSG_NO_PEER).msgs == n0.msgs);
	close(node);
	close(sb);
}

/* The sandbox's end echoes what it reads; a child writes a counting pattern. */
static void echo_and_upload(int node, int sb, size_t total, size_t chunk, char *buf)
{
	if (fork() == 0) {
		ssize_t n;

		while ((n = read(sb, buf, chunk)) > 0)
			if (write(sb, buf, (size_t)n) != n)
				_exit(2);
		_exit(0);
	}
	write_pattern(node, total, 7, buf, chunk);
}

/* 4 MB up while they come back: every byte in order, all of it redirected. */
static void test_bulk_in_order(void)
{
	enum { TOTAL = 4 << 20, CHUNK = 65536 };
	int node, sb, status = 1;
	struct xw_msg_stat r0 = stat_of(XW_MSG_REDIRECTED);
	char *buf = malloc(CHUNK), *want = malloc(CHUNK);
	size_t got = 0;
	pid_t child;

	ASSERT(msg && buf && want);
	ASSERT(tcp_pair(&node, &sb) == 0);
	ASSERT(xw_msg_add(msg, node) == 0 && xw_msg_add(msg, sb) == 0);
	child = fork();
	ASSERT(child >= 0);
	if (child == 0)
		echo_and_upload(node, sb, TOTAL, CHUNK, buf);
	while (got < TOTAL) {
		size_t n = TOTAL - got < CHUNK ? TOTAL - got : CHUNK;

		if (read_full(node, buf, n, 5000))
			break;
		for (size_t i = 0; i < n; i++)
			want[i] = (char)((got + i) * 7);
		if (memcmp(buf, want, n))
			break;
		got += n;
	}
	CHECK(got == TOTAL);
	shutdown(sb, SHUT_RDWR);
	waitpid(child, &status, 0);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	CHECK(stat_of(XW_MSG_REDIRECTED).bytes == r0.bytes + 2ull * TOTAL);
	close(node);
	close(sb);
	while (wait(NULL) > 0)
		;
	free(buf);
	free(want);
}

/* sockops_msg on the cgroup v2 root: the accepted end of a connection from the filtered
 * peer to the filtered port on a filtered address enters msg_socks by itself, so the node
 * adds only its own end; another port's, or another peer's, does not (its bytes go by
 * TCP). A streaming action's server end (the stream port) goes to msg_into instead: the
 * node's bytes reach it redirected, what it sends keeps TCP (no program there: sock_accel
 * splices it from the node's socket). */
static void test_sockops_adds_server_end(void)
{
	enum { PORT = 18080 };
	int node, sb, other_node, other_sb;
	struct xw_msg_stat r0 = stat_of(XW_MSG_REDIRECTED), n0;
	struct xw_msg_key key;
	char cgroup[512], buf[16];
	unsigned segs;

	ASSERT(msg);
	ASSERT(xw_cgroup2_mount(cgroup, sizeof(cgroup)) == 0);
	ASSERT(xw_msg_attach_sandboxes(msg, cgroup, INADDR_LOOPBACK, 8, INADDR_LOOPBACK, PORT) == 0);
	CHECK(xw_msg_attach_sandboxes(msg, cgroup, INADDR_LOOPBACK, 8, INADDR_LOOPBACK, PORT) == -EALREADY);
	ASSERT(tcp_pair_on(PORT, &node, &sb) == 0);
	CHECK(xw_msg_peer_in(msg, node, &key) == -ENOENT); /* in msg_socks, not msg_into */
	ASSERT(xw_msg_add(msg, node) == 0);
	segs = data_segs_out(node);
	CHECK(write(node, "POST /run", 9) == 9);
	CHECK(read_full(sb, buf, 9, 2000) == 0 && !memcmp(buf, "POST /run", 9));
	CHECK(write(sb, "200", 3) == 3);
	CHECK(read_full(node, buf, 3, 2000) == 0 && !memcmp(buf, "200", 3));
	CHECK(stat_of(XW_MSG_REDIRECTED).msgs == r0.msgs + 2);
	CHECK(data_segs_out(node) == segs);

	/* another port, then the right port from another address (another node's) */
	for (int k = 0; k < 2; k++) {
		ASSERT((k ? tcp_pair_from(INADDR_LOOPBACK + 1, PORT, &other_node, &other_sb) :
			    tcp_pair_on(PORT + 7, &other_node, &other_sb)) == 0);
		CHECK(xw_msg_peer_in(msg, other_node, &key) == -ENOENT);
		ASSERT(xw_msg_add(msg, other_node) == 0);
		n0 = stat_of(XW_MSG_NO_PEER);
		CHECK(write(other_node, "hello", 5) == 5);
		CHECK(read_full(other_sb, buf, 5, 2000) == 0 && !memcmp(buf, "hello", 5));
		CHECK(stat_of(XW_MSG_NO_PEER).msgs == n0.msgs + 1);
		close(other_node);
		close(other_sb);
	}

	ASSERT(tcp_pair_on(PORT + XW_SANDBOX_STREAM_PORT_OFFSET, &other_node, &other_sb) == 0);
	CHECK(xw_msg_peer_in(msg, other_node, &key) == 0);
	ASSERT(xw_msg_add(msg, other_node) == 0);
	r0 = stat_of(XW_MSG_REDIRECTED);
	segs = data_segs_out(other_node);
	CHECK(write(other_node, "GET /", 5) == 5);
	CHECK(read_full(other_sb, buf, 5, 2000) == 0 && !memcmp(buf, "GET /", 5));
	CHECK(stat_of(XW_MSG_REDIRECTED).msgs == r0.msgs + 1);
	CHECK(data_segs_out(other_node) == segs);
	r0 = stat_of(XW_MSG_REDIRECTED);
	n0 = stat_of(XW_MSG_NO_PEER);
	segs = data_segs_out(other_sb);
	CHECK(write(other_sb, "HTTP/1.1", 8) == 8);
	CHECK(read_full(other_node, buf, 8, 2000) == 0 && !memcmp(buf, "HTTP/1.1", 8));
	CHECK(data_segs_out(other_sb) == segs + 1);
	CHECK(stat_of(XW_MSG_REDIRECTED).msgs == r0.msgs && stat_of(XW_MSG_NO_PEER).msgs == n0.msgs);
	close(other_node);
	close(other_sb);
	close(node);
	close(sb);
}

int main(void)
{
	char cmd[300];

	if (geteuid() != 0) {
		printf("not ok - the BPF tests need root\n");
		return 1;
	}
	if (unshare(CLONE_NEWNET) || system("ip link set lo up") != 0) {
		printf("not ok - cannot make a network namespace\n");
		return 1;
	}
	xw_bpf_setup_logging();
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/xwhisk-test-msg-%d", getpid());
	RUN(test_open);
	RUN(test_redirect_both_ways);
	RUN(test_splice_into_redirected);
	RUN(test_no_peer_goes_by_tcp);
	RUN(test_removed_stops);
	RUN(test_bulk_in_order);
	RUN(test_sockops_adds_server_end);
	xw_msg_close(msg);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", pin_dir);
	if (system(cmd) != 0)
		fprintf(stderr, "  could not remove %s\n", pin_dir);
	TEST_EXIT();
}
