// SPDX-License-Identifier: Apache-2.0
/* The protocol part every mode shares: routes, checks, status codes, sentinels. */
#include <errno.h>
#include <poll.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture.h"
#include "json.h"
#include "log.h"
#include "proxy.h"
#include "util.h"

/* The nodejs runtime's body limit; exec code alone may reach 48 MB. */
#define MAX_BODY (48u << 20)
#define MAX_CONCURRENCY 1000

int write_file(const char *path, const void *data, size_t len, unsigned mode)
{
	char dir[PATH_MAX], *slash;
	int fd, err = 0;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (slash && slash != dir) {
		*slash = '\0';
		err = mkdir_p(dir, 0755);
		if (err)
			return err;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t n = write(fd, data, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		data = (const char *)data + n;
		len -= (size_t)n;
	}
	if (!err && fchmod(fd, mode) < 0)
		err = -errno;
	close(fd);
	return err;
}

/* All of it, even on a descriptor a child made non-blocking (Node.js does that to the
 * stdout it shares with us): a lost or torn sentinel would shift every later
 * activation's logs. */
static void write_fully(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EAGAIN) {
			struct pollfd pfd = { .fd = fd, .events = POLLOUT };

			(void)poll(&pfd, 1, 1000);
		} else if (!(n < 0 && errno == EINTR)) {
			return;
		}
	}
}

void proxy_write_sentinels(void)
{
	static const char line[] = ACTIVATION_SENTINEL "\n";

	/* Straight to the fds: nothing of ours is buffered in stdio. */
	write_fully(STDOUT_FILENO, line, sizeof(line) - 1);
	write_fully(STDERR_FILENO, line, sizeof(line) - 1);
}

long proxy_oom_count(int fd)
{
	char buf[512];
	const char *k;
	ssize_t n;

	if (fd < 0)
		return 0;
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	k = strstr(buf, "oom_kill ");
	return k ? strtol(k + 9, NULL, 10) : 0;
}

bool proxy_oom_happened(struct proxy *p)
{
	return p->oom_fd >= 0 && proxy_oom_count(p->oom_fd) > p->oom_base;
}

char **proxy_env_with(struct proxy *p, char *const *extra)
{
	size_t n = 0, m = 0;
	char **env;

	while (p->child_env && p->child_env[n])
		n++;
	while (extra && extra[m])
		m++;
	env = calloc(n + m + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n + m; i++) {
		env[i] = strdup(i < n ? p->child_env[i] : extra[i - n]);
		if (!env[i]) {
			strv_free(env);
			return NULL;
		}
	}
	return env;
}

/* Our environment without the sandbox manager's XWHISK_* variables, plus init params. */
static char **child_env_build(json_t *params)
{
	extern char **environ;
	size_t n = 0, i = 0;
	const char *key;
	json_t *v;
	char **env;

	while (environ[n])
		n++;
	env = calloc(n + json_object_size(params) + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t j = 0; j < n; j++) {
		const char *eq = strchr(environ[j], '=');

		if (!strncmp(environ[j], "XWHISK_", 7))
			continue;
		/* An init parameter wins over an inherited variable of the same name. */
		if (eq && json_object_getn(params, environ[j], (size_t)(eq - environ[j])))
			continue;
		env[i++] = strdup(environ[j]);
	}
	json_object_foreach(params, key, v)
		if (asprintf(&env[i++], "%s=%s", key, json_string_value(v)) < 0)
			env[--i] = NULL;
	for (size_t j = 0; j < i; j++)
		if (!env[j]) {
			strv_free(env);
			return NULL;
		}
	return env;
}

/* Init parameters are strings: others are JSON-encoded, null becomes "". */
static json_t *stringify_env(json_t *env)
{
	json_t *out = json_object();
	const char *key;
	json_t *v;

	if (!out)
		return NULL;
	json_object_foreach(env, key, v) {
		json_t *s;

		if (json_is_string(v)) {
			s = json_incref(v);
		} else if (json_is_null(v)) {
			s = json_string("");
		} else {
			char *dump = json_dump(v);

			s = dump ? json_string(dump) : NULL;
			free(dump);
		}
		if (!s || json_object_set_new(out, key, s)) {
			json_decref(out);
			return NULL;
		}
	}
	return out;
}

