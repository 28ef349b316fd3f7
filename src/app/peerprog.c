#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/birthday.h"
#include "core/happyeyes.h"
#include "core/version.h"
#include "app/daemon.h"
#include "app/log.h"
#include "app/parse.h"
#include "app/peermetrics.h"
#include "core/httpproxy.h"
#include "app/peerprog.h"
#include "app/secret.h"
#include "io/listener.h"
#include "core/err.h"
#include "core/units.h"
#include "quic/pki.h"

struct zt_tcplisten {
	struct zt_listener lst;
	struct zt_peerprog *pp;
	char service[64];
	uint64_t logged_at;           /* the last accept_failed line */
};

/* Settings. */

static int set_path(char *dst, size_t cap, const char *v, const char **why)
{
	if (!*v || strlen(v) >= cap) {
		*why = "empty or too long";
		return ZT_ESYNTAX;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

#define PP(ctx) ((struct zt_peerprog *)(ctx))

/* Another Intermediate, tried in turn when the one in use is gone. */
static int add_failover(struct zt_peer_config *pc, const struct zt_addr *a, const char **why)
{
	if (zt_addr_equal(a, &pc->intermediate) || zt_addr_equal(a, &pc->intermediate_alt))
		return 0;
	for (size_t k = 0; k < pc->n_failover; k++)
		if (zt_addr_equal(a, &pc->failover[k]))
			return 0;
	if (pc->n_failover >= ZT_PEER_FAILOVER_MAX) {
		*why = "at most 8 Intermediates";
		return ZT_ERANGE;
	}
	pc->failover[pc->n_failover++] = *a;
	return 0;
}

/* Once: a name resolving to both families gives both (the outer connection races
 * them, IPv6 first); twice: one address of each family. A name with several
 * addresses of one family names several Intermediates (the others after the first,
 * as if given again, in the resolver's order: docs/scale-out.md). */
static int set_intermediate(void *ctx, const char *v, const char **why)
{
	struct zt_peer_config *pc = &PP(ctx)->pc;
	struct zt_addr all[1 + ZT_PEER_FAILOVER_MAX * 2];
	size_t n, k = 1;
	int rc = zt_parse_hostport_all(v, 4433, all, sizeof(all) / sizeof(all[0]), &n);
	char *h = PP(ctx)->intermediate_host, *colon;

	if (rc == -ENOENT)
		*why = "the name does not resolve";
	if (rc < 0)
		return rc;
	if (pc->intermediate.family) {
		if (n == 1 && !pc->intermediate_alt.family && !pc->n_failover &&
		    all[0].family != pc->intermediate.family) {
			pc->intermediate_alt = all[0]; /* the same Intermediate's other family */
			return 0;
		}
		for (k = 0; k < n; k++)
			if ((rc = add_failover(pc, &all[k], why)) < 0)
				return rc;
		return 0;
	}
	pc->intermediate = all[0];
	/* the first of the other family: the same Intermediate's (both families) */
	for (k = 1; k < n && all[0].family == AF_INET; k++)
		if (all[k].family == AF_INET6) {
			pc->intermediate_alt = all[k];
			break;
		}
	for (k = 1; k < n; k++)
		if ((rc = add_failover(pc, &all[k], why)) < 0)
			return rc;
	/* the name, for no_proxy: "host:port" -> "host" ("[v6]:port" is an address) */
	snprintf(h, sizeof(PP(ctx)->intermediate_host), "%s", v[0] == '[' ? "" : v);
	colon = strchr(h, ':');
	if (colon && !strchr(colon + 1, ':'))
		*colon = '\0';
	if (zt_addr_parse(&(struct zt_addr){ 0 }, h, 0) == 0)
		*h = '\0'; /* an address: no_proxy matches it as one */
	return 0;
}

static int set_name(void *ctx, const char *v, const char **why)
{
	if (!zt_pki_name_valid(v)) {
		*why = "a name is 1-63 of [A-Za-z0-9-], not starting or ending with '-'";
		return ZT_ESYNTAX;
	}
	return set_path(PP(ctx)->name, sizeof(PP(ctx)->name), v, why);
}

static int set_token(void *ctx, const char *v, const char **why)
{
	size_t n = strlen(v);

	if (n == 0 || n > ZT_CTRL_TOKEN_MAX) {
		*why = "1 to 512 bytes";
		return ZT_ESYNTAX;
	}
	memcpy(PP(ctx)->token, v, n);
	PP(ctx)->pc.token_len = n;
	return 0;
}

static int set_token_file(void *ctx, const char *v, const char **why)
{
	static char msg[PATH_MAX + 96];
	char line[ZT_CTRL_TOKEN_MAX + 2];
	int rc = zt_secret_read_line(v, line, sizeof(line), why);

	if (rc == -EPERM) {
		snprintf(msg, sizeof(msg), "readable or writable by group or others (it holds a "
			 "secret): chmod 600 %s", v);
		*why = msg;
	}
	if (rc < 0)
		return rc;
	rc = set_token(ctx, line, why);
	if (rc < 0)
		*why = "the first line must be the token (1 to 512 bytes)";
	explicit_bzero(line, sizeof(line));
	return rc;
}

static int set_bind(void *ctx, const char *v, const char **why)
{
	int rc = zt_addr_parse(&PP(ctx)->bind, v, 0);

	if (rc < 0)
		*why = "an IP address with an optional port";
	return rc;
}

static int set_tun_check(void *ctx, const char *v, const char **why)
{
	if (strcmp(v, "on") && strcmp(v, "off")) {
		*why = "on or off";
		return ZT_ESYNTAX;
	}
	PP(ctx)->pc.tun_unchecked = !strcmp(v, "off");
	return 0;
}

static int set_tcp_direct(void *ctx, const char *v, const char **why)
{
	if (strcmp(v, "on") && strcmp(v, "off")) {
		*why = "on or off";
		return ZT_ESYNTAX;
	}
	PP(ctx)->pc.tcp_direct_off = !strcmp(v, "off");
	return 0;
}

static int set_nat_ports(void *ctx, const char *v, const char **why)
{
	static const char *const names[] = { "unknown", "preserve", "sequential", "random" };

	PP(ctx)->pc.nat_detect = !strcmp(v, "auto");
	PP(ctx)->pc.nat_ports = 0;
	if (PP(ctx)->pc.nat_detect)
		return 0;
	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(v, names[i])) {
			PP(ctx)->pc.nat_ports = (uint8_t)i; /* enum zt_ctrl_nat_ports */
			return 0;
		}
	*why = "auto, unknown, preserve, sequential or random (what 'ztna discover' reports as "
	       "ports)";
	return ZT_ESYNTAX;
}

static int set_nat_mapping(void *ctx, const char *v, const char **why)
{
	static const char *const names[] = { "unknown", "endpoint-independent", "address-dependent",
					     "address-and-port-dependent" };

	for (unsigned i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(v, names[i])) {
			PP(ctx)->pc.nat_mapping = (uint8_t)i; /* enum zt_ctrl_nat_mapping */
			return 0;
		}
	*why = "unknown, endpoint-independent, address-dependent or address-and-port-dependent "
	       "(what 'ztna discover' reports as mapping)";
	return ZT_ESYNTAX;
}

static int set_spray_sockets(void *ctx, const char *v, const char **why)
{
	char *end;
	unsigned long n = strtoul(v, &end, 10);

	if (*v < '0' || *v > '9' || *end || n > 4096) {
		*why = "a number of sockets, 0..4096";
		return ZT_ESYNTAX;
	}
	PP(ctx)->spray_sockets = (uint32_t)n;
	PP(ctx)->spray_set = true;
	return 0;
}

static int set_probe(void *ctx, const char *v, const char **why)
{
	if (strcmp(v, "on") && strcmp(v, "off")) {
		*why = "on or off";
		return ZT_ESYNTAX;
	}
	PP(ctx)->pc.probe_off = !strcmp(v, "off");
	return 0;
}

static int set_spray_auto(void *ctx, const char *v, const char **why)
{
	if (strcmp(v, "on") && strcmp(v, "off")) {
		*why = "on or off";
		return ZT_ESYNTAX;
	}
	PP(ctx)->spray_auto = !strcmp(v, "on");
	return 0;
}

static int set_predict(void *ctx, const char *v, const char **why)
{
	if (strcmp(v, "on") && strcmp(v, "off")) {
		*why = "on or off";
		return ZT_ESYNTAX;
	}
	PP(ctx)->pc.predict_off = !strcmp(v, "off");
	return 0;
}

static int set_direct(void *ctx, const char *v, const char **why)
{
	if (!strcmp(v, "on") || !strcmp(v, "1") || !strcmp(v, "yes")) {
		PP(ctx)->pc.path.direct_disabled = false;
		return 0;
	}
	if (!strcmp(v, "off") || !strcmp(v, "0") || !strcmp(v, "no")) {
		PP(ctx)->pc.path.direct_disabled = true;
		return 0;
	}
	*why = "on or off";
	return ZT_ESYNTAX;
}

static int set_relay_channel(void *ctx, const char *v, const char **why)
{
	if (strcmp(v, "auto") && strcmp(v, "off")) {
		*why = "auto or off";
		return ZT_ESYNTAX;
	}
	PP(ctx)->pc.relay_channel_off = !strcmp(v, "off");
	return 0;
}

static int set_portmap(void *ctx, const char *v, const char **why)
{
	static const char *const names[] = {
		[ZT_PEER_PORTMAP_OFF] = "off", [ZT_PEER_PORTMAP_AUTO] = "auto",
		[ZT_PEER_PORTMAP_PCP] = "pcp", [ZT_PEER_PORTMAP_NATPMP] = "natpmp",
		[ZT_PEER_PORTMAP_UPNP] = "upnp",
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(v, names[i])) {
			PP(ctx)->pc.portmap = (enum zt_peer_portmap)i;
			return 0;
		}
	*why = "auto, pcp, natpmp, upnp or off";
	return ZT_ESYNTAX;
}

static int set_portmap_gateway(void *ctx, const char *v, const char **why)
{
	int rc = zt_addr_parse(&PP(ctx)->portmap_gw, v, 0);

	if (rc < 0)
		*why = "an IP address";
	return rc;
}

static int set_iflist(char *dst, size_t cap, const char *v, const char **why)
{
	char tmp[256];
	const char *list[ZT_IF_LIST_MAX];
	size_t n = 0;

	if (!*v || strlen(v) >= sizeof(tmp) || strlen(v) >= cap) {
		*why = "a comma-separated list of interface names";
		return ZT_ESYNTAX;
	}
	memcpy(tmp, v, strlen(v) + 1);
	if (zt_if_list_parse(list, &n, tmp) < 0) {
		*why = "at most 16 interface names";
		return ZT_ERANGE;
	}
	memcpy(dst, v, strlen(v) + 1);
	return 0;
}

static int set_interfaces(void *ctx, const char *v, const char **why)
{
	return set_iflist(PP(ctx)->ifaces, sizeof(PP(ctx)->ifaces), v, why);
}

static int set_exclude_interfaces(void *ctx, const char *v, const char **why)
{
	return set_iflist(PP(ctx)->ex_ifaces, sizeof(PP(ctx)->ex_ifaces), v, why);
}

static int set_metrics(void *ctx, const char *v, const char **why)
{
	struct zt_addr *a = &((struct zt_peerprog *)ctx)->metrics_at;

	if (!strcmp(v, "off")) {
		*a = (struct zt_addr){ 0 };
		return 0;
	}
	if (zt_addr_parse(a, v, 0) < 0 || a->port == 0) {
		*a = (struct zt_addr){ 0 };
		*why = "ADDR:PORT (e.g. 127.0.0.1:9101), or off";
		return ZT_ECONF_VALUE;
	}
	return 0;
}

static int set_control(void *ctx, const char *v, const char **why)
{
	PP(ctx)->control_set = true;
	if (strlen(v) >= sizeof(PP(ctx)->control)) {
		*why = "a socket path is at most 107 bytes";
		return ZT_ESYNTAX;
	}
	return set_path(PP(ctx)->control, sizeof(PP(ctx)->control), v, why);
}

static struct zt_fwdspec *new_spec(struct zt_peerprog *pp, const char **why)
{
	if (pp->nspecs == ZT_PEERPROG_SPECS) {
		*why = "at most 32";
		return NULL;
	}
	memset(&pp->specs[pp->nspecs], 0, sizeof(pp->specs[0]));
	return &pp->specs[pp->nspecs++];
}

/* The spec of service: with udp -1 any (a routed service too), else the forward of
 * that protocol. */
static struct zt_fwdspec *find_spec(struct zt_peerprog *pp, const char *service, int udp)
{
	for (size_t i = 0; i < pp->nspecs; i++)
		if (!strcmp(pp->specs[i].service, service) &&
		    (udp < 0 || (!pp->specs[i].route_only && pp->specs[i].udp == (udp > 0))))
			return &pp->specs[i];
	return NULL;
}

/* "tcp:ADDR:PORT" or "udp:ADDR:PORT" into spec. */
static int parse_endpoint(struct zt_fwdspec *s, const char *v, size_t n, const char **why)
{
	char text[300];
	int rc;

	if (n < 5 || n >= sizeof(text) || (strncmp(v, "tcp:", 4) && strncmp(v, "udp:", 4))) {
		*why = "it starts with tcp: or udp:";
		return ZT_ESYNTAX;
	}
	s->udp = v[0] == 'u';
	memcpy(text, v + 4, n - 4);
	text[n - 4] = '\0';
	rc = zt_parse_hostport(text, 0, &s->addr);
	if (rc < 0)
		*why = rc == -ENOENT ? "the host name does not resolve" : "HOST:PORT with a port";
	return rc;
}

static int set_forward(void *ctx, const char *v, const char **why)
{
	struct zt_peerprog *pp = ctx;
	const char *eq = strrchr(v, '=');
	struct zt_fwdspec *s;
	int rc;

	if (!eq || !zt_pki_name_valid(eq + 1)) {
		*why = "PROTO:ADDR:PORT=SERVICE with a service name of [A-Za-z0-9-]";
		return ZT_ESYNTAX;
	}
	if (!(s = new_spec(pp, why)))
		return ZT_ERANGE;
	rc = parse_endpoint(s, v, (size_t)(eq - v), why);
	if (rc < 0) {
		pp->nspecs--;
		return rc;
	}
	snprintf(s->service, sizeof(s->service), "%s", eq + 1);
	return 0;
}

static int set_service(void *ctx, const char *v, const char **why)
{
	struct zt_peerprog *pp = ctx;
	const char *eq = strchr(v, '=');
	char name[64];
	struct zt_fwdspec *s;
	int rc;

	if (!eq || (size_t)(eq - v) >= sizeof(name)) {
		*why = "NAME=tcp:HOST:PORT or NAME=udp:HOST:PORT";
		return ZT_ESYNTAX;
	}
	memcpy(name, v, (size_t)(eq - v));
	name[eq - v] = '\0';
	if (!zt_pki_name_valid(name)) {
		*why = "a service name is 1-63 of [A-Za-z0-9-]";
		return ZT_ESYNTAX;
	}
	if (!(s = new_spec(pp, why)))
		return ZT_ERANGE;
	rc = parse_endpoint(s, eq + 1, strlen(eq + 1), why);
	if (rc < 0) {
		pp->nspecs--;
		return rc;
	}
	if (find_spec(pp, name, s->udp)) {
		pp->nspecs--;
		*why = "this service and protocol are configured already";
		return ZT_ESYNTAX;
	}
	if (find_spec(pp, name, -1) && find_spec(pp, name, -1)->route_only) {
		/* a --route named it first: that spec becomes this forward */
		struct zt_fwdspec *r = find_spec(pp, name, -1);
		r->udp = s->udp;
		r->addr = s->addr;
		r->route_only = false;
		pp->nspecs--;
		return 0;
	}
	snprintf(s->service, sizeof(s->service), "%s", name);
	return 0;
}

static int set_tun(void *ctx, const char *v, const char **why)
{
	struct zt_peerprog *pp = ctx;
	size_t n = strlen(v);

	if (!n || n >= IFNAMSIZ || strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
					"0123456789_.-") != n) {
		*why = "an interface name: 1 to 15 of A-Z a-z 0-9 _ . -";
		return ZT_ESYNTAX;
	}
	memcpy(pp->tun_name, v, n + 1);
	pp->tun_on = true;
	return 0;
}

