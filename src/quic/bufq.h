/*
 * A byte queue in fixed-size heap chunks whose bytes never move once written.
 *
 * That stability is what ngtcp2 needs from a stream's send buffer: it keeps pointers
 * to sent stream data until the peer acknowledges it, so the buffer may not be
 * reallocated under it. Appending fills the last chunk, then adds chunks; consuming
 * from the front frees chunks as they empty.
 */
#ifndef ZT_QUIC_BUFQ_H
#define ZT_QUIC_BUFQ_H

#include <stddef.h>
#include <stdint.h>

#include <ngtcp2/ngtcp2.h>

struct zt_bufq_chunk;

struct zt_bufq {
	struct zt_bufq_chunk *head, *tail;
	size_t head_off;   /* consumed bytes at the start of head */
	size_t len;        /* bytes queued */
	size_t chunk_size;
};

/* An empty queue whose chunks grow from 512 bytes (or what one append needs),
 * doubling, up to chunk_size bytes (0: 16 KiB). */
void zt_bufq_init(struct zt_bufq *q, size_t chunk_size);
/* Frees every chunk; the queue is empty and reusable afterwards. */
void zt_bufq_fini(struct zt_bufq *q);

/* Append all len bytes. Returns 0 or -ENOMEM (then nothing is appended). */
int zt_bufq_append(struct zt_bufq *q, const void *data, size_t len);

/*
 * Describe up to maxv contiguous pieces of the queued bytes starting skip bytes
 * from the front, without copying. Returns the number of vectors filled; their
 * lengths add up to at most the bytes queued after skip.
 */
size_t zt_bufq_peek(const struct zt_bufq *q, size_t skip, ngtcp2_vec *v, size_t maxv);

/* Drop n bytes (n <= len) from the front. */
void zt_bufq_consume(struct zt_bufq *q, size_t n);

/* Copy up to cap bytes from the front into buf and drop them; returns the count. */
size_t zt_bufq_read(struct zt_bufq *q, void *buf, size_t cap);

#endif
