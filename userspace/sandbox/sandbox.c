// SPDX-License-Identifier: Apache-2.0
/*
 * The sandbox manager: starts sandboxes (launch.c), keeps the stem-cell pools and
 * the requests waiting for them, watches each sandbox's pidfd, readiness pipe and
 * output, and records what a restarted node needs (persist.c).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "buf.h"
#include "cgroup.h"
#include "ipam.h"
#include "json.h"
#include "log.h"
#include "logpipe.h"
#include "kinds.h"
#include "rtnl.h"
#include "sandbox.h"
#include "launch.h"
#include "persist.h"
#include "util.h"
#include "zygote.h"

#ifndef P_PIDFD
#define P_PIDFD 3 /* glibc 2.36 lacks it; linux/wait.h clashes with sys/wait.h */
#endif

#define DEFAULT_MAX_STARTING 8
#define DEFAULT_START_TIMEOUT_MS 30000
#define DEFAULT_PIDS_MAX 1024
#define NOBODY 65534
#define LOG_PIPE_SIZE (256 << 10)
#define PROBE_MIN_MS 2
#define PROBE_MAX_MS 50
#define CLEANUP_RETRY_MS 10
#define CLEANUP_MAX_TRIES 300
#define FAILURES_BEFORE_ERRORS 3
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000

enum sb_phase { SB_STARTING, SB_READY, SB_DYING };

struct kind_pool {
	struct sandbox_manager *m;
	struct runtime_kind *rt;
	struct sandbox *idle; /* stem cells, most recent first */
	unsigned nidle, nstarting;
	struct sandbox_request *waiting, *waiting_tail;
	unsigned nwaiting;
	struct zygote *zygote;
	char *zygote_env; /* the "env" member of zygote requests, as JSON */
	unsigned failures;
	int last_err;          /* of the last failed start */
	uint64_t backoff_until;
};

struct sandbox {
	struct sandbox_manager *m;
	struct kind_pool *kp;
	struct sandbox_state st;
	char dir[PATH_MAX];
	enum sb_phase phase;
	bool owned;     /* handed out: callbacks go to the owner */
	bool unclaimed; /* adopted at start, not yet given back by sandbox_manager_adopted() */
	bool in_exit_cb;
	bool delete_veth; /* its namespace may outlive its processes */
	bool ready_seen;
	bool setup_done;
	in_addr_t ip;
	pid_t pid;
	int pidfd;
	int status_fd;
	char status[128];
	size_t status_len;
	int child_step, child_errno;
	int probe_fd;
	unsigned probe_delay;
	struct loop_timer *probe_timer;
	struct loop_timer *start_timer;
	int zfds[ZYGOTE_NFDS]; /* handed to the zygote once the sandbox is set up */
	bool use_zygote;
	struct logpipe out, err;
	int oom_fd;
	struct loop_timer *cleanup_timer;
	unsigned cleanup_tries;
	void *data;
	struct sandbox_request *handing; /* assigned, its request's callback not run yet */
	struct sandbox *prev, *next; /* every sandbox of the manager */
	struct sandbox *pool_next;
};

struct sandbox_request {
	struct sandbox_manager *m;
	struct kind_pool *kp;
	unsigned memory_mb;
	sandbox_ready_cb cb;
	void *data;
	struct sandbox *sb; /* assigned; the callback is on its way */
	int err;
	bool queued;
	struct loop_timer *timer;
	struct sandbox_request *next;
};

struct sandbox_manager {
	struct loop *loop;
	struct sandbox_callbacks cb;
	void *cb_data;
	char *state_dir;
	char *platform_dirs[3]; /* the proxy's directory, the runtimes', NULL */
	char *api_host;
	uid_t uid;
	gid_t gid;
	unsigned max_starting, start_timeout_ms, pids_max;
	struct manifest manifest;
	struct kind_pool *pools;
	struct cgroup_tree cgtree;
	struct ipam ipam;
	struct rootfs rootfs;
	struct rtnl nl;
	int bridge_ifindex;
	int cap_last;
	bool draining;
	unsigned nstarting;
	struct sandbox *all;
	struct sandbox_request *due; /* completed, callback not run yet */
	struct loop_timer *schedule_timer;
	struct loop_timer *backoff_timer; /* a schedule when the earliest back-off ends */
	struct sandbox_stats stats;
};

static void schedule(struct sandbox_manager *m);
static void sb_kill(struct sandbox *sb);
static void sb_cleanup(struct sandbox *sb);

/* ---- small helpers ---- */

static void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static void unwatch_fd(struct sandbox_manager *m, int *fd)
{
	if (*fd >= 0) {
		loop_del_fd(m->loop, *fd);
		close_fd(fd);
	}
}

static void cancel_timer(struct sandbox_manager *m, struct loop_timer **t)
{
	if (*t) {
		loop_timer_cancel(m->loop, *t);
		*t = NULL;
	}
}

static struct sandbox *sb_alloc(struct sandbox_manager *m, struct kind_pool *kp)
{
	struct sandbox *sb = calloc(1, sizeof(*sb));

	if (!sb)
		return NULL;
	sb->m = m;
	sb->kp = kp;
	sb->pidfd = sb->status_fd = sb->probe_fd = sb->oom_fd = -1;
	sb->out.fd = sb->err.fd = -1;
	for (int i = 0; i < ZYGOTE_NFDS; i++)
		sb->zfds[i] = -1;
	sb->next = m->all;
	if (m->all)
		m->all->prev = sb;
	m->all = sb;
	return sb;
}

static void sb_unlink(struct sandbox *sb)
{
	struct sandbox_manager *m = sb->m;

	if (sb->prev)
		sb->prev->next = sb->next;
	else
		m->all = sb->next;
	if (sb->next)
		sb->next->prev = sb->prev;
}

static void pool_remove(struct sandbox *sb)
{
	struct kind_pool *kp = sb->kp;

	if (!kp) /* found dead at adoption: never pooled */
		return;
	for (struct sandbox **p = &kp->idle; *p; p = &(*p)->pool_next) {
		if (*p == sb) {
			*p = sb->pool_next;
			sb->pool_next = NULL;
			kp->nidle--;
			return;
		}
	}
}

static void pool_push(struct sandbox *sb)
{
	sb->pool_next = sb->kp->idle;
	sb->kp->idle = sb;
	sb->kp->nidle++;
}

