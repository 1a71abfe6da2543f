/* SPDX-License-Identifier: GPL-2.0 OR Apache-2.0 */
/*
 * Packet parsing for XDP: Ethernet (up to two VLAN tags) -> IPv4 or IPv6 (up to eight
 * extension headers walked) -> TCP, every read bounds-checked against data_end. A header that is
 * truncated or inconsistent is reported as XW_DROP_MALFORMED, never half-read.
 */
#ifndef XWHISK_BPF_PARSE_H
#define XWHISK_BPF_PARSE_H

#include "vmlinux.h"
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "xwhisk/guard.h"
#include "xwhisk/verdict.h"

#define XW_ETH_P_IP 0x0800
#define XW_ETH_P_IPV6 0x86DD
#define XW_ETH_P_8021Q 0x8100
#define XW_ETH_P_8021AD 0x88A8

#define XW_IPPROTO_HOPOPTS 0
#define XW_IPPROTO_TCP 6
#define XW_IPPROTO_ROUTING 43
#define XW_IPPROTO_FRAGMENT 44
#define XW_IPPROTO_AH 51
#define XW_IPPROTO_DSTOPTS 60

#define XW_IP_MF 0x2000
#define XW_IP_OFFSET 0x1FFF

#define XW_VLAN_MAX 2    /* 802.1Q / 802.1ad tags skipped */
#define XW_IPV6_EXT_MAX 8 /* extension headers walked before giving up (malformed) */

enum xw_frag {
	XW_FRAG_NONE = 0,
	XW_FRAG_FIRST, /* offset 0, more fragments follow: the L4 header is here */
	XW_FRAG_LATER, /* offset > 0: no L4 header */
};

struct xw_vlan_hdr {
	__be16 tci;
	__be16 proto;
};

struct xw_ipv6_ext {
	__u8 nexthdr;
	__u8 hdrlen;
};

struct xw_ipv6_frag {
	__u8 nexthdr;
	__u8 reserved;
	__be16 frag_off; /* offset << 3 | M */
	__be32 id;
};

/* What the guard needs of a packet. */
struct xw_pkt {
	struct xw_guard_key src; /* IPv4 as ::ffff:a.b.c.d */
	__u8 l4;                 /* IPPROTO_* of the transport, 0 when not IP */
	__u8 frag;               /* enum xw_frag */
	__u16 pad;
	struct tcphdr *tcp;      /* when l4 is TCP and the packet is not a later fragment */
};

static __always_inline void xw_key_from_ipv4(struct xw_guard_key *k, __be32 addr)
{
	__builtin_memset(k->addr, 0, 10);
	k->addr[10] = 0xff;
	k->addr[11] = 0xff;
	__builtin_memcpy(&k->addr[12], &addr, 4);
}

/* 127.0.0.0/8 (also v4-mapped) or ::1. */
static __always_inline bool xw_key_is_loopback(const struct xw_guard_key *k)
{
	__u64 hi, lo;

	__builtin_memcpy(&hi, k->addr, 8);
	__builtin_memcpy(&lo, &k->addr[8], 8);
	if (hi)
		return false;
	if (k->addr[8] == 0 && k->addr[9] == 0 && k->addr[10] == 0xff && k->addr[11] == 0xff)
		return k->addr[12] == 127;
	return lo == bpf_cpu_to_be64(1);
}

/* The TCP header at l4, bounded by data_end and by the IP payload length ip_left; NULL
 * when truncated or its data offset is impossible. */
static __always_inline struct tcphdr *xw_tcp_header(void *l4, void *data_end, __u32 ip_left)
{
	struct tcphdr *tcp = l4;
	__u32 hlen;

	if ((void *)(tcp + 1) > data_end)
		return NULL;
	hlen = (__u32)tcp->doff * 4;
	if (hlen < sizeof(*tcp) || hlen > ip_left)
		return NULL;
	return tcp;
}

/* The IPv4 header at l3 with its options inside the packet and a total length that holds
 * them; NULL otherwise. *hlen is the header's length. */
static __always_inline struct iphdr *xw_ipv4_header(void *l3, void *data_end, __u32 *hlen)
{
	struct iphdr *ip = l3;

	if ((void *)(ip + 1) > data_end)
		return NULL;
	*hlen = (__u32)ip->ihl * 4;
	if (ip->version != 4 || *hlen < sizeof(*ip) || bpf_ntohs(ip->tot_len) < *hlen ||
	    l3 + *hlen > data_end)
		return NULL;
	return ip;
}

static __always_inline int xw_parse_ipv4(struct xw_pkt *pkt, void *l3, void *data_end)
{
	struct iphdr *ip;
	__u32 hlen;
	__u16 frag;

	ip = xw_ipv4_header(l3, data_end, &hlen);
	if (!ip)
		return -XW_DROP_MALFORMED;
	xw_key_from_ipv4(&pkt->src, ip->saddr);
	pkt->l4 = ip->protocol;
	frag = bpf_ntohs(ip->frag_off);
	if (frag & XW_IP_OFFSET)
		pkt->frag = XW_FRAG_LATER;
	else if (frag & XW_IP_MF)
		pkt->frag = XW_FRAG_FIRST;
	if (pkt->l4 != XW_IPPROTO_TCP || pkt->frag == XW_FRAG_LATER)
		return XW_OK;
	pkt->tcp = xw_tcp_header(l3 + hlen, data_end, bpf_ntohs(ip->tot_len) - hlen);
	return pkt->tcp ? XW_OK : -XW_DROP_MALFORMED;
}

