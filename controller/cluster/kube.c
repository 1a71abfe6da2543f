// SPDX-License-Identifier: Apache-2.0
#include <curl/curl.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "kube.h"
#include "kubeconfig.h"
#include "log.h"
#include "util.h"

#define SA_DIR "/var/run/secrets/kubernetes.io/serviceaccount"
#define MAX_ANSWER (64u << 20)
#define MAX_LINE (16u << 20)
#define TRIES 3

static void copy_trimmed(char *out, size_t size, const char *text)
{
	snprintf(out, size, "%s", text ? text : "");
	out[strcspn(out, "\r\n")] = '\0';
}

/* XWHISK_KUBECONFIG, else the first file of KUBECONFIG, into path; false when neither. */
static bool kubeconfig_path(char *path, size_t len)
{
	const char *own = getenv("XWHISK_KUBECONFIG"), *list = getenv("KUBECONFIG");

	if (own && *own)
		snprintf(path, len, "%s", own);
	else if (list && *list)
		snprintf(path, len, "%.*s", (int)strcspn(list, ":"), list);
	else
		return false;
	return true;
}

int kube_config_load(struct kube_config *kc)
{
	const char *api = getenv("XWHISK_KUBE_API"), *host = getenv("KUBERNETES_SERVICE_HOST");
	const char *ns = getenv("XWHISK_KUBE_NAMESPACE");
	char kubeconfig[PATH_MAX];
	int err;

	memset(kc, 0, sizeof(*kc));
	kc->timeout_ms = env_unsigned("XWHISK_KUBE_TIMEOUT_MS", 10000);
	if (api && *api) {
		snprintf(kc->server, sizeof(kc->server), "%s", api);
		snprintf(kc->token_file, sizeof(kc->token_file), "%s",
			 env_or("XWHISK_KUBE_TOKEN_FILE", ""));
		snprintf(kc->ca_file, sizeof(kc->ca_file), "%s", env_or("XWHISK_KUBE_CA_FILE", ""));
	} else if (kubeconfig_path(kubeconfig, sizeof(kubeconfig))) {
		err = kubeconfig_load(kubeconfig, getenv("XWHISK_KUBE_CONTEXT"), kc);
		if (err == -ENOENT)
			pr_err("kube: cannot read the kubeconfig %s", kubeconfig);
		if (err)
			return err;
	} else if (host && *host && access(SA_DIR "/token", R_OK) == 0) {
		/* An IPv6 service address needs brackets in a URL. */
		snprintf(kc->server, sizeof(kc->server), strchr(host, ':') ? "https://[%s]:%s" :
			 "https://%s:%s", host, env_or("KUBERNETES_SERVICE_PORT", "443"));
		snprintf(kc->token_file, sizeof(kc->token_file), "%s", SA_DIR "/token");
		snprintf(kc->ca_file, sizeof(kc->ca_file), "%s", SA_DIR "/ca.crt");
	} else {
		return -ENOENT;
	}
	kc->server[strcspn(kc->server, "\r\n")] = '\0';
	while (*kc->server && kc->server[strlen(kc->server) - 1] == '/')
		kc->server[strlen(kc->server) - 1] = '\0';
	if (ns && *ns) {
		snprintf(kc->namespace, sizeof(kc->namespace), "%s", ns);
	} else if (!kc->namespace[0]) {
		char *text = file_read_all(SA_DIR "/namespace", NULL);

		copy_trimmed(kc->namespace, sizeof(kc->namespace), text ? text : "xwhisk");
		free(text);
	}
	return 0;
}

const char *kube_reason(const json_t *status)
{
	return json_obj_str(status, "reason") ?: "";
}

struct sink {
	char *data;
	size_t len, max;
	/* a watch: complete lines go here */
	bool (*on_line)(const char *line, size_t len, void *arg);
	void *arg;
	bool stopped;
};

