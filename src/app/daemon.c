#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/daemon.h"
#include "core/version.h"

#include <systemd/sd-daemon.h>
#include "app/secret.h"
#include "core/err.h"
#include "io/loop.h"
#include "io/sysrng.h"
#include "quic/certinfo.h"

/* Settings. */

static int set_log_rate(void *ctx, const char *v, const char **why)
{
	(void)ctx;
	return zt_log_set_rate_text(v, why);
}

static int set_log_format(void *ctx, const char *v, const char **why)
{
	(void)ctx;
	return zt_log_set_format_text(v, why);
}

const struct zt_conf_key zt_daemon_keys[] = {
	{ .name = "qlog-dir", .syntax = "DIR", .example = "/tmp/qlog",
	  .help = "write a qlog file per QUIC connection into DIR",
	  .kind = ZT_CONF_TEXT, ZT_CONF_FIELD(struct zt_daemon, qlog_dir) },
	{ .name = "keylog", .syntax = "FILE", .example = "/tmp/keys.log",
	  .help = "append TLS secrets (SSLKEYLOGFILE format, for Wireshark)",
	  .kind = ZT_CONF_TEXT, ZT_CONF_FIELD(struct zt_daemon, keylog) },
	{ .name = "log-rate", .syntax = "N", .example = "100",
	  .help = "log lines per event and second; more are counted in one summary line "
		  "(default 100, 0: no limit)", .set = set_log_rate },
	{ .name = "log-format", .syntax = "text|json", .example = "json",
	  .help = "log lines as key=value text (default) or one JSON object each",
	  .set = set_log_format },
	{ .name = "verbose", .syntax = "", .help = "more logs (also -v, -vv)", .is_flag = true,
	  .repeatable = true, .kind = ZT_CONF_COUNTER, ZT_CONF_FIELD(struct zt_daemon, verbose) },
};
const size_t zt_daemon_nkeys = sizeof(zt_daemon_keys) / sizeof(zt_daemon_keys[0]);

/* "-v", "-vv", ...: the count of v, else 0. */
static int v_count(const char *arg)
{
	if (arg[0] != '-' || arg[1] != 'v' || strspn(arg + 1, "v") != strlen(arg + 1))
		return 0;
	return (int)strlen(arg + 1);
}

int zt_daemon_parse(struct zt_daemon *d, struct zt_conf *conf, int argc, char **argv)
{
	char **args;
	int n = 0, rc;

	rc = zt_conf_add(conf, zt_daemon_keys, zt_daemon_nkeys, d);
	if (rc < 0) {
		snprintf(conf->err, sizeof(conf->err), "too many option tables");
		return rc;
	}
	args = calloc((size_t)argc + 1, sizeof(*args));
	if (!args) {
		conf->err[0] = '\0';
		return -ENOMEM;
	}
	for (int i = 0; i < argc; i++) {
		if (i > 0 && v_count(argv[i])) {
			d->verbose += v_count(argv[i]);
			continue;
		}
		if (i > 0 && (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))) {
			free(args);
			return ZT_DAEMON_HELP;
		}
		if (i > 0 && (!strcmp(argv[i], "--version") || !strcmp(argv[i], "-V"))) {
			free(args);
			return ZT_DAEMON_VERSION;
		}
		args[n++] = argv[i];
	}
	rc = zt_conf_args(conf, n, args, 1);
	free(args);
	return rc < 0 ? rc : zt_conf_finish(conf);
}

void zt_daemon_usage(const struct zt_daemon *d, const struct zt_conf *conf, const char *summary,
		     char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s\n\nusage: %s [--config FILE] [OPTIONS] [-v|-vv]\n"
			 "       %s --version | -V\n\n", summary, d->prog, d->prog);

	if (n >= 0 && (size_t)n < cap)
		zt_conf_usage(conf, buf + n, cap - (size_t)n);
}

enum zt_log_level zt_daemon_log_level(const struct zt_daemon *d)
{
	return d->verbose >= 2 ? ZT_LOG_TRACE : d->verbose == 1 ? ZT_LOG_DEBUG : ZT_LOG_INFO;
}

int zt_daemon_fail(struct zt_daemon *d, int status, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	return status;
}

/* Files. */

void zt_daemon_default_file(char *dst, const char *dir, const char *stem, const char *ext)
{
	if (!*dst && *dir && snprintf(dst, PATH_MAX, "%s/%s%s", dir, stem, ext) >= PATH_MAX)
		dst[0] = '\0'; /* too long: reported as missing */
}

void zt_daemon_pki_defaults(struct zt_daemon *d, const char *stem)
{
	zt_daemon_default_file(d->cert, d->pki, stem, ".pem");
	zt_daemon_default_file(d->key, d->pki, stem, ".key");
	zt_daemon_default_file(d->ca, d->pki, "ca", ".pem");
}

