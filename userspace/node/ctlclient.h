/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Calls on the controller's internal API (/internal/v1), one client per thread.
 *
 * A node may be given several controllers (XWHISK_CONTROLLER=url1,url2: replicas on one
 * shared store, of which one leads, leader.h). Every thread's client calls the current
 * one; a call that does not reach it, or that it answers 503 "on standby"
 * (X-Xwhisk-Standby), moves every client on to the next controller and is sent there,
 * each controller tried at most once. A call no controller took answers a negative errno
 * (-EAGAIN: only controllers on standby answered).
 */
#ifndef XWHISK_CTLCLIENT_H
#define XWHISK_CTLCLIENT_H

#include <jansson.h>

#include "http.h"

#define CTL_TARGETS_MAX 8

/* The controllers, shared by the clients of every thread (it must outlive them). */
struct ctl_targets {
	unsigned n;
	struct {
		char host[256];
		int port;
	} t[CTL_TARGETS_MAX];
	unsigned current; /* the one every client calls (atomics) */
};

/* "http://host:port,host:port,..." (the scheme optional); -EINVAL when one is bad. */
int ctl_targets_parse(struct ctl_targets *targets, const char *urls);

struct ctlclient;

/* status is the HTTP status, or a negative errno when the controller was not reached;
 * body is the parsed JSON answer (NULL when none), borrowed for the callback. */
typedef void (*ctl_cb)(int status, json_t *body, void *data);

struct ctlclient *ctlclient_new(struct loop *loop, struct ctl_targets *targets, const char *token);
void ctlclient_free(struct ctlclient *cc);
/* body may be NULL; it is not stolen. */
int ctlclient_call(struct ctlclient *cc, const char *method, const char *target,
		   const json_t *body, unsigned timeout_ms, ctl_cb cb, void *data);
/* POSTs a body that is already JSON text. */
int ctlclient_post_text(struct ctlclient *cc, const char *target, const char *text, size_t len,
			ctl_cb cb, void *data);
/* POSTs JSON lines (application/x-ndjson). */
int ctlclient_post_lines(struct ctlclient *cc, const char *target, const char *text, size_t len,
			 ctl_cb cb, void *data);
int ctlclient_identity(struct ctlclient *cc, const char *authorization, ctl_cb cb, void *data);
int ctlclient_namespace(struct ctlclient *cc, const char *ns, ctl_cb cb, void *data);
/* what: "action" or "trigger"; name: "/ns[/pkg]/name". */
int ctlclient_resolve(struct ctlclient *cc, const char *what, const char *subject,
		      const char *name, ctl_cb cb, void *data);
/* The current controller's pool and index, for calls made on the pool directly. */
struct http_pool *ctlclient_pool(struct ctlclient *cc);
unsigned ctlclient_target(struct ctlclient *cc);
unsigned ctlclient_count(struct ctlclient *cc); /* controllers given */
/* Controller idx failed a call (why, for the log): every client moves on to the next one,
 * unless another call already moved them. */
void ctlclient_failover(struct ctlclient *cc, unsigned idx, const char *why);
const char *ctlclient_token(struct ctlclient *cc);

#endif
