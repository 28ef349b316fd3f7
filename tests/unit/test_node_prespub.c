/*
 * node/prespub.h: the publisher puts a signed record for a new client, again when it
 * moves or its refresh is due, deletes it when gone, republishes when nudged (at most
 * once a second), and what it puts reads back in a presence table (node/prestab.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/presrec.h"
#include "node/prespub.h"
#include "node/prestab.h"

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";
#define NOW 1800000000000ULL
#define LOGIN (NOW - 5000) /* the clients' logins (wall ms) */

struct sink {
	struct zt_prestab *tab;
	uint64_t now;
	int puts, dels;
	bool full;           /* the queue behind emit is full */
	int stale;           /* puts the table ignored as older (not allowed unless counted) */
	bool allow_stale;
	char last_key[ZT_PRESREC_KEY_MAX + 1];
};

static int emit(void *arg, const char *key, const uint8_t *val, size_t len)
{
	struct sink *s = arg;
	int rc;

	if (s->full)
		return -ENOBUFS;

	snprintf(s->last_key, sizeof(s->last_key), "%s", key);
	if (val)
		s->puts++;
	else
		s->dels++;
	rc = zt_prestab_apply(s->tab, s->now, key, val, len);
	if (rc == 1 && s->allow_stale)
		s->stale++;
	else
		assert_int_equal(rc, 0);
	return 0;
}

static struct zt_prespub *publisher(struct sink *s)
{
	struct zt_prespub_config c = {
		.self = "imd-a", .key = KEY, .key_len = sizeof(KEY), .seed = 9, .emit = emit, .arg = s,
	};
	struct zt_prespub *p = NULL;

	*s = (struct sink){ .now = NOW };
	assert_int_equal(zt_prestab_new(&s->tab, 100, KEY, sizeof(KEY), 1), 0);
	assert_int_equal(zt_prespub_new(&p, &c), 0);
	return p;
}

static const struct zt_addr A1 = { .family = AF_INET, .port = 7000, .ip = { 192, 0, 2, 1 } };
static const struct zt_addr A2 = { .family = AF_INET, .port = 7001, .ip = { 192, 0, 2, 1 } };

static int pass(struct zt_prespub *p, struct sink *s, uint64_t now, const struct zt_addr *c1)
{
	int rc = 0;

	s->now = now;
	zt_prespub_begin(p);
	if (c1)
		rc = zt_prespub_see(p, now, ZT_PRESREC_CONNECTOR, "c1", c1, LOGIN, 0);
	zt_prespub_end(p);
	return rc;
}

static void put_refresh_move_delete(void **state)
{
	struct sink s;
	struct zt_prespub *p = publisher(&s);
	struct zt_prespub_stats st;
	struct zt_presrec got;
	uint64_t seq1;
	(void)state;

	assert_int_equal(pass(p, &s, NOW, &A1), 1);
	assert_string_equal(s.last_key, "connector.c1");
	assert_int_equal(zt_prestab_find(s.tab, NOW, ZT_PRESREC_CONNECTOR, "c1", &got), 0);
	assert_string_equal(got.imd, "imd-a");
	assert_int_equal(got.naddrs, 1);
	assert_true(zt_addr_equal(&got.addrs[0], &A1));
	assert_int_equal(got.expires_ms, NOW + 30000);
	seq1 = got.seq;
	/* Nothing due for 10 s. */
	assert_int_equal(pass(p, &s, NOW + 9999, &A1), 0);
	assert_int_equal(s.puts, 1);
	/* The refresh, with a higher seq and a later expiry. */
	assert_int_equal(pass(p, &s, NOW + 10000, &A1), 1);
	assert_int_equal(zt_prestab_find(s.tab, NOW + 10000, ZT_PRESREC_CONNECTOR, "c1", &got), 0);
	assert_true(got.seq > seq1);
	assert_int_equal(got.expires_ms, NOW + 40000);
	/* It moved (a new port): put at once. */
	assert_int_equal(pass(p, &s, NOW + 10001, &A2), 1);
	assert_int_equal(zt_prestab_find(s.tab, NOW + 10001, ZT_PRESREC_CONNECTOR, "c1", &got), 0);
	assert_true(zt_addr_equal(&got.addrs[0], &A2));
	/* Gone: one delete. */
	assert_int_equal(pass(p, &s, NOW + 10002, NULL), 0);
	assert_int_equal(s.dels, 1);
	assert_int_equal(zt_prestab_find(s.tab, NOW + 10002, ZT_PRESREC_CONNECTOR, "c1", &got), -ENOENT);
	assert_int_equal(pass(p, &s, NOW + 10003, NULL), 0);
	zt_prespub_stats(p, &st);
	assert_int_equal(st.puts, 3);
	assert_int_equal(st.deletes, 1);
	assert_int_equal(st.clients, 0);
	zt_prespub_free(p);
	zt_prestab_free(s.tab);
}

