/* What the running bluetoothd can do (see capabilities.h). The markers, read
 * in BlueZ's sources of each tag (src/adapter.c, src/advertising.c,
 * src/device.c; bluetoothd's Introspect leaves out members flagged
 * experimental unless it runs with -E):
 *
 *   Adapter1.Manufacturer, Adapter1.Version       5.71
 *   Adapter1.PowerState                           5.73 (earlier: -E only)
 *   LEAdvertisingManager1.SupportedFeatures       5.77 (earlier: -E only)
 *   Adapter1.Connectable                          5.79
 *   Device1.Bonded                                5.65
 *   Adapter1.ConnectDevice                        -E only (every version)
 *
 * A member that is there proves "at least"; one that is missing proves
 * "older than" (once its interface is there at all). */
#define G_LOG_DOMAIN "capabilities"

#include "build-config.h"

#include "daemon/capabilities.h"

#include <string.h>

#define ADAPTER_IFACE "org.bluez.Adapter1"
#define ADV_MANAGER_IFACE "org.bluez.LEAdvertisingManager1"

void
bp_capabilities_clear (BpCapabilities *caps)
{
  memset (caps, 0, sizeof *caps);
}

gboolean
bp_capabilities_bluez_at_least (const BpCapabilities *caps, guint major, guint minor)
{
  return caps->version_min != 0 && caps->version_min >= BP_BLUEZ_VERSION (major, minor);
}

static void
raise_min (BpCapabilities *caps, guint version)
{
  if (version > caps->version_min)
    caps->version_min = version;
}

static void
lower_below (BpCapabilities *caps, guint version)
{
  if (caps->version_below == 0 || version < caps->version_below)
    caps->version_below = version;
}

/* The features follow from the bounds and the mode. */
static void
derive_features (BpCapabilities *caps)
{
  caps->adv_interval = bp_capabilities_bluez_at_least (caps, 5, 77) || caps->experimental == BP_TRISTATE_YES;
  caps->scan_response = bp_capabilities_bluez_at_least (caps, 5, 79);
  caps->notify_fd_per_connection = bp_capabilities_bluez_at_least (caps, 5, 69);
  caps->notify_to_one_central = bp_capabilities_bluez_at_least (caps, 5, 76);
  caps->long_writes_past_508 = bp_capabilities_bluez_at_least (caps, 5, 69);
}

static void
append_version (GString *out, guint version)
{
  g_string_append_printf (out, "%u.%u", version / 1000, version % 1000);
}

char *
bp_capabilities_version_text (const BpCapabilities *caps)
{
  GString *out = g_string_new (NULL);

  if (caps->version_min != 0)
    {
      g_string_append (out, ">=");
      append_version (out, caps->version_min);
    }
  if (caps->version_below != 0)
    {
      g_string_append (out, out->len > 0 ? ",<" : "<");
      append_version (out, caps->version_below);
    }
  if (out->len == 0)
    g_string_append_c (out, '-');
  return g_string_free (out, FALSE);
}

const char *
bp_capabilities_experimental_text (const BpCapabilities *caps)
{
  switch (caps->experimental)
    {
    case BP_TRISTATE_YES:
      return "yes";
    case BP_TRISTATE_NO:
      return "no";
    case BP_TRISTATE_UNKNOWN:
    default:
      return "-";
    }
}

char *
bp_capabilities_describe (const BpCapabilities *caps)
{
  g_autofree char *version = bp_capabilities_version_text (caps);

  return g_strdup_printf (
    "BlueZ %s, experimental features %s; advertising Interval/TxPower %s, "
    "ScanResponseData %s, notification fd per central %s, to one central %s, "
    "long writes past 508 bytes %s",
    version, bp_capabilities_experimental_text (caps), caps->adv_interval ? "applied" : "ignored (needs 5.77 or -E)",
    caps->scan_response ? "yes" : "no (needs 5.80)", caps->notify_fd_per_connection ? "yes" : "not proven (needs 5.69)",
    caps->notify_to_one_central ? "yes" : "not proven (needs 5.76)",
    caps->long_writes_past_508 ? "yes" : "not proven (needs 5.69)");
}

static gboolean
has_property (GDBusInterfaceInfo *iface, const char *name)
{
  return iface != NULL && g_dbus_interface_info_lookup_property (iface, name) != NULL;
}

