/* The stand-in bluetoothd checked on its own: an application written here,
 * on its own bus connection, registers with it, and the tests assert that
 * the stand-in calls, checks, refuses and records as BlueZ 5.66 does. The
 * daemon's integration tests rely on all of this. */
#define G_LOG_DOMAIN "test-fake-bluez"

#include <glib/gstdio.h>
#include <string.h>

#include "fake-bluez.h"
#include "harness.h"

#define APP_PATH "/test/app"
#define SERVICE_PATH APP_PATH "/service0"
#define CHAR_PATH SERVICE_PATH "/char0"
#define WWR_PATH SERVICE_PATH "/char1"
#define DESC_PATH CHAR_PATH "/desc0"
#define ADV_PATH "/test/adv0"

static const char app_xml[] =
  "<node>"
  " <interface name='org.freedesktop.DBus.ObjectManager'>"
  "  <method name='GetManagedObjects'><arg type='a{oa{sa{sv}}}' direction='out'/></method>"
  " </interface>"
  " <interface name='org.bluez.GattService1'/>"
  " <interface name='org.bluez.GattCharacteristic1'>"
  "  <method name='ReadValue'><arg type='a{sv}' direction='in'/><arg type='ay' direction='out'/></method>"
  "  <method name='WriteValue'><arg type='ay' direction='in'/><arg type='a{sv}' direction='in'/></method>"
  "  <method name='StartNotify'/><method name='StopNotify'/><method name='Confirm'/>"
  " </interface>"
  " <interface name='org.bluez.GattDescriptor1'>"
  "  <method name='ReadValue'><arg type='a{sv}' direction='in'/><arg type='ay' direction='out'/></method>"
  "  <method name='WriteValue'><arg type='ay' direction='in'/><arg type='a{sv}' direction='in'/></method>"
  " </interface>"
  " <interface name='org.bluez.LEAdvertisement1'>"
  "  <method name='Release'/>"
  "  <property name='Type' type='s' access='read'/>"
  "  <property name='LocalName' type='s' access='read'/>"
  "  <property name='ServiceUUIDs' type='as' access='read'/>"
  "  <property name='ManufacturerData' type='a{qv}' access='read'/>"
  "  <property name='Appearance' type='q' access='read'/>"
  "  <property name='Discoverable' type='b' access='read'/>"
  "  <property name='Timeout' type='q' access='read'/>"
  "  <property name='Includes' type='as' access='read'/>"
  " </interface>"
  "</node>";

/* What the test application received. */
typedef struct {
  char *method;
  char *path;
  GVariant *params;
  GDBusMessageFlags flags;
} AppCall;

typedef struct {
  char *dir;
  BpBus *bus;
  FakeBluez *fb;
  GDBusConnection *conn; /* the application's connection */
  GDBusNodeInfo *info;
  GArray *ids;
  guint adv_id;
  GVariant *objects;      /* what GetManagedObjects returns */
  GVariant *adv_props;    /* a{sv} of the advertisement */
  GByteArray *value;      /* of CHAR_PATH */
  const char *read_error; /* a D-Bus error name ReadValue answers with */
  gboolean read_silent;   /* ReadValue is never answered */
  GPtrArray *held;        /* of GDBusMethodInvocation*, unanswered */
  GPtrArray *calls;       /* of AppCall* */
  gboolean done;
  GVariant *reply;
  GError *error;
} Fixture;

static void
app_call_free (AppCall *c)
{
  g_free (c->method);
  g_free (c->path);
  g_variant_unref (c->params);
  g_free (c);
}

static guint
count_calls (Fixture *f, const char *method)
{
  guint n = 0;

  for (guint i = 0; i < f->calls->len; i++)
    if (g_str_equal (((AppCall *) g_ptr_array_index (f->calls, i))->method, method))
      n++;
  return n;
}

static AppCall *
last_call (Fixture *f, const char *method)
{
  for (guint i = f->calls->len; i > 0; i--)
    {
      AppCall *c = g_ptr_array_index (f->calls, i - 1);
      if (g_str_equal (c->method, method))
        return c;
    }
  return NULL;
}

static void
app_method_cb (GDBusConnection *conn, const char *sender, const char *path, const char *iface, const char *method,
               GVariant *params, GDBusMethodInvocation *invocation, gpointer data)
{
  Fixture *f = data;
  AppCall *c = g_new0 (AppCall, 1);

  c->method = g_strdup (method);
  c->path = g_strdup (path);
  c->params = g_variant_ref (params);
  c->flags = g_dbus_message_get_flags (g_dbus_method_invocation_get_message (invocation));
  g_ptr_array_add (f->calls, c);

  if (g_str_equal (method, "GetManagedObjects"))
    g_dbus_method_invocation_return_value (invocation, g_variant_new ("(@a{oa{sa{sv}}})", f->objects));
  else if (g_str_equal (method, "ReadValue"))
    {
      g_autoptr (GVariant) options = g_variant_get_child_value (params, 0);
      guint16 offset = 0;

      g_variant_lookup (options, "offset", "q", &offset);
      if (f->read_silent)
        g_ptr_array_add (f->held, invocation);
      else if (f->read_error != NULL)
        g_dbus_method_invocation_return_dbus_error (invocation, f->read_error, "refused by the test");
      else if (offset > f->value->len)
        g_dbus_method_invocation_return_dbus_error (invocation, "org.bluez.Error.InvalidOffset", "Invalid offset");
      else
        g_dbus_method_invocation_return_value (
          invocation, g_variant_new ("(@ay)", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, f->value->data + offset,
                                                                         f->value->len - offset, 1)));
    }
  else if (g_str_equal (method, "WriteValue"))
    {
      gsize len;
      g_autoptr (GVariant) bytes = g_variant_get_child_value (params, 0);
      const guint8 *data8 = g_variant_get_fixed_array (bytes, &len, 1);

      g_byte_array_set_size (f->value, 0);
      g_byte_array_append (f->value, data8, len);
      g_dbus_method_invocation_return_value (invocation, NULL);
    }
  else
    {
      /* StartNotify, StopNotify, Confirm, Release: no reply expected, and
       * none is sent; the invocation is just dropped. */
      g_object_unref (invocation);
    }
}

