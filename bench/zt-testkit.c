/*
 * zt-testkit: small TCP/UDP tools for the system tests of the ztna programs
 * (tests/sys/relay.sh), on 127.0.0.0/8. One binary, one subcommand each:
 *
 *   tcp-echo PORT                  echo every connection; FIN after the peer's FIN
 *   tcp-sink PORT                  read each connection to its end, then answer
 *                                  "BYTES SHA256HEX\n" and close (a half-close test)
 *   tcp-source PORT FILE           send FILE on each connection, then close
 *   tcp-flood PORT                 send pseudo-random bytes on each connection forever
 *   tcp-send ADDR:PORT FILE        send FILE, shut down writing, print the answer
 *   tcp-recv ADDR:PORT             read to the end, print "BYTES SHA256HEX"
 *   tcp-conc ADDR:PORT N BYTES     N connections at once to an echo service, each
 *                                  sends BYTES (its own pattern) and checks the echo;
 *                                  prints "ok K of N"
 *   tcp-slow ADDR:PORT RATE SECS [OUT]  read RATE bytes/s for SECS (or to the end),
 *                                  print bytes read; OUT: write them there too
 *   tcp-rtt ADDR:PORT COUNT SIZE   ping-pong SIZE bytes COUNT times over one connection
 *                                  to an echo service; prints "rtt_us_p50 X rtt_us_p99 Y"
 *   udp-echo PORT                  echo datagrams
 *   udp-ping ADDR:PORT COUNT SIZE WINDOW [MARKER]
 *                                  COUNT numbered datagrams, at most WINDOW unanswered,
 *                                  prints "sent S received R lost L rtt_us_p50 X"
 *   tap LISTEN_PORT UPSTREAM MARKER STATS_FILE [REPLAY_EVERY]
 *                                  a UDP relay between clients and UPSTREAM that scans
 *                                  every datagram both ways for MARKER; every
 *                                  REPLAY_EVERY-th client datagram is sent twice (a
 *                                  replay); writes counters to STATS_FILE on SIGUSR1
 *                                  and at exit (relay channel datagrams, first byte
 *                                  0x0C, counted apart: docs/relay-channel.md). On
 *                                  SIGUSR2 it does what STATS_FILE.cmd says, then
 *                                  writes the counters: "rebind" (every client's
 *                                  upstream socket replaced by one on a new port: a
 *                                  NAT rebinding) or "chan SESSION" (SESSION in hex:
 *                                  one channel datagram for it, 100 bytes of inner
 *                                  packet, upstream from the first client's socket)
 *   garbage ADDR:PORT COUNT        COUNT malformed datagrams: random bytes, STUN-like,
 *                                  truncated QUIC long and short headers, empty
 *   udp-flows ADDR:PORT N FROM     one datagram from each of N source ports (FROM is
 *                                  IP:FIRST_PORT; ports FIRST_PORT..+N-1): N flows at
 *                                  an agent's UDP forward
 *   tcp-hold ADDR:PORT N SECS      N connections held open SECS seconds; prints
 *                                  "open K of N" (those the other end did not close)
 *   pcp-map GATEWAY PORT EXT LIFETIME [NONCE]
 *                                  one PCP MAP request (RFC 6887, UDP; core/pcp.h) for
 *                                  internal port PORT of this host (sent from another
 *                                  port, so PORT may be in use), suggesting external
 *                                  port EXT, to GATEWAY:5351, sent up to 3 times 250 ms apart, with
 *                                  a random nonce or NONCE (24 hex digits: a mapping is
 *                                  renewed or deleted, LIFETIME 0, with its own); prints
 *                                  "mapped IP:PORT lifetime N nonce HEX" or "deleted",
 *                                  "result N" for a refusal, "version N" for a non-PCP
 *                                  answer, or "no answer" (exit 1)
 *
 * A PORT binds to 127.0.0.1, an ADDR:PORT to ADDR (a lab host's address in the lab
 * scenarios). Exit status 0 on success, 1 on a failed check, 2 on usage.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/crypto.h>

#include "core/pcp.h"

#define MAXC 16384

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int parse_addr(const char *text, struct sockaddr_in *sa)
{
	char host[64];
	const char *colon = strrchr(text, ':');

	memset(sa, 0, sizeof(*sa));
	sa->sin_family = AF_INET;
	if (!colon) {
		sa->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sa->sin_port = htons((uint16_t)atoi(text));
		return 0;
	}
	if ((size_t)(colon - text) >= sizeof(host))
		return -1;
	memcpy(host, text, (size_t)(colon - text));
	host[colon - text] = '\0';
	sa->sin_port = htons((uint16_t)atoi(colon + 1));
	return inet_pton(AF_INET, host, &sa->sin_addr) == 1 ? 0 : -1;
}

static int tcp_listen(const char *port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	parse_addr(port, &sa);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 512) < 0) {
		perror("listen");
		exit(1);
	}
	return fd;
}

static int tcp_connect(const char *addr)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	if (parse_addr(addr, &sa) < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("connect");
		exit(1);
	}
	return fd;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void hex(const uint8_t *d, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

static uint8_t pattern(uint64_t seed, uint64_t off)
{
	uint64_t x = (off >> 3) * 0x9e3779b97f4a7c15ULL + seed * 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 31;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 29;
	return (uint8_t)(x >> ((off & 7) * 8));
}

/* Writes all of buf; false when the socket failed. */
static bool write_all(int fd, const uint8_t *buf, size_t n)
{
	for (size_t off = 0; off < n;) {
		ssize_t w = write(fd, buf + off, n - off);
		if (w <= 0)
			return false;
		off += (size_t)w;
	}
	return true;
}

