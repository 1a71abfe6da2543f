// SPDX-License-Identifier: Apache-2.0
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>

#include "http.h"
#include "json.h"
#include "log.h"
#include "mailbox.h"
#include "pod_spec.h"
#include "pods.h"
#include "stem_pods.h"
#include "util.h"

#define TWIN_SUFFIX "/pods"
#define TICK_MS 500
#define WATCH_IDLE_S 60     /* bookmarks come far more often on a live stream */
#define WATCH_TIMEOUT_S 300 /* the API ends a watch after this; we resume */
#define SELECTOR LABEL_MANAGED "%%3Dxwhisk" /* in a format string */

enum job_kind { JOB_CREATE, JOB_DELETE, JOB_EVENT, JOB_PATCH };

struct job {
	enum job_kind kind;
	char name[64];
	char id[SANDBOX_ID_CHARS + 1];
	json_t *pod;    /* what a create or an event posts, a patch sends */
	struct job *next;
};

/* What the threads tell the loop. */
enum msg_kind { MSG_LIST, MSG_EVENT, MSG_CREATE_FAILED, MSG_CLAIMED };

struct msg {
	struct pods *p;
	enum msg_kind kind;
	char type[16];  /* ADDED, MODIFIED, DELETED */
	char id[SANDBOX_ID_CHARS + 1]; /* a sandbox, or a stem cell pod's name */
	json_t *obj;    /* the pod, the list's items, the error, or a claimed stem's address */
};

/* A /init in flight: found again by sandbox id, the sandbox may be gone meanwhile. */
struct init_call {
	struct pods *p;
	char id[SANDBOX_ID_CHARS + 1];
	struct http_pool *pool;
	bool done;
	struct init_call *next;
};

struct pods {
	struct loop *loop;
	struct cluster *c;
	struct store *store;
	const struct runtimes *rt;
	struct pods_config cfg;
	char image[256];
	struct mailbox *mb;
	pthread_t writer, watcher;
	bool writer_up, watcher_up;
	volatile bool stop;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct job *jobs, **jobs_tail;
	struct loop_timer *tick;
	struct init_call *inits;
	json_t *waiting;   /* pod name -> {pod, since_ms}: ready pods whose node has not registered */
	struct stem_pods *stems; /* NULL: no stem cell pods */
	json_t *claims;    /* pod name -> sandbox id: stem cell pods that became sandboxes */
	char fill_node[64]; /* the node fill_stems is filling */
	bool listed;       /* the first list has come */
	bool removing_gone; /* cluster_remove of a pod already gone: no delete */
	uint64_t created, deleted, relists, resumed;
};

/* ---- the writer thread ------------------------------------------------------------ */

static void post(struct pods *p, enum msg_kind kind, const char *type, const char *id,
		 json_t *obj);

static void enqueue(struct pods *p, struct job *j)
{
	pthread_mutex_lock(&p->lock);
	*p->jobs_tail = j;
	p->jobs_tail = &j->next;
	pthread_cond_signal(&p->cond);
	pthread_mutex_unlock(&p->lock);
}

static void run_job(struct pods *p, struct job *j)
{
	char path[512];
	json_t *answer = NULL;
	long status = 0;
	int err;

	if (j->kind == JOB_CREATE) {
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods", p->cfg.kube.namespace);
		err = kube_call(&p->cfg.kube, "POST", path, j->pod, NULL, &status, &answer);
		/* AlreadyExists: an earlier try made it (its answer was lost); the watch says
		 * how it is doing. */
		if (!err && (status == 201 || status == 200 ||
			     (status == 409 && !strcmp(kube_reason(answer), "AlreadyExists")))) {
			__atomic_add_fetch(&p->created, 1, __ATOMIC_RELAXED);
		} else {
			char why[512];

			snprintf(why, sizeof(why), "%s", err ? strerror(-err) :
				 json_obj_str(answer, "message") ?: "refused");
			pr_warn("pods: cannot create pod %s: %s (status %ld)", j->name, why, status);
			post(p, MSG_CREATE_FAILED, "", j->id, json_string(why));
		}
	} else if (j->kind == JOB_PATCH) {
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", p->cfg.kube.namespace,
			 j->name);
		err = kube_call(&p->cfg.kube, "PATCH", path, j->pod, "application/merge-patch+json",
				&status, &answer);
		/* (a stem cell gone meanwhile: its /init fails, and that says it) */
		if (err || status != 200)
			pr_warn("pods: cannot relabel pod %s for sandbox %s (status %ld)", j->name,
				j->id, status);
	} else if (j->kind == JOB_EVENT) {
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/events", p->cfg.kube.namespace);
		err = kube_call(&p->cfg.kube, "POST", path, j->pod, NULL, &status, &answer);
		if (err || status != 201)
			pr_debug("pods: cannot record an event for %s (status %ld)", j->name, status);
	} else {
		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods/%s", p->cfg.kube.namespace,
			 j->name);
		err = kube_call(&p->cfg.kube, "DELETE", path, NULL, NULL, &status, &answer);
		if (!err && (status == 200 || status == 202 || status == 404))
			__atomic_add_fetch(&p->deleted, 1, __ATOMIC_RELAXED);
		else /* the next list finds it and deletes it again */
			pr_warn("pods: cannot delete pod %s: %s (status %ld)", j->name,
				err ? strerror(-err) : json_obj_str(answer, "message") ?: "?", status);
	}
	json_decref(answer);
}

