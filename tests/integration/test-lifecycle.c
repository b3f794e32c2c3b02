/* The daemon across bluetoothd restarts, an adapter that goes and returns,
 * and its own stop: it registers again, keeps the values it holds, and
 * leaves cleanly. */
#define G_LOG_DOMAIN "test-lifecycle"

#include <signal.h>
#include <string.h>

#include "harness.h"

static const char config[] =
  "[Peripheral]\n"
  "Name=bp-test\n"
  "\n"
  "[Advertising]\n"
  "Services=s\n"
  "\n"
  "[Service s]\n"
  "UUID=0xFFF0\n"
  "\n"
  "[Characteristic s/value]\n"
  "UUID=0xFFF1\n"
  "Flags=read,write,notify\n"
  "Initial=00\n";

static void
assert_reads (BpHarness *h, const void *data, gsize len)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) value = NULL;
  const char *path = bp_harness_characteristic_path (h, "fff1");

  value = fake_bluez_read_value (h->bluez, path, NULL, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpmem (g_bytes_get_data (value, NULL), g_bytes_get_size (value), data, len);
}

/* bluetoothd restarts: within 2 s of its return the application and the
 * advertisement are registered again, and the value set before is served.
 * Killed, bluetoothd releases nothing; exiting cleanly, it removes its
 * adapter first, which sends Release() to the advertisement. */
static void
bluez_restart (gboolean clean)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  g_autoptr (GError) error = NULL;
  FakeAdvertisement *adv = bp_harness_wait_advertisement (h, 0, BP_WAIT_MS);
  guint app_serial, adv_serial;
  gint64 start;

  g_assert_nonnull (adv);
  g_free (bp_assert_request_ok (h->ctl, "set s/value c0ffee"));
  app_serial = fake_bluez_get_active_application (h->bluez)->serial;
  adv_serial = adv->serial;

  for (guint round = 0; round < 2; round++)
    {
      if (clean)
        fake_bluez_shutdown (h->bluez);
      else
        fake_bluez_stop (h->bluez);
      /* The daemon notices and says so. */
      g_assert_true (bp_control_wait_status (h->ctl, "bluez", "absent", BP_WAIT_MS));
      start = g_get_monotonic_time ();
      g_assert_true (fake_bluez_start (h->bluez, &error));
      g_assert_no_error (error);
      g_assert_nonnull (bp_harness_wait_application (h, app_serial, 2000));
      g_assert_nonnull (bp_harness_wait_advertisement (h, adv_serial, 2000));
      g_assert_cmpint (g_get_monotonic_time () - start, <=, 2 * G_USEC_PER_SEC);
      app_serial = fake_bluez_get_active_application (h->bluez)->serial;
      adv_serial = fake_bluez_get_active_advertisement (h->bluez)->serial;
      assert_reads (h, "\xc0\xff\xee", 3);
    }
  /* Only the registrations it needed: one per appearance of bluetoothd. */
  g_assert_cmpuint (fake_bluez_get_applications (h->bluez)->len, ==, 3);
  bp_harness_assert_no_refusals (h);
}

static void
test_bluez_killed (void)
{
  bluez_restart (FALSE);
}

static void
test_bluez_clean_restart (void)
{
  bluez_restart (TRUE);
}

