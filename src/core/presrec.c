#include "core/presrec.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include "core/err.h"
#include "core/wire.h"

static const uint8_t MAGIC[4] = { 'Z', 'T', 'P', 'R' };
#define VERSION 1

static bool name_ok(const char *s, size_t len, size_t max)
{
	if (len == 0 || len > max)
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

static bool fields_ok(const struct zt_presrec *r)
{
	if (r->role != ZT_PRESREC_AGENT && r->role != ZT_PRESREC_CONNECTOR &&
	    r->role != ZT_PRESREC_INTERMEDIATE)
		return false;
	/* an Intermediate's own record: where its links are taken */
	if (r->role == ZT_PRESREC_INTERMEDIATE && strcmp(r->name, r->imd))
		return false;
	if (!name_ok(r->name, strnlen(r->name, sizeof(r->name)), ZT_PRESREC_NAME_MAX) ||
	    !name_ok(r->imd, strnlen(r->imd, sizeof(r->imd)), ZT_PRESREC_IMD_MAX))
		return false;
	if (r->naddrs > ZT_PRESREC_ADDRS_MAX)
		return false;
	for (size_t i = 0; i < r->naddrs; i++)
		if ((r->addrs[i].family != AF_INET && r->addrs[i].family != AF_INET6) ||
		    r->addrs[i].port == 0)
			return false;
	return r->expires_ms > r->issued_ms &&
	       r->expires_ms - r->issued_ms <= ZT_PRESREC_TTL_MAX_MS;
}

static int mac(const uint8_t *key, size_t key_len, const uint8_t *buf, size_t len, uint8_t *out)
{
	if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, key_len, buf, len, out) < 0)
		return ZT_ETLS;
	return 0;
}

int zt_presrec_encode(uint8_t *buf, size_t cap, const struct zt_presrec *r, const uint8_t *key,
		      size_t key_len)
{
	struct zt_wr w = zt_wr_init(buf, cap);
	size_t nl, il;
	uint8_t *m;
	int n;

	if (key_len < ZT_PRESREC_KEY_MIN)
		return -EINVAL;
	if (!fields_ok(r))
		return ZT_EMALFORMED;
	nl = strlen(r->name);
	il = strlen(r->imd);
	zt_wr_bytes(&w, MAGIC, sizeof(MAGIC));
	zt_wr_u8(&w, VERSION);
	zt_wr_u8(&w, r->role);
	zt_wr_u8(&w, (uint8_t)nl);
	zt_wr_bytes(&w, r->name, nl);
	zt_wr_u8(&w, (uint8_t)il);
	zt_wr_bytes(&w, r->imd, il);
	zt_wr_u8(&w, (uint8_t)r->naddrs);
	for (size_t i = 0; i < r->naddrs; i++) {
		bool v4 = r->addrs[i].family == AF_INET;
		zt_wr_u8(&w, v4 ? 4 : 6);
		zt_wr_bytes(&w, r->addrs[i].ip, v4 ? 4 : 16);
		zt_wr_u16(&w, r->addrs[i].port);
	}
	zt_wr_u64(&w, r->seq);
	zt_wr_u64(&w, r->issued_ms);
	zt_wr_u64(&w, r->expires_ms);
	m = zt_wr_reserve(&w, ZT_PRESREC_MAC_LEN);
	n = zt_wr_finish(&w);
	if (n < 0)
		return n;
	return mac(key, key_len, buf, (size_t)n - ZT_PRESREC_MAC_LEN, m) ?: n;
}

/* A length-prefixed name into dst (NUL-terminated). */
static int rd_name(struct zt_rd *rd, char *dst, size_t max)
{
	const uint8_t *p;
	uint8_t n;
	int rc;

	if ((rc = zt_rd_u8(rd, &n)) < 0 || (rc = zt_rd_ptr(rd, n, &p)) < 0)
		return rc;
	if (!name_ok((const char *)p, n, max))
		return ZT_EMALFORMED;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return 0;
}

static int rd_addr(struct zt_rd *rd, struct zt_addr *a)
{
	uint8_t fam;
	int rc;

	*a = (struct zt_addr){ 0 };
	if ((rc = zt_rd_u8(rd, &fam)) < 0)
		return rc;
	if (fam != 4 && fam != 6)
		return ZT_EMALFORMED;
	a->family = fam == 4 ? AF_INET : AF_INET6;
	if ((rc = zt_rd_copy(rd, a->ip, fam == 4 ? 4 : 16)) < 0 || (rc = zt_rd_u16(rd, &a->port)) < 0)
		return rc;
	return a->port ? 0 : ZT_EMALFORMED;
}

