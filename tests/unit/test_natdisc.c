#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/natdisc.h"
#include "core/stun.h"
#include "core/stun_server.h"

/*
 * The server is A1 = 198.51.100.1, A2 = 198.51.100.2, P1 = 3478, P2 = 3479; the client
 * sockets are 10.0.0.2:5000 and :5001 behind a NAT whose public address is 203.0.113.5.
 */
#define A1P1 "198.51.100.1:3478"
#define A1P2 "198.51.100.1:3479"
#define A2P1 "198.51.100.2:3478"
#define A2P2 "198.51.100.2:3479"
#define MS ZT_MS

static struct zt_addr addr(const char *text)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, text, 0), 0);
	return a;
}

struct client {
	struct zt_prng prng;
	struct zt_natdisc *nd;
};

static void client_new(struct client *c, unsigned n_sockets, const char *local0)
{
	struct zt_natdisc_cfg cfg = {
		.server = addr(A1P1),
		.local = { addr(local0), addr("10.0.0.2:5001") },
		.n_sockets = n_sockets,
	};

	zt_prng_seed(&c->prng, 8489);
	cfg.rng = zt_prng_rng(&c->prng);
	assert_int_equal(zt_natdisc_new(&cfg, &c->nd), 0);
}

/* The next datagram must be due at now, from sock to to, with these CHANGE-REQUEST
 * flags (< 0: none); its decoded form goes to *req (views into buf). */
static void expect_send(struct client *c, uint64_t now, unsigned sock, const char *to,
			int change, uint8_t *buf, struct zt_stun_msg *req)
{
	struct zt_addr got_to, want_to = addr(to);
	unsigned got_sock = 99;
	uint32_t flags;
	int n;

	n = zt_natdisc_poll_send(c->nd, now, buf, 128, &got_sock, &got_to);
	assert_true(n > 0);
	assert_int_equal(got_sock, sock);
	assert_true(zt_addr_equal(&got_to, &want_to));
	assert_int_equal(zt_stun_decode(req, buf, (size_t)n), 0);
	assert_int_equal(req->cls, ZT_STUN_REQUEST);
	assert_int_equal(req->method, ZT_STUN_BINDING);
	assert_true(req->fp_off > 0);
	if (change < 0) {
		assert_false(zt_stun_has(req, ZT_STUN_ATTR_CHANGE_REQUEST));
	} else {
		assert_int_equal(zt_stun_get_u32(req, ZT_STUN_ATTR_CHANGE_REQUEST, &flags), 0);
		assert_int_equal(flags, (uint32_t)change);
	}
	/* nothing else is due at the same moment */
	assert_int_equal(zt_natdisc_poll_send(c->nd, now, buf, 128, &got_sock, &got_to), 0);
}

/* A success response to req with XOR-MAPPED-ADDRESS and, if given, OTHER-ADDRESS. */
static size_t respond(const struct zt_stun_msg *req, const char *mapped, const char *other,
		      uint8_t *out)
{
	struct zt_stun_builder b;
	struct zt_addr a = addr(mapped);
	int n;

	zt_stun_build_init(&b, out, 128, ZT_STUN_BINDING, ZT_STUN_SUCCESS, req->tid);
	zt_stun_put_addr(&b, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, &a);
	if (other) {
		a = addr(other);
		zt_stun_put_addr(&b, ZT_STUN_ATTR_OTHER_ADDRESS, &a);
	}
	zt_stun_put_fingerprint(&b);
	n = zt_stun_build_finish(&b);
	assert_true(n > 0);
	return (size_t)n;
}

static void deliver(struct client *c, uint64_t now, unsigned sock, const char *from,
		    const uint8_t *buf, size_t n)
{
	struct zt_addr f = addr(from);

	assert_int_equal(zt_natdisc_recv(c->nd, now, sock, &f, buf, n), 0);
}

/* Request due at t from socket 0 to to, answered 10 ms later from from with mapped. */
static void exchange(struct client *c, uint64_t t, const char *to, int change, const char *from,
		     const char *mapped)
{
	uint8_t req[128], resp[128];
	struct zt_stun_msg m;

	expect_send(c, t, 0, to, change, req, &m);
	deliver(c, t + 10 * MS, 0, from, resp, respond(&m, mapped, A2P2, resp));
}

/* The same from socket sock, answered on it. */
static void exchange_on(struct client *c, uint64_t t, unsigned sock, const char *to, int change,
			const char *from, const char *mapped)
{
	uint8_t req[128], resp[128];
	struct zt_stun_msg m;

	expect_send(c, t, sock, to, change, req, &m);
	deliver(c, t + 10 * MS, sock, from, resp, respond(&m, mapped, A2P2, resp));
}

/* Test I answered at t = 10 ms with mapped address m1 and OTHER-ADDRESS A2:P2. */
static void test1(struct client *c, const char *m1)
{
	uint8_t req[128], resp[128];
	struct zt_stun_msg m;

	assert_int_equal(zt_natdisc_next_deadline(c->nd), 0);
	expect_send(c, 0, 0, A1P1, -1, req, &m);
	deliver(c, 10 * MS, 0, A1P1, resp, respond(&m, m1, A2P2, resp));
}

/* Let the current transaction of the "silent" kind (Rc 3, Rm 4) expire: sends at
 * start, +500 ms, +1500 ms; given up at +3500 ms. */
static void let_silent_test_expire(struct client *c, uint64_t start, unsigned sock,
				   const char *to, int change)
{
	uint8_t req[128];
	struct zt_stun_msg m;
	static const uint64_t at[] = { 0, 500 * MS, 1500 * MS };

	for (size_t i = 0; i < 3; i++) {
		assert_int_equal(zt_natdisc_next_deadline(c->nd), start + at[i]);
		zt_natdisc_on_timeout(c->nd, start + at[i]);
		expect_send(c, start + at[i], sock, to, change, req, &m);
	}
	assert_int_equal(zt_natdisc_next_deadline(c->nd), start + 3500 * MS);
	zt_natdisc_on_timeout(c->nd, start + 3500 * MS - 1);
	assert_int_equal(zt_natdisc_next_deadline(c->nd), start + 3500 * MS);
	zt_natdisc_on_timeout(c->nd, start + 3500 * MS);
}

static void full_cone(void **state)
{
	struct client c;
	uint8_t req[128], resp[128];
	struct zt_stun_msg m;
	const struct zt_natdisc_result *r;
	struct zt_addr want = addr("203.0.113.5:6000");

	(void)state;
	client_new(&c, 1, "10.0.0.2:5000");
	test1(&c, "203.0.113.5:6000");
	/* RFC 5780 s5 pacing: the next test starts 100 ms after the previous one */
	assert_int_equal(zt_natdisc_next_deadline(c.nd), 100 * MS);
	assert_int_equal(zt_natdisc_poll_send(c.nd, 99 * MS, req, sizeof(req), &(unsigned){ 0 },
					      &(struct zt_addr){ 0 }),
			 0);
	/* filtering test II: change IP and port, answered from A2:P2 */
	exchange(&c, 100 * MS, A1P1, ZT_STUN_CHANGE_IP | ZT_STUN_CHANGE_PORT, A2P2, "203.0.113.5:6000");
	/* mapping test II: A2:P1, same mapping */
	expect_send(&c, 200 * MS, 0, A2P1, -1, req, &m);
	assert_false(zt_natdisc_result(c.nd)->done);
	deliver(&c, 210 * MS, 0, A2P1, resp, respond(&m, "203.0.113.5:6000", A2P2, resp));

	r = zt_natdisc_result(c.nd);
	assert_true(r->done);
	assert_int_equal(r->type, ZT_NAT_TYPE_FULL_CONE);
	assert_string_equal(zt_natdisc_type_name(r->type), "full-cone");
	assert_true(r->nat);
	assert_true(r->rfc5780);
	assert_true(zt_addr_equal(&r->mapped, &want));
	assert_true(zt_addr_equal(&r->mapped2, &want));
	assert_int_equal(r->mapped3.family, 0);
	assert_int_equal(r->mapping, ZT_NAT_ENDPOINT_INDEPENDENT);
	assert_int_equal(r->filtering, ZT_NAT_ENDPOINT_INDEPENDENT);
	assert_int_equal(r->hairpin, ZT_NAT_HAIRPIN_UNKNOWN); /* one socket */
	assert_int_equal(r->error, 0);
	/* test I and mapping test II must be answered; the filtering test may not be */
	assert_int_equal(r->requests, 2);
	assert_int_equal(r->answers, 2);
	assert_int_equal(r->rtt_samples, 3);
	for (unsigned i = 0; i < 3; i++)
		assert_int_equal(r->rtt[i], 10 * MS);
	assert_int_equal(zt_natdisc_next_deadline(c.nd), ZT_TIME_NEVER);
	assert_int_equal(zt_natdisc_poll_send(c.nd, 10 * ZT_SEC, req, sizeof(req),
					      &(unsigned){ 0 }, &(struct zt_addr){ 0 }),
			 0);
	zt_natdisc_free(c.nd);
}

