// SPDX-License-Identifier: Apache-2.0
/*
 * Prewarmed language loops (userspace/runtimes/nodejs/loop.js, python/loop.py).
 *
 * The loop starts with the sandbox, before any action is known, and speaks JSON lines:
 *   loop  -> proxy (fd 3)  {"ok":true,"concurrent":bool}        when it is ready
 *   proxy -> loop (stdin)  {"init":{"main":"main","binary":false,"code":"...",
 *                                   "dir":"/action","env":{...}}}
 *                          (for binary code the archive is already unpacked in dir)
 *                          and, when the node asked for logs in band, "run_port":P,
 *                          "logs":LIMIT, "concurrency":N: the loop may serve /run itself
 *   loop  -> proxy         {"ok":true} or {"error":"..."}; {"ok":true,"run_port":P} when it
 *                          does, which our /init answer passes on (XW_RUN_PORT_HEADER)
 *   proxy -> loop          {"id":N,"run":{...the /run body...}}
 *   loop  -> proxy         {"id":N,"status":200,"body":{...},"stop":false}
 * A concurrent loop may have several runs in flight and answer in any order; the
 * others get one at a time. /run keeps working here when the loop serves it too (a
 * restarted node, another node, reach us on the runtime port). The loop owns the language's semantics (what a thrown
 * exception or a non-dictionary result means); the proxy relays status and body.
 *
 * The loop is either our child (the command after "--") or was forked by the sandbox
 * manager's zygote, which hands us its stdin and fd 3 as XWHISK_LOOP_FDS, then the read
 * ends of its stdout and stderr (capture.h). Either way
 * the sandbox is worthless without it: when it goes, we answer and exit.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive.h"
#include "capture.h"
#include "json.h"
#include "lineproc.h"
#include "log.h"
#include "proxy.h"
#include "xwhisk/sandbox_net.h"

#define EXIT_DELAY_MS 100
#define STOPPED_MSG "System not ready, status is stopped."

struct loop_mode {
	struct proxy *p;
	struct lineproc lp;
	bool started;                  /* its ready line arrived */
	struct http_request *init_req; /* waiting for the init answer */
	long long run_port;            /* offered to the loop with the init, 0: none */
	struct proxy_run *runs;        /* waiting for answers, by id */
};

static void on_exit_due(struct loop *loop, void *data)
{
	struct proxy *p = data;

	p->exit_code = 1;
	loop_stop(loop);
}

static struct proxy_run *take_run(struct loop_mode *lm, uint64_t id)
{
	for (struct proxy_run **r = &lm->runs; *r; r = &(*r)->next) {
		if ((*r)->id == id) {
			struct proxy_run *run = *r;

			*r = run->next;
			run->next = NULL;
			return run;
		}
	}
	return NULL;
}

static void on_line(struct lineproc *lp, char *line, size_t len)
{
	struct loop_mode *lm = lp->data;
	struct proxy *p = lm->p;
	char errbuf[160];
	json_t *msg = json_parse(line, len, errbuf, sizeof(errbuf));
	json_t *id = json_object_get(msg, "id");

	if (!json_is_object(msg)) {
		pr_warn("loop: not a JSON object: %.80s", line);
	} else if (!lm->started) {
		lm->started = true;
		p->serial = !json_is_true(json_object_get(msg, "concurrent"));
		proxy_ready(p);
	} else if (json_is_integer(id)) {
		struct proxy_run *run = take_run(lm, (uint64_t)json_integer_value(id));
		json_t *status = json_object_get(msg, "status");
		char *body = json_dump(json_object_get(msg, "body"));
		int code = json_is_integer(status) ? (int)json_integer_value(status) : 200;

		if (json_is_true(json_object_get(msg, "stop")))
			proxy_stop(p, STOPPED_MSG);
		if (run && body)
			proxy_run_done(run, code, body, strlen(body));
		else if (run)
			proxy_run_error(run, 502, MSG_NOT_DICT);
		free(body);
	} else if (lm->init_req) {
		struct http_request *req = lm->init_req;
		const char *err = json_obj_str(msg, "error");
		json_int_t run_port = json_integer_value(json_object_get(msg, "run_port"));

		lm->init_req = NULL;
		/* Only the port offered: the one the sandbox's tc program lets answers leave
		 * from (the action's code runs in the loop and could say any other). */
		if (!err && lm->run_port && run_port == lm->run_port)
			http_resp_header(req, XW_RUN_PORT_HEADER, "%lld", lm->run_port);
		if (err)
			proxy_init_error(p, req, 502, err);
		else
			proxy_init_done(p, req, 200, "{\"ok\":true}");
	}
	json_decref(msg);
}

static void on_gone(struct lineproc *lp)
{
	struct loop_mode *lm = lp->data;
	struct proxy *p = lm->p;
	bool oom = proxy_oom_happened(p);

	if (!lm->started) {
		pr_err("the language loop ended before it was ready");
		p->exit_code = 1;
		loop_stop(p->loop);
		return;
	}
	if (lm->init_req) {
		struct http_request *req = lm->init_req;

		lm->init_req = NULL;
		proxy_init_error(p, req, 502, oom ? MSG_OOM : MSG_DIED_INIT);
	}
	proxy_stop(p, STOPPED_MSG);
	while (lm->runs) {
		struct proxy_run *run = lm->runs;

		lm->runs = run->next;
		proxy_run_error(run, 502, oom ? MSG_OOM : MSG_DIED_RUN);
	}
	/* Nothing can run here any more: end the sandbox once the answers are out. */
	(void)loop_timer_add(p->loop, EXIT_DELAY_MS, on_exit_due, p);
}

