/*
 * Findings (issue 11, "secrets" and "repeated log lines"): peer-supplied strings were
 * logged unescaped, so a HELLO's software string, an ERROR's or a PATH_REPORT's text
 * with a newline and key=value text forged whole log lines; and nothing bounded how
 * many lines one repeated event wrote (8 s of an OPEN flood: 303 MiB of log).
 *
 * The real Intermediate core (node/imd.h) on the in-memory network, its log callback
 * wired as the programs wire it (node_log -> app/log.h's zt_log_kv -> stderr, captured
 * here): a raw client authenticated as alice sends the forged strings. Checks: every
 * line written is one well-formed line (ts, level, prog, event, then key=value
 * fields), the forged strings come back as one value each. Then one event floods the
 * sink: at most the limit per second is written, plus summaries whose counts add up
 * to every line left out. Both fail with the old formatting and sink (checked by
 * putting vsnprintf back in zt_node_logf and turning the limit off: the forged
 * "event=forged" line appears; 3000 flood lines are written).
 */
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
#include "core/units.h"
#include "io/clock.h"
#include "node_harness.h"

#define FORGED "ztna-agent 0.1\nts=2026-01-01T00:00:00.000Z level=error prog=intermediate " \
	       "event=forged identity=ztna:agent:root"
#define FLOOD 3000
#define RATE 40

struct world {
	struct nh_world nw;        /* the Intermediate and alice (the others stay idle) */
	uint64_t lines_logged;     /* lines the core handed to the sink */
	FILE *cap;
	int saved_stderr;
};

/* What ztna-intermediate's node_log does. */
static void node_log(void *arg, enum zt_node_level level, const char *event, const char *kv)
{
	struct world *w = arg;

	w->lines_logged++;
	zt_log_kv((enum zt_log_level)level, event, kv);
}

static void world_init(struct world *w, struct nh_fixture *f)
{
	static const char *const policy[] = { "client agent:alice:pw-alice", NULL };

	memset(w, 0, sizeof(*w));
	w->cap = tmpfile();
	assert_non_null(w->cap);
	fflush(stderr);
	w->saved_stderr = dup(2);
	assert_true(w->saved_stderr >= 0 && dup2(fileno(w->cap), 2) >= 0);
	zt_log_setup("intermediate", ZT_LOG_INFO);
	zt_log_set_rate(RATE);
	nh_world_init(&w->nw, f, policy);
	w->nw.icfg.reset_key = nh_reset_key;
	w->nw.icfg.reset_key_len = sizeof(nh_reset_key);
	w->nw.icfg.log = (struct zt_node_log){ .fn = node_log, .arg = w, .max_level = ZT_NODE_INFO };
	nh_world_start(&w->nw);
}

static void world_fini(struct world *w)
{
	nh_world_fini(&w->nw);
	fflush(stderr);
	dup2(w->saved_stderr, 2);
	close(w->saved_stderr);
	fclose(w->cap);
}

static void login_as_alice(struct world *w, const char *software)
{
	struct zt_ctrl_msg m;

	nh_raw_up(&w->nw.alice, w->nw.alice_tls, &w->nw.imd.addr);
	zt_ctrl_msg_init(&m, ZT_CTRL_HELLO);
	m.u.hello.role = ZT_CTRL_ROLE_AGENT;
	snprintf(m.u.hello.identity, sizeof(m.u.hello.identity), "alice");
	m.u.hello.token_len = 8;
	memcpy(m.u.hello.token, "pw-alice", 8);
	snprintf(m.u.hello.software, sizeof(m.u.hello.software), "%s", software);
	assert_int_equal(nh_raw_send(&w->nw.alice, &m), 0);
	assert_true(nh_wait_count(&w->nw.alice, ZT_CTRL_WELCOME, 1, 3 * ZT_SEC));
}

static void send_error(struct world *w, const char *text)
{
	struct zt_ctrl_msg m;

	zt_ctrl_msg_init(&m, ZT_CTRL_ERROR);
	m.u.error.code = 1507;
	snprintf(m.u.error.text, sizeof(m.u.error.text), "%s", text);
	assert_int_equal(nh_raw_send(&w->nw.alice, &m), 0);
}

/* Reads the captured log: every line must be ts= level= prog= event= k=v...; calls fn
 * with the fields of each. Returns the number of lines. */
