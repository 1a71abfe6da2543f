// SPDX-License-Identifier: Apache-2.0
/* /namespaces/{ns}/triggers: create/update, get, list, delete. Firing is the node's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "entities.h"
#include "entity.h"
#include "json.h"
#include "entity_limits.h"

static void trigger_put(struct api_req *r, const char *name)
{
	bool overwrite = api_query_bool(r, "overwrite", false);
	struct entity_rec rec = { 0 }, old = { 0 };
	json_t *body = NULL, *doc = NULL, *params = NULL, *old_doc = NULL, *feed;
	bool exists;

	if (!api_own_namespace(r)) {
		api_error_forbidden(r);
		return;
	}
	body = api_body_object(r);
	if (!body)
		return;
	if (!api_put_load(r, ENTITY_TRIGGER, r->ns, name, overwrite, &rec, &old, &exists))
		goto out;
	old_doc = exists ? old.doc : NULL;
	params = api_put_parameters(r, body, old_doc, false);
	if (!params)
		goto out;
	doc = json_pack("{s:s,s:s}", "namespace", r->ns, "name", name);
	if (!api_common_fields(r, body, old_doc, doc, false))
		goto out;
	feed = json_kv_get(json_object_get(doc, "annotations"), "feed");
	if (feed) {
		struct fqn f;

		if (!json_is_string(feed) || fqn_parse(json_string_value(feed), r->ns, true, &f)) {
			api_error(r, 400, "Feed name is not valid");
			goto out;
		}
	}
	json_object_set(doc, "parameters", params);
	json_object_set_new(doc, "limits", json_object());
	if (json_object_get(old_doc, "rules"))
		json_object_set(doc, "rules", json_object_get(old_doc, "rules"));
	rec.doc = json_incref(doc);
	if (!api_entity_write(r, &rec, exists ? old.rev : 0))
		goto out;
	api_reply(r, 200, json_incref(doc));
out:
	json_decref(body);
	json_decref(doc);
	json_decref(params);
	entity_rec_clear(&rec);
	entity_rec_clear(&old);
}

static void trigger_get(struct api_req *r, const char *name)
{
	struct entity_rec rec;
	char docid[2 * NAME_MAX_LEN + 2];

	if (!api_own_namespace(r)) {
		api_error_forbidden(r);
		return;
	}
	snprintf(docid, sizeof(docid), "%s/%s", r->ns, name);
	if (!api_entity_load(r, docid, ENTITY_TRIGGER, &rec))
		return;
	api_reply(r, 200, json_incref(rec.doc));
	entity_rec_clear(&rec);
}

static void trigger_delete(struct api_req *r, const char *name)
{
	char docid[2 * NAME_MAX_LEN + 2];

	if (!api_own_namespace(r)) {
		api_error_forbidden(r);
		return;
	}
	snprintf(docid, sizeof(docid), "%s/%s", r->ns, name);
	api_entity_delete(r, docid, ENTITY_TRIGGER);
}

static void trigger_list(struct api_req *r)
{
	api_list_own(r, ENTITY_TRIGGER, "triggers");
}

/* Fires go to the node ingress: the controller only stores triggers. */
static void trigger_fire_elsewhere(struct api_req *r, const char *name)
{
	(void)name;
	api_error(r, 503, "Trigger fires are served by xwhisk-node on the node ingress.");
}

void api_triggers(struct api_req *r)
{
	static const struct api_collection triggers = {
		.list = trigger_list,
		.get = trigger_get,
		.put = trigger_put,
		.del = trigger_delete,
		.post = trigger_fire_elsewhere,
		.allowed = "GET, PUT, DELETE, POST",
	};

	api_route_collection(r, &triggers);
}
