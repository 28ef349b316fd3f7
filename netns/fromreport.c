#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/err.h"
#include "core/natreport.h"
#include "fromreport.h"
#include "io/file.h"

#define PROG "ztna-lab"
#define DEFAULT_TIMEOUT_S 120   /* the lab's default mapping timeout */
#define MIN_DELAY_US 100        /* a shorter one-way delay is not emulated */

/* Where a report's NAT, host and link go in the lab. */
struct side {
	const char *path;
	struct zt_natreport r;
	char nat[8], host[8];
	unsigned lan;           /* 192.168.LAN.0/24 */
	unsigned wan;           /* 203.0.113.WAN */
};

/* The lab NAT type for a report, or NULL when there is no NAT (open). *why says what
 * is approximated, or "". */
static const char *lab_type(const struct zt_natreport *r, const char **why)
{
	*why = "";
	switch (r->type) {
	case ZT_NAT_TYPE_FULL_CONE:
		return "full-cone";
	case ZT_NAT_TYPE_ADDRESS_RESTRICTED:
		return "address-restricted";
	case ZT_NAT_TYPE_PORT_RESTRICTED:
		return "port-restricted";
	case ZT_NAT_TYPE_SYMMETRIC:
		if (r->mapping == ZT_NAT_ADDRESS_DEPENDENT)
			*why = "mapping address-dependent: the lab's symmetric NAT maps per address "
			       "and port";
		else if (r->filtering != ZT_NAT_ADDRESS_PORT_DEPENDENT)
			*why = "the lab's symmetric NAT filters per address and port";
		return "symmetric";
	case ZT_NAT_TYPE_FIREWALL:
		*why = "no NAT but a filter: the lab has no NAT-less firewall, so a cone NAT that "
		       "filters the same way";
		return r->filtering == ZT_NAT_ADDRESS_DEPENDENT ? "address-restricted" :
								  "port-restricted";
	case ZT_NAT_TYPE_UDP_BLOCKED:
		*why = "no answer at all: a NAT that drops every forwarded UDP packet";
		return "port-restricted";
	case ZT_NAT_TYPE_OPEN:
	case ZT_NAT_TYPE_UNKNOWN:
		break;
	}
	return NULL;
}

/* The `timeout` in whole seconds from the lifetime, 0 to keep the lab's default. */
static unsigned lab_timeout(const struct zt_natreport *r)
{
	double s;

	if (r->lifetime == ZT_NATDISC_LIFETIME_MEASURED)
		s = (double)(r->lifetime_alive_ms + r->lifetime_gone_ms) / 2000;
	else if (r->lifetime == ZT_NATDISC_LIFETIME_ABOVE)
		s = ceil((double)r->lifetime_alive_ms / 1000);
	else
		return 0;
	if (r->lifetime == ZT_NATDISC_LIFETIME_ABOVE && s < DEFAULT_TIMEOUT_S)
		return 0;
	s = round(s);
	return s < 1 ? 1 : s > 86400 ? 86400 : (unsigned)s;
}

static void comment_class(FILE *f, const struct side *s, bool nat)
{
	const struct zt_natreport *r = &s->r;
	char b1[ZT_ADDR_STRLEN], b2[ZT_ADDR_STRLEN];

	if (nat)
		fprintf(f, "# %s (%s behind it) from %s:\n", s->nat, s->host, s->path);
	else
		fprintf(f, "# %s from %s (no NAT):\n", s->host, s->path);
	fprintf(f, "#   seen from %s at %s", zt_addr_str(&r->local, b1),
		r->public_addr.family ? zt_addr_str(&r->public_addr, b2) : "(no answer)");
	fprintf(f, " by STUN server %s\n", zt_addr_str(&r->server, b1));
	fprintf(f, "#   type %s: mapping %s, filtering %s\n",
		r->type ? zt_natdisc_type_name(r->type) : "null",
		r->mapping ? zt_natdisc_behavior_name(r->mapping) : "null",
		r->filtering ? zt_natdisc_behavior_name(r->filtering) : "null");
	fprintf(f, "#   ports %s (public", r->ports ? zt_natdisc_ports_name(r->ports) : "null");
	for (unsigned i = 0; i < r->port_samples; i++)
		fprintf(f, " %u", r->port_public[i]);
	fprintf(f, "%s)\n", r->port_samples ? "" : ": none seen");
	fprintf(f, "#   hairpinning %s\n", r->hairpin == ZT_NAT_HAIRPIN_YES ? "true -> hairpin on" :
		r->hairpin == ZT_NAT_HAIRPIN_NO ? "false -> hairpin off" :
						  "null (untested) -> the lab's default, off");
}

