/* Producers against the real daemon and the stand-in bluetoothd: the
 * control socket (raw lines), libble-peripheral (in threads, as a producer
 * program would use it) and ble-peripheralctl (as processes). */
#include "build-config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib/gstdio.h>

#include "ble-peripheral/client.h"
#include "harness.h"

#define CAM "12345678-1234-5678-1234-56789abcdef"

/* clang-format off */
static const char config_text[] =
  "[Peripheral]\n"
  "Name=producers\n"
  "\n"
  "[Service env]\n"
  "UUID=0x181A\n"
  "\n"
  "[Characteristic env/temperature]\n"
  "UUID=0x2A6E\n"
  "Flags=read,notify\n"
  "Format=sint16\n"
  "Exponent=-2\n"
  "Initial=0\n"
  "\n"
  "[Service cam]\n"
  "UUID=" CAM "0\n"
  "\n"
  "[Characteristic cam/command]\n"
  "UUID=" CAM "1\n"
  "Flags=read,write\n"
  "Capture=true\n"
  "QueueLength=64\n"
  "\n"
  "[Characteristic cam/log]\n"
  "UUID=" CAM "2\n"
  "Flags=write\n"
  "Capture=true\n"
  "QueueLength=8192\n"
  "MaxLength=512\n"
  "\n"
  "[Characteristic cam/name]\n"
  "UUID=" CAM "3\n"
  "Flags=read\n"
  "Format=utf8\n"
  "ReadHandler=socket\n"
  "ReadTimeout=2s\n"
  "Initial=\"stored\"\n"
  "\n"
  "[Characteristic cam/raw]\n"
  "UUID=" CAM "4\n"
  "Flags=read,notify\n"
  "MaxLength=512\n";
/* clang-format on */

typedef struct {
  BpHarness *h;
  const char *device; /* the connected central */
} Setup;

static void
setup_start (Setup *s)
{
  s->h = bp_harness_new (config_text, BP_HARNESS_NONE);
  s->device = fake_bluez_add_device (s->h->bluez, FAKE_BLUEZ_CENTRAL_ADDRESS, 247);
  fake_bluez_set_connected (s->h->bluez, s->device, TRUE);
  /* seen by the daemon before any notify: with no central it sends nothing */
  g_assert_true (fake_bluez_sync (s->h->bluez));
}

static void
setup_stop (Setup *s)
{
  g_clear_pointer (&s->h, bp_harness_free);
}

static const char *
path_of (Setup *s, const char *uuid)
{
  return bp_harness_characteristic_path (s->h, uuid);
}

/* The Value of the index-th recorded signal on path, NULL while there is none. */
static GBytes *
value_signal (Setup *s, const char *path, guint index)
{
  GPtrArray *signals = fake_bluez_get_signals (s->h->bluez);
  guint seen = 0;

  for (guint i = 0; i < signals->len; i++)
    {
      FakeSignal *sig = g_ptr_array_index (signals, i);

      if (sig->value != NULL && g_strcmp0 (sig->path, path) == 0 && seen++ == index)
        return sig->value;
    }
  return NULL;
}

static void
assert_bytes (GBytes *bytes, const void *expected, gsize len)
{
  g_assert_nonnull (bytes);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), expected, len);
}

static void
write_index (Setup *s, const char *path, guint32 index, gsize len)
{
  g_autofree guint8 *data = g_malloc0 (len);
  g_autoptr (GError) error = NULL;

  data[0] = index & 0xff;
  data[1] = (index >> 8) & 0xff;
  data[2] = (index >> 16) & 0xff;
  data[3] = index >> 24;
  if (!fake_bluez_write_value (s->h->bluez, path, s->device, 0, data, len, &error))
    g_error ("write %u: %s", index, error->message);
}

/* The index written by write_index() from an "event write CHAR ADDR HEX" line. */
static gint64
event_index (const char *line, const char *chr)
{
  g_auto (GStrv) w = g_strsplit (line, " ", -1);
  guint32 index = 0;

  if (g_strv_length (w) < 5 || g_strcmp0 (w[0], "event") != 0 || g_strcmp0 (w[1], "write") != 0 ||
      g_strcmp0 (w[2], chr) != 0 || g_strcmp0 (w[3], FAKE_BLUEZ_CENTRAL_ADDRESS) != 0 || strlen (w[4]) < 8)
    return -1;
  for (int i = 3; i >= 0; i--)
    {
      char byte[3] = { w[4][2 * i], w[4][2 * i + 1], 0 };

      index = index << 8 | (guint32) g_ascii_strtoull (byte, NULL, 16);
    }
  return index;
}

