// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entities.h"
#include "entity.h"
#include "json.h"
#include "entity_limits.h"
#include "loop.h"

int entity_fetch(struct store *st, const char *docid, enum entity_type type,
		 struct entity_rec *out)
{
	int err = st->ops->entity_get(st, docid, out);

	if (err)
		return err;
	if (out->type != type) {
		entity_rec_clear(out);
		return -EMEDIUMTYPE;
	}
	return 0;
}

bool api_entity_load(struct api_req *r, const char *docid, enum entity_type type,
		     struct entity_rec *out)
{
	int err = entity_fetch(r->st, docid, type, out);

	if (err)
		api_error_store(r, err);
	return err == 0;
}

void api_entity_delete(struct api_req *r, const char *docid, enum entity_type type)
{
	struct entity_rec rec;
	int err;

	if (!api_entity_load(r, docid, type, &rec))
		return;
	err = r->st->ops->entity_delete(r->st, docid, rec.rev);
	if (err)
		api_error_store(r, err);
	else
		api_reply(r, 200, json_incref(rec.doc));
	entity_rec_clear(&rec);
}

bool api_put_load(struct api_req *r, enum entity_type type, const char *path, const char *name,
		  bool overwrite, struct entity_rec *rec, struct entity_rec *old, bool *exists)
{
	int rc;

	if (entity_rec_init(rec, type, path, name)) {
		api_error(r, 500, "Internal Server Error");
		return false;
	}
	rc = r->st->ops->entity_get(r->st, rec->docid, old);
	*exists = rc == 0;
	if (rc && rc != -ENOENT)
		api_error_store(r, rc);
	else if (*exists && old->type != type)
		api_error_wrong_collection(r);
	else if (*exists && !overwrite)
		api_error(r, 409, "resource already exists");
	else
		return true;
	return false;
}

/* A parameters or annotations array as stored, or NULL when the answer (400 or 413) is
 * sent. */
static json_t *kv_array_checked(struct api_req *r, const json_t *given, bool allow_init,
				const char *what)
{
	char err[512];
	json_t *kv = kv_array_normalize(given, allow_init, what, err, sizeof(err));
	size_t size;

	if (!kv) {
		api_error(r, 400, "%s", err);
		return NULL;
	}
	size = json_size(kv);
	if (size > PARAMETERS_SIZE_MAX) {
		api_error(r, 413, "%s larger than allowed: %zu > %llu bytes.", what, size,
			  (unsigned long long)PARAMETERS_SIZE_MAX);
		json_decref(kv);
		return NULL;
	}
	return kv;
}

json_t *api_put_parameters(struct api_req *r, const json_t *body, const json_t *old_doc,
			   bool allow_init)
{
	json_t *given = json_object_get(body, "parameters"), *params;

	if (!given || json_is_null(given)) {
		params = json_object_get(old_doc, "parameters");
		return params ? json_deep_copy(params) : json_array();
	}
	return kv_array_checked(r, given, allow_init, "parameters");
}

bool api_check_name(struct api_req *r, const char *name)
{
	const char *msg = name_check(name);

	if (msg)
		api_error(r, 400, "%s", msg);
	return !msg;
}

int entity_rec_init(struct entity_rec *rec, enum entity_type type, const char *path,
		    const char *name)
{
	const char *slash = strchr(path, '/');

	memset(rec, 0, sizeof(*rec));
	rec->type = type;
	rec->path = strdup(path);
	rec->root = slash ? strndup(path, (size_t)(slash - path)) : strdup(path);
	rec->name = strdup(name);
	if (asprintf(&rec->docid, "%s/%s", path, name) < 0)
		rec->docid = NULL;
	if (!rec->path || !rec->root || !rec->name || !rec->docid) {
		entity_rec_clear(rec);
		return -ENOMEM;
	}
	return 0;
}

json_t *entity_summary(enum entity_type type, const json_t *doc)
{
	static const char *const common[] = { "namespace", "name", "version", "publish",
					      "annotations" };
	json_t *sum = json_object(), *v;

	for (size_t i = 0; i < sizeof(common) / sizeof(common[0]); i++)
		if ((v = json_object_get(doc, common[i])))
			json_object_set(sum, common[i], v);
	switch (type) {
	case ENTITY_ACTION:
		json_object_set(sum, "limits", json_object_get(doc, "limits"));
		json_object_set_new(sum, "exec",
				    json_pack("{s:b}", "binary",
					      json_is_true(json_object_get(
						      json_object_get(doc, "exec"), "binary"))));
		break;
	case ENTITY_PACKAGE:
		v = json_object_get(doc, "binding");
		json_object_set_new(sum, "binding",
				    json_object_size(v) ? json_incref(v) : json_false());
		break;
	case ENTITY_RULE:
		/* Rules list as the full document without status. */
		json_decref(sum);
		sum = json_deep_copy(doc);
		json_object_del(sum, "status");
		return sum;
	default:
		break;
	}
	json_object_set(sum, "updated", json_object_get(doc, "updated"));
	return sum;
}

