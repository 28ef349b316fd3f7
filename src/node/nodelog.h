/*
 * Logging from the node layer: the state machines never print; they format one
 * key=value line and hand it to the program's callback (which may point at
 * app/log.h's zt_log). Levels have the same numbers as app/log.h's.
 */
#ifndef ZT_NODE_NODELOG_H
#define ZT_NODE_NODELOG_H

enum zt_node_level {
	ZT_NODE_ERROR = 0,
	ZT_NODE_WARN = 1,
	ZT_NODE_INFO = 2,
	ZT_NODE_DEBUG = 3,
	ZT_NODE_TRACE = 4,
};

struct zt_node_log {
	/* One event: level, event name ("session_open"), the rest as "k=v k=v". */
	void (*fn)(void *arg, enum zt_node_level level, const char *event, const char *kv);
	void *arg;
	enum zt_node_level max_level; /* lines above this level are not even formatted */
};

/* Formats (core/logfmt.h: every %s and %c is an escaped value, so kv is one line of
 * printable ASCII) and delivers one line; does nothing without fn or above max_level. */
void zt_node_logf(const struct zt_node_log *log, enum zt_node_level level, const char *event,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif
