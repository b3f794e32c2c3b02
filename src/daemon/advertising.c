/* The advertisement object. Registration (when, on which adapter) is the
 * BlueZ module's; this module says what is advertised. */
#define G_LOG_DOMAIN "advertising"

#include "build-config.h"

#include "daemon/advertising.h"

#include "daemon/buscall.h"

static const char introspection_xml[] =
  "<node>"
  " <interface name='org.bluez.LEAdvertisement1'>"
  "  <method name='Release'/>"
  "  <property name='Type' type='s' access='read'/>"
  "  <property name='ServiceUUIDs' type='as' access='read'/>"
  "  <property name='SolicitUUIDs' type='as' access='read'/>"
  "  <property name='ManufacturerData' type='a{qv}' access='read'/>"
  "  <property name='ServiceData' type='a{sv}' access='read'/>"
  "  <property name='Data' type='a{yv}' access='read'/>"
  "  <property name='LocalName' type='s' access='read'/>"
  "  <property name='Appearance' type='q' access='read'/>"
  "  <property name='Discoverable' type='b' access='read'/>"
  "  <property name='DiscoverableTimeout' type='q' access='read'/>"
  "  <property name='Timeout' type='q' access='read'/>"
  "  <property name='Includes' type='as' access='read'/>"
  "  <property name='MinInterval' type='u' access='read'/>"
  "  <property name='MaxInterval' type='u' access='read'/>"
  "  <property name='TxPower' type='n' access='read'/>"
  "  <property name='ScanResponseData' type='a{yv}' access='read'/>"
  " </interface>"
  "</node>";

struct _BpAdvertisement {
  GDBusConnection *conn;
  const BpConfig *config;
  GDBusNodeInfo *info;
  guint registration;
  BpAdvertisementReleased released;
  gpointer user_data;
};

static GVariant *
bytes_variant (GBytes *bytes)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);

  return g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data, len, 1);
}

static GVariant *
uuid_list (GArray *uuids)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("as"));
  for (guint i = 0; uuids != NULL && i < uuids->len; i++)
    {
      char s[BP_UUID_STRLEN];
      bp_uuid_to_string (&g_array_index (uuids, BpUuid, i), s);
      g_variant_builder_add (&b, "s", s);
    }
  return g_variant_builder_end (&b);
}

/* Data AD structures: type byte, then payload. */
static GVariant *
ad_structures (GPtrArray *structures)
{
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{yv}"));
  for (guint i = 0; structures != NULL && i < structures->len; i++)
    {
      GBytes *ad = g_ptr_array_index (structures, i);
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (ad, &len);

      if (len < 1)
        continue;
      g_variant_builder_add (&b, "{yv}", data[0],
                             g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data + 1, len - 1, 1));
    }
  return g_variant_builder_end (&b);
}

/* The scan response of ScanResponseData=: a run of length-type-value structures. */
static GVariant *
scan_response_structures (GBytes *raw)
{
  GVariantBuilder b;
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (raw, &len);

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{yv}"));
  for (gsize i = 0; i < len;)
    {
      guint8 l = data[i];
      if (l == 0 || i + 1 + l > len)
        break;
      g_variant_builder_add (&b, "{yv}", data[i + 1],
                             g_variant_new_fixed_array (G_VARIANT_TYPE_BYTE, data + i + 2, l - 1, 1));
      i += 1 + l;
    }
  return g_variant_builder_end (&b);
}

static GVariant *
get_property (BpAdvertisement *adv, const char *name)
{
  const BpAdvertisingConfig *a = &adv->config->advertising;

  if (g_str_equal (name, "Type"))
    return g_variant_new_string (a->connectable ? "peripheral" : "broadcast");
  if (g_str_equal (name, "ServiceUUIDs") && a->service_uuids != NULL && a->service_uuids->len > 0)
    return uuid_list (a->service_uuids);
  if (g_str_equal (name, "SolicitUUIDs") && a->solicit_uuids != NULL && a->solicit_uuids->len > 0)
    return uuid_list (a->solicit_uuids);
  if (g_str_equal (name, "ManufacturerData") && a->manufacturer_data != NULL && a->manufacturer_data->len > 0)
    {
      GVariantBuilder b;
      g_variant_builder_init (&b, G_VARIANT_TYPE ("a{qv}"));
      for (guint i = 0; i < a->manufacturer_data->len; i++)
        {
          BpManufacturerData *m = g_ptr_array_index (a->manufacturer_data, i);
          g_variant_builder_add (&b, "{qv}", m->company, bytes_variant (m->data));
        }
      return g_variant_builder_end (&b);
    }
  if (g_str_equal (name, "ServiceData") && a->service_data != NULL && a->service_data->len > 0)
    {
      GVariantBuilder b;
      g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
      for (guint i = 0; i < a->service_data->len; i++)
        {
          BpServiceData *sd = g_ptr_array_index (a->service_data, i);
          char s[BP_UUID_STRLEN];
          bp_uuid_to_string (&sd->uuid, s);
          g_variant_builder_add (&b, "{sv}", s, bytes_variant (sd->data));
        }
      return g_variant_builder_end (&b);
    }
  if (g_str_equal (name, "Data") && a->data != NULL && a->data->len > 0)
    return ad_structures (a->data);
  if (g_str_equal (name, "LocalName") && adv->config->name != NULL && *adv->config->name)
    return g_variant_new_string (adv->config->name);
  if (g_str_equal (name, "Appearance") && a->has_appearance)
    return g_variant_new_uint16 (a->appearance);
  /* A broadcaster must not carry discoverable flags (bluetoothd refuses them). */
  if (g_str_equal (name, "Discoverable") && a->connectable)
    return g_variant_new_boolean (a->discoverable || a->limited_discoverable);
  /* Limited discoverable = Discoverable plus DiscoverableTimeout > 0; a
   * DiscoverableTimeout of 0 clears the flags, so it is left out otherwise. */
  if (g_str_equal (name, "DiscoverableTimeout") && a->connectable && a->limited_discoverable)
    {
      guint64 secs = a->timeout_us > 0 ? MAX ((a->timeout_us + 999999) / 1000000, 1) : 180;
      return g_variant_new_uint16 ((guint16) MIN (secs, G_MAXUINT16));
    }
  if (g_str_equal (name, "Timeout") && a->timeout_us > 0)
    {
      guint64 secs = MAX ((a->timeout_us + 999999) / 1000000, 1);
      return g_variant_new_uint16 ((guint16) MIN (secs, G_MAXUINT16));
    }
  if (g_str_equal (name, "Includes") && a->include_tx_power)
    {
      const char *inc[] = { "tx-power", NULL };
      return g_variant_new_strv (inc, -1);
    }
  if (g_str_equal (name, "MinInterval") && a->has_interval)
    return g_variant_new_uint32 (a->interval_min_ms);
  if (g_str_equal (name, "MaxInterval") && a->has_interval)
    return g_variant_new_uint32 (a->interval_max_ms);
  if (g_str_equal (name, "TxPower") && a->has_tx_power)
    return g_variant_new_int16 (a->tx_power);
  if (g_str_equal (name, "ScanResponseData") && a->scan_response != NULL)
    return scan_response_structures (a->scan_response);
  return NULL;
}

