/* SPDX-License-Identifier: Apache-2.0 */
/* What the store backends share; API code includes store.h only. */
#ifndef XWHISK_STORE_BACKEND_H
#define XWHISK_STORE_BACKEND_H

#include <jansson.h>

/* The name an activation list filters on: "action" or "pkg/action". */
char *store_activation_filter_name(json_t *doc);
/* The fields an activation list shows without docs=true. */
json_t *store_activation_summary(json_t *doc);

#endif
