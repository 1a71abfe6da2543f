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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
