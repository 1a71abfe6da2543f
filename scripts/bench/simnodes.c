// SPDX-License-Identifier: Apache-2.0
/*
 * Simulated nodes for the control-plane benchmark: N light nodes in one process that
 * speak the node protocol (register, heartbeat, watch the event stream, report their
 * allocations warm) without real sandboxes. Each applies every sandbox event to a BPF
 * map of its own, as a real node does, and records how long after publication that
 * happened. A load generator asks for S sandboxes with C requests in flight.
 *
 *   simnodes HOST PORT TOKEN NODES SANDBOXES CONCURRENCY [RATE]
 * RATE paces the requests (allocations per second; 0 or absent: as fast as they go).
 * Prints one JSON line: placements per second, event-to-map latency percentiles.
 * For the pod backend (scripts/bench/pods.sh): SIM_SUBJECT, SIM_DOCID and SIM_MEMORY_MB
 * name what is allocated (bench, bench/a, 128); SIM_SETTLE_MS is how long warm events
 * may still come after the last placement (1000); SIM_APPLIED_FILE gets a line
 * "<sandbox id> <epoch us>" when the last node applied a sandbox's warm event.
 *
 * Every node gets the same bytes for an event, so the simulator parses each event once
 * and then does, per node, what a node's apply costs on top: the map write.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "buf.h"
#include "node/ctlclient.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "loop.h"
#include "util.h"

#define MAX_NODES 512
#define LAT_BUCKETS 200000 /* 10 us buckets up to 2 s */

struct simnode {
	int idx;
	char name[32];
	int map_fd;
	struct http_call *watch;
	struct buf line;
	uint64_t applied;
};

static struct loop *loop;
static struct ctlclient *cc;
static struct http_pool *pool;
static char token[128], headers[256];
static struct simnode nodes[MAX_NODES];
static int nnodes, registered, watching;
static unsigned target, concurrency, in_flight, placed, failed, warm_reported;
static uint64_t t_first_us, t_last_us;
static uint64_t *lat_hist, lat_count, lat_max;
static unsigned rate;
static const char *subject = "bench", *docid = "bench/a";
static unsigned memory_mb = 128;
static FILE *applied_file;
static json_t *applied_by; /* sandbox id -> nodes that applied its warm event */

/* The last node applied a warm event: when, for pods.sh's event -> every map figure. */
static void note_applied(const char *id)
{
	json_int_t n = json_integer_value(json_object_get(applied_by, id)) + 1;

	json_object_set_new(applied_by, id, json_integer(n));
	if (n == nnodes)
		fprintf(applied_file, "%s %llu\n", id, (unsigned long long)clock_real_us());
}

#define PARSED_RING 8192
static struct {
	uint64_t version;
	json_t *ev;
} parsed[PARSED_RING];

/* The event of a line, parsed once for all nodes. */
static json_t *event_of(const char *line, size_t len)
{
	uint64_t v = 0;
	const char *p = strstr(line, "\"version\":");
	json_t *ev;

	if (p && (size_t)(p - line) < len)
		v = strtoull(p + 10, NULL, 10);
	if (v && parsed[v % PARSED_RING].version == v)
		return json_incref(parsed[v % PARSED_RING].ev);
	ev = json_loadb(line, len, 0, NULL);
	if (ev && v) {
		json_decref(parsed[v % PARSED_RING].ev);
		parsed[v % PARSED_RING].version = v;
		parsed[v % PARSED_RING].ev = json_incref(ev);
	}
	return ev;
}

static void record_latency(uint64_t us)
{
	uint64_t b = us / 10;

	lat_hist[b < LAT_BUCKETS ? b : LAT_BUCKETS - 1]++;
	lat_count++;
	if (us > lat_max)
		lat_max = us;
}

static uint64_t percentile(double q)
{
	uint64_t want = (uint64_t)(q * (double)lat_count), seen = 0;

	for (uint64_t b = 0; b < LAT_BUCKETS; b++) {
		seen += lat_hist[b];
		if (seen > want)
			return b * 10 + 5;
	}
	return lat_max;
}

static void on_reported(int status, json_t *body, void *data)
{
	if (status == 200)
		warm_reported++;
}

