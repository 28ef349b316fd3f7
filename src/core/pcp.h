/*
 * The datagrams of a gateway's port-mapping service on UDP port 5351, as a client
 * writes and reads them: PCP (RFC 6887, version 2) and its predecessor NAT-PMP
 * (RFC 6886, version 0).
 *
 * One file pair for both: they are one grammar on one port whose first byte is the
 * version, and a PCP client must read NAT-PMP's answer to its PCP request to fall back
 * (RFC 6887 s9 and appendix A: a NAT-PMP gateway answers any version but 0 with its
 * "unsupported version" error). So one decoder takes whatever the port sends and says
 * which protocol it is; node/portmap.h is the client that uses it.
 *
 * Requests (client side only; no PCP options are ever written):
 *   PCP MAP (s11.1): the 24-byte request header (s7.1: version, opcode, lifetime, the
 *     client's IP address as 16 bytes, IPv4 as ::ffff:a.b.c.d, s5) and the 36-byte
 *     MAP body (96-bit nonce, protocol, internal port, suggested external port and
 *     address; no suggested address is the all-zeros address of the client's family).
 *     60 bytes. Lifetime 0 deletes the mapping (s15).
 *   PCP ANNOUNCE (s14.1): the header alone, lifetime 0. 24 bytes.
 *   NAT-PMP external address request (RFC 6886 s3.2): 2 bytes.
 *   NAT-PMP mapping request (s3.3): 12 bytes; lifetime 0 with suggested port 0
 *     deletes (s3.4).
 *
 * Answers (zt_pcp_parse), never requests:
 *   PCP (first byte not 0): 24..1100 bytes, a multiple of 4, the R bit set (s7, s8.3).
 *     Version 2: a MAP answer of at least 60 bytes carries the MAP body (a SUCCESS
 *     must); options follow and are walked and bounded (s7.3) but not kept: a client
 *     that sends none gets none it needs. Another version: the header only (that is
 *     all an UNSUPP_VERSION answer from a server of another version promises, s9).
 *   NAT-PMP (first byte 0): 8..16 bytes, the opcode's response bit (128) set; a
 *     SUCCESS carries its opcode's fields (external address: 12 bytes, mapping: 16).
 *     Error answers may be the 8-byte header alone (s3.5; what miniupnpd sends a PCP
 *     client).
 * Anything else is ZT_ETRUNC, ZT_ETOOBIG or ZT_EMALFORMED, and *ret is untouched.
 */
#ifndef ZT_CORE_PCP_H
#define ZT_CORE_PCP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

#define ZT_PCP_PORT 5351          /* the server's port, both protocols */
#define ZT_PCP_VERSION 2
#define ZT_NATPMP_VERSION 0
#define ZT_PCP_HDR_LEN 24
#define ZT_PCP_MAP_LEN 36         /* the MAP body */
#define ZT_PCP_MAP_MSG_LEN (ZT_PCP_HDR_LEN + ZT_PCP_MAP_LEN)
#define ZT_PCP_MAX_LEN 1100       /* RFC 6887 s7 */
#define ZT_PCP_NONCE_LEN 12
#define ZT_PCP_PROTO_UDP 17
#define ZT_PCP_PROTO_TCP 6
#define ZT_NATPMP_ADDR_REQ_LEN 2
#define ZT_NATPMP_MAP_REQ_LEN 12
#define ZT_NATPMP_HDR_LEN 8       /* version, opcode, result, epoch */
#define ZT_NATPMP_ADDR_LEN 12
#define ZT_NATPMP_MAP_LEN 16

enum zt_pcp_opcode {
	ZT_PCP_OP_ANNOUNCE = 0,
	ZT_PCP_OP_MAP = 1,
	ZT_PCP_OP_PEER = 2,
};

/* RFC 6887 s7.4. */
enum zt_pcp_result {
	ZT_PCP_SUCCESS = 0,
	ZT_PCP_UNSUPP_VERSION = 1,
	ZT_PCP_NOT_AUTHORIZED = 2,
	ZT_PCP_MALFORMED_REQUEST = 3,
	ZT_PCP_UNSUPP_OPCODE = 4,
	ZT_PCP_UNSUPP_OPTION = 5,
	ZT_PCP_MALFORMED_OPTION = 6,
	ZT_PCP_NETWORK_FAILURE = 7,
	ZT_PCP_NO_RESOURCES = 8,
	ZT_PCP_UNSUPP_PROTOCOL = 9,
	ZT_PCP_USER_EX_QUOTA = 10,
	ZT_PCP_CANNOT_PROVIDE_EXTERNAL = 11,
	ZT_PCP_ADDRESS_MISMATCH = 12,
	ZT_PCP_EXCESSIVE_REMOTE_PEERS = 13,
};

/* RFC 6886 s3.2, s3.3. */
enum zt_natpmp_opcode {
	ZT_NATPMP_OP_ADDR = 0,
	ZT_NATPMP_OP_MAP_UDP = 1,
	ZT_NATPMP_OP_MAP_TCP = 2,
};

