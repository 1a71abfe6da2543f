/* SPDX-License-Identifier: Apache-2.0 */
/* Finding the action a name means for a subject: the cache, else the controller. */
#ifndef XWHISK_RESOLVE_H
#define XWHISK_RESOLVE_H

#include "node/activation/action_cache.h"
#include "node/ingress/identity.h"

struct worker;

/* status 0 with a reference to the action (the callee's to drop), or 403/404/409/503 with
 * OpenWhisk's message. May run before resolve_action returns (a cache hit). */
typedef void (*resolve_cb)(int status, struct action_entry *action, const char *message,
			   void *data);

/* name: "/ns[/pkg]/name" with the namespace already resolved. */
void resolve_action(struct worker *w, const struct identity *who, const char *name,
		    resolve_cb cb, void *data);

/* Builds "/ns[/pkg]/name" from path parts ("_" is the subject's namespace). */
void resolve_name(const struct identity *who, const char *ns, const char *pkg, const char *name,
		  char *out, size_t size);

#endif