static gboolean
has_method (GDBusInterfaceInfo *iface, const char *name)
{
  return iface != NULL && g_dbus_interface_info_lookup_method (iface, name) != NULL;
}

gboolean
bp_capabilities_parse_adapter_xml (BpCapabilities *caps, const char *xml, GError **error)
{
  g_autoptr (GDBusNodeInfo) node = g_dbus_node_info_new_for_xml (xml, error);
  GDBusInterfaceInfo *adapter, *adv;
  gboolean experimental;

  if (node == NULL)
    {
      g_prefix_error (error, "bluetoothd's introspection data: ");
      return FALSE;
    }
  adapter = g_dbus_node_info_lookup_interface (node, ADAPTER_IFACE);
  if (adapter == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "the object has no %s interface", ADAPTER_IFACE);
      return FALSE;
    }
  adv = g_dbus_node_info_lookup_interface (node, ADV_MANAGER_IFACE);

  experimental = has_method (adapter, "ConnectDevice");
  caps->experimental = experimental ? BP_TRISTATE_YES : BP_TRISTATE_NO;

  if (has_property (adapter, "Manufacturer") || has_property (adapter, "Version"))
    raise_min (caps, BP_BLUEZ_VERSION (5, 71));
  else
    lower_below (caps, BP_BLUEZ_VERSION (5, 71));

  if (!has_property (adapter, "PowerState"))
    lower_below (caps, BP_BLUEZ_VERSION (5, 73));
  else if (!experimental)
    raise_min (caps, BP_BLUEZ_VERSION (5, 73));

  /* LEAdvertisingManager1 exists only on an adapter that can advertise. */
  if (adv != NULL)
    {
      if (!has_property (adv, "SupportedFeatures"))
        lower_below (caps, BP_BLUEZ_VERSION (5, 77));
      else if (!experimental)
        raise_min (caps, BP_BLUEZ_VERSION (5, 77));
    }

  if (has_property (adapter, "Connectable"))
    raise_min (caps, BP_BLUEZ_VERSION (5, 79));
  else
    lower_below (caps, BP_BLUEZ_VERSION (5, 79));

  caps->known = TRUE;
  derive_features (caps);
  return TRUE;
}

gboolean
bp_capabilities_note_device (BpCapabilities *caps, GVariant *device_props)
{
  guint before = caps->version_min;

  if (!g_variant_lookup (device_props, "Address", "&s", NULL))
    return FALSE; /* a PropertiesChanged carries only what changed */
  if (g_variant_lookup (device_props, "Bonded", "b", NULL))
    raise_min (caps, BP_BLUEZ_VERSION (5, 65));
  derive_features (caps);
  return caps->version_min != before;
}

/* --- the probe ------------------------------------------------------------ */

static void
introspect_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GTask) task = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  BpCapabilities *caps;
  const char *xml;

  if (reply == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  caps = g_new0 (BpCapabilities, 1);
  g_variant_get (reply, "(&s)", &xml);
  if (!bp_capabilities_parse_adapter_xml (caps, xml, &error))
    {
      g_free (caps);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  g_task_return_pointer (task, caps, g_free);
}

void
bp_capabilities_probe (GDBusConnection *conn, const char *adapter_path, int timeout_ms, GCancellable *cancellable,
                       GAsyncReadyCallback callback, gpointer user_data)
{
  GTask *task = g_task_new (conn, cancellable, callback, user_data);

  g_task_set_source_tag (task, bp_capabilities_probe);
  g_dbus_connection_call (conn, "org.bluez", adapter_path, "org.freedesktop.DBus.Introspectable", "Introspect", NULL,
                          G_VARIANT_TYPE ("(s)"), G_DBUS_CALL_FLAGS_NO_AUTO_START, timeout_ms, cancellable,
                          introspect_done, task);
}

gboolean
bp_capabilities_probe_finish (GAsyncResult *result, BpCapabilities *caps, GError **error)
{
  g_autofree BpCapabilities *found = g_task_propagate_pointer (G_TASK (result), error);

  if (found == NULL)
    return FALSE;
  /* What caps proved already (a device's Bonded) stays. */
  raise_min (caps, found->version_min);
  if (found->version_below != 0)
    lower_below (caps, found->version_below);
  caps->experimental = found->experimental;
  caps->known = TRUE;
  derive_features (caps);
  return TRUE;
}
