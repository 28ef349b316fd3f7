#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/rng.h"
#include "core/timerheap.h"

struct owner {
	int id;
	struct zt_timerheap_entry t;
};

#define OWNER(e) ((struct owner *)((char *)(e) - offsetof(struct owner, t)))

static void empty_heap(void **state)
{
	struct zt_timerheap h;
	struct owner a = { .id = 1 };

	(void)state;
	zt_timerheap_init(&h);
	zt_timerheap_entry_init(&a.t);
	assert_null(zt_timerheap_top(&h));
	assert_true(zt_timerheap_next(&h) == UINT64_MAX);
	assert_false(zt_timerheap_contains(&a.t));
	zt_timerheap_remove(&h, &a.t); /* not in: nothing happens */
	assert_int_equal(zt_timerheap_set(&h, &a.t, UINT64_MAX), 0);
	assert_int_equal(h.n, 0);
	zt_timerheap_fini(&h);
}

static void earliest_first_and_moves(void **state)
{
	struct zt_timerheap h;
	struct owner o[4] = { { .id = 0 }, { .id = 1 }, { .id = 2 }, { .id = 3 } };
	const uint64_t at[4] = { 300, 100, 400, 200 };

	(void)state;
	zt_timerheap_init(&h);
	for (int i = 0; i < 4; i++) {
		zt_timerheap_entry_init(&o[i].t);
		assert_int_equal(zt_timerheap_set(&h, &o[i].t, at[i]), 0);
	}
	assert_int_equal(OWNER(zt_timerheap_top(&h))->id, 1);
	assert_int_equal(zt_timerheap_next(&h), 100);
	/* later: 1 moves behind 3 */
	zt_timerheap_set(&h, &o[1].t, 250);
	assert_int_equal(OWNER(zt_timerheap_top(&h))->id, 3);
	/* earlier: 2 jumps to the front */
	zt_timerheap_set(&h, &o[2].t, 50);
	assert_int_equal(OWNER(zt_timerheap_top(&h))->id, 2);
	/* never removes */
	zt_timerheap_set(&h, &o[2].t, UINT64_MAX);
	assert_false(zt_timerheap_contains(&o[2].t));
	assert_int_equal(h.n, 3);
	assert_int_equal(zt_timerheap_next(&h), 200);
	zt_timerheap_remove(&h, &o[3].t);
	assert_int_equal(zt_timerheap_next(&h), 250);
	zt_timerheap_remove(&h, &o[3].t); /* twice: nothing */
	assert_int_equal(h.n, 2);
	zt_timerheap_fini(&h);
	assert_false(zt_timerheap_contains(&o[0].t)); /* fini lets go of the entries */
}

static void reserve_holds(void **state)
{
	struct zt_timerheap h;
	struct owner o[100];

	(void)state;
	zt_timerheap_init(&h);
	assert_int_equal(zt_timerheap_reserve(&h, 100), 0);
	assert_true(h.cap >= 100);
	for (int i = 0; i < 100; i++) {
		struct zt_timerheap_entry **before = h.v;
		zt_timerheap_entry_init(&o[i].t);
		assert_int_equal(zt_timerheap_set(&h, &o[i].t, (uint64_t)(1000 - i)), 0);
		assert_ptr_equal(h.v, before); /* no reallocation within the reservation */
	}
	assert_int_equal(zt_timerheap_next(&h), 901);
	zt_timerheap_fini(&h);
}

/* Random sets, moves and removals against a brute-force model. */
static void matches_brute_force(void **state)
{
	enum { N = 300, OPS = 20000 };
	struct zt_prng p;
	struct zt_rng rng = zt_prng_rng(&p);
	struct zt_timerheap h;
	static struct owner o[N];
	static uint64_t model[N];

	(void)state;
	zt_prng_seed(&p, 7);
	zt_timerheap_init(&h);
	for (int i = 0; i < N; i++) {
		o[i].id = i;
		zt_timerheap_entry_init(&o[i].t);
		model[i] = UINT64_MAX;
	}
	for (int op = 0; op < OPS; op++) {
		int i = (int)zt_rng_below(&rng, N);
		uint32_t r = zt_rng_below(&rng, 10);
		uint64_t min = UINT64_MAX;
		size_t in = 0;

		if (r == 0) {
			zt_timerheap_remove(&h, &o[i].t);
			model[i] = UINT64_MAX;
		} else if (r == 1) {
			zt_timerheap_set(&h, &o[i].t, UINT64_MAX);
			model[i] = UINT64_MAX;
		} else if (r == 2 && zt_timerheap_top(&h)) {
			/* pop the earliest, as a timeout handler does */
			struct owner *t = OWNER(zt_timerheap_top(&h));
			zt_timerheap_remove(&h, &t->t);
			model[t->id] = UINT64_MAX;
		} else {
			/* few distinct values: many ties */
			uint64_t at = zt_rng_below(&rng, 500);
			assert_int_equal(zt_timerheap_set(&h, &o[i].t, at), 0);
			model[i] = at;
		}
		for (int k = 0; k < N; k++) {
			if (model[k] < min)
				min = model[k];
			if (model[k] != UINT64_MAX) {
				in++;
				assert_true(zt_timerheap_contains(&o[k].t));
				assert_ptr_equal(h.v[o[k].t.idx], &o[k].t);
			} else {
				assert_false(zt_timerheap_contains(&o[k].t));
			}
		}
		assert_int_equal(h.n, in);
		assert_true(zt_timerheap_next(&h) == min);
		/* heap order holds everywhere */
		for (size_t k = 1; k < h.n; k++)
			assert_true(h.v[(k - 1) / 2]->at <= h.v[k]->at);
	}
	zt_timerheap_fini(&h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(empty_heap),
		cmocka_unit_test(earliest_first_and_moves),
		cmocka_unit_test(reserve_holds),
		cmocka_unit_test(matches_brute_force),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
