/* bench-receiver: the stand-in bluetoothd of the benchmark, and the place
 * where its figures are taken.
 *
 *   bench-receiver [--address BUS]
 *
 * It runs the stand-in org.bluez of the integration tests (fake-bluez: an
 * adapter, GattManager1.RegisterApplication, a match rule on each
 * registrant's unique name for its PropertiesChanged signals, as
 * bluetoothd's GDBusClient adds) and adds the benchmark's part: a GDBus
 * filter that takes every PropertiesChanged(Value) of a characteristic on
 * the connection's worker thread, the moment it is read off the socket,
 * checks it (bench-value.h: size, content, sequence), timestamps it and
 * drops it there, so that the receiver is as cheap as it can be and never
 * the bottleneck of what it measures.
 *
 * It prints "ready", then answers one line per command read on stdin:
 *
 *   arm N SIZE             ok             expect N values of SIZE bytes (resets the figures)
 *   wait STALL_MS          ok received=N errors=N missing=N seconds=S rate=R p50_us=… p99_us=… max_us=…
 *                                         when all N arrived, or after STALL_MS without one;
 *                                         seconds: first value's send time to the last arrival
 *   watch NAME             ok             subscribe to NAME's PropertiesChanged as fake-bluez
 *                                         does for registrants (for a sender that does not
 *                                         register an application)
 *   wait-app UUID MS       ok SENDER PATH an active application exports a characteristic UUID
 *   device ADDR MTU        ok PATH        a central connects
 *   subscribe UUID         ok             its CCCD: StartNotify on that characteristic
 *   acquire UUID           ok             its CCCD on a NotifyAcquired characteristic:
 *                                         AcquireNotify, then a thread reads the socket one
 *                                         message per read(2) as bluetoothd does, each value
 *                                         checked and timed as the signals are
 *   read UUID N            ok n=N errors=N p50_us=… p99_us=… max_us=…
 *                                         N ReadValue round trips, one after the other, timed
 *                                         from the call to the reply arriving at the stand-in
 *   quit
 *
 * UUID commands address the newest active application that has the UUID. */
#define G_LOG_DOMAIN "bench-receiver"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench-bus.h"
#include "bench-value.h"
#include "fake-bluez.h"

#define PROPS_IFACE "org.freedesktop.DBus.Properties"
#define CHAR_IFACE BENCH_CHAR_IFACE
#define REPLY_RING 16

typedef struct {
  GMutex lock;
  /* the run: guarded by lock */
  gboolean armed;
  guint64 expected;
  gsize size;
  guint64 received;
  guint64 errors;
  guint8 *seen;     /* a bit per sequence number: duplicates */
  GHashTable *last; /* object path → guint64*: last sequence number on it + 1 */
  guint64 first_sent_ns;
  guint64 last_recv_ns;
  guint64 *latency_ns; /* expected entries */
  guint64 n_latency;
  /* replies seen by the filter, for read round trips: guarded by lock */
  guint32 reply_serial[REPLY_RING];
  guint64 reply_ns[REPLY_RING];
  guint reply_next;
} Figures;

typedef enum { OP_NONE, OP_WAIT, OP_WAIT_APP, OP_READ } OpKind;

typedef struct {
  FakeBluez *fb;
  GDBusConnection *conn;
  GMainLoop *loop;
  Figures fig;
  GString *input;
  char *device_path;
  /* the command in progress */
  OpKind op;
  guint op_timer;
  gint64 op_deadline_us;
  guint stall_ms;
  guint64 last_count;
  gint64 last_progress_us;
  char *op_uuid;
  /* read round trips */
  char *read_dest;
  char *read_path;
  guint read_total;
  guint read_done;
  guint read_errors;
  guint64 read_sent_ns;
  guint32 read_serial;
  GArray *read_rtt_ns;
} Receiver;

static void next_command (Receiver *r);

static void reply (const char *format, ...) G_GNUC_PRINTF (1, 2);

static void
reply (const char *format, ...)
{
  va_list ap;

  va_start (ap, format);
  vprintf (format, ap);
  va_end (ap);
  putchar ('\n');
  fflush (stdout);
}

