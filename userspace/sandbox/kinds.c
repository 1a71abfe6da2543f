// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "json.h"
#include "kinds.h"
#include "util.h"

/* Replaces ${XWHISK_PROXY} and ${XWHISK_RUNTIMES}; other text is copied as is. */
static char *expand(const char *s, const char *proxy, const char *runtimes)
{
	static const char p_var[] = "${XWHISK_PROXY}", r_var[] = "${XWHISK_RUNTIMES}";
	struct buf b = BUF_INIT;

	while (*s) {
		if (!strncmp(s, p_var, sizeof(p_var) - 1)) {
			buf_puts(&b, proxy);
			s += sizeof(p_var) - 1;
		} else if (!strncmp(s, r_var, sizeof(r_var) - 1)) {
			buf_puts(&b, runtimes);
			s += sizeof(r_var) - 1;
		} else {
			buf_append(&b, s++, 1);
		}
	}
	return buf_steal(&b);
}

/* A program name without a slash, found in the sandbox's PATH (not ours). */
static char *resolve(char *prog)
{
	char path[4096];
	const char *dir = SANDBOX_PATH;

	if (strchr(prog, '/'))
		return prog;
	while (dir && *dir) {
		const char *end = strchr(dir, ':');
		int len = end ? (int)(end - dir) : (int)strlen(dir);

		snprintf(path, sizeof(path), "%.*s/%s", len, dir, prog);
		if (!access(path, X_OK)) {
			char *found = strdup(path);

			if (found) {
				free(prog);
				return found;
			}
		}
		dir = end ? end + 1 : NULL;
	}
	return prog;
}

static char **argv_from(const json_t *arr, const char *proxy, const char *runtimes)
{
	size_t n = json_array_size(arr), i;
	json_t *v;
	char **argv;

	if (!n)
		return NULL;
	argv = calloc(n + 1, sizeof(*argv));
	if (!argv)
		return NULL;
	json_array_foreach(arr, i, v) {
		if (json_is_string(v))
			argv[i] = expand(json_string_value(v), proxy, runtimes);
		if (!argv[i]) {
			strv_free(argv);
			return NULL;
		}
	}
	argv[0] = resolve(argv[0]);
	return argv;
}

static char **env_from(const json_t *obj)
{
	size_t n = json_object_size(obj), i = 0;
	const char *key;
	json_t *v;
	char **env = calloc(n + 1, sizeof(*env));

	if (!env)
		return NULL;
	json_object_foreach((json_t *)obj, key, v) {
		if (!json_is_string(v))
			continue;
		if (asprintf(&env[i], "%s=%s", key, json_string_value(v)) < 0) {
			env[i] = NULL;
			strv_free(env);
			return NULL;
		}
		i++;
	}
	return env;
}

static int add_kind(struct manifest *m, const char *kind, const char *image, const json_t *sb,
		    const char *proxy, const char *runtimes)
{
	struct runtime_kind *k, *kinds;
	json_t *cmd = json_object_get(sb, "command");
	json_t *zyg = json_object_get(sb, "zygote");
	json_t *cells = json_object_get(sb, "stemCells");
	json_t *mem = json_object_get(sb, "memory");
	const char *ready = json_obj_str(sb, "ready");
	const char *workdir = json_obj_str(sb, "workdir");

	if (!json_is_array(cmd) || !json_array_size(cmd))
		return -EINVAL;
	if (workdir && (workdir[0] != '/' || strlen(workdir) >= PATH_MAX))
		return -EINVAL;
	kinds = realloc(m->kinds, (m->nkinds + 1) * sizeof(*kinds));
	if (!kinds)
		return -ENOMEM;
	m->kinds = kinds;
	k = &kinds[m->nkinds];
	memset(k, 0, sizeof(*k));
	k->kind = strdup(kind);
	k->image = image ? strdup(image) : NULL;
	k->command = argv_from(cmd, proxy, runtimes);
	k->zygote = json_is_array(zyg) ? argv_from(zyg, proxy, runtimes) : NULL;
	k->env = env_from(json_object_get(sb, "env"));
	k->workdir = workdir ? strdup(workdir) : NULL;
	k->notify = ready && !strcmp(ready, "notify");
	k->stem_cells = json_is_integer(cells) && json_integer_value(cells) > 0 ?
				(unsigned)json_integer_value(cells) : 0;
	k->memory_mb = json_is_integer(mem) && json_integer_value(mem) > 0 ?
			       (unsigned)json_integer_value(mem) : 256;
	m->nkinds++;
	if (!k->kind || (image && !k->image) || !k->command || (json_is_array(zyg) && !k->zygote) ||
	    !k->env || (workdir && !k->workdir))
		return -ENOMEM;
	return 0;
}

