// SPDX-License-Identifier: Apache-2.0
/*
 * Download through a spliced node, four ways:
 *   direct: writer -> reader over TCP loopback (no node)
 *   veth:   writer (namespace xwsplice-sb) -TCP/veth-> node -splice-> reader
 *   lo:     writer (node's namespace)     -TCP/lo->   node -splice-> reader
 *   unix:   writer (xwsplice-sb, on a path) -AF_UNIX->  node -splice-> reader
 *   msg:    writer's TCP socket to the node crosses the veth as in veth, but it sits in a
 *           sockmap with an sk_msg program that redirects each sendmsg to the egress of the
 *           node's client socket: nothing crosses the veth (the node takes the writer's fd
 *           with pidfd_getfd to insert it).
 * The node (this process, run in xwsplice-node) accepts the reader on 127.0.0.1, connects
 * to the writer, puts both sockets in the sockmap, and then only waits: the verdict moves
 * every byte to the reader's socket. Run by run.sh: splice_paths SIZE_MB REPEATS (env MODES, BUF_MB).
 * Per transfer: MB/s, machine CPU per MB two ways (/proc/stat ticks; schedstat run time of
 * every thread, exact), and the verdict's counters (redirected bytes must equal the size;
 * in msg mode they count msgs, at least the size), and the writer's short writes and
 * failed writes retried (errors EAGAIN/ENOSPC/ENOMEM/EINTR, last errno shown).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "../machine_cpu.h"
#include "splice_paths.skel.h"
#include "util.h"

enum { DIRECT, VETH, LO, UNIX, MSG, NMODES };
static const char *mode_name[NMODES] = {"direct", "veth", "lo", "unix", "msg"};

#define SB_NS "/run/netns/xwsplice-sb"
#define SB_IP "10.231.99.2"
#define CLIENT_PORT 7001 /* node, for the reader */
#define WRITER_PORT 7002
#define UNIX_PATH "/run/xwsplice.sock"
#define WRITE_SZ (64 << 10)
#define READ_SZ (128 << 10)
#define MAXREP 100

struct stats { unsigned long long bytes, skbs, dropped, max_q, passed, pmsgs; };
struct hello { __u64 cookie; int fd; };         /* writer -> node: its connected socket */
struct wstat { unsigned shorts, errs; int err; /* writer -> node at its end */
	       unsigned writes, eagains, wakeups, timeouts; double cpu, wall; };
struct rstat { unsigned long long got, errs, first_bad, found, recvs; }; /* reader -> node */

static unsigned long long total; /* bytes per transfer */
static int buf_bytes;            /* effective SO_SNDBUF/SO_RCVBUF on the writer/node leg */
static int client_sndbuf;        /* effective SO_SNDBUF of the node's client socket, 0: auto */
/* env WRITER_NONBLOCK=1: O_NONBLOCK writer, write() until EAGAIN then epoll_wait(EPOLLOUT)
 * (WRITER_ET=1: edge-triggered); READER_SLOW_US=N: reader sleeps N us after each recv;
 * MSG_GUARD=1|2: see splice_paths.bpf.c. */
static int w_nonblock, w_et, r_slow_us, msg_guard;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "splice_paths: ");
	vfprintf(stderr, fmt, ap);
	fprintf(stderr, " (%s)\n", strerror(errno));
	va_end(ap);
	exit(1); /* children die with us (PR_SET_PDEATHSIG) */
}

static struct sockaddr_in in4(const char *ip, int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};

	inet_pton(AF_INET, ip, &a.sin_addr);
	return a;
}

static const struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = UNIX_PATH};

/* The kernel doubles what is asked: ask half, get buf_bytes. */
static void bigbuf(int fd)
{
	int half = buf_bytes / 2;

	if (buf_bytes && (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &half, sizeof(half)) ||
			  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &half, sizeof(half))))
		die("SO_*BUFFORCE");
}

