/*
 * ztna-lab: the NAT lab harness. Builds a topology of network namespaces from a
 * scenario file (docs/scenario-format.md), keeps a supervisor in the background that
 * runs the link emulator and the captures, and removes everything on `down`, on
 * SIGINT/SIGTERM of the supervisor, and (for a killed run) on `sweep`.
 * See docs/lab.md.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "app/log.h"
#include "core/err.h"
#include "core/units.h"
#include "io/clock.h"
#include "io/loop.h"
#include "io/sysrng.h"
#include "diagram.h"
#include "lab.h"
#include "fromreport.h"
#include "matrix.h"
#include "labevents.h"
#include "natrules.h"
#include "ns.h"
#include "probe.h"
#include "rundir.h"
#include "runenv.h"
#include "scenario.h"

#define PROG "ztna-lab"
#define DOWN_WAIT_MS 15000

struct subcommand {
	const char *name;
	int (*main)(int argc, char **argv);
	const char *summary;
};

static int need_root(const char *what)
{
	if (geteuid() == 0)
		return 0;
	fprintf(stderr, PROG " %s: needs root (it creates network namespaces, links and "
		"nftables rules); run it with sudo\n", what);
	return -EPERM;
}

static int load_scenario(const char *path, struct zt_scn *s)
{
	struct zt_scn_error err;
	int rc = zt_scn_load(s, path, &err);

	if (rc < 0)
		fprintf(stderr, PROG ": %s\n", err.msg);
	return rc;
}

/* ---- check, diagram, rules ---- */

static int check_main(int argc, char **argv)
{
	struct zt_scn *s;
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: " PROG " check FILE...\n");
		return 2;
	}
	s = malloc(sizeof(*s));
	if (!s)
		return 1;
	for (int i = 1; i < argc; i++) {
		if (load_scenario(argv[i], s) < 0) {
			rc = 1;
			continue;
		}
		printf("%s: ok (lab %s, %u nodes)\n", argv[i], s->name, s->nnodes);
	}
	free(s);
	return rc;
}

static int diagram_main(int argc, char **argv)
{
	struct zt_scn *s;
	int rc = 1;

	if (argc != 2) {
		fprintf(stderr, "usage: " PROG " diagram FILE\n");
		return 2;
	}
	s = malloc(sizeof(*s));
	if (s && load_scenario(argv[1], s) == 0)
		rc = zt_scn_diagram(s, stdout) < 0;
	free(s);
	return rc;
}

static int rules_main(int argc, char **argv)
{
	struct zt_scn *s;
	char *text = NULL;
	int rc = 1, i;

	if (argc != 3) {
		fprintf(stderr, "usage: " PROG " rules FILE NAT\n");
		return 2;
	}
	s = malloc(sizeof(*s));
	text = malloc(ZT_NATRULES_MAX);
	if (!s || !text || load_scenario(argv[1], s) < 0)
		goto out_free;
	i = zt_scn_find(s, argv[2]);
	if (i < 0 || s->nodes[i].kind != ZT_SCN_NAT) {
		fprintf(stderr, PROG ": %s has no nat named '%s'\n", argv[1], argv[2]);
		goto out_free;
	}
	if (zt_natrules_render(&s->nodes[i], text, ZT_NATRULES_MAX) < 0)
		goto out_free;
	fputs(text, stdout);
	rc = 0;
out_free:
	free(text);
	free(s);
	return rc;
}

/* ---- up: the parent waits for the supervisor (a forked child) to report ---- */

struct supervisor {
	struct zt_scn scn;
	struct zt_lab lab;
	struct zt_loop *loop;
	const char *id;
	const char *scn_path;
	const char *env_out;
	const char *capture_dir;
	const char *log_path;    /* NULL: RUNDIR/log (removed with the run) */
	unsigned step_delay_ms;  /* ZTLAB_STEP_DELAY_MS: slows the build (tests interrupt it) */
	int ready_fd;
	struct zt_labev *events; /* the scenario's 'at' lines, once ready */
};

static void report(int fd, const char *status, const char *msg)
{
	char line[700];
	int n = snprintf(line, sizeof(line), "%s %s\n", status, msg);

	if (fd >= 0 && write(fd, line, (size_t)n) < 0)
		zt_warn("report", "error=\"%s\"", strerror(errno));
}

static bool sup_should_stop(void *ctx)
{
	struct supervisor *sv = ctx;
	sigset_t pending;

	if (sv->step_delay_ms)
		nanosleep(&(struct timespec){ .tv_sec = sv->step_delay_ms / 1000,
					      .tv_nsec = (long)(sv->step_delay_ms % 1000) * 1000000 },
			  NULL);
	/* the signals are blocked (read by the loop's signalfd later): look at pending */
	if (sigpending(&pending) < 0)
		return false;
	return sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM) ||
	       sigismember(&pending, SIGHUP);
}

static void sup_on_namespace(void *ctx, const char *name)
{
	struct supervisor *sv = ctx;
	char line[ZT_RUN_NS_MAX + 1];
	int n = snprintf(line, sizeof(line), "%s\n", name);

	zt_rundir_write(sv->id, "netns", line, (size_t)n, true);
}

static void sup_on_step(void *ctx, const char *what)
{
	(void)ctx;
	zt_info("build", "step=\"%s\"", what);
}

static void sup_on_process(void *ctx, pid_t pid, const char *node, const char *prog)
{
	struct supervisor *sv = ctx;
	int rc = zt_rundir_record_proc(sv->id, pid, node, prog);

	if (rc < 0)
		zt_warn("record", "pid=%d node=%s prog=%s error=\"%s\"", (int)pid, node, prog,
			strerror(-rc));
}