/* A forking server: each connection in its own process (simple, and enough here). */
static void serve(const char *port, void (*handle)(int fd, void *arg), void *arg)
{
	int lfd = tcp_listen(port);

	signal(SIGCHLD, SIG_IGN);
	for (;;) {
		int fd = accept(lfd, NULL, NULL);
		if (fd < 0)
			continue;
		if (fork() == 0) {
			close(lfd);
			handle(fd, arg);
			_exit(0);
		}
		close(fd);
	}
}

static void echo_conn(int fd, void *arg)
{
	uint8_t buf[65536];
	ssize_t n;
	(void)arg;

	while ((n = read(fd, buf, sizeof(buf))) > 0)
		if (!write_all(fd, buf, (size_t)n))
			return;
	shutdown(fd, SHUT_WR);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void sink_conn(int fd, void *arg)
{
	uint8_t buf[65536], dig[32];
	char line[128], h[65];
	gnutls_hash_hd_t hh;
	uint64_t total = 0;
	ssize_t n;
	(void)arg;

	gnutls_hash_init(&hh, GNUTLS_DIG_SHA256);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		gnutls_hash(hh, buf, (size_t)n);
		total += (uint64_t)n;
	}
	gnutls_hash_deinit(hh, dig);
	hex(dig, 32, h);
	snprintf(line, sizeof(line), "%llu %s\n", (unsigned long long)total, h);
	if (write(fd, line, strlen(line)) < 0)
		return;
	shutdown(fd, SHUT_WR);
}

