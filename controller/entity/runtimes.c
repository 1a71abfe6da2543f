// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "json.h"
#include "log.h"
#include "runtimes.h"

struct runtimes {
	json_t *manifest;
	char *valid_values;
	char resolved[128];
};

int runtimes_load(const char *path, struct runtimes **out)
{
	struct runtimes *rt;
	json_error_t je;
	struct buf vv = BUF_INIT;
	const char *family;
	json_t *list;

	rt = calloc(1, sizeof(*rt));
	if (!rt)
		return -ENOMEM;
	rt->manifest = json_load_file(path, 0, &je);
	if (!rt->manifest || !json_is_object(json_object_get(rt->manifest, "runtimes"))) {
		pr_err("runtimes: %s: %s", path, rt->manifest ? "no \"runtimes\" object" : je.text);
		runtimes_free(rt);
		return -EINVAL;
	}
	buf_puts(&vv, "'blackbox', 'sequence'");
	json_object_foreach(json_object_get(rt->manifest, "runtimes"), family, list) {
		size_t i;
		json_t *e;

		json_array_foreach(list, i, e)
			if (json_obj_str(e, "kind"))
				buf_printf(&vv, ", '%s'", json_obj_str(e, "kind"));
	}
	rt->valid_values = buf_steal(&vv);
	*out = rt;
	return 0;
}

void runtimes_free(struct runtimes *rt)
{
	if (!rt)
		return;
	json_decref(rt->manifest);
	free(rt->valid_values);
	free(rt);
}

const json_t *runtimes_entry(const struct runtimes *rt, const char *kind)
{
	const char *family;
	json_t *list;

	json_object_foreach(json_object_get(rt->manifest, "runtimes"), family, list) {
		size_t i;
		json_t *e;

		json_array_foreach(list, i, e) {
			const char *k = json_obj_str(e, "kind");

			if (k && !strcmp(k, kind))
				return e;
		}
	}
	return NULL;
}

const char *runtimes_resolve(const struct runtimes *rt, const char *kind)
{
	struct runtimes *mrt = (struct runtimes *)rt;
	char norm[128];
	size_t len, j = 0;
	const char *colon;

	while (isspace((unsigned char)*kind))
		kind++;
	len = strlen(kind);
	while (len && isspace((unsigned char)kind[len - 1]))
		len--;
	if (!len || len >= sizeof(norm))
		return NULL;
	for (size_t i = 0; i < len; i++)
		norm[j++] = (char)tolower((unsigned char)kind[i]);
	norm[j] = '\0';
	colon = strchr(norm, ':');
	if (colon && !strcmp(colon + 1, "default")) {
		json_t *list = json_object_getn(json_object_get(rt->manifest, "runtimes"), norm,
						(size_t)(colon - norm));
		size_t i;
		json_t *e;

		json_array_foreach(list, i, e) {
			if (json_obj_bool(e, "default", false) && json_obj_str(e, "kind")) {
				snprintf(mrt->resolved, sizeof(mrt->resolved), "%s",
					 json_obj_str(e, "kind"));
				return mrt->resolved;
			}
		}
		return NULL;
	}
	if (!strcmp(norm, "blackbox") || !strcmp(norm, "sequence") || runtimes_entry(rt, norm)) {
		snprintf(mrt->resolved, sizeof(mrt->resolved), "%s", norm);
		return mrt->resolved;
	}
	return NULL;
}

bool runtimes_is_native_image(const struct runtimes *rt, const char *image)
{
	size_t i;
	json_t *b;

	json_array_foreach(json_object_get(rt->manifest, "blackboxes"), i, b) {
		char name[256];
		size_t len;

		snprintf(name, sizeof(name), "%s/%s", json_obj_str(b, "prefix") ?: "",
			 json_obj_str(b, "name") ?: "");
		len = strlen(name);
		if (!strncmp(image, name, len) && (!image[len] || image[len] == ':'))
			return true;
	}
	return false;
}

const char *runtimes_valid_values(const struct runtimes *rt)
{
	return rt->valid_values;
}

json_t *runtimes_info(const struct runtimes *rt)
{
	json_t *out = json_object();
	const char *family;
	json_t *list;

	json_object_foreach(json_object_get(rt->manifest, "runtimes"), family, list) {
		json_t *arr = json_array();
		size_t i;
		json_t *e;

		json_array_foreach(list, i, e) {
			json_t *img = json_object_get(e, "image");
			char image[256];

			snprintf(image, sizeof(image), "%s/%s:%s", json_obj_str(img, "prefix") ?: "",
				 json_obj_str(img, "name") ?: "", json_obj_str(img, "tag") ?: "latest");
			json_array_append_new(
				arr, json_pack("{s:s,s:s,s:b,s:b,s:b,s:b}", "kind",
					       json_obj_str(e, "kind"), "image", image, "deprecated",
					       json_obj_bool(e, "deprecated", false), "default",
					       json_obj_bool(e, "default", false), "attached",
					       json_truthy(json_object_get(e, "attached")),
					       "requireMain", json_obj_bool(e, "requireMain", false)));
		}
		json_object_set_new(out, family, arr);
	}
	return out;
}

const json_t *runtimes_manifest(const struct runtimes *rt)
{
	return rt->manifest;
}
