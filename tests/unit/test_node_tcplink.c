/*
 * node/tcplink.h: TCP direct links without sockets: the CONNECT and CLOSE requests an
 * owner would carry out (a later attempt time, attempt timeouts and retries, give_up,
 * failed attempts), two tables' PKT records crossing (whole and byte by byte), framing
 * errors, keepalive PING/PONG and the RTT, dead_after and idle_close, out_max, the
 * buffers held only while bytes wait, the table's limits, and a callback that closes
 * its link from inside cb.packet.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/units.h"
#include "node/tcplink.h"

#define T0 (1000 * ZT_SEC)

struct end {
	struct zt_tcplinks *t;
	unsigned ups, downs, packets;
	uint32_t up_id, down_id;
	int down_err;
	uint32_t session;
	uint8_t pkt[ZT_TCPLINK_PKT_MAX];
	size_t len, bytes;
	bool close_in_packet;   /* cb.packet closes its link */
	int recv_in_packet;     /* what a recv of the same link from cb.packet returned */
	bool want_in_down;      /* cb.down wants the same remote again */
	uint32_t wanted;
};

static struct zt_addr addr(uint8_t last, uint16_t port)
{
	struct zt_addr a;
	const uint8_t ip[4] = { 192, 0, 2, last };

	zt_addr_set_v4(&a, ip, port);
	return a;
}

static void on_up(void *arg, uint64_t now, uint32_t link)
{
	struct end *e = arg;
	(void)now;
	e->ups++;
	e->up_id = link;
}

static void on_down(void *arg, uint64_t now, uint32_t link, int err)
{
	struct end *e = arg;
	struct zt_addr l = addr(1, 4000), r = addr(2, 5000);

	e->downs++;
	e->down_id = link;
	e->down_err = err;
	assert_int_equal(zt_tcplinks_up(e->t, link), false);
	if (e->want_in_down)
		e->wanted = (uint32_t)zt_tcplinks_want(e->t, now, now, &l, &r);
}

static void on_packet(void *arg, uint64_t now, uint32_t link, uint32_t session,
		      const uint8_t *pkt, size_t len)
{
	struct end *e = arg;

	e->packets++;
	e->session = session;
	memcpy(e->pkt, pkt, len);
	e->len = len;
	e->bytes += len;
	if (e->close_in_packet) {
		zt_tcplinks_close(e->t, now, link);
		/* the record it was given stays readable until it returns */
		assert_int_equal(pkt[len - 1], e->pkt[len - 1]);
		assert_int_equal(zt_tcplinks_recv(e->t, now, link, pkt, 1), -ENOENT);
	} else {
		e->recv_in_packet = zt_tcplinks_recv(e->t, now, link, pkt, 1);
	}
}

static const struct zt_tcplink_callbacks cb = {
	.up = on_up,
	.down = on_down,
	.packet = on_packet,
};

static void end_new(struct end *e, const struct zt_tcplink_config *base)
{
	struct zt_tcplink_config cfg = base ? *base : (struct zt_tcplink_config){ 0 };

	memset(e, 0, sizeof(*e));
	cfg.cb = &cb;
	cfg.arg = e;
	assert_int_equal(zt_tcplinks_new(&e->t, &cfg), 0);
}

/* The next request is op for id (and nothing else when none). */
static void expect_req(struct end *e, uint64_t now, int op, uint32_t id)
{
	struct zt_tcplink_req r;

	if (op < 0) {
		assert_int_equal(zt_tcplinks_poll_req(e->t, now, &r), 0);
		return;
	}
	assert_int_equal(zt_tcplinks_poll_req(e->t, now, &r), 1);
	assert_int_equal(r.op, op);
	assert_int_equal(r.id, id);
}