static size_t on_data(char *ptr, size_t size, size_t n, void *userdata)
{
	struct sink *s = userdata;
	size_t len = size * n;
	char *grown;

	if (s->len + len > s->max)
		return 0; /* curl reports a write error: the answer is too big */
	grown = realloc(s->data, s->len + len + 1);
	if (!grown)
		return 0;
	s->data = grown;
	memcpy(s->data + s->len, ptr, len);
	s->len += len;
	s->data[s->len] = '\0';
	if (s->on_line) {
		char *start = s->data, *nl;

		while ((nl = memchr(start, '\n', s->len - (size_t)(start - s->data)))) {
			*nl = '\0';
			if (nl > start && !s->on_line(start, (size_t)(nl - start), s->arg)) {
				s->stopped = true;
				return 0;
			}
			start = nl + 1;
		}
		s->len -= (size_t)(start - s->data);
		memmove(s->data, start, s->len);
	}
	return len;
}

/* The service account token, re-read each call (kubelet rotates projected tokens). */
static struct curl_slist *auth_headers(const struct kube_config *kc, struct curl_slist *h)
{
	char *token, line[8192 + 32];

	if (kc->token[0]) {
		snprintf(line, sizeof(line), "Authorization: Bearer %s", kc->token);
		return curl_slist_append(h, line);
	}
	if (!kc->token_file[0])
		return h;
	token = file_read_all(kc->token_file, NULL);
	if (!token) {
		pr_debug("kube: cannot read the token %s", kc->token_file);
		return h;
	}
	token[strcspn(token, "\r\n")] = '\0';
	snprintf(line, sizeof(line), "Authorization: Bearer %s", token);
	free(token);
	return curl_slist_append(h, line);
}

/* A PEM text handed to curl as it is (curl copies it). */
static void pem_blob(CURL *e, CURLoption opt, const char *pem)
{
	struct curl_blob blob = { .data = (void *)pem, .len = strlen(pem),
				  .flags = CURL_BLOB_COPY };

	curl_easy_setopt(e, opt, &blob);
}

static void tls_options(CURL *e, const struct kube_config *kc)
{
	if (kc->ca_file[0])
		curl_easy_setopt(e, CURLOPT_CAINFO, kc->ca_file);
	if (kc->ca_pem[0])
		pem_blob(e, CURLOPT_CAINFO_BLOB, kc->ca_pem);
	if (kc->cert_file[0])
		curl_easy_setopt(e, CURLOPT_SSLCERT, kc->cert_file);
	if (kc->cert_pem[0])
		pem_blob(e, CURLOPT_SSLCERT_BLOB, kc->cert_pem);
	if (kc->key_file[0])
		curl_easy_setopt(e, CURLOPT_SSLKEY, kc->key_file);
	if (kc->key_pem[0])
		pem_blob(e, CURLOPT_SSLKEY_BLOB, kc->key_pem);
	if (kc->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
}

static CURL *easy_new(const struct kube_config *kc, const char *method, const char *path,
		      struct curl_slist *headers, struct sink *sink)
{
	CURL *e = curl_easy_init();
	char url[2048];

	if (!e)
		return NULL;
	snprintf(url, sizeof(url), "%s%s", kc->server, path);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, sink);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "xwhisk-controller");
	tls_options(e, kc);
	return e;
}

static int curl_errno(CURLcode rc)
{
	switch (rc) {
	case CURLE_OPERATION_TIMEDOUT:
		return -ETIMEDOUT;
	case CURLE_COULDNT_CONNECT:
	case CURLE_COULDNT_RESOLVE_HOST:
		return -ECONNREFUSED;
	default:
		return -EIO;
	}
}

static bool aborted(const struct kube_config *kc)
{
	return kc->abort && *kc->abort;
}

static void sleep_ms(const struct kube_config *kc, unsigned ms)
{
	for (unsigned t = 0; t < ms && !aborted(kc); t += 50) {
		struct timespec ts = { 0, 50 * 1000000L };

		nanosleep(&ts, NULL);
	}
}

