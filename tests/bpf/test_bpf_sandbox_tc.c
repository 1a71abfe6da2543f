// SPDX-License-Identifier: Apache-2.0
/*
 * sandbox_tc: a fixture table of crafted packets run through bpf_prog_test_run_opts (each
 * with its expected verdict and the counters it must move, per CPU and per sandbox), the
 * policy's parsing, and attach / re-attach / detach on a veth. Runs in a network namespace
 * of its own (so lo is ifindex 1 and the veth is private) with a private pin directory.
 * Needs root and a kernel with BPF.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/ip.h>
#include <netinet/ip6.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "pinned_maps.h"
#include "util.h"
#include "sandbox_net.h"
#include "../unit/test.h"

#define SB_ADDR "169.254.32.7"
#define GW "169.254.32.1"
#define INGRESS 3233
#define HOST_OTHER "10.99.0.1" /* put into sandbox_hosts by the test */
#define PASS 0
#define DROP 2

static char pin_dir[128];
static struct sandbox_net *net;

enum fx_kind { F_TCP, F_UDP, F_ICMP, F_ARP, F_IPV6, F_TRUNC_IP, F_TRUNC_TCP, F_BAD_IHL, F_FRAG };

struct fixture {
	const char *name;
	enum fx_kind kind;
	const char *src, *dst;
	uint16_t sport, dport;
	uint8_t tcp_flags;
	int verdict; /* XW_OK or -reason */
};

#define SYN TH_SYN
#define ACK TH_ACK

