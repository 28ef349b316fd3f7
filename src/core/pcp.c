/* PCP (RFC 6887) and NAT-PMP (RFC 6886) messages, client side (pcp.h). */
#include <errno.h>
#include <string.h>

#include "core/err.h"
#include "core/pcp.h"
#include "core/wire.h"

/* RFC 6887 s5: ::ffff:0:0/96 holds an IPv4 address in a 16-byte field. */
static const uint8_t v4mapped[12] = { [10] = 0xff, [11] = 0xff };

static bool family_ok(const struct zt_addr *a)
{
	return a->family == AF_INET || a->family == AF_INET6;
}

static void put_ip16(struct zt_wr *w, const struct zt_addr *a)
{
	if (a->family == AF_INET) {
		zt_wr_bytes(w, v4mapped, sizeof(v4mapped));
		zt_wr_bytes(w, a->ip, 4);
	} else {
		zt_wr_bytes(w, a->ip, 16);
	}
}

static void get_ip16(struct zt_addr *ret, const uint8_t ip[16])
{
	if (!memcmp(ip, v4mapped, sizeof(v4mapped)))
		zt_addr_set_v4(ret, ip + 12, 0);
	else
		zt_addr_set_v6(ret, ip, 0);
}

/* RFC 6887 s7.1: version, R = 0 and the opcode, reserved, lifetime, client's IP. */
static void put_request_header(struct zt_wr *w, uint8_t opcode, uint32_t lifetime,
			       const struct zt_addr *client)
{
	zt_wr_u8(w, ZT_PCP_VERSION);
	zt_wr_u8(w, opcode);
	zt_wr_zeros(w, 2);
	zt_wr_u32(w, lifetime);
	put_ip16(w, client);
}

int zt_pcp_write_map(const struct zt_pcp_map *m, uint8_t *buf, size_t cap)
{
	struct zt_wr w = zt_wr_init(buf, cap);
	/* s11.1: no preference is the all-zeros address of the client's family */
	struct zt_addr none = { .family = m->client.family };

	if (!family_ok(&m->client) || !m->protocol || !m->internal_port ||
	    (m->suggested_ip.family && m->suggested_ip.family != m->client.family))
		return -EINVAL;
	put_request_header(&w, ZT_PCP_OP_MAP, m->lifetime, &m->client);
	zt_wr_bytes(&w, m->nonce, ZT_PCP_NONCE_LEN);
	zt_wr_u8(&w, m->protocol);
	zt_wr_zeros(&w, 3);
	zt_wr_u16(&w, m->internal_port);
	zt_wr_u16(&w, m->suggested_port);
	put_ip16(&w, m->suggested_ip.family ? &m->suggested_ip : &none);
	return zt_wr_finish(&w);
}

int zt_pcp_write_announce(const struct zt_addr *client, uint8_t *buf, size_t cap)
{
	struct zt_wr w = zt_wr_init(buf, cap);

	if (!family_ok(client))
		return -EINVAL;
	put_request_header(&w, ZT_PCP_OP_ANNOUNCE, 0, client);
	return zt_wr_finish(&w);
}

int zt_natpmp_write_addr(uint8_t *buf, size_t cap)
{
	struct zt_wr w = zt_wr_init(buf, cap);

	zt_wr_u8(&w, ZT_NATPMP_VERSION);
	zt_wr_u8(&w, ZT_NATPMP_OP_ADDR);
	return zt_wr_finish(&w);
}

int zt_natpmp_write_map(uint8_t opcode, uint16_t internal_port, uint16_t suggested_port,
			uint32_t lifetime, uint8_t *buf, size_t cap)
{
	struct zt_wr w = zt_wr_init(buf, cap);

	if ((opcode != ZT_NATPMP_OP_MAP_UDP && opcode != ZT_NATPMP_OP_MAP_TCP) || !internal_port)
		return -EINVAL;
	zt_wr_u8(&w, ZT_NATPMP_VERSION);
	zt_wr_u8(&w, opcode);
	zt_wr_zeros(&w, 2);
	zt_wr_u16(&w, internal_port);
	zt_wr_u16(&w, suggested_port);
	zt_wr_u32(&w, lifetime);
	return zt_wr_finish(&w);
}

