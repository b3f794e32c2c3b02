/* The service manager's protocols as src/daemon/service.c speaks them:
 * notifications to NOTIFY_SOCKET (a path or an @abstract name), STATUS=
 * sent once per change, the watchdog's WATCHDOG_USEC/WATCHDOG_PID, and
 * socket activation's LISTEN_PID/LISTEN_FDS with the passed fd checked.
 * The daemon as a process under a fake manager is in test-notify.py,
 * test-watchdog.py and test-socket-activation.py. */
#define G_LOG_DOMAIN "test-service"

#include "build-config.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "daemon/service.h"

/* The manager's end: a datagram socket bound where NOTIFY_SOCKET says. */
typedef struct {
  int fd;
  char *dir;
} Manager;

static Manager *
manager_new (gboolean abstract)
{
  Manager *m = g_new0 (Manager, 1);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  socklen_t len;
  g_autofree char *env = NULL;

  m->fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  assert_true (m->fd >= 0);
  if (abstract)
    {
      g_autofree char *name = g_strdup_printf ("bp-test-service-%d-%d", (int) getpid (), g_random_int ());

      memcpy (addr.sun_path + 1, name, strlen (name));
      len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + 1 + strlen (name));
      env = g_strconcat ("@", name, NULL);
    }
  else
    {
      m->dir = g_dir_make_tmp ("bp-test-service-XXXXXX", NULL);
      assert_non_null (m->dir);
      env = g_build_filename (m->dir, "notify", NULL);
      g_strlcpy (addr.sun_path, env, sizeof addr.sun_path);
      len = sizeof addr;
    }
  assert_int_equal (bind (m->fd, (struct sockaddr *) &addr, len), 0);
  g_setenv ("NOTIFY_SOCKET", env, TRUE);
  return m;
}

static void
manager_free (Manager *m)
{
  g_unsetenv ("NOTIFY_SOCKET");
  close (m->fd);
  if (m->dir != NULL)
    {
      g_autofree char *path = g_build_filename (m->dir, "notify", NULL);

      unlink (path);
      rmdir (m->dir);
      g_free (m->dir);
    }
  g_free (m);
}

