// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>

#include "node/activation/invocation.h"
#include "node/activation/overflow.h"

#define BUCKETS 256

struct queue {
	uint64_t action_id;
	struct invocation *head, *tail;
	unsigned count;
	struct queue *next;
};

struct overflow {
	unsigned max;
	unsigned total;
	struct queue *buckets[BUCKETS];
};

struct overflow *overflow_new(unsigned max_per_action)
{
	struct overflow *o = calloc(1, sizeof(*o));

	if (o)
		o->max = max_per_action;
	return o;
}

void overflow_free(struct overflow *o)
{
	if (!o)
		return;
	for (size_t b = 0; b < BUCKETS; b++) {
		while (o->buckets[b]) {
			struct queue *q = o->buckets[b];

			o->buckets[b] = q->next;
			free(q);
		}
	}
	free(o);
}

static struct queue *find(struct overflow *o, uint64_t action_id, bool create)
{
	struct queue **pp = &o->buckets[action_id % BUCKETS];

	for (; *pp; pp = &(*pp)->next)
		if ((*pp)->action_id == action_id)
			return *pp;
	if (!create)
		return NULL;
	*pp = calloc(1, sizeof(**pp));
	if (*pp)
		(*pp)->action_id = action_id;
	return *pp;
}

/* Empty queues go away so the table tracks only actions that wait. */
static void drop_if_empty(struct overflow *o, struct queue *q)
{
	struct queue **pp;

	if (q->count)
		return;
	for (pp = &o->buckets[q->action_id % BUCKETS]; *pp; pp = &(*pp)->next) {
		if (*pp == q) {
			*pp = q->next;
			free(q);
			return;
		}
	}
}

int overflow_push(struct overflow *o, uint64_t action_id, struct invocation *inv)
{
	struct queue *q = find(o, action_id, true);

	if (!q)
		return -ENOMEM;
	if (q->count >= o->max) {
		drop_if_empty(o, q);
		return -ENOSPC;
	}
	inv->next = NULL;
	if (q->tail)
		q->tail->next = inv;
	else
		q->head = inv;
	q->tail = inv;
	q->count++;
	__atomic_add_fetch(&o->total, 1, __ATOMIC_RELAXED);
	return 0;
}

struct invocation *overflow_peek(struct overflow *o, uint64_t action_id)
{
	struct queue *q = find(o, action_id, false);

	return q ? q->head : NULL;
}

struct invocation *overflow_pop(struct overflow *o, uint64_t action_id)
{
	struct queue *q = find(o, action_id, false);
	struct invocation *inv;

	if (!q || !q->head)
		return NULL;
	inv = q->head;
	q->head = inv->next;
	if (!q->head)
		q->tail = NULL;
	inv->next = NULL;
	q->count--;
	__atomic_sub_fetch(&o->total, 1, __ATOMIC_RELAXED);
	drop_if_empty(o, q);
	return inv;
}

bool overflow_remove(struct overflow *o, uint64_t action_id, struct invocation *inv)
{
	struct queue *q = find(o, action_id, false);
	struct invocation **pp, *prev = NULL;

	if (!q)
		return false;
	for (pp = &q->head; *pp; prev = *pp, pp = &(*pp)->next) {
		if (*pp != inv)
			continue;
		*pp = inv->next;
		if (q->tail == inv)
			q->tail = prev;
		inv->next = NULL;
		q->count--;
		__atomic_sub_fetch(&o->total, 1, __ATOMIC_RELAXED);
		drop_if_empty(o, q);
		return true;
	}
	return false;
}

unsigned overflow_waiting(struct overflow *o, uint64_t action_id)
{
	struct queue *q = find(o, action_id, false);

	return q ? q->count : 0;
}

unsigned overflow_total(struct overflow *o)
{
	return __atomic_load_n(&o->total, __ATOMIC_RELAXED);
}