static const struct fixture table[] = {
	{ "to the ingress", F_TCP, SB_ADDR, GW, 40000, INGRESS, SYN, XW_OK },
	{ "to the ingress, later segment", F_TCP, SB_ADDR, GW, 40000, INGRESS, ACK, XW_OK },
	{ "to another port of the gateway", F_TCP, SB_ADDR, GW, 40000, 22, SYN,
	  -XW_DROP_SANDBOX_HOST },
	{ "UDP to the gateway", F_UDP, SB_ADDR, GW, 40000, INGRESS, 0, -XW_DROP_SANDBOX_HOST },
	{ "to another address of the node", F_TCP, SB_ADDR, HOST_OTHER, 40000, INGRESS, SYN,
	  -XW_DROP_SANDBOX_HOST },
	{ "to loopback", F_TCP, SB_ADDR, "127.0.0.1", 40000, 80, SYN, -XW_DROP_SANDBOX_HOST },
	{ "to another sandbox", F_TCP, SB_ADDR, "169.254.32.9", 40000, 8080, SYN,
	  -XW_DROP_SANDBOX_PEER },
	{ "to the subnet's broadcast", F_UDP, SB_ADDR, "169.254.63.255", 1, 9, 0,
	  -XW_DROP_SANDBOX_PEER },
	{ "to the outside world", F_TCP, SB_ADDR, "8.8.8.8", 40000, 443, SYN,
	  -XW_DROP_SANDBOX_EGRESS },
	{ "to an allowed network and port", F_TCP, SB_ADDR, "192.0.2.10", 40000, 443, SYN, XW_OK },
	{ "to an allowed network, other port", F_TCP, SB_ADDR, "192.0.2.10", 40000, 80, SYN,
	  -XW_DROP_SANDBOX_EGRESS },
	{ "to an allowed address, any port", F_UDP, SB_ADDR, "198.51.100.7", 40000, 9999, 0, XW_OK },
	{ "ICMP to an allowed address", F_ICMP, SB_ADDR, "198.51.100.7", 0, 0, 0, XW_OK },
	{ "ICMP to a port-only allowance", F_ICMP, SB_ADDR, "192.0.2.10", 0, 0, 0,
	  -XW_DROP_SANDBOX_EGRESS },
	{ "DNS", F_UDP, SB_ADDR, "203.0.113.53", 40000, 53, 0, XW_OK },
	{ "DNS server, other port", F_UDP, SB_ADDR, "203.0.113.53", 40000, 54, 0,
	  -XW_DROP_SANDBOX_EGRESS },
	{ "spoofed source", F_TCP, "169.254.32.8", GW, 40000, INGRESS, SYN,
	  -XW_DROP_SANDBOX_SPOOF },
	{ "ARP for the gateway", F_ARP, SB_ADDR, GW, 0, 0, 0, XW_OK },
	{ "gratuitous ARP", F_ARP, SB_ADDR, SB_ADDR, 0, 0, 0, XW_OK },
	{ "ARP for another sandbox", F_ARP, SB_ADDR, "169.254.32.9", 0, 0, 0,
	  -XW_DROP_SANDBOX_PEER },
	{ "ARP for an address off the subnet", F_ARP, SB_ADDR, "10.0.0.1", 0, 0, 0,
	  -XW_DROP_SANDBOX_HOST },
	{ "ARP from another address", F_ARP, "169.254.32.9", GW, 0, 0, 0,
	  -XW_DROP_SANDBOX_SPOOF },
	{ "server reply to the node", F_TCP, SB_ADDR, GW, 8080, 51000, SYN | ACK, XW_OK },
	{ "server data to another node", F_TCP, SB_ADDR, "10.77.0.12", 8080, 51000, ACK, XW_OK },
	{ "server reset", F_TCP, SB_ADDR, GW, 8080, 51000, TH_RST, XW_OK },
	{ "stream server reply to the node", F_TCP, SB_ADDR, GW, 8081, 51000, ACK, XW_OK },
	{ "loop's run server reply to the node", F_TCP, SB_ADDR, GW, 8082, 51000, ACK, XW_OK },
	{ "a reply from the port past them", F_TCP, SB_ADDR, GW, 8083, 51000, ACK,
	  -XW_DROP_SANDBOX_HOST },
	{ "a SYN from the server port", F_TCP, SB_ADDR, GW, 8080, 22, SYN,
	  -XW_DROP_SANDBOX_HOST },
	{ "server reply to a sandbox", F_TCP, SB_ADDR, "169.254.32.9", 8080, 51000, ACK,
	  -XW_DROP_SANDBOX_PEER },
	{ "IPv6", F_IPV6, SB_ADDR, GW, 40000, INGRESS, SYN, -XW_DROP_SANDBOX_PROTO },
	{ "IPv4 options past the end", F_TRUNC_IP, SB_ADDR, GW, 40000, INGRESS, SYN,
	  -XW_DROP_MALFORMED },
	{ "truncated TCP header", F_TRUNC_TCP, SB_ADDR, GW, 40000, INGRESS, SYN,
	  -XW_DROP_MALFORMED },
	{ "IPv4 header length 4", F_BAD_IHL, SB_ADDR, GW, 40000, INGRESS, SYN,
	  -XW_DROP_MALFORMED },
	{ "later fragment to the gateway", F_FRAG, SB_ADDR, GW, 0, 0, 0, -XW_DROP_SANDBOX_HOST },
	{ "later fragment to an any-port allowance", F_FRAG, SB_ADDR, "198.51.100.7", 0, 0, 0,
	  XW_OK },
};

static in_addr_t ip4(const char *s)
{
	struct in_addr a = { 0 };

	inet_pton(AF_INET, s, &a);
	return a.s_addr;
}

static size_t build_arp(const struct fixture *f, uint8_t *buf)
{
	struct ethhdr *eth = (struct ethhdr *)buf;
	struct arphdr *arp = (struct arphdr *)(eth + 1);
	uint8_t *p = (uint8_t *)(arp + 1);
	in_addr_t s = ip4(f->src), d = ip4(f->dst);

	memset(eth->h_dest, 0xff, ETH_ALEN);
	eth->h_proto = htons(ETH_P_ARP);
	arp->ar_hrd = htons(ARPHRD_ETHER);
	arp->ar_pro = htons(ETH_P_IP);
	arp->ar_hln = 6;
	arp->ar_pln = 4;
	arp->ar_op = htons(ARPOP_REQUEST);
	memcpy(p + 6, &s, 4);
	memcpy(p + 16, &d, 4);
	return sizeof(*eth) + sizeof(*arp) + 20;
}

