/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What every fuzz target defines. Each tests/fuzz/fuzz_<name>.c is linked twice: with
 * libFuzzer (make fuzz, clang -fsanitize=fuzzer,address,undefined) and with replay.c,
 * a plain main() that feeds it every file of its corpus (make test, the fuzz suite).
 */
#ifndef XWHISK_FUZZ_H
#define XWHISK_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A fresh directory for a target's files, made once per process: in /dev/shm when there
 * is one, as each input's files there cost no disk (on /tmp's ext4 the file system work
 * was most of a target's time). Aborts when none can be made. */
static inline void fuzz_tmpdir(char *dir, size_t size, const char *name)
{
	snprintf(dir, size, "/dev/shm/xwhisk-fuzz-%s-XXXXXX", name);
	if (mkdtemp(dir))
		return;
	snprintf(dir, size, "/tmp/xwhisk-fuzz-%s-XXXXXX", name);
	if (!mkdtemp(dir))
		abort();
}

#endif
