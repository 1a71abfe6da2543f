/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Activation records of this node's activations, in OpenWhisk's stored form. A record is
 * written straight as JSON text (json_write.h), the form the spool keeps and the
 * controller reads; what listeners read most (id, status, the result's text) comes with
 * it, and a tree is parsed only for a listener that asks for one.
 */
#ifndef XWHISK_RECORD_H
#define XWHISK_RECORD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "activation.h"
#include "buf.h"
#include "node/activation/action_cache.h"
#include "node/ingress/identity.h"

struct invocation;

struct record {
	struct buf text;             /* the stored form: one compact JSON object, no newline */
	char activation_id[33];
	int status;                  /* response.statusCode */
	uint64_t duration_ms;
	size_t result_off, result_len; /* response.result's JSON within text */
	/* Where the response object lies in text, and its size member (0: none); response_len
	 * 0: not known (a record from a tree). */
	size_t response_off, response_len, size;
	json_t *result;              /* its tree: kept when one was at hand, else parsed */
	json_t *tree;                /* the whole record, parsed when asked for */
};

/* What a record says; the writer adds the constant parts. */
struct record_parts {
	const struct action_entry *action;
	const char *ns;               /* the invoker's: namespace and subject */
	const char *activation_id;
	uint64_t start_ms, end_ms;
	int status;
	const json_t *result;         /* the result as a tree, or */
	const char *result_json;      /* valid JSON on one line (a cached result, an answer) */
	size_t result_json_len;
	size_t size;                  /* response.size: what /run answered; 0: none */
	const json_t *logs;           /* an array of strings; NULL: [] */
	const char *kind;             /* the kind annotation; NULL: the action's */
	bool timing;                  /* the timeout and waitTime annotations */
	bool timed_out;
	uint64_t wait_ms;
	uint64_t init_ms;             /* the initTime annotation; 0: none */
	bool caused_by_sequence;
	bool cached;                  /* the cached annotation */
	const char *cause;            /* the enclosing sequence's activation; NULL or "": none */
};

/* Writes the record p describes into out (cleared first). 0 or -ENOMEM. */
int record_write(const struct record_parts *p, struct record *out);
/* out takes a record built as a tree (a sequence's, a trigger's): its text and fields. */
int record_from_tree(const json_t *tree, struct record *out);
void record_clear(struct record *r);
/* The result's tree, parsed on first use; NULL when out of memory. Owned by r. */
const json_t *record_result(struct record *r);
/* The whole record's tree, parsed on first use; NULL when out of memory. Owned by r. */
const json_t *record_tree(struct record *r);
/* Appends the record in the API's extended form (activation_extended) to out, from its
 * text where it can: no tree. 0 or a negative errno. */
int record_write_extended(struct record *r, struct buf *out);

/* The record of a finished primitive activation. */
int record_of_invocation(const struct invocation *inv, struct record *out);
/* The record an activation gets if its node stops before it ends (see spool_accept). */
int record_interrupted(const struct action_entry *action, const struct identity *who,
		       const char *activation_id, uint64_t start_ms, const char *kind,
		       struct record *out);
/* {"error": message}; message need not be UTF-8 (json_string_lossy). */
json_t *record_error(const char *message);
json_t *record_error_n(const char *message, size_t len);

#endif
