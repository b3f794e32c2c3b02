/* Bluetooth UUIDs: the 16-, 32- and 128-bit textual forms, the Bluetooth Base
 * UUID they share, and the SIG names people actually type. */
#define G_LOG_DOMAIN "uuid"

#include "build-config.h"

#include "common/uuid.h"

#include <string.h>

#include "common/error.h"

/* 00000000-0000-1000-8000-00805f9b34fb: the 16- and 32-bit UUIDs are
 * abbreviations of it, with their value in the first four bytes. */
static const guint8 base_uuid[16] = {
  0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x80, 0x00, 0x00, 0x80, 0x5f, 0x9b, 0x34, 0xfb,
};

typedef struct {
  const char *name;
  guint16 value;
} SigName;

/* Names as in the Bluetooth Assigned Numbers, lower case with underscores.
 * One table for services, characteristics and descriptors: no name appears
 * twice, so a name alone says which UUID is meant. */
static const SigName sig_names[] = {
  /* services */
  { "generic_access", 0x1800 },
  { "generic_attribute", 0x1801 },
  { "immediate_alert", 0x1802 },
  { "link_loss", 0x1803 },
  { "tx_power", 0x1804 },
  { "current_time_service", 0x1805 },
  { "health_thermometer", 0x1809 },
  { "device_information", 0x180A },
  { "heart_rate", 0x180D },
  { "battery_service", 0x180F },
  { "battery", 0x180F },
  { "blood_pressure", 0x1810 },
  { "human_interface_device", 0x1812 },
  { "scan_parameters", 0x1813 },
  { "running_speed_and_cadence", 0x1814 },
  { "automation_io", 0x1815 },
  { "cycling_speed_and_cadence", 0x1816 },
  { "cycling_power", 0x1818 },
  { "location_and_navigation", 0x1819 },
  { "environmental_sensing", 0x181A },
  { "body_composition", 0x181B },
  { "user_data", 0x181C },
  { "weight_scale", 0x181D },
  { "bond_management", 0x181E },
  { "continuous_glucose_monitoring", 0x181F },
  { "indoor_positioning", 0x1821 },
  { "pulse_oximeter", 0x1822 },
  { "object_transfer", 0x1825 },
  { "fitness_machine", 0x1826 },
  /* characteristics */
  { "device_name", 0x2A00 },
  { "appearance", 0x2A01 },
  { "alert_level", 0x2A06 },
  { "tx_power_level", 0x2A07 },
  { "temperature_measurement", 0x2A1C },
  { "battery_level", 0x2A19 },
  { "system_id", 0x2A23 },
  { "model_number_string", 0x2A24 },
  { "serial_number_string", 0x2A25 },
  { "firmware_revision_string", 0x2A26 },
  { "hardware_revision_string", 0x2A27 },
  { "software_revision_string", 0x2A28 },
  { "manufacturer_name_string", 0x2A29 },
  { "current_time", 0x2A2B },
  { "heart_rate_measurement", 0x2A37 },
  { "body_sensor_location", 0x2A38 },
  { "pnp_id", 0x2A50 },
  { "elevation", 0x2A6C },
  { "pressure", 0x2A6D },
  { "temperature", 0x2A6E },
  { "humidity", 0x2A6F },
  { "true_wind_speed", 0x2A70 },
  { "true_wind_direction", 0x2A71 },
  { "uv_index", 0x2A76 },
  { "irradiance", 0x2A77 },
  { "rainfall", 0x2A78 },
  { "dew_point", 0x2A7B },
  { "magnetic_declination", 0x2A2C },
  { "illuminance", 0x2AFB },
  { "co2_concentration", 0x2B8C },
  { "voltage", 0x2B18 },
  /* descriptors */
  { "extended_properties", 0x2900 },
  { "characteristic_extended_properties", 0x2900 },
  { "user_description", 0x2901 },
  { "characteristic_user_description", 0x2901 },
  { "client_characteristic_configuration", 0x2902 },
  { "server_characteristic_configuration", 0x2903 },
  { "presentation_format", 0x2904 },
  { "characteristic_presentation_format", 0x2904 },
  { "aggregate_format", 0x2905 },
  { "valid_range", 0x2906 },
  { "environmental_sensing_measurement", 0x290C },
  { "environmental_sensing_trigger_setting", 0x290D },
  { "environmental_sensing_configuration", 0x290B },
};

void
bp_uuid_from_u16 (guint16 value, BpUuid *out)
{
  memcpy (out->bytes, base_uuid, sizeof base_uuid);
  out->bytes[2] = value >> 8;
  out->bytes[3] = value & 0xff;
}

