#include <stdio.h>
#include <string.h>

#include "core/lograte.h"

#define OVERFLOW_SLOT (ZT_LOGRATE_SLOTS - 1)

void zt_lograte_init(struct zt_lograte *r, unsigned per_sec)
{
	*r = (struct zt_lograte)ZT_LOGRATE_INIT(per_sec);
}

static uint32_t hash(const char *s)
{
	uint32_t h = 2166136261u; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 16777619u;
	return h;
}

static bool idle(const struct zt_lograte_slot *s, uint64_t now)
{
	return !s->event[0] || (!s->suppressed && now - s->start >= ZT_LOGRATE_WINDOW);
}

/* The slot of event: its own, a free or idle one, or the shared overflow slot. */
static struct zt_lograte_slot *find(struct zt_lograte *r, uint64_t now, const char *event)
{
	uint32_t h = hash(event) % OVERFLOW_SLOT;
	struct zt_lograte_slot *free_slot = NULL, *s;

	for (uint32_t i = 0; i < OVERFLOW_SLOT; i++) {
		s = &r->slots[(h + i) % OVERFLOW_SLOT];
		if (s->event[0] && !strncmp(s->event, event, sizeof(s->event) - 1))
			return s;
		if (!free_slot && idle(s, now))
			free_slot = s;
		if (!s->event[0])
			break; /* never used: event is not further on */
	}
	s = free_slot ? free_slot : &r->slots[OVERFLOW_SLOT];
	if (s == free_slot || !s->event[0]) {
		*s = (struct zt_lograte_slot){ .start = now };
		snprintf(s->event, sizeof(s->event), "%s", s == free_slot ? event : "other");
	}
	return s;
}

bool zt_lograte_allow(struct zt_lograte *r, uint64_t now, const char *event, int level)
{
	struct zt_lograte_slot *s;

	if (!r->per_sec)
		return true;
	s = find(r, now, event);
	if (now - s->start >= ZT_LOGRATE_WINDOW) {
		/* A new window; a count not taken by zt_lograte_poll stays in the total. */
		s->start = now;
		s->lines = 0;
		s->suppressed = 0;
	}
	if (s->lines < r->per_sec) {
		s->lines++;
		return true;
	}
	if (!s->suppressed || level < s->worst)
		s->worst = level;
	if (!s->suppressed++ && s->start + ZT_LOGRATE_WINDOW < r->next_due)
		r->next_due = s->start + ZT_LOGRATE_WINDOW;
	r->suppressed_total++;
	return false;
}

bool zt_lograte_poll(struct zt_lograte *r, uint64_t now, struct zt_lograte_summary *ret)
{
	struct zt_lograte_slot *found = NULL;
	uint64_t due = UINT64_MAX;

	if (now < r->next_due)
		return false;
	for (size_t i = 0; i < ZT_LOGRATE_SLOTS; i++) {
		struct zt_lograte_slot *s = &r->slots[i];
		uint64_t end = s->start + ZT_LOGRATE_WINDOW;
		if (!s->suppressed)
			continue;
		if (!found && (now == UINT64_MAX || end <= now))
			found = s;
		else if (end < due)
			due = end;
	}
	r->next_due = due;
	if (!found)
		return false;
	memcpy(ret->event, found->event, sizeof(ret->event));
	ret->count = found->suppressed;
	ret->level = found->worst;
	found->suppressed = 0;
	return true;
}
