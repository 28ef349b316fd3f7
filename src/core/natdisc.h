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
 *   5. port allocation (n_port_samples, a NAT): one request from each of the sample
 *                  sockets in turn (sockets ZT_NATDISC_SOCKET_SAMPLE0..., fresh: never
 *                  used before) to A1:P1: each makes a new mapping; the local and
 *                  public ports are classified by zt_natdisc_port_pattern().
 *   6. mapping lifetime (n_lifetime_probes, after 5): every probe socket makes a
 *                  mapping to A1:P1, then probe k is left idle for (k + 1) x
 *                  lifetime_max / n_lifetime_probes and checked, in order, until one is
 *                  gone. Probes idle side by side, so the run takes about the lifetime
 *                  (at most lifetime_max) plus one check, not a sum of waits as a
 *                  binary search on one socket would. How a probe is checked depends on
 *                  what 1-5 found (a check must tell a live mapping from a new one):
 *                    - ports random or sequential: the probe sends to A1:P1 again; the
 *                      same public address means alive, another one (a new mapping)
 *                      gone (method "port");
 *                    - ports preserve, endpoint-independent mapping, address(-and-
 *                      port)-dependent filtering: the probe asks A2:P2 to answer from
 *                      A1:P1 (CHANGE-REQUEST IP and port); only the old mapping's filter
 *                      lets A1:P1 in: an answer means alive, silence gone (method
 *                      "filter"; RFC 5780 s4.6 uses RESPONSE-PORT instead, which few
 *                      servers implement);
 *                    - otherwise (a port-preserving NAT with endpoint-independent
 *                      filtering, or with endpoint-dependent mapping) a new mapping
 *                      looks exactly like the old one: "not-measurable".
 *                  Idle time runs from the answer that made the mapping to the first
 *                  transmission of the check.
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

/* Port allocation and lifetime tests: socket indexes 0 and 1 as above, then
 * n_port_samples sample sockets, then n_lifetime_probes probe sockets. */
#define ZT_NATDISC_SOCKET_SAMPLE0 2
#define ZT_NATDISC_MIN_PORT_SAMPLES 3   /* two deltas at least */
#define ZT_NATDISC_MAX_PORT_SAMPLES 8
#define ZT_NATDISC_PORT_SAMPLES 5       /* what ztna discover uses */
#define ZT_NATDISC_SEQ_MAX_STEP 8       /* largest delta still counted as sequential */
#define ZT_NATDISC_MIN_LIFETIME_PROBES 2
#define ZT_NATDISC_MAX_LIFETIME_PROBES 32
#define ZT_NATDISC_LIFETIME_PROBES 20   /* what ztna discover uses */
#define ZT_NATDISC_MAX_LIFETIME (3600 * ZT_SEC)
#define ZT_NATDISC_MAX_RTT_SAMPLES 64
#define ZT_NATDISC_MAX_SOCKETS \
	(ZT_NATDISC_SOCKET_SAMPLE0 + ZT_NATDISC_MAX_PORT_SAMPLES + ZT_NATDISC_MAX_LIFETIME_PROBES)

/* Defaults (RFC 8489 s6.2.1 for tests that must be answered). */
#define ZT_NATDISC_RTO (500 * ZT_MS)
#define ZT_NATDISC_RC 7
#define ZT_NATDISC_RM 16
#define ZT_NATDISC_RC_SILENT 3  /* 0, 0.5, 1.5 s; given up at 3.5 s */
#define ZT_NATDISC_RM_SILENT 4

