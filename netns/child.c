#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io/file.h"
#include "child.h"

#define POLL_MS 10

/* Does the local address in hex (8 digits: IPv4; 32: IPv6) stand for want (the native
 * value of the network-order word, as the kernel prints it) or the wildcard? */
static bool addr_matches(const char *hex, unsigned want)
{
	size_t n = strlen(hex);
	unsigned a;
	char w[9];

	if (n == 32 && strspn(hex, "0") == 32)
		return true;  /* [::]: an IPv6 socket that also takes IPv4 */
	if (n == 32 && !strncasecmp(hex, "0000000000000000FFFF0000", 24))
		hex += 24;  /* ::ffff:a.b.c.d */
	else if (n != 8)
		return false;
	memcpy(w, hex, 8);
	w[8] = 0;
	if (sscanf(w, "%8x", &a) != 1)
		return false;
	return a == want || a == 0;
}

bool zt_child_proc_net_has(const char *text, uint32_t addr, uint16_t port, unsigned state)
{
	unsigned want = htonl(addr);

	for (const char *l = text; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		char hex[33];
		unsigned p, st;

		/* "   0: 147100CB:0C38 00000000:0000 0A ..." (tcp6, udp6: 32 hex digits); the
		 * header line does not match */
		if (sscanf(l, " %*u: %32[0-9A-Fa-f]:%4x %*[0-9A-Fa-f]:%*4x %2x", hex, &p, &st) == 3 &&
		    st == state && p == port && addr_matches(hex, want))
			return true;
	}
	return false;
}

/* In the child: a message to the log, then exit 127. */
__attribute__((format(printf, 2, 3), noreturn))
static void child_fail(int fd, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vdprintf(fd, fmt, ap);
	va_end(ap);
	_exit(127);
}

pid_t zt_child_spawn(int nsfd, char *const argv[], int log_fd)
{
	struct sched_param sp = { .sched_priority = 0 };
	sigset_t none;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -errno;
	if (pid > 0)
		return pid;
	/* the supervisor blocks the signals its loop reads and may run SCHED_FIFO */
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	for (int sig = 1; sig < NSIG; sig++)
		signal(sig, SIG_DFL);
	sched_setscheduler(0, SCHED_OTHER, &sp);
	if (setns(nsfd, CLONE_NEWNET) < 0)
		child_fail(log_fd, "entering the namespace of %s: %s\n", argv[0], strerror(errno));
	if (dup2(log_fd, STDOUT_FILENO) < 0 || dup2(log_fd, STDERR_FILENO) < 0)
		child_fail(log_fd, "dup2: %s\n", strerror(errno));
	close_range(STDERR_FILENO + 1, ~0U, 0);
	execvp(argv[0], argv);
	child_fail(STDERR_FILENO, "cannot run %s: %s; sudo tools/deps.sh lab installs it\n",
		   argv[0], strerror(errno));
}

static void sleep_ms(unsigned ms)
{
	nanosleep(&(struct timespec){ .tv_nsec = (long)ms * 1000000 }, NULL);
}

/* 1 when /proc/PID/net/FILE lists socket s, 0 not (yet). */
static int listed(pid_t pid, const char *file, const struct zt_child_sock *s)
{
	char path[64], *text;
	int fd, rc;

	snprintf(path, sizeof(path), "/proc/%d/net/%s", (int)pid, file);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	rc = zt_read_all(fd, 1 << 20, &text, NULL);
	close(fd);
	if (rc < 0)
		return 0;
	rc = zt_child_proc_net_has(text, s->addr, s->port,
				   s->udp ? ZT_CHILD_UDP_BOUND : ZT_CHILD_TCP_LISTEN);
	free(text);
	return rc;
}

/* IPv4 or IPv6 (a wildcard IPv6 socket takes IPv4 too: miniupnpd's HTTP one). */
static int has_sock(pid_t pid, const struct zt_child_sock *s)
{
	return listed(pid, s->udp ? "udp" : "tcp", s) || listed(pid, s->udp ? "udp6" : "tcp6", s);
}

int zt_child_wait_ready(pid_t pid, const struct zt_child_sock *socks, unsigned n,
			unsigned wait_ms, int *ret_status)
{
	for (unsigned waited = 0;; waited += POLL_MS) {
		unsigned have = 0;
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			*ret_status = status;
			return -ECHILD;
		}
		while (have < n && has_sock(pid, &socks[have]))
			have++;
		if (have == n)
			return 0;
		if (waited >= wait_ms) {
			*ret_status = (int)have;
			return -ETIMEDOUT;
		}
		sleep_ms(POLL_MS);
	}
}

void zt_child_stop(pid_t pid, unsigned wait_ms)
{
	if (pid <= 0 || kill(pid, SIGTERM) < 0)
		return;
	for (unsigned waited = 0; waited < wait_ms; waited += POLL_MS) {
		if (waitpid(pid, NULL, WNOHANG) != 0)
			return;
		sleep_ms(POLL_MS);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}
