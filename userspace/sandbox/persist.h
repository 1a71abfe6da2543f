/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What survives a restart of the node: one directory per sandbox under the state
 * directory, <state>/<id>/, holding state.json and the action's directory (action/).
 * A restarted manager reads them back to re-adopt live sandboxes and clean up dead ones.
 * Writes replace the file atomically (rename) without fsync: the record only has to
 * outlive the node process, not the machine, whose reboot ends every sandbox anyway.
 */
#ifndef XWHISK_SANDBOX_PERSIST_H
#define XWHISK_SANDBOX_PERSIST_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"

#define SANDBOX_ID_LEN 12

struct sandbox_state {
	char id[SANDBOX_ID_LEN + 1];
	char kind[64];
	unsigned memory_mb;
	pid_t pid;
	uint64_t start_time; /* /proc/<pid>/stat field 22: tells a reused pid apart */
	char ip[16];
	char veth[16];
	struct cgroup cgroup;
	char *label;         /* the owner's tag, malloc'd; NULL while pooled */
	bool pooled;
	uint64_t created_ms; /* wall clock */
};

int state_write(const char *dir, const struct sandbox_state *st);
/* Reads <dir>/state.json; st->label is malloc'd. */
int state_read(const char *dir, struct sandbox_state *st);
/* Start time of a live pid, 0 if it is gone. */
uint64_t proc_start_time(pid_t pid);
/* Removes a directory tree (the sandbox's state and action directory). */
int remove_tree(const char *path);

#endif
