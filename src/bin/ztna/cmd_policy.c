/*
 * ztna policy push: publishes the deployment's policy (its clients and rules) to the
 * NATS cluster the Intermediates share, for those started with --nats-policy follow
 * (docs/scale-out.md). The file holds configuration lines with the keys client, allow,
 * serve and limit (app/policytext.h); it is checked here first, sealed under the
 * presence key (core/polrec.h: nobody without the key reads the tokens or forges a
 * policy) and put in the bucket with a sequence number above the current one's.
 *
 *   ztna policy push --nats URL[,URL...] --presence-key FILE --file POLICY
 *                    [--bucket ztna-policy] [--replicas N] [--seq N] [--sign KEY]
 *   ztna policy show --nats URL[,URL...] --presence-key FILE [--bucket ztna-policy]
 *   ztna policy keygen --out PREFIX
 *
 * --sign signs the record with an operator's key (quic/sig.h, a version 2 record):
 * Intermediates given --policy-signer take only policies signed by one of the keys
 * named there. keygen makes such a key pair: PREFIX.key (0600, for --sign) and
 * PREFIX.pub (for the Intermediates' --policy-signer), and prints its id.
 *
 * push prints "pushed seq=.. clients=.. rules=.. bytes=.. revision=..". Exit 0 pushed,
 * 1 the cluster did not take it (the reason printed), 2 bad usage or a bad file.
 * show prints the policy in force: the newest of the bucket's history that opens under
 * the key (what a starting Intermediate takes), "policy seq=.. issued=.. clients=.. ..."
 * then its lines, each client's token replaced by "***". Exit 0, 1 when none opens
 * (the reason printed), 2 bad usage. push's default seq is above that one's too.
 */
#include <errno.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app/natsbus.h"
#include "app/policytext.h"
#include "app/secret.h"
#include "cli.h"
#include "cmds.h"
#include "core/err.h"
#include "core/polrec.h"
#include "io/clock.h"
#include "io/sysrng.h"
#include "quic/sig.h"

struct push_args {
	char servers[512];
	char key_file[4096];
	char file[4096];
	char bucket[64];
	unsigned replicas;
	uint64_t seq;              /* 0: above the current one's */
	char sign_file[4096];      /* "": unsigned */
	char out[4096];            /* keygen */
};

static int set_servers(void *ctx, const char *v, const char **why)
{
	struct push_args *a = ctx;

	if (strlen(v) >= sizeof(a->servers)) {
		*why = "too long";
		return ZT_ECONF_VALUE;
	}
	snprintf(a->servers, sizeof(a->servers), "%s", v);
	return 0;
}

static int set_text(char *dst, size_t cap, const char *v, const char **why)
{
	if (strlen(v) >= cap) {
		*why = "too long";
		return ZT_ECONF_VALUE;
	}
	snprintf(dst, cap, "%s", v);
	return 0;
}

static int set_key(void *ctx, const char *v, const char **why)
{
	return set_text(((struct push_args *)ctx)->key_file, 4096, v, why);
}

static int set_file(void *ctx, const char *v, const char **why)
{
	return set_text(((struct push_args *)ctx)->file, 4096, v, why);
}

static int set_sign(void *ctx, const char *v, const char **why)
{
	return set_text(((struct push_args *)ctx)->sign_file, 4096, v, why);
}

static int set_out(void *ctx, const char *v, const char **why)
{
	if (strlen(v) + 5 > 4096) {
		*why = "too long";
		return ZT_ECONF_VALUE;
	}
	return set_text(((struct push_args *)ctx)->out, 4096, v, why);
}

static int set_bucket(void *ctx, const char *v, const char **why)
{
	return set_text(((struct push_args *)ctx)->bucket, 64, v, why);
}

static int set_replicas(void *ctx, const char *v, const char **why)
{
	return zt_cli_uint(&((struct push_args *)ctx)->replicas, v, 1, 5, why);
}

static int set_seq(void *ctx, const char *v, const char **why)
{
	char *end;
	unsigned long long n = strtoull(v, &end, 10);

	if (!*v || *end || n == 0) {
		*why = "a number above 0";
		return ZT_ECONF_VALUE;
	}
	((struct push_args *)ctx)->seq = n;
	return 0;
}

