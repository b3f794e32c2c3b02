/* The [Advertising] group of the configuration: its keys, the raw AD
 * structures of Data= mapped onto the advertisement's properties, the check
 * that the advertising data and the scan response fit 31 bytes, and the
 * advertisement's part of the description. */
#define G_LOG_DOMAIN "config"

#include "daemon/config-private.h"

#include <string.h>

#include "common/error.h"

#define ADV_MAX 31

static const char *const field_labels[N_FIELDS] = {
  "flags",        "name",     "appearance", "service UUIDs", "solicit UUIDs", "manufacturer data",
  "service data", "TX power", "data",
};

/* ------------------------------------------------------------------------ */
/* Defaults and freeing */

static void
manufacturer_data_free (BpManufacturerData *m)
{
  g_clear_pointer (&m->data, g_bytes_unref);
  g_free (m);
}

static void
service_data_free (BpServiceData *s)
{
  g_clear_pointer (&s->data, g_bytes_unref);
  g_free (s);
}

void
config_advertising_init (BpAdvertisingConfig *a)
{
  a->enabled = TRUE;
  a->service_uuids = g_array_new (FALSE, TRUE, sizeof (BpUuid));
  a->solicit_uuids = g_array_new (FALSE, TRUE, sizeof (BpUuid));
  a->manufacturer_data = g_ptr_array_new_with_free_func ((GDestroyNotify) manufacturer_data_free);
  a->service_data = g_ptr_array_new_with_free_func ((GDestroyNotify) service_data_free);
  a->data = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  a->connectable = TRUE;
  a->discoverable = TRUE;
}

void
config_advertising_clear (BpAdvertisingConfig *a)
{
  g_clear_pointer (&a->service_uuids, g_array_unref);
  g_clear_pointer (&a->solicit_uuids, g_array_unref);
  g_clear_pointer (&a->manufacturer_data, g_ptr_array_unref);
  g_clear_pointer (&a->service_data, g_ptr_array_unref);
  g_clear_pointer (&a->data, g_ptr_array_unref);
  g_clear_pointer (&a->scan_response, g_bytes_unref);
}

/* ------------------------------------------------------------------------ */
/* The [Advertising] group */

void
config_set_origin (Loader *l, AdField f, const char *group, const Entry *e)
{
  l->origins[f].file = e->file;
  l->origins[f].group = group;
  l->origins[f].key = e->key;
}

/* Data= and ScanResponseData=: hex that may be spaced out by structure for
 * readability ("0303aafe 0e16aafe…"), or a quoted string. */
static gboolean
parse_spaced_hex (const Group *g, const Entry *e, GBytes **out, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GString) compact = g_string_new (NULL);
  GBytes *bytes;

  for (const char *p = e->value; *p; p++)
    if (e->value[0] == '"' || (*p != ' ' && *p != '\t'))
      g_string_append_c (compact, *p);
  bytes = bp_value_parse (compact->str, BP_FORMAT_NONE, 0, &local_error);
  if (bytes == NULL)
    {
      config_key_error (error, g, e, "%s", local_error->message);
      return FALSE;
    }
  g_clear_pointer (out, g_bytes_unref);
  *out = bytes;
  return TRUE;
}

/* "env" or a UUID, for Services= and SolicitServices=. */
static gboolean
resolve_service_ref (Loader *l, const Group *g, const Entry *e, const char *item, BpUuid *out, GError **error)
{
  BpServiceConfig *s = g_hash_table_lookup (l->services, item);

  if (s != NULL)
    {
      *out = s->uuid;
      return TRUE;
    }
  if (bp_uuid_parse (item, out, NULL))
    return TRUE;
  config_key_error (error, g, e, "'%s' names no service: expected the ID of a [Service ID] group or a UUID", item);
  return FALSE;
}

static void
add_uuid_unique (GArray *array, const BpUuid *uuid)
{
  for (guint i = 0; i < array->len; i++)
    if (bp_uuid_equal (&g_array_index (array, BpUuid, i), uuid))
      return;
  g_array_append_val (array, *uuid);
}

static gboolean
add_manufacturer_data (const Group *g, const Entry *e, GPtrArray *list, guint16 company, GBytes *data, GError **error)
{
  BpManufacturerData *m;

  for (guint i = 0; i < list->len; i++)
    if (((BpManufacturerData *) g_ptr_array_index (list, i))->company == company)
      {
        config_key_error (error, g, e, "company 0x%04X appears twice: the advertisement holds one value per company",
                          company);
        return FALSE;
      }
  m = g_new0 (BpManufacturerData, 1);
  m->company = company;
  m->data = g_bytes_ref (data);
  g_ptr_array_add (list, m);
  return TRUE;
}

