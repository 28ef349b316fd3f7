/*
 * Control messages between agent/connector and the Intermediate, carried on a QUIC
 * stream of the outer connection. The wire format is specified in
 * docs/control-protocol.md; in short:
 *
 *   message = version (u8, 1) | type (u8) | body length (u16) | body
 *   body    = field*,  field = field type (u16) | value length (u16) | value
 *
 * big-endian, at most ZT_CTRL_MSG_MAX bytes per message including the header.
 * Unknown field types are skipped unless their high bit (ZT_CTRL_MUST_UNDERSTAND) is
 * set; unknown message types are reported as ZT_ECTRL_TYPE so the caller can ignore the
 * message or answer with ERROR. Optional fields that are absent decode as zero / empty,
 * and the encoder omits optional fields whose value is zero / empty.
 *
 * The decoder does not allocate: every string, list and byte field has a fixed
 * capacity below, and input beyond it is an error.
 */
#ifndef ZT_CORE_CTRL_H
#define ZT_CORE_CTRL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"
#include "core/cand.h"

#define ZT_CTRL_VERSION 1
#define ZT_CTRL_HDR_LEN 4
/* Largest message, header included. */
#define ZT_CTRL_MSG_MAX 16384
/* Largest string (identity, service, software, text, ufrag, pwd), in bytes, no NUL. */
#define ZT_CTRL_STR_MAX 255
/* Largest credential token, in bytes. */
#define ZT_CTRL_TOKEN_MAX 512
/* Most services in one HELLO or REGISTER. */
#define ZT_CTRL_SERVICES_MAX 32
/* Most routed services in one HELLO or REGISTER (a connector's --route), and in one
 * ROUTES message (what an agent may reach). */
#define ZT_CTRL_HELLO_ROUTES_MAX 16
#define ZT_CTRL_ROUTES_MAX 32
/* Most candidates in one CANDIDATES message (more: ZT_ECAND_LIMIT). */
#define ZT_CTRL_CANDS_MAX 32
/* Field types with this bit set must be understood: an unknown one fails the message. */
#define ZT_CTRL_MUST_UNDERSTAND 0x8000

enum zt_ctrl_type {
	ZT_CTRL_HELLO = 1,            /* client -> Intermediate */
	ZT_CTRL_WELCOME = 2,          /* Intermediate -> client */
	ZT_CTRL_REGISTER = 3,         /* connector -> Intermediate */
	ZT_CTRL_OPEN = 4,             /* agent -> Intermediate */
	ZT_CTRL_SESSION = 5,          /* Intermediate -> agent and connector */
	ZT_CTRL_CLOSE = 6,            /* either way */
	ZT_CTRL_OBSERVED_ADDRESS = 7, /* Intermediate -> client */
	ZT_CTRL_CANDIDATES = 8,       /* client -> Intermediate -> peer */
	ZT_CTRL_START_CHECKS = 9,     /* Intermediate -> agent and connector */
	ZT_CTRL_PATH_REPORT = 10,     /* client -> Intermediate */
	ZT_CTRL_ERROR = 11,           /* either way */
	ZT_CTRL_PING = 12,            /* either way */
	ZT_CTRL_PONG = 13,            /* answer to PING */
	ZT_CTRL_ROUTES = 14,          /* Intermediate -> agent: the routes it may use */
};

/*
 * Field types (docs/control-protocol.md lists which message carries which). A field
 * type that a message does not define is unknown in that message.
 */
