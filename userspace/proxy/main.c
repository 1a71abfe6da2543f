// SPDX-License-Identifier: Apache-2.0
/* xwhisk-proxy: runs inside a sandbox and speaks the OpenWhisk runtime protocol. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "capture.h"
#include "children.h"
#include "log.h"
#include "proxy.h"

#define DEFAULT_LISTEN "0.0.0.0:8080"
#define DEFAULT_ACTION_DIR "/action"

static void usage(FILE *f)
{
	fprintf(f,
		"Usage: xwhisk-proxy --kind KIND [options] [-- LOOP COMMAND...]\n"
		"\n"
		"Serves POST /init and POST /run (the OpenWhisk runtime protocol) inside a\n"
		"sandbox.\n"
		"  KIND blackbox  the dockerskeleton contract: each /run starts the executable\n"
		"  KIND native    the ActionLoop protocol: one executable serves every /run\n"
		"  other kinds    a language loop, the command after \"--\", started now\n"
		"\n"
		"Options:\n"
		"  -k, --kind KIND        the action kind (nodejs:20, python:3, native, blackbox)\n"
		"  -l, --listen ADDR      host:port to serve on (default %s)\n"
		"  -d, --action-dir DIR   where the action's code goes (default %s)\n"
		"  -h, --help             this text\n"
		"\n"
		"From the sandbox manager, all optional: XWHISK_READY_FD (told \"READY=1\" once\n"
		"/init can be served), XWHISK_LOOP_FDS (the stdin and fd 3 of a language loop\n"
		"already running, then the read ends of its stdout and stderr),\n"
		"XWHISK_OOM_FD (the memory cgroup's OOM counter).\n",
		DEFAULT_LISTEN, DEFAULT_ACTION_DIR);
}

static void on_signal(struct loop *loop, int signo, void *data)
{
	(void)data;
	if (signo == SIGCHLD) {
		children_reap();
		return;
	}
	loop_stop(loop);
}

static int env_fd(const char *name)
{
	const char *v = getenv(name);
	char *end;
	long fd;

	if (!v || !*v)
		return -1;
	fd = strtol(v, &end, 10);
	return *end || fd < 0 ? -1 : (int)fd;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "kind", required_argument, NULL, 'k' },
		{ "listen", required_argument, NULL, 'l' },
		{ "action-dir", required_argument, NULL, 'd' },
		{ "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	const int signals[] = { SIGCHLD, SIGTERM, SIGINT };
	struct proxy p = {
		.listen = DEFAULT_LISTEN,
		.ready_fd = -1,
		.oom_fd = -1,
		.concurrency = 1,
	};
	const char *action_dir = DEFAULT_ACTION_DIR;
	int opt, err;

	log_init("xwhisk-proxy");
	/* Our stderr is the action's log: only real trouble belongs there. */
	if (!getenv("XWHISK_LOG_LEVEL"))
		log_set_level(LOG_LEVEL_ERR);
	while ((opt = getopt_long(argc, argv, "+k:l:d:h", opts, NULL)) != -1) {
		switch (opt) {
		case 'k':
			p.kind = optarg;
			break;
		case 'l':
			p.listen = optarg;
			break;
		case 'd':
			action_dir = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (!p.kind) {
		usage(stderr);
		return 2;
	}
	if (optind < argc)
		p.loop_argv = argv + optind;
	if (!strcmp(p.kind, "blackbox"))
		p.ops = &proxy_blackbox_ops;
	else if (!strcmp(p.kind, "native"))
		p.ops = &proxy_native_ops;
	else if (p.loop_argv)
		p.ops = &proxy_loop_ops;
	else {
		fprintf(stderr, "xwhisk-proxy: kind %s needs a loop command after --\n", p.kind);
		return 2;
	}
	p.action_dir = strdup(action_dir);
	p.ready_fd = env_fd("XWHISK_READY_FD");
	p.oom_fd = env_fd("XWHISK_OOM_FD");
	/* Count only what happens from now on. */
	p.oom_base = proxy_oom_count(p.oom_fd);
	signal(SIGPIPE, SIG_IGN);
	err = -ENOMEM;
	p.loop = loop_new();
	if (!p.loop || !p.action_dir)
		goto out;
	err = loop_add_signals(p.loop, signals, 3, on_signal, NULL);
	if (err)
		goto out;
	err = proxy_serve(&p);
	if (err) {
		pr_err("cannot listen on %s: %s", p.listen, strerror(-err));
		goto out;
	}
	/* Without its own pipes the proxy still serves, its logs on the sandbox's. */
	if (capture_start(&p))
		pr_warn("the action's output goes straight to the sandbox's pipes");
	err = p.ops->start(&p);
	if (err) {
		pr_err("cannot start the %s runtime: %s", p.kind, strerror(-err));
		goto out;
	}
	err = loop_run(p.loop);
out:
	if (p.ops->stop)
		p.ops->stop(&p);
	capture_stop(&p);
	strv_free(p.child_env);
	http_server_free(p.http);
	loop_free(p.loop);
	free(p.action_dir);
	return err || p.exit_code ? 1 : 0;
}
