/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The seccomp filter every process of a sandbox runs under: what Docker's default
 * profile (OpenWhisk's, through its containers) refuses to a container without added
 * capabilities answers EPERM instead of running (docs/SANDBOXES.md, "System calls").
 *
 * The filter is compiled once, with libseccomp, when the manager starts. The sandbox's
 * init installs the compiled program itself (syscall_filter_install: one system call,
 * safe between clone and exec) before it execs, so every process of the sandbox
 * inherits it; the Python zygote, which forks loops into sandboxes without exec, gets
 * the same program on a sealed memfd and installs it in each loop it forks.
 */
#ifndef XWHISK_SANDBOX_SYSCALL_FILTER_H
#define XWHISK_SANDBOX_SYSCALL_FILTER_H

#include <linux/filter.h>

struct syscall_filter {
	struct sock_fprog prog; /* the classic BPF program, for seccomp(2) */
	int memfd;              /* the same instructions, sealed read-only; -1 before build */
};

/* Compiles the filter for this machine's architectures. 0 or a negative errno. */
int syscall_filter_build(struct syscall_filter *f);
void syscall_filter_free(struct syscall_filter *f);
/* Installs prog on the calling thread: no_new_privs must be set. Async-signal-safe. */
int syscall_filter_install(const struct sock_fprog *prog);

#endif
