/* Who may call the daemon's exported objects: bluetoothd, the owner of
 * org.bluez, and no one else. A second client on the same bus calls every
 * method of the GATT application and of the advertisement; each call is
 * refused with org.bluez.Error.NotAuthorized and changes nothing (values,
 * captured writes, subscriptions, the advertisement), while the same calls
 * from the stand-in bluetoothd keep working, also after it restarted under
 * a new unique name. */
#define G_LOG_DOMAIN "test-bus-callers"

#include <string.h>

#include "harness.h"

#define NOT_AUTHORIZED "org.bluez.Error.NotAuthorized"
#define CHAR_IFACE "org.bluez.GattCharacteristic1"
#define DESC_IFACE "org.bluez.GattDescriptor1"

static const char config[] =
  "[Peripheral]\n"
  "Name=bp-test\n"
  "\n"
  "[Service s]\n"
  "UUID=0xFFF0\n"
  "\n"
  "[Characteristic s/buf]\n"
  "UUID=0xFFF1\n"
  "Flags=read,write,notify\n"
  "Initial=0011\n"
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
  "\n"
  "[Descriptor s/buf/d]\n"
  "UUID=0xFFF9\n"
  "Flags=read,write\n"
  "Value=aa\n";

typedef struct {
  BpHarness *h;
  GDBusConnection *intruder;
  const char *daemon; /* the daemon's unique name, as bluetoothd sees it */
  const char *dev;
} Fixture;

/* With a central connected unless advertising is what the case checks
 * (a connection stops advertising). */
static void
fixture_init (Fixture *f, gboolean central)
{
  g_autoptr (GError) error = NULL;
  FakeApplication *app;

  f->h = bp_harness_new (config, BP_HARNESS_NONE);
  app = fake_bluez_get_active_application (f->h->bluez);
  g_assert_nonnull (app);
  f->daemon = app->sender;
  f->dev = fake_bluez_add_device (f->h->bluez, FAKE_BLUEZ_CENTRAL_ADDRESS, 23);
  if (central)
    fake_bluez_set_connected (f->h->bluez, f->dev, TRUE);
  f->intruder = g_dbus_connection_new_for_address_sync (
    bp_bus_get_address (f->h->bus),
    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
  g_assert_no_error (error);
}

static void
fixture_clear (Fixture *f)
{
  g_clear_object (&f->intruder);
  g_clear_pointer (&f->h, bp_harness_free);
}

static GVariant *
options (const char *dev, guint16 offset)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&b, "{sv}", "device", g_variant_new_object_path (dev));
  if (offset > 0)
    g_variant_builder_add (&b, "{sv}", "offset", g_variant_new_uint16 (offset));
  g_variant_builder_add (&b, "{sv}", "link", g_variant_new_string ("LE"));
  g_variant_builder_add (&b, "{sv}", "mtu", g_variant_new_uint16 (23));
  return g_variant_builder_end (&b);
}

static void
got_result (GObject *source, GAsyncResult *res, gpointer user_data)
{
  *(GAsyncResult **) user_data = g_object_ref (res);
}

/* A call from the intruder, bounded; asserts it is refused NotAuthorized. */
static void
assert_refused (Fixture *f, const char *path, const char *iface, const char *method, GVariant *params)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GAsyncResult) res = NULL;
  g_autofree char *name = NULL;

  g_dbus_connection_call (f->intruder, f->daemon, path, iface, method, params, NULL, G_DBUS_CALL_FLAGS_NONE, BP_WAIT_MS,
                          NULL, got_result, &res);
  g_assert_true (FAKE_WAIT_UNTIL (res != NULL, BP_WAIT_MS + 1000));
  reply = g_dbus_connection_call_finish (f->intruder, res, &error);
  g_assert_null (reply);
  g_assert_nonnull (error);
  name = g_dbus_error_get_remote_error (error);
  if (g_strcmp0 (name, NOT_AUTHORIZED) != 0)
    g_error ("%s.%s on %s: expected %s, got %s (%s)", iface, method, path, NOT_AUTHORIZED, name, error->message);
}

