/* SPDX-License-Identifier: Apache-2.0 */
/* Loopback TCP pairs for the socket-map tests (sock_accel, sock_msg_redirect), and a
 * pattern to send through them. */
#ifndef XWHISK_TEST_TCP_PAIR_H
#define XWHISK_TEST_TCP_PAIR_H

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <unistd.h>

/* A connected loopback TCP pair whose listener had port (0: any), its client bound to
 * from (host order; 0: any): *near is the accepted side (what the node holds in the
 * sock_accel tests, a sandbox's end in sock_msg's). */
static inline int tcp_pair_from(uint32_t from, int port, int *far, int *near)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons((uint16_t)port)};
	struct sockaddr_in src = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(from)};
	socklen_t sl = sizeof(sa);
	int l = socket(AF_INET, SOCK_STREAM, 0), c = -1, s = -1, one = 1;

	/* a given port may be held by an earlier pair's sockets */
	if (l < 0 || setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 4) ||
	    getsockname(l, (struct sockaddr *)&sa, &sl))
		goto out;
	c = socket(AF_INET, SOCK_STREAM, 0);
	if (c < 0 || (from && bind(c, (struct sockaddr *)&src, sizeof(src))) ||
	    connect(c, (struct sockaddr *)&sa, sizeof(sa)))
		goto out;
	s = accept(l, NULL, NULL);
out:
	if (l >= 0)
		close(l);
	if (s < 0) {
		if (c >= 0)
			close(c);
		return -1;
	}
	*far = c;
	*near = s;
	return 0;
}

/* The same from the loopback address the kernel picks. */
static inline int tcp_pair_on(int port, int *far, int *near)
{
	return tcp_pair_from(0, port, far, near);
}

static inline int tcp_pair(int *far, int *near)
{
	return tcp_pair_on(0, far, near);
}

static inline int read_full(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t got = 0;

	while (got < len) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		ssize_t n;

		if (poll(&p, 1, timeout_ms) <= 0)
			return -ETIMEDOUT;
		n = read(fd, buf + got, len - got);
		if (n <= 0)
			return n ? -errno : -EPIPE;
		got += (size_t)n;
	}
	return 0;
}

/* Writes total bytes of a position pattern (byte i is i * mul) to fd, blocking, from a
 * child process: exits 0 once all is written, 3 when a write fails. */
_Noreturn static inline void write_pattern(int fd, size_t total, unsigned mul, char *buf,
					    size_t chunk)
{
	for (size_t off = 0; off < total; off += chunk) {
		for (size_t i = 0; i < chunk; i++)
			buf[i] = (char)((off + i) * mul);
		for (size_t w = 0; w < chunk;) {
			ssize_t n = write(fd, buf + w, chunk - w);

			if (n <= 0)
				_exit(3);
			w += (size_t)n;
		}
	}
	_exit(0);
}

#endif