static void source_conn(int fd, void *arg)
{
	uint8_t buf[65536];
	int in = open(arg, O_RDONLY);
	ssize_t n;

	while (in >= 0 && (n = read(in, buf, sizeof(buf))) > 0)
		if (!write_all(fd, buf, (size_t)n))
			return;
	shutdown(fd, SHUT_WR);
	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void flood_conn(int fd, void *arg)
{
	uint8_t buf[65536];
	(void)arg;

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = pattern(7, i);
	while (write(fd, buf, sizeof(buf)) > 0)
		;
}

static int cmd_tcp_send(const char *addr, const char *file)
{
	int fd = tcp_connect(addr), in = open(file, O_RDONLY);
	uint8_t buf[65536];
	ssize_t n;

	if (in < 0) {
		perror(file);
		return 1;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (!write_all(fd, buf, (size_t)n)) {
			perror("write");
			return 1;
		}
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		fwrite(buf, 1, (size_t)n, stdout);
	return n < 0 ? 1 : 0;
}

static int cmd_tcp_recv(const char *addr)
{
	int fd = tcp_connect(addr);
	uint8_t buf[65536], dig[32];
	gnutls_hash_hd_t hh;
	uint64_t total = 0;
	char h[65];
	ssize_t n;

	shutdown(fd, SHUT_WR);
	gnutls_hash_init(&hh, GNUTLS_DIG_SHA256);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		gnutls_hash(hh, buf, (size_t)n);
		total += (uint64_t)n;
	}
	gnutls_hash_deinit(hh, dig);
	hex(dig, 32, h);
	printf("%llu %s\n", (unsigned long long)total, h);
	return n < 0 ? 1 : 0;
}

struct conc {
	int fd;
	uint64_t seed, sent, recvd;
	bool shut, done, bad;
};

static int cmd_tcp_conc(const char *addr, int n, uint64_t bytes)
{
	static struct conc c[MAXC];
	struct pollfd pfd[MAXC];
	uint8_t buf[65536];
	int ok = 0, left = n;
	uint64_t deadline = now_us() + 120000000ULL;

	if (n > MAXC)
		return 2;
	for (int i = 0; i < n; i++) {
		c[i] = (struct conc){ .fd = tcp_connect(addr), .seed = 1000 + (uint64_t)i };
		set_nonblock(c[i].fd);
	}
	while (left && now_us() < deadline) {
		for (int i = 0; i < n; i++) {
			pfd[i].fd = c[i].done ? -1 : c[i].fd;
			pfd[i].events = POLLIN | (c[i].sent < bytes ? POLLOUT : 0);
		}
		if (poll(pfd, (nfds_t)n, 1000) < 0)
			break;
		for (int i = 0; i < n; i++) {
			struct conc *k = &c[i];
			ssize_t r;
			if (k->done)
				continue;
			if ((pfd[i].revents & POLLOUT) && k->sent < bytes) {
				size_t m = bytes - k->sent < sizeof(buf) ? bytes - k->sent : sizeof(buf);
				for (size_t j = 0; j < m; j++)
					buf[j] = pattern(k->seed, k->sent + j);
				r = write(k->fd, buf, m);
				if (r > 0)
					k->sent += (uint64_t)r;
			}
			if (k->sent == bytes && !k->shut) {
				shutdown(k->fd, SHUT_WR);
				k->shut = true;
			}
			if (pfd[i].revents & (POLLIN | POLLHUP | POLLERR)) {
				r = read(k->fd, buf, sizeof(buf));
				if (r > 0) {
					for (ssize_t j = 0; j < r; j++)
						if (buf[j] != pattern(k->seed, k->recvd + (uint64_t)j))
							k->bad = true;
					k->recvd += (uint64_t)r;
				} else if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
					k->done = true;
					left--;
					if (!k->bad && k->recvd == bytes)
						ok++;
					close(k->fd);
				}
			}
		}
	}
	printf("ok %d of %d\n", ok, n);
	return ok == n ? 0 : 1;
}

static int cmd_tcp_slow(const char *addr, uint64_t rate, int secs, const char *out)
{
	int fd = tcp_connect(addr);
	int ofd = out ? open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600) : -1;
	uint8_t buf[4096];
	uint64_t got = 0, start = now_us();

	if (out && ofd < 0) {
		perror(out);
		return 2;
	}

	while (now_us() < start + (uint64_t)secs * 1000000) {
		uint64_t allowed = rate * (now_us() - start) / 1000000;
		if (got < allowed) {
			ssize_t n = read(fd, buf, allowed - got < sizeof(buf) ? allowed - got : sizeof(buf));
			if (n <= 0)
				break;
			if (ofd >= 0 && !write_all(ofd, buf, (size_t)n))
				return 2;
			got += (uint64_t)n;
		} else {
			usleep(10000);
		}
	}
	printf("%llu\n", (unsigned long long)got);
	if (ofd >= 0)
		close(ofd);
	return 0;
}

static int cmp_u64(const void *a, const void *b);

