/*
 * Error codes.
 *
 * Every function returns int: 0 or a non-negative count on success, a negative value
 * on failure. System-style failures are -errno (-EINVAL, -ENOMEM, -ENOBUFS, -EAGAIN).
 * Protocol failures (bad input from the wire or a config file) use the range below,
 * grouped by module so a code says where it came from. zt_strerror() names both kinds.
 *
 * Conventions:
 *   -ENOBUFS   the caller's output buffer is too small
 *   -EINVAL    the caller broke a function's contract (a bug, not bad input)
 *   -ENOMEM    allocation failed
 *   ZT_E*      the input (wire bytes, text) is bad; the caller drops it or answers it
 */
#ifndef ZT_CORE_ERR_H
#define ZT_CORE_ERR_H

enum zt_err {
	/* Generic wire/parse errors: -1000.. */
	ZT_ETRUNC = -1000,        /* input ends before a length it declares */
	ZT_EMALFORMED = -1001,    /* structurally invalid input */
	ZT_ETOOBIG = -1002,       /* input exceeds a documented size limit */
	ZT_EZEROLEN = -1003,      /* empty input where content is required */
	ZT_ESYNTAX = -1004,       /* text that does not follow its grammar */
	ZT_ERANGE = -1005,        /* a number out of its allowed range */

	/* STUN (RFC 8489): -1100.. */
	ZT_ESTUN_NOTSTUN = -1100,   /* first two bits not 00, or length not a multiple of 4 */
	ZT_ESTUN_COOKIE = -1101,    /* magic cookie is not 0x2112A442 */
	ZT_ESTUN_ATTRLEN = -1102,   /* an attribute's length is wrong for its type */
	ZT_ESTUN_INTEGRITY = -1103, /* MESSAGE-INTEGRITY(-SHA256) does not verify */
	ZT_ESTUN_FINGERPRINT = -1104, /* FINGERPRINT does not match the CRC */
	ZT_ESTUN_UNKNOWN_REQ = -1105, /* unknown comprehension-required attribute (answer 420) */
	ZT_ESTUN_NOINTEGRITY = -1106, /* credentials required but no MESSAGE-INTEGRITY present */
	ZT_ESTUN_USERNAME = -1107,  /* USERNAME missing or not the expected one */
	ZT_ESTUN_ORDER = -1108,     /* attribute after MESSAGE-INTEGRITY/FINGERPRINT that may not follow */
	ZT_ESTUN_FAMILY = -1109,    /* address family neither IPv4 nor IPv6 */
	ZT_ESTUN_TOOMANY = -1110,   /* more attributes than the decoder keeps */

	/* Control messages: -1200.. */
	ZT_ECTRL_VERSION = -1200,   /* unsupported protocol version */
	ZT_ECTRL_TYPE = -1201,      /* unknown message type where one is required */
	ZT_ECTRL_FIELD = -1202,     /* missing required field, wrong field length or content */
	ZT_ECTRL_DUP = -1203,       /* a field that may appear once appears twice */
	ZT_ECTRL_UNKNOWN_FIELD = -1204, /* unknown field marked must-understand */
	ZT_ECTRL_LIMIT = -1205,     /* a string, token or list exceeds the decoder's capacity */

	/* Candidates (RFC 8445): -1300.. */
	ZT_ECAND_TYPE = -1300,      /* unknown candidate type */
	ZT_ECAND_TRANSPORT = -1301, /* transport other than UDP */
	ZT_ECAND_LIMIT = -1302,     /* more candidates than allowed */

	/* Configuration and scenario files: -1400.. */
	ZT_ECONF_KEY = -1400,       /* unknown key */
	ZT_ECONF_VALUE = -1401,     /* bad value for a known key */
	ZT_ECONF_MISSING = -1402,   /* required key absent */
	ZT_ECONF_REF = -1403,       /* reference to an undefined name */

	/* Sessions, authentication, policy: -1500.. */
	ZT_EAUTH = -1500,           /* bad credential */
	ZT_EPOLICY = -1501,         /* authenticated but not allowed */
	ZT_ENOSERVICE = -1502,      /* no such service registered */
	ZT_EQUOTA = -1503,          /* a quota was exceeded */
	ZT_ESTATE = -1504,          /* message not valid in the current state */
	ZT_ETLS = -1505,            /* TLS/QUIC handshake or crypto failure */
	ZT_ETIMEOUT = -1506,        /* a protocol timer expired */
	ZT_EPEER = -1507,           /* the peer reported an error or closed */
	ZT_EREPLACED = -1508,       /* a newer login of the same identity replaced this one */
	ZT_ENOTSERVER = -1509,      /* this connector may not serve that service (policy) */
	ZT_EBUSY = -1510,           /* a count or rate limit was reached: try again later */
	ZT_EMOVING = -1511,         /* a client closes to log in at another Intermediate */

	ZT_ERR_MIN = -1600,
};

/* A static, human-readable name for rc (negative); "success" for rc >= 0. */
const char *zt_strerror(int rc);

#endif
