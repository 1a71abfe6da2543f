// SPDX-License-Identifier: Apache-2.0
/*
 * xwhisk-proxy against the OpenWhisk runtime protocol (openwhisk-api.md §6), kind by
 * kind, outside any sandbox: status codes and error texts, logs and sentinels,
 * __OW_* variables, init parameters, zips, promises, exceptions, concurrency.
 */
#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <zip.h>

#include "archive.h"
#include "proxy.h"
#include "test.h"
#include "sandbox_harness.h"

#define NOT_DICT_OR_ARRAY "The action did not return a dictionary or array."

extern char **environ;

struct px {
	pid_t pid;
	int port;
	char dir[64];
	char action[96], out[96], err[96];
};

static struct px X;
static char python[64] = "python3";

static int px_start(const char *kind, const char *const *loop_cmd)
{
	posix_spawn_file_actions_t fa;
	char *argv[16], env_ready[] = "XWHISK_READY_FD=3", buf[128] = "", **env;
	int ready[2], n = 0, envn = 0, err;
	struct pollfd pfd;
	ssize_t got;

	memset(&X, 0, sizeof(X));
	snprintf(X.dir, sizeof(X.dir), "/tmp/xwhisk-pxtest-XXXXXX");
	if (!mkdtemp(X.dir))
		return -errno;
	snprintf(X.action, sizeof(X.action), "%s/action", X.dir);
	snprintf(X.out, sizeof(X.out), "%s/stdout", X.dir);
	snprintf(X.err, sizeof(X.err), "%s/stderr", X.dir);
	mkdir(X.action, 0755);
	argv[n++] = (char *)h_build_path("xwhisk-proxy");
	argv[n++] = "--kind";
	argv[n++] = (char *)kind;
	argv[n++] = "--listen";
	argv[n++] = "127.0.0.1:0";
	argv[n++] = "--action-dir";
	argv[n++] = X.action;
	if (loop_cmd) {
		argv[n++] = "--";
		while (*loop_cmd)
			argv[n++] = (char *)*loop_cmd++;
	}
	argv[n] = NULL;
	while (environ[envn])
		envn++;
	env = calloc((size_t)envn + 2, sizeof(*env));
	memcpy(env, environ, (size_t)envn * sizeof(*env));
	env[envn] = env_ready;
	if (pipe2(ready, O_CLOEXEC))
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, ready[1], 3);
	posix_spawn_file_actions_addopen(&fa, 1, X.out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	posix_spawn_file_actions_addopen(&fa, 2, X.err, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	err = posix_spawn(&X.pid, argv[0], &fa, NULL, argv, env);
	posix_spawn_file_actions_destroy(&fa);
	free(env);
	close(ready[1]);
	if (err) {
		close(ready[0]);
		return -err;
	}
	pfd = (struct pollfd){ .fd = ready[0], .events = POLLIN };
	got = poll(&pfd, 1, 20000) == 1 ? read(ready[0], buf, sizeof(buf) - 1) : -1;
	close(ready[0]);
	if (got <= 0 || sscanf(buf, "READY=1 PORT=%d", &X.port) != 1)
		return -EIO;
	return 0;
}

static void px_stop(void)
{
	char cmd[128];

	if (X.pid > 0) {
		kill(X.pid, SIGTERM);
		waitpid(X.pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", X.dir);
	(void)!system(cmd);
	X.pid = 0;
}

static int px_post(const char *path, const char *json, char **body)
{
	return h_post("127.0.0.1", X.port, path, json, 15000, body);
}

/* Lines of the proxy's stdout or stderr file equal to (or, partial, containing) text. */
static int px_lines(const char *file, const char *text, bool partial)
{
	char *data = file_read_all(file, NULL), *line, *save = NULL;
	int n = 0;

	if (!data)
		return -1;
	for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (partial ? strstr(line, text) != NULL : !strcmp(line, text))
			n++;
	free(data);
	return n;
}

static int sentinels(const char *file)
{
	return px_lines(file, "XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX", false);
}

/* Status of a /run with value, and its body in *body. */
static int run_value(const char *value_json, char **body)
{
	char req[4096];

	snprintf(req, sizeof(req),
		 "{\"value\":%s,\"namespace\":\"guest\",\"action_name\":\"/guest/t\","
		 "\"action_version\":\"0.0.1\","
		 "\"activation_id\":\"0123456789abcdef0123456789abcdef\","
		 "\"transaction_id\":\"tid\",\"deadline\":\"1700000000000\"}",
		 value_json);
	return px_post("/run", req, body);
}

static int init_code(const char *code, bool binary, const char *env, int concurrency, char **body)
{
	char *req = h_init_body(code, binary, env, concurrency);
	int st = px_post("/init", req, body);

	free(req);
	return st;
}

static const char *error_of(const char *body, char *out, size_t len)
{
	char e[128];
	json_t *j = json_parse(body ? body : "", body ? strlen(body) : 0, e, sizeof(e));
	const char *s = json_obj_str(j, "error");

	snprintf(out, len, "%s", s ? s : "");
	json_decref(j);
	return out;
}

struct zip_entry {
	const char *name, *content;
	unsigned mode; /* S_IFREG|0644, S_IFLNK|0777 (content: the target)... */
};

/* The zip of entries (NULL-named last), raw. */
static char *zip_raw(const struct zip_entry *entries, size_t *len)
{
	char path[] = "/tmp/xwhisk-pxzip-XXXXXX";
	int fd = mkstemp(path), err;
	zip_t *za;
	char *data;

	close(fd);
	za = zip_open(path, ZIP_TRUNCATE, &err);
	for (const struct zip_entry *e = entries; za && e->name; e++) {
		zip_source_t *src = zip_source_buffer(za, e->content, strlen(e->content), 0);
		zip_int64_t idx = zip_file_add(za, e->name, src, ZIP_FL_OVERWRITE | ZIP_FL_ENC_RAW);

		zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
						 (zip_uint32_t)e->mode << 16);
	}
	if (!za || zip_close(za))
		return NULL;
	data = file_read_all(path, len);
	unlink(path);
	return data;
}

/* Entries that would land outside the directory are refused, and nothing lands there. */
static void test_unzip_stays_inside(void)
{
	char top[] = "/tmp/xwhisk-pxunzip-XXXXXX", dir[PATH_MAX], outside[PATH_MAX], err[256];
	char cmd[PATH_MAX + 16], file[PATH_MAX + 16];
	const struct zip_entry dotdot[] = { { "a/../../x", "x", S_IFREG | 0644 }, { NULL } };
	const struct zip_entry abs[] = { { "/tmp/x", "x", S_IFREG | 0644 }, { NULL } };
	struct zip_entry through_link[] = { { "l", outside, S_IFLNK | 0777 },
					    { "l/pwned", "x", S_IFREG | 0644 }, { NULL } };
	const struct zip_entry fine[] = { { "d/e.txt", "e", S_IFREG | 0644 },
					  { "link", "d/e.txt", S_IFLNK | 0777 }, { NULL } };
	const struct zip_entry *bad[] = { dotdot, abs, through_link };
	char *z;
	size_t len;

	ASSERT(mkdtemp(top));
	snprintf(dir, sizeof(dir), "%s/action", top);
	snprintf(outside, sizeof(outside), "%s/outside", top);
	ASSERT(!mkdir(dir, 0755) && !mkdir(outside, 0755));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		z = zip_raw(bad[i], &len);
		CHECK(z && archive_unzip(z, len, dir, err, sizeof(err)) < 0);
		free(z);
	}
	snprintf(file, sizeof(file), "%s/pwned", outside);
	CHECK(access(file, F_OK) < 0);
	z = zip_raw(fine, &len);
	CHECK(z && archive_unzip(z, len, dir, err, sizeof(err)) == 0);
	free(z);
	snprintf(file, sizeof(file), "%s/link", dir);
	CHECK(access(file, R_OK) == 0);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", top);
	(void)!system(cmd);
}

/* Compiles one of the C examples into a base64 zip holding it as exec. */
static char *example_zip(const char *rel, bool zip_it)
{
	char cmd[512], bin[] = "/tmp/xwhisk-pxbin-XXXXXX", *data, *out;
	int fd = mkstemp(bin);
	size_t len;

	close(fd);
	snprintf(cmd, sizeof(cmd), "cc -O2 -o %s %s -ljansson", bin, h_build_path(rel));
	if (system(cmd)) {
		unlink(bin);
		return NULL;
	}
	data = file_read_all(bin, &len);
	unlink(bin);
	if (!data)
		return NULL;
	if (zip_it) {
		char *enc = NULL;
		zip_t *za;
		int zerr;
		char zpath[] = "/tmp/xwhisk-pxzip-XXXXXX";

		fd = mkstemp(zpath);
		close(fd);
		za = zip_open(zpath, ZIP_TRUNCATE, &zerr);
		if (za) {
			zip_source_t *src = zip_source_buffer(za, data, len, 0);
			zip_int64_t idx = zip_file_add(za, "exec", src, 0);

			zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
							 (zip_uint32_t)(0100755u << 16));
			if (!zip_close(za)) {
				char *zdata = file_read_all(zpath, &len);

				enc = zdata ? base64_encode(zdata, len) : NULL;
				free(zdata);
			}
		}
		unlink(zpath);
		free(data);
		return enc;
	}
	out = base64_encode(data, len);
	free(data);
	return out;
}

