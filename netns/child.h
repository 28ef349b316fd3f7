/*
 * Programs the lab runs inside a node's namespace as children of the supervisor
 * (tinyproxy on proxy servers, netns/proxy.h; miniupnpd on port-mapping NATs,
 * netns/portmap.h): started in the namespace, ready once they have bound their
 * sockets (seen in /proc/PID/net/{tcp,udp}), stopped by pid.
 */
#ifndef ZT_NETNS_CHILD_H
#define ZT_NETNS_CHILD_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#define ZT_CHILD_TCP_LISTEN 0x0A   /* include/net/tcp_states.h */
#define ZT_CHILD_UDP_BOUND 0x07    /* TCP_CLOSE: how a bound UDP socket shows */

/* A socket a child must have before it counts as ready. */
struct zt_child_sock {
	bool udp;           /* /proc/PID/net/udp (any bound socket); else a TCP listener */
	uint32_t addr;      /* host order; a socket bound to the wildcard matches too */
	uint16_t port;
};

/*
 * True when the text of a /proc/PID/net/{tcp,udp,tcp6,udp6} file lists a socket in
 * state state on addr:port, on the wildcard address and port, or (the IPv6 files) on
 * [::] or ::ffff:addr and port (addr in host byte order). Lines that do not parse are
 * skipped.
 */
bool zt_child_proc_net_has(const char *text, uint32_t addr, uint16_t port, unsigned state);

/*
 * Forks a child that enters the network namespace nsfd refers to and runs argv (argv[0]
 * looked up in PATH) with every signal unblocked and default, the SCHED_OTHER policy,
 * stdout and stderr on log_fd, and no other descriptor than stdin (inherited; the
 * supervisor's is /dev/null). When the exec fails the child writes "cannot run PROG:
 * WHY; sudo tools/deps.sh lab installs it" to log_fd and exits 127. Returns the child's
 * pid, or -errno when fork fails.
 */
pid_t zt_child_spawn(int nsfd, char *const argv[], int log_fd);

/*
 * Waits up to wait_ms for child pid to have every one of the n sockets (IPv4, or IPv6
 * as above). Returns 0; -ECHILD when it exited, with its wait status in *ret_status (it
 * is reaped); -ETIMEDOUT, with the index of the first socket missing in *ret_status.
 */
int zt_child_wait_ready(pid_t pid, const struct zt_child_sock *socks, unsigned n,
			unsigned wait_ms, int *ret_status);

/* Stops child pid: SIGTERM, up to wait_ms for it to exit, then SIGKILL; reaps it. */
void zt_child_stop(pid_t pid, unsigned wait_ms);

#endif
