/* The stand-in bluetoothd: see fake-bluez.h. What it checks and answers
 * follows BlueZ 5.66 (src/gatt-database.c, src/advertising.c, src/device.c)
 * as summarised in /work/shared/BLUEZ.md. */
#define G_LOG_DOMAIN "fake-bluez"

#include "fake-bluez.h"

#include <string.h>

#define BLUEZ_NAME "org.bluez"
#define IFACE_OM "org.freedesktop.DBus.ObjectManager"
#define IFACE_PROPS "org.freedesktop.DBus.Properties"
#define IFACE_ADAPTER "org.bluez.Adapter1"
#define IFACE_GATT_MANAGER "org.bluez.GattManager1"
#define IFACE_ADV_MANAGER "org.bluez.LEAdvertisingManager1"
#define IFACE_AGENT_MANAGER "org.bluez.AgentManager1"
#define IFACE_DEVICE "org.bluez.Device1"
#define IFACE_SERVICE "org.bluez.GattService1"
#define IFACE_CHRC "org.bluez.GattCharacteristic1"
#define IFACE_DESC "org.bluez.GattDescriptor1"
#define IFACE_ADV "org.bluez.LEAdvertisement1"
#define ERROR_FAILED "org.bluez.Error.Failed"

/* GetManagedObjects and GetAll on a registrant: bluetoothd's GDBusClient
 * waits longer, but a test must not. */
#define REGISTRANT_TIMEOUT_MS 10000
#define SUPPORTED_INSTANCES 4
#define ATT_MAX_VALUE_LEN 512

static const char introspection_xml[] =
  "<node>"
  " <interface name='org.freedesktop.DBus.ObjectManager'>"
  "  <method name='GetManagedObjects'><arg name='objects' type='a{oa{sa{sv}}}' direction='out'/></method>"
  "  <signal name='InterfacesAdded'><arg name='object' type='o'/><arg name='interfaces' type='a{sa{sv}}'/></signal>"
  "  <signal name='InterfacesRemoved'><arg name='object' type='o'/><arg name='interfaces' type='as'/></signal>"
  " </interface>"
  " <interface name='org.bluez.AgentManager1'>"
  "  <method name='RegisterAgent'><arg name='agent' type='o' direction='in'/><arg name='capability' type='s' direction='in'/></method>"
  "  <method name='UnregisterAgent'><arg name='agent' type='o' direction='in'/></method>"
  "  <method name='RequestDefaultAgent'><arg name='agent' type='o' direction='in'/></method>"
  " </interface>"
  " <interface name='org.bluez.Adapter1'>"
  "  <method name='StartDiscovery'/>"
  "  <method name='StopDiscovery'/>"
  "  <method name='RemoveDevice'><arg name='device' type='o' direction='in'/></method>"
  "  <method name='SetDiscoveryFilter'><arg name='filter' type='a{sv}' direction='in'/></method>"
  "  <method name='GetDiscoveryFilters'><arg name='filters' type='as' direction='out'/></method>"
  "  <property name='Address' type='s' access='read'/>"
  "  <property name='AddressType' type='s' access='read'/>"
  "  <property name='Name' type='s' access='read'/>"
  "  <property name='Alias' type='s' access='readwrite'/>"
  "  <property name='Class' type='u' access='read'/>"
  "  <property name='Powered' type='b' access='readwrite'/>"
  "  <property name='PowerState' type='s' access='read'/>"
  "  <property name='Discoverable' type='b' access='readwrite'/>"
  "  <property name='DiscoverableTimeout' type='u' access='readwrite'/>"
  "  <property name='Pairable' type='b' access='readwrite'/>"
  "  <property name='PairableTimeout' type='u' access='readwrite'/>"
  "  <property name='Discovering' type='b' access='read'/>"
  "  <property name='UUIDs' type='as' access='read'/>"
  "  <property name='Modalias' type='s' access='read'/>"
  "  <property name='Roles' type='as' access='read'/>"
  " </interface>"
  " <interface name='org.bluez.GattManager1'>"
  "  <method name='RegisterApplication'><arg name='application' type='o' direction='in'/><arg name='options' type='a{sv}' direction='in'/></method>"
  "  <method name='UnregisterApplication'><arg name='application' type='o' direction='in'/></method>"
  " </interface>"
  " <interface name='org.bluez.Device1'>"
  "  <method name='Disconnect'/>"
  "  <method name='Connect'/>"
  "  <method name='Pair'/>"
  "  <method name='CancelPairing'/>"
  "  <method name='ConnectProfile'><arg name='uuid' type='s' direction='in'/></method>"
  "  <method name='DisconnectProfile'><arg name='uuid' type='s' direction='in'/></method>"
  "  <property name='Address' type='s' access='read'/>"
  "  <property name='AddressType' type='s' access='read'/>"
  "  <property name='Name' type='s' access='read'/>"
  "  <property name='Alias' type='s' access='readwrite'/>"
  "  <property name='Paired' type='b' access='read'/>"
  "  <property name='Bonded' type='b' access='read'/>"
  "  <property name='Trusted' type='b' access='readwrite'/>"
  "  <property name='Blocked' type='b' access='readwrite'/>"
  "  <property name='Connected' type='b' access='read'/>"
  "  <property name='ServicesResolved' type='b' access='read'/>"
  "  <property name='LegacyPairing' type='b' access='read'/>"
  "  <property name='Adapter' type='o' access='read'/>"
  "  <property name='UUIDs' type='as' access='read'/>"
  " </interface>"
  "</node>";

/* LEAdvertisingManager1 as 5.66 shows it, and with -E (experimental). */
#define ADV_MANAGER_COMMON                                                                                      \
  "  <method name='RegisterAdvertisement'><arg name='advertisement' type='o' direction='in'/><arg name='options' type='a{sv}' direction='in'/></method>" \
  "  <method name='UnregisterAdvertisement'><arg name='service' type='o' direction='in'/></method>"          \
  "  <property name='ActiveInstances' type='y' access='read'/>"                                              \
  "  <property name='SupportedInstances' type='y' access='read'/>"                                           \
  "  <property name='SupportedIncludes' type='as' access='read'/>"

static const char adv_manager_xml[] =
  "<node><interface name='org.bluez.LEAdvertisingManager1'>" ADV_MANAGER_COMMON "</interface></node>";
static const char adv_manager_experimental_xml[] =
  "<node><interface name='org.bluez.LEAdvertisingManager1'>" ADV_MANAGER_COMMON
  "  <property name='SupportedFeatures' type='as' access='read'/>"
  "  <property name='SupportedCapabilities' type='a{sv}' access='read'/>"
  "</interface></node>";

typedef struct {
  char *path;
  char *address;
  gboolean connected;
  guint16 mtu;
  guint n_disconnect_calls;
  GArray *registrations; /* of guint */
} FakeDevice;

/* A registrant (bus name) the stand-in follows: its disappearance and its
 * PropertiesChanged signals. */
typedef struct {
  FakeBluez *fb;
  char *sender;
  guint name_watch;
  guint signal_subscription;
} FakeWatch;

struct _FakeBluez {
  char *bus_address;
  FakeBluezFlags flags;
  GDBusNodeInfo *node_info;
  GDBusNodeInfo *adv_manager_info;

  GDBusConnection *conn;
  GCancellable *cancellable; /* replaced at each start */
  GArray *root_registrations;    /* of guint: "/" and "/org/bluez" */
  GArray *adapter_registrations; /* of guint, empty when the adapter is gone */

  /* adapter state */
  gboolean powered;
  gboolean discoverable;
  gboolean pairable;
  char *alias;
  GHashTable *adapter_sets; /* property name → GUINT count */

  GPtrArray *devices; /* of FakeDevice* */
  gboolean advertising_not_resumed;

  GHashTable *watches; /* sender → FakeWatch* */

  GPtrArray *applications;   /* of FakeApplication*, every call */
  GPtrArray *advertisements; /* of FakeAdvertisement* */
  GHashTable *adv_timeouts;  /* FakeAdvertisement* → GSource* */
  guint n_unregister_application;
  guint n_unregister_advertisement;

  GPtrArray *signals; /* of FakeSignal* */
  guint64 n_signals;
  gboolean record_signals;
  FakeSignalFunc signal_func;
  gpointer signal_func_data;

  GPtrArray *calls; /* of FakeCall* */

  gboolean unresponsive;
  GPtrArray *held; /* of GDBusMethodInvocation*, never answered */
};

/* --- waiting --------------------------------------------------------------- */

static gboolean
deadline_expired_cb (gpointer data)
{
  FakeDeadline *deadline = data;

  deadline->expired = TRUE;
  return G_SOURCE_REMOVE;
}

void
fake_deadline_start (FakeDeadline *deadline, guint timeout_ms)
{
  deadline->expired = FALSE;
  deadline->source = g_timeout_source_new (timeout_ms);
  g_source_set_callback (deadline->source, deadline_expired_cb, deadline, NULL);
  g_source_attach (deadline->source, g_main_context_get_thread_default ());
}

void
fake_deadline_clear (FakeDeadline *deadline)
{
  if (deadline->source != NULL)
    {
      g_source_destroy (deadline->source);
      g_clear_pointer (&deadline->source, g_source_unref);
    }
}

void
fake_main_context_flush (void)
{
  while (g_main_context_iteration (g_main_context_get_thread_default (), FALSE))
    ;
}

/* --- small helpers ---------------------------------------------------------- */

const char *
fake_registration_state_name (FakeRegistrationState state)
{
  switch (state)
    {
    case FAKE_REGISTRATION_PENDING:
      return "pending";
    case FAKE_REGISTRATION_ACTIVE:
      return "active";
    case FAKE_REGISTRATION_FAILED:
      return "failed";
    case FAKE_REGISTRATION_UNREGISTERED:
      return "unregistered";
    case FAKE_REGISTRATION_VANISHED:
      return "vanished";
    case FAKE_REGISTRATION_DROPPED:
      return "dropped";
    case FAKE_REGISTRATION_RELEASED:
      return "released";
    }
  return "?";
}

static gboolean
is_hex_string (const char *s, gsize len)
{
  for (gsize i = 0; i < len; i++)
    if (!g_ascii_isxdigit (s[i]))
      return FALSE;
  return TRUE;
}

char *
fake_uuid_normalize (const char *text)
{
  gsize len;
  const char *hex;

  if (text == NULL)
    return NULL;
  len = strlen (text);
  if (len == 36)
    {
      for (gsize i = 0; i < len; i++)
        {
          gboolean dash = (i == 8 || i == 13 || i == 18 || i == 23);
          if (dash ? text[i] != '-' : !g_ascii_isxdigit (text[i]))
            return NULL;
        }
      return g_ascii_strdown (text, -1);
    }
  hex = text;
  if (len > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
    hex = text + 2;
  len = strlen (hex);
  if ((len == 4 || len == 8) && is_hex_string (hex, len))
    {
      guint64 value = g_ascii_strtoull (hex, NULL, 16);
      return g_strdup_printf ("%08x-0000-1000-8000-00805f9b34fb", (guint32) value);
    }
  return NULL;
}

static gboolean
uuid_equal (const char *uuid128, const char *text)
{
  g_autofree char *other = fake_uuid_normalize (text);

  return other != NULL && g_strcmp0 (uuid128, other) == 0;
}

static char *
device_path_for (const char *address)
{
  g_autofree char *tail = g_strdelimit (g_strdup (address), ":", '_');

  return g_strdup_printf (FAKE_BLUEZ_ADAPTER_PATH "/dev_%s", tail);
}

static void
registrations_unregister (GDBusConnection *conn, GArray *ids)
{
  for (guint i = 0; i < ids->len; i++)
    if (conn != NULL)
      g_dbus_connection_unregister_object (conn, g_array_index (ids, guint, i));
  g_array_set_size (ids, 0);
}

static void
emit_properties_changed (FakeBluez *fb, const char *path, const char *iface, GVariant *changed)
{
  g_autoptr (GError) error = NULL;

  g_variant_ref_sink (changed);
  if (fb->conn == NULL)
    {
      g_variant_unref (changed);
      return;
    }
  if (!g_dbus_connection_emit_signal (fb->conn, NULL, path, IFACE_PROPS, "PropertiesChanged",
                                      g_variant_new ("(s@a{sv}as)", iface, changed, NULL), &error))
    g_debug ("PropertiesChanged on %s: %s", path, error->message);
  g_variant_unref (changed);
}

static void
emit_one_property (FakeBluez *fb, const char *path, const char *iface, const char *name, GVariant *value)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", name, value);
  emit_properties_changed (fb, path, iface, g_variant_builder_end (&b));
}

/* --- records --------------------------------------------------------------- */

static void
gatt_service_free (FakeGattService *s)
{
  g_free (s->path);
  g_free (s->uuid);
  g_free (s->uuid128);
  g_free (s);
}