static void comment_measures(FILE *f, const struct side *s, unsigned timeout)
{
	const struct zt_natreport *r = &s->r;

	if (r->lifetime == ZT_NATDISC_LIFETIME_MEASURED)
		fprintf(f, "#   lifetime measured: alive after %.1f s, gone after %.1f s -> timeout %u\n",
			(double)r->lifetime_alive_ms / 1000, (double)r->lifetime_gone_ms / 1000,
			timeout);
	else if (r->lifetime == ZT_NATDISC_LIFETIME_ABOVE)
		fprintf(f, "#   lifetime above %.1f s -> timeout %u\n",
			(double)r->lifetime_alive_ms / 1000, timeout ? timeout : DEFAULT_TIMEOUT_S);
	else
		fprintf(f, "#   lifetime %s -> the lab's default timeout, %u s\n",
			r->lifetime ? zt_natdisc_lifetime_name(r->lifetime) : "null (untested)",
			DEFAULT_TIMEOUT_S);
	if (r->rtt_samples)
		fprintf(f, "#   round trip to the server: min %.3f ms, median %.3f ms (%u answers)\n",
			(double)r->rtt_min_us / 1000, (double)r->rtt_median_us / 1000, r->rtt_samples);
	else
		fprintf(f, "#   round trip to the server: null (none measured)\n");
	if (r->requests)
		fprintf(f, "#   loss %.4f (%u of %u requests unanswered)\n", zt_natreport_loss(r),
			r->requests - r->answers, r->requests);
	else
		fprintf(f, "#   loss null (nothing sent)\n");
}

/* The NAT line (or nothing for an open network) and the host line. */
static void write_nodes(FILE *f, const struct side *s)
{
	const struct zt_natreport *r = &s->r;
	const char *why, *type = lab_type(r, &why);
	unsigned timeout = lab_timeout(r);

	comment_class(f, s, type != NULL);
	comment_measures(f, s, timeout);
	if (*why)
		fprintf(f, "#   approximated: %s\n", why);
	if (r->ports && r->ports != ZT_NAT_PORTS_PRESERVE && type && strcmp(type, "symmetric"))
		fprintf(f, "#   not reproduced: ports %s (the lab's cone NATs keep the port)\n",
			zt_natdisc_ports_name(r->ports));
	if (!type) {
		fprintf(f, "#   no NAT: the host stands on the public segment\n");
		fprintf(f, "host %s behind public\n", s->host);
		return;
	}
	fprintf(f, "nat %s type %s lan 192.168.%u.0/24 wan 203.0.113.%u", s->nat, type, s->lan,
		s->wan);
	if (!strcmp(type, "symmetric"))
		fprintf(f, " ports %s", r->ports ? zt_natdisc_ports_name(r->ports) : "random");
	fprintf(f, " hairpin %s", r->hairpin == ZT_NAT_HAIRPIN_YES ? "on" : "off");
	if (timeout)
		fprintf(f, " timeout %u", timeout);
	if (r->udp_blocked)
		fprintf(f, " udp block");
	fprintf(f, "\nhost %s behind %s\n", s->host, s->nat);
}

/* The host's link: half the median round trip each way, the loss split over both. */
static void write_link(FILE *f, const struct side *s)
{
	const struct zt_natreport *r = &s->r;
	uint64_t delay_us = r->rtt_median_us / 2;
	double loss = zt_natreport_loss(r), p = 0;

	if (loss > 0 && !r->udp_blocked)
		p = 100 * (1 - sqrt(1 - loss));
	if (delay_us < MIN_DELAY_US && p < 0.0001) {
		fprintf(f, "# %s: no link line (delay under 0.1 ms, no loss)\n", s->host);
		return;
	}
	fprintf(f, "# %s: delay = median round trip / 2, loss per direction from the round-trip "
		   "loss\nlink %s", s->host, s->host);
	if (delay_us >= MIN_DELAY_US)
		fprintf(f, " delay %lluus", (unsigned long long)delay_us);
	if (p >= 0.0001)
		fprintf(f, " loss %.4f%%", p);
	fprintf(f, "\n");
}

