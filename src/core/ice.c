#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/err.h"
#include "core/ice.h"
#include "core/portpred.h"
#include "core/stun.h"
#include "core/units.h"

#define RESPONSE_QUEUE 16
#define EVENT_QUEUE 16
#define TRIGGER_QUEUE ZT_ICE_MAX_PAIRS
#define KEEPALIVE_RTO (200 * ZT_MS)
#define KEEPALIVE_MAX_TX 4
#define PREPAID_MAX 2
#define MTU_PROBE_TX 3
/* MESSAGE-INTEGRITY and FINGERPRINT, which follow the PADDING of a probe */
#define PROBE_TAIL (4 + ZT_STUN_HMAC_SHA1_LEN + 8)

enum pair_state {
	PAIR_WAITING = 0,
	PAIR_IN_PROGRESS = 1,
	PAIR_SUCCEEDED = 2,
	PAIR_FAILED = 3,
};

struct ice_pair {
	uint8_t local;               /* index into ice->local (a host candidate) */
	uint8_t remote;              /* index into ice->remote */
	uint8_t state;               /* enum pair_state */
	bool queued;                 /* in the triggered-check queue */
	bool nominate_on_success;    /* controlled: USE-CANDIDATE seen before our check succeeded */
	bool in_flight;
	bool tried;                  /* a check went out: tid and first_tx are set */
	bool tx_use_candidate;       /* the transaction in flight carries USE-CANDIDATE */
	uint64_t priority;
	uint8_t tid[ZT_STUN_TID_LEN];
	uint64_t first_tx;           /* first transmission of this pair's checks */
	uint64_t next_tx;            /* when to retransmit */
	uint64_t rto;
	uint32_t charged;            /* budget tokens its checks took (refunded on an answer) */
	bool heard;                  /* an authenticated request came from its remote */
	uint8_t prepaid;             /* checks paid for by authenticated requests from its
					remote (one each, at most PREPAID_MAX saved) */
};

/* A path-MTU probe on the selected pair (ice.h, Path MTU). */
struct ice_mtu_probe {
	uint8_t tid[ZT_STUN_TID_LEN];
	uint16_t size;               /* UDP payload it confirms; 0: unused slot */
	uint8_t ntx;
	bool answered, lost;
	uint64_t next_tx;            /* the next try; after the last, when it is lost */
};

struct ice_response {
	struct zt_addr local, remote;
	uint16_t len;
	uint8_t buf[160];
};

struct zt_ice {
	struct zt_ice_config cfg;
	bool controlling;
	char local_ufrag[ZT_ICE_UFRAG_MAX + 1], local_pwd[ZT_ICE_PWD_MAX + 1];
	char remote_ufrag[ZT_ICE_UFRAG_MAX + 1], remote_pwd[ZT_ICE_PWD_MAX + 1];
	char software[64];
	enum zt_ice_state state;
	bool started;                /* zt_ice_start() called */
	bool remote_done;
	uint64_t start_at;
	uint64_t next_check;         /* Ta pacing of new checks */
	uint64_t blocked_until;      /* no new check affordable before (the budget) */

	struct zt_cand local[ZT_ICE_MAX_LOCAL];
	size_t nlocal;
	struct zt_cand remote[ZT_ICE_MAX_REMOTE];
	bool answered[ZT_ICE_MAX_REMOTE]; /* a check to it succeeded (or it is trusted) */
	size_t nremote, nsignalled;
	struct ice_pair pairs[ZT_ICE_MAX_PAIRS];
	size_t npairs;
	int selected;                /* index into pairs, or -1 */

	uint16_t trig[TRIGGER_QUEUE]; /* pair indices; rebuilt when pairs are re-sorted */
	size_t trig_head, trig_len;

	struct ice_response resp[RESPONSE_QUEUE];
	size_t resp_head, resp_len;

	struct zt_ice_event events[EVENT_QUEUE];
	size_t ev_head, ev_len;

	/* consent freshness on the selected pair */
	uint64_t ka_interval, consent_timeout;
	uint64_t next_keepalive, last_alive;
	bool ka_in_flight;
	bool consent_lost;           /* FAILED because the selected pair died */
	unsigned revivals;
	uint8_t ka_tid[ZT_STUN_TID_LEN];
	unsigned ka_ntx;
	uint64_t ka_next_tx;

	/* path MTU of the selected pair */
	struct ice_mtu_probe probes[ZT_ICE_MTU_PROBES];
	size_t mtu;                  /* the largest size confirmed */
	bool mtu_final;              /* no larger probe pending */

	struct zt_ice_stats stats;
};

static const char ice_chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static bool valid_ice_string(const char *s, size_t min, size_t max)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	return n >= min && n <= max && strspn(s, ice_chars) == n;
}

/* cfg.mtu_probe: sizes 1200..1500, largest first, then zeros. */
static bool valid_probes(const uint16_t *sizes)
{
	for (size_t i = 0; i < ZT_ICE_MTU_PROBES; i++) {
		if (!sizes[i]) {
			for (; i < ZT_ICE_MTU_PROBES; i++)
				if (sizes[i])
					return false;
			return true;
		}
		if (sizes[i] < 1200 || sizes[i] > 1500 || (i && sizes[i] >= sizes[i - 1]))
			return false;
	}
	return true;
}

int zt_ice_new(struct zt_ice **ret, const struct zt_ice_config *cfg)
{
	struct zt_ice *ice;

	/* RFC 8445 s5.3: ufrag >= 4, pwd >= 22 ice-chars. */
	if (!cfg->rng.fill || !valid_ice_string(cfg->local_ufrag, 4, ZT_ICE_UFRAG_MAX) ||
	    !valid_ice_string(cfg->local_pwd, 22, ZT_ICE_PWD_MAX) || !valid_probes(cfg->mtu_probe))
		return -EINVAL;
	ice = calloc(1, sizeof(*ice));
	if (!ice)
		return -ENOMEM;
	ice->cfg = *cfg;
	ice->cfg.local_ufrag = ice->local_ufrag;
	ice->cfg.local_pwd = ice->local_pwd;
	snprintf(ice->local_ufrag, sizeof(ice->local_ufrag), "%s", cfg->local_ufrag);
	snprintf(ice->local_pwd, sizeof(ice->local_pwd), "%s", cfg->local_pwd);
	if (cfg->software)
		snprintf(ice->software, sizeof(ice->software), "%s", cfg->software);
	ice->cfg.software = NULL;
	if (!ice->cfg.ta)
		ice->cfg.ta = 20 * ZT_MS;
	if (!ice->cfg.rto_initial)
		ice->cfg.rto_initial = 100 * ZT_MS;
	if (!ice->cfg.rto_max)
		ice->cfg.rto_max = 400 * ZT_MS;
	if (!ice->cfg.fail_timeout)
		ice->cfg.fail_timeout = 5 * ZT_SEC;
	if (!ice->cfg.keepalive_interval)
		ice->cfg.keepalive_interval = 15 * ZT_SEC;
	if (!ice->cfg.consent_timeout)
		ice->cfg.consent_timeout = 30 * ZT_SEC;
	if (!ice->cfg.max_remote || ice->cfg.max_remote > ZT_ICE_MAX_REMOTE)
		ice->cfg.max_remote = ZT_ICE_MAX_REMOTE;
	ice->ka_interval = ice->cfg.keepalive_interval;
	ice->consent_timeout = ice->cfg.consent_timeout;
	ice->controlling = cfg->controlling;
	ice->selected = -1;
	*ret = ice;
	return 0;
}

void zt_ice_free(struct zt_ice *ice)
{
	free(ice);
}

