// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "activation.h"
#include "bpfload/sock_accel.h"
#include "bpfload/sock_msg.h"
#include "json.h"
#include "log.h"
#include "node/activation/invocation.h"
#include "node/activation/pipeline.h"
#include "node/activation/record.h"
#include "node/ingress/reply.h"
#include "node/ingress/stream.h"
#include "node/ingress/worker.h"
#include "prom.h"
#include "util.h"
#include "xwhisk/sandbox_net.h"

#define DRAIN_POLL_MS 2
#define HELD_CHUNK (256 << 10) /* held bytes forwarded by hand in one piece, at most */
#define HELD_ROUNDS 8	       /* pieces one event forwards before the loop serves others */
#define PIPE_CHUNK (1 << 16)
#define CATCH_UP_CHUNK (256 << 10) /* client bytes read by hand before the splice, at most */
#define PROBE_DELAY_MS 20	   /* a dying process's listener closes after its connections */
#define PROBE_MS 200		   /* how long the action's server has to accept a probe */

/* ---- sock_accel, loaded once for every worker ---- */

static pthread_mutex_t accel_lock = PTHREAD_MUTEX_INITIALIZER;
static bool accel_tried;
static struct xw_accel *accel;
static uint64_t sessions_spliced, sessions_relayed, sessions_into, sessions_answer;

/* The first stream loads sock_accel; without it every stream is relayed (one log line). */
static struct xw_accel *accel_get(struct worker *w)
{
	struct xw_accel *a;
	int err;

	pthread_mutex_lock(&accel_lock);
	if (!accel_tried) {
		accel_tried = true;
		err = xw_accel_open(w->node->cfg.pin_dir, w->node->cfg.accel_answer, &accel);
		if (err)
			pr_warn("stream: sock_accel cannot be attached (%s): streaming web actions "
				"are relayed in userspace with splice(2)",
				strerror(-err));
		else
			pr_info("stream: sock_accel attached to %s/%s: streams are spliced by the "
				"kernel",
				w->node->cfg.pin_dir, XW_MAP_ACCEL_SOCKS);
	}
	a = accel;
	pthread_mutex_unlock(&accel_lock);
	return a;
}

void stream_metrics(struct buf *b)
{
	/* the verdicts that carry bytes, each a label of xwhisk_sock_accel_bytes_total */
	static const enum xw_drop_reason shown[] = {
	    XW_REASON_PASS,	    XW_ACCEL_HELD, XW_ACCEL_FULL,      XW_ACCEL_INTO,
	    XW_DROP_ACCEL_UNPAIRED, XW_ACCEL_OLD,  XW_DROP_ACCEL_TRIM, XW_ACCEL_MSG,
	};
	struct xw_accel_stat st[XW_DROP__MAX];
	struct xw_accel *a;

	pthread_mutex_lock(&accel_lock);
	a = accel;
	prom_value(b, "xwhisk_stream_accel", "gauge",
		   "1 when sock_accel splices streaming web actions, 0 when they are relayed "
		   "with splice(2) (or no stream ran yet).",
		   a != NULL);
	prom_family(b, "xwhisk_stream_sessions_total", "counter",
		    "Streaming web action sessions, by how their bytes moved.");
	buf_printf(b, "xwhisk_stream_sessions_total{mode=\"sock_accel\"} %llu\n",
		   (unsigned long long)__atomic_load_n(&sessions_spliced, __ATOMIC_RELAXED));
	buf_printf(b, "xwhisk_stream_sessions_total{mode=\"relay\"} %llu\n",
		   (unsigned long long)__atomic_load_n(&sessions_relayed, __ATOMIC_RELAXED));
	prom_value(b, "xwhisk_stream_into_sandbox_total", "counter",
		   "Spliced sessions whose client bytes went straight into the sandbox's socket "
		   "(sock_accel with XW_ACCEL_F_INTO), not through the node's.",
		   __atomic_load_n(&sessions_into, __ATOMIC_RELAXED));
	prom_value(b, "xwhisk_stream_answer_direct_total", "counter",
		   "Spliced sessions whose answer could go straight from the sandbox's socket to "
		   "the client's (accel_answer, sk_msg), not through the node's.",
		   __atomic_load_n(&sessions_answer, __ATOMIC_RELAXED));
	if (a && !xw_accel_counters(a, st)) {
		prom_family(b, "xwhisk_sock_accel_bytes_total", "counter",
			    "Bytes sock_accel saw, by verdict (pass: redirected to the peer).");
		for (size_t i = 0; i < ARRAY_SIZE(shown); i++)
			buf_printf(b, "xwhisk_sock_accel_bytes_total{verdict=\"%s\"} %llu\n",
				   xw_drop_reason_name(shown[i]),
				   (unsigned long long)st[shown[i]].bytes);
		prom_value(b, "xwhisk_sock_accel_fins_total", "counter",
			   "Empty skbs (a peer's FIN alone) sock_accel freed: there is nothing to move.",
			   st[XW_ACCEL_FIN].skbs);
	}
	pthread_mutex_unlock(&accel_lock);
}

/* ---- a session ---- */

enum stream_state {
	ST_WAITING,    /* admitted, waiting for room in a sandbox */
	ST_CONNECTING, /* the client's socket taken, connecting to the action's server */
	ST_HEAD,       /* writing the request head, the body read so far, what followed */
	ST_FLOWING,    /* spliced (or relayed) both ways */
	ST_DRAINING,   /* the action's server closed: is it alive? the last bytes go out */
};

/* Where one direction of a splice stands with the bytes the verdict held on its sending
 * socket (a peer absent or behind), which the node forwards by hand. */
