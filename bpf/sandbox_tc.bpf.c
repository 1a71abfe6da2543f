// SPDX-License-Identifier: GPL-2.0 OR Apache-2.0
/*
 * sandbox_tc: on each sandbox's host-side veth, ingress direction (what the sandbox sends),
 * attached with tcx (or clsact on kernels without it) by userspace/bpfload/sandbox_net.c.
 * The policy is in xwhisk/sandbox_net.h. The logic returns XW_OK or the negative of a drop
 * reason (xwhisk/verdict.h); one exit counts the verdict per CPU and per sandbox and turns
 * it into the hook's return code.
 */
#include "lib/maps.h"
#include "lib/parse.h"

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_ARP 0x0806
#define ARPHRD_ETHER 1
#define TCP_FLAG_SYN 0x02
#define TCP_FLAG_RST 0x04
#define TCP_FLAG_ACK 0x10
/* The same values for tcx (TCX_PASS, TCX_DROP) and clsact (TC_ACT_OK, TC_ACT_SHOT). */
#define SANDBOX_PASS 0
#define SANDBOX_DROP 2

/* What the policy looks at in an IPv4 packet. */
struct pkt {
	__u32 daddr;   /* network order */
	__u16 sport;   /* host order; 0 when has_ports is false */
	__u16 dport;
	__u8 proto;
	__u8 tcp_flags;
	bool has_ports; /* TCP or UDP, and not a later fragment */
};

static __always_inline __u32 addr_of(const __u8 a[4])
{
	__u32 v;

	__builtin_memcpy(&v, a, 4);
	return v;
}

static __always_inline __u32 prefix_mask(__u8 prefix)
{
	if (!prefix)
		return 0;
	if (prefix >= 32)
		return 0xffffffff;
	return bpf_htonl(~((1u << (32 - prefix)) - 1));
}

/* ARP from its own address, asking for (or answering) the gateway, or announcing itself:
 * a sandbox resolves nothing else, its other destinations are beyond the gateway. */
static __always_inline int check_arp(void *data, void *end, const struct xw_sandbox_iface *sbi)
{
	struct arphdr *arp = data + ETH_HLEN;
	struct xw_sandbox_policy *pol;
	__u32 key = 0, own, target, mask;
	__u8 *spa, *tpa;

	if ((void *)(arp + 1) > end)
		return -XW_DROP_MALFORMED;
	if (arp->ar_hrd != bpf_htons(ARPHRD_ETHER) || arp->ar_pro != bpf_htons(ETH_P_IP) ||
	    arp->ar_hln != 6 || arp->ar_pln != 4)
		return -XW_DROP_MALFORMED;
	/* sender hardware (6) and protocol (4) addresses, target hardware (6) and protocol (4) */
	spa = (__u8 *)(arp + 1) + 6;
	tpa = spa + 4 + 6;
	if ((void *)(tpa + 4) > end)
		return -XW_DROP_MALFORMED;
	own = addr_of(sbi->addr);
	if (addr_of(spa) != own)
		return -XW_DROP_SANDBOX_SPOOF;
	pol = bpf_map_lookup_elem(&sandbox_policy, &key);
	if (!pol)
		return -XW_DROP_SANDBOX_HOST;
	target = addr_of(tpa);
	if (target == own || target == addr_of(pol->gateway))
		return XW_OK;
	mask = prefix_mask(pol->prefix);
	if (mask && (target & mask) == addr_of(pol->subnet))
		return -XW_DROP_SANDBOX_PEER;
	return -XW_DROP_SANDBOX_HOST;
}

static __always_inline int parse_ipv4(void *data, void *end, const struct xw_sandbox_iface *sbi,
				      struct pkt *p)
{
	struct iphdr *ip;
	void *l4;
	__u32 hl;

	ip = xw_ipv4_header(data + ETH_HLEN, end, &hl);
	if (!ip)
		return -XW_DROP_MALFORMED;
	if (ip->saddr != addr_of(sbi->addr))
		return -XW_DROP_SANDBOX_SPOOF;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	if (ip->frag_off & bpf_htons(XW_IP_OFFSET))
		return XW_OK; /* a later fragment: no ports to look at */
	l4 = (void *)ip + hl;
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = xw_tcp_header(l4, end, bpf_ntohs(ip->tot_len) - hl);

		if (!th)
			return -XW_DROP_MALFORMED;
		p->sport = bpf_ntohs(th->source);
		p->dport = bpf_ntohs(th->dest);
		p->tcp_flags = ((__u8 *)th)[13];
		p->has_ports = true;
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;

		if ((void *)(uh + 1) > end)
			return -XW_DROP_MALFORMED;
		p->sport = bpf_ntohs(uh->source);
		p->dport = bpf_ntohs(uh->dest);
		p->has_ports = true;
	}
	return XW_OK;
}

/* Its runtime server (or the streaming action's server or the loop's run server, beside
 * it) answering a connection: ACK or RST from that port, never a SYN alone (which would
 * open a connection of its own from that port). */