void api_entity_prepare(struct entity_rec *rec)
{
	rec->updated = (int64_t)clock_real_ms();
	json_object_set_new(rec->doc, "updated", json_integer(rec->updated));
	rec->publish = json_is_true(json_object_get(rec->doc, "publish"));
	rec->binding = rec->type == ENTITY_PACKAGE &&
		       json_object_size(json_object_get(rec->doc, "binding")) > 0;
	json_decref(rec->summary);
	rec->summary = entity_summary(rec->type, rec->doc);
}

bool api_entity_write(struct api_req *r, struct entity_rec *rec, int64_t expect_rev)
{
	api_entity_prepare(rec);
	return api_entity_store(r, rec, expect_rev);
}

bool api_entity_store(struct api_req *r, struct entity_rec *rec, int64_t expect_rev)
{
	return api_entity_stored(r, rec, expect_rev, r->st->ops->entity_put(r->st, rec, expect_rev));
}

bool api_entity_stored(struct api_req *r, struct entity_rec *rec, int64_t expect_rev, int err)
{
	if (err == -EEXIST && !expect_rev) {
		struct entity_rec other;

		/* Lost a race with a create of the same name, or another collection owns it. */
		if (!r->st->ops->entity_get(r->st, rec->docid, &other)) {
			bool same = other.type == rec->type;

			entity_rec_clear(&other);
			if (!same) {
				api_error_wrong_collection(r);
				return false;
			}
		}
	}
	if (err) {
		api_error_store(r, err);
		return false;
	}
	return true;
}

bool api_common_fields(struct api_req *r, const json_t *body, const json_t *old, json_t *doc,
		       bool merge_annotations)
{
	json_t *version = json_object_get(body, "version"), *publish = json_object_get(body, "publish");
	json_t *ann = json_object_get(body, "annotations"), *del = json_object_get(body, "delAnnotations");
	json_t *anns, *v;
	size_t i;

	if (version && !json_is_null(version)) {
		if (!json_is_string(version) || !version_valid(json_string_value(version))) {
			api_error(r, 400, "The request content was malformed:\nversion must be a "
					  "semantic version x.y.z");
			return false;
		}
		json_object_set(doc, "version", version);
	} else if (old) {
		char *next = version_bump(json_obj_str(old, "version") ?: VERSION_DEFAULT);

		json_object_set_new(doc, "version", json_string(next));
		free(next);
	} else {
		json_object_set_new(doc, "version", json_string(VERSION_DEFAULT));
	}

	if (publish && !json_is_null(publish)) {
		if (!json_is_boolean(publish)) {
			api_error(r, 400, "The request content was malformed:\npublish must be a "
					  "boolean");
			return false;
		}
		json_object_set(doc, "publish", publish);
	} else {
		json_object_set_new(doc, "publish",
				    json_boolean(json_is_true(json_object_get(old, "publish"))));
	}

	if (del && !json_is_null(del) && !json_is_array(del)) {
		api_error(r, 400, "The request content was malformed:\ndelAnnotations must be an "
				  "array of strings");
		return false;
	}
	anns = kv_array_checked(r, ann, false, "annotations");
	if (!anns)
		return false;
	if (old && (merge_annotations || !ann || json_is_null(ann))) {
		json_t *base = json_deep_copy(json_object_get(old, "annotations"));

		if (!json_is_array(base)) {
			json_decref(base);
			base = json_array();
		}
		json_array_foreach(del, i, v)
			if (json_is_string(v))
				json_kv_del(base, json_string_value(v));
		json_t *merged = kv_array_merge(base, anns);

		json_decref(base);
		json_decref(anns);
		anns = merged;
	}
	json_object_set_new(doc, "annotations", anns);
	return true;
}

bool package_readable(const char *subject_ns, const struct entity_rec *pkg)
{
	if (!strcmp(pkg->root, subject_ns))
		return true;
	return pkg->publish && !pkg->binding;
}

int package_fetch_readable(struct store *st, const char *subject_ns, const char *docid,
			   struct entity_rec *out)
{
	size_t n = strlen(subject_ns);
	bool own = !strncmp(docid, subject_ns, n) && docid[n] == '/';
	int err = entity_fetch(st, docid, ENTITY_PACKAGE, out);

