// SPDX-License-Identifier: Apache-2.0
/*
 * Sandbox benchmark (built and run by scripts/bench/sandbox.sh):
 *   fresh    a language loop started as a new process (no sandbox): the baseline
 *   pool     cold start from the stem-cell pool: acquire + /init, then the first /run
 *   nopool   cold start with an empty pool: a whole sandbox is made, then /init
 *   refill   sustained create + destroy: sandboxes per second, CPU per sandbox
 *   memory   idle sandboxes: what each costs the machine beyond its runtime
 * Prints one Markdown table per part.
 */
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>

#define H_MAX_STARTING 16
#include "machine_cpu.h"
#include "sandbox_harness.h"

extern char **environ;

static const char *HELLO_NODE = "function main(a) { return {hello: a.name || 'world'}; }";
static const char *HELLO_PY = "def main(a):\n    return {'hello': a.get('name', 'world')}\n";
static const char *HELLO_SH = "#!/bin/sh\nwhile read l; do echo '{\"hello\":\"world\"}' >&3; done\n";

static const char *hello_for(const char *kind)
{
	if (!strncmp(kind, "nodejs", 6))
		return HELLO_NODE;
	if (!strncmp(kind, "python", 6))
		return HELLO_PY;
	return HELLO_SH;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
	int i = (int)(p * (n - 1) + 0.5);

	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n ? v[i] : 0;
}

/* ---- fresh processes ---- */

/* ms from spawn to the loop's first line on fd 3 (or the proxy's READY). */
static double fresh_start_ms(char *const argv[], bool ready_fd)
{
	posix_spawn_file_actions_t fa;
	char buf[256], env_ready[] = "XWHISK_READY_FD=3", **env;
	int p[2], in[2], envn = 0;
	struct pollfd pfd;
	uint64_t t0;
	double ms = -1;
	pid_t pid;

	while (environ[envn])
		envn++;
	env = calloc((size_t)envn + 2, sizeof(*env));
	memcpy(env, environ, (size_t)envn * sizeof(*env));
	if (ready_fd)
		env[envn] = env_ready;
	if (pipe2(p, O_CLOEXEC) || pipe2(in, O_CLOEXEC))
		return -1;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in[0], 0);
	posix_spawn_file_actions_adddup2(&fa, p[1], 3);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	t0 = clock_mono_us();
	if (!posix_spawnp(&pid, argv[0], &fa, NULL, argv, env)) {
		close(p[1]);
		pfd = (struct pollfd){ .fd = p[0], .events = POLLIN };
		if (poll(&pfd, 1, 10000) == 1 && read(p[0], buf, sizeof(buf)) > 0)
			ms = (double)(clock_mono_us() - t0) / 1000.0;
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	} else {
		close(p[1]);
	}
	posix_spawn_file_actions_destroy(&fa);
	close(p[0]);
	close(in[0]);
	close(in[1]);
	free(env);
	return ms;
}

static void bench_fresh(int n)
{
	const char *node_loop = h_build_path("runtimes/nodejs/loop.js");
	const char *py_loop = h_build_path("runtimes/python/loop.py");
	const char *proxy = h_build_path("xwhisk-proxy");
	struct {
		const char *what;
		char *argv[8];
		bool ready;
	} cases[] = {
		{ "node loop.js (nodejs:20 runtime)", { "node", (char *)node_loop }, false },
		{ "/usr/bin/python3 loop.py (python:3 runtime)",
		  { "/usr/bin/python3", (char *)py_loop }, false },
		{ "python3 loop.py via the PATH (a pyenv shim here)", { "python3", (char *)py_loop },
		  false },
		{ "xwhisk-proxy --kind native", { (char *)proxy, "--kind", "native", "--listen",
						   "127.0.0.1:0" }, true },
	};
	double v[64];

	printf("\n### Fresh process start (no sandbox), %d runs\n\n", n);
	printf("| process | p50 ms | p99 ms |\n|---|---:|---:|\n");
	for (size_t c = 0; c < ARRAY_SIZE(cases); c++) {
		int k = 0;

		for (int i = 0; i < n && i < 64; i++) {
			double ms = fresh_start_ms(cases[c].argv, cases[c].ready);

			if (ms >= 0)
				v[k++] = ms;
		}
		printf("| %s | %.1f | %.1f |\n", cases[c].what, pct(v, k, 0.5), pct(v, k, 0.99));
	}
	fflush(stdout);
}

