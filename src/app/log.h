/*
 * Levelled, one-line-per-event logs in key=value form, to stderr.
 *
 *   ts=2026-11-22T08:00:00.123Z level=info prog=agent event=path_switch to=direct reason=nominated
 *
 * Only programs log; library code reports through return codes or a log callback,
 * which a program may point at zt_logv().
 */
#ifndef ZT_APP_LOG_H
#define ZT_APP_LOG_H

#include <stdarg.h>

enum zt_log_level {
	ZT_LOG_ERROR = 0,
	ZT_LOG_WARN = 1,
	ZT_LOG_INFO = 2,
	ZT_LOG_DEBUG = 3,
	ZT_LOG_TRACE = 4,
};

/* Sets the program name shown as prog= and the most verbose level printed. */
void zt_log_setup(const char *prog, enum zt_log_level max_level);
enum zt_log_level zt_log_level(void);
static inline int zt_log_enabled(enum zt_log_level level)
{
	return level <= zt_log_level();
}

/* Prints one line: the fixed fields, event=EVENT, then the formatted key=value text. */
void zt_log(enum zt_log_level level, const char *event, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void zt_logv(enum zt_log_level level, const char *event, const char *fmt, va_list ap);

#define zt_err(ev, ...) zt_log(ZT_LOG_ERROR, ev, __VA_ARGS__)
#define zt_warn(ev, ...) zt_log(ZT_LOG_WARN, ev, __VA_ARGS__)
#define zt_info(ev, ...) zt_log(ZT_LOG_INFO, ev, __VA_ARGS__)
#define zt_debug(ev, ...) \
	do { if (zt_log_enabled(ZT_LOG_DEBUG)) zt_log(ZT_LOG_DEBUG, ev, __VA_ARGS__); } while (0)
#define zt_trace(ev, ...) \
	do { if (zt_log_enabled(ZT_LOG_TRACE)) zt_log(ZT_LOG_TRACE, ev, __VA_ARGS__); } while (0)

#endif
