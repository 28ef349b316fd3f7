#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/json.h"

#define MAX_TEXT (1u << 20)

struct parser {
	const char *s;
	size_t len, pos;
	struct zt_json_tok *tok;
	unsigned cap, n;
	unsigned depth;
};

static void skip_ws(struct parser *p)
{
	while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t' ||
				   p->s[p->pos] == '\n' || p->s[p->pos] == '\r'))
		p->pos++;
}

static int new_tok(struct parser *p, enum zt_json_type type, size_t off)
{
	if (p->n >= p->cap)
		return -ENOBUFS;
	p->tok[p->n] = (struct zt_json_tok){ .type = type, .off = (uint32_t)off };
	return (int)p->n++;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Four hex digits at s[0..3] (the caller checked they are there); -1 if not hex. */
static long hex4(const char *s)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		int h = hexval(s[i]);

		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* One well-formed UTF-8 sequence at s[0..n) (RFC 3629 s4); its length, or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
	size_t want;
	unsigned lo = 0x80, hi = 0xbf;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		want = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		want = 3;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		want = 4;
	else
		return 0;
	if (s[0] == 0xe0)
		lo = 0xa0;
	else if (s[0] == 0xed)
		hi = 0x9f;      /* no surrogates */
	else if (s[0] == 0xf0)
		lo = 0x90;
	else if (s[0] == 0xf4)
		hi = 0x8f;
	if (n < want || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < want; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return want;
}

/* An escape at s[pos] (after the backslash); its length, or 0 if malformed. */
static size_t escape_len(const char *s, size_t len, size_t pos)
{
	long u, lo;

	if (pos >= len)
		return 0;
	if (strchr("\"\\/bfnrt", s[pos]) && s[pos])
		return 1;
	if (s[pos] != 'u' || len - pos < 5 || (u = hex4(s + pos + 1)) < 0)
		return 0;
	if (u >= 0xdc00 && u <= 0xdfff)
		return 0;   /* a lone low surrogate */
	if (u < 0xd800 || u > 0xdbff)
		return 5;
	/* a high surrogate must be followed by \u and a low one */
	if (len - pos < 11 || s[pos + 5] != '\\' || s[pos + 6] != 'u')
		return 0;
	lo = hex4(s + pos + 7);
	return lo >= 0xdc00 && lo <= 0xdfff ? 11 : 0;
}

static int parse_string(struct parser *p)
{
	size_t start = ++p->pos, k;
	int t;

	while (p->pos < p->len) {
		unsigned char c = (unsigned char)p->s[p->pos];

		if (c == '"') {
			t = new_tok(p, ZT_JSON_STRING, start);
			if (t < 0)
				return t;
			p->tok[t].len = (uint32_t)(p->pos - start);
			p->tok[t].end = p->n;
			p->pos++;
			return t;
		}
		if (c < 0x20)
			return ZT_EMALFORMED;
		if (c == '\\')
			k = escape_len(p->s, p->len, p->pos + 1) + 1;
		else
			k = utf8_seq((const unsigned char *)p->s + p->pos, p->len - p->pos);
		if (k == 0 || (c == '\\' && k == 1))
			return ZT_EMALFORMED;
		p->pos += k;
	}
	return ZT_EMALFORMED;
}

static bool is_digit(const struct parser *p)
{
	return p->pos < p->len && p->s[p->pos] >= '0' && p->s[p->pos] <= '9';
}

static size_t digits(struct parser *p)
{
	size_t n = 0;

	while (is_digit(p)) {
		p->pos++;
		n++;
	}
	return n;
}

/* RFC 8259 s6: -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int parse_number(struct parser *p)
{
	size_t start = p->pos;
	int t;

	if (p->s[p->pos] == '-')
		p->pos++;
	if (!is_digit(p))
		return ZT_EMALFORMED;
	if (p->s[p->pos] == '0')
		p->pos++;
	else
		digits(p);
	if (p->pos < p->len && p->s[p->pos] == '.') {
		p->pos++;
		if (!digits(p))
			return ZT_EMALFORMED;
	}
	if (p->pos < p->len && (p->s[p->pos] == 'e' || p->s[p->pos] == 'E')) {
		p->pos++;
		if (p->pos < p->len && (p->s[p->pos] == '+' || p->s[p->pos] == '-'))
			p->pos++;
		if (!digits(p))
			return ZT_EMALFORMED;
	}
	t = new_tok(p, ZT_JSON_NUMBER, start);
	if (t < 0)
		return t;
	p->tok[t].len = (uint32_t)(p->pos - start);
	p->tok[t].end = p->n;
	return t;
}

static int parse_literal(struct parser *p)
{
	static const struct {
		const char *word;
		enum zt_json_type type;
	} lits[] = { { "null", ZT_JSON_NULL }, { "false", ZT_JSON_FALSE }, { "true", ZT_JSON_TRUE } };

	for (size_t i = 0; i < sizeof(lits) / sizeof(lits[0]); i++) {
		size_t n = strlen(lits[i].word);
		int t;

		if (p->len - p->pos < n || memcmp(p->s + p->pos, lits[i].word, n) != 0)
			continue;
		t = new_tok(p, lits[i].type, p->pos);
		if (t < 0)
			return t;
		p->pos += n;
		p->tok[t].len = (uint32_t)n;
		p->tok[t].end = p->n;
		return t;
	}
	return ZT_EMALFORMED;
}

static int parse_value(struct parser *p);

/* Is the key just parsed (token k) equal to an earlier key of the object at obj? */
static bool duplicate_key(const struct parser *p, unsigned obj, unsigned k)
{
	const struct zt_json_tok *key = &p->tok[k];

	for (unsigned i = obj + 1; i < k; i = p->tok[i + 1].end)
		if (p->tok[i].len == key->len &&
		    memcmp(p->s + p->tok[i].off, p->s + key->off, key->len) == 0)
			return true;
	return false;
}

/* An array or object, p->pos at its '[' or '{'. */
static int parse_container(struct parser *p, bool object)
{
	char close = object ? '}' : ']';
	int t, rc;

	if (++p->depth > ZT_JSON_MAX_DEPTH)
		return -E2BIG;
	t = new_tok(p, object ? ZT_JSON_OBJECT : ZT_JSON_ARRAY, p->pos);
	if (t < 0)
		return t;
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == close)
		goto out_close;
	for (;;) {
		if (object) {
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return ZT_EMALFORMED;
			rc = parse_string(p);
			if (rc < 0)
				return rc;
			if (duplicate_key(p, (unsigned)t, (unsigned)rc))
				return ZT_EMALFORMED;
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return ZT_EMALFORMED;
			p->pos++;
		}
		rc = parse_value(p);
		if (rc < 0)
			return rc;
		p->tok[t].n++;
		skip_ws(p);
		if (p->pos < p->len && p->s[p->pos] == ',') {
			p->pos++;
			skip_ws(p);
			continue;
		}
		if (p->pos < p->len && p->s[p->pos] == close)
			break;
		return ZT_EMALFORMED;
	}
out_close:
	p->pos++;
	p->depth--;
	p->tok[t].len = (uint32_t)(p->pos - p->tok[t].off);
	p->tok[t].end = p->n;
	return t;
}

