// SPDX-License-Identifier: Apache-2.0
/*
 * xdp_guard on crafted packets (bpf_prog_test_run_opts): a fixture table of IPv4 and IPv6
 * SYNs, ACKs, fragments, truncated headers at each layer, blocked, expired and exempt
 * sources, a source past its token bucket and one at its connection cap; each row's
 * expected verdict and the guard_stats counter it must move. Then the loader's pieces that
 * need no interface: the block API, the config knobs, re-used and replaced pins, and
 * bpftool's view of the maps. Needs root. Every row uses its own source address.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <xdp/libxdp.h>

#include "guard.h"
#include "pinned_maps.h"
#include "xdp_guard.skel.h"
#include "../unit/test.h"

#define PORT 3233
#define RATE 10
#define BURST 3
#define MAX_CONNS 4

#define SYN 0x02
#define ACK 0x10

static char pin_dir[128];
static struct xwhisk_xdp_guard *skel;
static struct xw_guard *g;
static int prog_fd;

/* ---- packets ---- */

enum frag { NOFRAG, FIRST, LATER };

struct pkt {
	int family;          /* 4 or 6 */
	const char *src;
	uint16_t dport;      /* 0: PORT */
	uint8_t proto;       /* 0: TCP */
	uint8_t flags;       /* TCP flags */
	enum frag frag;
	int v6_ext;          /* destination-options headers before the transport */
	int vlan;            /* 802.1Q tags */
	int ihl, doff;       /* 0: 5 */
	uint16_t ethertype;  /* 0: from family */
	int len;             /* > 0: cut the packet to this many bytes */
};

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static size_t build(const struct pkt *s, uint8_t *buf, size_t size)
{
	uint8_t proto = s->proto ? s->proto : 6, *p = buf, *l4;
	uint16_t ethertype = s->ethertype ? s->ethertype : s->family == 6 ? 0x86DD : 0x0800;
	uint8_t addr[16];
	size_t l4len = proto == 6 ? 20 : 8, n;

	memset(buf, 0, size);
	memcpy(p, "\x02\0\0\0\0\x01\x02\0\0\0\0\x02", 12);
	p += 12;
	for (int i = 0; i < s->vlan; i++) {
		put16(p, 0x8100);
		put16(p + 2, 100 + i);
		p += 4;
	}
	put16(p, ethertype);
	p += 2;
	if (ethertype == 0x0806) { /* ARP: something that is not IP */
		p += 28;
		return (size_t)(p - buf);
	}
	if (s->family == 4) {
		int ihl = s->ihl ? s->ihl : 5;
		uint16_t frag = s->frag == FIRST ? 0x2000 : s->frag == LATER ? 0x00b9 : 0x4000;

		p[0] = (uint8_t)(0x40 | ihl);
		put16(p + 2, (uint16_t)(ihl * 4 + l4len));
		put16(p + 6, frag);
		p[8] = 64;
		p[9] = proto;
		inet_pton(AF_INET, s->src, p + 12);
		inet_pton(AF_INET, "10.0.0.1", p + 16);
		p += (ihl >= 5 ? ihl : 5) * 4;
	} else {
		uint8_t *ip6 = p, *next = p + 6;

		ip6[0] = 0x60;
		put16(ip6 + 4, (uint16_t)(s->v6_ext * 8 + (s->frag ? 8 : 0) + l4len));
		inet_pton(AF_INET6, s->src, addr);
		memcpy(ip6 + 8, addr, 16);
		inet_pton(AF_INET6, "fd00::1", ip6 + 24);
		p += 40;
		for (int i = 0; i < s->v6_ext; i++) {
			*next = 60; /* destination options, 8 bytes */
			next = p;
			p[2] = 1; /* PadN */
			p[3] = 4;
			p += 8;
		}
		if (s->frag) {
			*next = 44;
			next = p;
			put16(p + 2, s->frag == LATER ? (uint16_t)(185 << 3) : 1);
			p += 8;
		}
		*next = proto;
	}
	l4 = p;
	put16(l4, 40000);
	put16(l4 + 2, s->dport ? s->dport : PORT);
	if (proto == 6) {
		l4[12] = (uint8_t)((s->doff ? s->doff : 5) << 4);
		l4[13] = s->flags;
		put16(l4 + 14, 65535);
	} else {
		put16(l4 + 4, 8);
	}
	p += l4len;
	n = (size_t)(p - buf);
	return s->len > 0 && (size_t)s->len < n ? (size_t)s->len : n;
}

/* ---- map setup ---- */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void addr_of(const char *text, uint8_t a[16])
{
	if (xw_guard_addr_parse(text, a))
		memset(a, 0, 16);
}

