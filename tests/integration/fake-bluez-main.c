/* fake-bluez: the stand-in bluetoothd as a process, for benchmarks and for
 * trying the daemon by hand on a private bus.
 *
 *   fake-bluez [--address BUS] [--experimental] [--no-adapter] [--record] [--intake N]
 *
 * It owns org.bluez on BUS (default: $DBUS_SYSTEM_BUS_ADDRESS), prints
 * "ready" and then answers one line per command read on stdin:
 *
 *   status                      ok application=STATE advertisement=STATE signals=N
 *   count                       ok N            PropertiesChanged received so far
 *   wait-registered [MS]        ok | error timeout
 *   wait-signals N [MS]         ok N | error timeout N
 *   device ADDR [MTU]           ok PATH         add a central
 *   connect ADDR / disconnect ADDR / remove ADDR
 *   subscribe UUID [ADDR] / unsubscribe UUID [ADDR]
 *   read UUID [OFFSET]          ok HEX | error NAME MESSAGE
 *   write UUID HEX [OFFSET]     ok | error NAME MESSAGE
 *   adapter off|on              the adapter goes / returns
 *   restart                     leave the bus and come back
 *   quit
 *
 * Signals are counted, not kept, unless --record. --intake N takes in at
 * most N PropertiesChanged signals a second (a slow bluetoothd). */
#define G_LOG_DOMAIN "fake-bluez"

#include <gio/gio.h>
#include <gio/gunixinputstream.h>
#include <glib-unix.h>
#include <stdio.h>

#include "fake-bluez.h"

typedef struct {
  FakeBluez *fb;
  GMainLoop *loop;
  GDataInputStream *in;
  int status;
} App;

static char *
device_path (App *app, const char *address)
{
  if (address == NULL)
    address = FAKE_BLUEZ_CENTRAL_ADDRESS;
  if (!fake_bluez_has_adapter (app->fb))
    return NULL;
  return g_strdup (fake_bluez_add_device (app->fb, address, 0));
}

static const char *
characteristic_path (App *app, const char *uuid)
{
  FakeApplication *a = fake_bluez_get_active_application (app->fb);
  FakeGattCharacteristic *c = a ? fake_application_find_characteristic (a, uuid) : NULL;

  return c ? c->path : NULL;
}

static char *
error_reply (const GError *error)
{
  g_autofree char *name = g_dbus_error_get_remote_error (error);

  return g_strdup_printf ("error %s %s", name ? name : "timeout", error->message);
}