static char *
ctl_path (void)
{
  return g_build_filename (g_getenv ("BP_BUILD_ROOT"), "src", "ctl", "ble-peripheralctl", NULL);
}

/* --- notify ------------------------------------------------------------------- */

static void
test_notify_exact_bytes (void)
{
  Setup s = { 0 };
  const char *raw;
  const char *temp;
  const guint8 expected[] = { 0x00, 0x01, 0xfe, 0xff, 0x7f };
  const guint8 expected_temp[] = { 0x9a, 0x09 };

  setup_start (&s);
  raw = path_of (&s, CAM "4");
  temp = path_of (&s, "2a6e");
  fake_bluez_subscribe (s.h->bluez, s.device, raw, TRUE);
  fake_bluez_subscribe (s.h->bluez, s.device, temp, TRUE);

  g_free (bp_assert_request_ok (s.h->ctl, "notify cam/raw 0001feff7f"));
  g_free (bp_assert_request_ok (s.h->ctl, "notify temperature 24.58"));
  g_assert_true (FAKE_WAIT_UNTIL (value_signal (&s, temp, 0) != NULL, BP_WAIT_MS));
  assert_bytes (value_signal (&s, raw, 0), expected, sizeof expected);
  assert_bytes (value_signal (&s, temp, 0), expected_temp, sizeof expected_temp);
  g_assert_cmpuint (fake_bluez_count_value_signals (s.h->bluez, raw), ==, 1);
  setup_stop (&s);
}

/* --- captured writes -------------------------------------------------------------- */

static void
test_500_writes_in_order (void)
{
  Setup s = { 0 };
  g_autoptr (BpControl) watcher = NULL;
  const char *cmd;

  setup_start (&s);
  cmd = path_of (&s, CAM "1");
  watcher = bp_harness_connect (s.h);
  g_free (bp_assert_request_ok (watcher, "watch write"));

  for (guint i = 0; i < 500; i++)
    write_index (&s, cmd, i, 4 + i % 16);
  for (guint i = 0; i < 500; i++)
    {
      g_autofree char *line = bp_control_next_event (watcher, BP_WAIT_MS);
      g_autofree guint8 *data = g_malloc0 (4 + i % 16);
      g_autofree char *hex = NULL;
      g_autofree char *expected = NULL;

      data[0] = i & 0xff;
      data[1] = i >> 8;
      hex = bp_hex (data, 4 + i % 16);
      expected = g_strdup_printf ("event write cam/command %s %s", FAKE_BLUEZ_CENTRAL_ADDRESS, hex);
      g_assert_nonnull (line);
      g_assert_cmpstr (line, ==, expected);
    }
  g_assert_cmpuint (bp_control_count_events (watcher), ==, 0);
  setup_stop (&s);
}

static void
test_restart_loses_nothing (void)
{
  Setup s = { 0 };
  g_autoptr (BpControl) first = NULL;
  g_autoptr (BpControl) second = NULL;
  g_autoptr (BpControl) third = NULL;
  const char *cmd;
  g_autofree char *line = NULL;

  setup_start (&s);
  cmd = path_of (&s, CAM "1");
  first = bp_harness_connect (s.h);
  g_free (bp_assert_request_ok (first, "watch write"));
  for (guint i = 0; i < 20; i++)
    write_index (&s, cmd, i, 4);
  for (guint i = 0; i < 20; i++)
    {
      g_autofree char *ev = bp_control_next_event (first, BP_WAIT_MS);

      g_assert_nonnull (ev);
      g_assert_cmpint (event_index (ev, "cam/command"), ==, i);
    }
  /* The producer goes away; writes go on; it comes back. */
  g_clear_pointer (&first, bp_control_free);
  for (guint i = 20; i < 80; i++)
    write_index (&s, cmd, i, 4);
  second = bp_harness_connect (s.h);
  g_free (bp_assert_request_ok (second, "watch write"));
  for (guint i = 20; i < 80; i++)
    {
      g_autofree char *ev = bp_control_next_event (second, BP_WAIT_MS);

      g_assert_nonnull (ev);
      g_assert_cmpint (event_index (ev, "cam/command"), ==, i);
    }
  g_assert_false (FAKE_WAIT_UNTIL (bp_control_count_events (second) > 0, 100));
  g_clear_pointer (&second, bp_control_free);

  /* Past QueueLength (64): the oldest are dropped and counted. */
  for (guint i = 80; i < 150; i++)
    write_index (&s, cmd, i, 4);
  third = bp_harness_connect (s.h);
  g_free (bp_assert_request_ok (third, "watch write"));
  line = bp_control_next_event (third, BP_WAIT_MS);
  g_assert_cmpstr (line, ==, "event dropped cam/command 6");
  for (guint i = 86; i < 150; i++)
    {
      g_autofree char *ev = bp_control_next_event (third, BP_WAIT_MS);

      g_assert_nonnull (ev);
      g_assert_cmpint (event_index (ev, "cam/command"), ==, i);
    }
  setup_stop (&s);
}