/* A link to 192.0.2.<last>:5000 from 192.0.2.1:4000, connected at now. */
static uint32_t link_up(struct end *e, uint64_t now, uint8_t last)
{
	struct zt_addr l = addr(1, 4000), r = addr(last, 5000);
	int id = zt_tcplinks_want(e->t, now, now, &l, &r);

	assert_true(id > 0);
	expect_req(e, now, ZT_TCPLINK_CONNECT, (uint32_t)id);
	expect_req(e, now, -1, 0);
	zt_tcplinks_connected(e->t, now, (uint32_t)id);
	assert_true(zt_tcplinks_up(e->t, (uint32_t)id));
	return (uint32_t)id;
}

/* Takes everything waiting on a's link into buf (marked sent). */
static size_t drain(struct end *a, uint64_t now, uint32_t id, uint8_t *buf, size_t cap)
{
	const uint8_t *p;
	size_t n = zt_tcplinks_output(a->t, id, &p);

	assert_true(n <= cap);
	memcpy(buf, p, n);
	zt_tcplinks_sent(a->t, now, id, n);
	assert_int_equal(zt_tcplinks_output(a->t, id, &p), 0);
	return n;
}

static struct zt_tcplink_info info(struct end *e, uint32_t id)
{
	struct zt_tcplink_info i;

	assert_int_equal(zt_tcplinks_info(e->t, id, &i), 0);
	return i;
}

static void later_attempt_connects_then(void **state)
{
	struct end e;
	struct zt_addr l = addr(1, 4000), r = addr(2, 5000);
	struct zt_tcplink_req req;
	int id;
	(void)state;

	end_new(&e, NULL);
	id = zt_tcplinks_want(e.t, T0, T0 + 3 * ZT_SEC, &l, &r);
	assert_true(id > 0);
	assert_int_equal(info(&e, (uint32_t)id).state, ZT_TCPLINK_WAITING);
	assert_int_equal(zt_tcplinks_next_deadline(e.t), T0 + 3 * ZT_SEC);
	expect_req(&e, T0 + 3 * ZT_SEC - 1, -1, 0);
	assert_int_equal(zt_tcplinks_poll_req(e.t, T0 + 3 * ZT_SEC, &req), 1);
	assert_int_equal(req.op, ZT_TCPLINK_CONNECT);
	assert_int_equal(req.id, (uint32_t)id);
	assert_true(zt_addr_equal(&req.local, &l) && zt_addr_equal(&req.remote, &r));
	expect_req(&e, T0 + 3 * ZT_SEC, -1, 0);
	assert_int_equal(info(&e, (uint32_t)id).state, ZT_TCPLINK_CONNECTING);
	assert_int_equal(e.ups, 0);
	zt_tcplinks_connected(e.t, T0 + 3100 * ZT_MS, (uint32_t)id);
	assert_int_equal(e.ups, 1);
	assert_int_equal(e.up_id, (uint32_t)id);
	assert_int_equal(info(&e, (uint32_t)id).state, ZT_TCPLINK_UP);
	assert_int_equal(info(&e, (uint32_t)id).up_since, T0 + 3100 * ZT_MS);
	assert_int_equal(info(&e, (uint32_t)id).attempts, 1);
	/* a second connected() changes nothing */
	zt_tcplinks_connected(e.t, T0 + 3200 * ZT_MS, (uint32_t)id);
	assert_int_equal(e.ups, 1);
	zt_tcplinks_free(e.t);
}