enum held_wait {
	HELD_READ, /* watching the socket for held bytes */
	HELD_ROOM, /* the other side has no room yet: a timer tries again */
	HELD_OUT,  /* the other socket is full: waiting until it is writable */
	HELD_END,  /* the socket ended: nothing more to forward */
};

/* One direction of the userspace relay: src -> pipe -> dst. */
struct relay_dir {
	int pipe[2];
	size_t in_pipe;
	bool eof;
	uint64_t bytes;
};

struct stream {
	struct worker *w;
	struct http_request *req;
	bool taken;    /* req's connection is ours (cfd) */
	bool answered; /* req was answered (or taken): the record tells no one */
	char tid[72];
	char activation_id[33];
	char user[257];
	char *target;
	bool upgrade;
	uint32_t timeout_ms;
	struct invocation *inv;
	enum stream_state state;
	int cfd, sfd;
	struct buf to_sandbox; /* the head, the body the HTTP server had read, what followed */
	size_t head_len;
	uint64_t body_len; /* the request body's length (0: none) */
	bool caught_up;	   /* the client's queue was read to an skb's end: it may join */
	bool client_eof;   /* the client ended its side after a whole request */
	bool client_done;  /* the client left while the probe ran */
	bool probing;	   /* is the action's server alive after it closed? */
	bool drained;	   /* every byte of the answer is in the client's socket */
	int probe_fd;
	bool sandbox_died;  /* no: its process ended mid-stream */
	uint64_t body_read; /* body bytes sent outside the splice (read by the server) */
	/* sock_accel */
	struct xw_accel *accel;
	uint32_t pair;
	bool has_pair, c_in, s_in;
	/* the sandbox's own end of the connection, in msg_into (known with into or answer) */
	struct xw_msg_key sandbox_key;
	bool into;   /* the client's bytes go into that socket's receive queue */
	bool answer; /* its answer may go straight to the client (accel_answer) */
	uint64_t ccookie, scookie;
	uint64_t c_queued0; /* bytes the client's socket had queued before the answer */
	uint64_t s_queued0; /* bytes the sandbox's socket had queued before the splice */
	/* the client's held bytes, the sandbox's: where each stands, and those read and not
	 * yet sent (HELD_CHUNK each, once some were held) */
	struct held_dir {
		enum held_wait wait;
		struct xw_accel_held bytes;
	} held_up, held_down;
	bool sfd_hup; /* the sandbox's socket hung up while its held bytes wait: unwatched */
	/* relay */
	struct relay_dir up, down;
	bool relay;
	int status;
	struct loop_timer *deadline, *drain, *half_close, *probe_timer, *held_timer;
};

static void stream_free(struct stream *s)
{
	if (s->taken)
		http_req_free(s->req);
	buf_free(&s->to_sandbox);
	free(s->held_up.bytes.buf);
	free(s->held_down.bytes.buf);
	free(s->target);
	free(s);
}

/* What follows the action's name in the request's path, still percent-encoded. */
static const char *raw_rest(const char *path)
{
	const char *p = path + 12; /* "/api/v1/web/" */

	for (int i = 0; i < 2; i++) {
		p = strchr(p, '/');
		if (!p)
			return "";
		p++;
	}
	p = strchr(p, '/');
	return p ? p : "";
}

bool stream_early(const struct http_request *req, void *data)
{
	return !strncmp(req->path, "/api/v1/web/", 12) &&
	       (http_req_header(req, "Upgrade") || req->content_length > PAYLOAD_MAX);
}

/* The node's own answer on a connection that is already ours (nothing of the action's
 * went out yet): best effort, the connection closes after it. */
static void raw_error(int fd, const char *tid, int status, const char *message)
{
	json_t *b = json_pack("{s:s,s:s}", "error", message, "code", tid);
	char *text = b ? json_dumps(b, JSON_COMPACT) : NULL;
	char head[256];
	int n;

	json_decref(b);
	if (!text)
		return;
	n = snprintf(head, sizeof(head),
		     "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		     "X-Request-ID: %s\r\nConnection: close\r\n\r\n",
		     status, http_status_text(status), strlen(text), tid);
	if (n > 0 && (size_t)n < sizeof(head) && write(fd, head, (size_t)n) == n)
		(void)!write(fd, text, strlen(text));
	free(text);
}

/* Bytes ever queued on a TCP socket: acknowledged plus still in its send queue. */
/* The action's server: the stream port of the sandbox that holds the activation. */
static void sandbox_addr(const struct stream *s, struct sockaddr_in *sa)
{
	const struct xw_slot *slot = &s->w->node->maps->slots[s->inv->slot];

	*sa = (struct sockaddr_in){.sin_family = AF_INET};
	memcpy(&sa->sin_addr.s_addr, slot->addr, sizeof(slot->addr));
	sa->sin_port = htons((uint16_t)(slot->port + XW_SANDBOX_STREAM_PORT_OFFSET));
}

static void probe_close(struct stream *s)
{
	if (s->probe_timer)
		loop_timer_cancel(s->w->loop, s->probe_timer);
	s->probe_timer = NULL;
	if (s->probe_fd >= 0) {
		loop_del_fd(s->w->loop, s->probe_fd);
		close(s->probe_fd);
	}
	s->probe_fd = -1;
}

static void relay_close(struct relay_dir *d)
{
	for (int i = 0; i < 2; i++)
		if (d->pipe[i] > 0)
			close(d->pipe[i]);
	d->pipe[0] = d->pipe[1] = 0;
}

/* The answer straight to the client's socket (accel_answer), when the sandbox's socket is
 * in msg_into: from the moment both sockets are spliced. */
