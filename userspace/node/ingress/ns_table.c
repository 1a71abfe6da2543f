// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "node/ingress/ns_table.h"
#include "xwhisk/maps.h"

struct ns_table {
	pthread_mutex_t lock;           /* writers; names are published once and never freed */
	char *names[XW_MAX_NAMESPACES]; /* index 0 stays unused: it means "none" */
	uint64_t vouched_until[XW_MAX_NAMESPACES];
	FILE *file;                     /* append-only log of "index name" lines */
};

int ns_table_open(const char *path, struct ns_table **out)
{
	struct ns_table *t = calloc(1, sizeof(*t));
	char line[600];
	FILE *f;

	if (!t)
		return -ENOMEM;
	pthread_mutex_init(&t->lock, NULL);
	f = fopen(path, "r");
	if (f) {
		while (fgets(line, sizeof(line), f)) {
			char *sp = strchr(line, ' ');
			unsigned long idx = strtoul(line, NULL, 10);

			if (!sp || idx == 0 || idx >= XW_MAX_NAMESPACES)
				continue;
			sp[1 + strcspn(sp + 1, "\n")] = '\0';
			free(t->names[idx]);
			t->names[idx] = strdup(sp + 1);
		}
		fclose(f);
	}
	t->file = fopen(path, "a");
	if (!t->file) {
		int err = -errno;

		pr_err("ns_table: cannot open %s: %s", path, strerror(errno));
		ns_table_free(t);
		return err;
	}
	*out = t;
	return 0;
}

void ns_table_free(struct ns_table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < XW_MAX_NAMESPACES; i++)
		free(t->names[i]);
	if (t->file)
		fclose(t->file);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

int ns_table_index(struct ns_table *t, const char *name, uint32_t *out)
{
	uint32_t free_idx = 0;
	int err = 0;

	pthread_mutex_lock(&t->lock);
	for (uint32_t i = 1; i < XW_MAX_NAMESPACES; i++) {
		if (t->names[i] && !strcmp(t->names[i], name)) {
			*out = i;
			goto out;
		}
		if (!t->names[i] && !free_idx)
			free_idx = i;
	}
	if (!free_idx) {
		err = -ENOSPC;
		goto out;
	}
	{
		char *copy = strdup(name);

		if (!copy) {
			err = -ENOMEM;
			goto out;
		}
		/* Readers look without the lock: the string is whole before it shows. */
		__atomic_store_n(&t->names[free_idx], copy, __ATOMIC_RELEASE);
	}
	fprintf(t->file, "%u %s\n", free_idx, name);
	fflush(t->file);
	*out = free_idx;
out:
	pthread_mutex_unlock(&t->lock);
	return err;
}

/* On every authenticated request: no lock (an index's name never changes once set). */
int ns_table_name(struct ns_table *t, uint32_t idx, char *out, size_t size)
{
	const char *name;

	if (idx == 0 || idx >= XW_MAX_NAMESPACES)
		return -ENOENT;
	name = __atomic_load_n(&t->names[idx], __ATOMIC_ACQUIRE);
	if (!name)
		return -ENOENT;
	snprintf(out, size, "%s", name);
	return 0;
}

void ns_table_vouch(struct ns_table *t, uint32_t idx, uint64_t until_ms)
{
	if (idx == 0 || idx >= XW_MAX_NAMESPACES)
		return;
	pthread_mutex_lock(&t->lock);
	t->vouched_until[idx] = until_ms;
	pthread_mutex_unlock(&t->lock);
}

int ns_table_fresh(struct ns_table *t, const char *name, uint64_t now_ms, uint32_t *out)
{
	int err = -ENOENT;

	pthread_mutex_lock(&t->lock);
	for (uint32_t i = 1; i < XW_MAX_NAMESPACES; i++) {
		if (t->names[i] && !strcmp(t->names[i], name)) {
			if (t->vouched_until[i] > now_ms) {
				*out = i;
				err = 0;
			}
			break;
		}
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}
