// SPDX-License-Identifier: Apache-2.0
/*
 * The event-stream reader (userspace/node/manager/event_watch.c): the controller's NDJSON
 * stream cut into lines and read as events, in pieces as the client hands them over (the
 * first byte sets the piece size). The watch never connects: the loop is not run.
 */
#include <stdlib.h>

#include "fuzz.h"
#include "json.h"
#include "log.h"
#include "node/manager/event_watch.h"

static void on_event(const json_t *ev, void *data)
{
	unsigned long *n = data;
	const char *type = json_obj_str(ev, "type");

	/* What on_event and pool_event read first. */
	if (type && json_obj_str(ev, "docid") && json_obj_str(ev, "op"))
		(*n)++;
	if (json_is_object(json_object_get(ev, "sandbox")))
		(*n)++;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct loop *loop;
	struct event_watch *ew;
	unsigned long events = 0;
	size_t step, off = 1;

	if (!size)
		return 0;
	if (!loop) {
		log_set_level(LOG_LEVEL_ERR);
		loop = loop_new();
		if (!loop)
			abort();
	}
	ew = event_watch_new(loop, NULL, on_event, &events);
	if (!ew)
		abort();
	step = data[0] ? data[0] : size;
	while (off < size) {
		size_t n = size - off < step ? size - off : step;

		event_watch_feed(ew, (const char *)data + off, n);
		off += n;
	}
	event_watch_free(ew);
	return 0;
}