static __always_inline bool is_server_reply(const struct pkt *p,
					    const struct xw_sandbox_policy *pol)
{
	__u8 f = p->tcp_flags;

	if (p->proto != IPPROTO_TCP || !p->has_ports || !pol->server_port ||
	    (p->sport != pol->server_port &&
	     p->sport != pol->server_port + XW_SANDBOX_STREAM_PORT_OFFSET &&
	     p->sport != pol->server_port + XW_SANDBOX_RUN_PORT_OFFSET))
		return false;
	if ((f & TCP_FLAG_SYN) && !(f & TCP_FLAG_ACK))
		return false;
	return f & (TCP_FLAG_ACK | TCP_FLAG_RST);
}

static __always_inline bool is_allowed(const struct pkt *p)
{
	struct xw_sandbox_allow_key k;
	struct xw_sandbox_allow *a = NULL;

	/* Set field by field: an initialised key would become a .rodata map. */
	__builtin_memset(&k, 0, sizeof(k));
	k.prefixlen = 48;
	__builtin_memcpy(k.addr, &p->daddr, 4);
	if (p->has_ports && p->dport) {
		k.port = p->dport;
		a = bpf_map_lookup_elem(&sandbox_allow, &k);
	}
	if (!a) {
		k.port = 0;
		a = bpf_map_lookup_elem(&sandbox_allow, &k);
	}
	if (!a)
		return false;
	__sync_fetch_and_add(&a->packets, 1);
	return true;
}

/* The node's own addresses, and what is never the outside world. */
static __always_inline bool is_host(__u32 daddr)
{
	struct xw_sandbox_host_key k;
	__u8 first = bpf_ntohl(daddr) >> 24;
	__u64 *refused;

	if (first == 0 || first == 127 || first >= 224) /* this, loopback, multicast, broadcast */
		return true;
	__builtin_memcpy(k.addr, &daddr, 4);
	refused = bpf_map_lookup_elem(&sandbox_hosts, &k);
	if (!refused)
		return false;
	__sync_fetch_and_add(refused, 1);
	return true;
}

static __always_inline int decide_ipv4(const struct pkt *p)
{
	__u32 key = 0;
	struct xw_sandbox_policy *pol = bpf_map_lookup_elem(&sandbox_policy, &key);
	__u32 gw, mask;

	if (!pol)
		return -XW_DROP_SANDBOX_HOST;
	gw = addr_of(pol->gateway);
	mask = prefix_mask(pol->prefix);
	if (mask && (p->daddr & mask) == addr_of(pol->subnet) && p->daddr != gw)
		return -XW_DROP_SANDBOX_PEER;
	if (is_server_reply(p, pol))
		return XW_OK;
	if (p->daddr == gw && p->proto == IPPROTO_TCP && p->has_ports && pol->ingress_port &&
	    p->dport == pol->ingress_port)
		return XW_OK;
	if (is_allowed(p))
		return XW_OK;
	if (p->daddr == gw || is_host(p->daddr))
		return -XW_DROP_SANDBOX_HOST;
	return pol->egress ? XW_OK : -XW_DROP_SANDBOX_EGRESS;
}

static __always_inline int classify(struct __sk_buff *skb, const struct xw_sandbox_iface *sbi)
{
	void *data = (void *)(long)skb->data, *end = (void *)(long)skb->data_end;
	struct ethhdr *eth = data;
	struct pkt p = {};
	int ret;

	if ((void *)(eth + 1) > end)
		return -XW_DROP_MALFORMED;
	if (eth->h_proto == bpf_htons(ETH_P_ARP))
		return check_arp(data, end, sbi);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return -XW_DROP_SANDBOX_PROTO; /* sandboxes are IPv4 only: IPv6 too */
	ret = parse_ipv4(data, end, sbi, &p);
	if (ret != XW_OK)
		return ret;
	return decide_ipv4(&p);
}

/* The single exit: every verdict counted per CPU and per sandbox. */
static __always_inline int finish(struct xw_sandbox_iface *sbi, int verdict)
{
	__u32 idx = verdict < 0 ? (__u32)-verdict : XW_REASON_PASS;
	__u64 *count;

	if (idx >= XW_SANDBOX_VERDICTS)
		idx = XW_DROP_MALFORMED;
	count = bpf_map_lookup_elem(&sandbox_verdict, &idx);
	if (count)
		*count += 1;
	if (sbi)
		__sync_fetch_and_add(&sbi->verdicts[idx], 1);
	return verdict < 0 ? SANDBOX_DROP : SANDBOX_PASS;
}

SEC("tc")
int sandbox_tc(struct __sk_buff *skb)
{
	__u32 ifindex = skb->ifindex;
	struct xw_sandbox_iface *sbi = bpf_map_lookup_elem(&sandbox_ifaces, &ifindex);

	/* A veth the node does not know: its sandbox's address is unknown, nothing passes. */
	if (!sbi)
		return finish(NULL, -XW_DROP_SANDBOX_SPOOF);
	return finish(sbi, classify(skb, sbi));
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
