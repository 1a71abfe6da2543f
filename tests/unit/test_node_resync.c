// SPDX-License-Identifier: Apache-2.0
/* The resync window: events that arrive while a snapshot is fetched win over it. */
#include "node/manager/resync_window.h"
#include "test.h"

static void test_only_newer_events_win(void)
{
	struct resync_window w = { 0 };
	char key[32];

	/* Closed: nothing is noted. */
	resync_window_note(&w, "sb1", 50);
	CHECK(!resync_window_newer(&w, "sb1", 10));
	ASSERT(resync_window_open(&w) == 0);
	resync_window_note(&w, "sb1", 12); /* removed at version 12 */
	resync_window_note(&w, "sb2", 8);  /* older than the snapshot: the snapshot wins */
	resync_window_note(&w, resync_node_key(key, sizeof(key), 3), 11);
	resync_window_note(&w, "sb1", 9); /* out of order: the newest stays */
	CHECK(resync_window_newer(&w, "sb1", 10));
	CHECK(!resync_window_newer(&w, "sb1", 12));
	CHECK(!resync_window_newer(&w, "sb2", 10));
	CHECK(!resync_window_newer(&w, "sb3", 10));
	CHECK(resync_window_newer(&w, resync_node_key(key, sizeof(key), 3), 10));
	CHECK_STR(key, "node/3");
	resync_window_close(&w);
	CHECK(!resync_window_newer(&w, "sb1", 10));
	resync_window_free(&w);
}

static void test_overlapping_resyncs_keep_notes_until_the_last(void)
{
	struct resync_window w = { 0 };

	ASSERT(resync_window_open(&w) == 0);
	resync_window_note(&w, "sb1", 20);
	ASSERT(resync_window_open(&w) == 0); /* a second resync before the first answer */
	resync_window_close(&w);             /* the first snapshot applied */
	CHECK(resync_window_newer(&w, "sb1", 15)); /* the second, as old, must not undo it */
	resync_window_close(&w);
	CHECK(!resync_window_newer(&w, "sb1", 15));
	resync_window_close(&w); /* one too many: harmless */
	resync_window_free(&w);
}

int main(void)
{
	RUN(test_only_newer_events_win);
	RUN(test_overlapping_resyncs_keep_notes_until_the_last);
	TEST_EXIT();
}