static int cmd_tcp_rtt(const char *addr, int count, size_t size)
{
	int fd = tcp_connect(addr), one = 1;
	uint64_t *rtt = calloc((size_t)count, sizeof(uint64_t));
	uint8_t buf[65536];

	if (!rtt || size == 0 || size > sizeof(buf) || count <= 0)
		return 2;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	memset(buf, 'p', size);
	for (int i = 0; i < count; i++) {
		uint64_t t0 = now_us();
		size_t got = 0;
		if (write(fd, buf, size) != (ssize_t)size)
			return 1;
		while (got < size) {
			ssize_t n = read(fd, buf, size - got);
			if (n <= 0)
				return 1;
			got += (size_t)n;
		}
		rtt[i] = now_us() - t0;
	}
	qsort(rtt, (size_t)count, sizeof(rtt[0]), cmp_u64);
	printf("rtt_us_p50 %llu rtt_us_p99 %llu\n", (unsigned long long)rtt[count / 2],
	       (unsigned long long)rtt[count * 99 / 100]);
	free(rtt);
	return 0;
}

static int udp_socket(const char *port)
{
	struct sockaddr_in sa;
	int fd = socket(AF_INET, SOCK_DGRAM, 0), sz = 4 << 20;

	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sz, sizeof(sz));
	if (port) {
		parse_addr(port, &sa);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
			perror("bind");
			exit(1);
		}
	}
	return fd;
}