static const struct zt_conf_key keys[] = {
	{ .name = "nats", .syntax = "URL[,URL...]", .example = "nats://10.0.0.5:4222",
	  .help = "the NATS cluster the Intermediates share", .set = set_servers, .required = true },
	{ .name = "presence-key", .syntax = "FILE", .example = "/etc/ztna/presence.key",
	  .help = "the deployment's presence key (the Intermediates' --presence-key)",
	  .set = set_key, .required = true },
	{ .name = "file", .syntax = "FILE", .example = "/etc/ztna/policy.conf",
	  .help = "the policy: 'client = KIND:NAME:TOKEN', 'allow = ..', 'serve = ..', "
		  "'limit = ..' lines (mode 0600: it holds tokens)", .set = set_file, .required = true },
	{ .name = "bucket", .syntax = "NAME", .example = "ztna-policy",
	  .help = "the key-value bucket (default ztna-policy)", .set = set_bucket },
	{ .name = "replicas", .syntax = "N", .example = "3",
	  .help = "copies of the bucket when this creates it (default 1)", .set = set_replicas },
	{ .name = "seq", .syntax = "N", .example = "42",
	  .help = "the policy's sequence number (default: above the current one's and the "
		  "clock's); the Intermediates take only a higher one", .set = set_seq },
	{ .name = "sign", .syntax = "FILE", .example = "/etc/ztna/operator.key",
	  .help = "sign the policy with this operator key (ztna policy keygen; mode 0600): "
		  "Intermediates with --policy-signer take only signed policies", .set = set_sign },
};

static const struct zt_conf_key keygen_keys[] = {
	{ .name = "out", .syntax = "PREFIX", .example = "/etc/ztna/operator",
	  .help = "writes PREFIX.key (the private key, 0600) and PREFIX.pub (for "
		  "--policy-signer)", .set = set_out, .required = true },
};

static const struct zt_conf_key show_keys[] = {
	{ .name = "nats", .syntax = "URL[,URL...]", .example = "nats://10.0.0.5:4222",
	  .help = "the NATS cluster the Intermediates share", .set = set_servers, .required = true },
	{ .name = "presence-key", .syntax = "FILE", .example = "/etc/ztna/presence.key",
	  .help = "the deployment's presence key", .set = set_key, .required = true },
	{ .name = "bucket", .syntax = "NAME", .example = "ztna-policy",
	  .help = "the key-value bucket (default ztna-policy)", .set = set_bucket },
};

/* The newest record of the bucket's history that opens under the key. */
struct newest {
	const uint8_t *key;
	size_t key_len;
	struct zt_polrec r;
	char *text;              /* its text (heap), NULL: none opened */
	size_t text_cap;
	int last_err;            /* why the last value that did not open failed */
};

static void take_newest(void *arg, const uint8_t *val, size_t len)
{
	struct newest *n = arg;
	struct zt_polrec r;
	char *t = malloc(len + 1);
	int rc;

	if (!t)
		return;
	rc = zt_polrec_open(val, len, n->key, n->key_len, &r, t, len + 1);
	if (rc >= 0 && (!n->text || r.seq > n->r.seq)) {
		if (n->text)
			explicit_bzero(n->text, n->text_cap);
		free(n->text);
		n->text = t;
		n->text_cap = len + 1;
		n->r = r;
		return;
	}
	if (rc < 0)
		n->last_err = rc;
	explicit_bzero(t, len + 1);
	free(t);
}

static void newest_free(struct newest *n)
{
	if (n->text)
		explicit_bzero(n->text, n->text_cap);
	free(n->text);
	n->text = NULL;
}

/* The current policy's seq (0: none, or none this key opens). */
static uint64_t current_seq(const struct push_args *a, const uint8_t *key, size_t key_len)
{
	struct newest n = { .key = key, .key_len = key_len };
	char err[256];
	uint64_t seq;

	zt_natsbus_history_once(a->servers, a->bucket, (int)a->replicas, ZT_NATSBUS_POLICY_KEY,
				take_newest, &n, err, sizeof(err));
	seq = n.text ? n.r.seq : 0;
	newest_free(&n);
	return seq;
}

/* Signs the n sealed bytes of rec with --sign's key: the record's length or an exit
 * status (negated), the message printed. */
