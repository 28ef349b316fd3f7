#include <errno.h>
#include <string.h>

#include "core/ctrl.h"
#include "core/err.h"
#include "core/wire.h"

/*
 * The codec is table-driven: each message type (and the candidate value) is a list of
 * field descriptions saying where the value lives in the C struct, so the encoder, the
 * decoder and the spec's field list cannot drift apart.
 */
enum kind {
	K_U8,
	K_U16,
	K_U32,
	K_U64,
	K_FLAG,     /* bool; empty value, present means true */
	K_STR,      /* char[max + 1] */
	K_BYTES,    /* uint8_t[max], uint16_t length at cnt_off */
	K_ADDR,     /* struct zt_addr; u16 port + 4 or 16 address bytes */
	K_STRLIST,  /* char[max][ZT_CTRL_STR_MAX + 1], uint8_t count at cnt_off */
	K_CANDLIST, /* struct zt_cand[max], uint8_t count at cnt_off */
};

struct field {
	uint16_t type;
	uint8_t kind;
	bool required;
	size_t off;       /* the value, from the start of the body struct */
	size_t cnt_off;   /* K_BYTES length, list count */
	size_t max;       /* K_STR/K_BYTES bytes, list entries */
	uint64_t lo, hi;  /* integers: allowed range when hi != 0 */
};

struct msgdef {
	const char *name;
	const struct field *fields;
	size_t n;
};

#define REQ true
#define OPT false
#define FV(t, k, r, s, m, ...) \
	{ .type = (t), .kind = (k), .required = (r), .off = offsetof(struct s, m), __VA_ARGS__ }
#define FSTR(t, r, s, m) FV(t, K_STR, r, s, m, .max = ZT_CTRL_STR_MAX)
#define FLIST(t, k, s, m, cnt, mx) FV(t, k, OPT, s, m, .cnt_off = offsetof(struct s, cnt), .max = (mx))

static const struct field hello_fields[] = {
	FV(ZT_CTRL_F_ROLE, K_U8, REQ, zt_ctrl_hello, role, .lo = ZT_CTRL_ROLE_AGENT,
	   .hi = ZT_CTRL_ROLE_INTERMEDIATE),
	FSTR(ZT_CTRL_F_IDENTITY, REQ, zt_ctrl_hello, identity),
	FV(ZT_CTRL_F_TOKEN, K_BYTES, OPT, zt_ctrl_hello, token,
	   .cnt_off = offsetof(struct zt_ctrl_hello, token_len), .max = ZT_CTRL_TOKEN_MAX),
	FSTR(ZT_CTRL_F_SOFTWARE, OPT, zt_ctrl_hello, software),
	FLIST(ZT_CTRL_F_SERVICE, K_STRLIST, zt_ctrl_hello, services, n_services,
	      ZT_CTRL_SERVICES_MAX),
	FLIST(ZT_CTRL_F_ROUTE, K_STRLIST, zt_ctrl_hello, routes, n_routes, ZT_CTRL_HELLO_ROUTES_MAX),
	FV(ZT_CTRL_F_CLIENT_ID, K_U64, OPT, zt_ctrl_hello, move_from),
	FV(ZT_CTRL_F_RELAY_CHANNEL, K_FLAG, OPT, zt_ctrl_hello, relay_channel),
};

static const struct field welcome_fields[] = {
	FV(ZT_CTRL_F_CLIENT_ID, K_U64, REQ, zt_ctrl_welcome, client_id),
	FV(ZT_CTRL_F_ADDRESS, K_ADDR, REQ, zt_ctrl_welcome, observed),
	FV(ZT_CTRL_F_TIME, K_U64, OPT, zt_ctrl_welcome, server_time),
	FSTR(ZT_CTRL_F_SOFTWARE, OPT, zt_ctrl_welcome, software),
	FV(ZT_CTRL_F_TUN_ADDR4, K_ADDR, OPT, zt_ctrl_welcome, tun4),
	FV(ZT_CTRL_F_TUN_ADDR6, K_ADDR, OPT, zt_ctrl_welcome, tun6),
	FSTR(ZT_CTRL_F_TUN_POOL4, OPT, zt_ctrl_welcome, tun_pool4),
	FSTR(ZT_CTRL_F_TUN_POOL6, OPT, zt_ctrl_welcome, tun_pool6),
	FV(ZT_CTRL_F_STUN_PORT, K_U16, OPT, zt_ctrl_welcome, stun_port, .lo = 1, .hi = 65535),
	FV(ZT_CTRL_F_RELAY_CHANNEL, K_FLAG, OPT, zt_ctrl_welcome, relay_channel),
};