static void save_state(struct sandbox *sb)
{
	int err = state_write(sb->dir, &sb->st);

	if (err)
		pr_warn("sandbox %s: cannot write its state: %s", sb->st.id, strerror(-err));
}

/* ---- requests ---- */

static void due_remove(struct sandbox_request *req)
{
	for (struct sandbox_request **p = &req->m->due; *p; p = &(*p)->next) {
		if (*p == req) {
			*p = req->next;
			req->next = NULL;
			return;
		}
	}
}

static void on_request_due(struct loop *loop, void *data)
{
	struct sandbox_request *req = data;

	(void)loop;
	req->timer = NULL;
	due_remove(req);
	if (req->sb)
		req->sb->handing = NULL;
	req->cb(req->sb, req->sb ? 0 : req->err, req->data);
	free(req);
}

/* Completes req on the next loop iteration: callers never see a callback re-entering. */
static void request_complete(struct sandbox_request *req, struct sandbox *sb, int err)
{
	req->sb = sb;
	req->err = err;
	if (sb)
		sb->handing = req;
	req->timer = loop_timer_add(req->m->loop, 0, on_request_due, req);
	if (!req->timer) {
		if (sb)
			sb->handing = NULL;
		req->cb(sb, sb ? 0 : err, req->data);
		free(req);
		return;
	}
	req->next = req->m->due;
	req->m->due = req;
}

static void request_enqueue(struct sandbox_request *req)
{
	struct kind_pool *kp = req->kp;

	req->queued = true;
	req->next = NULL;
	if (kp->waiting_tail)
		kp->waiting_tail->next = req;
	else
		kp->waiting = req;
	kp->waiting_tail = req;
	kp->nwaiting++;
}

static struct sandbox_request *request_dequeue(struct kind_pool *kp, struct sandbox_request *which)
{
	struct sandbox_request *prev = NULL;

	for (struct sandbox_request *r = kp->waiting; r; prev = r, r = r->next) {
		if (which && r != which)
			continue;
		if (prev)
			prev->next = r->next;
		else
			kp->waiting = r->next;
		if (kp->waiting_tail == r)
			kp->waiting_tail = prev;
		kp->nwaiting--;
		r->queued = false;
		r->next = NULL;
		return r;
	}
	return NULL;
}

/* Hands a ready sandbox to a request, at the memory limit it asked for. */
static void assign(struct sandbox *sb, struct sandbox_request *req)
{
	sb->owned = true;
	sb->st.pooled = false;
	if (req->memory_mb && req->memory_mb != sb->st.memory_mb) {
		int err = cgroup_set_limits(&sb->st.cgroup, req->memory_mb, sb->m->pids_max);

		if (err)
			pr_warn("sandbox %s: cannot set its memory limit to %u MB: %s", sb->st.id,
				req->memory_mb, strerror(-err));
		else
			sb->st.memory_mb = req->memory_mb;
	}
	save_state(sb);
	request_complete(req, sb, 0);
}

/* Back to the pool: a cancelled request's sandbox was never used. */
static void unassign(struct sandbox *sb)
{
	sb->owned = false;
	sb->st.pooled = true;
	if (sb->m->draining) {
		sb_kill(sb);
		return;
	}
	save_state(sb);
	pool_push(sb);
}

/* ---- readiness ---- */

static void sb_ready(struct sandbox *sb)
{
	struct kind_pool *kp = sb->kp;
	struct sandbox_manager *m = sb->m;
	struct sandbox_request *req;

	if (sb->phase != SB_STARTING)
		return;
	sb->phase = SB_READY;
	cancel_timer(m, &sb->start_timer);
	cancel_timer(m, &sb->probe_timer);
	unwatch_fd(m, &sb->probe_fd);
	kp->nstarting--;
	m->nstarting--;
	kp->failures = 0;
	m->stats.started++;
	/*
	 * Recorded only now (assign() records it too): a restarted node must not hand out
	 * a sandbox that was still starting. One found without a record is killed and
	 * cleaned up by its id.
	 */
	req = request_dequeue(kp, NULL);
	if (req) {
		assign(sb, req);
	} else if (m->draining) {
		sb_kill(sb);
	} else {
		save_state(sb);
		pool_push(sb);
	}
	schedule(m);
}

/* A kind that failed this often in a row is failing: see start_failed(). */
static bool kind_failing(const struct kind_pool *kp)
{
	return kp->failures >= FAILURES_BEFORE_ERRORS;
}

static void fail_waiting(struct kind_pool *kp, int err)
{
	struct sandbox_request *req;

	while ((req = request_dequeue(kp, NULL)))
		request_complete(req, NULL, err);
}

/*
 * A start of kind failed, before or after the clone: the kind backs off (schedule_now()
 * comes back when the back-off ends). A one-off failure (a transient kernel error) costs
 * the waiting requests nothing: another start is made for them. A failing kind fails its
 * waiting requests, and those that come during its back-off, at once; afterwards one
 * trial start at a time is made, however many wait.
 */
static void start_failed(struct kind_pool *kp, int err)
{
	struct sandbox_manager *m = kp->m;
	unsigned delay;

	kp->nstarting--;
	m->nstarting--;
	m->stats.failed++;
	delay = BACKOFF_MIN_MS << (kp->failures < 9 ? kp->failures : 9);
	kp->backoff_until = clock_mono_ms() + (delay > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : delay);
	kp->failures++;
	kp->last_err = err;
	if (kind_failing(kp))
		fail_waiting(kp, err);
	schedule(m);
}

static void sb_fail(struct sandbox *sb, int err)
{
	struct kind_pool *kp = sb->kp;

	if (sb->phase != SB_STARTING)
		return;
	if (sb->child_step)
		pr_warn("sandbox %s (%s): setup failed at %s: %s", sb->st.id, kp->rt->kind,
			spawn_step_name(sb->child_step), strerror(sb->child_errno));
	else
		pr_warn("sandbox %s (%s): did not start: %s", sb->st.id, kp->rt->kind,
			strerror(-err));
	start_failed(kp, err);
	sb_kill(sb);
}

static void on_start_timeout(struct loop *loop, void *data)
{
	struct sandbox *sb = data;

	(void)loop;
	sb->start_timer = NULL;
	sb_fail(sb, -ETIMEDOUT);
}

static void probe_again(struct loop *loop, void *data);

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

