/* Records of the outer connection over TLS/TCP (outerrec.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/outerrec.h"

/* The largest body a known type allows (0: the type is not allowed at all). */
static size_t body_max(uint8_t type)
{
	switch (type) {
	case ZT_OREC_CTRL: return ZT_OREC_CTRL_MAX;
	case ZT_OREC_DGRAM: return ZT_OREC_DGRAM_MAX;
	case ZT_OREC_CLOSE: return 4 + ZT_OREC_REASON_MAX;
	case ZT_OREC_PING:
	case ZT_OREC_PONG: return ZT_OREC_PING_LEN;
	default: return type >= ZT_OREC_EXT_MIN ? 65535 : 0;
	}
}

static size_t body_min(uint8_t type)
{
	switch (type) {
	case ZT_OREC_CLOSE: return 4;
	case ZT_OREC_PING:
	case ZT_OREC_PONG: return ZT_OREC_PING_LEN;
	default: return type >= ZT_OREC_EXT_MIN ? 0 : 1;
	}
}

int zt_orec_write(uint8_t *buf, size_t cap, uint8_t type, const void *body, size_t len)
{
	if (!body_max(type) || len > body_max(type) || len < body_min(type))
		return -EINVAL;
	if (cap < ZT_OREC_HDR_LEN + len)
		return -ENOBUFS;
	buf[0] = type;
	buf[1] = (uint8_t)(len >> 8);
	buf[2] = (uint8_t)len;
	if (len)
		memcpy(buf + ZT_OREC_HDR_LEN, body, len);
	return (int)(ZT_OREC_HDR_LEN + len);
}

int zt_orec_write_close(uint8_t *buf, size_t cap, uint32_t code, const char *reason)
{
	uint8_t body[4 + ZT_OREC_REASON_MAX];
	size_t n = reason ? strnlen(reason, ZT_OREC_REASON_MAX) : 0;

	for (int i = 0; i < 4; i++)
		body[i] = (uint8_t)(code >> (24 - 8 * i));
	if (n)
		memcpy(body + 4, reason, n);
	return zt_orec_write(buf, cap, ZT_OREC_CLOSE, body, 4 + n);
}

int zt_orec_close_parse(const struct zt_orec *r, uint32_t *ret_code,
			char reason[ZT_OREC_REASON_MAX + 1])
{
	size_t n;

	if (r->type != ZT_OREC_CLOSE || r->len < 4 || r->len > 4 + ZT_OREC_REASON_MAX)
		return ZT_EMALFORMED;
	*ret_code = (uint32_t)r->body[0] << 24 | (uint32_t)r->body[1] << 16 |
		    (uint32_t)r->body[2] << 8 | r->body[3];
	n = r->len - 4;
	memcpy(reason, r->body + 4, n);
	reason[n] = '\0';
	return 0;
}

void zt_orec_reader_init(struct zt_orec_reader *r)
{
	r->len = r->off = r->skip = 0;
	r->poison = 0;
	r->buf = NULL;
}

/* Nothing held (or nothing more will be): the buffer goes. */
static void release(struct zt_orec_reader *r)
{
	free(r->buf);
	r->buf = NULL;
	r->len = r->off = 0;
}

void zt_orec_reader_fini(struct zt_orec_reader *r)
{
	release(r);
}

size_t zt_orec_reader_room(const struct zt_orec_reader *r)
{
	return ZT_OREC_MAX - (r->len - r->off);
}

int zt_orec_reader_feed(struct zt_orec_reader *r, const uint8_t *data, size_t len)
{
	size_t room, dropped = 0;

	if (r->poison)
		return r->poison;
	if (r->skip) {
		/* the rest of an extension's body: dropped, never held */
		dropped = len < r->skip ? len : r->skip;
		r->skip -= dropped;
		data += dropped;
		len -= dropped;
		if (r->skip)
			return (int)dropped;
	}
	if (!len)
		return (int)dropped;
	if (!r->buf && !(r->buf = malloc(ZT_OREC_MAX)))
		return dropped ? (int)dropped : -ENOMEM;
	if (r->off) {
		memmove(r->buf, r->buf + r->off, r->len - r->off);
		r->len -= r->off;
		r->off = 0;
	}
	room = ZT_OREC_MAX - r->len;
	if (len > room)
		len = room;
	memcpy(r->buf + r->len, data, len);
	r->len += len;
	return (int)(len + dropped);
}

int zt_orec_reader_pop(struct zt_orec_reader *r, struct zt_orec *ret)
{
	for (;;) {
		size_t have = r->len - r->off, len;
		const uint8_t *p;
		uint8_t type;

		if (r->poison)
			return r->poison;
		if (have < ZT_OREC_HDR_LEN) {
			if (!have)
				release(r); /* the record popped before ends its validity here */
			return 0;
		}
		p = r->buf + r->off;
		type = p[0];
		len = (size_t)p[1] << 8 | p[2];
		if (!body_max(type) || len > body_max(type) || len < body_min(type)) {
			r->poison = ZT_EMALFORMED;
			release(r);
			return r->poison;
		}
		if (type >= ZT_OREC_EXT_MIN) {
			/* skipped: what is here now, the rest as feed brings it (then nothing
			 * is left here: the next round releases the buffer) */
			size_t here = have - ZT_OREC_HDR_LEN < len ? have - ZT_OREC_HDR_LEN : len;
			r->off += ZT_OREC_HDR_LEN + here;
			if (r->off == r->len)
				r->off = r->len = 0;
			r->skip = len - here;
			continue;
		}
		if (have < ZT_OREC_HDR_LEN + len)
			return 0;
		r->off += ZT_OREC_HDR_LEN + len;
		if (r->off == r->len)
			r->off = r->len = 0; /* the body stays until the next feed or pop */
		*ret = (struct zt_orec){ .type = type, .body = p + ZT_OREC_HDR_LEN, .len = len };
		return 1;
	}
}
