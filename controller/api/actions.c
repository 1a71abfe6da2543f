// SPDX-License-Identifier: Apache-2.0
/* /namespaces/{ns}/actions: list, get, create/update, delete. Invocation is the node's. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "controller.h"
#include "entities.h"
#include "entity.h"
#include "json.h"
#include "entity_limits.h"
#include "log.h"
#include "offload.h"

#define SEQ_MAX_DEPTH 16

struct seq_walk {
	struct api_req *r;
	const char *self; /* docid of the sequence being written */
	unsigned atomic;
	const char *error; /* OpenWhisk's message, 400 */
	bool forbidden;
};

/* Counts atomic actions under the components, refusing cycles and missing ones. */
static void seq_walk_components(struct seq_walk *w, const json_t *components, unsigned depth)
{
	const json_t *c;
	size_t i;

	if (depth > SEQ_MAX_DEPTH) {
		w->error = "Sequence may not refer to itself.";
		return;
	}
	json_array_foreach(components, i, c) {
		char docid[4 * NAME_MAX_LEN];
		struct resolved_action ra;
		struct fqn f;
		int err;

		if (w->error || w->forbidden)
			return;
		if (fqn_parse(json_string_value(c), w->r->subject.namespace, false, &f)) {
			w->error = "Sequence component does not exist.";
			return;
		}
		/* OpenWhisk refuses a self-reference before it looks the component up, so a
		 * new sequence naming itself is a cycle, not a missing component. */
		fqn_docid(&f, docid, sizeof(docid));
		if (!strcmp(docid, w->self)) {
			w->error = "Sequence may not refer to itself.";
			return;
		}
		err = action_resolve(w->r->st, w->r->subject.namespace, &f, &ra);
		if (err == -EACCES) {
			w->forbidden = true;
			return;
		}
		if (err) {
			w->error = "Sequence component does not exist.";
			return;
		}
		if (!strcmp(ra.rec.docid, w->self)) {
			w->error = "Sequence may not refer to itself.";
		} else {
			json_t *exec = json_object_get(ra.rec.doc, "exec");

			if (!strcmp(json_obj_str(exec, "kind") ?: "", "sequence"))
				seq_walk_components(w, json_object_get(exec, "components"),
						    depth + 1);
			else if (++w->atomic > SEQUENCE_MAX_LENGTH)
				w->error = "Too many actions in the sequence.";
		}
		resolved_action_clear(&ra);
	}
}

static bool check_sequence(struct api_req *r, const char *docid, const json_t *exec)
{
	const json_t *components = json_object_get(exec, "components");
	struct seq_walk w = { .r = r, .self = docid };

	if (!json_array_size(components)) {
		api_error(r, 400, "No component specified for the sequence.");
		return false;
	}
	if (json_array_size(components) > SEQUENCE_MAX_LENGTH) {
		api_error(r, 400, "Too many actions in the sequence.");
		return false;
	}
	seq_walk_components(&w, components, 0);
	if (w.forbidden) {
		api_error_forbidden(r);
		return false;
	}
	if (w.error) {
		api_error(r, 400, "%s", w.error);
		return false;
	}
	return true;
}

/* Where an action lives: the path namespace and, when given, its (own) package. */
struct action_loc {
	char path[2 * NAME_MAX_LEN + 2];
	const char *pkg;
	const char *name;
};

/* For writes: the package must be the caller's and not a binding. */
static bool locate_for_write(struct api_req *r, struct action_loc *loc)
{
	struct entity_rec pkg;
	char docid[2 * NAME_MAX_LEN + 2];
	bool binding;

	if (!loc->pkg) {
		snprintf(loc->path, sizeof(loc->path), "%s", r->ns);
		return true;
	}
	snprintf(docid, sizeof(docid), "%s/%s", r->ns, loc->pkg);
	if (!api_entity_load(r, docid, ENTITY_PACKAGE, &pkg))
		return false;
	binding = pkg.binding;
	entity_rec_clear(&pkg);
	if (binding) {
		api_error(r, 400, "Operation not permitted on package binding.");
		return false;
	}
	snprintf(loc->path, sizeof(loc->path), "%s", docid);
	return true;
}

/* The write of a large action, whose document is dumped off the loop once, for the
 * store and the answer alike, and written there too when the thread has a connection of
 * its own to the store (the durable write of tens of MB takes seconds). */
struct put_later {
	struct api_req *r;
	struct store *st; /* the thread's connection, or NULL: the loop writes */
	struct entity_rec rec;
	int64_t expect_rev;
	int err; /* the thread's write */
};

