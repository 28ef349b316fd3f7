/*
 * NAT behaviour discovery client (RFC 5780 s4), sans-IO.
 *
 * A state machine that runs the RFC 5780 tests one transaction at a time over one or
 * two local UDP sockets (socket 0 for everything, socket 1 only for hairpinning):
 *
 *   1. test I      socket 0 -> server A1:P1: UDP connectivity, mapped address M1,
 *                  OTHER-ADDRESS A2:P2. No answer: UDP blocked. M1 equal to the
 *                  socket's own address: no NAT.
 *   2. filtering   (s4.4) -> A1:P1 with CHANGE-REQUEST change-IP+port: an answer (from
 *                  A2:P2) means endpoint-independent filtering; else -> A1:P1 with
 *                  change-port: an answer (from A1:P2) means address-dependent, none
 *                  address-and-port-dependent. Run before the mapping tests, which
 *                  send to A2 and would open the filter for it (s4.4: "sensitive to
 *                  prior state").
 *   3. mapping     (s4.3) -> A2:P1: same mapped address as M1 means endpoint-
 *                  independent; else -> A2:P2: same as test II means address-
 *                  dependent, different address-and-port-dependent. Skipped without
 *                  a NAT (then endpoint-independent).
 *   4. hairpinning (s3.4/4.5, two sockets and a NAT): socket 1 -> M1; the request
 *                  arriving on socket 0 means the NAT hairpins.
 *
 * Retransmission (RFC 8489 s6.2.1): a request is sent at most Rc times, first after
 * RTO then doubling (0, RTO, 3 RTO, 7 RTO, ...), and the transaction fails Rm * RTO
 * after the last send. Tests whose outcome may legitimately be silence (the two
 * filtering tests, hairpinning) use their own, shorter Rc/Rm. New transactions are
 * started at least ZT_NATDISC_PACE apart (RFC 5780 s5: at most 10 per second).
 * Responses are matched by transaction ID and socket; anything else is ignored.
 *
 * Driving it from an event loop:
 *   nd = zt_natdisc_new(&cfg)
 *   loop: while ((n = zt_natdisc_poll_send(nd, now, buf, cap, &sock, &to)) > 0)
 *             send buf[0..n) on socket sock to to;
 *         arm the timer for zt_natdisc_next_deadline(nd) (ZT_TIME_NEVER: done);
 *         on a datagram on socket i: zt_natdisc_recv(nd, now, i, from, buf, len);
 *         on the timer: zt_natdisc_on_timeout(nd, now);
 *         stop when zt_natdisc_result(nd)->done.
 */
#ifndef ZT_CORE_NATDISC_H
#define ZT_CORE_NATDISC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/rng.h"
#include "core/units.h"

#define ZT_NATDISC_MAX_HOST_IPS 8
#define ZT_NATDISC_PACE (100 * ZT_MS)

/* Defaults (RFC 8489 s6.2.1 for tests that must be answered). */
#define ZT_NATDISC_RTO (500 * ZT_MS)
#define ZT_NATDISC_RC 7
#define ZT_NATDISC_RM 16
#define ZT_NATDISC_RC_SILENT 3  /* 0, 0.5, 1.5 s; given up at 3.5 s */
#define ZT_NATDISC_RM_SILENT 4

struct zt_natdisc_cfg {
	struct zt_addr server;    /* the server's primary address A1:P1 */
	/* The sockets' own addresses (IP may be the wildcard when host_ips is given). */
	struct zt_addr local[2];
	unsigned n_sockets;       /* 1, or 2 for the hairpinning test */
	/* The host's own IPs (ports ignored), to recognise "no NAT" on a wildcard socket. */
	struct zt_addr host_ips[ZT_NATDISC_MAX_HOST_IPS];
	unsigned n_host_ips;
	struct zt_rng rng;        /* transaction IDs */
	uint64_t rto;             /* initial RTO in ns; 0: ZT_NATDISC_RTO */
	unsigned rc, rm;          /* 0: ZT_NATDISC_RC, ZT_NATDISC_RM */
	unsigned rc_silent, rm_silent; /* 0: ZT_NATDISC_RC_SILENT, ZT_NATDISC_RM_SILENT */
};

/* RFC 4787 mapping or filtering behaviour. */
enum zt_nat_behavior {
	ZT_NAT_BEHAVIOR_UNKNOWN = 0,
	ZT_NAT_ENDPOINT_INDEPENDENT,
	ZT_NAT_ADDRESS_DEPENDENT,
	ZT_NAT_ADDRESS_PORT_DEPENDENT,
};

