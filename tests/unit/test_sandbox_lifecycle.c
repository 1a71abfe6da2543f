// SPDX-License-Identifier: Apache-2.0
/*
 * Sandbox lifecycle: the stem-cell pool and its refill, cancelled requests, deaths
 * reported (killed, exited), cleanup on destroy, re-adoption by a new manager after
 * the old one went away (even by kill -9), and 1,000 create/destroy cycles that must
 * leave no process, cgroup, veth, network namespace, mount or file behind.
 */
#include <dirent.h>
#include <sys/wait.h>

#include <bpf/bpf.h>
#include <net/if.h>

#include "test.h"
#include "sandbox_harness.h"
#include "cgroup.h"

struct pool_want {
	unsigned pooled;
};

static bool pool_at(void *arg)
{
	struct pool_want *w = arg;
	struct sandbox_stats st;

	sandbox_manager_stats(H.m, &st);
	return st.pooled >= w->pooled && !st.starting;
}

static bool settled(void *arg)
{
	struct sandbox_stats st;

	(void)arg;
	sandbox_manager_stats(H.m, &st);
	return !st.dying && !st.starting;
}

static int count_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Host veths on our bridge. */
static int count_veths(void)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/class/net/%s/brif", H.bridge);
	return count_dir(path);
}

static int count_lines(const char *cmd)
{
	FILE *f = popen(cmd, "r");
	char line[1024];
	int n = 0;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		n++;
	pclose(f);
	return n;
}

static int LEAK_NSIDS_BASE, LEAK_MOUNTS_BASE, LEAK_FDS_BASE;

/* Our cgroup parent in the memory hierarchy (made under our own memory cgroup). */
static const char *cgroup_parent_dir(void)
{
	static char dir[PATH_MAX];
	char *data = file_read_all("/proc/self/cgroup", NULL), *p;

	p = data ? strstr(data, ":memory:") : NULL;
	if (p) {
		p += 8;
		p[strcspn(p, "\n")] = '\0';
		snprintf(dir, sizeof(dir), "/sys/fs/cgroup/memory%s/%s", strcmp(p, "/") ? p : "",
			 H.cgroup_parent);
	}
	free(data);
	return dir;
}

static int count_cgroups(void)
{
	DIR *d = opendir(cgroup_parent_dir());
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += de->d_type == DT_DIR && de->d_name[0] != '.';
	closedir(d);
	return n;
}

/* Processes left in sandbox cgroups. */
static int count_sandbox_procs(void)
{
	char cmd[PATH_MAX + 64];

	snprintf(cmd, sizeof(cmd), "cat %s/*/cgroup.procs 2>/dev/null", cgroup_parent_dir());
	return count_lines(cmd);
}

static void test_pool_prewarm_and_refill(void)
{
	struct pool_want want = { 2 };
	struct sandbox_stats st;
	struct sandbox *sb;
	int err;

	ASSERT(h_run_until(pool_at, &want, 10000));
	sandbox_manager_stats(H.m, &st);
	CHECK(st.pooled == 2);
	sb = h_acquire("native", 128, &err);
	ASSERT(sb);
	/* Handed out from the pool, which refills in the background. */
	CHECK(h_run_until(pool_at, &want, 10000));
	sandbox_manager_stats(H.m, &st);
	CHECK(st.pool_hits >= 1 && st.live == 1 && st.pooled == 2);
	sandbox_destroy(sb);
	CHECK(h_run_until(settled, NULL, 5000));
}

static bool never_called;

static void must_not_run(struct sandbox *sb, int err, void *data)
{
	(void)sb;
	(void)err;
	(void)data;
	never_called = false;
}

static void count_blackbox(const char *kind, const char *image, unsigned ready, void *data)
{
	if (!strcmp(kind, "blackbox"))
		*(unsigned *)data = ready;
}

