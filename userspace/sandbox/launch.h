/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Starting a sandbox's init: clone3() into new PID, network, mount, IPC and UTS
 * namespaces, then, in the child and before exec:
 *   join the cgroup; create the veth pair (host end on the bridge, "eth0" inside) and
 *   give eth0 its address and default route; build the root: a read-only view of the
 *   host paths the runtimes need (rootfs.c) on a small tmpfs, a fresh /proc and /sys, a
 *   minimal /dev, a private /tmp and the action's directory at /action; pivot into it;
 *   set the hostname; drop every capability (bounding set included), switch to the
 *   sandbox user, set no_new_privs, install the seccomp filter; exec the kind's command.
 *
 * The child reports on status_fd: "V<ifindex>\n" when the veth exists (if the plan has a
 * network policy gate), "S" when the setup is done, "E<step>:<errno>\n" when a step failed. Readiness after that is the command's business (XWHISK_READY_FD) or
 * the manager's (a TCP probe). The child only makes syscalls: a multi-threaded parent
 * may have left allocator locks held at clone time.
 */
#ifndef XWHISK_SANDBOX_LAUNCH_H
#define XWHISK_SANDBOX_LAUNCH_H

#include <limits.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <sys/types.h>

#include "cgroup.h"

/* File descriptors the sandbox command finds (besides 0, 1 and 2). */
#define SPAWN_READY_FD 3   /* the status pipe, for commands that report readiness */
#define SPAWN_LOOP_IN_FD 4 /* a zygote-made language loop: its stdin */
#define SPAWN_LOOP_OUT_FD 5 /* ... and its results */
#define SPAWN_OOM_FD 6     /* the memory cgroup's OOM counter file */
#define SPAWN_LOOP_LOG_FD 7 /* a zygote-made loop's stdout (read end), and its stderr at 8 */
#define SPAWN_LAST_FD 8

/* One host path a sandbox sees, read-only, at the same path (rootfs.c). */
struct rootfs_entry {
	char *path;
	char *link; /* recreated as this symlink (/bin -> usr/bin) rather than bound */
	bool dir;   /* else a file */
};

struct rootfs {
	struct rootfs_entry *entries;
	size_t n, cap;
	char **hide; /* host directories masked by an empty read-only tmpfs */
	size_t nhide;
};

/*
 * The allow-list (programs, libraries, a few files of /etc) plus expose: absolute host
 * paths (a file or a directory) the sandbox must see too. On failure *bad names the
 * expose path at fault, if any.
 */
int rootfs_scan(struct rootfs *rf, const char *const *expose, const char *const *hide,
		const char **bad);
void rootfs_free(struct rootfs *rf);

enum spawn_step {
	STEP_SIGNALS = 1,
	STEP_CGROUP,
	STEP_NET_SYSCTL,
	STEP_NET_VETH,
	STEP_NET_ADDR,
	STEP_MOUNT_PRIVATE,
	STEP_MOUNT_ROOT,
	STEP_MOUNT_BIND,
	STEP_MOUNT_READONLY,
	STEP_MOUNT_PROC,
	STEP_MOUNT_DEV,
	STEP_MOUNT_TMP,
	STEP_MOUNT_ACTION,
	STEP_PIVOT,
	STEP_HOSTNAME,
	STEP_FDS,
	STEP_PRIVS,
	STEP_EXEC,
	STEP_NET_POLICY,
	STEP_SECCOMP,
	STEP_NET_RPS,
	STEP_WORKDIR,
};

const char *spawn_step_name(int step);

/* At most this many rootfs entries under /tmp (bound after the sandbox's own /tmp). */
#define SPAWN_MAX_TMP_BINDS 4

struct spawn_plan {
	const struct rootfs *rootfs;
	const struct sock_fprog *seccomp; /* installed last before exec, or NULL */
	unsigned tmp_mb;   /* size of /tmp */
	const char *hostname;
	const char *workdir; /* the command's working directory in the sandbox (NULL: /) */
	/* network */
	int host_nl_fd;    /* rtnetlink socket in the host network namespace */
	const char *veth_host;
	int bridge_ifindex;
	in_addr_t ip, gw;  /* network order */
	int prefix;
	unsigned char mac[6]; /* eth0's, see sandbox_mac() */
	/*
	 * RPS CPU mask (rps_cpus syntax) for the receive queue of both veth ends, or "": the
	 * second TCP stack's receive work of a spliced stream (the veth hop) then runs on
	 * another CPU than the softirq that received the client's bytes. eth0 gets it from
	 * the sandbox namespace's net.core.rps_default_mask, set before the veth exists.
	 */
	const char *rps_mask;
	/*
	 * The network policy's gate, or -1 and -1: once the veth exists the child reports
	 * "V<host ifindex>\n" on status_fd and, before it execs, waits for a byte on
	 * net_gate_fd (the parent attaches sandbox_tc meanwhile); end of file fails the start.
	 * net_gate_peer_fd is the gate's write end, which the child closes.
	 */
	int net_gate_fd, net_gate_peer_fd;
	/* cgroup */
	int cgroup_version;
	int join_fds[CG_NCTRL]; /* v1: cgroup.procs files; v2: join_fds[0] is the directory */
	int njoin;
	/* the command's file descriptors */
	int out_fd, err_fd; /* log pipes, opened read-write so writers never see EPIPE */
	int status_fd;
	bool notify;        /* status_fd stays open in the command as SPAWN_READY_FD */
	int loop_in_fd, loop_out_fd; /* or -1 */
	int loop_log_fds[2];         /* its stdout and stderr, read ends (with loop_in_fd) */
	int oom_fd;         /* or -1 */
	uid_t uid;
	gid_t gid;
	int cap_last;
	char *const *argv;
	char *const *envp;
};

/* Returns 0 and the child's pid and pidfd (close-on-exec), or a negative errno. */
int spawn_sandbox(const struct spawn_plan *plan, pid_t *ret_pid, int *ret_pidfd);

#endif
