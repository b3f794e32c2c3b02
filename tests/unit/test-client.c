/* Unit tests of libble-peripheral against a tiny scripted server in a
 * thread: what the library sends, how it reads replies and events, and its
 * errors. */
#include "build-config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "ble-peripheral/client.h"

/* Every wait in these tests is bounded by this. */
#define WAIT_US (5 * G_USEC_PER_SEC)

/* Answers that mean something else than text to send. */
#define SILENT "(silent)"
#define CLOSE "(close)"

typedef struct {
  char *dir;
  char *path;
  int listen_fd;
  GThread *thread;
  GHashTable *answers; /* request line → what to send back; default "ok\n" */
  GMutex lock;
  GAsyncQueue *received; /* of char*: the lines the server got */
  bp_client *client;
} Fixture;

static gpointer
server_thread (gpointer data)
{
  Fixture *f = data;
  int fd = accept (f->listen_fd, NULL, NULL);
  GString *in = g_string_new (NULL);
  char buf[4096];
  ssize_t n;

  if (fd < 0)
    return NULL;
  while ((n = read (fd, buf, sizeof buf)) > 0)
    {
      char *nl;

      g_string_append_len (in, buf, n);
      while ((nl = memchr (in->str, '\n', in->len)) != NULL)
        {
          char *line = g_strndup (in->str, nl - in->str);
          const char *answer;

          g_string_erase (in, 0, nl - in->str + 1);
          g_mutex_lock (&f->lock);
          answer = g_hash_table_lookup (f->answers, line);
          answer = answer != NULL ? answer : "ok\n";
          g_mutex_unlock (&f->lock);
          g_async_queue_push (f->received, line);
          if (strcmp (answer, CLOSE) == 0)
            {
              close (fd);
              g_string_free (in, TRUE);
              return NULL;
            }
          if (strcmp (answer, SILENT) != 0 && write (fd, answer, strlen (answer)) < 0)
            break;
        }
    }
  close (fd);
  g_string_free (in, TRUE);
  return NULL;
}

static void
answer (Fixture *f, const char *request, const char *response)
{
  g_mutex_lock (&f->lock);
  g_hash_table_replace (f->answers, g_strdup (request), g_strdup (response));
  g_mutex_unlock (&f->lock);
}

/* The next line the server received; fails after WAIT_US. */
static char *
next_received (Fixture *f)
{
  char *line = g_async_queue_timeout_pop (f->received, WAIT_US);

  if (line == NULL)
    fail_msg ("the server received nothing");
  return line;
}

static void
assert_received (Fixture *f, const char *expected)
{
  g_autofree char *line = next_received (f);

  assert_string_equal (line, expected);
}

static int
listen_on (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  assert_true (fd >= 0);
  assert_int_equal (bind (fd, (struct sockaddr *) &addr, sizeof addr), 0);
  assert_int_equal (listen (fd, 4), 0);
  return fd;
}

static int
setup (void **state)
{
  Fixture *f = g_new0 (Fixture, 1);

  f->dir = g_dir_make_tmp ("test-client-XXXXXX", NULL);
  assert_non_null (f->dir);
  f->path = g_build_filename (f->dir, "control", NULL);
  f->listen_fd = listen_on (f->path);
  f->answers = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  g_mutex_init (&f->lock);
  f->received = g_async_queue_new_full (g_free);
  f->thread = g_thread_new ("server", server_thread, f);
  f->client = bp_client_connect (f->path);
  assert_non_null (f->client);
  bp_client_set_timeout (f->client, 5000);
  *state = f;
  return 0;
}

static int
teardown (void **state)
{
  Fixture *f = *state;

  bp_client_close (f->client);
  g_thread_join (f->thread);
  close (f->listen_fd);
  g_unlink (f->path);
  g_rmdir (f->dir);
  g_free (f->path);
  g_free (f->dir);
  g_hash_table_unref (f->answers);
  g_mutex_clear (&f->lock);
  g_async_queue_unref (f->received);
  g_free (f);
  return 0;
}

