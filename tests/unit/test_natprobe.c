/* core/natprobe: the node's NAT detection from a second mapping towards the
 * Intermediate's STUN port (docs/hard-nat.md). The answers come from the real
 * Binding responder (core/stun_server), as the Intermediate's. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "core/natprobe.h"
#include "core/stun_server.h"

#define MS ZT_MS

static const uint8_t tid[ZT_STUN_TID_LEN] = { 0xa1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

static struct zt_addr addr(const char *s)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, s, 0), 0);
	return a;
}

struct fixture {
	struct zt_natprobe np;
	struct zt_stun_server srv;
	struct zt_addr p0, server;
	uint8_t req[64];
	size_t req_len;
};

static void setup(struct fixture *f)
{
	f->p0 = addr("203.0.113.4:20000");
	f->server = addr("198.51.100.1:4434");
	assert_int_equal(zt_stun_server_init(&f->srv, &f->server, NULL), 0);
	zt_natprobe_init(&f->np);
	assert_int_equal(zt_natprobe_result(&f->np), ZT_NATPROBE_NONE);
	assert_int_equal(zt_natprobe_next_deadline(&f->np), ZT_TIME_NEVER);
	assert_int_equal(zt_natprobe_start(&f->np, 1000 * MS, &f->p0, &f->server, tid), 1);
}

/* Polls at now; expects a request to the server. */
static void expect_request(struct fixture *f, uint64_t now)
{
	struct zt_addr to;
	int n = zt_natprobe_poll_send(&f->np, now, f->req, sizeof(f->req), &to);

	assert_int_equal(n, ZT_NATPROBE_REQ_LEN);
	assert_true(zt_addr_equal(&to, &f->server));
	f->req_len = (size_t)n;
}

static void expect_nothing(struct fixture *f, uint64_t now)
{
	struct zt_addr to;

	assert_int_equal(zt_natprobe_poll_send(&f->np, now, f->req, sizeof(f->req), &to), 0);
}

/* The Intermediate's answer as it sees the request come from mapped. */
static size_t answer(struct fixture *f, const struct zt_addr *mapped, uint8_t *out, size_t cap)
{
	unsigned ep;
	int n = zt_stun_server_handle(&f->srv, 0, mapped, f->req, f->req_len, out, cap, &ep);

	assert_true(n > 0);
	return (size_t)n;
}

static enum zt_natprobe_result outcome(const char *second)
{
	struct fixture f;
	struct zt_addr p1 = addr(second);
	uint8_t resp[ZT_STUN_SERVER_MAX_RESPONSE];
	size_t n;

	setup(&f);
	expect_request(&f, 1000 * MS);
	n = answer(&f, &p1, resp, sizeof(resp));
	assert_int_equal(zt_natprobe_recv(&f.np, 1030 * MS, &f.server, resp, n), 1);
	if (zt_natprobe_result(&f.np)) {
		assert_true(zt_addr_equal(&f.np.second, &p1));
		assert_int_equal(f.np.took, 30 * MS);
		assert_false(zt_natprobe_running(&f.np));
		assert_int_equal(zt_natprobe_next_deadline(&f.np), ZT_TIME_NEVER);
		expect_nothing(&f, 5000 * MS);
	}
	return zt_natprobe_result(&f.np);
}

