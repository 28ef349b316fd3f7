/*
 * The state directory of a lab run, ZT_RUN_ROOT/ID: "pid" (the supervisor's pid and
 * start time, so a recycled pid is never taken for it), "netns" (every namespace
 * name, written before the namespace is created), "scenario" (a copy of the file),
 * "env" (the env file), "log" (the supervisor's log), "procs" (the processes the lab
 * started: pid, start time, node, program), and the files of those processes
 * ("proxy-NODE.conf", "proxy-NODE.log"; "portmap-NODE.conf", "portmap-NODE.log",
 * "portmap-NODE.pid").
 */
#ifndef ZT_NETNS_RUNDIR_H
#define ZT_NETNS_RUNDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Writes ZT_RUN_ROOT/id[/file] into buf. Returns 0 or -ENOBUFS. */
int zt_rundir_path(const char *id, const char *file, char *buf, size_t cap);

/* Creates the directory of run id. Returns 0, -EEXIST when the id is in use, or -errno. */
int zt_rundir_create(const char *id);

/* Removes the directory of run id and the files in it. Returns 0 or -errno. */
int zt_rundir_remove(const char *id);

/* Writes (or with append, appends) len bytes to file in the run directory. 0 or -errno. */
int zt_rundir_write(const char *id, const char *file, const void *data, size_t len, bool append);

/* Reads file of the run directory into a NUL-terminated malloc'd buffer. 0 or -errno. */
int zt_rundir_read(const char *id, const char *file, char **ret, size_t *ret_len);

/* Records the calling process as the run's supervisor. Returns 0 or -errno. */
int zt_rundir_write_pid(const char *id);

/*
 * The run's supervisor if it is still running: returns its pid (> 0), 0 when the pid
 * file is missing or its process is gone (or is a different process now), or -errno.
 */
pid_t zt_rundir_live_pid(const char *id);

/*
 * The start time of process pid in clock ticks since boot (/proc/PID/stat field 22),
 * or 0 when there is no such process or it has exited (a zombie).
 */
uint64_t zt_proc_start_time(pid_t pid);

/*
 * Records a process the lab started, as the line "PID START NODE PROG" appended to
 * "procs", so `down` can stop it by pid when the supervisor is gone. node and prog are
 * single words. Returns 0 or -errno.
 */
int zt_rundir_record_proc(const char *id, pid_t pid, const char *node, const char *prog);

/*
 * Calls fn (may be NULL) for each process recorded in "procs" that still runs with the
 * recorded start time (a recycled pid is never taken for it). Returns their number: 0
 * also when there is no "procs" file; or -errno.
 */
int zt_rundir_live_procs(const char *id,
			 void (*fn)(pid_t pid, const char *node, const char *prog, void *ctx),
			 void *ctx);

/* Calls fn for each run directory (valid ids only). Returns the count or -errno. */
int zt_rundir_list(void (*fn)(const char *id, void *ctx), void *ctx);

#endif