static void table_limits(void **state)
{
	struct end e;
	struct zt_tcplink_config cfg = { .max_links = 2 };
	struct zt_addr l = addr(1, 4000), r2 = addr(2, 5000), r3 = addr(3, 5000);
	struct zt_addr r4 = addr(4, 5000), noport = addr(5, 0);
	int a, b;
	(void)state;

	assert_int_equal(zt_tcplinks_new(&e.t, &cfg), -EINVAL); /* no callbacks */
	end_new(&e, &cfg);
	a = zt_tcplinks_want(e.t, T0, T0 + ZT_SEC, &l, &r2);
	assert_int_equal(a, 1);
	assert_int_equal(zt_tcplinks_want(e.t, T0, T0, &l, &r2), a);
	assert_int_equal(zt_tcplinks_find(e.t, &r2), (uint32_t)a);
	assert_int_equal(zt_tcplinks_find(e.t, &r3), 0);
	assert_int_equal(zt_tcplinks_want(e.t, T0, T0, &l, &noport), -EINVAL);
	assert_int_equal(zt_tcplinks_want(e.t, T0, T0, &noport, &r3), -EINVAL);
	b = zt_tcplinks_want(e.t, T0, T0, &l, &r3);
	assert_int_equal(b, 2);
	assert_int_equal(zt_tcplinks_want(e.t, T0, T0, &l, &r4), -ENOSPC);
	assert_int_equal(zt_tcplinks_count(e.t), 2);
	/* a forgotten link's CLOSE holds its place until it is polled */
	expect_req(&e, T0, ZT_TCPLINK_CONNECT, (uint32_t)b);
	zt_tcplinks_close(e.t, T0, (uint32_t)b);
	assert_int_equal(e.downs, 1);
	assert_int_equal(e.down_err, 0);
	assert_int_equal(zt_tcplinks_count(e.t), 1);
	assert_int_equal(zt_tcplinks_info(e.t, (uint32_t)b, &(struct zt_tcplink_info){ 0 }),
			 -ENOENT);
	assert_int_equal(zt_tcplinks_want(e.t, T0, T0 + ZT_SEC, &l, &r4), -ENOSPC);
	expect_req(&e, T0, ZT_TCPLINK_CLOSE, (uint32_t)b);
	/* ids are never used again */
	assert_int_equal(zt_tcplinks_want(e.t, T0, T0 + ZT_SEC, &l, &r3), 3);
	zt_tcplinks_free(e.t);
	zt_tcplinks_free(NULL);
}

static void records_cross(void **state)
{
	struct end a, b;
	uint8_t pkt[ZT_TCPLINK_PKT_MAX + 2], wire[3 * (ZT_TCPLINK_PKT_HDR + ZT_TCPLINK_PKT_MAX)];
	const size_t sizes[] = { 1, ZT_TCPLINK_PKT_MAX, 100 };
	uint32_t la, lb;
	size_t n;
	(void)state;

	for (size_t i = 0; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)(i * 7 + 3);
	end_new(&a, NULL);
	end_new(&b, NULL);
	la = link_up(&a, T0, 2);
	lb = link_up(&b, T0, 3);
	assert_int_equal(zt_tcplinks_send(a.t, la, 0, pkt, 10), -EINVAL);
	assert_int_equal(zt_tcplinks_send(a.t, la, 1, pkt, 0), -EINVAL);
	assert_int_equal(zt_tcplinks_send(a.t, la, 1, pkt, ZT_TCPLINK_PKT_MAX + 1), -EINVAL);
	assert_int_equal(zt_tcplinks_send(a.t, 99, 1, pkt, 1), -ENOENT);
	/* whole: three records in one read, each a callback with its session and bytes */
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(zt_tcplinks_send(a.t, la, 0x80000001u + i, pkt, sizes[i]), 0);
	n = drain(&a, T0 + ZT_MS, la, wire, sizeof(wire));
	assert_int_equal(n, 3 * ZT_TCPLINK_PKT_HDR + 1 + ZT_TCPLINK_PKT_MAX + 100);
	const uint8_t hdr[] = { 0x01, 0x80, 0x00, 0x00, 0x01, 0x00, 0x01, 3 }; /* PKT, s, len 1 */
	assert_memory_equal(wire, hdr, sizeof(hdr));
	assert_int_equal(zt_tcplinks_recv(b.t, T0 + 2 * ZT_MS, lb, wire, n), 0);
	assert_int_equal(b.packets, 3);
	assert_int_equal(b.session, 0x80000003u);
	assert_int_equal(b.len, 100);
	assert_memory_equal(b.pkt, pkt, 100);
	assert_int_equal(b.bytes, 1 + ZT_TCPLINK_PKT_MAX + 100);
	assert_int_equal(b.recv_in_packet, -EBUSY);
	/* byte by byte the other way: each callback once its last byte is in */
	for (size_t i = 0; i < 3; i++)
		assert_int_equal(zt_tcplinks_send(b.t, lb, 7 + (uint32_t)i, pkt + i, sizes[i]), 0);
	n = drain(&b, T0 + 3 * ZT_MS, lb, wire, sizeof(wire));
	for (size_t i = 0; i < n; i++) {
		assert_int_equal(zt_tcplinks_recv(a.t, T0 + 4 * ZT_MS, la, wire + i, 1), 0);
		if (i == ZT_TCPLINK_PKT_HDR + 1 + 10) {
			assert_int_equal(a.packets, 1);
			assert_int_equal(info(&a, la).in_partial, 11);
		}
	}
	assert_int_equal(a.packets, 3);
	assert_int_equal(a.session, 9);
	assert_int_equal(a.len, 100);
	assert_memory_equal(a.pkt, pkt + 2, 100);
	assert_int_equal(info(&a, la).in_partial, 0);
	assert_int_equal(info(&a, la).pkts_in, 3);
	assert_int_equal(info(&a, la).pkts_out, 3);
	assert_int_equal(info(&a, la).bytes_out, 1 + ZT_TCPLINK_PKT_MAX + 100);
	assert_int_equal(info(&a, la).out_queued, 0);
	zt_tcplinks_free(a.t);
	zt_tcplinks_free(b.t);
}

