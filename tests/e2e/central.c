/* central — a scriptable BLE central for the end-to-end tests.
 *
 * Drives bluetoothd's client API (org.bluez Adapter1, Device1,
 * GattCharacteristic1, GattDescriptor1) on one adapter (hci1 by default) and
 * prints what it sees in a line-oriented form that shell scenarios can grep.
 * Every wait is bounded by --timeout. See `central --help`.
 *
 * Exit status: 0 success, 1 failure (message on stderr), 2 usage error.
 */

#include <stdio.h>
#include <string.h>

#include <gio/gio.h>
#include <glib.h>

#define BLUEZ_NAME "org.bluez"
#define ADAPTER_IFACE "org.bluez.Adapter1"
#define DEVICE_IFACE "org.bluez.Device1"
#define SERVICE_IFACE "org.bluez.GattService1"
#define CHARACTERISTIC_IFACE "org.bluez.GattCharacteristic1"
#define DESCRIPTOR_IFACE "org.bluez.GattDescriptor1"

#define CENTRAL_ERROR (central_error_quark ())
GQuark central_error_quark (void);
G_DEFINE_QUARK (central - error - quark, central_error)

typedef enum {
  CENTRAL_ERROR_FAILED,
  CENTRAL_ERROR_TIMEOUT,
  CENTRAL_ERROR_NOT_FOUND,
  CENTRAL_ERROR_USAGE,
} CentralError;

/* Options, shared by all subcommands. */
static char *opt_adapter = NULL;
static int opt_timeout_s = 20;
static int opt_settle_ms = 1000;
static int opt_offset = 0;
static char *opt_write_type = NULL;
static char *opt_ready_file = NULL;
static gboolean opt_disconnect = FALSE;
static gboolean opt_no_read = FALSE;
static int opt_duration_s = 5;
static gboolean opt_verbose = FALSE;
static gboolean opt_stats = FALSE;
static char *opt_times_file = NULL;
static GString *value_times = NULL; /* listen --times: "REALTIME HEX" per value */
static gboolean opt_trust = FALSE;
static char *opt_agent_capability = NULL;
static char *opt_passkey_file = NULL;
static int opt_restart_ms = 1000;
static const char *discovery_ready_file = NULL; /* scan --ready-file */
static gint64 start_time;

typedef struct {
  GDBusObjectManager *manager;
  char *adapter_path;
  guint timeout_ms;

  /* what the signal handlers watch */
  char *watched_path; /* a device or characteristic object */
  gboolean watched_appeared;
  guint value_count; /* notifications seen on watched_path */
  guint value_target;
  gint64 first_value_at; /* monotonic µs of the first and last of them */
  gint64 last_value_at;
  gint64 last_object_at; /* monotonic µs of the last object added */
} Central;

static void
central_free (Central *c)
{
  g_clear_object (&c->manager);
  g_free (c->adapter_path);
  g_free (c->watched_path);
  g_free (c);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Central, central_free)

static void verbose (const char *format, ...) G_GNUC_PRINTF (1, 2);

static void
verbose (const char *format, ...)
{
  va_list args;

  if (!opt_verbose)
    return;
  va_start (args, format);
  g_autofree char *text = g_strdup_vprintf (format, args);
  va_end (args);
  g_printerr ("central: [%.3f] %s\n", (double) (g_get_monotonic_time () - start_time) / G_USEC_PER_SEC, text);
}

/* ----------------------------------------------------------------------- */
/* Small helpers                                                            */
/* ----------------------------------------------------------------------- */

static char *
hex_encode (const guint8 *data, gsize len)
{
  GString *out = g_string_sized_new (len * 2 + 1);

  for (gsize i = 0; i < len; i++)
    g_string_append_printf (out, "%02x", data[i]);
  return g_string_free (out, FALSE);
}

static char *
variant_bytes_to_hex (GVariant *ay)
{
  gsize len = 0;
  const guint8 *data = g_variant_get_fixed_array (ay, &len, 1);

  return hex_encode (data, len);
}

/* Accepts "0102ab", "01:02:ab", "0x0102", "01 02" and "" (empty value). */
static GBytes *
hex_decode (const char *text, GError **error)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  const char *p = text;
  int high = -1;

  if (g_str_has_prefix (p, "0x") || g_str_has_prefix (p, "0X"))
    p += 2;
  for (; *p != '\0'; p++)
    {
      if (*p == ':' || *p == ' ' || *p == '-')
        {
          if (high >= 0)
            {
              g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_USAGE, "'%s': a separator splits a byte", text);
              return NULL;
            }
          continue;
        }
      int digit = g_ascii_xdigit_value (*p);
      if (digit < 0)
        {
          g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_USAGE, "'%s' is not hex bytes ('%c')", text, *p);
          return NULL;
        }
      if (high < 0)
        {
          high = digit;
        }
      else
        {
          guint8 byte = (guint8) (high << 4 | digit);
          g_byte_array_append (out, &byte, 1);
          high = -1;
        }
    }
  if (high >= 0)
    {
      g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_USAGE, "'%s' has an odd number of hex digits", text);
      return NULL;
    }
  return g_byte_array_free_to_bytes (g_steal_pointer (&out));
}

/* "2a6e", "0x2A6E", "0000xxxx" or a full UUID → the lower-case 128-bit form
 * that bluetoothd uses in its UUID properties. */
static char *
uuid_normalize (const char *text, GError **error)
{
  const char *p = text;

  if (g_str_has_prefix (p, "0x") || g_str_has_prefix (p, "0X"))
    p += 2;
  gsize len = strlen (p);
  for (gsize i = 0; i < len; i++)
    {
      if (!g_ascii_isxdigit (p[i]) && !(len == 36 && p[i] == '-'))
        {
          g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_USAGE, "'%s' is not a UUID (16-bit, 32-bit or 128-bit)",
                       text);
          return NULL;
        }
    }
  g_autofree char *lower = g_ascii_strdown (p, -1);
  if (len == 4)
    return g_strdup_printf ("0000%s-0000-1000-8000-00805f9b34fb", lower);
  if (len == 8)
    return g_strdup_printf ("%s-0000-1000-8000-00805f9b34fb", lower);
  if (len == 36 && g_uuid_string_is_valid (lower))
    return g_steal_pointer (&lower);
  g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_USAGE, "'%s' is not a UUID (16-bit, 32-bit or 128-bit)", text);
  return NULL;
}

static gboolean
address_is_valid (const char *address)
{
  if (strlen (address) != 17)
    return FALSE;
  for (int i = 0; i < 17; i++)
    {
      if (i % 3 == 2 ? address[i] != ':' : !g_ascii_isxdigit (address[i]))
        return FALSE;
    }
  return TRUE;
}

/* The handle bluetoothd encodes at the end of a GATT object path
 * (".../service000a/char000b/desc000d"). For a characteristic it is the
 * declaration's handle; the value's handle follows it. */
static guint
handle_from_path (const char *path)
{
  const char *tail = strrchr (path, '/');
  gsize len;

  if (tail == NULL)
    return 0;
  len = strlen (tail);
  if (len < 5)
    return 0;
  return (guint) g_ascii_strtoull (tail + len - 4, NULL, 16);
}

/* ----------------------------------------------------------------------- */
/* D-Bus plumbing                                                           */
/* ----------------------------------------------------------------------- */

static GDBusProxy *
central_proxy (Central *c, const char *path, const char *iface)
{
  GDBusInterface *interface = g_dbus_object_manager_get_interface (c->manager, path, iface);

  return interface != NULL ? G_DBUS_PROXY (interface) : NULL;
}

static GVariant *
proxy_property (GDBusProxy *proxy, const char *name)
{
  return proxy != NULL ? g_dbus_proxy_get_cached_property (proxy, name) : NULL;
}

static gboolean
proxy_bool (GDBusProxy *proxy, const char *name)
{
  g_autoptr (GVariant) v = proxy_property (proxy, name);

  return v != NULL && g_variant_is_of_type (v, G_VARIANT_TYPE_BOOLEAN) && g_variant_get_boolean (v);
}

static char *
proxy_string (GDBusProxy *proxy, const char *name)
{
  g_autoptr (GVariant) v = proxy_property (proxy, name);

  if (v == NULL || !g_variant_is_of_type (v, G_VARIANT_TYPE_STRING))
    return NULL;
  return g_variant_dup_string (v, NULL);
}

/* Calls a method with the central's timeout; D-Bus errors keep their name
 * in the message ("org.bluez.Error.Failed: ...") so scenarios can match it. */