static GVariant *
app_get_property_cb (GDBusConnection *conn, const char *sender, const char *path, const char *iface, const char *name,
                     GError **error, gpointer data)
{
  Fixture *f = data;
  GVariant *v = f->adv_props ? g_variant_lookup_value (f->adv_props, name, NULL) : NULL;

  if (v == NULL)
    g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, "no %s", name);
  return v;
}

static const GDBusInterfaceVTable app_vtable = { app_method_cb, app_get_property_cb, NULL, { 0 } };

static void
app_export (Fixture *f, const char *path, const char *iface)
{
  g_autoptr (GError) error = NULL;
  guint id = g_dbus_connection_register_object (f->conn, path, g_dbus_node_info_lookup_interface (f->info, iface),
                                                &app_vtable, f, NULL, &error);

  g_assert_no_error (error);
  g_array_append_val (f->ids, id);
}

/* Exports objects (a{oa{sa{sv}}}, floating is fine) under an ObjectManager at APP_PATH. */
static void
app_set_objects (Fixture *f, GVariant *objects)
{
  GVariantIter iter;
  const char *path;
  GVariant *ifaces;

  for (guint i = 0; i < f->ids->len; i++)
    g_dbus_connection_unregister_object (f->conn, g_array_index (f->ids, guint, i));
  g_array_set_size (f->ids, 0);
  g_clear_pointer (&f->objects, g_variant_unref);
  f->objects = g_variant_ref_sink (objects);
  app_export (f, APP_PATH, "org.freedesktop.DBus.ObjectManager");
  g_variant_iter_init (&iter, f->objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &ifaces))
    {
      GVariantIter iiter;
      const char *iface;

      g_variant_iter_init (&iiter, ifaces);
      while (g_variant_iter_next (&iiter, "{&s@a{sv}}", &iface, NULL))
        if (g_dbus_node_info_lookup_interface (f->info, iface) != NULL)
          app_export (f, path, iface);
      g_variant_unref (ifaces);
    }
}

static GVariant *
props_service (const char *uuid)
{
  return g_variant_new_parsed ("{'org.bluez.GattService1': {'UUID': <%s>, 'Primary': <true>}}", uuid);
}

static GVariant *
props_characteristic (const char *uuid, const char *service, const char *const *flags)
{
  return g_variant_new_parsed ("{'org.bluez.GattCharacteristic1': {'UUID': <%s>, 'Service': <%o>, 'Flags': <%^as>}}",
                               uuid, service, flags);
}

static GVariant *
props_descriptor (const char *uuid, const char *chr, const char *const *flags)
{
  return g_variant_new_parsed ("{'org.bluez.GattDescriptor1': {'UUID': <%s>, 'Characteristic': <%o>, 'Flags': <%^as>}}",
                               uuid, chr, flags);
}

/* A service, a read/write/notify characteristic with a 0x2901 descriptor,
 * and a write-without-response characteristic. */
static GVariant *
good_objects (void)
{
  const char *rwn[] = { "read", "write", "notify", "indicate", NULL };
  const char *wwr[] = { "write-without-response", NULL };
  const char *r[] = { "read", NULL };
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{oa{sa{sv}}}"));
  g_variant_builder_add (&b, "{o@a{sa{sv}}}", SERVICE_PATH, props_service ("0x181A"));
  g_variant_builder_add (&b, "{o@a{sa{sv}}}", CHAR_PATH, props_characteristic ("2a6e", SERVICE_PATH, rwn));
  g_variant_builder_add (&b, "{o@a{sa{sv}}}", WWR_PATH,
                         props_characteristic ("12345678-1234-5678-1234-56789abcdef0", SERVICE_PATH, wwr));
  g_variant_builder_add (&b, "{o@a{sa{sv}}}", DESC_PATH,
                         props_descriptor ("00002901-0000-1000-8000-00805f9b34fb", CHAR_PATH, r));
  return g_variant_builder_end (&b);
}

static void
done_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  Fixture *f = data;

  f->reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &f->error);
  f->done = TRUE;
}

/* Calls org.bluez from the application, asynchronously (the stand-in calls
 * back meanwhile); returns TRUE on success, else f->error is set. */
static gboolean
app_call_bluez (Fixture *f, const char *path, const char *iface, const char *method, GVariant *params)
{
  g_clear_error (&f->error);
  g_clear_pointer (&f->reply, g_variant_unref);
  f->done = FALSE;
  g_dbus_connection_call (f->conn, "org.bluez", path, iface, method, params, NULL, G_DBUS_CALL_FLAGS_NONE, 5000, NULL,
                          done_cb, f);
  g_assert_true (FAKE_WAIT_UNTIL (f->done, 8000));
  return f->error == NULL;
}

static gboolean
register_application (Fixture *f)
{
  return app_call_bluez (f, FAKE_BLUEZ_ADAPTER_PATH, "org.bluez.GattManager1", "RegisterApplication",
                         g_variant_new ("(oa{sv})", APP_PATH, NULL));
}

static gboolean
register_advertisement (Fixture *f, GVariant *props)
{
  g_autoptr (GError) error = NULL;

  if (f->adv_id == 0)
    f->adv_id = g_dbus_connection_register_object (
      f->conn, ADV_PATH, g_dbus_node_info_lookup_interface (f->info, "org.bluez.LEAdvertisement1"), &app_vtable, f,
      NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&f->adv_props, g_variant_unref);
  f->adv_props = g_variant_ref_sink (props);
  return app_call_bluez (f, FAKE_BLUEZ_ADAPTER_PATH, "org.bluez.LEAdvertisingManager1", "RegisterAdvertisement",
                         g_variant_new ("(oa{sv})", ADV_PATH, NULL));
}

