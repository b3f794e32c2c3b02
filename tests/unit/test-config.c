/* Unit tests of src/daemon/config.c: every key, every refusal with its exact
 * message, drop-ins, the advertising size, the description. */
#define G_LOG_DOMAIN "test-config"

#include "build-config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <glib.h>
#include <glib/gstdio.h>

#include "common/error.h"
#include "daemon/config.h"

#define ORIGIN "ble-peripheral.conf"

/* A peripheral with a short name (so that advertising sizes stay small) and
 * one service. */
#define BASE "[Peripheral]\nName=t\n\n[Service env]\nUUID=0x181A\n\n"
#define CHAR_HEAD "[Characteristic env/c]\nUUID=0x2A6E\n"

static BpConfig *
load (const char *text)
{
  g_autoptr (GError) error = NULL;
  BpConfig *config = bp_config_load_from_data (text, -1, ORIGIN, &error);

  if (config == NULL)
    {
      print_error ("%s\n--- gave: %s\n", text, error->message);
      fail ();
    }
  return config;
}

static char *
load_error (const char *text)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BpConfig) config = bp_config_load_from_data (text, -1, ORIGIN, &error);

  if (config != NULL)
    {
      print_error ("%s\n--- loaded, expected an error\n", text);
      fail ();
    }
  assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_CONFIG));
  return g_strdup (error->message);
}

#define assert_error(text, expected)             \
  do                                             \
    {                                            \
      g_autofree char *msg_ = load_error (text); \
      assert_string_equal (msg_, expected);      \
    }                                            \
  while (0)

#define assert_error_contains(text, part)                           \
  do                                                                \
    {                                                               \
      g_autofree char *msg_ = load_error (text);                    \
      if (strstr (msg_, part) == NULL)                              \
        {                                                           \
          print_error ("'%s' does not contain '%s'\n", msg_, part); \
          fail ();                                                  \
        }                                                           \
    }                                                               \
  while (0)

static BpCharacteristicConfig *
chr (const BpConfig *config, const char *id)
{
  g_autoptr (GError) error = NULL;
  BpCharacteristicConfig *c = bp_config_find_characteristic (config, id, &error);

  assert_non_null (c);
  return c;
}

static char *
hex (GBytes *bytes)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  return bp_value_to_hex (data, len);
}

#define assert_bytes(bytes, expected)     \
  do                                      \
    {                                     \
      g_autofree char *h_ = hex (bytes);  \
      assert_string_equal (h_, expected); \
    }                                     \
  while (0)

static guint16
u16 (const BpUuid *uuid)
{
  guint16 v = 0;
  assert_true (bp_uuid_to_u16 (uuid, &v));
  return v;
}

/* ------------------------------------------------------------------------ */
/* Temporary folders */

static void
rm_rf (const char *path)
{
  if (g_file_test (path, G_FILE_TEST_IS_DIR) && !g_file_test (path, G_FILE_TEST_IS_SYMLINK))
    {
      g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
      const char *name;
      while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
        {
          g_autofree char *child = g_build_filename (path, name, NULL);
          rm_rf (child);
        }
      g_rmdir (path);
    }
  else
    g_unlink (path);
}

static int
tmpdir_setup (void **state)
{
  char *dir = g_dir_make_tmp ("bp-test-config-XXXXXX", NULL);
  g_autofree char *confd = NULL;

  assert_non_null (dir);
  confd = g_build_filename (dir, "conf.d", NULL);
  assert_int_equal (g_mkdir (confd, 0700), 0);
  *state = dir;
  return 0;
}

static int
tmpdir_teardown (void **state)
{
  rm_rf (*state);
  g_free (*state);
  return 0;
}

static void
write_file (const char *dir, const char *name, const char *text)
{
  g_autofree char *path = g_build_filename (dir, name, NULL);
  assert_true (g_file_set_contents (path, text, -1, NULL));
}

/* ------------------------------------------------------------------------ */
/* Flags */

static void
test_flag_names (void **state)
{
  static const char *const names[] = {
    "broadcast",
    "read",
    "write-without-response",
    "write",
    "notify",
    "indicate",
    "authenticated-signed-writes",
    "extended-properties",
    "reliable-write",
    "writable-auxiliaries",
    "encrypt-read",
    "encrypt-write",
    "encrypt-notify",
    "encrypt-indicate",
    "encrypt-authenticated-read",
    "encrypt-authenticated-write",
    "encrypt-authenticated-notify",
    "encrypt-authenticated-indicate",
    "secure-read",
    "secure-write",
    "secure-notify",
    "secure-indicate",
    "authorize",
    NULL,
  };
  BpFlags all = 0;
  g_auto (GStrv) back = NULL;
  g_auto (GStrv) some = NULL;

  for (guint i = 0; names[i] != NULL; i++)
    {
      BpFlags f = bp_flag_from_name (names[i]);
      assert_int_not_equal (f, 0);
      assert_int_equal (all & f, 0); /* one bit each */
      all |= f;
    }
  assert_int_equal (bp_flag_from_name ("encrypt-read"), BP_FLAG_ENCRYPT_READ);
  assert_int_equal (bp_flag_from_name ("write-without-response"), BP_FLAG_WRITE_WITHOUT_RESPONSE);
  assert_int_equal (bp_flag_from_name ("reed"), 0);
  assert_int_equal (bp_flag_from_name (""), 0);
  assert_int_equal (bp_flag_from_name (NULL), 0);

  back = bp_flags_to_strv (all);
  assert_int_equal (g_strv_length (back), g_strv_length ((GStrv) names));
  for (guint i = 0; names[i] != NULL; i++)
    assert_string_equal (back[i], names[i]);

  some = bp_flags_to_strv (BP_FLAG_NOTIFY | BP_FLAG_READ);
  assert_int_equal (g_strv_length (some), 2);
  assert_string_equal (some[0], "read");
  assert_string_equal (some[1], "notify");
}

/* ------------------------------------------------------------------------ */
/* The default */

static void
test_default_text (void **state)
{
  g_autoptr (BpConfig) c = load (bp_config_default_text);
  const BpAdvertisingConfig *a = &c->advertising;
  BpServiceConfig *env;
  BpCharacteristicConfig *t, *h;

  assert_string_equal (c->name, "ble-peripheral");
  assert_string_equal (c->source, ORIGIN);
  assert_false (c->is_default);
  assert_null (c->adapter);
  assert_int_equal (c->max_connections, 1);
  assert_true (c->power_on);
  assert_true (a->enabled);
  assert_true (a->has_interval);
  assert_int_equal (a->interval_min_ms, 250);
  assert_int_equal (a->interval_max_ms, 250);
  assert_int_equal (a->service_uuids->len, 1);
  assert_int_equal (u16 (&g_array_index (a->service_uuids, BpUuid, 0)), 0x181A);
  assert_true (a->has_appearance);
  assert_int_equal (a->appearance, 0x0540);
  assert_true (a->connectable);
  assert_true (a->discoverable);
  assert_false (a->limited_discoverable);
  assert_null (a->scan_response);
  assert_null (c->control.socket_path);
  assert_int_equal (c->control.mode, 0660);
  assert_null (c->control.group);

  assert_int_equal (c->services->len, 1);
  env = g_ptr_array_index (c->services, 0);
  assert_string_equal (env->id, "env");
  assert_int_equal (u16 (&env->uuid), 0x181A);
  assert_true (env->primary);
  assert_int_equal (env->characteristics->len, 2);

  t = g_ptr_array_index (env->characteristics, 0);
  assert_string_equal (t->id, "env/temperature");
  assert_string_equal (t->service_id, "env");
  assert_string_equal (t->name, "temperature");
  assert_int_equal (u16 (&t->uuid), 0x2A6E);
  assert_int_equal (t->flags, BP_FLAG_READ | BP_FLAG_NOTIFY);
  assert_int_equal (t->format, BP_FORMAT_SINT16);
  assert_int_equal (t->exponent, -2);
  assert_true (t->has_unit);
  assert_int_equal (t->unit, 0x272F);
  assert_bytes (t->initial, "0000");
  assert_int_equal (t->max_length, 20);
  assert_false (t->append);
  assert_false (t->capture);
  assert_int_equal (t->queue_length, 64);
  assert_null (t->description);
  assert_true (t->presentation_format);
  assert_int_equal (t->read_handler, BP_READ_HANDLER_VALUE);
  assert_int_equal (t->read_timeout_us, 1000000);
  assert_int_equal (t->min_read_interval_us, 0);
  assert_false (t->notify_on_subscribe);
  assert_int_equal (t->descriptors->len, 0);

  h = g_ptr_array_index (env->characteristics, 1);
  assert_string_equal (h->id, "env/humidity");
  assert_int_equal (h->format, BP_FORMAT_UINT16);
  assert_int_equal (h->unit, 0x27AD);
}

static void
test_default_file_matches (void **state)
{
  const char *root = g_getenv ("BP_SOURCE_ROOT");
  g_autofree char *path = NULL;
  g_autofree char *text = NULL;

  if (root == NULL)
    skip ();
  path = g_build_filename (root, "conf", "ble-peripheral.conf", NULL);
  assert_true (g_file_get_contents (path, &text, NULL, NULL));
  assert_string_equal (text, bp_config_default_text);
}