/* --- delegated reads (a producer thread on libble-peripheral) ------------------- */

typedef struct {
  char *socket;
  GAsyncQueue *to_producer;   /* "answer", "error", "late", then "go" for late */
  GAsyncQueue *from_producer; /* "ready", then what each reply got */
  GMainContext *test_context; /* woken at each of those */
} ReadProducer;

/* Tells the test, waking its main context: it waits for the message while
 * turning that context, which nothing else may wake for a while. */
static void
producer_says (ReadProducer *rp, const char *text)
{
  g_async_queue_push (rp->from_producer, g_strdup (text));
  g_main_context_wakeup (rp->test_context);
}

static gpointer
read_producer_thread (gpointer data)
{
  ReadProducer *rp = data;
  bp_client *c = bp_client_connect (rp->socket);
  bp_client_event ev;

  if (c == NULL || bp_client_serve (c, "cam/name") < 0)
    {
      producer_says (rp, "serve failed");
      bp_client_close (c);
      return NULL;
    }
  producer_says (rp, "ready");
  for (;;)
    {
      g_autofree char *mode = g_async_queue_timeout_pop (rp->to_producer, 10 * G_USEC_PER_SEC);
      int r;

      if (mode == NULL || strcmp (mode, "quit") == 0)
        break;
      if (bp_client_next_event (c, BP_WAIT_MS, &ev) != 1 || ev.type != BP_CLIENT_EVENT_READ)
        {
          producer_says (rp, "no read event");
          continue;
        }
      if (strcmp (mode, "answer") == 0)
        r = bp_client_reply_text (c, ev.id, "\"from producer\"");
      else if (strcmp (mode, "error") == 0)
        r = bp_client_reply_error (c, ev.id, 0x81);
      else
        {
          g_autofree char *go = g_async_queue_timeout_pop (rp->to_producer, 10 * G_USEC_PER_SEC);

          r = bp_client_reply_text (c, ev.id, "\"too late\"");
        }
      producer_says (rp, r == 0 ? "ok" : bp_client_error (c));
    }
  bp_client_close (c);
  return NULL;
}

static char *
pop_producer (Setup *s, ReadProducer *rp)
{
  char *msg = NULL;

  /* Keep the stand-in's main context turning while the producer works. */
  FAKE_WAIT_UNTIL ((msg = g_async_queue_try_pop (rp->from_producer)) != NULL, 10000);
  g_assert_nonnull (msg);
  return msg;
}