static GVariant *
central_call (Central *c, GDBusProxy *proxy, const char *method, GVariant *args, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  GVariant *reply = g_dbus_proxy_call_sync (proxy, method, args, G_DBUS_CALL_FLAGS_NONE, (int) c->timeout_ms, NULL,
                                            &local_error);

  if (reply != NULL)
    return reply;
  g_autofree char *remote = g_dbus_error_get_remote_error (local_error);
  if (remote != NULL)
    g_dbus_error_strip_remote_error (local_error);
  g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_FAILED, "%s.%s on %s: %s%s%s",
               g_dbus_proxy_get_interface_name (proxy), method, g_dbus_proxy_get_object_path (proxy),
               remote != NULL ? remote : "", remote != NULL ? ": " : "", local_error->message);
  return NULL;
}

static gboolean
central_set_property (Central *c, GDBusProxy *proxy, const char *name, GVariant *value, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GVariant) reply = NULL;

  reply = g_dbus_connection_call_sync (g_dbus_proxy_get_connection (proxy), BLUEZ_NAME,
                                       g_dbus_proxy_get_object_path (proxy), "org.freedesktop.DBus.Properties", "Set",
                                       g_variant_new ("(ssv)", g_dbus_proxy_get_interface_name (proxy), name, value),
                                       NULL, G_DBUS_CALL_FLAGS_NONE, (int) c->timeout_ms, NULL, &local_error);
  if (reply == NULL)
    {
      g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_FAILED, "setting %s.%s: %s",
                   g_dbus_proxy_get_interface_name (proxy), name, local_error->message);
      return FALSE;
    }
  return TRUE;
}

/* Reads a boolean property from bluetoothd itself rather than from the proxy's
 * cache. bluetoothd 5.66 does not always signal Device1.Connected: when the
 * ATT channel of an outgoing LE connection is up before the kernel's Device
 * Connected event, device_add_connection() logs "Device … is already
 * connected" and never emits Connected=true, so a cache can say "false" on a
 * live link. */
static gboolean
central_get_bool (Central *c, const char *path, const char *iface, const char *name)
{
  g_autoptr (GDBusProxy) proxy = central_proxy (c, path, iface);
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) value = NULL;

  if (proxy == NULL)
    return FALSE;
  reply = g_dbus_connection_call_sync (g_dbus_proxy_get_connection (proxy), BLUEZ_NAME, path,
                                       "org.freedesktop.DBus.Properties", "Get", g_variant_new ("(ss)", iface, name),
                                       G_VARIANT_TYPE ("(v)"), G_DBUS_CALL_FLAGS_NONE, (int) c->timeout_ms, NULL, NULL);
  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "(v)", &value);
  return g_variant_is_of_type (value, G_VARIANT_TYPE_BOOLEAN) && g_variant_get_boolean (value);
}

static gboolean
central_device_connected (Central *c, const char *path)
{
  return central_get_bool (c, path, DEVICE_IFACE, "Connected");
}

typedef gboolean (*CentralCheck) (Central *c, gconstpointer data);

/* See central_settle_objects(). */
#define OBJECTS_QUIET_MS 400

static gboolean
wake_up (gpointer data)
{
  return G_SOURCE_CONTINUE;
}

/* Runs the main loop until check() holds or timeout_ms pass. A periodic
 * source wakes the loop so the deadline is honoured without any event. */
static gboolean
central_wait (Central *c, CentralCheck check, gconstpointer data, guint timeout_ms, const char *what, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  guint ticker = g_timeout_add (50, wake_up, NULL);
  gboolean ok = TRUE;

  while (!check (c, data))
    {
      if (g_get_monotonic_time () >= deadline)
        {
          g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_TIMEOUT, "timed out after %u ms waiting for %s", timeout_ms,
                       what);
          ok = FALSE;
          break;
        }
      g_main_context_iteration (NULL, TRUE);
    }
  g_source_remove (ticker);
  return ok;
}

/* Lets the main loop run for a while (to collect late property updates). */
static void
central_pump (guint ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) ms * 1000;
  guint ticker = g_timeout_add (20, wake_up, NULL);

  while (g_get_monotonic_time () < deadline)
    g_main_context_iteration (NULL, TRUE);
  g_source_remove (ticker);
}

static void
on_object_added (GDBusObjectManager *manager, GDBusObject *object, gpointer user_data)
{
  Central *c = user_data;

  c->last_object_at = g_get_monotonic_time ();
  if (c->watched_path != NULL && g_strcmp0 (g_dbus_object_get_object_path (object), c->watched_path) == 0)
    {
      verbose ("%s appeared", c->watched_path);
      c->watched_appeared = TRUE;
    }
}

/* One PropertiesChanged signal carrying Value = one notification or
 * indication (bluetoothd flushes each one as its own signal). */
static void
on_properties_changed (GDBusObjectManagerClient *manager, GDBusObjectProxy *object, GDBusProxy *proxy,
                       GVariant *changed, const char *const *invalidated, gpointer user_data)
{
  Central *c = user_data;
  g_autoptr (GVariant) value = NULL;

  if (c->watched_path == NULL || g_strcmp0 (g_dbus_proxy_get_object_path (proxy), c->watched_path) != 0)
    return;
  if (g_strcmp0 (g_dbus_proxy_get_interface_name (proxy), CHARACTERISTIC_IFACE) != 0)
    return;
  value = g_variant_lookup_value (changed, "Value", G_VARIANT_TYPE_BYTESTRING);
  if (value == NULL || c->value_count >= c->value_target)
    return;
  g_autofree char *hex = variant_bytes_to_hex (value);
  g_print ("%s\n", hex);
  if (value_times != NULL)
    {
      gint64 now = g_get_real_time ();
      g_string_append_printf (value_times, "%" G_GINT64_FORMAT ".%06d %s\n", now / G_USEC_PER_SEC,
                              (int) (now % G_USEC_PER_SEC), hex);
    }
  c->last_value_at = g_get_monotonic_time ();
  if (c->value_count == 0)
    c->first_value_at = c->last_value_at;
  c->value_count++;
}

static Central *
central_new (GError **error)
{
  g_autoptr (Central) c = g_new0 (Central, 1);
  g_autoptr (GDBusProxy) adapter = NULL;

  c->timeout_ms = (guint) opt_timeout_s * 1000;
  c->adapter_path = g_strdup_printf ("/org/bluez/%s", opt_adapter != NULL ? opt_adapter : "hci1");
  c->manager = g_dbus_object_manager_client_new_for_bus_sync (G_BUS_TYPE_SYSTEM,
                                                              G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_DO_NOT_AUTO_START,
                                                              BLUEZ_NAME, "/", NULL, NULL, NULL, NULL, error);
  if (c->manager == NULL)
    {
      g_prefix_error (error, "connecting to bluetoothd: ");
      return NULL;
    }
  g_autofree char *owner = g_dbus_object_manager_client_get_name_owner (G_DBUS_OBJECT_MANAGER_CLIENT (c->manager));
  if (owner == NULL)
    {
      g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_NOT_FOUND, "bluetoothd (org.bluez) is not on the system bus");
      return NULL;
    }
  adapter = central_proxy (c, c->adapter_path, ADAPTER_IFACE);
  if (adapter == NULL)
    {
      g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_NOT_FOUND, "bluetoothd has no adapter %s", c->adapter_path);
      return NULL;
    }
  g_signal_connect (c->manager, "object-added", G_CALLBACK (on_object_added), c);
  g_signal_connect (c->manager, "interface-proxy-properties-changed", G_CALLBACK (on_properties_changed), c);
  return g_steal_pointer (&c);
}

static char *
central_device_path (Central *c, const char *address)
{
  g_autofree char *tail = g_strdup (address);

  g_strdelimit (tail, ":", '_');
  g_autofree char *upper = g_ascii_strup (tail, -1);
  return g_strdup_printf ("%s/dev_%s", c->adapter_path, upper);
}

static gboolean
check_powered (Central *c, gconstpointer data)
{
  g_autoptr (GDBusProxy) adapter = central_proxy (c, c->adapter_path, ADAPTER_IFACE);

  return proxy_bool (adapter, "Powered");
}

static gboolean
central_power_on (Central *c, GError **error)
{
  g_autoptr (GDBusProxy) adapter = central_proxy (c, c->adapter_path, ADAPTER_IFACE);

  if (check_powered (c, NULL))
    return TRUE;
  verbose ("powering %s on", c->adapter_path);
  if (!central_set_property (c, adapter, "Powered", g_variant_new_boolean (TRUE), error))
    return FALSE;
  return central_wait (c, check_powered, NULL, c->timeout_ms, "the adapter to power on", error);
}

static gboolean
check_object_exists (Central *c, gconstpointer path)
{
  g_autoptr (GDBusObject) object = g_dbus_object_manager_get_object (c->manager, path);

  return object != NULL;
}

static gboolean
check_object_gone (Central *c, gconstpointer path)
{
  return !check_object_exists (c, path);
}