/* ---- concurrent runs ---- */

struct async_run {
	struct http_pool *pool;
	struct h_resp r;
};

static bool all_async_done(void *arg)
{
	struct async_run *runs = arg;

	for (int i = 0; runs[i].pool; i++)
		if (!runs[i].r.done)
			return false;
	return true;
}

/* Fires n /run at once (with headers, or NULL); returns the elapsed ms; statuses in st[],
 * the lines in band in logs[] if given. */
static long run_concurrently_with(int n, const char *value, const char *headers, int *st,
				  json_t **logs)
{
	struct async_run runs[9] = { 0 };
	char req[512];
	uint64_t t0 = clock_mono_ms();

	snprintf(req, sizeof(req), "{\"value\":%s,\"activation_id\":\"c\",\"deadline\":\"%s\"}",
		 value, headers ? "99999999999999" : "1");
	for (int i = 0; i < n && i < 8; i++) {
		runs[i].pool = http_pool_new(H.loop, "127.0.0.1", X.port, 0);
		http_pool_call(runs[i].pool, "POST", "/run", headers, req, strlen(req), 15000,
			       h_http_cb, &runs[i].r);
	}
	(void)h_run_until(all_async_done, runs, 20000);
	for (int i = 0; i < n && i < 8; i++) {
		st[i] = runs[i].r.err ? runs[i].r.err : runs[i].r.status;
		free(runs[i].r.body);
		if (logs)
			logs[i] = runs[i].r.logs;
		else
			json_decref(runs[i].r.logs);
		http_pool_free(runs[i].pool);
	}
	return (long)(clock_mono_ms() - t0);
}

static long run_concurrently(int n, const char *value, int *st)
{
	return run_concurrently_with(n, value, NULL, st, NULL);
}

static int count_status(const int *st, int n, int status)
{
	int c = 0;

	for (int i = 0; i < n; i++)
		c += st[i] == status;
	return c;
}

/* ---- nodejs ---- */

static const char *node_cmd[] = { "node", NULL, NULL };

static void start_node(void)
{
	node_cmd[1] = h_build_path("runtimes/nodejs/loop.js");
	CHECK(px_start("nodejs:20", node_cmd) == 0);
}