static void push_event(struct zt_ice *ice, enum zt_ice_event_type type, int pair_idx)
{
	struct zt_ice_event *ev;

	if (ice->ev_len == EVENT_QUEUE) {
		/* drop the oldest: the state getters stay authoritative */
		ice->ev_head = (ice->ev_head + 1) % EVENT_QUEUE;
		ice->ev_len--;
	}
	ev = &ice->events[(ice->ev_head + ice->ev_len++) % EVENT_QUEUE];
	*ev = (struct zt_ice_event){ .type = type, .controlling = ice->controlling };
	if (pair_idx >= 0) {
		struct ice_pair *p = &ice->pairs[pair_idx];
		ev->pair.local = ice->local[p->local];
		ev->pair.remote = ice->remote[p->remote];
		ev->pair.priority = p->priority;
	}
}

int zt_ice_poll_event(struct zt_ice *ice, struct zt_ice_event *ev)
{
	if (!ice->ev_len)
		return 0;
	*ev = ice->events[ice->ev_head];
	ice->ev_head = (ice->ev_head + 1) % EVENT_QUEUE;
	ice->ev_len--;
	return 1;
}

/* ---- pairs ---- */

static uint64_t pair_priority(const struct zt_ice *ice, const struct ice_pair *p)
{
	uint32_t l = ice->local[p->local].priority, r = ice->remote[p->remote].priority;

	/* RFC 8445 s6.1.2.3: G is the controlling agent's candidate priority. */
	return ice->controlling ? zt_cand_pair_priority(l, r) : zt_cand_pair_priority(r, l);
}

static int cmp_pairs(const struct ice_pair *a, const struct ice_pair *b)
{
	if (a->priority != b->priority)
		return a->priority > b->priority ? -1 : 1;
	if (a->local != b->local)
		return a->local < b->local ? -1 : 1;
	return a->remote < b->remote ? -1 : (a->remote > b->remote);
}

/* Keeps pairs in checklist order; the selected index and trigger queue follow. */
static void sort_pairs(struct zt_ice *ice)
{
	struct ice_pair sel;
	bool have_sel = ice->selected >= 0;
	uint16_t queued[TRIGGER_QUEUE] = { 0 };
	struct ice_pair qp[TRIGGER_QUEUE];
	size_t nq = 0;

	if (have_sel)
		sel = ice->pairs[ice->selected];
	for (size_t i = 0; i < ice->trig_len; i++)
		qp[nq++] = ice->pairs[ice->trig[(ice->trig_head + i) % TRIGGER_QUEUE]];
	/* insertion sort: at most 100 pairs, usually nearly sorted */
	for (size_t i = 1; i < ice->npairs; i++) {
		struct ice_pair t = ice->pairs[i];
		size_t j = i;
		while (j > 0 && cmp_pairs(&t, &ice->pairs[j - 1]) < 0) {
			ice->pairs[j] = ice->pairs[j - 1];
			j--;
		}
		ice->pairs[j] = t;
	}
	for (size_t i = 0; i < ice->npairs; i++) {
		const struct ice_pair *p = &ice->pairs[i];
		if (have_sel && p->local == sel.local && p->remote == sel.remote)
			ice->selected = (int)i;
		for (size_t k = 0; k < nq; k++)
			if (p->local == qp[k].local && p->remote == qp[k].remote)
				queued[k] = (uint16_t)i;
	}
	ice->trig_head = 0;
	for (size_t k = 0; k < nq; k++)
		ice->trig[k] = queued[k];
}

static int find_pair(const struct zt_ice *ice, size_t l, size_t r)
{
	for (size_t i = 0; i < ice->npairs; i++)
		if (ice->pairs[i].local == l && ice->pairs[i].remote == r)
			return (int)i;
	return -1;
}

/* Adds the pair (l, r) unless present. Returns its index, or -1 when it does not fit. */
static int add_pair(struct zt_ice *ice, size_t l, size_t r)
{
	struct ice_pair p = { .local = (uint8_t)l, .remote = (uint8_t)r, .state = PAIR_WAITING };
	int idx = find_pair(ice, l, r);

	if (idx >= 0)
		return idx;
	p.priority = pair_priority(ice, &p);
	if (ice->npairs == ZT_ICE_MAX_PAIRS) {
		/* replace the lowest-priority pair that is not doing anything */
		size_t last = ice->npairs - 1;
		struct ice_pair *lo = &ice->pairs[last];
		if (cmp_pairs(&p, lo) >= 0 || lo->in_flight || lo->queued || (int)last == ice->selected)
			return -1;
		*lo = p;
	} else {
		ice->pairs[ice->npairs++] = p;
	}
	ice->blocked_until = 0; /* a new pair may be affordable */
	sort_pairs(ice);
	return find_pair(ice, l, r);
}

static bool pairable(const struct zt_cand *l, const struct zt_cand *r)
{
	/* UDP only: a TCP candidate (the TCP direct path's) is not checked here */
	return l->type == ZT_CAND_HOST && r->type != ZT_CAND_RELAY &&
	       l->transport == ZT_CAND_UDP && r->transport == ZT_CAND_UDP &&
	       l->addr.family == r->addr.family && l->component == r->component;
}

/* Whether local[l] is the first host candidate of its family: the one predicted
 * candidates pair with (each pair from another host would be one more new mapping on
 * a sequential NAT of ours, out of the schedule). */
static bool first_host(const struct zt_ice *ice, size_t l)
{
	for (size_t i = 0; i < l; i++)
		if (ice->local[i].type == ZT_CAND_HOST &&
		    ice->local[i].addr.family == ice->local[l].addr.family)
			return false;
	return true;
}

static void pair_all(struct zt_ice *ice)
{
	for (size_t l = 0; l < ice->nlocal; l++)
		for (size_t r = 0; r < ice->nremote; r++)
			if (pairable(&ice->local[l], &ice->remote[r]) &&
			    (!ice->remote[r].predicted || first_host(ice, l)))
				add_pair(ice, l, r);
}

/* ---- candidates ---- */

int zt_ice_add_local(struct zt_ice *ice, const struct zt_cand *c)
{
	int rc = zt_cand_check(c);

	if (rc < 0)
		return rc;
	for (size_t i = 0; i < ice->nlocal; i++)
		if (ice->local[i].type == c->type && zt_addr_equal(&ice->local[i].addr, &c->addr))
			return 0;
	if (ice->nlocal == ZT_ICE_MAX_LOCAL)
		return ZT_ECAND_LIMIT;
	ice->local[ice->nlocal++] = *c;
	if (c->type == ZT_CAND_HOST)
		pair_all(ice);
	return 0;
}

size_t zt_ice_local_cands(const struct zt_ice *ice, struct zt_cand *out, size_t cap)
{
	size_t n = ice->nlocal < cap ? ice->nlocal : cap;

	memcpy(out, ice->local, n * sizeof(*out));
	return n;
}

int zt_ice_set_remote_credentials(struct zt_ice *ice, const char *ufrag, const char *pwd)
{
	if (!ufrag || !pwd || !*ufrag || !*pwd || strlen(ufrag) > ZT_ICE_UFRAG_MAX ||
	    strlen(pwd) > ZT_ICE_PWD_MAX || strchr(ufrag, ':'))
		return -EINVAL;
	snprintf(ice->remote_ufrag, sizeof(ice->remote_ufrag), "%s", ufrag);
	snprintf(ice->remote_pwd, sizeof(ice->remote_pwd), "%s", pwd);
	return 0;
}

static int find_remote(const struct zt_ice *ice, const struct zt_addr *a)
{
	for (size_t i = 0; i < ice->nremote; i++)
		if (zt_addr_equal(&ice->remote[i].addr, a))
			return (int)i;
	return -1;
}

