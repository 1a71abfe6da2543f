/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The "sandbox" sections of the runtimes manifest (userspace/runtimes/runtimes.json):
 * for each kind, the command that starts a server speaking /init and /run on port
 * 8080, an optional fork-server (zygote) for its language loop, and stem-cell settings.
 *
 *   "sandbox": {
 *     "command": ["${XWHISK_PROXY}", "--kind", "python:3", "--", "python3", "loop.py"],
 *     "zygote": ["python3", "${XWHISK_RUNTIMES}/python/loop.py", "--zygote"],
 *     "ready": "notify",          // or "tcp" (default): how readiness is learnt
 *     "stemCells": 2,             // prewarmed sandboxes kept (XWHISK_PREWARM overrides)
 *     "memory": 256,              // MB, the limit of a stem cell until it is handed out
 *     "env": { "NAME": "value" }  // added to the sandbox environment
 *   }
 *
 * A bare program name in a command is looked up in the sandbox's PATH when loading.
 */
#ifndef XWHISK_SANDBOX_KINDS_H
#define XWHISK_SANDBOX_KINDS_H

#include <stdbool.h>
#include <stddef.h>

#define SANDBOX_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

struct runtime_kind {
	char *kind;      /* "nodejs:20", "blackbox" */
	char *image;     /* blackboxes: "prefix/name", else NULL */
	char **command;  /* NULL-terminated */
	char **zygote;   /* NULL-terminated, or NULL */
	char **env;      /* "NAME=value", NULL-terminated */
	char *workdir;   /* the command's working directory (NULL: /) */
	bool notify;     /* the command reports readiness on $XWHISK_READY_FD */
	unsigned stem_cells;
	unsigned memory_mb;
};

struct manifest {
	struct runtime_kind *kinds;
	size_t nkinds;
};

/* Loads path, expanding ${XWHISK_PROXY} and ${XWHISK_RUNTIMES}. */
int manifest_load(struct manifest *m, const char *path, const char *proxy, const char *runtimes);
void manifest_free(struct manifest *m);
/* By kind, or for blackboxes by "prefix/name" or "blackbox" (the first one). */
struct runtime_kind *manifest_find(const struct manifest *m, const char *kind);
/* Applies "kind=N,kind=N"; -ENOENT names the first unknown kind in *bad. */
int manifest_prewarm(struct manifest *m, const char *spec, const char **bad);

#endif