static void
gatt_characteristic_free (FakeGattCharacteristic *c)
{
  g_free (c->path);
  g_free (c->uuid);
  g_free (c->uuid128);
  g_free (c->service_path);
  g_strfreev (c->flags);
  g_ptr_array_unref (c->subscribers);
  g_free (c);
}

static void
gatt_descriptor_free (FakeGattDescriptor *d)
{
  g_free (d->path);
  g_free (d->uuid);
  g_free (d->uuid128);
  g_free (d->characteristic_path);
  g_strfreev (d->flags);
  g_clear_pointer (&d->value, g_bytes_unref);
  g_free (d);
}

static void
application_free (FakeApplication *app)
{
  g_free (app->sender);
  g_free (app->path);
  g_free (app->error_name);
  g_free (app->error_message);
  g_ptr_array_unref (app->services);
  g_ptr_array_unref (app->characteristics);
  g_ptr_array_unref (app->descriptors);
  g_clear_pointer (&app->objects, g_variant_unref);
  g_free (app);
}

static void
advertisement_free (FakeAdvertisement *adv)
{
  g_free (adv->sender);
  g_free (adv->path);
  g_free (adv->error_name);
  g_free (adv->error_message);
  g_clear_pointer (&adv->properties, g_variant_unref);
  g_free (adv->type);
  g_free (adv);
}

static void
signal_free (FakeSignal *s)
{
  g_free (s->sender);
  g_free (s->path);
  g_free (s->interface);
  g_clear_pointer (&s->changed, g_variant_unref);
  g_clear_pointer (&s->value, g_bytes_unref);
  g_free (s);
}

static void
call_free (FakeCall *c)
{
  g_free (c->method);
  g_free (c->path);
  g_free (c);
}

static void
device_free (FakeDevice *d)
{
  g_free (d->path);
  g_free (d->address);
  g_array_unref (d->registrations);
  g_free (d);
}

static void
record_call (FakeBluez *fb, const char *method, const char *path, gboolean no_reply)
{
  FakeCall *c = g_new0 (FakeCall, 1);

  c->method = g_strdup (method);
  c->path = g_strdup (path);
  c->no_reply = no_reply;
  g_ptr_array_add (fb->calls, c);
}

static gboolean
registration_is_live (FakeRegistrationState state)
{
  return state == FAKE_REGISTRATION_PENDING || state == FAKE_REGISTRATION_ACTIVE;
}

/* --- object properties --------------------------------------------------------- */

static FakeDevice *
find_device (FakeBluez *fb, const char *path)
{
  for (guint i = 0; i < fb->devices->len; i++)
    {
      FakeDevice *d = g_ptr_array_index (fb->devices, i);
      if (g_strcmp0 (d->path, path) == 0)
        return d;
    }
  return NULL;
}

static guint
count_live_advertisements (FakeBluez *fb)
{
  guint n = 0;

  for (guint i = 0; i < fb->advertisements->len; i++)
    {
      FakeAdvertisement *adv = g_ptr_array_index (fb->advertisements, i);
      if (registration_is_live (adv->state))
        n++;
    }
  return n;
}

/* The a{sv} of one interface of one object (floating). */
static GVariant *
object_properties (FakeBluez *fb, const char *path, const char *iface)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  if (g_strcmp0 (iface, IFACE_ADAPTER) == 0)
    {
      const char *uuids[] = { "00001800-0000-1000-8000-00805f9b34fb", "00001801-0000-1000-8000-00805f9b34fb", NULL };
      const char *roles[] = { "central", "peripheral", NULL };

      g_variant_builder_add (&b, "{sv}", "Address", g_variant_new_string (FAKE_BLUEZ_ADAPTER_ADDRESS));
      g_variant_builder_add (&b, "{sv}", "AddressType", g_variant_new_string ("public"));
      g_variant_builder_add (&b, "{sv}", "Name", g_variant_new_string ("fake-bluez"));
      g_variant_builder_add (&b, "{sv}", "Alias", g_variant_new_string (fb->alias));
      g_variant_builder_add (&b, "{sv}", "Class", g_variant_new_uint32 (0));
      g_variant_builder_add (&b, "{sv}", "Powered", g_variant_new_boolean (fb->powered));
      g_variant_builder_add (&b, "{sv}", "PowerState", g_variant_new_string (fb->powered ? "on" : "off"));
      g_variant_builder_add (&b, "{sv}", "Discoverable", g_variant_new_boolean (fb->discoverable));
      g_variant_builder_add (&b, "{sv}", "DiscoverableTimeout", g_variant_new_uint32 (180));
      g_variant_builder_add (&b, "{sv}", "Pairable", g_variant_new_boolean (fb->pairable));
      g_variant_builder_add (&b, "{sv}", "PairableTimeout", g_variant_new_uint32 (0));
      g_variant_builder_add (&b, "{sv}", "Discovering", g_variant_new_boolean (FALSE));
      g_variant_builder_add (&b, "{sv}", "UUIDs", g_variant_new_strv (uuids, -1));
      g_variant_builder_add (&b, "{sv}", "Modalias", g_variant_new_string ("usb:v1D6Bp0246d0542"));
      g_variant_builder_add (&b, "{sv}", "Roles", g_variant_new_strv (roles, -1));
    }
  else if (g_strcmp0 (iface, IFACE_ADV_MANAGER) == 0)
    {
      const char *includes[] = { "tx-power", "appearance", "local-name", NULL };
      guint active = count_live_advertisements (fb);

      g_variant_builder_add (&b, "{sv}", "ActiveInstances", g_variant_new_byte (active));
      g_variant_builder_add (&b, "{sv}", "SupportedInstances", g_variant_new_byte (SUPPORTED_INSTANCES - active));
      g_variant_builder_add (&b, "{sv}", "SupportedIncludes", g_variant_new_strv (includes, -1));
      if (fb->flags & FAKE_BLUEZ_FLAGS_EXPERIMENTAL)
        {
          const char *features[] = { "CanSetTxPower", NULL };
          GVariantBuilder caps;

          g_variant_builder_init (&caps, G_VARIANT_TYPE_VARDICT);
          g_variant_builder_add (&caps, "{sv}", "MaxAdvLen", g_variant_new_byte (FAKE_BLUEZ_MAX_ADV_LEN));
          g_variant_builder_add (&caps, "{sv}", "MaxScnRspLen", g_variant_new_byte (FAKE_BLUEZ_MAX_ADV_LEN));
          g_variant_builder_add (&b, "{sv}", "SupportedFeatures", g_variant_new_strv (features, -1));
          g_variant_builder_add (&b, "{sv}", "SupportedCapabilities", g_variant_builder_end (&caps));
        }
    }
  else if (g_strcmp0 (iface, IFACE_DEVICE) == 0)
    {
      FakeDevice *d = find_device (fb, path);

      if (d != NULL)
        {
          g_autofree char *name = g_strdup_printf ("central-%s", d->address + 12);

          g_variant_builder_add (&b, "{sv}", "Address", g_variant_new_string (d->address));
          g_variant_builder_add (&b, "{sv}", "AddressType", g_variant_new_string ("public"));
          g_variant_builder_add (&b, "{sv}", "Name", g_variant_new_string (name));
          g_variant_builder_add (&b, "{sv}", "Alias", g_variant_new_string (name));
          g_variant_builder_add (&b, "{sv}", "Paired", g_variant_new_boolean (FALSE));
          g_variant_builder_add (&b, "{sv}", "Bonded", g_variant_new_boolean (FALSE));
          g_variant_builder_add (&b, "{sv}", "Trusted", g_variant_new_boolean (FALSE));
          g_variant_builder_add (&b, "{sv}", "Blocked", g_variant_new_boolean (FALSE));
          g_variant_builder_add (&b, "{sv}", "Connected", g_variant_new_boolean (d->connected));
          g_variant_builder_add (&b, "{sv}", "ServicesResolved", g_variant_new_boolean (FALSE));
          g_variant_builder_add (&b, "{sv}", "LegacyPairing", g_variant_new_boolean (FALSE));
          g_variant_builder_add (&b, "{sv}", "Adapter", g_variant_new_object_path (FAKE_BLUEZ_ADAPTER_PATH));
          g_variant_builder_add (&b, "{sv}", "UUIDs", g_variant_new_strv (NULL, 0));
        }
    }
  return g_variant_builder_end (&b);
}

/* The interfaces of an object as GetManagedObjects and InterfacesAdded show
 * them; bluetoothd lists the standard ones too. */
static GVariant *
object_interfaces (FakeBluez *fb, const char *path, const char *const *ifaces)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sa{sv}}"));
  g_variant_builder_add (&b, "{s@a{sv}}", "org.freedesktop.DBus.Introspectable",
                         g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
  for (guint i = 0; ifaces[i] != NULL; i++)
    g_variant_builder_add (&b, "{s@a{sv}}", ifaces[i], object_properties (fb, path, ifaces[i]));
  g_variant_builder_add (&b, "{s@a{sv}}", IFACE_PROPS, g_variant_new_array (G_VARIANT_TYPE ("{sv}"), NULL, 0));
  return g_variant_builder_end (&b);
}

static const char *const adapter_ifaces[] = { IFACE_ADAPTER, IFACE_GATT_MANAGER, IFACE_ADV_MANAGER, NULL };
static const char *const device_ifaces[] = { IFACE_DEVICE, NULL };
static const char *const bluez_ifaces[] = { IFACE_AGENT_MANAGER, NULL };

static void
emit_interfaces_added (FakeBluez *fb, const char *path, const char *const *ifaces)
{
  if (fb->conn == NULL)
    return;
  g_dbus_connection_emit_signal (fb->conn, NULL, "/", IFACE_OM, "InterfacesAdded",
                                 g_variant_new ("(o@a{sa{sv}})", path, object_interfaces (fb, path, ifaces)), NULL);
}

static void
emit_interfaces_removed (FakeBluez *fb, const char *path, const char *const *ifaces)
{
  GVariantBuilder b;

  if (fb->conn == NULL)
    return;
  g_variant_builder_init (&b, G_VARIANT_TYPE_STRING_ARRAY);
  g_variant_builder_add (&b, "s", "org.freedesktop.DBus.Introspectable");
  for (guint i = 0; ifaces[i] != NULL; i++)
    g_variant_builder_add (&b, "s", ifaces[i]);
  g_variant_builder_add (&b, "s", IFACE_PROPS);
  g_dbus_connection_emit_signal (fb->conn, NULL, "/", IFACE_OM, "InterfacesRemoved",
                                 g_variant_new ("(o@as)", path, g_variant_builder_end (&b)), NULL);
}

static void
emit_adv_instances (FakeBluez *fb)
{
  g_autoptr (GVariant) props = NULL;
  GVariantBuilder b;
  guint8 active = 0, supported = 0;

  if (!fake_bluez_has_adapter (fb))
    return;
  props = g_variant_ref_sink (object_properties (fb, FAKE_BLUEZ_ADAPTER_PATH, IFACE_ADV_MANAGER));
  g_variant_lookup (props, "ActiveInstances", "y", &active);
  g_variant_lookup (props, "SupportedInstances", "y", &supported);
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "SupportedInstances", g_variant_new_byte (supported));
  g_variant_builder_add (&b, "{sv}", "ActiveInstances", g_variant_new_byte (active));
  emit_properties_changed (fb, FAKE_BLUEZ_ADAPTER_PATH, IFACE_ADV_MANAGER, g_variant_builder_end (&b));
}

/* --- watching registrants ------------------------------------------------------ */

static void registrant_vanished (FakeBluez *fb, const char *sender);

static void
watch_free (FakeWatch *w)
{
  if (w->fb->conn != NULL && w->signal_subscription != 0)
    g_dbus_connection_signal_unsubscribe (w->fb->conn, w->signal_subscription);
  if (w->name_watch != 0)
    g_bus_unwatch_name (w->name_watch);
  g_free (w->sender);
  g_free (w);
}

static void
name_vanished_cb (GDBusConnection *conn, const char *name, gpointer data)
{
  FakeWatch *w = data;

  /* Also called when our own connection closes (fake_bluez_stop). */
  if (w->fb->conn == NULL || w->fb->conn != conn || g_dbus_connection_is_closed (conn))
    return;
  registrant_vanished (w->fb, name);
}

static void advertisement_properties_changed (FakeBluez *fb, const char *sender, const char *path,
                                              GVariant *changed, const char *const *invalidated);