/* A request refused before anything ran. */
static void send_error(struct proxy *p, struct http_request *req, int status, const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *body = o ? json_dump(o) : NULL;

	if (status == 429)
		http_resp_header(req, "Retry-After", "1");
	if (body)
		capture_refused(p, req, status, body, strlen(body));
	else
		capture_refused(p, req, 500, "{}", 2);
	free(body);
	json_decref(o);
}

void proxy_ready(struct proxy *p)
{
	char msg[64];
	int n;

	if (p->ready_fd < 0)
		return;
	n = snprintf(msg, sizeof(msg), "READY=1 PORT=%d\n", http_server_port(p->http));
	(void)!write(p->ready_fd, msg, (size_t)n);
	close(p->ready_fd);
	p->ready_fd = -1;
}

void proxy_init_done(struct proxy *p, struct http_request *req, int status, const char *json)
{
	if (status == 200)
		p->state = PROXY_READY;
	else
		proxy_stop(p, NULL); /* a failed init leaves nothing to run */
	capture_init_done(p, req, status, json);
}

void proxy_init_error(struct proxy *p, struct http_request *req, int status, const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *body = o ? json_dump(o) : NULL;

	proxy_init_done(p, req, status, body ? body : "{\"error\":\"internal error\"}");
	free(body);
	json_decref(o);
}

void proxy_stop(struct proxy *p, const char *reason)
{
	p->state = PROXY_STOPPED;
	p->stop_reason = reason;
}

static void run_start(struct proxy_run *run)
{
	run->p->running++;
	run->p->ops->run(run->p, run);
}

void proxy_run_done(struct proxy_run *run, int status, const char *json, size_t len)
{
	struct proxy *p = run->p;

	capture_run_done(run, status, json, len);
	p->inflight--;
	p->running--;
	json_decref(run->body);
	free(run);
	if (p->serial && !p->running && p->queue) {
		struct proxy_run *next = p->queue;

		p->queue = next->next;
		if (!p->queue)
			p->queue_tail = NULL;
		run_start(next);
	}
}

void proxy_run_error(struct proxy_run *run, int status, const char *msg)
{
	json_t *o = json_pack("{s:s}", "error", msg);
	char *body = o ? json_dump(o) : NULL;

	if (body)
		proxy_run_done(run, status, body, strlen(body));
	else
		proxy_run_done(run, 500, "{}", 2);
	free(body);
	json_decref(o);
}

static void handle_init(struct proxy *p, struct http_request *req)
{
	const struct proxy_ops *ops = p->ops;
	struct init_args args = { 0 };
	json_t *body = NULL, *value, *conc, *env = NULL;
	char errbuf[160], *decoded = NULL;
	const char *code, *main_name;
	size_t dlen = 0, code_len;

	if (p->state != PROXY_NEW) {
		pr_warn("%s", MSG_REINIT);
		send_error(p, req, 403, MSG_REINIT);
		return;
	}
	body = json_parse(req->body.data ? req->body.data : "", req->body.len, errbuf,
			  sizeof(errbuf));
	if (!json_is_object(body)) {
		send_error(p, req, 400, "Bad request.");
		goto out;
	}
	value = json_object_get(body, "value");
	code = json_obj_str(value, "code");
	/* The code's own length: a "\u0000" in it (the API accepts one) must not cut it. */
	code_len = json_string_length(json_object_get(value, "code"));
	main_name = json_obj_str(value, "main");
	if ((!code || !*code) && !ops->code_optional) {
		send_error(p, req, 403, MSG_NO_CODE);
		goto out;
	}
	if (!code)
		code = "";
	/* An xwhisk extension, ignored by the reference runtimes: runs allowed at once. */
	conc = json_object_get(body, "concurrency");
	p->concurrency = 1;
	if (json_is_integer(conc) && json_integer_value(conc) > 1)
		p->concurrency = json_integer_value(conc) > MAX_CONCURRENCY ?
					 MAX_CONCURRENCY : (unsigned)json_integer_value(conc);
	env = stringify_env(json_object_get(value, "env"));
	p->child_env = env ? child_env_build(env) : NULL;
	if (!env || !p->child_env) {
		send_error(p, req, 500, "Out of memory.");
		goto out;
	}
	capture_init_begin(p, req); /* every way on from here answers with proxy_init_done */
	args.main = main_name && *main_name ? main_name : "main";
	args.binary = json_is_true(json_object_get(value, "binary"));
	args.env = env;
	if (args.binary) {
		decoded = base64_decode(code, code_len, &dlen);
		if (!decoded) {
			p->state = PROXY_INITIALIZING;
			proxy_init_error(p, req, 502, "The action code is not valid base64.");
			goto out;
		}
		args.code = decoded;
		args.code_len = dlen;
	} else {
		args.code = code;
		args.code_len = code_len;
	}
	p->state = PROXY_INITIALIZING;
	ops->init(p, req, &args);
out:
	free(decoded);
	json_decref(env);
	json_decref(body);
}

