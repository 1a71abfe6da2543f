// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include "rtnl.h"
#include "launch.h"
#include "syscall_filter.h"

/*
 * The sandbox root is assembled over /tmp in the child's private mount namespace: /tmp
 * exists everywhere and is not part of the view (the sandbox gets its own), so binding
 * host directories under it can never bind the assembly point into itself.
 */
#define ROOT "/tmp"
/* net.ipv4.tcp_rmem in a sandbox: min, initial, max (see child_network). */
#define SANDBOX_TCP_RMEM "4096 33554432 33554432"

static const char *const step_names[] = {
	[STEP_SIGNALS] = "signals",
	[STEP_CGROUP] = "cgroup",
	[STEP_NET_SYSCTL] = "net-sysctl",
	[STEP_NET_VETH] = "veth",
	[STEP_NET_RPS] = "veth-rps",
	[STEP_NET_ADDR] = "address",
	[STEP_MOUNT_PRIVATE] = "mount-private",
	[STEP_MOUNT_ROOT] = "mount-root",
	[STEP_MOUNT_BIND] = "mount-bind",
	[STEP_MOUNT_READONLY] = "mount-readonly",
	[STEP_MOUNT_PROC] = "mount-proc",
	[STEP_MOUNT_DEV] = "mount-dev",
	[STEP_MOUNT_TMP] = "mount-tmp",
	[STEP_MOUNT_ACTION] = "mount-action",
	[STEP_PIVOT] = "pivot-root",
	[STEP_HOSTNAME] = "hostname",
	[STEP_FDS] = "fds",
	[STEP_PRIVS] = "privileges",
	[STEP_EXEC] = "exec",
	[STEP_NET_POLICY] = "network policy",
	[STEP_SECCOMP] = "seccomp",
	[STEP_WORKDIR] = "working directory",
};

const char *spawn_step_name(int step)
{
	if (step <= 0 || step >= (int)(sizeof(step_names) / sizeof(step_names[0])))
		return "unknown";
	return step_names[step];
}

/* ---- the child: syscalls and stack buffers only ---- */

struct pathbuf {
	char s[PATH_MAX];
};

static const char *cat(struct pathbuf *b, const char *a, const char *c)
{
	size_t la = strlen(a), lc = strlen(c);

	if (la + lc + 1 > sizeof(b->s))
		lc = sizeof(b->s) - la - 1;
	memcpy(b->s, a, la);
	memcpy(b->s + la, c, lc);
	b->s[la + lc] = '\0';
	return b->s;
}