static void attempts_retry_and_give_up(void **state)
{
	struct end e;
	struct zt_addr l = addr(1, 4000), r = addr(2, 5000);
	uint64_t at = T0;
	uint32_t id;
	(void)state;

	end_new(&e, NULL);
	id = (uint32_t)zt_tcplinks_want(e.t, T0, T0, &l, &r);
	/* attempts at 0, 1.7, 3.4 and 5.1 s, each closed after 1.5 s; none at 6.8 s */
	for (int k = 0; k < 4; k++) {
		expect_req(&e, at, ZT_TCPLINK_CONNECT, id);
		assert_int_equal(info(&e, id).attempts, k + 1);
		assert_int_equal(zt_tcplinks_next_deadline(e.t), at + 1500 * ZT_MS);
		expect_req(&e, at + 1500 * ZT_MS - 1, -1, 0);
		expect_req(&e, at + 1500 * ZT_MS, ZT_TCPLINK_CLOSE, id);
		if (k == 3)
			break;
		assert_int_equal(info(&e, id).state, ZT_TCPLINK_WAITING);
		assert_int_equal(zt_tcplinks_next_deadline(e.t), at + 1700 * ZT_MS);
		expect_req(&e, at + 1700 * ZT_MS - 1, -1, 0);
		at += 1700 * ZT_MS;
	}
	assert_int_equal(e.downs, 1);
	assert_int_equal(e.down_id, id);
	assert_int_equal(e.down_err, -ETIMEDOUT);
	assert_int_equal(zt_tcplinks_count(e.t), 0);
	assert_int_equal(zt_tcplinks_find(e.t, &r), 0);
	assert_int_equal(zt_tcplinks_next_deadline(e.t), ZT_TIME_NEVER);
	expect_req(&e, at + 10 * ZT_SEC, -1, 0);
	assert_int_equal(e.ups, 0);
	zt_tcplinks_free(e.t);
}

static void unpolled_connect_is_taken_back(void **state)
{
	struct end e;
	struct zt_addr l = addr(1, 4000), r = addr(2, 5000);
	uint32_t id;
	(void)state;

	end_new(&e, NULL);
	id = (uint32_t)zt_tcplinks_want(e.t, T0, T0, &l, &r);
	/* the owner never polled the CONNECT: its attempt times out with no CLOSE */
	zt_tcplinks_on_timeout(e.t, T0 + 1500 * ZT_MS);
	assert_int_equal(info(&e, id).state, ZT_TCPLINK_WAITING);
	expect_req(&e, T0 + 1600 * ZT_MS, -1, 0);
	zt_tcplinks_connected(e.t, T0 + 1600 * ZT_MS, id); /* stale: ignored */
	assert_int_equal(e.ups, 0);
	expect_req(&e, T0 + 1700 * ZT_MS, ZT_TCPLINK_CONNECT, id);
	/* failing a closed link while its CONNECT waits: taken back, no CLOSE */
	zt_tcplinks_on_timeout(e.t, T0 + 3200 * ZT_MS);
	zt_tcplinks_on_timeout(e.t, T0 + 3400 * ZT_MS);
	zt_tcplinks_close(e.t, T0 + 3400 * ZT_MS, id);
	expect_req(&e, T0 + 3400 * ZT_MS, ZT_TCPLINK_CLOSE, id); /* the 2nd attempt's */
	expect_req(&e, T0 + 3400 * ZT_MS, -1, 0);
	assert_int_equal(e.downs, 1);
	zt_tcplinks_free(e.t);
}