static void *writer_main(void *arg)
{
	struct pods *p = arg;

	for (;;) {
		struct job *j;

		pthread_mutex_lock(&p->lock);
		while (!p->jobs && !p->stop)
			pthread_cond_wait(&p->cond, &p->lock);
		/* (jobs left at a stop are dropped: the next controller's list finds them) */
		j = p->stop ? NULL : p->jobs;
		if (j) {
			p->jobs = j->next;
			if (!p->jobs)
				p->jobs_tail = &p->jobs;
		}
		pthread_mutex_unlock(&p->lock);
		if (!j)
			return NULL;
		run_job(p, j);
		json_decref(j->pod);
		free(j);
	}
}

/* ---- the watch thread ------------------------------------------------------------- */

struct watch_state {
	struct pods *p;
	char rv[64];
	bool expired;
};

static bool on_watch_line(const char *line, size_t len, void *arg)
{
	struct watch_state *w = arg;
	json_t *ev = json_parse(line, len, NULL, 0), *obj = json_object_get(ev, "object");
	const char *type = json_obj_str(ev, "type") ?: "";
	const char *rv = json_obj_str(json_object_get(obj, "metadata"), "resourceVersion");

	if (!strcmp(type, "ERROR")) {
		/* 410 Gone: the version fell out of the API's history; list again. */
		w->expired = json_integer_value(json_object_get(obj, "code")) == 410;
		if (!w->expired)
			pr_warn("pods: the watch says %s", json_obj_str(obj, "message") ?: "an error");
		json_decref(ev);
		return false;
	}
	if (rv && strlen(rv) < sizeof(w->rv))
		snprintf(w->rv, sizeof(w->rv), "%s", rv);
	if (strcmp(type, "BOOKMARK") && obj)
		post(w->p, MSG_EVENT, type, "", json_incref(obj));
	json_decref(ev);
	return true;
}

static void nap(struct pods *p, unsigned ms)
{
	for (unsigned t = 0; t < ms && !p->stop; t += 50) {
		struct timespec ts = { 0, 50 * 1000000L };

		nanosleep(&ts, NULL);
	}
}