/* A routed service: its route, and the service itself (its certificate) unless a
 * --service line names it already. */
static int set_route(void *ctx, const char *v, const char **why)
{
	struct zt_peerprog *pp = ctx;
	struct zt_route r;
	struct zt_fwdspec *s;
	char text[ZT_ROUTE_STRLEN];
	int rc = zt_route_parse(&r, v);

	if (rc < 0 || !zt_pki_name_valid(r.name)) {
		*why = rc == ZT_ERANGE ? "a length, port or count out of range, or host bits set in "
					 "the prefix (give its network address)"
					 : "NAME=ADDRESS/LENGTH[:RULE,...] with RULE tcp, udp, icmp, "
					   "tcp/PORT or tcp/LOW-HIGH (udp too), NAME a service name";
		return rc < 0 ? rc : ZT_ESYNTAX;
	}
	if (zt_route_format(&r, text, sizeof(text)) > ZT_CTRL_STR_MAX) {
		*why = "too long once written out: fewer rules";
		return ZT_ERANGE;
	}
	if (pp->nroutes == ZT_CTRL_HELLO_ROUTES_MAX) {
		*why = "at most 16 routes";
		return ZT_ERANGE;
	}
	if (!find_spec(pp, r.name, -1)) {
		if (!(s = new_spec(pp, why)))
			return ZT_ERANGE;
		snprintf(s->service, sizeof(s->service), "%s", r.name);
		s->route_only = true;
	}
	pp->routes[pp->nroutes++] = r;
	return 0;
}

static int set_service_file(void *ctx, const char *v, const char **why, bool cert)
{
	struct zt_peerprog *pp = ctx;
	const char *eq = strchr(v, '=');
	char name[64];
	bool found = false;

	if (!eq || (size_t)(eq - v) >= sizeof(name) || !eq[1]) {
		*why = "NAME=FILE";
		return ZT_ESYNTAX;
	}
	memcpy(name, v, (size_t)(eq - v));
	name[eq - v] = '\0';
	for (size_t i = 0; i < pp->nspecs; i++) {
		if (strcmp(pp->specs[i].service, name))
			continue;
		snprintf(cert ? pp->specs[i].cert : pp->specs[i].key, PATH_MAX, "%s", eq + 1);
		found = true;
	}
	if (!found) {
		*why = "no such service (put the service line first)";
		return ZT_ECONF_REF;
	}
	return 0;
}

static int set_pick(void *ctx, const char *v, const char **why)
{
	struct zt_peerprog *pp = ctx;

	if (strcmp(v, "first") && strcmp(v, "nearest")) {
		*why = "first or nearest";
		return ZT_ESYNTAX;
	}
	pp->pc.pick_nearest = !strcmp(v, "nearest");
	return 0;
}

static int set_transport(void *ctx, const char *v, const char **why)
{
	struct zt_peerprog *pp = ctx;

	if (!strcmp(v, "udp"))
		pp->pc.transport = ZT_PEER_TRANSPORT_UDP;
	else if (!strcmp(v, "tcp"))
		pp->pc.transport = ZT_PEER_TRANSPORT_TCP;
	else if (!strcmp(v, "auto"))
		pp->pc.transport = ZT_PEER_TRANSPORT_AUTO;
	else {
		*why = "udp, tcp or auto";
		return ZT_ESYNTAX;
	}
	pp->transport_set = true;
	return 0;
}