static int tcp_listen(const char *ip, int port)
{
	struct sockaddr_in a = in4(ip, port);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int)) ||
	    bind(fd, (struct sockaddr *)&a, sizeof(a)) || listen(fd, 1))
		die("listen %s:%d", ip, port);
	return fd;
}

/* A child dies with the node, and keeps only the read end of go: the node closes its end
 * after the measurement, and the children live until then (a thread that exited would
 * drop out of the schedstat sum). */
static void child(int go_w)
{
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close(go_w);
}

static double now(void);

static void wait_end(int go)
{
	char c;

	while (read(go, &c, 1) > 0)
		;
}

/* The "sandbox": listens, tells the node the cookie and fd of its connected socket, waits
 * for go, writes total bytes (a counting pattern) in 64 KB writes (a short one goes on from
 * where it stopped, a failed one is retried; WRITER_NONBLOCK: on EAGAIN waits in epoll_wait
 * for EPOLLOUT, 200 ms at most), closes, tells the node its counts and CPU time. */
static void writer(int mode, int ready, int go)
{
	unsigned long long left = total;
	int l, fd, ns;
	struct hello h = {0};
	struct wstat ws = {0};
	socklen_t len = sizeof(h.cookie);
	struct epoll_event ev = {.events = EPOLLOUT | (w_et ? EPOLLET : 0)};
	uint64_t cpu0;
	double t0;
	int ep = -1;
	char c;

	if (mode == VETH || mode == UNIX || mode == MSG) {
		ns = open(SB_NS, O_RDONLY);
		if (ns < 0 || setns(ns, CLONE_NEWNET))
			die("setns %s", SB_NS);
	}
	if (mode == UNIX) {
		unlink(UNIX_PATH);
		l = socket(AF_UNIX, SOCK_STREAM, 0);
		if (l < 0 || bind(l, (struct sockaddr *)&un, sizeof(un)) || listen(l, 1))
			die("listen %s", UNIX_PATH);
	} else {
		l = tcp_listen(mode == VETH || mode == MSG ? SB_IP : "127.0.0.1", WRITER_PORT);
	}
	bigbuf(l);
	if (write(ready, "r", 1) != 1 || (fd = accept(l, NULL, NULL)) < 0)
		die("writer accept");
	bigbuf(fd);
	h.fd = fd;
	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, &h.cookie, &len) ||
	    write(ready, &h, sizeof(h)) != sizeof(h))
		die("writer cookie");
	if (w_nonblock && (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) ||
			   (ep = epoll_create1(0)) < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev)))
		die("writer nonblock/epoll");
	if (read(go, &c, 1) != 1)
		die("writer go");
	cpu0 = clock_cpu_us();
	t0 = now();
	while (left) {
		/* The pattern: at byte offset o of the stream, byte o%8 (little endian) of the
		 * 64-bit word o/8. buf holds it from off on (refilled only when off moved). */
		static unsigned long long pat[WRITE_SZ / 8 + 1], filled = ~0ULL;
		unsigned long long off = total - left;
		size_t want = left < WRITE_SZ ? left : WRITE_SZ;
		ssize_t n;

		if (off != filled)
			for (size_t i = 0; i < sizeof(pat) / 8; i++)
				pat[i] = off / 8 + i, filled = off;
		n = write(fd, (char *)pat + off % 8, want);
		ws.writes++;
		if (n < 0 && errno == EAGAIN && w_nonblock) {
			ws.eagains++;
			n = epoll_wait(ep, &ev, 1, 200);
			if (n < 0 && errno != EINTR)
				die("epoll_wait");
			ws.wakeups += n > 0;
			ws.timeouts += n == 0;
			continue;
		}
		if (n < 0 && (errno == EAGAIN || errno == ENOSPC || errno == ENOMEM || errno == EINTR) &&
		    ++ws.errs < 100000) {
			ws.err = errno;
			continue;
		}
		if (n <= 0)
			die("writer write (%llu left)", left);
		ws.shorts += (size_t)n < want;
		left -= n;
	}
	ws.cpu = (double)(clock_cpu_us() - cpu0) / 1e6;
	ws.wall = now() - t0;
	close(fd);
	if (write(ready, &ws, sizeof(ws)) != sizeof(ws))
		die("writer stats");
	if (mode == UNIX)
		unlink(UNIX_PATH);
	wait_end(go);
	exit(0);
}