/* List, then watch from the list's version; a 410 lists again, a break resumes. */
static void *watcher_main(void *arg)
{
	struct pods *p = arg;
	unsigned backoff = 100;
	char path[768];

	while (!p->stop) {
		struct watch_state w = { .p = p };
		json_t *list = NULL;
		long status = 0;
		int err;

		snprintf(path, sizeof(path), "/api/v1/namespaces/%s/pods?labelSelector=" SELECTOR,
			 p->cfg.kube.namespace);
		err = kube_call(&p->cfg.kube, "GET", path, NULL, NULL, &status, &list);
		if (err || status != 200 || !json_is_array(json_object_get(list, "items"))) {
			pr_warn("pods: cannot list the pods at %s: %s (status %ld); running pods "
				"keep serving", p->cfg.kube.server, err ? strerror(-err) : "refused",
				status);
			json_decref(list);
			nap(p, backoff);
			backoff = backoff < 5000 ? backoff * 2 : 5000;
			continue;
		}
		snprintf(w.rv, sizeof(w.rv), "%s",
			 json_obj_str(json_object_get(list, "metadata"), "resourceVersion") ?: "");
		post(p, MSG_LIST, "", "", json_incref(json_object_get(list, "items")));
		json_decref(list);
		while (!p->stop) {
			snprintf(path, sizeof(path),
				 "/api/v1/namespaces/%s/pods?watch=1&allowWatchBookmarks=true"
				 "&labelSelector=" SELECTOR "&timeoutSeconds=%d&resourceVersion=%s",
				 p->cfg.kube.namespace, WATCH_TIMEOUT_S, w.rv);
			err = kube_watch(&p->cfg.kube, path, WATCH_IDLE_S, on_watch_line, &w, &p->stop);
			if (w.expired || err == -EPROTO)
				break;
			if (err) {
				pr_info("pods: the watch broke (%s): resuming from %s", strerror(-err),
					w.rv);
				nap(p, backoff);
				backoff = backoff < 5000 ? backoff * 2 : 5000;
			} else {
				backoff = 100;
			}
			__atomic_add_fetch(&p->resumed, 1, __ATOMIC_RELAXED);
		}
		if (w.expired) {
			pr_info("pods: version %s expired (410): listing again", w.rv);
			__atomic_add_fetch(&p->relists, 1, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

/* ---- on the loop ------------------------------------------------------------------ */

static void on_msg(void *arg);

static void post(struct pods *p, enum msg_kind kind, const char *type, const char *id,
		 json_t *obj)
{
	struct msg *m = calloc(1, sizeof(*m));

	if (!m) {
		json_decref(obj);
		return;
	}
	m->p = p;
	m->kind = kind;
	snprintf(m->type, sizeof(m->type), "%s", type);
	snprintf(m->id, sizeof(m->id), "%s", id);
	m->obj = obj;
	if (mailbox_post(p->mb, on_msg, m)) {
		json_decref(obj);
		free(m);
	}
}

static struct cnode *twin_of(struct pods *p, const char *node_name)
{
	char name[80];

	snprintf(name, sizeof(name), "%s" TWIN_SUFFIX, node_name);
	return cluster_node_by_name(p->c, name);
}

static bool is_twin(const struct cnode *n)
{
	size_t len = strlen(n->name), sl = strlen(TWIN_SUFFIX);

	return len > sl && !strcmp(n->name + len - sl, TWIN_SUFFIX);
}

/* The pod of sandbox id: xw-<id>, or the stem cell pod it took over. */
static void sandbox_pod(struct pods *p, const char *id, char *out, size_t len)
{
	const char *name;
	json_t *v;

	json_object_foreach(p->claims, name, v) {
		if (!strcmp(json_string_value(v) ?: "", id)) {
			snprintf(out, len, "%s", name);
			return;
		}
	}
	pod_name(out, len, id);
}

static void delete_pod(struct pods *p, const char *name)
{
	struct job *j = calloc(1, sizeof(*j));

	if (!j)
		return;
	j->kind = JOB_DELETE;
	snprintf(j->name, sizeof(j->name), "%s", name);
	enqueue(p, j);
}

/* A Warning event on the pod: what `kubectl describe pod` shows of why it went. */
static void pod_event(struct pods *p, const char *name, const char *reason, const char *message)
{
	struct job *j = calloc(1, sizeof(*j));
	char now[32], prefix[80];
	time_t t = time(NULL);
	struct tm tm;

	if (!j)
		return;
	gmtime_r(&t, &tm);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(prefix, sizeof(prefix), "%s.", name);
	j->kind = JOB_EVENT;
	snprintf(j->name, sizeof(j->name), "%s", name);
	j->pod = json_pack("{s:s,s:s,s:{s:s},s:{s:s,s:s,s:s,s:s},s:s,s:s,s:s,s:{s:s},s:s,s:s,s:i}",
			   "apiVersion", "v1", "kind", "Event", "metadata", "generateName", prefix,
			   "involvedObject", "apiVersion", "v1", "kind", "Pod", "namespace",
			   p->cfg.kube.namespace, "name", name, "reason", reason, "message", message,
			   "type", "Warning", "source", "component", "xwhisk-controller",
			   "firstTimestamp", now, "lastTimestamp", now, "count", 1);
	if (!j->pod) {
		free(j);
		return;
	}
	enqueue(p, j);
}

/* The sandbox leaves the pool because its pod is gone or going: no delete needed. */
static void remove_gone(struct pods *p, struct gsandbox *s, const char *why)
{
	p->removing_gone = true;
	cluster_remove(p->c, s, why);
	p->removing_gone = false;
}

static void sandbox_failed(struct pods *p, struct gsandbox *s, const char *message)
{
	json_t *body = json_pack("{s:s,s:s,s:b}", "state", "failed", "message", message, "whisk",
				 1);
	const char *why = NULL;
	struct cnode *n = p->c->nodes[s->node];

	if (n && body && !cluster_sandbox_report(p->c, n, s, body, &why)) {
		json_decref(body);
		return;
	}
	json_decref(body);
	cluster_remove(p->c, s, "failed");
}

/* The action's /init body, as a node builds it for its own sandboxes. */
static json_t *init_body(struct pods *p, const struct gsandbox *s)
{
	struct entity_rec rec = { 0 };
	json_t *exec, *value, *env, *out = NULL;
	char action[900];

	if (p->store->ops->entity_get(p->store, s->docid, &rec))
		return NULL;
	exec = json_object_get(rec.doc, "exec");
	snprintf(action, sizeof(action), "/%s", s->docid);
	env = json_pack("{s:s,s:s,s:s}", "__OW_NAMESPACE", s->subject, "__OW_ACTION_NAME", action,
			"__OW_ACTION_VERSION", json_obj_str(rec.doc, "version") ?: "0.0.1");
	value = json_pack("{s:s,s:s,s:b,s:o}", "name", json_obj_str(rec.doc, "name") ?: "",
			  "main", json_obj_str(exec, "main") ?: "main", "binary",
			  json_is_true(json_object_get(exec, "binary")), "env", env);
	if (value && json_object_get(exec, "code"))
		json_object_set(value, "code", json_object_get(exec, "code"));
	if (value)
		out = json_pack("{s:o,s:i}", "value", value, "concurrency", s->concurrency);
	entity_rec_clear(&rec);
	return out;
}

static void on_init_answer(struct http_response *resp, int err, void *data)
{
	struct init_call *ic = data;
	struct pods *p = ic->p;
	struct gsandbox *s = cluster_sandbox(p->c, ic->id);
	const char *why = NULL;

	ic->done = true;
	if (!s || s->state != GS_STARTING)
		return; /* removed (or given up) while /init ran */
	if (!err && resp->status == 200) {
		json_t *body = json_pack("{s:s,s:s,s:i}", "state", "warm", "addr", s->addr, "port",
					 POD_PORT);

		s->addr[0] = '\0'; /* set again by the report */
		if (cluster_sandbox_report(p->c, p->c->nodes[s->node], s, body, &why))
			pr_warn("pods: sandbox %s: %s", ic->id, why);
		json_decref(body);
		return;
	}
	{
		json_t *answer = !err && resp->body.data ?
					 json_parse(resp->body.data + resp->body.off,
						    resp->body.len - resp->body.off, NULL, 0) : NULL;
		const char *text = json_obj_str(answer, "error");
		char message[512];

		snprintf(message, sizeof(message), "%s", text ? text :
			 err ? "The action did not initialize and exited unexpectedly." :
			       "The action failed to initialize.");
		pr_info("pods: /init of sandbox %s failed: %s", ic->id, message);
		{
			char name[64];

			sandbox_pod(p, ic->id, name, sizeof(name));
			pod_event(p, name, "InitFailed", message);
		}
		sandbox_failed(p, s, message);
		json_decref(answer);
	}
}

static void start_init(struct pods *p, struct gsandbox *s, const char *ip)
{
	struct init_call *ic = calloc(1, sizeof(*ic));
	json_t *body = init_body(p, s);
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

	json_decref(body);
	snprintf(s->addr, sizeof(s->addr), "%s", ip); /* "initing": not started twice */
	if (ic)
		ic->pool = http_pool_new(p->loop, ip, POD_PORT, 1);
	if (!ic || !ic->pool || !text) {
		const char *why = text ? "Failed to provision a sandbox for the action." :
					 "The action is gone.";

		free(text);
		if (ic)
			http_pool_free(ic->pool);
		free(ic);
		sandbox_failed(p, s, why);
		return;
	}
	ic->p = p;
	snprintf(ic->id, sizeof(ic->id), "%s", s->id);
	ic->next = p->inits;
	p->inits = ic;
	if (!http_pool_call(ic->pool, "POST", "/init", "Content-Type: application/json\r\n", text,
			    strlen(text), 60000, on_init_answer, ic)) {
		ic->done = true;
		sandbox_failed(p, s, "The action did not initialize and exited unexpectedly.");
	}
	free(text);
}

static bool pod_ready(const json_t *pod, const char **ip)
{
	const json_t *st = json_object_get(pod, "status"), *conds = json_object_get(st, "conditions");
	size_t i;
	json_t *c;

	*ip = json_obj_str(st, "podIP");
	if (!*ip || !**ip || strcmp(json_obj_str(st, "phase") ?: "", "Running"))
		return false;
	json_array_foreach(conds, i, c)
		if (!strcmp(json_obj_str(c, "type") ?: "", "Ready"))
			return !strcmp(json_obj_str(c, "status") ?: "", "True");
	return false;
}

/* The pod's annotation is only as trustworthy as whoever may write pods: a number in it
 * outside [lo, hi] refuses the adoption (the pod is then deleted as unknown). */
#define XW_POD_CONCURRENCY_MAX 500 /* the system's maxActionConcurrency */

static bool annotation_uint(const json_t *sb, const char *key, json_int_t lo, json_int_t hi,
			    uint32_t *out)
{
	const json_t *v = json_object_get(sb, key);

	if (!json_is_integer(v) || json_integer_value(v) < lo || json_integer_value(v) > hi)
		return false;
	*out = (uint32_t)json_integer_value(v);
	return true;
}

/* A ready pod of an earlier run: back in the pool as warm, as a node's re-registration
 * brings its sandboxes back. False when it cannot be yet; true when decided (adopted, or
 * for the caller to delete). */
static bool adopt(struct pods *p, const json_t *pod, const char *ip)
{
	const json_t *md = json_object_get(pod, "metadata");
	const char *note = json_obj_str(json_object_get(md, "annotations"), ANNOTATION);
	struct cnode *n = twin_of(p, json_obj_str(json_object_get(pod, "spec"), "nodeName") ?: "");
	json_t *sb = note ? json_parse(note, strlen(note), NULL, 0) : NULL;
	struct entity_rec rec = { 0 };
	struct gsandbox *s = NULL;
	bool ok = false;

	if (!n)
		goto out; /* not yet: its node agent has not registered again */
	/* From here on the answer is final: a pod not adopted is deleted by the caller (its
	 * action deleted meanwhile, or an annotation that cannot be what we wrote). */
	ok = true;
	if (!sb || p->store->ops->entity_get(p->store, json_obj_str(sb, "docid") ?: "", &rec))
		goto out;
	s = calloc(1, sizeof(*s));
	if (!s || !json_obj_copy_str(sb, "id", s->id, sizeof(s->id)) ||
	    strlen(s->id) != SANDBOX_ID_CHARS ||
	    !json_obj_copy_str(sb, "action_id", s->action_id, sizeof(s->action_id)) ||
	    !json_obj_copy_str(sb, "subject", s->subject, sizeof(s->subject)) ||
	    !json_obj_copy_str(sb, "docid", s->docid, sizeof(s->docid)) ||
	    !json_obj_copy_str(sb, "kind", s->kind, sizeof(s->kind)))
		goto out;
	if (!annotation_uint(sb, "memory_mb", 1, n->memory_mb ?: UINT32_MAX, &s->memory_mb) ||
	    !annotation_uint(sb, "cpu_milli", 0, n->cpu_milli ?: UINT32_MAX, &s->cpu_milli) ||
	    !annotation_uint(sb, "concurrency", 1, XW_POD_CONCURRENCY_MAX, &s->concurrency))
		goto out;
	if (cluster_sandbox(p->c, s->id))
		goto out; /* already in the pool (an adoption seen twice): nothing to add */
	s->node = n->idx;
	s->revision = json_integer_value(json_object_get(sb, "revision"));
	snprintf(s->addr, sizeof(s->addr), "%s", ip);
	s->port = POD_PORT;
	s->state = GS_WARM;
	s->created_ms = s->last_used_ms = loop_now_ms(p->loop);
	n->used_memory_mb += s->memory_mb;
	n->used_cpu_milli += s->cpu_milli;
	cluster_add(p->c, s);
	publish_sandbox(p->c, s, "warm");
	if (strncmp(json_obj_str(md, "name") ?: "", "xw-", 3) ||
	    strcmp(json_obj_str(md, "name") + 3, s->id))
		json_object_set_new(p->claims, json_obj_str(md, "name") ?: "", json_string(s->id));
	pr_info("pods: adopted pod %s on %s at %s", json_obj_str(md, "name") ?: "", n->name, ip);
	s = NULL;
out:
	entity_rec_clear(&rec);
	json_decref(sb);
	free(s);
	return ok;
}

/* A stem cell pod's event; false when the pod is none. */
static bool on_stem_pod(struct pods *p, const char *type, const json_t *pod, const char *name)
{
	bool remove;

	if (!p->stems || !stem_pods_on_pod(p->stems, type, pod, &remove))
		return false;
	if (remove)
		delete_pod(p, name);
	return true;
}

static void on_pod(struct pods *p, const char *type, json_t *pod)
{
	const json_t *md = json_object_get(pod, "metadata");
	const char *name = json_obj_str(md, "name") ?: "", *phase, *ip = NULL;
	/* (a claimed stem cell may not carry its sandbox's label yet) */
	const char *id = json_obj_str(json_object_get(md, "labels"), LABEL_SANDBOX) ?:
			 json_obj_str(p->claims, name) ?: "";
	struct gsandbox *s = cluster_sandbox(p->c, id);
	bool ready = pod_ready(pod, &ip);

	if (!*id && on_stem_pod(p, type, pod, name))
		return;

	phase = json_obj_str(json_object_get(pod, "status"), "phase") ?: "";
	if (!strcmp(type, "DELETED") || json_object_get(md, "deletionTimestamp")) {
		json_object_del(p->waiting, name);
		if (s)
			remove_gone(p, s, "its pod was deleted");
		return;
	}
	if (!strcmp(phase, "Failed") || !strcmp(phase, "Succeeded")) {
		json_object_del(p->waiting, name);
		if (s)
			pod_event(p, name, "SandboxLost",
				  json_obj_str(json_object_get(pod, "status"), "message") ?:
				  "The pod ended: its sandbox is removed.");
		if (s && s->state == GS_STARTING)
			sandbox_failed(p, s, "The action's pod failed before it was ready.");
		else if (s)
			cluster_remove(p->c, s, "its pod ended");
		else
			delete_pod(p, name);
		return;
	}
	if (s) {
		if (ready && s->state == GS_STARTING && !s->addr[0])
			start_init(p, s, ip);
		return;
	}
	if (!ready) {
		/* not ours (any more) and never warm: nothing to come back for */
		delete_pod(p, name);
		return;
	}
	if (adopt(p, pod, ip)) {
		if (!cluster_sandbox(p->c, id))
			delete_pod(p, name);
		json_object_del(p->waiting, name);
	} else if (!json_object_get(p->waiting, name)) {
		/* its node agent has not registered again yet */
		json_object_set_new(p->waiting, name,
				    json_pack("{s:O,s:I}", "pod", pod, "since",
					      (json_int_t)loop_now_ms(p->loop)));
	}
}

/* The sandbox ids a list holds, as the keys of an object: one lookup per sandbox instead of
 * a scan of the list. */
static json_t *listed_ids(const json_t *items)
{
	json_t *ids = json_object(), *pod;
	const char *id;
	size_t i;

	json_array_foreach(items, i, pod) {
		id = json_obj_str(json_object_get(json_object_get(pod, "metadata"), "labels"),
				  LABEL_SANDBOX);
		if (ids && id)
			json_object_set_new(ids, id, json_true());
	}
	return ids;
}

/* A fresh list: what it lacks is gone (while the watch was away), the rest as events. */
static void on_list(struct pods *p, json_t *items)
{
	json_t *ids = listed_ids(items), *pod;
	struct gsandbox *s, *next;
	size_t i;

	for (s = p->c->sandboxes; ids && s; s = next) {
		next = s->next;
		/* starting ones may not be created yet: their start timeout settles them */
		if (s->state != GS_STARTING && p->c->nodes[s->node] &&
		    is_twin(p->c->nodes[s->node]) && !json_object_get(ids, s->id))
			remove_gone(p, s, "its pod is gone");
	}
	json_decref(ids);
	if (p->stems)
		stem_pods_keep_listed(p->stems, items);
	json_array_foreach(items, i, pod)
		on_pod(p, "ADDED", pod);
	p->listed = true;
}

static void on_msg(void *arg)
{
	struct msg *m = arg;
	struct pods *p = m->p;
	struct gsandbox *s;

	switch (m->kind) {
	case MSG_LIST:
		on_list(p, m->obj);
		break;
	case MSG_EVENT:
		on_pod(p, m->type, m->obj);
		break;
	case MSG_CLAIMED:
		/* the allocation that claimed a stem cell has returned: /init it now */
		s = cluster_sandbox(p->c, m->id);
		if (s && s->state == GS_STARTING && !s->addr[0])
			start_init(p, s, json_string_value(m->obj) ?: "");
		break;
	case MSG_CREATE_FAILED:
		if (p->stems && !strncmp(m->id, STEM_NAME_PREFIX, strlen(STEM_NAME_PREFIX))) {
			stem_pods_forget(p->stems, m->id);
			break;
		}
		s = cluster_sandbox(p->c, m->id);
		if (s && s->state == GS_STARTING) {
			p->removing_gone = true;
			sandbox_failed(p, s, "Failed to provision a sandbox for the action.");
			p->removing_gone = false;
		}
		break;
	}
	json_decref(m->obj);
	free(m);
}

static void create_stem(void *data, const char *kind, const char *name)
{
	struct pods *p = data;
	struct job *j = calloc(1, sizeof(*j));

	if (!j) {
		stem_pods_forget(p->stems, name);
		return;
	}
	j->kind = JOB_CREATE;
	snprintf(j->name, sizeof(j->name), "%s", name);
	snprintf(j->id, sizeof(j->id), "%s", name);
	j->pod = pods_stem_manifest(&p->cfg, p->rt, kind, stem_pods_memory_mb(p->stems),
				    p->fill_node, name);
	if (!j->pod) {
		stem_pods_forget(p->stems, name);
		free(j);
		return;
	}
	enqueue(p, j);
}

/* Every live node keeps its stem cell pods (after the first list: an earlier run's
 * are known then). */
static void fill_stems(struct pods *p)
{
	if (!p->stems || !p->listed)
		return;
	for (unsigned i = 1; i <= CLUSTER_MAX_NODES; i++) {
		struct cnode *n = p->c->nodes[i];

		if (!n || !is_twin(n) || n->lost)
			continue;
		snprintf(p->fill_node, sizeof(p->fill_node), "%.*s",
			 (int)(strlen(n->name) - strlen(TWIN_SUFFIX)), n->name);
		stem_pods_fill(p->stems, p->fill_node, create_stem, p);
	}
}

static void on_tick(struct loop *loop, void *data)
{
	struct pods *p = data;
	struct init_call **pp = &p->inits;
	uint64_t now = loop_now_ms(loop);
	const char *name;
	json_t *w;
	void *tmp;

	p->tick = NULL;
	/* A twin lives as long as its node agent: the pods are on the agent's machine. */
	for (unsigned i = 1; i <= CLUSTER_MAX_NODES; i++) {
		struct cnode *n = p->c->nodes[i], *agent;
		char host[64];

		if (!n || !is_twin(n))
			continue;
		snprintf(host, sizeof(host), "%.*s", (int)(strlen(n->name) - strlen(TWIN_SUFFIX)),
			 n->name);
		agent = cluster_node_by_name(p->c, host);
		if (agent && !agent->lost)
			n->last_heard_ms = agent->last_heard_ms;
	}
	while (*pp) {
		struct init_call *ic = *pp;

		if (ic->done) {
			*pp = ic->next;
			http_pool_free(ic->pool);
			free(ic);
		} else {
			pp = &ic->next;
		}
	}
	json_object_foreach_safe(p->waiting, tmp, name, w) {
		const json_t *pod = json_object_get(w, "pod");
		const char *ip = NULL;

		pod_ready(pod, &ip);
		if (ip && adopt(p, pod, ip)) {
			const char *id = json_obj_str(json_object_get(json_object_get(pod, "metadata"),
								      "labels"), LABEL_SANDBOX);

			if (!cluster_sandbox(p->c, id ?: ""))
				delete_pod(p, name); /* its action is gone */
			json_object_del(p->waiting, name);
		} else if (now - (uint64_t)json_integer_value(json_object_get(w, "since")) >
			   p->cfg.adopt_wait_ms) {
			pr_info("pods: pod %s: its node never came back: deleting it", name);
			delete_pod(p, name);
			json_object_del(p->waiting, name);
		}
	}
	fill_stems(p);
	p->tick = loop_timer_add(loop, TICK_MS, on_tick, p);
}

/* ---- cluster hooks ---------------------------------------------------------------- */

static void hook_registered(void *data, struct cnode *n)
{
	struct pods *p = data;
	struct cnode *twin;
	json_t *body;
	const char *why = NULL;

	if (is_twin(n))
		return;
	twin = twin_of(p, n->name);
	if (twin) {
		/* (not cluster_register: that would drop the twin's sandboxes its agent does
		 * not list, and an agent lists only its own) */
		twin->memory_mb = n->memory_mb;
		twin->cpu_milli = n->cpu_milli;
		twin->gpus = n->gpus;
		twin->last_heard_ms = n->last_heard_ms;
		twin->lost = false;
		return;
	}
	body = json_pack("{s:s+,s:s,s:i,s:i,s:i}", "name", n->name, TWIN_SUFFIX, "address",
			 n->address, "memory_mb", n->memory_mb, "cpu_milli", n->cpu_milli, "gpus",
			 n->gpus);
	if (!body || !cluster_register(p->c, body, &why))
		pr_warn("pods: no pod capacity for node %s: %s", n->name, why ?: "out of memory");
	json_decref(body);
}

static bool hook_placeable(void *data, const struct cnode *n)
{
	return is_twin(n);
}

static uint16_t hook_locality(void *data, uint16_t idx)
{
	struct pods *p = data;
	struct cnode *n = idx ? p->c->nodes[idx] : NULL, *twin;

	if (!n || is_twin(n))
		return idx;
	twin = twin_of(p, n->name);
	return twin ? twin->idx : idx;
}

/* A ready stem cell of s's kind on node becomes s's pod: relabelled (the watch and a
 * restarted controller know it by its labels) and /init'ed. False when none fits. */
static bool claim_stem(struct pods *p, struct gsandbox *s, const char *node)
{
	char name[64], ip[48];
	struct job *j;

	if (!p->stems || s->cpu_milli || s->gpus ||
	    !stem_pods_claim(p->stems, node, s->kind, s->memory_mb, name, sizeof(name), ip,
			     sizeof(ip)))
		return false;
	json_object_set_new(p->claims, name, json_string(s->id));
	j = calloc(1, sizeof(*j));
	if (j) {
		j->kind = JOB_PATCH;
		snprintf(j->name, sizeof(j->name), "%s", name);
		snprintf(j->id, sizeof(j->id), "%s", s->id);
		j->pod = json_pack("{s:o}", "metadata", pods_sandbox_metadata(s));
		json_object_set_new(json_object_get(json_object_get(j->pod, "metadata"), "labels"),
				    LABEL_STEM, json_null());
		enqueue(p, j);
	}
	pr_debug("pods: sandbox %s takes stem cell %s on %s", s->id, name, node);
	post(p, MSG_CLAIMED, "", s->id, json_string(ip));
	return true;
}

static void hook_allocated(void *data, struct gsandbox *s)
{
	struct pods *p = data;
	struct cnode *n = p->c->nodes[s->node];
	struct job *j;
	char node[64];

	if (!n || !is_twin(n))
		return;
	snprintf(node, sizeof(node), "%.*s", (int)(strlen(n->name) - strlen(TWIN_SUFFIX)), n->name);
	if (claim_stem(p, s, node))
		return;
	j = calloc(1, sizeof(*j));
	if (!j)
		return; /* the start timeout gives it up */
	j->kind = JOB_CREATE;
	pod_name(j->name, sizeof(j->name), s->id);
	snprintf(j->id, sizeof(j->id), "%s", s->id);
	j->pod = pods_manifest(&p->cfg, p->rt, s, node);
	if (!j->pod) {
		free(j);
		return;
	}
	enqueue(p, j);
}

static void hook_removed(void *data, struct gsandbox *s)
{
	struct pods *p = data;
	struct cnode *n = p->c->nodes[s->node];
	char name[64];

	sandbox_pod(p, s->id, name, sizeof(name));
	json_object_del(p->claims, name);
	if (p->removing_gone || !n || !is_twin(n))
		return;
	delete_pod(p, name);
}

struct pods *pods_start(struct loop *loop, struct cluster *c, struct store *store,
			const struct runtimes *rt, const struct pods_config *cfg)
{
	struct pods *p = calloc(1, sizeof(*p));
	sigset_t all, old;

	if (!p)
		return NULL;
	p->loop = loop;
	p->c = c;
	p->store = store;
	p->rt = rt;
	p->cfg = *cfg;
	snprintf(p->image, sizeof(p->image), "%s", cfg->image ?: "ghcr.io/xwhisk/xwhisk:latest");
	p->cfg.image = p->image;
	p->cfg.kube.abort = &p->stop;
	if (!p->cfg.adopt_wait_ms)
		p->cfg.adopt_wait_ms = 30000;
	p->jobs_tail = &p->jobs;
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->cond, NULL);
	p->waiting = json_object();
	p->claims = json_object();
	p->mb = mailbox_new(loop);
	if (!p->waiting || !p->claims || !p->mb)
		goto fail;
	if (cfg->prewarm && *cfg->prewarm) {
		const char *bad = NULL;

		p->stems = stem_pods_new(cfg->prewarm, rt, cfg->stem_memory_mb, &bad);
		if (!p->stems) {
			pr_err("pods: XWHISK_POD_PREWARM '%s': %s", cfg->prewarm, bad);
			goto fail;
		}
	}
	c->hooks = (struct cluster_hooks){
		.registered = hook_registered,
		.allocated = hook_allocated,
		.removed = hook_removed,
		.placeable = hook_placeable,
		.locality = hook_locality,
		.data = p,
	};
	/* The threads take no signals: SIGTERM is the loop's (signalfd), and a thread that
	 * got it with the default action would end the process without a clean stop. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	p->writer_up = !pthread_create(&p->writer, NULL, writer_main, p);
	p->watcher_up = p->writer_up && !pthread_create(&p->watcher, NULL, watcher_main, p);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!p->watcher_up)
		goto fail;
	/* Nodes that registered before (a replica elected late): their twins now. */
	for (unsigned i = 1; i <= CLUSTER_MAX_NODES; i++)
		if (c->nodes[i] && !is_twin(c->nodes[i]))
			hook_registered(p, c->nodes[i]);
	p->tick = loop_timer_add(loop, TICK_MS, on_tick, p);
	pr_info("pods: sandboxes are pods in namespace %s of %s (image %s)", p->cfg.kube.namespace,
		p->cfg.kube.server, p->image);
	return p;
fail:
	pr_err("pods: cannot start the pod backend");
	pods_stop(p);
	return NULL;
}

void pods_stop(struct pods *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	p->stop = true;
	pthread_cond_broadcast(&p->cond);
	pthread_mutex_unlock(&p->lock);
	if (p->writer_up)
		pthread_join(p->writer, NULL);
	if (p->watcher_up)
		pthread_join(p->watcher, NULL);
	if (p->c && p->c->hooks.data == p)
		memset(&p->c->hooks, 0, sizeof(p->c->hooks));
	loop_timer_cancel(p->loop, p->tick);
	while (p->inits) {
		struct init_call *ic = p->inits;

		p->inits = ic->next;
		http_pool_free(ic->pool);
		free(ic);
	}
	while (p->jobs) {
		struct job *j = p->jobs;

		p->jobs = j->next;
		json_decref(j->pod);
		free(j);
	}
	mailbox_free(p->mb);
	json_decref(p->waiting);
	json_decref(p->claims);
	stem_pods_free(p->stems);
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->cond);
	free(p);
}