static void nudge_republishes_once_a_second(void **state)
{
	struct sink s;
	struct zt_prespub *p = publisher(&s);
	struct zt_prespub_stats st;
	(void)state;

	assert_int_equal(pass(p, &s, NOW, &A1), 1);
	/* Another Intermediate deleted it (the client left there late): put again, but not
	 * sooner than a second after the last put. */
	zt_prespub_nudge(p, ZT_PRESREC_CONNECTOR, "c1");
	zt_prespub_nudge(p, ZT_PRESREC_AGENT, "c1");        /* not ours: nothing */
	assert_int_equal(pass(p, &s, NOW + 999, &A1), 0);
	assert_int_equal(pass(p, &s, NOW + 1000, &A1), 1);
	assert_int_equal(pass(p, &s, NOW + 1500, &A1), 0);
	zt_prespub_stats(p, &st);
	assert_int_equal(st.nudges, 1);
	assert_int_equal(st.puts, 2);
	zt_prespub_free(p);
	zt_prestab_free(s.tab);
}

/* One identity logged in several times here (--logins-per-identity): one record, put
 * once, not once per login and pass (10,000 logins of one agent made 10,000 puts a
 * second); the address is the first login's of the pass. */
static void several_logins_are_one_record(void **state)
{
	struct sink s;
	struct zt_prespub *p = publisher(&s);
	struct zt_prespub_stats st;
	struct zt_presrec got;
	(void)state;

	for (int i = 0; i < 3; i++) {
		s.now = NOW + (uint64_t)i * 1000;
		zt_prespub_begin(p);
		assert_int_equal(zt_prespub_see(p, s.now, ZT_PRESREC_CONNECTOR, "c1", &A1, LOGIN, 0), i == 0);
		assert_int_equal(zt_prespub_see(p, s.now, ZT_PRESREC_CONNECTOR, "c1", &A2, LOGIN, 0), 0);
		assert_int_equal(zt_prespub_see(p, s.now, ZT_PRESREC_CONNECTOR, "c1", &A1, LOGIN, 0), 0);
		assert_int_equal(zt_prespub_end(p), 0);
	}
	assert_int_equal(s.puts, 1);
	assert_int_equal(zt_prestab_find(s.tab, s.now, ZT_PRESREC_CONNECTOR, "c1", &got), 0);
	assert_true(zt_addr_equal(&got.addrs[0], &A1));
	/* the first login left: the next one's address, once */
	assert_int_equal(pass(p, &s, NOW + 3000, &A2), 1);
	assert_int_equal(pass(p, &s, NOW + 4000, &A2), 0);
	zt_prespub_stats(p, &st);
	assert_int_equal(st.puts, 2);
	assert_int_equal(st.clients, 1);
	zt_prespub_free(p);
	zt_prestab_free(s.tab);
}

static void republish_puts_everyone_at_the_next_pass(void **state)
{
	struct sink s;
	struct zt_prespub *p = publisher(&s);
	(void)state;

	assert_int_equal(pass(p, &s, NOW, &A1), 1);
	assert_int_equal(pass(p, &s, NOW + 100, &A1), 0);
	zt_prespub_republish(p);
	assert_int_equal(pass(p, &s, NOW + 200, &A1), 1);
	assert_int_equal(pass(p, &s, NOW + 300, &A1), 0);
	assert_int_equal(s.puts, 2);
	zt_prespub_free(p);
	zt_prestab_free(s.tab);
}