/* --- connecting --------------------------------------------------------------- */

static void
test_connect_missing (void **state)
{
  errno = 0;
  assert_null (bp_client_connect ("/nonexistent/ble-peripheral/control"));
  assert_int_equal (errno, ENOENT);
}

static void
test_connect_refused (void **state)
{
  g_autofree char *dir = g_dir_make_tmp ("test-client-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "stale", NULL);
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM, 0);

  /* Bound but never listening: a dead daemon's socket. */
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  assert_int_equal (bind (fd, (struct sockaddr *) &addr, sizeof addr), 0);
  errno = 0;
  assert_null (bp_client_connect (path));
  assert_int_equal (errno, ECONNREFUSED);
  close (fd);
  g_unlink (path);
  g_rmdir (dir);
}

static void
test_connect_too_long (void **state)
{
  g_autofree char *path = g_strnfill (200, 'x');

  errno = 0;
  assert_null (bp_client_connect (path));
  assert_int_equal (errno, ENAMETOOLONG);
}

static void
test_connect_environment (void **state)
{
  Fixture *f = *state;
  bp_client *c;

  g_setenv (BP_CLIENT_SOCKET_ENV, f->path, TRUE);
  c = bp_client_connect (NULL);
  g_unsetenv (BP_CLIENT_SOCKET_ENV);
  /* The fixture's server takes one connection: connecting is the test. */
  assert_non_null (c);
  assert_true (bp_client_fd (c) >= 0);
  bp_client_close (c);
}

/* --- requests ------------------------------------------------------------------ */

static void
test_set_raw (void **state)
{
  Fixture *f = *state;
  const uint8_t bytes[] = { 0x9a, 0x09, 0x00 };

  assert_int_equal (bp_client_set (f->client, "env/raw", bytes, sizeof bytes), 0);
  assert_received (f, "set env/raw 9a0900");
  assert_int_equal (bp_client_set (f->client, "env/raw", NULL, 0), 0);
  assert_received (f, "set env/raw \"\"");
}

static void
test_notify_text (void **state)
{
  Fixture *f = *state;

  assert_int_equal (bp_client_notify_text (f->client, "env/temperature", "24.58", NULL), 0);
  assert_received (f, "notify env/temperature 24.58");
  assert_int_equal (bp_client_notify_text (f->client, "name", "\"hi there\"", "00:AA:01:01:00:01"), 0);
  assert_received (f, "notify name \"hi there\" to=00:AA:01:01:00:01");
  assert_int_equal (bp_client_set_text (f->client, "env/raw", ""), 0);
  assert_received (f, "set env/raw \"\"");
}

static void
test_notify_raw_to (void **state)
{
  Fixture *f = *state;
  const uint8_t bytes[] = { 0x01 };

  assert_int_equal (bp_client_notify (f->client, "env/raw", bytes, 1, "00:AA:01:01:00:01"), 0);
  assert_received (f, "notify env/raw 01 to=00:AA:01:01:00:01");
}

static void
test_error_reply (void **state)
{
  Fixture *f = *state;

  answer (f, "notify env/x 01", "error unknown-characteristic: notify: no characteristic \"env/x\"\n");
  assert_int_equal (bp_client_notify_text (f->client, "env/x", "01", NULL), -1);
  assert_string_equal (bp_client_error_name (f->client), "unknown-characteristic");
  assert_string_equal (bp_client_error (f->client), "unknown-characteristic: notify: no characteristic \"env/x\"");
  assert_received (f, "notify env/x 01");

  /* The connection goes on, and the error is cleared by the next success. */
  assert_int_equal (bp_client_set_text (f->client, "env/y", "02"), 0);
  assert_string_equal (bp_client_error_name (f->client), "");
  assert_received (f, "set env/y 02");
}

