/* Counts per traffic source (node/srccount.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "node/srccount.h"

static struct zt_addr A(const char *s)
{
	struct zt_addr a;

	assert_int_equal(zt_addr_parse(&a, s, 0), 0);
	return a;
}

/* Ports never count; an IPv6 /64 is one source; a source at 0 is forgotten. */
static void sources_are_addresses_and_prefixes(void **state)
{
	struct zt_srccount *m;
	struct zt_addr a1 = A("192.0.2.1:1000"), a2 = A("192.0.2.1:2000"), b = A("192.0.2.2:1000");
	struct zt_addr v1 = A("[2001:db8:1:2::1]:443"), v2 = A("[2001:db8:1:2:ffff::9]:80");
	struct zt_addr v3 = A("[2001:db8:1:3::1]:443");
	(void)state;

	assert_int_equal(zt_srccount_new(&m, 42), 0);
	assert_int_equal(zt_srccount_inc(m, &a1), 1);
	assert_int_equal(zt_srccount_inc(m, &a2), 2);
	assert_int_equal(zt_srccount_inc(m, &b), 1);
	assert_int_equal(zt_srccount_inc(m, &v1), 1);
	assert_int_equal(zt_srccount_inc(m, &v2), 2);
	assert_int_equal(zt_srccount_inc(m, &v3), 1);
	assert_int_equal(zt_srccount_get(m, &a2), 2);
	assert_int_equal(zt_srccount_sources(m), 4);
	zt_srccount_dec(m, &b);
	assert_int_equal(zt_srccount_get(m, &b), 0);
	assert_int_equal(zt_srccount_sources(m), 3);
	zt_srccount_dec(m, &b); /* none: nothing happens */
	assert_int_equal(zt_srccount_sources(m), 3);
	zt_srccount_free(m);
}

/* Many sources: each counted on its own (the table grows under them). */
static void many_sources(void **state)
{
	struct zt_srccount *m;
	char text[64];
	(void)state;

	assert_int_equal(zt_srccount_new(&m, 7), 0);
	for (int i = 0; i < 5000; i++) {
		struct zt_addr a;
		snprintf(text, sizeof(text), "10.%d.%d.1:9", i / 256, i % 256);
		a = A(text);
		assert_int_equal(zt_srccount_inc(m, &a), 1);
		assert_int_equal(zt_srccount_inc(m, &a), 2);
	}
	assert_int_equal(zt_srccount_sources(m), 5000);
	for (int i = 0; i < 5000; i += 2) {
		struct zt_addr a;
		snprintf(text, sizeof(text), "10.%d.%d.1:9", i / 256, i % 256);
		a = A(text);
		zt_srccount_dec(m, &a);
		zt_srccount_dec(m, &a);
	}
	assert_int_equal(zt_srccount_sources(m), 2500);
	zt_srccount_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(sources_are_addresses_and_prefixes),
		cmocka_unit_test(many_sources),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