static void answer_start(struct stream *s)
{
	struct xw_msg *m = s->w->node->sock_msg;

	/* into found the key already; else look that end up now */
	s->answer = m && (s->into || !xw_msg_peer_in(m, s->sfd, &s->sandbox_key)) &&
		    !xw_accel_answer_set(s->accel, &s->sandbox_key, s->scookie);
	if (s->answer)
		__atomic_fetch_add(&sessions_answer, 1, __ATOMIC_RELAXED);
}

/* Before the sockets leave the splice, or the node writes to the client itself. */
static void answer_stop(struct stream *s)
{
	if (s->answer)
		xw_accel_answer_del(s->accel, &s->sandbox_key);
	s->answer = false;
}

/*
 * The end: the sockets leave the map and close, the record is written. astatus is the
 * activation's status, why how the session ended (the record's "end"); broken_why retires
 * the sandbox. s is freed by the listener, maybe later (logs).
 */
static void stream_end(struct stream *s, int astatus, const char *why, const char *error,
		       const char *broken_why)
{
	struct xw_accel_peer pc = {0}, ps = {0};
	uint64_t in, out;
	json_t *result;

	if (s->deadline)
		loop_timer_cancel(s->w->loop, s->deadline);
	if (s->drain)
		loop_timer_cancel(s->w->loop, s->drain);
	if (s->half_close)
		loop_timer_cancel(s->w->loop, s->half_close);
	if (s->held_timer)
		loop_timer_cancel(s->w->loop, s->held_timer);
	s->deadline = s->drain = s->half_close = s->held_timer = NULL;
	probe_close(s);
	answer_stop(s);
	if (s->c_in)
		(void)xw_accel_remove(s->accel, 2 * s->pair, s->ccookie, &pc);
	if (s->s_in)
		(void)xw_accel_remove(s->accel, 2 * s->pair + 1, s->scookie, &ps);
	if (s->has_pair)
		xw_accel_pair_put(s->accel, s->pair);
	if (ps.status)
		s->status = ps.status;
	s->c_in = s->s_in = s->has_pair = false;
	relay_close(&s->up);
	relay_close(&s->down);
	if (s->sfd >= 0) {
		loop_del_fd(s->w->loop, s->sfd);
		close(s->sfd);
		s->sfd = -1;
	}
	if (s->cfd >= 0) {
		loop_del_fd(s->w->loop, s->cfd);
		close(s->cfd);
		s->cfd = -1;
	}
	/* The body bytes the server read count as in; the request head does not. */
	in = s->body_read + pc.bytes + s->up.bytes;
	out = ps.bytes + s->down.bytes;
	result = json_pack("{s:i,s:I,s:I,s:s,s:s}", "statusCode", s->status, "bytesIn",
			   (json_int_t)in, "bytesOut", (json_int_t)out, "end", why, "splice",
			   s->relay ? "relay" : "sock_accel");
	if (error)
		json_object_set_new(result, "error", json_string(error));
	invocation_session_end(s->inv, astatus, result, broken_why);
}

static void end_client_gone(struct stream *s)
{
	stream_end(s, ACTIVATION_SUCCESS, "client closed", NULL, NULL);
}

static void end_sandbox_failed(struct stream *s, const char *why)
{
	stream_end(s, ACTIVATION_DEVELOPER_ERROR, why,
		   "The action did not produce a valid response and exited unexpectedly.",
		   "stream broken");
}

static void on_deadline(struct loop *loop, void *data)
{
	struct stream *s = data;
	char msg[128];

	s->deadline = NULL;
	if (s->s_in) {
		struct xw_accel_peer ps;

		if (!xw_accel_peer_get(s->accel, s->scookie, &ps) && ps.status)
			s->status = ps.status;
	}
	/* A WebSocket hears why (1001, going away), outside the splice. */
	if (s->upgrade && s->status == 101 && s->cfd >= 0) {
		static const unsigned char going_away[] = {0x88, 0x02, 0x03, 0xe9};

		struct xw_accel_peer pc = {0};

		answer_stop(s);
		if (s->c_in && !xw_accel_remove(s->accel, 2 * s->pair, s->ccookie, &pc))
			s->body_read += pc.bytes; /* counted as in, as stream_end would */
		s->c_in = false;
		(void)!write(s->cfd, going_away, sizeof(going_away));
	}
	snprintf(msg, sizeof(msg), "The action exceeded its time limits of %u milliseconds.",
		 s->timeout_ms);
	stream_end(s, ACTIVATION_DEVELOPER_ERROR, "timeout", msg, "timeout");
}

/* ---- writing without waiting ---- */

/* Writes what b holds to fd without blocking: 0 once all is out, -EAGAIN when the socket
 * is full (the caller waits for EPOLLOUT in the loop), or another negative errno. A slow
 * peer never holds the worker, whose other requests go on meanwhile. */
