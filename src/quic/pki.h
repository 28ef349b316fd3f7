/*
 * A development PKI through GnuTLS's X.509 API: one CA, and the certificates the
 * three programs authenticate with.
 *
 * Keys are ECDSA P-256, certificates are signed with SHA-256. Key generation draws
 * from GnuTLS's own random generator (keys must be real secrets); serial numbers come
 * from the struct zt_rng passed in.
 *
 * Identities. Every issued certificate carries a URI subjectAltName naming what it is,
 * "ztna:KIND:NAME" (KIND is intermediate, service, agent or connector), and the NAME
 * as its common name. tls.h returns that URI as the peer identity after a handshake.
 * Certificates a TLS server presents also carry DNS names the client verifies:
 *   intermediate: "intermediate.ztna" plus the given IP addresses and DNS names
 *   service NAME: "svc-NAME.ztna"  (the inner connection's server name)
 * Extended key usage: intermediate = TLS server; service = TLS server only (a service
 * key can never pass as a client); agent and connector = TLS client.
 *
 * Names are 1..63 characters of [A-Za-z0-9-], not starting or ending with '-', so
 * that "svc-NAME.ztna" is a valid host name.
 *
 * Files (zt_pki_init_dir / zt_pki_issue_dir): one bundle per party, each with the
 * CA's certificate and only that party's own keys, so a party given its bundle cannot
 * act as another; the CA's key stays apart:
 *   DIR/ca/                ca.pem ca.key       (only for issuing: ztna pki issue)
 *   DIR/intermediate/      ca.pem intermediate.pem intermediate.key
 *   DIR/agent-NAME/        ca.pem agent-NAME.pem agent-NAME.key
 *   DIR/connector-NAME/    ca.pem connector-NAME.pem connector-NAME.key
 *                          service-S.pem service-S.key   (each service S it serves)
 * A service certificate goes into the bundle of the connector named in its subject;
 * the same service for two connectors is two certificates with two keys. Directories
 * are made 0700, keys written 0600, certificates 0644, as PKCS#8 / X.509 PEM.
 */
#ifndef ZT_QUIC_PKI_H
#define ZT_QUIC_PKI_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "core/addr.h"
#include "core/rng.h"

enum zt_pki_kind {
	ZT_PKI_INTERMEDIATE = 1,
	ZT_PKI_SERVICE = 2,
	ZT_PKI_AGENT = 3,
	ZT_PKI_CONNECTOR = 4,
};

#define ZT_PKI_NAME_MAX 63
#define ZT_PKI_INTERMEDIATE_DNS "intermediate.ztna"
/* Longest identity URI, with the NUL: "ztna:intermediate:" + name. */
#define ZT_PKI_IDENTITY_MAX 96
/* Longest service host name, with the NUL: "svc-" + name + ".ztna". */
#define ZT_PKI_HOST_MAX 80
#define ZT_PKI_DEFAULT_DAYS 825

/* A certificate and its private key as NUL-terminated PEM text (heap). */
struct zt_pki_pem {
	char *cert;
	char *key;
};

/* Frees both strings; accepts a zeroed struct. */
void zt_pki_pem_fini(struct zt_pki_pem *p);

struct zt_pki_ca;

/*
 * Create a self-signed CA named cn, valid from now - 1 h for days days (0: 3650).
 * Returns 0, -EINVAL (empty cn), -ENOMEM, or ZT_ETLS (GnuTLS failed).
 */
int zt_pki_ca_new(struct zt_pki_ca **ret, const char *cn, unsigned days, time_t now,
		  const struct zt_rng *rng);

/* Load a CA from PEM text. Returns 0, -ENOMEM, ZT_EMALFORMED (not PEM, or key and
 * certificate do not match), or ZT_ETLS. */
int zt_pki_ca_load(struct zt_pki_ca **ret, const char *cert_pem, const char *key_pem);

/* The CA's certificate and key as PEM. Returns 0, -ENOMEM or ZT_ETLS. */
int zt_pki_ca_pem(const struct zt_pki_ca *ca, struct zt_pki_pem *ret);

void zt_pki_ca_free(struct zt_pki_ca *ca);

struct zt_pki_subject {
	enum zt_pki_kind kind;
	const char *name;            /* required, see the rule above */
	const struct zt_addr *ips;   /* intermediate: IP subjectAltNames */
	size_t n_ips;
	const char *const *dns;      /* extra DNS subjectAltNames */
	size_t n_dns;
	const char *connector;       /* service: the connector whose bundle gets it */
	unsigned days;               /* 0: ZT_PKI_DEFAULT_DAYS */
};