static void
setup (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;

  f->dir = g_dir_make_tmp ("bp-fake-XXXXXX", &error);
  g_assert_no_error (error);
  f->bus = bp_bus_start (f->dir, &error);
  g_assert_no_error (error);
  f->fb = fake_bluez_new (bp_bus_get_address (f->bus), GPOINTER_TO_UINT (data));
  g_assert_true (fake_bluez_start (f->fb, &error));
  g_assert_no_error (error);
  f->conn = g_dbus_connection_new_for_address_sync (
    bp_bus_get_address (f->bus),
    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
  g_assert_no_error (error);
  f->info = g_dbus_node_info_new_for_xml (app_xml, &error);
  g_assert_no_error (error);
  f->ids = g_array_new (FALSE, FALSE, sizeof (guint));
  f->calls = g_ptr_array_new_with_free_func ((GDestroyNotify) app_call_free);
  f->value = g_byte_array_new ();
  f->held = g_ptr_array_new_with_free_func (g_object_unref);
}

static void
teardown (Fixture *f, gconstpointer data)
{
  g_autofree char *bus_file = g_build_filename (f->dir, "bus", NULL);
  g_autofree char *conf_file = g_build_filename (f->dir, "bus.conf", NULL);

  if (f->conn != NULL)
    {
      for (guint i = 0; i < f->ids->len; i++)
        g_dbus_connection_unregister_object (f->conn, g_array_index (f->ids, guint, i));
      g_dbus_connection_close_sync (f->conn, NULL, NULL);
      g_clear_object (&f->conn);
    }
  g_clear_pointer (&f->fb, fake_bluez_free);
  g_clear_pointer (&f->bus, bp_bus_free);
  g_array_unref (f->ids);
  g_ptr_array_unref (f->calls);
  g_byte_array_unref (f->value);
  g_ptr_array_unref (f->held);
  g_clear_pointer (&f->objects, g_variant_unref);
  g_clear_pointer (&f->adv_props, g_variant_unref);
  g_dbus_node_info_unref (f->info);
  g_clear_error (&f->error);
  g_clear_pointer (&f->reply, g_variant_unref);
  g_unlink (bus_file);
  g_unlink (conf_file);
  g_rmdir (f->dir);
  g_free (f->dir);
}

/* --- the tests ----------------------------------------------------------------- */

static void
test_adapter (Fixture *f, gconstpointer data)
{
  g_autoptr (GVariant) objects = NULL;
  g_autoptr (GVariant) adapter = NULL;
  const char *address = NULL;
  gboolean powered = FALSE;

  g_assert_true (app_call_bluez (f, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL));
  objects = g_variant_get_child_value (f->reply, 0);
  g_assert_true (g_variant_lookup (objects, FAKE_BLUEZ_ADAPTER_PATH, "@a{sa{sv}}", &adapter));
  g_assert_true (g_variant_lookup (adapter, "org.bluez.GattManager1", "@a{sv}", NULL));
  g_assert_true (g_variant_lookup (adapter, "org.bluez.LEAdvertisingManager1", "@a{sv}", NULL));
  {
    g_autoptr (GVariant) props = g_variant_lookup_value (adapter, "org.bluez.Adapter1", NULL);
    g_autoptr (GVariant) adv = g_variant_lookup_value (adapter, "org.bluez.LEAdvertisingManager1", NULL);
    g_assert_true (g_variant_lookup (props, "Address", "&s", &address));
    g_assert_cmpstr (address, ==, FAKE_BLUEZ_ADAPTER_ADDRESS);
    g_assert_true (g_variant_lookup (props, "Powered", "b", &powered));
    g_assert_true (powered);
    g_assert_true (g_variant_lookup (adv, "SupportedIncludes", "^a&s", NULL));
    /* SupportedFeatures only with -E */
    g_assert_cmpint (g_variant_lookup (adv, "SupportedFeatures", "^a&s", NULL), ==,
                     GPOINTER_TO_UINT (data) & FAKE_BLUEZ_FLAGS_EXPERIMENTAL ? TRUE : FALSE);
  }

  /* Powered is settable through Properties.Set. */
  g_assert_true (
    app_call_bluez (f, FAKE_BLUEZ_ADAPTER_PATH, "org.freedesktop.DBus.Properties", "Set",
                    g_variant_new ("(ssv)", "org.bluez.Adapter1", "Powered", g_variant_new_boolean (FALSE))));
  g_assert_false (fake_bluez_get_powered (f->fb));
  g_assert_cmpuint (fake_bluez_get_n_adapter_sets (f->fb, "Powered"), ==, 1);

  /* The adapter goes and comes back. */
  fake_bluez_remove_adapter (f->fb);
  g_assert_false (fake_bluez_has_adapter (f->fb));
  g_assert_false (app_call_bluez (f, FAKE_BLUEZ_ADAPTER_PATH, "org.bluez.GattManager1", "RegisterApplication",
                                  g_variant_new ("(oa{sv})", APP_PATH, NULL)));
  fake_bluez_add_adapter (f->fb);
  g_assert_true (fake_bluez_has_adapter (f->fb));
}

static void
test_register_application (Fixture *f, gconstpointer data)
{
  FakeApplication *app;
  FakeGattCharacteristic *chr;
  FakeGattDescriptor *desc;
  AppCall *gmo;

  app_set_objects (f, good_objects ());
  g_assert_true (register_application (f));
  /* GetManagedObjects at exactly the registered path, before the reply. */
  gmo = last_call (f, "GetManagedObjects");
  g_assert_nonnull (gmo);
  g_assert_cmpstr (gmo->path, ==, APP_PATH);

  app = fake_bluez_get_active_application (f->fb);
  g_assert_nonnull (app);
  g_assert_cmpstr (app->path, ==, APP_PATH);
  g_assert_cmpstr (app->sender, ==, g_dbus_connection_get_unique_name (f->conn));
  g_assert_cmpuint (app->services->len, ==, 1);
  g_assert_nonnull (fake_application_find_service (app, "181a"));
  g_assert_cmpuint (app->characteristics->len, ==, 2);
  chr = fake_application_find_characteristic (app, "0x2A6E");
  g_assert_nonnull (chr);
  g_assert_cmpstr (chr->path, ==, CHAR_PATH);
  g_assert_cmpstr (chr->service_path, ==, SERVICE_PATH);
  g_assert_true (fake_characteristic_has_flag (chr, "notify"));
  g_assert_false (chr->write_without_response);
  g_assert_true (
    fake_application_find_characteristic (app, "12345678-1234-5678-1234-56789ABCDEF0")->write_without_response);
  desc = fake_application_find_descriptor (app, CHAR_PATH, "2901");
  g_assert_nonnull (desc);
  g_assert_cmpstr (desc->path, ==, DESC_PATH);

  /* The same path again from the same sender. */
  g_assert_false (register_application (f));
  fake_assert_dbus_error (f->error, "org.bluez.Error.AlreadyExists");
  g_assert_true (fake_bluez_get_active_application (f->fb) == app);

  g_assert_true (app_call_bluez (f, FAKE_BLUEZ_ADAPTER_PATH, "org.bluez.GattManager1", "UnregisterApplication",
                                 g_variant_new ("(o)", APP_PATH)));
  g_assert_null (fake_bluez_get_active_application (f->fb));
  g_assert_cmpint (app->state, ==, FAKE_REGISTRATION_UNREGISTERED);
  g_assert_false (app_call_bluez (f, FAKE_BLUEZ_ADAPTER_PATH, "org.bluez.GattManager1", "UnregisterApplication",
                                  g_variant_new ("(o)", APP_PATH)));
  fake_assert_dbus_error (f->error, "org.bluez.Error.DoesNotExist");

  /* Registering again works and is recorded as a new registration. */
  g_assert_true (register_application (f));
  g_assert_cmpuint (fake_bluez_get_active_application (f->fb)->serial, ==, 3);
}

typedef struct {
  const char *name;
  const char *message;
} Refusal;

static void
assert_refused (Fixture *f, GVariant *objects, const char *message)
{
  FakeApplication *app;

  app_set_objects (f, objects);
  g_assert_false (register_application (f));
  fake_assert_dbus_error (f->error, "org.bluez.Error.Failed");
  g_assert_nonnull (strstr (f->error->message, message));
  g_assert_null (fake_bluez_get_active_application (f->fb));
  app = g_ptr_array_index (fake_bluez_get_applications (f->fb), fake_bluez_get_applications (f->fb)->len - 1);
  g_assert_cmpint (app->state, ==, FAKE_REGISTRATION_FAILED);
  g_assert_cmpstr (app->error_message, ==, message);
}

static void
test_refused_applications (Fixture *f, gconstpointer data)
{
  const char *r[] = { "read", NULL };
  const char *unknown[] = { "read", "shout", NULL };
  const char *empty_flag[] = { "", NULL };
  const char *none[] = { NULL };
  const char *desc_notify[] = { "notify", NULL };

  /* Nothing at the path. */
  assert_refused (f, g_variant_new_parsed ("@a{oa{sa{sv}}} {}"), "No object received");
  /* A characteristic with an unknown flag, an empty flag, no flags. */
  assert_refused (f,
                  g_variant_new_parsed ("{%o: %*, %o: %*}", SERVICE_PATH, props_service ("180a"), CHAR_PATH,
                                        props_characteristic ("2a00", SERVICE_PATH, unknown)),
                  "No valid service object found");
  assert_refused (f,
                  g_variant_new_parsed ("{%o: %*, %o: %*}", SERVICE_PATH, props_service ("180a"), CHAR_PATH,
                                        props_characteristic ("2a00", SERVICE_PATH, empty_flag)),
                  "No valid service object found");
  assert_refused (f,
                  g_variant_new_parsed ("{%o: %*, %o: %*}", SERVICE_PATH, props_service ("180a"), CHAR_PATH,
                                        props_characteristic ("2a00", SERVICE_PATH, none)),
                  "No valid service object found");
  /* A characteristic whose Service is not a service. */
  assert_refused (f,
                  g_variant_new_parsed ("{%o: %*, %o: %*}", SERVICE_PATH, props_service ("180a"), CHAR_PATH,
                                        props_characteristic ("2a00", "/elsewhere", r)),
                  "No valid service object found");
  /* A descriptor whose Characteristic is not one, or with a characteristic-only flag. */
  assert_refused (f,
                  g_variant_new_parsed ("{%o: %*, %o: %*, %o: %*}", SERVICE_PATH, props_service ("180a"), CHAR_PATH,
                                        props_characteristic ("2a00", SERVICE_PATH, r), DESC_PATH,
                                        props_descriptor ("2901", SERVICE_PATH, r)),
                  "No valid service object found");
  assert_refused (f,
                  g_variant_new_parsed ("{%o: %*, %o: %*, %o: %*}", SERVICE_PATH, props_service ("180a"), CHAR_PATH,
                                        props_characteristic ("2a00", SERVICE_PATH, r), DESC_PATH,
                                        props_descriptor ("2901", CHAR_PATH, desc_notify)),
                  "No valid service object found");
  /* A CCCD of the application's own. */
  assert_refused (f,
                  g_variant_new_parsed ("{%o: %*, %o: %*, %o: %*}", SERVICE_PATH, props_service ("180a"), CHAR_PATH,
                                        props_characteristic ("2a00", SERVICE_PATH, r), DESC_PATH,
                                        props_descriptor ("0x2902", CHAR_PATH, r)),
                  "Failed to create entry in database");
  /* Bad UUIDs, and the GATT service that is bluetoothd's. */
  assert_refused (f, g_variant_new_parsed ("{%o: %*}", SERVICE_PATH, props_service ("18")),
                  "Failed to create entry in database");
  assert_refused (f,
                  g_variant_new_parsed ("{%o: %*, %o: %*}", SERVICE_PATH, props_service ("180a"), CHAR_PATH,
                                        props_characteristic ("not-a-uuid", SERVICE_PATH, r)),
                  "Failed to create entry in database");
  assert_refused (f, g_variant_new_parsed ("{%o: %*}", SERVICE_PATH, props_service ("1801")),
                  "Failed to create entry in database");
  /* A service without Primary. */
  assert_refused (f, g_variant_new_parsed ("{%o: {'org.bluez.GattService1': {'UUID': <'180a'>}}}", SERVICE_PATH),
                  "Failed to create entry in database");
  g_assert_cmpuint (fake_bluez_count_applications (f->fb, FAKE_REGISTRATION_FAILED), ==, 12);
}

static void
test_read_write (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) value = NULL;
  g_autoptr (GVariant) options = NULL;
  const char *dev;
  AppCall *c;
  guint n_calls = 0;
  guint16 mtu = 0, offset = 0;
  const char *link = NULL, *device = NULL;
  guint8 big[300];

  app_set_objects (f, good_objects ());
  g_assert_true (register_application (f));
  dev = fake_bluez_add_device (f->fb, FAKE_BLUEZ_CENTRAL_ADDRESS, 23);
  g_assert_cmpstr (dev, ==, FAKE_BLUEZ_ADAPTER_PATH "/dev_00_AA_01_01_00_01");
  for (guint i = 0; i < sizeof big; i++)
    big[i] = i * 7 + 3;
  g_byte_array_append (f->value, big, sizeof big);

  /* Offset 0: no "offset" option; device, link and mtu always. */
  value = fake_bluez_read_value (f->fb, CHAR_PATH, dev, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (value), ==, sizeof big);
  c = last_call (f, "ReadValue");
  options = g_variant_get_child_value (c->params, 0);
  g_assert_false (g_variant_lookup (options, "offset", "q", &offset));
  g_assert_true (g_variant_lookup (options, "device", "&o", &device));
  g_assert_cmpstr (device, ==, dev);
  g_assert_true (g_variant_lookup (options, "link", "&s", &link));
  g_assert_cmpstr (link, ==, "LE");
  g_assert_true (g_variant_lookup (options, "mtu", "q", &mtu));
  g_assert_cmpuint (mtu, ==, 23);
  g_assert_false (g_variant_lookup (options, "type", "&s", NULL));
  g_clear_pointer (&value, g_bytes_unref);
  g_clear_pointer (&options, g_variant_unref);

  /* A long read in MTU-1 = 22-byte blobs: 14 ReadValue calls, the value whole. */
  value = fake_bluez_read_long (f->fb, CHAR_PATH, dev, &n_calls, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (n_calls, ==, 14);
  g_assert_cmpmem (g_bytes_get_data (value, NULL), g_bytes_get_size (value), big, sizeof big);
  c = last_call (f, "ReadValue");
  options = g_variant_get_child_value (c->params, 0);
  g_assert_true (g_variant_lookup (options, "offset", "q", &offset));
  g_assert_cmpuint (offset, ==, 13 * 22);
  g_clear_pointer (&value, g_bytes_unref);

  /* Errors come back with their D-Bus name, mapped to ATT codes. */
  value = fake_bluez_read_value (f->fb, CHAR_PATH, dev, 301, &error);
  g_assert_null (value);
  fake_assert_dbus_error (error, "org.bluez.Error.InvalidOffset");
  g_assert_cmpuint (fake_error_to_att (error, FALSE), ==, 0x07);
  g_clear_error (&error);
  f->read_error = "org.bluez.Error.NotPermitted";
  g_assert_null (fake_bluez_read_value (f->fb, CHAR_PATH, dev, 0, &error));
  fake_assert_dbus_error (error, "org.bluez.Error.NotPermitted");
  g_assert_cmpuint (fake_error_to_att (error, FALSE), ==, 0x02);
  g_assert_cmpuint (fake_error_to_att (error, TRUE), ==, 0x03);
  g_clear_error (&error);
  f->read_error = NULL;

  /* A write with a reply expected. */
  g_assert_true (fake_bluez_write_value (f->fb, CHAR_PATH, dev, 0, "\x01\x02", 2, &error));
  g_assert_no_error (error);
  c = last_call (f, "WriteValue");
  g_assert_false (c->flags & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);
  g_assert_cmpmem (f->value->data, f->value->len, "\x01\x02", 2);

  /* write-without-response: sent with no reply expected. */
  g_assert_true (fake_bluez_write_value (f->fb, WWR_PATH, dev, 0, "\x09", 1, &error));
  g_assert_no_error (error);
  g_assert_true (FAKE_WAIT_UNTIL (count_calls (f, "WriteValue") == 2, BP_WAIT_MS));
  c = last_call (f, "WriteValue");
  g_assert_cmpstr (c->path, ==, WWR_PATH);
  g_assert_true (c->flags & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);

  /* A long write: one WriteValue per MTU-5 chunk, each with its offset. */
  g_assert_true (fake_bluez_write_long (f->fb, CHAR_PATH, dev, big, 40, &error));
  g_assert_cmpuint (count_calls (f, "WriteValue"), ==, 5);
  c = last_call (f, "WriteValue");
  g_clear_pointer (&options, g_variant_unref);
  options = g_variant_get_child_value (c->params, 1);
  g_assert_true (g_variant_lookup (options, "offset", "q", &offset));
  g_assert_cmpuint (offset, ==, 36);
}

/* An application that does not answer: bluetoothd gives up after 5 s and
 * answers the central with ATT 0x0E. */
static void
test_read_timeout (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) value = NULL;
  gint64 start;

  app_set_objects (f, good_objects ());
  g_assert_true (register_application (f));
  f->read_silent = TRUE;
  start = g_get_monotonic_time ();
  value = fake_bluez_read_value (f->fb, CHAR_PATH, NULL, 0, &error);
  g_assert_null (value);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
  g_assert_cmpuint (fake_error_to_att (error, FALSE), ==, 0x0e);
  g_assert_cmpint (g_get_monotonic_time () - start, >=, (FAKE_BLUEZ_CALL_TIMEOUT_MS - 100) * 1000);
  g_assert_cmpuint (f->held->len, ==, 1);
}