static void failed_attempts_retry(void **state)
{
	struct end e;
	struct zt_addr l = addr(1, 4000), r = addr(2, 5000);
	uint64_t at = T0;
	uint32_t id;
	unsigned attempts = 0;
	(void)state;

	end_new(&e, NULL);
	id = (uint32_t)zt_tcplinks_want(e.t, T0, T0, &l, &r);
	for (; at < T0 + 6 * ZT_SEC; at += 200 * ZT_MS + ZT_MS) {
		expect_req(&e, at, ZT_TCPLINK_CONNECT, id);
		attempts++;
		zt_tcplinks_failed(e.t, at + ZT_MS, id, -ECONNREFUSED);
		/* the owner closed it: no CLOSE; the next attempt 200 ms on */
		expect_req(&e, at + 200 * ZT_MS, -1, 0);
		if (e.downs)
			break;
	}
	/* attempts every 201 ms while under 6 s from the first */
	assert_int_equal(attempts, 30);
	assert_int_equal(e.downs, 1);
	assert_int_equal(e.down_err, -ECONNREFUSED);
	assert_int_equal(zt_tcplinks_count(e.t), 0);
	/* positive errno, and a retry within give_up */
	id = (uint32_t)zt_tcplinks_want(e.t, at, at, &l, &r);
	expect_req(&e, at, ZT_TCPLINK_CONNECT, id);
	zt_tcplinks_failed(e.t, at, id, ENETUNREACH);
	assert_int_equal(info(&e, id).state, ZT_TCPLINK_WAITING);
	expect_req(&e, at + 200 * ZT_MS, ZT_TCPLINK_CONNECT, id);
	zt_tcplinks_connected(e.t, at + 300 * ZT_MS, id);
	assert_int_equal(e.ups, 1);
	assert_int_equal(info(&e, id).attempts, 2);
	zt_tcplinks_free(e.t);
}

static void framing_errors_end_the_link(void **state)
{
	static const struct {
		uint8_t b[8];
		size_t len;
	} bad[] = {
		{ { 9 }, 1 },                                     /* unknown type */
		{ { 0 }, 1 },                                     /* type 0 */
		{ { 2, 3, 1, 0, 0, 0, 0 }, 7 },                   /* PING PONG, then session 0 */
		{ { 1, 0, 0, 0, 1, 0x00, 0x00 }, 7 },             /* length 0 */
		{ { 1, 0, 0, 0, 1, 0x05, 0xdd }, 7 },             /* length 1501 */
		{ { 1, 0, 0, 0, 1, 0xff, 0xff }, 7 },             /* length 65535 */
	};
	(void)state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		for (size_t piece = 1; piece <= bad[i].len; piece += bad[i].len - 1) {
			struct end e;
			uint32_t id;
			size_t off = 0;
			int rc = 0;

			end_new(&e, NULL);
			id = link_up(&e, T0, 2);
			for (; off < bad[i].len && !rc; off += piece)
				rc = zt_tcplinks_recv(e.t, T0, id, bad[i].b + off,
						      piece < bad[i].len - off ? piece : bad[i].len - off);
			assert_int_equal(rc, -EPROTO);
			assert_int_equal(e.downs, 1);
			assert_int_equal(e.down_err, -EPROTO);
			assert_int_equal(e.packets, 0);
			assert_int_equal(zt_tcplinks_count(e.t), 0);
			expect_req(&e, T0, ZT_TCPLINK_CLOSE, id);
			expect_req(&e, T0, -1, 0);
			assert_int_equal(zt_tcplinks_recv(e.t, T0, id, bad[i].b, 1), -ENOENT);
			zt_tcplinks_free(e.t);
			if (bad[i].len == 1)
				break;
		}
	}
}

