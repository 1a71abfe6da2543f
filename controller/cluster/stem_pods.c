// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "log.h"
#include "stem_pods.h"
#include "util.h"

#define MAX_PER_KIND 100

struct stem_pods {
	json_t *want;   /* kind -> count per node */
	json_t *pods;   /* pod name -> {node, kind, ip ("" until ready)} */
	unsigned memory_mb;
	unsigned long claimed;
};

/* "kind=count,..." into want; a static message on a bad item. */
static const char *parse_spec(const char *spec, const struct runtimes *rt, json_t *want)
{
	char item[160];

	for (const char *p = spec; p && *p;) {
		size_t len = strcspn(p, ",");
		char *eq, *end;
		long n;

		snprintf(item, sizeof(item), "%.*s", (int)len, p);
		p = p[len] ? p + len + 1 : NULL;
		if (!item[0])
			continue;
		eq = strrchr(item, '=');
		if (!eq)
			return "an item is not kind=count";
		*eq = '\0';
		n = strtol(eq + 1, &end, 10);
		if (*end || end == eq + 1 || n < 0 || n > MAX_PER_KIND)
			return "a count is not a number from 0 to 100";
		if (!runtimes_entry(rt, item))
			return "a kind is not in the runtimes manifest";
		json_object_set_new(want, item, json_integer(n));
	}
	return NULL;
}

struct stem_pods *stem_pods_new(const char *spec, const struct runtimes *rt,
				unsigned memory_mb, const char **bad)
{
	struct stem_pods *sp = calloc(1, sizeof(*sp));

	*bad = "out of memory";
	if (!sp)
		return NULL;
	sp->want = json_object();
	sp->pods = json_object();
	sp->memory_mb = memory_mb ? memory_mb : 256;
	if (!sp->want || !sp->pods || (*bad = parse_spec(spec, rt, sp->want))) {
		stem_pods_free(sp);
		return NULL;
	}
	return sp;
}

void stem_pods_free(struct stem_pods *sp)
{
	if (!sp)
		return;
	json_decref(sp->want);
	json_decref(sp->pods);
	free(sp);
}

unsigned stem_pods_memory_mb(const struct stem_pods *sp)
{
	return sp->memory_mb;
}

static const char *stem_kind(const json_t *pod)
{
	const json_t *md = json_object_get(pod, "metadata");

	if (!json_obj_str(json_object_get(md, "labels"), LABEL_STEM))
		return NULL;
	return json_obj_str(json_object_get(md, "annotations"), ANNOTATION_KIND) ?: "";
}

static bool pod_is_ready(const json_t *pod, const char **ip)
{
	const json_t *st = json_object_get(pod, "status");
	size_t i;
	json_t *c;

	*ip = json_obj_str(st, "podIP");
	if (!*ip || !**ip || strcmp(json_obj_str(st, "phase") ?: "", "Running"))
		return false;
	json_array_foreach(json_object_get(st, "conditions"), i, c)
		if (!strcmp(json_obj_str(c, "type") ?: "", "Ready"))
			return !strcmp(json_obj_str(c, "status") ?: "", "True");
	return false;
}

bool stem_pods_on_pod(struct stem_pods *sp, const char *type, const json_t *pod, bool *remove)
{
	const json_t *md = json_object_get(pod, "metadata");
	const char *kind = stem_kind(pod), *name = json_obj_str(md, "name") ?: "", *ip = NULL;
	const char *phase = json_obj_str(json_object_get(pod, "status"), "phase") ?: "";
	const char *node = json_obj_str(json_object_get(pod, "spec"), "nodeName") ?: "";
	bool ready = pod_is_ready(pod, &ip);

	*remove = false;
	if (!kind)
		return false;
	if (!strcmp(type, "DELETED") || json_object_get(md, "deletionTimestamp")) {
		json_object_del(sp->pods, name);
		return true;
	}
	if (!strcmp(phase, "Failed") || !strcmp(phase, "Succeeded") ||
	    !json_integer_value(json_object_get(sp->want, kind))) {
		json_object_del(sp->pods, name);
		*remove = true;
		return true;
	}
	json_object_set_new(sp->pods, name,
			    json_pack("{s:s,s:s,s:s}", "node", node, "kind", kind, "ip",
				      ready ? ip : ""));
	return true;
}

static unsigned count_of(const struct stem_pods *sp, const char *node, const char *kind)
{
	const char *name;
	json_t *e;
	unsigned n = 0;

	json_object_foreach(sp->pods, name, e)
		n += !strcmp(json_obj_str(e, "node") ?: "", node) &&
		     !strcmp(json_obj_str(e, "kind") ?: "", kind);
	return n;
}

void stem_pods_fill(struct stem_pods *sp, const char *node,
		    void (*create)(void *data, const char *kind, const char *name), void *data)
{
	const char *kind;
	json_t *want;

	json_object_foreach(sp->want, kind, want) {
		for (unsigned have = count_of(sp, node, kind);
		     have < (unsigned)json_integer_value(want); have++) {
			char name[64], hex[13];

			random_hex(hex, 12);
			snprintf(name, sizeof(name), STEM_NAME_PREFIX "%s", hex);
			json_object_set_new(sp->pods, name,
					    json_pack("{s:s,s:s,s:s}", "node", node, "kind", kind,
						      "ip", ""));
			create(data, kind, name);
		}
	}
}

bool stem_pods_claim(struct stem_pods *sp, const char *node, const char *kind,
		     unsigned memory_mb, char *name, size_t name_len, char *ip, size_t ip_len)
{
	const char *n;
	json_t *e;

	if (memory_mb != sp->memory_mb)
		return false;
	json_object_foreach(sp->pods, n, e) {
		const char *addr = json_obj_str(e, "ip") ?: "";

		if (!*addr || strcmp(json_obj_str(e, "node") ?: "", node) ||
		    strcmp(json_obj_str(e, "kind") ?: "", kind))
			continue;
		snprintf(name, name_len, "%s", n);
		snprintf(ip, ip_len, "%s", addr);
		json_object_del(sp->pods, n);
		sp->claimed++;
		return true;
	}
	return false;
}

static bool listed(const json_t *items, const char *name)
{
	size_t i;
	json_t *pod;

	json_array_foreach(items, i, pod)
		if (!strcmp(json_obj_str(json_object_get(pod, "metadata"), "name") ?: "", name))
			return true;
	return false;
}

void stem_pods_keep_listed(struct stem_pods *sp, const json_t *items)
{
	const char *name;
	json_t *e;
	void *tmp;

	/* (one on its way may be created after the list was taken) */
	json_object_foreach_safe(sp->pods, tmp, name, e)
		if (*(json_obj_str(e, "ip") ?: "") && !listed(items, name))
			json_object_del(sp->pods, name);
}

void stem_pods_forget(struct stem_pods *sp, const char *name)
{
	json_object_del(sp->pods, name);
}

void stem_pods_counts(const struct stem_pods *sp, unsigned *known, unsigned long *claimed)
{
	*known = (unsigned)json_object_size(sp->pods);
	*claimed = sp->claimed;
}
