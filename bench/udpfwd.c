/*
 * udpfwd: the minimal UDP relay the benchmarks compare the Intermediate against.
 *
 *   udpfwd --listen IP:PORT --to IP:PORT [--seconds N] [--idle S]
 *
 * Each client source gets its own upstream socket (like a NAT), datagrams are moved
 * in batches with recvmmsg/sendmmsg, nothing is parsed. Bounded: exits after
 * --seconds (default 600) or --idle seconds without traffic (default 60).
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <stdbool.h>

#include "args.h"
#include "core/addr.h"

#define BATCH 32
#define MAX_CLIENTS 256
#define BUFSZ 2048

struct client {
	struct sockaddr_storage addr;
	socklen_t len;
	int fd; /* upstream socket, connected to the target */
};

static struct client clients[MAX_CLIENTS];
static int nclients;
static uint8_t bufs[BATCH][BUFSZ];
static struct sockaddr_storage names[BATCH];
static struct iovec iovs[BATCH];
static struct mmsghdr msgs[BATCH];

static void prep(int with_names)
{
	for (int i = 0; i < BATCH; i++) {
		iovs[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = BUFSZ };
		msgs[i].msg_hdr = (struct msghdr){ .msg_iov = &iovs[i], .msg_iovlen = 1 };
		if (with_names) {
			msgs[i].msg_hdr.msg_name = &names[i];
			msgs[i].msg_hdr.msg_namelen = sizeof(names[i]);
		}
	}
}

static struct client *client_for(const struct sockaddr_storage *a, socklen_t len,
				 const struct sockaddr_storage *to, socklen_t tolen, int ep)
{
	struct epoll_event ev = { .events = EPOLLIN };

	for (int i = 0; i < nclients; i++)
		if (clients[i].len == len && !memcmp(&clients[i].addr, a, len))
			return &clients[i];
	if (nclients == MAX_CLIENTS)
		return NULL;
	struct client *c = &clients[nclients];
	c->fd = socket(to->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)to, tolen) < 0)
		return NULL;
	memcpy(&c->addr, a, len);
	c->len = len;
	ev.data.u32 = (uint32_t)nclients + 1;
	epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
	nclients++;
	return c;
}

int main(int argc, char **argv)
{
	struct zt_addr listen_a = { 0 }, to_a = { 0 };
	struct sockaddr_storage ls, ts;
	int llen, tlen, lfd, ep, seconds = 600, idle = 60;
	uint64_t moved = 0;
	time_t start, last;
	double d;
	bool bad = false;

	for (int i = 1; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--listen"))
			zt_addr_parse(&listen_a, argv[i + 1], 0);
		else if (!strcmp(argv[i], "--to"))
			zt_addr_parse(&to_a, argv[i + 1], 0);
		else if (!strcmp(argv[i], "--seconds") && bench_duration(argv[i + 1], ZT_SEC, &d) == 0)
			seconds = (int)d;
		else if (!strcmp(argv[i], "--idle") && bench_duration(argv[i + 1], ZT_SEC, &d) == 0)
			idle = (int)d;
		else
			bad = true; /* an unknown option, or a bad value */
	}
	if (bad || !listen_a.family || !listen_a.port || !to_a.family || !to_a.port) {
		fprintf(stderr, "usage: udpfwd --listen IP:PORT --to IP:PORT [--seconds N] [--idle S]\n");
		return 2;
	}
	llen = zt_addr_to_sockaddr(&listen_a, &ls);
	tlen = zt_addr_to_sockaddr(&to_a, &ts);
	lfd = socket(listen_a.family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&ls, (socklen_t)llen) < 0) {
		perror("udpfwd: listen");
		return 1;
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.u32 = 0 };
	epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev);
	start = last = time(NULL);
	for (;;) {
		struct epoll_event evs[16];
		int n = epoll_wait(ep, evs, 16, 1000);
		time_t now = time(NULL);
		if (now - start >= seconds || now - last >= idle)
			break;
		for (int e = 0; e < n; e++) {
			uint32_t id = evs[e].data.u32;
			if (id == 0) {
				prep(1);
				int got = recvmmsg(lfd, msgs, BATCH, MSG_DONTWAIT, NULL);
				/* group by client: consecutive datagrams of one client go in one sendmmsg */
				for (int i = 0; i < got; i++) {
					struct client *c = client_for(&names[i], msgs[i].msg_hdr.msg_namelen,
								      &ts, (socklen_t)tlen, ep);
					if (!c)
						continue;
					iovs[i].iov_len = msgs[i].msg_len;
					int j = i;
					while (j + 1 < got && msgs[j + 1].msg_hdr.msg_namelen == c->len &&
					       !memcmp(&names[j + 1], &c->addr, c->len)) {
						j++;
						iovs[j].iov_len = msgs[j].msg_len;
					}
					for (int k = i; k <= j; k++) {
						msgs[k].msg_hdr.msg_name = NULL;
						msgs[k].msg_hdr.msg_namelen = 0;
					}
					int s = sendmmsg(c->fd, &msgs[i], (unsigned)(j - i + 1), MSG_DONTWAIT);
					if (s > 0)
						moved += (uint64_t)s;
					i = j;
				}
			} else {
				struct client *c = &clients[id - 1];
				prep(0);
				int got = recvmmsg(c->fd, msgs, BATCH, MSG_DONTWAIT, NULL);
				for (int i = 0; i < got; i++) {
					iovs[i].iov_len = msgs[i].msg_len;
					msgs[i].msg_hdr.msg_name = &c->addr;
					msgs[i].msg_hdr.msg_namelen = c->len;
				}
				if (got > 0) {
					int s = sendmmsg(lfd, msgs, (unsigned)got, MSG_DONTWAIT);
					if (s > 0)
						moved += (uint64_t)s;
				}
			}
			last = now;
		}
	}
	fprintf(stderr, "udpfwd: %llu datagrams forwarded, %d clients\n",
		(unsigned long long)moved, nclients);
	return 0;
}