static gboolean
add_service_data (const Group *g, const Entry *e, GPtrArray *list, const BpUuid *uuid, GBytes *data, GError **error)
{
  BpServiceData *sd;

  for (guint i = 0; i < list->len; i++)
    if (bp_uuid_equal (&((BpServiceData *) g_ptr_array_index (list, i))->uuid, uuid))
      {
        char buf[BP_UUID_STRLEN];
        bp_uuid_to_string (uuid, buf);
        config_key_error (error, g, e, "service %s appears twice: the advertisement holds one value per service", buf);
        return FALSE;
      }
  sd = g_new0 (BpServiceData, 1);
  sd->uuid = *uuid;
  sd->data = g_bytes_ref (data);
  g_ptr_array_add (list, sd);
  return TRUE;
}

/* A UUID as it travels in AD structures: little-endian, 2, 4 or 16 bytes. */
static void
uuid_from_le (const guint8 *p, gsize size, BpUuid *out)
{
  if (size == 2)
    bp_uuid_from_u16 ((guint16) (p[0] | (p[1] << 8)), out);
  else if (size == 4)
    {
      char text[9];
      g_snprintf (text, sizeof text, "%02x%02x%02x%02x", p[3], p[2], p[1], p[0]);
      bp_uuid_parse (text, out, NULL);
    }
  else
    for (gsize i = 0; i < 16; i++)
      out->bytes[i] = p[15 - i];
}

/* AD types bluetoothd refuses in the Data and ScanResponseData properties
 * (src/shared/ad.c type_reject_list, the same from 5.66 to 5.82): it writes
 * them itself from other properties or not at all, and an advertisement
 * carrying one is not registered ("Failed to parse advertisement"). */
static gboolean
bluez_refuses_raw (guint8 type)
{
  static const guint8 refused[] = {
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0D, 0x0E, 0x0F,
    0x10, 0x11, 0x12, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D,
    0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x3D, 0xFF,
  };
  return memchr (refused, type, sizeof refused) != NULL;
}

/* What to do instead of a structure bluetoothd refuses in ScanResponseData. */
static const char *
scan_response_refusal_hint (guint8 type)
{
  switch (type)
    {
    case 0x08:
    case 0x09:
      return "the local name: bluetoothd puts Name= of [Peripheral] in the scan response itself";
    case 0xFF:
      return "manufacturer data: put it in ManufacturerData= (the advertising data)";
    case 0x16:
    case 0x20:
    case 0x21:
      return "service data: put it in ServiceData= (the advertising data)";
    case 0x02:
    case 0x03:
    case 0x04:
    case 0x05:
    case 0x06:
    case 0x07:
      return "a service UUID list: put the UUIDs in Services=";
    case 0x14:
    case 0x15:
    case 0x1F:
      return "a solicited UUID list: put the UUIDs in SolicitServices=";
    case 0x01:
      return "the flags: bluetoothd writes them in the advertising data from Discoverable=";
    case 0x0A:
      return "the TX power: use TxPower= and IncludeTxPower=";
    case 0x19:
      return "the appearance: use Appearance=";
    default:
      return "bluetoothd writes this type itself or not at all";
    }
}

/* Walks length-type-value AD structures; with a NULL loader only checks
 * their framing and that bluetoothd takes their types (ScanResponseData). */
