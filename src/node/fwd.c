#include <errno.h>
#include <string.h>

#include "core/err.h"
#include "core/wire.h"
#include "node/fwd.h"

const char *zt_fwd_code_name(uint64_t code)
{
	switch (code) {
	case ZT_FWD_ABORT: return "abort";
	case ZT_FWD_TCP_RESET: return "tcp-reset";
	case ZT_FWD_REFUSED: return "refused";
	case ZT_FWD_BAD_HEADER: return "bad-header";
	case ZT_FWD_SESSION_GONE: return "session-gone";
	case ZT_FWD_LIMIT: return "limit";
	default: return "?";
	}
}

int zt_fwd_hdr_write(uint8_t *buf, size_t cap, const struct zt_fwd_hdr *h)
{
	size_t n = strnlen(h->name, sizeof(h->name));
	struct zt_wr w = zt_wr_init(buf, cap);

	if (h->proto != ZT_FWD_PROTO_TCP || n == 0 || n > ZT_FWD_NAME_MAX)
		return -EINVAL;
	zt_wr_u8(&w, ZT_FWD_VERSION);
	zt_wr_u8(&w, h->proto);
	zt_wr_u8(&w, (uint8_t)n);
	zt_wr_bytes(&w, h->name, n);
	return zt_wr_finish(&w);
}

size_t zt_fwd_hdr_want(const uint8_t *buf, size_t len)
{
	return len < 3 ? 3 : 3 + (size_t)buf[2];
}

int zt_fwd_hdr_read(const uint8_t *buf, size_t len, struct zt_fwd_hdr *ret)
{
	struct zt_rd r = zt_rd_init(buf, len);
	uint8_t ver, proto, n;
	const uint8_t *name;

	if (zt_rd_u8(&r, &ver) < 0 || zt_rd_u8(&r, &proto) < 0 || zt_rd_u8(&r, &n) < 0)
		return ZT_ETRUNC;
	if (ver != ZT_FWD_VERSION || proto != ZT_FWD_PROTO_TCP || n == 0)
		return ZT_EMALFORMED;
	if (zt_rd_ptr(&r, n, &name) < 0)
		return ZT_ETRUNC;
	if (memchr(name, '\0', n))
		return ZT_ESYNTAX;
	ret->proto = proto;
	memcpy(ret->name, name, n);
	ret->name[n] = '\0';
	return (int)r.off;
}

int zt_fwd_flow_write(uint8_t *buf, size_t cap, uint32_t flow)
{
	struct zt_wr w = zt_wr_init(buf, cap);

	if (flow == 0)
		return -EINVAL;
	zt_wr_u32(&w, flow);
	return zt_wr_finish(&w);
}

int zt_fwd_flow_read(const uint8_t *buf, size_t len, uint32_t *ret_flow)
{
	struct zt_rd r = zt_rd_init(buf, len);
	uint32_t f;

	if (zt_rd_u32(&r, &f) < 0)
		return ZT_ETRUNC;
	if (f == 0)
		return ZT_EMALFORMED;
	*ret_flow = f;
	return ZT_FWD_FLOW_HDR_LEN;
}