static void log_line(void *ctx, const char *line)
{
	(void)ctx;
	zt_info("emulator", "%s", line);
}

/*
 * A request a command left in the run directory (REQUEST_FILE, one line:
 * "portmap-restart NAT [keep-conntrack]"), done at SIGHUP; the answer, "ok PID" or
 * "err MESSAGE", goes to REPLY_FILE (written aside and renamed: never read half).
 */
#define REQUEST_FILE "request"
#define REPLY_FILE "reply"
#define REQUEST_WAIT_MS 15000

static void sup_request(struct supervisor *sv)
{
	char *text = NULL, nat[ZT_SCN_NAME_MAX + 1], opt[32] = "", reply[640], tmp[256], path[256];
	int n, i, rc;

	if (zt_rundir_read(sv->id, REQUEST_FILE, &text, NULL) < 0)
		return;
	zt_rundir_path(sv->id, REQUEST_FILE, path, sizeof(path));
	unlink(path);
	if (sscanf(text, "portmap-restart %12s %31s", nat, opt) < 1) {
		n = snprintf(reply, sizeof(reply), "err unknown request\n");
	} else if ((i = zt_scn_find(&sv->scn, nat)) < 0) {
		n = snprintf(reply, sizeof(reply), "err no node named '%s'\n", nat);
	} else {
		zt_rundir_path(sv->id, NULL, tmp, sizeof(tmp));
		rc = zt_lab_restart_portmap(&sv->lab, i, tmp, !strcmp(opt, "keep-conntrack"));
		if (rc < 0)
			n = snprintf(reply, sizeof(reply), "err %s\n", sv->lab.err);
		else
			n = snprintf(reply, sizeof(reply), "ok %d\n", (int)sv->lab.portmap_pid[i]);
		if (rc < 0)
			zt_warn("portmap_restart", "nat=%s error=\"%s\"", nat, sv->lab.err);
		else
			zt_info("portmap_restart", "nat=%s conntrack=%s pid=%d", nat,
				strcmp(opt, "keep-conntrack") ? "flushed" : "kept",
				(int)sv->lab.portmap_pid[i]);
	}
	free(text);
	zt_rundir_path(sv->id, REPLY_FILE ".tmp", tmp, sizeof(tmp));
	zt_rundir_path(sv->id, REPLY_FILE, path, sizeof(path));
	if (zt_rundir_write(sv->id, REPLY_FILE ".tmp", reply, (size_t)n, false) < 0 ||
	    rename(tmp, path) < 0)
		zt_warn("request", "error=\"cannot write the reply: %s\"", strerror(errno));
}

/* One timed event done: a log line naming its scenario line and what it did. */
static void sup_on_event(void *ctx, const struct zt_scn_event *ev, uint64_t late_ns, int rc,
			 const char *err)
{
	struct supervisor *sv = ctx;
	char what[256], at[32];

	if (zt_scn_event_str(&sv->scn, ev, what, sizeof(what)) < 0)
		snprintf(what, sizeof(what), "?");
	zt_units_duration_str(at, sizeof(at), ev->at_ns);
	if (rc < 0)
		zt_warn("event", "at=%s line=%d action=\"%s\" result=failed error=\"%s\"", at,
			ev->line, what, err);
	else
		zt_info("event", "at=%s line=%d action=\"%s\" result=done late_us=%llu", at,
			ev->line, what, (unsigned long long)(late_ns / 1000));
}

/* Arms the timed events from now (the lab is ready). */
static void start_events(struct supervisor *sv)
{
	char dir[256];
	int rc;

	if (!sv->scn.nevents)
		return;
	zt_rundir_path(sv->id, NULL, dir, sizeof(dir));
	rc = zt_labev_start(&sv->lab, zt_clock_now(), dir, sup_on_event, sv, &sv->events);
	if (rc < 0)
		zt_err("events", "error=\"%s\" pending=%u", strerror(-rc), sv->scn.nevents);
	else
		zt_info("events", "count=%u first_at_ms=%llu", sv->scn.nevents,
			(unsigned long long)(sv->scn.events[0].at_ns / 1000000));
}

static void sup_on_signal(struct zt_loop *loop, int sig, void *data)
{
	struct supervisor *sv = data;

	if (sig == SIGHUP) {
		sup_request(sv);
		zt_lab_report(&sv->lab, log_line, NULL);
		return;
	}
	zt_info("signal", "sig=%d action=teardown", sig);
	zt_loop_stop(loop);
}

static int write_env(struct supervisor *sv, const char *path)
{
	FILE *f = fopen(path, "we");
	int rc;

	if (!f)
		return -errno;
	rc = zt_run_env_write(&sv->scn, sv->id, sv->scn_path, sv->capture_dir, f);
	if (fclose(f) != 0 && rc == 0)
		rc = -errno;
	return rc;
}

/*
 * The emulator's timers decide the links' delay: on a busy machine an ordinary process
 * wakes milliseconds late. A low real-time priority (the loop sleeps in epoll and does
 * little per packet; the kernel's RT throttling bounds it anyway) and no timer slack
 * keep it within tens of microseconds. Best effort: without it the lab still works.
 */
static void realtime(void)
{
	struct sched_param sp = { .sched_priority = 10 };

	prctl(PR_SET_TIMERSLACK, 1UL);
	if (getenv("ZTLAB_NO_RT")) {
		zt_info("sched", "policy=other reason=ZTLAB_NO_RT");
		return;
	}
	if (sched_setscheduler(0, SCHED_FIFO, &sp) < 0)
		zt_warn("sched", "policy=other error=\"%s\"", strerror(errno));
	else
		zt_info("sched", "policy=fifo priority=%d", sp.sched_priority);
}

