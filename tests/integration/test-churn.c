/* Churn: 100 producers connecting and leaving (cleanly, mid-request, with a
 * half line, while serving a read, while watching writes), centrals coming
 * and going (connect, subscribe, write, read, disconnect, removed),
 * bluetoothd restarting, the adapter going off and on, reloads — and then a
 * clean stop. The daemon must answer throughout and exit 0.
 *
 * The `valgrind` suite runs this same test with the daemon under memcheck
 * (BP_DAEMON_WRAPPER): a byte definitely lost, or any memory error, makes it
 * exit 99 instead of 0, and the test fail. */
#define G_LOG_DOMAIN "test-churn"

#include <signal.h>
#include <string.h>

#include "harness.h"

#define N_PRODUCERS 100
#define N_CENTRALS 20

static const char config[] =
  "[Peripheral]\n"
  "Name=bp-churn\n"
  "MaxConnections=2\n"
  "\n"
  "[Service s]\n"
  "UUID=0xFFF0\n"
  "\n"
  "[Characteristic s/temp]\n"
  "UUID=0xFFF1\n"
  "Flags=read,notify\n"
  "Initial=00\n"
  "\n"
  "[Characteristic s/cmd]\n"
  "UUID=0xFFF3\n"
  "Flags=write\n"
  "Capture=true\n"
  "QueueLength=4\n"
  "\n"
  "[Characteristic s/asked]\n"
  "UUID=0xFFF4\n"
  "Flags=read\n"
  "ReadHandler=socket\n"
  "ReadTimeout=200ms\n"
  "Initial=aa\n";

static const char config2[] =
  "[Peripheral]\n"
  "Name=bp-churn2\n"
  "MaxConnections=2\n"
  "\n"
  "[Service s]\n"
  "UUID=0xFFF0\n"
  "\n"
  "[Characteristic s/temp]\n"
  "UUID=0xFFF1\n"
  "Flags=read,notify\n"
  "\n"
  "[Characteristic s/cmd]\n"
  "UUID=0xFFF3\n"
  "Flags=write\n"
  "Capture=true\n"
  "QueueLength=4\n"
  "\n"
  "[Characteristic s/asked]\n"
  "UUID=0xFFF4\n"
  "Flags=read\n"
  "ReadHandler=socket\n"
  "ReadTimeout=200ms\n"
  "\n"
  "[Characteristic s/extra]\n"
  "UUID=0xFFF5\n"
  "Flags=read,write\n";

/* One producer's life, by kind. */
static void
producer (BpHarness *h, guint i)
{
  g_autoptr (BpControl) c = bp_harness_connect (h);

  switch (i % 5)
    {
    case 0: /* a well-behaved one */
      g_free (bp_assert_request_ok (c, "watch all"));
      g_free (bp_assert_request_ok (c, "set s/temp %02x", i & 0xff));
      g_free (bp_assert_request_ok (c, "notify s/temp %02x", i & 0xff));
      break;
    case 1: /* leaves with requests unanswered */
      g_assert_true (bp_control_send (c, "status", NULL));
      g_assert_true (bp_control_send (c, "get s/temp", NULL));
      g_assert_true (bp_control_send (c, "notify s/temp 01", NULL));
      break;
    case 2: /* leaves in the middle of a line */
      g_assert_true (bp_control_send (c, "set s/temp", NULL));
      g_assert_true (bp_control_send (c, "frobnicate the daemon", NULL));
      break;
    case 3: /* watches writes and leaves with captured writes pending */
      g_free (bp_assert_request_ok (c, "watch write"));
      break;
    case 4: /* serves reads, and leaves */
      {
        g_autofree char *r = bp_control_request (c, "serve s/asked");
        g_assert_nonnull (r);
      }
      break;
    }
}