/* An HTTP proxy URL (core/httpproxy.h), or "none" (not even https_proxy). */
static int set_proxy(void *ctx, const char *v, const char **why)
{
	static char err[256];
	struct zt_peerprog *pp = ctx;
	struct zt_httpproxy_url u;
	int rc = strcmp(v, "none") ? zt_httpproxy_parse_url(v, &u, err, sizeof(err)) : 0;

	explicit_bzero(&u, sizeof(u));
	if (rc < 0) {
		*why = err;
		return rc;
	}
	pp->proxy_set = true;
	return set_path(pp->proxy, sizeof(pp->proxy), v, why);
}

static int set_intermediate_tcp(void *ctx, const char *v, const char **why)
{
	struct zt_peerprog *pp = ctx;
	int rc = zt_addr_parse(&pp->pc.intermediate_tcp, v, 443);

	if (rc < 0)
		*why = "an IP address and port";
	return rc;
}

static int set_service_cert(void *ctx, const char *v, const char **why)
{
	return set_service_file(ctx, v, why, true);
}

static int set_service_key(void *ctx, const char *v, const char **why)
{
	return set_service_file(ctx, v, why, false);
}

/* The keys write straight into the node's configuration (pp->pc) where they can. */
#define PPF(member) ZT_CONF_FIELD(struct zt_peerprog, member)
#define TEXT(member) .kind = ZT_CONF_TEXT, PPF(member)
/* A duration above 0, or in [lo, hi] (why says so). */
#define DURATION(member) .kind = ZT_CONF_DURATION, PPF(member), .min = 1
#define DURATION_IN(member, lo, hi, text) \
	.kind = ZT_CONF_DURATION, PPF(member), .min = (lo), .max = (hi), .why = (text)
#define WHOLE(member, lo, hi) .kind = ZT_CONF_UINT, PPF(member), .min = (lo), .max = (hi)

const struct zt_conf_key zt_peerprog_keys[] = {
	{ .name = "intermediate", .syntax = "HOST:PORT", .example = "192.0.2.1:4433",
	  .help = "the Intermediate's address; a name with IPv4 and IPv6 addresses, or the key "
		  "twice (one of each family), races both, IPv6 first (Happy Eyeballs); more of "
		  "the same family: other Intermediates of the deployment, tried in turn when the "
		  "one in use is gone (the first is home)",
	  .set = set_intermediate, .required = true, .repeatable = true },
	{ .name = "eyeballs-delay", .syntax = "DURATION", .example = "250ms",
	  .help = "with two Intermediate addresses: start the other family's attempt when the "
		  "first has no handshake after this (default 250ms, RFC 8305)",
	  DURATION_IN(pc.eyeballs_delay, ZT_MS, 10 * ZT_SEC, "between 1ms and 10s") },
	{ .name = "name", .syntax = "NAME", .example = "alice",
	  .help = "our identity (the NAME of our certificate's ztna:KIND:NAME)", .set = set_name,
	  .required = true },
	{ .name = "pki", .syntax = "DIR", .example = "/etc/ztna/pki",
	  .help = "our bundle from 'ztna pki init' (DIR/KIND-NAME): default ca, cert and key "
		  "files; one holding keys not ours is refused", TEXT(d.pki) },
	{ .name = "cert", .syntax = "FILE", .example = "agent-alice.pem",
	  .help = "our certificate (default PKI/KIND-NAME.pem)", TEXT(d.cert) },
	{ .name = "key", .syntax = "FILE", .example = "agent-alice.key",
	  .help = "our private key (default PKI/KIND-NAME.key)", TEXT(d.key) },
	{ .name = "ca", .syntax = "FILE", .example = "ca.pem",
	  .help = "the CA that signs every identity (default PKI/ca.pem)", TEXT(d.ca) },
	{ .name = "token", .syntax = "TOKEN", .example = "s3cret",
	  .help = "the credential the Intermediate expects (visible in ps: prefer token-file)",
	  .set = set_token, .secret = true },
	{ .name = "token-file", .syntax = "FILE", .example = "/etc/ztna/token",
	  .help = "read the token from the first line of FILE (mode 0600)", .set = set_token_file },
	{ .name = "transport", .syntax = "auto|udp|tcp", .example = "tcp",
	  .help = "how to reach the Intermediate: QUIC on UDP, TLS on TCP, or auto: QUIC, and "
		  "TLS/TCP too after 300 ms without an answer, back to UDP when it works "
		  "(default auto)", .set = set_transport },
	{ .name = "proxy", .syntax = "URL|none", .example = "http://10.0.0.1:3128",
	  .help = "reach the Intermediate's TLS/TCP port through this HTTP proxy "
		  "(http://[USER:PASS@]HOST:PORT, CONNECT); default: the https_proxy environment "
		  "variable; none: no proxy", .set = set_proxy, .secret = true },
	{ .name = "udp-probe", .syntax = "DURATION", .example = "30s",
	  .help = "auto, on TCP: try UDP again this often and move back when it works "
		  "(default 30s; the first try 2s after a login over TCP)",
	  DURATION(pc.udp_probe) },
	{ .name = "intermediate-tcp", .syntax = "HOST:PORT", .example = "192.0.2.1:443",
	  .help = "the Intermediate's TLS/TCP address (default: its IP, port 443)",
	  .set = set_intermediate_tcp },
	{ .name = "intermediate-name", .syntax = "NAME", .example = "intermediate.ztna",
	  .help = "the name the Intermediate's certificate must carry", TEXT(intermediate_name) },
	{ .name = "bind", .syntax = "ADDR[:PORT]", .example = "0.0.0.0:0",
	  .help = "the UDP socket's address, of one family (default: [::] and 0.0.0.0 on one "
		  "dual-stack socket, a free port)", .set = set_bind },
	{ .name = "keepalive", .syntax = "DURATION", .example = "10s",
	  .help = "keepalive to the Intermediate (default 25s; shorter behind a NAT that forgets "
		  "an idle UDP mapping sooner; at most half the Intermediate's idle timeout)",
	  DURATION(pc.outer_keepalive) },
	{ .name = "idle-timeout", .syntax = "DURATION", .example = "75s",
	  .help = "the Intermediate is gone after this silence (default 75s)",
	  DURATION(pc.outer_idle_timeout) },
	{ .name = "failover-silence", .syntax = "DURATION", .example = "15s",
	  .help = "with several Intermediates: leave the one in use when nothing of ours was "
		  "answered for this long (default 15s)",
	  DURATION(pc.failover_silence) },
	{ .name = "intermediate-pick", .syntax = "first|nearest", .example = "nearest",
	  .help = "with several Intermediates, the home: the first given, or the one whose QUIC "
		  "handshake is fastest, measured after the first login (default first)",
	  .set = set_pick },
	{ .name = "home-retry", .syntax = "DURATION", .example = "60s",
	  .help = "with several Intermediates, away from the first (home): try a handshake with "
		  "it this often, and go back when one completes (relayed sessions may end on the "
		  "way; default: stay)",
	  DURATION(pc.home_retry) },
	{ .name = "open-timeout", .syntax = "DURATION", .example = "10s",
	  .help = "a new connection waits this long for its session (default 10s)",
	  DURATION(pc.open_timeout) },
	{ .name = "inner-idle-timeout", .syntax = "DURATION", .example = "60s",
	  .help = "an unused end-to-end session ends after (default 60s)",
	  DURATION(pc.inner_idle_timeout) },
	{ .name = "flow-idle", .syntax = "DURATION", .example = "60s",
	  .help = "a UDP flow is forgotten after this silence (default 60s)", DURATION(pc.flow_idle) },
	{ .name = "backoff-max", .syntax = "DURATION", .example = "30s",
	  .help = "longest wait between reconnection attempts (default 30s)",
	  DURATION(pc.backoff_max) },
	{ .name = "check-rate", .syntax = "N", .example = "4",
	  .help = "connectivity checks per second a session sends to addresses that have "
		  "not answered (burst 8 s worth; default 4)", WHOLE(pc.check_rate, 1, 10000) },
	{ .name = "check-rate-dest", .syntax = "N", .example = "2",
	  .help = "... to one IP address, all sessions together (default 2)",
	  WHOLE(pc.check_rate_dest, 1, 10000) },
	{ .name = "check-rate-total", .syntax = "N", .example = "100",
	  .help = "... of the whole program (default 100)", WHOLE(pc.check_rate_total, 1, 100000) },
	{ .name = "check-candidates", .syntax = "N", .example = "16",
	  .help = "the peer's candidates a session takes per ICE generation (default 16)",
	  WHOLE(pc.check_candidates, 1, 48) },
	{ .name = "refusal-backoff-max", .syntax = "DURATION", .example = "5m",
	  .help = "longest wait after a refusal: of the login (5 s doubling) or of a service "
		  "(1 s doubling) (default 5m)",
	  DURATION_IN(pc.refusal_backoff_max, ZT_SEC, 24 * ZT_HOUR, "between 1s and 24h") },
	{ .name = "direct", .syntax = "on|off", .example = "off",
	  .help = "try a direct path to the peer (default on); off: relay only", .set = set_direct },
	{ .name = "relay-channel", .syntax = "auto|off", .example = "off",
	  .help = "relayed packets as plain UDP datagrams to the Intermediate's QUIC address "
		  "when it agrees and we are on QUIC (auto, the default); off: in outer DATAGRAMs, "
		  "encrypted per hop (docs/relay-channel.md)", .set = set_relay_channel },
	{ .name = "tcp-direct", .syntax = "on|off", .example = "off",
	  .help = "when both ends reach the Intermediate over TCP, punch a direct TCP path "
		  "(simultaneous open; default on, off through a proxy)", .set = set_tcp_direct },
	{ .name = "portmap", .syntax = "auto|pcp|natpmp|upnp|off", .example = "auto",
	  .help = "ask the gateway to forward a port to our socket (PCP, then NAT-PMP, then "
		  "UPnP IGD: auto) and offer it to the peer as a candidate; deleted on exit "
		  "(default off)",
	  .set = set_portmap },
	{ .name = "portmap-gateway", .syntax = "ADDR", .example = "192.168.1.1",
	  .help = "the gateway --portmap asks (default: the default route's next hop)",
	  .set = set_portmap_gateway },
	{ .name = "nat-ports", .syntax = "auto|unknown|preserve|sequential|random", .example = "sequential",
	  .help = "how this host's NAT picks the public port of a new mapping: auto detects it "
		  "after each login with the Intermediate's STUN port (default); or as 'ztna "
		  "discover' reports it (unknown: neither detected nor said); sequential: "
		  "signal predicted candidates",
	  .set = set_nat_ports },
	{ .name = "nat-mapping", .syntax = "unknown|endpoint-independent|...", .example = "endpoint-independent",
	  .help = "this host's NAT mapping behaviour as 'ztna discover' reports it (also "
		  "address-dependent, address-and-port-dependent); with --nat-ports, what "
		  "birthday probing needs (default unknown)", .set = set_nat_mapping },
	{ .name = "predict", .syntax = "on|off", .example = "off",
	  .help = "port prediction: signal predicted candidates (with --nat-ports sequential) "
		  "and check the peer's (default on)", .set = set_predict },
	{ .name = "probe", .syntax = "on|off", .example = "off",
	  .help = "birthday probing against a symmetric NAT with random ports (needs "
		  "--nat-mapping and --nat-ports; default on)", .set = set_probe },
	{ .name = "spray-auto", .syntax = "on|off", .example = "on",
	  .help = "birthday probing: open the spray sockets when NAT detection (--nat-ports "
		  "auto) finds random ports, and spray (default off)", .set = set_spray_auto },
	{ .name = "spray-sockets", .syntax = "N", .example = "256",
	  .help = "birthday probing: the sockets a node behind a symmetric NAT with random ports "
		  "sprays from (opened at start; 0: none; default 256)", .set = set_spray_sockets },
	{ .name = "probe-count", .syntax = "N", .example = "1024",
	  .help = "birthday probing: probes a session sends per ICE generation (default 1024)",
	  WHOLE(pc.probe_count, 1, 65535) },
	{ .name = "probe-rate", .syntax = "N", .example = "200",
	  .help = "birthday probing: probes a second of a session (default 200)",
	  WHOLE(pc.probe_rate, 1, 10000) },
	{ .name = "interfaces", .syntax = "NAME,...", .example = "eth0,wlan*",
	  .help = "host candidates only from these interfaces (default: all but loopback, "
		  "down and tunnel ones)", .set = set_interfaces },
	{ .name = "exclude-interfaces", .syntax = "NAME,...", .example = "docker*,br-*",
	  .help = "no host candidates from these interfaces", .set = set_exclude_interfaces },
	{ .name = "cooldown", .syntax = "DURATION", .example = "30s",
	  .help = "first retry of the direct path after it failed (default 30s, doubling)",
	  DURATION_IN(pc.path.cooldown, ZT_SEC, ZT_HOUR, "between 1s and 1h") },
	{ .name = "keepalive-direct", .syntax = "DURATION", .example = "10s",
	  .help = "direct-path keepalive while idle, and the end-to-end connection's while it "
		  "carries connections (default 25s, at most 25s)",
	  DURATION_IN(pc.path.ka_idle, 100 * ZT_MS, 25 * ZT_SEC, "between 100ms and 25s (NAT and "
		      "conntrack UDP timeouts are 30 s and up)") },
	{ .name = "tun", .syntax = "IFNAME", .example = "ztna0",
	  .help = "the packet tunnel's device (agent: its routes come from the Intermediate; "
		  "connector: made anyway when there are routes, default ztnaN)", .set = set_tun },
	{ .name = "control", .syntax = "PATH|none", .example = "/run/ztna/agent.sock",
	  .help = "control socket for 'ztna status' and 'ztna ping' (default /run/ztna/ROLE.sock "
		  "as root, else $XDG_RUNTIME_DIR/ztna-ROLE.sock)", .set = set_control },
	{ .name = "metrics", .syntax = "ADDR:PORT|off", .example = "127.0.0.1:9101",
	  .help = "serve Prometheus metrics over HTTP here (GET /metrics; docs/metrics.md); "
		  "default off", .set = set_metrics },
};
const size_t zt_peerprog_nkeys = sizeof(zt_peerprog_keys) / sizeof(zt_peerprog_keys[0]);