/* After the build: the captures (with --capture), then the proxies and the port-mapping
 * daemons. Returns 0, or
 * -errno with msg filled. */
static int start_captures_and_proxies(struct supervisor *sv, char *msg, size_t cap)
{
	char dir[256];
	int rc;

	if (sv->capture_dir) {
		if (mkdir(sv->capture_dir, 0755) < 0 && errno != EEXIST) {
			rc = -errno;
			snprintf(msg, cap, "capture directory %s: %s", sv->capture_dir, strerror(errno));
			return rc;
		}
		if ((rc = zt_lab_capture(&sv->lab, sv->capture_dir)) < 0) {
			snprintf(msg, cap, "starting captures failed: %s", sv->lab.err);
			return rc;
		}
		zt_info("capture", "dir=%s files=%d", sv->capture_dir, rc);
	}
	zt_rundir_path(sv->id, NULL, dir, sizeof(dir));
	if ((rc = zt_lab_start_proxies(&sv->lab, dir)) < 0 ||
	    (rc = zt_lab_start_portmaps(&sv->lab, dir)) < 0) {
		if (rc == -EINTR)
			snprintf(msg, cap, "interrupted while building lab %s", sv->id);
		else
			snprintf(msg, cap, "starting the proxies and port mapping failed: %s",
				 sv->lab.err);
		return rc;
	}
	return 0;
}

/* The supervisor: builds the lab, reports to the parent, runs until told to stop. */
static int supervise(struct supervisor *sv)
{
	char path[512], msg[640];
	int rc, fd;

	setsid();
	if (chdir("/") < 0) /* every path is absolute by now; do not pin the caller's directory */
		zt_warn("chdir", "error=\"%s\"", strerror(errno));
	/* until the lab is ready, the parent's death (e.g. SIGKILL) means: give up */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (sv->log_path)
		snprintf(path, sizeof(path), "%s", sv->log_path);
	else
		zt_rundir_path(sv->id, "log", path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (fd >= 0) {
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
	}
	fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		dup2(fd, STDIN_FILENO);
		close(fd);
	}
	zt_log_setup(PROG, ZT_LOG_INFO);
	zt_rundir_write_pid(sv->id);
	zt_info("start", "id=%s scenario=%s pid=%d", sv->id, sv->scn_path, (int)getpid());

	if ((rc = zt_loop_new(&sv->loop)) < 0 ||
	    (rc = zt_loop_catch_signals(sv->loop, sup_on_signal, sv)) < 0) {
		report(sv->ready_fd, "err", "cannot create the event loop");
		goto out_loop;
	}
	if ((rc = zt_lab_init(&sv->lab, &sv->scn, sv->id, sv->loop)) < 0) {
		report(sv->ready_fd, "err", "cannot open the own network namespace");
		goto out_loop;
	}
	sv->lab.should_stop = sup_should_stop;
	sv->lab.on_namespace = sup_on_namespace;
	sv->lab.on_step = sup_on_step;
	sv->lab.on_process = sup_on_process;
	sv->lab.ctx = sv;
	rc = zt_lab_build(&sv->lab);
	sv->step_delay_ms = 0;
	if (rc == -EINTR) {
		snprintf(msg, sizeof(msg), "interrupted while building lab %s", sv->id);
		goto out_fail;
	} else if (rc < 0) {
		snprintf(msg, sizeof(msg), "building lab %s failed: %s", sv->id, sv->lab.err);
		goto out_fail;
	}
	if ((rc = start_captures_and_proxies(sv, msg, sizeof(msg))) < 0)
		goto out_fail;
	zt_rundir_path(sv->id, "env", path, sizeof(path));
	if ((rc = write_env(sv, path)) < 0 || (sv->env_out && (rc = write_env(sv, sv->env_out)) < 0)) {
		snprintf(msg, sizeof(msg), "writing the env file: %s", strerror(-rc));
		goto out_fail;
	}
	if (sup_should_stop(sv)) {
		rc = -EINTR;
		snprintf(msg, sizeof(msg), "interrupted while building lab %s", sv->id);
		goto out_fail;
	}
	prctl(PR_SET_PDEATHSIG, 0);
	realtime();
	zt_info("ready", "id=%s nodes=%u", sv->id, sv->scn.nnodes);
	report(sv->ready_fd, "ok", path);
	close(sv->ready_fd);
	sv->ready_fd = -1;
	start_events(sv);
	rc = zt_loop_run(sv->loop);
	if (zt_labev_pending(sv->events))
		zt_info("events", "not_done=%u (the lab went down first)",
			zt_labev_pending(sv->events));
	zt_labev_free(sv->events);
	sv->events = NULL;
	zt_lab_report(&sv->lab, log_line, NULL);
	goto out_teardown;
out_fail:
	zt_err("build", "error=\"%s\"", msg);
	report(sv->ready_fd, "err", msg);
out_teardown:
	rc = rc < 0 ? rc : 0;
	zt_info("teardown", "namespaces_deleted=%d", zt_lab_teardown(&sv->lab));
out_loop:
	zt_loop_free(sv->loop);
	if (sv->ready_fd >= 0)
		close(sv->ready_fd);
	zt_rundir_remove(sv->id);
	return rc < 0 ? 1 : 0;
}

/* An absolute version of path (relative to the current directory), malloc'd; NULL on error. */
static char *abs_path(const char *path)
{
	char *cwd, *out = NULL;

	if (path[0] == '/')
		return strdup(path);
	cwd = getcwd(NULL, 0);
	if (cwd && asprintf(&out, "%s/%s", cwd, path) < 0)
		out = NULL;
	free(cwd);
	return out;
}

