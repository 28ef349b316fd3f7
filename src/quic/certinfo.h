/*
 * What an X.509 certificate says, for operators: `ztna pki show` and `ztna pki list`,
 * and the programs' expiry check at start (app/daemon.h).
 *
 * zt_certinfo_pem reads the first certificate of a PEM text: its common name and
 * issuer's, its subjectAltNames ("DNS:intermediate.ztna,IP:192.0.2.7,URI:ztna:...";
 * the ztna identity URI also apart), validity, serial, whether it is a CA, and the
 * SHA-256 fingerprint of its DER encoding. Values too long for their field are cut
 * (the fields are for display; nothing is decided on a cut value).
 *
 * Expiry: zt_certinfo_expiry tells whether a certificate is valid at a time, expires
 * within warn_days days, has expired or is not valid yet (a clock behind the CA's).
 */
#ifndef ZT_QUIC_CERTINFO_H
#define ZT_QUIC_CERTINFO_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "quic/pki.h"

/* Days left under which the programs warn at start (and `ztna pki list` marks). */
#define ZT_CERT_WARN_DAYS 30

struct zt_certinfo {
	char cn[64];
	char issuer_cn[64];
	char identity[ZT_PKI_IDENTITY_MAX]; /* "ztna:KIND:NAME", or "" if none */
	char sans[512];
	char serial[41];                    /* hex */
	char sha256[96];                    /* hex pairs joined by ':' */
	time_t not_before, not_after;
	bool is_ca;
};

/* Returns 0, ZT_EMALFORMED (no PEM certificate in it), -ENOMEM or ZT_ETLS. */
int zt_certinfo_pem(const char *pem, struct zt_certinfo *ret);

/* zt_certinfo_pem on a file's text: also -errno from reading it. */
int zt_certinfo_file(const char *path, struct zt_certinfo *ret);

enum zt_cert_expiry {
	ZT_CERT_VALID = 0,
	ZT_CERT_EXPIRES_SOON, /* valid, not_after within warn_days */
	ZT_CERT_EXPIRED,
	ZT_CERT_NOT_YET_VALID,
};

/* The state at now; *ret_days (may be NULL): whole days left until not_after
 * (negative once expired). */
enum zt_cert_expiry zt_certinfo_expiry(const struct zt_certinfo *c, time_t now,
				       unsigned warn_days, long *ret_days);

/* "valid", "expires soon", "EXPIRED", "not yet valid". */
const char *zt_cert_expiry_name(enum zt_cert_expiry e);

#endif