/* The adapter is removed and added back. */
static void
test_adapter_returns (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  FakeAdvertisement *adv = bp_harness_wait_advertisement (h, 0, BP_WAIT_MS);
  g_autofree char *event = NULL;
  guint app_serial, adv_serial;

  g_assert_nonnull (adv);
  g_free (bp_assert_request_ok (h->ctl, "watch"));
  g_free (bp_assert_request_ok (h->ctl, "set s/value 0102"));
  app_serial = fake_bluez_get_active_application (h->bluez)->serial;
  adv_serial = adv->serial;

  fake_bluez_remove_adapter (h->bluez);
  event = bp_control_wait_event (h->ctl, "event adapter", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event adapter " FAKE_BLUEZ_ADAPTER_ADDRESS " down");
  {
    g_autofree char *registered = bp_control_status (h->ctl, "registered");
    g_assert_cmpstr (registered, ==, "no");
  }

  fake_bluez_add_adapter (h->bluez);
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (h->ctl, "event adapter", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event adapter " FAKE_BLUEZ_ADAPTER_ADDRESS " up");
  g_assert_nonnull (bp_harness_wait_application (h, app_serial, 2000));
  g_assert_nonnull (bp_harness_wait_advertisement (h, adv_serial, 2000));
  assert_reads (h, "\x01\x02", 2);
  bp_harness_assert_no_refusals (h);
}

/* The adapter goes and comes back at once (a controller reset): the
 * daemon gets Release(), InterfacesRemoved and InterfacesAdded in one burst
 * and must end with exactly one application and one advertisement
 * registered, and say it advertises. */
static void
test_adapter_flap (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  FakeAdvertisement *adv = bp_harness_wait_advertisement (h, 0, BP_WAIT_MS);
  guint app_serial, adv_serial;

  g_assert_nonnull (adv);
  g_assert_true (bp_control_wait_status (h->ctl, "advertising", "on", BP_WAIT_MS));
  app_serial = fake_bluez_get_active_application (h->bluez)->serial;
  adv_serial = adv->serial;
  fake_bluez_remove_adapter (h->bluez);
  fake_bluez_add_adapter (h->bluez);
  g_assert_nonnull (bp_harness_wait_application (h, app_serial, 2000));
  g_assert_nonnull (bp_harness_wait_advertisement (h, adv_serial, 2000));
  g_assert_true (bp_control_wait_status (h->ctl, "advertising", "on", BP_WAIT_MS));
  /* Everything the daemon sent has arrived. */
  g_assert_true (fake_bluez_sync (h->bluez));
  bp_harness_assert_no_refusals (h);
  g_assert_cmpuint (fake_bluez_count_applications (h->bluez, FAKE_REGISTRATION_ACTIVE), ==, 1);
  g_assert_cmpuint (fake_bluez_count_advertisements (h->bluez, FAKE_REGISTRATION_ACTIVE), ==, 1);
}

/* SIGTERM: the daemon unregisters (or leaves the bus, which bluetoothd
 * treats the same) and exits 0. */
static void
test_sigterm (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  FakeApplication *app = fake_bluez_get_active_application (h->bluez);
  FakeAdvertisement *adv = bp_harness_wait_advertisement (h, 0, BP_WAIT_MS);

  g_assert_nonnull (adv);
  bp_harness_stop_daemon (h);
  g_assert_true (
    FAKE_WAIT_UNTIL (app->state != FAKE_REGISTRATION_ACTIVE && adv->state != FAKE_REGISTRATION_ACTIVE, BP_WAIT_MS));
  g_assert_true (app->state == FAKE_REGISTRATION_UNREGISTERED || app->state == FAKE_REGISTRATION_VANISHED);
  g_assert_true (adv->state == FAKE_REGISTRATION_UNREGISTERED || adv->state == FAKE_REGISTRATION_VANISHED);
  g_test_message ("application %s, advertisement %s", fake_registration_state_name (app->state),
                  fake_registration_state_name (adv->state));
  /* The service manager heard it stop. */
  g_assert_nonnull (strstr (bp_daemon_get_notifications (h->daemon), "READY=1"));
  g_assert_true (FAKE_WAIT_UNTIL (strstr (bp_daemon_get_notifications (h->daemon), "STOPPING=1") != NULL, BP_WAIT_MS));
}

/* SIGTERM while bluetoothd is not there: nothing to unregister, still 0. */
static void
test_sigterm_without_bluez (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NO_BLUEZ);

  bp_harness_stop_daemon (h);
}

/* SIGTERM while bluetoothd does not answer the unregistrations: the daemon
 * does not wait forever, it exits 0 in bounded time. */
static void
test_sigterm_bluez_silent (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  gint64 start;

  g_assert_nonnull (bp_harness_wait_advertisement (h, 0, BP_WAIT_MS));
  fake_bluez_set_unresponsive (h->bluez, TRUE);
  start = g_get_monotonic_time ();
  bp_harness_stop_daemon (h); /* asserts exit 0 within 10 s */
  g_test_message ("stopped in %" G_GINT64_FORMAT " ms", (g_get_monotonic_time () - start) / 1000);
}

int
main (int argc, char **argv)
{
  bp_test_init (&argc, &argv);
  bp_test_add ("/lifecycle/bluez-killed", test_bluez_killed);
  bp_test_add ("/lifecycle/bluez-clean-restart", test_bluez_clean_restart);
  bp_test_add ("/lifecycle/adapter-returns", test_adapter_returns);
  bp_test_add ("/lifecycle/adapter-flap", test_adapter_flap);
  bp_test_add ("/lifecycle/sigterm", test_sigterm);
  bp_test_add ("/lifecycle/sigterm-without-bluez", test_sigterm_without_bluez);
  bp_test_add ("/lifecycle/sigterm-bluez-silent", test_sigterm_bluez_silent);
  return g_test_run ();
}