static volatile sig_atomic_t up_signal;

static void up_on_signal(int sig)
{
	up_signal = sig;
}

static void random_id(char *buf, size_t cap)
{
	static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
	struct zt_rng rng = zt_sysrng();
	size_t n = cap - 1 < 6 ? cap - 1 : 6;

	for (size_t i = 0; i < n; i++)
		buf[i] = alphabet[zt_rng_below(&rng, sizeof(alphabet) - 1)];
	buf[n] = 0;
}

/* A copy of the scenario in the run directory, for 'flush' and 'list'. */
static void copy_scenario(const char *id, const char *path)
{
	char *text = malloc(ZT_SCN_MAX_BYTES);
	FILE *f = fopen(path, "re");

	if (text && f)
		zt_rundir_write(id, "scenario", text, fread(text, 1, ZT_SCN_MAX_BYTES, f), false);
	if (f)
		fclose(f);
	free(text);
}

/*
 * Reads the supervisor's one-line report ("ok ENVFILE" or "err MESSAGE") into line;
 * a SIGINT/SIGTERM of `up` meanwhile is passed on to it. Returns the bytes read (0:
 * the supervisor ended without a word).
 */
static ssize_t await_report(int fd, pid_t pid, char *line, size_t cap)
{
	ssize_t got = 0;

	for (;;) {
		ssize_t n = read(fd, line + got, cap - 1 - (size_t)got);

		if (n > 0) {
			got += n;
			if (memchr(line, '\n', (size_t)got) || (size_t)got == cap - 1)
				break;
			continue;
		}
		if (n < 0 && errno == EINTR) {
			if (up_signal)
				kill(pid, SIGTERM);
			continue;
		}
		break; /* EOF: the supervisor is gone */
	}
	line[got] = 0;
	return got;
}

static void up_usage(FILE *f)
{
	fprintf(f, "usage: " PROG " up FILE [--id ID] [--env OUT] [--capture DIR] [--log FILE] [--quiet]\n"
		   "  Builds the lab of scenario FILE and returns once it is ready; a supervisor\n"
		   "  stays in the background (link emulator, captures) until '" PROG " down ID'.\n"
		   "  --id      run id ([a-z0-9], at most %d; default random)\n"
		   "  --env     also write the env file (shell variables: namespaces, addresses) to OUT\n"
		   "  --capture write a pcap per interface into DIR\n"
		   "  --log     the supervisor's log (default: in the run directory, removed with it)\n"
		   "  --quiet   print only the run id\n",
		ZT_RUN_ID_MAX);
}

struct up_args {
	char id[ZT_RUN_ID_MAX + 1];
	const char *scenario, *env, *capture, *log;
	bool quiet, given_id;
};

/* up's command line. Returns -1 to go on, else the exit status (the usage printed). */
static int up_parse(int argc, char **argv, struct up_args *a)
{
	static const struct option opts[] = {
		{ "id", required_argument, NULL, 'i' },   { "env", required_argument, NULL, 'e' },
		{ "capture", required_argument, NULL, 'c' }, { "quiet", no_argument, NULL, 'q' },
		{ "log", required_argument, NULL, 'l' },   { "help", no_argument, NULL, 'h' },
		{ 0 },
	};
	int c;

	while ((c = getopt_long(argc, argv, "i:e:c:l:qh", opts, NULL)) != -1) {
		switch (c) {
		case 'i':
			if (!zt_run_id_valid(optarg)) {
				fprintf(stderr, PROG " up: --id wants 1 to %d characters of a-z 0-9, got '%s'\n",
					ZT_RUN_ID_MAX, optarg);
				return 2;
			}
			snprintf(a->id, sizeof(a->id), "%s", optarg);
			a->given_id = true;
			break;
		case 'e':
			a->env = optarg;
			break;
		case 'c':
			a->capture = optarg;
			break;
		case 'l':
			a->log = optarg;
			break;
		case 'q':
			a->quiet = true;
			break;
		case 'h':
			up_usage(stdout);
			return 0;
		default:
			up_usage(stderr);
			return 2;
		}
	}
	if (optind != argc - 1) {
		up_usage(stderr);
		return 2;
	}
	a->scenario = argv[optind];
	return -1;
}

/* The supervisor's paths, absolute: paths given relative to the caller's directory stay
 * valid for the daemon. Returns 0, or -1 with the message printed. */