int zt_ice_add_remote(struct zt_ice *ice, const struct zt_cand *c)
{
	int rc = zt_cand_check(c), idx;

	if (rc < 0)
		return rc;
	idx = find_remote(ice, &c->addr);
	if (idx >= 0) {
		/* RFC 8445 s7.3.1.3: a signalled candidate replaces a peer-reflexive one. */
		if (ice->remote[idx].type == ZT_CAND_PRFLX && c->type != ZT_CAND_PRFLX) {
			ice->remote[idx] = *c;
			ice->nsignalled++;
			for (size_t i = 0; i < ice->npairs; i++)
				ice->pairs[i].priority = pair_priority(ice, &ice->pairs[i]);
			sort_pairs(ice);
		}
		return 0;
	}
	if (ice->nremote == ZT_ICE_MAX_REMOTE || ice->nsignalled >= ice->cfg.max_remote) {
		ice->stats.remote_limited++;
		return ZT_ECAND_LIMIT;
	}
	ice->answered[ice->nremote] = ice->cfg.trusted.family && zt_addr_equal(&c->addr, &ice->cfg.trusted);
	ice->remote[ice->nremote++] = *c;
	ice->nsignalled += c->type != ZT_CAND_PRFLX;
	pair_all(ice);
	return 0;
}

void zt_ice_remote_done(struct zt_ice *ice)
{
	ice->remote_done = true;
}

int zt_ice_start(struct zt_ice *ice, uint64_t at)
{
	if (!ice->remote_pwd[0])
		return -EINVAL;
	ice->started = true;
	ice->start_at = at;
	if (ice->next_check < at)
		ice->next_check = at;
	if (ice->state == ZT_ICE_NEW)
		ice->state = ZT_ICE_CHECKING;
	if (!ice->stats.start_time)
		ice->stats.start_time = at;
	return 0;
}

/* ---- selection and consent ---- */

/* Probing ends once no probe larger than the confirmed size is pending. */
static void mtu_settle(struct zt_ice *ice)
{
	if (ice->mtu_final)
		return;
	for (size_t i = 0; i < ZT_ICE_MTU_PROBES; i++) {
		const struct ice_mtu_probe *pr = &ice->probes[i];
		if (pr->size > ice->mtu && !pr->answered && !pr->lost)
			return;
	}
	ice->mtu_final = true;
	if (ice->cfg.mtu_probe[0])
		push_event(ice, ZT_ICE_EV_PATH_MTU, ice->selected);
}

/* RFC 8899 s5.2 SEARCH, all sizes at once: a pair just selected is probed. */
static void mtu_start(struct zt_ice *ice, uint64_t now)
{
	ice->mtu = 0;
	ice->mtu_final = false;
	for (size_t i = 0; i < ZT_ICE_MTU_PROBES; i++) {
		struct ice_mtu_probe *pr = &ice->probes[i];
		*pr = (struct ice_mtu_probe){ .size = ice->cfg.mtu_probe[i], .next_tx = now };
		if (pr->size)
			zt_rng_fill(&ice->cfg.rng, pr->tid, sizeof(pr->tid));
	}
}

static void select_pair(struct zt_ice *ice, uint64_t now, int idx)
{
	if (ice->selected == idx)
		return;
	ice->selected = idx;
	ice->state = ZT_ICE_CONNECTED;
	if (!ice->stats.selected_time)
		ice->stats.selected_time = now;
	ice->last_alive = now;
	ice->next_keepalive = now + ice->ka_interval;
	ice->ka_in_flight = false;
	/* stop ordinary checks: the first nominated pair wins */
	for (size_t i = 0; i < ice->npairs; i++)
		ice->pairs[i].in_flight = false;
	ice->trig_len = 0;
	for (size_t i = 0; i < ice->npairs; i++)
		ice->pairs[i].queued = false;
	push_event(ice, ZT_ICE_EV_SELECTED, idx);
	mtu_start(ice, now);
	mtu_settle(ice);
}

/* The next consent check no sooner than 9/8 of an interval after t, a proof of the
 * path (peer_alive below: the eighth lets the connection's own keepalive go first). */
static void defer_check(struct zt_ice *ice, uint64_t t)
{
	uint64_t next = t + ice->ka_interval + ice->ka_interval / 8;

	if (ice->next_keepalive < next)
		ice->next_keepalive = next;
}

void zt_ice_set_keepalive(struct zt_ice *ice, uint64_t now, uint64_t interval, uint64_t timeout)
{
	bool longer = interval > ice->ka_interval;

	if (interval)
		ice->ka_interval = interval;
	if (timeout && timeout != ice->consent_timeout) {
		/* A shorter timeout must not condemn a path that was merely idle under the
		 * longer one: it starts counting with a grace of two intervals. */
		if (timeout < ice->consent_timeout && ice->selected >= 0 &&
		    ice->last_alive + timeout < now + 2 * ice->ka_interval)
			ice->last_alive = now + 2 * ice->ka_interval - timeout;
		ice->consent_timeout = timeout;
	}
	if (ice->selected >= 0 && ice->next_keepalive > now + ice->ka_interval)
		ice->next_keepalive = now + ice->ka_interval;
	/* a longer interval counts from the last proof of the path: the checks of the
	 * shorter one, due soon, are not needed any more */
	if (longer && ice->selected >= 0)
		defer_check(ice, ice->last_alive);
}

/* Authenticated traffic from the peer on the selected pair: its own consent check, or
 * a packet of the connection on the pair (zt_ice_note_alive). It proves consent as
 * the answer to our check would (RFC 7675 s5.1 asks for the answer to a fresh
 * request; a packet that only the peer can have made, from that address, shows as
 * much), and it was an answer or was answered, so both NATs saw a packet go out.
 * With `defer`, our next check waits another interval after it, plus an eighth so
 * that the connection's keepalive on the same interval, or the peer's check, goes
 * first: an idle path costs one exchange per interval, not one per end. The peer's
 * checks defer only the controlled end's (ends deferring each other's would stay in
 * step and both check). */
static void peer_alive(struct zt_ice *ice, uint64_t now, bool defer)
{
	if (now > ice->last_alive)
		ice->last_alive = now;
	if (defer)
		defer_check(ice, now);
}

void zt_ice_note_alive(struct zt_ice *ice, uint64_t now)
{
	if (ice->selected >= 0)
		peer_alive(ice, now, true);
}

/* ---- sending ---- */

static void queue_trigger(struct zt_ice *ice, int idx)
{
	struct ice_pair *p = &ice->pairs[idx];

	if (p->queued || ice->trig_len == TRIGGER_QUEUE)
		return;
	p->queued = true;
	ice->trig[(ice->trig_head + ice->trig_len++) % TRIGGER_QUEUE] = (uint16_t)idx;
	ice->blocked_until = 0;
}

/* ---- the budget (RFC 8445 s19.5.1, RFC 7675: see ice.h) ---- */

static bool unbudgeted(const struct zt_ice *ice, const struct ice_pair *p)
{
	return ice->answered[p->remote] || (!ice->cfg.session_budget && !ice->cfg.budget);
}

/* Pays for one check on p. Returns false (nothing sent may follow) when a budget is
 * empty. */
static bool charge(struct zt_ice *ice, uint64_t now, struct ice_pair *p)
{
	if (unbudgeted(ice, p))
		return true;
	if (p->prepaid) {
		p->prepaid--;
		return true;
	}
	if (!zt_check_budget_take(ice->cfg.budget, ice->cfg.session_budget, now,
				  &ice->remote[p->remote].addr)) {
		ice->stats.checks_deferred++;
		return false;
	}
	p->charged++;
	return true;
}

