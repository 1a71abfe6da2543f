// SPDX-License-Identifier: Apache-2.0
/* GET /metrics on the controller: Prometheus text. */
#include <stdio.h>

#include "api.h"
#include "buf.h"
#include "controller.h"
#include "cluster.h"
#include "events.h"

void api_metrics(struct api_req *r)
{
	static const char *const bounds[] = { "0.0005", "0.001", "0.002", "0.005",
					      "0.01",	"0.025", "0.05",  "0.1",
					      "0.25",	"0.5",	 "1",	  "+Inf" };
	const struct controller_stats *st = &r->ctl->stats;
	struct buf b = BUF_INIT;
	uint64_t cumulative = 0;

	buf_puts(&b, "# HELP xwhisk_controller_requests_total API requests answered, by status "
		     "class.\n# TYPE xwhisk_controller_requests_total counter\n");
	for (int c = 1; c <= 5; c++)
		buf_printf(&b, "xwhisk_controller_requests_total{code=\"%dxx\"} %llu\n", c,
			   (unsigned long long)st->requests[c]);
	buf_puts(&b, "# HELP xwhisk_controller_request_duration_seconds Time to answer.\n"
		     "# TYPE xwhisk_controller_request_duration_seconds histogram\n");
	for (int i = 0; i < 12; i++) {
		cumulative += st->latency_hist[i];
		buf_printf(&b, "xwhisk_controller_request_duration_seconds_bucket{le=\"%s\"} %llu\n",
			   bounds[i], (unsigned long long)cumulative);
	}
	buf_printf(&b, "xwhisk_controller_request_duration_seconds_sum %.6f\n",
		   (double)st->latency_sum_us / 1e6);
	buf_printf(&b, "xwhisk_controller_request_duration_seconds_count %llu\n",
		   (unsigned long long)cumulative);
	buf_puts(&b, "# HELP xwhisk_controller_activations_stored_total Activation records stored "
		     "from nodes.\n# TYPE xwhisk_controller_activations_stored_total counter\n");
	buf_printf(&b, "xwhisk_controller_activations_stored_total %llu\n",
		   (unsigned long long)st->activations_stored);
	buf_puts(&b, "# HELP xwhisk_controller_activations_rejected_total Malformed records "
		     "refused.\n# TYPE xwhisk_controller_activations_rejected_total counter\n");
	buf_printf(&b, "xwhisk_controller_activations_rejected_total %llu\n",
		   (unsigned long long)st->activations_rejected);
	buf_puts(&b, "# HELP xwhisk_controller_event_version The newest event's version.\n"
		     "# TYPE xwhisk_controller_event_version gauge\n");
	buf_printf(&b, "xwhisk_controller_event_version %llu\n",
		   (unsigned long long)event_log_version(r->ctl->events));
	buf_puts(&b, "# HELP xwhisk_controller_event_watchers Nodes watching the event stream.\n"
		     "# TYPE xwhisk_controller_event_watchers gauge\n");
	buf_printf(&b, "xwhisk_controller_event_watchers %zu\n",
		   event_log_watchers(r->ctl->events));
	{
		struct cluster *c = r->ctl->cluster;
		uint64_t total, largest, live = 0;

		cluster_free_memory(c, &total, &largest);
		for (unsigned i = 1; i <= CLUSTER_MAX_NODES; i++)
			live += c->nodes[i] && !c->nodes[i]->lost;
		buf_puts(&b, "# HELP xwhisk_cluster_nodes Nodes alive.\n"
			     "# TYPE xwhisk_cluster_nodes gauge\n");
		buf_printf(&b, "xwhisk_cluster_nodes %llu\n", (unsigned long long)live);
		buf_puts(&b, "# HELP xwhisk_cluster_sandboxes Sandboxes in the global pool.\n"
			     "# TYPE xwhisk_cluster_sandboxes gauge\n");
		buf_printf(&b, "xwhisk_cluster_sandboxes %zu\n", c->nsandboxes);
		buf_puts(&b, "# HELP xwhisk_cluster_free_memory_mb Free memory over live nodes.\n"
			     "# TYPE xwhisk_cluster_free_memory_mb gauge\n");
		buf_printf(&b, "xwhisk_cluster_free_memory_mb %llu\n", (unsigned long long)total);
		buf_puts(&b, "# HELP xwhisk_cluster_fragmentation 1 - largest free block / total "
			     "free memory (0: all free memory on one node).\n"
			     "# TYPE xwhisk_cluster_fragmentation gauge\n");
		buf_printf(&b, "xwhisk_cluster_fragmentation %.4f\n", cluster_fragmentation(c));
		buf_puts(&b, "# HELP xwhisk_cluster_placements_total Sandboxes placed.\n"
			     "# TYPE xwhisk_cluster_placements_total counter\n");
		buf_printf(&b, "xwhisk_cluster_placements_total %llu\n",
			   (unsigned long long)c->placements);
		buf_puts(&b, "# HELP xwhisk_cluster_placement_failures_total Requests no node had "
			     "room for.\n# TYPE xwhisk_cluster_placement_failures_total counter\n");
		buf_printf(&b, "xwhisk_cluster_placement_failures_total %llu\n",
			   (unsigned long long)c->placement_failures);
		buf_puts(&b, "# HELP xwhisk_cluster_gc_total Sandboxes marked and swept.\n"
			     "# TYPE xwhisk_cluster_gc_total counter\n");
		buf_printf(&b, "xwhisk_cluster_gc_total{phase=\"mark\"} %llu\n",
			   (unsigned long long)c->marked);
		buf_printf(&b, "xwhisk_cluster_gc_total{phase=\"sweep\"} %llu\n",
			   (unsigned long long)c->swept);
		buf_puts(&b, "# HELP xwhisk_cluster_nodes_lost_total Nodes declared lost.\n"
			     "# TYPE xwhisk_cluster_nodes_lost_total counter\n");
		buf_printf(&b, "xwhisk_cluster_nodes_lost_total %llu\n",
			   (unsigned long long)c->lost_nodes);
	}
	api_reply_raw(r, 200, "text/plain; version=0.0.4", b.data, b.len);
	buf_free(&b);
}