/* Every outcome of one answer: P1 vs P0 = 203.0.113.4:20000. */
static void every_outcome(void **state)
{
	(void)state;
	assert_int_equal(outcome("203.0.113.4:20000"), ZT_NATPROBE_EIM);
	assert_int_equal(outcome("203.0.113.4:20001"), ZT_NATPROBE_SEQUENTIAL);
	assert_int_equal(outcome("203.0.113.4:20008"), ZT_NATPROBE_SEQUENTIAL);
	assert_int_equal(outcome("203.0.113.4:20009"), ZT_NATPROBE_RANDOM);
	assert_int_equal(outcome("203.0.113.4:19999"), ZT_NATPROBE_RANDOM);
	assert_int_equal(outcome("203.0.113.4:51234"), ZT_NATPROBE_RANDOM);
	/* a second public IP (non-paired pooling, a CGN): nothing to aim at */
	assert_int_equal(outcome("203.0.113.5:20001"), ZT_NATPROBE_UNKNOWN);
	/* an IPv6 mapped address for an IPv4 observation is not used */
	assert_int_equal(outcome("[2001:db8::4]:20001"), ZT_NATPROBE_NONE);
	assert_string_equal(zt_natprobe_name(ZT_NATPROBE_EIM), "eim");
	assert_string_equal(zt_natprobe_name(ZT_NATPROBE_SEQUENTIAL), "sequential");
	assert_string_equal(zt_natprobe_name(ZT_NATPROBE_RANDOM), "random");
	assert_string_equal(zt_natprobe_name(ZT_NATPROBE_UNKNOWN), "unknown");
	assert_string_equal(zt_natprobe_name(ZT_NATPROBE_NONE), "none");
}

/* Wrap-around and the rule itself. */
static void classify_edges(void **state)
{
	struct zt_addr p0 = addr("203.0.113.4:65534"), p1 = addr("203.0.113.4:65535");
	struct zt_addr wrap = addr("203.0.113.4:1");

	(void)state;
	assert_int_equal(zt_natprobe_classify(&p0, &p1), ZT_NATPROBE_SEQUENTIAL);
	assert_int_equal(zt_natprobe_classify(&p0, &wrap), ZT_NATPROBE_RANDOM);
	assert_int_equal(zt_natprobe_classify(&(struct zt_addr){ 0 }, &p1), ZT_NATPROBE_UNKNOWN);
}

/* Lost requests or answers: retransmitted at 0.5, 1.5, 3.5 s; an answer to any of them
 * decides; none by 5.5 s is unknown, and nothing more is sent. */
static void lost_replies_and_timeout(void **state)
{
	struct fixture f;
	uint8_t resp[ZT_STUN_SERVER_MAX_RESPONSE];
	struct zt_addr p1 = addr("203.0.113.4:20001");
	size_t n;
	uint64_t t0 = 1000 * MS;

	(void)state;
	setup(&f);
	assert_true(zt_natprobe_running(&f.np));
	assert_int_equal(zt_natprobe_next_deadline(&f.np), t0);
	expect_request(&f, t0);
	assert_int_equal(zt_natprobe_next_deadline(&f.np), t0 + 500 * MS);
	expect_nothing(&f, t0 + 499 * MS);
	expect_request(&f, t0 + 500 * MS);
	assert_int_equal(zt_natprobe_next_deadline(&f.np), t0 + 1500 * MS);
	expect_request(&f, t0 + 1500 * MS);
	assert_int_equal(zt_natprobe_next_deadline(&f.np), t0 + 3500 * MS);
	/* an answer to the third request */
	n = answer(&f, &p1, resp, sizeof(resp));
	assert_int_equal(zt_natprobe_recv(&f.np, t0 + 1600 * MS, &f.server, resp, n), 1);
	assert_int_equal(zt_natprobe_result(&f.np), ZT_NATPROBE_SEQUENTIAL);
	assert_int_equal(f.np.took, 1600 * MS);

	/* all lost */
	setup(&f);
	expect_request(&f, t0);
	expect_request(&f, t0 + 500 * MS);
	expect_request(&f, t0 + 1500 * MS);
	expect_request(&f, t0 + 3500 * MS);
	expect_nothing(&f, t0 + 60000 * MS);
	assert_int_equal(zt_natprobe_next_deadline(&f.np), t0 + 5500 * MS);
	zt_natprobe_on_timeout(&f.np, t0 + 5499 * MS);
	assert_int_equal(zt_natprobe_result(&f.np), ZT_NATPROBE_NONE);
	zt_natprobe_on_timeout(&f.np, t0 + 5500 * MS);
	assert_int_equal(zt_natprobe_result(&f.np), ZT_NATPROBE_UNKNOWN);
	assert_false(zt_natprobe_running(&f.np));
	assert_int_equal(zt_natprobe_next_deadline(&f.np), ZT_TIME_NEVER);
	/* a late answer changes nothing */
	n = answer(&f, &p1, resp, sizeof(resp));
	assert_int_equal(zt_natprobe_recv(&f.np, t0 + 6000 * MS, &f.server, resp, n), 0);
	assert_int_equal(zt_natprobe_result(&f.np), ZT_NATPROBE_UNKNOWN);
}