static void
properties_changed_cb (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
                       const char *signal_name, GVariant *params, gpointer data)
{
  FakeWatch *w = data;
  FakeBluez *fb = w->fb;
  FakeSignal *s;
  const char *changed_iface;
  g_autoptr (GVariant) changed = NULL;
  g_autofree const char **invalidated = NULL;
  g_autoptr (GVariant) value = NULL;
  GVariantIter iter;
  const char *key;

  if (!g_variant_is_of_type (params, G_VARIANT_TYPE ("(sa{sv}as)")))
    return;
  g_variant_get (params, "(&s@a{sv}^a&s)", &changed_iface, &changed, &invalidated);

  if (g_strcmp0 (changed_iface, IFACE_ADV) == 0)
    advertisement_properties_changed (fb, sender, path, changed, invalidated);

  s = g_new0 (FakeSignal, 1);
  s->index = fb->n_signals++;
  s->sender = g_strdup (sender);
  s->path = g_strdup (path);
  s->interface = g_strdup (changed_iface);
  s->changed = g_variant_ref (changed);
  s->time_us = g_get_monotonic_time ();
  value = g_variant_lookup_value (changed, "Value", G_VARIANT_TYPE_BYTESTRING);
  if (value != NULL)
    s->value = g_variant_get_data_as_bytes (value);
  g_variant_iter_init (&iter, changed);
  while (g_variant_iter_next (&iter, "{&sv}", &key, NULL))
    if (g_strcmp0 (key, "Value") != 0)
      s->other_properties = TRUE;
  if (invalidated != NULL && invalidated[0] != NULL)
    s->other_properties = TRUE;

  if (fb->signal_func != NULL)
    fb->signal_func (fb, s, fb->signal_func_data);
  if (fb->record_signals)
    g_ptr_array_add (fb->signals, s);
  else
    signal_free (s);
}

/* Follows a registrant as bluetoothd's GDBusClient does: a match rule on its
 * unique name for PropertiesChanged, and a watch on the name. */
static void
ensure_watch (FakeBluez *fb, const char *sender)
{
  FakeWatch *w;

  if (g_hash_table_contains (fb->watches, sender))
    return;
  w = g_new0 (FakeWatch, 1);
  w->fb = fb;
  w->sender = g_strdup (sender);
  w->signal_subscription = g_dbus_connection_signal_subscribe (fb->conn, sender, IFACE_PROPS, "PropertiesChanged",
                                                               NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                                               properties_changed_cb, w, NULL);
  w->name_watch = g_bus_watch_name_on_connection (fb->conn, sender, G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
                                                  name_vanished_cb, w, NULL);
  g_hash_table_insert (fb->watches, w->sender, w);
}

/* --- characteristics seen by the centrals --------------------------------------- */

static FakeApplication *
application_owning (FakeBluez *fb, const char *path, gboolean *is_descriptor)
{
  FakeApplication *app = fake_bluez_get_active_application (fb);

  if (app == NULL || path == NULL)
    return NULL;
  for (guint i = 0; i < app->characteristics->len; i++)
    {
      FakeGattCharacteristic *c = g_ptr_array_index (app->characteristics, i);
      if (g_strcmp0 (c->path, path) == 0)
        {
          if (is_descriptor)
            *is_descriptor = FALSE;
          return app;
        }
    }
  for (guint i = 0; i < app->descriptors->len; i++)
    {
      FakeGattDescriptor *d = g_ptr_array_index (app->descriptors, i);
      if (g_strcmp0 (d->path, path) == 0)
        {
          if (is_descriptor)
            *is_descriptor = TRUE;
          return app;
        }
    }
  return NULL;
}

static void
send_no_reply (FakeBluez *fb, const char *dest, const char *path, const char *iface, const char *method,
               GVariant *body)
{
  g_autoptr (GDBusMessage) msg = NULL;
  g_autoptr (GError) error = NULL;

  if (body != NULL)
    g_variant_ref_sink (body);
  if (fb->conn != NULL && dest != NULL)
    {
      msg = g_dbus_message_new_method_call (dest, path, iface, method);
      g_dbus_message_set_flags (msg, G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED | G_DBUS_MESSAGE_FLAGS_NO_AUTO_START);
      if (body != NULL)
        g_dbus_message_set_body (msg, body);
      if (!g_dbus_connection_send_message (fb->conn, msg, G_DBUS_SEND_MESSAGE_FLAGS_NONE, NULL, &error))
        g_debug ("%s on %s: %s", method, path, error->message);
      record_call (fb, method, path, TRUE);
    }
  if (body != NULL)
    g_variant_unref (body);
}

static void
characteristic_call_no_reply (FakeBluez *fb, const char *path, const char *method)
{
  FakeApplication *app = application_owning (fb, path, NULL);

  if (app == NULL)
    {
      g_debug ("%s: no active application has %s", method, path);
      return;
    }
  send_no_reply (fb, app->sender, path, IFACE_CHRC, method, NULL);
}

void
fake_bluez_start_notify (FakeBluez *fb, const char *path)
{
  characteristic_call_no_reply (fb, path, "StartNotify");
}

void
fake_bluez_stop_notify (FakeBluez *fb, const char *path)
{
  characteristic_call_no_reply (fb, path, "StopNotify");
}

void
fake_bluez_confirm (FakeBluez *fb, const char *path)
{
  characteristic_call_no_reply (fb, path, "Confirm");
}

static gboolean
remove_subscriber (FakeGattCharacteristic *chr, const char *device_path)
{
  for (guint i = 0; i < chr->subscribers->len; i++)
    if (g_strcmp0 (g_ptr_array_index (chr->subscribers, i), device_path) == 0)
      {
        g_ptr_array_remove_index (chr->subscribers, i);
        return TRUE;
      }
  return FALSE;
}

void
fake_bluez_subscribe (FakeBluez *fb, const char *device_path, const char *path, gboolean on)
{
  FakeApplication *app = application_owning (fb, path, NULL);
  FakeGattCharacteristic *chr = app ? fake_application_get_characteristic (app, path) : NULL;

  g_return_if_fail (chr != NULL);
  if (on)
    {
      for (guint i = 0; i < chr->subscribers->len; i++)
        if (g_strcmp0 (g_ptr_array_index (chr->subscribers, i), device_path) == 0)
          return;
      g_ptr_array_add (chr->subscribers, g_strdup (device_path));
      /* 5.66 calls StartNotify for every central that turns its CCCD on. */
      fake_bluez_start_notify (fb, path);
    }
  else if (remove_subscriber (chr, device_path) && chr->subscribers->len == 0)
    {
      fake_bluez_stop_notify (fb, path);
    }
}

static void
unsubscribe_device (FakeBluez *fb, const char *device_path)
{
  FakeApplication *app = fake_bluez_get_active_application (fb);

  if (app == NULL)
    return;
  for (guint i = 0; i < app->characteristics->len; i++)
    {
      FakeGattCharacteristic *chr = g_ptr_array_index (app->characteristics, i);
      if (remove_subscriber (chr, device_path) && chr->subscribers->len == 0)
        fake_bluez_stop_notify (fb, chr->path);
    }
}

/* --- asynchronous calls with a bounded wait ------------------------------------------ */

typedef struct {
  gboolean done;
  GVariant *reply;
  GError *error;
} CallResult;

static void
call_result_clear (CallResult *r)
{
  g_clear_pointer (&r->reply, g_variant_unref);
  g_clear_error (&r->error);
}

static void
call_done_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  CallResult *r = data;

  r->reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &r->error);
  r->done = TRUE;
  g_rc_box_release_full (r, (GDestroyNotify) call_result_clear);
}

struct _FakeRequest {
  CallResult *result; /* shared with the call's callback */
  char *description;
  int timeout_ms;
};

static FakeRequest *
request_new (const char *method, const char *path, int timeout_ms)
{
  FakeRequest *req = g_new0 (FakeRequest, 1);

  req->result = g_rc_box_new0 (CallResult);
  req->description = g_strdup_printf ("%s on %s", method, path);
  req->timeout_ms = timeout_ms;
  return req;
}

/* A request that failed before it was sent. */
static FakeRequest *
request_new_failed (const char *method, const char *path, GError *error)
{
  FakeRequest *req = request_new (method, path, 0);

  req->result->error = error;
  req->result->done = TRUE;
  return req;
}

static FakeRequest *
call_begin (FakeBluez *fb, const char *dest, const char *path, const char *iface, const char *method,
            GVariant *params, const GVariantType *reply_type, int timeout_ms)
{
  FakeRequest *req;

  if (fb->conn == NULL)
    {
      if (params != NULL)
        g_variant_unref (g_variant_ref_sink (params));
      return request_new_failed (method, path,
                                 g_error_new (G_IO_ERROR, G_IO_ERROR_NOT_CONNECTED, "the stand-in is not on the bus"));
    }
  req = request_new (method, path, timeout_ms);
  record_call (fb, method, path, FALSE);
  g_dbus_connection_call (fb->conn, dest, path, iface, method, params, reply_type, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                          timeout_ms, NULL, call_done_cb, g_rc_box_acquire (req->result));
  return req;
}

gboolean
fake_request_is_done (FakeRequest *req)
{
  return req->result->done;
}

/* Iterates the main context until the reply (GDBus delivers a timeout
 * error after timeout_ms at the latest); frees req. */
static GVariant *
call_finish (FakeRequest *req, GError **error)
{
  GVariant *reply = NULL;

  if (!FAKE_WAIT_UNTIL (req->result->done, req->timeout_ms + 2000))
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "%s: no reply", req->description);
  else if (req->result->error != NULL)
    g_propagate_error (error, g_steal_pointer (&req->result->error));
  else
    reply = g_steal_pointer (&req->result->reply);
  g_rc_box_release_full (req->result, (GDestroyNotify) call_result_clear);
  g_free (req->description);
  g_free (req);
  return reply;
}

static GVariant *
call_and_wait (FakeBluez *fb, const char *dest, const char *path, const char *iface, const char *method,
               GVariant *params, const GVariantType *reply_type, int timeout_ms, GError **error)
{
  return call_finish (call_begin (fb, dest, path, iface, method, params, reply_type, timeout_ms), error);
}

static GVariant *
att_options (FakeBluez *fb, const char *device_path, guint16 offset, guint16 *mtu_out)
{
  GVariantBuilder b;
  FakeDevice *d = find_device (fb, device_path);
  g_autofree char *fallback = NULL;
  guint16 mtu = d ? d->mtu : 23;

  if (device_path == NULL)
    device_path = fallback = device_path_for (FAKE_BLUEZ_CENTRAL_ADDRESS);
  if (mtu_out != NULL)
    *mtu_out = mtu;
  /* In bluetoothd's order: device, offset (only when non-zero), link, mtu. */
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "device", g_variant_new_object_path (device_path));
  if (offset != 0)
    g_variant_builder_add (&b, "{sv}", "offset", g_variant_new_uint16 (offset));
  g_variant_builder_add (&b, "{sv}", "link", g_variant_new_string ("LE"));
  g_variant_builder_add (&b, "{sv}", "mtu", g_variant_new_uint16 (mtu));
  return g_variant_builder_end (&b);
}

