// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "digest.h"
#include "node/activation/action_cache.h"
#include "json.h"
#include "json_write.h"
#include "log.h"
#include "util.h"

#define BUCKETS 4096

struct cached {
	struct action_entry *e;
	struct cached *next;
};

struct action_cache {
	pthread_mutex_t lock;
	struct xw_maps *maps;
	struct cached *buckets[BUCKETS];
	uint64_t epoch; /* invalidations so far */
	action_cache_dropped dropped;
	void *dropped_data;
};

struct action_cache *action_cache_new(struct xw_maps *maps)
{
	struct action_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	pthread_mutex_init(&c->lock, NULL);
	c->maps = maps;
	return c;
}

void action_cache_free(struct action_cache *c)
{
	if (!c)
		return;
	action_cache_invalidate(c, NULL);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void action_entry_ref(struct action_entry *e)
{
	__atomic_add_fetch(&e->refs, 1, __ATOMIC_RELAXED);
}

void action_entry_unref(struct action_entry *e)
{
	if (!e || __atomic_sub_fetch(&e->refs, 1, __ATOMIC_ACQ_REL))
		return;
	json_decref(e->doc);
	json_decref(e->run_params);
	json_decref(e->init_env);
	free(e->key);
	free(e->subject);
	free(e->record_annotations);
	free(e);
}

static enum xw_kind kind_of(const char *kind)
{
	if (!strncmp(kind, "nodejs", 6))
		return XW_KIND_NODEJS;
	if (!strncmp(kind, "python", 6))
		return XW_KIND_PYTHON;
	if (!strcmp(kind, "native"))
		return XW_KIND_NATIVE;
	if (!strcmp(kind, "blackbox"))
		return XW_KIND_BLACKBOX;
	if (!strcmp(kind, "sequence"))
		return XW_KIND_SEQUENCE;
	return XW_KIND_UNKNOWN;
}

/* Init parameters go to /init as strings (null as ""), the rest to /run. */
static void split_parameters(struct action_entry *e, json_t *params)
{
	size_t i;
	json_t *kv;

	e->run_params = json_object();
	e->init_env = json_object();
	json_array_foreach(params, i, kv) {
		const char *key = json_obj_str(kv, "key");
		json_t *v = json_object_get(kv, "value");

		if (!key)
			continue;
		if (json_is_true(json_object_get(kv, "init"))) {
			char *text = NULL;

			if (json_is_string(v))
				json_object_set(e->init_env, key, v);
			else if (!v || json_is_null(v))
				json_object_set_new(e->init_env, key, json_string(""));
			else if ((text = json_dump(v)))
				json_object_set_new(e->init_env, key, json_string(text));
			free(text);
		} else {
			json_object_set(e->run_params, key, v ? v : json_null());
		}
	}
}

static void write_string_annotation(struct json_writer *jw, const char *key, const char *value)
{
	jw_pair_open(jw, key);
	jw_str(jw, value);
	jw_obj_close(jw);
}

void action_entry_write_annotations(const struct action_entry *e, const char *kind,
				    struct json_writer *jw)
{
	json_t *limits = json_object_get(e->doc, "limits");

	write_string_annotation(jw, "path", e->fqn + 1);
	write_string_annotation(jw, "kind", kind);
	jw_pair_open(jw, "limits");
	if (limits)
		jw_value(jw, limits);
	else
		jw_raw(jw, "{}", 2);
	jw_obj_close(jw);
	if (e->binding)
		write_string_annotation(jw, "binding", e->binding);
}

/* The record annotations' text, without the array's brackets. */
static int precompute_annotations(struct action_entry *e)
{
	struct buf b = BUF_INIT;
	struct json_writer jw;

	jw_init(&jw, &b);
	action_entry_write_annotations(e, e->kind, &jw);
	if (jw.err) {
		buf_free(&b);
		return jw.err;
	}
	e->record_annotations_len = b.len;
	e->record_annotations = buf_steal(&b);
	return e->record_annotations ? 0 : -ENOMEM;
}

#define CACHE_KEY_MAX 1200

/* "subject\nname", each part cut at 599 bytes, into out (CACHE_KEY_MAX): the one key of
 * an entry and of a lookup (no printf: every invoke looks up). */
static const char *cache_key(char *out, const char *subject, const char *name)
{
	size_t ns = strnlen(subject, 599), nn = strnlen(name, 599);

	memcpy(out, subject, ns);
	out[ns] = '\n';
	memcpy(out + ns + 1, name, nn);
	out[ns + 1 + nn] = '\0';
	return out;
}

static struct action_entry *entry_build(const char *subject, const char *name, json_t *doc)
{
	struct action_entry *e = calloc(1, sizeof(*e));
	json_t *limits = json_object_get(doc, "limits"), *exec = json_object_get(doc, "exec");
	json_t *anns = json_object_get(doc, "annotations"), *key_ann;
	unsigned char digest[32];
	char *idsrc = NULL, key[CACHE_KEY_MAX];

	if (!e)
		return NULL;
	e->refs = 1;
	e->doc = json_incref(doc);
	e->subject = strdup(subject);
	e->key = strdup(cache_key(key, subject, name));
	e->docid = json_obj_str(doc, "docid");
	e->path = json_obj_str(doc, "path");
	e->name = json_obj_str(doc, "name");
	e->version = json_obj_str(doc, "version");
	e->binding = json_obj_str(doc, "binding");
	e->kind = json_obj_str(exec, "kind");
	if (!e->key || !e->subject || !e->docid || !e->path || !e->name || !e->kind) {
		action_entry_unref(e);
		return NULL;
	}
	if (!e->version)
		e->version = "0.0.1";
	snprintf(e->fqn, sizeof(e->fqn), "/%s/%s", e->path, e->name);
	e->revision = json_integer_value(json_object_get(doc, "revision"));
	e->timeout_ms = (uint32_t)json_integer_value(json_object_get(limits, "timeout"));
	e->memory_mb = (uint32_t)json_integer_value(json_object_get(limits, "memory"));
	e->logs_mb = (uint32_t)json_integer_value(json_object_get(limits, "logs"));
	e->concurrency = (uint32_t)json_integer_value(json_object_get(limits, "concurrency"));
	if (!e->timeout_ms)
		e->timeout_ms = 60000;
	if (!e->memory_mb)
		e->memory_mb = 256;
	if (!e->concurrency)
		e->concurrency = 1;
	e->xkind = kind_of(e->kind);
	e->components = json_object_get(exec, "components");
	/* OpenWhisk hands the key over when the annotation is truthy or absent. */
	key_ann = json_kv_get(anns, "provide-api-key");
	e->provide_api_key = !key_ann || json_truthy(key_ann);
	e->web_export = json_truthy(json_kv_get(anns, "web-export"));
	e->raw_http = json_truthy(json_kv_get(anns, "raw-http"));
	e->web_custom_options = json_truthy(json_kv_get(anns, "web-custom-options"));
	/* An xwhisk extension: the web action gets the connection (ingress/stream.c). */
	e->web_stream = e->xkind != XW_KIND_SEQUENCE &&
			json_truthy(json_kv_get(anns, "web-stream"));
	e->final_params = json_truthy(json_kv_get(anns, "final"));
	e->require_whisk_auth = json_kv_get(anns, "require-whisk-auth");
	split_parameters(e, json_object_get(doc, "parameters"));
	if (precompute_annotations(e) ||
	    asprintf(&idsrc, "%s|%s@%lld", subject, e->docid, (long long)e->revision) < 0 ||
	    sha256_digest(idsrc, strlen(idsrc), digest)) {
		free(idsrc);
		action_entry_unref(e);
		return NULL;
	}
	free(idsrc);
	memcpy(&e->id, digest, sizeof(e->id));
	return e;
}

struct action_entry *action_entry_new(const char *subject, const char *name, json_t *resolved)
{
	return entry_build(subject, name, resolved);
}

struct action_entry *action_cache_get(struct action_cache *c, const char *subject,
				      const char *name)
{
	struct action_entry *found = NULL;
	char key[CACHE_KEY_MAX];

	cache_key(key, subject, name);
	pthread_mutex_lock(&c->lock);
	for (struct cached *k = c->buckets[str_hash(key) % BUCKETS]; k; k = k->next) {
		if (!strcmp(k->e->key, key)) {
			found = k->e;
			action_entry_ref(found);
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* Publishes routing metadata where the BPF side (and bpftool) can see it. */
static void publish_action(struct action_cache *c, struct action_entry *e, uint32_t ns_idx)
{
	struct xw_action a = {
		.revision = (uint64_t)e->revision,
		.ns_idx = ns_idx,
		.concurrency = e->concurrency,
		.memory_mb = e->memory_mb,
		.timeout_ms = e->timeout_ms,
		.kind = e->xkind,
		.flags = e->web_export ? XW_ACTION_WEB_EXPORT : 0,
	};

	if (bpf_map_update_elem(c->maps->actions_fd, &e->id, &a, BPF_ANY))
		pr_debug("action_cache: actions map update: %s", strerror(errno));
}

uint64_t action_cache_epoch(struct action_cache *c)
{
	return __atomic_load_n(&c->epoch, __ATOMIC_ACQUIRE);
}

struct action_entry *action_cache_put(struct action_cache *c, uint64_t epoch, const char *subject,
				      uint32_t subject_idx, const char *name, json_t *resolved)
{
	struct action_entry *e = entry_build(subject, name, resolved);
	struct cached *k, **pp;
	uint32_t b;

	if (!e)
		return NULL;
	k = calloc(1, sizeof(*k));
	if (!k)
		return e; /* usable, just not cached */
	publish_action(c, e, subject_idx);
	action_entry_ref(e);
	k->e = e;
	b = str_hash(e->key) % BUCKETS;
	pthread_mutex_lock(&c->lock);
	/* Resolved before an invalidation that may have been about it: not kept. */
	if (c->epoch != epoch) {
		pthread_mutex_unlock(&c->lock);
		action_entry_unref(e);
		free(k);
		return e;
	}
	/* Another worker may have cached the same name meanwhile: the newest wins, unless it
	 * is the same revision. Then that entry is everybody's, so that what the action's
	 * runs teach (run and cold-start times, invocation.c) is learnt once. */
	for (pp = &c->buckets[b]; *pp; pp = &(*pp)->next) {
		if (!strcmp((*pp)->e->key, e->key)) {
			struct cached *old = *pp;

			if (old->e->id == e->id) {
				struct action_entry *same = old->e;

				action_entry_ref(same);
				pthread_mutex_unlock(&c->lock);
				action_entry_unref(e); /* the reference k would have held */
				action_entry_unref(e); /* the caller's: it gets same instead */
				free(k);
				return same;
			}

			*pp = old->next;
			action_entry_unref(old->e);
			free(old);
			break;
		}
	}
	k->next = c->buckets[b];
	c->buckets[b] = k;
	pthread_mutex_unlock(&c->lock);
	return e;
}

static bool depends_on(struct action_entry *e, const char *docid)
{
	size_t i;
	json_t *d;

	json_array_foreach(json_object_get(e->doc, "deps"), i, d)
		if (!strcmp(json_string_value(d) ?: "", docid))
			return true;
	return false;
}

void action_cache_invalidate(struct action_cache *c, const char *docid)
{
	pthread_mutex_lock(&c->lock);
	__atomic_add_fetch(&c->epoch, 1, __ATOMIC_RELEASE);
	for (size_t b = 0; b < BUCKETS; b++) {
		struct cached **pp = &c->buckets[b];

		while (*pp) {
			struct cached *k = *pp;

			if (docid && !depends_on(k->e, docid)) {
				pp = &k->next;
				continue;
			}
			*pp = k->next;
			action_entry_unref(k->e);
			free(k);
		}
	}
	pthread_mutex_unlock(&c->lock);
	if (c->dropped)
		c->dropped(docid, c->dropped_data);
}

void action_cache_on_invalidate(struct action_cache *c, action_cache_dropped fn, void *data)
{
	c->dropped = fn;
	c->dropped_data = data;
}