const struct zt_conf_key zt_peerprog_agent_keys[] = {
	{ .name = "forward", .syntax = "tcp|udp:ADDR:PORT=SERVICE", .example = "tcp:127.0.0.1:8080=web",
	  .help = "serve SERVICE locally at ADDR:PORT (a forward, or --tun, or both)",
	  .set = set_forward, .repeatable = true },
	{ .name = "tun-check", .syntax = "on|off", .example = "off",
	  .help = "check our own tunnel packets before sending them (default on; off only to "
		  "test the connector's check, as a modified agent would)", .set = set_tun_check },
};
const size_t zt_peerprog_agent_nkeys =
	sizeof(zt_peerprog_agent_keys) / sizeof(zt_peerprog_agent_keys[0]);

const struct zt_conf_key zt_peerprog_connector_keys[] = {
	{ .name = "service", .syntax = "NAME=tcp|udp:HOST:PORT", .example = "web=tcp:127.0.0.1:80",
	  .help = "front service NAME, reached at HOST:PORT (a service, or a route, or both)",
	  .set = set_service, .repeatable = true },
	{ .name = "route", .syntax = "NAME=PREFIX/LEN[:RULE,...]", .example = "db=10.0.5.0/24:tcp/5432,icmp",
	  .help = "routed service NAME: agents allowed to reach NAME reach the prefix through the "
		  "packet tunnel (RULE: tcp, udp, icmp, tcp/PORT, tcp/LOW-HIGH, udp/...)",
	  .set = set_route, .repeatable = true },
	{ .name = "service-cert", .syntax = "NAME=FILE", .example = "web=service-web.pem",
	  .help = "service NAME's certificate (default PKI/service-NAME.pem)", .set = set_service_cert,
	  .repeatable = true },
	{ .name = "service-key", .syntax = "NAME=FILE", .example = "web=service-web.key",
	  .help = "service NAME's key (default PKI/service-NAME.key)", .set = set_service_key,
	  .repeatable = true },
	{ .name = "agent-max-sessions", .syntax = "N", .example = "16",
	  .help = "sessions of one agent (its identity, all its connections) (default 16)",
	  WHOLE(pc.agent_max_sessions, 1, 100000) },
	{ .name = "agent-max-flows", .syntax = "N", .example = "1024",
	  .help = "UDP flows of one agent, all its sessions (default 1024)",
	  WHOLE(pc.agent_max_flows, 1, 1000000) },
	{ .name = "agent-max-sockets", .syntax = "N", .example = "1024",
	  .help = "sockets to the targets of one agent: TCP connections + UDP flows (default "
		  "1024, and at most a fair share of the file descriptors)",
	  WHOLE(pc.agent_max_sockets, 1, 1000000) },
	{ .name = "agent-max-bytes", .syntax = "SIZE", .example = "32M",
	  .help = "bytes of one agent in flight between the tunnel and the targets, both ways "
		  "(default 32M)", .kind = ZT_CONF_SIZE, PPF(pc.agent_max_bytes), .min = 64 * 1024,
	  .max = 1ULL << 40, .why = "a size from 64K to 1T (K, M, G suffixes)" },
	{ .name = "agent-max-pps", .syntax = "N", .example = "100000",
	  .help = "IP packets a second one agent may send through the packet tunnel (burst: a "
		  "second's worth; default 100000)", WHOLE(pc.agent_max_pps, 1, 10000000) },
	{ .name = "fd-reserve", .syntax = "N", .example = "64",
	  .help = "file descriptors kept for the program itself, not for sockets to targets "
		  "(default 1/8 of the open files limit, at least 64)", WHOLE(fd_reserve, 16, 1000000) },
};
const size_t zt_peerprog_connector_nkeys =
	sizeof(zt_peerprog_connector_keys) / sizeof(zt_peerprog_connector_keys[0]);

/* Peer callbacks: the forwarding shells. */

static void cb_chan_event(struct zt_peer *p, void *arg, struct zt_peer_chan *ch, void *carg,
			  enum zt_peer_chan_event ev, int code)
{
	struct zt_peerprog *pp = arg;
	(void)p;
	(void)ch;

	zt_tcpfwd_chan_event(&pp->fwd, carg, ev, code);
}

static void cb_chan_accept(struct zt_peer *p, void *arg, struct zt_peer_chan *ch, const char *service)
{
	struct zt_peerprog *pp = arg;
	struct zt_fwdspec *s = find_spec(pp, service, 0);
	(void)p;

	if (!s) {
		zt_warn("tcp_refused", "service=%s reason=\"no TCP target for this service\"", service);
		zt_peer_chan_release(ch, ZT_FWD_REFUSED);
		return;
	}
	zt_tcpfwd_connect(&pp->fwd, ch, &s->addr);
}

static void cb_flow_accept(struct zt_peer *p, void *arg, struct zt_peer_flow *f, const char *service)
{
	struct zt_peerprog *pp = arg;
	struct zt_fwdspec *s = find_spec(pp, service, 1);
	(void)p;

	if (!s) {
		zt_warn("udp_refused", "service=%s reason=\"no UDP target for this service\"", service);
		zt_peer_flow_close(f);
		return;
	}
	zt_udpfwd_accept(&pp->fwd, f, &s->addr);
}

static void cb_flow_dgram(struct zt_peer *p, void *arg, struct zt_peer_flow *f, void *farg,
			  const uint8_t *data, size_t len)
{
	struct zt_peerprog *pp = arg;
	(void)p;
	(void)f;

	zt_udpfwd_datagram(&pp->fwd, farg, data, len);
}

static void cb_flow_closed(struct zt_peer *p, void *arg, struct zt_peer_flow *f, void *farg, int reason)
{
	struct zt_peerprog *pp = arg;
	(void)p;
	(void)f;
	(void)reason;

	zt_udpfwd_closed(&pp->fwd, farg);
}

