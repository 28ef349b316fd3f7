/*
 * node/prestab.h: the presence table keeps the newest verified record per client;
 * forged, misfiled, expired and stale values are refused or ignored without touching
 * what it holds; deletes remove; the table is bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "core/err.h"
#include "core/presrec.h"
#include "node/prestab.h"

static const uint8_t KEY[32] = "0123456789abcdef0123456789abcdef";
static const uint8_t OTHER[32] = "0123456789abcdef0123456789abcdeX";
#define NOW 1800000000000ULL

static int rec(uint8_t *buf, uint8_t role, const char *name, const char *imd, uint64_t seq,
	       uint64_t issued, const uint8_t *key)
{
	struct zt_presrec r = {
		.role = role,
		.naddrs = 1,
		.addrs = { { .family = AF_INET, .port = 5000, .ip = { 198, 51, 100, 7 } } },
		.seq = seq,
		.issued_ms = issued,
		.expires_ms = issued + 30000,
	};
	snprintf(r.name, sizeof(r.name), "%s", name);
	snprintf(r.imd, sizeof(r.imd), "%s", imd);
	return zt_presrec_encode(buf, ZT_PRESREC_MAX, &r, key, 32);
}

static struct zt_prestab *table(size_t max)
{
	struct zt_prestab *t = NULL;

	assert_int_equal(zt_prestab_new(&t, max, KEY, sizeof(KEY), 42), 0);
	return t;
}

static void newest_record_wins(void **state)
{
	struct zt_prestab *t = table(10);
	struct zt_prestab_stats st;
	struct zt_presrec got;
	uint8_t b[ZT_PRESREC_MAX];
	int n;
	(void)state;

	assert_int_equal(zt_prestab_find(t, NOW, ZT_PRESREC_CONNECTOR, "c1", &got), -ENOENT);
	n = rec(b, ZT_PRESREC_CONNECTOR, "c1", "imd-a", 100, NOW, KEY);
	assert_int_equal(zt_prestab_apply(t, NOW, "connector.c1", b, (size_t)n), 0);
	assert_int_equal(zt_prestab_find(t, NOW, ZT_PRESREC_CONNECTOR, "c1", &got), 0);
	assert_string_equal(got.imd, "imd-a");
	assert_int_equal(got.addrs[0].port, 5000);
	/* Same name, other role: another client. */
	assert_int_equal(zt_prestab_find(t, NOW, ZT_PRESREC_AGENT, "c1", &got), -ENOENT);
	/* The client moved to imd-b: a higher seq replaces. */
	n = rec(b, ZT_PRESREC_CONNECTOR, "c1", "imd-b", 200, NOW + 5, KEY);
	assert_int_equal(zt_prestab_apply(t, NOW + 10, "connector.c1", b, (size_t)n), 0);
	assert_int_equal(zt_prestab_find(t, NOW + 10, ZT_PRESREC_CONNECTOR, "c1", &got), 0);
	assert_string_equal(got.imd, "imd-b");
	/* imd-a's late refresh (lower seq) and a replay of the same seq are ignored. */
	n = rec(b, ZT_PRESREC_CONNECTOR, "c1", "imd-a", 150, NOW + 20, KEY);
	assert_int_equal(zt_prestab_apply(t, NOW + 20, "connector.c1", b, (size_t)n), 1);
	n = rec(b, ZT_PRESREC_CONNECTOR, "c1", "imd-b", 200, NOW + 5, KEY);
	assert_int_equal(zt_prestab_apply(t, NOW + 20, "connector.c1", b, (size_t)n), 1);
	assert_int_equal(zt_prestab_find(t, NOW + 20, ZT_PRESREC_CONNECTOR, "c1", &got), 0);
	assert_string_equal(got.imd, "imd-b");
	zt_prestab_stats(t, &st);
	assert_int_equal(st.entries, 1);
	assert_int_equal(st.applied, 2);
	assert_int_equal(st.stale, 2);
	assert_int_equal(st.refused, 0);
	zt_prestab_free(t);
}

