/*
 * Levelled, one-line-per-event logs in key=value form, to stderr.
 *
 *   ts=2026-11-22T08:00:00.123Z level=info prog=agent event=path_switch to=direct reason=nominated
 *
 * Only programs log; library code reports through return codes or a log callback,
 * which a program may point at zt_logv().
 *
 * Values are escaped (core/logfmt.h): every %s and %c argument is a value, written
 * bare when it is plain printable ASCII, else quoted with '"', '\', control and
 * non-ASCII bytes escaped; inside quotes the format wrote itself, only escaped. A
 * peer's string can neither break the line nor forge a field. So a %s argument must
 * never carry key=value text of its own: write the keys in the format.
 *
 * Repeated lines are rate-limited (core/lograte.h): at most zt_log_set_rate() lines
 * of one event name per second (default ZT_LOG_RATE_DEFAULT); the rest are counted
 * and summarised once the second is over, at the most severe level left out:
 *
 *   ts=... level=warn prog=intermediate event=log_suppressed of=open_refused count=4711 window_ms=1000
 *
 * With --log-format json each line is one JSON object of the same fields:
 *
 *   {"ts":"2026-11-22T08:00:00.123Z","level":"info","prog":"agent","event":"path_switch",...}
 */
#ifndef ZT_APP_LOG_H
#define ZT_APP_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

enum zt_log_level {
	ZT_LOG_ERROR = 0,
	ZT_LOG_WARN = 1,
	ZT_LOG_INFO = 2,
	ZT_LOG_DEBUG = 3,
	ZT_LOG_TRACE = 4,
};

/* Lines per event name and second before the rest are summarised (--log-rate). */
#define ZT_LOG_RATE_DEFAULT 100

/* Sets the program name shown as prog= and the most verbose level printed. */
void zt_log_setup(const char *prog, enum zt_log_level max_level);
/* Lines per event and second; 0: no limit. */
void zt_log_set_rate(unsigned per_sec);
/* fn(arg, at) is called when a summary of left-out lines is due at monotonic time at
 * (ns, io/clock.h): the program arms a timer then and calls zt_log_flush(false). Without
 * it, summaries come with the next line logged, or zt_log_flush(true) at exit. */
void zt_log_set_wakeup(void (*fn)(void *arg, uint64_t at), void *arg);
/* Writes the summaries due now (all: every pending one, at exit). */
void zt_log_flush(bool all);
/* The option --log-rate N: sets the rate, or returns ZT_ESYNTAX / ZT_ERANGE with *why
 * (app/conf.h's set() contract). */
int zt_log_set_rate_text(const char *v, const char **why);
/* The option --log-format text|json: key=value lines (the default) or one JSON object
 * per line (core/logfmt.h zt_logfmt_json: the same fields, integers as numbers).
 * Returns 0, or ZT_ESYNTAX with *why. */
int zt_log_set_format_text(const char *v, const char **why);
struct zt_loop;
/* Summaries on time from loop's timer (zt_log_set_wakeup done for the program);
 * detach (before the loop is freed) writes the pending ones. Detach without attach is
 * a no-op. */
void zt_log_attach(struct zt_loop *loop);
void zt_log_detach(void);
/* Lines left out by the rate limit so far. */
uint64_t zt_log_suppressed(void);
enum zt_log_level zt_log_level(void);
static inline int zt_log_enabled(enum zt_log_level level)
{
	return level <= zt_log_level();
}

/* Prints one line: the fixed fields, event=EVENT, then the formatted key=value text. */
void zt_log(enum zt_log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void zt_logv(enum zt_log_level level, const char *event, const char *fmt, va_list ap);
/* Prints one line whose key=value text was formatted by core/logfmt.h already (the
 * node layer's zt_node_logf): written as is, control bytes escaped once more. */
void zt_log_kv(enum zt_log_level level, const char *event, const char *kv);

#define zt_err(ev, ...) zt_log(ZT_LOG_ERROR, ev, __VA_ARGS__)
#define zt_warn(ev, ...) zt_log(ZT_LOG_WARN, ev, __VA_ARGS__)
#define zt_info(ev, ...) zt_log(ZT_LOG_INFO, ev, __VA_ARGS__)
#define zt_debug(ev, ...) \
	do { if (zt_log_enabled(ZT_LOG_DEBUG)) zt_log(ZT_LOG_DEBUG, ev, __VA_ARGS__); } while (0)
#define zt_trace(ev, ...) \
	do { if (zt_log_enabled(ZT_LOG_TRACE)) zt_log(ZT_LOG_TRACE, ev, __VA_ARGS__); } while (0)

#endif