static int parse_value(struct parser *p)
{
	skip_ws(p);
	if (p->pos >= p->len)
		return ZT_EMALFORMED;
	switch (p->s[p->pos]) {
	case '{':
		return parse_container(p, true);
	case '[':
		return parse_container(p, false);
	case '"':
		return parse_string(p);
	case '-':
	case '0' ... '9':
		return parse_number(p);
	default:
		return parse_literal(p);
	}
}

int zt_json_parse(const char *text, size_t len, struct zt_json_tok *tok, unsigned cap,
		  size_t *ret_off)
{
	struct parser p = { .s = text, .len = len, .tok = tok, .cap = cap };
	int rc;

	if (len > MAX_TEXT)
		return -E2BIG;
	rc = parse_value(&p);
	if (rc >= 0) {
		skip_ws(&p);
		if (p.pos < p.len)
			rc = ZT_EMALFORMED;
	}
	if (rc < 0) {
		if (ret_off)
			*ret_off = p.pos;
		return rc;
	}
	return (int)p.n;
}

int zt_json_get(const char *text, const struct zt_json_tok *tok, unsigned obj, const char *key)
{
	size_t n = strlen(key);

	if (tok[obj].type != ZT_JSON_OBJECT)
		return -EINVAL;
	for (unsigned i = obj + 1; i < tok[obj].end; i = tok[i + 1].end)
		if (tok[i].len == n && memcmp(text + tok[i].off, key, n) == 0)
			return (int)i + 1;
	return -ENOENT;
}

