// SPDX-License-Identifier: Apache-2.0
/*
 * /namespaces/{ns}/rules. A rule's status lives in its trigger's "rules" map (as in
 * OpenWhisk), so rule writes and trigger writes happen in one store transaction.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "entities.h"
#include "entity.h"
#include "json.h"

/* A reference as a string "/ns[/pkg]/name" or an object {path, name}. */
static int parse_ref(const json_t *v, const char *ns, struct fqn *out)
{
	char buf[4 * NAME_MAX_LEN];

	if (json_is_string(v))
		return fqn_parse(json_string_value(v), ns, true, out);
	if (json_is_object(v) && json_obj_str(v, "path") && json_obj_str(v, "name")) {
		snprintf(buf, sizeof(buf), "%s/%s", json_obj_str(v, "path"), json_obj_str(v, "name"));
		return fqn_parse(buf, ns, false, out);
	}
	return -EINVAL;
}

static json_t *ref_json(const struct fqn *f)
{
	char path[2 * NAME_MAX_LEN + 2];

	if (f->pkg[0])
		snprintf(path, sizeof(path), "%s/%s", f->ns, f->pkg);
	else
		snprintf(path, sizeof(path), "%s", f->ns);
	return json_pack("{s:s,s:s}", "path", path, "name", f->name);
}

static void ref_docid(const json_t *ref, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", json_obj_str(ref, "path") ?: "", json_obj_str(ref, "name") ?: "");
}

/* "ns/rule": the key of a rule in its trigger's map. */
static void rule_key(struct api_req *r, const char *name, char *out, size_t size)
{
	snprintf(out, size, "%s/%s", r->ns, name);
}

static const char *rule_status(struct api_req *r, const json_t *rule_doc, const char *name)
{
	char docid[3 * NAME_MAX_LEN], key[2 * NAME_MAX_LEN + 2];
	struct entity_rec trig;
	const char *status = "inactive";

	ref_docid(json_object_get(rule_doc, "trigger"), docid, sizeof(docid));
	rule_key(r, name, key, sizeof(key));
	if (entity_fetch(r->st, docid, ENTITY_TRIGGER, &trig))
		return status;
	if (!strcmp(json_obj_str(json_object_get(json_object_get(trig.doc, "rules"), key),
				 "status") ?: "",
		    "active"))
		status = "active";
	entity_rec_clear(&trig);
	return status;
}

/* Sets (entry != NULL) or removes the rule's entry in a trigger's map. */
static int trigger_set_rule(struct api_req *r, const char *trigger_docid, const char *key,
			    json_t *entry)
{
	struct entity_rec trig;
	json_t *rules;
	int err = entity_fetch(r->st, trigger_docid, ENTITY_TRIGGER, &trig);

	if (err) {
		json_decref(entry);
		return err;
	}
	rules = json_object_get(trig.doc, "rules");
	if (!json_is_object(rules)) {
		rules = json_object();
		json_object_set_new(trig.doc, "rules", rules);
	}
	if (entry)
		json_object_set_new(rules, key, entry);
	else
		json_object_del(rules, key);
	trig.summary = entity_summary(ENTITY_TRIGGER, trig.doc);
	err = r->st->ops->entity_put(r->st, &trig, trig.rev);
	entity_rec_clear(&trig);
	return err;
}

/*
 * A PUT's trigger and action (the body's, else the old rule's), into *tf and *af: the
 * trigger one of the caller's, the action one it may invoke, both existing. False after
 * replying.
 */
static bool rule_refs_check(struct api_req *r, const json_t *body, const json_t *old_doc,
			    struct fqn *tf, struct fqn *af)
{
	json_t *tv = json_object_get(body, "trigger"), *av = json_object_get(body, "action");
	struct entity_rec trig;
	struct resolved_action ra;
	char tdocid[3 * NAME_MAX_LEN], label[4 * NAME_MAX_LEN];
	int rc;

