/*
 * The head of an HTTP/1.x request, as a scraper sends it to the metrics endpoint
 * (app/metrics.h): the request line "METHOD SP TARGET SP HTTP/1.x", header lines, an
 * empty line; lines end in CRLF or LF. Only what the endpoint needs is kept: the
 * method and the target's path (the query, after '?', is dropped). Header lines are
 * checked for their shape (printable ASCII and tabs, a colon after a non-empty name)
 * and otherwise ignored; a body is not read.
 */
#ifndef ZT_CORE_HTTPREQ_H
#define ZT_CORE_HTTPREQ_H

#include <stddef.h>

#define ZT_HTTPREQ_MAX 4096      /* the whole head */
#define ZT_HTTPREQ_PATH_MAX 255

struct zt_httpreq {
	char method[16];
	char path[ZT_HTTPREQ_PATH_MAX + 1];
	int minor;                   /* HTTP/1.minor */
};

/*
 * Reads the head from buf[0..len). Returns its length (> 0, up to the empty line's
 * end) and fills *ret when it is complete; 0 when more bytes are needed;
 * ZT_EMALFORMED for a malformed head; ZT_ETOOBIG when the head (so far) is over
 * ZT_HTTPREQ_MAX, or the method or path over its field.
 */
int zt_httpreq_parse(const char *buf, size_t len, struct zt_httpreq *ret);

#endif