static void
test_delegated_reads (void)
{
  Setup s = { 0 };
  ReadProducer rp = { 0 };
  GThread *thread;
  const char *name;
  g_autofree char *msg = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) value = NULL;

  setup_start (&s);
  name = path_of (&s, CAM "3");
  rp.socket = s.h->socket_path;
  rp.to_producer = g_async_queue_new_full (g_free);
  rp.from_producer = g_async_queue_new_full (g_free);
  rp.test_context = g_main_context_get_thread_default ();
  thread = g_thread_new ("read producer", read_producer_thread, &rp);
  msg = pop_producer (&s, &rp);
  g_assert_cmpstr (msg, ==, "ready");
  g_clear_pointer (&msg, g_free);

  /* Answered: the central gets the producer's value. */
  g_async_queue_push (rp.to_producer, g_strdup ("answer"));
  value = fake_bluez_read_value (s.h->bluez, name, s.device, 0, &error);
  g_assert_no_error (error);
  assert_bytes (value, "from producer", 13);
  g_clear_pointer (&value, g_bytes_unref);
  msg = pop_producer (&s, &rp);
  g_assert_cmpstr (msg, ==, "ok");
  g_clear_pointer (&msg, g_free);

  /* Answered with an error: bluetoothd sees org.bluez.Error.Failed "0x81". */
  g_async_queue_push (rp.to_producer, g_strdup ("error"));
  value = fake_bluez_read_value (s.h->bluez, name, s.device, 0, &error);
  g_assert_null (value);
  g_assert_nonnull (error);
  g_assert_cmpint (fake_error_to_att (error, FALSE), ==, 0x81);
  g_clear_error (&error);
  msg = pop_producer (&s, &rp);
  g_assert_cmpstr (msg, ==, "ok");
  g_clear_pointer (&msg, g_free);

  /* Not answered in time: the stored value (the last answer) is served,
   * and the late reply is told so. */
  g_async_queue_push (rp.to_producer, g_strdup ("late"));
  value = fake_bluez_read_value (s.h->bluez, name, s.device, 0, &error);
  g_assert_no_error (error);
  assert_bytes (value, "from producer", 13);
  g_async_queue_push (rp.to_producer, g_strdup ("go"));
  msg = pop_producer (&s, &rp);
  g_assert_true (g_str_has_prefix (msg, "unknown-read: reply "));
  g_assert_nonnull (strstr (msg, " timed out; the stored value was served"));

  g_async_queue_push (rp.to_producer, g_strdup ("quit"));
  g_thread_join (thread);
  g_async_queue_unref (rp.to_producer);
  g_async_queue_unref (rp.from_producer);
  setup_stop (&s);
}

/* --- a watcher that never reads ---------------------------------------------------- */