static gboolean
check_watched_appeared (Central *c, gconstpointer data)
{
  return c->watched_appeared;
}

static gboolean
central_start_discovery (Central *c, GError **error)
{
  g_autoptr (GDBusProxy) adapter = central_proxy (c, c->adapter_path, ADAPTER_IFACE);
  g_autoptr (GVariant) r1 = NULL;
  g_autoptr (GVariant) r2 = NULL;
  GVariantBuilder filter;

  g_variant_builder_init (&filter, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&filter, "{sv}", "Transport", g_variant_new_string ("le"));
  g_variant_builder_add (&filter, "{sv}", "DuplicateData", g_variant_new_boolean (TRUE));
  r1 = central_call (c, adapter, "SetDiscoveryFilter", g_variant_new ("(a{sv})", &filter), error);
  if (r1 == NULL)
    return FALSE;
  r2 = central_call (c, adapter, "StartDiscovery", NULL, error);
  return r2 != NULL;
}

static void
central_stop_discovery (Central *c)
{
  g_autoptr (GDBusProxy) adapter = central_proxy (c, c->adapter_path, ADAPTER_IFACE);
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = central_call (c, adapter, "StopDiscovery", NULL, &error);

  if (reply == NULL)
    verbose ("StopDiscovery: %s", error->message);
}

/* Removes bluetoothd's cached device object (not while connected), so that the
 * next object comes from fresh advertising. */
static gboolean
central_forget_device (Central *c, const char *path, GError **error)
{
  g_autoptr (GDBusProxy) device = central_proxy (c, path, DEVICE_IFACE);
  g_autoptr (GDBusProxy) adapter = central_proxy (c, c->adapter_path, ADAPTER_IFACE);
  g_autoptr (GVariant) reply = NULL;

  if (device == NULL)
    return TRUE;
  if (central_device_connected (c, path))
    {
      g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_FAILED,
                   "%s is connected to %s: a scan cannot tell fresh advertising from cached data "
                   "(disconnect first)",
                   path, c->adapter_path);
      return FALSE;
    }
  verbose ("removing cached %s", path);
  reply = central_call (c, adapter, "RemoveDevice", g_variant_new ("(o)", path), error);
  if (reply == NULL)
    return FALSE;
  return central_wait (c, check_object_gone, path, c->timeout_ms, "the cached device to go", error);
}

/* btvirt's emulated radio sends advertising reports only on edges: when a
 * scanner enables scanning (one report per advertiser) and when an advertiser
 * enables advertising (one report per scanner); nothing periodic. The reports
 * of a scan enable can reach the kernel before its Start Discovery has
 * completed, and are then dropped (no Device Found), so a single scan can miss
 * an advertiser for good. Restarting discovery makes new edges; when reports
 * come, they come within milliseconds of the scan enable. The reliable edge is
 * the other one: an advertiser that starts while the scan is running (see
 * --ready-file and --restart-ms). */

static gboolean
check_discovering (Central *c, gconstpointer data)
{
  g_autoptr (GDBusProxy) adapter = central_proxy (c, c->adapter_path, ADAPTER_IFACE);

  return proxy_bool (adapter, "Discovering");
}

/* Discovers until the device object of ADDRESS exists (fresh when
 * forget_first), then keeps scanning settle_ms to collect late updates. */
static gboolean
central_find_device (Central *c, const char *address, gboolean forget_first, guint wait_ms, guint settle_ms,
                     GError **error)
{
  g_autofree char *path = central_device_path (c, address);
  g_autofree char *what = g_strdup_printf ("advertising from %s", address);
  gint64 deadline = g_get_monotonic_time () + (gint64) wait_ms * 1000;
  guint scans = 0;

  if (!central_power_on (c, error))
    return FALSE;
  if (forget_first && !central_forget_device (c, path, error))
    return FALSE;
  g_free (c->watched_path);
  c->watched_path = g_strdup (path);
  c->watched_appeared = check_object_exists (c, path);

  while (TRUE)
    {
      gint64 left_ms = (deadline - g_get_monotonic_time ()) / 1000;
      g_autoptr (GError) wait_error = NULL;

      if (left_ms <= 0)
        break;
      verbose ("discovering %s (scan %u)", address, scans + 1);
      if (!central_start_discovery (c, error))
        return FALSE;
      scans++;
      if (scans == 1 && discovery_ready_file != NULL)
        {
          /* Discovering=true: the kernel reports what it hears from now on. */
          g_autoptr (GError) discovering_error = NULL;
          if (!central_wait (c, check_discovering, NULL, 5000, "Discovering", &discovering_error))
            verbose ("%s", discovering_error->message);
          if (!g_file_set_contents (discovery_ready_file, "discovering\n", -1, error))
            return FALSE;
          verbose ("discovering: %s written", discovery_ready_file);
        }
      if (central_wait (c, check_watched_appeared, NULL,
                        (guint) (opt_restart_ms > 0 ? MIN (left_ms, opt_restart_ms) : left_ms), what, &wait_error))
        {
          g_printerr ("central: %s seen after %u discovery run(s), %.1f s\n", address, scans,
                      (double) (wait_ms - (deadline - g_get_monotonic_time ()) / 1000) / 1000);
          central_pump (settle_ms);
          central_stop_discovery (c);
          return TRUE;
        }
      central_stop_discovery (c);
      central_pump (100);
    }
  g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_TIMEOUT, "timed out after %u ms waiting for %s (%u scans)", wait_ms,
               what, scans);
  return FALSE;
}

/* ----------------------------------------------------------------------- */
/* Printing                                                                 */
/* ----------------------------------------------------------------------- */

static char *
bytes_or_text (GVariant *value)
{
  if (g_variant_is_of_type (value, G_VARIANT_TYPE_BYTESTRING))
    return variant_bytes_to_hex (value);
  return g_variant_print (value, FALSE);
}

static void
print_device (GDBusProxy *device)
{
  static const char *const order[] = {
    "Address",
    "AddressType",
    "Name",
    "Alias",
    "Appearance",
    "Icon",
    "Class",
    "UUIDs",
    "ManufacturerData",
    "ServiceData",
    "AdvertisingFlags",
    "AdvertisingData",
    "TxPower",
    "RSSI",
    "Connected",
    "ServicesResolved",
    "Paired",
    "Bonded",
    "Trusted",
    "Blocked",
    "LegacyPairing",
    "Modalias",
    "WakeAllowed",
  };

  for (gsize i = 0; i < G_N_ELEMENTS (order); i++)
    {
      g_autoptr (GVariant) v = g_dbus_proxy_get_cached_property (device, order[i]);
      const char *key = order[i];

      if (v == NULL)
        continue;
      if (g_variant_is_of_type (v, G_VARIANT_TYPE_STRING))
        {
          g_print ("%s: %s\n", key, g_variant_get_string (v, NULL));
        }
      else if (g_variant_is_of_type (v, G_VARIANT_TYPE_BOOLEAN))
        {
          g_print ("%s: %s\n", key, g_variant_get_boolean (v) ? "yes" : "no");
        }
      else if (g_variant_is_of_type (v, G_VARIANT_TYPE_UINT16))
        {
          g_print ("%s: 0x%04x\n", key, g_variant_get_uint16 (v));
        }
      else if (g_variant_is_of_type (v, G_VARIANT_TYPE_INT16))
        {
          g_print ("%s: %d\n", key, g_variant_get_int16 (v));
        }
      else if (g_variant_is_of_type (v, G_VARIANT_TYPE_UINT32))
        {
          g_print ("%s: 0x%06x\n", key, g_variant_get_uint32 (v));
        }
      else if (g_variant_is_of_type (v, G_VARIANT_TYPE_STRING_ARRAY))
        {
          g_autofree const char **uuids = g_variant_get_strv (v, NULL);
          for (gsize j = 0; uuids[j] != NULL; j++)
            g_print ("UUID: %s\n", uuids[j]);
        }
      else if (g_variant_is_of_type (v, G_VARIANT_TYPE_BYTESTRING))
        {
          g_autofree char *hex = variant_bytes_to_hex (v);
          g_print ("%s: %s\n", key, hex);
        }
      else if (g_variant_is_of_type (v, G_VARIANT_TYPE ("a{qv}")))
        {
          /* ManufacturerData: company → bytes */
          GVariantIter iter;
          guint16 company;
          GVariant *entry_value;

          g_variant_iter_init (&iter, v);
          while (g_variant_iter_next (&iter, "{qv}", &company, &entry_value))
            {
              g_autoptr (GVariant) owned = entry_value;
              g_autofree char *hex = bytes_or_text (entry_value);
              g_print ("%s: 0x%04x %s\n", key, company, hex);
            }
        }
      else if (g_variant_is_of_type (v, G_VARIANT_TYPE ("a{yv}")))
        {
          /* AdvertisingData: AD type → bytes */
          GVariantIter iter;
          guint8 type;
          GVariant *entry_value;

          g_variant_iter_init (&iter, v);
          while (g_variant_iter_next (&iter, "{yv}", &type, &entry_value))
            {
              g_autoptr (GVariant) owned = entry_value;
              g_autofree char *hex = bytes_or_text (entry_value);
              g_print ("%s: 0x%02x %s\n", key, type, hex);
            }
        }
      else if (g_variant_is_of_type (v, G_VARIANT_TYPE ("a{sv}")))
        {
          /* ServiceData (UUID → bytes) */
          GVariantIter iter;
          const char *uuid;
          GVariant *entry_value;

          g_variant_iter_init (&iter, v);
          while (g_variant_iter_next (&iter, "{&sv}", &uuid, &entry_value))
            {
              g_autoptr (GVariant) owned = entry_value;
              g_autofree char *hex = bytes_or_text (entry_value);
              g_print ("%s: %s %s\n", key, uuid, hex);
            }
        }
      else
        {
          g_autofree char *text = g_variant_print (v, FALSE);
          g_print ("%s: %s\n", key, text);
        }
    }
}