static void put_dump(void *arg)
{
	struct put_later *pl = arg;

	pl->rec.doc_text = json_dump(pl->rec.doc);
	if (pl->rec.doc_text && pl->st)
		pl->err = pl->st->ops->entity_put(pl->st, &pl->rec, pl->expect_rev);
}

static void put_store(void *arg)
{
	struct put_later *pl = arg;
	struct api_req *r = pl->r;
	bool ok;

	if (!pl->rec.doc_text) {
		api_error(r, 500, "Internal Server Error");
		goto out;
	}
	if (pl->st) {
		/* Written on the thread: the event node caches listen for goes out here. */
		ok = api_entity_stored(r, &pl->rec, pl->expect_rev, pl->err);
		if (ok && r->st->ops->entity_put_elsewhere)
			r->st->ops->entity_put_elsewhere(r->st, &pl->rec);
	} else {
		ok = api_entity_store(r, &pl->rec, pl->expect_rev);
	}
	if (ok)
		api_reply_raw(r, 200, "application/json", pl->rec.doc_text,
			      strlen(pl->rec.doc_text));
out:
	entity_rec_clear(&pl->rec);
	free(pl);
	api_end(r);
}

/* true: rec was taken, and the request is answered later. */
static bool put_later(struct api_req *r, struct entity_rec *rec, int64_t expect_rev)
{
	struct put_later *pl = calloc(1, sizeof(*pl));

	if (!pl)
		return false;
	api_entity_prepare(rec);
	pl->r = r;
	pl->st = r->ctl->store_offload;
	pl->rec = *rec;
	pl->expect_rev = expect_rev;
	if (offload_run(r->ctl->offload, put_dump, put_store, pl)) {
		free(pl);
		return false;
	}
	memset(rec, 0, sizeof(*rec));
	r->deferred = true;
	return true;
}

static void action_put(struct api_req *r, struct action_loc *loc)
{
	bool overwrite = api_query_bool(r, "overwrite", false);
	struct entity_rec rec = { 0 }, old = { 0 };
	json_t *body = NULL, *doc = NULL, *exec = NULL, *params = NULL, *limits = NULL;
	json_t *old_doc = NULL, *old_params;
	char err[1024];
	int status;
	bool exists;

	if (!api_own_namespace(r)) {
		api_error_forbidden(r);
		return;
	}
	if (!locate_for_write(r, loc))
		return;
	body = api_body_object(r);
	if (!body)
		return;
	if (!api_put_load(r, ENTITY_ACTION, loc->path, loc->name, overwrite, &rec, &old, &exists))
		goto out;
	old_doc = exists ? old.doc : NULL;

	if (json_object_get(body, "exec") && !json_is_null(json_object_get(body, "exec"))) {
		exec = exec_normalize(r->ctl->runtimes, json_object_get(body, "exec"), r->ns,
				      &status, err, sizeof(err));
		if (!exec) {
			api_error(r, status, "%s", err);
			goto out;
		}
	} else if (old_doc) {
		exec = json_incref(json_object_get(old_doc, "exec"));
	} else {
		api_error(r, 400, "exec undefined");
		goto out;
	}

	/* As in OpenWhisk, a sequence's "_actions" does not leak into what it becomes. */
	old_params = old_doc;
	if (!strcmp(json_obj_str(json_object_get(old_doc, "exec"), "kind") ?: "", "sequence"))
		old_params = NULL;
	params = api_put_parameters(r, body, old_params, true);
	if (!params)
		goto out;

	limits = action_limits_merge(json_object_get(body, "limits"),
				     json_object_get(old_doc, "limits"), &r->limits, err,
				     sizeof(err));
	if (!limits) {
		api_error(r, 400, "%s", err);
		goto out;
	}

	if (!strcmp(json_obj_str(exec, "kind"), "sequence")) {
		if (!check_sequence(r, rec.docid, exec))
			goto out;
		/* OpenWhisk's legacy artefact: a sequence's parameters name its components. */
		json_decref(params);
		params = json_pack("[{s:s,s:O}]", "key", "_actions", "value",
				   json_object_get(exec, "components"));
	}

	doc = json_pack("{s:s,s:s}", "namespace", loc->path, "name", loc->name);
	if (!api_common_fields(r, body, old_doc, doc, true))
		goto out;
	{
		json_t *anns = json_object_get(doc, "annotations");

		if (!old_doc && !json_kv_get(anns, "provide-api-key"))
			json_kv_set(anns, "provide-api-key", json_false());
		json_kv_set(anns, "exec", json_string(json_obj_str(exec, "kind")));
	}
	json_object_set(doc, "exec", exec);
	json_object_set(doc, "parameters", params);
	json_object_set(doc, "limits", limits);
	rec.doc = json_incref(doc);
	/* Tens of MB of code: dumped off the loop (seconds), which answers other calls. */
	if (r->large && put_later(r, &rec, exists ? old.rev : 0))
		goto out;
	if (!api_entity_write(r, &rec, exists ? old.rev : 0))
		goto out;
	api_reply(r, 200, json_incref(doc));
out:
	json_decref(body);
	json_decref(doc);
	json_decref(exec);
	json_decref(params);
	json_decref(limits);
	entity_rec_clear(&rec);
	entity_rec_clear(&old);
}

