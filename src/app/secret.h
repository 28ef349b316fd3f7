/*
 * Files that hold secrets: TLS key logs, qlog traces, token files, client lists.
 *
 * Rules (docs/security.md, "Secrets and logs"):
 *   - a file we create for secrets is mode 0600, opened with O_NOFOLLOW (a symbolic
 *     link planted at the path is refused, not followed);
 *   - an existing file we append secrets to (the key log) must be a regular file not
 *     readable or writable by group or others: a wider one is refused (-EPERM), never
 *     silently fixed, because what it holds already leaked;
 *   - a secret we read (a token file) must be a regular file not readable or writable
 *     by group or others (-EPERM): the fix is `chmod 600 FILE`.
 * Every function returns a negative code and sets *why (when why is not NULL) to a
 * short reason that names the fix, for the program's error message.
 */
#ifndef ZT_APP_SECRET_H
#define ZT_APP_SECRET_H

#include <stddef.h>
#include <stdio.h>

/* Opens path for appending secrets, creating it 0600. Returns the stream or NULL with
 * errno set (EPERM: group/others have access; ELOOP: a symbolic link; EINVAL: not a
 * regular file) and *why. */
FILE *zt_secret_append(const char *path, const char **why);

/* Creates a new file 0600 for writing (O_EXCL: an existing path is refused). Returns
 * the stream or NULL with errno set. */
FILE *zt_secret_create(const char *path);

/* Reads a small secret file (< 64 KiB) into a NUL-terminated heap string. Returns 0,
 * -errno from open/read, -EPERM (group/others have access), -EINVAL (not a regular
 * file), ZT_ETOOBIG, with *why set on failure. */
int zt_secret_read(const char *path, char **ret, const char **why);

/* Reads the first line of a secret file (trailing CR/LF stripped) into buf. Returns its
 * length, the errors of zt_secret_read, ZT_EZEROLEN (empty first line) or ZT_ETOOBIG
 * (longer than cap - 1). */
int zt_secret_read_line(const char *path, char *buf, size_t cap, const char **why);

/* Wipes and frees a string from zt_secret_read (accepts NULL). */
void zt_secret_free(char *s);

/*
 * A program's --pki directory must hold no private key that is not the program's own
 * (quic/pki.h zt_pki_bundle_check: not the CA's, not another party's): otherwise the
 * program refuses to start. Prints one message on stderr, prefixed "prog: ", naming a
 * foreign key and the fix (--pki DIR/KIND-NAME, the party's own bundle), and returns 1;
 * returns 0 when the directory is clean, cannot be read, or holds neither the party's
 * certificate nor its bundle (a wrong --name: the missing file is reported when it is
 * loaded).
 */
int zt_secret_check_pki(const char *prog, const char *dir, int kind, const char *name);

#endif