static const struct field register_fields[] = {
	FLIST(ZT_CTRL_F_SERVICE, K_STRLIST, zt_ctrl_register, services, n_services,
	      ZT_CTRL_SERVICES_MAX),
	FLIST(ZT_CTRL_F_ROUTE, K_STRLIST, zt_ctrl_register, routes, n_routes,
	      ZT_CTRL_HELLO_ROUTES_MAX),
};

static const struct field routes_fields[] = {
	FLIST(ZT_CTRL_F_ROUTE, K_STRLIST, zt_ctrl_routes, routes, n_routes, ZT_CTRL_ROUTES_MAX),
};

static const struct field open_fields[] = {
	FV(ZT_CTRL_F_REQUEST_ID, K_U64, REQ, zt_ctrl_open, request_id),
	FSTR(ZT_CTRL_F_SERVICE, REQ, zt_ctrl_open, service),
	FV(ZT_CTRL_F_SESSION_ID, K_U64, OPT, zt_ctrl_open, resume_session),
	FSTR(ZT_CTRL_F_AGENT, OPT, zt_ctrl_open, agent),
};

static const struct field session_fields[] = {
	FV(ZT_CTRL_F_SESSION_ID, K_U64, REQ, zt_ctrl_session, session_id),
	FV(ZT_CTRL_F_REQUEST_ID, K_U64, OPT, zt_ctrl_session, request_id),
	FSTR(ZT_CTRL_F_SERVICE, REQ, zt_ctrl_session, service),
	FSTR(ZT_CTRL_F_PEER_IDENTITY, REQ, zt_ctrl_session, peer_identity),
	FV(ZT_CTRL_F_QUOTA_BYTES, K_U64, REQ, zt_ctrl_session, quota_bytes),
	FV(ZT_CTRL_F_QUOTA_PACKETS, K_U64, REQ, zt_ctrl_session, quota_packets),
	FV(ZT_CTRL_F_ICE_ROLE, K_U8, REQ, zt_ctrl_session, ice_role,
	   .lo = ZT_CTRL_ICE_CONTROLLING, .hi = ZT_CTRL_ICE_CONTROLLED),
	FV(ZT_CTRL_F_TUN_ADDR4, K_ADDR, OPT, zt_ctrl_session, tun4),
	FV(ZT_CTRL_F_TUN_ADDR6, K_ADDR, OPT, zt_ctrl_session, tun6),
};

static const struct field close_fields[] = {
	FV(ZT_CTRL_F_SESSION_ID, K_U64, REQ, zt_ctrl_close, session_id),
	FV(ZT_CTRL_F_REASON, K_U32, REQ, zt_ctrl_close, reason),
	FSTR(ZT_CTRL_F_TEXT, OPT, zt_ctrl_close, text),
};

static const struct field observed_fields[] = {
	FV(ZT_CTRL_F_ADDRESS, K_ADDR, REQ, zt_ctrl_observed, addr),
};

static const struct field candidates_fields[] = {
	FV(ZT_CTRL_F_SESSION_ID, K_U64, REQ, zt_ctrl_candidates, session_id),
	FSTR(ZT_CTRL_F_UFRAG, REQ, zt_ctrl_candidates, ufrag),
	FSTR(ZT_CTRL_F_PWD, REQ, zt_ctrl_candidates, pwd),
	FV(ZT_CTRL_F_GENERATION, K_U32, OPT, zt_ctrl_candidates, generation),
	FV(ZT_CTRL_F_SEQ, K_U32, OPT, zt_ctrl_candidates, seq),
	FV(ZT_CTRL_F_END_OF_CANDIDATES, K_FLAG, OPT, zt_ctrl_candidates, end_of_candidates),
	FLIST(ZT_CTRL_F_CANDIDATE, K_CANDLIST, zt_ctrl_candidates, cands, n_cands,
	      ZT_CTRL_CANDS_MAX),
	FV(ZT_CTRL_F_NAT_MAPPING, K_U8, OPT, zt_ctrl_candidates, nat_mapping,
	   .lo = ZT_CTRL_NAT_MAP_INDEPENDENT, .hi = ZT_CTRL_NAT_MAP_ADDRESS_PORT),
	FV(ZT_CTRL_F_NAT_PORTS, K_U8, OPT, zt_ctrl_candidates, nat_ports,
	   .lo = ZT_CTRL_NAT_PORTS_PRESERVE, .hi = ZT_CTRL_NAT_PORTS_RANDOM),
	FV(ZT_CTRL_F_ADDRESS, K_ADDR, OPT, zt_ctrl_candidates, observed),
};