/* Counts the 8-byte pattern words (see writer) not matching in b[0..n), stream offset pos. */
static void check(struct rstat *rs, const unsigned char *b, size_t n, unsigned long long pos)
{
	for (size_t i = 0; i < n;) {
		unsigned long long o = pos + i, w;

		if (o % 8 == 0 && i + 8 <= n) {
			memcpy(&w, b + i, 8);
			if (w != o / 8 && !rs->errs++)
				rs->first_bad = o, rs->found = w;
			i += 8;
		} else {
			if (b[i] != (unsigned char)(o / 8 >> (o % 8 * 8)) && !rs->errs++)
				rs->first_bad = o, rs->found = b[i];
			i++;
		}
	}
}

/* The client: reads total bytes in 128 KB recv()s (sleeping READER_SLOW_US after each),
 * checks the pattern, reports, then reads on to the end to check that nothing more came. */
static void reader(int mode, int done, int go)
{
	static char buf[READ_SZ];
	struct sockaddr_in a = in4("127.0.0.1", mode == DIRECT ? WRITER_PORT : CLIENT_PORT);
	struct rstat rs = {0};
	unsigned long long got = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	ssize_t n = 0;

	if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof(a)))
		die("reader connect");
	while (got < total && (n = recv(fd, buf, sizeof(buf), 0)) > 0) {
		check(&rs, (unsigned char *)buf, n, got);
		got += n;
		rs.recvs++;
		if (r_slow_us)
			usleep(r_slow_us);
	}
	rs.got = got;
	if (write(done, &rs, sizeof(rs)) != sizeof(rs))
		die("reader done");
	while ((n = recv(fd, buf, sizeof(buf), 0)) > 0)
		got += n;
	if (got != total)
		fprintf(stderr, "splice_paths: reader got %llu bytes, expected %llu\n", got, total);
	wait_end(go);
	exit(got == total ? 0 : 1);
}

static struct machine_cpu cpu_now(void)
{
	struct machine_cpu c;

	if (machine_cpu_read(&c))
		die("/proc/stat");
	return c;
}

/* Nanoseconds on CPU of every thread alive (/proc/PID/task/TID/schedstat, exact, where
 * /proc/stat samples ticks), and of the kworkers among them. Read outside the window. */
struct run { unsigned long long all, kworker; };

static struct run run_now(void)
{
	struct run r = {0};
	DIR *d = opendir("/proc"), *t;
	struct dirent *e, *te;
	char path[600], comm[32] = "";
	unsigned long long ns;
	FILE *f;

	while (d && (e = readdir(d))) {
		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		if ((f = fopen(path, "r"))) {
			if (!fgets(comm, sizeof(comm), f))
				comm[0] = 0;
			fclose(f);
		}
		snprintf(path, sizeof(path), "/proc/%s/task", e->d_name);
		if (!(t = opendir(path)))
			continue;
		while ((te = readdir(t))) {
			if (te->d_name[0] == '.')
				continue;
			snprintf(path, sizeof(path), "/proc/%s/task/%s/schedstat", e->d_name, te->d_name);
			if (!(f = fopen(path, "r")))
				continue;
			if (fscanf(f, "%llu", &ns) == 1) {
				r.all += ns;
				if (!strncmp(comm, "kworker/", 8))
					r.kworker += ns;
			}
			fclose(f);
		}
		closedir(t);
	}
	if (d)
		closedir(d);
	return r;
}

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

/* The verdict's counters since the last call (which zeroes them). */
static struct stats stats_take(struct splice_paths_bpf *skel)
{
	struct stats s;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(bpf_map__fd(skel->maps.stats), &zero, &s) ||
	    bpf_map_update_elem(bpf_map__fd(skel->maps.stats), &zero, &(struct stats){0}, BPF_ANY))
		die("stats");
	return s;
}

