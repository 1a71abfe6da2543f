/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The local sandbox backend: isolated processes that serve the OpenWhisk runtime
 * protocol (POST /init, POST /run) on port 8080 of their own IPv4 address.
 *
 * Each sandbox has new network, PID, mount, IPC and UTS namespaces, a cgroup (v1 or
 * v2) limiting memory, CPU weight and pids, no capabilities, no_new_privs, an
 * unprivileged uid, a seccomp filter, a read-only view of what the runtimes need of the
 * host file system (an allow-list) with a private /tmp and its action's directory at
 * /action, and a veth pair to a node bridge. It runs the
 * command the runtimes manifest gives for its kind (xwhisk-proxy, or any server that
 * speaks /init and /run). See docs/SANDBOXES.md.
 *
 * Everything happens on the caller's event loop: nothing here blocks for long or
 * polls. Deaths arrive through pidfds, output through pipes, readiness through a pipe
 * the command writes to (or, for foreign commands, a TCP connect to port 8080).
 *
 * Lifecycle: starting -> ready (pooled as a stem cell, or handed to a requester) ->
 * the owner sends /init (warm) and /run -> destroyed by the owner, or dead on its own
 * (the exited callback). Stem cells are kept per kind, as the manifest or
 * XWHISK_PREWARM says ("nodejs:20=2,python:3=2"), and refilled in the background; a
 * kind with a zygote in the manifest gets its language loop forked from it.
 *
 * Talking to a sandbox: POST /init and /run on sandbox_ip():SANDBOX_PORT, exactly as to
 * an OpenWhisk runtime container. xwhisk-proxy also reads an optional top-level
 * "concurrency": N in the /init body (the action's limits.concurrency; the reference
 * runtimes ignore it): it then accepts N /run at once and answers 429 with
 * Retry-After beyond. Without it, one at a time. Its answers and error texts are
 * OpenWhisk's (openwhisk-api.md §6); an action that outgrew its memory gets
 * 502 {"error":"The action exhausted its memory and was aborted."}.
 *
 * Logs: a sandbox's stdout and stderr are two pipes read here and cut into lines,
 * each delivered to the log callback with the wall-clock time it was read. The
 * runtime ends each activation (and a failed /init) with the line
 * XXX_THE_END_OF_A_WHISK_ACTIVATION_XXX on both streams; those lines come with
 * sentinel = true. An owner collects an activation's logs until it has seen the
 * sentinel on both streams (the /run answer may arrive before or after them), as
 * OpenWhisk's invoker does. With concurrency > 1, lines of concurrent activations
 * interleave (OpenWhisk does not separate them either). Lines are cut at 16 KB.
 * The sandbox's end of each pipe is opened read-write, so a sandbox whose node is
 * gone never gets EPIPE: its output waits in the pipe (256 KB) for the next node.
 *
 * Restarts: the manager keeps <state_dir>/<id>/state.json per ready sandbox (id, kind,
 * memory, pid and its start time, address, veth, cgroup, label). Sandboxes do not
 * depend on the node process: nothing kills them when it dies. sandbox_manager_new()
 * reads the state back: live sandboxes are re-attached (pidfd reopened, output pipes
 * reopened through /proc/<pid>/fd), stem cells return to the pool, dead ones and ones
 * caught starting are cleaned up; sandbox_manager_adopted() then hands the owner its
 * sandboxes again. The state directory is hidden from sandboxes; hide the node's
 * other data (the controller's database, say) with sandbox_config.hide.
 *
 * Network policy: with sandbox_config.bpf_pin_dir, sandbox_tc is attached to each
 * sandbox's veth before the sandbox runs anything and filters what it sends (the node's
 * ingress port, its server's replies, DNS and allowed networks; egress off by default).
 * See docs/SANDBOXES.md, "Network policy".
 *
 * One manager owns a state directory, a bridge, a subnet and a BPF pin directory: two
 * managers must not share them.
 */
#ifndef XWHISK_SANDBOX_H
#define XWHISK_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "loop.h"
#include "xwhisk/verdict.h"

#define SANDBOX_PORT 8080
#define SANDBOX_DEFAULT_BRIDGE "xwbr0"
/* Link-local, and away from 169.254.169.254 (cloud metadata services). */
#define SANDBOX_DEFAULT_SUBNET "169.254.32.0/19"

struct sandbox_manager;
struct sandbox;
struct sandbox_request;

enum sandbox_stream {
	SANDBOX_STDOUT = 1,
	SANDBOX_STDERR = 2,
};

enum sandbox_exit_reason {
	SANDBOX_EXITED, /* its init exited: status is the exit code (0 when unknown) */
	SANDBOX_KILLED, /* its init was killed by a signal from outside (nothing in it can),
			 * or the host's OOM killer took it: the platform's failure */
	SANDBOX_OOM,    /* a process in it hit the memory limit and was OOM-killed */
};

struct sandbox_callbacks {
	/*
	 * A sandbox handed to the owner died without sandbox_destroy(). Its remaining
	 * output has been delivered. sb is freed when this returns.
	 */
	void (*exited)(struct sandbox *sb, enum sandbox_exit_reason reason, int status,
		       void *data);
	/* One line of output (without its newline) of a sandbox handed to the owner. */
	void (*log)(struct sandbox *sb, enum sandbox_stream stream, const char *line, size_t len,
		    uint64_t ts_ns, bool sentinel, void *data);
};

struct sandbox_config {
	const char *state_dir;     /* required; hidden from sandboxes */
	const char *runtimes;      /* the runtimes manifest (runtimes.json) */
	const char *proxy;         /* xwhisk-proxy, for ${XWHISK_PROXY} */
	const char *runtimes_dir;  /* ${XWHISK_RUNTIMES}; default: the manifest's directory */
	const char *bridge;        /* default SANDBOX_DEFAULT_BRIDGE */
	const char *subnet;        /* default SANDBOX_DEFAULT_SUBNET; .1 goes to the bridge */
	const char *prewarm;       /* "kind=N,..."; NULL: $XWHISK_PREWARM, else the manifest */
	const char *cgroup_parent; /* "xwhisk" (under our own cgroup) or "/xwhisk" (root) */
	const char *api_host;      /* __OW_API_HOST in every sandbox, if set */
	const char *const *hide;   /* more host directories to hide (NULL-terminated) */
	/* More host paths (absolute; files or directories) sandboxes see read-only, beside
	 * the programs, libraries and runtimes (NULL-terminated); $XWHISK_SANDBOX_EXPOSE
	 * adds a comma-separated list. */
	const char *const *expose;
	unsigned uid, gid;         /* the sandbox user; 0 means 65534 (never root) */
	unsigned max_starting;     /* sandboxes started at once (default 8) */
	unsigned start_timeout_ms; /* a start that takes longer fails (default 30000) */
	unsigned pids_max;         /* processes per sandbox (default 1024) */
	/*
	 * The network policy sandbox_tc enforces on each sandbox's veth (docs/SANDBOXES.md,
	 * "Network policy"). Without bpf_pin_dir, or where the program cannot be loaded or
	 * attached (an old kernel), sandboxes start unfiltered: one log line, and
	 * sandbox_stats.net_unfiltered counts them.
	 */
	const char *bpf_pin_dir;   /* where sandbox_tc's maps and links are pinned; NULL: none */
	unsigned ingress_port;     /* the node's API port sandboxes may reach on the bridge */
	const char *net_allow;     /* "CIDR[:port],..."; NULL: $XWHISK_SANDBOX_ALLOW */
	const char *net_dns;       /* DNS servers "addr,..."; NULL: $XWHISK_SANDBOX_DNS */
	const char *net_egress;    /* "on" or "off"; NULL: $XWHISK_SANDBOX_EGRESS, else off */
};

/*
 * Creates a manager on loop: sets up the bridge and the cgroup parent, re-adopts
 * the sandboxes in state_dir (see above) and starts filling the stem-cell pool.
 * Returns NULL with errno set on failure.
 */
struct sandbox_manager *sandbox_manager_new(struct loop *loop, const struct sandbox_config *cfg,
					    const struct sandbox_callbacks *cb, void *data);
/* Stops managing: running sandboxes stay up for the next manager to adopt. */
void sandbox_manager_free(struct sandbox_manager *m);
/* Destroys every sandbox, stem cells included, and stops refilling the pool. */
void sandbox_manager_destroy_all(struct sandbox_manager *m);
/* Calls cb once for each live sandbox found at start that had been handed out. */
void sandbox_manager_adopted(struct sandbox_manager *m,
			     void (*cb)(struct sandbox *sb, void *data), void *data);
bool sandbox_manager_has_kind(const struct sandbox_manager *m, const char *kind);

struct sandbox_stats {
	unsigned live;     /* ready and handed out */
	unsigned pooled;   /* ready stem cells */
	unsigned starting;
	unsigned dying;    /* destroyed, cleanup not finished */
	uint64_t started, failed, pool_hits, pool_misses;
	uint64_t net_unfiltered; /* sandboxes started without sandbox_tc on their veth */
};
void sandbox_manager_stats(const struct sandbox_manager *m, struct sandbox_stats *st);
/* cb per kind with its ready stem cells (image: a blackbox kind's image, else NULL). */
void sandbox_manager_stem_cells(const struct sandbox_manager *m,
				void (*cb)(const char *kind, const char *image, unsigned ready,
					   void *data),
				void *data);

/*
 * Asks for a ready sandbox of kind ("nodejs:20", "python:3", "native", "blackbox" or a
 * blackbox image "openwhisk/dockerskeleton") with memory_mb as its limit. cb runs
 * later on the loop (never before this returns) with the sandbox, or NULL and a
 * negative errno. A stem cell serves it at once; otherwise one is started. Returns
 * NULL with errno ENOENT for an unknown kind.
 */
typedef void (*sandbox_ready_cb)(struct sandbox *sb, int err, void *data);
struct sandbox_request *sandbox_acquire(struct sandbox_manager *m, const char *kind,
					unsigned memory_mb, sandbox_ready_cb cb, void *data);
/* cb will not run; a sandbox started for the request goes to the pool. */
void sandbox_acquire_cancel(struct sandbox_request *req);

/*
 * sandbox_tc's packets per verdict over every sandbox of this manager, present and past
 * (out[0] passed, out[reason] dropped; enum xw_drop_reason), for /metrics'
 * xwhisk_sandbox_net_drops_total{reason}. -ENOENT when no policy is loaded.
 */
int sandbox_manager_net_drops(const struct sandbox_manager *m, uint64_t out[XW_DROP__MAX]);

/* Kills the sandbox's processes and removes its cgroup, veth and directories. */
void sandbox_destroy(struct sandbox *sb);

const char *sandbox_id(const struct sandbox *sb);
/* Hands what its stdout and stderr hold right now to the log callback (a failed /init's
 * traceback may still sit in the pipe when its answer is read). */
void sandbox_read_logs(struct sandbox *sb);
const char *sandbox_kind(const struct sandbox *sb);
unsigned sandbox_memory_mb(const struct sandbox *sb);
/* Its IPv4 address, dotted; the server listens on SANDBOX_PORT there. */
const char *sandbox_ip(const struct sandbox *sb);
int sandbox_port(const struct sandbox *sb);
/* The host pid of the sandbox's init. */
pid_t sandbox_pid(const struct sandbox *sb);
/* An owner's tag (an action and revision, say), kept across restarts. */
int sandbox_set_label(struct sandbox *sb, const char *label);
const char *sandbox_label(const struct sandbox *sb);
void sandbox_set_data(struct sandbox *sb, void *data);
void *sandbox_data(const struct sandbox *sb);

#endif
