/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A process spoken to in lines: requests on its stdin, answers on its fd 3 (the
 * ActionLoop convention). Either started here, or handed over already running (a
 * language loop forked by a zygote: only its two pipes are ours).
 */
#ifndef XWHISK_PROXY_LINEPROC_H
#define XWHISK_PROXY_LINEPROC_H

#include <stdbool.h>
#include <sys/uio.h>
#include <sys/types.h>

#include "buf.h"
#include "loop.h"

struct lineproc;

struct lineproc_ops {
	void (*line)(struct lineproc *lp, char *line, size_t len);
	/* It exited or closed its answers; called once, after the last line. */
	void (*gone)(struct lineproc *lp);
};

struct lineproc {
	struct loop *loop;
	const struct lineproc_ops *ops;
	void *data;
	pid_t pid;  /* 0 when handed over */
	int in_fd;  /* its stdin */
	int out_fd; /* its fd 3 */
	struct buf wbuf, rbuf;
	bool gone;
};

int lineproc_spawn(struct lineproc *lp, struct loop *loop, char *const argv[],
		   char *const envp[], const char *cwd, const struct lineproc_ops *ops, void *data);
int lineproc_attach(struct lineproc *lp, struct loop *loop, int in_fd, int out_fd,
		    const struct lineproc_ops *ops, void *data);
/* Queues data and a newline for its stdin. */
int lineproc_send(struct lineproc *lp, const char *data, size_t len);
/* The parts joined as one line (none may hold a newline). */
int lineproc_send_parts(struct lineproc *lp, const struct iovec *parts, int n);
void lineproc_kill(struct lineproc *lp);
void lineproc_close(struct lineproc *lp);

#endif
