/* SPDX-License-Identifier: Apache-2.0 */
/*
 * List-then-watch without losing the watch: while a resync's snapshot of the cluster's
 * pool is on its way, the event stream goes on and the node applies it. An event newer
 * than the snapshot (a removal, a drain, a lost node) must not be undone when the older
 * snapshot arrives and still lists the sandbox as warm. The window remembers, for each
 * sandbox and node an event named meanwhile, the newest version it carried.
 */
#ifndef XWHISK_RESYNC_WINDOW_H
#define XWHISK_RESYNC_WINDOW_H

#include <stdbool.h>
#include <stdint.h>

#include "json.h"

struct resync_window {
	unsigned pending; /* snapshots asked for and not answered yet */
	json_t *seen;     /* key → newest event version, while pending */
};

/* A snapshot was asked for: events from now on are noted (-ENOMEM when they cannot be). */
int resync_window_open(struct resync_window *w);
/* An event about key (a sandbox id, or resync_node_key()) with its version. */
void resync_window_note(struct resync_window *w, const char *key, uint64_t version);
/* Whether an event noted while the window was open is newer than the snapshot. */
bool resync_window_newer(const struct resync_window *w, const char *key,
			 uint64_t snapshot_version);
/* A snapshot was answered (or its request failed): the last one closes the window. */
void resync_window_close(struct resync_window *w);
void resync_window_free(struct resync_window *w);
/* The key of a node's events: "node/<index>". */
const char *resync_node_key(char *buf, size_t len, long long index);

#endif