static void address_restricted(void **state)
{
	struct client c;
	const struct zt_natdisc_result *r;

	(void)state;
	client_new(&c, 1, "10.0.0.2:5000");
	test1(&c, "203.0.113.5:6000");
	let_silent_test_expire(&c, 100 * MS, 0, A1P1, ZT_STUN_CHANGE_IP | ZT_STUN_CHANGE_PORT);
	/* filtering test III: change port, answered from A1:P2 */
	exchange(&c, 3600 * MS, A1P1, ZT_STUN_CHANGE_PORT, A1P2, "203.0.113.5:6000");
	exchange(&c, 3700 * MS, A2P1, -1, A2P1, "203.0.113.5:6000");
	r = zt_natdisc_result(c.nd);
	assert_true(r->done);
	assert_int_equal(r->filtering, ZT_NAT_ADDRESS_DEPENDENT);
	assert_int_equal(r->mapping, ZT_NAT_ENDPOINT_INDEPENDENT);
	assert_int_equal(r->type, ZT_NAT_TYPE_ADDRESS_RESTRICTED);
	assert_string_equal(zt_natdisc_type_name(r->type), "address-restricted");
	zt_natdisc_free(c.nd);
}

static void port_restricted(void **state)
{
	struct client c;
	const struct zt_natdisc_result *r;

	(void)state;
	client_new(&c, 1, "10.0.0.2:5000");
	test1(&c, "203.0.113.5:6000");
	let_silent_test_expire(&c, 100 * MS, 0, A1P1, ZT_STUN_CHANGE_IP | ZT_STUN_CHANGE_PORT);
	let_silent_test_expire(&c, 3600 * MS, 0, A1P1, ZT_STUN_CHANGE_PORT);
	exchange(&c, 7100 * MS, A2P1, -1, A2P1, "203.0.113.5:6000");
	r = zt_natdisc_result(c.nd);
	assert_true(r->done);
	assert_int_equal(r->filtering, ZT_NAT_ADDRESS_PORT_DEPENDENT);
	assert_int_equal(r->type, ZT_NAT_TYPE_PORT_RESTRICTED);
	assert_string_equal(zt_natdisc_type_name(r->type), "port-restricted");
	assert_string_equal(zt_natdisc_behavior_name(r->filtering), "address-and-port-dependent");
	zt_natdisc_free(c.nd);
}

/* Symmetric NATs: mapping test II differs; test III tells the two kinds apart. */
static void symmetric(const char *m3, enum zt_nat_behavior want)
{
	struct client c;
	const struct zt_natdisc_result *r;
	struct zt_addr a2 = addr("203.0.113.5:6001"), a3 = addr(m3);

	client_new(&c, 1, "10.0.0.2:5000");
	test1(&c, "203.0.113.5:6000");
	let_silent_test_expire(&c, 100 * MS, 0, A1P1, ZT_STUN_CHANGE_IP | ZT_STUN_CHANGE_PORT);
	let_silent_test_expire(&c, 3600 * MS, 0, A1P1, ZT_STUN_CHANGE_PORT);
	exchange(&c, 7100 * MS, A2P1, -1, A2P1, "203.0.113.5:6001");
	exchange(&c, 7200 * MS, A2P2, -1, A2P2, m3);
	r = zt_natdisc_result(c.nd);
	assert_true(r->done);
	assert_int_equal(r->mapping, want);
	assert_int_equal(r->type, ZT_NAT_TYPE_SYMMETRIC);
	assert_string_equal(zt_natdisc_type_name(r->type), "symmetric");
	assert_true(zt_addr_equal(&r->mapped2, &a2));
	assert_true(zt_addr_equal(&r->mapped3, &a3));
	zt_natdisc_free(c.nd);
}

static void symmetric_address_and_port_dependent(void **state)
{
	(void)state;
	symmetric("203.0.113.5:6002", ZT_NAT_ADDRESS_PORT_DEPENDENT);
}

static void symmetric_address_dependent(void **state)
{
	(void)state;
	symmetric("203.0.113.5:6001", ZT_NAT_ADDRESS_DEPENDENT);
}

/* RFC 8489 s6.2.1 timing with the defaults: 0, 500, 1500, ..., 31500; fail at 39500. */
static void udp_blocked_and_retransmission_timing(void **state)
{
	static const uint64_t at[] = { 0, 500, 1500, 3500, 7500, 15500, 31500 };
	struct client c;
	uint8_t req[128];
	struct zt_stun_msg m;
	uint8_t tid[ZT_STUN_TID_LEN];
	const struct zt_natdisc_result *r;

	(void)state;
	client_new(&c, 2, "10.0.0.2:5000");
	for (size_t i = 0; i < 7; i++) {
		assert_int_equal(zt_natdisc_next_deadline(c.nd), at[i] * MS);
		if (i > 0)
			assert_int_equal(zt_natdisc_poll_send(c.nd, at[i] * MS - 1, req,
							      sizeof(req), &(unsigned){ 0 },
							      &(struct zt_addr){ 0 }),
					 0);
		zt_natdisc_on_timeout(c.nd, at[i] * MS);
		expect_send(&c, at[i] * MS, 0, A1P1, -1, req, &m);
		/* a retransmission repeats the transaction ID (RFC 8489 s6.2.1) */
		if (i == 0)
			memcpy(tid, m.tid, sizeof(tid));
		assert_memory_equal(m.tid, tid, sizeof(tid));
	}
	assert_int_equal(zt_natdisc_next_deadline(c.nd), 39500 * MS);
	zt_natdisc_on_timeout(c.nd, 39500 * MS - 1);
	assert_false(zt_natdisc_result(c.nd)->done);
	zt_natdisc_on_timeout(c.nd, 39500 * MS);
	r = zt_natdisc_result(c.nd);
	assert_true(r->done);
	assert_int_equal(r->type, ZT_NAT_TYPE_UDP_BLOCKED);
	assert_string_equal(zt_natdisc_type_name(r->type), "udp-blocked");
	assert_int_equal(r->mapped.family, 0);
	assert_int_equal(r->requests, 7);
	assert_int_equal(r->answers, 0);
	assert_int_equal(r->rtt_samples, 0);
	assert_int_equal(zt_natdisc_next_deadline(c.nd), ZT_TIME_NEVER);
	zt_natdisc_free(c.nd);
}

/* A retransmitted transaction counts both requests but gives no round trip (Karn);
 * silent tests that go unanswered count as no loss. */