/* The next datagram, or NULL when none comes within a second. */
static char *
manager_receive (Manager *m)
{
  char buf[4096];
  struct timeval tv = { .tv_sec = 1 };
  ssize_t n;

  setsockopt (m->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  n = recv (m->fd, buf, sizeof buf, 0);
  if (n < 0)
    return NULL;
  return g_strndup (buf, (gsize) n);
}

/* TRUE when nothing is waiting. */
static gboolean
manager_quiet (Manager *m)
{
  char buf[16];

  return recv (m->fd, buf, sizeof buf, MSG_DONTWAIT) < 0 && errno == EAGAIN;
}

static void
test_notify_path (void **state)
{
  Manager *m = manager_new (FALSE);
  g_autofree char *ready = NULL, *reloading = NULL, *stopping = NULL;

  bp_service_ready ();
  ready = manager_receive (m);
  assert_string_equal (ready, "READY=1");
  bp_service_reloading ();
  reloading = manager_receive (m);
  assert_non_null (reloading);
  assert_true (g_str_has_prefix (reloading, "RELOADING=1\nMONOTONIC_USEC="));
  bp_service_stopping ();
  stopping = manager_receive (m);
  assert_string_equal (stopping, "STOPPING=1\nSTATUS=stopping");
  manager_free (m);
}

static void
test_notify_abstract (void **state)
{
  Manager *m = manager_new (TRUE);
  g_autofree char *ready = NULL;

  bp_service_ready ();
  ready = manager_receive (m);
  assert_string_equal (ready, "READY=1");
  manager_free (m);
}

static void
test_status_once_per_change (void **state)
{
  Manager *m = manager_new (FALSE);
  g_autofree char *first = NULL, *second = NULL;

  bp_service_status ("advertising on hci0");
  first = manager_receive (m);
  assert_string_equal (first, "STATUS=advertising on hci0");
  bp_service_status ("advertising on hci0");
  assert_true (manager_quiet (m));
  /* A newline would start another assignment. */
  bp_service_status ("two\nlines");
  second = manager_receive (m);
  assert_string_equal (second, "STATUS=two lines");
  manager_free (m);
}

/* Drains the manager's socket until READY=1 comes (or a second passes with
 * nothing), after giving the daemon's side time to find the queue full. */
static gpointer
drain_until_ready (gpointer data)
{
  Manager *m = data;
  gboolean ready = FALSE;

  g_usleep (200 * 1000);
  for (;;)
    {
      g_autofree char *text = manager_receive (m);

      if (text == NULL)
        break;
      if (g_str_equal (text, "READY=1"))
        {
          ready = TRUE;
          break;
        }
    }
  return GINT_TO_POINTER (ready);
}

/* A manager whose queue is full: READY=1 waits for room, it is not dropped
 * (a lost READY=1 would fail the unit's start). */
static void
test_notify_full_queue (void **state)
{
  Manager *m = manager_new (FALSE);
  const char *path = g_getenv ("NOTIFY_SOCKET");
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int filler = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  GThread *drainer;
  guint sent = 0;

  assert_true (filler >= 0);
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  while (sent < 1000000 &&
         sendto (filler, "STATUS=filler", 13, MSG_NOSIGNAL, (struct sockaddr *) &addr, sizeof addr) == 13)
    sent++;
  assert_int_equal (errno, EAGAIN);
  drainer = g_thread_new ("drainer", drain_until_ready, m);
  bp_service_ready ();
  assert_true (GPOINTER_TO_INT (g_thread_join (drainer)));
  close (filler);
  manager_free (m);
}

static void
test_no_manager (void **state)
{
  g_unsetenv ("NOTIFY_SOCKET");
  g_unsetenv ("WATCHDOG_USEC");
  g_unsetenv ("LISTEN_PID");
  g_unsetenv ("LISTEN_FDS");
  bp_service_ready ();
  bp_service_status ("nobody listens");
  assert_int_equal (bp_service_start_watchdog (), 0);
  assert_int_equal (bp_service_listen_fd (), -1);
}

static void
test_watchdog (void **state)
{
  Manager *m = manager_new (FALSE);
  g_autofree char *pid = g_strdup_printf ("%d", (int) getpid ());
  g_autofree char *other = g_strdup_printf ("%d", (int) getpid () + 1);
  g_autofree char *ping = NULL;

  /* Not a number, zero: no watchdog. */
  g_setenv ("WATCHDOG_USEC", "soon", TRUE);
  assert_int_equal (bp_service_start_watchdog (), 0);
  g_setenv ("WATCHDOG_USEC", "0", TRUE);
  assert_int_equal (bp_service_start_watchdog (), 0);
  /* Asked of another process: not ours to feed. */
  g_setenv ("WATCHDOG_USEC", "30000000", TRUE);
  g_setenv ("WATCHDOG_PID", other, TRUE);
  assert_int_equal (bp_service_start_watchdog (), 0);
  assert_true (manager_quiet (m));
  /* Ours: a ping at once, then every half interval. */
  g_setenv ("WATCHDOG_PID", pid, TRUE);
  assert_int_equal (bp_service_start_watchdog (), 15000);
  ping = manager_receive (m);
  assert_string_equal (ping, "WATCHDOG=1");
  g_unsetenv ("WATCHDOG_USEC");
  g_unsetenv ("WATCHDOG_PID");
  manager_free (m);
}

/* Puts a socket of that type at fd 3, as a manager passes it. */
static void
pass_socket (int type, gboolean listening)
{
  int fd = socket (AF_UNIX, type, 0);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };

  assert_true (fd >= 0);
  /* An autobound abstract address: nothing to clean up. */
  assert_int_equal (bind (fd, (struct sockaddr *) &addr, sizeof (sa_family_t)), 0);
  if (listening)
    assert_int_equal (listen (fd, 4), 0);
  if (fd != 3)
    {
      assert_int_equal (dup2 (fd, 3), 3);
      close (fd);
    }
}