static char *
run_command (App *app, char **argv, int argc)
{
  const char *cmd = argv[0];
  FakeBluez *fb = app->fb;
  g_autoptr (GError) error = NULL;

  if (g_str_equal (cmd, "status"))
    {
      FakeApplication *a = fake_bluez_get_active_application (fb);
      FakeAdvertisement *adv = fake_bluez_get_active_advertisement (fb);
      return g_strdup_printf ("ok application=%s advertisement=%s signals=%" G_GUINT64_FORMAT, a ? "active" : "none",
                              adv ? "active" : "none", fake_bluez_get_n_signals (fb));
    }
  if (g_str_equal (cmd, "count"))
    return g_strdup_printf ("ok %" G_GUINT64_FORMAT, fake_bluez_get_n_signals (fb));
  if (g_str_equal (cmd, "wait-registered"))
    {
      guint ms = argc > 1 ? (guint) g_ascii_strtoull (argv[1], NULL, 10) : 5000;
      if (FAKE_WAIT_UNTIL (fake_bluez_get_active_application (fb) != NULL, ms))
        return g_strdup ("ok");
      return g_strdup ("error timeout");
    }
  if (g_str_equal (cmd, "wait-signals") && argc > 1)
    {
      guint64 n = g_ascii_strtoull (argv[1], NULL, 10);
      guint ms = argc > 2 ? (guint) g_ascii_strtoull (argv[2], NULL, 10) : 5000;
      gboolean ok = FAKE_WAIT_UNTIL (fake_bluez_get_n_signals (fb) >= n, ms);
      return g_strdup_printf ("%s %" G_GUINT64_FORMAT, ok ? "ok" : "error timeout", fake_bluez_get_n_signals (fb));
    }
  if (g_str_equal (cmd, "device") && argc > 1)
    {
      guint16 mtu = argc > 2 ? (guint16) g_ascii_strtoull (argv[2], NULL, 10) : 0;
      const char *path = fake_bluez_has_adapter (fb) ? fake_bluez_add_device (fb, argv[1], mtu) : NULL;
      return path ? g_strdup_printf ("ok %s", path) : g_strdup ("error no adapter");
    }
  if ((g_str_equal (cmd, "connect") || g_str_equal (cmd, "disconnect") || g_str_equal (cmd, "remove")) && argc > 1)
    {
      g_autofree char *path = device_path (app, argv[1]);
      if (path == NULL)
        return g_strdup ("error no adapter");
      if (g_str_equal (cmd, "remove"))
        fake_bluez_remove_device (fb, path);
      else
        fake_bluez_set_connected (fb, path, g_str_equal (cmd, "connect"));
      return g_strdup ("ok");
    }
  if ((g_str_equal (cmd, "subscribe") || g_str_equal (cmd, "unsubscribe")) && argc > 1)
    {
      const char *chr = characteristic_path (app, argv[1]);
      g_autofree char *dev = device_path (app, argc > 2 ? argv[2] : NULL);
      if (chr == NULL || dev == NULL)
        return g_strdup ("error no such characteristic");
      fake_bluez_subscribe (fb, dev, chr, g_str_equal (cmd, "subscribe"));
      return g_strdup ("ok");
    }
  if (g_str_equal (cmd, "read") && argc > 1)
    {
      const char *chr = characteristic_path (app, argv[1]);
      g_autofree char *dev = device_path (app, NULL);
      g_autoptr (GBytes) value = NULL;
      gsize len = 0;
      const guint8 *data;
      GString *hex;

      if (chr == NULL)
        return g_strdup ("error no such characteristic");
      value = fake_bluez_read_value (fb, chr, dev, argc > 2 ? (guint16) g_ascii_strtoull (argv[2], NULL, 10) : 0,
                                     &error);
      if (value == NULL)
        return error_reply (error);
      data = g_bytes_get_data (value, &len);
      hex = g_string_new ("ok ");
      for (gsize i = 0; i < len; i++)
        g_string_append_printf (hex, "%02x", data[i]);
      return g_string_free (hex, FALSE);
    }
  if (g_str_equal (cmd, "write") && argc > 2)
    {
      const char *chr = characteristic_path (app, argv[1]);
      g_autofree char *dev = device_path (app, NULL);
      g_autoptr (GByteArray) bytes = g_byte_array_new ();
      const char *hex = argv[2];

      if (chr == NULL)
        return g_strdup ("error no such characteristic");
      for (; g_ascii_isxdigit (hex[0]) && g_ascii_isxdigit (hex[1]); hex += 2)
        {
          guint8 b = (g_ascii_xdigit_value (hex[0]) << 4) | g_ascii_xdigit_value (hex[1]);
          g_byte_array_append (bytes, &b, 1);
        }
      if (!fake_bluez_write_value (fb, chr, dev, argc > 3 ? (guint16) g_ascii_strtoull (argv[3], NULL, 10) : 0,
                                   bytes->data, bytes->len, &error))
        return error_reply (error);
      return g_strdup ("ok");
    }
  if (g_str_equal (cmd, "adapter") && argc > 1)
    {
      if (g_str_equal (argv[1], "off"))
        fake_bluez_remove_adapter (fb);
      else
        fake_bluez_add_adapter (fb);
      return g_strdup ("ok");
    }
  if (g_str_equal (cmd, "restart"))
    {
      fake_bluez_stop (fb);
      if (!fake_bluez_start (fb, &error))
        return g_strdup_printf ("error %s", error->message);
      return g_strdup ("ok");
    }
  if (g_str_equal (cmd, "quit"))
    {
      g_main_loop_quit (app->loop);
      return g_strdup ("ok");
    }
  return g_strdup_printf ("error unknown command \"%s\"", cmd);
}

static void read_command (App *app);

