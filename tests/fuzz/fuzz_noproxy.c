/*
 * libFuzzer target: the no_proxy list (zt_httpproxy_no_proxy, core/httpproxy.h).
 *
 * Input: byte 0 picks the target's address (none, 203.0.113.10, 2001:db8::10); the
 * rest up to the first NUL is the list, after it the target's name. Checked: no
 * crash or out-of-bounds read; "*" as an entry exempts every target; a list whose
 * entries all match nothing (a leading "#" on each) exempts a name without '#'; the answer does
 * not change with the separators around the list, nor with the name's case.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/httpproxy.h"
#include "fuzzcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char list[4096], name[512], wrapped[4200], upper[512];
	struct zt_addr ip = { 0 };
	size_t n, m;
	bool r;

	if (size < 1)
		return 0;
	if (data[0] % 3 == 1)
		zt_addr_parse(&ip, "203.0.113.10", 0);
	else if (data[0] % 3 == 2)
		zt_addr_parse(&ip, "2001:db8::10", 0);
	data++, size--;
	n = strnlen((const char *)data, size);
	if (n >= sizeof(list))
		return 0;
	memcpy(list, data, n);
	list[n] = '\0';
	m = n < size ? strnlen((const char *)data + n + 1, size - n - 1) : 0;
	if (m >= sizeof(name))
		return 0;
	if (m)
		memcpy(name, data + n + 1, m);
	name[m] = '\0';

	r = zt_httpproxy_no_proxy(list, name, ip.family ? &ip : NULL);
	snprintf(wrapped, sizeof(wrapped), " ,%s, ", list);
	check(zt_httpproxy_no_proxy(wrapped, name, ip.family ? &ip : NULL) == r);
	for (size_t i = 0; i <= m; i++)
		upper[i] = (char)toupper((unsigned char)name[i]);
	check(zt_httpproxy_no_proxy(list, upper, ip.family ? &ip : NULL) == r);
	snprintf(wrapped, sizeof(wrapped), "%s,*", list);
	check(zt_httpproxy_no_proxy(wrapped, name, ip.family ? &ip : NULL));
	if (!strchr(name, '#'))
		check(!zt_httpproxy_no_proxy("#a,#b.c,#10.0.0.0/8", name, ip.family ? &ip : NULL));
	return 0;
}
