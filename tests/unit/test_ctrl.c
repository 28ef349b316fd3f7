#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/ctrl.h"
#include "core/err.h"
#include "core/wire.h"

#define N_TYPES 14 /* ZT_CTRL_HELLO .. ZT_CTRL_ROUTES */

static struct zt_addr addr(const char *text)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, text, 0), 0);
	return a;
}

/* A string of n bytes: tag, then a pattern of printable characters. */
static void fill_str(char *dst, size_t n, char tag)
{
	for (size_t i = 0; i < n; i++)
		dst[i] = (char)(i == 0 ? tag : 'a' + (char)(i % 26));
	dst[n] = '\0';
}

static struct zt_cand edge_cand(size_t i)
{
	struct zt_cand c = { .type = (uint8_t)(i % 4),
			     .transport = (uint8_t)(i % 3 == 2 ? ZT_CAND_TCP_SO : ZT_CAND_UDP),
			     .component = (uint16_t)(i % 2 ? 256 : 1),
			     .priority = i % 3 ? ZT_CAND_PRIORITY_MAX : 1 };
	char a[64];

	fill_str(c.foundation, i % 2 ? ZT_CAND_FOUNDATION_MAX : 1, 'F');
	if (i % 2)
		snprintf(a, sizeof(a), "[2001:db8::%zx]:65535", i);
	else
		snprintf(a, sizeof(a), "198.51.100.%zu:1", i);
	c.addr = addr(a);
	if (c.type != ZT_CAND_HOST)
		c.related = addr(i % 3 ? "0.0.0.0:0" : "[ffff:ffff::1]:65535");
	if (c.type == ZT_CAND_SRFLX && c.transport == ZT_CAND_UDP)
		c.predicted = (uint8_t)(i % 2 ? ZT_CAND_PREDICTED_MAX : 1);
	return c;
}

/* Every field set, at its largest value or capacity. */
static void make_full(struct zt_ctrl_msg *m, unsigned type)
{
	zt_ctrl_msg_init(m, type);
	switch (type) {
	case ZT_CTRL_HELLO:
		m->u.hello.role = ZT_CTRL_ROLE_CONNECTOR;
		fill_str(m->u.hello.identity, ZT_CTRL_STR_MAX, 'I');
		for (size_t i = 0; i < ZT_CTRL_TOKEN_MAX; i++)
			m->u.hello.token[i] = (uint8_t)(255 - i);
		m->u.hello.token_len = ZT_CTRL_TOKEN_MAX;
		fill_str(m->u.hello.software, ZT_CTRL_STR_MAX, 'S');
		m->u.hello.n_services = ZT_CTRL_SERVICES_MAX;
		for (size_t i = 0; i < ZT_CTRL_SERVICES_MAX; i++)
			fill_str(m->u.hello.services[i], ZT_CTRL_STR_MAX, (char)('A' + i));
		m->u.hello.n_routes = ZT_CTRL_HELLO_ROUTES_MAX;
		for (size_t i = 0; i < ZT_CTRL_HELLO_ROUTES_MAX; i++)
			fill_str(m->u.hello.routes[i], ZT_CTRL_STR_MAX, (char)('a' + i));
		m->u.hello.move_from = UINT64_MAX - 1;
		m->u.hello.relay_channel = true;
		break;
	case ZT_CTRL_WELCOME:
		m->u.welcome.client_id = UINT64_MAX;
		m->u.welcome.observed = addr("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535");
		m->u.welcome.server_time = UINT64_MAX;
		fill_str(m->u.welcome.software, ZT_CTRL_STR_MAX, 'W');
		m->u.welcome.tun4 = addr("100.127.255.254:0");
		m->u.welcome.tun6 = addr("[fd7a:7a74::ffff]:0");
		fill_str(m->u.welcome.tun_pool4, ZT_CTRL_STR_MAX, '4');
		fill_str(m->u.welcome.tun_pool6, ZT_CTRL_STR_MAX, '6');
		m->u.welcome.stun_port = 65535;
		m->u.welcome.relay_channel = true;
		break;
	case ZT_CTRL_REGISTER:
		m->u.reg.n_services = ZT_CTRL_SERVICES_MAX;
		for (size_t i = 0; i < ZT_CTRL_SERVICES_MAX; i++)
			fill_str(m->u.reg.services[i], i == 0 ? 0 : ZT_CTRL_STR_MAX, (char)('a' + i));
		m->u.reg.n_routes = ZT_CTRL_HELLO_ROUTES_MAX;
		for (size_t i = 0; i < ZT_CTRL_HELLO_ROUTES_MAX; i++)
			fill_str(m->u.reg.routes[i], ZT_CTRL_STR_MAX, (char)('A' + i));
		break;
	case ZT_CTRL_OPEN:
		m->u.open.request_id = UINT64_MAX;
		fill_str(m->u.open.service, ZT_CTRL_STR_MAX, 'O');
		m->u.open.resume_session = UINT64_MAX;
		break;
	case ZT_CTRL_SESSION:
		m->u.session.session_id = UINT64_MAX;
		m->u.session.request_id = UINT64_MAX - 1;
		fill_str(m->u.session.service, ZT_CTRL_STR_MAX, 's');
		fill_str(m->u.session.peer_identity, ZT_CTRL_STR_MAX, 'p');
		m->u.session.quota_bytes = UINT64_MAX;
		m->u.session.quota_packets = UINT64_MAX - 2;
		m->u.session.ice_role = ZT_CTRL_ICE_CONTROLLED;
		m->u.session.tun4 = addr("100.64.0.1:0");
		m->u.session.tun6 = addr("[fd7a:7a74::1]:0");
		break;
	case ZT_CTRL_CLOSE:
		m->u.close.session_id = UINT64_MAX;
		m->u.close.reason = UINT32_MAX;
		fill_str(m->u.close.text, ZT_CTRL_STR_MAX, 'c');
		break;
	case ZT_CTRL_OBSERVED_ADDRESS:
		m->u.observed.addr = addr("255.255.255.255:65535");
		break;
	case ZT_CTRL_CANDIDATES:
		m->u.cands.session_id = UINT64_MAX;
		fill_str(m->u.cands.ufrag, ZT_CTRL_STR_MAX, 'u');
		fill_str(m->u.cands.pwd, ZT_CTRL_STR_MAX, 'P');
		m->u.cands.generation = UINT32_MAX;
		m->u.cands.seq = UINT32_MAX;
		m->u.cands.end_of_candidates = true;
		m->u.cands.n_cands = ZT_CTRL_CANDS_MAX;
		for (size_t i = 0; i < ZT_CTRL_CANDS_MAX; i++)
			m->u.cands.cands[i] = edge_cand(i);
		m->u.cands.nat_mapping = ZT_CTRL_NAT_MAP_ADDRESS_PORT;
		m->u.cands.nat_ports = ZT_CTRL_NAT_PORTS_RANDOM;
		m->u.cands.observed = addr("[2001:db8::ffff]:65535");
		break;
	case ZT_CTRL_START_CHECKS:
		m->u.start.session_id = UINT64_MAX;
		m->u.start.start_offset = UINT64_MAX;
		m->u.start.generation = UINT32_MAX;
		break;
	case ZT_CTRL_PATH_REPORT:
		m->u.path.session_id = UINT64_MAX;
		m->u.path.path = ZT_CTRL_PATH_RELAY;
		m->u.path.local = addr("[::1]:1");
		m->u.path.remote = addr("203.0.113.2:40123");
		m->u.path.rtt_us = UINT32_MAX;
		m->u.path.time_to_direct_ms = UINT32_MAX;
		m->u.path.path_switches = UINT32_MAX;
		fill_str(m->u.path.text, ZT_CTRL_STR_MAX, 'r');
		break;
	case ZT_CTRL_ERROR:
		m->u.error.code = UINT32_MAX;
		fill_str(m->u.error.text, ZT_CTRL_STR_MAX, 'e');
		m->u.error.session_id = UINT64_MAX;
		m->u.error.request_id = UINT64_MAX;
		break;
	case ZT_CTRL_PING:
	case ZT_CTRL_PONG:
		m->u.ping.nonce = UINT64_MAX;
		m->u.ping.timestamp = UINT64_MAX - 1;
		if (type == ZT_CTRL_PONG)
			m->u.ping.peer_time = UINT64_MAX - 2;
		break;
	case ZT_CTRL_ROUTES:
		m->u.routes.n_routes = ZT_CTRL_ROUTES_MAX;
		for (size_t i = 0; i < ZT_CTRL_ROUTES_MAX; i++)
			fill_str(m->u.routes.routes[i], ZT_CTRL_STR_MAX, (char)('A' + i));
		break;
	default:
		fail_msg("no full message for type %u", type);
	}
}

