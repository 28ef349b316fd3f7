/* node/fwd.h and node/relay.h: the forwarding and relay wire formats, byte for byte. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <string.h>

#include "core/err.h"
#include "node/fwd.h"
#include "node/peer.h"
#include "node/relay.h"

static void relay_header(void **state)
{
	static const uint8_t pkt[] = {
		0xde, 0xad, 0xbe, 0xef, /* session id */
		0x41, 0x00,             /* the inner packet */
	};
	uint8_t buf[8];
	uint32_t s = 0;
	(void)state;

	assert_int_equal(zt_relay_hdr_write(buf, sizeof(buf), 0xdeadbeef), 4);
	assert_memory_equal(buf, pkt, 4);
	assert_int_equal(zt_relay_hdr_write(buf, 3, 1), -ENOBUFS);
	assert_int_equal(zt_relay_hdr_write(buf, sizeof(buf), 0), -EINVAL);
	assert_int_equal(zt_relay_hdr_read(pkt, sizeof(pkt), &s), ZT_RELAY_HDR_LEN);
	assert_int_equal(s, 0xdeadbeef);
	/* No packet after the header, a short header, session 0. */
	assert_int_equal(zt_relay_hdr_read(pkt, 4, &s), ZT_ETRUNC);
	assert_int_equal(zt_relay_hdr_read(pkt, 3, &s), ZT_ETRUNC);
	assert_int_equal(zt_relay_hdr_read((const uint8_t[]){ 0, 0, 0, 0, 0x41 }, 5, &s), ZT_EMALFORMED);
}

/* The relay channel's datagram (docs/relay-channel.md): marker, then a DATAGRAM's
 * payload. */
static void relay_channel_header(void **state)
{
	static const uint8_t pkt[] = {
		0x0c,                   /* marker */
		0xde, 0xad, 0xbe, 0xef, /* session id */
		0x41, 0x00,             /* the inner packet */
	};
	static uint8_t big[ZT_RELAY_CHAN_MAX + 1] = { 0x0c, 0, 0, 0, 1 };
	uint8_t buf[8];
	uint32_t s = 0;
	(void)state;

	assert_int_equal(ZT_RELAY_CHAN_MAX, 1412);
	assert_int_equal(zt_relay_chan_write(buf, sizeof(buf), 0xdeadbeef), 5);
	assert_memory_equal(buf, pkt, 5);
	assert_int_equal(zt_relay_chan_write(buf, 4, 1), -ENOBUFS);
	assert_int_equal(zt_relay_chan_write(buf, sizeof(buf), 0), -EINVAL);
	assert_int_equal(zt_relay_chan_read(pkt, sizeof(pkt), &s), ZT_RELAY_CHAN_HDR_LEN);
	assert_int_equal(s, 0xdeadbeef);
	assert_true(zt_relay_is_chan(pkt, sizeof(pkt)));
	/* the largest one, and one byte more */
	assert_int_equal(zt_relay_chan_read(big, ZT_RELAY_CHAN_MAX, &s), ZT_RELAY_CHAN_HDR_LEN);
	assert_int_equal(s, 1);
	s = 0;
	assert_int_equal(zt_relay_chan_read(big, sizeof(big), &s), ZT_ETOOBIG);
	/* no packet after the header, a short header, session 0, not the marker, empty */
	assert_int_equal(zt_relay_chan_read(pkt, 5, &s), ZT_ETRUNC);
	assert_int_equal(zt_relay_chan_read(pkt, 1, &s), ZT_ETRUNC);
	assert_int_equal(zt_relay_chan_read((const uint8_t[]){ 0x0c, 0, 0, 0, 0, 0x41 }, 6, &s),
			 ZT_EMALFORMED);
	assert_int_equal(zt_relay_chan_read(pkt + 1, sizeof(pkt) - 1, &s), ZT_EMALFORMED);
	assert_int_equal(zt_relay_chan_read(pkt, 0, &s), ZT_EMALFORMED);
	assert_int_equal(s, 0);
	assert_false(zt_relay_is_chan(pkt, 0));
	/* not a first byte of anything else on the sockets (RFC 7983 s7, RFC 9443): STUN
	 * 0..3, ztna punch 0x0A, QUIC with its fixed bit 0x40 */
	assert_true(ZT_RELAY_CHAN_MARKER > 3 && ZT_RELAY_CHAN_MARKER < 16);
	assert_true(ZT_RELAY_CHAN_MARKER != 0x0a && !(ZT_RELAY_CHAN_MARKER & 0x40));
}

