// SPDX-License-Identifier: Apache-2.0
/*
 * The sandboxes' network policy: sandbox_tc (bpfload/sandbox_net.c) attached to each
 * sandbox's host-side veth before the sandbox runs anything, kept by re-adopted sandboxes,
 * detached when the sandbox is cleaned up. A start waits at a gate (launch.h): the child
 * reports its veth and waits before exec until the program is attached.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "sandbox_internal.h"
#include "sandbox_net.h"

/* "on"/"off" and their usual spellings; -1 for anything else. */
static int parse_switch(const char *s)
{
	static const char *const on[] = { "on", "1", "true", "yes" };
	static const char *const off[] = { "off", "0", "false", "no", "" };

	for (size_t i = 0; i < sizeof(on) / sizeof(on[0]); i++)
		if (!strcasecmp(s, on[i]))
			return 1;
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]); i++)
		if (!strcasecmp(s, off[i]))
			return 0;
	return -1;
}

/*
 * __OW_API_HOST ("[http[s]://]a.b.c.d[:port]") as an allow entry "a.b.c.d:port" when it
 * names an IPv4 address: actions call the API there. Empty when it does not.
 */
static void api_host_entry(const char *api_host, char *out, size_t size)
{
	const char *h = api_host, *colon;
	unsigned port = 80;
	char addr[16];
	struct in_addr ia;
	size_t len;

	out[0] = '\0';
	if (!h)
		return;
	if (!strncmp(h, "https://", 8))
		h += 8, port = 443;
	else if (!strncmp(h, "http://", 7))
		h += 7;
	len = strcspn(h, ":/");
	if (len >= sizeof(addr))
		return;
	memcpy(addr, h, len);
	addr[len] = '\0';
	if (inet_pton(AF_INET, addr, &ia) != 1)
		return;
	colon = h[len] == ':' ? h + len + 1 : NULL;
	if (colon && (sscanf(colon, "%u", &port) != 1 || !port || port > 65535))
		return;
	snprintf(out, size, "%s:%u", addr, port);
}

/* The allow list: the configured one and the API host's address. malloc'd. */
static char *allow_list(const struct sandbox_config *cfg, const char *api_host)
{
	const char *allow = cfg->net_allow ? cfg->net_allow : getenv("XWHISK_SANDBOX_ALLOW");
	char api[64], *s = NULL;

	api_host_entry(api_host, api, sizeof(api));
	if (asprintf(&s, "%s%s%s", allow ? allow : "", allow && api[0] ? "," : "", api) < 0)
		return NULL;
	return s;
}

static void log_policy(struct sandbox_manager *m, const struct sandbox_net_policy *pol)
{
	char gw[INET_ADDRSTRLEN];
	struct in_addr ia = { .s_addr = pol->gateway };

	inet_ntop(AF_INET, &ia, gw, sizeof(gw));
	pr_info("sandbox: network policy sandbox_tc (%s) on every veth: ingress %s:%u, dns %s, "
		"allowed %s, egress %s", sandbox_net_mode_name(sandbox_net_mode(m->net)), gw,
		pol->ingress_port, pol->dns && pol->dns[0] ? pol->dns : "none",
		pol->allow && pol->allow[0] ? pol->allow : "none", pol->egress ? "on" : "off");
}

/* Every online CPU as an rps_cpus mask: hex, a comma between groups of 32 CPUs. */
static void all_cpus_mask(char *out, size_t size)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	size_t digits = n > 0 ? ((size_t)n + 3) / 4 : 1, len = 0;

	if (digits + digits / 8 + 1 > size)
		digits = (size - 1) * 8 / 9;
	for (size_t d = digits; d > 0; d--) {
		long bits = n - (long)(d - 1) * 4; /* CPUs left for this digit and above */

		out[len++] = "0123456789abcdef"[bits >= 4 ? 15 : (1 << bits) - 1];
		if (d > 1 && (d - 1) % 8 == 0)
			out[len++] = ',';
	}
	out[len] = '\0';
}

/*
 * XWHISK_SANDBOX_RPS: "off" (the default), "on" (every online CPU) or an rps_cpus mask
 * ("0" and "1" read as off and on). RPS on both veth ends lets the second TCP stack of a
 * spliced stream (the veth hop) run on another CPU than the softirq that received the
 * client's bytes; it also steers every /run, which then costs the node more wake-ups
 * (docs/BENCHMARKS.md, "Streaming web actions"), hence off by default.
 */
static int manager_rps_open(struct sandbox_manager *m, const char *want)
{
	int on = want ? parse_switch(want) : 0;

	m->rps_mask[0] = '\0';
	if (on < 0 && (strlen(want) >= sizeof(m->rps_mask) ||
		       strspn(want, "0123456789abcdefABCDEF,") != strlen(want))) {
		pr_err("sandbox: bad XWHISK_SANDBOX_RPS '%s' (on, off or a hex CPU mask)", want);
		return -EINVAL;
	}
	if (on && access("/proc/sys/net/core/rps_default_mask", W_OK)) {
		pr_warn("sandbox: XWHISK_SANDBOX_RPS ignored: this kernel has no "
			"net.core.rps_default_mask (%s)", strerror(errno));
		return 0;
	}
	if (on > 0)
		all_cpus_mask(m->rps_mask, sizeof(m->rps_mask));
	else if (on < 0)
		snprintf(m->rps_mask, sizeof(m->rps_mask), "%s", want);
	if (m->rps_mask[0])
		pr_info("sandbox: RPS on both ends of every veth, CPUs %s", m->rps_mask);
	return 0;
}

