/*
 * Named network namespaces, made the way iproute2 makes them (a bind mount of the
 * namespace on /run/netns/NAME, that directory a shared mount), so `ip netns exec NAME`
 * works on them; entering and leaving them; their sysctls; the processes inside.
 */
#ifndef ZT_NETNS_NS_H
#define ZT_NETNS_NS_H

#include <stdbool.h>
#include <sys/types.h>

#define ZT_NS_RUN_DIR "/run/netns"

/* Creates the namespace NAME. Returns 0, -EEXIST when the name is taken, or -errno. */
int zt_ns_create(const char *name);

/* Opens /run/netns/NAME (O_RDONLY|O_CLOEXEC). Returns the fd or -errno. */
int zt_ns_open(const char *name);

/* Unmounts and removes /run/netns/NAME. Returns 0, -ENOENT when absent, or -errno. */
int zt_ns_delete(const char *name);

/* Moves the calling thread into the namespace nsfd refers to. Returns 0 or -errno. */
int zt_ns_enter(int nsfd);

/*
 * For a process about to run a command in a lab namespace (after zt_ns_enter): a
 * private mount namespace with /sys mounted afresh, so sysfs (/sys/class/net) shows
 * the namespace's interfaces, as `ip netns exec` does. Returns 0 or -errno.
 */
int zt_ns_remount_sys(void);

/* Opens the calling thread's own network namespace (to come back to). fd or -errno. */
int zt_ns_self(void);

/*
 * Writes value to /proc/sys/KEY (slashes, not dots) in the calling thread's namespace.
 * Returns 0 or -errno (-ENOENT when this kernel lacks the key).
 */
int zt_ns_sysctl(const char *key, const char *value);

/*
 * Sends sig to every process whose network namespace is the one at /run/netns/NAME,
 * except the caller. Returns the number signalled, or -errno.
 */
int zt_ns_signal_members(const char *name, int sig);

/*
 * Terminates the processes in namespace NAME: SIGTERM, up to wait_ms for them to go,
 * then SIGKILL. Returns the number that were found, or -errno.
 */
int zt_ns_kill_members(const char *name, unsigned wait_ms);

/*
 * Lists /run/netns names starting with prefix: calls fn (may be NULL) for each; fn must
 * not remove entries. Returns the count or -errno.
 */
int zt_ns_list(const char *prefix, void (*fn)(const char *name, void *ctx), void *ctx);

#endif