/* Only the required fields, at their smallest values. */
static void make_min(struct zt_ctrl_msg *m, unsigned type)
{
	zt_ctrl_msg_init(m, type);
	switch (type) {
	case ZT_CTRL_HELLO:
		m->u.hello.role = ZT_CTRL_ROLE_AGENT;
		break;
	case ZT_CTRL_WELCOME:
		m->u.welcome.observed = addr("0.0.0.0:0");
		break;
	case ZT_CTRL_SESSION:
		m->u.session.ice_role = ZT_CTRL_ICE_CONTROLLING;
		break;
	case ZT_CTRL_OBSERVED_ADDRESS:
		m->u.observed.addr = addr("[::]:0");
		break;
	case ZT_CTRL_PATH_REPORT:
		m->u.path.path = ZT_CTRL_PATH_DIRECT;
		break;
	default:
		break;
	}
}

static int encode(const struct zt_ctrl_msg *m, uint8_t *buf)
{
	int n = zt_ctrl_encode(m, buf, ZT_CTRL_MSG_MAX);

	assert_true(n >= ZT_CTRL_HDR_LEN);
	return n;
}

static void assert_round_trip(const struct zt_ctrl_msg *m)
{
	static uint8_t buf[ZT_CTRL_MSG_MAX];
	static struct zt_ctrl_msg out;
	int n = encode(m, buf);
	uint8_t *exact = malloc((size_t)n); /* exact size: ASan sees any over-read */

	assert_non_null(exact);
	memcpy(exact, buf, (size_t)n);
	assert_int_equal(zt_ctrl_decode(&out, exact, (size_t)n), 0);
	assert_memory_equal(&out, m, sizeof(out));
	free(exact);
}

static void round_trip_every_type_full(void **state)
{
	static struct zt_ctrl_msg m;
	uint8_t buf[ZT_CTRL_MSG_MAX];

	(void)state;
	for (unsigned t = 1; t <= N_TYPES; t++) {
		make_full(&m, t);
		assert_round_trip(&m);
	}
	/* the largest message (HELLO at capacity) fits, with room to spare */
	make_full(&m, ZT_CTRL_HELLO);
	assert_true(encode(&m, buf) <= ZT_CTRL_MSG_MAX);
	assert_int_equal(m.u.hello.n_services, 32);
}

static void round_trip_every_type_minimal(void **state)
{
	static struct zt_ctrl_msg m;
	uint8_t buf[ZT_CTRL_MSG_MAX];

	(void)state;
	for (unsigned t = 1; t <= N_TYPES; t++) {
		make_min(&m, t);
		assert_round_trip(&m);
	}
	/* optional fields at zero are not sent: PING = header + 2 x (4 + 8) */
	make_min(&m, ZT_CTRL_PING);
	assert_int_equal(encode(&m, buf), 4 + 12 + 12);
	make_min(&m, ZT_CTRL_PONG);
	assert_int_equal(encode(&m, buf), 4 + 12 + 12);
	/* ERROR = header + code */
	make_min(&m, ZT_CTRL_ERROR);
	assert_int_equal(encode(&m, buf), 4 + 8);
	/* REGISTER with no services has an empty body */
	make_min(&m, ZT_CTRL_REGISTER);
	assert_int_equal(encode(&m, buf), 4);
	/* HELLO: role + empty identity, which is required and so present */
	make_min(&m, ZT_CTRL_HELLO);
	assert_int_equal(encode(&m, buf), 4 + 5 + 4);
}

/* The layout of docs/control-protocol.md, byte by byte. */
static void wire_layout_matches_spec(void **state)
{
	static const uint8_t open[] = {
		0x01, 0x04, 0x00, 0x15,     /* version 1, OPEN, body 21 bytes */
		0x00, 0x09, 0x00, 0x08,     /* REQUEST_ID, 8 bytes */
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08,
		0x00, 0x05, 0x00, 0x05,     /* SERVICE, 5 bytes */
		's', 's', 'h', '-', '1',
	};
	static const uint8_t observed_v4[] = {
		0x01, 0x07, 0x00, 0x0a,     /* version 1, OBSERVED_ADDRESS, body 10 */
		0x00, 0x07, 0x00, 0x06,     /* ADDRESS, 6 bytes */
		0x9c, 0x4b,                 /* port 40011 */
		203, 0, 113, 2,             /* 203.0.113.2 */
	};
	static const uint8_t observed_mapped[] = {
		0x01, 0x07, 0x00, 0x16,     /* version 1, OBSERVED_ADDRESS, body 22 */
		0x00, 0x07, 0x00, 0x12,     /* ADDRESS, 18 bytes */
		0x9c, 0x4b,                 /* port 40011 */
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 203, 0, 113, 2, /* ::ffff:203.0.113.2 */
	};
	static const uint8_t cands[] = {
		0x01, 0x08, 0x00, 0x3c,     /* version 1, CANDIDATES, body 60 */
		0x00, 0x0a, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 7, /* SESSION_ID 7 */
		0x00, 0x11, 0x00, 0x01, 'u', /* UFRAG "u" */
		0x00, 0x12, 0x00, 0x01, 'p', /* PWD "p" */
		0x00, 0x13, 0x00, 0x22,     /* CANDIDATE, 34 bytes of candidate fields: */
		0x00, 0x01, 0x00, 0x01, 0x01, /* type srflx */
		0x00, 0x02, 0x00, 0x02, 0x00, 0x01, /* component 1 */
		0x00, 0x03, 0x00, 0x04, 0x64, 0xff, 0xff, 0xff, /* priority 1694498815 */
		0x00, 0x04, 0x00, 0x01, 'f', /* foundation "f" */
		0x00, 0x05, 0x00, 0x06, 0x00, 0x50, 10, 0, 0, 1, /* 10.0.0.1:80 */
	};
	static struct zt_ctrl_msg m, want;
	uint8_t buf[ZT_CTRL_MSG_MAX];

	(void)state;
	zt_ctrl_msg_init(&want, ZT_CTRL_OPEN);
	want.u.open.request_id = 0x0102030405060708ULL;
	strcpy(want.u.open.service, "ssh-1");
	assert_int_equal(zt_ctrl_decode(&m, open, sizeof(open)), 0);
	assert_memory_equal(&m, &want, sizeof(m));
	assert_int_equal(zt_ctrl_encode(&want, buf, sizeof(buf)), sizeof(open));
	assert_memory_equal(buf, open, sizeof(open));

	/* the same OPEN re-attaching session 0x2a: SESSION_ID (0x000a) after SERVICE */
	{
		static const uint8_t resume[] = {
			0x01, 0x04, 0x00, 0x21,
			0x00, 0x09, 0x00, 0x08, 1, 2, 3, 4, 5, 6, 7, 8,
			0x00, 0x05, 0x00, 0x05, 's', 's', 'h', '-', '1',
			0x00, 0x0a, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 0x2a,
		};
		want.u.open.resume_session = 0x2a;
		assert_int_equal(zt_ctrl_encode(&want, buf, sizeof(buf)), sizeof(resume));
		assert_memory_equal(buf, resume, sizeof(resume));
		assert_int_equal(zt_ctrl_decode(&m, resume, sizeof(resume)), 0);
		assert_memory_equal(&m, &want, sizeof(m));
	}

	zt_ctrl_msg_init(&want, ZT_CTRL_OBSERVED_ADDRESS);
	want.u.observed.addr = addr("203.0.113.2:40011");
	assert_int_equal(zt_ctrl_decode(&m, observed_v4, sizeof(observed_v4)), 0);
	assert_memory_equal(&m, &want, sizeof(m));
	assert_int_equal(zt_ctrl_encode(&want, buf, sizeof(buf)), sizeof(observed_v4));
	assert_memory_equal(buf, observed_v4, sizeof(observed_v4));
	/* an IPv4-mapped address is the IPv4 address (core/addr.h), padding zero */
	assert_int_equal(zt_ctrl_decode(&m, observed_mapped, sizeof(observed_mapped)), 0);
	assert_memory_equal(&m, &want, sizeof(m));

	assert_int_equal(zt_ctrl_decode(&m, cands, sizeof(cands)), 0);
	assert_int_equal(m.u.cands.session_id, 7);
	assert_string_equal(m.u.cands.ufrag, "u");
	assert_int_equal(m.u.cands.n_cands, 1);
	assert_int_equal(m.u.cands.cands[0].type, ZT_CAND_SRFLX);
	assert_int_equal(m.u.cands.cands[0].priority, 1694498815u);
	assert_int_equal(m.u.cands.cands[0].addr.port, 80);
	assert_int_equal(m.u.cands.cands[0].addr.ip[0], 10);
	assert_false(m.u.cands.end_of_candidates);
	assert_int_equal(zt_ctrl_encode(&m, buf, sizeof(buf)), sizeof(cands));
	assert_memory_equal(buf, cands, sizeof(cands));
}

