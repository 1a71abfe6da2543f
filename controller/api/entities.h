/* SPDX-License-Identifier: Apache-2.0 */
/* Helpers shared by the entity collections: loading with collection checks, writing with
 * revision checks, entitlement, and resolving actions through packages and bindings. */
#ifndef XWHISK_API_ENTITIES_H
#define XWHISK_API_ENTITIES_H

#include <stdbool.h>

#include "api.h"
#include "names.h"
#include "store.h"

/* -EMEDIUMTYPE: the name belongs to another collection. */
int entity_fetch(struct store *st, const char *docid, enum entity_type type,
		 struct entity_rec *out);
/* Loads or replies (404, 409 for the wrong collection, 5xx); true when loaded. */
bool api_entity_load(struct api_req *r, const char *docid, enum entity_type type,
		     struct entity_rec *out);
/* Fills docid/path/root/name/type/updated of rec for an entity in path named name. */
int entity_rec_init(struct entity_rec *rec, enum entity_type type, const char *path,
		    const char *name);
/* Stamps updated, builds the summary with summarize and writes; replies on failure. */
bool api_entity_write(struct api_req *r, struct entity_rec *rec, int64_t expect_rev);
/* api_entity_write in two steps, so that the document can be dumped in between (off the
 * loop, into rec->doc_text): the fields a write sets ("updated", the summary), then the
 * store's write. */
void api_entity_prepare(struct entity_rec *rec);
bool api_entity_store(struct api_req *r, struct entity_rec *rec, int64_t expect_rev);
/* The answer to a write of rec made elsewhere (err: the store's): replies on failure. */
bool api_entity_stored(struct api_req *r, struct entity_rec *rec, int64_t expect_rev, int err);
/* The list summary of a document for its type. */
json_t *entity_summary(enum entity_type type, const json_t *doc);
/* Common PUT fields: version (bumped on update), publish, annotations (merged on update).
 * Sets them in doc; replies 400 and returns false on bad input. */
bool api_common_fields(struct api_req *r, const json_t *body, const json_t *old, json_t *doc,
		       bool merge_annotations);
/* DELETE of the document docid of that type: answers the deleted document, or the error. */
void api_entity_delete(struct api_req *r, const char *docid, enum entity_type type);
/*
 * The start of every PUT of a type at path/name: rec set up for that document, and when
 * one is there *old holds it and *exists is true. False, after replying, on a store
 * error, a name taken by another collection, or an existing one without overwrite.
 */
bool api_put_load(struct api_req *r, enum entity_type type, const char *path, const char *name,
		  bool overwrite, struct entity_rec *rec, struct entity_rec *old, bool *exists);
/*
 * A PUT's "parameters": the body's, normalized (init parameters allowed for actions) and
 * within PARAMETERS_SIZE_MAX, else a copy of old_doc's. NULL after replying.
 */
json_t *api_put_parameters(struct api_req *r, const json_t *body, const json_t *old_doc,
			   bool allow_init);
/* The name segment check with OpenWhisk's message; replies 400. */
bool api_check_name(struct api_req *r, const char *name);

/* An action reached through its package or a binding, with parameters merged
 * package < binding < action. */
struct resolved_action {
	struct entity_rec rec;
	json_t *params;
	char path[2 * NAME_MAX_LEN + 2];    /* real "ns[/pkg]" */
	char binding[2 * NAME_MAX_LEN + 2]; /* "ns/binding" when reached through one, else "" */
};

/* 0, -ENOENT, -EACCES (not entitled) or -EMEDIUMTYPE. subject_ns is the caller's. */
int action_resolve(struct store *st, const char *subject_ns, const struct fqn *f,
		   struct resolved_action *out);
void resolved_action_clear(struct resolved_action *ra);
/* May subject_ns read this package (owner, or published and not a binding)? */
bool package_readable(const char *subject_ns, const struct entity_rec *pkg);
/* Loads a package subject_ns wants to read: 0, -EACCES (not readable), -ENOENT or
 * -EMEDIUMTYPE. Another namespace's missing package or other entity is -EACCES. */
int package_fetch_readable(struct store *st, const char *subject_ns, const char *docid,
			   struct entity_rec *out);
/* The same, replying 403, 404, 409 or 5xx; true when loaded. */
bool api_package_load(struct api_req *r, const char *docid, struct entity_rec *out);

/* Answers q's entities, or {"<collection>": n} when count. */
void api_reply_list(struct api_req *r, const struct entity_query *q, bool count,
		    const char *collection);
/* GET of a collection only its own namespace may list (rules, triggers). */
void api_list_own(struct api_req *r, enum entity_type type, const char *collection);

/* A collection of named entities: .../<collection> lists, .../<collection>/<name> is one.
 * A NULL handler is a 405 naming allowed. */
struct api_collection {
	void (*list)(struct api_req *r);
	void (*get)(struct api_req *r, const char *name);
	void (*put)(struct api_req *r, const char *name);
	void (*del)(struct api_req *r, const char *name);
	void (*post)(struct api_req *r, const char *name);
	const char *allowed; /* the methods of one entity, for the 405 */
};
void api_route_collection(struct api_req *r, const struct api_collection *c);

#endif
