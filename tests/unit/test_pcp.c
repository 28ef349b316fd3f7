#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/err.h"
#include "core/pcp.h"

/*
 * Vectors written byte by byte from the message diagrams of RFC 6887 (s7.1 request
 * header, s7.2 response header, s7.3 options, s11.1 MAP) and RFC 6886 (s3.2 external
 * address, s3.3 mapping, s3.4 deletion, s3.5 result codes). Addresses are from the
 * documentation ranges; the nonce counts 1..12 so a shifted field shows.
 */

/* PCP MAP request: UDP 192.168.1.10:50000, suggest the same port, 2 h. */
static const uint8_t pcp_map_req[] = {
	0x02, 0x01, 0x00, 0x00, /* version 2, R=0 opcode MAP, reserved */
	0x00, 0x00, 0x1c, 0x20, /* requested lifetime 7200 s */
	0x00, 0x00, 0x00, 0x00, /* } */
	0x00, 0x00, 0x00, 0x00, /* }  client IP ::ffff:192.168.1.10 */
	0x00, 0x00, 0xff, 0xff, /* } */
	0xc0, 0xa8, 0x01, 0x0a, /* } */
	0x01, 0x02, 0x03, 0x04, /* } */
	0x05, 0x06, 0x07, 0x08, /* }  mapping nonce */
	0x09, 0x0a, 0x0b, 0x0c, /* } */
	0x11, 0x00, 0x00, 0x00, /* protocol UDP, reserved */
	0xc3, 0x50, 0xc3, 0x50, /* internal port 50000, suggested external port 50000 */
	0x00, 0x00, 0x00, 0x00, /* } */
	0x00, 0x00, 0x00, 0x00, /* }  suggested external IP ::ffff:0.0.0.0 (none) */
	0x00, 0x00, 0xff, 0xff, /* } */
	0x00, 0x00, 0x00, 0x00, /* } */
};

/* The same mapping deleted (lifetime 0), suggesting what was assigned. */
static const uint8_t pcp_map_delete[] = {
	0x02, 0x01, 0x00, 0x00, /* version 2, MAP */
	0x00, 0x00, 0x00, 0x00, /* lifetime 0: delete */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* client IP */
	0x00, 0x00, 0xff, 0xff, 0xc0, 0xa8, 0x01, 0x0a,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, /* nonce */
	0x09, 0x0a, 0x0b, 0x0c,
	0x11, 0x00, 0x00, 0x00, /* UDP */
	0xc3, 0x50, 0xea, 0x60, /* internal 50000, suggested 60000 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* suggested ::ffff:203.0.113.5 */
	0x00, 0x00, 0xff, 0xff, 0xcb, 0x00, 0x71, 0x05,
};

/* Its SUCCESS answer: 203.0.113.5:60000 for 3600 s, epoch 12345. */
static const uint8_t pcp_map_ok[] = {
	0x02, 0x81, 0x00, 0x00, /* version 2, R=1 MAP, reserved, SUCCESS */
	0x00, 0x00, 0x0e, 0x10, /* lifetime 3600 s */
	0x00, 0x00, 0x30, 0x39, /* epoch 12345 */
	0x00, 0x00, 0x00, 0x00, /* } */
	0x00, 0x00, 0x00, 0x00, /* }  reserved */
	0x00, 0x00, 0x00, 0x00, /* } */
	0x01, 0x02, 0x03, 0x04, /* } */
	0x05, 0x06, 0x07, 0x08, /* }  mapping nonce */
	0x09, 0x0a, 0x0b, 0x0c, /* } */
	0x11, 0x00, 0x00, 0x00, /* UDP, reserved */
	0xc3, 0x50, 0xea, 0x60, /* internal port 50000, assigned external port 60000 */
	0x00, 0x00, 0x00, 0x00, /* } */
	0x00, 0x00, 0x00, 0x00, /* }  assigned external IP ::ffff:203.0.113.5 */
	0x00, 0x00, 0xff, 0xff, /* } */
	0xcb, 0x00, 0x71, 0x05, /* } */
};

