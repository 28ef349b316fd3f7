#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "app/secret.h"
#include "core/err.h"
#include "io/file.h"
#include "quic/pki.h"

#define SECRET_MAX (64 * 1024)

static const char *why_open(int err)
{
	switch (err) {
	case ELOOP:
		return "a symbolic link: give the real path";
	case ENOENT:
		return "no such file";
	case EACCES:
		return "permission denied";
	case EISDIR:
		return "a directory";
	default:
		return "cannot open";
	}
}

/* The mode rule for an open secret file: regular, nothing for group and others. */
static int check_mode(int fd, const char **why)
{
	struct stat st;

	if (fstat(fd, &st) < 0) {
		*why = "cannot stat";
		return -errno;
	}
	if (!S_ISREG(st.st_mode)) {
		*why = "not a regular file";
		return -EINVAL;
	}
	if (st.st_mode & 077) {
		*why = "readable or writable by group or others";
		return -EPERM;
	}
	return 0;
}

FILE *zt_secret_append(const char *path, const char **why)
{
	const char *dummy;
	FILE *f;
	int fd, rc;

	if (!why)
		why = &dummy;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	if (fd < 0) {
		*why = why_open(errno);
		return NULL;
	}
	rc = check_mode(fd, why);
	if (rc < 0)
		goto out_close;
	f = fdopen(fd, "a");
	if (!f) {
		rc = -errno;
		*why = "out of memory";
		goto out_close;
	}
	return f;

out_close:
	close(fd);
	errno = -rc;
	return NULL;
}

FILE *zt_secret_create(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY, 0600);
	FILE *f;

	if (fd < 0)
		return NULL;
	f = fdopen(fd, "w");
	if (!f) {
		int err = errno;
		close(fd);
		errno = err;
	}
	return f;
}

int zt_secret_read(const char *path, char **ret, const char **why)
{
	const char *dummy;
	int fd, rc;

	if (!why)
		why = &dummy;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		rc = -errno;
		*why = why_open(errno);
		return rc;
	}
	rc = check_mode(fd, why);
	if (rc < 0)
		goto out_close;
	rc = zt_read_all(fd, SECRET_MAX, ret, NULL);
	if (rc == -ENOMEM)
		*why = "out of memory";
	else if (rc == ZT_ETOOBIG)
		*why = "larger than 64 KiB";
	else if (rc < 0)
		*why = "cannot read";
out_close:
	close(fd);
	return rc;
}

int zt_secret_read_line(const char *path, char *buf, size_t cap, const char **why)
{
	const char *dummy;
	char *text = NULL;
	size_t n;
	int rc;

	if (!why)
		why = &dummy;
	rc = zt_secret_read(path, &text, why);
	if (rc < 0)
		return rc;
	n = strcspn(text, "\r\n");
	if (n == 0) {
		rc = ZT_EZEROLEN;
		*why = "the first line is empty";
	} else if (n >= cap) {
		rc = ZT_ETOOBIG;
		*why = "the first line is too long";
	} else {
		memcpy(buf, text, n);
		buf[n] = '\0';
		rc = (int)n;
	}
	zt_secret_free(text);
	return rc;
}

void zt_secret_free(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

int zt_secret_check_pki(const char *prog, const char *dir, int kind, const char *name)
{
	struct zt_pki_subject self = { .kind = (enum zt_pki_kind)kind, .name = name };
	char first[4096] = "", stem[128], own[4096], cert[4096];
	struct stat st;
	bool bundle_below;
	int n;

	if (zt_pki_file_stem(&self, stem, sizeof(stem)) < 0)
		return 0;
	snprintf(own, sizeof(own), "%s/%s", dir, stem);
	snprintf(cert, sizeof(cert), "%s/%s.pem", dir, stem);
	bundle_below = stat(own, &st) == 0 && S_ISDIR(st.st_mode);
	/* Neither our certificate nor our bundle here (a wrong --name, a wrong path): the
	 * missing file is the better message, given when it is loaded. */
	if (!bundle_below && access(cert, F_OK) < 0)
		return 0;
	n = zt_pki_bundle_check(dir, &self, first, sizeof(first));
	if (n <= 0)
		return 0;
	fprintf(stderr, "%s: --pki %s holds private keys that are not %s%s%s's (%s%s): a party "
			"given them could act as the CA or as another party. Give each program "
			"only its own bundle: ", prog, dir,
		kind == ZT_PKI_INTERMEDIATE ? "the Intermediate" : zt_pki_kind_name(self.kind),
		kind == ZT_PKI_INTERMEDIATE ? "" : " ", kind == ZT_PKI_INTERMEDIATE ? "" : name,
		first, n > 1 ? ", and more" : "");
	if (bundle_below)
		fprintf(stderr, "--pki %s\n", own);
	else
		fprintf(stderr, "ca.pem, %s.pem and %s.key%s in a directory of its own ('ztna pki "
				"init' writes one per party)\n", stem, stem,
			kind == ZT_PKI_CONNECTOR ? ", its services' service-*.pem and .key" : "");
	return 1;
}
