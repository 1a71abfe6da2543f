// SPDX-License-Identifier: Apache-2.0
/*
 * xwhisk-admin: namespace administration on the store, like OpenWhisk's wskadmin.
 * It opens the same store as the controller (SQLite allows both at once).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "entity_limits.h"
#include "json.h"
#include "log.h"
#include "names.h"
#include "retention.h"
#include "store.h"
#include "util.h"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: xwhisk-admin [--data-dir DIR | --store URI] COMMAND ...\n"
		"\n"
		"Namespace administration, like OpenWhisk's wskadmin.\n"
		"\n"
		"Commands:\n"
		"  user create NAMESPACE [--auth UUID:KEY]   create a namespace; prints its UUID:KEY\n"
		"  user list                                 list namespaces (uuid, limits)\n"
		"  user get NAMESPACE                        show a namespace (the key is stored hashed)\n"
		"  user delete NAMESPACE                     delete a namespace's credentials\n"
		"  user regenerate NAMESPACE                 new UUID:KEY for a namespace; prints it\n"
		"  limits get NAMESPACE                      effective limits\n"
		"  limits set NAMESPACE --KEY N ...          override limits; KEY is one of\n"
		"      invocationsPerMinute concurrentInvocations firesPerMinute minActionMemory\n"
		"      maxActionMemory minActionLogs maxActionLogs minActionTimeout maxActionTimeout\n"
		"      minActionConcurrency maxActionConcurrency\n"
		"  limits delete NAMESPACE                   drop all overrides\n"
		"\n"
		"Options:\n"
		"  -d, --data-dir DIR   state directory (XWHISK_DATA_DIR, default ./.xwhisk)\n"
		"  -s, --store URI      sqlite:<path>, postgresql://... or a libpq connection string\n"
		"                       (XWHISK_STORE, default sqlite:DIR/controller/xwhisk.db)\n"
		"  -h, --help           this text\n");
}

static int fail(const char *what, const char *ns, int err)
{
	if (err == -ENOENT)
		fprintf(stderr, "%s: namespace '%s' does not exist\n", what, ns);
	else if (err == -EEXIST)
		fprintf(stderr, "%s: namespace '%s' already exists\n", what, ns);
	else if (err == -EINVAL)
		fprintf(stderr, "%s: invalid argument for '%s'\n", what, ns);
	else
		fprintf(stderr, "%s '%s': %s\n", what, ns, strerror(-err));
	return 1;
}

static void print_json(json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2));

	if (s)
		puts(s);
	free(s);
}

static int user_cmd(struct store *st, int argc, char **argv)
{
	const char *cmd = argc > 0 ? argv[0] : "";
	const char *ns = argc > 1 ? argv[1] : NULL;
	char pair[AUTH_UUID_LEN + AUTH_KEY_LEN + 2];
	struct subject s;
	json_t *list;
	int err;

	if (!strcmp(cmd, "list")) {
		err = st->ops->subject_list(st, &list);
		if (err)
			return fail("list", "", err);
		print_json(list);
		json_decref(list);
		return 0;
	}
	if (!ns) {
		usage(stderr);
		return 2;
	}
	if (!namespace_valid(ns)) {
		fprintf(stderr, "invalid namespace name '%s'\n", ns);
		return 2;
	}
	if (!strcmp(cmd, "create")) {
		const char *given = NULL;

		if (argc > 3 && !strcmp(argv[2], "--auth"))
			given = argv[3];
		err = auth_create_namespace(st, ns, given, pair);
		if (err == -EEXIST) {
			/* Either the namespace exists, or the given uuid is another's. */
			int got = st->ops->subject_get(st, ns, &s);

			if (!got)
				subject_clear(&s);
			if (got == -ENOENT && given) {
				fprintf(stderr,
					"create: the uuid of '%s' is already another namespace's\n",
					given);
				return 1;
			}
		}
		if (err)
			return fail("create", ns, err);
		puts(pair);
		return 0;
	}
	if (!strcmp(cmd, "get")) {
		err = st->ops->subject_get(st, ns, &s);
		if (err)
			return fail("get", ns, err);
		list = json_pack("{s:s,s:s,s:O}", "namespace", s.namespace, "uuid", s.uuid, "limits",
				 s.limits);
		print_json(list);
		json_decref(list);
		subject_clear(&s);
		return 0;
	}
	if (!strcmp(cmd, "delete")) {
		err = st->ops->subject_delete(st, ns);
		if (err)
			return fail("delete", ns, err);
		printf("Subject deleted: %s\n", ns);
		return 0;
	}
	if (!strcmp(cmd, "regenerate")) {
		char uuid[AUTH_UUID_LEN + 1], key[AUTH_KEY_LEN + 1];

		err = st->ops->subject_get(st, ns, &s);
		if (err)
			return fail("regenerate", ns, err);
		auth_generate(uuid, key);
		snprintf(s.uuid, sizeof(s.uuid), "%s", uuid);
		err = auth_set_key(&s, key);
		if (!err)
			err = st->ops->subject_put(st, &s, false);
		subject_clear(&s);
		if (err)
			return fail("regenerate", ns, err);
		printf("%s:%s\n", uuid, key);
		return 0;
	}
	usage(stderr);
	return 2;
}

