// SPDX-License-Identifier: Apache-2.0
/*
 * Every kind in a real sandbox, through the manager: stem cells and cold starts,
 * source and zip code, logs with sentinels through the log callback, __OW_* and init
 * parameters, the memory limit asked for, concurrency > 1.
 */
#include <zip.h>

#include "test.h"
#include "sandbox_harness.h"
#include "kinds.h"

static const char *RUN_BODY = "{\"value\":{\"name\":\"sb\",\"x\":1},\"namespace\":\"guest\","
			      "\"action_name\":\"/guest/a\",\"activation_id\":\"feedfacefeedface\","
			      "\"transaction_id\":\"t\",\"deadline\":\"1700000000000\"}";

/* Both streams ended the activation, as a node collecting logs waits for. */
static bool sentinels_in(struct sandbox *sb, int n)
{
	return h_logs_count(sb, SANDBOX_STDOUT, NULL) >= n &&
	       h_logs_count(sb, SANDBOX_STDERR, NULL) >= n;
}

struct sentinel_wait {
	struct sandbox *sb;
	int n;
};

static bool sentinels_done(void *arg)
{
	struct sentinel_wait *w = arg;

	return sentinels_in(w->sb, w->n);
}

static bool wait_sentinels(struct sandbox *sb, int n)
{
	struct sentinel_wait w = { sb, n };

	return h_run_until(sentinels_done, &w, 5000);
}

static int init_sb(struct sandbox *sb, const char *code, bool binary, const char *env, int conc)
{
	char *req = h_init_body(code, binary, env, conc), *b = NULL;
	int st = h_sb_post(sb, "/init", req, &b);

	if (st != 200)
		fprintf(stderr, "  init: %d %s\n", st, b ? b : "");
	free(b);
	free(req);
	return st;
}

static long memory_limit_mb(pid_t pid)
{
	char *v = h_memcg_read(pid, "memory.limit_in_bytes", "memory.max");
	long mb = v ? (long)(atoll(v) >> 20) : -1;

	free(v);
	return mb;
}

static void test_nodejs_stem_cell(void)
{
	struct sandbox_stats before, after;
	struct sandbox *sb;
	char *b = NULL;
	int err;

	sandbox_manager_stats(H.m, &before);
	sb = h_acquire("nodejs:20", 192, &err);
	ASSERT(sb && !err);
	sandbox_manager_stats(H.m, &after);
	CHECK(after.pool_hits == before.pool_hits + 1);
	CHECK(memory_limit_mb(sandbox_pid(sb)) == 192);
	CHECK(sandbox_memory_mb(sb) == 192);
	CHECK(init_sb(sb, "function main(a) { console.log('hello', a.name);"
			  " console.error('warn', process.env.__OW_ACTIVATION_ID);"
			  " return {api: process.env.__OW_API_HOST, p: process.env.P, dl: typeof"
			  " process.env.__OW_DEADLINE}; }",
		      false, "{\"P\":\"param\"}", 0) == 200);
	CHECK(h_sb_post(sb, "/run", RUN_BODY, &b) == 200);
	CHECK(h_json_is(b, "{\"api\":\"http://169.254.32.1:3233\",\"p\":\"param\","
			   "\"dl\":\"string\"}"));
	free(b);
	CHECK(wait_sentinels(sb, 1));
	CHECK(h_logs_count(sb, SANDBOX_STDOUT, "hello sb") == 1);
	CHECK(h_logs_count(sb, SANDBOX_STDERR, "warn feedfacefeedface") == 1);
	sandbox_destroy(sb);
	h_logs_reset();
}