enum zt_ctrl_field {
	ZT_CTRL_F_ROLE = 0x0001,            /* u8 */
	ZT_CTRL_F_IDENTITY = 0x0002,        /* string */
	ZT_CTRL_F_TOKEN = 0x0003,           /* bytes */
	ZT_CTRL_F_SOFTWARE = 0x0004,        /* string */
	ZT_CTRL_F_SERVICE = 0x0005,         /* string; repeated in HELLO and REGISTER */
	ZT_CTRL_F_CLIENT_ID = 0x0006,       /* u64 */
	ZT_CTRL_F_ADDRESS = 0x0007,         /* address */
	ZT_CTRL_F_TIME = 0x0008,            /* u64, the sender's clock in ns */
	ZT_CTRL_F_REQUEST_ID = 0x0009,      /* u64 */
	ZT_CTRL_F_SESSION_ID = 0x000a,      /* u64 */
	ZT_CTRL_F_PEER_IDENTITY = 0x000b,   /* string */
	ZT_CTRL_F_QUOTA_BYTES = 0x000c,     /* u64 */
	ZT_CTRL_F_QUOTA_PACKETS = 0x000d,   /* u64 */
	ZT_CTRL_F_ICE_ROLE = 0x000e,        /* u8 */
	ZT_CTRL_F_REASON = 0x000f,          /* u32 */
	ZT_CTRL_F_TEXT = 0x0010,            /* string */
	ZT_CTRL_F_UFRAG = 0x0011,           /* string */
	ZT_CTRL_F_PWD = 0x0012,             /* string */
	ZT_CTRL_F_CANDIDATE = 0x0013,       /* nested candidate fields; repeated */
	ZT_CTRL_F_END_OF_CANDIDATES = 0x0014, /* empty */
	ZT_CTRL_F_GENERATION = 0x0015,      /* u32 */
	ZT_CTRL_F_SEQ = 0x0016,             /* u32 */
	ZT_CTRL_F_START_OFFSET = 0x0017,    /* u64, ns */
	ZT_CTRL_F_PATH = 0x0018,            /* u8 */
	ZT_CTRL_F_LOCAL_ADDR = 0x0019,      /* address */
	ZT_CTRL_F_REMOTE_ADDR = 0x001a,     /* address */
	ZT_CTRL_F_RTT_US = 0x001b,          /* u32 */
	ZT_CTRL_F_TIME_TO_DIRECT_MS = 0x001c, /* u32 */
	ZT_CTRL_F_PATH_SWITCHES = 0x001d,   /* u32 */
	ZT_CTRL_F_CODE = 0x001e,            /* u32 */
	ZT_CTRL_F_NONCE = 0x001f,           /* u64 */
	ZT_CTRL_F_TIMESTAMP = 0x0020,       /* u64, ns */
	ZT_CTRL_F_TUN_ADDR4 = 0x0021,       /* address (port 0): an agent's IPv4 tunnel address */
	ZT_CTRL_F_TUN_ADDR6 = 0x0022,       /* address (port 0): ... IPv6 */
	ZT_CTRL_F_ROUTE = 0x0023,           /* string, a route (core/route.h); repeated */
	ZT_CTRL_F_TUN_POOL4 = 0x0024,       /* string, "ADDRESS/LENGTH": the agents' IPv4 pool */
	ZT_CTRL_F_TUN_POOL6 = 0x0025,       /* string: ... IPv6 pool */
	ZT_CTRL_F_NAT_MAPPING = 0x0026,     /* u8, enum zt_ctrl_nat_mapping */
	ZT_CTRL_F_NAT_PORTS = 0x0027,       /* u8, enum zt_ctrl_nat_ports */
	ZT_CTRL_F_STUN_PORT = 0x0028,       /* u16: the Intermediate's second port, STUN only */
	ZT_CTRL_F_RELAY_CHANNEL = 0x0029,   /* empty: the relay channel (docs/relay-channel.md) */
	ZT_CTRL_F_AGENT = 0x002a,           /* string: the agent an Intermediate's OPEN is for */
};

/* What a client says of its NAT in CANDIDATES (from its configuration, as `ztna
 * discover` measures it: RFC 4787 mapping behaviour and port allocation); 0 unknown.
 * They decide who sprays and who probes (docs/hard-nat.md, birthday probing). */
enum zt_ctrl_nat_mapping {
	ZT_CTRL_NAT_MAP_INDEPENDENT = 1,
	ZT_CTRL_NAT_MAP_ADDRESS = 2,
	ZT_CTRL_NAT_MAP_ADDRESS_PORT = 3,
};

enum zt_ctrl_nat_ports {
	ZT_CTRL_NAT_PORTS_PRESERVE = 1,
	ZT_CTRL_NAT_PORTS_SEQUENTIAL = 2,
	ZT_CTRL_NAT_PORTS_RANDOM = 3,
};

/* Field types inside a CANDIDATE value. */
enum zt_ctrl_cand_field {
	ZT_CTRL_C_TYPE = 0x0001,            /* u8, enum zt_cand_type */
	ZT_CTRL_C_COMPONENT = 0x0002,       /* u16 */
	ZT_CTRL_C_PRIORITY = 0x0003,        /* u32 */
	ZT_CTRL_C_FOUNDATION = 0x0004,      /* string, 1..32 ice-chars */
	ZT_CTRL_C_ADDR = 0x0005,            /* address */
	ZT_CTRL_C_RELATED = 0x0006,         /* address */
	ZT_CTRL_C_TRANSPORT = 0x0007,       /* u8, enum zt_cand_transport; absent: UDP */
	ZT_CTRL_C_PREDICTED = 0x0008,       /* u8, 1..ZT_CAND_PREDICTED_MAX; absent: not predicted */
};

