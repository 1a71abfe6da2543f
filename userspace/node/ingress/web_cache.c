// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "digest.h"
#include "node/ingress/http_cache.h"
#include "json.h"
#include "node/ingress/web_cache.h"

/* The primary key, computed once, when it is first needed. */
static int use_key(struct web_cache_use *use, const struct http_request *req,
		   const struct action_entry *a)
{
	struct buf b = BUF_INIT;
	int err;

	if (use->keyed)
		return 0;
	/* GET and HEAD share the entry; a HEAD's answer has no body to keep. */
	buf_printf(&b, "web:%016llx\n%d\n%s\n%s\n%s", (unsigned long long)a->id, (int)use->ext,
		   use->extra_path ? use->extra_path : "", req->query ? req->query : "",
		   use->caller_ns ? use->caller_ns : "");
	err = b.data ? sha256_digest(b.data, b.len, use->key) : -ENOMEM;
	buf_free(&b);
	use->keyed = !err;
	return err;
}

void web_cache_prepare(struct result_cache *rc, struct web_cache_use *use,
		       const struct http_request *req, const struct action_entry *a,
		       enum web_ext ext, const char *extra_path, const char *caller_ns)
{
	unsigned asked = http_cache_request(req);

	memset(use, 0, sizeof(*use));
	if (!rc || (req->method != HTTP_GET && req->method != HTTP_HEAD))
		return;
	use->ext = ext;
	use->extra_path = extra_path;
	use->caller_ns = caller_ns;
	use->epoch = result_cache_epoch(rc);
	use->read = !(asked & HTTP_CACHE_NO_CACHE) &&
		    __atomic_load_n(&a->results_kept, __ATOMIC_RELAXED) && !use_key(use, req, a);
	use->store = req->method == HTTP_GET && !(asked & HTTP_CACHE_NO_STORE);
}

/* The key of req's variant: the primary key and the values of the Vary headers. */
static int variant_key(const uint8_t primary[RESULT_KEY_LEN], const char *vary,
		       const struct http_request *req, uint8_t out[RESULT_KEY_LEN])
{
	struct buf b = BUF_INIT;
	char name[128];
	const char *p = vary;
	int err;

	while (*p) {
		size_t n = strcspn(p, ",");

		snprintf(name, sizeof(name), "%.*s", (int)n, p);
		buf_printf(&b, "%s\n%s\n", name, http_req_header(req, name) ?: "");
		p += n + (p[n] == ',');
	}
	err = sha256_digest2(primary, RESULT_KEY_LEN, b.data ? b.data : "", b.len, out);
	buf_free(&b);
	return err;
}

static json_t *value_json(const struct result_value *v)
{
	return v ? json_parse(v->data, v->len, NULL, 0) : NULL;
}

json_t *web_cache_lookup(struct result_cache *rc, struct web_cache_use *use,
			 const struct http_request *req, uint64_t now_ms)
{
	struct result_value *v;
	uint8_t variant[RESULT_KEY_LEN];
	json_t *j;

	if (!use->read)
		return NULL;
	v = result_cache_get(rc, use->key, now_ms);
	j = value_json(v);
	if (json_is_string(json_object_get(j, "vary"))) {
		int err = variant_key(use->key, json_string_value(json_object_get(j, "vary")), req,
				      variant);

		result_value_unref(v);
		json_decref(j);
		v = err ? NULL : result_cache_get(rc, variant, now_ms);
		j = value_json(v);
	}
	if (j && !json_object_get(j, "statusCode")) {
		json_decref(j);
		j = NULL;
	}
	result_cache_count(rc, j != NULL);
	if (j) {
		use->hit = true;
		use->age_s = now_ms > v->stored_ms ? (now_ms - v->stored_ms) / 1000 : 0;
	}
	result_value_unref(v);
	return j;
}

static void put_text(struct result_cache *rc, const uint8_t key[RESULT_KEY_LEN], uint32_t ns,
		     struct action_entry *a, const json_t *value, uint64_t now_ms,
		     uint64_t ttl_s, uint64_t epoch)
{
	char *text = json_dumps(value, JSON_COMPACT);

	/* From now on this action's requests are looked up. */
	if (text && !result_cache_put(rc, key, ns, json_object_get(a->doc, "deps"), text,
				      strlen(text), now_ms, ttl_s * 1000, epoch))
		__atomic_store_n(&a->results_kept, 1, __ATOMIC_RELAXED);
	free(text);
}

void web_cache_store(struct result_cache *rc, struct web_cache_use *use,
		     const struct http_request *req, struct action_entry *a,
		     uint32_t ns_idx, int code, const json_t *result,
		     const struct web_response *r, uint64_t now_ms)
{
	json_t *answer, *marker;
	bool authorized = http_req_header(req, "Authorization") != NULL;
	struct http_cache_policy p;
	uint8_t variant[RESULT_KEY_LEN];

	if (!use->store || use->hit || r->error)
		return;
	http_cache_policy(r->status, r->headers, authorized, now_ms / 1000, &p);
	if (!p.storable || use_key(use, req, a))
		return;
	answer = json_pack("{s:i,s:O}", "statusCode", code, "result",
			   result ?: json_null());
	if (!answer)
		return;
	if (!p.vary[0]) {
		put_text(rc, use->key, ns_idx, a, answer, now_ms, p.ttl_s, use->epoch);
	} else if (!variant_key(use->key, p.vary, req, variant)) {
		marker = json_pack("{s:s}", "vary", p.vary);
		put_text(rc, use->key, ns_idx, a, marker, now_ms, p.ttl_s, use->epoch);
		put_text(rc, variant, ns_idx, a, answer, now_ms, p.ttl_s, use->epoch);
		json_decref(marker);
	}
	json_decref(answer);
}

int web_cache_status(const struct http_request *req, const struct web_response *r)
{
	if (r->error || r->status != 200 ||
	    (req->method != HTTP_GET && req->method != HTTP_HEAD))
		return r->status;
	return http_cache_not_modified(http_req_header(req, "If-None-Match"),
				       http_req_header(req, "If-Modified-Since"),
				       http_cache_header(r->headers, "ETag"),
				       http_cache_header(r->headers, "Last-Modified"))
		       ? 304
		       : r->status;
}