static bool blackbox_pooled(void *arg)
{
	unsigned ready = 0;

	sandbox_manager_stem_cells(H.m, count_blackbox, &ready);
	return ready == 1;
}

static void test_acquire_cancel(void)
{
	struct sandbox_request *req;
	struct sandbox_stats st;

	never_called = true;
	/* A cold start cancelled on its way (started: the kind has no stem cells): its
	 * sandbox goes to the pool. */
	req = sandbox_acquire(H.m, "blackbox", 128, must_not_run, NULL);
	ASSERT(req);
	/* The start is scheduled on a timer due now; cancel right after it ran, before the
	 * sandbox can answer (sleeping instead raced a 3 ms blackbox start). */
	h_run_due_timers();
	sandbox_manager_stats(H.m, &st);
	CHECK(st.starting == 1);
	sandbox_acquire_cancel(req);
	CHECK(h_run_until(blackbox_pooled, NULL, 10000));
	h_sleep_ms(20);
	CHECK(never_called);
	/* Cancelled after a stem cell was picked, before the callback: back to the pool,
	 * not killed. */
	req = sandbox_acquire(H.m, "native", 128, must_not_run, NULL);
	ASSERT(req);
	sandbox_acquire_cancel(req);
	sandbox_manager_stats(H.m, &st);
	CHECK(st.live == 0 && st.pooled == 3); /* two native stem cells and the blackbox */
	h_sleep_ms(20);
	CHECK(never_called);
}

static bool saw_death(void *arg)
{
	return H.deaths > *(int *)arg;
}

static void test_crash_reported(void)
{
	struct sandbox *sb;
	char dir[PATH_MAX];
	int err, deaths = H.deaths;

	sb = h_acquire("native", 128, &err);
	ASSERT(sb);
	snprintf(dir, sizeof(dir), "%s/%s", H.state_dir, sandbox_id(sb));
	CHECK(access(dir, F_OK) == 0);
	kill(sandbox_pid(sb), SIGKILL);
	CHECK(h_run_until(saw_death, &deaths, 3000));
	CHECK(H.dead == sb && H.dead_reason == SANDBOX_KILLED && H.dead_status == SIGKILL);
	CHECK(h_run_until(settled, NULL, 5000));
	CHECK(access(dir, F_OK) != 0);
}

/* memory.events as cgroup v2 writes it: an OOM kill without the group reaching its limit
 * is the host's (the platform's failure, SANDBOX_KILLED), with it the action's. */
static bool host_oom_in(const char *events)
{
	char path[] = "/tmp/xwhisk-oom-XXXXXX";
	int fd = mkstemp(path);
	bool host;

	if (fd < 0)
		return false;
	unlink(path);
	CHECK(write(fd, events, strlen(events)) == (ssize_t)strlen(events));
	host = cgroup_oom_was_host(fd);
	close(fd);
	return host;
}

static void test_host_oom_is_told_apart(void)
{
	CHECK(host_oom_in("low 0\nhigh 0\nmax 0\noom 0\noom_kill 1\noom_group_kill 0\n"));
	CHECK(!host_oom_in("low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\noom_group_kill 0\n"));
	CHECK(!host_oom_in("low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"));
	/* v1's memory.oom_control has no "oom" count: never taken for the host's */
	CHECK(!host_oom_in("oom_kill_disable 0\nunder_oom 0\noom_kill 1\n"));
}

static void test_exit_reported(void)
{
	char *req = h_init_body("import os\ndef main(a):\n    os._exit(3)\n", false, NULL, 0);
	char *b = NULL;
	struct sandbox *sb;
	int err, deaths = H.deaths;

	sb = h_acquire("python:3", 128, &err);
	ASSERT(sb);
	CHECK(h_sb_post(sb, "/init", req, &b) == 200);
	free(b);
	free(req);
	/* The loop died mid-run: the proxy answers, then ends the sandbox. */
	CHECK(h_sb_post(sb, "/run", "{\"value\":{}}", &b) == 502);
	CHECK(b && strstr(b, "exited unexpectedly"));
	free(b);
	CHECK(h_run_until(saw_death, &deaths, 3000));
	CHECK(H.dead == sb && H.dead_reason == SANDBOX_EXITED && H.dead_status == 1);
}

