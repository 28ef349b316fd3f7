#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "core/natdisc.h"
#include "core/stun.h"

enum phase {
	PH_TEST1,
	PH_FILTER_II,
	PH_FILTER_III,
	PH_MAP_II,
	PH_MAP_III,
	PH_HAIRPIN,
	PH_PORTS,
	PH_LT_OPEN,
	PH_LT_CHECK,
	PH_DONE,
};

enum outcome_kind { OUT_OK, OUT_TIMEOUT, OUT_ERROR };

struct outcome {
	enum outcome_kind kind;
	int err;                 /* OUT_ERROR: ZT_E* */
	int stun_code;           /* OUT_ERROR from an error response */
	struct zt_addr mapped;   /* OUT_OK */
	struct zt_addr other;    /* OUT_OK, family 0 when absent */
	struct zt_addr from;     /* OUT_OK: where the answer came from */
};

struct zt_natdisc {
	struct zt_natdisc_cfg cfg;
	struct zt_natdisc_result res;
	enum phase phase;
	/* The one transaction in flight. */
	uint8_t tid[ZT_STUN_TID_LEN];
	unsigned sock;
	struct zt_addr to;
	struct zt_addr expect_from;  /* for CHANGE-REQUEST tests; family 0: any */
	bool has_change;
	bool silent;                 /* silence is a possible outcome */
	uint32_t change;
	unsigned sent, max_sent, rm;
	uint64_t rto;                /* the wait after the next transmission */
	uint64_t next_send;          /* ZT_TIME_NEVER after the last transmission */
	uint64_t fail_at;            /* ZT_TIME_NEVER until the last transmission */
	bool started_any;
	uint64_t last_start;         /* first transmission of the latest transaction */
	unsigned n_socks;            /* valid socket indexes */
	unsigned k;                  /* the sample, or the next probe to open */
	unsigned check_k;            /* the next probe to check */
	struct {
		bool open;           /* its mapping was made */
		struct zt_addr mapped;
		uint64_t at;         /* when the answer that made it arrived */
	} probe[ZT_NATDISC_MAX_LIFETIME_PROBES];
};

static bool addr_set(const struct zt_addr *a)
{
	return a->family == AF_INET || a->family == AF_INET6;
}

static bool ip_is_wildcard(const struct zt_addr *a)
{
	static const uint8_t zero[16];

	return memcmp(a->ip, zero, sizeof(zero)) == 0;
}

/* RFC 5780 s4.3: "the same as the local IP address and port of the socket". */
static bool is_local(const struct zt_natdisc *nd, const struct zt_addr *mapped)
{
	const struct zt_addr *l = &nd->cfg.local[0];

	if (mapped->port != l->port)
		return false;
	if (!ip_is_wildcard(l) && zt_addr_ip_equal(mapped, l))
		return true;
	for (unsigned i = 0; i < nd->cfg.n_host_ips; i++)
		if (zt_addr_ip_equal(mapped, &nd->cfg.host_ips[i]))
			return true;
	return false;
}

static void start_tx(struct zt_natdisc *nd, uint64_t now, enum phase phase, unsigned sock,
		     const struct zt_addr *to, int change, const struct zt_addr *expect_from,
		     bool silent)
{
	nd->phase = phase;
	zt_rng_fill(&nd->cfg.rng, nd->tid, sizeof(nd->tid));
	nd->sock = sock;
	nd->to = *to;
	nd->has_change = change >= 0;
	nd->change = change >= 0 ? (uint32_t)change : 0;
	nd->expect_from = expect_from ? *expect_from : (struct zt_addr){ 0 };
	nd->sent = 0;
	nd->silent = silent;
	nd->max_sent = silent ? nd->cfg.rc_silent : nd->cfg.rc;
	nd->rm = silent ? nd->cfg.rm_silent : nd->cfg.rm;
	nd->rto = nd->cfg.rto;
	/* RFC 5780 s5: no more than ten new transactions per second */
	nd->next_send = now;
	if (nd->started_any && nd->last_start + ZT_NATDISC_PACE > now)
		nd->next_send = nd->last_start + ZT_NATDISC_PACE;
	nd->fail_at = ZT_TIME_NEVER;
}

static void set_error(struct zt_natdisc *nd, int err, int stun_code)
{
	if (!nd->res.error) {
		nd->res.error = err;
		nd->res.stun_error = stun_code;
	}
}

