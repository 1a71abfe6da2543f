/* SPDX-License-Identifier: Apache-2.0 */
/* The node-facing internal API (/internal/v1), see internal.c and internal_node.c. */
#ifndef XWHISK_INTERNAL_H
#define XWHISK_INTERNAL_H

#include "api.h"

/* Whether an Authorization header carries the nodes' token (Bearer). */
bool internal_token_ok(const struct controller *ctl, const char *authorization);
void internal_identity(struct api_req *r);
void internal_namespace(struct api_req *r, const char *ns);
void internal_resolve(struct api_req *r, const char *what);
void internal_events(struct api_req *r);
/* The control plane's routes; false when the path is none of them. */
bool internal_cluster(struct api_req *r);

#endif