/* A 256-byte packet buffer whose IP header (after the 14-byte Ethernet header) is 4-byte
 * aligned, as the kernel lays packets out (NET_IP_ALIGN): build() writes the headers
 * through struct pointers, which is undefined on a misaligned address (UBSan, make test
 * SANITIZE=1). */
#define PKT_BUF(name)                                                                          \
	struct {                                                                               \
		uint8_t pad[2];                                                                \
		uint8_t data[256];                                                             \
	} __attribute__((aligned(4))) name##_buf;                                              \
	uint8_t *name = name##_buf.data

/* A packet for f in buf (at least 256 bytes); returns its length. */
static size_t build(const struct fixture *f, uint8_t *buf)
{
	struct ethhdr *eth = (struct ethhdr *)buf;
	struct iphdr *ip = (struct iphdr *)(eth + 1);
	uint8_t *l4 = (uint8_t *)(ip + 1);
	size_t l4len = 8;

	memset(buf, 0, 256);
	eth->h_source[0] = 0x02;
	if (f->kind == F_ARP)
		return build_arp(f, buf);
	if (f->kind == F_IPV6) {
		struct ip6_hdr *ip6 = (struct ip6_hdr *)(eth + 1);

		eth->h_proto = htons(ETH_P_IPV6);
		ip6->ip6_vfc = 0x60;
		ip6->ip6_nxt = IPPROTO_TCP;
		ip6->ip6_plen = htons(20);
		return sizeof(*eth) + sizeof(*ip6) + 20;
	}
	eth->h_proto = htons(ETH_P_IP);
	ip->version = 4;
	/* (An IPv4 header cut short is refused by the kernel's test runner itself; options
	 * running past the end are the parser's business.) */
	ip->ihl = f->kind == F_BAD_IHL ? 4 : f->kind == F_TRUNC_IP ? 15 : 5;
	ip->ttl = 64;
	ip->saddr = ip4(f->src);
	ip->daddr = ip4(f->dst);
	if (f->kind == F_TCP || f->kind == F_TRUNC_TCP || f->kind == F_BAD_IHL ||
	    f->kind == F_TRUNC_IP) {
		struct tcphdr *th = (struct tcphdr *)l4;

		ip->protocol = IPPROTO_TCP;
		th->source = htons(f->sport);
		th->dest = htons(f->dport);
		th->doff = 5;
		l4[13] = f->tcp_flags;
		l4len = f->kind == F_TRUNC_TCP ? 10 : sizeof(*th);
	} else if (f->kind == F_UDP) {
		struct udphdr *uh = (struct udphdr *)l4;

		ip->protocol = IPPROTO_UDP;
		uh->source = htons(f->sport);
		uh->dest = htons(f->dport);
		uh->len = htons(8);
	} else if (f->kind == F_ICMP) {
		ip->protocol = IPPROTO_ICMP;
		l4[0] = 8; /* echo request */
	} else if (f->kind == F_FRAG) {
		ip->protocol = IPPROTO_UDP;
		ip->frag_off = htons(185); /* offset 1480 */
	}
	ip->tot_len = htons((uint16_t)(sizeof(*ip) + l4len));
	if (f->kind == F_TRUNC_IP)
		ip->tot_len = htons(60 + 20);
	return sizeof(*eth) + sizeof(*ip) + l4len;
}

static int run_prog(const uint8_t *pkt, size_t len, uint32_t *retval)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt, .data_size_in = (uint32_t)len,
		    .repeat = 1);
	int err = bpf_prog_test_run_opts(sandbox_net_prog_fd(net), &opts);

	if (err)
		fprintf(stderr, "  test run: %s\n", strerror(errno));

	*retval = opts.retval;
	return err;
}