/* When a check on p could be paid for (> now when it cannot be now). */
static uint64_t affordable_at(const struct zt_ice *ice, uint64_t now, const struct ice_pair *p)
{
	uint64_t t;

	if (unbudgeted(ice, p) || p->prepaid)
		return now;
	t = zt_check_budget_when(ice->cfg.budget, ice->cfg.session_budget, now,
				 &ice->remote[p->remote].addr);
	return t > now ? t : now + ZT_MS;
}

/* p's remote answered a check: it is free from now on, and its tokens come back. */
static void answered(struct zt_ice *ice, struct ice_pair *p)
{
	if (!ice->answered[p->remote])
		ice->blocked_until = 0;
	ice->answered[p->remote] = true;
	zt_check_budget_refund(ice->cfg.budget, ice->cfg.session_budget,
			       &ice->remote[p->remote].addr, p->charged);
	p->charged = 0;
}

/* A Binding request; pad_to: a path-MTU probe of that many bytes at least (rounded up
 * to 4), else 0. */
static int build_request(struct zt_ice *ice, const struct zt_cand *local, const uint8_t *tid,
			 bool use_candidate, size_t pad_to, uint8_t *buf, size_t cap)
{
	struct zt_stun_builder b;
	char username[ZT_ICE_UFRAG_MAX * 2 + 2];
	/* RFC 8445 s7.1.1: PRIORITY is what a peer-reflexive candidate from this base gets. */
	uint32_t prio = zt_cand_priority(ZT_CAND_PRFLX, (uint16_t)(local->priority >> 8), local->component);

	snprintf(username, sizeof(username), "%s:%s", ice->remote_ufrag, ice->local_ufrag);
	zt_stun_build_init(&b, buf, cap, ZT_STUN_BINDING, ZT_STUN_REQUEST, tid);
	zt_stun_put_str(&b, ZT_STUN_ATTR_USERNAME, username);
	if (ice->software[0])
		zt_stun_put_str(&b, ZT_STUN_ATTR_SOFTWARE, ice->software);
	zt_stun_put_u32(&b, ZT_STUN_ATTR_PRIORITY, prio);
	zt_stun_put_u64(&b, ice->controlling ? ZT_STUN_ATTR_ICE_CONTROLLING : ZT_STUN_ATTR_ICE_CONTROLLED,
			ice->cfg.tie_breaker);
	if (use_candidate)
		zt_stun_put_raw(&b, ZT_STUN_ATTR_USE_CANDIDATE, NULL, 0);
	/* RFC 5780 s7.6, before the integrity attributes so that they cover it */
	if (pad_to && ((pad_to + 3) & ~(size_t)3) > b.w.off + 4 + PROBE_TAIL)
		zt_stun_put_padding(&b, ((pad_to + 3) & ~(size_t)3) - b.w.off - 4 - PROBE_TAIL);
	zt_stun_put_integrity(&b, (const uint8_t *)ice->remote_pwd, strlen(ice->remote_pwd));
	zt_stun_put_fingerprint(&b);
	return zt_stun_build_finish(&b);
}

void zt_ice_set_fail_timeout(struct zt_ice *ice, uint64_t fail_timeout)
{
	if (fail_timeout)
		ice->cfg.fail_timeout = fail_timeout;
}

int zt_ice_build_probe(struct zt_ice *ice, uint8_t *buf, size_t cap)
{
	uint8_t tid[ZT_STUN_TID_LEN];
	struct zt_cand base = { .priority = zt_cand_priority(ZT_CAND_HOST, 65535, 1), .component = 1 };
	int n;

	if (!ice->remote_pwd[0])
		return -EAGAIN;
	for (size_t i = 0; i < ice->nlocal; i++)
		if (ice->local[i].type == ZT_CAND_HOST) {
			base = ice->local[i];
			break;
		}
	zt_rng_fill(&ice->cfg.rng, tid, sizeof(tid));
	n = build_request(ice, &base, tid, false, 0, buf, cap);
	return n < 0 ? -ENOBUFS : n;
}

static int send_check(struct zt_ice *ice, uint64_t now, int idx, bool retransmit, uint8_t *buf,
		      size_t cap, struct zt_addr *ret_local, struct zt_addr *ret_remote)
{
	struct ice_pair *p = &ice->pairs[idx];
	int n;

	if (!retransmit) {
		zt_rng_fill(&ice->cfg.rng, p->tid, sizeof(p->tid));
		p->tx_use_candidate = ice->controlling;
		p->in_flight = true;
		p->rto = ice->cfg.rto_initial;
		if (!p->tried)
			p->first_tx = now;
		p->tried = true;
		if (p->state != PAIR_SUCCEEDED)
			p->state = PAIR_IN_PROGRESS;
	}
	n = build_request(ice, &ice->local[p->local], p->tid, p->tx_use_candidate, 0, buf, cap);
	if (n < 0)
		return n;
	if (retransmit) {
		ice->stats.retransmits++;
		p->rto = p->rto * 2 > ice->cfg.rto_max ? ice->cfg.rto_max : p->rto * 2;
	} else {
		ice->stats.checks_sent++;
	}
	p->next_tx = now + p->rto;
	*ret_local = ice->local[p->local].addr;
	*ret_remote = ice->remote[p->remote].addr;
	return n;
}

/* The next try of a path-MTU probe of the selected pair that is due, or 0. */
static int send_mtu_probe(struct zt_ice *ice, uint64_t now, uint8_t *buf, size_t cap,
			  struct zt_addr *ret_local, struct zt_addr *ret_remote)
{
	const struct ice_pair *p = &ice->pairs[ice->selected];

	if (ice->mtu_final)
		return 0;
	for (size_t i = 0; i < ZT_ICE_MTU_PROBES; i++) {
		struct ice_mtu_probe *pr = &ice->probes[i];
		int n;

		if (pr->size <= ice->mtu || pr->answered || pr->lost || pr->ntx >= MTU_PROBE_TX ||
		    now < pr->next_tx)
			continue;
		n = build_request(ice, &ice->local[p->local], pr->tid, false, pr->size, buf, cap);
		if (n < 0) {
			pr->lost = true; /* cap too small: as good as lost */
			mtu_settle(ice);
			continue;
		}
		pr->ntx++;
		pr->next_tx = now + ice->cfg.rto_initial;
		ice->stats.mtu_probes_sent++;
		*ret_local = ice->local[p->local].addr;
		*ret_remote = ice->remote[p->remote].addr;
		return n;
	}
	return 0;
}

static bool may_check(const struct zt_ice *ice)
{
	/* Triggered and ordinary checks need the peer's password; after selection only
	 * consent checks run. Before zt_ice_start(), only triggered checks go out. */
	return ice->remote_pwd[0] && ice->state != ZT_ICE_CONNECTED && ice->state != ZT_ICE_FAILED;
}

static int next_waiting(const struct zt_ice *ice)
{
	for (size_t i = 0; i < ice->npairs; i++)
		if (ice->pairs[i].state == PAIR_WAITING && !ice->pairs[i].in_flight)
			return (int)i;
	return -1;
}

/* The waiting pair with a predicted remote candidate that is next in the schedule
 * (core/portpred.h zt_portpred_rank), or -1. */
static int next_predicted(const struct zt_ice *ice)
{
	unsigned best_rank = UINT_MAX;
	int best = -1;

	for (size_t i = 0; i < ice->npairs; i++) {
		const struct ice_pair *p = &ice->pairs[i];
		unsigned k = ice->remote[p->remote].predicted, rank;

		if (!k || p->state != PAIR_WAITING || p->in_flight)
			continue;
		rank = zt_portpred_rank(k, ice->controlling, ice->cfg.predicting);
		if (rank < best_rank) {
			best_rank = rank;
			best = (int)i;
		}
	}
	return best;
}