/* Raw message builder for malformed input. */
struct raw {
	uint8_t buf[ZT_CTRL_MSG_MAX + 64];
	struct zt_wr w;
};

static void raw_begin(struct raw *r, uint8_t version, uint8_t type)
{
	r->w = zt_wr_init(r->buf, sizeof(r->buf));
	zt_wr_u8(&r->w, version);
	zt_wr_u8(&r->w, type);
	zt_wr_u16(&r->w, 0);
}

static void raw_field(struct raw *r, uint16_t type, const void *v, size_t n)
{
	zt_wr_u16(&r->w, type);
	zt_wr_u16(&r->w, (uint16_t)n);
	zt_wr_bytes(&r->w, v, n);
}

static void raw_u64(struct raw *r, uint16_t type, uint64_t v)
{
	uint8_t b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	raw_field(r, type, b, 8);
}

/* Patches the body length and returns the message length. */
static size_t raw_end(struct raw *r)
{
	assert_int_equal(r->w.err, 0);
	zt_wr_patch_u16(&r->w, 2, (uint16_t)(r->w.off - ZT_CTRL_HDR_LEN));
	return r->w.off;
}

static int raw_decode(struct raw *r, struct zt_ctrl_msg *m)
{
	size_t n = raw_end(r);
	uint8_t *exact = malloc(n ? n : 1);
	int rc;

	assert_non_null(exact);
	memcpy(exact, r->buf, n);
	rc = zt_ctrl_decode(m, exact, n);
	free(exact);
	return rc;
}

static void raw_ping(struct raw *r)
{
	raw_begin(r, ZT_CTRL_VERSION, ZT_CTRL_PING);
	raw_u64(r, ZT_CTRL_F_NONCE, 42);
	raw_u64(r, ZT_CTRL_F_TIMESTAMP, 1000);
}

static void unknown_optional_field_skipped(void **state)
{
	static struct raw r;
	static struct zt_ctrl_msg m;

	(void)state;
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_PING);
	raw_field(&r, 0x0777, "abc", 3);               /* unknown, before */
	raw_u64(&r, ZT_CTRL_F_NONCE, 42);
	raw_field(&r, 0x7fff, "", 0);                  /* unknown, empty */
	raw_field(&r, ZT_CTRL_F_UFRAG, "not here", 8); /* known elsewhere, not in PING */
	raw_u64(&r, ZT_CTRL_F_TIMESTAMP, 1000);
	raw_field(&r, 0x0100, "x", 1);                 /* unknown, last */
	assert_int_equal(raw_decode(&r, &m), 0);
	assert_int_equal(m.type, ZT_CTRL_PING);
	assert_int_equal(m.u.ping.nonce, 42);
	assert_int_equal(m.u.ping.timestamp, 1000);

	/* inside a candidate too */
	static const uint8_t cand[] = {
		0x00, 0x01, 0x00, 0x01, 0x00,                   /* host */
		0x00, 0x02, 0x00, 0x02, 0x00, 0x01,             /* component 1 */
		0x0f, 0x00, 0x00, 0x02, 0xaa, 0xbb,             /* unknown, skipped */
		0x00, 0x03, 0x00, 0x04, 0x7e, 0xff, 0xff, 0xff, /* priority */
		0x00, 0x04, 0x00, 0x01, 'h',                    /* foundation */
		0x00, 0x05, 0x00, 0x06, 0x13, 0x88, 10, 0, 0, 1, /* 10.0.0.1:5000 */
	};
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_CANDIDATES);
	raw_u64(&r, ZT_CTRL_F_SESSION_ID, 1);
	raw_field(&r, ZT_CTRL_F_UFRAG, "uf", 2);
	raw_field(&r, ZT_CTRL_F_PWD, "pw", 2);
	raw_field(&r, ZT_CTRL_F_CANDIDATE, cand, sizeof(cand));
	assert_int_equal(raw_decode(&r, &m), 0);
	assert_int_equal(m.u.cands.n_cands, 1);
	assert_int_equal(m.u.cands.cands[0].priority, 0x7effffffu);
	assert_int_equal(m.u.cands.cands[0].addr.port, 5000);
	assert_int_equal(m.u.cands.cands[0].transport, ZT_CAND_UDP);

	/* TRANSPORT: 1 is TCP simultaneous open; 2 is out of range */
	static const uint8_t tcp[] = { 0x00, 0x07, 0x00, 0x01, 0x01 };
	uint8_t cand2[sizeof(cand) + sizeof(tcp)];
	memcpy(cand2, cand, sizeof(cand));
	memcpy(cand2 + sizeof(cand), tcp, sizeof(tcp));
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_CANDIDATES);
	raw_u64(&r, ZT_CTRL_F_SESSION_ID, 1);
	raw_field(&r, ZT_CTRL_F_UFRAG, "uf", 2);
	raw_field(&r, ZT_CTRL_F_PWD, "pw", 2);
	raw_field(&r, ZT_CTRL_F_CANDIDATE, cand2, sizeof(cand2));
	assert_int_equal(raw_decode(&r, &m), 0);
	assert_int_equal(m.u.cands.cands[0].transport, ZT_CAND_TCP_SO);
	cand2[sizeof(cand2) - 1] = 2;
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_CANDIDATES);
	raw_u64(&r, ZT_CTRL_F_SESSION_ID, 1);
	raw_field(&r, ZT_CTRL_F_UFRAG, "uf", 2);
	raw_field(&r, ZT_CTRL_F_PWD, "pw", 2);
	raw_field(&r, ZT_CTRL_F_CANDIDATE, cand2, sizeof(cand2));
	assert_int_equal(raw_decode(&r, &m), ZT_ERANGE);

	/* PREDICTED (docs/hard-nat.md): 1..64 on a srflx candidate; absent: 0 */
	uint8_t srflx[sizeof(cand) + 5];
	memcpy(srflx, cand, sizeof(cand));
	srflx[4] = ZT_CAND_SRFLX;
	memcpy(srflx + sizeof(cand), (const uint8_t[]){ 0x00, 0x08, 0x00, 0x01, 0x03 }, 5);
	for (int pass = 0; pass < 4; pass++) {
		static const uint8_t val[] = { 3, 64, 0, 65 };
		static const int want[] = { 0, 0, ZT_ERANGE, ZT_ERANGE };
		srflx[sizeof(srflx) - 1] = val[pass];
		raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_CANDIDATES);
		raw_u64(&r, ZT_CTRL_F_SESSION_ID, 1);
		raw_field(&r, ZT_CTRL_F_UFRAG, "uf", 2);
		raw_field(&r, ZT_CTRL_F_PWD, "pw", 2);
		raw_field(&r, ZT_CTRL_F_CANDIDATE, srflx, sizeof(srflx));
		assert_int_equal(raw_decode(&r, &m), want[pass]);
		if (!want[pass])
			assert_int_equal(m.u.cands.cands[0].predicted, val[pass]);
	}
	/* NAT_MAPPING 1..3 and NAT_PORTS 1..3 (birthday probing); out of range fails */
	for (int f = 0; f < 2; f++) {
		for (uint8_t v = 0; v <= 4; v++) {
			uint8_t field[5] = { 0x00, (uint8_t)(f ? ZT_CTRL_F_NAT_PORTS : ZT_CTRL_F_NAT_MAPPING),
					     0x00, 0x01, v };
			raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_CANDIDATES);
			raw_u64(&r, ZT_CTRL_F_SESSION_ID, 1);
			raw_field(&r, ZT_CTRL_F_UFRAG, "uf", 2);
			raw_field(&r, ZT_CTRL_F_PWD, "pw", 2);
			zt_wr_bytes(&r.w, field, sizeof(field));
			assert_int_equal(raw_decode(&r, &m), v >= 1 && v <= 3 ? 0 : ZT_ERANGE);
			if (v >= 1 && v <= 3)
				assert_int_equal(f ? m.u.cands.nat_ports : m.u.cands.nat_mapping, v);
		}
	}
	/* ... and only there: a predicted host candidate fails the message */
	srflx[4] = ZT_CAND_HOST;
	srflx[sizeof(srflx) - 1] = 1;
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_CANDIDATES);
	raw_u64(&r, ZT_CTRL_F_SESSION_ID, 1);
	raw_field(&r, ZT_CTRL_F_UFRAG, "uf", 2);
	raw_field(&r, ZT_CTRL_F_PWD, "pw", 2);
	raw_field(&r, ZT_CTRL_F_CANDIDATE, srflx, sizeof(srflx));
	assert_int_equal(raw_decode(&r, &m), ZT_ECAND_TYPE);
}