static void probe_again(struct loop *loop, void *data)
{
	struct sandbox *sb = data;

	(void)loop;
	sb->probe_timer = NULL;
	probe_start(sb);
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
			else if (!strncmp(s, "READY=1", 7))
				sb->ready_seen = true;
			used = (size_t)(nl - s) + 1;
		}
		memmove(sb->status, sb->status + used, sb->status_len - used);
		sb->status_len -= used;
	}
}

static void on_status(struct loop *loop, int fd, uint32_t events, void *data)
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

/* ---- output ---- */

static void on_log(void *owner, int stream, const char *line, size_t len, uint64_t ts,
		   bool sentinel)
{
	struct sandbox *sb = owner;
	struct sandbox_manager *m = sb->m;

	if (sb->owned && !sb->handing && !sb->unclaimed && sb->phase == SB_READY && m->cb.log)
		m->cb.log(sb, (enum sandbox_stream)stream, line, len, ts, sentinel, m->cb_data);
	else
		pr_debug("sandbox %s %s: %.*s", sb->st.id, stream == 1 ? "stdout" : "stderr",
			 (int)len, line);
}

static int watch_logs(struct sandbox *sb, int out_fd, int err_fd)
{
	int err;

	err = logpipe_open(&sb->out, sb->m->loop, out_fd, SANDBOX_STDOUT, on_log, sb);
	if (err) {
		close(err_fd);
		sb->err.fd = -1;
		return err;
	}
	return logpipe_open(&sb->err, sb->m->loop, err_fd, SANDBOX_STDERR, on_log, sb);
}

/* ---- death ---- */

/* A sandbox being handed over died first: its request waits for another one. */
static void requeue_handing(struct sandbox *sb)
{
	struct sandbox_request *req = sb->handing;

	if (!req)
		return;
	sb->handing = NULL;
	cancel_timer(sb->m, &req->timer);
	due_remove(req);
	req->sb = NULL;
	if (sb->m->draining) {
		request_complete(req, NULL, -ECANCELED);
		return;
	}
	request_enqueue(req);
	schedule(sb->m);
}

static void on_death(struct loop *loop, int fd, uint32_t events, void *data)
{
	struct sandbox *sb = data;
	struct sandbox_manager *m = sb->m;
	enum sandbox_exit_reason reason = SANDBOX_EXITED;
	siginfo_t si = { 0 };
	int status = 0;

	(void)loop;
	(void)events;
	loop_del_fd(m->loop, fd);
	/* Only our own children can be reaped; adopted ones were reparented. */
	if (!waitid(P_PIDFD, (id_t)fd, &si, WEXITED | WNOHANG) && si.si_pid) {
		status = si.si_status;
		if (si.si_code == CLD_KILLED || si.si_code == CLD_DUMPED)
			reason = SANDBOX_KILLED;
	}
	if (cgroup_oom_kills(sb->oom_fd) > 0)
		reason = SANDBOX_OOM;
	switch (sb->phase) {
	case SB_STARTING:
		/* A failure record may still sit in the status pipe. */
		if (sb->status_fd >= 0)
			on_status(m->loop, sb->status_fd, EPOLLIN, sb);
		if (sb->phase == SB_STARTING)
			sb_fail(sb, sb->child_step ? -sb->child_errno : -ECHILD);
		break;
	case SB_READY:
		if (sb->handing) {
			requeue_handing(sb);
		} else if (!sb->owned) {
			pr_info("sandbox %s: stem cell of %s died (%s %d)", sb->st.id,
				sb->kp->rt->kind, reason == SANDBOX_OOM ? "oom" : "status", status);
			pool_remove(sb);
			schedule(m);
		} else if (!sb->unclaimed) {
			logpipe_drain(&sb->out);
			logpipe_drain(&sb->err);
			sb->in_exit_cb = true;
			if (m->cb.exited)
				m->cb.exited(sb, reason, status, m->cb_data);
		}
		break;
	case SB_DYING:
		break;
	}
	sb_cleanup(sb);
}

/* Starts killing: the pidfd reports the end and sb_cleanup() follows. */
static void sb_kill(struct sandbox *sb)
{
	struct sandbox_manager *m = sb->m;

	if (sb->phase == SB_DYING)
		return;
	requeue_handing(sb);
	sb->phase = SB_DYING;
	sb->owned = false;
	cancel_timer(m, &sb->start_timer);
	cancel_timer(m, &sb->probe_timer);
	unwatch_fd(m, &sb->probe_fd);
	unwatch_fd(m, &sb->status_fd);
	if (sb->kp)
		zygote_forget(sb->kp->zygote, sb);
	if (sb->pidfd < 0) {
		sb_cleanup(sb);
		return;
	}
	/* Killing the namespace's init takes every process in it along. */
	if (pidfd_send_signal(sb->pidfd, SIGKILL, NULL, 0) && errno != ESRCH)
		pr_warn("sandbox %s: kill: %s", sb->st.id, strerror(errno));
}

static void cleanup_retry(struct loop *loop, void *data)
{
	struct sandbox *sb = data;

	(void)loop;
	sb->cleanup_timer = NULL;
	sb_cleanup(sb);
}

/* Removes what the sandbox leaves behind once its processes are gone; frees sb. */
static void sb_cleanup(struct sandbox *sb)
{
	struct sandbox_manager *m = sb->m;
	int err;

	sb->phase = SB_DYING;
	unwatch_fd(m, &sb->pidfd);
	unwatch_fd(m, &sb->status_fd);
	logpipe_close(&sb->out);
	logpipe_close(&sb->err);
	close_fd(&sb->oom_fd);
	for (int i = 0; i < ZYGOTE_NFDS; i++)
		close_fd(&sb->zfds[i]);
	/*
	 * The veth goes with the sandbox's network namespace, which the kernel tears down
	 * in batches: deleting it here would take the RTNL lock and wait for an RCU grace
	 * period per sandbox. Only one whose namespace may outlive us (found at adoption)
	 * is deleted by name.
	 */
	if (sb->st.veth[0] && sb->delete_veth) {
		err = rtnl_link_del(&m->nl, sb->st.veth);
		if (err && err != -ENODEV)
			pr_warn("sandbox %s: cannot delete %s: %s", sb->st.id, sb->st.veth,
				strerror(-err));
		sb->st.veth[0] = '\0';
	}
	err = cgroup_destroy(&sb->st.cgroup);
	if (err == -EBUSY && ++sb->cleanup_tries < CLEANUP_MAX_TRIES) {
		/* Stragglers outside the PID namespace (a zygote's intermediate child). */
		cgroup_kill_all(&sb->st.cgroup);
		sb->cleanup_timer = loop_timer_add(m->loop, CLEANUP_RETRY_MS, cleanup_retry, sb);
		if (sb->cleanup_timer)
			return;
	}
	if (err)
		pr_warn("sandbox %s: cannot remove its cgroup: %s", sb->st.id, strerror(-err));
	if (sb->ip) {
		ipam_release(&m->ipam, sb->ip);
		schedule(m); /* an address for a start that had none */
	}
	err = remove_tree(sb->dir);
	if (err)
		pr_warn("sandbox %s: cannot remove %s: %s", sb->st.id, sb->dir, strerror(-err));
	sb_unlink(sb);
	free(sb->st.label);
	free(sb);
}

