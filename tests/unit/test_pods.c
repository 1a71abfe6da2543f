// SPDX-License-Identifier: Apache-2.0
/* The pod backend's pod for a sandbox: what the API and the kubelet are given. */
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "pods.h"
#include "runtimes.h"
#include "stem_pods.h"
#include "test.h"

static struct runtimes *rt;

static struct gsandbox sandbox(const char *kind)
{
	struct gsandbox s = { 0 };

	snprintf(s.id, sizeof(s.id), "0123456789abcdef0123456789abcdef");
	snprintf(s.action_id, sizeof(s.action_id), "00000000000000aa");
	snprintf(s.subject, sizeof(s.subject), "guest@example.com");
	snprintf(s.docid, sizeof(s.docid), "guest/hello");
	snprintf(s.kind, sizeof(s.kind), "%s", kind);
	s.revision = 3;
	s.memory_mb = 256;
	s.concurrency = 2;
	return s;
}

static const char *at(json_t *j, const char *path)
{
	char buf[256], *save = NULL;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *k = strtok_r(buf, ".", &save); k && j; k = strtok_r(NULL, ".", &save))
		j = json_is_array(j) ? json_array_get(j, (size_t)atoi(k)) : json_object_get(j, k);
	return json_string_value(j);
}

static void test_pod_xwhisk_image(void)
{
	struct pods_config cfg = { .image = "reg/xwhisk:1" };
	struct gsandbox s = sandbox("nodejs:20");
	json_t *pod;

	snprintf(cfg.kube.namespace, sizeof(cfg.kube.namespace), "xwhisk");
	pod = pods_manifest(&cfg, rt, &s, "node-a");
	ASSERT(pod);
	CHECK_STR(at(pod, "metadata.name"), "xw-0123456789abcdef0123456789abcdef");
	CHECK_STR(at(pod, "metadata.namespace"), "xwhisk");
	CHECK_STR(at(pod, "spec.nodeName"), "node-a");
	CHECK_STR(at(pod, "spec.restartPolicy"), "Never");
	CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(pod, "metadata"),
								  "labels"),
						  "app.kubernetes.io/managed-by")),
		  "xwhisk");
	CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(pod, "metadata"),
								  "labels"),
						  "xwhisk.dev/revision")),
		  "3");
	/* a label value keeps only what labels allow */
	CHECK_STR(json_string_value(json_object_get(json_object_get(json_object_get(pod, "metadata"),
								  "labels"),
						  "xwhisk.dev/namespace")),
		  "guest_example.com");
	CHECK_STR(at(pod, "spec.containers.0.image"), "reg/xwhisk:1");
	CHECK_STR(at(pod, "spec.containers.0.command.0"), "/opt/xwhisk/xwhisk-proxy");
	CHECK_STR(at(pod, "spec.containers.0.command.1"), "--listen");
	CHECK_STR(at(pod, "spec.containers.0.command.2"), "$(POD_IP):8080");
	CHECK_STR(at(pod, "spec.containers.0.resources.limits.memory"), "256Mi");
	CHECK_STR(at(pod, "spec.containers.0.env.0.valueFrom.fieldRef.fieldPath"), "status.podIP");
	CHECK(json_integer_value(json_object_get(
		      json_array_get(json_object_get(json_array_get(json_object_get(json_object_get(pod, "spec"),
									       "containers"),
								0),
						       "ports"),
				     0),
		      "containerPort")) == 8080);
	CHECK(!json_object_get(json_object_get(json_object_get(json_array_get(
							json_object_get(json_object_get(pod, "spec"),
									"containers"),
							0),
						"resources"),
				       "requests"),
			       "cpu"));
	json_decref(pod);
}

static void test_pod_openwhisk_and_blackbox_images(void)
{
	struct pods_config cfg = { .image = "reg/xwhisk:1", .openwhisk_images = true };
	struct gsandbox s = sandbox("nodejs:20");
	json_t *pod = pods_manifest(&cfg, rt, &s, "n");

	ASSERT(pod);
	CHECK_STR(at(pod, "spec.containers.0.image"), "openwhisk/action-nodejs-v20:nightly");
	CHECK(!json_object_get(json_array_get(json_object_get(json_object_get(pod, "spec"), "containers"), 0),
			       "command"));
	json_decref(pod);
	s = sandbox("example/my-image:2");
	s.cpu_milli = 500;
	pod = pods_manifest(&cfg, rt, &s, "n");
	ASSERT(pod);
	CHECK_STR(at(pod, "spec.containers.0.image"), "example/my-image:2");
	CHECK_STR(at(pod, "spec.containers.0.resources.requests.cpu"), "500m");
	json_decref(pod);
}

