/*
 * ztna pki show / list / export: what a PKI tree holds, which files go to which host,
 * and one party's files copied out for it (quic/certinfo.h, quic/pki.h).
 *
 *   ztna pki show FILE...                      a certificate's names, validity, fingerprint
 *   ztna pki list DIR                          every bundle, its certificates and expiry
 *   ztna pki export DIR --for KIND [NAME] OUT  copy one party's bundle to OUT
 *
 * show and list exit 0, or 1 when a file cannot be read or a certificate has expired
 * or expires within ZT_CERT_WARN_DAYS (list marks it), so they fit a cron check.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cmds.h"
#include "core/err.h"
#include "quic/certinfo.h"
#include "quic/pki.h"

#define MAX_ENTRIES 256

static const char *utc(time_t t, char *buf, size_t cap)
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M UTC", &tm))
		snprintf(buf, cap, "?");
	return buf;
}

/* 0: valid; 1: unreadable, expired, not yet valid or expiring soon. */
static int show_one(const char *path, time_t now)
{
	struct zt_certinfo c;
	char from[32], to[32];
	long days;
	enum zt_cert_expiry e;
	int rc = zt_certinfo_file(path, &c);

	if (rc < 0) {
		fprintf(stderr, "ztna pki show: %s: %s\n", path,
			rc == ZT_EMALFORMED ? "not a PEM certificate" : zt_strerror(rc));
		return 1;
	}
	e = zt_certinfo_expiry(&c, now, ZT_CERT_WARN_DAYS, &days);
	printf("%s\n  subject   CN=%s%s%s\n  issuer    CN=%s\n  names     %s\n", path, c.cn,
	       c.identity[0] ? "  identity " : "", c.identity, c.issuer_cn,
	       c.sans[0] ? c.sans : "(none)");
	printf("  valid     %s .. %s (%s, %ld days %s)\n  serial    %s\n  sha256    %s\n"
	       "  ca        %s\n", utc(c.not_before, from, sizeof(from)),
	       utc(c.not_after, to, sizeof(to)), zt_cert_expiry_name(e), days < 0 ? -days : days,
	       days < 0 ? "ago" : "left", c.serial, c.sha256, c.is_ca ? "yes" : "no");
	return e == ZT_CERT_VALID ? 0 : 1;
}

int pki_show_main(int argc, char **argv)
{
	time_t now = time(NULL);
	int status = 0;

	if (argc < 3) {
		fprintf(stderr, "usage: ztna pki show FILE...\n");
		return 2;
	}
	for (int i = 2; i < argc; i++)
		status |= show_one(argv[i], now);
	return status;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The sorted names in dir that match (directories, or *.pem files); returns the count
 * (names strdup'ed into out), or -errno. */
static int names(const char *dir, bool want_dirs, char **out, int cap)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	if (!d)
		return -errno;
	while (n < cap && (e = readdir(d))) {
		char path[4096];
		struct stat st;
		size_t len = strlen(e->d_name);
		if (e->d_name[0] == '.' ||
		    snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path) ||
		    stat(path, &st) < 0 || (S_ISDIR(st.st_mode) != want_dirs) ||
		    (!want_dirs && (len < 5 || strcmp(e->d_name + len - 4, ".pem"))))
			continue;
		if ((out[n] = strdup(e->d_name)))
			n++;
	}
	closedir(d);
	qsort(out, (size_t)n, sizeof(*out), cmp_str);
	return n;
}

static void free_names(char **v, int n)
{
	for (int i = 0; i < n; i++)
		free(v[i]);
}

/* Where a bundle goes, from its directory name. */
static void print_destination(const char *bundle)
{
	if (!strcmp(bundle, "ca"))
		printf("%s/  stays on the machine that issues certificates (the CA's key)\n", bundle);
	else if (!strcmp(bundle, "intermediate"))
		printf("%s/  -> the Intermediate's host (ztna-intermediate --pki DIR)\n", bundle);
	else if (!strncmp(bundle, "agent-", 6))
		printf("%s/  -> agent %s's host (ztna-agent --pki DIR)\n", bundle, bundle + 6);
	else if (!strncmp(bundle, "connector-", 10))
		printf("%s/  -> connector %s's host (ztna-connector --pki DIR)\n", bundle,
		       bundle + 10);
	else
		printf("%s/  (not a bundle of ztna pki)\n", bundle);
}

