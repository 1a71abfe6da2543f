// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <poll.h>

#include "loop.h"
#include "pg_conn.h"

/*
 * Defaults first: the connection string (dbname, expanded) overrides them. The store's: a
 * server that vanishes without closing the connection is noticed within seconds
 * (keepalives, TCP user timeout) instead of TCP's minutes; a statement waits at most 5 s
 * for a lock (-EBUSY, a 503) and runs at most 30 s. The election's: it notices a silent
 * server within 3 s, and the server (its own keepalives and user timeout, set for the
 * session) ends a silent leader's session, and so its lock, only after about 10 s: the
 * leader has stopped leading before anyone else can win.
 */
static const char *const keys[] = { "connect_timeout",  "application_name", "client_encoding",
				    "keepalives_idle",  "keepalives_interval", "keepalives_count",
				    "tcp_user_timeout", "options",	       "dbname",
				    NULL };
static const char *const store_vals[] = { "2",	   "xwhisk", "UTF8", "10", "5", "3", "10000",
					  "-c lock_timeout=5s -c statement_timeout=30s",
					  NULL,	   NULL };
static const char *const leader_vals[] = {
	"2", "xwhisk-leader", "UTF8", "2", "1", "2", "3000",
	"-c statement_timeout=2s -c tcp_keepalives_idle=4 -c tcp_keepalives_interval=2 "
	"-c tcp_keepalives_count=3 -c tcp_user_timeout=10000",
	NULL, NULL
};

PGconn *pg_conn_open(const char *conninfo, enum pg_conn_kind kind)
{
	const char *vals[sizeof(keys) / sizeof(keys[0])];

	_Static_assert(sizeof(store_vals) == sizeof(keys) && sizeof(leader_vals) == sizeof(keys),
		       "a value for every connection key");
	for (unsigned i = 0; keys[i]; i++)
		vals[i] = kind == PG_CONN_LEADER ? leader_vals[i] : store_vals[i];
	vals[sizeof(keys) / sizeof(keys[0]) - 2] = conninfo;
	vals[sizeof(keys) / sizeof(keys[0]) - 1] = NULL;
	return PQconnectdbParams(keys, vals, 1);
}

static int reset_begin(PGconn *conn, struct pg_reset *r, uint64_t now)
{
	if (!PQresetStart(conn))
		return -ECONNREFUSED;
	r->active = true;
	r->started_ms = r->stepped_ms = now;
	/* as libpq says: before the first poll, wait as for writing */
	r->want = PGRES_POLLING_WRITING;
	return 0;
}

int pg_reset_step(PGconn *conn, struct pg_reset *r, unsigned wait_ms, unsigned timeout_ms)
{
	uint64_t now = clock_mono_ms(), end = now + wait_ms;

	/* An attempt nobody advanced for a while is stale, not slow: start afresh. */
	if ((!r->active || now - r->stepped_ms > timeout_ms) && reset_begin(conn, r, now))
		goto failed;
	for (;;) {
		struct pollfd pfd = { .fd = PQsocket(conn),
				      .events = r->want == PGRES_POLLING_READING ? POLLIN : POLLOUT };
		int n;

		now = clock_mono_ms();
		r->stepped_ms = now;
		if (pfd.fd < 0)
			goto failed;
		n = poll(&pfd, 1, end > now ? (int)(end - now) : 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto failed;
		if (n == 0) {
			if (now - r->started_ms > timeout_ms)
				goto failed;
			return -EINPROGRESS;
		}
		r->want = PQresetPoll(conn);
		if (r->want == PGRES_POLLING_OK) {
			r->active = false;
			return 0;
		}
		if (r->want == PGRES_POLLING_FAILED)
			goto failed;
	}
failed:
	r->active = false;
	return -ECONNREFUSED;
}
