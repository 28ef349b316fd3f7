#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "core/addr.h"
#include "core/err.h"
#include "core/units.h"
#include "core/wire.h"
#include "io/clock.h"
#include "io/loop.h"
#include "io/udp.h"
#include "probe.h"

#define MAGIC 0x5a545042u /* "ZTPB" */
#define MAX_BINDS 8
#define HELLO_INTERVAL (200 * ZT_MS)
/* 15 s of tries: the tests wait 15 s for 'mapped' (5 s once went unanswered in a
 * loaded CI run under ASan) */
#define HELLO_TRIES 75

int zt_probe_encode(const struct zt_probe_msg *m, size_t total, uint8_t *buf, size_t cap)
{
	struct zt_wr w;

	if ((m->type != ZT_PROBE_REQUEST && m->type != ZT_PROBE_RESPONSE) ||
	    total < ZT_PROBE_HDR_LEN || total > ZT_PROBE_MAX_LEN)
		return -EINVAL;
	if (cap < total)
		return -ENOBUFS;
	w = zt_wr_init(buf, cap);
	zt_wr_u32(&w, MAGIC);
	zt_wr_u8(&w, (uint8_t)m->type);
	zt_wr_u8(&w, m->has_addr ? 1 : 0);
	zt_wr_u16(&w, 0);
	zt_wr_u32(&w, m->seq);
	zt_wr_u64(&w, m->sent_ns);
	zt_wr_u32(&w, m->has_addr ? m->ip : 0);
	zt_wr_u16(&w, m->has_addr ? m->port : 0);
	zt_wr_u16(&w, 0);
	zt_wr_u32(&w, 0);
	zt_wr_zeros(&w, total - ZT_PROBE_HDR_LEN);
	return zt_wr_finish(&w);
}

int zt_probe_decode(struct zt_probe_msg *ret, const uint8_t *buf, size_t len)
{
	struct zt_rd r = zt_rd_init(buf, len);
	uint32_t magic = 0, ip = 0, rsv32 = 0, hi = 0, lo = 0;
	uint8_t type = 0, flags = 0;
	uint16_t rsv = 0, port = 0, rsv2 = 0;
	struct zt_probe_msg m = { 0 };

	if (len < ZT_PROBE_HDR_LEN)
		return ZT_ETRUNC;
	/* the header is all there: none of these reads can fail */
	zt_rd_u32(&r, &magic);
	zt_rd_u8(&r, &type);
	zt_rd_u8(&r, &flags);
	zt_rd_u16(&r, &rsv);
	zt_rd_u32(&r, &m.seq);
	zt_rd_u32(&r, &hi);
	zt_rd_u32(&r, &lo);
	zt_rd_u32(&r, &ip);
	zt_rd_u16(&r, &port);
	zt_rd_u16(&r, &rsv2);
	zt_rd_u32(&r, &rsv32);
	m.sent_ns = (uint64_t)hi << 32 | lo;
	if (magic != MAGIC || (type != ZT_PROBE_REQUEST && type != ZT_PROBE_RESPONSE) ||
	    (flags & ~1u) || rsv || rsv2 || rsv32)
		return ZT_EMALFORMED;
	m.type = (enum zt_probe_type)type;
	m.has_addr = flags & 1;
	if (m.has_addr) {
		m.ip = ip;
		m.port = port;
	}
	*ret = m;
	return 0;
}

/* "IP:PORT", "IP" (port dflt) or "PORT" (0.0.0.0). */
static int parse_endpoint(const char *text, uint16_t dflt, struct zt_addr *ret)
{
	char *end;
	unsigned long port;

	if (!strchr(text, '.') && !strchr(text, ':')) {
		port = strtoul(text, &end, 10);
		if (*end || !*text || port > 65535)
			return ZT_ESYNTAX;
		return zt_addr_parse(ret, "0.0.0.0", (uint16_t)port);
	}
	return zt_addr_parse(ret, text, dflt);
}

static uint32_t addr_ip4(const struct zt_addr *a)
{
	return (uint32_t)a->ip[0] << 24 | (uint32_t)a->ip[1] << 16 | (uint32_t)a->ip[2] << 8 | a->ip[3];
}

static void set_ip4(struct zt_addr *a, uint32_t ip, uint16_t port)
{
	uint8_t b[4] = { (uint8_t)(ip >> 24), (uint8_t)(ip >> 16), (uint8_t)(ip >> 8), (uint8_t)ip };

	zt_addr_set_v4(a, b, port);
}

