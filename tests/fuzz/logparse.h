/*
 * A reader of the key=value text core/logfmt.h writes, for the tests and the fuzz
 * target: splits "k=v k=\"q v\"" into fields and undoes the escapes, so a test can
 * check that every value comes back byte for byte and nothing else appears.
 */
#ifndef ZT_TESTS_LOGPARSE_H
#define ZT_TESTS_LOGPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

struct lp_field {
	char key[32];
	char val[4096];
	size_t len;
};

static inline int lp_hex(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Parses one quoted value starting after its '"'; returns the position after the closing
 * quote, or NULL if malformed. */
static inline const char *lp_quoted(const char *p, struct lp_field *f)
{
	f->len = 0;
	for (; *p && *p != '"'; p++) {
		char c = *p;
		if (c == '\\') {
			p++;
			switch (*p) {
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case '"': c = '"'; break;
			case '\\': c = '\\'; break;
			case 'x':
				if (lp_hex(p[1]) < 0 || lp_hex(p[2]) < 0)
					return NULL;
				c = (char)(lp_hex(p[1]) * 16 + lp_hex(p[2]));
				p += 2;
				break;
			default:
				return NULL;
			}
		} else if ((unsigned char)c < 0x20 || (unsigned char)c >= 0x7f) {
			return NULL;
		}
		if (f->len == sizeof(f->val))
			return NULL;
		f->val[f->len++] = c;
	}
	return *p == '"' ? p + 1 : NULL;
}

/* Splits line into at most max fields. Returns the count, or -1 if the text is not
 * what logfmt writes (a bare value with a byte it would have quoted, a bad escape, an
 * unterminated quote, a field without '='). */
static inline int lp_parse(const char *line, struct lp_field *fs, int max)
{
	int n = 0;

	while (*line) {
		struct lp_field *f = &fs[n];
		const char *eq = strchr(line, '=');
		if (n == max || !eq || eq == line || (size_t)(eq - line) >= sizeof(f->key) ||
		    memchr(line, ' ', (size_t)(eq - line)))
			return -1;
		memcpy(f->key, line, (size_t)(eq - line));
		f->key[eq - line] = '\0';
		line = eq + 1;
		if (*line == '"') {
			line = lp_quoted(line + 1, f);
			if (!line)
				return -1;
		} else {
			f->len = 0;
			while (*line && *line != ' ') {
				unsigned char c = (unsigned char)*line++;
				if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '=' ||
				    f->len == sizeof(f->val))
					return -1;
				f->val[f->len++] = (char)c;
			}
			if (f->len == 0)
				return -1;
		}
		n++;
		if (*line == ' ')
			line++;
		else if (*line)
			return -1;
	}
	return n;
}

#endif