/* --- the filter (GDBus worker thread) ------------------------------------- */

static void
record_value (Figures *f, const char *path, const guint8 *data, gsize len, guint64 now)
{
  guint64 seq = 0, sent = 0;

  g_mutex_lock (&f->lock);
  if (f->armed)
    {
      f->received++;
      if (!bench_value_check (data, len, f->size, &seq, &sent) || seq >= f->expected ||
          (f->seen[seq / 8] & (1u << (seq % 8))))
        {
          f->errors++;
        }
      else
        {
          /* In order per characteristic: values of different
           * characteristics, from different producer connections, may
           * interleave (SPEC §4 orders the requests of one connection). */
          guint64 *next = g_hash_table_lookup (f->last, path);

          if (next == NULL)
            {
              next = g_new0 (guint64, 1);
              g_hash_table_insert (f->last, g_strdup (path), next);
            }
          f->seen[seq / 8] |= 1u << (seq % 8);
          if (seq < *next)
            f->errors++;
          *next = seq + 1;
          if (f->first_sent_ns == 0 || sent < f->first_sent_ns)
            f->first_sent_ns = sent;
          if (f->n_latency < f->expected)
            f->latency_ns[f->n_latency++] = now > sent ? now - sent : 0;
        }
      f->last_recv_ns = now;
    }
  g_mutex_unlock (&f->lock);
}

static GDBusMessage *
filter_cb (GDBusConnection *conn, GDBusMessage *msg, gboolean incoming, gpointer data)
{
  Receiver *r = data;
  guint64 now;
  GDBusMessageType type;

  if (!incoming)
    return msg;
  now = bench_now_ns ();
  type = g_dbus_message_get_message_type (msg);
  if (type == G_DBUS_MESSAGE_TYPE_SIGNAL)
    {
      GVariant *body = g_dbus_message_get_body (msg);
      const char *iface = NULL;
      g_autoptr (GVariant) changed = NULL;
      g_autoptr (GVariant) value = NULL;
      const guint8 *bytes;
      gsize len = 0;

      if (g_strcmp0 (g_dbus_message_get_member (msg), "PropertiesChanged") != 0 ||
          g_strcmp0 (g_dbus_message_get_interface (msg), PROPS_IFACE) != 0 || body == NULL ||
          !g_variant_is_of_type (body, G_VARIANT_TYPE ("(sa{sv}as)")))
        return msg;
      g_variant_get_child (body, 0, "&s", &iface);
      if (strcmp (iface, CHAR_IFACE) != 0)
        return msg;
      changed = g_variant_get_child_value (body, 1);
      value = g_variant_lookup_value (changed, "Value", G_VARIANT_TYPE_BYTESTRING);
      if (value == NULL)
        return msg;
      bytes = g_variant_get_fixed_array (value, &len, 1);
      record_value (&r->fig, g_dbus_message_get_path (msg), bytes, len, now);
      /* Counted: fake-bluez's own handler need not see it. */
      g_object_unref (msg);
      return NULL;
    }
  if (type == G_DBUS_MESSAGE_TYPE_METHOD_RETURN || type == G_DBUS_MESSAGE_TYPE_ERROR)
    {
      Figures *f = &r->fig;

      g_mutex_lock (&f->lock);
      f->reply_serial[f->reply_next] = g_dbus_message_get_reply_serial (msg);
      f->reply_ns[f->reply_next] = now;
      f->reply_next = (f->reply_next + 1) % REPLY_RING;
      g_mutex_unlock (&f->lock);
    }
  return msg;
}

/* --- the notify socket (its own thread) ---------------------------------------- */

typedef struct {
  Receiver *r;
  char *path;
  int fd;
} SocketReader;

static gpointer
socket_reader (gpointer data)
{
  SocketReader *sr = data;
  guint8 buf[512];

  /* Blocking reads: the cheapest way to take each message as it comes. */
  for (;;)
    {
      ssize_t n = read (sr->fd, buf, sizeof buf);

      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      record_value (&sr->r->fig, sr->path, buf, (gsize) n, bench_now_ns ());
    }
  close (sr->fd);
  g_free (sr->path);
  g_free (sr);
  return NULL;
}

