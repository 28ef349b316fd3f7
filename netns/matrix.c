/* ztna-lab matrix (matrix.h). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include "core/units.h"
#include "lab.h"
#include "matrix.h"
#include "ns.h"
#include "runenv.h"
#include "scenario.h"

#define PROG "ztna-lab matrix"
#define MX_MAX_RUNS 100
#define MX_TIMED_OUT 124
#define MX_PORT_BASE 40000

struct mx_args {
	const char *file, *a, *b, *check, *json;
	char out[PATH_MAX];
	bool pcap;
	unsigned runs;
	uint64_t timeout;
};

/* One run of one cell. */
struct mx_run {
	int a_exit, b_exit, check_exit; /* -1: not run */
	bool ok;
	uint64_t ms;
};

struct mx {
	struct mx_args args;
	struct zt_scn *scn;
	char id[ZT_RUN_ID_MAX + 1];
	unsigned rows[ZT_SCN_MAX_NODES], cols[ZT_SCN_MAX_NODES], nrows, ncols;
	struct mx_run *runs; /* [row][col][run] */
};

static volatile sig_atomic_t stop_now;

static void on_signal(int sig)
{
	(void)sig;
	stop_now = 1;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " FILE --a 'CMD' --b 'CMD' [--check 'CMD'] [--runs N]\n"
		   "         [--timeout D] [--out DIR] [--json FILE] [--pcap]\n"
		   "  Runs a peer-to-peer stack of yours across the NAT matrix of scenario FILE\n"
		   "  (e.g. scenarios/lab/nat-matrix.lab): for every row host (a_*) and column host\n"
		   "  (b_*), --runs times (default 1), --a in the row host and --b in the column host\n"
		   "  at once (sh -c), then --check; a run succeeds when --check exits 0 (without\n"
		   "  --check: when both exit 0). Each command gets SIDE SELF PEER SELF_IP PEER_IP\n"
		   "  SELF_PUBLIC PEER_PUBLIC SERVER SERVER2 PORT RUN RUNS CELL OUT in its environment\n"
		   "  (quote the commands so your shell leaves $PEER_PUBLIC alone); --check also\n"
		   "  A_EXIT and B_EXIT (124: killed after --timeout, default 30s). Outputs under\n"
		   "  --out (default a new directory in /tmp); --json writes the results there;\n"
		   "  --pcap captures every interface of the lab for the whole run (DIR/pcap).\n"
		   "  The NATs in front of both hosts forget their mappings before each run.\n");
}

static int parse_args(int argc, char **argv, struct mx_args *a)
{
	static const struct option opts[] = {
		{ "a", required_argument, NULL, 'a' },       { "b", required_argument, NULL, 'b' },
		{ "check", required_argument, NULL, 'c' },   { "runs", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' }, { "out", required_argument, NULL, 'o' },
		{ "json", required_argument, NULL, 'j' },    { "help", no_argument, NULL, 'h' },
		{ "pcap", no_argument, NULL, 'p' },
		{ NULL, 0, NULL, 0 },
	};
	char *end;
	int c;

	*a = (struct mx_args){ .runs = 1, .timeout = 30 * ZT_SEC };
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'a': a->a = optarg; break;
		case 'b': a->b = optarg; break;
		case 'c': a->check = optarg; break;
		case 'j': a->json = optarg; break;
		case 'o': snprintf(a->out, sizeof(a->out), "%s", optarg); break;
		case 'p': a->pcap = true; break;
		case 'r':
			a->runs = (unsigned)strtoul(optarg, &end, 10);
			if (*end || !*optarg || a->runs < 1 || a->runs > MX_MAX_RUNS) {
				fprintf(stderr, PROG ": --runs wants 1 to %d, got '%s'\n", MX_MAX_RUNS, optarg);
				return 2;
			}
			break;
		case 't':
			if (zt_units_duration(optarg, &a->timeout) < 0 || a->timeout < ZT_SEC ||
			    a->timeout > 3600 * ZT_SEC) {
				fprintf(stderr, PROG ": --timeout wants 1s to 1h (e.g. 30s), got '%s'\n", optarg);
				return 2;
			}
			break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
	}
	if (optind != argc - 1 || !a->a || !a->b) {
		fprintf(stderr, PROG ": needs FILE, --a and --b\n");
		usage(stderr);
		return 2;
	}
	a->file = argv[optind];
	return -1; /* go on */
}

