/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Shared by the test_sandbox_*.c and test_proxy_*.c programs: a sandbox manager on its
 * own bridge, subnet, state directory and cgroup parent (so tests never touch a
 * running node's), blocking HTTP calls on the event loop, and log collection.
 */
#ifndef XWHISK_TEST_SANDBOX_HARNESS_H
#define XWHISK_TEST_SANDBOX_HARNESS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <zip.h>

#include "actlogs.h"
#include "buf.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "pinned_maps.h"
#include "sandbox.h"
#include "sandbox_net.h"
#include "util.h"

#define H_MAX_LOGS 4096
#ifndef H_MAX_STARTING
#define H_MAX_STARTING 4
#endif
/* Each test program uses a different part of the harness. */
#define H_FUNC static __attribute__((unused))

struct h_log {
	struct sandbox *sb;
	int stream;
	bool sentinel;
	char *line;
};

struct harness {
	struct loop *loop;
	struct sandbox_manager *m;
	char state_dir[PATH_MAX];
	char bridge[16];
	char subnet[32];
	char cgroup_parent[64];
	char pin_dir[64];     /* sandbox_tc's maps and links, private to the test */
	unsigned ingress_port; /* what sandboxes may reach on the bridge address */
	struct h_log logs[H_MAX_LOGS];
	int nlogs;
	/* the last death seen by the exited callback */
	struct sandbox *dead;
	enum sandbox_exit_reason dead_reason;
	int dead_status;
	int deaths;
};

static struct harness H;

H_FUNC const char *h_build_path(const char *rel)
{
	static char path[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(path[i], sizeof(path[i]), "%s/../%s", exe_dir(), rel);
	return path[i];
}

H_FUNC void h_on_exit(struct sandbox *sb, enum sandbox_exit_reason reason, int status, void *data)
{
	(void)data;
	H.dead = sb;
	H.dead_reason = reason;
	H.dead_status = status;
	H.deaths++;
}

H_FUNC void h_on_log(struct sandbox *sb, enum sandbox_stream stream, const char *line, size_t len,
		     uint64_t ts, bool sentinel, void *data)
{
	(void)ts;
	(void)data;
	if (H.nlogs >= H_MAX_LOGS)
		return;
	H.logs[H.nlogs].sb = sb;
	H.logs[H.nlogs].stream = stream;
	H.logs[H.nlogs].sentinel = sentinel;
	H.logs[H.nlogs].line = strndup(line, len);
	H.nlogs++;
}

H_FUNC void h_logs_reset(void)
{
	for (int i = 0; i < H.nlogs; i++)
		free(H.logs[i].line);
	H.nlogs = 0;
}

/* Counts log lines of sb on stream containing needle (sentinels when needle is NULL). */
H_FUNC int h_logs_count(struct sandbox *sb, int stream, const char *needle)
{
	int n = 0;

	for (int i = 0; i < H.nlogs; i++)
		if (H.logs[i].sb == sb && (!stream || H.logs[i].stream == stream) &&
		    (needle ? strstr(H.logs[i].line, needle) != NULL : H.logs[i].sentinel))
			n++;
	return n;
}

static const struct sandbox_callbacks h_callbacks = {
	.exited = h_on_exit,
	.log = h_on_log,
};

/* ---- running the loop until something happens ---- */

struct h_wait {
	bool (*done)(void *arg);
	void *arg;
	bool timed_out;
	struct loop_timer *check, *limit;
};

H_FUNC void h_check(struct loop *loop, void *data)
{
	struct h_wait *w = data;

	w->check = NULL;
	if (w->done(w->arg)) {
		loop_stop(loop);
		return;
	}
	/* Tests may poll; the code under test does not. */
	w->check = loop_timer_add(loop, 2, h_check, w);
}

H_FUNC void h_limit(struct loop *loop, void *data)
{
	struct h_wait *w = data;

	w->limit = NULL;
	w->timed_out = true;
	loop_stop(loop);
}

/* Runs the loop until done(arg) holds; false on timeout. */
H_FUNC bool h_run_until(bool (*done)(void *arg), void *arg, unsigned timeout_ms)
{
	struct h_wait w = { .done = done, .arg = arg };

	if (done(arg))
		return true;
	w.check = loop_timer_add(H.loop, 1, h_check, &w);
	w.limit = loop_timer_add(H.loop, timeout_ms, h_limit, &w);
	loop_run(H.loop);
	if (w.check)
		loop_timer_cancel(H.loop, w.check);
	if (w.limit)
		loop_timer_cancel(H.loop, w.limit);
	return !w.timed_out && done(arg);
}

H_FUNC void h_stop_loop(struct loop *loop, void *data)
{
	(void)data;
	loop_stop(loop);
}

/* One turn of the loop: every timer already due runs (they all run in the same turn),
 * nothing that waits on a child does unless it is already there. */
H_FUNC void h_run_due_timers(void)
{
	(void)loop_timer_add(H.loop, 0, h_stop_loop, NULL);
	loop_run(H.loop);
}

H_FUNC bool h_flag_set(void *arg)
{
	return *(volatile bool *)arg;
}

H_FUNC void h_sleep_ms(unsigned ms)
{
	bool never = false;

	(void)h_run_until(h_flag_set, &never, ms);
}

/* ---- acquiring ---- */

struct h_acq {
	struct sandbox *sb;
	int err;
	bool done;
};

H_FUNC void h_acq_cb(struct sandbox *sb, int err, void *data)
{
	struct h_acq *a = data;

	a->sb = sb;
	a->err = err;
	a->done = true;
}

H_FUNC struct sandbox *h_acquire(const char *kind, unsigned memory_mb, int *err)
{
	struct h_acq a = { 0 };

	if (!sandbox_acquire(H.m, kind, memory_mb, h_acq_cb, &a)) {
		*err = -errno;
		return NULL;
	}
	if (!h_run_until(h_flag_set, &a.done, 30000)) {
		*err = -ETIMEDOUT;
		return NULL;
	}
	*err = a.err;
	return a.sb;
}

/* ---- HTTP ---- */

struct h_resp {
	bool done;
	int err;
	int status;
	char *body;
	json_t *logs;       /* the lines in band, if the answer had them */
	long long run_port; /* its XW_RUN_PORT_HEADER, 0: none */
};

H_FUNC void h_http_cb(struct http_response *resp, int err, void *data)
{
	struct h_resp *r = data;
	size_t skip = 0;

	r->done = true;
	r->err = err;
	if (!err) {
		r->status = resp->status;
		r->logs = actlogs_from_answer(resp, SIZE_MAX, &skip);
		r->run_port = actlogs_header_value(
			http_header_get(resp->headers, resp->nheaders, XW_RUN_PORT_HEADER));
		if (r->run_port < 0)
			r->run_port = 0;
		r->body = strndup(resp->body.data ? resp->body.data + skip : "",
				  resp->body.len - skip);
	}
}

/* A blocking POST with more headers ("Name: value\r\n"...) into r; returns the status
 * (or a negative errno). */
H_FUNC int h_post_resp(const char *ip, int port, const char *path, const char *headers,
		       const char *json, unsigned timeout_ms, struct h_resp *r)
{
	struct http_pool *pool = http_pool_new(H.loop, ip, port, 0);
	char hdrs[256];

	memset(r, 0, sizeof(*r));
	if (!pool)
		return -ENOMEM;
	snprintf(hdrs, sizeof(hdrs), "Content-Type: application/json\r\n%s", headers);
	if (!http_pool_call(pool, "POST", path, hdrs, json, strlen(json), timeout_ms, h_http_cb,
			    r)) {
		http_pool_free(pool);
		return -EIO;
	}
	(void)h_run_until(h_flag_set, &r->done, timeout_ms + 1000);
	http_pool_free(pool);
	if (!r->done)
		return -ETIMEDOUT;
	return r->err ? r->err : r->status;
}

/* The same; *body is malloc'd, *logs the lines in band (NULL: none) if logs. */
H_FUNC int h_post_with(const char *ip, int port, const char *path, const char *headers,
		       const char *json, unsigned timeout_ms, char **body, json_t **logs)
{
	struct h_resp r;
	int status = h_post_resp(ip, port, path, headers, json, timeout_ms, &r);

	*body = r.body;
	if (logs)
		*logs = r.logs;
	else
		json_decref(r.logs);
	return status;
}

/* A blocking POST; returns the status (or a negative errno); *body is malloc'd. */
H_FUNC int h_post(const char *ip, int port, const char *path, const char *json, unsigned timeout_ms,
		  char **body)
{
	return h_post_with(ip, port, path, "", json, timeout_ms, body, NULL);
}

H_FUNC int h_sb_post(struct sandbox *sb, const char *path, const char *json, char **body)
{
	return h_post(sandbox_ip(sb), sandbox_port(sb), path, json, 20000, body);
}

/* A zip from name/content pairs (NULL-terminated), base64-encoded; every entry
 * executable (an ActionLoop archive's "exec" must be). */
H_FUNC char *h_zip_b64(const char *const *files)
{
	char path[] = "/tmp/xwhisk-pxzip-XXXXXX";
	int fd = mkstemp(path), err;
	zip_t *za;
	char *data, *b64;
	size_t len;

	close(fd);
	za = zip_open(path, ZIP_TRUNCATE, &err);
	for (int i = 0; za && files[i]; i += 2) {
		const char *content = files[i + 1];
		zip_source_t *src = zip_source_buffer(za, content, strlen(content), 0);
		zip_int64_t idx = zip_file_add(za, files[i], src, ZIP_FL_OVERWRITE);

		zip_file_set_external_attributes(za, (zip_uint64_t)idx, 0, ZIP_OPSYS_UNIX,
						 (zip_uint32_t)(0100755u << 16));
	}
	if (!za || zip_close(za))
		return NULL;
	data = file_read_all(path, &len);
	unlink(path);
	b64 = data ? base64_encode(data, len) : NULL;
	free(data);
	return b64;
}

/* body parses to the same JSON as expected (says what it got when not). */
H_FUNC bool h_json_is(const char *body, const char *expected)
{
	char e[128];
	json_t *a = json_parse(body ? body : "", body ? strlen(body) : 0, e, sizeof(e));
	json_t *b = json_parse(expected, strlen(expected), e, sizeof(e));
	bool eq = a && b && json_equal(a, b);

	if (!eq)
		fprintf(stderr, "  got %s, expected %s\n", body ? body : "(null)", expected);
	json_decref(a);
	json_decref(b);
	return eq;
}

/* A JSON string holding text (for /init code). */
H_FUNC char *h_json_str(const char *text)
{
	json_t *s = json_string(text);
	char *out = s ? json_dump(s) : NULL;

	json_decref(s);
	return out;
}

/* {"value":{"main":"main","code":CODE,"binary":BIN[,"env":ENV]}[,"concurrency":N]} */
H_FUNC char *h_init_body(const char *code, bool binary, const char *env_json, int concurrency)
{
	json_t *v = json_pack("{s:s, s:s, s:b}", "main", "main", "code", code, "binary", binary);
	json_t *b;
	char *out;

	if (env_json)
		json_object_set_new(v, "env", json_loads(env_json, 0, NULL));
	b = json_pack("{s:o}", "value", v);
	if (concurrency)
		json_object_set_new(b, "concurrency", json_integer(concurrency));
	out = json_dump(b);
	json_decref(b);
	return out;
}

/* ---- set-up and tear-down ---- */

H_FUNC bool h_all_gone(void *arg)
{
	struct sandbox_stats st;

	(void)arg;
	sandbox_manager_stats(H.m, &st);
	return !st.live && !st.pooled && !st.starting && !st.dying;
}

H_FUNC struct sandbox_manager *h_manager_new(const char *prewarm)
{
	struct sandbox_config cfg = {
		.state_dir = H.state_dir,
		.runtimes = h_build_path("runtimes/runtimes.json"),
		.proxy = h_build_path("xwhisk-proxy"),
		.bridge = H.bridge,
		.subnet = H.subnet,
		.prewarm = prewarm,
		.cgroup_parent = H.cgroup_parent,
		.api_host = "http://169.254.32.1:3233",
		.max_starting = H_MAX_STARTING,
		.bpf_pin_dir = H.pin_dir,
		.ingress_port = H.ingress_port,
	};

	return sandbox_manager_new(H.loop, &cfg, &h_callbacks, NULL);
}

/*
 * A janitor outlives a crashed test: it waits for our end (its stdin closes) and
 * removes whatever is left of ours, since sandboxes by design survive their manager.
 */
H_FUNC void h_start_janitor(void)
{
	char script[2048];
	int fds[2];
	pid_t pid;

	snprintf(script, sizeof(script),
		 "read _; p=%s; "
		 "dirs=\"/sys/fs/cgroup/*/$p /sys/fs/cgroup/*/*/*/$p /sys/fs/cgroup/unified/$p\"; "
		 "for d in $dirs; do "
		 "  [ -d \"$d\" ] || continue; "
		 "  cat \"$d\"/*/cgroup.procs 2>/dev/null | xargs -r kill -9 2>/dev/null; "
		 "done; sleep 0.3; "
		 "for d in $dirs; do "
		 "  [ -d \"$d\" ] && find \"$d\" -depth -type d -exec rmdir {} + 2>/dev/null; "
		 "done; "
		 /* The bridges of tests that start a second manager end like ours. */
		 "for b in %s xwf%d xwu%d; do ip link del $b 2>/dev/null; done; rm -rf %s* %s",
		 H.cgroup_parent, H.bridge, (int)getpid(), (int)getpid(), H.state_dir, H.pin_dir);
	if (pipe(fds))
		return;
	pid = fork();
	if (pid == 0) {
		dup2(fds[0], 0);
		close(fds[0]);
		close(fds[1]);
		setsid();
		execl("/bin/sh", "sh", "-c", script, (char *)NULL);
		_exit(127);
	}
	close(fds[0]);
	/* Kept open (close-on-exec) until we end, however we end. */
	(void)fcntl(fds[1], F_SETFD, FD_CLOEXEC);
}

H_FUNC int h_setup(const char *prewarm)
{
	int id = (int)getpid();

	log_init("test");
	if (!getenv("XWHISK_LOG_LEVEL"))
		log_set_level(LOG_LEVEL_WARN);
	signal(SIGPIPE, SIG_IGN);
	/* Sandboxes that outlive a test process (adoption tests) come back to us. */
	(void)prctl(PR_SET_CHILD_SUBREAPER, 1);
	snprintf(H.state_dir, sizeof(H.state_dir), "/tmp/xwhisk-test-%d", id);
	snprintf(H.bridge, sizeof(H.bridge), "xwt%d", id);
	/* Link-local like the default, below 169.254.169.254 and apart per process. */
	snprintf(H.subnet, sizeof(H.subnet), "169.254.%d.0/24", 64 + id % 64);
	snprintf(H.cgroup_parent, sizeof(H.cgroup_parent), "xwhisk-test-%d", id);
	snprintf(H.pin_dir, sizeof(H.pin_dir), "/sys/fs/bpf/xwhisk-test-sb-%d", id);
	H.ingress_port = 20000 + (unsigned)id % 20000;
	h_start_janitor();
	H.loop = loop_new();
	if (!H.loop)
		return -ENOMEM;
	H.m = h_manager_new(prewarm);
	return H.m ? 0 : -errno;
}

/* Removes our cgroup parent from every hierarchy we are in (it is made under our own). */
H_FUNC void h_rmdir_cgroup_parents(void)
{
	char *data = file_read_all("/proc/self/cgroup", NULL), *line, *save = NULL;

	for (line = data ? strtok_r(data, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		char *c1 = strchr(line, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
		char path[PATH_MAX], *ctrl, *csave = NULL;

		if (!c2)
			continue;
		*c2 = '\0';
		if (!c1[1]) { /* the unified hierarchy */
			snprintf(path, sizeof(path), "/sys/fs/cgroup/unified%s/%s", c2 + 1,
				 H.cgroup_parent);
			(void)rmdir(path);
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s/%s", c2 + 1,
				 H.cgroup_parent);
			(void)rmdir(path);
			continue;
		}
		for (ctrl = strtok_r(c1 + 1, ",", &csave); ctrl;
		     ctrl = strtok_r(NULL, ",", &csave)) {
			snprintf(path, sizeof(path), "/sys/fs/cgroup/%s%s/%s", ctrl,
				 strcmp(c2 + 1, "/") ? c2 + 1 : "", H.cgroup_parent);
			(void)rmdir(path);
		}
	}
	free(data);
}

/*
 * A file of the memory cgroup pid is in: v1_file under cgroup v1, v2_file under v2
 * (caller frees; NULL if it cannot be read).
 */
H_FUNC char *h_memcg_read(pid_t pid, const char *v1_file, const char *v2_file)
{
	char path[512], *cg = NULL, *data, *line, *save = NULL, *v = NULL;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", (int)pid);
	data = file_read_all(path, NULL);
	for (line = data ? strtok_r(data, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save)) {
		if (strstr(line, ":memory:"))
			cg = strstr(line, ":memory:") + 8;
		else if (!strncmp(line, "0::", 3) && !cg)
			cg = line + 3;
	}
	if (cg) {
		snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/%s", cg, v1_file);
		v = file_read_all(path, NULL);
		if (!v) {
			snprintf(path, sizeof(path), "/sys/fs/cgroup%s/%s", cg, v2_file);
			v = file_read_all(path, NULL);
		}
	}
	free(data);
	return v;
}

H_FUNC void h_teardown(void)
{
	char cmd[256];

	if (H.m) {
		sandbox_manager_destroy_all(H.m);
		if (!h_run_until(h_all_gone, NULL, 20000))
			fprintf(stderr, "teardown: sandboxes still dying\n");
		sandbox_manager_free(H.m);
		H.m = NULL;
	}
	h_logs_reset();
	(void)xw_maps_unpin(H.pin_dir);
	snprintf(cmd, sizeof(cmd), "ip link del %s 2>/dev/null; rm -rf %s", H.bridge, H.state_dir);
	(void)!system(cmd);
	h_rmdir_cgroup_parents();
	loop_free(H.loop);
	H.loop = NULL;
}

#endif
