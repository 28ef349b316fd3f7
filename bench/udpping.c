/*
 * udpping: raw UDP ping-pong, the RTT baseline of the benchmarks.
 *
 *   udpping echo --bind IP:PORT [--count N]        answer every datagram to its sender
 *   udpping ping --to IP:PORT [--size B] [--count N] [--interval US] [--window W]
 *                [--timeout MS] [--json] [--samples FILE]
 *
 * At most --window pings unanswered (default 1: ping-pong), each sent --interval after
 * the one before (window 1: after its answer); RTTs in microseconds as min/p50/p99/max,
 * --samples writes every answered ping's RTT (us, one per line, in send order).
 * Bounded: echo stops after --count datagrams (default 1,000,000) or 60 s without
 * traffic; ping after --count pings.
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

/* Per-ping state, indexed by sequence number. */
struct pingst {
	uint64_t sent;   /* 0: not sent yet */
	uint64_t rtt;    /* 0: no answer (yet) */
};

static int ping_main(const struct zt_addr *to, size_t size, long count, long interval_us,
		     long window, int timeout_ms, int json, const char *samples)
{
	struct zt_udp u;
	struct zt_addr any = { .family = to->family }, from;
	static const uint8_t v4_loop[4] = { 127, 0, 0, 1 };
	uint8_t out[65536], in[65536];
	struct pingst *ps = calloc((size_t)count, sizeof(*ps));
	uint64_t *rtt = calloc((size_t)count, sizeof(*rtt));
	uint64_t timeout = (uint64_t)timeout_ms * 1000000ULL, next_send, t_first = 0;
	long got = 0, lost = 0, send_errors = 0, next = 0, oldest = 0, outstanding = 0;
	int n, rc = 1;

	if (!ps || !rtt || size < 16 || size > sizeof(out) || window < 1)
		goto out_free;
	/* on loopback stay on loopback; elsewhere (a lab namespace) any local address */
	if (zt_addr_is_loopback(to) && to->family == AF_INET)
		zt_addr_set_v4(&any, v4_loop, 0);
	if ((n = zt_udp_open(&u, &any)) < 0) {
		fprintf(stderr, "udpping: socket: %s\n", strerror(-n));
		goto out_free;
	}
	memset(out, 0x5a, size);
	next_send = now_ns();
	/*
	 * At most `window` pings unanswered; a new one goes out `interval` after the
	 * previous one (window 1: after the previous answer). A ping unanswered for
	 * `timeout` is lost.
	 */
	while (oldest < count) {
		uint64_t now = now_ns(), wake;

		while (oldest < next && (ps[oldest].rtt || now >= ps[oldest].sent + timeout)) {
			if (!ps[oldest].rtt) {
				lost++;
				outstanding--;
				if (window == 1)
					next_send = now;
			}
			oldest++;
		}
		if (oldest >= count)
			break;
		if (next < count && outstanding < window && now >= next_send) {
			long seq = next++;
			memcpy(out, &seq, sizeof(seq));
			memcpy(out + 8, &now, sizeof(now));
			ps[seq].sent = now;
			if (!t_first)
				t_first = now;
			if (zt_udp_send(&u, to, NULL, out, size) < 0) {
				send_errors++;
				ps[seq].sent = now - timeout; /* counts as lost at once */
			}
			outstanding++;
			next_send = now + (uint64_t)interval_us * 1000ULL;
			if (window == 1)
				next_send = UINT64_MAX; /* set when the answer comes */
			continue;
		}
		wake = oldest < next ? ps[oldest].sent + timeout : UINT64_MAX;
		if (next < count && outstanding < window && next_send < wake)
			wake = next_send;
		if (wake == UINT64_MAX)
			wake = now + 1000000ULL;
		if (wake > now && wait_readable(u.fd, (int)((wake - now + 999999) / 1000000ULL)) <= 0)
			continue;
		while ((n = zt_udp_recv(&u, in, sizeof(in), &from, NULL)) >= 16) {
			uint64_t t = now_ns();
			long s;
			memcpy(&s, in, sizeof(s));
			if (s < oldest || s >= next || ps[s].rtt || t >= ps[s].sent + timeout)
				continue; /* late, duplicate or foreign */
			ps[s].rtt = t - ps[s].sent;
			rtt[got++] = ps[s].rtt;
			outstanding--;
			if (window == 1)
				next_send = t + (uint64_t)interval_us * 1000ULL;
		}
	}
	zt_udp_close(&u);
	if (samples) {
		FILE *f = fopen(samples, "w");
		if (!f) {
			fprintf(stderr, "udpping: %s: %s\n", samples, strerror(errno));
			goto out_free;
		}
		for (long i = 0; i < count; i++)
			if (ps[i].rtt)
				fprintf(f, "%.1f\n", ps[i].rtt / 1000.0);
		fclose(f);
	}
	if (got == 0) {
		fprintf(stderr, "udpping: no answer from the peer\n");
		goto out_free;
	}
	qsort(rtt, (size_t)got, sizeof(*rtt), cmp_u64);
#define US(i) (rtt[(i)] / 1000.0)
	if (json)
		printf("{\"size\":%zu,\"sent\":%ld,\"received\":%ld,\"lost\":%ld,\"send_errors\":%ld,"
		       "\"min_us\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"span_ms\":%.1f}\n",
		       size, count, got, lost, send_errors, US(0), US(got / 2), US(got * 99 / 100),
		       US(got - 1), (now_ns() - t_first) / 1e6);
	else
		printf("size %zu: %ld/%ld answered, rtt min %.1f p50 %.1f p99 %.1f max %.1f us\n",
		       size, got, count, US(0), US(got / 2), US(got * 99 / 100), US(got - 1));
	rc = 0;
out_free:
	free(rtt);
	free(ps);
	return rc;
}

int main(int argc, char **argv)
{
	struct zt_addr addr = { 0 };
	size_t size = 64;
	long count = 1000, interval = 0, window = 1;
	const char *samples = NULL;
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
		} else if (!strcmp(a, "--window")) {
			window = strtol(v, NULL, 10);
		} else if (!strcmp(a, "--samples")) {
			samples = v;
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
		return ping_main(&addr, size, count, interval, window, timeout_ms, json, samples);
usage:
	fprintf(stderr, "usage: udpping echo --bind IP:PORT [--count N]\n"
			"       udpping ping --to IP:PORT [--size B] [--count N] [--interval US] "
			"[--window W] [--timeout MS] [--json] [--samples FILE]\n");
	return 2;
}
