// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "node/activation/result_cache.h"

/* An entry's bookkeeping besides its value, counted against the budget too: a flood of
 * tiny answers must not take more memory than the operator allowed. */
#define ENTRY_OVERHEAD 160
/* Walking the LRU for an entry of a namespace over its share stops here and takes the
 * oldest of all: eviction stays cheap however the entries are spread. */
#define FAIR_WALK_MAX 256

struct link {
	struct entry *prev, *next;
};

struct entry {
	uint8_t key[RESULT_KEY_LEN];
	uint32_t ns;
	size_t cost;
	struct result_value *value;
	char *deps;            /* docids, each NUL-terminated, an empty one last */
	struct entry *hnext;   /* in its bucket */
	struct link all, mine; /* the global LRU and its namespace's; head = newest */
};

struct list {
	struct entry *head, *tail;
};

struct ns_use {
	size_t bytes;
	struct list lru;
};

struct result_cache {
	pthread_mutex_t lock;
	size_t max_bytes, bytes;
	uint64_t entries;
	uint32_t nbuckets; /* a power of two */
	struct entry **buckets;
	struct list lru;
	uint32_t max_ns, active_ns; /* namespaces holding entries */
	struct ns_use *ns;
	uint64_t epoch, hits, misses, evictions;
};

/* ---- intrusive lists: which link of the entry is given by offset ---- */

#define LINK(e, off) ((struct link *)((char *)(e) + (off)))

static void list_unlink(struct list *l, struct entry *e, size_t off)
{
	struct link *k = LINK(e, off);

	if (k->prev)
		LINK(k->prev, off)->next = k->next;
	else
		l->head = k->next;
	if (k->next)
		LINK(k->next, off)->prev = k->prev;
	else
		l->tail = k->prev;
	k->prev = k->next = NULL;
}

static void list_push_head(struct list *l, struct entry *e, size_t off)
{
	struct link *k = LINK(e, off);

	k->prev = NULL;
	k->next = l->head;
	if (l->head)
		LINK(l->head, off)->prev = e;
	else
		l->tail = e;
	l->head = e;
}

#define ALL offsetof(struct entry, all)
#define MINE offsetof(struct entry, mine)

/* ---- the cache ---- */

struct result_cache *result_cache_new(size_t max_bytes, uint32_t max_ns)
{
	struct result_cache *c = calloc(1, sizeof(*c));
	uint32_t n = 256;

	if (!c)
		return NULL;
	/* About one bucket per 2 KB of budget: short chains for typical answers. */
	while (n < (1u << 20) && (size_t)n * 2048 < max_bytes)
		n <<= 1;
	c->nbuckets = n;
	c->buckets = calloc(n, sizeof(*c->buckets));
	c->ns = calloc(max_ns ? max_ns : 1, sizeof(*c->ns));
	if (!c->buckets || !c->ns) {
		free(c->buckets);
		free(c->ns);
		free(c);
		return NULL;
	}
	c->max_bytes = max_bytes;
	c->max_ns = max_ns;
	pthread_mutex_init(&c->lock, NULL);
	return c;
}

void result_value_unref(struct result_value *v)
{
	if (v && !__atomic_sub_fetch(&v->refs, 1, __ATOMIC_ACQ_REL))
		free(v);
}

static uint32_t bucket_of(const struct result_cache *c, const uint8_t key[RESULT_KEY_LEN])
{
	uint32_t h;

	/* The key is a SHA-256 already: any four bytes of it are a good hash. */
	memcpy(&h, key, sizeof(h));
	return h & (c->nbuckets - 1);
}

static struct entry **find_slot(struct result_cache *c, const uint8_t key[RESULT_KEY_LEN])
{
	struct entry **pp = &c->buckets[bucket_of(c, key)];

	while (*pp && memcmp((*pp)->key, key, RESULT_KEY_LEN))
		pp = &(*pp)->hnext;
	return pp;
}

/* Unlinks e from everything and frees it (its value lives on while referenced). */
static void entry_drop(struct result_cache *c, struct entry *e)
{
	struct ns_use *u = &c->ns[e->ns];
	struct entry **pp = find_slot(c, e->key);

	if (*pp == e)
		*pp = e->hnext;
	list_unlink(&c->lru, e, ALL);
	list_unlink(&u->lru, e, MINE);
	u->bytes -= e->cost;
	if (!u->bytes)
		c->active_ns--;
	c->bytes -= e->cost;
	c->entries--;
	result_value_unref(e->value);
	free(e->deps);
	free(e);
}

void result_cache_free(struct result_cache *c)
{
	if (!c)
		return;
	while (c->lru.head)
		entry_drop(c, c->lru.head);
	pthread_mutex_destroy(&c->lock);
	free(c->buckets);
	free(c->ns);
	free(c);
}