static void round_trips_and_loss(void **state)
{
	struct client c;
	uint8_t req[128], resp[128];
	struct zt_stun_msg m;
	const struct zt_natdisc_result *r;

	(void)state;
	client_new(&c, 1, "10.0.0.2:5000");
	expect_send(&c, 0, 0, A1P1, -1, req, &m);
	zt_natdisc_on_timeout(c.nd, 500 * MS);
	expect_send(&c, 500 * MS, 0, A1P1, -1, req, &m);
	deliver(&c, 520 * MS, 0, A1P1, resp, respond(&m, "203.0.113.5:6000", A2P2, resp));
	r = zt_natdisc_result(c.nd);
	assert_int_equal(r->requests, 2);
	assert_int_equal(r->answers, 1);
	assert_int_equal(r->rtt_samples, 0);
	let_silent_test_expire(&c, 520 * MS, 0, A1P1, ZT_STUN_CHANGE_IP | ZT_STUN_CHANGE_PORT);
	let_silent_test_expire(&c, 4020 * MS, 0, A1P1, ZT_STUN_CHANGE_PORT);
	exchange(&c, 7520 * MS, A2P1, -1, A2P1, "203.0.113.5:6000");
	r = zt_natdisc_result(c.nd);
	assert_true(r->done);
	assert_int_equal(r->type, ZT_NAT_TYPE_PORT_RESTRICTED);
	assert_int_equal(r->requests, 3);
	assert_int_equal(r->answers, 2);
	assert_int_equal(r->rtt_samples, 1);
	assert_int_equal(r->rtt[0], 10 * MS);
	zt_natdisc_free(c.nd);
}

static void configured_retransmission(void **state)
{
	struct zt_prng p;
	struct zt_natdisc_cfg cfg = {
		.server = addr(A1P1),
		.local = { addr("10.0.0.2:5000") },
		.n_sockets = 1,
		.rto = 100 * MS,
		.rc = 2,
		.rm = 3,
	};
	struct client c;
	uint8_t req[128];
	struct zt_stun_msg m;

	(void)state;
	zt_prng_seed(&p, 1);
	cfg.rng = zt_prng_rng(&p);
	assert_int_equal(zt_natdisc_new(&cfg, &c.nd), 0);
	expect_send(&c, 5 * MS, 0, A1P1, -1, req, &m);
	assert_int_equal(zt_natdisc_next_deadline(c.nd), 105 * MS);
	expect_send(&c, 105 * MS, 0, A1P1, -1, req, &m);
	/* Rc reached: no third transmission; fails Rm * RTO after the last */
	assert_int_equal(zt_natdisc_next_deadline(c.nd), 405 * MS);
	assert_int_equal(zt_natdisc_poll_send(c.nd, 400 * MS, req, sizeof(req), &(unsigned){ 0 },
					      &(struct zt_addr){ 0 }),
			 0);
	zt_natdisc_on_timeout(c.nd, 405 * MS);
	assert_int_equal(zt_natdisc_result(c.nd)->type, ZT_NAT_TYPE_UDP_BLOCKED);
	zt_natdisc_free(c.nd);
}

static void no_nat_open_and_firewall(void **state)
{
	struct client c;
	const struct zt_natdisc_result *r;

	(void)state;
	/* two sockets, yet no hairpin test without a NAT; no mapping tests either */
	client_new(&c, 2, "192.0.2.44:5000");
	test1(&c, "192.0.2.44:5000");
	exchange(&c, 100 * MS, A1P1, ZT_STUN_CHANGE_IP | ZT_STUN_CHANGE_PORT, A2P2, "192.0.2.44:5000");
	r = zt_natdisc_result(c.nd);
	assert_true(r->done);
	assert_false(r->nat);
	assert_int_equal(r->mapping, ZT_NAT_ENDPOINT_INDEPENDENT);
	assert_int_equal(r->type, ZT_NAT_TYPE_OPEN);
	assert_int_equal(r->hairpin, ZT_NAT_HAIRPIN_UNKNOWN);
	assert_int_equal(r->mapped2.family, 0);
	zt_natdisc_free(c.nd);

	/* a wildcard socket recognises its host's own address; a filtering firewall */
	{
		struct zt_prng p;
		struct zt_natdisc_cfg cfg = {
			.server = addr(A1P1),
			.local = { addr("0.0.0.0:5000") },
			.n_sockets = 1,
			.host_ips = { addr("10.9.9.9"), addr("192.0.2.44") },
			.n_host_ips = 2,
		};

		zt_prng_seed(&p, 2);
		cfg.rng = zt_prng_rng(&p);
		assert_int_equal(zt_natdisc_new(&cfg, &c.nd), 0);
		test1(&c, "192.0.2.44:5000");
		let_silent_test_expire(&c, 100 * MS, 0, A1P1, ZT_STUN_CHANGE_IP | ZT_STUN_CHANGE_PORT);
		let_silent_test_expire(&c, 3600 * MS, 0, A1P1, ZT_STUN_CHANGE_PORT);
		r = zt_natdisc_result(c.nd);
		assert_true(r->done);
		assert_false(r->nat);
		assert_int_equal(r->type, ZT_NAT_TYPE_FIREWALL);
		zt_natdisc_free(c.nd);
	}

	/* same IP, another port: that is a NAT (port translation) */
	client_new(&c, 1, "192.0.2.44:5000");
	test1(&c, "192.0.2.44:5001");
	assert_true(zt_natdisc_result(c.nd)->nat);
	zt_natdisc_free(c.nd);
}

static void hairpinning(void **state)
{
	(void)state;
	for (int yes = 0; yes <= 1; yes++) {
		struct client c;
		uint8_t req[128];
		struct zt_stun_msg m;
		const struct zt_natdisc_result *r;

		client_new(&c, 2, "10.0.0.2:5000");
		test1(&c, "203.0.113.5:6000");
		exchange(&c, 100 * MS, A1P1, ZT_STUN_CHANGE_IP | ZT_STUN_CHANGE_PORT, A2P2, "203.0.113.5:6000");
		exchange(&c, 200 * MS, A2P1, -1, A2P1, "203.0.113.5:6000");
		assert_false(zt_natdisc_result(c.nd)->done);
		/* socket 1 sends to socket 0's mapped address */
		if (yes) {
			expect_send(&c, 300 * MS, 1, "203.0.113.5:6000", -1, req, &m);
			size_t n = m.len;
			struct zt_addr from = addr("203.0.113.5:6001");

			/* arriving on socket 1 means nothing */
			assert_int_equal(zt_natdisc_recv(c.nd, 301 * MS, 1, &from, req, n), ZT_ESTATE);
			assert_int_equal(zt_natdisc_recv(c.nd, 301 * MS, 0, &from, req, n), 0);
		} else {
			let_silent_test_expire(&c, 300 * MS, 1, "203.0.113.5:6000", -1);
		}
		r = zt_natdisc_result(c.nd);
		assert_true(r->done);
		assert_int_equal(r->type, ZT_NAT_TYPE_FULL_CONE);
		assert_int_equal(r->hairpin, yes ? ZT_NAT_HAIRPIN_YES : ZT_NAT_HAIRPIN_NO);
		assert_string_equal(zt_natdisc_hairpin_name(r->hairpin), yes ? "yes" : "no");
		zt_natdisc_free(c.nd);
	}
}

