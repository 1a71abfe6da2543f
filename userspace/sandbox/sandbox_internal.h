/* SPDX-License-Identifier: Apache-2.0 */
/*
 * What the files of the sandbox manager share, and nothing outside userspace/sandbox/
 * includes: the manager, a sandbox, a request, a kind's stem-cell pool, and the
 * functions one file calls in another.
 *
 *   manager.c   the manager's life: new, free, destroy_all, stats, adopted
 *   sandbox.c   one sandbox object: allocation, state record, output, accessors, destroy
 *   request.c   requests: the waiting queue, assignment, deferred callbacks, acquire
 *   schedule.c  kind pools: stem cells, back-off of failing kinds, the start scheduler
 *   start.c     starting one sandbox (sb_start), its readiness and its failure
 *   ready.c     how a starting sandbox says it is ready: status pipe, TCP probe, zygote
 *   death.c     a sandbox's end: kill, the pidfd's report, cleanup
 *   adopt.c     re-adoption of the sandboxes a previous manager left running
 *   net.c       the network policy: sandbox_tc attached to each veth, detached with it
 */
#ifndef XWHISK_SANDBOX_INTERNAL_H
#define XWHISK_SANDBOX_INTERNAL_H

#include <limits.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <unistd.h>

#include "cgroup.h"
#include "ipam.h"
#include "kinds.h"
#include "launch.h"
#include "logpipe.h"
#include "loop.h"
#include "persist.h"
#include "rtnl.h"
#include "sandbox.h"
#include "syscall_filter.h"
#include "zygote.h"

#define DEFAULT_MAX_STARTING 8
#define DEFAULT_START_TIMEOUT_MS 30000
#define DEFAULT_PIDS_MAX 1024
#define NOBODY 65534
#define LOG_PIPE_SIZE (256 << 10)
#define PROBE_MIN_MS 2
#define PROBE_MAX_MS 50
#define CLEANUP_RETRY_MS 10
#define CLEANUP_MAX_TRIES 300
#define FAILURES_BEFORE_ERRORS 3
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 30000

enum sb_phase { SB_STARTING, SB_READY, SB_DYING };

/* One kind's stem cells, the requests waiting for it and its start failures. */
struct kind_pool {
	struct sandbox_manager *m;
	struct runtime_kind *rt;
	struct sandbox *idle; /* stem cells, most recent first */
	unsigned nidle, nstarting;
	struct sandbox_request *waiting, *waiting_tail;
	unsigned nwaiting;
	struct zygote *zygote;
	char *zygote_env; /* the "env" member of zygote requests, as JSON */
	unsigned failures;
	int last_err;          /* of the last failed start */
	uint64_t backoff_until;
};

struct sandbox {
	struct sandbox_manager *m;
	struct kind_pool *kp;
	struct sandbox_state st;
	char dir[PATH_MAX];
	enum sb_phase phase;
	bool owned;     /* handed out: callbacks go to the owner */
	bool unclaimed; /* adopted at start, not yet given back by sandbox_manager_adopted() */
	bool in_exit_cb;
	bool delete_veth; /* its namespace may outlive its processes */
	bool ready_seen;
	bool setup_done;
	in_addr_t ip;
	pid_t pid;
	int pidfd;
	int status_fd;
	char status[128];
	size_t status_len;
	int child_step, child_errno;
	int probe_fd;
	unsigned probe_delay;
	struct loop_timer *probe_timer;
	struct loop_timer *start_timer;
	int zfds[ZYGOTE_NFDS]; /* handed to the zygote once the sandbox is set up */
	bool use_zygote;
	struct logpipe out, err;
	int oom_fd;
	struct loop_timer *cleanup_timer;
	unsigned cleanup_tries;
	void *data;
	struct sandbox_request *handing; /* assigned, its request's callback not run yet */
	int net_gate_fd;  /* starting: the child waits for a byte here (net.c) */
	int ifindex;      /* its host-side veth's, once known */
	bool net_filtered; /* sandbox_tc is attached to its veth */
	struct sandbox *prev, *next; /* every sandbox of the manager */
	struct sandbox *pool_next;
};

struct sandbox_request {
	struct sandbox_manager *m;
	struct kind_pool *kp;
	unsigned memory_mb;
	sandbox_ready_cb cb;
	void *data;
	struct sandbox *sb; /* assigned; the callback is on its way */
	int err;
	bool queued;
	struct loop_timer *timer;
	struct sandbox_request *next;
};