static void
test_examples_load (void **state)
{
  const char *root = g_getenv ("BP_SOURCE_ROOT");
  static const char *const names[] = { "camera.conf", "beacon.conf" };

  if (root == NULL)
    skip ();
  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    {
      g_autofree char *path = g_build_filename (root, "conf", "examples", names[i], NULL);
      g_autoptr (GError) error = NULL;
      g_autoptr (BpConfig) c = bp_config_load (path, FALSE, &error);
      if (c == NULL)
        {
          print_error ("%s: %s\n", names[i], error->message);
          fail ();
        }
      if (g_str_equal (names[i], "camera.conf"))
        {
          BpCharacteristicConfig *cap = chr (c, "cam/capture");
          BpCharacteristicConfig *set = chr (c, "settings");
          assert_true (cap->capture);
          assert_int_equal (cap->queue_length, 16);
          assert_true (set->append);
          assert_int_equal (set->max_length, 512);
          assert_int_equal (chr (c, "battery/level")->descriptors->len, 1);
        }
      else
        {
          BpServiceData *sd;
          assert_false (c->advertising.connectable);
          assert_int_equal (c->advertising.service_uuids->len, 1);
          assert_int_equal (u16 (&g_array_index (c->advertising.service_uuids, BpUuid, 0)), 0xFEAA);
          assert_int_equal (c->advertising.service_data->len, 1);
          sd = g_ptr_array_index (c->advertising.service_data, 0);
          assert_int_equal (u16 (&sd->uuid), 0xFEAA);
          assert_bytes (sd->data, "10eb036578616d706c6507");
        }
    }
}

static void
test_missing_file (void **state)
{
  const char *dir = *state;
  g_autofree char *path = g_build_filename (dir, "nothing.conf", NULL);
  g_autoptr (GError) error = NULL;
  g_autoptr (BpConfig) c = bp_config_load (path, TRUE, &error);
  g_autoptr (BpConfig) none = NULL;

  assert_non_null (c);
  assert_true (c->is_default);
  assert_string_equal (c->source, "built-in default");
  assert_string_equal (c->name, "ble-peripheral");
  assert_int_equal (c->services->len, 1);

  /* with no main file, drop-ins do not apply */
  write_file (dir, "conf.d/10-name.conf", "[Peripheral]\nName=other\n");
  g_clear_pointer (&c, bp_config_free);
  c = bp_config_load (path, TRUE, &error);
  assert_non_null (c);
  assert_string_equal (c->name, "ble-peripheral");

  none = bp_config_load (path, FALSE, &error);
  assert_null (none);
  assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_CONFIG));
  assert_non_null (strstr (error->message, path));
}

/* ------------------------------------------------------------------------ */
/* Keys */

static void
test_peripheral_keys (void **state)
{
  g_autoptr (BpConfig) c = load (
    "[Peripheral]\nName = My Camera \nAdapter=hci1\nMaxConnections=0\n"
    "PowerOn=false\n");
  g_autoptr (BpConfig) d = load ("[Peripheral]\nAdapter=00:1a:7D:DA:71:13\nMaxConnections=0x3\n");
  g_autoptr (BpConfig) q = load ("[Peripheral]\nName=\" padded \"\n");

  assert_string_equal (c->name, "My Camera");
  assert_string_equal (c->adapter, "hci1");
  assert_int_equal (c->max_connections, 0);
  assert_false (c->power_on);
  assert_string_equal (d->adapter, "00:1a:7D:DA:71:13");
  assert_int_equal (d->max_connections, 3);
  assert_string_equal (d->name, g_get_host_name ());
  assert_true (d->power_on);
  assert_string_equal (q->name, " padded ");

  assert_error ("[Peripheral]\nAdapter=hci\n",
                "ble-peripheral.conf: [Peripheral] Adapter: expected hciN or a controller address "
                "such as 00:1A:7D:DA:71:13, got 'hci'");
  assert_error_contains ("[Peripheral]\nAdapter=00:1A:7D:DA:71\n", "[Peripheral] Adapter: expected hciN");
  assert_error ("[Peripheral]\nMaxConnections=256\n",
                "ble-peripheral.conf: [Peripheral] MaxConnections: 256 is over the limit of 255");
  assert_error ("[Peripheral]\nMaxConnections=-1\n",
                "ble-peripheral.conf: [Peripheral] MaxConnections: expected a number (decimal or 0x hex), got '-1'");
  assert_error ("[Peripheral]\nPowerOn=maybe\n",
                "ble-peripheral.conf: [Peripheral] PowerOn: expected true or false, got 'maybe'");
  assert_error ("[Peripheral]\nName=\n",
                "ble-peripheral.conf: [Peripheral] Name: expected a name; leave the key out for the host name");
}

static void
test_control_keys (void **state)
{
  g_autoptr (BpConfig) c = load ("[Control]\nSocket=/tmp/bp.sock\nMode=0600\nGroup=ble-producers\n");
  g_autoptr (BpConfig) d = load ("[Control]\nMode=666\n");

  assert_string_equal (c->control.socket_path, "/tmp/bp.sock");
  assert_int_equal (c->control.mode, 0600);
  assert_string_equal (c->control.group, "ble-producers");
  assert_int_equal (d->control.mode, 0666);

  assert_error ("[Control]\nMode=0999\n",
                "ble-peripheral.conf: [Control] Mode: expected an octal mode such as 0660, got '0999'");
  assert_error_contains ("[Control]\nMode=01777\n", "[Control] Mode: expected an octal mode");
  assert_error_contains ("[Control]\nMode=rw\n", "[Control] Mode: expected an octal mode");
  assert_error ("[Control]\nSocket=control\n",
                "ble-peripheral.conf: [Control] Socket: expected an absolute path such as "
                "/run/ble-peripheral/control, got 'control'");
  assert_error_contains ("[Control]\nGroup=a b\n", "[Control] Group: expected a group name");
}

static void
test_service_keys (void **state)
{
  g_autoptr (BpConfig) c = load (
    "[Service a]\nUUID=environmental_sensing\n"
    "[Service b-2.x]\nUUID=6e400001-b5a3-f393-e0a9-e50e24dcca9e\nPrimary=false\n"
    "[Service c]\nUUID=0x0000180F\n");
  BpServiceConfig *a = g_ptr_array_index (c->services, 0);
  BpServiceConfig *b = g_ptr_array_index (c->services, 1);
  BpServiceConfig *s3 = g_ptr_array_index (c->services, 2);
  char buf[BP_UUID_STRLEN];

  assert_int_equal (c->services->len, 3);
  assert_string_equal (a->id, "a");
  assert_int_equal (u16 (&a->uuid), 0x181A);
  assert_true (a->primary);
  assert_string_equal (b->id, "b-2.x");
  bp_uuid_to_string (&b->uuid, buf);
  assert_string_equal (buf, "6e400001-b5a3-f393-e0a9-e50e24dcca9e");
  assert_false (b->primary);
  assert_int_equal (u16 (&s3->uuid), 0x180F);

  assert_error ("[Service a]\nPrimary=true\n", "ble-peripheral.conf: [Service a] UUID is required, e.g. UUID=0x181A");
  assert_error ("[Service a]\nUUID=0x18\n",
                "ble-peripheral.conf: [Service a] UUID: '0x18' is not a UUID: expected 16-bit (0x180A or "
                "180A), 32-bit (0x0000180A), 128-bit (0000180a-0000-1000-8000-00805f9b34fb) or a SIG "
                "name such as environmental_sensing");
  assert_error ("[Service a b]\nUUID=0x180A\n",
                "ble-peripheral.conf: [Service a b] the service ID 'a b' may only hold letters, digits, "
                "'_', '-' and '.'");
}

static void
test_characteristic_keys (void **state)
{
  g_autoptr (BpConfig) c = load (BASE
                                 "[Characteristic env/t]\n"
                                 "UUID=temperature\n"
                                 "Flags=read, notify,indicate , encrypt-read\n"
                                 "Initial=24.58\n"
                                 "MaxLength=0x40\n"
                                 "Capture=false\n"
                                 "QueueLength=8\n"
                                 "Format=sint16\n"
                                 "Exponent=-2\n"
                                 "Unit=0x272F\n"
                                 "Description=Temperature, \\xb0C\n"
                                 "PresentationFormat=true\n"
                                 "ReadHandler=socket\n"
                                 "ReadTimeout=1500ms\n"
                                 "MinReadInterval=2s\n"
                                 "NotifyOnSubscribe=true\n"
                                 "[Characteristic env/w]\n"
                                 "UUID=0x2A6F\n"
                                 "Flags=write\n"
                                 "Append=true\n"
                                 "Capture=true\n"
                                 "MaxLength=512\n"
                                 "Initial=\"ab\"\n"
                                 "Description=\"  spaced  \"\n");
  BpCharacteristicConfig *t = chr (c, "env/t");
  BpCharacteristicConfig *w = chr (c, "w");

  assert_int_equal (u16 (&t->uuid), 0x2A6E);
  assert_int_equal (t->flags, BP_FLAG_READ | BP_FLAG_NOTIFY | BP_FLAG_INDICATE | BP_FLAG_ENCRYPT_READ);
  assert_bytes (t->initial, "9a09");
  assert_int_equal (t->max_length, 64);
  assert_false (t->capture);
  assert_int_equal (t->queue_length, 8);
  assert_int_equal (t->format, BP_FORMAT_SINT16);
  assert_int_equal (t->exponent, -2);
  assert_true (t->has_unit);
  assert_int_equal (t->unit, 0x272F);
  /* a plain Description is taken as written */
  assert_string_equal (t->description, "Temperature, \\xb0C");
  assert_true (t->presentation_format);
  assert_int_equal (t->read_handler, BP_READ_HANDLER_SOCKET);
  assert_int_equal (t->read_timeout_us, 1500000);
  assert_int_equal (t->min_read_interval_us, 2000000);
  assert_true (t->notify_on_subscribe);

  assert_int_equal (w->flags, BP_FLAG_WRITE);
  assert_true (w->append);
  assert_true (w->capture);
  assert_int_equal (w->max_length, 512);
  assert_bytes (w->initial, "6162");
  assert_int_equal (w->format, BP_FORMAT_NONE);
  assert_false (w->presentation_format);
  assert_false (w->has_unit);
  assert_string_equal (w->description, "  spaced  ");
}