static void forgeries_leave_the_entry_alone(void **state)
{
	struct zt_prestab *t = table(10);
	struct zt_prestab_stats st;
	struct zt_presrec got;
	uint8_t b[ZT_PRESREC_MAX];
	int n;
	(void)state;

	n = rec(b, ZT_PRESREC_CONNECTOR, "c1", "imd-a", 100, NOW, KEY);
	assert_int_equal(zt_prestab_apply(t, NOW, "connector.c1", b, (size_t)n), 0);
	/* Signed with another key, pointing c1 at an Intermediate of the forger's. */
	n = rec(b, ZT_PRESREC_CONNECTOR, "c1", "evil", 999, NOW, OTHER);
	assert_int_equal(zt_prestab_apply(t, NOW, "connector.c1", b, (size_t)n), ZT_EAUTH);
	/* A genuine record of c2 copied under c1's key. */
	n = rec(b, ZT_PRESREC_CONNECTOR, "c2", "evil", 999, NOW, KEY);
	assert_int_equal(zt_prestab_apply(t, NOW, "connector.c1", b, (size_t)n), ZT_EPOLICY);
	/* A genuine agent record filed as a connector of the same name. */
	n = rec(b, ZT_PRESREC_AGENT, "c1", "evil", 999, NOW, KEY);
	assert_int_equal(zt_prestab_apply(t, NOW, "connector.c1", b, (size_t)n), ZT_EPOLICY);
	/* Garbage (no magic), a truncated record, a key that is not a client's. */
	assert_int_equal(zt_prestab_apply(t, NOW, "connector.c1", (const uint8_t *)"hello", 5),
			 ZT_EMALFORMED);
	n = rec(b, ZT_PRESREC_CONNECTOR, "c1", "evil", 999, NOW, KEY);
	assert_true(zt_prestab_apply(t, NOW, "connector.c1", b, (size_t)n - 1) < 0);
	assert_int_equal(zt_prestab_apply(t, NOW, "router.c1", b, (size_t)n), ZT_EMALFORMED);
	assert_int_equal(zt_prestab_apply(t, NOW, "c1", NULL, 0), ZT_EMALFORMED);
	/* An expired one (issued 31 s ago), even with a higher seq. */
	n = rec(b, ZT_PRESREC_CONNECTOR, "c1", "evil", 999, NOW - 31000, KEY);
	assert_int_equal(zt_prestab_apply(t, NOW, "connector.c1", b, (size_t)n), ZT_ETIMEOUT);

	assert_int_equal(zt_prestab_find(t, NOW, ZT_PRESREC_CONNECTOR, "c1", &got), 0);
	assert_string_equal(got.imd, "imd-a");
	assert_int_equal(got.seq, 100);
	zt_prestab_stats(t, &st);
	assert_int_equal(st.refused, 8);
	assert_int_equal(st.last_refusal, ZT_ETIMEOUT);
	assert_int_equal(st.applied, 1);
	zt_prestab_free(t);
}

static void deletes_and_expiry(void **state)
{
	struct zt_prestab *t = table(10);
	struct zt_prestab_stats st;
	struct zt_presrec got, list[4];
	uint8_t b[ZT_PRESREC_MAX];
	int n;
	(void)state;

	n = rec(b, ZT_PRESREC_AGENT, "alice", "imd-a", 1, NOW, KEY);
	assert_int_equal(zt_prestab_apply(t, NOW, "agent.alice", b, (size_t)n), 0);
	n = rec(b, ZT_PRESREC_AGENT, "bob", "imd-a", 2, NOW + 10000, KEY);
	assert_int_equal(zt_prestab_apply(t, NOW + 10000, "agent.bob", b, (size_t)n), 0);
	assert_int_equal(zt_prestab_list(t, NOW + 10000, list, 4), 2);
	/* A delete of something absent is fine; of alice removes her. */
	assert_int_equal(zt_prestab_apply(t, NOW, "agent.carol", NULL, 0), 0);
	assert_int_equal(zt_prestab_apply(t, NOW, "agent.alice", NULL, 0), 0);
	assert_int_equal(zt_prestab_find(t, NOW, ZT_PRESREC_AGENT, "alice", &got), -ENOENT);
	/* bob's record (expires NOW + 40 s) is absent from then on, and swept. */
	assert_int_equal(zt_prestab_find(t, NOW + 39999, ZT_PRESREC_AGENT, "bob", &got), 0);
	assert_int_equal(zt_prestab_find(t, NOW + 40000, ZT_PRESREC_AGENT, "bob", &got), -ENOENT);
	assert_int_equal(zt_prestab_list(t, NOW + 40000, list, 4), 0);
	assert_int_equal(zt_prestab_expire(t, NOW + 39999), 0);
	assert_int_equal(zt_prestab_expire(t, NOW + 40000), 1);
	zt_prestab_stats(t, &st);
	assert_int_equal(st.entries, 0);
	assert_int_equal(st.deleted, 1);
	assert_int_equal(st.expired, 1);
	zt_prestab_free(t);
}

