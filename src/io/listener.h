/*
 * A listening TCP socket on the event loop. Each connection accepted (non-blocking,
 * close-on-exec) goes to accepted(); the caller owns its descriptor from then on.
 *
 * When accept() fails for want of resources (EMFILE, ENFILE: the open-files limit;
 * ENOBUFS, ENOMEM), the pending connection stays in the kernel's queue and the socket
 * would wake the loop again at once: a busy loop. Instead the socket is left alone
 * for ZT_LISTENER_PAUSE and tried again then; failed() (optional) hears of it once per
 * pause, with the error, so the program can say what to raise.
 */
#ifndef ZT_IO_LISTENER_H
#define ZT_IO_LISTENER_H

#include <stdbool.h>
#include <stdint.h>

#include "core/addr.h"
#include "io/loop.h"

#define ZT_LISTENER_PAUSE (100 * 1000 * 1000ULL) /* ns */

struct zt_listener {
	struct zt_loop *loop;
	struct zt_watch watch;          /* watch.fd: the socket, -1 when closed */
	struct zt_timer pause;
	struct zt_addr local;           /* the bound address (port filled in) */
	void (*accepted)(void *arg, uint64_t now, int fd);
	void (*failed)(void *arg, uint64_t now, int err);
	void *arg;
	uint64_t taken, errors, pauses; /* connections accepted, accept() failures, pauses */
};

/*
 * Binds at (SO_REUSEADDR), listens with backlog, watches. failed may be NULL.
 * Returns 0 or -errno.
 */
int zt_listener_open(struct zt_listener *l, struct zt_loop *loop, const struct zt_addr *at,
		     int backlog, void (*accepted)(void *arg, uint64_t now, int fd),
		     void (*failed)(void *arg, uint64_t now, int err), void *arg);
/* Stops and closes. Accepts a zeroed struct and one closed already. */
void zt_listener_close(struct zt_listener *l);

#endif