/* --- figures ---------------------------------------------------------------- */

static int
compare_u64 (const void *a, const void *b)
{
  guint64 x = *(const guint64 *) a, y = *(const guint64 *) b;

  return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted values, in µs. */
static double
percentile_us (const guint64 *sorted, gsize n, double p)
{
  gsize rank;

  if (n == 0)
    return 0;
  rank = (gsize) (p * n + 0.999999);
  if (rank < 1)
    rank = 1;
  if (rank > n)
    rank = n;
  return sorted[rank - 1] / 1000.0;
}

static char *
distribution (guint64 *values, gsize n)
{
  qsort (values, n, sizeof *values, compare_u64);
  return g_strdup_printf ("p50_us=%.1f p99_us=%.1f max_us=%.1f", percentile_us (values, n, 0.50),
                          percentile_us (values, n, 0.99), n > 0 ? values[n - 1] / 1000.0 : 0.0);
}

static void
arm (Receiver *r, guint64 n, gsize size)
{
  Figures *f = &r->fig;

  g_mutex_lock (&f->lock);
  g_free (f->latency_ns);
  f->latency_ns = g_new (guint64, MAX (n, 1));
  f->n_latency = 0;
  f->expected = n;
  f->size = size;
  f->received = 0;
  f->errors = 0;
  g_free (f->seen);
  f->seen = g_malloc0 (n / 8 + 1);
  g_hash_table_remove_all (f->last);
  f->first_sent_ns = 0;
  f->last_recv_ns = 0;
  f->armed = TRUE;
  g_mutex_unlock (&f->lock);
}

static void
report_run (Receiver *r)
{
  Figures *f = &r->fig;
  g_autofree char *dist = NULL;
  guint64 received, errors, expected;
  double seconds;

  g_mutex_lock (&f->lock);
  f->armed = FALSE;
  received = f->received;
  errors = f->errors;
  expected = f->expected;
  seconds = f->last_recv_ns > f->first_sent_ns ? (f->last_recv_ns - f->first_sent_ns) / 1e9 : 0;
  dist = distribution (f->latency_ns, f->n_latency);
  g_mutex_unlock (&f->lock);
  reply ("ok received=%" G_GUINT64_FORMAT " errors=%" G_GUINT64_FORMAT " missing=%" G_GUINT64_FORMAT
         " seconds=%.6f rate=%.1f %s",
         received, errors, expected > received ? expected - received : 0, seconds,
         seconds > 0 ? received / seconds : 0.0, dist);
}

/* --- applications ------------------------------------------------------------ */

static FakeApplication *
find_application (Receiver *r, const char *uuid, FakeGattCharacteristic **chr)
{
  GPtrArray *apps = fake_bluez_get_applications (r->fb);

  for (guint i = apps->len; i > 0; i--)
    {
      FakeApplication *app = g_ptr_array_index (apps, i - 1);
      FakeGattCharacteristic *c;

      if (app->state != FAKE_REGISTRATION_ACTIVE)
        continue;
      c = fake_application_find_characteristic (app, uuid);
      if (c != NULL)
        {
          *chr = c;
          return app;
        }
    }
  return NULL;
}

/* --- commands in progress ------------------------------------------------------ */

static void
op_end (Receiver *r)
{
  g_clear_handle_id (&r->op_timer, g_source_remove);
  g_clear_pointer (&r->op_uuid, g_free);
  r->op = OP_NONE;
  next_command (r);
}

static gboolean
op_tick (gpointer data)
{
  Receiver *r = data;
  gint64 now = g_get_monotonic_time ();

  if (r->op == OP_WAIT)
    {
      guint64 count, expected;

      g_mutex_lock (&r->fig.lock);
      count = r->fig.received;
      expected = r->fig.expected;
      g_mutex_unlock (&r->fig.lock);
      if (count != r->last_count)
        {
          r->last_count = count;
          r->last_progress_us = now;
        }
      if (count >= expected || now - r->last_progress_us > (gint64) r->stall_ms * 1000)
        {
          r->op_timer = 0;
          report_run (r);
          op_end (r);
          return G_SOURCE_REMOVE;
        }
      return G_SOURCE_CONTINUE;
    }
  if (r->op == OP_WAIT_APP)
    {
      FakeGattCharacteristic *chr = NULL;
      FakeApplication *app = find_application (r, r->op_uuid, &chr);

      if (app == NULL && now < r->op_deadline_us)
        return G_SOURCE_CONTINUE;
      if (app != NULL)
        reply ("ok %s %s", app->sender, chr->path);
      else
        reply ("error timeout");
      r->op_timer = 0;
      op_end (r);
      return G_SOURCE_REMOVE;
    }
  r->op_timer = 0;
  return G_SOURCE_REMOVE;
}

static void read_next (Receiver *r);

static void
read_done_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  Receiver *r = data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusMessage) msg = g_dbus_connection_send_message_with_reply_finish (G_DBUS_CONNECTION (source), res,
                                                                                   &error);
  guint64 replied = 0;

  g_mutex_lock (&r->fig.lock);
  for (guint i = 0; i < REPLY_RING; i++)
    if (r->fig.reply_serial[i] == r->read_serial)
      replied = r->fig.reply_ns[i];
  g_mutex_unlock (&r->fig.lock);

  if (msg == NULL || g_dbus_message_get_message_type (msg) == G_DBUS_MESSAGE_TYPE_ERROR || replied == 0)
    {
      r->read_errors++;
    }
  else
    {
      guint64 rtt = replied - r->read_sent_ns;
      g_array_append_val (r->read_rtt_ns, rtt);
    }
  r->read_done++;
  read_next (r);
}

