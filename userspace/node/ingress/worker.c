// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <arpa/inet.h>

#include "bpfload/sock_msg.h"
#include "guard.h"
#include "log.h"
#include "node/ingress/abuse.h"
#include "node/ingress/authn.h"
#include "node/ingress/metrics.h"
#include "node/activation/slots.h"
#include "node/ingress/router.h"
#include "node/ingress/stream.h"
#include "node/ingress/worker.h"

/* Keep-alive connections kept per sandbox and worker. */
#define SANDBOX_IDLE_CONNS 64

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	int err = loop_run(w->loop);

	if (err)
		pr_err("worker %u: event loop: %s", w->id, strerror(-err));
	return NULL;
}

static void worker_free(struct worker *w)
{
	if (!w)
		return;
	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++)
		http_pool_free(w->sandbox[i]);
	http_server_free(w->http);
	http_server_free(w->http_sandboxes);
	forwarder_free(w->fw);
	ctlclient_free(w->ctl);
	overflow_free(w->waiting);
	warm_cache_free(w->warm);
	identity_cache_free(w->ids);
	abuse_free(w->abuse);
	spool_writer_close(w->spool);
	buf_free(&w->scratch);
	mailbox_free(w->mailbox);
	loop_free(w->loop);
	free(w);
}

/* A refusal that is one too many for its source: xdp_guard drops it for a while. */
static void on_answered(struct http_request *req, int status, void *data)
{
	struct worker *w = data;
	uint8_t addr[16];

	if ((status != 401 && status != 429) || !w->abuse ||
	    xw_guard_addr_from_peer(req->peer, addr) ||
	    !abuse_strike(w->abuse, addr, loop_now_ms(w->loop)))
		return;
	/* -EPERM: exempt (loopback, the node's own addresses). */
	if (xw_guard_block_for(w->node->guard, addr, w->node->guard_block_ms))
		return;
	pr_warn("guard: %s refused again and again: blocked for %u ms", req->peer,
		w->node->guard_block_ms);
	/* Its open connection goes too: the block list only sees new ones. */
	req->keep_alive = false;
}

/* Actions call the API (__OW_API_HOST) from their sandboxes, which cannot reach loopback:
 * the same router on the bridge's address. Not fatal: the ingress itself works. */
static void listen_for_sandboxes(struct worker *w)
{
	struct http_server_opts hopts = { .max_body = NODE_MAX_BODY, .defer_writes = true,
					  .head_check = authn_head_check };
	const char *addr = w->node->cfg.sandbox_listen;
	int err;

	w->http_sandboxes = http_server_new(w->loop, &hopts, router_handle, w);
	err = w->http_sandboxes ? http_server_listen(w->http_sandboxes, addr, true) : -ENOMEM;
	if (!err)
		return;
	if (w->id == 0)
		pr_warn("actions cannot call the API: no listener on %s: %s", addr, strerror(-err));
	http_server_free(w->http_sandboxes);
	w->http_sandboxes = NULL;
}

void worker_end_turn(struct worker *w)
{
	int err = spool_flush(w->spool);

	if (err)
		pr_err("worker %u: activation records could not be spooled: %s", w->id,
		       strerror(-err));
	else if (w->records_added)
		shipper_nudge(w->node->shipper);
	w->records_added = false;
	/* Only now the answers: their records are in the file. */
	http_server_flush(w->http);
	http_server_flush(w->http_sandboxes);
}

static void on_before_sleep(struct loop *loop, void *data)
{
	worker_end_turn(data);
}

