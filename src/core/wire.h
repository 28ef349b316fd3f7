/*
 * Bounded big-endian readers and writers for wire formats.
 *
 * A reader never reads past its buffer: each get returns ZT_ETRUNC when fewer bytes
 * remain than asked for, and leaves the position unchanged. A writer has a sticky
 * error: once a put would overflow, every later put is ignored and zt_wr_finish()
 * returns -ENOBUFS, so encoders check once at the end.
 */
#ifndef ZT_CORE_WIRE_H
#define ZT_CORE_WIRE_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/err.h"

struct zt_rd {
	const uint8_t *p;
	size_t len;
	size_t off;
};

static inline struct zt_rd zt_rd_init(const uint8_t *p, size_t len)
{
	return (struct zt_rd){ .p = p, .len = len, .off = 0 };
}

static inline size_t zt_rd_left(const struct zt_rd *r)
{
	return r->len - r->off;
}

static inline int zt_rd_u8(struct zt_rd *r, uint8_t *ret)
{
	if (zt_rd_left(r) < 1)
		return ZT_ETRUNC;
	*ret = r->p[r->off++];
	return 0;
}

static inline int zt_rd_u16(struct zt_rd *r, uint16_t *ret)
{
	if (zt_rd_left(r) < 2)
		return ZT_ETRUNC;
	*ret = (uint16_t)(r->p[r->off] << 8 | r->p[r->off + 1]);
	r->off += 2;
	return 0;
}

static inline int zt_rd_u32(struct zt_rd *r, uint32_t *ret)
{
	if (zt_rd_left(r) < 4)
		return ZT_ETRUNC;
	*ret = (uint32_t)r->p[r->off] << 24 | (uint32_t)r->p[r->off + 1] << 16 |
	       (uint32_t)r->p[r->off + 2] << 8 | r->p[r->off + 3];
	r->off += 4;
	return 0;
}

static inline int zt_rd_u64(struct zt_rd *r, uint64_t *ret)
{
	uint32_t hi, lo;

	if (zt_rd_left(r) < 8)
		return ZT_ETRUNC;
	zt_rd_u32(r, &hi);
	zt_rd_u32(r, &lo);
	*ret = (uint64_t)hi << 32 | lo;
	return 0;
}

/* Points *ret at the next n bytes (no copy). */
static inline int zt_rd_ptr(struct zt_rd *r, size_t n, const uint8_t **ret)
{
	if (zt_rd_left(r) < n)
		return ZT_ETRUNC;
	*ret = r->p + r->off;
	r->off += n;
	return 0;
}

static inline int zt_rd_copy(struct zt_rd *r, void *dst, size_t n)
{
	if (zt_rd_left(r) < n)
		return ZT_ETRUNC;
	memcpy(dst, r->p + r->off, n);
	r->off += n;
	return 0;
}

static inline int zt_rd_skip(struct zt_rd *r, size_t n)
{
	if (zt_rd_left(r) < n)
		return ZT_ETRUNC;
	r->off += n;
	return 0;
}

struct zt_wr {
	uint8_t *p;
	size_t cap;
	size_t off;
	int err;
};

static inline struct zt_wr zt_wr_init(uint8_t *p, size_t cap)
{
	return (struct zt_wr){ .p = p, .cap = cap, .off = 0, .err = 0 };
}

/* Reserves n bytes and returns a pointer to them, or NULL (and sets the error). */
static inline uint8_t *zt_wr_reserve(struct zt_wr *w, size_t n)
{
	uint8_t *at;

	if (w->err || w->cap - w->off < n) {
		w->err = -ENOBUFS;
		return NULL;
	}
	at = w->p + w->off;
	w->off += n;
	return at;
}

static inline void zt_wr_u8(struct zt_wr *w, uint8_t v)
{
	uint8_t *at = zt_wr_reserve(w, 1);
	if (at)
		at[0] = v;
}

static inline void zt_wr_u16(struct zt_wr *w, uint16_t v)
{
	uint8_t *at = zt_wr_reserve(w, 2);
	if (at) {
		at[0] = (uint8_t)(v >> 8);
		at[1] = (uint8_t)v;
	}
}

static inline void zt_wr_u32(struct zt_wr *w, uint32_t v)
{
	uint8_t *at = zt_wr_reserve(w, 4);
	if (at) {
		at[0] = (uint8_t)(v >> 24);
		at[1] = (uint8_t)(v >> 16);
		at[2] = (uint8_t)(v >> 8);
		at[3] = (uint8_t)v;
	}
}

static inline void zt_wr_u64(struct zt_wr *w, uint64_t v)
{
	zt_wr_u32(w, (uint32_t)(v >> 32));
	zt_wr_u32(w, (uint32_t)v);
}

static inline void zt_wr_bytes(struct zt_wr *w, const void *src, size_t n)
{
	uint8_t *at = zt_wr_reserve(w, n);
	if (at && n)
		memcpy(at, src, n);
}

static inline void zt_wr_zeros(struct zt_wr *w, size_t n)
{
	uint8_t *at = zt_wr_reserve(w, n);
	if (at && n)
		memset(at, 0, n);
}

/* Patch a big-endian u16 at an earlier offset (for length fields). */
static inline void zt_wr_patch_u16(struct zt_wr *w, size_t at, uint16_t v)
{
	if (!w->err && at + 2 <= w->off) {
		w->p[at] = (uint8_t)(v >> 8);
		w->p[at + 1] = (uint8_t)v;
	}
}

/* Returns the number of bytes written, or -ENOBUFS if anything did not fit. */
static inline int zt_wr_finish(const struct zt_wr *w)
{
	return w->err ? w->err : (int)w->off;
}

#endif