static void
test_characteristic_formats (void **state)
{
  g_autoptr (BpConfig) c = load (
    BASE
    "[Characteristic env/a]\nUUID=0x2A00\nFlags=read\nFormat=utf8\nInitial=hello world\n"
    "[Characteristic env/b]\nUUID=0x2A01\nFlags=read\nFormat=boolean\nInitial=true\n"
    "[Characteristic env/c]\nUUID=0x2A02\nFlags=read\nFormat=float32\nInitial=1.5\n"
    "[Characteristic env/d]\nUUID=0x2A03\nFlags=read\nInitial=9a:09:\n"
    "[Characteristic env/e]\nUUID=0x2A04\nFlags=read\nFormat=uint16\nInitial=0x0102\n"
    "[Characteristic env/f]\nUUID=0x2A05\nFlags=read\nFormat=uint8\nPresentationFormat=false\n");

  assert_bytes (chr (c, "a")->initial, "68656c6c6f20776f726c64");
  assert_bytes (chr (c, "b")->initial, "01");
  assert_bytes (chr (c, "c")->initial, "0000c03f");
  assert_bytes (chr (c, "d")->initial, "9a09");
  assert_bytes (chr (c, "e")->initial, "0201");
  assert_bytes (chr (c, "f")->initial, "");
  assert_false (chr (c, "f")->presentation_format);
}

static void
test_descriptor_keys (void **state)
{
  g_autoptr (BpConfig) c = load (BASE
                                 /* declared before its characteristic: any order works */
                                 "[Descriptor env/c/range]\nUUID=valid_range\nValue=0000ff7f\n"
                                 "[Descriptor env/c/note]\nUUID=6e400009-b5a3-f393-e0a9-e50e24dcca9e\n"
                                 "Flags=read,write,encrypt-write\nValue=\"hi\\n\"\n" CHAR_HEAD
                                 "Flags=read\n"
                                 "[Descriptor env/c/empty]\nUUID=0x2905\n");
  BpCharacteristicConfig *ch = chr (c, "env/c");
  BpDescriptorConfig *range, *note, *empty;

  assert_int_equal (ch->descriptors->len, 3);
  range = g_ptr_array_index (ch->descriptors, 0);
  note = g_ptr_array_index (ch->descriptors, 1);
  empty = g_ptr_array_index (ch->descriptors, 2);
  assert_string_equal (range->id, "env/c/range");
  assert_int_equal (u16 (&range->uuid), 0x2906);
  assert_int_equal (range->flags, BP_FLAG_READ);
  assert_bytes (range->value, "0000ff7f");
  assert_int_equal (note->flags, BP_FLAG_READ | BP_FLAG_WRITE | BP_FLAG_ENCRYPT_WRITE);
  assert_bytes (note->value, "68690a");
  assert_non_null (empty->value);
  assert_bytes (empty->value, "");

  assert_error (BASE CHAR_HEAD "Flags=read\n[Descriptor env/c/d]\nUUID=0x2906\nFlags=notify\n",
                "ble-peripheral.conf: [Descriptor env/c/d] Flags: 'notify' is not a descriptor flag: expected "
                "read, write, encrypt-read, encrypt-write, encrypt-authenticated-read, "
                "encrypt-authenticated-write, secure-read, secure-write, authorize");
  assert_error (BASE CHAR_HEAD "Flags=read\n[Descriptor env/c/d]\nFlags=read\n",
                "ble-peripheral.conf: [Descriptor env/c/d] UUID is required, e.g. UUID=0x2906");
  assert_error_contains (BASE CHAR_HEAD "Flags=read\n[Descriptor env/c/d]\nUUID=0x2906\nValue=xyz\n",
                         "[Descriptor env/c/d] Value: expected hex bytes");
  assert_error (BASE "[Descriptor env/x/d]\nUUID=0x2906\n",
                "ble-peripheral.conf: [Descriptor env/x/d] the characteristic 'env/x' is not declared: "
                "add a [Characteristic env/x] group");
}

static void
test_advertising_keys (void **state)
{
  g_autoptr (BpConfig) c = load (
    "[Peripheral]\nName=t\n"
    "[Service env]\nUUID=0x181A\n"
    "[Advertising]\n"
    "Enabled=false\n"
    "IntervalMin=100ms\n"
    "IntervalMax=0.2s\n"
    "Services=env, 0x180F,env\n"
    "SolicitServices=heart_rate\n"
    "Appearance=833\n"
    "ManufacturerData=0xFFFF:0102\n"
    "Connectable=false\n"
    "Discoverable=true\n"
    "LimitedDiscoverable=true\n"
    "Timeout=2min\n"
    "TxPower=-8\n"
    "IncludeTxPower=true\n");
  g_autoptr (BpConfig) d = load (
    "[Peripheral]\nName=t\n"
    "[Advertising]\n"
    "ManufacturerData=76:\"a,b\", 0x0059 : 9a:09\n"
    "ServiceData=0xFEAA:10eb\n"
    "ScanResponseData=0524414243 44\n"
    "Discoverable=false\n"
    "Interval=1s\n"
    "Timeout=0\n");
  const BpAdvertisingConfig *a = &c->advertising;
  const BpAdvertisingConfig *b = &d->advertising;
  BpManufacturerData *m;
  BpServiceData *sd;

  assert_false (a->enabled);
  assert_true (a->has_interval);
  assert_int_equal (a->interval_min_ms, 100);
  assert_int_equal (a->interval_max_ms, 200);
  assert_int_equal (a->service_uuids->len, 2);
  assert_int_equal (u16 (&g_array_index (a->service_uuids, BpUuid, 0)), 0x181A);
  assert_int_equal (u16 (&g_array_index (a->service_uuids, BpUuid, 1)), 0x180F);
  assert_int_equal (a->solicit_uuids->len, 1);
  assert_int_equal (u16 (&g_array_index (a->solicit_uuids, BpUuid, 0)), 0x180D);
  assert_true (a->has_appearance);
  assert_int_equal (a->appearance, 833);
  assert_int_equal (a->manufacturer_data->len, 1);
  m = g_ptr_array_index (a->manufacturer_data, 0);
  assert_int_equal (m->company, 0xFFFF);
  assert_bytes (m->data, "0102");
  assert_false (a->connectable);
  assert_true (a->discoverable);
  assert_true (a->limited_discoverable);
  assert_int_equal (a->timeout_us, 120000000);
  assert_true (a->has_tx_power);
  assert_int_equal (a->tx_power, -8);
  assert_true (a->include_tx_power);
  assert_int_equal (a->data->len, 0);
  assert_null (a->scan_response);

  assert_true (b->enabled);
  assert_int_equal (b->interval_min_ms, 1000);
  assert_int_equal (b->interval_max_ms, 1000);
  assert_int_equal (b->manufacturer_data->len, 2);
  m = g_ptr_array_index (b->manufacturer_data, 0);
  assert_int_equal (m->company, 76);
  assert_bytes (m->data, "612c62");
  m = g_ptr_array_index (b->manufacturer_data, 1);
  assert_int_equal (m->company, 0x59);
  assert_bytes (m->data, "9a09");
  assert_int_equal (b->service_data->len, 1);
  sd = g_ptr_array_index (b->service_data, 0);
  assert_int_equal (u16 (&sd->uuid), 0xFEAA);
  assert_bytes (sd->data, "10eb");
  assert_non_null (b->scan_response);
  assert_bytes (b->scan_response, "052441424344");
  assert_false (b->discoverable);
  assert_true (b->connectable);
  assert_int_equal (b->timeout_us, 0);
  assert_false (b->has_tx_power);
  assert_false (b->include_tx_power);
}

static void
test_advertising_interval (void **state)
{
  g_autoptr (BpConfig) a = load ("[Advertising]\nInterval=250ms\nIntervalMax=500ms\n");
  g_autoptr (BpConfig) b = load ("[Advertising]\nIntervalMin=30ms\n");
  g_autoptr (BpConfig) c = load ("[Peripheral]\nName=t\n");

  assert_int_equal (a->advertising.interval_min_ms, 250);
  assert_int_equal (a->advertising.interval_max_ms, 500);
  assert_int_equal (b->advertising.interval_min_ms, 30);
  assert_int_equal (b->advertising.interval_max_ms, 30);
  assert_false (c->advertising.has_interval);

  assert_error ("[Advertising]\nInterval=250\n",
                "ble-peripheral.conf: [Advertising] Interval: 250 needs a unit: us, ms, s or min (e.g. 250ms)");
  assert_error ("[Advertising]\nInterval=10ms\n",
                "ble-peripheral.conf: [Advertising] Interval: 10ms is under the minimum of 20ms");
  assert_error ("[Advertising]\nInterval=11s\n",
                "ble-peripheral.conf: [Advertising] Interval: 11s is over the limit of 10.24s");
  assert_error ("[Advertising]\nInterval=20500us\n",
                "ble-peripheral.conf: [Advertising] Interval: 20500us is not a whole number of milliseconds "
                "(BlueZ takes the interval in ms)");
  assert_error ("[Advertising]\nIntervalMin=200ms\nIntervalMax=100ms\n",
                "ble-peripheral.conf: [Advertising] IntervalMax: the interval's minimum (200ms) is over its "
                "maximum (100ms)");
}

