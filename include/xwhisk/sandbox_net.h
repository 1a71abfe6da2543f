/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sandbox_tc's maps: what the program on each sandbox's host-side veth and userspace
 * (userspace/bpfload/sandbox_net.c) share. Fixed-width types, explicit padding, size
 * asserts; addresses are byte arrays (network order) so `bpftool map dump` prints them as
 * [169,254,32,7] rather than one integer. Ports are in host order.
 *
 * A sandbox may send: ARP from its own address; replies of its runtime server (TCP from
 * server_port, ACK or RST set, not a bare SYN), of a streaming web action's server (the
 * same from server_port + XW_SANDBOX_STREAM_PORT_OFFSET, 8081) and of a language loop
 * serving /run itself (from server_port + XW_SANDBOX_RUN_PORT_OFFSET, 8082); TCP to
 * gateway:ingress_port (the node's API ingress, what __OW_API_HOST points at); what the allow trie lets through (DNS,
 * networks the operator allows); and, with egress on, anything to an address that is
 * neither the node's nor a sandbox's. Everything else is dropped with a reason from
 * enum xw_drop_reason (xwhisk/verdict.h), counted per CPU in sandbox_verdict and per
 * sandbox in its sandbox_ifaces entry.
 */
#ifndef XWHISK_SANDBOX_NET_H
#define XWHISK_SANDBOX_NET_H

#ifndef __VMLINUX_H__
#include <linux/types.h>
#endif

/* A streaming web action's HTTP server listens on the runtime server's port + 1. */
#define XW_SANDBOX_STREAM_PORT_OFFSET 1
/* A language loop that answers /run itself, without xwhisk-proxy on the way (the Node.js
 * loop; docs/SANDBOXES.md, "Runs straight to the loop"), listens on the runtime server's
 * port + 2 and says so in its /init answer's XW_RUN_PORT_HEADER. */
#define XW_SANDBOX_RUN_PORT_OFFSET 2
#define XW_RUN_PORT_HEADER "X-Xwhisk-Run-Port"

#include "xwhisk/verdict.h"

/* Map names (at most 15 characters). */
#define XW_MAP_SANDBOX_IFACES "sandbox_ifaces"
#define XW_MAP_SANDBOX_POLICY "sandbox_policy"
#define XW_MAP_SANDBOX_ALLOW "sandbox_allow"
#define XW_MAP_SANDBOX_HOSTS "sandbox_hosts"
#define XW_MAP_SANDBOX_VERDICT "sandbox_verdict"
/* Pinned tcx links, one per veth: <pin dir>/XW_SANDBOX_LINK_DIR/<veth>. */
#define XW_SANDBOX_LINK_DIR "sandbox_links"

#define XW_SANDBOX_IFACES_MAX 8192
#define XW_SANDBOX_ALLOW_MAX 1024
#define XW_SANDBOX_HOSTS_MAX 256
/* Counter slots per verdict: room for reasons added later without re-creating pinned maps. */
#define XW_SANDBOX_VERDICTS 32

/* sandbox_ifaces: the host-side veth's ifindex -> the sandbox behind it. */
struct xw_sandbox_iface {
	char sandbox[16];  /* its id, for people reading bpftool */
	__u8 addr[4];      /* its IPv4 address: anything else it sends is a spoof */
	__u32 flags;       /* none yet */
	__u64 verdicts[XW_SANDBOX_VERDICTS]; /* packets per verdict: [0] passed, [reason] dropped */
};

/* sandbox_policy: one entry (key 0), the node's policy. All zero is the strictest. */
struct xw_sandbox_policy {
	__u8 gateway[4];    /* the bridge address: the node as its sandboxes see it */
	__u8 subnet[4];     /* the sandboxes' subnet */
	__u16 ingress_port; /* TCP port of the node's API ingress on the gateway; 0: none */
	__u16 server_port;  /* the sandboxes' runtime server (8080): its replies pass */
	__u8 prefix;        /* the subnet's prefix length */
	__u8 egress;        /* 1: sandboxes may reach addresses beyond the node */
	__u8 pad[2];
};

/*
 * sandbox_allow: an LPM trie of destinations the operator allows. The data compared is
 * port then address; every entry is exact on its port (prefixlen = 16 + the CIDR's
 * length), and port 0 means every port and protocol. The program looks up
 * (destination port, address), then (0, address). TCP and UDP only, except port 0 entries.
 */
struct xw_sandbox_allow_key {
	__u32 prefixlen;
	__u16 port;
	__u8 addr[4];
	__u8 pad[2];
};

struct xw_sandbox_allow {
	__u64 packets; /* let through by this entry */
};

/* sandbox_hosts: the node's own IPv4 addresses (filled by userspace) -> packets refused. */
struct xw_sandbox_host_key {
	__u8 addr[4];
};

#ifdef __cplusplus
#define XW_SANDBOX_STATIC_ASSERT static_assert
#else
#define XW_SANDBOX_STATIC_ASSERT _Static_assert
#endif
XW_SANDBOX_STATIC_ASSERT(sizeof(struct xw_sandbox_iface) == 24 + 8 * XW_SANDBOX_VERDICTS,
			 "xw_sandbox_iface layout");
XW_SANDBOX_STATIC_ASSERT(sizeof(struct xw_sandbox_policy) == 16, "xw_sandbox_policy layout");
XW_SANDBOX_STATIC_ASSERT(sizeof(struct xw_sandbox_allow_key) == 12, "xw_sandbox_allow_key");
XW_SANDBOX_STATIC_ASSERT(sizeof(struct xw_sandbox_allow) == 8, "xw_sandbox_allow layout");
XW_SANDBOX_STATIC_ASSERT(sizeof(struct xw_sandbox_host_key) == 4, "xw_sandbox_host_key");
XW_SANDBOX_STATIC_ASSERT(XW_DROP__MAX <= XW_SANDBOX_VERDICTS, "a counter per verdict");

#endif