int zt_daemon_open_files(struct zt_daemon *d)
{
	const char *why = "";
	struct stat st;
	int rc;

	if (*d->keylog && !(d->keylog_f = zt_secret_append(d->keylog, &why))) {
		rc = -errno;
		if (rc == -EPERM)
			zt_daemon_fail(d, 1, "the key log %s is readable or writable by group "
				       "or others (it holds TLS secrets; remove it, or chmod 600 %s "
				       "if nobody else read it)", d->keylog, d->keylog);
		else
			zt_daemon_fail(d, 1, "cannot open the key log %s: %s", d->keylog, why);
		return rc;
	}
	if (*d->qlog_dir && (stat(d->qlog_dir, &st) < 0 || !S_ISDIR(st.st_mode))) {
		zt_daemon_fail(d, 1, "--qlog-dir %s: not a directory", d->qlog_dir);
		return -ENOTDIR;
	}
	return 0;
}

/* An expired certificate fails setup; one near its end or not valid yet is logged. */
static int check_expiry(struct zt_daemon *d, const char *file, const char *what)
{
	struct zt_certinfo c;
	char until[32];
	long days;
	enum zt_cert_expiry e;
	struct tm tm;
	time_t now = time(NULL);

	if (zt_certinfo_file(file, &c) < 0)
		return 0; /* not readable as PEM here: the TLS setup names the error */
	e = zt_certinfo_expiry(&c, now, ZT_CERT_WARN_DAYS, &days);
	if (!gmtime_r(&c.not_after, &tm) || !strftime(until, sizeof(until), "%Y-%m-%dT%H:%M:%SZ", &tm))
		snprintf(until, sizeof(until), "?");
	if (e == ZT_CERT_EXPIRED) {
		zt_daemon_fail(d, 2, "%s %s expired on %s (%ld days ago): issue a new one ('ztna "
			       "pki issue DIR ... --force', then 'ztna pki export') and restart",
			       what, file, until, -days);
		d->cert_expired = true;
		return -EKEYEXPIRED;
	}
	if (e == ZT_CERT_EXPIRES_SOON)
		zt_warn("cert_expiry", "file=%s what=%s not_after=%s days_left=%ld fix=\"issue a new "
			"one before then: ztna pki issue DIR ... --force\"", file, what, until, days);
	else if (e == ZT_CERT_NOT_YET_VALID)
		zt_warn("cert_expiry", "file=%s what=%s state=not_yet_valid fix=\"check this host's "
			"clock\"", file, what);
	return 0;
}

int zt_daemon_check_tls_files(struct zt_daemon *d, const char *cert, const char *key,
			      const char *fix)
{
	static const char *const what[3] = { "the CA", "the certificate", "the key" };
	const char *files[3] = { d->ca, cert, key };

	for (int i = 0; i < 3; i++) {
		int rc = !*files[i] ? -ENOENT : access(files[i], R_OK) < 0 ? -errno : 0;
		if (rc == 0)
			continue;
		zt_daemon_fail(d, 1, "cannot read %s: %s (make a development PKI with %s, or set "
			       "--ca/--cert/--key)", *files[i] ? files[i] : what[i],
			       *files[i] ? strerror(-rc) : "not set", fix);
		return rc;
	}
	if (!d->ca_expiry_checked) {
		int rc = check_expiry(d, d->ca, "CA certificate");
		d->ca_expiry_checked = true;
		if (rc < 0)
			return rc;
	}
	if (!strcmp(d->expiry_checked, cert))
		return 0;
	snprintf(d->expiry_checked, sizeof(d->expiry_checked), "%s", cert);
	return check_expiry(d, cert, "certificate");
}

static void keylog_line(void *arg, const char *line)
{
	struct zt_daemon *d = arg;

	if (d->keylog_f) {
		fprintf(d->keylog_f, "%s\n", line);
		fflush(d->keylog_f);
	}
}

int zt_daemon_tls_new(struct zt_daemon *d, const struct zt_tls_config *c,
		      struct zt_tls_ctx **ret)
{
	struct zt_tls_config tc = *c;
	int rc;

	if (d->keylog_f) {
		tc.keylog = keylog_line;
		tc.keylog_arg = d;
	}
	rc = zt_tls_ctx_new(ret, &tc);
	if (rc < 0)
		zt_daemon_fail(d, 1, "cannot use certificate %s with key %s and CA %s: %s (is the "
			       "key the certificate's, and are they PEM?)", tc.cert_file,
			       tc.key_file, tc.ca_file, zt_strerror(rc));
	return rc;
}

/* Running. */

static void on_signal(struct zt_loop *loop, int sig, void *arg)
{
	struct zt_daemon *d = arg;

	if (sig == SIGHUP) {
		d->ops->stats(d->arg, "stats");
		if (d->ops->reload) {
			d->ops->reload(d->arg);
			/* what the reload changed in the node (a revoked client's ERROR and
			 * close) goes out now, not at the node's next event: an idle one's
			 * may be a keepalive (25 s) away */
			zt_nodeio_kick(&d->io);
		}
		return;
	}
	zt_loop_stop(loop);
}

