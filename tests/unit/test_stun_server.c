#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/rng.h"
#include "core/stun.h"
#include "core/stun_server.h"

static const uint8_t tid[ZT_STUN_TID_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

static struct zt_addr addr(const char *text)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, text, 0), 0);
	return a;
}

static void server4(struct zt_stun_server *s)
{
	struct zt_addr a1 = addr("198.51.100.1:3478"), a2 = addr("198.51.100.2:3479");

	assert_int_equal(zt_stun_server_init(s, &a1, &a2), 0);
}

/* A Binding request, optionally with CHANGE-REQUEST flags (< 0: none) and FINGERPRINT. */
static size_t request(uint8_t *buf, size_t cap, int change, bool fingerprint)
{
	struct zt_stun_builder b;
	int n;

	zt_stun_build_init(&b, buf, cap, ZT_STUN_BINDING, ZT_STUN_REQUEST, tid);
	if (change >= 0)
		zt_stun_put_u32(&b, ZT_STUN_ATTR_CHANGE_REQUEST, (uint32_t)change);
	if (fingerprint)
		zt_stun_put_fingerprint(&b);
	n = zt_stun_build_finish(&b);
	assert_true(n > 0);
	return (size_t)n;
}

static void expect_addr(const struct zt_stun_msg *m, uint16_t type, const struct zt_addr *want)
{
	struct zt_addr got;

	assert_int_equal(zt_stun_get_addr(m, type, &got), 0);
	assert_true(zt_addr_equal(&got, want));
}

static void init_validates(void **state)
{
	struct zt_stun_server s;
	struct zt_addr a1 = addr("198.51.100.1:3478"), a2 = addr("198.51.100.2:3479");
	struct zt_addr v6 = addr("[2001:db8::2]:3479"), noport = addr("198.51.100.2");
	struct zt_addr same_ip = addr("198.51.100.1:3479"), same_port = addr("198.51.100.2:3478");
	struct zt_addr unset = { 0 };

	(void)state;
	assert_int_equal(zt_stun_server_init(&s, &a1, &a2), 0);
	assert_int_equal(zt_stun_server_endpoints(&s), 4);
	/* 0 = A1:P1, 1 = A1:P2, 2 = A2:P1, 3 = A2:P2 */
	assert_true(zt_addr_equal(zt_stun_server_endpoint(&s, 0), &a1));
	assert_true(zt_addr_equal(zt_stun_server_endpoint(&s, 1), &same_ip));
	assert_true(zt_addr_equal(zt_stun_server_endpoint(&s, 2), &same_port));
	assert_true(zt_addr_equal(zt_stun_server_endpoint(&s, 3), &a2));
	assert_null(zt_stun_server_endpoint(&s, 4));
	assert_int_equal(zt_stun_server_init(&s, &a1, NULL), 0);
	assert_int_equal(zt_stun_server_endpoints(&s), 1);
	assert_null(zt_stun_server_endpoint(&s, 1));
	assert_int_equal(zt_stun_server_init(&s, &a1, &unset), 0);
	assert_int_equal(zt_stun_server_endpoints(&s), 1);
	assert_int_equal(zt_stun_server_init(&s, &a1, &v6), -EINVAL);
	assert_int_equal(zt_stun_server_init(&s, &a1, &noport), -EINVAL);
	assert_int_equal(zt_stun_server_init(&s, &a1, &same_ip), -EINVAL);
	assert_int_equal(zt_stun_server_init(&s, &a1, &same_port), -EINVAL);
	assert_int_equal(zt_stun_server_init(&s, &unset, NULL), -EINVAL);
}

static void plain_binding(void **state)
{
	struct zt_stun_server s;
	struct zt_addr client = addr("203.0.113.7:40000");
	uint8_t req[64], resp[ZT_STUN_SERVER_MAX_RESPONSE];
	struct zt_stun_msg m;
	unsigned send = 99;
	int n;

	(void)state;
	server4(&s);
	n = zt_stun_server_handle(&s, 0, &client, req, request(req, sizeof(req), -1, false),
				  resp, sizeof(resp), &send);
	assert_int_equal(n, 20 + 4 * 12);
	assert_int_equal(send, 0);
	assert_int_equal(zt_stun_decode(&m, resp, (size_t)n), 0);
	assert_int_equal(m.cls, ZT_STUN_SUCCESS);
	assert_int_equal(m.method, ZT_STUN_BINDING);
	assert_memory_equal(m.tid, tid, sizeof(tid));
	assert_int_equal(m.fp_off, 0);
	expect_addr(&m, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, &client);
	expect_addr(&m, ZT_STUN_ATTR_MAPPED_ADDRESS, &client);
	expect_addr(&m, ZT_STUN_ATTR_RESPONSE_ORIGIN, &s.ep[0]);
	expect_addr(&m, ZT_STUN_ATTR_OTHER_ADDRESS, &s.ep[3]);

	/* with FINGERPRINT in the request, the response has one too */
	n = zt_stun_server_handle(&s, 0, &client, req, request(req, sizeof(req), -1, true),
				  resp, sizeof(resp), &send);
	assert_int_equal(n, 20 + 4 * 12 + 8);
	assert_int_equal(zt_stun_decode(&m, resp, (size_t)n), 0);
	assert_true(m.fp_off > 0);
}

