/* SPDX-License-Identifier: Apache-2.0 */
/* The ingress's routes: what the node serves itself, and the rest forwarded. */
#ifndef XWHISK_ROUTER_H
#define XWHISK_ROUTER_H

#include "http.h"

/* The HTTP handler of a worker (data is the worker). */
void router_handle(struct http_request *req, void *data);

#endif