static void
test_get_take (void **state)
{
  Fixture *f = *state;
  uint8_t buf[BP_CLIENT_VALUE_MAX];
  size_t len = 99;

  answer (f, "get env/raw", "ok 9a09\n");
  answer (f, "take env/buf", "ok \"\"\n");
  assert_int_equal (bp_client_get (f->client, "env/raw", buf, sizeof buf, &len), 0);
  assert_int_equal (len, 2);
  assert_int_equal (buf[0], 0x9a);
  assert_int_equal (buf[1], 0x09);
  assert_received (f, "get env/raw");
  assert_int_equal (bp_client_take (f->client, "env/buf", buf, sizeof buf, &len), 0);
  assert_int_equal (len, 0);
  assert_received (f, "take env/buf");

  /* A buffer too small is an error, not an overflow. */
  assert_int_equal (bp_client_get (f->client, "env/raw", buf, 1, &len), -1);
  assert_string_equal (bp_client_error_name (f->client), "invalid-argument");
  assert_received (f, "get env/raw");
}

static void
test_invalid_arguments (void **state)
{
  Fixture *f = *state;
  uint8_t big[BP_CLIENT_VALUE_MAX + 1] = { 0 };

  assert_int_equal (bp_client_set_text (f->client, "env/a b", "01"), -1);
  assert_string_equal (bp_client_error_name (f->client), "invalid-argument");
  assert_int_equal (bp_client_set_text (f->client, "env/raw", "01\nstatus"), -1);
  assert_string_equal (bp_client_error_name (f->client), "invalid-argument");
  assert_int_equal (bp_client_notify_text (f->client, "env/raw", "01", "phone"), -1);
  assert_string_equal (bp_client_error_name (f->client), "invalid-argument");
  assert_int_equal (bp_client_set (f->client, "env/raw", big, sizeof big), -1);
  assert_string_equal (bp_client_error_name (f->client), "invalid-argument");
  assert_int_equal (bp_client_disconnect (f->client, "nobody"), -1);
  assert_int_equal (bp_client_request (f->client, "status\nhelp", NULL), -1);
  assert_int_equal (bp_client_get (f->client, NULL, big, sizeof big, NULL), -1);

  /* None of them sent anything: the next line the server sees is this one. */
  assert_int_equal (bp_client_request (f->client, "help", NULL), 0);
  assert_received (f, "help");
}

static void
test_simple_requests (void **state)
{
  Fixture *f = *state;

  assert_int_equal (bp_client_advertise (f->client, 1), 0);
  assert_received (f, "advertise on");
  assert_int_equal (bp_client_advertise (f->client, 0), 0);
  assert_received (f, "advertise off");
  assert_int_equal (bp_client_disconnect (f->client, "00:AA:01:01:00:01"), 0);
  assert_received (f, "disconnect 00:AA:01:01:00:01");
  assert_int_equal (bp_client_serve (f->client, "env/name"), 0);
  assert_received (f, "serve env/name");
  assert_int_equal (bp_client_watch (f->client, 0), 0);
  assert_received (f, "watch all");
  assert_int_equal (bp_client_watch (f->client, BP_CLIENT_WATCH_WRITE | BP_CLIENT_WATCH_STATE), 0);
  assert_received (f, "watch write state");
  assert_int_equal (bp_client_unwatch (f->client, BP_CLIENT_WATCH_CONNECT | BP_CLIENT_WATCH_SUBSCRIBE), 0);
  assert_received (f, "unwatch connect subscribe");
}