static void
test_durations (void **state)
{
  static const struct {
    const char *text;
    guint64 us;
  } ok[] = {
    { "1s", 1000000 },     { "1.5s", 1500000 },    { "250ms", 250000 }, { "250 ms", 250000 }, { "100us", 100 },
    { "2min", 120000000 }, { "0.5min", 30000000 }, { "0", 0 },          { "0ms", 0 },         { ".25s", 250000 },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (ok); i++)
    {
      g_autofree char *text = g_strdup_printf (BASE CHAR_HEAD "Flags=read\nMinReadInterval=%s\n", ok[i].text);
      g_autoptr (BpConfig) c = load (text);
      assert_int_equal (chr (c, "c")->min_read_interval_us, ok[i].us);
    }
  assert_error (BASE CHAR_HEAD "Flags=read\nMinReadInterval=5\n",
                "ble-peripheral.conf: [Characteristic env/c] MinReadInterval: 5 needs a unit: us, ms, s or "
                "min (e.g. 5ms)");
  assert_error (BASE CHAR_HEAD "Flags=read\nMinReadInterval=5h\n",
                "ble-peripheral.conf: [Characteristic env/c] MinReadInterval: unknown unit 'h' in 5h: "
                "expected us, ms, s or min");
  assert_error (BASE CHAR_HEAD "Flags=read\nMinReadInterval=ms\n",
                "ble-peripheral.conf: [Characteristic env/c] MinReadInterval: expected a duration with a "
                "unit (us, ms, s or min) such as 250ms, got 'ms'");
  assert_error_contains (BASE CHAR_HEAD "Flags=read\nMinReadInterval=-1s\n", "MinReadInterval: expected a duration");
  assert_error_contains (BASE CHAR_HEAD "Flags=read\nMinReadInterval=99999999999999999999min\n",
                         "MinReadInterval: 99999999999999999999min is too long a duration");
  assert_error ("[Advertising]\nTimeout=65536s\n",
                "ble-peripheral.conf: [Advertising] Timeout: 65536s is over the limit of 65535s");
}

static void
test_numbers (void **state)
{
  g_autoptr (BpConfig) c = load (BASE CHAR_HEAD "Flags=read\nMaxLength=0x14\nQueueLength=0X10\n");

  assert_int_equal (chr (c, "c")->max_length, 20);
  assert_int_equal (chr (c, "c")->queue_length, 16);
  assert_error (BASE CHAR_HEAD "Flags=read\nMaxLength=12abc\n",
                "ble-peripheral.conf: [Characteristic env/c] MaxLength: expected a number (decimal or 0x "
                "hex), got '12abc'");
  assert_error_contains (BASE CHAR_HEAD "Flags=read\nMaxLength=0x\n", "MaxLength: expected a number");
  assert_error_contains (BASE CHAR_HEAD "Flags=read\nMaxLength=99999999999999999999999\n",
                         "MaxLength: 99999999999999999999999 is over the limit of 512");
  assert_error ("[Advertising]\nAppearance=0x10000\n",
                "ble-peripheral.conf: [Advertising] Appearance: 0x10000 is over the limit of 0xFFFF");
  assert_error ("[Advertising]\nTxPower=21\n",
                "ble-peripheral.conf: [Advertising] TxPower: 21 is over the limit of 20");
  assert_error ("[Advertising]\nTxPower=-128\n",
                "ble-peripheral.conf: [Advertising] TxPower: -128 is under the minimum of -127");
  assert_error (BASE CHAR_HEAD "Flags=read\nQueueLength=0\n",
                "ble-peripheral.conf: [Characteristic env/c] QueueLength: 0 is under the minimum of 1");
}

/* ------------------------------------------------------------------------ */
/* Refusals */

static void
test_unknown_groups_and_keys (void **state)
{
  assert_error (
    "[Foo]\nA=b\n",
    "ble-peripheral.conf: [Foo] unknown group: expected [Peripheral], [Advertising], [Control], [Security], "
    "[Service ID], [Characteristic SERVICE/CHAR], [Descriptor SERVICE/CHAR/DESC] or [Channel NAME]");
  assert_error_contains ("[peripheral]\nName=x\n", "[peripheral] unknown group");
  assert_error_contains ("[Peripheral]\nNmae=x\n",
                         "ble-peripheral.conf: [Peripheral] Nmae: unknown key: expected one of Name, Adapter, "
                         "MaxConnections, PowerOn, AcquireSockets");
  assert_error ("[Peripheral]\nname=x\n",
                "ble-peripheral.conf: [Peripheral] name: unknown key: keys are case-sensitive, did you mean Name?");
  assert_error_contains ("[Advertising]\nInterva=1s\n", "[Advertising] Interva: unknown key: expected one of Enabled");
  assert_error_contains ("[Control]\nPath=/x\n", "[Control] Path: unknown key");
  assert_error_contains ("[Service a]\nUUID=0x180A\nPrimry=true\n", "[Service a] Primry: unknown key");
  assert_error_contains (BASE CHAR_HEAD "Flags=read\nIntial=1\n", "[Characteristic env/c] Intial: unknown key");
  assert_error_contains (BASE CHAR_HEAD "Flags=read\n[Descriptor env/c/d]\nUUID=0x2906\nValu=00\n",
                         "[Descriptor env/c/d] Valu: unknown key");
  assert_error ("[Peripheral]\nName[de]=x\n",
                "ble-peripheral.conf: line 2: 'Name[de]' is a localized key, which ble-peripheral does not read");
  assert_error ("[Characteristic env]\nUUID=0x2A6E\n",
                "ble-peripheral.conf: [Characteristic env] expected [Characteristic SERVICE/CHAR], got 'env'");
  assert_error ("[Descriptor env/c]\nUUID=0x2A6E\n",
                "ble-peripheral.conf: [Descriptor env/c] expected [Descriptor SERVICE/CHAR/DESC], got 'env/c'");
  assert_error_contains ("[Characteristic env/]\nUUID=0x2A6E\n", "[Characteristic env/] the ID ''");
}

static void
test_characteristic_refusals (void **state)
{
  assert_error (BASE "[Characteristic nosuch/c]\nUUID=0x2A6E\nFlags=read\n",
                "ble-peripheral.conf: [Characteristic nosuch/c] the service 'nosuch' is not declared: add a "
                "[Service nosuch] group");
  assert_error (BASE "[Characteristic env/c]\nFlags=read\n",
                "ble-peripheral.conf: [Characteristic env/c] UUID is required, e.g. UUID=0x2A6E");
  assert_error (BASE CHAR_HEAD,
                "ble-peripheral.conf: [Characteristic env/c] Flags is required, e.g. Flags=read,notify");
  assert_error (BASE CHAR_HEAD "Flags=\n",
                "ble-peripheral.conf: [Characteristic env/c] Flags: expected at least one flag, e.g. read,notify");
  assert_error_contains (BASE CHAR_HEAD "Flags=read,reed\n",
                         "ble-peripheral.conf: [Characteristic env/c] Flags: unknown flag 'reed': expected "
                         "broadcast, read, write-without-response, write, notify");
  assert_error (BASE CHAR_HEAD "Flags=read\nMaxLength=600\n",
                "ble-peripheral.conf: [Characteristic env/c] MaxLength: 600 is over the limit of 512");
  assert_error (BASE CHAR_HEAD "Flags=read\nFormat=int16\n",
                "ble-peripheral.conf: [Characteristic env/c] Format: unknown format 'int16': expected uint8, "
                "uint16, uint24, uint32, uint64, sint8, sint16, sint24, sint32, sint64, float32, float64, "
                "utf8 or boolean");
  assert_error (BASE CHAR_HEAD "Flags=read\nExponent=-2\n",
                "ble-peripheral.conf: [Characteristic env/c] Exponent: needs Format= (the exponent scales a "
                "number of that format)");
  assert_error (BASE CHAR_HEAD "Flags=read\nFormat=sint8\nExponent=-129\n",
                "ble-peripheral.conf: [Characteristic env/c] Exponent: -129 is under the minimum of -128");
  assert_error (BASE CHAR_HEAD "Flags=read\nUnit=0x272F\n",
                "ble-peripheral.conf: [Characteristic env/c] Unit: the unit goes into the 0x2904 Presentation "
                "Format descriptor, which needs Format= (and PresentationFormat not false)");
  assert_error (BASE CHAR_HEAD "Flags=read\nPresentationFormat=true\n",
                "ble-peripheral.conf: [Characteristic env/c] PresentationFormat: true needs Format= (the "
                "0x2904 descriptor describes the format)");
  assert_error (BASE CHAR_HEAD "Flags=read\nFormat=sint16\nExponent=-2\nInitial=400\n",
                "ble-peripheral.conf: [Characteristic env/c] Initial: 400 is out of range for sint16 with "
                "exponent -2 (-327.68 to 327.67)");
  assert_error (BASE CHAR_HEAD "Flags=read\nFormat=sint16\nInitial=12abc\n",
                "ble-peripheral.conf: [Characteristic env/c] Initial: expected a number such as 24.58, -3 or "
                "0x10 for sint16, got '12abc'");
  assert_error (BASE CHAR_HEAD "Flags=read\nInitial=9a0\n",
                "ble-peripheral.conf: [Characteristic env/c] Initial: '9a0' has an odd number of hex digits: "
                "each byte takes two");
  assert_error (BASE CHAR_HEAD "Flags=read\nReadHandler=program\n",
                "ble-peripheral.conf: [Characteristic env/c] ReadHandler: expected value or socket, got 'program'");
}