static int
raw_connect (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  g_assert_cmpint (connect (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  return fd;
}

typedef struct {
  char *socket;
  guint n;
  gint64 elapsed_us;
  char *error;
  gboolean done;
} Notifier;

static gpointer
notifier_thread (gpointer data)
{
  Notifier *nt = data;
  bp_client *c = bp_client_connect (nt->socket);
  gint64 start = g_get_monotonic_time ();
  guint8 value[20] = { 0 };

  for (guint i = 0; c != NULL && i < nt->n && nt->error == NULL; i++)
    {
      memcpy (value, &i, sizeof i);
      if (bp_client_notify (c, "cam/raw", value, sizeof value, NULL) < 0)
        nt->error = g_strdup (bp_client_error (c));
    }
  if (c == NULL)
    nt->error = g_strdup (g_strerror (errno));
  nt->elapsed_us = g_get_monotonic_time () - start;
  bp_client_close (c);
  g_atomic_int_set (&nt->done, TRUE);
  return NULL;
}

static void
test_slow_watcher (void)
{
  Setup s = { 0 };
  const char *log_path;
  const char *raw;
  int slow;
  gsize log_from;
  guint written = 0;
  Notifier nt = { 0 };
  GThread *thread;
  g_autoptr (GString) got = g_string_new (NULL);
  g_auto (GStrv) lines = NULL;
  gint64 last = -1;
  g_autoptr (BpControl) next = NULL;

  setup_start (&s);
  log_path = path_of (&s, CAM "2");
  raw = path_of (&s, CAM "4");
  fake_bluez_subscribe (s.h->bluez, s.device, raw, TRUE);
  log_from = bp_daemon_get_log_length (s.h->daemon);

  /* Asks for every write, then never reads. */
  slow = raw_connect (s.h->socket_path);
  g_assert_cmpint (write (slow, "watch write\n", 12), ==, 12);

  /* A producer notifies at full speed meanwhile. */
  nt.socket = s.h->socket_path;
  nt.n = 3000;
  thread = g_thread_new ("notifier", notifier_thread, &nt);

  /* ~1.5 MiB of ~1 KiB event lines: more than the kernel and the daemon
   * hold for it. The daemon holds the rest in the queue, and closes the
   * watcher when its output has not moved for 5 s. */
  while (written < 1500)
    write_index (&s, log_path, written++, 512);
  g_assert_true (bp_daemon_wait_log (s.h->daemon, log_from, "does not read", 15000));
  g_assert_true (FAKE_WAIT_UNTIL (g_atomic_int_get (&nt.done), 60000));
  g_thread_join (thread);
  g_assert_null (nt.error);
  g_test_message ("3000 notifies in %" G_GINT64_FORMAT " ms beside a stuck watcher", nt.elapsed_us / 1000);
  g_assert_true (FAKE_WAIT_UNTIL (fake_bluez_count_value_signals (s.h->bluez, raw) == 3000, 20000));

  /* What the stuck watcher's kernel buffer held, then end of file. */
  for (;;)
    {
      char buf[65536];
      ssize_t n = read (slow, buf, sizeof buf);

      if (n <= 0)
        break;
      g_string_append_len (got, buf, n);
    }
  close (slow);
  lines = g_strsplit (got->str, "\n", -1);
  g_assert_cmpstr (lines[0], ==, "ok");
  /* The last piece is an incomplete line (or ""): not received. */
  for (guint i = 1; lines[i] != NULL && lines[i + 1] != NULL; i++)
    {
      gint64 index = event_index (lines[i], "cam/log");

      g_assert_cmpint (index, ==, last + 1);
      last = index;
    }
  g_assert_cmpint (last, <, (gint64) written - 1);

  /* Everything it did not receive is still queued, in order. */
  next = bp_harness_connect (s.h);
  g_free (bp_assert_request_ok (next, "watch write"));
  for (gint64 i = last + 1; i < written; i++)
    {
      g_autofree char *ev = bp_control_next_event (next, BP_WAIT_MS);

      g_assert_nonnull (ev);
      g_assert_cmpint (event_index (ev, "cam/log"), ==, i);
    }
  setup_stop (&s);
}

/* --- many clients ------------------------------------------------------------------ */

static void
test_100_clients (void)
{
  Setup s = { 0 };
  BpControl *clients[100];
  g_autofree char *status = NULL;

  setup_start (&s);
  for (guint i = 0; i < 100; i++)
    clients[i] = bp_harness_connect (s.h);
  /* Everyone at once: all requests out before any reply is read. */
  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *a = g_strdup_printf ("set cam/raw %04x", i);
      g_autofree char *b = g_strdup_printf ("get cam/raw");

      g_assert_true (bp_control_send (clients[i], a, NULL));
      g_assert_true (bp_control_send (clients[i], b, NULL));
      g_assert_true (bp_control_send (clients[i], "frobnicate", NULL));
    }
  for (guint i = 0; i < 100; i++)
    {
      g_autofree char *r1 = bp_control_read_reply (clients[i], BP_WAIT_MS);
      g_autofree char *r2 = bp_control_read_reply (clients[i], BP_WAIT_MS);
      g_autofree char *r3 = bp_control_read_reply (clients[i], BP_WAIT_MS);

      g_assert_cmpstr (r1, ==, "ok");
      g_assert_nonnull (r2);
      g_assert_true (g_str_has_prefix (r2, "ok "));
      g_assert_true (g_str_has_prefix (r3, "error bad-request: unknown request \"frobnicate\""));
    }
  status = bp_assert_request_ok (s.h->ctl, "status");
  g_assert_nonnull (strstr (status, " clients=101 "));
  for (guint i = 0; i < 100; i++)
    bp_control_free (clients[i]);
  setup_stop (&s);
}

/* --- ble-peripheralctl ---------------------------------------------------------------- */

typedef struct {
  gboolean done;
  int status;
  char *out;
  char *err;
} CtlRun;

static void
ctl_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CtlRun *run = user_data;
  GSubprocess *p = G_SUBPROCESS (source);
  g_autoptr (GError) error = NULL;

  g_subprocess_communicate_utf8_finish (p, result, &run->out, &run->err, &error);
  g_assert_no_error (error);
  run->done = TRUE;
}

/* Runs ble-peripheralctl args… against the harness's daemon (stdin from
 * input when not NULL) and returns its exit status; the main context turns
 * meanwhile, so the stand-in answers. */