/* Code point u as UTF-8 into buf[*n...], if it fits below cap. */
static int put_utf8(char *buf, size_t cap, size_t *n, unsigned long u)
{
	unsigned char b[4];
	size_t k;

	if (u < 0x80) {
		b[0] = (unsigned char)u;
		k = 1;
	} else if (u < 0x800) {
		b[0] = (unsigned char)(0xc0 | u >> 6);
		b[1] = (unsigned char)(0x80 | (u & 0x3f));
		k = 2;
	} else if (u < 0x10000) {
		b[0] = (unsigned char)(0xe0 | u >> 12);
		b[1] = (unsigned char)(0x80 | ((u >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (u & 0x3f));
		k = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | u >> 18);
		b[1] = (unsigned char)(0x80 | ((u >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((u >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (u & 0x3f));
		k = 4;
	}
	if (*n + k >= cap)
		return -ENOBUFS;
	memcpy(buf + *n, b, k);
	*n += k;
	return 0;
}

/* The escape at s[0] (after the backslash, validated by the parser): its code point and
 * length. */
static unsigned long unescape(const char *s, size_t *ret_len)
{
	static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
	unsigned long u;

	if (s[0] != 'u') {
		*ret_len = 1;
		return (unsigned char)to[strchr(from, s[0]) - from];
	}
	u = (unsigned long)hex4(s + 1);
	*ret_len = 5;
	if (u >= 0xd800 && u <= 0xdbff) {
		u = 0x10000 + ((u - 0xd800) << 10) + ((unsigned long)hex4(s + 7) - 0xdc00);
		*ret_len = 11;
	}
	return u;
}

int zt_json_str(const char *text, const struct zt_json_tok *t, char *buf, size_t cap)
{
	const char *s = text + t->off;
	size_t i = 0, n = 0, k;
	unsigned long u;

	if (t->type != ZT_JSON_STRING)
		return -EINVAL;
	if (cap == 0)
		return -ENOBUFS;
	while (i < t->len) {
		if (s[i] != '\\') {
			if (n + 1 >= cap)
				return -ENOBUFS;
			buf[n++] = s[i++];
			continue;
		}
		u = unescape(s + i + 1, &k);
		if (u == 0)
			return -EILSEQ;
		if (put_utf8(buf, cap, &n, u) < 0)
			return -ENOBUFS;
		i += 1 + k;
	}
	buf[n] = '\0';
	return (int)n;
}

int zt_json_num(const char *text, const struct zt_json_tok *t, double *ret)
{
	char tmp[64];
	double v;

	if (t->type != ZT_JSON_NUMBER)
		return -EINVAL;
	if (t->len >= sizeof(tmp))
		return -ERANGE;
	memcpy(tmp, text + t->off, t->len);
	tmp[t->len] = '\0';
	v = strtod(tmp, NULL);
	if (!isfinite(v))
		return -ERANGE;
	*ret = v;
	return 0;
}

const char *zt_json_type_name(enum zt_json_type type)
{
	switch (type) {
	case ZT_JSON_NULL:
		return "null";
	case ZT_JSON_FALSE:
		return "false";
	case ZT_JSON_TRUE:
		return "true";
	case ZT_JSON_NUMBER:
		return "number";
	case ZT_JSON_STRING:
		return "string";
	case ZT_JSON_ARRAY:
		return "array";
	case ZT_JSON_OBJECT:
		return "object";
	}
	return "?";
}
