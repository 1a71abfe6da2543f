// SPDX-License-Identifier: Apache-2.0
/* Adoption after a restart: sandboxes that kept running while xwhisk-node was away are
 * taken back, with their slots, and the maps reconciled with what is really there. */
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


/* ---- adoption after a restart ---- */

void pool_on_adopted(struct sandbox *sb, void *data)
{
	struct pool *p = data;
	uint64_t action_id;
	unsigned slot;
	int n = 0;
	char gid[GID_LEN + 1];
	const char *label = sandbox_label(sb);
	struct xw_slot *s;
	struct psandbox *ps;
	struct in_addr a;

	if (!label || sscanf(label, "%" SCNx64 " %u %32s %n", &action_id, &slot, gid, &n) != 3 ||
	    !n || slot >= XW_MAX_SLOTS || p->by_slot[slot]) {
		sandbox_destroy(sb);
		return;
	}
	s = &p->node->maps->slots[slot];
	inet_pton(AF_INET, sandbox_ip(sb), &a);
	if (s->action_id != action_id || memcmp(s->addr, &a.s_addr, sizeof(s->addr)) ||
	    __atomic_load_n(&s->state, __ATOMIC_ACQUIRE) != XW_SLOT_WARM) {
		sandbox_destroy(sb);
		return;
	}
	ps = calloc(1, sizeof(*ps));
	if (!ps) {
		sandbox_destroy(sb);
		return;
	}
	ps->p = p;
	ps->sb = sb;
	ps->slot = slot;
	ps->generation = __atomic_load_n(&s->generation, __ATOMIC_ACQUIRE);
	ps->action_id = action_id;
	snprintf(ps->gid, sizeof(ps->gid), "%s", gid);
	snprintf(ps->key, sizeof(ps->key), "%s", label + n);
	snprintf(ps->kind, sizeof(ps->kind), "%s", sandbox_kind(sb));
	ps->concurrency = s->concurrency;
	ps->memory_mb = sandbox_memory_mb(sb);
	ps->state = PS_WARM;
	ps->confirmed = true; /* registration lists it: the controller learns it again */
	sandbox_set_data(sb, ps);
	p->by_slot[slot] = ps;
	p->used_mb += ps->memory_mb;
	/* Activations of the previous process are gone with it: nothing is in flight. */
	__atomic_store_n(&s->inflight, 0, __ATOMIC_SEQ_CST);
	(void)slot_warm_add(p->node->maps, action_id, slot);
}

/* After adoption: slots no sandbox backs are freed (other nodes' sandboxes come back
 * with the event stream's resync), and warm lists only what lives. */
void pool_reconcile_maps(struct pool *p)
{
	struct xw_maps *m = p->node->maps;
	uint64_t key, next;
	int kept = 0;

	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++) {
		if (p->by_slot[i]) {
			kept++;
			continue;
		}
		if (m->slots[i].state != XW_SLOT_FREE)
			memset(&m->slots[i], 0, offsetof(struct xw_slot, generation));
		m->slots[i].state = XW_SLOT_FREE;
		m->slots[i].inflight = 0;
	}
	if (bpf_map_get_next_key(m->warm_fd, NULL, &key))
		goto out;
	for (;;) {
		struct xw_warm w, fixed = { 0 };
		bool more = !bpf_map_get_next_key(m->warm_fd, &key, &next);

		if (!bpf_map_lookup_elem(m->warm_fd, &key, &w)) {
			for (uint32_t i = 0; i < w.count && i < XW_WARM_MAX; i++)
				if (w.slot[i] < XW_MAX_SLOTS && p->by_slot[w.slot[i]] &&
				    p->by_slot[w.slot[i]]->action_id == key)
					fixed.slot[fixed.count++] = w.slot[i];
			if (!fixed.count)
				(void)bpf_map_delete_elem(m->warm_fd, &key);
			else if (fixed.count != w.count)
				(void)bpf_map_update_elem(m->warm_fd, &key, &fixed, BPF_ANY);
		}
		if (!more)
			break;
		key = next;
	}
	slot_warm_changed();
out:
	if (kept)
		pr_info("pool: %d warm sandboxes re-adopted", kept);
}