FakeRequest *
fake_bluez_read_value_begin (FakeBluez *fb, const char *path, const char *device_path, guint16 offset)
{
  gboolean is_desc = FALSE;
  FakeApplication *app = application_owning (fb, path, &is_desc);

  if (app == NULL)
    return request_new_failed ("ReadValue", path,
                               g_error_new (G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no active application has %s", path));
  return call_begin (fb, app->sender, path, is_desc ? IFACE_DESC : IFACE_CHRC, "ReadValue",
                     g_variant_new ("(@a{sv})", att_options (fb, device_path, offset, NULL)), G_VARIANT_TYPE ("(ay)"),
                     FAKE_BLUEZ_CALL_TIMEOUT_MS);
}

GBytes *
fake_bluez_read_value (FakeBluez *fb, const char *path, const char *device_path, guint16 offset, GError **error)
{
  return fake_request_finish_read (fake_bluez_read_value_begin (fb, path, device_path, offset), error);
}

GBytes *
fake_request_finish_read (FakeRequest *req, GError **error)
{
  g_autoptr (GVariant) reply = call_finish (req, error);
  g_autoptr (GVariant) bytes = NULL;
  gsize len;
  const guint8 *data;

  if (reply == NULL)
    return NULL;
  bytes = g_variant_get_child_value (reply, 0);
  data = g_variant_get_fixed_array (bytes, &len, 1);
  /* bluetoothd cuts the reply to the ATT maximum. */
  return g_bytes_new (data, MIN (len, (gsize) ATT_MAX_VALUE_LEN));
}

GBytes *
fake_bluez_read_long (FakeBluez *fb, const char *path, const char *device_path, guint *n_calls, GError **error)
{
  FakeDevice *d = find_device (fb, device_path);
  gsize chunk_max = (d ? d->mtu : 23) - 1;
  g_autoptr (GByteArray) out = g_byte_array_new ();
  guint calls = 0;

  for (;;)
    {
      g_autoptr (GBytes) part = NULL;
      gsize len;
      const guint8 *data;

      calls++;
      part = fake_bluez_read_value (fb, path, device_path, out->len, error);
      if (part == NULL)
        {
          if (n_calls != NULL)
            *n_calls = calls;
          return NULL;
        }
      data = g_bytes_get_data (part, &len);
      /* A Read (Blob) Response carries at most MTU-1 bytes. */
      len = MIN (len, chunk_max);
      g_byte_array_append (out, data, len);
      if (len < chunk_max || out->len >= ATT_MAX_VALUE_LEN)
        break;
    }
  if (n_calls != NULL)
    *n_calls = calls;
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

gboolean
fake_bluez_write_value (FakeBluez *fb, const char *path, const char *device_path, guint16 offset,
                        const void *data, gsize len, GError **error)
{
  gboolean is_desc = FALSE;
  FakeApplication *app = application_owning (fb, path, &is_desc);
  FakeGattCharacteristic *chr;
  GVariant *params;
  g_autoptr (GVariant) reply = NULL;

  if (app == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no active application has %s", path);
      return FALSE;
    }
  params = g_variant_new ("(@ay@a{sv})", g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, len, 1),
                          att_options (fb, device_path, offset, NULL));
  chr = is_desc ? NULL : fake_application_get_characteristic (app, path);
  if (chr != NULL && chr->write_without_response)
    {
      /* bluetoothd has already acknowledged the write to the central. */
      send_no_reply (fb, app->sender, path, IFACE_CHRC, "WriteValue", params);
      return TRUE;
    }
  reply = call_and_wait (fb, app->sender, path, is_desc ? IFACE_DESC : IFACE_CHRC, "WriteValue", params,
                         NULL, FAKE_BLUEZ_CALL_TIMEOUT_MS, error);
  return reply != NULL;
}

gboolean
fake_bluez_write_long (FakeBluez *fb, const char *path, const char *device_path, const void *data, gsize len,
                       GError **error)
{
  FakeDevice *d = find_device (fb, device_path);
  gsize chunk_max = (d ? d->mtu : 23) - 5; /* Prepare Write Request payload */
  gsize offset = 0;

  do
    {
      gsize n = MIN (len - offset, chunk_max);
      if (!fake_bluez_write_value (fb, path, device_path, offset, (const guint8 *) data + offset, n, error))
        return FALSE;
      offset += n;
    }
  while (offset < len);
  return TRUE;
}

gboolean
fake_bluez_read_descriptors (FakeBluez *fb, GError **error)
{
  FakeApplication *app = fake_bluez_get_active_application (fb);

  if (app == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "no active application");
      return FALSE;
    }
  for (guint i = 0; i < app->descriptors->len; i++)
    {
      FakeGattDescriptor *d = g_ptr_array_index (app->descriptors, i);
      g_autoptr (GBytes) value = fake_bluez_read_long (fb, d->path, NULL, NULL, error);

      if (value == NULL)
        {
          g_prefix_error (error, "reading %s: ", d->path);
          return FALSE;
        }
      g_clear_pointer (&d->value, g_bytes_unref);
      d->value = g_steal_pointer (&value);
    }
  return TRUE;
}

gboolean
fake_bluez_sync (FakeBluez *fb)
{
  FakeApplication *app = fake_bluez_get_active_application (fb);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GError) error = NULL;

  if (app == NULL)
    return FALSE;
  reply = call_and_wait (fb, app->sender, app->path, IFACE_OM, "GetManagedObjects", NULL, NULL,
                         FAKE_BLUEZ_CALL_TIMEOUT_MS, &error);
  /* An error reply is a round trip too; only a timeout is not. */
  return reply != NULL || !g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT);
}

guint8
fake_error_to_att (const GError *error, gboolean is_write)
{
  g_autofree char *name = NULL;
  static const struct {
    const char *name;
    guint8 att;
  } map[] = {
    { "org.bluez.Error.NotSupported", 0x06 },
    { "org.bluez.Error.NotAuthorized", 0x08 },
    { "org.bluez.Error.InvalidValueLength", 0x0d },
    { "org.bluez.Error.InvalidOffset", 0x07 },
    { "org.bluez.Error.InProgress", 0xfe },
  };

  if (error == NULL)
    return 0;
  name = g_dbus_error_get_remote_error (error);
  if (name == NULL)
    return 0x0e; /* no answer in time, or an answer bluetoothd cannot read */
  if (g_strcmp0 (name, ERROR_FAILED) == 0)
    {
      /* 5.66 passes "0x80"…"0x9f" through as the application error. */
      guint64 code = 0;
      const char *m = strstr (error->message, "0x");

      if (m != NULL && strlen (m) == 4 && g_ascii_string_to_unsigned (m + 2, 16, 0x80, 0x9f, &code, NULL))
        return (guint8) code;
      return 0x80;
    }
  if (g_strcmp0 (name, "org.bluez.Error.NotPermitted") == 0)
    return is_write ? 0x03 : 0x02;
  for (guint i = 0; i < G_N_ELEMENTS (map); i++)
    if (g_strcmp0 (name, map[i].name) == 0)
      return map[i].att;
  return 0x0e;
}

/* --- GattManager1 ------------------------------------------------------------------- */

static const char *const chrc_flag_names[] = {
  "broadcast", "read", "write-without-response", "write", "notify", "indicate",
  "authenticated-signed-writes", "extended-properties", "reliable-write", "writable-auxiliaries",
  "encrypt-read", "encrypt-write", "encrypt-notify", "encrypt-indicate",
  "encrypt-authenticated-read", "encrypt-authenticated-write", "encrypt-authenticated-notify",
  "encrypt-authenticated-indicate", "secure-read", "secure-write", "secure-notify", "secure-indicate",
  "authorize", NULL,
};

static const char *const desc_flag_names[] = {
  "read", "write", "encrypt-read", "encrypt-write", "encrypt-authenticated-read",
  "encrypt-authenticated-write", "secure-read", "secure-write", "authorize", NULL,
};

/* Flags as bluetoothd parses them: an array of known names, at least one. */
static GStrv
parse_flags (GVariant *props, const char *const *known, char **why)
{
  g_autoptr (GVariant) flags = g_variant_lookup_value (props, "Flags", NULL);
  g_auto (GStrv) names = NULL;

  if (flags == NULL || !g_variant_is_of_type (flags, G_VARIANT_TYPE_STRING_ARRAY))
    {
      *why = g_strdup ("Flags missing or not 'as'");
      return NULL;
    }
  names = g_variant_dup_strv (flags, NULL);
  if (names[0] == NULL)
    {
      *why = g_strdup ("Flags is empty");
      return NULL;
    }
  for (guint i = 0; names[i] != NULL; i++)
    if (!g_strv_contains (known, names[i]))
      {
        *why = g_strdup_printf ("invalid flag \"%s\"", names[i]);
        return NULL;
      }
  return g_steal_pointer (&names);
}

static gboolean
lookup_path_property (GVariant *props, const char *name, const char **out)
{
  return g_variant_lookup (props, name, "&o", out);
}

static gboolean
optional_property_has_type (GVariant *props, const char *name, const GVariantType *type)
{
  g_autoptr (GVariant) v = g_variant_lookup_value (props, name, NULL);

  return v == NULL || g_variant_is_of_type (v, type);
}

/* Reads the database out of a GetManagedObjects reply in the order
 * bluetoothd does (services, then characteristics, then descriptors), with
 * its checks. On failure returns the message of the Error.Failed reply and
 * puts the reason in *why. */
static const char *
application_parse (FakeApplication *app, GVariant *objects, char **why)
{
  GVariantIter iter;
  const char *path;
  GVariant *ifaces;
  guint n_proxies = 0;
  static const char *const gap_gatt[] = { "00001800-0000-1000-8000-00805f9b34fb",
                                          "00001801-0000-1000-8000-00805f9b34fb", NULL };

  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &ifaces))
    {
      GVariantIter iiter;
      const char *iface;

      g_variant_iter_init (&iiter, ifaces);
      while (g_variant_iter_next (&iiter, "{&s@a{sv}}", &iface, NULL))
        if (!g_str_has_prefix (iface, "org.freedesktop.DBus."))
          n_proxies++;
      g_variant_unref (ifaces);
    }
  if (n_proxies == 0)
    {
      *why = g_strdup ("no object with an interface");
      return "No object received";
    }

  /* Services first. */
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &ifaces))
    {
      g_autoptr (GVariant) owned = ifaces;
      g_autoptr (GVariant) props = g_variant_lookup_value (ifaces, IFACE_SERVICE, G_VARIANT_TYPE_VARDICT);
      FakeGattService *s;
      const char *uuid = NULL;

      if (props == NULL)
        continue;
      s = g_new0 (FakeGattService, 1);
      s->path = g_strdup (path);
      g_ptr_array_add (app->services, s);
      if (!g_variant_lookup (props, "UUID", "&s", &uuid) || (s->uuid128 = fake_uuid_normalize (uuid)) == NULL)
        {
          *why = g_strdup_printf ("%s: bad UUID", path);
          return "Failed to create entry in database";
        }
      s->uuid = g_strdup (uuid);
      if (g_strv_contains (gap_gatt, s->uuid128))
        {
          *why = g_strdup_printf ("%s: GAP and GATT services are bluetoothd's", path);
          return "Failed to create entry in database";
        }
      if (!g_variant_lookup (props, "Primary", "b", &s->primary))
        {
          *why = g_strdup_printf ("%s: Primary missing or not 'b'", path);
          return "Failed to create entry in database";
        }
      if (!optional_property_has_type (props, "Includes", G_VARIANT_TYPE_OBJECT_PATH_ARRAY) ||
          !optional_property_has_type (props, "Handle", G_VARIANT_TYPE_UINT16))
        {
          *why = g_strdup_printf ("%s: Includes or Handle of the wrong type", path);
          return "Failed to create entry in database";
        }
    }

  /* Characteristics. */
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &ifaces))
    {
      g_autoptr (GVariant) owned = ifaces;
      g_autoptr (GVariant) props = g_variant_lookup_value (ifaces, IFACE_CHRC, G_VARIANT_TYPE_VARDICT);
      FakeGattCharacteristic *c;
      const char *service_path = NULL, *uuid = NULL;

      if (props == NULL)
        continue;
      c = g_new0 (FakeGattCharacteristic, 1);
      c->path = g_strdup (path);
      c->subscribers = g_ptr_array_new_with_free_func (g_free);
      g_ptr_array_add (app->characteristics, c);
      if (!lookup_path_property (props, "Service", &service_path))
        {
          *why = g_strdup_printf ("%s: Service missing or not 'o'", path);
          return "No valid service object found";
        }
      c->service_path = g_strdup (service_path);
      {
        gboolean found = FALSE;
        for (guint i = 0; i < app->services->len && !found; i++)
          found = g_strcmp0 (((FakeGattService *) g_ptr_array_index (app->services, i))->path, service_path) == 0;
        if (!found)
          {
            *why = g_strdup_printf ("%s: Service %s is not a service", path, service_path);
            return "No valid service object found";
          }
      }
      if ((c->flags = parse_flags (props, chrc_flag_names, why)) == NULL)
        {
          g_autofree char *reason = g_steal_pointer (why);
          *why = g_strdup_printf ("%s: %s", path, reason);
          return "No valid service object found";
        }
      c->write_without_response = g_strv_contains ((const char *const *) c->flags, "write-without-response");
      c->notify_acquired = g_variant_lookup (props, "NotifyAcquired", "b", NULL);
      c->write_acquired = g_variant_lookup (props, "WriteAcquired", "b", NULL);
      if (!g_variant_lookup (props, "UUID", "&s", &uuid) || (c->uuid128 = fake_uuid_normalize (uuid)) == NULL)
        {
          *why = g_strdup_printf ("%s: bad UUID", path);
          return "Failed to create entry in database";
        }
      c->uuid = g_strdup (uuid);
      if (!optional_property_has_type (props, "Handle", G_VARIANT_TYPE_UINT16))
        {
          *why = g_strdup_printf ("%s: Handle not 'q'", path);
          return "Failed to create entry in database";
        }
    }

  /* Descriptors. */
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_next (&iter, "{&o@a{sa{sv}}}", &path, &ifaces))
    {
      g_autoptr (GVariant) owned = ifaces;
      g_autoptr (GVariant) props = g_variant_lookup_value (ifaces, IFACE_DESC, G_VARIANT_TYPE_VARDICT);
      FakeGattDescriptor *d;
      const char *chrc_path = NULL, *uuid = NULL;

      if (props == NULL)
        continue;
      d = g_new0 (FakeGattDescriptor, 1);
      d->path = g_strdup (path);
      g_ptr_array_add (app->descriptors, d);
      if (!lookup_path_property (props, "Characteristic", &chrc_path) ||
          fake_application_get_characteristic (app, chrc_path) == NULL)
        {
          *why = g_strdup_printf ("%s: Characteristic missing or not a characteristic", path);
          return "No valid service object found";
        }
      d->characteristic_path = g_strdup (chrc_path);
      if ((d->flags = parse_flags (props, desc_flag_names, why)) == NULL)
        {
          g_autofree char *reason = g_steal_pointer (why);
          *why = g_strdup_printf ("%s: %s", path, reason);
          return "No valid service object found";
        }
      if (!g_variant_lookup (props, "UUID", "&s", &uuid) || (d->uuid128 = fake_uuid_normalize (uuid)) == NULL)
        {
          *why = g_strdup_printf ("%s: bad UUID", path);
          return "Failed to create entry in database";
        }
      d->uuid = g_strdup (uuid);
      /* Stricter than bluetoothd, which would add a second CCCD: the
       * application must never export its own. */
      if (uuid_equal (d->uuid128, "2902"))
        {
          *why = g_strdup_printf ("%s: a 0x2902 descriptor (bluetoothd makes the CCCD)", path);
          return "Failed to create entry in database";
        }
    }

  if (app->services->len == 0)
    {
      *why = g_strdup ("no GattService1 object");
      return "No valid service object found";
    }
  return NULL;
}