int manifest_load(struct manifest *m, const char *path, const char *proxy, const char *runtimes)
{
	char errbuf[160];
	json_t *root, *fams, *list, *e, *boxes;
	const char *family;
	size_t i, len;
	char *text;
	int err = 0;

	memset(m, 0, sizeof(*m));
	text = file_read_all(path, &len);
	if (!text)
		return -errno;
	root = json_parse(text, len, errbuf, sizeof(errbuf));
	free(text);
	if (!root)
		return -EINVAL;
	fams = json_object_get(root, "runtimes");
	json_object_foreach(fams, family, list) {
		json_array_foreach(list, i, e) {
			const char *kind = json_obj_str(e, "kind");
			json_t *sb = json_object_get(e, "sandbox");

			if (!kind || !json_is_object(sb))
				continue;
			err = add_kind(m, kind, NULL, sb, proxy, runtimes);
			if (err)
				goto out;
		}
	}
	boxes = json_object_get(root, "blackboxes");
	json_array_foreach(boxes, i, e) {
		json_t *sb = json_object_get(e, "sandbox");
		const char *prefix = json_obj_str(e, "prefix"), *name = json_obj_str(e, "name");
		char image[256];

		if (!json_is_object(sb) || !name)
			continue;
		snprintf(image, sizeof(image), "%s%s%s", prefix ? prefix : "", prefix ? "/" : "",
			 name);
		err = add_kind(m, "blackbox", image, sb, proxy, runtimes);
		if (err)
			goto out;
	}
out:
	json_decref(root);
	if (err)
		manifest_free(m);
	return err;
}

void manifest_free(struct manifest *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nkinds; i++) {
		free(m->kinds[i].kind);
		free(m->kinds[i].image);
		strv_free(m->kinds[i].command);
		strv_free(m->kinds[i].zygote);
		strv_free(m->kinds[i].env);
		free(m->kinds[i].workdir);
	}
	free(m->kinds);
	memset(m, 0, sizeof(*m));
}

/* "prefix/name", with or without a ":tag" (wsk --docker names one, "nightly" or other). */
static bool image_matches(const char *image, const char *name)
{
	size_t len = strlen(image);

	return !strncmp(image, name, len) && (!name[len] || name[len] == ':');
}

struct runtime_kind *manifest_find(const struct manifest *m, const char *kind)
{
	for (size_t i = 0; i < m->nkinds; i++)
		if (!strcmp(m->kinds[i].kind, kind) ||
		    (m->kinds[i].image && image_matches(m->kinds[i].image, kind)))
			return &m->kinds[i];
	return NULL;
}

int manifest_prewarm(struct manifest *m, const char *spec, const char **bad)
{
	static char unknown[64];
	char item[128];

	for (const char *p = spec; p && *p;) {
		const char *end = strchr(p, ',');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		struct runtime_kind *k;
		char *eq, *num_end;
		long n;

		snprintf(item, sizeof(item), "%.*s", (int)len, p);
		p = end ? end + 1 : NULL;
		if (!item[0])
			continue;
		eq = strrchr(item, '=');
		if (!eq)
			return -EINVAL;
		*eq = '\0';
		n = strtol(eq + 1, &num_end, 10);
		if (*num_end || n < 0 || n > 1000)
			return -EINVAL;
		k = manifest_find(m, item);
		if (!k) {
			snprintf(unknown, sizeof(unknown), "%s", item);
			*bad = unknown;
			return -ENOENT;
		}
		k->stem_cells = (unsigned)n;
	}
	return 0;
}
