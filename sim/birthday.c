#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "birthday.h"
#include "core/birthday.h"
#include "core/units.h"
#include "draw.h"
#include "odds.h"
#include "real.h"

#define PORTS (ZT_BIRTHDAY_PORT_HI - ZT_BIRTHDAY_PORT_LO + 1) /* the simulator's NATs: 64,512 */
#define WITHIN (10 * ZT_SEC)

/* Session s: the port-restricted side is the agent in even sessions. */
static int scenario(const struct zt_sim_birthday_cfg *cfg, unsigned s, char *buf, size_t cap)
{
	struct zt_prng g;
	int prc_agent = !(s & 1);
	uint64_t d0, d1, dr;

	zt_prng_seed(&g, cfg->seed * 1000003 + s);
	d0 = zt_sim_range(&g, 0, 100000);
	d1 = zt_sim_range(&g, 0, 100000);
	dr = zt_sim_range(&g, 0, 30000);
	return snprintf(buf, cap,
			"lab birthday\npublic 203.0.113.0/24\nserver relay addr 203.0.113.100\n"
			"nat nat0 type %s lan 192.168.1.0/24\nhost alice behind nat0\n"
			"nat nat1 type %s lan 192.168.2.0/24\nhost bob behind nat1\n"
			"link nat0 delay %lluus\nlink nat1 delay %lluus\nlink relay delay %lluus\n"
			"sim session agent alice connector bob relay relay\n"
			"sim run duration 20s data off probe %s probe-sockets %u probe-count %u probe-rate %u\n",
			prc_agent ? "port-restricted" : "symmetric", prc_agent ? "symmetric" : "port-restricted",
			(unsigned long long)d0, (unsigned long long)d1, (unsigned long long)dr,
			cfg->probe_off ? "off" : "on", cfg->sockets ? cfg->sockets : ZT_BIRTHDAY_SOCKETS,
			cfg->probes ? cfg->probes : ZT_BIRTHDAY_COUNT, cfg->rate ? cfg->rate : ZT_BIRTHDAY_RATE);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static int run_one(const struct zt_sim_birthday_cfg *cfg, unsigned s, struct zt_sim_outcome *o)
{
	static __thread struct zt_sim_scn scn;
	static __thread struct zt_sim_real_outcome ro;
	struct zt_sim_session_cfg sc = { .scn = &scn, .seed = cfg->seed * 1000003 + s };
	struct zt_scn_error err;
	char text[2048];
	int n = scenario(cfg, s, text, sizeof(text)), rc;

	if (n < 0 || (size_t)n >= sizeof(text))
		return -ENOBUFS;
	rc = zt_sim_scn_parse(&scn, text, (size_t)n, "birthday", &err);
	if (rc < 0)
		return rc;
	if (!cfg->real)
		return zt_sim_session_run(&sc, o);
	rc = zt_sim_real_run(&sc, &ro);
	*o = ro.o;
	return rc;
}

int zt_sim_birthday_run(const struct zt_sim_birthday_cfg *cfg, struct zt_sim_birthday_result *ret)
{
	uint64_t *ms = calloc(cfg->sessions ? cfg->sessions : 1, sizeof(*ms));
	int rc = 0;

	if (!ms)
		return -ENOMEM;
	*ret = (struct zt_sim_birthday_result){
		.expected = zt_sim_birthday_expected(cfg->sockets ? cfg->sockets : ZT_BIRTHDAY_SOCKETS,
						     cfg->probes ? cfg->probes : ZT_BIRTHDAY_COUNT, PORTS),
	};
	for (unsigned s = 0; s < cfg->sessions; s++) {
		struct zt_sim_outcome o;
		if ((rc = run_one(cfg, s, &o)) < 0)
			break;
		ret->ran++;
		if (o.went_direct && o.time_to_direct <= WITHIN)
			ms[ret->direct++] = o.time_to_direct / ZT_MS;
	}
	zt_sim_wilson(ret->direct, ret->ran, &ret->lo, &ret->hi);
	if (ret->direct) {
		qsort(ms, ret->direct, sizeof(*ms), cmp_u64);
		ret->median_ms = ms[(ret->direct - 1) / 2];
	}
	free(ms);
	return rc < 0 ? rc : 0;
}

int zt_sim_birthday_main(const struct zt_sim_birthday_cfg *cfg, FILE *out)
{
	struct zt_sim_birthday_result r;
	unsigned n = cfg->sockets ? cfg->sockets : ZT_BIRTHDAY_SOCKETS;
	unsigned m = cfg->probes ? cfg->probes : ZT_BIRTHDAY_COUNT;
	unsigned rate = cfg->rate ? cfg->rate : ZT_BIRTHDAY_RATE;
	int rc = zt_sim_birthday_run(cfg, &r);

	if (rc < 0) {
		fprintf(stderr, "ztna-sim: a birthday session could not run: %d\n", rc);
		return 2;
	}
	fprintf(out, "birthday probing%s: port-restricted x symmetric (random ports), %u sessions "
		"from seed %llu, %u sprayed sockets, %u probes at %u/s, probing %s\n",
		cfg->real ? " (real cores)" : "", r.ran, (unsigned long long)cfg->seed, n, m, rate,
		cfg->probe_off ? "off" : "on");
	fprintf(out, "direct within 10 s: %u/%u = %.1f %% (95 %% CI %.1f-%.1f %%); "
		"1 - (1 - %u/%u)^%u = %.1f %%; median time to direct %llu ms\n", r.direct, r.ran,
		r.ran ? 100.0 * r.direct / r.ran : 0.0, 100 * r.lo, 100 * r.hi, n, (unsigned)PORTS, m,
		cfg->probe_off ? 0.0 : 100 * r.expected, (unsigned long long)r.median_ms);
	return 0;
}
