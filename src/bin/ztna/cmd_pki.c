/*
 * ztna pki: a development PKI in one command (quic/pki.h), one bundle per party.
 *
 *   ztna pki init DIR [--intermediate-ip IP]... [--intermediate-dns NAME]...
 *                     [--agent NAME]... [--connector NAME[=SERVICE,...]]...
 *                     [--service NAME[@CONNECTOR]]... [--force]
 *   ztna pki issue DIR (the same options)
 *   ztna pki show | list | export ...  (cmd_pkishow.c)
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmds.h"
#include "core/err.h"
#include "io/sysrng.h"
#include "quic/certinfo.h"
#include "quic/pki.h"

#define MAX_SUBJECTS 64
#define MAX_IPS 16
#define MAX_DNS 16

static void pki_usage(FILE *f)
{
	fprintf(f,
		"usage: ztna pki init DIR [OPTIONS]    create a CA and one bundle per party in DIR\n"
		"       ztna pki issue DIR [OPTIONS]   more certificates from DIR's CA\n"
		"       ztna pki list DIR              the bundles, which host each goes to, expiry\n"
		"       ztna pki show FILE...          a certificate's names, validity, fingerprint\n"
		"       ztna pki export DIR --for agent|connector NAME OUT\n"
		"       ztna pki export DIR --for intermediate OUT\n"
		"                                      copy one party's bundle to OUT [--force]\n"
		"\n"
		"options:\n"
		"  --intermediate-ip IP       an IP address the Intermediate is reached at (repeat)\n"
		"  --intermediate-dns NAME    an extra DNS name for the Intermediate (repeat)\n"
		"  --agent NAME               an agent identity (client certificate)\n"
		"  --connector NAME[=S,...]   a connector identity, and the services S it serves\n"
		"  --service S[@CONNECTOR]    a service certificate (svc-S.ztna) for CONNECTOR's bundle\n"
		"                             (@CONNECTOR may be left out when one --connector is given)\n"
		"  --days N                   certificates valid for N days (default %d)\n"
		"  --force                    overwrite existing files\n"
		"\n"
		"Bundles (give each program only its own: --pki DIR/BUNDLE):\n"
		"  DIR/ca/               ca.pem ca.key: the CA's key stays here, for 'ztna pki issue'\n"
		"  DIR/intermediate/     ca.pem intermediate.pem intermediate.key\n"
		"  DIR/agent-NAME/       ca.pem agent-NAME.pem agent-NAME.key\n"
		"  DIR/connector-NAME/   ca.pem connector-NAME.pem/.key service-S.pem/.key ...\n"
		"init always makes the CA and the Intermediate's bundle; issue makes the\n"
		"Intermediate's certificate again only when --intermediate-ip/-dns is given.\n"
		"NAME, S: 1-63 of [A-Za-z0-9-]. Keys are ECDSA P-256, written mode 0600.\n"
		"list and show exit 1 when a certificate has expired or expires within %d days.\n",
		ZT_PKI_DEFAULT_DAYS, ZT_CERT_WARN_DAYS);
}

struct pki_args {
	struct zt_pki_subject subj[MAX_SUBJECTS];
	size_t nsubj;                  /* subj[0] is the Intermediate */
	struct zt_addr ips[MAX_IPS];
	const char *dns[MAX_DNS];
	size_t nips, ndns;
	bool force;
	unsigned days;                 /* --days, 0: the default */
	char pool[2 * MAX_SUBJECTS][64]; /* names cut out of option values */
	size_t npool;
};

/* A lasting copy of len bytes of v (a name cut out of "c1=echo,db" or "echo@c1"). */
static const char *keep(struct pki_args *a, const char *v, size_t len)
{
	if (a->npool == sizeof(a->pool) / sizeof(a->pool[0]) || len >= sizeof(a->pool[0]))
		return "-"; /* too many or too long: refused as a bad name */
	snprintf(a->pool[a->npool], sizeof(a->pool[0]), "%.*s", (int)len, v);
	return a->pool[a->npool++];
}