/*
 * The next new check, paid for: triggered first (s6.1.4.2), then the pairs with
 * predicted remote candidates in the schedule's order, then ordinary ones in
 * checklist order. One whose address has no budget now waits (a triggered one goes to
 * the back of its queue) and the next goes first, except that nothing goes before a
 * predicted pair waiting for the budget when we predict too: each check of ours to a
 * new address takes our NAT's next port, so the order is the schedule.
 * Returns the pair or -1 (then blocked_until says when one could be paid for).
 */
static int pick_new(struct zt_ice *ice, uint64_t now)
{
	uint64_t until = ZT_TIME_NEVER, t;
	int idx;

	for (size_t k = 0, n = ice->trig_len; k < n; k++) {
		idx = ice->trig[ice->trig_head];
		ice->trig_head = (ice->trig_head + 1) % TRIGGER_QUEUE;
		ice->trig_len--;
		if (charge(ice, now, &ice->pairs[idx])) {
			ice->pairs[idx].queued = false;
			return idx;
		}
		ice->trig[(ice->trig_head + ice->trig_len++) % TRIGGER_QUEUE] = (uint16_t)idx;
		if ((t = affordable_at(ice, now, &ice->pairs[idx])) < until)
			until = t;
	}
	if (ice->started && now >= ice->start_at && (idx = next_predicted(ice)) >= 0) {
		if (charge(ice, now, &ice->pairs[idx]))
			return idx;
		if ((t = affordable_at(ice, now, &ice->pairs[idx])) < until)
			until = t;
		if (ice->cfg.predicting) {
			ice->blocked_until = until;
			return -1;
		}
	}
	if (ice->started && now >= ice->start_at) {
		for (size_t i = 0; i < ice->npairs; i++) {
			struct ice_pair *p = &ice->pairs[i];
			if (p->state != PAIR_WAITING || p->in_flight)
				continue;
			if (charge(ice, now, p))
				return (int)i;
			if ((t = affordable_at(ice, now, p)) < until)
				until = t;
		}
	}
	ice->blocked_until = until == ZT_TIME_NEVER ? 0 : until;
	return -1;
}

int zt_ice_poll_send(struct zt_ice *ice, uint64_t now, uint8_t *buf, size_t cap,
		     struct zt_addr *ret_local, struct zt_addr *ret_remote)
{
	/* 1. responses, at once */
	if (ice->resp_len) {
		struct ice_response *r = &ice->resp[ice->resp_head];
		if (cap < r->len)
			return -ENOBUFS;
		memcpy(buf, r->buf, r->len);
		*ret_local = r->local;
		*ret_remote = r->remote;
		ice->resp_head = (ice->resp_head + 1) % RESPONSE_QUEUE;
		ice->resp_len--;
		return r->len;
	}
	if (may_check(ice)) {
		/* 2. retransmissions on their own timers (RFC 8489 s6.2.1), until the pair
		 * gives up */
		for (size_t i = 0; i < ice->npairs; i++) {
			struct ice_pair *p = &ice->pairs[i];
			if (!p->in_flight || p->next_tx > now || now >= p->first_tx + ice->cfg.fail_timeout)
				continue;
			if (!charge(ice, now, p)) {
				/* no budget: this retransmission is skipped, the next is due as
				 * if it had gone out */
				p->rto = p->rto * 2 > ice->cfg.rto_max ? ice->cfg.rto_max : p->rto * 2;
				p->next_tx = now + p->rto;
				continue;
			}
			return send_check(ice, now, (int)i, true, buf, cap, ret_local, ret_remote);
		}
		/* 3. one new check per Ta: triggered first (s6.1.4.2), then ordinary */
		if (now >= ice->next_check && now >= ice->blocked_until) {
			int idx = pick_new(ice, now);
			if (idx >= 0) {
				ice->next_check = now + ice->cfg.ta;
				return send_check(ice, now, idx, false, buf, cap, ret_local, ret_remote);
			}
		}
	}
	/* 4. consent checks on the selected pair */
	if (ice->state == ZT_ICE_CONNECTED && ice->selected >= 0) {
		struct ice_pair *p = &ice->pairs[ice->selected];
		bool due_new = !ice->ka_in_flight && now >= ice->next_keepalive;
		bool due_re = ice->ka_in_flight && now >= ice->ka_next_tx;
		if (due_new || due_re) {
			int n;
			if (due_new) {
				zt_rng_fill(&ice->cfg.rng, ice->ka_tid, sizeof(ice->ka_tid));
				ice->ka_in_flight = true;
				ice->ka_ntx = 0;
				ice->next_keepalive = now + ice->ka_interval;
				ice->stats.keepalives_sent++;
			} else {
				ice->stats.retransmits++;
			}
			/* the controlling side keeps USE-CANDIDATE on, so a controlled peer that
			 * picked another pair converges on this one */
			n = build_request(ice, &ice->local[p->local], ice->ka_tid, ice->controlling,
					  0, buf, cap);
			if (n < 0)
				return n;
			ice->ka_ntx++;
			ice->ka_next_tx = now + KEEPALIVE_RTO * ice->ka_ntx;
			/* after the last try, answers still match ka_tid until the next keepalive */
			if (ice->ka_ntx >= KEEPALIVE_MAX_TX)
				ice->ka_in_flight = false;
			*ret_local = ice->local[p->local].addr;
			*ret_remote = ice->remote[p->remote].addr;
			return n;
		}
		/* 5. path-MTU probes (ice.h, Path MTU) */
		return send_mtu_probe(ice, now, buf, cap, ret_local, ret_remote);
	}
	return 0;
}

uint64_t zt_ice_next_deadline(const struct zt_ice *ice)
{
	uint64_t d = ZT_TIME_NEVER;

#define EARLIER(t) do { if ((t) < d) d = (t); } while (0)
	if (ice->resp_len)
		return 0;
	if (ice->state == ZT_ICE_CHECKING && ice->started)
		EARLIER(ice->start_at + ice->cfg.fail_timeout);
	if (may_check(ice)) {
		for (size_t i = 0; i < ice->npairs; i++) {
			const struct ice_pair *p = &ice->pairs[i];
			if (p->in_flight) {
				if (ice->cfg.fail_timeout + p->first_tx > p->next_tx)
					EARLIER(p->next_tx);
				EARLIER(p->first_tx + ice->cfg.fail_timeout);
			}
		}
		if (ice->trig_len || (ice->started && next_waiting(ice) >= 0)) {
			uint64_t t = ice->next_check;
			if (!ice->trig_len && t < ice->start_at)
				t = ice->start_at;
			if (t < ice->blocked_until)
				t = ice->blocked_until;
			EARLIER(t);
		}
	}
	if (ice->state == ZT_ICE_CONNECTED && ice->selected >= 0) {
		if (ice->ka_in_flight)
			EARLIER(ice->ka_next_tx);
		else
			EARLIER(ice->next_keepalive);
		EARLIER(ice->last_alive + ice->consent_timeout);
		for (size_t i = 0; i < ZT_ICE_MTU_PROBES && !ice->mtu_final; i++) {
			const struct ice_mtu_probe *pr = &ice->probes[i];
			if (pr->size > ice->mtu && !pr->answered && !pr->lost)
				EARLIER(pr->next_tx);
		}
	}
#undef EARLIER
	return d;
}

