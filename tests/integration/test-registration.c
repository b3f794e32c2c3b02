/* The daemon registers its GATT application and its advertisement with
 * bluetoothd (the stand-in), with the database and advertising data of its
 * configuration, whenever org.bluez and the adapter are there. */
#define G_LOG_DOMAIN "test-registration"

#include <string.h>

#include "harness.h"

static const char config[] =
  "[Peripheral]\n"
  "Name=bp-test\n"
  "\n"
  "[Advertising]\n"
  "Services=env\n"
  "Appearance=0x0540\n"
  "ManufacturerData=0xffff:0102\n"
  "\n"
  "[Service env]\n"
  "UUID=0x181A\n"
  "\n"
  "[Characteristic env/temperature]\n"
  "UUID=0x2A6E\n"
  "Flags=read,notify\n"
  "Format=sint16\n"
  "Exponent=-2\n"
  "Unit=0x272F\n"
  "Description=Outdoor temperature\n"
  "Initial=21.5\n"
  "\n"
  "[Characteristic env/label]\n"
  "UUID=12345678-1234-5678-1234-56789abcdef0\n"
  "Flags=read,write,indicate\n"
  "Initial=\"hi\"\n"
  "\n"
  "[Descriptor env/label/range]\n"
  "UUID=0x2906\n"
  "Flags=read\n"
  "Value=0a14\n"
  "\n"
  "[Service dev]\n"
  "UUID=0x180A\n"
  "Primary=false\n"
  "\n"
  "[Characteristic dev/model]\n"
  "UUID=0x2A24\n"
  "Flags=read\n"
  "Format=utf8\n"
  "Initial=\"cam-1\"\n";

static int
compare_strings (gconstpointer a, gconstpointer b)
{
  return g_strcmp0 (*(const char *const *) a, *(const char *const *) b);
}

/* The flags, sorted, comma-separated. */
static char *
strv_flags (FakeGattCharacteristic *chr)
{
  g_autoptr (GPtrArray) sorted = g_ptr_array_new ();

  for (guint i = 0; chr->flags[i] != NULL; i++)
    g_ptr_array_add (sorted, chr->flags[i]);
  g_ptr_array_sort (sorted, compare_strings);
  g_ptr_array_add (sorted, NULL);
  return g_strjoinv (",", (char **) sorted->pdata);
}

static void
assert_descriptor_value (FakeApplication *app, const char *chr_path, const char *uuid, const void *value, gsize len)
{
  FakeGattDescriptor *d = fake_application_find_descriptor (app, chr_path, uuid);

  if (d == NULL)
    g_error ("%s has no %s descriptor", chr_path, uuid);
  g_assert_nonnull (d->value);
  g_assert_cmpmem (g_bytes_get_data (d->value, NULL), g_bytes_get_size (d->value), value, len);
  g_assert_true (g_strv_contains ((const char *const *) d->flags, "read"));
}