static void action_get(struct api_req *r, struct action_loc *loc)
{
	struct resolved_action ra;
	struct fqn f = { 0 };
	json_t *doc;
	int err;

	snprintf(f.ns, sizeof(f.ns), "%s", r->ns);
	snprintf(f.pkg, sizeof(f.pkg), "%s", loc->pkg ? loc->pkg : "");
	snprintf(f.name, sizeof(f.name), "%s", loc->name);
	err = action_resolve(r->st, r->subject.namespace, &f, &ra);
	if (err) {
		api_error_store(r, err);
		return;
	}
	doc = json_deep_copy(ra.rec.doc);
	json_object_set(doc, "parameters", ra.params);
	if (!api_query_bool(r, "code", true))
		json_object_set_new(doc, "exec", exec_without_code(json_object_get(doc, "exec")));
	resolved_action_clear(&ra);
	api_reply(r, 200, doc);
}

static void action_delete(struct api_req *r, struct action_loc *loc)
{
	char docid[3 * NAME_MAX_LEN + 3];

	if (!api_own_namespace(r)) {
		api_error_forbidden(r);
		return;
	}
	if (!locate_for_write(r, loc))
		return;
	snprintf(docid, sizeof(docid), "%s/%s", loc->path, loc->name);
	api_entity_delete(r, docid, ENTITY_ACTION);
}

static void action_list(struct api_req *r, const char *pkg)
{
	struct entity_query q = { .type = ENTITY_ACTION };
	char path[2 * NAME_MAX_LEN + 2];
	bool count;

	if (!api_list_params(r, "actions", &q.skip, &q.limit, &count))
		return;
	if (pkg) {
		struct entity_rec p;

		snprintf(path, sizeof(path), "%s/%s", r->ns, pkg);
		if (!api_package_load(r, path, &p))
			return;
		if (p.binding) {
			json_t *b = json_object_get(p.doc, "binding");
			struct entity_rec target;

			snprintf(path, sizeof(path), "%s/%s", json_obj_str(b, "namespace") ?: "",
				 json_obj_str(b, "name") ?: "");
			/* the bound package must be readable too: it may have been unpublished */
			if (!api_package_load(r, path, &target)) {
				entity_rec_clear(&p);
				return;
			}
			entity_rec_clear(&target);
		}
		entity_rec_clear(&p);
		q.path = path;
	} else {
		if (!api_own_namespace(r)) {
			api_error_forbidden(r);
			return;
		}
		q.root = r->ns; /* the namespace root lists packaged actions too */
	}
	api_reply_list(r, &q, count, "actions");
}

void api_actions(struct api_req *r)
{
	enum http_method m = r->http->method;
	struct action_loc loc = { 0 };

	if (r->nseg == 3 || (r->nseg == 4 && r->trailing_slash)) {
		if (m != HTTP_GET && m != HTTP_HEAD) {
			api_error_method(r, "GET");
			return;
		}
		action_list(r, r->nseg == 4 ? r->seg[3] : NULL);
		return;
	}
	if (r->nseg > 5 || (r->nseg == 5 && r->trailing_slash)) {
		api_error(r, 404, "The requested resource could not be found.");
		return;
	}
	loc.pkg = r->nseg == 5 ? r->seg[3] : NULL;
	loc.name = r->seg[r->nseg - 1];
	/* Every method checks the names, as OpenWhisk's path matcher does. */
	if ((loc.pkg && !api_check_name(r, loc.pkg)) || !api_check_name(r, loc.name))
		return;
	switch (m) {
	case HTTP_GET:
	case HTTP_HEAD:
		action_get(r, &loc);
		break;
	case HTTP_PUT:
		action_put(r, &loc);
		break;
	case HTTP_DELETE:
		action_delete(r, &loc);
		break;
	case HTTP_POST:
		api_error(r, 503, "Invocations are served by xwhisk-node on the node ingress.");
		break;
	default:
		api_error_method(r, "GET, PUT, DELETE, POST");
	}
}
