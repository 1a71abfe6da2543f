/* SPDX-License-Identifier: Apache-2.0 */
/* Small helpers with no better home: randomness, base64, time formatting, strings. */
#ifndef XWHISK_UTIL_H
#define XWHISK_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* From the kernel's CSPRNG: for secrets (keys, tokens, salts). */
int random_bytes(void *out, size_t n);
void secret_alnum(char *out, size_t n);
/* From a per-thread generator seeded by the kernel: for ids that must be unique, not
 * secret (activation and transaction ids). No system call per id. */
uint64_t random_u64(void);
/* The value of one hexadecimal digit, either case; -1 for any other character. */
int hex_digit(int c);
/* n random lowercase hex digits and a NUL (out holds n + 1). */
void random_hex(char *out, size_t n);
/* n random [A-Za-z0-9] characters and a NUL. */
void random_alnum(char *out, size_t n);

/* Standard base64 with padding; returns a malloc'd string. */
char *base64_encode(const void *data, size_t len);
/* Returns malloc'd bytes (NUL-terminated for convenience) and sets *out_len; NULL if invalid. */
void *base64_decode(const char *s, size_t len, size_t *out_len);
/* OpenWhisk's test for "binary" code: non-empty, length % 4 == 0, strict base64 alphabet. */
bool base64_looks_binary(const char *s, size_t len);

/* "2024-01-01T00:00:00.123456789Z" from nanoseconds since the epoch (out >= 32 bytes). */
void format_rfc3339_nano(char *out, size_t size, uint64_t ns);
uint64_t clock_real_ns(void);
uint64_t clock_real_us(void);
/* The CPU time (user and system) this process has used, in microseconds: what a
 * benchmark divides by its work. */
uint64_t clock_cpu_us(void);

int parse_u64(const char *s, uint64_t *out);
int parse_i64(const char *s, int64_t *out);
bool str_is_true(const char *s);
/* src into dst of size bytes, cut to fit, always terminated (size > 0): what
 * snprintf(dst, size, "%s", src) does, without printf's cost on hot paths. */
void str_copy(char *dst, size_t size, const char *src);
/* v in decimal into out (at least 21 bytes), terminated; returns its length. */
size_t u64_dec(char *out, uint64_t v);
char *str_trim_dup(const char *s);
/* Reads a whole file; returns malloc'd NUL-terminated contents. */
char *file_read_all(const char *path, size_t *len);
/* Writes atomically (temp file + fsync + rename). */
int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode);
int mkdir_p(const char *path, unsigned mode);
/* The directory holding the running executable (static buffer). */
const char *exe_dir(void);
/* Decodes "Basic base64(user:password)" into "user:password" (out holds 160 bytes). */
int basic_auth_decode(const char *header, char *out, size_t size);
/* "a.b.c.d/n": the network (host byte order, host bits cleared) and prefix; -EINVAL when
 * malformed. */
int cidr_parse(const char *cidr, uint32_t *network, int *prefix);
/* addr (host byte order) lies in network/prefix. */
bool cidr_contains(uint32_t network, int prefix, uint32_t addr);
/* Two subnets share addresses; false when either does not parse. */
bool cidr_overlap(const char *a, const char *b);
/* NULL-terminated string vectors (argv, envp): a deep copy (NULL on failure) and its free. */
char **strv_dup(char *const *v);
void strv_free(char **v);
/* FNV-1a of a string: for the hash tables keyed by ids and names. */
uint32_t str_hash(const char *s);
/* getenv() as an unsigned 32-bit number; def when unset or not one. */
unsigned env_unsigned(const char *name, unsigned def);
/* getenv() with a default. */
const char *env_or(const char *name, const char *def);
/* size zeroed bytes, for what is made once a request: glibc before 2.41 serves calloc
 * around its per-thread cache, so each calloc takes the arena's slow path and its free
 * fills the cache with chunks no later calloc reuses. */
void *zalloc(size_t size);

#endif
