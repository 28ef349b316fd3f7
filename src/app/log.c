#include <stdio.h>
#include <string.h>
#include <time.h>

#include "io/clock.h"
#include "app/log.h"

static const char *log_prog = "ztna";
static enum zt_log_level log_max = ZT_LOG_INFO;

static const char *const level_names[] = {
	[ZT_LOG_ERROR] = "error",
	[ZT_LOG_WARN] = "warn",
	[ZT_LOG_INFO] = "info",
	[ZT_LOG_DEBUG] = "debug",
	[ZT_LOG_TRACE] = "trace",
};

void zt_log_setup(const char *prog, enum zt_log_level max_level)
{
	log_prog = prog;
	log_max = max_level;
}

enum zt_log_level zt_log_level(void)
{
	return log_max;
}

void zt_logv(enum zt_log_level level, const char *event, const char *fmt, va_list ap)
{
	char line[2048];
	uint64_t wall;
	time_t secs;
	struct tm tm;
	int n, m;

	if (level > log_max)
		return;
	wall = zt_clock_wall();
	secs = (time_t)(wall / 1000000000ULL);
	gmtime_r(&secs, &tm);
	n = snprintf(line, sizeof(line),
		     "ts=%04d-%02d-%02dT%02d:%02d:%02d.%03uZ level=%s prog=%s event=%s",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, (unsigned)(wall / 1000000ULL % 1000), level_names[level],
		     log_prog, event);
	if (n < 0 || (size_t)n >= sizeof(line) - 2)
		n = (int)sizeof(line) - 2;
	if (fmt && *fmt) {
		line[n++] = ' ';
		m = vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
		if (m > 0)
			n += m < (int)(sizeof(line) - (size_t)n - 1) ? m : (int)(sizeof(line) - (size_t)n - 2);
	}
	line[n++] = '\n';
	/* one write per line so lines from several processes do not interleave */
	fwrite(line, 1, (size_t)n, stderr);
	fflush(stderr);
}

void zt_log(enum zt_log_level level, const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	zt_logv(level, event, fmt, ap);
	va_end(ap);
}