/* ---- cold starts ---- */

static bool pool_has(void *arg)
{
	struct sandbox_stats st;

	sandbox_manager_stats(H.m, &st);
	return st.pooled >= *(unsigned *)arg && !st.starting;
}

/* One cold start, driven by callbacks so that no polling shows in the times. */
struct cold {
	const char *init;
	struct sandbox *sb;
	struct http_pool *http;
	uint64_t t0, t_ready, t_init, t_run;
	bool done, ok;
};

static void cold_run_done(struct http_response *resp, int err, void *data)
{
	struct cold *c = data;

	c->t_run = clock_mono_us();
	c->ok = !err && resp->status == 200;
	c->done = true;
}

static void cold_init_done(struct http_response *resp, int err, void *data)
{
	static const char run[] = "{\"value\":{\"name\":\"bench\"}}";
	struct cold *c = data;

	c->t_init = clock_mono_us();
	if (err || resp->status != 200 ||
	    !http_pool_call(c->http, "POST", "/run", NULL, run, sizeof(run) - 1, 30000,
			    cold_run_done, c))
		c->done = true;
}

static void cold_ready(struct sandbox *sb, int err, void *data)
{
	struct cold *c = data;

	c->sb = err ? NULL : sb;
	c->t_ready = clock_mono_us();
	if (c->sb)
		c->http = http_pool_new(H.loop, sandbox_ip(sb), sandbox_port(sb), 1);
	if (!c->http || !http_pool_call(c->http, "POST", "/init", NULL, c->init,
					strlen(c->init), 30000, cold_init_done, c))
		c->done = true;
}

/* Acquire, /init, /run. Times in ms; false on failure. */
static bool cold_once(const char *kind, double *start_ms, double *run_ms, double *acq_ms)
{
	struct cold c = { .init = h_init_body(hello_for(kind), false, NULL, 0) };

	c.t0 = clock_mono_us();
	if (sandbox_acquire(H.m, kind, 256, cold_ready, &c))
		(void)h_run_until(h_flag_set, &c.done, 60000);
	if (c.ok) {
		*start_ms = (double)(c.t_init - c.t0) / 1000.0;
		*run_ms = (double)(c.t_run - c.t_init) / 1000.0;
		*acq_ms = (double)(c.t_ready - c.t0) / 1000.0;
	}
	http_pool_free(c.http);
	if (c.sb)
		sandbox_destroy(c.sb);
	free((char *)c.init);
	return c.ok;
}

static void bench_cold(const char *const *kinds, int n, bool pooled)
{
	static double start[1000], run[1000], acq[1000];
	unsigned want = 4;

	printf("\n### Cold start %s, %d runs per kind\n\n", pooled ? "from the stem-cell pool" :
		"with an empty pool (a whole sandbox made on demand)", n);
	printf("| kind | start p50 ms | start p99 ms | of which acquire p50 ms | first /run p50 ms |\n"
	       "|---|---:|---:|---:|---:|\n");
	for (int k = 0; kinds[k]; k++) {
		char spec[64];
		int got = 0;

		snprintf(spec, sizeof(spec), "%s=%u", kinds[k], pooled ? want : 0);
		H.m = h_manager_new(spec);
		if (!H.m)
			continue;
		for (int i = 0; i < n && i < 1000; i++) {
			/* Each start finds the pool as a node would between bursts: full. */
			if (pooled)
				(void)h_run_until(pool_has, &want, 30000);
			if (cold_once(kinds[k], &start[got], &run[got], &acq[got]))
				got++;
		}
		printf("| %s | %.2f | %.2f | %.2f | %.2f |\n", kinds[k], pct(start, got, 0.5),
		       pct(start, got, 0.99), pct(acq, got, 0.5), pct(run, got, 0.5));
		fflush(stdout);
		sandbox_manager_destroy_all(H.m);
		(void)h_run_until(h_all_gone, NULL, 30000);
		sandbox_manager_free(H.m);
		H.m = NULL;
	}
}