/* Directly in the map, past the API's refusal of exempt addresses. */
static int raw_block(const char *src, int64_t ms)
{
	struct xw_guard_key k;
	struct xw_guard_entry v = {};

	addr_of(src, k.addr);
	v.blocked_until_ns = (uint64_t)((int64_t)now_ns() + ms * 1000000);
	return bpf_map_update_elem(bpf_map__fd(skel->maps.guard), &k, &v, BPF_ANY);
}

static int set_conns(const char *src, int open)
{
	struct xw_guard_key k;
	struct xw_guard_conns v = { .open = open };

	addr_of(src, k.addr);
	return bpf_map_update_elem(bpf_map__fd(skel->maps.guard_conns), &k, &v, BPF_ANY);
}

static int set_cfg(uint16_t port, uint32_t flags)
{
	struct xw_guard_cfg c = {
		.port = port, .flags = flags, .syn_rate = RATE, .syn_burst = BURST,
		.max_conns = MAX_CONNS,
	};
	__u32 zero = 0;

	return bpf_map_update_elem(bpf_map__fd(skel->maps.guard_cfg), &zero, &c, BPF_ANY);
}

static int run(const struct pkt *s, __u32 *action)
{
	uint8_t buf[512];
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = buf, .repeat = 1);

	opts.data_size_in = (__u32)build(s, buf, sizeof(buf));
	if (bpf_prog_test_run_opts(prog_fd, &opts) < 0)
		return -errno;
	*action = opts.retval;
	return 0;
}

/* ---- the fixture table ---- */

enum setup { NONE, BLOCKED, EXPIRED, AT_CAP, UNDER_CAP };

struct row {
	const char *name;
	struct pkt pkt;
	enum setup setup;
	int repeat;                /* sent this many times; all but the last must pass */
	__u32 action;              /* XDP_PASS or XDP_DROP for the last */
	enum xw_drop_reason reason; /* the counter the last one moves */
};

