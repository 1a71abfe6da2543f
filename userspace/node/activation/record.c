// SPDX-License-Identifier: Apache-2.0
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "node/activation/record.h"

json_t *record_error(const char *message)
{
	return record_error_n(message, strlen(message));
}

json_t *record_error_n(const char *message, size_t len)
{
	/* Messages quote what an action answered, which need not be UTF-8: json_pack's "s"
	 * would give NULL, and the record no message at all. */
	return json_pack("{s:o}", "error", json_string_lossy(message, len));
}

json_t *record_interrupted(const struct action_entry *a, const struct identity *who,
			   const char *activation_id, uint64_t start_ms, const char *kind)
{
	json_t *anns = record_base_annotations(a);

	if (kind)
		json_kv_set(anns, "kind", json_string(kind));
	return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:{s:i,s:o},s:[],s:o,s:s,s:b}",
			 "namespace", who->ns, "name", a->name, "subject", who->ns, "activationId",
			 activation_id, "start", (json_int_t)start_ms, "end", (json_int_t)start_ms,
			 "duration", (json_int_t)0, "response", "statusCode", ACTIVATION_WHISK_ERROR,
			 "result",
			 record_error("The activation was interrupted: its node stopped before it "
				      "ended."),
			 "logs", "annotations", anns, "version", a->version, "publish", false);
}

json_t *record_base_annotations(const struct action_entry *a)
{
	json_t *anns = json_array(), *limits = json_object_get(a->doc, "limits");

	json_array_append_new(anns, json_pack("{s:s,s:s%}", "key", "path", "value", a->fqn + 1,
					      strlen(a->fqn + 1)));
	json_array_append_new(anns, json_pack("{s:s,s:s}", "key", "kind", "value", a->kind));
	json_array_append_new(anns, json_pack("{s:s,s:o}", "key", "limits", "value",
					      json_ref_or_object(limits)));
	if (a->binding)
		json_array_append_new(anns, json_pack("{s:s,s:s}", "key", "binding", "value",
						      a->binding));
	return anns;
}

json_t *record_of_invocation(const struct invocation *inv)
{
	const struct action_entry *a = inv->action;
	/* invocation_finish() has set both */
	uint64_t run_start = inv->start_ms, end = inv->end_ms;
	/* On a cold start the activation starts with /init, as OpenWhisk counts it. */
	uint64_t start = run_start - (inv->cold && inv->init_ms <= run_start ? inv->init_ms : 0);
	uint64_t wait = start > inv->received_ms ? start - inv->received_ms : 0;
	json_t *anns = record_base_annotations(a), *resp, *rec;

	json_array_append_new(anns, json_pack("{s:s,s:b}", "key", "timeout", "value",
					      inv->timed_out));
	json_array_append_new(anns, json_pack("{s:s,s:I}", "key", "waitTime", "value",
					      (json_int_t)wait));
	/* Only when an /init ran for it (a failed provisioning has none). */
	if (inv->cold && inv->init_ms)
		json_array_append_new(anns, json_pack("{s:s,s:I}", "key", "initTime", "value",
						      (json_int_t)inv->init_ms));
	if (inv->sequence_component)
		json_array_append_new(anns, json_pack("{s:s,s:s}", "key", "causedBy", "value",
						      "sequence"));
	resp = json_pack("{s:i,s:o}", "statusCode", inv->status, "result",
			 json_ref_or_object(inv->result));
	/* As OpenWhisk: the length of what /run answered; none when nothing did. */
	if (inv->result_size)
		json_object_set_new(resp, "size", json_integer((json_int_t)inv->result_size));
	rec = json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:o,s:o,s:o,s:s,s:b}", "namespace",
			inv->who.ns, "name", a->name, "subject", inv->who.ns, "activationId",
			inv->activation_id, "start", (json_int_t)start, "end", (json_int_t)end,
			"duration", (json_int_t)(end - start), "response", resp, "logs",
			json_ref_or_array(inv->logs), "annotations", anns, "version", a->version,
			"publish", false);
	if (inv->cause[0])
		json_object_set_new(rec, "cause", json_string(inv->cause));
	return rec;
}