/* ---- answers ---- */

/* RFC 6887 s7.3: code, reserved, length, data padded to 4 bytes; each must fit. */
static int walk_options(struct zt_rd *r, unsigned *count)
{
	while (zt_rd_left(r)) {
		uint8_t code, reserved;
		uint16_t len;

		if (zt_rd_u8(r, &code) || zt_rd_u8(r, &reserved) || zt_rd_u16(r, &len) ||
		    zt_rd_skip(r, ((size_t)len + 3) & ~(size_t)3))
			return ZT_EMALFORMED;
		(*count)++;
	}
	return 0;
}

/* s11.1: nonce, protocol, reserved, internal port, assigned external port and IP. */
static void read_map_body(struct zt_pcp_answer *a, struct zt_rd *r)
{
	const uint8_t *ip = NULL;

	zt_rd_copy(r, a->nonce, ZT_PCP_NONCE_LEN);
	zt_rd_u8(r, &a->protocol);
	zt_rd_skip(r, 3);
	zt_rd_u16(r, &a->internal_port);
	zt_rd_u16(r, &a->external_port);
	zt_rd_ptr(r, 16, &ip);
	get_ip16(&a->external_ip, ip);
	a->has_body = true;
}

static int parse_pcp(struct zt_pcp_answer *a, const uint8_t *buf, size_t len)
{
	struct zt_rd r = zt_rd_init(buf, len);
	uint8_t op = 0, reserved = 0, result = 0;

	if (len < ZT_PCP_HDR_LEN)
		return ZT_ETRUNC;
	if (len > ZT_PCP_MAX_LEN)
		return ZT_ETOOBIG;
	if (len % 4)
		return ZT_EMALFORMED;
	zt_rd_u8(&r, &a->version);
	zt_rd_u8(&r, &op);
	if (!(op & 0x80))
		return ZT_EMALFORMED; /* a request (R = 0) */
	a->opcode = op & 0x7f;
	zt_rd_u8(&r, &reserved);
	zt_rd_u8(&r, &result);
	a->result = result;
	zt_rd_u32(&r, &a->lifetime);
	zt_rd_u32(&r, &a->epoch);
	zt_rd_skip(&r, 12);
	if (a->version != ZT_PCP_VERSION)
		return 0; /* s9: only the header is common to the versions */
	if (a->opcode == ZT_PCP_OP_MAP) {
		if (len < ZT_PCP_MAP_MSG_LEN)
			return a->result == ZT_PCP_SUCCESS ? ZT_EMALFORMED : 0;
		read_map_body(a, &r);
	} else if (a->opcode != ZT_PCP_OP_ANNOUNCE) {
		return 0; /* an opcode whose body we do not know: its header */
	}
	return walk_options(&r, &a->options);
}

static int parse_natpmp(struct zt_pcp_answer *a, const uint8_t *buf, size_t len)
{
	struct zt_rd r = zt_rd_init(buf, len);
	uint8_t op = 0;
	const uint8_t *ip = NULL;

	if (len < ZT_NATPMP_HDR_LEN)
		return ZT_ETRUNC;
	if (len > ZT_NATPMP_MAP_LEN)
		return ZT_ETOOBIG;
	zt_rd_u8(&r, &a->version);
	zt_rd_u8(&r, &op);
	if (!(op & 0x80))
		return ZT_EMALFORMED; /* a request */
	a->opcode = op & 0x7f;
	zt_rd_u16(&r, &a->result);
	zt_rd_u32(&r, &a->epoch);
	if (a->result != ZT_NATPMP_SUCCESS)
		return 0; /* s3.5: the other fields are not defined */
	switch (a->opcode) {
	case ZT_NATPMP_OP_ADDR: /* s3.2 */
		if (len != ZT_NATPMP_ADDR_LEN)
			return ZT_EMALFORMED;
		zt_rd_ptr(&r, 4, &ip);
		zt_addr_set_v4(&a->external_ip, ip, 0);
		a->has_body = true;
		return 0;
	case ZT_NATPMP_OP_MAP_UDP: /* s3.3 */
	case ZT_NATPMP_OP_MAP_TCP:
		if (len != ZT_NATPMP_MAP_LEN)
			return ZT_EMALFORMED;
		a->protocol = a->opcode == ZT_NATPMP_OP_MAP_UDP ? ZT_PCP_PROTO_UDP : ZT_PCP_PROTO_TCP;
		zt_rd_u16(&r, &a->internal_port);
		zt_rd_u16(&r, &a->external_port);
		zt_rd_u32(&r, &a->lifetime);
		a->has_body = true;
		return 0;
	default:
		return len == ZT_NATPMP_HDR_LEN ? 0 : ZT_EMALFORMED;
	}
}

