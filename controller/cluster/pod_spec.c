// SPDX-License-Identifier: Apache-2.0
/* The pod of a sandbox: what the API server and the kubelet are given. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "pod_spec.h"
#include "pods.h"
#include "stem_pods.h"

/* A label value: at most 63 of [A-Za-z0-9._-], alphanumeric at both ends. */
static void label_value(char *out, size_t size, const char *in)
{
	size_t n = 0;

	for (; *in && n + 1 < size && n < 63; in++)
		out[n++] = isalnum((unsigned char)*in) || strchr("._-", *in) ? *in : '_';
	while (n && !isalnum((unsigned char)out[n - 1]))
		n--;
	out[n] = '\0';
}

void pod_name(char *out, size_t size, const char *id)
{
	snprintf(out, size, "xw-%s", id);
}

/* ${XWHISK_PROXY} and ${XWHISK_RUNTIMES} as they are in the xwhisk image. */
static json_t *expand_arg(const char *arg)
{
	static const char *const vars[][2] = {
		{ "${XWHISK_PROXY}", "/opt/xwhisk/xwhisk-proxy" },
		{ "${XWHISK_RUNTIMES}", "/opt/xwhisk/runtimes" },
	};
	char out[1024];
	size_t n = 0;

	while (*arg && n + 1 < sizeof(out)) {
		size_t i;

		for (i = 0; i < 2; i++)
			if (!strncmp(arg, vars[i][0], strlen(vars[i][0])))
				break;
		if (i < 2) {
			n += (size_t)snprintf(out + n, sizeof(out) - n, "%s", vars[i][1]);
			arg += strlen(vars[i][0]);
		} else {
			out[n++] = *arg++;
		}
		if (n >= sizeof(out))
			n = sizeof(out) - 1;
	}
	out[n] = '\0';
	return json_string(out);
}

/* The container: the xwhisk image running the kind's sandbox command, which serves on
 * $(POD_IP):8080; or the manifest's own runtime image (its entrypoint serves :8080); or,
 * for a blackbox kind, the action's image. */
static json_t *container(const struct pods_config *cfg, const struct runtimes *rt,
			 const struct gsandbox *s)
{
	const json_t *entry = runtimes_entry(rt, s->kind), *cmd, *img;
	char mem[32], image[512];
	json_t *c, *argv;
	size_t i;
	json_t *a;

	snprintf(mem, sizeof(mem), "%uMi", s->memory_mb);
	c = json_pack("{s:s,s:[{s:s,s:{s:{s:s}}}],s:[{s:s,s:i,s:s}],s:{s:{s:s},s:{s:s}}}",
		      "name", "action", "env", "name", "POD_IP", "valueFrom", "fieldRef",
		      "fieldPath", "status.podIP", "ports", "name", "runtime", "containerPort",
		      POD_PORT, "protocol", "TCP", "resources", "requests", "memory", mem, "limits",
		      "memory", mem);
	if (!c)
		return NULL;
	if (s->cpu_milli) {
		char cpu[32];

		snprintf(cpu, sizeof(cpu), "%um", s->cpu_milli);
		json_object_set_new(json_object_get(json_object_get(c, "resources"), "requests"),
				    "cpu", json_string(cpu));
	}
	/* the dockerskeleton: xwhisk-proxy runs the action's executable (the manifest's
	 * "blackboxes" entry) */
	if (!entry && runtimes_is_native_image(rt, s->kind))
		entry = json_array_get(json_object_get(runtimes_manifest(rt), "blackboxes"), 0);
	cmd = json_object_get(json_object_get(entry, "sandbox"), "command");
	img = json_object_get(entry, "image");
	if (!entry) {
		/* a blackbox: the kind is the action's image, with its own entrypoint */
		json_object_set_new(c, "image", json_string(s->kind));
		return c;
	}
	if (cfg->openwhisk_images && json_is_object(img)) {
		snprintf(image, sizeof(image), "%s/%s:%s", json_obj_str(img, "prefix") ?: "openwhisk",
			 json_obj_str(img, "name") ?: "", json_obj_str(img, "tag") ?: "latest");
		json_object_set_new(c, "image", json_string(image));
		return c;
	}
	json_object_set_new(c, "image", json_string(cfg->image));
	argv = json_array();
	json_array_foreach(cmd, i, a) {
		json_array_append_new(argv, expand_arg(json_string_value(a) ?: ""));
		/* xwhisk-proxy serves on the pod's own address, as it does in a sandbox */
		if (i == 0 && strstr(json_string_value(a) ?: "", "XWHISK_PROXY")) {
			json_array_append_new(argv, json_string("--listen"));
			json_array_append_new(argv, json_string("$(POD_IP):8080"));
		}
	}
	json_object_set_new(c, "command", argv);
	return c;
}

json_t *pods_sandbox_metadata(const struct gsandbox *s)
{
	char ns[64], rev[32];
	json_t *note = cluster_sandbox_json(s), *md;
	char *text = note ? json_dumps(note, JSON_COMPACT) : NULL;

	json_decref(note);
	label_value(ns, sizeof(ns), s->subject);
	snprintf(rev, sizeof(rev), "%lld", (long long)s->revision);
	md = json_pack("{s:{s:s,s:s,s:s,s:s,s:s},s:{s:s}}", "labels", LABEL_MANAGED, "xwhisk",
		       LABEL_SANDBOX, s->id, LABEL_ACTION, s->action_id, LABEL_REVISION, rev,
		       LABEL_NAMESPACE, ns, "annotations", ANNOTATION, text ?: "{}");
	free(text);
	return md;
}

/* A pod named name on node_name, with metadata md and container c (both taken). */
static json_t *pod_of(const struct pods_config *cfg, const char *name, const char *node_name,
		      json_t *md, json_t *c)
{
	json_t *pod = NULL;

	if (md && c) {
		json_object_set_new(md, "name", json_string(name));
		json_object_set_new(md, "namespace", json_string(cfg->kube.namespace));
		pod = json_pack("{s:s,s:s,s:O,s:{s:s,s:s,s:b,s:b,s:i,s:[O]}}", "apiVersion", "v1",
				"kind", "Pod", "metadata", md, "spec", "nodeName", node_name,
				"restartPolicy", "Never", "automountServiceAccountToken", 0,
				"enableServiceLinks", 0, "terminationGracePeriodSeconds", 2,
				"containers", c);
	}
	json_decref(md);
	json_decref(c);
	return pod;
}

json_t *pods_manifest(const struct pods_config *cfg, const struct runtimes *rt,
		      const struct gsandbox *s, const char *node_name)
{
	char name[64];

	pod_name(name, sizeof(name), s->id);
	return pod_of(cfg, name, node_name, pods_sandbox_metadata(s), container(cfg, rt, s));
}

json_t *pods_stem_manifest(const struct pods_config *cfg, const struct runtimes *rt,
			   const char *kind, unsigned memory_mb, const char *node_name,
			   const char *name)
{
	struct gsandbox s = { .memory_mb = memory_mb };
	char value[64];

	snprintf(s.kind, sizeof(s.kind), "%s", kind);
	label_value(value, sizeof(value), kind);
	return pod_of(cfg, name, node_name,
		      json_pack("{s:{s:s,s:s},s:{s:s}}", "labels", LABEL_MANAGED, "xwhisk",
				LABEL_STEM, value, "annotations", ANNOTATION_KIND, kind),
		      container(cfg, rt, &s));
}
