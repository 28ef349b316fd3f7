/* The list macros (core/list.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/list.h"

struct rec {
	int v;
	struct rec *prev, *next;   /* one list */
	struct rec *qprev, *qnext; /* and a queue, at the same time */
};

static int walk(const struct rec *head, int *out, int cap)
{
	int n = 0;

	for (const struct rec *r = head; r && n < cap; r = r->next)
		out[n++] = r->v;
	return n;
}

static void list_push_and_unlink(void **state)
{
	struct rec r[4] = { { .v = 0 }, { .v = 1 }, { .v = 2 }, { .v = 3 } };
	struct rec *head = NULL;
	int out[8];
	(void)state;

	for (int i = 0; i < 4; i++)
		ZT_LIST_PUSH(head, &r[i], prev, next);
	assert_int_equal(walk(head, out, 8), 4);
	assert_int_equal(out[0], 3);
	assert_int_equal(out[3], 0);
	ZT_LIST_UNLINK(head, &r[2], prev, next); /* middle */
	ZT_LIST_UNLINK(head, &r[3], prev, next); /* head */
	ZT_LIST_UNLINK(head, &r[0], prev, next); /* last */
	assert_int_equal(walk(head, out, 8), 1);
	assert_int_equal(out[0], 1);
	assert_null(r[2].prev);
	assert_null(r[2].next);
	assert_null(head->prev);
	ZT_LIST_UNLINK(head, &r[1], prev, next);
	assert_null(head);
}

static void queue_append_and_unlink(void **state)
{
	struct rec r[3] = { { .v = 0 }, { .v = 1 }, { .v = 2 } };
	struct rec *head = NULL, *tail = NULL;
	(void)state;

	for (int i = 0; i < 3; i++)
		ZT_QUEUE_APPEND(head, tail, &r[i], qprev, qnext);
	assert_ptr_equal(head, &r[0]);
	assert_ptr_equal(tail, &r[2]);
	ZT_QUEUE_UNLINK(head, tail, &r[2], qprev, qnext);
	assert_ptr_equal(tail, &r[1]);
	assert_null(r[1].qnext);
	ZT_QUEUE_UNLINK(head, tail, &r[0], qprev, qnext);
	assert_ptr_equal(head, &r[1]);
	assert_ptr_equal(tail, &r[1]);
	ZT_QUEUE_UNLINK(head, tail, &r[1], qprev, qnext);
	assert_null(head);
	assert_null(tail);
	ZT_QUEUE_APPEND(head, tail, &r[2], qprev, qnext);
	assert_ptr_equal(head, &r[2]);
	assert_ptr_equal(tail, &r[2]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(list_push_and_unlink),
		cmocka_unit_test(queue_append_and_unlink),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