static int flush_to(int fd, struct buf *b)
{
	while (buf_pending(b)) {
		ssize_t n = send(fd, buf_head(b), buf_pending(b), MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf_consume(b, (size_t)n);
	}
	buf_reset(b);
	return 0;
}

/* Whether a client that ended its side (EOF) still gets the answer: an upgraded session
 * (its end is passed on to the action's server) or a request whose whole body arrived
 * (its Content-Length frames it for the server). Any other end is a client that left. */
static bool half_close_ok(const struct stream *s, uint64_t body_in)
{
	return s->upgrade || (s->body_len && body_in >= s->body_len);
}

/* ---- the end of the answer ---- */

/* Every byte of the answer reached the client's socket. */
static void stream_finish(struct stream *s)
{
	if (s->sandbox_died)
		stream_end(s, ACTIVATION_DEVELOPER_ERROR, "sandbox exited",
			   "The action did not produce a valid response and exited unexpectedly.",
			   "sandbox exited");
	else
		stream_end(s, ACTIVATION_SUCCESS, "complete", NULL, NULL);
}

static void on_drain_poll(struct loop *loop, void *data);

static void probe_done(struct stream *s, bool died)
{
	probe_close(s);
	s->probing = false;
	s->sandbox_died = died;
	if (s->drained || s->client_done)
		stream_finish(s);
}

static void on_probe(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct stream *s = data;
	int err = 0;
	socklen_t len = sizeof(err);

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	probe_done(s, err == ECONNREFUSED);
}

static void on_probe_timeout(struct loop *loop, void *data)
{
	struct stream *s = data;

	s->probe_timer = NULL;
	probe_done(s, false); /* no answer is no proof of death */
}

static void on_probe_due(struct loop *loop, void *data)
{
	struct stream *s = data;
	struct sockaddr_in sa;

	s->probe_timer = NULL;
	sandbox_addr(s, &sa);
	s->probe_fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->probe_fd < 0) {
		probe_done(s, false);
		return;
	}
	if (connect(s->probe_fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno != EINPROGRESS) {
		probe_done(s, errno == ECONNREFUSED);
		return;
	}
	s->probe_timer = loop_timer_add(s->w->loop, PROBE_MS, on_probe_timeout, s);
	if (loop_add_fd(s->w->loop, s->probe_fd, EPOLLOUT, on_probe, s) < 0)
		probe_done(s, false);
}

/*
 * The action's server closed its side: the end of the answer, or its process died (an
 * exit ends its connections with a FIN too). A connection to its port a moment later,
 * closed at once, tells: refused, the server is gone, and the record says so. The last
 * bytes reach the client meanwhile; the session ends when both are done.
 */
static void sandbox_ended(struct stream *s)
{
	s->state = ST_DRAINING;
	s->probing = true;
	s->probe_timer = loop_timer_add(s->w->loop, PROBE_DELAY_MS, on_probe_due, s);
	if (s->relay)
		s->drained = true; /* the relay wrote all it read */
	else
		on_drain_poll(s->w->loop, s);
}

/* ---- the userspace relay (no sock_accel) ---- */

static void relay_events(struct stream *s)
{
	uint32_t ce = 0, se = 0;

	if (!s->up.in_pipe && !s->up.eof)
		ce |= EPOLLIN;
	if (s->up.in_pipe)
		se |= EPOLLOUT;
	if (!s->down.in_pipe && !s->down.eof)
		se |= EPOLLIN;
	if (s->down.in_pipe)
		ce |= EPOLLOUT;
	(void)loop_mod_fd(s->w->loop, s->cfd, ce);
	(void)loop_mod_fd(s->w->loop, s->sfd, se);
}

/* Moves what src has to dst through the direction's pipe: 0, 1 when src ended and
 * everything reached dst, or a negative errno. */
static int relay_pump(struct relay_dir *d, int src, int dst)
{
	for (;;) {
		ssize_t n;

		if (!d->in_pipe && !d->eof) {
			n = splice(src, NULL, d->pipe[1], NULL, PIPE_CHUNK,
				   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
			if (n == 0)
				d->eof = true;
			else if (n < 0 && errno == EAGAIN)
				return 0;
			else if (n < 0)
				return -errno;
			else
				d->in_pipe = (size_t)n;
		}
		if (!d->in_pipe)
			return d->eof ? 1 : 0;
		n = splice(d->pipe[0], NULL, dst, NULL, d->in_pipe,
			   SPLICE_F_NONBLOCK | SPLICE_F_MOVE);
		if (n < 0)
			return errno == EAGAIN ? 0 : -errno;
		d->in_pipe -= (size_t)n;
		d->bytes += (uint64_t)n;
	}
}

/* The first bytes of the answer say its status: peeked before they are relayed. */
static void relay_peek_status(struct stream *s)
{
	char l[13] = {0};

	if (s->status || recv(s->sfd, l, 12, MSG_PEEK | MSG_DONTWAIT) != 12)
		return;
	/* An interim 100 Continue is not the answer's status. */
	if (!strncmp(l, "HTTP/1.", 7) && l[8] == ' ' && (l[9] != '1' || !strncmp(l + 9, "101", 3)))
		s->status = atoi(l + 9);
}

static void relay_step(struct stream *s)
{
	int up, down;

	if (s->state == ST_DRAINING)
		return; /* the probe decides */
	relay_peek_status(s);
	up = relay_pump(&s->up, s->cfd, s->sfd);
	down = relay_pump(&s->down, s->sfd, s->cfd);
	if (down == 1) {
		loop_del_fd(s->w->loop, s->cfd);
		loop_del_fd(s->w->loop, s->sfd);
		sandbox_ended(s);
		return;
	}
	/* The client ended its side: the answer still goes after a whole request. */
	if (up == 1 && !s->client_eof) {
		if (!half_close_ok(s, s->body_read + s->up.bytes)) {
			end_client_gone(s);
			return;
		}
		s->client_eof = true;
		if (s->upgrade)
			(void)shutdown(s->sfd, SHUT_WR);
	}
	/* The client broke its side, or the answer cannot reach it. */
	if (up < 0 || down == -EPIPE || down == -ECONNRESET) {
		end_client_gone(s);
		return;
	}
	if (down) {
		end_sandbox_failed(s, "sandbox closed the connection");
		return;
	}
	relay_events(s);
}

static void on_relay_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct stream *s = data;

	if (events & EPOLLERR) {
		if (fd == s->cfd)
			end_client_gone(s);
		else
			end_sandbox_failed(s, "sandbox reset the connection");
		return;
	}
	relay_step(s);
}

/* fd's handler becomes cb (each phase has its own). */
static int watch(struct stream *s, int fd, uint32_t events, loop_fd_cb cb)
{
	loop_del_fd(s->w->loop, fd);
	return loop_add_fd(s->w->loop, fd, events, cb, s) < 0 ? -errno : 0;
}

static int relay_start(struct stream *s)
{
	if (pipe2(s->up.pipe, O_NONBLOCK | O_CLOEXEC) ||
	    pipe2(s->down.pipe, O_NONBLOCK | O_CLOEXEC))
		return -errno;
	s->relay = true;
	s->state = ST_FLOWING;
	/* A client that already ended its side is read to its end once more, here. */
	s->client_eof = false;
	__atomic_fetch_add(&sessions_relayed, 1, __ATOMIC_RELAXED);
	if (watch(s, s->cfd, 0, on_relay_event) || watch(s, s->sfd, 0, on_relay_event))
		return -errno;
	relay_step(s);
	return 0;
}

/* ---- the splice (sock_accel) ---- */

static void on_drain_poll(struct loop *loop, void *data)
{
	struct stream *s = data;

	s->drain = NULL;
	/* Every byte the sandbox sent is in the client's socket: closing loses none. */
	if (xw_accel_delivered(s->accel, s->scookie, s->cfd, s->c_queued0)) {
		s->drained = true;
		if (!s->probing)
			stream_finish(s);
		return;
	}
	s->drain = loop_timer_add(s->w->loop, DRAIN_POLL_MS, on_drain_poll, s);
}

/* An upgraded client's end goes on to the action's server once every byte the client
 * sent is in the sandbox's socket (the verdict's redirects are asynchronous). */
static void on_half_close_poll(struct loop *loop, void *data)
{
	struct stream *s = data;

	s->half_close = NULL;
	if (xw_accel_delivered(s->accel, s->ccookie, s->sfd, s->s_queued0)) {
		(void)shutdown(s->sfd, SHUT_WR);
		return;
	}
	s->half_close = loop_timer_add(s->w->loop, DRAIN_POLL_MS, on_half_close_poll, s);
}

static void on_held_timer(struct loop *loop, void *data);
static void on_sandbox_event(struct loop *loop, int fd, uint32_t events, void *data);

/* What each socket is watched for while spliced: the client's end, and on either side
 * the bytes the verdict held there (readable) or room for those of the other. */
static void splice_events(struct stream *s)
{
	uint32_t ce = s->client_eof ? 0 : EPOLLRDHUP, se = 0;

	if (s->state == ST_FLOWING && s->held_up.wait == HELD_READ)
		ce |= EPOLLIN;
	if (s->held_down.wait == HELD_OUT)
		ce |= EPOLLOUT;
	if (s->state == ST_FLOWING && s->held_down.wait == HELD_READ)
		se |= EPOLLIN;
	if (s->held_up.wait == HELD_OUT)
		se |= EPOLLOUT;
	if ((s->held_up.wait == HELD_ROOM || s->held_down.wait == HELD_ROOM) && !s->held_timer)
		s->held_timer = loop_timer_add(s->w->loop, DRAIN_POLL_MS, on_held_timer, s);
	(void)loop_mod_fd(s->w->loop, s->cfd, ce);
	if (!s->sfd_hup)
		(void)loop_mod_fd(s->w->loop, s->sfd, se);
	else if ((se & EPOLLIN) && !watch(s, s->sfd, se, on_sandbox_event))
		s->sfd_hup = false;
}

/* A client that left can make the sandbox's side fail too: not the action's fault. */
static bool client_left(struct stream *s)
{
	struct pollfd pf = {.fd = s->cfd, .events = POLLRDHUP};

	return poll(&pf, 1, 0) > 0 &&
	       (pf.revents & (POLLHUP | POLLERR | (s->client_eof ? 0 : POLLRDHUP)));
}

/*
 * Forwards what the verdict held on one side (up: the client's socket, down: the
 * sandbox's) to the other, in order, as much as that side takes now (docs/EBPF.md, "A
 * slow reader"), and notes what it waits for next. True when the session ended here (a
 * side broke, or the answer ended): the caller returns.
 */
static bool forward_held(struct stream *s, bool up)
{
	struct held_dir *d = up ? &s->held_up : &s->held_down;
	struct xw_accel_held *h = &d->bytes;
	uint32_t from_idx = 2 * s->pair + (up ? 0 : 1);
	ssize_t n = -ENOMEM;

	if (!h->buf && (h->buf = malloc(HELD_CHUNK)))
		h->cap = HELD_CHUNK;
	for (int i = 0; h->buf && i < HELD_ROUNDS; i++) {
		n = xw_accel_forward_held(s->accel, up ? s->cfd : s->sfd, from_idx,
					  up ? s->sfd : s->cfd, from_idx ^ 1,
					  up && s->into ? &s->sandbox_key : NULL, h);
		if (n <= 0)
			break;
	}
	d->wait = n == 0 ? HELD_END : n == -ENOSPC ? HELD_ROOM : n == -ENOBUFS ? HELD_OUT : HELD_READ;
	if (n < 0 && n != -EAGAIN && n != -ENOSPC && n != -ENOBUFS) {
		if (client_left(s))
			end_client_gone(s);
		else
			end_sandbox_failed(s, "sandbox reset the connection");
		return true;
	}
	/* The action's server ended the answer: let the last bytes reach the client. */
	if (!up && n == 0) {
		loop_del_fd(s->w->loop, s->sfd);
		sandbox_ended(s);
		return true;
	}
	return false;
}

static void on_held_timer(struct loop *loop, void *data)
{
	struct stream *s = data;

	s->held_timer = NULL;
	if ((s->held_up.wait == HELD_ROOM && forward_held(s, true)) ||
	    (s->held_down.wait == HELD_ROOM && forward_held(s, false)))
		return;
	splice_events(s);
}

/* The client ended its side (or reset it) before the answer's end was seen. */
static void client_ended(struct stream *s, uint32_t events)
{
	struct pollfd pf = {.fd = s->sfd, .events = POLLRDHUP};
	uint64_t in = s->body_read;
	int inq = 0;

	/* After the answer ended (maybe seen here first), the client leaving is the usual
	 * end. */
	if (s->state == ST_DRAINING) {
		if (!s->probing) {
			stream_finish(s);
			return;
		}
		s->client_done = true; /* the probe finishes */
		loop_del_fd(s->w->loop, s->cfd);
		return;
	}
	/* The answer ended too, none of it held here (on the socket or read and not yet
	 * sent): the session is over. */
	if (s->sfd >= 0 && s->state == ST_FLOWING && poll(&pf, 1, 0) > 0 &&
	    (pf.revents & POLLRDHUP) && s->held_down.bytes.off == s->held_down.bytes.len &&
	    recv(s->sfd, &(char){0}, 1, MSG_PEEK | MSG_DONTWAIT) <= 0) {
		stream_finish(s);
		return;
	}
	if (s->c_in) {
		struct xw_accel_peer pc;

		if (!xw_accel_peer_get(s->accel, s->ccookie, &pc))
			in += pc.bytes;
	} else if (ioctl(s->cfd, SIOCINQ, &inq) == 0) {
		in += (uint64_t)inq; /* sent, not read yet */
	}
	if ((events & (EPOLLHUP | EPOLLERR)) || !half_close_ok(s, in)) {
		end_client_gone(s);
		return;
	}
	s->client_eof = true;
	if (s->state == ST_FLOWING) {
		splice_events(s);
		if (s->upgrade)
			on_half_close_poll(s->w->loop, s);
	} else {
		(void)loop_mod_fd(s->w->loop, s->cfd, 0);
	}
}

static void on_client_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct stream *s = data;

	if ((events & EPOLLOUT) && s->held_down.wait == HELD_OUT && forward_held(s, false))
		return;
	if ((events & EPOLLIN) && s->state == ST_FLOWING && s->held_up.wait == HELD_READ &&
	    forward_held(s, true))
		return;
	if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
		client_ended(s, events);
		return;
	}
	splice_events(s);
}