static enum zt_nat_type classify(const struct zt_natdisc_result *r)
{
	if (!addr_set(&r->mapped))
		return ZT_NAT_TYPE_UNKNOWN;
	if (!r->nat) {
		switch (r->filtering) {
		case ZT_NAT_ENDPOINT_INDEPENDENT:
			return ZT_NAT_TYPE_OPEN;
		case ZT_NAT_ADDRESS_DEPENDENT:
		case ZT_NAT_ADDRESS_PORT_DEPENDENT:
			return ZT_NAT_TYPE_FIREWALL;
		default:
			return ZT_NAT_TYPE_UNKNOWN;
		}
	}
	switch (r->mapping) {
	case ZT_NAT_ADDRESS_DEPENDENT:
	case ZT_NAT_ADDRESS_PORT_DEPENDENT:
		return ZT_NAT_TYPE_SYMMETRIC;
	case ZT_NAT_ENDPOINT_INDEPENDENT:
		break;
	default:
		return ZT_NAT_TYPE_UNKNOWN;
	}
	switch (r->filtering) {
	case ZT_NAT_ENDPOINT_INDEPENDENT:
		return ZT_NAT_TYPE_FULL_CONE;
	case ZT_NAT_ADDRESS_DEPENDENT:
		return ZT_NAT_TYPE_ADDRESS_RESTRICTED;
	case ZT_NAT_ADDRESS_PORT_DEPENDENT:
		return ZT_NAT_TYPE_PORT_RESTRICTED;
	default:
		return ZT_NAT_TYPE_UNKNOWN;
	}
}

static void finish(struct zt_natdisc *nd)
{
	nd->phase = PH_DONE;
	if (nd->res.type != ZT_NAT_TYPE_UDP_BLOCKED)
		nd->res.type = classify(&nd->res);
	nd->res.done = true;
}

static unsigned sample_socket(const struct zt_natdisc *nd, unsigned k)
{
	(void)nd;
	return ZT_NATDISC_SOCKET_SAMPLE0 + k;
}

static unsigned probe_socket(const struct zt_natdisc *nd, unsigned k)
{
	return ZT_NATDISC_SOCKET_SAMPLE0 + nd->cfg.n_port_samples + k;
}

static void start_lifetime(struct zt_natdisc *nd, uint64_t now);

/* The next test after the one of phase `done` that applies, or the end. */
static void next_stage(struct zt_natdisc *nd, uint64_t now, enum phase done)
{
	/* RFC 5780 s4.5: socket 1 sends to socket 0's mapped address */
	if (done < PH_HAIRPIN && nd->cfg.n_sockets == 2 && nd->res.nat) {
		start_tx(nd, now, PH_HAIRPIN, 1, &nd->res.mapped, -1, NULL, true);
		return;
	}
	if (done < PH_PORTS && nd->cfg.n_port_samples && nd->res.nat) {
		nd->k = 0;
		start_tx(nd, now, PH_PORTS, sample_socket(nd, 0), &nd->cfg.server, -1, NULL, false);
		return;
	}
	if (done < PH_LT_OPEN && nd->cfg.n_lifetime_probes && nd->res.nat) {
		start_lifetime(nd, now);
		return;
	}
	finish(nd);
}

/* RFC 5780 s4.3 test II: the alternate IP address, the primary port. */
static void start_mapping(struct zt_natdisc *nd, uint64_t now)
{
	struct zt_addr to = nd->res.other;

	if (!nd->res.nat) {
		nd->res.mapping = ZT_NAT_ENDPOINT_INDEPENDENT;
		next_stage(nd, now, PH_MAP_III);
		return;
	}
	to.port = nd->cfg.server.port;
	start_tx(nd, now, PH_MAP_II, 0, &to, -1, NULL, false);
}

