/* Host:port values in configuration files and options (durations and sizes: core/units.h). */
#ifndef ZT_APP_PARSE_H
#define ZT_APP_PARSE_H

#include <stdint.h>

#include "core/addr.h"

/*
 * "1.2.3.4:80", "[::1]:80", "localhost:80", "host.example:80": a literal address, or a
 * name resolved now (getaddrinfo; IPv4 first). The port is required unless
 * default_port is nonzero. Returns 0, ZT_ESYNTAX, ZT_ERANGE, or -ENOENT (the name
 * does not resolve).
 */
int zt_parse_hostport(const char *text, uint16_t default_port, struct zt_addr *ret);

/*
 * The same, and a name that resolves to both families gives one address of each:
 * the first IPv4 one in *ret, the first IPv6 one in *ret_other (family 0 when the
 * name has one family only, or for a literal). ret_other may be NULL; the caller
 * zeroes it.
 */
int zt_parse_hostport_both(const char *text, uint16_t default_port, struct zt_addr *ret,
			   struct zt_addr *ret_other);

#endif