static size_t utoa(char *out, unsigned long v)
{
	char tmp[24];
	size_t n = 0, i = 0;

	do
		tmp[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	while (n)
		out[i++] = tmp[--n];
	return i;
}

static void report(int fd, const char *msg, size_t len)
{
	while (len) {
		ssize_t n = write(fd, msg, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		msg += n;
		len -= (size_t)n;
	}
}

static __attribute__((noreturn)) void child_fail(int fd, int step, int err)
{
	char msg[48];
	size_t n = 0;

	msg[n++] = 'E';
	n += utoa(msg + n, (unsigned long)step);
	msg[n++] = ':';
	n += utoa(msg + n, (unsigned long)(err < 0 ? -err : err));
	msg[n++] = '\n';
	report(fd, msg, n);
	_exit(127);
}

static int write_str(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	close(fd);
	return n < 0 ? -errno : 0;
}

static void child_signals(void)
{
	struct sigaction dfl = { .sa_handler = SIG_DFL };
	sigset_t none;

	/* The parent may block signals for its signalfd and ignore SIGPIPE; exec keeps both. */
	for (int s = 1; s < NSIG; s++)
		(void)sigaction(s, &dfl, NULL);
	sigemptyset(&none);
	(void)sigprocmask(SIG_SETMASK, &none, NULL);
}

static int child_network(const struct spawn_plan *p)
{
	struct rtnl host = { .fd = p->host_nl_fd, .seq = 1 }, local = { .fd = -1 };
	int nsfd, err, eth;

	/*
	 * IPv4 only: eth0, created next, inherits "default" and gets no link-local address,
	 * duplicate detection or router solicitations. ("all" would also reconfigure lo,
	 * at a cost that shows in the refill rate.)
	 */
	(void)write_str("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1");
	/*
	 * A streaming action's upload reaches its server's socket by sock_accel's redirect
	 * (docs/EBPF.md, "Uploads into the sandbox's socket"), which moves at most the
	 * socket's receive buffer per clock tick and which TCP's autotuning never sees: the
	 * buffer starts large (uploads ran at 15 MB/s with the 128 KB a new namespace
	 * starts with, 322 and 512 MB/s with 8 and 16 MB, 1 GB/s with 32). A limit, not an
	 * allocation: what a sandbox does not read piles up in the kernel before it anyway.
	 */
	(void)write_str("/proc/sys/net/ipv4/tcp_rmem", SANDBOX_TCP_RMEM);
	nsfd = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC);
	if (nsfd < 0)
		return STEP_NET_VETH;
	/* eth0, made next in this namespace, takes its RPS mask from here. */
	if (p->rps_mask && p->rps_mask[0] &&
	    write_str("/proc/sys/net/core/rps_default_mask", p->rps_mask))
		return STEP_NET_RPS;
	err = rtnl_veth_create(&host, p->veth_host, p->bridge_ifindex, "eth0", p->mac, nsfd);
	close(nsfd);
	if (err) {
		errno = -err;
		return STEP_NET_VETH;
	}
	/* This /sys still shows the host's namespace: the host end is there. */
	if (p->rps_mask && p->rps_mask[0]) {
		struct pathbuf dev, q;

		cat(&dev, "/sys/class/net/", p->veth_host);
		if (write_str(cat(&q, dev.s, "/queues/rx-0/rps_cpus"), p->rps_mask))
			return STEP_NET_RPS;
	}
	eth = rtnl_link_index(&host, p->veth_host);
	if (eth > 0)
		(void)rtnl_bridge_port_isolate(&host, eth);
	if (p->net_gate_fd >= 0) {
		char msg[24];
		size_t n = 0;

		if (eth <= 0) {
			errno = eth < 0 ? -eth : ENODEV;
			return STEP_NET_POLICY;
		}
		msg[n++] = 'V';
		n += utoa(msg + n, (unsigned long)eth);
		msg[n++] = '\n';
		report(p->status_fd, msg, n);
	}
	err = rtnl_open(&local);
	if (!err)
		err = rtnl_link_up(&local, 1); /* lo is ifindex 1 in every namespace */
	if (!err) {
		eth = rtnl_link_index(&local, "eth0");
		err = eth < 0 ? eth : rtnl_addr_add(&local, eth, p->ip, p->prefix);
	}
	if (!err)
		err = rtnl_link_up(&local, eth);
	if (!err)
		err = rtnl_route_default(&local, eth, p->gw);
	rtnl_close(&local);
	if (err) {
		errno = -err;
		return STEP_NET_ADDR;
	}
	return 0;
}

static int mount_dev(void)
{
	static const struct {
		const char *name;
		unsigned major, minor;
	} nodes[] = {
		{ "/null", 1, 3 }, { "/zero", 1, 5 }, { "/full", 1, 7 },
		{ "/random", 1, 8 }, { "/urandom", 1, 9 }, { "/tty", 5, 0 },
	};
	static const char *const links[][2] = {
		{ "/proc/self/fd", "/fd" },	   { "/proc/self/fd/0", "/stdin" },
		{ "/proc/self/fd/1", "/stdout" }, { "/proc/self/fd/2", "/stderr" },
	};
	struct pathbuf b;
	const char *dev = ROOT "/dev";

	if (mount("tmpfs", dev, "tmpfs", MS_NOSUID | MS_NOEXEC, "mode=0755,size=64k"))
		return -1;
	for (size_t i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++)
		if (mknod(cat(&b, dev, nodes[i].name), S_IFCHR | 0666,
			  makedev(nodes[i].major, nodes[i].minor)))
			return -1;
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++)
		if (symlink(links[i][0], cat(&b, dev, links[i][1])))
			return -1;
	if (mkdir(cat(&b, dev, "/shm"), 01777) ||
	    mount("shm", b.s, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=1777,size=64m"))
		return -1;
	return mount(NULL, dev, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NOEXEC,
		     NULL);
}

/* base + path into b, with every directory above it made (mkdir -p, no allocator). */
static int make_parents(struct pathbuf *b, const char *base, const char *path)
{
	size_t len;

	cat(b, base, path);
	len = strlen(b->s);
	for (size_t i = strlen(base) + 1; i < len; i++) {
		if (b->s[i] != '/')
			continue;
		b->s[i] = '\0';
		if (mkdir(b->s, 0755) && errno != EEXIST)
			return -1;
		b->s[i] = '/';
	}
	return 0;
}

/*
 * Shows the host's e->path at the same path under base: a symlink recreated, or a bind
 * mount (of src, or of e->path) on a directory or an empty file made in base's tmpfs.
 * rootfs_scan() saw to it that no mount point is ever made inside a bound host directory.
 */
static int mount_entry(const struct rootfs_entry *e, const char *base, const char *src)
{
	struct pathbuf b;

	if (make_parents(&b, base, e->path))
		return -1;
	if (e->link)
		return symlink(e->link, b.s);
	if (e->dir ? mkdir(b.s, 0755) : mknod(b.s, S_IFREG | 0644, 0))
		return -1;
	/* Gone since the manager looked (a file of /etc replaced, say): the mount point
	 * stays empty rather than failing every start. */
	if (mount(src ? src : e->path, b.s, NULL, MS_BIND | MS_REC, NULL) && errno != ENOENT)
		return -1;
	return 0;
}

static bool under_tmp(const struct rootfs_entry *e)
{
	return !strncmp(e->path, "/tmp/", 5);
}

/* Entries under /tmp, once the sandbox's own /tmp is mounted: bound from the fds opened
 * before the assembly tmpfs covered the host's /tmp, read-only on their own. */
static int mount_tmp_entries(const struct rootfs *rf, const int *fds)
{
	struct mount_attr ro = {
		.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
	};
	struct pathbuf b, src;
	size_t n = 0;

	for (size_t i = 0; i < rf->n; i++) {
		if (!under_tmp(&rf->entries[i]))
			continue;
		memcpy(src.s, "/proc/self/fd/", 14);
		src.s[14 + utoa(src.s + 14, (unsigned long)fds[n++])] = '\0';
		if (mount_entry(&rf->entries[i], ROOT, src.s) ||
		    mount_setattr(AT_FDCWD, cat(&b, ROOT, rf->entries[i].path), AT_RECURSIVE, &ro,
				  sizeof(ro)))
			return -1;
	}
	return 0;
}

/* The read-only part of the root: the entries (but those under /tmp), the mount
 * points, the masks. */
static int child_view(const struct rootfs *rf)
{
	static const char *const mountpoints[] = { "/proc", "/dev", "/sys", "/tmp", "/run",
						   "/action" };
	struct mount_attr ro = {
		.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
	};
	struct pathbuf b;

	for (size_t i = 0; i < rf->n; i++)
		if (!under_tmp(&rf->entries[i]) && mount_entry(&rf->entries[i], ROOT, NULL))
			return STEP_MOUNT_BIND;
	for (size_t i = 0; i < sizeof(mountpoints) / sizeof(mountpoints[0]); i++)
		if (mkdir(cat(&b, ROOT, mountpoints[i]), 0755) && errno != EEXIST)
			return STEP_MOUNT_ROOT;
	if (mount_setattr(AT_FDCWD, ROOT, AT_RECURSIVE, &ro, sizeof(ro)))
		return STEP_MOUNT_READONLY;
	for (size_t i = 0; i < rf->nhide; i++)
		if (mount("hidden", cat(&b, ROOT, rf->hide[i]), "tmpfs",
			  MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=4k,mode=0755") &&
		    errno != ENOENT && errno != ENOTDIR)
			return STEP_MOUNT_READONLY;
	return 0;
}

/* "mode=0755,size=<memory>m,uid=<uid>,gid=<gid>" into out (64 bytes): async-signal-safe. */
static const char *action_opts(const struct spawn_plan *p, char *out)
{
	size_t n = 0;

	memcpy(out, "mode=0755,size=", 15);
	n = 15 + utoa(out + 15, p->tmp_mb ? p->tmp_mb : 64);
	memcpy(out + n, "m,uid=", 6);
	n += 6 + utoa(out + n + 6, p->uid);
	memcpy(out + n, ",gid=", 5);
	n += 5 + utoa(out + n + 5, p->gid);
	out[n] = '\0';
	return out;
}

static int child_mounts(const struct spawn_plan *p)
{
	const struct rootfs *rf = p->rootfs;
	int tmp_fds[SPAWN_MAX_TMP_BINDS], step;
	size_t n, ntmp = 0;
	char opts[64];

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL))
		return STEP_MOUNT_PRIVATE;
	for (size_t i = 0; i < rf->n; i++) {
		if (!under_tmp(&rf->entries[i]))
			continue;
		if (ntmp == SPAWN_MAX_TMP_BINDS) {
			errno = E2BIG;
			return STEP_MOUNT_BIND;
		}
		tmp_fds[ntmp] = open(rf->entries[i].path, O_PATH | O_CLOEXEC);
		if (tmp_fds[ntmp++] < 0)
			return STEP_MOUNT_BIND;
	}
	if (mount("xwhisk", ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64k"))
		return STEP_MOUNT_ROOT;
	step = child_view(rf);
	if (step)
		return step;
	if (mount("proc", ROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL))
		return STEP_MOUNT_PROC;
	/* A fresh sysfs shows the sandbox's own network devices, not the host's. */
	if (mount("sysfs", ROOT "/sys", "sysfs", MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC,
		  NULL))
		return STEP_MOUNT_PROC;
	if (mount_dev())
		return STEP_MOUNT_DEV;
	memcpy(opts, "mode=1777,size=", 15);
	n = 15 + utoa(opts + 15, p->tmp_mb ? p->tmp_mb : 64);
	memcpy(opts + n, "m", 2);
	if (mount("tmpfs", ROOT "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, opts))
		return STEP_MOUNT_TMP;
	if (mount_tmp_entries(rf, tmp_fds))
		return STEP_MOUNT_BIND;
	/* The action's files live in memory the sandbox's cgroup is charged for, up to its
	 * memory limit: an action cannot fill the host's disk through /action. */
	if (mount("tmpfs", ROOT "/action", "tmpfs", MS_NOSUID | MS_NODEV, action_opts(p, opts)))
		return STEP_MOUNT_ACTION;
	if (chdir(ROOT) || syscall(SYS_pivot_root, ".", ".") || umount2(".", MNT_DETACH) ||
	    chdir("/"))
		return STEP_PIVOT;
	/* Official runtime images unpack a zip into their working directory: the manifest
	 * can make it a writable one (/action). */
	if (p->workdir && chdir(p->workdir))
		return STEP_WORKDIR;
	return 0;
}

/* Moves each source fd to its target number; everything else closes at exec. */
static int child_fds(const struct spawn_plan *p, int *status_fd)
{
	int src[9], n = 0, devnull;
	int target[9];

	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0)
		return -1;
	src[n] = devnull, target[n++] = 0;
	src[n] = p->out_fd, target[n++] = 1;
	src[n] = p->err_fd, target[n++] = 2;
	if (p->notify)
		src[n] = p->status_fd, target[n++] = SPAWN_READY_FD;
	if (p->loop_in_fd >= 0) {
		src[n] = p->loop_in_fd, target[n++] = SPAWN_LOOP_IN_FD;
		src[n] = p->loop_out_fd, target[n++] = SPAWN_LOOP_OUT_FD;
		src[n] = p->loop_log_fds[0], target[n++] = SPAWN_LOOP_LOG_FD;
		src[n] = p->loop_log_fds[1], target[n++] = SPAWN_LOOP_LOG_FD + 1;
	}
	if (p->oom_fd >= 0)
		src[n] = p->oom_fd, target[n++] = SPAWN_OOM_FD;
	/* First out of the way (a source may sit on another's target), then into place. */
	for (int i = 0; i < n; i++) {
		src[i] = fcntl(src[i], F_DUPFD_CLOEXEC, 100);
		if (src[i] < 0)
			return -1;
	}
	*status_fd = fcntl(p->status_fd, F_DUPFD_CLOEXEC, 100);
	if (*status_fd < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (dup2(src[i], target[i]) < 0)
			return -1;
	/* A slot with nothing to hold must not pass on whatever the parent had there. */
	for (int fd = SPAWN_READY_FD; fd <= SPAWN_LAST_FD; fd++) {
		bool used = false;

		for (int i = 0; i < n; i++)
			used |= target[i] == fd;
		if (!used)
			(void)close(fd);
	}
	return close_range(SPAWN_LAST_FD + 1, ~0u, CLOSE_RANGE_CLOEXEC);
}

static int child_privileges(const struct spawn_plan *p)
{
	/* The bounding set first: dropping it needs CAP_SETPCAP, which setuid takes away. */
	for (int cap = 0; cap <= p->cap_last; cap++)
		if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) && errno != EINVAL)
			return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) && errno != EINVAL)
		return -1;
	/* Raw syscalls: glibc's wrappers would try to signal the parent's other threads. */
	if (syscall(SYS_setgroups, 0, NULL) || syscall(SYS_setresgid, p->gid, p->gid, p->gid) ||
	    syscall(SYS_setresuid, p->uid, p->uid, p->uid))
		return -1;
	/* A non-zero uid with no file capabilities left: every capability set is now empty. */
	return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
}

/* Nothing the sandbox runs may send before the parent attached the network policy. */
static int child_wait_gate(const struct spawn_plan *p)
{
	char c;
	ssize_t n;

	/* Ours closed, the parent's end is the only writer left: its death is an EOF. */
	(void)close(p->net_gate_peer_fd);
	do
		n = read(p->net_gate_fd, &c, 1);
	while (n < 0 && errno == EINTR);
	if (n == 1)
		return 0;
	if (!n)
		errno = EPIPE;
	return -1;
}

static __attribute__((noreturn)) void child_main(const struct spawn_plan *p)
{
	int sfd = p->status_fd, step;

	umask(0);
	child_signals();
	/* A session of its own: a signal to the node's process group (Ctrl-C in a terminal,
	 * a supervisor's kill of the group) does not reach the sandboxes it must leave
	 * running for the next node to adopt. */
	(void)setsid();
	if (p->cgroup_version == 1)
		for (int i = 0; i < p->njoin; i++)
			if (write(p->join_fds[i], "0", 1) != 1)
				child_fail(sfd, STEP_CGROUP, errno);
	step = child_network(p);
	if (step)
		child_fail(sfd, step, errno);
	step = child_mounts(p);
	if (step)
		child_fail(sfd, step, errno);
	if (sethostname(p->hostname, strlen(p->hostname)))
		child_fail(sfd, STEP_HOSTNAME, errno);
	if (p->net_gate_fd >= 0 && child_wait_gate(p))
		child_fail(sfd, STEP_NET_POLICY, errno);
	if (child_fds(p, &sfd))
		child_fail(sfd, STEP_FDS, errno);
	if (child_privileges(p))
		child_fail(sfd, STEP_PRIVS, errno);
	/* Last: the filter refuses nothing the steps above need, but it is the command's. */
	if (p->seccomp && syscall_filter_install(p->seccomp))
		child_fail(sfd, STEP_SECCOMP, errno);
	umask(022);
	report(sfd, "S", 1);
	execve(p->argv[0], p->argv, p->envp);
	child_fail(sfd, STEP_EXEC, errno);
}

int spawn_sandbox(const struct spawn_plan *plan, pid_t *ret_pid, int *ret_pidfd)
{
	struct clone_args args = {
		.flags = CLONE_PIDFD | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWIPC |
			 CLONE_NEWUTS,
		.exit_signal = SIGCHLD,
	};
	int pidfd = -1;
	long pid;

	args.pidfd = (uint64_t)(uintptr_t)&pidfd;
	if (plan->cgroup_version == 2 && plan->njoin) {
		args.flags |= CLONE_INTO_CGROUP;
		args.cgroup = (uint64_t)plan->join_fds[0];
	}
	pid = syscall(SYS_clone3, &args, sizeof(args));
	if (pid < 0)
		return -errno;
	if (pid == 0)
		child_main(plan);
	*ret_pid = (pid_t)pid;
	*ret_pidfd = pidfd;
	return 0;
}