static void unknown_must_understand_field_rejected(void **state)
{
	static struct raw r;
	static struct zt_ctrl_msg m;

	(void)state;
	raw_ping(&r);
	raw_field(&r, ZT_CTRL_MUST_UNDERSTAND | 0x0777, "abc", 3);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_UNKNOWN_FIELD);
	assert_int_equal(m.type, ZT_CTRL_PING);

	raw_ping(&r);
	raw_field(&r, 0xffff, "", 0);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_UNKNOWN_FIELD);

	/* in a candidate */
	static const uint8_t cand[] = { 0x80, 0x01, 0x00, 0x00 };
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_CANDIDATES);
	raw_u64(&r, ZT_CTRL_F_SESSION_ID, 1);
	raw_field(&r, ZT_CTRL_F_UFRAG, "uf", 2);
	raw_field(&r, ZT_CTRL_F_PWD, "pw", 2);
	raw_field(&r, ZT_CTRL_F_CANDIDATE, cand, sizeof(cand));
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_UNKNOWN_FIELD);
}

static void unknown_message_type_reported(void **state)
{
	static struct raw r;
	static struct zt_ctrl_msg m;
	uint8_t type = 0;

	(void)state;
	raw_begin(&r, ZT_CTRL_VERSION, 99);
	raw_field(&r, ZT_CTRL_MUST_UNDERSTAND | 1, "zz", 2);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_TYPE);
	assert_int_equal(m.type, 99);
	assert_int_equal(zt_ctrl_frame_len(r.buf, r.w.off, &type), 10);
	assert_int_equal(type, 99);
	raw_begin(&r, ZT_CTRL_VERSION, 0);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_TYPE);
	raw_begin(&r, ZT_CTRL_VERSION, N_TYPES + 1);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_TYPE);
	raw_begin(&r, ZT_CTRL_VERSION, 255);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_TYPE);
	assert_string_equal(zt_ctrl_type_name(255), "?");
	assert_string_equal(zt_ctrl_type_name(0), "?");
	assert_string_equal(zt_ctrl_type_name(ZT_CTRL_START_CHECKS), "START_CHECKS");
	assert_string_equal(zt_ctrl_type_name(ZT_CTRL_PONG), "PONG");
}

static void wrong_version_rejected(void **state)
{
	static struct raw r;
	static struct zt_ctrl_msg m;

	(void)state;
	for (unsigned v = 0; v < 256; v++) {
		if (v == ZT_CTRL_VERSION)
			continue;
		raw_begin(&r, (uint8_t)v, ZT_CTRL_PING);
		raw_u64(&r, ZT_CTRL_F_NONCE, 42);
		raw_u64(&r, ZT_CTRL_F_TIMESTAMP, 1000);
		assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_VERSION);
		assert_int_equal(zt_ctrl_frame_len(r.buf, r.w.off, NULL), ZT_ECTRL_VERSION);
	}
}

static void truncated_at_every_length(void **state)
{
	static struct zt_ctrl_msg m, out;
	static uint8_t buf[ZT_CTRL_MSG_MAX];

	(void)state;
	for (unsigned t = 1; t <= N_TYPES; t++) {
		int n;

		make_full(&m, t);
		n = encode(&m, buf);
		for (int len = 0; len < n; len++) {
			uint8_t *cut = malloc(len ? (size_t)len : 1);
			int rc;

			assert_non_null(cut);
			memcpy(cut, buf, (size_t)len);
			/* as received: the header promises more than there is */
			rc = zt_ctrl_decode(&out, cut, (size_t)len);
			assert_int_equal(rc, len == 0 ? ZT_EZEROLEN : ZT_ETRUNC);
			/* re-framed: the body is cut, the header agrees */
			if (len >= ZT_CTRL_HDR_LEN) {
				cut[2] = (uint8_t)((len - ZT_CTRL_HDR_LEN) >> 8);
				cut[3] = (uint8_t)(len - ZT_CTRL_HDR_LEN);
				rc = zt_ctrl_decode(&out, cut, (size_t)len);
				/* a cut inside a field, a missing required field, or a
				 * valid message without the optional tail */
				if (rc != ZT_ETRUNC && rc != ZT_ECTRL_FIELD && rc != 0)
					fail_msg("type %u len %d: %d", t, len, rc);
			}
			free(cut);
		}
	}
}

static void zero_length_input(void **state)
{
	static struct raw r;
	static struct zt_ctrl_msg m;
	static const uint8_t empty[1];

	(void)state;
	assert_int_equal(zt_ctrl_decode(&m, empty, 0), ZT_EZEROLEN);
	assert_int_equal(m.type, 0);
	/* an empty body: fine for REGISTER and ROUTES (empty lists), missing fields for the others */
	for (unsigned t = 1; t <= N_TYPES; t++) {
		raw_begin(&r, ZT_CTRL_VERSION, (uint8_t)t);
		assert_int_equal(raw_decode(&r, &m),
				 t == ZT_CTRL_REGISTER || t == ZT_CTRL_ROUTES ? 0 : ZT_ECTRL_FIELD);
		assert_int_equal(m.type, t);
	}
}

