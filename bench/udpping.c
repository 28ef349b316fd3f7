/*
 * udpping: raw UDP ping-pong, the RTT baseline of the benchmarks.
 *
 *   udpping echo --bind IP:PORT [--count N]        answer every datagram to its sender
 *   udpping ping --to IP:PORT [--size B] [--count N] [--interval US] [--timeout MS] [--json]
 *
 * One ping outstanding at a time; RTTs in microseconds as min/p50/p99/max. Bounded:
 * echo stops after --count datagrams (default 1,000,000) or 60 s without traffic.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/addr.h"
#include "io/udp.h"

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int wait_readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	return poll(&p, 1, ms);
}

static int echo_main(const struct zt_addr *bind, long count)
{
	struct zt_udp u;
	uint8_t buf[65536];
	struct zt_addr from;
	int n;

	if ((n = zt_udp_open(&u, bind)) < 0) {
		fprintf(stderr, "udpping: bind: %s\n", strerror(-n));
		return 1;
	}
	while (count-- > 0) {
		if (wait_readable(u.fd, 60000) <= 0)
			break;
		n = zt_udp_recv(&u, buf, sizeof(buf), &from, NULL);
		if (n < 0)
			continue;
		zt_udp_send(&u, &from, NULL, buf, (size_t)n);
	}
	zt_udp_close(&u);
	return 0;
}

static int ping_main(const struct zt_addr *to, size_t size, long count, long interval_us,
		     int timeout_ms, int json)
{
	struct zt_udp u;
	struct zt_addr any = { .family = to->family }, from;
	static const uint8_t v4_loop[4] = { 127, 0, 0, 1 };
	uint8_t out[65536], in[65536];
	uint64_t *rtt = calloc((size_t)count, sizeof(*rtt));
	long got = 0, lost = 0;
	int n;

	if (!rtt || size < 16 || size > sizeof(out))
		return 2;
	/* on loopback stay on loopback; elsewhere (a lab namespace) any local address */
	if (zt_addr_is_loopback(to) && to->family == AF_INET)
		zt_addr_set_v4(&any, v4_loop, 0);
	if ((n = zt_udp_open(&u, &any)) < 0) {
		fprintf(stderr, "udpping: socket: %s\n", strerror(-n));
		return 1;
	}
	memset(out, 0x5a, size);
	for (long seq = 0; seq < count; seq++) {
		uint64_t t0 = now_ns(), deadline = t0 + (uint64_t)timeout_ms * 1000000ULL;
		memcpy(out, &seq, sizeof(seq));
		memcpy(out + 8, &t0, sizeof(t0));
		if (zt_udp_send(&u, to, NULL, out, size) < 0) {
			lost++;
			continue;
		}
		for (;;) {
			uint64_t now = now_ns();
			long s;
			if (now >= deadline) {
				lost++;
				break;
			}
			if (wait_readable(u.fd, (int)((deadline - now) / 1000000ULL) + 1) <= 0)
				continue;
			n = zt_udp_recv(&u, in, sizeof(in), &from, NULL);
			if (n < 16)
				continue;
			memcpy(&s, in, sizeof(s));
			if (s != seq)
				continue; /* a late answer to an earlier ping */
			rtt[got++] = now_ns() - t0;
			break;
		}
		if (interval_us > 0)
			usleep((useconds_t)interval_us);
	}
	zt_udp_close(&u);
	if (got == 0) {
		fprintf(stderr, "udpping: no answer from the peer\n");
		free(rtt);
		return 1;
	}
	qsort(rtt, (size_t)got, sizeof(*rtt), cmp_u64);
#define US(i) (rtt[(i)] / 1000.0)
	if (json)
		printf("{\"size\":%zu,\"sent\":%ld,\"received\":%ld,\"lost\":%ld,\"min_us\":%.1f,"
		       "\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f}\n",
		       size, count, got, lost, US(0), US(got / 2), US(got * 99 / 100), US(got - 1));
	else
		printf("size %zu: %ld/%ld answered, rtt min %.1f p50 %.1f p99 %.1f max %.1f us\n",
		       size, got, count, US(0), US(got / 2), US(got * 99 / 100), US(got - 1));
	free(rtt);
	return 0;
}

int main(int argc, char **argv)
{
	struct zt_addr addr = { 0 };
	size_t size = 64;
	long count = 1000, interval = 0;
	int timeout_ms = 1000, json = 0, have_addr = 0, count_set = 0;

	if (argc < 2)
		goto usage;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(a, "--json")) {
			json = 1;
			continue;
		}
		if (!v)
			goto usage;
		i++;
		if (!strcmp(a, "--bind") || !strcmp(a, "--to")) {
			if (zt_addr_parse(&addr, v, 0) < 0 || !addr.port) {
				fprintf(stderr, "udpping: bad address '%s' (want IP:PORT)\n", v);
				return 2;
			}
			have_addr = 1;
		} else if (!strcmp(a, "--size")) {
			size = strtoul(v, NULL, 10);
		} else if (!strcmp(a, "--count")) {
			count = strtol(v, NULL, 10);
			count_set = 1;
		} else if (!strcmp(a, "--interval")) {
			interval = strtol(v, NULL, 10);
		} else if (!strcmp(a, "--timeout")) {
			timeout_ms = atoi(v);
		} else {
			goto usage;
		}
	}
	if (!have_addr || count <= 0)
		goto usage;
	if (!strcmp(argv[1], "echo"))
		return echo_main(&addr, count_set ? count : 1000000);
	if (!strcmp(argv[1], "ping"))
		return ping_main(&addr, size, count, interval, timeout_ms, json);
usage:
	fprintf(stderr, "usage: udpping echo --bind IP:PORT [--count N]\n"
			"       udpping ping --to IP:PORT [--size B] [--count N] [--interval US] "
			"[--timeout MS] [--json]\n");
	return 2;
}