/*
 * EPIPE on the sandbox's socket is a redirect toward it that failed after that direction
 * closed: ours shut down (an upgraded client's end passed on), or the action's server
 * closed and answered a client's last (empty) skb with a reset. What the server sent, and
 * its end, are still there to read. Reading SO_ERROR clears it.
 */
static bool sandbox_write_refused(int fd)
{
	int err = 0;
	socklen_t len = sizeof(err);

	return getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == EPIPE;
}

/* The sandbox's held bytes (the answer, when the client's socket was not in the map yet
 * or is behind) and its end, or room for the client's held bytes. */
static void on_sandbox_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct stream *s = data;

	if ((events & EPOLLERR) && !sandbox_write_refused(fd)) {
		if (client_left(s))
			end_client_gone(s);
		else
			end_sandbox_failed(s, "sandbox reset the connection");
		return;
	}
	if ((events & EPOLLOUT) && s->held_up.wait == HELD_OUT && forward_held(s, true))
		return;
	if ((events & ~EPOLLOUT) && s->held_down.wait == HELD_READ && forward_held(s, false))
		return;
	/* A hang-up (both ways shut) is reported whatever the mask: while the held answer
	 * waits for the client, the socket leaves the loop, or the loop would spin. */
	if ((events & EPOLLHUP) && s->held_down.wait != HELD_READ) {
		loop_del_fd(loop, fd);
		s->sfd_hup = true;
	}
	splice_events(s);
}