static const struct row rows[] = {
	/* new connections and established traffic */
	{ "v4 SYN passes", { 4, "192.0.2.1", .flags = SYN }, NONE, 1, XDP_PASS, XW_REASON_PASS },
	{ "v6 SYN passes", { 6, "2001:db8::1", .flags = SYN }, NONE, 1, XDP_PASS, XW_REASON_PASS },
	{ "v4 ACK passes", { 4, "192.0.2.2", .flags = ACK }, NONE, 1, XDP_PASS, XW_REASON_PASS },
	{ "v4 SYN-ACK is not a new connection", { 4, "192.0.2.3", .flags = SYN | ACK }, NONE, 8,
	  XDP_PASS, XW_REASON_PASS },
	{ "v6 SYN behind extension headers", { 6, "2001:db8::2", .flags = SYN, .v6_ext = 3 },
	  NONE, 1, XDP_PASS, XW_REASON_PASS },
	{ "v4 SYN in two VLAN tags", { 4, "192.0.2.4", .flags = SYN, .vlan = 2 }, NONE, 1,
	  XDP_PASS, XW_REASON_PASS },
	{ "v6 SYN behind the most extension headers walked",
	  { 6, "2001:db8::3", .flags = SYN, .v6_ext = 8 }, NONE, 1, XDP_PASS, XW_REASON_PASS },
	{ "v6 blocked behind the most extension headers walked",
	  { 6, "2001:db8::35", .flags = ACK, .v6_ext = 8 }, BLOCKED, 1, XDP_DROP,
	  XW_DROP_BLOCKED },
	/* the token bucket */
	{ "v4 source past its bucket", { 4, "192.0.2.10", .flags = SYN }, NONE, BURST + 1,
	  XDP_DROP, XW_DROP_SYN_RATE },
	{ "v6 source past its bucket", { 6, "2001:db8::10", .flags = SYN }, NONE, BURST + 1,
	  XDP_DROP, XW_DROP_SYN_RATE },
	{ "ACKs spend no tokens", { 4, "192.0.2.11", .flags = ACK }, NONE, BURST + 5, XDP_PASS,
	  XW_REASON_PASS },
	{ "another port is not limited", { 4, "192.0.2.12", .dport = 22, .flags = SYN }, NONE,
	  BURST + 5, XDP_PASS, XW_REASON_PASS },
	/* the connection cap */
	{ "v4 SYN at the connection cap", { 4, "192.0.2.20", .flags = SYN }, AT_CAP, 1, XDP_DROP,
	  XW_DROP_CONN_LIMIT },
	{ "v6 SYN at the connection cap", { 6, "2001:db8::20", .flags = SYN }, AT_CAP, 1,
	  XDP_DROP, XW_DROP_CONN_LIMIT },
	{ "v4 SYN under the cap", { 4, "192.0.2.21", .flags = SYN }, UNDER_CAP, 1, XDP_PASS,
	  XW_REASON_PASS },
	{ "ACK at the cap passes", { 4, "192.0.2.22", .flags = ACK }, AT_CAP, 1, XDP_PASS,
	  XW_REASON_PASS },
	/* the block list */
	{ "v4 blocked SYN", { 4, "192.0.2.30", .flags = SYN }, BLOCKED, 1, XDP_DROP,
	  XW_DROP_BLOCKED },
	{ "v4 blocked ACK", { 4, "192.0.2.31", .flags = ACK }, BLOCKED, 1, XDP_DROP,
	  XW_DROP_BLOCKED },
	{ "v6 blocked SYN", { 6, "2001:db8::30", .flags = SYN }, BLOCKED, 1, XDP_DROP,
	  XW_DROP_BLOCKED },
	{ "v6 blocked behind extension headers", { 6, "2001:db8::31", .flags = ACK, .v6_ext = 2 },
	  BLOCKED, 1, XDP_DROP, XW_DROP_BLOCKED },
	{ "v4 blocked in a VLAN", { 4, "192.0.2.32", .flags = SYN, .vlan = 1 }, BLOCKED, 1,
	  XDP_DROP, XW_DROP_BLOCKED },
	{ "blocked source to another port", { 4, "192.0.2.33", .dport = 22, .flags = SYN },
	  BLOCKED, 1, XDP_PASS, XW_REASON_PASS },
	{ "v4 expired block", { 4, "192.0.2.34", .flags = SYN }, EXPIRED, 1, XDP_PASS,
	  XW_REASON_PASS },
	{ "v6 expired block", { 6, "2001:db8::34", .flags = SYN }, EXPIRED, 1, XDP_PASS,
	  XW_REASON_PASS },
	/* exempt: loopback and the prefix the test exempts (198.51.100.0/24, fd00:e::/64) */
	{ "v4 loopback blocked in the map still passes", { 4, "127.0.0.9", .flags = SYN }, BLOCKED,
	  BURST + 2, XDP_PASS, XW_REASON_PASS },
	{ "v6 loopback at the cap passes", { 6, "::1", .flags = SYN }, AT_CAP, 1, XDP_PASS,
	  XW_REASON_PASS },
	{ "v4 exempt prefix blocked in the map passes", { 4, "198.51.100.7", .flags = SYN },
	  BLOCKED, BURST + 2, XDP_PASS, XW_REASON_PASS },
	{ "v4 exempt prefix blocked ACK passes", { 4, "198.51.100.8", .flags = ACK }, BLOCKED, 1,
	  XDP_PASS, XW_REASON_PASS },
	{ "v4 first fragment from an exempt prefix passes",
	  { 4, "198.51.100.9", .flags = SYN, .frag = FIRST }, NONE, 1, XDP_PASS, XW_REASON_PASS },
	{ "v6 exempt prefix passes", { 6, "fd00:e::5", .flags = SYN }, AT_CAP, 1, XDP_PASS,
	  XW_REASON_PASS },
	/* fragments */
	{ "v4 first TCP fragment to the port", { 4, "192.0.2.40", .flags = SYN, .frag = FIRST },
	  NONE, 1, XDP_DROP, XW_DROP_FRAGMENT },
	{ "v4 later TCP fragment", { 4, "192.0.2.41", .frag = LATER }, NONE, 1, XDP_DROP,
	  XW_DROP_FRAGMENT },
	{ "v4 first TCP fragment to another port",
	  { 4, "192.0.2.42", .dport = 22, .flags = SYN, .frag = FIRST }, NONE, 1, XDP_PASS,
	  XW_REASON_PASS },
	{ "v4 later UDP fragment", { 4, "192.0.2.43", .proto = 17, .frag = LATER }, NONE, 1,
	  XDP_PASS, XW_REASON_PASS },
	{ "v6 first TCP fragment to the port", { 6, "2001:db8::40", .flags = SYN, .frag = FIRST },
	  NONE, 1, XDP_DROP, XW_DROP_FRAGMENT },
	{ "v6 later TCP fragment", { 6, "2001:db8::41", .frag = LATER }, NONE, 1, XDP_DROP,
	  XW_DROP_FRAGMENT },
	{ "v4 later fragment from loopback", { 4, "127.0.0.2", .frag = LATER }, NONE, 1, XDP_PASS,
	  XW_REASON_PASS },
	/* not ours */
	{ "ARP", { 4, "192.0.2.50", .ethertype = 0x0806 }, NONE, 1, XDP_PASS, XW_REASON_PASS },
	{ "UDP to the port", { 4, "192.0.2.51", .proto = 17 }, BLOCKED, 1, XDP_PASS,
	  XW_REASON_PASS },
	{ "v6 UDP to the port", { 6, "2001:db8::51", .proto = 17 }, BLOCKED, 1, XDP_PASS,
	  XW_REASON_PASS },
	/* truncated or inconsistent at each layer */
	{ "VLAN tag cut", { 4, "192.0.2.60", .vlan = 1, .len = 16 }, NONE, 1, XDP_DROP,
	  XW_DROP_MALFORMED },
	{ "v4 header cut", { 4, "192.0.2.61", .flags = SYN, .len = 14 + 12 }, NONE, 1, XDP_DROP,
	  XW_DROP_MALFORMED },
	{ "v4 ihl below 5", { 4, "192.0.2.62", .flags = SYN, .ihl = 4 }, NONE, 1, XDP_DROP,
	  XW_DROP_MALFORMED },
	{ "v4 options beyond the packet", { 4, "192.0.2.63", .flags = SYN, .ihl = 15, .len = 60 },
	  NONE, 1, XDP_DROP, XW_DROP_MALFORMED },
	{ "v4 TCP header cut", { 4, "192.0.2.64", .flags = SYN, .len = 14 + 20 + 12 }, NONE, 1,
	  XDP_DROP, XW_DROP_MALFORMED },
	{ "v4 TCP doff below 5", { 4, "192.0.2.65", .flags = SYN, .doff = 4 }, NONE, 1, XDP_DROP,
	  XW_DROP_MALFORMED },
	{ "v4 TCP doff beyond the datagram", { 4, "192.0.2.66", .flags = SYN, .doff = 15 }, NONE,
	  1, XDP_DROP, XW_DROP_MALFORMED },
	{ "v6 header cut", { 6, "2001:db8::60", .flags = SYN, .len = 14 + 30 }, NONE, 1, XDP_DROP,
	  XW_DROP_MALFORMED },
	{ "v6 extension header cut", { 6, "2001:db8::61", .flags = SYN, .v6_ext = 1, .len = 55 },
	  NONE, 1, XDP_DROP, XW_DROP_MALFORMED },
	{ "three VLAN tags", { 4, "192.0.2.67", .flags = SYN, .vlan = 3 }, NONE, 1, XDP_DROP,
	  XW_DROP_MALFORMED },
	{ "v6 too many extension headers", { 6, "2001:db8::62", .flags = SYN, .v6_ext = 9 }, NONE,
	  1, XDP_DROP, XW_DROP_MALFORMED },
	{ "v6 TCP header cut", { 6, "2001:db8::63", .flags = SYN, .len = 14 + 40 + 10 }, NONE, 1,
	  XDP_DROP, XW_DROP_MALFORMED },
	{ "v6 fragment header cut", { 6, "2001:db8::64", .frag = FIRST, .len = 14 + 40 + 4 }, NONE,
	  1, XDP_DROP, XW_DROP_MALFORMED },
};

