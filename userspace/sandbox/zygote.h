/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A fork-server for a language loop: a process that paid the interpreter's start-up
 * once and forks a ready loop into a new sandbox on request, so refills cost a fork
 * (milliseconds) instead of an interpreter start (tens to hundreds of milliseconds).
 *
 * It runs in the host's namespaces as root. Its fd 4 is the sandboxes' seccomp filter
 * (syscall_filter.h: struct sock_filter instructions, on a sealed memfd, read with
 * pread), which each loop installs last, after no_new_privs: a zygote that cannot read
 * it must not fork loops. Protocol, on a SOCK_SEQPACKET socket that is the zygote's fd 3:
 *   zygote  -> manager  {"ready":true}                 once its imports are done
 *   manager -> zygote   {"cgroups":[".../cgroup.procs",...],"uid":N,"gid":N,
 *                        "env":{"K":"V",...}}  with SCM_RIGHTS fds: the sandbox init's
 *                        pidfd, the loop's stdin (read end), its result pipe (write end),
 *                        the loop's stdout and stderr (pipes the sandbox's proxy
 *                        reads: it answers the logs in band)
 *   zygote  -> manager  {"ok":true,"pid":N} or {"error":"..."}, one per request, in order
 * The forked loop joins the cgroups, enters the sandbox's namespaces (setns on the
 * pidfd), drops every privilege as the sandbox init did, installs the filter, and
 * announces itself to the sandbox's proxy on its result pipe. The zygote exits when the socket closes (the
 * node went away); the loops it made live on inside their sandboxes.
 */
#ifndef XWHISK_SANDBOX_ZYGOTE_H
#define XWHISK_SANDBOX_ZYGOTE_H

#include <stdbool.h>

#include "loop.h"

#define ZYGOTE_NFDS 5

struct zygote;

typedef void (*zygote_cb)(int err, void *data);

/* Starts argv with envp and filter_fd (not taken) as its fd 4; it becomes usable once it
 * says it is ready. */
struct zygote *zygote_new(struct loop *loop, char *const argv[], char *const envp[],
			  int filter_fd);
void zygote_free(struct zygote *z);
bool zygote_ready(const struct zygote *z);
/* Sends a request; cb runs with 0 or a negative errno. fds are not taken. */
int zygote_fork(struct zygote *z, const char *json, const int fds[ZYGOTE_NFDS], zygote_cb cb,
		void *data);
/* The callbacks of requests made with data will not run. */
void zygote_forget(struct zygote *z, void *data);

#endif
