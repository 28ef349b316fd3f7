/*
 * The daemons' shell: what ztna-agent and ztna-connector (app/peerprog.h) and
 * ztna-intermediate share around their node.
 *
 *   - settings: the program's option tables (app/conf.h) and zt_daemon_keys, from the
 *     command line (--key VALUE, -v/-vv, --help) and --config files;
 *   - logs (app/log.h) named after the program ("agent" for ztna-agent), -v: debug,
 *     -vv: trace;
 *   - the TLS key log (--keylog, a secret file: app/secret.h) and a qlog file per QUIC
 *     connection (--qlog-dir: DIR/ROLE-LABEL-PID-N.sqlog, mode 0600);
 *   - the event loop: SIGINT and SIGTERM stop the program (with a final stats line),
 *     SIGHUP logs a stats line and reloads (ops->reload, when the program has one);
 *   - the node's UDP socket (app/nodeio.h);
 *   - systemd's Type=notify: READY=1 once setup is done, STOPPING=1 when the loop
 *     stops (sd_notify: nothing without NOTIFY_SOCKET).
 *
 * zt_daemon_main runs the program through its ops; the other functions are the steps
 * a program's setup takes. Only zt_daemon_main writes: the usage on stdout, the error
 * that ended the program on stderr as "PROG: MESSAGE". Every other function leaves its
 * message in d->err.
 *
 * Exit statuses: 0 (stopped by a signal, or --help), 1 (setup failed), 2 (bad usage, or
 * a setting that can only fail again, such as an expired certificate: systemd's units
 * do not restart on it).
 */
#ifndef ZT_APP_DAEMON_H
#define ZT_APP_DAEMON_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "app/conf.h"
#include "app/log.h"
#include "app/nodeio.h"
#include "core/addr.h"
#include "core/rng.h"
#include "node/nodelog.h"
#include "quic/tls.h"

/* What a program adds to the shell; arg is zt_daemon.arg. Designated initializers. */
struct zt_daemon_ops {
	/* Optional: a check over all the settings once they are read (before logs).
	 * Returns 0, or a negative code with the message in err (exit status 2). */
	int (*check)(void *arg, char *err, size_t cap);
	/* Sets the program up, logs set up: files, zt_daemon_open, its node. Returns 0,
	 * or the exit status with the message in d->err (zt_daemon_fail) or printed. */
	int (*setup)(void *arg, int argc, char **argv);
	/* One line of statistics: on SIGHUP ("stats") and at exit ("exit"). */
	void (*stats)(void *arg, const char *event);
	/* Optional: SIGHUP, after the stats line: read the settings files again and apply
	 * what can change at run time (the Intermediate's clients and rules). */
	void (*reload)(void *arg);
	/* The loop stopped: tell the peers we go (the socket is flushed after). */
	void (*stop)(void *arg);
	/* Frees what setup made, also after a failed or partial setup. */
	void (*teardown)(void *arg);
};

struct zt_daemon {
	const char *prog;                  /* "ztna-agent"; prog + 5 names logs and qlogs */
	const struct zt_daemon_ops *ops;
	void *arg;

	/* Settings: the program's keys write pki, cert, key and ca (their help differs);
	 * zt_daemon_keys the rest. */
	char pki[PATH_MAX], cert[PATH_MAX], key[PATH_MAX], ca[PATH_MAX];
	char qlog_dir[PATH_MAX], keylog[PATH_MAX];
	int verbose;                       /* -v, -vv, --verbose */
	bool udp_shared;                   /* zt_daemon_open: SO_REUSEPORT (io/udp.h) */

	/* Running. */
	struct zt_rng rng;
	struct zt_loop *loop;
	struct zt_nodeio io;
	FILE *keylog_f;
	unsigned qlog_seq;
	bool ca_expiry_checked;            /* the CA's expiry logged once, not per context */
	bool cert_expired;                 /* setup failed on an expired certificate */
	char expiry_checked[PATH_MAX];     /* the last certificate checked (logged once) */
	char err[1024];                    /* the last error, without the "PROG: " */
};

/* qlog-dir, keylog, log-rate and verbose; ctx is the struct zt_daemon. */
extern const struct zt_conf_key zt_daemon_keys[];
extern const size_t zt_daemon_nkeys;

/* zt_daemon_parse's answers to --help or -h, and to --version or -V. */
#define ZT_DAEMON_HELP 1
#define ZT_DAEMON_VERSION 2

