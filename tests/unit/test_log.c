/* app/log: the programs' log sink writes escaped, rate-limited lines to stderr. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../fuzz/logparse.h"
#include "app/log.h"
#include "io/clock.h"

/* stderr goes to a temporary file for each test. */
struct capture {
	FILE *f;
	int saved;
};

static int setup(void **state)
{
	struct capture *c = calloc(1, sizeof(*c));

	if (!c || !(c->f = tmpfile()))
		return -1;
	fflush(stderr);
	c->saved = dup(2);
	if (c->saved < 0 || dup2(fileno(c->f), 2) < 0)
		return -1;
	zt_log_setup("test", ZT_LOG_DEBUG);
	zt_log_set_rate(ZT_LOG_RATE_DEFAULT);
	*state = c;
	return 0;
}

static int teardown(void **state)
{
	struct capture *c = *state;

	fflush(stderr);
	dup2(c->saved, 2);
	close(c->saved);
	fclose(c->f);
	free(c);
	return 0;
}

/* The captured lines so far, one callback each; returns the count. */
static int lines(struct capture *c, void (*fn)(const char *line, void *arg), void *arg)
{
	char buf[4096];
	int n = 0;

	fflush(stderr);
	rewind(c->f);
	while (fgets(buf, sizeof(buf), c->f)) {
		assert_non_null(strchr(buf, '\n'));
		buf[strcspn(buf, "\n")] = '\0';
		if (fn)
			fn(buf, arg);
		n++;
	}
	return n;
}

static void check_fields(const char *line, void *arg)
{
	struct lp_field f[16];
	int n;

	(void)arg;
	if (strstr(line, " event=session_open ")) {
		/* raw text: one line, its control bytes escaped */
		assert_non_null(strstr(line, " service=web\\x0ats=x level=error event=forged"));
		return;
	}
	if (strstr(line, " event=bad_event_name "))
		assert_non_null(strstr(line, " a=1"));
	n = lp_parse(line, f, 16);
	assert_true(n >= 4);
	assert_string_equal(f[0].key, "ts");
	assert_string_equal(f[1].key, "level");
	assert_string_equal(f[2].key, "prog");
	assert_string_equal(f[3].key, "event");
}

static void a_peer_string_cannot_forge_a_line(void **state)
{
	struct capture *c = *state;
	const char *evil = "x\nts=2026-01-01T00:00:00.000Z level=error prog=test event=forged";

	zt_info("client_ready", "identity=%s software=\"%s\"", "ztna:agent:alice", evil);
	zt_warn("peer_error", "text=%s", evil);
	/* the node layer's pre-formatted text, even if a caller handed raw bytes */
	zt_log_kv(ZT_LOG_INFO, "session_open", "service=web\nts=x level=error event=forged");
	zt_log_kv(ZT_LOG_INFO, "bad\nevent name", "a=1");
	assert_int_equal(lines(c, check_fields, NULL), 4);
}

struct flood_count {
	uint64_t flood_lines, summarised, summaries;
};

static void count_flood(const char *line, void *arg)
{
	struct flood_count *fc = arg;
	const char *p;

	if (strstr(line, " event=flood ")) {
		fc->flood_lines++;
	} else if (strstr(line, " event=log_suppressed of=flood ")) {
		fc->summaries++;
		assert_non_null(strstr(line, " level=warn "));
		p = strstr(line, " count=");
		assert_non_null(p);
		fc->summarised += strtoull(p + 7, NULL, 10);
	}
}

/* 20,000 lines of one event: at most the limit per second started, and every line left
 * out is in a summary count. */
static void a_flood_is_bounded_and_counted(void **state)
{
	struct capture *c = *state;
	struct flood_count fc = { 0 };
	uint64_t t0 = zt_clock_now(), secs;

	zt_log_set_rate(50);
	for (int i = 0; i < 20000; i++)
		zt_log(i % 1000 == 7 ? ZT_LOG_WARN : ZT_LOG_INFO, "flood", "n=%d", i);
	zt_info("other", "after=flood");
	zt_log_flush(true);
	secs = (zt_clock_now() - t0) / 1000000000ULL + 1;
	lines(c, count_flood, &fc);
	assert_true(fc.flood_lines <= 50 * (secs + 1));
	assert_true(fc.summaries >= 1);
	assert_int_equal(fc.flood_lines + fc.summarised, 20000);
	assert_true(zt_log_suppressed() >= 20000 - 50 * (secs + 1));
}

static uint64_t woken_at;
static int wakes;

static void wake(void *arg, uint64_t at)
{
	(void)arg;
	woken_at = at;
	wakes++;
}

static void the_program_is_woken_for_a_summary(void **state)
{
	struct capture *c = *state;
	uint64_t t0 = zt_clock_now();

	(void)c;
	zt_log_set_rate(2);
	zt_log_set_wakeup(wake, NULL);
	for (int i = 0; i < 10; i++)
		zt_debug("burst", "i=%d", i);
	assert_int_equal(wakes, 1);
	assert_true(woken_at >= t0 + 1000000000ULL && woken_at <= zt_clock_now() + 1000000000ULL);
	zt_log_set_wakeup(NULL, NULL);
	zt_log_flush(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(a_peer_string_cannot_forge_a_line, setup, teardown),
		cmocka_unit_test_setup_teardown(a_flood_is_bounded_and_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(the_program_is_woken_for_a_summary, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
