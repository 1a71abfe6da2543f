/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Who is calling: an Authorization header becomes a namespace through the "auth" map
 * (SHA-256 of the credential -> namespace index, with an expiry); a miss asks the
 * controller once and caches its answer, with the namespace's limits written into the
 * "namespaces" map for the throttles.
 */
#ifndef XWHISK_IDENTITY_H
#define XWHISK_IDENTITY_H

#include <stdint.h>

#include "node/ctlclient.h"
#include "node/node.h"

struct identity {
	uint32_t ns_idx;
	char ns[257];
	char credential[160]; /* "uuid:key"; empty for a web action's anonymous caller */
};

/* status: 0, 401 (bad credentials), 404 (no such namespace) or 503 (no controller). */
typedef void (*identity_cb)(int status, const struct identity *id, void *data);

/* A worker's copy of the credentials it has seen in "auth", until they expire there: a
 * warm request needs neither a digest nor a system call to know who calls. */
struct identity_cache;
struct identity_cache *identity_cache_new(void);
void identity_cache_free(struct identity_cache *c);

/* 0 and *out filled when the credential is cached and fresh; -EAGAIN when the controller
 * must be asked (identity_fetch); -EINVAL when the header is malformed. cache: the
 * worker's, or NULL. */
int identity_lookup(struct node *node, struct identity_cache *cache, const char *authorization,
		    struct identity *out);
int identity_fetch(struct node *node, struct ctlclient *cc, const char *authorization,
		   identity_cb cb, void *data);
/* A namespace's own identity (web actions run as the owner); cached like credentials. */
int identity_lookup_namespace(struct node *node, const char *ns, struct identity *out);
int identity_fetch_namespace(struct node *node, struct ctlclient *cc, const char *ns,
			     identity_cb cb, void *data);

#endif
