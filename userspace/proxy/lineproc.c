// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "children.h"
#include "lineproc.h"


static void lp_unwatch(struct lineproc *lp, int *fd)
{
	if (*fd >= 0) {
		loop_del_fd(lp->loop, *fd);
		close(*fd);
		*fd = -1;
	}
}

/* Delivers complete lines; returns false once the reader hit end of file. */
static bool lp_read(struct lineproc *lp)
{
	for (;;) {
		bool filled;
		char *nl;
		ssize_t n;

		if (lp->out_fd < 0)
			return false;
		n = buf_read(&lp->rbuf, lp->out_fd, &filled);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno == EAGAIN;
		if (n == 0)
			return false;
		while ((nl = memchr(buf_head(&lp->rbuf), '\n', buf_pending(&lp->rbuf)))) {
			char *line = (char *)buf_head(&lp->rbuf);
			size_t len = (size_t)(nl - line);

			*nl = '\0';
			buf_consume(&lp->rbuf, len + 1);
			lp->ops->line(lp, line, len);
			if (lp->gone)
				return false;
		}
		/* Less than there was room for: the pipe is empty now, and the loop (level
		 * triggered) says when it is not; no read to hear EAGAIN. */
		if (!filled)
			return true;
	}
}

static void lp_gone(struct lineproc *lp)
{
	if (lp->gone)
		return;
	/* Answers written just before the end are still in the pipe. */
	(void)lp_read(lp);
	if (lp->gone)
		return;
	lp->gone = true;
	lp_unwatch(lp, &lp->out_fd);
	lp_unwatch(lp, &lp->in_fd);
	lp->ops->gone(lp);
}

static void on_out(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct lineproc *lp = data;

	(void)loop;
	(void)fd;
	(void)events;
	if (!lp_read(lp))
		lp_gone(lp);
}

static void lp_flush(struct lineproc *lp)
{
	while (buf_pending(&lp->wbuf)) {
		ssize_t n = write(lp->in_fd, buf_head(&lp->wbuf), buf_pending(&lp->wbuf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (errno != EAGAIN)
				buf_reset(&lp->wbuf); /* EPIPE: the end shows on its fd 3 */
			break;
		}
		buf_consume(&lp->wbuf, (size_t)n);
	}
	if (lp->in_fd >= 0)
		(void)loop_mod_fd(lp->loop, lp->in_fd, buf_pending(&lp->wbuf) ? EPOLLOUT : 0);
}

static void on_in(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct lineproc *lp = data;

	(void)loop;
	(void)fd;
	if (events & (EPOLLERR | EPOLLHUP))
		buf_reset(&lp->wbuf);
	lp_flush(lp);
}

static void on_exit_status(pid_t pid, int status, void *data)
{
	struct lineproc *lp = data;

	(void)pid;
	(void)status;
	lp->pid = 0;
	lp_gone(lp);
}

static int lp_watch(struct lineproc *lp)
{
	int err;

	(void)fcntl(lp->in_fd, F_SETFL, O_NONBLOCK);
	(void)fcntl(lp->out_fd, F_SETFL, O_NONBLOCK);
	err = loop_add_fd(lp->loop, lp->out_fd, EPOLLIN, on_out, lp);
	if (!err)
		err = loop_add_fd(lp->loop, lp->in_fd, 0, on_in, lp);
	return err;
}

static void lp_init(struct lineproc *lp, struct loop *loop, const struct lineproc_ops *ops,
		    void *data)
{
	memset(lp, 0, sizeof(*lp));
	lp->loop = loop;
	lp->ops = ops;
	lp->data = data;
	lp->in_fd = lp->out_fd = -1;
}

int lineproc_spawn(struct lineproc *lp, struct loop *loop, char *const argv[],
		   char *const envp[], const char *cwd, const struct lineproc_ops *ops, void *data)
{
	int in[2], out[2], fds[4], err;
	pid_t pid;

	lp_init(lp, loop, ops, data);
	if (pipe2(in, O_CLOEXEC) < 0)
		return -errno;
	if (pipe2(out, O_CLOEXEC) < 0) {
		err = -errno;
		close(in[0]);
		close(in[1]);
		return err;
	}
	fds[0] = in[0];
	fds[1] = fds[2] = -1;
	fds[3] = out[1];
	err = child_spawn(argv, envp, cwd, fds, &pid);
	close(in[0]);
	close(out[1]);
	lp->in_fd = in[1];
	lp->out_fd = out[0];
	if (!err) {
		lp->pid = pid;
		err = child_watch(pid, on_exit_status, lp);
	}
	if (!err)
		err = lp_watch(lp);
	if (err) {
		lineproc_kill(lp);
		lineproc_close(lp);
	}
	return err;
}

int lineproc_attach(struct lineproc *lp, struct loop *loop, int in_fd, int out_fd,
		    const struct lineproc_ops *ops, void *data)
{
	lp_init(lp, loop, ops, data);
	lp->in_fd = in_fd;
	lp->out_fd = out_fd;
	(void)fcntl(in_fd, F_SETFD, FD_CLOEXEC);
	(void)fcntl(out_fd, F_SETFD, FD_CLOEXEC);
	return lp_watch(lp);
}

int lineproc_send_parts(struct lineproc *lp, const struct iovec *parts, int n)
{
	if (lp->gone || lp->in_fd < 0)
		return -EPIPE;
	for (int i = 0; i < n; i++)
		if (buf_append(&lp->wbuf, parts[i].iov_base, parts[i].iov_len))
			return -ENOMEM;
	if (buf_append(&lp->wbuf, "\n", 1))
		return -ENOMEM;
	lp_flush(lp);
	return 0;
}

int lineproc_send(struct lineproc *lp, const char *data, size_t len)
{
	struct iovec part = { (void *)data, len };

	return lineproc_send_parts(lp, &part, 1);
}

void lineproc_kill(struct lineproc *lp)
{
	if (lp->pid > 0)
		(void)kill(lp->pid, SIGKILL);
}

void lineproc_close(struct lineproc *lp)
{
	if (!lp)
		return;
	if (lp->pid > 0)
		child_forget(lp->pid);
	lp->pid = 0;
	lp->gone = true;
	lp_unwatch(lp, &lp->out_fd);
	lp_unwatch(lp, &lp->in_fd);
	buf_free(&lp->wbuf);
	buf_free(&lp->rbuf);
}
