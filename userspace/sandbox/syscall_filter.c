// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "syscall_filter.h"
#include "util.h"

/*
 * Refused outright (EPERM), as Docker's default profile refuses them to a container
 * that was given no extra capability. Most need a capability the sandbox does not have
 * anyway; refusing them here also closes the kernel code behind them, and the few that
 * work unprivileged (user namespaces through unshare, keyrings, userfaultfd, io_uring,
 * perf events, ptrace) are where kernel exploits have come from.
 *
 * ptrace and its relatives (process_vm_*, kcmp, pidfd_getfd, process_madvise): Docker
 * allows them on kernels from 4.8 on, where ptrace can no longer be used to slip past
 * seccomp. We refuse them: an action's processes are its language loop and the proxy
 * that frames its answers and logs, nothing in a runtime needs to inspect another
 * process, and ptrace remains a large surface for one function's code to reach.
 *
 * io_uring: refused as Docker does since 25.0 (its own history of exploits); libuv and
 * Python fall back to ordinary system calls.
 */
static const char *const denied[] = {
	/* kernel modules, kexec, reboot, swap, accounting */
	"init_module", "finit_module", "delete_module", "create_module", "query_module",
	"get_kernel_syms", "kexec_load", "kexec_file_load", "reboot", "swapon", "swapoff",
	"acct",
	/* mounts, root changes, namespaces */
	"mount", "umount", "umount2", "pivot_root", "fsopen", "fsconfig", "fsmount", "fspick",
	"move_mount", "open_tree", "mount_setattr", "setns",
	/* file handles (open_by_handle_at escapes a bind mount) */
	"name_to_handle_at", "open_by_handle_at",
	/* tracing and other processes' memory */
	"ptrace", "process_vm_readv", "process_vm_writev", "kcmp", "pidfd_getfd",
	"process_madvise",
	/* kernel facilities an action has no use for */
	"bpf", "perf_event_open", "userfaultfd", "io_uring_setup", "io_uring_enter",
	"io_uring_register", "keyctl", "add_key", "request_key", "fanotify_init",
	"lookup_dcookie", "syslog", "quotactl", "quotactl_fd", "nfsservctl", "uselib", "ustat",
	"sysfs", "_sysctl", "vhangup",
	/* the machine's clocks */
	"settimeofday", "stime", "clock_settime", "clock_adjtime",
	/* hardware and memory placement */
	"iopl", "ioperm", "vm86", "vm86old", "mbind", "set_mempolicy", "migrate_pages",
	"move_pages",
};

/* clone() and unshare() stay, without these (CLONE_NEWTIME only exists for unshare:
 * clone's low byte is the exit signal). */
static const unsigned long ns_flags[] = { CLONE_NEWNS,	CLONE_NEWUTS, CLONE_NEWIPC,
					  CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET,
					  CLONE_NEWCGROUP };

/*
 * personality(): Docker allows Linux (0), UNAME26 (0x8), LINUX32 (0x20000), both
 * (0x20008) and the query (0xffffffff). A rule holds one comparison per argument, so
 * "none of these" is spelled bit by bit, each rule refusing values none of the five
 * has: with bit 31 clear, any bit but 3 and 17 set; with bit 31 set, any bit clear.
 * (The kernel reads the low 32 bits only.)
 */
#define PERSONALITY_ALLOWED_BITS 0x20008UL
#define PERSONALITY_TOP_BIT 0x80000000UL

static int deny_personalities(scmp_filter_ctx ctx)
{
	int err = 0;

	for (unsigned b = 0; !err && b < 31; b++) {
		unsigned long bit = 1UL << b, mask = PERSONALITY_TOP_BIT | bit;

		if (!(bit & PERSONALITY_ALLOWED_BITS))
			err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality),
					       1, SCMP_A0(SCMP_CMP_MASKED_EQ, mask, bit));
		if (!err)
			err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(personality),
					       1,
					       SCMP_A0(SCMP_CMP_MASKED_EQ, mask, PERSONALITY_TOP_BIT));
	}
	return err;
}