static const struct field start_fields[] = {
	FV(ZT_CTRL_F_SESSION_ID, K_U64, REQ, zt_ctrl_start_checks, session_id),
	FV(ZT_CTRL_F_START_OFFSET, K_U64, REQ, zt_ctrl_start_checks, start_offset),
	FV(ZT_CTRL_F_GENERATION, K_U32, OPT, zt_ctrl_start_checks, generation),
};

static const struct field path_fields[] = {
	FV(ZT_CTRL_F_SESSION_ID, K_U64, REQ, zt_ctrl_path_report, session_id),
	FV(ZT_CTRL_F_PATH, K_U8, REQ, zt_ctrl_path_report, path, .lo = ZT_CTRL_PATH_DIRECT,
	   .hi = ZT_CTRL_PATH_RELAY),
	FV(ZT_CTRL_F_LOCAL_ADDR, K_ADDR, OPT, zt_ctrl_path_report, local),
	FV(ZT_CTRL_F_REMOTE_ADDR, K_ADDR, OPT, zt_ctrl_path_report, remote),
	FV(ZT_CTRL_F_RTT_US, K_U32, OPT, zt_ctrl_path_report, rtt_us),
	FV(ZT_CTRL_F_TIME_TO_DIRECT_MS, K_U32, OPT, zt_ctrl_path_report, time_to_direct_ms),
	FV(ZT_CTRL_F_PATH_SWITCHES, K_U32, OPT, zt_ctrl_path_report, path_switches),
	FSTR(ZT_CTRL_F_TEXT, OPT, zt_ctrl_path_report, text),
};

static const struct field error_fields[] = {
	FV(ZT_CTRL_F_CODE, K_U32, REQ, zt_ctrl_error, code),
	FSTR(ZT_CTRL_F_TEXT, OPT, zt_ctrl_error, text),
	FV(ZT_CTRL_F_SESSION_ID, K_U64, OPT, zt_ctrl_error, session_id),
	FV(ZT_CTRL_F_REQUEST_ID, K_U64, OPT, zt_ctrl_error, request_id),
};

static const struct field ping_fields[] = {
	FV(ZT_CTRL_F_NONCE, K_U64, REQ, zt_ctrl_ping, nonce),
	FV(ZT_CTRL_F_TIMESTAMP, K_U64, REQ, zt_ctrl_ping, timestamp),
};

static const struct field pong_fields[] = {
	FV(ZT_CTRL_F_NONCE, K_U64, REQ, zt_ctrl_ping, nonce),
	FV(ZT_CTRL_F_TIMESTAMP, K_U64, REQ, zt_ctrl_ping, timestamp),
	FV(ZT_CTRL_F_TIME, K_U64, OPT, zt_ctrl_ping, peer_time),
};

/* Inside a CANDIDATE value; zt_cand_check() validates the result. */
static const struct field cand_fields[] = {
	FV(ZT_CTRL_C_TYPE, K_U8, REQ, zt_cand, type),
	FV(ZT_CTRL_C_COMPONENT, K_U16, REQ, zt_cand, component),
	FV(ZT_CTRL_C_PRIORITY, K_U32, REQ, zt_cand, priority),
	FV(ZT_CTRL_C_FOUNDATION, K_STR, REQ, zt_cand, foundation, .max = ZT_CAND_FOUNDATION_MAX),
	FV(ZT_CTRL_C_ADDR, K_ADDR, REQ, zt_cand, addr),
	FV(ZT_CTRL_C_RELATED, K_ADDR, OPT, zt_cand, related),
	FV(ZT_CTRL_C_TRANSPORT, K_U8, OPT, zt_cand, transport, .hi = ZT_CAND_TCP_SO),
	FV(ZT_CTRL_C_PREDICTED, K_U8, OPT, zt_cand, predicted, .lo = 1, .hi = ZT_CAND_PREDICTED_MAX),
};

