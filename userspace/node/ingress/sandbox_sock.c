// SPDX-License-Identifier: Apache-2.0
#include <errno.h>
#include <fcntl.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "node/ingress/sandbox_sock.h"

int sandbox_sock_open(pid_t pid)
{
	char path[64];
	int own = -1, theirs = -1, fd = -1, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)pid);
	own = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	theirs = open(path, O_RDONLY | O_CLOEXEC);
	if (own < 0 || theirs < 0) {
		err = -errno;
		goto out;
	}
	if (setns(theirs, CLONE_NEWNET) < 0) {
		err = -errno;
		goto out;
	}
	fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (fd < 0)
		err = -errno;
	/* Back home, or this thread would serve the node from the sandbox's network. */
	if (setns(own, CLONE_NEWNET) < 0) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
out:
	if (own >= 0)
		close(own);
	if (theirs >= 0)
		close(theirs);
	return fd >= 0 ? fd : err;
}

int sandbox_sock_rmem(int fd, const struct xw_msg_key *k, uint32_t *rmem, uint32_t *rcvbuf)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} q = {
	    .nlh = {.nlmsg_len = sizeof(q),
		    .nlmsg_type = SOCK_DIAG_BY_FAMILY,
		    .nlmsg_flags = NLM_F_REQUEST},
	    .req = {.sdiag_family = AF_INET,
		    .sdiag_protocol = IPPROTO_TCP,
		    .idiag_ext = 1 << (INET_DIAG_SKMEMINFO - 1),
		    .idiag_states = ~0u,
		    .id = {.idiag_sport = k->local_port,
			   .idiag_dport = k->remote_port,
			   .idiag_src = {k->local_ip4},
			   .idiag_dst = {k->remote_ip4},
			   .idiag_cookie = {INET_DIAG_NOCOOKIE, INET_DIAG_NOCOOKIE}}},
	};
	char answer[1024] __attribute__((aligned(NLMSG_ALIGNTO)));
	struct nlmsghdr *h = (struct nlmsghdr *)answer;
	ssize_t n;
	int len;

	if (send(fd, &q, sizeof(q), 0) < 0)
		return -errno;
	n = recv(fd, answer, sizeof(answer), 0);
	if (n < 0)
		return -errno;
	if (!NLMSG_OK(h, n))
		return -EBADMSG;
	if (h->nlmsg_type == NLMSG_ERROR) {
		const struct nlmsgerr *e = NLMSG_DATA(h);

		return e->error ? e->error : -ENOENT;
	}
	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
		return -EBADMSG;
	len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof(struct inet_diag_msg)));
	for (struct rtattr *a = (struct rtattr *)((char *)NLMSG_DATA(h) +
						  NLMSG_ALIGN(sizeof(struct inet_diag_msg)));
	     RTA_OK(a, len); a = RTA_NEXT(a, len)) {
		const uint32_t *mem = RTA_DATA(a);

		if (a->rta_type != INET_DIAG_SKMEMINFO ||
		    RTA_PAYLOAD(a) < SK_MEMINFO_RCVBUF * sizeof(uint32_t) + sizeof(uint32_t))
			continue;
		*rmem = mem[SK_MEMINFO_RMEM_ALLOC];
		*rcvbuf = mem[SK_MEMINFO_RCVBUF];
		return 0;
	}
	return -ENODATA;
}