/*
 * Issue a certificate for s signed by ca, with a fresh key.
 * Returns 0 and fills *ret (free with zt_pki_pem_fini), ZT_ESYNTAX (bad name or
 * kind), -ENOMEM, or ZT_ETLS.
 */
int zt_pki_issue(const struct zt_pki_ca *ca, const struct zt_pki_subject *s, time_t now,
		 const struct zt_rng *rng, struct zt_pki_pem *ret);

/* True if name follows the naming rule above. */
bool zt_pki_name_valid(const char *name);

/* "intermediate", "service", "agent", "connector"; NULL for anything else. */
const char *zt_pki_kind_name(enum zt_pki_kind kind);

/* Write "ztna:KIND:NAME" into buf. Returns its length, ZT_ESYNTAX, or -ENOBUFS. */
int zt_pki_identity(enum zt_pki_kind kind, const char *name, char *buf, size_t cap);

/*
 * Split an identity URI. On success returns 0, sets *ret_kind and points *ret_name
 * into uri; ZT_ESYNTAX if uri is not "ztna:KIND:NAME" with a valid name.
 */
int zt_pki_identity_parse(const char *uri, enum zt_pki_kind *ret_kind,
			  const char **ret_name);

/* Write "svc-NAME.ztna" into buf. Returns its length, ZT_ESYNTAX, or -ENOBUFS. */
int zt_pki_service_host(const char *name, char *buf, size_t cap);

/*
 * Create DIR (mode 0700) if missing, a CA in DIR/ca/, and one certificate per subject
 * in its bundle. Refuses (-EEXIST) if DIR already holds a CA (DIR/ca/ca.pem or .key, or
 * the old layout's DIR/ca.pem or .key), unless overwrite. Returns 0, -errno from the
 * file system, or the errors of zt_pki_issue (ZT_ESYNTAX: a service without a valid
 * connector).
 */
int zt_pki_init_dir(const char *dir, const char *ca_cn, const struct zt_pki_subject *subj,
		    size_t n, bool overwrite, time_t now, const struct zt_rng *rng);

/*
 * Load the CA from DIR/ca/ and issue more certificates into their bundles (a bundle
 * that does not exist yet is made, with ca.pem). A certificate file that exists is
 * refused (-EEXIST) unless overwrite. Returns as zt_pki_init_dir, or -ENOENT when
 * DIR has no CA.
 */
int zt_pki_issue_dir(const char *dir, const struct zt_pki_subject *subj, size_t n,
		     bool overwrite, time_t now, const struct zt_rng *rng);

/* The file name stem for a subject ("agent-alice"); returns length or -ENOBUFS. */
int zt_pki_file_stem(const struct zt_pki_subject *s, char *buf, size_t cap);

/* The bundle directory's name for a subject ("agent-alice"; a service: its connector's,
 * "connector-c1"). Returns its length, ZT_ESYNTAX or -ENOBUFS. */
int zt_pki_bundle_name(const struct zt_pki_subject *s, char *buf, size_t cap);

/*
 * Checks that dir, given to the party self (kind and name) as its PKI directory, holds
 * no private key that is not self's: a *.key file other than self's KIND-NAME.key (a
 * connector's service-*.key files are its own) is foreign, and so is a subdirectory
 * holding any *.key (a whole 'ztna pki init' tree, the CA's directory). Returns how many
 * foreign key files and key-holding subdirectories were found (0: none), the first
 * key's path in ret_path (may be NULL), or -errno if dir cannot be read.
 */
int zt_pki_bundle_check(const char *dir, const struct zt_pki_subject *self, char *ret_path,
			size_t cap);

/*
 * Copy the bundle of s (agent, connector or intermediate; not a service, whose files
 * are in its connector's bundle: ZT_ESYNTAX) from the tree dir made by
 * zt_pki_init_dir into out, made 0700 if missing: its *.pem files (0644) and *.key
 * files (0600), nothing else. A file already in out is refused (-EEXIST, before anything
 * is copied) unless overwrite. Returns 0, -ENOENT when dir has no such
 * bundle, or -errno.
 */
int zt_pki_export(const char *dir, const struct zt_pki_subject *s, const char *out,
		  bool overwrite);

/* Read a whole (small, < 1 MiB) file into a NUL-terminated heap string.
 * Returns 0, -errno, or ZT_ETOOBIG. */
int zt_pki_read_file(const char *path, char **ret);

#endif