/* An event reached node n: apply it to its map as a node would, and time it. */
static void apply(struct simnode *n, const json_t *ev)
{
	const char *type = json_obj_str(ev, "type"), *op = json_obj_str(ev, "op");
	json_t *sb = json_object_get(ev, "sandbox");
	const char *id = json_obj_str(sb, "id");
	unsigned char value[64] = { 0 };
	uint64_t key;

	if (!type || strcmp(type, "sandbox") || !op || !id)
		return;
	key = strtoull(id + 16, NULL, 16);
	if (!strcmp(op, "allocate")) {
		if (json_integer_value(json_object_get(sb, "node")) == n->idx) {
			char target_path[96];
			json_t *body = json_pack("{s:s,s:s,s:s,s:i}", "node", n->name, "state", "warm",
						 "addr", "10.200.0.1", "port", 8080);

			snprintf(target_path, sizeof(target_path), "/internal/v1/sandboxes/%s", id);
			(void)ctlclient_call(cc, "POST", target_path, body, 0, on_reported, NULL);
			json_decref(body);
		}
		return;
	}
	if (!strcmp(op, "warm")) {
		memcpy(value, id, 32);
		if (bpf_map_update_elem(n->map_fd, &key, value, BPF_ANY) == 0) {
			n->applied++;
			record_latency(clock_real_us() -
				       (uint64_t)json_integer_value(json_object_get(ev, "ts_us")));
			if (applied_file)
				note_applied(id);
		}
	} else if (!strcmp(op, "remove")) {
		(void)bpf_map_delete_elem(n->map_fd, &key);
	}
}

static void on_stream(const char *data, size_t len, void *arg)
{
	struct simnode *n = arg;
	char *nl;

	buf_append(&n->line, data, len);
	while ((nl = memchr(buf_head(&n->line), '\n', buf_pending(&n->line)))) {
		size_t k = (size_t)(nl - buf_head(&n->line));
		json_t *ev = event_of(buf_head(&n->line), k);

		if (ev && !strcmp(json_obj_str(ev, "type") ?: "", "hello"))
			watching++;
		else if (ev && !strcmp(json_obj_str(ev, "type") ?: "", "resync"))
			watching++;
		else if (ev)
			apply(n, ev);
		json_decref(ev);
		buf_consume(&n->line, k + 1);
	}
}

static void on_stream_end(struct http_response *resp, int err, void *data)
{
	fprintf(stderr, "simnodes: an event stream ended (%d)\n", err);
}

static void place_more(void);
static void place_more_upto(uint64_t due);

static void stop_loop(struct loop *l, void *data)
{
	loop_stop(l);
}

static void on_placed(int status, json_t *body, void *data)
{
	in_flight--;
	if (status == 200) {
		placed++;
		t_last_us = clock_mono_us();
	} else {
		failed++;
	}
	if (placed + failed >= target && !in_flight) {
		loop_stop(loop);
		return;
	}
	place_more();
}

static unsigned asked;

static void paced(struct loop *l, void *data)
{
	uint64_t due = (clock_mono_us() - t_first_us) * rate / 1000000 + 1;

	if (asked < target)
		loop_timer_add(l, 1, paced, NULL);
	place_more_upto(due);
}

static void place_more(void)
{
	if (!rate)
		place_more_upto(UINT64_MAX);
}

static void place_more_upto(uint64_t due)
{
	while (in_flight < concurrency && asked < target && asked < due) {
		char action_id[17];
		json_t *body;

		snprintf(action_id, sizeof(action_id), "%016x", asked);
		body = json_pack("{s:s,s:s,s:s,s:s,s:i,s:i,s:i}", "subject", subject, "docid",
				 docid, "action_id", action_id, "kind", "nodejs:20", "revision", 1,
				 "memory_mb", memory_mb, "concurrency", 1);
		if (ctlclient_call(cc, "POST", "/internal/v1/allocate", body, 10000, on_placed, NULL)) {
			json_decref(body);
			failed++;
			asked++;
			continue;
		}
		json_decref(body);
		in_flight++;
		asked++;
	}
}

static void on_registered(int status, json_t *body, void *data)
{
	struct simnode *n = data;
	char target_path[128];

	if (status != 200) {
		fprintf(stderr, "simnodes: %s: registration refused (%d)\n", n->name, status);
		exit(1);
	}
	n->idx = (int)json_integer_value(json_object_get(body, "index"));
	snprintf(target_path, sizeof(target_path), "/internal/v1/events?epoch=&since=0");
	n->watch = http_pool_stream(pool, "GET", target_path, headers, NULL, 0, 0, on_stream,
				    on_stream_end, n);
	registered++;
}

/* Each node's heartbeat on its own phase, as independent machines would send them. */
static void heartbeat(struct loop *l, void *data)
{
	struct simnode *n = data;
	char target_path[96];
	json_t *body = json_pack("{s:[]}", "sandboxes");

	snprintf(target_path, sizeof(target_path), "/internal/v1/nodes/%s/heartbeat", n->name);
	(void)ctlclient_call(cc, "POST", target_path, body, 0, on_reported, NULL);
	json_decref(body);
	loop_timer_add(l, 2000, heartbeat, n);
}