/* Who a client is (HELLO). */
enum zt_ctrl_role {
	ZT_CTRL_ROLE_AGENT = 1,
	ZT_CTRL_ROLE_CONNECTOR = 2,
	/* another Intermediate of the deployment, on a link that carries its agents'
	 * sessions with our connectors (docs/scale-out.md) */
	ZT_CTRL_ROLE_INTERMEDIATE = 3,
};

/* A side's ICE role in a session (SESSION); the agent is controlling. */
enum zt_ctrl_ice_role {
	ZT_CTRL_ICE_CONTROLLING = 1,
	ZT_CTRL_ICE_CONTROLLED = 2,
};

/* The path an end-to-end session uses (PATH_REPORT). */
enum zt_ctrl_path {
	ZT_CTRL_PATH_DIRECT = 1,
	ZT_CTRL_PATH_RELAY = 2,
};

/*
 * Per-type bodies. "required" fields must be present on the wire; every other field
 * is optional and zero / "" / family 0 / count 0 means absent. Strings are
 * NUL-terminated, at most ZT_CTRL_STR_MAX bytes, and never contain a NUL byte.
 */
struct zt_ctrl_hello {
	uint8_t role;                   /* required: enum zt_ctrl_role */
	char identity[ZT_CTRL_STR_MAX + 1]; /* required: who the client claims to be */
	uint8_t token[ZT_CTRL_TOKEN_MAX];   /* the credential */
	uint16_t token_len;
	char software[ZT_CTRL_STR_MAX + 1]; /* e.g. "ztna 0.1" */
	uint8_t n_services;             /* connector: the services it fronts */
	char services[ZT_CTRL_SERVICES_MAX][ZT_CTRL_STR_MAX + 1];
	uint8_t n_routes;               /* connector: its routed services (the name of each
					   is one of its services) */
	char routes[ZT_CTRL_HELLO_ROUTES_MAX][ZT_CTRL_STR_MAX + 1];
	uint64_t move_from;             /* CLIENT_ID: the login of ours this connection takes
					   over, sessions and all (0: a new login) */
	bool relay_channel;             /* RELAY_CHANNEL: the client takes and sends relay
					   channel data (node/relay.h) on this connection */
};

struct zt_ctrl_welcome {
	uint64_t client_id;             /* required: the Intermediate's name for this client */
	struct zt_addr observed;        /* required: the client's address as the Intermediate sees it */
	uint64_t server_time;           /* the Intermediate's clock (ns) when it sent this */
	char software[ZT_CTRL_STR_MAX + 1];
	struct zt_addr tun4, tun6;      /* agent: its tunnel addresses (family 0: none) */
	char tun_pool4[ZT_CTRL_STR_MAX + 1]; /* connector: the pools agents' tunnel addresses */
	char tun_pool6[ZT_CTRL_STR_MAX + 1]; /* come from ("" none), routed into its tunnel */
	uint16_t stun_port;             /* a second UDP port of the Intermediate's address
					   answering STUN Binding requests, for the client's
					   NAT detection (core/natprobe.h); 0: none */
	bool relay_channel;             /* RELAY_CHANNEL: the client asked, and the relay
					   channel is on for this login */
};

struct zt_ctrl_register {
	uint8_t n_services;             /* replaces the services named so far */
	char services[ZT_CTRL_SERVICES_MAX][ZT_CTRL_STR_MAX + 1];
	uint8_t n_routes;               /* replaces the routes named so far */
	char routes[ZT_CTRL_HELLO_ROUTES_MAX][ZT_CTRL_STR_MAX + 1];
};

/* The whole list of routes an agent may use now (sent after WELCOME and whenever it
 * changes; an empty list is valid). */
struct zt_ctrl_routes {
	uint8_t n_routes;
	char routes[ZT_CTRL_ROUTES_MAX][ZT_CTRL_STR_MAX + 1];
};

struct zt_ctrl_open {
	uint64_t request_id;            /* required: chosen by the agent, echoed in SESSION/ERROR */
	char service[ZT_CTRL_STR_MAX + 1]; /* required */
	uint64_t resume_session;        /* optional (SESSION_ID): re-attach this session, which
					   both ends kept on a direct path while the
					   Intermediate was gone */
	char agent[ZT_CTRL_STR_MAX + 1]; /* AGENT, from another Intermediate only: the
					   identity of its agent the session is for */
};