static void
test_status_info_lookup (void **state)
{
  Fixture *f = *state;
  const char *text = NULL;
  char buf[32];

  answer (f, "status", "ok adapter=hci0 bluez=present centrals=2 env/t.notify=5\n");
  answer (f, "info env/t", "ok id=env/t format=sint16 exponent=-2\n");
  assert_int_equal (bp_client_status (f->client, &text), 0);
  assert_string_equal (text, "adapter=hci0 bluez=present centrals=2 env/t.notify=5");
  assert_int_equal (bp_client_lookup (text, "centrals", buf, sizeof buf), 0);
  assert_string_equal (buf, "2");
  assert_int_equal (bp_client_lookup (text, "env/t.notify", buf, sizeof buf), 0);
  assert_string_equal (buf, "5");
  assert_int_equal (bp_client_lookup (text, "adapter", buf, 3), -1);
  assert_int_equal (bp_client_lookup (text, "bluez-version", buf, sizeof buf), -1);
  assert_int_equal (bp_client_lookup (text, "blue", buf, sizeof buf), -1);

  assert_int_equal (bp_client_info (f->client, "env/t", &text), 0);
  assert_int_equal (bp_client_lookup (text, "exponent", buf, sizeof buf), 0);
  assert_string_equal (buf, "-2");
  assert_received (f, "status");
  assert_received (f, "info env/t");
}

static void
test_pairing_requests (void **state)
{
  Fixture *f = *state;
  const char *text = NULL;
  bp_client_event ev;

  assert_int_equal (bp_client_pairing (f->client, 1, 0), 0);
  assert_received (f, "pairing on");
  assert_int_equal (bp_client_pairing (f->client, 1, 120000), 0);
  assert_received (f, "pairing on 120000ms");
  assert_int_equal (bp_client_pairing (f->client, 0, 5), 0);
  assert_received (f, "pairing off");
  assert_int_equal (bp_client_pairing_answer (f->client, "00:AA:01:01:00:01", 1), 0);
  assert_received (f, "pairing accept 00:AA:01:01:00:01");
  assert_int_equal (bp_client_pairing_answer (f->client, "00:AA:01:01:00:01", 0), 0);
  assert_received (f, "pairing reject 00:AA:01:01:00:01");
  assert_int_equal (bp_client_forget (f->client, "00:AA:01:01:00:01"), 0);
  assert_received (f, "forget 00:AA:01:01:00:01");
  assert_int_equal (bp_client_pairing_answer (f->client, "phone", 1), -1);
  assert_string_equal (bp_client_error_name (f->client), "invalid-argument");
  assert_int_equal (bp_client_forget (f->client, NULL), -1);
  assert_int_equal (bp_client_watch (f->client, BP_CLIENT_WATCH_PAIRING), 0);
  assert_received (f, "watch pairing");

  answer (f, "bonds", "ok 00:AA:01:01:00:01 00:AA:01:01:00:02\n");
  assert_int_equal (bp_client_bonds (f->client, &text), 0);
  assert_string_equal (text, "00:AA:01:01:00:01 00:AA:01:01:00:02");
  assert_received (f, "bonds");

  answer (f, "status",
          "event pairing 00:AA:01:01:00:01 passkey 004242\n"
          "event pairing 00:AA:01:01:00:01 authorize\n"
          "event pairing-failed 00:AA:01:01:00:01 timeout\n"
          "event paired 00:AA:01:01:00:01\n"
          "ok\n");
  assert_int_equal (bp_client_status (f->client, &text), 0);
  assert_int_equal (bp_client_next_event (f->client, 0, &ev), 1);
  assert_int_equal (ev.type, BP_CLIENT_EVENT_PAIRING);
  assert_string_equal (ev.address, "00:AA:01:01:00:01");
  assert_string_equal (ev.reason, "passkey");
  assert_int_equal (ev.on, 1);
  assert_int_equal (ev.count, 4242);
  assert_int_equal (bp_client_next_event (f->client, 0, &ev), 1);
  assert_int_equal (ev.type, BP_CLIENT_EVENT_PAIRING);
  assert_string_equal (ev.reason, "authorize");
  assert_int_equal (ev.on, 0);
  assert_int_equal (bp_client_next_event (f->client, 0, &ev), 1);
  assert_int_equal (ev.type, BP_CLIENT_EVENT_PAIRING_FAILED);
  assert_string_equal (ev.reason, "timeout");
  assert_int_equal (bp_client_next_event (f->client, 0, &ev), 1);
  assert_int_equal (ev.type, BP_CLIENT_EVENT_PAIRED);
}