static void
test_notify_calls (Fixture *f, gconstpointer data)
{
  const char *dev1, *dev2;

  app_set_objects (f, good_objects ());
  g_assert_true (register_application (f));
  dev1 = fake_bluez_add_device (f->fb, "00:AA:01:01:00:01", 185);
  dev2 = fake_bluez_add_device (f->fb, "00:AA:01:01:00:02", 185);
  fake_bluez_set_connected (f->fb, dev1, TRUE);
  fake_bluez_set_connected (f->fb, dev2, TRUE);

  /* StartNotify for each central that subscribes, StopNotify when the last leaves. */
  fake_bluez_subscribe (f->fb, dev1, CHAR_PATH, TRUE);
  fake_bluez_subscribe (f->fb, dev2, CHAR_PATH, TRUE);
  g_assert_true (FAKE_WAIT_UNTIL (count_calls (f, "StartNotify") == 2, BP_WAIT_MS));
  fake_bluez_subscribe (f->fb, dev1, CHAR_PATH, FALSE);
  fake_bluez_confirm (f->fb, CHAR_PATH);
  g_assert_true (FAKE_WAIT_UNTIL (count_calls (f, "Confirm") == 1, BP_WAIT_MS));
  g_assert_cmpuint (count_calls (f, "StopNotify"), ==, 0);
  /* A disconnection unsubscribes the central. */
  fake_bluez_set_connected (f->fb, dev2, FALSE);
  g_assert_true (FAKE_WAIT_UNTIL (count_calls (f, "StopNotify") == 1, BP_WAIT_MS));
  for (guint i = 0; i < f->calls->len; i++)
    {
      AppCall *c = g_ptr_array_index (f->calls, i);
      if (g_str_equal (c->method, "StartNotify") || g_str_equal (c->method, "StopNotify") ||
          g_str_equal (c->method, "Confirm"))
        g_assert_true (c->flags & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);
    }
}