/* ----------------------------------------------------------------------- */
/* Connections                                                              */
/* ----------------------------------------------------------------------- */

/* ServicesResolved is true only on a live link (bluetoothd clears it on
 * disconnection) and, unlike Connected, is always signalled. */
static gboolean
check_services_resolved (Central *c, gconstpointer path)
{
  g_autoptr (GDBusProxy) device = central_proxy (c, path, DEVICE_IFACE);

  return proxy_bool (device, "ServicesResolved");
}

static gboolean
check_disconnected (Central *c, gconstpointer path)
{
  return !check_object_exists (c, path) || !central_device_connected (c, path);
}

static gboolean
check_objects_quiet (Central *c, gconstpointer data)
{
  return g_get_monotonic_time () - c->last_object_at >= OBJECTS_QUIET_MS * 1000;
}

/* bluetoothd signals ServicesResolved and the InterfacesAdded of the GATT
 * objects from separate idle callbacks, in no fixed order: right after
 * ServicesResolved, some services (or all) may not be on the bus yet. Waits
 * until no object has been added for OBJECTS_QUIET_MS (at most 5 s). */
static void
central_settle_objects (Central *c)
{
  g_autoptr (GError) error = NULL;

  c->last_object_at = g_get_monotonic_time ();
  if (!central_wait (c, check_objects_quiet, NULL, 5000, "the GATT objects to settle", &error))
    verbose ("%s", error->message);
}

/* Connects to ADDRESS (discovering it first when bluetoothd has no object
 * for it) and waits until its GATT services are resolved and on the bus. */
static char *
central_connect (Central *c, const char *address, GError **error)
{
  g_autofree char *path = central_device_path (c, address);
  g_autoptr (GError) last_error = NULL;

  if (!central_power_on (c, error))
    return NULL;
  if (check_services_resolved (c, path) && central_device_connected (c, path))
    return g_steal_pointer (&path);
  if (!check_object_exists (c, path) && !central_find_device (c, address, FALSE, c->timeout_ms, 0, error))
    {
      g_prefix_error (error, "no device object for %s: ", address);
      return NULL;
    }

  for (int attempt = 1; attempt <= 3; attempt++)
    {
      g_autoptr (GDBusProxy) device = central_proxy (c, path, DEVICE_IFACE);
      g_autoptr (GVariant) reply = NULL;

      if (device == NULL)
        {
          g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_NOT_FOUND, "%s vanished", path);
          return NULL;
        }
      if (!central_device_connected (c, path))
        {
          g_clear_error (&last_error);
          verbose ("connecting to %s (attempt %d)", address, attempt);
          reply = central_call (c, device, "Connect", NULL, &last_error);
          if (reply == NULL)
            {
              verbose ("%s", last_error->message);
              central_pump (500);
              continue;
            }
        }
      g_clear_error (&last_error);
      verbose ("connected, waiting for ServicesResolved");
      if (central_wait (c, check_services_resolved, path, c->timeout_ms, "the services to be resolved", &last_error))
        {
          verbose ("services resolved");
          central_settle_objects (c);
          return g_steal_pointer (&path);
        }
      verbose ("%s", last_error->message);
    }
  g_propagate_error (error, g_steal_pointer (&last_error));
  g_prefix_error (error, "connecting to %s: ", address);
  return NULL;
}

static gboolean
central_disconnect (Central *c, const char *address, GError **error)
{
  g_autofree char *path = central_device_path (c, address);
  g_autoptr (GDBusProxy) device = central_proxy (c, path, DEVICE_IFACE);
  g_autoptr (GVariant) reply = NULL;

  if (device == NULL || !central_device_connected (c, path))
    return TRUE;
  verbose ("disconnecting %s", address);
  reply = central_call (c, device, "Disconnect", NULL, error);
  if (reply == NULL)
    return FALSE;
  verbose ("Disconnect returned");
  return central_wait (c, check_disconnected, path, c->timeout_ms, "the disconnection", error);
}

/* ----------------------------------------------------------------------- */
/* GATT objects                                                             */
/* ----------------------------------------------------------------------- */

static gint
compare_proxy_paths (gconstpointer a, gconstpointer b)
{
  GDBusProxy *pa = *(GDBusProxy *const *) a;
  GDBusProxy *pb = *(GDBusProxy *const *) b;

  return g_strcmp0 (g_dbus_proxy_get_object_path (pa), g_dbus_proxy_get_object_path (pb));
}

/* Objects under PARENT that carry IFACE, in path (= handle) order. */
static GPtrArray *
central_children (Central *c, const char *parent, const char *iface)
{
  g_autolist (GDBusObject) objects = g_dbus_object_manager_get_objects (c->manager);
  g_autofree char *prefix = g_strconcat (parent, "/", NULL);
  GPtrArray *out = g_ptr_array_new_with_free_func (g_object_unref);

  for (GList *l = objects; l != NULL; l = l->next)
    {
      GDBusObject *object = l->data;
      const char *path = g_dbus_object_get_object_path (object);
      g_autoptr (GDBusInterface) interface = NULL;

      if (!g_str_has_prefix (path, prefix) || strchr (path + strlen (prefix), '/') != NULL)
        continue;
      interface = g_dbus_object_get_interface (object, iface);
      if (interface != NULL)
        g_ptr_array_add (out, g_object_ref (interface));
    }
  g_ptr_array_sort (out, compare_proxy_paths);
  return out;
}

static gboolean
uuid_matches (GDBusProxy *proxy, const char *uuid)
{
  g_autofree char *have = proxy_string (proxy, "UUID");

  return have != NULL && g_ascii_strcasecmp (have, uuid) == 0;
}

/* SPEC is a characteristic UUID, SERVICE_UUID/CHAR_UUID, or @HANDLE (the
 * value handle, as gatttool shows it). */
static GDBusProxy *
central_find_characteristic (Central *c, const char *device_path, const char *spec, GError **error)
{
  g_autoptr (GPtrArray) services = central_children (c, device_path, SERVICE_IFACE);
  g_autoptr (GPtrArray) found = g_ptr_array_new_with_free_func (g_object_unref);
  g_autofree char *service_uuid = NULL;
  g_autofree char *char_uuid = NULL;
  guint value_handle = 0;
  const char *slash = strchr (spec, '/');

  if (spec[0] == '@')
    {
      char *end = NULL;
      value_handle = (guint) g_ascii_strtoull (spec + 1, &end, 0);
      if (end == spec + 1 || *end != '\0' || value_handle == 0 || value_handle > 0xffff)
        {
          g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_USAGE, "'%s' is not @HANDLE", spec);
          return NULL;
        }
    }
  else if (slash != NULL)
    {
      g_autofree char *first = g_strndup (spec, (gsize) (slash - spec));
      service_uuid = uuid_normalize (first, error);
      if (service_uuid == NULL)
        return NULL;
      char_uuid = uuid_normalize (slash + 1, error);
      if (char_uuid == NULL)
        return NULL;
    }
  else
    {
      char_uuid = uuid_normalize (spec, error);
      if (char_uuid == NULL)
        return NULL;
    }

  for (guint i = 0; i < services->len; i++)
    {
      GDBusProxy *service = services->pdata[i];
      const char *service_path = g_dbus_proxy_get_object_path (service);

      if (service_uuid != NULL && !uuid_matches (service, service_uuid))
        continue;
      g_autoptr (GPtrArray) chars = central_children (c, service_path, CHARACTERISTIC_IFACE);
      for (guint j = 0; j < chars->len; j++)
        {
          GDBusProxy *chr = chars->pdata[j];
          gboolean match = value_handle != 0 ?
                             handle_from_path (g_dbus_proxy_get_object_path (chr)) + 1 == value_handle :
                             uuid_matches (chr, char_uuid);
          if (match)
            g_ptr_array_add (found, g_object_ref (chr));
        }
    }
  if (found->len == 0)
    {
      g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_NOT_FOUND, "no characteristic %s on %s (%u services)", spec,
                   device_path, services->len);
      return NULL;
    }
  if (found->len > 1)
    {
      g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_USAGE,
                   "%u characteristics match %s on %s: use SERVICE_UUID/CHAR_UUID or @HANDLE", found->len, spec,
                   device_path);
      return NULL;
    }
  return g_object_ref (found->pdata[0]);
}