typedef struct {
  FakeBluez *fb;
  FakeApplication *app;
  FakeAdvertisement *adv;
  GDBusMethodInvocation *invocation;
} PendingRegistration;

static void
pending_free (PendingRegistration *p)
{
  g_clear_object (&p->invocation);
  g_free (p);
}

/* Records the refusal and answers it; consumes the invocation. */
static void
registration_fail (GDBusMethodInvocation *invocation, FakeRegistrationState *state, char **error_name,
                   char **error_message, const char *name, const char *message)
{
  *state = FAKE_REGISTRATION_FAILED;
  g_free (*error_name);
  g_free (*error_message);
  *error_name = g_strdup (name);
  *error_message = g_strdup (message);
  g_dbus_method_invocation_return_dbus_error (invocation, name, message);
}

static void
app_objects_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  PendingRegistration *p = data;
  FakeApplication *app = p->app;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  g_autofree char *why = NULL;
  const char *failure;

  /* Cancelled: the stand-in left the bus and may be gone, app with it. */
  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      pending_free (p);
      return;
    }
  /* Dropped meanwhile (the adapter went, the registrant vanished):
   * bluetoothd never answers then. */
  if (app->state != FAKE_REGISTRATION_PENDING)
    {
      pending_free (p);
      return;
    }
  if (reply == NULL)
    {
      g_debug ("RegisterApplication %s%s: GetManagedObjects failed: %s", app->sender, app->path, error->message);
      registration_fail (g_steal_pointer (&p->invocation), &app->state, &app->error_name, &app->error_message, ERROR_FAILED,
                         "No object received");
      pending_free (p);
      return;
    }
  app->objects = g_variant_get_child_value (reply, 0);
  failure = application_parse (app, app->objects, &why);
  if (failure != NULL)
    {
      g_message ("RegisterApplication %s%s refused: %s (%s)", app->sender, app->path, failure, why);
      registration_fail (g_steal_pointer (&p->invocation), &app->state, &app->error_name, &app->error_message, ERROR_FAILED, failure);
    }
  else
    {
      g_debug ("RegisterApplication %s%s: %u services, %u characteristics, %u descriptors", app->sender,
               app->path, app->services->len, app->characteristics->len, app->descriptors->len);
      app->state = FAKE_REGISTRATION_ACTIVE;
      g_dbus_method_invocation_return_value (g_steal_pointer (&p->invocation), NULL);
    }
  pending_free (p);
}

static FakeApplication *
find_live_application (FakeBluez *fb, const char *sender, const char *path)
{
  for (guint i = 0; i < fb->applications->len; i++)
    {
      FakeApplication *app = g_ptr_array_index (fb->applications, i);
      if (registration_is_live (app->state) && g_strcmp0 (app->sender, sender) == 0 &&
          g_strcmp0 (app->path, path) == 0)
        return app;
    }
  return NULL;
}

static void
handle_register_application (FakeBluez *fb, const char *sender, GVariant *params, GDBusMethodInvocation *invocation)
{
  const char *path;
  FakeApplication *app;
  PendingRegistration *p;

  g_variant_get (params, "(&o@a{sv})", &path, NULL);
  app = g_new0 (FakeApplication, 1);
  app->serial = fb->applications->len + 1;
  app->sender = g_strdup (sender);
  app->path = g_strdup (path);
  app->services = g_ptr_array_new_with_free_func ((GDestroyNotify) gatt_service_free);
  app->characteristics = g_ptr_array_new_with_free_func ((GDestroyNotify) gatt_characteristic_free);
  app->descriptors = g_ptr_array_new_with_free_func ((GDestroyNotify) gatt_descriptor_free);
  app->time_us = g_get_monotonic_time ();
  app->state = FAKE_REGISTRATION_PENDING;

  if (find_live_application (fb, sender, path) != NULL)
    {
      g_ptr_array_add (fb->applications, app);
      registration_fail (invocation, &app->state, &app->error_name, &app->error_message,
                         "org.bluez.Error.AlreadyExists", "Already Exists");
      return;
    }
  g_ptr_array_add (fb->applications, app);
  ensure_watch (fb, sender);

  p = g_new0 (PendingRegistration, 1);
  p->fb = fb;
  p->app = app;
  p->invocation = invocation;
  /* Exactly at the registered path, before replying. */
  record_call (fb, "GetManagedObjects", path, FALSE);
  g_dbus_connection_call (fb->conn, sender, path, IFACE_OM, "GetManagedObjects", NULL,
                          G_VARIANT_TYPE ("(a{oa{sa{sv}}})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, REGISTRANT_TIMEOUT_MS,
                          fb->cancellable, app_objects_cb, p);
}

static void
handle_unregister_application (FakeBluez *fb, const char *sender, GVariant *params, GDBusMethodInvocation *invocation)
{
  const char *path;
  FakeApplication *app;

  g_variant_get (params, "(&o)", &path);
  fb->n_unregister_application++;
  app = find_live_application (fb, sender, path);
  if (app == NULL)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, "org.bluez.Error.DoesNotExist", "Does Not Exist");
      return;
    }
  app->state = FAKE_REGISTRATION_UNREGISTERED;
  g_dbus_method_invocation_return_value (invocation, NULL);
}

/* --- LEAdvertisingManager1 ------------------------------------------------------------ */

static gsize
uuid_list_len (GVariant *props, const char *name)
{
  g_autofree const char **uuids = NULL;
  gsize n16 = 0, n32 = 0, n128 = 0, len = 0;

  if (!g_variant_lookup (props, name, "^a&s", &uuids))
    return 0;
  for (guint i = 0; uuids[i] != NULL; i++)
    {
      g_autofree char *u = fake_uuid_normalize (uuids[i]);
      if (u == NULL)
        continue;
      if (g_str_has_suffix (u, "-0000-1000-8000-00805f9b34fb"))
        {
          if (g_str_has_prefix (u, "0000"))
            n16++;
          else
            n32++;
        }
      else
        n128++;
    }
  /* One AD structure per UUID size: length, type, UUIDs. */
  if (n16)
    len += 2 + 2 * n16;
  if (n32)
    len += 2 + 4 * n32;
  if (n128)
    len += 2 + 16 * n128;
  return len;
}

static gsize
uuid_short_size (const char *text)
{
  g_autofree char *u = fake_uuid_normalize (text);

  if (u == NULL)
    return 16;
  if (!g_str_has_suffix (u, "-0000-1000-8000-00805f9b34fb"))
    return 16;
  return g_str_has_prefix (u, "0000") ? 2 : 4;
}

/* Checks the advertisement as parse_advertisement() does; NULL when fine. */
static char *
advertisement_check (FakeBluez *fb, GVariant *props, gboolean *includes_appearance, gboolean *includes_tx_power,
                     gboolean *includes_name)
{
  static const struct {
    const char *name;
    const char *type;
  } types[] = {
    { "Type", "s" },           { "ServiceUUIDs", "as" },      { "SolicitUUIDs", "as" },
    { "ManufacturerData", "a{qv}" }, { "ServiceData", "a{sv}" }, { "Includes", "as" },
    { "LocalName", "s" },      { "Appearance", "q" },         { "Duration", "q" },
    { "Timeout", "q" },        { "Data", "a{yv}" },           { "Discoverable", "b" },
    { "DiscoverableTimeout", "q" }, { "SecondaryChannel", "s" },
  };
  const char *type = "broadcast";
  g_autofree const char **includes = NULL;
  gboolean discoverable = FALSE, has_flags = FALSE;
  guint16 timeout = 0, disc_timeout = 0;
  GVariantIter iter;
  GVariant *value;
  const char *key;

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autoptr (GVariant) v = g_variant_lookup_value (props, types[i].name, NULL);
      if (v != NULL && !g_variant_is_of_type (v, G_VARIANT_TYPE (types[i].type)))
        return g_strdup_printf ("%s is not '%s'", types[i].name, types[i].type);
    }
  g_variant_lookup (props, "Type", "&s", &type);
  if (g_strcmp0 (type, "broadcast") != 0 && g_strcmp0 (type, "peripheral") != 0)
    return g_strdup_printf ("Type \"%s\"", type);
  for (guint k = 0; k < 2; k++)
    {
      const char *list = k == 0 ? "ServiceUUIDs" : "SolicitUUIDs";
      g_autofree const char **uuids = NULL;
      if (g_variant_lookup (props, list, "^a&s", &uuids))
        for (guint i = 0; uuids[i] != NULL; i++)
          {
            g_autofree char *u = fake_uuid_normalize (uuids[i]);
            if (u == NULL)
              return g_strdup_printf ("%s: bad UUID \"%s\"", list, uuids[i]);
          }
    }
  if (g_variant_lookup (props, "ManufacturerData", "@a{qv}", &value))
    {
      g_autoptr (GVariant) owned = value;
      g_variant_iter_init (&iter, value);
      GVariant *inner;
      while (g_variant_iter_next (&iter, "{qv}", NULL, &inner))
        {
          g_autoptr (GVariant) owned_inner = inner;
          if (!g_variant_is_of_type (inner, G_VARIANT_TYPE_BYTESTRING))
            return g_strdup ("ManufacturerData value is not 'ay'");
        }
    }
  if (g_variant_lookup (props, "ServiceData", "@a{sv}", &value))
    {
      g_autoptr (GVariant) owned = value;
      GVariant *inner;
      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, "{&sv}", &key, &inner))
        {
          g_autoptr (GVariant) owned_inner = inner;
          g_autofree char *u = fake_uuid_normalize (key);
          if (u == NULL || !g_variant_is_of_type (inner, G_VARIANT_TYPE_BYTESTRING))
            return g_strdup_printf ("ServiceData entry \"%s\"", key);
        }
    }
  if (g_variant_lookup (props, "Data", "@a{yv}", &value))
    {
      g_autoptr (GVariant) owned = value;
      GVariant *inner;
      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, "{yv}", NULL, &inner))
        {
          g_autoptr (GVariant) owned_inner = inner;
          if (!g_variant_is_of_type (inner, G_VARIANT_TYPE_BYTESTRING))
            return g_strdup ("Data value is not 'ay'");
        }
    }
  *includes_appearance = *includes_tx_power = *includes_name = FALSE;
  if (g_variant_lookup (props, "Includes", "^a&s", &includes))
    {
      *includes_appearance = g_strv_contains (includes, "appearance");
      *includes_tx_power = g_strv_contains (includes, "tx-power");
      *includes_name = g_strv_contains (includes, "local-name");
    }
  if (*includes_name && g_variant_lookup (props, "LocalName", "&s", NULL))
    return g_strdup ("LocalName with the local-name include");
  if (*includes_appearance && g_variant_lookup (props, "Appearance", "q", NULL))
    return g_strdup ("Appearance with the appearance include");
  if (g_variant_lookup (props, "SecondaryChannel", "&s", NULL))
    return g_strdup ("SecondaryChannel needs extended advertising");
  if (g_variant_lookup (props, "Discoverable", "b", &discoverable))
    has_flags = discoverable;
  if (has_flags && g_strcmp0 (type, "broadcast") == 0)
    return g_strdup ("Broadcast cannot set flags");
  g_variant_lookup (props, "Timeout", "q", &timeout);
  if (g_variant_lookup (props, "DiscoverableTimeout", "q", &disc_timeout) && has_flags && timeout &&
      timeout < disc_timeout)
    return g_strdup ("DiscoverableTimeout > Timeout");
  if (fb->flags & FAKE_BLUEZ_FLAGS_EXPERIMENTAL)
    {
      guint32 min = 0, max = 0;
      gint16 tx = 0;
      g_autoptr (GVariant) any_min = g_variant_lookup_value (props, "MinInterval", NULL);
      g_autoptr (GVariant) any_max = g_variant_lookup_value (props, "MaxInterval", NULL);
      g_autoptr (GVariant) any_tx = g_variant_lookup_value (props, "TxPower", NULL);
      gboolean has_min = g_variant_lookup (props, "MinInterval", "u", &min);
      gboolean has_max = g_variant_lookup (props, "MaxInterval", "u", &max);

      if ((any_min != NULL && !has_min) || (any_max != NULL && !has_max))
        return g_strdup ("MinInterval/MaxInterval are not 'u'");
      /* ms / 0.625 within 0x20…0xFFFFFF */
      if ((has_min && (min * 8 / 5 < 0x20 || min * 8 / 5 > 0xFFFFFF)) ||
          (has_max && (max * 8 / 5 < 0x20 || max * 8 / 5 > 0xFFFFFF)))
        return g_strdup ("MinInterval/MaxInterval out of range");
      if (has_min && has_max && min > max)
        return g_strdup_printf ("MinInterval must be less than MaxInterval (%u > %u)", min, max);
      if (any_tx != NULL && (!g_variant_lookup (props, "TxPower", "n", &tx) || tx < -127 || tx > 20))
        return g_strdup ("TxPower");
    }
  return NULL;
}