static void
test_impossible_combinations (void **state)
{
  assert_error (BASE CHAR_HEAD "Flags=read\nCapture=true\n",
                "ble-peripheral.conf: [Characteristic env/c] Capture: true needs a write flag (write, "
                "write-without-response, …) in Flags: without one no central can write");
  assert_error (BASE CHAR_HEAD "Flags=read,notify\nAppend=true\n",
                "ble-peripheral.conf: [Characteristic env/c] Append: true needs a write flag (write, …) in "
                "Flags: without one no central can write");
  assert_error (BASE CHAR_HEAD "Flags=write\nAppend=true\nMaxLength=0\n",
                "ble-peripheral.conf: [Characteristic env/c] Append: true needs room in the buffer, but "
                "MaxLength is 0");
  assert_error (BASE CHAR_HEAD "Flags=write-without-response\n",
                "ble-peripheral.conf: [Characteristic env/c] Flags: write-without-response cannot be combined "
                "with MaxLength=20: bluetoothd acknowledges such writes before the daemon sees them, so a "
                "write longer than MaxLength could not be refused; set MaxLength=512 or drop "
                "write-without-response");
  assert_error (BASE CHAR_HEAD "Flags=write,write-without-response\nMaxLength=512\nAppend=true\n",
                "ble-peripheral.conf: [Characteristic env/c] Flags: write-without-response cannot be combined "
                "with Append=true: bluetoothd acknowledges such writes before the daemon sees them, so a "
                "write that overflows the buffer could not be refused; drop write-without-response or Append");
  assert_error (BASE CHAR_HEAD "Flags=read,write\nNotifyOnSubscribe=true\n",
                "ble-peripheral.conf: [Characteristic env/c] NotifyOnSubscribe: true needs notify or indicate "
                "in Flags");
  assert_error (BASE CHAR_HEAD "Flags=notify\nReadHandler=socket\n",
                "ble-peripheral.conf: [Characteristic env/c] ReadHandler: socket needs a read flag (read, "
                "encrypt-read, …) in Flags: without one no central can read");
  assert_error (BASE CHAR_HEAD "Flags=read\nReadHandler=socket\nReadTimeout=5s\n",
                "ble-peripheral.conf: [Characteristic env/c] ReadTimeout: 5s is not under 5s: bluetoothd "
                "answers the central with ATT 0x0E itself when a read takes 5 seconds");
  assert_error (BASE CHAR_HEAD "Flags=read\nReadTimeout=0\n",
                "ble-peripheral.conf: [Characteristic env/c] ReadTimeout: must be more than 0");
  assert_error (BASE CHAR_HEAD "Flags=read,notify\n[Descriptor env/c/cccd]\nUUID=0x2902\n",
                "ble-peripheral.conf: [Descriptor env/c/cccd] UUID: 0x2902 (Client Characteristic "
                "Configuration) is made by bluetoothd itself for notify and indicate; leave this descriptor out");
  assert_error (BASE CHAR_HEAD "Flags=read\nDescription=x\n[Descriptor env/c/d]\nUUID=0x2901\n",
                "ble-peripheral.conf: [Descriptor env/c/d] UUID: 0x2901 (User Description) is generated from "
                "Description= of [Characteristic env/c]; keep one of them");
  assert_error (BASE CHAR_HEAD "Flags=read\nFormat=uint8\n[Descriptor env/c/d]\nUUID=0x2904\n",
                "ble-peripheral.conf: [Descriptor env/c/d] UUID: 0x2904 (Presentation Format) is generated "
                "from Format= of [Characteristic env/c]; set PresentationFormat=false there to write your own");
  assert_error_contains (BASE CHAR_HEAD "Flags=read,reliable-write\n[Descriptor env/c/d]\nUUID=0x2900\n",
                         "UUID: 0x2900 (Extended Properties) is made by bluetoothd itself");

  /* ... and what does work */
  {
    g_autoptr (BpConfig) c = load (BASE CHAR_HEAD
                                   "Flags=write-without-response,write\nMaxLength=512\n"
                                   "Capture=true\n"
                                   "[Characteristic env/r]\nUUID=0x2A6F\nFlags=read\nReadHandler=socket\n"
                                   "ReadTimeout=4999ms\n"
                                   "[Characteristic env/p]\nUUID=0x2A70\nFlags=read\nFormat=uint8\n"
                                   "PresentationFormat=false\n"
                                   "[Descriptor env/p/pf]\nUUID=0x2904\nValue=04000027010000\n"
                                   "[Descriptor env/p/ud]\nUUID=0x2901\nValue=\"mine\"\n"
                                   "[Characteristic env/n]\nUUID=0x2A71\nFlags=encrypt-notify\n"
                                   "NotifyOnSubscribe=true\n");
    assert_true (chr (c, "env/c")->capture);
    assert_int_equal (chr (c, "env/r")->read_timeout_us, 4999000);
    assert_int_equal (chr (c, "env/p")->descriptors->len, 2);
    assert_true (chr (c, "env/n")->notify_on_subscribe);
  }
}

static void
test_value_limits (void **state)
{
  g_autoptr (GString) text = g_string_new (BASE CHAR_HEAD "Flags=read\nInitial=");
  g_autoptr (BpConfig) ok = NULL;

  for (int i = 0; i < 512; i++)
    g_string_append (text, "ab");
  g_string_append_c (text, '\n');
  ok = load (text->str);
  assert_int_equal (g_bytes_get_size (chr (ok, "c")->initial), 512);

  g_string_truncate (text, text->len - 1);
  g_string_append (text, "cd\n");
  assert_error (text->str,
                "ble-peripheral.conf: [Characteristic env/c] Initial: the value is 513 bytes, over the limit of 512");
}

static void
test_services_entries (void **state)
{
  assert_error ("[Service env]\nUUID=0x181A\n[Advertising]\nServices=env,nosuch\n",
                "ble-peripheral.conf: [Advertising] Services: 'nosuch' names no service: expected the ID of a "
                "[Service ID] group or a UUID");
  assert_error_contains ("[Advertising]\nSolicitServices=zz\n", "[Advertising] SolicitServices: 'zz' names no service");
  assert_error ("[Advertising]\nManufacturerData=0102\n",
                "ble-peripheral.conf: [Advertising] ManufacturerData: expected COMPANY:VALUE such as "
                "0xFFFF:0102, got '0102'");
  assert_error ("[Advertising]\nManufacturerData=0x10000:01\n",
                "ble-peripheral.conf: [Advertising] ManufacturerData: expected a 16-bit company ID such as "
                "0xFFFF before ':', got '0x10000'");
  assert_error ("[Advertising]\nManufacturerData=0x004C:0g\n",
                "ble-peripheral.conf: [Advertising] ManufacturerData: company 0x004C: expected hex bytes such "
                "as 9a09 or 9a:09, or a quoted string, got '0g'");
  assert_error ("[Advertising]\nManufacturerData=0x004C:01,76:02\n",
                "ble-peripheral.conf: [Advertising] ManufacturerData: company 0x004C appears twice: the "
                "advertisement holds one value per company");
  assert_error (
    "[Advertising]\nServiceData=0x181A\n",
    "ble-peripheral.conf: [Advertising] ServiceData: expected UUID:VALUE such as 0x181A:0102, got '0x181A'");
  assert_error_contains ("[Advertising]\nServiceData=0x181A:01,181A:02\n",
                         "[Advertising] ServiceData: service 0000181a-0000-1000-8000-00805f9b34fb appears twice");
  assert_error ("[Advertising]\nDiscoverable=false\nLimitedDiscoverable=true\n",
                "ble-peripheral.conf: [Advertising] LimitedDiscoverable: true needs Discoverable=true (limited "
                "discoverable is a kind of discoverable)");
}

static void
test_advertising_data_mapping (void **state)
{
  /* flags (LE general), complete 16-bit list 0x180F 0x181A, complete name
   * "caf", appearance 0x0540, TX power -4 */
  g_autoptr (BpConfig) c = load ("[Advertising]\nData=020106 05030f181a18 0409636166 03194005 020afc\n");
  /* service data 0xFEAA, manufacturer 0x004C, a URI (0x24) that maps to
   * nothing, a solicit list */
  g_autoptr (BpConfig) c2 = load (
    "[Peripheral]\nName=t\n[Advertising]\n"
    "Data=0516aafe1020 05ff4c000102 0424017878 03140d18\n");
  /* a 128-bit list */
  g_autoptr (BpConfig) c3 = load (
    "[Peripheral]\nName=t\n[Advertising]\n"
    "Data=1107 9ecadc240ee5a9e093f3a3b50100406e\n");
  const BpAdvertisingConfig *a = &c->advertising;
  const BpAdvertisingConfig *a2 = &c2->advertising;
  char buf[BP_UUID_STRLEN];
  BpServiceData *sd;
  BpManufacturerData *m;
  GBytes *uri;

  assert_true (a->discoverable);
  assert_false (a->limited_discoverable);
  assert_int_equal (a->service_uuids->len, 2);
  assert_int_equal (u16 (&g_array_index (a->service_uuids, BpUuid, 0)), 0x180F);
  assert_int_equal (u16 (&g_array_index (a->service_uuids, BpUuid, 1)), 0x181A);
  assert_string_equal (c->name, "caf");
  assert_true (a->has_appearance);
  assert_int_equal (a->appearance, 0x0540);
  assert_true (a->has_tx_power);
  assert_int_equal (a->tx_power, -4);
  assert_true (a->include_tx_power);
  assert_int_equal (a->data->len, 0);

  assert_int_equal (c3->advertising.service_uuids->len, 1);
  bp_uuid_to_string (&g_array_index (c3->advertising.service_uuids, BpUuid, 0), buf);
  assert_string_equal (buf, "6e400001-b5a3-f393-e0a9-e50e24dcca9e");

  a = a2;
  assert_int_equal (a->solicit_uuids->len, 1);
  assert_int_equal (u16 (&g_array_index (a->solicit_uuids, BpUuid, 0)), 0x180D);
  sd = g_ptr_array_index (a->service_data, 0);
  assert_int_equal (u16 (&sd->uuid), 0xFEAA);
  assert_bytes (sd->data, "1020");
  m = g_ptr_array_index (a->manufacturer_data, 0);
  assert_int_equal (m->company, 0x004C);
  assert_bytes (m->data, "0102");
  assert_int_equal (a->data->len, 1);
  uri = g_ptr_array_index (a->data, 0);
  assert_bytes (uri, "24017878");

  /* flags 0x00: not discoverable; 0x05: limited */
  {
    g_autoptr (BpConfig) d = load ("[Advertising]\nData=020100\n");
    g_autoptr (BpConfig) e = load ("[Advertising]\nData=020105\n");
    assert_false (d->advertising.discoverable);
    assert_true (e->advertising.discoverable);
    assert_true (e->advertising.limited_discoverable);
  }

  assert_error ("[Advertising]\nData=0501020304\n",
                "ble-peripheral.conf: [Advertising] Data: the AD structure at byte 0 says 5 bytes follow, but "
                "only 4 do");
  assert_error ("[Advertising]\nData=020106 00 0201\n",
                "ble-peripheral.conf: [Advertising] Data: the AD structure at byte 3 has length 0, but data follows");
  {
    g_autoptr (BpConfig) padded = load ("[Advertising]\nData=0201060000\n");
    assert_true (padded->advertising.discoverable);
  }
  assert_error ("[Advertising]\nData=04030f181a\n",
                "ble-peripheral.conf: [Advertising] Data: the UUID list of type 0x03 is 3 bytes, not a multiple of 2");
  assert_error ("[Advertising]\nAppearance=0x0541\nData=03194005\n",
                "ble-peripheral.conf: [Advertising] Data: the appearance 0x0540 (type 0x19) disagrees with "
                "Appearance=0x0541; keep one of them");
  assert_error ("[Peripheral]\nName=cam\n[Advertising]\nData=0409616263\n",
                "ble-peripheral.conf: [Advertising] Data: the local name 'abc' (type 0x09) disagrees with "
                "Name=cam of [Peripheral]; keep one of them");
  assert_error_contains ("[Advertising]\nDiscoverable=false\nData=020106\n",
                         "Data: the Flags structure (type 0x01) disagrees with Discoverable=");
  assert_error_contains ("[Advertising]\nTxPower=-8\nData=020afc\n", "Data: the TX power (type 0x0A) disagrees");
  assert_error_contains ("[Advertising]\nData=02ff4c\n", "Data: the manufacturer data (type 0xFF) is shorter");
  assert_error_contains ("[Advertising]\nData=0216aa\n", "Data: the service data (type 0x16) is shorter");
  assert_error_contains ("[Advertising]\nData=0209ff\n", "Data: the local name (type 0x09) is not UTF-8 text");
  assert_error_contains ("[Advertising]\nData=03ff4c00 03ff4c00\n", "Data: company 0x004C appears twice");
  assert_error_contains ("[Advertising]\nManufacturerData=0x004C:01\nData=04ff4c0001\n",
                         "Data: company 0x004C appears twice");
  assert_error_contains ("[Advertising]\nData=zz\n", "[Advertising] Data: expected hex bytes");
  /* the scan response is framed like Data, and only checked */
  assert_error ("[Advertising]\nScanResponseData=0509414243\n",
                "ble-peripheral.conf: [Advertising] ScanResponseData: the AD structure at byte 0 says 5 bytes "
                "follow, but only 4 do");
  /* types bluetoothd refuses in ScanResponseData and Data: named, with what to use instead */
  assert_error ("[Advertising]\nScanResponseData=0224ff 05ffffff0102\n",
                "ble-peripheral.conf: [Advertising] ScanResponseData: the AD structure of type 0xFF at byte 3 is "
                "one bluetoothd refuses in a scan response (it would not advertise at all): manufacturer data: put "
                "it in ManufacturerData= (the advertising data)");
  assert_error_contains ("[Advertising]\nScanResponseData=0509414243 44\n",
                         "ScanResponseData: the AD structure of type 0x09 at byte 0 is one bluetoothd refuses in a "
                         "scan response (it would not advertise at all): the local name: bluetoothd puts Name= of "
                         "[Peripheral] in the scan response itself");
  assert_error_contains ("[Advertising]\nScanResponseData=0416aafe01\n",
                         "type 0x16 at byte 0 is one bluetoothd refuses");
  assert_error_contains ("[Advertising]\nScanResponseData=020106\n", "type 0x01 at byte 0 is one bluetoothd refuses");
  assert_error_contains ("[Advertising]\nData=03123456\n",
                         "[Advertising] Data: the AD structure of type 0x12 at byte 0 is one bluetoothd refuses in "
                         "advertising data (it would not advertise at all)");
}

