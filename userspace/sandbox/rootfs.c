// SPDX-License-Identifier: Apache-2.0
/*
 * What of the host a sandbox sees (read-only): an allow-list, not the host's root.
 * The programs and libraries (/usr and the top-level links or directories into it),
 * the few files of /etc that a language runtime reads (names, resolver, certificates,
 * time zone, the dynamic linker's cache), and what the manager exposes by path: the
 * proxy binary, the runtimes directory, the operator's additions. Nothing else of the
 * host: not /home, /root, /var, /srv, /opt, the checkout the node runs from, the rest
 * of /etc. The child (launch.c) mounts the entries; this file only decides them.
 */
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "launch.h"
#include "util.h"

/* Top-level: merged-/usr systems have links here, older ones directories. */
static const char *const system_dirs[] = { "/usr", "/bin", "/sbin", "/lib", "/lib32",
					   "/lib64", "/libx32" };

/* Entries of /etc a runtime may read (fnmatch patterns). */
static const char *const etc_allowed[] = {
	"passwd", "group", "nsswitch.conf", "hosts", "host.conf", "resolv.conf", "gai.conf",
	"services", "protocols", "networks", "localtime", "timezone", "ld.so.cache",
	"ld.so.conf", "ld.so.conf.d", "ssl", "ca-certificates", "ca-certificates.conf", "pki",
	"crypto-policies", "alternatives", "mime.types", "os-release", "debian_version",
	"locale.alias", "python3*", "magic", "magic.mime",
};

/* Where an exposed path would be mounted over, or not be a path of the host's at all. */
static const char *const never_exposed[] = { "/proc", "/sys", "/dev", "/action" };

static bool path_within(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == '/' || path[n] == '\0');
}

static int add_entry(struct rootfs *rf, const char *path, const char *link, bool dir)
{
	struct rootfs_entry *e;

	if (rf->n == rf->cap) {
		size_t cap = rf->cap ? rf->cap * 2 : 32;
		struct rootfs_entry *ne = realloc(rf->entries, cap * sizeof(*ne));

		if (!ne)
			return -ENOMEM;
		rf->entries = ne;
		rf->cap = cap;
	}
	e = &rf->entries[rf->n];
	e->path = strdup(path);
	e->link = link ? strdup(link) : NULL;
	e->dir = dir;
	if (!e->path || (link && !e->link)) {
		free(e->path);
		free(e->link);
		return -ENOMEM;
	}
	rf->n++;
	return 0;
}

static int scan_system(struct rootfs *rf)
{
	int err = 0;

	for (size_t i = 0; !err && i < ARRAY_SIZE(system_dirs); i++) {
		char link[PATH_MAX];
		struct stat st;
		ssize_t n;

		if (lstat(system_dirs[i], &st))
			continue;
		if (S_ISDIR(st.st_mode)) {
			err = add_entry(rf, system_dirs[i], NULL, true);
		} else if (S_ISLNK(st.st_mode)) {
			n = readlink(system_dirs[i], link, sizeof(link) - 1);
			if (n <= 0)
				continue;
			link[n] = '\0';
			err = add_entry(rf, system_dirs[i], link, false);
		}
	}
	return err;
}

/* Each allowed entry of /etc, bound from what it resolves to (/etc/resolv.conf may
 * point into /run, which the sandbox does not see). */
static int scan_etc(struct rootfs *rf)
{
	DIR *d = opendir("/etc");
	struct dirent *de;
	int err = 0;

	if (!d)
		return 0;
	while (!err && (de = readdir(d))) {
		char path[PATH_MAX];
		struct stat st;
		bool allowed = false;

		for (size_t i = 0; i < ARRAY_SIZE(etc_allowed); i++)
			allowed |= !fnmatch(etc_allowed[i], de->d_name, 0);
		snprintf(path, sizeof(path), "/etc/%s", de->d_name);
		if (!allowed || stat(path, &st) || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
			continue;
		err = add_entry(rf, path, NULL, S_ISDIR(st.st_mode));
	}
	closedir(d);
	return err;
}

/* An absolute host path, resolved (the child makes its mount point component by
 * component, never through a link); nothing when the view shows it already. */
static int scan_exposed(struct rootfs *rf, const char *path)
{
	char real[PATH_MAX];
	struct stat st;

	if (path[0] != '/')
		return -EINVAL;
	if (!realpath(path, real) || stat(real, &st))
		return -errno;
	if (!strcmp(real, "/"))
		return -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(never_exposed); i++)
		if (path_within(real, never_exposed[i]))
			return -EINVAL;
	for (size_t i = 0; i < rf->n; i++)
		if (!rf->entries[i].link && path_within(real, rf->entries[i].path))
			return 0;
	return add_entry(rf, real, NULL, S_ISDIR(st.st_mode));
}

/* An exposed directory holding earlier entries makes them redundant; they would also
 * need mount points made inside a bound host directory. */
static void drop_covered(struct rootfs *rf)
{
	size_t kept = 0;

	for (size_t i = 0; i < rf->n; i++) {
		struct rootfs_entry *e = &rf->entries[i];
		bool covered = false;

		for (size_t j = 0; j < rf->n && !covered; j++)
			covered = j != i && rf->entries[j].dir && !rf->entries[j].link &&
				  path_within(e->path, rf->entries[j].path) &&
				  strcmp(e->path, rf->entries[j].path);
		if (covered) {
			free(e->path);
			free(e->link);
			continue;
		}
		rf->entries[kept++] = *e;
	}
	rf->n = kept;
}

static int copy_hide(struct rootfs *rf, const char *const *hide)
{
	size_t n = 0;

	while (hide && hide[n])
		n++;
	if (!n)
		return 0;
	rf->hide = calloc(n, sizeof(*rf->hide));
	if (!rf->hide)
		return -ENOMEM;
	for (; rf->nhide < n; rf->nhide++)
		if (!(rf->hide[rf->nhide] = strdup(hide[rf->nhide])))
			return -ENOMEM;
	return 0;
}

int rootfs_scan(struct rootfs *rf, const char *const *expose, const char *const *hide,
		const char **bad)
{
	int err;

	memset(rf, 0, sizeof(*rf));
	err = scan_system(rf);
	if (!err)
		err = scan_etc(rf);
	for (size_t i = 0; !err && expose && expose[i]; i++) {
		err = scan_exposed(rf, expose[i]);
		if (err && bad)
			*bad = expose[i];
	}
	if (!err)
		drop_covered(rf);
	if (!err)
		err = copy_hide(rf, hide);
	if (err)
		rootfs_free(rf);
	return err;
}

void rootfs_free(struct rootfs *rf)
{
	if (!rf)
		return;
	for (size_t i = 0; rf->hide && i < rf->nhide; i++)
		free(rf->hide[i]);
	free(rf->hide);
	for (size_t i = 0; i < rf->n; i++) {
		free(rf->entries[i].path);
		free(rf->entries[i].link);
	}
	free(rf->entries);
	memset(rf, 0, sizeof(*rf));
}
