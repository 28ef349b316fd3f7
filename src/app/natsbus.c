#include "app/natsbus.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <nats/nats.h>

#define WATCH_WAIT_MS 100   /* how long the thread waits for a change between its ops */
#define CONNECT_WAIT_MS 2000
#define BACKOFF_MIN_MS 1000
#define BACKOFF_MAX_MS 5000
#define FLUSH_MS 1000       /* at stop: how long queued ops may still take */

struct op {
	struct op *next;
	char key[ZT_NATSBUS_KEY_MAX + 1];
	bool del;
	size_t len;
	uint8_t val[];
};

struct chg {
	struct chg *next;
	struct zt_natsbus_change c;
};

struct zt_natsbus {
	char *servers, *bucket, *name;
	int64_t ttl_ms;
	int replicas;
	void (*on_ready)(void *arg);
	void *arg;
	struct zt_loop *loop;
	struct zt_watch wake_w;
	int wake_fd;
	pthread_t thread;
	bool running;

	pthread_mutex_t mu;           /* guards the queues, st and stop */
	pthread_cond_t cv;            /* stop, for the backoff wait */
	struct op *ops, **ops_tail;
	size_t nops;
	struct chg *chgs, **chgs_tail;
	size_t nchgs;
	struct zt_natsbus_status st;
	char create_err[128];         /* the library's text for a failed bucket creation */
	bool stop;

	/* The bus thread's own. */
	natsConnection *nc;
	jsCtx *js;
	kvStore *kv;
	kvWatcher *w;
	atomic_bool reconnected, disconnected;
};

const char *zt_natsbus_state_name(enum zt_natsbus_state s)
{
	switch (s) {
	case ZT_NATSBUS_CONNECTING: return "connecting";
	case ZT_NATSBUS_READY: return "ready";
	case ZT_NATSBUS_DOWN: return "down";
	}
	return "?";
}

static void wake(struct zt_natsbus *b)
{
	uint64_t one = 1;

	if (write(b->wake_fd, &one, sizeof(one)) < 0) {
		/* the counter is far from full: cannot fail */
	}
}

static void set_state(struct zt_natsbus *b, enum zt_natsbus_state s, const char *what,
		      natsStatus ns)
{
	pthread_mutex_lock(&b->mu);
	if (s == ZT_NATSBUS_READY && b->st.state != ZT_NATSBUS_READY)
		b->st.readies++;
	b->st.state = s;
	if (what)
		snprintf(b->st.error, sizeof(b->st.error), "%s: %s%s%s", what, natsStatus_GetText(ns),
			 !strcmp(what, "bucket") && *b->create_err ? ": " : "",
			 !strcmp(what, "bucket") ? b->create_err : "");
	else
		b->st.error[0] = '\0';
	pthread_mutex_unlock(&b->mu);
	wake(b);
}

static void on_disconnected(natsConnection *nc, void *closure)
{
	struct zt_natsbus *b = closure;
	(void)nc;
	atomic_store(&b->disconnected, true);
}

static void on_reconnected(natsConnection *nc, void *closure)
{
	struct zt_natsbus *b = closure;
	(void)nc;
	atomic_store(&b->reconnected, true);
}

static void drop_kv(struct zt_natsbus *b)
{
	if (b->w) {
		kvWatcher_Stop(b->w);
		kvWatcher_Destroy(b->w);
		b->w = NULL;
	}
	kvStore_Destroy(b->kv);
	b->kv = NULL;
}

static void drop_all(struct zt_natsbus *b)
{
	drop_kv(b);
	jsCtx_Destroy(b->js);
	b->js = NULL;
	if (b->nc) {
		natsConnection_Close(b->nc);
		natsConnection_Destroy(b->nc);
		b->nc = NULL;
	}
}

#define SERVERS_MAX 16

/* "URL,URL,...": the library takes a list (each one tried, in a random order). */
static natsStatus set_servers(natsOptions *o, const char *list)
{
	char buf[1024], *save = NULL, *u;
	const char *urls[SERVERS_MAX];
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", list);
	for (u = strtok_r(buf, ",", &save); u && n < SERVERS_MAX; u = strtok_r(NULL, ",", &save))
		if (*u)
			urls[n++] = u;
	if (n == 0)
		return NATS_INVALID_ARG;
	return natsOptions_SetServers(o, urls, n);
}