static int deny_names(scmp_filter_ctx ctx)
{
	for (size_t i = 0; i < ARRAY_SIZE(denied); i++) {
		int nr = seccomp_syscall_resolve_name(denied[i]);
		int err;

		if (nr == __NR_SCMP_ERROR)
			continue; /* unknown to this libseccomp: nothing calls it here either */
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), nr, 0);
		if (err)
			return err;
	}
	return 0;
}

static int deny_args(scmp_filter_ctx ctx)
{
	int err = 0;

	for (size_t i = 0; !err && i < ARRAY_SIZE(ns_flags); i++) {
		unsigned long fl = ns_flags[i];

		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(clone), 1,
				       SCMP_A0(SCMP_CMP_MASKED_EQ, fl, fl));
		if (!err)
			err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
					       SCMP_A0(SCMP_CMP_MASKED_EQ, fl, fl));
	}
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(unshare), 1,
				       SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_NEWTIME, CLONE_NEWTIME));
	/* clone3 passes its flags in memory a filter cannot read: ENOSYS, as Docker answers,
	 * makes glibc fall back to clone(), whose flags it can. */
	if (!err)
		err = seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3), 0);
	if (!err)
		err = deny_personalities(ctx);
	return err;
}

/* The native architecture's companions (32-bit binaries) get the same rules. */
static int add_arches(scmp_filter_ctx ctx)
{
	uint32_t native = seccomp_arch_native();
	int err = 0;

	if (native == SCMP_ARCH_X86_64) {
		err = seccomp_arch_add(ctx, SCMP_ARCH_X86);
		if (!err)
			err = seccomp_arch_add(ctx, SCMP_ARCH_X32);
	} else if (native == SCMP_ARCH_AARCH64) {
		err = seccomp_arch_add(ctx, SCMP_ARCH_ARM);
	}
	return err == -EEXIST ? 0 : err;
}

/* The compiled program onto a sealed memfd, and into memory. */
static int export_program(scmp_filter_ctx ctx, struct syscall_filter *f)
{
	struct stat st;
	void *buf;
	int err;

	f->memfd = memfd_create("xwhisk-seccomp", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (f->memfd < 0)
		return -errno;
	err = seccomp_export_bpf(ctx, f->memfd);
	if (err)
		return err;
	if (fstat(f->memfd, &st) < 0)
		return -errno;
	if (st.st_size <= 0 || st.st_size % sizeof(struct sock_filter) ||
	    st.st_size / sizeof(struct sock_filter) > BPF_MAXINSNS)
		return -E2BIG;
	buf = malloc((size_t)st.st_size);
	if (!buf)
		return -ENOMEM;
	f->prog.filter = buf;
	if (pread(f->memfd, buf, (size_t)st.st_size, 0) != st.st_size)
		return -EIO;
	f->prog.len = (unsigned short)(st.st_size / sizeof(struct sock_filter));
	if (fcntl(f->memfd, F_ADD_SEALS,
		  F_SEAL_WRITE | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		return -errno;
	return 0;
}

int syscall_filter_build(struct syscall_filter *f)
{
	scmp_filter_ctx ctx;
	int err;

	memset(f, 0, sizeof(*f));
	f->memfd = -1;
	ctx = seccomp_init(SCMP_ACT_ALLOW);
	if (!ctx)
		return -ENOMEM;
	/* A binary tree over syscall numbers rather than a list of them, checked on every call. */
	err = seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);
	if (!err)
		err = add_arches(ctx);
	if (!err)
		err = deny_names(ctx);
	if (!err)
		err = deny_args(ctx);
	if (!err)
		err = export_program(ctx, f);
	seccomp_release(ctx);
	if (err)
		syscall_filter_free(f);
	return err;
}

void syscall_filter_free(struct syscall_filter *f)
{
	if (!f)
		return;
	free(f->prog.filter);
	f->prog.filter = NULL;
	f->prog.len = 0;
	if (f->memfd >= 0)
		close(f->memfd);
	f->memfd = -1;
}

int syscall_filter_install(const struct sock_fprog *prog)
{
	if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, prog))
		return -errno;
	return 0;
}