/* ---- starting ---- */

/* The sandbox environment: the kind's base plus the fds the command finds. */
static char **build_env(struct sandbox_manager *m, struct kind_pool *kp, bool loop_fds)
{
	size_t n = 0, extra = 0;
	char **env;

	while (kp->rt->env[extra])
		extra++;
	env = calloc(extra + 10, sizeof(*env));
	if (!env)
		return NULL;
	env[n++] = strdup("PATH=" SANDBOX_PATH);
	env[n++] = strdup("HOME=/tmp");
	env[n++] = strdup("LANG=C.UTF-8");
	if (m->api_host && asprintf(&env[n++], "__OW_API_HOST=%s", m->api_host) < 0)
		env[n - 1] = NULL;
	if (kp->rt->notify)
		env[n++] = strdup("XWHISK_READY_FD=3");
	if (loop_fds)
		env[n++] = strdup("XWHISK_LOOP_FDS=4,5");
	env[n++] = strdup("XWHISK_OOM_FD=6");
	for (size_t i = 0; i < extra; i++)
		env[n++] = strdup(kp->rt->env[i]);
	for (size_t i = 0; i < n; i++) {
		if (!env[i]) {
			for (size_t j = 0; j < n; j++)
				free(env[j]);
			free(env);
			return NULL;
		}
	}
	return env;
}

/* A pipe whose write end is a read-write open of it: its holder never gets EPIPE. */
static int log_pipe(int *rd, int *wr)
{
	char path[64];
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return -errno;
	snprintf(path, sizeof(path), "/proc/self/fd/%d", p[1]);
	*wr = open(path, O_RDWR | O_CLOEXEC);
	close(p[1]);
	if (*wr < 0) {
		int err = -errno;

		close(p[0]);
		return err;
	}
	(void)fcntl(p[0], F_SETPIPE_SZ, LOG_PIPE_SIZE);
	*rd = p[0];
	return 0;
}