int zt_pcp_parse(struct zt_pcp_answer *ret, const uint8_t *buf, size_t len)
{
	struct zt_pcp_answer a = { 0 };
	int rc;

	if (len == 0)
		return ZT_ETRUNC;
	rc = buf[0] == ZT_NATPMP_VERSION ? parse_natpmp(&a, buf, len) : parse_pcp(&a, buf, len);
	if (rc == 0)
		*ret = a;
	return rc;
}

/* ---- epochs ---- */

bool zt_pcp_epoch_valid(uint32_t prev, uint32_t cur, uint64_t client_delta)
{
	uint64_t server_delta;

	if ((uint64_t)cur + 1 < prev)
		return false; /* back by more than a second */
	server_delta = cur > prev ? (uint64_t)cur - prev : 0;
	return !(client_delta + 2 < server_delta - server_delta / 16 ||
		 server_delta + 2 < client_delta - client_delta / 16);
}

bool zt_natpmp_epoch_valid(uint32_t prev, uint32_t cur, uint64_t client_delta)
{
	return !((uint64_t)cur + 2 < (uint64_t)prev + client_delta * 7 / 8);
}

/* ---- names ---- */

static const char *const pcp_names[] = {
	[ZT_PCP_SUCCESS] = "SUCCESS",
	[ZT_PCP_UNSUPP_VERSION] = "UNSUPP_VERSION",
	[ZT_PCP_NOT_AUTHORIZED] = "NOT_AUTHORIZED",
	[ZT_PCP_MALFORMED_REQUEST] = "MALFORMED_REQUEST",
	[ZT_PCP_UNSUPP_OPCODE] = "UNSUPP_OPCODE",
	[ZT_PCP_UNSUPP_OPTION] = "UNSUPP_OPTION",
	[ZT_PCP_MALFORMED_OPTION] = "MALFORMED_OPTION",
	[ZT_PCP_NETWORK_FAILURE] = "NETWORK_FAILURE",
	[ZT_PCP_NO_RESOURCES] = "NO_RESOURCES",
	[ZT_PCP_UNSUPP_PROTOCOL] = "UNSUPP_PROTOCOL",
	[ZT_PCP_USER_EX_QUOTA] = "USER_EX_QUOTA",
	[ZT_PCP_CANNOT_PROVIDE_EXTERNAL] = "CANNOT_PROVIDE_EXTERNAL",
	[ZT_PCP_ADDRESS_MISMATCH] = "ADDRESS_MISMATCH",
	[ZT_PCP_EXCESSIVE_REMOTE_PEERS] = "EXCESSIVE_REMOTE_PEERS",
};

static const char *const natpmp_names[] = {
	[ZT_NATPMP_SUCCESS] = "SUCCESS",
	[ZT_NATPMP_UNSUPP_VERSION] = "UNSUPP_VERSION",
	[ZT_NATPMP_REFUSED] = "REFUSED",
	[ZT_NATPMP_NETWORK_FAILURE] = "NETWORK_FAILURE",
	[ZT_NATPMP_NO_RESOURCES] = "NO_RESOURCES",
	[ZT_NATPMP_UNSUPP_OPCODE] = "UNSUPP_OPCODE",
};

const char *zt_pcp_result_name(unsigned version, unsigned result)
{
	if (version == ZT_NATPMP_VERSION)
		return result < sizeof(natpmp_names) / sizeof(natpmp_names[0]) ? natpmp_names[result]
										: "?";
	return result < sizeof(pcp_names) / sizeof(pcp_names[0]) ? pcp_names[result] : "?";
}