static int cmd_udp_echo(const char *port)
{
	int fd = udp_socket(port);
	uint8_t buf[65536];
	struct sockaddr_in from;
	socklen_t fl;
	ssize_t n;

	for (;;) {
		fl = sizeof(from);
		n = recvfrom(fd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
		if (n >= 0)
			sendto(fd, buf, (size_t)n, 0, (struct sockaddr *)&from, fl);
		else if (errno != EINTR)
			return 1;
	}
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

static int cmd_udp_ping(const char *addr, int count, size_t size, int window, const char *marker)
{
	struct sockaddr_in sa;
	int fd = udp_socket(NULL);
	uint8_t buf[2048];
	uint64_t *sent_at = calloc((size_t)count, sizeof(uint64_t)), *rtt = calloc((size_t)count, sizeof(uint64_t));
	bool *got = calloc((size_t)count, 1);
	int next = 0, received = 0, nrtt = 0, outstanding = 0, dup = 0;
	uint64_t last_progress = now_us();

	if (size < 8 || size > sizeof(buf) || parse_addr(addr, &sa) < 0 || !sent_at || !got || !rtt)
		return 2;
	connect(fd, (struct sockaddr *)&sa, sizeof(sa));
	set_nonblock(fd);
	for (size_t i = 8; i < size; i++)
		buf[i] = marker && *marker ? (uint8_t)marker[(i - 8) % strlen(marker)] : (uint8_t)i;
	while (received < count) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		while (next < count && outstanding < window) {
			memcpy(buf, &next, 4);
			memset(buf + 4, 0x5a, 4);
			sent_at[next] = now_us();
			if (send(fd, buf, size, 0) < 0)
				break;
			next++;
			outstanding++;
		}
		if (poll(&p, 1, 200) > 0) {
			uint8_t in[2048];
			ssize_t n;
			while ((n = recv(fd, in, sizeof(in), 0)) >= 8) {
				int seq;
				memcpy(&seq, in, 4);
				if (seq < 0 || seq >= next || (size_t)n != size)
					continue;
				if (got[seq]) {
					dup++;
					continue;
				}
				got[seq] = true;
				rtt[nrtt++] = now_us() - sent_at[seq];
				received++;
				outstanding--;
				last_progress = now_us();
			}
		}
		/* A datagram unanswered for 1 s is lost: free its window slot. */
		if (now_us() > last_progress + 1000000) {
			if (next == count)
				break;
			outstanding = 0;
			last_progress = now_us();
		}
	}
	qsort(rtt, (size_t)nrtt, sizeof(rtt[0]), cmp_u64);
	printf("sent %d received %d lost %d dup %d rtt_us_p50 %llu rtt_us_p99 %llu\n", next, received,
	       next - received, dup, nrtt ? (unsigned long long)rtt[nrtt / 2] : 0ULL,
	       nrtt ? (unsigned long long)rtt[nrtt * 99 / 100] : 0ULL);
	free(sent_at);
	free(rtt);
	free(got);
	return received == count ? 0 : 1;
}

/* The tap. */

struct tclient {
	struct sockaddr_in addr;
	int up;
};

static volatile sig_atomic_t tap_dump, tap_stop, tap_cmd;

static void on_sig(int sig)
{
	if (sig == SIGUSR1)
		tap_dump = 1;
	else if (sig == SIGUSR2)
		tap_cmd = 1;
	else
		tap_stop = 1;
}

/* The tap's SIGUSR2 command (STATS.cmd): a rebinding, or a channel datagram. */
static void tap_command(const char *stats, struct tclient *cl, int ncl, const struct sockaddr_in *up,
			uint64_t *cmds)
{
	char path[4096], line[128];
	unsigned long session;
	FILE *f;

	snprintf(path, sizeof(path), "%s.cmd", stats);
	f = fopen(path, "r");
	if (!f)
		return;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	if (!strncmp(line, "rebind", 6)) {
		for (int i = 0; i < ncl; i++) {
			close(cl[i].up);
			cl[i].up = udp_socket(NULL);
			connect(cl[i].up, (const struct sockaddr *)up, sizeof(*up));
			set_nonblock(cl[i].up);
		}
		(*cmds)++;
	} else if (sscanf(line, "chan %lx", &session) == 1 && ncl > 0) {
		uint8_t d[105] = { 0x0c, (uint8_t)(session >> 24), (uint8_t)(session >> 16),
				   (uint8_t)(session >> 8), (uint8_t)session };
		memset(d + 5, 0x41, sizeof(d) - 5);
		send(cl[0].up, d, sizeof(d), 0);
		(*cmds)++;
	}
}

static bool contains(const uint8_t *h, size_t hl, const uint8_t *n, size_t nl)
{
	for (size_t i = 0; nl && i + nl <= hl; i++)
		if (h[i] == n[0] && !memcmp(h + i, n, nl))
			return true;
	return false;
}

static int cmd_tap(const char *port, const char *upstream, const char *marker, const char *stats,
		   int replay_every)
{
	static struct tclient cl[256];
	struct pollfd pfd[257];
	struct sockaddr_in up, from;
	int lfd = udp_socket(port), ncl = 0;
	uint64_t c2u = 0, u2c = 0, hits_c2u = 0, hits_u2c = 0, bytes = 0, replays = 0;
	uint64_t chan_c2u = 0, chan_u2c = 0, cmds = 0;
	uint8_t buf[65536];
	size_t ml = strlen(marker);

	if (parse_addr(upstream, &up) < 0)
		return 2;
	signal(SIGUSR1, on_sig);
	signal(SIGUSR2, on_sig);
	signal(SIGTERM, on_sig);
	signal(SIGINT, on_sig);
	set_nonblock(lfd);
	while (!tap_stop) {
		pfd[0] = (struct pollfd){ .fd = lfd, .events = POLLIN };
		for (int i = 0; i < ncl; i++)
			pfd[i + 1] = (struct pollfd){ .fd = cl[i].up, .events = POLLIN };
		if (poll(pfd, (nfds_t)ncl + 1, 100) < 0 && errno != EINTR)
			break;
		if (pfd[0].revents & POLLIN) {
			for (;;) {
				socklen_t fl = sizeof(from);
				ssize_t n = recvfrom(lfd, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fl);
				int k;
				if (n < 0)
					break;
				for (k = 0; k < ncl; k++)
					if (cl[k].addr.sin_port == from.sin_port &&
					    cl[k].addr.sin_addr.s_addr == from.sin_addr.s_addr)
						break;
				if (k == ncl) {
					if (ncl == 256)
						continue;
					cl[k].addr = from;
					cl[k].up = udp_socket(NULL);
					connect(cl[k].up, (struct sockaddr *)&up, sizeof(up));
					set_nonblock(cl[k].up);
					ncl++;
				}
				c2u++;
				chan_c2u += n > 0 && buf[0] == 0x0c;
				bytes += (uint64_t)n;
				if (contains(buf, (size_t)n, (const uint8_t *)marker, ml))
					hits_c2u++;
				send(cl[k].up, buf, (size_t)n, 0);
				if (replay_every && c2u % (uint64_t)replay_every == 0) {
					send(cl[k].up, buf, (size_t)n, 0);
					replays++;
				}
			}
		}
		for (int i = 0; i < ncl; i++) {
			if (!(pfd[i + 1].revents & POLLIN))
				continue;
			for (;;) {
				ssize_t n = recv(cl[i].up, buf, sizeof(buf), 0);
				if (n < 0)
					break;
				u2c++;
				chan_u2c += n > 0 && buf[0] == 0x0c;
				bytes += (uint64_t)n;
				if (contains(buf, (size_t)n, (const uint8_t *)marker, ml))
					hits_u2c++;
				sendto(lfd, buf, (size_t)n, 0, (struct sockaddr *)&cl[i].addr, sizeof(cl[i].addr));
			}
		}
		if (tap_cmd) {
			tap_cmd = 0;
			tap_command(stats, cl, ncl, &up, &cmds);
			tap_dump = 1;
		}
		if (tap_dump || tap_stop) {
			char tmp[4096];
			FILE *f;
			tap_dump = 0;
			snprintf(tmp, sizeof(tmp), "%s.tmp", stats);
			f = fopen(tmp, "w");
			if (f) {
				fprintf(f, "clients %d\nto_upstream %llu\nto_clients %llu\nbytes %llu\n"
					   "hits_to_upstream %llu\nhits_to_clients %llu\nreplays %llu\n"
					   "chan_to_upstream %llu\nchan_to_clients %llu\ncommands %llu\n",
					ncl, (unsigned long long)c2u, (unsigned long long)u2c,
					(unsigned long long)bytes, (unsigned long long)hits_c2u,
					(unsigned long long)hits_u2c, (unsigned long long)replays,
					(unsigned long long)chan_c2u, (unsigned long long)chan_u2c,
					(unsigned long long)cmds);
				fclose(f);
				rename(tmp, stats);
			}
		}
	}
	return 0;
}

static int cmd_garbage(const char *addr, int count)
{
	struct sockaddr_in sa;
	int fd = udp_socket(NULL);
	uint8_t buf[1500];
	uint64_t x = now_us() | 1;

	if (parse_addr(addr, &sa) < 0)
		return 2;
	for (int i = 0; i < count; i++) {
		size_t len = 0;
		for (size_t j = 0; j < sizeof(buf); j++) {
			x ^= x << 13, x ^= x >> 7, x ^= x << 17;
			buf[j] = (uint8_t)x;
		}
		switch (i % 6) {
		case 0: len = 1 + x % 1400; break;                        /* random */
		case 1: buf[0] = 0x00; buf[1] = 0x01; len = 20 + x % 60; break; /* STUN-like */
		case 2: buf[0] = 0xc0; len = 1 + x % 30; break;             /* truncated long header */
		case 3: buf[0] = 0xc0; buf[1] = 0; buf[2] = 0; buf[3] = 0; buf[4] = 1; len = 1200; break;
		case 4: buf[0] = 0x40 | (buf[0] & 0x3f); len = 1 + x % 100; break; /* short header */
		default: len = 0; break;                                   /* empty */
		}
		sendto(fd, buf, len, 0, (struct sockaddr *)&sa, sizeof(sa));
		if (i % 50 == 49)
			usleep(1000);
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: zt-testkit COMMAND ARGS (see the top of bench/zt-testkit.c)\n");
}

static int cmd_udp_flows(const char *addr, int n, const char *from)
{
	struct sockaddr_in to, src;
	int sent = 0;

	if (parse_addr(addr, &to) < 0 || parse_addr(from, &src) < 0 || n < 1)
		return 2;
	for (int i = 0; i < n; i++) {
		int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1;
		char msg[32];
		struct sockaddr_in sa = src;

		if (fd < 0)
			return 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		sa.sin_port = htons((uint16_t)(ntohs(src.sin_port) + i));
		snprintf(msg, sizeof(msg), "flow %d", i);
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
		    sendto(fd, msg, strlen(msg), 0, (struct sockaddr *)&to, sizeof(to)) > 0)
			sent++;
		close(fd);
	}
	printf("sent %d of %d\n", sent, n);
	return sent == n ? 0 : 1;
}

/* Up to the hard open-files limit: tcp-hold may hold thousands. */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static int cmd_tcp_hold(const char *addr, int n, int secs)
{
	static int fds[MAXC];
	struct sockaddr_in sa;
	uint64_t end = now_us() + (uint64_t)secs * 1000000;
	int open_n = 0;

	if (n > MAXC || n < 1 || parse_addr(addr, &sa) < 0)
		return 2;
	raise_nofile();
	for (int i = 0; i < n; i++) {
		int rc;

		fds[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (fds[i] < 0) {
			perror("socket");
			return 1;
		}
		rc = connect(fds[i], (struct sockaddr *)&sa, sizeof(sa));
		if (rc < 0 && (errno == ECONNRESET || errno == ECONNREFUSED)) {
			/* reset before connect() returned (a limit): not held, like a later reset */
			close(fds[i]);
			fds[i] = -1;
			continue;
		}
		if (rc < 0) {
			perror("connect");
			return 1;
		}
		set_nonblock(fds[i]);
	}
	while (now_us() < end) {
		struct timespec ts = { 0, 50000000 };
		nanosleep(&ts, NULL);
	}
	for (int i = 0; i < n; i++) {
		char b;
		ssize_t r;

		if (fds[i] < 0)
			continue;
		r = recv(fds[i], &b, 1, 0);
		/* still open: nothing to read yet; closed or reset: 0 or an error */
		open_n += r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
		close(fds[i]);
	}
	printf("open %d of %d\n", open_n, n);
	return 0;
}

/* The source address the kernel would use from fd towards to (nothing is sent). */
static int source_towards(int fd, const struct sockaddr_in *to, struct zt_addr *ret)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	if (connect(fd, (const struct sockaddr *)to, sizeof(*to)) < 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) < 0)
		return -1;
	return zt_addr_from_sockaddr(ret, (struct sockaddr *)&sa, len);
}