static void on_test1(struct zt_natdisc *nd, uint64_t now, const struct outcome *o)
{
	switch (o->kind) {
	case OUT_TIMEOUT:
		nd->res.type = ZT_NAT_TYPE_UDP_BLOCKED;
		finish(nd);
		return;
	case OUT_ERROR:
		set_error(nd, o->err, o->stun_code);
		finish(nd);
		return;
	case OUT_OK:
		break;
	}
	nd->res.mapped = o->mapped;
	nd->res.nat = !is_local(nd, &o->mapped);
	if (!addr_set(&o->other)) {
		/* RFC 5780 s4.3: without OTHER-ADDRESS the tests cannot be run */
		if (!nd->res.nat)
			nd->res.mapping = ZT_NAT_ENDPOINT_INDEPENDENT;
		next_stage(nd, now, PH_MAP_III);
		return;
	}
	nd->res.rfc5780 = true;
	nd->res.other = o->other;
	/* s4.4 test II: change IP and port; the answer must come from A2:P2 */
	start_tx(nd, now, PH_FILTER_II, 0, &nd->cfg.server, ZT_STUN_CHANGE_IP | ZT_STUN_CHANGE_PORT,
		 &nd->res.other, true);
}

static void on_filter(struct zt_natdisc *nd, uint64_t now, const struct outcome *o,
		      bool test2)
{
	struct zt_addr a1p2 = nd->cfg.server;

	switch (o->kind) {
	case OUT_OK:
		if (!zt_addr_equal(&o->from, &nd->expect_from)) {
			/* the server did not send from where CHANGE-REQUEST asked */
			set_error(nd, ZT_EPEER, 0);
			break;
		}
		nd->res.filtering = test2 ? ZT_NAT_ENDPOINT_INDEPENDENT : ZT_NAT_ADDRESS_DEPENDENT;
		break;
	case OUT_ERROR:
		/* typically 420: the server does not do CHANGE-REQUEST (RFC 5780 s5) */
		set_error(nd, o->err, o->stun_code);
		break;
	case OUT_TIMEOUT:
		if (!test2) {
			nd->res.filtering = ZT_NAT_ADDRESS_PORT_DEPENDENT;
			break;
		}
		/* s4.4 test III: change port only; the answer must come from A1:P2 */
		a1p2.port = nd->res.other.port;
		start_tx(nd, now, PH_FILTER_III, 0, &nd->cfg.server, ZT_STUN_CHANGE_PORT, &a1p2, true);
		return;
	}
	start_mapping(nd, now);
}

static void on_mapping(struct zt_natdisc *nd, uint64_t now, const struct outcome *o,
		       bool test2)
{
	if (o->kind != OUT_OK) {
		set_error(nd, o->kind == OUT_TIMEOUT ? ZT_ETIMEOUT : o->err, o->stun_code);
		next_stage(nd, now, PH_MAP_III);
		return;
	}
	if (test2) {
		nd->res.mapped2 = o->mapped;
		if (zt_addr_equal(&o->mapped, &nd->res.mapped)) {
			nd->res.mapping = ZT_NAT_ENDPOINT_INDEPENDENT;
		} else {
			/* s4.3 test III: the alternate address and port */
			start_tx(nd, now, PH_MAP_III, 0, &nd->res.other, -1, NULL, false);
			return;
		}
	} else {
		nd->res.mapped3 = o->mapped;
		nd->res.mapping = zt_addr_equal(&o->mapped, &nd->res.mapped2)
					  ? ZT_NAT_ADDRESS_DEPENDENT
					  : ZT_NAT_ADDRESS_PORT_DEPENDENT;
	}
	next_stage(nd, now, PH_MAP_III);
}

/* Test 5: one sample answered (or not); the next, or the pattern. */
static void on_sample(struct zt_natdisc *nd, uint64_t now, const struct outcome *o)
{
	struct zt_natdisc_result *r = &nd->res;

	/* a lost sample is left out: the deltas around it are still small if sequential */
	if (o->kind == OUT_OK) {
		r->port_local[r->port_samples] = nd->cfg.local[nd->sock].port;
		r->port_mapped[r->port_samples++] = o->mapped.port;
	}
	if (++nd->k < nd->cfg.n_port_samples) {
		start_tx(nd, now, PH_PORTS, sample_socket(nd, nd->k), &nd->cfg.server, -1, NULL,
			 false);
		return;
	}
	r->ports = zt_natdisc_port_pattern(r->port_local, r->port_mapped, r->port_samples);
	next_stage(nd, now, PH_PORTS);
}

