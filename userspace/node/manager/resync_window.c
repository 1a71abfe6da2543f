// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>

#include "node/manager/resync_window.h"

int resync_window_open(struct resync_window *w)
{
	if (!w->seen) {
		w->seen = json_object();
		if (!w->seen)
			return -ENOMEM;
	}
	w->pending++;
	return 0;
}

void resync_window_note(struct resync_window *w, const char *key, uint64_t version)
{
	json_t *v;

	if (!w->pending || !w->seen || !key)
		return;
	v = json_object_get(w->seen, key);
	if (!v || (uint64_t)json_integer_value(v) < version)
		json_object_set_new(w->seen, key, json_integer((json_int_t)version));
}

bool resync_window_newer(const struct resync_window *w, const char *key,
			 uint64_t snapshot_version)
{
	json_t *v = w->seen && key ? json_object_get(w->seen, key) : NULL;

	return v && (uint64_t)json_integer_value(v) > snapshot_version;
}

void resync_window_close(struct resync_window *w)
{
	if (w->pending && --w->pending == 0)
		json_object_clear(w->seen);
}

void resync_window_free(struct resync_window *w)
{
	json_decref(w->seen);
	w->seen = NULL;
	w->pending = 0;
}

const char *resync_node_key(char *buf, size_t len, long long index)
{
	snprintf(buf, len, "node/%lld", index);
	return buf;
}