/* RFC 5780 s6.1 Table 1, from every endpoint, with every flag combination. */
static void change_request_table(void **state)
{
	/* expected sending endpoint for [arrived on][flags: none, port, ip, both] */
	static const unsigned want[4][4] = {
		{ 0, 1, 2, 3 },
		{ 1, 0, 3, 2 },
		{ 2, 3, 0, 1 },
		{ 3, 2, 1, 0 },
	};
	static const unsigned other[4] = { 3, 2, 1, 0 };
	static const uint32_t flags[4] = { 0, ZT_STUN_CHANGE_PORT, ZT_STUN_CHANGE_IP,
					   ZT_STUN_CHANGE_IP | ZT_STUN_CHANGE_PORT };
	struct zt_stun_server s;
	struct zt_addr client = addr("203.0.113.7:40000");
	uint8_t req[64], resp[ZT_STUN_SERVER_MAX_RESPONSE];
	struct zt_stun_msg m;

	(void)state;
	server4(&s);
	for (unsigned local = 0; local < 4; local++) {
		for (unsigned f = 0; f < 4; f++) {
			unsigned send = 99;
			size_t rl = request(req, sizeof(req), (int)flags[f], true);
			int n = zt_stun_server_handle(&s, local, &client, req, rl, resp,
						      sizeof(resp), &send);

			assert_int_equal(n, 20 + 4 * 12 + 8);
			assert_int_equal(send, want[local][f]);
			assert_int_equal(zt_stun_decode(&m, resp, (size_t)n), 0);
			expect_addr(&m, ZT_STUN_ATTR_RESPONSE_ORIGIN, &s.ep[send]);
			/* OTHER-ADDRESS is Ca:Cp whatever the flags */
			expect_addr(&m, ZT_STUN_ATTR_OTHER_ADDRESS, &s.ep[other[local]]);
			expect_addr(&m, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, &client);
		}
	}
	/* flag bits other than change-IP / change-port are ignored */
	{
		unsigned send = 99;
		size_t rl = request(req, sizeof(req), 0x7ffffff9, false);

		assert_true(zt_stun_server_handle(&s, 0, &client, req, rl, resp, sizeof(resp),
						  &send) > 0);
		assert_int_equal(send, 0);
	}
}

static void one_address_mode(void **state)
{
	struct zt_stun_server s;
	struct zt_addr a1 = addr("192.0.2.10:3478"), client = addr("203.0.113.7:40000");
	uint8_t req[64], resp[ZT_STUN_SERVER_MAX_RESPONSE];
	struct zt_stun_msg m;
	uint16_t list[4];
	unsigned send = 99;
	const char *reason;
	size_t rl, reason_len;
	int n, code;

	(void)state;
	assert_int_equal(zt_stun_server_init(&s, &a1, NULL), 0);
	n = zt_stun_server_handle(&s, 0, &client, req, request(req, sizeof(req), -1, false),
				  resp, sizeof(resp), &send);
	assert_int_equal(n, 20 + 3 * 12);
	assert_int_equal(zt_stun_decode(&m, resp, (size_t)n), 0);
	assert_false(zt_stun_has(&m, ZT_STUN_ATTR_OTHER_ADDRESS));
	expect_addr(&m, ZT_STUN_ATTR_RESPONSE_ORIGIN, &a1);
	/* RFC 5780 s6: CHANGE-REQUEST, even with no flag set, gets 420 */
	for (int flags = 0; flags <= 6; flags += 2) {
		send = 99;
		rl = request(req, sizeof(req), flags, true);
		n = zt_stun_server_handle(&s, 0, &client, req, rl, resp, sizeof(resp), &send);
		assert_true(n > 0);
		assert_int_equal(send, 0);
		assert_int_equal(zt_stun_decode(&m, resp, (size_t)n), 0);
		assert_int_equal(m.cls, ZT_STUN_ERROR);
		assert_memory_equal(m.tid, tid, sizeof(tid));
		assert_int_equal(zt_stun_get_error(&m, &code, &reason, &reason_len), 0);
		assert_int_equal(code, 420);
		assert_int_equal(zt_stun_get_unknown_list(&m, list, 4), 1);
		assert_int_equal(list[0], ZT_STUN_ATTR_CHANGE_REQUEST);
	}
	assert_int_equal(zt_stun_server_handle(&s, 1, &client, req, rl, resp, sizeof(resp), &send),
			 -EINVAL);
}