static int stats(uint64_t out[XW_DROP__MAX])
{
	return xw_guard_counters(g, out);
}

static void setup_row(const struct row *r)
{
	switch (r->setup) {
	case BLOCKED:
		CHECK(raw_block(r->pkt.src, 60000) == 0);
		break;
	case EXPIRED:
		CHECK(raw_block(r->pkt.src, -1000) == 0);
		break;
	case AT_CAP:
		CHECK(set_conns(r->pkt.src, MAX_CONNS) == 0);
		break;
	case UNDER_CAP:
		CHECK(set_conns(r->pkt.src, MAX_CONNS - 1) == 0);
		break;
	case NONE:
		break;
	}
}

static void test_fixture_table(void)
{
	uint8_t a[16];

	addr_of("198.51.100.0", a);
	ASSERT(xw_guard_exempt(g, a, 96 + 24) == 0);
	addr_of("fd00:e::", a);
	ASSERT(xw_guard_exempt(g, a, 64) == 0);
	for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		const struct row *r = &rows[i];
		uint64_t before[XW_DROP__MAX] = { 0 }, after[XW_DROP__MAX] = { 0 }, total = 0;
		__u32 action = 0;
		bool ok = true;

		/* Every row runs and reports, even after one failed. */
		setup_row(r);
		ok = stats(before) == 0;
		for (int n = 0; n < r->repeat && ok; n++) {
			ok = run(&r->pkt, &action) == 0;
			if (ok && n < r->repeat - 1 && action != XDP_PASS)
				ok = false;
		}
		ok = ok && stats(after) == 0;
		for (int k = 0; ok && k < XW_DROP__MAX; k++)
			total += after[k] - before[k];
		if (r->repeat == 1)
			ok = ok && after[r->reason] - before[r->reason] == 1;
		else
			ok = ok && after[r->reason] > before[r->reason];
		ok = ok && action == r->action && total == (uint64_t)r->repeat;
		if (!ok)
			fprintf(stderr, "  row '%s': action %u (want %u), %s +%llu, %llu counted\n",
				r->name, action, r->action, xw_drop_reason_name(r->reason),
				(unsigned long long)(after[r->reason] - before[r->reason]),
				(unsigned long long)total);
		CHECK(ok);
	}
}