static void handle_run(struct proxy *p, struct http_request *req)
{
	char errbuf[160], msg[160];
	struct proxy_run *run;
	json_t *body, *value;

	if (p->state != PROXY_READY) {
		if (p->state == PROXY_STOPPED && p->stop_reason)
			send_error(p, req, 403, p->stop_reason);
		else
			send_error(p, req, p->ops->not_initialized_status,
				   p->ops->not_initialized_error);
		return;
	}
	/* Refused before the body is parsed: the router retries elsewhere at once. */
	if (p->inflight >= p->concurrency) {
		snprintf(msg, sizeof(msg),
			 "Too many concurrent requests in flight (count: %u, allowed: %u).",
			 p->inflight, p->concurrency);
		send_error(p, req, 429, msg);
		return;
	}
	body = json_parse(req->body.data ? req->body.data : "", req->body.len, errbuf,
			  sizeof(errbuf));
	if (!json_is_object(body)) {
		json_decref(body);
		send_error(p, req, 400, "Bad request.");
		return;
	}
	value = json_object_get(body, "value");
	if (!value || json_is_null(value)) {
		json_object_set_new(body, "value", json_object());
		value = NULL; /* the text no longer says what body holds */
	} else if (!json_is_object(value) && !json_is_array(value)) {
		json_decref(body);
		send_error(p, req, 400, MSG_BAD_ARGS);
		return;
	}
	run = calloc(1, sizeof(*run));
	if (!run) {
		json_decref(body);
		send_error(p, req, 500, "Out of memory.");
		return;
	}
	run->p = p;
	run->req = req;
	run->body = body;
	if (value && !memchr(req->body.data, '\n', req->body.len)) {
		run->raw = req->body.data;
		run->raw_len = req->body.len;
	}
	run->id = ++p->next_id;
	p->inflight++;
	capture_run_begin(run);
	if (p->serial && p->running) {
		if (p->queue_tail)
			p->queue_tail->next = run;
		else
			p->queue = run;
		p->queue_tail = run;
		return;
	}
	run_start(run);
}

static void on_request(struct http_request *req, void *data)
{
	struct proxy *p = data;

	if (req->error_status) {
		send_error(p, req, req->error_status,
			   req->error_msg ? req->error_msg : "Bad request.");
		return;
	}
	if (req->method == HTTP_POST && !strcmp(req->path, "/init"))
		handle_init(p, req);
	else if (req->method == HTTP_POST && !strcmp(req->path, "/run"))
		handle_run(p, req);
	else
		send_error(p, req, 500, "Bad request."); /* as the nodejs runtime answers */
}

int proxy_serve(struct proxy *p)
{
	struct http_server_opts opts = {
		.max_body = MAX_BODY,
		.max_pipeline = 1024, /* concurrent runs may share one connection */
	};

	p->http = http_server_new(p->loop, &opts, on_request, p);
	if (!p->http)
		return -ENOMEM;
	/* No address: only connections handed over with http_server_adopt (the fuzz target,
	 * for which a listening socket per input was a fifth of the time). */
	return p->listen ? http_server_listen(p->http, p->listen, false) : 0;
}