static int load_side(struct side *s, const struct zt_fromreport_src *src, unsigned i,
		     char *err, size_t errcap)
{
	const char *field, *why;
	int rc;

	*s = (struct side){ .path = src->path, .lan = i + 1, .wan = i + 1 };
	snprintf(s->nat, sizeof(s->nat), "nat_%c", 'a' + i);
	snprintf(s->host, sizeof(s->host), "host_%c", 'a' + i);
	rc = zt_natreport_parse(src->text, src->len, &s->r, &field, &why);
	if (rc < 0) {
		if (*field)
			snprintf(err, errcap, "%s: field %s: %s", src->path, field, why);
		else
			snprintf(err, errcap, "%s: %s", src->path, why);
		return rc;
	}
	if (s->r.type == ZT_NAT_TYPE_UNKNOWN) {
		snprintf(err, errcap, "%s: field type: null: discover could not classify this "
			 "network, so there is nothing to rebuild (run it again; see its 'error')",
			 src->path);
		return ZT_ECONF_VALUE;
	}
	return 0;
}

int zt_fromreport(FILE *out, const struct zt_fromreport_src src[2], char *err, size_t errcap)
{
	struct side s[2];
	int rc;

	for (unsigned i = 0; i < 2; i++) {
		rc = load_side(&s[i], &src[i], i, err, errcap);
		if (rc < 0)
			return rc;
	}
	fprintf(out, "# Rebuilt by `ztna-lab from-report %s %s` from two NAT reports\n"
		     "# (ztna discover --report, docs/report-format.md). Field addresses are in\n"
		     "# the comments only: the lab uses its own.\n", src[0].path, src[1].path);
	fprintf(out, "lab field\npublic 203.0.113.0/24\n"
		     "# the STUN server with two addresses (RFC 5780), and an Intermediate\n"
		     "server stun addr 203.0.113.10 addr 203.0.113.11\nserver imd addr 203.0.113.20\n");
	for (unsigned i = 0; i < 2; i++) {
		fprintf(out, "\n");
		write_nodes(out, &s[i]);
		write_link(out, &s[i]);
	}
	if (fflush(out) != 0 || ferror(out)) {
		snprintf(err, errcap, "cannot write the scenario: %s", strerror(errno));
		return -EIO;
	}
	return 0;
}

static int read_report(const char *path, char **ret, size_t *ret_len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return -errno;
	rc = zt_read_all(fd, ZT_NATREPORT_MAX + 1, ret, ret_len);
	close(fd);
	return rc;
}

int zt_fromreport_main(int argc, char **argv)
{
	struct zt_fromreport_src src[2];
	char *text[2] = { NULL, NULL }, err[512];
	int rc, status = 2;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		printf("usage: " PROG " from-report A.json B.json > field.lab\n\n"
		       "Writes a scenario that rebuilds the two networks of two NAT reports\n"
		       "(ztna discover --report FILE, docs/report-format.md): per report a NAT of\n"
		       "its type, port allocation and mapping timeout, a host behind it with the\n"
		       "measured delay and loss on its link, and a STUN server and an Intermediate\n"
		       "on the public side. Exit status: 0; 2 bad usage or a bad report.\n");
		return 0;
	}
	if (argc != 3) {
		fprintf(stderr, "usage: " PROG " from-report A.json B.json > field.lab\n");
		return 2;
	}
	for (unsigned i = 0; i < 2; i++) {
		rc = read_report(argv[i + 1], &text[i], &src[i].len);
		if (rc < 0) {
			fprintf(stderr, PROG " from-report: %s: %s\n", argv[i + 1],
				rc == ZT_ETOOBIG ? "longer than 4096 bytes: not a report" :
						   strerror(-rc));
			goto out_free;
		}
		src[i].path = argv[i + 1];
		src[i].text = text[i];
	}
	rc = zt_fromreport(stdout, src, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, PROG " from-report: %s\n", err);
	status = rc == -EIO ? 1 : rc < 0 ? 2 : 0;
out_free:
	free(text[0]);
	free(text[1]);
	return status;
}
