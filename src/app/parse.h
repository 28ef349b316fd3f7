/* Host:port values in configuration files and options (durations and sizes: core/units.h). */
#ifndef ZT_APP_PARSE_H
#define ZT_APP_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "core/addr.h"

struct addrinfo;

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

/*
 * The same, and every address a name resolves to, at most cap of them, each once: the
 * IPv4 ones first, then the IPv6 ones, each family in the resolver's order (a literal:
 * one). *ret_n says how many. Returns 0, ZT_ESYNTAX, ZT_ERANGE, -ENOENT.
 */
int zt_parse_hostport_all(const char *text, uint16_t default_port, struct zt_addr *ret,
			  size_t cap, size_t *ret_n);

/* The addresses of a getaddrinfo() answer, as zt_parse_hostport_all() orders them,
 * with port. Returns how many (at most cap). */
size_t zt_parse_addrinfo(const struct addrinfo *res, uint16_t port, struct zt_addr *ret,
			 size_t cap);

#endif
