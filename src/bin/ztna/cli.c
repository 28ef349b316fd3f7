#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "app/log.h"
#include "cli.h"
#include "core/err.h"
#include "core/units.h"

#define MAX_ARGS 128

int zt_cli_parse(const char *cmd, const char *usage_head, const struct zt_conf_key *keys,
		 size_t nkeys, void *ctx, int argc, char **argv)
{
	static char prog[64];
	enum zt_log_level level = ZT_LOG_INFO;
	char *args[MAX_ARGS];
	struct zt_conf c;
	int n = 0, rc;

	if (argc > MAX_ARGS) {
		fprintf(stderr, "ztna %s: too many arguments\n", cmd);
		return ZT_EXIT_USAGE;
	}
	zt_conf_init(&c, keys, nkeys, ctx);
	args[n++] = argv[0];
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			char opts[4096];

			zt_conf_usage(&c, opts, sizeof(opts));
			printf("%s\noptions:\n%s  -v, -vv                  debug / trace logs on stderr\n",
			       usage_head, opts);
			return ZT_EXIT_OK;
		}
		if (!strcmp(argv[i], "-v") || !strcmp(argv[i], "--verbose"))
			level = level < ZT_LOG_DEBUG ? ZT_LOG_DEBUG : ZT_LOG_TRACE;
		else if (!strcmp(argv[i], "-vv"))
			level = ZT_LOG_TRACE;
		else
			args[n++] = argv[i];
	}
	snprintf(prog, sizeof(prog), "ztna-%s", cmd);
	zt_log_setup(prog, level);
	rc = zt_conf_args(&c, n, args, 1);
	if (rc == 0)
		rc = zt_conf_finish(&c);
	if (rc < 0) {
		fprintf(stderr, "ztna %s: %s\n", cmd, c.err);
		return ZT_EXIT_USAGE;
	}
	return -1;
}

int zt_cli_addr(struct zt_addr *ret, const char *v, uint16_t default_port, const char **why)
{
	int rc = zt_addr_parse(ret, v, default_port);

	if (rc == ZT_ERANGE)
		*why = "port above 65535";
	else if (rc < 0)
		*why = "not an IP address (names are not resolved)";
	return rc;
}

int zt_cli_uint(unsigned *ret, const char *v, unsigned lo, unsigned hi, const char **why)
{
	static char msg[64];
	unsigned long x;
	char *end;

	errno = 0;
	x = strtoul(v, &end, 10);
	if (!*v || *end || errno || v[0] == '-') {
		*why = "not a number";
		return ZT_ESYNTAX;
	}
	if (x < lo || x > hi) {
		snprintf(msg, sizeof(msg), "out of range %u-%u", lo, hi);
		*why = msg;
		return ZT_ERANGE;
	}
	*ret = (unsigned)x;
	return 0;
}

int zt_cli_duration(uint64_t *ret, const char *v, uint64_t scale, uint64_t max_ns,
		    const char **why)
{
	static char msg[80];
	uint64_t ns;
	int rc = zt_units_duration_in(v, scale, &ns);

	if (rc == ZT_ESYNTAX) {
		*why = scale == ZT_MS ? "not a duration (milliseconds, or a number with ns, us, ms, s, m or h)"
				      : "not a duration (seconds, or a number with ns, us, ms, s, m or h)";
		return rc;
	}
	if (rc < 0 || ns == 0 || ns > max_ns) {
		snprintf(msg, sizeof(msg), "out of range (above 0, at most %llus)",
			 (unsigned long long)(max_ns / ZT_SEC));
		*why = msg;
		return ZT_ERANGE;
	}
	*ret = ns;
	return 0;
}

void zt_cli_json_str(FILE *f, const char *s)
{
	if (!s) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

const char *zt_cli_addr_str(const struct zt_addr *a, char buf[ZT_ADDR_STRLEN])
{
	if (a->family != AF_INET && a->family != AF_INET6)
		return "-";
	return zt_addr_str(a, buf);
}

int zt_cli_reraise(int sig)
{
	sigset_t set;

	fflush(stdout);
	fflush(stderr);
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	raise(sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	return 128 + sig;
}