/* ---- sustained refills ---- */

static struct {
	const char *kind;
	int want, done, inflight, failed;
} R;

static void refill_cb(struct sandbox *sb, int err, void *data)
{
	(void)data;
	R.inflight--;
	R.done++;
	if (err)
		R.failed++;
	else
		sandbox_destroy(sb);
	while (R.inflight < 16 && R.done + R.inflight < R.want) {
		R.inflight++;
		if (!sandbox_acquire(H.m, R.kind, 128, refill_cb, NULL)) {
			R.inflight--;
			R.done++;
			R.failed++;
		}
	}
}

static bool refill_done(void *arg)
{
	(void)arg;
	return R.done >= R.want;
}

static double cpu_seconds(int who)
{
	struct rusage ru;

	getrusage(who, &ru);
	return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static void bench_refill(const char *const *kinds, int n)
{
	printf("\n### Sustained refills: %d sandboxes made and destroyed per kind, 16 at a time\n\n",
	       n);
	printf("| kind | sandboxes/s | our CPU ms per sandbox | machine busy | failed |\n"
	       "|---|---:|---:|---:|---:|\n");
	for (int k = 0; kinds[k]; k++) {
		struct machine_cpu m0 = { 0 }, m1 = { 0 };
		unsigned want = 16;
		char spec[64];
		double secs, cpu0, cpu, busy;
		uint64_t t0;

		snprintf(spec, sizeof(spec), "%s=16", kinds[k]);
		H.m = h_manager_new(spec);
		if (!H.m)
			continue;
		(void)h_run_until(pool_has, &want, 30000);
		memset(&R, 0, sizeof(R));
		R.kind = kinds[k];
		R.want = n;
		cpu0 = cpu_seconds(RUSAGE_SELF) + cpu_seconds(RUSAGE_CHILDREN);
		machine_cpu_read(&m0);
		t0 = clock_mono_us();
		for (int i = 0; i < 16; i++) {
			R.inflight++;
			if (!sandbox_acquire(H.m, kinds[k], 128, refill_cb, NULL))
				R.inflight--;
		}
		(void)h_run_until(refill_done, NULL, 600000);
		secs = (double)(clock_mono_us() - t0) / 1e6;
		machine_cpu_read(&m1);
		sandbox_manager_destroy_all(H.m);
		(void)h_run_until(h_all_gone, NULL, 30000);
		sandbox_manager_free(H.m); /* reaps the zygote: its CPU is counted */
		H.m = NULL;
		cpu = cpu_seconds(RUSAGE_SELF) + cpu_seconds(RUSAGE_CHILDREN) - cpu0;
		busy = m1.total > m0.total ? 100.0 * (m1.busy - m0.busy) / (m1.total - m0.total) : 0;
		printf("| %s | %.0f | %.1f | %.0f%% | %d |\n", kinds[k], R.done / secs,
		       cpu * 1000.0 / R.done, busy, R.failed);
		fflush(stdout);
	}
}

/* ---- memory ---- */

static long meminfo_kb(const char *key)
{
	char *data = file_read_all("/proc/meminfo", NULL), *p;
	long v = -1;

	p = data ? strstr(data, key) : NULL;
	if (p)
		v = atol(p + strlen(key) + 1);
	free(data);
	return v;
}

static long kernel_kb(void)
{
	return meminfo_kb("Slab") + meminfo_kb("KernelStack") + meminfo_kb("PageTables") +
	       meminfo_kb("Shmem");
}

/* Sum of a field of smaps_rollup over the processes of our sandboxes. */
static long sandbox_procs_kb(const char *field, const char *comm)
{
	char cmd[512], line[256];
	long total = 0;
	FILE *f;

	snprintf(cmd, sizeof(cmd),
		 "for p in $(pgrep -x %s); do grep -q %s /proc/$p/cgroup 2>/dev/null && "
		 "grep '^%s:' /proc/$p/smaps_rollup; done 2>/dev/null",
		 comm, H.cgroup_parent, field);
	f = popen(cmd, "r");
	while (f && fgets(line, sizeof(line), f))
		total += atol(line + strlen(field) + 1);
	if (f)
		pclose(f);
	return total;
}

static void bench_memory(const char *const *kinds, unsigned n)
{
	printf("\n### Memory of %u idle stem cells per kind\n\n", n);
	printf("| kind | machine kB per sandbox | kernel kB per sandbox | proxy Pss kB | "
	       "runtime Pss kB |\n|---|---:|---:|---:|---:|\n");
	for (int k = 0; kinds[k]; k++) {
		long used0, used1, kern0, kern1, proxy, runtime = 0;
		char spec[64];

		h_sleep_ms(1500); /* let the last teardown's namespaces go */
		used0 = meminfo_kb("MemTotal") - meminfo_kb("MemAvailable");
		kern0 = kernel_kb();
		snprintf(spec, sizeof(spec), "%s=%u", kinds[k], n);
		H.m = h_manager_new(spec);
		if (!H.m)
			continue;
		(void)h_run_until(pool_has, &n, 120000);
		h_sleep_ms(1000);
		used1 = meminfo_kb("MemTotal") - meminfo_kb("MemAvailable");
		kern1 = kernel_kb();
		proxy = sandbox_procs_kb("Pss", "xwhisk-proxy");
		if (!strncmp(kinds[k], "python", 6))
			runtime = sandbox_procs_kb("Pss", "python3");
		else if (!strncmp(kinds[k], "nodejs", 6))
			runtime = sandbox_procs_kb("Pss", "node");
		printf("| %s | %ld | %ld | %ld | %ld |\n", kinds[k], (used1 - used0) / (long)n,
		       (kern1 - kern0) / (long)n, proxy / (long)n, runtime / (long)n);
		fflush(stdout);
		sandbox_manager_destroy_all(H.m);
		(void)h_run_until(h_all_gone, NULL, 60000);
		sandbox_manager_free(H.m);
		H.m = NULL;
	}
}

int main(int argc, char **argv)
{
	const char *all[] = { "nodejs:20", "python:3", "native", "blackbox", NULL };
	const char *refill_kinds[] = { "native", "python:3", "blackbox", NULL };
	const char *mem_kinds[] = { "native", "python:3", NULL };
	const char *what = argc > 1 ? argv[1] : "all";
	int scale = argc > 2 ? atoi(argv[2]) : 1;
	int err;

	if (scale < 1)
		scale = 1;
	err = h_setup("nodejs:20=0,python:3=0,native=0,blackbox=0");
	if (err) {
		fprintf(stderr, "cannot start a sandbox manager: %s\n", strerror(-err));
		return 1;
	}
	/* Each part makes its own manager. */
	sandbox_manager_free(H.m);
	H.m = NULL;
	if (!strcmp(what, "all") || !strcmp(what, "fresh"))
		bench_fresh(10 * scale);
	if (!strcmp(what, "all") || !strcmp(what, "pool"))
		bench_cold(all, 100 * scale, true);
	if (!strcmp(what, "all") || !strcmp(what, "nopool"))
		bench_cold(all, 20 * scale, false);
	if (!strcmp(what, "all") || !strcmp(what, "refill"))
		bench_refill(refill_kinds, 500 * scale);
	if (!strcmp(what, "all") || !strcmp(what, "memory"))
		bench_memory(mem_kinds, 50);
	h_teardown();
	return 0;
}