/* central_find_characteristic(), given up to 5 s for the object to appear
 * (see central_settle_objects()). */
static GDBusProxy *
central_find_characteristic_wait (Central *c, const char *device_path, const char *spec, GError **error)
{
  gint64 deadline = g_get_monotonic_time () + 5 * G_USEC_PER_SEC;

  for (;;)
    {
      g_autoptr (GError) local_error = NULL;
      GDBusProxy *found = central_find_characteristic (c, device_path, spec, &local_error);

      if (found != NULL)
        return found;
      if (!g_error_matches (local_error, CENTRAL_ERROR, CENTRAL_ERROR_NOT_FOUND) || g_get_monotonic_time () >= deadline)
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
      verbose ("%s; waiting", local_error->message);
      central_pump (200);
    }
}

static GDBusProxy *
central_find_descriptor (Central *c, GDBusProxy *chr, const char *spec, GError **error)
{
  g_autofree char *uuid = uuid_normalize (spec, error);

  if (uuid == NULL)
    return NULL;
  g_autoptr (GPtrArray) descs = central_children (c, g_dbus_proxy_get_object_path (chr), DESCRIPTOR_IFACE);
  for (guint i = 0; i < descs->len; i++)
    {
      if (uuid_matches (descs->pdata[i], uuid))
        return g_object_ref (descs->pdata[i]);
    }
  g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_NOT_FOUND, "no descriptor %s under %s", spec,
               g_dbus_proxy_get_object_path (chr));
  return NULL;
}

/* ReadValue on a characteristic or descriptor; bluetoothd's client does the
 * long read (Read Blob from OFFSET on) by itself. */
static GBytes *
central_read (Central *c, GDBusProxy *attribute, guint offset, GError **error)
{
  GVariantBuilder options;
  g_autoptr (GVariant) reply = NULL;
  g_autoptr (GVariant) value = NULL;
  gsize len = 0;

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  if (offset > 0)
    g_variant_builder_add (&options, "{sv}", "offset", g_variant_new_uint16 ((guint16) offset));
  reply = central_call (c, attribute, "ReadValue", g_variant_new ("(a{sv})", &options), error);
  if (reply == NULL)
    return NULL;
  value = g_variant_get_child_value (reply, 0);
  const guint8 *data = g_variant_get_fixed_array (value, &len, 1);
  return g_bytes_new (data, len);
}

static gboolean
central_write (Central *c, GDBusProxy *attribute, GBytes *bytes, guint offset, const char *type, GError **error)
{
  GVariantBuilder options;
  g_autoptr (GVariant) reply = NULL;
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  g_variant_builder_init (&options, G_VARIANT_TYPE_VARDICT);
  if (offset > 0)
    g_variant_builder_add (&options, "{sv}", "offset", g_variant_new_uint16 ((guint16) offset));
  if (type != NULL)
    g_variant_builder_add (&options, "{sv}", "type", g_variant_new_string (type));
  GVariant *array = g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, len, 1);
  reply = central_call (c, attribute, "WriteValue", g_variant_new ("(@aya{sv})", array, &options), error);
  return reply != NULL;
}

static char *
flags_text (GDBusProxy *proxy)
{
  g_autoptr (GVariant) flags = proxy_property (proxy, "Flags");

  if (flags == NULL)
    return g_strdup ("");
  g_autofree const char **list = g_variant_get_strv (flags, NULL);
  return g_strjoinv (",", (char **) list);
}

static gboolean
strv_contains_flag (GDBusProxy *proxy, const char *flag)
{
  g_autoptr (GVariant) flags = proxy_property (proxy, "Flags");

  if (flags == NULL)
    return FALSE;
  g_autofree const char **list = g_variant_get_strv (flags, NULL);
  return g_strv_contains (list, flag);
}

/* Timing of the notifications received (listen --stats), on stderr. */
static void
print_stats (Central *c)
{
  double seconds = (double) (c->last_value_at - c->first_value_at) / G_USEC_PER_SEC;

  /* n values are n - 1 intervals apart */
  g_printerr ("central: stats values=%u seconds=%.3f per_s=%.1f\n", c->value_count, seconds,
              c->value_count > 1 && seconds > 0 ? (c->value_count - 1) / seconds : 0.0);
}

/* Reads ATTRIBUTE and prints " value=HEX" or " error=NAME: message"
 * (without the leading space when bare). */
static void
print_read_result_full (Central *c, GDBusProxy *attribute, gboolean bare)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) value = central_read (c, attribute, 0, &error);
  const char *space = bare ? "" : " ";

  if (value == NULL)
    {
      /* keep the D-Bus error name, drop the "Iface.ReadValue on /path: " prefix */
      const char *text = strstr (error->message, ": ");
      g_print ("%serror=%s", space, text != NULL ? text + 2 : error->message);
      return;
    }
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (value, &len);
  g_autofree char *hex = hex_encode (data, len);
  g_print ("%svalue=%s", space, hex);
}

static void
print_read_result (Central *c, GDBusProxy *attribute)
{
  print_read_result_full (c, attribute, FALSE);
}

/* ----------------------------------------------------------------------- */
/* Subcommands                                                              */
/* ----------------------------------------------------------------------- */

static gboolean
check_address (const char *address, GError **error)
{
  if (address_is_valid (address))
    return TRUE;
  g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_USAGE, "'%s' is not a Bluetooth address", address);
  return FALSE;
}

static gboolean
finish_connection (Central *c, const char *address, GError **error)
{
  if (!opt_disconnect)
    return TRUE;
  return central_disconnect (c, address, error);
}

/* scan [ADDR] — without ADDR, list every device seen in --duration. */
static gboolean
cmd_scan (Central *c, char **args, GError **error)
{
  if (args[0] == NULL)
    {
      if (!central_power_on (c, error) || !central_start_discovery (c, error))
        return FALSE;
      central_pump ((guint) opt_duration_s * 1000);
      central_stop_discovery (c);
      g_autoptr (GPtrArray) devices = central_children (c, c->adapter_path, DEVICE_IFACE);
      for (guint i = 0; i < devices->len; i++)
        {
          g_autofree char *address = proxy_string (devices->pdata[i], "Address");
          g_autofree char *name = proxy_string (devices->pdata[i], "Name");
          g_print ("%s %s\n", address != NULL ? address : "?", name != NULL ? name : "");
        }
      return TRUE;
    }
  if (!check_address (args[0], error))
    return FALSE;
  discovery_ready_file = opt_ready_file;
  if (!central_find_device (c, args[0], TRUE, c->timeout_ms, (guint) opt_settle_ms, error))
    return FALSE;
  g_autofree char *path = central_device_path (c, args[0]);
  g_autoptr (GDBusProxy) device = central_proxy (c, path, DEVICE_IFACE);
  if (device == NULL)
    {
      g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_NOT_FOUND, "%s vanished after the scan", path);
      return FALSE;
    }
  if (opt_trust && !central_set_property (c, device, "Trusted", g_variant_new_boolean (TRUE), error))
    return FALSE;
  print_device (device);
  return TRUE;
}

/* absent ADDR — succeed when ADDR is not seen advertising for --duration. */
static gboolean
cmd_absent (Central *c, char **args, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  if (!check_address (args[0], error))
    return FALSE;
  if (central_find_device (c, args[0], TRUE, (guint) opt_duration_s * 1000, 0, &local_error))
    {
      g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_FAILED, "%s is advertising", args[0]);
      return FALSE;
    }
  if (!g_error_matches (local_error, CENTRAL_ERROR, CENTRAL_ERROR_TIMEOUT))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return FALSE;
    }
  g_print ("absent: %s not seen in %d s\n", args[0], opt_duration_s);
  return TRUE;
}

static gboolean
cmd_info (Central *c, char **args, GError **error)
{
  if (!check_address (args[0], error))
    return FALSE;
  g_autofree char *path = central_device_path (c, args[0]);
  g_autoptr (GDBusProxy) device = central_proxy (c, path, DEVICE_IFACE);
  if (device == NULL)
    {
      g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_NOT_FOUND, "bluetoothd has no device %s", path);
      return FALSE;
    }
  print_device (device);
  return TRUE;
}

