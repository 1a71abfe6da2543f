// SPDX-License-Identifier: Apache-2.0
/*
 * The node's part of tests/netns/sock_accel_splice.sh: accepts one client on ADDR:PORT,
 * connects to the "sandbox" at SB_ADDR:SB_PORT and splices the two with sock_accel as
 * xwhisk-node does (the sandbox's socket joins the map first, then the client's), reading
 * only what the verdict held (a side behind, or not in the map yet), which it forwards by
 * hand as the node does. Once the sandbox ended its answer and every byte of it is in the
 * client's socket (as the node drains before it closes), it prints the bytes each side
 * received, the bytes held of those, and the program's pass counter:
 *   splicer PIN_DIR ADDR PORT SB_ADDR SB_PORT  ->  "up N down N held N pass N"
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <time.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bpfload/sock_accel.h"
#include "../bpf/held_wait.h"

#define WAIT_MS 60000

static int addr(const char *ip, const char *port, struct sockaddr_in *sa)
{
	*sa = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port))};
	return inet_pton(AF_INET, ip, &sa->sin_addr) == 1 ? 0 : -EINVAL;
}

/* Once the sandbox ended its answer: every byte it sent reaches the client's socket. */
static int delivered(struct xw_accel *a, uint64_t scookie, int cfd, uint64_t c0)
{
	for (int ms = 0; ms < WAIT_MS; ms++) {
		int done = xw_accel_delivered(a, scookie, cfd, c0);

		if (done)
			return done < 0 ? done : 0;
		nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
	}
	return -ETIMEDOUT;
}

/* Held bytes go by hand, both ways, until the sandbox ended its answer (its FIN goes
 * nowhere: the verdict frees an empty skb); then every byte it sent reaches the client's
 * socket: closing loses none. */
static int wait_answer(struct xw_accel *a, uint32_t k, int cfd, int sfd, uint64_t scookie,
		       uint64_t c0)
{
	static char up_buf[256 << 10], down_buf[256 << 10];
	struct xw_accel_held up = {.buf = up_buf, .cap = sizeof(up_buf)},
			     down = {.buf = down_buf, .cap = sizeof(down_buf)};
	bool client_end = false;

	/* Waited for as stream.c does (held_wait.h). After the client's end (0) its side is
	 * neither forwarded nor watched again. */
	for (int idle_ms = 0; idle_ms < WAIT_MS;) {
		ssize_t fwd_up = client_end ? 0
					    : xw_accel_forward_held(a, cfd, 2 * k, sfd, 2 * k + 1,
								    NULL, &up);
		ssize_t fwd_down;
		struct pollfd pf[2];
		int wait_ms;

		if (fwd_up == 0)
			client_end = true;
		else if (held_failed(fwd_up))
			return (int)fwd_up;
		fwd_down = xw_accel_forward_held(a, sfd, 2 * k + 1, cfd, 2 * k, NULL, &down);
		if (fwd_down == 0)
			return delivered(a, scookie, cfd, c0);
		if (held_failed(fwd_down))
			return (int)fwd_down;
		pf[0] = (struct pollfd){.fd = sfd, .events = held_events(fwd_down, fwd_up)};
		pf[1] = (struct pollfd){.fd = cfd, .events = held_events(fwd_up, fwd_down)};
		wait_ms = held_wait_ms(fwd_up, fwd_down, 100);
		if (fwd_up > 0 || fwd_down > 0 || poll(pf, 2, wait_ms) > 0)
			idle_ms = 0;
		else
			idle_ms += wait_ms;
	}
	return -ETIMEDOUT;
}

static int splice_one(struct xw_accel *a, int l, const struct sockaddr_in *sb)
{
	struct xw_accel_stat st[XW_DROP__MAX];
	struct xw_accel_peer pc = {0}, ps = {0};
	uint64_t ccookie = 0, scookie = 0, c0 = 0;
	int cfd, sfd = -1, err;
	uint32_t k = 0;

	cfd = accept(l, NULL, NULL);
	if (cfd < 0)
		return -errno;
	sfd = socket(AF_INET, SOCK_STREAM, 0);
	if (sfd < 0 || connect(sfd, (const struct sockaddr *)sb, sizeof(*sb))) {
		err = -errno;
		goto out;
	}
	(void)xw_accel_tcp_queued(cfd, &c0);
	err = xw_accel_pair_get(a, &k);
	if (!err)
		err = xw_accel_add(a, 2 * k + 1, sfd, XW_ACCEL_F_STATUS, NULL, &scookie);
	if (!err)
		err = xw_accel_add(a, 2 * k, cfd, 0, NULL, &ccookie);
	if (err)
		goto out;
	/* What waits in either receive queue goes through now (as the node does). */
	(void)setsockopt(sfd, SOL_SOCKET, SO_RCVLOWAT, &(int){1}, sizeof(int));
	(void)setsockopt(cfd, SOL_SOCKET, SO_RCVLOWAT, &(int){1}, sizeof(int));
	err = wait_answer(a, k, cfd, sfd, scookie, c0);
	(void)xw_accel_remove(a, 2 * k, ccookie, &pc);
	(void)xw_accel_remove(a, 2 * k + 1, scookie, &ps);
	if (!err)
		err = xw_accel_counters(a, st);
	if (!err)
		printf("up %llu down %llu held %llu pass %llu\n", (unsigned long long)pc.bytes,
		       (unsigned long long)ps.bytes, (unsigned long long)(pc.held + ps.held),
		       (unsigned long long)st[XW_REASON_PASS].bytes);
out:
	close(cfd);
	if (sfd >= 0)
		close(sfd);
	return err;
}

int main(int argc, char **argv)
{
	struct sockaddr_in me, sb;
	struct xw_accel *a = NULL;
	int l = -1, err;

	if (argc != 6 || addr(argv[2], argv[3], &me) || addr(argv[4], argv[5], &sb)) {
		fprintf(stderr, "usage: splicer PIN_DIR ADDR PORT SB_ADDR SB_PORT\n");
		return 2;
	}
	err = xw_accel_open(argv[1], true, &a);
	if (err)
		goto out;
	l = socket(AF_INET, SOCK_STREAM, 0);
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int)) ||
	    bind(l, (struct sockaddr *)&me, sizeof(me)) || listen(l, 4)) {
		err = -errno;
		goto out;
	}
	printf("listening\n");
	fflush(stdout);
	err = splice_one(a, l, &sb);
out:
	if (l >= 0)
		close(l);
	xw_accel_close(a);
	if (err)
		fprintf(stderr, "splicer: %s\n", strerror(-err));
	return err ? 1 : 0;
}