static void test_nodejs_zip_concurrency(void)
{
	const char *files[] = { "package.json", "{\"main\":\"main.js\"}", "main.js",
				"exports.main = a => new Promise(r => setTimeout(() => "
				"r({n: a.name}), 2000));",
				NULL };
	char *z = h_zip_b64(files), *b[3] = { NULL };
	struct sandbox *sb;
	uint64_t t0;
	int err, st[3];

	sb = h_acquire("nodejs:20", 256, &err);
	ASSERT(sb && z);
	CHECK(init_sb(sb, z, true, NULL, 3) == 200);
	free(z);
	/* Three runs at once on one sandbox (concurrency 3) overlap. */
	{
		struct http_pool *pool[3];
		struct h_resp r[3] = { 0 };
		bool all = false;

		t0 = clock_mono_ms();
		for (int i = 0; i < 3; i++) {
			pool[i] = http_pool_new(H.loop, sandbox_ip(sb), sandbox_port(sb), 0);
			http_pool_call(pool[i], "POST", "/run", NULL, RUN_BODY, strlen(RUN_BODY),
				       5000, h_http_cb, &r[i]);
		}
		while (!all) {
			all = r[0].done && r[1].done && r[2].done;
			if (!all)
				h_sleep_ms(5);
			if (clock_mono_ms() - t0 > 6000)
				break;
		}
		for (int i = 0; i < 3; i++) {
			st[i] = r[i].status;
			b[i] = r[i].body;
			http_pool_free(pool[i]);
		}
	}
	CHECK(clock_mono_ms() - t0 < 3500); /* one after the other would take 6 s */
	for (int i = 0; i < 3; i++) {
		CHECK(st[i] == 200 && h_json_is(b[i], "{\"n\":\"sb\"}"));
		free(b[i]);
	}
	CHECK(wait_sentinels(sb, 3));
	sandbox_destroy(sb);
	h_logs_reset();
}

/* A zygote without the seccomp filter on its fd 4 forks no loop: it stops at once. */
static void test_python_zygote_needs_filter(void)
{
	char cmd[PATH_MAX + 128];
	const char *out;

	snprintf(cmd, sizeof(cmd),
		 "timeout 20 python3 %s --zygote 3</dev/null 4<&- 2>&1; echo \"exit $?\"",
		 h_build_path("runtimes/python/loop.py"));
	out = test_run_cmd(cmd);
	ASSERT(out);
	CHECK(strstr(out, "no seccomp filter on fd 4") != NULL);
	CHECK(strstr(out, "exit 1") != NULL);
}

/*
 * Once its zygote is up, a kind's loops are forked from it: the loop's parent is then the
 * zygote, outside the sandbox's PID namespace (getppid() is 0), not the proxy (1). The
 * first stem cells may predate the zygote, so a few sandboxes are tried.
 */
static void test_python_zygote_source_and_zip(void)
{
	const char *files[] = { "__main__.py", "import os, util\ndef main(a):\n"
					       "    return {'v': util.VALUE, 'name': a['name'], "
					       "'ppid': os.getppid()}\n",
				"util.py", "VALUE = 42\n", NULL };
	char *z = h_zip_b64(files), *b = NULL;
	struct sandbox *sb;
	bool from_zygote = false;
	int err;

	sb = h_acquire("python:3", 256, &err);
	ASSERT(sb && z);
	CHECK(init_sb(sb, "import os\ndef main(a):\n    print('py', a['name'])\n"
			  "    e = os.environ\n"
			  "    return {'id': e['__OW_ACTIVATION_ID'], 'k': e['K']}\n",
		      false, "{\"K\":\"init\"}", 0) == 200);
	CHECK(h_sb_post(sb, "/run", RUN_BODY, &b) == 200);
	CHECK(h_json_is(b, "{\"id\":\"feedfacefeedface\",\"k\":\"init\"}"));
	free(b);
	CHECK(wait_sentinels(sb, 1) && h_logs_count(sb, SANDBOX_STDOUT, "py sb") == 1);
	sandbox_destroy(sb);
	for (int i = 0; i < 5 && !from_zygote; i++) {
		sb = h_acquire("python:3", 256, &err);
		ASSERT(sb);
		CHECK(init_sb(sb, "import os\ndef main(a):\n    return {'ppid': os.getppid()}\n",
			      false, NULL, 0) == 200);
		CHECK(h_sb_post(sb, "/run", RUN_BODY, &b) == 200);
		from_zygote = h_json_is(b, "{\"ppid\":0}");
		free(b);
		sandbox_destroy(sb);
	}
	CHECK(from_zygote);
	/* the zygote is up: this one comes from it too */
	sb = h_acquire("python:3", 256, &err);
	ASSERT(sb);
	CHECK(init_sb(sb, z, true, NULL, 0) == 200);
	CHECK(h_sb_post(sb, "/run", RUN_BODY, &b) == 200);
	CHECK(h_json_is(b, "{\"v\":42,\"name\":\"sb\",\"ppid\":0}"));
	free(b);
	sandbox_destroy(sb);
	free(z);
	h_logs_reset();
}