static natsStatus connect_nc(struct zt_natsbus *b)
{
	natsOptions *o = NULL;
	natsStatus s = natsOptions_Create(&o);

	if (s == NATS_OK)
		s = set_servers(o, b->servers);
	if (s == NATS_OK)
		s = natsOptions_SetName(o, b->name);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(o, CONNECT_WAIT_MS);
	if (s == NATS_OK)
		s = natsOptions_SetMaxReconnect(o, -1);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectWait(o, BACKOFF_MIN_MS);
	if (s == NATS_OK)
		s = natsOptions_SetDisconnectedCB(o, on_disconnected, b);
	if (s == NATS_OK)
		s = natsOptions_SetReconnectedCB(o, on_reconnected, b);
	if (s == NATS_OK)
		s = natsConnection_Connect(&b->nc, o);
	natsOptions_Destroy(o);
	return s;
}

/* The bucket, created if absent (the same settings again are fine), and its watcher. */
static natsStatus bind_kv(struct zt_natsbus *b, const char **what)
{
	jsOptions jo;
	kvConfig kc;
	natsStatus s;

	if (!b->js) {
		*what = "jetstream";
		jsOptions_Init(&jo);
		jo.Wait = CONNECT_WAIT_MS;
		s = natsConnection_JetStream(&b->js, b->nc, &jo);
		if (s != NATS_OK)
			return s;
	}
	*what = "bucket";
	kvConfig_Init(&kc);
	kc.Bucket = b->bucket;
	kc.History = 1;
	kc.TTL = b->ttl_ms * 1000000; /* libnats 3.4 takes nanoseconds here */
	kc.Replicas = b->replicas;
	kc.MaxValueSize = ZT_NATSBUS_VAL_MAX;
	s = js_CreateKeyValue(&b->kv, b->js, &kc);
	if (s != NATS_OK) { /* it exists with other settings: use it as it is */
		natsStatus cs = s;
		pthread_mutex_lock(&b->mu);
		snprintf(b->create_err, sizeof(b->create_err), "%s", nats_GetLastError(NULL));
		pthread_mutex_unlock(&b->mu);
		s = js_KeyValue(&b->kv, b->js, b->bucket);
		if (s == NATS_NOT_FOUND)
			s = cs; /* absent: why it could not be made is the news */
	}
	if (s != NATS_OK)
		return s;
	*what = "watch";
	return kvStore_WatchAll(&b->w, b->kv, NULL);
}

static bool try_ready(struct zt_natsbus *b)
{
	const char *what = "connect";
	natsStatus s = NATS_OK;

	if (!b->nc)
		s = connect_nc(b);
	if (s == NATS_OK)
		s = bind_kv(b, &what);
	if (s == NATS_OK) {
		atomic_store(&b->reconnected, false);
		atomic_store(&b->disconnected, false);
		set_state(b, ZT_NATSBUS_READY, NULL, NATS_OK);
		return true;
	}
	drop_kv(b);
	if (!b->nc || natsConnection_Status(b->nc) == NATS_CONN_STATUS_CLOSED)
		drop_all(b);
	pthread_mutex_lock(&b->mu);
	enum zt_natsbus_state was = b->st.state;
	pthread_mutex_unlock(&b->mu);
	set_state(b, was == ZT_NATSBUS_READY ? ZT_NATSBUS_DOWN : was, what, s);
	return false;
}

static bool wait_stop(struct zt_natsbus *b, unsigned ms)
{
	struct timespec ts;
	bool stop;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += ms / 1000;
	ts.tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&b->mu);
	while (!b->stop && pthread_cond_timedwait(&b->cv, &b->mu, &ts) == 0)
		;
	stop = b->stop;
	pthread_mutex_unlock(&b->mu);
	return stop;
}

static uint64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Runs the queued operations, until deadline (monotonic ms; 0: none): those it cannot
 * do (not connected, past the deadline, after a timeout in this batch) fail at once,
 * counted, rather than each waiting for a reply that will not come. False when the
 * connection failed under them. */
