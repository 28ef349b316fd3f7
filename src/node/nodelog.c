#include <stdarg.h>
#include <stdio.h>

#include "core/logfmt.h"
#include "node/nodelog.h"

void zt_node_logf(const struct zt_node_log *log, enum zt_node_level level, const char *event,
		  const char *fmt, ...)
{
	char kv[1024];
	va_list ap;

	if (!log || !log->fn || level > log->max_level)
		return;
	va_start(ap, fmt);
	zt_logfmt_v(kv, sizeof(kv), fmt, ap); /* values escaped: core/logfmt.h */
	va_end(ap);
	log->fn(log->arg, level, event, kv);
}
