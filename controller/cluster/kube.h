/* SPDX-License-Identifier: Apache-2.0 */
/*
 * A small Kubernetes API client (libcurl + jansson), blocking: the pod backend calls it
 * from its own threads, never from the controller's loop, so a slow or unreachable API
 * server never stalls the loop (and the data plane never waits on it at all).
 *
 * Where the API is: XWHISK_KUBE_API (a URL, e.g. http://127.0.0.1:8001 of `kubectl
 * proxy`, or the fake API server of tests/k8s), with XWHISK_KUBE_TOKEN_FILE and
 * XWHISK_KUBE_CA_FILE when it needs them; else a kubeconfig file (XWHISK_KUBECONFIG, or
 * the first file of KUBECONFIG: kubeconfig.h); else in-cluster: KUBERNETES_SERVICE_HOST
 * and _PORT, the service account's token, CA and namespace. XWHISK_KUBE_NAMESPACE
 * overrides the namespace.
 */
#ifndef XWHISK_KUBE_H
#define XWHISK_KUBE_H

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>

struct kube_config {
	char server[512];       /* https://host:port, no trailing slash */
	char token_file[PATH_MAX]; /* re-read on every call: projected tokens rotate */
	char ca_file[PATH_MAX];
	/* from a kubeconfig: a token, PEM texts (its *-data fields), client certificate
	 * files; "" when none */
	char token[8192];
	char ca_pem[16384];
	char cert_file[PATH_MAX], key_file[PATH_MAX];
	char cert_pem[8192], key_pem[8192];
	bool insecure; /* insecure-skip-tls-verify */
	char namespace[64];
	unsigned timeout_ms;    /* of one call */
	/* when it becomes true, calls in flight end (-ECANCELED) and none is retried: a
	 * controller stopping does not wait out an API server that does not answer */
	const volatile bool *abort;
};

/* 0, or -ENOENT when neither XWHISK_KUBE_API, a kubeconfig nor an in-cluster service
 * account is there; -EINVAL for a kubeconfig that does not say what to use (logged). */
int kube_config_load(struct kube_config *kc);

/*
 * One call: method on path ("/api/v1/namespaces/ns/pods"), body (NULL for none) sent as
 * content_type (NULL: application/json). Transport errors, 429 and 5xx are retried with
 * backoff (100 ms doubling, 3 tries). 0 with *status and *out (the parsed answer or
 * NULL); -errno when no answer came at all (-ETIMEDOUT, -ECONNREFUSED, -EIO).
 */
int kube_call(const struct kube_config *kc, const char *method, const char *path,
	      const json_t *body, const char *content_type, long *status, json_t **out);

/*
 * A watch: a GET of path (with ?watch=1...) whose answer is a stream of JSON lines; each
 * goes to on_line(line, arg), which returns false to end the watch. Returns when the
 * stream ends (0), on_line stopped it (0), *stop became true (0), or it broke (-errno).
 * A stream silent for idle_s seconds counts as broken (bookmarks keep a live one busy).
 */
int kube_watch(const struct kube_config *kc, const char *path, unsigned idle_s,
	       bool (*on_line)(const char *line, size_t len, void *arg), void *arg,
	       const volatile bool *stop);

/* The Status object's reason ("AlreadyExists", "Conflict", "Expired"...) or "". */
const char *kube_reason(const json_t *status);

#endif