static void test_destroy_cleans_up(void)
{
	int before_cg = count_cgroups(), err;
	struct sandbox *sb = h_acquire("python:3", 128, &err);
	char dir[PATH_MAX];
	pid_t pid;

	ASSERT(sb);
	pid = sandbox_pid(sb);
	snprintf(dir, sizeof(dir), "%s/%s", H.state_dir, sandbox_id(sb));
	sandbox_destroy(sb);
	CHECK(h_run_until(settled, NULL, 5000));
	CHECK(kill(pid, 0) != 0);
	CHECK(access(dir, F_OK) != 0);
	CHECK(count_cgroups() <= before_cg);
}

static void adopted_cb(struct sandbox *sb, void *data)
{
	struct sandbox **out = data;

	*out = sb;
}

struct sentinel_wait {
	struct sandbox *sb;
};

static bool got_sentinels(void *arg)
{
	struct sentinel_wait *w = arg;

	return h_logs_count(w->sb, SANDBOX_STDOUT, NULL) >= 1 &&
	       h_logs_count(w->sb, SANDBOX_STDERR, NULL) >= 1;
}

/*
 * The manager's process is killed (-9) with a sandbox handed out and stem cells in the
 * pool; a new manager on the same state adopts both, and the sandbox keeps serving,
 * its logs included.
 */
static void test_adoption_after_kill9(void)
{
	int ready[2], deaths, err;
	char id[32] = "", ip[32] = "", *b = NULL;
	struct sandbox *sb = NULL;
	struct sandbox_stats st;
	struct pool_want want = { 2 };
	pid_t child;

	/* Our own manager goes first: the child takes over the state directory. */
	sandbox_manager_destroy_all(H.m);
	(void)h_run_until(h_all_gone, NULL, 10000);
	sandbox_manager_free(H.m);
	H.m = NULL;
	ASSERT(pipe(ready) == 0);
	child = fork();
	if (child == 0) {
		char *req = h_init_body("import sys\ndef main(a):\n"
					"    print('adopted', a.get('n'))\n"
					"    print('err', file=sys.stderr)\n"
					"    return {'n': a.get('n')}\n",
					false, NULL, 0);
		char line[128];

		loop_free(H.loop);
		H.loop = loop_new();
		H.m = h_manager_new("native=2,python:3=1,nodejs:20=0,blackbox=0");
		sb = H.m ? h_acquire("python:3", 128, &err) : NULL;
		if (!sb || sandbox_set_label(sb, "guest/adoptee@1") ||
		    h_sb_post(sb, "/init", req, &b) != 200)
			_exit(1);
		(void)h_run_until(pool_at, &want, 10000);
		snprintf(line, sizeof(line), "%s %s\n", sandbox_id(sb), sandbox_ip(sb));
		(void)!write(ready[1], line, strlen(line));
		pause();
		_exit(0);
	}
	close(ready[1]);
	{
		char line[128] = "";
		ssize_t n = read(ready[0], line, sizeof(line) - 1);

		if (n > 0)
			sscanf(line, "%31s %31s", id, ip);
	}
	close(ready[0]);
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	ASSERT(id[0]);
	H.m = h_manager_new("native=2,python:3=1,nodejs:20=0,blackbox=0");
	ASSERT(H.m);
	sandbox_manager_adopted(H.m, adopted_cb, &sb);
	ASSERT(sb);
	CHECK(!strcmp(sandbox_id(sb), id) && !strcmp(sandbox_ip(sb), ip));
	CHECK(!strcmp(sandbox_label(sb) ?: "", "guest/adoptee@1"));
	sandbox_manager_stats(H.m, &st);
	CHECK(st.pooled >= 2 && st.live == 1);
	/* Still warm: no /init needed, and its output reaches the new manager. */
	CHECK(h_sb_post(sb, "/run", "{\"value\":{\"n\":7}}", &b) == 200);
	CHECK(b && strstr(b, "\"n\":7"));
	free(b);
	{
		/* It kept sandbox_tc across the restart (a pinned link), and only one. */
		char veth[32], link[128];
		__u32 ids[4], cnt = 4, flags = 0;
		int ifindex;

		snprintf(veth, sizeof(veth), "xw%s", id);
		snprintf(link, sizeof(link), "%s/%s/%s", H.pin_dir, XW_SANDBOX_LINK_DIR, veth);
		ifindex = (int)if_nametoindex(veth);
		CHECK(ifindex > 0 && access(link, F_OK) == 0);
		CHECK(bpf_prog_query(ifindex, (enum bpf_attach_type)46, 0, &flags, ids, &cnt) == 0);
		CHECK(cnt == 1);
	}
	{
		struct sentinel_wait w = { sb };

		CHECK(h_run_until(got_sentinels, &w, 3000));
		CHECK(h_logs_count(sb, SANDBOX_STDOUT, "adopted 7") == 1);
	}
	/* Death of an adopted sandbox (not our child) is still seen through its pidfd. */
	deaths = H.deaths;
	kill(sandbox_pid(sb), SIGKILL);
	CHECK(h_run_until(saw_death, &deaths, 3000));
	CHECK(H.dead == sb);
	h_logs_reset();
}

