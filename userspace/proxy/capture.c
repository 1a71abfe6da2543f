// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "actlogs.h"
#include "capture.h"
#include "children.h"
#include "log.h"
#include "logpipe.h"
#include "proxy.h"
#include "util.h"

/* Before its deadline a run's lines pass on as they come: the node that gives up on it
 * then kills the sandbox, and reads what it has from the sandbox's pipes. */
#define SPILL_MS 50
/* Kept of an activation before any request said how much (the node's default). */
#define DEFAULT_KEEP (10u << 20)
/* Our own pair and a zygote-made loop's. */
#define MAX_PIPES 4

struct capture {
	struct proxy *p;
	bool on;
	int child_fds[2]; /* the write ends our children get as stdout and stderr */
	struct logpipe pipes[MAX_PIPES];
	unsigned npipes;
	struct actlogs_seg seg;
	uint64_t keep;    /* the limit of the latest request that asked for its logs */
	unsigned holders; /* such requests in flight: their lines are held */
	struct http_request *init_req; /* an /init that asked */
	long long init_limit;
};

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

/* A line on our stdout or stderr, as the action wrote it. */
static void pass_on(int stream, const char *line, size_t len)
{
	struct iovec iov[2] = { { (void *)line, len }, { "\n", 1 } };
	int fd = stream == ACTLOGS_STDERR ? STDERR_FILENO : STDOUT_FILENO;

	while (iov[0].iov_len + iov[1].iov_len) {
		ssize_t n = writev(fd, iov[0].iov_len ? iov : iov + 1, iov[0].iov_len ? 2 : 1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		for (int i = 0; i < 2 && n; i++) {
			size_t k = (size_t)n < iov[i].iov_len ? (size_t)n : iov[i].iov_len;

			iov[i].iov_base = (char *)iov[i].iov_base + k;
			iov[i].iov_len -= k;
			n -= (ssize_t)k;
		}
	}
}

/* The held lines go out on our pipes, unstamped (the node stamps what it reads). */
static void pass_held(struct capture *c)
{
	size_t i;
	json_t *l;

	json_array_foreach(c->seg.lines, i, l) {
		int stream;
		size_t len;
		const char *text = actlogs_raw(l, &stream, &len);

		pass_on(stream, text, len);
	}
	json_decref(c->seg.lines);
	c->seg.lines = NULL;
	c->seg.bytes = 0;
}

static void on_line(void *owner, int stream, const char *line, size_t len, uint64_t ts_ns,
		    bool sentinel)
{
	struct capture *c = owner;

	if (!c->holders) {
		pass_held(c);
		pass_on(stream, line, len);
		/* A pair the runtime wrote itself (a streaming session's end) went out too. */
		if (sentinel && actlogs_sentinel(&c->seg))
			c->seg.sentinels = 0;
		return;
	}
	if (!sentinel) {
		actlogs_add(&c->seg, c->keep, stream, line, len, ts_ns);
	} else if (actlogs_sentinel(&c->seg)) {
		/* Nobody's /run: the lines so far end with it, on our pipes. */
		pass_held(c);
		c->seg.sentinels = 0;
		proxy_write_sentinels();
	}
}

static int add_pipe(struct capture *c, int fd, int stream)
{
	int err;

	if (c->npipes == MAX_PIPES) {
		close(fd);
		return -ENOSPC;
	}
	(void)fcntl(fd, F_SETFL, O_NONBLOCK);
	err = logpipe_open(&c->pipes[c->npipes], c->p->loop, fd, stream, on_line, c);
	if (!err)
		c->npipes++;
	return err;
}

int capture_start(struct proxy *p)
{
	struct capture *c = calloc(1, sizeof(*c));
	int out[2] = { -1, -1 }, err[2] = { -1, -1 }, rc;

	if (!c)
		return -ENOMEM;
	c->p = p;
	c->keep = DEFAULT_KEEP;
	c->child_fds[0] = c->child_fds[1] = -1;
	p->cap = c;
	if (pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
		rc = -errno;
		goto fail;
	}
	c->child_fds[0] = out[1];
	c->child_fds[1] = err[1];
	rc = add_pipe(c, out[0], ACTLOGS_STDOUT);
	out[0] = -1;
	if (!rc)
		rc = add_pipe(c, err[0], ACTLOGS_STDERR);
	err[0] = -1;
	if (rc)
		goto fail;
	c->on = true;
	child_set_output(c->child_fds[0], c->child_fds[1]);
	return 0;
fail:
	close_fd(&out[0]);
	close_fd(&err[0]);
	capture_disable(p);
	return rc;
}

int capture_add(struct proxy *p, int out_fd, int err_fd)
{
	struct capture *c = p->cap;
	int err;

	if (!c || !c->on) {
		close(out_fd);
		close(err_fd);
		return -EINVAL;
	}
	err = add_pipe(c, out_fd, ACTLOGS_STDOUT);
	if (err) {
		close(err_fd);
		return err;
	}
	return add_pipe(c, err_fd, ACTLOGS_STDERR);
}

void capture_disable(struct proxy *p)
{
	struct capture *c = p->cap;

	if (!c)
		return;
	child_set_output(-1, -1);
	c->on = false;
	for (unsigned i = 0; i < c->npipes; i++)
		logpipe_close(&c->pipes[i]);
	c->npipes = 0;
	close_fd(&c->child_fds[0]);
	close_fd(&c->child_fds[1]);
}

void capture_stop(struct proxy *p)
{
	if (!p->cap)
		return;
	capture_disable(p);
	actlogs_seg_free(&p->cap->seg);
	free(p->cap);
	p->cap = NULL;
}

void capture_line(struct proxy *p, int stream, const char *line, size_t len)
{
	if (p->cap && p->cap->on)
		on_line(p->cap, stream, line, len, clock_real_ns(), false);
	else
		pass_on(stream, line, len);
}

/* How much of its logs req asks for in band: -1 when it does not (or cannot have them). */
static long long asked(struct capture *c, struct http_request *req)
{
	if (!c || !c->on)
		return -1;
	return actlogs_header_value(http_req_header(req, ACTLOGS_HEADER));
}

long long capture_asked(struct proxy *p, struct http_request *req)
{
	return asked(p->cap, req);
}

static void hold(struct capture *c, long long limit)
{
	c->keep = (uint64_t)limit;
	c->holders++;
}

static void on_spill_due(struct loop *loop, void *data)
{
	struct proxy_run *run = data;
	struct capture *c = run->p->cap;

	run->spill = NULL;
	run->spilled = true;
	if (c && c->holders && !--c->holders)
		pass_held(c);
}

void capture_run_begin(struct proxy_run *run)
{
	struct capture *c = run->p->cap;
	uint64_t deadline = 0, now = clock_real_ms();

	run->logs_limit = asked(c, run->req);
	if (run->logs_limit < 0)
		return;
	hold(c, run->logs_limit);
	if (parse_u64(json_obj_str(run->body, "deadline"), &deadline))
		return;
	run->spill = loop_timer_add(run->p->loop,
				    deadline > now + SPILL_MS ? deadline - now - SPILL_MS : 0,
				    on_spill_due, run);
}

void capture_init_begin(struct proxy *p, struct http_request *req)
{
	struct capture *c = p->cap;
	long long limit = asked(c, req);

	if (limit < 0)
		return;
	hold(c, limit);
	c->init_req = req;
	c->init_limit = limit;
}

/* Everything the runtime wrote before it answered is in the pipes: read it now. */
static void drain(struct capture *c)
{
	for (unsigned i = 0; i < c->npipes; i++)
		logpipe_drain(&c->pipes[i]);
}

/* The answer with the activation's lines (taken) before the runtime's. */
static void send_in_band(struct http_request *req, int status, const char *body, size_t len,
			 json_t *lines, long long limit)
{
	struct buf b = BUF_INIT;
	size_t n;

	if (limit > 0)
		actlogs_cut(lines, (uint64_t)limit);
	else
		json_array_clear(lines);
	if (actlogs_encode(lines, &b))
		buf_reset(&b);
	n = b.len;
	if (buf_append(&b, body, len)) {
		buf_reset(&b);
		n = 0;
		buf_append(&b, body, len);
	}
	json_decref(lines);
	http_resp_header(req, ACTLOGS_HEADER, "%zu", n);
	http_resp_send(req, status, "application/json", b.data, b.len);
	buf_free(&b);
}

/* Answers req; ends: the activation is over and its logs go with the answer (limit >= 0)
 * or out on our pipes with the sentinels. */
static void answer(struct capture *c, struct http_request *req, int status, const char *body,
		   size_t len, bool ends, long long limit)
{
	if (!c || !c->on) {
		if (ends)
			proxy_write_sentinels();
		http_resp_send(req, status, "application/json", body, len);
		return;
	}
	if (ends)
		drain(c);
	if (ends && limit >= 0) {
		send_in_band(req, status, body, len, actlogs_take(&c->seg), limit);
		return;
	}
	if (ends) {
		pass_held(c);
		c->seg.sentinels = 0;
		proxy_write_sentinels();
	}
	if (limit >= 0)
		http_resp_header(req, ACTLOGS_HEADER, "0");
	http_resp_send(req, status, "application/json", body, len);
}

static void let_go(struct capture *c)
{
	if (c && c->holders)
		c->holders--;
}

void capture_run_done(struct proxy_run *run, int status, const char *body, size_t len)
{
	struct proxy *p = run->p;
	bool mine = run->logs_limit >= 0 && !run->spilled;

	if (run->spill) {
		loop_timer_cancel(p->loop, run->spill);
		run->spill = NULL;
	}
	answer(p->cap, run->req, status, body, len, true, mine ? run->logs_limit : -1);
	if (mine)
		let_go(p->cap);
}

void capture_init_done(struct proxy *p, struct http_request *req, int status, const char *json)
{
	struct capture *c = p->cap;
	bool mine = c && c->init_req == req;

	/* A failed init's logs end like an activation's; a good one's join the first run's. */
	answer(c, req, status, json, strlen(json), status != 200, mine ? c->init_limit : -1);
	if (mine) {
		c->init_req = NULL;
		let_go(c);
	}
}

void capture_refused(struct proxy *p, struct http_request *req, int status, const char *body,
		     size_t len)
{
	answer(p->cap, req, status, body, len, false, asked(p->cap, req));
}
