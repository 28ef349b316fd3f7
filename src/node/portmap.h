/*
 * A port-mapping client (docs/portmap.md): asks the gateway (the default router) for
 * a mapping of the node's one UDP socket with PCP (RFC 6887), falling back to NAT-PMP
 * (RFC 6886), keeps it renewed, notices a gateway that lost its state, and deletes the
 * mapping when stopped. The mapped address becomes a candidate of the direct path.
 * Sans-IO, driven like the node's other machines:
 *
 *	datagram from gateway:5351:  zt_portmap_recv(pm, now, from, buf, len)
 *	timer:                       zt_portmap_on_timeout(pm, now) at zt_portmap_next_deadline()
 *	after either:                while ((n = zt_portmap_poll_send(pm, now, buf, cap, &to)) > 0)
 *	                                 send buf[0..n) from the node's socket to `to`
 *	the mapping changed:         zt_portmap_poll_change() says so once per change
 *
 * Discovery: a PCP MAP request (our nonce, UDP, the socket's port, suggesting the same
 * external port, lifetime cfg.lifetime). An answer "unsupported version" from a
 * NAT-PMP gateway (version 0) or from a PCP server of another version switches to
 * NAT-PMP at once (RFC 6887 s9); no answer at all after the tries switches too. NAT-PMP
 * asks for the external address, then for the mapping.
 *
 * Retransmission (a deviation, stated): each exchange sends at 0, rto and 3 rto (rto
 * doubling) and waits rto after the last: with the defaults (rto 250 ms, 3 tries) at
 * 0, 250 and 750 ms, given up at 1 s; with no gateway answering either protocol the
 * client is UNAVAILABLE after 2 s and tries again after cfg.retry (5 min). RFC 6886
 * s3.1 retransmits at 250 ms doubling 9 times (64 s) and RFC 6887 s8.1.1 from 3 s
 * without end; a gateway on the local link answers in milliseconds or not at all.
 *
 * Lifetimes: a granted lifetime above cfg.max_lifetime (24 h) is clamped (counted);
 * one under 10 s, or 0, is refused like an error (a gateway cannot make us renew
 * faster than every 5 s). Renewal (same nonce, suggesting the assigned address and
 * port) at half the lifetime, and at least every cfg.renew_max (60 s): renewals are
 * also how a restarted gateway is noticed, since the unsolicited ANNOUNCEs of RFC 6887
 * s14.1 go to 224.0.0.1:5350, where the node does not listen. A renewal without answer
 * is tried again 10 s later until the mapping expires; then it is lost and discovery
 * starts over.
 *
 * Epochs (RFC 6887 s8.5, RFC 6886 s3.6): an answer whose epoch says the gateway lost
 * its state counts a restart; unless it is itself a new mapping, the mapping is asked
 * for again (no sooner than 5 s after the previous request).
 *
 * Errors: the gateway's refusal (PCP NOT_AUTHORIZED, ADDRESS_MISMATCH, ...; NAT-PMP
 * REFUSED, ...) makes the client UNAVAILABLE (last error ZT_EPEER, named) until the
 * error's lifetime, at least 30 min for PCP's long-lifetime errors (s7.4) and 30 s for
 * the short ones (NETWORK_FAILURE, NO_RESOURCES, USER_EX_QUOTA). No answer is
 * ZT_ETIMEOUT. A renewal refused loses the mapping.
 *
 * Bad input never blocks or crashes it: an answer from another address, one that does
 * not parse, one for another nonce, protocol or port, an opcode or version not
 * expected now, are counted and dropped.
 *
 * Stopping (zt_portmap_stop): one delete request (lifetime 0: PCP s15, NAT-PMP s3.4)
 * when a mapping exists or a map request was sent, not retransmitted (the program is
 * leaving; the mapping expires anyway), then STOPPED: answers are ignored.
 */
#ifndef ZT_NODE_PORTMAP_H
#define ZT_NODE_PORTMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/pcp.h"
#include "core/rng.h"
#include "node/nodelog.h"

enum zt_portmap_mode {
	ZT_PORTMAP_AUTO = 0,   /* PCP, then NAT-PMP */
	ZT_PORTMAP_PCP = 1,    /* PCP only */
	ZT_PORTMAP_NATPMP = 2, /* NAT-PMP only */
};

enum zt_portmap_state {
	ZT_PORTMAP_PROBING = 1,     /* asking; no mapping */
	ZT_PORTMAP_MAPPED = 2,      /* a mapping (also while renewing it) */
	ZT_PORTMAP_UNAVAILABLE = 3, /* no answer or refused: waiting to try again */
	ZT_PORTMAP_STOPPED = 4,     /* stopped; the delete was sent if one was due */
};