static void test_node_source_logs_sentinels(void)
{
	char *b = NULL, e[256];

	start_node();
	ASSERT(X.port > 0);
	CHECK(px_post("/run", "{\"value\":{}}", &b) == 403);
	CHECK(!strcmp(error_of(b, e, sizeof(e)), "System not initialized."));
	free(b);
	CHECK(init_code("function main(a) { console.log('out', a.x); console.error('err', a.x);"
			" return {y: a.x + 1}; }",
			false, NULL, 0, &b) == 200);
	free(b);
	CHECK(run_value("{\"x\":41}", &b) == 200);
	CHECK(h_json_is(b, "{\"y\":42}"));
	free(b);
	CHECK(px_lines(X.out, "out 41", false) == 1);
	CHECK(px_lines(X.err, "err 41", false) == 1);
	CHECK(sentinels(X.out) == 1 && sentinels(X.err) == 1);
	CHECK(px_post("/init", "{\"value\":{\"main\":\"main\",\"code\":\"x\"}}", &b) == 403);
	CHECK(!strcmp(error_of(b, e, sizeof(e)), "Cannot initialize the action more than once."));
	free(b);
	CHECK(px_post("/nothing", "{}", &b) == 500);
	free(b);
	px_stop();
}

/* Bodies the protocol refuses, each with its status, and the proxy still serves. */
static void test_bad_requests(void)
{
	char *b = NULL, *big, e[256];
	size_t n = (48u << 20) + 16;

	start_node();
	ASSERT(X.port > 0);
	CHECK(px_post("/init", "{\"value\":", &b) == 400);
	free(b);
	CHECK(init_code("function main(a) { return a; }", false, NULL, 0, &b) == 200);
	free(b);
	CHECK(px_post("/run", "not json", &b) == 400);
	free(b);
	CHECK(px_post("/run", "{\"value\":5}", &b) == 400);
	CHECK(!strcmp(error_of(b, e, sizeof(e)), MSG_BAD_ARGS));
	free(b);
	big = malloc(n + 1);
	ASSERT(big);
	memset(big, ' ', n);
	big[n] = '\0';
	CHECK(px_post("/run", big, &b) == 413);
	free(b);
	free(big);
	CHECK(run_value("{\"still\":1}", &b) == 200 && h_json_is(b, "{\"still\":1}"));
	free(b);
	px_stop();
	/* a zip that is not base64: a failed init, reported as such */
	start_node();
	ASSERT(X.port > 0);
	CHECK(init_code("!!! not base64 !!!", true, NULL, 0, &b) == 502);
	CHECK(!strcmp(error_of(b, e, sizeof(e)), "The action code is not valid base64."));
	free(b);
	px_stop();
}

static void test_node_missing_code(void)
{
	char *b = NULL, e[256];

	start_node();
	CHECK(px_post("/init", "{\"value\":{\"main\":\"main\"}}", &b) == 403);
	CHECK(!strcmp(error_of(b, e, sizeof(e)), "Missing main/no code to execute."));
	free(b);
	px_stop();
}

static void test_node_env_and_init_params(void)
{
	char *b = NULL;

	start_node();
	CHECK(init_code("function main(a) { const e = process.env; return {a: e.A, b: e.B, c: e.C,"
			" id: e.__OW_ACTIVATION_ID, ns: e.__OW_NAMESPACE, dl: e.__OW_DEADLINE,"
			" name: e.__OW_ACTION_NAME}; }",
			false, "{\"A\":\"x\",\"B\":{\"k\":1},\"C\":null}", 0, &b) == 200);
	free(b);
	CHECK(run_value("{}", &b) == 200);
	CHECK(h_json_is(b, "{\"a\":\"x\",\"b\":\"{\\\"k\\\":1}\",\"c\":\"\","
			 "\"id\":\"0123456789abcdef0123456789abcdef\",\"ns\":\"guest\","
			 "\"dl\":\"1700000000000\",\"name\":\"/guest/t\"}"));
	free(b);
	px_stop();
}

static void test_node_promises(void)
{
	char *b = NULL;
	json_t *j;
	char e[128];

	start_node();
	CHECK(init_code("function main(a) { if (a.reject) return Promise.reject(new Error('nope'));"
			" return new Promise(r => setTimeout(() => r({done: true}), 20)); }",
			false, NULL, 0, &b) == 200);
	free(b);
	CHECK(run_value("{}", &b) == 200);
	CHECK(h_json_is(b, "{\"done\":true}"));
	free(b);
	/* A rejected promise is an application error: 200 with "error". */
	CHECK(run_value("{\"reject\":true}", &b) == 200);
	j = json_parse(b ? b : "", b ? strlen(b) : 0, e, sizeof(e));
	CHECK(!strcmp(json_obj_str(json_object_get(j, "error"), "message") ?: "", "nope"));
	CHECK(!strcmp(json_obj_str(json_object_get(j, "error"), "name") ?: "", "Error"));
	json_decref(j);
	free(b);
	px_stop();
}

static void test_node_exception_stops(void)
{
	char *b = NULL, e[256];

	start_node();
	CHECK(init_code("function main(a) { throw new Error('boom'); }", false, NULL, 0, &b) ==
	      200);
	free(b);
	CHECK(run_value("{}", &b) == 502);
	CHECK(!strcmp(error_of(b, e, sizeof(e)), "An error has occurred: Error: boom"));
	free(b);
	CHECK(sentinels(X.out) == 1 && sentinels(X.err) == 1);
	CHECK(run_value("{}", &b) == 403);
	CHECK(!strcmp(error_of(b, e, sizeof(e)), "System not ready, status is stopped."));
	free(b);
	px_stop();
}

static void test_node_results(void)
{
	char *b = NULL, e[256];

	start_node();
	CHECK(init_code("function main(a) { if (a.n) return 42; if (a.arr) return [1, 2];"
			" if (a.none) return; return {ok: 1}; }",
			false, NULL, 0, &b) == 200);
	free(b);
	CHECK(run_value("{\"n\":1}", &b) == 502);
	CHECK(!strcmp(error_of(b, e, sizeof(e)), "The action did not return a dictionary."));
	free(b);
	CHECK(run_value("{\"arr\":1}", &b) == 200);
	CHECK(h_json_is(b, "[1,2]"));
	free(b);
	CHECK(run_value("{\"none\":1}", &b) == 200);
	CHECK(h_json_is(b, "{}"));
	free(b);
	/* exports.main works as in the reference runtime; array arguments pass through. */
	px_stop();
	start_node();
	CHECK(init_code("exports.main = a => ({len: a.length});", false, NULL, 0, &b) == 200);
	free(b);
	CHECK(run_value("[1,2,3]", &b) == 200);
	CHECK(h_json_is(b, "{\"len\":3}"));
	free(b);
	px_stop();
}