/*
 * Reads what the client sent since the take-over into to_sandbox (which is empty), for
 * it to go by hand. The verdict reads whole skbs from the queue's head, and would send
 * again the part of one already read (the HTTP server reads in 64 KB pieces); a short
 * read ends on an skb's end: the client's socket may join the splice from there.
 */
static int client_catch_up(struct stream *s)
{
	struct buf *b = &s->to_sandbox;
	ssize_t n;

	if (buf_reserve(b, CATCH_UP_CHUNK))
		return -ENOMEM;
	n = recv(s->cfd, b->data + b->len, CATCH_UP_CHUNK, MSG_DONTWAIT);
	if (n < 0 && errno != EAGAIN && errno != EINTR)
		return -errno;
	/* An end (0) is seen through EPOLLRDHUP. */
	if (n < CATCH_UP_CHUNK)
		s->caught_up = n >= 0 || errno == EAGAIN;
	if (n > 0) {
		b->len += (size_t)n;
		s->body_read += (uint64_t)n;
	}
	return 0;
}

/* The head is out and the client's queue read to an skb's end: both sockets join. */
static void splice_start(struct stream *s)
{
	int err;

	buf_free(&s->to_sandbox);
	(void)xw_accel_tcp_queued(s->cfd, &s->c_queued0);
	(void)xw_accel_tcp_queued(s->sfd, &s->s_queued0);
	/* Both sockets join back to back, the sandbox's first: bytes either received
	 * meanwhile wait, unread, in its receive queue (the sandbox's answer, the client's
	 * upload). Only an answer landing between the two insertions is held and forwarded
	 * by hand. */
	err = xw_accel_add(s->accel, 2 * s->pair + 1, s->sfd, XW_ACCEL_F_STATUS, NULL,
			   &s->scookie);
	if (!err) {
		s->s_in = true;
		err = xw_accel_add(s->accel, 2 * s->pair, s->cfd, 0,
				   s->into ? &s->sandbox_key : NULL, &s->ccookie);
	}
	if (err) {
		pr_debug("stream %s: sock_accel refused a socket (%s): relayed", s->activation_id,
			 strerror(-err));
		if (s->s_in)
			(void)xw_accel_remove(s->accel, 2 * s->pair + 1, s->scookie,
					      &(struct xw_accel_peer){0});
		s->s_in = false;
		xw_accel_pair_put(s->accel, s->pair);
		s->has_pair = false;
		if (relay_start(s))
			end_sandbox_failed(s, "no relay");
		return;
	}
	s->c_in = true;
	answer_start(s);
	/* The verdict reads a receive queue when more bytes arrive, and with a full window
	 * none would: setting the low-water mark signals "data ready" now
	 * (tcp_set_rcvlowat), so what waits goes through. */
	if (setsockopt(s->sfd, SOL_SOCKET, SO_RCVLOWAT, &(int){1}, sizeof(int)) < 0 ||
	    setsockopt(s->cfd, SOL_SOCKET, SO_RCVLOWAT, &(int){1}, sizeof(int)) < 0)
		pr_debug("stream %s: cannot kick the sockets: %s", s->activation_id,
			 strerror(errno));
	__atomic_fetch_add(&sessions_spliced, 1, __ATOMIC_RELAXED);
	if (s->into)
		__atomic_fetch_add(&sessions_into, 1, __ATOMIC_RELAXED);
	s->state = ST_FLOWING;
	if (watch(s, s->cfd, 0, on_client_event) || watch(s, s->sfd, 0, on_sandbox_event)) {
		end_sandbox_failed(s, "no event for the connections");
		return;
	}
	splice_events(s);
	if (s->client_eof && s->upgrade)
		on_half_close_poll(s->w->loop, s);
}

