// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>

#include <openssl/evp.h>

#include "digest.h"

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

/* Fetched once: EVP_sha256() makes OpenSSL 3 look the algorithm up (under a lock) on
 * every use, which cost more than the hash of a credential itself. */
static void sha256_fetch(void)
{
	sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
}

int sha256_digest2(const void *a, size_t alen, const void *b, size_t blen,
		   unsigned char out[32])
{
	EVP_MD_CTX *ctx;
	unsigned int n = 0;
	int ok;

	pthread_once(&sha256_once, sha256_fetch);
	if (!sha256_md)
		return -EIO;
	ctx = EVP_MD_CTX_new();
	if (!ctx)
		return -ENOMEM;
	ok = EVP_DigestInit_ex(ctx, sha256_md, NULL) && EVP_DigestUpdate(ctx, a, alen) &&
	     (!blen || EVP_DigestUpdate(ctx, b, blen)) && EVP_DigestFinal_ex(ctx, out, &n);
	EVP_MD_CTX_free(ctx);
	return ok && n == 32 ? 0 : -EIO;
}

int sha256_digest(const void *data, size_t len, unsigned char out[32])
{
	return sha256_digest2(data, len, NULL, 0, out);
}
