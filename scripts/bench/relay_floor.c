// SPDX-License-Identifier: Apache-2.0
/*
 * relay_floor: the least a reverse proxy can do, as invoke.sh's floor. Each client
 * connection gets a connection of its own to the upstream, and bytes are copied both ways
 * as they come: no parsing, no pooling, no log. What it adds over calling the upstream
 * directly is what any proxy that ends the client's TCP connection pays at least: two more
 * socket reads and writes a request, and the wake-ups between them.
 *
 * usage: relay_floor LISTEN_PORT UPSTREAM_PORT [PROCESSES]   (both on 127.0.0.1)
 * Prints "listening" once it accepts; runs until killed.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 4096

static int peer_of[MAX_FDS]; /* the other end of each relayed socket */

static struct sockaddr_in loopback(int port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	return a;
}

/* Writes all of buf to fd (non-blocking: waits for room when there is none). */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EAGAIN) {
			(void)poll(&(struct pollfd){.fd = fd, .events = POLLOUT}, 1, -1);
			continue;
		}
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static void close_pair(int fd)
{
	int peer = peer_of[fd];

	close(fd);
	close(peer);
}

/* A client: its own upstream connection, both in the loop. */
static void take(int ep, int lfd, int upstream_port)
{
	struct sockaddr_in up = loopback(upstream_port);
	int c = accept4(lfd, NULL, NULL, SOCK_NONBLOCK), u = -1;

	if (c < 0)
		return;
	u = socket(AF_INET, SOCK_STREAM, 0);
	if (u < 0 || c >= MAX_FDS || u >= MAX_FDS ||
	    connect(u, (struct sockaddr *)&up, sizeof(up)) < 0) {
		close(c);
		if (u >= 0)
			close(u);
		return;
	}
	(void)fcntl(u, F_SETFL, O_NONBLOCK);
	(void)setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	(void)setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &(int){1}, sizeof(int));
	peer_of[c] = u;
	peer_of[u] = c;
	(void)epoll_ctl(ep, EPOLL_CTL_ADD, c, &(struct epoll_event){.events = EPOLLIN, .data.fd = c});
	(void)epoll_ctl(ep, EPOLL_CTL_ADD, u, &(struct epoll_event){.events = EPOLLIN, .data.fd = u});
}

static void serve(int lfd, int upstream_port)
{
	static char buf[65536];
	struct epoll_event ev[64];
	int ep = epoll_create1(0);

	(void)epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &(struct epoll_event){.events = EPOLLIN, .data.fd = lfd});
	for (;;) {
		int n = epoll_wait(ep, ev, 64, -1);

		for (int i = 0; i < n; i++) {
			int fd = ev[i].data.fd;
			ssize_t got;

			if (fd == lfd) {
				take(ep, lfd, upstream_port);
				continue;
			}
			got = read(fd, buf, sizeof(buf));
			if (got < 0 && errno == EAGAIN)
				continue;
			if (got <= 0 || write_all(peer_of[fd], buf, (size_t)got) < 0)
				close_pair(fd);
		}
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_in a;
	int lfd, procs;

	if (argc < 3) {
		fprintf(stderr, "usage: relay_floor LISTEN_PORT UPSTREAM_PORT [PROCESSES]\n");
		return 2;
	}
	a = loopback(atoi(argv[1]));
	procs = argc > 3 ? atoi(argv[3]) : 1;
	lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &(int){1}, sizeof(int)) < 0 ||
	    bind(lfd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(lfd, 1024) < 0) {
		perror("relay_floor: listen");
		return 1;
	}
	printf("listening\n");
	fflush(stdout);
	for (int i = 1; i < procs; i++)
		if (fork() == 0)
			break;
	serve(lfd, atoi(argv[2]));
	return 0;
}
