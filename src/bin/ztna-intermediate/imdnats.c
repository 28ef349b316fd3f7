/* --nats for the Intermediate (imdnats.h). */
#include <errno.h>
#include <stdarg.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/log.h"
#include "app/policytext.h"
#include "app/secret.h"
#include "core/polrec.h"
#include "core/err.h"
#include "core/units.h"
#include "io/clock.h"
#include "io/sysrng.h"
#include "quic/pki.h"
#include "quic/sig.h"
#include "imdnats.h"

#define SYNC_EVERY ZT_SEC      /* the publisher's pass over the clients */
#define TTL_DEFAULT_MS 30000   /* records' TTL and the bucket's max age */
#define TAKE_BATCH 32
#define REPUBLISH_GAP_MS 2000

static uint64_t wall_ms(void)
{
	return zt_clock_wall() / 1000000;
}

#define BUCKET_DEFAULT "ztna-presence"
#define POLICY_BUCKET_DEFAULT "ztna-policy"

static const char *or_default(const char *v, const char *def)
{
	return *v ? v : def;
}

/* The public key in path, or NULL with *why. */
static struct zt_sig_pub *signer_load(const char *path, const char **why)
{
	static char msg[PATH_MAX + 64];
	struct zt_sig_pub *k = NULL;
	char *pem = NULL;
	int rc = zt_pki_read_file(path, &pem);

	if (rc < 0) {
		snprintf(msg, sizeof(msg), "%s: %s", path, zt_strerror(rc));
		*why = msg;
		return NULL;
	}
	rc = zt_sig_pub_load(&k, pem);
	free(pem);
	if (rc < 0) {
		snprintf(msg, sizeof(msg), "%s: not an Ed25519 public key in PEM (the PREFIX.pub "
			 "of 'ztna policy keygen --out PREFIX')", path);
		*why = msg;
	}
	return k;
}

int imd_nats_add_signer(struct imd_nats *n, const char *path, const char **why)
{
	struct zt_sig_pub *k;

	if (n->n_signer_files >= IMD_NATS_SIGNERS_MAX) {
		*why = "at most 8 signer keys";
		return ZT_ECONF_VALUE;
	}
	if (strlen(path) >= PATH_MAX) {
		*why = "too long";
		return ZT_ECONF_VALUE;
	}
	if (!(k = signer_load(path, why)))
		return ZT_ECONF_VALUE;
	zt_sig_pub_free(k);
	snprintf(n->signer_files[n->n_signer_files++], PATH_MAX, "%s", path);
	return 0;
}

bool imd_nats_same(const struct imd_nats *a, const struct imd_nats *b)
{
	return !strcmp(a->servers, b->servers) && !strcmp(a->name, b->name) &&
	       zt_addr_equal(&a->link_addr, &b->link_addr) &&
	       !strcmp(a->key_file, b->key_file) &&
	       !strcmp(or_default(a->bucket, BUCKET_DEFAULT), or_default(b->bucket, BUCKET_DEFAULT)) &&
	       !strcmp(or_default(a->policy_bucket, POLICY_BUCKET_DEFAULT),
		       or_default(b->policy_bucket, POLICY_BUCKET_DEFAULT)) &&
	       (a->replicas ? a->replicas : 1) == (b->replicas ? b->replicas : 1) &&
	       (a->ttl ? a->ttl : TTL_DEFAULT_MS * 1000000ULL) ==
		       (b->ttl ? b->ttl : TTL_DEFAULT_MS * 1000000ULL) &&
	       a->policy_follow == b->policy_follow;
}

/* Whether the policy in force was signed by one of n's keys now. */
static bool signer_trusted(const struct imd_nats *n)
{
	uint8_t id[32];

	for (size_t i = 0; i < n->n_signers; i++) {
		zt_sig_pub_id(n->signers[i], id);
		if (!memcmp(id, n->policy_signer_id, sizeof(id)))
			return true;
	}
	return false;
}