static bool run_ops(struct zt_natsbus *b, uint64_t deadline)
{
	struct op *list, *o;
	natsStatus s = NATS_OK;
	uint64_t done_p = 0, done_d = 0, failed = 0;
	bool usable = b->kv && natsConnection_Status(b->nc) == NATS_CONN_STATUS_CONNECTED;

	pthread_mutex_lock(&b->mu);
	list = b->ops;
	b->ops = NULL;
	b->ops_tail = &b->ops;
	b->nops = 0;
	pthread_mutex_unlock(&b->mu);
	while ((o = list)) {
		list = o->next;
		if (usable && deadline && mono_ms() > deadline)
			usable = false;
		if (usable) {
			s = o->del ? kvStore_Delete(b->kv, o->key)
				   : kvStore_Put(NULL, b->kv, o->key, o->val, (int)o->len);
			if (s == NATS_OK)
				o->del ? done_d++ : done_p++;
			else
				failed++;
			if (s != NATS_OK && s != NATS_ERR)
				usable = false; /* a timeout, a lost connection: the rest would wait too */
		} else {
			failed++;
		}
		free(o);
	}
	pthread_mutex_lock(&b->mu);
	b->st.puts += done_p;
	b->st.deletes += done_d;
	b->st.failed += failed;
	if (failed)
		snprintf(b->st.error, sizeof(b->st.error), "store: %s",
			 s != NATS_OK ? natsStatus_GetText(s) : "not connected");
	pthread_mutex_unlock(&b->mu);
	return s != NATS_CONNECTION_CLOSED && s != NATS_CONNECTION_DISCONNECTED;
}

static void push_change(struct zt_natsbus *b, kvEntry *e)
{
	const char *key = kvEntry_Key(e);
	kvOperation op = kvEntry_Operation(e);
	int len = kvEntry_ValueLen(e);
	struct chg *c;
	bool keep;

	pthread_mutex_lock(&b->mu);
	b->st.changes++;
	keep = key && strlen(key) <= ZT_NATSBUS_KEY_MAX && b->nchgs < ZT_NATSBUS_QUEUE_MAX &&
	       op != kvOp_Unknown;
	if (!keep)
		b->st.dropped++;
	pthread_mutex_unlock(&b->mu);
	if (!keep || !(c = calloc(1, sizeof(*c))))
		return;
	snprintf(c->c.key, sizeof(c->c.key), "%s", key);
	c->c.deleted = op != kvOp_Put;
	if (!c->c.deleted && len > 0) {
		c->c.len = (size_t)len > ZT_NATSBUS_VAL_MAX + 1 ? ZT_NATSBUS_VAL_MAX + 1 : (size_t)len;
		memcpy(c->c.val, kvEntry_Value(e), c->c.len);
	}
	pthread_mutex_lock(&b->mu);
	*b->chgs_tail = c;
	b->chgs_tail = &c->next;
	b->nchgs++;
	pthread_mutex_unlock(&b->mu);
	wake(b);
}

/* One turn while ready: the queued ops, then a wait for a change. False: not ready. */
static bool ready_turn(struct zt_natsbus *b)
{
	kvEntry *e = NULL;
	natsStatus s;

	if (atomic_exchange(&b->disconnected, false))
		set_state(b, ZT_NATSBUS_DOWN, "connection", NATS_CONNECTION_DISCONNECTED);
	if (atomic_exchange(&b->reconnected, false)) {
		drop_kv(b); /* watch again from the current values; the bucket may be new */
		return false;
	}
	if (!run_ops(b, 0))
		return true; /* the library reconnects; the flags say when */
	s = kvWatcher_Next(&e, b->w, WATCH_WAIT_MS);
	if (s == NATS_OK && e)
		push_change(b, e);
	kvEntry_Destroy(e);
	if (s == NATS_OK || s == NATS_TIMEOUT)
		return true;
	set_state(b, ZT_NATSBUS_DOWN, "watch", s);
	drop_kv(b);
	return false;
}

static void *bus_main(void *arg)
{
	struct zt_natsbus *b = arg;
	unsigned backoff = BACKOFF_MIN_MS;

	while (!wait_stop(b, 0)) {
		if (b->kv && b->w) {
			if (ready_turn(b))
				backoff = BACKOFF_MIN_MS;
			continue;
		}
		if (try_ready(b))
			continue;
		if (wait_stop(b, backoff))
			break;
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
	if (b->kv) /* what was queued before the stop (withdrawn records), for up to FLUSH_MS */
		run_ops(b, mono_ms() + FLUSH_MS);
	drop_all(b);
	return NULL;
}

static void on_wake(struct zt_loop *loop, struct zt_watch *w, uint32_t ev, uint64_t now)
{
	struct zt_natsbus *b = w->data;
	uint64_t n;
	(void)loop;
	(void)ev;
	(void)now;

	if (read(b->wake_fd, &n, sizeof(n)) < 0) {
		/* EAGAIN: nothing new */
	}
	if (b->on_ready)
		b->on_ready(b->arg);
}

static bool bucket_ok(const char *s)
{
	if (!s || !*s)
		return false;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
		      *s == '_' || *s == '-'))
			return false;
	return true;
}