/* A source past its bucket gets new tokens at syn_rate. */
static void test_bucket_refills(void)
{
	struct pkt p = { 4, "192.0.2.70", .flags = SYN };
	__u32 action;

	for (int i = 0; i < BURST; i++)
		ASSERT(run(&p, &action) == 0 && action == XDP_PASS);
	ASSERT(run(&p, &action) == 0 && action == XDP_DROP);
	usleep(1000000 / RATE + 20000);
	CHECK(run(&p, &action) == 0 && action == XDP_PASS);
	CHECK(run(&p, &action) == 0 && action == XDP_DROP);
}

/* The block API: blocks, refuses exempt addresses, unblocks; limits change in place. */
static void test_block_api(void)
{
	struct pkt p = { 6, "2001:db8::80", .flags = ACK };
	uint8_t a[16];
	__u32 action;

	addr_of("2001:db8::80", a);
	ASSERT(xw_guard_block_for(g, a, 60000) == 0);
	CHECK(run(&p, &action) == 0 && action == XDP_DROP);
	CHECK(xw_guard_unblock(g, a) == 0);
	CHECK(run(&p, &action) == 0 && action == XDP_PASS);
	CHECK(xw_guard_block(g, a, now_ns() - 1) == 0);
	CHECK(run(&p, &action) == 0 && action == XDP_PASS);
	addr_of("127.0.0.1", a);
	CHECK(xw_guard_block_for(g, a, 1000) == -EPERM);
	addr_of("198.51.100.9", a);
	CHECK(xw_guard_block_for(g, a, 1000) == -EPERM);

	/* No bucket and no cap once the limits are 0; back again after. */
	p = (struct pkt){ 4, "192.0.2.81", .flags = SYN };
	CHECK(set_conns("192.0.2.81", MAX_CONNS) == 0);
	CHECK(xw_guard_set_limits(g, 0, 0, 0) == 0);
	for (int i = 0; i < BURST + 3; i++)
		CHECK(run(&p, &action) == 0 && action == XDP_PASS);
	CHECK(xw_guard_set_limits(g, RATE, BURST, MAX_CONNS) == 0);
	CHECK(run(&p, &action) == 0 && action == XDP_DROP);
}

static void test_addr_parse(void)
{
	uint8_t a[16], b[16];

	CHECK(xw_guard_addr_parse("10.1.2.3", a) == 0 && a[10] == 0xff && a[11] == 0xff &&
	      a[12] == 10 && a[15] == 3);
	CHECK(xw_guard_addr_parse("::ffff:10.1.2.3", b) == 0 && !memcmp(a, b, 16));
	CHECK(xw_guard_addr_from_peer("10.1.2.3:8080", b) == 0 && !memcmp(a, b, 16));
	CHECK(xw_guard_addr_from_peer("fd00::1:8080", a) == 0);
	CHECK(xw_guard_addr_parse("fd00::1", b) == 0 && !memcmp(a, b, 16));
	CHECK(xw_guard_addr_from_peer("[fd00::1]:80", a) == 0 && !memcmp(a, b, 16));
	CHECK(xw_guard_addr_parse("[fd00::1]", a) == 0 && !memcmp(a, b, 16));
	CHECK(xw_guard_addr_parse("not-an-address", a) == -EINVAL);
	CHECK(xw_guard_addr_from_peer("10.1.2.3", a) == -EINVAL);
}