/*
 * Reads the settings: adds zt_daemon_keys to conf (which holds the program's tables),
 * takes -v/-vv out of argv (each v one more d->verbose), then parses argv[1..] and
 * checks the required keys. Returns 0, ZT_DAEMON_HELP when argv asks for help,
 * ZT_DAEMON_VERSION when it asks for the version (nothing parsed; the first one
 * asked wins), or a negative code with the message in conf->err (-ENOMEM: none).
 */
int zt_daemon_parse(struct zt_daemon *d, struct zt_conf *conf, int argc, char **argv);

/* Writes --help: summary, the usage line, the option list of conf. */
void zt_daemon_usage(const struct zt_daemon *d, const struct zt_conf *conf, const char *summary,
		     char *buf, size_t cap);

/* The log level d->verbose asks for: info, debug (1), trace (2 and more). */
enum zt_log_level zt_daemon_log_level(const struct zt_daemon *d);

/* Formats d->err and returns status (for a setup's `return zt_daemon_fail(d, 1, ...)`). */
int zt_daemon_fail(struct zt_daemon *d, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Sets an empty dst (PATH_MAX) to DIR/STEMEXT when dir is set; too long: left empty,
 * so reported as missing. */
void zt_daemon_default_file(char *dst, const char *dir, const char *stem, const char *ext);
/* The bundle's files where --cert, --key, --ca left them unset: PKI/STEM.pem,
 * PKI/STEM.key, PKI/ca.pem ("agent-alice", "intermediate"). */
void zt_daemon_pki_defaults(struct zt_daemon *d, const char *stem);

/*
 * Opens the key log (created 0600; an existing one open to group or others is
 * refused) when d->keylog is set, and checks d->qlog_dir is a directory when set.
 * Returns 0, or -errno with d->err (-ENOTDIR: the qlog directory).
 */
int zt_daemon_open_files(struct zt_daemon *d);

/*
 * Checks d->ca, cert and key are set and readable, in that order. fix says how to
 * get them ("'ztna pki init DIR ...' and pass --pki DIR/agent-alice"). Returns 0, or
 * -ENOENT (not set) or access()'s -errno, with d->err naming the file and the fix.
 */
/* zt_daemon_check_tls_files also checks the certificate's (and, once, the CA's)
 * expiry: an expired one fails (status 1, naming the file and the fix); one expiring
 * within ZT_CERT_WARN_DAYS (quic/certinfo.h) or not valid yet is a warning line
 * (event=cert_expiry). */
int zt_daemon_check_tls_files(struct zt_daemon *d, const char *cert, const char *key,
			      const char *fix);

/* A TLS context from c, writing its secrets to the key log when one is open. Returns
 * 0, or a negative code with d->err naming certificate, key and CA. */
int zt_daemon_tls_new(struct zt_daemon *d, const struct zt_tls_config *c,
		      struct zt_tls_ctx **ret);

/*
 * The random source, the event loop (catching SIGINT, SIGTERM, SIGHUP; rate-limited
 * log summaries on its timer) and the node's UDP socket bound to *bind (d->io; the
 * node is started on it with zt_nodeio_start). Returns 0 or -errno with d->err.
 */
int zt_daemon_open(struct zt_daemon *d, const struct zt_addr *bind);

/* Raises the soft open-files limit to the hard one (at most 2^20: every TCP client or
 * forwarded connection holds a descriptor). Returns the limit in force, 0 when it
 * cannot be read. */
size_t zt_daemon_raise_nofile(void);

/* The node's log (struct zt_node_log) into app/log.h at its level. */
struct zt_node_log zt_daemon_node_log(void);

/* The node's qlog hooks: arg is the daemon; files DIR/ROLE-LABEL-PID-N.sqlog (0600).
 * An open that fails logs a warning and returns NULL (no qlog for that connection). */
void *zt_daemon_qlog_open(void *arg, const char *label);
void zt_daemon_qlog_write(void *handle, const void *data, size_t len, bool fin);

/* Closes the socket, the loop and the key log (accepts a daemon never opened). */
void zt_daemon_fini(struct zt_daemon *d);

/*
 * The whole program: parse (conf holds the program's tables; their ctx), check, logs,
 * setup, run until SIGINT or SIGTERM, stats, stop, teardown, zt_daemon_fini. summary
 * is the first line of --help. Returns the exit status.
 */
int zt_daemon_main(struct zt_daemon *d, struct zt_conf *conf, int argc, char **argv,
		   const char *summary);

#endif
