/* Centrals: connections and disconnections reach the producers, the daemon
 * disconnects one on request, and MaxConnections stops connectable
 * advertising while the peripheral is full. */
#define G_LOG_DOMAIN "test-centrals"

#include <string.h>

#include "harness.h"

#define CONFIG_BODY            \
  "[Service s]\n"              \
  "UUID=0xFFF0\n"              \
  "\n"                         \
  "[Characteristic s/value]\n" \
  "UUID=0xFFF1\n"              \
  "Flags=read,notify\n"

static const char config[] = "[Peripheral]\nName=bp-test\n\n" CONFIG_BODY;
static const char config_two[] = "[Peripheral]\nName=bp-test\nMaxConnections=2\n\n" CONFIG_BODY;

#define ADDR1 "00:AA:01:01:00:01"
#define ADDR2 "00:AA:01:01:00:02"

static void
test_connect_events (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  g_autofree char *event = NULL;
  g_autofree char *centrals = NULL;
  g_autofree char *connected = NULL;
  const char *dev;

  g_free (bp_assert_request_ok (h->ctl, "watch connect"));
  dev = fake_bluez_add_device (h->bluez, ADDR1, 23);
  fake_bluez_set_connected (h->bluez, dev, TRUE);
  event = bp_control_wait_event (h->ctl, "event connect", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event connect " ADDR1);
  centrals = bp_control_status (h->ctl, "centrals");
  connected = bp_control_status (h->ctl, "connected");
  g_assert_cmpstr (centrals, ==, "1");
  g_assert_cmpstr (connected, ==, ADDR1);

  fake_bluez_set_connected (h->bluez, dev, FALSE);
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (h->ctl, "event disconnect", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event disconnect " ADDR1);
  g_clear_pointer (&centrals, g_free);
  centrals = bp_control_status (h->ctl, "centrals");
  g_assert_cmpstr (centrals, ==, "0");

  /* A device that appears already connected counts too, and one removed
   * while connected is a disconnection. */
  dev = fake_bluez_add_device (h->bluez, ADDR2, 23);
  fake_bluez_set_connected (h->bluez, dev, TRUE);
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (h->ctl, "event connect", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event connect " ADDR2);
  fake_bluez_remove_device (h->bluez, dev);
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (h->ctl, "event disconnect", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event disconnect " ADDR2);
}

/* Centrals already connected when the daemon starts are found at once. */
static void
test_connected_at_start (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NO_BLUEZ);
  g_autoptr (GError) error = NULL;
  g_autofree char *event = NULL;

  /* bluetoothd comes with a central already connected. */
  g_free (bp_assert_request_ok (h->ctl, "watch connect"));
  fake_bluez_start (h->bluez, &error);
  g_assert_no_error (error);
  fake_bluez_set_connected (h->bluez, fake_bluez_add_device (h->bluez, ADDR1, 23), TRUE);
  g_assert_nonnull (bp_harness_wait_application (h, 0, BP_WAIT_MS));
  event = bp_control_wait_event (h->ctl, "event connect", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event connect " ADDR1);
  g_assert_true (bp_control_wait_status (h->ctl, "connected", ADDR1, BP_WAIT_MS));
}

/* The adapter powered off takes its links: the centrals are gone. When
 * the power and a central come back before bluetoothd has sent the
 * Connected change of the power-off, it sends Connected=true alone (its
 * value of the moment): that is a new connection all the same. */
static void
test_power_cycle (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *dev = fake_bluez_add_device (h->bluez, ADDR1, 23);
  g_autofree char *event = NULL;

  g_free (bp_assert_request_ok (h->ctl, "watch connect"));
  fake_bluez_set_connected (h->bluez, dev, TRUE);
  event = bp_control_wait_event (h->ctl, "event connect", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event connect " ADDR1);

  fake_bluez_set_powered (h->bluez, FALSE);
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (h->ctl, "event disconnect", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event disconnect " ADDR1);
  g_assert_true (bp_control_wait_status (h->ctl, "centrals", "0", BP_WAIT_MS));

  fake_bluez_set_powered (h->bluez, TRUE);
  fake_bluez_resend_connected (h->bluez, dev);
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (h->ctl, "event connect", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event connect " ADDR1);
  g_assert_true (bp_control_wait_status (h->ctl, "connected", ADDR1, BP_WAIT_MS));
}

static void
test_disconnect_request (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *dev = fake_bluez_add_device (h->bluez, ADDR1, 23);
  g_autofree char *event = NULL;
  g_autofree char *unknown = NULL;

  g_free (bp_assert_request_ok (h->ctl, "watch connect"));
  fake_bluez_set_connected (h->bluez, dev, TRUE);
  event = bp_control_wait_event (h->ctl, "event connect", BP_WAIT_MS);
  g_assert_nonnull (event);

  g_free (bp_assert_request_ok (h->ctl, "disconnect " ADDR1));
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (h->ctl, "event disconnect", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event disconnect " ADDR1);
  g_assert_cmpuint (fake_bluez_get_n_disconnect_calls (h->bluez, dev), ==, 1);
  g_assert_false (fake_bluez_device_is_connected (h->bluez, dev));

  /* A central that is not connected: a clear error, nothing called. */
  unknown = bp_control_request (h->ctl, "disconnect 00:AA:01:01:00:09");
  g_assert_nonnull (unknown);
  g_assert_true (g_str_has_prefix (unknown, "error not-connected"));
}

/* MaxConnections=1 (the default): advertising stops while a central is
 * connected and resumes when it leaves. */
static void
test_max_connections_one (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  FakeAdvertisement *adv = bp_harness_wait_advertisement (h, 0, BP_WAIT_MS);
  const char *dev = fake_bluez_add_device (h->bluez, ADDR1, 23);

  g_assert_nonnull (adv);
  /* Watch once the daemon has taken bluetoothd's reply: no stale event. */
  g_assert_true (bp_control_wait_status (h->ctl, "advertising", "on", BP_WAIT_MS));
  g_free (bp_assert_request_ok (h->ctl, "watch"));
  for (guint round = 0; round < 2; round++)
    {
      guint serial = adv->serial;
      g_autofree char *stopped = NULL;
      g_autofree char *started = NULL;
      g_autofree char *advertising = NULL;

      fake_bluez_set_connected (h->bluez, dev, TRUE);
      g_assert_true (FAKE_WAIT_UNTIL (adv->state != FAKE_REGISTRATION_ACTIVE, BP_WAIT_MS));
      g_assert_cmpint (adv->state, ==, FAKE_REGISTRATION_UNREGISTERED);
      g_assert_null (fake_bluez_get_active_advertisement (h->bluez));
      stopped = bp_control_wait_event (h->ctl, "event advertising", BP_WAIT_MS);
      g_assert_cmpstr (stopped, ==, "event advertising stopped");
      advertising = bp_control_status (h->ctl, "advertising");
      g_assert_cmpstr (advertising, ==, "off");

      fake_bluez_set_connected (h->bluez, dev, FALSE);
      adv = bp_harness_wait_advertisement (h, serial, BP_WAIT_MS);
      g_assert_nonnull (adv);
      started = bp_control_wait_event (h->ctl, "event advertising", BP_WAIT_MS);
      g_assert_cmpstr (started, ==, "event advertising started");
      g_clear_pointer (&advertising, g_free);
      advertising = bp_control_status (h->ctl, "advertising");
      g_assert_cmpstr (advertising, ==, "on");
    }
}

/* MaxConnections=2: one central leaves advertising on, the second stops it. */
static void
test_max_connections_two (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config_two, BP_HARNESS_NONE);
  FakeAdvertisement *adv = bp_harness_wait_advertisement (h, 0, BP_WAIT_MS);
  const char *dev1 = fake_bluez_add_device (h->bluez, ADDR1, 23);
  const char *dev2 = fake_bluez_add_device (h->bluez, ADDR2, 23);
  g_autofree char *centrals = NULL;

  g_assert_nonnull (adv);
  g_free (bp_assert_request_ok (h->ctl, "watch connect"));
  fake_bluez_set_connected (h->bluez, dev1, TRUE);
  g_free (bp_control_wait_event (h->ctl, "event connect", BP_WAIT_MS));
  g_assert_true (fake_bluez_sync (h->bluez));
  g_assert_cmpint (adv->state, ==, FAKE_REGISTRATION_ACTIVE);
  centrals = bp_control_status (h->ctl, "centrals");
  g_assert_cmpstr (centrals, ==, "1");

  fake_bluez_set_connected (h->bluez, dev2, TRUE);
  g_assert_true (FAKE_WAIT_UNTIL (adv->state != FAKE_REGISTRATION_ACTIVE, BP_WAIT_MS));
  fake_bluez_set_connected (h->bluez, dev2, FALSE);
  g_assert_nonnull (bp_harness_wait_advertisement (h, adv->serial, BP_WAIT_MS));
}

static void
test_advertise_on_off (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  FakeAdvertisement *adv = bp_harness_wait_advertisement (h, 0, BP_WAIT_MS);
  g_autofree char *event = NULL;

  g_assert_nonnull (adv);
  g_assert_true (bp_control_wait_status (h->ctl, "advertising", "on", BP_WAIT_MS));
  g_free (bp_assert_request_ok (h->ctl, "watch"));
  g_free (bp_assert_request_ok (h->ctl, "advertise off"));
  g_assert_true (FAKE_WAIT_UNTIL (adv->state == FAKE_REGISTRATION_UNREGISTERED, BP_WAIT_MS));
  event = bp_control_wait_event (h->ctl, "event advertising", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event advertising stopped");
  /* Off stays off across a central's visit. */
  {
    const char *dev = fake_bluez_add_device (h->bluez, ADDR1, 23);
    fake_bluez_set_connected (h->bluez, dev, TRUE);
    fake_bluez_set_connected (h->bluez, dev, FALSE);
    g_free (bp_control_wait_event (h->ctl, "event disconnect", BP_WAIT_MS));
    g_assert_true (fake_bluez_sync (h->bluez));
    g_assert_null (fake_bluez_get_active_advertisement (h->bluez));
  }
  g_free (bp_assert_request_ok (h->ctl, "advertise on"));
  g_assert_nonnull (bp_harness_wait_advertisement (h, adv->serial, BP_WAIT_MS));
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (h->ctl, "event advertising", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event advertising started");
}

/* [Advertising] Timeout: bluetoothd releases the advertisement; producers
 * hear why. */
static void
test_advertising_timeout (void)
{
  const char *text = "[Peripheral]\nName=bp-test\n[Advertising]\nTimeout=1s\n\n" CONFIG_BODY;
  g_autoptr (BpHarness) h = bp_harness_new (text, BP_HARNESS_NONE);
  FakeAdvertisement *adv = bp_harness_wait_advertisement (h, 0, BP_WAIT_MS);
  g_autoptr (GVariant) timeout = NULL;
  g_autofree char *event = NULL;

  g_assert_nonnull (adv);
  g_assert_true (bp_control_wait_status (h->ctl, "advertising", "on", BP_WAIT_MS));
  g_free (bp_assert_request_ok (h->ctl, "watch"));
  timeout = fake_advertisement_get (adv, "Timeout");
  g_assert_nonnull (timeout);
  g_assert_cmpuint (g_variant_get_uint16 (timeout), ==, 1);
  event = bp_control_wait_event (h->ctl, "event advertising", 4000);
  g_assert_cmpstr (event, ==, "event advertising stopped timeout");
  g_assert_cmpint (adv->state, ==, FAKE_REGISTRATION_RELEASED);
  /* Not registered again behind the user's back. */
  g_assert_true (fake_bluez_sync (h->bluez));
  g_assert_null (fake_bluez_get_active_advertisement (h->bluez));
}

int
main (int argc, char **argv)
{
  bp_test_init (&argc, &argv);
  bp_test_add ("/centrals/connect-events", test_connect_events);
  bp_test_add ("/centrals/connected-at-start", test_connected_at_start);
  bp_test_add ("/centrals/disconnect-request", test_disconnect_request);
  bp_test_add ("/centrals/power-cycle", test_power_cycle);
  bp_test_add ("/centrals/max-connections-one", test_max_connections_one);
  bp_test_add ("/centrals/max-connections-two", test_max_connections_two);
  bp_test_add ("/centrals/advertise-on-off", test_advertise_on_off);
  bp_test_add ("/centrals/advertising-timeout", test_advertising_timeout);
  return g_test_run ();
}
