/* SPDX-License-Identifier: Apache-2.0 */
/*
 * PostgreSQL connections of the controller: the store's, its change feed's and the
 * leader election's, each with defaults the connection string's own settings override,
 * and reconnection that never holds the controller's loop for long.
 */
#ifndef XWHISK_PG_CONN_H
#define XWHISK_PG_CONN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

enum pg_conn_kind {
	PG_CONN_STORE,  /* statements: lock and statement timeouts of requests */
	PG_CONN_LEADER, /* the election: a silent peer noticed in seconds on both sides */
};

/* Connects (blocking, within connect_timeout); NULL only without memory: check PQstatus. */
PGconn *pg_conn_open(const char *conninfo, enum pg_conn_kind kind);

/* A reconnection under way: PQresetStart, then PQresetPoll whenever the socket is ready. */
struct pg_reset {
	bool active;
	uint64_t started_ms, stepped_ms;
	PostgresPollingStatusType want;
};

/*
 * Advances a reconnection of conn (starting one when none is under way), waiting at most
 * wait_ms for the server. 0: connected; -EINPROGRESS: still under way (call again later);
 * -ECONNREFUSED: it failed, or has waited for the server longer than timeout_ms.
 */
int pg_reset_step(PGconn *conn, struct pg_reset *r, unsigned wait_ms, unsigned timeout_ms);

#endif
