/* A node's direct-path counters (pathcount.h). */
#include <stddef.h>
#include <string.h>

#include "core/units.h"
#include "node/pathcount.h"

const double zt_path_ttd_le[ZT_PATH_TTD_BUCKETS] = { 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30 };

static const char *const why_names[ZT_PATH_WHY_MAX] = {
	[ZT_PATH_WHY_CONSENT_LOST] = "consent-lost",
	[ZT_PATH_WHY_DATA_STALLED] = "data-stalled",
	[ZT_PATH_WHY_PEER_DID_NOT_FOLLOW] = "peer-did-not-follow",
	[ZT_PATH_WHY_PATH_MTU] = "path-mtu",
	[ZT_PATH_WHY_VALIDATION_FAILED] = "path-validation-failed",
	[ZT_PATH_WHY_PEER_FELL_BACK] = "agent-fell-back",
	[ZT_PATH_WHY_OTHER] = "other",
};

enum zt_path_why zt_path_why_of(const char *reason)
{
	for (int w = 0; w < ZT_PATH_WHY_OTHER; w++)
		if (reason && !strcmp(reason, why_names[w]))
			return (enum zt_path_why)w;
	return ZT_PATH_WHY_OTHER;
}

const char *zt_path_why_name(enum zt_path_why w)
{
	return (unsigned)w < ZT_PATH_WHY_MAX ? why_names[w] : "other";
}

void zt_path_count_switch(struct zt_path_counts *c, bool direct, const char *reason)
{
	if (!c)
		return;
	if (direct)
		c->to_direct++;
	else
		c->to_relay[zt_path_why_of(reason)]++;
}

void zt_path_count_ttd(struct zt_path_counts *c, uint64_t ns)
{
	if (!c)
		return;
	c->ttd_count++;
	c->ttd_sum_ns += ns;
	for (int i = 0; i < ZT_PATH_TTD_BUCKETS; i++)
		if ((double)ns <= zt_path_ttd_le[i] * (double)ZT_SEC)
			c->ttd_le[i]++;
}