static gboolean
cmd_connect (Central *c, char **args, GError **error)
{
  if (!check_address (args[0], error))
    return FALSE;
  g_autofree char *path = central_connect (c, args[0], error);
  if (path == NULL)
    return FALSE;
  g_print ("connected %s\n", args[0]);
  return finish_connection (c, args[0], error);
}

static gboolean
cmd_disconnect (Central *c, char **args, GError **error)
{
  if (!check_address (args[0], error))
    return FALSE;
  if (!central_disconnect (c, args[0], error))
    return FALSE;
  g_print ("disconnected %s\n", args[0]);
  return TRUE;
}

/* wait-disconnect ADDR — until the peripheral (or anyone) ends the link. */
static gboolean
cmd_wait_disconnect (Central *c, char **args, GError **error)
{
  if (!check_address (args[0], error))
    return FALSE;
  g_autofree char *path = central_device_path (c, args[0]);
  if (!central_wait (c, check_disconnected, path, c->timeout_ms, "the disconnection", error))
    return FALSE;
  g_print ("disconnected %s\n", args[0]);
  return TRUE;
}

static gboolean
cmd_remove (Central *c, char **args, GError **error)
{
  if (!check_address (args[0], error))
    return FALSE;
  g_autofree char *path = central_device_path (c, args[0]);
  if (!central_disconnect (c, args[0], error))
    return FALSE;
  return central_forget_device (c, path, error);
}

static gboolean
cmd_discover (Central *c, char **args, GError **error)
{
  if (!check_address (args[0], error))
    return FALSE;
  g_autofree char *path = central_connect (c, args[0], error);
  if (path == NULL)
    return FALSE;

  g_autoptr (GPtrArray) services = central_children (c, path, SERVICE_IFACE);
  gboolean mtu_printed = FALSE;
  for (guint i = 0; i < services->len; i++)
    {
      GDBusProxy *service = services->pdata[i];
      g_autofree char *uuid = proxy_string (service, "UUID");
      const char *service_path = g_dbus_proxy_get_object_path (service);

      g_print ("service 0x%04x %s %s\n", handle_from_path (service_path), uuid,
               proxy_bool (service, "Primary") ? "primary" : "secondary");
      g_autoptr (GPtrArray) chars = central_children (c, service_path, CHARACTERISTIC_IFACE);
      for (guint j = 0; j < chars->len; j++)
        {
          GDBusProxy *chr = chars->pdata[j];
          const char *char_path = g_dbus_proxy_get_object_path (chr);
          g_autofree char *char_uuid = proxy_string (chr, "UUID");
          g_autofree char *flags = flags_text (chr);
          g_autoptr (GVariant) mtu = proxy_property (chr, "MTU");

          if (!mtu_printed && mtu != NULL)
            {
              g_print ("mtu %u\n", g_variant_get_uint16 (mtu));
              mtu_printed = TRUE;
            }
          g_print ("  char 0x%04x %s flags=%s", handle_from_path (char_path) + 1, char_uuid, flags);
          if (!opt_no_read && strv_contains_flag (chr, "read"))
            print_read_result (c, chr);
          g_print ("\n");

          g_autoptr (GPtrArray) descs = central_children (c, char_path, DESCRIPTOR_IFACE);
          for (guint k = 0; k < descs->len; k++)
            {
              GDBusProxy *desc = descs->pdata[k];
              g_autofree char *desc_uuid = proxy_string (desc, "UUID");

              g_print ("    desc 0x%04x %s", handle_from_path (g_dbus_proxy_get_object_path (desc)), desc_uuid);
              if (!opt_no_read)
                print_read_result (c, desc);
              g_print ("\n");
            }
        }
    }
  return finish_connection (c, args[0], error);
}

static gboolean
cmd_read (Central *c, char **args, GError **error)
{
  if (!check_address (args[0], error))
    return FALSE;
  g_autofree char *path = central_connect (c, args[0], error);
  if (path == NULL)
    return FALSE;
  g_autoptr (GDBusProxy) attribute = central_find_characteristic_wait (c, path, args[1], error);
  if (attribute == NULL)
    return FALSE;
  if (args[2] != NULL)
    {
      g_autoptr (GDBusProxy) chr = g_steal_pointer (&attribute);
      attribute = central_find_descriptor (c, chr, args[2], error);
      if (attribute == NULL)
        return FALSE;
    }
  g_autoptr (GBytes) value = central_read (c, attribute, (guint) opt_offset, error);
  if (value == NULL)
    return FALSE;
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (value, &len);
  g_autofree char *hex = hex_encode (data, len);
  g_print ("%s\n", hex);
  return finish_connection (c, args[0], error);
}

/* write ADDR CHAR HEX  or  write ADDR CHAR DESC HEX */
static gboolean
cmd_write (Central *c, char **args, GError **error)
{
  const char *hex = args[3] != NULL ? args[3] : args[2];

  if (!check_address (args[0], error))
    return FALSE;
  g_autoptr (GBytes) bytes = hex_decode (hex, error);
  if (bytes == NULL)
    return FALSE;
  g_autofree char *path = central_connect (c, args[0], error);
  if (path == NULL)
    return FALSE;
  g_autoptr (GDBusProxy) attribute = central_find_characteristic_wait (c, path, args[1], error);
  if (attribute == NULL)
    return FALSE;
  if (args[3] != NULL)
    {
      g_autoptr (GDBusProxy) chr = g_steal_pointer (&attribute);
      attribute = central_find_descriptor (c, chr, args[2], error);
      if (attribute == NULL)
        return FALSE;
    }
  if (!central_write (c, attribute, bytes, (guint) opt_offset, opt_write_type, error))
    return FALSE;
  g_print ("written %zu bytes\n", g_bytes_get_size (bytes));
  return finish_connection (c, args[0], error);
}

static gboolean
check_value_count (Central *c, gconstpointer data)
{
  return c->value_count >= c->value_target;
}

static gboolean
check_notifying (Central *c, gconstpointer data)
{
  g_autoptr (GDBusProxy) chr = central_proxy (c, c->watched_path, CHARACTERISTIC_IFACE);

  return proxy_bool (chr, "Notifying");
}

/* listen ADDR CHAR N — subscribe, print N values as hex, one per line. */
static gboolean
cmd_listen (Central *c, char **args, GError **error)
{
  char *end = NULL;
  guint64 count = g_ascii_strtoull (args[2], &end, 10);
  g_autoptr (GError) wait_error = NULL;

  if (!check_address (args[0], error))
    return FALSE;
  if (end == args[2] || *end != '\0' || count == 0 || count > 1000000)
    {
      g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_USAGE, "'%s' is not a count of notifications", args[2]);
      return FALSE;
    }
  g_autofree char *path = central_connect (c, args[0], error);
  if (path == NULL)
    return FALSE;
  g_autoptr (GDBusProxy) chr = central_find_characteristic_wait (c, path, args[1], error);
  if (chr == NULL)
    return FALSE;

  g_free (c->watched_path);
  c->watched_path = g_strdup (g_dbus_proxy_get_object_path (chr));
  c->value_count = 0;
  c->value_target = (guint) count;
  g_autoptr (GVariant) reply = central_call (c, chr, "StartNotify", NULL, error);
  if (reply == NULL)
    return FALSE;
  if (!central_wait (c, check_notifying, NULL, c->timeout_ms, "Notifying to become true", error))
    return FALSE;
  g_printerr ("central: subscribed to %s\n", c->watched_path);
  if (opt_times_file != NULL)
    value_times = g_string_new (NULL);
  if (opt_ready_file != NULL && !g_file_set_contents (opt_ready_file, "subscribed\n", -1, error))
    return FALSE;

  gboolean ok = central_wait (c, check_value_count, NULL, c->timeout_ms, "notifications", &wait_error);
  g_autoptr (GError) stop_error = NULL;
  g_autoptr (GVariant) stop = central_call (c, chr, "StopNotify", NULL, &stop_error);
  if (stop == NULL)
    verbose ("%s", stop_error->message);
  if (opt_stats)
    print_stats (c);
  if (value_times != NULL && !g_file_set_contents (opt_times_file, value_times->str, -1, error))
    return FALSE;
  if (!ok)
    {
      g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_TIMEOUT, "received %u of %u notifications: %s", c->value_count,
                   c->value_target, wait_error->message);
      return FALSE;
    }
  return finish_connection (c, args[0], error);
}

/* write-each ADDR CHAR HEX [HEX...] — one Write Request per value, in order,
 * each waiting for its response, over one connection. */
