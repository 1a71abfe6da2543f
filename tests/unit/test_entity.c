// SPDX-License-Identifier: Apache-2.0
/* Entity rules: names, fully qualified names, versions, limits, exec, key/value arrays. */
#include <stdlib.h>
#include <string.h>

#include "entity.h"
#include "entity_limits.h"
#include "json.h"
#include "names.h"
#include "runtimes.h"
#include "test.h"

static struct runtimes *rt;

static void test_names(void)
{
	char long_name[300];

	CHECK(name_valid("hello"));
	CHECK(name_valid("a"));
	CHECK(name_valid("my action.v2@x&y-z"));
	CHECK(!name_valid(""));
	CHECK(!name_valid(" lead"));
	CHECK(!name_valid("trail "));
	CHECK(!name_valid("-dash"));
	CHECK(!name_valid("sl/ash"));
	CHECK(!name_valid("bad!"));
	memset(long_name, 'a', 257);
	long_name[257] = '\0';
	CHECK_STR(name_check(long_name), "Name segement longer than allowed: 257 > 256.");
	long_name[256] = '\0';
	CHECK(name_valid(long_name));
	CHECK(namespace_valid("guest"));
	CHECK(namespace_valid("whisk.system"));
	CHECK(!namespace_valid("guest/"));
	CHECK(!namespace_valid("guest/x"));
	CHECK(!namespace_valid(""));
}

static void test_fqn(void)
{
	struct fqn f;
	char s[1024];

	CHECK(fqn_parse("/guest/pkg/a", "me", false, &f) == 0);
	CHECK_STR(f.ns, "guest");
	CHECK_STR(f.pkg, "pkg");
	CHECK_STR(f.name, "a");
	CHECK(fqn_parse("_/a", "me", false, &f) == 0);
	CHECK_STR(f.ns, "me");
	fqn_format(&f, s, sizeof(s));
	CHECK_STR(s, "/me/a");
	CHECK(fqn_parse("a", "me", false, &f) != 0);
	CHECK(fqn_parse("a", "me", true, &f) == 0 && !strcmp(f.ns, "me"));
	CHECK(fqn_parse("/a/b/c/d", "me", false, &f) != 0);
	CHECK(fqn_parse("/a//c", "me", false, &f) != 0);
	CHECK(fqn_parse("/a/b/", "me", false, &f) != 0);
	CHECK(fqn_parse("/a/_/c", "me", false, &f) != 0);
}

static void test_versions(void)
{
	char *v;

	CHECK(version_valid("0.0.1"));
	CHECK(version_valid("10.2.33"));
	CHECK(!version_valid("0.0.0"));
	CHECK(!version_valid("1.2"));
	CHECK(!version_valid("1.2.-3"));
	CHECK(!version_valid("1.2.3x"));
	v = version_bump("0.0.1");
	CHECK_STR(v, "0.0.2");
	free(v);
}

static void test_limits(void)
{
	struct ns_limits ns;
	char err[256];
	json_t *given, *out;

	limits_effective(NULL, &ns);
	out = action_limits_merge(NULL, NULL, &ns, err, sizeof(err));
	CHECK(json_integer_value(json_object_get(out, "timeout")) == 60000);
	CHECK(json_integer_value(json_object_get(out, "memory")) == 256);
	CHECK(json_integer_value(json_object_get(out, "logs")) == 10);
	CHECK(json_integer_value(json_object_get(out, "concurrency")) == 1);
	CHECK(!json_object_get(out, "instances"));
	json_decref(out);

	given = json_pack("{s:i}", "memory", 1024);
	CHECK(!action_limits_merge(given, NULL, &ns, err, sizeof(err)));
	CHECK_STR(err, "memory 1024 MB exceeds allowed threshold of 512 MB");
	json_decref(given);
	given = json_pack("{s:i}", "timeout", 50);
	CHECK(!action_limits_merge(given, NULL, &ns, err, sizeof(err)));
	CHECK_STR(err, "duration 50 milliseconds below allowed threshold of 100 milliseconds");
	json_decref(given);
	given = json_pack("{s:i}", "logs", 20);
	CHECK(!action_limits_merge(given, NULL, &ns, err, sizeof(err)));
	CHECK_STR(err, "log 20 MB exceeds allowed threshold of 10 MB");
	json_decref(given);
	given = json_pack("{s:f}", "memory", 200.5);
	CHECK(!action_limits_merge(given, NULL, &ns, err, sizeof(err)));
	json_decref(given);
	given = json_pack("{s:i}", "instances", 31);
	CHECK(!action_limits_merge(given, NULL, &ns, err, sizeof(err)));
	CHECK_STR(err, "Max action instance concurrency must not exceed your namespace concurrency of 30.");
	json_decref(given);

	/* Partial limits keep the old values. */
	given = json_pack("{s:i}", "memory", 128);
	{
		json_t *old = json_pack("{s:i,s:i,s:i,s:i}", "timeout", 1000, "memory", 512, "logs",
					 1, "concurrency", 4);

		out = action_limits_merge(given, old, &ns, err, sizeof(err));
		CHECK(json_integer_value(json_object_get(out, "timeout")) == 1000);
		CHECK(json_integer_value(json_object_get(out, "memory")) == 128);
		CHECK(json_integer_value(json_object_get(out, "concurrency")) == 4);
		json_decref(out);
		json_decref(old);
	}
	json_decref(given);

	/* Namespace overrides never exceed the system bounds. */
	given = json_pack("{s:i,s:i}", "maxActionMemory", 100000, "invocationsPerMinute", 5);
	limits_effective(given, &ns);
	CHECK(ns.max_action_memory == 512);
	CHECK(ns.invocations_per_minute == 5);
	json_decref(given);
}

