// SPDX-License-Identifier: Apache-2.0
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zip.h>

#include "archive.h"
#include "util.h"

/*
 * libzip (and the libcrypto it pulls in) is loaded on the first zip, not at start-up:
 * resolving it costs every sandbox about a millisecond, and most actions are not zips.
 */
#define ZIP_FUNCS(X)                                                                               \
	X(zip_discard)                                                                             \
	X(zip_error_fini)                                                                          \
	X(zip_error_init)                                                                          \
	X(zip_error_strerror)                                                                      \
	X(zip_fclose)                                                                              \
	X(zip_file_get_external_attributes)                                                        \
	X(zip_file_strerror)                                                                       \
	X(zip_fopen_index)                                                                         \
	X(zip_fread)                                                                               \
	X(zip_get_name)                                                                            \
	X(zip_get_num_entries)                                                                     \
	X(zip_open_from_source)                                                                    \
	X(zip_source_buffer_create)                                                                \
	X(zip_source_free)                                                                         \
	X(zip_strerror)

#define ZIP_POINTER(f) __typeof__(f) *f;
static struct {
	ZIP_FUNCS(ZIP_POINTER)
} lz;

static int libzip_load(char *err, size_t errlen)
{
	static bool loaded;
	void *h;

	if (loaded)
		return 0;
	h = dlopen("libzip.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!h)
		h = dlopen("libzip.so", RTLD_NOW | RTLD_LOCAL);
	if (!h) {
		snprintf(err, errlen, "cannot load libzip: %s", dlerror());
		return -ENOENT;
	}
#define ZIP_RESOLVE(f)                                                                             \
	if (!(lz.f = (__typeof__(f) *)dlsym(h, #f))) {                                           \
		snprintf(err, errlen, "libzip lacks %s", #f);                                      \
		return -ENOENT;                                                                    \
	}
	ZIP_FUNCS(ZIP_RESOLVE)
#undef ZIP_RESOLVE
	loaded = true;
	return 0;
}

bool archive_is_zip(const void *data, size_t len)
{
	return len >= 4 && !memcmp(data, "PK\003\004", 4);
}

static bool name_is_safe(const char *name)
{
	if (!*name || name[0] == '/')
		return false;
	for (const char *p = name; p; p = strchr(p, '/'), p = p ? p + 1 : NULL)
		if (!strncmp(p, "..", 2) && (p[2] == '/' || p[2] == '\0'))
			return false;
	return true;
}

/*
 * No directory on the way from dir to name is a symbolic link: an earlier entry "l" ->
 * "/elsewhere" must not let "l/x" be written outside dir.
 */
static bool no_link_on_the_way(const char *dir, const char *name)
{
	char path[PATH_MAX];
	size_t base = (size_t)snprintf(path, sizeof(path), "%s/", dir);
	struct stat st;

	for (const char *slash = strchr(name, '/'); slash; slash = strchr(slash + 1, '/')) {
		if (base + (size_t)(slash - name) >= sizeof(path))
			return false;
		memcpy(path + base, name, (size_t)(slash - name));
		path[base + (size_t)(slash - name)] = '\0';
		if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode))
			return false;
	}
	return true;
}

/* The mode a Unix zip tool recorded, or 0 when the archive has none. */
static unsigned entry_mode(zip_t *za, zip_uint64_t i)
{
	zip_uint8_t opsys;
	zip_uint32_t attr;

	if (lz.zip_file_get_external_attributes(za, i, 0, &opsys, &attr) || opsys != ZIP_OPSYS_UNIX)
		return 0;
	return attr >> 16;
}

static int make_parent(const char *path)
{
	char dir[PATH_MAX], *slash;

	snprintf(dir, sizeof(dir), "%s", path);
	slash = strrchr(dir, '/');
	if (!slash)
		return 0;
	*slash = '\0';
	return mkdir_p(dir, 0755);
}

static int extract_one(zip_t *za, zip_uint64_t i, const char *path, unsigned mode, char *err,
		       size_t errlen)
{
	char buf[65536];
	zip_file_t *zf = lz.zip_fopen_index(za, i, 0);
	zip_int64_t n;
	int fd, ret = 0;

	if (!zf) {
		snprintf(err, errlen, "%s", lz.zip_strerror(za));
		return -EIO;
	}
	if (S_ISLNK(mode)) {
		n = lz.zip_fread(zf, buf, sizeof(buf) - 1);
		lz.zip_fclose(zf);
		if (n < 0)
			return -EIO;
		buf[n] = '\0';
		(void)unlink(path);
		return symlink(buf, path) ? -errno : 0;
	}
	/* Never through a link an earlier entry made. */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
		  (mode & 0777) ? mode & 0777 : 0644);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		lz.zip_fclose(zf);
		return ret;
	}
	while ((n = lz.zip_fread(zf, buf, sizeof(buf))) > 0) {
		if (write(fd, buf, (size_t)n) != n) {
			ret = -errno;
			snprintf(err, errlen, "%s: %s", path, strerror(errno));
			break;
		}
	}
	if (n < 0 && !ret) {
		ret = -EIO;
		snprintf(err, errlen, "%s", lz.zip_file_strerror(zf));
	}
	close(fd);
	lz.zip_fclose(zf);
	return ret;
}

int archive_unzip(const void *data, size_t len, const char *dir, char *err, size_t errlen)
{
	zip_error_t ze;
	zip_source_t *src;
	zip_t *za = NULL;
	zip_int64_t n;
	int ret;

	ret = libzip_load(err, errlen);
	if (ret)
		return ret;
	lz.zip_error_init(&ze);
	src = lz.zip_source_buffer_create(data, len, 0, &ze);
	if (src)
		za = lz.zip_open_from_source(src, ZIP_RDONLY, &ze);
	if (!za) {
		snprintf(err, errlen, "%s", lz.zip_error_strerror(&ze));
		lz.zip_source_free(src);
		lz.zip_error_fini(&ze);
		return -EINVAL;
	}
	n = lz.zip_get_num_entries(za, 0);
	for (zip_int64_t i = 0; i < n && !ret; i++) {
		const char *name = lz.zip_get_name(za, (zip_uint64_t)i, 0);
		unsigned mode = entry_mode(za, (zip_uint64_t)i);
		char path[PATH_MAX];
		size_t nlen;

		if (!name || !name_is_safe(name) || !no_link_on_the_way(dir, name)) {
			snprintf(err, errlen, "unsafe entry name '%s'", name ? name : "");
			ret = -EINVAL;
			break;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
			snprintf(err, errlen, "entry name too long");
			ret = -ENAMETOOLONG;
			break;
		}
		nlen = strlen(path);
		if (path[nlen - 1] == '/' || S_ISDIR(mode)) {
			ret = mkdir_p(path, 0755);
			continue;
		}
		ret = make_parent(path);
		if (!ret)
			ret = extract_one(za, (zip_uint64_t)i, path, mode, err, errlen);
	}
	lz.zip_discard(za); /* also frees src */
	lz.zip_error_fini(&ze);
	return ret;
}