static void unknown_attribute_gets_420(void **state)
{
	struct zt_stun_server s;
	struct zt_addr client = addr("203.0.113.7:40000");
	uint8_t req[64], resp[ZT_STUN_SERVER_MAX_RESPONSE];
	struct zt_stun_builder b;
	struct zt_stun_msg m;
	uint16_t list[4];
	unsigned send = 99;
	const char *reason;
	size_t rlen;
	int n, code;

	(void)state;
	server4(&s);
	zt_stun_build_init(&b, req, sizeof(req), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid);
	zt_stun_put_u32(&b, ZT_STUN_ATTR_CHANGE_REQUEST, ZT_STUN_CHANGE_IP);
	zt_stun_put_raw(&b, 0x0027, "\x12\x34\x00\x00", 4); /* RESPONSE-PORT */
	zt_stun_put_fingerprint(&b);
	n = zt_stun_build_finish(&b);
	n = zt_stun_server_handle(&s, 2, &client, req, (size_t)n, resp, sizeof(resp), &send);
	assert_true(n > 0);
	/* the error comes from where the request arrived, not from the changed address */
	assert_int_equal(send, 2);
	assert_int_equal(zt_stun_decode(&m, resp, (size_t)n), 0);
	assert_int_equal(zt_stun_get_error(&m, &code, &reason, &rlen), 0);
	assert_int_equal(code, 420);
	assert_int_equal(zt_stun_get_unknown_list(&m, list, 4), 1);
	assert_int_equal(list[0], 0x0027);
	assert_true(m.fp_off > 0);
}

static void malformed_gets_400(void **state)
{
	struct zt_stun_server s;
	struct zt_addr client = addr("203.0.113.7:40000");
	uint8_t req[64], resp[ZT_STUN_SERVER_MAX_RESPONSE];
	struct zt_stun_msg m;
	unsigned send = 99;
	const char *reason;
	size_t rlen, n;
	int rc, code;

	(void)state;
	server4(&s);
	/* XOR-MAPPED-ADDRESS of 7 bytes in a request */
	n = request(req, sizeof(req), -1, false);
	memcpy(req + n, "\x00\x20\x00\x07\x00\x01\x12\x34\x01\x02\x03\x00", 12);
	req[3] = 12;
	rc = zt_stun_server_handle(&s, 1, &client, req, n + 12, resp, sizeof(resp), &send);
	assert_int_equal(rc, 40);
	assert_int_equal(send, 1);
	assert_int_equal(zt_stun_decode(&m, resp, (size_t)rc), 0);
	assert_int_equal(m.cls, ZT_STUN_ERROR);
	assert_memory_equal(m.tid, tid, sizeof(tid));
	assert_int_equal(zt_stun_get_error(&m, &code, &reason, &rlen), 0);
	assert_int_equal(code, 400);
	/* an attribute that runs past the end of the message */
	req[23] = 0x40;
	rc = zt_stun_server_handle(&s, 1, &client, req, n + 12, resp, sizeof(resp), &send);
	assert_int_equal(rc, 40);
}