/* A SUCCESS with an IPv6 external address and two options after the body:
 * PREFER_FAILURE (code 2, no data) and FILTER (code 3, 20 bytes, s13.3). */
static const uint8_t pcp_map_ok_v6_options[] = {
	0x02, 0x81, 0x00, 0x00, 0x00, 0x01, 0x51, 0x80, /* SUCCESS, lifetime 86400 */
	0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00, 0x00, /* epoch 7 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c,
	0x11, 0x00, 0x00, 0x00, 0x1f, 0x90, 0x1f, 0x91, /* internal 8080, external 8081 */
	0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, /* 2001:db8::1 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	0x02, 0x00, 0x00, 0x00, /* PREFER_FAILURE, length 0 */
	0x03, 0x00, 0x00, 0x14, /* FILTER, length 20 */
	0x00, 0x20, 0x00, 0x00, /* reserved, prefix 32, remote port 0 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* remote ::ffff:198.51.100.0 */
	0x00, 0x00, 0xff, 0xff, 0xc6, 0x33, 0x64, 0x00,
};

/* A version-1 server's UNSUPP_VERSION (s9: the header, its own version). */
static const uint8_t pcp_v1_unsupp[] = {
	0x01, 0x81, 0x00, 0x01, /* version 1, R=1 MAP, UNSUPP_VERSION */
	0x00, 0x00, 0x00, 0x00, /* lifetime 0 */
	0x00, 0x00, 0x00, 0x10, /* epoch 16 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* A NOT_AUTHORIZED MAP answer without the body (allowed for errors). */
static const uint8_t pcp_not_authorized[] = {
	0x02, 0x81, 0x00, 0x02, 0x00, 0x00, 0x00, 0x00, /* NOT_AUTHORIZED, lifetime 0 */
	0x00, 0x00, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, /* epoch 32 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* An unsolicited ANNOUNCE (s14.1.3). */
static const uint8_t pcp_announce_ok[] = {
	0x02, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* R=1 ANNOUNCE, SUCCESS */
	0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x00, /* epoch 3 */
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

/* ANNOUNCE request from 192.168.1.10. */
static const uint8_t pcp_announce_req[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	0x00, 0x00, 0xff, 0xff, 0xc0, 0xa8, 0x01, 0x0a,
};

/* NAT-PMP (RFC 6886). */
static const uint8_t natpmp_addr_req[] = { 0x00, 0x00 }; /* version 0, opcode 0 */

static const uint8_t natpmp_addr_ok[] = {
	0x00, 0x80, 0x00, 0x00, /* version 0, opcode 128, result SUCCESS */
	0x00, 0x00, 0x04, 0xd2, /* seconds since start of epoch: 1234 */
	0xcb, 0x00, 0x71, 0x05, /* external IPv4 address 203.0.113.5 */
};

static const uint8_t natpmp_map_req[] = {
	0x00, 0x01, 0x00, 0x00, /* version 0, opcode 1 (UDP), reserved */
	0xc3, 0x50, 0xc3, 0x50, /* internal port 50000, suggested external port 50000 */
	0x00, 0x00, 0x1c, 0x20, /* requested lifetime 7200 s */
};

static const uint8_t natpmp_map_delete[] = {
	0x00, 0x01, 0x00, 0x00, /* UDP */
	0xc3, 0x50, 0x00, 0x00, /* internal port 50000, suggested port 0 (s3.4) */
	0x00, 0x00, 0x00, 0x00, /* lifetime 0: delete */
};

static const uint8_t natpmp_map_ok[] = {
	0x00, 0x81, 0x00, 0x00, /* version 0, opcode 129, SUCCESS */
	0x00, 0x00, 0x04, 0xd3, /* epoch 1235 */
	0xc3, 0x50, 0xea, 0x60, /* internal port 50000, mapped external port 60000 */
	0x00, 0x00, 0x1c, 0x20, /* lifetime 7200 s */
};

/* What a NAT-PMP-only gateway answers a PCP MAP request (s3.5: version 0,
 * opcode 1 + 128, "unsupported version"; the 8-byte header, as miniupnpd sends). */
static const uint8_t natpmp_unsupp_version[] = {
	0x00, 0x81, 0x00, 0x01, /* version 0, opcode 129, UNSUPP_VERSION */
	0x00, 0x00, 0x00, 0x05, /* epoch 5 */
};

static const uint8_t natpmp_refused_full[] = {
	0x00, 0x81, 0x00, 0x02, 0x00, 0x00, 0x00, 0x06, /* REFUSED, epoch 6 */
	0xc3, 0x50, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, /* undefined fields */
};

static struct zt_addr addr(const char *s)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, s, 0), 0);
	return a;
}