/* What one PCP answer says; returns the exit status. */
static int pcp_report(const struct zt_pcp_answer *a, int lifetime)
{
	char b[ZT_ADDR_STRLEN];
	struct zt_addr ext = a->external_ip;

	if (a->version != ZT_PCP_VERSION) {
		printf("version %u result %u\n", a->version, a->result);
		return 1;
	}
	if (a->result != ZT_PCP_SUCCESS) {
		printf("result %u\n", a->result);
		return 1;
	}
	if (lifetime == 0) {
		printf("deleted\n");
		return 0;
	}
	ext.port = a->external_port;
	printf("mapped %s lifetime %u nonce ", zt_addr_str(&ext, b), a->lifetime);
	for (size_t i = 0; i < sizeof(a->nonce); i++)
		printf("%02x", a->nonce[i]);
	printf("\n");
	return 0;
}

/* NONCE: 24 hex digits into ret; NULL: random. Returns 0 or -1. */
static int pcp_nonce(const char *hex, uint8_t ret[ZT_PCP_NONCE_LEN])
{
	if (!hex) {
		gnutls_rnd(GNUTLS_RND_NONCE, ret, ZT_PCP_NONCE_LEN);
		return 0;
	}
	if (strlen(hex) != 2 * ZT_PCP_NONCE_LEN)
		return -1;
	for (size_t i = 0; i < ZT_PCP_NONCE_LEN; i++) {
		unsigned v;

		if (sscanf(hex + 2 * i, "%2x", &v) != 1)
			return -1;
		ret[i] = (uint8_t)v;
	}
	return 0;
}

