// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <pthread.h>

#include "util.h"

int random_bytes(void *out, size_t n)
{
	char *p = out;

	while (n) {
		ssize_t r = getrandom(p, n, 0);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* xoshiro256** (Blackman and Vigna), seeded per thread from getrandom. */
static __thread uint64_t prng[4];
static __thread int prng_seeded;

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static void prng_forget(void);

static void register_fork_handler(void)
{
	(void)pthread_atfork(NULL, NULL, prng_forget);
}

/* A forked child must not repeat its parent's sequence. */
static void prng_forget(void)
{
	prng_seeded = 0;
}

uint64_t random_u64(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	uint64_t r, t;

	if (!prng_seeded) {
		(void)pthread_once(&once, register_fork_handler);
		if (random_bytes(prng, sizeof(prng)) || !(prng[0] | prng[1] | prng[2] | prng[3]))
			prng[0] = 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&prng;
		prng_seeded = 1;
	}
	r = rotl(prng[1] * 5, 7) * 9;
	t = prng[1] << 17;
	prng[2] ^= prng[0];
	prng[3] ^= prng[1];
	prng[1] ^= prng[2];
	prng[0] ^= prng[3];
	prng[2] ^= t;
	prng[3] = rotl(prng[3], 45);
	return r;
}

int hex_digit(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void random_hex(char *out, size_t n)
{
	static const char digits[] = "0123456789abcdef";
	uint64_t bits = 0;

	for (size_t i = 0; i < n; i++) {
		if (i % 16 == 0)
			bits = random_u64();
		out[i] = digits[bits & 0xf];
		bits >>= 4;
	}
	out[n] = '\0';
}

static const char alnum[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

void random_alnum(char *out, size_t n)
{
	for (size_t i = 0; i < n; i++)
		out[i] = alnum[random_u64() % 62];
	out[n] = '\0';
}

void secret_alnum(char *out, size_t n)
{
	unsigned char raw[64];

	while (n) {
		size_t chunk = n > sizeof(raw) ? sizeof(raw) : n;

		(void)random_bytes(raw, chunk);
		/* 248 = 4 * 62: rejecting above it keeps the choice uniform. */
		for (size_t i = 0; i < chunk; i++) {
			while (raw[i] >= 248)
				(void)random_bytes(&raw[i], 1);
			*out++ = alnum[raw[i] % 62];
		}
		n -= chunk;
	}
	*out = '\0';
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *base64_encode(const void *data, size_t len)
{
	const unsigned char *in = data;
	char *out = malloc(4 * ((len + 2) / 3) + 1), *o = out;
	size_t i;

	if (!out)
		return NULL;
	for (i = 0; i + 2 < len; i += 3) {
		*o++ = b64chars[in[i] >> 2];
		*o++ = b64chars[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
		*o++ = b64chars[((in[i + 1] & 15) << 2) | (in[i + 2] >> 6)];
		*o++ = b64chars[in[i + 2] & 63];
	}
	if (i < len) {
		*o++ = b64chars[in[i] >> 2];
		if (i + 1 < len) {
			*o++ = b64chars[((in[i] & 3) << 4) | (in[i + 1] >> 4)];
			*o++ = b64chars[(in[i + 1] & 15) << 2];
		} else {
			*o++ = b64chars[(in[i] & 3) << 4];
			*o++ = '=';
		}
		*o++ = '=';
	}
	*o = '\0';
	return out;
}

static int b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

void *base64_decode(const char *s, size_t len, size_t *out_len)
{
	unsigned char *out = malloc(len / 4 * 3 + 4), *o = out;
	unsigned acc = 0;
	int bits = 0, pad = 0;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		int v;

		if (c == '\n' || c == '\r' || c == ' ' || c == '\t')
			continue;
		if (c == '=') {
			pad++;
			continue;
		}
		v = b64val(c);
		if (v < 0 || pad)
			goto bad;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			*o++ = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (pad > 2 || bits >= 6)
		goto bad;
	*o = '\0';
	*out_len = (size_t)(o - out);
	return out;
bad:
	free(out);
	return NULL;
}

bool base64_looks_binary(const char *s, size_t len)
{
	size_t pad = 0;

	if (!len || len % 4)
		return false;
	if (s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	for (size_t i = 0; i < len - pad; i++) {
		unsigned char c = (unsigned char)s[i];

		if (!isalnum(c) && c != '+' && c != '/')
			return false;
	}
	return true;
}

uint64_t clock_real_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t clock_real_us(void)
{
	return clock_real_ns() / 1000;
}

uint64_t clock_cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000ull + (uint64_t)ts.tv_nsec / 1000;
}

void format_rfc3339_nano(char *out, size_t size, uint64_t ns)
{
	time_t secs = (time_t)(ns / 1000000000ull);
	struct tm tm;
	char date[24];

	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, size, "%s.%09lluZ", date, (unsigned long long)(ns % 1000000000ull));
}

int parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int parse_i64(const char *s, int64_t *out)
{
	long long v;
	char *end;

	if (!s || !*s || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

void str_copy(char *dst, size_t size, const char *src)
{
	size_t n = strnlen(src, size - 1);

	memcpy(dst, src, n);
	dst[n] = '\0';
}

size_t u64_dec(char *out, uint64_t v)
{
	char digits[20];
	size_t n = 0;

	do
		digits[n++] = (char)('0' + v % 10);
	while ((v /= 10));
	for (size_t i = 0; i < n; i++)
		out[i] = digits[n - 1 - i];
	out[n] = '\0';
	return n;
}

bool str_is_true(const char *s)
{
	return s && (!strcasecmp(s, "true") || !strcmp(s, "1") || !strcasecmp(s, "yes"));
}

char *str_trim_dup(const char *s)
{
	size_t len;

	while (isspace((unsigned char)*s))
		s++;
	len = strlen(s);
	while (len && isspace((unsigned char)s[len - 1]))
		len--;
	return strndup(s, len);
}

char *file_read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data = NULL;
	size_t cap = 0, n = 0;

	if (!f)
		return NULL;
	for (;;) {
		size_t r;

		if (n + 4096 + 1 > cap) {
			char *p = realloc(data, cap ? cap * 2 : 8192);

			if (!p) {
				free(data);
				fclose(f);
				return NULL;
			}
			data = p;
			cap = cap ? cap * 2 : 8192;
		}
		r = fread(data + n, 1, cap - n - 1, f);
		n += r;
		if (r == 0)
			break;
	}
	fclose(f);
	data[n] = '\0';
	if (len)
		*len = n;
	return data;
}

int file_write_atomic(const char *path, const void *data, size_t len, unsigned mode)
{
	char tmp[PATH_MAX];
	const char *p = data;
	int fd, err = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%d", path, getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
	if (fd < 0)
		return -errno;
	while (len) {
		ssize_t w = write(fd, p, len);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto out;
		}
		p += w;
		len -= (size_t)w;
	}
	if (fsync(fd) < 0) {
		err = -errno;
		goto out;
	}
	if (rename(tmp, path) < 0)
		err = -errno;
out:
	close(fd);
	if (err)
		unlink(tmp);
	return err;
}

int mkdir_p(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len >= sizeof(tmp))
		return -ENAMETOOLONG;
	memcpy(tmp, path, len + 1);
	for (char *p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(tmp, mode) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

const char *exe_dir(void)
{
	static char dir[PATH_MAX];
	ssize_t n;
	char *slash;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0) {
		strcpy(dir, ".");
		return dir;
	}
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	return dir;
}

const char *env_or(const char *name, const char *def)
{
	const char *v = getenv(name);

	return v && *v ? v : def;
}

int basic_auth_decode(const char *header, char *out, size_t size)
{
	size_t len, n;
	char *raw;

	if (!header || strncasecmp(header, "Basic ", 6))
		return -EINVAL;
	header += 6;
	while (*header == ' ')
		header++;
	len = strlen(header);
	while (len && isspace((unsigned char)header[len - 1]))
		len--;
	if (!len || len > 4 * size / 3)
		return -EINVAL;
	raw = base64_decode(header, len, &n);
	if (!raw)
		return -EINVAL;
	if (n >= size || strlen(raw) != n || !strchr(raw, ':')) {
		free(raw);
		return -EINVAL;
	}
	memcpy(out, raw, n + 1);
	free(raw);
	return 0;
}

static uint32_t prefix_mask(int prefix)
{
	return prefix ? ~(uint32_t)0 << (32 - prefix) : 0;
}

int cidr_parse(const char *cidr, uint32_t *network, int *prefix)
{
	const char *slash = strchr(cidr, '/');
	char addr[INET_ADDRSTRLEN];
	struct in_addr in;
	char *end;
	long n;

	if (!slash || (size_t)(slash - cidr) >= sizeof(addr))
		return -EINVAL;
	memcpy(addr, cidr, (size_t)(slash - cidr));
	addr[slash - cidr] = '\0';
	errno = 0;
	n = strtol(slash + 1, &end, 10);
	if (errno || end == slash + 1 || *end || n < 0 || n > 32 ||
	    inet_pton(AF_INET, addr, &in) != 1)
		return -EINVAL;
	*prefix = (int)n;
	*network = ntohl(in.s_addr) & prefix_mask((int)n);
	return 0;
}

bool cidr_contains(uint32_t network, int prefix, uint32_t addr)
{
	return (addr & prefix_mask(prefix)) == network;
}

bool cidr_overlap(const char *a, const char *b)
{
	uint32_t na, nb;
	int pa, pb;

	if (cidr_parse(a, &na, &pa) || cidr_parse(b, &nb, &pb))
		return false;
	return cidr_contains(na, pa, nb) || cidr_contains(nb, pb, na);
}

uint32_t str_hash(const char *s)
{
	uint32_t h = 2166136261u;

	while (*s)
		h = (h ^ (unsigned char)*s++) * 16777619u;
	return h;
}

unsigned env_unsigned(const char *name, unsigned def)
{
	const char *v = getenv(name);
	uint64_t n;

	if (!v || parse_u64(v, &n) || n > UINT32_MAX)
		return def;
	return (unsigned)n;
}

char **strv_dup(char *const *v)
{
	size_t n = 0;
	char **c;

	while (v && v[n])
		n++;
	c = calloc(n + 1, sizeof(*c));
	for (size_t i = 0; c && i < n; i++)
		if (!(c[i] = strdup(v[i]))) {
			strv_free(c);
			return NULL;
		}
	return c;
}

void strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

void *zalloc(size_t size)
{
	void *p = malloc(size);

	/* Hidden from the compiler, which would otherwise fold malloc and memset back
	 * into calloc. */
	__asm__("" : "+r"(p));
	if (p)
		memset(p, 0, size);
	return p;
}