/* RFC 6886 s3.5. */
enum zt_natpmp_result {
	ZT_NATPMP_SUCCESS = 0,
	ZT_NATPMP_UNSUPP_VERSION = 1,
	ZT_NATPMP_REFUSED = 2,          /* not authorized / refused */
	ZT_NATPMP_NETWORK_FAILURE = 3,
	ZT_NATPMP_NO_RESOURCES = 4,
	ZT_NATPMP_UNSUPP_OPCODE = 5,
};

/* A PCP MAP request. */
struct zt_pcp_map {
	uint32_t lifetime;               /* seconds; 0 deletes */
	struct zt_addr client;           /* our IP as the server sees it (port ignored) */
	uint8_t nonce[ZT_PCP_NONCE_LEN];
	uint8_t protocol;                /* ZT_PCP_PROTO_UDP, ... (not 0) */
	uint16_t internal_port;          /* not 0 (0 means every port) */
	uint16_t suggested_port;         /* 0: no preference */
	struct zt_addr suggested_ip;     /* family 0: no preference; else the client's */
};

/*
 * Writes a PCP MAP request (60 bytes). Returns its length, -ENOBUFS, or -EINVAL (the
 * client's family not IPv4/IPv6, a suggested address of another family, protocol or
 * internal port 0).
 */
int zt_pcp_write_map(const struct zt_pcp_map *m, uint8_t *buf, size_t cap);

/* Writes a PCP ANNOUNCE request (24 bytes). Returns 24, -ENOBUFS or -EINVAL. */
int zt_pcp_write_announce(const struct zt_addr *client, uint8_t *buf, size_t cap);

/* Writes a NAT-PMP external address request (2 bytes). Returns 2 or -ENOBUFS. */
int zt_natpmp_write_addr(uint8_t *buf, size_t cap);

/*
 * Writes a NAT-PMP mapping request (12 bytes) for opcode ZT_NATPMP_OP_MAP_UDP or _TCP.
 * Returns 12, -ENOBUFS, or -EINVAL (another opcode, internal port 0: with lifetime 0
 * that would delete every mapping of the host, s3.4).
 */
int zt_natpmp_write_map(uint8_t opcode, uint16_t internal_port, uint16_t suggested_port,
			uint32_t lifetime, uint8_t *buf, size_t cap);

/* One answer from port 5351. */
struct zt_pcp_answer {
	uint8_t version;        /* ZT_NATPMP_VERSION, ZT_PCP_VERSION, or another PCP version */
	uint8_t opcode;         /* the request's: PCP without the R bit, NAT-PMP minus 128 */
	uint16_t result;        /* enum zt_pcp_result or zt_natpmp_result, by version */
	uint32_t epoch;         /* seconds since the gateway's epoch began */
	uint32_t lifetime;      /* PCP: the header's (the mapping's, or how long an error
				   holds, s7.2); NAT-PMP: the mapping's; else 0 */
	bool has_body;          /* the opcode's fields below are present */
	uint8_t nonce[ZT_PCP_NONCE_LEN]; /* PCP MAP */
	uint8_t protocol;       /* MAP: PCP's field; NAT-PMP: from the opcode (17 or 6) */
	uint16_t internal_port; /* MAP, both */
	struct zt_addr external_ip; /* PCP MAP: assigned address; NAT-PMP address answer:
				       the gateway's; family 0 when absent; port 0 */
	uint16_t external_port; /* MAP, both: the assigned port */
	unsigned options;       /* PCP: options walked */
};

/* Parses one answer (see above). Returns 0 and fills *ret, or ZT_ETRUNC, ZT_ETOOBIG,
 * ZT_EMALFORMED (a request, bad length or option framing, a SUCCESS without its
 * fields). */
int zt_pcp_parse(struct zt_pcp_answer *ret, const uint8_t *buf, size_t len);

/*
 * Whether the gateway kept its state between two answers whose epochs are prev and
 * cur and which arrived client_delta seconds apart by our clock.
 * PCP (RFC 6887 s8.5): not when cur < prev - 1, nor when client_delta + 2 <
 * server_delta - server_delta/16 or server_delta + 2 < client_delta - client_delta/16
 * (server_delta = cur - prev).
 * NAT-PMP (RFC 6886 s3.6): not when cur is more than 2 s below prev + 7/8 of
 * client_delta.
 */
bool zt_pcp_epoch_valid(uint32_t prev, uint32_t cur, uint64_t client_delta);
bool zt_natpmp_epoch_valid(uint32_t prev, uint32_t cur, uint64_t client_delta);

/* The name of a result code ("SUCCESS", "NOT_AUTHORIZED", "REFUSED", ...) in the
 * numbering of version (NAT-PMP for 0, PCP otherwise); "?" when unknown. */
const char *zt_pcp_result_name(unsigned version, unsigned result);

#endif