static int cmd_pcp_map(const char *gw, int port, int ext, int lifetime, const char *nonce)
{
	struct zt_pcp_map m = { .lifetime = (uint32_t)lifetime, .protocol = ZT_PCP_PROTO_UDP,
				.internal_port = (uint16_t)port, .suggested_port = (uint16_t)ext };
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons(ZT_PCP_PORT) };
	struct sockaddr_in me = { .sin_family = AF_INET };
	uint8_t req[ZT_PCP_MAP_MSG_LEN], buf[ZT_PCP_MAX_LEN];
	int fd, n, rc = 1;

	if (port < 1 || port > 65535 || ext < 0 || ext > 65535 || lifetime < 0 ||
	    inet_pton(AF_INET, gw, &to.sin_addr) != 1 || pcp_nonce(nonce, m.nonce) < 0)
		return 2;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&me, sizeof(me)) < 0 ||
	    source_towards(fd, &to, &m.client) < 0) {
		perror("pcp-map");
		return 1;
	}
	n = zt_pcp_write_map(&m, req, sizeof(req));
	for (int i = 0; i < 3 && rc == 1 && n > 0; i++) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		struct zt_pcp_answer a;
		ssize_t got;

		send(fd, req, (size_t)n, 0);
		if (poll(&p, 1, 250) <= 0 || (got = recv(fd, buf, sizeof(buf), 0)) <= 0)
			continue;
		if (zt_pcp_parse(&a, buf, (size_t)got) == 0)
			rc = pcp_report(&a, lifetime) == 0 ? 0 : 3;
	}
	if (rc == 1)
		printf("no answer\n");
	close(fd);
	return rc == 3 ? 1 : rc;
}

