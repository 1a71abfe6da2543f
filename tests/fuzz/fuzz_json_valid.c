// SPDX-License-Identifier: Apache-2.0
/*
 * json_text_valid (userspace/lib/json.c) against json_parse: the controller stores an
 * activation record's text as it came once json_text_valid accepted it, so it must
 * accept exactly what jansson does. And activation_skeleton, on what both accept: a
 * record's skeleton is judged by activation_check as its whole tree is, and makes the
 * same row.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "fuzz.h"
#include "json.h"
#include "store.h"

/* A row made from the skeleton is the row made from the whole tree. */
static void same_row(json_t *sk, json_t *j, const char *s, size_t size)
{
	struct activation_batch a = { 0 }, b = { 0 };

	if (!activation_batch_add(&a, sk, s, size) && !activation_batch_add(&b, j, s, size) &&
	    (a.rows[0].start != b.rows[0].start ||
	     strcmp(activation_row_text(&a, a.rows[0].id_at),
		    activation_row_text(&b, b.rows[0].id_at)) ||
	     strcmp(activation_row_text(&a, a.rows[0].namespace_at),
		    activation_row_text(&b, b.rows[0].namespace_at)) ||
	     strcmp(activation_row_text(&a, a.rows[0].filter_at),
		    activation_row_text(&b, b.rows[0].filter_at)) ||
	     strcmp(activation_row_text(&a, a.rows[0].summary_at),
		    activation_row_text(&b, b.rows[0].summary_at))))
		abort();
	activation_batch_free(&a);
	activation_batch_free(&b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* NUL-terminated, as the controller's lines are */
	char *s = malloc(size + 1);
	json_t *j, *sk;

	if (!s)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	j = json_parse(s, size, NULL, 0);
	if (!j != !json_text_valid(s, size))
		abort();
	sk = activation_skeleton(s, size);
	if (sk && !j)
		abort();
	if (sk && json_is_object(j)) {
		const char *a = activation_check(j), *b = activation_check(sk);

		if (!a != !b || (a && strcmp(a, b)))
			abort();
		if (!a)
			same_row(sk, j, s, size);
	}
	json_decref(sk);
	json_decref(j);
	free(s);
	return 0;
}
