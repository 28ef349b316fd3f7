#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ns.h"

static int ns_path(const char *name, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/%s", ZT_NS_RUN_DIR, name);

	if (n < 0 || (size_t)n >= cap || !name[0] || strchr(name, '/'))
		return -EINVAL;
	return 0;
}

/* /run/netns must be a shared mount so the bind mounts show in every mount namespace. */
static int prepare_run_dir(void)
{
	if (mkdir(ZT_NS_RUN_DIR, 0755) < 0 && errno != EEXIST)
		return -errno;
	for (int tries = 0; tries < 2; tries++) {
		if (mount("", ZT_NS_RUN_DIR, "none", MS_SHARED | MS_REC, NULL) == 0)
			return 0;
		if (errno != EINVAL || tries)
			return -errno;
		/* not a mount point yet: make it one */
		if (mount(ZT_NS_RUN_DIR, ZT_NS_RUN_DIR, "none", MS_BIND | MS_REC, NULL) < 0)
			return -errno;
	}
	return -EINVAL;
}

int zt_ns_self(void)
{
	int fd = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);

	return fd < 0 ? -errno : fd;
}

int zt_ns_enter(int nsfd)
{
	return setns(nsfd, CLONE_NEWNET) < 0 ? -errno : 0;
}

int zt_ns_remount_sys(void)
{
	if (unshare(CLONE_NEWNS) < 0)
		return -errno;
	/* keep receiving the host's mounts, never send ours back */
	if (mount("", "/", "none", MS_SLAVE | MS_REC, NULL) < 0)
		return -errno;
	if (umount2("/sys", MNT_DETACH) < 0 && errno != EINVAL)
		return -errno;
	return mount("sysfs", "/sys", "sysfs", 0, NULL) < 0 ? -errno : 0;
}

int zt_ns_create(const char *name)
{
	char path[256];
	int fd, self, rc;

	if ((rc = ns_path(name, path, sizeof(path))) < 0 || (rc = prepare_run_dir()) < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	close(fd);
	self = zt_ns_self();
	if (self < 0) {
		rc = self;
		goto out_unlink;
	}
	if (unshare(CLONE_NEWNET) < 0) {
		rc = -errno;
		goto out_close_self;
	}
	if (mount("/proc/thread-self/ns/net", path, "none", MS_BIND, NULL) < 0)
		rc = -errno;
	if (zt_ns_enter(self) < 0 && rc == 0)
		rc = -errno;
	close(self);
	if (rc < 0)
		goto out_unlink;
	return 0;
out_close_self:
	close(self);
out_unlink:
	unlink(path);
	return rc;
}

int zt_ns_open(const char *name)
{
	char path[256];
	int fd, rc;

	if ((rc = ns_path(name, path, sizeof(path))) < 0)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int zt_ns_delete(const char *name)
{
	char path[256];
	int rc;

	if ((rc = ns_path(name, path, sizeof(path))) < 0)
		return rc;
	if (umount2(path, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
		return -errno;
	if (unlink(path) < 0)
		return -errno;
	return 0;
}

int zt_ns_sysctl(const char *key, const char *value)
{
	char path[256];
	size_t len = strlen(value);
	int fd, n;

	n = snprintf(path, sizeof(path), "/proc/sys/%s", key);
	if (n < 0 || (size_t)n >= sizeof(path))
		return -EINVAL;
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = (int)write(fd, value, len);
	if (n < 0) {
		n = -errno;
		close(fd);
		return n;
	}
	close(fd);
	return (size_t)n == len ? 0 : -EIO;
}

int zt_ns_signal_members(const char *name, int sig)
{
	char path[256];
	struct stat ns;
	DIR *d;
	struct dirent *e;
	int rc, count = 0;
	pid_t self = getpid();

	if ((rc = ns_path(name, path, sizeof(path))) < 0)
		return rc;
	if (stat(path, &ns) < 0)
		return -errno;
	d = opendir("/proc");
	if (!d)
		return -errno;
	while ((e = readdir(d))) {
		char p[64];
		struct stat st;
		char *end;
		long pid = strtol(e->d_name, &end, 10);

		if (*end || pid <= 0 || pid == self)
			continue;
		snprintf(p, sizeof(p), "/proc/%ld/ns/net", pid);
		if (stat(p, &st) < 0 || st.st_ino != ns.st_ino || st.st_dev != ns.st_dev)
			continue;
		if (kill((pid_t)pid, sig) == 0)
			count++;
	}
	closedir(d);
	return count;
}

int zt_ns_kill_members(const char *name, unsigned wait_ms)
{
	int n = zt_ns_signal_members(name, SIGTERM), first = n;

	for (unsigned waited = 0; n > 0 && waited < wait_ms; waited += 20) {
		nanosleep(&(struct timespec){ .tv_nsec = 20 * 1000000 }, NULL);
		n = zt_ns_signal_members(name, 0);
	}
	if (n > 0)
		zt_ns_signal_members(name, SIGKILL);
	return first;
}

int zt_ns_list(const char *prefix, void (*fn)(const char *name, void *ctx), void *ctx)
{
	DIR *d = opendir(ZT_NS_RUN_DIR);
	struct dirent *e;
	int count = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)))
			continue;
		if (fn)
			fn(e->d_name, ctx);
		count++;
	}
	closedir(d);
	return count;
}