/* A put the queue cannot take is tried again at the next pass, not at the refresh. */
static void a_full_queue_defers_the_put(void **state)
{
	struct sink s;
	struct zt_prespub *p = publisher(&s);
	struct zt_prespub_stats st;
	struct zt_presrec got;
	(void)state;

	s.full = true;
	assert_int_equal(pass(p, &s, NOW, &A1), -ENOBUFS);     /* new: not remembered */
	s.full = false;
	assert_int_equal(pass(p, &s, NOW + 1000, &A1), 1);
	s.full = true;
	assert_int_equal(pass(p, &s, NOW + 2000, &A2), -ENOBUFS); /* moved, refused */
	s.full = false;
	assert_int_equal(pass(p, &s, NOW + 3000, &A2), 1);      /* next pass, not at 10 s */
	assert_int_equal(zt_prestab_find(s.tab, NOW + 3000, ZT_PRESREC_CONNECTOR, "c1", &got), 0);
	assert_true(zt_addr_equal(&got.addrs[0], &A2));
	zt_prespub_stats(p, &st);
	assert_int_equal(st.deferred, 2);
	assert_int_equal(st.puts, 2);
	zt_prespub_free(p);
	zt_prestab_free(s.tab);
}

static void seq_increases_and_withdraw(void **state)
{
	struct sink s;
	struct zt_prespub *p = publisher(&s);
	struct zt_presrec got;
	uint64_t last = 0;
	(void)state;

	/* Even with the clock standing still or going back, every put outranks the last. */
	for (int i = 0; i < 5; i++) {
		s.now = NOW - (uint64_t)i;
		zt_prespub_begin(p);
		assert_int_equal(zt_prespub_see(p, s.now, ZT_PRESREC_AGENT, "alice",
						i % 2 ? &A1 : &A2, LOGIN, 0), 1);
		zt_prespub_end(p);
		assert_int_equal(zt_prestab_find(s.tab, s.now, ZT_PRESREC_AGENT, "alice", &got), 0);
		assert_true(got.seq > last);
		last = got.seq;
	}
	/* A name no record can hold: refused, counted, nothing emitted. */
	zt_prespub_begin(p);
	assert_int_equal(zt_prespub_see(p, NOW, ZT_PRESREC_AGENT, "al ice", &A1, LOGIN, 0), ZT_EMALFORMED);
	assert_int_equal(zt_prespub_see(p, NOW, ZT_PRESREC_AGENT, "alice", &A2, LOGIN, 0), 0);
	assert_int_equal(zt_prespub_see(p, NOW, ZT_PRESREC_AGENT, "bob", NULL, LOGIN, 0), 1);
	zt_prespub_end(p);
	assert_int_equal(zt_prestab_find(s.tab, NOW, ZT_PRESREC_AGENT, "bob", &got), 0);
	assert_int_equal(got.naddrs, 0);
	assert_int_equal(zt_prespub_withdraw(p), 2);
	assert_int_equal(s.dels, 2);
	zt_prespub_free(p);
	zt_prestab_free(s.tab);
}

/* What imdnats does with a change of the store under c1's key, for publisher p of
 * Intermediate self: its record elsewhere (the newer login keeps it), or gone. Returns
 * zt_prespub_elsewhere's answer (1: p yielded; the caller ends its login). */
static int store_says(struct zt_prespub *p, const char *self, struct sink *s)
{
	struct zt_presrec r;

	if (zt_prestab_find(s->tab, s->now, ZT_PRESREC_CONNECTOR, "c1", &r) < 0) {
		zt_prespub_nudge(p, ZT_PRESREC_CONNECTOR, "c1");
		return 0;
	}
	if (!strcmp(r.imd, self))
		return 0;
	return zt_prespub_elsewhere(p, ZT_PRESREC_CONNECTOR, "c1", r.seq);
}

static int pass_floor(struct zt_prespub *p, struct sink *s, uint64_t now, uint64_t login,
		      uint64_t floor)
{
	int rc;

	s->now = now;
	zt_prespub_begin(p);
	rc = zt_prespub_see(p, now, ZT_PRESREC_CONNECTOR, "c1", &A1, login, floor);
	zt_prespub_end(p);
	return rc;
}