struct zt_natdisc_cfg {
	struct zt_addr server;    /* the server's primary address A1:P1 */
	/* The sockets' own addresses (IP may be the wildcard when host_ips is given; the
	 * sample sockets' ports must be the real ones: they are compared to the mapped). */
	struct zt_addr local[ZT_NATDISC_MAX_SOCKETS];
	unsigned n_sockets;       /* 1, or 2 for the hairpinning test */
	/* 0 (no allocation test) or ZT_NATDISC_MIN_PORT_SAMPLES..MAX: sockets
	 * ZT_NATDISC_SOCKET_SAMPLE0 + i */
	unsigned n_port_samples;
	/* 0 (no lifetime test) or ZT_NATDISC_MIN_LIFETIME_PROBES..MAX, with port samples:
	 * sockets ZT_NATDISC_SOCKET_SAMPLE0 + n_port_samples + k */
	unsigned n_lifetime_probes;
	uint64_t lifetime_max;    /* the longest idle time tried, up to ZT_NATDISC_MAX_LIFETIME */
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

/* How the NAT picks the public port of a new mapping (seen from fresh sockets). */
enum zt_nat_ports {
	ZT_NAT_PORTS_UNKNOWN = 0,  /* "unknown": not tested, or too few answers */
	ZT_NAT_PORTS_PRESERVE,     /* "preserve": every public port is the local one */
	ZT_NAT_PORTS_SEQUENTIAL,   /* "sequential": each +1..+ZT_NATDISC_SEQ_MAX_STEP */
	ZT_NAT_PORTS_RANDOM,       /* "random": anything else */
};

enum zt_natdisc_lifetime {
	ZT_NATDISC_LIFETIME_UNTESTED = 0, /* "untested": not asked for, or no NAT */
	ZT_NATDISC_LIFETIME_MEASURED,     /* "measured": alive < lifetime <= gone */
	ZT_NATDISC_LIFETIME_ABOVE,        /* "above-max": alive after every idle time tried */
	ZT_NATDISC_LIFETIME_UNMEASURABLE, /* "not-measurable": no check tells (see test 6) */
	ZT_NATDISC_LIFETIME_FAILED,       /* "failed": probes or checks got no answer */
};

enum zt_natdisc_lt_method {
	ZT_NATDISC_LT_NONE = 0,
	ZT_NATDISC_LT_PORT,       /* "port": a new public port shows a new mapping */
	ZT_NATDISC_LT_FILTER,     /* "filter": the first destination still gets in */
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
	/* test 5: the answered samples in order, local and public port */
	enum zt_nat_ports ports;
	unsigned port_samples;
	uint16_t port_local[ZT_NATDISC_MAX_PORT_SAMPLES];
	uint16_t port_mapped[ZT_NATDISC_MAX_PORT_SAMPLES];
	/* test 6: idle times in ns (0: none seen) */
	enum zt_natdisc_lifetime lifetime;
	enum zt_natdisc_lt_method lifetime_method;
	uint64_t lifetime_alive;  /* the longest idle time after which the mapping worked */
	uint64_t lifetime_gone;   /* the idle time after which it was gone */
	/*
	 * Why something is unknown, 0 if nothing is: ZT_EPEER (the server answered with an
	 * error, stun_error holds its code, or did not honour CHANGE-REQUEST),
	 * ZT_ETIMEOUT (the alternate address never answered), ZT_ESTUN_UNKNOWN_REQ (a
	 * response with unknown comprehension-required attributes), ZT_EMALFORMED (a
	 * success response without a mapped address).
	 */
	int error;
	int stun_error;           /* STUN error code (e.g. 420) when the server sent one */
	/*
	 * Round trips and loss, over every transaction the server must answer (not the
	 * filtering tests, hairpinning or the lifetime checks, where silence is an answer):
	 * requests counts their transmissions, answers the transactions answered, so
	 * (requests - answers) / requests is the round-trip loss seen (a retransmission
	 * whose original was only late counts as lost). rtt[] holds the round trips of the
	 * server's answers to requests sent once (Karn: a retransmitted transaction's
	 * answer cannot be matched to one transmission), in ns, the first
	 * ZT_NATDISC_MAX_RTT_SAMPLES.
	 */
	unsigned requests, answers;
	unsigned rtt_samples;
	uint64_t rtt[ZT_NATDISC_MAX_RTT_SAMPLES];
};

struct zt_natdisc;

/*
 * Allocate a discovery run; the first request goes out on the first poll_send().
 * Returns 0 and *ret, -EINVAL (server or local[0] unset, n_sockets not 1 or 2, no
 * rng, n_host_ips too large, n_port_samples or n_lifetime_probes out of range, probes
 * without port samples, lifetime_max 0 or too large, a sample or probe socket's
 * address unset), -ENOMEM.
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

/*
 * The port allocation pattern of n mappings made in a row from fresh sockets (local
 * ports, public ports): "preserve" when every public port is its local port;
 * "sequential" when every delta between consecutive public ports is +1 to
 * +ZT_NATDISC_SEQ_MAX_STEP (mod 65536; +1 on an otherwise idle NAT, more when other
 * hosts' mappings come in between or a sample was lost); "random" otherwise;
 * "unknown" with fewer than ZT_NATDISC_MIN_PORT_SAMPLES.
 */
enum zt_nat_ports zt_natdisc_port_pattern(const uint16_t *local, const uint16_t *mapped,
					  unsigned n);

/* "full-cone", "symmetric", ...; "endpoint-independent", ...; "yes"/"no"/"unknown";
 * "preserve", "sequential", "random", "unknown"; "measured", "above-max",
 * "not-measurable", "failed", "untested"; "port", "filter", "none". */
const char *zt_natdisc_type_name(enum zt_nat_type type);
const char *zt_natdisc_behavior_name(enum zt_nat_behavior b);
const char *zt_natdisc_hairpin_name(enum zt_nat_hairpin h);
const char *zt_natdisc_ports_name(enum zt_nat_ports p);
const char *zt_natdisc_lifetime_name(enum zt_natdisc_lifetime l);
const char *zt_natdisc_lt_method_name(enum zt_natdisc_lt_method m);

#endif