static void test_open_with_policy(void)
{
	struct sandbox_net_policy pol = {
		.gateway = ip4(GW), .subnet = ip4("169.254.32.0"), .prefix = 19,
		.ingress_port = INGRESS, .server_port = 8080,
		.allow = "192.0.2.0/24:443, 198.51.100.7", .dns = "203.0.113.53",
	};
	struct sandbox_net_policy bad_pol = pol;
	struct sandbox_net *other = NULL;
	const char *bad = NULL;

	/* A bad entry is refused and named. */
	bad_pol.allow = "192.0.2.0/24:443,10.0.0.0/33";
	CHECK(sandbox_net_open(pin_dir, &bad_pol, &other, &bad) == -EINVAL && !other);
	CHECK_STR(bad, "10.0.0.0/33");
	bad_pol.allow = "10.0.0.1:0";
	CHECK(sandbox_net_open(pin_dir, &bad_pol, &other, &bad) == -EINVAL);
	bad_pol.allow = "example.com";
	CHECK(sandbox_net_open(pin_dir, &bad_pol, &other, &bad) == -EINVAL);
	/* One entry more than the trie holds: refused, and the first that does not fit named. */
	{
		size_t cap = (XW_SANDBOX_ALLOW_MAX + 1) * 16, len = 0;
		char *many = malloc(cap);

		ASSERT(many);
		for (int i = 0; i <= XW_SANDBOX_ALLOW_MAX; i++)
			len += (size_t)snprintf(many + len, cap - len, "%s10.%d.%d.0/24", i ? "," : "",
						i / 256, i % 256);
		bad_pol.allow = many;
		bad = NULL;
		CHECK(sandbox_net_open(pin_dir, &bad_pol, &other, &bad) == -E2BIG && !other);
		CHECK(bad && !strncmp(bad, "10.4.0.0/24", 11));
		bad_pol.allow = pol.allow;
		free(many);
	}

	ASSERT(sandbox_net_open(pin_dir, &pol, &net, NULL) == 0);
	/* The test's packets come in on lo (ifindex 1 in this namespace). */
	ASSERT(sandbox_net_attach(net, 1, "lo", "sbtest000001", ip4(SB_ADDR)) == 0);
}

static const char *reason(int verdict)
{
	return xw_drop_reason_name(verdict < 0 ? (unsigned)-verdict : 0);
}

static void test_fixtures(void)
{
	ASSERT(net);
	for (size_t i = 0; i < ARRAY_SIZE(table); i++) {
		const struct fixture *f = &table[i];
		uint64_t before[XW_DROP__MAX] = { 0 }, after[XW_DROP__MAX] = { 0 };
		uint64_t sb_before[XW_DROP__MAX] = { 0 }, sb_after[XW_DROP__MAX] = { 0 };
		unsigned idx = f->verdict < 0 ? (unsigned)-f->verdict : 0;
		PKT_BUF(pkt);
		uint32_t ret = 99;
		size_t len = build(f, pkt);
		bool ok;

		CHECK(sandbox_net_drops(pin_dir, before) == 0);
		CHECK(sandbox_net_iface_drops(net, 1, sb_before) == 0);
		CHECK(run_prog(pkt, len, &ret) == 0);
		CHECK(sandbox_net_drops(pin_dir, after) == 0);
		CHECK(sandbox_net_iface_drops(net, 1, sb_after) == 0);
		ok = ret == (f->verdict == XW_OK ? PASS : DROP) && after[idx] == before[idx] + 1 &&
		     sb_after[idx] == sb_before[idx] + 1;
		if (!ok)
			fprintf(stderr, "  fixture '%s': return %u, %s counted %llu -> %llu (sandbox "
				"%llu -> %llu), expected %s\n", f->name, ret, reason(f->verdict),
				(unsigned long long)before[idx], (unsigned long long)after[idx],
				(unsigned long long)sb_before[idx], (unsigned long long)sb_after[idx],
				f->verdict == XW_OK ? "pass" : "drop");
		CHECK(ok);
	}
}

static int policy_set_egress(bool on)
{
	char path[256];
	struct xw_sandbox_policy p;
	__u32 key = 0;
	int fd, err;

	snprintf(path, sizeof(path), "%s/%s", pin_dir, XW_MAP_SANDBOX_POLICY);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return -errno;
	err = bpf_map_lookup_elem(fd, &key, &p);
	p.egress = on;
	if (!err)
		err = bpf_map_update_elem(fd, &key, &p, BPF_ANY);
	close(fd);
	return err;
}