static __always_inline bool xw_ipv6_is_ext(__u8 next)
{
	return next == XW_IPPROTO_HOPOPTS || next == XW_IPPROTO_ROUTING ||
	       next == XW_IPPROTO_DSTOPTS || next == XW_IPPROTO_AH || next == XW_IPPROTO_FRAGMENT;
}

static __always_inline int xw_parse_ipv6(struct xw_pkt *pkt, void *l3, void *data_end)
{
	struct ipv6hdr *ip6 = l3;
	void *p = (void *)(ip6 + 1);
	__u32 payload, used = 0;
	__u8 next;

	if ((void *)(ip6 + 1) > data_end)
		return -XW_DROP_MALFORMED;
	if (ip6->version != 6)
		return -XW_DROP_MALFORMED;
	__builtin_memcpy(pkt->src.addr, &ip6->saddr, 16);
	payload = bpf_ntohs(ip6->payload_len);
	next = ip6->nexthdr;
	/* One more turn than headers walked: the last only sees what follows the 8th. */
#pragma unroll
	for (int i = 0; i <= XW_IPV6_EXT_MAX; i++) {
		struct xw_ipv6_ext *ext = p;
		struct xw_ipv6_frag *fh = p;
		__u32 len;

		if (i == XW_IPV6_EXT_MAX && xw_ipv6_is_ext(next))
			break;
		switch (next) {
		case XW_IPPROTO_HOPOPTS:
		case XW_IPPROTO_ROUTING:
		case XW_IPPROTO_DSTOPTS:
		case XW_IPPROTO_AH:
			if ((void *)(ext + 1) > data_end)
				return -XW_DROP_MALFORMED;
			len = next == XW_IPPROTO_AH ? ((__u32)ext->hdrlen + 2) * 4
						     : ((__u32)ext->hdrlen + 1) * 8;
			next = ext->nexthdr;
			p += len;
			used += len;
			break;
		case XW_IPPROTO_FRAGMENT:
			if ((void *)(fh + 1) > data_end)
				return -XW_DROP_MALFORMED;
			next = fh->nexthdr;
			if (bpf_ntohs(fh->frag_off) & ~7)
				pkt->frag = XW_FRAG_LATER;
			else if (bpf_ntohs(fh->frag_off) & 1)
				pkt->frag = XW_FRAG_FIRST;
			p += sizeof(*fh);
			used += sizeof(*fh);
			if (pkt->frag == XW_FRAG_LATER)
				goto done;
			break;
		default:
			goto done;
		}
	}
	/* Still inside the extension headers: too many to look past, so not passed blind. */
	return -XW_DROP_MALFORMED;
done:
	pkt->l4 = next;
	if (next != XW_IPPROTO_TCP || pkt->frag == XW_FRAG_LATER)
		return XW_OK;
	/* payload_len 0 is a jumbogram (hop-by-hop option): bounded by data_end alone. */
	if (payload && used > payload)
		return -XW_DROP_MALFORMED;
	pkt->tcp = xw_tcp_header(p, data_end, payload ? payload - used : 0xffff);
	return pkt->tcp ? XW_OK : -XW_DROP_MALFORMED;
}

/* Fills pkt; returns XW_OK (also for what is not IP) or -XW_DROP_MALFORMED. */
static __always_inline int xw_parse(struct xw_pkt *pkt, void *data, void *data_end)
{
	struct ethhdr *eth = data;
	void *l3 = (void *)(eth + 1);
	__u16 proto;

	if (l3 > data_end)
		return -XW_DROP_MALFORMED;
	proto = bpf_ntohs(eth->h_proto);
#pragma unroll
	for (int i = 0; i < XW_VLAN_MAX; i++) {
		struct xw_vlan_hdr *vlan = l3;

		if (proto != XW_ETH_P_8021Q && proto != XW_ETH_P_8021AD)
			break;
		if ((void *)(vlan + 1) > data_end)
			return -XW_DROP_MALFORMED;
		proto = bpf_ntohs(vlan->proto);
		l3 = (void *)(vlan + 1);
	}
	/* More tags than walked: what is inside cannot be seen, so it is not passed blind. */
	if (proto == XW_ETH_P_8021Q || proto == XW_ETH_P_8021AD)
		return -XW_DROP_MALFORMED;
	if (proto == XW_ETH_P_IP)
		return xw_parse_ipv4(pkt, l3, data_end);
	if (proto == XW_ETH_P_IPV6)
		return xw_parse_ipv6(pkt, l3, data_end);
	return XW_OK;
}

#endif
