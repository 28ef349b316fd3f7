/*
 * What a node's sessions did with their direct paths, summed over every session it
 * ever had (node/direct.c counts into the node's; the metrics endpoint shows them,
 * docs/metrics.md): ICE generations and those that ended without a direct path,
 * moves onto a direct path, moves back to the relay by reason, and the time to direct
 * of each session that got there, as a histogram. Plain counters, one thread.
 */
#ifndef ZT_NODE_PATHCOUNT_H
#define ZT_NODE_PATHCOUNT_H

#include <stdbool.h>
#include <stdint.h>

/* Why a session went back to the relay (the path manager's and the direct path's
 * reasons, docs/direct-path.md). */
enum zt_path_why {
	ZT_PATH_WHY_CONSENT_LOST,       /* "consent-lost": checks on the pair unanswered */
	ZT_PATH_WHY_DATA_STALLED,       /* "data-stalled" */
	ZT_PATH_WHY_PEER_DID_NOT_FOLLOW, /* "peer-did-not-follow" */
	ZT_PATH_WHY_PATH_MTU,           /* "path-mtu" */
	ZT_PATH_WHY_VALIDATION_FAILED,  /* "path-validation-failed" */
	ZT_PATH_WHY_PEER_FELL_BACK,     /* "agent-fell-back": the connector followed */
	ZT_PATH_WHY_OTHER,
	ZT_PATH_WHY_MAX
};

/* The histogram's upper bounds, seconds. */
#define ZT_PATH_TTD_BUCKETS 9
extern const double zt_path_ttd_le[ZT_PATH_TTD_BUCKETS];

struct zt_path_counts {
	uint64_t ice_started;                /* ICE generations begun (agent) */
	uint64_t ice_failed;                 /* ... that found no pair, or whose pair the
						move to could not use (agent) */
	uint64_t to_direct;                  /* moves onto a direct path */
	uint64_t to_relay[ZT_PATH_WHY_MAX];  /* moves back to the relay, by reason */
	uint64_t ttd_count;                  /* sessions that went direct */
	uint64_t ttd_le[ZT_PATH_TTD_BUCKETS]; /* ... within zt_path_ttd_le[i] (cumulative) */
	uint64_t ttd_sum_ns;                 /* their times to direct, summed */
};

/* The reason's index for a reason text (unknown texts: ZT_PATH_WHY_OTHER), its name. */
enum zt_path_why zt_path_why_of(const char *reason);
const char *zt_path_why_name(enum zt_path_why w);

/* A move carried out: onto a direct path, or back to the relay for reason. c may be
 * NULL (not counted). */
void zt_path_count_switch(struct zt_path_counts *c, bool direct, const char *reason);
/* A session's first direct path, ns after its first ICE start. */
void zt_path_count_ttd(struct zt_path_counts *c, uint64_t ns);

#endif