#define DEF(t, nm, f) [t] = { .name = (nm), .fields = (f), .n = sizeof(f) / sizeof((f)[0]) }

static const struct msgdef msgdefs[] = {
	DEF(ZT_CTRL_HELLO, "HELLO", hello_fields),
	DEF(ZT_CTRL_WELCOME, "WELCOME", welcome_fields),
	DEF(ZT_CTRL_REGISTER, "REGISTER", register_fields),
	DEF(ZT_CTRL_OPEN, "OPEN", open_fields),
	DEF(ZT_CTRL_SESSION, "SESSION", session_fields),
	DEF(ZT_CTRL_CLOSE, "CLOSE", close_fields),
	DEF(ZT_CTRL_OBSERVED_ADDRESS, "OBSERVED_ADDRESS", observed_fields),
	DEF(ZT_CTRL_CANDIDATES, "CANDIDATES", candidates_fields),
	DEF(ZT_CTRL_START_CHECKS, "START_CHECKS", start_fields),
	DEF(ZT_CTRL_PATH_REPORT, "PATH_REPORT", path_fields),
	DEF(ZT_CTRL_ERROR, "ERROR", error_fields),
	DEF(ZT_CTRL_PING, "PING", ping_fields),
	DEF(ZT_CTRL_PONG, "PONG", pong_fields),
	DEF(ZT_CTRL_ROUTES, "ROUTES", routes_fields),
};

#define N_MSGDEFS (sizeof(msgdefs) / sizeof(msgdefs[0]))

/* Field and value headers are 4 bytes; an IPv6 address value is 18. */
#define FIELD_HDR 4
#define CAND_VALUE_MAX (5 * FIELD_HDR + 1 + 2 + 4 + ZT_CAND_FOUNDATION_MAX + 18 + 18)
_Static_assert(ZT_CTRL_HDR_LEN + FIELD_HDR + 1 + 2 * (FIELD_HDR + ZT_CTRL_STR_MAX) +
		       FIELD_HDR + ZT_CTRL_TOKEN_MAX +
		       ZT_CTRL_SERVICES_MAX * (FIELD_HDR + ZT_CTRL_STR_MAX) +
		       ZT_CTRL_HELLO_ROUTES_MAX * (FIELD_HDR + ZT_CTRL_STR_MAX) <= ZT_CTRL_MSG_MAX,
	       "the largest HELLO fits in ZT_CTRL_MSG_MAX");
_Static_assert(ZT_CTRL_HDR_LEN + ZT_CTRL_ROUTES_MAX * (FIELD_HDR + ZT_CTRL_STR_MAX) <=
		       ZT_CTRL_MSG_MAX,
	       "the largest ROUTES fits in ZT_CTRL_MSG_MAX");
_Static_assert(ZT_CTRL_HDR_LEN + 3 * (FIELD_HDR + 8) + 2 * (FIELD_HDR + ZT_CTRL_STR_MAX) +
		       2 * (FIELD_HDR + 4) + FIELD_HDR +
		       ZT_CTRL_CANDS_MAX * (FIELD_HDR + CAND_VALUE_MAX + FIELD_HDR) <= ZT_CTRL_MSG_MAX,
	       "the largest CANDIDATES fits in ZT_CTRL_MSG_MAX");
/* Fields are tracked in a 32-bit set while decoding. */
_Static_assert(sizeof(path_fields) / sizeof(path_fields[0]) <= 32, "field set fits");

static const struct msgdef *find_msgdef(unsigned type)
{
	if (type >= N_MSGDEFS || !msgdefs[type].name)
		return NULL;
	return &msgdefs[type];
}

void zt_ctrl_msg_init(struct zt_ctrl_msg *msg, enum zt_ctrl_type type)
{
	memset(msg, 0, sizeof(*msg));
	msg->type = (uint8_t)type;
}

const char *zt_ctrl_type_name(unsigned type)
{
	const struct msgdef *d = find_msgdef(type);

	return d ? d->name : "?";
}

/* Encoding. Errors other than the writer's sticky -ENOBUFS are returned directly. */

static bool in_range(const struct field *f, uint64_t v)
{
	return f->hi == 0 || (v >= f->lo && v <= f->hi);
}