/* Runs this program with args (NULL-terminated), output to /dev/null unless verbose;
 * its exit status, or -errno. */
static int run_self(char *const *args, bool quiet)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -errno;
	if (pid == 0) {
		if (quiet) {
			int fd = open("/dev/null", O_WRONLY);
			if (fd >= 0) {
				dup2(fd, STDOUT_FILENO);
				close(fd);
			}
		}
		execv("/proc/self/exe", args);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -errno;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* The rows (a_*) and columns (b_*) of the scenario: hosts. */
static int find_hosts(struct mx *m)
{
	for (unsigned i = 0; i < m->scn->nnodes; i++) {
		const struct zt_scn_node *n = &m->scn->nodes[i];

		if (n->kind != ZT_SCN_HOST)
			continue;
		if (!strncmp(n->name, "a_", 2))
			m->rows[m->nrows++] = i;
		else if (!strncmp(n->name, "b_", 2))
			m->cols[m->ncols++] = i;
	}
	if (!m->nrows || !m->ncols) {
		fprintf(stderr, PROG ": %s has no hosts named a_* (rows) or b_* (columns)\n",
			m->args.file);
		return -EINVAL;
	}
	return 0;
}

static void put_ip(const char *key, uint32_t ip)
{
	char buf[16];

	setenv(key, zt_ip4_str(ip, buf), 1);
}

static void put_num(const char *key, unsigned long v)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%lu", v);
	setenv(key, buf, 1);
}

/* The environment of a run's commands (self, peer: node indexes; side 'a' or 'b'). */
static void run_env(const struct mx *m, unsigned self, unsigned peer, char side,
		    unsigned run, unsigned port, const char *cell, const char *dir)
{
	const struct zt_scn *s = m->scn;
	const struct zt_scn_node *srv = NULL;

	for (unsigned i = 0; i < s->nnodes && !srv; i++)
		if (s->nodes[i].kind == ZT_SCN_SERVER)
			srv = &s->nodes[i];
	setenv("SIDE", side == 'a' ? "a" : "b", 1);
	setenv("SELF", s->nodes[self].name, 1);
	setenv("PEER", s->nodes[peer].name, 1);
	put_ip("SELF_IP", s->nodes[self].addr[0]);
	put_ip("PEER_IP", s->nodes[peer].addr[0]);
	put_ip("SELF_PUBLIC", zt_scn_public_addr(s, self));
	put_ip("PEER_PUBLIC", zt_scn_public_addr(s, peer));
	if (srv) {
		put_ip("SERVER", srv->addr[0]);
		put_ip("SERVER2", srv->addr[srv->naddr > 1 ? 1 : 0]);
	}
	put_num("PORT", port);
	put_num("RUN", run);
	put_num("RUNS", m->args.runs);
	setenv("CELL", cell, 1);
	setenv("OUT", dir, 1);
	setenv("ZTLAB_ID", m->id, 1);
	setenv("ZTLAB_NODE", s->nodes[self].name, 1);
}

/* A child in its own process group, output to dir/name.log, in node's namespace
 * (node < 0: ours) running sh -c cmd. pid or -errno. */