static void
central (BpHarness *h, guint i)
{
  g_autofree char *addr = g_strdup_printf ("00:AA:01:02:00:%02X", i);
  const char *dev = fake_bluez_add_device (h->bluez, addr, 23 + i);
  const char *temp = bp_harness_characteristic_path (h, "fff1");
  const char *cmd = bp_harness_characteristic_path (h, "fff3");
  const char *asked = bp_harness_characteristic_path (h, "fff4");
  g_autoptr (GError) error = NULL;
  guint8 v[3] = { 0xc0, (guint8) i, 0x01 };

  fake_bluez_set_connected (h->bluez, dev, TRUE);
  fake_bluez_subscribe (h->bluez, dev, temp, TRUE);
  g_assert_true (fake_bluez_write_value (h->bluez, cmd, dev, 0, v, sizeof v, &error));
  g_assert_no_error (error);
  {
    g_autoptr (GBytes) r = fake_bluez_read_value (h->bluez, asked, dev, 0, &error);
    g_assert_no_error (error);
    g_assert_nonnull (r);
  }
  {
    g_autoptr (GBytes) r = fake_bluez_read_value (h->bluez, temp, dev, 0, &error);
    g_assert_no_error (error);
  }
  fake_bluez_subscribe (h->bluez, dev, temp, FALSE);
  fake_bluez_set_connected (h->bluez, dev, FALSE);
  fake_bluez_remove_device (h->bluez, dev);
}

/* A central's read waits on a producer serving reads, which leaves before
 * it answers: the central still gets an answer. */
static void
read_while_server_leaves (BpHarness *h)
{
  const char *dev = fake_bluez_add_device (h->bluez, FAKE_BLUEZ_CENTRAL_ADDRESS, 23);
  BpControl *server = bp_harness_connect (h);
  FakeRequest *req;
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) value = NULL;

  fake_bluez_set_connected (h->bluez, dev, TRUE);
  g_free (bp_assert_request_ok (server, "serve s/asked"));
  req = fake_bluez_read_value_begin (h->bluez, bp_harness_characteristic_path (h, "fff4"), dev, 0);
  g_free (bp_control_wait_event (server, "event read", BP_WAIT_MS));
  bp_control_free (server);
  value = fake_request_finish_read (req, &error);
  g_assert_true (value != NULL || error != NULL);
  fake_bluez_set_connected (h->bluez, dev, FALSE);
  fake_bluez_remove_device (h->bluez, dev);
}

static void
restart_bluez (BpHarness *h)
{
  g_autoptr (GError) error = NULL;
  guint serial = fake_bluez_get_active_application (h->bluez)->serial;

  fake_bluez_stop (h->bluez);
  g_assert_true (fake_bluez_start (h->bluez, &error));
  g_assert_no_error (error);
  g_assert_nonnull (bp_harness_wait_application (h, serial, BP_WAIT_MS * 2));
}

static void
test_churn (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  for (guint i = 0; i < N_PRODUCERS; i++)
    {
      producer (h, i);
      if (i % 10 == 9)
        central (h, i / 10);
    }
  g_assert_true (bp_control_wait_status (h->ctl, "clients", "1", BP_WAIT_MS * 2));
  read_while_server_leaves (h);

  for (guint i = N_PRODUCERS / 10; i < N_CENTRALS; i++)
    central (h, i);

  /* bluetoothd restarts, the adapter goes off and on, reloads. */
  restart_bluez (h);
  for (guint i = 0; i < 3; i++)
    {
      gsize from = bp_daemon_get_log_length (h->daemon);

      /* PowerOn=true: the daemon powers it again, and registers again. */
      fake_bluez_set_powered (h->bluez, FALSE);
      g_assert_true (bp_daemon_wait_log (h->daemon, from, "was powered off", BP_WAIT_MS));
      g_assert_true (FAKE_WAIT_UNTIL (fake_bluez_get_powered (h->bluez), BP_WAIT_MS));
      g_assert_true (FAKE_WAIT_UNTIL (fake_bluez_get_active_application (h->bluez) != NULL, BP_WAIT_MS));
      g_assert_true (bp_control_wait_status (h->ctl, "registered", "yes", BP_WAIT_MS));
    }
  for (guint i = 0; i < 4; i++)
    {
      gsize from = bp_daemon_get_log_length (h->daemon);
      guint serial = fake_bluez_get_active_application (h->bluez)->serial;

      bp_harness_write_config (h, i % 2 == 0 ? config2 : config);
      bp_daemon_send_signal (h->daemon, SIGHUP);
      g_assert_true (bp_daemon_wait_log (h->daemon, from, "reloaded:", BP_WAIT_MS));
      g_assert_nonnull (bp_harness_wait_application (h, serial, BP_WAIT_MS));
    }
  /* The daemon still answers, and the stop is clean (exit 0: under
   * valgrind, also nothing definitely lost). */
  for (guint i = 0; i < 5; i++)
    central (h, 100 + i);
  {
    g_autofree char *status = bp_assert_request_ok (h->ctl, "status");
    g_assert_nonnull (strstr (status, " clients=1 "));
  }
  bp_harness_stop_daemon (h);
}