static int sign_record(const struct push_args *a, uint8_t *rec, size_t cap, size_t n)
{
	struct zt_sig_priv *k = NULL;
	uint8_t id[ZT_SIG_ID_LEN], sig[ZT_SIG_LEN];
	const char *why = "";
	char *pem = NULL;
	int rc = zt_secret_read(a->sign_file, &pem, &why);

	if (rc < 0) {
		fprintf(stderr, "ztna policy push: --sign %s: %s%s%s\n", a->sign_file, why,
			rc == -EPERM ? ": chmod 600 " : "", rc == -EPERM ? a->sign_file : "");
		return -ZT_EXIT_USAGE;
	}
	rc = zt_sig_priv_load(&k, pem);
	zt_secret_free(pem);
	if (rc < 0) {
		fprintf(stderr, "ztna policy push: --sign %s: %s (an operator key from 'ztna "
			"policy keygen' is an Ed25519 private key in PEM)\n", a->sign_file,
			rc == ZT_EMALFORMED ? "not an Ed25519 private key" : zt_strerror(rc));
		return -ZT_EXIT_USAGE;
	}
	zt_sig_priv_id(k, id);
	rc = zt_sig_sign(k, rec, n, sig);
	zt_sig_priv_free(k);
	if (rc == 0)
		rc = zt_polrec_sign_finish(rec, cap, n, id, sig);
	if (rc < 0) {
		fprintf(stderr, "ztna policy push: signing: %s\n", zt_strerror(rc));
		return -ZT_EXIT_USAGE;
	}
	return rc;
}

/* Reads, checks and seals the policy file. Returns the record's length or an exit
 * status (negated), the message printed. */
static int seal_file(const struct push_args *a, const uint8_t *key, size_t key_len,
		     uint8_t *rec, size_t cap, struct zt_policy **pol)
{
	struct zt_rng rng = zt_sysrng();
	uint8_t nonce[ZT_POLREC_NONCE_LEN];
	struct zt_polrec r = { .issued_ms = zt_clock_wall() / 1000000 };
	const char *why = "";
	char *text = NULL, err[600];
	int rc = zt_secret_read(a->file, &text, &why);

	if (rc < 0) {
		fprintf(stderr, "ztna policy push: %s: %s%s%s\n", a->file, why,
			rc == -EPERM ? ": chmod 600 " : "", rc == -EPERM ? a->file : "");
		return -ZT_EXIT_USAGE;
	}
	rc = zt_policytext_parse(a->file, text, pol, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "ztna policy push: %s\n", err);
		zt_secret_free(text);
		return -ZT_EXIT_USAGE;
	}
	r.seq = a->seq;
	if (!r.seq) {
		uint64_t cur = current_seq(a, key, key_len), clock = zt_clock_wall() / 1000;
		r.seq = cur >= clock ? cur + 1 : clock;
	}
	zt_rng_fill(&rng, nonce, sizeof(nonce));
	r.is_signed = a->sign_file[0] != '\0';
	rc = zt_polrec_seal(rec, cap, &r, text, strlen(text), nonce, key, key_len);
	zt_secret_free(text);
	if (rc < 0) {
		fprintf(stderr, "ztna policy push: %s: %s\n", a->file, zt_strerror(rc));
		return -ZT_EXIT_USAGE;
	}
	return r.is_signed ? sign_record(a, rec, cap, (size_t)rc) : rc;
}

/* The signer of record rec (n bytes) as logs name it, or "none". */
static const char *signer_str(const uint8_t *rec, size_t n)
{
	static char hex[17];

	if (n < ZT_POLREC_OVERHEAD + ZT_POLREC_TRAILER_LEN || rec[4] != 2)
		return "none";
	zt_sig_id_str(rec + n - ZT_POLREC_TRAILER_LEN, hex);
	return hex;
}

