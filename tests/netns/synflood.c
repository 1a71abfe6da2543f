// SPDX-License-Identifier: Apache-2.0
/*
 * synflood: sends TCP SYNs from one source address (the caller's own: the guard limits
 * per source) to DST:PORT for SECONDS, at most PPS a second, from random source ports.
 * Raw sockets, so root. Prints "sent N".
 *   synflood SRC DST PORT SECONDS [PPS]      (IPv4 or IPv6, by the addresses)
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t sum16(const void *data, size_t len, uint32_t sum)
{
	const uint8_t *p = data;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

static uint16_t fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A 20-byte SYN; the IPv4 checksum over the pseudo header is filled when src4/dst4 given. */
static void tcp_syn(uint8_t *t, uint16_t sport, uint16_t dport, uint32_t seq)
{
	memset(t, 0, 20);
	put16(t, sport);
	put16(t + 2, dport);
	t[4] = (uint8_t)(seq >> 24);
	t[5] = (uint8_t)(seq >> 16);
	t[6] = (uint8_t)(seq >> 8);
	t[7] = (uint8_t)seq;
	t[12] = 5 << 4;
	t[13] = 0x02;
	put16(t + 14, 64240);
}

int main(int argc, char **argv)
{
	struct sockaddr_storage dst = { 0 }, src = { 0 };
	uint64_t end, start, sent = 0, pps;
	uint8_t pkt[60];
	int fd, v6, port;

	if (argc < 5) {
		fprintf(stderr, "usage: synflood SRC DST PORT SECONDS [PPS]\n");
		return 2;
	}
	port = atoi(argv[3]);
	pps = argc > 5 ? strtoull(argv[5], NULL, 10) : 20000;
	v6 = strchr(argv[2], ':') != NULL;
	if (v6) {
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&dst, *s = (struct sockaddr_in6 *)&src;
		int off = 16;

		d->sin6_family = s->sin6_family = AF_INET6;
		if (inet_pton(AF_INET6, argv[2], &d->sin6_addr) != 1 ||
		    inet_pton(AF_INET6, argv[1], &s->sin6_addr) != 1)
			return 2;
		fd = socket(AF_INET6, SOCK_RAW, IPPROTO_TCP);
		/* The kernel writes the IPv6 header and the TCP checksum at offset 16. */
		if (fd >= 0 && (setsockopt(fd, IPPROTO_IPV6, IPV6_CHECKSUM, &off, sizeof(off)) < 0 ||
				bind(fd, (struct sockaddr *)s, sizeof(*s)) < 0)) {
			perror("synflood: socket setup");
			return 1;
		}
	} else {
		struct sockaddr_in *d = (struct sockaddr_in *)&dst, *s = (struct sockaddr_in *)&src;

		d->sin_family = s->sin_family = AF_INET;
		if (inet_pton(AF_INET, argv[2], &d->sin_addr) != 1 ||
		    inet_pton(AF_INET, argv[1], &s->sin_addr) != 1)
			return 2;
		fd = socket(AF_INET, SOCK_RAW, IPPROTO_RAW); /* we write the IP header */
	}
	if (fd < 0) {
		perror("synflood: socket");
		return 1;
	}
	srand((unsigned)now_ns());
	start = now_ns();
	end = start + strtoull(argv[4], NULL, 10) * 1000000000ull;
	while (now_ns() < end) {
		uint16_t sport = (uint16_t)(1024 + rand() % 60000);
		uint32_t seq = (uint32_t)rand();
		size_t len;

		if (v6) {
			tcp_syn(pkt, sport, (uint16_t)port, seq);
			len = 20;
		} else {
			struct sockaddr_in *d = (struct sockaddr_in *)&dst;
			struct sockaddr_in *s = (struct sockaddr_in *)&src;
			uint8_t *ip = pkt, *t = pkt + 20, pseudo[12];

			memset(ip, 0, 20);
			ip[0] = 0x45;
			put16(ip + 2, 40);
			put16(ip + 4, (uint16_t)rand());
			put16(ip + 6, 0x4000);
			ip[8] = 64;
			ip[9] = IPPROTO_TCP;
			memcpy(ip + 12, &s->sin_addr, 4);
			memcpy(ip + 16, &d->sin_addr, 4);
			put16(ip + 10, fold(sum16(ip, 20, 0)));
			tcp_syn(t, sport, (uint16_t)port, seq);
			memcpy(pseudo, ip + 12, 8);
			pseudo[8] = 0;
			pseudo[9] = IPPROTO_TCP;
			put16(pseudo + 10, 20);
			put16(t + 16, fold(sum16(t, 20, sum16(pseudo, 12, 0))));
			len = 40;
		}
		if (sendto(fd, pkt, len, 0, (struct sockaddr *)&dst,
			   v6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in)) < 0) {
			if (errno != ENOBUFS && errno != EAGAIN) {
				perror("synflood: sendto");
				break;
			}
		} else {
			sent++;
		}
		/* Paced: never more than pps a second. */
		while (sent * 1000000000ull > (now_ns() - start) * pps)
			usleep(200);
	}
	printf("sent %llu\n", (unsigned long long)sent);
	close(fd);
	return 0;
}
