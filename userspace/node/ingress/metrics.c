// SPDX-License-Identifier: Apache-2.0
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "node/ingress/metrics.h"
#include "node/node.h"
#include "node/activation/overflow.h"
#include "node/activation/result_cache.h"
#include "node/manager/pool.h"
#include "bpfload/sock_msg.h"
#include "guard.h"
#include "prom.h"
#include "sandbox_net.h"
#include "xwhisk/verdict.h"
#include "node/activation/spool.h"
#include "node/manager/shipper.h"
#include "node/ingress/stream.h"
#include "node/ingress/worker.h"

static const char *const latency_bounds[] = { "0.001", "0.002", "0.005", "0.01", "0.025",
					       "0.05",	"0.1",	 "0.25",  "0.5",  "1",
					       "2.5",	"5",	 "10",	  "+Inf" };

static uint64_t sum_stat(struct node *node, size_t offset)
{
	uint64_t total = 0;

	for (unsigned i = 0; i < node->nworkers; i++)
		total += __atomic_load_n(
			(uint64_t *)((char *)&node->workers[i]->stats + offset), __ATOMIC_RELAXED);
	return total;
}

#define SUM(node, field) sum_stat(node, offsetof(struct worker_stats, field))

/* What sandbox_tc dropped on the sandboxes' veths, by reason (its own reasons only). */
static void sandbox_net_metrics(struct node *node, struct buf *b)
{
	uint64_t drops[XW_DROP__MAX] = { 0 };

	if (sandbox_net_drops(node->cfg.pin_dir, drops))
		return;
	prom_family(b, "xwhisk_sandbox_net_drops_total", "counter",
		    "Packets from sandboxes that sandbox_tc dropped, by reason.");
	for (unsigned r = XW_DROP_MALFORMED; r <= XW_DROP_SANDBOX_PROTO; r++)
		if (r == XW_DROP_MALFORMED || r >= XW_DROP_SANDBOX_HOST)
			buf_printf(b, "xwhisk_sandbox_net_drops_total{reason=\"%s\"} %llu\n",
				   xw_drop_reason_name(r), (unsigned long long)drops[r]);
}

/* The response cache (issue 14): what it answered, missed, pushed out and holds. */
static void cache_metrics(struct node *node, struct buf *b)
{
	struct result_cache_stats s;

	if (!node->results)
		return;
	result_cache_stats(node->results, &s);
	prom_value(b, "xwhisk_cache_hits_total", "counter",
		   "Activations answered from the response cache.", s.hits);
	prom_value(b, "xwhisk_cache_misses_total", "counter",
		   "Cache lookups that found no fresh answer.", s.misses);
	prom_value(b, "xwhisk_cache_evictions_total", "counter",
		   "Cached answers pushed out to make room.", s.evictions);
	prom_value(b, "xwhisk_cache_bytes", "gauge", "Memory the cached answers take.", s.bytes);
	prom_value(b, "xwhisk_cache_entries", "gauge", "Answers in the response cache.",
		   s.entries);
}

/* xdp_guard's verdicts on the ingress interface, by reason (its own reasons only). */
static void guard_metrics(struct node *node, struct buf *b)
{
	uint64_t c[XW_DROP__MAX] = { 0 };

	prom_family(b, "xwhisk_guard_attached", "gauge",
		    "1 when xdp_guard guards the ingress, by XDP mode.");
	buf_printf(b, "xwhisk_guard_attached{mode=\"%s\"} %d\n",
		   node->guard ? xw_guard_mode_name(node->guard) : "none", node->guard != NULL);
	if (!node->guard || xw_guard_counters(node->guard, c))
		return;
	prom_value(b, "xwhisk_guard_passed_total", "counter",
		   "Packets xdp_guard let through to the stack.", c[XW_REASON_PASS]);
	prom_family(b, "xwhisk_guard_drops_total", "counter",
		    "Packets xdp_guard dropped on the ingress interface, by reason.");
	for (unsigned r = XW_DROP_MALFORMED; r <= XW_DROP_FRAGMENT; r++)
		buf_printf(b, "xwhisk_guard_drops_total{reason=\"%s\"} %llu\n",
			   xw_drop_reason_name(r), (unsigned long long)c[r]);
}

