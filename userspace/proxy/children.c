// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>

#include "children.h"

struct watched {
	pid_t pid;
	child_exit_cb cb;
	void *data;
	struct watched *next;
};

static struct watched *watched;
static int output_fds[2] = { -1, -1 };

void child_set_output(int out_fd, int err_fd)
{
	output_fds[0] = out_fd;
	output_fds[1] = err_fd;
}

int child_spawn(char *const argv[], char *const envp[], const char *cwd, const int fds[4],
		pid_t *ret_pid)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	sigset_t none, all;
	int err;

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&attr);
	sigemptyset(&none);
	sigfillset(&all);
	/* Our blocked signals (signalfd) and ignored SIGPIPE must not leak into actions. */
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setsigdefault(&attr, &all);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
	if (fds[0] >= 0)
		posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	for (int i = 1; i < 4; i++)
		if (fds[i] >= 0)
			posix_spawn_file_actions_adddup2(&fa, fds[i], i);
		else if (i < 3 && output_fds[i - 1] >= 0)
			posix_spawn_file_actions_adddup2(&fa, output_fds[i - 1], i);
	if (cwd)
		posix_spawn_file_actions_addchdir_np(&fa, cwd);
	err = posix_spawnp(ret_pid, argv[0], &fa, &attr, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	return -err;
}

int child_watch(pid_t pid, child_exit_cb cb, void *data)
{
	struct watched *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	w->pid = pid;
	w->cb = cb;
	w->data = data;
	w->next = watched;
	watched = w;
	return 0;
}

void child_forget(pid_t pid)
{
	for (struct watched **p = &watched; *p; p = &(*p)->next) {
		if ((*p)->pid == pid) {
			struct watched *w = *p;

			*p = w->next;
			free(w);
			return;
		}
	}
}

void children_reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (struct watched **p = &watched; *p; p = &(*p)->next) {
			struct watched *w = *p;

			if (w->pid != pid)
				continue;
			*p = w->next;
			w->cb(pid, status, w->data);
			free(w);
			break;
		}
	}
}