static void test_native_cold_start(void)
{
	char *code = file_read_all(h_build_path("runtimes/examples/native/hello.sh"), NULL);
	char *b = NULL;
	struct sandbox_stats before, after;
	struct sandbox *sb;
	int err;

	sandbox_manager_stats(H.m, &before);
	sb = h_acquire("native", 128, &err); /* no stem cells for it: a cold start */
	ASSERT(sb && !err && code);
	sandbox_manager_stats(H.m, &after);
	CHECK(after.pool_misses == before.pool_misses + 1);
	CHECK(init_sb(sb, code, false, NULL, 0) == 200);
	for (int i = 0; i < 3; i++) {
		CHECK(h_sb_post(sb, "/run", RUN_BODY, &b) == 200);
		CHECK(h_json_is(b, "{\"greeting\":\"Hello, sb\"}"));
		free(b);
	}
	CHECK(wait_sentinels(sb, 3));
	CHECK(h_logs_count(sb, SANDBOX_STDOUT, "activation feedfacefeedface") == 3);
	sandbox_destroy(sb);
	free(code);
	h_logs_reset();
}

static void test_blackbox_skeleton(void)
{
	char *code = file_read_all(h_build_path("runtimes/examples/blackbox/hello.sh"), NULL);
	char *b = NULL;
	struct sandbox *sb;
	int err;

	sb = h_acquire("openwhisk/dockerskeleton", 128, &err); /* the image names the kind */
	ASSERT(sb && !err && code);
	CHECK(!strcmp(sandbox_kind(sb), "blackbox"));
	CHECK(init_sb(sb, code, false, NULL, 0) == 200);
	CHECK(h_sb_post(sb, "/run", RUN_BODY, &b) == 200);
	CHECK(h_json_is(b, "{\"greeting\":\"Hello, sb\"}"));
	free(b);
	CHECK(wait_sentinels(sb, 1));
	CHECK(h_logs_count(sb, SANDBOX_STDOUT, "activation feedfacefeedface, arguments") == 1);
	sandbox_destroy(sb);
	free(code);
	h_logs_reset();
}

/*
 * An operator's own implementation of a kind: any server speaking /init and /run on
 * port 8080 (here a few lines of Node.js, no xwhisk-proxy), found ready by a TCP probe.
 */
static const char FOREIGN_SERVER[] =
	"const http = require('http'); let fn;"
	"http.createServer((req, res) => { let body = '';"
	"  req.on('data', d => body += d); req.on('end', () => {"
	"    const msg = JSON.parse(body || '{}'); let out = {ok: true};"
	"    if (req.url === '/init') fn = eval(msg.value.code);"
	"    else { out = fn(msg.value); console.log('foreign says hi');"
	"      console.log('XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX');"
	"      console.error('XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX'); }"
	"    res.writeHead(200, {'Content-Type': 'application/json'});"
	"    res.end(JSON.stringify(out)); }); }).listen(8080);";

/* A second manager with a runtimes manifest of its own (runtimes_json) in place of H.m,
 * on its own bridge and subnet (one manager per bridge). */
struct other_manager {
	struct sandbox_manager *saved;
	char manifest[PATH_MAX], state[PATH_MAX], bridge[16];
};