static int up_paths(struct supervisor *sv, const struct up_args *a)
{
	sv->scn_path = realpath(a->scenario, NULL);
	sv->env_out = a->env ? abs_path(a->env) : NULL;
	sv->capture_dir = a->capture ? abs_path(a->capture) : NULL;
	sv->log_path = a->log ? abs_path(a->log) : NULL;
	if (!sv->scn_path || (a->env && !sv->env_out) || (a->capture && !sv->capture_dir) ||
	    (a->log && !sv->log_path)) {
		fprintf(stderr, PROG " up: cannot resolve a path: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

/* Creates the run directory of the given id, or of a random one (another on a
 * collision, 10 times). Returns 0, or -1 with the message printed. */
static int claim_run_id(char *id, size_t cap, bool given_id)
{
	int rc;

	for (int tries = 0;; tries++) {
		if (!given_id)
			random_id(id, cap);
		rc = zt_rundir_create(id);
		if (rc != -EEXIST || given_id || tries == 10)
			break;
	}
	if (rc == -EEXIST) {
		fprintf(stderr, PROG " up: run id '%s' is in use (" PROG " down %s, or " PROG " sweep)\n",
			id, id);
		return -1;
	}
	if (rc < 0) {
		fprintf(stderr, PROG " up: creating %s/%s: %s\n", ZT_RUN_ROOT, id, strerror(-rc));
		return -1;
	}
	return 0;
}

/*
 * Forks the supervisor, which builds the lab and reports on a pipe. SIGINT, SIGTERM
 * and SIGHUP are blocked before the fork (the child inherits the mask and reads them
 * from a signalfd), then caught in `up` to be passed on while the lab is being built.
 * Returns the supervisor's pid and the pipe's read end in ret_fd, or -1 with the
 * message printed and the run directory removed.
 */
static pid_t spawn_supervisor(struct supervisor *sv, int *ret_fd)
{
	struct sigaction sa = { .sa_handler = up_on_signal };
	const char *delay = getenv("ZTLAB_STEP_DELAY_MS");
	sigset_t block, old;
	pid_t pid;
	int p[2];

	if (pipe2(p, O_CLOEXEC) < 0) {
		perror(PROG " up: pipe");
		zt_rundir_remove(sv->id);
		return -1;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	sv->step_delay_ms = delay ? (unsigned)strtoul(delay, NULL, 10) : 0;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0) {
		perror(PROG " up: fork");
		sigprocmask(SIG_SETMASK, &old, NULL);
		zt_rundir_remove(sv->id);
		return -1;
	}
	if (pid == 0) {
		close(p[0]);
		sv->ready_fd = p[1];
		_exit(supervise(sv));
	}
	close(p[1]);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sigprocmask(SIG_SETMASK, &old, NULL);
	*ret_fd = p[0];
	return pid;
}

static const char *first_event_at(const struct supervisor *sv)
{
	static char at[32];

	zt_units_duration_str(at, sizeof(at), sv->scn.events[0].at_ns);
	return at;
}

/* Waits for the supervisor's report on fd (closed) and says how it went: the lab is
 * up, or it failed or was interrupted and the supervisor has cleaned up. Returns up's
 * exit status. */
static int up_wait(const struct supervisor *sv, pid_t pid, int fd, bool quiet)
{
	char line[800];
	ssize_t got;
	int status;

	got = await_report(fd, pid, line, sizeof(line));
	close(fd);
	if (up_signal)
		kill(pid, SIGTERM); /* a signal that came with the "ok": the lab goes */
	if (got > 3 && !strncmp(line, "ok ", 3) && !up_signal) {
		char *nl = strchr(line, '\n');

		if (nl)
			*nl = 0;
		if (!quiet) {
			printf("lab %s is up (supervisor pid %d)\n", sv->id, (int)pid);
			printf("env file: %s%s%s\n", line + 3, sv->env_out ? " and " : "",
			       sv->env_out ? sv->env_out : "");
			if (sv->scn.nevents)
				printf("timed events: %u, from now (the first at %s); the supervisor's "
				       "log has each one\n", sv->scn.nevents, first_event_at(sv));
			printf("take it down with: " PROG " down %s\n", sv->id);
		} else {
			printf("%s\n", sv->id);
		}
		return 0;
	}
	/* failed or interrupted: the supervisor cleans up; wait until it is done */
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		if (up_signal)
			kill(pid, SIGTERM);
	if (got > 4 && !strncmp(line, "err ", 4))
		fprintf(stderr, PROG " up: %s", line + 4);
	else if (up_signal)
		fprintf(stderr, PROG " up: interrupted; lab %s removed\n", sv->id);
	else
		fprintf(stderr, PROG " up: the supervisor exited during setup\n");
	return up_signal ? 128 + up_signal : 1;
}

static int up_main(int argc, char **argv)
{
	struct up_args a = { .id = "" };
	struct supervisor *sv;
	int rc, fd;
	pid_t pid;

	rc = up_parse(argc, argv, &a);
	if (rc >= 0)
		return rc;
	sv = calloc(1, sizeof(*sv));
	if (!sv)
		return 1;
	rc = 1;
	sv->ready_fd = -1;
	if (load_scenario(a.scenario, &sv->scn) < 0 || need_root("up") < 0 ||
	    up_paths(sv, &a) < 0 || claim_run_id(a.id, sizeof(a.id), a.given_id) < 0)
		goto out_free;
	sv->id = a.id;
	copy_scenario(a.id, sv->scn_path);
	pid = spawn_supervisor(sv, &fd);
	if (pid < 0)
		goto out_free;
	rc = up_wait(sv, pid, fd, a.quiet);
out_free:
	free((char *)sv->scn_path);
	free((char *)sv->env_out);
	free((char *)sv->capture_dir);
	free((char *)sv->log_path);
	free(sv);
	return rc;
}

/* ---- down, sweep, list ---- */

static void signal_proc(pid_t pid, const char *node, const char *prog, void *ctx)
{
	(void)node;
	(void)prog;
	kill(pid, *(int *)ctx);
}

/*
 * Stops the processes the lab started that still run, by their recorded pids (a
 * supervisor killed with SIGKILL could not): SIGTERM, up to 1 s, SIGKILL.
 */
static void stop_recorded(const char *id)
{
	int sig = SIGTERM;

	if (zt_rundir_live_procs(id, signal_proc, &sig) <= 0)
		return;
	for (int i = 0; i < 50 && zt_rundir_live_procs(id, NULL, NULL) > 0; i++)
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000000 }, NULL);
	sig = SIGKILL;
	zt_rundir_live_procs(id, signal_proc, &sig);
}

/* Stops the supervisor of run id (if alive), then removes whatever is left. */
static int take_down(const char *id, bool verbose)
{
	pid_t pid = zt_rundir_live_pid(id);
	int deleted;

	if (pid > 0) {
		int pfd = pidfd_open(pid, 0);

		kill(pid, SIGTERM);
		if (pfd >= 0) {
			struct pollfd pf = { .fd = pfd, .events = POLLIN };

			if (poll(&pf, 1, DOWN_WAIT_MS) == 0) {
				fprintf(stderr, PROG ": supervisor %d of run %s did not stop in %d s: killing it\n",
					(int)pid, id, DOWN_WAIT_MS / 1000);
				kill(pid, SIGKILL);
				poll(&pf, 1, 2000);
			}
			close(pfd);
		} else {
			for (int i = 0; i < DOWN_WAIT_MS / 20 && kill(pid, 0) == 0; i++)
				nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000000 }, NULL);
		}
	}
	/* leftovers of a supervisor that was killed (or just killed above) */
	stop_recorded(id);
	deleted = zt_lab_destroy_by_id(id);
	zt_rundir_remove(id);
	if (verbose)
		printf("lab %s is down%s", id, pid > 0 ? "" : " (its supervisor was gone)");
	if (verbose && deleted > 0)
		printf("; removed %d leftover namespace(s)", deleted);
	if (verbose)
		printf("\n");
	return deleted < 0 ? deleted : 0;
}