static void
test_signals (Fixture *f, gconstpointer data)
{
  GPtrArray *signals;

  app_set_objects (f, good_objects ());
  g_assert_true (register_application (f));
  for (guint i = 0; i < 100; i++)
    {
      guint8 v[2] = { i, i >> 8 };
      g_dbus_connection_emit_signal (
        f->conn, NULL, CHAR_PATH, "org.freedesktop.DBus.Properties", "PropertiesChanged",
        g_variant_new_parsed ("('org.bluez.GattCharacteristic1', {'Value': <%@ay>}, @as [])",
                              g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, v, 2, 1)),
        NULL);
    }
  g_dbus_connection_emit_signal (f->conn, NULL, CHAR_PATH, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                 g_variant_new_parsed ("('org.bluez.GattCharacteristic1', "
                                                       "{'Value': <@ay [1]>, 'Notifying': <true>}, @as [])"),
                                 NULL);
  g_assert_true (FAKE_WAIT_UNTIL (fake_bluez_get_n_signals (f->fb) == 101, BP_WAIT_MS));
  signals = fake_bluez_get_signals (f->fb);
  for (guint i = 0; i < 100; i++)
    {
      FakeSignal *s = g_ptr_array_index (signals, i);
      guint8 v[2] = { i, i >> 8 };
      g_assert_cmpuint (s->index, ==, i);
      g_assert_cmpstr (s->path, ==, CHAR_PATH);
      g_assert_cmpstr (s->interface, ==, "org.bluez.GattCharacteristic1");
      g_assert_cmpmem (g_bytes_get_data (s->value, NULL), g_bytes_get_size (s->value), v, 2);
      g_assert_false (s->other_properties);
    }
  g_assert_true (((FakeSignal *) g_ptr_array_index (signals, 100))->other_properties);
  g_assert_cmpuint (fake_bluez_count_value_signals (f->fb, CHAR_PATH), ==, 101);
}

