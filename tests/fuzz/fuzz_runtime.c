// SPDX-License-Identifier: Apache-2.0
/*
 * The runtime protocol, both of its framings in xwhisk-proxy; the top bit of the first
 * byte picks one:
 *   - clear, HTTP: the input as requests to the proxy's server (userspace/proxy/server.c:
 *     /init and /run bodies, their checks, init parameters into the environment,
 *     concurrency), with a mode that answers at once; the first byte is the harness's
 *     control byte (http_harness.h);
 *   - set, lines: the rest of the input as what an action loop writes on its fd 3
 *     (lineproc.c), each line read as userspace/proxy/mode_loop.c reads an answer.
 * (Both for every input made each cost two.)
 */
#include <fcntl.h>

#include "fuzz.h"
#include "http_harness.h"
#include "lineproc.h"
#include "proxy.h"

/* ---- a mode that answers /init and /run at once ---- */

static int fake_start(struct proxy *p)
{
	return 0;
}

static void fake_init(struct proxy *p, struct http_request *req, const struct init_args *a)
{
	char **env = proxy_env_with(p, NULL);

	strv_free(env);
	if (a->code_len > 4 && !memcmp(a->code, "fail", 4))
		proxy_init_error(p, req, 502, "the fake mode fails as asked");
	else
		proxy_init_done(p, req, 200, "{\"ok\":true}");
}

static void fake_run(struct proxy *p, struct proxy_run *run)
{
	char *out = json_dump(json_object_get(run->body, "value"));

	if (out)
		proxy_run_done(run, 200, out, strlen(out));
	else
		proxy_run_error(run, 502, MSG_NOT_DICT);
	free(out);
}

static const struct proxy_ops fake_ops = {
	.name = "fuzz",
	.start = fake_start,
	.init = fake_init,
	.run = fake_run,
	.not_initialized_status = 403,
	.not_initialized_error = "not initialized",
};

static void serve_http(const uint8_t *data, size_t size)
{
	struct proxy p = {
		.loop = harness_loop,
		.ops = &fake_ops,
		.kind = "fuzz",
		.ready_fd = -1,
		.oom_fd = -1,
		.concurrency = 1,
	};

	if (proxy_serve(&p))
		abort();
	harness_serve(p.http, NULL, data, size);
	http_server_free(p.http);
	strv_free(p.child_env);
}

/* ---- answers in lines ---- */

struct lines_run {
	struct lineproc lp;
	bool started, gone;
};

static void on_line(struct lineproc *lp, char *line, size_t len)
{
	struct lines_run *r = lp->data;
	json_t *msg = json_parse(line, len, NULL, 0);
	json_t *id = json_object_get(msg, "id");

	if (!json_is_object(msg)) {
		/* mode_loop logs the line and goes on */
	} else if (!r->started) {
		r->started = true;
		(void)json_is_true(json_object_get(msg, "concurrent"));
	} else if (json_is_integer(id)) {
		char *body = json_dump(json_object_get(msg, "body"));
		json_t *status = json_object_get(msg, "status");

		(void)json_integer_value(status);
		/* The next request goes out as an answer arrives, as in a serial loop. */
		(void)lineproc_send(lp, "{\"value\":{}}", 12);
		free(body);
	} else {
		(void)json_obj_str(msg, "error");
	}
	json_decref(msg);
}

static void on_gone(struct lineproc *lp)
{
	struct lines_run *r = lp->data;

	r->gone = true;
	loop_stop(lp->loop);
}

static const struct lineproc_ops line_ops = { .line = on_line, .gone = on_gone };

static void read_lines(const uint8_t *data, size_t size)
{
	struct lines_run r = { 0 };
	struct loop_timer *hang;
	int answers[2], requests[2];
	size_t off = 0;

	/* What fits one pipe, written before the loop runs; the rest is cut. */
	if (size > 60000)
		size = 60000;
	if (pipe2(answers, O_CLOEXEC) || pipe2(requests, O_CLOEXEC))
		abort();
	while (off < size) {
		ssize_t n = write(answers[1], data + off, size - off);

		if (n <= 0)
			break;
		off += (size_t)n;
	}
	close(answers[1]);
	if (lineproc_attach(&r.lp, harness_loop, requests[1], answers[0], &line_ops, &r))
		abort();
	hang = loop_timer_add(harness_loop, HARNESS_HANG_MS, on_hang, (void *)"the line reader");
	if (!r.gone)
		loop_run(harness_loop);
	loop_timer_cancel(harness_loop, hang);
	lineproc_close(&r.lp);
	close(requests[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	harness_setup();
	if (size && data[0] & 0x80)
		read_lines(data + 1, size - 1);
	else
		serve_http(data, size);
	return 0;
}
