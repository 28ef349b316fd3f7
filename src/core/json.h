/*
 * A small strict JSON reader (RFC 8259), sans-IO: text in, a flat array of tokens out,
 * nothing allocated. Written for documents the project reads back (the NAT report,
 * core/natreport.h), not as a general library: documents are small and trees shallow.
 *
 * Strict: one value with optional whitespace (space, tab, LF, CR) around it and nothing
 * else; no comments, no trailing commas, no leading zeros or '+' in numbers, no bare
 * control characters in strings, every escape and \uXXXX surrogate pair well formed,
 * valid UTF-8 (no overlongs, no surrogates), no duplicate key in one object (compared
 * as written), at most ZT_JSON_MAX_DEPTH nested arrays and objects.
 *
 * The tokens are the values in document order (pre-order). An object's token is
 * followed by its members, each a STRING token (the key) and the key's value; an
 * array's by its elements. `end` is the index of the first token after a value's
 * subtree, so members are walked with i = tok[i].end.
 */
#ifndef ZT_CORE_JSON_H
#define ZT_CORE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ZT_JSON_MAX_DEPTH 16

enum zt_json_type {
	ZT_JSON_NULL = 1,
	ZT_JSON_FALSE,
	ZT_JSON_TRUE,
	ZT_JSON_NUMBER,
	ZT_JSON_STRING,
	ZT_JSON_ARRAY,
	ZT_JSON_OBJECT,
};

struct zt_json_tok {
	enum zt_json_type type;
	uint32_t off, len;  /* the text of a number, of a string between its quotes (escapes
			     * not decoded), of a whole array or object */
	uint32_t n;         /* array: elements; object: members */
	uint32_t end;       /* index of the token after this value's subtree */
};

/*
 * Tokenizes text[0..len) into tok[0..cap). Returns the token count (> 0), or
 * ZT_EMALFORMED (not strict JSON as above; *ret_off, if given, is the byte offset of
 * the error), -ENOBUFS (more than cap tokens), -E2BIG (len over 1 MiB, or nested
 * deeper than ZT_JSON_MAX_DEPTH).
 */
int zt_json_parse(const char *text, size_t len, struct zt_json_tok *tok, unsigned cap,
		  size_t *ret_off);

/* The value of key in the object at index obj: its token index, or -ENOENT (no such
 * member), -EINVAL (tok[obj] not an object). Keys are compared as written. */
int zt_json_get(const char *text, const struct zt_json_tok *tok, unsigned obj, const char *key);

/*
 * A string token decoded into buf (UTF-8, NUL-terminated). Returns its length, or
 * -EINVAL (not a string), -ENOBUFS (does not fit in cap with its NUL), -EILSEQ (it
 * holds a NUL, \u0000).
 */
int zt_json_str(const char *text, const struct zt_json_tok *t, char *buf, size_t cap);

/* A number token as a double. Returns 0, -EINVAL (not a number), -ERANGE (not finite,
 * or longer than 63 characters). */
int zt_json_num(const char *text, const struct zt_json_tok *t, double *ret);

/* The type's name: "null", "false", "true", "number", "string", "array", "object". */
const char *zt_json_type_name(enum zt_json_type type);

#endif