int zt_daemon_open(struct zt_daemon *d, const struct zt_addr *bind)
{
	char a[ZT_ADDR_STRLEN];
	int rc;

	d->rng = zt_sysrng();
	rc = zt_loop_new(&d->loop);
	if (rc < 0 || (rc = zt_loop_catch_signals(d->loop, on_signal, d)) < 0) {
		zt_daemon_fail(d, 1, "event loop: %s", strerror(-rc));
		return rc;
	}
	zt_log_attach(d->loop);
	rc = d->udp_shared ? zt_nodeio_open_shared(&d->io, d->loop, bind)
			   : zt_nodeio_open(&d->io, d->loop, bind);
	if (rc < 0)
		zt_daemon_fail(d, 1, "cannot bind UDP %s: %s",
			       bind->family ? zt_addr_str(bind, a) : "[::] (both families)", strerror(-rc));
	return rc;
}

static void node_log(void *arg, enum zt_node_level level, const char *event, const char *kv)
{
	(void)arg;
	zt_log_kv((enum zt_log_level)level, event, kv);
}

struct zt_node_log zt_daemon_node_log(void)
{
	return (struct zt_node_log){ .fn = node_log,
				     .max_level = (enum zt_node_level)zt_log_level() };
}

void *zt_daemon_qlog_open(void *arg, const char *label)
{
	struct zt_daemon *d = arg;
	char path[PATH_MAX + 128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s-%s-%d-%u.sqlog", d->qlog_dir, d->prog + 5, label,
		 (int)getpid(), ++d->qlog_seq);
	f = zt_secret_create(path);
	if (!f)
		zt_warn("qlog_failed", "file=%s error=\"%s\"", path, strerror(errno));
	return f;
}

void zt_daemon_qlog_write(void *handle, const void *data, size_t len, bool fin)
{
	FILE *f = handle;

	if (len)
		fwrite(data, 1, len, f);
	if (fin)
		fclose(f);
}

void zt_daemon_fini(struct zt_daemon *d)
{
	zt_nodeio_close(&d->io);
	zt_log_detach();
	zt_loop_free(d->loop);
	d->loop = NULL;
	if (d->keylog_f)
		fclose(d->keylog_f);
	d->keylog_f = NULL;
}

/* The program: settings, then setup, the loop, and the way out. */

static int settings(struct zt_daemon *d, struct zt_conf *conf, int argc, char **argv,
		    const char *summary)
{
	char usage[8192];
	int rc = zt_daemon_parse(d, conf, argc, argv);

	if (rc == ZT_DAEMON_HELP) {
		zt_daemon_usage(d, conf, summary, usage, sizeof(usage));
		fputs(usage, stdout);
		return 0;
	}
	if (rc == ZT_DAEMON_VERSION) {
		printf("%s %s\n", d->prog, ZT_VERSION);
		return 0;
	}
	if (rc == 0 && d->ops->check)
		rc = d->ops->check(d->arg, conf->err, sizeof(conf->err));
	if (rc == -ENOMEM && !conf->err[0])
		return 1;
	if (rc < 0) {
		fprintf(stderr, "%s: %s\n", d->prog, conf->err);
		return 2;
	}
	return -1;
}

int zt_daemon_main(struct zt_daemon *d, struct zt_conf *conf, int argc, char **argv,
		   const char *summary)
{
	int rc = settings(d, conf, argc, argv, summary);

	if (rc >= 0)
		return rc;
	zt_log_setup(d->prog + 5, zt_daemon_log_level(d));
	d->err[0] = '\0';
	rc = d->ops->setup(d->arg, argc, argv);
	if (rc == 0) {
		/* systemd's Type=notify (a no-op without NOTIFY_SOCKET) */
		sd_notifyf(0, "READY=1\nSTATUS=%s %s running\nMAINPID=%d", d->prog, ZT_VERSION,
			   (int)getpid());
		rc = zt_loop_run(d->loop) < 0 ? 1 : 0;
		sd_notify(0, "STOPPING=1");
		d->ops->stats(d->arg, "exit");
		d->ops->stop(d->arg);
		zt_nodeio_kick(&d->io);
	} else if (d->err[0]) {
		fprintf(stderr, "%s: %s\n", d->prog, d->err);
	}
	d->ops->teardown(d->arg);
	zt_daemon_fini(d);
	return rc;
}

size_t zt_daemon_raise_nofile(void)
{
	struct rlimit rl;
	rlim_t want;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	want = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > (1 << 20) ? (1 << 20) : rl.rlim_max;
	if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want &&
	    setrlimit(RLIMIT_NOFILE, &(struct rlimit){ .rlim_cur = want, .rlim_max = rl.rlim_max }) == 0)
		rl.rlim_cur = want;
	return rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > (1 << 20) ? (1 << 20) : (size_t)rl.rlim_cur;
}
