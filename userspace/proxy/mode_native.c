// SPDX-License-Identifier: Apache-2.0
/*
 * Kind "native": OpenWhisk's ActionLoop protocol (apache/openwhisk-runtime-go). /init
 * stores the executable as <action dir>/exec (a script, an ELF binary, or a zip holding
 * exec) and starts it once; each /run writes the request body as one line to its stdin
 * and reads one line from its fd 3, so one long-lived process serves every activation.
 * With OW_WAIT_FOR_ACK set, the executable must first write {"ok":true} to fd 3;
 * without it, surviving 5 ms counts as started.
 *
 * A streaming web action (__OW_WEB_STREAM=true in /init's env, an xwhisk extension) is an
 * HTTP server instead, as Knative and Cloud Run containers are: it gets PORT=8081 and
 * /init succeeds once that port accepts a connection; the node connects to it directly.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "json.h"
#include "lineproc.h"
#include "proxy.h"

#define START_CHECK_MS 5
#define STREAM_PORT "8081"         /* the proxy's port + 1 (XW_SANDBOX_STREAM_PORT_OFFSET) */
#define STREAM_CHECK_MS 20         /* how often a streaming server's port is tried */
#define STREAM_START_LIMIT 1500    /* tries: 30 s to listen */

struct native_mode {
	struct proxy *p;
	struct lineproc lp;
	bool wait_ack;
	struct http_request *init_req;
	struct loop_timer *start_timer;
	struct proxy_run *current;
	bool stream;      /* a streaming web action: an HTTP server on STREAM_PORT */
	unsigned tries;
};

static void init_answer(struct native_mode *nm, bool ok, const char *why)
{
	struct http_request *req = nm->init_req;
	char msg[256];

	nm->init_req = NULL;
	if (nm->start_timer) {
		loop_timer_cancel(nm->p->loop, nm->start_timer);
		nm->start_timer = NULL;
	}
	if (ok) {
		proxy_init_done(nm->p, req, 200, "{\"ok\":true}");
		return;
	}
	snprintf(msg, sizeof(msg), "cannot start action: %s", why);
	proxy_init_error(nm->p, req, 502, msg);
}

static void on_line(struct lineproc *lp, char *line, size_t len)
{
	struct native_mode *nm = lp->data;
	struct proxy_run *run = nm->current;
	char errbuf[160];
	json_t *v;

	if (nm->init_req) {
		v = json_parse(line, len, errbuf, sizeof(errbuf));
		init_answer(nm, json_is_true(json_object_get(v, "ok")),
			    "The action did not initialize properly.");
		json_decref(v);
		return;
	}
	if (!run)
		return; /* nobody asked */
	nm->current = NULL;
	v = json_parse(line, len, errbuf, sizeof(errbuf));
	if (json_is_object(v) || json_is_array(v))
		proxy_run_done(run, 200, line, len);
	else
		proxy_run_error(run, 502, MSG_NOT_DICT_OR_ARRAY);
	json_decref(v);
}

static void on_gone(struct lineproc *lp)
{
	struct native_mode *nm = lp->data;
	struct proxy_run *run = nm->current;

	if (nm->init_req) {
		init_answer(nm, false,
			    nm->wait_ack ? "Command exited abruptly during initialization." :
					   "command exited");
		return;
	}
	/* As the Go proxy: the executor is dropped and later runs find no action. */
	proxy_stop(nm->p, NULL);
	nm->current = NULL;
	if (run) {
		if (proxy_oom_happened(nm->p))
			proxy_run_error(run, 502, MSG_OOM);
		else
			proxy_run_error(run, 400, "command exited");
	}
}

static const struct lineproc_ops native_lineproc_ops = {
	.line = on_line,
	.gone = on_gone,
};

static void on_start_check(struct loop *loop, void *data)
{
	struct native_mode *nm = data;

	(void)loop;
	nm->start_timer = NULL;
	if (nm->init_req)
		init_answer(nm, true, NULL);
}

/* Whether the streaming server accepts connections yet. */
static bool stream_listening(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(atoi(STREAM_PORT)),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;

	if (fd >= 0)
		close(fd);
	return ok;
}