static void
test_database (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) temp_descs = NULL;
  FakeApplication *app = fake_bluez_get_active_application (h->bluez);
  FakeGattService *env, *dev;
  FakeGattCharacteristic *temp, *label, *model;
  g_autofree char *flags = NULL;
  /* 0x2904: sint16 (0x0e), exponent -2, unit 0x272f LE, namespace 0x01 (SIG), description 0x0000 */
  const guint8 presentation[] = { 0x0e, 0xfe, 0x2f, 0x27, 0x01, 0x00, 0x00 };

  g_assert_nonnull (app);
  g_assert_cmpuint (fake_bluez_count_applications (h->bluez, FAKE_REGISTRATION_ACTIVE), ==, 1);
  bp_harness_assert_no_refusals (h);

  g_assert_cmpuint (app->services->len, ==, 2);
  env = fake_application_find_service (app, "181a");
  dev = fake_application_find_service (app, "180a");
  g_assert_nonnull (env);
  g_assert_nonnull (dev);
  g_assert_true (env->primary);
  g_assert_false (dev->primary);

  g_assert_cmpuint (app->characteristics->len, ==, 3);
  temp = fake_application_find_characteristic (app, "2a6e");
  label = fake_application_find_characteristic (app, "12345678-1234-5678-1234-56789abcdef0");
  model = fake_application_find_characteristic (app, "2a24");
  g_assert_nonnull (temp);
  g_assert_nonnull (label);
  g_assert_nonnull (model);
  g_assert_cmpstr (temp->service_path, ==, env->path);
  g_assert_cmpstr (label->service_path, ==, env->path);
  g_assert_cmpstr (model->service_path, ==, dev->path);
  flags = strv_flags (temp);
  g_assert_cmpstr (flags, ==, "notify,read");
  g_clear_pointer (&flags, g_free);
  flags = strv_flags (label);
  g_assert_cmpstr (flags, ==, "indicate,read,write");
  g_clear_pointer (&flags, g_free);
  flags = strv_flags (model);
  g_assert_cmpstr (flags, ==, "read");

  /* Generated 0x2901 and 0x2904, the custom descriptor, and nothing else
   * (bluetoothd makes the CCCDs). */
  g_assert_true (fake_bluez_read_descriptors (h->bluez, &error));
  g_assert_no_error (error);
  temp_descs = fake_application_get_descriptors (app, temp->path);
  g_assert_cmpuint (temp_descs->len, ==, 2);
  assert_descriptor_value (app, temp->path, "2901", "Outdoor temperature", strlen ("Outdoor temperature"));
  assert_descriptor_value (app, temp->path, "2904", presentation, sizeof presentation);
  assert_descriptor_value (app, label->path, "2906", "\x0a\x14", 2);
  g_assert_null (fake_application_find_descriptor (app, label->path, "2901"));
  g_assert_null (fake_application_find_descriptor (app, label->path, "2904"));
  /* utf8 gets a 0x2904 too (PresentationFormat defaults to true with Format). */
  {
    FakeGattDescriptor *d = fake_application_find_descriptor (app, model->path, "2904");
    g_assert_nonnull (d);
    g_assert_cmpuint (g_bytes_get_size (d->value), ==, 7);
    g_assert_cmpuint (((const guint8 *) g_bytes_get_data (d->value, NULL))[0], ==, 0x19); /* utf8s */
  }
  g_assert_cmpuint (app->descriptors->len, ==, 4);

  /* Initial values, little-endian per Format: 21.5 °C at exponent -2 = 2150. */
  {
    g_autoptr (GBytes) v = fake_bluez_read_value (h->bluez, temp->path, NULL, 0, &error);
    g_assert_no_error (error);
    g_assert_cmpmem (g_bytes_get_data (v, NULL), g_bytes_get_size (v), "\x66\x08", 2);
  }
}

static void
assert_uuid_list (GVariant *list, const char *uuid)
{
  g_autofree const char **uuids = g_variant_get_strv (list, NULL);
  g_autofree char *want = fake_uuid_normalize (uuid);

  g_assert_cmpuint (g_strv_length ((char **) uuids), ==, 1);
  {
    g_autofree char *got = fake_uuid_normalize (uuids[0]);
    g_assert_cmpstr (got, ==, want);
  }
}

