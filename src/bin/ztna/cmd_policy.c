/*
 * ztna policy push: publishes the deployment's policy (its clients and rules) to the
 * NATS cluster the Intermediates share, for those started with --nats-policy follow
 * (docs/scale-out.md). The file holds configuration lines with the keys client, allow,
 * serve and limit (app/policytext.h); it is checked here first, sealed under the
 * presence key (core/polrec.h: nobody without the key reads the tokens or forges a
 * policy) and put in the bucket with a sequence number above the current one's.
 *
 *   ztna policy push --nats URL[,URL...] --presence-key FILE --file POLICY
 *                    [--bucket ztna-policy] [--replicas N] [--seq N]
 *
 * Prints "pushed seq=.. clients=.. rules=.. bytes=.. revision=..". Exit 0 pushed, 1
 * the cluster did not take it (the reason printed), 2 bad usage or a bad file.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/natsbus.h"
#include "app/policytext.h"
#include "app/secret.h"
#include "cli.h"
#include "cmds.h"
#include "core/err.h"
#include "core/polrec.h"
#include "io/clock.h"
#include "io/sysrng.h"

struct push_args {
	char servers[512];
	char key_file[4096];
	char file[4096];
	char bucket[64];
	unsigned replicas;
	uint64_t seq;              /* 0: above the current one's */
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
};

/* The current policy's seq (0: none, or one this key cannot open). */
static uint64_t current_seq(const struct push_args *a, const uint8_t *key, size_t key_len)
{
	uint8_t *val = NULL;
	size_t len = 0;
	char err[256], *text;
	struct zt_polrec r = { 0 };

	if (zt_natsbus_get_once(a->servers, a->bucket, (int)a->replicas, ZT_NATSBUS_POLICY_KEY, &val,
				&len, err, sizeof(err)) < 0)
		return 0;
	text = malloc(len + 1);
	if (text && zt_polrec_open(val, len, key, key_len, &r, text, len + 1) < 0)
		r.seq = 0;
	if (text)
		explicit_bzero(text, len + 1);
	free(text);
	free(val);
	return r.seq;
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
	rc = zt_polrec_seal(rec, cap, &r, text, strlen(text), nonce, key, key_len);
	zt_secret_free(text);
	if (rc < 0) {
		fprintf(stderr, "ztna policy push: %s: %s\n", a->file, zt_strerror(rc));
		return -ZT_EXIT_USAGE;
	}
	return rc;
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
	if (n < 0)
		return -n;
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
	       "bucket=%s revision=%" PRIu64 "\n", r.seq, zt_policy_client_count(pol),
	       zt_policy_rule_count(pol), zt_policy_serve_count(pol), zt_policy_limit_count(pol), n,
	       a->bucket, rev);
	zt_policy_free(pol);
	return ZT_EXIT_OK;
}

int policy_main(int argc, char **argv)
{
	static struct push_args a;
	int rc;

	if (argc < 2 || strcmp(argv[1], "push")) {
		fprintf(argc < 2 || (strcmp(argv[1], "--help") && strcmp(argv[1], "-h")) ? stderr : stdout,
			"usage: ztna policy push --nats URL --presence-key FILE --file POLICY "
			"[--bucket NAME] [--replicas N] [--seq N]\n");
		return argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) ? 0 : 2;
	}
	a = (struct push_args){ .bucket = "ztna-policy", .replicas = 1 };
	rc = zt_cli_parse("policy push", "usage: ztna policy push --nats URL --presence-key FILE "
			  "--file POLICY [OPTIONS]\n\nPublishes the deployment's policy to the "
			  "Intermediates that follow it (--nats-policy follow).\n", keys,
			  sizeof(keys) / sizeof(keys[0]), &a, argc - 1, argv + 1);
	if (rc >= 0)
		return rc;
	return push(&a);
}