/* The legacy advertising data and scan response as bluetoothd builds them
 * (refresh_legacy_adv), with the room the kernel keeps for its own fields. */
static void
advertisement_sizes (FakeBluez *fb, GVariant *props, gboolean includes_appearance, gboolean includes_tx_power,
                     gboolean includes_name, gsize *adv_len, gsize *adv_max, gsize *scan_len)
{
  gsize len = 0, max = FAKE_BLUEZ_MAX_ADV_LEN;
  gboolean discoverable = FALSE;
  const char *type = "broadcast", *name = NULL;
  GVariantIter iter;
  GVariant *value, *inner;
  const char *key;

  g_variant_lookup (props, "Type", "&s", &type);
  if (g_variant_lookup (props, "Discoverable", "b", &discoverable) && discoverable)
    len += 3; /* Flags */
  else if (g_strcmp0 (type, "peripheral") == 0 && fb->discoverable)
    max -= 3; /* the kernel adds the Flags */
  len += uuid_list_len (props, "ServiceUUIDs");
  len += uuid_list_len (props, "SolicitUUIDs");
  if (g_variant_lookup (props, "ManufacturerData", "@a{qv}", &value))
    {
      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, "{qv}", NULL, &inner))
        {
          len += 2 + 2 + g_variant_get_size (inner);
          g_variant_unref (inner);
        }
      g_variant_unref (value);
    }
  if (g_variant_lookup (props, "ServiceData", "@a{sv}", &value))
    {
      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, "{&sv}", &key, &inner))
        {
          len += 2 + uuid_short_size (key) + g_variant_get_size (inner);
          g_variant_unref (inner);
        }
      g_variant_unref (value);
    }
  if (g_variant_lookup (props, "Appearance", "q", NULL) || includes_appearance)
    len += 4;
  if (includes_appearance)
    max -= 4;
  if (includes_tx_power)
    max -= 3;
  if (g_variant_lookup (props, "Data", "@a{yv}", &value))
    {
      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, "{yv}", NULL, &inner))
        {
          len += 2 + g_variant_get_size (inner);
          g_variant_unref (inner);
        }
      g_variant_unref (value);
    }
  *adv_len = len;
  *adv_max = max;
  /* The name goes in the scan response, shortened to fit. */
  *scan_len = 0;
  if (g_variant_lookup (props, "LocalName", "&s", &name) || includes_name)
    *scan_len = MIN (2 + strlen (name ? name : fb->alias), (gsize) FAKE_BLUEZ_MAX_ADV_LEN);
}

typedef struct {
  FakeBluez *fb;
  FakeAdvertisement *adv;
} AdvTimeout;

static void
advertisement_cancel_timeout (FakeBluez *fb, FakeAdvertisement *adv)
{
  g_hash_table_remove (fb->adv_timeouts, adv);
}

static gboolean
adv_timeout_fired_cb (gpointer data)
{
  AdvTimeout *t = data;
  FakeBluez *fb = t->fb;
  FakeAdvertisement *adv = t->adv;

  g_debug ("advertisement %s%s: Timeout expired, Release()", adv->sender, adv->path);
  adv->state = FAKE_REGISTRATION_RELEASED;
  send_no_reply (fb, adv->sender, adv->path, IFACE_ADV, "Release", NULL);
  emit_adv_instances (fb);
  g_hash_table_remove (fb->adv_timeouts, adv); /* destroys this source */
  return G_SOURCE_REMOVE;
}

static void
advertisement_arm_timeout (FakeBluez *fb, FakeAdvertisement *adv)
{
  guint16 timeout = 0;
  GSource *source;
  AdvTimeout *t;

  advertisement_cancel_timeout (fb, adv);
  if (!g_variant_lookup (adv->properties, "Timeout", "q", &timeout) || timeout == 0)
    return;
  t = g_new0 (AdvTimeout, 1);
  t->fb = fb;
  t->adv = adv;
  source = g_timeout_source_new_seconds (timeout);
  g_source_set_callback (source, adv_timeout_fired_cb, t, g_free);
  g_source_attach (source, g_main_context_get_thread_default ());
  g_hash_table_insert (fb->adv_timeouts, adv, source);
}

static void
advertisement_apply (FakeBluez *fb, FakeAdvertisement *adv)
{
  const char *type = NULL;

  adv->type_missing = !g_variant_lookup (adv->properties, "Type", "&s", &type);
  g_free (adv->type);
  adv->type = g_strdup (type ? type : "broadcast");
}

static void
adv_properties_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  PendingRegistration *p = data;
  FakeBluez *fb = p->fb;
  FakeAdvertisement *adv = p->adv;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  g_autofree char *why = NULL;
  gboolean inc_appearance = FALSE, inc_tx = FALSE, inc_name = FALSE;
  gsize adv_max = 0;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      pending_free (p);
      return;
    }
  if (adv->state != FAKE_REGISTRATION_PENDING)
    {
      pending_free (p);
      return;
    }
  if (reply == NULL)
    {
      g_message ("RegisterAdvertisement %s%s: GetAll failed: %s", adv->sender, adv->path, error->message);
      registration_fail (g_steal_pointer (&p->invocation), &adv->state, &adv->error_name, &adv->error_message, ERROR_FAILED,
                         "Failed to parse advertisement.");
      pending_free (p);
      return;
    }
  adv->properties = g_variant_get_child_value (reply, 0);
  advertisement_apply (fb, adv);
  why = advertisement_check (fb, adv->properties, &inc_appearance, &inc_tx, &inc_name);
  if (why != NULL)
    {
      g_message ("RegisterAdvertisement %s%s refused: %s", adv->sender, adv->path, why);
      registration_fail (g_steal_pointer (&p->invocation), &adv->state, &adv->error_name, &adv->error_message, ERROR_FAILED,
                         "Failed to parse advertisement.");
      pending_free (p);
      return;
    }
  advertisement_sizes (fb, adv->properties, inc_appearance, inc_tx, inc_name, &adv->adv_data_len, &adv_max,
                       &adv->scan_rsp_len);
  if (adv->adv_data_len > adv_max)
    {
      g_message ("RegisterAdvertisement %s%s refused: advertising data of %" G_GSIZE_FORMAT
                 " bytes, room for %" G_GSIZE_FORMAT,
                 adv->sender, adv->path, adv->adv_data_len, adv_max);
      registration_fail (g_steal_pointer (&p->invocation), &adv->state, &adv->error_name, &adv->error_message, ERROR_FAILED,
                         "Failed to register advertisement");
      pending_free (p);
      return;
    }
  g_debug ("RegisterAdvertisement %s%s: %s, %" G_GSIZE_FORMAT " + %" G_GSIZE_FORMAT " bytes", adv->sender,
           adv->path, adv->type, adv->adv_data_len, adv->scan_rsp_len);
  adv->state = FAKE_REGISTRATION_ACTIVE;
  adv->broadcasting = TRUE;
  advertisement_arm_timeout (fb, adv);
  emit_adv_instances (fb);
  g_dbus_method_invocation_return_value (g_steal_pointer (&p->invocation), NULL);
  pending_free (p);
}

static FakeAdvertisement *
find_live_advertisement (FakeBluez *fb, const char *sender, const char *path)
{
  for (guint i = 0; i < fb->advertisements->len; i++)
    {
      FakeAdvertisement *adv = g_ptr_array_index (fb->advertisements, i);
      if (registration_is_live (adv->state) && g_strcmp0 (adv->sender, sender) == 0 &&
          g_strcmp0 (adv->path, path) == 0)
        return adv;
    }
  return NULL;
}

static void
advertisement_properties_changed (FakeBluez *fb, const char *sender, const char *path, GVariant *changed,
                                  const char *const *invalidated)
{
  FakeAdvertisement *adv = find_live_advertisement (fb, sender, path);
  GVariantDict dict;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  if (adv == NULL || adv->state != FAKE_REGISTRATION_ACTIVE)
    return;
  /* bluetoothd applies changed properties and refreshes the advertisement. */
  g_variant_dict_init (&dict, adv->properties);
  g_variant_iter_init (&iter, changed);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_variant_dict_insert_value (&dict, key, value);
      g_variant_unref (value);
    }
  for (guint i = 0; invalidated != NULL && invalidated[i] != NULL; i++)
    g_variant_dict_remove (&dict, invalidated[i]);
  g_clear_pointer (&adv->properties, g_variant_unref);
  adv->properties = g_variant_ref_sink (g_variant_dict_end (&dict));
  advertisement_apply (fb, adv);
  if (g_variant_lookup (changed, "Timeout", "q", NULL))
    advertisement_arm_timeout (fb, adv);
  adv->refreshes++;
}

static void
handle_register_advertisement (FakeBluez *fb, const char *sender, GVariant *params,
                               GDBusMethodInvocation *invocation)
{
  const char *path;
  FakeAdvertisement *adv;
  PendingRegistration *p;

  g_variant_get (params, "(&o@a{sv})", &path, NULL);
  adv = g_new0 (FakeAdvertisement, 1);
  adv->serial = fb->advertisements->len + 1;
  adv->sender = g_strdup (sender);
  adv->path = g_strdup (path);
  adv->time_us = g_get_monotonic_time ();
  adv->state = FAKE_REGISTRATION_PENDING;
  if (find_live_advertisement (fb, sender, path) != NULL)
    {
      g_ptr_array_add (fb->advertisements, adv);
      registration_fail (invocation, &adv->state, &adv->error_name, &adv->error_message,
                         "org.bluez.Error.AlreadyExists", "Already Exists");
      return;
    }
  if (count_live_advertisements (fb) >= SUPPORTED_INSTANCES)
    {
      g_ptr_array_add (fb->advertisements, adv);
      registration_fail (invocation, &adv->state, &adv->error_name, &adv->error_message,
                         "org.bluez.Error.NotPermitted", "Maximum advertisements reached");
      return;
    }
  g_ptr_array_add (fb->advertisements, adv);
  ensure_watch (fb, sender);

  p = g_new0 (PendingRegistration, 1);
  p->fb = fb;
  p->adv = adv;
  p->invocation = invocation;
  record_call (fb, "GetAll", path, FALSE);
  g_dbus_connection_call (fb->conn, sender, path, IFACE_PROPS, "GetAll", g_variant_new ("(s)", IFACE_ADV),
                          G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, REGISTRANT_TIMEOUT_MS,
                          fb->cancellable, adv_properties_cb, p);
}

static void
advertisement_end (FakeBluez *fb, FakeAdvertisement *adv, FakeRegistrationState state)
{
  advertisement_cancel_timeout (fb, adv);
  adv->state = state;
  adv->broadcasting = FALSE;
}

static void
handle_unregister_advertisement (FakeBluez *fb, const char *sender, GVariant *params,
                                 GDBusMethodInvocation *invocation)
{
  const char *path;
  FakeAdvertisement *adv;

  g_variant_get (params, "(&o)", &path);
  fb->n_unregister_advertisement++;
  adv = find_live_advertisement (fb, sender, path);
  if (adv == NULL)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, "org.bluez.Error.DoesNotExist", "Does Not Exist");
      return;
    }
  advertisement_end (fb, adv, FAKE_REGISTRATION_UNREGISTERED);
  emit_adv_instances (fb);
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static void
registrant_vanished (FakeBluez *fb, const char *sender)
{
  gboolean had_adv = FALSE;

  g_debug ("%s left the bus", sender);
  for (guint i = 0; i < fb->applications->len; i++)
    {
      FakeApplication *app = g_ptr_array_index (fb->applications, i);
      if (registration_is_live (app->state) && g_strcmp0 (app->sender, sender) == 0)
        app->state = FAKE_REGISTRATION_VANISHED;
    }
  for (guint i = 0; i < fb->advertisements->len; i++)
    {
      FakeAdvertisement *adv = g_ptr_array_index (fb->advertisements, i);
      if (registration_is_live (adv->state) && g_strcmp0 (adv->sender, sender) == 0)
        {
          advertisement_end (fb, adv, FAKE_REGISTRATION_VANISHED);
          had_adv = TRUE;
        }
    }
  g_hash_table_remove (fb->watches, sender);
  if (had_adv)
    emit_adv_instances (fb);
}