static gboolean
cmd_write_each (Central *c, char **args, GError **error)
{
  g_autoptr (GPtrArray) values = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);

  if (!check_address (args[0], error))
    return FALSE;
  for (guint i = 2; args[i] != NULL; i++)
    {
      GBytes *bytes = hex_decode (args[i], error);
      if (bytes == NULL)
        return FALSE;
      g_ptr_array_add (values, bytes);
    }
  g_autofree char *path = central_connect (c, args[0], error);
  if (path == NULL)
    return FALSE;
  g_autoptr (GDBusProxy) chr = central_find_characteristic_wait (c, path, args[1], error);
  if (chr == NULL)
    return FALSE;
  gint64 t0 = g_get_monotonic_time ();
  for (guint i = 0; i < values->len; i++)
    {
      if (!central_write (c, chr, values->pdata[i], (guint) opt_offset, opt_write_type, error))
        {
          g_prefix_error (error, "value %u of %u: ", i + 1, values->len);
          return FALSE;
        }
    }
  g_print ("written %u values\n", values->len);
  if (opt_stats)
    g_printerr ("central: stats values=%u seconds=%.3f\n", values->len,
                (double) (g_get_monotonic_time () - t0) / G_USEC_PER_SEC);
  return finish_connection (c, args[0], error);
}

/* reads ADDR CHAR N — N ReadValue calls in a row over one connection; each
 * result on its own line: the value in hex, or "error=NAME: message". */
static gboolean
cmd_reads (Central *c, char **args, GError **error)
{
  char *end = NULL;
  guint64 count = g_ascii_strtoull (args[2], &end, 10);

  if (!check_address (args[0], error))
    return FALSE;
  if (end == args[2] || *end != '\0' || count == 0 || count > 10000)
    {
      g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_USAGE, "'%s' is not a count of reads", args[2]);
      return FALSE;
    }
  g_autofree char *path = central_connect (c, args[0], error);
  if (path == NULL)
    return FALSE;
  g_autoptr (GDBusProxy) chr = central_find_characteristic_wait (c, path, args[1], error);
  if (chr == NULL)
    return FALSE;
  for (guint64 i = 0; i < count; i++)
    {
      print_read_result_full (c, chr, TRUE);
      g_print ("\n");
    }
  return finish_connection (c, args[0], error);
}

/* --- pair: an agent of the central's own (not the default one) ------------- */

#define CENTRAL_AGENT_PATH "/org/bleperipheral/e2e/central_agent"

typedef struct {
  GDBusMethodInvocation *passkey_request; /* RequestPasskey waiting for --passkey-file */
  guint poll;
  gboolean done;
  GVariant *reply;
  GError *error;
  const char *adapter_path;
} PairState;

static gboolean
passkey_poll (gpointer data)
{
  PairState *st = data;
  g_autofree char *text = NULL;
  guint64 passkey;

  if (st->passkey_request == NULL)
    return G_SOURCE_REMOVE;
  if (!g_file_get_contents (opt_passkey_file, &text, NULL, NULL))
    return G_SOURCE_CONTINUE;
  g_strstrip (text);
  if (!g_ascii_string_to_unsigned (text, 10, 0, 999999, &passkey, NULL))
    return G_SOURCE_CONTINUE;
  g_print ("agent: entering passkey %06u\n", (guint) passkey);
  g_dbus_method_invocation_return_value (g_steal_pointer (&st->passkey_request),
                                         g_variant_new ("(u)", (guint32) passkey));
  st->poll = 0;
  return G_SOURCE_REMOVE;
}

static void
agent_method (GDBusConnection *conn, const char *sender, const char *path, const char *iface, const char *method,
              GVariant *params, GDBusMethodInvocation *invocation, gpointer data)
{
  PairState *st = data;

  verbose ("agent: %s", method);
  if (params != NULL && g_variant_n_children (params) > 0)
    {
      /* One bluetoothd runs both adapters, and an agent may be asked about
       * the other one's devices (when it is the only agent left, it is the
       * default): answer for the central's adapter only. */
      g_autoptr (GVariant) dev = g_variant_get_child_value (params, 0);
      g_autofree char *prefix = g_strdup_printf ("%s/", st->adapter_path);
      if (g_variant_is_of_type (dev, G_VARIANT_TYPE_OBJECT_PATH) &&
          !g_str_has_prefix (g_variant_get_string (dev, NULL), prefix))
        {
          g_print ("agent: %s for %s refused (not our adapter)\n", method, g_variant_get_string (dev, NULL));
          g_dbus_method_invocation_return_dbus_error (invocation, "org.bluez.Error.Rejected", "not our adapter");
          return;
        }
    }
  if (g_str_equal (method, "RequestPasskey"))
    {
      if (opt_passkey_file == NULL)
        {
          g_dbus_method_invocation_return_dbus_error (invocation, "org.bluez.Error.Rejected", "no --passkey-file");
          return;
        }
      g_print ("agent: passkey requested\n");
      st->passkey_request = invocation;
      st->poll = g_timeout_add (100, passkey_poll, st);
      return;
    }
  if (g_str_equal (method, "RequestConfirmation"))
    {
      guint32 passkey = 0;
      g_variant_get (params, "(&ou)", NULL, &passkey);
      g_print ("agent: confirm %06u (accepted)\n", passkey);
    }
  else if (g_str_equal (method, "DisplayPasskey"))
    {
      guint32 passkey = 0;
      g_variant_get (params, "(&ouq)", NULL, &passkey, NULL);
      g_print ("agent: passkey %06u\n", passkey);
    }
  else if (g_str_equal (method, "RequestAuthorization"))
    g_print ("agent: authorize (accepted)\n");
  else if (g_str_equal (method, "RequestPinCode"))
    {
      g_dbus_method_invocation_return_dbus_error (invocation, "org.bluez.Error.Rejected", "no PIN codes");
      return;
    }
  else if (g_str_equal (method, "Cancel"))
    g_print ("agent: canceled\n");
  g_dbus_method_invocation_return_value (invocation, NULL);
}

static void
pair_done (GObject *source, GAsyncResult *res, gpointer data)
{
  PairState *st = data;

  st->reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &st->error);
  st->done = TRUE;
}

static const char agent_introspection[] =
  "<node><interface name='org.bluez.Agent1'>"
  "<method name='Release'/>"
  "<method name='RequestPinCode'><arg type='o' direction='in'/><arg type='s' direction='out'/></method>"
  "<method name='DisplayPinCode'><arg type='o' direction='in'/><arg type='s' direction='in'/></method>"
  "<method name='RequestPasskey'><arg type='o' direction='in'/><arg type='u' direction='out'/></method>"
  "<method name='DisplayPasskey'><arg type='o' direction='in'/><arg type='u' direction='in'/>"
  "<arg type='q' direction='in'/></method>"
  "<method name='RequestConfirmation'><arg type='o' direction='in'/><arg type='u' direction='in'/></method>"
  "<method name='RequestAuthorization'><arg type='o' direction='in'/></method>"
  "<method name='AuthorizeService'><arg type='o' direction='in'/><arg type='s' direction='in'/></method>"
  "<method name='Cancel'/>"
  "</interface></node>";

/* pair ADDR — registers an agent of its own (--agent-capability, default
 * KeyboardDisplay; not the default agent: bluetoothd asks the agent of
 * whoever called Pair), then Device1.Pair. RequestPasskey is answered with
 * the number --passkey-file holds once it exists; confirmations and
 * authorizations are accepted. */
static gboolean
cmd_pair (Central *c, char **args, GError **error)
{
  static const GDBusInterfaceVTable vtable = { agent_method, NULL, NULL, { 0 } };
  GDBusConnection *conn = g_dbus_object_manager_client_get_connection (G_DBUS_OBJECT_MANAGER_CLIENT (c->manager));
  g_autoptr (GDBusNodeInfo) info = g_dbus_node_info_new_for_xml (agent_introspection, NULL);
  g_autoptr (GVariant) reply = NULL;
  PairState st = { 0 };
  guint id;

  st.adapter_path = c->adapter_path;
  if (!check_address (args[0], error))
    return FALSE;
  g_autofree char *path = central_device_path (c, args[0]);
  id = g_dbus_connection_register_object (conn, CENTRAL_AGENT_PATH, info->interfaces[0], &vtable, &st, NULL, error);
  if (id == 0)
    return FALSE;
  reply = g_dbus_connection_call_sync (
    conn, BLUEZ_NAME, "/org/bluez", "org.bluez.AgentManager1", "RegisterAgent",
    g_variant_new ("(os)", CENTRAL_AGENT_PATH, opt_agent_capability ? opt_agent_capability : "KeyboardDisplay"), NULL,
    G_DBUS_CALL_FLAGS_NONE, (int) c->timeout_ms, NULL, error);
  if (reply == NULL)
    return FALSE;
  g_dbus_connection_call (conn, BLUEZ_NAME, path, DEVICE_IFACE, "Pair", NULL, NULL, G_DBUS_CALL_FLAGS_NONE,
                          (int) c->timeout_ms, NULL, pair_done, &st);
  while (!st.done)
    g_main_context_iteration (NULL, TRUE);
  g_clear_handle_id (&st.poll, g_source_remove);
  if (st.passkey_request != NULL)
    g_dbus_method_invocation_return_dbus_error (g_steal_pointer (&st.passkey_request), "org.bluez.Error.Canceled",
                                                "pairing ended");
  g_dbus_connection_unregister_object (conn, id);
  if (st.reply == NULL)
    {
      g_autofree char *remote = g_dbus_error_get_remote_error (st.error);
      g_dbus_error_strip_remote_error (st.error);
      g_set_error (error, CENTRAL_ERROR, CENTRAL_ERROR_FAILED, "Device1.Pair on %s: %s%s%s", path, remote ? remote : "",
                   remote ? ": " : "", st.error->message);
      g_clear_error (&st.error);
      return FALSE;
    }
  g_variant_unref (st.reply);
  g_print ("paired %s\n", args[0]);
  return finish_connection (c, args[0], error);
}