struct result_value *result_cache_get(struct result_cache *c, const uint8_t key[RESULT_KEY_LEN],
				      uint64_t now_ms)
{
	struct result_value *v = NULL;
	struct entry *e;

	pthread_mutex_lock(&c->lock);
	e = *find_slot(c, key);
	if (e && e->value->expires_ms <= now_ms) {
		entry_drop(c, e);
		e = NULL;
	}
	if (e) {
		list_unlink(&c->lru, e, ALL);
		list_push_head(&c->lru, e, ALL);
		list_unlink(&c->ns[e->ns].lru, e, MINE);
		list_push_head(&c->ns[e->ns].lru, e, MINE);
		v = e->value;
		__atomic_add_fetch(&v->refs, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&c->lock);
	return v;
}

void result_cache_count(struct result_cache *c, bool hit)
{
	__atomic_add_fetch(hit ? &c->hits : &c->misses, 1, __ATOMIC_RELAXED);
}

uint64_t result_cache_epoch(struct result_cache *c)
{
	return __atomic_load_n(&c->epoch, __ATOMIC_ACQUIRE);
}

/* "a\0b\0\0" from ["a", "b"]; NULL when out of memory. */
static char *deps_flatten(const json_t *deps, size_t *len)
{
	size_t n = 1, i;
	json_t *d;
	char *out, *p;

	json_array_foreach((json_t *)deps, i, d)
		if (json_is_string(d))
			n += json_string_length(d) + 1;
	out = p = malloc(n);
	if (!out)
		return NULL;
	json_array_foreach((json_t *)deps, i, d) {
		if (!json_is_string(d))
			continue;
		memcpy(p, json_string_value(d), json_string_length(d) + 1);
		p += json_string_length(d) + 1;
	}
	*p = '\0';
	*len = n;
	return out;
}

static bool depends_on(const struct entry *e, const char *docid)
{
	for (const char *d = e->deps; *d; d += strlen(d) + 1)
		if (!strcmp(d, docid))
			return true;
	return false;
}

/* Whose entry makes room for ns next: its own oldest while it is over its share, else
 * the oldest of a namespace over its share, else the oldest of all. */
static struct entry *victim(struct result_cache *c, uint32_t ns, size_t cost)
{
	/* ns counts among those that share the cache even before its first entry. */
	uint32_t sharing = c->active_ns + (c->ns[ns].bytes ? 0 : 1);
	size_t share = c->max_bytes / sharing;
	struct entry *e = c->lru.tail;

	if (c->ns[ns].lru.tail && c->ns[ns].bytes + cost > share)
		return c->ns[ns].lru.tail;
	for (unsigned walked = 0; e && walked < FAIR_WALK_MAX; walked++, e = e->all.prev)
		if (c->ns[e->ns].bytes > share)
			return e;
	return c->lru.tail;
}

int result_cache_put(struct result_cache *c, const uint8_t key[RESULT_KEY_LEN], uint32_t ns,
		     const json_t *deps, const void *data, size_t len, uint64_t now_ms,
		     uint64_t ttl_ms, uint64_t epoch)
{
	struct entry *e, **pp;
	size_t deps_len = 0;
	int err = 0;

	if (ns >= c->max_ns || !ttl_ms)
		return -EINVAL;
	if (len + ENTRY_OVERHEAD > c->max_bytes / 8)
		return -E2BIG;
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->value = malloc(sizeof(*e->value) + len + 1);
	e->deps = deps_flatten(deps, &deps_len);
	if (!e->value || !e->deps) {
		free(e->value);
		free(e->deps);
		free(e);
		return -ENOMEM;
	}
	memcpy(e->key, key, RESULT_KEY_LEN);
	e->ns = ns;
	e->cost = len + deps_len + ENTRY_OVERHEAD;
	e->value->refs = 1;
	e->value->stored_ms = now_ms;
	e->value->expires_ms = now_ms + ttl_ms;
	e->value->len = len;
	memcpy(e->value->data, data, len);
	e->value->data[len] = '\0';

	pthread_mutex_lock(&c->lock);
	if (c->epoch != epoch) {
		err = -ESTALE;
		goto out;
	}
	pp = find_slot(c, key);
	if (*pp)
		entry_drop(c, *pp);
	while (c->bytes + e->cost > c->max_bytes) {
		entry_drop(c, victim(c, ns, e->cost));
		c->evictions++;
	}
	pp = find_slot(c, key);
	*pp = e;
	list_push_head(&c->lru, e, ALL);
	list_push_head(&c->ns[ns].lru, e, MINE);
	if (!c->ns[ns].bytes)
		c->active_ns++;
	c->ns[ns].bytes += e->cost;
	c->bytes += e->cost;
	c->entries++;
	e = NULL;
out:
	pthread_mutex_unlock(&c->lock);
	if (e) {
		result_value_unref(e->value);
		free(e->deps);
		free(e);
	}
	return err;
}

void result_cache_invalidate(struct result_cache *c, const char *docid)
{
	struct entry *e, *prev;

	pthread_mutex_lock(&c->lock);
	__atomic_add_fetch(&c->epoch, 1, __ATOMIC_RELEASE);
	for (e = c->lru.tail; e; e = prev) {
		prev = e->all.prev;
		if (!docid || depends_on(e, docid))
			entry_drop(c, e);
	}
	pthread_mutex_unlock(&c->lock);
}

void result_cache_stats(struct result_cache *c, struct result_cache_stats *out)
{
	pthread_mutex_lock(&c->lock);
	out->bytes = c->bytes;
	out->entries = c->entries;
	out->evictions = c->evictions;
	pthread_mutex_unlock(&c->lock);
	out->hits = __atomic_load_n(&c->hits, __ATOMIC_RELAXED);
	out->misses = __atomic_load_n(&c->misses, __ATOMIC_RELAXED);
}

size_t result_cache_ns_bytes(struct result_cache *c, uint32_t ns)
{
	size_t n = 0;

	pthread_mutex_lock(&c->lock);
	if (ns < c->max_ns)
		n = c->ns[ns].bytes;
	pthread_mutex_unlock(&c->lock);
	return n;
}
