// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "digest.h"
#include "json.h"
#include "node/activation/cached_result.h"
#include "node/activation/record.h"

int cached_result_key(const struct action_entry *action, const json_t *params,
		      uint8_t key[RESULT_KEY_LEN])
{
	char prefix[16] = "invoke:";
	/* Sorted: {"a":1,"b":2} and {"b":2,"a":1} are the same request. */
	char *text = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	int err;

	if (!text)
		return -ENOMEM;
	memcpy(prefix + 8, &action->id, sizeof(action->id));
	err = sha256_digest2(prefix, sizeof(prefix), text, strlen(text), key);
	free(text);
	return err;
}

unsigned cached_result_take_ttl(json_t *result)
{
	json_t *asked = json_object_get(result, "__ow_cache");
	json_t *ttl = json_object_get(asked, "ttl");
	json_int_t s = json_is_integer(ttl) ? json_integer_value(ttl) : 0;

	if (!asked)
		return 0;
	/* Stripped whatever it says: the key is the platform's, never part of an answer. */
	json_object_del(result, "__ow_cache");
	if (s <= 0)
		return 0;
	return s > CACHED_TTL_MAX_S ? CACHED_TTL_MAX_S : (unsigned)s;
}

int cached_result_record(const struct action_entry *a, const struct identity *who,
			 const char *activation_id, int status, const json_t *result,
			 const char *result_json, size_t result_len, uint64_t start_ms,
			 uint64_t end_ms, struct record *out)
{
	return record_write(&(struct record_parts){
				    .action = a,
				    .ns = who->ns,
				    .activation_id = activation_id,
				    .start_ms = start_ms,
				    .end_ms = end_ms,
				    .status = status,
				    .result = result,
				    .result_json = result_json,
				    .result_json_len = result_len,
				    .timing = true,
				    .cached = true,
			    },
			    out);
}