static int
run_ctl (Setup *s, const char *input, char **out, char **err, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) p = NULL;
  g_autoptr (GError) error = NULL;
  CtlRun run = { 0 };
  const char *arg;
  va_list ap;

  g_ptr_array_add (argv, ctl_path ());
  va_start (ap, err);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, g_strdup (arg));
  va_end (ap);
  g_ptr_array_add (argv, NULL);

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE |
                                        G_SUBPROCESS_FLAGS_STDERR_PIPE);
  if (s != NULL)
    g_subprocess_launcher_setenv (launcher, "BLE_PERIPHERAL_SOCKET", s->h->socket_path, TRUE);
  p = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (p, input != NULL ? input : "", NULL, ctl_done, &run);
  if (!FAKE_WAIT_UNTIL (run.done, 20000))
    {
      g_subprocess_force_exit (p);
      g_error ("ble-peripheralctl %s did not finish within 20 s", (char *) argv->pdata[1]);
    }
  g_test_message ("ble-peripheralctl %s → %d\n%s%s", (char *) argv->pdata[1], g_subprocess_get_exit_status (p), run.out,
                  run.err);
  if (out != NULL)
    *out = g_steal_pointer (&run.out);
  if (err != NULL)
    *err = g_steal_pointer (&run.err);
  g_free (run.out);
  g_free (run.err);
  g_assert_true (g_subprocess_get_if_exited (p));
  return g_subprocess_get_exit_status (p);
}

static void
test_ctl_commands (void)
{
  Setup s = { 0 };
  const char *temp;
  const guint8 expected_temp[] = { 0x9a, 0x09 };
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  setup_start (&s);
  temp = path_of (&s, "2a6e");
  fake_bluez_subscribe (s.h->bluez, s.device, temp, TRUE);

  g_assert_cmpint (run_ctl (&s, NULL, &out, NULL, "status", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "bluez=present\n"));
  g_clear_pointer (&out, g_free);

  g_assert_cmpint (run_ctl (&s, NULL, NULL, NULL, "notify", "env/temperature", "24.58", NULL), ==, 0);
  g_assert_true (FAKE_WAIT_UNTIL (value_signal (&s, temp, 0) != NULL, BP_WAIT_MS));
  assert_bytes (value_signal (&s, temp, 0), expected_temp, sizeof expected_temp);

  g_assert_cmpint (run_ctl (&s, NULL, &out, NULL, "get", "temperature", NULL), ==, 0);
  g_assert_cmpstr (out, ==, "24.58\n");
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_ctl (&s, NULL, &out, NULL, "set", "cam/name", "a name", NULL), ==, 0);
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_ctl (&s, NULL, &out, NULL, "get", "cam/name", NULL), ==, 0);
  g_assert_cmpstr (out, ==, "a name\n");
  g_clear_pointer (&out, g_free);
  g_assert_cmpint (run_ctl (&s, NULL, &out, NULL, "get", "cam/raw", NULL), ==, 0);
  g_assert_cmpstr (out, ==, "\"\"\n");
  g_clear_pointer (&out, g_free);

  /* The daemon's errors: 1, with its message. */
  g_assert_cmpint (run_ctl (&s, NULL, NULL, &err, "set", "env/temperature", "400", NULL), ==, 1);
  g_assert_nonnull (strstr (err, "out-of-range: "));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_ctl (&s, NULL, NULL, &err, "notify", "cam/nothing", "01", NULL), ==, 1);
  g_assert_nonnull (strstr (err, "unknown-characteristic: "));
  g_clear_pointer (&err, g_free);

  /* Usage: 2. */
  g_assert_cmpint (run_ctl (&s, NULL, NULL, NULL, "frobnicate", NULL), ==, 2);
  g_assert_cmpint (run_ctl (&s, NULL, NULL, NULL, "set", "env/temperature", NULL), ==, 2);
  g_assert_cmpint (run_ctl (&s, NULL, NULL, NULL, "--bogus", "status", NULL), ==, 2);
  g_assert_cmpint (run_ctl (&s, NULL, NULL, NULL, "advertise", "maybe", NULL), ==, 2);
  g_assert_cmpint (run_ctl (&s, NULL, &out, NULL, "--help", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "Usage: ble-peripheralctl"));
  g_clear_pointer (&out, g_free);

  /* A negative number is a value, not an option. */
  g_assert_cmpint (run_ctl (&s, NULL, NULL, NULL, "set", "env/temperature", "-3", NULL), ==, 0);
  g_assert_cmpint (run_ctl (&s, NULL, &out, NULL, "get", "env/temperature", NULL), ==, 0);
  g_assert_cmpstr (out, ==, "-3.00\n");
  g_clear_pointer (&out, g_free);

  /* Unreachable: 3. */
  g_assert_cmpint (run_ctl (NULL, NULL, NULL, &err, "--socket", "/nonexistent/control", "status", NULL), ==, 3);
  g_assert_nonnull (strstr (err, "/nonexistent/control"));
  g_clear_pointer (&err, g_free);
  setup_stop (&s);
}