	/* Like OpenWhisk's entitlement check, which does not tell others what a namespace
	 * holds: there, a missing package is only "not found" for its owner. */
	if ((err == -ENOENT || err == -EMEDIUMTYPE) && !own)
		return -EACCES;
	if (!err && !package_readable(subject_ns, out)) {
		entity_rec_clear(out);
		return -EACCES;
	}
	return err;
}

bool api_package_load(struct api_req *r, const char *docid, struct entity_rec *out)
{
	int err = package_fetch_readable(r->st, r->subject.namespace, docid, out);

	if (err)
		api_error_store(r, err);
	return err == 0;
}

void resolved_action_clear(struct resolved_action *ra)
{
	entity_rec_clear(&ra->rec);
	json_decref(ra->params);
	ra->params = NULL;
}

int action_resolve(struct store *st, const char *subject_ns, const struct fqn *f,
		   struct resolved_action *out)
{
	struct entity_rec pkg = { 0 }, target = { 0 };
	json_t *pkg_params = NULL, *params;
	char docid[4 * NAME_MAX_LEN];
	int err;

	memset(out, 0, sizeof(*out));
	if (!f->pkg[0]) {
		if (strcmp(f->ns, subject_ns))
			return -EACCES;
		snprintf(docid, sizeof(docid), "%s/%s", f->ns, f->name);
		snprintf(out->path, sizeof(out->path), "%s", f->ns);
	} else {
		snprintf(docid, sizeof(docid), "%s/%s", f->ns, f->pkg);
		err = package_fetch_readable(st, subject_ns, docid, &pkg);
		if (err)
			return err;
		pkg_params = json_incref(json_object_get(pkg.doc, "parameters"));
		if (pkg.binding) {
			json_t *b = json_object_get(pkg.doc, "binding");
			const char *bns = json_obj_str(b, "namespace"), *bname = json_obj_str(b, "name");

			snprintf(docid, sizeof(docid), "%s/%s", bns ? bns : "", bname ? bname : "");
			err = package_fetch_readable(st, subject_ns, docid, &target);
			if (err)
				goto out;
			json_decref(pkg_params);
			pkg_params = kv_array_merge(json_object_get(target.doc, "parameters"),
						    json_object_get(pkg.doc, "parameters"));
			snprintf(out->binding, sizeof(out->binding), "%s/%s", f->ns, f->pkg);
			snprintf(out->path, sizeof(out->path), "%s", docid);
		} else {
			snprintf(out->path, sizeof(out->path), "%s/%s", f->ns, f->pkg);
		}
		snprintf(docid, sizeof(docid), "%s/%s", out->path, f->name);
	}
	err = entity_fetch(st, docid, ENTITY_ACTION, &out->rec);
	if (err)
		goto out;
	params = kv_array_merge(pkg_params, json_object_get(out->rec.doc, "parameters"));
	out->params = params;
out:
	json_decref(pkg_params);
	entity_rec_clear(&pkg);
	entity_rec_clear(&target);
	return err;
}

void api_reply_list(struct api_req *r, const struct entity_query *q, bool count,
		    const char *collection)
{
	json_t *out = NULL;
	int err;

	if (count) {
		int64_t n = 0;

		err = r->st->ops->entity_count(r->st, q, &n);
		if (!err)
			out = json_pack("{s:I}", collection, (json_int_t)n);
	} else {
		err = r->st->ops->entity_list(r->st, q, &out);
	}
	if (err)
		api_error_store(r, err);
	else
		api_reply(r, 200, out);
}

void api_list_own(struct api_req *r, enum entity_type type, const char *collection)
{
	struct entity_query q = { .type = type, .path = r->ns };
	bool count;

	if (!api_own_namespace(r)) {
		api_error_forbidden(r);
		return;
	}
	if (!api_list_params(r, collection, &q.skip, &q.limit, &count))
		return;
	api_reply_list(r, &q, count, collection);
}

void api_route_collection(struct api_req *r, const struct api_collection *c)
{
	void (*one)(struct api_req *r, const char *name) = NULL;
	enum http_method m = r->http->method;

	if (r->nseg == 3) {
		if (m != HTTP_GET && m != HTTP_HEAD)
			api_error_method(r, "GET");
		else
			c->list(r);
		return;
	}
	if (r->nseg != 4) {
		api_error(r, 404, "The requested resource could not be found.");
		return;
	}
	if (!api_check_name(r, r->seg[3]))
		return;
	if (m == HTTP_GET || m == HTTP_HEAD)
		one = c->get;
	else if (m == HTTP_PUT)
		one = c->put;
	else if (m == HTTP_DELETE)
		one = c->del;
	else if (m == HTTP_POST)
		one = c->post;
	if (one)
		one(r, r->seg[3]);
	else
		api_error_method(r, c->allowed);
}
