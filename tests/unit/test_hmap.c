/* The intrusive hash table (core/hmap.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>

#include "core/hmap.h"

struct rec {
	struct zt_hnode node;
	uint64_t key;
	int value;
};

static bool same_key(const struct zt_hnode *n, const void *key)
{
	return zt_hmap_entry(n, struct rec, node)->key == *(const uint64_t *)key;
}

/* Every key hashes to its own value, except that the test can force collisions. */
static uint64_t hash_of(uint64_t key, bool collide)
{
	return collide ? 7 : key;
}

static struct rec *find(struct zt_hmap *m, uint64_t key, bool collide)
{
	struct zt_hnode **p = zt_hmap_slot(m, hash_of(key, collide), same_key, &key);

	return *p ? zt_hmap_entry(*p, struct rec, node) : NULL;
}

static void add(struct zt_hmap *m, struct rec *r, bool collide)
{
	struct zt_hnode **p = zt_hmap_slot(m, hash_of(r->key, collide), same_key, &r->key);

	assert_null(*p);
	zt_hmap_link(m, p, &r->node, hash_of(r->key, collide));
}

static size_t longest_chain(const struct zt_hmap *m)
{
	size_t best = 0;

	for (size_t i = 0; i < (size_t)1 << m->shift; i++) {
		size_t n = 0;
		for (const struct zt_hnode *x = m->b[i]; x; x = x->next)
			n++;
		if (n > best)
			best = n;
	}
	return best;
}

/* Sequential keys (stream ids 0, 4, 8, ...): all found, the table grown to keep up,
 * no long chain. */
static void sequential_keys_spread(void **state)
{
	enum { N = 20000 };
	struct rec *r = calloc(N, sizeof(*r));
	struct zt_hmap m;
	(void)state;

	assert_non_null(r);
	assert_int_equal(zt_hmap_init(&m, 4), 0);
	for (int i = 0; i < N; i++) {
		r[i] = (struct rec){ .key = (uint64_t)i * 4, .value = i };
		add(&m, &r[i], false);
	}
	assert_int_equal(m.n, N);
	assert_true((size_t)1 << m.shift >= N);
	assert_true(longest_chain(&m) <= 8);
	for (int i = 0; i < N; i++)
		assert_int_equal(find(&m, (uint64_t)i * 4, false)->value, i);
	assert_null(find(&m, 2, false));
	zt_hmap_fini(&m);
	free(r);
}

/* Records with one hash are told apart by match; unlink and remove take the right
 * one out. */
static void collisions_and_removal(void **state)
{
	struct rec r[5];
	struct zt_hmap m;
	struct zt_hnode **p;
	uint64_t k = 3;
	(void)state;

	assert_int_equal(zt_hmap_init(&m, 2), 0);
	for (int i = 0; i < 5; i++) {
		r[i] = (struct rec){ .key = (uint64_t)i, .value = 10 + i };
		add(&m, &r[i], true);
	}
	for (int i = 0; i < 5; i++)
		assert_int_equal(find(&m, (uint64_t)i, true)->value, 10 + i);
	p = zt_hmap_slot(&m, 7, same_key, &k);
	assert_ptr_equal(zt_hmap_unlink(&m, p), &r[3].node);
	assert_null(find(&m, 3, true));
	zt_hmap_remove(&m, &r[0].node);
	assert_null(find(&m, 0, true));
	assert_int_equal(m.n, 3);
	assert_non_null(*zt_hmap_slot(&m, 7, NULL, NULL)); /* any record with the hash */
	assert_int_equal(find(&m, 4, true)->value, 14);
	zt_hmap_fini(&m);
}

static bool odd(const struct zt_hnode *n, const void *arg)
{
	(void)arg;
	return zt_hmap_entry(n, struct rec, node)->key % 2 == 1;
}

static void count_done(struct zt_hnode *n, void *arg)
{
	(void)n;
	(*(int *)arg)++;
}

static void take_if_hands_back(void **state)
{
	struct rec r[100];
	struct zt_hmap m;
	int done = 0;
	(void)state;

	assert_int_equal(zt_hmap_init(&m, 3), 0);
	for (int i = 0; i < 100; i++) {
		r[i] = (struct rec){ .key = (uint64_t)i * 7919 };
		add(&m, &r[i], false);
	}
	assert_int_equal(zt_hmap_take_if(&m, odd, NULL, count_done, &done), 50);
	assert_int_equal(done, 50);
	assert_int_equal(m.n, 50);
	for (int i = 0; i < 100; i++)
		assert_true((find(&m, (uint64_t)i * 7919, false) != NULL) == (i % 2 == 0));
	assert_int_equal(zt_hmap_take_if(&m, NULL, NULL, NULL, NULL), 50);
	assert_int_equal(m.n, 0);
	zt_hmap_fini(&m);
	assert_int_equal(zt_hmap_init(&m, 0), -EINVAL);
}

struct walk_acc {
	uint64_t sum;
	size_t stop_after; /* 0: never stop */
	size_t seen;
};

static bool walk_sum(const struct zt_hnode *n, void *arg)
{
	struct walk_acc *a = arg;

	a->sum += zt_hmap_entry(n, struct rec, node)->key;
	return !a->stop_after || ++a->seen < a->stop_after;
}

/* walk: every record once (colliding ones too), stops when told, an empty table none. */
static void walk_sees_every_record(void **state)
{
	struct rec r[40];
	struct zt_hmap m;
	struct walk_acc a = { 0 };
	uint64_t want = 0;
	(void)state;

	assert_int_equal(zt_hmap_init(&m, 2), 0);
	assert_int_equal(zt_hmap_walk(&m, walk_sum, &a), 0);
	for (int i = 0; i < 40; i++) {
		r[i] = (struct rec){ .key = (uint64_t)i + 1 };
		add(&m, &r[i], i % 4 == 0);
		want += (uint64_t)i + 1;
	}
	assert_int_equal(zt_hmap_walk(&m, walk_sum, &a), 40);
	assert_int_equal(a.sum, want);
	a = (struct walk_acc){ .stop_after = 5 };
	assert_int_equal(zt_hmap_walk(&m, walk_sum, &a), 5);
	zt_hmap_fini(&m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sequential_keys_spread),
		cmocka_unit_test(collisions_and_removal),
		cmocka_unit_test(take_if_hands_back),
		cmocka_unit_test(walk_sees_every_record),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
