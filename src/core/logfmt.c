#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <wchar.h>

#include "core/err.h"
#include "core/logfmt.h"

#define TRUNC_MARK " truncated=1"

/* The output: appends are all-or-nothing, so a cut never splits an escape. */
struct out {
	char *buf;
	size_t limit;    /* content may use buf[0..limit) */
	size_t len;
	bool inq;        /* inside a quote (the format's or a value's) */
	bool full;
	/* Where the current field starts (after the last space outside quotes), and where
	 * its value starts (after its '='; 0: still in the key). */
	size_t field, value;
};

static bool put(struct out *o, const char *s, size_t n)
{
	if (o->full || n > o->limit - o->len) {
		o->full = true;
		return false;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	return true;
}

static bool plain(unsigned char c)
{
	return c > 0x20 && c < 0x7f && c != '=' && c != '"' && c != '\\';
}

bool zt_logfmt_needs_quotes(const char *v, size_t len)
{
	if (len == 0)
		return true;
	for (size_t i = 0; i < len; i++)
		if (!plain((unsigned char)v[i]))
			return true;
	return false;
}

/* One byte, escaped for the inside of quotes when quoted, else only if not printable. */
static bool put_byte(struct out *o, unsigned char c, bool quoted)
{
	static const char hex[] = "0123456789abcdef";
	char e[4] = { '\\', 0, 0, 0 };

	switch (c) {
	case '\n':
		e[1] = 'n';
		return put(o, e, 2);
	case '\r':
		e[1] = 'r';
		return put(o, e, 2);
	case '\t':
		e[1] = 't';
		return put(o, e, 2);
	case '"':
	case '\\':
		if (!quoted)
			break;
		e[1] = (char)c;
		return put(o, e, 2);
	default:
		if (c >= 0x20 && c < 0x7f)
			break;
		e[1] = 'x';
		e[2] = hex[c >> 4];
		e[3] = hex[c & 15];
		return put(o, e, 4);
	}
	return put(o, (const char *)&c, 1);
}

static void put_value(struct out *o, const char *v, size_t len)
{
	bool quote = !o->inq && zt_logfmt_needs_quotes(v, len);

	if (quote) {
		if (!put(o, "\"", 1))
			return;
		o->inq = true;
	}
	for (size_t i = 0; i < len; i++)
		if (!put_byte(o, (unsigned char)v[i], true))
			return;
	if (quote && put(o, "\"", 1))
		o->inq = false;
}

size_t zt_logfmt_value(char *buf, size_t cap, const char *v, size_t len, bool in_quotes)
{
	struct out o = { .buf = buf, .limit = cap ? cap - 1 : 0, .inq = in_quotes };

	if (!cap)
		return 0;
	put_value(&o, v, len);
	if (o.full)
		o.len = 0;
	buf[o.len] = '\0';
	return o.len;
}

/* A conversion specification: "%-08.3lx" split into its parts. */
struct spec {
	char flags[8];
	int width, prec;   /* -1: not given */
	char len[3];       /* "", "hh", "h", "l", "ll", "j", "z", "t", "L" */
	char conv;
};

static const char *parse_spec(const char *p, struct spec *s, va_list *ap)
{
	size_t nf = 0;

	*s = (struct spec){ .width = -1, .prec = -1 };
	while (*p && strchr("-+ #0", *p) && nf < sizeof(s->flags) - 1)
		s->flags[nf++] = *p++;
	if (*p == '*') {
		s->width = va_arg(*ap, int);
		p++;
	} else {
		for (s->width = *p >= '0' && *p <= '9' ? 0 : -1; *p >= '0' && *p <= '9'; p++)
			s->width = s->width < 10000 ? s->width * 10 + (*p - '0') : s->width;
	}
	if (*p == '.') {
		p++;
		s->prec = 0;
		if (*p == '*') {
			s->prec = va_arg(*ap, int);
			p++;
		}
		for (; *p >= '0' && *p <= '9'; p++)
			s->prec = s->prec < 10000 ? s->prec * 10 + (*p - '0') : s->prec;
	}
	if ((p[0] == 'h' && p[1] == 'h') || (p[0] == 'l' && p[1] == 'l')) {
		memcpy(s->len, p, 2);
		p += 2;
	} else if (*p && strchr("hljztLq", *p)) {
		s->len[0] = *p == 'q' ? 'L' : *p;
		p++;
	}
	s->conv = *p;
	return *p ? p + 1 : p;
}

/* The printf format for one number, widths and precisions spelled out (capped). */
static void number_fmt(const struct spec *s, char *f, size_t cap)
{
	int w = s->width > 64 ? 64 : s->width, pr = s->prec > 64 ? 64 : s->prec;
	int n = snprintf(f, cap, "%%%s", s->flags);

	if (w >= 0)
		n += snprintf(f + n, cap - (size_t)n, "%d", w);
	if (pr >= 0)
		n += snprintf(f + n, cap - (size_t)n, ".%d", pr);
	snprintf(f + n, cap - (size_t)n, "%s%c", s->len, s->conv);
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
static void put_signed(struct out *o, const struct spec *s, const char *f, va_list *ap)
{
	char t[160];
	int n;

	if (!strcmp(s->len, "l"))
		n = snprintf(t, sizeof(t), f, va_arg(*ap, long));
	else if (!strcmp(s->len, "ll") || !strcmp(s->len, "L"))
		n = snprintf(t, sizeof(t), f, va_arg(*ap, long long));
	else if (!strcmp(s->len, "j"))
		n = snprintf(t, sizeof(t), f, va_arg(*ap, intmax_t));
	else if (!strcmp(s->len, "z"))
		n = snprintf(t, sizeof(t), f, va_arg(*ap, ssize_t));
	else if (!strcmp(s->len, "t"))
		n = snprintf(t, sizeof(t), f, va_arg(*ap, ptrdiff_t));
	else
		n = snprintf(t, sizeof(t), f, va_arg(*ap, int));
	if (n > 0)
		put(o, t, (size_t)n < sizeof(t) ? (size_t)n : sizeof(t) - 1);
}

static void put_unsigned(struct out *o, const struct spec *s, const char *f, va_list *ap)
{
	char t[160];
	int n;

	if (!strcmp(s->len, "l"))
		n = snprintf(t, sizeof(t), f, va_arg(*ap, unsigned long));
	else if (!strcmp(s->len, "ll") || !strcmp(s->len, "L"))
		n = snprintf(t, sizeof(t), f, va_arg(*ap, unsigned long long));
	else if (!strcmp(s->len, "j"))
		n = snprintf(t, sizeof(t), f, va_arg(*ap, uintmax_t));
	else if (!strcmp(s->len, "z"))
		n = snprintf(t, sizeof(t), f, va_arg(*ap, size_t));
	else if (!strcmp(s->len, "t"))
		n = snprintf(t, sizeof(t), f, (size_t)va_arg(*ap, ptrdiff_t));
	else
		n = snprintf(t, sizeof(t), f, va_arg(*ap, unsigned));
	if (n > 0)
		put(o, t, (size_t)n < sizeof(t) ? (size_t)n : sizeof(t) - 1);
}

static void put_float(struct out *o, const struct spec *s, const char *f, va_list *ap)
{
	char t[160];
	int n = !strcmp(s->len, "L") ? snprintf(t, sizeof(t), f, va_arg(*ap, long double))
				      : snprintf(t, sizeof(t), f, va_arg(*ap, double));

	if (n > 0)
		put(o, t, (size_t)n < sizeof(t) ? (size_t)n : sizeof(t) - 1);
}
#pragma GCC diagnostic pop

static void put_conv(struct out *o, const struct spec *s, va_list *ap)
{
	char f[48], t[32];
	const char *v;
	int n;

	number_fmt(s, f, sizeof(f));
	switch (s->conv) {
	case 'd': case 'i':
		put_signed(o, s, f, ap);
		break;
	case 'o': case 'u': case 'x': case 'X':
		put_unsigned(o, s, f, ap);
		break;
	case 'e': case 'E': case 'f': case 'F': case 'g': case 'G': case 'a': case 'A':
		put_float(o, s, f, ap);
		break;
	case 'c':
		t[0] = (char)(s->len[0] == 'l' ? (int)va_arg(*ap, wint_t) : va_arg(*ap, int));
		put_value(o, t, 1);
		break;
	case 's':
		if (s->len[0] == 'l') {
			(void)va_arg(*ap, const wchar_t *);
			put_value(o, "?", 1);
			break;
		}
		v = va_arg(*ap, const char *);
		if (!v)
			v = "(null)";
		put_value(o, v, s->prec >= 0 ? strnlen(v, (size_t)s->prec) : strlen(v));
		break;
	case 'p':
		n = snprintf(t, sizeof(t), "%p", va_arg(*ap, void *));
		if (n > 0)
			put(o, t, (size_t)n);
		break;
	case 'n':
		(void)va_arg(*ap, void *); /* writes nothing */
		break;
	case '%':
		put(o, "%", 1);
		break;
	default:
		put(o, "?", 1); /* the compiler's format check keeps this out */
		break;
	}
}

/* The format's own text: quotes and spaces tell where fields and values are. */
static void literal(struct out *o, char c)
{
	if (!put_byte(o, (unsigned char)c, false))
		return;
	if (c == '"')
		o->inq = !o->inq;
	else if (c == ' ' && !o->inq)
		o->field = o->len, o->value = 0;
	else if (c == '=' && !o->inq && !o->value)
		o->value = o->len;
}

/* Out of room: a field cut in its key, or before its value, goes; a value cut short is
 * closed. Then the mark. */
static void truncated(struct out *o)
{
	size_t skip;

	if (!o->value || o->len == o->value) {
		o->len = o->field;
		while (o->len && o->buf[o->len - 1] == ' ')
			o->len--;
		o->inq = false;
	}

	if (o->inq)
		o->buf[o->len++] = '"';
	skip = o->len ? 0 : 1; /* no leading space on an empty line */
	memcpy(o->buf + o->len, &TRUNC_MARK[skip], strlen(TRUNC_MARK) - skip);
	o->len += strlen(TRUNC_MARK) - skip;
}

size_t zt_logfmt_v(char *buf, size_t cap, const char *fmt, va_list ap)
{
	struct out o = { .buf = buf };
	struct spec s;
	va_list aq;

	if (cap < ZT_LOGFMT_MIN) {
		if (cap)
			buf[0] = '\0';
		return 0;
	}
	/* Room kept for a closing quote and the mark. */
	o.limit = cap - 1 - 1 - strlen(TRUNC_MARK);
	va_copy(aq, ap);
	for (const char *p = fmt; *p && !o.full;) {
		if (*p != '%') {
			literal(&o, *p++);
			continue;
		}
		p = parse_spec(p + 1, &s, &aq);
		if (!s.conv)
			break;
		put_conv(&o, &s, &aq);
	}
	va_end(aq);
	if (o.full)
		truncated(&o);
	buf[o.len] = '\0';
	return o.len;
}

size_t zt_logfmt(char *buf, size_t cap, const char *fmt, ...)
{
	va_list ap;
	size_t n;

	va_start(ap, fmt);
	n = zt_logfmt_v(buf, cap, fmt, ap);
	va_end(ap);
	return n;
}

/* Reading lines back. */

static int hexval(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* The length of the escape at v[0] == '\\' within n bytes (2, or 4 for \xHH), 0 if bad;
 * its byte in *c. */
static size_t unescape(const char *v, size_t n, unsigned char *c)
{
	if (n < 2)
		return 0;
	switch (v[1]) {
	case 'n': *c = '\n'; return 2;
	case 'r': *c = '\r'; return 2;
	case 't': *c = '\t'; return 2;
	case '"': *c = '"'; return 2;
	case '\\': *c = '\\'; return 2;
	case 'x':
		if (n < 4 || hexval(v[2]) < 0 || hexval(v[3]) < 0)
			return 0;
		*c = (unsigned char)(hexval(v[2]) * 16 + hexval(v[3]));
		return 4;
	default:
		return 0;
	}
}

static bool key_byte(char c)
{
	return c > 0x20 && c < 0x7f && c != '=' && c != '"';
}

/* A quoted value from line[i] (after its '"'): the index of the closing quote, or len
 * if malformed. */
static size_t quoted_end(const char *line, size_t len, size_t i)
{
	unsigned char c;

	while (i < len && line[i] != '"') {
		if ((unsigned char)line[i] < 0x20 || (unsigned char)line[i] >= 0x7f)
			return len;
		if (line[i] == '\\') {
			size_t e = unescape(line + i, len - i, &c);
			if (!e)
				return len;
			i += e;
		} else {
			i++;
		}
	}
	return i;
}

int zt_logfmt_field(const char *line, size_t len, size_t *pos, struct zt_logfmt_kv *kv)
{
	size_t i = *pos, k = i;

	if (i >= len)
		return 0;
	while (i < len && key_byte(line[i]) && i - k <= 64)
		i++;
	if (i == k || i - k > 64 || i >= len || line[i] != '=')
		return ZT_EMALFORMED;
	*kv = (struct zt_logfmt_kv){ .key = line + k, .klen = i - k };
	i++;
	if (i < len && line[i] == '"') {
		size_t e = quoted_end(line, len, i + 1);
		if (e >= len)
			return ZT_EMALFORMED;
		kv->raw = line + i + 1, kv->rawlen = e - i - 1, kv->quoted = true;
		i = e + 1;
	} else {
		size_t v = i;
		while (i < len && line[i] != ' ') {
			if (!key_byte(line[i]) && line[i] != '=')
				return ZT_EMALFORMED;
			i++;
		}
		kv->raw = line + v, kv->rawlen = i - v;
	}
	if (i < len && line[i] != ' ')
		return ZT_EMALFORMED;
	while (i < len && line[i] == ' ')
		i++;
	*pos = i;
	return 1;
}

/* Room for ",\"truncated\":1" */
#define JMARK_ROOM 14

struct jout {
	char *buf;
	size_t len, cap;
	bool full;
};

static void jput(struct jout *o, const char *s, size_t n)
{
	if (o->full || o->len + n > o->cap) {
		o->full = true;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
}

/* One byte of a value inside a JSON string. */
static void jbyte(struct jout *o, unsigned char c)
{
	char e[8];

	if (c == '"' || c == '\\') {
		e[0] = '\\', e[1] = (char)c;
		jput(o, e, 2);
	} else if (c >= 0x20 && c < 0x7f) {
		jput(o, (const char *)&c, 1);
	} else {
		snprintf(e, sizeof(e), "\\u%04x", c);
		jput(o, e, 6);
	}
}

/* A JSON string of bytes v[0..n), unescaping logfmt's escapes when quoted. */
static void jstring(struct jout *o, const char *v, size_t n, bool quoted)
{
	unsigned char c;

	jput(o, "\"", 1);
	for (size_t i = 0; i < n;) {
		size_t e = quoted && v[i] == '\\' ? unescape(v + i, n - i, &c) : 0;
		if (e) {
			jbyte(o, c);
			i += e;
		} else {
			jbyte(o, (unsigned char)v[i++]);
		}
	}
	jput(o, "\"", 1);
}

static bool is_integer(const char *v, size_t n)
{
	size_t d = n && v[0] == '-' ? 1 : 0;

	if (n == d || n - d > 15 || (v[d] == '0' && n - d > 1))
		return false;
	for (size_t i = d; i < n; i++)
		if (v[i] < '0' || v[i] > '9')
			return false;
	return true;
}

/* Every field, or -1 if the line does not read back. A field that does not fit goes,
 * with the mark after the last whole one (o->cap then grows by the mark's room). */
static int json_fields(struct jout *o, const char *line, size_t len)
{
	struct zt_logfmt_kv kv;
	size_t pos = 0, keep = o->len;
	int rc, n = 0;

	while ((rc = zt_logfmt_field(line, len, &pos, &kv)) == 1) {
		if (n++)
			jput(o, ",", 1);
		jstring(o, kv.key, kv.klen, false);
		jput(o, ":", 1);
		if (!kv.quoted && is_integer(kv.raw, kv.rawlen))
			jput(o, kv.raw, kv.rawlen);
		else
			jstring(o, kv.raw, kv.rawlen, kv.quoted);
		if (o->full)
			break;
		keep = o->len;
	}
	if (rc < 0)
		return -1;
	if (o->full) {
		o->full = false;
		o->len = keep;
		o->cap += JMARK_ROOM;
		jput(o, keep > 1 ? ",\"truncated\":1" : "\"truncated\":1", keep > 1 ? 14 : 13);
	}
	return 0;
}

size_t zt_logfmt_json(char *out, size_t cap, const char *line, size_t len)
{
	/* content up to cap - 2 - JMARK_ROOM: then the mark, the brace and the NUL fit */
	struct jout o = { .buf = out, .cap = cap - 2 - JMARK_ROOM };

	if (cap < ZT_LOGFMT_MIN) {
		if (cap)
			out[0] = '\0';
		return 0;
	}
	jput(&o, "{", 1);
	if (json_fields(&o, line, len) < 0) {
		/* the line as one string, cut shorter until it fits (a byte takes 1 to 6) */
		for (size_t n = len, cut = 0;; cut = 1, n = n * 3 / 4) {
			o = (struct jout){ .buf = out, .cap = cap - 2 - JMARK_ROOM };
			jput(&o, "{\"log\":", 7);
			jstring(&o, line, n, false);
			if (!o.full) {
				o.cap += JMARK_ROOM;
				if (cut)
					jput(&o, ",\"truncated\":1", 14);
				break;
			}
		}
	}
	o.cap = cap - 1;
	jput(&o, "}", 1);
	out[o.len] = '\0';
	return o.len;
}