/* The /run body reaches the loop whole in every form: compact (its own text is passed
 * on), spread over lines, with "value" null or absent (re-serialised), with escapes and
 * numbers the parser would otherwise rewrite. */
static void test_node_run_body_forms(void)
{
	char *b = NULL;

	start_node();
	CHECK(init_code("function main(a) { return {got: a, id: process.env.__OW_ACTIVATION_ID}; }",
			false, NULL, 0, &b) == 200);
	free(b);
	CHECK(px_post("/run", "{\"value\":{\"s\":\"a\\nb\\u00e9\",\"x\":1.5e3},"
		      "\"activation_id\":\"one\"}", &b) == 200);
	CHECK(h_json_is(b, "{\"got\":{\"s\":\"a\\nb\\u00e9\",\"x\":1500},\"id\":\"one\"}"));
	free(b);
	CHECK(px_post("/run", "{\n  \"value\": {\"k\": [1,\n 2]},\n  \"activation_id\": \"two\"\n}\n",
		      &b) == 200);
	CHECK(h_json_is(b, "{\"got\":{\"k\":[1,2]},\"id\":\"two\"}"));
	free(b);
	CHECK(px_post("/run", "{\"value\":null,\"activation_id\":\"three\"}", &b) == 200);
	CHECK(h_json_is(b, "{\"got\":{},\"id\":\"three\"}"));
	free(b);
	CHECK(px_post("/run", "{\"activation_id\":\"four\"}", &b) == 200);
	CHECK(h_json_is(b, "{\"got\":{},\"id\":\"four\"}"));
	free(b);
	px_stop();
}

static void test_node_init_failure(void)
{
	char *b = NULL, e[512];

	start_node();
	CHECK(init_code("function main( {", false, NULL, 0, &b) == 502);
	CHECK(!strncmp(error_of(b, e, sizeof(e)), "Initialization has failed due to: SyntaxError",
		       45));
	free(b);
	/* A failed init ends its logs like an activation. */
	CHECK(sentinels(X.out) == 1 && sentinels(X.err) == 1);
	CHECK(run_value("{}", &b) == 403);
	free(b);
	px_stop();
	start_node();
	CHECK(init_code("var x = 1;", false, NULL, 0, &b) == 502);
	CHECK(strstr(error_of(b, e, sizeof(e)), "is not a function") ||
	      strstr(e, "not defined"));
	free(b);
	px_stop();
}

static void test_node_zip(void)
{
	const char *pkg[] = { "package.json", "{\"main\":\"lib/entry.js\"}", "lib/entry.js",
			      "exports.main = a => ({from: 'package.json', x: a.x});", NULL };
	const char *idx[] = { "index.js", "const h = require('./helper');"
					  "exports.main = () => ({from: h.name});",
			      "helper.js", "exports.name = 'index.js';", NULL };
	const char *bad[] = { "other.js", "exports.main = () => ({});", NULL };
	char *z, *b = NULL, e[256];

	start_node();
	z = h_zip_b64(pkg);
	CHECK(z && init_code(z, true, NULL, 0, &b) == 200);
	free(b);
	free(z);
	CHECK(run_value("{\"x\":7}", &b) == 200);
	CHECK(h_json_is(b, "{\"from\":\"package.json\",\"x\":7}"));
	free(b);
	px_stop();
	start_node();
	z = h_zip_b64(idx);
	CHECK(z && init_code(z, true, NULL, 0, &b) == 200);
	free(b);
	free(z);
	CHECK(run_value("{}", &b) == 200);
	CHECK(h_json_is(b, "{\"from\":\"index.js\"}"));
	free(b);
	px_stop();
	start_node();
	z = h_zip_b64(bad);
	CHECK(z && init_code(z, true, NULL, 0, &b) == 502);
	CHECK(strstr(error_of(b, e, sizeof(e)), "package.json or index.js"));
	free(b);
	free(z);
	px_stop();
}

static void test_node_concurrency(void)
{
	const char *code = "function main(a) { return new Promise(r => setTimeout(() => r({ok: 1}),"
			   " 2000)); }";
	char *b = NULL;
	int st[8];
	long ms;

	start_node();
	CHECK(init_code(code, false, NULL, 3, &b) == 200);
	free(b);
	ms = run_concurrently(3, "{}", st);
	CHECK(count_status(st, 3, 200) == 3);
	CHECK(ms < 3500); /* overlapped: one after the other would take 6 s */
	CHECK(sentinels(X.out) == 3);
	px_stop();
	/* The default limit is one: the second at once is refused. */
	start_node();
	CHECK(init_code(code, false, NULL, 0, &b) == 200);
	free(b);
	(void)run_concurrently(2, "{}", st);
	CHECK(count_status(st, 2, 200) == 1 && count_status(st, 2, 429) == 1);
	px_stop();
}

/* ---- python ---- */

static const char *py_cmd[] = { python, NULL, NULL };

static void start_python(void)
{
	py_cmd[1] = h_build_path("runtimes/python/loop.py");
	CHECK(px_start("python:3", py_cmd) == 0);
}

static void test_python_source_env_logs(void)
{
	char *b = NULL, e[256];

	start_python();
	ASSERT(X.port > 0);
	CHECK(px_post("/run", "{\"value\":{}}", &b) == 403);
	free(b);
	CHECK(init_code("import os, sys\n"
			"def main(a):\n"
			"    print('out', a.get('x'))\n"
			"    print('err', a.get('x'), file=sys.stderr)\n"
			"    e = os.environ\n"
			"    return {'y': a.get('x', 0) + 1, 'p': e['P'], 'q': e['Q'],\n"
			"            'id': e['__OW_ACTIVATION_ID'], 'dl': e['__OW_DEADLINE']}\n",
			false, "{\"P\":\"v\",\"Q\":[1]}", 0, &b) == 200);
	free(b);
	CHECK(run_value("{\"x\":1}", &b) == 200);
	CHECK(h_json_is(b, "{\"y\":2,\"p\":\"v\",\"q\":\"[1]\","
			 "\"id\":\"0123456789abcdef0123456789abcdef\",\"dl\":\"1700000000000\"}"));
	free(b);
	CHECK(px_lines(X.out, "out 1", false) == 1 && px_lines(X.err, "err 1", false) == 1);
	CHECK(sentinels(X.out) == 1 && sentinels(X.err) == 1);
	CHECK(px_post("/init", "{\"value\":{\"code\":\"x\"}}", &b) == 403);
	CHECK(!strcmp(error_of(b, e, sizeof(e)), "Cannot initialize the action more than once."));
	free(b);
	px_stop();
}

