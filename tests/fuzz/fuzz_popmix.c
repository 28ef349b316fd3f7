/*
 * libFuzzer target: the population mix file parser (sim/popmix.c) and the draw.
 *
 * A parse returns 0 or a documented code; an error names a line within the text (0:
 * the whole file). An accepted mix has finite weights in 0..1e9 with a positive type
 * total and shares in 0..1, and every side drawn from it is a valid side.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "../../sim/popmix.h"
#include "fuzzcheck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct zt_sim_pop_mix m;
	char *text = malloc(size + 1);
	unsigned line, lines = 1;
	int rc;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	for (size_t i = 0; i < size; i++)
		lines += text[i] == '\n';
	rc = zt_sim_pop_parse(&m, text, &line);
	if (rc == 0) {
		double total = 0;
		struct zt_prng g;
		check(line == 0);
		for (int i = 0; i < ZT_SIM_POP_TYPES; i++) {
			check(m.weight[i] >= 0 && m.weight[i] <= 1e9);
			total += m.weight[i];
		}
		check(total > 0);
		for (int i = 0; i < ZT_SIM_POP_PORTS; i++)
			check(m.ports[i] >= 0 && m.ports[i] <= 1e9);
		check(m.portmap >= 0 && m.portmap <= 1 && m.ipv6 >= 0 && m.ipv6 <= 1);
		zt_prng_seed(&g, size);
		for (int i = 0; i < 16; i++) {
			struct zt_sim_pop_side s;
			zt_sim_pop_draw(&m, &g, &s);
			check(s.type >= -1 && s.type <= 3 && m.weight[s.type + 1] > 0);
			check(s.ports >= 0 && s.ports < ZT_SIM_POP_PORTS);
			check(s.type == 3 || s.ports == 0);
			check(s.type >= 0 || !s.portmap);
		}
	} else {
		check(rc == ZT_ESYNTAX || rc == ZT_ECONF_KEY || rc == ZT_ECONF_VALUE);
		check(line <= lines);
	}
	free(text);
	return 0;
}
