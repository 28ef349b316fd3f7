#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "app/ctlsock.h"
#include "core/units.h"
#include "io/loop.h"

/* A handler that answers "echo X" at once, keeps "later" pending, and notes gone
 * connections. */
struct world {
	struct zt_loop *loop;
	struct zt_ctlsock *s;
	char dir[64], path[128];
	struct zt_ctlconn *pending;
	int commands, gone;
	char last[ZT_CTL_LINE_MAX + 1];
};

static void handler(void *arg, struct zt_ctlconn *c, char *line, uint64_t now)
{
	struct world *w = arg;
	(void)now;

	if (!line) {
		w->gone++;
		if (w->pending == c)
			w->pending = NULL;
		return;
	}
	w->commands++;
	snprintf(w->last, sizeof(w->last), "%s", line);
	if (!strcmp(line, "later")) {
		w->pending = c;
		return;
	}
	zt_ctl_printf(c, "got=%s", line);
	zt_ctl_printf(c, "second line");
	zt_ctl_end(c);
}

static int setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));

	snprintf(w->dir, sizeof(w->dir), "/tmp/zt-ctlsock.XXXXXX");
	assert_non_null(mkdtemp(w->dir));
	snprintf(w->path, sizeof(w->path), "%s/ctl.sock", w->dir);
	assert_int_equal(zt_loop_new(&w->loop), 0);
	assert_int_equal(zt_ctlsock_open(&w->s, w->loop, w->path, handler, w), 0);
	*state = w;
	return 0;
}

static int teardown(void **state)
{
	struct world *w = *state;

	zt_ctlsock_close(w->s);
	zt_loop_free(w->loop);
	rmdir(w->dir);
	free(w);
	return 0;
}

static void spin(struct world *w, int rounds)
{
	for (int i = 0; i < rounds; i++)
		zt_loop_run_once(w->loop, ZT_MS);
}

/* Reads what is there after spinning the loop (non-blocking). */
static size_t drain(struct world *w, int fd, char *buf, size_t cap)
{
	size_t n = 0;

	spin(w, 5);
	for (;;) {
		ssize_t r = recv(fd, buf + n, cap - 1 - n, MSG_DONTWAIT);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	return n;
}

static void answers_end_with_an_empty_line(void **state)
{
	struct world *w = *state;
	char buf[512];
	int fd = zt_ctl_connect(w->path);
	struct stat st;

	assert_true(fd >= 0);
	assert_int_equal(stat(w->path, &st), 0);
	assert_int_equal(st.st_mode & 077, 0); /* only the owner */
	spin(w, 3);
	/* two commands in one write, the second split across writes */
	assert_int_equal(write(fd, "echo a\necho", 11), 11);
	spin(w, 3);
	assert_int_equal(write(fd, " b\r\n", 4), 4);
	drain(w, fd, buf, sizeof(buf));
	assert_string_equal(buf, "got=echo a\nsecond line\n\ngot=echo b\nsecond line\n\n");
	assert_int_equal(w->commands, 2);
	close(fd);
	spin(w, 5);
	assert_int_equal(w->gone, 1);
}

static void a_pending_answer_holds_the_next_command(void **state)
{
	struct world *w = *state;
	char buf[512];
	int fd = zt_ctl_connect(w->path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "later\necho x\n", 13), 13);
	assert_int_equal(drain(w, fd, buf, sizeof(buf)), 0);
	assert_int_equal(w->commands, 1);
	assert_non_null(w->pending);
	zt_ctl_printf(w->pending, "done");
	zt_ctl_end(w->pending);
	w->pending = NULL;
	drain(w, fd, buf, sizeof(buf));
	assert_string_equal(buf, "done\n\ngot=echo x\nsecond line\n\n");
	assert_int_equal(w->commands, 2);
	close(fd);
	spin(w, 5);
}

static void a_client_gone_while_pending_is_reported(void **state)
{
	struct world *w = *state;
	int fd = zt_ctl_connect(w->path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "later\n", 6), 6);
	spin(w, 5);
	assert_non_null(w->pending);
	close(fd);
	spin(w, 5);
	assert_null(w->pending);
	assert_int_equal(w->gone, 1);
}

static void a_line_too_long_closes_the_connection(void **state)
{
	struct world *w = *state;
	char big[ZT_CTL_LINE_MAX + 50], buf[64];
	int fd = zt_ctl_connect(w->path);

	assert_true(fd >= 0);
	memset(big, 'x', sizeof(big));
	assert_int_equal(write(fd, big, sizeof(big)), (ssize_t)sizeof(big));
	spin(w, 5);
	assert_int_equal(w->commands, 0);
	assert_int_equal(w->gone, 1);
	{ /* closed: EOF, or a reset for the bytes it did not read */
		ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
		assert_true(r == 0 || (r < 0 && errno == ECONNRESET));
	}
	close(fd);
}

