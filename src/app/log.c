#include <stdio.h>
#include <string.h>
#include <time.h>

#include "app/log.h"
#include "core/err.h"
#include "core/logfmt.h"
#include "core/lograte.h"
#include "core/units.h"
#include "io/clock.h"
#include "io/loop.h"

static const char *log_prog = "ztna";
static enum zt_log_level log_max = ZT_LOG_INFO;
static struct zt_lograte log_rate = ZT_LOGRATE_INIT(ZT_LOG_RATE_DEFAULT);
static void (*log_wake)(void *arg, uint64_t at);
static bool log_json; /* --log-format json */
/* A 2 KiB line as JSON: each byte at most 6 (\\u00XX), and the keys' quotes. */
#define ZT_LOG_JSON_MAX 8192
static void *log_wake_arg;
static uint64_t log_wake_at = UINT64_MAX; /* the last time log_wake was asked for */
static struct zt_loop *log_loop;           /* zt_log_attach's */
static struct zt_timer log_timer;

static const char *const level_names[] = {
	[ZT_LOG_ERROR] = "error",
	[ZT_LOG_WARN] = "warn",
	[ZT_LOG_INFO] = "info",
	[ZT_LOG_DEBUG] = "debug",
	[ZT_LOG_TRACE] = "trace",
};

int zt_log_set_format_text(const char *v, const char **why)
{
	if (strcmp(v, "text") && strcmp(v, "json")) {
		*why = "text or json";
		return ZT_ESYNTAX;
	}
	log_json = !strcmp(v, "json");
	return 0;
}

void zt_log_setup(const char *prog, enum zt_log_level max_level)
{
	log_prog = prog;
	log_max = max_level;
}

enum zt_log_level zt_log_level(void)
{
	return log_max;
}

void zt_log_set_rate(unsigned per_sec)
{
	/* the same rate again (a reload reads the settings anew): its windows and the
	 * counts of lines left out are kept, not lost */
	if (log_rate.per_sec == per_sec)
		return;
	zt_lograte_init(&log_rate, per_sec);
}

void zt_log_set_wakeup(void (*fn)(void *arg, uint64_t at), void *arg)
{
	log_wake = fn;
	log_wake_arg = arg;
}

int zt_log_set_rate_text(const char *v, const char **why)
{
	uint64_t n;
	int rc = zt_units_size(v, &n);

	if (rc < 0 || n > 1000000) {
		*why = "a number of lines per second, 0 for no limit (at most 1M)";
		return rc < 0 ? rc : ZT_ERANGE;
	}
	zt_log_set_rate((unsigned)n);
	return 0;
}

static void on_log_timer(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	(void)loop;
	(void)t;
	(void)now;
	zt_log_flush(false);
}

static void log_timer_wake(void *arg, uint64_t at)
{
	(void)arg;
	zt_timer_set(log_loop, &log_timer, at);
}

void zt_log_attach(struct zt_loop *loop)
{
	log_loop = loop;
	zt_timer_init(&log_timer, on_log_timer, NULL);
	log_wake_at = UINT64_MAX;
	zt_log_set_wakeup(log_timer_wake, NULL);
}

void zt_log_detach(void)
{
	if (!log_loop)
		return;
	zt_log_set_wakeup(NULL, NULL);
	zt_timer_cancel(log_loop, &log_timer);
	log_loop = NULL;
	zt_log_flush(true);
}

uint64_t zt_log_suppressed(void)
{
	return log_rate.suppressed_total;
}

/* ts=... level=... prog=... event=...: the event name is the caller's, but only
 * [A-Za-z0-9_.-] of it is written (anything else becomes '_'). */
static size_t header(char *line, size_t cap, enum zt_log_level level, const char *event)
{
	uint64_t wall = zt_clock_wall();
	time_t secs = (time_t)(wall / 1000000000ULL);
	struct tm tm;
	int n;

	gmtime_r(&secs, &tm);
	n = snprintf(line, cap, "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03uZ level=%s prog=%s event=",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, (unsigned)(wall / 1000000ULL % 1000), level_names[level], log_prog);
	if (n < 0 || (size_t)n >= cap)
		return 0;
	for (const char *e = event; *e && (size_t)n < cap - 1 && e - event < 64; e++) {
		char c = *e;
		bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
			  c == '_' || c == '.' || c == '-';
		line[n++] = ok ? c : '_';
	}
	line[n] = '\0';
	return (size_t)n;
}

static void emit(char *line, size_t n)
{
	char json[ZT_LOG_JSON_MAX];

	if (log_json) {
		n = zt_logfmt_json(json, sizeof(json) - 1, line, n);
		line = json;
	}
	line[n++] = '\n';
	/* one write per line so lines from several processes do not interleave */
	fwrite(line, 1, n, stderr);
	fflush(stderr);
}

static void summaries(uint64_t now)
{
	struct zt_lograte_summary s;
	char line[256];
	size_t n;

	while (zt_lograte_poll(&log_rate, now, &s)) {
		enum zt_log_level lv = s.level >= ZT_LOG_ERROR && s.level <= ZT_LOG_TRACE ? s.level
											: ZT_LOG_ERROR;
		n = header(line, sizeof(line) - 1, lv, "log_suppressed");
		n += (size_t)snprintf(line + n, sizeof(line) - 1 - n, " of=%s count=%llu window_ms=%llu",
				      s.event, (unsigned long long)s.count,
				      (unsigned long long)(ZT_LOGRATE_WINDOW / 1000000ULL));
		emit(line, n < sizeof(line) - 1 ? n : sizeof(line) - 2);
	}
}

/* Asks the program for a wake-up when the next summary is due (once per time). */
static void want_wake(void)
{
	uint64_t due = zt_lograte_next_due(&log_rate);

	if (log_wake && due != UINT64_MAX && due != log_wake_at) {
		log_wake_at = due;
		log_wake(log_wake_arg, due);
	}
}

/* The rate limit: summaries due first, then whether this line may go. */
static bool admit(enum zt_log_level level, const char *event)
{
	uint64_t now = zt_clock_now();

	if (now >= zt_lograte_next_due(&log_rate))
		summaries(now);
	if (zt_lograte_allow(&log_rate, now, event, (int)level))
		return true;
	want_wake();
	return false;
}

void zt_log_flush(bool all)
{
	summaries(all ? UINT64_MAX : zt_clock_now());
	want_wake();
}

void zt_logv(enum zt_log_level level, const char *event, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n;

	if (level > log_max || !admit(level, event))
		return;
	n = header(line, sizeof(line) - 1, level, event);
	if (fmt && *fmt) {
		line[n++] = ' ';
		n += zt_logfmt_v(line + n, sizeof(line) - 1 - n, fmt, ap);
	}
	emit(line, n);
}

void zt_log(enum zt_log_level level, const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	zt_logv(level, event, fmt, ap);
	va_end(ap);
}

void zt_log_kv(enum zt_log_level level, const char *event, const char *kv)
{
	char line[2048];
	size_t n;

	if (level > log_max || !admit(level, event))
		return;
	n = header(line, sizeof(line) - 1, level, event);
	if (kv && *kv && n < sizeof(line) - 2) {
		line[n++] = ' ';
		/* Formatted by zt_logfmt already; control bytes are escaped once more in case
		 * a caller handed raw text. */
		for (; *kv && n < sizeof(line) - 5; kv++) {
			unsigned char c = (unsigned char)*kv;
			if (c < 0x20 || c == 0x7f)
				n += (size_t)snprintf(line + n, 5, "\\x%02x", c);
			else
				line[n++] = (char)c;
		}
	}
	emit(line, n);
}