static bool other_manager_start(struct other_manager *o, const char *runtimes_json)
{
	struct sandbox_config cfg = { 0 };
	char subnet[32];
	int id = (int)getpid();

	snprintf(o->manifest, sizeof(o->manifest), "%s-other.json", H.state_dir);
	if (file_write_atomic(o->manifest, runtimes_json, strlen(runtimes_json), 0644))
		return false;
	snprintf(o->bridge, sizeof(o->bridge), "xwf%d", id);
	snprintf(subnet, sizeof(subnet), "169.254.%d.%d/29", 128 + id % 32, 8 * (id % 31));
	snprintf(o->state, sizeof(o->state), "%s-other", H.state_dir);
	cfg.state_dir = o->state;
	cfg.runtimes = o->manifest;
	cfg.proxy = h_build_path("xwhisk-proxy");
	cfg.bridge = o->bridge;
	cfg.subnet = subnet;
	cfg.cgroup_parent = H.cgroup_parent;
	o->saved = H.m;
	H.m = sandbox_manager_new(H.loop, &cfg, &h_callbacks, NULL);
	if (!H.m)
		H.m = o->saved;
	return H.m != o->saved;
}

static void other_manager_stop(struct other_manager *o)
{
	char cmd[64];

	sandbox_manager_destroy_all(H.m);
	(void)h_run_until(h_all_gone, NULL, 10000);
	sandbox_manager_free(H.m);
	H.m = o->saved;
	snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null", o->bridge);
	(void)!system(cmd);
	unlink(o->manifest);
	rmdir(o->state);
	h_logs_reset();
}

static void test_foreign_runtime(void)
{
	struct other_manager o;
	char *server, *text, *b = NULL;
	struct sandbox *sb;
	int err;

	server = h_json_str(FOREIGN_SERVER);
	/* foreign:2 names a writable working directory, as an official image needs */
	if (asprintf(&text, "{\"runtimes\":{\"foreign\":["
			    "{\"kind\":\"foreign:1\",\"sandbox\":"
			    "{\"command\":[\"node\",\"-e\",%s],\"memory\":128}},"
			    "{\"kind\":\"foreign:2\",\"sandbox\":"
			    "{\"command\":[\"node\",\"-e\",%s],\"memory\":128,"
			    "\"workdir\":\"/action\"}}]}}",
		     server, server) < 0)
		text = NULL;
	free(server);
	ASSERT(text && other_manager_start(&o, text));
	free(text);
	sb = h_acquire("foreign:1", 128, &err);
	CHECK(sb && !err);
	if (sb) {
		CHECK(init_sb(sb, "(a) => ({foreign: a.name})", false, NULL, 0) == 200);
		CHECK(h_sb_post(sb, "/run", RUN_BODY, &b) == 200);
		CHECK(h_json_is(b, "{\"foreign\":\"sb\"}"));
		free(b);
		CHECK(wait_sentinels(sb, 1));
		CHECK(h_logs_count(sb, SANDBOX_STDOUT, "foreign says hi") == 1);
	}
	for (int k = 1; k <= 2; k++) {
		sb = h_acquire(k == 1 ? "foreign:1" : "foreign:2", 128, &err);
		CHECK(sb && !err);
		if (!sb)
			continue;
		CHECK(init_sb(sb, "(a) => { let wrote = true; try { require('fs')"
			      ".writeFileSync('probe', 'x'); } catch (e) { wrote = false; }"
			      " return {cwd: process.cwd(), wrote}; }", false, NULL, 0) == 200);
		CHECK(h_sb_post(sb, "/run", RUN_BODY, &b) == 200);
		CHECK(h_json_is(b, k == 1 ? "{\"cwd\":\"/\",\"wrote\":false}" :
					    "{\"cwd\":\"/action\",\"wrote\":true}"));
		free(b);
	}
	other_manager_stop(&o);
}