static void
test_advertising_size (void **state)
{
  /* flags 3, service UUIDs 4, manufacturer data 28 = 35; the name goes in
   * the scan response */
  assert_error (
    "[Peripheral]\nName=0123456789abcd\n[Advertising]\nServices=0x181A\n"
    "ManufacturerData=0xFFFF:00112233445566778899aabbccddeeff0011223344556677\n",
    "ble-peripheral.conf: [Advertising] ManufacturerData: the advertising data is 35 bytes, 4 over "
    "the 31-byte limit (flags 3, service UUIDs 4, manufacturer data 28)");
  /* the name alone, in the scan response */
  assert_error ("[Peripheral]\nName=a name of exactly thirty chars\n",
                "ble-peripheral.conf: [Peripheral] Name: the scan response is 32 bytes, 1 over the 31-byte "
                "limit (name 32, scan response data 0)");
  /* exactly 31 fits: flags 3, 128-bit UUID 18, manufacturer data 10 */
  {
    g_autoptr (BpConfig) c = load (
      "[Peripheral]\nName=12345678\n[Advertising]\n"
      "Services=6e400001-b5a3-f393-e0a9-e50e24dcca9e\nManufacturerData=0xFFFF:001122334455\n");
    g_autoptr (GError) error = NULL;
    assert_true (bp_config_check_advertising_size (c, &error));
  }
  /* a beacon that is neither connectable nor discoverable has no flags */
  {
    g_autoptr (BpConfig) c = load (
      "[Peripheral]\nName=123456789012345678901234567\n[Advertising]\n"
      "Connectable=false\nDiscoverable=false\n");
    assert_non_null (c);
  }
  /* UUIDs grouped by size: 2+2*2 + 2+4 + 2+16 */
  assert_error_contains (
    "[Peripheral]\nName=x\n[Advertising]\nServices=0x180F,0x181A,0x12345678,"
    "6e400001-b5a3-f393-e0a9-e50e24dcca9e\nIncludeTxPower=true\nAppearance=1\n",
    "the advertising data is 40 bytes, 9 over the 31-byte limit (flags 3, "
    "appearance 4, service UUIDs 30, TX power 3)");
  /* the field is named in the drop-in or Data where it was set */
  assert_error_contains (
    "[Peripheral]\nName=x\n[Advertising]\nData=1cff4c00 0102030405060708090a0b0c0d0e0f10111213141516171819\n",
    "ble-peripheral.conf: [Advertising] Data: the advertising data is 32 bytes");
  assert_error (
    "[Peripheral]\nName=x\n[Advertising]\nScanResponseData=2024"
    "4c00"
    "0102030405060708090a0b0c0d0e0f"
    "101112131415161718191a1b1c1d\n",
    "ble-peripheral.conf: [Advertising] ScanResponseData: the scan response is 33 bytes, 2 over the "
    "31-byte limit");
  /* the name shares the scan response with ScanResponseData */
  assert_error (
    "[Peripheral]\nName=0123456789\n[Advertising]\nScanResponseData=1424"
    "4c00"
    "0102030405060708090a0b0c0d0e0f1011\n",
    "ble-peripheral.conf: [Peripheral] Name: the scan response is 33 bytes, 2 over the "
    "31-byte limit (name 12, scan response data 21)");

  /* the public check, on a configuration changed after loading */
  {
    g_autoptr (BpConfig) c = load (bp_config_default_text);
    g_autoptr (GError) error = NULL;
    BpManufacturerData *m = g_new0 (BpManufacturerData, 1);

    assert_true (bp_config_check_advertising_size (c, &error));
    m->company = 0xFFFF;
    m->data = g_bytes_new_static ("0123456789abcdefghijklmn", 24);
    g_ptr_array_add (c->advertising.manufacturer_data, m);
    assert_false (bp_config_check_advertising_size (c, &error));
    assert_string_equal (error->message,
                         "ble-peripheral.conf: [Advertising] ManufacturerData: the advertising data is 39 bytes, "
                         "8 over the 31-byte limit (flags 3, appearance 4, service UUIDs 4, "
                         "manufacturer data 28)");
  }
}

/* ------------------------------------------------------------------------ */
/* Syntax and garbage */

static void
test_syntax_errors (void **state)
{
  assert_error ("[Peripheral]\nName=x\ngarbage\n",
                "ble-peripheral.conf: line 3: expected [Group], Key=Value or a # comment, got 'garbage'");
  assert_error ("Name=x\n[Peripheral]\n", "ble-peripheral.conf: line 1: 'Name=x' comes before the first [Group]");
  assert_error ("[Peripheral\nName=x\n",
                "ble-peripheral.conf: line 1: expected a group header such as [Peripheral], got '[Peripheral'");
  assert_error_contains ("[]\n", "line 1: expected a group header");
  assert_error_contains ("[Peri]pheral]\n", "line 1: expected a group header");
  assert_error ("[Peripheral]\n=x\n",
                "ble-peripheral.conf: line 2: expected [Group], Key=Value or a # comment, got '=x'");
  assert_error ("[Peripheral]\nName=\xff\xfe\n", "ble-peripheral.conf: line 2: is not valid UTF-8");
  {
    static const char nul[] = "[Peripheral]\nName=a\0b\n";
    g_autoptr (GError) error = NULL;
    g_autoptr (BpConfig) c = bp_config_load_from_data (nul, sizeof nul - 1, ORIGIN, &error);
    assert_null (c);
    assert_string_equal (error->message, "ble-peripheral.conf: line 2: contains a NUL byte (is this a text file?)");
  }
  {
    /* a long garbage line is quoted short */
    g_autoptr (GString) text = g_string_new ("[Peripheral]\n");
    for (int i = 0; i < 100000; i++)
      g_string_append_c (text, 'x');
    assert_error (text->str,
                  "ble-peripheral.conf: line 2: expected [Group], Key=Value or a # comment, got "
                  "'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…'");
  }
  {
    /* comments, blank lines, spaces around '=' and CRLF line ends are fine */
    g_autoptr (BpConfig) c = load ("# comment\n\n  [Peripheral]  \r\n  # indented comment\nName = x \r\n");
    assert_string_equal (c->name, "x");
  }
  {
    /* a byte order mark is skipped */
    g_autoptr (BpConfig) c = load ("\xef\xbb\xbf[Peripheral]\nName=bom\n");
    assert_string_equal (c->name, "bom");
  }
  {
    /* an empty file: all defaults */
    g_autoptr (BpConfig) c = load ("");
    assert_int_equal (c->services->len, 0);
    assert_string_equal (c->name, g_get_host_name ());
  }
}

