// SPDX-License-Identifier: Apache-2.0
/*
 * Zip extraction (userspace/proxy/archive.c): an action's archive unpacked into a
 * directory. Besides not crashing, nothing may land outside that directory: each input
 * is unpacked into <base>/in beside an empty <base>/canary, and afterwards <base> must
 * hold exactly those two and the canary must still be empty.
 */
#include <dirent.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive.h"
#include "fuzz.h"

static char base[64], in_dir[96], canary[96];

static int open_up(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	if (type == FTW_D || type == FTW_DNR)
		(void)chmod(path, 0700);
	return 0;
}

static int remove_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)remove(path);
	return 0;
}

static void remove_tree(const char *path)
{
	/* Most inputs are no zip and leave the directory empty: one rmdir instead of two
	 * walks (a dozen system calls, most of an input's time). */
	if (!rmdir(path))
		return;
	/* Entries may have made directories we cannot enter or write: open them up first. */
	(void)chmod(path, 0700);
	(void)nftw(path, open_up, 16, FTW_PHYS);
	(void)nftw(path, remove_one, 16, FTW_PHYS | FTW_DEPTH);
}

static void cleanup(void)
{
	if (base[0])
		remove_tree(base);
}

static size_t entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	size_t n = 0;

	if (!d)
		abort();
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256];

	if (!base[0]) {
		fuzz_tmpdir(base, sizeof(base), "zip");
		snprintf(in_dir, sizeof(in_dir), "%s/in", base);
		snprintf(canary, sizeof(canary), "%s/canary", base);
		if (mkdir(canary, 0755))
			abort();
		atexit(cleanup);
	}
	if (mkdir(in_dir, 0755))
		abort();
	(void)archive_is_zip(data, size);
	(void)archive_unzip(data, size, in_dir, err, sizeof(err));
	if (entries(base) != 2 || entries(canary) != 0) {
		fprintf(stderr, "fuzz_zip: an entry was written outside the directory\n");
		abort();
	}
	remove_tree(in_dir);
	return 0;
}
