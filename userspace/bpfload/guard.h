/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The ingress guard: xdp_guard on the ingress interface (through libxdp, which keeps other
 * XDP programs running beside it when its dispatcher works on the kernel; see docs/EBPF.md)
 * and sockops_conns on a cgroup v2 (exact count of each client's open connections). Both stay attached when the process exits or restarts: the
 * next xw_guard_attach() re-adopts them (same code, same pinned maps) or replaces them in
 * place (an upgrade), never attaches a second copy. Maps are pinned under the pin dir
 * beside the node's other maps; see docs/EBPF.md.
 *
 * What the node does (the functions are safe to call from any thread once attached):
 *   start:    xw_guard_config_from_env(&cfg, port, pin_dir): -ENOENT, no guard; else
 *             xw_guard_attach(&cfg, &g); on error log nothing more (one line was logged),
 *             keep serving without the guard and export xwhisk_guard_attached 0 (else 1,
 *             with xw_guard_mode_name(g) as a label).
 *   router:   xw_guard_block_for(g, addr, cfg.block_ms) for a client that keeps sending
 *             after 429s or failed authentication, e.g. its 50th such answer within a second
 *             (the counting is the router's; xw_guard_addr_from_peer() reads
 *             http_request.peer). -EPERM means the address is exempt: nothing to do.
 *   /metrics: xw_guard_counters(g, c); c[r] for r in 0..XW_DROP__MAX-1 as
 *             xwhisk_guard_drops_total{reason="<xw_drop_reason_name(r)>"} (r = 0 is
 *             "pass": export it as xwhisk_guard_passed_total).
 *   stop:     xw_guard_close(g) (the programs stay attached for the next start);
 *             xw_guard_detach() only to remove the guard for good.
 * Every function returns 0 or a negative errno; they log at debug level except
 * xw_guard_attach() (one line: info, a warning when auto fell back to generic, an error on
 * failure) and xw_guard_config_from_env() (one error line for a bad value).
 */
#ifndef XWHISK_BPFLOAD_GUARD_H
#define XWHISK_BPFLOAD_GUARD_H

#include <stdbool.h>
#include <stdint.h>

#include "xwhisk/guard.h"
#include "xwhisk/verdict.h"

enum xw_guard_mode {
	XW_GUARD_MODE_AUTO = 0, /* native, else generic (with one log line saying so) */
	XW_GUARD_MODE_NATIVE,   /* driver XDP: a NIC that supports it (a DaemonSet's node) */
	XW_GUARD_MODE_GENERIC,  /* skb XDP: any device, lo included (make run) */
};

struct xw_guard_config {
	const char *ifname;     /* required: the ingress interface (XWHISK_XDP_IFACE) */
	uint16_t port;          /* required: the ingress TCP port, host byte order */
	enum xw_guard_mode mode;
	uint32_t syn_rate;      /* new connections per second per source; 0: unlimited */
	uint32_t syn_burst;     /* bucket depth; 0: syn_rate */
	uint32_t max_conns;     /* open connections per source; 0: no cap */
	uint32_t flags;         /* XW_GUARD_F_* of include/xwhisk/guard.h */
	const char *pin_dir;    /* NULL: XW_PIN_DIR */
	/* The cgroup v2 whose sockets sockops_conns counts (a directory under the cgroup2
	 * mount). NULL: this process's own cgroup. "": no sockops, so no connection cap. */
	const char *cgroup;
	/* Prefixes never limited, comma-separated ("10.1.0.0/16,fd00::/8"); NULL: none. */
	const char *exempt;
	/* Not used by the attach: how long the router blocks a source (xw_guard_block_for). */
	uint32_t block_ms;
};

/*
 * The configuration from the environment (docs/EBPF.md): XWHISK_XDP_IFACE, XWHISK_XDP_MODE,
 * XWHISK_GUARD_SYN_RATE, _SYN_BURST, _MAX_CONNS, _CGROUP, _EXEMPT, _BLOCK_MS,
 * _PASS_FRAGMENTS, with the defaults documented there. port and pin_dir are the caller's
 * (the port of XWHISK_NODE_LISTEN, XWHISK_PIN_DIR). Returns -ENOENT when XWHISK_XDP_IFACE
 * is unset (no guard wanted), -EINVAL (after one log line) for a value that does not parse.
 * The strings point into the environment.
 */
int xw_guard_config_from_env(struct xw_guard_config *cfg, uint16_t port, const char *pin_dir);

struct xw_guard;

/*
 * Attaches (or re-adopts) xdp_guard on cfg->ifname and sockops_conns on the cgroup, fills
 * the limits and exempts loopback and every address this host has. Returns -ENODEV for an
 * unknown interface, -EPERM/-EOPNOTSUPP/... when XDP cannot be attached (the caller keeps
 * serving), -EINVAL for a bad config.
 */
int xw_guard_attach(const struct xw_guard_config *cfg, struct xw_guard **out);
/* A handle on the pinned maps alone (no attach): for another process (a CLI, a test). */
int xw_guard_open(const char *pin_dir, struct xw_guard **out);
/* Frees the handle; the programs and pins stay. Accepts NULL. */
void xw_guard_close(struct xw_guard *g);
/* Detaches xdp_guard from ifname and sockops_conns, and removes the guard's pins. */
int xw_guard_detach(const char *ifname, const char *pin_dir);

/* The mode xdp_guard runs in ("native", "generic"), or "none" for an xw_guard_open handle. */
const char *xw_guard_mode_name(const struct xw_guard *g);

/* Changes the limits without reloading (the program reads them on every packet). */
int xw_guard_set_limits(struct xw_guard *g, uint32_t syn_rate, uint32_t syn_burst,
			uint32_t max_conns);

/* Drops every packet of addr to the ingress port until until_ns (CLOCK_MONOTONIC). A
 * loopback or exempt address is never blocked: -EPERM. */
int xw_guard_block(struct xw_guard *g, const uint8_t addr[16], uint64_t until_ns);
/* xw_guard_block() until now + ms. */
int xw_guard_block_for(struct xw_guard *g, const uint8_t addr[16], uint32_t ms);
int xw_guard_unblock(struct xw_guard *g, const uint8_t addr[16]);
/* Never limited nor blocked: addr/prefix_len (IPv4: v4-mapped, so a /24 is 96 + 24). */
int xw_guard_exempt(struct xw_guard *g, const uint8_t addr[16], unsigned prefix_len);
/* "10.1.0.0/16", "fd00::/8" or a plain address (a /32 or /128) into addr and prefix_len. */
int xw_guard_prefix_parse(const char *text, uint8_t addr[16], unsigned *prefix_len);

/* Packets per verdict since the maps were made, summed over CPUs: out[XW_REASON_PASS] passed,
 * out[reason] dropped for that enum xw_drop_reason. */
int xw_guard_counters(struct xw_guard *g, uint64_t out[XW_DROP__MAX]);
/* The connections sockops_conns counts open for addr now. */
int xw_guard_open_conns(struct xw_guard *g, const uint8_t addr[16], int32_t *open);

/* An address ("10.0.0.1", "fd00::1", "[fd00::1]") into a guard address (IPv4 v4-mapped). */
int xw_guard_addr_parse(const char *text, uint8_t addr[16]);
/* http_request.peer ("10.0.0.1:5000", "fd00::1:5000", "[fd00::1]:5000"): the text before
 * the last ':' is the address. */
int xw_guard_addr_from_peer(const char *peer, uint8_t addr[16]);
struct sockaddr;
int xw_guard_addr_from_sockaddr(const struct sockaddr *sa, uint8_t addr[16]);

#endif