static void test_python_errors_and_results(void)
{
	char *b = NULL, e[256];

	start_python();
	CHECK(init_code("def main(a):\n"
			"    if a.get('boom'): raise ValueError('bad value')\n"
			"    if a.get('s'): return 'text'\n"
			"    if a.get('l'): return [1, 2]\n"
			"    return {'ok': True}\n",
			false, NULL, 0, &b) == 200);
	free(b);
	/* As the Python runtime: an exception is an application error, traceback logged. */
	CHECK(run_value("{\"boom\":1}", &b) == 200);
	CHECK(h_json_is(b, "{\"error\":\"bad value\"}"));
	free(b);
	CHECK(px_lines(X.err, "ValueError: bad value", false) == 1);
	CHECK(run_value("{\"s\":1}", &b) == 502);
	CHECK(!strcmp(error_of(b, e, sizeof(e)), NOT_DICT_OR_ARRAY));
	free(b);
	CHECK(run_value("{\"l\":1}", &b) == 200);
	CHECK(h_json_is(b, "[1,2]"));
	free(b);
	CHECK(sentinels(X.out) == 3 && sentinels(X.err) == 3);
	px_stop();
	start_python();
	CHECK(init_code("def main(a)\n    return {}\n", false, NULL, 0, &b) == 502);
	CHECK(strstr(error_of(b, e, sizeof(e)), "Initialization has failed due to: SyntaxError"));
	free(b);
	px_stop();
	start_python();
	CHECK(init_code("def other(a):\n    return {}\n", false, NULL, 0, &b) == 502);
	free(b);
	px_stop();
}

static void test_python_zip(void)
{
	const char *files[] = { "__main__.py", "from helper import greet\n"
					       "def main(a):\n    return {'msg': greet(a['n'])}\n",
				"helper.py", "def greet(n):\n    return 'hi ' + n\n", NULL };
	const char *bad[] = { "main.py", "def main(a):\n    return {}\n", NULL };
	char *z = h_zip_b64(files), *b = NULL;

	start_python();
	CHECK(z && init_code(z, true, NULL, 0, &b) == 200);
	free(b);
	free(z);
	CHECK(run_value("{\"n\":\"zip\"}", &b) == 200);
	CHECK(h_json_is(b, "{\"msg\":\"hi zip\"}"));
	free(b);
	px_stop();
	start_python();
	z = h_zip_b64(bad);
	CHECK(z && init_code(z, true, NULL, 0, &b) == 502);
	free(b);
	free(z);
	px_stop();
}

static void test_python_concurrency_serialised(void)
{
	char *b = NULL;
	int st[8];
	long ms;

	start_python();
	CHECK(init_code("import time\ndef main(a):\n    time.sleep(0.2)\n    return {}\n", false,
			NULL, 3, &b) == 200);
	free(b);
	/* Allowed in, run one at a time: the Python loop is sequential. */
	ms = run_concurrently(3, "{}", st);
	CHECK(count_status(st, 3, 200) == 3);
	CHECK(ms >= 580);
	px_stop();
}

/* ---- native (ActionLoop) ---- */

static void test_native_shell_example(void)
{
	char *code = file_read_all(h_build_path("runtimes/examples/native/hello.sh"), NULL);
	char *b = NULL, e[256];

	CHECK(px_start("native", NULL) == 0);
	CHECK(px_post("/run", "{\"value\":{}}", &b) == 500);
	CHECK(!strcmp(error_of(b, e, sizeof(e)), "no action defined yet"));
	free(b);
	CHECK(code && init_code(code, false, NULL, 0, &b) == 200);
	free(b);
	free(code);
	for (int i = 0; i < 3; i++) {
		CHECK(run_value("{\"name\":\"loop\"}", &b) == 200);
		CHECK(h_json_is(b, "{\"greeting\":\"Hello, loop\"}"));
		free(b);
	}
	CHECK(px_lines(X.out, "activation 0123456789abcdef0123456789abcdef", false) == 3);
	CHECK(sentinels(X.out) == 3 && sentinels(X.err) == 3);
	px_stop();
}

static void test_native_c_example(void)
{
	char *elf = example_zip("runtimes/examples/native/hello.c", false);
	char *zip = example_zip("runtimes/examples/native/hello.c", true);
	char *b = NULL;

	ASSERT(elf && zip);
	/* A binary sent as is, then the same in a zip holding exec. */
	for (int i = 0; i < 2; i++) {
		CHECK(px_start("native", NULL) == 0);
		CHECK(init_code(i ? zip : elf, true, NULL, 0, &b) == 200);
		free(b);
		CHECK(run_value("{\"name\":\"C\"}", &b) == 200);
		CHECK(h_json_is(b, "{\"greeting\":\"Hello, C\"}"));
		free(b);
		CHECK(px_lines(X.out, "activation 0123456789abcdef0123456789abcdef", false) == 1);
		px_stop();
	}
	free(elf);
	free(zip);
}