static int down_main(int argc, char **argv)
{
	char path[256];
	struct stat st;
	int rc = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: " PROG " down ID...\n");
		return 2;
	}
	if (need_root("down") < 0)
		return 1;
	for (int i = 1; i < argc; i++) {
		char prefix[ZT_RUN_NS_MAX];
		int n;

		if (!zt_run_id_valid(argv[i])) {
			fprintf(stderr, PROG " down: '%s' is not a run id\n", argv[i]);
			rc = 1;
			continue;
		}
		zt_rundir_path(argv[i], NULL, path, sizeof(path));
		snprintf(prefix, sizeof(prefix), ZT_RUN_NS_PREFIX "%s-", argv[i]);
		n = zt_ns_list(prefix, NULL, NULL);
		if (stat(path, &st) < 0 && n <= 0) {
			fprintf(stderr, PROG " down: no run '%s'\n", argv[i]);
			rc = 1;
			continue;
		}
		if (take_down(argv[i], true) < 0)
			rc = 1;
	}
	return rc;
}

struct id_list {
	char ids[256][ZT_RUN_ID_MAX + 1];
	unsigned n;
};

static void add_id(struct id_list *l, const char *id)
{
	for (unsigned i = 0; i < l->n; i++)
		if (!strcmp(l->ids[i], id))
			return;
	if (l->n < sizeof(l->ids) / sizeof(l->ids[0]))
		snprintf(l->ids[l->n++], sizeof(l->ids[0]), "%s", id);
}

static void collect_run(const char *id, void *ctx)
{
	add_id(ctx, id);
}

/* "ztlab-ID-NODE" -> ID */
static void collect_ns(const char *name, void *ctx)
{
	const char *s = name + strlen(ZT_RUN_NS_PREFIX), *dash = strchr(s, '-');
	char id[ZT_RUN_ID_MAX + 1];

	if (!dash || (size_t)(dash - s) > ZT_RUN_ID_MAX)
		return;
	memcpy(id, s, (size_t)(dash - s));
	id[dash - s] = 0;
	if (zt_run_id_valid(id))
		add_id(ctx, id);
}

static int sweep_main(int argc, char **argv)
{
	struct id_list *l;
	bool all = argc == 2 && !strcmp(argv[1], "--all");
	unsigned swept = 0, alive = 0;

	if (argc > 2 || (argc == 2 && !all)) {
		fprintf(stderr, "usage: " PROG " sweep [--all]\n"
				"  Removes what killed runs left behind (namespaces and their links, processes\n"
				"  inside them, run directories). --all also takes down every run still alive\n"
				"  on this machine, anyone's.\n");
		return 2;
	}
	if (need_root("sweep") < 0)
		return 1;
	l = calloc(1, sizeof(*l));
	if (!l)
		return 1;
	zt_rundir_list(collect_run, l);
	zt_ns_list(ZT_RUN_NS_PREFIX, collect_ns, l);
	for (unsigned i = 0; i < l->n; i++) {
		const char *id = l->ids[i];
		pid_t pid = zt_rundir_live_pid(id);
		char path[256];
		struct stat st;

		if (pid > 0 && !all) {
			printf("run %s is alive (supervisor pid %d): left alone\n", id, (int)pid);
			alive++;
			continue;
		}
		/* a run directory without a pid file younger than a minute: a run starting now */
		zt_rundir_path(id, "pid", path, sizeof(path));
		if (pid == 0 && !all && stat(path, &st) < 0) {
			zt_rundir_path(id, NULL, path, sizeof(path));
			if (stat(path, &st) == 0 && time(NULL) - st.st_mtime < 60) {
				printf("run %s is starting: left alone\n", id);
				alive++;
				continue;
			}
		}
		printf("sweeping run %s%s\n", id, pid > 0 ? " (alive: taking it down)" : "");
		take_down(id, false);
		swept++;
	}
	printf("swept %u run(s); %u left alone\n", swept, alive);
	free(l);
	return 0;
}