static void half_closed_client_still_gets_its_answer(void **state)
{
	struct world *w = *state;
	char buf[256];
	int fd = zt_ctl_connect(w->path);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, "echo z\n", 7), 7);
	shutdown(fd, SHUT_WR);
	drain(w, fd, buf, sizeof(buf));
	assert_string_equal(buf, "got=echo z\nsecond line\n\n");
	assert_int_equal(w->gone, 1);
	close(fd);
}

static void connections_are_bounded(void **state)
{
	struct world *w = *state;
	int fds[ZT_CTL_CONNS + 2];
	char buf[64];

	for (int i = 0; i < ZT_CTL_CONNS + 2; i++) {
		fds[i] = zt_ctl_connect(w->path);
		assert_true(fds[i] >= 0);
		spin(w, 2);
	}
	/* the last two were closed at once */
	assert_int_equal(recv(fds[ZT_CTL_CONNS], buf, sizeof(buf), MSG_DONTWAIT), 0);
	assert_int_equal(recv(fds[ZT_CTL_CONNS + 1], buf, sizeof(buf), MSG_DONTWAIT), 0);
	assert_int_equal(write(fds[0], "echo q\n", 7), 7);
	drain(w, fds[0], buf, sizeof(buf));
	assert_string_equal(buf, "got=echo q\nsecond line\n\n");
	for (int i = 0; i < ZT_CTL_CONNS + 2; i++)
		close(fds[i]);
	spin(w, 5);
}

static void path_in_use_stale_and_not_a_socket(void **state)
{
	struct world *w = *state;
	struct zt_ctlsock *other = NULL;
	char file[160];
	int fd;

	/* in use by the running socket */
	assert_int_equal(zt_ctlsock_open(&other, w->loop, w->path, handler, w), -EADDRINUSE);
	/* a stale file (nobody listens) is replaced */
	zt_ctlsock_close(w->s);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	{
		struct sockaddr_un sun = { .sun_family = AF_UNIX };
		memcpy(sun.sun_path, w->path, strlen(w->path) + 1);
		assert_int_equal(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	}
	close(fd); /* the file stays, nobody listens */
	assert_int_equal(zt_ctlsock_open(&w->s, w->loop, w->path, handler, w), 0);
	/* a regular file is not touched */
	snprintf(file, sizeof(file), "%s/plain", w->dir);
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(zt_ctlsock_open(&other, w->loop, file, handler, w), -EEXIST);
	unlink(file);
	/* too long for sun_path */
	memset(file, 'a', sizeof(file) - 1);
	file[sizeof(file) - 1] = '\0';
	assert_int_equal(zt_ctlsock_open(&other, w->loop, file, handler, w), -ENAMETOOLONG);
	assert_int_equal(zt_ctl_connect(file), -ENAMETOOLONG);
}

/* The default path, for programs and clients alike: /run/ztna as root whatever
 * XDG_RUNTIME_DIR says; a user's under XDG_RUNTIME_DIR, none without it; too long for
 * the buffer or a socket address: refused. */
static void default_paths(void **state)
{
	char p[108], big[300];
	const char *old = getenv("XDG_RUNTIME_DIR");
	char *saved = old ? strdup(old) : NULL;
	(void)state;

	setenv("XDG_RUNTIME_DIR", "/run/user/1000", 1);
	if (geteuid() == 0) {
		assert_int_equal(zt_ctl_default_path(p, sizeof(p), "intermediate"), 0);
		assert_string_equal(p, "/run/ztna/intermediate.sock");
	} else {
		assert_int_equal(zt_ctl_default_path(p, sizeof(p), "intermediate"), 0);
		assert_string_equal(p, "/run/user/1000/ztna-intermediate.sock");
		memset(big, 'x', 150);
		big[0] = '/';
		big[150] = '\0';
		setenv("XDG_RUNTIME_DIR", big, 1);
		assert_int_equal(zt_ctl_default_path(big + 160, 140, "agent"), -ENAMETOOLONG);
		unsetenv("XDG_RUNTIME_DIR");
		assert_int_equal(zt_ctl_default_path(p, sizeof(p), "agent"), -ENOENT);
		assert_string_equal(p, "/run/ztna/agent.sock");
	}
	assert_int_equal(zt_ctl_default_path(p, 12, "connector"), -ENAMETOOLONG);
	if (saved)
		setenv("XDG_RUNTIME_DIR", saved, 1);
	else
		unsetenv("XDG_RUNTIME_DIR");
	free(saved);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(answers_end_with_an_empty_line, setup, teardown),
		cmocka_unit_test_setup_teardown(a_pending_answer_holds_the_next_command, setup, teardown),
		cmocka_unit_test_setup_teardown(a_client_gone_while_pending_is_reported, setup, teardown),
		cmocka_unit_test_setup_teardown(a_line_too_long_closes_the_connection, setup, teardown),
		cmocka_unit_test_setup_teardown(half_closed_client_still_gets_its_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(connections_are_bounded, setup, teardown),
		cmocka_unit_test_setup_teardown(path_in_use_stale_and_not_a_socket, setup, teardown),
		cmocka_unit_test(default_paths),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
