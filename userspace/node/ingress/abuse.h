/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Clients that keep coming back after being refused (401: bad credentials, 429: a
 * throttled namespace): past a number of refusals within a second, the source is put on
 * xdp_guard's block list for a while, so its next packets die in XDP instead of in the
 * HTTP parser. One table per worker; the block itself is one bpf() call per source.
 */
#ifndef XWHISK_ABUSE_H
#define XWHISK_ABUSE_H

#include <stdbool.h>
#include <stdint.h>

struct abuse;

/* strikes: refusals within one second that block a source (0: never). */
struct abuse *abuse_new(unsigned strikes, unsigned block_ms);
void abuse_free(struct abuse *a);
/* One more refusal for addr (16 bytes, IPv4 mapped) at now_ms: true when this one makes
 * the source cross the line (block it now); false before, and while it is blocked. */
bool abuse_strike(struct abuse *a, const uint8_t addr[16], uint64_t now_ms);

#endif