static void test_native_errors(void)
{
	char *b = NULL, e[256];

	CHECK(px_start("native", NULL) == 0);
	CHECK(init_code("#!/bin/sh\nread l\necho not-json >&3\nread l\nexit 0\n", false, NULL, 0,
			&b) == 200);
	free(b);
	CHECK(run_value("{}", &b) == 502);
	CHECK(!strcmp(error_of(b, e, sizeof(e)), NOT_DICT_OR_ARRAY));
	free(b);
	CHECK(run_value("{}", &b) == 400);
	CHECK(!strcmp(error_of(b, e, sizeof(e)), "command exited"));
	free(b);
	CHECK(run_value("{}", &b) == 500);
	free(b);
	px_stop();
	/* Waiting for the ack makes the exit certain to come first: without it, surviving
	 * 5 ms counts as started (OpenWhisk's rule), a race on a loaded machine. */
	setenv("OW_WAIT_FOR_ACK", "1", 1);
	CHECK(px_start("native", NULL) == 0);
	unsetenv("OW_WAIT_FOR_ACK");
	CHECK(init_code("#!/bin/sh\nexit 3\n", false, NULL, 0, &b) == 502);
	CHECK(!strcmp(error_of(b, e, sizeof(e)),
		      "cannot start action: Command exited abruptly during initialization."));
	free(b);
	px_stop();
}

/* ---- blackbox (dockerskeleton) ---- */

static void test_blackbox_shell_example(void)
{
	char *code = file_read_all(h_build_path("runtimes/examples/blackbox/hello.sh"), NULL);
	char *b = NULL, e[256];

	CHECK(px_start("blackbox", NULL) == 0);
	CHECK(px_post("/run", "{\"value\":{}}", &b) == 502);
	CHECK(!strcmp(error_of(b, e, sizeof(e)),
		      "The action failed to locate a binary. See logs for details."));
	free(b);
	CHECK(code && init_code(code, false, NULL, 0, &b) == 200);
	free(b);
	free(code);
	CHECK(run_value("{\"name\":\"box\"}", &b) == 200);
	CHECK(h_json_is(b, "{\"greeting\":\"Hello, box\"}"));
	free(b);
	/* argv[1] carried the arguments as one JSON string; __OW_* came as variables. */
	CHECK(px_lines(X.out, "activation 0123456789abcdef0123456789abcdef, arguments "
			      "{\"name\":\"box\"}", false) == 1);
	CHECK(sentinels(X.out) == 1 && sentinels(X.err) == 1);
	px_stop();
}

/* Created without code (wsk action create x --docker openwhisk/dockerskeleton): the
 * skeleton's own stub answers, as OpenWhisk's image does. */
static void test_blackbox_stub(void)
{
	char *b = NULL, e[256];

	CHECK(px_start("blackbox", NULL) == 0);
	CHECK(init_code("", false, NULL, 0, &b) == 200);
	free(b);
	CHECK(run_value("{}", &b) == 200);
	CHECK(!strcmp(error_of(b, e, sizeof(e)),
		      "This is a stub action. Replace it with custom logic."));
	free(b);
	px_stop();
}

static void test_blackbox_c_zip(void)
{
	char *zip = example_zip("runtimes/examples/blackbox/hello.c", true), *b = NULL;

	ASSERT(zip);
	CHECK(px_start("blackbox", NULL) == 0);
	CHECK(init_code(zip, true, NULL, 0, &b) == 200);
	free(b);
	CHECK(run_value("{\"name\":\"zip\"}", &b) == 200);
	CHECK(h_json_is(b, "{\"greeting\":\"Hello, zip\"}"));
	free(b);
	px_stop();
	free(zip);
}

static void test_blackbox_results(void)
{
	char *b = NULL, e[256];
	int st[8];
	long ms;

	CHECK(px_start("blackbox", NULL) == 0);
	CHECK(init_code("#!/bin/sh\n"
			"read stdin_args\n"
			"echo \"stdin $stdin_args\" >&2\n"
			"case \"$1\" in\n"
			"*bad*) echo 'not json';;\n"
			"*none*) ;;\n"
			"*slow*) sleep 2; echo '{\"slow\":1}';;\n"
			"*) echo first; echo '[\"a\"]';;\n"
			"esac\n",
			false, NULL, 2, &b) == 200);
	free(b);
	CHECK(run_value("{\"k\":1}", &b) == 200);
	CHECK(h_json_is(b, "[\"a\"]"));
	free(b);
	CHECK(px_lines(X.out, "first", false) == 1);
	CHECK(px_lines(X.err, "stdin {\"k\":1}", false) == 1);
	CHECK(run_value("{\"bad\":1}", &b) == 502);
	CHECK(!strcmp(error_of(b, e, sizeof(e)), NOT_DICT_OR_ARRAY));
	free(b);
	CHECK(px_lines(X.out, "not json", false) == 1); /* the unusable line is logged */
	CHECK(run_value("{\"none\":1}", &b) == 200);
	CHECK(h_json_is(b, "{}"));
	free(b);
	ms = run_concurrently(2, "{\"slow\":1}", st);
	/* side by side, not 4 s (the margin is for a loaded machine's process starts) */
	CHECK(count_status(st, 2, 200) == 2 && ms < 3500);
	px_stop();
	CHECK(px_start("blackbox", NULL) == 0);
	CHECK(init_code("UEsDBAo=", true, NULL, 0, &b) == 502);
	free(b);
	px_stop();
}

/* ---- logs in band (X-Xwhisk-Logs, capture.c) ---- */

/* A /run asking for its logs in band (limit bytes), its deadline in_ms from now. */
static int run_inband(const char *value, long long limit, unsigned in_ms, char **body,
		      json_t **logs)
{
	char req[4096], hdr[64];

	snprintf(hdr, sizeof(hdr), ACTLOGS_HEADER ": %lld\r\n", limit);
	snprintf(req, sizeof(req), "{\"value\":%s,\"activation_id\":\"c\",\"deadline\":\"%llu\"}",
		 value, (unsigned long long)(clock_real_ms() + in_ms));
	return h_post_with("127.0.0.1", X.port, "/run", hdr, req, in_ms + 5000, body, logs);
}

/* Lines of logs "<stamp> stream: text" (partial: containing text). */
static int logs_with(const json_t *logs, const char *stream, const char *text, bool partial)
{
	size_t i;
	json_t *l;
	int n = 0;

	json_array_foreach(logs, i, l) {
		const char *s = json_string_value(l);

		if (strlen(s) < 39 || s[30] != ' ' || strncmp(s + 31, stream, 6) || s[37] != ':')
			continue;
		n += partial ? strstr(s + 39, text) != NULL : !strcmp(s + 39, text);
	}
	return n;
}