enum zt_nat_hairpin {
	ZT_NAT_HAIRPIN_UNKNOWN = 0, /* not tested: one socket, no NAT, no mapped address */
	ZT_NAT_HAIRPIN_YES,
	ZT_NAT_HAIRPIN_NO,
};

/* The names the NAT lab configures. */
enum zt_nat_type {
	ZT_NAT_TYPE_UNKNOWN = 0,        /* "unknown": a needed test could not be run */
	ZT_NAT_TYPE_UDP_BLOCKED,        /* "udp-blocked": test I got no answer */
	ZT_NAT_TYPE_OPEN,               /* "open": no NAT, endpoint-independent filtering */
	ZT_NAT_TYPE_FIREWALL,           /* "firewall": no NAT, filtering otherwise */
	ZT_NAT_TYPE_FULL_CONE,          /* "full-cone": EIM + EIF */
	ZT_NAT_TYPE_ADDRESS_RESTRICTED, /* "address-restricted": EIM + ADF */
	ZT_NAT_TYPE_PORT_RESTRICTED,    /* "port-restricted": EIM + APDF */
	ZT_NAT_TYPE_SYMMETRIC,          /* "symmetric": address(-and-port)-dependent mapping */
};

struct zt_natdisc_result {
	bool done;
	enum zt_nat_type type;
	bool nat;                 /* test I's mapped address is not the socket's own */
	bool rfc5780;             /* the server sent OTHER-ADDRESS */
	struct zt_addr mapped;    /* test I (family 0 when never answered) */
	struct zt_addr other;     /* the server's OTHER-ADDRESS */
	struct zt_addr mapped2;   /* mapping test II, III (family 0 when not run) */
	struct zt_addr mapped3;
	enum zt_nat_behavior mapping;
	enum zt_nat_behavior filtering;
	enum zt_nat_hairpin hairpin;
	/*
	 * Why something is unknown, 0 if nothing is: ZT_EPEER (the server answered with an
	 * error, stun_error holds its code, or did not honour CHANGE-REQUEST),
	 * ZT_ETIMEOUT (the alternate address never answered), ZT_ESTUN_UNKNOWN_REQ (a
	 * response with unknown comprehension-required attributes), ZT_EMALFORMED (a
	 * success response without a mapped address).
	 */
	int error;
	int stun_error;           /* STUN error code (e.g. 420) when the server sent one */
};

struct zt_natdisc;

/*
 * Allocate a discovery run; the first request goes out on the first poll_send().
 * Returns 0 and *ret, -EINVAL (server or local[0] unset, n_sockets not 1 or 2, no
 * rng, n_host_ips too large), -ENOMEM.
 */
int zt_natdisc_new(const struct zt_natdisc_cfg *cfg, struct zt_natdisc **ret);
void zt_natdisc_free(struct zt_natdisc *nd);

/*
 * The next datagram due at now: writes it to buf and returns its length, with the
 * socket index to send from and the destination; 0 when nothing is due; -ENOBUFS
 * when cap is too small (128 bytes always suffice). Call until it returns 0.
 */
int zt_natdisc_poll_send(struct zt_natdisc *nd, uint64_t now, uint8_t *buf, size_t cap,
			 unsigned *ret_socket, struct zt_addr *ret_to);

/*
 * A datagram received on socket from from. Returns 0 when it was used, or a negative
 * code when ignored: a decode error, ZT_ESTATE (no transaction of ours on that
 * socket has this ID, or not a STUN message we expect); -EINVAL (bad socket index).
 */
int zt_natdisc_recv(struct zt_natdisc *nd, uint64_t now, unsigned socket,
		    const struct zt_addr *from, const uint8_t *buf, size_t len);

/* When to call on_timeout() or poll_send() next: a time <= now means at once;
 * ZT_TIME_NEVER once done. */
uint64_t zt_natdisc_next_deadline(const struct zt_natdisc *nd);

/* Expire the current transaction if its time is up (a no-op otherwise). */
void zt_natdisc_on_timeout(struct zt_natdisc *nd, uint64_t now);

/* The result so far; complete when ->done. */
const struct zt_natdisc_result *zt_natdisc_result(const struct zt_natdisc *nd);

/* "full-cone", "symmetric", ...; "endpoint-independent", ...; "yes"/"no"/"unknown". */
const char *zt_natdisc_type_name(enum zt_nat_type type);
const char *zt_natdisc_behavior_name(enum zt_nat_behavior b);
const char *zt_natdisc_hairpin_name(enum zt_nat_hairpin h);

#endif
