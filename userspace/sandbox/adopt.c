// SPDX-License-Identifier: Apache-2.0
/*
 * Re-adoption: the sandboxes a previous manager left in the state directory. Live ones
 * are re-attached (pidfd reopened, output pipes reopened through /proc/<pid>/fd) and go
 * back to their pool or, handed out before, to sandbox_manager_adopted(); dead ones, ones
 * caught starting and cgroups without a state directory are killed and removed.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>

#include "log.h"
#include "sandbox_internal.h"

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
	err = loop_add_fd(m->loop, pidfd, EPOLLIN, sb_on_death, sb);
	if (!err)
		err = sb_watch_logs(sb, out_fd, err_fd);
	else
		close(out_fd), close(err_fd);
	if (err) {
		pr_warn("sandbox %s: cannot re-attach, destroying it", st->id);
		sb_kill(sb);
		return 0;
	}
	sb_net_adopt(sb);
	if (st->pooled) {
		kind_pool_push(sb);
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

void adopt_all(struct sandbox_manager *m)
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
