// SPDX-License-Identifier: Apache-2.0
/*
 * What nodes ask the controller on their data path (cache misses only):
 *   POST /internal/v1/identity          {"authorization": "Basic ..."} -> the caller's namespace
 *   GET  /internal/v1/namespaces/{ns}    a namespace's identity (web actions run as the owner)
 *   GET  /internal/v1/resolve/action?subject=NS&name=/ns[/pkg]/name
 *   GET  /internal/v1/resolve/trigger?subject=NS&name=/ns/name
 *   GET  /internal/v1/events?epoch=E&since=N   the event stream (NDJSON)
 * A resolved entity lists the documents it was built from ("deps"), so a node drops it when
 * an event names any of them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "controller.h"
#include "entities.h"
#include "events.h"
#include "internal.h"
#include "json.h"
#include "util.h"

static json_t *identity_json(const struct subject *s)
{
	struct ns_limits l;

	limits_effective(s->limits, &l);
	return json_pack("{s:s,s:s,s:o}", "namespace", s->namespace, "uuid", s->uuid, "limits",
			 limits_to_json(&l));
}

void internal_identity(struct api_req *r)
{
	char uuid[AUTH_UUID_LEN + 1], key[AUTH_KEY_LEN + 1];
	json_t *body = api_body_object(r);
	struct subject s;
	const char *hdr;
	int err;

	if (!body)
		return;
	hdr = json_obj_str(body, "authorization");
	if (!hdr || auth_parse_basic(hdr, uuid, key)) {
		json_decref(body);
		api_error(r, 401, "The supplied authentication is invalid");
		return;
	}
	err = auth_check(r->st, uuid, key, &s);
	json_decref(body);
	if (err == -ENOENT || err == -EACCES) {
		api_error(r, 401, "The supplied authentication is invalid");
		return;
	}
	if (err) {
		api_error_store(r, err);
		return;
	}
	api_reply(r, 200, identity_json(&s));
	subject_clear(&s);
}

void internal_namespace(struct api_req *r, const char *ns)
{
	struct subject s;
	int err = r->st->ops->subject_get(r->st, ns, &s);

	if (err) {
		api_error_store(r, err);
		return;
	}
	api_reply(r, 200, identity_json(&s));
	subject_clear(&s);
}

/* subject and name from the query; replies 400 and returns false when missing. */
static bool resolve_args(struct api_req *r, char **subject, struct fqn *f)
{
	char *name = query_get(r->http->query, "name");

	*subject = query_get(r->http->query, "subject");
	if (!*subject || !name || !namespace_valid(*subject) ||
	    fqn_parse(name, *subject, false, f)) {
		api_error(r, 400, "subject and a fully qualified name are required");
		free(name);
		free(*subject);
		*subject = NULL;
		return false;
	}
	free(name);
	return true;
}

static void resolve_action(struct api_req *r)
{
	struct resolved_action ra;
	char *subject = NULL;
	json_t *out, *deps;
	struct fqn f;
	int err;

	if (!resolve_args(r, &subject, &f))
		return;
	err = action_resolve(r->st, subject, &f, &ra);
	if (err) {
		r->ns = f.ns; /* the 403 names the action's namespace */
		api_error_store(r, err);
		free(subject);
		return;
	}
	deps = json_pack("[s]", ra.rec.docid);
	if (f.pkg[0]) {
		char pkg[2 * NAME_MAX_LEN + 2];

		snprintf(pkg, sizeof(pkg), "%s/%s", f.ns, f.pkg);
		json_array_append_new(deps, json_string(pkg));
		if (ra.binding[0])
			json_array_append_new(deps, json_string(ra.path));
	}
	out = json_deep_copy(ra.rec.doc);
	json_object_set(out, "parameters", ra.params);
	json_object_set_new(out, "docid", json_string(ra.rec.docid));
	json_object_set_new(out, "path", json_string(ra.path));
	json_object_set_new(out, "owner", json_string(ra.rec.root));
	json_object_set_new(out, "revision", json_integer(ra.rec.rev));
	if (ra.binding[0])
		json_object_set_new(out, "binding", json_string(ra.binding));
	json_object_set_new(out, "deps", deps);
	resolved_action_clear(&ra);
	free(subject);
	api_reply(r, 200, out);
}

static void resolve_trigger(struct api_req *r)
{
	char docid[2 * NAME_MAX_LEN + 2];
	struct entity_rec rec;
	char *subject = NULL;
	json_t *out;
	struct fqn f;

	if (!resolve_args(r, &subject, &f))
		return;
	if (f.pkg[0] || strcmp(f.ns, subject)) {
		api_error(r, 403, "The supplied authentication is not authorized to access '%s'.",
			  f.ns);
		free(subject);
		return;
	}
	free(subject);
	fqn_docid(&f, docid, sizeof(docid));
	if (!api_entity_load(r, docid, ENTITY_TRIGGER, &rec))
		return;
	out = json_deep_copy(rec.doc);
	json_object_set_new(out, "docid", json_string(rec.docid));
	json_object_set_new(out, "revision", json_integer(rec.rev));
	json_object_set_new(out, "deps", json_pack("[s]", rec.docid));
	entity_rec_clear(&rec);
	api_reply(r, 200, out);
}

void internal_resolve(struct api_req *r, const char *what)
{
	if (!strcmp(what, "action"))
		resolve_action(r);
	else if (!strcmp(what, "trigger"))
		resolve_trigger(r);
	else
		api_error(r, 404, "The requested resource could not be found.");
}

void internal_events(struct api_req *r)
{
	char *epoch = query_get(r->http->query, "epoch");
	char *since_s = query_get(r->http->query, "since");
	uint64_t since = 0;

	if (since_s && parse_u64(since_s, &since))
		since = 0;
	/* The stream is the request's answer from now on: api_reply must not run. */
	http_resp_header(r->http, "X-Request-ID", "%s", r->tid);
	event_log_watch(r->ctl->events, r->http, epoch, since);
	r->http = NULL;
	free(epoch);
	free(since_s);
}
