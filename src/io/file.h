/* Reading and writing whole files through a descriptor, for the programs' small files. */
#ifndef ZT_IO_FILE_H
#define ZT_IO_FILE_H

#include <stddef.h>

/*
 * Reads fd to its end into a malloc'd buffer with a NUL after the data. At most max
 * bytes (SIZE_MAX: no limit). What was read is wiped before any buffer is freed (when
 * the buffer grows, on an error), so secrets may be read with it.
 * Returns 0 with *ret (the caller frees it) and *ret_len (if not NULL); -ENOMEM, the
 * read's -errno, or ZT_ETOOBIG when fd holds more than max bytes, ret and ret_len
 * untouched.
 */
int zt_read_all(int fd, size_t max, char **ret, size_t *ret_len);

/*
 * Writes all len bytes of data to fd, resuming after short writes and EINTR.
 * Returns 0, the write's -errno, or -EIO when write() wrote nothing.
 */
int zt_write_all(int fd, const void *data, size_t len);

#endif