static void wait_ready(struct loop *l, void *data)
{
	if (watching < nnodes) {
		loop_timer_add(l, 20, wait_ready, NULL);
		return;
	}
	t_first_us = clock_mono_us();
	if (rate)
		paced(l, NULL);
	else
		place_more();
}

int main(int argc, char **argv)
{
	LIBBPF_OPTS(bpf_map_create_opts, mopts, .map_flags = BPF_F_NO_PREALLOC);
	static struct ctl_targets targets;
	char url[300];
	int port;

	if (argc != 7 && argc != 8) {
		fprintf(stderr, "usage: simnodes HOST PORT TOKEN NODES SANDBOXES CONCURRENCY [RATE]\n");
		return 2;
	}
	rate = argc == 8 ? (unsigned)atoi(argv[7]) : 0;
	subject = env_or("SIM_SUBJECT", subject);
	docid = env_or("SIM_DOCID", docid);
	memory_mb = env_unsigned("SIM_MEMORY_MB", memory_mb);
	if (getenv("SIM_APPLIED_FILE")) {
		applied_file = fopen(getenv("SIM_APPLIED_FILE"), "w");
		applied_by = json_object();
		if (!applied_file || !applied_by)
			return 1;
	}
	log_init("simnodes");
	log_set_level(LOG_LEVEL_WARN);
	port = atoi(argv[2]);
	snprintf(token, sizeof(token), "%s", argv[3]);
	snprintf(headers, sizeof(headers), "Authorization: Bearer %s\r\n", token);
	nnodes = atoi(argv[4]);
	target = (unsigned)atoi(argv[5]);
	concurrency = (unsigned)atoi(argv[6]);
	if (nnodes < 1 || nnodes > MAX_NODES || !target || !concurrency)
		return 2;
	lat_hist = calloc(LAT_BUCKETS, sizeof(*lat_hist));
	loop = loop_new();
	snprintf(url, sizeof(url), "%s:%d", argv[1], port);
	cc = ctl_targets_parse(&targets, url) ? NULL : ctlclient_new(loop, &targets, token);
	pool = http_pool_new(loop, argv[1], port, (unsigned)nnodes + 8);
	if (!lat_hist || !loop || !cc || !pool)
		return 1;
	for (int i = 0; i < nnodes; i++) {
		struct simnode *n = &nodes[i];
		json_t *body;

		snprintf(n->name, sizeof(n->name), "sim%d", i + 1);
		n->map_fd = bpf_map_create(BPF_MAP_TYPE_HASH, NULL, 8, 64, 16384, &mopts);
		if (n->map_fd < 0) {
			fprintf(stderr, "simnodes: bpf_map_create: %s\n", strerror(errno));
			return 1;
		}
		body = json_pack("{s:s,s:s,s:i,s:i}", "name", n->name, "address", "10.200.0.1:3233",
				 "memory_mb", 16384, "cpu_milli", 64000);
		(void)ctlclient_call(cc, "POST", "/internal/v1/nodes", body, 0, on_registered, n);
		json_decref(body);
	}
	loop_timer_add(loop, 20, wait_ready, NULL);
	for (int i = 0; i < nnodes; i++)
		loop_timer_add(loop, 2000 * (unsigned)(i + 1) / (unsigned)nnodes, heartbeat, &nodes[i]);
	loop_run(loop);
	{
		double secs = (double)(t_last_us - t_first_us) / 1e6;
		uint64_t expected = (uint64_t)placed * (uint64_t)nnodes;

		/* Let the last events reach everyone. */
		for (unsigned i = 0; i < env_unsigned("SIM_SETTLE_MS", 1000) / 10 && lat_count < expected;
		     i++) {
			loop_timer_add(loop, 10, stop_loop, NULL);
			loop_run(loop);
		}
		printf("{\"nodes\":%d,\"placed\":%u,\"failed\":%u,\"warm_reported\":%u,"
		       "\"placements_per_s\":%.0f,\"events_applied\":%llu,\"events_expected\":%llu,"
		       "\"event_to_map_us\":{\"p50\":%llu,\"p90\":%llu,\"p99\":%llu,\"max\":%llu}}\n",
		       nnodes, placed, failed, warm_reported, secs > 0 ? placed / secs : 0,
		       (unsigned long long)lat_count, (unsigned long long)expected,
		       (unsigned long long)percentile(0.50), (unsigned long long)percentile(0.90),
		       (unsigned long long)percentile(0.99), (unsigned long long)lat_max);
	}
	if (applied_file)
		fclose(applied_file);
	json_decref(applied_by);
	return 0;
}