static void
read_next (Receiver *r)
{
  g_autoptr (GDBusMessage) msg = NULL;
  GVariantBuilder options;

  if (r->read_done >= r->read_total)
    {
      g_autofree char *dist = distribution ((guint64 *) r->read_rtt_ns->data, r->read_rtt_ns->len);

      reply ("ok n=%u errors=%u %s", r->read_done, r->read_errors, dist);
      g_clear_pointer (&r->read_rtt_ns, g_array_unref);
      g_clear_pointer (&r->read_dest, g_free);
      g_clear_pointer (&r->read_path, g_free);
      op_end (r);
      return;
    }
  /* What bluetoothd sends for an ATT Read Request. */
  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  if (r->device_path != NULL)
    g_variant_builder_add (&options, "{sv}", "device", g_variant_new_object_path (r->device_path));
  g_variant_builder_add (&options, "{sv}", "link", g_variant_new_string ("LE"));
  g_variant_builder_add (&options, "{sv}", "mtu", g_variant_new_uint16 (247));
  msg = g_dbus_message_new_method_call (r->read_dest, r->read_path, CHAR_IFACE, "ReadValue");
  g_dbus_message_set_body (msg, g_variant_new ("(a{sv})", &options));
  r->read_sent_ns = bench_now_ns ();
  g_dbus_connection_send_message_with_reply (r->conn, msg, G_DBUS_SEND_MESSAGE_FLAGS_NONE, 5000, &r->read_serial, NULL,
                                             read_done_cb, r);
}

/* --- commands ------------------------------------------------------------------ */

static void
noop_signal_cb (GDBusConnection *conn, const char *sender, const char *path, const char *iface, const char *signal_name,
                GVariant *params, gpointer data)
{
}

