// SPDX-License-Identifier: Apache-2.0
/* /namespaces/{ns}/activations: list, get, result, logs. Records come from the nodes. */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "activation.h"
#include "controller.h"
#include "entities.h"
#include "json.h"
#include "util.h"

static bool epoch_param(struct api_req *r, const char *key, int64_t *out)
{
	char *v = query_get(r->http->query, key);
	int64_t n;

	*out = 0;
	if (!v)
		return true;
	if (parse_i64(v, &n) || n < 0) {
		api_error(r, 400, "Parameter is not a valid value for epoch seconds: %s", v);
		free(v);
		return false;
	}
	free(v);
	*out = n;
	return true;
}

static void activation_list(struct api_req *r)
{
	struct activation_query q = { .namespace = r->ns };
	char *name = query_get(r->http->query, "name");
	json_t *out = NULL;
	bool count;
	int err;

	if (!api_own_namespace(r)) {
		api_error_forbidden(r);
		goto out;
	}
	if (!api_list_params(r, "activations", &q.skip, &q.limit, &count) ||
	    !epoch_param(r, "since", &q.since) || !epoch_param(r, "upto", &q.upto))
		goto out;
	q.docs = api_query_bool(r, "docs", false);
	if (count && q.docs) {
		api_error(r, 400, "The parameter 'docs' is not permitted with 'count'.");
		goto out;
	}
	if (name && *name) {
		struct fqn f;
		char *slash = strchr(name, '/');

		if ((slash && strchr(slash + 1, '/')) ||
		    fqn_parse(name, r->ns, true, &f) == -EINVAL) {
			api_error(r, 400,
				  "Parameter may be a 'simple' name or 'package-name/simple' name: %s",
				  name);
			goto out;
		}
		q.name = name;
	}
	if (count) {
		int64_t n = 0;

		err = r->st->ops->activation_count(r->st, &q, &n);
		if (!err)
			out = json_pack("{s:I}", "activations", (json_int_t)n);
	} else {
		err = r->st->ops->activation_list(r->st, &q, &out);
		if (!err && q.docs) {
			size_t i;
			json_t *doc;

			json_array_foreach(out, i, doc)
				json_array_set_new(out, i, activation_extended(doc));
		}
	}
	if (err)
		api_error_store(r, err);
	else
		api_reply(r, 200, out);
out:
	free(name);
}

static bool check_id(struct api_req *r, const char *id)
{
	size_t len = strlen(id);

	if (len != 32)
		api_error(r, 400, "Activation id length is %zu but must be 32.", len);
	else if (!activation_id_valid(id))
		api_error(r, 400, "The activation id is not valid.");
	return len == 32 && activation_id_valid(id);
}

static void activation_get(struct api_req *r, const char *id, const char *part)
{
	json_t *doc = NULL, *ext;
	int err;

	if (!api_own_namespace(r)) {
		api_error_forbidden(r);
		return;
	}
	if (!check_id(r, id))
		return;
	err = r->st->ops->activation_get(r->st, r->ns, id, &doc);
	if (err) {
		api_error_store(r, err);
		return;
	}
	ext = activation_extended(doc);
	json_decref(doc);
	if (!part) {
		api_reply(r, 200, ext);
	} else if (!strcmp(part, "result")) {
		api_reply(r, 200, json_incref(json_object_get(ext, "response")));
		json_decref(ext);
	} else {
		json_t *logs = json_object_get(ext, "logs");

		api_reply(r, 200, json_pack("{s:o}", "logs", json_ref_or_array(logs)));
		json_decref(ext);
	}
}

void api_activations(struct api_req *r)
{
	enum http_method m = r->http->method;

	if (m != HTTP_GET && m != HTTP_HEAD) {
		api_error_method(r, "GET");
		return;
	}
	if (r->nseg == 3) {
		activation_list(r);
	} else if (r->nseg == 4) {
		activation_get(r, r->seg[3], NULL);
	} else if (r->nseg == 5 && (!strcmp(r->seg[4], "result") || !strcmp(r->seg[4], "logs"))) {
		activation_get(r, r->seg[3], r->seg[4]);
	} else {
		api_error(r, 404, "The requested resource could not be found.");
	}
}
