/*
 * The Intermediate's credentials and access policy.
 *
 * Credentials: who may connect. A client authenticates twice: its TLS certificate
 * (signed by the CA, identity URI "ztna:KIND:NAME", checked by TLS) and the HELLO
 * token, which must equal the token configured for that identity. An identity with
 * no configured entry is refused; one configured without a token needs only its
 * certificate.
 *
 *     client spec  = KIND ":" NAME [ ":" TOKEN ]     e.g. "agent:alice:s3cret"
 *                    KIND is "agent" or "connector"; the token is the rest of the
 *                    text (1..512 bytes, may contain ':')
 *
 * Policy: which agent may reach which service, and which connector may serve which
 * service. Nothing is allowed unless a rule says so; "*" matches any name.
 *
 *     allow spec   = AGENT "=" SERVICE [ "," SERVICE ]...      e.g. "alice=web,db", "*=echo"
 *     serve spec   = CONNECTOR "=" SERVICE [ "," SERVICE ]...  e.g. "c1=web,db", "*=echo"
 *
 * A connector registers only the services a serve rule binds to it, so an
 * authenticated connector cannot take over another's service ("c1=*" lets c1 serve
 * anything, "*=*" lets any connector serve anything: the open, unsafe setting).
 *
 * Limits: what one identity may take of the Intermediate, in place of its global
 * settings (docs/security.md, "Per-identity limits").
 *
 *     limit spec   = KIND ":" NAME "=" KEY ":" VALUE [ "," KEY ":" VALUE ]...
 *                    e.g. "agent:alice=relay-rate:10M,sessions:64", "agent:*=transport:udp"
 *
 * KIND is "agent" or "connector", NAME an identity's name or "*" (every identity of
 * that kind). KEYs and their VALUEs (sizes and counts in core/units.h's grammar: K, M,
 * G are powers of 1024):
 *     relay-rate   bytes a second it sends into the relay, 1 to 4G - 1
 *     relay-burst  bytes at once above it, 16K (ZT_POLICY_RELAY_BURST_MIN) to 4G - 1;
 *                  only beside relay-rate (a burst is sized for its rate; without one
 *                  the default for that rate applies, as --relay-burst's)
 *     sessions     sessions at most, held requests included, 1 to 1000000 (agents only)
 *     transport    any, udp or tcp: the outer transports it may log in over
 *     direct       on or off: off, its sessions stay on the relay (the Intermediate
 *                  forwards no CANDIDATES and sends no START_CHECKS for them)
 * Precedence is per key: a key set for the identity's own name wins over the same key
 * set for "*", and the keys its name leaves unset come from "*" (relay-rate and
 * relay-burst count as one key). A key is set once per KIND:NAME, in one rule or
 * across several.
 */
#ifndef ZT_NODE_POLICY_H
#define ZT_NODE_POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "quic/pki.h"

struct zt_policy;

/* Returns 0 or -ENOMEM. */
int zt_policy_new(struct zt_policy **ret);
void zt_policy_free(struct zt_policy *p);

/*
 * Adds a credential from its spec. Returns 0, ZT_ESYNTAX (with *why set to a short
 * reason: bad kind, bad name, empty or over-long token), ZT_ECTRL_DUP (the identity
 * is configured already), -ENOMEM.
 */
int zt_policy_add_client(struct zt_policy *p, const char *spec, const char **why);

/* Adds allow rules from a spec. Returns 0, ZT_ESYNTAX (with *why), -ENOMEM. A spec
 * with a bad entry adds nothing. */
int zt_policy_add_allow(struct zt_policy *p, const char *spec, const char **why);

/* Adds serve rules from a spec. Returns 0, ZT_ESYNTAX (with *why), -ENOMEM. A spec
 * with a bad entry adds nothing. */
int zt_policy_add_serve(struct zt_policy *p, const char *spec, const char **why);

/*
 * Checks a client's HELLO token for identity (kind, name). Returns 0, or ZT_EAUTH
 * (unknown identity, or a token that differs; compared in constant time).
 */
int zt_policy_check(const struct zt_policy *p, enum zt_pki_kind kind, const char *name,
		    const uint8_t *token, size_t token_len);

/* True if identity (kind, name) has a credential (a `client` line), whatever its token. */
bool zt_policy_has_client(const struct zt_policy *p, enum zt_pki_kind kind, const char *name);

/* True if some allow rule lets agent reach service. */
bool zt_policy_allows(const struct zt_policy *p, const char *agent, const char *service);

/* True if some serve rule lets connector serve service. */
bool zt_policy_may_serve(const struct zt_policy *p, const char *connector, const char *service);

/* The smallest relay burst (node/imd.h ZT_IMD_RELAY_BURST_MIN: a first flight passes). */
#define ZT_POLICY_RELAY_BURST_MIN (16 * 1024)
#define ZT_POLICY_SESSIONS_MAX 1000000

/* Which fields of struct zt_policy_limits are set. */
enum {
	ZT_POLICY_HAS_RELAY = 1 << 0,      /* relay_rate, relay_burst */
	ZT_POLICY_HAS_SESSIONS = 1 << 1,
	ZT_POLICY_HAS_TRANSPORT = 1 << 2,
	ZT_POLICY_HAS_DIRECT = 1 << 3,
};

/* Outer transports, bits of struct zt_policy_limits.transports. */
enum {
	ZT_POLICY_UDP = 1 << 0,
	ZT_POLICY_TCP = 1 << 1,
	ZT_POLICY_ANY = ZT_POLICY_UDP | ZT_POLICY_TCP,
};

struct zt_policy_limits {
	unsigned has;            /* ZT_POLICY_HAS_* bits; a field whose bit is clear is 0 */
	uint32_t relay_rate;     /* bytes a second */
	uint32_t relay_burst;    /* bytes; 0: not given (the default for relay_rate) */
	size_t sessions;
	unsigned transports;     /* ZT_POLICY_UDP | ZT_POLICY_TCP bits */
	bool direct;
};

/*
 * Adds a limit rule from its spec. Returns 0, ZT_ESYNTAX (with *why: a bad kind, name,
 * key or value, a key twice, sessions for a connector, relay-burst without
 * relay-rate), ZT_ECTRL_DUP (a key an earlier rule set for the same KIND:NAME, with
 * *why), -ENOMEM. A spec with a bad entry adds nothing.
 */
int zt_policy_add_limit(struct zt_policy *p, const char *spec, const char **why);

/* The limits of identity (kind, name), its own name's keys over "*"'s, into *ret.
 * Returns 1 when some limit is set, 0 when none (ret->has 0). */
int zt_policy_limits(const struct zt_policy *p, enum zt_pki_kind kind, const char *name,
		     struct zt_policy_limits *ret);

size_t zt_policy_client_count(const struct zt_policy *p);
/* Allow rules (one per AGENT=SERVICE pair). */
size_t zt_policy_rule_count(const struct zt_policy *p);
/* Serve rules (one per CONNECTOR=SERVICE pair). */
size_t zt_policy_serve_count(const struct zt_policy *p);
/* Limit entries (one per KIND:NAME that limit rules name). */
size_t zt_policy_limit_count(const struct zt_policy *p);

#endif