/* Test 6: which check tells a live mapping from a new one here (header, test 6). */
static enum zt_natdisc_lt_method lifetime_method(const struct zt_natdisc_result *r)
{
	if (r->ports == ZT_NAT_PORTS_RANDOM || r->ports == ZT_NAT_PORTS_SEQUENTIAL)
		return ZT_NATDISC_LT_PORT;
	if (r->ports == ZT_NAT_PORTS_PRESERVE && r->rfc5780 &&
	    r->mapping == ZT_NAT_ENDPOINT_INDEPENDENT &&
	    (r->filtering == ZT_NAT_ADDRESS_DEPENDENT ||
	     r->filtering == ZT_NAT_ADDRESS_PORT_DEPENDENT))
		return ZT_NATDISC_LT_FILTER;
	return ZT_NATDISC_LT_NONE;
}

static void lifetime_next(struct zt_natdisc *nd, uint64_t now);

static void start_lifetime(struct zt_natdisc *nd, uint64_t now)
{
	nd->res.lifetime_method = lifetime_method(&nd->res);
	if (nd->res.lifetime_method == ZT_NATDISC_LT_NONE) {
		nd->res.lifetime = nd->res.ports == ZT_NAT_PORTS_UNKNOWN ?
					   ZT_NATDISC_LIFETIME_FAILED : ZT_NATDISC_LIFETIME_UNMEASURABLE;
		finish(nd);
		return;
	}
	nd->k = 0;
	nd->check_k = 0;
	lifetime_next(nd, now);
}

/* When probe k (open) is due for its check: (k + 1) steps after its mapping. */
static uint64_t check_due(const struct zt_natdisc *nd, unsigned k)
{
	uint64_t step = nd->cfg.lifetime_max / nd->cfg.n_lifetime_probes;

	return nd->probe[k].at + (uint64_t)(k + 1) * step;
}

static void start_check(struct zt_natdisc *nd, uint64_t now)
{
	unsigned k = nd->check_k;
	uint64_t due = check_due(nd, k);

	if (nd->res.lifetime_method == ZT_NATDISC_LT_PORT) {
		start_tx(nd, now, PH_LT_CHECK, probe_socket(nd, k), &nd->cfg.server, -1, NULL, false);
	} else {
		/* to A2:P2, answer from A1:P1, which only the old mapping's filter admits */
		start_tx(nd, now, PH_LT_CHECK, probe_socket(nd, k), &nd->res.other,
			 ZT_STUN_CHANGE_IP | ZT_STUN_CHANGE_PORT, &nd->cfg.server, true);
	}
	if (nd->next_send < due)
		nd->next_send = due;
}

/*
 * The next lifetime transaction: probes are opened one after another (nd->k) and
 * checked in order (nd->check_k) as they come due; a check due before the next open
 * could start goes first, so short lifetimes are not hidden behind the openings.
 */
static void lifetime_next(struct zt_natdisc *nd, uint64_t now)
{
	struct zt_natdisc_result *r = &nd->res;
	unsigned n = nd->cfg.n_lifetime_probes;

	while (nd->check_k < nd->k && !nd->probe[nd->check_k].open)
		nd->check_k++;
	if (nd->check_k < nd->k &&
	    (nd->k == n || check_due(nd, nd->check_k) <= now + ZT_NATDISC_PACE)) {
		start_check(nd, now);
	} else if (nd->k < n) {
		start_tx(nd, now, PH_LT_OPEN, probe_socket(nd, nd->k), &nd->cfg.server, -1, NULL,
			 false);
	} else {
		r->lifetime = r->lifetime_alive ? ZT_NATDISC_LIFETIME_ABOVE : ZT_NATDISC_LIFETIME_FAILED;
		finish(nd);
	}
}

static void on_probe_open(struct zt_natdisc *nd, uint64_t now, const struct outcome *o)
{
	if (o->kind == OUT_OK) {
		nd->probe[nd->k].open = true;
		nd->probe[nd->k].mapped = o->mapped;
		nd->probe[nd->k].at = now;
	}
	nd->k++;
	lifetime_next(nd, now);
}

