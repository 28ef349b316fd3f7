#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "quic/bufq.h"

static void append_peek_consume(void **state)
{
	struct zt_bufq q;
	uint8_t data[100], out[100];
	ngtcp2_vec v[8];
	size_t n, total = 0;
	const uint8_t *first;

	(void)state;
	for (int i = 0; i < 100; i++)
		data[i] = (uint8_t)i;
	zt_bufq_init(&q, 16);
	assert_int_equal(zt_bufq_append(&q, data, 10), 0);
	assert_int_equal(zt_bufq_append(&q, data + 10, 40), 0);
	assert_int_equal(q.len, 50);
	/* 16-byte chunks: 50 bytes in four pieces; skipping 20 starts mid-chunk. */
	n = zt_bufq_peek(&q, 0, v, 8);
	assert_int_equal(n, 4);
	for (size_t i = 0; i < n; i++)
		total += v[i].len;
	assert_int_equal(total, 50);
	n = zt_bufq_peek(&q, 20, v, 8);
	assert_int_equal(v[0].len, 12);
	assert_int_equal(v[0].base[0], 20);
	assert_int_equal(zt_bufq_peek(&q, 50, v, 8), 0);
	assert_int_equal(zt_bufq_peek(&q, 0, v, 2), 2);

	/* Bytes do not move when more is appended (ngtcp2 keeps pointers). */
	zt_bufq_peek(&q, 0, v, 1);
	first = v[0].base;
	assert_int_equal(zt_bufq_append(&q, data + 50, 50), 0);
	zt_bufq_peek(&q, 0, v, 1);
	assert_ptr_equal(v[0].base, first);

	zt_bufq_consume(&q, 17);
	assert_int_equal(q.len, 83);
	assert_int_equal(zt_bufq_read(&q, out, 100), 83);
	for (int i = 0; i < 83; i++)
		assert_int_equal(out[i], 17 + i);
	assert_int_equal(q.len, 0);
	assert_null(q.head); /* empty queue holds no memory */
	assert_int_equal(zt_bufq_read(&q, out, 10), 0);
	zt_bufq_fini(&q);
}

static void consume_everything(void **state)
{
	struct zt_bufq q;
	uint8_t data[64] = { 1 };

	(void)state;
	zt_bufq_init(&q, 8);
	assert_int_equal(zt_bufq_append(&q, data, 64), 0);
	zt_bufq_consume(&q, 1000); /* more than queued: everything */
	assert_int_equal(q.len, 0);
	assert_null(q.head);
	assert_null(q.tail);
	assert_int_equal(zt_bufq_append(&q, data, 3), 0);
	assert_int_equal(q.len, 3);
	zt_bufq_fini(&q);
	assert_int_equal(q.len, 0);
}

/* Chunks start small and double up to chunk_size: a short control message takes a
 * 512-byte block, not a 16 KiB one; a bulk writer's chunks soon reach full size. */
static void chunks_grow(void **state)
{
	static uint8_t data[1024];
	struct zt_bufq q;
	ngtcp2_vec v[16];
	size_t n, total = 0;

	(void)state;
	zt_bufq_init(&q, 0);
	assert_int_equal(zt_bufq_append(&q, data, 100), 0);
	assert_int_equal(zt_bufq_append(&q, data, 500), 0);
	n = zt_bufq_peek(&q, 0, v, 16);
	assert_int_equal(n, 2);
	assert_int_equal(v[0].len, 512);
	assert_int_equal(v[1].len, 88);
	zt_bufq_consume(&q, 600);
	assert_null(q.head);
	/* 64 KiB in 1 KiB writes: chunks of 1, 2, 4, 8, then 16 KiB. */
	for (int i = 0; i < 64; i++)
		assert_int_equal(zt_bufq_append(&q, data, sizeof(data)), 0);
	n = zt_bufq_peek(&q, 0, v, 16);
	assert_int_equal(n, 8);
	assert_int_equal(v[0].len, 1024);
	for (size_t i = 0; i < n; i++) {
		assert_true(v[i].len <= 16384);
		total += v[i].len;
	}
	assert_int_equal(total, 65536);
	assert_int_equal(v[4].len, 16384);
	/* One large append fills whole chunks at once. */
	zt_bufq_fini(&q);
	assert_int_equal(zt_bufq_append(&q, data, 1000), 0);
	assert_int_equal(zt_bufq_peek(&q, 0, v, 16), 1);
	zt_bufq_fini(&q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(append_peek_consume),
		cmocka_unit_test(consume_everything),
		cmocka_unit_test(chunks_grow),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