/* --- events --------------------------------------------------------------------- */

static void
test_events_before_reply (void **state)
{
  Fixture *f = *state;
  bp_client_event ev;

  answer (f, "watch all",
          "event connect 00:AA:01:01:00:01\n"
          "event write env/raw 00:AA:01:01:00:01 9a09 offset=4\n"
          "ok\n"
          "event dropped env/raw 3\n");
  assert_int_equal (bp_client_watch (f->client, BP_CLIENT_WATCH_ALL), 0);
  assert_int_equal (bp_client_pending_events (f->client), 2);

  assert_int_equal (bp_client_next_event (f->client, 0, &ev), 1);
  assert_int_equal (ev.type, BP_CLIENT_EVENT_CONNECT);
  assert_string_equal (ev.address, "00:AA:01:01:00:01");
  assert_string_equal (ev.line, "event connect 00:AA:01:01:00:01");

  assert_int_equal (bp_client_next_event (f->client, 0, &ev), 1);
  assert_int_equal (ev.type, BP_CLIENT_EVENT_WRITE);
  assert_string_equal (ev.characteristic, "env/raw");
  assert_int_equal (ev.len, 2);
  assert_int_equal (ev.data[0], 0x9a);
  assert_int_equal (ev.data[1], 0x09);
  assert_int_equal (ev.offset, 4);

  /* The one after the reply comes from the socket. */
  assert_int_equal (bp_client_next_event (f->client, 5000, &ev), 1);
  assert_int_equal (ev.type, BP_CLIENT_EVENT_DROPPED);
  assert_int_equal (ev.count, 3);

  assert_int_equal (bp_client_next_event (f->client, 0, &ev), 0);
}

static void
test_event_timeout (void **state)
{
  Fixture *f = *state;
  bp_client_event ev;
  gint64 start = g_get_monotonic_time ();

  assert_int_equal (bp_client_next_event (f->client, 0, &ev), 0);
  assert_int_equal (bp_client_next_event (f->client, 50, &ev), 0);
  assert_true (g_get_monotonic_time () - start >= 50 * 1000);
  assert_true (g_get_monotonic_time () - start < WAIT_US);
}

static void
test_read_and_reply (void **state)
{
  Fixture *f = *state;
  bp_client_event ev;
  const uint8_t value[] = { 0x68, 0x69 };

  answer (f, "serve env/name",
          "ok\nevent read 7 env/name 00:AA:01:01:00:01 offset=0\n"
          "event read 8 env/name -\nevent sparkle 1 2 3\n");
  assert_int_equal (bp_client_serve (f->client, "env/name"), 0);
  assert_int_equal (bp_client_next_event (f->client, 5000, &ev), 1);
  assert_int_equal (ev.type, BP_CLIENT_EVENT_READ);
  assert_true (ev.id == 7);
  assert_string_equal (ev.characteristic, "env/name");
  assert_int_equal (bp_client_reply (f->client, ev.id, value, sizeof value), 0);

  assert_int_equal (bp_client_next_event (f->client, 5000, &ev), 1);
  assert_true (ev.id == 8);
  assert_null (ev.address);
  assert_int_equal (bp_client_reply_error (f->client, ev.id, 0x80), 0);

  /* A newer daemon's event is passed on, not an error. */
  assert_int_equal (bp_client_next_event (f->client, 5000, &ev), 1);
  assert_int_equal (ev.type, BP_CLIENT_EVENT_OTHER);
  assert_string_equal (ev.line, "event sparkle 1 2 3");

  assert_int_equal (bp_client_reply_text (f->client, 9, "\"text\""), 0);
  assert_received (f, "serve env/name");
  assert_received (f, "reply 7 6869");
  assert_received (f, "reply 8 error 0x80");
  assert_received (f, "reply 9 \"text\"");
}