static void fail(struct zt_ice *ice)
{
	ice->state = ZT_ICE_FAILED;
	for (size_t i = 0; i < ice->npairs; i++)
		ice->pairs[i].in_flight = false;
	push_event(ice, ZT_ICE_EV_FAILED, -1);
}

static void check_all_failed(struct zt_ice *ice)
{
	if (ice->state != ZT_ICE_CHECKING || !ice->remote_done || !ice->npairs)
		return;
	for (size_t i = 0; i < ice->npairs; i++)
		if (ice->pairs[i].state != PAIR_FAILED)
			return;
	fail(ice);
}

void zt_ice_on_timeout(struct zt_ice *ice, uint64_t now)
{
	/* a check unanswered for fail_timeout is over; one triggered before the start
	 * (ZT_ICE_NEW) leaves its pair to the start's checks (zt_ice_next_deadline counts
	 * it while it flies: left in flight, its time stayed due) */
	for (size_t i = 0; may_check(ice) && i < ice->npairs; i++) {
		struct ice_pair *p = &ice->pairs[i];
		if (p->in_flight && now >= p->first_tx + ice->cfg.fail_timeout) {
			p->in_flight = false;
			if (p->state == PAIR_IN_PROGRESS)
				p->state = ice->state == ZT_ICE_NEW ? PAIR_WAITING : PAIR_FAILED;
		}
	}
	if (ice->state == ZT_ICE_CHECKING) {
		if (ice->started && now >= ice->start_at + ice->cfg.fail_timeout) {
			fail(ice);
			return;
		}
		check_all_failed(ice);
	}
	if (ice->state == ZT_ICE_CONNECTED && now >= ice->last_alive + ice->consent_timeout) {
		int sel = ice->selected;
		ice->state = ZT_ICE_FAILED;
		ice->consent_lost = true;
		ice->ka_in_flight = false;
		push_event(ice, ZT_ICE_EV_CONSENT_LOST, sel);
	}
	if (ice->state == ZT_ICE_CONNECTED && !ice->mtu_final) {
		for (size_t i = 0; i < ZT_ICE_MTU_PROBES; i++) {
			struct ice_mtu_probe *pr = &ice->probes[i];
			if (pr->size && !pr->answered && pr->ntx >= MTU_PROBE_TX && now >= pr->next_tx)
				pr->lost = true;
		}
		mtu_settle(ice);
	}
}

/* ---- receiving ---- */

static void queue_response(struct zt_ice *ice, const struct zt_addr *local,
			   const struct zt_addr *remote, const uint8_t *buf, int len)
{
	struct ice_response *r;

	if (len <= 0 || (size_t)len > sizeof(r->buf) || ice->resp_len == RESPONSE_QUEUE)
		return; /* a full queue drops: the peer retransmits */
	r = &ice->resp[(ice->resp_head + ice->resp_len++) % RESPONSE_QUEUE];
	r->local = *local;
	r->remote = *remote;
	r->len = (uint16_t)len;
	memcpy(r->buf, buf, (size_t)len);
}

static void respond_error(struct zt_ice *ice, const struct zt_stun_msg *m, int code,
			  const struct zt_addr *local, const struct zt_addr *from)
{
	uint8_t out[160];
	struct zt_stun_builder b;

	zt_stun_build_init(&b, out, sizeof(out), ZT_STUN_BINDING, ZT_STUN_ERROR, m->tid);
	zt_stun_put_error(&b, code, NULL);
	zt_stun_put_integrity(&b, (const uint8_t *)ice->local_pwd, strlen(ice->local_pwd));
	zt_stun_put_fingerprint(&b);
	queue_response(ice, local, from, out, zt_stun_build_finish(&b));
}

static void switch_role(struct zt_ice *ice)
{
	ice->controlling = !ice->controlling;
	ice->stats.role_conflicts++;
	for (size_t i = 0; i < ice->npairs; i++)
		ice->pairs[i].priority = pair_priority(ice, &ice->pairs[i]);
	sort_pairs(ice);
	push_event(ice, ZT_ICE_EV_ROLE_CHANGE, -1);
}

/* The host candidate whose address a packet arrived at, added if it is new (a wildcard
 * socket can receive on an address that was not gathered). Returns its index or -1. */
static int local_for(struct zt_ice *ice, const struct zt_addr *local)
{
	struct zt_cand c = { .type = ZT_CAND_HOST, .component = 1 };

	for (size_t i = 0; i < ice->nlocal; i++)
		if (ice->local[i].type == ZT_CAND_HOST && zt_addr_equal(&ice->local[i].addr, local))
			return (int)i;
	if (ice->nlocal == ZT_ICE_MAX_LOCAL)
		return -1;
	c.addr = *local;
	c.priority = zt_cand_priority(ZT_CAND_HOST, (uint16_t)(65535 - ice->nlocal), 1);
	if (zt_cand_foundation(c.foundation, ZT_CAND_HOST, local, NULL) < 0)
		return -1;
	ice->local[ice->nlocal++] = c;
	return (int)ice->nlocal - 1;
}

/* RFC 8445 s7.3: USERNAME is "our-ufrag:their-ufrag"; the peer's ufrag may not be
 * known yet (its check can overtake its candidates), so the prefix decides. Then
 * MESSAGE-INTEGRITY with our password. Returns 0 or the error (counted). */
static int authenticate(struct zt_ice *ice, const struct zt_stun_msg *m)
{
	char expect[ZT_ICE_UFRAG_MAX + 2];
	const uint8_t *user;
	size_t user_len, plen;
	int rc;

	if (zt_stun_get_bytes(m, ZT_STUN_ATTR_USERNAME, &user, &user_len) < 0) {
		ice->stats.dropped_auth++;
		return ZT_ESTUN_USERNAME;
	}
	plen = (size_t)snprintf(expect, sizeof(expect), "%s:", ice->local_ufrag);
	if (user_len <= plen || memcmp(user, expect, plen) != 0 ||
	    (ice->remote_ufrag[0] && (user_len - plen != strlen(ice->remote_ufrag) ||
				      memcmp(user + plen, ice->remote_ufrag, user_len - plen)))) {
		ice->stats.dropped_auth++;
		return ZT_ESTUN_USERNAME;
	}
	rc = zt_stun_check_integrity(m, (const uint8_t *)ice->local_pwd, strlen(ice->local_pwd));
	if (rc < 0) {
		ice->stats.dropped_auth++;
		return rc;
	}
	return 0;
}

/* The pair a request arrived on, its source learned as a peer-reflexive candidate if
 * unknown (RFC 8445 s7.3.1.3) and the pair added if new. Returns its index, or -1
 * when a table is full. */
static int request_pair(struct zt_ice *ice, uint32_t prio, const struct zt_addr *local,
			const struct zt_addr *from)
{
	bool learned = false;
	int l, r, idx;

	r = find_remote(ice, from);
	if (r < 0) {
		struct zt_cand c = { .type = ZT_CAND_PRFLX, .component = 1, .priority = prio,
				     .addr = *from };
		if (zt_cand_foundation(c.foundation, ZT_CAND_PRFLX, from, NULL) < 0 ||
		    ice->nremote == ZT_ICE_MAX_REMOTE)
			return -1;
		ice->answered[ice->nremote] = ice->cfg.trusted.family && zt_addr_equal(from, &ice->cfg.trusted);
		ice->remote[ice->nremote++] = c;
		r = (int)ice->nremote - 1;
		ice->stats.prflx_learned++;
		learned = true;
	}
	l = local_for(ice, local);
	if (l < 0)
		return -1;
	idx = add_pair(ice, (size_t)l, (size_t)r);
	if (idx < 0)
		return -1;
	if (learned)
		push_event(ice, ZT_ICE_EV_PRFLX, idx);
	return idx;
}