static void
set_listen_env (int pid, const char *n)
{
  g_autofree char *text = g_strdup_printf ("%d", pid);

  g_setenv ("LISTEN_PID", text, TRUE);
  g_setenv ("LISTEN_FDS", n, TRUE);
  g_setenv ("LISTEN_FDNAMES", "control", TRUE);
}

static void
test_listen_fd (void **state)
{
  pass_socket (SOCK_STREAM, TRUE);
  assert_int_equal (fcntl (3, F_GETFD) & FD_CLOEXEC, 0);

  /* For another process (the manager's pid check): not taken, and the
   * variables are not passed on. */
  set_listen_env (getpid () + 1, "1");
  assert_int_equal (bp_service_listen_fd (), -1);
  assert_null (g_getenv ("LISTEN_PID"));
  assert_null (g_getenv ("LISTEN_FDS"));
  assert_null (g_getenv ("LISTEN_FDNAMES"));

  set_listen_env (getpid (), "0");
  assert_int_equal (bp_service_listen_fd (), -1);

  set_listen_env (getpid (), "1");
  assert_int_equal (bp_service_listen_fd (), 3);
  assert_null (g_getenv ("LISTEN_FDS"));
  /* Not inherited by anything the daemon starts. */
  assert_int_not_equal (fcntl (3, F_GETFD) & FD_CLOEXEC, 0);
  close (3);
}

static void
test_listen_fd_wrong_socket (void **state)
{
  /* A datagram socket, and a stream socket that does not listen, are not
   * what the daemon can serve on: it binds its own. */
  pass_socket (SOCK_DGRAM, FALSE);
  set_listen_env (getpid (), "1");
  assert_int_equal (bp_service_listen_fd (), -1);
  close (3);
  pass_socket (SOCK_STREAM, FALSE);
  set_listen_env (getpid (), "1");
  assert_int_equal (bp_service_listen_fd (), -1);
  close (3);
  /* No fd at all. */
  set_listen_env (getpid (), "1");
  assert_int_equal (bp_service_listen_fd (), -1);
}

static void
test_listen_fd_garbage (void **state)
{
  g_setenv ("LISTEN_PID", "self", TRUE);
  g_setenv ("LISTEN_FDS", "1", TRUE);
  assert_int_equal (bp_service_listen_fd (), -1);
  set_listen_env (getpid (), "-1");
  assert_int_equal (bp_service_listen_fd (), -1);
  set_listen_env (getpid (), "99999999999999999999999");
  assert_int_equal (bp_service_listen_fd (), -1);
}

/* Last: a NOTIFY_SOCKET the daemon cannot speak to is said once, then
 * nothing is tried again. */
static void
test_notify_unusable (void **state)
{
  g_setenv ("NOTIFY_SOCKET", "vsock:2:1234", TRUE);
  bp_service_ready ();
  bp_service_status ("still nobody");
  g_unsetenv ("NOTIFY_SOCKET");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_notify_path),
    cmocka_unit_test (test_notify_abstract),
    cmocka_unit_test (test_status_once_per_change),
    cmocka_unit_test (test_notify_full_queue),
    cmocka_unit_test (test_no_manager),
    cmocka_unit_test (test_watchdog),
    cmocka_unit_test (test_listen_fd),
    cmocka_unit_test (test_listen_fd_wrong_socket),
    cmocka_unit_test (test_listen_fd_garbage),
    cmocka_unit_test (test_notify_unusable),
  };

  /* fd 3 is the tests' to use, as socket activation's first fd. */
  if (fcntl (3, F_GETFD) >= 0)
    close (3);
  return cmocka_run_group_tests (tests, NULL, NULL);
}