/* With egress on, the world passes; the node and the other sandboxes still do not. */
static void test_egress_on(void)
{
	static const struct fixture on[] = {
		{ "outside", F_TCP, SB_ADDR, "8.8.8.8", 40000, 443, SYN, XW_OK },
		{ "outside, ICMP", F_ICMP, SB_ADDR, "1.1.1.1", 0, 0, 0, XW_OK },
		{ "node", F_TCP, SB_ADDR, HOST_OTHER, 40000, 22, SYN, -XW_DROP_SANDBOX_HOST },
		{ "gateway", F_TCP, SB_ADDR, GW, 40000, 22, SYN, -XW_DROP_SANDBOX_HOST },
		{ "peer", F_TCP, SB_ADDR, "169.254.32.9", 40000, 8080, SYN, -XW_DROP_SANDBOX_PEER },
		{ "multicast", F_UDP, SB_ADDR, "224.0.0.251", 5353, 5353, 0, -XW_DROP_SANDBOX_HOST },
	};

	ASSERT(net);
	ASSERT(policy_set_egress(true) == 0);
	for (size_t i = 0; i < ARRAY_SIZE(on); i++) {
		PKT_BUF(pkt);
		uint32_t ret = 99;

		CHECK(run_prog(pkt, build(&on[i], pkt), &ret) == 0);
		if (ret != (on[i].verdict == XW_OK ? PASS : DROP))
			fprintf(stderr, "  egress on, '%s': return %u\n", on[i].name, ret);
		CHECK(ret == (on[i].verdict == XW_OK ? PASS : DROP));
	}
	CHECK(policy_set_egress(false) == 0);
}

/* A veth the node has no entry for: nothing passes. */
static void test_unknown_veth(void)
{
	const struct fixture *f = &table[0];
	uint64_t before[XW_DROP__MAX] = { 0 }, after[XW_DROP__MAX] = { 0 };
	PKT_BUF(pkt);
	uint32_t ret = 99;
	__u32 key = 1;
	struct xw_sandbox_iface saved;

	ASSERT(net);
	ASSERT(bpf_map_lookup_elem(sandbox_net_ifaces_fd(net), &key, &saved) == 0);
	ASSERT(bpf_map_delete_elem(sandbox_net_ifaces_fd(net), &key) == 0);
	CHECK(sandbox_net_drops(pin_dir, before) == 0);
	CHECK(run_prog(pkt, build(f, pkt), &ret) == 0);
	CHECK(sandbox_net_drops(pin_dir, after) == 0);
	CHECK(ret == DROP);
	CHECK(after[XW_DROP_SANDBOX_SPOOF] == before[XW_DROP_SANDBOX_SPOOF] + 1);
	CHECK(bpf_map_update_elem(sandbox_net_ifaces_fd(net), &key, &saved, BPF_ANY) == 0);
}

static int tcx_count(int ifindex)
{
	__u32 ids[8], cnt = 8, flags = 0;

	if (bpf_prog_query(ifindex, (enum bpf_attach_type)46, 0, &flags, ids, &cnt))
		return -errno;
	return (int)cnt;
}

static __u32 prog_id(int fd)
{
	struct bpf_prog_info info = { 0 };
	__u32 len = sizeof(info);

	return bpf_obj_get_info_by_fd(fd, &info, &len) ? 0 : info.id;
}

