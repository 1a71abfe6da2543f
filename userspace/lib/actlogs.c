// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "actlogs.h"
#include "util.h"

/* OpenWhisk's "%-30s %s: %s" of the Docker timestamp, the stream and the line. */
static json_t *format_line(uint64_t ts_ns, int stream, const char *line, size_t len)
{
	char stamp[40];
	struct buf b = BUF_INIT;
	json_t *s;

	format_rfc3339_nano(stamp, sizeof(stamp), ts_ns);
	buf_printf(&b, "%-30s %s: ", stamp, stream == ACTLOGS_STDERR ? "stderr" : "stdout");
	buf_append(&b, line, len);
	/* A line need not be UTF-8: kept, as the JVM would decode it. */
	s = json_string_lossy(b.data ? b.data : "", b.len);
	buf_free(&b);
	return s;
}

void actlogs_add(struct actlogs_seg *s, uint64_t limit, int stream, const char *line,
		 size_t len, uint64_t ts_ns)
{
	json_t *l;

	if (!limit || s->bytes > limit)
		return;
	if (!s->lines)
		s->lines = json_array();
	l = format_line(ts_ns, stream, line, len);
	if (!l)
		return;
	s->bytes += json_string_length(l);
	json_array_append_new(s->lines, l);
}

bool actlogs_sentinel(struct actlogs_seg *s)
{
	return ++s->sentinels >= 2;
}

json_t *actlogs_take(struct actlogs_seg *s)
{
	json_t *lines = s->lines ? s->lines : json_array();

	s->lines = NULL;
	s->bytes = 0;
	s->sentinels = 0;
	return lines;
}

void actlogs_seg_free(struct actlogs_seg *s)
{
	json_decref(s->lines);
	*s = (struct actlogs_seg){ 0 };
}

/* "<30 columns of timestamp> stdout: " */
#define PREFIX_LEN (30 + 1 + 6 + 2)

const char *actlogs_raw(const json_t *line, int *stream, size_t *len)
{
	const char *s = json_string_value(line);
	size_t n = json_string_length(line);

	if (!s || n < PREFIX_LEN) {
		*stream = ACTLOGS_STDOUT;
		*len = n;
		return s ? s : "";
	}
	*stream = !strncmp(s + 31, "stderr", 6) ? ACTLOGS_STDERR : ACTLOGS_STDOUT;
	*len = n - PREFIX_LEN;
	return s + PREFIX_LEN;
}

json_t *actlogs_note(const char *text)
{
	return format_line(clock_real_ns(), ACTLOGS_STDERR, text, strlen(text));
}

void actlogs_cut(json_t *lines, uint64_t limit)
{
	uint64_t total = 0;
	size_t i;
	json_t *l;

	json_array_foreach(lines, i, l) {
		total += json_string_length(l);
		if (limit && total > limit) {
			char msg[160];

			while (json_array_size(lines) > i)
				json_array_remove(lines, i);
			snprintf(msg, sizeof(msg),
				 "Logs were truncated because the total bytes size exceeds the "
				 "limit of %llu bytes.",
				 (unsigned long long)limit);
			json_array_append_new(lines, actlogs_note(msg));
			break;
		}
	}
}

int actlogs_encode(const json_t *lines, struct buf *out)
{
	size_t i;
	json_t *l;
	int err = 0;

	json_array_foreach(lines, i, l) {
		err |= buf_append(out, json_string_value(l), json_string_length(l));
		err |= buf_append(out, "\n", 1);
	}
	return err ? -ENOMEM : 0;
}

json_t *actlogs_decode(const char *data, size_t len)
{
	json_t *lines = json_array();

	while (lines && len) {
		const char *nl = memchr(data, '\n', len);
		size_t n = nl ? (size_t)(nl - data) : len;

		json_array_append_new(lines, json_string_lossy(data, n));
		n += nl ? 1 : 0;
		data += n;
		len -= n;
	}
	return lines;
}

long long actlogs_header_value(const char *v)
{
	char *end;
	long long n;

	if (!v || *v < '0' || *v > '9')
		return -1;
	errno = 0;
	n = strtoll(v, &end, 10);
	return errno || *end ? -1 : n;
}

size_t actlogs_answer_room(uint64_t limit)
{
	return (size_t)(limit + limit / 16 + 4096);
}

long long actlogs_in_band(const struct http_response *resp, size_t max)
{
	long long n = actlogs_header_value(
		http_header_get(resp->headers, resp->nheaders, ACTLOGS_HEADER));

	if (n < 0 || (unsigned long long)n > max)
		return -1;
	/* More than the body holds: a broken answer, whose result will not parse either. */
	return (size_t)n > resp->body.len ? (long long)resp->body.len : n;
}

json_t *actlogs_from_answer(const struct http_response *resp, size_t max, size_t *skip)
{
	long long n = actlogs_in_band(resp, max);

	*skip = n < 0 ? 0 : (size_t)n;
	return n < 0 ? NULL : actlogs_decode(resp->body.data, (size_t)n);
}