static int push(const struct push_args *a)
{
	static uint8_t rec[ZT_POLREC_TEXT_MAX + ZT_POLREC_OVERHEAD];
	struct zt_polrec r;
	struct zt_policy *pol = NULL;
	char key[65], err[512];
	const char *why = "";
	uint64_t rev = 0;
	int klen = zt_secret_read_line(a->key_file, key, sizeof(key), &why), n, rc;

	if (klen < ZT_POLREC_KEY_MIN) {
		fprintf(stderr, "ztna policy push: --presence-key %s: %s\n", a->key_file,
			klen < 0 ? why : "shorter than 16 bytes");
		return ZT_EXIT_USAGE;
	}
	n = seal_file(a, (const uint8_t *)key, (size_t)klen, rec, sizeof(rec), &pol);
	explicit_bzero(key, sizeof(key));
	if (n < 0) {
		zt_policy_free(pol); /* (parsed before sealing or signing failed) */
		return -n;
	}
	rc = zt_natsbus_put_once(a->servers, a->bucket, (int)a->replicas, ZT_NATSBUS_POLICY_KEY, rec,
				 (size_t)n, &rev, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "ztna policy push: %s\n", err);
		zt_policy_free(pol);
		return ZT_EXIT_FAILED;
	}
	/* the header's seq, as sealed */
	r.seq = 0;
	for (int i = 0; i < 8; i++)
		r.seq = r.seq << 8 | rec[5 + i];
	printf("pushed seq=%" PRIu64 " clients=%zu rules=%zu serve_rules=%zu limits=%zu bytes=%d "
	       "bucket=%s revision=%" PRIu64 " signer=%s\n", r.seq, zt_policy_client_count(pol),
	       zt_policy_rule_count(pol), zt_policy_serve_count(pol), zt_policy_limit_count(pol), n,
	       a->bucket, rev, signer_str(rec, (size_t)n));
	zt_policy_free(pol);
	return ZT_EXIT_OK;
}

/* The text with every client line's token (after KIND:NAME:) replaced by ***. */
static void print_masked(const char *text)
{
	for (const char *line = text; *line;) {
		size_t len = strcspn(line, "\n");
		const char *p = line + strspn(line, " \t");
		if (!strncmp(p, "client", 6) && (p[6] == ' ' || p[6] == '\t' || p[6] == '=')) {
			const char *c1 = memchr(p, ':', len - (size_t)(p - line));
			const char *c2 = c1 ? memchr(c1 + 1, ':', len - (size_t)(c1 + 1 - line)) : NULL;
			if (c2)
				printf("%.*s***\n", (int)(c2 + 1 - line), line);
			else
				printf("%.*s\n", (int)len, line);
		} else {
			printf("%.*s\n", (int)len, line);
		}
		line += len + (line[len] == '\n');
	}
}

static int show(const struct push_args *a)
{
	char key[65], err[512];
	const char *why = "";
	struct zt_policy *pol = NULL;
	int klen = zt_secret_read_line(a->key_file, key, sizeof(key), &why), rc;
	struct newest n = { .key = (const uint8_t *)key };

	if (klen < ZT_POLREC_KEY_MIN) {
		fprintf(stderr, "ztna policy show: --presence-key %s: %s\n", a->key_file,
			klen < 0 ? why : "shorter than 16 bytes");
		return ZT_EXIT_USAGE;
	}
	n.key_len = (size_t)klen;
	rc = zt_natsbus_history_once(a->servers, a->bucket, (int)a->replicas, ZT_NATSBUS_POLICY_KEY,
				     take_newest, &n, err, sizeof(err));
	explicit_bzero(key, sizeof(key));
	if (rc == -ENOENT || (rc == 0 && !n.text && !n.last_err))
		snprintf(err, sizeof(err), "no policy in bucket %s (push one: ztna policy push)", a->bucket);
	else if (rc == 0 && !n.text)
		snprintf(err, sizeof(err), "no policy in bucket %s opens: %s (not sealed with this "
			 "presence key)", a->bucket, zt_strerror(n.last_err));
	if (rc == 0 && n.text && zt_policytext_parse("the cluster's policy", n.text, &pol, err,
						     sizeof(err)) < 0)
		rc = -EINVAL;
	if (rc == 0 && n.text) {
		time_t t = (time_t)(n.r.issued_ms / 1000);
		char when[32];
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
		char signer[17] = "none";
		if (n.r.is_signed)
			zt_sig_id_str(n.r.signer, signer);
		printf("policy seq=%" PRIu64 " issued=%s clients=%zu rules=%zu serve_rules=%zu "
		       "limits=%zu bucket=%s signer=%s\n", n.r.seq, when, zt_policy_client_count(pol),
		       zt_policy_rule_count(pol), zt_policy_serve_count(pol),
		       zt_policy_limit_count(pol), a->bucket, signer);
		print_masked(n.text);
	} else {
		fprintf(stderr, "ztna policy show: %s\n", err);
		rc = rc ? rc : -ENOENT;
	}
	zt_policy_free(pol);
	newest_free(&n);
	return rc == 0 ? ZT_EXIT_OK : ZT_EXIT_FAILED;
}