int imd_nats_reload_signers(struct imd_nats *n, const struct imd_nats *from, char *err,
			    size_t cap)
{
	struct zt_sig_pub *keys[IMD_NATS_SIGNERS_MAX];
	const char *why = "";
	size_t k;

	for (k = 0; k < from->n_signer_files; k++) {
		if (!(keys[k] = signer_load(from->signer_files[k], &why))) {
			snprintf(err, cap, "--policy-signer %s", why);
			while (k--)
				zt_sig_pub_free(keys[k]);
			return ZT_ECONF_VALUE;
		}
	}
	for (size_t i = 0; i < n->n_signers; i++)
		zt_sig_pub_free(n->signers[i]);
	memcpy(n->signers, keys, k * sizeof(keys[0]));
	n->n_signers = k;
	memcpy(n->signer_files, from->signer_files, sizeof(n->signer_files));
	n->n_signer_files = from->n_signer_files;
	if (!imd_nats_policy_in_force(n) || !n->n_signers ||
	    (n->policy_signed && signer_trusted(n)))
		return 0;
	/* signed by a key no longer trusted, or unsigned while keys are asked for now */
	n->policy_withdrawn = true;
	return 1;
}

bool imd_nats_policy_in_force(const struct imd_nats *n)
{
	return n->policy_seq && !n->policy_withdrawn;
}

int imd_nats_set_policy(struct imd_nats *n, const char *v, const char **why)
{
	if (strcmp(v, "follow") && strcmp(v, "off")) {
		*why = "follow (the cluster's policy, from 'ztna policy push') or off";
		return ZT_ESYNTAX;
	}
	n->policy_follow = !strcmp(v, "follow");
	return 0;
}

