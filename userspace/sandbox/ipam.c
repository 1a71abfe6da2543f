// SPDX-License-Identifier: Apache-2.0
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ipam.h"
#include "util.h"

int ipam_init(struct ipam *ip, const char *cidr)
{
	int prefix;

	memset(ip, 0, sizeof(*ip));
	/* /8 at most: the bitmap stays under 2 MB. /29 at least: two sandboxes. */
	if (cidr_parse(cidr, &ip->network, &prefix) || prefix < 8 || prefix > 29)
		return -EINVAL;
	ip->prefix = prefix;
	ip->size = 1u << (32 - prefix);
	ip->bitmap = calloc(ip->size / 8, 1);
	if (!ip->bitmap)
		return -ENOMEM;
	ip->cursor = 2;
	return 0;
}

void ipam_free(struct ipam *ip)
{
	if (!ip)
		return;
	free(ip->bitmap);
	ip->bitmap = NULL;
}

in_addr_t ipam_gateway(const struct ipam *ip)
{
	return htonl(ip->network + 1);
}

static bool taken(const struct ipam *ip, uint32_t off)
{
	return ip->bitmap[off / 8] & (1u << (off % 8));
}

in_addr_t ipam_alloc(struct ipam *ip)
{
	/* Offsets 0 (network), 1 (gateway) and size-1 (broadcast) are never handed out. */
	uint32_t usable = ip->size - 3;

	if (ip->used >= usable)
		return 0; /* full: no scan of the whole range */
	for (uint32_t i = 0; i < usable; i++) {
		uint32_t off = ip->cursor;

		ip->cursor = off + 1 >= ip->size - 1 ? 2 : off + 1;
		if (!taken(ip, off)) {
			ip->bitmap[off / 8] |= (uint8_t)(1u << (off % 8));
			ip->used++;
			return htonl(ip->network + off);
		}
	}
	return 0;
}

bool ipam_reserve(struct ipam *ip, in_addr_t addr)
{
	uint32_t a = ntohl(addr), off = a - ip->network;

	if (a < ip->network || off < 2 || off >= ip->size - 1 || taken(ip, off))
		return false;
	ip->bitmap[off / 8] |= (uint8_t)(1u << (off % 8));
	ip->used++;
	return true;
}

void ipam_release(struct ipam *ip, in_addr_t addr)
{
	uint32_t a = ntohl(addr), off = a - ip->network;

	if (a < ip->network || off < 2 || off >= ip->size - 1 || !taken(ip, off))
		return;
	ip->bitmap[off / 8] &= (uint8_t)~(1u << (off % 8));
	ip->used--;
}
