#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "core/units.h"
#include "draw.h"
#include "prop.h"

static const char *const lab_types[] = {
	"full-cone", "address-restricted", "port-restricted", "symmetric",
};

void zt_sim_prop_draw(uint64_t case_seed, struct zt_sim_prop_params *p)
{
	struct zt_prng g;

	zt_prng_seed(&g, case_seed ^ 0x5eed5eed5eedULL);
	*p = (struct zt_sim_prop_params){ .duration = 60 * ZT_SEC, .data_interval = 100 * ZT_MS };
	for (int i = 0; i < 2; i++) {
		p->type[i] = (int)zt_sim_range(&g, 0, 3);
		p->outer[i] = zt_sim_chance(&g, 100000) ? (int)zt_sim_range(&g, 0, 3) : -1;
		p->blocked[i] = zt_sim_chance(&g, 20000);
		p->delay[i] = zt_sim_range(&g, 0, 150000) * ZT_US;   /* peer to peer <= 300 ms */
		p->jitter[i] = zt_sim_chance(&g, 300000) ? zt_sim_range(&g, 0, p->delay[i] / 10) : 0;
		p->loss_ppm[i] = zt_sim_chance(&g, 500000) ? 0 : (uint32_t)zt_sim_range(&g, 0, 3000) * 100;
		p->reorder_ppm[i] = zt_sim_chance(&g, 200000) ? 10000 : 0;
	}
	p->relay_delay = zt_sim_range(&g, 0, 50000) * ZT_US;
	p->skew = zt_sim_range(&g, 0, 3000) * ZT_MS;
	p->skew_connector = zt_sim_chance(&g, 500000);
}

int zt_sim_prop_text(const struct zt_sim_prop_params *p, uint64_t seed, char *buf, size_t cap)
{
	static const char *const host[2] = { "alice", "bob" };
	size_t n = 0;
	int w;

#define PUT(...) do { \
		w = snprintf(buf + n, n < cap ? cap - n : 0, __VA_ARGS__); \
		if (w < 0 || (size_t)w >= (n < cap ? cap - n : 0)) \
			return -ENOBUFS; \
		n += (size_t)w; \
	} while (0)

	PUT("lab prop\nseed %llu\npublic 203.0.113.0/24\nserver relay addr 203.0.113.100\n",
	    (unsigned long long)seed);
	for (int i = 0; i < 2; i++) {
		if (p->type[i] < 0) {
			/* no NAT: the host sits on the public segment */
			PUT("host %s behind public\nlink %s delay %lluus", host[i], host[i],
			    (unsigned long long)(p->delay[i] / ZT_US));
			if (p->loss_ppm[i])
				PUT(" loss %.2f%%", p->loss_ppm[i] / 10000.0);
			PUT("\n");
			continue;
		}
		if (p->outer[i] >= 0)
			PUT("nat cgn%d type %s lan 100.64.%d.0/24\n", i, lab_types[p->outer[i]], i + 1);
		PUT("nat nat%d type %s lan 192.168.%d.0/24%s%s%s", i, lab_types[p->type[i]], i + 1,
		    p->outer[i] >= 0 ? " behind cgn" : "", p->outer[i] >= 0 ? (i ? "1" : "0") : "",
		    p->blocked[i] ? " udp block" : "");
		if (p->type[i] == 3 && p->ports[i] > 0)
			PUT(" ports %s", p->ports[i] == 1 ? "sequential" : "preserve");
		PUT("%s\n", p->portmap[i] ? " portmap pcp" : "");
		PUT("host %s behind nat%d\n", host[i], i);
		for (int k = 0; k < 2 && p->v.sequential; k++) {
			int t = k ? p->outer[i] : p->type[i];
			if (t == 3)
				PUT("sim nat %s%d mapping apd filtering apd ports sequential refresh both\n",
				    k ? "cgn" : "nat", i);
		}
		PUT("link %s%d delay %lluus", p->outer[i] >= 0 ? "cgn" : "nat", i,
		    (unsigned long long)(p->delay[i] / ZT_US));
		if (p->jitter[i])
			PUT(" jitter %lluus", (unsigned long long)(p->jitter[i] / ZT_US));
		if (p->loss_ppm[i])
			PUT(" loss %.2f%%", p->loss_ppm[i] / 10000.0);
		PUT("\n");
		if (p->reorder_ppm[i])
			PUT("sim link %s%d reorder %.2f%%\n", p->outer[i] >= 0 ? "cgn" : "nat", i,
			    p->reorder_ppm[i] / 10000.0);
	}
	if (p->relay_delay)
		PUT("link relay delay %lluus\n", (unsigned long long)(p->relay_delay / ZT_US));
	PUT("sim session agent alice connector bob relay relay\n");
	PUT("sim run duration %llums skew %llums skew-side %s shuffle on data ",
	    (unsigned long long)(p->duration / ZT_MS), (unsigned long long)(p->skew / ZT_MS),
	    p->skew_connector ? "connector" : "agent");
	if (p->data_interval)
		PUT("%lluus", (unsigned long long)(p->data_interval / ZT_US));
	else
		PUT("off");
	PUT("%s%s%s%s\n", p->v.predict_off ? " predict off" : "", p->v.probe ? " probe on" : "",
	    p->v.detect ? " detect on" : "", p->v.portmap ? " portmap on" : "");