static void
test_advertisement (Fixture *f, gconstpointer data)
{
  FakeAdvertisement *adv;
  g_autoptr (GVariant) name = NULL;

  app_set_objects (f, good_objects ());

  /* No Type: bluetoothd takes it for a broadcast. */
  g_assert_true (register_advertisement (f, g_variant_new_parsed ("{'LocalName': <'x'>}")));
  adv = fake_bluez_get_active_advertisement (f->fb);
  g_assert_nonnull (adv);
  g_assert_true (adv->type_missing);
  g_assert_cmpstr (adv->type, ==, "broadcast");
  name = fake_advertisement_get (adv, "LocalName");
  g_assert_cmpstr (g_variant_get_string (name, NULL), ==, "x");
  g_assert_null (last_call (f, "GetManagedObjects"));
  g_assert_true (register_advertisement (f, g_variant_new_parsed ("{'Type': <'peripheral'>}")) == FALSE);
  fake_assert_dbus_error (f->error, "org.bluez.Error.AlreadyExists");
  g_assert_true (app_call_bluez (f, FAKE_BLUEZ_ADAPTER_PATH, "org.bluez.LEAdvertisingManager1",
                                 "UnregisterAdvertisement", g_variant_new ("(o)", ADV_PATH)));
  g_assert_null (fake_bluez_get_active_advertisement (f->fb));
  g_assert_cmpuint (fake_bluez_get_n_unregister_advertisement (f->fb), ==, 1);

  /* A broadcast may not set the discoverable flags. */
  g_assert_false (register_advertisement (f, g_variant_new_parsed ("{'Type': <'broadcast'>, 'Discoverable': <true>}")));
  fake_assert_dbus_error (f->error, "org.bluez.Error.Failed");
  g_assert_nonnull (strstr (f->error->message, "Failed to parse advertisement."));

  /* 3 (flags) + 4 (appearance) + 2+2+21 (manufacturer data) = 32 > 31. */
  g_assert_false (register_advertisement (
    f, g_variant_new_parsed ("{'Type': <'peripheral'>, 'Discoverable': <true>, 'Appearance': <@q 0x540>, "
                             "'ManufacturerData': <@a{qv} {0xffff: <@ay [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,"
                             "18,19,20,21]>}>}")));
  fake_assert_dbus_error (f->error, "org.bluez.Error.Failed");
  g_assert_nonnull (strstr (f->error->message, "Failed to register advertisement"));
  /* One byte less fits. */
  g_assert_true (register_advertisement (
    f, g_variant_new_parsed ("{'Type': <'peripheral'>, 'Discoverable': <true>, 'Appearance': <@q 0x540>, "
                             "'ManufacturerData': <@a{qv} {0xffff: <@ay [1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,"
                             "18,19,20]>}>, 'LocalName': <'a long name that will not fit in 31 bytes'>}")));
  adv = fake_bluez_get_active_advertisement (f->fb);
  g_assert_cmpuint (adv->adv_data_len, ==, 31);
  g_assert_cmpuint (adv->scan_rsp_len, ==, 31);
  g_assert_cmpstr (adv->type, ==, "peripheral");
  g_assert_true (adv->broadcasting);

  /* A connection stops the connectable set; the disconnection resumes it. */
  {
    const char *dev = fake_bluez_add_device (f->fb, FAKE_BLUEZ_CENTRAL_ADDRESS, 0);
    fake_bluez_set_connected (f->fb, dev, TRUE);
    g_assert_false (adv->broadcasting);
    fake_bluez_set_connected (f->fb, dev, FALSE);
    g_assert_true (adv->broadcasting);
  }
}