/* A sandbox that died while no manager ran is cleaned up, not adopted. */
static void test_dead_while_away(void)
{
	struct pool_want want = { 2 };
	struct sandbox *sb = NULL;
	char dir[PATH_MAX];
	pid_t pid;
	int err;

	sb = h_acquire("native", 128, &err);
	ASSERT(sb);
	pid = sandbox_pid(sb);
	snprintf(dir, sizeof(dir), "%s/%s", H.state_dir, sandbox_id(sb));
	sandbox_manager_free(H.m); /* leaves it running */
	H.m = NULL;
	CHECK(kill(pid, 0) == 0);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0); /* our child (subreaper), so ours to reap */
	H.m = h_manager_new("native=2,python:3=0,nodejs:20=0,blackbox=0");
	ASSERT(H.m);
	sb = NULL;
	sandbox_manager_adopted(H.m, adopted_cb, &sb);
	CHECK(sb == NULL);
	CHECK(h_run_until(settled, NULL, 5000));
	CHECK(access(dir, F_OK) != 0);
	CHECK(h_run_until(pool_at, &want, 10000));
}

/*
 * Addresses come back quickly in a small subnet: the node must still reach each new
 * holder at once (its neighbour entry for the address is the old holder's).
 */
static void test_address_reuse(void)
{
	char saved_bridge[16], saved_subnet[32], cmd[64];
	char *init = h_init_body("#!/bin/sh\nwhile read l; do echo '{\"ok\":1}' >&3; done\n",
				 false, NULL, 0);
	struct sandbox_manager *saved = H.m;
	int id = (int)getpid();

	memcpy(saved_bridge, H.bridge, sizeof(saved_bridge));
	memcpy(saved_subnet, H.subnet, sizeof(saved_subnet));
	snprintf(H.bridge, sizeof(H.bridge), "xwu%d", id);
	/* A /29: five sandbox addresses, each reused every fifth sandbox. */
	snprintf(H.subnet, sizeof(H.subnet), "169.254.%d.%d/29", 128 + id % 32, 8 * (id % 31));
	H.m = h_manager_new("native=0,python:3=0,nodejs:20=0,blackbox=0");
	ASSERT(H.m);
	for (int i = 0; i < 12; i++) {
		struct sandbox *sb;
		uint64_t t0;
		char *b = NULL;
		int err;

		sb = h_acquire("native", 128, &err);
		CHECK(sb);
		if (!sb)
			break;
		t0 = clock_mono_ms();
		CHECK(h_post(sandbox_ip(sb), sandbox_port(sb), "/init", init, 3000, &b) == 200);
		free(b);
		CHECK(h_post(sandbox_ip(sb), sandbox_port(sb), "/run", "{\"value\":{}}", 3000,
			     &b) == 200);
		free(b);
		CHECK(clock_mono_ms() - t0 < 2500);
		sandbox_destroy(sb);
		(void)h_run_until(settled, NULL, 5000);
	}
	sandbox_manager_destroy_all(H.m);
	(void)h_run_until(h_all_gone, NULL, 10000);
	sandbox_manager_free(H.m);
	snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null", H.bridge);
	(void)!system(cmd);
	memcpy(H.bridge, saved_bridge, sizeof(saved_bridge));
	memcpy(H.subnet, saved_subnet, sizeof(saved_subnet));
	H.m = saved;
	free(init);
}