static const uint8_t nonce[ZT_PCP_NONCE_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };

static struct zt_pcp_map map_req(void)
{
	struct zt_pcp_map m = { .lifetime = 7200, .client = addr("192.168.1.10"),
				.protocol = ZT_PCP_PROTO_UDP, .internal_port = 50000,
				.suggested_port = 50000 };

	memcpy(m.nonce, nonce, sizeof(nonce));
	return m;
}

static void pcp_requests_byte_exact(void **state)
{
	uint8_t buf[ZT_PCP_MAX_LEN];
	struct zt_pcp_map m = map_req();
	struct zt_addr client = addr("192.168.1.10");
	(void)state;

	assert_int_equal(zt_pcp_write_map(&m, buf, sizeof(buf)), sizeof(pcp_map_req));
	assert_memory_equal(buf, pcp_map_req, sizeof(pcp_map_req));
	m.lifetime = 0;
	m.suggested_port = 60000;
	m.suggested_ip = addr("203.0.113.5");
	assert_int_equal(zt_pcp_write_map(&m, buf, sizeof(buf)), sizeof(pcp_map_delete));
	assert_memory_equal(buf, pcp_map_delete, sizeof(pcp_map_delete));
	assert_int_equal(zt_pcp_write_announce(&client, buf, sizeof(buf)), sizeof(pcp_announce_req));
	assert_memory_equal(buf, pcp_announce_req, sizeof(pcp_announce_req));
}

static void pcp_request_ipv6_client(void **state)
{
	uint8_t buf[64];
	struct zt_pcp_map m = map_req();
	(void)state;

	m.client = addr("2001:db8::2");
	assert_int_equal(zt_pcp_write_map(&m, buf, sizeof(buf)), ZT_PCP_MAP_MSG_LEN);
	assert_memory_equal(buf + 8, m.client.ip, 16);
	/* no suggested address: :: (all zeros of the family) */
	for (size_t i = 44; i < 60; i++)
		assert_int_equal(buf[i], 0);
}

