// SPDX-License-Identifier: Apache-2.0
#include "budget.h"

static uint32_t min_u32(uint64_t a, uint64_t b)
{
	return (uint32_t)(a < b ? a : b);
}

/* One unit to every node that has none, while room lasts. Returns the room left. */
static uint64_t give_minimum(size_t n, uint32_t *share, uint64_t room)
{
	for (size_t i = 0; i < n && room; i++) {
		if (!share[i]) {
			share[i] = 1;
			room--;
		}
	}
	return room;
}

static size_t count_wanting(size_t n, const struct budget_claim *c, const uint32_t *share)
{
	size_t wanting = 0;

	for (size_t i = 0; i < n; i++)
		wanting += c[i].demand > share[i];
	return wanting;
}

/* Fewer units than nodes wanting: one each to the ones missing the most. */
static void give_scarce(size_t n, const struct budget_claim *c, uint32_t *share, uint64_t room)
{
	while (room) {
		size_t best = n;

		for (size_t i = 0; i < n; i++) {
			if (c[i].demand > share[i] &&
			    (best == n || c[i].demand - share[i] > c[best].demand - share[best]))
				best = i;
		}
		if (best == n)
			return;
		share[best]++;
		room--;
	}
}

/* Max-min fair water filling of unmet demand. Returns the room left. */
static uint64_t fill_demand(size_t n, const struct budget_claim *c, uint32_t *share,
			    uint64_t room)
{
	size_t wanting;

	while (room && (wanting = count_wanting(n, c, share))) {
		uint64_t each = room / wanting;

		if (!each) {
			give_scarce(n, c, share, room);
			return 0;
		}
		for (size_t i = 0; i < n; i++) {
			uint32_t g;

			if (c[i].demand <= share[i])
				continue;
			g = min_u32(each, c[i].demand - share[i]);
			share[i] += g;
			room -= g;
		}
	}
	return room;
}

void budget_split(uint32_t limit, size_t n, const struct budget_claim *claims, uint32_t *share)
{
	uint64_t used = 0, room, each;

	for (size_t i = 0; i < n; i++) {
		share[i] = claims[i].used;
		used += claims[i].used;
	}
	if (!n || used >= limit)
		return;
	room = give_minimum(n, share, limit - used);
	room = fill_demand(n, claims, share, room);
	each = room / n;
	for (size_t i = 0; i < n; i++)
		share[i] += (uint32_t)each + (i < room % n);
}

uint32_t budget_fallback(uint32_t limit, uint32_t nodes)
{
	if (nodes <= 1 || !limit)
		return limit;
	return limit / nodes ? limit / nodes : 1;
}

uint32_t budget_grant(uint32_t limit, uint32_t target, uint64_t others_held)
{
	if (others_held >= limit)
		return 0;
	return min_u32(target, limit - others_held);
}

json_t *budget_kinds_json(const uint32_t v[BUDGET_KINDS])
{
	return json_pack("[I,I,I]", (json_int_t)v[0], (json_int_t)v[1], (json_int_t)v[2]);
}

bool budget_kinds_parse(const json_t *a, uint32_t out[BUDGET_KINDS])
{
	if (!json_is_array(a) || json_array_size(a) != BUDGET_KINDS)
		return false;
	for (size_t k = 0; k < BUDGET_KINDS; k++) {
		const json_t *v = json_array_get(a, k);

		if (!json_is_integer(v) || json_integer_value(v) < 0 ||
		    json_integer_value(v) > UINT32_MAX)
			return false;
		out[k] = (uint32_t)json_integer_value(v);
	}
	return true;
}