/* Attach, a "restart" (a new handle re-attaching), detach; one program on the veth always. */
static void test_attach_readopt_detach(void)
{
	struct sandbox_net_policy pol = { .gateway = ip4(GW), .subnet = ip4("169.254.32.0"),
					  .prefix = 19, .ingress_port = INGRESS,
					  .server_port = 8080 };
	struct sandbox_net *again = NULL;
	char path[256];
	int ifindex, fd;

	ASSERT(net);
	ASSERT(system("ip link add xwt0 type veth peer name xwt1 && ip link set xwt0 up && "
		      "ip link set xwt1 up") == 0);
	ifindex = (int)if_nametoindex("xwt0");
	ASSERT(ifindex > 0);
	ASSERT(sandbox_net_attach(net, ifindex, "xwt0", "sbtest000002", ip4("169.254.32.8")) == 0);
	if (sandbox_net_mode(net) == SANDBOX_NET_TCX) {
		snprintf(path, sizeof(path), "%s/%s/xwt0", pin_dir, XW_SANDBOX_LINK_DIR);
		CHECK(access(path, F_OK) == 0);
		CHECK(tcx_count(ifindex) == 1);
	}
	/* The node restarts: the link survived (pinned) and is given the new program. */
	ASSERT(sandbox_net_open(pin_dir, &pol, &again, NULL) == 0);
	CHECK(sandbox_net_attach(again, ifindex, "xwt0", "sbtest000002", ip4("169.254.32.8")) == 0);
	if (sandbox_net_mode(net) == SANDBOX_NET_TCX) {
		__u32 ids[8], cnt = 8, flags = 0;

		CHECK(tcx_count(ifindex) == 1);
		CHECK(bpf_prog_query(ifindex, (enum bpf_attach_type)46, 0, &flags, ids, &cnt) == 0);
		fd = sandbox_net_prog_fd(again);
		CHECK(cnt == 1 && ids[0] == prog_id(fd));
	}
	CHECK(sandbox_net_detach(again, ifindex, "xwt0", "sbtest000002") == 0);
	CHECK(access(path, F_OK) < 0);
	CHECK(tcx_count(ifindex) == 0 || sandbox_net_mode(net) != SANDBOX_NET_TCX);
	{
		struct xw_sandbox_iface v;
		__u32 key = (__u32)ifindex;

		CHECK(bpf_map_lookup_elem(sandbox_net_ifaces_fd(again), &key, &v) < 0);
	}
	/* Detaching again, or a veth already gone, is no error. */
	CHECK(sandbox_net_detach(again, ifindex, "xwt0", "sbtest000002") == 0);
	CHECK(system("ip link del xwt0") == 0);
	sandbox_net_close(again);
}

/* The fallback for kernels without tcx: a clsact filter, replaced rather than doubled. */
static void test_clsact_fallback(void)
{
	struct sandbox_net_policy pol = { .gateway = ip4(GW), .subnet = ip4("169.254.32.0"),
					  .prefix = 19, .ingress_port = INGRESS,
					  .server_port = 8080 };
	struct sandbox_net *c = NULL;
	int ifindex, err;

	setenv("XWHISK_SANDBOX_TC_CLSACT", "1", 1);
	err = sandbox_net_open(pin_dir, &pol, &c, NULL);
	unsetenv("XWHISK_SANDBOX_TC_CLSACT");
	ASSERT(err == 0);
	CHECK(sandbox_net_mode(c) == SANDBOX_NET_CLSACT);
	ASSERT(system("ip link add xwt2 type veth peer name xwt3") == 0);
	ifindex = (int)if_nametoindex("xwt2");
	CHECK(sandbox_net_attach(c, ifindex, "xwt2", "sbtest000003", ip4("169.254.32.10")) == 0);
	CHECK(sandbox_net_attach(c, ifindex, "xwt2", "sbtest000003", ip4("169.254.32.10")) == 0);
	CHECK(system("tc filter show dev xwt2 ingress | grep -c sandbox_tc | grep -qx 1") == 0);
	CHECK(sandbox_net_detach(c, ifindex, "xwt2", "sbtest000003") == 0);
	CHECK(system("tc filter show dev xwt2 ingress | grep -q sandbox_tc") != 0);
	CHECK(system("ip link del xwt2") == 0);
	sandbox_net_close(c);
}

/* bpftool prints the sandbox's id and address readably. */
static void test_bpftool_dump(void)
{
	const char *out;
	char cmd[300];

	snprintf(cmd, sizeof(cmd), "bpftool map dump pinned %s/%s 2>&1", pin_dir,
		 XW_MAP_SANDBOX_IFACES);
	out = test_run_cmd(cmd);
	ASSERT(out);
	CHECK(strstr(out, "\"sandbox\": \"sbtest000001\"") != NULL);
	CHECK(strstr(out, "\"addr\": [169,254,32,7") != NULL);
	if (getenv("SHOW_DUMP"))
		fprintf(stderr, "%s\n", out);
	if (!strstr(out, "\"sandbox\": \"sbtest000001\""))
		fprintf(stderr, "%s\n", out);
}