/* --- method dispatch ---------------------------------------------------------------- */

static void
handle_adapter_method (FakeBluez *fb, const char *method, GVariant *params, GDBusMethodInvocation *invocation)
{
  if (g_strcmp0 (method, "RemoveDevice") == 0)
    {
      const char *path;
      g_variant_get (params, "(&o)", &path);
      if (find_device (fb, path) == NULL)
        {
          g_dbus_method_invocation_return_dbus_error (invocation, "org.bluez.Error.DoesNotExist", "Does Not Exist");
          return;
        }
      fake_bluez_remove_device (fb, path);
      g_dbus_method_invocation_return_value (invocation, NULL);
    }
  else if (g_strcmp0 (method, "GetDiscoveryFilters") == 0)
    {
      const char *filters[] = { "UUIDs", "RSSI", "Pathloss", "Transport", "DuplicateData", NULL };
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(^as)", filters));
    }
  else
    {
      g_dbus_method_invocation_return_value (invocation, NULL);
    }
}

static void
handle_device_method (FakeBluez *fb, const char *path, const char *method, GDBusMethodInvocation *invocation)
{
  FakeDevice *d = find_device (fb, path);

  if (d == NULL)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, "org.bluez.Error.DoesNotExist", "Does Not Exist");
      return;
    }
  if (g_strcmp0 (method, "Disconnect") == 0)
    {
      d->n_disconnect_calls++;
      if (!d->connected)
        {
          g_dbus_method_invocation_return_dbus_error (invocation, "org.bluez.Error.NotConnected", "Not Connected");
          return;
        }
      fake_bluez_set_connected (fb, path, FALSE);
      g_dbus_method_invocation_return_value (invocation, NULL);
      return;
    }
  g_dbus_method_invocation_return_dbus_error (invocation, "org.bluez.Error.NotSupported", "Operation is not supported");
}

static void
method_call_cb (GDBusConnection *conn, const char *sender, const char *path, const char *iface, const char *method,
                GVariant *params, GDBusMethodInvocation *invocation, gpointer data)
{
  FakeBluez *fb = data;

  g_debug ("%s %s.%s from %s", path, iface, method, sender);
  if (fb->unresponsive && (g_strcmp0 (iface, IFACE_GATT_MANAGER) == 0 || g_strcmp0 (iface, IFACE_ADV_MANAGER) == 0))
    {
      g_ptr_array_add (fb->held, invocation);
      return;
    }
  if (g_strcmp0 (iface, IFACE_OM) == 0)
    {
      GVariantBuilder b;

      g_variant_builder_init (&b, G_VARIANT_TYPE ("a{oa{sa{sv}}}"));
      g_variant_builder_add (&b, "{o@a{sa{sv}}}", "/org/bluez", object_interfaces (fb, "/org/bluez", bluez_ifaces));
      if (fake_bluez_has_adapter (fb))
        {
          g_variant_builder_add (&b, "{o@a{sa{sv}}}", FAKE_BLUEZ_ADAPTER_PATH,
                                 object_interfaces (fb, FAKE_BLUEZ_ADAPTER_PATH, adapter_ifaces));
          for (guint i = 0; i < fb->devices->len; i++)
            {
              FakeDevice *d = g_ptr_array_index (fb->devices, i);
              g_variant_builder_add (&b, "{o@a{sa{sv}}}", d->path, object_interfaces (fb, d->path, device_ifaces));
            }
        }
      g_dbus_method_invocation_return_value (invocation, g_variant_new ("(@a{oa{sa{sv}}})", g_variant_builder_end (&b)));
    }
  else if (g_strcmp0 (iface, IFACE_GATT_MANAGER) == 0 && g_strcmp0 (method, "RegisterApplication") == 0)
    handle_register_application (fb, sender, params, invocation);
  else if (g_strcmp0 (iface, IFACE_GATT_MANAGER) == 0)
    handle_unregister_application (fb, sender, params, invocation);
  else if (g_strcmp0 (iface, IFACE_ADV_MANAGER) == 0 && g_strcmp0 (method, "RegisterAdvertisement") == 0)
    handle_register_advertisement (fb, sender, params, invocation);
  else if (g_strcmp0 (iface, IFACE_ADV_MANAGER) == 0)
    handle_unregister_advertisement (fb, sender, params, invocation);
  else if (g_strcmp0 (iface, IFACE_ADAPTER) == 0)
    handle_adapter_method (fb, method, params, invocation);
  else if (g_strcmp0 (iface, IFACE_DEVICE) == 0)
    handle_device_method (fb, path, method, invocation);
  else
    g_dbus_method_invocation_return_value (invocation, NULL); /* AgentManager1 */
}

static GVariant *
get_property_cb (GDBusConnection *conn, const char *sender, const char *path, const char *iface, const char *name,
                 GError **error, gpointer data)
{
  FakeBluez *fb = data;
  g_autoptr (GVariant) props = g_variant_ref_sink (object_properties (fb, path, iface));
  GVariant *value = g_variant_lookup_value (props, name, NULL);

  if (value == NULL)
    g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_INVALID_ARGS, "No such property '%s'", name);
  return value;
}

static gboolean
set_property_cb (GDBusConnection *conn, const char *sender, const char *path, const char *iface, const char *name,
                 GVariant *value, GError **error, gpointer data)
{
  FakeBluez *fb = data;
  guint n;

  if (g_strcmp0 (iface, IFACE_ADAPTER) != 0)
    {
      g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_PROPERTY_READ_ONLY, "Property '%s' is not settable here", name);
      return FALSE;
    }
  n = GPOINTER_TO_UINT (g_hash_table_lookup (fb->adapter_sets, name));
  g_hash_table_insert (fb->adapter_sets, g_strdup (name), GUINT_TO_POINTER (n + 1));
  if (g_strcmp0 (name, "Powered") == 0)
    fake_bluez_set_powered (fb, g_variant_get_boolean (value));
  else if (g_strcmp0 (name, "Discoverable") == 0)
    {
      fb->discoverable = g_variant_get_boolean (value);
      emit_one_property (fb, path, iface, name, g_variant_new_boolean (fb->discoverable));
    }
  else if (g_strcmp0 (name, "Pairable") == 0)
    {
      fb->pairable = g_variant_get_boolean (value);
      emit_one_property (fb, path, iface, name, g_variant_new_boolean (fb->pairable));
    }
  else if (g_strcmp0 (name, "Alias") == 0)
    {
      g_free (fb->alias);
      fb->alias = g_variant_dup_string (value, NULL);
      emit_one_property (fb, path, iface, name, g_variant_new_string (fb->alias));
    }
  return TRUE;
}

static const GDBusInterfaceVTable vtable = { method_call_cb, get_property_cb, set_property_cb, { 0 } };

static void
export (FakeBluez *fb, GArray *ids, const char *path, const char *iface)
{
  g_autoptr (GError) error = NULL;
  GDBusInterfaceInfo *info;
  guint id;

  if (g_strcmp0 (iface, IFACE_ADV_MANAGER) == 0)
    info = fb->adv_manager_info->interfaces[0];
  else
    info = g_dbus_node_info_lookup_interface (fb->node_info, iface);
  id = g_dbus_connection_register_object (fb->conn, path, info, &vtable, fb, NULL, &error);
  g_assert_no_error (error);
  g_array_append_val (ids, id);
}

/* --- adapter and devices ------------------------------------------------------------ */

gboolean
fake_bluez_has_adapter (FakeBluez *fb)
{
  return fb->adapter_registrations->len > 0;
}

static void
adapter_export (FakeBluez *fb)
{
  for (guint i = 0; adapter_ifaces[i] != NULL; i++)
    export (fb, fb->adapter_registrations, FAKE_BLUEZ_ADAPTER_PATH, adapter_ifaces[i]);
}

void
fake_bluez_add_adapter (FakeBluez *fb)
{
  g_return_if_fail (fb->conn != NULL);
  if (fake_bluez_has_adapter (fb))
    return;
  adapter_export (fb);
  emit_interfaces_added (fb, FAKE_BLUEZ_ADAPTER_PATH, adapter_ifaces);
}

static void
drop_registrations (FakeBluez *fb, gboolean release_advertisements)
{
  for (guint i = 0; i < fb->applications->len; i++)
    {
      FakeApplication *app = g_ptr_array_index (fb->applications, i);
      if (registration_is_live (app->state))
        app->state = FAKE_REGISTRATION_DROPPED;
    }
  for (guint i = 0; i < fb->advertisements->len; i++)
    {
      FakeAdvertisement *adv = g_ptr_array_index (fb->advertisements, i);
      if (!registration_is_live (adv->state))
        continue;
      /* The advertising manager goes with its adapter and releases its
       * clients; a bluetoothd that exits releases nothing. */
      if (release_advertisements && adv->state == FAKE_REGISTRATION_ACTIVE)
        send_no_reply (fb, adv->sender, adv->path, IFACE_ADV, "Release", NULL);
      advertisement_end (fb, adv, FAKE_REGISTRATION_DROPPED);
    }
}

static void
device_unexport (FakeBluez *fb, FakeDevice *d)
{
  registrations_unregister (fb->conn, d->registrations);
}

void
fake_bluez_remove_adapter (FakeBluez *fb)
{
  if (!fake_bluez_has_adapter (fb))
    return;
  while (fb->devices->len > 0)
    fake_bluez_remove_device (fb, ((FakeDevice *) g_ptr_array_index (fb->devices, 0))->path);
  drop_registrations (fb, TRUE);
  emit_interfaces_removed (fb, FAKE_BLUEZ_ADAPTER_PATH, adapter_ifaces);
  registrations_unregister (fb->conn, fb->adapter_registrations);
}

gboolean
fake_bluez_get_powered (FakeBluez *fb)
{
  return fb->powered;
}

void
fake_bluez_set_powered (FakeBluez *fb, gboolean powered)
{
  GVariantBuilder b;

  if (fb->powered == powered)
    return;
  fb->powered = powered;
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "Powered", g_variant_new_boolean (powered));
  g_variant_builder_add (&b, "{sv}", "PowerState", g_variant_new_string (powered ? "on" : "off"));
  if (fake_bluez_has_adapter (fb))
    emit_properties_changed (fb, FAKE_BLUEZ_ADAPTER_PATH, IFACE_ADAPTER, g_variant_builder_end (&b));
  else
    g_variant_builder_clear (&b);
}

guint
fake_bluez_get_n_adapter_sets (FakeBluez *fb, const char *property)
{
  return GPOINTER_TO_UINT (g_hash_table_lookup (fb->adapter_sets, property));
}

const char *
fake_bluez_add_device (FakeBluez *fb, const char *address, guint16 mtu)
{
  g_autofree char *path = device_path_for (address);
  FakeDevice *d;

  g_return_val_if_fail (fake_bluez_has_adapter (fb), NULL);
  d = find_device (fb, path);
  if (d != NULL)
    return d->path;
  d = g_new0 (FakeDevice, 1);
  d->path = g_steal_pointer (&path);
  d->address = g_ascii_strup (address, -1);
  d->mtu = mtu ? mtu : 23;
  d->registrations = g_array_new (FALSE, FALSE, sizeof (guint));
  g_ptr_array_add (fb->devices, d);
  export (fb, d->registrations, d->path, IFACE_DEVICE);
  emit_interfaces_added (fb, d->path, device_ifaces);
  return d->path;
}

static gboolean
any_device_connected (FakeBluez *fb)
{
  for (guint i = 0; i < fb->devices->len; i++)
    if (((FakeDevice *) g_ptr_array_index (fb->devices, i))->connected)
      return TRUE;
  return FALSE;
}

void
fake_bluez_set_connected (FakeBluez *fb, const char *device_path, gboolean connected)
{
  FakeDevice *d = find_device (fb, device_path);

  g_return_if_fail (d != NULL);
  if (d->connected == connected)
    return;
  d->connected = connected;
  emit_one_property (fb, d->path, IFACE_DEVICE, "Connected", g_variant_new_boolean (connected));
  if (!connected)
    unsubscribe_device (fb, d->path);
  /* The controller stops a connectable advertising set when a central
   * connects; the kernel re-enables advertising when the link drops. */
  for (guint i = 0; i < fb->advertisements->len; i++)
    {
      FakeAdvertisement *adv = g_ptr_array_index (fb->advertisements, i);
      if (adv->state != FAKE_REGISTRATION_ACTIVE)
        continue;
      if (connected && g_strcmp0 (adv->type, "peripheral") == 0)
        adv->broadcasting = FALSE;
      else if (!connected && !any_device_connected (fb) && !fb->advertising_not_resumed)
        adv->broadcasting = TRUE;
    }
}

