/* SPDX-License-Identifier: Apache-2.0 */
/* Action archives: zip files (through libzip) held in memory, unpacked into a directory. */
#ifndef XWHISK_PROXY_ARCHIVE_H
#define XWHISK_PROXY_ARCHIVE_H

#include <stdbool.h>
#include <stddef.h>

bool archive_is_zip(const void *data, size_t len);
/*
 * Unpacks into dir, keeping Unix permission bits and symbolic links. Entries with an
 * absolute path or a ".." component, or that would be written through a symbolic link,
 * are refused. On failure err holds a reason.
 */
int archive_unzip(const void *data, size_t len, const char *dir, char *err, size_t errlen);

#endif
