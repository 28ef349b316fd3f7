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
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "args.h"
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

struct pinger {
	struct zt_udp u;
	const struct zt_addr *to;
	size_t size;
	long count, window;
	uint64_t interval, timeout;   /* ns */
	struct pingst *ps;            /* [count] */
	uint64_t *rtt;                /* [count]: the answered pings' RTTs, in arrival order */
	long got, lost, send_errors;
	long next;                    /* the next sequence number to send */
	long oldest;                  /* the oldest ping neither answered nor lost */
	long outstanding;             /* sent, neither answered nor lost */
	uint64_t next_send, t_first;
	uint8_t out[65536];
};

/* Moves the oldest ping on past those answered or unanswered for the timeout (lost). */
static void retire(struct pinger *pg, uint64_t now)
{
	while (pg->oldest < pg->next && (pg->ps[pg->oldest].rtt ||
					 now >= pg->ps[pg->oldest].sent + pg->timeout)) {
		if (!pg->ps[pg->oldest].rtt) {
			pg->lost++;
			pg->outstanding--;
			if (pg->window == 1)
				pg->next_send = now;
		}
		pg->oldest++;
	}
}

static void send_ping(struct pinger *pg, uint64_t now)
{
	long seq = pg->next++;

	memcpy(pg->out, &seq, sizeof(seq));
	memcpy(pg->out + 8, &now, sizeof(now));
	pg->ps[seq].sent = now;
	if (!pg->t_first)
		pg->t_first = now;
	if (zt_udp_send(&pg->u, pg->to, NULL, pg->out, pg->size) < 0) {
		pg->send_errors++;
		pg->ps[seq].sent = now - pg->timeout; /* counts as lost at once */
	}
	pg->outstanding++;
	pg->next_send = now + pg->interval;
	if (pg->window == 1)
		pg->next_send = UINT64_MAX; /* set when the answer comes */
}

static void recv_answers(struct pinger *pg)
{
	uint8_t in[65536];
	struct zt_addr from;

	while (zt_udp_recv(&pg->u, in, sizeof(in), &from, NULL) >= 16) {
		uint64_t t = now_ns();
		long s;
		memcpy(&s, in, sizeof(s));
		if (s < pg->oldest || s >= pg->next || pg->ps[s].rtt || t >= pg->ps[s].sent + pg->timeout)
			continue; /* late, duplicate or foreign */
		pg->ps[s].rtt = t - pg->ps[s].sent;
		pg->rtt[pg->got++] = pg->ps[s].rtt;
		pg->outstanding--;
		if (pg->window == 1)
			pg->next_send = t + pg->interval;
	}
}

/*
 * At most `window` pings unanswered; a new one goes out `interval` after the
 * previous one (window 1: after the previous answer). A ping unanswered for
 * `timeout` is lost.
 */
static void ping_run(struct pinger *pg)
{
	pg->next_send = now_ns();
	while (pg->oldest < pg->count) {
		uint64_t now = now_ns(), wake;
		bool may_send;

		retire(pg, now);
		if (pg->oldest >= pg->count)
			break;
		may_send = pg->next < pg->count && pg->outstanding < pg->window;
		if (may_send && now >= pg->next_send) {
			send_ping(pg, now);
			continue;
		}
		wake = pg->oldest < pg->next ? pg->ps[pg->oldest].sent + pg->timeout : UINT64_MAX;
		if (may_send && pg->next_send < wake)
			wake = pg->next_send;
		if (wake == UINT64_MAX)
			wake = now + 1000000ULL;
		if (wake > now && wait_readable(pg->u.fd, (int)((wake - now + 999999) / 1000000ULL)) <= 0)
			continue;
		recv_answers(pg);
	}
}

/* --samples: every answered ping's RTT in us, one per line, in send order. */
static int write_samples(const struct pinger *pg, const char *path)
{
	FILE *f = fopen(path, "w");

	if (!f) {
		fprintf(stderr, "udpping: %s: %s\n", path, strerror(errno));
		return -1;
	}
	for (long i = 0; i < pg->count; i++)
		if (pg->ps[i].rtt)
			fprintf(f, "%.1f\n", pg->ps[i].rtt / 1000.0);
	fclose(f);
	return 0;
}

