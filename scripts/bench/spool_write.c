// SPDX-License-Identifier: Apache-2.0
/*
 * What appending an activation record to a spool file costs, four ways (issue 8: would a
 * spool the workers memcpy into, a shared file mapping, be cheaper than one write(2) per
 * loop turn?). Files of 16 MB (the spool files' size before the spool became a ring of
 * mapped segments, spool.h) in the current directory, removed after.
 *   make build/bench/spool_write, then from a folder on the disk to measure (/var/tmp, not a
 *   tmpfs): spool_write write|mmap|mmap-populate|ring [RECORDS (100000)] [BYTES (700)]
 * write: O_APPEND and one write per record, as the node's spool_flush did at one connection;
 * mmap: fallocate'd files mapped shared, each record memcpy'd (every fresh page a fault);
 * mmap-populate: the same with every page faulted in at once (MADV_POPULATE_WRITE);
 * ring: one such file, populated before the clock starts and written round and round, the
 *   end published after each record by an atomic store, as the node's spool now does
 *   (no fault after the first pass, no system call).
 * Prints the process's CPU time (user + system) per record.
 */
#ifndef _GNU_SOURCE /* the Makefile defines it */
#define _GNU_SOURCE
#endif
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#define SEGMENT (16u << 20)

/* A new segment file in the current directory, unlinked at once (gone when closed):
 * mapped shared over SEGMENT fallocate'd bytes (every page faulted in with populate) into
 * *map, or, without mapped, opened for appending. The descriptor, or -1. */
static int open_segment(const char *name, bool mapped, bool populate, char **map)
{
	int fd = open(name, O_RDWR | O_CREAT | O_TRUNC | (mapped ? 0 : O_APPEND), 0600);

	if (fd < 0)
		return -1;
	(void)unlink(name);
	if (!mapped)
		return fd;
	*map = fallocate(fd, 0, 0, SEGMENT) ? MAP_FAILED
		: mmap(NULL, SEGMENT, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (*map == MAP_FAILED || (populate && madvise(*map, SEGMENT, MADV_POPULATE_WRITE))) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "write";
	long n = argc > 2 ? atol(argv[2]) : 100000;
	size_t rec = argc > 3 ? (size_t)atol(argv[3]) : 700, used = SEGMENT;
	bool ring = !strcmp(mode, "ring"), mapped = strcmp(mode, "write") != 0;
	bool populate = ring || !strcmp(mode, "mmap-populate");
	/* the ring's first line holds the published end */
	size_t start = ring ? 64 : 0;
	uint64_t published = 0;
	char *line = malloc(rec), *map = NULL, name[64];
	int fd = -1, files = 0;
	double t0;

	if (!line || rec < 2 || rec > SEGMENT - start)
		return 2;
	memset(line, 'x', rec - 1);
	line[rec - 1] = '\n';
	if (ring) { /* one file, mapped before the clock starts */
		fd = open_segment("spool_write-ring", true, true, &map);
		if (fd < 0)
			return 1;
		used = start;
		files = 1;
	}
	t0 = clock_cpu_us();
	for (long i = 0; i < n; i++) {
		if (ring && used + rec > SEGMENT) {
			used = start;
		} else if (used + rec > SEGMENT) { /* the next file, as the spool rotates */
			if (map)
				munmap(map, SEGMENT);
			if (fd >= 0 && mapped && ftruncate(fd, (off_t)used))
				return 1;
			if (fd >= 0)
				close(fd);
			snprintf(name, sizeof(name), "spool_write-%d.ndjson", files++);
			fd = open_segment(name, mapped, populate, &map);
			if (fd < 0)
				return 1;
			used = 0;
		}
		if (!mapped) {
			if (write(fd, line, rec) != (ssize_t)rec)
				return 1;
		} else {
			memcpy(map + used, line, rec);
			if (ring)
				__atomic_store_n((uint64_t *)map, published += rec, __ATOMIC_RELEASE);
		}
		used += rec;
	}
	printf("%s: %.2f us of CPU per %zu-byte record (%ld records, %d files)\n", mode,
	       (clock_cpu_us() - t0) / (double)n, rec, n, files);
	return 0;
}