static void tunnel_sizes(void **state)
{
	(void)state;
	/* 1452-byte outer packets carry 1411-byte DATAGRAM payloads (room for a MAX_DATA
	 * frame with each); the relay header leaves 1407 for an inner packet, which
	 * carries 1362 bytes of UDP. */
	assert_int_equal(ZT_QUIC_TUNNEL_MTU, 1411);
	assert_int_equal(ZT_RELAY_TUNNEL_MTU, 1407);
	assert_int_equal(ZT_PEER_UDP_MAX, 1362);
}

static void stream_header(void **state)
{
	static const uint8_t wire[] = {
		0x01,             /* version */
		0x06,             /* TCP */
		0x03, 'w', 'e', 'b', /* name */
		'G', 'E', 'T',    /* application data follows */
	};
	struct zt_fwd_hdr h = { .proto = ZT_FWD_PROTO_TCP, .name = "web" }, r;
	uint8_t buf[ZT_FWD_HDR_MAX];
	(void)state;

	assert_int_equal(zt_fwd_hdr_write(buf, sizeof(buf), &h), 6);
	assert_memory_equal(buf, wire, 6);
	/* A reader learns the full length from the first three bytes. */
	assert_int_equal(zt_fwd_hdr_want(wire, 0), 3);
	assert_int_equal(zt_fwd_hdr_want(wire, 2), 3);
	assert_int_equal(zt_fwd_hdr_want(wire, 3), 6);
	assert_int_equal(zt_fwd_hdr_read(wire, 5, &r), ZT_ETRUNC);
	assert_int_equal(zt_fwd_hdr_read(wire, 2, &r), ZT_ETRUNC);
	assert_int_equal(zt_fwd_hdr_read(wire, sizeof(wire), &r), 6);
	assert_string_equal(r.name, "web");
	assert_int_equal(r.proto, ZT_FWD_PROTO_TCP);
	assert_int_equal(zt_fwd_hdr_read((const uint8_t[]){ 2, 6, 1, 'a' }, 4, &r), ZT_EMALFORMED);
	assert_int_equal(zt_fwd_hdr_read((const uint8_t[]){ 1, 17, 1, 'a' }, 4, &r), ZT_EMALFORMED);
	assert_int_equal(zt_fwd_hdr_read((const uint8_t[]){ 1, 6, 0 }, 3, &r), ZT_EMALFORMED);
	assert_int_equal(zt_fwd_hdr_read((const uint8_t[]){ 1, 6, 2, 'a', 0 }, 5, &r), ZT_ESYNTAX);
	h.name[0] = '\0';
	assert_int_equal(zt_fwd_hdr_write(buf, sizeof(buf), &h), -EINVAL);
	memset(h.name, 'x', ZT_FWD_NAME_MAX);
	h.name[ZT_FWD_NAME_MAX] = '\0';
	assert_int_equal(zt_fwd_hdr_write(buf, sizeof(buf), &h), ZT_FWD_HDR_MAX);
	assert_int_equal(zt_fwd_hdr_write(buf, 10, &h), -ENOBUFS);
	h.proto = 17;
	assert_int_equal(zt_fwd_hdr_write(buf, sizeof(buf), &h), -EINVAL);
}

static void flow_header(void **state)
{
	uint8_t buf[4];
	uint32_t f = 0;
	(void)state;

	assert_int_equal(zt_fwd_flow_write(buf, sizeof(buf), 0x01020304), 4);
	assert_memory_equal(buf, ((const uint8_t[]){ 1, 2, 3, 4 }), 4);
	assert_int_equal(zt_fwd_flow_read(buf, 4, &f), 4);
	assert_int_equal(f, 0x01020304);
	assert_int_equal(zt_fwd_flow_read(buf, 3, &f), ZT_ETRUNC);
	assert_int_equal(zt_fwd_flow_read((const uint8_t[]){ 0, 0, 0, 0 }, 4, &f), ZT_EMALFORMED);
	assert_int_equal(zt_fwd_flow_write(buf, sizeof(buf), 0), -EINVAL);
	assert_string_equal(zt_fwd_code_name(ZT_FWD_TCP_RESET), "tcp-reset");
	assert_string_equal(zt_fwd_code_name(99), "?");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(relay_header),
		cmocka_unit_test(relay_channel_header),
		cmocka_unit_test(tunnel_sizes),
		cmocka_unit_test(stream_header),
		cmocka_unit_test(flow_header),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
