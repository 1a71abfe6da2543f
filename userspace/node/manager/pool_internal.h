/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The pool's insides, shared by pool.c (this node's own sandboxes: start, /init, logs,
 * removal, adoption after a restart) and pool_cluster.c (what the cluster decides:
 * allocations through the controller, other nodes' sandboxes from the event stream).
 * Everything here runs on the manager thread, except slot_logs (see there).
 */
#ifndef XWHISK_POOL_INTERNAL_H
#define XWHISK_POOL_INTERNAL_H

#include <pthread.h>

#include "node/ctlclient.h"
#include "node/crossing.h"
#include "node/manager/pool.h"
#include "node/manager/resync_window.h"
#include "actlogs.h"
#include "sandbox.h"

#define REMOTE_BUCKETS 4096
#define GID_LEN 32

enum ps_state { PS_STARTING, PS_INITING, PS_WARM, PS_DRAINING };

struct log_segment {
	json_t *lines;
	uint64_t done_ns; /* wall clock when its second sentinel was read */
	struct log_segment *next;
};

/* A worker waiting for the logs of its activation (they come after /run answered). */
struct slot_waiter {
	struct node *node;
	struct worker *w;
	uint32_t slot, generation;
	uint64_t since_ns, limit;
	pool_logs_cb cb;
	void *data;
	struct loop_timer *timer; /* the worker's: touched on the worker's thread only */
	struct slot_waiter *next;
};

/*
 * The finished log segments of the sandbox in one slot, oldest first, and the workers
 * waiting for theirs. The manager thread appends a segment, or hands it to the first
 * waiter; a worker whose activation ended takes its own, or waits, under the lock: no
 * round trip through the manager thread (two thread wake-ups per activation).
 */
struct slot_logs {
	pthread_mutex_t lock;
	uint32_t generation; /* of the sandbox they came from */
	struct log_segment *segments, *tail;
	unsigned n;
	struct slot_waiter *waiters;
};

/* A sandbox of this node. */
struct psandbox {
	struct pool *p;
	struct sandbox *sb;
	struct sandbox_request *req;
	char gid[GID_LEN + 1];      /* its id in the cluster's pool */
	uint32_t slot, generation;
	uint64_t action_id;
	struct action_entry *action; /* NULL for one adopted after a restart */
	char key[900];               /* "subject|docid@revision", kept across restarts */
	char kind[128];
	uint32_t concurrency;
	enum ps_state state;
	bool remove_when_idle; /* the controller removed it while activations ran in it */
	bool confirmed;        /* the controller acknowledged it warm (or it was adopted) */
	uint64_t started_ms;
	unsigned memory_mb;
	struct http_call *init_call;
	struct loop_timer *end_timer; /* it stopped answering: removed if it does not end */
	/* the activation being logged now (through the sandbox's pipes) */
	struct actlogs_seg seg;
	/* who asked for it: /init's environment */
	char activation_id[33], tid[72], api_key[160];
};

/* A sandbox of another node that this node's routers may use. */
struct rsandbox {
	char gid[GID_LEN + 1];
	uint64_t version; /* of the event that last set it: a staler snapshot leaves it */
	uint32_t slot;
	uint64_t action_id;
	uint16_t node;
	struct rsandbox *next;
};

/* Activations of an action waiting on this node, and the cold starts under way for them. */
struct demand {
	uint64_t action_id;
	struct action_entry *action;
	unsigned waiting[NODE_MAX_WORKERS];
	unsigned starting;
	uint64_t no_room_since_ms; /* monotonic; 0 while sandboxes could be had */
	char activation_id[33], tid[72], api_key[160];
	struct demand *next;
};

struct pool {
	struct node *node;
	struct sandbox_manager *sm;
	struct ctlclient *cc;
	uint16_t index;     /* this node's index in the cluster (0 until registered) */
	char name[64];
	struct psandbox *by_slot[XW_MAX_SLOTS];
	char death[XW_MAX_SLOTS][8]; /* why the sandbox of a slot died (read by workers) */
	uint32_t death_gen[XW_MAX_SLOTS];
	struct rsandbox *remote[REMOTE_BUCKETS];
	struct rsandbox *remote_by_slot[XW_MAX_SLOTS];
	bool warned_shared_subnet;
	struct demand *demands;
	unsigned used_mb;
	struct loop_timer *gc;
	struct http_pool *init_pools[XW_MAX_SLOTS];
	struct slot_logs logs[XW_MAX_SLOTS];
	uint64_t pipe_segments; /* cut from the sandboxes' pipes (atomic: metrics reads it) */
	struct resync_window resync;
};

/* The manager's housekeeping tick (idle reports, log waits). */
#define TICK_MS 1000

/* pool.c */
int pool_slot_alloc(struct pool *p, uint32_t *out);
void pool_slot_publish(struct pool *p, struct psandbox *ps, enum xw_slot_state state);
void pool_slot_reset(struct pool *p, uint32_t slot);

/* pool_logs.c */
/* Lines (stolen) that came in band for the activation being logged (a failed /init). */
void pool_logs_add(struct psandbox *ps, json_t *lines);
void pool_on_log(struct sandbox *sb, enum sandbox_stream stream, const char *line, size_t len,
		 uint64_t ts_ns, bool sentinel, void *data);
void pool_logs_clear(struct slot_logs *sl);
/* Answers the workers still waiting for ps's logs with what there is. */
void pool_logs_flush(struct psandbox *ps);
/* Every line ps's slot holds, finished segments and the one being read, taken out (a
 * failed /init's output). A new reference, or NULL. */
json_t *pool_logs_take_all(struct psandbox *ps);
/* At the pool's end (the workers are stopped): waiters nobody will answer. */
void pool_logs_forget_waiters(struct slot_logs *sl);

/* pool_adopt.c */
void pool_on_adopted(struct sandbox *sb, void *data);
void pool_reconcile_maps(struct pool *p);

/* pool_own.c */
void ps_free(struct psandbox *ps);
void pool_on_exited(struct sandbox *sb, enum sandbox_exit_reason reason, int status,
		    void *data);
void pool_tick(struct loop *loop, void *data);
int pool_start_own(struct pool *p, struct action_entry *a, const char *gid,
		   const struct demand *d);
void ps_destroy(struct psandbox *ps);
/* The runtime kind that serves a (for a blackbox, its image). */
const char *pool_sandbox_kind(const struct action_entry *a);
void ps_set_draining(struct psandbox *ps);
/* Back in service after an unmark; false when it could not be listed again. */
bool ps_set_warm(struct psandbox *ps);
struct psandbox *pool_own_by_gid(struct pool *p, const char *gid);
/* The same, with the log lines the first activation failed on each worker gets. */
void pool_tell_workers_logs(struct pool *p, uint64_t action_id, int status, const char *message,
			    json_t *error, uint64_t init_ms, json_t *logs);
void pool_tell_workers(struct pool *p, uint64_t action_id, int status, const char *message,
		       json_t *error, uint64_t init_ms);
/* Tells the controller what became of one of this node's sandboxes. */
/* The platform could not provide sandbox gid (no room, the action changed...). */
void pool_report_unprovisioned(struct pool *p, const char *gid, const char *why);
void pool_report(struct pool *p, const char *gid, const char *state, const char *addr, int port,
		 const char *message, json_t *error);
bool pool_make_room(struct pool *p, unsigned memory_mb);
/* Removes ps unless an activation runs in it (then false, and it stays as it was); no
 * worker can claim it in between (slots.h). */
bool ps_remove_if_idle(struct psandbox *ps);

/* pool_cluster.c */
struct demand *demand_find(struct pool *p, uint64_t action_id);
void demand_started(struct pool *p, uint64_t action_id, bool warm);
/* A sandbox for the demand could not be had for lack of memory anywhere: its activations
 * wait (the tick asks again) for DEMAND_ROOM_WAIT_MS, then fail as the platform's error. */
void demand_no_room(struct pool *p, uint64_t action_id);
void demand_serve(struct pool *p, struct demand *d);
void demand_drop(struct pool *p, struct demand *d);
void pool_remote_clear(struct pool *p);
/* Another node's sandbox in slot (of generation) failed an activation here: this node
 * stops routing to it. */
void pool_remote_broken(struct pool *p, uint32_t slot, uint32_t generation);
void pool_start_allocated(struct pool *p, const json_t *sb);

#endif