static json_t *exec_of(const char *json, int *status, char *err, size_t errlen)
{
	json_t *in = json_loads(json, 0, NULL), *out;

	out = exec_normalize(rt, in, "me", status, err, errlen);
	json_decref(in);
	return out;
}

static void test_exec(void)
{
	char err[1024];
	int status;
	json_t *e;

	e = exec_of("{\"kind\":\" NodeJS:Default \",\"code\":\"x\"}", &status, err, sizeof(err));
	CHECK(e && !strcmp(json_obj_str(e, "kind"), "nodejs:20"));
	CHECK(json_is_false(json_object_get(e, "binary")));
	json_decref(e);
	e = exec_of("{\"kind\":\"python:default\",\"code\":\"UEsDBAoAAAAA\"}", &status, err,
		    sizeof(err));
	CHECK(e && !strcmp(json_obj_str(e, "kind"), "python:3"));
	CHECK(json_is_true(json_object_get(e, "binary")));
	json_decref(e);
	e = exec_of("{\"kind\":\"cobol:1\",\"code\":\"x\"}", &status, err, sizeof(err));
	CHECK(!e && status == 400 && strstr(err, "The specified runtime 'cobol:1' is not supported"));
	e = exec_of("{\"kind\":\"nodejs:20\"}", &status, err, sizeof(err));
	CHECK(!e && status == 400);
	e = exec_of("{\"kind\":\"nodejs:20\",\"code\":\"\"}", &status, err, sizeof(err));
	CHECK(e != NULL);
	json_decref(e);
	e = exec_of("{\"kind\":\"blackbox\"}", &status, err, sizeof(err));
	CHECK(!e && status == 400);
	e = exec_of("{\"kind\":\"blackbox\",\"image\":\"openwhisk/dockerskeleton\",\"code\":\"\"}",
		    &status, err, sizeof(err));
	CHECK(e && !json_object_get(e, "code"));
	json_decref(e);
	/* OpenWhisk ignores a client's "binary" for string code and computes it. */
	e = exec_of("{\"kind\":\"native\",\"code\":\"#!/bin/sh\\n\",\"binary\":true}", &status, err,
		    sizeof(err));
	CHECK(e && json_is_false(json_object_get(e, "binary")));
	json_decref(e);
	e = exec_of("{\"kind\":\"sequence\",\"components\":[\"_/a\",\"/x/p/b\"]}", &status, err,
		    sizeof(err));
	CHECK(e && !strcmp(json_string_value(json_array_get(json_object_get(e, "components"), 0)),
			   "/me/a"));
	json_decref(e);
	e = exec_of("{\"kind\":\"sequence\",\"components\":[\"a\"]}", &status, err, sizeof(err));
	CHECK(!e && status == 400);
	e = exec_of("{\"kind\":\"nodejs:20\",\"code\":5}", &status, err, sizeof(err));
	CHECK(!e && status == 400);
}

static void test_kv_arrays(void)
{
	char err[256];
	json_t *in, *out, *merged;

	in = json_loads("[{\"key\":\"a\",\"value\":1},{\"key\":\"b\",\"value\":2,\"init\":true},"
			"{\"key\":\"a\",\"value\":3}]",
			0, NULL);
	out = kv_array_normalize(in, true, "parameters", err, sizeof(err));
	CHECK(json_array_size(out) == 2);
	CHECK(json_integer_value(json_kv_get(out, "a")) == 3);
	CHECK(json_is_true(json_object_get(json_array_get(out, 0), "init")));
	json_decref(in);
	in = json_loads("[{\"key\":\"a\",\"value\":9},{\"key\":\"c\",\"value\":null}]", 0, NULL);
	merged = kv_array_merge(out, in);
	CHECK(json_integer_value(json_kv_get(merged, "a")) == 9);
	CHECK(json_is_null(json_kv_get(merged, "c")));
	json_decref(merged);
	json_decref(out);
	json_decref(in);
	in = json_loads("[{\"value\":1}]", 0, NULL);
	CHECK(!kv_array_normalize(in, false, "parameters", err, sizeof(err)));
	json_decref(in);
	in = json_loads("{\"a\":1}", 0, NULL);
	CHECK(!kv_array_normalize(in, false, "parameters", err, sizeof(err)));
	json_decref(in);
}

int main(void)
{
	if (runtimes_load("userspace/runtimes/runtimes.json", &rt) &&
	    runtimes_load("../userspace/runtimes/runtimes.json", &rt)) {
		printf("not ok - load runtimes manifest\n");
		return 1;
	}
	RUN(test_names);
	RUN(test_fqn);
	RUN(test_versions);
	RUN(test_limits);
	RUN(test_exec);
	RUN(test_kv_arrays);
	runtimes_free(rt);
	TEST_EXIT();
}