static void keepalive_ping_pong_rtt(void **state)
{
	struct end a, b;
	uint8_t buf[16];
	uint32_t la, lb;
	(void)state;

	end_new(&a, NULL);
	end_new(&b, NULL);
	la = link_up(&a, T0, 2);
	lb = link_up(&b, T0, 3);
	assert_int_equal(zt_tcplinks_next_deadline(a.t), T0 + 10 * ZT_SEC);
	zt_tcplinks_on_timeout(a.t, T0 + 10 * ZT_SEC - 1);
	assert_int_equal(info(&a, la).out_queued, 0);
	zt_tcplinks_on_timeout(a.t, T0 + 10 * ZT_SEC);
	assert_int_equal(drain(&a, T0 + 10 * ZT_SEC, la, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], ZT_TCPLINK_REC_PING);
	/* one PING in flight: none more while it waits */
	zt_tcplinks_on_timeout(a.t, T0 + 25 * ZT_SEC);
	assert_int_equal(info(&a, la).out_queued, 0);
	assert_int_equal(zt_tcplinks_recv(b.t, T0 + 10 * ZT_SEC + 20 * ZT_MS, lb, buf, 1), 0);
	assert_int_equal(drain(&b, T0 + 10 * ZT_SEC + 20 * ZT_MS, lb, buf, sizeof(buf)), 1);
	assert_int_equal(buf[0], ZT_TCPLINK_REC_PONG);
	assert_int_equal(info(&a, la).rtt, 0);
	assert_int_equal(zt_tcplinks_recv(a.t, T0 + 10 * ZT_SEC + 50 * ZT_MS, la, buf, 1), 0);
	assert_int_equal(info(&a, la).rtt, 50 * ZT_MS);
	/* a PONG nobody asked for changes nothing */
	assert_int_equal(zt_tcplinks_recv(a.t, T0 + 11 * ZT_SEC, la, buf, 1), 0);
	assert_int_equal(info(&a, la).rtt, 50 * ZT_MS);
	/* the next PING keepalive after the last one */
	assert_int_equal(zt_tcplinks_next_deadline(a.t), T0 + 20 * ZT_SEC);
	assert_int_equal(a.downs + b.downs, 0);
	zt_tcplinks_free(a.t);
	zt_tcplinks_free(b.t);
}

static void dead_after_and_idle_close(void **state)
{
	struct end e;
	const uint8_t ping = ZT_TCPLINK_REC_PING;
	const uint8_t pkt[] = { 1, 0, 0, 0, 5, 0, 1, 0xaa };
	uint8_t buf[64];
	uint64_t now;
	uint32_t id;
	(void)state;

	/* dead: nothing received for 30 s (a PING at 10 s unanswered) */
	end_new(&e, NULL);
	id = link_up(&e, T0, 2);
	expect_req(&e, T0 + 30 * ZT_SEC - 1, -1, 0);
	assert_int_equal(info(&e, id).out_queued, 1);
	assert_int_equal(e.downs, 0);
	expect_req(&e, T0 + 30 * ZT_SEC, ZT_TCPLINK_CLOSE, id);
	assert_int_equal(e.downs, 1);
	assert_int_equal(e.down_err, -ETIMEDOUT);
	assert_int_equal(zt_tcplinks_count(e.t), 0);
	zt_tcplinks_free(e.t);

	/* idle: PINGs every 5 s keep it alive, but no PKT for 120 s closes it */
	end_new(&e, NULL);
	id = link_up(&e, T0, 2);
	assert_int_equal(zt_tcplinks_recv(e.t, T0 + 40 * ZT_SEC, id, pkt, sizeof(pkt)), 0);
	assert_int_equal(e.packets, 1);
	for (now = T0 + 45 * ZT_SEC; now < T0 + 160 * ZT_SEC; now += 5 * ZT_SEC) {
		assert_int_equal(zt_tcplinks_recv(e.t, now, id, &ping, 1), 0);
		drain(&e, now, id, buf, sizeof(buf));
		expect_req(&e, now, -1, 0);
	}
	assert_int_equal(e.downs, 0);
	assert_int_equal(zt_tcplinks_next_deadline(e.t), T0 + 160 * ZT_SEC);
	expect_req(&e, T0 + 160 * ZT_SEC, ZT_TCPLINK_CLOSE, id);
	assert_int_equal(e.downs, 1);
	assert_int_equal(e.down_err, 0);
	zt_tcplinks_free(e.t);
}

