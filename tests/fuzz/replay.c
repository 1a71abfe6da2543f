// SPDX-License-Identifier: Apache-2.0
/*
 * Replays a fuzz target's corpus without libFuzzer: every regular file of every directory
 * (or file) named on the command line goes through LLVMFuzzerTestOneInput once, in name
 * order. Prints "ok - fuzz_<name>: N inputs" for tests/run.sh; an input that crashes the
 * target is named on stderr before the process dies, so the failure says which file.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz.h"
#include "util.h"

static const char *current; /* the input being replayed, for the crash note */

/* ASan and UBSan call this before they end the process (when linked with them). */
void __sanitizer_set_death_callback(void (*cb)(void)) __attribute__((weak));

static void note_current(void)
{
	if (current) {
		(void)!write(2, "not ok - crashed on ", 20);
		(void)!write(2, current, strlen(current));
		(void)!write(2, "\n", 1);
	}
}

static void on_fatal(int sig)
{
	note_current();
	signal(sig, SIG_DFL);
	raise(sig);
}

static int replay_file(const char *path)
{
	size_t len = 0;
	char *data = file_read_all(path, &len);

	if (!data) {
		fprintf(stderr, "cannot read %s: %s\n", path, strerror(errno));
		return -EIO;
	}
	current = path;
	LLVMFuzzerTestOneInput((const uint8_t *)data, len);
	current = NULL;
	free(data);
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

/* Returns the number of inputs replayed, or a negative errno. */
static long replay_path(const char *path)
{
	struct dirent **names = NULL;
	struct stat st;
	long count = 0;
	int n, err = 0;

	if (stat(path, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return replay_file(path) ? -EIO : 1;
	n = scandir(path, &names, NULL, by_name);
	if (n < 0)
		return -errno;
	for (int i = 0; i < n; i++) {
		char file[4096];

		snprintf(file, sizeof(file), "%s/%s", path, names[i]->d_name);
		if (!err && names[i]->d_name[0] != '.' && stat(file, &st) == 0 &&
		    S_ISREG(st.st_mode)) {
			err = replay_file(file);
			count++;
		}
		free(names[i]);
	}
	free(names);
	return err ? err : count;
}

int main(int argc, char **argv)
{
	const char *name = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	static const int fatal[] = { SIGSEGV, SIGABRT, SIGBUS, SIGFPE, SIGILL };
	long total = 0;

	/* Under a sanitizer its own handlers report the crash: leave them in place. */
	if (__sanitizer_set_death_callback)
		__sanitizer_set_death_callback(note_current);
	else
		for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
			signal(fatal[i], on_fatal);
	if (argc < 2) {
		fprintf(stderr, "usage: %s CORPUS_DIR_OR_FILE...\n", name);
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		long n = replay_path(argv[i]);

		if (n < 0) {
			printf("not ok - %s: %s: %s\n", name, argv[i], strerror((int)-n));
			return 1;
		}
		total += n;
	}
	if (!total) {
		printf("not ok - %s: no inputs\n", name);
		return 1;
	}
	printf("ok - %s: %ld inputs\n", name, total);
	return 0;
}
