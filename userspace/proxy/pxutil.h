/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The few helpers the proxy needs from userspace/lib/util.c, kept here: the proxy runs
 * in every sandbox, and linking util.o would bring its SHA-256 helper and with it
 * libcrypto (a millisecond of start-up and 400 KB of private memory per sandbox).
 */
#ifndef XWHISK_PROXY_PXUTIL_H
#define XWHISK_PROXY_PXUTIL_H

#include <stddef.h>

/* Creates path and its missing parents. */
int px_mkdir_p(const char *path, unsigned mode);
/* Standard base64 (padding optional); malloc'd bytes, NULL when invalid. */
void *px_base64_decode(const char *s, size_t len, size_t *out_len);
/* A copy of s without leading and trailing white space. */
char *px_trim_dup(const char *s);

#endif