static int sb_start(struct kind_pool *kp)
{
	struct sandbox_manager *m = kp->m;
	struct spawn_plan plan = { .rootfs = &m->rootfs };
	struct rtnl hostnl = { .fd = -1 };
	int status[2] = { -1, -1 }, lin[2] = { -1, -1 }, lout[2] = { -1, -1 };
	int out_rd = -1, out_wr = -1, err_rd = -1, err_wr = -1;
	int join[CG_NCTRL], njoin = 0, err;
	char action[PATH_MAX], **env = NULL;
	struct sandbox *sb;
	struct in_addr ia;

	sb = sb_alloc(m, kp);
	if (!sb)
		return -ENOMEM;
	sb->phase = SB_STARTING;
	kp->nstarting++;
	m->nstarting++;
	for (int tries = 0;; tries++) {
		/* random_hex reseeds after a fork; mkdir() below refuses a live id anyway */
		random_hex(sb->st.id, SANDBOX_ID_LEN);
		snprintf(sb->dir, sizeof(sb->dir), "%s/%s", m->state_dir, sb->st.id);
		if (!mkdir(sb->dir, 0700))
			break;
		if (errno != EEXIST || tries > 8) {
			err = -errno;
			sb->dir[0] = '\0';
			goto out;
		}
	}
	snprintf(sb->st.kind, sizeof(sb->st.kind), "%s", kp->rt->kind);
	sb->st.memory_mb = kp->rt->memory_mb;
	sb->st.pooled = true;
	snprintf(action, sizeof(action), "%s/action", sb->dir);
	if (mkdir(action, 0755) < 0 || chown(action, m->uid, m->gid) < 0) {
		err = -errno;
		goto out;
	}
	sb->ip = ipam_alloc(&m->ipam);
	if (!sb->ip) {
		err = -ENOSPC;
		goto out;
	}
	ia.s_addr = sb->ip;
	inet_ntop(AF_INET, &ia, sb->st.ip, sizeof(sb->st.ip));
	snprintf(sb->st.veth, sizeof(sb->st.veth), "xw%s", sb->st.id);
	err = cgroup_create(&m->cgtree, sb->st.id, &sb->st.cgroup);
	if (!err)
		err = cgroup_set_limits(&sb->st.cgroup, sb->st.memory_mb, m->pids_max);
	if (err)
		goto out;
	njoin = cgroup_open_join(&sb->st.cgroup, join);
	if (njoin < 0) {
		err = njoin;
		njoin = 0;
		goto out;
	}
	sb->oom_fd = cgroup_open_oom(&sb->st.cgroup);
	if (pipe2(status, O_CLOEXEC) < 0) {
		err = -errno;
		goto out;
	}
	(void)fcntl(status[0], F_SETFL, O_NONBLOCK);
	err = log_pipe(&out_rd, &out_wr);
	if (!err)
		err = log_pipe(&err_rd, &err_wr);
	if (err)
		goto out;
	sb->use_zygote = zygote_ready(kp->zygote);
	if (sb->use_zygote && (pipe2(lin, O_CLOEXEC) < 0 || pipe2(lout, O_CLOEXEC) < 0)) {
		err = -errno;
		goto out;
	}
	err = rtnl_open(&hostnl);
	if (err)
		goto out;
	env = build_env(m, kp, sb->use_zygote);
	if (!env) {
		err = -ENOMEM;
		goto out;
	}
	plan.action_dir = action;
	plan.platform_dirs = (const char *const *)m->platform_dirs;
	plan.tmp_mb = sb->st.memory_mb;
	plan.hostname = "sandbox";
	plan.host_nl_fd = hostnl.fd;
	plan.veth_host = sb->st.veth;
	plan.bridge_ifindex = m->bridge_ifindex;
	plan.ip = sb->ip;
	plan.gw = ipam_gateway(&m->ipam);
	plan.prefix = m->ipam.prefix;
	/*
	 * The address a function of the IP: addresses are reused, and the node's neighbour
	 * entry for one may outlive its previous holder. With a random MAC that entry would
	 * point to a dead sandbox and stall traffic to the new one for seconds.
	 */
	plan.mac[0] = 0x02;
	plan.mac[1] = 0x78;
	memcpy(plan.mac + 2, &sb->ip, 4);
	plan.cgroup_version = m->cgtree.version;
	memcpy(plan.join_fds, join, sizeof(join));
	plan.njoin = njoin;
	plan.out_fd = out_wr;
	plan.err_fd = err_wr;
	plan.status_fd = status[1];
	plan.notify = kp->rt->notify;
	plan.loop_in_fd = sb->use_zygote ? lin[1] : -1;
	plan.loop_out_fd = sb->use_zygote ? lout[0] : -1;
	plan.oom_fd = sb->oom_fd;
	plan.uid = m->uid;
	plan.gid = m->gid;
	plan.cap_last = m->cap_last;
	plan.argv = kp->rt->command;
	plan.envp = env;
	err = spawn_sandbox(&plan, &sb->pid, &sb->pidfd);
	if (err)
		goto out;
	sb->st.pid = sb->pid;
	sb->st.start_time = proc_start_time(sb->pid);
	sb->st.created_ms = clock_real_ms();
	if (sb->use_zygote) {
		/* The loop's ends and the log writers go to the zygote once setup is done. */
		sb->zfds[1] = lin[0], lin[0] = -1;
		sb->zfds[2] = lout[1], lout[1] = -1;
		sb->zfds[3] = out_wr, out_wr = -1;
		sb->zfds[4] = err_wr, err_wr = -1;
	}
	sb->status_fd = status[0];
	status[0] = -1;
	err = loop_add_fd(m->loop, sb->pidfd, EPOLLIN, on_death, sb);
	if (!err)
		err = loop_add_fd(m->loop, sb->status_fd, EPOLLIN, on_status, sb);
	if (!err)
		err = watch_logs(sb, out_rd, err_rd);
	out_rd = err_rd = -1;
	if (!err) {
		sb->start_timer = loop_timer_add(m->loop, m->start_timeout_ms, on_start_timeout,
						 sb);
		if (!sb->start_timer)
			err = -ENOMEM;
	}
out:
	for (int i = 0; i < njoin; i++)
		close(join[i]);
	close_fd(&status[0]);
	close_fd(&status[1]);
	close_fd(&out_rd);
	close_fd(&out_wr);
	close_fd(&err_rd);
	close_fd(&err_wr);
	for (int i = 0; i < 2; i++) {
		close_fd(&lin[i]);
		close_fd(&lout[i]);
	}
	rtnl_close(&hostnl);
	strv_free(env);
	if (err) {
		pr_warn("sandbox (%s): cannot start one: %s", kp->rt->kind, strerror(-err));
		if (sb->pidfd >= 0) {
			sb->phase = SB_STARTING;
			sb_fail(sb, err);
		} else {
			start_failed(kp, err);
			sb->phase = SB_DYING;
			sb_cleanup(sb);
		}
	}
	return err;
}

/* ---- the pool scheduler ---- */

static bool kind_wants_more(struct kind_pool *kp, bool for_requests, uint64_t now)
{
	unsigned want = kp->nwaiting + (for_requests ? 0 : kp->rt->stem_cells);

	/* Requests do not wait out the back-off of a one-off failure; a failing kind's do. */
	if ((!for_requests || kind_failing(kp)) && now < kp->backoff_until)
		return false;
	if (kind_failing(kp) && kp->nstarting)
		return false;
	return kp->nidle + kp->nstarting < want;
}

static void schedule_now(struct sandbox_manager *m);

static void on_schedule(struct loop *loop, void *data)
{
	struct sandbox_manager *m = data;

	(void)loop;
	m->schedule_timer = NULL;
	schedule_now(m);
}

static void on_backoff_over(struct loop *loop, void *data)
{
	struct sandbox_manager *m = data;

	(void)loop;
	m->backoff_timer = NULL;
	schedule_now(m);
}

static void schedule_now(struct sandbox_manager *m)
{
	uint64_t now = clock_mono_ms(), wake = 0;

	if (m->draining)
		return;
	/* Waiting requests first, then stem cells; a failing start stops a loop of them. */
	for (int pass = 0; pass < 2; pass++) {
		for (size_t i = 0; i < m->manifest.nkinds; i++) {
			struct kind_pool *kp = &m->pools[i];

			if (!pass && kind_failing(kp) && now < kp->backoff_until)
				fail_waiting(kp, kp->last_err);
			while (m->nstarting < m->max_starting && kind_wants_more(kp, !pass, now))
				if (sb_start(kp))
					break;
		}
	}
	/* Stem cells held back by a back-off are made when it ends, not at the next
	 * unrelated event. */
	for (size_t i = 0; i < m->manifest.nkinds; i++) {
		struct kind_pool *kp = &m->pools[i];

		if (kp->backoff_until > now && kind_wants_more(kp, false, kp->backoff_until) &&
		    (!wake || kp->backoff_until < wake))
			wake = kp->backoff_until;
	}
	/* Re-armed each time: a kind's new, shorter back-off must not wait for another's. */
	cancel_timer(m, &m->backoff_timer);
	if (wake)
		m->backoff_timer = loop_timer_add(m->loop, wake - now, on_backoff_over, m);
}

/* Deferred to the loop: starting sandboxes inside a callback chain invites re-entry. */
static void schedule(struct sandbox_manager *m)
{
	if (!m->schedule_timer && !m->draining)
		m->schedule_timer = loop_timer_add(m->loop, 0, on_schedule, m);
}

/* ---- adoption ---- */