static void test_prefix_and_env(void)
{
	struct xw_guard_config cfg;
	unsigned plen;
	uint8_t a[16];

	CHECK(xw_guard_prefix_parse("10.1.0.0/16", a, &plen) == 0 && plen == 112 && a[12] == 10);
	CHECK(xw_guard_prefix_parse("fd00::/8", a, &plen) == 0 && plen == 8 && a[0] == 0xfd);
	CHECK(xw_guard_prefix_parse("192.0.2.7", a, &plen) == 0 && plen == 128);
	CHECK(xw_guard_prefix_parse("10.0.0.0/33", a, &plen) == -EINVAL);
	CHECK(xw_guard_prefix_parse("10.0.0.0/", a, &plen) == -EINVAL);

	unsetenv("XWHISK_XDP_IFACE");
	CHECK(xw_guard_config_from_env(&cfg, 3233, NULL) == -ENOENT);
	setenv("XWHISK_XDP_IFACE", "eth9", 1);
	setenv("XWHISK_XDP_MODE", "generic", 1);
	setenv("XWHISK_GUARD_MAX_CONNS", "7", 1);
	setenv("XWHISK_GUARD_EXEMPT", "10.0.0.0/8", 1);
	CHECK(xw_guard_config_from_env(&cfg, 3233, "/x") == 0);
	CHECK(test_streq(cfg.ifname, "eth9") && cfg.port == 3233 && test_streq(cfg.pin_dir, "/x"));
	CHECK(cfg.mode == XW_GUARD_MODE_GENERIC && cfg.max_conns == 7 && cfg.syn_rate == 200 &&
	      cfg.syn_burst == 400 && cfg.block_ms == 10000 && !cfg.cgroup && !cfg.flags);
	CHECK(test_streq(cfg.exempt, "10.0.0.0/8"));
	setenv("XWHISK_GUARD_SYN_RATE", "lots", 1);
	CHECK(xw_guard_config_from_env(&cfg, 3233, NULL) == -EINVAL);
	setenv("XWHISK_GUARD_SYN_RATE", "5", 1);
	setenv("XWHISK_XDP_MODE", "turbo", 1);
	CHECK(xw_guard_config_from_env(&cfg, 3233, NULL) == -EINVAL);
	unsetenv("XWHISK_XDP_IFACE");
	unsetenv("XWHISK_XDP_MODE");
	unsetenv("XWHISK_GUARD_MAX_CONNS");
	unsetenv("XWHISK_GUARD_EXEMPT");
	unsetenv("XWHISK_GUARD_SYN_RATE");
}

/* Fragments pass when the node says so; port 0 turns the guard off. */
static void test_config_knobs(void)
{
	struct pkt frag = { 4, "192.0.2.90", .frag = LATER };
	struct pkt blocked = { 4, "192.0.2.91", .flags = SYN };
	__u32 action;

	CHECK(raw_block("192.0.2.91", 60000) == 0);
	CHECK(set_cfg(PORT, XW_GUARD_F_PASS_FRAGMENTS) == 0);
	CHECK(run(&frag, &action) == 0 && action == XDP_PASS);
	CHECK(set_cfg(0, 0) == 0);
	CHECK(run(&blocked, &action) == 0 && action == XDP_PASS);
	CHECK(set_cfg(PORT, 0) == 0);
	CHECK(run(&frag, &action) == 0 && action == XDP_DROP);
	CHECK(run(&blocked, &action) == 0 && action == XDP_DROP);
}

/* Keys read as addresses, values and verdicts by name. */
static void test_bpftool_dump(void)
{
	char cmd[300];
	const char *out;

	snprintf(cmd, sizeof(cmd), "bpftool map dump pinned %s/guard 2>&1 | head -c 60000",
		 pin_dir);
	out = test_run_cmd(cmd);
	ASSERT(out);
	if (getenv("XW_TEST_SHOW"))
		fputs(out, stderr);
	CHECK(strstr(out, "\"blocked_until_ns\"") != NULL);
	/* 192.0.2.30 as ::ffff:c000:21e: the address's own bytes */
	CHECK(strstr(out, "0xff,0xff,0xc0,0x00,0x02,0x1e") != NULL ||
	      strstr(out, "0xff,0xff,0xc0,0,0x02,0x1e") != NULL ||
	      strstr(out, "255,255,192,0,2,30") != NULL);
	snprintf(cmd, sizeof(cmd), "bpftool map dump pinned %s/guard_stats 2>&1 | head -c 60000",
		 pin_dir);
	out = test_run_cmd(cmd);
	CHECK(out && strstr(out, "\"packets\"") != NULL);
	snprintf(cmd, sizeof(cmd), "bpftool map dump pinned %s/guard_cfg 2>&1", pin_dir);
	out = test_run_cmd(cmd);
	CHECK(out && strstr(out, "\"max_conns\": 4") != NULL);
}

/* A guard map pinned by an older build (a __u32 key) is replaced, not refused; the routing
 * maps beside it are re-adopted with their state. */
static void test_incompatible_pin_replaced(void)
{
	char dir[160], path[200];
	struct xw_maps *m = NULL;
	struct xw_guard *h = NULL;
	int fd;

	snprintf(dir, sizeof(dir), "%s-old", pin_dir);
	ASSERT(xw_pin_dir_prepare(dir) == 0);
	fd = bpf_map_create(BPF_MAP_TYPE_LRU_HASH, "guard", 4, 32, 1024, NULL);
	ASSERT(fd >= 0);
	snprintf(path, sizeof(path), "%s/guard", dir);
	CHECK(bpf_obj_pin(fd, path) == 0);
	close(fd);
	CHECK(xw_maps_open(dir, &m) == 0);
	xw_maps_close(m);
	CHECK(xw_guard_open(dir, &h) == 0);
	if (h) {
		uint8_t a[16];

		addr_of("192.0.2.99", a);
		CHECK(xw_guard_block_for(h, a, 1000) == 0);
	}
	xw_guard_close(h);
	(void)xw_guard_detach(NULL, dir);
	(void)xw_maps_unpin(dir);
}

