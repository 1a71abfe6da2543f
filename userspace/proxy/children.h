/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Child processes of the proxy. The proxy is often PID 1 of its sandbox: every orphan
 * of the action is reparented to it, so SIGCHLD reaps everything and hands the status
 * of the processes we started to whoever watches them.
 */
#ifndef XWHISK_PROXY_CHILDREN_H
#define XWHISK_PROXY_CHILDREN_H

#include <sys/types.h>

typedef void (*child_exit_cb)(pid_t pid, int status, void *data);

/*
 * Starts argv with envp in cwd. fds[i] becomes fd i in the child for i < 4: -1 for
 * fd 0 means /dev/null, -1 for 1 and 2 means the action's output (child_set_output(),
 * else ours), -1 for 3 means none.
 */
int child_spawn(char *const argv[], char *const envp[], const char *cwd, const int fds[4],
		pid_t *ret_pid);
/* Where children write their stdout and stderr by default (-1: our own). */
void child_set_output(int out_fd, int err_fd);
/* cb runs once pid exits (status as from waitpid). */
int child_watch(pid_t pid, child_exit_cb cb, void *data);
void child_forget(pid_t pid);
/* Reaps every exited child; call on SIGCHLD. */
void children_reap(void);

#endif