static void output_is_bounded(void **state)
{
	struct end e;
	struct zt_tcplink_config cfg = { .out_max = 4096 };
	uint8_t pkt[ZT_TCPLINK_PKT_MAX] = { 0 }, buf[8192];
	const uint8_t pings[] = { 2, 2, 2 };
	const uint8_t *p;
	uint32_t id;
	size_t n;
	(void)state;

	end_new(&e, &cfg);
	id = link_up(&e, T0, 2);
	assert_int_equal(info(&e, id).out_queued, 0);
	assert_int_equal(zt_tcplinks_send(e.t, id, 1, pkt, sizeof(pkt)), 0);
	assert_int_equal(zt_tcplinks_send(e.t, id, 1, pkt, sizeof(pkt)), 0);
	assert_int_equal(zt_tcplinks_send(e.t, id, 1, pkt, sizeof(pkt)), -ENOBUFS);
	assert_int_equal(zt_tcplinks_send(e.t, id, 1, pkt, 4096 - 2 * 1507 - 7 + 1), -ENOBUFS);
	assert_int_equal(zt_tcplinks_send(e.t, id, 1, pkt, 4096 - 2 * 1507 - 7), 0);
	assert_int_equal(info(&e, id).out_queued, 4096);
	assert_int_equal(info(&e, id).dropped_out, 2);
	assert_int_equal(info(&e, id).pkts_out, 3);
	/* PING and PONG still go */
	assert_int_equal(zt_tcplinks_recv(e.t, T0 + ZT_SEC, id, pings, sizeof(pings)), 0);
	zt_tcplinks_on_timeout(e.t, T0 + 11 * ZT_SEC);
	assert_int_equal(info(&e, id).out_queued, 4096 + 4);
	n = zt_tcplinks_output(e.t, id, &p);
	assert_int_equal(p[n - 4], ZT_TCPLINK_REC_PONG);
	assert_int_equal(p[n - 1], ZT_TCPLINK_REC_PING);
	/* partly written, then all: nothing held */
	zt_tcplinks_sent(e.t, T0 + 11 * ZT_SEC, id, 1000);
	assert_int_equal(info(&e, id).out_queued, 3100);
	assert_int_equal(zt_tcplinks_send(e.t, id, 1, pkt, 900), 0);
	n = drain(&e, T0 + 11 * ZT_SEC, id, buf, sizeof(buf));
	assert_int_equal(n, 3100 + 907);
	assert_int_equal(info(&e, id).out_queued, 0);
	zt_tcplinks_sent(e.t, T0 + 11 * ZT_SEC, id, 5); /* more than waits: ignored */
	assert_int_equal(zt_tcplinks_output(e.t, id, &p), 0);
	zt_tcplinks_free(e.t);
}

static void ping_flood_is_bounded(void **state)
{
	struct end e;
	struct zt_tcplink_config cfg = { .out_max = 1024 };
	uint8_t pings[1000];
	uint32_t id;
	(void)state;

	memset(pings, ZT_TCPLINK_REC_PING, sizeof(pings));
	end_new(&e, &cfg);
	id = link_up(&e, T0, 2);
	for (int i = 0; i < 10; i++)
		assert_int_equal(zt_tcplinks_recv(e.t, T0, id, pings, sizeof(pings)), 0);
	assert_int_equal(info(&e, id).out_queued, 1024 + ZT_TCPLINK_CTL_SLACK);
	assert_true(zt_tcplinks_up(e.t, id));
	zt_tcplinks_free(e.t);
}

