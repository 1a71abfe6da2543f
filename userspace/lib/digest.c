// SPDX-License-Identifier: Apache-2.0
#include <errno.h>

#include <openssl/evp.h>

#include "digest.h"

int sha256_digest(const void *data, size_t len, unsigned char out[32])
{
	unsigned int n = 0;

	if (!EVP_Digest(data, len, out, &n, EVP_sha256(), NULL) || n != 32)
		return -EIO;
	return 0;
}