static int pass_at(struct zt_prespub *p, struct sink *s, uint64_t now, uint64_t login)
{
	return pass_floor(p, s, now, login, 0);
}

/*
 * c1 logged in at A (a minute ago) and at B (a second ago), both alive (a stale login
 * at A that has not timed out yet, or c1 run twice): the newer login, B's, keeps the
 * record. A yields at once (its caller ends c1's login there) and puts nothing more in
 * 30 s of passes. Before, each put its own again within a second of the other's, for as
 * long as both lasted. B's record gone (c1 left B), A's c1 is published again; a new
 * login of c1 at A, newer than B's, is put at once.
 */
static void the_newer_login_keeps_the_record(void **state)
{
	struct sink s;
	struct zt_prespub *a = publisher(&s), *b;
	struct zt_prespub_config bc = {
		.self = "imd-b", .key = KEY, .key_len = sizeof(KEY), .seed = 9, .emit = emit, .arg = &s,
	};
	struct zt_prespub_stats st;
	struct zt_presrec r;
	int a_puts;
	(void)state;

	assert_int_equal(zt_prespub_new(&b, &bc), 0);
	s.allow_stale = true;
	assert_int_equal(pass_at(a, &s, NOW, NOW - 60000), 1);
	assert_int_equal(pass_at(b, &s, NOW + 10, NOW - 1000), 1);
	assert_int_equal(zt_prestab_find(s.tab, s.now, ZT_PRESREC_CONNECTOR, "c1", &r), 0);
	assert_string_equal(r.imd, "imd-b");
	/* A sees B's record: B's is the newer login; A yields, once */
	assert_int_equal(store_says(a, "imd-a", &s), 1);
	assert_int_equal(store_says(a, "imd-a", &s), 0);
	a_puts = s.puts;
	for (uint64_t t = 1000; t <= 30000; t += 1000) {
		assert_int_equal(pass_at(a, &s, NOW + t, NOW - 60000), 0);
		pass_at(b, &s, NOW + t + 10, NOW - 1000);
		assert_int_equal(store_says(a, "imd-a", &s), 0);
		assert_int_equal(store_says(b, "imd-b", &s), 0);
	}
	assert_int_equal(s.stale, 0);
	zt_prespub_stats(a, &st);
	assert_int_equal(st.yielded, 1);
	assert_int_equal(st.puts, 1);
	assert_int_equal(s.puts - a_puts, 3); /* B's refreshes only (every 10 s) */
	assert_int_equal(zt_prestab_find(s.tab, s.now, ZT_PRESREC_CONNECTOR, "c1", &r), 0);
	assert_string_equal(r.imd, "imd-b");

	/* c1 leaves B: B deletes; A, shown the key gone, publishes its c1 again */
	s.now = NOW + 32000;
	zt_prespub_begin(b);
	zt_prespub_end(b);
	assert_int_equal(store_says(a, "imd-a", &s), 0);
	assert_int_equal(pass_at(a, &s, NOW + 33000, NOW - 60000), 1);
	assert_int_equal(zt_prestab_find(s.tab, s.now, ZT_PRESREC_CONNECTOR, "c1", &r), 0);
	assert_string_equal(r.imd, "imd-a");

	/* a yielded c1 that logs in at A again, after B's: put at once */
	assert_int_equal(pass_at(b, &s, NOW + 34000, NOW + 33500), 1);
	assert_int_equal(store_says(a, "imd-a", &s), 1);
	assert_int_equal(pass_at(a, &s, NOW + 35000, NOW - 60000), 0);
	assert_int_equal(pass_at(a, &s, NOW + 36000, NOW + 35500), 1);
	assert_int_equal(zt_prestab_find(s.tab, s.now, ZT_PRESREC_CONNECTOR, "c1", &r), 0);
	assert_string_equal(r.imd, "imd-a");
	/* and B, shown A's newer record, yields in turn */
	assert_int_equal(store_says(b, "imd-b", &s), 1);
	/* withdrawing deletes only what is ours: A's c1; B's yielded one is not B's */
	s.dels = 0;
	assert_int_equal(zt_prespub_withdraw(b), 1);
	assert_int_equal(s.dels, 0);
	assert_int_equal(zt_prespub_withdraw(a), 1);
	assert_int_equal(s.dels, 1);
	zt_prespub_free(a);
	zt_prespub_free(b);
	zt_prestab_free(s.tab);
}