/* fd into socks at slot, its skbs to peer_slot. */
static void splice_put(struct splice_paths_bpf *skel, __u32 slot, int fd, __u32 peer_slot, __u64 *cookie)
{
	__u64 v = fd;
	socklen_t len = sizeof(*cookie);

	if (getsockopt(fd, SOL_SOCKET, SO_COOKIE, cookie, &len) ||
	    bpf_map_update_elem(bpf_map__fd(skel->maps.peers), cookie, &peer_slot, BPF_ANY) ||
	    bpf_map_update_elem(bpf_map__fd(skel->maps.socks), &slot, &v, BPF_ANY))
		die("sockmap insert slot %u", slot);
}

struct result { double mbs, busy, run; }; /* MB/s; ms per MB by /proc/stat, schedstat */

static struct result transfer(struct splice_paths_bpf *skel, int client_l, int mode, int rep)
{
	int ready[2], go[2], done[2], cfd = -1, sfd = -1, ws, rs;
	double mb = total / 1048576.0, t0, t1, tick_ms = 1000.0 / sysconf(_SC_CLK_TCK);
	__u64 ccookie = 0, scookie = 0, got = 0;
	struct rstat rst;
	struct hello h;
	struct wstat wst;
	struct stats st;
	struct machine_cpu c0, c1;
	struct run r0, r1;
	pid_t w, r;
	char c;

	if (pipe(ready) || pipe(go) || pipe(done))
		die("pipe");
	if (!(w = fork()))
		child(go[1]), writer(mode, ready[1], go[0]);
	if (read(ready[0], &c, 1) != 1)
		die("writer did not start");
	if (!(r = fork()))
		child(go[1]), reader(mode, done[1], go[0]);
	if (mode != DIRECT) {
		struct sockaddr_in a = in4(mode == VETH || mode == MSG ? SB_IP : "127.0.0.1", WRITER_PORT);

		if ((cfd = accept(client_l, NULL, NULL)) < 0)
			die("node accept");
		if (client_sndbuf && setsockopt(cfd, SOL_SOCKET, SO_SNDBUFFORCE,
					       &(int){client_sndbuf / 2}, sizeof(int)))
			die("client SO_SNDBUFFORCE");
		sfd = socket(mode == UNIX ? AF_UNIX : AF_INET, SOCK_STREAM, 0);
		if (sfd < 0)
			die("socket");
		bigbuf(sfd);
		if (mode == UNIX ? connect(sfd, (struct sockaddr *)&un, sizeof(un))
				 : connect(sfd, (struct sockaddr *)&a, sizeof(a)))
			die("node connect");
	}
	if (read(ready[0], &h, sizeof(h)) != sizeof(h))
		die("writer cookie");
	if (mode == MSG) {
		/* The writer's socket, taken from the writer, in msocks; our copy of the fd
		 * goes: closing the writer's removes it. The client socket and the node's
		 * socket in socks as in veth: splice_msg redirects to socks slot 0, and what the
		 * guard lets through by TCP reaches the node's socket, whose verdict forwards. */
		int pfd = syscall(SYS_pidfd_open, w, 0), wfd = syscall(SYS_pidfd_getfd, pfd, h.fd, 0);

		splice_put(skel, 0, cfd, 1, &ccookie);
		splice_put(skel, 1, sfd, 0, &scookie);
		skel->bss->guard = msg_guard;
		skel->bss->diverted = 0;
		if (pfd < 0 || wfd < 0 ||
		    bpf_map_update_elem(bpf_map__fd(skel->maps.msocks), &(__u32){1}, &(__u64){wfd}, BPF_ANY))
			die("msocks insert");
		close(wfd);
		close(pfd);
	} else if (mode != DIRECT) {
		splice_put(skel, 0, cfd, 1, &ccookie);
		splice_put(skel, 1, sfd, 0, &scookie);
		/* An AF_UNIX skb still belongs to its sender (skb->sk is the writer's socket),
		 * so the verdict sees the writer's cookie: map it to the client's slot too. */
		if (mode == UNIX &&
		    bpf_map_update_elem(bpf_map__fd(skel->maps.peers), &h.cookie, &(__u32){0}, BPF_ANY))
			die("peers");
	}
	(void)stats_take(skel);
	r0 = run_now();
	c0 = cpu_now();
	t0 = now();
	if (write(go[1], "g", 1) != 1 || read(done[0], &rst, sizeof(rst)) != sizeof(rst))
		die("transfer");
	t1 = now();
	got = rst.got;
	c1 = cpu_now();
	r1 = run_now();
	st = stats_take(skel);
	if (read(ready[0], &wst, sizeof(wst)) != sizeof(wst))
		die("writer stats");
	close(go[1]); /* the children may end */
	/* Closing takes the sockets out of the map; the reader then sees its end. */
	if (cfd >= 0) {
		close(cfd);
		close(sfd);
		bpf_map_delete_elem(bpf_map__fd(skel->maps.peers), &ccookie);
		bpf_map_delete_elem(bpf_map__fd(skel->maps.peers), &scookie);
		bpf_map_delete_elem(bpf_map__fd(skel->maps.peers), &h.cookie);
	}
	if (waitpid(w, &ws, 0) != w || waitpid(r, &rs, 0) != r || ws || rs)
		die("%s: writer status %d, reader status %d", mode_name[mode], ws, rs);
	close(go[0]);
	for (int i = 0; i < 2; i++)
		close(ready[i]), close(done[i]);
	if (got != total)
		die("%s: reader got %llu of %llu bytes", mode_name[mode], got, total);
	if (mode == MSG ? st.bytes < total : st.bytes != (mode == DIRECT ? 0 : total))
		die("%s: verdict redirected %llu bytes, expected %llu", mode_name[mode], st.bytes,
		    mode == DIRECT ? 0 : total);