static void
line_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  App *app = data;
  g_autoptr (GError) error = NULL;
  g_autofree char *line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), res, NULL, &error);
  g_auto (GStrv) argv = NULL;
  g_autofree char *reply = NULL;
  int argc = 0;

  if (line == NULL)
    {
      g_main_loop_quit (app->loop);
      return;
    }
  if (g_shell_parse_argv (line, &argc, &argv, NULL) && argc > 0)
    {
      reply = run_command (app, argv, argc);
      printf ("%s\n", reply);
      fflush (stdout);
    }
  if (g_main_loop_is_running (app->loop))
    read_command (app);
}

static void
read_command (App *app)
{
  g_data_input_stream_read_line_async (app->in, G_PRIORITY_DEFAULT, NULL, line_cb, app);
}

static gboolean
quit_cb (gpointer data)
{
  g_main_loop_quit (((App *) data)->loop);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  g_autofree char *address = NULL;
  g_autofree char *version = NULL;
  gboolean experimental = FALSE, no_adapter = FALSE, record = FALSE;
  int intake = 0;
  GOptionEntry entries[] = {
    { "address", 'a', 0, G_OPTION_ARG_STRING, &address, "Bus address (default: $DBUS_SYSTEM_BUS_ADDRESS)", "ADDR" },
    { "experimental", 'E', 0, G_OPTION_ARG_NONE, &experimental, "Play bluetoothd -E", NULL },
    { "bluez-version", 0, 0, G_OPTION_ARG_STRING, &version, "Play this BlueZ version (default 5.66)", "5.66|5.82|…" },
    { "no-adapter", 0, 0, G_OPTION_ARG_NONE, &no_adapter, "Start without hci0", NULL },
    { "record", 0, 0, G_OPTION_ARG_NONE, &record, "Keep every signal, not just the count", NULL },
    { "intake", 0, 0, G_OPTION_ARG_INT, &intake, "Take in at most N signals a second", "N" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- a stand-in bluetoothd");
  g_autoptr (GError) error = NULL;
  g_autoptr (GMainLoop) loop = NULL;
  g_autoptr (GInputStream) stdin_stream = NULL;
  FakeBluezFlags flags = FAKE_BLUEZ_FLAGS_NONE;
  App app = { 0 };

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("fake-bluez: %s\n", error->message);
      return 2;
    }
  if (address == NULL)
    address = g_strdup (g_getenv ("DBUS_SYSTEM_BUS_ADDRESS"));
  if (address == NULL)
    {
      g_printerr ("fake-bluez: no bus: give --address or set DBUS_SYSTEM_BUS_ADDRESS\n");
      return 2;
    }
  if (experimental)
    flags |= FAKE_BLUEZ_FLAGS_EXPERIMENTAL;
  if (no_adapter)
    flags |= FAKE_BLUEZ_FLAGS_NO_ADAPTER;

  if (version != NULL && fake_bluez_parse_version (version) == 0)
    {
      g_printerr ("fake-bluez: --bluez-version wants MAJOR.MINOR (e.g. 5.82), got \"%s\"\n", version);
      return 2;
    }

  loop = g_main_loop_new (NULL, FALSE);
  app.loop = loop;
  app.fb = fake_bluez_new (address, flags);
  if (version != NULL)
    {
      guint v = fake_bluez_parse_version (version);
      fake_bluez_set_version (app.fb, v / 1000, v % 1000);
    }
  fake_bluez_set_record_signals (app.fb, record);
  if (intake < 0)
    {
      g_printerr ("fake-bluez: --intake wants signals per second, 0 or more, got %d\n", intake);
      fake_bluez_free (app.fb);
      return 2;
    }
  fake_bluez_set_intake (app.fb, (guint) intake);
  if (!fake_bluez_start (app.fb, &error))
    {
      g_printerr ("fake-bluez: %s\n", error->message);
      fake_bluez_free (app.fb);
      return 1;
    }
  stdin_stream = g_unix_input_stream_new (0, FALSE);
  app.in = g_data_input_stream_new (stdin_stream);
  g_unix_signal_add (SIGTERM, quit_cb, &app);
  g_unix_signal_add (SIGINT, quit_cb, &app);
  printf ("ready\n");
  fflush (stdout);
  read_command (&app);
  g_main_loop_run (loop);
  g_clear_object (&app.in);
  fake_bluez_free (app.fb);
  return 0;
}