static int list_main(int argc, char **argv)
{
	struct id_list *l;

	(void)argv;
	if (argc != 1) {
		fprintf(stderr, "usage: " PROG " list\n");
		return 2;
	}
	l = calloc(1, sizeof(*l));
	if (!l)
		return 1;
	zt_rundir_list(collect_run, l);
	zt_ns_list(ZT_RUN_NS_PREFIX, collect_ns, l);
	printf("%-12s %-8s %-8s %-5s %s\n", "ID", "STATE", "PID", "NS", "LAB");
	for (unsigned i = 0; i < l->n; i++) {
		const char *id = l->ids[i];
		pid_t pid = zt_rundir_live_pid(id);
		char prefix[ZT_RUN_NS_MAX], *text = NULL, name[64] = "?";
		int nns;

		snprintf(prefix, sizeof(prefix), ZT_RUN_NS_PREFIX "%s-", id);
		nns = zt_ns_list(prefix, NULL, NULL);
		if (zt_rundir_read(id, "env", &text, NULL) == 0) {
			char *p = strstr(text, "ZTLAB_NAME='");

			if (p)
				sscanf(p + 12, "%63[^']", name);
			free(text);
		}
		printf("%-12s %-8s %-8d %-5d %s\n", id, pid > 0 ? "running" : "dead", (int)pid,
		       nns < 0 ? 0 : nns, name);
	}
	free(l);
	return 0;
}

/* ---- exec, flush ---- */

static int exec_main(int argc, char **argv)
{
	char ns[ZT_RUN_NS_MAX];
	int fd, rc, cmd = 3;

	if (argc >= 4 && !strcmp(argv[3], "--"))
		cmd = 4;
	if (argc <= cmd) {
		fprintf(stderr, "usage: " PROG " exec ID NODE [--] COMMAND [ARGS...]\n"
				"  Runs COMMAND in the network namespace of NODE ('public': the segment).\n");
		return 2;
	}
	if (need_root("exec") < 0)
		return 1;
	if (!zt_run_id_valid(argv[1]) || zt_run_ns_name(argv[1], argv[2], ns, sizeof(ns)) < 0) {
		fprintf(stderr, PROG " exec: bad run id or node name\n");
		return 2;
	}
	fd = zt_ns_open(ns);
	if (fd < 0) {
		fprintf(stderr, PROG " exec: no node '%s' in run '%s' (%s: %s)\n", argv[2], argv[1], ns,
			strerror(-fd));
		return 1;
	}
	rc = zt_ns_enter(fd);
	close(fd);
	if (rc < 0) {
		fprintf(stderr, PROG " exec: entering %s: %s\n", ns, strerror(-rc));
		return 1;
	}
	if ((rc = zt_ns_remount_sys()) < 0)
		fprintf(stderr, PROG " exec: warning: /sys still shows the host's interfaces: %s\n",
			strerror(-rc));
	setenv("ZTLAB_ID", argv[1], 1);
	setenv("ZTLAB_NODE", argv[2], 1);
	execvp(argv[cmd], argv + cmd);
	fprintf(stderr, PROG " exec: %s: %s\n", argv[cmd], strerror(errno));
	return 127;
}

static int flush_main(int argc, char **argv)
{
	struct zt_scn *s;
	struct zt_scn_error err;
	char *text = NULL, msg[512];
	size_t len;
	int rc = 1, i;

	if (argc != 3) {
		fprintf(stderr, "usage: " PROG " flush ID NAT\n"
				"  Makes NAT forget its mappings (conntrack and learned maps), as if new.\n");
		return 2;
	}
	if (need_root("flush") < 0)
		return 1;
	if (!zt_run_id_valid(argv[1]) || zt_rundir_read(argv[1], "scenario", &text, &len) < 0) {
		fprintf(stderr, PROG " flush: no run '%s'\n", argv[1]);
		return 1;
	}
	s = malloc(sizeof(*s));
	if (!s || zt_scn_parse(s, text, len, "scenario", &err) < 0)
		goto out_free;
	i = zt_scn_find(s, argv[2]);
	if (i < 0 || s->nodes[i].kind != ZT_SCN_NAT) {
		fprintf(stderr, PROG " flush: run %s has no nat named '%s'\n", argv[1], argv[2]);
		goto out_free;
	}
	if (zt_lab_flush_nat(argv[1], &s->nodes[i], msg, sizeof(msg)) < 0) {
		fprintf(stderr, PROG " flush: %s\n", msg);
		goto out_free;
	}
	rc = 0;
out_free:
	free(s);
	free(text);
	return rc;
}

/* ---- portmap-restart: a request the supervisor (miniupnpd's parent) carries out ---- */

static int portmap_restart_usage(void)
{
	fprintf(stderr, "usage: " PROG " portmap-restart ID NAT [--keep-conntrack]\n"
			"  Restarts NAT's miniupnpd as a router restart would: killed, every port\n"
			"  mapping it made removed and, unless --keep-conntrack, the NAT's connections\n"
			"  and learned mappings forgotten ('flush'); then started again.\n");
	return 2;
}

/* Leaves the request line for run id's supervisor. Returns 0, -EBUSY or -errno. */
static int put_request(const char *id, const char *line)
{
	char tmp[256], path[256];
	int fd, rc;

	zt_rundir_path(id, REPLY_FILE, path, sizeof(path));
	unlink(path);
	zt_rundir_path(id, REQUEST_FILE ".tmp", tmp, sizeof(tmp));
	zt_rundir_path(id, REQUEST_FILE, path, sizeof(path));
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return errno == EEXIST ? -EBUSY : -errno;
	rc = write(fd, line, strlen(line)) == (ssize_t)strlen(line) ? 0 : -EIO;
	close(fd);
	if (rc == 0 && rename(tmp, path) < 0)
		rc = -errno;
	if (rc < 0)
		unlink(tmp);
	return rc;
}