/* One bundle's certificates; returns 1 if one is unreadable or not valid. */
static int list_bundle(const char *dir, const char *bundle, time_t now)
{
	char sub[4096], *files[MAX_ENTRIES], path[8192], to[32];
	int n, status = 0;

	snprintf(sub, sizeof(sub), "%s/%s", dir, bundle);
	print_destination(bundle);
	n = names(sub, false, files, MAX_ENTRIES);
	for (int i = 0; i < n; i++) {
		struct zt_certinfo c;
		long days;
		enum zt_cert_expiry e;
		snprintf(path, sizeof(path), "%s/%s", sub, files[i]);
		if (zt_certinfo_file(path, &c) < 0) {
			printf("    %-28s (not a certificate)\n", files[i]);
			status = 1;
			continue;
		}
		e = zt_certinfo_expiry(&c, now, ZT_CERT_WARN_DAYS, &days);
		printf("    %-28s %-32s until %s (%ld days%s)%s%s\n", files[i],
		       c.identity[0] ? c.identity : c.is_ca ? "CA" : c.cn,
		       utc(c.not_after, to, sizeof(to)), days < 0 ? -days : days,
		       days < 0 ? " ago" : "", e == ZT_CERT_VALID ? "" : "  ",
		       e == ZT_CERT_VALID ? "" : zt_cert_expiry_name(e));
		status |= e != ZT_CERT_VALID;
	}
	free_names(files, n < 0 ? 0 : n);
	return status;
}

int pki_list_main(int argc, char **argv)
{
	char *bundles[MAX_ENTRIES];
	time_t now = time(NULL);
	int n, status = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: ztna pki list DIR\n");
		return 2;
	}
	n = names(argv[2], true, bundles, MAX_ENTRIES);
	if (n < 0) {
		fprintf(stderr, "ztna pki list: %s: %s\n", argv[2], zt_strerror(n));
		return 1;
	}
	if (n == 0) {
		fprintf(stderr, "ztna pki list: %s holds no bundles (make them with 'ztna pki init "
				"%s ...')\n", argv[2], argv[2]);
		return 1;
	}
	for (int i = 0; i < n; i++)
		status |= list_bundle(argv[2], bundles[i], now);
	free_names(bundles, n);
	return status;
}

static int export_usage(void)
{
	fprintf(stderr, "usage: ztna pki export DIR --for agent NAME OUT\n"
			"       ztna pki export DIR --for connector NAME OUT\n"
			"       ztna pki export DIR --for intermediate OUT        [--force]\n");
	return 2;
}

int pki_export_main(int argc, char **argv)
{
	struct zt_pki_subject s = { .name = "intermediate" };
	bool force = argc > 0 && !strcmp(argv[argc - 1], "--force");
	int n = force ? argc - 1 : argc, rc;
	const char *out;

	if (n < 6 || strcmp(argv[3], "--for"))
		return export_usage();
	if (!strcmp(argv[4], "intermediate") && n == 6)
		s.kind = ZT_PKI_INTERMEDIATE;
	else if (!strcmp(argv[4], "agent") && n == 7)
		s.kind = ZT_PKI_AGENT;
	else if (!strcmp(argv[4], "connector") && n == 7)
		s.kind = ZT_PKI_CONNECTOR;
	else
		return export_usage();
	if (n == 7)
		s.name = argv[5];
	out = argv[n - 1];
	if (!zt_pki_name_valid(s.name)) {
		fprintf(stderr, "ztna pki export: '%s': a name is 1-63 of [A-Za-z0-9-]\n", s.name);
		return 2;
	}
	rc = zt_pki_export(argv[2], &s, out, force);
	if (rc == -ENOENT)
		fprintf(stderr, "ztna pki export: %s has no bundle for %s %s ('ztna pki list %s' "
				"shows what it has; 'ztna pki issue %s --%s %s' makes it)\n", argv[2],
			argv[4], s.name, argv[2], argv[2], argv[4], s.name);
	else if (rc == -EEXIST)
		fprintf(stderr, "ztna pki export: %s already holds these files; --force overwrites\n",
			out);
	else if (rc < 0)
		fprintf(stderr, "ztna pki export: %s: %s\n", out, zt_strerror(rc));
	if (rc < 0)
		return 1;
	printf("%s: the files of %s%s%s%s (keys 0600). Copy the directory to that host and run\n"
	       "  ztna-%s --pki %s ...\n", out, s.kind == ZT_PKI_INTERMEDIATE ? "the " : "", argv[4],
	       s.kind == ZT_PKI_INTERMEDIATE ? "" : " ", s.kind == ZT_PKI_INTERMEDIATE ? "" : s.name,
	       argv[4], out);
	return 0;
}
