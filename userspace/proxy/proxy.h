/* SPDX-License-Identifier: Apache-2.0 */
/*
 * xwhisk-proxy: the OpenWhisk runtime protocol inside a sandbox. POST /init once,
 * POST /run per activation, on port 8080; the end-of-activation sentinel on stdout and
 * stderr after each /run and after a failed /init, or the activation's log lines in the
 * answer for a client that asks (lib/actlogs.h).
 *
 * Three ways to run an action (modes), chosen by --kind:
 *   loop      a prewarmed language loop (nodejs, python), the command after "--":
 *             it starts with the sandbox, so /init only loads the code (mode_loop.c)
 *   native    the ActionLoop protocol: /init starts the action's executable, which reads
 *             one JSON line per activation on stdin and answers one line on fd 3
 *   blackbox  OpenWhisk's dockerskeleton: /init stores the executable, each /run starts
 *             it with the arguments as one JSON string in argv[1] (and on stdin); its
 *             last stdout line is the result, the rest of its output the logs
 *
 * The common part (server.c) parses requests, applies the protocol's status codes and
 * the concurrency limit, and ends each activation's logs (capture.c: in the answer when
 * the node asks, else the sentinels); a mode only loads and runs code.
 */
#ifndef XWHISK_PROXY_H
#define XWHISK_PROXY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "activation.h" /* ACTIVATION_SENTINEL */
#include "http.h"
#include "loop.h"
#include "util.h" /* strv_free() for the environments below */


/* Texts the platform and the reference runtimes use (openwhisk-api.md §3.5, §6). */
#define MSG_REINIT "Cannot initialize the action more than once."
#define MSG_NO_CODE "Missing main/no code to execute."
#define MSG_NOT_DICT "The action did not return a dictionary."
#define MSG_NOT_DICT_OR_ARRAY "The action did not return a dictionary or array."
#define MSG_OOM "The action exhausted its memory and was aborted."
#define MSG_DIED_INIT "The action did not initialize and exited unexpectedly."
#define MSG_DIED_RUN "The action did not produce a valid response and exited unexpectedly."
#define MSG_NO_BINARY "The action failed to locate a binary. See logs for details."
#define MSG_BAD_ARGS "The action did not receive a dictionary or array as an argument."

struct proxy;
struct proxy_run;
struct capture;

/* What /init hands a mode after the common checks. */
struct init_args {
	const char *main;  /* "main" unless given */
	const char *code;  /* source text, or the decoded bytes when binary */
	size_t code_len;
	bool binary;
	json_t *env;       /* the init parameters, every value a string */
};

struct proxy_ops {
	const char *name;
	bool code_optional; /* /init without code is fine (the dockerskeleton keeps its stub) */
	int (*start)(struct proxy *p); /* calls proxy_ready() once it can serve */
	/* Answers with proxy_init_done(). */
	void (*init)(struct proxy *p, struct http_request *req, const struct init_args *a);
	/* Answers with proxy_run_done(). */
	void (*run)(struct proxy *p, struct proxy_run *run);
	/* Frees the mode's state at exit (optional). */
	void (*stop)(struct proxy *p);
	/* /run before a successful /init, and after the action stopped. */
	int not_initialized_status;
	const char *not_initialized_error;
};

enum proxy_state { PROXY_NEW, PROXY_INITIALIZING, PROXY_READY, PROXY_STOPPED };

struct proxy_run {
	struct proxy *p;
	struct http_request *req;
	json_t *body;   /* the /run body */
	/* The body's text as it came, when it can go to a language loop as is (valid JSON,
	 * "value" given, no newline); else NULL and the loop gets body dumped. */
	const char *raw;
	size_t raw_len;
	uint64_t id;
	long long logs_limit;     /* its logs in band, at most this many bytes; -1: not */
	struct loop_timer *spill; /* near its deadline its logs pass on (capture.c) */
	bool spilled;
	struct proxy_run *next;
};

struct proxy {
	struct loop *loop;
	struct http_server *http;
	const struct proxy_ops *ops;
	const char *kind;
	const char *listen;        /* NULL: no listener (http_server_adopt only) */
	char *action_dir;
	char **loop_argv;   /* the command after "--" */
	int ready_fd;       /* XWHISK_READY_FD, or -1 */
	int oom_fd;         /* XWHISK_OOM_FD, or -1 */
	long oom_base;
	enum proxy_state state;
	const char *stop_reason;   /* why runs are refused after the action stopped */
	unsigned concurrency;      /* runs allowed in flight (the /init "concurrency") */
	unsigned inflight;         /* accepted, not answered */
	bool serial;               /* the mode runs one at a time; the rest wait in order */
	unsigned running;
	uint64_t next_id;
	struct proxy_run *queue, *queue_tail;
	char **child_env;          /* our environment (XWHISK_* removed) + init parameters */
	int exit_code;             /* set when the proxy ends because the action is gone */
	struct capture *cap;       /* the action's output (capture.h) */
	void *mode;
};

extern const struct proxy_ops proxy_loop_ops;
extern const struct proxy_ops proxy_native_ops;
extern const struct proxy_ops proxy_blackbox_ops;

int proxy_serve(struct proxy *p);
/* The mode can take /init now: tells the sandbox manager (XWHISK_READY_FD). */
void proxy_ready(struct proxy *p);
void proxy_init_done(struct proxy *p, struct http_request *req, int status, const char *json);
void proxy_run_done(struct proxy_run *run, int status, const char *json, size_t len);
/* Answers {"error": msg} with status. */
void proxy_run_error(struct proxy_run *run, int status, const char *msg);
void proxy_init_error(struct proxy *p, struct http_request *req, int status, const char *msg);
/* The action can no longer run: later /run get reason (NULL: the mode's default). */
void proxy_stop(struct proxy *p, const char *reason);
void proxy_write_sentinels(void);
/* The oom_kill counter in the memory cgroup file at fd (0 if unknown). */
long proxy_oom_count(int fd);
/* True when the sandbox's memory cgroup OOM-killed something since we started. */
bool proxy_oom_happened(struct proxy *p);
/* A NULL-terminated environment: child_env plus extra "K=V" strings. */
char **proxy_env_with(struct proxy *p, char *const *extra);
/* Writes data to path with mode (creating directories). */
int write_file(const char *path, const void *data, size_t len, unsigned mode);

#endif