/* A sandbox found dead (or half made) at start: remove what is left of it. */
static void adopt_dead(struct sandbox_manager *m, const char *dir, struct sandbox_state *st,
		       const char *id)
{
	struct sandbox *sb = sb_alloc(m, NULL);

	if (!sb) {
		free(st->label);
		return;
	}
	sb->st = *st;
	snprintf(sb->st.id, sizeof(sb->st.id), "%s", id);
	snprintf(sb->dir, sizeof(sb->dir), "%s", dir);
	if (!sb->st.veth[0])
		snprintf(sb->st.veth, sizeof(sb->st.veth), "xw%s", id);
	if (!sb->st.cgroup.dir[0][0])
		cgroup_from_name(&m->cgtree, id, &sb->st.cgroup);
	cgroup_kill_all(&sb->st.cgroup);
	sb->delete_veth = true;
	pr_info("sandbox %s: found dead, cleaning up", id);
	sb->phase = SB_DYING;
	sb_cleanup(sb);
}

static int adopt_live(struct sandbox_manager *m, const char *dir, struct sandbox_state *st,
		      int pidfd)
{
	struct runtime_kind *rt = manifest_find(&m->manifest, st->kind);
	struct sandbox *sb;
	struct in_addr ia;
	char path[64];
	int out_fd, err_fd, err;

	if (!rt || inet_pton(AF_INET, st->ip, &ia) != 1 || !ipam_reserve(&m->ipam, ia.s_addr))
		return -EINVAL;
	/* Reopening a pipe through /proc gives a new reader of the same pipe. */
	snprintf(path, sizeof(path), "/proc/%d/fd/1", (int)st->pid);
	out_fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	snprintf(path, sizeof(path), "/proc/%d/fd/2", (int)st->pid);
	err_fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	sb = out_fd >= 0 && err_fd >= 0 ? sb_alloc(m, &m->pools[rt - m->manifest.kinds]) : NULL;
	if (!sb) {
		if (out_fd >= 0)
			close(out_fd);
		if (err_fd >= 0)
			close(err_fd);
		ipam_release(&m->ipam, ia.s_addr);
		return -EIO;
	}
	sb->st = *st;
	sb->ip = ia.s_addr;
	sb->pid = st->pid;
	sb->pidfd = pidfd;
	sb->phase = SB_READY;
	snprintf(sb->dir, sizeof(sb->dir), "%s", dir);
	sb->oom_fd = cgroup_open_oom(&sb->st.cgroup);
	err = loop_add_fd(m->loop, pidfd, EPOLLIN, on_death, sb);
	if (!err)
		err = watch_logs(sb, out_fd, err_fd);
	else
		close(out_fd), close(err_fd);
	if (err) {
		pr_warn("sandbox %s: cannot re-attach, destroying it", st->id);
		sb_kill(sb);
		return 0;
	}
	if (st->pooled) {
		pool_push(sb);
	} else {
		sb->owned = true;
		sb->unclaimed = true;
	}
	pr_info("sandbox %s (%s, %s): re-adopted", st->id, st->kind,
		st->pooled ? "pooled" : "owned");
	return 0;
}

static void adopt_one(struct sandbox_manager *m, const char *id)
{
	struct sandbox_state st;
	char dir[PATH_MAX];
	int pidfd = -1;

	snprintf(dir, sizeof(dir), "%s/%s", m->state_dir, id);
	if (state_read(dir, &st) || strcmp(st.id, id)) {
		memset(&st, 0, sizeof(st));
		adopt_dead(m, dir, &st, id);
		return;
	}
	if (st.pid > 0 && st.start_time && proc_start_time(st.pid) == st.start_time) {
		pidfd = pidfd_open(st.pid, 0);
		/* The pidfd pins the pid: check once more that it is still the same process. */
		if (pidfd >= 0 && proc_start_time(st.pid) != st.start_time)
			close_fd(&pidfd);
	}
	if (pidfd >= 0) {
		(void)fcntl(pidfd, F_SETFD, FD_CLOEXEC);
		if (!adopt_live(m, dir, &st, pidfd))
			return;
		(void)pidfd_send_signal(pidfd, SIGKILL, NULL, 0);
		close(pidfd);
	}
	adopt_dead(m, dir, &st, id);
}

static void adopt_orphan_cgroup(const char *name, void *data)
{
	struct sandbox_manager *m = data;
	struct sandbox_state st;
	char dir[PATH_MAX];
	struct stat sbuf;

	snprintf(dir, sizeof(dir), "%s/%s", m->state_dir, name);
	if (strlen(name) != SANDBOX_ID_LEN || !stat(dir, &sbuf))
		return;
	/* A cgroup without a state directory: the node died while starting it. */
	memset(&st, 0, sizeof(st));
	adopt_dead(m, dir, &st, name);
}

static void adopt_all(struct sandbox_manager *m)
{
	DIR *d = opendir(m->state_dir);
	struct dirent *de;

	if (d) {
		while ((de = readdir(d))) {
			if (de->d_type != DT_DIR || strlen(de->d_name) != SANDBOX_ID_LEN ||
			    strspn(de->d_name, "0123456789abcdef") != SANDBOX_ID_LEN)
				continue;
			adopt_one(m, de->d_name);
		}
		closedir(d);
	}
	cgroup_tree_list(&m->cgtree, adopt_orphan_cgroup, m);
}

/* ---- the manager ---- */

static int read_cap_last(void)
{
	char buf[16] = "";
	int fd = open("/proc/sys/kernel/cap_last_cap", O_RDONLY | O_CLOEXEC);

	if (fd >= 0) {
		(void)!read(fd, buf, sizeof(buf) - 1);
		close(fd);
	}
	return buf[0] ? atoi(buf) : 63;
}

static char *zygote_env_json(struct sandbox_manager *m, struct runtime_kind *rt)
{
	json_t *o = json_object();
	char *s;

	json_object_set_new(o, "PATH", json_string(SANDBOX_PATH));
	json_object_set_new(o, "HOME", json_string("/tmp"));
	json_object_set_new(o, "LANG", json_string("C.UTF-8"));
	if (m->api_host)
		json_object_set_new(o, "__OW_API_HOST", json_string(m->api_host));
	for (char **e = rt->env; e && *e; e++) {
		char *eq = strchr(*e, '=');

		if (eq) {
			*eq = '\0';
			json_object_set_new(o, *e, json_string(eq + 1));
			*eq = '=';
		}
	}
	s = json_dump(o);
	json_decref(o);
	return s;
}