/* The same call with no reply expected (as bluetoothd sends StartNotify,
 * StopNotify, Confirm and write-without-response): nothing to assert but
 * that it changes nothing. */
static void
send_no_reply (Fixture *f, const char *path, const char *iface, const char *method, GVariant *params)
{
  g_autoptr (GDBusMessage) msg = g_dbus_message_new_method_call (f->daemon, path, iface, method);
  g_autoptr (GError) error = NULL;

  g_dbus_message_set_body (msg, params != NULL ? params : g_variant_new ("()"));
  g_dbus_message_set_flags (msg, G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);
  g_assert_true (g_dbus_connection_send_message (f->intruder, msg, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, &error));
  g_assert_no_error (error);
}

static void
assert_status (BpHarness *h, const char *key, const char *value)
{
  g_autofree char *got = bp_control_status (h->ctl, key);

  g_assert_cmpstr (got, ==, value);
}

static void
test_gatt (void)
{
  Fixture f = { 0 };
  g_autoptr (GError) error = NULL;
  g_autoptr (BpControl) server = NULL;
  g_autofree char *desc_path = NULL;
  const char *buf, *cmd, *asked;
  FakeGattDescriptor *desc;
  guint8 junk[] = { 0xde, 0xad };

  fixture_init (&f, TRUE);
  buf = bp_harness_characteristic_path (f.h, "fff1");
  cmd = bp_harness_characteristic_path (f.h, "fff3");
  asked = bp_harness_characteristic_path (f.h, "fff4");
  desc = fake_application_find_descriptor (fake_bluez_get_active_application (f.h->bluez), buf, "fff9");
  g_assert_nonnull (desc);
  desc_path = g_strdup (desc->path);

  /* A producer watches writes and serves reads: any call that got through
   * would show as an event or a read request. */
  g_free (bp_assert_request_ok (f.h->ctl, "watch write"));
  server = bp_harness_connect (f.h);
  g_free (bp_assert_request_ok (server, "serve s/asked"));

  assert_refused (
    &f, buf, CHAR_IFACE, "WriteValue",
    g_variant_new ("(@ay@a{sv})", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, junk, 2, 1), options (f.dev, 0)));
  assert_refused (
    &f, cmd, CHAR_IFACE, "WriteValue",
    g_variant_new ("(@ay@a{sv})", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, junk, 2, 1), options (f.dev, 0)));
  assert_refused (&f, buf, CHAR_IFACE, "ReadValue", g_variant_new ("(@a{sv})", options (f.dev, 0)));
  assert_refused (&f, asked, CHAR_IFACE, "ReadValue", g_variant_new ("(@a{sv})", options (f.dev, 0)));
  assert_refused (&f, buf, CHAR_IFACE, "StartNotify", NULL);
  assert_refused (&f, buf, CHAR_IFACE, "Confirm", NULL);
  assert_refused (
    &f, desc_path, DESC_IFACE, "WriteValue",
    g_variant_new ("(@ay@a{sv})", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, junk, 2, 1), options (f.dev, 0)));
  assert_refused (&f, desc_path, DESC_IFACE, "ReadValue", g_variant_new ("(@a{sv})", options (f.dev, 0)));
  assert_refused (&f, fake_bluez_get_active_application (f.h->bluez)->path, "org.freedesktop.DBus.ObjectManager",
                  "GetManagedObjects", NULL);
  /* As bluetoothd sends them: no reply expected. */
  send_no_reply (&f, buf, CHAR_IFACE, "StartNotify", NULL);
  send_no_reply (
    &f, cmd, CHAR_IFACE, "WriteValue",
    g_variant_new ("(@ay@a{sv})", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, junk, 2, 1), options (f.dev, 0)));
  /* A round trip after them: the daemon has handled both. */
  assert_refused (&f, buf, CHAR_IFACE, "StopNotify", NULL);

  /* Nothing changed. */
  assert_status (f.h, "s/buf.writes", "0");
  assert_status (f.h, "s/cmd.writes", "0");
  assert_status (f.h, "s/cmd.captured", "0");
  assert_status (f.h, "s/cmd.queued", "0");
  assert_status (f.h, "s/asked.reads", "0");
  assert_status (f.h, "s/buf.subscribed", "no");
  assert_status (f.h, "s/buf.confirm", "0");
  {
    g_autofree char *v = bp_assert_request_ok (f.h->ctl, "get s/buf");
    g_assert_cmpstr (v, ==, "ok 0011");
  }
  g_assert_cmpuint (bp_control_count_events (f.h->ctl), ==, 0);
  g_assert_cmpuint (bp_control_count_events (server), ==, 0);
  {
    g_autoptr (GBytes) v = fake_bluez_read_value (f.h->bluez, desc_path, f.dev, 0, &error);
    g_assert_no_error (error);
    g_assert_cmpmem (g_bytes_get_data (v, NULL), g_bytes_get_size (v), "\xaa", 1);
  }
  g_assert_true (bp_daemon_wait_log (f.h->daemon, 0, "only bluetoothd (org.bluez", BP_WAIT_MS));

  /* bluetoothd itself is honoured. */
  g_assert_true (fake_bluez_write_value (f.h->bluez, cmd, f.dev, 0, "\x01", 1, &error));
  g_assert_no_error (error);
  {
    g_autofree char *event = bp_control_wait_event (f.h->ctl, "event write s/cmd", BP_WAIT_MS);
    g_assert_nonnull (event);
  }
  fixture_clear (&f);
}