/* A late peer: its checks began only after ours gave up (start skew, signaling
 * lost and resent). Its authenticated request proves it is checking now, so we
 * check back for another fail_timeout rather than leave the pair to the next
 * generation, a cooldown later. Not after consent loss: that path is dead. */
static void revive(struct zt_ice *ice, uint64_t now)
{
	if (ice->state != ZT_ICE_FAILED || ice->consent_lost || !ice->started ||
	    ice->revivals >= ZT_ICE_MAX_REVIVALS)
		return;
	ice->revivals++;
	ice->stats.revivals++;
	ice->state = ZT_ICE_CHECKING;
	ice->start_at = now;
	for (size_t i = 0; i < ice->npairs; i++) {
		if (ice->pairs[i].state == PAIR_SUCCEEDED)
			continue;
		ice->pairs[i].state = PAIR_WAITING;
		ice->pairs[i].tried = false;
		ice->pairs[i].in_flight = false;
	}
}

/* An authenticated request came from predicted candidate idx's address: the peer's NAT
 * gave that port, so the other predicted guesses were wrong; those neither answered
 * nor heard from stop (their checks would spend the address's budget the right pair
 * needs). */
static void prune_predicted(struct zt_ice *ice, int idx)
{
	for (size_t i = 0; i < ice->npairs; i++) {
		struct ice_pair *p = &ice->pairs[i];
		if ((int)i == idx || !ice->remote[p->remote].predicted || p->heard ||
		    p->state == PAIR_SUCCEEDED || p->state == PAIR_FAILED || p->queued)
			continue;
		p->state = PAIR_FAILED;
		p->in_flight = false;
		ice->stats.predicted_pruned++;
	}
}

/* RFC 8445 s7.3.1.4: triggered checks, and a nomination (USE-CANDIDATE) acted on */
static void triggered_check(struct zt_ice *ice, uint64_t now, int idx, bool use_cand)
{
	if (ice->state == ZT_ICE_CONNECTED || ice->state == ZT_ICE_FAILED) {
		/* after selection: a nomination on another valid pair moves us there */
		if (use_cand && ice->state == ZT_ICE_CONNECTED && ice->selected != idx &&
		    ice->pairs[idx].state == PAIR_SUCCEEDED)
			select_pair(ice, now, idx);
		return;
	}
	switch (ice->pairs[idx].state) {
	case PAIR_SUCCEEDED:
		if (use_cand)
			select_pair(ice, now, idx);
		break;
	case PAIR_IN_PROGRESS:
		if (use_cand)
			ice->pairs[idx].nominate_on_success = true;
		/* answer quickly: the hole is open now */
		if (ice->pairs[idx].in_flight && ice->pairs[idx].next_tx > now) {
			ice->pairs[idx].next_tx = now;
			ice->pairs[idx].rto = ice->cfg.rto_initial;
		}
		break;
	default: /* waiting or failed */
		if (use_cand)
			ice->pairs[idx].nominate_on_success = true;
		if (ice->pairs[idx].state == PAIR_FAILED)
			ice->pairs[idx].tried = false; /* a new chance: another fail_timeout */
		ice->pairs[idx].state = PAIR_WAITING;
		queue_trigger(ice, idx);
		break;
	}
}

static int handle_request(struct zt_ice *ice, uint64_t now, const struct zt_stun_msg *m,
			  const struct zt_addr *local, const struct zt_addr *from)
{
	uint32_t prio;
	uint64_t their_tb;
	bool they_control, use_cand;
	int rc, idx;
	uint8_t out[160];
	struct zt_stun_builder b;

	if (!m->fp_off || zt_stun_get_u32(m, ZT_STUN_ATTR_PRIORITY, &prio) < 0 || !prio) {
		ice->stats.dropped_malformed++;
		return ZT_EMALFORMED;
	}
	rc = authenticate(ice, m);
	if (rc < 0)
		return rc;
	if (zt_stun_check_known(m) < 0) {
		queue_response(ice, local, from, out, zt_stun_build_420(m, out, sizeof(out)));
		return 1;
	}
	ice->stats.requests_received++;

	/* RFC 8445 s7.3.1.1: role conflicts */
	they_control = zt_stun_get_u64(m, ZT_STUN_ATTR_ICE_CONTROLLING, &their_tb) == 0;
	if (!they_control && zt_stun_get_u64(m, ZT_STUN_ATTR_ICE_CONTROLLED, &their_tb) < 0) {
		ice->stats.dropped_malformed++;
		return ZT_EMALFORMED;
	}
	if (they_control == ice->controlling) {
		bool we_win = ice->cfg.tie_breaker >= their_tb;
		/* both controlling: the larger tie-breaker keeps controlling;
		 * both controlled: the larger tie-breaker becomes controlling */
		if ((ice->controlling && we_win) || (!ice->controlling && !we_win)) {
			ice->stats.role_conflicts++;
			respond_error(ice, m, ZT_STUN_ERR_ROLE_CONFLICT, local, from);
			return 1;
		}
		switch_role(ice);
	}

	/* success response: XOR-MAPPED-ADDRESS is where the request came from */
	zt_stun_build_init(&b, out, sizeof(out), ZT_STUN_BINDING, ZT_STUN_SUCCESS, m->tid);
	zt_stun_put_addr(&b, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, from);
	zt_stun_put_integrity(&b, (const uint8_t *)ice->local_pwd, strlen(ice->local_pwd));
	zt_stun_put_fingerprint(&b);
	queue_response(ice, local, from, out, zt_stun_build_finish(&b));

	idx = request_pair(ice, prio, local, from);
	if (idx < 0)
		return 1;
	use_cand = !ice->controlling && zt_stun_has(m, ZT_STUN_ATTR_USE_CANDIDATE);
	ice->pairs[idx].heard = true;
	if (ice->pairs[idx].prepaid < PREPAID_MAX)
		ice->pairs[idx].prepaid++; /* its check back is paid for (ice.h, Budget) */
	if (ice->remote[ice->pairs[idx].remote].predicted)
		prune_predicted(ice, idx);
	if (ice->selected == idx)
		peer_alive(ice, now, !ice->controlling);
	revive(ice, now);
	triggered_check(ice, now, idx, use_cand);
	return 1;
}

/* The index of the selected pair's path-MTU probe with this transaction ID, or -1. */
static int find_probe(const struct zt_ice *ice, const uint8_t *tid)
{
	if (ice->selected < 0)
		return -1;
	for (int i = 0; i < ZT_ICE_MTU_PROBES; i++)
		if (ice->probes[i].size && !memcmp(ice->probes[i].tid, tid, ZT_STUN_TID_LEN))
			return i;
	return -1;
}

/* An authenticated answer to a probe (success, or an error: either way the request
 * arrived whole) on the probe's own addresses confirms its size. */
static void mtu_answered(struct zt_ice *ice, uint64_t now, struct ice_mtu_probe *pr,
			 const struct ice_pair *p, const struct zt_addr *local,
			 const struct zt_addr *from)
{
	if (!zt_addr_equal(from, &ice->remote[p->remote].addr) ||
	    !zt_addr_equal(local, &ice->local[p->local].addr))
		return;
	ice->last_alive = now;
	if (pr->answered)
		return;
	pr->answered = true;
	ice->stats.mtu_probes_answered++;
	if (pr->size > ice->mtu)
		ice->mtu = pr->size;
	mtu_settle(ice);
}

