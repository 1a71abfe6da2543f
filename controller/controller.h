/* SPDX-License-Identifier: Apache-2.0 */
/* The controller's shared state, handed to every API handler. */
#ifndef XWHISK_CONTROLLER_H
#define XWHISK_CONTROLLER_H

#include "http.h"
#include "loop.h"
#include "runtimes.h"
#include "store.h"

struct controller {
	struct loop *loop;
	struct store *store;
	struct runtimes *runtimes;
	struct http_server *http;
	struct event_log *events;
	char node_token[65]; /* shared secret of the /internal API */
	const char *build;
};

#endif