/* ---- udp-echo ---- */

struct echo {
	struct zt_loop *loop;
	struct zt_udp sock[MAX_BINDS];
	struct zt_watch watch[MAX_BINDS];
	unsigned nsock;
	bool log;
	uint64_t served, refused;
	/* --hello: learn our own mapping from another echo */
	struct zt_addr hello_to;
	bool hello, hello_done;
	unsigned hello_tries;
	struct zt_timer hello_timer;
	uint8_t buf[ZT_PROBE_MAX_LEN + 1];
};

static void echo_send_hello(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct echo *e = t->data;
	struct zt_probe_msg m = { .type = ZT_PROBE_REQUEST, .seq = e->hello_tries, .sent_ns = now };
	uint8_t buf[ZT_PROBE_HDR_LEN];

	if (e->hello_done)
		return;
	if (e->hello_tries++ == HELLO_TRIES) {
		printf("hello unanswered\n");
		fflush(stdout);
		return;
	}
	zt_probe_encode(&m, sizeof(buf), buf, sizeof(buf));
	zt_udp_send(&e->sock[0], &e->hello_to, NULL, buf, sizeof(buf));
	zt_timer_set(loop, t, now + HELLO_INTERVAL);
}

static void echo_on_readable(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct echo *e = w->data;
	struct zt_udp *u = &e->sock[w - e->watch];
	uint8_t *buf = e->buf, out[ZT_PROBE_HDR_LEN];
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];

	(void)loop;
	(void)revents;
	(void)now;
	for (;;) {
		struct zt_addr from, to, mapped;
		struct zt_probe_msg m;
		struct zt_udp *via = u;
		int n = zt_udp_recv(u, buf, sizeof(e->buf), &from, &to);

		if (n == -EAGAIN)
			break;
		if (n < 0 || zt_probe_decode(&m, buf, (size_t)n) < 0 || from.family != AF_INET)
			continue;
		if (m.type == ZT_PROBE_RESPONSE) {
			if (e->hello && !e->hello_done && m.has_addr) {
				set_ip4(&mapped, m.ip, m.port);
				printf("mapped %s\n", zt_addr_str(&mapped, a));
				fflush(stdout);
				e->hello_done = true;
			}
			continue;
		}
		if (m.has_addr) {
			struct zt_addr want;

			set_ip4(&want, m.ip, m.port);
			via = NULL;
			for (unsigned i = 0; i < e->nsock; i++)
				if (zt_addr_equal(&e->sock[i].local, &want))
					via = &e->sock[i];
			if (!via) {
				e->refused++;
				continue;
			}
		}
		m.type = ZT_PROBE_RESPONSE;
		m.has_addr = true;
		m.ip = addr_ip4(&from);
		m.port = from.port;
		zt_probe_encode(&m, sizeof(out), out, sizeof(out));
		/* answer from the address the request reached (the socket may be a wildcard) */
		zt_udp_send(via, &from, via == u ? &to : NULL, out, sizeof(out));
		e->served++;
		if (e->log) {
			printf("request seq=%u from=%s to=%s\n", m.seq, zt_addr_str(&from, a),
			       zt_addr_str(via == u ? &to : &via->local, b));
			fflush(stdout);
		}
	}
}

static void echo_usage(FILE *f)
{
	fprintf(f, "usage: ztna-lab udp-echo --bind [IP:]PORT [--bind [IP:]PORT]... "
		   "[--hello IP:PORT] [--log]\n"
		   "  Answers each probe request with the source address it came from, from the\n"
		   "  socket the request names (--reply-from of udp-probe) or else the one it reached.\n"
		   "  --hello: send requests from the first socket to another echo until one is\n"
		   "  answered, and print 'mapped IP:PORT' (this socket's public mapping).\n"
		   "  Runs until SIGINT/SIGTERM, then prints 'served N'.\n");
}