GVariant *
bp_advertisement_properties (BpAdvertisement *adv)
{
  GDBusInterfaceInfo *iface = adv->info->interfaces[0];
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE ("a{sv}"));
  for (guint i = 0; iface->properties[i] != NULL; i++)
    {
      GVariant *v = get_property (adv, iface->properties[i]->name);
      if (v != NULL)
        g_variant_builder_add (&b, "{sv}", iface->properties[i]->name, v);
    }
  return g_variant_builder_end (&b);
}

static GVariant *
handle_get_property (GDBusConnection *conn, const char *sender, const char *path, const char *iface, const char *name,
                     GError **error, gpointer user_data)
{
  GVariant *v = get_property (user_data, name);

  if (v == NULL)
    g_set_error (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_PROPERTY, "%s is not set", name);
  return v;
}

void
bp_advertisement_handle_call (BpAdvertisement *adv, BpBusCall *call)
{
  if (!bp_bus_call_from_bluez (call))
    return;
  if (g_strcmp0 (bp_bus_call_get_path (call), BP_ADVERTISEMENT_PATH) != 0 ||
      g_strcmp0 (bp_bus_call_get_interface (call), adv->info->interfaces[0]->name) != 0)
    {
      bp_bus_call_return_error (call, "org.freedesktop.DBus.Error.UnknownMethod", "No such interface at %s",
                                bp_bus_call_get_path (call));
      return;
    }
  if (!bp_bus_call_check_args (call, adv->info->interfaces[0]))
    return;
  /* Release: bluetoothd dropped the advertisement (Timeout, adapter gone). */
  bp_bus_call_return_value (call, NULL);
  if (adv->released != NULL)
    adv->released (adv, adv->user_data);
}

static void
handle_method (GDBusConnection *conn, const char *sender, const char *path, const char *iface, const char *method,
               GVariant *params, GDBusMethodInvocation *invocation, gpointer user_data)
{
  bp_advertisement_handle_call (user_data, bp_bus_call_new (invocation));
}

static const GDBusInterfaceVTable vtable = { handle_method, handle_get_property, NULL, { 0 } };

BpAdvertisement *
bp_advertisement_new (GDBusConnection *conn, const BpConfig *config, BpAdvertisementReleased released,
                      gpointer user_data, GError **error)
{
  g_autoptr (BpAdvertisement) adv = g_new0 (BpAdvertisement, 1);

  adv->conn = conn != NULL ? g_object_ref (conn) : NULL;
  adv->config = config;
  adv->released = released;
  adv->user_data = user_data;
  adv->info = g_dbus_node_info_new_for_xml (introspection_xml, error);
  if (adv->info == NULL)
    return NULL;
  if (conn == NULL) /* fuzz targets: calls through bp_advertisement_handle_call() */
    return g_steal_pointer (&adv);
  adv->registration = g_dbus_connection_register_object (conn, BP_ADVERTISEMENT_PATH, adv->info->interfaces[0], &vtable,
                                                         adv, NULL, error);
  if (adv->registration == 0)
    return NULL;
  return g_steal_pointer (&adv);
}

void
bp_advertisement_free (BpAdvertisement *adv)
{
  if (adv == NULL)
    return;
  if (adv->registration != 0)
    g_dbus_connection_unregister_object (adv->conn, adv->registration);
  g_clear_pointer (&adv->info, g_dbus_node_info_unref);
  g_clear_object (&adv->conn);
  g_free (adv);
}

void
bp_advertisement_set_config (BpAdvertisement *adv, const BpConfig *config)
{
  adv->config = config;
}

void
bp_advertisement_set_released_func (BpAdvertisement *adv, BpAdvertisementReleased released, gpointer user_data)
{
  adv->released = released;
  adv->user_data = user_data;
}