static gboolean
parse_ad_structures (Loader *l, const Group *g, const Entry *e, GBytes *bytes, GError **error)
{
  BpAdvertisingConfig *a = l != NULL ? &l->config->advertising : NULL;
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (bytes, &len);
  gsize pos = 0;

  while (pos < len)
    {
      guint8 ad_len = data[pos];
      guint8 type;
      const guint8 *payload;
      gsize plen;

      if (ad_len == 0)
        {
          /* A zero length may only end the data early (padding). */
          for (gsize i = pos; i < len; i++)
            if (data[i] != 0)
              {
                config_key_error (error, g, e,
                                  "the AD structure at byte %" G_GSIZE_FORMAT
                                  " has length 0, "
                                  "but data follows",
                                  pos);
                return FALSE;
              }
          break;
        }
      if (pos + 1 + ad_len > len)
        {
          config_key_error (error, g, e,
                            "the AD structure at byte %" G_GSIZE_FORMAT
                            " says %u bytes follow, "
                            "but only %" G_GSIZE_FORMAT " do",
                            pos, ad_len, len - pos - 1);
          return FALSE;
        }
      type = data[pos + 1];
      payload = data + pos + 2;
      plen = ad_len - 1u;
      pos += 1u + ad_len;

      if (a == NULL)
        {
          if (bluez_refuses_raw (type))
            {
              config_key_error (error, g, e,
                                "the AD structure of type 0x%02X at byte %" G_GSIZE_FORMAT
                                " is one bluetoothd refuses in a scan response "
                                "(it would not advertise at all): %s",
                                type, pos - 1u - ad_len, scan_response_refusal_hint (type));
              return FALSE;
            }
          continue;
        }

      switch (type)
        {
        case 0x01: /* Flags */
          {
            gboolean limited, discoverable;
            if (plen < 1)
              {
                config_key_error (error, g, e, "the Flags structure (type 0x01) is empty");
                return FALSE;
              }
            limited = (payload[0] & 0x01) != 0;
            discoverable = (payload[0] & 0x03) != 0;
            /* bluetoothd writes the Flags itself from Discoverable; map them */
            if ((l->discoverable_explicit && discoverable != a->discoverable) ||
                (l->limited_explicit && limited != a->limited_discoverable))
              {
                config_key_error (error, g, e,
                                  "the Flags structure (type 0x01) disagrees with Discoverable= "
                                  "or LimitedDiscoverable=; keep one of them");
                return FALSE;
              }
            a->discoverable = discoverable;
            a->limited_discoverable = limited;
            config_set_origin (l, FIELD_FLAGS, g->name, e);
            break;
          }
        case 0x02:
        case 0x03:
        case 0x04:
        case 0x05:
        case 0x06:
        case 0x07:
        case 0x14:
        case 0x15:
        case 0x1F:
          {
            gsize size = (type == 0x02 || type == 0x03 || type == 0x14) ? 2 :
                         (type == 0x04 || type == 0x05 || type == 0x1F) ? 4 :
                                                                          16;
            gboolean solicit = type >= 0x14;
            if (plen % size != 0)
              {
                config_key_error (error, g, e,
                                  "the UUID list of type 0x%02X is %" G_GSIZE_FORMAT
                                  " bytes, "
                                  "not a multiple of %" G_GSIZE_FORMAT,
                                  type, plen, size);
                return FALSE;
              }
            for (gsize i = 0; i < plen; i += size)
              {
                BpUuid uuid;
                uuid_from_le (payload + i, size, &uuid);
                add_uuid_unique (solicit ? a->solicit_uuids : a->service_uuids, &uuid);
              }
            config_set_origin (l, solicit ? FIELD_SOLICIT_UUIDS : FIELD_SERVICE_UUIDS, g->name, e);
            break;
          }
        case 0x08:
        case 0x09: /* Shortened / Complete Local Name */
          {
            g_autofree char *name = g_strndup ((const char *) payload, plen);
            if (plen == 0 || strlen (name) != plen || !g_utf8_validate (name, -1, NULL))
              {
                config_key_error (error, g, e, "the local name (type 0x%02X) is not UTF-8 text", type);
                return FALSE;
              }
            if (l->name_explicit && strcmp (name, l->config->name) != 0)
              {
                config_key_error (error, g, e,
                                  "the local name '%s' (type 0x%02X) disagrees with Name=%s of "
                                  "[Peripheral]; keep one of them",
                                  name, type, l->config->name);
                return FALSE;
              }
            g_free (l->config->name);
            l->config->name = g_steal_pointer (&name);
            config_set_origin (l, FIELD_NAME, g->name, e);
            break;
          }
        case 0x0A: /* TX Power Level */
          if (plen != 1)
            {
              config_key_error (error, g, e, "the TX power structure (type 0x0A) must hold 1 byte");
              return FALSE;
            }
          if (l->tx_power_explicit && a->tx_power != (gint8) payload[0])
            {
              config_key_error (error, g, e, "the TX power (type 0x0A) disagrees with TxPower=; keep one of them");
              return FALSE;
            }
          a->has_tx_power = TRUE;
          a->tx_power = (gint8) payload[0];
          a->include_tx_power = TRUE;
          config_set_origin (l, FIELD_TX_POWER, g->name, e);
          break;
        case 0x19: /* Appearance */
          {
            guint16 appearance;
            if (plen != 2)
              {
                config_key_error (error, g, e, "the appearance structure (type 0x19) must hold 2 bytes");
                return FALSE;
              }
            appearance = (guint16) (payload[0] | (payload[1] << 8));
            if (a->has_appearance && a->appearance != appearance)
              {
                config_key_error (error, g, e,
                                  "the appearance 0x%04X (type 0x19) disagrees with "
                                  "Appearance=0x%04X; keep one of them",
                                  appearance, a->appearance);
                return FALSE;
              }
            a->has_appearance = TRUE;
            a->appearance = appearance;
            config_set_origin (l, FIELD_APPEARANCE, g->name, e);
            break;
          }
        case 0x16:
        case 0x20:
        case 0x21: /* Service Data */
          {
            gsize size = type == 0x16 ? 2 : type == 0x20 ? 4 : 16;
            g_autoptr (GBytes) sd = NULL;
            BpUuid uuid;
            if (plen < size)
              {
                config_key_error (error, g, e,
                                  "the service data (type 0x%02X) is shorter than its "
                                  "%" G_GSIZE_FORMAT "-byte UUID",
                                  type, size);
                return FALSE;
              }
            uuid_from_le (payload, size, &uuid);
            sd = g_bytes_new (payload + size, plen - size);
            if (!add_service_data (g, e, a->service_data, &uuid, sd, error))
              return FALSE;
            config_set_origin (l, FIELD_SERVICE_DATA, g->name, e);
            break;
          }
        case 0xFF: /* Manufacturer Specific Data */
          {
            g_autoptr (GBytes) md = NULL;
            if (plen < 2)
              {
                config_key_error (error, g, e,
                                  "the manufacturer data (type 0xFF) is shorter than its "
                                  "2-byte company ID");
                return FALSE;
              }
            md = g_bytes_new (payload + 2, plen - 2);
            if (!add_manufacturer_data (g, e, a->manufacturer_data, (guint16) (payload[0] | (payload[1] << 8)), md,
                                        error))
              return FALSE;
            config_set_origin (l, FIELD_MANUFACTURER_DATA, g->name, e);
            break;
          }
        default:
          if (bluez_refuses_raw (type))
            {
              config_key_error (error, g, e,
                                "the AD structure of type 0x%02X at byte %" G_GSIZE_FORMAT
                                " is one bluetoothd refuses in advertising data "
                                "(it would not advertise at all)",
                                type, pos - 1u - ad_len);
              return FALSE;
            }
          g_ptr_array_add (a->data, g_bytes_new (payload - 1, plen + 1));
          config_set_origin (l, FIELD_DATA, g->name, e);
          break;
        }
    }
  return TRUE;
}

