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

struct pval {
	struct pval *next;
	size_t len;
	uint8_t data[];
};

#define PVALS_MAX 128   /* the bucket's history (64) and then some */

struct chg {
	struct chg *next;
	struct zt_natsbus_change c;
};

struct zt_natsbus {
	char *servers, *bucket, *name, *policy_bucket;
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
	struct pval *pvals, **pvals_tail; /* the policy key's values, not taken yet */
	size_t npvals;
	bool stop;

	/* The bus thread's own. */
	natsConnection *nc;
	jsCtx *js;
	kvStore *kv, *pkv;            /* presence; policy (cfg.policy_bucket) */
	kvWatcher *w, *pw;
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
			 strstr(what, "bucket") && *b->create_err ? ": " : "",
			 strstr(what, "bucket") ? b->create_err : "");
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

static void drop_watch(kvWatcher **w)
{
	if (*w) {
		kvWatcher_Stop(*w);
		kvWatcher_Destroy(*w);
		*w = NULL;
	}
}

static void drop_kv(struct zt_natsbus *b)
{
	drop_watch(&b->w);
	drop_watch(&b->pw);
	kvStore_Destroy(b->kv);
	b->kv = NULL;
	kvStore_Destroy(b->pkv);
	b->pkv = NULL;
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

/* A bucket, created if absent (the same settings again are fine; other settings: the
 * bucket as it is). ttl_ms 0: values stay. On failure err says why. */
static natsStatus open_bucket(jsCtx *js, const char *name, int64_t ttl_ms, int replicas,
			      int32_t max_value, uint8_t history, kvStore **kv, char *err,
			      size_t cap)
{
	kvConfig kc;
	natsStatus s, cs;

	kvConfig_Init(&kc);
	kc.Bucket = name;
	kc.History = history;
	kc.TTL = ttl_ms * 1000000; /* libnats 3.4 takes nanoseconds here */
	kc.Replicas = replicas;
	kc.MaxValueSize = max_value;
	s = js_CreateKeyValue(kv, js, &kc);
	if (s == NATS_OK)
		return s;
	cs = s;
	snprintf(err, cap, "%s", nats_GetLastError(NULL));
	s = js_KeyValue(kv, js, name);
	return s == NATS_NOT_FOUND ? cs : s; /* absent: why it could not be made is the news */
}

static natsStatus open_js(natsConnection *nc, jsCtx **js)
{
	jsOptions jo;

	jsOptions_Init(&jo);
	jo.Wait = CONNECT_WAIT_MS;
	return natsConnection_JetStream(js, nc, &jo);
}

/* The buckets and their watchers. */
static natsStatus bind_kv(struct zt_natsbus *b, const char **what)
{
	char err[sizeof(b->create_err)] = "";
	natsStatus s;

	if (!b->js) {
		*what = "jetstream";
		s = open_js(b->nc, &b->js);
		if (s != NATS_OK)
			return s;
	}
	*what = "bucket";
	s = open_bucket(b->js, b->bucket, b->ttl_ms, b->replicas, ZT_NATSBUS_VAL_MAX, 1, &b->kv,
			err, sizeof(err));
	if (s == NATS_OK && b->policy_bucket) {
		*what = "policy bucket";
		s = open_bucket(b->js, b->policy_bucket, 0, b->replicas, ZT_NATSBUS_POLICY_MAX,
				ZT_NATSBUS_POLICY_HISTORY, &b->pkv, err, sizeof(err));
	}
	pthread_mutex_lock(&b->mu);
	snprintf(b->create_err, sizeof(b->create_err), "%s", err);
	pthread_mutex_unlock(&b->mu);
	if (s != NATS_OK)
		return s;
	*what = "watch";
	s = kvStore_WatchAll(&b->w, b->kv, NULL);
	if (s == NATS_OK && b->pkv) {
		/* every value the bucket keeps: the newest one that opens may not be the last
		 * one written (someone wrote junk over it) */
		kvWatchOptions wo;
		kvWatchOptions_Init(&wo);
		wo.IncludeHistory = true;
		s = kvStore_Watch(&b->pw, b->pkv, ZT_NATSBUS_POLICY_KEY, &wo);
	}
	return s;
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

/* A value of the policy key (a delete: an empty one), queued for the loop; the
 * oldest one not taken goes when PVALS_MAX wait. */
static void push_policy(struct zt_natsbus *b, kvEntry *e)
{
	int len = kvEntry_Operation(e) == kvOp_Put ? kvEntry_ValueLen(e) : 0;
	struct pval *v = malloc(sizeof(*v) + (len > 0 ? (size_t)len : 0));

	if (!v)
		return;
	v->next = NULL;
	v->len = len > 0 ? (size_t)len : 0;
	if (len > 0)
		memcpy(v->data, kvEntry_Value(e), (size_t)len);
	pthread_mutex_lock(&b->mu);
	if (b->npvals >= PVALS_MAX) {
		struct pval *old = b->pvals;
		b->pvals = old->next;
		if (!b->pvals)
			b->pvals_tail = &b->pvals;
		b->npvals--;
		b->st.dropped++;
		free(old);
	}
	*b->pvals_tail = v;
	b->pvals_tail = &v->next;
	b->npvals++;
	b->st.changes++;
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
	s = kvWatcher_Next(&e, b->w, b->pw ? WATCH_WAIT_MS / 2 : WATCH_WAIT_MS);
	if (s == NATS_OK && e)
		push_change(b, e);
	kvEntry_Destroy(e);
	e = NULL;
	if (b->pw && (s == NATS_OK || s == NATS_TIMEOUT)) {
		s = kvWatcher_Next(&e, b->pw, WATCH_WAIT_MS / 2);
		if (s == NATS_OK && e)
			push_policy(b, e);
		kvEntry_Destroy(e);
	}
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
	while (b->pvals) {
		struct pval *v = b->pvals;
		b->pvals = v->next;
		free(v);
	}
	free(b->policy_bucket);
	free(b->servers);
	free(b->bucket);
	free(b->name);
	free(b);
}

int zt_natsbus_start(struct zt_natsbus **ret, const struct zt_natsbus_config *cfg,
		     struct zt_loop *loop)
{
	struct zt_natsbus *b;
	int rc = -ENOMEM;

	if (!cfg->servers || !*cfg->servers || !bucket_ok(cfg->bucket) ||
	    (cfg->policy_bucket && !bucket_ok(cfg->policy_bucket)) || cfg->replicas < 1 ||
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
	b->pvals_tail = &b->pvals;
	b->servers = strdup(cfg->servers);
	b->bucket = strdup(cfg->bucket);
	b->name = strdup(cfg->name ? cfg->name : "ztna-intermediate");
	if (cfg->policy_bucket && !(b->policy_bucket = strdup(cfg->policy_bucket)))
		goto fail;
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
	/* the library's own threads and globals (one bus per program), before bus is freed:
	 * a connection's callbacks (on_disconnected) may still run until they are done */
	nats_CloseAndWait(FLUSH_MS);
	bus_free(bus);
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

int zt_natsbus_take_policy(struct zt_natsbus *bus, uint8_t **val, size_t *len)
{
	struct pval *v;

	pthread_mutex_lock(&bus->mu);
	v = bus->pvals;
	if (v) {
		bus->pvals = v->next;
		if (!bus->pvals)
			bus->pvals_tail = &bus->pvals;
		bus->npvals--;
	}
	pthread_mutex_unlock(&bus->mu);
	if (!v)
		return 0;
	/* the caller frees what it gets: hand over the bytes alone */
	*val = malloc(v->len ? v->len : 1);
	if (!*val) {
		free(v);
		return 0;
	}
	memcpy(*val, v->data, v->len);
	*len = v->len;
	free(v);
	return 1;
}

/* The synchronous session of zt_natsbus_get / zt_natsbus_put_once. */
struct once {
	natsConnection *nc;
	jsCtx *js;
	kvStore *kv;
};

static void once_close(struct once *o)
{
	kvStore_Destroy(o->kv);
	jsCtx_Destroy(o->js);
	if (o->nc) {
		natsConnection_Close(o->nc);
		natsConnection_Destroy(o->nc);
	}
	nats_CloseAndWait(FLUSH_MS);
}

static int once_open(struct once *o, const char *servers, const char *bucket, int replicas,
		     char *err, size_t cap)
{
	natsOptions *opts = NULL;
	natsStatus s;
	const char *what = "connect";

	*o = (struct once){ 0 };
	if (!bucket_ok(bucket) || replicas < 1 || replicas > 5) {
		snprintf(err, cap, "bucket %s: letters, digits, '-', '_'; replicas 1..5", bucket);
		return -EINVAL;
	}
	s = natsOptions_Create(&opts);
	if (s == NATS_OK)
		s = set_servers(opts, servers);
	if (s == NATS_OK)
		s = natsOptions_SetTimeout(opts, CONNECT_WAIT_MS);
	if (s == NATS_OK)
		s = natsConnection_Connect(&o->nc, opts);
	natsOptions_Destroy(opts);
	if (s == NATS_OK && (what = "jetstream"))
		s = open_js(o->nc, &o->js);
	if (s == NATS_OK && (what = "bucket"))
		s = open_bucket(o->js, bucket, 0, replicas, ZT_NATSBUS_POLICY_MAX,
				ZT_NATSBUS_POLICY_HISTORY, &o->kv, err, cap);
	if (s == NATS_OK)
		return 0;
	snprintf(err, cap, "%s %s: %s (%s)", what, servers, natsStatus_GetText(s),
		 nats_GetLastError(NULL));
	once_close(o);
	*o = (struct once){ 0 };
	return -EIO;
}

int zt_natsbus_get_once(const char *servers, const char *bucket, int replicas, const char *key,
			uint8_t **val, size_t *len, char *err, size_t cap)
{
	struct once o;
	kvEntry *e = NULL;
	natsStatus s;
	int rc = once_open(&o, servers, bucket, replicas, err, cap);

	if (rc < 0)
		return rc;
	s = kvStore_Get(&e, o.kv, key);
	if (s == NATS_NOT_FOUND || (s == NATS_OK && kvEntry_Operation(e) != kvOp_Put)) {
		rc = -ENOENT;
	} else if (s != NATS_OK) {
		snprintf(err, cap, "get %s: %s", key, natsStatus_GetText(s));
		rc = -EIO;
	} else {
		int n = kvEntry_ValueLen(e);
		*val = malloc(n > 0 ? (size_t)n : 1);
		if (!*val) {
			rc = -ENOMEM;
		} else {
			memcpy(*val, kvEntry_Value(e), n > 0 ? (size_t)n : 0);
			*len = n > 0 ? (size_t)n : 0;
		}
	}
	kvEntry_Destroy(e);
	once_close(&o);
	return rc;
}

int zt_natsbus_put_once(const char *servers, const char *bucket, int replicas, const char *key,
			const uint8_t *val, size_t len, uint64_t *rev, char *err, size_t cap)
{
	struct once o;
	natsStatus s;
	int rc = once_open(&o, servers, bucket, replicas, err, cap);

	if (rc < 0)
		return rc;
	s = kvStore_Put(rev, o.kv, key, val, (int)len);
	if (s != NATS_OK) {
		snprintf(err, cap, "put %s: %s (%s)", key, natsStatus_GetText(s), nats_GetLastError(NULL));
		rc = -EIO;
	}
	once_close(&o);
	return rc;
}

int zt_natsbus_history_once(const char *servers, const char *bucket, int replicas,
			    const char *key,
			    void (*each)(void *arg, const uint8_t *val, size_t len), void *arg,
			    char *err, size_t cap)
{
	struct once o;
	kvEntryList list = { 0 };
	natsStatus s;
	int rc = once_open(&o, servers, bucket, replicas, err, cap);

	if (rc < 0)
		return rc;
	s = kvStore_History(&list, o.kv, key, NULL);
	if (s == NATS_NOT_FOUND) {
		rc = -ENOENT;
	} else if (s != NATS_OK) {
		snprintf(err, cap, "history of %s: %s", key, natsStatus_GetText(s));
		rc = -EIO;
	} else {
		for (int i = 0; i < list.Count; i++) {
			kvEntry *e = list.Entries[i];
			int n = kvEntry_ValueLen(e);
			if (kvEntry_Operation(e) == kvOp_Put && n > 0)
				each(arg, kvEntry_Value(e), (size_t)n);
		}
		kvEntryList_Destroy(&list);
	}
	once_close(&o);
	return rc;
}
