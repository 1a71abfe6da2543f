/* SPDX-License-Identifier: Apache-2.0 */
/* What the store backends share; API code includes store.h only. */
#ifndef XWHISK_STORE_BACKEND_H
#define XWHISK_STORE_BACKEND_H

#include <jansson.h>

#include "buf.h"
#include "store.h"

/*
 * The columns of an activation's row. The texts made for it (the name lists filter on:
 * "action" or "pkg/action"; the summary a list shows without docs=true; the document
 * when the record came without its text) are NUL-terminated in a scratch buffer, at
 * offsets rather than pointers, so that the buffer may grow while a batch's rows are
 * made: one buffer for a batch, no allocation per record.
 */
struct activation_row {
	const char *id, *namespace;
	json_int_t start;
	size_t filter_at, summary_at, doc_at;
	const char *doc; /* the record's own text, or NULL: at doc_at in the buffer */
};

/* Appends row's texts to scratch; -ENOMEM. */
int store_activation_row(const struct activation_in *rec, struct buf *scratch,
			 struct activation_row *row);

static inline const char *activation_row_filter(const struct activation_row *row,
						const struct buf *scratch)
{
	return scratch->data + row->filter_at;
}

static inline const char *activation_row_summary(const struct activation_row *row,
						 const struct buf *scratch)
{
	return scratch->data + row->summary_at;
}

static inline const char *activation_row_doc(const struct activation_row *row,
					     const struct buf *scratch)
{
	return row->doc ? row->doc : scratch->data + row->doc_at;
}

#endif