static uint64_t be64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* The fields, up to the mac (not checked here). */
static int rd_fields(struct zt_rd *rd, struct zt_presrec *r)
{
	uint8_t magic[4], ver, n;
	const uint8_t *t;
	int rc;

	if ((rc = zt_rd_copy(rd, magic, 4)) < 0 || (rc = zt_rd_u8(rd, &ver)) < 0)
		return rc;
	if (memcmp(magic, MAGIC, 4) || ver != VERSION)
		return ZT_EMALFORMED;
	if ((rc = zt_rd_u8(rd, &r->role)) < 0 || (rc = rd_name(rd, r->name, ZT_PRESREC_NAME_MAX)) < 0 ||
	    (rc = rd_name(rd, r->imd, ZT_PRESREC_IMD_MAX)) < 0 || (rc = zt_rd_u8(rd, &n)) < 0)
		return rc;
	if (n > ZT_PRESREC_ADDRS_MAX)
		return ZT_EMALFORMED;
	r->naddrs = n;
	for (size_t i = 0; i < n; i++)
		if ((rc = rd_addr(rd, &r->addrs[i])) < 0)
			return rc;
	if ((rc = zt_rd_ptr(rd, 24, &t)) < 0)
		return rc;
	r->seq = be64(t);
	r->issued_ms = be64(t + 8);
	r->expires_ms = be64(t + 16);
	return fields_ok(r) ? 0 : ZT_EMALFORMED;
}

static bool same_mac(const uint8_t *a, const uint8_t *b)
{
	uint8_t d = 0;

	for (size_t i = 0; i < ZT_PRESREC_MAC_LEN; i++)
		d |= (uint8_t)(a[i] ^ b[i]);
	return d == 0;
}

int zt_presrec_decode(const uint8_t *buf, size_t len, const uint8_t *key, size_t key_len,
		      uint64_t now_ms, const char *want_name, struct zt_presrec *ret)
{
	struct zt_rd rd = zt_rd_init(buf, len);
	struct zt_presrec r = { 0 };
	uint8_t want[ZT_PRESREC_MAC_LEN];
	const uint8_t *got;
	size_t body;
	int rc;

	if (key_len < ZT_PRESREC_KEY_MIN)
		return -EINVAL;
	if ((rc = rd_fields(&rd, &r)) < 0)
		return rc;
	body = rd.off;
	if ((rc = zt_rd_ptr(&rd, ZT_PRESREC_MAC_LEN, &got)) < 0)
		return rc;
	if (zt_rd_left(&rd))
		return ZT_EMALFORMED;
	if ((rc = mac(key, key_len, buf, body, want)) < 0)
		return rc;
	if (!same_mac(want, got))
		return ZT_EAUTH;
	if (want_name && strcmp(want_name, r.name))
		return ZT_EPOLICY;
	if (now_ms >= r.expires_ms)
		return ZT_ETIMEOUT;
	if (r.issued_ms > now_ms + ZT_PRESREC_SKEW_MS)
		return ZT_ERANGE;
	*ret = r;
	return 0;
}

static const char *role_word(uint8_t role)
{
	return role == ZT_PRESREC_AGENT          ? "agent"
	       : role == ZT_PRESREC_CONNECTOR    ? "connector"
	       : role == ZT_PRESREC_INTERMEDIATE ? "intermediate"
						 : NULL;
}

int zt_presrec_key(char *buf, size_t cap, uint8_t role, const char *name)
{
	const char *w = role_word(role);
	size_t nl = strnlen(name, ZT_PRESREC_NAME_MAX + 1);
	int n;

	if (!w || !name_ok(name, nl, ZT_PRESREC_NAME_MAX))
		return ZT_EMALFORMED;
	n = snprintf(buf, cap, "%s.%s", w, name);
	return n < 0 || (size_t)n >= cap ? -ENOBUFS : n;
}

int zt_presrec_key_parse(const char *key, uint8_t *role, char name[ZT_PRESREC_NAME_MAX + 1])
{
	const char *dot = strchr(key, '.');
	size_t wl, nl;

	if (!dot)
		return ZT_EMALFORMED;
	wl = (size_t)(dot - key);
	nl = strnlen(dot + 1, ZT_PRESREC_NAME_MAX + 1);
	if (!name_ok(dot + 1, nl, ZT_PRESREC_NAME_MAX))
		return ZT_EMALFORMED;
	if (wl == 5 && !memcmp(key, "agent", 5))
		*role = ZT_PRESREC_AGENT;
	else if (wl == 9 && !memcmp(key, "connector", 9))
		*role = ZT_PRESREC_CONNECTOR;
	else if (wl == 12 && !memcmp(key, "intermediate", 12))
		*role = ZT_PRESREC_INTERMEDIATE;
	else
		return ZT_EMALFORMED;
	memcpy(name, dot + 1, nl);
	name[nl] = '\0';
	return 0;
}

uint64_t zt_presrec_hash(uint64_t seed, uint8_t role, const char *name)
{
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;

	h = (h ^ role) * 0x100000001b3ULL;
	for (const char *p = name; *p; p++)
		h = (h ^ (uint8_t)*p) * 0x100000001b3ULL;
	h ^= h >> 31;
	h *= 0xbf58476d1ce4e5b9ULL;
	return h ^ (h >> 29);
}