/* A pod event as the watch hands it over. */
static json_t *stem_pod(const char *name, const char *node, const char *ip, const char *phase)
{
	return json_pack("{s:{s:s,s:{s:s},s:{s:s}},s:{s:s},s:{s:s,s:s,s:[{s:s,s:s}]}}", "metadata",
			 "name", name, "labels", LABEL_STEM, "nodejs_20", "annotations",
			 ANNOTATION_KIND, "nodejs:20", "spec", "nodeName", node, "status", "phase",
			 phase, "podIP", ip, "conditions", "type", "Ready", "status",
			 *ip ? "True" : "False");
}

static void count_created(void *data, const char *kind, const char *name)
{
	CHECK(!strcmp(kind, "nodejs:20"));
	CHECK(!strncmp(name, STEM_NAME_PREFIX, strlen(STEM_NAME_PREFIX)));
	(*(int *)data)++;
}

/* The books of stem cell pods: the spec, filling a node, ready ones claimed by kind and
 * memory, ended ones dropped, unwanted kinds deleted. */
static void test_stem_pods(void)
{
	const char *bad = NULL;
	struct stem_pods *sp;
	char name[64], ip[48];
	json_t *pod;
	bool remove;
	int made = 0;

	CHECK(!stem_pods_new("nodejs:20", rt, 256, &bad) && bad);
	CHECK(!stem_pods_new("cobol:1=2", rt, 256, &bad) && strstr(bad, "manifest"));
	CHECK(!stem_pods_new("nodejs:20=1000", rt, 256, &bad));
	sp = stem_pods_new("nodejs:20=2,python:3=0", rt, 256, &bad);
	ASSERT(sp);
	stem_pods_fill(sp, "n1", count_created, &made);
	CHECK(made == 2);
	stem_pods_fill(sp, "n1", count_created, &made);
	CHECK(made == 2); /* on their way: counted */
	/* none ready yet: nothing to claim */
	CHECK(!stem_pods_claim(sp, "n1", "nodejs:20", 256, name, sizeof(name), ip, sizeof(ip)));
	pod = stem_pod("xw-stem-a", "n1", "127.77.0.9", "Running");
	CHECK(stem_pods_on_pod(sp, "ADDED", pod, &remove) && !remove);
	json_decref(pod);
	CHECK(!stem_pods_claim(sp, "n2", "nodejs:20", 256, name, sizeof(name), ip, sizeof(ip)));
	CHECK(!stem_pods_claim(sp, "n1", "nodejs:20", 512, name, sizeof(name), ip, sizeof(ip)));
	CHECK(stem_pods_claim(sp, "n1", "nodejs:20", 256, name, sizeof(name), ip, sizeof(ip)));
	CHECK_STR(name, "xw-stem-a");
	CHECK_STR(ip, "127.77.0.9");
	CHECK(!stem_pods_claim(sp, "n1", "nodejs:20", 256, name, sizeof(name), ip, sizeof(ip)));
	pod = stem_pod("xw-stem-b", "n1", "", "Failed");
	CHECK(stem_pods_on_pod(sp, "MODIFIED", pod, &remove) && remove);
	json_decref(pod);
	pod = json_pack("{s:{s:s}}", "metadata", "name", "xw-0123");
	CHECK(!stem_pods_on_pod(sp, "ADDED", pod, &remove));
	json_decref(pod);
	stem_pods_free(sp);
	sp = stem_pods_new("python:3=1", rt, 256, &bad);
	ASSERT(sp);
	pod = stem_pod("xw-stem-c", "n1", "127.77.0.10", "Running");
	CHECK(stem_pods_on_pod(sp, "ADDED", pod, &remove) && remove); /* nodejs no longer wanted */
	json_decref(pod);
	stem_pods_free(sp);
}

int main(void)
{
	if (runtimes_load("userspace/runtimes/runtimes.json", &rt) &&
	    runtimes_load("../userspace/runtimes/runtimes.json", &rt)) {
		printf("not ok - the runtimes manifest loads\n");
		return 1;
	}
	RUN(test_pod_xwhisk_image);
	RUN(test_pod_openwhisk_and_blackbox_images);
	RUN(test_stem_pods);
	runtimes_free(rt);
	TEST_EXIT();
}
