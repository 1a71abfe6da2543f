// SPDX-License-Identifier: Apache-2.0
/* /namespaces/{ns}/packages: packages and bindings to (possibly shared) packages. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "entities.h"
#include "entity.h"
#include "json.h"
#include "entity_limits.h"

/* Adds "actions" and "feeds" (actions annotated with feed) of the package at path. */
static bool add_contents(struct api_req *r, json_t *doc, const char *path)
{
	struct entity_query q = { .type = ENTITY_ACTION, .path = path, .limit = 0 };
	json_t *list = NULL, *actions = json_array(), *feeds = json_array(), *a;
	size_t i;
	int err;

	err = r->st->ops->entity_list(r->st, &q, &list);
	if (err) {
		json_decref(actions);
		json_decref(feeds);
		api_error_store(r, err);
		return false;
	}
	json_array_foreach(list, i, a) {
		json_t *item = json_pack("{s:O,s:O,s:O}", "name", json_object_get(a, "name"),
					 "version", json_object_get(a, "version"), "annotations",
					 json_object_get(a, "annotations"));

		json_array_append_new(json_kv_get(json_object_get(a, "annotations"), "feed") ? feeds
											     : actions,
				      item);
	}
	json_decref(list);
	json_object_set_new(doc, "actions", actions);
	json_object_set_new(doc, "feeds", feeds);
	return true;
}

static void package_get(struct api_req *r, const char *name)
{
	struct entity_rec rec, target = { 0 };
	char docid[2 * NAME_MAX_LEN + 2];
	json_t *doc;

	snprintf(docid, sizeof(docid), "%s/%s", r->ns, name);
	if (!api_package_load(r, docid, &rec))
		return;
	doc = json_deep_copy(rec.doc);
	if (rec.binding) {
		json_t *b = json_object_get(rec.doc, "binding");

		snprintf(docid, sizeof(docid), "%s/%s", json_obj_str(b, "namespace") ?: "",
			 json_obj_str(b, "name") ?: "");
		if (!api_package_load(r, docid, &target))
			goto out;
		json_object_set_new(doc, "parameters",
				    kv_array_merge(json_object_get(target.doc, "parameters"),
						   json_object_get(rec.doc, "parameters")));
	}
	if (!add_contents(r, doc, docid))
		goto out;
	api_reply(r, 200, doc);
	doc = NULL;
out:
	json_decref(doc);
	entity_rec_clear(&rec);
	entity_rec_clear(&target);
}

/* Validates the binding of a PUT; returns the normalized {namespace,name} or {} or NULL. */
static json_t *check_binding(struct api_req *r, const json_t *given, const char *self_docid)
{
	const char *bns = json_obj_str(given, "namespace"), *bname = json_obj_str(given, "name");
	char docid[2 * NAME_MAX_LEN + 2];
	struct entity_rec target;
	int err;

	if (!given || json_is_null(given) || (json_is_object(given) && !json_object_size(given)))
		return json_object();
	if (!json_is_object(given) || !bns || !bname || !name_valid(bname) ||
	    (strcmp(bns, "_") && !namespace_valid(bns))) {
		api_error(r, 400, "The request content was malformed:\nbinding must be "
				  "{\"namespace\": ..., \"name\": ...}");
		return NULL;
	}
	if (!strcmp(bns, "_"))
		bns = r->ns;
	snprintf(docid, sizeof(docid), "%s/%s", bns, bname);
	if (!strcmp(docid, self_docid)) {
		api_error(r, 422, "A package binding may not refer to itself.");
		return NULL;
	}
	/* READ on the referenced package comes first, so another namespace's missing
	 * package, binding or other entity is 403, as in OpenWhisk. */
	err = package_fetch_readable(r->st, r->subject.namespace, docid, &target);
	if (err == -EACCES) {
		api_error_forbidden(r);
		return NULL;
	}
	if (err == -ENOENT) {
		api_error(r, 400, "Binding references a package that does not exist.");
		return NULL;
	}
	if (err == -EMEDIUMTYPE) {
		api_error(r, 409, "Cannot bind to a resource that is not a package.");
		return NULL;
	}
	if (err) {
		api_error_store(r, err);
		return NULL;
	}
	if (target.binding) {
		entity_rec_clear(&target);
		api_error(r, 400, "Cannot bind to another package binding.");
		return NULL;
	}
	entity_rec_clear(&target);
	return json_pack("{s:s,s:s}", "namespace", bns, "name", bname);
}