static int pools_init(struct sandbox_manager *m)
{
	m->pools = calloc(m->manifest.nkinds ? m->manifest.nkinds : 1, sizeof(*m->pools));
	if (!m->pools)
		return -ENOMEM;
	for (size_t i = 0; i < m->manifest.nkinds; i++) {
		struct kind_pool *kp = &m->pools[i];
		struct runtime_kind *rt = &m->manifest.kinds[i];

		kp->m = m;
		kp->rt = rt;
		if (!rt->zygote)
			continue;
		kp->zygote_env = zygote_env_json(m, rt);
		if (!kp->zygote_env)
			return -ENOMEM;
		/* The zygote runs as the host sees it, with the sandbox's PATH. */
		{
			/* Symbols bound once in the zygote, not lazily in every loop. */
			char *zenv[] = { "PATH=" SANDBOX_PATH, "LANG=C.UTF-8", "LD_BIND_NOW=1",
					 NULL };

			kp->zygote = zygote_new(m->loop, rt->zygote, zenv);
		}
	}
	return 0;
}

static char *dir_of(const char *path)
{
	char *d = strdup(path), *slash;

	if (d && (slash = strrchr(d, '/')))
		*slash = slash == d ? '/' : '\0';
	return d;
}

struct sandbox_manager *sandbox_manager_new(struct loop *loop, const struct sandbox_config *cfg,
					    const struct sandbox_callbacks *cb, void *data)
{
	const char *hide[64] = { NULL };
	const char *prewarm, *bad = NULL;
	char *runtimes_dir = NULL;
	struct sandbox_manager *m;
	size_t nhide = 0;
	int err = -EINVAL;

	if (!cfg->state_dir || !cfg->runtimes || !cfg->proxy) {
		errno = EINVAL;
		return NULL;
	}
	m = calloc(1, sizeof(*m));
	if (!m) {
		errno = ENOMEM;
		return NULL;
	}
	m->loop = loop;
	m->nl.fd = -1;
	if (cb)
		m->cb = *cb;
	m->cb_data = data;
	m->uid = cfg->uid ? cfg->uid : NOBODY;
	m->gid = cfg->gid ? cfg->gid : NOBODY;
	m->max_starting = cfg->max_starting ? cfg->max_starting : DEFAULT_MAX_STARTING;
	m->start_timeout_ms = cfg->start_timeout_ms ? cfg->start_timeout_ms :
						     DEFAULT_START_TIMEOUT_MS;
	m->pids_max = cfg->pids_max ? cfg->pids_max : DEFAULT_PIDS_MAX;
	m->cap_last = read_cap_last();
	m->state_dir = strdup(cfg->state_dir);
	m->api_host = cfg->api_host ? strdup(cfg->api_host) : NULL;
	runtimes_dir = cfg->runtimes_dir ? strdup(cfg->runtimes_dir) : dir_of(cfg->runtimes);
	if (!m->state_dir || !runtimes_dir || (cfg->api_host && !m->api_host)) {
		err = -ENOMEM;
		goto out;
	}
	err = mkdir_p(m->state_dir, 0700);
	if (err) {
		pr_err("sandbox: cannot create %s: %s", m->state_dir, strerror(-err));
		goto out;
	}
	m->platform_dirs[0] = dir_of(cfg->proxy);
	m->platform_dirs[1] = strdup(runtimes_dir);
	if (!m->platform_dirs[0] || !m->platform_dirs[1]) {
		err = -ENOMEM;
		goto out;
	}
	err = manifest_load(&m->manifest, cfg->runtimes, cfg->proxy, runtimes_dir);
	if (err) {
		pr_err("sandbox: cannot load the runtimes manifest %s: %s", cfg->runtimes,
		       strerror(-err));
		goto out;
	}
	prewarm = cfg->prewarm ? cfg->prewarm : getenv("XWHISK_PREWARM");
	if (prewarm) {
		err = manifest_prewarm(&m->manifest, prewarm, &bad);
		if (err) {
			pr_err("sandbox: bad prewarm setting '%s'%s%s", prewarm,
			       bad ? ": unknown kind " : "", bad ? bad : "");
			goto out;
		}
	}
	err = cgroup_tree_init(&m->cgtree, cfg->cgroup_parent);
	if (err) {
		pr_err("sandbox: no usable memory cgroup: %s", strerror(-err));
		goto out;
	}
	err = ipam_init(&m->ipam, cfg->subnet ? cfg->subnet : SANDBOX_DEFAULT_SUBNET);
	if (err) {
		pr_err("sandbox: bad subnet '%s'", cfg->subnet);
		goto out;
	}
	err = rtnl_open(&m->nl);
	if (err)
		goto out;
	m->bridge_ifindex = rtnl_bridge_ensure(&m->nl, cfg->bridge ? cfg->bridge :
								  SANDBOX_DEFAULT_BRIDGE,
					       ipam_gateway(&m->ipam), m->ipam.prefix);
	if (m->bridge_ifindex < 0) {
		err = m->bridge_ifindex;
		pr_err("sandbox: cannot set up the bridge: %s", strerror(-err));
		goto out;
	}
	hide[nhide++] = m->state_dir;
	for (size_t i = 0; cfg->hide && cfg->hide[i] && nhide < ARRAY_SIZE(hide) - 1; i++)
		hide[nhide++] = cfg->hide[i];
	err = rootfs_scan(&m->rootfs, hide);
	if (err)
		goto out;
	err = pools_init(m);
	if (err)
		goto out;
	adopt_all(m);
	schedule(m);
out:
	free(runtimes_dir);
	if (err) {
		sandbox_manager_free(m);
		errno = -err;
		return NULL;
	}
	return m;
}