static void cb_pong(struct zt_peer *p, void *arg, const char *service, uint64_t nonce,
		    uint64_t rtt_ns, const char *path, const struct zt_addr *remote)
{
	struct zt_peerprog *pp = arg;
	(void)p;

	zt_peerctl_pong(&pp->ctl, service, nonce, rtt_ns, path, remote);
}

static void cb_refused(struct zt_peer *p, void *arg, const struct zt_peer_refusal *r)
{
	struct zt_peerprog *pp = arg;
	(void)p;

	zt_peerctl_refused(&pp->ctl, r, zt_loop_now(pp->d.loop));
}

static void cb_ready(struct zt_peer *p, void *arg, const struct zt_addr *observed)
{
	struct zt_peerprog *pp = arg;
	(void)p;
	(void)observed;

	if (pp->tun.tun)
		zt_tunshell_ready(&pp->tun);
}

static void cb_tun_packet(struct zt_peer *p, void *arg, const uint8_t *pkt, size_t len)
{
	struct zt_peerprog *pp = arg;
	(void)p;

	zt_tunshell_write(&pp->tun, pkt, len);
}

static void cb_tun_routes(struct zt_peer *p, void *arg, const struct zt_route *routes, size_t n)
{
	struct zt_peerprog *pp = arg;
	(void)p;

	if (pp->tun.tun)
		zt_tunshell_routes(&pp->tun, routes, n);
}

/* NAT detection's result: random ports want spray sockets (on_spray_timer), with
 * --spray-auto on. */
static void cb_nat(struct zt_peer *p, void *arg, const char *nat)
{
	struct zt_peerprog *pp = arg;
	(void)p;

	if (pp->spray_auto && !strcmp(nat, "random") && !pp->spray.n)
		zt_timer_set(pp->d.loop, &pp->spray_t, zt_loop_now(pp->d.loop));
}

/* A direct path fell back to the relay: a UPnP mapping may be gone (app/upnp.h). */
static void cb_portmap_refresh(struct zt_peer *p, void *arg, uint64_t now)
{
	struct zt_peerprog *pp = arg;
	(void)p;

	zt_upnp_refresh(pp->upnp, now);
}

static const struct zt_peer_callbacks peer_cb = {
	.ready = cb_ready,
	.nat = cb_nat,
	.tun_packet = cb_tun_packet,
	.tun_routes = cb_tun_routes,
	.pong = cb_pong,
	.refused = cb_refused,
	.chan_event = cb_chan_event,
	.chan_accept = cb_chan_accept,
	.flow_accept = cb_flow_accept,
	.flow_datagram = cb_flow_dgram,
	.flow_closed = cb_flow_closed,
	.portmap_refresh = cb_portmap_refresh,
};

/* Statistics. */

static void log_stats(void *arg, const char *event)
{
	struct zt_peerprog *pp = arg;
	struct zt_peer_stats ps;
	const struct zt_fwdctx_stats *fs = &pp->fwd.st;
	const struct zt_nodeio_stats *io = &pp->d.io.st;
	uint64_t outer_rtt = zt_peer_outer_srtt(pp->peer);

	zt_peer_stats(pp->peer, &ps);
	zt_info(event,
		"state=%d rx=%" PRIu64 " tx=%" PRIu64 " rx_bytes=%" PRIu64 " tx_bytes=%" PRIu64
		" dropped_garbage=%" PRIu64 " dropped_stun=%" PRIu64
		" dropped_outer=%" PRIu64 " dropped_unknown=%" PRIu64 " relay_in=%" PRIu64
		" relay_out=%" PRIu64 " relay_dropped_session=%" PRIu64 " relay_dropped_queue=%" PRIu64
		" relay_chan_in=%" PRIu64 " relay_chan_out=%" PRIu64 " relay_chan_dropped=%" PRIu64
		" connects=%" PRIu64 " resets=%" PRIu64 " opens=%" PRIu64 " refused_fast=%" PRIu64
		" sessions=%zu sessions_opened=%" PRIu64
		" sessions_failed=%" PRIu64 " sessions_resumed=%" PRIu64 " chans=%zu chans_opened=%" PRIu64 " chans_failed=%" PRIu64
		" flows=%zu udp_in=%" PRIu64 " udp_out=%" PRIu64 " udp_dropped=%" PRIu64
		" flow_dgrams_dropped=%" PRIu64 " tcp_now=%zu tcp_bytes_in=%" PRIu64 " tcp_bytes_out=%" PRIu64
		" tcp_writes=%" PRIu64 " tcp_reset=%" PRIu64 " outer_rtt_us=%" PRIu64 " transport=%s moves=%" PRIu64
		" udp_probes=%" PRIu64 " ctrl_errors=%" PRIu64
		" checks_charged=%" PRIu64 " checks_deferred=%" PRIu64 " limit_chans=%" PRIu64
		" limit_flow_dgrams=%" PRIu64 " limit_sessions=%" PRIu64 " tcp_limited=%" PRIu64
		" udp_limited=%" PRIu64,
		zt_peer_state(pp->peer), io->rx, io->tx, io->rx_bytes, io->tx_bytes,
		ps.dropped_garbage, ps.dropped_stun,
		ps.dropped_outer, ps.dropped_unknown, ps.relay_in, ps.relay_out,
		ps.relay_dropped_session, ps.relay_dropped_queue, ps.relay_chan_in, ps.relay_chan_out,
		ps.relay_chan_dropped, ps.connects, ps.resets_received,
		ps.opens, ps.refused_fast, ps.sessions, ps.sessions_opened, ps.sessions_failed, ps.sessions_resumed, ps.chans, ps.chans_opened,
		ps.chans_failed, ps.flows, fs->udp_in, fs->udp_out, fs->udp_dropped,
		ps.flow_dgrams_dropped, fs->tcp_now, fs->tcp_bytes_in, fs->tcp_bytes_out,
		fs->tcp_writes, fs->tcp_reset, (uint64_t)(outer_rtt / ZT_US),
		zt_outer_kind_name(zt_peer_outer_kind(pp->peer)), ps.moves, ps.udp_probes,
		ps.ctrl_errors, ps.checks_charged,
		ps.checks_deferred, ps.limit_chans, ps.limit_flow_dgrams, ps.limit_sessions,
		fs->tcp_limited, fs->udp_limited);
}

/* Host candidates: the interface addresses when bound to a wildcard. */

static void update_hosts(struct zt_peerprog *pp, uint64_t now, bool event)
{
	struct zt_hostaddr ha[32];
	struct zt_addr ips[ZT_PEER_MAX_HOSTS], all[32];
	char text[sizeof(pp->hosts_str)] = "", a[ZT_ADDR_STRLEN];
	size_t n = 0, used = 0, order[32];
	int got = zt_ifaddrs_list(&pp->ifopts, ha, 32);

	if (got < 0) {
		if (!pp->ifaddrs_warned)
			zt_warn("host_candidates_unavailable", "error=\"%s\" fix=\"bind to an address "
				"(--bind) for a host candidate\"", strerror(-got));
		pp->ifaddrs_warned = true;
		return;
	}
	/* RFC 8421 s4: IPv6 first, families interleaved: the earlier, the higher the
	 * host candidate's local preference */
	for (int i = 0; i < got; i++)
		all[i] = ha[i].addr;
	zt_he_order(all, (size_t)got, order);
	for (int k = 0; k < got && n < ZT_PEER_MAX_HOSTS; k++) {
		const struct zt_hostaddr *h = &ha[order[k]];
		if (!zt_udp_family_ok(&pp->d.io.udp, &h->addr))
			continue;
		ips[n++] = h->addr;
		if (zt_addr_format(&h->addr, false, a, sizeof(a)) < 0)
			a[0] = '\0';
		used += (size_t)snprintf(text + used, used < sizeof(text) ? sizeof(text) - used : 0,
					 "%s%s(%s)", n > 1 ? "," : "", a, h->ifname);
		if (used >= sizeof(text))
			used = sizeof(text) - 1;
	}
	if (!strcmp(text, pp->hosts_str) && (event || *text))
		return; /* no change (the first call logs even an empty set) */
	zt_peer_set_host_addrs(pp->peer, ips, n);
	if (n == 0)
		zt_warn("host_candidates", "count=0 addrs=\"\" reason=%s note=\"no usable interface "
			"address: no direct path can be checked\" fix=\"--interfaces NAME (tunnel and "
			"virtual interfaces are skipped unless listed) or --bind ADDR\"",
			event ? "netlink" : "start");
	else
		zt_info("host_candidates", "count=%zu addrs=\"%s\" reason=%s", n, text,
			event ? "netlink" : "start");
	memcpy(pp->hosts_str, text, sizeof(text));
	if (event) {
		zt_peer_netchange(pp->peer, now);
		zt_nodeio_kick(&pp->d.io);
	}
}

/* Port mapping: the gateway (--portmap-gateway, else the default route's next hop) and
 * our address towards it, for the node's client (which keeps its mapping while both
 * stay the same). */