/* The activation's lines come in its answer, stamped; nothing on the proxy's pipes; a
 * /run that does not ask gets the sentinels as before; the limit cuts with the note. */
static void test_inband_node(void)
{
	char *b = NULL;
	json_t *logs = NULL;

	start_node();
	CHECK(h_post_with("127.0.0.1", X.port, "/init", ACTLOGS_HEADER ": 1000\r\n",
			  "{\"value\":{\"code\":\"console.log('loaded'); function main(a) {"
			  " for (let i = 0; i < a.n; i++) console.log('out', i);"
			  " console.error('err', a.n); return {n: a.n}; }\"}}",
			  15000, &b, &logs) == 200);
	CHECK(json_array_size(logs) == 0); /* a good /init's output is the first run's */
	json_decref(logs);
	free(b);
	CHECK(run_inband("{\"n\":2}", 10000, 10000, &b, &logs) == 200);
	CHECK(h_json_is(b, "{\"n\":2}"));
	CHECK(json_array_size(logs) == 4);
	CHECK(logs_with(logs, "stdout", "loaded", false) == 1);
	CHECK(logs_with(logs, "stdout", "out 1", false) == 1);
	CHECK(logs_with(logs, "stderr", "err 2", false) == 1);
	json_decref(logs);
	free(b);
	CHECK(px_lines(X.out, "out 1", false) == 0 && sentinels(X.out) == 0);
	CHECK(sentinels(X.err) == 0);
	/* Without the header: the protocol of every runtime. */
	CHECK(run_value("{\"n\":1}", &b) == 200);
	free(b);
	CHECK(px_lines(X.out, "out 0", false) == 1 && sentinels(X.out) == 1);
	CHECK(px_lines(X.err, "err 1", false) == 1 && sentinels(X.err) == 1);
	/* 100 bytes hold two lines of 46: the third is cut, and the note says so. */
	CHECK(run_inband("{\"n\":5}", 100, 10000, &b, &logs) == 200);
	CHECK(h_json_is(b, "{\"n\":5}"));
	CHECK(json_array_size(logs) == 3);
	CHECK(logs_with(logs, "stderr", "Logs were truncated because the total bytes size "
			"exceeds the limit of 100 bytes.", false) == 1);
	json_decref(logs);
	free(b);
	/* Limit 0: logs off, none kept, none passed on. */
	CHECK(run_inband("{\"n\":3}", 0, 10000, &b, &logs) == 200);
	CHECK(logs && json_array_size(logs) == 0);
	json_decref(logs);
	free(b);
	CHECK(px_lines(X.out, "out 2", false) == 0);
	px_stop();
}

/* Concurrent runs interleave: every line is in some answer, once. A line longer than
 * LOGPIPE_MAX_LINE comes in pieces. */
static void test_inband_concurrent_and_long(void)
{
	char *b = NULL;
	json_t *logs[3] = { NULL };
	int total = 0, pieces, st[3];

	start_node();
	CHECK(init_code("function main(a) { console.log('x'.repeat(a.len || 1)); return new "
			"Promise(r => setTimeout(() => { console.log('done'); r({}); }, 300)); }",
			false, NULL, 3, &b) == 200);
	free(b);
	(void)run_concurrently_with(3, "{}", ACTLOGS_HEADER ": 10000\r\n", st, logs);
	CHECK(count_status(st, 3, 200) == 3);
	for (int i = 0; i < 3; i++) {
		total += logs_with(logs[i], "stdout", "done", false);
		json_decref(logs[i]);
	}
	CHECK(total == 3);
	CHECK(run_inband("{\"len\":40000}", 1 << 20, 10000, &b, &logs[0]) == 200);
	pieces = logs_with(logs[0], "stdout", "xxxx", true);
	CHECK(pieces == 3); /* 16384 + 16384 + 7232 */
	json_decref(logs[0]);
	free(b);
	CHECK(sentinels(X.out) == 0);
	px_stop();
}

/* Each run's lines are in its own answer, however fast runs follow one another (the
 * proxy reads the log pipes once more when an answer comes: what the runtime wrote before
 * it may not have been read yet). A last line without its newline is the run's too. */
static void expect_own_lines(int runs, int lines)
{
	char *b = NULL, value[32], text[32];
	json_t *logs = NULL;
	int wrong = 0;

	for (int n = 0; n < runs; n++) {
		snprintf(value, sizeof(value), "{\"n\":%d}", n);
		CHECK(run_inband(value, 1 << 20, 10000, &b, &logs) == 200);
		snprintf(text, sizeof(text), "o%d", n);
		wrong += logs_with(logs, "stdout", text, false) != lines;
		snprintf(text, sizeof(text), "e%d", n);
		wrong += logs_with(logs, "stderr", text, false) != 1;
		snprintf(text, sizeof(text), "t%d", n);
		wrong += logs_with(logs, "stdout", text, false) != 1;
		wrong += (int)json_array_size(logs) != lines + 2;
		json_decref(logs);
		logs = NULL;
		free(b);
	}
	CHECK(wrong == 0);
}

static void test_inband_lines_stay_with_their_run(void)
{
	char *b = NULL;

	start_node();
	CHECK(init_code("function main(a) { for (let i = 0; i < 3; i++) console.log('o' + a.n);"
			" console.error('e' + a.n); process.stdout.write('t' + a.n); return {}; }",
			false, NULL, 0, &b) == 200);
	free(b);
	expect_own_lines(300, 3);
	px_stop();
	CHECK(px_start("native", NULL) == 0);
	CHECK(init_code("#!/bin/bash\nwhile read -r line; do n=${line#*\\\"n\\\":}; n=${n%%\\}*};"
			" echo o$n; echo o$n; echo e$n >&2; printf t$n; echo '{}' >&3; done\n",
			false, NULL, 0, &b) == 200);
	free(b);
	expect_own_lines(100, 2);
	px_stop();
}

/* A failed /init, a runtime that dies mid-activation: the answer as before, the lines
 * so far with it. */