static void print_stats(struct pinger *pg, int json)
{
	uint64_t *rtt = pg->rtt;
	long got = pg->got;

	qsort(rtt, (size_t)got, sizeof(*rtt), cmp_u64);
#define US(i) (rtt[(i)] / 1000.0)
	if (json)
		printf("{\"size\":%zu,\"sent\":%ld,\"received\":%ld,\"lost\":%ld,\"send_errors\":%ld,"
		       "\"min_us\":%.1f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"max_us\":%.1f,\"span_ms\":%.1f}\n",
		       pg->size, pg->count, got, pg->lost, pg->send_errors, US(0), US(got / 2),
		       US(got * 99 / 100), US(got - 1), (now_ns() - pg->t_first) / 1e6);
	else
		printf("size %zu: %ld/%ld answered, rtt min %.1f p50 %.1f p99 %.1f max %.1f us\n",
		       pg->size, got, pg->count, US(0), US(got / 2), US(got * 99 / 100), US(got - 1));
#undef US
}

static int ping_main(const struct zt_addr *to, size_t size, long count, long interval_us,
		     long window, int timeout_ms, int json, const char *samples)
{
	static const uint8_t v4_loop[4] = { 127, 0, 0, 1 };
	struct zt_addr any = { .family = to->family };
	struct pinger *pg = calloc(1, sizeof(*pg));
	int n, rc = 1;

	if (!pg)
		return 1;
	*pg = (struct pinger){ .to = to, .size = size, .count = count, .window = window,
			       .interval = (uint64_t)interval_us * 1000ULL,
			       .timeout = (uint64_t)timeout_ms * 1000000ULL };
	pg->ps = calloc((size_t)count, sizeof(*pg->ps));
	pg->rtt = calloc((size_t)count, sizeof(*pg->rtt));
	if (!pg->ps || !pg->rtt || size < 16 || size > sizeof(pg->out) || window < 1)
		goto out_free;
	/* on loopback stay on loopback; elsewhere (a lab namespace) any local address */
	if (zt_addr_is_loopback(to) && to->family == AF_INET)
		zt_addr_set_v4(&any, v4_loop, 0);
	if ((n = zt_udp_open(&pg->u, &any)) < 0) {
		fprintf(stderr, "udpping: socket: %s\n", strerror(-n));
		goto out_free;
	}
	memset(pg->out, 0x5a, size);
	ping_run(pg);
	zt_udp_close(&pg->u);
	if (samples && write_samples(pg, samples) < 0)
		goto out_free;
	if (pg->got == 0) {
		fprintf(stderr, "udpping: no answer from the peer\n");
		goto out_free;
	}
	print_stats(pg, json);
	rc = 0;
out_free:
	free(pg->rtt);
	free(pg->ps);
	free(pg);
	return rc;
}

int main(int argc, char **argv)
{
	struct zt_addr addr = { 0 };
	size_t size = 64;
	long count = 1000, interval = 0, window = 1;
	const char *samples = NULL;
	int timeout_ms = 1000, json = 0, have_addr = 0, count_set = 0;
	double d;
	long n;

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
			if (bench_count(v, 65507, &n) < 0)
				goto usage;
			size = (size_t)n;
		} else if (!strcmp(a, "--count")) {
			if (bench_count(v, 1000000000, &count) < 0)
				goto usage;
			count_set = 1;
		} else if (!strcmp(a, "--interval")) {
			if (bench_duration(v, ZT_US, &d) < 0)
				goto usage;
			interval = (long)(d * 1e6 + 0.5);
		} else if (!strcmp(a, "--window")) {
			if (bench_count(v, 100000, &window) < 0)
				goto usage;
		} else if (!strcmp(a, "--samples")) {
			samples = v;
		} else if (!strcmp(a, "--timeout")) {
			if (bench_duration(v, ZT_MS, &d) < 0)
				goto usage;
			timeout_ms = (int)(d * 1e3 + 0.5);
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
