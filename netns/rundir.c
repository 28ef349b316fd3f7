#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io/file.h"
#include "rundir.h"
#include "runenv.h"

int zt_rundir_path(const char *id, const char *file, char *buf, size_t cap)
{
	int n = file ? snprintf(buf, cap, "%s/%s/%s", ZT_RUN_ROOT, id, file)
		     : snprintf(buf, cap, "%s/%s", ZT_RUN_ROOT, id);

	return n < 0 || (size_t)n >= cap ? -ENOBUFS : 0;
}

int zt_rundir_create(const char *id)
{
	char path[256];
	int rc;

	if (!zt_run_id_valid(id))
		return -EINVAL;
	if (mkdir(ZT_RUN_ROOT, 0755) < 0 && errno != EEXIST)
		return -errno;
	if ((rc = zt_rundir_path(id, NULL, path, sizeof(path))) < 0)
		return rc;
	return mkdir(path, 0755) < 0 ? -errno : 0;
}

int zt_rundir_remove(const char *id)
{
	char path[256];
	DIR *d;
	struct dirent *e;
	int rc;

	if (!zt_run_id_valid(id))
		return -EINVAL;
	if ((rc = zt_rundir_path(id, NULL, path, sizeof(path))) < 0)
		return rc;
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
			unlinkat(dirfd(d), e->d_name, 0);
	closedir(d);
	return rmdir(path) < 0 ? -errno : 0;
}

int zt_rundir_write(const char *id, const char *file, const void *data, size_t len, bool append)
{
	char path[256];
	int fd, rc;

	if ((rc = zt_rundir_path(id, file, path, sizeof(path))) < 0)
		return rc;
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (append ? O_APPEND : O_TRUNC), 0644);
	if (fd < 0)
		return -errno;
	rc = zt_write_all(fd, data, len);
	close(fd);
	return rc;
}

int zt_rundir_read(const char *id, const char *file, char **ret, size_t *ret_len)
{
	char path[256];
	int fd, rc;

	if ((rc = zt_rundir_path(id, file, path, sizeof(path))) < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	rc = zt_read_all(fd, SIZE_MAX, ret, ret_len);
	close(fd);
	return rc;
}

uint64_t zt_proc_start_time(pid_t pid)
{
	char path[64], buf[1024], *p, state = 0;
	unsigned long long start = 0;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	/* the command name may hold spaces and ')': fields restart after the last ')' */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	/* after ") " come fields 3..: state, ppid, ..., starttime is field 22 */
	if (sscanf(p + 2, "%c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %*u %*u %*d %*d %*d %*d "
		   "%*d %*d %llu", &state, &start) != 2)
		return 0;
	/* a zombie has exited: nobody reaped it yet (an init that does not reap orphans) */
	return state == 'Z' || state == 'X' ? 0 : start;
}

int zt_rundir_write_pid(const char *id)
{
	char line[64];
	int n = snprintf(line, sizeof(line), "%d %" PRIu64 "\n", (int)getpid(),
			 zt_proc_start_time(getpid()));

	return zt_rundir_write(id, "pid", line, (size_t)n, false);
}

pid_t zt_rundir_live_pid(const char *id)
{
	char *text;
	int pid = 0, rc;
	uint64_t start = 0;

	rc = zt_rundir_read(id, "pid", &text, NULL);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	if (sscanf(text, "%d %" SCNu64, &pid, &start) != 2 || pid <= 0)
		pid = 0;
	free(text);
	if (pid <= 0 || zt_proc_start_time(pid) != start)
		return 0;
	return pid;
}

int zt_rundir_record_proc(const char *id, pid_t pid, const char *node, const char *prog)
{
	char line[128];
	int n = snprintf(line, sizeof(line), "%d %" PRIu64 " %s %s\n", (int)pid,
			 zt_proc_start_time(pid), node, prog);

	if (n < 0 || (size_t)n >= sizeof(line) || strpbrk(node, " \n") || strpbrk(prog, " \n"))
		return -EINVAL;
	return zt_rundir_write(id, "procs", line, (size_t)n, true);
}

int zt_rundir_live_procs(const char *id,
			 void (*fn)(pid_t pid, const char *node, const char *prog, void *ctx),
			 void *ctx)
{
	char *text, *line, *save = NULL;
	int rc, live = 0;

	rc = zt_rundir_read(id, "procs", &text, NULL);
	if (rc == -ENOENT)
		return 0;
	if (rc < 0)
		return rc;
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char node[32], prog[32];
		uint64_t start;
		int pid;

		if (sscanf(line, "%d %" SCNu64 " %31s %31s", &pid, &start, node, prog) != 4 ||
		    pid <= 0 || start == 0 || zt_proc_start_time(pid) != start)
			continue;
		if (fn)
			fn(pid, node, prog, ctx);
		live++;
	}
	free(text);
	return live;
}

int zt_rundir_list(void (*fn)(const char *id, void *ctx), void *ctx)
{
	DIR *d = opendir(ZT_RUN_ROOT);
	struct dirent *e;
	int count = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		if (!zt_run_id_valid(e->d_name))
			continue;
		fn(e->d_name, ctx);
		count++;
	}
	closedir(d);
	return count;
}