/* A workdir that is not an absolute path: the manifest is refused as a whole. */
static void test_workdir_must_be_absolute(void)
{
	static const char *const bad[] = { "action", "" };
	char path[] = "/tmp/xwhisk-manifest-XXXXXX";
	struct manifest m;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int fd = mkstemp(path);
		FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;

		ASSERT(f);
		fprintf(f, "{\"runtimes\":{\"x\":[{\"kind\":\"x:1\",\"sandbox\":"
			   "{\"command\":[\"true\"],\"workdir\":\"%s\"}}]}}", bad[i]);
		fclose(f);
		CHECK(manifest_load(&m, path, "proxy", "runtimes") == -EINVAL);
		manifest_free(&m);
		unlink(path);
		memcpy(path + sizeof(path) - 7, "XXXXXX", 6);
	}
}

/* Counts the requests that failed (a sandbox handed out would be a wrong answer). */
static void acq_count_cb(struct sandbox *sb, int err, void *data)
{
	if (err && !sb)
		(*(int *)data)++;
	if (sb)
		sandbox_destroy(sb);
}

static bool failed_three_times(void *arg)
{
	struct sandbox_stats st;

	sandbox_manager_stats(H.m, &st);
	return st.failed >= 3;
}

static bool all_answered(void *arg)
{
	return *(int *)arg == 4;
}

/*
 * A kind whose sandboxes never start: its stem cell is retried when each back-off ends
 * (not only at the next acquire), and once it is known to fail, requests fail (during a
 * back-off at once, else with one trial start for all) instead of costing a start each.
 */
static void test_failing_kind(void)
{
	struct other_manager o;
	struct sandbox_stats st;
	uint64_t failed;
	int answered = 0;

	ASSERT(other_manager_start(&o, "{\"runtimes\":{\"broken\":[{\"kind\":\"broken:1\","
					"\"sandbox\":{\"command\":[\"/bin/false\"],"
					"\"stemCells\":1,\"memory\":128}}]}}"));
	/* no activity: only the back-off brings the retries */
	CHECK(h_run_until(failed_three_times, NULL, 10000));
	sandbox_manager_stats(H.m, &st);
	failed = st.failed;
	for (int i = 0; i < 4; i++)
		CHECK(sandbox_acquire(H.m, "broken:1", 128, acq_count_cb, &answered));
	CHECK(h_run_until(all_answered, &answered, 10000));
	sandbox_manager_stats(H.m, &st);
	/* one trial start for the four (and at most one back-off retry meanwhile) */
	CHECK(st.failed - failed <= 2);
	other_manager_stop(&o);
}

static void test_unknown_kind(void)
{
	errno = 0;
	CHECK(!sandbox_acquire(H.m, "cobol:85", 128, h_acq_cb, NULL) && errno == ENOENT);
	CHECK(sandbox_manager_has_kind(H.m, "python:3"));
	CHECK(!sandbox_manager_has_kind(H.m, "cobol:85"));
	/* wsk --docker openwhisk/dockerskeleton:nightly names a tag */
	CHECK(sandbox_manager_has_kind(H.m, "openwhisk/dockerskeleton:nightly"));
	CHECK(sandbox_manager_has_kind(H.m, "openwhisk/dockerskeleton"));
	CHECK(!sandbox_manager_has_kind(H.m, "openwhisk/dockerskeletons"));
}

static bool pool_full(void *arg)
{
	struct sandbox_stats st;

	(void)arg;
	sandbox_manager_stats(H.m, &st);
	return st.pooled >= 3 && !st.starting;
}

int main(void)
{
	int err = h_setup("nodejs:20=1,python:3=1,native=0,blackbox=1");

	if (err) {
		printf("not ok - setup: %s\n", strerror(-err));
		return 1;
	}
	(void)h_run_until(pool_full, NULL, 20000);
	RUN(test_nodejs_stem_cell);
	RUN(test_nodejs_zip_concurrency);
	RUN(test_python_zygote_needs_filter);
	RUN(test_python_zygote_source_and_zip);
	RUN(test_native_cold_start);
	RUN(test_blackbox_skeleton);
	RUN(test_foreign_runtime);
	RUN(test_workdir_must_be_absolute);
	RUN(test_failing_kind);
	RUN(test_unknown_kind);
	h_teardown();
	TEST_EXIT();
}
