// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_link.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <arpa/inet.h>
#include <linux/veth.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "rtnl.h"

#ifndef IFLA_BRPORT_ISOLATED
#define IFLA_BRPORT_ISOLATED 33
#endif

#define NLMSG_BUF 1024
#define NLRECV_BUF 16384

/* A request under construction; the union keeps the buffer aligned for nlmsghdr. */
struct nlreq {
	union {
		struct nlmsghdr hdr;
		char buf[NLMSG_BUF];
	};
};

static void *req_tail(struct nlreq *r)
{
	return r->buf + NLMSG_ALIGN(r->hdr.nlmsg_len);
}

static void req_init(struct nlreq *r, uint16_t type, uint16_t flags)
{
	memset(r, 0, sizeof(*r));
	r->hdr.nlmsg_len = NLMSG_LENGTH(0);
	r->hdr.nlmsg_type = type;
	r->hdr.nlmsg_flags = NLM_F_REQUEST | flags;
}

/* Appends a fixed header (ifinfomsg, ifaddrmsg, rtmsg) and returns it zeroed. */
static void *req_put(struct nlreq *r, size_t len)
{
	void *p = req_tail(r);

	r->hdr.nlmsg_len = NLMSG_ALIGN(r->hdr.nlmsg_len) + (uint32_t)NLMSG_ALIGN(len);
	return p;
}

static int nla_put(struct nlreq *r, uint16_t type, const void *data, size_t len)
{
	struct nlattr *a = req_tail(r);
	size_t total = NLMSG_ALIGN(r->hdr.nlmsg_len) + NLA_ALIGN(NLA_HDRLEN + len);

	if (total > sizeof(r->buf))
		return -EMSGSIZE;
	a->nla_type = type;
	a->nla_len = (uint16_t)(NLA_HDRLEN + len);
	if (len)
		memcpy((char *)a + NLA_HDRLEN, data, len);
	r->hdr.nlmsg_len = (uint32_t)total;
	return 0;
}

static int nla_put_str(struct nlreq *r, uint16_t type, const char *s)
{
	return nla_put(r, type, s, strlen(s) + 1);
}

static int nla_put_u32(struct nlreq *r, uint16_t type, uint32_t v)
{
	return nla_put(r, type, &v, sizeof(v));
}

static struct nlattr *nla_nest_start(struct nlreq *r, uint16_t type)
{
	struct nlattr *a = req_tail(r);

	if (nla_put(r, type | NLA_F_NESTED, NULL, 0))
		return NULL;
	return a;
}

static void nla_nest_end(struct nlreq *r, struct nlattr *a)
{
	a->nla_len = (uint16_t)((char *)req_tail(r) - (char *)a);
}

int rtnl_open(struct rtnl *nl)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	int fd;

	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0)
		return -errno;
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		close(fd);
		return err;
	}
	nl->fd = fd;
	nl->seq = 1;
	return 0;
}

void rtnl_close(struct rtnl *nl)
{
	if (nl && nl->fd >= 0) {
		close(nl->fd);
		nl->fd = -1;
	}
}

static int rtnl_send(struct rtnl *nl, struct nlreq *r)
{
	struct sockaddr_nl sa = { .nl_family = AF_NETLINK };
	ssize_t n;

	r->hdr.nlmsg_seq = ++nl->seq;
	do
		n = sendto(nl->fd, r->buf, r->hdr.nlmsg_len, 0, (struct sockaddr *)&sa, sizeof(sa));
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	return 0;
}

/*
 * Sends r and waits for its answer. With want_index, a RTM_NEWLINK reply's ifindex is
 * returned; otherwise 0 on ACK. Replies to older sequence numbers are skipped.
 */
static int rtnl_talk(struct rtnl *nl, struct nlreq *r, int want_index)
{
	char buf[NLRECV_BUF] __attribute__((aligned(NLMSG_ALIGNTO)));
	int err, found = -ENODEV;

	err = rtnl_send(nl, r);
	if (err)
		return err;
	for (;;) {
		ssize_t n = recv(nl->fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h;

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != nl->seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				struct nlmsgerr *e = NLMSG_DATA(h);

				if (e->error)
					return e->error;
				return want_index ? found : 0;
			}
			if (h->nlmsg_type == RTM_NEWLINK && want_index) {
				struct ifinfomsg *ifi = NLMSG_DATA(h);

				/* A plain get answers with the link and no ACK. */
				return ifi->ifi_index;
			}
			if (h->nlmsg_type == NLMSG_DONE)
				return want_index ? found : 0;
		}
	}
}