static void oversized_input_rejected(void **state)
{
	static struct raw r;
	static struct zt_ctrl_msg m;
	static uint8_t big[ZT_CTRL_MSG_MAX + 1];
	char s[ZT_CTRL_STR_MAX + 2];
	uint8_t tok[ZT_CTRL_TOKEN_MAX + 1] = { 0 };

	(void)state;
	/* the length prefix: 4 + 16380 is the most there can be */
	big[0] = ZT_CTRL_VERSION;
	big[1] = ZT_CTRL_REGISTER;
	big[2] = 0x3f, big[3] = 0xfc; /* 16380 */
	assert_int_equal(zt_ctrl_frame_len(big, 4, NULL), ZT_CTRL_MSG_MAX);
	assert_int_equal(zt_ctrl_decode(&m, big, 4), ZT_ETRUNC);
	big[3] = 0xfd; /* 16381 */
	assert_int_equal(zt_ctrl_frame_len(big, 4, NULL), ZT_ETOOBIG);
	assert_int_equal(zt_ctrl_decode(&m, big, sizeof(big)), ZT_ETOOBIG);
	big[2] = 0xff, big[3] = 0xff;
	assert_int_equal(zt_ctrl_decode(&m, big, sizeof(big)), ZT_ETOOBIG);

	/* a string one byte over its capacity */
	fill_str(s, ZT_CTRL_STR_MAX + 1, 'x');
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_OPEN);
	raw_u64(&r, ZT_CTRL_F_REQUEST_ID, 1);
	raw_field(&r, ZT_CTRL_F_SERVICE, s, ZT_CTRL_STR_MAX + 1);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_LIMIT);
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_OPEN);
	raw_u64(&r, ZT_CTRL_F_REQUEST_ID, 1);
	raw_field(&r, ZT_CTRL_F_SERVICE, s, ZT_CTRL_STR_MAX);
	assert_int_equal(raw_decode(&r, &m), 0);

	/* a token one byte over */
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_HELLO);
	raw_field(&r, ZT_CTRL_F_ROLE, "\x01", 1);
	raw_field(&r, ZT_CTRL_F_IDENTITY, "me", 2);
	raw_field(&r, ZT_CTRL_F_TOKEN, tok, sizeof(tok));
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_LIMIT);

	/* one service too many */
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_REGISTER);
	for (int i = 0; i < ZT_CTRL_SERVICES_MAX; i++)
		raw_field(&r, ZT_CTRL_F_SERVICE, "svc", 3);
	assert_int_equal(raw_decode(&r, &m), 0);
	assert_int_equal(m.u.reg.n_services, ZT_CTRL_SERVICES_MAX);
	raw_field(&r, ZT_CTRL_F_SERVICE, "svc", 3);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_LIMIT);

	/* one route too many, in REGISTER and in ROUTES */
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_REGISTER);
	for (int i = 0; i < ZT_CTRL_HELLO_ROUTES_MAX; i++)
		raw_field(&r, ZT_CTRL_F_ROUTE, "db=10.0.5.0/24", 14);
	assert_int_equal(raw_decode(&r, &m), 0);
	assert_int_equal(m.u.reg.n_routes, ZT_CTRL_HELLO_ROUTES_MAX);
	assert_string_equal(m.u.reg.routes[ZT_CTRL_HELLO_ROUTES_MAX - 1], "db=10.0.5.0/24");
	raw_field(&r, ZT_CTRL_F_ROUTE, "db=10.0.5.0/24", 14);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_LIMIT);
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_ROUTES);
	for (int i = 0; i < ZT_CTRL_ROUTES_MAX; i++)
		raw_field(&r, ZT_CTRL_F_ROUTE, "db=10.0.5.0/24", 14);
	assert_int_equal(raw_decode(&r, &m), 0);
	assert_int_equal(m.u.routes.n_routes, ZT_CTRL_ROUTES_MAX);
	raw_field(&r, ZT_CTRL_F_ROUTE, "db=10.0.5.0/24", 14);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_LIMIT);
}

static void field_lengths_checked(void **state)
{
	static struct raw r;
	static struct zt_ctrl_msg m;
	static const uint8_t zeros[32];

	(void)state;
	/* addresses are 6 or 18 bytes */
	for (size_t n = 0; n <= 20; n++) {
		raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_OBSERVED_ADDRESS);
		raw_field(&r, ZT_CTRL_F_ADDRESS, zeros, n);
		assert_int_equal(raw_decode(&r, &m), n == 6 || n == 18 ? 0 : ZT_ECTRL_FIELD);
	}
	/* u64 is 8 bytes */
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_PING);
	raw_field(&r, ZT_CTRL_F_NONCE, zeros, 7);
	raw_u64(&r, ZT_CTRL_F_TIMESTAMP, 1);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_FIELD);
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_PING);
	raw_field(&r, ZT_CTRL_F_NONCE, zeros, 9);
	raw_u64(&r, ZT_CTRL_F_TIMESTAMP, 1);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_FIELD);
	/* u8 is 1 byte */
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_HELLO);
	raw_field(&r, ZT_CTRL_F_ROLE, "\x00\x01", 2);
	raw_field(&r, ZT_CTRL_F_IDENTITY, "me", 2);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_FIELD);
	/* a flag is empty */
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_CANDIDATES);
	raw_u64(&r, ZT_CTRL_F_SESSION_ID, 1);
	raw_field(&r, ZT_CTRL_F_UFRAG, "uf", 2);
	raw_field(&r, ZT_CTRL_F_PWD, "pw", 2);
	raw_field(&r, ZT_CTRL_F_END_OF_CANDIDATES, "\x01", 1);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_FIELD);
	/* strings hold no NUL */
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_OPEN);
	raw_u64(&r, ZT_CTRL_F_REQUEST_ID, 1);
	raw_field(&r, ZT_CTRL_F_SERVICE, "ss\0h", 4);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_FIELD);
	/* a field header cut by the end of the body */
	raw_ping(&r);
	zt_wr_u16(&r.w, 0x0777);
	assert_int_equal(raw_decode(&r, &m), ZT_ETRUNC);
	raw_ping(&r);
	zt_wr_u8(&r.w, 0x07);
	assert_int_equal(raw_decode(&r, &m), ZT_ETRUNC);
	/* a field value longer than the rest of the body */
	raw_ping(&r);
	zt_wr_u16(&r.w, 0x0777);
	zt_wr_u16(&r.w, 3);
	zt_wr_u16(&r.w, 0);
	assert_int_equal(raw_decode(&r, &m), ZT_ETRUNC);
	/* bytes after the message */
	raw_ping(&r);
	{
		size_t n = raw_end(&r);
		r.buf[n] = 0x01;
		assert_int_equal(zt_ctrl_decode(&m, r.buf, n + 1), ZT_EMALFORMED);
	}
	/* a required field missing */
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_PING);
	raw_u64(&r, ZT_CTRL_F_NONCE, 42);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_FIELD);
}

static void values_out_of_range_rejected(void **state)
{
	static struct raw r;
	static struct zt_ctrl_msg m;
	static const uint8_t vals[] = { 0, 4, 255 };

	(void)state;
	for (size_t i = 0; i < sizeof(vals); i++) {
		raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_HELLO);
		raw_field(&r, ZT_CTRL_F_ROLE, &vals[i], 1);
		raw_field(&r, ZT_CTRL_F_IDENTITY, "me", 2);
		assert_int_equal(raw_decode(&r, &m), ZT_ERANGE);
		raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_PATH_REPORT);
		raw_u64(&r, ZT_CTRL_F_SESSION_ID, 1);
		raw_field(&r, ZT_CTRL_F_PATH, &vals[i], 1);
		assert_int_equal(raw_decode(&r, &m), ZT_ERANGE);
	}
}

