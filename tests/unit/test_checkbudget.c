#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "core/checkbudget.h"
#include "core/units.h"

static struct zt_addr ip(const char *text)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, text, 0), 0);
	return a;
}

/* One destination IP (any port) gets its own burst and rate, whatever the sessions. */
static void destination_bounds_all_sessions(void **state)
{
	struct zt_check_budget b;
	struct zt_tokens s[20];
	struct zt_addr victim = ip("192.0.2.1:7000"), other = ip("198.51.100.1:1");
	uint64_t now = 1000 * ZT_SEC;
	int taken = 0;

	(void)state;
	zt_check_budget_init(&b, &(struct zt_check_budget_config){ 0 }, now);
	for (int i = 0; i < 20; i++)
		zt_check_budget_session(&b, &s[i], now);
	for (uint64_t t = now; t < now + 15 * ZT_SEC; t += 10 * ZT_MS)
		for (int i = 0; i < 20; i++) {
			victim.port = (uint16_t)(7000 + i);
			taken += zt_check_budget_take(&b, &s[i], t, &victim);
		}
	/* burst 16, then 2/s */
	assert_true(taken >= 16 + 2 * 15 - 1 && taken <= 16 + 2 * 15);
	/* another destination is not affected */
	assert_true(zt_check_budget_take(&b, &s[0], now + 15 * ZT_SEC, &other));
	assert_true(b.st.deferred > 0);
}

static void session_and_total_bound_many_destinations(void **state)
{
	struct zt_check_budget b;
	struct zt_tokens s;
	uint64_t now = 0;
	char text[32];
	int taken = 0;

	(void)state;
	zt_check_budget_init(&b, &(struct zt_check_budget_config){ .total_rate = 10 }, now);
	zt_check_budget_session(&b, &s, now);
	/* one session, a new IP each time: its own 32 + 4/s */
	for (int i = 0; i < 1000; i++) {
		snprintf(text, sizeof(text), "10.%d.%d.1:1", i / 250, i % 250);
		struct zt_addr a = ip(text);
		taken += zt_check_budget_take(&b, &s, (uint64_t)i * 10 * ZT_MS, &a);
	}
	assert_true(taken >= 32 + 4 * 10 - 1 && taken <= 32 + 4 * 10);
	/* many sessions: the process's 80 + 10/s */
	taken = 0;
	zt_check_budget_init(&b, &(struct zt_check_budget_config){ .total_rate = 10 }, now);
	for (int i = 0; i < 1000; i++) {
		struct zt_tokens fresh;
		zt_check_budget_session(&b, &fresh, now);
		snprintf(text, sizeof(text), "10.%d.%d.1:1", i / 250, i % 250);
		struct zt_addr a = ip(text);
		taken += zt_check_budget_take(&b, &fresh, (uint64_t)i * 10 * ZT_MS, &a);
	}
	assert_true(taken >= 80 + 10 * 10 - 1 && taken <= 80 + 10 * 10);
	/* NULL budget: the session's only; NULL both: free */
	assert_true(zt_check_budget_take(NULL, NULL, 0, &(struct zt_addr){ 0 }));
}

static void refund_and_when(void **state)
{
	struct zt_check_budget b;
	struct zt_tokens s;
	struct zt_addr a = ip("192.0.2.7:9");
	uint64_t now = 0;

	(void)state;
	zt_check_budget_init(&b, &(struct zt_check_budget_config){ .dest_rate = 1 }, now);
	zt_check_budget_session(&b, &s, now);
	for (int i = 0; i < 8; i++)
		assert_true(zt_check_budget_take(&b, &s, now, &a));
	assert_false(zt_check_budget_take(&b, &s, now, &a));
	assert_int_equal(zt_check_budget_when(&b, &s, now, &a), 1 * ZT_SEC);
	zt_check_budget_refund(&b, &s, &a, 3);
	assert_int_equal(b.st.refunded, 3);
	assert_int_equal(zt_check_budget_when(&b, &s, now, &a), now);
	for (int i = 0; i < 3; i++)
		assert_true(zt_check_budget_take(&b, &s, now, &a));
	assert_false(zt_check_budget_take(&b, &s, now, &a));
}

/* More destinations than the table: the most idle slot is reused. */
static void table_reuses_idle_slots(void **state)
{
	struct zt_check_budget b;
	char text[32];

	(void)state;
	zt_check_budget_init(&b, &(struct zt_check_budget_config){ .total_rate = 1000 }, 0);
	for (int i = 0; i < ZT_CHECK_BUDGET_DSTS + 10; i++) {
		snprintf(text, sizeof(text), "10.0.%d.1:1", i);
		struct zt_addr a = ip(text);
		assert_true(zt_check_budget_take(&b, NULL, 0, &a));
	}
	assert_int_equal(b.st.taken, ZT_CHECK_BUDGET_DSTS + 10);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(destination_bounds_all_sessions),
		cmocka_unit_test(session_and_total_bound_many_destinations),
		cmocka_unit_test(refund_and_when),
		cmocka_unit_test(table_reuses_idle_slots),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
