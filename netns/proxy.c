#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io/file.h"
#include "proxy.h"

#define TCP_LISTEN 0x0A   /* include/net/tcp_states.h */
#define POLL_MS 10

int zt_proxy_conf_render(const struct zt_scn_node *n, char *buf, size_t cap)
{
	char ip[16];
	int len;

	if (n->kind != ZT_SCN_SERVER || n->proxy == ZT_SCN_PROXY_NONE || !n->proxy_port)
		return -EINVAL;
	len = snprintf(buf, cap,
		       "# tinyproxy of lab server '%s' (proxy %s), written by ztna-lab\n"
		       "User " ZT_PROXY_USER "\n"
		       "Group " ZT_PROXY_GROUP "\n"
		       "Listen %s\n"
		       "Port %u\n"
		       "Timeout 600\n"
		       "MaxClients 100\n"
		       "# standard output only (a file in the run directory), never syslog\n"
		       "Syslog Off\n"
		       "LogLevel Info\n"
		       "# the lab is isolated: every client is a lab node\n"
		       "Allow 0.0.0.0/0\n"
		       "%s",
		       n->name, zt_scn_proxy_name(n->proxy), zt_ip4_str(n->addr[0], ip),
		       n->proxy_port,
		       n->proxy == ZT_SCN_PROXY_DENY ?
		       "# no real port is listed: every CONNECT gets 403\nConnectPort 0\n" :
		       "# no ConnectPort line: CONNECT to every port\n");
	if (len < 0 || (size_t)len >= cap) {
		if (cap)
			buf[0] = 0;
		return -ENOBUFS;
	}
	return len;
}

bool zt_proxy_tcp_listening(const char *text, uint32_t addr, uint16_t port)
{
	/* the kernel prints the address as the native value of the network-order word */
	unsigned want = htonl(addr);

	for (const char *l = text; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL) {
		unsigned a, p, st;

		/* "   0: 147100CB:0C38 00000000:0000 0A ..."; the header line does not match */
		if (sscanf(l, " %*u: %8x:%4x %*8x:%*4x %2x", &a, &p, &st) == 3 &&
		    st == TCP_LISTEN && p == port && (a == want || a == 0))
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

pid_t zt_proxy_spawn(int nsfd, const char *conf, int log_fd)
{
	struct sched_param sp = { .sched_priority = 0 };
	char *argv[] = { ZT_PROXY_PROG, "-d", "-c", (char *)conf, NULL };
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
		child_fail(log_fd, "entering the proxy's namespace: %s\n", strerror(errno));
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

/* 1 when pid listens on addr:port, 0 not (yet). */
static int listening(pid_t pid, uint32_t addr, uint16_t port)
{
	char path[64], *text;
	int fd, rc;

	snprintf(path, sizeof(path), "/proc/%d/net/tcp", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	rc = zt_read_all(fd, 1 << 20, &text, NULL);
	close(fd);
	if (rc < 0)
		return 0;
	rc = zt_proxy_tcp_listening(text, addr, port);
	free(text);
	return rc;
}

int zt_proxy_wait_ready(pid_t pid, uint32_t addr, uint16_t port, unsigned wait_ms,
			int *ret_status)
{
	for (unsigned waited = 0;; waited += POLL_MS) {
		int status;

		if (waitpid(pid, &status, WNOHANG) == pid) {
			*ret_status = status;
			return -ECHILD;
		}
		if (listening(pid, addr, port))
			return 0;
		if (waited >= wait_ms)
			return -ETIMEDOUT;
		sleep_ms(POLL_MS);
	}
}

void zt_proxy_stop(pid_t pid, unsigned wait_ms)
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
