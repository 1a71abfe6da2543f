/* SPDX-License-Identifier: Apache-2.0 */
/*
 * An activation's log lines, as the node's manager (from a sandbox's pipes) and
 * xwhisk-proxy (from the action's own pipes, answered in band) both cut them: each line
 * stamped and formatted as OpenWhisk does ("%-30s %s: %s", an RFC 3339 nanosecond
 * timestamp, stdout or stderr), a segment ended by the sentinel on both streams, kept up
 * to the first line past the action's limit, cut there with OpenWhisk's note.
 *
 * In band: a /run (or /init) carrying "X-Xwhisk-Logs: <limit bytes>" is answered by an
 * xwhisk-proxy with "X-Xwhisk-Logs: <n>": the first n bytes of the body are the
 * activation's log lines, each ended by "\n" (no line holds one); the rest is the
 * runtime's answer, byte for byte. An answer without the header carries no logs (a
 * server that is not an xwhisk-proxy): its logs come through the sandbox's pipes.
 */
#ifndef XWHISK_LIB_ACTLOGS_H
#define XWHISK_LIB_ACTLOGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "http.h"
#include "json.h"

#define ACTLOGS_HEADER "X-Xwhisk-Logs"
/* Streams, as the file descriptors. */
#define ACTLOGS_STDOUT 1
#define ACTLOGS_STDERR 2

/* OpenWhisk's notes (its log store adds them as stderr lines). */
#define ACTLOGS_MSG_LATE "There was an issue while collecting your logs. Data might be missing."
#define ACTLOGS_MSG_DIED \
	"The action did not initialize or run as expected. Log data might be missing."

/* The lines of the segment being cut. Zeroed is empty. */
struct actlogs_seg {
	json_t *lines;
	size_t bytes;       /* of lines: past the limit the rest is dropped */
	unsigned sentinels; /* seen of the pair that ends it */
};

/* Stamps (ts_ns, wall clock) and keeps one line, up to the first line past limit
 * bytes (actlogs_cut() cuts there and says so); limit 0 keeps nothing. */
void actlogs_add(struct actlogs_seg *s, uint64_t limit, int stream, const char *line,
		 size_t len, uint64_t ts_ns);
/* One sentinel line: true when it completes the pair, ending the segment. */
bool actlogs_sentinel(struct actlogs_seg *s);
/* The segment's lines (an array; NULL only out of memory); the next segment starts. */
json_t *actlogs_take(struct actlogs_seg *s);
void actlogs_seg_free(struct actlogs_seg *s);

/* The text of a line actlogs_add() stamped, and its stream (to pass it on unstamped). */
const char *actlogs_raw(const json_t *line, int *stream, size_t *len);
/* A line the platform adds, stamped now, formatted as every other ("... stderr: text"). */
json_t *actlogs_note(const char *text);
/* Cuts lines to limit bytes (0: no limit) with OpenWhisk's "Logs were truncated" note. */
void actlogs_cut(json_t *lines, uint64_t limit);

/* Appends lines to out in band: each line and "\n". */
int actlogs_encode(const json_t *lines, struct buf *out);
/* The lines of len bytes in band (an unfinished last line counts too). */
json_t *actlogs_decode(const char *data, size_t len);
/* A header value (a decimal count of bytes): -1 when absent or not a number. */
long long actlogs_header_value(const char *v);
/* The most bytes the logs of an answer asked for with limit take (lines of at least a
 * timestamp each, their newlines, the notes). */
size_t actlogs_answer_room(uint64_t limit);
/* The bytes of an answer's logs in band, before the runtime's answer: -1 for an answer
 * without, or one whose logs take more than max bytes (a client that bounds the body keeps
 * max past what it keeps of the result: a longer count would leave it less of the result
 * than it counts on). */
long long actlogs_in_band(const struct http_response *resp, size_t max);
/* Their lines, *skip their bytes; NULL (and *skip 0) where actlogs_in_band says -1. */
json_t *actlogs_from_answer(const struct http_response *resp, size_t max, size_t *skip);

#endif
