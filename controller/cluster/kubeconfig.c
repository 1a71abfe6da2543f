// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "json.h"
#include "kubeconfig.h"
#include "log.h"
#include "util.h"

#define MAX_DEPTH 32

static json_t *yaml_node(yaml_parser_t *p, yaml_event_t *ev, int depth);

/* The rest of a mapping or a sequence, whose start event was just read. */
static json_t *yaml_collection(yaml_parser_t *p, bool mapping, int depth)
{
	json_t *out = mapping ? json_object() : json_array();
	yaml_event_type_t end = mapping ? YAML_MAPPING_END_EVENT : YAML_SEQUENCE_END_EVENT;
	yaml_event_t ev;

	while (out && yaml_parser_parse(p, &ev)) {
		json_t *key = NULL, *value;

		if (ev.type == end) {
			yaml_event_delete(&ev);
			return out;
		}
		if (mapping) {
			key = yaml_node(p, &ev, depth + 1);
			if (!json_is_string(key) || !yaml_parser_parse(p, &ev)) {
				json_decref(key);
				break;
			}
		}
		value = yaml_node(p, &ev, depth + 1);
		if (!value) {
			json_decref(key);
			break;
		}
		if (mapping)
			json_object_set_new(out, json_string_value(key), value);
		else
			json_array_append_new(out, value);
		json_decref(key);
	}
	json_decref(out);
	return NULL;
}

/* The node ev starts (ev is consumed). Scalars stay strings: kubeconfig has no numbers
 * we read, and "true" is compared as text. Anchors and aliases are not followed. */
static json_t *yaml_node(yaml_parser_t *p, yaml_event_t *ev, int depth)
{
	json_t *out = NULL;

	if (depth > MAX_DEPTH) {
		yaml_event_delete(ev);
		return NULL;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		out = json_stringn((const char *)ev->data.scalar.value, ev->data.scalar.length);
		yaml_event_delete(ev);
		return out;
	case YAML_MAPPING_START_EVENT:
	case YAML_SEQUENCE_START_EVENT: {
		bool mapping = ev->type == YAML_MAPPING_START_EVENT;

		yaml_event_delete(ev);
		return yaml_collection(p, mapping, depth);
	}
	default:
		yaml_event_delete(ev);
		return NULL;
	}
}

json_t *yaml_to_json(const char *text, size_t len)
{
	yaml_parser_t p;
	yaml_event_t ev;
	json_t *out = NULL;

	if (!yaml_parser_initialize(&p))
		return NULL;
	yaml_parser_set_input_string(&p, (const unsigned char *)text, len);
	/* stream start, document start, then the document's node */
	for (int i = 0; i < 2; i++) {
		if (!yaml_parser_parse(&p, &ev))
			goto out;
		if (ev.type == YAML_STREAM_END_EVENT) {
			yaml_event_delete(&ev);
			goto out;
		}
		yaml_event_delete(&ev);
	}
	if (yaml_parser_parse(&p, &ev))
		out = yaml_node(&p, &ev, 0);
out:
	yaml_parser_delete(&p);
	return out;
}

/* The entry of a named list (clusters, users, contexts) called name: its inner object. */
static json_t *named(const json_t *cfg, const char *list, const char *inner, const char *name)
{
	json_t *e;
	size_t i;

	json_array_foreach(json_object_get(cfg, list), i, e)
		if (!strcmp(json_obj_str(e, "name") ?: "", name ?: ""))
			return json_object_get(e, inner);
	return NULL;
}

/* A path from the file, relative to its directory. */
static void file_path(const char *dir, const char *value, char *out, size_t len)
{
	snprintf(out, len, value[0] == '/' ? "%.0s%s" : "%s/%s", dir, value);
}