/* Garbage, strangers' transactions, the wrong socket: ignored, state unchanged. */
static void ignores_garbage_and_mismatches(void **state)
{
	static const uint8_t garbage[] = { 0xc0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	struct client c;
	uint8_t req[128], resp[128], other[128];
	struct zt_stun_msg m;
	struct zt_stun_builder b;
	struct zt_addr from = addr(A1P1);
	size_t n;
	int on;

	(void)state;
	client_new(&c, 2, "10.0.0.2:5000");
	/* before anything was sent, even a good-looking datagram is not ours */
	assert_int_equal(zt_natdisc_recv(c.nd, 0, 0, &from, garbage, sizeof(garbage)),
			 ZT_ESTATE);
	expect_send(&c, 0, 0, A1P1, -1, req, &m);
	assert_int_equal(zt_natdisc_recv(c.nd, 1, 0, &from, garbage, sizeof(garbage)),
			 ZT_ESTUN_NOTSTUN);
	assert_int_equal(zt_natdisc_recv(c.nd, 1, 0, &from, garbage, 0), ZT_EZEROLEN);
	assert_int_equal(zt_natdisc_recv(c.nd, 1, 2, &from, garbage, 1), -EINVAL);
	n = respond(&m, "203.0.113.5:6000", A2P2, resp);
	/* truncated, bad fingerprint */
	assert_int_equal(zt_natdisc_recv(c.nd, 1, 0, &from, resp, n - 1), ZT_ETRUNC);
	resp[n - 1] ^= 1;
	assert_int_equal(zt_natdisc_recv(c.nd, 1, 0, &from, resp, n), ZT_ESTUN_FINGERPRINT);
	resp[n - 1] ^= 1;
	/* the right answer on the wrong socket */
	assert_int_equal(zt_natdisc_recv(c.nd, 1, 1, &from, resp, n), ZT_ESTATE);
	/* a bit flipped in the transaction ID: the FINGERPRINT no longer matches */
	memcpy(other, resp, n);
	other[8] ^= 1;
	assert_int_equal(zt_natdisc_recv(c.nd, 1, 0, &from, other, n), ZT_ESTUN_FINGERPRINT);
	/* someone else's transaction */
	{
		struct zt_stun_msg fake = m;

		fake.tid[0] ^= 1;
		n = respond(&fake, "203.0.113.66:1", A2P2, other);
		assert_int_equal(zt_natdisc_recv(c.nd, 1, 0, &from, other, n), ZT_ESTATE);
	}
	/* our own request looped back, an indication with our ID: not a response */
	assert_int_equal(zt_natdisc_recv(c.nd, 1, 0, &from, req, m.len), ZT_ESTATE);
	zt_stun_build_init(&b, other, sizeof(other), ZT_STUN_BINDING, ZT_STUN_INDICATION, m.tid);
	on = zt_stun_build_finish(&b);
	assert_int_equal(zt_natdisc_recv(c.nd, 1, 0, &from, other, (size_t)on), ZT_ESTATE);
	/* still waiting for test I, retransmission schedule intact */
	assert_false(zt_natdisc_result(c.nd)->done);
	assert_int_equal(zt_natdisc_next_deadline(c.nd), 500 * MS);
	/* the real answer works, and a duplicate of it afterwards is ignored */
	n = respond(&m, "203.0.113.5:6000", A2P2, resp);
	deliver(&c, 2 * MS, 0, A1P1, resp, n);
	assert_int_equal(zt_natdisc_recv(c.nd, 3 * MS, 0, &from, resp, n), ZT_ESTATE);
	assert_int_equal(zt_natdisc_next_deadline(c.nd), 100 * MS);
	zt_natdisc_free(c.nd);
}

/* A success response with an unknown comprehension-required attribute fails test I. */
static void response_with_unknown_attribute(void **state)
{
	struct client c;
	uint8_t req[128], resp[128];
	struct zt_stun_msg m;
	struct zt_stun_builder b;
	struct zt_addr mapped = addr("203.0.113.5:6000");
	const struct zt_natdisc_result *r;
	int n;

	(void)state;
	client_new(&c, 1, "10.0.0.2:5000");
	expect_send(&c, 0, 0, A1P1, -1, req, &m);
	zt_stun_build_init(&b, resp, sizeof(resp), ZT_STUN_BINDING, ZT_STUN_SUCCESS, m.tid);
	zt_stun_put_addr(&b, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped);
	zt_stun_put_raw(&b, 0x7777, "x", 1);
	n = zt_stun_build_finish(&b);
	deliver(&c, 10 * MS, 0, A1P1, resp, (size_t)n);
	r = zt_natdisc_result(c.nd);
	assert_true(r->done);
	assert_int_equal(r->type, ZT_NAT_TYPE_UNKNOWN);
	assert_int_equal(r->error, ZT_ESTUN_UNKNOWN_REQ);
	zt_natdisc_free(c.nd);
}

static void server_without_rfc5780(void **state)
{
	struct client c;
	uint8_t req[128], resp[128];
	struct zt_stun_msg m;
	const struct zt_natdisc_result *r;

	(void)state;
	/* no OTHER-ADDRESS: only the mapped address is learned */
	client_new(&c, 1, "10.0.0.2:5000");
	expect_send(&c, 0, 0, A1P1, -1, req, &m);
	deliver(&c, 10 * MS, 0, A1P1, resp, respond(&m, "203.0.113.5:6000", NULL, resp));
	r = zt_natdisc_result(c.nd);
	assert_true(r->done);
	assert_false(r->rfc5780);
	assert_true(r->nat);
	assert_int_equal(r->mapping, ZT_NAT_BEHAVIOR_UNKNOWN);
	assert_int_equal(r->type, ZT_NAT_TYPE_UNKNOWN);
	assert_string_equal(zt_natdisc_type_name(r->type), "unknown");
	zt_natdisc_free(c.nd);

	/* OTHER-ADDRESS, but 420 to CHANGE-REQUEST: filtering unknown, mapping still run */
	client_new(&c, 1, "10.0.0.2:5000");
	test1(&c, "203.0.113.5:6000");
	expect_send(&c, 100 * MS, 0, A1P1, ZT_STUN_CHANGE_IP | ZT_STUN_CHANGE_PORT, req, &m);
	{
		struct zt_stun_msg cr = m;
		uint16_t list[1] = { ZT_STUN_ATTR_CHANGE_REQUEST };

		memcpy(cr.unknown, list, sizeof(list));
		cr.n_unknown = 1;
		deliver(&c, 110 * MS, 0, A1P1, resp,
			(size_t)zt_stun_build_420(&cr, resp, sizeof(resp)));
	}
	exchange(&c, 200 * MS, A2P1, -1, A2P1, "203.0.113.5:6000");
	r = zt_natdisc_result(c.nd);
	assert_true(r->done);
	assert_int_equal(r->mapping, ZT_NAT_ENDPOINT_INDEPENDENT);
	assert_int_equal(r->filtering, ZT_NAT_BEHAVIOR_UNKNOWN);
	assert_int_equal(r->type, ZT_NAT_TYPE_UNKNOWN);
	assert_int_equal(r->error, ZT_EPEER);
	assert_int_equal(r->stun_error, 420);
	zt_natdisc_free(c.nd);
}

/* An answer to CHANGE-REQUEST from the address it came in on proves nothing. */
static void change_request_not_honoured(void **state)
{
	struct client c;
	const struct zt_natdisc_result *r;

	(void)state;
	client_new(&c, 1, "10.0.0.2:5000");
	test1(&c, "203.0.113.5:6000");
	exchange(&c, 100 * MS, A1P1, ZT_STUN_CHANGE_IP | ZT_STUN_CHANGE_PORT, A1P1, "203.0.113.5:6000");
	exchange(&c, 200 * MS, A2P1, -1, A2P1, "203.0.113.5:6000");
	r = zt_natdisc_result(c.nd);
	assert_true(r->done);
	assert_int_equal(r->filtering, ZT_NAT_BEHAVIOR_UNKNOWN);
	assert_int_equal(r->error, ZT_EPEER);
	assert_int_equal(r->type, ZT_NAT_TYPE_UNKNOWN);
	zt_natdisc_free(c.nd);
}

/* The alternate address never answers mapping test II. */
static void alternate_unreachable(void **state)
{
	static const uint64_t at[] = { 0, 500, 1500, 3500, 7500, 15500, 31500 };
	struct client c;
	uint8_t req[128];
	struct zt_stun_msg m;
	const struct zt_natdisc_result *r;
	uint64_t t0 = 200 * MS;

	(void)state;
	client_new(&c, 1, "10.0.0.2:5000");
	test1(&c, "203.0.113.5:6000");
	exchange(&c, 100 * MS, A1P1, ZT_STUN_CHANGE_IP | ZT_STUN_CHANGE_PORT, A2P2, "203.0.113.5:6000");
	for (size_t i = 0; i < 7; i++)
		expect_send(&c, t0 + at[i] * MS, 0, A2P1, -1, req, &m);
	zt_natdisc_on_timeout(c.nd, t0 + 39500 * MS);
	r = zt_natdisc_result(c.nd);
	assert_true(r->done);
	assert_int_equal(r->mapping, ZT_NAT_BEHAVIOR_UNKNOWN);
	assert_int_equal(r->filtering, ZT_NAT_ENDPOINT_INDEPENDENT);
	assert_int_equal(r->error, ZT_ETIMEOUT);
	assert_int_equal(r->type, ZT_NAT_TYPE_UNKNOWN);
	zt_natdisc_free(c.nd);
}

static void port_pattern_rule(void **state)
{
	static const struct {
		uint16_t local[5], mapped[5];
		unsigned n;
		enum zt_nat_ports want;
	} cases[] = {
		{ { 40000, 41000, 42000 }, { 40000, 41000, 42000 }, 3, ZT_NAT_PORTS_PRESERVE },
		{ { 40000, 41000, 42000, 43000 }, { 20000, 20001, 20002, 20003 }, 4,
		  ZT_NAT_PORTS_SEQUENTIAL },
		/* other hosts' mappings or a lost sample in between: still sequential */
		{ { 1, 2, 3, 4, 5 }, { 20000, 20002, 20003, 20011, 20012 }, 5, ZT_NAT_PORTS_SEQUENTIAL },
		/* across the top of the port space */
		{ { 1, 2, 3 }, { 65534, 65535, 0 }, 3, ZT_NAT_PORTS_SEQUENTIAL },
		{ { 1, 2, 3 }, { 20000, 20001, 20010 }, 3, ZT_NAT_PORTS_RANDOM },  /* +9 */
		{ { 1, 2, 3 }, { 20002, 20001, 20000 }, 3, ZT_NAT_PORTS_RANDOM },  /* down */
		{ { 1, 2, 3 }, { 20000, 20000, 20001 }, 3, ZT_NAT_PORTS_RANDOM },  /* repeated */
		{ { 1, 2, 3 }, { 31337, 4242, 60001 }, 3, ZT_NAT_PORTS_RANDOM },
		/* one port kept, the others not: not preserving */
		{ { 40000, 41000, 42000 }, { 40000, 5, 9000 }, 3, ZT_NAT_PORTS_RANDOM },
		/* local ports that happen to be consecutive and kept: preserve wins */
		{ { 500, 501, 502 }, { 500, 501, 502 }, 3, ZT_NAT_PORTS_PRESERVE },
		{ { 1, 2 }, { 20000, 20001 }, 2, ZT_NAT_PORTS_UNKNOWN },
		{ { 0 }, { 0 }, 0, ZT_NAT_PORTS_UNKNOWN },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum zt_nat_ports got = zt_natdisc_port_pattern(cases[i].local, cases[i].mapped,
								 cases[i].n);
		if (got != cases[i].want)
			fail_msg("case %zu: %s, want %s", i, zt_natdisc_ports_name(got),
				 zt_natdisc_ports_name(cases[i].want));
	}
	assert_string_equal(zt_natdisc_ports_name(ZT_NAT_PORTS_UNKNOWN), "unknown");
	assert_string_equal(zt_natdisc_lifetime_name(ZT_NATDISC_LIFETIME_ABOVE), "above-max");
	assert_string_equal(zt_natdisc_lifetime_name(ZT_NATDISC_LIFETIME_UNTESTED), "untested");
	assert_string_equal(zt_natdisc_lt_method_name(ZT_NATDISC_LT_FILTER), "filter");
}

/*
 * Tests 5 and 6 step by step on a symmetric NAT: three samples (sockets 2-4), two
 * probes (sockets 5, 6) with lifetime_max 2 s: probe 0 is checked 1 s after its
 * mapping was made, probe 1 2 s after its own.
 */
static void samples_then_lifetime_probes(void **state)
{
	struct zt_prng p;
	struct zt_natdisc_cfg cfg = {
		.server = addr(A1P1),
		.local = { addr("10.0.0.2:5000"), addr("10.0.0.2:5001"), addr("10.0.0.2:5002"),
			   addr("10.0.0.2:5003"), addr("10.0.0.2:5004"), addr("10.0.0.2:5005"),
			   addr("10.0.0.2:5006") },
		.n_sockets = 1,
		.n_port_samples = 3,
		.n_lifetime_probes = 2,
		.lifetime_max = 2 * ZT_SEC,
	};
	struct client c;
	uint8_t req[128];
	const struct zt_natdisc_result *r;

	(void)state;
	zt_prng_seed(&p, 5780);
	cfg.rng = zt_prng_rng(&p);
	assert_int_equal(zt_natdisc_new(&cfg, &c.nd), 0);
	test1(&c, "203.0.113.5:6000");
	let_silent_test_expire(&c, 100 * MS, 0, A1P1, ZT_STUN_CHANGE_IP | ZT_STUN_CHANGE_PORT);
	let_silent_test_expire(&c, 3600 * MS, 0, A1P1, ZT_STUN_CHANGE_PORT);
	exchange(&c, 7100 * MS, A2P1, -1, A2P1, "203.0.113.5:6001");
	exchange(&c, 7200 * MS, A2P2, -1, A2P2, "203.0.113.5:6002");
	assert_false(zt_natdisc_result(c.nd)->done);
	/* test 5: one request per fresh socket, paced, to A1:P1 */
	exchange_on(&c, 7300 * MS, 2, A1P1, -1, A1P1, "203.0.113.5:6003");
	exchange_on(&c, 7400 * MS, 3, A1P1, -1, A1P1, "203.0.113.5:6004");
	exchange_on(&c, 7500 * MS, 4, A1P1, -1, A1P1, "203.0.113.5:6005");
	r = zt_natdisc_result(c.nd);
	assert_int_equal(r->ports, ZT_NAT_PORTS_SEQUENTIAL);
	assert_int_equal(r->port_samples, 3);
	assert_int_equal(r->port_local[1], 5003);
	assert_int_equal(r->port_mapped[2], 6005);
	assert_int_equal(r->lifetime_method, ZT_NATDISC_LT_PORT);
	/* test 6: the probes' mappings, made at 7610 and 7710 ms */
	exchange_on(&c, 7600 * MS, 5, A1P1, -1, A1P1, "203.0.113.5:6006");
	exchange_on(&c, 7700 * MS, 6, A1P1, -1, A1P1, "203.0.113.5:6007");
	/* probe 0 idles 1 s: nothing before 8610 ms */
	assert_int_equal(zt_natdisc_next_deadline(c.nd), 8610 * MS);
	assert_int_equal(zt_natdisc_poll_send(c.nd, 8609 * MS, req, sizeof(req), &(unsigned){ 0 },
					      &(struct zt_addr){ 0 }),
			 0);
	exchange_on(&c, 8610 * MS, 5, A1P1, -1, A1P1, "203.0.113.5:6006");  /* the same: alive */
	assert_int_equal(r->lifetime_alive, 1000 * MS);
	/* probe 1 idles 2 s, to 9710 ms; its check finds a new mapping: gone */
	assert_int_equal(zt_natdisc_next_deadline(c.nd), 9710 * MS);
	exchange_on(&c, 9710 * MS, 6, A1P1, -1, A1P1, "203.0.113.5:6010");
	assert_true(r->done);
	assert_int_equal(r->type, ZT_NAT_TYPE_SYMMETRIC);
	assert_int_equal(r->lifetime, ZT_NATDISC_LIFETIME_MEASURED);
	assert_int_equal(r->lifetime_gone, 2000 * MS);
	assert_int_equal(r->error, 0);
	assert_int_equal(zt_natdisc_next_deadline(c.nd), ZT_TIME_NEVER);
	/* a datagram on a socket index past the last probe is refused */
	{
		struct zt_addr from = addr(A1P1);

		assert_int_equal(zt_natdisc_recv(c.nd, 9800 * MS, 7, &from, req, 20), -EINVAL);
	}
	zt_natdisc_free(c.nd);
}

/*
 * End to end against the real responder (core/stun_server) through a modelled NAT:
 * RFC 4787 mapping and filtering rules, optional hairpinning, zero-latency links.
 */
enum sim_ports { SIM_SEQUENTIAL, SIM_PRESERVE, SIM_RANDOM };

struct sim_nat {
	bool present;
	enum zt_nat_behavior map, filt;
	bool hairpin;
	struct zt_addr pub;
	uint16_t next_port;
	enum sim_ports ports;
	uint64_t timeout;          /* idle this long (no outbound packet), a mapping is gone */
	uint32_t lcg;              /* random ports */
	unsigned n_maps, n_contacts;
	struct {
		struct zt_addr inside, remote, outside;
		uint64_t last;
	} maps[128];
	struct {
		struct zt_addr outside, remote;
		uint64_t last;
	} contacts[256];
};

static bool live(const struct sim_nat *nat, uint64_t last, uint64_t now)
{
	return !nat->timeout || now - last < nat->timeout;
}

static bool port_taken(const struct sim_nat *nat, uint16_t port, uint64_t now)
{
	for (unsigned i = 0; i < nat->n_maps; i++)
		if (live(nat, nat->maps[i].last, now) && nat->maps[i].outside.port == port)
			return true;
	return false;
}

static uint16_t new_port(struct sim_nat *nat, const struct zt_addr *inside, uint64_t now)
{
	uint16_t p;

	if (nat->ports == SIM_SEQUENTIAL)
		return nat->next_port++;
	if (nat->ports == SIM_PRESERVE && !port_taken(nat, inside->port, now))
		return inside->port;
	do {
		nat->lcg = nat->lcg * 1103515245u + 12345u;
		p = (uint16_t)(1024 + (nat->lcg >> 8) % 64000);
	} while (port_taken(nat, p, now));
	return p;
}

/* The filter state of (outside, remote), made or refreshed by an outbound packet. */
static void touch_contact(struct sim_nat *nat, const struct zt_addr *outside,
			  const struct zt_addr *remote, uint64_t now)
{
	for (unsigned i = 0; i < nat->n_contacts; i++)
		if (zt_addr_equal(&nat->contacts[i].outside, outside) &&
		    zt_addr_equal(&nat->contacts[i].remote, remote)) {
			nat->contacts[i].last = now;
			return;
		}
	assert_true(nat->n_contacts < 256);
	nat->contacts[nat->n_contacts].outside = *outside;
	nat->contacts[nat->n_contacts].remote = *remote;
	nat->contacts[nat->n_contacts++].last = now;
}

static struct zt_addr nat_out(struct sim_nat *nat, uint64_t now, const struct zt_addr *inside,
			      const struct zt_addr *remote)
{
	struct zt_addr out = { 0 };
	bool found = false;

	for (unsigned i = 0; i < nat->n_maps && !found; i++) {
		if (!zt_addr_equal(&nat->maps[i].inside, inside) || !live(nat, nat->maps[i].last, now))
			continue;
		if (nat->map == ZT_NAT_ENDPOINT_INDEPENDENT ||
		    (nat->map == ZT_NAT_ADDRESS_DEPENDENT &&
		     zt_addr_ip_equal(&nat->maps[i].remote, remote)) ||
		    zt_addr_equal(&nat->maps[i].remote, remote)) {
			out = nat->maps[i].outside;
			nat->maps[i].last = now;
			found = true;
		}
	}
	if (!found) {
		assert_true(nat->n_maps < 128);
		out = nat->pub;
		out.port = new_port(nat, inside, now);
		nat->maps[nat->n_maps].inside = *inside;
		nat->maps[nat->n_maps].remote = *remote;
		nat->maps[nat->n_maps].last = now;
		nat->maps[nat->n_maps++].outside = out;
	}
	touch_contact(nat, &out, remote, now);
	return out;
}

/* The inside address a datagram from remote to outside reaches, if the filter lets it. */
static bool nat_in(const struct sim_nat *nat, uint64_t now, const struct zt_addr *remote,
		   const struct zt_addr *outside, struct zt_addr *ret_inside)
{
	bool allowed = nat->filt == ZT_NAT_ENDPOINT_INDEPENDENT;

	for (unsigned i = 0; i < nat->n_contacts && !allowed; i++) {
		if (!zt_addr_equal(&nat->contacts[i].outside, outside) ||
		    !live(nat, nat->contacts[i].last, now))
			continue;
		if (nat->filt == ZT_NAT_ADDRESS_DEPENDENT)
			allowed = zt_addr_ip_equal(&nat->contacts[i].remote, remote);
		else
			allowed = zt_addr_equal(&nat->contacts[i].remote, remote);
	}
	for (unsigned i = 0; i < nat->n_maps && allowed; i++) {
		if (zt_addr_equal(&nat->maps[i].outside, outside) && live(nat, nat->maps[i].last, now)) {
			*ret_inside = nat->maps[i].inside;
			return true;
		}
	}
	return false;
}

/* The client's sockets: local[i] is socket i. */
struct sim_host {
	struct zt_addr local[ZT_NATDISC_MAX_SOCKETS];
	unsigned n;
};

static unsigned socket_of(const struct sim_host *h, const struct zt_addr *a)
{
	for (unsigned i = 0; i < h->n; i++)
		if (zt_addr_equal(&h->local[i], a))
			return i;
	fail_msg("no socket for that address");
	return 0;
}

/* One datagram from socket sock to to, through the NAT, to the server or back in. */
static void sim_deliver(struct client *c, struct sim_nat *nat, const struct zt_stun_server *srv,
			const struct sim_host *h, uint64_t now, unsigned sock,
			const struct zt_addr *to, const uint8_t *buf, size_t n)
{
	struct zt_addr src = h->local[sock], inside;
	uint8_t resp[ZT_STUN_SERVER_MAX_RESPONSE];
	unsigned ep, send;
	int rn;

	if (nat->present && zt_addr_ip_equal(to, &nat->pub)) {
		if (!nat->hairpin)
			return;
		src = nat_out(nat, now, &h->local[sock], to);
		if (nat_in(nat, now, &src, to, &inside))
			zt_natdisc_recv(c->nd, now, socket_of(h, &inside), &src, buf, n);
		return;
	}
	if (nat->present)
		src = nat_out(nat, now, &h->local[sock], to);
	for (ep = 0; ep < zt_stun_server_endpoints(srv); ep++)
		if (zt_addr_equal(zt_stun_server_endpoint(srv, ep), to))
			break;
	if (ep == zt_stun_server_endpoints(srv))
		return;
	rn = zt_stun_server_handle(srv, ep, &src, buf, n, resp, sizeof(resp), &send);
	if (rn <= 0)
		return;
	inside = h->local[sock];
	if (nat->present && !nat_in(nat, now, zt_stun_server_endpoint(srv, send), &src, &inside))
		return;
	assert_int_equal(zt_natdisc_recv(c->nd, now, socket_of(h, &inside),
					 zt_stun_server_endpoint(srv, send), resp, (size_t)rn),
			 0);
}

/* Tests 5 and 6 for sim_run(): none when all zero. */
struct sim_tests {
	unsigned samples, probes;
	uint64_t lifetime_max;
};

static const struct zt_natdisc_result *sim_run(struct client *c, struct sim_nat *nat,
					       const struct sim_tests *t, uint64_t *ret_elapsed)
{
	struct zt_stun_server srv;
	struct zt_addr a1 = addr(A1P1), a2 = addr(A2P2);
	struct zt_natdisc_cfg cfg = {
		.server = a1,
		.n_sockets = 2,
		.n_port_samples = t->samples,
		.n_lifetime_probes = t->probes,
		.lifetime_max = t->lifetime_max,
	};
	struct sim_host h = { .n = 2 + t->samples + t->probes };
	uint64_t now = 0;

	for (unsigned i = 0; i < h.n; i++) {
		h.local[i] = addr(nat->present ? "10.0.0.2" : "192.0.2.44");
		h.local[i].port = (uint16_t)(5000 + 7 * i);
		cfg.local[i] = h.local[i];
	}
	assert_int_equal(zt_stun_server_init(&srv, &a1, &a2), 0);
	zt_prng_seed(&c->prng, 4787);
	cfg.rng = zt_prng_rng(&c->prng);
	assert_int_equal(zt_natdisc_new(&cfg, &c->nd), 0);
	for (int iter = 0; iter < 5000 && !zt_natdisc_result(c->nd)->done; iter++) {
		uint8_t buf[128];
		struct zt_addr to;
		unsigned sock;
		int n;

		while ((n = zt_natdisc_poll_send(c->nd, now, buf, sizeof(buf), &sock, &to)) > 0)
			sim_deliver(c, nat, &srv, &h, now, sock, &to, buf, (size_t)n);
		assert_true(n == 0);
		if (zt_natdisc_result(c->nd)->done)
			break;
		if (zt_natdisc_next_deadline(c->nd) > now)
			now = zt_natdisc_next_deadline(c->nd);
		zt_natdisc_on_timeout(c->nd, now);
	}
	assert_true(zt_natdisc_result(c->nd)->done);
	*ret_elapsed = now;
	return zt_natdisc_result(c->nd);
}

static void classifies_simulated_nats(void **state)
{
	static const struct {
		bool present;
		enum zt_nat_behavior map, filt;
		bool hairpin;
		enum zt_nat_type want;
		enum zt_nat_hairpin want_hairpin;
	} cases[] = {
		{ true, ZT_NAT_ENDPOINT_INDEPENDENT, ZT_NAT_ENDPOINT_INDEPENDENT, true,
		  ZT_NAT_TYPE_FULL_CONE, ZT_NAT_HAIRPIN_YES },
		{ true, ZT_NAT_ENDPOINT_INDEPENDENT, ZT_NAT_ENDPOINT_INDEPENDENT, false,
		  ZT_NAT_TYPE_FULL_CONE, ZT_NAT_HAIRPIN_NO },
		{ true, ZT_NAT_ENDPOINT_INDEPENDENT, ZT_NAT_ADDRESS_DEPENDENT, false,
		  ZT_NAT_TYPE_ADDRESS_RESTRICTED, ZT_NAT_HAIRPIN_NO },
		{ true, ZT_NAT_ENDPOINT_INDEPENDENT, ZT_NAT_ADDRESS_PORT_DEPENDENT, false,
		  ZT_NAT_TYPE_PORT_RESTRICTED, ZT_NAT_HAIRPIN_NO },
		{ true, ZT_NAT_ADDRESS_PORT_DEPENDENT, ZT_NAT_ADDRESS_PORT_DEPENDENT, false,
		  ZT_NAT_TYPE_SYMMETRIC, ZT_NAT_HAIRPIN_NO },
		{ true, ZT_NAT_ADDRESS_DEPENDENT, ZT_NAT_ADDRESS_DEPENDENT, false,
		  ZT_NAT_TYPE_SYMMETRIC, ZT_NAT_HAIRPIN_NO },
		{ false, ZT_NAT_ENDPOINT_INDEPENDENT, ZT_NAT_ENDPOINT_INDEPENDENT, false,
		  ZT_NAT_TYPE_OPEN, ZT_NAT_HAIRPIN_UNKNOWN },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sim_nat nat = {
			.present = cases[i].present,
			.map = cases[i].map,
			.filt = cases[i].filt,
			.hairpin = cases[i].hairpin,
			.pub = addr("203.0.113.5"),
			.next_port = 40000,
		};
		struct client c;
		uint64_t elapsed;
		const struct zt_natdisc_result *r = sim_run(&c, &nat, &(struct sim_tests){ 0 },
							    &elapsed);

		if (r->type != cases[i].want || r->hairpin != cases[i].want_hairpin)
			fail_msg("case %zu: %s hairpin %s", i, zt_natdisc_type_name(r->type),
				 zt_natdisc_hairpin_name(r->hairpin));
		assert_int_equal(r->mapping, cases[i].map);
		assert_int_equal(r->filtering, cases[i].filt);
		assert_int_equal(r->error, 0);
		/* with instant answers only the silent tests cost time: at most 3 x 3.5 s */
		assert_true(elapsed <= 3 * 3500 * MS + 10 * ZT_NATDISC_PACE);
		zt_natdisc_free(c.nd);
	}
}

/* Test 5 through modelled NATs of each allocation, and without a NAT. */
static void port_patterns_of_simulated_nats(void **state)
{
	static const struct {
		bool present;
		enum zt_nat_behavior map, filt;
		enum sim_ports ports;
		enum zt_nat_ports want;
	} cases[] = {
		{ true, ZT_NAT_ADDRESS_PORT_DEPENDENT, ZT_NAT_ADDRESS_PORT_DEPENDENT, SIM_SEQUENTIAL,
		  ZT_NAT_PORTS_SEQUENTIAL },
		{ true, ZT_NAT_ADDRESS_PORT_DEPENDENT, ZT_NAT_ADDRESS_PORT_DEPENDENT, SIM_PRESERVE,
		  ZT_NAT_PORTS_PRESERVE },
		{ true, ZT_NAT_ADDRESS_PORT_DEPENDENT, ZT_NAT_ADDRESS_PORT_DEPENDENT, SIM_RANDOM,
		  ZT_NAT_PORTS_RANDOM },
		{ true, ZT_NAT_ENDPOINT_INDEPENDENT, ZT_NAT_ENDPOINT_INDEPENDENT, SIM_PRESERVE,
		  ZT_NAT_PORTS_PRESERVE },
		{ true, ZT_NAT_ENDPOINT_INDEPENDENT, ZT_NAT_ADDRESS_DEPENDENT, SIM_RANDOM,
		  ZT_NAT_PORTS_RANDOM },
		/* no NAT: not tested */
		{ false, ZT_NAT_ENDPOINT_INDEPENDENT, ZT_NAT_ENDPOINT_INDEPENDENT, SIM_PRESERVE,
		  ZT_NAT_PORTS_UNKNOWN },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sim_nat nat = {
			.present = cases[i].present, .map = cases[i].map, .filt = cases[i].filt,
			.ports = cases[i].ports, .pub = addr("203.0.113.5"), .next_port = 40000,
			.lcg = 7,
		};
		struct client c;
		uint64_t elapsed;
		const struct zt_natdisc_result *r =
			sim_run(&c, &nat, &(struct sim_tests){ .samples = 5 }, &elapsed);

		if (r->ports != cases[i].want)
			fail_msg("case %zu: %s, want %s", i, zt_natdisc_ports_name(r->ports),
				 zt_natdisc_ports_name(cases[i].want));
		assert_int_equal(r->port_samples, cases[i].present ? 5 : 0);
		assert_int_equal(r->lifetime, ZT_NATDISC_LIFETIME_UNTESTED);
		assert_int_equal(r->error, 0);
		zt_natdisc_free(c.nd);
	}
}

/* Test 6 through modelled NATs with a mapping timeout: 20 probes up to 10 s (0.5 s
 * apart). The lifetime found brackets the timeout to within one step. */
static void lifetime_of_simulated_nats(void **state)
{
	static const struct {
		enum zt_nat_behavior map, filt;
		enum sim_ports ports;
		uint64_t timeout;
		enum zt_natdisc_lifetime want;
		enum zt_natdisc_lt_method method;
	} cases[] = {
		{ ZT_NAT_ADDRESS_PORT_DEPENDENT, ZT_NAT_ADDRESS_PORT_DEPENDENT, SIM_RANDOM,
		  4200 * MS, ZT_NATDISC_LIFETIME_MEASURED, ZT_NATDISC_LT_PORT },
		{ ZT_NAT_ADDRESS_PORT_DEPENDENT, ZT_NAT_ADDRESS_PORT_DEPENDENT, SIM_SEQUENTIAL,
		  7000 * MS, ZT_NATDISC_LIFETIME_MEASURED, ZT_NATDISC_LT_PORT },
		/* port-restricted and address-restricted cones: the filter tells */
		{ ZT_NAT_ENDPOINT_INDEPENDENT, ZT_NAT_ADDRESS_PORT_DEPENDENT, SIM_PRESERVE,
		  3300 * MS, ZT_NATDISC_LIFETIME_MEASURED, ZT_NATDISC_LT_FILTER },
		{ ZT_NAT_ENDPOINT_INDEPENDENT, ZT_NAT_ADDRESS_DEPENDENT, SIM_PRESERVE,
		  2000 * MS, ZT_NATDISC_LIFETIME_MEASURED, ZT_NATDISC_LT_FILTER },
		/* longer than the longest idle time tried */
		{ ZT_NAT_ADDRESS_PORT_DEPENDENT, ZT_NAT_ADDRESS_PORT_DEPENDENT, SIM_RANDOM,
		  120 * ZT_SEC, ZT_NATDISC_LIFETIME_ABOVE, ZT_NATDISC_LT_PORT },
		/* a new mapping looks like the old one: full cone, port-preserving symmetric */
		{ ZT_NAT_ENDPOINT_INDEPENDENT, ZT_NAT_ENDPOINT_INDEPENDENT, SIM_PRESERVE,
		  3 * ZT_SEC, ZT_NATDISC_LIFETIME_UNMEASURABLE, ZT_NATDISC_LT_NONE },
		{ ZT_NAT_ADDRESS_PORT_DEPENDENT, ZT_NAT_ADDRESS_PORT_DEPENDENT, SIM_PRESERVE,
		  3 * ZT_SEC, ZT_NATDISC_LIFETIME_UNMEASURABLE, ZT_NATDISC_LT_NONE },
	};
	const struct sim_tests t = { .samples = 5, .probes = 20, .lifetime_max = 10 * ZT_SEC };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct sim_nat nat = {
			.present = true, .map = cases[i].map, .filt = cases[i].filt,
			.ports = cases[i].ports, .timeout = cases[i].timeout,
			.pub = addr("203.0.113.5"), .next_port = 40000, .lcg = 11,
		};
		struct client c;
		uint64_t elapsed;
		const struct zt_natdisc_result *r = sim_run(&c, &nat, &t, &elapsed);

		if (r->lifetime != cases[i].want || r->lifetime_method != cases[i].method)
			fail_msg("case %zu: %s by %s (alive %llu ms, gone %llu ms)", i,
				 zt_natdisc_lifetime_name(r->lifetime),
				 zt_natdisc_lt_method_name(r->lifetime_method),
				 (unsigned long long)(r->lifetime_alive / MS),
				 (unsigned long long)(r->lifetime_gone / MS));
		assert_int_equal(r->error, 0);
		if (r->lifetime == ZT_NATDISC_LIFETIME_MEASURED) {
			assert_true(r->lifetime_alive < cases[i].timeout);
			assert_true(r->lifetime_gone >= cases[i].timeout);
			if (r->lifetime_gone - r->lifetime_alive > 500 * MS + ZT_NATDISC_PACE)
				fail_msg("case %zu: alive %llu ms, gone %llu ms", i,
					 (unsigned long long)(r->lifetime_alive / MS),
					 (unsigned long long)(r->lifetime_gone / MS));
			/* about the lifetime (plus the earlier tests), not the 10 s maximum */
			assert_true(elapsed < 3 * 3500 * MS + 3 * ZT_SEC + cases[i].timeout + 4 * ZT_SEC);
		} else if (r->lifetime == ZT_NATDISC_LIFETIME_ABOVE) {
			assert_true(r->lifetime_alive >= 10 * ZT_SEC);
			assert_int_equal(r->lifetime_gone, 0);
		}
		zt_natdisc_free(c.nd);
	}
}