	if (!tv || json_is_null(tv))
		tv = json_object_get(old_doc, "trigger");
	if (!av || json_is_null(av))
		av = json_object_get(old_doc, "action");
	if (!tv || !av || parse_ref(tv, r->ns, tf) || parse_ref(av, r->ns, af) || tf->pkg[0]) {
		api_error(r, 400, "rule requires a valid trigger and a valid action");
		return false;
	}
	if (strcmp(tf->ns, r->subject.namespace)) {
		api_error_forbidden(r);
		return false;
	}
	fqn_docid(tf, tdocid, sizeof(tdocid));
	rc = entity_fetch(r->st, tdocid, ENTITY_TRIGGER, &trig);
	if (rc == -ENOENT || rc == -EMEDIUMTYPE) {
		fqn_format(tf, label, sizeof(label));
		api_error(r, 400, "trigger %s does not exist", label);
		return false;
	}
	if (rc) {
		api_error_store(r, rc);
		return false;
	}
	entity_rec_clear(&trig);
	rc = action_resolve(r->st, r->subject.namespace, af, &ra);
	if (rc == -EACCES) {
		api_error_forbidden(r);
		return false;
	}
	if (rc) {
		fqn_format(af, label, sizeof(label));
		if (rc == -ENOENT || rc == -EMEDIUMTYPE)
			api_error(r, 400, "action %s does not exist", label);
		else
			api_error_store(r, rc);
		return false;
	}
	resolved_action_clear(&ra);
	return true;
}

static void rule_put(struct api_req *r, const char *name)
{
	bool overwrite = api_query_bool(r, "overwrite", false);
	struct entity_rec rec = { 0 }, old = { 0 };
	json_t *body = NULL, *doc = NULL, *old_doc = NULL, *tref = NULL, *aref = NULL;
	char tdocid[3 * NAME_MAX_LEN], old_tdocid[3 * NAME_MAX_LEN] = "";
	char key[2 * NAME_MAX_LEN + 2];
	const char *status = "active";
	struct fqn tf, af;
	bool exists, in_txn = false;
	int rc;

	if (!api_own_namespace(r)) {
		api_error_forbidden(r);
		return;
	}
	body = api_body_object(r);
	if (!body)
		return;
	if (!api_put_load(r, ENTITY_RULE, r->ns, name, overwrite, &rec, &old, &exists))
		goto out;
	old_doc = exists ? old.doc : NULL;
	if (!rule_refs_check(r, body, old_doc, &tf, &af))
		goto out;
	fqn_docid(&tf, tdocid, sizeof(tdocid));
	tref = ref_json(&tf);
	aref = ref_json(&af);
	rule_key(r, name, key, sizeof(key));
	if (old_doc) {
		ref_docid(json_object_get(old_doc, "trigger"), old_tdocid, sizeof(old_tdocid));
		status = rule_status(r, old_doc, name);
	}

	doc = json_pack("{s:s,s:s}", "namespace", r->ns, "name", name);
	if (!api_common_fields(r, body, old_doc, doc, false))
		goto out;
	json_object_set(doc, "trigger", tref);
	json_object_set(doc, "action", aref);

	rc = r->st->ops->begin(r->st);
	if (rc) {
		api_error_store(r, rc);
		goto out;
	}
	in_txn = true;
	rec.doc = json_incref(doc);
	if (!api_entity_write(r, &rec, exists ? old.rev : 0))
		goto out;
	if (old_tdocid[0] && strcmp(old_tdocid, tdocid)) {
		rc = trigger_set_rule(r, old_tdocid, key, NULL);
		if (rc && rc != -ENOENT && rc != -EMEDIUMTYPE) {
			api_error_store(r, rc);
			goto out;
		}
	}
	rc = trigger_set_rule(r, tdocid, key,
			      json_pack("{s:O,s:s}", "action", aref, "status", status));
	if (rc) {
		api_error_store(r, rc);
		goto out;
	}
	rc = r->st->ops->commit(r->st);
	in_txn = false;
	if (rc) {
		api_error_store(r, rc);
		goto out;
	}
	json_object_set_new(doc, "status", json_string(status));
	api_reply(r, 200, json_incref(doc));
out:
	if (in_txn)
		r->st->ops->rollback(r->st);
	json_decref(body);
	json_decref(doc);
	json_decref(tref);
	json_decref(aref);
	entity_rec_clear(&rec);
	entity_rec_clear(&old);
}