static void
test_ctl_stream (void)
{
  Setup s = { 0 };
  const char *temp;
  const gint16 expected[] = { 100, 250, -300 };
  g_autofree char *err = NULL;

  setup_start (&s);
  temp = path_of (&s, "2a6e");
  fake_bluez_subscribe (s.h->bluez, s.device, temp, TRUE);

  g_assert_cmpint (run_ctl (&s, "1\n2.5\n\n-3\n", NULL, NULL, "stream", "env/temperature", NULL), ==, 0);
  g_assert_true (FAKE_WAIT_UNTIL (fake_bluez_count_value_signals (s.h->bluez, temp) == 3, BP_WAIT_MS));
  for (guint i = 0; i < 3; i++)
    {
      guint8 le[2] = { (guint16) expected[i] & 0xff, (guint16) expected[i] >> 8 };

      assert_bytes (value_signal (&s, temp, i), le, 2);
    }

  /* A bad line is reported, the others go through, the exit status says so. */
  g_assert_cmpint (run_ctl (&s, "4\nhot\n5", NULL, &err, "stream", "env/temperature", NULL), ==, 1);
  g_assert_nonnull (strstr (err, "line 2"));
  g_assert_true (FAKE_WAIT_UNTIL (fake_bluez_count_value_signals (s.h->bluez, temp) == 5, BP_WAIT_MS));
  setup_stop (&s);
}

static gboolean
served (Setup *s)
{
  g_autofree char *status = bp_control_request (s->h->ctl, "status");

  return status != NULL && strstr (status, " cam/name.served=yes") != NULL;
}

static void
test_ctl_serve (void)
{
  Setup s = { 0 };
  const char *name;
  g_autofree char *ctl = ctl_path ();
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);
  g_autoptr (GSubprocess) good = NULL;
  g_autoptr (GSubprocess) bad = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) value = NULL;

  setup_start (&s);
  name = path_of (&s, CAM "3");
  g_subprocess_launcher_setenv (launcher, "BLE_PERIPHERAL_SOCKET", s.h->socket_path, TRUE);

  good = g_subprocess_launcher_spawn (launcher, &error, ctl, "serve", "cam/name", "--", "sh", "-c",
                                      "echo \"read by $BLE_PERIPHERAL_ADDRESS\"", NULL);
  g_assert_no_error (error);
  g_assert_true (FAKE_WAIT_UNTIL (served (&s), BP_WAIT_MS));
  value = fake_bluez_read_value (s.h->bluez, name, s.device, 0, &error);
  g_assert_no_error (error);
  assert_bytes (value, "read by " FAKE_BLUEZ_CENTRAL_ADDRESS, 8 + 17);
  g_clear_pointer (&value, g_bytes_unref);
  g_subprocess_force_exit (good);
  g_assert_true (FAKE_WAIT_UNTIL (!served (&s), BP_WAIT_MS));

  /* A failing command: the central gets ATT 0x80. */
  bad = g_subprocess_launcher_spawn (launcher, &error, ctl, "serve", "cam/name", "--", "false", NULL);
  g_assert_no_error (error);
  g_assert_true (FAKE_WAIT_UNTIL (served (&s), BP_WAIT_MS));
  value = fake_bluez_read_value (s.h->bluez, name, s.device, 0, &error);
  g_assert_null (value);
  g_assert_cmpint (fake_error_to_att (error, FALSE), ==, 0x80);
  g_subprocess_force_exit (bad);
  setup_stop (&s);
}

