// SPDX-License-Identifier: Apache-2.0
/*
 * Requests for a sandbox: each kind's queue of waiting requests, the assignment of a
 * ready sandbox to one, and the callback that follows on the next loop iteration.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sandbox_internal.h"

void request_due_remove(struct sandbox_request *req)
{
	for (struct sandbox_request **p = &req->m->due; *p; p = &(*p)->next) {
		if (*p == req) {
			*p = req->next;
			req->next = NULL;
			return;
		}
	}
}

static void on_request_due(struct loop *loop, void *data)
{
	struct sandbox_request *req = data;

	(void)loop;
	req->timer = NULL;
	request_due_remove(req);
	if (req->sb)
		req->sb->handing = NULL;
	req->cb(req->sb, req->sb ? 0 : req->err, req->data);
	free(req);
}

void request_complete(struct sandbox_request *req, struct sandbox *sb, int err)
{
	req->sb = sb;
	req->err = err;
	if (sb)
		sb->handing = req;
	req->timer = loop_timer_add(req->m->loop, 0, on_request_due, req);
	if (!req->timer) {
		if (sb)
			sb->handing = NULL;
		req->cb(sb, sb ? 0 : err, req->data);
		free(req);
		return;
	}
	req->next = req->m->due;
	req->m->due = req;
}

void request_enqueue(struct sandbox_request *req)
{
	struct kind_pool *kp = req->kp;

	req->queued = true;
	req->next = NULL;
	if (kp->waiting_tail)
		kp->waiting_tail->next = req;
	else
		kp->waiting = req;
	kp->waiting_tail = req;
	kp->nwaiting++;
}

struct sandbox_request *request_dequeue(struct kind_pool *kp, struct sandbox_request *which)
{
	struct sandbox_request *prev = NULL;

	for (struct sandbox_request *r = kp->waiting; r; prev = r, r = r->next) {
		if (which && r != which)
			continue;
		if (prev)
			prev->next = r->next;
		else
			kp->waiting = r->next;
		if (kp->waiting_tail == r)
			kp->waiting_tail = prev;
		kp->nwaiting--;
		r->queued = false;
		r->next = NULL;
		return r;
	}
	return NULL;
}

void request_assign(struct sandbox *sb, struct sandbox_request *req)
{
	sb->owned = true;
	sb->st.pooled = false;
	if (req->memory_mb && req->memory_mb != sb->st.memory_mb) {
		int err = cgroup_set_limits(&sb->st.cgroup, req->memory_mb, sb->m->pids_max);

		if (err)
			pr_warn("sandbox %s: cannot set its memory limit to %u MB: %s", sb->st.id,
				req->memory_mb, strerror(-err));
		else
			sb->st.memory_mb = req->memory_mb;
	}
	sb_save_state(sb);
	request_complete(req, sb, 0);
}

/* Back to the pool: a cancelled request's sandbox was never used. */
static void request_unassign(struct sandbox *sb)
{
	sb->owned = false;
	sb->st.pooled = true;
	if (sb->m->draining) {
		sb_kill(sb);
		return;
	}
	sb_save_state(sb);
	kind_pool_push(sb);
}

void request_requeue_handing(struct sandbox *sb)
{
	struct sandbox_request *req = sb->handing;

	if (!req)
		return;
	sb->handing = NULL;
	cancel_timer(sb->m, &req->timer);
	request_due_remove(req);
	req->sb = NULL;
	if (sb->m->draining) {
		request_complete(req, NULL, -ECANCELED);
		return;
	}
	request_enqueue(req);
	manager_schedule(sb->m);
}

struct sandbox_request *sandbox_acquire(struct sandbox_manager *m, const char *kind,
					unsigned memory_mb, sandbox_ready_cb cb, void *data)
{
	struct runtime_kind *rt = manifest_find(&m->manifest, kind);
	struct sandbox_request *req;
	struct kind_pool *kp;
	struct sandbox *sb;

	if (!rt || m->draining) {
		errno = rt ? ESHUTDOWN : ENOENT;
		return NULL;
	}
	kp = &m->pools[rt - m->manifest.kinds];
	req = calloc(1, sizeof(*req));
	if (!req) {
		errno = ENOMEM;
		return NULL;
	}
	req->m = m;
	req->kp = kp;
	req->memory_mb = memory_mb;
	req->cb = cb;
	req->data = data;
	sb = kp->idle;
	if (sb) {
		kind_pool_remove(sb);
		m->stats.pool_hits++;
		request_assign(sb, req);
	} else {
		m->stats.pool_misses++;
		request_enqueue(req);
	}
	/* Either way the pool is short now, or someone waits. */
	manager_schedule(m);
	return req;
}

void sandbox_acquire_cancel(struct sandbox_request *req)
{
	if (!req)
		return;
	if (req->queued)
		(void)request_dequeue(req->kp, req);
	if (req->timer) {
		cancel_timer(req->m, &req->timer);
		request_due_remove(req);
	}
	if (req->sb) {
		req->sb->handing = NULL;
		request_unassign(req->sb);
	}
	free(req);
}
