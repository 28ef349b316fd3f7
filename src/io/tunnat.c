#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <nftables/libnftables.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/tunnat.h"

#define TABLE_PREFIX "ztna_"

/* A forwarding sysctl, its file kept open in the namespace of zt_tunnat_open. */
struct fwd_sysctl {
	int fd;
	char old[8];   /* the value found, without the newline */
	bool changed;  /* we wrote "1" over it */
};

struct zt_tunnat {
	struct nft_ctx *nft; /* its netlink socket is in the namespace of zt_tunnat_open */
	char table[sizeof(TABLE_PREFIX) + IFNAMSIZ];
	struct fwd_sysctl fwd[2]; /* IPv4, IPv6 (fd -1: not used) */
};

static const char *const fwd_path[2] = {
	"/proc/sys/net/ipv4/ip_forward",
	"/proc/sys/net/ipv6/conf/all/forwarding",
};

/* Writes a one-line reason to err (when there is room) and returns rc. */
static int fail(char *err, size_t errcap, int rc, const char *fmt, ...)
{
	va_list ap;

	if (errcap) {
		va_start(ap, fmt);
		vsnprintf(err, errcap, fmt, ap);
		va_end(ap);
	}
	return rc;
}

/* An interface name that is also safe inside an nftables identifier and string. */
static bool name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n >= IFNAMSIZ)
		return false;
	return strspn(name, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") == n;
}

static int sysctl_read(int fd, char *buf, size_t cap)
{
	ssize_t n = pread(fd, buf, cap - 1, 0);

	if (n < 0)
		return -errno;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = 0;
	return 0;
}

static int sysctl_write(int fd, const char *value)
{
	return pwrite(fd, value, strlen(value), 0) < 0 ? -errno : 0;
}

static int fwd_open(struct fwd_sysctl *s, const char *path)
{
	int rc;

	s->fd = open(path, O_RDWR | O_CLOEXEC);
	if (s->fd < 0)
		return errno == EACCES ? -EPERM : -errno;
	rc = sysctl_read(s->fd, s->old, sizeof(s->old));
	if (rc < 0) {
		close(s->fd);
		s->fd = -1;
	}
	return rc;
}

static int fwd_on(struct fwd_sysctl *s)
{
	int rc;

	if (s->fd < 0 || !strcmp(s->old, "1"))
		return 0;
	rc = sysctl_write(s->fd, "1");
	s->changed = rc == 0;
	return rc;
}

/* Puts the old value back if we changed it and nobody has since. Closes the file. */
static void fwd_restore(struct fwd_sysctl *s)
{
	char now[8];

	if (s->fd < 0)
		return;
	if (s->changed && sysctl_read(s->fd, now, sizeof(now)) == 0 && !strcmp(now, "1"))
		sysctl_write(s->fd, s->old);
	close(s->fd);
	s->fd = -1;
}

/* Runs nftables commands; on failure, the first line of nft's message into err. */
static int nft_run(struct nft_ctx *nft, const char *cmd, char *err, size_t errcap)
{
	const char *e;
	size_t len;

	if (nft_run_cmd_from_buffer(nft, cmd) == 0)
		return 0;
	e = nft_ctx_get_error_buffer(nft);
	if (!e || !*e)
		e = "nftables failed\n";
	len = strcspn(e, "\n");
	fail(err, errcap, 0, "%.*s", (int)len, e);
	return strstr(e, "Operation not permitted") ? -EPERM : -EIO;
}

#define FWD_COMMENT "ztna-fwd "

/*
 * A table left by a killed run says what forwarding was before that run turned it on
 * (its comment): those are the values to put back, not the "1" the killed run left.
 */
static void stale_values(struct zt_tunnat *n)
{
	char cmd[64 + sizeof(n->table)];
	const char *out, *c;

	snprintf(cmd, sizeof(cmd), "list table inet %s\n", n->table);
	if (nft_run_cmd_from_buffer(n->nft, cmd) != 0) {
		nft_ctx_get_error_buffer(n->nft); /* no such table: drop the message */
		return;
	}
	out = nft_ctx_get_output_buffer(n->nft);
	if (!out || !(c = strstr(out, "comment \"" FWD_COMMENT)))
		return;
	c += strlen("comment \"" FWD_COMMENT);
	for (int i = 0; i < 2; i++, c++) {
		if ((*c == '0' || *c == '1') && n->fwd[i].fd >= 0) {
			n->fwd[i].old[0] = *c;
			n->fwd[i].old[1] = '\0';
		}
		if (!*++c)
			break;
	}
}

