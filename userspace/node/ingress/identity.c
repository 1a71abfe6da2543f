// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "digest.h"
#include "node/ingress/identity.h"
#include "json.h"
#include "log.h"
#include "node/ingress/ns_table.h"
#include "node/manager/budget_lease.h"
#include "util.h"

struct fetch {
	struct node *node;
	identity_cb cb;
	void *data;
	struct identity id;
	unsigned char digest[32];
	bool by_namespace;
};

static uint64_t mono_ns(void)
{
	return clock_mono_us() * 1000;
}

#define IDENTITY_CACHE_ENTRIES 256
#define AUTHORIZATION_CACHED_MAX 200 /* longer headers are not kept */

struct identity_cache {
	struct {
		char authorization[AUTHORIZATION_CACHED_MAX + 1];
		struct identity id;
		uint64_t expires_ns; /* the "auth" entry's */
		uint32_t ns_generation;
	} e[IDENTITY_CACHE_ENTRIES];
};

struct identity_cache *identity_cache_new(void)
{
	return calloc(1, sizeof(struct identity_cache));
}

void identity_cache_free(struct identity_cache *c)
{
	free(c);
}

static unsigned cache_index(const char *authorization)
{
	return str_hash(authorization) % IDENTITY_CACHE_ENTRIES;
}

static bool cache_hit(struct node *node, struct identity_cache *c, const char *authorization,
		      uint64_t now_ns, struct identity *out)
{
	unsigned i;

	if (!c || strlen(authorization) > AUTHORIZATION_CACHED_MAX)
		return false;
	i = cache_index(authorization);
	if (c->e[i].expires_ns < now_ns || strcmp(c->e[i].authorization, authorization) ||
	    __atomic_load_n(&node->maps->namespaces[c->e[i].id.ns_idx].generation,
			    __ATOMIC_RELAXED) != c->e[i].ns_generation)
		return false;
	*out = c->e[i].id;
	return true;
}

static void cache_put(struct node *node, struct identity_cache *c, const char *authorization,
		      const struct identity *id, uint64_t expires_ns)
{
	unsigned i;

	if (!c || strlen(authorization) > AUTHORIZATION_CACHED_MAX)
		return;
	i = cache_index(authorization);
	snprintf(c->e[i].authorization, sizeof(c->e[i].authorization), "%s", authorization);
	c->e[i].id = *id;
	c->e[i].expires_ns = expires_ns;
	c->e[i].ns_generation =
		__atomic_load_n(&node->maps->namespaces[id->ns_idx].generation, __ATOMIC_RELAXED);
}

int identity_lookup(struct node *node, struct identity_cache *cache, const char *authorization,
		    struct identity *out)
{
	uint64_t now_ns = mono_ns();
	struct xw_auth_key key;
	struct xw_auth val;
	char cred[160];

	if (cache_hit(node, cache, authorization, now_ns, out))
		return 0;
	if (basic_auth_decode(authorization, cred, sizeof(cred)))
		return -EINVAL;
	if (sha256_digest(cred, strlen(cred), key.digest))
		return -EIO;
	if (bpf_map_lookup_elem(node->maps->auth_fd, &key, &val) || val.expires_ns < now_ns ||
	    ns_table_name(node->ns, val.ns_idx, out->ns, sizeof(out->ns)))
		return -EAGAIN;
	out->ns_idx = val.ns_idx;
	snprintf(out->credential, sizeof(out->credential), "%s", cred);
	cache_put(node, cache, authorization, out, val.expires_ns);
	return 0;
}

/* Hands the namespace's limits to the lease, which writes this node's share of them where
 * the throttles read it. */
static void apply_limits(struct node *node, uint32_t idx, json_t *limits)
{
	static const char *const names[BUDGET_KINDS] = {
		[BUDGET_INVOCATIONS] = "invocationsPerMinute",
		[BUDGET_CONCURRENT] = "concurrentInvocations",
		[BUDGET_FIRES] = "firesPerMinute",
	};
	uint32_t limit[BUDGET_KINDS];

	for (int k = 0; k < BUDGET_KINDS; k++)
		limit[k] = (uint32_t)json_integer_value(json_object_get(limits, names[k]));
	budget_lease_set_limits(node, idx, limit);
	__atomic_or_fetch(&node->maps->namespaces[idx].flags, XW_NS_IN_USE, __ATOMIC_RELAXED);
}

static void on_identity(int status, json_t *body, void *data)
{
	struct fetch *f = data;
	struct node *node = f->node;
	const char *ns = json_obj_str(body, "namespace");
	uint64_t ttl_ns = (uint64_t)node->cfg.auth_ttl_s * 1000000000ull;
	int result;

	if (status < 0 || status >= 500) {
		pr_warn("identity: controller: %s", status < 0 ? strerror(-status) : "error");
		result = 503;
		goto out;
	}
	if (status != 200 || !ns) {
		result = status == 404 ? 404 : 401;
		goto out;
	}
	snprintf(f->id.ns, sizeof(f->id.ns), "%s", ns);
	if (ns_table_index(node->ns, ns, &f->id.ns_idx)) {
		pr_err("identity: no namespace index left for %s", ns);
		result = 503;
		goto out;
	}
	apply_limits(node, f->id.ns_idx, json_object_get(body, "limits"));
	ns_table_vouch(node->ns, f->id.ns_idx, clock_mono_ms() + node->cfg.auth_ttl_s * 1000ull);
	if (!f->by_namespace) {
		struct xw_auth_key key;
		struct xw_auth val = { .ns_idx = f->id.ns_idx, .expires_ns = mono_ns() + ttl_ns };

		memcpy(key.digest, f->digest, sizeof(key.digest));
		if (bpf_map_update_elem(node->maps->auth_fd, &key, &val, BPF_ANY))
			pr_warn("identity: cannot cache a credential: %s", strerror(errno));
	}
	result = 0;
out:
	f->cb(result, result ? NULL : &f->id, f->data);
	free(f);
}

static struct fetch *fetch_new(struct node *node, identity_cb cb, void *data)
{
	struct fetch *f = calloc(1, sizeof(*f));

	if (f) {
		f->node = node;
		f->cb = cb;
		f->data = data;
	}
	return f;
}

int identity_fetch(struct node *node, struct ctlclient *cc, const char *authorization,
		   identity_cb cb, void *data)
{
	struct fetch *f = fetch_new(node, cb, data);
	int err;

	if (!f)
		return -ENOMEM;
	if (basic_auth_decode(authorization, f->id.credential, sizeof(f->id.credential)) ||
	    sha256_digest(f->id.credential, strlen(f->id.credential), f->digest)) {
		free(f);
		return -EINVAL;
	}
	err = ctlclient_identity(cc, authorization, on_identity, f);
	if (err)
		free(f);
	return err;
}

int identity_lookup_namespace(struct node *node, const char *ns, struct identity *out)
{
	if (ns_table_fresh(node->ns, ns, clock_mono_ms(), &out->ns_idx))
		return -EAGAIN;
	snprintf(out->ns, sizeof(out->ns), "%s", ns);
	out->credential[0] = '\0';
	return 0;
}

int identity_fetch_namespace(struct node *node, struct ctlclient *cc, const char *ns,
			     identity_cb cb, void *data)
{
	struct fetch *f = fetch_new(node, cb, data);
	int err;

	if (!f)
		return -ENOMEM;
	f->by_namespace = true;
	err = ctlclient_namespace(cc, ns, on_identity, f);
	if (err)
		free(f);
	return err;
}