/* Datagrams that are not our answer: not taken (another source, another transaction,
 * not STUN, before the request) or taken and ignored (our transaction, but an error,
 * a request, no mapped address, unknown required attributes). The probe goes on and
 * the genuine answer still decides. */
static void hostile_answers_are_ignored(void **state)
{
	struct fixture f;
	struct zt_addr p1 = addr("203.0.113.4:20001"), other = addr("198.51.100.1:4433");
	uint8_t resp[ZT_STUN_SERVER_MAX_RESPONSE], buf[128];
	static const uint8_t garbage[] = { 0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xa4, 0x42 };
	uint8_t wrong_tid[ZT_STUN_TID_LEN];
	struct zt_stun_builder b;
	size_t n;
	int len;

	(void)state;
	setup(&f);
	/* a perfect answer before anything was sent */
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_SUCCESS, tid);
	zt_stun_put_addr(&b, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, &p1);
	len = zt_stun_build_finish(&b);
	assert_int_equal(zt_natprobe_recv(&f.np, 900 * MS, &f.server, buf, (size_t)len), 0);
	expect_request(&f, 1000 * MS);
	n = answer(&f, &p1, resp, sizeof(resp));
	/* from the QUIC port, or anyone else */
	assert_int_equal(zt_natprobe_recv(&f.np, 1001 * MS, &other, resp, n), 0);
	/* truncated, garbage, empty */
	assert_int_equal(zt_natprobe_recv(&f.np, 1001 * MS, &f.server, resp, n - 4), 0);
	assert_int_equal(zt_natprobe_recv(&f.np, 1001 * MS, &f.server, garbage, sizeof(garbage)), 0);
	assert_int_equal(zt_natprobe_recv(&f.np, 1001 * MS, &f.server, resp, 0), 0);
	/* another transaction */
	memcpy(wrong_tid, tid, sizeof(wrong_tid));
	wrong_tid[11] ^= 1;
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_SUCCESS, wrong_tid);
	zt_stun_put_addr(&b, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, &p1);
	len = zt_stun_build_finish(&b);
	assert_int_equal(zt_natprobe_recv(&f.np, 1001 * MS, &f.server, buf, (size_t)len), 0);
	/* ours: an error answer */
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_ERROR, tid);
	zt_stun_put_error(&b, 400, "Bad Request");
	len = zt_stun_build_finish(&b);
	assert_int_equal(zt_natprobe_recv(&f.np, 1001 * MS, &f.server, buf, (size_t)len), 1);
	/* ours: our own request reflected */
	assert_int_equal(zt_natprobe_recv(&f.np, 1001 * MS, &f.server, f.req, f.req_len), 1);
	/* ours: a success without a mapped address, with a zero port, with an unknown
	 * comprehension-required attribute */
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_SUCCESS, tid);
	len = zt_stun_build_finish(&b);
	assert_int_equal(zt_natprobe_recv(&f.np, 1001 * MS, &f.server, buf, (size_t)len), 1);
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_SUCCESS, tid);
	p1.port = 0;
	zt_stun_put_addr(&b, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, &p1);
	p1.port = 20001;
	len = zt_stun_build_finish(&b);
	assert_int_equal(zt_natprobe_recv(&f.np, 1001 * MS, &f.server, buf, (size_t)len), 1);
	zt_stun_build_init(&b, buf, sizeof(buf), ZT_STUN_BINDING, ZT_STUN_SUCCESS, tid);
	zt_stun_put_addr(&b, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, &p1);
	zt_stun_put_u32(&b, 0x0077, 1); /* comprehension-required, unknown */
	len = zt_stun_build_finish(&b);
	assert_int_equal(zt_natprobe_recv(&f.np, 1001 * MS, &f.server, buf, (size_t)len), 1);
	assert_int_equal(zt_natprobe_result(&f.np), ZT_NATPROBE_NONE);
	assert_true(zt_natprobe_running(&f.np));
	/* the retransmission goes on; the genuine answer decides */
	expect_request(&f, 1500 * MS);
	n = answer(&f, &p1, resp, sizeof(resp));
	assert_int_equal(zt_natprobe_recv(&f.np, 1510 * MS, &f.server, resp, n), 1);
	assert_int_equal(zt_natprobe_result(&f.np), ZT_NATPROBE_SEQUENTIAL);
}