static int limits_cmd(struct store *st, int argc, char **argv)
{
	const char *cmd = argc > 0 ? argv[0] : "";
	const char *ns = argc > 1 ? argv[1] : NULL;
	struct ns_limits eff;
	struct subject s;
	int err;

	if (!ns) {
		usage(stderr);
		return 2;
	}
	err = st->ops->subject_get(st, ns, &s);
	if (err)
		return fail("limits", ns, err);
	if (!strcmp(cmd, "get")) {
		json_t *j;

		limits_effective(s.limits, &eff);
		j = limits_to_json(&eff);
		/* Not an API limit (GET /limits does not show it): the controller's retention. */
		if (json_object_get(s.limits, RETENTION_LIMIT_KEY))
			json_object_set(j, RETENTION_LIMIT_KEY,
					json_object_get(s.limits, RETENTION_LIMIT_KEY));
		print_json(j);
		json_decref(j);
	} else if (!strcmp(cmd, "delete")) {
		json_decref(s.limits);
		s.limits = json_object();
		err = st->ops->subject_put(st, &s, false);
		if (!err)
			printf("Limits deleted: %s\n", ns);
	} else if (!strcmp(cmd, "set")) {
		for (int i = 2; i < argc; i += 2) {
			const char *key = argv[i];
			uint64_t v;

			/* The nodes keep limits in 32 bits. */
			if (strncmp(key, "--", 2) || i + 1 >= argc || parse_u64(argv[i + 1], &v) ||
			    v > UINT32_MAX) {
				fprintf(stderr, "expected --KEY NUMBER pairs, got '%s'\n", key);
				err = -EINVAL;
				break;
			}
			key += 2;
			if (!limits_key_known(key)) {
				fprintf(stderr, "unknown limit '%s'\n", key);
				err = -EINVAL;
				break;
			}
			json_object_set_new(s.limits, key, json_integer((json_int_t)v));
		}
		if (!err)
			err = st->ops->subject_put(st, &s, false);
		if (!err)
			printf("Limits set: %s\n", ns);
	} else {
		subject_clear(&s);
		usage(stderr);
		return 2;
	}
	subject_clear(&s);
	return err ? fail("limits", ns, err) : 0;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "data-dir", required_argument, NULL, 'd' },
		{ "store", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const char *data_dir = env_or("XWHISK_DATA_DIR", ".xwhisk");
	const char *store_uri = getenv("XWHISK_STORE");
	char dir[PATH_MAX], default_store[PATH_MAX + 16];
	struct store *st = NULL;
	int opt, err, rc;

	log_init("xwhisk-admin");
	/* Stop at the first non-option: subcommands take their own --flags. */
	while ((opt = getopt_long(argc, argv, "+d:s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'd':
			data_dir = optarg;
			break;
		case 's':
			store_uri = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	if (!store_uri) {
		snprintf(dir, sizeof(dir), "%s/controller", data_dir);
		err = mkdir_p(dir, 0700);
		if (err) {
			fprintf(stderr, "cannot create %s: %s\n", dir, strerror(-err));
			return 1;
		}
		snprintf(default_store, sizeof(default_store), "sqlite:%s/xwhisk.db", dir);
		store_uri = default_store;
	}
	err = store_open(store_uri, &st);
	if (err) {
		char shown[PATH_MAX + 16];

		store_uri_redact(store_uri, shown, sizeof(shown));
		fprintf(stderr, "cannot open the store %s: %s\n", shown, strerror(-err));
		return 1;
	}
	err = auth_seed(st);
	if (err)
		fprintf(stderr, "warning: cannot seed namespaces: %s\n", strerror(-err));
	if (!strcmp(argv[optind], "user")) {
		rc = user_cmd(st, argc - optind - 1, argv + optind + 1);
	} else if (!strcmp(argv[optind], "limits")) {
		rc = limits_cmd(st, argc - optind - 1, argv + optind + 1);
	} else {
		usage(stderr);
		rc = 2;
	}
	store_close(st);
	return rc;
}
