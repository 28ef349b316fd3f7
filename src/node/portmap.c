/* Port-mapping client: PCP, then NAT-PMP (portmap.h, docs/portmap.md). */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/units.h"
#include "node/portmap.h"

#define DEF_LIFETIME 7200          /* s, RFC 6886 s3.3's recommendation */
#define DEF_RTO (250 * ZT_MS)
#define DEF_TRIES 3
#define DEF_RENEW_MAX (60 * ZT_SEC)
#define DEF_RETRY (5 * ZT_MIN)
#define DEF_MAX_LIFETIME 86400     /* s */
#define MIN_LIFETIME 10            /* s: shorter grants are refused */
#define RENEW_MIN (5 * ZT_SEC)     /* a restart re-asks no sooner after the last request */
#define RENEW_RETRY (10 * ZT_SEC)  /* a renewal without answer is tried again after */
#define SHORT_ERROR_RETRY (30 * ZT_SEC)
#define LONG_ERROR_RETRY (30 * ZT_MIN)
#define ERROR_RETRY_MAX (24 * ZT_HOUR)

enum proto { P_PCP, P_NATPMP };
enum exchange { EX_NONE, EX_PCP_MAP, EX_NATPMP_ADDR, EX_NATPMP_MAP };

struct zt_portmap {
	struct zt_portmap_config cfg;
	enum zt_portmap_state state;
	enum proto proto;
	uint8_t nonce[ZT_PCP_NONCE_LEN];
	/* the exchange in flight (one at a time) */
	enum exchange ex;
	unsigned sent;               /* its tries so far */
	bool due;                    /* a try waits for poll_send */
	uint64_t ex_next;            /* the next try, or the give-up after the last */
	uint64_t ex_started;         /* its first try */
	bool map_sent;               /* a map request went out: a mapping may exist */
	/* the mapping */
	struct zt_addr external;     /* family 0: none */
	struct zt_addr natpmp_ip;    /* NAT-PMP: from the external address answer */
	uint32_t lifetime;
	uint64_t renew_at, expires_at, retry_at;
	bool changed;                /* for poll_change */
	/* the gateway's epoch, as last seen */
	bool have_epoch;
	uint32_t epoch;
	uint64_t epoch_at;
	bool delete_due;
	struct zt_addr deleting;     /* the mapping the delete is for (family 0: unknown) */
	struct zt_portmap_stats st;
	int last_error;
	char last_error_text[96];
	uint64_t last_error_at;
};

#define PLOG(pm, lvl, ev, ...) zt_node_logf((pm)->cfg.log, lvl, ev, __VA_ARGS__)

