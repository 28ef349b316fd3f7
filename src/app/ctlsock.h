/*
 * The local control socket of a running agent or connector (AF_UNIX, stream, mode
 * 0600): `ztna status` and `ztna ping` talk to the program through it.
 *
 * Protocol (text, docs/control-socket.md): the client writes one command per line
 * (at most ZT_CTL_LINE_MAX bytes); the program answers with zero or more lines and
 * ends the answer with an empty line. A connection may carry several commands, one
 * after the other: the next line is read only once the previous answer ended. An
 * answer that fails starts with "error=CODE text=..." .
 *
 * The handler runs for each command line. It may answer at once (zt_ctl_printf()
 * then zt_ctl_end()) or later (keep the connection, answer from a timer or a
 * callback). When a client goes away, the handler runs once more with line == NULL
 * so that its owner forgets the connection; the connection is freed after it.
 *
 * Bounds: at most ZT_CTL_CONNS connections (more are closed at once), a line over
 * ZT_CTL_LINE_MAX closes the connection, at most ZT_CTL_OUT_MAX bytes of unsent
 * answer (a client that does not read is closed).
 */
#ifndef ZT_APP_CTLSOCK_H
#define ZT_APP_CTLSOCK_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "io/loop.h"

#define ZT_CTL_CONNS 8
#define ZT_CTL_LINE_MAX 512
#define ZT_CTL_OUT_MAX (1u << 20)

struct zt_ctlsock;
struct zt_ctlconn;

typedef void (*zt_ctl_handler)(void *arg, struct zt_ctlconn *c, char *line, uint64_t now);

/*
 * Listens on path. A stale socket file (nobody answers on it) is replaced; a path in
 * use by a running program gives -EADDRINUSE; a path too long for sun_path gives
 * -ENAMETOOLONG. Returns 0 or -errno.
 */
int zt_ctlsock_open(struct zt_ctlsock **ret, struct zt_loop *loop, const char *path,
		    zt_ctl_handler handler, void *arg);

/* Closes every connection (handlers see line == NULL), the listener, and removes the
 * socket file. NULL is a no-op. */
void zt_ctlsock_close(struct zt_ctlsock *s);

/* Appends one line (a newline is added) to c's answer. Lines are cut at 4 KiB. */
void zt_ctl_printf(struct zt_ctlconn *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Ends the answer (the empty line) and goes on with the next command line. */
void zt_ctl_end(struct zt_ctlconn *c);

/*
 * The default socket of a program whose role is `role` ("agent", "connector",
 * "intermediate"), the same for the program and its clients: /run/ztna/ROLE.sock
 * when the effective user is root, else $XDG_RUNTIME_DIR/ztna-ROLE.sock. Returns 0,
 * -ENOENT (neither: not root and no XDG_RUNTIME_DIR; out gets the /run/ztna one),
 * -ENAMETOOLONG (it would not fit out, or a socket address).
 */
int zt_ctl_default_path(char *out, size_t cap, const char *role);

/* Client side: connects to path. Returns a blocking descriptor or -errno. */
int zt_ctl_connect(const char *path);

#endif
