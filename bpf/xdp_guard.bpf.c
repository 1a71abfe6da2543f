// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * xdp_guard: the node's ingress NIC. For TCP to the ingress port (guard_cfg.port):
 *   - sources on the block list (guard.blocked_until_ns in the future) are dropped;
 *   - a new connection (SYN without ACK) is refused when the source already holds
 *     guard_cfg.max_conns open connections (counted by sockops_conns) or when its token
 *     bucket (guard_cfg.syn_rate per second, guard_cfg.syn_burst deep) is empty;
 *   - a TCP fragment whose port cannot be seen is dropped (see XW_GUARD_F_PASS_FRAGMENTS).
 * Loopback and the prefixes in guard_exempt (the node's own addresses) are never limited;
 * everything else passes. guard_packet() returns XW_OK or -reason; the single exit in
 * xdp_guard() counts every verdict in guard_stats and turns it into XDP_PASS / XDP_DROP.
 */
#include "lib/maps.h"
#include "lib/parse.h"

#define NSEC_PER_SEC 1000000000ull
#define REFILL_MAX_NS (1000 * NSEC_PER_SEC) /* a longer pause refills the bucket anyway */

static __always_inline bool source_exempt(const struct xw_guard_key *src)
{
	struct xw_guard_prefix k = { .prefixlen = 128 };

	if (xw_key_is_loopback(src))
		return true;
	__builtin_memcpy(k.addr, src->addr, 16);
	return bpf_map_lookup_elem(&guard_exempt, &k) != NULL;
}

static __always_inline void count_source_drop(struct xw_guard_entry *g)
{
	if (g)
		__sync_fetch_and_add(&g->dropped, 1);
}

/* One token per new connection; updates are per source and may race between CPUs, which
 * costs at most a token or two, never a wrong verdict for another source. */
static __always_inline int take_token(const struct xw_guard_cfg *cfg, struct xw_guard_entry *g,
				      const struct xw_guard_key *src, __u64 now)
{
	__u64 cap = (__u64)(cfg->syn_burst ? cfg->syn_burst : cfg->syn_rate) * 1000;
	__u64 elapsed, tokens;

	if (!g) {
		struct xw_guard_entry fresh = { .tokens_milli = cap - 1000, .last_ns = now };

		bpf_map_update_elem(&guard, src, &fresh, BPF_NOEXIST);
		return XW_OK;
	}
	elapsed = now > g->last_ns ? now - g->last_ns : 0;
	if (elapsed > REFILL_MAX_NS)
		elapsed = REFILL_MAX_NS;
	/* tokens/s x ns / 1e9 tokens = x 1e-6 milli-tokens */
	tokens = g->tokens_milli + elapsed * cfg->syn_rate / 1000000;
	if (tokens > cap)
		tokens = cap;
	g->last_ns = now;
	if (tokens < 1000) {
		g->tokens_milli = tokens;
		count_source_drop(g);
		return -XW_DROP_SYN_RATE;
	}
	g->tokens_milli = tokens - 1000;
	return XW_OK;
}

/* Established traffic costs one hash lookup: the exempt prefixes (an LPM lookup) are
 * consulted only for a packet that would be dropped or would take a token. */
static __always_inline int guard_tcp(const struct xw_guard_cfg *cfg, struct xw_pkt *pkt)
{
	const struct xw_guard_conns *conns;
	struct tcphdr *tcp = pkt->tcp;
	struct xw_guard_entry *g;
	__u64 now;

	if (pkt->frag == XW_FRAG_LATER) {
		if ((cfg->flags & XW_GUARD_F_PASS_FRAGMENTS) || source_exempt(&pkt->src))
			return XW_OK;
		return -XW_DROP_FRAGMENT;
	}
	if (!tcp || tcp->dest != bpf_htons(cfg->port) || xw_key_is_loopback(&pkt->src))
		return XW_OK;
	now = bpf_ktime_get_ns();
	g = bpf_map_lookup_elem(&guard, &pkt->src);
	if (g && g->blocked_until_ns > now) {
		if (source_exempt(&pkt->src))
			return XW_OK;
		count_source_drop(g);
		return -XW_DROP_BLOCKED;
	}
	if (pkt->frag == XW_FRAG_FIRST)
		return source_exempt(&pkt->src) ? XW_OK : -XW_DROP_FRAGMENT;
	if (!tcp->syn || tcp->ack || source_exempt(&pkt->src))
		return XW_OK;
	if (cfg->max_conns) {
		conns = bpf_map_lookup_elem(&guard_conns, &pkt->src);
		if (conns && conns->open >= (__s32)cfg->max_conns) {
			count_source_drop(g);
			return -XW_DROP_CONN_LIMIT;
		}
	}
	if (!cfg->syn_rate)
		return XW_OK;
	return take_token(cfg, g, &pkt->src, now);
}

static __always_inline int guard_packet(struct xdp_md *ctx)
{
	void *data_end = (void *)(long)ctx->data_end;
	void *data = (void *)(long)ctx->data;
	const struct xw_guard_cfg *cfg;
	struct xw_pkt pkt = {};
	__u32 zero = 0;
	int ret;

	cfg = bpf_map_lookup_elem(&guard_cfg, &zero);
	if (!cfg || !cfg->port)
		return XW_OK;
	ret = xw_parse(&pkt, data, data_end);
	if (ret != XW_OK || pkt.l4 != XW_IPPROTO_TCP)
		return ret;
	return guard_tcp(cfg, &pkt);
}

SEC("xdp")
int xdp_guard(struct xdp_md *ctx)
{
	int ret = guard_packet(ctx);
	__u32 reason = ret < 0 ? (__u32)-ret : XW_REASON_PASS;
	struct xw_guard_stat *st;

	st = bpf_map_lookup_elem(&guard_stats, &reason);
	if (st)
		st->packets++;
	return ret < 0 ? XDP_DROP : XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
