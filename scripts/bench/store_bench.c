// SPDX-License-Identifier: Apache-2.0
/*
 * Activation store benchmark (built and run by scripts/bench/store.sh), on one empty store:
 *   ingest     records stored per second, in batches of 1000 as nodes ship them: the
 *              first INGESTED records (default 100000) go through the store as a node's
 *              would; the rest, up to RECORDS, are copies of them made in bulk by the
 *              database (new ids and starts, the same spread), so that a million records
 *              take minutes, not an hour, on a slow machine; and this process's CPU time
 *              inside activation_put per record: for SQLite, what storing a record costs
 *              once its row is made (the floor of the controller's ingest; for
 *              PostgreSQL the server's share is elsewhere)
 *   list       latency of filtered activation lists (name, since/upto, skip; limit 30 as
 *              wsk activation list), p50 and p99
 *   retention  the controller's retention (retention_step) dropping the older half of the
 *              records (a day of a two-day spread), while another process keeps listing:
 *              how long it takes and the lists' p99 meanwhile
 * Prints one JSON line: store_bench URI RECORDS [QUERIES [INGESTED]]
 */
#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "loop.h"
#include "retention.h"
#include "json.h"
#include "store.h"
#include "util.h"

#define BATCH 1000
#define NAMESPACES 5
#define NAMES 20
#define DAY_MS (86400 * 1000LL)
/* Records ingested through the store by default; the rest are made in bulk. A multiple
 * of NAMESPACES * NAMES, so that record i's copy of record i % INGESTED has i's
 * namespace and name. */
#define INGESTED_DEFAULT 100000
#define BULK_ROWS 100000 /* per statement */

static const int64_t T0 = 1700000000000LL; /* records spread over [T0, T0 + 2 days) */

static json_t *record(uint64_t i, uint64_t total)
{
	char ns[16], name[16], id[33], path[40];
	int64_t start = T0 + (int64_t)(i * (2 * DAY_MS) / total);

	snprintf(ns, sizeof(ns), "bench%" PRIu64, i % NAMESPACES);
	snprintf(name, sizeof(name), "action%" PRIu64, (i / NAMESPACES) % NAMES);
	snprintf(id, sizeof(id), "%032" PRIx64, i);
	snprintf(path, sizeof(path), "%s/%s", ns, name);
	return json_pack("{s:s,s:s,s:s,s:s,s:I,s:I,s:I,s:{s:i,s:{s:s,s:i}},s:[s,s],"
			 "s:[{s:s,s:s},{s:s,s:s},{s:s,s:{s:i,s:i,s:i,s:i}}],s:s,s:b}",
			 "namespace", ns, "subject", ns, "name", name, "activationId", id, "start",
			 (json_int_t)start, "end", (json_int_t)(start + 12), "duration",
			 (json_int_t)12, "response", "statusCode", 0, "result", "greeting",
			 "hello stranger", "n", (int)i, "logs",
			 "2024-01-01T00:00:00.000000000Z stdout: hello",
			 "2024-01-01T00:00:00.000100000Z stdout: done", "annotations", "key",
			 "path", "value", path, "key", "kind", "value", "nodejs:20", "key",
			 "limits", "value",
			 "timeout", 60000, "memory", 256, "logs", 10, "concurrency", 1, "version",
			 "0.0.1", "publish", 0);
}

/* Rows [lo, hi) as copies of the ingested ones (record(i) of record(i % ingested)): $1 lo,
 * $2 hi, $3 ingested, $4 total, $5 T0, $6 2 days in ms. */
static const char pg_bulk_sql[] =
	"INSERT INTO activations (activation_id, namespace, filter_name, start, summary, doc) "
	"SELECT id, a.namespace, a.filter_name, st, "
	"  (a.summary::jsonb || jsonb_build_object('activationId', id, 'start', st, 'end', "
	"   st + 12))::json, "
	"  (a.doc::jsonb || jsonb_build_object('activationId', id, 'start', st, 'end', "
	"   st + 12))::json "
	"FROM (SELECT lpad(to_hex(i), 32, '0') AS id, $5::bigint + i * $6::bigint / $4 AS st, "
	"  lpad(to_hex(i % $3), 32, '0') AS src "
	"  FROM generate_series($1::bigint, $2::bigint - 1) AS i) g "
	"JOIN activations a ON a.activation_id = g.src";