#undef PUT
	return (int)n;
}

uint64_t zt_sim_prop_direct_bound(const struct zt_sim_prop_params *p,
				  const struct zt_sim_outcome *o)
{
	(void)p;
	return 2 * o->rtt_direct + 2500 * ZT_MS;
}

__attribute__((format(printf, 3, 4)))
static int violated(char *why, size_t cap, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, cap, fmt, ap);
	va_end(ap);
	return -1;
}

int zt_sim_prop_check(const struct zt_sim_prop_params *p, const struct zt_sim_outcome *o,
		      char *why, size_t cap)
{
	bool moderate = p->loss_ppm[0] <= ZT_SIM_PROP_MODERATE_PPM &&
			p->loss_ppm[1] <= ZT_SIM_PROP_MODERATE_PPM;

	if (o->spun)
		return violated(why, cap, "the event loop spun at %.3f s (a deadline that stays "
				"due: a busy loop)", (double)o->spun_at / 1e9);
	if (o->err)
		return violated(why, cap, "a core call failed: %d", o->err);
	if (o->theory == ZT_SIM_EXPECT_NONE) {
		if (o->session_up)
			return violated(why, cap, "UDP is blocked, yet a session came up");
		return 0;
	}
	if (!o->session_up)
		return violated(why, cap, "the relay is reachable but no session came up");
	/* the relay carries traffic within 5 s of the session */
	if (p->data_interval && (!o->first_data_rx || o->first_data_rx > o->session_at + 5 * ZT_SEC))
		return violated(why, cap, "first data over the relay %.3f s after the session (> 5 s)",
				o->first_data_rx ? (double)(o->first_data_rx - o->session_at) / 1e9 : -1.0);
	if (moderate && (o->ice_start_connector > o->session_at + p->skew + 10 * ZT_SEC ||
	    o->ice_start_at > o->session_at + p->skew + 10 * ZT_SEC || !o->ice_start_at ||
	    !o->ice_start_connector))
		return violated(why, cap, "checks did not start on both sides within skew + 10 s of the session");
	if (o->theory == ZT_SIM_EXPECT_RELAY && o->went_direct)
		return violated(why, cap, "theory says relay, but the agent went direct");
	if (o->theory == ZT_SIM_EXPECT_DIRECT && moderate) {
		uint64_t bound = zt_sim_prop_direct_bound(p, o);
		if (!o->went_direct)
			return violated(why, cap, "theory says direct (loss moderate), never went direct");
		if (o->time_from_both > bound)
			return violated(why, cap, "direct %.3f s after both started > bound %.3f s",
					(double)o->time_from_both / 1e9, (double)bound / 1e9);
	}
	if (o->max_switches_per_min > 4)
		return violated(why, cap, "flapping: %u path switches within a minute",
				o->max_switches_per_min);
	if (p->data_interval && o->max_gap > 3 * ZT_SEC)
		return violated(why, cap, "connectivity lost: %.3f s without delivery",
				(double)o->max_gap / 1e9);
	return 0;
}

int zt_sim_prop_run(uint64_t case_seed, const struct zt_sim_variant *v,
		    struct zt_sim_outcome *ret, char *why, size_t cap)
{
	struct zt_sim_prop_params p;
	struct zt_scn_error err;
	static __thread struct zt_sim_scn scn;
	char text[4096];
	struct zt_sim_session_cfg cfg = { .scn = &scn, .seed = case_seed };
	int rc;

	zt_sim_prop_draw(case_seed, &p);
	if (v)
		p.v = *v;
	rc = zt_sim_prop_text(&p, case_seed, text, sizeof(text));
	if (rc < 0)
		return rc;
	rc = zt_sim_scn_parse(&scn, text, (size_t)rc, "prop", &err);
	if (rc < 0) {
		snprintf(why, cap, "%s", err.msg);
		return rc;
	}
	rc = zt_sim_session_run(&cfg, ret);
	if (rc < 0)
		return rc;
	return zt_sim_prop_check(&p, ret, why, cap) < 0 ? 1 : 0;
}