/*
 * A's clock is 5 s ahead of B's. c1 logs in at A, then (a second later) moves to B,
 * whose presence table held A's record at the login: that record's seq is the login's
 * floor, and B's record ranks above A's although B's clock puts the login 4 s before
 * A's. B keeps c1 and A yields. Without the floor B's record lost: B yielded the client
 * actually there to its stale login at A, shown at A until that record went. A later
 * put of the same login stays above the floor too; a new login at B takes its own.
 */
static void a_login_ranks_above_what_it_followed(void **state)
{
	struct sink s;
	struct zt_prespub *a = publisher(&s), *b;
	struct zt_prespub_config bc = {
		.self = "imd-b", .key = KEY, .key_len = sizeof(KEY), .seed = 9, .emit = emit, .arg = &s,
	};
	struct zt_presrec at_a, r;
	(void)state;

	assert_int_equal(zt_prespub_new(&b, &bc), 0);
	s.allow_stale = true;
	assert_int_equal(pass_at(a, &s, NOW + 5000, NOW + 5000), 1); /* A's clock */
	assert_int_equal(zt_prestab_find(s.tab, s.now, ZT_PRESREC_CONNECTOR, "c1", &at_a), 0);
	assert_int_equal(pass_floor(b, &s, NOW + 1000, NOW + 1000, at_a.seq), 1);
	assert_int_equal(zt_prestab_find(s.tab, s.now, ZT_PRESREC_CONNECTOR, "c1", &r), 0);
	assert_string_equal(r.imd, "imd-b");
	assert_true(r.seq == at_a.seq + 1);
	assert_int_equal(store_says(b, "imd-b", &s), 0); /* B keeps it */
	assert_int_equal(store_says(a, "imd-a", &s), 1); /* A yields */
	/* B's refresh (a put of the same login, 10 s on) */
	assert_int_equal(pass_floor(b, &s, NOW + 11000, NOW + 1000, at_a.seq), 1);
	assert_int_equal(zt_prestab_find(s.tab, s.now, ZT_PRESREC_CONNECTOR, "c1", &r), 0);
	assert_true(r.seq == at_a.seq + 2);
	/* a new login at B with no record elsewhere then: its clock's */
	assert_int_equal(pass_floor(b, &s, NOW + 12000, NOW + 11500, 0), 1);
	assert_int_equal(zt_prestab_find(s.tab, s.now, ZT_PRESREC_CONNECTOR, "c1", &r), 0);
	assert_true(r.seq == (NOW + 11500) * 1000);
	assert_int_equal(s.stale, 0);
	zt_prespub_free(a);
	zt_prespub_free(b);
	zt_prestab_free(s.tab);
}

static void bad_config(void **state)
{
	struct sink s = { 0 };
	struct zt_prespub *p = NULL;
	struct zt_prespub_config c = {
		.self = "imd-a", .key = KEY, .key_len = sizeof(KEY), .emit = emit, .arg = &s,
	};
	(void)state;

	c.key_len = 15;
	assert_int_equal(zt_prespub_new(&p, &c), -EINVAL);
	c.key_len = sizeof(KEY);
	c.self = "";
	assert_int_equal(zt_prespub_new(&p, &c), -EINVAL);
	c.self = "imd-a";
	c.refresh_ms = 30000;
	assert_int_equal(zt_prespub_new(&p, &c), -EINVAL);
	c.refresh_ms = 0;
	c.emit = NULL;
	assert_int_equal(zt_prespub_new(&p, &c), -EINVAL);
	assert_null(p);
	zt_prespub_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(put_refresh_move_delete),
		cmocka_unit_test(nudge_republishes_once_a_second),
		cmocka_unit_test(several_logins_are_one_record),
		cmocka_unit_test(republish_puts_everyone_at_the_next_pass),
		cmocka_unit_test(a_full_queue_defers_the_put),
		cmocka_unit_test(seq_increases_and_withdraw),
		cmocka_unit_test(the_newer_login_keeps_the_record),
		cmocka_unit_test(a_login_ranks_above_what_it_followed),
		cmocka_unit_test(bad_config),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