int rtnl_link_index(struct rtnl *nl, const char *name)
{
	struct nlreq r;
	struct ifinfomsg *ifi;

	req_init(&r, RTM_GETLINK, 0);
	ifi = req_put(&r, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	if (nla_put_str(&r, IFLA_IFNAME, name))
		return -EMSGSIZE;
	return rtnl_talk(nl, &r, 1);
}

int rtnl_link_up(struct rtnl *nl, int ifindex)
{
	struct nlreq r;
	struct ifinfomsg *ifi;

	req_init(&r, RTM_NEWLINK, NLM_F_ACK);
	ifi = req_put(&r, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_index = ifindex;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	return rtnl_talk(nl, &r, 0);
}

int rtnl_addr_add(struct rtnl *nl, int ifindex, in_addr_t addr, int prefix)
{
	struct nlreq r;
	struct ifaddrmsg *ifa;
	int err = 0;

	/* REPLACE keeps this idempotent for the bridge across restarts. */
	req_init(&r, RTM_NEWADDR, NLM_F_ACK | NLM_F_CREATE | NLM_F_REPLACE);
	ifa = req_put(&r, sizeof(*ifa));
	ifa->ifa_family = AF_INET;
	ifa->ifa_prefixlen = (unsigned char)prefix;
	ifa->ifa_index = (unsigned)ifindex;
	err |= nla_put(&r, IFA_LOCAL, &addr, sizeof(addr));
	err |= nla_put(&r, IFA_ADDRESS, &addr, sizeof(addr));
	if (err)
		return -EMSGSIZE;
	return rtnl_talk(nl, &r, 0);
}

int rtnl_route_default(struct rtnl *nl, int ifindex, in_addr_t gw)
{
	struct nlreq r;
	struct rtmsg *rt;
	int err = 0;

	req_init(&r, RTM_NEWROUTE, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	rt = req_put(&r, sizeof(*rt));
	rt->rtm_family = AF_INET;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = RTPROT_BOOT;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	err |= nla_put(&r, RTA_GATEWAY, &gw, sizeof(gw));
	err |= nla_put_u32(&r, RTA_OIF, (uint32_t)ifindex);
	if (err)
		return -EMSGSIZE;
	return rtnl_talk(nl, &r, 0);
}

static int route_request(struct rtnl *nl, uint16_t type, uint16_t flags, in_addr_t dst,
			 int prefix, in_addr_t gw, unsigned char protocol)
{
	struct nlreq r;
	struct rtmsg *rt;
	int err = 0;

	req_init(&r, type, NLM_F_ACK | flags);
	rt = req_put(&r, sizeof(*rt));
	rt->rtm_family = AF_INET;
	rt->rtm_dst_len = (unsigned char)prefix;
	rt->rtm_table = RT_TABLE_MAIN;
	rt->rtm_protocol = protocol;
	rt->rtm_scope = RT_SCOPE_UNIVERSE;
	rt->rtm_type = RTN_UNICAST;
	err |= nla_put(&r, RTA_DST, &dst, sizeof(dst));
	if (gw)
		err |= nla_put(&r, RTA_GATEWAY, &gw, sizeof(gw));
	if (err)
		return -EMSGSIZE;
	return rtnl_talk(nl, &r, 0);
}

int rtnl_route_add(struct rtnl *nl, in_addr_t dst, int prefix, in_addr_t gw,
		   unsigned char protocol)
{
	return route_request(nl, RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, dst, prefix, gw,
			     protocol);
}

int rtnl_route_del(struct rtnl *nl, in_addr_t dst, int prefix, in_addr_t gw,
		   unsigned char protocol)
{
	return route_request(nl, RTM_DELROUTE, 0, dst, prefix, gw, protocol);
}

int rtnl_bridge_ensure(struct rtnl *nl, const char *name, in_addr_t gw, int prefix)
{
	/*
	 * A fixed address: otherwise a bridge takes the lowest address of its ports and
	 * changes it as sandboxes come and go, and every sandbox's ARP entry for the
	 * gateway goes stale (traffic to the node stalls until it is relearnt).
	 */
	unsigned char mac[6] = { 0x02, 0x77 }; /* locally administered; sandboxes have 02:78 */
	struct nlreq r;
	struct ifinfomsg *ifi;
	struct nlattr *info;
	int err, ifindex;

	memcpy(mac + 2, &gw, 4);
	req_init(&r, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	ifi = req_put(&r, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	err = nla_put_str(&r, IFLA_IFNAME, name);
	err |= nla_put(&r, IFLA_ADDRESS, mac, sizeof(mac));
	info = nla_nest_start(&r, IFLA_LINKINFO);
	if (err || !info || nla_put_str(&r, IFLA_INFO_KIND, "bridge"))
		return -EMSGSIZE;
	nla_nest_end(&r, info);
	err = rtnl_talk(nl, &r, 0);
	if (err && err != -EEXIST)
		return err;
	ifindex = rtnl_link_index(nl, name);
	if (ifindex < 0)
		return ifindex;
	err = rtnl_addr_add(nl, ifindex, gw, prefix);
	if (err)
		return err;
	err = rtnl_link_up(nl, ifindex);
	return err ? err : ifindex;
}

int rtnl_veth_create(struct rtnl *nl, const char *host_name, int master, const char *peer_name,
		     const unsigned char peer_mac[6], int peer_netns_fd)
{
	struct nlreq r;
	struct ifinfomsg *ifi, *peer;
	struct nlattr *info, *data, *pinfo;
	int err = 0;

	/*
	 * One request: the host end up and enslaved, the peer in the sandbox namespace. The
	 * peer cannot be brought up here: it is configured before the pair is linked, and
	 * a veth without its peer refuses to open (ENOTCONN).
	 */
	req_init(&r, RTM_NEWLINK, NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL);
	ifi = req_put(&r, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	ifi->ifi_flags = IFF_UP;
	ifi->ifi_change = IFF_UP;
	err |= nla_put_str(&r, IFLA_IFNAME, host_name);
	err |= nla_put_u32(&r, IFLA_MASTER, (uint32_t)master);
	info = nla_nest_start(&r, IFLA_LINKINFO);
	if (err || !info || nla_put_str(&r, IFLA_INFO_KIND, "veth"))
		return -EMSGSIZE;
	data = nla_nest_start(&r, IFLA_INFO_DATA);
	pinfo = data ? nla_nest_start(&r, VETH_INFO_PEER) : NULL;
	if (!pinfo)
		return -EMSGSIZE;
	peer = req_put(&r, sizeof(*peer));
	peer->ifi_family = AF_UNSPEC;
	err |= nla_put_str(&r, IFLA_IFNAME, peer_name);
	err |= nla_put(&r, IFLA_ADDRESS, peer_mac, 6);
	err |= nla_put_u32(&r, IFLA_NET_NS_FD, (uint32_t)peer_netns_fd);
	if (err)
		return -EMSGSIZE;
	nla_nest_end(&r, pinfo);
	nla_nest_end(&r, data);
	nla_nest_end(&r, info);
	return rtnl_talk(nl, &r, 0);
}

int rtnl_bridge_port_isolate(struct rtnl *nl, int ifindex)
{
	struct nlreq r;
	struct ifinfomsg *ifi;
	struct nlattr *prot;
	uint8_t on = 1;

	req_init(&r, RTM_SETLINK, NLM_F_ACK);
	ifi = req_put(&r, sizeof(*ifi));
	ifi->ifi_family = AF_BRIDGE;
	ifi->ifi_index = ifindex;
	prot = nla_nest_start(&r, IFLA_PROTINFO);
	if (!prot || nla_put(&r, IFLA_BRPORT_ISOLATED, &on, sizeof(on)))
		return -EMSGSIZE;
	nla_nest_end(&r, prot);
	return rtnl_talk(nl, &r, 0);
}

int rtnl_link_del(struct rtnl *nl, const char *name)
{
	struct nlreq r;
	struct ifinfomsg *ifi;

	req_init(&r, RTM_DELLINK, NLM_F_ACK);
	ifi = req_put(&r, sizeof(*ifi));
	ifi->ifi_family = AF_UNSPEC;
	if (nla_put_str(&r, IFLA_IFNAME, name))
		return -EMSGSIZE;
	return rtnl_talk(nl, &r, 0);
}
