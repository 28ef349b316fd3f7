/*
 * Repeated log lines, rate-limited: at most per_sec lines of one event (by name) in
 * each one-second window are written; the rest are counted, and when the window ends
 * one summary says how many were left out and the most severe level among them, so
 * a flood of one event costs per_sec + 1 lines a second and nothing (a warning or an
 * error included) disappears without a count. Sans-IO: the time comes in.
 *
 * Events are tracked in ZT_LOGRATE_SLOTS slots; when more distinct events than that
 * are active in one second, the extra ones share one slot (named "other").
 *
 * Use: before each line, take the summaries due (zt_lograte_poll while
 * now >= zt_lograte_next_due()), write them, then ask zt_lograte_allow(). At exit,
 * zt_lograte_poll(r, UINT64_MAX, ...) takes every pending summary.
 */
#ifndef ZT_CORE_LOGRATE_H
#define ZT_CORE_LOGRATE_H

#include <stdbool.h>
#include <stdint.h>

#define ZT_LOGRATE_SLOTS 64
#define ZT_LOGRATE_EVENT_MAX 48
#define ZT_LOGRATE_WINDOW 1000000000ULL /* ns */

struct zt_lograte_slot {
	char event[ZT_LOGRATE_EVENT_MAX];
	uint64_t start;       /* the window's start */
	uint64_t lines;       /* written in this window */
	uint64_t suppressed;  /* left out in this window */
	int worst;            /* most severe (smallest) level left out */
};

struct zt_lograte {
	unsigned per_sec;     /* 0: no limit */
	uint64_t next_due;    /* earliest end of a window with lines left out */
	uint64_t suppressed_total;
	struct zt_lograte_slot slots[ZT_LOGRATE_SLOTS];
};

#define ZT_LOGRATE_INIT(n) { .per_sec = (n), .next_due = UINT64_MAX }

struct zt_lograte_summary {
	char event[ZT_LOGRATE_EVENT_MAX];
	uint64_t count;       /* lines of event left out */
	int level;            /* the most severe level among them */
};

/* Sets up r with a limit of per_sec lines per event and second (0: none). */
void zt_lograte_init(struct zt_lograte *r, unsigned per_sec);

/* True if a line of event at level may be written at now; false: it is counted. */
bool zt_lograte_allow(struct zt_lograte *r, uint64_t now, const char *event, int level);

/* The earliest time a summary is due (UINT64_MAX: none). */
static inline uint64_t zt_lograte_next_due(const struct zt_lograte *r)
{
	return r->next_due;
}

/* Takes one summary whose window ended by now (UINT64_MAX: every pending one) into
 * *ret. Returns true if there was one; call until false. */
bool zt_lograte_poll(struct zt_lograte *r, uint64_t now, struct zt_lograte_summary *ret);

#endif