static void portmap_route(struct zt_peerprog *pp, uint64_t now)
{
	const struct zt_addr *bound = &pp->d.io.udp.local;
	struct zt_addr gw = pp->portmap_gw, local = *bound;
	char a[ZT_ADDR_STRLEN], b[ZT_ADDR_STRLEN];
	int rc = 0, err;

	if (!pp->pc.portmap || pp->pc.path.direct_disabled)
		return;
	if (zt_addr_is_loopback(bound) && !gw.family) { /* no gateway behind loopback */
		if (!pp->pm_err)
			zt_info("portmap", "gateway=none reason=\"bound to a loopback address\"");
		pp->pm_err = -EADDRNOTAVAIL;
		return;
	}
	if (!gw.family) /* a dual socket: the IPv4 gateway (no NAT to map on IPv6) */
		rc = zt_ifaddrs_gateway(pp->d.io.udp.dual ? AF_INET : bound->family, &gw);
	if (rc == 0 && zt_addr_is_any(bound))
		rc = zt_ifaddrs_source(&gw, &local);
	local.port = bound->port;
	if (rc < 0)
		gw = local = (struct zt_addr){ 0 };
	if (zt_addr_equal(&gw, &pp->pm_gw) && zt_addr_equal(&local, &pp->pm_local) &&
	    rc == pp->pm_err)
		return;
	pp->pm_gw = gw;
	pp->pm_local = local;
	pp->pm_err = rc;
	/* no gateway: stops the client (its mapping deleted) */
	err = zt_peer_portmap_route(pp->peer, now, &gw, &local);
	if (pp->upnp)
		zt_upnp_route(pp->upnp, now, &gw, &local);
	rc = rc < 0 ? rc : err;
	if (rc < 0)
		zt_warn("portmap", "gateway=none error=\"%s\" fix=\"--portmap-gateway ADDR, or "
			"--portmap off\"", rc == -ENOENT ? "no default route" : strerror(-rc));
	else
		zt_info("portmap", "gateway=%s local=%s",
			zt_addr_format(&gw, false, a, sizeof(a)) > 0 ? a : "?", zt_addr_str(&local, b));
	zt_nodeio_kick(&pp->d.io);
}

static void on_netmon_timer(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	(void)loop;
	update_hosts(t->data, now, true);
	portmap_route(t->data, now);
}

static void on_netmon(struct zt_loop *loop, struct zt_watch *w, uint32_t revents, uint64_t now)
{
	struct zt_peerprog *pp = w->data;
	int rc = zt_netmon_drain(pp->netmon);
	(void)revents;

	if (rc > 0) /* settle: an interface change comes as a burst of messages */
		zt_timer_set(loop, &pp->netmon_t, now + 200 * ZT_MS);
	else if (rc < 0 && rc != -EAGAIN)
		zt_debug("netmon_error", "error=\"%s\"", strerror(-rc));
}

static void hosts_start(struct zt_peerprog *pp)
{
	const struct zt_addr *l = &pp->d.io.udp.local;
	int rc;

	pp->watch_hosts = zt_addr_is_any(l) && !pp->pc.path.direct_disabled;
	if (!pp->watch_hosts)
		return;
	pp->ifopts.ipv6 = l->family == AF_INET6;
	if (*pp->ifaces)
		zt_if_list_parse(pp->ifopts.include, &pp->ifopts.ninclude, pp->ifaces);
	if (*pp->ex_ifaces)
		zt_if_list_parse(pp->ifopts.exclude, &pp->ifopts.nexclude, pp->ex_ifaces);
	update_hosts(pp, zt_loop_now(pp->d.loop), false);
	zt_timer_init(&pp->netmon_t, on_netmon_timer, pp);
	rc = zt_netmon_open(&pp->netmon);
	if (rc < 0) {
		zt_warn("netmon_unavailable", "error=\"%s\" note=\"address changes are not seen\"",
			strerror(-rc));
		return;
	}
	pp->netmon_w = (struct zt_watch){ .fd = zt_netmon_fd(pp->netmon), .events = EPOLLIN,
					  .cb = on_netmon, .data = pp };
	if (zt_loop_add(pp->d.loop, &pp->netmon_w) < 0) {
		zt_netmon_close(pp->netmon);
		pp->netmon = NULL;
	}
}

static void render_metrics(void *arg, struct zt_prom *p, uint64_t now)
{
	struct zt_peerprog *pp = arg;

	zt_peer_metrics(pp->peer, p, now - pp->started);
}

/* --metrics: the endpoint, or a clear error naming the address. */
static int metrics_start(struct zt_peerprog *pp)
{
	char a[ZT_ADDR_STRLEN];
	int rc;

	pp->started = zt_loop_now(pp->d.loop);
	if (!pp->metrics_at.family)
		return 0;
	rc = zt_metrics_open(&pp->metrics, pp->d.loop, &pp->metrics_at, render_metrics, pp);
	if (rc < 0)
		return zt_daemon_fail(&pp->d, 1, "--metrics %s: %s (another program on that port? "
				      "pick another, or --metrics off)",
				      zt_addr_str(&pp->metrics_at, a), strerror(-rc));
	zt_info("metrics", "listen=%s path=/metrics", zt_addr_str(zt_metrics_local(pp->metrics), a));
	return 0;
}

/* The control socket: an explicit path must work, a default one may be skipped. */
static int control_start(struct zt_peerprog *pp)
{
	const char *role = pp->role == ZT_CTRL_ROLE_AGENT ? "agent" : "connector";
	char path[sizeof(pp->control)];
	int rc;

	if (pp->control_set && !strcmp(pp->control, "none"))
		return 0;
	if (pp->control_set) {
		snprintf(path, sizeof(path), "%s", pp->control);
	} else if (zt_ctl_default_path(path, sizeof(path), role) < 0) {
		zt_info("control", "socket=none reason=\"no XDG_RUNTIME_DIR; set --control PATH\"");
		return 0;
	} else if (geteuid() == 0) {
		mkdir("/run/ztna", 0755);
	}
	rc = zt_peerctl_open(&pp->ctl, pp, path);
	if (rc < 0) {
		if (pp->control_set)
			return zt_daemon_fail(&pp->d, 1, "control socket %s: %s (%s)", path,
					      strerror(-rc), rc == -EADDRINUSE ?
					      "another program uses it: pick another --control PATH" :
					      "pick another --control PATH, or --control none");
		zt_warn("control", "socket=none path=%s error=\"%s\" fix=\"--control PATH\"", path,
			strerror(-rc));
		return 0;
	}
	zt_info("control", "socket=%s", path);
	return 0;
}

/*
 * Connector: the sockets forwarding may use (docs/security.md, "The connector's
 * resources"): the open files limit, raised to its hard limit (at most 1 M), less a
 * reserve for the program itself (--fd-reserve). The node gives each agent a fair
 * share of it.
 */
static size_t fd_budget(struct zt_peerprog *pp)
{
	size_t n = zt_daemon_raise_nofile(), reserve;

	if (!n)
		return 0;
	reserve = pp->fd_reserve ? pp->fd_reserve : n / 8 > 64 ? n / 8 : 64;
	n = n > reserve + 16 ? n - reserve : 16;
	zt_info("fd_budget", "open_files=%zu reserve=%zu sockets_total=%zu agent_share_alone=%zu", n + reserve,
		reserve, n, n / 2);
	return n;
}

/* TCP listeners (agent). */

static void on_accept(void *arg, uint64_t now, int fd)
{
	struct zt_tcplisten *l = arg;
	(void)now;

	zt_tcpfwd_accepted(&l->pp->fwd, fd, l->service);
}

/* accept() failed (io/listener.h pauses the socket when resources ran out). */
static void on_accept_failed(void *arg, uint64_t now, int err)
{
	struct zt_tcplisten *l = arg;

	if (l->logged_at && now < l->logged_at + 10 * ZT_SEC)
		return;
	l->logged_at = now;
	zt_warn("accept_failed", "service=%s error=\"%s\" failures=%" PRIu64 "%s", l->service,
		strerror(-err), l->lst.errors,
		err == -EMFILE || err == -ENFILE ? " fix=\"raise the open files limit (ulimit -n)\"" : "");
}

static int tcp_listen(struct zt_peerprog *pp, const struct zt_fwdspec *s, struct zt_tcplisten **ret)
{
	struct zt_tcplisten *l = calloc(1, sizeof(*l));
	int rc;

	if (!l)
		return -ENOMEM;
	l->pp = pp;
	snprintf(l->service, sizeof(l->service), "%s", s->service);
	rc = zt_listener_open(&l->lst, pp->d.loop, &s->addr, 256, on_accept, on_accept_failed, l);
	if (rc < 0) {
		free(l);
		return rc;
	}
	*ret = l;
	return 0;
}

/* Setup. */

/* A TLS context of ours, or NULL with the message naming the file at fault. */
static struct zt_tls_ctx *load_tls(struct zt_peerprog *pp, enum zt_tls_side side, const char *alpn,
				   const char *cert, const char *key, bool require)
{
	struct zt_tls_config c = { .side = side, .alpn = alpn, .ca_file = pp->d.ca, .cert_file = cert,
				   .key_file = key, .require_peer_cert = require };
	char fix[160];
	struct zt_tls_ctx *ctx = NULL;

	snprintf(fix, sizeof(fix), "'ztna pki init DIR ...' and pass --pki DIR/%s-%s, the bundle it "
		 "writes for us", pp->role == ZT_CTRL_ROLE_AGENT ? "agent" : "connector", pp->name);
	if (zt_daemon_check_tls_files(&pp->d, cert, key, fix) < 0 ||
	    zt_daemon_tls_new(&pp->d, &c, &ctx) < 0)
		return NULL;
	return ctx;
}

/* The connector's services' TLS contexts (service-NAME files in the bundle). */
static int load_services(struct zt_peerprog *pp)
{
	char stem[128];

	for (size_t i = 0; i < pp->nspecs; i++) {
		struct zt_fwdspec *s = &pp->specs[i], *first = find_spec(pp, s->service, -1);
		if (first != s) {
			s->tls = first->tls; /* the same service over TCP and UDP */
			continue;
		}
		snprintf(stem, sizeof(stem), "service-%s", s->service);
		zt_daemon_default_file(s->cert, pp->d.pki, stem, ".pem");
		zt_daemon_default_file(s->key, pp->d.pki, stem, ".key");
		if (!*s->cert || !*s->key)
			return zt_daemon_fail(&pp->d, 2, "no certificate for service %s: pass --pki DIR "
					      "or --service-cert %s=FILE --service-key %s=FILE",
					      s->service, s->service, s->service);
		s->tls = load_tls(pp, ZT_TLS_SERVER, ZT_ALPN_INNER, s->cert, s->key, true);
		if (!s->tls)
			return pp->d.cert_expired ? 2 : 1;
	}
	return 0;
}

/* Credentials and files: our bundle (no foreign keys), the key log, the qlog
 * directory, the TLS contexts. Returns 0 or the exit status, with the message. */
