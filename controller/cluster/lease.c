// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <curl/curl.h>

#include "json.h"
#include "lease.h"
#include "log.h"

struct lease {
	struct lease_config cfg;
	char name[64], identity[128];
	/* the record as last observed, and since when */
	char observed[256];
	uint64_t observed_ms;
};

static void micro_time(char *out, size_t size)
{
	struct timeval tv;
	struct tm tm;
	char base[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(base, sizeof(base), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out, size, "%s.%06ldZ", base, (long)tv.tv_usec);
}

static void lease_path(const struct lease *l, char *out, size_t size, bool item)
{
	snprintf(out, size, "/apis/coordination.k8s.io/v1/namespaces/%s/leases%s%s",
		 l->cfg.kube.namespace, item ? "/" : "", item ? l->name : "");
}

/* Writes the Lease as ours (create when current is NULL); true when it was accepted. */
static bool write_ours(struct lease *l, json_t *current, bool take_over)
{
	char now[64], path[512];
	json_t *obj = current ? json_incref(current) :
			      json_pack("{s:s,s:s,s:{s:s},s:{}}", "apiVersion",
					"coordination.k8s.io/v1", "kind", "Lease", "metadata", "name",
					l->name, "spec");
	json_t *spec = json_object_get(obj, "spec"), *answer = NULL;
	long status = 0;
	int err;

	if (!obj)
		return false;
	if (!json_is_object(spec)) {
		spec = json_object();
		json_object_set_new(obj, "spec", spec);
	}
	micro_time(now, sizeof(now));
	json_object_set_new(spec, "holderIdentity", json_string(l->identity));
	json_object_set_new(spec, "leaseDurationSeconds", json_integer(l->cfg.duration_s));
	json_object_set_new(spec, "renewTime", json_string(now));
	if (!current || take_over) {
		json_object_set_new(spec, "acquireTime", json_string(now));
		json_object_set_new(spec, "leaseTransitions",
				    json_integer(json_integer_value(
							 json_object_get(spec, "leaseTransitions")) +
						 (current ? 1 : 0)));
	}
	lease_path(l, path, sizeof(path), current != NULL);
	/* (the resourceVersion read stays in metadata: a stale write is 409) */
	err = kube_call(&l->cfg.kube, current ? "PUT" : "POST", path, obj, NULL, &status, &answer);
	json_decref(answer);
	json_decref(obj);
	return !err && (status == 200 || status == 201);
}

/* One round: true when this replica holds the Lease after it. */
static bool round_once(struct lease *l)
{
	char path[512], key[256];
	json_t *obj = NULL;
	const json_t *spec;
	const char *holder;
	long status = 0;
	bool ok = false;
	int err;

	lease_path(l, path, sizeof(path), true);
	err = kube_call(&l->cfg.kube, "GET", path, NULL, NULL, &status, &obj);
	if (err || (status != 200 && status != 404)) {
		pr_debug("lease: cannot read %s: %s (status %ld)", l->name,
			 err ? strerror(-err) : "refused", status);
		goto out;
	}
	if (status == 404) {
		ok = write_ours(l, NULL, false);
		goto out;
	}
	spec = json_object_get(obj, "spec");
	holder = json_obj_str(spec, "holderIdentity") ?: "";
	snprintf(key, sizeof(key), "%s %s", holder, json_obj_str(spec, "renewTime") ?: "");
	if (strcmp(key, l->observed)) {
		snprintf(l->observed, sizeof(l->observed), "%s", key);
		l->observed_ms = clock_mono_ms();
	}
	if (!strcmp(holder, l->identity))
		ok = write_ours(l, obj, false);
	else if (!*holder || clock_mono_ms() - l->observed_ms > (uint64_t)l->cfg.duration_s * 1000)
		ok = write_ours(l, obj, true);
out:
	json_decref(obj);
	return ok;
}

/* A failed round proves nothing: the record may still be ours until the others' wait. */
static int lease_round(void *impl, const volatile bool *stop)
{
	struct lease *l = impl;

	l->cfg.kube.abort = stop;
	return round_once(l) ? 1 : 0;
}

static void lease_free(void *impl)
{
	free(impl);
}

static const struct leader_ops lease_ops = { .round = lease_round, .free = lease_free };

struct leader *lease_start(struct loop *loop, const struct lease_config *cfg,
			   void (*on_elected)(void *data), void (*on_lost)(void *data), void *data)
{
	struct lease *l = calloc(1, sizeof(*l));
	char what[192];
	struct leader_config lc;

	if (!l)
		return NULL;
	l->cfg = *cfg;
	snprintf(l->name, sizeof(l->name), "%s", cfg->name);
	snprintf(l->identity, sizeof(l->identity), "%s", cfg->identity);
	l->cfg.name = l->name;
	l->cfg.identity = l->identity;
	if (!l->cfg.duration_s)
		l->cfg.duration_s = 15;
	if (!l->cfg.renew_ms)
		l->cfg.renew_ms = 2000;
	/* A round (a read and a write, each tried three times) stays well inside the
	 * Lease's duration. */
	if (!l->cfg.kube.timeout_ms || l->cfg.kube.timeout_ms > l->cfg.renew_ms)
		l->cfg.kube.timeout_ms = l->cfg.renew_ms;
	l->observed_ms = clock_mono_ms();
	snprintf(what, sizeof(what), "Lease %s/%s (%u s)", l->cfg.kube.namespace, l->name,
		 l->cfg.duration_s);
	lc = (struct leader_config){
		.what = what,
		.identity = l->identity,
		.period_ms = l->cfg.renew_ms,
		/* others take over a record unchanged for the duration */
		.hold_ms = l->cfg.duration_s * 1000 * 2 / 3,
	};
	return leader_start(loop, &lc, &lease_ops, l, on_elected, on_lost, data);
}