int zt_probe_echo_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "bind", required_argument, NULL, 'b' }, { "hello", required_argument, NULL, 'H' },
		{ "log", no_argument, NULL, 'l' },        { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	struct echo *e = calloc(1, sizeof(*e));
	struct zt_addr binds[MAX_BINDS];
	unsigned nbind = 0;
	char a[ZT_ADDR_STRLEN];
	int c, rc = 2;

	if (!e)
		return 1;
	while ((c = getopt_long(argc, argv, "b:H:lh", opts, NULL)) != -1) {
		switch (c) {
		case 'b':
			if (nbind == MAX_BINDS || parse_endpoint(optarg, 0, &binds[nbind]) < 0 ||
			    binds[nbind].family != AF_INET || binds[nbind].port == 0) {
				fprintf(stderr, "udp-echo: --bind wants [IPv4:]PORT (at most %d), got '%s'\n",
					MAX_BINDS, optarg);
				goto out_free;
			}
			nbind++;
			break;
		case 'H':
			if (zt_addr_parse(&e->hello_to, optarg, 0) < 0 || !e->hello_to.port) {
				fprintf(stderr, "udp-echo: --hello wants IP:PORT, got '%s'\n", optarg);
				goto out_free;
			}
			e->hello = true;
			break;
		case 'l':
			e->log = true;
			break;
		case 'h':
			echo_usage(stdout);
			rc = 0;
			goto out_free;
		default:
			echo_usage(stderr);
			goto out_free;
		}
	}
	if (!nbind || optind != argc) {
		echo_usage(stderr);
		goto out_free;
	}
	rc = 1;
	if (zt_loop_new(&e->loop) < 0)
		goto out_free;
	for (; e->nsock < nbind; e->nsock++) {
		int r = zt_udp_open(&e->sock[e->nsock], &binds[e->nsock]);

		if (r < 0) {
			fprintf(stderr, "udp-echo: bind %s: %s\n", zt_addr_str(&binds[e->nsock], a),
				zt_strerror(r));
			goto out_close;
		}
		e->watch[e->nsock] = (struct zt_watch){ .fd = e->sock[e->nsock].fd, .events = EPOLLIN,
							.cb = echo_on_readable, .data = e };
		if (zt_loop_add(e->loop, &e->watch[e->nsock]) < 0) {
			e->nsock++;
			goto out_close;
		}
		printf("listening %s\n", zt_addr_str(&e->sock[e->nsock].local, a));
	}
	fflush(stdout);
	if (zt_loop_catch_signals(e->loop, NULL, NULL) < 0)
		goto out_close;
	zt_timer_init(&e->hello_timer, echo_send_hello, e);
	if (e->hello)
		zt_timer_set(e->loop, &e->hello_timer, zt_clock_now());
	rc = zt_loop_run(e->loop) < 0 ? 1 : 0;
	printf("served %llu refused %llu\n", (unsigned long long)e->served,
	       (unsigned long long)e->refused);
out_close:
	for (unsigned i = 0; i < e->nsock; i++)
		zt_udp_close(&e->sock[i]);
	zt_loop_free(e->loop);
out_free:
	free(e);
	return rc;
}

/* ---- udp-probe ---- */

struct prober {
	struct zt_loop *loop;
	struct zt_udp sock;
	struct zt_watch watch;
	struct zt_timer timer;
	struct zt_addr to, reply_from;
	bool has_reply_from, quiet, done_sending;
	uint32_t count, sent, received, send_errors;
	uint64_t interval, wait;
	size_t size;
	uint64_t *sent_at;     /* per seq; 0: not sent */
	uint64_t *rtt;         /* per received reply */
	bool *seen;
	uint64_t first_rx, last_rx;
	struct zt_addr mapped, from;
	uint8_t *buf;
};

static int send_one(struct prober *p, uint64_t now)
{
	struct zt_probe_msg m = { .type = ZT_PROBE_REQUEST, .seq = p->sent, .sent_ns = now };
	int rc;

	if (p->has_reply_from) {
		m.has_addr = true;
		m.ip = addr_ip4(&p->reply_from);
		m.port = p->reply_from.port;
	}
	zt_probe_encode(&m, p->size, p->buf, p->size);
	p->sent_at[p->sent] = zt_clock_now();
	for (;;) {
		rc = zt_udp_send(&p->sock, &p->to, NULL, p->buf, p->size);
		if (rc != -EAGAIN)
			break;
		poll(&(struct pollfd){ .fd = p->sock.fd, .events = POLLOUT }, 1, 100);
	}
	if (rc < 0) {
		p->sent_at[p->sent] = 0;
		if (p->send_errors++ == 0)
			fprintf(stderr, "udp-probe: send: %s\n", zt_strerror(rc));
	}
	p->sent++;
	return rc;
}

static void probe_tick(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct prober *p = t->data;

	if (p->done_sending) {
		zt_loop_stop(loop);
		return;
	}
	do
		send_one(p, now);
	while (p->interval == 0 && p->sent < p->count);
	if (p->sent == p->count) {
		p->done_sending = true;
		if (p->received == p->sent - p->send_errors) {
			zt_loop_stop(loop);
			return;
		}
		zt_timer_set(loop, t, now + p->wait);
	} else {
		zt_timer_set(loop, t, t->deadline + p->interval);
	}
}