struct zt_portmap_config {
	enum zt_portmap_mode mode;
	struct zt_addr gateway;       /* required: its IP (the port is ZT_PCP_PORT) */
	struct zt_addr local;         /* required: our socket's IP as the gateway sees it
					 (not a wildcard) and its port */
	const struct zt_rng *rng;     /* required: the mapping nonce */
	const struct zt_node_log *log; /* optional */
	uint32_t lifetime;            /* seconds asked for; 0: 7200 (RFC 6886 s3.3) */
	uint64_t rto;                 /* first retransmission; 0: 250 ms */
	unsigned tries;               /* per exchange; 0: 3 */
	uint64_t renew_max;           /* renew at least this often; 0: 60 s */
	uint64_t retry;               /* after no answer at all; 0: 5 min */
	uint32_t max_lifetime;        /* seconds, larger grants are clamped; 0: 86400 */
};

struct zt_portmap_stats {
	uint64_t requests;      /* datagrams sent (first tries and retransmissions) */
	uint64_t retransmits;
	uint64_t answers;       /* parsed answers from the gateway */
	uint64_t malformed;     /* did not parse, or a mapping without address or port */
	uint64_t wrong_source;  /* not from gateway:5351 */
	uint64_t mismatched;    /* another nonce, protocol or internal port */
	uint64_t unexpected;    /* an answer to nothing we asked (now) */
	uint64_t mapped;        /* mappings granted (first ones and renewals) */
	uint64_t changed;       /* the external address or port changed */
	uint64_t lost;          /* mappings expired unrenewed or refused on renewal */
	uint64_t restarts;      /* epochs saying the gateway lost its state */
	uint64_t fallbacks;     /* PCP -> NAT-PMP */
	uint64_t refused;       /* error answers */
	uint64_t timeouts;      /* exchanges without answer */
	uint64_t clamped;       /* lifetimes cut to max_lifetime */
};

struct zt_portmap_info {
	enum zt_portmap_state state;
	const char *protocol;        /* "pcp", "natpmp" (the one in use), "none" */
	struct zt_addr gateway;
	struct zt_addr external;     /* the mapping; family 0: none */
	uint32_t lifetime;           /* granted (after clamping), seconds */
	uint64_t renew_at, expires_at; /* MAPPED */
	uint64_t retry_at;           /* UNAVAILABLE */
	int last_error;              /* 0, ZT_ETIMEOUT (no answer), ZT_EPEER (refused) */
	char last_error_text[96];
	uint64_t last_error_at;
	struct zt_portmap_stats st;
};

struct zt_portmap;

/* Starts asking at once. cfg is copied (rng and log must outlive the client). Returns
 * 0, -EINVAL (gateway or local address missing or of different families, local a
 * wildcard or without port, no rng), -ENOMEM. */
int zt_portmap_new(struct zt_portmap **ret, const struct zt_portmap_config *cfg, uint64_t now);
/* Frees it (sends nothing: zt_portmap_stop first). NULL is fine. */
void zt_portmap_free(struct zt_portmap *pm);

/* A datagram that arrived from `from`. Returns 1 when it was from gateway:5351 (taken,
 * maybe counted and dropped), 0 when not (counted as wrong_source). */
int zt_portmap_recv(struct zt_portmap *pm, uint64_t now, const struct zt_addr *from,
		    const uint8_t *buf, size_t len);

/* The next request, to *ret_to. Returns its length, 0 (nothing now) or -ENOBUFS (cap
 * under ZT_PCP_MAP_MSG_LEN). */
int zt_portmap_poll_send(struct zt_portmap *pm, uint64_t now, uint8_t *buf, size_t cap,
			 struct zt_addr *ret_to);

uint64_t zt_portmap_next_deadline(const struct zt_portmap *pm);
void zt_portmap_on_timeout(struct zt_portmap *pm, uint64_t now);

/* Returns 1 once after the mapped address changed (gained, moved or lost), with the
 * current one in *ret (family 0: none); else 0. */
int zt_portmap_poll_change(struct zt_portmap *pm, struct zt_addr *ret);

/* The mapped external address, if any: true and *ret. */
bool zt_portmap_external(const struct zt_portmap *pm, struct zt_addr *ret);

/* A direct path through the mapping was lost: the gateway may have lost the mapping
 * (a restart it did not announce to us), so it is asked for again now, or 5 s after
 * the previous request if that was sooner. Only while MAPPED. */
void zt_portmap_refresh(struct zt_portmap *pm, uint64_t now);

/* Deletes the mapping (one datagram for poll_send) and stops. */
void zt_portmap_stop(struct zt_portmap *pm, uint64_t now);

void zt_portmap_info(const struct zt_portmap *pm, struct zt_portmap_info *ret);
const char *zt_portmap_state_name(enum zt_portmap_state s);

#endif