static gboolean
parse_interval (const Group *g, const Entry *e, guint32 *out_ms, GError **error)
{
  guint64 us;

  if (!config_parse_duration (g, e, G_MAXUINT64, &us, error))
    return FALSE;
  /* The legacy advertising range, which every controller takes. */
  if (us < 20 * US_PER_MS)
    {
      config_key_error (error, g, e, "%s is under the minimum of 20ms", e->value);
      return FALSE;
    }
  if (us > 10240 * US_PER_MS)
    {
      config_key_error (error, g, e, "%s is over the limit of 10.24s", e->value);
      return FALSE;
    }
  if (us % US_PER_MS != 0)
    {
      config_key_error (error, g, e, "%s is not a whole number of milliseconds (BlueZ takes the interval in ms)",
                        e->value);
      return FALSE;
    }
  *out_ms = (guint32) (us / US_PER_MS);
  return TRUE;
}

gboolean
config_load_advertising (Loader *l, const Group *g, GError **error)
{
  static const char *const keys[] = {
    "Enabled",    "Interval",         "IntervalMin",    "IntervalMax", "Services",         "SolicitServices",
    "Appearance", "ManufacturerData", "ServiceData",    "Connectable", "Discoverable",     "LimitedDiscoverable",
    "Timeout",    "TxPower",          "IncludeTxPower", "Data",        "ScanResponseData", NULL,
  };
  BpAdvertisingConfig *a = &l->config->advertising;
  Entry *e, *min_e, *max_e;

  if (!config_check_keys (g, keys, error))
    return FALSE;

  if ((e = config_group_find (g, "Enabled")) != NULL && !config_parse_bool (g, e, &a->enabled, error))
    return FALSE;

  /* Interval sets both ends; IntervalMin/IntervalMax override one each, so
   * that a drop-in can set them apart from the main file's Interval. */
  if ((e = config_group_find (g, "Interval")) != NULL)
    {
      if (!parse_interval (g, e, &a->interval_min_ms, error))
        return FALSE;
      a->interval_max_ms = a->interval_min_ms;
      a->has_interval = TRUE;
    }
  min_e = config_group_find (g, "IntervalMin");
  max_e = config_group_find (g, "IntervalMax");
  if (min_e != NULL && !parse_interval (g, min_e, &a->interval_min_ms, error))
    return FALSE;
  if (max_e != NULL && !parse_interval (g, max_e, &a->interval_max_ms, error))
    return FALSE;
  if (!a->has_interval && (min_e != NULL) != (max_e != NULL))
    {
      if (min_e != NULL)
        a->interval_max_ms = a->interval_min_ms;
      else
        a->interval_min_ms = a->interval_max_ms;
    }
  a->has_interval = a->has_interval || min_e != NULL || max_e != NULL;
  if (a->has_interval && a->interval_min_ms > a->interval_max_ms)
    {
      Entry *blame = max_e != NULL ? max_e : min_e;
      config_key_error (error, g, blame, "the interval's minimum (%ums) is over its maximum (%ums)", a->interval_min_ms,
                        a->interval_max_ms);
      return FALSE;
    }

  if ((e = config_group_find (g, "Services")) != NULL)
    {
      g_autoptr (GPtrArray) items = config_split_list (e->value);
      for (guint i = 0; i < items->len; i++)
        {
          BpUuid uuid;
          if (!resolve_service_ref (l, g, e, g_ptr_array_index (items, i), &uuid, error))
            return FALSE;
          add_uuid_unique (a->service_uuids, &uuid);
        }
      config_set_origin (l, FIELD_SERVICE_UUIDS, g->name, e);
    }
  if ((e = config_group_find (g, "SolicitServices")) != NULL)
    {
      g_autoptr (GPtrArray) items = config_split_list (e->value);
      for (guint i = 0; i < items->len; i++)
        {
          BpUuid uuid;
          if (!resolve_service_ref (l, g, e, g_ptr_array_index (items, i), &uuid, error))
            return FALSE;
          add_uuid_unique (a->solicit_uuids, &uuid);
        }
      config_set_origin (l, FIELD_SOLICIT_UUIDS, g->name, e);
    }
  if ((e = config_group_find (g, "Appearance")) != NULL)
    {
      guint v;
      if (!config_parse_uint (g, e, 0, 0xffff, &v, error))
        return FALSE;
      a->has_appearance = TRUE;
      a->appearance = (guint16) v;
      config_set_origin (l, FIELD_APPEARANCE, g->name, e);
    }
  if ((e = config_group_find (g, "ManufacturerData")) != NULL)
    {
      g_autoptr (GPtrArray) items = config_split_list (e->value);
      for (guint i = 0; i < items->len; i++)
        {
          const char *item = g_ptr_array_index (items, i);
          const char *colon = strchr (item, ':');
          g_autofree char *company_text = NULL;
          g_autofree char *value_text = NULL;
          g_autoptr (GBytes) data = NULL;
          g_autoptr (GError) local_error = NULL;
          guint64 company = 0;
          gboolean overflow;

          if (colon == NULL)
            {
              config_key_error (error, g, e, "expected COMPANY:VALUE such as 0xFFFF:0102, got '%s'", item);
              return FALSE;
            }
          company_text = g_strstrip (g_strndup (item, (gsize) (colon - item)));
          if (!config_scan_u64 (company_text, &company, &overflow) || company > 0xffff)
            {
              config_key_error (error, g, e, "expected a 16-bit company ID such as 0xFFFF before ':', got '%s'",
                                company_text);
              return FALSE;
            }
          value_text = g_strstrip (g_strdup (colon + 1));
          data = bp_value_parse (value_text, BP_FORMAT_NONE, 0, &local_error);
          if (data == NULL)
            {
              config_key_error (error, g, e, "company 0x%04X: %s", (guint) company, local_error->message);
              return FALSE;
            }
          if (!add_manufacturer_data (g, e, a->manufacturer_data, (guint16) company, data, error))
            return FALSE;
        }
      config_set_origin (l, FIELD_MANUFACTURER_DATA, g->name, e);
    }
  if ((e = config_group_find (g, "ServiceData")) != NULL)
    {
      g_autoptr (GPtrArray) items = config_split_list (e->value);
      for (guint i = 0; i < items->len; i++)
        {
          const char *item = g_ptr_array_index (items, i);
          const char *colon = strchr (item, ':');
          g_autofree char *ref = NULL;
          g_autofree char *value_text = NULL;
          g_autoptr (GBytes) data = NULL;
          g_autoptr (GError) local_error = NULL;
          BpUuid uuid;

          if (colon == NULL)
            {
              config_key_error (error, g, e, "expected UUID:VALUE such as 0x181A:0102, got '%s'", item);
              return FALSE;
            }
          ref = g_strstrip (g_strndup (item, (gsize) (colon - item)));
          if (!resolve_service_ref (l, g, e, ref, &uuid, error))
            return FALSE;
          value_text = g_strstrip (g_strdup (colon + 1));
          data = bp_value_parse (value_text, BP_FORMAT_NONE, 0, &local_error);
          if (data == NULL)
            {
              config_key_error (error, g, e, "%s: %s", ref, local_error->message);
              return FALSE;
            }
          if (!add_service_data (g, e, a->service_data, &uuid, data, error))
            return FALSE;
        }
      config_set_origin (l, FIELD_SERVICE_DATA, g->name, e);
    }
  if ((e = config_group_find (g, "Connectable")) != NULL && !config_parse_bool (g, e, &a->connectable, error))
    return FALSE;
  if ((e = config_group_find (g, "Discoverable")) != NULL)
    {
      if (!config_parse_bool (g, e, &a->discoverable, error))
        return FALSE;
      l->discoverable_explicit = TRUE;
      config_set_origin (l, FIELD_FLAGS, g->name, e);
    }
  if ((e = config_group_find (g, "LimitedDiscoverable")) != NULL)
    {
      if (!config_parse_bool (g, e, &a->limited_discoverable, error))
        return FALSE;
      l->limited_explicit = TRUE;
      if (a->limited_discoverable && !a->discoverable)
        {
          config_key_error (error, g, e,
                            "true needs Discoverable=true (limited discoverable is a kind of "
                            "discoverable)");
          return FALSE;
        }
    }
  if ((e = config_group_find (g, "Timeout")) != NULL &&
      !config_parse_duration (g, e, 65535 * US_PER_S, &a->timeout_us, error))
    return FALSE;
  if ((e = config_group_find (g, "TxPower")) != NULL)
    {
      int v;
      if (!config_parse_int (g, e, -127, 20, &v, error))
        return FALSE;
      a->has_tx_power = TRUE;
      a->tx_power = (gint16) v;
      l->tx_power_explicit = TRUE;
    }
  if ((e = config_group_find (g, "IncludeTxPower")) != NULL)
    {
      if (!config_parse_bool (g, e, &a->include_tx_power, error))
        return FALSE;
      config_set_origin (l, FIELD_TX_POWER, g->name, e);
    }
  if ((e = config_group_find (g, "Data")) != NULL)
    {
      g_autoptr (GBytes) raw = NULL;
      if (!parse_spaced_hex (g, e, &raw, error) || !parse_ad_structures (l, g, e, raw, error))
        return FALSE;
    }
  if ((e = config_group_find (g, "ScanResponseData")) != NULL)
    {
      /* Passed on as it is; the daemon checks that bluetoothd takes it. */
      if (!parse_spaced_hex (g, e, &a->scan_response, error) ||
          !parse_ad_structures (NULL, g, e, a->scan_response, error))
        return FALSE;
      if (g_bytes_get_size (a->scan_response) > ADV_MAX)
        {
          config_key_error (
            error, g, e, "the scan response is %" G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT " over the %d-byte limit",
            g_bytes_get_size (a->scan_response), g_bytes_get_size (a->scan_response) - ADV_MAX, ADV_MAX);
          return FALSE;
        }
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Advertising size */

/* Bytes of each field in the legacy advertising data, as bluetoothd and the
 * kernel build it. */
static void
advertising_sizes (const BpConfig *config, gsize sizes[N_FIELDS])
{
  const BpAdvertisingConfig *a = &config->advertising;
  gsize per_size[3] = { 0, 0, 0 };

  memset (sizes, 0, sizeof (gsize) * N_FIELDS);
  /* The daemon sends Discoverable only for a connectable advertisement, and
   * bluetoothd adds the Flags structure only when it is true. */
  if (a->connectable && (a->discoverable || a->limited_discoverable))
    sizes[FIELD_FLAGS] = 3;
  /* The local name goes in the scan response (bluetoothd 5.66 and later
   * put LocalName there for legacy advertising): see scan_response_size(). */
  if (a->has_appearance)
    sizes[FIELD_APPEARANCE] = 4;

  for (guint i = 0; i < a->service_uuids->len; i++)
    {
      gsize s = bp_uuid_short_size (&g_array_index (a->service_uuids, BpUuid, i));
      per_size[s == 2 ? 0 : s == 4 ? 1 : 2] += s;
    }
  for (int k = 0; k < 3; k++)
    if (per_size[k] > 0)
      sizes[FIELD_SERVICE_UUIDS] += 2 + per_size[k];

  memset (per_size, 0, sizeof per_size);
  for (guint i = 0; i < a->solicit_uuids->len; i++)
    {
      gsize s = bp_uuid_short_size (&g_array_index (a->solicit_uuids, BpUuid, i));
      per_size[s == 2 ? 0 : s == 4 ? 1 : 2] += s;
    }
  for (int k = 0; k < 3; k++)
    if (per_size[k] > 0)
      sizes[FIELD_SOLICIT_UUIDS] += 2 + per_size[k];

  for (guint i = 0; i < a->manufacturer_data->len; i++)
    {
      BpManufacturerData *m = g_ptr_array_index (a->manufacturer_data, i);
      sizes[FIELD_MANUFACTURER_DATA] += 2 + 2 + g_bytes_get_size (m->data);
    }
  for (guint i = 0; i < a->service_data->len; i++)
    {
      BpServiceData *sd = g_ptr_array_index (a->service_data, i);
      sizes[FIELD_SERVICE_DATA] += 2 + bp_uuid_short_size (&sd->uuid) + g_bytes_get_size (sd->data);
    }
  if (a->include_tx_power)
    sizes[FIELD_TX_POWER] = 3;
  for (guint i = 0; i < a->data->len; i++)
    sizes[FIELD_DATA] += 1 + g_bytes_get_size (g_ptr_array_index (a->data, i));
}

/* The scan response: the local name, then ScanResponseData's structures.
 * bluetoothd shortens a name that does not fit (type 0x08); a name the user
 * wrote must fit whole, but the host name, used when Name= is left out, must
 * not make a configuration invalid. */
static gsize
scan_response_size (const BpConfig *config, gsize *name_size)
{
  gsize raw = config->advertising.scan_response ? g_bytes_get_size (config->advertising.scan_response) : 0;
  gsize name = config->name != NULL && *config->name ? 2 + strlen (config->name) : 0;

  if (name > 0 && raw + name > ADV_MAX && g_strcmp0 (config->name, g_get_host_name ()) == 0)
    name = raw + 3 <= ADV_MAX ? ADV_MAX - raw : 0;
  *name_size = name;
  return raw + name;
}

static char *
sizes_breakdown (const gsize sizes[N_FIELDS], gsize *total)
{
  GString *s = g_string_new (NULL);

  *total = 0;
  for (int f = 0; f < N_FIELDS; f++)
    {
      if (sizes[f] == 0)
        continue;
      *total += sizes[f];
      g_string_append_printf (s, "%s%s %" G_GSIZE_FORMAT, s->len ? ", " : "", field_labels[f], sizes[f]);
    }
  return g_string_free (s, FALSE);
}

static const char *const field_keys[N_FIELDS] = {
  "Discoverable",     "Name",        "Appearance",     "Services", "SolicitServices",
  "ManufacturerData", "ServiceData", "IncludeTxPower", "Data",
};

gboolean
config_check_advertising_size (const BpConfig *config, const FieldOrigin *origins, const char *fallback_file,
                               GError **error)
{
  gsize sizes[N_FIELDS];
  gsize total = 0, running = 0;
  g_autofree char *breakdown = NULL;
  const BpAdvertisingConfig *a = &config->advertising;

  advertising_sizes (config, sizes);
  breakdown = sizes_breakdown (sizes, &total);
  if (total > ADV_MAX)
    {
      for (int f = 0; f < N_FIELDS; f++)
        {
          const char *file, *group, *key;
          running += sizes[f];
          if (running <= ADV_MAX)
            continue;
          file = origins != NULL && origins[f].file ? origins[f].file : fallback_file;
          group = origins != NULL && origins[f].group ? origins[f].group :
                  f == FIELD_NAME                     ? "Peripheral" :
                                                        "Advertising";
          key = origins != NULL && origins[f].key ? origins[f].key : field_keys[f];
          g_set_error (error, BP_ERROR, BP_ERROR_CONFIG,
                       "%s: [%s] %s: the advertising data is %" G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT
                       " over the %d-byte limit (%s)",
                       file, group, key, total, total - ADV_MAX, ADV_MAX, breakdown);
          return FALSE;
        }
    }
  {
    gsize name = 0;
    gsize n = scan_response_size (config, &name);

    if (n > ADV_MAX)
      {
        gboolean raw_alone = a->scan_response != NULL && n - name > ADV_MAX;
        const FieldOrigin *o = origins != NULL ? &origins[FIELD_NAME] : NULL;

        g_set_error (error, BP_ERROR, BP_ERROR_CONFIG,
                     "%s: [%s] %s: the scan response is %" G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT
                     " over the %d-byte limit (name %" G_GSIZE_FORMAT ", scan response data %" G_GSIZE_FORMAT ")",
                     raw_alone || o == NULL || o->file == NULL ? fallback_file : o->file,
                     raw_alone ? "Advertising" : "Peripheral", raw_alone ? "ScanResponseData" : "Name", n, n - ADV_MAX,
                     ADV_MAX, name, n - name);
        return FALSE;
      }
  }
  return TRUE;
}

gboolean
bp_config_check_advertising_size (const BpConfig *config, GError **error)
{
  g_autofree char *file = NULL;
  const char *source = config->source != NULL ? config->source : "configuration";
  const char *suffix = strstr (source, " (+");

  /* Without the loader's record of where each key came from, name the main
   * file. */
  if (config->is_default)
    file = g_strdup (DEFAULT_SOURCE);
  else
    {
      g_autofree char *path = suffix != NULL ? g_strndup (source, (gsize) (suffix - source)) : g_strdup (source);
      file = g_path_get_basename (path);
    }
  return config_check_advertising_size (config, NULL, file, error);
}

/* ------------------------------------------------------------------------ */
/* The description */

void
config_describe_advertising (GString *s, const BpConfig *config)
{
  const BpAdvertisingConfig *a = &config->advertising;
  gsize sizes[N_FIELDS], total = 0;
  g_autofree char *breakdown = NULL;

  g_string_append_printf (s, "\nadvertising: %s, %s, %s\n",
                          a->enabled ? "enabled" : "disabled (advertise on starts it)",
                          a->connectable ? "connectable" : "not connectable (broadcast)",
                          a->limited_discoverable ? "limited discoverable" :
                          a->discoverable         ? "discoverable" :
                                                    "not discoverable");
  if (a->has_interval)
    g_string_append_printf (s, "  interval: %u-%u ms\n", a->interval_min_ms, a->interval_max_ms);
  if (a->timeout_us > 0)
    {
      g_string_append (s, "  timeout: ");
      config_append_duration (s, a->timeout_us);
      g_string_append_c (s, '\n');
    }
  g_string_append_printf (s, "  local name: \"%s\"\n", config->name ? config->name : "");
  if (a->service_uuids->len > 0)
    {
      g_string_append (s, "  services:");
      for (guint i = 0; i < a->service_uuids->len; i++)
        {
          g_string_append_c (s, ' ');
          config_append_uuid (s, &g_array_index (a->service_uuids, BpUuid, i));
        }
      g_string_append_c (s, '\n');
    }
  if (a->solicit_uuids->len > 0)
    {
      g_string_append (s, "  solicit services:");
      for (guint i = 0; i < a->solicit_uuids->len; i++)
        {
          g_string_append_c (s, ' ');
          config_append_uuid (s, &g_array_index (a->solicit_uuids, BpUuid, i));
        }
      g_string_append_c (s, '\n');
    }
  if (a->has_appearance)
    g_string_append_printf (s, "  appearance: 0x%04X\n", a->appearance);
  for (guint i = 0; i < a->manufacturer_data->len; i++)
    {
      BpManufacturerData *m = g_ptr_array_index (a->manufacturer_data, i);
      g_string_append_printf (s, "  manufacturer data 0x%04X: ", m->company);
      config_append_bytes (s, m->data);
      g_string_append_c (s, '\n');
    }
  for (guint i = 0; i < a->service_data->len; i++)
    {
      BpServiceData *sd = g_ptr_array_index (a->service_data, i);
      g_string_append (s, "  service data ");
      config_append_uuid (s, &sd->uuid);
      g_string_append (s, ": ");
      config_append_bytes (s, sd->data);
      g_string_append_c (s, '\n');
    }
  if (a->has_tx_power)
    g_string_append_printf (s, "  tx power: %d dBm\n", a->tx_power);
  if (a->include_tx_power)
    g_string_append (s, "  tx power field included\n");
  for (guint i = 0; i < a->data->len; i++)
    {
      GBytes *ad = g_ptr_array_index (a->data, i);
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (ad, &len);
      g_autofree char *hex = bp_value_to_hex (data + 1, len - 1);
      g_string_append_printf (s, "  data type 0x%02X: %s\n", data[0], hex);
    }
  advertising_sizes (config, sizes);
  breakdown = sizes_breakdown (sizes, &total);
  g_string_append_printf (s, "  advertising data: %" G_GSIZE_FORMAT " of %d bytes%s%s%s\n", total, ADV_MAX,
                          *breakdown ? " (" : "", breakdown, *breakdown ? ")" : "");
  {
    gsize name = 0, sr = scan_response_size (config, &name);
    g_string_append_printf (s,
                            "  scan response: %" G_GSIZE_FORMAT " of %d bytes (name %" G_GSIZE_FORMAT
                            ", scan response data %" G_GSIZE_FORMAT ")\n",
                            sr, ADV_MAX, name, sr - name);
  }
  if (a->scan_response != NULL)
    {
      g_string_append_printf (s,
                              "  scan response data: %" G_GSIZE_FORMAT " bytes: ", g_bytes_get_size (a->scan_response));
      config_append_bytes (s, a->scan_response);
      g_string_append_c (s, '\n');
    }
}