static int handle_response(struct zt_ice *ice, uint64_t now, const struct zt_stun_msg *m,
			   const struct zt_addr *local, const struct zt_addr *from)
{
	struct ice_pair *p = NULL;
	struct ice_mtu_probe *probe = NULL;
	struct zt_addr mapped;
	int idx = -1, pi, rc;
	bool keepalive = false;

	for (size_t i = 0; i < ice->npairs; i++)
		if (ice->pairs[i].tried && !memcmp(ice->pairs[i].tid, m->tid, ZT_STUN_TID_LEN)) {
			idx = (int)i;
			break;
		}
	if (idx < 0 && ice->selected >= 0 && !memcmp(ice->ka_tid, m->tid, ZT_STUN_TID_LEN)) {
		idx = ice->selected;
		keepalive = true;
	}
	if (idx < 0 && (pi = find_probe(ice, m->tid)) >= 0) {
		probe = &ice->probes[pi];
		idx = ice->selected;
	}
	if (idx < 0) {
		ice->stats.dropped_unmatched++;
		return 1;
	}
	rc = zt_stun_check_integrity(m, (const uint8_t *)ice->remote_pwd, strlen(ice->remote_pwd));
	if (rc < 0) {
		ice->stats.dropped_auth++;
		return rc;
	}
	ice->stats.responses_received++;
	p = &ice->pairs[idx];
	if (probe) {
		mtu_answered(ice, now, probe, p, local, from);
		return 1;
	}

	if (keepalive) {
		if (m->cls == ZT_STUN_SUCCESS) {
			ice->ka_in_flight = false;
			ice->last_alive = now;
		}
		return 1;
	}
	if (!p->in_flight && p->state != PAIR_IN_PROGRESS && p->state != PAIR_SUCCEEDED)
		return 1; /* a late answer for a pair that already gave up */

	if (m->cls == ZT_STUN_ERROR) {
		int code = 0;
		const char *reason;
		size_t rlen;
		zt_stun_get_error(m, &code, &reason, &rlen);
		p->in_flight = false;
		if (code == ZT_STUN_ERR_ROLE_CONFLICT) {
			/* RFC 8445 s7.2.5.1: switch role and check the pair again (sorting
			 * moves pairs, so find it again by its candidates) */
			uint8_t l = p->local, r = p->remote;
			switch_role(ice);
			idx = find_pair(ice, l, r);
			ice->pairs[idx].state = PAIR_WAITING;
			queue_trigger(ice, idx);
		} else {
			p->state = PAIR_FAILED;
			check_all_failed(ice);
		}
		return 1;
	}
	/* RFC 8445 s7.2.5.2.1: the response must come back on the same addresses */
	if (!zt_addr_equal(from, &ice->remote[p->remote].addr) ||
	    !zt_addr_equal(local, &ice->local[p->local].addr)) {
		p->in_flight = false;
		p->state = PAIR_FAILED;
		check_all_failed(ice);
		return 1;
	}
	p->in_flight = false;
	p->state = PAIR_SUCCEEDED;
	answered(ice, p);
	/* s7.2.5.3.1: a new mapped address is a local peer-reflexive candidate, kept for
	 * signalling; checks keep going out from its base */
	if (zt_stun_get_addr(m, ZT_STUN_ATTR_XOR_MAPPED_ADDRESS, &mapped) == 0) {
		bool known = false;
		for (size_t i = 0; i < ice->nlocal; i++)
			known |= zt_addr_equal(&ice->local[i].addr, &mapped);
		if (!known && ice->nlocal < ZT_ICE_MAX_LOCAL) {
			struct zt_cand c = { .type = ZT_CAND_PRFLX, .component = 1, .addr = mapped,
					     .related = ice->local[p->local].addr };
			c.priority = zt_cand_priority(ZT_CAND_PRFLX,
						      (uint16_t)(ice->local[p->local].priority >> 8), 1);
			if (zt_cand_foundation(c.foundation, ZT_CAND_PRFLX, &c.related, NULL) >= 0)
				ice->local[ice->nlocal++] = c;
		}
	}
	if (ice->state == ZT_ICE_CHECKING || ice->state == ZT_ICE_NEW) {
		if ((ice->controlling && p->tx_use_candidate) ||
		    (!ice->controlling && p->nominate_on_success))
			select_pair(ice, now, idx);
	}
	return 1;
}

bool zt_ice_match(const struct zt_ice *ice, const uint8_t *buf, size_t len)
{
	struct zt_stun_msg m;
	const uint8_t *user;
	size_t ulen, plen = strlen(ice->local_ufrag);

	if (!zt_stun_looks_like(buf, len) || zt_stun_decode_header(&m, buf, len) < 0 ||
	    m.method != ZT_STUN_BINDING)
		return false;
	if (m.cls == ZT_STUN_SUCCESS || m.cls == ZT_STUN_ERROR) {
		for (size_t i = 0; i < ice->npairs; i++)
			if (ice->pairs[i].tried && !memcmp(ice->pairs[i].tid, m.tid, ZT_STUN_TID_LEN))
				return true;
		if (find_probe(ice, m.tid) >= 0)
			return true;
		return ice->selected >= 0 && !memcmp(ice->ka_tid, m.tid, ZT_STUN_TID_LEN);
	}
	if (m.cls != ZT_STUN_REQUEST || zt_stun_decode(&m, buf, len) < 0 ||
	    zt_stun_get_bytes(&m, ZT_STUN_ATTR_USERNAME, &user, &ulen) < 0)
		return false;
	return ulen > plen && !memcmp(user, ice->local_ufrag, plen) && user[plen] == ':';
}

int zt_ice_recv(struct zt_ice *ice, uint64_t now, const struct zt_addr *local,
		const struct zt_addr *from, const uint8_t *buf, size_t len)
{
	struct zt_stun_msg m;
	int rc;

	if (!zt_stun_looks_like(buf, len))
		return 0;
	rc = zt_stun_decode(&m, buf, len);
	if (rc < 0) {
		if (rc == ZT_ESTUN_FINGERPRINT)
			ice->stats.dropped_fingerprint++;
		else
			ice->stats.dropped_malformed++;
		return rc;
	}
	if (m.method != ZT_STUN_BINDING || m.cls == ZT_STUN_INDICATION)
		return 1; /* e.g. a consent indication: nothing to do */
	if (m.cls == ZT_STUN_REQUEST)
		return handle_request(ice, now, &m, local, from);
	return handle_response(ice, now, &m, local, from);
}

enum zt_ice_state zt_ice_state(const struct zt_ice *ice)
{
	return ice->state;
}

int zt_ice_selected(const struct zt_ice *ice, struct zt_cand_pair *ret)
{
	const struct ice_pair *p;

	if (ice->selected < 0)
		return -ENOENT;
	p = &ice->pairs[ice->selected];
	ret->local = ice->local[p->local];
	ret->remote = ice->remote[p->remote];
	ret->priority = p->priority;
	return 0;
}

size_t zt_ice_path_mtu(const struct zt_ice *ice, bool *ret_final)
{
	if (ret_final)
		*ret_final = ice->selected >= 0 && ice->mtu_final;
	return ice->selected >= 0 ? ice->mtu : 0;
}

bool zt_ice_controlling(const struct zt_ice *ice)
{
	return ice->controlling;
}

const struct zt_ice_stats *zt_ice_stats(const struct zt_ice *ice)
{
	return &ice->stats;
}

size_t zt_ice_pair_count(const struct zt_ice *ice)
{
	return ice->npairs;
}

const char *zt_ice_state_name(enum zt_ice_state s)
{
	switch (s) {
	case ZT_ICE_NEW: return "new";
	case ZT_ICE_CHECKING: return "checking";
	case ZT_ICE_CONNECTED: return "connected";
	case ZT_ICE_FAILED: return "failed";
	}
	return "?";
}
