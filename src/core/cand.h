/*
 * ICE candidates (RFC 8445) and their SDP-like text form (RFC 8839 s5.1).
 *
 * A candidate is a transport address an agent may receive on: host (a local interface
 * address), srflx (server reflexive: the address a NAT gave us, seen by a STUN server or
 * the Intermediate), prflx (peer reflexive: learned from a connectivity check) and relay
 * (an address on a relay). ztna uses one component (1); candidates are UDP, except
 * the TCP candidates of the TCP direct path (RFC 6544's "tcptype so": simultaneous
 * open, docs/tcp-transport.md), which ICE's checks leave alone.
 *
 * Pairs and their ordering are here too; pruning and the check state machine belong to
 * the checklist.
 */
#ifndef ZT_CORE_CAND_H
#define ZT_CORE_CAND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

enum zt_cand_type {
	ZT_CAND_HOST = 0,
	ZT_CAND_SRFLX = 1,
	ZT_CAND_PRFLX = 2,
	ZT_CAND_RELAY = 3,
};

enum zt_cand_transport {
	ZT_CAND_UDP = 0,
	ZT_CAND_TCP_SO = 1, /* TCP, simultaneous open (RFC 6544 s4.5 "so") */
};

/* RFC 8445 s5.1.2.2: recommended type preferences. */
#define ZT_CAND_PREF_HOST 126
#define ZT_CAND_PREF_PRFLX 110
#define ZT_CAND_PREF_SRFLX 100
#define ZT_CAND_PREF_RELAY 0

/* RFC 8445 s5.1.2.1: priority is 1..2^31-1. */
#define ZT_CAND_PRIORITY_MAX 0x7fffffffu
/* RFC 8445 s5.1.1.3 / RFC 8839: a foundation is 1..32 ice-chars (ALPHA DIGIT + /). */
#define ZT_CAND_FOUNDATION_MAX 32
/* RFC 8445: component ids are 1..256. */
#define ZT_CAND_COMPONENT_MAX 256
/* Longest text zt_cand_format() writes, with the NUL (two IPv6 addresses). */
#define ZT_CAND_STRLEN 224
/* The largest index of a predicted candidate. */
#define ZT_CAND_PREDICTED_MAX 64

struct zt_cand {
	uint8_t type;           /* enum zt_cand_type */
	uint8_t transport;      /* enum zt_cand_transport */
	/*
	 * 0, or k (1..ZT_CAND_PREDICTED_MAX) for a predicted candidate: a srflx address the
	 * sender's NAT has not given out yet, the public port its k-th new mapping will get
	 * if the NAT allocates ports sequentially (core/portpred.h, docs/hard-nat.md).
	 */
	uint8_t predicted;
	uint16_t component;     /* 1..256; ztna uses 1 */
	uint32_t priority;      /* 1..ZT_CAND_PRIORITY_MAX */
	char foundation[ZT_CAND_FOUNDATION_MAX + 1]; /* 1..32 ice-chars, NUL-terminated */
	struct zt_addr addr;    /* the candidate's transport address */
	/*
	 * The related address (SDP raddr/rport): the base of a srflx or prflx candidate,
	 * the mapped address of a relay candidate; family 0 when absent (host candidates).
	 */
	struct zt_addr related;
};

/* "host", "srflx", "prflx", "relay", or "?" for an unknown value. */
const char *zt_cand_type_name(unsigned type);

/* The RFC 8445 s5.1.2.2 type preference of type (126/110/100/0); 0 for an unknown type. */
unsigned zt_cand_type_pref(unsigned type);

/*
 * RFC 8445 s5.1.2.1: (2^24)*type_pref + (2^8)*local_pref + (256 - component).
 * local_pref is 0..65535 (65535 for the only interface; higher means preferred),
 * component 1..256. Returns the priority, or 0 (never a valid priority) when type is
 * unknown or component is out of range.
 */
uint32_t zt_cand_priority(unsigned type, uint16_t local_pref, unsigned component);

/*
 * RFC 8445 s5.1.1.3: the foundation of a candidate of this type whose base has the
 * IP address of base and, for srflx and relay candidates, that was obtained from the
 * STUN/TURN server whose IP address is server (ignored for host and prflx; may be
 * NULL). Ports do not count. The same inputs give the same foundation, on every host;
 * different inputs give different ones with overwhelming probability (a 32-bit hash).
 * Writes 8 lowercase hex digits and a NUL into ret. Returns 8, or -EINVAL when base
 * has no address family.
 */
int zt_cand_foundation(char ret[ZT_CAND_FOUNDATION_MAX + 1], unsigned type,
		       const struct zt_addr *base, const struct zt_addr *server);

