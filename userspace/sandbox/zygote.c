// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json.h"
#include "log.h"
#include "util.h"
#include "zygote.h"

#define RESTART_MIN_MS 100
#define RESTART_MAX_MS 30000

struct zreq {
	zygote_cb cb;
	void *data;
	struct zreq *next;
};

struct zygote {
	struct loop *loop;
	char **argv, **envp;
	int filter_fd; /* the manager's */
	pid_t pid;
	int pidfd, sock;
	bool ready;
	struct zreq *head, *tail;
	unsigned failures;
	struct loop_timer *restart;
};

static int zygote_start(struct zygote *z);
static void zygote_lost(struct zygote *z);

static void fail_pending(struct zygote *z, int err)
{
	while (z->head) {
		struct zreq *r = z->head;

		z->head = r->next;
		if (r->cb)
			r->cb(err, r->data);
		free(r);
	}
	z->tail = NULL;
}

static void on_restart(struct loop *loop, void *data)
{
	struct zygote *z = data;

	(void)loop;
	z->restart = NULL;
	if (zygote_start(z) && !z->restart)
		zygote_lost(z);
}

/* Kills and reaps the zygote; pending requests fail. */
static void zygote_stop(struct zygote *z)
{
	if (z->sock >= 0) {
		loop_del_fd(z->loop, z->sock);
		close(z->sock);
		z->sock = -1;
	}
	if (z->pidfd >= 0) {
		loop_del_fd(z->loop, z->pidfd);
		(void)pidfd_send_signal(z->pidfd, SIGKILL, NULL, 0);
		close(z->pidfd);
		z->pidfd = -1;
	}
	if (z->pid > 0)
		(void)waitpid(z->pid, NULL, 0);
	z->pid = 0;
	z->ready = false;
	fail_pending(z, -ECHILD);
}

/* The zygote died or spoke nonsense: forget it and start another one later. */
static void zygote_lost(struct zygote *z)
{
	unsigned delay = RESTART_MIN_MS << (z->failures < 9 ? z->failures : 9);

	zygote_stop(z);
	if (delay > RESTART_MAX_MS)
		delay = RESTART_MAX_MS;
	z->failures++;
	pr_warn("sandbox: zygote %s went away, restarting in %u ms", z->argv[0], delay);
	if (!z->restart)
		z->restart = loop_timer_add(z->loop, delay, on_restart, z);
}

static void on_message(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct zygote *z = data;
	char buf[4096], errbuf[80];
	struct zreq *r;
	json_t *msg;
	ssize_t n;

	(void)loop;
	(void)events;
	n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		zygote_lost(z);
		return;
	}
	msg = json_parse(buf, (size_t)n, errbuf, sizeof(errbuf));
	if (json_is_true(json_object_get(msg, "ready"))) {
		z->ready = true;
		z->failures = 0;
		json_decref(msg);
		return;
	}
	r = z->head;
	if (!r || !json_is_object(msg)) {
		json_decref(msg);
		zygote_lost(z);
		return;
	}
	z->head = r->next;
	if (!z->head)
		z->tail = NULL;
	if (r->cb) {
		const char *err = json_obj_str(msg, "error");

		if (err)
			pr_debug("sandbox: zygote: %s", err);
		r->cb(err ? -ECHILD : 0, r->data);
	}
	free(r);
	json_decref(msg);
}

static void on_exit_event(struct loop *loop, int fd, uint32_t events, void *data)
{
	(void)loop;
	(void)fd;
	(void)events;
	zygote_lost(data);
}

static int zygote_start(struct zygote *z)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int sv[2], err;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	/* Its own session, like the sandboxes it forks into: not killed with the node's group. */
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
					       POSIX_SPAWN_SETSID);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, sv[1], 3);
	posix_spawn_file_actions_adddup2(&fa, z->filter_fd, 4);
	err = -posix_spawn(&pid, z->argv[0], &fa, &attr, z->argv, z->envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(sv[1]);
	if (err) {
		close(sv[0]);
		return err;
	}
	z->pid = pid;
	z->sock = sv[0];
	z->pidfd = pidfd_open(pid, 0);
	if (z->pidfd < 0 || loop_add_fd(z->loop, z->pidfd, EPOLLIN, on_exit_event, z) ||
	    loop_add_fd(z->loop, z->sock, EPOLLIN, on_message, z)) {
		zygote_lost(z);
		return -EIO;
	}
	return 0;
}

struct zygote *zygote_new(struct loop *loop, char *const argv[], char *const envp[],
			  int filter_fd)
{
	struct zygote *z = calloc(1, sizeof(*z));

	if (!z)
		return NULL;
	z->loop = loop;
	z->pidfd = z->sock = -1;
	z->filter_fd = filter_fd;
	z->argv = strv_dup(argv);
	z->envp = strv_dup(envp);
	if (!z->argv || !z->envp) {
		zygote_free(z);
		errno = ENOMEM;
		return NULL;
	}
	if (zygote_start(z) && !z->restart)
		zygote_lost(z); /* sandboxes start without it meanwhile */
	return z;
}

void zygote_free(struct zygote *z)
{
	if (!z)
		return;
	if (z->restart)
		loop_timer_cancel(z->loop, z->restart);
	zygote_stop(z);
	strv_free(z->argv);
	strv_free(z->envp);
	free(z);
}

bool zygote_ready(const struct zygote *z)
{
	return z && z->ready;
}

int zygote_fork(struct zygote *z, const char *json, const int fds[ZYGOTE_NFDS], zygote_cb cb,
		void *data)
{
	char cbuf[CMSG_SPACE(sizeof(int) * ZYGOTE_NFDS)];
	struct iovec iov = { .iov_base = (void *)json, .iov_len = strlen(json) };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	struct zreq *r;

	if (!zygote_ready(z))
		return -EAGAIN;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	memset(cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&mh);
	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int) * ZYGOTE_NFDS);
	memcpy(CMSG_DATA(cm), fds, sizeof(int) * ZYGOTE_NFDS);
	if (sendmsg(z->sock, &mh, MSG_NOSIGNAL) < 0) {
		int err = -errno;

		free(r);
		return err;
	}
	r->cb = cb;
	r->data = data;
	if (z->tail)
		z->tail->next = r;
	else
		z->head = r;
	z->tail = r;
	return 0;
}

void zygote_forget(struct zygote *z, void *data)
{
	if (!z)
		return;
	for (struct zreq *r = z->head; r; r = r->next)
		if (r->data == data)
			r->cb = NULL;
}