int worker_start(struct node *node, unsigned id, struct worker **out)
{
	struct http_server_opts hopts = { .max_body = NODE_MAX_BODY, .answered = on_answered,
					  .early = stream_early, .head_check = authn_head_check,
					  .defer_writes = true };
	struct worker *w = calloc(1, sizeof(*w));
	char spool_dir[600];
	int err = -ENOMEM;

	if (!w)
		return -ENOMEM;
	w->node = node;
	w->id = id;
	w->loop = loop_new();
	if (!w->loop)
		goto fail;
	w->mailbox = mailbox_new(w->loop);
	w->ctl = ctlclient_new(w->loop, &node->cfg.controllers, node->cfg.node_token);
	w->fw = w->ctl ? forwarder_new(w->loop, w->ctl, w->node->actions) : NULL;
	w->waiting = overflow_new(node->cfg.queue_max);
	w->warm = warm_cache_new();
	w->ids = identity_cache_new();
	w->abuse = node->guard ? abuse_new(node->guard_strikes, node->guard_block_ms) : NULL;
	w->http = http_server_new(w->loop, &hopts, router_handle, w);
	if (!w->mailbox || !w->ctl || !w->fw || !w->waiting || !w->warm || !w->ids || !w->http)
		goto fail;
	snprintf(spool_dir, sizeof(spool_dir), "%s/node/spool", node->cfg.data_dir);
	err = spool_writer_open(spool_dir, id, &w->spool);
	if (err)
		goto fail;
	err = http_server_listen(w->http, node->cfg.listen, true);
	if (err) {
		pr_err("worker %u: cannot listen on %s: %s", id, node->cfg.listen, strerror(-err));
		goto fail;
	}
	if (node->cfg.sandbox_listen[0])
		listen_for_sandboxes(w);
	loop_set_before_sleep(w->loop, on_before_sleep, w);
	err = -pthread_create(&w->thread, NULL, worker_main, w);
	if (err)
		goto fail;
	*out = w;
	return 0;
fail:
	worker_free(w);
	return err;
}

static void on_drain(void *arg)
{
	struct worker *w = arg;

	w->draining = true;
	http_server_close_listener(w->http);
	http_server_close_listener(w->http_sandboxes);
}

void worker_drain(struct worker *w)
{
	if (w)
		(void)mailbox_post(w->mailbox, on_drain, w);
}

unsigned worker_activations(const struct worker *w)
{
	return __atomic_load_n(&w->activations, __ATOMIC_ACQUIRE);
}

static void worker_quit(void *arg)
{
	struct worker *w = arg;

	loop_stop(w->loop);
}

void worker_stop(struct worker *w)
{
	if (!w)
		return;
	if (!mailbox_post(w->mailbox, worker_quit, w))
		pthread_join(w->thread, NULL);
	worker_free(w);
}

void worker_accept(struct worker *w, const char *activation_id, const struct record *fallback)
{
	int err = fallback ? spool_accept(w->spool, activation_id, fallback->text.data,
					  fallback->text.len)
			   : -ENOMEM;

	if (err)
		pr_err("worker %u: activation %s accepted without a spool marker: %s", w->id,
		       activation_id, strerror(-err));
}

void worker_spool(struct worker *w, const struct record *record)
{
	int err = record && record->text.len
			  ? spool_add_text(w->spool, record->text.data, record->text.len)
			  : -ENOMEM;

	w->records_added |= !err;
	if (!err)
		spool_settle(w->spool, record->activation_id);
	if (err)
		pr_err("worker %u: an activation record could not be spooled: %s", w->id,
		       strerror(-err));
}


/* A pooled connection to a sandbox, idle for the first time: its bytes may skip TCP from
 * now on (a sandbox of another node, or one whose end is not in msg_socks, keeps TCP). */
static void sock_msg_join(int fd, void *data)
{
	struct worker *w = data;

	/* Not fatal: the connection keeps TCP. Counted, since nothing else would show it. */
	if (xw_msg_add(w->node->sock_msg, fd))
		STAT_INC(w, sock_msg_add_failures);
}

struct http_pool *worker_sandbox_pool(struct worker *w, uint32_t slot)
{
	struct xw_slot *s = &w->node->maps->slots[slot];
	uint32_t gen = __atomic_load_n(&s->generation, __ATOMIC_ACQUIRE);
	char host[INET_ADDRSTRLEN];
	struct in_addr a;

	if (w->sandbox[slot] && w->sandbox_gen[slot] == gen)
		return w->sandbox[slot];
	/* Another sandbox took the slot: its predecessor's connections are useless. */
	http_pool_free(w->sandbox[slot]);
	memcpy(&a.s_addr, s->addr, sizeof(s->addr));
	inet_ntop(AF_INET, &a, host, sizeof(host));
	w->sandbox[slot] = http_pool_new(w->loop, host, s->port, SANDBOX_IDLE_CONNS);
	if (w->sandbox[slot] && w->node->sock_msg)
		http_pool_on_first_idle(w->sandbox[slot], sock_msg_join, w);
	w->sandbox_gen[slot] = gen;
	return w->sandbox[slot];
}
