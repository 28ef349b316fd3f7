/*
 * ztna pki: a development PKI in one command (quic/pki.h).
 *
 *   ztna pki init DIR [--intermediate-ip IP]... [--intermediate-dns NAME]...
 *                     [--service NAME]... [--agent NAME]... [--connector NAME]... [--force]
 *   ztna pki issue DIR [--service NAME]... [--agent NAME]... [--connector NAME]...
 *                      [--intermediate-ip IP]... [--force]
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmds.h"
#include "core/err.h"
#include "io/sysrng.h"
#include "quic/pki.h"

#define MAX_SUBJECTS 64
#define MAX_IPS 16
#define MAX_DNS 16

static void pki_usage(FILE *f)
{
	fprintf(f,
		"usage: ztna pki init DIR [OPTIONS]    create a CA and certificates in DIR\n"
		"       ztna pki issue DIR [OPTIONS]   more certificates from DIR's CA\n"
		"\n"
		"options:\n"
		"  --intermediate-ip IP     an IP address the Intermediate is reached at (repeat)\n"
		"  --intermediate-dns NAME  an extra DNS name for the Intermediate (repeat)\n"
		"  --service NAME           a service certificate (svc-NAME.ztna) for a connector\n"
		"  --agent NAME             an agent identity (client certificate)\n"
		"  --connector NAME         a connector identity (client certificate)\n"
		"  --force                  overwrite existing files\n"
		"\n"
		"init always makes ca.pem/ca.key and intermediate.pem/.key; issue makes the\n"
		"Intermediate's certificate again only when --intermediate-ip/-dns is given.\n"
		"NAME: 1-63 of [A-Za-z0-9-]. Keys are ECDSA P-256, written mode 0600.\n");
}

int pki_main(int argc, char **argv)
{
	struct zt_pki_subject subj[MAX_SUBJECTS];
	struct zt_addr ips[MAX_IPS];
	const char *dns[MAX_DNS];
	size_t nsubj = 1, nips = 0, ndns = 0;
	bool init, force = false, want_intermediate;
	struct zt_rng rng = zt_sysrng();
	const char *dir;
	int rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		pki_usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "init") && strcmp(argv[1], "issue")) {
		fprintf(stderr, "ztna pki: unknown action '%s' (init or issue)\n", argv[1]);
		return 2;
	}
	init = !strcmp(argv[1], "init");
	if (argc < 3 || argv[2][0] == '-') {
		fprintf(stderr, "ztna pki %s: missing DIR\n", argv[1]);
		return 2;
	}
	dir = argv[2];
	/* subj[0] is the Intermediate, kept only when wanted. */
	subj[0] = (struct zt_pki_subject){ .kind = ZT_PKI_INTERMEDIATE, .name = "intermediate",
					   .ips = ips, .dns = dns };
	for (int i = 3; i < argc; i++) {
		const char *opt = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
		enum zt_pki_kind kind = 0;

		if (!strcmp(opt, "--force")) {
			force = true;
			continue;
		}
		if (!strcmp(opt, "--help") || !strcmp(opt, "-h")) {
			pki_usage(stdout);
			return 0;
		}
		if (!val) {
			fprintf(stderr, "ztna pki: %s needs a value\n", opt);
			return 2;
		}
		i++;
		if (!strcmp(opt, "--intermediate-ip")) {
			if (nips == MAX_IPS || zt_addr_parse(&ips[nips], val, 0) < 0 ||
			    ips[nips].port != 0) {
				fprintf(stderr, "ztna pki: --intermediate-ip '%s': not an IP address "
						"(or more than %d)\n", val, MAX_IPS);
				return 2;
			}
			nips++;
			continue;
		}
		if (!strcmp(opt, "--intermediate-dns")) {
			if (ndns == MAX_DNS) {
				fprintf(stderr, "ztna pki: at most %d --intermediate-dns\n", MAX_DNS);
				return 2;
			}
			dns[ndns++] = val;
			continue;
		}
		if (!strcmp(opt, "--service"))
			kind = ZT_PKI_SERVICE;
		else if (!strcmp(opt, "--agent"))
			kind = ZT_PKI_AGENT;
		else if (!strcmp(opt, "--connector"))
			kind = ZT_PKI_CONNECTOR;
		else {
			fprintf(stderr, "ztna pki: unknown option '%s'\n", opt);
			pki_usage(stderr);
			return 2;
		}
		if (!zt_pki_name_valid(val)) {
			fprintf(stderr, "ztna pki: %s '%s': a name is 1-63 of [A-Za-z0-9-], not "
					"starting or ending with '-'\n", opt, val);
			return 2;
		}
		if (nsubj == MAX_SUBJECTS) {
			fprintf(stderr, "ztna pki: at most %d certificates at once\n", MAX_SUBJECTS - 1);
			return 2;
		}
		subj[nsubj++] = (struct zt_pki_subject){ .kind = kind, .name = val };
	}
	subj[0].n_ips = nips;
	subj[0].n_dns = ndns;
	want_intermediate = init || nips || ndns;
	if (!init && nsubj == 1 && !want_intermediate) {
		fprintf(stderr, "ztna pki issue: nothing to issue (--service, --agent, --connector, "
				"--intermediate-ip)\n");
		return 2;
	}
	if (init)
		rc = zt_pki_init_dir(dir, "ztna development CA", subj, nsubj, force, time(NULL), &rng);
	else
		rc = zt_pki_issue_dir(dir, want_intermediate ? subj : subj + 1,
				      want_intermediate ? nsubj : nsubj - 1, force, time(NULL), &rng);
	if (rc == -EEXIST) {
		fprintf(stderr, "ztna pki %s: %s already holds %s; --force overwrites\n", argv[1], dir,
			init ? "a CA" : "one of these certificates");
		return 1;
	}
	if (rc == -ENOENT && !init) {
		fprintf(stderr, "ztna pki issue: no CA in %s (ca.pem, ca.key); run 'ztna pki init %s' "
				"first\n", dir, dir);
		return 1;
	}
	if (rc < 0) {
		fprintf(stderr, "ztna pki %s: %s: %s\n", argv[1], dir, zt_strerror(rc));
		return 1;
	}
	for (size_t i = want_intermediate ? 0 : 1; i < nsubj; i++) {
		char stem[128];
		zt_pki_file_stem(&subj[i], stem, sizeof(stem));
		printf("%s/%s.pem %s/%s.key\n", dir, stem, dir, stem);
	}
	if (init)
		printf("%s/ca.pem %s/ca.key\n", dir, dir);
	return 0;
}