static gboolean
run_command (Receiver *r, char **argv, int argc)
{
  const char *cmd = argv[0];
  g_autoptr (GError) error = NULL;

  if (g_str_equal (cmd, "arm") && argc == 3)
    {
      arm (r, g_ascii_strtoull (argv[1], NULL, 10), g_ascii_strtoull (argv[2], NULL, 10));
      reply ("ok");
      return TRUE;
    }
  if (g_str_equal (cmd, "wait") && argc == 2)
    {
      r->op = OP_WAIT;
      r->stall_ms = (guint) g_ascii_strtoull (argv[1], NULL, 10);
      r->last_count = 0;
      r->last_progress_us = g_get_monotonic_time ();
      r->op_timer = g_timeout_add (20, op_tick, r);
      return FALSE;
    }
  if (g_str_equal (cmd, "watch") && argc == 2)
    {
      g_autoptr (GVariant) id = NULL;

      g_dbus_connection_signal_subscribe (r->conn, argv[1], PROPS_IFACE, "PropertiesChanged", NULL, NULL,
                                          G_DBUS_SIGNAL_FLAGS_NONE, noop_signal_cb, NULL, NULL);
      /* The bus handles a connection's messages in order: once this is
       * answered, the match rule is in place. */
      id = g_dbus_connection_call_sync (r->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                        "org.freedesktop.DBus", "GetId", NULL, NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL,
                                        &error);
      if (id == NULL)
        reply ("error %s", error->message);
      else
        reply ("ok");
      return TRUE;
    }
  if (g_str_equal (cmd, "wait-app") && argc == 3)
    {
      r->op = OP_WAIT_APP;
      r->op_uuid = g_strdup (argv[1]);
      r->op_deadline_us = g_get_monotonic_time () + (gint64) g_ascii_strtoull (argv[2], NULL, 10) * 1000;
      r->op_timer = g_timeout_add (20, op_tick, r);
      return FALSE;
    }
  if (g_str_equal (cmd, "device") && argc == 3)
    {
      const char *path = fake_bluez_add_device (r->fb, argv[1], (guint16) g_ascii_strtoull (argv[2], NULL, 10));

      fake_bluez_set_connected (r->fb, path, TRUE);
      g_free (r->device_path);
      r->device_path = g_strdup (path);
      reply ("ok %s", path);
      return TRUE;
    }
  if (g_str_equal (cmd, "subscribe") && argc == 2)
    {
      FakeGattCharacteristic *chr = NULL;
      FakeApplication *app = find_application (r, argv[1], &chr);
      g_autoptr (GDBusMessage) msg = NULL;

      if (app == NULL)
        {
          reply ("error no active application has %s", argv[1]);
          return TRUE;
        }
      /* bluetoothd sends StartNotify with no reply expected. */
      msg = g_dbus_message_new_method_call (app->sender, chr->path, CHAR_IFACE, "StartNotify");
      g_dbus_message_set_flags (msg, G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);
      if (!g_dbus_connection_send_message (r->conn, msg, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, &error))
        reply ("error %s", error->message);
      else
        reply ("ok");
      return TRUE;
    }
  if (g_str_equal (cmd, "acquire") && argc == 2)
    {
      FakeGattCharacteristic *chr = NULL;
      FakeApplication *app = find_application (r, argv[1], &chr);
      g_autoptr (GUnixFDList) fds = NULL;
      g_autoptr (GVariant) res = NULL;
      GVariantBuilder b;
      gint32 handle = -1;
      guint16 mtu = 0;
      SocketReader *sr;
      int fd, flags;

      if (app == NULL || r->device_path == NULL)
        {
          reply ("error no active application has %s, or no device", argv[1]);
          return TRUE;
        }
      g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
      g_variant_builder_add (&b, "{sv}", "device", g_variant_new_object_path (r->device_path));
      g_variant_builder_add (&b, "{sv}", "link", g_variant_new_string ("LE"));
      g_variant_builder_add (&b, "{sv}", "mtu", g_variant_new_uint16 (247));
      res = g_dbus_connection_call_with_unix_fd_list_sync (r->conn, app->sender, chr->path, CHAR_IFACE, "AcquireNotify",
                                                           g_variant_new ("(@a{sv})", g_variant_builder_end (&b)),
                                                           G_VARIANT_TYPE ("(hq)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL,
                                                           &fds, NULL, &error);
      if (res == NULL)
        {
          reply ("error %s", error->message);
          return TRUE;
        }
      g_variant_get (res, "(hq)", &handle, &mtu);
      fd = g_unix_fd_list_get (fds, handle, &error);
      if (fd < 0)
        {
          reply ("error %s", error->message);
          return TRUE;
        }
      flags = fcntl (fd, F_GETFL);
      fcntl (fd, F_SETFL, flags & ~O_NONBLOCK);
      sr = g_new0 (SocketReader, 1);
      sr->r = r;
      sr->path = g_strdup (chr->path);
      sr->fd = fd;
      g_thread_unref (g_thread_new ("socket-reader", socket_reader, sr));
      reply ("ok");
      return TRUE;
    }
  if (g_str_equal (cmd, "read") && argc == 3)
    {
      FakeGattCharacteristic *chr = NULL;
      FakeApplication *app = find_application (r, argv[1], &chr);

      if (app == NULL)
        {
          reply ("error no active application has %s", argv[1]);
          return TRUE;
        }
      r->op = OP_READ;
      r->read_dest = g_strdup (app->sender);
      r->read_path = g_strdup (chr->path);
      r->read_total = (guint) g_ascii_strtoull (argv[2], NULL, 10);
      r->read_done = 0;
      r->read_errors = 0;
      r->read_rtt_ns = g_array_sized_new (FALSE, FALSE, sizeof (guint64), r->read_total);
      read_next (r);
      return FALSE;
    }
  if (g_str_equal (cmd, "quit"))
    {
      reply ("ok");
      g_main_loop_quit (r->loop);
      return FALSE;
    }
  reply ("error unknown command \"%s\"", cmd);
  return TRUE;
}

/* Runs the buffered commands until one must wait. */
static void
next_command (Receiver *r)
{
  char *nl;

  while (r->op == OP_NONE && (nl = memchr (r->input->str, '\n', r->input->len)) != NULL)
    {
      g_autofree char *line = g_strndup (r->input->str, nl - r->input->str);
      g_auto (GStrv) argv = NULL;
      int argc = 0;

      g_string_erase (r->input, 0, nl - r->input->str + 1);
      if (!g_shell_parse_argv (line, &argc, &argv, NULL) || argc == 0)
        continue;
      if (!run_command (r, argv, argc) && r->op == OP_NONE)
        return; /* quit */
    }
}

static gboolean
stdin_cb (int fd, GIOCondition cond, gpointer data)
{
  Receiver *r = data;
  char buf[4096];
  ssize_t n = read (fd, buf, sizeof buf);

  if (n < 0 && errno == EINTR)
    return G_SOURCE_CONTINUE;
  if (n <= 0)
    {
      g_main_loop_quit (r->loop);
      return G_SOURCE_REMOVE;
    }
  g_string_append_len (r->input, buf, n);
  next_command (r);
  return G_SOURCE_CONTINUE;
}

static gboolean
quit_cb (gpointer data)
{
  g_main_loop_quit (((Receiver *) data)->loop);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  g_autofree char *address = NULL;
  GOptionEntry entries[] = {
    { "address", 'a', 0, G_OPTION_ARG_STRING, &address, "Bus address (default: $DBUS_SYSTEM_BUS_ADDRESS)", "ADDR" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- the benchmark's stand-in bluetoothd");
  g_autoptr (GError) error = NULL;
  Receiver r = { 0 };

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("bench-receiver: %s\n", error->message);
      return 2;
    }
  if (!bench_bus_address ("bench-receiver", &address))
    return 2;

  g_mutex_init (&r.fig.lock);
  r.fig.last = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  r.input = g_string_new (NULL);
  r.loop = g_main_loop_new (NULL, FALSE);
  r.fb = fake_bluez_new (address, FAKE_BLUEZ_FLAGS_NONE);
  fake_bluez_set_record_signals (r.fb, FALSE);
  if (!fake_bluez_start (r.fb, &error))
    {
      g_printerr ("bench-receiver: %s\n", error->message);
      return 1;
    }
  r.conn = fake_bluez_get_connection (r.fb);
  g_dbus_connection_add_filter (r.conn, filter_cb, &r, NULL);

  g_unix_fd_add (0, G_IO_IN | G_IO_HUP | G_IO_ERR, stdin_cb, &r);
  g_unix_signal_add (SIGTERM, quit_cb, &r);
  g_unix_signal_add (SIGINT, quit_cb, &r);
  reply ("ready");
  g_main_loop_run (r.loop);

  fake_bluez_free (r.fb);
  g_main_loop_unref (r.loop);
  g_string_free (r.input, TRUE);
  g_free (r.fig.latency_ns);
  g_free (r.fig.seen);
  g_hash_table_unref (r.fig.last);
  g_free (r.device_path);
  return 0;
}