/* ---- the loader on a real interface: lo of a private network namespace ---- */

static char cg_dir[256], cg_home[512];

static int write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC), n;

	if (fd < 0)
		return -errno;
	n = (int)write(fd, text, strlen(text));
	close(fd);
	return n < 0 ? -errno : 0;
}

static int join_cgroup(const char *dir)
{
	char path[600], pid[32];

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pid, sizeof(pid), "%d", getpid());
	return write_file(path, pid);
}

/* The cgroup2 mount and this process's place in it. */
static int find_cgroup(void)
{
	const char *out = test_run_cmd("findmnt -n -t cgroup2 -o TARGET | head -1; "
			    "sed -n 's/^0:://p' /proc/self/cgroup");
	char mnt[256], rel[256];

	if (!out || sscanf(out, "%255s %255s", mnt, rel) != 2)
		return -ENOENT;
	snprintf(cg_home, sizeof(cg_home), "%s%s", mnt, strcmp(rel, "/") ? rel : "");
	snprintf(cg_dir, sizeof(cg_dir), "%s/xwhisk-test-guard-%d", mnt, getpid());
	return mkdir(cg_dir, 0755) < 0 && errno != EEXIST ? -errno : 0;
}

static int lo_up(void)
{
	struct ifreq ifr = { 0 };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

	if (fd < 0)
		return -errno;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (ioctl(fd, SIOCGIFFLAGS, &ifr) < 0)
		err = -errno;
	ifr.ifr_flags |= IFF_UP;
	if (!err && ioctl(fd, SIOCSIFFLAGS, &ifr) < 0)
		err = -errno;
	close(fd);
	return err;
}

static int count_guards(const char *ifname)
{
	struct xdp_multiprog *mp = xdp_multiprog__get_from_ifindex((int)if_nametoindex(ifname));
	struct xdp_program *p;
	int n = 0;

	if (libxdp_get_error(mp))
		return 0;
	if (xdp_multiprog__is_legacy(mp)) {
		p = xdp_multiprog__main_prog(mp);
		n = p && !strcmp(xdp_program__name(p), "xdp_guard");
	} else {
		for (p = xdp_multiprog__next_prog(NULL, mp); p; p = xdp_multiprog__next_prog(p, mp))
			n += !strcmp(xdp_program__name(p), "xdp_guard");
	}
	xdp_multiprog__close(mp);
	return n;
}

static int wait_conns(struct xw_guard *h, const uint8_t a[16], int32_t want)
{
	int32_t open = -1;

	for (int i = 0; i < 200; i++) {
		if (xw_guard_open_conns(h, a, &open) == 0 && open == want)
			return 0;
		usleep(10000);
	}
	fprintf(stderr, "  open connections %d, want %d\n", open, want);
	return -ETIMEDOUT;
}

#define LPORT 3234

