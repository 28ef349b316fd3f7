/*
 * --nats for the Intermediate: its part of several Intermediates sharing state
 * through a NATS cluster (docs/scale-out.md). With --nats, every logged-in client's
 * presence record (core/presrec.h) is published in a JetStream key-value bucket
 * (node/prespub.h: put on login, refreshed every 10 s, deleted on logout, gone 30 s
 * after this Intermediate dies), and the bucket is watched into a bounded table of
 * where every client of the deployment is (node/prestab.h), shown by the control
 * socket's `presence` command. Without --nats nothing of this runs.
 *
 * The loop's side only: NATS itself runs on the bus's thread (app/natsbus.h).
 */
#ifndef ZT_BIN_IMDNATS_H
#define ZT_BIN_IMDNATS_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

#include "app/ctlsock.h"
#include "app/daemon.h"
#include "app/natsbus.h"
#include "core/promfmt.h"
#include "io/loop.h"
#include "node/imd.h"
#include "node/policy.h"
#include "node/prespub.h"
#include "node/prestab.h"

#define IMD_NATS_TABLE_MAX 100000
#define IMD_CTL_PRESENCE_MAX 1000   /* presence lines the control socket lists */

#define IMD_NATS_SIGNERS_MAX 8

struct zt_sig_pub;

struct imd_nats {
	/* Settings. */
	char servers[512];           /* --nats URL[,URL...]; "" off */
	char name[ZT_PRESREC_IMD_MAX + 1]; /* --nats-name: this Intermediate's name */
	char key_file[PATH_MAX];     /* --presence-key FILE */
	char bucket[64];             /* --nats-bucket (default ztna-presence) */
	uint64_t replicas;           /* --nats-replicas (default 1) */
	uint64_t ttl;                /* --presence-ttl (ns; 0: 30 s): records live this long,
					refreshed every third of it */
	bool policy_follow;          /* --nats-policy follow: the cluster's policy rules */
	/* --policy-signer FILE (repeatable): only policies signed by one of these keys
	 * (quic/sig.h, 'ztna policy push --sign') are taken; none: any that opens */
	char signer_files[IMD_NATS_SIGNERS_MAX][PATH_MAX];
	size_t n_signer_files;
	char policy_bucket[64];      /* --nats-policy-bucket (default ztna-policy) */
	struct zt_addr link_addr;    /* --link-address (default the listen address): in
					our own record, where the others open links to us */
	/* Called with a new policy from the cluster (the callee owns it from then on). */
	void (*apply)(void *arg, struct zt_policy *policy, uint64_t seq);
	void *apply_arg;
	/* Called to end the login here of a client that logged in later at another
	 * Intermediate (the presence shows it there, the newer login). */
	size_t (*retire)(void *arg, bool connector, const char *name, const char *text);
	void *retire_arg;
	/* Running. */
	struct zt_addr link_pub;     /* link_addr, or its default (family 0: none) */
	struct zt_loop *loop;
	const struct zt_imd *imd;
	struct zt_natsbus *bus;
	struct zt_prespub *pub;
	struct zt_prestab *tab;
	struct zt_timer sync_t;
	enum zt_natsbus_state logged; /* the state last logged */
	uint64_t readies, failed;    /* the bus's counts at the last look */
	uint64_t republished_at;     /* wall ms */
	uint64_t started_ms;         /* wall ms: our own record's "login" */
	uint64_t started_mono;       /* the monotonic clock then (login_wall_ms) */
	uint64_t floors;             /* logins given a floor from a record elsewhere */
	uint8_t key[64];             /* the presence key (also the policy's) */
	size_t key_len;
	uint64_t policy_seq;         /* the cluster's newest policy taken; 0 none yet */
	bool policy_withdrawn;       /* its signer is no longer trusted (a reload): the
					local policy rules until a new one is taken */
	uint64_t policy_applied, policy_refused, policy_stale;
	struct zt_sig_pub *signers[IMD_NATS_SIGNERS_MAX];
	size_t n_signers;
	char policy_signer[17];      /* the policy in force's signer ("none": unsigned) */
	uint8_t policy_signer_id[32]; /* its whole key id (policy_signed) */
	bool policy_signed;
	char policy_error[160];      /* the last refusal */
};

/* Settings that hold together (--nats needs --nats-name and --presence-key). Returns 0
 * or ZT_ECONF_MISSING with the message in err. */
int imd_nats_check(const struct imd_nats *n, char *err, size_t cap);

/* The same --nats settings (a default and the name it stands for are the same). */
bool imd_nats_same(const struct imd_nats *a, const struct imd_nats *b);

/* --policy-signer FILE: an operator's public key (checked here, loaded at start). */
int imd_nats_add_signer(struct imd_nats *n, const char *path, const char **why);
/* SIGHUP: the --policy-signer keys of from (a reloaded configuration, otherwise the
 * same: imd_nats_same) read again, in place of n's. A key that does not load changes
 * nothing: returns ZT_ECONF_VALUE with the reason in err. Returns 1 when the cluster's
 * policy in force is withdrawn (its signer is not among the keys now; the caller puts
 * the local policy in force), else 0. */
int imd_nats_reload_signers(struct imd_nats *n, const struct imd_nats *from, char *err,
			    size_t cap);
/* Whether the cluster's policy rules (one was taken and is not withdrawn). */
bool imd_nats_policy_in_force(const struct imd_nats *n);
/* --nats-policy follow|off. Returns 0 or ZT_ESYNTAX with *why. */
int imd_nats_set_policy(struct imd_nats *n, const char *v, const char **why);

/* After the Intermediate is up: reads the presence key, starts the bus and the sync
 * timer. Returns 0 or the exit status (with the message). Nothing when --nats is off. */
int imd_nats_start(struct imd_nats *n, struct zt_daemon *d, const struct zt_imd *imd);

/* The control socket's `presence` command: a line "nats state=.." then one line per
 * client of the deployment "presence=KEY imd=.. addr=.. seq=.. expires_ms=..". */
void imd_nats_ctl(void *arg, struct zt_ctlconn *c, uint64_t now);

/* The metrics of docs/metrics.md "With --nats" (nothing without --nats). */
void imd_nats_metrics(const struct imd_nats *n, struct zt_prom *p);

/* node/imd.h cfg.elsewhere: a connector that may serve service (policy) and is
 * connected to another Intermediate, and that one's link address (from its own
 * record; family 0 when it has none). */
/* zt_imd_config.login_floor (arg: the struct imd_nats): the seq of that client's
 * record at another Intermediate in the table now, 0 when none. */
uint64_t imd_nats_login_floor(void *arg, bool connector, const char *name);
bool imd_nats_elsewhere(void *arg, const struct zt_policy *policy, const char *service,
			struct zt_imd_where *ret);

/* One line for the stats log: event nats_EVENT. */
void imd_nats_log(const struct imd_nats *n, const char *event);

/* On stop: deletes this Intermediate's records (waiting up to a second for the
 * cluster), stops the bus, frees. Safe when never started. */
void imd_nats_stop(struct imd_nats *n);

#endif