/* sock_msg_redirect's verdicts on the /run bytes (XWHISK_SOCK_MSG). */
static void sock_msg_metrics(struct node *node, struct buf *b)
{
	static const char *const verdicts[XW_MSG__MAX] = { "redirected", "no_peer" };
	struct xw_msg_stat st[XW_MSG__MAX];

	prom_value(b, "xwhisk_sock_msg_attached", "gauge",
		   "1 when /run bytes to this node's sandboxes go by sk_msg redirect.",
		   node->sock_msg != NULL);
	if (!node->sock_msg)
		return;
	prom_value(b, "xwhisk_sock_msg_add_failures_total", "counter",
		   "Pooled sandbox connections msg_socks refused: their /run bytes keep TCP.",
		   SUM(node, sock_msg_add_failures));
	if (xw_msg_counters(node->sock_msg, st))
		return;
	prom_family(b, "xwhisk_sock_msg_msgs_total", "counter",
		    "Messages sent on sockets in msg_socks, by verdict (no_peer: sent by TCP).");
	for (int v = 0; v < XW_MSG__MAX; v++)
		buf_printf(b, "xwhisk_sock_msg_msgs_total{verdict=\"%s\"} %llu\n", verdicts[v],
			   (unsigned long long)st[v].msgs);
	prom_family(b, "xwhisk_sock_msg_bytes_total", "counter",
		    "Bytes sent on sockets in msg_socks, by verdict.");
	for (int v = 0; v < XW_MSG__MAX; v++)
		buf_printf(b, "xwhisk_sock_msg_bytes_total{verdict=\"%s\"} %llu\n", verdicts[v],
			   (unsigned long long)st[v].bytes);
}

void metrics_http(struct node *node, struct http_request *req)
{
	static const char *const statuses[] = { "success", "application_error", "developer_error",
						"whisk_error" };
	uint64_t warm = 0, starting = 0, queued = 0, buckets[14];
	struct buf b = BUF_INIT;

	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++) {
		uint32_t st = __atomic_load_n(&node->maps->slots[i].state, __ATOMIC_RELAXED);

		warm += st == XW_SLOT_WARM;
		starting += st == XW_SLOT_STARTING;
	}
	for (unsigned i = 0; i < node->nworkers; i++)
		queued += overflow_total(node->workers[i]->waiting);
	prom_value(&b, "xwhisk_invocations_total", "counter", "Activations started on this node.",
		   SUM(node, invocations));
	prom_family(&b, "xwhisk_activations_total", "counter", "Finished activations by status.");
	for (int s = 0; s < 4; s++)
		buf_printf(&b, "xwhisk_activations_total{status=\"%s\"} %llu\n", statuses[s],
			   (unsigned long long)sum_stat(node, offsetof(struct worker_stats, errors) +
								      (size_t)s * sizeof(uint64_t)));
	for (size_t i = 0; i < 14; i++)
		buckets[i] = sum_stat(node, offsetof(struct worker_stats, latency_hist) +
						    i * sizeof(uint64_t));
	prom_histogram(&b, "xwhisk_activation_duration_seconds", "From request to result.",
		       latency_bounds, buckets, 14, (double)SUM(node, latency_sum_us) / 1e6);
	prom_value(&b, "xwhisk_cold_starts_total", "counter",
		   "Activations that waited for a new sandbox.", SUM(node, cold_starts));
	prom_family(&b, "xwhisk_log_segments_total", "counter",
		    "Activations' logs by the way they came: in the /run answer (inband) or cut "
		    "by the manager thread from the sandbox's pipes (pipe).");
	buf_printf(&b, "xwhisk_log_segments_total{path=\"inband\"} %llu\n",
		   (unsigned long long)SUM(node, inband_logs));
	buf_printf(&b, "xwhisk_log_segments_total{path=\"pipe\"} %llu\n",
		   (unsigned long long)pool_pipe_segments(node));
	prom_value(&b, "xwhisk_throttled_total", "counter",
		   "Requests refused by a namespace throttle.", SUM(node, throttled));
	prom_value(&b, "xwhisk_queue_full_total", "counter",
		   "Requests refused because an action's queue was full.", SUM(node, queue_full));
	prom_value(&b, "xwhisk_queue_depth", "gauge", "Activations waiting for a sandbox.", queued);
	prom_value(&b, "xwhisk_warm_sandboxes", "gauge", "Sandboxes ready to serve.", warm);
	prom_value(&b, "xwhisk_starting_sandboxes", "gauge", "Sandboxes being started.", starting);
	prom_value(&b, "xwhisk_records_shipped_total", "counter",
		   "Activation records the controller acknowledged.",
		   shipper_shipped(node->shipper));
	prom_value(&b, "xwhisk_spool_backlog_bytes", "gauge",
		   "Spooled record bytes not yet acknowledged.", shipper_backlog(node->shipper));
	cache_metrics(node, &b);
	sandbox_net_metrics(node, &b);
	stream_metrics(&b);
	guard_metrics(node, &b);
	sock_msg_metrics(node, &b);
	http_resp_send(req, 200, PROM_CONTENT_TYPE, b.data, b.len);
	buf_free(&b);
}
