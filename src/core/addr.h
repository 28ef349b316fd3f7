/*
 * Transport addresses (IP + UDP port), independent of sockets.
 *
 * The sans-IO core passes these by value; the I/O shell converts to and from
 * struct sockaddr at the edge.
 */
#ifndef ZT_CORE_ADDR_H
#define ZT_CORE_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

struct zt_addr {
	uint8_t family;  /* AF_INET, AF_INET6, or 0 when unset */
	uint16_t port;   /* host byte order */
	uint8_t ip[16];  /* network byte order; IPv4 uses ip[0..3], rest zero */
};

/* Longest text zt_addr_format() writes, with the NUL: "[v6%scope]:65535". */
#define ZT_ADDR_STRLEN 56

/*
 * Parse "1.2.3.4", "1.2.3.4:5678", "::1", "[::1]:5678" into *ret.
 * A missing port becomes default_port. Returns 0, or ZT_ESYNTAX (bad address),
 * ZT_ERANGE (port > 65535); *ret is untouched on failure.
 */
int zt_addr_parse(struct zt_addr *ret, const char *text, uint16_t default_port);

/*
 * Write "1.2.3.4:5678" or "[::1]:5678" (port omitted when with_port is false).
 * Returns the length written (without NUL) or -ENOBUFS.
 */
int zt_addr_format(const struct zt_addr *a, bool with_port, char *buf, size_t cap);

/* A static-storage-free convenience for logs: formats into buf and returns buf. */
const char *zt_addr_str(const struct zt_addr *a, char buf[ZT_ADDR_STRLEN]);

/* Build an address from 4 or 16 raw bytes in network order. An IPv4-mapped IPv6
 * address (::ffff:a.b.c.d) becomes the IPv4 address: a zt_addr never holds one, so
 * the same host has one form in comparisons, budgets, candidates and on the wire. */
void zt_addr_set_v4(struct zt_addr *a, const uint8_t ip[4], uint16_t port);
void zt_addr_set_v6(struct zt_addr *a, const uint8_t ip[16], uint16_t port);

/* Turns an IPv4-mapped IPv6 address into its IPv4 address in place (zt_addr_set_v6
 * does it; parsers that fill ip[] themselves call this). Other addresses stay. */
void zt_addr_unmap(struct zt_addr *a);

bool zt_addr_equal(const struct zt_addr *a, const struct zt_addr *b);
bool zt_addr_ip_equal(const struct zt_addr *a, const struct zt_addr *b);

/* Loopback (127/8, ::1), link-local (169.254/16, fe80::/10), private (RFC 1918, fc00::/7). */
bool zt_addr_is_loopback(const struct zt_addr *a);
bool zt_addr_is_linklocal(const struct zt_addr *a);
bool zt_addr_is_private(const struct zt_addr *a);
/* The wildcard address (0.0.0.0, ::), or unset (family 0). */
bool zt_addr_is_any(const struct zt_addr *a);

/* Conversions. to_sockaddr returns the sockaddr length, or -EAFNOSUPPORT. */
int zt_addr_to_sockaddr(const struct zt_addr *a, struct sockaddr_storage *ss);
int zt_addr_from_sockaddr(struct zt_addr *ret, const struct sockaddr *sa, socklen_t len);

#endif