int main(int argc, char **argv)
{
	const char *c = argc > 1 ? argv[1] : "";

	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(c, "tcp-echo") && argc == 3)
		serve(argv[2], echo_conn, NULL);
	if (!strcmp(c, "tcp-sink") && argc == 3)
		serve(argv[2], sink_conn, NULL);
	if (!strcmp(c, "tcp-source") && argc == 4)
		serve(argv[2], source_conn, argv[3]);
	if (!strcmp(c, "tcp-flood") && argc == 3)
		serve(argv[2], flood_conn, NULL);
	if (!strcmp(c, "tcp-send") && argc == 4)
		return cmd_tcp_send(argv[2], argv[3]);
	if (!strcmp(c, "tcp-recv") && argc == 3)
		return cmd_tcp_recv(argv[2]);
	if (!strcmp(c, "tcp-conc") && argc == 5)
		return cmd_tcp_conc(argv[2], atoi(argv[3]), strtoull(argv[4], NULL, 10));
	if (!strcmp(c, "tcp-slow") && (argc == 5 || argc == 6))
		return cmd_tcp_slow(argv[2], strtoull(argv[3], NULL, 10), atoi(argv[4]),
				    argc == 6 ? argv[5] : NULL);
	if (!strcmp(c, "tcp-rtt") && argc == 5)
		return cmd_tcp_rtt(argv[2], atoi(argv[3]), (size_t)atoi(argv[4]));
	if (!strcmp(c, "udp-echo") && argc == 3)
		return cmd_udp_echo(argv[2]);
	if (!strcmp(c, "udp-ping") && (argc == 6 || argc == 7))
		return cmd_udp_ping(argv[2], atoi(argv[3]), (size_t)atoi(argv[4]), atoi(argv[5]),
				    argc == 7 ? argv[6] : NULL);
	if (!strcmp(c, "tap") && (argc == 6 || argc == 7))
		return cmd_tap(argv[2], argv[3], argv[4], argv[5], argc == 7 ? atoi(argv[6]) : 0);
	if (!strcmp(c, "garbage") && argc == 4)
		return cmd_garbage(argv[2], atoi(argv[3]));
	if (!strcmp(c, "udp-flows") && argc == 5)
		return cmd_udp_flows(argv[2], atoi(argv[3]), argv[4]);
	if (!strcmp(c, "tcp-hold") && argc == 5)
		return cmd_tcp_hold(argv[2], atoi(argv[3]), atoi(argv[4]));
	if (!strcmp(c, "pcp-map") && (argc == 6 || argc == 7))
		return cmd_pcp_map(argv[2], atoi(argv[3]), atoi(argv[4]), atoi(argv[5]),
				   argc == 7 ? argv[6] : NULL);
	usage();
	return 2;
}
