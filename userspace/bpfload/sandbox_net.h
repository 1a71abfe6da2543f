/* SPDX-License-Identifier: Apache-2.0 */
/*
 * sandbox_tc from userspace: loads the program with its maps (pinned by name in the node's
 * pin directory and re-adopted after a restart), writes the node's policy, and attaches
 * the program to each sandbox's host-side veth, ingress direction (what the sandbox
 * sends). See xwhisk/sandbox_net.h for the policy and docs/SANDBOXES.md ("Network policy").
 *
 * Attaching: with tcx (kernel 6.6 and later) the link is pinned at
 * <pin_dir>/sandbox_links/<veth>, so it outlives the node process: an adopted sandbox keeps
 * its program across a restart, and attaching it again swaps the link's program for the
 * newly loaded one instead of adding a second. Without tcx, a clsact filter (which lives on
 * the device) is attached or replaced; XWHISK_SANDBOX_TC_CLSACT (set to anything) forces
 * that fallback.
 *
 * Degrading: sandbox_net_open() fails (negative errno) on a kernel without BPF, bpffs or the
 * map types; an attach can fail too. The caller then runs the sandbox without the policy:
 * the sandbox manager logs it once and counts such sandboxes in sandbox_stats.net_unfiltered.
 * Like the rest of bpfload, these functions log at debug level only; the caller logs.
 */
#ifndef XWHISK_BPFLOAD_SANDBOX_NET_H
#define XWHISK_BPFLOAD_SANDBOX_NET_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

#include "xwhisk/sandbox_net.h"

struct sandbox_net_policy {
	in_addr_t gateway;     /* the bridge address, network order */
	in_addr_t subnet;      /* the sandboxes' subnet, network order */
	int prefix;
	uint16_t ingress_port; /* TCP port of the node's API ingress on the gateway; 0: none */
	uint16_t server_port;  /* the sandboxes' runtime server; its replies pass (8080) */
	bool egress;           /* sandboxes may reach addresses beyond the node */
	/* More destinations, "CIDR[:port],..." (a bare address is a /32; no port: every port
	 * and protocol; with a port: TCP and UDP to it). */
	const char *allow;
	const char *dns;       /* DNS servers "addr,...": UDP and TCP port 53 */
};

enum sandbox_net_mode {
	SANDBOX_NET_TCX,    /* tcx links, pinned */
	SANDBOX_NET_CLSACT, /* clsact filters, on kernels without tcx */
};

struct sandbox_net;

/*
 * Loads sandbox_tc, creates or re-adopts its maps in pin_dir (created if missing; it must
 * be on a bpf file system), writes pol (replacing an earlier node's) and the node's
 * addresses. Returns 0, or a negative errno with *out untouched; *bad then points into
 * pol->allow or pol->dns at the entry that did not parse (-EINVAL), if bad is not NULL.
 */
int sandbox_net_open(const char *pin_dir, const struct sandbox_net_policy *pol,
		     struct sandbox_net **out, const char **bad);
/* Closes the handle; attached programs stay (their links are pinned). Accepts NULL. */
void sandbox_net_close(struct sandbox_net *net);
enum sandbox_net_mode sandbox_net_mode(const struct sandbox_net *net);
const char *sandbox_net_mode_name(enum sandbox_net_mode mode);

/*
 * Filters what the sandbox id, at addr (network order), sends through its host-side veth
 * (ifindex, named veth). Attaching again (a re-adopted sandbox) keeps one program and its
 * counters. Returns 0 or a negative errno.
 */
int sandbox_net_attach(struct sandbox_net *net, int ifindex, const char *veth, const char *id,
		       in_addr_t addr);
/* Removes the program and the sandbox's entry; a veth already gone is no error. */
int sandbox_net_detach(struct sandbox_net *net, int ifindex, const char *veth, const char *id);

/*
 * Removes the entries and pinned links of sandboxes that are gone (a node that died while
 * starting one leaves them): keep(id, NULL, data) for each entry, keep(NULL, veth, data)
 * for each pinned link; false removes it.
 */
void sandbox_net_prune(struct sandbox_net *net,
		       bool (*keep)(const char *id, const char *veth, void *data), void *data);

/* Re-reads the node's own addresses (sandboxes may not reach them); rate limited to one
 * read a second unless force. */
int sandbox_net_refresh_hosts(struct sandbox_net *net, bool force);

/* Packets per verdict summed over CPUs and sandboxes, present and past (counters for
 * /metrics: out[XW_REASON_PASS] passed, out[reason] dropped), read from the pinned map. */
int sandbox_net_drops(const char *pin_dir, uint64_t out[XW_DROP__MAX]);
/* One sandbox's packets per verdict, from its entry. */
int sandbox_net_iface_drops(const struct sandbox_net *net, int ifindex,
			    uint64_t out[XW_DROP__MAX]);
/* Removes sandbox_tc's pins (maps and links) from pin_dir, as xw_maps_unpin() does for the
 * routing maps. */
int sandbox_net_unpin(const char *pin_dir);

/* For tests: the loaded program (bpf_prog_test_run_opts) and the iface map. */
int sandbox_net_prog_fd(const struct sandbox_net *net);
int sandbox_net_ifaces_fd(const struct sandbox_net *net);

#endif