/* SIGHUPs faster than bluetoothd answers UnregisterApplication: each one
 * lands while the previous reload waits for that answer. The application
 * is registered again, with the last configuration. */
static void
test_reload_burst (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  guint serial = fake_bluez_get_active_application (h->bluez)->serial;
  FakeApplication *app;

  for (guint i = 0; i < 20; i++)
    {
      gsize from = bp_daemon_get_log_length (h->daemon);

      bp_harness_write_config (h, i % 2 == 0 ? config2 : config);
      bp_daemon_send_signal (h->daemon, SIGHUP);
      /* Each one handled before the next is sent (signals coalesce). */
      g_assert_true (bp_daemon_wait_log (h->daemon, from, "reloaded:", BP_WAIT_MS));
    }
  /* The last was config (i = 19): no s/extra. */
  g_assert_true (bp_control_wait_status (h->ctl, "registered", "yes", BP_WAIT_MS));
  app = bp_harness_wait_application (h, serial, BP_WAIT_MS);
  g_assert_nonnull (app);
  /* registered=yes and an application may still be an earlier reload's
   * (the last one's registration can be on its way): wait for the last
   * configuration's, which never comes when a reload is lost. */
  g_assert_true (FAKE_WAIT_UNTIL (
    fake_bluez_get_active_application (h->bluez) != NULL &&
      fake_application_find_characteristic (fake_bluez_get_active_application (h->bluez), "fff4") != NULL &&
      fake_application_find_characteristic (fake_bluez_get_active_application (h->bluez), "fff5") == NULL,
    BP_WAIT_MS));
  {
    g_autofree char *reply = bp_control_request (h->ctl, "get s/extra");
    g_assert_true (g_str_has_prefix (reply, "error unknown-characteristic"));
  }
}

/* The bus stops taking the daemon's signals (dbus-daemon stopped) while a
 * producer floods notify: that producer is held back, and every other
 * connection is still answered (status, get). */
static void
test_status_while_bus_stalled (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  g_autoptr (BpControl) producer = bp_harness_connect (h);
  g_autoptr (GString) batch = g_string_new (NULL);
  guint n = 4000, replies = 0;
  const char *dev = fake_bluez_add_device (h->bluez, FAKE_BLUEZ_CENTRAL_ADDRESS, 23);

  /* a central connected: with none, notify sends nothing on the bus */
  fake_bluez_set_connected (h->bluez, dev, TRUE);
  g_assert_true (fake_bluez_sync (h->bluez));
  bp_bus_send_signal (h->bus, SIGSTOP);
  for (guint i = 0; i < n; i++)
    g_string_append_printf (batch, "notify s/temp %04x%s", i & 0xffff, i + 1 < n ? "\n" : "");
  g_assert_true (bp_control_send (producer, batch->str, NULL));
  g_assert_true (bp_daemon_wait_log (h->daemon, 0, "pausing reading notifying producers", BP_WAIT_MS));
  /* Connections that do not notify are read and answered. */
  for (guint i = 0; i < 3; i++)
    {
      g_autoptr (BpControl) other = bp_harness_connect (h);
      g_autofree char *status = bp_control_request (other, "status");
      g_autofree char *value = bp_control_request (h->ctl, "get s/temp");

      g_assert_nonnull (status);
      g_assert_true (g_str_has_prefix (status, "ok "));
      g_assert_nonnull (value);
      g_assert_true (g_str_has_prefix (value, "ok"));
    }
  bp_bus_send_signal (h->bus, SIGCONT);
  while (replies < n)
    {
      g_autofree char *reply = bp_control_read_reply (producer, BP_WAIT_MS * 2);
      g_assert_cmpstr (reply, ==, "ok");
      replies++;
    }
  g_assert_true (bp_daemon_wait_log (h->daemon, 0, "resuming reading notifying producers", BP_WAIT_MS));
}

int
main (int argc, char **argv)
{
  bp_test_init (&argc, &argv);
  bp_test_add ("/churn/producers-centrals-restarts", test_churn);
  bp_test_add ("/churn/reload-burst", test_reload_burst);
  bp_test_add ("/churn/status-while-bus-stalled", test_status_while_bus_stalled);
  return g_test_run ();
}