static void
uuid_from_u32 (guint32 value, BpUuid *out)
{
  memcpy (out->bytes, base_uuid, sizeof base_uuid);
  out->bytes[0] = value >> 24;
  out->bytes[1] = (value >> 16) & 0xff;
  out->bytes[2] = (value >> 8) & 0xff;
  out->bytes[3] = value & 0xff;
}

/* The value of exactly n hex digits, or FALSE. */
static gboolean
parse_hex_digits (const char *text, gsize n, guint32 *out)
{
  guint32 v = 0;

  for (gsize i = 0; i < n; i++)
    {
      int d = g_ascii_xdigit_value (text[i]);
      if (d < 0)
        return FALSE;
      v = (v << 4) | (guint32) d;
    }
  *out = v;
  return TRUE;
}

static gboolean
parse_uuid128 (const char *text, BpUuid *out)
{
  /* 8-4-4-4-12 hex digits */
  static const gsize group_len[] = { 8, 4, 4, 4, 12 };
  const char *p = text;
  guint nbytes = 0;

  if (strlen (text) != 36)
    return FALSE;
  for (gsize g = 0; g < G_N_ELEMENTS (group_len); g++)
    {
      if (g > 0)
        {
          if (*p != '-')
            return FALSE;
          p++;
        }
      for (gsize i = 0; i < group_len[g]; i += 2)
        {
          guint32 byte;
          if (!parse_hex_digits (p, 2, &byte))
            return FALSE;
          out->bytes[nbytes++] = (guint8) byte;
          p += 2;
        }
    }
  return TRUE;
}

static gboolean
lookup_sig_name (const char *text, BpUuid *out)
{
  g_autofree char *norm = g_ascii_strdown (text, -1);

  /* "Environmental Sensing", "environmental-sensing" and
   * "environmental_sensing" all name the same service. */
  for (char *c = norm; *c; c++)
    if (*c == '-' || *c == ' ')
      *c = '_';

  for (gsize i = 0; i < G_N_ELEMENTS (sig_names); i++)
    if (strcmp (norm, sig_names[i].name) == 0)
      {
        bp_uuid_from_u16 (sig_names[i].value, out);
        return TRUE;
      }
  return FALSE;
}

gboolean
bp_uuid_parse (const char *text, BpUuid *out, GError **error)
{
  BpUuid uuid;
  const char *digits;
  gsize len;
  guint32 value;

  g_return_val_if_fail (out != NULL, FALSE);

  if (text == NULL)
    text = "";
  digits = text;
  if (digits[0] == '0' && (digits[1] == 'x' || digits[1] == 'X'))
    digits += 2;
  len = strlen (digits);

  if (len == 4 && parse_hex_digits (digits, 4, &value))
    {
      bp_uuid_from_u16 ((guint16) value, out);
      return TRUE;
    }
  if (len == 8 && parse_hex_digits (digits, 8, &value))
    {
      uuid_from_u32 (value, out);
      return TRUE;
    }
  if (digits == text && parse_uuid128 (text, &uuid))
    {
      *out = uuid;
      return TRUE;
    }
  if (digits == text && lookup_sig_name (text, &uuid))
    {
      *out = uuid;
      return TRUE;
    }

  g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE,
               "'%s' is not a UUID: expected 16-bit (0x180A or 180A), 32-bit "
               "(0x0000180A), 128-bit (0000180a-0000-1000-8000-00805f9b34fb) "
               "or a SIG name such as environmental_sensing",
               text);
  return FALSE;
}

void
bp_uuid_to_string (const BpUuid *uuid, char *buf)
{
  const guint8 *b = uuid->bytes;

  g_snprintf (buf, BP_UUID_STRLEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
              b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

gsize
bp_uuid_short_size (const BpUuid *uuid)
{
  if (memcmp (uuid->bytes + 4, base_uuid + 4, 12) != 0)
    return 16;
  if (uuid->bytes[0] == 0 && uuid->bytes[1] == 0)
    return 2;
  return 4;
}

gboolean
bp_uuid_to_u16 (const BpUuid *uuid, guint16 *out)
{
  if (bp_uuid_short_size (uuid) != 2)
    {
      if (out != NULL)
        *out = 0;
      return FALSE;
    }
  if (out != NULL)
    *out = (guint16) ((uuid->bytes[2] << 8) | uuid->bytes[3]);
  return TRUE;
}

gboolean
bp_uuid_equal (const BpUuid *a, const BpUuid *b)
{
  return memcmp (a->bytes, b->bytes, sizeof a->bytes) == 0;
}