static void
on_watch_line (GObject *source, GAsyncResult *result, gpointer user_data)
{
  char **line = user_data;

  *line = g_data_input_stream_read_line_finish_utf8 (G_DATA_INPUT_STREAM (source), result, NULL, NULL);
  if (*line == NULL)
    *line = g_strdup ("(end of output)");
}

static void
test_ctl_watch_json (void)
{
  Setup s = { 0 };
  g_autofree char *ctl = ctl_path ();
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  g_autoptr (GSubprocess) watch = NULL;
  g_autoptr (GDataInputStream) out = NULL;
  g_autoptr (GError) error = NULL;
  g_autofree char *line = NULL;
  g_autofree char *status = NULL;
  const guint8 data[] = { 0x01, 0x02 };

  setup_start (&s);
  g_subprocess_launcher_setenv (launcher, "BLE_PERIPHERAL_SOCKET", s.h->socket_path, TRUE);
  /* Queued before anybody watches: delivered first. */
  g_assert_true (fake_bluez_write_value (s.h->bluez, path_of (&s, CAM "1"), s.device, 0, data, 2, &error));
  watch = g_subprocess_launcher_spawn (launcher, &error, ctl, "watch", "--json", "write", NULL);
  g_assert_no_error (error);
  out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (watch));
  g_data_input_stream_read_line_async (out, G_PRIORITY_DEFAULT, NULL, on_watch_line, &line);
  g_assert_true (FAKE_WAIT_UNTIL (line != NULL, BP_WAIT_MS));
  g_assert_cmpstr (line, ==,
                   "{\"event\":\"write\",\"characteristic\":\"cam/command\",\"address\":\"" FAKE_BLUEZ_CENTRAL_ADDRESS
                   "\",\"offset\":0,\"hex\":\"0102\"}");
  g_subprocess_force_exit (watch);
  g_assert_true (FAKE_WAIT_UNTIL ((status = bp_control_request (s.h->ctl, "status")) != NULL &&
                                    strstr (status, " cam/command.queued=0 ") != NULL,
                                  BP_WAIT_MS));
  setup_stop (&s);
}

static void
test_ctl_check_config (void)
{
  g_autofree char *dir = g_dir_make_tmp ("test-producers-XXXXXX", NULL);
  g_autofree char *good = g_build_filename (dir, "good.conf", NULL);
  g_autofree char *bad = g_build_filename (dir, "bad.conf", NULL);
  g_autofree char *daemon = bp_daemon_path ();
  g_autofree char *out = NULL;
  g_autofree char *err = NULL;

  g_setenv ("BLE_PERIPHERAL_DAEMON", daemon, TRUE);
  g_assert_true (g_file_set_contents (good, config_text, -1, NULL));
  g_assert_true (g_file_set_contents (bad, "[Service env]\nUUID=nonsense\n", -1, NULL));
  g_assert_cmpint (run_ctl (NULL, NULL, &out, NULL, "check-config", good, NULL), ==, 0);
  g_assert_nonnull (strstr (out, "temperature"));
  g_assert_cmpint (run_ctl (NULL, NULL, NULL, &err, "check-config", bad, NULL), ==, 1);
  g_assert_nonnull (strstr (err, "bad.conf"));
  g_unsetenv ("BLE_PERIPHERAL_DAEMON");
  g_unlink (good);
  g_unlink (bad);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/producers/notify-exact-bytes", test_notify_exact_bytes);
  g_test_add_func ("/producers/500-writes-in-order", test_500_writes_in_order);
  g_test_add_func ("/producers/restart-loses-nothing", test_restart_loses_nothing);
  g_test_add_func ("/producers/delegated-reads", test_delegated_reads);
  g_test_add_func ("/producers/slow-watcher", test_slow_watcher);
  g_test_add_func ("/producers/100-clients", test_100_clients);
  g_test_add_func ("/producers/ctl-commands", test_ctl_commands);
  g_test_add_func ("/producers/ctl-stream", test_ctl_stream);
  g_test_add_func ("/producers/ctl-serve", test_ctl_serve);
  g_test_add_func ("/producers/ctl-watch-json", test_ctl_watch_json);
  g_test_add_func ("/producers/ctl-check-config", test_ctl_check_config);
  return g_test_run ();
}