/* Writes text to path, created (O_EXCL) with mode 0600 (secret) or 0644. */
static int write_new(const char *path, const char *text, bool secret)
{
	FILE *f = secret ? zt_secret_create(path) : fopen(path, "wx");
	bool ok;

	if (!f) {
		fprintf(stderr, "ztna policy keygen: %s: %s%s\n", path, strerror(errno),
			errno == EEXIST ? " (not overwritten: remove it first)" : "");
		return -1;
	}
	ok = fputs(text, f) >= 0;
	ok = fclose(f) == 0 && ok;
	if (!ok)
		fprintf(stderr, "ztna policy keygen: %s: write failed\n", path);
	return ok ? 0 : -1;
}

static int keygen(const struct push_args *a)
{
	char key_path[4096 + 8], pub_path[4096 + 8], hex[17];
	char *priv = NULL, *pub = NULL;
	struct zt_sig_pub *p = NULL;
	uint8_t id[ZT_SIG_ID_LEN];
	int rc = zt_sig_keygen(&priv, &pub);

	if (rc < 0 || zt_sig_pub_load(&p, pub) < 0) {
		fprintf(stderr, "ztna policy keygen: %s\n", zt_strerror(rc < 0 ? rc : ZT_ETLS));
		rc = ZT_EXIT_FAILED;
		goto out;
	}
	zt_sig_pub_id(p, id);
	zt_sig_id_str(id, hex);
	snprintf(key_path, sizeof(key_path), "%s.key", a->out);
	snprintf(pub_path, sizeof(pub_path), "%s.pub", a->out);
	if (write_new(key_path, priv, true) < 0) {
		rc = ZT_EXIT_FAILED;
		goto out;
	}
	if (write_new(pub_path, pub, false) < 0) {
		unlink(key_path);
		rc = ZT_EXIT_FAILED;
		goto out;
	}
	printf("key=%s public=%s id=%s\n", key_path, pub_path, hex);
	rc = ZT_EXIT_OK;
out:
	zt_sig_pub_free(p);
	if (priv)
		explicit_bzero(priv, strlen(priv));
	free(priv);
	free(pub);
	return rc;
}

int policy_main(int argc, char **argv)
{
	static struct push_args a;
	int rc;

	bool is_show = argc >= 2 && !strcmp(argv[1], "show");
	bool is_keygen = argc >= 2 && !strcmp(argv[1], "keygen");

	if (argc < 2 || (strcmp(argv[1], "push") && !is_show && !is_keygen)) {
		bool help = argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"));
		fprintf(help ? stdout : stderr,
			"usage: ztna policy push --nats URL --presence-key FILE --file POLICY "
			"[--bucket NAME] [--replicas N] [--seq N] [--sign KEY]\n"
			"       ztna policy show --nats URL --presence-key FILE [--bucket NAME]\n"
			"       ztna policy keygen --out PREFIX\n");
		return help ? 0 : 2;
	}
	a = (struct push_args){ .bucket = "ztna-policy", .replicas = 1 };
	if (is_keygen) {
		rc = zt_cli_parse("policy keygen", "usage: ztna policy keygen --out PREFIX\n\nAn "
				  "operator's key pair for signing pushed policies: PREFIX.key (for "
				  "'ztna policy push --sign') and PREFIX.pub (for the Intermediates' "
				  "--policy-signer).\n", keygen_keys,
				  sizeof(keygen_keys) / sizeof(keygen_keys[0]), &a, argc - 1, argv + 1);
		return rc >= 0 ? rc : keygen(&a);
	}
	if (is_show) {
		rc = zt_cli_parse("policy show", "usage: ztna policy show --nats URL --presence-key "
				  "FILE [--bucket NAME]\n\nThe policy in the cluster now (tokens "
				  "shown as ***).\n", show_keys, sizeof(show_keys) / sizeof(show_keys[0]),
				  &a, argc - 1, argv + 1);
		return rc >= 0 ? rc : show(&a);
	}
	rc = zt_cli_parse("policy push", "usage: ztna policy push --nats URL --presence-key FILE "
			  "--file POLICY [OPTIONS]\n\nPublishes the deployment's policy to the "
			  "Intermediates that follow it (--nats-policy follow).\n", keys,
			  sizeof(keys) / sizeof(keys[0]), &a, argc - 1, argv + 1);
	if (rc >= 0)
		return rc;
	return push(&a);
}