static const char sqlite_bulk_sql[] =
	"WITH RECURSIVE n(i) AS (SELECT ?1 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < ?2), "
	"g AS (SELECT printf('%032x', i) AS id, ?5 + i * ?6 / ?4 AS st, "
	"  printf('%032x', i % ?3) AS src FROM n) "
	"INSERT INTO activations (activation_id, namespace, filter_name, start, summary, doc) "
	"SELECT id, a.namespace, a.filter_name, st, "
	"  json_set(a.summary, '$.activationId', id, '$.start', st, '$.end', st + 12), "
	"  json_set(a.doc, '$.activationId', id, '$.start', st, '$.end', st + 12) "
	"FROM g JOIN activations a ON a.activation_id = g.src";

static int pg_bulk(const char *uri, uint64_t ingested, uint64_t total)
{
	PGconn *c = PQconnectdb(uri);
	int err = PQstatus(c) == CONNECTION_OK ? 0 : -ECONNREFUSED;

	for (uint64_t lo = ingested; !err && lo < total; lo += BULK_ROWS) {
		char v[6][24];
		const char *vals[6] = { v[0], v[1], v[2], v[3], v[4], v[5] };
		PGresult *res;

		snprintf(v[0], 24, "%" PRIu64, lo);
		snprintf(v[1], 24, "%" PRIu64, lo + BULK_ROWS < total ? lo + BULK_ROWS : total);
		snprintf(v[2], 24, "%" PRIu64, ingested);
		snprintf(v[3], 24, "%" PRIu64, total);
		snprintf(v[4], 24, "%" PRId64, T0);
		snprintf(v[5], 24, "%lld", 2 * DAY_MS);
		res = PQexecParams(c, pg_bulk_sql, 6, NULL, vals, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			fprintf(stderr, "store_bench: bulk insert: %s", PQresultErrorMessage(res));
			err = -EIO;
		}
		PQclear(res);
	}
	if (!err)
		PQclear(PQexec(c, "ANALYZE activations"));
	PQfinish(c);
	return err;
}

static int sqlite_bulk(const char *path, uint64_t ingested, uint64_t total)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *stmt = NULL;
	int err = -EIO;

	if (sqlite3_open(path, &db) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, sqlite_bulk_sql, -1, &stmt, NULL) != SQLITE_OK)
		goto out;
	sqlite3_busy_timeout(db, 10000);
	for (uint64_t lo = ingested; lo < total; lo += BULK_ROWS) {
		sqlite3_bind_int64(stmt, 1, (sqlite3_int64)lo);
		sqlite3_bind_int64(stmt, 2, (sqlite3_int64)(lo + BULK_ROWS < total ? lo + BULK_ROWS : total));
		sqlite3_bind_int64(stmt, 3, (sqlite3_int64)ingested);
		sqlite3_bind_int64(stmt, 4, (sqlite3_int64)total);
		sqlite3_bind_int64(stmt, 5, T0);
		sqlite3_bind_int64(stmt, 6, 2 * DAY_MS);
		if (sqlite3_step(stmt) != SQLITE_DONE)
			goto out;
		sqlite3_reset(stmt);
	}
	err = sqlite3_exec(db, "ANALYZE", NULL, NULL, NULL) == SQLITE_OK ? 0 : -EIO;
out:
	if (err)
		fprintf(stderr, "store_bench: bulk insert: %s\n", db ? sqlite3_errmsg(db) : "no memory");
	sqlite3_finalize(stmt);
	sqlite3_close(db);
	return err;
}

/* Records of every namespace, as the store counts them. */
static int64_t count_all(struct store *st)
{
	int64_t all = 0;

	for (unsigned i = 0; i < NAMESPACES; i++) {
		char ns[16];
		struct activation_query q = { .namespace = ns };
		int64_t n = 0;

		snprintf(ns, sizeof(ns), "bench%u", i);
		if (st->ops->activation_count(st, &q, &n))
			return -1;
		all += n;
	}
	return all;
}

