/* SPDX-License-Identifier: Apache-2.0 */
/* What the pod backend's pods carry (pods_manifest() in pods.h builds them). */
#ifndef XWHISK_POD_SPEC_H
#define XWHISK_POD_SPEC_H

#include <stddef.h>

#define POD_PORT 8080 /* the OpenWhisk runtime contract: /init and /run on :8080 */
#define LABEL_MANAGED "app.kubernetes.io/managed-by"
#define LABEL_SANDBOX "xwhisk.dev/sandbox"
#define LABEL_ACTION "xwhisk.dev/action"
#define LABEL_REVISION "xwhisk.dev/revision"
#define LABEL_NAMESPACE "xwhisk.dev/namespace"
#define ANNOTATION "xwhisk.dev/sandbox" /* the sandbox as JSON: what adoption needs */

/* "xw-<sandbox id>" */
void pod_name(char *out, size_t size, const char *id);

#endif
