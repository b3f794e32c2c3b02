/* What the benchmark's C programs share on the bus: which bus (--address,
 * else $DBUS_SYSTEM_BUS_ADDRESS), the connection, and the signal that the
 * C limit and the C relay send — PropertiesChanged(Value) built from its
 * parts, as the daemon builds it (cheaper than a format string and a
 * builder), so that neither floor does more or less than the daemon. */
#pragma once

#include <gio/gio.h>

#define BENCH_CHAR_IFACE "org.bluez.GattCharacteristic1"

/* *address, or $DBUS_SYSTEM_BUS_ADDRESS when it is NULL; FALSE, after
 * saying so as prog, when there is neither. */
static inline gboolean
bench_bus_address (const char *prog, char **address)
{
  if (*address == NULL)
    *address = g_strdup (g_getenv ("DBUS_SYSTEM_BUS_ADDRESS"));
  if (*address != NULL)
    return TRUE;
  g_printerr ("%s: no bus: give --address or set DBUS_SYSTEM_BUS_ADDRESS\n", prog);
  return FALSE;
}

/* A message bus connection to address, or NULL after saying why as prog. */
static inline GDBusConnection *
bench_bus_connect (const char *prog, const char *address)
{
  g_autoptr (GError) error = NULL;
  GDBusConnection *conn = g_dbus_connection_new_for_address_sync (
    address, G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL,
    &error);

  if (conn == NULL)
    g_printerr ("%s: %s\n", prog, error->message);
  return conn;
}

/* PropertiesChanged(BENCH_CHAR_IFACE, {Value: value}, []) on path; FALSE
 * after saying why as prog. Not thread-safe: one emitting thread. */
static inline gboolean
bench_emit_value (GDBusConnection *conn, const char *prog, const char *path, const guint8 *value, gsize size)
{
  /* The parts of the signal that never change, made once. */
  static GVariant *char_iface, *value_key, *no_invalidated;
  g_autoptr (GError) error = NULL;
  GVariant *entry;
  GVariant *body[3];

  if (char_iface == NULL)
    {
      char_iface = g_variant_ref_sink (g_variant_new_string (BENCH_CHAR_IFACE));
      value_key = g_variant_ref_sink (g_variant_new_string ("Value"));
      no_invalidated = g_variant_ref_sink (g_variant_new_array (G_VARIANT_TYPE_STRING, NULL, 0));
    }
  entry = g_variant_new_dict_entry (
    value_key, g_variant_new_variant (g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, value, size, 1)));
  body[0] = char_iface;
  body[1] = g_variant_new_array (G_VARIANT_TYPE ("{sv}"), &entry, 1);
  body[2] = no_invalidated;
  if (!g_dbus_connection_emit_signal (conn, NULL, path, "org.freedesktop.DBus.Properties", "PropertiesChanged",
                                      g_variant_new_tuple (body, 3), &error))
    {
      g_printerr ("%s: %s\n", prog, error->message);
      return FALSE;
    }
  return TRUE;
}
