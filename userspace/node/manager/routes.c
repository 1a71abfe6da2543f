// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <sys/socket.h>

#include "json.h"
#include "log.h"
#include "node/manager/routes.h"
#include "rtnl.h"
#include "sandbox.h"
#include "util.h"

/* Nodes the controller takes (CLUSTER_MAX_NODES there). */
#define ROUTES_MAX_NODES 1024

struct route {
	bool on;
	char node[64];    /* by name: indexes change when the controller restarts */
	uint32_t network; /* host order */
	int prefix;
	in_addr_t gw;     /* network order */
};

struct routes {
	char own_name[64];
	char own_subnet[32];
	struct route table[ROUTES_MAX_NODES];
};

/* Other nodes reach this node's sandboxes through it: the kernel must forward. */
static void enable_forwarding(void)
{
	const char *path = "/proc/sys/net/ipv4/ip_forward";
	char now = '0';
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0 || read(fd, &now, 1) != 1 || now == '1' || pwrite(fd, "1", 1, 0) != 1) {
		if (now != '1')
			pr_warn("routes: cannot turn on %s (%s): other nodes will not reach this "
				"node's sandboxes",
				path, strerror(errno));
	} else {
		pr_info("routes: IPv4 forwarding on (other nodes reach this node's sandboxes)");
	}
	if (fd >= 0)
		close(fd);
}

struct routes *routes_new(const struct node_config *cfg)
{
	struct routes *rt = calloc(1, sizeof(*rt));

	if (!rt)
		return NULL;
	snprintf(rt->own_name, sizeof(rt->own_name), "%s", cfg->name);
	snprintf(rt->own_subnet, sizeof(rt->own_subnet), "%s",
		 cfg->subnet ? cfg->subnet : SANDBOX_DEFAULT_SUBNET);
	if (cfg->subnet_given)
		enable_forwarding();
	return rt;
}

/* An address of this host (another node on the same host): its routes are ours. */
static bool address_is_local(in_addr_t addr)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = addr };
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	bool local;

	if (fd < 0)
		return true;
	local = !bind(fd, (struct sockaddr *)&sa, sizeof(sa)) || errno != EADDRNOTAVAIL;
	close(fd);
	return local;
}

static const char *route_text(const struct route *r, char *buf, size_t len)
{
	struct in_addr net = { .s_addr = htonl(r->network) }, gw = { .s_addr = r->gw };
	char a[INET_ADDRSTRLEN], g[INET_ADDRSTRLEN];

	inet_ntop(AF_INET, &net, a, sizeof(a));
	inet_ntop(AF_INET, &gw, g, sizeof(g));
	snprintf(buf, len, "%s/%d via %s", a, r->prefix, g);
	return buf;
}

/* node's entry, else a free one (NULL when the table is full). */
static struct route *route_of(struct routes *rt, const char *node)
{
	struct route *free_entry = NULL;

	for (unsigned i = 0; i < ROUTES_MAX_NODES; i++) {
		struct route *r = &rt->table[i];

		if (r->on && !strcmp(r->node, node))
			return r;
		if (!r->on && !free_entry)
			free_entry = r;
	}
	return free_entry;
}

static void route_remove(struct route *r)
{
	struct rtnl nl;
	char text[64];
	int err;

	if (!r->on)
		return;
	r->on = false;
	if (rtnl_open(&nl))
		return;
	err = rtnl_route_del(&nl, htonl(r->network), r->prefix, r->gw, ROUTES_PROTOCOL);
	rtnl_close(&nl);
	if (err && err != -ESRCH)
		pr_warn("routes: cannot remove %s: %s", route_text(r, text, sizeof(text)),
			strerror(-err));
	else
		pr_info("routes: removed %s (node %s)", route_text(r, text, sizeof(text)), r->node);
}