int imd_nats_check(const struct imd_nats *n, char *err, size_t cap)
{
	if (n->n_signer_files && (!*n->servers || !n->policy_follow)) {
		snprintf(err, cap, "--policy-signer goes with --nats and --nats-policy follow: it "
			 "names who may sign the policy this Intermediate takes from the cluster");
		return ZT_ECONF_MISSING;
	}
	if (!*n->servers)
		return 0;
	size_t nl = strlen(n->name);

	if (!*n->name || nl > ZT_PRESREC_IMD_MAX ||
	    strspn(n->name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.") != nl) {
		snprintf(err, cap, "--nats needs --nats-name NAME (at most 63 characters): this Intermediate's name in the "
			 "cluster, unique among the deployment's Intermediates (letters, digits, '-', "
			 "'_', '.')");
		return ZT_ECONF_MISSING;
	}
	if (!*n->key_file) {
		snprintf(err, cap, "--nats needs --presence-key FILE: the deployment's presence "
			 "key, the same file on every Intermediate (make one: head -c 32 /dev/urandom "
			 "| base64 > FILE; chmod 600 FILE)");
		return ZT_ECONF_MISSING;
	}
	return 0;
}

static int emit(void *arg, const char *key, const uint8_t *val, size_t len)
{
	struct imd_nats *n = arg;

	/* A full queue refuses it (counted by the bus): a put is tried again next pass. */
	return zt_natsbus_put(n->bus, key, val, len);
}

struct see_pass {
	struct imd_nats *n;
	uint64_t wall_ms;
};

/* A login's wall-clock time (ms), from its monotonic time and the pair read at the
 * start: the same at every pass. (The wall clock now less the login's age jittered by
 * a millisecond from pass to pass, which the publisher took for a new login each
 * time: a put at once, and a yielded record taken back.) */
static uint64_t login_wall_ms(const struct imd_nats *n, uint64_t login_at)
{
	if (login_at >= n->started_mono)
		return n->started_ms + (login_at - n->started_mono) / ZT_MS;
	uint64_t before = (n->started_mono - login_at) / ZT_MS;
	return n->started_ms > before ? n->started_ms - before : 0;
}

static void see(void *arg, bool connector, const char *name, const struct zt_addr *remote,
		uint64_t login_at, uint64_t login_floor)
{
	struct see_pass *sp = arg;

	zt_prespub_see(sp->n->pub, sp->wall_ms, connector ? ZT_PRESREC_CONNECTOR : ZT_PRESREC_AGENT,
		       name, remote, login_wall_ms(sp->n, login_at), login_floor);
}

uint64_t imd_nats_login_floor(void *arg, bool connector, const char *name)
{
	struct imd_nats *n = arg;
	struct zt_presrec r;

	if (!n->tab || zt_prestab_find(n->tab, wall_ms(), connector ? ZT_PRESREC_CONNECTOR :
				       ZT_PRESREC_AGENT, name, &r) < 0 || !strcmp(r.imd, n->name))
		return 0;
	n->floors++;
	return r.seq;
}

/* Every record again after the bus (re)connects, or when puts failed (the cluster was
 * electing a leader, say), at most every REPUBLISH_GAP_MS: otherwise a login during
 * the outage would wait for its refresh. */
static void maybe_republish(struct imd_nats *n, uint64_t wall)
{
	struct zt_natsbus_status s;
	bool again;

	zt_natsbus_status(n->bus, &s);
	again = s.readies != n->readies ||
		(s.failed != n->failed && wall >= n->republished_at + REPUBLISH_GAP_MS);
	if (!again)
		return;
	n->readies = s.readies;
	n->failed = s.failed;
	n->republished_at = wall;
	zt_prespub_republish(n->pub);
}

static void on_sync(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct imd_nats *n = t->data;

	maybe_republish(n, wall_ms());
	struct see_pass sp = { .n = n, .wall_ms = wall_ms() };

	zt_prespub_begin(n->pub);
	if (n->link_pub.family) /* our own record: where the others reach us */
		zt_prespub_see(n->pub, sp.wall_ms, ZT_PRESREC_INTERMEDIATE, n->name, &n->link_pub,
			       n->started_ms, 0);
	zt_imd_each_client(n->imd, see, &sp);
	zt_prespub_end(n->pub);
	zt_prestab_expire(n->tab, wall_ms());
	zt_timer_set(loop, t, now + SYNC_EVERY);
}

static void log_state(struct imd_nats *n)
{
	struct zt_natsbus_status s;

	zt_natsbus_status(n->bus, &s);
	if (s.state == n->logged)
		return;
	n->logged = s.state;
	if (s.state == ZT_NATSBUS_READY)
		zt_info("nats", "state=ready servers=%s bucket=%s name=%s", n->servers, n->bucket,
			n->name);
	else
		zt_warn("nats", "state=%s servers=%s error=\"%s\" note=\"this Intermediate serves "
			"its own clients meanwhile and keeps trying\"", zt_natsbus_state_name(s.state),
			n->servers, s.error);
}

static void policy_refuse(struct imd_nats *n, uint64_t *count, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void policy_refuse(struct imd_nats *n, uint64_t *count, const char *fmt, ...)
{
	va_list ap;

	(*count)++;
	va_start(ap, fmt);
	vsnprintf(n->policy_error, sizeof(n->policy_error), fmt, ap);
	va_end(ap);
	zt_warn("policy_refused", "source=nats error=\"%s\" note=\"the policy in force stays\"",
		n->policy_error);
}

/* With --policy-signer: why record r (val) may not be taken (NULL: it may), its
 * signer's id into signer ("none": unsigned, taken only without --policy-signer). */
static const char *unsigned_why(struct imd_nats *n, const uint8_t *val,
				const struct zt_polrec *r, char signer[17])
{
	static char why[160];
	uint8_t id[ZT_SIG_ID_LEN];

	snprintf(signer, 17, "none");
	if (r->is_signed)
		zt_sig_id_str(r->signer, signer);
	if (!n->n_signers)
		return NULL;
	if (!r->is_signed)
		return "not signed: this Intermediate takes only policies signed by a "
		       "--policy-signer key (ztna policy push --sign KEY)";
	for (size_t i = 0; i < n->n_signers; i++) {
		zt_sig_pub_id(n->signers[i], id);
		if (memcmp(id, r->signer, sizeof(id)))
			continue;
		if (zt_sig_verify(n->signers[i], val, r->signed_len, r->sig) == 0)
			return NULL;
		snprintf(why, sizeof(why), "the signature of key %s does not verify", signer);
		return why;
	}
	snprintf(why, sizeof(why), "signed by key %s, which is not a --policy-signer here",
		 signer);
	return why;
}

/* A value of the policy key: opened, newer than the one in force, signed as
 * --policy-signer asks, parsed, applied. */
static void on_policy(struct imd_nats *n, const uint8_t *val, size_t len)
{
	struct zt_polrec r;
	struct zt_policy *pol = NULL;
	char *text, err[512], signer[17];
	const char *why;
	int rc;

	if (len == 0) {
		policy_refuse(n, &n->policy_refused, "the policy was deleted from the cluster");
		return;
	}
	text = malloc(len + 1);
	if (!text)
		return;
	rc = zt_polrec_open(val, len, n->key, n->key_len, &r, text, len + 1);
	if (rc < 0) {
		policy_refuse(n, &n->policy_refused, "a record that does not open: %s (not sealed "
			      "with this deployment's presence key?)", zt_strerror(rc));
	} else if (r.seq <= n->policy_seq) {
		policy_refuse(n, &n->policy_stale, "seq %" PRIu64 " is not above the one in force "
			      "(%" PRIu64 "): an old policy put back?", r.seq, n->policy_seq);
	} else if ((why = unsigned_why(n, val, &r, signer))) {
		policy_refuse(n, &n->policy_refused, "seq %" PRIu64 ": %s", r.seq, why);
	} else if ((rc = zt_policytext_parse("cluster policy", text, &pol, err, sizeof(err))) < 0) {
		policy_refuse(n, &n->policy_refused, "seq %" PRIu64 ": %s", r.seq, err);
	} else {
		n->policy_seq = r.seq;
		n->policy_withdrawn = false;
		n->policy_applied++;
		snprintf(n->policy_signer, sizeof(n->policy_signer), "%s", signer);
		n->policy_signed = r.is_signed;
		memcpy(n->policy_signer_id, r.signer, sizeof(n->policy_signer_id));
		n->apply(n->apply_arg, pol, r.seq); /* it owns pol now */
	}
	explicit_bzero(text, len + 1);
	free(text);
}

/* A client of ours the store places at another Intermediate: the newer login keeps
 * the record; when that is the other, ours here ends (it is a stale login, or the same
 * identity run twice: the newer wins, as at one Intermediate). */
static void elsewhere(struct imd_nats *n, uint8_t role, const char *name,
		      const struct zt_presrec *r)
{
	char text[ZT_PRESREC_NAME_MAX + ZT_PRESREC_IMD_MAX + 64];
	size_t ended;

	if (zt_prespub_elsewhere(n->pub, role, name, r->seq) <= 0 || !n->retire ||
	    role == ZT_PRESREC_INTERMEDIATE)
		return;
	snprintf(text, sizeof(text), "a newer login of %s at Intermediate %s", name, r->imd);
	ended = n->retire(n->retire_arg, role == ZT_PRESREC_CONNECTOR, name, text);
	zt_info("presence_newer_elsewhere", "role=%s name=%s at=%s logins_ended=%zu note=\"%s\"",
		role == ZT_PRESREC_CONNECTOR ? "connector" : "agent", name, r->imd, ended,
		ended ? "the login here ends"
		      : "kept: several logins of one identity are allowed (--logins-per-identity)");
}

/* The store's changes: into the table; a client of ours that the store now places
 * elsewhere: see elsewhere(); nowhere, under an older login's record (refused as
 * stale) or under a value that does not verify: put again (an Intermediate it left
 * deleted it late; someone wrote over it). */
static void on_bus(void *arg)
{
	struct imd_nats *n = arg;
	struct zt_natsbus_change *c = malloc(TAKE_BATCH * sizeof(*c));
	struct zt_presrec r;
	uint8_t role;
	char name[ZT_PRESREC_NAME_MAX + 1];
	size_t got;

	log_state(n);
	if (n->policy_follow) {
		uint8_t *val = NULL;
		size_t len = 0;
		while (zt_natsbus_take_policy(n->bus, &val, &len)) {
			on_policy(n, val, len);
			free(val);
		}
	}
	if (!c)
		return;
	while ((got = zt_natsbus_take(n->bus, c, TAKE_BATCH)) > 0) {
		uint64_t now = wall_ms();
		for (size_t i = 0; i < got; i++) {
			int rc = zt_prestab_apply(n->tab, now, c[i].key,
						  c[i].deleted ? NULL : c[i].val, c[i].len);
			if (zt_presrec_key_parse(c[i].key, &role, name) < 0)
				continue;
			/* a refused value under our client's key replaced our record in the store */
			if (rc >= 0 && zt_prestab_find(n->tab, now, role, name, &r) == 0 &&
			    strcmp(r.imd, n->name))
				elsewhere(n, role, name, &r);
			else if (rc != 0 || zt_prestab_find(n->tab, now, role, name, &r) < 0)
				zt_prespub_nudge(n->pub, role, name);
		}
	}
	free(c);
}

static int load_key(struct imd_nats *n, struct zt_daemon *d, uint8_t *key, size_t cap)
{
	const char *why = "";
	int len = zt_secret_read_line(n->key_file, (char *)key, cap, &why);

	if (len < 0)
		return zt_daemon_fail(d, 1, "--presence-key %s: %s%s%s", n->key_file, why,
				      len == -EPERM ? ": chmod 600 " : "",
				      len == -EPERM ? n->key_file : "");
	if (len < ZT_PRESREC_KEY_MIN)
		return zt_daemon_fail(d, 1, "--presence-key %s: %d bytes, at least %d needed (make "
				      "one: head -c 32 /dev/urandom | base64 > FILE)", n->key_file,
				      len, ZT_PRESREC_KEY_MIN);
	return -len; /* the length, negated: 0 is taken by "failed" */
}

int imd_nats_start(struct imd_nats *n, struct zt_daemon *d, const struct zt_imd *imd)
{
	uint8_t key[64 + 1];
	struct zt_rng rng = zt_sysrng();
	int len, rc;

	if (!*n->servers)
		return 0;
	len = load_key(n, d, key, sizeof(key));
	if (len > 0)
		return len;
	len = -len;
	for (n->n_signers = 0; n->n_signers < n->n_signer_files; n->n_signers++) {
		const char *why = "";
		if (!(n->signers[n->n_signers] = signer_load(n->signer_files[n->n_signers], &why)))
			return zt_daemon_fail(d, 1, "--policy-signer %s", why);
	}
	snprintf(n->policy_signer, sizeof(n->policy_signer), "none");
	uint64_t ttl_ms = n->ttl ? n->ttl / 1000000 : TTL_DEFAULT_MS;
	n->started_ms = wall_ms();
	n->started_mono = zt_clock_now();
	struct zt_prespub_config pc = {
		.self = n->name, .key = key, .key_len = (size_t)len, .ttl_ms = ttl_ms,
		.refresh_ms = ttl_ms / 3,
		.seed = zt_rng_u64(&rng), .emit = emit, .arg = n,
	};
	struct zt_natsbus_config bc = {
		.servers = n->servers, .bucket = or_default(n->bucket, BUCKET_DEFAULT),
		.name = n->name, .ttl_ms = (int64_t)ttl_ms, .replicas = n->replicas ? (int)n->replicas : 1,
		.on_ready = on_bus, .arg = n,
	};
	if (!*n->bucket)
		snprintf(n->bucket, sizeof(n->bucket), "%s", bc.bucket);
	if (!*n->policy_bucket)
		snprintf(n->policy_bucket, sizeof(n->policy_bucket), "%s", POLICY_BUCKET_DEFAULT);
	if (n->policy_follow)
		bc.policy_bucket = n->policy_bucket;
	memcpy(n->key, key, (size_t)len);
	n->key_len = (size_t)len;
	rc = zt_prespub_new(&n->pub, &pc);
	if (rc == -EINVAL)
		rc = ZT_ECONF_VALUE;
	if (rc >= 0)
		rc = zt_prestab_new(&n->tab, IMD_NATS_TABLE_MAX, key, (size_t)len,
				    zt_rng_u64(&rng));
	explicit_bzero(key, sizeof(key));
	if (rc < 0)
		return zt_daemon_fail(d, 1, "--nats-name %s: %s (at most %d of letters, digits, "
				      "'-', '_', '.')", n->name, zt_strerror(rc), ZT_PRESREC_IMD_MAX);
	rc = zt_natsbus_start(&n->bus, &bc, d->loop);
	if (rc < 0)
		return zt_daemon_fail(d, 1, "--nats %s bucket %s: %s (a bucket name is letters, "
				      "digits, '-', '_'; --nats-replicas 1..5)", n->servers, n->bucket,
				      zt_strerror(rc));
	n->loop = d->loop;
	n->imd = imd;
	zt_timer_init(&n->sync_t, on_sync, n);
	zt_timer_set(d->loop, &n->sync_t, zt_loop_now(d->loop));
	zt_info("nats", "state=connecting servers=%s bucket=%s name=%s", n->servers, n->bucket,
		n->name);
	return 0;
}

void imd_nats_ctl(void *arg, struct zt_ctlconn *c, uint64_t now)
{
	struct imd_nats *n = arg;
	struct zt_natsbus_status s;
	struct zt_prespub_stats ps;
	struct zt_prestab_stats ts;
	struct zt_presrec *list = NULL;
	char key[ZT_PRESREC_KEY_MAX + 1], a[ZT_ADDR_STRLEN];
	uint64_t wall = wall_ms();
	size_t got = 0;
	(void)now;

	if (!n->bus) {
		zt_ctl_printf(c, "nats state=off note=\"no --nats: this Intermediate works alone\"");
		zt_ctl_end(c);
		return;
	}
	zt_natsbus_status(n->bus, &s);
	zt_prespub_stats(n->pub, &ps);
	zt_prestab_stats(n->tab, &ts);
	zt_ctl_printf(c, "nats state=%s servers=%s bucket=%s name=%s readies=%" PRIu64
		      " published=%zu puts=%" PRIu64 " deletes=%" PRIu64 " nudges=%" PRIu64
		      " store_puts=%" PRIu64 " store_deletes=%" PRIu64 " store_failed=%" PRIu64
		      " dropped=%" PRIu64 " changes=%" PRIu64 " table=%zu applied=%" PRIu64
		      " stale=%" PRIu64 " refused=%" PRIu64 " full=%" PRIu64 " expired=%" PRIu64
		      " last_refusal=\"%s\" policy=%s policy_seq=%" PRIu64 " policy_applied=%" PRIu64
		      " policy_refused=%" PRIu64 " policy_stale=%" PRIu64 " policy_error=\"%s\""
		      " policy_signer=%s signers=%zu error=\"%s\"",
		      zt_natsbus_state_name(s.state), n->servers, n->bucket, n->name, s.readies,
		      ps.clients, ps.puts, ps.deletes, ps.nudges, s.puts, s.deletes, s.failed,
		      s.dropped, s.changes, ts.entries, ts.applied, ts.stale, ts.refused, ts.full,
		      ts.expired, ts.last_refusal ? zt_strerror(ts.last_refusal) : "",
		      !n->policy_follow ? "off" : n->policy_withdrawn ? "withdrawn" : "follow",
		      n->policy_seq, n->policy_applied,
		      n->policy_refused, n->policy_stale, n->policy_error,
		      n->policy_signer[0] ? n->policy_signer : "none", n->n_signers, s.error);
	list = calloc(IMD_CTL_PRESENCE_MAX, sizeof(*list));
	if (list)
		got = zt_prestab_list(n->tab, wall, list, IMD_CTL_PRESENCE_MAX);
	for (size_t i = 0; list && i < got && i < IMD_CTL_PRESENCE_MAX; i++) {
		const struct zt_presrec *r = &list[i];
		if (zt_presrec_key(key, sizeof(key), r->role, r->name) < 0)
			continue;
		zt_ctl_printf(c, "presence=%s imd=%s addr=%s seq=%" PRIu64 " expires_ms=%" PRIu64,
			      key, r->imd, r->naddrs ? zt_addr_str(&r->addrs[0], a) : "-", r->seq,
			      r->expires_ms > wall ? r->expires_ms - wall : 0);
	}
	free(list);
	zt_ctl_end(c);
}

struct serving {
	const struct zt_policy *policy;
	const char *service, *self;
};

static bool serves_elsewhere(void *arg, const struct zt_presrec *r)
{
	const struct serving *s = arg;

	return r->role == ZT_PRESREC_CONNECTOR && strcmp(r->imd, s->self) &&
	       zt_policy_may_serve(s->policy, r->name, s->service);
}

bool imd_nats_elsewhere(void *arg, const struct zt_policy *policy, const char *service,
			struct zt_imd_where *ret)
{
	struct imd_nats *n = arg;
	struct serving s = { .policy = policy, .service = service, .self = n->name };
	struct zt_presrec r, ir;
	uint64_t wall = wall_ms();

	*ret = (struct zt_imd_where){ 0 };
	if (!n->tab || zt_prestab_first(n->tab, wall, serves_elsewhere, &s, &r) < 0) {
		struct zt_natsbus_status st;
		zt_natsbus_status(n->bus, &st);
		if (st.state != ZT_NATSBUS_READY)
			snprintf(ret->note, sizeof(ret->note), "the NATS cluster is unreachable from "
				 "here: connectors at other Intermediates may be missed");
		return false;
	}
	snprintf(ret->connector, sizeof(ret->connector), "%s", r.name);
	snprintf(ret->imd, sizeof(ret->imd), "%s", r.imd);
	if (zt_prestab_find(n->tab, wall, ZT_PRESREC_INTERMEDIATE, r.imd, &ir) == 0 && ir.naddrs)
		ret->link = ir.addrs[0];
	return true;
}

void imd_nats_metrics(const struct imd_nats *n, struct zt_prom *p)
{
	struct zt_natsbus_status s;
	struct zt_prespub_stats ps;
	struct zt_prestab_stats ts;

	if (!n->bus)
		return;
	zt_natsbus_status(n->bus, &s);
	zt_prespub_stats(n->pub, &ps);
	zt_prestab_stats(n->tab, &ts);
	ZT_PROM_MANY(p, "ztna_cluster_state", "gauge",
	     "1 for the state of this Intermediate's link to the NATS cluster, 0 for the others.",
	     "state", { "connecting", s.state == ZT_NATSBUS_CONNECTING },
	     { "ready", s.state == ZT_NATSBUS_READY }, { "down", s.state == ZT_NATSBUS_DOWN });
	zt_prom_family(p, "ztna_presence_published", "gauge",
		       "Clients of this Intermediate with a presence record in the cluster.");
	zt_prom_u64(p, "ztna_presence_published", NULL, NULL, ps.clients);
	zt_prom_family(p, "ztna_presence_records", "gauge",
		       "Presence records held from the cluster (every Intermediate's clients).");
	zt_prom_u64(p, "ztna_presence_records", NULL, NULL, ts.entries);
	ZT_PROM_MANY(p, "ztna_presence_store_total", "counter",
	     "Operations on the cluster's presence bucket.", "op", { "put", s.puts },
	     { "delete", s.deletes }, { "failed", s.failed }, { "dropped", s.dropped });
	zt_prom_family(p, "ztna_policy_seq", "gauge",
		       "Sequence number of the policy from the cluster in force (0: none; "
		       "--nats-policy follow).");
	zt_prom_u64(p, "ztna_policy_seq", NULL, NULL, n->policy_seq);
	ZT_PROM_MANY(p, "ztna_policy_records_total", "counter",
	     "Policy records from the cluster, by what became of them.", "result",
	     { "applied", n->policy_applied }, { "refused", n->policy_refused },
	     { "stale", n->policy_stale });
	ZT_PROM_MANY(p, "ztna_presence_changes_total", "counter",
	     "Changes of the presence bucket seen, by what became of them.", "result",
	     { "applied", ts.applied }, { "stale", ts.stale }, { "refused", ts.refused },
	     { "table_full", ts.full });
	zt_prom_family(p, "ztna_presence_login_floors_total", "counter",
		       "Logins here of a client with a record at another Intermediate then: "
		       "their records rank above that one whatever the clocks say.");
	zt_prom_u64(p, "ztna_presence_login_floors_total", NULL, NULL, n->floors);
}

void imd_nats_log(const struct imd_nats *n, const char *event)
{
	struct zt_natsbus_status s;
	struct zt_prespub_stats ps;
	struct zt_prestab_stats ts;
	char ev[32];

	if (!n->bus)
		return;
	zt_natsbus_status(n->bus, &s);
	zt_prespub_stats(n->pub, &ps);
	zt_prestab_stats(n->tab, &ts);
	snprintf(ev, sizeof(ev), "nats_%s", event);
	zt_info(ev, "state=%s published=%zu puts=%" PRIu64 " store_failed=%" PRIu64
		" dropped=%" PRIu64 " table=%zu refused=%" PRIu64 " full=%" PRIu64,
		zt_natsbus_state_name(s.state), ps.clients, ps.puts, s.failed, s.dropped,
		ts.entries, ts.refused, ts.full);
}

void imd_nats_stop(struct imd_nats *n)
{
	if (n->loop)
		zt_timer_cancel(n->loop, &n->sync_t);
	if (n->pub && n->bus)
		zt_prespub_withdraw(n->pub);
	zt_natsbus_stop(n->bus); /* the deletes go out first */
	n->bus = NULL;
	zt_prespub_free(n->pub);
	n->pub = NULL;
	zt_prestab_free(n->tab);
	n->tab = NULL;
	explicit_bzero(n->key, sizeof(n->key));
	for (size_t i = 0; i < n->n_signers; i++)
		zt_sig_pub_free(n->signers[i]);
	n->n_signers = 0;
}