static int add_subject(struct pki_args *a, enum zt_pki_kind kind, const char *name,
		       const char *connector, const char *opt)
{
	const char *bad = !zt_pki_name_valid(name) ? name
			  : connector && !zt_pki_name_valid(connector) ? connector : NULL;

	if (bad) {
		fprintf(stderr, "ztna pki: %s '%s': a name is 1-63 of [A-Za-z0-9-], not starting "
				"or ending with '-'\n", opt, bad);
		return 2;
	}
	for (size_t i = 1; i < a->nsubj; i++)
		if (a->subj[i].kind == kind && !strcmp(a->subj[i].name, name) &&
		    (!connector || !a->subj[i].connector || !strcmp(a->subj[i].connector, connector)))
			return 0; /* said twice */
	if (a->nsubj == MAX_SUBJECTS) {
		fprintf(stderr, "ztna pki: at most %d certificates at once\n", MAX_SUBJECTS - 1);
		return 2;
	}
	a->subj[a->nsubj++] = (struct zt_pki_subject){ .kind = kind, .name = name,
						       .connector = connector };
	return 0;
}

/* "NAME" or "NAME=S,S,...": a connector and the services it serves. */
static int add_connector(struct pki_args *a, const char *v)
{
	const char *eq = strchr(v, '='), *name = eq ? keep(a, v, (size_t)(eq - v)) : v, *s;
	int rc = add_subject(a, ZT_PKI_CONNECTOR, name, NULL, "--connector");

	for (s = eq ? eq + 1 : NULL; s && !rc; s = strchr(s, ',') ? strchr(s, ',') + 1 : NULL)
		rc = add_subject(a, ZT_PKI_SERVICE, keep(a, s, strcspn(s, ",")), name, "--connector");
	return rc;
}

/* "S" or "S@CONNECTOR". */
static int add_service(struct pki_args *a, const char *v)
{
	const char *at = strchr(v, '@');

	if (!at)
		return add_subject(a, ZT_PKI_SERVICE, v, NULL, "--service");
	return add_subject(a, ZT_PKI_SERVICE, keep(a, v, (size_t)(at - v)), at + 1, "--service");
}

/* A service named without @CONNECTOR goes to the only connector given, if one is. */
static int bind_services(struct pki_args *a)
{
	const char *only = NULL;
	size_t nconn = 0;

	for (size_t i = 1; i < a->nsubj; i++)
		if (a->subj[i].kind == ZT_PKI_CONNECTOR) {
			only = a->subj[i].name;
			nconn++;
		}
	for (size_t i = 1; i < a->nsubj; i++) {
		if (a->subj[i].kind != ZT_PKI_SERVICE || a->subj[i].connector)
			continue;
		if (nconn != 1) {
			fprintf(stderr, "ztna pki: --service %s: which connector serves it? "
					"--service %s@CONNECTOR, or --connector CONNECTOR=%s\n",
				a->subj[i].name, a->subj[i].name, a->subj[i].name);
			return 2;
		}
		a->subj[i].connector = only;
	}
	return 0;
}

static int parse_opt(struct pki_args *a, const char *opt, const char *val)
{
	if (!strcmp(opt, "--intermediate-ip")) {
		if (a->nips == MAX_IPS || zt_addr_parse(&a->ips[a->nips], val, 0) < 0 ||
		    a->ips[a->nips].port != 0) {
			fprintf(stderr, "ztna pki: --intermediate-ip '%s': not an IP address (or more "
					"than %d)\n", val, MAX_IPS);
			return 2;
		}
		a->nips++;
		return 0;
	}
	if (!strcmp(opt, "--intermediate-dns")) {
		if (a->ndns == MAX_DNS) {
			fprintf(stderr, "ztna pki: at most %d --intermediate-dns\n", MAX_DNS);
			return 2;
		}
		a->dns[a->ndns++] = val;
		return 0;
	}
	if (!strcmp(opt, "--days")) {
		char *end;
		unsigned long d = strtoul(val, &end, 10);
		if (*val < '1' || *val > '9' || *end || d > 36500) {
			fprintf(stderr, "ztna pki: --days '%s': a number of days, 1 to 36500\n", val);
			return 2;
		}
		a->days = (unsigned)d;
		return 0;
	}
	if (!strcmp(opt, "--agent"))
		return add_subject(a, ZT_PKI_AGENT, val, NULL, opt);
	if (!strcmp(opt, "--connector"))
		return add_connector(a, val);
	if (!strcmp(opt, "--service"))
		return add_service(a, val);
	fprintf(stderr, "ztna pki: unknown option '%s'\n", opt);
	pki_usage(stderr);
	return 2;
}

