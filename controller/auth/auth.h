/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Credentials: OpenWhisk's "uuid:key" pairs, Basic auth. Keys are stored only as
 * SHA-256(salt || key). Keys are 64 random characters (about 380 bits), so a fast
 * salted hash is enough: there is nothing for a slow KDF to protect against.
 */
#ifndef XWHISK_AUTH_H
#define XWHISK_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#include "store.h"

#define AUTH_KEY_LEN 64
#define AUTH_UUID_LEN 36

#define GUEST_NAMESPACE "guest"
#define GUEST_AUTH "23bc46b1-71f6-4ed5-8c54-816aa4f8c502:123zO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"
#define SYSTEM_NAMESPACE "whisk.system"
#define SYSTEM_AUTH "789c46b1-71f6-4ed5-8c54-816aa4f8c502:abczO3xZCLrMN6v2BKK1dXYFpXlPkccOFqm12CdAsMgRU4VrNZ9lyGVCGuMDGIwP"

/* Splits "uuid:key"; -EINVAL when malformed (the key must be exactly 64 characters). */
int auth_split(const char *pair, char uuid[AUTH_UUID_LEN + 1], char key[AUTH_KEY_LEN + 1]);
/* Decodes an "Authorization: Basic ..." value into uuid and key. */
int auth_parse_basic(const char *header, char uuid[AUTH_UUID_LEN + 1],
		     char key[AUTH_KEY_LEN + 1]);
/* Sets salt and hash in s for key. */
int auth_set_key(struct subject *s, const char *key);
bool auth_key_matches(const struct subject *s, const char *key);
/* A fresh random uuid and key, as "uuid" and "key". */
void auth_generate(char uuid[AUTH_UUID_LEN + 1], char key[AUTH_KEY_LEN + 1]);
/* Looks up and checks a credential pair: 0, -ENOENT or -EACCES. */
int auth_check(struct store *st, const char *uuid, const char *key, struct subject *out);

/* Creates a namespace with the given "uuid:key" (or fresh ones when NULL).
 * Writes the generated pair into out_pair (at least 102 bytes) when not NULL. */
int auth_create_namespace(struct store *st, const char *namespace, const char *pair,
			  char *out_pair);
/* On a store without subjects: the guest and whisk.system namespaces with OpenWhisk's
 * well-known keys (as OpenWhisk standalone seeds them). */
int auth_seed(struct store *st);

#endif
