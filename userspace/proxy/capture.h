/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The action's output, read by the proxy itself: every process it starts (a language
 * loop, a native or blackbox executable) writes its stdout and stderr into pipes of ours,
 * as does a loop forked by the sandbox manager's zygote (XWHISK_LOOP_FDS' third and
 * fourth descriptors). Lines are stamped when read (lib/logpipe.c) and cut into
 * activations (lib/actlogs.c), as the node's manager does with a sandbox's pipes.
 *
 * A /run (or /init) carrying "X-Xwhisk-Logs: <limit>" gets its activation's lines in its
 * answer (lib/actlogs.h): while such a request is in flight the lines are held; its
 * segment ends when the runtime answered, once the pipes are drained (everything the
 * runtime wrote before it answered is in them by then, which is what the sentinels,
 * written at that moment, marked). Otherwise, and for output nobody holds (a streaming
 * session, the loop's own start), lines pass on to our stdout and stderr, the sandbox's
 * pipes, with the sentinels after each activation: the protocol every OpenWhisk runtime
 * speaks, for clients that do not ask.
 *
 * Our own stdout and stderr stay the sandbox's (a restarted node reopens them through
 * /proc/<pid>/fd/1 and 2): only what the action writes goes through the capture.
 */
#ifndef XWHISK_PROXY_CAPTURE_H
#define XWHISK_PROXY_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>

#include "http.h"

struct proxy;
struct proxy_run;

/* Opens the pipes our children write to (children.c gives them as fds 1 and 2). */
int capture_start(struct proxy *p);
/* Adds the read ends of a zygote-made loop's stdout and stderr (taken). */
int capture_add(struct proxy *p, int out_fd, int err_fd);
/* Output bypasses us (a zygote-made loop writing to the sandbox's pipes): no logs in
 * band, sentinels on our stdout and stderr as before. */
void capture_disable(struct proxy *p);
void capture_stop(struct proxy *p);

/* A line the proxy itself adds to the action's output (a blackbox's stdout line). */
void capture_line(struct proxy *p, int stream, const char *line, size_t len);

/* How much of its logs req asks for in band: -1 when it does not, or when the output does
 * not come through us (a loop that serves /run itself keeps it in band only then). */
long long capture_asked(struct proxy *p, struct http_request *req);
/* A request that may end an activation's logs starts: /init, or an accepted /run. */
void capture_init_begin(struct proxy *p, struct http_request *req);
void capture_run_begin(struct proxy_run *run);
/* Answers the run, ending its activation's logs: in band when it asked for them, else
 * out on our stdout and stderr followed by the sentinels. */
void capture_run_done(struct proxy_run *run, int status, const char *body, size_t len);
/* Answers /init: a failed one ends its logs as a run does; a good one's output joins the
 * first activation's. */
void capture_init_done(struct proxy *p, struct http_request *req, int status, const char *json);
/* Answers a /run refused before it ran (its logs are the next one's). */
void capture_refused(struct proxy *p, struct http_request *req, int status, const char *body,
		     size_t len);

#endif
