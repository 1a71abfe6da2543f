// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <curl/curl.h>

#include "json.h"
#include "lease.h"
#include "log.h"

#define POLL_MS 100

struct lease {
	struct loop *loop;
	struct lease_config cfg;
	char name[64], identity[128];
	void (*on_elected)(void *data), (*on_lost)(void *data);
	void *data;
	pthread_t thread;
	bool thread_up;
	volatile bool stop;
	bool leading;       /* written by the thread, read by the loop (atomics) */
	bool told;          /* the loop has run on_elected */
	struct loop_timer *poll;
	/* the thread's view of the record */
	char observed[256];
	uint64_t observed_ms, renewed_ms;
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

/* Renewed recently enough that no other replica can have taken the Lease over. Read by
 * the loop too: a round stuck on a silent API server must not keep a leader leading. */
static bool renewed_lately(struct lease *l)
{
	return clock_mono_ms() - __atomic_load_n(&l->renewed_ms, __ATOMIC_ACQUIRE) <=
	       (uint64_t)l->cfg.duration_s * 1000 * 2 / 3;
}

static void *lease_main(void *arg)
{
	struct lease *l = arg;

	l->observed_ms = clock_mono_ms();
	while (!l->stop) {
		bool leading = __atomic_load_n(&l->leading, __ATOMIC_ACQUIRE);

		if (round_once(l)) {
			__atomic_store_n(&l->renewed_ms, clock_mono_ms(), __ATOMIC_RELEASE);
			if (!leading)
				__atomic_store_n(&l->leading, true, __ATOMIC_RELEASE);
		} else if (leading && !renewed_lately(l)) {
			/* others may take it over soon: stop acting as the leader now */
			__atomic_store_n(&l->leading, false, __ATOMIC_RELEASE);
		}
		for (unsigned t = 0; t < l->cfg.renew_ms && !l->stop; t += 50) {
			struct timespec ts = { 0, 50 * 1000000L };

			nanosleep(&ts, NULL);
		}
	}
	return NULL;
}

static void on_poll(struct loop *loop, void *data)
{
	struct lease *l = data;
	bool leading = __atomic_load_n(&l->leading, __ATOMIC_ACQUIRE) && renewed_lately(l);

	l->poll = NULL;
	if (leading && !l->told) {
		l->told = true;
		pr_info("lease: %s is the leader (Lease %s/%s)", l->identity, l->cfg.kube.namespace,
			l->name);
		l->on_elected(l->data);
	} else if (!leading && l->told) {
		pr_err("lease: %s could not renew the Lease %s: no longer the leader", l->identity,
		       l->name);
		l->told = false;
		l->on_lost(l->data);
		return;
	}
	l->poll = loop_timer_add(loop, POLL_MS, on_poll, l);
}

struct lease *lease_start(struct loop *loop, const struct lease_config *cfg,
			  void (*on_elected)(void *data), void (*on_lost)(void *data), void *data)
{
	struct lease *l = calloc(1, sizeof(*l));
	sigset_t all, old;

	if (!l)
		return NULL;
	l->loop = loop;
	l->cfg = *cfg;
	snprintf(l->name, sizeof(l->name), "%s", cfg->name);
	snprintf(l->identity, sizeof(l->identity), "%s", cfg->identity);
	l->cfg.name = l->name;
	l->cfg.kube.abort = &l->stop;
	l->cfg.identity = l->identity;
	if (!l->cfg.duration_s)
		l->cfg.duration_s = 15;
	if (!l->cfg.renew_ms)
		l->cfg.renew_ms = 2000;
	/* A round (a read and a write, each tried three times) stays well inside the
	 * Lease's duration. */
	if (!l->cfg.kube.timeout_ms || l->cfg.kube.timeout_ms > l->cfg.renew_ms)
		l->cfg.kube.timeout_ms = l->cfg.renew_ms;
	l->on_elected = on_elected;
	l->on_lost = on_lost;
	l->data = data;
	/* (no signals on the thread: they are the loop's) */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	l->thread_up = !pthread_create(&l->thread, NULL, lease_main, l);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!l->thread_up) {
		free(l);
		return NULL;
	}
	l->poll = loop_timer_add(loop, POLL_MS, on_poll, l);
	pr_info("lease: %s runs for the Lease %s/%s (%u s)", l->identity, l->cfg.kube.namespace,
		l->name, l->cfg.duration_s);
	return l;
}

void lease_stop(struct lease *l)
{
	if (!l)
		return;
	l->stop = true;
	if (l->thread_up)
		pthread_join(l->thread, NULL);
	loop_timer_cancel(l->loop, l->poll);
	free(l);
}
