/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Sandbox addresses from one IPv4 subnet: the first host address is the bridge's
 * (the gateway), the rest go to sandboxes. Allocation rotates through the range so a
 * freed address is not handed out again at once (stale ARP entries, pooled clients).
 */
#ifndef XWHISK_SANDBOX_IPAM_H
#define XWHISK_SANDBOX_IPAM_H

#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>

struct ipam {
	uint32_t network; /* host order */
	int prefix;
	uint32_t size;    /* addresses in the subnet */
	uint32_t cursor;  /* next offset to try */
	uint32_t used;
	uint8_t *bitmap;
};

/* "169.254.32.0/19"; the prefix must leave room for at least two sandboxes. */
int ipam_init(struct ipam *ip, const char *cidr);
void ipam_free(struct ipam *ip);
in_addr_t ipam_gateway(const struct ipam *ip); /* network order */
/* Returns a free address (network order) or 0 when the subnet is full. */
in_addr_t ipam_alloc(struct ipam *ip);
/* Marks an address taken (adoption); false when it is outside the range or taken. */
bool ipam_reserve(struct ipam *ip, in_addr_t addr);
void ipam_release(struct ipam *ip, in_addr_t addr);

#endif
