/* SPDX-License-Identifier: Apache-2.0 */
/* Forwards a client request to the controller unchanged and relays the answer. A change
 * of an action or a package made through this node drops what its action cache holds of
 * it before the answer leaves: the client's next invoke sees its own write. A request
 * that could not reach the current controller goes to the next one (ctlclient.h). */
#ifndef XWHISK_FORWARD_H
#define XWHISK_FORWARD_H

#include "node/activation/action_cache.h"
#include "http.h"

struct ctlclient;

struct forwarder;

/* Over cc, the worker's client of the controllers (neither owned). */
struct forwarder *forwarder_new(struct loop *loop, struct ctlclient *cc,
				struct action_cache *actions);
void forwarder_free(struct forwarder *fw);
/* tid is the request's transaction id (sent as X-Request-ID). */
void forwarder_pass(struct forwarder *fw, struct http_request *req, const char *tid);

/* Splits "http://host:port" into host and port. */
int url_host_port(const char *url, char *host, size_t hostlen, int *port);

#endif