static void
test_advertisement (void)
{
  Fixture f = { 0 };
  FakeAdvertisement *adv;
  guint n_released;

  fixture_init (&f, FALSE);
  adv = bp_harness_wait_advertisement (f.h, 0, BP_WAIT_MS);
  g_assert_nonnull (adv);
  n_released = fake_bluez_count_advertisements (f.h->bluez, FAKE_REGISTRATION_RELEASED);
  assert_refused (&f, adv->path, "org.bluez.LEAdvertisement1", "Release", NULL);
  /* Still advertising: the daemon did not take the advertisement for gone. */
  g_assert_true (fake_bluez_get_active_advertisement (f.h->bluez) == adv);
  g_assert_cmpuint (fake_bluez_count_advertisements (f.h->bluez, FAKE_REGISTRATION_RELEASED), ==, n_released);
  assert_status (f.h, "advertising", "on");
  fixture_clear (&f);
}

/* bluetoothd restarted: the new owner of org.bluez is honoured, under its
 * new unique name, and the intruder still is not. */
static void
test_new_owner (void)
{
  Fixture f = { 0 };
  g_autoptr (GError) error = NULL;
  FakeApplication *app;
  const char *cmd;
  guint serial;

  fixture_init (&f, TRUE);
  serial = fake_bluez_get_active_application (f.h->bluez)->serial;
  fake_bluez_stop (f.h->bluez);
  g_assert_true (fake_bluez_start (f.h->bluez, &error));
  g_assert_no_error (error);
  app = bp_harness_wait_application (f.h, serial, BP_WAIT_MS * 2);
  g_assert_nonnull (app);
  f.dev = fake_bluez_add_device (f.h->bluez, FAKE_BLUEZ_CENTRAL_ADDRESS, 23);
  fake_bluez_set_connected (f.h->bluez, f.dev, TRUE);
  cmd = bp_harness_characteristic_path (f.h, "fff3");
  g_assert_true (fake_bluez_write_value (f.h->bluez, cmd, f.dev, 0, "\x02", 1, &error));
  g_assert_no_error (error);
  assert_status (f.h, "s/cmd.writes", "1");
  assert_refused (
    &f, cmd, CHAR_IFACE, "WriteValue",
    g_variant_new ("(@ay@a{sv})", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, "\x03", 1, 1), options (f.dev, 0)));
  assert_status (f.h, "s/cmd.writes", "1");
  fixture_clear (&f);
}

int
main (int argc, char **argv)
{
  bp_test_init (&argc, &argv);
  bp_test_add ("/bus-callers/gatt", test_gatt);
  bp_test_add ("/bus-callers/advertisement", test_advertisement);
  bp_test_add ("/bus-callers/new-owner", test_new_owner);
  return g_test_run ();
}
