// SPDX-License-Identifier: Apache-2.0
/*
 * Kind "blackbox" with OpenWhisk's dockerskeleton contract (what `wsk action create
 * --native` makes; apache/openwhisk-runtime-docker core/actionProxy): /init stores the
 * executable <action dir>/exec (the code itself, or a zip holding exec); each /run
 * starts it with the arguments as one JSON string in argv[1] (when under
 * MAX_ARG_STRLEN) and on stdin, the other /run fields as __OW_* variables. Its stderr
 * and every stdout line but the last are the logs; the last stdout line is the result
 * (a JSON object or array; no output at all means {}).
 *
 * A streaming web action (__OW_WEB_STREAM=true at /init, an xwhisk extension) runs as the
 * native kind's does: its executable is an HTTP server on $PORT (mode_native.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "actlogs.h"
#include "archive.h"
#include "capture.h"
#include "buf.h"
#include "children.h"
#include "json.h"
#include "proxy.h"
#include "util.h"

#define MAX_ARG_STRLEN 131071
#define READ_CHUNK 65536

struct bb_run {
	struct proxy_run *run;
	struct loop *loop;
	pid_t pid;
	int status;
	bool exited;
	int in_fd, out_fd;
	struct buf input;   /* the arguments, still to be written to its stdin */
	struct buf partial; /* an unfinished stdout line */
	char *held;         /* the latest complete line: the result if nothing follows */
};

static void bb_unwatch(struct bb_run *r, int *fd)
{
	if (*fd >= 0) {
		loop_del_fd(r->loop, *fd);
		close(*fd);
		*fd = -1;
	}
}

/* Everything but the last line is the action's stdout, its log. */
static void emit(struct proxy *p, const char *line)
{
	capture_line(p, ACTLOGS_STDOUT, line, strlen(line));
}

static void hold(struct bb_run *r, char *line)
{
	if (r->held) {
		emit(r->run->p, r->held);
		free(r->held);
	}
	r->held = line;
}

static void bb_finish(struct bb_run *r)
{
	struct proxy_run *run = r->run;
	struct proxy *p = run->p;
	char errbuf[160], *last = r->held ? str_trim_dup(r->held) : NULL;
	json_t *v = last && *last ? json_parse(last, strlen(last), errbuf, sizeof(errbuf)) : NULL;

	bb_unwatch(r, &r->in_fd);
	if (WIFSIGNALED(r->status) && WTERMSIG(r->status) == SIGKILL && proxy_oom_happened(p)) {
		if (last && *last)
			emit(p, last);
		proxy_run_error(run, 502, MSG_OOM);
	} else if (!last || !*last) {
		proxy_run_done(run, 200, "{}", 2);
	} else if (json_is_object(v) || json_is_array(v)) {
		char *body = json_dump(v);

		if (body)
			proxy_run_done(run, 200, body, strlen(body));
		else
			proxy_run_error(run, 500, "Out of memory.");
		free(body);
	} else {
		emit(p, last); /* the skeleton logs the line it could not use */
		proxy_run_error(run, 502, MSG_NOT_DICT_OR_ARRAY);
	}
	json_decref(v);
	free(last);
	free(r->held);
	buf_free(&r->input);
	buf_free(&r->partial);
	free(r);
}

static void on_stdout(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct bb_run *r = data;
	char chunk[READ_CHUNK];

	(void)loop;
	(void)events;
	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));
		char *p = chunk, *nl;

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n <= 0) {
			if (r->partial.len)
				hold(r, buf_steal(&r->partial));
			bb_unwatch(r, &r->out_fd);
			if (r->exited)
				bb_finish(r);
			return;
		}
		while ((nl = memchr(p, '\n', (size_t)(chunk + n - p)))) {
			buf_append(&r->partial, p, (size_t)(nl - p));
			hold(r, buf_steal(&r->partial));
			p = nl + 1;
		}
		buf_append(&r->partial, p, (size_t)(chunk + n - p));
	}
}

static void on_stdin(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct bb_run *r = data;

	(void)loop;
	while (buf_pending(&r->input) && !(events & (EPOLLERR | EPOLLHUP))) {
		ssize_t n = write(fd, buf_head(&r->input), buf_pending(&r->input));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n < 0)
			break;
		buf_consume(&r->input, (size_t)n);
	}
	bb_unwatch(r, &r->in_fd); /* all written (or it stopped reading): EOF for it */
}

static void on_exit_status(pid_t pid, int status, void *data)
{
	struct bb_run *r = data;

	(void)pid;
	r->exited = true;
	r->status = status;
	if (r->out_fd < 0)
		bb_finish(r);
}

static int bb_start(struct proxy *p)
{
	p->serial = false;
	proxy_ready(p);
	return 0;
}