/* Adds r; one of ours to the same place (an earlier run's, another gateway) gives way. */
static int route_install(const struct route *r)
{
	struct rtnl nl;
	int err = rtnl_open(&nl);

	if (err)
		return err;
	err = rtnl_route_add(&nl, htonl(r->network), r->prefix, r->gw, ROUTES_PROTOCOL);
	if (err == -EEXIST &&
	    !rtnl_route_del(&nl, htonl(r->network), r->prefix, 0, ROUTES_PROTOCOL))
		err = rtnl_route_add(&nl, htonl(r->network), r->prefix, r->gw, ROUTES_PROTOCOL);
	rtnl_close(&nl);
	return err;
}

/* What route node idx's announcement asks for; false when none (ours, overlapping, on
 * this host, not IPv4). */
static bool wanted_route(struct routes *rt, const char *name, const char *address,
			 const char *subnet, struct route *out)
{
	char host[INET_ADDRSTRLEN];
	const char *colon = address ? strrchr(address, ':') : NULL;

	if (!name || !strcmp(name, rt->own_name) || !subnet || !*subnet || !colon ||
	    (size_t)(colon - address) >= sizeof(host) || cidr_overlap(subnet, rt->own_subnet) ||
	    cidr_parse(subnet, &out->network, &out->prefix))
		return false;
	snprintf(host, sizeof(host), "%.*s", (int)(colon - address), address);
	if (inet_pton(AF_INET, host, &out->gw) != 1 || address_is_local(out->gw))
		return false;
	out->on = true;
	return true;
}

static void node_joined(struct routes *rt, const char *name, const char *address,
			const char *subnet)
{
	struct route want = { 0 }, *have = name ? route_of(rt, name) : NULL;
	char text[64];
	int err;

	if (!have)
		return;
	if (!wanted_route(rt, name, address, subnet, &want)) {
		route_remove(have);
		return;
	}
	if (have->on && have->network == want.network && have->prefix == want.prefix &&
	    have->gw == want.gw)
		return;
	route_remove(have);
	snprintf(want.node, sizeof(want.node), "%s", name);
	err = route_install(&want);
	if (err) {
		pr_warn("routes: cannot add %s for node %s: %s (is it on this node's network?)",
			route_text(&want, text, sizeof(text)), name, strerror(-err));
		return;
	}
	*have = want;
	pr_info("routes: %s (node %s)", route_text(&want, text, sizeof(text)), name);
}

static void node_gone(struct routes *rt, const char *name)
{
	struct route *r = name ? route_of(rt, name) : NULL;

	if (r && r->on)
		route_remove(r);
}

void routes_node_event(struct routes *rt, const json_t *ev)
{
	const char *op = json_obj_str(ev, "op");

	if (!rt || !op)
		return;
	if (!strcmp(op, "join"))
		node_joined(rt, json_obj_str(ev, "name"), json_obj_str(ev, "address"),
			    json_obj_str(ev, "subnet"));
	else if (!strcmp(op, "lost"))
		node_gone(rt, json_obj_str(ev, "name"));
}

/* Not "exactly the listed nodes": a restarted controller lists only the nodes that have
 * registered again so far, and the data plane must not lose the others meanwhile. */
void routes_sync(struct routes *rt, const json_t *nodes)
{
	size_t i;
	json_t *n;

	if (!rt || !json_is_array(nodes))
		return;
	json_array_foreach(nodes, i, n) {
		if (json_is_true(json_object_get(n, "lost")))
			node_gone(rt, json_obj_str(n, "name"));
		else
			node_joined(rt, json_obj_str(n, "name"), json_obj_str(n, "address"),
				    json_obj_str(n, "subnet"));
	}
}

unsigned routes_count(const struct routes *rt)
{
	unsigned n = 0;

	for (unsigned i = 0; rt && i < ROUTES_MAX_NODES; i++)
		n += rt->table[i].on;
	return n;
}

void routes_free(struct routes *rt, bool remove)
{
	if (!rt)
		return;
	for (unsigned i = 0; remove && i < ROUTES_MAX_NODES; i++)
		if (rt->table[i].on)
			route_remove(&rt->table[i]);
	free(rt);
}
