// SPDX-License-Identifier: Apache-2.0
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pg_conn.h"
#include "pg_leader.h"

/* Key of the leader's advisory lock (the migrations' key plus one). */
#define LEADER_LOCK_KEY "132372276996204"
/* A leader that has not reached its session this long stops leading: well before the
 * server ends a silent session (pg_conn.c: keepalives and user timeout of about 10 s). */
#define LEADER_HOLD_MS 3000

struct pg_leader {
	char *conninfo;
	PGconn *conn;
	bool held; /* this session holds the lock */
};

static void drop_session(struct pg_leader *p)
{
	PQfinish(p->conn);
	p->conn = NULL;
	p->held = false;
}

/* The one-row boolean answer of sql, or false (and the session dropped) on any failure. */
static bool ask(struct pg_leader *p, const char *sql)
{
	PGresult *res = PQexec(p->conn, sql);
	bool yes = false;

	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1) {
		yes = !strcmp(PQgetvalue(res, 0, 0), "t");
	} else {
		pr_warn("leader: PostgreSQL: %s", PQerrorMessage(p->conn));
		drop_session(p);
	}
	PQclear(res);
	return yes;
}

/* Candidates try the lock; the holder checks that its session (and so the lock) is there.
 * A session-level lock taken twice would need two unlocks: it is taken once. A holder
 * whose session failed has dropped it, and the lock with it: it has lost for certain
 * (another controller may take the lock at its next round). */
static int pg_round(void *impl, const volatile bool *stop)
{
	struct pg_leader *p = impl;
	bool held = p->held;

	if (p->conn && PQstatus(p->conn) != CONNECTION_OK)
		drop_session(p);
	if (!p->conn) {
		p->conn = pg_conn_open(p->conninfo, PG_CONN_LEADER);
		if (!p->conn || PQstatus(p->conn) != CONNECTION_OK) {
			pr_debug("leader: cannot connect to PostgreSQL: %s",
				 p->conn ? PQerrorMessage(p->conn) : "out of memory");
			drop_session(p);
			return held ? -1 : 0;
		}
		if (held)
			return -1; /* a new session: the old one's lock went with it */
	}
	if (p->held)
		return ask(p, "SELECT true") ? 1 : -1;
	p->held = ask(p, "SELECT pg_try_advisory_lock(" LEADER_LOCK_KEY ")");
	return p->held ? 1 : 0;
}

/* Ending the session releases the lock: another controller takes over at its next round. */
static void pg_leader_free(void *impl)
{
	struct pg_leader *p = impl;

	if (!p)
		return;
	PQfinish(p->conn);
	free(p->conninfo);
	free(p);
}

static const struct leader_ops pg_leader_ops = { .round = pg_round, .free = pg_leader_free };

struct leader *pg_leader_start(struct loop *loop, const char *conninfo, const char *identity,
			       unsigned period_ms, void (*on_elected)(void *data),
			       void (*on_lost)(void *data), void *data)
{
	struct pg_leader *p = calloc(1, sizeof(*p));
	struct leader_config cfg = {
		.what = "PostgreSQL advisory lock " LEADER_LOCK_KEY,
		.identity = identity,
		.period_ms = period_ms ? period_ms : 1000,
		.hold_ms = LEADER_HOLD_MS,
	};

	if (!p || !(p->conninfo = strdup(conninfo))) {
		free(p);
		return NULL;
	}
	/* at least two rounds within the hold */
	if (cfg.period_ms > LEADER_HOLD_MS / 2)
		cfg.period_ms = LEADER_HOLD_MS / 2;
	return leader_start(loop, &cfg, &pg_leader_ops, p, on_elected, on_lost, data);
}
