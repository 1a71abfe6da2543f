// SPDX-License-Identifier: Apache-2.0
/*
 * sk_msg on the invoke path (built and run by scripts/bench/skmsg.sh): does an sk_msg
 * redirect (bpf/sock_msg_redirect.bpf.c) between the node's pooled connection and the
 * sandbox's runtime server lower the CPU per /run round trip?
 *
 * The process makes its own "node" network namespace with a bridge (169.254.0.1/16) and a
 * "sandbox" one behind a veth on it (169.254.0.2:8080), as the node's sandboxes are; both
 * vanish with the process. A server thread in the sandbox namespace answers every
 * REQ-byte request with an ANS-byte answer; clients in the node namespace do sequential
 * round trips, one connection per client thread, for SECS seconds per run. Runs alternate
 * "tcp" and "skmsg" (both ends of each connection in msg_socks) ROUNDS times, for 1 and for
 * 16 connections. CPU is the whole process's user+system time (client and server), from
 * clock_cpu_us, per round trip; "machine" is every CPU's busy time from /proc/stat per round
 * trip (softirq work done outside the process included; other load too). The tables give
 * each mode's median over the rounds.
 *
 *   skmsg_bench [-s SECS] [-r ROUNDS] [-q REQ] [-a ANS]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bpfload/sock_msg.h"
#include "machine_cpu.h"
#include "pinned_maps.h"
#include "rtnl.h"
#include "util.h"

#define SERVER_PORT 8080
#define MAX_CONNS 16

static in_addr_t gw_addr, sb_addr;
static int req_size = 500, ans_size = 200;
static struct xw_msg *msg;
static atomic_bool accel_new; /* the server adds the sockets it accepts to msg_socks */
static atomic_bool stop;

struct client {
	pthread_t tid;
	int fd;
	atomic_ulong trips;
};

static int rw_full(int fd, char *buf, int len, bool writing)
{
	for (int done = 0; done < len;) {
		ssize_t n = writing ? write(fd, buf + done, (size_t)(len - done))
				    : read(fd, buf + done, (size_t)(len - done));

		if (n <= 0)
			return n ? -errno : -EPIPE;
		done += (int)n;
	}
	return 0;
}

/* The node's namespace (the caller's from now on) and the sandbox's, joined as the node
 * joins its sandboxes: a bridge with the gateway address, a veth to eth0 inside. */
static int net_setup(int *sb_ns)
{
	static const unsigned char mac[6] = {0x02, 0x78, 0xa9, 0xfe, 0x00, 0x02};
	struct rtnl nl = {.fd = -1}, sb = {.fd = -1};
	int node_ns = -1, br, eth0, lo, err = -errno;

	if (unshare(CLONE_NEWNET) || (node_ns = open("/proc/thread-self/ns/net", O_RDONLY)) < 0 ||
	    rtnl_open(&nl) || unshare(CLONE_NEWNET) ||
	    (*sb_ns = open("/proc/thread-self/ns/net", O_RDONLY)) < 0 || rtnl_open(&sb) ||
	    setns(node_ns, CLONE_NEWNET)) {
		err = -errno;
		goto out;
	}
	br = rtnl_bridge_ensure(&nl, "xwskbr", gw_addr, 16);
	err = br < 0 ? br : rtnl_veth_create(&nl, "xwskh", br, "eth0", mac, *sb_ns);
	if (err)
		goto out;
	eth0 = rtnl_link_index(&sb, "eth0");
	lo = rtnl_link_index(&sb, "lo");
	err = eth0 < 0 ? eth0 : lo < 0 ? lo : rtnl_addr_add(&sb, eth0, sb_addr, 16);
	if (!err)
		err = rtnl_link_up(&sb, eth0);
	if (!err)
		err = rtnl_link_up(&sb, lo);
out:
	rtnl_close(&nl);
	rtnl_close(&sb);
	if (node_ns >= 0)
		close(node_ns);
	return err;
}

/* One pooled connection, sandbox side: joins msg_socks if asked, says ready, answers. */
static void *serve_conn(void *arg)
{
	int fd = (int)(intptr_t)arg;
	char *buf = calloc(1, (size_t)(req_size > ans_size ? req_size : ans_size));
	char ready = 'R';

	if (buf && (!atomic_load(&accel_new) || xw_msg_add(msg, fd) == 0) &&
	    rw_full(fd, &ready, 1, true) == 0)
		while (rw_full(fd, buf, req_size, false) == 0 && rw_full(fd, buf, ans_size, true) == 0)
			;
	close(fd);
	free(buf);
	return NULL;
}