static void
test_truncated_and_garbage (void **state)
{
  gsize len = strlen (bp_config_default_text);
  GRand *rand = g_rand_new_with_seed (42);

  /* every prefix of the default loads or fails cleanly */
  for (gsize n = 0; n <= len; n++)
    {
      g_autoptr (GError) error = NULL;
      g_autoptr (BpConfig) c = bp_config_load_from_data (bp_config_default_text, (gssize) n, ORIGIN, &error);
      assert_true ((c != NULL) != (error != NULL));
      if (error != NULL)
        assert_true (g_str_has_prefix (error->message, ORIGIN ": "));
    }
  /* random bytes and random damage */
  for (int i = 0; i < 2000; i++)
    {
      g_autofree char *text = g_strdup (bp_config_default_text);
      g_autoptr (GError) error = NULL;
      g_autoptr (BpConfig) c = NULL;
      int edits = g_rand_int_range (rand, 1, 8);

      for (int k = 0; k < edits; k++)
        text[g_rand_int_range (rand, 0, (gint32) len)] = (char) g_rand_int_range (rand, 1, 256);
      c = bp_config_load_from_data (text, -1, ORIGIN, &error);
      assert_true ((c != NULL) != (error != NULL));
    }
  for (int i = 0; i < 200; i++)
    {
      guint8 junk[256];
      g_autoptr (GError) error = NULL;
      g_autoptr (BpConfig) c = NULL;
      for (gsize k = 0; k < sizeof junk; k++)
        junk[k] = (guint8) g_rand_int_range (rand, 0, 256);
      c = bp_config_load_from_data ((const char *) junk, sizeof junk, ORIGIN, &error);
      assert_true ((c != NULL) != (error != NULL));
    }
  g_rand_free (rand);
}

/* ------------------------------------------------------------------------ */
/* Drop-ins */

static void
test_drop_ins (void **state)
{
  const char *dir = *state;
  g_autofree char *path = g_build_filename (dir, "ble-peripheral.conf", NULL);
  g_autofree char *expected_source = NULL;
  g_autoptr (GError) error = NULL;
  g_autoptr (BpConfig) c = NULL;

  write_file (dir, "ble-peripheral.conf",
              "[Peripheral]\nName=main\nMaxConnections=2\n"
              "[Service env]\nUUID=0x181A\n"
              "[Characteristic env/t]\nUUID=0x2A6E\nFlags=read\nMaxLength=20\n"
              /* a descriptor of a characteristic that a drop-in declares */
              "[Descriptor env/h/range]\nUUID=0x2906\nValue=0010\n");
  write_file (dir, "conf.d/20-late.conf", "[Peripheral]\nName=late\n[Characteristic env/t]\nMaxLength=40\n");
  write_file (dir, "conf.d/10-early.conf",
              "[Peripheral]\nName=early\nPowerOn=false\n"
              "[Characteristic env/h]\nUUID=0x2A6F\nFlags=read\n"
              "[Service more]\nUUID=0x180F\n");
  write_file (dir, "conf.d/30-ignored.conf.disabled", "[Bogus]\n");
  write_file (dir, "conf.d/.hidden.conf", "[Bogus]\n");
  write_file (dir, "conf.d/README", "not a configuration\n");

  c = bp_config_load (path, FALSE, &error);
  if (c == NULL)
    {
      print_error ("%s\n", error->message);
      fail ();
    }
  expected_source = g_strdup_printf ("%s (+2 drop-ins)", path);
  assert_string_equal (c->source, expected_source);
  assert_false (c->is_default);
  /* 20-late comes after 10-early and wins; untouched keys stay */
  assert_string_equal (c->name, "late");
  assert_false (c->power_on);
  assert_int_equal (c->max_connections, 2);
  assert_int_equal (chr (c, "env/t")->max_length, 40);
  assert_int_equal (u16 (&chr (c, "env/t")->uuid), 0x2A6E);
  /* groups added by a drop-in, in order */
  assert_int_equal (c->services->len, 2);
  assert_string_equal (((BpServiceConfig *) g_ptr_array_index (c->services, 1))->id, "more");
  assert_int_equal (chr (c, "env/h")->descriptors->len, 1);
}

static void
test_drop_in_errors (void **state)
{
  const char *dir = *state;
  g_autofree char *path = g_build_filename (dir, "ble-peripheral.conf", NULL);

  write_file (dir, "ble-peripheral.conf",
              "[Service env]\nUUID=0x181A\n[Characteristic env/t]\nUUID=0x2A6E\nFlags=read\n");
  write_file (dir, "conf.d/50-bad.conf", "[Characteristic env/t]\nMaxLength=600\n");
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (BpConfig) c = bp_config_load (path, FALSE, &error);
    assert_null (c);
    assert_string_equal (error->message,
                         "conf.d/50-bad.conf: [Characteristic env/t] MaxLength: 600 is over the limit of 512");
  }
  /* a combination error names the file of the key at fault */
  write_file (dir, "conf.d/50-bad.conf", "[Characteristic env/t]\nCapture=true\n");
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (BpConfig) c = bp_config_load (path, FALSE, &error);
    assert_null (c);
    assert_true (g_str_has_prefix (error->message, "conf.d/50-bad.conf: [Characteristic env/t] Capture: true needs"));
  }
  /* a group-level error names the file that declared the group */
  write_file (dir, "conf.d/50-bad.conf", "[Characteristic env/u]\nFlags=read\n");
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (BpConfig) c = bp_config_load (path, FALSE, &error);
    assert_null (c);
    assert_string_equal (error->message,
                         "conf.d/50-bad.conf: [Characteristic env/u] UUID is required, e.g. UUID=0x2A6E");
  }
  write_file (dir, "conf.d/50-bad.conf", "garbage\n");
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (BpConfig) c = bp_config_load (path, FALSE, &error);
    assert_null (c);
    assert_string_equal (error->message,
                         "conf.d/50-bad.conf: line 1: expected [Group], Key=Value or a # comment, got 'garbage'");
  }
  /* an error in the main file is named by its base name */
  write_file (dir, "conf.d/50-bad.conf", "");
  write_file (dir, "ble-peripheral.conf", "[Peripheral]\nPowerOn=perhaps\n");
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (BpConfig) c = bp_config_load (path, FALSE, &error);
    assert_null (c);
    assert_string_equal (error->message,
                         "ble-peripheral.conf: [Peripheral] PowerOn: expected true or false, got 'perhaps'");
  }
  /* an advertisement that a drop-in makes too large names the drop-in */
  write_file (dir, "ble-peripheral.conf", "[Peripheral]\nName=abc\n");
  write_file (dir, "conf.d/50-bad.conf",
              "[Advertising]\nManufacturerData=0xFFFF:00112233445566778899aabbccddeeff001122334455667788\n");
  {
    g_autoptr (GError) error = NULL;
    g_autoptr (BpConfig) c = bp_config_load (path, FALSE, &error);
    assert_null (c);
    assert_string_equal (error->message,
                         "conf.d/50-bad.conf: [Advertising] ManufacturerData: the advertising data is 32 bytes, 1 "
                         "over the 31-byte limit (flags 3, manufacturer data 29)");
  }
}

/* ------------------------------------------------------------------------ */
/* Queries */

static void
test_find_characteristic (void **state)
{
  g_autoptr (BpConfig) c = load (
    "[Service a]\nUUID=0x1800\n[Service b]\nUUID=0x1801\n"
    "[Characteristic a/x]\nUUID=0x2A00\nFlags=read\n"
    "[Characteristic b/x]\nUUID=0x2A01\nFlags=read\n"
    "[Characteristic b/y]\nUUID=0x2A02\nFlags=read\n");
  BpCharacteristicConfig *found;

  found = bp_config_find_characteristic (c, "a/x", NULL);
  assert_non_null (found);
  assert_string_equal (found->id, "a/x");
  found = bp_config_find_characteristic (c, "y", NULL);
  assert_non_null (found);
  assert_string_equal (found->id, "b/y");
  {
    g_autoptr (GError) error = NULL;
    assert_null (bp_config_find_characteristic (c, "x", &error));
    assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_AMBIGUOUS));
    assert_string_equal (error->message, "'x' names several characteristics (a/x, b/x): say SERVICE/CHAR");
  }
  {
    g_autoptr (GError) error = NULL;
    assert_null (bp_config_find_characteristic (c, "a/y", &error));
    assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_UNKNOWN_CHARACTERISTIC));
    assert_string_equal (error->message, "no characteristic 'a/y' in the configuration");
  }
  {
    g_autoptr (GError) error = NULL;
    assert_null (bp_config_find_characteristic (c, "", &error));
    assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_UNKNOWN_CHARACTERISTIC));
  }
}

/* AcquireSockets: auto by default, off for all in [Peripheral], a
 * characteristic's own key wins; anything else is named. */
static void
test_acquire_sockets (void **state)
{
  g_autoptr (BpConfig) a = load (BASE CHAR_HEAD "Flags=notify\n");
  g_autoptr (BpConfig) b = load (
    "[Peripheral]\nName=t\nAcquireSockets=off\n\n[Service env]\nUUID=0x181A\n\n" CHAR_HEAD
    "Flags=notify\n[Characteristic env/d]\nUUID=0x2A6F\nFlags=notify\nAcquireSockets=auto\n");
  g_autoptr (BpConfig) c = load (BASE CHAR_HEAD "Flags=notify\nAcquireSockets=OFF\n");

  assert_true (a->acquire_sockets);
  assert_true (chr (a, "env/c")->acquire_sockets);
  assert_false (b->acquire_sockets);
  assert_false (chr (b, "env/c")->acquire_sockets);
  assert_true (chr (b, "env/d")->acquire_sockets);
  assert_false (chr (c, "env/c")->acquire_sockets);
  assert_error (BASE CHAR_HEAD "Flags=notify\nAcquireSockets=yes\n",
                "ble-peripheral.conf: [Characteristic env/c] AcquireSockets: expected auto or off, got 'yes'");
  assert_error ("[Peripheral]\nAcquireSockets=\n",
                "ble-peripheral.conf: [Peripheral] AcquireSockets: expected auto or off, got ''");
}