static void bus_free(struct zt_natsbus *b)
{
	struct op *o;
	struct chg *c;

	while ((o = b->ops)) {
		b->ops = o->next;
		free(o);
	}
	while ((c = b->chgs)) {
		b->chgs = c->next;
		free(c);
	}
	if (b->wake_fd >= 0) {
		if (b->loop)
			zt_loop_del(b->loop, &b->wake_w);
		close(b->wake_fd);
	}
	pthread_mutex_destroy(&b->mu);
	pthread_cond_destroy(&b->cv);
	free(b->servers);
	free(b->bucket);
	free(b->name);
	free(b);
}

int zt_natsbus_start(struct zt_natsbus **ret, const struct zt_natsbus_config *cfg,
		     struct zt_loop *loop)
{
	struct zt_natsbus *b;
	int rc;

	if (!cfg->servers || !*cfg->servers || !bucket_ok(cfg->bucket) || cfg->replicas < 1 ||
	    cfg->replicas > 5 || cfg->ttl_ms <= 0)
		return -EINVAL;
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->wake_fd = -1;
	pthread_mutex_init(&b->mu, NULL);
	pthread_cond_init(&b->cv, NULL);
	b->ops_tail = &b->ops;
	b->chgs_tail = &b->chgs;
	b->servers = strdup(cfg->servers);
	b->bucket = strdup(cfg->bucket);
	b->name = strdup(cfg->name ? cfg->name : "ztna-intermediate");
	b->ttl_ms = cfg->ttl_ms;
	b->replicas = cfg->replicas;
	b->on_ready = cfg->on_ready;
	b->arg = cfg->arg;
	rc = -ENOMEM;
	if (!b->servers || !b->bucket || !b->name)
		goto fail;
	b->wake_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (b->wake_fd < 0) {
		rc = -errno;
		goto fail;
	}
	b->wake_w = (struct zt_watch){ .fd = b->wake_fd, .events = EPOLLIN, .cb = on_wake, .data = b };
	if ((rc = zt_loop_add(loop, &b->wake_w)) < 0)
		goto fail;
	b->loop = loop;
	rc = -pthread_create(&b->thread, NULL, bus_main, b);
	if (rc < 0)
		goto fail;
	b->running = true;
	*ret = b;
	return 0;
fail:
	bus_free(b);
	return rc;
}

void zt_natsbus_stop(struct zt_natsbus *bus)
{
	if (!bus)
		return;
	if (bus->running) {
		pthread_mutex_lock(&bus->mu);
		bus->stop = true;
		pthread_cond_broadcast(&bus->cv);
		pthread_mutex_unlock(&bus->mu);
		pthread_join(bus->thread, NULL);
	}
	bus_free(bus);
	/* the library's own threads and globals (one bus per program) */
	nats_CloseAndWait(FLUSH_MS);
}

int zt_natsbus_put(struct zt_natsbus *bus, const char *key, const uint8_t *val, size_t len)
{
	size_t kl = strlen(key);
	struct op *o;

	if (kl == 0 || kl > ZT_NATSBUS_KEY_MAX || (val && len > ZT_NATSBUS_VAL_MAX))
		return -EINVAL;
	pthread_mutex_lock(&bus->mu);
	if (bus->nops >= ZT_NATSBUS_QUEUE_MAX) {
		bus->st.dropped++;
		pthread_mutex_unlock(&bus->mu);
		return -ENOBUFS;
	}
	pthread_mutex_unlock(&bus->mu);
	o = calloc(1, sizeof(*o) + (val ? len : 0));
	if (!o)
		return -ENOMEM;
	memcpy(o->key, key, kl);
	o->del = !val;
	if (val) {
		o->len = len;
		memcpy(o->val, val, len);
	}
	pthread_mutex_lock(&bus->mu);
	*bus->ops_tail = o;
	bus->ops_tail = &o->next;
	bus->nops++;
	pthread_mutex_unlock(&bus->mu);
	return 0;
}

size_t zt_natsbus_take(struct zt_natsbus *bus, struct zt_natsbus_change *out, size_t cap)
{
	size_t n = 0;

	pthread_mutex_lock(&bus->mu);
	while (n < cap && bus->chgs) {
		struct chg *c = bus->chgs;
		bus->chgs = c->next;
		if (!bus->chgs)
			bus->chgs_tail = &bus->chgs;
		bus->nchgs--;
		out[n++] = c->c;
		free(c);
	}
	pthread_mutex_unlock(&bus->mu);
	return n;
}

void zt_natsbus_status(struct zt_natsbus *bus, struct zt_natsbus_status *ret)
{
	pthread_mutex_lock(&bus->mu);
	*ret = bus->st;
	pthread_mutex_unlock(&bus->mu);
}
