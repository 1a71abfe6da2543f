// SPDX-License-Identifier: Apache-2.0
/*
 * Entity JSON normalisation (controller/entity/): a PUT body's parameters, annotations,
 * exec, limits and version go through the functions the API uses. What comes out must
 * be what the store keeps: it is dumped and parsed back, and must read back equal —
 * nothing the API accepts may be unreadable afterwards (issue 11, item 1).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entity.h"
#include "entity_limits.h"
#include "fuzz.h"
#include "json.h"
#include "log.h"

static const struct runtimes *manifest(void)
{
	static struct runtimes *rt;

	if (!rt && runtimes_load("userspace/runtimes/runtimes.json", &rt)) {
		fprintf(stderr, "fuzz_entity: run from the source tree (no runtimes manifest)\n");
		abort();
	}
	return rt;
}

/* Dumped as the store writes it, read back as the store reads it: equal or abort. */
static void round_trip(const json_t *j)
{
	char *text;
	json_t *back;

	if (!j)
		return;
	text = json_dump(j);
	if (!text)
		return; /* out of memory, or a number jansson cannot print */
	back = json_parse(text, strlen(text), NULL, 0);
	if (!back || !json_equal(back, j)) {
		fprintf(stderr, "fuzz_entity: stored form does not read back: %.200s\n", text);
		abort();
	}
	json_decref(back);
	free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ns_limits ns;
	json_t *in, *params, *annots, *merged, *exec, *shown, *limits;
	const char *version;
	char err[512];
	int status = 0;

	log_set_level(LOG_LEVEL_ERR);
	in = json_parse((const char *)data, size, NULL, 0);
	if (!json_is_object(in))
		goto out;
	params = kv_array_normalize(json_object_get(in, "parameters"), true, "parameters", err,
				    sizeof(err));
	annots = kv_array_normalize(json_object_get(in, "annotations"), false, "annotations",
				    err, sizeof(err));
	merged = kv_array_merge(params, annots);
	round_trip(params);
	round_trip(annots);
	round_trip(merged);
	json_decref(params);
	json_decref(annots);
	json_decref(merged);

	exec = exec_normalize(manifest(), json_object_get(in, "exec"), "guest", &status, err,
			      sizeof(err));
	if (!exec && status != 400 && status != 413)
		abort();
	shown = exec ? exec_without_code(exec) : NULL;
	round_trip(exec);
	round_trip(shown);
	json_decref(shown);
	json_decref(exec);

	limits_effective(json_object_get(in, "namespaceLimits"), &ns);
	limits = action_limits_merge(json_object_get(in, "limits"), json_object_get(in, "old"),
				     &ns, err, sizeof(err));
	round_trip(limits);
	json_decref(limits);

	version = json_obj_str(in, "version");
	if (version && version_valid(version)) {
		char *next = version_bump(version);

		if (next && !version_valid(next))
			abort();
		free(next);
	}
	(void)json_size(in);
out:
	json_decref(in);
	return 0;
}