static void config_checks(void **state)
{
	struct zt_prng p;
	struct zt_natdisc *nd;
	struct zt_natdisc_cfg good = {
		.server = addr(A1P1),
		.local = { addr("10.0.0.2:5000"), addr("10.0.0.2:5001") },
		.n_sockets = 2,
	}, bad;

	(void)state;
	zt_prng_seed(&p, 3);
	good.rng = zt_prng_rng(&p);
	assert_int_equal(zt_natdisc_new(&good, &nd), 0);
	zt_natdisc_free(nd);
	zt_natdisc_free(NULL);
	bad = good;
	bad.n_sockets = 3;
	assert_int_equal(zt_natdisc_new(&bad, &nd), -EINVAL);
	bad = good;
	bad.n_sockets = 0;
	assert_int_equal(zt_natdisc_new(&bad, &nd), -EINVAL);
	bad = good;
	bad.server.port = 0;
	assert_int_equal(zt_natdisc_new(&bad, &nd), -EINVAL);
	bad = good;
	bad.local[1] = (struct zt_addr){ 0 };
	assert_int_equal(zt_natdisc_new(&bad, &nd), -EINVAL);
	bad = good;
	bad.rng.fill = NULL;
	assert_int_equal(zt_natdisc_new(&bad, &nd), -EINVAL);
	bad = good;
	bad.n_host_ips = ZT_NATDISC_MAX_HOST_IPS + 1;
	assert_int_equal(zt_natdisc_new(&bad, &nd), -EINVAL);
	/* a buffer too small for the request */
	assert_int_equal(zt_natdisc_new(&good, &nd), 0);
	{
		uint8_t buf[27];
		unsigned s;
		struct zt_addr to;

		assert_int_equal(zt_natdisc_poll_send(nd, 0, buf, sizeof(buf), &s, &to), -ENOBUFS);
		/* nothing counted as sent */
		assert_int_equal(zt_natdisc_next_deadline(nd), 0);
	}
	zt_natdisc_free(nd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(full_cone),
		cmocka_unit_test(address_restricted),
		cmocka_unit_test(port_restricted),
		cmocka_unit_test(symmetric_address_and_port_dependent),
		cmocka_unit_test(symmetric_address_dependent),
		cmocka_unit_test(udp_blocked_and_retransmission_timing),
		cmocka_unit_test(round_trips_and_loss),
		cmocka_unit_test(configured_retransmission),
		cmocka_unit_test(no_nat_open_and_firewall),
		cmocka_unit_test(hairpinning),
		cmocka_unit_test(ignores_garbage_and_mismatches),
		cmocka_unit_test(response_with_unknown_attribute),
		cmocka_unit_test(server_without_rfc5780),
		cmocka_unit_test(change_request_not_honoured),
		cmocka_unit_test(alternate_unreachable),
		cmocka_unit_test(port_pattern_rule),
		cmocka_unit_test(samples_then_lifetime_probes),
		cmocka_unit_test(classifies_simulated_nats),
		cmocka_unit_test(port_patterns_of_simulated_nats),
		cmocka_unit_test(lifetime_of_simulated_nats),
		cmocka_unit_test(config_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