static void
test_describe (void **state)
{
  g_autoptr (BpConfig) c = load (bp_config_default_text);
  g_autofree char *text = bp_config_describe (c);
  static const char *const expected[] = {
    "configuration: ble-peripheral.conf\n",
    "peripheral: name \"ble-peripheral\"",
    "service env: 0x181A (primary)\n",
    "  characteristic env/temperature: 0x2A6E\n",
    "    flags: read,notify\n",
    "    initial value: 0000 (0.00)\n",
    "    max length: 20\n",
    "    format: sint16, exponent -2, unit 0x272F\n",
    "    descriptor 0x2904 (generated, presentation format): 0efe2f27010000\n",
    "    descriptor 0x2904 (generated, presentation format): 06fead27010000\n",
    "advertising: enabled, connectable, discoverable\n",
    "  interval: 250-250 ms\n",
    "  services: 0x181A\n",
    "  appearance: 0x0540\n",
    "  advertising data: 11 of 31 bytes (flags 3, appearance 4, service UUIDs 4)\n",
    "  scan response: 16 of 31 bytes (name 16, scan response data 0)\n",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (expected); i++)
    if (strstr (text, expected[i]) == NULL)
      {
        print_error ("missing '%s' in:\n%s\n", expected[i], text);
        fail ();
      }

  {
    g_autoptr (BpConfig) d = load (BASE CHAR_HEAD
                                   "Flags=read\nDescription=Hi\n"
                                   "[Descriptor env/c/r]\nUUID=0x2906\nFlags=read,write\nValue=0010\n"
                                   "[Advertising]\nScanResponseData=03244c00\n");
    g_autofree char *dt = bp_config_describe (d);
    assert_non_null (strstr (dt, "    descriptor 0x2901 (generated, user description \"Hi\"): 4869\n"));
    assert_non_null (strstr (dt, "    descriptor env/c/r: 0x2906 [read,write]: 0010\n"));
    assert_non_null (strstr (dt, "  scan response data: 4 bytes: 03244c00\n"));
    assert_non_null (strstr (dt, "    initial value: (empty)\n"));
  }
}

/* ------------------------------------------------------------------------ */
/* [Security] */

static void
test_security_keys (void **state)
{
  g_autoptr (BpConfig) d = load (BASE);
  g_autoptr (BpConfig) c = load (BASE
                                 "[Security]\nPairing=confirm\nPairingWindow=2min\nAllowedCentrals=bonded\n"
                                 "ConfirmTimeout=5s\n");
  g_autoptr (BpConfig) j = load (BASE "[Security]\nPairing=just-works\n" CHAR_HEAD
                                      "Flags=encrypt-read,encrypt-write\n");
  g_autoptr (BpConfig) p = load (BASE "[Security]\nPairing=display\n" CHAR_HEAD "Flags=secure-read\n");
  g_autofree char *desc = bp_config_describe (c);

  assert_int_equal (d->security.pairing, BP_PAIRING_OFF);
  assert_int_equal (d->security.window_us, 0);
  assert_int_equal (d->security.allowed, BP_ALLOWED_ANY);
  assert_int_equal (d->security.confirm_timeout_us, 20 * G_USEC_PER_SEC);
  assert_int_equal (d->warnings->len, 0);

  assert_int_equal (c->security.pairing, BP_PAIRING_CONFIRM);
  assert_int_equal (c->security.window_us, 120 * G_USEC_PER_SEC);
  assert_int_equal (c->security.allowed, BP_ALLOWED_BONDED);
  assert_int_equal (c->security.confirm_timeout_us, 5 * G_USEC_PER_SEC);
  assert_non_null (strstr (desc, "security: pairing confirm (agent DisplayYesNo"));
  assert_non_null (strstr (desc, "window 2min after start and after pairing on, allowed centrals bonded"));

  assert_int_equal (j->security.pairing, BP_PAIRING_JUST_WORKS);
  assert_int_equal (j->warnings->len, 0);
  assert_int_equal (p->security.pairing, BP_PAIRING_DISPLAY);
  assert_int_equal (p->warnings->len, 0);

  assert_string_equal (bp_pairing_mode_name (BP_PAIRING_JUST_WORKS), "just-works");
  assert_int_equal (bp_pairing_mode_from_name ("display"), BP_PAIRING_DISPLAY);
  assert_int_equal (bp_pairing_mode_from_name ("Display"), -1);

  assert_error ("[Security]\nPairing=yes\n",
                "ble-peripheral.conf: [Security] Pairing: unknown mode 'yes': expected "
                "off, just-works, display or confirm");
  assert_error ("[Security]\nAllowedCentrals=all\n",
                "ble-peripheral.conf: [Security] AllowedCentrals: expected any or bonded, got 'all'");
  assert_error_contains ("[Security]\nPairingWindow=5\n", "[Security] PairingWindow:");
  assert_error_contains ("[Security]\nPairingWindow=2d\n", "[Security] PairingWindow:");
  assert_error_contains ("[Security]\nConfirmTimeout=30s\n", "[Security] ConfirmTimeout:");
  assert_error_contains ("[Security]\nConfirmTimeout=1ms\n", "[Security] ConfirmTimeout: 1ms is too short");
  assert_error ("[Security]\nPasskey=123456\n",
                "ble-peripheral.conf: [Security] Passkey: unknown key: expected one "
                "of Pairing, PairingWindow, AllowedCentrals, ConfirmTimeout");
}

static void
test_security_combinations (void **state)
{
  /* Just Works gives no MITM: authenticated and secure flags can never be used. */
  assert_error (BASE "[Security]\nPairing=just-works\n" CHAR_HEAD "Flags=read,encrypt-authenticated-read\n",
                "ble-peripheral.conf: [Characteristic env/c] Flags: encrypt-authenticated-read needs a pairing with "
                "MITM protection, which [Security] Pairing=just-works (ble-peripheral.conf) never gives, so no "
                "central could ever use it: use Pairing=display or Pairing=confirm, or encrypt-read instead");
  assert_error_contains (BASE "[Security]\nPairing=just-works\n" CHAR_HEAD "Flags=secure-write\n",
                         "[Characteristic env/c] Flags: secure-write needs a pairing with MITM");
  assert_error_contains (BASE "[Security]\nPairing=just-works\n" CHAR_HEAD
                              "Flags=read\n[Descriptor env/c/d]\nUUID=0x2A00\nFlags=secure-read\n",
                         "[Descriptor env/c/d] Flags: secure-read needs a pairing with MITM");
  /* Nobody could bond, and nobody without a bond may connect. */
  assert_error ("[Security]\nAllowedCentrals=bonded\n",
                "ble-peripheral.conf: [Security] AllowedCentrals: bonded with Pairing=off and no PairingWindow can "
                "never work: no central could bond through the daemon, and none without a bond may connect (set "
                "Pairing=just-works, display or confirm)");

  /* encrypt-* with Pairing=off loads, with a warning naming the characteristic. */
  {
    g_autoptr (BpConfig) c = load (BASE CHAR_HEAD "Flags=read,encrypt-write\n");
    assert_int_equal (c->warnings->len, 1);
    assert_string_equal (g_ptr_array_index (c->warnings, 0),
                         "ble-peripheral.conf: [Characteristic env/c] Flags: encrypt-write needs a paired central, "
                         "but [Security] Pairing=off: no central can use it unless another program is bluetoothd's "
                         "default agent (set Pairing=just-works, display or confirm)");
  }
  {
    g_autoptr (BpConfig) c = load (BASE "[Security]\nPairing=off\nPairingWindow=1min\nAllowedCentrals=bonded\n");
    assert_int_equal (c->warnings->len, 0);
  }
  {
    g_autoptr (BpConfig) c = load (BASE "[Security]\nPairingWindow=1min\n");
    assert_int_equal (c->warnings->len, 1);
    assert_non_null (strstr (g_ptr_array_index (c->warnings, 0), "[Security] PairingWindow: has no effect"));
  }
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_flag_names),
    cmocka_unit_test (test_default_text),
    cmocka_unit_test (test_default_file_matches),
    cmocka_unit_test (test_examples_load),
    cmocka_unit_test_setup_teardown (test_missing_file, tmpdir_setup, tmpdir_teardown),
    cmocka_unit_test (test_peripheral_keys),
    cmocka_unit_test (test_control_keys),
    cmocka_unit_test (test_service_keys),
    cmocka_unit_test (test_characteristic_keys),
    cmocka_unit_test (test_characteristic_formats),
    cmocka_unit_test (test_descriptor_keys),
    cmocka_unit_test (test_advertising_keys),
    cmocka_unit_test (test_advertising_interval),
    cmocka_unit_test (test_durations),
    cmocka_unit_test (test_numbers),
    cmocka_unit_test (test_unknown_groups_and_keys),
    cmocka_unit_test (test_characteristic_refusals),
    cmocka_unit_test (test_impossible_combinations),
    cmocka_unit_test (test_value_limits),
    cmocka_unit_test (test_services_entries),
    cmocka_unit_test (test_advertising_data_mapping),
    cmocka_unit_test (test_advertising_size),
    cmocka_unit_test (test_syntax_errors),
    cmocka_unit_test (test_truncated_and_garbage),
    cmocka_unit_test_setup_teardown (test_drop_ins, tmpdir_setup, tmpdir_teardown),
    cmocka_unit_test_setup_teardown (test_drop_in_errors, tmpdir_setup, tmpdir_teardown),
    cmocka_unit_test (test_find_characteristic),
    cmocka_unit_test (test_describe),
    cmocka_unit_test (test_security_keys),
    cmocka_unit_test (test_security_combinations),
    cmocka_unit_test (test_acquire_sockets),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
