// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <openssl/crypto.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "auth.h"
#include "digest.h"
#include "util.h"

int auth_split(const char *pair, char uuid[AUTH_UUID_LEN + 1], char key[AUTH_KEY_LEN + 1])
{
	const char *colon = strchr(pair, ':');
	size_t ulen;

	if (!colon)
		return -EINVAL;
	ulen = (size_t)(colon - pair);
	if (!ulen || ulen > AUTH_UUID_LEN || strlen(colon + 1) != AUTH_KEY_LEN)
		return -EINVAL;
	memcpy(uuid, pair, ulen);
	uuid[ulen] = '\0';
	memcpy(key, colon + 1, AUTH_KEY_LEN + 1);
	return 0;
}

int auth_parse_basic(const char *header, char uuid[AUTH_UUID_LEN + 1],
		     char key[AUTH_KEY_LEN + 1])
{
	char cred[AUTH_UUID_LEN + AUTH_KEY_LEN + 64];

	if (basic_auth_decode(header, cred, sizeof(cred)))
		return -EINVAL;
	return auth_split(cred, uuid, key);
}

int auth_set_key(struct subject *s, const char *key)
{
	int err = random_bytes(s->salt, sizeof(s->salt));

	if (err)
		return err;
	return sha256_digest2(s->salt, sizeof(s->salt), key, strlen(key), s->key_hash);
}

bool auth_key_matches(const struct subject *s, const char *key)
{
	unsigned char hash[32];

	if (sha256_digest2(s->salt, sizeof(s->salt), key, strlen(key), hash))
		return false;
	return CRYPTO_memcmp(hash, s->key_hash, sizeof(hash)) == 0;
}

void auth_generate(char uuid[AUTH_UUID_LEN + 1], char key[AUTH_KEY_LEN + 1])
{
	char hex[33];

	random_hex(hex, 32);
	/* Version 4, variant 10xx, as OpenWhisk's wskadmin makes them. */
	hex[12] = '4';
	hex[16] = "89ab"[hex[16] % 4];
	snprintf(uuid, AUTH_UUID_LEN + 1, "%.8s-%.4s-%.4s-%.4s-%.12s", hex, hex + 8, hex + 12,
		 hex + 16, hex + 20);
	secret_alnum(key, AUTH_KEY_LEN);
}

int auth_check(struct store *st, const char *uuid, const char *key, struct subject *out)
{
	struct subject s;
	int err = st->ops->subject_by_uuid(st, uuid, &s);

	if (err)
		return err;
	if (!auth_key_matches(&s, key)) {
		subject_clear(&s);
		return -EACCES;
	}
	*out = s;
	return 0;
}

int auth_create_namespace(struct store *st, const char *namespace, const char *pair,
			  char *out_pair)
{
	char uuid[AUTH_UUID_LEN + 1], key[AUTH_KEY_LEN + 1];
	struct subject s = { 0 };
	int err;

	if (pair) {
		err = auth_split(pair, uuid, key);
		if (err)
			return err;
	} else {
		auth_generate(uuid, key);
	}
	snprintf(s.namespace, sizeof(s.namespace), "%s", namespace);
	snprintf(s.uuid, sizeof(s.uuid), "%s", uuid);
	s.created = (int64_t)time(NULL) * 1000;
	err = auth_set_key(&s, key);
	if (err)
		return err;
	err = st->ops->subject_put(st, &s, true);
	if (!err && out_pair)
		sprintf(out_pair, "%s:%s", uuid, key);
	return err;
}

int auth_seed(struct store *st)
{
	json_t *list = NULL;
	int err = st->ops->subject_list(st, &list);

	if (err)
		return err;
	if (json_array_size(list) == 0) {
		err = auth_create_namespace(st, GUEST_NAMESPACE, GUEST_AUTH, NULL);
		if (!err)
			err = auth_create_namespace(st, SYSTEM_NAMESPACE, SYSTEM_AUTH, NULL);
	}
	json_decref(list);
	return err;
}
