// SPDX-License-Identifier: Apache-2.0
/* The pinned maps: creation, memory mapping, re-adoption across a "restart", BTF names in
 * bpftool's dump, and cleanup. Needs root and a kernel with BPF. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "pinned_maps.h"
#include "xwhisk/sock_accel.h"
#include "../unit/test.h"

static char pin_dir[128];

static void test_create_and_map(void)
{
	struct xw_maps *m = NULL;
	struct xw_slot got;
	__u32 key = 7;

	ASSERT(xw_maps_open(pin_dir, &m) == 0);
	CHECK(!m->adopted);
	/* A write through the mapping is what the kernel (and bpftool) see. */
	m->slots[7].state = XW_SLOT_WARM;
	m->slots[7].action_id = 0x1122334455667788ull;
	m->slots[7].concurrency = 3;
	__atomic_fetch_add(&m->slots[7].inflight, 2, __ATOMIC_ACQ_REL);
	CHECK(bpf_map_lookup_elem(m->slots_fd, &key, &got) == 0);
	CHECK(got.state == XW_SLOT_WARM && got.inflight == 2 && got.concurrency == 3);
	m->namespaces[1].invocations_per_minute = 60;
	{
		__u64 id = 0x1122334455667788ull;
		struct xw_action a = { .revision = 4, .ns_idx = 1, .concurrency = 3 };
		struct xw_warm w = { .count = 1, .slot = { 7 } };

		CHECK(bpf_map_update_elem(m->actions_fd, &id, &a, BPF_ANY) == 0);
		CHECK(bpf_map_update_elem(m->warm_fd, &id, &w, BPF_ANY) == 0);
	}
	xw_maps_close(m);
}

static void test_readopt_keeps_state(void)
{
	struct xw_maps *m = NULL;
	__u64 id = 0x1122334455667788ull;
	struct xw_action a;

	ASSERT(xw_maps_open(pin_dir, &m) == 0);
	CHECK(m->adopted);
	CHECK(m->slots[7].state == XW_SLOT_WARM && m->slots[7].inflight == 2);
	CHECK(m->namespaces[1].invocations_per_minute == 60);
	CHECK(bpf_map_lookup_elem(m->actions_fd, &id, &a) == 0 && a.revision == 4);
	xw_maps_close(m);
}

/* Pins a map made as an older build made it, in place of whatever is pinned there. */
static int pin_old(enum bpf_map_type type, const char *name, __u32 key, __u32 value,
		   __u32 entries)
{
	char path[200];
	int fd = bpf_map_create(type, name, key, value, entries, NULL), err;

	if (fd < 0)
		return -errno;
	snprintf(path, sizeof(path), "%s/%s", pin_dir, name);
	(void)unlink(path);
	err = bpf_obj_pin(fd, path) < 0 ? -errno : 0;
	close(fd);
	return err;
}

/* Socket maps pinned by an older build (accel_peers with a 16-byte value, msg_socks for
 * 8,192 sockets) are replaced at start, not refused: they hold only live connections, and
 * the node would not start over them. The routing state beside them is kept. */
static void test_old_socket_map_pins_replaced(void)
{
	struct xw_maps *m = NULL;

	CHECK(pin_old(BPF_MAP_TYPE_HASH, XW_MAP_ACCEL_PEERS, 8, 16, 64) == 0);
	CHECK(pin_old(BPF_MAP_TYPE_SOCKHASH, XW_MAP_MSG_SOCKS, 12, 8, 8192) == 0);
	ASSERT(xw_maps_open(pin_dir, &m) == 0);
	CHECK(m->adopted && m->slots[7].state == XW_SLOT_WARM);
	xw_maps_close(m);
}

static void test_bpftool_dump_has_names(void)
{
	char cmd[256];
	const char *out;

	snprintf(cmd, sizeof(cmd), "bpftool map dump pinned %s/slots 2>&1 | head -c 60000", pin_dir);
	out = test_run_cmd(cmd);
	ASSERT(out);
	CHECK(strstr(out, "\"inflight\": 2") != NULL);
	CHECK(strstr(out, "\"action_id\"") != NULL);
	snprintf(cmd, sizeof(cmd), "bpftool map dump pinned %s/actions 2>&1", pin_dir);
	out = test_run_cmd(cmd);
	CHECK(out && strstr(out, "\"concurrency\": 3") != NULL);
	snprintf(cmd, sizeof(cmd), "bpftool map dump pinned %s/namespaces 2>&1 | head -c 4000",
		 pin_dir);
	out = test_run_cmd(cmd);
	CHECK(out && strstr(out, "\"invocations_per_minute\"") != NULL);
}

static void test_unpin(void)
{
	char path[200];

	CHECK(xw_maps_unpin(pin_dir) == 0);
	snprintf(path, sizeof(path), "%s/slots", pin_dir);
	CHECK(access(path, F_OK) < 0 && errno == ENOENT);
	CHECK(access(pin_dir, F_OK) < 0);
}

int main(void)
{
	if (geteuid() != 0) {
		printf("not ok - the BPF tests need root\n");
		return 1;
	}
	xw_bpf_setup_logging();
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/xwhisk-test-%d", getpid());
	RUN(test_create_and_map);
	RUN(test_readopt_keeps_state);
	RUN(test_old_socket_map_pins_replaced);
	RUN(test_bpftool_dump_has_names);
	RUN(test_unpin);
	(void)xw_maps_unpin(pin_dir);
	TEST_EXIT();
}