static void drops(void **state)
{
	struct zt_stun_server s;
	struct zt_addr client = addr("203.0.113.7:40000"), unset = { 0 };
	uint8_t req[64], resp[ZT_STUN_SERVER_MAX_RESPONSE];
	static const uint8_t quic[24] = { 0xc3, 0, 0, 0, 1 };
	struct zt_stun_builder b;
	unsigned send = 99;
	size_t n;
	int rc;

	(void)state;
	server4(&s);
	n = request(req, sizeof(req), -1, true);
	/* FINGERPRINT mismatch */
	req[n - 1] ^= 1;
	assert_int_equal(zt_stun_server_handle(&s, 0, &client, req, n, resp, sizeof(resp), &send),
			 ZT_ESTUN_FINGERPRINT);
	req[n - 1] ^= 1;
	/* bad cookie, truncated, empty, QUIC */
	req[5] ^= 1;
	assert_int_equal(zt_stun_server_handle(&s, 0, &client, req, n, resp, sizeof(resp), &send),
			 ZT_ESTUN_COOKIE);
	req[5] ^= 1;
	assert_int_equal(zt_stun_server_handle(&s, 0, &client, req, n - 1, resp, sizeof(resp),
					       &send),
			 ZT_ETRUNC);
	assert_int_equal(zt_stun_server_handle(&s, 0, &client, req, 0, resp, sizeof(resp), &send),
			 ZT_EZEROLEN);
	assert_int_equal(zt_stun_server_handle(&s, 0, &client, quic, sizeof(quic), resp,
					       sizeof(resp), &send),
			 ZT_ESTUN_NOTSTUN);
	/* indication, success, error response, other method */
	for (int c = ZT_STUN_INDICATION; c <= ZT_STUN_ERROR; c++) {
		zt_stun_build_init(&b, req, sizeof(req), ZT_STUN_BINDING, c, tid);
		rc = zt_stun_build_finish(&b);
		assert_int_equal(zt_stun_server_handle(&s, 0, &client, req, (size_t)rc, resp,
						       sizeof(resp), &send),
				 ZT_ESTATE);
	}
	zt_stun_build_init(&b, req, sizeof(req), 0x003 /* TURN Allocate */, ZT_STUN_REQUEST, tid);
	rc = zt_stun_build_finish(&b);
	assert_int_equal(zt_stun_server_handle(&s, 0, &client, req, (size_t)rc, resp,
					       sizeof(resp), &send),
			 ZT_ESTATE);
	assert_int_equal(send, 99); /* untouched on every drop */
	/* caller errors */
	n = request(req, sizeof(req), -1, false);
	assert_int_equal(zt_stun_server_handle(&s, 4, &client, req, n, resp, sizeof(resp), &send),
			 -EINVAL);
	assert_int_equal(zt_stun_server_handle(&s, 0, &unset, req, n, resp, sizeof(resp), &send),
			 -EINVAL);
	assert_int_equal(zt_stun_server_handle(&s, 0, &client, req, n, resp, 67, &send),
			 -ENOBUFS);
	assert_int_equal(send, 99);
}

static void ipv6_endpoints(void **state)
{
	struct zt_stun_server s;
	struct zt_addr a1 = addr("[2001:db8::1]:3478"), a2 = addr("[2001:db8::2]:3479");
	struct zt_addr client = addr("[2001:db8:ffff::7]:50000");
	uint8_t req[64], resp[ZT_STUN_SERVER_MAX_RESPONSE];
	struct zt_stun_msg m;
	unsigned send = 99;
	int n;

	(void)state;
	assert_int_equal(zt_stun_server_init(&s, &a1, &a2), 0);
	n = zt_stun_server_handle(&s, 3, &client, req,
				  request(req, sizeof(req), ZT_STUN_CHANGE_PORT, true), resp,
				  sizeof(resp), &send);
	/* the largest answer there is: 4 IPv6 addresses and FINGERPRINT */
	assert_int_equal(n, ZT_STUN_SERVER_MAX_RESPONSE);
	assert_int_equal(send, 2);
	assert_int_equal(zt_stun_decode(&m, resp, (size_t)n), 0);
	expect_addr(&m, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, &client);
	expect_addr(&m, ZT_STUN_ATTR_RESPONSE_ORIGIN, &s.ep[2]);
	expect_addr(&m, ZT_STUN_ATTR_OTHER_ADDRESS, &s.ep[0]);
}

/* An ICE-style check (USERNAME, PRIORITY, ICE-CONTROLLING, MESSAGE-INTEGRITY): the
 * integrity is not checked (no credentials in this usage) and the request answered. */
static void ice_style_request(void **state)
{
	struct zt_stun_server s;
	struct zt_addr client = addr("203.0.113.7:40000");
	uint8_t req[128], resp[ZT_STUN_SERVER_MAX_RESPONSE];
	struct zt_stun_builder b;
	struct zt_stun_msg m;
	unsigned send = 99;
	int n;

	(void)state;
	server4(&s);
	zt_stun_build_init(&b, req, sizeof(req), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid);
	zt_stun_put_str(&b, ZT_STUN_ATTR_USERNAME, "a:b");
	zt_stun_put_u32(&b, ZT_STUN_ATTR_PRIORITY, 0x6e0001ff);
	zt_stun_put_u64(&b, ZT_STUN_ATTR_ICE_CONTROLLING, 42);
	zt_stun_put_raw(&b, ZT_STUN_ATTR_USE_CANDIDATE, NULL, 0);
	zt_stun_put_integrity(&b, (const uint8_t *)"pw", 2);
	zt_stun_put_fingerprint(&b);
	n = zt_stun_build_finish(&b);
	n = zt_stun_server_handle(&s, 0, &client, req, (size_t)n, resp, sizeof(resp), &send);
	assert_int_equal(n, 20 + 4 * 12 + 8);
	assert_int_equal(zt_stun_decode(&m, resp, (size_t)n), 0);
	assert_int_equal(m.cls, ZT_STUN_SUCCESS);
}

