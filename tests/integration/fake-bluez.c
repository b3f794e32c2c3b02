/* The stand-in bluetoothd (see fake-bluez.h): its connection and bus name,
 * the ObjectManager, the adapter and its devices, the registrants it
 * follows. GattManager1 is in fake-bluez-gatt.c, LEAdvertisingManager1 in
 * fake-bluez-adv.c. What it does follows BlueZ 5.66 as summarised in
 * /work/shared/BLUEZ.md. */
#define G_LOG_DOMAIN "fake-bluez"

#include "fake-bluez-private.h"

#include <string.h>

/* clang-format off */
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

/* Adapter1 members that depend on the version or -E (fake_bluez_set_version). */
static const char adapter_connect_device_xml[] =
  "  <method name='ConnectDevice'><arg name='properties' type='a{sv}' direction='in'/></method>";
static const char adapter_power_state_xml[] = "  <property name='PowerState' type='s' access='read'/>";
static const char adapter_manufacturer_xml[] =
  "  <property name='Manufacturer' type='q' access='read'/>"
  "  <property name='Version' type='y' access='read'/>";
static const char adapter_connectable_xml[] = "  <property name='Connectable' type='b' access='readwrite'/>";

/* LEAdvertisingManager1 as 5.66 shows it, and with -E (experimental) or from 5.77. */
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
/* clang-format on */

/* --- waiting -------------------------------------------------------------- */

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

/* --- small helpers -------------------------------------------------------- */

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

gboolean
fake_uuid_equal (const char *uuid128, const char *text)
{
  g_autofree char *other = fake_uuid_normalize (text);

  return other != NULL && g_strcmp0 (uuid128, other) == 0;
}

char *
fake_device_path_for (const char *address)
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

void
fake_bluez_emit_properties_changed (FakeBluez *fb, const char *path, const char *iface, GVariant *changed)
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
  fake_bluez_emit_properties_changed (fb, path, iface, g_variant_builder_end (&b));
}

void
fake_bluez_emit_adapter_property (FakeBluez *fb, const char *name, GVariant *value)
{
  emit_one_property (fb, FAKE_BLUEZ_ADAPTER_PATH, IFACE_ADAPTER, name, value);
}

/* --- records -------------------------------------------------------------- */

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
  g_ptr_array_unref (d->received);
  g_free (d);
}

void
fake_bluez_record_call (FakeBluez *fb, const char *method, const char *path, gboolean no_reply)
{
  FakeCall *c = g_new0 (FakeCall, 1);

  c->method = g_strdup (method);
  c->path = g_strdup (path);
  c->no_reply = no_reply;
  g_ptr_array_add (fb->calls, c);
}

gboolean
fake_registration_is_live (FakeRegistrationState state)
{
  return state == FAKE_REGISTRATION_PENDING || state == FAKE_REGISTRATION_ACTIVE;
}

/* --- object properties ---------------------------------------------------- */

FakeDevice *
fake_bluez_find_device (FakeBluez *fb, const char *path)
{
  for (guint i = 0; i < fb->devices->len; i++)
    {
      FakeDevice *d = g_ptr_array_index (fb->devices, i);
      if (g_strcmp0 (d->path, path) == 0)
        return d;
    }
  return NULL;
}

