/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Namespace name <-> index in the "namespaces" map. Indexes are handed out once and kept
 * in a file beside the pinned maps' owner state, so a restarted node maps the same names to
 * the same entries. Thread-safe.
 */
#ifndef XWHISK_NS_TABLE_H
#define XWHISK_NS_TABLE_H

#include <stdint.h>

struct ns_table;

/* path: the file that remembers assignments (created when missing). */
int ns_table_open(const char *path, struct ns_table **out);
void ns_table_free(struct ns_table *t);
/* The index of name, assigning a free one the first time; -ENOSPC when full. */
int ns_table_index(struct ns_table *t, const char *name, uint32_t *out);
/* Records that the controller vouched for idx's namespace until until_ms (monotonic). */
void ns_table_vouch(struct ns_table *t, uint32_t idx, uint64_t until_ms);
/* The index of name if the controller vouched for it after now_ms; -ENOENT otherwise. */
int ns_table_fresh(struct ns_table *t, const char *name, uint64_t now_ms, uint32_t *out);
/* The name at idx (copied into out), or -ENOENT. */
int ns_table_name(struct ns_table *t, uint32_t idx, char *out, size_t size);

#endif