static void requests_refuse_bad_arguments(void **state)
{
	uint8_t buf[64];
	struct zt_pcp_map m = map_req();
	(void)state;

	assert_int_equal(zt_pcp_write_map(&m, buf, ZT_PCP_MAP_MSG_LEN - 1), -ENOBUFS);
	m.internal_port = 0;
	assert_int_equal(zt_pcp_write_map(&m, buf, sizeof(buf)), -EINVAL);
	m = map_req();
	m.protocol = 0;
	assert_int_equal(zt_pcp_write_map(&m, buf, sizeof(buf)), -EINVAL);
	m = map_req();
	m.client.family = 0;
	assert_int_equal(zt_pcp_write_map(&m, buf, sizeof(buf)), -EINVAL);
	m = map_req();
	m.suggested_ip = addr("2001:db8::1"); /* not the client's family */
	assert_int_equal(zt_pcp_write_map(&m, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(zt_pcp_write_announce(&(struct zt_addr){ 0 }, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(zt_natpmp_write_addr(buf, 1), -ENOBUFS);
	assert_int_equal(zt_natpmp_write_map(ZT_NATPMP_OP_MAP_UDP, 0, 0, 0, buf, sizeof(buf)),
			 -EINVAL); /* would delete every mapping of the host */
	assert_int_equal(zt_natpmp_write_map(ZT_NATPMP_OP_ADDR, 1, 0, 0, buf, sizeof(buf)), -EINVAL);
	assert_int_equal(zt_natpmp_write_map(ZT_NATPMP_OP_MAP_UDP, 1, 0, 0, buf, 11), -ENOBUFS);
}

static void natpmp_requests_byte_exact(void **state)
{
	uint8_t buf[16];
	(void)state;

	assert_int_equal(zt_natpmp_write_addr(buf, sizeof(buf)), sizeof(natpmp_addr_req));
	assert_memory_equal(buf, natpmp_addr_req, sizeof(natpmp_addr_req));
	assert_int_equal(zt_natpmp_write_map(ZT_NATPMP_OP_MAP_UDP, 50000, 50000, 7200, buf,
					     sizeof(buf)), sizeof(natpmp_map_req));
	assert_memory_equal(buf, natpmp_map_req, sizeof(natpmp_map_req));
	assert_int_equal(zt_natpmp_write_map(ZT_NATPMP_OP_MAP_UDP, 50000, 0, 0, buf, sizeof(buf)),
			 sizeof(natpmp_map_delete));
	assert_memory_equal(buf, natpmp_map_delete, sizeof(natpmp_map_delete));
}

static void pcp_answers_parsed(void **state)
{
	struct zt_pcp_answer a;
	char s[ZT_ADDR_STRLEN];
	(void)state;

	assert_int_equal(zt_pcp_parse(&a, pcp_map_ok, sizeof(pcp_map_ok)), 0);
	assert_int_equal(a.version, 2);
	assert_int_equal(a.opcode, ZT_PCP_OP_MAP);
	assert_int_equal(a.result, ZT_PCP_SUCCESS);
	assert_int_equal(a.lifetime, 3600);
	assert_int_equal(a.epoch, 12345);
	assert_true(a.has_body);
	assert_memory_equal(a.nonce, nonce, sizeof(nonce));
	assert_int_equal(a.protocol, ZT_PCP_PROTO_UDP);
	assert_int_equal(a.internal_port, 50000);
	assert_int_equal(a.external_port, 60000);
	assert_string_equal(zt_addr_str(&a.external_ip, s), "203.0.113.5:0");
	assert_int_equal(a.options, 0);

	assert_int_equal(zt_pcp_parse(&a, pcp_map_ok_v6_options, sizeof(pcp_map_ok_v6_options)), 0);
	assert_int_equal(a.lifetime, 86400);
	assert_int_equal(a.external_ip.family, AF_INET6);
	assert_string_equal(zt_addr_str(&a.external_ip, s), "[2001:db8::1]:0");
	assert_int_equal(a.internal_port, 8080);
	assert_int_equal(a.external_port, 8081);
	assert_int_equal(a.options, 2);

	assert_int_equal(zt_pcp_parse(&a, pcp_v1_unsupp, sizeof(pcp_v1_unsupp)), 0);
	assert_int_equal(a.version, 1);
	assert_int_equal(a.result, ZT_PCP_UNSUPP_VERSION);
	assert_int_equal(a.epoch, 16);
	assert_false(a.has_body);

	assert_int_equal(zt_pcp_parse(&a, pcp_not_authorized, sizeof(pcp_not_authorized)), 0);
	assert_int_equal(a.result, ZT_PCP_NOT_AUTHORIZED);
	assert_false(a.has_body);

	assert_int_equal(zt_pcp_parse(&a, pcp_announce_ok, sizeof(pcp_announce_ok)), 0);
	assert_int_equal(a.opcode, ZT_PCP_OP_ANNOUNCE);
	assert_int_equal(a.epoch, 3);
}

static void natpmp_answers_parsed(void **state)
{
	struct zt_pcp_answer a;
	char s[ZT_ADDR_STRLEN];
	(void)state;

	assert_int_equal(zt_pcp_parse(&a, natpmp_addr_ok, sizeof(natpmp_addr_ok)), 0);
	assert_int_equal(a.version, 0);
	assert_int_equal(a.opcode, ZT_NATPMP_OP_ADDR);
	assert_int_equal(a.result, ZT_NATPMP_SUCCESS);
	assert_int_equal(a.epoch, 1234);
	assert_true(a.has_body);
	assert_string_equal(zt_addr_str(&a.external_ip, s), "203.0.113.5:0");

	assert_int_equal(zt_pcp_parse(&a, natpmp_map_ok, sizeof(natpmp_map_ok)), 0);
	assert_int_equal(a.opcode, ZT_NATPMP_OP_MAP_UDP);
	assert_int_equal(a.epoch, 1235);
	assert_int_equal(a.protocol, ZT_PCP_PROTO_UDP);
	assert_int_equal(a.internal_port, 50000);
	assert_int_equal(a.external_port, 60000);
	assert_int_equal(a.lifetime, 7200);
	assert_int_equal(a.external_ip.family, 0);

	assert_int_equal(zt_pcp_parse(&a, natpmp_unsupp_version, sizeof(natpmp_unsupp_version)), 0);
	assert_int_equal(a.version, 0);
	assert_int_equal(a.opcode, ZT_PCP_OP_MAP);
	assert_int_equal(a.result, ZT_NATPMP_UNSUPP_VERSION);
	assert_false(a.has_body);

	assert_int_equal(zt_pcp_parse(&a, natpmp_refused_full, sizeof(natpmp_refused_full)), 0);
	assert_int_equal(a.result, ZT_NATPMP_REFUSED);
	assert_false(a.has_body);
	assert_int_equal(a.external_port, 0);
}

/* Every strict prefix of a valid answer is refused, and *ret is left alone. */
static void truncated_at_every_length(void **state)
{
	static const struct { const uint8_t *p; size_t n; } v[] = {
		{ pcp_map_ok, sizeof(pcp_map_ok) },
		{ pcp_map_ok_v6_options, sizeof(pcp_map_ok_v6_options) },
		{ pcp_announce_ok, sizeof(pcp_announce_ok) },
		{ pcp_not_authorized, sizeof(pcp_not_authorized) },
		{ natpmp_addr_ok, sizeof(natpmp_addr_ok) },
		{ natpmp_map_ok, sizeof(natpmp_map_ok) },
		{ natpmp_unsupp_version, sizeof(natpmp_unsupp_version) },
	};
	struct zt_pcp_answer a, untouched;
	uint8_t *copy;
	(void)state;

	memset(&untouched, 0x5a, sizeof(untouched));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		for (size_t n = 0; n < v[i].n; n++) {
			int rc;

			if (v[i].p == pcp_map_ok_v6_options && n >= 60 && n % 4 == 0)
				continue; /* options cut at a 4-byte boundary: checked below */
			copy = malloc(n ? n : 1); /* exact size: ASan sees a read past the end */
			memcpy(copy, v[i].p, n);
			a = untouched;
			rc = zt_pcp_parse(&a, copy, n);
			assert_true(rc < 0);
			assert_memory_equal(&a, &untouched, sizeof(a));
			free(copy);
		}
	}
	/* cut inside the FILTER option's data: its length runs past the end */
	assert_int_equal(zt_pcp_parse(&a, pcp_map_ok_v6_options, sizeof(pcp_map_ok_v6_options) - 4),
			 ZT_EMALFORMED);
	/* cut after PREFER_FAILURE: a shorter, whole answer */
	assert_int_equal(zt_pcp_parse(&a, pcp_map_ok_v6_options, 64), 0);
	assert_int_equal(a.options, 1);
}

static void malformed_answers_refused(void **state)
{
	uint8_t buf[ZT_PCP_MAX_LEN + 8];
	struct zt_pcp_answer a;
	(void)state;

	/* our own requests (R bit / response bit clear) */
	assert_int_equal(zt_pcp_parse(&a, pcp_map_req, sizeof(pcp_map_req)), ZT_EMALFORMED);
	assert_int_equal(zt_pcp_parse(&a, pcp_announce_req, sizeof(pcp_announce_req)), ZT_EMALFORMED);
	assert_int_equal(zt_pcp_parse(&a, natpmp_map_req, sizeof(natpmp_map_req)), ZT_EMALFORMED);
	assert_int_equal(zt_pcp_parse(&a, natpmp_addr_req, sizeof(natpmp_addr_req)), ZT_ETRUNC);
	/* PCP: over 1100 bytes, not a multiple of 4 */
	memset(buf, 0, sizeof(buf));
	memcpy(buf, pcp_map_ok, sizeof(pcp_map_ok));
	assert_int_equal(zt_pcp_parse(&a, buf, ZT_PCP_MAX_LEN + 4), ZT_ETOOBIG);
	assert_int_equal(zt_pcp_parse(&a, buf, sizeof(pcp_map_ok) + 2), ZT_EMALFORMED);
	/* zero padding after the body reads as options of length 0: fine, up to 1100 */
	assert_int_equal(zt_pcp_parse(&a, buf, ZT_PCP_MAX_LEN), 0);
	assert_int_equal(a.options, (ZT_PCP_MAX_LEN - sizeof(pcp_map_ok)) / 4);
	/* an option length that runs past the end */
	buf[60] = 0x80;
	buf[62] = 0xff;
	buf[63] = 0xff;
	assert_int_equal(zt_pcp_parse(&a, buf, 64), ZT_EMALFORMED);
	/* a SUCCESS MAP answer without its body */
	memcpy(buf, pcp_map_ok, 24);
	assert_int_equal(zt_pcp_parse(&a, buf, 24), ZT_EMALFORMED);
	/* NAT-PMP: longer than any answer; success without the right size */
	memcpy(buf, natpmp_map_ok, sizeof(natpmp_map_ok));
	assert_int_equal(zt_pcp_parse(&a, buf, 17), ZT_ETOOBIG);
	memcpy(buf, natpmp_addr_ok, sizeof(natpmp_addr_ok));
	assert_int_equal(zt_pcp_parse(&a, buf, 16), ZT_EMALFORMED);
	buf[1] = 0x85; /* opcode 5 SUCCESS with fields: unknown layout */
	assert_int_equal(zt_pcp_parse(&a, buf, 12), ZT_EMALFORMED);
	assert_int_equal(zt_pcp_parse(&a, buf, 8), 0);
	assert_int_equal(zt_pcp_parse(&a, buf, 0), ZT_ETRUNC);
}

static void pcp_epoch_rules(void **state)
{
	(void)state;
	/* RFC 6887 s8.5 */
	assert_true(zt_pcp_epoch_valid(100, 160, 60));
	assert_true(zt_pcp_epoch_valid(100, 99, 0));   /* back by one second: allowed */
	assert_false(zt_pcp_epoch_valid(100, 98, 0));  /* back by two */
	assert_false(zt_pcp_epoch_valid(100, 5, 60));  /* restarted */
	/* server slower: server_delta + 2 < client_delta - client_delta/16 */
	assert_true(zt_pcp_epoch_valid(100, 155, 60));  /* 57 < 57 is false */
	assert_false(zt_pcp_epoch_valid(100, 154, 60)); /* 56 < 57 */
	/* server faster: client_delta + 2 < server_delta - server_delta/16 */
	assert_true(zt_pcp_epoch_valid(100, 166, 60));  /* 62 < 66 - 4 is false */
	assert_false(zt_pcp_epoch_valid(100, 167, 60)); /* 62 < 67 - 4 */
	assert_true(zt_pcp_epoch_valid(0, 0, 0));
	assert_true(zt_pcp_epoch_valid(UINT32_MAX - 10, UINT32_MAX, 10));
	assert_false(zt_pcp_epoch_valid(UINT32_MAX, 0, 1)); /* no wrap taken for time */
}

static void natpmp_epoch_rules(void **state)
{
	(void)state;
	/* RFC 6886 s3.6: expected >= prev + 7/8 of the client's time, 2 s of slack */
	assert_true(zt_natpmp_epoch_valid(100, 180, 80));
	assert_true(zt_natpmp_epoch_valid(100, 168, 80));  /* 170 - 2 */
	assert_false(zt_natpmp_epoch_valid(100, 167, 80));
	assert_false(zt_natpmp_epoch_valid(100, 3, 80));   /* rebooted */
	assert_true(zt_natpmp_epoch_valid(100, 99, 0));
	assert_false(zt_natpmp_epoch_valid(100, 97, 0));
	assert_true(zt_natpmp_epoch_valid(100, 5000, 80)); /* running fast is not a reboot */
}

static void result_names(void **state)
{
	(void)state;
	assert_string_equal(zt_pcp_result_name(2, ZT_PCP_NOT_AUTHORIZED), "NOT_AUTHORIZED");
	assert_string_equal(zt_pcp_result_name(2, ZT_PCP_EXCESSIVE_REMOTE_PEERS),
			    "EXCESSIVE_REMOTE_PEERS");
	assert_string_equal(zt_pcp_result_name(0, ZT_NATPMP_REFUSED), "REFUSED");
	assert_string_equal(zt_pcp_result_name(0, 6), "?");
	assert_string_equal(zt_pcp_result_name(2, 14), "?");
	assert_string_equal(zt_pcp_result_name(0, 65535), "?");
}

static void write_seed(const char *dir, const char *name, const uint8_t *p, size_t n)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(p, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

/* ZT_PCP_SEED_DIR=tests/fuzz/seeds/fuzz_pcp build/tests/test_pcp writes the seeds of
 * tests/fuzz/fuzz_pcp.c: the answers above. */
static void seeds(void **state)
{
	const char *dir = getenv("ZT_PCP_SEED_DIR");
	(void)state;

	write_seed(dir, "pcp-map-ok", pcp_map_ok, sizeof(pcp_map_ok));
	write_seed(dir, "pcp-map-ok-v6-options", pcp_map_ok_v6_options, sizeof(pcp_map_ok_v6_options));
	write_seed(dir, "pcp-v1-unsupp-version", pcp_v1_unsupp, sizeof(pcp_v1_unsupp));
	write_seed(dir, "pcp-not-authorized", pcp_not_authorized, sizeof(pcp_not_authorized));
	write_seed(dir, "pcp-announce", pcp_announce_ok, sizeof(pcp_announce_ok));
	write_seed(dir, "natpmp-addr-ok", natpmp_addr_ok, sizeof(natpmp_addr_ok));
	write_seed(dir, "natpmp-map-ok", natpmp_map_ok, sizeof(natpmp_map_ok));
	write_seed(dir, "natpmp-unsupp-version", natpmp_unsupp_version, sizeof(natpmp_unsupp_version));
	write_seed(dir, "natpmp-refused", natpmp_refused_full, sizeof(natpmp_refused_full));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(pcp_requests_byte_exact),
		cmocka_unit_test(pcp_request_ipv6_client),
		cmocka_unit_test(requests_refuse_bad_arguments),
		cmocka_unit_test(natpmp_requests_byte_exact),
		cmocka_unit_test(pcp_answers_parsed),
		cmocka_unit_test(natpmp_answers_parsed),
		cmocka_unit_test(truncated_at_every_length),
		cmocka_unit_test(malformed_answers_refused),
		cmocka_unit_test(pcp_epoch_rules),
		cmocka_unit_test(natpmp_epoch_rules),
		cmocka_unit_test(result_names),
	};

	if (getenv("ZT_PCP_SEED_DIR")) {
		const struct CMUnitTest gen[] = { cmocka_unit_test(seeds) };
		return cmocka_run_group_tests(gen, NULL, NULL);
	}
	return cmocka_run_group_tests(tests, NULL, NULL);
}