/* A second manager on the subnet the first one's bridge holds, under another bridge name
 * (two nodes on one host given one subnet), is refused rather than started: its sandboxes
 * would be reached through the first one's bridge. */
static void test_subnet_taken_refused(void)
{
	char saved_bridge[16], cmd[64];
	struct sandbox_manager *saved = H.m, *second;

	memcpy(saved_bridge, H.bridge, sizeof(saved_bridge));
	snprintf(H.bridge, sizeof(H.bridge), "xwv%d", (int)getpid());
	second = h_manager_new("native=0,python:3=0,nodejs:20=0,blackbox=0");
	CHECK(!second);
	snprintf(cmd, sizeof(cmd), "ip link show %s >/dev/null 2>&1", H.bridge);
	CHECK(system(cmd) != 0); /* refused before making its bridge */
	if (second)
		sandbox_manager_free(second);
	snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null", H.bridge);
	(void)!system(cmd);
	memcpy(H.bridge, saved_bridge, sizeof(saved_bridge));
	H.m = saved;
}

/* ---- 1,000 cycles ---- */

struct cycles {
	int want, done, inflight, failed;
};

static struct cycles C;

static void cycle_ready(struct sandbox *sb, int err, void *data)
{
	(void)data;
	C.inflight--;
	C.done++;
	if (err)
		C.failed++;
	else
		sandbox_destroy(sb);
	while (C.inflight < 16 && C.done + C.inflight < C.want) {
		C.inflight++;
		if (!sandbox_acquire(H.m, "native", 128, cycle_ready, NULL)) {
			C.inflight--;
			C.failed++;
			C.done++;
		}
	}
}

static bool cycles_done(void *arg)
{
	(void)arg;
	return C.done >= C.want;
}

struct leak_view {
	int procs, cgroups, veths, nsids, mounts, fds, dirs;
};

static void leak_view(struct leak_view *v)
{
	v->procs = count_sandbox_procs();
	v->cgroups = count_cgroups();
	v->veths = count_veths();
	v->nsids = count_lines("ip netns list-id 2>/dev/null");
	v->mounts = count_lines("cat /proc/self/mountinfo");
	v->fds = count_dir("/proc/self/fd");
	v->dirs = count_dir(H.state_dir);
}

struct leak_wait {
	struct leak_view base, now;
};

static bool back_to_base(void *arg)
{
	struct leak_wait *w = arg;

	leak_view(&w->now);
	/* Namespaces are torn down by the kernel in the background: allow it time. */
	return w->now.procs <= w->base.procs && w->now.cgroups <= w->base.cgroups &&
	       w->now.veths <= w->base.veths &&
	       /* Other users of the machine come and go: a leak of ours would be hundreds. */
	       w->now.nsids <= w->base.nsids + 8 &&
	       w->now.mounts <= w->base.mounts && w->now.fds <= w->base.fds &&
	       w->now.dirs <= w->base.dirs;
}