static void on_probe_check(struct zt_natdisc *nd, uint64_t now, const struct outcome *o)
{
	struct zt_natdisc_result *r = &nd->res;
	uint64_t idle = nd->last_start - nd->probe[nd->check_k].at;
	bool alive;

	if (r->lifetime_method == ZT_NATDISC_LT_PORT) {
		if (o->kind != OUT_OK) {
			set_error(nd, o->kind == OUT_TIMEOUT ? ZT_ETIMEOUT : o->err, o->stun_code);
			r->lifetime = ZT_NATDISC_LIFETIME_FAILED;
			finish(nd);
			return;
		}
		alive = zt_addr_equal(&o->mapped, &nd->probe[nd->check_k].mapped);
	} else if (o->kind == OUT_ERROR ||
		   (o->kind == OUT_OK && !zt_addr_equal(&o->from, &nd->expect_from))) {
		/* an error answer, or CHANGE-REQUEST not honoured */
		set_error(nd, o->kind == OUT_ERROR ? o->err : ZT_EPEER, o->stun_code);
		r->lifetime = ZT_NATDISC_LIFETIME_FAILED;
		finish(nd);
		return;
	} else {
		alive = o->kind == OUT_OK;
	}
	if (!alive) {
		r->lifetime_gone = idle;
		r->lifetime = ZT_NATDISC_LIFETIME_MEASURED;
		finish(nd);
		return;
	}
	/* a check delayed by a lost answer may have idled longer than a later one */
	if (idle > r->lifetime_alive)
		r->lifetime_alive = idle;
	nd->check_k++;
	lifetime_next(nd, now);
}

static void advance(struct zt_natdisc *nd, uint64_t now, const struct outcome *o)
{
	switch (nd->phase) {
	case PH_TEST1:
		on_test1(nd, now, o);
		break;
	case PH_FILTER_II:
	case PH_FILTER_III:
		on_filter(nd, now, o, nd->phase == PH_FILTER_II);
		break;
	case PH_MAP_II:
	case PH_MAP_III:
		on_mapping(nd, now, o, nd->phase == PH_MAP_II);
		break;
	case PH_HAIRPIN:
		nd->res.hairpin = o->kind == OUT_OK ? ZT_NAT_HAIRPIN_YES : ZT_NAT_HAIRPIN_NO;
		next_stage(nd, now, PH_HAIRPIN);
		break;
	case PH_PORTS:
		on_sample(nd, now, o);
		break;
	case PH_LT_OPEN:
		on_probe_open(nd, now, o);
		break;
	case PH_LT_CHECK:
		on_probe_check(nd, now, o);
		break;
	case PH_DONE:
		break;
	}
}

/* The sample and probe sockets, and the lifetime test's limits. */
static bool tests_5_6_valid(const struct zt_natdisc_cfg *cfg)
{
	unsigned s = cfg->n_port_samples, p = cfg->n_lifetime_probes;

	if (s && (s < ZT_NATDISC_MIN_PORT_SAMPLES || s > ZT_NATDISC_MAX_PORT_SAMPLES))
		return false;
	if (p && (p < ZT_NATDISC_MIN_LIFETIME_PROBES || p > ZT_NATDISC_MAX_LIFETIME_PROBES ||
		  !s || cfg->lifetime_max < p || cfg->lifetime_max > ZT_NATDISC_MAX_LIFETIME))
		return false;
	for (unsigned i = 0; i < s + p; i++)
		if (!addr_set(&cfg->local[ZT_NATDISC_SOCKET_SAMPLE0 + i]))
			return false;
	return true;
}

int zt_natdisc_new(const struct zt_natdisc_cfg *cfg, struct zt_natdisc **ret)
{
	struct zt_natdisc *nd;

	if (!addr_set(&cfg->server) || cfg->server.port == 0 || !addr_set(&cfg->local[0]) ||
	    (cfg->n_sockets != 1 && cfg->n_sockets != 2) ||
	    (cfg->n_sockets == 2 && !addr_set(&cfg->local[1])) || !cfg->rng.fill ||
	    cfg->n_host_ips > ZT_NATDISC_MAX_HOST_IPS || !tests_5_6_valid(cfg))
		return -EINVAL;
	nd = calloc(1, sizeof(*nd));
	if (!nd)
		return -ENOMEM;
	nd->cfg = *cfg;
	nd->n_socks = cfg->n_port_samples ?
			      ZT_NATDISC_SOCKET_SAMPLE0 + cfg->n_port_samples + cfg->n_lifetime_probes :
			      cfg->n_sockets;
	if (!nd->cfg.rto)
		nd->cfg.rto = ZT_NATDISC_RTO;
	if (!nd->cfg.rc)
		nd->cfg.rc = ZT_NATDISC_RC;
	if (!nd->cfg.rm)
		nd->cfg.rm = ZT_NATDISC_RM;
	if (!nd->cfg.rc_silent)
		nd->cfg.rc_silent = ZT_NATDISC_RC_SILENT;
	if (!nd->cfg.rm_silent)
		nd->cfg.rm_silent = ZT_NATDISC_RM_SILENT;
	/* RFC 5780 s4.2 / test I, due at the first poll */
	start_tx(nd, 0, PH_TEST1, 0, &cfg->server, -1, NULL, false);
	*ret = nd;
	return 0;
}