struct zt_ctrl_session {
	uint64_t session_id;            /* required, nonzero by convention */
	uint64_t request_id;            /* the agent's OPEN; absent for the connector */
	char service[ZT_CTRL_STR_MAX + 1];       /* required */
	char peer_identity[ZT_CTRL_STR_MAX + 1]; /* required: the other end */
	uint64_t quota_bytes;           /* required: relay budget for this session */
	uint64_t quota_packets;         /* required */
	uint8_t ice_role;               /* required: enum zt_ctrl_ice_role of the receiver */
	struct zt_addr tun4, tun6;      /* connector: the agent's tunnel addresses */
};

struct zt_ctrl_close {
	uint64_t session_id;            /* required */
	uint32_t reason;                /* required: 0 normal, else an error code as in ERROR */
	char text[ZT_CTRL_STR_MAX + 1];
};

struct zt_ctrl_observed {
	struct zt_addr addr;            /* required */
};

struct zt_ctrl_candidates {
	uint64_t session_id;            /* required */
	char ufrag[ZT_CTRL_STR_MAX + 1]; /* required: the sender's ICE username fragment */
	char pwd[ZT_CTRL_STR_MAX + 1];   /* required: the sender's ICE password */
	uint32_t generation;            /* bumped on every ICE restart (re-gather) */
	uint32_t seq;                   /* per generation, 0 for the offer/answer, +1 per trickle */
	bool end_of_candidates;         /* no more candidates in this generation */
	uint8_t n_cands;                /* 0 is valid (a bare end-of-candidates) */
	struct zt_cand cands[ZT_CTRL_CANDS_MAX];
	uint8_t nat_mapping;            /* enum zt_ctrl_nat_mapping, 0: unknown */
	uint8_t nat_ports;              /* enum zt_ctrl_nat_ports, 0: unknown */
	/* ADDRESS: the sender's address as the Intermediate sees it, set by the
	 * Intermediate as it forwards (what the sender put there is replaced) */
	struct zt_addr observed;
};

struct zt_ctrl_start_checks {
	uint64_t session_id;            /* required */
	uint64_t start_offset;          /* required: ns from receipt until checks start */
	uint32_t generation;            /* the candidate generation the checks use */
};

struct zt_ctrl_path_report {
	uint64_t session_id;            /* required */
	uint8_t path;                   /* required: enum zt_ctrl_path */
	struct zt_addr local;
	struct zt_addr remote;
	uint32_t rtt_us;
	uint32_t time_to_direct_ms;
	uint32_t path_switches;
	char text[ZT_CTRL_STR_MAX + 1]; /* why the path was chosen */
};

/*
 * code is a positive error number: for a ZT_E* or -errno return value rc, code = -rc
 * (so 1500 is ZT_EAUTH, 1502 ZT_ENOSERVICE, 110 ETIMEDOUT); zt_strerror(-code) names it.
 */
struct zt_ctrl_error {
	uint32_t code;                  /* required */
	char text[ZT_CTRL_STR_MAX + 1];
	uint64_t session_id;            /* the session concerned, if any */
	uint64_t request_id;            /* the request (OPEN) concerned, if any */
};

/* PING and PONG. A PONG echoes the PING's nonce and timestamp. */
struct zt_ctrl_ping {
	uint64_t nonce;                 /* required */
	uint64_t timestamp;             /* required: the PING sender's clock (ns) */
	uint64_t peer_time;             /* PONG only: the responder's clock (ns) */
};

struct zt_ctrl_msg {
	uint8_t type;                   /* enum zt_ctrl_type */
	union {
		struct zt_ctrl_hello hello;
		struct zt_ctrl_welcome welcome;
		struct zt_ctrl_register reg;
		struct zt_ctrl_open open;
		struct zt_ctrl_session session;
		struct zt_ctrl_close close;
		struct zt_ctrl_observed observed;
		struct zt_ctrl_candidates cands;
		struct zt_ctrl_start_checks start;
		struct zt_ctrl_path_report path;
		struct zt_ctrl_error error;
		struct zt_ctrl_ping ping;  /* PING and PONG */
		struct zt_ctrl_routes routes;
	} u;
};

/* Zeroes *msg and sets its type. */
void zt_ctrl_msg_init(struct zt_ctrl_msg *msg, enum zt_ctrl_type type);

/* "HELLO", "CANDIDATES", ... or "?" for an unknown type. */
const char *zt_ctrl_type_name(unsigned type);