/* A *-data field (base64 PEM) into out; false when absent. -EINVAL when undecodable. */
static int pem_data(const json_t *obj, const char *key, char *out, size_t len)
{
	const char *b64 = json_obj_str(obj, key);
	size_t n;
	char *pem;

	if (!b64)
		return 0;
	pem = base64_decode(b64, strlen(b64), &n);
	if (!pem || n >= len) {
		free(pem);
		pr_err("kubeconfig: %s is not base64, or too long", key);
		return -EINVAL;
	}
	memcpy(out, pem, n);
	out[n] = '\0';
	free(pem);
	return 0;
}

static int cluster_settings(const json_t *cluster, const char *dir, struct kube_config *kc)
{
	const char *server = json_obj_str(cluster, "server"), *ca = json_obj_str(cluster, "certificate-authority");

	if (!server || !*server) {
		pr_err("kubeconfig: the context's cluster has no server");
		return -EINVAL;
	}
	snprintf(kc->server, sizeof(kc->server), "%s", server);
	if (ca)
		file_path(dir, ca, kc->ca_file, sizeof(kc->ca_file));
	kc->insecure = !strcmp(json_obj_str(cluster, "insecure-skip-tls-verify") ?: "", "true");
	return pem_data(cluster, "certificate-authority-data", kc->ca_pem, sizeof(kc->ca_pem));
}

static int user_settings(const json_t *user, const char *dir, struct kube_config *kc)
{
	const char *token = json_obj_str(user, "token"), *token_file = json_obj_str(user, "tokenFile");
	const char *cert = json_obj_str(user, "client-certificate"), *key = json_obj_str(user, "client-key");
	int err;

	if (json_object_get(user, "exec") || json_object_get(user, "auth-provider")) {
		pr_err("kubeconfig: the user's exec plugin or auth provider is not supported: give "
		       "it a token, a tokenFile or a client certificate");
		return -EINVAL;
	}
	if (token && strlen(token) >= sizeof(kc->token)) {
		pr_err("kubeconfig: the user's token is too long");
		return -EINVAL;
	}
	snprintf(kc->token, sizeof(kc->token), "%s", token ?: "");
	if (token_file)
		file_path(dir, token_file, kc->token_file, sizeof(kc->token_file));
	if (cert)
		file_path(dir, cert, kc->cert_file, sizeof(kc->cert_file));
	if (key)
		file_path(dir, key, kc->key_file, sizeof(kc->key_file));
	err = pem_data(user, "client-certificate-data", kc->cert_pem, sizeof(kc->cert_pem));
	return err ? err : pem_data(user, "client-key-data", kc->key_pem, sizeof(kc->key_pem));
}

int kubeconfig_load(const char *path, const char *context, struct kube_config *kc)
{
	char *text = file_read_all(path, NULL), copy[PATH_MAX], dir[PATH_MAX];
	const json_t *ctx;
	json_t *cfg;
	int err = -EINVAL;

	if (!text)
		return -ENOENT;
	cfg = yaml_to_json(text, strlen(text));
	free(text);
	snprintf(copy, sizeof(copy), "%s", path);
	snprintf(dir, sizeof(dir), "%s", dirname(copy));
	if (!context || !*context)
		context = json_obj_str(cfg, "current-context");
	ctx = named(cfg, "contexts", "context", context);
	if (!json_is_object(ctx)) {
		pr_err("kubeconfig %s: %s", path,
		       cfg ? "no such context (current-context, or XWHISK_KUBE_CONTEXT)" :
			     "not YAML");
		goto out;
	}
	err = cluster_settings(named(cfg, "clusters", "cluster", json_obj_str(ctx, "cluster")),
			       dir, kc);
	if (!err)
		err = user_settings(named(cfg, "users", "user", json_obj_str(ctx, "user")), dir, kc);
	if (!err && json_obj_str(ctx, "namespace"))
		snprintf(kc->namespace, sizeof(kc->namespace), "%s", json_obj_str(ctx, "namespace"));
	if (!err)
		pr_info("kube: %s from %s (context %s)", kc->server, path, context);
out:
	json_decref(cfg);
	return err;
}