static void
test_advertisement (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  FakeAdvertisement *adv = bp_harness_wait_advertisement (h, 0, BP_WAIT_MS);
  g_autoptr (GVariant) name = NULL;
  g_autoptr (GVariant) uuids = NULL;
  g_autoptr (GVariant) appearance = NULL;
  g_autoptr (GVariant) mfr = NULL;
  g_autoptr (GVariant) data = NULL;
  g_autofree char *status = NULL;

  g_assert_nonnull (adv);
  g_assert_false (adv->type_missing);
  g_assert_cmpstr (adv->type, ==, "peripheral");
  name = fake_advertisement_get (adv, "LocalName");
  g_assert_nonnull (name);
  g_assert_cmpstr (g_variant_get_string (name, NULL), ==, "bp-test");
  uuids = fake_advertisement_get (adv, "ServiceUUIDs");
  g_assert_nonnull (uuids);
  assert_uuid_list (uuids, "181a");
  appearance = fake_advertisement_get (adv, "Appearance");
  g_assert_nonnull (appearance);
  g_assert_cmpuint (g_variant_get_uint16 (appearance), ==, 0x0540);
  mfr = fake_advertisement_get (adv, "ManufacturerData");
  g_assert_nonnull (mfr);
  g_assert_cmpuint (g_variant_n_children (mfr), ==, 1);
  {
    GVariantIter iter;
    guint16 company;
    GVariant *value;
    g_variant_iter_init (&iter, mfr);
    g_assert_true (g_variant_iter_next (&iter, "{qv}", &company, &value));
    g_assert_cmpuint (company, ==, 0xffff);
    data = value;
    g_assert_true (g_variant_is_of_type (data, G_VARIANT_TYPE_BYTESTRING));
    g_assert_cmpmem (g_variant_get_data (data), g_variant_get_size (data), "\x01\x02", 2);
  }
  /* No timeout configured: none sent (or 0). */
  {
    g_autoptr (GVariant) timeout = fake_advertisement_get (adv, "Timeout");
    g_assert_true (timeout == NULL || g_variant_get_uint16 (timeout) == 0);
  }

  /* The daemon's status follows bluetoothd's replies, which it may not
   * have read yet. */
  g_assert_true (bp_control_wait_status (h->ctl, "advertising", "on", BP_WAIT_MS));
  status = bp_assert_request_ok (h->ctl, "status");
  g_assert_nonnull (strstr (status, " registered=yes"));
  g_assert_nonnull (strstr (status, " adapter=hci0"));
  g_assert_nonnull (strstr (status, " address=" FAKE_BLUEZ_ADAPTER_ADDRESS));
}

static void
test_broadcast (void)
{
  const char *text =
    "[Peripheral]\nName=beacon\n"
    "[Advertising]\nConnectable=false\nServiceData=0xfeaa:10\n"
    "[Service s]\nUUID=0xFFF0\n"
    "[Characteristic s/c]\nUUID=0xFFF1\nFlags=read\n";
  g_autoptr (BpHarness) h = bp_harness_new (text, BP_HARNESS_NONE);
  FakeAdvertisement *adv = bp_harness_wait_advertisement (h, 0, BP_WAIT_MS);

  /* bluetoothd refuses a broadcast that sets the discoverable flags, so an
   * advertisement that got this far is a valid broadcast. */
  g_assert_nonnull (adv);
  g_assert_false (adv->type_missing);
  g_assert_cmpstr (adv->type, ==, "broadcast");
  bp_harness_assert_no_refusals (h);
}

/* The daemon starts before bluetoothd and registers when org.bluez appears. */
static void
test_bluez_appears (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NO_BLUEZ);
  g_autoptr (GError) error = NULL;
  g_autofree char *status = bp_assert_request_ok (h->ctl, "status");

  g_assert_nonnull (strstr (status, " bluez=absent"));
  g_assert_nonnull (strstr (status, " registered=no"));
  g_assert_true (fake_bluez_start (h->bluez, &error));
  g_assert_no_error (error);
  g_assert_nonnull (bp_harness_wait_application (h, 0, BP_WAIT_MS));
  g_assert_nonnull (bp_harness_wait_advertisement (h, 0, BP_WAIT_MS));
  g_assert_nonnull (fake_application_find_characteristic (fake_bluez_get_active_application (h->bluez), "2a6e"));
}

/* bluetoothd runs but the adapter comes later. */
static void
test_adapter_appears (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NO_ADAPTER);

  /* Nothing to register on: a round trip with the daemon, then nothing. */
  g_free (bp_assert_request_ok (h->ctl, "status"));
  g_assert_cmpuint (fake_bluez_get_applications (h->bluez)->len, ==, 0);
  fake_bluez_add_adapter (h->bluez);
  g_assert_nonnull (bp_harness_wait_application (h, 0, BP_WAIT_MS));
  g_assert_nonnull (bp_harness_wait_advertisement (h, 0, BP_WAIT_MS));
  bp_harness_assert_no_refusals (h);
}

