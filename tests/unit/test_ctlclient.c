// SPDX-License-Identifier: Apache-2.0
/* The node's client of several controllers: a call that cannot reach the current one, or
 * that it answers 503 on standby, goes to the next and every client follows; a call no
 * controller takes fails; a list of URLs parses, a bad one does not. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "http.h"
#include "json.h"
#include "node/ctlclient.h"
#include "util.h"
#include "test.h"

static struct loop *loop;
static bool standby[2]; /* what each fake controller answers */
static int served[2];
static int answered, last_status;

static void fake(struct http_request *req, void *data)
{
	int i = (int)(intptr_t)data;

	served[i]++;
	if (standby[i]) {
		http_resp_header(req, "X-Xwhisk-Standby", "1");
		http_resp_send(req, 503, "application/json", "{\"error\":\"standby\"}", 19);
		return;
	}
	http_resp_send(req, 200, "application/json", i ? "{\"who\":1}" : "{\"who\":0}", 9);
}

static void on_answer(int status, json_t *body, void *data)
{
	answered++;
	last_status = status;
	if (status == 200)
		last_status = 200 + (int)json_integer_value(json_object_get(body, "who"));
}

static void stop(struct loop *l, void *data)
{
	loop_stop(l);
}

/* One call; its status (200 + the fake that answered, or a negative errno). */
static int call(struct ctlclient *cc)
{
	int before = answered;
	uint64_t end = clock_mono_ms() + 5000;

	if (ctlclient_call(cc, "POST", "/internal/v1/allocate", NULL, 2000, on_answer, NULL))
		return -999;
	while (answered == before && clock_mono_ms() < end) {
		loop_timer_add(loop, 10, stop, NULL);
		loop_run(loop);
	}
	return answered == before ? -998 : last_status;
}

static void test_parse(void)
{
	struct ctl_targets t;

	CHECK(ctl_targets_parse(&t, "http://127.0.0.1:3234") == 0 && t.n == 1);
	CHECK(t.t[0].port == 3234 && !strcmp(t.t[0].host, "127.0.0.1"));
	CHECK(ctl_targets_parse(&t, "http://a:1,b:2,http://c:3/") == 0 && t.n == 3);
	CHECK(!strcmp(t.t[1].host, "b") && t.t[1].port == 2 && t.t[2].port == 3);
	CHECK(ctl_targets_parse(&t, "") == -EINVAL);
	CHECK(ctl_targets_parse(&t, "http://a:1,,b:2") == -EINVAL);
	CHECK(ctl_targets_parse(&t, "http://a:0") == -EINVAL);
	CHECK(ctl_targets_parse(&t, "a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1") == -EINVAL);
}

static void test_failover(void)
{
	struct http_server_opts o = { .max_body = 1 << 20 };
	struct http_server *srv[2];
	static struct ctl_targets t;
	struct ctlclient *a, *b;
	char urls[128];
	int closed, seen;

	loop = loop_new();
	for (int i = 0; i < 2; i++) {
		srv[i] = http_server_new(loop, &o, fake, (void *)(intptr_t)i);
		ASSERT(srv[i] && http_server_listen(srv[i], "127.0.0.1:0", false) == 0);
	}
	/* a port nobody listens on (a server's, closed) */
	{
		struct http_server *gone = http_server_new(loop, &o, fake, NULL);

		ASSERT(gone && http_server_listen(gone, "127.0.0.1:0", false) == 0);
		closed = http_server_port(gone);
		http_server_free(gone);
	}
	snprintf(urls, sizeof(urls), "127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d", closed,
		 http_server_port(srv[0]), http_server_port(srv[1]));
	ASSERT(ctl_targets_parse(&t, urls) == 0 && t.n == 3);
	a = ctlclient_new(loop, &t, "token");
	b = ctlclient_new(loop, &t, "token"); /* another thread's client */
	ASSERT(a && b);
	/* the first is unreachable: the call is answered by the second */
	CHECK(call(a) == 200);
	CHECK(ctlclient_target(a) == 1 && ctlclient_target(b) == 1);
	/* the second on standby: the third answers, and b follows without a failure */
	standby[0] = true;
	CHECK(call(a) == 201);
	CHECK(ctlclient_target(b) == 2);
	seen = served[0];
	CHECK(call(b) == 201 && served[0] == seen);
	/* the third on standby too: each tried once (the first unreachable), no one took it */
	standby[1] = true;
	CHECK(call(b) == -EAGAIN);
	/* back to the second once it leads */
	standby[0] = false;
	CHECK(call(a) == 200);
	CHECK(ctlclient_target(a) == 1);
	ctlclient_free(a);
	ctlclient_free(b);
	for (int i = 0; i < 2; i++)
		http_server_free(srv[i]);
	loop_free(loop);
}

int main(void)
{
	RUN(test_parse);
	RUN(test_failover);
	TEST_EXIT();
}