static void
test_malformed_event (void **state)
{
  Fixture *f = *state;
  bp_client_event ev;

  answer (f, "watch write", "ok\nevent write env/raw - zz\nevent write env/raw - 01\n");
  assert_int_equal (bp_client_watch (f->client, BP_CLIENT_WATCH_WRITE), 0);
  assert_int_equal (bp_client_next_event (f->client, 5000, &ev), -1);
  assert_string_equal (bp_client_error_name (f->client), "protocol");
  /* The next one is fine. */
  assert_int_equal (bp_client_next_event (f->client, 5000, &ev), 1);
  assert_int_equal (ev.len, 1);
}

/* --- failures ------------------------------------------------------------------- */

static void
test_daemon_closes (void **state)
{
  Fixture *f = *state;
  bp_client_event ev;

  answer (f, "status", CLOSE);
  assert_int_equal (bp_client_status (f->client, NULL), -1);
  assert_string_equal (bp_client_error_name (f->client), "disconnected");
  assert_int_equal (bp_client_set_text (f->client, "env/raw", "01"), -1);
  assert_string_equal (bp_client_error_name (f->client), "disconnected");
  assert_int_equal (bp_client_next_event (f->client, 1000, &ev), -1);
  assert_string_equal (bp_client_error_name (f->client), "disconnected");
}

static void
test_timeout_keeps_pairing (void **state)
{
  Fixture *f = *state;
  const char *text = NULL;

  /* No answer to the first; the second gets the late one first. */
  answer (f, "get env/slow", SILENT);
  answer (f, "status", "ok 01\nok answer=status\n");
  bp_client_set_timeout (f->client, 50);
  assert_int_equal (bp_client_request (f->client, "get env/slow", NULL), -1);
  assert_string_equal (bp_client_error_name (f->client), "timeout");
  bp_client_set_timeout (f->client, 5000);
  assert_int_equal (bp_client_status (f->client, &text), 0);
  assert_string_equal (text, "answer=status");
}

static void
test_not_a_reply (void **state)
{
  Fixture *f = *state;

  answer (f, "help", "what?\n");
  assert_int_equal (bp_client_request (f->client, "help", NULL), -1);
  assert_string_equal (bp_client_error_name (f->client), "protocol");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_connect_missing),
    cmocka_unit_test (test_connect_refused),
    cmocka_unit_test (test_connect_too_long),
    cmocka_unit_test_setup_teardown (test_connect_environment, setup, teardown),
    cmocka_unit_test_setup_teardown (test_set_raw, setup, teardown),
    cmocka_unit_test_setup_teardown (test_notify_text, setup, teardown),
    cmocka_unit_test_setup_teardown (test_notify_raw_to, setup, teardown),
    cmocka_unit_test_setup_teardown (test_error_reply, setup, teardown),
    cmocka_unit_test_setup_teardown (test_get_take, setup, teardown),
    cmocka_unit_test_setup_teardown (test_pairing_requests, setup, teardown),
    cmocka_unit_test_setup_teardown (test_invalid_arguments, setup, teardown),
    cmocka_unit_test_setup_teardown (test_simple_requests, setup, teardown),
    cmocka_unit_test_setup_teardown (test_status_info_lookup, setup, teardown),
    cmocka_unit_test_setup_teardown (test_events_before_reply, setup, teardown),
    cmocka_unit_test_setup_teardown (test_event_timeout, setup, teardown),
    cmocka_unit_test_setup_teardown (test_read_and_reply, setup, teardown),
    cmocka_unit_test_setup_teardown (test_malformed_event, setup, teardown),
    cmocka_unit_test_setup_teardown (test_daemon_closes, setup, teardown),
    cmocka_unit_test_setup_teardown (test_timeout_keeps_pairing, setup, teardown),
    cmocka_unit_test_setup_teardown (test_not_a_reply, setup, teardown),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