static void test_inband_failures(void)
{
	char *b = NULL, e[256];
	json_t *logs = NULL;

	start_node();
	CHECK(h_post_with("127.0.0.1", X.port, "/init", ACTLOGS_HEADER ": 10000\r\n",
			  "{\"value\":{\"code\":\"function main( {\"}}", 15000, &b, &logs) == 502);
	CHECK(logs_with(logs, "stderr", "SyntaxError", true) >= 1);
	CHECK(sentinels(X.err) == 0);
	json_decref(logs);
	free(b);
	px_stop();
	start_node();
	CHECK(init_code("function main(a) { console.log('bye'); process.exit(3); }", false, NULL, 0,
			&b) == 200);
	free(b);
	CHECK(run_inband("{}", 10000, 10000, &b, &logs) == 502);
	CHECK(!strcmp(error_of(b, e, sizeof(e)), MSG_DIED_RUN));
	CHECK(logs_with(logs, "stdout", "bye", false) == 1);
	json_decref(logs);
	free(b);
	px_stop();
}

/* Near its deadline a run's lines go out on the proxy's pipes (the node that gives up
 * kills the sandbox and reads them there); its answer then has none in band. */
static void test_inband_spill_near_deadline(void)
{
	char *b = NULL;
	json_t *logs = NULL;

	start_node();
	CHECK(init_code("function main(a) { console.log('early'); return new Promise(r =>"
			" setTimeout(() => { console.log('late'); r({}); }, 400)); }",
			false, NULL, 0, &b) == 200);
	free(b);
	CHECK(run_inband("{}", 10000, 200, &b, &logs) == 200);
	CHECK(logs == NULL);
	CHECK(px_lines(X.out, "early", false) == 1 && px_lines(X.out, "late", false) == 1);
	CHECK(sentinels(X.out) == 1);
	json_decref(logs);
	free(b);
	px_stop();
}

/* The blackbox's stdout lines (but the result) and stderr, in band. */
static void test_inband_blackbox(void)
{
	char *b = NULL;
	json_t *logs = NULL;

	CHECK(px_start("blackbox", NULL) == 0);
	CHECK(init_code("#!/bin/sh\necho one\necho two >&2\necho '{\"r\":1}'\n", false, NULL, 0,
			&b) == 200);
	free(b);
	CHECK(run_inband("{}", 10000, 10000, &b, &logs) == 200);
	CHECK(h_json_is(b, "{\"r\":1}"));
	CHECK(logs_with(logs, "stdout", "one", false) == 1);
	CHECK(logs_with(logs, "stderr", "two", false) == 1);
	CHECK(json_array_size(logs) == 2);
	json_decref(logs);
	free(b);
	CHECK(px_lines(X.out, "one", false) == 0);
	px_stop();
}

/* ---- the run port ---- */

/* A loop of /bin/sh that answers its init with run_port set to what the shell expression
 * port_expr gives ($offered: the proxy's offer); the port the proxy's /init answer names,
 * 0 for none, and the proxy's own port. */
static long long init_answer_run_port(const char *port_expr, int *proxy_port)
{
	const char *cmd[] = { "/bin/sh", "-c", NULL, NULL };
	char script[512];
	struct h_resp r;
	long long named;

	snprintf(script, sizeof(script),
		 "printf '{\"ok\":true,\"concurrent\":false}\\n' >&3; read -r l; "
		 "offered=$(printf %%s \"$l\" | sed -n 's/.*\"run_port\": *\\([0-9]*\\).*/\\1/p'); "
		 "printf '{\"ok\":true,\"run_port\":%%s}\\n' %s >&3; exec cat >/dev/null",
		 port_expr);
	cmd[2] = script;
	CHECK(px_start("nodejs:20", cmd) == 0);
	*proxy_port = X.port;
	CHECK(h_post_resp("127.0.0.1", X.port, "/init", ACTLOGS_HEADER ": 1000\r\n",
			  "{\"value\":{\"code\":\"x\",\"main\":\"main\"}}", 15000, &r) == 200);
	named = r.run_port;
	free(r.body);
	json_decref(r.logs);
	px_stop();
	return named;
}

/* The action's code runs in the loop and can make it say any port: only the one offered,
 * which the sandbox's tc program lets answers leave from, is passed on. */
static void test_run_port_only_the_offered(void)
{
	int port;

	CHECK(init_answer_run_port("\"$offered\"", &port) == port + XW_SANDBOX_RUN_PORT_OFFSET);
	CHECK(init_answer_run_port("22", &port) == 0);
	CHECK(init_answer_run_port("$((offered + 1))", &port) == 0);
}

int main(void)
{
	if (!access("/usr/bin/python3", X_OK))
		snprintf(python, sizeof(python), "/usr/bin/python3");
	log_init("test");
	signal(SIGPIPE, SIG_IGN);
	H.loop = loop_new();
	RUN(test_unzip_stays_inside);
	RUN(test_node_source_logs_sentinels);
	RUN(test_node_missing_code);
	RUN(test_bad_requests);
	RUN(test_node_env_and_init_params);
	RUN(test_node_promises);
	RUN(test_node_exception_stops);
	RUN(test_node_results);
	RUN(test_node_run_body_forms);
	RUN(test_node_init_failure);
	RUN(test_node_zip);
	RUN(test_node_concurrency);
	RUN(test_python_source_env_logs);
	RUN(test_python_errors_and_results);
	RUN(test_python_zip);
	RUN(test_python_concurrency_serialised);
	RUN(test_native_shell_example);
	RUN(test_native_c_example);
	RUN(test_native_errors);
	RUN(test_blackbox_shell_example);
	RUN(test_blackbox_stub);
	RUN(test_blackbox_c_zip);
	RUN(test_blackbox_results);
	RUN(test_inband_node);
	RUN(test_inband_concurrent_and_long);
	RUN(test_inband_lines_stay_with_their_run);
	RUN(test_inband_failures);
	RUN(test_inband_spill_near_deadline);
	RUN(test_inband_blackbox);
	RUN(test_run_port_only_the_offered);
	loop_free(H.loop);
	TEST_EXIT();
}
