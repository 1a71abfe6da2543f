/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A minimal rtnetlink client for the sandbox network: one bridge, a veth pair per
 * sandbox, an address and a default route inside each sandbox.
 *
 * Everything works on stack buffers and plain syscalls (no malloc, no stdio), because
 * the sandbox child runs it between clone() and exec(), where a multi-threaded parent
 * may have left allocator locks held. A socket talks to the network namespace it was
 * created in, whatever namespace its user later moves to.
 */
#ifndef XWHISK_SANDBOX_RTNL_H
#define XWHISK_SANDBOX_RTNL_H

#include <netinet/in.h>
#include <stdint.h>

struct rtnl {
	int fd;
	uint32_t seq;
};

/* Opens a socket in the caller's current network namespace (close-on-exec). */
int rtnl_open(struct rtnl *nl);
void rtnl_close(struct rtnl *nl);

/* Creates the bridge if missing, gives it gw/prefix, brings it up; returns its ifindex. */
int rtnl_bridge_ensure(struct rtnl *nl, const char *name, in_addr_t gw, int prefix);
/*
 * Creates host_name (up, enslaved to master) and its peer peer_name (down, with address
 * peer_mac) inside the network namespace peer_netns_fd refers to.
 */
int rtnl_veth_create(struct rtnl *nl, const char *host_name, int master, const char *peer_name,
		     const unsigned char peer_mac[6], int peer_netns_fd);
/* Keeps a bridge port from talking to other isolated ports (sandbox to sandbox). */
int rtnl_bridge_port_isolate(struct rtnl *nl, int ifindex);
int rtnl_link_up(struct rtnl *nl, int ifindex);
/* The ifindex of name, or -ENODEV. */
int rtnl_link_index(struct rtnl *nl, const char *name);
/* Deletes a link (a veth takes its peer along); -ENODEV when it does not exist. */
int rtnl_link_del(struct rtnl *nl, const char *name);
int rtnl_addr_add(struct rtnl *nl, int ifindex, in_addr_t addr, int prefix);
int rtnl_route_default(struct rtnl *nl, int ifindex, in_addr_t gw);
/* A route to dst/prefix via gw (network order; -EEXIST when one to dst/prefix exists),
 * and the removal of one of protocol's (gw 0: whatever its gateway; -ESRCH when none);
 * protocol marks whose it is (ip route ... proto N). */
int rtnl_route_add(struct rtnl *nl, in_addr_t dst, int prefix, in_addr_t gw,
		   unsigned char protocol);
int rtnl_route_del(struct rtnl *nl, in_addr_t dst, int prefix, in_addr_t gw,
		   unsigned char protocol);

#endif