static size_t addr_ip_len(uint8_t family)
{
	return family == AF_INET ? 4 : family == AF_INET6 ? 16 : 0;
}

static void put_hdr(struct zt_wr *w, uint16_t type, size_t len)
{
	zt_wr_u16(w, type);
	zt_wr_u16(w, (uint16_t)len);
}

static int put_str(struct zt_wr *w, uint16_t type, const char *s, size_t max, bool always)
{
	size_t n = strnlen(s, max + 1);

	if (n > max)
		return -EINVAL;
	if (n || always) {
		put_hdr(w, type, n);
		zt_wr_bytes(w, s, n);
	}
	return 0;
}

static int encode_fields(struct zt_wr *w, const struct field *fs, size_t nf, const void *base);

static int put_cand(struct zt_wr *w, const struct zt_cand *c)
{
	size_t at;
	int rc;

	if (zt_cand_check(c) < 0)
		return -EINVAL;
	at = w->off;
	put_hdr(w, ZT_CTRL_F_CANDIDATE, 0);
	rc = encode_fields(w, cand_fields, sizeof(cand_fields) / sizeof(cand_fields[0]), c);
	if (rc < 0)
		return rc;
	zt_wr_patch_u16(w, at + 2, (uint16_t)(w->off - at - FIELD_HDR));
	return 0;
}

static int encode_field(struct zt_wr *w, const struct field *f, const void *base)
{
	const uint8_t *v = (const uint8_t *)base + f->off;
	uint64_t x = 0;
	size_t n, i;
	int rc;

	switch (f->kind) {
	case K_U8:
		x = *v;
		break;
	case K_U16:
		x = *(const uint16_t *)v;
		break;
	case K_U32:
		x = *(const uint32_t *)v;
		break;
	case K_U64:
		x = *(const uint64_t *)v;
		break;
	case K_FLAG:
		if (*(const bool *)v)
			put_hdr(w, f->type, 0);
		return 0;
	case K_STR:
		return put_str(w, f->type, (const char *)v, f->max, f->required);
	case K_BYTES:
		n = *(const uint16_t *)((const uint8_t *)base + f->cnt_off);
		if (n > f->max)
			return -EINVAL;
		if (n || f->required) {
			put_hdr(w, f->type, n);
			zt_wr_bytes(w, v, n);
		}
		return 0;
	case K_ADDR: {
		const struct zt_addr *a = (const struct zt_addr *)v;

		n = addr_ip_len(a->family);
		if (!n && (a->family || f->required))
			return -EINVAL;
		if (n) {
			put_hdr(w, f->type, 2 + n);
			zt_wr_u16(w, a->port);
			zt_wr_bytes(w, a->ip, n);
		}
		return 0;
	}
	case K_STRLIST:
		n = *((const uint8_t *)base + f->cnt_off);
		if (n > f->max)
			return -EINVAL;
		for (i = 0; i < n; i++) {
			rc = put_str(w, f->type, (const char *)v + i * (ZT_CTRL_STR_MAX + 1),
				     ZT_CTRL_STR_MAX, true);
			if (rc < 0)
				return rc;
		}
		return 0;
	case K_CANDLIST:
		n = *((const uint8_t *)base + f->cnt_off);
		if (n > f->max)
			return -EINVAL;
		for (i = 0; i < n; i++) {
			rc = put_cand(w, (const struct zt_cand *)v + i);
			if (rc < 0)
				return rc;
		}
		return 0;
	default:
		return -EINVAL;
	}

	/* Integers. */
	if (!in_range(f, x) && (x || f->required))
		return -EINVAL;
	if (!x && !f->required)
		return 0;
	switch (f->kind) {
	case K_U8:
		put_hdr(w, f->type, 1);
		zt_wr_u8(w, (uint8_t)x);
		break;
	case K_U16:
		put_hdr(w, f->type, 2);
		zt_wr_u16(w, (uint16_t)x);
		break;
	case K_U32:
		put_hdr(w, f->type, 4);
		zt_wr_u32(w, (uint32_t)x);
		break;
	default:
		put_hdr(w, f->type, 8);
		zt_wr_u64(w, x);
		break;
	}
	return 0;
}

static int encode_fields(struct zt_wr *w, const struct field *fs, size_t nf, const void *base)
{
	for (size_t i = 0; i < nf; i++) {
		int rc = encode_field(w, &fs[i], base);
		if (rc < 0)
			return rc;
	}
	return 0;
}