static int on_call_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
			    curl_off_t ulnow)
{
	return aborted(arg);
}

int kube_call(const struct kube_config *kc, const char *method, const char *path,
	      const json_t *body, const char *content_type, long *status, json_t **out)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL, ctype[128];
	unsigned backoff = 100;
	int err = -EIO;

	if (body && !text)
		return -ENOMEM;
	snprintf(ctype, sizeof(ctype), "Content-Type: %s", content_type ?: "application/json");
	for (int attempt = 0; attempt < TRIES; attempt++) {
		struct sink sink = { .max = MAX_ANSWER };
		struct curl_slist *h = curl_slist_append(NULL, "Accept: application/json");
		CURLcode rc;
		CURL *e;
		long code = 0;

		if (text)
			h = curl_slist_append(h, ctype);
		h = auth_headers(kc, h);
		e = easy_new(kc, method, path, h, &sink);
		if (!e) {
			curl_slist_free_all(h);
			err = -ENOMEM;
			break;
		}
		curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)kc->timeout_ms);
		curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_call_progress);
		curl_easy_setopt(e, CURLOPT_XFERINFODATA, (void *)kc);
		if (text)
			curl_easy_setopt(e, CURLOPT_POSTFIELDS, text);
		rc = curl_easy_perform(e);
		curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
		curl_easy_cleanup(e);
		curl_slist_free_all(h);
		if (rc == CURLE_OK && code != 429 && code < 500) {
			*status = code;
			*out = sink.len ? json_parse(sink.data, sink.len, NULL, 0) : NULL;
			free(sink.data);
			err = 0;
			break;
		}
		free(sink.data);
		err = rc == CURLE_OK ? -EAGAIN : curl_errno(rc);
		if (aborted(kc)) {
			err = -ECANCELED;
			break;
		}
		pr_debug("kube: %s %s: %s (try %d)", method, path,
			 rc == CURLE_OK ? "busy or failing" : curl_easy_strerror(rc), attempt + 1);
		if (attempt + 1 < TRIES)
			sleep_ms(kc, backoff);
		backoff *= 2;
	}
	free(text);
	return err;
}

struct watch_progress {
	const volatile bool *stop;
	unsigned idle_s;
	time_t last;
	curl_off_t seen;
};

/* Ends a stopped or silent watch: curl calls this about once a second. */
static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
		       curl_off_t ulnow)
{
	struct watch_progress *p = arg;
	time_t now = time(NULL);

	if (dlnow != p->seen) {
		p->seen = dlnow;
		p->last = now;
	}
	return (p->stop && *p->stop) || now - p->last > (time_t)p->idle_s;
}

int kube_watch(const struct kube_config *kc, const char *path, unsigned idle_s,
	       bool (*on_line)(const char *line, size_t len, void *arg), void *arg,
	       const volatile bool *stop)
{
	struct sink sink = { .max = MAX_LINE, .on_line = on_line, .arg = arg };
	struct watch_progress prog = { .stop = stop, .idle_s = idle_s, .last = time(NULL) };
	struct curl_slist *h = auth_headers(kc, curl_slist_append(NULL, "Accept: application/json"));
	CURLcode rc;
	long code = 0;
	CURL *e = easy_new(kc, "GET", path, h, &sink);
	int err = 0;

	if (!e) {
		curl_slist_free_all(h);
		return -ENOMEM;
	}
	curl_easy_setopt(e, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(e, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(e, CURLOPT_XFERINFODATA, &prog);
	rc = curl_easy_perform(e);
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &code);
	if (sink.stopped || (stop && *stop))
		err = 0;
	else if (rc != CURLE_OK)
		err = rc == CURLE_ABORTED_BY_CALLBACK ? -ETIMEDOUT : curl_errno(rc);
	else if (code != 200)
		err = -EPROTO;
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	free(sink.data);
	return err;
}
