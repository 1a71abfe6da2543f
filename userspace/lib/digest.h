/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Hashing, apart from util.c: whatever links util.o (the proxy, in every sandbox) does
 * not bring libcrypto in with it (a millisecond of start-up, 400 KB per sandbox).
 */
#ifndef XWHISK_DIGEST_H
#define XWHISK_DIGEST_H

#include <stddef.h>

/* SHA-256 of data (libcrypto). */
int sha256_digest(const void *data, size_t len, unsigned char out[32]);
/* SHA-256 of a followed by b. */
int sha256_digest2(const void *a, size_t alen, const void *b, size_t blen,
		   unsigned char out[32]);

#endif