void zt_natdisc_free(struct zt_natdisc *nd)
{
	free(nd);
}

int zt_natdisc_poll_send(struct zt_natdisc *nd, uint64_t now, uint8_t *buf, size_t cap,
			 unsigned *ret_socket, struct zt_addr *ret_to)
{
	struct zt_stun_builder b;
	int n;

	if (nd->phase == PH_DONE || nd->sent >= nd->max_sent || now < nd->next_send)
		return 0;
	zt_stun_build_init(&b, buf, cap, ZT_STUN_BINDING, ZT_STUN_REQUEST, nd->tid);
	if (nd->has_change)
		zt_stun_put_u32(&b, ZT_STUN_ATTR_CHANGE_REQUEST, nd->change);
	zt_stun_put_fingerprint(&b);
	n = zt_stun_build_finish(&b);
	if (n < 0)
		return n;
	if (nd->sent == 0) {
		nd->started_any = true;
		nd->last_start = now;
	}
	if (!nd->silent)
		nd->res.requests++;
	/* RFC 8489 s6.2.1: RTO, doubling; Rm * RTO after the last of Rc transmissions */
	if (++nd->sent < nd->max_sent) {
		nd->next_send = now + nd->rto;
		nd->rto *= 2;
	} else {
		nd->next_send = ZT_TIME_NEVER;
		nd->fail_at = now + nd->rm * nd->cfg.rto;
	}
	*ret_socket = nd->sock;
	*ret_to = nd->to;
	return n;
}

/* The server answered the transaction in flight: the loss and round-trip counts. */
static void count_answer(struct zt_natdisc *nd, uint64_t now)
{
	struct zt_natdisc_result *r = &nd->res;

	if (!nd->silent)
		r->answers++;
	if (nd->sent == 1 && r->rtt_samples < ZT_NATDISC_MAX_RTT_SAMPLES && now >= nd->last_start)
		r->rtt[r->rtt_samples++] = now - nd->last_start;
}

int zt_natdisc_recv(struct zt_natdisc *nd, uint64_t now, unsigned socket,
		    const struct zt_addr *from, const uint8_t *buf, size_t len)
{
	struct zt_stun_msg m;
	struct outcome o = { .kind = OUT_OK };
	int rc;

	if (socket >= nd->n_socks)
		return -EINVAL;
	if (nd->phase == PH_DONE || nd->sent == 0)
		return ZT_ESTATE;
	rc = zt_stun_decode(&m, buf, len);
	if (rc < 0)
		return rc;
	if (memcmp(m.tid, nd->tid, sizeof(nd->tid)) != 0 || m.method != ZT_STUN_BINDING)
		return ZT_ESTATE;
	if (nd->phase == PH_HAIRPIN) {
		/* our own request, delivered by the NAT to socket 0 */
		if (socket != 0 || m.cls != ZT_STUN_REQUEST)
			return ZT_ESTATE;
		advance(nd, now, &o);
		return 0;
	}
	if (socket != nd->sock)
		return ZT_ESTATE;
	if (m.cls == ZT_STUN_ERROR) {
		const char *reason;
		size_t reason_len;

		o.kind = OUT_ERROR;
		o.err = ZT_EPEER;
		if (zt_stun_get_error(&m, &o.stun_code, &reason, &reason_len) < 0)
			o.stun_code = 0;
	} else if (m.cls == ZT_STUN_SUCCESS) {
		if (m.n_unknown) {
			/* RFC 8489 s7.3.3: discarded, and the transaction has failed */
			o.kind = OUT_ERROR;
			o.err = ZT_ESTUN_UNKNOWN_REQ;
		} else if (zt_stun_get_addr(&m, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, &o.mapped) < 0 &&
			   zt_stun_get_addr(&m, ZT_STUN_ATTR_MAPPED_ADDRESS, &o.mapped) < 0) {
			o.kind = OUT_ERROR;
			o.err = ZT_EMALFORMED;
		} else {
			if (zt_stun_get_addr(&m, ZT_STUN_ATTR_OTHER_ADDRESS, &o.other) < 0)
				o.other = (struct zt_addr){ 0 };
			o.from = *from;
		}
	} else {
		return ZT_ESTATE;
	}
	count_answer(nd, now);
	advance(nd, now, &o);
	return 0;
}