/*
 * Encodes msg into buf. Returns the number of bytes written (header included), or
 * -ENOBUFS (cap too small; ZT_CTRL_MSG_MAX always suffices), -EINVAL (unknown type,
 * a string not NUL-terminated within its array, a count or length above its capacity,
 * an out-of-range value, an invalid candidate, an address family other than 0 (absent,
 * for optional addresses), AF_INET or AF_INET6). Within the capacities every message
 * fits in ZT_CTRL_MSG_MAX (checked at compile time).
 */
int zt_ctrl_encode(const struct zt_ctrl_msg *msg, uint8_t *buf, size_t cap);

/*
 * Looks at the start of a byte stream. When the first ZT_CTRL_HDR_LEN bytes are there,
 * returns the total length of the first message (header included; it may not all be
 * in buf yet) and stores its type in *ret_type (may be NULL). Returns ZT_ETRUNC when
 * fewer than ZT_CTRL_HDR_LEN bytes are there, ZT_ECTRL_VERSION for another version,
 * ZT_ETOOBIG when the message would exceed ZT_CTRL_MSG_MAX.
 */
int zt_ctrl_frame_len(const uint8_t *buf, size_t len, uint8_t *ret_type);

/*
 * Decodes one complete message that occupies exactly buf[0..len). Returns 0, or:
 *   ZT_EZEROLEN        len is 0
 *   ZT_ETRUNC          buf ends before the header or body length says, or a field's
 *                      length runs past the body
 *   ZT_EMALFORMED      bytes after the message's end
 *   ZT_ECTRL_VERSION   version is not ZT_CTRL_VERSION
 *   ZT_ETOOBIG         the length exceeds ZT_CTRL_MSG_MAX
 *   ZT_ECTRL_LIMIT     a string, the token or the list of services exceeds its capacity
 *   ZT_ECTRL_TYPE      unknown message type (the message is well framed: skip it or
 *                      answer with ERROR)
 *   ZT_ECTRL_UNKNOWN_FIELD  a field with ZT_CTRL_MUST_UNDERSTAND set that this message
 *                      type does not define
 *   ZT_ECTRL_FIELD     a required field is missing, or a field has the wrong length for
 *                      its type (e.g. an address that is neither 6 nor 18 bytes), or a
 *                      string contains a NUL byte
 *   ZT_ECTRL_DUP       a single-valued field appears twice
 *   ZT_ERANGE          an enumerated or bounded value is out of range
 *   ZT_ECAND_LIMIT     more than ZT_CTRL_CANDS_MAX candidates
 *   ZT_ECAND_*, ZT_ESYNTAX, ZT_ERANGE, ZT_EMALFORMED  a candidate fails zt_cand_check()
 * On failure *msg is clobbered, except that msg->type holds the header's type whenever
 * the header could be read (0 otherwise), so an ERROR answer can name it.
 */
int zt_ctrl_decode(struct zt_ctrl_msg *msg, const uint8_t *buf, size_t len);

/*
 * Incremental reader for a byte stream of messages. Feed it whatever the stream gives
 * (any split), pop complete messages. It buffers at most one maximum-size message.
 */
struct zt_ctrl_reader {
	size_t len;        /* bytes buffered */
	int poison;        /* 0, or the framing error that stopped the stream */
	uint8_t buf[ZT_CTRL_MSG_MAX];
};

void zt_ctrl_reader_init(struct zt_ctrl_reader *r);

/*
 * Appends up to len bytes from data. Returns the number of bytes taken, which is less
 * than len when the buffer is full of unpopped data: pop, then feed the rest. Returns
 * the poison error once the stream has a framing error.
 */
int zt_ctrl_reader_feed(struct zt_ctrl_reader *r, const uint8_t *data, size_t len);

/*
 * Takes the next complete message off the buffer and decodes it into *msg.
 * Returns 1 (a message in *msg), 0 (need more bytes), or a negative error:
 *  - framing errors ZT_ETOOBIG (a length prefix above ZT_CTRL_MSG_MAX) and
 *    ZT_ECTRL_VERSION poison the reader: it returns the same error from then on and
 *    the caller closes the stream;
 *  - any other zt_ctrl_decode() error concerns that message only: it has been
 *    consumed, msg->type says which type it had, and the caller may continue
 *    (ZT_ECTRL_TYPE: an unknown type, typically ignored) or answer ERROR and close.
 */
int zt_ctrl_reader_pop(struct zt_ctrl_reader *r, struct zt_ctrl_msg *msg);

/* True once the reader has seen a framing error. */
bool zt_ctrl_reader_poisoned(const struct zt_ctrl_reader *r);

#endif