struct sandbox_manager {
	struct loop *loop;
	struct sandbox_callbacks cb;
	void *cb_data;
	char *state_dir;
	char *proxy, *runtimes_dir; /* resolved: where sandboxes see them (exposed) */
	struct syscall_filter filter;
	char *api_host;
	uid_t uid;
	gid_t gid;
	unsigned max_starting, start_timeout_ms, pids_max;
	struct manifest manifest;
	struct kind_pool *pools;
	struct cgroup_tree cgtree;
	struct ipam ipam;
	struct rootfs rootfs;
	struct rtnl nl;
	int bridge_ifindex;
	int cap_last;
	bool draining;
	unsigned nstarting;
	struct sandbox *all;
	struct sandbox_request *due; /* completed, callback not run yet */
	struct loop_timer *schedule_timer;
	struct loop_timer *backoff_timer; /* a schedule when the earliest back-off ends */
	struct sandbox_stats stats;
	struct sandbox_net *net;  /* NULL: sandboxes start without a network policy */
	char rps_mask[160];       /* both veth ends' RPS CPU mask (launch.h), or "" */
	char *bpf_pin_dir;
};

/* ---- small helpers ---- */

static inline void close_fd(int *fd)
{
	if (*fd >= 0) {
		close(*fd);
		*fd = -1;
	}
}

static inline void unwatch_fd(struct sandbox_manager *m, int *fd)
{
	if (*fd >= 0) {
		loop_del_fd(m->loop, *fd);
		close_fd(fd);
	}
}

static inline void cancel_timer(struct sandbox_manager *m, struct loop_timer **t)
{
	if (*t) {
		loop_timer_cancel(m->loop, *t);
		*t = NULL;
	}
}

/* ---- sandbox.c ---- */
struct sandbox *sb_alloc(struct sandbox_manager *m, struct kind_pool *kp);
void sb_unlink(struct sandbox *sb);
/* Frees sb without touching its processes: they stay up for the next manager. */
void sb_forget(struct sandbox *sb);
void sb_save_state(struct sandbox *sb);
int sb_watch_logs(struct sandbox *sb, int out_fd, int err_fd);

/* ---- request.c ---- */
void request_due_remove(struct sandbox_request *req);
/* Completes req on the next loop iteration: callers never see a callback re-entering. */
void request_complete(struct sandbox_request *req, struct sandbox *sb, int err);
void request_enqueue(struct sandbox_request *req);
/* The first waiting request (which == NULL) or which; NULL if none. */
struct sandbox_request *request_dequeue(struct kind_pool *kp, struct sandbox_request *which);
/* Hands a ready sandbox to a request, at the memory limit it asked for. */
void request_assign(struct sandbox *sb, struct sandbox_request *req);
/* A sandbox being handed over died first: its request waits for another one. */
void request_requeue_handing(struct sandbox *sb);

/* ---- schedule.c ---- */
int kind_pools_init(struct sandbox_manager *m);
void kind_pools_free(struct sandbox_manager *m);
void kind_pool_push(struct sandbox *sb);
void kind_pool_remove(struct sandbox *sb);
/* A kind that failed this often in a row is failing: see kind_start_failed(). */
bool kind_failing(const struct kind_pool *kp);
void kind_fail_waiting(struct kind_pool *kp, int err);
void kind_start_failed(struct kind_pool *kp, int err);
/* Starts what the pools and waiting requests need, on the next loop iteration. */
void manager_schedule(struct sandbox_manager *m);

/* ---- start.c ---- */
int sb_start(struct kind_pool *kp);
void sb_ready(struct sandbox *sb);
void sb_fail(struct sandbox *sb, int err);

/* ---- ready.c ---- */
void sb_on_status(struct loop *loop, int fd, uint32_t events, void *data);

/* ---- death.c ---- */
void sb_on_death(struct loop *loop, int fd, uint32_t events, void *data);
/* Starts killing: the pidfd reports the end and sb_cleanup() follows. */
void sb_kill(struct sandbox *sb);
/* Removes what the sandbox leaves behind once its processes are gone; frees sb. */
void sb_cleanup(struct sandbox *sb);

/* ---- adopt.c ---- */
void adopt_all(struct sandbox_manager *m);

/* ---- net.c ---- */
/* Loads sandbox_tc with the policy of cfg; 0 also when it degrades, -EINVAL for a bad policy. */
int manager_net_open(struct sandbox_manager *m, const struct sandbox_config *cfg);
void manager_net_close(struct sandbox_manager *m);
/* After adoption: entries and links of sandboxes that are gone. */
void manager_net_prune(struct sandbox_manager *m);
/* The gate of a start (launch.h): *child_fd and *peer_fd for the plan, or -1 and -1. */
int sb_net_gate_open(struct sandbox *sb, int *child_fd, int *peer_fd);
/* The child's "V<ifindex>": attaches the policy, then opens the gate. */
void sb_net_attach(struct sandbox *sb, int ifindex);
/* A re-adopted sandbox: its pinned link gets this manager's program. */
void sb_net_adopt(struct sandbox *sb);
void sb_net_detach(struct sandbox *sb);

#endif