static void test_unpin(void)
{
	char path[256];

	sandbox_net_close(net);
	net = NULL;
	CHECK(sandbox_net_unpin(pin_dir) == 0);
	snprintf(path, sizeof(path), "%s/%s", pin_dir, XW_MAP_SANDBOX_IFACES);
	CHECK(access(path, F_OK) < 0);
	snprintf(path, sizeof(path), "%s/%s", pin_dir, XW_SANDBOX_LINK_DIR);
	CHECK(access(path, F_OK) < 0);
}

/*
 * The helper tests/netns/sandbox_net.sh drives, in the caller's network namespace:
 *   attach PIN_DIR VETH ADDR GATEWAY SUBNET/PREFIX INGRESS_PORT
 *   detach PIN_DIR VETH
 *   drops PIN_DIR          (prints "reason count" per verdict)
 */
static int helper(int argc, char **argv)
{
	struct sandbox_net_policy pol = { .server_port = 8080 };
	uint64_t out[XW_DROP__MAX] = { 0 };
	char subnet[32], *slash;
	int ifindex, err;

	xw_bpf_setup_logging();
	if (!strcmp(argv[1], "drops") && argc == 3) {
		err = sandbox_net_drops(argv[2], out);
		for (int r = 0; !err && r < XW_DROP__MAX; r++)
			printf("%s %llu\n", xw_drop_reason_name((unsigned)r), (unsigned long long)out[r]);
		return err ? 1 : 0;
	}
	if (!strcmp(argv[1], "detach") && argc == 4) {
		err = sandbox_net_open(argv[2], &pol, &net, NULL);
		if (!err)
			err = sandbox_net_detach(net, (int)if_nametoindex(argv[3]), argv[3], argv[3]);
		sandbox_net_close(net);
		return err ? 1 : 0;
	}
	if (strcmp(argv[1], "attach") || argc != 8)
		return 2;
	snprintf(subnet, sizeof(subnet), "%s", argv[6]);
	slash = strchr(subnet, '/');
	if (!slash)
		return 2;
	*slash = '\0';
	pol.gateway = ip4(argv[5]);
	pol.subnet = ip4(subnet);
	pol.prefix = atoi(slash + 1);
	pol.ingress_port = (uint16_t)atoi(argv[7]);
	ifindex = (int)if_nametoindex(argv[3]);
	err = sandbox_net_open(argv[2], &pol, &net, NULL);
	if (!err)
		err = sandbox_net_attach(net, ifindex, argv[3], argv[3], ip4(argv[4]));
	if (err)
		fprintf(stderr, "attach %s: %s\n", argv[3], strerror(-err));
	sandbox_net_close(net);
	return err ? 1 : 0;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return helper(argc, argv);
	if (geteuid() != 0) {
		printf("not ok - the BPF tests need root\n");
		return 1;
	}
	/* A network namespace of our own: lo is ifindex 1, the veths and addresses private. */
	if (unshare(CLONE_NEWNET) ||
	    system("ip link set lo up && ip addr add " HOST_OTHER "/32 dev lo") != 0) {
		printf("not ok - cannot make a network namespace\n");
		return 1;
	}
	xw_bpf_setup_logging();
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/xwhisk-test-sbtc-%d", getpid());
	RUN(test_open_with_policy);
	RUN(test_fixtures);
	RUN(test_egress_on);
	RUN(test_unknown_veth);
	RUN(test_attach_readopt_detach);
	RUN(test_clsact_fallback);
	RUN(test_bpftool_dump);
	RUN(test_unpin);
	sandbox_net_close(net);
	(void)sandbox_net_unpin(pin_dir);
	(void)xw_maps_unpin(pin_dir);
	TEST_EXIT();
}