/* Under ASan (make test SANITIZE=1) every sandbox's proxy starts several times slower:
 * fewer cycles within the same time, the same checks after them. */
#ifdef __SANITIZE_ADDRESS__
#define LEAK_CYCLES 200
#else
#define LEAK_CYCLES 1000
#endif

static void test_leak_1000_cycles(void)
{
	struct leak_wait w;
	uint64_t t0;
	double secs;

	/* The baseline: nothing of ours running. */
	sandbox_manager_destroy_all(H.m);
	ASSERT(h_run_until(h_all_gone, NULL, 10000));
	sandbox_manager_free(H.m);
	H.m = h_manager_new("native=16,python:3=0,nodejs:20=0,blackbox=0");
	ASSERT(H.m);
	h_sleep_ms(300);
	{
		struct pool_want want = { 16 };

		(void)h_run_until(pool_at, &want, 10000);
	}
	memset(&C, 0, sizeof(C));
	C.want = LEAK_CYCLES;
	t0 = clock_mono_ms();
	for (int i = 0; i < 16; i++) {
		C.inflight++;
		if (!sandbox_acquire(H.m, "native", 128, cycle_ready, NULL))
			C.inflight--;
	}
	CHECK(h_run_until(cycles_done, NULL, 120000));
	secs = (double)(clock_mono_ms() - t0) / 1000.0;
	fprintf(stderr, "  %d cycles in %.1f s (%.0f/s), %d failed\n", LEAK_CYCLES, secs,
		C.done / secs, C.failed);
	CHECK(C.failed == 0);
	sandbox_manager_destroy_all(H.m);
	CHECK(h_run_until(h_all_gone, NULL, 20000));
	/* Compare with a world where the manager never ran: all at zero but fds/mounts. */
	memset(&w, 0, sizeof(w));
	leak_view(&w.base);
	w.base.procs = w.base.cgroups = w.base.veths = w.base.dirs = 0;
	w.base.nsids = LEAK_NSIDS_BASE;
	w.base.mounts = LEAK_MOUNTS_BASE;
	w.base.fds = LEAK_FDS_BASE;
	CHECK(h_run_until(back_to_base, &w, 20000));
	if (!back_to_base(&w))
		fprintf(stderr, "  left: procs %d cgroups %d veths %d nsids %d (%d) mounts %d (%d) "
				"fds %d (%d) dirs %d\n",
			w.now.procs, w.now.cgroups, w.now.veths, w.now.nsids, w.base.nsids,
			w.now.mounts, w.base.mounts, w.now.fds, w.base.fds, w.now.dirs);
}

int main(void)
{
	int err;

	/* What the machine looks like before any sandbox of ours exists. */
	log_init("test");
	LEAK_MOUNTS_BASE = count_lines("cat /proc/self/mountinfo");
	err = h_setup("native=2,python:3=0,nodejs:20=0,blackbox=0");
	if (err) {
		printf("not ok - setup: %s\n", strerror(-err));
		return 1;
	}
	LEAK_NSIDS_BASE = count_lines("ip netns list-id 2>/dev/null");
	LEAK_FDS_BASE = count_dir("/proc/self/fd") + 8; /* the manager's own, the zygotes' */
	RUN(test_pool_prewarm_and_refill);
	RUN(test_acquire_cancel);
	RUN(test_crash_reported);
	RUN(test_host_oom_is_told_apart);
	RUN(test_exit_reported);
	RUN(test_destroy_cleans_up);
	RUN(test_adoption_after_kill9);
	RUN(test_dead_while_away);
	RUN(test_address_reuse);
	RUN(test_subnet_taken_refused);
	RUN(test_leak_1000_cycles);
	h_teardown();
	TEST_EXIT();
}