static void probe_on_readable(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct prober *p = w->data;
	uint8_t buf[2048];
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];

	(void)revents;
	for (;;) {
		struct zt_addr from;
		struct zt_probe_msg m;
		int n = zt_udp_recv(&p->sock, buf, sizeof(buf), &from, NULL);
		uint64_t rtt;

		if (n == -EAGAIN)
			break;
		if (n < 0 || zt_probe_decode(&m, buf, (size_t)n) < 0 || m.type != ZT_PROBE_RESPONSE ||
		    m.seq >= p->sent || !p->sent_at[m.seq] || p->seen[m.seq] || !m.has_addr)
			continue;
		p->seen[m.seq] = true;
		now = zt_clock_now(); /* not the tick's time: earlier replies took a while to print */
		rtt = now > p->sent_at[m.seq] ? now - p->sent_at[m.seq] : 0;
		p->rtt[p->received++] = rtt;
		if (!p->first_rx)
			p->first_rx = now;
		p->last_rx = now;
		set_ip4(&p->mapped, m.ip, m.port);
		p->from = from;
		if (!p->quiet)
			printf("reply seq=%u from=%s mapped=%s rtt_us=%.1f\n", m.seq,
			       zt_addr_str(&from, a), zt_addr_str(&p->mapped, b), (double)rtt / 1e3);
	}
	if (p->done_sending && p->received == p->sent - p->send_errors)
		zt_loop_stop(loop); /* every reply is in: no need to wait */
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void probe_summary(struct prober *p)
{
	char a[ZT_ADDR_STRLEN] = "-", b[ZT_ADDR_STRLEN] = "-";
	double sum = 0;
	uint32_t ok = p->sent - p->send_errors;

	if (p->received) {
		zt_addr_str(&p->mapped, a);
		zt_addr_str(&p->from, b);
	}
	printf("summary sent=%u received=%u lost=%u loss_pct=%.2f send_errors=%u mapped=%s from=%s",
	       ok, p->received, ok - p->received,
	       ok ? 100.0 * (ok - p->received) / ok : 0.0, p->send_errors, a, b);
	if (p->received) {
		qsort(p->rtt, p->received, sizeof(p->rtt[0]), cmp_u64);
		for (uint32_t i = 0; i < p->received; i++)
			sum += (double)p->rtt[i];
		printf(" rtt_min_us=%.1f rtt_p50_us=%.1f rtt_avg_us=%.1f rtt_p99_us=%.1f rtt_max_us=%.1f"
		       " span_us=%.1f",
		       (double)p->rtt[0] / 1e3, (double)p->rtt[(p->received - 1) / 2] / 1e3,
		       sum / p->received / 1e3, (double)p->rtt[(p->received - 1) * 99 / 100] / 1e3,
		       (double)p->rtt[p->received - 1] / 1e3, (double)(p->last_rx - p->first_rx) / 1e3);
	}
	printf("\n");
}

static void probe_usage(FILE *f)
{
	fprintf(f, "usage: ztna-lab udp-probe --to IP:PORT [--local [IP:]PORT] [--count N]\n"
		   "         [--interval MS] [--wait MS] [--size BYTES] [--df] [--reply-from IP:PORT] [--quiet]\n"
		   "  Sends N requests (default 1) to a udp-echo, every MS ms (default 100; 0: all at\n"
		   "  once), waits up to --wait ms (default 1000) after the last for the missing\n"
		   "  replies, prints one line per reply\n"
		   "  and a summary line of key=value pairs. --reply-from asks the echo to answer from\n"
		   "  another of its sockets. --size pads requests to BYTES (UDP payload, >= %d);\n"
		   "  --df forbids fragmentation. Exit 0 when a reply came, 1 when none, 2 on misuse.\n",
		ZT_PROBE_HDR_LEN);
}

static int parse_num(const char *s, unsigned long max, unsigned long *ret)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || *end || !*s || v > max || s[0] == '-')
		return -1;
	*ret = v;
	return 0;
}

/* udp-probe's command line into p, local and df. Returns -1 to go on, else the exit
 * status (the usage or the bad value printed). */