static bool is_connector_at_b(void *arg, const struct zt_presrec *r)
{
	(*(int *)arg)++;
	return r->role == ZT_PRESREC_CONNECTOR && !strcmp(r->imd, "imd-b");
}

static void first_match(void **state)
{
	struct zt_prestab *t = table(10);
	struct zt_presrec got;
	uint8_t b[ZT_PRESREC_MAX];
	int n, seen = 0;
	(void)state;

	n = rec(b, ZT_PRESREC_CONNECTOR, "c1", "imd-a", 1, NOW, KEY);
	assert_int_equal(zt_prestab_apply(t, NOW, "connector.c1", b, (size_t)n), 0);
	n = rec(b, ZT_PRESREC_AGENT, "c2", "imd-b", 1, NOW, KEY);
	assert_int_equal(zt_prestab_apply(t, NOW, "agent.c2", b, (size_t)n), 0);
	assert_int_equal(zt_prestab_first(t, NOW, is_connector_at_b, &seen, &got), -ENOENT);
	assert_int_equal(seen, 2);
	n = rec(b, ZT_PRESREC_CONNECTOR, "c3", "imd-b", 1, NOW, KEY);
	assert_int_equal(zt_prestab_apply(t, NOW, "connector.c3", b, (size_t)n), 0);
	assert_int_equal(zt_prestab_first(t, NOW, is_connector_at_b, &seen, &got), 0);
	assert_string_equal(got.name, "c3");
	/* expired entries are not offered */
	seen = 0;
	assert_int_equal(zt_prestab_first(t, NOW + 30000, is_connector_at_b, &seen, &got), -ENOENT);
	assert_int_equal(seen, 0);
	zt_prestab_free(t);
}

static void bounded(void **state)
{
	struct zt_prestab *t = table(3);
	struct zt_prestab_stats st;
	uint8_t b[ZT_PRESREC_MAX];
	char name[16], key[32];
	int n;
	(void)state;

	for (int i = 0; i < 5; i++) {
		snprintf(name, sizeof(name), "a%d", i);
		snprintf(key, sizeof(key), "agent.a%d", i);
		n = rec(b, ZT_PRESREC_AGENT, name, "imd-a", 10, NOW, KEY);
		assert_int_equal(zt_prestab_apply(t, NOW, key, b, (size_t)n), i < 3 ? 0 : ZT_EQUOTA);
	}
	/* Held clients still update when full. */
	n = rec(b, ZT_PRESREC_AGENT, "a1", "imd-b", 11, NOW, KEY);
	assert_int_equal(zt_prestab_apply(t, NOW, "agent.a1", b, (size_t)n), 0);
	zt_prestab_stats(t, &st);
	assert_int_equal(st.entries, 3);
	assert_int_equal(st.full, 2);
	assert_int_equal(zt_prestab_new(&t, 0, KEY, sizeof(KEY), 1), -EINVAL);
	assert_int_equal(zt_prestab_new(&t, 5, KEY, 15, 1), -EINVAL);
	zt_prestab_free(NULL);
	zt_prestab_free(t); /* the first table: the failed calls left t alone */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(newest_record_wins),
		cmocka_unit_test(forgeries_leave_the_entry_alone),
		cmocka_unit_test(deletes_and_expiry),
		cmocka_unit_test(first_match),
		cmocka_unit_test(bounded),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
