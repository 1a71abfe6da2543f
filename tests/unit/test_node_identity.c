// SPDX-License-Identifier: Apache-2.0
/* Who calls: the "auth" map, and a worker's copy of it that spares the digest and the system
 * call on a warm request but never outlives the map's entry or its namespace's index. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "digest.h"
#include "node/ingress/identity.h"
#include "node/ingress/ns_table.h"
#include "util.h"
#include "test.h"

static struct node node;
static char dir[] = "/tmp/xwhisk-identity-XXXXXX";
static char pin_dir[128];
/* "Basic " + base64("u1:k1") */
static const char *authz = "Basic dTE6azE=";

static int put_auth(const char *cred, uint32_t idx, uint64_t expires_ns)
{
	struct xw_auth_key key;
	struct xw_auth val = { .ns_idx = idx, .expires_ns = expires_ns };

	if (sha256_digest(cred, strlen(cred), key.digest))
		return -EIO;
	return bpf_map_update_elem(node.maps->auth_fd, &key, &val, BPF_ANY) ? -errno : 0;
}

static void test_lookup_and_cache(void)
{
	struct identity_cache *c = identity_cache_new();
	struct identity id;
	uint32_t idx;

	ASSERT(c);
	ASSERT(ns_table_index(node.ns, "alice", &idx) == 0);
	CHECK(identity_lookup(&node, c, authz, &id) == -EAGAIN); /* unknown: ask */
	CHECK(identity_lookup(&node, c, "Bearer x", &id) == -EINVAL);
	ASSERT(put_auth("u1:k1", idx, clock_mono_us() * 1000 + 60000000000ull) == 0);
	ASSERT(identity_lookup(&node, c, authz, &id) == 0);
	CHECK_STR(id.ns, "alice");
	CHECK_STR(id.credential, "u1:k1");
	CHECK(id.ns_idx == idx);
	/* The map entry goes (behind the copy's back): the worker's copy still knows ... */
	ASSERT(put_auth("u1:k1", idx, 1) == 0);
	CHECK(identity_lookup(&node, NULL, authz, &id) == -EAGAIN);
	CHECK(identity_lookup(&node, c, authz, &id) == 0);
	/* ... until the namespace's index is given to another namespace. */
	__atomic_add_fetch(&node.maps->namespaces[idx].generation, 1, __ATOMIC_RELAXED);
	CHECK(identity_lookup(&node, c, authz, &id) == -EAGAIN);
	identity_cache_free(c);
}

static void test_copy_expires_with_the_entry(void)
{
	struct identity_cache *c = identity_cache_new();
	struct identity id;
	uint32_t idx;

	ASSERT(c);
	ASSERT(ns_table_index(node.ns, "bob", &idx) == 0);
	/* "Basic " + base64("u2:k2") */
	ASSERT(put_auth("u2:k2", idx, clock_mono_us() * 1000 + 20000000ull) == 0); /* 20 ms */
	ASSERT(identity_lookup(&node, c, "Basic dTI6azI=", &id) == 0);
	CHECK_STR(id.ns, "bob");
	usleep(30000);
	CHECK(identity_lookup(&node, c, "Basic dTI6azI=", &id) == -EAGAIN);
	identity_cache_free(c);
}

int main(void)
{
	char path[256];

	if (geteuid() != 0) {
		printf("ok - test_node_identity # skipped: needs root for BPF maps\n");
		return 0;
	}
	snprintf(pin_dir, sizeof(pin_dir), "/sys/fs/bpf/xwhisk-test-identity-%d", getpid());
	if (!mkdtemp(dir) || xw_maps_open(pin_dir, &node.maps)) {
		printf("not ok - setup\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/namespaces", dir);
	if (ns_table_open(path, &node.ns)) {
		printf("not ok - setup: ns_table\n");
		return 1;
	}
	RUN(test_lookup_and_cache);
	RUN(test_copy_expires_with_the_entry);
	ns_table_free(node.ns);
	xw_maps_close(node.maps);
	xw_maps_unpin(pin_dir);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	if (system(path))
		fprintf(stderr, "cannot remove %s\n", dir);
	TEST_EXIT();
}