static int load_files(struct zt_peerprog *pp)
{
	const char *kind = pp->role == ZT_CTRL_ROLE_AGENT ? "agent" : "connector";
	struct zt_daemon *d = &pp->d;
	char stem[128];

	snprintf(stem, sizeof(stem), "%s-%s", kind, pp->name);
	zt_daemon_pki_defaults(d, stem);
	if (!*d->cert || !*d->key || !*d->ca)
		return zt_daemon_fail(d, 2, "no certificate: pass --pki DIR/%s (from 'ztna pki init "
				      "DIR --%s %s'), or --cert, --key and --ca", stem, kind, pp->name);
	if (*d->pki && zt_secret_check_pki(d->prog, d->pki, pp->role == ZT_CTRL_ROLE_AGENT ?
					   ZT_PKI_AGENT : ZT_PKI_CONNECTOR, pp->name))
		return 1;
	if (zt_daemon_open_files(d) < 0)
		return 1;
	pp->pc.outer_tls = load_tls(pp, ZT_TLS_CLIENT, ZT_ALPN_OUTER, d->cert, d->key, false);
	if (pp->pc.outer_tls)
		pp->pc.outer_tls_tcp = load_tls(pp, ZT_TLS_CLIENT, ZT_ALPN_OUTER_TCP, d->cert, d->key,
						false);
	if (!pp->pc.outer_tls || !pp->pc.outer_tls_tcp)
		return d->cert_expired ? 2 : 1; /* expired: no restart (daemon.h) */
	if (pp->role == ZT_CTRL_ROLE_CONNECTOR)
		return load_services(pp);
	pp->pc.inner_tls = load_tls(pp, ZT_TLS_CLIENT, ZT_ALPN_INNER, d->cert, d->key, false);
	return pp->pc.inner_tls ? 0 : d->cert_expired ? 2 : 1;
}

/* The rest of the node's configuration (the keys wrote its settings): who we are, the
 * socket, the connector's services (listed once each in pp->services), the hooks. */
/* The HTTP proxy: --proxy, else https_proxy (or HTTPS_PROXY) from the environment.
 * Returns 0 or the exit status, with the message. */
static int proxy_setup(struct zt_peerprog *pp)
{
	const char *url = pp->proxy, *src = "--proxy";
	struct zt_httpproxy_url u;
	struct zt_addr at;
	char err[256], hp[ZT_HTTPPROXY_HOST_MAX + 16];
	int rc;

	if (!pp->proxy_set) {
		const char *np = getenv("no_proxy") ? getenv("no_proxy") : getenv("NO_PROXY");

		src = getenv("https_proxy") ? "https_proxy" : "HTTPS_PROXY";
		url = getenv(src);
		if (url && *url && np &&
		    zt_httpproxy_no_proxy(np, pp->intermediate_host, &pp->pc.intermediate_tcp)) {
			zt_info("proxy", "source=%s skipped=yes note=\"no_proxy names the Intermediate\"", src);
			return 0;
		}
	}
	if (!url || !*url || !strcmp(url, "none"))
		return 0;
	if (zt_httpproxy_parse_url(url, &u, err, sizeof(err)) < 0)
		return zt_daemon_fail(&pp->d, 2, "%s%s: %s (fix: http://HOST:PORT, or --proxy none)",
				      src, pp->proxy_set ? "" : " (environment)", err);
	snprintf(hp, sizeof(hp), strchr(u.host, ':') ? "[%s]:%u" : "%s:%u", u.host, u.port);
	rc = zt_parse_hostport(hp, 0, &at);
	if (rc < 0) {
		explicit_bzero(&u, sizeof(u));
		return zt_daemon_fail(&pp->d, 1, "%s: the proxy's host does not resolve", src);
	}
	zt_otcp_client_proxy(&pp->otcp, &u, &at);
	zt_peer_tcp_direct_off(pp->peer); /* no direct TCP way out */
	explicit_bzero(&u, sizeof(u));
	zt_info("proxy", "source=%s address=%s auth=%s note=\"the TLS/TCP transport goes through it\"",
		src, zt_addr_str(&at, (char[ZT_ADDR_STRLEN]){ 0 }),
		pp->otcp.proxy.has_auth ? "basic" : "none");
	return 0;
}

static void peer_config(struct zt_peerprog *pp)
{
	struct zt_peer_config *pc = &pp->pc;

	pc->role = pp->role;
	pc->name = pp->name;
	pc->token = pp->token;
	pc->local = pp->d.io.udp.local;
	/* only the Intermediate addresses our socket can reach (--bind keeps one family) */
	if (!zt_udp_family_ok(&pp->d.io.udp, &pc->intermediate) &&
	    zt_udp_family_ok(&pp->d.io.udp, &pc->intermediate_alt)) {
		pc->intermediate = pc->intermediate_alt;
		pc->intermediate_alt = (struct zt_addr){ 0 };
	}
	if (!zt_udp_family_ok(&pp->d.io.udp, &pc->intermediate_alt))
		pc->intermediate_alt = (struct zt_addr){ 0 };
	pc->intermediate_name = *pp->intermediate_name ? pp->intermediate_name : NULL;
	if (!pp->transport_set)
		pc->transport = ZT_PEER_TRANSPORT_AUTO;
	if (!pc->intermediate_tcp.family) {
		pc->intermediate_tcp = pc->intermediate;
		pc->intermediate_tcp.port = 443;
	}
	pc->rng = &pp->d.rng;
	pc->software = pp->role == ZT_CTRL_ROLE_AGENT ? "ztna-agent " ZT_VERSION
						      : "ztna-connector " ZT_VERSION;
	pc->cb = &peer_cb;
	pc->arg = pp;
	pc->log = zt_daemon_node_log();
	if (pp->role == ZT_CTRL_ROLE_CONNECTOR) {
		size_t n = 0;
		for (size_t i = 0; i < pp->nspecs; i++)
			if (find_spec(pp, pp->specs[i].service, -1) == &pp->specs[i])
				pp->services[n++] = (struct zt_peer_service){ .name = pp->specs[i].service,
									      .tls = pp->specs[i].tls };
		pc->services = pp->services;
		pc->n_services = n;
		pc->routes = pp->routes;
		pc->n_routes = pp->nroutes;
		pc->sockets_total = fd_budget(pp);
	}
	if (*pp->d.qlog_dir) {
		pc->qlog_open = zt_daemon_qlog_open;
		pc->qlog_write = zt_daemon_qlog_write;
		pc->qlog_arg = &pp->d;
	}
}

/* The agent's listeners for its forwards (logged), or the connector's services
 * (logged). Returns 0 or the exit status, with the message. */
static int forwards_start(struct zt_peerprog *pp)
{
	char ia[ZT_ADDR_STRLEN];
	int rc;

	if (pp->role == ZT_CTRL_ROLE_AGENT) {
		for (size_t i = 0; i < pp->nspecs; i++) {
			struct zt_fwdspec *s = &pp->specs[i];
			rc = s->udp ? zt_udpfwd_listen(&pp->fwd, &s->addr, s->service, &pp->udp_listeners[i])
				    : tcp_listen(pp, s, &pp->tcp_listeners[i]);
			if (rc < 0)
				return zt_daemon_fail(&pp->d, 1, "cannot listen on %s:%s for %s: %s",
						      s->udp ? "udp" : "tcp", zt_addr_str(&s->addr, ia),
						      s->service, strerror(-rc));
			zt_info("forward", "proto=%s listen=%s service=%s", s->udp ? "udp" : "tcp",
				zt_addr_str(&s->addr, ia), s->service);
		}
	} else {
		for (size_t i = 0; i < pp->nspecs; i++)
			if (!pp->specs[i].route_only)
				zt_info("service", "name=%s proto=%s target=%s", pp->specs[i].service,
					pp->specs[i].udp ? "udp" : "tcp",
					zt_addr_str(&pp->specs[i].addr, ia));
		for (size_t i = 0; i < pp->nroutes; i++) {
			char text[ZT_ROUTE_STRLEN];
			zt_route_format(&pp->routes[i], text, sizeof(text));
			zt_info("route", "route=%s device=%s", text, zt_tunshell_name(&pp->tun));
		}
	}
	return 0;
}

/* The packet tunnel's device (--tun; a connector with routes always has one), before
 * the node exists, so a missing privilege stops the start. Returns 0 or the exit
 * status, with the message. */
static int tunnel_open(struct zt_peerprog *pp)
{
	char err[512];
	bool agent = pp->role == ZT_CTRL_ROLE_AGENT;

	if (agent && !pp->tun_on && !pp->nspecs)
		return zt_daemon_fail(&pp->d, 2, "nothing to do: give --forward PROTO:ADDR:PORT=SERVICE "
				      "or --tun IFNAME (or both)");
	if (!agent && !pp->nspecs)
		return zt_daemon_fail(&pp->d, 2, "nothing to serve: give --service NAME=PROTO:HOST:PORT "
				      "or --route NAME=PREFIX/LEN (or both)");
	if (!pp->tun_on && (agent || !pp->nroutes))
		return 0;
	if (zt_tunshell_open(&pp->tun, pp->d.loop, &pp->d.io, agent, pp->tun_name, err,
			     sizeof(err)) < 0)
		return zt_daemon_fail(&pp->d, 1, "%s", err);
	pp->tun.keep_out = pp->pc.intermediate;
	return 0;
}

/* The spray sockets birthday probing would use (0: none: probing or the direct path
 * off, or --spray-sockets 0). */
static size_t spray_count(const struct zt_peerprog *pp)
{
	size_t n = pp->spray_set ? pp->spray_sockets : ZT_BIRTHDAY_SOCKETS;

	return pp->pc.probe_off || pp->pc.path.direct_disabled ? 0 : n;
}

/* Opens n spray sockets and routes the node's datagrams from them. Returns 0 or -errno. */
static int spray_start(struct zt_peerprog *pp, size_t n)
{
	int rc = zt_sprayio_open(&pp->spray, &pp->d.io, &pp->d.io.udp.local, n);

	if (rc < 0)
		return rc;
	pp->d.io.send_other = zt_sprayio_send;
	pp->d.io.other_arg = &pp->spray;
	return 0;
}