	struct result res = {.mbs = mb / (t1 - t0),
			     .busy = (c1.busy - c0.busy) * tick_ms / mb,
			     .run = (r1.all - r0.all) / 1e6 / mb};
	printf("%-6s rep %d %5.0f MB %7.3f s %7.1f MB/s  busy %.3f ms/MB (usr %.3f sys %.3f "
	       "irq+si %.3f)  run %.3f ms/MB (kworkers %.3f)  skbs %llu avg %llu B maxq %llu "
	       "drops %llu  writer: short %u errs %u%s%s\n",
	       mode_name[mode], rep, mb, t1 - t0, res.mbs, res.busy,
	       (c1.usr - c0.usr) * tick_ms / mb, (c1.sys - c0.sys) * tick_ms / mb,
	       (c1.si - c0.si) * tick_ms / mb, res.run, (r1.kworker - r0.kworker) / 1e6 / mb,
	       st.skbs, st.skbs ? st.bytes / st.skbs : 0, st.max_q, st.dropped, wst.shorts, wst.errs,
	       wst.errs ? " last " : "", wst.errs ? strerror(wst.err) : "");
	printf("       writer%s: cpu %.3f s = %.3f s/s of transfer (own wall %.3f s)  writes %u "
	       "EAGAIN %u short %u epoll wakeups %u timeouts %u | reader%s: %llu B in %llu recvs, "
	       "pattern errors %llu%s",
	       w_nonblock ? (w_et ? " nonblock ET" : " nonblock") : " blocking", wst.cpu,
	       wst.cpu / (t1 - t0), wst.wall, wst.writes, wst.eagains, wst.shorts, wst.wakeups,
	       wst.timeouts, r_slow_us ? " slow" : "", rst.got, rst.recvs, rst.errs, rst.errs ? " first at " : "");
	if (rst.errs)
		printf("%llu (found 0x%llx)", rst.first_bad, rst.found);
	if (mode == MSG && msg_guard)
		printf(" | guard %d: %llu B in %llu msgs by TCP", msg_guard, st.passed, st.pmsgs);
	printf("\n");
	fflush(stdout);
	return res;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

int main(int argc, char **argv)
{
	int size_mb = argc > 1 ? atoi(argv[1]) : 64, reps = argc > 2 ? atoi(argv[2]) : 1;
	const char *modes_env = getenv("MODES"), *buf_env = getenv("BUF_MB");
	struct result res[NMODES][MAXREP];
	int modes[NMODES], nmodes = 0, client_l;
	struct splice_paths_bpf *skel;

	if (modes_env && !strstr(modes_env, "direct")) {
		fprintf(stderr, "splice_paths: MODES must include direct (the ratios' base)\n");
		return 2;
	}
	if (size_mb <= 0 || reps <= 0 || reps > MAXREP) {
		fprintf(stderr, "usage: splice_paths SIZE_MB REPEATS (1..%d)  env MODES, BUF_MB\n", MAXREP);
		return 2;
	}
	total = (unsigned long long)size_mb << 20;
	buf_bytes = (buf_env ? atoi(buf_env) : 32) << 20;
	w_nonblock = getenv("WRITER_NONBLOCK") && atoi(getenv("WRITER_NONBLOCK"));
	w_et = getenv("WRITER_ET") && atoi(getenv("WRITER_ET"));
	r_slow_us = getenv("READER_SLOW_US") ? atoi(getenv("READER_SLOW_US")) : 0;
	msg_guard = getenv("MSG_GUARD") ? atoi(getenv("MSG_GUARD")) : 0;
	client_sndbuf = (getenv("CLIENT_BUF_MB") ? atoi(getenv("CLIENT_BUF_MB")) : 0) << 20;
	for (int m = 0; m < NMODES; m++)
		if (!modes_env || strstr(modes_env, mode_name[m]))
			modes[nmodes++] = m;
	skel = splice_paths_bpf__open_and_load();
	if (!skel || bpf_prog_attach(bpf_program__fd(skel->progs.splice_verdict), bpf_map__fd(skel->maps.socks),
			    BPF_SK_SKB_STREAM_VERDICT, 0) ||
	    bpf_prog_attach(bpf_program__fd(skel->progs.splice_msg), bpf_map__fd(skel->maps.msocks),
			    BPF_SK_MSG_VERDICT, 0))
		die("load/attach BPF");
	client_l = tcp_listen("127.0.0.1", CLIENT_PORT);
	printf("# %d MB x %d, writer/node-leg SO_SNDBUF=SO_RCVBUF=%d MB, node's client socket "
	       "SO_SNDBUF=%d MB (0: autotuned), reader: defaults\n", size_mb, reps, buf_bytes >> 20,
	       client_sndbuf >> 20);
	fflush(stdout);
	/* Interleaved, the order rotating each repeat. */
	for (int rep = 0; rep < reps; rep++)
		for (int i = 0; i < nmodes; i++) {
			int m = modes[(i + rep) % nmodes];

			res[m][rep] = transfer(skel, client_l, m, rep + 1);
		}
	printf("# medians over %d: MB/s, busy ms/MB (/proc/stat), run ms/MB (schedstat); "
	       "(x direct's median)\n", reps);
	struct result base = {0};

	for (int i = 0; i < nmodes; i++) {
		int m = modes[i];
		double v[3][MAXREP];
		struct result med;

		for (int r = 0; r < reps; r++)
			v[0][r] = res[m][r].mbs, v[1][r] = res[m][r].busy, v[2][r] = res[m][r].run;
		med = (struct result){median(v[0], reps), median(v[1], reps), median(v[2], reps)};
		if (m == DIRECT)
			base = med;
		printf("%-6s %8.1f MB/s (x%.2f)  busy %6.3f ms/MB (x%.2f)  run %6.3f ms/MB (x%.2f)\n",
		       mode_name[m], med.mbs, med.mbs / base.mbs, med.busy, med.busy / base.busy,
		       med.run, med.run / base.run);
	}
	splice_paths_bpf__destroy(skel);
	return 0;
}
