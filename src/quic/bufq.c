#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "quic/bufq.h"

struct zt_bufq_chunk {
	struct zt_bufq_chunk *next;
	size_t used, cap;
	uint8_t data[];
};

#define MIN_CHUNK 512

/* A new chunk's size: what is left to append, at least MIN_CHUNK and twice the tail,
 * at most chunk_size. A control message costs a small block, not a 16 KiB one whose
 * first page stays resident after it is freed; a bulk writer reaches chunk_size after
 * a few chunks. */
static size_t next_cap(const struct zt_bufq *q, size_t prev, size_t rest)
{
	size_t cap = rest > MIN_CHUNK ? rest : MIN_CHUNK;

	if (cap < 2 * prev)
		cap = 2 * prev;
	return cap < q->chunk_size ? cap : q->chunk_size;
}

void zt_bufq_init(struct zt_bufq *q, size_t chunk_size)
{
	*q = (struct zt_bufq){ .chunk_size = chunk_size ? chunk_size : 16384 };
}

void zt_bufq_fini(struct zt_bufq *q)
{
	struct zt_bufq_chunk *c = q->head;

	while (c) {
		struct zt_bufq_chunk *next = c->next;
		free(c);
		c = next;
	}
	q->head = q->tail = NULL;
	q->head_off = 0;
	q->len = 0;
}

int zt_bufq_append(struct zt_bufq *q, const void *data, size_t len)
{
	const uint8_t *p = data;
	struct zt_bufq_chunk *first_new = NULL, *last_new = NULL;
	size_t room = q->tail ? q->tail->cap - q->tail->used : 0;
	size_t in_tail = len < room ? len : room, rest = len - in_tail;
	size_t prev = q->tail ? q->tail->cap : 0;

	/* Allocate what the tail cannot hold first, so failure appends nothing. */
	while (rest > 0) {
		size_t cap = next_cap(q, prev, rest);
		size_t n = rest < cap ? rest : cap;
		struct zt_bufq_chunk *c = malloc(sizeof(*c) + cap);
		if (!c) {
			while (first_new) {
				struct zt_bufq_chunk *next = first_new->next;
				free(first_new);
				first_new = next;
			}
			return -ENOMEM;
		}
		c->next = NULL;
		c->used = n;
		c->cap = cap;
		prev = cap;
		memcpy(c->data, p + in_tail + (len - in_tail - rest), n);
		if (last_new)
			last_new->next = c;
		else
			first_new = c;
		last_new = c;
		rest -= n;
	}
	if (in_tail) {
		memcpy(q->tail->data + q->tail->used, p, in_tail);
		q->tail->used += in_tail;
	}
	if (first_new) {
		if (q->tail)
			q->tail->next = first_new;
		else
			q->head = first_new;
		q->tail = last_new;
	}
	q->len += len;
	return 0;
}

size_t zt_bufq_peek(const struct zt_bufq *q, size_t skip, ngtcp2_vec *v, size_t maxv)
{
	struct zt_bufq_chunk *c = q->head;
	size_t off = q->head_off + skip, n = 0;

	if (skip >= q->len)
		return 0;
	while (c && off >= c->used) {
		off -= c->used;
		c = c->next;
	}
	for (; c && n < maxv; c = c->next, off = 0) {
		if (c->used == off)
			continue;
		v[n].base = c->data + off;
		v[n].len = c->used - off;
		n++;
	}
	return n;
}

void zt_bufq_consume(struct zt_bufq *q, size_t n)
{
	if (n > q->len)
		n = q->len;
	q->len -= n;
	while (n > 0) {
		struct zt_bufq_chunk *c = q->head;
		size_t avail = c->used - q->head_off;
		if (n < avail) {
			q->head_off += n;
			break;
		}
		n -= avail;
		q->head = c->next;
		q->head_off = 0;
		free(c);
	}
	/* A drained last chunk is freed too: an idle stream keeps no memory. */
	if (q->head && q->head_off == q->head->used && !q->head->next) {
		free(q->head);
		q->head = NULL;
		q->head_off = 0;
	}
	if (!q->head)
		q->tail = NULL;
}

size_t zt_bufq_read(struct zt_bufq *q, void *buf, size_t cap)
{
	uint8_t *out = buf;
	size_t done = 0;

	while (done < cap && q->len > 0) {
		struct zt_bufq_chunk *c = q->head;
		size_t avail = c->used - q->head_off, n = cap - done < avail ? cap - done : avail;
		memcpy(out + done, c->data + q->head_off, n);
		done += n;
		zt_bufq_consume(q, n);
	}
	return done;
}