int zt_ctrl_encode(const struct zt_ctrl_msg *msg, uint8_t *buf, size_t cap)
{
	const struct msgdef *d = find_msgdef(msg->type);
	struct zt_wr w = zt_wr_init(buf, cap < ZT_CTRL_MSG_MAX ? cap : ZT_CTRL_MSG_MAX);
	int rc;

	if (!d)
		return -EINVAL;
	zt_wr_u8(&w, ZT_CTRL_VERSION);
	zt_wr_u8(&w, msg->type);
	zt_wr_u16(&w, 0);
	rc = encode_fields(&w, d->fields, d->n, &msg->u);
	if (rc < 0)
		return rc;
	zt_wr_patch_u16(&w, 2, (uint16_t)(w.off - ZT_CTRL_HDR_LEN));
	return zt_wr_finish(&w);
}

/* Decoding. */

static int decode_fields(const struct field *fs, size_t nf, void *base, const uint8_t *p,
			 size_t len);

static int get_str(char *dst, size_t max, const uint8_t *v, size_t n)
{
	if (n > max)
		return ZT_ECTRL_LIMIT;
	if (memchr(v, 0, n))
		return ZT_ECTRL_FIELD;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static int get_uint(const struct field *f, const uint8_t *v, size_t n, uint64_t *ret)
{
	static const uint8_t width[] = { [K_U8] = 1, [K_U16] = 2, [K_U32] = 4, [K_U64] = 8 };
	uint64_t x = 0;

	if (n != width[f->kind])
		return ZT_ECTRL_FIELD;
	for (size_t i = 0; i < n; i++)
		x = x << 8 | v[i];
	if (!in_range(f, x))
		return ZT_ERANGE;
	*ret = x;
	return 0;
}

static int decode_value(const struct field *f, void *base, const uint8_t *v, size_t n)
{
	uint8_t *dst = (uint8_t *)base + f->off;
	uint8_t *cnt = (uint8_t *)base + f->cnt_off;
	uint64_t x;
	int rc;

	switch (f->kind) {
	case K_U8:
	case K_U16:
	case K_U32:
	case K_U64:
		rc = get_uint(f, v, n, &x);
		if (rc < 0)
			return rc;
		if (f->kind == K_U8)
			*dst = (uint8_t)x;
		else if (f->kind == K_U16)
			*(uint16_t *)dst = (uint16_t)x;
		else if (f->kind == K_U32)
			*(uint32_t *)dst = (uint32_t)x;
		else
			*(uint64_t *)dst = x;
		return 0;
	case K_FLAG:
		if (n != 0)
			return ZT_ECTRL_FIELD;
		*(bool *)dst = true;
		return 0;
	case K_STR:
		return get_str((char *)dst, f->max, v, n);
	case K_BYTES:
		if (n > f->max)
			return ZT_ECTRL_LIMIT;
		memcpy(dst, v, n);
		*(uint16_t *)cnt = (uint16_t)n;
		return 0;
	case K_ADDR: {
		struct zt_addr *a = (struct zt_addr *)dst;

		if (n != 2 + 4 && n != 2 + 16)
			return ZT_ECTRL_FIELD;
		/* Field by field: *a is zeroed, padding included, and stays comparable. */
		memset(a, 0, sizeof(*a));
		a->family = n == 6 ? AF_INET : AF_INET6;
		a->port = (uint16_t)(v[0] << 8 | v[1]);
		memcpy(a->ip, v + 2, n - 2);
		zt_addr_unmap(a); /* ::ffff:a.b.c.d is a.b.c.d (core/addr.h) */
		return 0;
	}
	case K_STRLIST:
		if (*cnt >= f->max)
			return ZT_ECTRL_LIMIT;
		rc = get_str((char *)dst + *cnt * (ZT_CTRL_STR_MAX + 1), ZT_CTRL_STR_MAX, v, n);
		if (rc < 0)
			return rc;
		(*cnt)++;
		return 0;
	case K_CANDLIST: {
		struct zt_cand *c = (struct zt_cand *)dst + *cnt;

		if (*cnt >= f->max)
			return ZT_ECAND_LIMIT;
		rc = decode_fields(cand_fields, sizeof(cand_fields) / sizeof(cand_fields[0]), c,
				   v, n);
		if (rc < 0)
			return rc;
		rc = zt_cand_check(c);
		if (rc < 0)
			return rc;
		(*cnt)++;
		return 0;
	}
	default:
		return ZT_EMALFORMED;
	}
}

static int decode_fields(const struct field *fs, size_t nf, void *base, const uint8_t *p,
			 size_t len)
{
	struct zt_rd r = zt_rd_init(p, len);
	uint32_t seen = 0;
	int rc;

	while (zt_rd_left(&r) > 0) {
		const uint8_t *v;
		uint16_t type, n;
		size_t i = 0;

		if (zt_rd_u16(&r, &type) < 0 || zt_rd_u16(&r, &n) < 0 || zt_rd_ptr(&r, n, &v) < 0)
			return ZT_ETRUNC;
		while (i < nf && fs[i].type != type)
			i++;
		if (i == nf) {
			/* Unknown in this message: skip it unless it must be understood. */
			if (type & ZT_CTRL_MUST_UNDERSTAND)
				return ZT_ECTRL_UNKNOWN_FIELD;
			continue;
		}
		if (fs[i].kind != K_STRLIST && fs[i].kind != K_CANDLIST && (seen & 1u << i))
			return ZT_ECTRL_DUP;
		seen |= 1u << i;
		rc = decode_value(&fs[i], base, v, n);
		if (rc < 0)
			return rc;
	}
	for (size_t i = 0; i < nf; i++)
		if (fs[i].required && !(seen & 1u << i))
			return ZT_ECTRL_FIELD;
	return 0;
}

int zt_ctrl_frame_len(const uint8_t *buf, size_t len, uint8_t *ret_type)
{
	size_t total;

	if (len < ZT_CTRL_HDR_LEN)
		return ZT_ETRUNC;
	if (buf[0] != ZT_CTRL_VERSION)
		return ZT_ECTRL_VERSION;
	total = ZT_CTRL_HDR_LEN + ((size_t)buf[2] << 8 | buf[3]);
	if (total > ZT_CTRL_MSG_MAX)
		return ZT_ETOOBIG;
	if (ret_type)
		*ret_type = buf[1];
	return (int)total;
}

int zt_ctrl_decode(struct zt_ctrl_msg *msg, const uint8_t *buf, size_t len)
{
	const struct msgdef *d;
	uint8_t type = 0;
	int total;

	memset(msg, 0, sizeof(*msg));
	if (len == 0)
		return ZT_EZEROLEN;
	if (len >= ZT_CTRL_HDR_LEN)
		msg->type = type = buf[1];
	total = zt_ctrl_frame_len(buf, len, NULL);
	if (total < 0)
		return total;
	if ((size_t)total > len)
		return ZT_ETRUNC;
	if ((size_t)total < len)
		return ZT_EMALFORMED;
	d = find_msgdef(type);
	if (!d)
		return ZT_ECTRL_TYPE;
	return decode_fields(d->fields, d->n, &msg->u, buf + ZT_CTRL_HDR_LEN,
			     (size_t)total - ZT_CTRL_HDR_LEN);
}

void zt_ctrl_reader_init(struct zt_ctrl_reader *r)
{
	r->len = 0;
	r->poison = 0;
}

int zt_ctrl_reader_feed(struct zt_ctrl_reader *r, const uint8_t *data, size_t len)
{
	size_t n = sizeof(r->buf) - r->len;

	if (r->poison)
		return r->poison;
	if (n > len)
		n = len;
	if (n)
		memcpy(r->buf + r->len, data, n);
	r->len += n;
	return (int)n;
}

int zt_ctrl_reader_pop(struct zt_ctrl_reader *r, struct zt_ctrl_msg *msg)
{
	int total, rc;

	if (r->poison)
		return r->poison;
	total = zt_ctrl_frame_len(r->buf, r->len, NULL);
	if (total == ZT_ETRUNC)
		return 0;
	if (total < 0) {
		r->poison = total;
		return total;
	}
	if ((size_t)total > r->len)
		return 0;
	rc = zt_ctrl_decode(msg, r->buf, (size_t)total);
	r->len -= (size_t)total;
	memmove(r->buf, r->buf + total, r->len);
	return rc < 0 ? rc : 1;
}

bool zt_ctrl_reader_poisoned(const struct zt_ctrl_reader *r)
{
	return r->poison != 0;
}