void sandbox_manager_free(struct sandbox_manager *m)
{
	if (!m)
		return;
	cancel_timer(m, &m->schedule_timer);
	cancel_timer(m, &m->backoff_timer);
	while (m->due) {
		struct sandbox_request *req = m->due;

		m->due = req->next;
		cancel_timer(m, &req->timer);
		free(req);
	}
	while (m->all) {
		struct sandbox *sb = m->all;

		/* Detach only: the processes live on for the next manager to adopt. */
		cancel_timer(m, &sb->start_timer);
		cancel_timer(m, &sb->probe_timer);
		cancel_timer(m, &sb->cleanup_timer);
		unwatch_fd(m, &sb->probe_fd);
		unwatch_fd(m, &sb->pidfd);
		unwatch_fd(m, &sb->status_fd);
		logpipe_close(&sb->out);
		logpipe_close(&sb->err);
		close_fd(&sb->oom_fd);
		for (int i = 0; i < ZYGOTE_NFDS; i++)
			close_fd(&sb->zfds[i]);
		sb_unlink(sb);
		free(sb->st.label);
		free(sb);
	}
	for (size_t i = 0; m->pools && i < m->manifest.nkinds; i++) {
		struct kind_pool *kp = &m->pools[i];

		while (kp->waiting) {
			struct sandbox_request *r = request_dequeue(kp, NULL);

			free(r);
		}
		zygote_free(kp->zygote);
		free(kp->zygote_env);
	}
	/* Goes only when empty (after sandbox_manager_destroy_all); otherwise the cgroups of
	 * the sandboxes left for the next manager keep it (EBUSY). */
	(void)cgroup_tree_remove(&m->cgtree);
	free(m->pools);
	manifest_free(&m->manifest);
	rootfs_free(&m->rootfs);
	ipam_free(&m->ipam);
	rtnl_close(&m->nl);
	free(m->state_dir);
	free(m->platform_dirs[0]);
	free(m->platform_dirs[1]);
	free(m->api_host);
	free(m);
}

void sandbox_manager_destroy_all(struct sandbox_manager *m)
{
	struct sandbox *sb, *next;

	m->draining = true;
	cancel_timer(m, &m->schedule_timer);
	cancel_timer(m, &m->backoff_timer);
	for (size_t i = 0; i < m->manifest.nkinds; i++) {
		struct kind_pool *kp = &m->pools[i];
		struct sandbox_request *r;

		while ((r = request_dequeue(kp, NULL)))
			request_complete(r, NULL, -ECANCELED);
		kp->idle = NULL;
		kp->nidle = 0;
	}
	for (sb = m->all; sb; sb = next) {
		next = sb->next;
		if (sb->phase == SB_STARTING) {
			sb->kp->nstarting--;
			m->nstarting--;
		}
		if (sb->phase != SB_DYING)
			sb_kill(sb);
	}
}

void sandbox_manager_adopted(struct sandbox_manager *m, void (*cb)(struct sandbox *sb, void *data),
			     void *data)
{
	for (struct sandbox *sb = m->all; sb; sb = sb->next) {
		if (!sb->unclaimed)
			continue;
		sb->unclaimed = false;
		cb(sb, data);
	}
}

void sandbox_manager_stem_cells(const struct sandbox_manager *m,
				void (*cb)(const char *kind, const char *image, unsigned ready,
					   void *data),
				void *data)
{
	for (size_t i = 0; m->pools && i < m->manifest.nkinds; i++)
		cb(m->pools[i].rt->kind, m->pools[i].rt->image, m->pools[i].nidle, data);
}

bool sandbox_manager_has_kind(const struct sandbox_manager *m, const char *kind)
{
	return manifest_find(&m->manifest, kind) != NULL;
}

void sandbox_manager_stats(const struct sandbox_manager *m, struct sandbox_stats *st)
{
	*st = m->stats;
	st->live = st->pooled = st->starting = st->dying = 0;
	for (const struct sandbox *sb = m->all; sb; sb = sb->next) {
		if (sb->phase == SB_STARTING)
			st->starting++;
		else if (sb->phase == SB_DYING)
			st->dying++;
		else if (sb->owned)
			st->live++;
		else
			st->pooled++;
	}
}

struct sandbox_request *sandbox_acquire(struct sandbox_manager *m, const char *kind,
					unsigned memory_mb, sandbox_ready_cb cb, void *data)
{
	struct runtime_kind *rt = manifest_find(&m->manifest, kind);
	struct sandbox_request *req;
	struct kind_pool *kp;
	struct sandbox *sb;

	if (!rt || m->draining) {
		errno = rt ? ESHUTDOWN : ENOENT;
		return NULL;
	}
	kp = &m->pools[rt - m->manifest.kinds];
	req = calloc(1, sizeof(*req));
	if (!req) {
		errno = ENOMEM;
		return NULL;
	}
	req->m = m;
	req->kp = kp;
	req->memory_mb = memory_mb;
	req->cb = cb;
	req->data = data;
	sb = kp->idle;
	if (sb) {
		pool_remove(sb);
		m->stats.pool_hits++;
		assign(sb, req);
	} else {
		m->stats.pool_misses++;
		request_enqueue(req);
	}
	/* Either way the pool is short now, or someone waits. */
	schedule(m);
	return req;
}

void sandbox_acquire_cancel(struct sandbox_request *req)
{
	if (!req)
		return;
	if (req->queued)
		(void)request_dequeue(req->kp, req);
	if (req->timer) {
		cancel_timer(req->m, &req->timer);
		due_remove(req);
	}
	if (req->sb) {
		req->sb->handing = NULL;
		unassign(req->sb);
	}
	free(req);
}

void sandbox_destroy(struct sandbox *sb)
{
	if (!sb || sb->in_exit_cb || sb->phase == SB_DYING)
		return;
	sb->owned = false;
	sb_kill(sb);
}

const char *sandbox_id(const struct sandbox *sb)
{
	return sb->st.id;
}

const char *sandbox_kind(const struct sandbox *sb)
{
	return sb->st.kind;
}

unsigned sandbox_memory_mb(const struct sandbox *sb)
{
	return sb->st.memory_mb;
}

const char *sandbox_ip(const struct sandbox *sb)
{
	return sb->st.ip;
}

int sandbox_port(const struct sandbox *sb)
{
	(void)sb;
	return SANDBOX_PORT;
}

pid_t sandbox_pid(const struct sandbox *sb)
{
	return sb->pid;
}

int sandbox_set_label(struct sandbox *sb, const char *label)
{
	char *copy = label ? strdup(label) : NULL;

	if (label && !copy)
		return -ENOMEM;
	free(sb->st.label);
	sb->st.label = copy;
	return state_write(sb->dir, &sb->st);
}

const char *sandbox_label(const struct sandbox *sb)
{
	return sb->st.label;
}

void sandbox_set_data(struct sandbox *sb, void *data)
{
	sb->data = data;
}

void *sandbox_data(const struct sandbox *sb)
{
	return sb->data;
}
