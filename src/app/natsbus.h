/*
 * The Intermediate's link to a NATS cluster (libnats, JetStream key-value): one
 * bucket, written and watched (docs/scale-out.md). Everything NATS does runs on the
 * bus's own thread, so a slow or absent cluster never blocks the event loop: the loop
 * queues puts and deletes (zt_natsbus_put), and takes the bucket's changes
 * (zt_natsbus_take) when the bus wakes it through an eventfd watched in the loop.
 *
 * Both queues are bounded: a put that finds its queue full is dropped and counted
 * (the publisher puts every record again within its refresh interval), and so is a
 * change the loop has not taken while the queue is full. With the cluster
 * unreachable the bus keeps trying (every 1 s, then up to every 5 s) and says why in
 * its status; after a reconnect it watches the bucket again from its current values.
 *
 * Values are handed over as the store has them, at most ZT_NATSBUS_VAL_MAX bytes (a
 * longer one arrives cut to ZT_NATSBUS_VAL_MAX + 1 bytes, so that a reader refuses it).
 * Keys longer than ZT_NATSBUS_KEY_MAX are dropped and counted.
 */
#ifndef ZT_APP_NATSBUS_H
#define ZT_APP_NATSBUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/loop.h"

#define ZT_NATSBUS_KEY_MAX 127
#define ZT_NATSBUS_VAL_MAX 511
#define ZT_NATSBUS_QUEUE_MAX 4096
/* The policy bucket: one key, values up to a sealed policy record (core/polrec.h). */
#define ZT_NATSBUS_POLICY_KEY "policy"
#define ZT_NATSBUS_POLICY_MAX (300 * 1024)
/* The values of the policy key the bucket keeps (NATS allows 64 at most): a follower
 * starting reads them all and takes the newest that opens. */
#define ZT_NATSBUS_POLICY_HISTORY 64

struct zt_natsbus_config {
	const char *servers;         /* "nats://h1:4222,nats://h2:4222" */
	const char *bucket;          /* A-Z a-z 0-9 _ - */
	const char *name;            /* the connection's name, seen in the server's monitor */
	int64_t ttl_ms;              /* the bucket's max age of a value */
	int replicas;                /* the bucket's copies (1..5; 3 on a 3-node cluster) */
	/* Also watch ZT_NATSBUS_POLICY_KEY in this bucket (values kept until replaced);
	 * NULL: no policy. */
	const char *policy_bucket;
	/* Called on the loop's thread when changes or a state change wait. */
	void (*on_ready)(void *arg);
	void *arg;
};

enum zt_natsbus_state {
	ZT_NATSBUS_CONNECTING = 0,   /* no server answered yet, or the bucket is not bound */
	ZT_NATSBUS_READY,            /* connected, bucket bound and watched */
	ZT_NATSBUS_DOWN,             /* was ready, lost the connection: trying again */
};

struct zt_natsbus_change {
	char key[ZT_NATSBUS_KEY_MAX + 1];
	bool deleted;                /* a delete or purge; else a put of val */
	size_t len;
	uint8_t val[ZT_NATSBUS_VAL_MAX + 1];
};

struct zt_natsbus_status {
	enum zt_natsbus_state state;
	uint64_t readies;            /* times it became ready (1 after the first connect) */
	uint64_t puts, deletes;      /* done on the store */
	uint64_t changes;            /* seen by the watcher */
	uint64_t dropped;            /* queued operations or changes dropped: a queue full */
	uint64_t failed;             /* store operations that failed (counted, not retried) */
	char error[160];             /* why it is not ready, or the last failure; "" none */
};

struct zt_natsbus;

/* Starts the bus's thread (connecting in the background). Returns 0 or -errno /
 * -EINVAL (no servers, a bad bucket name). */
int zt_natsbus_start(struct zt_natsbus **ret, const struct zt_natsbus_config *cfg,
		     struct zt_loop *loop);
/* Stops the thread (queued operations still go out for up to a second) and frees.
 * NULL is fine. */
void zt_natsbus_stop(struct zt_natsbus *bus);

/* Queues a put of val (len <= ZT_NATSBUS_VAL_MAX) under key, or a delete (val NULL).
 * Returns 0, -ENOBUFS (queue full: dropped, counted) or -EINVAL. */
int zt_natsbus_put(struct zt_natsbus *bus, const char *key, const uint8_t *val, size_t len);

/* Up to cap waiting changes into out, oldest first. Returns how many. */
size_t zt_natsbus_take(struct zt_natsbus *bus, struct zt_natsbus_change *out, size_t cap);

/* The next value of the policy key (heap: free it; a delete is an empty value), oldest
 * first: at the start the ones the bucket keeps, then each new one. Returns 1 with
 * *val and *len, or 0 when none waits. */
int zt_natsbus_take_policy(struct zt_natsbus *bus, uint8_t **val, size_t *len);

void zt_natsbus_status(struct zt_natsbus *bus, struct zt_natsbus_status *ret);

/* For a command-line tool: connects to servers, opens bucket (created with replicas
 * copies and no expiry if absent), gets or puts key, disconnects. get: *val on the
 * heap. Return 0, -ENOENT (get: no value), -EIO / -EINVAL with the reason in err. */
int zt_natsbus_get_once(const char *servers, const char *bucket, int replicas, const char *key,
			uint8_t **val, size_t *len, char *err, size_t cap);
/* The same, calling each(arg, value, len) for every value of key the bucket keeps
 * (oldest first; deletes left out). */
int zt_natsbus_history_once(const char *servers, const char *bucket, int replicas,
			    const char *key,
			    void (*each)(void *arg, const uint8_t *val, size_t len), void *arg,
			    char *err, size_t cap);
int zt_natsbus_put_once(const char *servers, const char *bucket, int replicas, const char *key,
			const uint8_t *val, size_t len, uint64_t *rev, char *err, size_t cap);

const char *zt_natsbus_state_name(enum zt_natsbus_state s);

#endif