static void bb_init(struct proxy *p, struct http_request *req, const struct init_args *a)
{
	static const char failed[] =
		"The action failed to generate or locate a binary. See logs for details.";
	/* The dockerskeleton image's own /action/exec, for an action created without code. */
	static const char stub[] = "#!/bin/sh\necho '{ \"error\": \"This is a stub action. "
				   "Replace it with custom logic.\" }'\n";
	char exec[PATH_MAX], err[256];
	struct stat st;

	/* A streaming web action's executable is an HTTP server on $PORT, as with native:
	 * that mode takes the sandbox over. */
	if (!strcmp(json_string_value(json_object_get(a->env, "__OW_WEB_STREAM")) ?: "", "true")) {
		p->ops = &proxy_native_ops;
		if (p->ops->start(p))
			proxy_init_error(p, req, 502, failed);
		else
			p->ops->init(p, req, a);
		return;
	}
	snprintf(exec, sizeof(exec), "%s/exec", p->action_dir);
	if (a->binary) {
		if (!archive_is_zip(a->code, a->code_len) ||
		    archive_unzip(a->code, a->code_len, p->action_dir, err, sizeof(err))) {
			fprintf(stderr, "err %s\n", archive_is_zip(a->code, a->code_len) ?
							    err : "not a zip file");
			proxy_init_error(p, req, 502, failed);
			return;
		}
	} else if (!a->code_len ? write_file(exec, stub, sizeof(stub) - 1, 0755)
				: write_file(exec, a->code, a->code_len, 0755)) {
		proxy_init_error(p, req, 502, failed);
		return;
	}
	if (stat(exec, &st) || !S_ISREG(st.st_mode) || access(exec, X_OK)) {
		proxy_init_error(p, req, 502, failed);
		return;
	}
	proxy_init_done(p, req, 200, "{\"ok\":true}");
}

/* The other /run fields as __OW_<KEY> variables. */
static char **run_env(struct proxy *p, json_t *body)
{
	char **extra = calloc(json_object_size(body) + 1, sizeof(*extra)), **env;
	const char *key;
	size_t n = 0;
	json_t *v;

	if (!extra)
		return NULL;
	json_object_foreach(body, key, v) {
		char *s;

		if (!strcmp(key, "value") || !json_is_string(v))
			continue;
		if (asprintf(&s, "__OW_%s=%s", key, json_string_value(v)) < 0)
			continue;
		for (char *c = s + 5; *c && *c != '='; c++)
			if (*c >= 'a' && *c <= 'z')
				*c = (char)(*c - 'a' + 'A');
		extra[n++] = s;
	}
	env = proxy_env_with(p, extra);
	strv_free(extra);
	return env;
}

static void bb_run(struct proxy *p, struct proxy_run *run)
{
	struct bb_run *r = calloc(1, sizeof(*r));
	char exec[PATH_MAX], *args = json_dump(json_object_get(run->body, "value"));
	char *argv[] = { exec, NULL, NULL };
	int in[2] = { -1, -1 }, out[2] = { -1, -1 }, fds[4] = { -1, -1, -1, -1 };
	char **env = run_env(p, run->body);
	pid_t pid;
	int err = -ENOMEM;

	if (!r || !args || !env)
		goto out;
	r->run = run;
	r->loop = p->loop;
	r->in_fd = r->out_fd = -1;
	snprintf(exec, sizeof(exec), "%s/exec", p->action_dir);
	if (strlen(args) <= MAX_ARG_STRLEN)
		argv[1] = args;
	if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC)) {
		err = -errno;
		goto out;
	}
	fds[0] = in[0];
	fds[1] = out[1];
	err = child_spawn(argv, env, p->action_dir, fds, &pid);
	close(in[0]);
	close(out[1]);
	in[0] = out[1] = -1;
	if (err)
		goto out;
	r->pid = pid;
	r->in_fd = in[1];
	r->out_fd = out[0];
	in[1] = out[0] = -1;
	buf_puts(&r->input, args);
	(void)fcntl(r->in_fd, F_SETFL, O_NONBLOCK);
	(void)fcntl(r->out_fd, F_SETFL, O_NONBLOCK);
	err = child_watch(pid, on_exit_status, r);
	if (!err)
		err = loop_add_fd(p->loop, r->out_fd, EPOLLIN, on_stdout, r);
	if (!err)
		err = loop_add_fd(p->loop, r->in_fd, EPOLLOUT, on_stdin, r);
	if (err) {
		/* Watched or not, it must not run unobserved. */
		(void)kill(pid, SIGKILL);
		child_forget(pid);
		bb_unwatch(r, &r->in_fd);
		bb_unwatch(r, &r->out_fd);
		goto out;
	}
	r = NULL;
out:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (out[i] >= 0)
			close(out[i]);
	}
	strv_free(env);
	free(args);
	if (r) {
		buf_free(&r->input);
		free(r);
	}
	if (err)
		proxy_run_error(run, 502, MSG_NO_BINARY);
}

const struct proxy_ops proxy_blackbox_ops = {
	.name = "blackbox",
	.start = bb_start,
	.code_optional = true,
	.init = bb_init,
	.run = bb_run,
	.not_initialized_status = 502,
	.not_initialized_error = MSG_NO_BINARY,
};
