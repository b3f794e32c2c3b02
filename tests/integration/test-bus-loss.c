/* The system bus going away (dbus-daemon stopped or restarted): the daemon
 * exits non-zero with a message saying so, so that systemd restarts it, and
 * the next start has everything it had acknowledged: values producers set,
 * values centrals wrote, captured writes no producer had taken (in order). */
#define G_LOG_DOMAIN "test-bus-loss"

#include <string.h>

#include "harness.h"

static const char config[] =
  "[Peripheral]\n"
  "Name=bp-test\n"
  "\n"
  "[Service s]\n"
  "UUID=0xFFF0\n"
  "\n"
  "[Characteristic s/set]\n"
  "UUID=0xFFF1\n"
  "Flags=read,notify\n"
  "Initial=00\n"
  "\n"
  "[Characteristic s/buf]\n"
  "UUID=0xFFF2\n"
  "Flags=read,write\n"
  "Initial=00\n"
  "\n"
  "[Characteristic s/cmd]\n"
  "UUID=0xFFF3\n"
  "Flags=write\n"
  "Capture=true\n"
  "QueueLength=8\n";

static void
write_ok (BpHarness *h, const char *uuid, const char *dev, const void *data, gsize len)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (
    fake_bluez_write_value (h->bluez, bp_harness_characteristic_path (h, uuid), dev, 0, data, len, &error));
  g_assert_no_error (error);
}

/* The daemon again, on a new bus and a new bluetoothd, as systemd would
 * start it after dbus-daemon came back. */
static void
restart_everything (BpHarness *h)
{
  g_autoptr (GError) error = NULL;
  g_autofree char *notify_path = g_build_filename (h->dir, "notify2", NULL);
  const char *args[] = { "--config", h->config_path, "--socket", h->socket_path, "--verbose", NULL };

  g_clear_pointer (&h->ctl, bp_control_free);
  g_clear_pointer (&h->daemon, bp_daemon_free);
  g_clear_pointer (&h->bluez, fake_bluez_free);
  h->bus = bp_bus_start (h->dir, &error);
  g_assert_no_error (error);
  h->bluez = fake_bluez_new (bp_bus_get_address (h->bus), FAKE_BLUEZ_FLAGS_NONE);
  g_assert_true (fake_bluez_start (h->bluez, &error));
  g_assert_no_error (error);
  h->daemon = bp_daemon_spawn_notify (bp_bus_get_address (h->bus), args, notify_path, &error);
  g_assert_no_error (error);
  h->stopped = FALSE;
  g_assert_true (bp_daemon_wait_ready (h->daemon, h->socket_path, 10000 * bp_wait_scale ()));
  h->ctl = bp_harness_connect (h);
  g_assert_nonnull (bp_harness_wait_application (h, 0, BP_WAIT_MS));
}

static void
test_bus_restart (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  g_autofree char *handoff = g_strconcat (h->socket_path, ".handoff", NULL);
  const char *dev = fake_bluez_add_device (h->bluez, FAKE_BLUEZ_CENTRAL_ADDRESS, 23);
  int status, signum = 0;

  fake_bluez_set_connected (h->bluez, dev, TRUE);
  g_free (bp_assert_request_ok (h->ctl, "set s/set 0a0b0c"));
  write_ok (h, "fff2", dev, "\x11\x22", 2);
  write_ok (h, "fff3", dev, "\x01", 1);
  write_ok (h, "fff3", dev, "\x02\x02", 2);
  write_ok (h, "fff3", dev, "", 0);
  g_assert_true (bp_control_wait_status (h->ctl, "s/cmd.queued", "3", BP_WAIT_MS));

  /* dbus-daemon goes. */
  g_clear_pointer (&h->bus, bp_bus_free);
  g_assert_true (bp_daemon_wait_exit (h->daemon, 10000 * bp_wait_scale ()));
  h->stopped = TRUE;
  status = bp_daemon_get_exit_status (h->daemon, &signum);
  g_assert_cmpint (status, ==, 1);
  g_assert_nonnull (strstr (bp_daemon_get_log (h->daemon), "lost the system bus"));
  g_assert_nonnull (strstr (bp_daemon_get_log (h->daemon), "saved 3 values and 3 captured writes"));
  g_assert_true (g_file_test (handoff, G_FILE_TEST_EXISTS));

  restart_everything (h);
  g_assert_true (bp_daemon_wait_log (h->daemon, 0, "restored 3 values and 3 captured writes", BP_WAIT_MS));
  g_assert_false (g_file_test (handoff, G_FILE_TEST_EXISTS));
  {
    g_autofree char *v = bp_assert_request_ok (h->ctl, "get s/set");
    g_assert_cmpstr (v, ==, "ok 0a0b0c");
  }
  {
    g_autofree char *v = bp_assert_request_ok (h->ctl, "get s/buf");
    g_assert_cmpstr (v, ==, "ok 1122");
  }
  g_assert_true (bp_control_wait_status (h->ctl, "s/cmd.queued", "3", BP_WAIT_MS));
  /* The captured writes come first to a watcher, oldest first, then a new one. */
  g_free (bp_assert_request_ok (h->ctl, "watch write"));
  {
    const char *expected[] = { "01", "0202", "", NULL };

    for (guint i = 0; expected[i] != NULL; i++)
      {
        g_autofree char *event = bp_control_wait_event (h->ctl, "event write s/cmd", BP_WAIT_MS);
        g_assert_nonnull (event);
        if (*expected[i] != '\0')
          g_assert_nonnull (strstr (event, expected[i]));
        g_test_message ("%s", event);
      }
  }
  /* A start without a handoff file restores nothing. */
  bp_harness_stop_daemon (h);
  g_assert_null (strstr (bp_daemon_get_log (h->daemon), "lost the system bus"));
  g_assert_false (g_file_test (handoff, G_FILE_TEST_EXISTS));
}

int
main (int argc, char **argv)
{
  bp_test_init (&argc, &argv);
  bp_test_add ("/bus-loss/restart", test_bus_restart);
  return g_test_run ();
}