/* attach, re-adopt (one guard, not two), count connections exactly, detach. */
static void test_attach_lifecycle(void)
{
	char dir[160], dir2[170], path[300];
	struct xw_guard_config cfg = {
		.ifname = "lo", .port = LPORT, .mode = XW_GUARD_MODE_GENERIC, .syn_rate = 100,
		.syn_burst = 100, .max_conns = 2, .pin_dir = dir, .cgroup = cg_dir,
		.exempt = "198.18.0.0/15, fd00:18::/32",
	};
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(LPORT) };
	struct xw_guard *h = NULL, *h2 = NULL;
	uint64_t c[XW_DROP__MAX];
	int lfd = -1, cli[2] = { -1, -1 }, srv[2] = { -1, -1 }, one = 1;
	uint8_t lo4[16], a[16];

	snprintf(dir, sizeof(dir), "%s-attach", pin_dir);
	addr_of("127.0.0.1", lo4);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT(unshare(CLONE_NEWNET) == 0);
	ASSERT(lo_up() == 0);
	ASSERT(find_cgroup() == 0);

	ASSERT(xw_guard_attach(&cfg, &h) == 0);
	CHECK(test_streq(xw_guard_mode_name(h), "generic"));
	addr_of("198.19.1.1", a);
	CHECK(xw_guard_block_for(h, a, 1000) == -EPERM); /* exempt by cfg.exempt */
	addr_of("fd00:18::9", a);
	CHECK(xw_guard_block_for(h, a, 1000) == -EPERM);
	addr_of("198.20.0.1", a);
	CHECK(xw_guard_block_for(h, a, 1000) == 0);
	CHECK(count_guards("lo") == 1);
	snprintf(path, sizeof(path), "%s/sockops_conns_link", dir);
	CHECK(access(path, F_OK) == 0);
	/* A restart: the same guard is re-adopted, not attached twice. */
	CHECK(xw_guard_attach(&cfg, &h2) == 0);
	CHECK(count_guards("lo") == 1);
	xw_guard_close(h2);

	/* The listener is made inside the counted cgroup; connections to it are counted. */
	ASSERT(join_cgroup(cg_dir) == 0);
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	(void)join_cgroup(cg_home);
	ASSERT(lfd >= 0);
	(void)setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	ASSERT(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)) == 0 && listen(lfd, 16) == 0);
	for (int i = 0; i < 2; i++) {
		cli[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		CHECK(connect(cli[i], (struct sockaddr *)&sa, sizeof(sa)) == 0);
		srv[i] = accept(lfd, NULL, NULL);
		CHECK(srv[i] >= 0);
	}
	CHECK(wait_conns(h, lo4, 2) == 0);
	close(srv[0]);
	close(cli[0]);
	CHECK(wait_conns(h, lo4, 1) == 0);
	close(cli[1]);
	close(srv[1]);
	CHECK(wait_conns(h, lo4, 0) == 0);
	close(lfd);

	/* Loopback traffic went through xdp_guard (and passed: loopback is exempt). */
	CHECK(xw_guard_counters(h, c) == 0 && c[XW_REASON_PASS] > 0);
	CHECK(c[XW_DROP_CONN_LIMIT] == 0 && c[XW_DROP_SYN_RATE] == 0);

	/* Another build or other maps (here: another pin dir): replaced, still one guard. */
	snprintf(dir2, sizeof(dir2), "%s-attach2", pin_dir);
	cfg.pin_dir = dir2;
	CHECK(xw_guard_attach(&cfg, &h2) == 0);
	CHECK(count_guards("lo") == 1);
	xw_guard_close(h2);
	CHECK(xw_guard_detach("lo", dir2) == 0);
	(void)xw_maps_unpin(dir2);

	CHECK(xw_guard_detach("lo", dir) == 0);
	CHECK(count_guards("lo") == 0);
	CHECK(access(path, F_OK) < 0);
	xw_guard_close(h);
	h = NULL;

	/* auto on lo (no native XDP): native is refused, generic follows. */
	cfg.pin_dir = dir;
	cfg.mode = XW_GUARD_MODE_AUTO;
	cfg.cgroup = "";
	CHECK(xw_guard_attach(&cfg, &h) == 0);
	CHECK(test_streq(xw_guard_mode_name(h), "generic"));
	CHECK(count_guards("lo") == 1);
	CHECK(xw_guard_detach("lo", dir) == 0);
	CHECK(count_guards("lo") == 0);
	xw_guard_close(h);
	(void)xw_maps_unpin(dir);
}

static void cleanup(void)
{
	xw_guard_close(g);
	g = NULL;
	xwhisk_xdp_guard__destroy(skel);
	skel = NULL;
	(void)xw_guard_detach(NULL, pin_dir);
	(void)xw_maps_unpin(pin_dir);
	if (cg_dir[0])
		(void)rmdir(cg_dir);
}

static int setup(void)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts);
	int err;

	err = xw_pin_dir_prepare(pin_dir);
	if (err)
		return err;
	opts.pin_root_path = pin_dir;
	skel = xwhisk_xdp_guard__open_opts(&opts);
	if (!skel)
		return -errno;
	err = xwhisk_xdp_guard__load(skel);
	if (err)
		return err;
	prog_fd = bpf_program__fd(skel->progs.xdp_guard);
	err = set_cfg(PORT, 0);
	if (err)
		return -errno;
	return xw_guard_open(pin_dir, &g);
}

int main(void)
{
	int err;

	if (geteuid() != 0) {
		printf("not ok - the BPF tests need root\n");
		return 1;
	}
	xw_bpf_setup_logging();
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/xwhisk-test-guard-%d", getpid());
	err = setup();
	if (err) {
		printf("not ok - setup: cannot load xdp_guard: %s\n", strerror(-err));
		cleanup();
		return 1;
	}
	RUN(test_fixture_table);
	RUN(test_bucket_refills);
	RUN(test_block_api);
	RUN(test_config_knobs);
	RUN(test_addr_parse);
	RUN(test_prefix_and_env);
	RUN(test_bpftool_dump);
	RUN(test_incompatible_pin_replaced);
	RUN(test_attach_lifecycle); /* last: it moves the process into its own netns */
	cleanup();
	TEST_EXIT();
}