static void duplicated_fields_rejected(void **state)
{
	static struct raw r;
	static struct zt_ctrl_msg m;

	(void)state;
	raw_ping(&r);
	raw_u64(&r, ZT_CTRL_F_NONCE, 43);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_DUP);
	/* SERVICE is a list in HELLO, a single field in OPEN */
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_HELLO);
	raw_field(&r, ZT_CTRL_F_ROLE, "\x02", 1);
	raw_field(&r, ZT_CTRL_F_IDENTITY, "conn", 4);
	raw_field(&r, ZT_CTRL_F_SERVICE, "a", 1);
	raw_field(&r, ZT_CTRL_F_SERVICE, "b", 1);
	assert_int_equal(raw_decode(&r, &m), 0);
	assert_int_equal(m.u.hello.n_services, 2);
	assert_string_equal(m.u.hello.services[1], "b");
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_OPEN);
	raw_u64(&r, ZT_CTRL_F_REQUEST_ID, 1);
	raw_field(&r, ZT_CTRL_F_SERVICE, "a", 1);
	raw_field(&r, ZT_CTRL_F_SERVICE, "b", 1);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_DUP);
	/* even empty flags */
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_CANDIDATES);
	raw_u64(&r, ZT_CTRL_F_SESSION_ID, 1);
	raw_field(&r, ZT_CTRL_F_UFRAG, "uf", 2);
	raw_field(&r, ZT_CTRL_F_PWD, "pw", 2);
	raw_field(&r, ZT_CTRL_F_END_OF_CANDIDATES, "", 0);
	raw_field(&r, ZT_CTRL_F_END_OF_CANDIDATES, "", 0);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_DUP);
	/* and inside a candidate */
	static const uint8_t cand[] = {
		0x00, 0x01, 0x00, 0x01, 0x00,
		0x00, 0x01, 0x00, 0x01, 0x01,
	};
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_CANDIDATES);
	raw_u64(&r, ZT_CTRL_F_SESSION_ID, 1);
	raw_field(&r, ZT_CTRL_F_UFRAG, "uf", 2);
	raw_field(&r, ZT_CTRL_F_PWD, "pw", 2);
	raw_field(&r, ZT_CTRL_F_CANDIDATE, cand, sizeof(cand));
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_DUP);
}

/* CANDIDATES with count candidates from edge_cand(), plus one raw candidate if given. */
static void raw_cands(struct raw *r, size_t count, const uint8_t *extra, size_t extra_len)
{
	static struct zt_ctrl_msg m;
	static uint8_t buf[ZT_CTRL_MSG_MAX];
	int n;

	make_full(&m, ZT_CTRL_CANDIDATES);
	m.u.cands.n_cands = (uint8_t)count;
	n = encode(&m, buf);
	raw_begin(r, ZT_CTRL_VERSION, ZT_CTRL_CANDIDATES);
	zt_wr_bytes(&r->w, buf + ZT_CTRL_HDR_LEN, (size_t)n - ZT_CTRL_HDR_LEN);
	if (extra)
		raw_field(r, ZT_CTRL_F_CANDIDATE, extra, extra_len);
}

static void candidate_list_checked(void **state)
{
	static struct raw r;
	static struct zt_ctrl_msg m;
	uint8_t cand[] = {
		0x00, 0x01, 0x00, 0x01, 0x00,                   /* type host */
		0x00, 0x02, 0x00, 0x02, 0x00, 0x01,             /* component 1 */
		0x00, 0x03, 0x00, 0x04, 0x7e, 0xff, 0xff, 0xff, /* priority */
		0x00, 0x04, 0x00, 0x01, 'h',                    /* foundation */
		0x00, 0x05, 0x00, 0x06, 0x13, 0x88, 10, 0, 0, 1, /* 10.0.0.1:5000 */
	};

	(void)state;
	raw_cands(&r, ZT_CTRL_CANDS_MAX - 1, cand, sizeof(cand));
	assert_int_equal(raw_decode(&r, &m), 0);
	assert_int_equal(m.u.cands.n_cands, ZT_CTRL_CANDS_MAX);
	raw_cands(&r, ZT_CTRL_CANDS_MAX, cand, sizeof(cand));
	assert_int_equal(raw_decode(&r, &m), ZT_ECAND_LIMIT);

	/* each candidate passes zt_cand_check() */
	cand[4] = 4; /* type */
	raw_cands(&r, 0, cand, sizeof(cand));
	assert_int_equal(raw_decode(&r, &m), ZT_ECAND_TYPE);
	cand[4] = 0;
	cand[10] = 0; /* component 0 */
	raw_cands(&r, 0, cand, sizeof(cand));
	assert_int_equal(raw_decode(&r, &m), ZT_ERANGE);
	cand[10] = 1;
	memset(cand + 15, 0, 4); /* priority 0 */
	raw_cands(&r, 0, cand, sizeof(cand));
	assert_int_equal(raw_decode(&r, &m), ZT_ERANGE);
	cand[15] = 0x80; /* priority 2^31 */
	raw_cands(&r, 0, cand, sizeof(cand));
	assert_int_equal(raw_decode(&r, &m), ZT_ERANGE);
	cand[15] = 0x7f;
	cand[23] = '-'; /* not an ice-char */
	raw_cands(&r, 0, cand, sizeof(cand));
	assert_int_equal(raw_decode(&r, &m), ZT_ESYNTAX);
	cand[23] = 'h';
	cand[28] = cand[29] = 0; /* port 0 */
	raw_cands(&r, 0, cand, sizeof(cand));
	assert_int_equal(raw_decode(&r, &m), ZT_ERANGE);
	cand[29] = 1;
	raw_cands(&r, 0, cand, sizeof(cand));
	assert_int_equal(raw_decode(&r, &m), 0);
	/* without its address */
	raw_cands(&r, 0, cand, sizeof(cand) - 10);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_FIELD);
	/* a candidate field running past the candidate */
	raw_cands(&r, 0, cand, sizeof(cand) - 1);
	assert_int_equal(raw_decode(&r, &m), ZT_ETRUNC);
	/* an empty foundation */
	uint8_t empty_f[] = {
		0x00, 0x01, 0x00, 0x01, 0x00,
		0x00, 0x02, 0x00, 0x02, 0x00, 0x01,
		0x00, 0x03, 0x00, 0x04, 0x7e, 0xff, 0xff, 0xff,
		0x00, 0x04, 0x00, 0x00,
		0x00, 0x05, 0x00, 0x06, 0x13, 0x88, 10, 0, 0, 1,
	};
	raw_cands(&r, 0, empty_f, sizeof(empty_f));
	assert_int_equal(raw_decode(&r, &m), ZT_ESYNTAX);
	/* a foundation over 32 bytes */
	uint8_t long_f[64] = {
		0x00, 0x01, 0x00, 0x01, 0x00,
		0x00, 0x02, 0x00, 0x02, 0x00, 0x01,
		0x00, 0x03, 0x00, 0x04, 0x7e, 0xff, 0xff, 0xff,
		0x00, 0x04, 0x00, ZT_CAND_FOUNDATION_MAX + 1,
	};
	memset(long_f + 23, 'f', ZT_CAND_FOUNDATION_MAX + 1);
	raw_cands(&r, 0, long_f, 23 + ZT_CAND_FOUNDATION_MAX + 1);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_LIMIT);
	long_f[22] = ZT_CAND_FOUNDATION_MAX;
	raw_cands(&r, 0, long_f, 23 + ZT_CAND_FOUNDATION_MAX);
	assert_int_equal(raw_decode(&r, &m), ZT_ECTRL_FIELD); /* no address */
}