/* PowerOn=true (the default) powers an adapter that is off. */
static void
test_power_on (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_POWERED_OFF | BP_HARNESS_NO_WAIT);

  g_assert_true (FAKE_WAIT_UNTIL (fake_bluez_get_powered (h->bluez), BP_WAIT_MS));
  g_assert_cmpuint (fake_bluez_get_n_adapter_sets (h->bluez, "Powered"), >=, 1);
  g_assert_nonnull (bp_harness_wait_application (h, 0, BP_WAIT_MS));
}

/* Interval= travels as MinInterval/MaxInterval when bluetoothd can take it. */
static void
test_interval_experimental (void)
{
  const char *text =
    "[Peripheral]\nName=bp-test\n"
    "[Advertising]\nInterval=250ms\n"
    "[Service s]\nUUID=0xFFF0\n"
    "[Characteristic s/c]\nUUID=0xFFF1\nFlags=read\n";
  g_autoptr (BpHarness) h = bp_harness_new (text, BP_HARNESS_EXPERIMENTAL);
  FakeAdvertisement *adv = bp_harness_wait_advertisement (h, 0, BP_WAIT_MS);
  g_autoptr (GVariant) min = NULL;
  g_autoptr (GVariant) max = NULL;

  g_assert_nonnull (adv);
  min = fake_advertisement_get (adv, "MinInterval");
  max = fake_advertisement_get (adv, "MaxInterval");
  g_assert_nonnull (min);
  g_assert_nonnull (max);
  g_assert_cmpuint (g_variant_get_uint32 (min), ==, 250);
  g_assert_cmpuint (g_variant_get_uint32 (max), ==, 250);
}

/* The daemon hears only the PropertiesChanged it uses: the adapters' and
 * devices' (arg0). Without arg0 the bus would wake it for every property
 * change of bluetoothd, among them one per notification any central of the
 * machine receives. The bus's own record of the match rules says. */
static void
test_match_rules (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  FakeApplication *app = fake_bluez_get_active_application (h->bluez);
  GDBusConnection *conn = fake_bluez_get_connection (h->bluez);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = NULL, all = NULL;
  g_autofree const char **rules = NULL;
  guint props = 0;

  g_assert_nonnull (app);
  reply = g_dbus_connection_call_sync (conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus.Debug.Stats", "GetAllMatchRules", NULL,
                                       G_VARIANT_TYPE ("(a{sas})"), G_DBUS_CALL_FLAGS_NONE, BP_WAIT_MS, NULL, &error);
  /* Debian's dbus-daemon is built with these statistics. */
  g_assert_no_error (error);
  all = g_variant_get_child_value (reply, 0);
  g_assert_true (g_variant_lookup (all, app->sender, "^a&s", &rules));
  for (guint i = 0; rules[i] != NULL; i++)
    {
      if (strstr (rules[i], "member='PropertiesChanged'") == NULL)
        continue;
      g_test_message ("%s", rules[i]);
      g_assert_true (strstr (rules[i], "arg0='org.bluez.Adapter1'") != NULL ||
                     strstr (rules[i], "arg0='org.bluez.Device1'") != NULL);
      props++;
    }
  g_assert_cmpuint (props, ==, 2);
}

int
main (int argc, char **argv)
{
  bp_test_init (&argc, &argv);
  bp_test_add ("/registration/database", test_database);
  bp_test_add ("/registration/advertisement", test_advertisement);
  bp_test_add ("/registration/broadcast", test_broadcast);
  bp_test_add ("/registration/bluez-appears", test_bluez_appears);
  bp_test_add ("/registration/adapter-appears", test_adapter_appears);
  bp_test_add ("/registration/power-on", test_power_on);
  bp_test_add ("/registration/interval-experimental", test_interval_experimental);
  bp_test_add ("/registration/match-rules", test_match_rules);
  return g_test_run ();
}
