#include <string.h>

#include "core/err.h"

struct zt_err_name {
	int code;
	const char *text;
};

static const struct zt_err_name err_names[] = {
	{ ZT_ETRUNC, "truncated input" },
	{ ZT_EMALFORMED, "malformed input" },
	{ ZT_ETOOBIG, "input exceeds size limit" },
	{ ZT_EZEROLEN, "empty input" },
	{ ZT_ESYNTAX, "syntax error" },
	{ ZT_ERANGE, "value out of range" },
	{ ZT_ESTUN_NOTSTUN, "not a STUN message" },
	{ ZT_ESTUN_COOKIE, "bad STUN magic cookie" },
	{ ZT_ESTUN_ATTRLEN, "STUN attribute has wrong length" },
	{ ZT_ESTUN_INTEGRITY, "STUN MESSAGE-INTEGRITY does not verify" },
	{ ZT_ESTUN_FINGERPRINT, "STUN FINGERPRINT mismatch" },
	{ ZT_ESTUN_UNKNOWN_REQ, "unknown comprehension-required STUN attribute" },
	{ ZT_ESTUN_NOINTEGRITY, "STUN MESSAGE-INTEGRITY missing" },
	{ ZT_ESTUN_USERNAME, "STUN USERNAME missing or wrong" },
	{ ZT_ESTUN_ORDER, "STUN attribute after MESSAGE-INTEGRITY or FINGERPRINT" },
	{ ZT_ESTUN_FAMILY, "STUN address family unknown" },
	{ ZT_ESTUN_TOOMANY, "too many STUN attributes" },
	{ ZT_ECTRL_VERSION, "unsupported control protocol version" },
	{ ZT_ECTRL_TYPE, "unknown control message type" },
	{ ZT_ECTRL_FIELD, "control message field missing or wrong length" },
	{ ZT_ECTRL_DUP, "duplicate control message field" },
	{ ZT_ECTRL_UNKNOWN_FIELD, "unknown must-understand control message field" },
	{ ZT_ECTRL_LIMIT, "control message field exceeds its capacity" },
	{ ZT_ECAND_TYPE, "unknown candidate type" },
	{ ZT_ECAND_TRANSPORT, "candidate transport not UDP" },
	{ ZT_ECAND_LIMIT, "too many candidates" },
	{ ZT_ECONF_KEY, "unknown configuration key" },
	{ ZT_ECONF_VALUE, "bad configuration value" },
	{ ZT_ECONF_MISSING, "required configuration key missing" },
	{ ZT_ECONF_REF, "reference to an undefined name" },
	{ ZT_EAUTH, "authentication failed" },
	{ ZT_EPOLICY, "refused by policy" },
	{ ZT_ENOSERVICE, "no such service" },
	{ ZT_EQUOTA, "quota exceeded" },
	{ ZT_ESTATE, "not valid in this state" },
	{ ZT_ETLS, "TLS or QUIC failure" },
	{ ZT_ETIMEOUT, "timed out" },
	{ ZT_EPEER, "peer error" },
	{ ZT_EREPLACED, "replaced by a newer login of the same identity" },
	{ ZT_ENOTSERVER, "not allowed to serve this service" },
	{ ZT_EBUSY, "limit reached, try again later" },
	{ ZT_EMOVING, "moving to another Intermediate" },
};

const char *zt_strerror(int rc)
{
	if (rc >= 0)
		return "success";
	if (rc > ZT_ERR_MIN && rc <= ZT_ETRUNC) {
		for (size_t i = 0; i < sizeof(err_names) / sizeof(err_names[0]); i++)
			if (err_names[i].code == rc)
				return err_names[i].text;
		return "unknown protocol error";
	}
	/* strerror() of glibc returns a static string for every errno value. */
	return strerror(-rc);
}