static void package_put(struct api_req *r, const char *name)
{
	bool overwrite = api_query_bool(r, "overwrite", false);
	struct entity_rec rec = { 0 }, old = { 0 };
	json_t *body = NULL, *doc = NULL, *binding = NULL, *params = NULL, *old_doc = NULL;
	bool exists;

	if (!api_own_namespace(r)) {
		api_error_forbidden(r);
		return;
	}
	if (!strcmp(name, "default")) {
		api_error(r, 400, "Package name 'default' is reserved.");
		return;
	}
	body = api_body_object(r);
	if (!body)
		return;
	if (!api_put_load(r, ENTITY_PACKAGE, r->ns, name, overwrite, &rec, &old, &exists))
		goto out;
	old_doc = exists ? old.doc : NULL;
	if (json_object_get(body, "binding")) {
		binding = check_binding(r, json_object_get(body, "binding"), rec.docid);
		if (!binding)
			goto out;
		if (exists && !old.binding && json_object_size(binding)) {
			api_error(r, 409, "Resource is a package and cannot be converted into a "
					  "binding.");
			goto out;
		}
	} else {
		binding = json_object_get(old_doc, "binding");
		binding = binding ? json_deep_copy(binding) : json_object();
	}
	params = api_put_parameters(r, body, old_doc, false);
	if (!params)
		goto out;
	doc = json_pack("{s:s,s:s,s:O}", "namespace", r->ns, "name", name, "binding", binding);
	if (!api_common_fields(r, body, old_doc, doc, false))
		goto out;
	if (json_object_size(binding))
		json_kv_set(json_object_get(doc, "annotations"), "binding", json_incref(binding));
	else
		json_kv_del(json_object_get(doc, "annotations"), "binding");
	json_object_set(doc, "parameters", params);
	rec.doc = json_incref(doc);
	if (!api_entity_write(r, &rec, exists ? old.rev : 0))
		goto out;
	api_reply(r, 200, json_incref(doc));
out:
	json_decref(body);
	json_decref(doc);
	json_decref(binding);
	json_decref(params);
	entity_rec_clear(&rec);
	entity_rec_clear(&old);
}

static void package_delete(struct api_req *r, const char *name)
{
	struct entity_query q = { .type = ENTITY_ACTION };
	struct entity_rec rec;
	json_t *contents = NULL, *a;
	int64_t n = 0;
	size_t i;
	int err;

	if (!api_own_namespace(r)) {
		api_error_forbidden(r);
		return;
	}
	if (entity_rec_init(&rec, ENTITY_PACKAGE, r->ns, name)) {
		api_error(r, 500, "Internal Server Error");
		return;
	}
	q.path = strdupa(rec.docid);
	entity_rec_clear(&rec);
	if (!api_entity_load(r, q.path, ENTITY_PACKAGE, &rec))
		return;
	err = rec.binding ? 0 : r->st->ops->entity_count(r->st, &q, &n);
	if (err)
		goto fail;
	if (n && !api_query_bool(r, "force", false)) {
		api_error(r, 409,
			  "Package not empty (contains %lld %s). Set force param or delete package "
			  "contents.",
			  (long long)n, n == 1 ? "entity" : "entities");
		goto out;
	}
	err = r->st->ops->begin(r->st);
	if (err)
		goto fail;
	if (n) {
		err = r->st->ops->entity_list(r->st, &q, &contents);
		json_array_foreach(contents, i, a) {
			char docid[3 * NAME_MAX_LEN + 3];

			if (err)
				break;
			snprintf(docid, sizeof(docid), "%s/%s", q.path, json_obj_str(a, "name"));
			err = r->st->ops->entity_delete(r->st, docid, 0);
		}
	}
	if (!err)
		err = r->st->ops->entity_delete(r->st, rec.docid, rec.rev);
	if (err) {
		r->st->ops->rollback(r->st);
		goto fail;
	}
	err = r->st->ops->commit(r->st);
	if (err)
		goto fail;
	api_reply(r, 200, json_incref(rec.doc));
	goto out;
fail:
	api_error_store(r, err);
out:
	json_decref(contents);
	entity_rec_clear(&rec);
}

static void package_list(struct api_req *r)
{
	struct entity_query q = { .type = ENTITY_PACKAGE, .path = r->ns };
	bool count;

	if (!api_list_params(r, "packages", &q.skip, &q.limit, &count))
		return;
	/* Another namespace shows only its published packages. */
	q.public_only = !api_own_namespace(r);
	api_reply_list(r, &q, count, "packages");
}

void api_packages(struct api_req *r)
{
	static const struct api_collection packages = {
		.list = package_list,
		.get = package_get,
		.put = package_put,
		.del = package_delete,
		.allowed = "GET, PUT, DELETE",
	};

	api_route_collection(r, &packages);
}
