/* SIGHUP: a good new configuration replaces the database bluetoothd
 * serves (values of characteristics that stay are kept); a bad one is
 * reported and the running one stays. */
#define G_LOG_DOMAIN "test-reload"

#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "harness.h"

static const char config_old[] =
  "[Peripheral]\n"
  "Name=bp-test\n"
  "\n"
  "[Service s]\n"
  "UUID=0xFFF0\n"
  "\n"
  "[Characteristic s/kept]\n"
  "UUID=0xFFF1\n"
  "Flags=read,write\n"
  "Initial=00\n"
  "\n"
  "[Characteristic s/gone]\n"
  "UUID=0xFFF2\n"
  "Flags=read\n";

static const char config_new[] =
  "[Peripheral]\n"
  "Name=bp-test-2\n"
  "\n"
  "[Service s]\n"
  "UUID=0xFFF0\n"
  "\n"
  "[Characteristic s/kept]\n"
  "UUID=0xFFF1\n"
  "Flags=read,write\n"
  "Initial=00\n"
  "\n"
  "[Characteristic s/added]\n"
  "UUID=0xFFF3\n"
  "Flags=read,notify\n"
  "Initial=abcd\n"
  "\n"
  "[Service t]\n"
  "UUID=0xFFE0\n"
  "\n"
  "[Characteristic t/more]\n"
  "UUID=0xFFE1\n"
  "Flags=read\n";

/* MaxLength over the limit: the error names the file, group and key. */
static const char config_bad[] =
  "[Peripheral]\n"
  "Name=bp-test-bad\n"
  "\n"
  "[Service s]\n"
  "UUID=0xFFF0\n"
  "\n"
  "[Characteristic s/kept]\n"
  "UUID=0xFFF1\n"
  "Flags=read,write\n"
  "MaxLength=600\n";

static GBytes *
read_value (BpHarness *h, const char *uuid)
{
  g_autoptr (GError) error = NULL;
  GBytes *value = fake_bluez_read_value (h->bluez, bp_harness_characteristic_path (h, uuid), NULL, 0, &error);

  g_assert_no_error (error);
  return value;
}

static void
test_good_reload (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config_old, BP_HARNESS_NONE);
  FakeApplication *old = fake_bluez_get_active_application (h->bluez);
  FakeAdvertisement *adv = bp_harness_wait_advertisement (h, 0, BP_WAIT_MS);
  FakeApplication *app;
  g_autoptr (GBytes) kept = NULL;
  g_autoptr (GBytes) added = NULL;
  g_autofree char *reply = NULL;
  guint old_serial = old->serial;

  g_assert_nonnull (adv);
  g_assert_nonnull (fake_application_find_characteristic (old, "fff2"));
  g_free (bp_assert_request_ok (h->ctl, "set s/kept 4242"));

  bp_harness_write_config (h, config_new);
  bp_daemon_send_signal (h->daemon, SIGHUP);
  app = bp_harness_wait_application (h, old_serial, BP_WAIT_MS);
  g_assert_nonnull (app);
  /* The service manager heard the reload. */
  g_assert_nonnull (strstr (bp_daemon_get_notifications (h->daemon), "READY=1"));
  g_assert_true (FAKE_WAIT_UNTIL (strstr (bp_daemon_get_notifications (h->daemon), "RELOADING=1") != NULL, BP_WAIT_MS));
  /* One application at a time: the old one was unregistered. */
  g_assert_cmpint (old->state, ==, FAKE_REGISTRATION_UNREGISTERED);
  g_assert_cmpuint (fake_bluez_count_applications (h->bluez, FAKE_REGISTRATION_ACTIVE), ==, 1);
  bp_harness_assert_no_refusals (h);

  /* The new database. */
  g_assert_cmpuint (app->services->len, ==, 2);
  g_assert_nonnull (fake_application_find_service (app, "ffe0"));
  g_assert_nonnull (fake_application_find_characteristic (app, "fff3"));
  g_assert_nonnull (fake_application_find_characteristic (app, "ffe1"));
  g_assert_null (fake_application_find_characteristic (app, "fff2"));
  g_assert_true (fake_characteristic_has_flag (fake_application_find_characteristic (app, "fff3"), "notify"));

  /* A characteristic that stays keeps its value; a new one has its Initial. */
  kept = read_value (h, "fff1");
  g_assert_cmpmem (g_bytes_get_data (kept, NULL), g_bytes_get_size (kept), "\x42\x42", 2);
  added = read_value (h, "fff3");
  g_assert_cmpmem (g_bytes_get_data (added, NULL), g_bytes_get_size (added), "\xab\xcd", 2);

  /* The socket knows the new names. */
  reply = bp_assert_request_ok (h->ctl, "get t/more");
  g_clear_pointer (&reply, g_free);
  reply = bp_control_request (h->ctl, "get s/gone");
  g_assert_nonnull (reply);
  g_assert_true (g_str_has_prefix (reply, "error unknown-characteristic"));

  /* The advertisement follows the new Name. */
  {
    FakeAdvertisement *now;
    g_assert_true (FAKE_WAIT_UNTIL (({
                                      g_autoptr (GVariant) name = NULL;
                                      now = fake_bluez_get_active_advertisement (h->bluez);
                                      name = now ? fake_advertisement_get (now, "LocalName") : NULL;
                                      name != NULL &&g_strcmp0 (g_variant_get_string (name, NULL), "bp-test-2") == 0;
                                    }),
                                    BP_WAIT_MS));
  }
}

