// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>
#include <string.h>

#include "node/ingress/abuse.h"

/* Sources tracked at once per worker; a colliding source takes the place over (a flood
 * from many addresses is xdp_guard's SYN budget's business, not this table's). */
#define ABUSE_ENTRIES 4096
#define WINDOW_MS 1000

struct source {
	uint8_t addr[16];
	uint64_t window_ms;  /* start of the current second */
	unsigned strikes;    /* in it */
	uint64_t blocked_until_ms;
};

struct abuse {
	unsigned strikes, block_ms;
	struct source s[ABUSE_ENTRIES];
};

struct abuse *abuse_new(unsigned strikes, unsigned block_ms)
{
	struct abuse *a = calloc(1, sizeof(*a));

	if (a) {
		a->strikes = strikes;
		a->block_ms = block_ms;
	}
	return a;
}

void abuse_free(struct abuse *a)
{
	free(a);
}

bool abuse_strike(struct abuse *a, const uint8_t addr[16], uint64_t now_ms)
{
	struct source *s;
	uint32_t h = 2166136261u;

	if (!a || !a->strikes)
		return false;
	for (int i = 0; i < 16; i++)
		h = (h ^ addr[i]) * 16777619u;
	s = &a->s[h % ABUSE_ENTRIES];
	if (memcmp(s->addr, addr, 16)) {
		memset(s, 0, sizeof(*s));
		memcpy(s->addr, addr, 16);
	}
	if (now_ms < s->blocked_until_ms)
		return false;
	if (now_ms - s->window_ms >= WINDOW_MS) {
		s->window_ms = now_ms;
		s->strikes = 0;
	}
	if (++s->strikes < a->strikes)
		return false;
	s->strikes = 0;
	s->blocked_until_ms = now_ms + a->block_ms;
	return true;
}