static void close_from_packet_callback(void **state)
{
	const uint8_t two[] = {
		0x01, 0x00, 0x00, 0x00, 0x05, 0x00, 0x02, 0xaa, 0xbb, /* PKT s 5, 2 bytes */
		0x01, 0x00, 0x00, 0x00, 0x06, 0x00, 0x01, 0xcc,       /* PKT s 6, 1 byte */
	};
	(void)state;

	/* whole, and the first record completed from a partial one */
	for (size_t split = 0; split < 9; split += 3) {
		struct end e;
		uint32_t id;

		end_new(&e, NULL);
		id = link_up(&e, T0, 2);
		e.close_in_packet = true;
		if (split) {
			assert_int_equal(zt_tcplinks_recv(e.t, T0, id, two, split), 0);
			assert_int_equal(info(&e, id).in_partial, split);
		}
		assert_int_equal(zt_tcplinks_recv(e.t, T0, id, two + split, sizeof(two) - split), 0);
		assert_int_equal(e.packets, 1);
		assert_int_equal(e.session, 5);
		assert_int_equal(e.downs, 1);
		assert_int_equal(e.down_err, 0);
		assert_int_equal(zt_tcplinks_count(e.t), 0);
		expect_req(&e, T0, ZT_TCPLINK_CLOSE, id);
		expect_req(&e, T0, -1, 0);
		zt_tcplinks_free(e.t);
	}
}

static void socket_end_and_reconnect_from_down(void **state)
{
	struct end e;
	uint32_t id;
	(void)state;

	end_new(&e, NULL);
	id = link_up(&e, T0, 2);
	/* the peer's FIN: no CLOSE (the owner closed it), cb.down 0, a new link wanted */
	e.want_in_down = true;
	zt_tcplinks_closed(e.t, T0 + ZT_SEC, id, 0);
	assert_int_equal(e.downs, 1);
	assert_int_equal(e.down_err, 0);
	assert_true(e.wanted > id);
	expect_req(&e, T0 + ZT_SEC, ZT_TCPLINK_CONNECT, e.wanted);
	expect_req(&e, T0 + ZT_SEC, -1, 0);
	e.want_in_down = false;
	zt_tcplinks_connected(e.t, T0 + ZT_SEC, e.wanted);
	/* a reset */
	zt_tcplinks_closed(e.t, T0 + 2 * ZT_SEC, e.wanted, -ECONNRESET);
	assert_int_equal(e.downs, 2);
	assert_int_equal(e.down_err, -ECONNRESET);
	expect_req(&e, T0 + 2 * ZT_SEC, -1, 0);
	/* unknown ids are ignored */
	zt_tcplinks_closed(e.t, T0 + 2 * ZT_SEC, 99, 0);
	zt_tcplinks_failed(e.t, T0 + 2 * ZT_SEC, 99, -EIO);
	zt_tcplinks_close(e.t, T0 + 2 * ZT_SEC, 99);
	assert_int_equal(e.downs, 2);
	zt_tcplinks_free(e.t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(later_attempt_connects_then),
		cmocka_unit_test(table_limits),
		cmocka_unit_test(records_cross),
		cmocka_unit_test(attempts_retry_and_give_up),
		cmocka_unit_test(unpolled_connect_is_taken_back),
		cmocka_unit_test(failed_attempts_retry),
		cmocka_unit_test(framing_errors_end_the_link),
		cmocka_unit_test(keepalive_ping_pong_rtt),
		cmocka_unit_test(dead_after_and_idle_close),
		cmocka_unit_test(output_is_bounded),
		cmocka_unit_test(ping_flood_is_bounded),
		cmocka_unit_test(close_from_packet_callback),
		cmocka_unit_test(socket_end_and_reconnect_from_down),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
