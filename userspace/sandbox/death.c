// SPDX-License-Identifier: Apache-2.0
/*
 * A sandbox's end: the kill, the pidfd's report of the death (told to the owner, or a
 * stem cell replaced, or a start failed), and the cleanup of what it leaves behind.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>

#include "log.h"
#include "sandbox_internal.h"

#ifndef P_PIDFD
#define P_PIDFD 3 /* glibc 2.36 lacks it; linux/wait.h clashes with sys/wait.h */
#endif

void sb_on_death(struct loop *loop, int fd, uint32_t events, void *data)
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
	/* Killed by the host's OOM killer, not for its own limit: the platform's doing. */
	if (cgroup_oom_was_host(sb->oom_fd))
		reason = SANDBOX_KILLED;
	else if (cgroup_oom_kills(sb->oom_fd) > 0)
		reason = SANDBOX_OOM;
	switch (sb->phase) {
	case SB_STARTING:
		/* A failure record may still sit in the status pipe. */
		if (sb->status_fd >= 0)
			sb_on_status(m->loop, sb->status_fd, EPOLLIN, sb);
		if (sb->phase == SB_STARTING)
			sb_fail(sb, sb->child_step ? -sb->child_errno : -ECHILD);
		break;
	case SB_READY:
		if (sb->handing) {
			request_requeue_handing(sb);
		} else if (!sb->owned) {
			pr_info("sandbox %s: stem cell of %s died (%s %d)", sb->st.id,
				sb->kp->rt->kind, reason == SANDBOX_OOM ? "oom" : "status", status);
			kind_pool_remove(sb);
			manager_schedule(m);
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

void sb_kill(struct sandbox *sb)
{
	struct sandbox_manager *m = sb->m;

	if (sb->phase == SB_DYING)
		return;
	request_requeue_handing(sb);
	sb->phase = SB_DYING;
	sb->owned = false;
	cancel_timer(m, &sb->start_timer);
	cancel_timer(m, &sb->probe_timer);
	unwatch_fd(m, &sb->probe_fd);
	unwatch_fd(m, &sb->status_fd);
	close_fd(&sb->net_gate_fd);
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

void sb_cleanup(struct sandbox *sb)
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
	sb_net_detach(sb);
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
		manager_schedule(m); /* an address for a start that had none */
	}
	err = remove_tree(sb->dir);
	if (err)
		pr_warn("sandbox %s: cannot remove %s: %s", sb->st.id, sb->dir, strerror(-err));
	sb_unlink(sb);
	free(sb->st.label);
	free(sb);
}
