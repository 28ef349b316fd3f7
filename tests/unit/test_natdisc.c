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
	assert_int_equal(zt_natdisc_next_deadline(c.nd), ZT_TIME_NEVER);
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

/*
 * End to end against the real responder (core/stun_server) through a modelled NAT:
 * RFC 4787 mapping and filtering rules, optional hairpinning, zero-latency links.
 */
struct sim_nat {
	bool present;
	enum zt_nat_behavior map, filt;
	bool hairpin;
	struct zt_addr pub;
	uint16_t next_port;
	unsigned n_maps, n_contacts;
	struct {
		struct zt_addr inside, remote, outside;
	} maps[16];
	struct {
		struct zt_addr outside, remote;
	} contacts[64];
};

static struct zt_addr nat_out(struct sim_nat *nat, const struct zt_addr *inside,
			      const struct zt_addr *remote)
{
	struct zt_addr out = { 0 };
	bool found = false;

	for (unsigned i = 0; i < nat->n_maps && !found; i++) {
		if (!zt_addr_equal(&nat->maps[i].inside, inside))
			continue;
		if (nat->map == ZT_NAT_ENDPOINT_INDEPENDENT ||
		    (nat->map == ZT_NAT_ADDRESS_DEPENDENT &&
		     zt_addr_ip_equal(&nat->maps[i].remote, remote)) ||
		    zt_addr_equal(&nat->maps[i].remote, remote)) {
			out = nat->maps[i].outside;
			found = true;
		}
	}
	if (!found) {
		assert_true(nat->n_maps < 16);
		out = nat->pub;
		out.port = nat->next_port++;
		nat->maps[nat->n_maps].inside = *inside;
		nat->maps[nat->n_maps].remote = *remote;
		nat->maps[nat->n_maps++].outside = out;
	}
	assert_true(nat->n_contacts < 64);
	nat->contacts[nat->n_contacts].outside = out;
	nat->contacts[nat->n_contacts++].remote = *remote;
	return out;
}

/* The inside address a datagram from remote to outside reaches, if the filter lets it. */
static bool nat_in(const struct sim_nat *nat, const struct zt_addr *remote,
		   const struct zt_addr *outside, struct zt_addr *ret_inside)
{
	bool allowed = nat->filt == ZT_NAT_ENDPOINT_INDEPENDENT;

	for (unsigned i = 0; i < nat->n_contacts && !allowed; i++) {
		if (!zt_addr_equal(&nat->contacts[i].outside, outside))
			continue;
		if (nat->filt == ZT_NAT_ADDRESS_DEPENDENT)
			allowed = zt_addr_ip_equal(&nat->contacts[i].remote, remote);
		else
			allowed = zt_addr_equal(&nat->contacts[i].remote, remote);
	}
	for (unsigned i = 0; i < nat->n_maps && allowed; i++) {
		if (zt_addr_equal(&nat->maps[i].outside, outside)) {
			*ret_inside = nat->maps[i].inside;
			return true;
		}
	}
	return false;
}

static unsigned socket_of(const struct zt_addr *local, const struct zt_addr *a)
{
	for (unsigned i = 0; i < 2; i++)
		if (zt_addr_equal(&local[i], a))
			return i;
	fail_msg("no socket for that address");
	return 0;
}

/* One datagram from socket sock to to, through the NAT, to the server or back in. */
static void sim_deliver(struct client *c, struct sim_nat *nat, const struct zt_stun_server *srv,
			const struct zt_addr *local, uint64_t now, unsigned sock,
			const struct zt_addr *to, const uint8_t *buf, size_t n)
{
	struct zt_addr src = local[sock], inside;
	uint8_t resp[ZT_STUN_SERVER_MAX_RESPONSE];
	unsigned ep, send;
	int rn;

	if (nat->present && zt_addr_ip_equal(to, &nat->pub)) {
		if (!nat->hairpin)
			return;
		src = nat_out(nat, &local[sock], to);
		if (nat_in(nat, &src, to, &inside))
			zt_natdisc_recv(c->nd, now, socket_of(local, &inside), &src, buf, n);
		return;
	}
	if (nat->present)
		src = nat_out(nat, &local[sock], to);
	for (ep = 0; ep < zt_stun_server_endpoints(srv); ep++)
		if (zt_addr_equal(zt_stun_server_endpoint(srv, ep), to))
			break;
	if (ep == zt_stun_server_endpoints(srv))
		return;
	rn = zt_stun_server_handle(srv, ep, &src, buf, n, resp, sizeof(resp), &send);
	if (rn <= 0)
		return;
	inside = local[sock];
	if (nat->present && !nat_in(nat, zt_stun_server_endpoint(srv, send), &src, &inside))
		return;
	assert_int_equal(zt_natdisc_recv(c->nd, now, socket_of(local, &inside),
					 zt_stun_server_endpoint(srv, send), resp, (size_t)rn),
			 0);
}

static const struct zt_natdisc_result *sim_run(struct client *c, struct sim_nat *nat,
					       uint64_t *ret_elapsed)
{
	struct zt_stun_server srv;
	struct zt_addr a1 = addr(A1P1), a2 = addr(A2P2);
	struct zt_addr local[2] = { addr("10.0.0.2:5000"), addr("10.0.0.2:5001") };
	uint64_t now = 0;

	if (!nat->present) {
		local[0] = addr("192.0.2.44:5000");
		local[1] = addr("192.0.2.44:5001");
	}
	assert_int_equal(zt_stun_server_init(&srv, &a1, &a2), 0);
	{
		struct zt_natdisc_cfg cfg = {
			.server = a1,
			.local = { local[0], local[1] },
			.n_sockets = 2,
		};

		zt_prng_seed(&c->prng, 4787);
		cfg.rng = zt_prng_rng(&c->prng);
		assert_int_equal(zt_natdisc_new(&cfg, &c->nd), 0);
	}
	for (int iter = 0; iter < 1000 && !zt_natdisc_result(c->nd)->done; iter++) {
		uint8_t buf[128];
		struct zt_addr to;
		unsigned sock;
		int n;

		while ((n = zt_natdisc_poll_send(c->nd, now, buf, sizeof(buf), &sock, &to)) > 0)
			sim_deliver(c, nat, &srv, local, now, sock, &to, buf, (size_t)n);
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
		const struct zt_natdisc_result *r = sim_run(&c, &nat, &elapsed);

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
		cmocka_unit_test(configured_retransmission),
		cmocka_unit_test(no_nat_open_and_firewall),
		cmocka_unit_test(hairpinning),
		cmocka_unit_test(ignores_garbage_and_mismatches),
		cmocka_unit_test(response_with_unknown_attribute),
		cmocka_unit_test(server_without_rfc5780),
		cmocka_unit_test(change_request_not_honoured),
		cmocka_unit_test(alternate_unreachable),
		cmocka_unit_test(classifies_simulated_nats),
		cmocka_unit_test(config_checks),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