/* The table (see tunnat.h), replacing a stale one in the same transaction. */
static int table_create(struct zt_tunnat *n, const char *ifn, bool want6, char *err,
			size_t errcap)
{
	char cmd[1536];
	int len;

	len = snprintf(cmd, sizeof(cmd),
		       "table inet %1$s\n"
		       "delete table inet %1$s\n"
		       "table inet %1$s {\n"
		       "\tcomment \"" FWD_COMMENT "%3$s %4$s\"\n"
		       "\tchain forward {\n"
		       "\t\ttype filter hook forward priority filter; policy accept;\n"
		       "\t\tiifname \"%2$s\" oifname != \"%2$s\" accept\n"
		       "\t\toifname \"%2$s\" ct state established,related accept\n"
		       "\t\toifname \"%2$s\" drop\n"
		       "\t}\n"
		       "\tchain postrouting {\n"
		       "\t\ttype nat hook postrouting priority srcnat; policy accept;\n"
		       "\t\tiifname \"%2$s\" oifname != \"%2$s\" masquerade\n"
		       "\t}\n"
		       "}\n",
		       n->table, ifn, n->fwd[0].fd >= 0 ? n->fwd[0].old : "-",
		       n->fwd[1].fd >= 0 ? n->fwd[1].old : "-");
	/* without want6: the agents' IPv6 is not forwarded, even on a host that routes */
	if (!want6 && len > 0 && (size_t)len < sizeof(cmd))
		len += snprintf(cmd + len, sizeof(cmd) - (size_t)len,
				"insert rule inet %s forward meta nfproto ipv6 iifname \"%s\" drop\n",
				n->table, ifn);
	if (len < 0 || (size_t)len >= sizeof(cmd))
		return fail(err, errcap, -EINVAL, "nftables commands too long");
	return nft_run(n->nft, cmd, err, errcap);
}

static void table_delete(struct zt_tunnat *n)
{
	char cmd[64 + sizeof(n->table)];

	snprintf(cmd, sizeof(cmd), "delete table inet %s\n", n->table);
	nft_run_cmd_from_buffer(n->nft, cmd);
}

/* Opens the forwarding sysctls (IPv6 only with want6) and remembers their values. */
static int fwd_open_all(struct zt_tunnat *n, bool want6, char *err, size_t errcap)
{
	for (int i = 0; i < (want6 ? 2 : 1); i++) {
		int rc = fwd_open(&n->fwd[i], fwd_path[i]);

		if (rc < 0)
			return fail(err, errcap, rc, "%s: %s", fwd_path[i], strerror(-rc));
	}
	return 0;
}

static int fwd_on_all(struct zt_tunnat *n, char *err, size_t errcap)
{
	for (int i = 0; i < 2; i++) {
		int rc = fwd_on(&n->fwd[i]);

		if (rc < 0)
			return fail(err, errcap, rc, "writing %s: %s", fwd_path[i], strerror(-rc));
	}
	return 0;
}

int zt_tunnat_open(struct zt_tunnat **ret, const char *tun_ifname, bool want6, char *err,
		   size_t errcap)
{
	struct zt_tunnat *n;
	int rc;

	if (errcap)
		err[0] = 0;
	if (!name_ok(tun_ifname))
		return fail(err, errcap, -EINVAL, "bad interface name");
	n = calloc(1, sizeof(*n));
	if (!n)
		return -ENOMEM;
	n->fwd[0].fd = n->fwd[1].fd = -1;
	snprintf(n->table, sizeof(n->table), TABLE_PREFIX "%s", tun_ifname);
	rc = fwd_open_all(n, want6, err, errcap);
	if (rc < 0)
		goto out_close_fwd;
	n->nft = nft_ctx_new(NFT_CTX_DEFAULT);
	if (!n->nft) {
		rc = fail(err, errcap, -ENOMEM, "nft_ctx_new failed");
		goto out_close_fwd;
	}
	nft_ctx_buffer_output(n->nft);
	nft_ctx_buffer_error(n->nft);
	stale_values(n);
	rc = table_create(n, tun_ifname, want6, err, errcap);
	if (rc < 0)
		goto out_free_nft;
	/* forwarding only once the rules are there: nothing leaves unNATed */
	rc = fwd_on_all(n, err, errcap);
	if (rc < 0)
		goto out_delete_table;
	*ret = n;
	return 0;

out_delete_table:
	fwd_restore(&n->fwd[0]);
	fwd_restore(&n->fwd[1]);
	table_delete(n);
out_free_nft:
	nft_ctx_free(n->nft);
out_close_fwd:
	fwd_restore(&n->fwd[0]);
	fwd_restore(&n->fwd[1]);
	free(n);
	return rc;
}

void zt_tunnat_close(struct zt_tunnat *n)
{
	if (!n)
		return;
	/* forwarding off first, so nothing crosses unNATed between the two steps */
	fwd_restore(&n->fwd[0]);
	fwd_restore(&n->fwd[1]);
	table_delete(n);
	nft_ctx_free(n->nft);
	free(n);
}