static void flow_start(struct stream *s)
{
	/* A client that already ended its side is relayed: its end stays in its queue,
	 * where the relay reads it in order. */
	if (s->has_pair && s->client_eof) {
		xw_accel_pair_put(s->accel, s->pair);
		s->has_pair = false;
	}
	if (s->has_pair)
		splice_start(s);
	else if (relay_start(s))
		end_sandbox_failed(s, "no relay");
}

/* ---- connecting and the head ---- */

/*
 * Whether the client's bytes may skip the node's socket to the sandbox and go into the
 * sandbox's own (XW_ACCEL_F_INTO): only if that socket joined msg_into (sockops_msg, as
 * the handshake ended there) and ours joins msg_socks before the first byte, so that the head and
 * what the node forwards by hand go the same way, by sock_msg_redirect, and are on that
 * receive queue before any byte of the splice; a byte sent by TCP could be read after
 * them. Not for an upgraded session: its client's end is passed on once every byte it sent
 * is in the sandbox's socket, which only our own socket's counters tell.
 */
static bool into_sandbox(struct stream *s)
{
	struct xw_msg *m = s->w->node->sock_msg;

	return m && !s->upgrade && !xw_msg_peer_in(m, s->sfd, &s->sandbox_key) &&
	       !xw_msg_add(m, s->sfd);
}

/* The client's end while the head goes out: the half-close rules apply already. */
static void on_client_early_end(struct loop *loop, int fd, uint32_t events, void *data)
{
	client_ended(data, events);
}

static void on_sandbox_writable(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct stream *s = data;
	int err = 0;
	socklen_t len = sizeof(err);

	if (s->state == ST_CONNECTING) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err) {
			raw_error(s->cfd, s->tid, 502,
				  "The action's server did not accept the connection.");
			stream_end(s, ACTIVATION_DEVELOPER_ERROR, "sandbox unreachable",
				   "The action's server did not accept the connection.",
				   "unreachable");
			return;
		}
		s->state = ST_HEAD;
		if (s->accel && !xw_accel_pair_get(s->accel, &s->pair)) {
			s->has_pair = true;
			s->into = into_sandbox(s);
		}
	}
	/* The head, then (to be spliced) what the client sent since, a piece at a time:
	 * a sandbox that does not read leaves this waiting for EPOLLOUT, nothing else. */
	for (;;) {
		err = flush_to(fd, &s->to_sandbox);
		if (err == -EAGAIN)
			return;
		if (err) {
			if (client_left(s))
				end_client_gone(s);
			else
				end_sandbox_failed(s, "sandbox closed the connection");
			return;
		}
		if (!s->has_pair || s->caught_up)
			break;
		err = client_catch_up(s);
		if (err) {
			end_client_gone(s);
			return;
		}
	}
	flow_start(s);
}

static bool hop_by_hop(const char *name)
{
	static const char *const names[] = {
	    "Connection",   "Keep-Alive",	 "Proxy-Connection",   "TE",
	    "Trailer",	    "Transfer-Encoding", "Content-Length",     "Upgrade",
	    "X-Request-ID", "X-OW-User",	 "X-OW-Activation-Id", "X-Forwarded-For"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(name, names[i]))
			return true;
	return false;
}

/* The request as the action's server sees it: its own path, the client's headers, the
 * node's ids, and a body framing it can trust (the server may have de-chunked it). */