static void
test_advertisement_timeout (Fixture *f, gconstpointer data)
{
  FakeAdvertisement *adv;

  g_assert_true (register_advertisement (f, g_variant_new_parsed ("{'Type': <'peripheral'>, 'Timeout': <@q 1>}")));
  adv = fake_bluez_get_active_advertisement (f->fb);
  g_assert_nonnull (adv);
  /* Release() with no reply expected, and the advertisement is gone. */
  g_assert_true (FAKE_WAIT_UNTIL (count_calls (f, "Release") == 1, 3000));
  g_assert_true (last_call (f, "Release")->flags & G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED);
  g_assert_cmpint (adv->state, ==, FAKE_REGISTRATION_RELEASED);
  g_assert_null (fake_bluez_get_active_advertisement (f->fb));
}

static void
test_vanish_and_restart (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  FakeApplication *app;
  FakeAdvertisement *adv;

  app_set_objects (f, good_objects ());
  g_assert_true (register_application (f));
  g_assert_true (register_advertisement (f, g_variant_new_parsed ("{'Type': <'peripheral'>}")));
  app = fake_bluez_get_active_application (f->fb);
  adv = fake_bluez_get_active_advertisement (f->fb);

  /* bluetoothd restarts: everything is forgotten; it comes back empty. */
  fake_bluez_stop (f->fb);
  g_assert_cmpint (app->state, ==, FAKE_REGISTRATION_DROPPED);
  g_assert_cmpint (adv->state, ==, FAKE_REGISTRATION_DROPPED);
  g_assert_true (fake_bluez_start (f->fb, &error));
  g_assert_no_error (error);
  g_assert_null (fake_bluez_get_active_application (f->fb));
  g_assert_true (register_application (f));
  g_assert_true (register_advertisement (f, g_variant_new_parsed ("{'Type': <'peripheral'>}")));
  app = fake_bluez_get_active_application (f->fb);
  adv = fake_bluez_get_active_advertisement (f->fb);

  /* The registrant leaves the bus: its registrations vanish. */
  g_dbus_connection_close_sync (f->conn, NULL, NULL);
  g_assert_true (FAKE_WAIT_UNTIL (app->state == FAKE_REGISTRATION_VANISHED, BP_WAIT_MS));
  g_assert_true (FAKE_WAIT_UNTIL (adv->state == FAKE_REGISTRATION_VANISHED, BP_WAIT_MS));
  g_clear_object (&f->conn);
}

static void
test_adapter_removed (Fixture *f, gconstpointer data)
{
  FakeApplication *app;
  FakeAdvertisement *adv;

  app_set_objects (f, good_objects ());
  g_assert_true (register_application (f));
  g_assert_true (register_advertisement (f, g_variant_new_parsed ("{'Type': <'peripheral'>}")));
  app = fake_bluez_get_active_application (f->fb);
  adv = fake_bluez_get_active_advertisement (f->fb);
  fake_bluez_add_device (f->fb, FAKE_BLUEZ_CENTRAL_ADDRESS, 0);
  fake_bluez_remove_adapter (f->fb);
  g_assert_cmpint (app->state, ==, FAKE_REGISTRATION_DROPPED);
  g_assert_cmpint (adv->state, ==, FAKE_REGISTRATION_DROPPED);
  /* The advertising manager releases its clients as it goes. */
  g_assert_true (FAKE_WAIT_UNTIL (count_calls (f, "Release") == 1, BP_WAIT_MS));
  fake_bluez_add_adapter (f->fb);
  g_assert_true (register_application (f));
}

static void
test_device_disconnect (Fixture *f, gconstpointer data)
{
  const char *dev = fake_bluez_add_device (f->fb, FAKE_BLUEZ_CENTRAL_ADDRESS, 0);

  fake_bluez_set_connected (f->fb, dev, TRUE);
  g_assert_true (app_call_bluez (f, dev, "org.bluez.Device1", "Disconnect", NULL));
  g_assert_false (fake_bluez_device_is_connected (f->fb, dev));
  g_assert_cmpuint (fake_bluez_get_n_disconnect_calls (f->fb, dev), ==, 1);
  g_assert_false (app_call_bluez (f, dev, "org.bluez.Device1", "Disconnect", NULL));
  fake_assert_dbus_error (f->error, "org.bluez.Error.NotConnected");
}

static void
test_uuid_normalize (void)
{
  const struct {
    const char *in;
    const char *out;
  } cases[] = {
    { "180a", "0000180a-0000-1000-8000-00805f9b34fb" },
    { "0x180A", "0000180a-0000-1000-8000-00805f9b34fb" },
    { "0x12345678", "12345678-0000-1000-8000-00805f9b34fb" },
    { "12345678-1234-5678-1234-56789ABCDEF0", "12345678-1234-5678-1234-56789abcdef0" },
    { "18", NULL },
    { "0x18a", NULL },
    { "12345678-1234-5678-1234_56789abcdef0", NULL },
    { "", NULL },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *out = fake_uuid_normalize (cases[i].in);
      g_assert_cmpstr (out, ==, cases[i].out);
    }
}