static void *serve(void *arg)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(SERVER_PORT),
				 .sin_addr.s_addr = sb_addr};
	int one = 1, l, fd;
	pthread_t t;

	/* The network namespace is per thread: this one and the handlers it starts live in
	 * the sandbox's, as the runtime server does. */
	if (setns((int)(intptr_t)arg, CLONE_NEWNET) || (l = socket(AF_INET, SOCK_STREAM, 0)) < 0 ||
	    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 64)) {
		perror("skmsg_bench: server");
		exit(1);
	}
	while ((fd = accept(l, NULL, NULL)) >= 0) {
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if (pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd) == 0)
			pthread_detach(t);
		else
			close(fd);
	}
	return NULL;
}

/* A pooled connection, node side, in msg_socks when accel; ready to use when it returns. */
static int connect_sandbox(bool accel)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(SERVER_PORT),
				 .sin_addr.s_addr = sb_addr};
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);
	char ready;

	if (fd < 0)
		return -errno;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) || (accel && xw_msg_add(msg, fd)) ||
	    rw_full(fd, &ready, 1, false)) {
		close(fd);
		return -EIO;
	}
	return fd;
}

static void *client_loop(void *arg)
{
	struct client *c = arg;
	char *buf = calloc(1, (size_t)(req_size > ans_size ? req_size : ans_size));

	memset(buf, 'x', (size_t)req_size);
	while (buf && !atomic_load(&stop) && rw_full(c->fd, buf, req_size, true) == 0 &&
	       rw_full(c->fd, buf, ans_size, false) == 0)
		atomic_fetch_add_explicit(&c->trips, 1, memory_order_relaxed);
	free(buf);
	return NULL;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The whole machine's busy time (all CPUs, softirq in ksoftirqd included): a check on the
 * process's own time, meaningful on a quiet machine only. */
static double machine_busy_s(void)
{
	struct machine_cpu m;

	if (machine_cpu_read(&m))
		return 0;
	return (double)m.busy / (double)sysconf(_SC_CLK_TCK);
}

static unsigned long trips_sum(struct client *c, int n)
{
	unsigned long sum = 0;

	for (int i = 0; i < n; i++)
		sum += atomic_load_explicit(&c[i].trips, memory_order_relaxed);
	return sum;
}

struct result {
	double rps, cpu_us;       /* round trips per second, CPU microseconds per round trip */
	double machine_us;        /* the machine's busy microseconds per round trip */
	unsigned long redirected; /* msgs sock_msg_redirect redirected during the run */
};

static unsigned long redirected_msgs(void)
{
	struct xw_msg_stat st[XW_MSG__MAX];

	return xw_msg_counters(msg, st) ? 0 : st[XW_MSG_REDIRECTED].msgs;
}

/* One run: conns connections, secs seconds of round trips once they all are up. */
static int run_once(int conns, bool accel, double secs, struct result *r)
{
	struct client c[MAX_CONNS] = {0};
	unsigned long n0, red0 = redirected_msgs();
	double t0, c0, m0;
	int i, err = 0;

	atomic_store(&accel_new, accel);
	atomic_store(&stop, false);
	for (i = 0; i < conns; i++)
		if ((c[i].fd = connect_sandbox(accel)) < 0 ||
		    pthread_create(&c[i].tid, NULL, client_loop, &c[i])) {
			err = c[i].fd < 0 ? c[i].fd : -EAGAIN;
			if (c[i].fd >= 0)
				close(c[i].fd);
			break;
		}
	usleep(100000); /* everyone under way */
	n0 = trips_sum(c, i), t0 = now_s(), c0 = clock_cpu_us(), m0 = machine_busy_s();
	usleep((useconds_t)(secs * 1e6));
	r->cpu_us = (double)(clock_cpu_us() - c0);
	r->machine_us = (machine_busy_s() - m0) * 1e6;
	r->rps = (double)(trips_sum(c, i) - n0);
	r->cpu_us = r->rps ? r->cpu_us / r->rps : 0;
	r->machine_us = r->rps ? r->machine_us / r->rps : 0;
	r->rps /= now_s() - t0;
	atomic_store(&stop, true);
	while (i-- > 0) {
		pthread_join(c[i].tid, NULL);
		close(c[i].fd);
	}
	r->redirected = redirected_msgs() - red0;
	return err;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* ROUNDS alternations of tcp and skmsg (which goes first alternates too), then medians. */
static int compare(int conns, int rounds, double secs)
{
	double rps[2][64], cpu[2][64], mach[2][64], mr[2], mc[2], mm[2];
	static const char *const mode[2] = {"tcp", "skmsg"};
	int err;

	for (int k = 0; k < rounds; k++)
		for (int j = 0; j < 2; j++) {
			int m = (j + k) % 2;
			struct result r;

			err = run_once(conns, m == 1, secs, &r);
			if (err)
				return err;
			printf("  round %d  %2d conn  %-5s  %9.0f rt/s  %6.2f us CPU/rt  %6.2f us "
			       "machine/rt  (%lu msgs redirected)\n", k + 1, conns, mode[m], r.rps,
			       r.cpu_us, r.machine_us, r.redirected);
			if (m == 1 && r.redirected < (unsigned long)(r.rps * secs)) {
				fprintf(stderr, "skmsg_bench: the redirect carried too little\n");
				return -EIO;
			}
			rps[m][k] = r.rps;
			cpu[m][k] = r.cpu_us;
			mach[m][k] = r.machine_us;
		}
	for (int m = 0; m < 2; m++) {
		mr[m] = median(rps[m], rounds);
		mc[m] = median(cpu[m], rounds);
		mm[m] = median(mach[m], rounds);
	}
	printf("| %d | %.0f | %.0f | %.2f | %.2f | %.2f | %.2f | %.2f | %.2f |\n", conns, mr[0],
	       mr[1], mr[1] / mr[0], mc[0], mc[1], mc[1] / mc[0], mm[0], mm[1]);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	static const char *const pinned[] = { XW_MAP_MSG_SOCKS, XW_MAP_MSG_STATS, XW_MAP_MSG_CFG,
					       XW_MAP_MSG_INTO };
	char pin_dir[96], path[160];
	int opt, rounds = 5, sb_ns = -1, err;
	double secs = 2;
	pthread_t srv;

	while ((opt = getopt(argc, argv, "s:r:q:a:")) != -1) {
		if (opt == 's')
			secs = atof(optarg);
		else if (opt == 'r')
			rounds = atoi(optarg);
		else if (opt == 'q')
			req_size = atoi(optarg);
		else if (opt == 'a')
			ans_size = atoi(optarg);
		else
			goto usage;
	}
	if (secs <= 0 || rounds < 1 || rounds > 64 || req_size < 1 || ans_size < 1)
		goto usage;
	gw_addr = inet_addr("169.254.0.1");
	sb_addr = inet_addr("169.254.0.2");
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/xwhisk-bench-skmsg-%d", getpid());
	xw_bpf_setup_logging();
	err = net_setup(&sb_ns);
	if (err) {
		fprintf(stderr, "skmsg_bench: network namespaces: %s\n", strerror(-err));
		return 1;
	}
	err = xw_msg_open(pin_dir, &msg);
	if (err) {
		fprintf(stderr, "skmsg_bench: loading sock_msg_redirect: %s\n", strerror(-err));
		goto out;
	}
	if ((err = -pthread_create(&srv, NULL, serve, (void *)(intptr_t)sb_ns)))
		goto out;
	usleep(200000); /* the server listens */
	printf("%d B requests, %d B answers, %d rounds of %.1f s per mode\n", req_size, ans_size,
	       rounds, secs);
	printf("| conns | tcp rt/s | skmsg rt/s | ratio | tcp CPU us/rt | skmsg CPU us/rt | ratio | "
	       "tcp machine us/rt | skmsg machine us/rt |\n|---|---|---|---|---|---|---|---|---|\n");
	err = compare(1, rounds, secs);
	if (!err)
		err = compare(MAX_CONNS, rounds, secs);
out:
	xw_msg_close(msg);
	/* Every map xw_msg_open pins, so that the folder goes too. */
	for (size_t i = 0; i < sizeof(pinned) / sizeof(pinned[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, pinned[i]);
		unlink(path);
	}
	if (rmdir(pin_dir))
		fprintf(stderr, "skmsg_bench: %s left: %s\n", pin_dir, strerror(errno));
	if (err)
		fprintf(stderr, "skmsg_bench: %s\n", strerror(-err));
	return err ? 1 : 0;
usage:
	fprintf(stderr, "usage: skmsg_bench [-s SECS] [-r ROUNDS(1-64)] [-q REQ] [-a ANS]\n");
	return 2;
}
