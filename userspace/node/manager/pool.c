// SPDX-License-Identifier: Apache-2.0
/* The node's sandbox pool: its slots in the maps, and its start and end. Its own
 * sandboxes' lives are in pool_own.c, their logs in pool_logs.c, what the controller hears
 * in pool_report.c, adoption in pool_adopt.c; the cluster's side (who gets a sandbox,
 * other nodes' sandboxes) in pool_cluster.c. */
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>
#include <bpf/bpf.h>

#include "buf.h"
#include "json.h"
#include "log.h"
#include "node/manager/pool_internal.h"
#include "node/activation/record.h"
#include "node/activation/slots.h"
#include "util.h"
#include "node/ingress/worker.h"


/* ---- slots ---- */

int pool_slot_alloc(struct pool *p, uint32_t *out)
{
	struct xw_maps *m = p->node->maps;

	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++) {
		struct xw_slot *s = &m->slots[i];
		uint32_t st = __atomic_load_n(&s->state, __ATOMIC_ACQUIRE);

		if (p->by_slot[i] || (st != XW_SLOT_FREE && st != XW_SLOT_REMOVED) ||
		    __atomic_load_n(&s->inflight, __ATOMIC_ACQUIRE))
			continue;
		*out = i;
		return 0;
	}
	return -ENOSPC;
}

void pool_slot_publish(struct pool *p, struct psandbox *ps, enum xw_slot_state state)
{
	__atomic_store_n(&p->node->maps->slots[ps->slot].state, state, __ATOMIC_SEQ_CST);
}

void pool_slot_reset(struct pool *p, uint32_t slot)
{
	struct xw_slot *s = &p->node->maps->slots[slot];

	__atomic_store_n(&s->state, XW_SLOT_REMOVED, __ATOMIC_SEQ_CST);
	s->pid = 0;
}


int pool_new(struct node *node, struct ctlclient *cc, struct pool **out)
{
	struct sandbox_callbacks cb = { .exited = pool_on_exited, .log = pool_on_log };
	struct sandbox_config cfg = { 0 };
	struct pool *p = calloc(1, sizeof(*p));
	char state_dir[600], cgroup_parent[64];
	const char *hide[2] = { NULL, NULL };

	if (!p)
		return -ENOMEM;
	p->node = node;
	p->cc = cc;
	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++)
		pthread_mutex_init(&p->logs[i].lock, NULL);
	node->pool = p;
	snprintf(state_dir, sizeof(state_dir), "%s/node/sandboxes", node->cfg.data_dir);
	cfg.state_dir = state_dir;
	cfg.runtimes = node->cfg.runtimes;
	cfg.proxy = node->cfg.proxy_bin;
	cfg.api_host = node->cfg.api_host;
	/* sandbox_tc on every veth: the node's API is all a sandbox reaches of this host. */
	cfg.bpf_pin_dir = node->cfg.pin_dir;
	cfg.ingress_port = node->cfg.ingress_port;
	cfg.bridge = node->cfg.bridge;
	cfg.subnet = node->cfg.subnet;
	/* One cgroup tree per sandbox manager, as one bridge: several nodes on one machine
	 * must not take each other's sandboxes for orphans. Under a supervisor that kills
	 * the node's cgroup on restart (a pod, a systemd unit), an absolute parent
	 * (XWHISK_CGROUP_PARENT=/xwhisk) keeps sandboxes out of it. */
	snprintf(cgroup_parent, sizeof(cgroup_parent), "xwhisk-%s",
		 node->cfg.bridge ? node->cfg.bridge : SANDBOX_DEFAULT_BRIDGE);
	cfg.cgroup_parent = node->cfg.cgroup_parent ? node->cfg.cgroup_parent : cgroup_parent;
	/* Sandboxes see an allow-list of the host read-only; never this node's (or the
	 * controller's) state, should the list come to hold it. */
	hide[0] = node->cfg.data_dir_abs;
	cfg.hide = hide;
	p->sm = sandbox_manager_new(node->loop, &cfg, &cb, p);
	if (!p->sm) {
		int err = -errno;

		pr_err("pool: the sandbox backend did not start: %s", strerror(-err));
		node->pool = NULL;
		free(p);
		return err ? err : -EIO;
	}
	sandbox_manager_adopted(p->sm, pool_on_adopted, p);
	pool_reconcile_maps(p);
	p->gc = loop_timer_add(node->loop, TICK_MS, pool_tick, p);
	*out = p;
	return 0;
}

void pool_free(struct pool *p)
{
	if (!p)
		return;
	loop_timer_cancel(p->node->loop, p->gc);
	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++) {
		struct psandbox *ps = p->by_slot[i];

		if (ps) {
			/* Sandboxes outlive the node: the next one adopts them. */
			if (ps->sb)
				sandbox_set_data(ps->sb, NULL);
			if (ps->init_call)
				http_call_cancel(ps->init_call);
			if (ps->req)
				sandbox_acquire_cancel(ps->req);
			ps_free(ps);
		}
		http_pool_free(p->init_pools[i]);
		pool_logs_clear(&p->logs[i]);
		pool_logs_forget_waiters(&p->logs[i]);
		pthread_mutex_destroy(&p->logs[i].lock);
	}
	pool_remote_clear(p);
	resync_window_free(&p->resync);
	while (p->demands)
		demand_drop(p, p->demands);
	sandbox_manager_free(p->sm);
	free(p);
}

static void wait_tick(struct loop *loop, void *data)
{
	loop_stop(loop);
}

int pool_destroy_all(struct pool *p, unsigned timeout_ms)
{
	uint64_t deadline = clock_mono_ms() + timeout_ms;
	struct sandbox_stats st;

	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++)
		if (p->by_slot[i])
			ps_destroy(p->by_slot[i]);
	sandbox_manager_destroy_all(p->sm);
	do {
		sandbox_manager_stats(p->sm, &st);
		if (!st.dying && !st.live && !st.starting)
			return 0;
		loop_timer_add(p->node->loop, 20, wait_tick, NULL);
		loop_run(p->node->loop);
	} while (clock_mono_ms() < deadline);
	return -ETIMEDOUT;
}

