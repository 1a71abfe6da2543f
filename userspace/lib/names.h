/* SPDX-License-Identifier: Apache-2.0 */
/* OpenWhisk names: entity names, namespace paths and fully qualified names (shared by the
 * controller, which validates entities, and the node, which validates invoke paths). */
#ifndef XWHISK_NAMES_H
#define XWHISK_NAMES_H

#include <stdbool.h>

#define NAME_MAX_LEN 256

/* NULL when valid, otherwise OpenWhisk's message for the problem. */
const char *name_check(const char *name);
bool name_valid(const char *name);
/* A namespace: one name segment (every caller means one; "guest/x" is not one). */
bool namespace_valid(const char *ns);

/* "/ns/name", "/ns/pkg/name", "ns/name"; "_" is replaced by default_ns. */
struct fqn {
	char ns[NAME_MAX_LEN + 1];
	char pkg[NAME_MAX_LEN + 1]; /* "" when not in a package */
	char name[NAME_MAX_LEN + 1];
};

/* allow_short: a bare "name" resolves to default_ns. -EINVAL when malformed. */
int fqn_parse(const char *s, const char *default_ns, bool allow_short, struct fqn *out);
/* "/ns[/pkg]/name" into out (at least 3 * NAME_MAX_LEN + 4 bytes). */
void fqn_format(const struct fqn *f, char *out, unsigned size);
/* "ns[/pkg]/name" (a docid) */
void fqn_docid(const struct fqn *f, char *out, unsigned size);

#endif
