/* SPDX-License-Identifier: Apache-2.0 */
/* The runtimes manifest: which kinds exist, each family's default, blackbox images. */
#ifndef XWHISK_RUNTIMES_H
#define XWHISK_RUNTIMES_H

#include <jansson.h>
#include <stdbool.h>

struct runtimes;

int runtimes_load(const char *path, struct runtimes **out);
void runtimes_free(struct runtimes *rt);
/* The concrete kind for kind (trimmed, lowercased, "family:default" resolved), or NULL. */
const char *runtimes_resolve(const struct runtimes *rt, const char *kind);
/* The manifest entry of a concrete kind, or NULL. */
const json_t *runtimes_entry(const struct runtimes *rt, const char *kind);
/* True for images the platform runs itself (the dockerskeleton), with or without a tag. */
bool runtimes_is_native_image(const struct runtimes *rt, const char *image);
/* "'blackbox', 'native', 'nodejs:20', ..." for error messages (owned by rt). */
const char *runtimes_valid_values(const struct runtimes *rt);
/* The "runtimes" object of GET / (new reference). */
json_t *runtimes_info(const struct runtimes *rt);
const json_t *runtimes_manifest(const struct runtimes *rt);

#endif