static int probe_parse(int argc, char **argv, struct prober *p, struct zt_addr *local, bool *df)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, 't' },       { "local", required_argument, NULL, 'L' },
		{ "count", required_argument, NULL, 'c' },    { "interval", required_argument, NULL, 'i' },
		{ "wait", required_argument, NULL, 'w' },     { "size", required_argument, NULL, 's' },
		{ "df", no_argument, NULL, 'd' },             { "reply-from", required_argument, NULL, 'r' },
		{ "quiet", no_argument, NULL, 'q' },          { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	bool have_to = false;
	unsigned long v;
	int c;

	while ((c = getopt_long(argc, argv, "t:L:c:i:w:s:dr:qh", opts, NULL)) != -1) {
		switch (c) {
		case 't':
			if (zt_addr_parse(&p->to, optarg, 0) < 0 || !p->to.port || p->to.family != AF_INET)
				goto bad;
			have_to = true;
			break;
		case 'L':
			if (parse_endpoint(optarg, 0, local) < 0 || local->family != AF_INET)
				goto bad;
			break;
		case 'c':
			if (parse_num(optarg, 1000000, &v) || v == 0)
				goto bad;
			p->count = (uint32_t)v;
			break;
		case 'i':
			if (parse_num(optarg, 3600000, &v))
				goto bad;
			p->interval = v * ZT_MS;
			break;
		case 'w':
			if (parse_num(optarg, 3600000, &v))
				goto bad;
			p->wait = v * ZT_MS;
			break;
		case 's':
			if (parse_num(optarg, ZT_PROBE_MAX_LEN, &v) || v < ZT_PROBE_HDR_LEN)
				goto bad;
			p->size = v;
			break;
		case 'd':
			*df = true;
			break;
		case 'r':
			if (zt_addr_parse(&p->reply_from, optarg, 0) < 0 || !p->reply_from.port ||
			    p->reply_from.family != AF_INET)
				goto bad;
			p->has_reply_from = true;
			break;
		case 'q':
			p->quiet = true;
			break;
		case 'h':
			probe_usage(stdout);
			return 0;
		default:
			probe_usage(stderr);
			return 2;
		}
	}
	if (!have_to || optind != argc) {
		probe_usage(stderr);
		return 2;
	}
	return -1;
bad:
	fprintf(stderr, "udp-probe: bad value for --%s: '%s'\n",
		c == 't' ? "to" : c == 'L' ? "local" : c == 'c' ? "count" : c == 'i' ? "interval" :
		c == 'w' ? "wait" : c == 's' ? "size" : "reply-from", optarg);
	return 2;
}

int zt_probe_probe_main(int argc, char **argv)
{
	struct prober p = { .count = 1, .interval = 100 * ZT_MS, .wait = 1000 * ZT_MS,
			    .size = ZT_PROBE_HDR_LEN };
	struct zt_addr local;
	bool df = false;
	char a[ZT_ADDR_STRLEN];
	int rc, err;

	zt_addr_parse(&local, "0.0.0.0", 0);
	rc = probe_parse(argc, argv, &p, &local, &df);
	if (rc >= 0)
		return rc;
	rc = 1;
	p.sent_at = calloc(p.count, sizeof(*p.sent_at));
	p.rtt = calloc(p.count, sizeof(*p.rtt));
	p.seen = calloc(p.count, sizeof(*p.seen));
	p.buf = malloc(p.size);
	if (!p.sent_at || !p.rtt || !p.seen || !p.buf || zt_loop_new(&p.loop) < 0)
		goto out_free;
	if ((err = zt_udp_open(&p.sock, &local)) < 0) {
		fprintf(stderr, "udp-probe: bind %s: %s\n", zt_addr_str(&local, a), zt_strerror(err));
		goto out_loop;
	}
	if (!df) {
		int pmtu = IP_PMTUDISC_DONT;

		setsockopt(p.sock.fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu, sizeof(pmtu));
	}
	p.watch = (struct zt_watch){ .fd = p.sock.fd, .events = EPOLLIN, .cb = probe_on_readable,
				     .data = &p };
	if (zt_loop_add(p.loop, &p.watch) < 0 || zt_loop_catch_signals(p.loop, NULL, NULL) < 0)
		goto out_close;
	zt_timer_init(&p.timer, probe_tick, &p);
	zt_timer_set(p.loop, &p.timer, zt_clock_now());
	zt_loop_run(p.loop);
	probe_summary(&p);
	rc = p.received ? 0 : 1;
out_close:
	zt_udp_close(&p.sock);
out_loop:
	zt_loop_free(p.loop);
out_free:
	free(p.sent_at);
	free(p.rtt);
	free(p.seen);
	free(p.buf);
	return rc;
}