static pid_t spawn(const struct mx *m, int node, const char *cmd, const char *dir,
		   const char *name)
{
	char path[PATH_MAX + 16], ns[ZT_RUN_NS_MAX];
	pid_t pid = fork();
	int fd;

	if (pid != 0)
		return pid < 0 ? -errno : pid;
	setpgid(0, 0);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	snprintf(path, sizeof(path), "%s/%s.log", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	if (node >= 0) {
		int nsfd;

		zt_run_ns_name(m->id, m->scn->nodes[node].name, ns, sizeof(ns));
		nsfd = zt_ns_open(ns);
		if (nsfd < 0 || zt_ns_enter(nsfd) < 0) {
			fprintf(stderr, PROG ": cannot enter %s\n", ns);
			_exit(126);
		}
		close(nsfd);
		zt_ns_remount_sys();
	}
	execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
	_exit(127);
}

/* Waits for the n children until deadline (ms, monotonic): each one's exit status,
 * MX_TIMED_OUT for one killed (its whole group) after the deadline. */
static void wait_all(pid_t *pids, int *status, int n, uint64_t deadline)
{
	int left = n, st;

	for (int i = 0; i < n; i++)
		status[i] = pids[i] > 0 ? -1 : 127;
	while (left) {
		left = 0;
		for (int i = 0; i < n; i++) {
			if (status[i] >= 0)
				continue;
			if (waitpid(pids[i], &st, WNOHANG) == pids[i])
				status[i] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			else
				left++;
		}
		if (!left)
			break;
		if (now_ms() >= deadline || stop_now) {
			for (int i = 0; i < n; i++)
				if (status[i] < 0)
					kill(-pids[i], SIGKILL);
			for (int i = 0; i < n; i++)
				if (status[i] < 0) {
					waitpid(pids[i], &st, 0);
					status[i] = MX_TIMED_OUT;
				}
			break;
		}
		usleep(20000);
	}
}

/* The NATs in front of node forget their mappings. */
static void flush_front(const struct mx *m, unsigned node)
{
	char err[256];

	for (int u = m->scn->nodes[node].up; u >= 0; u = m->scn->nodes[u].up)
		if (zt_lab_flush_nat(m->id, &m->scn->nodes[u], err, sizeof(err)) < 0)
			fprintf(stderr, PROG ": warning: %s\n", err);
}

/* One run of cell (r, c): the commands, then the check. Returns 0 or -errno (a command
 * could not be started). */
static int one_run(struct mx *m, unsigned r, unsigned c, unsigned run, struct mx_run *res)
{
	unsigned a = m->rows[r], b = m->cols[c];
	char cell[2 * ZT_SCN_NAME_MAX + 2], dir[PATH_MAX + 64], ea[8], eb[8];
	unsigned port = MX_PORT_BASE + ((r * m->ncols + c) * m->args.runs + run) % 20000;
	uint64_t t0 = now_ms();
	pid_t pids[2];
	int st[2];

	snprintf(cell, sizeof(cell), "%s-%s", m->scn->nodes[a].name, m->scn->nodes[b].name);
	snprintf(dir, sizeof(dir), "%s/%s/run%u", m->args.out, cell, run);
	if ((mkdir(dir, 0755) < 0 && errno != EEXIST))
		return -errno;
	flush_front(m, a);
	flush_front(m, b);
	run_env(m, a, b, 'a', run, port, cell, dir);
	pids[0] = spawn(m, (int)a, m->args.a, dir, "a");
	run_env(m, b, a, 'b', run, port, cell, dir);
	pids[1] = spawn(m, (int)b, m->args.b, dir, "b");
	wait_all(pids, st, 2, t0 + m->args.timeout / ZT_MS);
	*res = (struct mx_run){ .a_exit = st[0], .b_exit = st[1], .check_exit = -1 };
	if (pids[0] < 0 || pids[1] < 0)
		return pids[0] < 0 ? pids[0] : pids[1];
	if (m->args.check && !stop_now) {
		pid_t pc;
		int sc;

		snprintf(ea, sizeof(ea), "%d", st[0]);
		snprintf(eb, sizeof(eb), "%d", st[1]);
		run_env(m, a, b, 'a', run, port, cell, dir);
		setenv("A_EXIT", ea, 1);
		setenv("B_EXIT", eb, 1);
		pc = spawn(m, -1, m->args.check, dir, "check");
		wait_all(&pc, &sc, 1, now_ms() + m->args.timeout / ZT_MS);
		res->check_exit = sc;
		res->ok = sc == 0;
	} else {
		res->ok = st[0] == 0 && st[1] == 0;
	}
	res->ms = now_ms() - t0;
	return 0;
}

static unsigned cell_ok(const struct mx *m, unsigned r, unsigned c)
{
	unsigned n = 0;

	for (unsigned k = 0; k < m->args.runs; k++)
		n += m->runs[(r * m->ncols + c) * m->args.runs + k].ok;
	return n;
}

static void print_table(const struct mx *m)
{
	unsigned ok = 0;

	printf("\n%-12s", "");
	for (unsigned c = 0; c < m->ncols; c++)
		printf(" %-10s", m->scn->nodes[m->cols[c]].name);
	printf("\n");
	for (unsigned r = 0; r < m->nrows; r++) {
		printf("%-12s", m->scn->nodes[m->rows[r]].name);
		for (unsigned c = 0; c < m->ncols; c++) {
			char v[24];

			snprintf(v, sizeof(v), "%u/%u", cell_ok(m, r, c), m->args.runs);
			printf(" %-10s", v);
			ok += cell_ok(m, r, c) == m->args.runs;
		}
		printf("\n");
	}
	printf("\n%u of %u cells succeeded in every run (outputs: %s)\n", ok, m->nrows * m->ncols,
	       m->args.out);
}

/* s as a JSON string's contents. */
static void json_str(FILE *f, const char *s)
{
	for (; *s; s++)
		if (*s == '"' || *s == '\\')
			fprintf(f, "\\%c", *s);
		else if ((unsigned char)*s < 0x20)
			fprintf(f, "\\u%04x", (unsigned char)*s);
		else
			fputc(*s, f);
}

static int write_json(const struct mx *m)
{
	FILE *f = fopen(m->args.json, "w");

	if (!f)
		return -errno;
	fprintf(f, "{\"schema\":1,\"scenario\":\"");
	json_str(f, m->args.file);
	fprintf(f, "\",\"runs\":%u,\"cells\":[", m->args.runs);
	for (unsigned r = 0; r < m->nrows; r++)
		for (unsigned c = 0; c < m->ncols; c++) {
			fprintf(f, "%s{\"a\":\"%s\",\"b\":\"%s\",\"ok\":%u,\"results\":[",
				r || c ? "," : "", m->scn->nodes[m->rows[r]].name,
				m->scn->nodes[m->cols[c]].name, cell_ok(m, r, c));
			for (unsigned k = 0; k < m->args.runs; k++) {
				const struct mx_run *x = &m->runs[(r * m->ncols + c) * m->args.runs + k];
				fprintf(f, "%s{\"run\":%u,\"ok\":%s,\"a_exit\":%d,\"b_exit\":%d,"
					"\"check_exit\":%d,\"ms\":%llu}", k ? "," : "", k + 1,
					x->ok ? "true" : "false", x->a_exit, x->b_exit, x->check_exit,
					(unsigned long long)x->ms);
			}
			fprintf(f, "]}");
		}
	fprintf(f, "]}\n");
	return fclose(f) == 0 ? 0 : -errno;
}

/* Every run of every cell, a line each. 0, 1 (a command could not start), 130. */
static int run_all(struct mx *m)
{
	char dir[PATH_MAX + 32];

	for (unsigned r = 0; r < m->nrows; r++)
		for (unsigned c = 0; c < m->ncols; c++) {
			snprintf(dir, sizeof(dir), "%s/%s-%s", m->args.out, m->scn->nodes[m->rows[r]].name,
				 m->scn->nodes[m->cols[c]].name);
			mkdir(dir, 0755);
			for (unsigned k = 0; k < m->args.runs; k++) {
				struct mx_run *x = &m->runs[(r * m->ncols + c) * m->args.runs + k];
				int rc = one_run(m, r, c, k + 1, x);

				if (stop_now)
					return 130;
				if (rc < 0) {
					fprintf(stderr, PROG ": cannot run a command: %s\n", strerror(-rc));
					return 1;
				}
				printf("%s x %s run %u/%u: %s (a %d, b %d, check %d) %llu ms\n",
				       m->scn->nodes[m->rows[r]].name, m->scn->nodes[m->cols[c]].name,
				       k + 1, m->args.runs, x->ok ? "ok" : "FAILED", x->a_exit,
				       x->b_exit, x->check_exit, (unsigned long long)x->ms);
				fflush(stdout);
			}
		}
	return 0;
}

/* Loads the scenario, the hosts, the output directory. 0 or an exit status. */
static int prepare(struct mx *m)
{
	struct zt_scn_error err;

	m->scn = malloc(sizeof(*m->scn));
	if (!m->scn)
		return 1;
	if (zt_scn_load(m->scn, m->args.file, &err) < 0) {
		fprintf(stderr, PROG ": %s\n", err.msg);
		return 2;
	}
	if (find_hosts(m) < 0)
		return 2;
	if (!m->args.out[0]) {
		snprintf(m->args.out, sizeof(m->args.out), "/tmp/ztna-matrix.XXXXXX");
		if (!mkdtemp(m->args.out)) {
			fprintf(stderr, PROG ": mkdtemp: %s\n", strerror(errno));
			return 1;
		}
	} else if (mkdir(m->args.out, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, PROG ": %s: %s\n", m->args.out, strerror(errno));
		return 1;
	}
	m->runs = calloc((size_t)m->nrows * m->ncols * m->args.runs, sizeof(*m->runs));
	if (!m->runs)
		return 1;
	snprintf(m->id, sizeof(m->id), "mx%u", (unsigned)getpid() % 1000000000u);
	return 0;
}

int zt_matrix_main(int argc, char **argv)
{
	struct mx m = { 0 };
	struct sigaction sa = { .sa_handler = on_signal };
	char pcap[PATH_MAX + 8];
	int rc = parse_args(argc, argv, &m.args);

	if (rc >= 0)
		return rc;
	if (geteuid() != 0) {
		fprintf(stderr, PROG ": needs root (network namespaces): run it with sudo\n");
		return 1;
	}
	if ((rc = prepare(&m)) != 0)
		goto out_free;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	printf("lab %s (run id %s): %u rows x %u columns, %u run(s) each; outputs in %s\n",
	       m.args.file, m.id, m.nrows, m.ncols, m.args.runs, m.args.out);
	fflush(stdout);
	snprintf(pcap, sizeof(pcap), "%s/pcap", m.args.out);
	if (m.args.pcap && mkdir(pcap, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, PROG ": %s: %s\n", pcap, strerror(errno));
		rc = 1;
		goto out_free;
	}
	rc = m.args.pcap ? run_self((char *[]){ "ztna-lab", "up", (char *)m.args.file, "--id", m.id,
						"--quiet", "--capture", pcap, NULL }, false)
			 : run_self((char *[]){ "ztna-lab", "up", (char *)m.args.file, "--id", m.id,
						"--quiet", NULL }, false);
	if (rc != 0) {
		fprintf(stderr, PROG ": the lab did not come up (ztna-lab up exited %d)\n", rc);
		rc = 1;
		goto out_free;
	}
	rc = run_all(&m);
	run_self((char *[]){ "ztna-lab", "down", m.id, NULL }, true);
	if (rc == 0) {
		print_table(&m);
		if (m.args.json && write_json(&m) < 0) {
			fprintf(stderr, PROG ": %s: %s\n", m.args.json, strerror(errno));
			rc = 1;
		}
	}
out_free:
	free(m.runs);
	free(m.scn);
	return rc;
}
