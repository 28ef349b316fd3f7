/*
 * udpblast: offered load for the relay-rate baseline (udpfwd), and its sink.
 *
 *   udpblast send --to IP:PORT [--size B] [--seconds S] [--batch N]
 *   udpblast sink --bind IP:PORT [--seconds S] [--idle S]
 *
 * send: B-byte datagrams (default 1200) in sendmmsg batches of N (default 32) as fast
 * as the socket takes them, for S seconds (default 5); prints "sent=N seconds=S".
 * sink: counts datagrams with recvmmsg from the first one until S seconds later, or
 * until --idle seconds (default 2) pass without one, or S seconds pass with none at
 * all; prints "received=N bytes=B seconds=S pps=P" (exit 1 when nothing came). Both
 * bounded: S <= 600.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
#include "core/addr.h"

#define MAXB 64
#define BUFSZ 2048

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint8_t bufs[MAXB][BUFSZ];
static struct iovec iovs[MAXB];
static struct mmsghdr msgs[MAXB];

static int blast(const struct zt_addr *to, size_t size, double seconds, int batch)
{
	struct sockaddr_storage ss;
	int len = zt_addr_to_sockaddr(to, &ss);
	int fd = socket(to->family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint64_t sent = 0;
	double t0, t;

	if (fd < 0 || len < 0 || connect(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0) {
		perror("udpblast: connect");
		return 1;
	}
	for (int i = 0; i < batch; i++) {
		memset(bufs[i], 0x5a, size);
		iovs[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = size };
		msgs[i].msg_hdr = (struct msghdr){ .msg_iov = &iovs[i], .msg_iovlen = 1 };
	}
	t0 = t = now_s();
	while (t - t0 < seconds) {
		for (int k = 0; k < 16; k++) {
			int n = sendmmsg(fd, msgs, (unsigned)batch, 0);
			if (n > 0)
				sent += (uint64_t)n;
			else if (errno != ENOBUFS && errno != EAGAIN && errno != ECONNREFUSED)
				break;
		}
		t = now_s();
	}
	printf("sent=%llu seconds=%.3f\n", (unsigned long long)sent, t - t0);
	close(fd);
	return 0;
}

static int sink(const struct zt_addr *bind_a, double seconds, double idle)
{
	struct sockaddr_storage ss;
	int len = zt_addr_to_sockaddr(bind_a, &ss), rcv = 4 << 20;
	int fd = socket(bind_a->family, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	uint64_t got = 0, bytes = 0;
	double t0 = 0, last, t;

	if (fd < 0 || len < 0 || bind(fd, (struct sockaddr *)&ss, (socklen_t)len) < 0) {
		perror("udpblast: bind");
		return 1;
	}
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv));
	for (int i = 0; i < MAXB; i++) {
		iovs[i] = (struct iovec){ .iov_base = bufs[i], .iov_len = BUFSZ };
		msgs[i].msg_hdr = (struct msghdr){ .msg_iov = &iovs[i], .msg_iovlen = 1 };
	}
	printf("listening\n");
	fflush(stdout);
	last = t = now_s();
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int n;
		t = now_s();
		if ((t0 && t - t0 >= seconds) || t - last >= (t0 ? idle : seconds))
			break;
		if (poll(&p, 1, 100) <= 0)
			continue;
		while ((n = recvmmsg(fd, msgs, MAXB, MSG_DONTWAIT, NULL)) > 0) {
			t = now_s();
			if (!t0)
				t0 = t;
			if (t - t0 >= seconds)
				break;
			got += (uint64_t)n;
			for (int i = 0; i < n; i++)
				bytes += msgs[i].msg_len;
			last = t;
		}
	}
	t = t0 ? (last > t0 ? last - t0 : 0) : 0;
	printf("received=%llu bytes=%llu seconds=%.3f pps=%.0f\n", (unsigned long long)got,
	       (unsigned long long)bytes, t, t > 0 ? (double)got / t : 0.0);
	close(fd);
	return got ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct zt_addr addr = { 0 };
	size_t size = 1200;
	double seconds = 5, idle = 2;
	int batch = 32;
	long n;

	if (argc < 2)
		goto usage;
	for (int i = 2; i + 1 < argc; i += 2) {
		const char *a = argv[i], *v = argv[i + 1];
		if (!strcmp(a, "--to") || !strcmp(a, "--bind")) {
			if (zt_addr_parse(&addr, v, 0) < 0 || !addr.port)
				goto usage;
		} else if (!strcmp(a, "--size")) {
			if (bench_count(v, 65507, &n) < 0)
				goto usage;
			size = (size_t)n;
		} else if (!strcmp(a, "--seconds")) {
			if (bench_duration(v, ZT_SEC, &seconds) < 0)
				goto usage;
		} else if (!strcmp(a, "--idle")) {
			if (bench_duration(v, ZT_SEC, &idle) < 0)
				goto usage;
		} else if (!strcmp(a, "--batch")) {
			if (bench_count(v, 1024, &n) < 0)
				goto usage;
			batch = (int)n;
		} else {
			goto usage;
		}
	}
	if (!addr.family || size < 1 || size > BUFSZ || seconds <= 0 || seconds > 600 ||
	    batch < 1 || batch > MAXB || idle <= 0)
		goto usage;
	if (!strcmp(argv[1], "send"))
		return blast(&addr, size, seconds, batch);
	if (!strcmp(argv[1], "sink"))
		return sink(&addr, seconds, idle);
usage:
	fprintf(stderr, "usage: udpblast send --to IP:PORT [--size B] [--seconds S] [--batch N]\n"
			"       udpblast sink --bind IP:PORT [--seconds S] [--idle S]\n");
	return 2;
}