/*
 * Amplification: seeded random requests, valid and mutated, never get an answer
 * over the documented bound; the answers that do come are valid STUN.
 */
static void response_size_bound(void **state)
{
	struct zt_stun_server s4, s6, s1;
	struct zt_addr c4 = addr("203.0.113.7:40000"), c6 = addr("[2001:db8:ffff::7]:50000");
	struct zt_addr a1 = addr("[2001:db8::1]:3478"), a2 = addr("[2001:db8::2]:3479");
	struct zt_prng p;
	struct zt_rng rng = zt_prng_rng(&p);
	unsigned answered = 0, max_seen = 0;

	(void)state;
	server4(&s4);
	assert_int_equal(zt_stun_server_init(&s6, &a1, &a2), 0);
	assert_int_equal(zt_stun_server_init(&s1, &a1, NULL), 0);
	zt_prng_seed(&p, 5780);
	for (int iter = 0; iter < 20000; iter++) {
		uint8_t req[256], resp[ZT_STUN_SERVER_MAX_RESPONSE];
		struct zt_stun_builder b;
		unsigned nattr = zt_rng_below(&rng, 6), send;
		const struct zt_stun_server *s = iter % 3 == 0 ? &s4 : iter % 3 == 1 ? &s6 : &s1;
		const struct zt_addr *from = s == &s4 ? &c4 : &c6;
		int n;

		zt_stun_build_init(&b, req, sizeof(req), ZT_STUN_BINDING, ZT_STUN_REQUEST, tid);
		for (unsigned i = 0; i < nattr; i++) {
			static const uint16_t types[] = { ZT_STUN_ATTR_CHANGE_REQUEST, 0x0027,
							  0x7abc, 0xc0de, ZT_STUN_ATTR_PRIORITY,
							  ZT_STUN_ATTR_USE_CANDIDATE };
			uint8_t val[16];
			size_t vl = zt_rng_below(&rng, 9);

			zt_rng_fill(&rng, val, sizeof(val));
			zt_stun_put_raw(&b, types[zt_rng_below(&rng, 6)], val, vl);
		}
		if (zt_rng_below(&rng, 2))
			zt_stun_put_fingerprint(&b);
		n = zt_stun_build_finish(&b);
		assert_true(n > 0);
		/* sometimes flip a random byte */
		if (zt_rng_below(&rng, 4) == 0)
			req[zt_rng_below(&rng, (uint32_t)n)] ^= (uint8_t)(1 + zt_rng_below(&rng, 255));
		send = 99;
		int rc = zt_stun_server_handle(s, 0, from, req, (size_t)n, resp, sizeof(resp), &send);
		if (rc > 0) {
			struct zt_stun_msg m;

			answered++;
			if ((unsigned)rc > max_seen)
				max_seen = (unsigned)rc;
			assert_true(rc <= ZT_STUN_SERVER_MAX_RESPONSE);
			assert_true(rc <= n + ZT_STUN_SERVER_MAX_GROWTH);
			assert_true(send < zt_stun_server_endpoints(s));
			assert_int_equal(zt_stun_decode(&m, resp, (size_t)rc), 0);
		} else {
			assert_int_equal(send, 99);
		}
	}
	/* the run exercised answers, including the largest kind */
	assert_true(answered > 5000);
	assert_int_equal(max_seen, ZT_STUN_SERVER_MAX_RESPONSE);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(init_validates),
		cmocka_unit_test(plain_binding),
		cmocka_unit_test(change_request_table),
		cmocka_unit_test(one_address_mode),
		cmocka_unit_test(unknown_attribute_gets_420),
		cmocka_unit_test(malformed_gets_400),
		cmocka_unit_test(drops),
		cmocka_unit_test(ipv6_endpoints),
		cmocka_unit_test(ice_style_request),
		cmocka_unit_test(response_size_bound),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
