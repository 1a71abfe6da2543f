/* SPDX-License-Identifier: Apache-2.0 */
/* Calls on the controller's internal API (/internal/v1), one pool per thread. */
#ifndef XWHISK_CTLCLIENT_H
#define XWHISK_CTLCLIENT_H

#include <jansson.h>

#include "http.h"

struct ctlclient;

/* status is the HTTP status, or a negative errno when the controller was not reached;
 * body is the parsed JSON answer (NULL when none), borrowed for the callback. */
typedef void (*ctl_cb)(int status, json_t *body, void *data);

struct ctlclient *ctlclient_new(struct loop *loop, const char *host, int port, const char *token);
void ctlclient_free(struct ctlclient *cc);
/* body may be NULL; it is not stolen. */
int ctlclient_call(struct ctlclient *cc, const char *method, const char *target,
		   const json_t *body, unsigned timeout_ms, ctl_cb cb, void *data);
/* POSTs a body that is already JSON text. */
int ctlclient_post_text(struct ctlclient *cc, const char *target, const char *text, size_t len,
			ctl_cb cb, void *data);
int ctlclient_identity(struct ctlclient *cc, const char *authorization, ctl_cb cb, void *data);
int ctlclient_namespace(struct ctlclient *cc, const char *ns, ctl_cb cb, void *data);
/* what: "action" or "trigger"; name: "/ns[/pkg]/name". */
int ctlclient_resolve(struct ctlclient *cc, const char *what, const char *subject,
		      const char *name, ctl_cb cb, void *data);
struct http_pool *ctlclient_pool(struct ctlclient *cc);
const char *ctlclient_token(struct ctlclient *cc);

#endif