/* Birthday probing's spray sockets (docs/hard-nat.md): opened at start when the node's
 * NAT is configured as endpoint-dependent with random ports and probing and the direct
 * path are on; their addresses go to the node. */
static int spray_open(struct zt_peerprog *pp)
{
	size_t n = spray_count(pp);
	int rc;

	if (!n || pp->pc.nat_mapping < ZT_CTRL_NAT_MAP_ADDRESS || pp->pc.nat_ports != ZT_CTRL_NAT_PORTS_RANDOM)
		return 0;
	rc = spray_start(pp, n);
	if (rc < 0)
		return zt_daemon_fail(&pp->d, 1, "cannot open %zu sockets for birthday probing: %s "
				      "(fix: --spray-sockets N with fewer, or --probe off)", n, strerror(-rc));
	pp->pc.spray = pp->spray.locals;
	pp->pc.nspray = pp->spray.n;
	zt_info("spray_sockets", "count=%zu", pp->spray.n);
	return 0;
}

/* ... or when NAT detection finds random ports (--nat-ports auto): a moment after its
 * callback (cb_nat), outside the node. A failure leaves the node without them. */
static void on_spray_timer(struct zt_loop *loop, struct zt_timer *t, uint64_t now)
{
	struct zt_peerprog *pp = t->data;
	size_t n = spray_count(pp);
	int rc;
	(void)loop;
	(void)now;

	if (pp->spray.n || !n || !pp->peer)
		return;
	rc = spray_start(pp, n);
	if (rc < 0) {
		zt_warn("spray_sockets_failed", "count=%zu error=\"%s\" note=\"no birthday probing "
			"from this node\" fix=\"--spray-sockets N with fewer\"", n, strerror(-rc));
		return;
	}
	zt_peer_set_spray(pp->peer, pp->spray.locals, pp->spray.n);
	zt_info("spray_sockets", "count=%zu reason=nat-detected", pp->spray.n);
	zt_nodeio_kick(&pp->d.io);
}

/* True if argv sets --token (a secret other local users can read in ps). */
static bool token_in_argv(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--token") || !strncmp(argv[i], "--token=", 8))
			return true;
	return false;
}

static int setup(void *arg, int argc, char **argv)
{
	struct zt_peerprog *pp = arg;
	const char *kind = pp->role == ZT_CTRL_ROLE_AGENT ? "agent" : "connector";
	char ia[ZT_ADDR_STRLEN];
	int rc;

	if (token_in_argv(argc, argv))
		zt_warn("secret_on_command_line", "option=--token note=\"other local users can read "
			"command lines\" fix=\"--token-file FILE (mode 0600)\"");
	rc = load_files(pp);
	if (rc)
		return rc;
	/* no --bind: one dual-stack socket (family 0, io/udp.h) on a free port */
	if (zt_daemon_open(&pp->d, &pp->bind) < 0)
		return 1;
	rc = tunnel_open(pp);
	if (rc)
		return rc;
	peer_config(pp);
	rc = spray_open(pp);
	if (rc)
		return rc;
	zt_fwdctx_init(&pp->fwd, pp->d.loop, &pp->d.io);
	pp->d.io.before = zt_tcpfwd_flush_due;
	pp->d.io.before_arg = &pp->fwd;
	rc = zt_peer_new(&pp->peer, &pp->pc, zt_loop_now(pp->d.loop));
	if (rc < 0)
		return zt_daemon_fail(&pp->d, 1, "%s", zt_strerror(rc));
	pp->fwd.peer = pp->peer;
	if (pp->tun.tun && (rc = zt_tunshell_start(&pp->tun, pp->peer)) < 0)
		return zt_daemon_fail(&pp->d, 1, "cannot watch the tunnel device: %s", strerror(-rc));
	hosts_start(pp);
	rc = control_start(pp);
	if (rc)
		return rc;
	rc = metrics_start(pp);
	if (rc)
		return rc;
	rc = forwards_start(pp);
	if (rc)
		return rc;
	zt_otcp_client_init(&pp->otcp, pp->d.loop, &pp->d.io, pp->peer);
	rc = proxy_setup(pp);
	if (rc)
		return rc;
	rc = zt_nodeio_start(&pp->d.io, &zt_nodeio_peer_ops, pp->peer);
	if (rc < 0)
		return zt_daemon_fail(&pp->d, 1, "%s", strerror(-rc));
	/* UPnP IGD (auto: when PCP's 1 s and NAT-PMP's 1 s got no mapping) */
	if ((pp->pc.portmap == ZT_PEER_PORTMAP_AUTO || pp->pc.portmap == ZT_PEER_PORTMAP_UPNP) &&
	    !pp->pc.path.direct_disabled &&
	    (rc = zt_upnp_new(&pp->upnp, pp->d.loop, pp->peer, &pp->d.io,
			      pp->pc.portmap == ZT_PEER_PORTMAP_AUTO ? 2500 : 0)) < 0)
		return zt_daemon_fail(&pp->d, 1, "UPnP client: %s", strerror(-rc));
	portmap_route(pp, zt_loop_now(pp->d.loop));
	char fo[ZT_PEER_FAILOVER_MAX * (ZT_ADDR_STRLEN + 1)] = "-";
	for (size_t i = 0, at = 0; i < pp->pc.n_failover; i++)
		at += (size_t)snprintf(fo + at, sizeof(fo) - at, "%s%s", i ? "," : "",
				       zt_addr_str(&pp->pc.failover[i], (char[ZT_ADDR_STRLEN]){ 0 }));
	zt_info("start", "role=%s name=%s intermediate=%s transport=%s local=%s direct=%s portmap=%s "
		"intermediate_other=%s failover=%s",
		kind, pp->name,
		zt_addr_str(pp->pc.transport == ZT_PEER_TRANSPORT_TCP ? &pp->pc.intermediate_tcp
								      : &pp->pc.intermediate, ia),
		pp->pc.transport == ZT_PEER_TRANSPORT_TCP ? "tcp" : "udp",
		zt_addr_str(&pp->d.io.udp.local, (char[ZT_ADDR_STRLEN]){ 0 }),
		pp->pc.path.direct_disabled ? "off" : "on",
		(const char *const[]){ "off", "auto", "pcp", "natpmp", "upnp" }[pp->pc.portmap % 5],
		pp->pc.intermediate_alt.family
			? zt_addr_str(&pp->pc.intermediate_alt, (char[ZT_ADDR_STRLEN]){ 0 }) : "-",
		fo);
	return 0;
}

/* Tell the Intermediate now rather than let it time out. */
static void stop(void *arg)
{
	struct zt_peerprog *pp = arg;

	zt_peer_close(pp->peer, "shutting down");
	/* the UPnP mapping's delete: at most 2 s, then the program exits anyway */
	zt_upnp_close(pp->upnp, 2000);
	pp->upnp = NULL;
}

static void teardown(void *arg)
{
	struct zt_peerprog *pp = arg;

	zt_peerctl_close(&pp->ctl);
	zt_metrics_close(pp->metrics);
	pp->metrics = NULL;
	zt_upnp_close(pp->upnp, 0);
	if (pp->netmon) {
		zt_loop_del(pp->d.loop, &pp->netmon_w);
		zt_netmon_close(pp->netmon);
		zt_timer_cancel(pp->d.loop, &pp->netmon_t);
	}
	for (size_t i = 0; i < ZT_PEERPROG_SPECS; i++) {
		if (pp->tcp_listeners[i]) {
			zt_listener_close(&pp->tcp_listeners[i]->lst);
			free(pp->tcp_listeners[i]);
		}
		if (pp->udp_listeners[i])
			zt_udpfwd_listen_close(&pp->fwd, pp->udp_listeners[i]);
	}
	if (pp->fwd.loop) {
		zt_tcpfwd_close_all(&pp->fwd);
		zt_udpfwd_close_all(&pp->fwd);
		zt_fwdctx_fini(&pp->fwd);
	}
	zt_tunshell_close(&pp->tun);
	zt_otcp_client_close(&pp->otcp);
	if (pp->d.loop)
		zt_timer_cancel(pp->d.loop, &pp->spray_t); /* initialized in zt_peerprog_main */
	zt_sprayio_close(&pp->spray);
	pp->d.io.send_other = NULL;
	zt_nodeio_close(&pp->d.io);
	zt_peer_free(pp->peer);
	zt_tls_ctx_free(pp->pc.outer_tls);
	zt_tls_ctx_free(pp->pc.outer_tls_tcp);
	zt_tls_ctx_free(pp->pc.inner_tls);
	for (size_t i = 0; i < pp->nspecs; i++)
		if (find_spec(pp, pp->specs[i].service, -1) == &pp->specs[i])
			zt_tls_ctx_free(pp->specs[i].tls);
	explicit_bzero(pp->token, sizeof(pp->token));
}

static const struct zt_daemon_ops peer_ops = {
	.setup = setup,
	.stats = log_stats,
	.stop = stop,
	.teardown = teardown,
};

int zt_peerprog_main(struct zt_peerprog *pp, int argc, char **argv, const char *summary)
{
	const struct zt_conf_key *extra = pp->role == ZT_CTRL_ROLE_AGENT ? zt_peerprog_agent_keys
									  : zt_peerprog_connector_keys;
	size_t nextra = pp->role == ZT_CTRL_ROLE_AGENT ? zt_peerprog_agent_nkeys
						       : zt_peerprog_connector_nkeys;
	struct zt_conf conf;

	pp->d.ops = &peer_ops;
	pp->d.arg = pp;
	pp->pc.nat_detect = true; /* --nat-ports auto */
	zt_timer_init(&pp->spray_t, on_spray_timer, pp);
	zt_conf_init(&conf, extra, nextra, pp);
	zt_conf_add(&conf, zt_peerprog_keys, zt_peerprog_nkeys, pp);
	return zt_daemon_main(&pp->d, &conf, argc, argv, summary);
}
