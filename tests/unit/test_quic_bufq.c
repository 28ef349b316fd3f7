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

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(append_peek_consume),
		cmocka_unit_test(consume_everything),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
