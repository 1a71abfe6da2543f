/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Control groups for sandboxes, v1 or v2 detected at run time.
 *
 * v1: one directory per hierarchy (memory, and cpu and pids when they are mounted);
 * v2: one directory in the unified hierarchy with memory, cpu and pids enabled.
 * Sandboxes live under a parent: a relative parent ("xwhisk") is created under the
 * caller's own cgroup, an absolute one ("/xwhisk") under each hierarchy's root.
 */
#ifndef XWHISK_SANDBOX_CGROUP_H
#define XWHISK_SANDBOX_CGROUP_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

enum cgroup_ctrl { CG_MEMORY, CG_CPU, CG_PIDS, CG_NCTRL };

struct cgroup_tree {
	int version;                     /* 1 or 2 */
	char parent[CG_NCTRL][PATH_MAX]; /* v1: per hierarchy, "" when absent; v2: parent[0] only */
};

/* One sandbox's cgroup: the directories it owns (v2: dir[0] only). */
struct cgroup {
	int version;
	char dir[CG_NCTRL][PATH_MAX];
};

/* Finds the hierarchies and creates the parent directories. */
int cgroup_tree_init(struct cgroup_tree *tree, const char *parent);

int cgroup_create(const struct cgroup_tree *tree, const char *name, struct cgroup *cg);
/* Memory limit (no swap on top) and a CPU weight proportional to it; pids capped. */
int cgroup_set_limits(const struct cgroup *cg, unsigned memory_mb, unsigned pids_max);
/*
 * Opens what a child needs to join: v1 the cgroup.procs files (write "0"), v2 the
 * directory (for CLONE_INTO_CGROUP). Returns the number of fds put in fds.
 */
int cgroup_open_join(const struct cgroup *cg, int fds[CG_NCTRL]);
/* The file that counts OOM kills (v1 memory.oom_control, v2 memory.events). */
int cgroup_open_oom(const struct cgroup *cg);
/* Reads the oom_kill counter from a file opened by cgroup_open_oom(). */
long cgroup_oom_kills(int fd);
/* An OOM kill in the group although it never reached its own limit: the host ran out of
 * memory (cgroup v2; false on v1). */
bool cgroup_oom_was_host(int fd);
/* Kills every process left in the cgroup (v2 cgroup.kill; v1 one by one). */
void cgroup_kill_all(const struct cgroup *cg);
/* Removes the directories; -EBUSY while processes remain. */
int cgroup_destroy(const struct cgroup *cg);
/* Removes the parent directories; -EBUSY while sandboxes' cgroups remain under them. */
int cgroup_tree_remove(const struct cgroup_tree *tree);
/* Calls cb with the name of every child directory of the tree's parents (orphan sweep). */
void cgroup_tree_list(const struct cgroup_tree *tree, void (*cb)(const char *name, void *data),
		      void *data);
/* Rebuilds a sandbox's cgroup from the tree and its name. */
void cgroup_from_name(const struct cgroup_tree *tree, const char *name, struct cgroup *cg);

#endif
