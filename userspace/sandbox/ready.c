// SPDX-License-Identifier: Apache-2.0
/*
 * How a starting sandbox says it is ready. Its status pipe carries "V<ifindex>" (its veth
 * exists: the network policy is attached, net.c), "S" (set up), or
 * "E<step>:<errno>" (a setup step failed), then the command's "READY=1" for kinds that
 * report readiness; a kind with a zygote gets its language loop forked once set up; a
 * command that does not report readiness is ready when port 8080 accepts.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "buf.h"
#include "sandbox_internal.h"

/* ---- the TCP probe ---- */

static void probe_start(struct sandbox *sb);

static void probe_again(struct loop *loop, void *data)
{
	struct sandbox *sb = data;

	(void)loop;
	sb->probe_timer = NULL;
	probe_start(sb);
}

static void on_probe(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct sandbox *sb = data;
	int soerr = 0;
	socklen_t len = sizeof(soerr);

	(void)loop;
	(void)events;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len) < 0)
		soerr = errno;
	unwatch_fd(sb->m, &sb->probe_fd);
	if (!soerr) {
		sb_ready(sb);
		return;
	}
	sb->probe_delay = sb->probe_delay ? sb->probe_delay * 2 : PROBE_MIN_MS;
	if (sb->probe_delay > PROBE_MAX_MS)
		sb->probe_delay = PROBE_MAX_MS;
	sb->probe_timer = loop_timer_add(sb->m->loop, sb->probe_delay, probe_again, sb);
}

/* A command that does not report readiness is ready when port 8080 accepts. */
static void probe_start(struct sandbox *sb)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(SANDBOX_PORT) };
	int fd;

	sa.sin_addr.s_addr = sb->ip;
	fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		sb_fail(sb, -errno);
		return;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		close(fd);
		sb->probe_timer = loop_timer_add(sb->m->loop, PROBE_MIN_MS, probe_again, sb);
		return;
	}
	sb->probe_fd = fd;
	if (loop_add_fd(sb->m->loop, fd, EPOLLOUT, on_probe, sb)) {
		close_fd(&sb->probe_fd);
		sb_fail(sb, -EIO);
	}
}

/* ---- the zygote handshake ---- */

static void on_zygote_answer(int err, void *data)
{
	struct sandbox *sb = data;

	if (err)
		sb_fail(sb, err);
}

static int zygote_request(struct sandbox *sb)
{
	struct kind_pool *kp = sb->kp;
	struct sandbox_manager *m = sb->m;
	struct buf b = BUF_INIT;
	int err;

	sb->zfds[0] = sb->pidfd;
	buf_puts(&b, "{\"cgroups\":[");
	for (int c = 0, n = 0; c < CG_NCTRL; c++) {
		if (!sb->st.cgroup.dir[c][0])
			continue;
		buf_printf(&b, "%s\"%s/cgroup.procs\"", n++ ? "," : "", sb->st.cgroup.dir[c]);
	}
	buf_printf(&b, "],\"uid\":%u,\"gid\":%u,\"env\":%s}", (unsigned)m->uid, (unsigned)m->gid,
		   kp->zygote_env);
	err = b.data ? zygote_fork(kp->zygote, b.data, sb->zfds, on_zygote_answer, sb) : -ENOMEM;
	buf_free(&b);
	sb->zfds[0] = -1;
	/* In flight the fds are the zygote's; ours go now so the loop's EOF is its own. */
	for (int i = 1; i < ZYGOTE_NFDS; i++)
		close_fd(&sb->zfds[i]);
	return err;
}

/* ---- the status pipe: "S", "E<step>:<errno>", then the command's "READY=1" ---- */

static void status_parse(struct sandbox *sb)
{
	while (sb->status_len) {
		char *s = sb->status, *nl;
		size_t used;

		if (s[0] == 'S') {
			used = 1;
			sb->setup_done = true;
			if (sb->use_zygote) {
				int err = zygote_request(sb);

				if (err) {
					sb_fail(sb, err);
					return;
				}
			}
		} else {
			nl = memchr(s, '\n', sb->status_len);
			if (!nl) {
				if (sb->status_len == sizeof(sb->status))
					sb->status_len = 0; /* garbage: drop it */
				return;
			}
			*nl = '\0';
			if (s[0] == 'E')
				sscanf(s + 1, "%d:%d", &sb->child_step, &sb->child_errno);
			else if (s[0] == 'V')
				sb_net_attach(sb, atoi(s + 1));
			else if (!strncmp(s, "READY=1", 7))
				sb->ready_seen = true;
			used = (size_t)(nl - s) + 1;
		}
		memmove(sb->status, sb->status + used, sb->status_len - used);
		sb->status_len -= used;
	}
}

void sb_on_status(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct sandbox *sb = data;
	ssize_t n;

	(void)loop;
	(void)events;
	do {
		n = read(fd, sb->status + sb->status_len, sizeof(sb->status) - sb->status_len);
		if (n > 0) {
			sb->status_len += (size_t)n;
			status_parse(sb);
			if (sb->phase == SB_DYING)
				return; /* the status fd is closed already */
		}
	} while (n > 0 || (n < 0 && errno == EINTR));
	if (sb->phase == SB_STARTING && sb->ready_seen && sb->kp->rt->notify)
		sb_ready(sb);
	if (n < 0)
		return; /* EAGAIN: more to come */
	/* End of file: the command closed it, or exec'd (close-on-exec), or died. */
	unwatch_fd(sb->m, &sb->status_fd);
	if (sb->phase != SB_STARTING)
		return;
	if (sb->child_step)
		sb_fail(sb, -sb->child_errno);
	else if (!sb->setup_done || sb->kp->rt->notify)
		sb_fail(sb, -ECHILD);
	else
		probe_start(sb);
}