/* The result belongs to its observation: the same one keeps it, a new one (or a new
 * server) starts again; stop ends a running probe without a result. */
static void a_new_observation_restarts(void **state)
{
	struct fixture f;
	struct zt_addr p1 = addr("203.0.113.4:20000"), p0b = addr("203.0.113.4:31000");
	struct zt_addr v6 = addr("[2001:db8::1]:4434"), to;
	uint8_t resp[ZT_STUN_SERVER_MAX_RESPONSE], small[8];
	size_t n;

	(void)state;
	setup(&f);
	assert_int_equal(zt_natprobe_poll_send(&f.np, 1000 * MS, small, sizeof(small), &to), -ENOBUFS);
	expect_request(&f, 1000 * MS);
	n = answer(&f, &p1, resp, sizeof(resp));
	assert_int_equal(zt_natprobe_recv(&f.np, 1010 * MS, &f.server, resp, n), 1);
	assert_int_equal(zt_natprobe_result(&f.np), ZT_NATPROBE_EIM);
	assert_int_equal(zt_natprobe_start(&f.np, 2000 * MS, &f.p0, &f.server, tid), 0);
	assert_int_equal(zt_natprobe_result(&f.np), ZT_NATPROBE_EIM);
	assert_int_equal(zt_natprobe_start(&f.np, 2000 * MS, &p0b, &f.server, tid), 1);
	assert_int_equal(zt_natprobe_result(&f.np), ZT_NATPROBE_NONE);
	expect_request(&f, 2000 * MS);
	/* the same observation again while it runs: kept running, no new request yet */
	assert_int_equal(zt_natprobe_start(&f.np, 2100 * MS, &p0b, &f.server, tid), 0);
	expect_nothing(&f, 2100 * MS);
	zt_natprobe_stop(&f.np);
	assert_false(zt_natprobe_running(&f.np));
	assert_int_equal(zt_natprobe_next_deadline(&f.np), ZT_TIME_NEVER);
	expect_nothing(&f, 9000 * MS);
	assert_int_equal(zt_natprobe_start(&f.np, 9000 * MS, &p0b, &f.server, tid), 1);
	expect_request(&f, 9000 * MS);
	/* bad arguments */
	assert_int_equal(zt_natprobe_start(&f.np, 0, &f.p0, &v6, tid), -EINVAL);
	assert_int_equal(zt_natprobe_start(&f.np, 0, &(struct zt_addr){ 0 }, &f.server, tid), -EINVAL);
	to = f.server;
	to.port = 0;
	assert_int_equal(zt_natprobe_start(&f.np, 0, &f.p0, &to, tid), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(every_outcome),
		cmocka_unit_test(classify_edges),
		cmocka_unit_test(lost_replies_and_timeout),
		cmocka_unit_test(hostile_answers_are_ignored),
		cmocka_unit_test(a_new_observation_restarts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