static void
test_bad_reload (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config_old, BP_HARNESS_NONE);
  FakeApplication *app = fake_bluez_get_active_application (h->bluez);
  FakeAdvertisement *adv = bp_harness_wait_advertisement (h, 0, BP_WAIT_MS);
  gsize log_from = bp_daemon_get_log_length (h->daemon);
  guint n_apps = fake_bluez_get_applications (h->bluez)->len;
  guint n_advs = fake_bluez_get_advertisements (h->bluez)->len;
  g_autoptr (GBytes) value = NULL;
  g_autofree char *reply = NULL;

  g_assert_nonnull (adv);
  g_free (bp_assert_request_ok (h->ctl, "set s/kept 77"));
  bp_harness_write_config (h, config_bad);
  bp_daemon_send_signal (h->daemon, SIGHUP);

  /* The log says why, naming the file, the group and the key. */
  {
    g_autofree char *line = bp_daemon_wait_log_line (h->daemon, log_from, "MaxLength", BP_WAIT_MS);
    g_assert_nonnull (line);
    g_assert_nonnull (strstr (line, "ble-peripheral.conf"));
    g_assert_nonnull (strstr (line, "s/kept"));
    g_assert_nonnull (strstr (line, "600"));
  }

  /* The running database stays registered, untouched. */
  g_free (bp_assert_request_ok (h->ctl, "status"));
  g_assert_true (fake_bluez_sync (h->bluez));
  g_assert_cmpint (app->state, ==, FAKE_REGISTRATION_ACTIVE);
  g_assert_cmpint (adv->state, ==, FAKE_REGISTRATION_ACTIVE);
  g_assert_cmpuint (fake_bluez_get_applications (h->bluez)->len, ==, n_apps);
  g_assert_cmpuint (fake_bluez_get_advertisements (h->bluez)->len, ==, n_advs);
  value = read_value (h, "fff1");
  g_assert_cmpmem (g_bytes_get_data (value, NULL), g_bytes_get_size (value), "\x77", 1);
  reply = bp_assert_request_ok (h->ctl, "get s/gone");
  g_assert_true (bp_daemon_has_exited (h->daemon) == FALSE);

  /* A later good file is taken. */
  bp_harness_write_config (h, config_new);
  bp_daemon_send_signal (h->daemon, SIGHUP);
  g_assert_nonnull (bp_harness_wait_application (h, app->serial, BP_WAIT_MS));
}

/* A configuration file that disappeared: reported, the running one stays. */
static void
test_missing_file_reload (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config_old, BP_HARNESS_NONE);
  FakeApplication *app = fake_bluez_get_active_application (h->bluez);
  gsize log_from = bp_daemon_get_log_length (h->daemon);

  g_assert_cmpint (g_remove (h->config_path), ==, 0);
  bp_daemon_send_signal (h->daemon, SIGHUP);
  {
    g_autofree char *line = bp_daemon_wait_log_line (h->daemon, log_from, "warning", BP_WAIT_MS);
    g_assert_nonnull (line);
    g_assert_nonnull (strstr (line, "ble-peripheral.conf"));
  }
  g_free (bp_assert_request_ok (h->ctl, "status"));
  g_assert_true (fake_bluez_sync (h->bluez));
  g_assert_cmpint (app->state, ==, FAKE_REGISTRATION_ACTIVE);
  g_assert_true (app == fake_bluez_get_active_application (h->bluez));
}

int
main (int argc, char **argv)
{
  bp_test_init (&argc, &argv);
  bp_test_add ("/reload/good", test_good_reload);
  bp_test_add ("/reload/bad", test_bad_reload);
  bp_test_add ("/reload/missing-file", test_missing_file_reload);
  return g_test_run ();
}