/*
 * The base of a candidate (RFC 8445 s5.1.1): host and relay candidates are their own
 * base; srflx and prflx candidates have their related address as base (or their own
 * address when the related address is absent, as for a remote candidate).
 */
const struct zt_addr *zt_cand_base(const struct zt_cand *c);

/*
 * Checks that c is a candidate ztna can use: 0, or ZT_ECAND_TYPE (unknown type),
 * ZT_ECAND_TRANSPORT (unknown transport, or a predicted TCP candidate),
 * ZT_ECAND_TYPE (a predicted candidate that is not srflx),
 * ZT_ERANGE (component not 1..256, priority not 1..2^31-1, port 0, predicted index
 * above ZT_CAND_PREDICTED_MAX), ZT_ESYNTAX
 * (foundation empty, too long, not ice-chars or not NUL-terminated),
 * ZT_EMALFORMED (address family not IPv4/IPv6; related address family not 0/IPv4/IPv6).
 */
int zt_cand_check(const struct zt_cand *c);

/*
 * Parses one candidate line of len bytes (need not be NUL-terminated):
 *   [a=][candidate:]<foundation> <component> <udp|tcp> <priority> <ip> <port>
 *       typ <host|srflx|prflx|relay> [raddr <ip> rport <port>] [<name> <value>]...
 * A TCP candidate needs the extension "tcptype so" (RFC 6544 s4.5); active and
 * passive ones are refused (ZT_ECAND_TRANSPORT). The extension "predicted K" marks a
 * predicted srflx candidate (K 1..ZT_CAND_PREDICTED_MAX).
 * Keywords are case-insensitive (RFC 5234 strings); trailing CR/LF/spaces are ignored;
 * unknown extension pairs after the type and related address are ignored (RFC 8839
 * s5.1). Addresses are numeric IPv4 or IPv6 (no FQDN, no brackets).
 * Returns 0 and fills *ret, or: ZT_ESYNTAX (missing field, bad token, bad foundation,
 * bad address, "a=" without "candidate:", raddr without rport, odd extension pair, NUL or
 * control byte), ZT_ECAND_TRANSPORT (not UDP or TCP so), ZT_ECAND_TYPE (unknown type), ZT_ERANGE
 * (component not 1..256, priority not 1..2^31-1, port not 1..65535, rport > 65535).
 * *ret is untouched on failure.
 */
int zt_cand_parse(struct zt_cand *ret, const char *text, size_t len);

/*
 * Writes "candidate:<foundation> <component> <udp|tcp> <priority> <ip> <port> typ <type>",
 * " raddr <ip> rport <port>" when the related address is present, " tcptype so"
 * for a TCP candidate and " predicted K" for a predicted one, NUL-terminated.
 * zt_cand_parse() of the result gives back *c. Returns the length without the NUL,
 * -ENOBUFS when cap is too small (ZT_CAND_STRLEN always suffices), or the code of
 * zt_cand_check() for an invalid candidate.
 */
int zt_cand_format(const struct zt_cand *c, char *buf, size_t cap);

/* A candidate pair, copies of both candidates and the pair priority for our role. */
struct zt_cand_pair {
	struct zt_cand local;
	struct zt_cand remote;
	uint64_t priority;
};

/*
 * RFC 8445 s6.1.2.3: 2^32*MIN(G,D) + 2*MAX(G,D) + (G>D?1:0), where G is the priority of
 * the controlling agent's candidate and D the controlled agent's.
 */
uint64_t zt_cand_pair_priority(uint32_t g, uint32_t d);

/* Fills *ret with local, remote and the pair priority seen from our role. */
void zt_cand_pair_init(struct zt_cand_pair *ret, const struct zt_cand *local,
		       const struct zt_cand *remote, bool controlling);

/*
 * Checklist order (RFC 8445 s6.1.2.3, highest priority first): returns < 0 when a comes
 * before b, > 0 when after, 0 when they are interchangeable. Ties on pair priority are
 * broken by the local then remote candidate priority, component and addresses, so the
 * order does not depend on the order pairs were formed in.
 */
int zt_cand_pair_cmp(const struct zt_cand_pair *a, const struct zt_cand_pair *b);

/* Sorts pairs into checklist order (stable: equal pairs keep their relative order). */
void zt_cand_pair_sort(struct zt_cand_pair *pairs, size_t n);

/*
 * RFC 8445 s6.1.2.4: two pairs are redundant when their local candidates have the same
 * base and their remote candidates the same transport address (and component).
 */
bool zt_cand_pair_redundant(const struct zt_cand_pair *a, const struct zt_cand_pair *b);

#endif