static int parse_args(struct pki_args *a, int argc, char **argv)
{
	int rc;

	for (int i = 3; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		if (!strcmp(opt, "--force")) {
			a->force = true;
			continue;
		}
		if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
			pki_usage(stdout);
			return -1;
		}
		if (!val) {
			fprintf(stderr, "ztna pki: %s needs a value\n", opt);
			return 2;
		}
		i++;
		if ((rc = parse_opt(a, opt, val)))
			return rc;
	}
	return bind_services(a);
}

/* What was written, one bundle a line. */
static void print_bundles(const struct pki_args *a, const char *dir, bool init, size_t first)
{
	char seen[MAX_SUBJECTS][128], name[128], stem[128];
	size_t nseen = 0;

	if (init)
		printf("%s/ca: ca.pem ca.key (keep it here: only 'ztna pki issue' needs it)\n", dir);
	for (size_t i = first; i < a->nsubj; i++) {
		bool dup = false;
		if (zt_pki_bundle_name(&a->subj[i], name, sizeof(name)) < 0)
			continue;
		for (size_t j = 0; j < nseen; j++)
			dup |= !strcmp(seen[j], name);
		if (dup)
			continue;
		snprintf(seen[nseen++], sizeof(seen[0]), "%s", name);
		printf("%s/%s: ca.pem", dir, name);
		for (size_t j = first; j < a->nsubj; j++) {
			char other[128];
			if (zt_pki_bundle_name(&a->subj[j], other, sizeof(other)) < 0 ||
			    strcmp(other, name) || zt_pki_file_stem(&a->subj[j], stem, sizeof(stem)) < 0)
				continue;
			printf(" %s.pem %s.key", stem, stem);
		}
		printf("\n");
	}
}

int pki_main(int argc, char **argv)
{
	static struct pki_args a;
	struct zt_rng rng = zt_sysrng();
	bool init, want_intermediate;
	const char *dir;
	size_t first;
	int rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		pki_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "show"))
		return pki_show_main(argc, argv);
	if (!strcmp(argv[1], "list"))
		return pki_list_main(argc, argv);
	if (!strcmp(argv[1], "export"))
		return pki_export_main(argc, argv);
	if (strcmp(argv[1], "init") && strcmp(argv[1], "issue")) {
		fprintf(stderr, "ztna pki: unknown action '%s' (init, issue, list, show or "
				"export)\n", argv[1]);
		return 2;
	}
	init = !strcmp(argv[1], "init");
	if (argc < 3 || argv[2][0] == '-') {
		fprintf(stderr, "ztna pki %s: missing DIR\n", argv[1]);
		return 2;
	}
	dir = argv[2];
	a.nsubj = 1;
	rc = parse_args(&a, argc, argv);
	if (rc)
		return rc < 0 ? 0 : rc;
	a.subj[0] = (struct zt_pki_subject){ .kind = ZT_PKI_INTERMEDIATE, .name = "intermediate",
					     .ips = a.ips, .n_ips = a.nips, .dns = a.dns,
					     .n_dns = a.ndns };
	for (size_t i = 0; i < a.nsubj; i++)
		a.subj[i].days = a.days;
	want_intermediate = init || a.nips || a.ndns;
	first = want_intermediate ? 0 : 1;
	if (!init && a.nsubj == 1 && !want_intermediate) {
		fprintf(stderr, "ztna pki issue: nothing to issue (--agent, --connector, --service, "
				"--intermediate-ip)\n");
		return 2;
	}
	if (init)
		rc = zt_pki_init_dir(dir, "ztna development CA", a.subj, a.nsubj, a.force, time(NULL), &rng);
	else
		rc = zt_pki_issue_dir(dir, a.subj + first, a.nsubj - first, a.force, time(NULL), &rng);
	if (rc == -EEXIST) {
		fprintf(stderr, "ztna pki %s: %s already holds %s; --force overwrites\n", argv[1], dir,
			init ? "a CA" : "one of these certificates");
		return 1;
	}
	if (rc == -ENOENT && !init) {
		fprintf(stderr, "ztna pki issue: no CA in %s (ca/ca.pem, ca/ca.key); run 'ztna pki "
				"init %s' first\n", dir, dir);
		return 1;
	}
	if (rc < 0) {
		fprintf(stderr, "ztna pki %s: %s: %s\n", argv[1], dir, zt_strerror(rc));
		return 1;
	}
	print_bundles(&a, dir, init, first);
	return 0;
}
