// SPDX-License-Identifier: Apache-2.0
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "metrics.h"
#include "node.h"
#include "pool.h"
#include "spool.h"
#include "worker.h"

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

void metrics_http(struct node *node, struct http_request *req)
{
	static const char *const statuses[] = { "success", "application_error", "developer_error",
						"whisk_error" };
	struct buf b = BUF_INIT;
	uint64_t cumulative = 0, warm = 0, starting = 0;

	for (uint32_t i = 0; i < XW_MAX_SLOTS; i++) {
		uint32_t st = __atomic_load_n(&node->maps->slots[i].state, __ATOMIC_RELAXED);

		warm += st == XW_SLOT_WARM;
		starting += st == XW_SLOT_STARTING;
	}
	buf_puts(&b, "# HELP xwhisk_invocations_total Activations started on this node.\n"
		     "# TYPE xwhisk_invocations_total counter\n");
	buf_printf(&b, "xwhisk_invocations_total %llu\n",
		   (unsigned long long)SUM(node, invocations));
	buf_puts(&b, "# HELP xwhisk_activations_total Finished activations by status.\n"
		     "# TYPE xwhisk_activations_total counter\n");
	for (int s = 0; s < 4; s++)
		buf_printf(&b, "xwhisk_activations_total{status=\"%s\"} %llu\n", statuses[s],
			   (unsigned long long)sum_stat(node, offsetof(struct worker_stats, errors) +
								      (size_t)s * sizeof(uint64_t)));
	buf_puts(&b, "# HELP xwhisk_activation_duration_seconds From request to result.\n"
		     "# TYPE xwhisk_activation_duration_seconds histogram\n");
	for (int i = 0; i < 14; i++) {
		cumulative += sum_stat(node, offsetof(struct worker_stats, latency_hist) +
						     (size_t)i * sizeof(uint64_t));
		buf_printf(&b, "xwhisk_activation_duration_seconds_bucket{le=\"%s\"} %llu\n",
			   latency_bounds[i], (unsigned long long)cumulative);
	}
	buf_printf(&b, "xwhisk_activation_duration_seconds_sum %.6f\n",
		   (double)SUM(node, latency_sum_us) / 1e6);
	buf_printf(&b, "xwhisk_activation_duration_seconds_count %llu\n",
		   (unsigned long long)cumulative);
	buf_puts(&b, "# HELP xwhisk_cold_starts_total Activations that waited for a new sandbox.\n"
		     "# TYPE xwhisk_cold_starts_total counter\n");
	buf_printf(&b, "xwhisk_cold_starts_total %llu\n", (unsigned long long)SUM(node, cold_starts));
	buf_puts(&b, "# HELP xwhisk_throttled_total Requests refused by a namespace throttle.\n"
		     "# TYPE xwhisk_throttled_total counter\n");
	buf_printf(&b, "xwhisk_throttled_total %llu\n", (unsigned long long)SUM(node, throttled));
	buf_puts(&b, "# HELP xwhisk_queue_full_total Requests refused because an action's queue "
		     "was full.\n# TYPE xwhisk_queue_full_total counter\n");
	buf_printf(&b, "xwhisk_queue_full_total %llu\n", (unsigned long long)SUM(node, queue_full));
	buf_puts(&b, "# HELP xwhisk_queue_depth Activations waiting for a sandbox.\n"
		     "# TYPE xwhisk_queue_depth gauge\n");
	buf_printf(&b, "xwhisk_queue_depth %llu\n", (unsigned long long)SUM(node, queued));
	buf_puts(&b, "# HELP xwhisk_warm_sandboxes Sandboxes ready to serve.\n"
		     "# TYPE xwhisk_warm_sandboxes gauge\n");
	buf_printf(&b, "xwhisk_warm_sandboxes %llu\n", (unsigned long long)warm);
	buf_puts(&b, "# HELP xwhisk_starting_sandboxes Sandboxes being started.\n"
		     "# TYPE xwhisk_starting_sandboxes gauge\n");
	buf_printf(&b, "xwhisk_starting_sandboxes %llu\n", (unsigned long long)starting);
	buf_puts(&b, "# HELP xwhisk_records_shipped_total Activation records the controller "
		     "acknowledged.\n# TYPE xwhisk_records_shipped_total counter\n");
	buf_printf(&b, "xwhisk_records_shipped_total %llu\n",
		   (unsigned long long)shipper_shipped(node->shipper));
	buf_puts(&b, "# HELP xwhisk_spool_backlog_bytes Spooled record bytes not yet "
		     "acknowledged.\n# TYPE xwhisk_spool_backlog_bytes gauge\n");
	buf_printf(&b, "xwhisk_spool_backlog_bytes %llu\n",
		   (unsigned long long)shipper_backlog(node->shipper));
	http_resp_send(req, 200, "text/plain; version=0.0.4", b.data, b.len);
	buf_free(&b);
}