static int read_lines(struct world *w, void (*fn)(struct lp_field *f, int n, void *arg), void *arg)
{
	static struct lp_field f[24];
	char line[4096];
	int count = 0, n;

	fflush(stderr);
	rewind(w->cap);
	while (fgets(line, sizeof(line), w->cap)) {
		line[strcspn(line, "\n")] = '\0';
		n = lp_parse(line, f, 24);
		if (n < 4 || strcmp(f[0].key, "ts") || strcmp(f[1].key, "level") ||
		    strcmp(f[2].key, "prog") || strcmp(f[3].key, "event"))
			fail_msg("not one well-formed log line: '%s'", line);
		for (int i = 4; i < n; i++)
			if (!strcmp(f[i].key, "event") || !strcmp(f[i].key, "level"))
				fail_msg("a forged field in '%s'", line);
		if (fn)
			fn(f, n, arg);
		count++;
	}
	return count;
}

static const char *field(struct lp_field *f, int n, const char *key, size_t *len)
{
	for (int i = 0; i < n; i++)
		if (!strcmp(f[i].key, key)) {
			*len = f[i].len;
			return f[i].val;
		}
	return NULL;
}

struct seen {
	int client_ready, peer_error;
};

static void forged_values_come_back(struct lp_field *f, int n, void *arg)
{
	struct seen *s = arg;
	size_t len = 0;
	const char *v;

	if (f[3].len == 12 && !memcmp(f[3].val, "client_ready", 12)) {
		v = field(f, n, "software", &len);
		assert_non_null(v);
		assert_int_equal(len, strlen(FORGED));
		assert_memory_equal(v, FORGED, len);
		s->client_ready++;
	} else if (f[3].len == 10 && !memcmp(f[3].val, "peer_error", 10)) {
		v = field(f, n, "text", &len);
		assert_non_null(v);
		assert_int_equal(len, strlen(FORGED));
		assert_memory_equal(v, FORGED, len);
		s->peer_error++;
	}
	assert_false(f[3].len == 6 && !memcmp(f[3].val, "forged", 6));
}

static void peer_strings_cannot_forge_log_lines(void **state)
{
	struct world w;
	struct seen s = { 0 };

	world_init(&w, *state);
	login_as_alice(&w, FORGED);
	send_error(&w, FORGED);
	nh_run_for(&w.nw.net, 100 * ZT_MS);
	assert_int_equal(read_lines(&w, forged_values_come_back, &s), (int)w.lines_logged);
	assert_int_equal(s.client_ready, 1);
	assert_int_equal(s.peer_error, 1);
	world_fini(&w);
}

struct flood {
	uint64_t printed, summarised, summaries;
};

static void count_flood(struct lp_field *f, int n, void *arg)
{
	struct flood *fl = arg;
	size_t len;
	const char *v;

	if (f[3].len == 10 && !memcmp(f[3].val, "peer_error", 10)) {
		fl->printed++;
	} else if (f[3].len == 14 && !memcmp(f[3].val, "log_suppressed", 14)) {
		v = field(f, n, "of", &len);
		assert_non_null(v);
		assert_memory_equal(v, "peer_error", 10);
		v = field(f, 3, "level", &len);
		assert_memory_equal(v, "warn", 4); /* a warning was among them */
		v = field(f, n, "count", &len);
		assert_non_null(v);
		fl->summarised += strtoull(v, NULL, 10);
		fl->summaries++;
	}
}

/*
 * One event repeated 3000 times by a core, as the node layer hands it to the program
 * (zt_node_logf -> node_log -> the sink): bounded lines, every line left out counted.
 * (The Intermediate core now also caps some per-connection lines itself; this is the
 * general guard behind every core's events.)
 */
static void a_flood_of_one_event_is_bounded(void **state)
{
	struct world w;
	struct flood fl = { 0 };
	struct zt_node_log nl = { .fn = node_log, .arg = &w, .max_level = ZT_NODE_INFO };
	uint64_t t0 = zt_clock_now(), secs;

	world_init(&w, *state);
	for (int i = 0; i < FLOOD; i++)
		zt_node_logf(&nl, i % 100 ? ZT_NODE_INFO : ZT_NODE_WARN, "peer_error",
			     "identity=%s code=%u text=\"%s\"", "ztna:agent:mallory", 1507u, "again");
	zt_log_flush(true);
	secs = (zt_clock_now() - t0) / ZT_SEC + 1;
	read_lines(&w, count_flood, &fl);
	print_message("# %" PRIu64 " peer_error lines logged; %" PRIu64 " written, %" PRIu64
		      " in %" PRIu64 " summaries, %" PRIu64 " s\n", w.lines_logged, fl.printed,
		      fl.summarised, fl.summaries, secs);
	assert_int_equal(w.lines_logged, FLOOD);
	assert_true(fl.printed <= RATE * (secs + 1));
	assert_int_equal(fl.printed + fl.summarised, FLOOD);
	world_fini(&w);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(peer_strings_cannot_forge_log_lines),
		cmocka_unit_test(a_flood_of_one_event_is_bounded),
	};
	return cmocka_run_group_tests(tests, nh_fixture_setup, nh_fixture_teardown);
}