static int build_head(struct stream *s)
{
	struct http_request *req = s->req;
	struct buf *b = &s->to_sandbox;
	const char *colon = strrchr(req->peer, ':');
	int err = 0;

	err |= buf_printf(b, "%s %s HTTP/1.1\r\n", http_method_str(req->method), s->target);
	for (size_t i = 0; i < req->nheaders; i++)
		if (!hop_by_hop(req->headers[i].name))
			err |= buf_printf(b, "%s: %s\r\n", req->headers[i].name,
					  req->headers[i].value);
	if (s->upgrade)
		err |= buf_printf(b, "Connection: Upgrade\r\nUpgrade: %s\r\n",
				  http_req_header(req, "Upgrade"));
	else
		err |= buf_puts(b, "Connection: close\r\n");
	if (req->early && req->content_length)
		err |= buf_printf(b, "Content-Length: %llu\r\n",
				  (unsigned long long)req->content_length);
	else if (!req->early && (req->body.len || http_req_header(req, "Content-Length") ||
				 http_req_header(req, "Transfer-Encoding")))
		err |= buf_printf(b, "Content-Length: %zu\r\n", req->body.len);
	err |=
	    buf_printf(b, "X-Forwarded-For: %.*s\r\nX-Request-ID: %s\r\nX-OW-Activation-Id: %s\r\n",
		       (int)(colon ? colon - req->peer : (long)strlen(req->peer)), req->peer,
		       s->tid, s->activation_id);
	if (s->user[0])
		err |= buf_printf(b, "X-OW-User: %s\r\n", s->user);
	err |= buf_puts(b, "\r\n");
	s->head_len = b->len;
	s->body_len = req->early ? req->content_length : req->body.len;
	if (!req->early && req->body.len)
		err |= buf_append(b, req->body.data, req->body.len);
	return err ? -ENOMEM : 0;
}

/* The activation holds room in a sandbox: take the client's connection and connect. */
static void on_sandbox_room(struct invocation *inv, void *data)
{
	struct stream *s = data;
	struct sockaddr_in sa;
	int fd;

	s->inv = inv;
	s->answered = true;
	if (build_head(s)) {
		reply_error(s->req, s->tid, 503, "The node is out of memory.");
		stream_end(s, ACTIVATION_WHISK_ERROR, "no memory", "The node is out of memory.",
			   NULL);
		return;
	}
	fd = http_req_take(s->req, &s->to_sandbox);
	if (fd == -EPIPE) {
		/* Gone while it waited: the request is answered to no one (and freed). */
		http_resp_send(s->req, 499, NULL, NULL, 0);
		end_client_gone(s);
		return;
	}
	if (fd < 0) {
		reply_error(s->req, s->tid, 503, "The connection cannot be streamed.");
		stream_end(s, ACTIVATION_WHISK_ERROR, "not streamable",
			   "The connection cannot be streamed.", NULL);
		return;
	}
	s->taken = true;
	s->cfd = fd;
	s->accel = accel_get(s->w);
	s->body_read = s->to_sandbox.len - s->head_len;
	s->state = ST_CONNECTING;
	s->deadline = loop_timer_add(s->w->loop, s->timeout_ms, on_deadline, s);
	sandbox_addr(s, &sa);
	s->sfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->sfd < 0 ||
	    (connect(s->sfd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) ||
	    loop_add_fd(s->w->loop, s->sfd, EPOLLOUT, on_sandbox_writable, s) < 0) {
		raw_error(s->cfd, s->tid, 502,
			  "The action's server did not accept the connection.");
		stream_end(s, ACTIVATION_DEVELOPER_ERROR, "sandbox unreachable",
			   "The action's server did not accept the connection.", "unreachable");
		return;
	}
	/* Only its end matters until the splice: the body waits in the kernel. */
	if (loop_add_fd(s->w->loop, s->cfd, EPOLLRDHUP, on_client_early_end, s) < 0) {
		end_client_gone(s);
		return;
	}
}

/* The record is spooled: the activation is over. */
static void on_stream_record(struct record *record, void *data)
{
	struct stream *s = data;

	if (!s->answered) {
		/* It never got a sandbox (a failed cold start, a queue that timed out). */
		const json_t *res = record_result(record);
		const char *msg = json_string_value(json_object_get(res, "error"));

		reply_error(s->req, s->tid, 502, "%s",
			    msg ? msg : "The action could not be started.");
	}
	stream_free(s);
}

int stream_web(const struct stream_call *call)
{
	struct http_request *req = call->req;
	struct activation_refusal why;
	struct activation *act;
	struct stream *s;

	if (!call->a->web_stream) {
		if (!req->early || req->content_length <= PAYLOAD_MAX)
			return -ENOTSUP;
		/* Not read because it might have been a stream: the 413 it always got. */
		reply_error(req, call->tid, 413, PAYLOAD_TOO_LARGE,
			    (unsigned long long)req->content_length, PAYLOAD_MAX);
		return 0;
	}
	s = calloc(1, sizeof(*s));
	if (!s) {
		reply_error(req, call->tid, 503, "The node is out of memory.");
		return 0;
	}
	s->w = call->w;
	s->req = req;
	s->cfd = s->sfd = s->probe_fd = -1;
	s->timeout_ms = call->a->timeout_ms;
	s->upgrade = http_req_header(req, "Upgrade") != NULL;
	snprintf(s->tid, sizeof(s->tid), "%s", call->tid);
	snprintf(s->user, sizeof(s->user), "%s", call->user ? call->user : "");
	if (asprintf(&s->target, "%s%s%s", *raw_rest(req->path) ? raw_rest(req->path) : "/",
		     req->query ? "?" : "", req->query ? req->query : "") < 0) {
		s->target = NULL;
		reply_error(req, call->tid, 503, "The node is out of memory.");
		stream_free(s);
		return 0;
	}
	act = activation_admit(call->w, call->owner, true, &why);
	if (act && !activation_start(act,
				     &(struct activation_spec){
					 .action = call->a,
					 .tid = call->tid,
					 .params = json_object(),
					 .params_mode = PARAMS_AS_IS,
					 .wait_ms = ACTIVATION_WAIT_END,
					 .listener = on_stream_record,
					 .data = s,
					 .session = on_sandbox_room,
					 .session_data = s,
				     },
				     s->activation_id, &why))
		return 0;
	if (why.status == 429)
		reply_throttled(req, call->tid, why.message, why.retry_after_s);
	else
		reply_error(req, call->tid, why.status, "%s", why.message);
	stream_free(s);
	return 0;
}