static const struct lineproc_ops loop_lineproc_ops = {
	.line = on_line,
	.gone = on_gone,
};

static int lm_start(struct proxy *p)
{
	extern char **environ;
	struct loop_mode *lm = calloc(1, sizeof(*lm));
	const char *fds = getenv("XWHISK_LOOP_FDS");
	int in_fd, out_fd, log_fds[2], err = 0;
	char **env;

	if (!lm)
		return -ENOMEM;
	lm->p = p;
	p->mode = lm;
	p->serial = true;
	if (fds) {
		int n = sscanf(fds, "%d,%d,%d,%d", &in_fd, &out_fd, &log_fds[0], &log_fds[1]);

		if (n < 2)
			return -EINVAL;
		/* Without its stdout and stderr here, the loop writes to the sandbox's own. */
		if (n == 4)
			err = capture_add(p, log_fds[0], log_fds[1]);
		else
			capture_disable(p);
		if (err)
			capture_disable(p);
		return lineproc_attach(&lm->lp, p->loop, in_fd, out_fd, &loop_lineproc_ops, lm);
	}
	if (!p->loop_argv || !p->loop_argv[0])
		return -EINVAL;
	env = calloc(1, sizeof(*env));
	for (size_t i = 0, n = 0; env && environ[i]; i++) {
		char **grown;

		if (!strncmp(environ[i], "XWHISK_", 7))
			continue;
		grown = realloc(env, (n + 2) * sizeof(*env));
		if (!grown) {
			free(env);
			env = NULL;
			break;
		}
		env = grown;
		env[n++] = environ[i];
		env[n] = NULL;
	}
	if (!env)
		return -ENOMEM;
	err = lineproc_spawn(&lm->lp, p->loop, p->loop_argv, env, NULL,
			     &loop_lineproc_ops, lm);
	free(env); /* the strings are environ's */
	return err;
}

static void lm_init(struct proxy *p, struct http_request *req, const struct init_args *a)
{
	struct loop_mode *lm = p->mode;
	long long logs = capture_asked(p, req);
	int port = p->http ? http_server_port(p->http) : 0;
	json_t *msg, *init;
	char err[256], *line;

	init = json_pack("{s:s, s:b, s:s, s:O}", "main", a->main, "binary", a->binary, "dir",
			 p->action_dir, "env", a->env);
	/* Logs in band are what lets the loop answer /run without us in between. */
	if (init && logs >= 0 && port > 0) {
		lm->run_port = port + XW_SANDBOX_RUN_PORT_OFFSET;
		json_object_set_new(init, "run_port", json_integer(lm->run_port));
		json_object_set_new(init, "logs", json_integer(logs));
		json_object_set_new(init, "concurrency", json_integer(p->concurrency));
	}
	if (!init) {
		proxy_init_error(p, req, 500, "Out of memory.");
		return;
	}
	if (a->binary) {
		if (!archive_is_zip(a->code, a->code_len)) {
			json_decref(init);
			proxy_init_error(p, req, 502,
					 "There was an error uncompressing the action archive. "
					 "The file type is unsupported");
			return;
		}
		if (archive_unzip(a->code, a->code_len, p->action_dir, err, sizeof(err))) {
			json_decref(init);
			fprintf(stderr, "%s\n", err);
			proxy_init_error(p, req, 502,
					 "There was an error uncompressing the action archive.");
			return;
		}
	} else {
		json_object_set_new(init, "code", json_stringn(a->code, a->code_len));
	}
	msg = json_pack("{s:o}", "init", init);
	line = msg ? json_dump(msg) : NULL;
	json_decref(msg);
	if (!line || lineproc_send(&lm->lp, line, strlen(line))) {
		free(line);
		proxy_init_error(p, req, 502, MSG_DIED_INIT);
		return;
	}
	free(line);
	lm->init_req = req;
}

/* {"id":N,"run":<the /run body>}: the body's own text when it can go as is (most runs:
 * no second serialisation of what may be megabytes), else its dump. */
static int send_run(struct loop_mode *lm, struct proxy_run *run)
{
	char head[48], *dumped = NULL;
	struct iovec parts[3];
	int err;

	parts[0].iov_base = head;
	parts[0].iov_len = (size_t)snprintf(head, sizeof(head), "{\"id\":%llu,\"run\":",
					    (unsigned long long)run->id);
	if (run->raw) {
		parts[1] = (struct iovec){ (void *)run->raw, run->raw_len };
	} else {
		dumped = json_dump(run->body);
		if (!dumped)
			return -ENOMEM;
		parts[1] = (struct iovec){ dumped, strlen(dumped) };
	}
	parts[2] = (struct iovec){ "}", 1 };
	err = lineproc_send_parts(&lm->lp, parts, 3);
	free(dumped);
	return err;
}

static void lm_run(struct proxy *p, struct proxy_run *run)
{
	struct loop_mode *lm = p->mode;

	if (send_run(lm, run)) {
		proxy_run_error(run, 502, MSG_DIED_RUN);
		return;
	}
	run->next = lm->runs;
	lm->runs = run;
}

static void lm_stop(struct proxy *p)
{
	struct loop_mode *lm = p->mode;

	if (!lm)
		return;
	lineproc_close(&lm->lp);
	free(lm);
	p->mode = NULL;
}

const struct proxy_ops proxy_loop_ops = {
	.name = "loop",
	.start = lm_start,
	.stop = lm_stop,
	.init = lm_init,
	.run = lm_run,
	.not_initialized_status = 403,
	.not_initialized_error = "System not initialized.",
};
