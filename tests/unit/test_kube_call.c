// SPDX-License-Identifier: Apache-2.0
/*
 * kube_call against a scripted API server on loopback: 429 and 5xx are retried (3 tries),
 * other answers are returned as they are, at once; no answer at all is an errno.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "json.h"
#include "kube.h"
#include "test.h"

#define SCRIPT_MAX 8

/* The server answers request i with codes[i] (the last code once the script runs out). */
struct server {
	int fd;
	int port;
	int codes[SCRIPT_MAX];
	int ncodes;
	int requests;
	pthread_t thread;
};

static void answer(int c, int code)
{
	char head[256], req[4096];
	const char *body = code == 200 ? "{\"kind\":\"Pod\"}" : "{\"kind\":\"Status\"}";
	ssize_t n, got = 0;

	/* Reads the request head (the test's calls have no body). */
	while (got < (ssize_t)sizeof(req) - 1 &&
	       (n = read(c, req + got, sizeof(req) - 1 - (size_t)got)) > 0) {
		got += n;
		req[got] = 0;
		if (strstr(req, "\r\n\r\n"))
			break;
	}
	snprintf(head, sizeof(head),
		 "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
		 "Connection: close\r\n\r\n",
		 code, strlen(body));
	if (write(c, head, strlen(head)) < 0 || write(c, body, strlen(body)) < 0)
		return;
}

static void *serve(void *arg)
{
	struct server *s = arg;
	int c;

	while ((c = accept(s->fd, NULL, NULL)) >= 0) {
		int i = s->requests < s->ncodes ? s->requests : s->ncodes - 1;

		__atomic_add_fetch(&s->requests, 1, __ATOMIC_SEQ_CST);
		answer(c, s->codes[i]);
		close(c);
	}
	return NULL;
}

static int server_start(struct server *s)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);

	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) || listen(s->fd, 8) ||
	    getsockname(s->fd, (struct sockaddr *)&a, &len))
		return -errno;
	s->port = ntohs(a.sin_port);
	return pthread_create(&s->thread, NULL, serve, s) ? -EAGAIN : 0;
}

static void server_stop(struct server *s)
{
	shutdown(s->fd, SHUT_RDWR);
	close(s->fd);
	pthread_join(s->thread, NULL);
}

/* One kube_call against a server answering codes in turn. */
static int call(const int *codes, int ncodes, long *status, json_t **out, int *requests)
{
	struct server s = { .ncodes = ncodes };
	struct kube_config kc = { .timeout_ms = 2000 };
	int err;

	memcpy(s.codes, codes, sizeof(int) * (size_t)ncodes);
	if (server_start(&s))
		return -EIO;
	snprintf(kc.server, sizeof(kc.server), "http://127.0.0.1:%d", s.port);
	snprintf(kc.namespace, sizeof(kc.namespace), "xwhisk");
	err = kube_call(&kc, "GET", "/api/v1/namespaces/xwhisk/pods/p", NULL, NULL, status, out);
	server_stop(&s);
	*requests = s.requests;
	return err;
}

static void test_busy_then_answer(void)
{
	const int codes[] = { 429, 503, 200 };
	json_t *out = NULL;
	long status = 0;
	int requests;

	CHECK(call(codes, 3, &status, &out, &requests) == 0);
	CHECK(status == 200 && requests == 3);
	CHECK_STR(json_string_value(json_object_get(out, "kind")), "Pod");
	json_decref(out);
}

static void test_failing_gives_up(void)
{
	const int codes[] = { 500 };
	json_t *out = NULL;
	long status = 0;
	int requests;

	CHECK(call(codes, 1, &status, &out, &requests) == -EAGAIN);
	CHECK(requests == 3 && !out);
}

/* A client error is the answer: retrying a 404 or a 409 would not change it. */
static void test_client_errors_not_retried(void)
{
	const int codes[][1] = { { 404 }, { 409 }, { 410 } };

	for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++) {
		json_t *out = NULL;
		long status = 0;
		int requests;

		CHECK(call(codes[i], 1, &status, &out, &requests) == 0);
		CHECK(status == codes[i][0] && requests == 1);
		json_decref(out);
	}
}

static void test_nobody_there(void)
{
	struct kube_config kc = { .timeout_ms = 1000 };
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	json_t *out = NULL;
	long status = 0;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	/* A port just freed: nothing listens there. */
	ASSERT(fd >= 0 && !bind(fd, (struct sockaddr *)&a, sizeof(a)) &&
	       !getsockname(fd, (struct sockaddr *)&a, &len));
	close(fd);
	snprintf(kc.server, sizeof(kc.server), "http://127.0.0.1:%d", ntohs(a.sin_port));
	CHECK(kube_call(&kc, "GET", "/api", NULL, NULL, &status, &out) == -ECONNREFUSED);
	CHECK(!out);
}

int main(void)
{
	RUN(test_busy_then_answer);
	RUN(test_failing_gives_up);
	RUN(test_client_errors_not_retried);
	RUN(test_nobody_there);
	TEST_EXIT();
}
