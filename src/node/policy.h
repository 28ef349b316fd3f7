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

/* True if some allow rule lets agent reach service. */
bool zt_policy_allows(const struct zt_policy *p, const char *agent, const char *service);

/* True if some serve rule lets connector serve service. */
bool zt_policy_may_serve(const struct zt_policy *p, const char *connector, const char *service);

size_t zt_policy_client_count(const struct zt_policy *p);
/* Allow rules (one per AGENT=SERVICE pair). */
size_t zt_policy_rule_count(const struct zt_policy *p);
/* Serve rules (one per CONNECTOR=SERVICE pair). */
size_t zt_policy_serve_count(const struct zt_policy *p);

#endif