void
fake_bluez_remove_device (FakeBluez *fb, const char *device_path)
{
  FakeDevice *d = find_device (fb, device_path);

  if (d == NULL)
    return;
  if (d->connected)
    fake_bluez_set_connected (fb, device_path, FALSE);
  emit_interfaces_removed (fb, d->path, device_ifaces);
  device_unexport (fb, d);
  g_ptr_array_remove (fb->devices, d);
}

gboolean
fake_bluez_device_is_connected (FakeBluez *fb, const char *device_path)
{
  FakeDevice *d = find_device (fb, device_path);

  return d != NULL && d->connected;
}

void
fake_bluez_set_device_mtu (FakeBluez *fb, const char *device_path, guint16 mtu)
{
  FakeDevice *d = find_device (fb, device_path);

  g_return_if_fail (d != NULL);
  d->mtu = mtu;
}

guint
fake_bluez_get_n_disconnect_calls (FakeBluez *fb, const char *device_path)
{
  FakeDevice *d = find_device (fb, device_path);

  return d ? d->n_disconnect_calls : 0;
}

void
fake_bluez_set_unresponsive (FakeBluez *fb, gboolean unresponsive)
{
  fb->unresponsive = unresponsive;
}

void
fake_bluez_set_advertising_not_resumed (FakeBluez *fb, gboolean not_resumed)
{
  fb->advertising_not_resumed = not_resumed;
}

static void
source_destroy_unref (gpointer source)
{
  g_source_destroy (source);
  g_source_unref (source);
}

/* --- life cycle -------------------------------------------------------------------- */

FakeBluez *
fake_bluez_new (const char *bus_address, FakeBluezFlags flags)
{
  FakeBluez *fb = g_new0 (FakeBluez, 1);
  g_autoptr (GError) error = NULL;

  fb->bus_address = g_strdup (bus_address);
  fb->flags = flags;
  fb->node_info = g_dbus_node_info_new_for_xml (introspection_xml, &error);
  g_assert_no_error (error);
  fb->adv_manager_info = g_dbus_node_info_new_for_xml (
    (flags & FAKE_BLUEZ_FLAGS_EXPERIMENTAL) ? adv_manager_experimental_xml : adv_manager_xml, &error);
  g_assert_no_error (error);
  fb->root_registrations = g_array_new (FALSE, FALSE, sizeof (guint));
  fb->adapter_registrations = g_array_new (FALSE, FALSE, sizeof (guint));
  fb->adapter_sets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  fb->devices = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);
  fb->watches = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) watch_free);
  fb->applications = g_ptr_array_new_with_free_func ((GDestroyNotify) application_free);
  fb->advertisements = g_ptr_array_new_with_free_func ((GDestroyNotify) advertisement_free);
  fb->adv_timeouts = g_hash_table_new_full (NULL, NULL, NULL, source_destroy_unref);
  fb->signals = g_ptr_array_new_with_free_func ((GDestroyNotify) signal_free);
  fb->record_signals = TRUE;
  fb->calls = g_ptr_array_new_with_free_func ((GDestroyNotify) call_free);
  fb->held = g_ptr_array_new_with_free_func (g_object_unref);
  fb->alias = g_strdup ("fake-bluez");
  return fb;
}

gboolean
fake_bluez_start (FakeBluez *fb, GError **error)
{
  g_autoptr (GVariant) reply = NULL;
  guint32 result = 0;

  g_return_val_if_fail (fb->conn == NULL, FALSE);
  /* Talking to the bus daemon alone, so a synchronous call cannot wait on
   * the application under test. */
  fb->conn = g_dbus_connection_new_for_address_sync (
    fb->bus_address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
    NULL, NULL, error);
  if (fb->conn == NULL)
    return FALSE;
  g_dbus_connection_set_exit_on_close (fb->conn, FALSE);
  fb->cancellable = g_cancellable_new ();
  fb->powered = !(fb->flags & FAKE_BLUEZ_FLAGS_POWERED_OFF);
  fb->discoverable = FALSE;
  fb->pairable = TRUE;

  export (fb, fb->root_registrations, "/", IFACE_OM);
  export (fb, fb->root_registrations, "/org/bluez", IFACE_AGENT_MANAGER);
  if (!(fb->flags & FAKE_BLUEZ_FLAGS_NO_ADAPTER))
    adapter_export (fb);

  reply = g_dbus_connection_call_sync (fb->conn, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                       "org.freedesktop.DBus", "RequestName",
                                       g_variant_new ("(su)", BLUEZ_NAME, 0x4 /* DO_NOT_QUEUE */),
                                       G_VARIANT_TYPE ("(u)"), G_DBUS_CALL_FLAGS_NONE, 5000, NULL, error);
  if (reply == NULL)
    {
      fake_bluez_stop (fb);
      return FALSE;
    }
  g_variant_get (reply, "(u)", &result);
  if (result != 1 /* PRIMARY_OWNER */)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, "could not own " BLUEZ_NAME " (%u)", result);
      fake_bluez_stop (fb);
      return FALSE;
    }
  g_debug ("owns " BLUEZ_NAME " as %s", g_dbus_connection_get_unique_name (fb->conn));
  return TRUE;
}

void
fake_bluez_stop (FakeBluez *fb)
{
  g_autoptr (GDBusConnection) conn = NULL;

  if (fb->conn == NULL)
    return;
  g_cancellable_cancel (fb->cancellable);
  g_clear_object (&fb->cancellable);
  drop_registrations (fb, FALSE);
  g_ptr_array_set_size (fb->held, 0);
  fb->unresponsive = FALSE;
  g_hash_table_remove_all (fb->watches);
  for (guint i = 0; i < fb->devices->len; i++)
    device_unexport (fb, g_ptr_array_index (fb->devices, i));
  g_ptr_array_set_size (fb->devices, 0);
  registrations_unregister (fb->conn, fb->adapter_registrations);
  registrations_unregister (fb->conn, fb->root_registrations);
  conn = g_steal_pointer (&fb->conn);
  /* What was sent goes out first; closing the connection then makes the
   * bus drop org.bluez at once. */
  g_dbus_connection_flush_sync (conn, NULL, NULL);
  g_dbus_connection_close_sync (conn, NULL, NULL);
  g_debug ("left the bus");
}

void
fake_bluez_shutdown (FakeBluez *fb)
{
  if (fb->conn == NULL)
    return;
  fake_bluez_remove_adapter (fb);
  fake_bluez_stop (fb);
}

gboolean
fake_bluez_is_running (FakeBluez *fb)
{
  return fb->conn != NULL;
}

GDBusConnection *
fake_bluez_get_connection (FakeBluez *fb)
{
  return fb->conn;
}

void
fake_bluez_free (FakeBluez *fb)
{
  if (fb == NULL)
    return;
  fake_bluez_stop (fb);
  g_hash_table_unref (fb->adv_timeouts);
  g_hash_table_unref (fb->watches);
  g_ptr_array_unref (fb->devices);
  g_ptr_array_unref (fb->applications);
  g_ptr_array_unref (fb->advertisements);
  g_ptr_array_unref (fb->signals);
  g_ptr_array_unref (fb->calls);
  g_ptr_array_unref (fb->held);
  g_hash_table_unref (fb->adapter_sets);
  g_array_unref (fb->root_registrations);
  g_array_unref (fb->adapter_registrations);
  g_dbus_node_info_unref (fb->node_info);
  g_dbus_node_info_unref (fb->adv_manager_info);
  g_free (fb->alias);
  g_free (fb->bus_address);
  g_free (fb);
}

/* --- queries -------------------------------------------------------------------- */

GPtrArray *
fake_bluez_get_applications (FakeBluez *fb)
{
  return fb->applications;
}

FakeApplication *
fake_bluez_get_active_application (FakeBluez *fb)
{
  for (guint i = fb->applications->len; i > 0; i--)
    {
      FakeApplication *app = g_ptr_array_index (fb->applications, i - 1);
      if (app->state == FAKE_REGISTRATION_ACTIVE)
        return app;
    }
  return NULL;
}

guint
fake_bluez_count_applications (FakeBluez *fb, FakeRegistrationState state)
{
  guint n = 0;

  for (guint i = 0; i < fb->applications->len; i++)
    if (((FakeApplication *) g_ptr_array_index (fb->applications, i))->state == state)
      n++;
  return n;
}

GPtrArray *
fake_bluez_get_advertisements (FakeBluez *fb)
{
  return fb->advertisements;
}

FakeAdvertisement *
fake_bluez_get_active_advertisement (FakeBluez *fb)
{
  for (guint i = fb->advertisements->len; i > 0; i--)
    {
      FakeAdvertisement *adv = g_ptr_array_index (fb->advertisements, i - 1);
      if (adv->state == FAKE_REGISTRATION_ACTIVE)
        return adv;
    }
  return NULL;
}

guint
fake_bluez_count_advertisements (FakeBluez *fb, FakeRegistrationState state)
{
  guint n = 0;

  for (guint i = 0; i < fb->advertisements->len; i++)
    if (((FakeAdvertisement *) g_ptr_array_index (fb->advertisements, i))->state == state)
      n++;
  return n;
}

guint
fake_bluez_get_n_unregister_application (FakeBluez *fb)
{
  return fb->n_unregister_application;
}

guint
fake_bluez_get_n_unregister_advertisement (FakeBluez *fb)
{
  return fb->n_unregister_advertisement;
}

GVariant *
fake_advertisement_get (FakeAdvertisement *adv, const char *name)
{
  if (adv->properties == NULL)
    return NULL;
  return g_variant_lookup_value (adv->properties, name, NULL);
}

FakeGattService *
fake_application_find_service (FakeApplication *app, const char *uuid)
{
  for (guint i = 0; i < app->services->len; i++)
    {
      FakeGattService *s = g_ptr_array_index (app->services, i);
      if (uuid_equal (s->uuid128, uuid))
        return s;
    }
  return NULL;
}

FakeGattCharacteristic *
fake_application_find_characteristic (FakeApplication *app, const char *uuid)
{
  for (guint i = 0; i < app->characteristics->len; i++)
    {
      FakeGattCharacteristic *c = g_ptr_array_index (app->characteristics, i);
      if (uuid_equal (c->uuid128, uuid))
        return c;
    }
  return NULL;
}

FakeGattCharacteristic *
fake_application_get_characteristic (FakeApplication *app, const char *path)
{
  for (guint i = 0; i < app->characteristics->len; i++)
    {
      FakeGattCharacteristic *c = g_ptr_array_index (app->characteristics, i);
      if (g_strcmp0 (c->path, path) == 0)
        return c;
    }
  return NULL;
}

GPtrArray *
fake_application_get_descriptors (FakeApplication *app, const char *characteristic_path)
{
  GPtrArray *out = g_ptr_array_new ();

  for (guint i = 0; i < app->descriptors->len; i++)
    {
      FakeGattDescriptor *d = g_ptr_array_index (app->descriptors, i);
      if (g_strcmp0 (d->characteristic_path, characteristic_path) == 0)
        g_ptr_array_add (out, d);
    }
  return out;
}

FakeGattDescriptor *
fake_application_find_descriptor (FakeApplication *app, const char *characteristic_path, const char *uuid)
{
  for (guint i = 0; i < app->descriptors->len; i++)
    {
      FakeGattDescriptor *d = g_ptr_array_index (app->descriptors, i);
      if (g_strcmp0 (d->characteristic_path, characteristic_path) == 0 && uuid_equal (d->uuid128, uuid))
        return d;
    }
  return NULL;
}

gboolean
fake_characteristic_has_flag (FakeGattCharacteristic *chr, const char *flag)
{
  return chr->flags != NULL && g_strv_contains ((const char *const *) chr->flags, flag);
}

GPtrArray *
fake_bluez_get_signals (FakeBluez *fb)
{
  return fb->signals;
}

guint64
fake_bluez_get_n_signals (FakeBluez *fb)
{
  return fb->n_signals;
}

guint
fake_bluez_count_value_signals (FakeBluez *fb, const char *path)
{
  guint n = 0;

  for (guint i = 0; i < fb->signals->len; i++)
    {
      FakeSignal *s = g_ptr_array_index (fb->signals, i);
      if (s->value != NULL && g_strcmp0 (s->path, path) == 0)
        n++;
    }
  return n;
}

void
fake_bluez_clear_signals (FakeBluez *fb)
{
  g_ptr_array_set_size (fb->signals, 0);
}

void
fake_bluez_set_record_signals (FakeBluez *fb, gboolean record)
{
  fb->record_signals = record;
}

void
fake_bluez_set_signal_func (FakeBluez *fb, FakeSignalFunc func, gpointer user_data)
{
  fb->signal_func = func;
  fb->signal_func_data = user_data;
}

GPtrArray *
fake_bluez_get_calls (FakeBluez *fb)
{
  return fb->calls;
}