/* The `fake-bluez` executable the benchmarks run: one reply line per
 * command on stdin. */
typedef struct {
  GDataInputStream *out;
  char *line;
  gboolean done;
} LineReader;

static void
line_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  LineReader *r = data;

  r->line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), res, NULL, NULL);
  r->done = TRUE;
}

static void
exited_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), res, NULL);
  *(gboolean *) data = TRUE;
}

static char *
exchange (GSubprocess *proc, LineReader *r, const char *command)
{
  if (command != NULL)
    {
      g_autofree char *line = g_strconcat (command, "\n", NULL);
      g_assert_true (
        g_output_stream_write_all (g_subprocess_get_stdin_pipe (proc), line, strlen (line), NULL, NULL, NULL));
    }
  r->done = FALSE;
  r->line = NULL;
  g_data_input_stream_read_line_async (r->out, G_PRIORITY_DEFAULT, NULL, line_cb, r);
  g_assert_true (FAKE_WAIT_UNTIL (r->done, BP_WAIT_MS));
  return r->line;
}

static void
test_executable (Fixture *f, gconstpointer data)
{
  const char *root = g_getenv ("BP_BUILD_ROOT");
  g_autofree char *exe = NULL;
  g_autoptr (GSubprocessLauncher) l = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  LineReader r = { 0 };
  char *line;
  gboolean exited = FALSE;

  if (root == NULL)
    {
      g_test_skip ("BP_BUILD_ROOT is not set");
      return;
    }
  /* This fixture's stand-in leaves the name to the executable. */
  fake_bluez_stop (f->fb);
  exe = g_build_filename (root, "tests", "integration", "fake-bluez", NULL);
  l = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE);
  proc = g_subprocess_launcher_spawn (l, &error, exe, "--address", bp_bus_get_address (f->bus), NULL);
  g_assert_no_error (error);
  r.out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc));

  line = exchange (proc, &r, NULL);
  g_assert_cmpstr (line, ==, "ready");
  g_free (line);
  line = exchange (proc, &r, "status");
  g_assert_cmpstr (line, ==, "ok application=none advertisement=none signals=0");
  g_free (line);
  line = exchange (proc, &r, "device 00:AA:01:01:00:07 185");
  g_assert_cmpstr (line, ==, "ok " FAKE_BLUEZ_ADAPTER_PATH "/dev_00_AA_01_01_00_07");
  g_free (line);

  /* The application sees the adapter and the device on org.bluez. */
  app_set_objects (f, good_objects ());
  g_assert_true (app_call_bluez (f, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL));
  {
    g_autoptr (GVariant) objects = g_variant_get_child_value (f->reply, 0);
    g_assert_true (g_variant_lookup (objects, FAKE_BLUEZ_ADAPTER_PATH "/dev_00_AA_01_01_00_07", "@a{sa{sv}}", NULL));
  }
  g_assert_true (register_application (f));
  line = exchange (proc, &r, "wait-registered 1000");
  g_assert_cmpstr (line, ==, "ok");
  g_free (line);
  /* A signal from the application is counted. */
  g_dbus_connection_emit_signal (f->conn, NULL, CHAR_PATH, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                 g_variant_new_parsed ("('org.bluez.GattCharacteristic1', {'Value': <@ay [7]>}, "
                                                       "@as [])"),
                                 NULL);
  line = exchange (proc, &r, "wait-signals 1 2000");
  g_assert_cmpstr (line, ==, "ok 1");
  g_free (line);
  /* A central's read through it. */
  g_byte_array_append (f->value, (const guint8 *) "\x12\x34", 2);
  line = exchange (proc, &r, "read 2a6e");
  g_assert_cmpstr (line, ==, "ok 1234");
  g_free (line);
  line = exchange (proc, &r, "quit");
  g_assert_cmpstr (line, ==, "ok");
  g_free (line);
  g_subprocess_wait_async (proc, NULL, exited_cb, &exited);
  g_assert_true (FAKE_WAIT_UNTIL (exited, BP_WAIT_MS));
  g_assert_true (g_subprocess_get_if_exited (proc));
  g_assert_cmpint (g_subprocess_get_exit_status (proc), ==, 0);
  g_clear_object (&r.out);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);

  g_test_add_func ("/fake-bluez/uuid", test_uuid_normalize);
#define ADD(name, fn, flags) g_test_add ("/fake-bluez/" name, Fixture, GUINT_TO_POINTER (flags), setup, fn, teardown)
  ADD ("adapter", test_adapter, FAKE_BLUEZ_FLAGS_NONE);
  ADD ("adapter-experimental", test_adapter, FAKE_BLUEZ_FLAGS_EXPERIMENTAL);
  ADD ("register-application", test_register_application, FAKE_BLUEZ_FLAGS_NONE);
  ADD ("refused-applications", test_refused_applications, FAKE_BLUEZ_FLAGS_NONE);
  ADD ("read-write", test_read_write, FAKE_BLUEZ_FLAGS_NONE);
  ADD ("read-timeout", test_read_timeout, FAKE_BLUEZ_FLAGS_NONE);
  ADD ("notify-calls", test_notify_calls, FAKE_BLUEZ_FLAGS_NONE);
  ADD ("signals", test_signals, FAKE_BLUEZ_FLAGS_NONE);
  ADD ("advertisement", test_advertisement, FAKE_BLUEZ_FLAGS_NONE);
  ADD ("advertisement-timeout", test_advertisement_timeout, FAKE_BLUEZ_FLAGS_NONE);
  ADD ("vanish-and-restart", test_vanish_and_restart, FAKE_BLUEZ_FLAGS_NONE);
  ADD ("adapter-removed", test_adapter_removed, FAKE_BLUEZ_FLAGS_NONE);
  ADD ("device-disconnect", test_device_disconnect, FAKE_BLUEZ_FLAGS_NONE);
  ADD ("executable", test_executable, FAKE_BLUEZ_FLAGS_NONE);
#undef ADD
  return g_test_run ();
}