/* The a{sv} of one interface of one object (floating). */
GVariant *
fake_bluez_object_properties (FakeBluez *fb, const char *path, const char *iface)
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
      if (fake_bluez_shows_power_state (fb))
        g_variant_builder_add (&b, "{sv}", "PowerState", g_variant_new_string (fb->powered ? "on" : "off"));
      if (fake_bluez_version_at_least (fb, 5, 71))
        {
          /* the controller's company (1521: Linux Foundation, as btvirt's) and HCI version */
          g_variant_builder_add (&b, "{sv}", "Manufacturer", g_variant_new_uint16 (1521));
          g_variant_builder_add (&b, "{sv}", "Version", g_variant_new_byte (9));
        }
      if (fake_bluez_version_at_least (fb, 5, 79))
        g_variant_builder_add (&b, "{sv}", "Connectable", g_variant_new_boolean (TRUE));
      g_variant_builder_add (&b, "{sv}", "Discoverable", g_variant_new_boolean (fb->discoverable));
      g_variant_builder_add (&b, "{sv}", "DiscoverableTimeout", g_variant_new_uint32 (180));
      g_variant_builder_add (&b, "{sv}", "Pairable", g_variant_new_boolean (fb->pairable));
      g_variant_builder_add (&b, "{sv}", "PairableTimeout", g_variant_new_uint32 (fb->pairable_timeout));
      g_variant_builder_add (&b, "{sv}", "Discovering", g_variant_new_boolean (FALSE));
      g_variant_builder_add (&b, "{sv}", "UUIDs", g_variant_new_strv (uuids, -1));
      g_variant_builder_add (&b, "{sv}", "Modalias", g_variant_new_string ("usb:v1D6Bp0246d0542"));
      g_variant_builder_add (&b, "{sv}", "Roles", g_variant_new_strv (roles, -1));
      if (fb->version >= 579)
        g_variant_builder_add (&b, "{sv}", "Connectable", g_variant_new_boolean (TRUE));
    }
  else if (g_strcmp0 (iface, IFACE_ADV_MANAGER) == 0)
    {
      const char *includes[] = { "tx-power", "appearance", "local-name", NULL };
      guint active = fake_bluez_count_live_advertisements (fb);

      g_variant_builder_add (&b, "{sv}", "ActiveInstances", g_variant_new_byte (active));
      g_variant_builder_add (&b, "{sv}", "SupportedInstances", g_variant_new_byte (SUPPORTED_INSTANCES - active));
      g_variant_builder_add (&b, "{sv}", "SupportedIncludes", g_variant_new_strv (includes, -1));
      if (fake_bluez_shows_supported_features (fb))
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
      FakeDevice *d = fake_bluez_find_device (fb, path);

      if (d != NULL)
        {
          g_autofree char *name = g_strdup_printf ("central-%s", d->address + 12);

          g_variant_builder_add (&b, "{sv}", "Address", g_variant_new_string (d->address));
          g_variant_builder_add (&b, "{sv}", "AddressType", g_variant_new_string ("public"));
          g_variant_builder_add (&b, "{sv}", "Name", g_variant_new_string (name));
          g_variant_builder_add (&b, "{sv}", "Alias", g_variant_new_string (name));
          g_variant_builder_add (&b, "{sv}", "Paired", g_variant_new_boolean (d->paired));
          g_variant_builder_add (&b, "{sv}", "Bonded", g_variant_new_boolean (d->bonded));
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
    g_variant_builder_add (&b, "{s@a{sv}}", ifaces[i], fake_bluez_object_properties (fb, path, ifaces[i]));
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

/* --- watching registrants ------------------------------------------------- */

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
    fake_bluez_advertisement_properties_changed (fb, sender, path, changed, invalidated);

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

  if (s->value != NULL && g_strcmp0 (changed_iface, IFACE_CHRC) == 0)
    fake_bluez_sockets_signal (fb, path, s->value);
  if (fb->signal_func != NULL)
    fb->signal_func (fb, s, fb->signal_func_data);
  if (fb->record_signals)
    g_ptr_array_add (fb->signals, s);
  else
    signal_free (s);
}

/* Follows a registrant as bluetoothd's GDBusClient does: a match rule on its
 * unique name for PropertiesChanged, and a watch on the name. */
void
fake_bluez_ensure_watch (FakeBluez *fb, const char *sender)
{
  FakeWatch *w;

  if (g_hash_table_contains (fb->watches, sender))
    return;
  w = g_new0 (FakeWatch, 1);
  w->fb = fb;
  w->sender = g_strdup (sender);
  w->signal_subscription = g_dbus_connection_signal_subscribe (fb->conn, sender, IFACE_PROPS, "PropertiesChanged", NULL,
                                                               NULL, G_DBUS_SIGNAL_FLAGS_NONE, properties_changed_cb, w,
                                                               NULL);
  w->name_watch = g_bus_watch_name_on_connection (fb->conn, sender, G_BUS_NAME_WATCHER_FLAGS_NONE, NULL,
                                                  name_vanished_cb, w, NULL);
  g_hash_table_insert (fb->watches, w->sender, w);
}

void
fake_bluez_send_no_reply (FakeBluez *fb, const char *dest, const char *path, const char *iface, const char *method,
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
      fake_bluez_record_call (fb, method, path, TRUE);
    }
  if (body != NULL)
    g_variant_unref (body);
}