uint64_t zt_natdisc_next_deadline(const struct zt_natdisc *nd)
{
	if (nd->phase == PH_DONE)
		return ZT_TIME_NEVER;
	return nd->sent < nd->max_sent ? nd->next_send : nd->fail_at;
}

void zt_natdisc_on_timeout(struct zt_natdisc *nd, uint64_t now)
{
	struct outcome o = { .kind = OUT_TIMEOUT };

	if (nd->phase == PH_DONE || nd->sent < nd->max_sent || now < nd->fail_at)
		return;
	advance(nd, now, &o);
}

const struct zt_natdisc_result *zt_natdisc_result(const struct zt_natdisc *nd)
{
	return &nd->res;
}

const char *zt_natdisc_type_name(enum zt_nat_type type)
{
	switch (type) {
	case ZT_NAT_TYPE_UDP_BLOCKED: return "udp-blocked";
	case ZT_NAT_TYPE_OPEN: return "open";
	case ZT_NAT_TYPE_FIREWALL: return "firewall";
	case ZT_NAT_TYPE_FULL_CONE: return "full-cone";
	case ZT_NAT_TYPE_ADDRESS_RESTRICTED: return "address-restricted";
	case ZT_NAT_TYPE_PORT_RESTRICTED: return "port-restricted";
	case ZT_NAT_TYPE_SYMMETRIC: return "symmetric";
	default: return "unknown";
	}
}

const char *zt_natdisc_behavior_name(enum zt_nat_behavior b)
{
	switch (b) {
	case ZT_NAT_ENDPOINT_INDEPENDENT: return "endpoint-independent";
	case ZT_NAT_ADDRESS_DEPENDENT: return "address-dependent";
	case ZT_NAT_ADDRESS_PORT_DEPENDENT: return "address-and-port-dependent";
	default: return "unknown";
	}
}

const char *zt_natdisc_hairpin_name(enum zt_nat_hairpin h)
{
	switch (h) {
	case ZT_NAT_HAIRPIN_YES: return "yes";
	case ZT_NAT_HAIRPIN_NO: return "no";
	default: return "unknown";
	}
}

enum zt_nat_ports zt_natdisc_port_pattern(const uint16_t *local, const uint16_t *mapped,
					  unsigned n)
{
	bool preserve = true, sequential = true;

	if (n < ZT_NATDISC_MIN_PORT_SAMPLES)
		return ZT_NAT_PORTS_UNKNOWN;
	for (unsigned i = 0; i < n; i++) {
		if (mapped[i] != local[i])
			preserve = false;
		if (i > 0) {
			uint16_t d = (uint16_t)(mapped[i] - mapped[i - 1]);

			if (d < 1 || d > ZT_NATDISC_SEQ_MAX_STEP)
				sequential = false;
		}
	}
	if (preserve)
		return ZT_NAT_PORTS_PRESERVE;
	return sequential ? ZT_NAT_PORTS_SEQUENTIAL : ZT_NAT_PORTS_RANDOM;
}

const char *zt_natdisc_ports_name(enum zt_nat_ports p)
{
	switch (p) {
	case ZT_NAT_PORTS_PRESERVE: return "preserve";
	case ZT_NAT_PORTS_SEQUENTIAL: return "sequential";
	case ZT_NAT_PORTS_RANDOM: return "random";
	default: return "unknown";
	}
}

const char *zt_natdisc_lifetime_name(enum zt_natdisc_lifetime l)
{
	switch (l) {
	case ZT_NATDISC_LIFETIME_MEASURED: return "measured";
	case ZT_NATDISC_LIFETIME_ABOVE: return "above-max";
	case ZT_NATDISC_LIFETIME_UNMEASURABLE: return "not-measurable";
	case ZT_NATDISC_LIFETIME_FAILED: return "failed";
	default: return "untested";
	}
}

const char *zt_natdisc_lt_method_name(enum zt_natdisc_lt_method m)
{
	switch (m) {
	case ZT_NATDISC_LT_PORT: return "port";
	case ZT_NATDISC_LT_FILTER: return "filter";
	default: return "none";
	}
}