/* Waits for the supervisor's reply (up to REQUEST_WAIT_MS) into a malloc'd *ret. */
static int await_reply(const char *id, pid_t pid, char **ret)
{
	char path[256];

	zt_rundir_path(id, REPLY_FILE, path, sizeof(path));
	for (int i = 0; i < REQUEST_WAIT_MS / 20; i++) {
		if (zt_rundir_read(id, REPLY_FILE, ret, NULL) == 0) {
			unlink(path);
			return 0;
		}
		if (kill(pid, 0) < 0)
			return -ESRCH;
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000000 }, NULL);
	}
	zt_rundir_path(id, REQUEST_FILE, path, sizeof(path));
	unlink(path);
	return -ETIMEDOUT;
}

/* The NAT named in run id's scenario copy has a portmap. Returns 0 or 1 (said why). */
static int check_portmap_nat(const char *id, const char *nat)
{
	struct zt_scn *s = malloc(sizeof(*s));
	struct zt_scn_error err;
	char *text = NULL;
	size_t len;
	int rc = 1, i;

	if (!s || zt_rundir_read(id, "scenario", &text, &len) < 0 ||
	    zt_scn_parse(s, text, len, "scenario", &err) < 0) {
		fprintf(stderr, PROG " portmap-restart: no run '%s'\n", id);
		goto out_free;
	}
	i = zt_scn_find(s, nat);
	if (i < 0 || s->nodes[i].kind != ZT_SCN_NAT || s->nodes[i].portmap == ZT_SCN_PORTMAP_NONE)
		fprintf(stderr, PROG " portmap-restart: run %s has no nat '%s' with a portmap "
			"(scenario option 'portmap upnp|natpmp|pcp|all')\n", id, nat);
	else
		rc = 0;
out_free:
	free(text);
	free(s);
	return rc;
}

static int portmap_restart_main(int argc, char **argv)
{
	char line[80], *reply = NULL;
	bool keep = argc == 4 && !strcmp(argv[3], "--keep-conntrack");
	pid_t pid;
	int rc;

	if ((argc != 3 && !keep) || !zt_run_id_valid(argv[1]))
		return portmap_restart_usage();
	if (need_root("portmap-restart") < 0)
		return 1;
	if (check_portmap_nat(argv[1], argv[2]))
		return 1;
	if ((pid = zt_rundir_live_pid(argv[1])) <= 0) {
		fprintf(stderr, PROG " portmap-restart: the supervisor of run %s is not running\n", argv[1]);
		return 1;
	}
	snprintf(line, sizeof(line), "portmap-restart %s%s\n", argv[2], keep ? " keep-conntrack" : "");
	if ((rc = put_request(argv[1], line)) < 0) {
		fprintf(stderr, PROG " portmap-restart: %s\n", rc == -EBUSY ?
			"another request to this run is under way" : strerror(-rc));
		return 1;
	}
	kill(pid, SIGHUP);
	if ((rc = await_reply(argv[1], pid, &reply)) < 0) {
		fprintf(stderr, PROG " portmap-restart: no answer from the supervisor of run %s: %s\n",
			argv[1], rc == -ESRCH ? "it is gone" : "timed out");
		return 1;
	}
	rc = strncmp(reply, "ok ", 3) != 0;
	if (rc)
		fprintf(stderr, PROG " portmap-restart: %s", reply + (strncmp(reply, "err ", 4) ? 0 : 4));
	else
		printf("miniupnpd of %s restarted (pid %d): its mappings removed%s\n", argv[2],
		       atoi(reply + 3), keep ? ", conntrack kept" : ", the NAT's conntrack flushed");
	free(reply);
	return rc;
}

static const struct subcommand subcommands[] = {
	{ .name = "up", .main = up_main, .summary = "build a lab from a scenario file; supervisor in background" },
	{ .name = "down", .main = down_main, .summary = "take a lab down (by run id)" },
	{ .name = "exec", .main = exec_main, .summary = "run a command in a node's namespace" },
	{ .name = "list", .main = list_main, .summary = "list lab runs" },
	{ .name = "sweep", .main = sweep_main, .summary = "remove leftovers of killed runs" },
	{ .name = "flush", .main = flush_main, .summary = "make a NAT forget its mappings" },
	{ .name = "portmap-restart", .main = portmap_restart_main, .summary = "restart a NAT's miniupnpd, its mappings lost" },
	{ .name = "check", .main = check_main, .summary = "validate scenario files" },
	{ .name = "diagram", .main = diagram_main, .summary = "draw a scenario's topology" },
	{ .name = "rules", .main = rules_main, .summary = "print a NAT's nftables ruleset" },
	{ .name = "from-report", .main = zt_fromreport_main, .summary = "a scenario rebuilding two networks from their NAT reports" },
	{ .name = "matrix", .main = zt_matrix_main, .summary = "run your own P2P stack across a NAT matrix" },
	{ .name = "udp-echo", .main = zt_probe_echo_main, .summary = "UDP echo that reports the source it saw" },
	{ .name = "udp-probe", .main = zt_probe_probe_main, .summary = "probe a udp-echo: mapping, RTT, loss" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: " PROG " COMMAND [ARGS...]\n\ncommands:\n");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		fprintf(f, "  %-16s %s\n", subcommands[i].name, subcommands[i].summary);
	fprintf(f, "\nScenario format: docs/scenario-format.md. '" PROG " COMMAND --help' for options.\n");
}

int main(int argc, char **argv)
{
	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++)
		if (!strcmp(argv[1], subcommands[i].name))
			return subcommands[i].main(argc - 1, argv + 1);
	fprintf(stderr, PROG ": unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 2;
}