void
fake_pending_registration_free (PendingRegistration *p)
{
  g_clear_object (&p->invocation);
  g_free (p);
}

/* Records the refusal and answers it; consumes the invocation. */
void
fake_registration_fail (GDBusMethodInvocation *invocation, FakeRegistrationState *state, char **error_name,
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
registrant_vanished (FakeBluez *fb, const char *sender)
{
  gboolean had_adv = FALSE;

  g_debug ("%s left the bus", sender);
  for (guint i = 0; i < fb->applications->len; i++)
    {
      FakeApplication *app = g_ptr_array_index (fb->applications, i);
      if (fake_registration_is_live (app->state) && g_strcmp0 (app->sender, sender) == 0)
        app->state = FAKE_REGISTRATION_VANISHED;
    }
  for (guint i = 0; i < fb->advertisements->len; i++)
    {
      FakeAdvertisement *adv = g_ptr_array_index (fb->advertisements, i);
      if (fake_registration_is_live (adv->state) && g_strcmp0 (adv->sender, sender) == 0)
        {
          fake_advertisement_end (fb, adv, FAKE_REGISTRATION_VANISHED);
          had_adv = TRUE;
        }
    }
  fake_bluez_agents_vanished (fb, sender);
  g_hash_table_remove (fb->watches, sender);
  if (had_adv)
    fake_bluez_emit_adv_instances (fb);
}

/* --- method dispatch ------------------------------------------------------ */

static void
handle_adapter_method (FakeBluez *fb, const char *method, GVariant *params, GDBusMethodInvocation *invocation)
{
  if (g_strcmp0 (method, "RemoveDevice") == 0)
    {
      const char *path;
      g_variant_get (params, "(&o)", &path);
      if (fake_bluez_find_device (fb, path) == NULL)
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
  FakeDevice *d = fake_bluez_find_device (fb, path);

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
      g_dbus_method_invocation_return_value (invocation,
                                             g_variant_new ("(@a{oa{sa{sv}}})", g_variant_builder_end (&b)));
    }
  else if (g_strcmp0 (iface, IFACE_GATT_MANAGER) == 0 && g_strcmp0 (method, "RegisterApplication") == 0)
    fake_bluez_handle_register_application (fb, sender, params, invocation);
  else if (g_strcmp0 (iface, IFACE_GATT_MANAGER) == 0)
    fake_bluez_handle_unregister_application (fb, sender, params, invocation);
  else if (g_strcmp0 (iface, IFACE_ADV_MANAGER) == 0 && g_strcmp0 (method, "RegisterAdvertisement") == 0)
    fake_bluez_handle_register_advertisement (fb, sender, params, invocation);
  else if (g_strcmp0 (iface, IFACE_ADV_MANAGER) == 0)
    fake_bluez_handle_unregister_advertisement (fb, sender, params, invocation);
  else if (g_strcmp0 (iface, IFACE_ADAPTER) == 0)
    handle_adapter_method (fb, method, params, invocation);
  else if (g_strcmp0 (iface, IFACE_DEVICE) == 0)
    handle_device_method (fb, path, method, invocation);
  else if (g_strcmp0 (iface, IFACE_AGENT_MANAGER) == 0)
    fake_bluez_handle_agent_manager (fb, sender, method, params, invocation);
  else
    g_dbus_method_invocation_return_value (invocation, NULL);
}

static GVariant *
get_property_cb (GDBusConnection *conn, const char *sender, const char *path, const char *iface, const char *name,
                 GError **error, gpointer data)
{
  FakeBluez *fb = data;
  g_autoptr (GVariant) props = g_variant_ref_sink (fake_bluez_object_properties (fb, path, iface));
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
  else if (g_strcmp0 (name, "PairableTimeout") == 0)
    {
      fb->pairable_timeout = g_variant_get_uint32 (value);
      emit_one_property (fb, path, iface, name, g_variant_new_uint32 (fb->pairable_timeout));
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

static void export(FakeBluez *fb, GArray *ids, const char *path, const char *iface)
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

/* --- adapter and devices -------------------------------------------------- */

gboolean
fake_bluez_has_adapter (FakeBluez *fb)
{
  return fb->adapter_registrations->len > 0;
}

static void
adapter_export (FakeBluez *fb)
{
  for (guint i = 0; adapter_ifaces[i] != NULL; i++)
    export(fb, fb->adapter_registrations, FAKE_BLUEZ_ADAPTER_PATH, adapter_ifaces[i]);
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
      if (fake_registration_is_live (app->state))
        app->state = FAKE_REGISTRATION_DROPPED;
    }
  for (guint i = 0; i < fb->advertisements->len; i++)
    {
      FakeAdvertisement *adv = g_ptr_array_index (fb->advertisements, i);
      if (!fake_registration_is_live (adv->state))
        continue;
      /* The advertising manager goes with its adapter and releases its
       * clients; a bluetoothd that exits releases nothing. */
      if (release_advertisements && adv->state == FAKE_REGISTRATION_ACTIVE)
        fake_bluez_send_no_reply (fb, adv->sender, adv->path, IFACE_ADV, "Release", NULL);
      fake_advertisement_end (fb, adv, FAKE_REGISTRATION_DROPPED);
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
  if (fake_bluez_shows_power_state (fb))
    g_variant_builder_add (&b, "{sv}", "PowerState", g_variant_new_string (powered ? "on" : "off"));
  if (fake_bluez_has_adapter (fb))
    fake_bluez_emit_properties_changed (fb, FAKE_BLUEZ_ADAPTER_PATH, IFACE_ADAPTER, g_variant_builder_end (&b));
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
  g_autofree char *path = fake_device_path_for (address);
  FakeDevice *d;

  g_return_val_if_fail (fake_bluez_has_adapter (fb), NULL);
  d = fake_bluez_find_device (fb, path);
  if (d != NULL)
    return d->path;
  d = g_new0 (FakeDevice, 1);
  d->path = g_steal_pointer (&path);
  d->address = g_ascii_strup (address, -1);
  d->mtu = mtu ? mtu : 23;
  d->registrations = g_array_new (FALSE, FALSE, sizeof (guint));
  d->received = g_ptr_array_new_with_free_func ((GDestroyNotify) fake_received_free);
  g_ptr_array_add (fb->devices, d);
  export(fb, d->registrations, d->path, IFACE_DEVICE);
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
fake_bluez_resend_connected (FakeBluez *fb, const char *device_path)
{
  FakeDevice *d = fake_bluez_find_device (fb, device_path);

  g_return_if_fail (d != NULL && d->connected);
  emit_one_property (fb, d->path, IFACE_DEVICE, "Connected", g_variant_new_boolean (TRUE));
}

void
fake_bluez_set_connected (FakeBluez *fb, const char *device_path, gboolean connected)
{
  FakeDevice *d = fake_bluez_find_device (fb, device_path);

  g_return_if_fail (d != NULL);
  if (d->connected == connected)
    return;
  d->connected = connected;
  emit_one_property (fb, d->path, IFACE_DEVICE, "Connected", g_variant_new_boolean (connected));
  if (!connected)
    fake_bluez_unsubscribe_device (fb, d->path);
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
  FakeDevice *d = fake_bluez_find_device (fb, device_path);

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
  FakeDevice *d = fake_bluez_find_device (fb, device_path);

  return d != NULL && d->connected;
}

void
fake_bluez_set_device_mtu (FakeBluez *fb, const char *device_path, guint16 mtu)
{
  FakeDevice *d = fake_bluez_find_device (fb, device_path);

  g_return_if_fail (d != NULL);
  d->mtu = mtu;
}

guint
fake_bluez_get_n_disconnect_calls (FakeBluez *fb, const char *device_path)
{
  FakeDevice *d = fake_bluez_find_device (fb, device_path);

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

/* --- version ------------------------------------------------------------- */

gboolean
fake_bluez_version_at_least (FakeBluez *fb, guint major, guint minor)
{
  return fb->version >= FAKE_BLUEZ_VERSION (major, minor);
}

gboolean
fake_bluez_shows_power_state (FakeBluez *fb)
{
  return (fb->flags & FAKE_BLUEZ_FLAGS_EXPERIMENTAL) || fake_bluez_version_at_least (fb, 5, 73);
}

gboolean
fake_bluez_shows_supported_features (FakeBluez *fb)
{
  return (fb->flags & FAKE_BLUEZ_FLAGS_EXPERIMENTAL) || fake_bluez_version_at_least (fb, 5, 77);
}

/* The introspection of the objects for this version and mode: bluetoothd
 * leaves out the members flagged experimental unless it runs with -E, and
 * lists the others whatever their value. */
static void
build_interfaces (FakeBluez *fb)
{
  static const char marker[] = "<interface name='org.bluez.Adapter1'>";
  const char *at = strstr (introspection_xml, marker) + strlen (marker);
  g_autoptr (GString) xml = g_string_new_len (introspection_xml, at - introspection_xml);
  g_autoptr (GError) error = NULL;

  if (fb->flags & FAKE_BLUEZ_FLAGS_EXPERIMENTAL)
    g_string_append (xml, adapter_connect_device_xml);
  if (fake_bluez_shows_power_state (fb))
    g_string_append (xml, adapter_power_state_xml);
  if (fake_bluez_version_at_least (fb, 5, 71))
    g_string_append (xml, adapter_manufacturer_xml);
  if (fake_bluez_version_at_least (fb, 5, 79))
    g_string_append (xml, adapter_connectable_xml);
  g_string_append (xml, at);
  g_clear_pointer (&fb->node_info, g_dbus_node_info_unref);
  g_clear_pointer (&fb->adv_manager_info, g_dbus_node_info_unref);
  fb->node_info = g_dbus_node_info_new_for_xml (xml->str, &error);
  g_assert_no_error (error);
  fb->adv_manager_info = g_dbus_node_info_new_for_xml (
    fake_bluez_shows_supported_features (fb) ? adv_manager_experimental_xml : adv_manager_xml, &error);
  g_assert_no_error (error);
}

void
fake_bluez_set_version (FakeBluez *fb, guint major, guint minor)
{
  g_return_if_fail (fb->conn == NULL);
  fb->version = FAKE_BLUEZ_VERSION (major, minor);
  build_interfaces (fb);
}

guint
fake_bluez_get_version (FakeBluez *fb)
{
  return fb->version;
}

guint
fake_bluez_parse_version (const char *text)
{
  guint64 major, minor;
  char *end;

  if (text == NULL || !g_ascii_isdigit (text[0]))
    return 0;
  major = g_ascii_strtoull (text, &end, 10);
  if (*end != '.' || !g_ascii_isdigit (end[1]))
    return 0;
  minor = g_ascii_strtoull (end + 1, &end, 10);
  if (*end != '\0' || major == 0 || minor > 999 || major > 99)
    return 0;
  return FAKE_BLUEZ_VERSION (major, minor);
}

/* --- life cycle ----------------------------------------------------------- */

FakeBluez *
fake_bluez_new (const char *bus_address, FakeBluezFlags flags)
{
  FakeBluez *fb = g_new0 (FakeBluez, 1);
  g_autoptr (GError) error = NULL;

  fb->bus_address = g_strdup (bus_address);
  fb->flags = flags;
  fb->version = FAKE_BLUEZ_VERSION (5, 66);
  build_interfaces (fb);
  fb->root_registrations = g_array_new (FALSE, FALSE, sizeof (guint));
  fb->adapter_registrations = g_array_new (FALSE, FALSE, sizeof (guint));
  fb->adapter_sets = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  fb->devices = g_ptr_array_new_with_free_func ((GDestroyNotify) device_free);
  fb->agents = g_ptr_array_new_with_free_func ((GDestroyNotify) fake_agent_free);
  fb->watches = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) watch_free);
  fb->applications = g_ptr_array_new_with_free_func ((GDestroyNotify) fake_application_free);
  fb->advertisements = g_ptr_array_new_with_free_func ((GDestroyNotify) fake_advertisement_free);
  fb->adv_timeouts = g_hash_table_new_full (NULL, NULL, NULL, source_destroy_unref);
  fb->signals = g_ptr_array_new_with_free_func ((GDestroyNotify) signal_free);
  fb->record_signals = TRUE;
  fb->calls = g_ptr_array_new_with_free_func ((GDestroyNotify) call_free);
  fb->held = g_ptr_array_new_with_free_func (g_object_unref);
  fb->alias = g_strdup ("fake-bluez");
  fake_bluez_sockets_init (fb);
  return fb;
}

void
fake_bluez_set_intake (FakeBluez *fb, guint per_s)
{
  g_return_if_fail (fb->conn == NULL);
  fb->intake_per_s = per_s;
}

/* In GDBus's worker thread, before anything is dispatched: the time each
 * signal takes holds back every message read after it. */
static GDBusMessage *
intake_filter (GDBusConnection *conn, GDBusMessage *message, gboolean incoming, gpointer user_data)
{
  FakeBluez *fb = user_data;

  if (incoming && g_dbus_message_get_message_type (message) == G_DBUS_MESSAGE_TYPE_SIGNAL &&
      g_strcmp0 (g_dbus_message_get_member (message), "PropertiesChanged") == 0)
    g_usleep (G_USEC_PER_SEC / fb->intake_per_s);
  return message;
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
  if (fb->intake_per_s > 0)
    fb->intake_filter = g_dbus_connection_add_filter (fb->conn, intake_filter, fb, NULL);
  fb->cancellable = g_cancellable_new ();
  fb->powered = !(fb->flags & FAKE_BLUEZ_FLAGS_POWERED_OFF);
  fb->discoverable = FALSE;
  fb->pairable = TRUE;

  export(fb, fb->root_registrations, "/", IFACE_OM);
  export(fb, fb->root_registrations, "/org/bluez", IFACE_AGENT_MANAGER);
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
  fake_bluez_sockets_clear (fb);
  fb->n_acquires_pending = 0;
  drop_registrations (fb, FALSE);
  g_ptr_array_set_size (fb->held, 0);
  fb->unresponsive = FALSE;
  g_hash_table_remove_all (fb->watches);
  fake_bluez_agents_vanished (fb, NULL);
  for (guint i = 0; i < fb->devices->len; i++)
    device_unexport (fb, g_ptr_array_index (fb->devices, i));
  g_ptr_array_set_size (fb->devices, 0);
  registrations_unregister (fb->conn, fb->adapter_registrations);
  registrations_unregister (fb->conn, fb->root_registrations);
  if (fb->intake_filter != 0)
    g_dbus_connection_remove_filter (fb->conn, fb->intake_filter);
  fb->intake_filter = 0;
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
  g_ptr_array_unref (fb->agents);
  g_ptr_array_unref (fb->applications);
  g_ptr_array_unref (fb->advertisements);
  g_ptr_array_unref (fb->signals);
  g_ptr_array_unref (fb->calls);
  g_ptr_array_unref (fb->held);
  g_ptr_array_unref (fb->socks);
  g_hash_table_unref (fb->adapter_sets);
  g_array_unref (fb->root_registrations);
  g_array_unref (fb->adapter_registrations);
  g_clear_pointer (&fb->node_info, g_dbus_node_info_unref);
  g_clear_pointer (&fb->adv_manager_info, g_dbus_node_info_unref);
  g_free (fb->alias);
  g_free (fb->bus_address);
  g_free (fb);
}

/* --- queries -------------------------------------------------------------- */

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
