#include <errno.h>

#include "core/err.h"
#include "core/wire.h"
#include "node/relay.h"

int zt_relay_hdr_write(uint8_t *buf, size_t cap, uint32_t session)
{
	struct zt_wr w = zt_wr_init(buf, cap);

	if (session == 0)
		return -EINVAL;
	zt_wr_u32(&w, session);
	return zt_wr_finish(&w);
}

int zt_relay_hdr_read(const uint8_t *buf, size_t len, uint32_t *ret_session)
{
	struct zt_rd r = zt_rd_init(buf, len);
	uint32_t s;

	if (zt_rd_u32(&r, &s) < 0 || zt_rd_left(&r) == 0)
		return ZT_ETRUNC;
	if (s == 0)
		return ZT_EMALFORMED;
	*ret_session = s;
	return ZT_RELAY_HDR_LEN;
}

int zt_relay_chan_write(uint8_t *buf, size_t cap, uint32_t session)
{
	struct zt_wr w = zt_wr_init(buf, cap);

	if (session == 0)
		return -EINVAL;
	zt_wr_u8(&w, ZT_RELAY_CHAN_MARKER);
	zt_wr_u32(&w, session);
	return zt_wr_finish(&w);
}

int zt_relay_chan_read(const uint8_t *buf, size_t len, uint32_t *ret_session)
{
	uint32_t s;
	int n;

	if (len == 0 || buf[0] != ZT_RELAY_CHAN_MARKER)
		return ZT_EMALFORMED;
	if (len > ZT_RELAY_CHAN_MAX)
		return ZT_ETOOBIG;
	n = zt_relay_hdr_read(buf + 1, len - 1, &s);
	if (n < 0)
		return n;
	*ret_session = s;
	return ZT_RELAY_CHAN_HDR_LEN;
}

bool zt_relay_is_relay_path(const struct zt_addr *local)
{
	return zt_quic_is_relay_addr(local) && local->port == ZT_RELAY_PATH_ID;
}

bool zt_relay_is_tcp_path(const struct zt_addr *local)
{
	return zt_quic_is_relay_addr(local) && local->port == ZT_TCP_PATH_ID;
}