static bool load_rule(struct api_req *r, const char *name, struct entity_rec *rec)
{
	char docid[2 * NAME_MAX_LEN + 2];

	if (!api_own_namespace(r)) {
		api_error_forbidden(r);
		return false;
	}
	snprintf(docid, sizeof(docid), "%s/%s", r->ns, name);
	return api_entity_load(r, docid, ENTITY_RULE, rec);
}

static void rule_get(struct api_req *r, const char *name)
{
	struct entity_rec rec;
	json_t *doc;

	if (!load_rule(r, name, &rec))
		return;
	doc = json_deep_copy(rec.doc);
	json_object_set_new(doc, "status", json_string(rule_status(r, rec.doc, name)));
	entity_rec_clear(&rec);
	api_reply(r, 200, doc);
}

static void rule_delete(struct api_req *r, const char *name)
{
	char tdocid[3 * NAME_MAX_LEN], key[2 * NAME_MAX_LEN + 2];
	struct entity_rec rec;
	json_t *doc;
	int err;

	if (!load_rule(r, name, &rec))
		return;
	ref_docid(json_object_get(rec.doc, "trigger"), tdocid, sizeof(tdocid));
	rule_key(r, name, key, sizeof(key));
	err = r->st->ops->begin(r->st);
	if (err)
		goto fail;
	err = trigger_set_rule(r, tdocid, key, NULL);
	if (err == -ENOENT || err == -EMEDIUMTYPE)
		err = 0;
	if (!err)
		err = r->st->ops->entity_delete(r->st, rec.docid, rec.rev);
	if (err) {
		r->st->ops->rollback(r->st);
		goto fail;
	}
	err = r->st->ops->commit(r->st);
	if (err)
		goto fail;
	doc = json_deep_copy(rec.doc);
	json_object_set_new(doc, "status", json_string("inactive"));
	api_reply(r, 200, doc);
	entity_rec_clear(&rec);
	return;
fail:
	api_error_store(r, err);
	entity_rec_clear(&rec);
}

static void rule_set_state(struct api_req *r, const char *name)
{
	char tdocid[3 * NAME_MAX_LEN], key[2 * NAME_MAX_LEN + 2];
	struct entity_rec rec;
	const char *status;
	json_t *body;
	int err;

	body = api_body_object(r);
	if (!body)
		return;
	status = json_obj_str(body, "status");
	if (!status || (strcmp(status, "active") && strcmp(status, "inactive"))) {
		char shown[128];
		json_t *sv = json_object_get(body, "status");
		char *dumped = sv ? json_dump(sv) : NULL;

		snprintf(shown, sizeof(shown), "%s",
			 status ? status : dumped ? dumped : "");
		free(dumped);
		api_error(r, 400,
			  "'%s' is not a recognized rule state, must be one of ['active', "
			  "'inactive']",
			  shown);
		json_decref(body);
		return;
	}
	if (!load_rule(r, name, &rec)) {
		json_decref(body);
		return;
	}
	ref_docid(json_object_get(rec.doc, "trigger"), tdocid, sizeof(tdocid));
	rule_key(r, name, key, sizeof(key));
	err = trigger_set_rule(r, tdocid, key,
			       json_pack("{s:O,s:s}", "action", json_object_get(rec.doc, "action"),
					 "status", status));
	if (err == -ENOENT || err == -EMEDIUMTYPE)
		api_error(r, 404, "Only rules with existing triggers can be activated");
	else if (err)
		api_error_store(r, err);
	else
		api_reply_raw(r, 200, "text/plain; charset=UTF-8", "OK", 2);
	json_decref(body);
	entity_rec_clear(&rec);
}

static void rule_list(struct api_req *r)
{
	api_list_own(r, ENTITY_RULE, "rules");
}

void api_rules(struct api_req *r)
{
	static const struct api_collection rules = {
		.list = rule_list,
		.get = rule_get,
		.put = rule_put,
		.del = rule_delete,
		.post = rule_set_state,
		.allowed = "GET, PUT, DELETE, POST",
	};

	api_route_collection(r, &rules);
}