static void on_stream_check(struct loop *loop, void *data)
{
	struct native_mode *nm = data;

	nm->start_timer = NULL;
	if (!nm->init_req)
		return;
	if (stream_listening()) {
		init_answer(nm, true, NULL);
		return;
	}
	if (++nm->tries >= STREAM_START_LIMIT) {
		init_answer(nm, false, "nothing listens on $PORT (" STREAM_PORT ")");
		return;
	}
	nm->start_timer = loop_timer_add(loop, STREAM_CHECK_MS, on_stream_check, nm);
}

static int native_start(struct proxy *p)
{
	struct native_mode *nm = calloc(1, sizeof(*nm));
	const char *ack = getenv("OW_WAIT_FOR_ACK");

	if (!nm)
		return -ENOMEM;
	nm->p = p;
	nm->wait_ack = ack && *ack;
	p->mode = nm;
	p->serial = true;
	proxy_ready(p);
	return 0;
}

/* Puts the action's executable in place as <dir>/exec; returns an error text or NULL. */
static const char *store_exec(struct proxy *p, const struct init_args *a, char *exec,
			      size_t len)
{
	static char err[256];

	snprintf(exec, len, "%s/exec", p->action_dir);
	if (a->binary && archive_is_zip(a->code, a->code_len)) {
		if (archive_unzip(a->code, a->code_len, p->action_dir, err, sizeof(err))) {
			fprintf(stderr, "%s\n", err);
			return "cannot unpack the action archive";
		}
		if (chmod(exec, 0755))
			return "the archive has no exec";
		return NULL;
	}
	if (write_file(exec, a->code, a->code_len, 0755))
		return "cannot write the action";
	return NULL;
}

static void native_init(struct proxy *p, struct http_request *req, const struct init_args *a)
{
	struct native_mode *nm = p->mode;
	char exec[PATH_MAX], *argv[] = { exec, NULL };
	char *extra[] = { nm->wait_ack ? "__OW_WAIT_FOR_ACK=1" : NULL, NULL, NULL };
	const char *why;
	char **env;
	int err;

	nm->init_req = req;
	nm->stream = !strcmp(json_string_value(json_object_get(a->env, "__OW_WEB_STREAM")) ?: "",
			     "true");
	if (nm->stream) {
		extra[0] = "PORT=" STREAM_PORT;
		extra[1] = NULL;
	}
	why = store_exec(p, a, exec, sizeof(exec));
	if (why) {
		init_answer(nm, false, why);
		return;
	}
	env = proxy_env_with(p, extra);
	if (!env) {
		init_answer(nm, false, "out of memory");
		return;
	}
	err = lineproc_spawn(&nm->lp, p->loop, argv, env, p->action_dir, &native_lineproc_ops, nm);
	strv_free(env);
	if (err) {
		init_answer(nm, false, "command exited");
		return;
	}
	if (nm->stream)
		nm->start_timer = loop_timer_add(p->loop, STREAM_CHECK_MS, on_stream_check, nm);
	else if (!nm->wait_ack)
		nm->start_timer = loop_timer_add(p->loop, START_CHECK_MS, on_start_check, nm);
}

static void native_run(struct proxy *p, struct proxy_run *run)
{
	struct native_mode *nm = p->mode;
	char *line = json_dump(run->body); /* compact: no newline inside */

	if (!line || lineproc_send(&nm->lp, line, strlen(line))) {
		free(line);
		proxy_run_error(run, 400, "command exited");
		return;
	}
	free(line);
	nm->current = run;
}

static void native_stop(struct proxy *p)
{
	struct native_mode *nm = p->mode;

	if (!nm)
		return;
	if (nm->start_timer)
		loop_timer_cancel(p->loop, nm->start_timer);
	lineproc_kill(&nm->lp);
	lineproc_close(&nm->lp);
	free(nm);
	p->mode = NULL;
}

const struct proxy_ops proxy_native_ops = {
	.name = "native",
	.start = native_start,
	.stop = native_stop,
	.init = native_init,
	.run = native_run,
	.not_initialized_status = 500,
	.not_initialized_error = "no action defined yet",
};