int manager_net_open(struct sandbox_manager *m, const struct sandbox_config *cfg)
{
	const char *egress = cfg->net_egress ? cfg->net_egress : getenv("XWHISK_SANDBOX_EGRESS");
	struct sandbox_net_policy pol = {
		.gateway = ipam_gateway(&m->ipam),
		.subnet = htonl(m->ipam.network),
		.prefix = m->ipam.prefix,
		.ingress_port = (uint16_t)cfg->ingress_port,
		.server_port = SANDBOX_PORT,
		.dns = cfg->net_dns ? cfg->net_dns : getenv("XWHISK_SANDBOX_DNS"),
	};
	const char *bad = NULL;
	char *allow;
	int on = egress ? parse_switch(egress) : 0, err;

	err = manager_rps_open(m, getenv("XWHISK_SANDBOX_RPS"));
	if (err)
		return err;
	if (!cfg->bpf_pin_dir) {
		pr_info("sandbox: no network policy (no BPF pin directory): sandboxes reach what "
			"the node serves on the bridge address");
		return 0;
	}
	if (on < 0 || cfg->ingress_port > 65535) {
		pr_err("sandbox: bad network policy: egress '%s', ingress port %u", egress ?: "",
		       cfg->ingress_port);
		return -EINVAL;
	}
	pol.egress = on;
	m->bpf_pin_dir = strdup(cfg->bpf_pin_dir);
	allow = allow_list(cfg, m->api_host);
	if (!m->bpf_pin_dir || !allow) {
		free(allow);
		return -ENOMEM;
	}
	pol.allow = allow;
	err = sandbox_net_open(m->bpf_pin_dir, &pol, &m->net, &bad);
	if (err == -EINVAL && bad) {
		pr_err("sandbox: bad network policy entry '%s' (allow or dns: a.b.c.d[/len][:port])",
		       bad);
	} else if (err) {
		pr_warn("sandbox: sandbox_tc not loaded in %s (%s): sandboxes start without a "
			"network policy", m->bpf_pin_dir, strerror(-err));
		err = 0;
	} else {
		log_policy(m, &pol);
	}
	free(allow);
	return err;
}

void manager_net_close(struct sandbox_manager *m)
{
	sandbox_net_close(m->net);
	m->net = NULL;
	free(m->bpf_pin_dir);
	m->bpf_pin_dir = NULL;
}

static bool keep_live(const char *id, const char *veth, void *data)
{
	struct sandbox_manager *m = data;

	for (struct sandbox *sb = m->all; sb; sb = sb->next) {
		if (sb->phase == SB_DYING)
			continue;
		if ((id && !strcmp(sb->st.id, id)) || (veth && !strcmp(sb->st.veth, veth)))
			return true;
	}
	return false;
}

void manager_net_prune(struct sandbox_manager *m)
{
	if (m->net)
		sandbox_net_prune(m->net, keep_live, m);
}

int sb_net_gate_open(struct sandbox *sb, int *child_fd, int *peer_fd)
{
	int p[2];

	*child_fd = *peer_fd = -1;
	if (!sb->m->net)
		return 0;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	*child_fd = p[0];
	*peer_fd = p[1];
	sb->net_gate_fd = p[1];
	return 0;
}

void sb_net_attach(struct sandbox *sb, int ifindex)
{
	struct sandbox_manager *m = sb->m;
	int err = -ENODEV;

	sb->ifindex = ifindex;
	if (m->net && ifindex > 0)
		err = sandbox_net_attach(m->net, ifindex, sb->st.veth, sb->st.id, sb->ip);
	if (err) {
		/* It starts anyway, unfiltered: the node keeps serving on an old kernel. */
		pr_warn("sandbox %s: sandbox_tc not attached to %s: %s", sb->st.id, sb->st.veth,
			strerror(-err));
	} else {
		sb->net_filtered = true;
	}
	if (sb->net_gate_fd >= 0 && write(sb->net_gate_fd, "1", 1) != 1)
		pr_warn("sandbox %s: cannot open its gate: %s", sb->st.id, strerror(errno));
	close_fd(&sb->net_gate_fd);
}

void sb_net_adopt(struct sandbox *sb)
{
	struct sandbox_manager *m = sb->m;
	int ifindex;

	if (!m->net)
		return;
	ifindex = rtnl_link_index(&m->nl, sb->st.veth);
	if (ifindex > 0)
		sb_net_attach(sb, ifindex);
}

void sb_net_detach(struct sandbox *sb)
{
	struct sandbox_manager *m = sb->m;
	int err;

	close_fd(&sb->net_gate_fd);
	if (!m->net || !sb->st.veth[0])
		return;
	if (!sb->ifindex && sb->delete_veth)
		sb->ifindex = rtnl_link_index(&m->nl, sb->st.veth);
	err = sandbox_net_detach(m->net, sb->ifindex > 0 ? sb->ifindex : 0, sb->st.veth,
				 sb->st.id);
	if (err)
		pr_warn("sandbox %s: cannot detach sandbox_tc from %s: %s", sb->st.id,
			sb->st.veth, strerror(-err));
	sb->net_filtered = false;
}

int sandbox_manager_net_drops(const struct sandbox_manager *m, uint64_t out[XW_DROP__MAX])
{
	if (!m->bpf_pin_dir || !m->net)
		return -ENOENT;
	return sandbox_net_drops(m->bpf_pin_dir, out);
}
