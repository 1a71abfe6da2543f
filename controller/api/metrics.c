// SPDX-License-Identifier: Apache-2.0
/* GET /metrics on the controller: Prometheus text. */
#include <stdio.h>

#include "api.h"
#include "buf.h"
#include "controller.h"
#include "cluster.h"
#include "events.h"
#include "prom.h"

void api_metrics(struct api_req *r)
{
	static const char *const bounds[] = { "0.0005", "0.001", "0.002", "0.005",
					      "0.01",	"0.025", "0.05",  "0.1",
					      "0.25",	"0.5",	 "1",	  "+Inf" };
	const struct controller_stats *st = &r->ctl->stats;
	struct cluster *c = r->ctl->cluster;
	uint64_t total, largest, live = 0;
	struct buf b = BUF_INIT;

	prom_family(&b, "xwhisk_controller_requests_total", "counter",
		    "API requests answered, by status class.");
	for (int i = 1; i <= 5; i++)
		buf_printf(&b, "xwhisk_controller_requests_total{code=\"%dxx\"} %llu\n", i,
			   (unsigned long long)st->requests[i]);
	prom_histogram(&b, "xwhisk_controller_request_duration_seconds", "Time to answer.", bounds,
		       st->latency_hist, 12, (double)st->latency_sum_us / 1e6);
	prom_value(&b, "xwhisk_controller_activations_stored_total", "counter",
		   "Activation records stored from nodes.", st->activations_stored);
	prom_value(&b, "xwhisk_controller_activations_rejected_total", "counter",
		   "Malformed records refused.", st->activations_rejected);
	prom_value(&b, "xwhisk_controller_event_version", "gauge", "The newest event's version.",
		   event_log_version(r->ctl->events));
	prom_value(&b, "xwhisk_controller_event_watchers", "gauge",
		   "Nodes watching the event stream.", event_log_watchers(r->ctl->events));
	cluster_free_memory(c, &total, &largest);
	for (unsigned i = 1; i <= CLUSTER_MAX_NODES; i++)
		live += c->nodes[i] && !c->nodes[i]->lost;
	prom_value(&b, "xwhisk_cluster_leader", "gauge",
		   "1: this controller runs the allocator and the GC; 0: on standby.", !c->standby);
	prom_value(&b, "xwhisk_cluster_nodes", "gauge", "Nodes alive.", live);
	prom_value(&b, "xwhisk_cluster_sandboxes", "gauge", "Sandboxes in the global pool.",
		   c->nsandboxes);
	prom_value(&b, "xwhisk_cluster_free_memory_mb", "gauge", "Free memory over live nodes.",
		   total);
	prom_family(&b, "xwhisk_cluster_fragmentation", "gauge",
		    "1 - largest free block / total free memory (0: all free memory on one node).");
	buf_printf(&b, "xwhisk_cluster_fragmentation %.4f\n", cluster_fragmentation(c));
	prom_value(&b, "xwhisk_cluster_placements_total", "counter", "Sandboxes placed.",
		   c->placements);
	prom_value(&b, "xwhisk_cluster_placement_failures_total", "counter",
		   "Requests no node had room for.", c->placement_failures);
	prom_family(&b, "xwhisk_cluster_gc_total", "counter", "Sandboxes marked and swept.");
	buf_printf(&b, "xwhisk_cluster_gc_total{phase=\"mark\"} %llu\n",
		   (unsigned long long)c->marked);
	buf_printf(&b, "xwhisk_cluster_gc_total{phase=\"sweep\"} %llu\n",
		   (unsigned long long)c->swept);
	prom_value(&b, "xwhisk_cluster_nodes_lost_total", "counter", "Nodes declared lost.",
		   c->lost_nodes);
	api_reply_raw(r, 200, PROM_CONTENT_TYPE, b.data, b.len);
	buf_free(&b);
}