static const char *proto_name(const struct zt_portmap *pm)
{
	return pm->proto == P_PCP ? "pcp" : "natpmp";
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t max_u64(uint64_t a, uint64_t b)
{
	return a > b ? a : b;
}

static bool family_ok(const struct zt_addr *a)
{
	return a->family == AF_INET || a->family == AF_INET6;
}

static void discover(struct zt_portmap *pm, uint64_t now);

int zt_portmap_new(struct zt_portmap **ret, const struct zt_portmap_config *cfg, uint64_t now)
{
	struct zt_portmap *pm;

	if (!family_ok(&cfg->gateway) || cfg->gateway.family != cfg->local.family ||
	    zt_addr_is_any(&cfg->local) || !cfg->local.port || !cfg->rng)
		return -EINVAL;
	pm = calloc(1, sizeof(*pm));
	if (!pm)
		return -ENOMEM;
	pm->cfg = *cfg;
	pm->cfg.gateway.port = ZT_PCP_PORT;
	if (!pm->cfg.lifetime)
		pm->cfg.lifetime = DEF_LIFETIME;
	if (!pm->cfg.rto)
		pm->cfg.rto = DEF_RTO;
	if (!pm->cfg.tries)
		pm->cfg.tries = DEF_TRIES;
	if (pm->cfg.tries > 10)
		pm->cfg.tries = 10; /* rto << (tries - 1) stays sane */
	if (!pm->cfg.renew_max)
		pm->cfg.renew_max = DEF_RENEW_MAX;
	if (!pm->cfg.retry)
		pm->cfg.retry = DEF_RETRY;
	if (!pm->cfg.max_lifetime)
		pm->cfg.max_lifetime = DEF_MAX_LIFETIME;
	/* RFC 6887 s11.1: a random nonce, the same for the mapping's life */
	zt_rng_fill(cfg->rng, pm->nonce, sizeof(pm->nonce));
	discover(pm, now);
	*ret = pm;
	return 0;
}

void zt_portmap_free(struct zt_portmap *pm)
{
	free(pm);
}

/* ---- exchanges ---- */

static void begin(struct zt_portmap *pm, uint64_t now, enum exchange ex)
{
	pm->ex = ex;
	pm->sent = 0;
	pm->due = true;
	pm->ex_next = now;
	pm->ex_started = now;
}

static void discover(struct zt_portmap *pm, uint64_t now)
{
	pm->state = ZT_PORTMAP_PROBING;
	pm->proto = pm->cfg.mode == ZT_PORTMAP_NATPMP ? P_NATPMP : P_PCP;
	pm->have_epoch = false;
	begin(pm, now, pm->proto == P_PCP ? EX_PCP_MAP : EX_NATPMP_ADDR);
}

static void renew(struct zt_portmap *pm, uint64_t now)
{
	begin(pm, now, pm->proto == P_PCP ? EX_PCP_MAP : EX_NATPMP_ADDR);
}

static void set_error(struct zt_portmap *pm, uint64_t now, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void set_error(struct zt_portmap *pm, uint64_t now, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(pm->last_error_text, sizeof(pm->last_error_text), fmt, ap);
	va_end(ap);
	pm->last_error = err;
	pm->last_error_at = now;
}

static void drop_mapping(struct zt_portmap *pm)
{
	if (pm->external.family)
		pm->changed = true;
	pm->external = (struct zt_addr){ 0 };
	pm->lifetime = 0;
}

/* Gives up for now: no mapping, ask again after `after`. */
static void unavailable(struct zt_portmap *pm, uint64_t now, uint64_t after)
{
	char gw[ZT_ADDR_STRLEN];

	if (pm->state == ZT_PORTMAP_MAPPED)
		pm->st.lost++;
	drop_mapping(pm);
	pm->state = ZT_PORTMAP_UNAVAILABLE;
	pm->ex = EX_NONE;
	pm->map_sent = false; /* refused or unanswered: nothing to delete */
	pm->retry_at = now + after;
	PLOG(pm, ZT_NODE_INFO, "portmap_unavailable",
	     "gateway=%s error=\"%s\" retry_in_s=%" PRIu64, zt_addr_str(&pm->cfg.gateway, gw),
	     pm->last_error_text, (uint64_t)(after / ZT_SEC));
}

/* RFC 6887 s9: the gateway does not speak PCP version 2. */
static void version_fallback(struct zt_portmap *pm, uint64_t now, const char *why)
{
	if (pm->cfg.mode != ZT_PORTMAP_AUTO) {
		set_error(pm, now, ZT_EPEER, "no PCP version 2 at the gateway (%s)", why);
		unavailable(pm, now, LONG_ERROR_RETRY);
		return;
	}
	pm->st.fallbacks++;
	pm->proto = P_NATPMP;
	pm->map_sent = false; /* PCP made no mapping */
	pm->have_epoch = false;
	PLOG(pm, ZT_NODE_DEBUG, "portmap_fallback", "to=natpmp reason=%s", why);
	begin(pm, now, EX_NATPMP_ADDR);
}

static void no_answer(struct zt_portmap *pm, uint64_t now)
{
	char gw[ZT_ADDR_STRLEN];

	pm->st.timeouts++;
	pm->ex = EX_NONE;
	if (pm->state == ZT_PORTMAP_MAPPED) {
		/* a renewal: try again until the mapping runs out (on_timeout loses it) */
		pm->renew_at = now + RENEW_RETRY;
		return;
	}
	if (pm->proto == P_PCP && pm->cfg.mode == ZT_PORTMAP_AUTO) {
		version_fallback(pm, now, "no-answer");
		return;
	}
	set_error(pm, now, ZT_ETIMEOUT, "no answer from %s",
		  zt_addr_str(&pm->cfg.gateway, gw));
	unavailable(pm, now, pm->cfg.retry);
}

/* RFC 6887 s7.4: short-lifetime errors may clear soon; the others need a change at
 * the gateway. NAT-PMP (RFC 6886 s3.5) has the same two kinds without the lifetime. */
static bool short_error(unsigned version, unsigned result)
{
	if (version == ZT_NATPMP_VERSION)
		return result == ZT_NATPMP_NETWORK_FAILURE || result == ZT_NATPMP_NO_RESOURCES;
	return result == ZT_PCP_NETWORK_FAILURE || result == ZT_PCP_NO_RESOURCES ||
	       result == ZT_PCP_USER_EX_QUOTA || result == ZT_PCP_CANNOT_PROVIDE_EXTERNAL;
}

static void refused(struct zt_portmap *pm, uint64_t now, const struct zt_pcp_answer *a)
{
	uint64_t after = (uint64_t)a->lifetime * ZT_SEC;

	pm->st.refused++;
	after = max_u64(after, short_error(a->version, a->result) ? SHORT_ERROR_RETRY
								    : LONG_ERROR_RETRY);
	set_error(pm, now, ZT_EPEER, "%s %s", proto_name(pm),
		  zt_pcp_result_name(a->version, a->result));
	unavailable(pm, now, min_u64(after, ERROR_RETRY_MAX));
}

/* A mapping granted (a first one, a renewal, or an update from the gateway). */
static void granted(struct zt_portmap *pm, uint64_t now, const struct zt_addr *ext,
		    uint32_t lifetime)
{
	char a[ZT_ADDR_STRLEN];

	if (ext->family != pm->cfg.local.family || zt_addr_is_any(ext) || !ext->port) {
		pm->st.malformed++; /* no usable address: as if it had not come */
		return;
	}
	if (lifetime < MIN_LIFETIME) {
		pm->st.refused++;
		set_error(pm, now, ZT_EPEER, "%s granted %" PRIu32 " s, under %u s", proto_name(pm),
			  lifetime, MIN_LIFETIME);
		unavailable(pm, now, SHORT_ERROR_RETRY);
		return;
	}
	if (lifetime > pm->cfg.max_lifetime) {
		pm->st.clamped++;
		lifetime = pm->cfg.max_lifetime;
	}
	pm->st.mapped++;
	if (!zt_addr_equal(ext, &pm->external)) {
		pm->st.changed += pm->external.family != 0;
		pm->changed = true;
		PLOG(pm, ZT_NODE_INFO, "portmap_mapped", "protocol=%s external=%s lifetime_s=%" PRIu32,
		     proto_name(pm), zt_addr_str(ext, a), lifetime);
	}
	pm->external = *ext;
	pm->lifetime = lifetime;
	pm->state = ZT_PORTMAP_MAPPED;
	pm->ex = EX_NONE;
	pm->expires_at = now + (uint64_t)lifetime * ZT_SEC;
	/* RFC 6887 s11.2.1, RFC 6886 s3.3: at half the lifetime; and often enough to see a
	 * gateway that lost its state (its ANNOUNCEs are multicast, not for us) */
	pm->renew_at = now + min_u64((uint64_t)lifetime * ZT_SEC / 2, pm->cfg.renew_max);
}

/* Checks the epoch of an answer we took (RFC 6887 s8.5, RFC 6886 s3.6). Returns true
 * when it says the gateway lost its state since the previous one. */
static bool restarted(struct zt_portmap *pm, uint64_t now, const struct zt_pcp_answer *a)
{
	bool valid = true;
	uint64_t secs = now > pm->epoch_at ? (now - pm->epoch_at) / ZT_SEC : 0;

	if (pm->have_epoch)
		valid = a->version == ZT_NATPMP_VERSION ? zt_natpmp_epoch_valid(pm->epoch, a->epoch, secs)
							: zt_pcp_epoch_valid(pm->epoch, a->epoch, secs);
	pm->have_epoch = true;
	pm->epoch = a->epoch;
	pm->epoch_at = now;
	if (!valid) {
		pm->st.restarts++;
		PLOG(pm, ZT_NODE_WARN, "portmap_gateway_restarted", "protocol=%s epoch=%" PRIu32
		     " note=\"its mappings are lost: asking again\"", proto_name(pm), a->epoch);
	}
	return !valid;
}

/* The gateway lost its state and this answer did not map us again: ask again, no
 * sooner than RENEW_MIN after the previous request (a gateway whose every answer says
 * it restarted must not make us loop). */
static void remap_soon(struct zt_portmap *pm, uint64_t now)
{
	if (pm->state == ZT_PORTMAP_MAPPED && pm->ex == EX_NONE)
		pm->renew_at = max_u64(now, pm->ex_started + RENEW_MIN);
}

/* ---- answers ---- */

/* A map answer taken (asked for, or an update): a refusal, or our mapping at ip and
 * the answer's port (SUCCESS is 0 in both protocols). */
static void map_answer(struct zt_portmap *pm, uint64_t now, const struct zt_pcp_answer *a,
		       const struct zt_addr *ip)
{
	struct zt_addr ext = *ip;

	if (a->result != ZT_PCP_SUCCESS) {
		refused(pm, now, a);
		return;
	}
	ext.port = a->external_port;
	granted(pm, now, &ext, a->lifetime);
}

static void pcp_map_answer(struct zt_portmap *pm, uint64_t now, const struct zt_pcp_answer *a)
{
	if (a->has_body && (memcmp(a->nonce, pm->nonce, sizeof(pm->nonce)) ||
			    a->protocol != ZT_PCP_PROTO_UDP || a->internal_port != pm->cfg.local.port)) {
		pm->st.mismatched++;
		return;
	}
	/* s8.3: an answer to what we asked; s14.2: or an update of our mapping */
	if (pm->ex != EX_PCP_MAP &&
	    (a->result != ZT_PCP_SUCCESS || pm->state != ZT_PORTMAP_MAPPED)) {
		pm->st.unexpected++;
		return;
	}
	restarted(pm, now, a); /* a new mapping or a refusal: nothing more to do */
	map_answer(pm, now, a, &a->external_ip);
}

static void on_pcp(struct zt_portmap *pm, uint64_t now, const struct zt_pcp_answer *a)
{
	if (pm->proto != P_PCP) {
		pm->st.unexpected++;
		return;
	}
	if (a->opcode == ZT_PCP_OP_ANNOUNCE) {
		if (restarted(pm, now, a))
			remap_soon(pm, now);
		return;
	}
	if (a->opcode != ZT_PCP_OP_MAP) {
		pm->st.unexpected++;
		return;
	}
	pcp_map_answer(pm, now, a);
}

static void natpmp_answer(struct zt_portmap *pm, uint64_t now, const struct zt_pcp_answer *a)
{
	enum exchange want = a->opcode == ZT_NATPMP_OP_ADDR ? EX_NATPMP_ADDR
			   : a->opcode == ZT_NATPMP_OP_MAP_UDP ? EX_NATPMP_MAP : EX_NONE;

	if (want == EX_NONE || pm->ex != want) {
		pm->st.unexpected++;
		return;
	}
	if (a->has_body && want == EX_NATPMP_MAP && a->internal_port != pm->cfg.local.port) {
		pm->st.mismatched++;
		return;
	}
	restarted(pm, now, a); /* the map request follows or this answer maps us: no more */
	if (want == EX_NATPMP_ADDR && a->result == ZT_NATPMP_SUCCESS) {
		if (a->external_ip.family != pm->cfg.local.family || zt_addr_is_any(&a->external_ip)) {
			pm->st.malformed++; /* s3.2: 0.0.0.0 means none yet; the tries go on */
			return;
		}
		pm->natpmp_ip = a->external_ip;
		begin(pm, now, EX_NATPMP_MAP);
		return;
	}
	map_answer(pm, now, a, &pm->natpmp_ip);
}

static void on_natpmp(struct zt_portmap *pm, uint64_t now, const struct zt_pcp_answer *a)
{
	if (pm->proto == P_NATPMP) {
		natpmp_answer(pm, now, a);
		return;
	}
	/* RFC 6887 s9 / RFC 6886 s3.5: a NAT-PMP gateway's answer to our PCP request */
	if (pm->ex == EX_PCP_MAP && a->opcode == ZT_PCP_OP_MAP &&
	    a->result == ZT_NATPMP_UNSUPP_VERSION) {
		version_fallback(pm, now, "natpmp-gateway");
		return;
	}
	pm->st.unexpected++;
}

int zt_portmap_recv(struct zt_portmap *pm, uint64_t now, const struct zt_addr *from,
		    const uint8_t *buf, size_t len)
{
	struct zt_pcp_answer a;

	if (!zt_addr_equal(from, &pm->cfg.gateway)) {
		pm->st.wrong_source++;
		return 0;
	}
	if (pm->state == ZT_PORTMAP_STOPPED)
		return 1;
	if (zt_pcp_parse(&a, buf, len) < 0) {
		pm->st.malformed++;
		return 1;
	}
	pm->st.answers++;
	if (a.version == ZT_NATPMP_VERSION)
		on_natpmp(pm, now, &a);
	else if (a.version == ZT_PCP_VERSION)
		on_pcp(pm, now, &a);
	else if (pm->proto == P_PCP && pm->ex == EX_PCP_MAP && a.opcode == ZT_PCP_OP_MAP &&
		 a.result == ZT_PCP_UNSUPP_VERSION)
		version_fallback(pm, now, "pcp-version"); /* a server of another version (s9) */
	else
		pm->st.unexpected++;
	return 1;
}

/* ---- sending ---- */

/* A request for the mapping (lifetime 0: its deletion) that we hold as *ext (family
 * 0: none yet). */
static int write_request(struct zt_portmap *pm, const struct zt_addr *have, uint32_t lifetime,
			 uint8_t *buf, size_t cap)
{
	const struct zt_addr *ext = have->family ? have : NULL;
	/* suggest what we have (a renewal, s11.2.1), else the same port as ours */
	uint16_t port = ext ? ext->port : pm->cfg.local.port;
	struct zt_pcp_map m = { .lifetime = lifetime, .client = pm->cfg.local,
				.protocol = ZT_PCP_PROTO_UDP, .internal_port = pm->cfg.local.port,
				.suggested_port = port };

	if (pm->proto == P_NATPMP)
		return pm->ex == EX_NATPMP_ADDR && lifetime
			       ? zt_natpmp_write_addr(buf, cap)
			       : zt_natpmp_write_map(ZT_NATPMP_OP_MAP_UDP, pm->cfg.local.port,
						     lifetime ? port : 0, lifetime, buf, cap);
	memcpy(m.nonce, pm->nonce, sizeof(m.nonce));
	if (ext) {
		m.suggested_ip = *ext;
		m.suggested_ip.port = 0;
	}
	return zt_pcp_write_map(&m, buf, cap);
}

int zt_portmap_poll_send(struct zt_portmap *pm, uint64_t now, uint8_t *buf, size_t cap,
			 struct zt_addr *ret_to)
{
	int n;

	if (cap < ZT_PCP_MAP_MSG_LEN)
		return -ENOBUFS;
	if (pm->delete_due) {
		pm->delete_due = false;
		n = write_request(pm, &pm->deleting, 0, buf, cap);
	} else if (pm->ex != EX_NONE && pm->due) {
		n = write_request(pm, &pm->external, pm->cfg.lifetime, buf, cap);
		pm->due = false;
		pm->sent++;
		pm->st.retransmits += pm->sent > 1;
		pm->map_sent |= pm->ex != EX_NATPMP_ADDR;
		/* 0, rto, 3 rto, ...; the last waits rto */
		pm->ex_next = now + (pm->sent < pm->cfg.tries ? pm->cfg.rto << (pm->sent - 1)
							      : pm->cfg.rto);
	} else {
		return 0;
	}
	if (n <= 0)
		return 0;
	pm->st.requests++;
	*ret_to = pm->cfg.gateway;
	return n;
}

/* ---- timers ---- */

void zt_portmap_on_timeout(struct zt_portmap *pm, uint64_t now)
{
	char a[ZT_ADDR_STRLEN];

	switch (pm->state) {
	case ZT_PORTMAP_STOPPED:
		return;
	case ZT_PORTMAP_UNAVAILABLE:
		if (now >= pm->retry_at)
			discover(pm, now);
		break;
	case ZT_PORTMAP_MAPPED:
		if (now >= pm->expires_at) {
			pm->st.lost++;
			PLOG(pm, ZT_NODE_WARN, "portmap_lost", "protocol=%s external=%s reason=expired",
			     proto_name(pm), zt_addr_str(&pm->external, a));
			drop_mapping(pm);
			discover(pm, now);
		} else if (pm->ex == EX_NONE && now >= pm->renew_at) {
			renew(pm, now);
		}
		break;
	case ZT_PORTMAP_PROBING:
		break;
	}
	if (pm->ex != EX_NONE && !pm->due && now >= pm->ex_next) {
		if (pm->sent < pm->cfg.tries)
			pm->due = true;
		else
			no_answer(pm, now);
	}
}

uint64_t zt_portmap_next_deadline(const struct zt_portmap *pm)
{
	uint64_t t = ZT_TIME_NEVER;

	if (pm->state == ZT_PORTMAP_STOPPED)
		return t;
	if (pm->ex != EX_NONE)
		t = pm->ex_next;
	if (pm->state == ZT_PORTMAP_MAPPED) {
		t = min_u64(t, pm->expires_at);
		if (pm->ex == EX_NONE)
			t = min_u64(t, pm->renew_at);
	}
	if (pm->state == ZT_PORTMAP_UNAVAILABLE)
		t = min_u64(t, pm->retry_at);
	return t;
}

/* ---- the rest ---- */

void zt_portmap_refresh(struct zt_portmap *pm, uint64_t now)
{
	remap_soon(pm, now);
}

int zt_portmap_poll_change(struct zt_portmap *pm, struct zt_addr *ret)
{
	if (!pm->changed)
		return 0;
	pm->changed = false;
	*ret = pm->external;
	return 1;
}

bool zt_portmap_external(const struct zt_portmap *pm, struct zt_addr *ret)
{
	if (!pm->external.family)
		return false;
	*ret = pm->external;
	return true;
}

void zt_portmap_stop(struct zt_portmap *pm, uint64_t now)
{
	char a[ZT_ADDR_STRLEN];

	if (pm->state == ZT_PORTMAP_STOPPED)
		return;
	pm->delete_due = pm->external.family || pm->map_sent;
	pm->deleting = pm->external;
	if (pm->delete_due)
		PLOG(pm, ZT_NODE_INFO, "portmap_delete", "protocol=%s external=%s", proto_name(pm),
		     pm->external.family ? zt_addr_str(&pm->external, a) : "none");
	(void)now;
	drop_mapping(pm);
	pm->state = ZT_PORTMAP_STOPPED;
	pm->ex = EX_NONE;
}

const char *zt_portmap_state_name(enum zt_portmap_state s)
{
	switch (s) {
	case ZT_PORTMAP_PROBING: return "probing";
	case ZT_PORTMAP_MAPPED: return "mapped";
	case ZT_PORTMAP_UNAVAILABLE: return "unavailable";
	case ZT_PORTMAP_STOPPED: return "stopped";
	}
	return "?";
}

void zt_portmap_info(const struct zt_portmap *pm, struct zt_portmap_info *ret)
{
	*ret = (struct zt_portmap_info){
		.state = pm->state,
		.protocol = pm->state == ZT_PORTMAP_UNAVAILABLE || pm->state == ZT_PORTMAP_STOPPED
				    ? "none" : proto_name(pm),
		.gateway = pm->cfg.gateway,
		.external = pm->external,
		.lifetime = pm->lifetime,
		.renew_at = pm->renew_at,
		.expires_at = pm->expires_at,
		.retry_at = pm->retry_at,
		.last_error = pm->last_error,
		.last_error_at = pm->last_error_at,
		.st = pm->st,
	};
	memcpy(ret->last_error_text, pm->last_error_text, sizeof(ret->last_error_text));
}