static void encoder_rejects_bad_messages(void **state)
{
	static struct zt_ctrl_msg m;
	static uint8_t buf[ZT_CTRL_MSG_MAX];
	int n;

	(void)state;
	zt_ctrl_msg_init(&m, 0);
	assert_int_equal(zt_ctrl_encode(&m, buf, sizeof(buf)), -EINVAL);
	zt_ctrl_msg_init(&m, N_TYPES + 1);
	assert_int_equal(zt_ctrl_encode(&m, buf, sizeof(buf)), -EINVAL);

	make_full(&m, ZT_CTRL_CANDIDATES);
	m.u.cands.n_cands = ZT_CTRL_CANDS_MAX + 1;
	assert_int_equal(zt_ctrl_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.u.cands.n_cands = 1;
	m.u.cands.cands[0].priority = 0;
	assert_int_equal(zt_ctrl_encode(&m, buf, sizeof(buf)), -EINVAL);

	make_full(&m, ZT_CTRL_HELLO);
	m.u.hello.role = 0;
	assert_int_equal(zt_ctrl_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.u.hello.role = ZT_CTRL_ROLE_AGENT;
	memset(m.u.hello.identity, 'x', sizeof(m.u.hello.identity)); /* no NUL */
	assert_int_equal(zt_ctrl_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.u.hello.identity[0] = '\0';
	m.u.hello.token_len = ZT_CTRL_TOKEN_MAX + 1;
	assert_int_equal(zt_ctrl_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.u.hello.token_len = 0;
	m.u.hello.n_services = ZT_CTRL_SERVICES_MAX + 1;
	assert_int_equal(zt_ctrl_encode(&m, buf, sizeof(buf)), -EINVAL);
	m.u.hello.n_services = 0;
	m.u.hello.n_routes = ZT_CTRL_HELLO_ROUTES_MAX + 1;
	assert_int_equal(zt_ctrl_encode(&m, buf, sizeof(buf)), -EINVAL);

	make_min(&m, ZT_CTRL_OBSERVED_ADDRESS);
	m.u.observed.addr.family = 0; /* required */
	assert_int_equal(zt_ctrl_encode(&m, buf, sizeof(buf)), -EINVAL);
	make_min(&m, ZT_CTRL_PATH_REPORT);
	m.u.path.local.family = 77; /* optional, but set to nonsense */
	assert_int_equal(zt_ctrl_encode(&m, buf, sizeof(buf)), -EINVAL);

	/* every capacity short of the message is -ENOBUFS */
	make_full(&m, ZT_CTRL_CANDIDATES);
	n = encode(&m, buf);
	for (int cap = 0; cap < n; cap++)
		assert_int_equal(zt_ctrl_encode(&m, buf, (size_t)cap), -ENOBUFS);
	assert_int_equal(zt_ctrl_encode(&m, buf, (size_t)n), n);
}

/* A stream of messages, and what decoding it frame by frame gives. */
struct stream {
	uint8_t bytes[4096];
	size_t len;
	int rc[8];
	struct zt_ctrl_msg msg[8];
	size_t n;
};

static void stream_add(struct stream *s, const uint8_t *p, size_t n)
{
	assert_true(s->len + n <= sizeof(s->bytes));
	assert_true(s->n < 8);
	memcpy(s->bytes + s->len, p, n);
	s->len += n;
	s->rc[s->n] = zt_ctrl_decode(&s->msg[s->n], p, n);
	if (s->rc[s->n] == 0)
		s->rc[s->n] = 1;
	s->n++;
}

static void stream_add_msg(struct stream *s, const struct zt_ctrl_msg *m)
{
	uint8_t buf[ZT_CTRL_MSG_MAX];
	int n = zt_ctrl_encode(m, buf, sizeof(buf));

	assert_true(n > 0);
	stream_add(s, buf, (size_t)n);
}

static void build_stream(struct stream *s)
{
	static struct zt_ctrl_msg m;
	static struct raw r;
	char long_str[ZT_CTRL_STR_MAX + 2];

	memset(s, 0, sizeof(*s));
	fill_str(long_str, ZT_CTRL_STR_MAX + 1, 'L');
	make_min(&m, ZT_CTRL_HELLO);
	strcpy(m.u.hello.identity, "connector-1");
	m.u.hello.role = ZT_CTRL_ROLE_CONNECTOR;
	m.u.hello.token_len = 16;
	memset(m.u.hello.token, 0xa5, 16);
	m.u.hello.n_services = 2;
	strcpy(m.u.hello.services[0], "ssh");
	strcpy(m.u.hello.services[1], "web");
	stream_add_msg(s, &m);
	make_min(&m, ZT_CTRL_REGISTER); /* empty body */
	stream_add_msg(s, &m);
	make_full(&m, ZT_CTRL_CANDIDATES);
	m.u.cands.n_cands = 3;
	strcpy(m.u.cands.ufrag, "abcd");
	strcpy(m.u.cands.pwd, "0123456789012345678901");
	stream_add_msg(s, &m);
	raw_begin(&r, ZT_CTRL_VERSION, 200); /* unknown type: reported, skipped */
	raw_field(&r, 1, "x", 1);
	stream_add(s, r.buf, raw_end(&r));
	make_full(&m, ZT_CTRL_PING);
	stream_add_msg(s, &m);
	raw_ping(&r);
	raw_u64(&r, ZT_CTRL_F_NONCE, 1); /* duplicate: reported, skipped */
	stream_add(s, r.buf, raw_end(&r));
	/* a string over capacity: reported, skipped, and (unlike an oversized length
	 * prefix) not a framing error; found by fuzz_ctrl when both were ZT_ETOOBIG */
	raw_begin(&r, ZT_CTRL_VERSION, ZT_CTRL_OPEN);
	raw_u64(&r, ZT_CTRL_F_REQUEST_ID, 1);
	raw_field(&r, ZT_CTRL_F_SERVICE, long_str, ZT_CTRL_STR_MAX + 1);
	stream_add(s, r.buf, raw_end(&r));
	make_full(&m, ZT_CTRL_OBSERVED_ADDRESS);
	stream_add_msg(s, &m);
	assert_int_equal(s->rc[0], 1);
	assert_int_equal(s->rc[3], ZT_ECTRL_TYPE);
	assert_int_equal(s->rc[5], ZT_ECTRL_DUP);
	assert_int_equal(s->rc[6], ZT_ECTRL_LIMIT);
	assert_int_equal(s->rc[7], 1);
}

/* Pops everything available, checking it against the expected sequence. */
static void pop_all(struct zt_ctrl_reader *rd, const struct stream *s, size_t *next)
{
	static struct zt_ctrl_msg m;
	int rc;

	while ((rc = zt_ctrl_reader_pop(rd, &m)) != 0) {
		assert_true(*next < s->n);
		assert_int_equal(rc, s->rc[*next]);
		if (rc == 1)
			assert_memory_equal(&m, &s->msg[*next], sizeof(m));
		else
			assert_int_equal(m.type, s->msg[*next].type);
		(*next)++;
	}
	assert_false(zt_ctrl_reader_poisoned(rd));
}

static void feed_all(struct zt_ctrl_reader *rd, const struct stream *s, const uint8_t *p,
		     size_t n, size_t *next)
{
	while (n > 0) {
		int took = zt_ctrl_reader_feed(rd, p, n);

		assert_true(took >= 0);
		p += took;
		n -= (size_t)took;
		pop_all(rd, s, next);
	}
	pop_all(rd, s, next);
}

static void stream_every_split_point(void **state)
{
	static struct stream s;
	static struct zt_ctrl_reader rd;

	(void)state;
	build_stream(&s);
	for (size_t split = 0; split <= s.len; split++) {
		size_t next = 0;

		zt_ctrl_reader_init(&rd);
		feed_all(&rd, &s, s.bytes, split, &next);
		feed_all(&rd, &s, s.bytes + split, s.len - split, &next);
		assert_int_equal(next, s.n);
		assert_int_equal(rd.len, 0);
	}
}

static void stream_byte_by_byte(void **state)
{
	static struct stream s;
	static struct zt_ctrl_reader rd;
	size_t next = 0;

	(void)state;
	build_stream(&s);
	zt_ctrl_reader_init(&rd);
	for (size_t i = 0; i < s.len; i++)
		feed_all(&rd, &s, s.bytes + i, 1, &next);
	assert_int_equal(next, s.n);
}

static void stream_larger_than_buffer(void **state)
{
	static struct zt_ctrl_reader rd;
	static struct zt_ctrl_msg m, got;
	static uint8_t big[4 * ZT_CTRL_MSG_MAX];
	size_t len = 0, off = 0, popped = 0, partial = 0;
	int n;

	(void)state;
	/* four full HELLOs (~9 KiB each) in one write, larger than the reader's buffer */
	make_full(&m, ZT_CTRL_HELLO);
	for (int i = 0; i < 4; i++) {
		n = zt_ctrl_encode(&m, big + len, sizeof(big) - len);
		assert_true(n > ZT_CTRL_MSG_MAX / 2);
		len += (size_t)n;
	}
	zt_ctrl_reader_init(&rd);
	while (off < len) {
		n = zt_ctrl_reader_feed(&rd, big + off, len - off);
		assert_true(n >= 0);
		if ((size_t)n < len - off)
			partial++;
		off += (size_t)n;
		while ((n = zt_ctrl_reader_pop(&rd, &got)) == 1) {
			assert_memory_equal(&got, &m, sizeof(m));
			popped++;
		}
		assert_int_equal(n, 0);
	}
	assert_int_equal(popped, 4);
	assert_true(partial > 0); /* the reader pushed back at least once */
	/* a full buffer takes nothing until popped */
	zt_ctrl_reader_init(&rd);
	n = zt_ctrl_reader_feed(&rd, big, len);
	assert_int_equal(n, ZT_CTRL_MSG_MAX);
	assert_int_equal(zt_ctrl_reader_feed(&rd, big + n, len - (size_t)n), 0);
	assert_int_equal(zt_ctrl_reader_pop(&rd, &got), 1);
	assert_true(zt_ctrl_reader_feed(&rd, big + n, len - (size_t)n) > 0);
}

static void stream_poisoned_by_framing_errors(void **state)
{
	static struct zt_ctrl_reader rd;
	static struct zt_ctrl_msg m;
	static struct raw r;
	static const uint8_t too_big[] = { 0x01, 0x01, 0x3f, 0xfd }; /* 4 + 16381 */
	static const uint8_t v2[] = { 0x02, 0x0c, 0x00, 0x00 };
	size_t n;

	(void)state;
	/* a good PING, then a length prefix above the maximum */
	raw_ping(&r);
	n = raw_end(&r);
	zt_ctrl_reader_init(&rd);
	assert_int_equal(zt_ctrl_reader_feed(&rd, r.buf, n), (int)n);
	assert_int_equal(zt_ctrl_reader_feed(&rd, too_big, 3), 3);
	assert_int_equal(zt_ctrl_reader_pop(&rd, &m), 1);
	assert_int_equal(zt_ctrl_reader_pop(&rd, &m), 0); /* 3 header bytes: wait */
	assert_false(zt_ctrl_reader_poisoned(&rd));
	assert_int_equal(zt_ctrl_reader_feed(&rd, too_big + 3, 1), 1);
	assert_int_equal(zt_ctrl_reader_pop(&rd, &m), ZT_ETOOBIG);
	assert_true(zt_ctrl_reader_poisoned(&rd));
	/* it stays poisoned, whatever comes next */
	assert_int_equal(zt_ctrl_reader_pop(&rd, &m), ZT_ETOOBIG);
	assert_int_equal(zt_ctrl_reader_feed(&rd, r.buf, n), ZT_ETOOBIG);
	assert_int_equal(zt_ctrl_reader_pop(&rd, &m), ZT_ETOOBIG);

	/* another version */
	zt_ctrl_reader_init(&rd);
	assert_int_equal(zt_ctrl_reader_feed(&rd, v2, sizeof(v2)), sizeof(v2));
	assert_int_equal(zt_ctrl_reader_pop(&rd, &m), ZT_ECTRL_VERSION);
	assert_int_equal(zt_ctrl_reader_feed(&rd, r.buf, n), ZT_ECTRL_VERSION);
	assert_true(zt_ctrl_reader_poisoned(&rd));

	/* an empty reader has nothing */
	zt_ctrl_reader_init(&rd);
	assert_int_equal(zt_ctrl_reader_pop(&rd, &m), 0);
	assert_int_equal(zt_ctrl_reader_feed(&rd, r.buf, 0), 0);
	assert_int_equal(zt_ctrl_reader_pop(&rd, &m), 0);
}

/* Writes one fuzz_ctrl seed: a schedule byte (chunk sizes), then the stream. */
static void write_seed(const char *dir, const char *name, uint8_t sched, const uint8_t *p,
		       size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(&sched, 1, 1, f), 1);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/*
 * ZT_CTRL_SEED_DIR=tests/fuzz/seeds/fuzz_ctrl build/tests/test_ctrl writes the seeds of
 * tests/fuzz/fuzz_ctrl.c: every type full and minimal, a mixed stream, bad framing.
 */
static void write_seeds(const char *dir)
{
	static struct zt_ctrl_msg m;
	static uint8_t buf[ZT_CTRL_MSG_MAX], two[2 * ZT_CTRL_MSG_MAX];
	static struct stream st;
	int n;
	static struct raw r;
	static const uint8_t too_big[] = { 0x01, 0x01, 0x3f, 0xfd };
	char name[64];

	for (unsigned t = 1; t <= N_TYPES; t++) {
		make_full(&m, t);
		snprintf(name, sizeof(name), "full-%s", zt_ctrl_type_name(t));
		write_seed(dir, name, 0, buf, (size_t)encode(&m, buf));
		make_min(&m, t);
		snprintf(name, sizeof(name), "min-%s", zt_ctrl_type_name(t));
		write_seed(dir, name, 0, buf, (size_t)encode(&m, buf));
	}
	build_stream(&st);
	write_seed(dir, "stream-bytewise", 1, st.bytes, st.len);
	write_seed(dir, "stream-chunks", 37, st.bytes, st.len);
	/* more than the reader buffers: exercises feed's push-back (and raises libFuzzer's
	 * default -max_len, which is the largest seed) */
	make_full(&m, ZT_CTRL_HELLO);
	n = encode(&m, two);
	memcpy(two + n, two, (size_t)n);
	write_seed(dir, "stream-two-hellos", 0, two, 2 * (size_t)n);
	raw_ping(&r);
	raw_field(&r, 0x0777, "abc", 3);
	raw_field(&r, ZT_CTRL_MUST_UNDERSTAND | 0x0777, "abc", 3);
	write_seed(dir, "ping-unknown-fields", 0, r.buf, raw_end(&r));
	raw_ping(&r);
	memcpy(r.buf + raw_end(&r), too_big, sizeof(too_big));
	write_seed(dir, "ping-then-too-big", 3, r.buf, raw_end(&r) + sizeof(too_big));
}

static void seeds(void **state)
{
	(void)state;
	write_seeds(getenv("ZT_CTRL_SEED_DIR"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(round_trip_every_type_full),
		cmocka_unit_test(round_trip_every_type_minimal),
		cmocka_unit_test(wire_layout_matches_spec),
		cmocka_unit_test(unknown_optional_field_skipped),
		cmocka_unit_test(unknown_must_understand_field_rejected),
		cmocka_unit_test(unknown_message_type_reported),
		cmocka_unit_test(wrong_version_rejected),
		cmocka_unit_test(truncated_at_every_length),
		cmocka_unit_test(zero_length_input),
		cmocka_unit_test(oversized_input_rejected),
		cmocka_unit_test(field_lengths_checked),
		cmocka_unit_test(values_out_of_range_rejected),
		cmocka_unit_test(duplicated_fields_rejected),
		cmocka_unit_test(candidate_list_checked),
		cmocka_unit_test(encoder_rejects_bad_messages),
		cmocka_unit_test(stream_every_split_point),
		cmocka_unit_test(stream_byte_by_byte),
		cmocka_unit_test(stream_larger_than_buffer),
		cmocka_unit_test(stream_poisoned_by_framing_errors),
	};

	if (getenv("ZT_CTRL_SEED_DIR")) {
		const struct CMUnitTest gen[] = { cmocka_unit_test(seeds) };
		return cmocka_run_group_tests(gen, NULL, NULL);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
