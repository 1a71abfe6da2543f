// SPDX-License-Identifier: Apache-2.0
/* xwhisk-node: the per-node ingress on :3233. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forward.h"
#include "http.h"
#include "log.h"
#include "loop.h"
#include "util.h"

#define DEFAULT_LISTEN "127.0.0.1:3233"
#define DEFAULT_CONTROLLER "http://127.0.0.1:3234"
/* exec (48 MB) plus parameters and annotations (1 MB each) plus JSON overhead */
#define MAX_BODY ((48u << 20) + (4u << 20))

struct node {
	struct loop *loop;
	struct http_server *http;
	struct forwarder *fw;
};

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: xwhisk-node [options]\n"
		"\n"
		"The xwhisk node agent: the OpenWhisk API ingress of this node (HTTP on :3233).\n"
		"\n"
		"Options (each also read from the environment variable shown):\n"
		"  -l, --listen ADDR       host:port of the ingress (XWHISK_NODE_LISTEN, default %s)\n"
		"  -c, --controller URL    the controller (XWHISK_CONTROLLER, default %s)\n"
		"  -d, --data-dir DIR      state directory (XWHISK_DATA_DIR, default ./.xwhisk)\n"
		"  -v, --log-level LEVEL   error, warn, info or debug (XWHISK_LOG_LEVEL)\n"
		"  -h, --help              this text\n",
		DEFAULT_LISTEN, DEFAULT_CONTROLLER);
}

static void on_request(struct http_request *req, void *data)
{
	struct node *node = data;
	const char *given = http_req_header(req, "X-Request-ID");
	char tid[72];

	if (given && *given && strlen(given) < sizeof(tid) && strncmp(given, "sid_", 4))
		snprintf(tid, sizeof(tid), "%s", given);
	else
		random_alnum(tid, 32);
	if (req->error_status) {
		char body[256];
		int n = snprintf(body, sizeof(body), "{\"error\":\"%s\",\"code\":\"%s\"}",
				 req->error_status == 413 ? "Request larger than allowed."
							  : req->error_msg,
				 tid);

		http_resp_header(req, "X-Request-ID", "%s", tid);
		http_resp_send(req, req->error_status, "application/json", body, (size_t)n);
		return;
	}
	forwarder_pass(node->fw, req, tid);
}

static void on_signal(struct loop *loop, int signo, void *data)
{
	pr_info("signal %d: stopping", signo);
	loop_stop(loop);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },
		{ "controller", required_argument, NULL, 'c' },
		{ "data-dir", required_argument, NULL, 'd' },
		{ "log-level", required_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const int signals[] = { SIGINT, SIGTERM };
	struct http_server_opts hopts = { .max_body = MAX_BODY };
	const char *listen = env_or("XWHISK_NODE_LISTEN", DEFAULT_LISTEN);
	const char *controller = env_or("XWHISK_CONTROLLER", DEFAULT_CONTROLLER);
	struct node node = { 0 };
	int opt, err, level;

	log_init("xwhisk-node");
	while ((opt = getopt_long(argc, argv, "l:c:d:v:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'l':
			listen = optarg;
			break;
		case 'c':
			controller = optarg;
			break;
		case 'd':
			break;
		case 'v':
			level = log_parse_level(optarg);
			if (level < 0) {
				fprintf(stderr, "unknown log level '%s'\n", optarg);
				return 2;
			}
			log_set_level((enum log_level)level);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);

	err = -ENOMEM;
	node.loop = loop_new();
	if (!node.loop)
		goto out;
	node.fw = forwarder_new(node.loop, controller);
	if (!node.fw) {
		pr_err("bad controller address '%s'", controller);
		err = -EINVAL;
		goto out;
	}
	node.http = http_server_new(node.loop, &hopts, on_request, &node);
	if (!node.http)
		goto out;
	err = http_server_listen(node.http, listen, true);
	if (err) {
		pr_err("cannot listen on %s: %s", listen, strerror(-err));
		goto out;
	}
	err = loop_add_signals(node.loop, signals, 2, on_signal, NULL);
	if (err)
		goto out;
	pr_info("serving on http://%s, controller %s", listen, controller);
	err = loop_run(node.loop);
out:
	http_server_free(node.http);
	forwarder_free(node.fw);
	loop_free(node.loop);
	return err ? 1 : 0;
}