/* Records [ingested, total) made in bulk by the database. */
static int bulk_fill(const char *uri, uint64_t ingested, uint64_t total)
{
	if (ingested >= total)
		return 0;
	if (store_uri_is_pg(uri))
		return pg_bulk(uri, ingested, total);
	return sqlite_bulk(strncmp(uri, "sqlite:", 7) ? uri : uri + 7, ingested, total);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One list as a user would ask for it; returns its latency in microseconds. */
static uint64_t one_list(struct store *st, unsigned seed)
{
	char ns[16], name[16];
	struct activation_query q = { .namespace = ns, .limit = 30 };
	json_t *out = NULL;
	uint64_t t0 = clock_mono_us();

	snprintf(ns, sizeof(ns), "bench%u", seed % NAMESPACES);
	snprintf(name, sizeof(name), "action%u", (seed / 7) % NAMES);
	switch (seed % 4) {
	case 0: /* newest of one action */
		q.name = name;
		break;
	case 1: /* a six-hour window of one action */
		q.name = name;
		q.since = T0 + (int64_t)(seed % 40) * 3600 * 1000;
		q.upto = q.since + 6 * 3600 * 1000;
		break;
	case 2: /* a window of the namespace, second page */
		q.since = T0 + (int64_t)(seed % 40) * 3600 * 1000;
		q.upto = q.since + 3600 * 1000;
		q.skip = 30;
		break;
	default: /* newest of the namespace */
		break;
	}
	if (st->ops->activation_list(st, &q, &out))
		return UINT64_MAX;
	json_decref(out);
	return clock_mono_us() - t0;
}

static int open_store(const char *uri, struct store **st)
{
	int err = store_open(uri, st);

	if (err)
		fprintf(stderr, "store_bench: cannot open %s: %s\n", uri, strerror(-err));
	return err;
}

/* Latencies of n lists: p50 and p99 in microseconds; failures counted. */
static void lists(struct store *st, unsigned n, unsigned seed, uint64_t *p50, uint64_t *p99,
		  unsigned *failed)
{
	uint64_t *lat = calloc(n, sizeof(*lat));
	unsigned k = 0;

	*failed = 0;
	for (unsigned i = 0; i < n && lat; i++) {
		uint64_t us = one_list(st, seed + i * 2654435761u);

		if (us == UINT64_MAX)
			(*failed)++;
		else
			lat[k++] = us;
	}
	*p50 = *p99 = 0;
	if (k) {
		qsort(lat, k, sizeof(*lat), cmp_u64);
		*p50 = lat[k / 2];
		*p99 = lat[k * 99 / 100];
	}
	free(lat);
}

static volatile sig_atomic_t stop_lists;

static void on_term(int sig)
{
	stop_lists = 1;
}

/* The lister beside retention: lists until SIGTERM, then writes "p50 p99 n" to fd. */
static void lister(const char *uri, int fd)
{
	struct store *st;
	uint64_t *lat = NULL;
	size_t n = 0, cap = 0;
	char line[96];
	int len;

	signal(SIGTERM, on_term);
	if (open_store(uri, &st))
		_exit(1);
	for (unsigned i = 0; !stop_lists; i++) {
		uint64_t us = one_list(st, 12345 + i * 2654435761u);

		if (us == UINT64_MAX)
			continue;
		if (n == cap) {
			uint64_t *nl = realloc(lat, (cap = cap ? 2 * cap : 4096) * sizeof(*lat));

			if (!nl)
				break;
			lat = nl;
		}
		lat[n++] = us;
	}
	qsort(lat, n, sizeof(*lat), cmp_u64);
	len = snprintf(line, sizeof(line), "%" PRIu64 " %" PRIu64 " %zu", n ? lat[n / 2] : 0,
		       n ? lat[n * 99 / 100] : 0, n);
	(void)!write(fd, line, (size_t)len);
	store_close(st);
	_exit(0);
}

int main(int argc, char **argv)
{
	uint64_t total, queries, ingested, t0, ingest_us, bulk_us, p50, p99, retention_us;
	uint64_t put_cpu_us = 0, c0;
	uint64_t rp50 = 0, rp99 = 0, rn = 0;
	int64_t deleted = 0, n;
	struct store *st;
	unsigned failed;
	int pfd[2], status;
	char line[96] = "";
	bool more = true;
	pid_t child;

	log_init("store_bench");
	if (argc < 3) {
		fprintf(stderr, "usage: store_bench URI RECORDS [QUERIES [INGESTED]]\n");
		return 2;
	}
	total = strtoull(argv[2], NULL, 10);
	queries = argc > 3 ? strtoull(argv[3], NULL, 10) : 2000;
	ingested = argc > 4 ? strtoull(argv[4], NULL, 10) : INGESTED_DEFAULT;
	ingested -= ingested % (NAMESPACES * NAMES);
	if (!ingested || ingested > total)
		ingested = total;
	if (open_store(argv[1], &st))
		return 1;

	t0 = clock_mono_us();
	for (uint64_t i = 0; i < ingested; i += BATCH) {
		struct activation_batch batch = { 0 };
		char *texts[BATCH];
		size_t k = 0;
		int err;

		/* as the controller takes shipped records: each with its text */
		for (err = 0; k < BATCH && i + k < ingested && !err; k++) {
			json_t *doc = record(i + k, total);

			texts[k] = json_dump(doc);
			err = texts[k] ? activation_batch_add(&batch, doc, texts[k], strlen(texts[k]))
				       : -ENOMEM;
			json_decref(doc);
		}
		c0 = clock_cpu_us();
		err = err ?: st->ops->activation_put(st, &batch);
		put_cpu_us += clock_cpu_us() - c0;
		activation_batch_free(&batch);
		for (size_t j = 0; j < k; j++)
			free(texts[j]);
		if (err) {
			fprintf(stderr, "store_bench: activation_put: %s\n", strerror(-err));
			return 1;
		}
	}
	ingest_us = clock_mono_us() - t0;
	t0 = clock_mono_us();
	if (bulk_fill(argv[1], ingested, total))
		return 1;
	bulk_us = clock_mono_us() - t0;
	if (count_all(st) != (int64_t)total) {
		fprintf(stderr, "store_bench: %" PRId64 " records stored, not %" PRIu64 "\n",
			count_all(st), total);
		return 1;
	}

	lists(st, (unsigned)queries, 1, &p50, &p99, &failed);

	/* Retention of the first day while another process keeps listing. */
	if (pipe(pfd))
		return 1;
	child = fork();
	if (child == 0) {
		close(pfd[0]);
		lister(argv[1], pfd[1]);
	}
	close(pfd[1]);
	usleep(200 * 1000); /* the lister has connected and warmed up */
	t0 = clock_mono_us();
	while (more) {
		if (retention_step(st, DAY_MS, T0 + 2 * DAY_MS, &n, &more)) {
			fprintf(stderr, "store_bench: retention_step failed\n");
			break;
		}
		deleted += n;
	}
	retention_us = clock_mono_us() - t0;
	kill(child, SIGTERM);
	if (read(pfd[0], line, sizeof(line) - 1) > 0)
		sscanf(line, "%" SCNu64 " %" SCNu64 " %" SCNu64, &rp50, &rp99, &rn);
	waitpid(child, &status, 0);

	printf("{\"records\":%" PRIu64 ",\"ingested\":%" PRIu64 ",\"bulk_s\":%.1f"
	       ",\"ingest_per_s\":%.0f,\"put_cpu_us_per_record\":%.1f,\"list_p50_us\":%" PRIu64
	       ",\"list_p99_us\":%" PRIu64 ",\"list_failed\":%u,\"retention_deleted\":%" PRId64
	       ",\"retention_s\":%.2f,\"list_during_retention_p50_us\":%" PRIu64
	       ",\"list_during_retention_p99_us\":%" PRIu64 ",\"lists_during_retention\":%" PRIu64
	       "}\n",
	       total, ingested, bulk_us / 1e6, ingest_us ? ingested * 1e6 / (double)ingest_us : 0.0,
	       ingested ? put_cpu_us / (double)ingested : 0.0,
	       p50, p99, failed, deleted,
	       retention_us / 1e6, rp50, rp99, rn);
	store_close(st);
	return 0;
}
