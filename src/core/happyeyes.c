#include <errno.h>
#include <sys/socket.h>

#include "core/happyeyes.h"
#include "core/units.h"

void zt_he_order(const struct zt_addr *a, size_t n, size_t *order)
{
	size_t k = 0, i6 = 0, i4 = 0;

	/* RFC 8305 s4 and RFC 8421 s4: IPv6 first, then alternate families */
	for (int want = AF_INET6; k < n;) {
		size_t *at = want == AF_INET6 ? &i6 : &i4;
		while (*at < n && a[*at].family != want)
			(*at)++;
		if (*at < n) {
			order[k++] = (*at)++;
		} else {
			/* this family is used up: the other one's rest, then anything else */
			size_t *ot = want == AF_INET6 ? &i4 : &i6;
			int other = want == AF_INET6 ? AF_INET : AF_INET6;
			for (; *ot < n; (*ot)++)
				if (a[*ot].family == other)
					order[k++] = *ot;
			for (size_t i = 0; i < n; i++)
				if (a[i].family != AF_INET && a[i].family != AF_INET6)
					order[k++] = i;
			break;
		}
		want = want == AF_INET6 ? AF_INET : AF_INET6;
	}
}

void zt_he_init(struct zt_he *he, const struct zt_addr *addrs, size_t n, uint64_t delay)
{
	struct zt_addr uniq[ZT_HE_MAX] = { 0 };
	size_t order[ZT_HE_MAX] = { 0 }, m = 0;

	*he = (struct zt_he){ .delay = delay ? delay : ZT_HE_DELAY_DEFAULT,
			      .next_at = ZT_TIME_NEVER, .winner = -1 };
	for (size_t i = 0; i < n && m < ZT_HE_MAX; i++) {
		bool dup = !addrs[i].family;
		for (size_t j = 0; j < m && !dup; j++)
			dup = zt_addr_equal(&uniq[j], &addrs[i]);
		if (!dup)
			uniq[m++] = addrs[i];
	}
	zt_he_order(uniq, m, order);
	for (size_t i = 0; i < m; i++)
		he->addrs[i] = uniq[order[i]];
	he->n = m;
}

int zt_he_start(struct zt_he *he, uint64_t now)
{
	he->started = 0;
	he->winner = -1;
	he->failed = 0;
	he->next_at = ZT_TIME_NEVER;
	if (!he->n)
		return -ENOENT;
	he->started = 1;
	if (he->n > 1)
		he->next_at = now + he->delay;
	return 0;
}

int zt_he_due(struct zt_he *he, uint64_t now)
{
	if (he->winner >= 0 || he->started >= he->n || now < he->next_at)
		return -1;
	he->next_at = he->started + 1 < he->n ? now + he->delay : ZT_TIME_NEVER;
	return (int)he->started++;
}

bool zt_he_failed(struct zt_he *he, uint64_t now, int i)
{
	if (i < 0 || (size_t)i >= he->started || he->winner >= 0)
		return false;
	he->failed |= 1u << i;
	/* RFC 8305 s5: a failed attempt starts the next one without waiting */
	if (he->started < he->n) {
		he->next_at = now;
		return false;
	}
	return he->failed == (1u << he->started) - 1;
}

void zt_he_won(struct zt_he *he, int i)
{
	if (i < 0 || (size_t)i >= he->started)
		return;
	he->winner = i;
	he->next_at = ZT_TIME_NEVER;
}

uint64_t zt_he_next_deadline(const struct zt_he *he)
{
	return he->winner >= 0 || he->started >= he->n ? ZT_TIME_NEVER : he->next_at;
}