typedef struct {
  const char *name;
  guint min_args;
  guint max_args;
  const char *usage;
  gboolean (*run) (Central *c, char **args, GError **error);
} Command;

static const Command commands[] = {
  { "scan", 0, 1, "scan [ADDR]             fresh advertising data of ADDR (or all devices seen in --duration)",
    cmd_scan },
  { "absent", 1, 1, "absent ADDR             succeed if ADDR is not seen advertising for --duration", cmd_absent },
  { "info", 1, 1, "info ADDR               bluetoothd's cached properties of ADDR", cmd_info },
  { "pair", 1, 1,
    "pair ADDR               pair (and bond) with an agent of its own (--agent-capability, --passkey-file)", cmd_pair },
  { "connect", 1, 1, "connect ADDR            connect and wait until services are resolved", cmd_connect },
  { "disconnect", 1, 1, "disconnect ADDR         disconnect", cmd_disconnect },
  { "wait-disconnect", 1, 1, "wait-disconnect ADDR    wait until the link drops", cmd_wait_disconnect },
  { "remove", 1, 1, "remove ADDR             disconnect and forget the device", cmd_remove },
  { "discover", 1, 1, "discover ADDR           print services, characteristics (flags, value), descriptors",
    cmd_discover },
  { "read", 2, 3, "read ADDR CHAR [DESC]   print the value as hex (--offset N)", cmd_read },
  { "write", 3, 4, "write ADDR CHAR [DESC] HEX  write (--offset N, --type request|command|reliable)", cmd_write },
  { "listen", 3, 3, "listen ADDR CHAR N      subscribe, print N notifications as hex, one per line", cmd_listen },
  { "write-each", 3, 10000, "write-each ADDR CHAR HEX...  one write per value, in order, over one connection",
    cmd_write_each },
  { "reads", 3, 3, "reads ADDR CHAR N       N reads in a row: value=HEX or error=NAME: message per line", cmd_reads },
};

static char *
commands_summary (void)
{
  GString *out = g_string_new ("Commands:\n");

  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    g_string_append_printf (out, "  %s\n", commands[i].usage);
  g_string_append (out,
                   "\nCHAR is a characteristic UUID (2a6e, 0x2A6E or 128-bit), SERVICE/CHAR when a UUID\n"
                   "occurs more than once, or @HANDLE (value handle). DESC is a descriptor UUID.\n"
                   "Connections are left open unless --disconnect is given.\n"
                   "Exit status: 0 success, 1 failure, 2 usage error.");
  return g_string_free (out, FALSE);
}

int
main (int argc, char **argv)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GOptionContext) context = NULL;
  g_autoptr (Central) c = NULL;
  const GOptionEntry entries[] = {
    { "adapter", 'a', 0, G_OPTION_ARG_STRING, &opt_adapter, "Adapter to use (default hci1)", "hciN" },
    { "timeout", 't', 0, G_OPTION_ARG_INT, &opt_timeout_s, "Bound for each wait and call (default 20)", "SECS" },
    { "settle", 0, 0, G_OPTION_ARG_INT, &opt_settle_ms, "scan: keep scanning after the device appears (default 1000)",
      "MS" },
    { "duration", 'd', 0, G_OPTION_ARG_INT, &opt_duration_s, "scan without ADDR, absent: how long (default 5)",
      "SECS" },
    { "offset", 'o', 0, G_OPTION_ARG_INT, &opt_offset, "read/write: offset option", "N" },
    { "type", 0, 0, G_OPTION_ARG_STRING, &opt_write_type, "write: type option (request, command, reliable)", "TYPE" },
    { "times", 0, 0, G_OPTION_ARG_FILENAME, &opt_times_file,
      "listen: write each value's arrival (real time, seconds) and hex to FILE", "FILE" },
    { "ready-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_ready_file,
      "listen: create FILE once subscribed; scan: once discovering", "FILE" },
    { "restart-ms", 0, 0, G_OPTION_ARG_INT, &opt_restart_ms,
      "scan: restart discovery this often until the device shows (default 1000, 0: never)", "MS" },
    { "agent-capability", 0, 0, G_OPTION_ARG_STRING, &opt_agent_capability,
      "pair: the agent's IO capability (default KeyboardDisplay)", "CAP" },
    { "passkey-file", 0, 0, G_OPTION_ARG_FILENAME, &opt_passkey_file,
      "pair: answer RequestPasskey with the number this file holds once it exists", "FILE" },
    { "trust", 0, 0, G_OPTION_ARG_NONE, &opt_trust, "scan: mark the device found Trusted (kept, never expires)", NULL },
    { "disconnect", 0, 0, G_OPTION_ARG_NONE, &opt_disconnect, "Disconnect when done", NULL },
    { "no-read", 0, 0, G_OPTION_ARG_NONE, &opt_no_read, "discover: do not read values", NULL },
    { "stats", 0, 0, G_OPTION_ARG_NONE, &opt_stats, "listen, write-each: timing on stderr (values, seconds, per_s)",
      NULL },
    { "verbose", 'v', 0, G_OPTION_ARG_NONE, &opt_verbose, "Say what happens on stderr (also CENTRAL_VERBOSE=1)", NULL },
    { NULL },
  };

  start_time = g_get_monotonic_time ();
  setvbuf (stdout, NULL, _IOLBF, 0);
  context = g_option_context_new ("COMMAND ADDR [ARG...] - a scriptable BLE central over bluetoothd");
  g_option_context_add_main_entries (context, entries, NULL);
  g_autofree char *summary = commands_summary ();
  g_option_context_set_description (context, summary);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    {
      g_printerr ("central: %s\n", error->message);
      return 2;
    }
  if (g_strcmp0 (g_getenv ("CENTRAL_VERBOSE"), "1") == 0)
    opt_verbose = TRUE;
  if (argc < 2)
    {
      g_autofree char *help = g_option_context_get_help (context, TRUE, NULL);
      g_printerr ("%s", help);
      return 2;
    }
  if (opt_timeout_s <= 0 || opt_timeout_s > 3600 || opt_duration_s <= 0 || opt_duration_s > 3600 || opt_settle_ms < 0 ||
      opt_settle_ms > 60000 || opt_offset < 0 || opt_offset > 0xffff || opt_restart_ms < 0 || opt_restart_ms > 3600000)
    {
      g_printerr ("central: --timeout, --duration, --settle, --offset or --restart-ms out of range\n");
      return 2;
    }
  if (opt_write_type != NULL &&
      !g_strv_contains ((const char *const[]) { "request", "command", "reliable", NULL }, opt_write_type))
    {
      g_printerr ("central: --type must be request, command or reliable\n");
      return 2;
    }

  const Command *command = NULL;
  for (gsize i = 0; i < G_N_ELEMENTS (commands); i++)
    {
      if (g_strcmp0 (argv[1], commands[i].name) == 0)
        command = &commands[i];
    }
  guint nargs = (guint) argc - 2;
  if (command == NULL || nargs < command->min_args || nargs > command->max_args)
    {
      g_printerr ("central: %s '%s'\n%s\n", command == NULL ? "unknown command" : "wrong arguments for", argv[1],
                  summary);
      return 2;
    }

  c = central_new (&error);
  if (c == NULL)
    {
      g_printerr ("central: %s\n", error->message);
      return 1;
    }
  if (!command->run (c, argv + 2, &error))
    {
      g_printerr ("central: %s: %s\n", command->name, error->message);
      return g_error_matches (error, CENTRAL_ERROR, CENTRAL_ERROR_USAGE) ? 2 : 1;
    }
  return 0;
}
