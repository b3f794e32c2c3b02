/* The values of the configuration's keys: booleans, numbers, durations,
 * text, lists, UUIDs and characteristic values read from the merged key
 * file's entries, with errors that name the file, the group and the key; and
 * UUIDs, bytes and durations written for the description. */
#define G_LOG_DOMAIN "config"

#include "daemon/config-private.h"

#include <string.h>

#include "common/error.h"

/* ------------------------------------------------------------------------ */
/* Errors */

void G_GNUC_PRINTF (4, 5)
config_key_error (GError **error, const Group *g, const Entry *e, const char *format, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, format);
  msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error (error, BP_ERROR, BP_ERROR_CONFIG, "%s: [%s] %s: %s", e->file, g->name, e->key, msg);
}

void G_GNUC_PRINTF (3, 4)
config_group_error (GError **error, const Group *g, const char *format, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, format);
  msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error (error, BP_ERROR, BP_ERROR_CONFIG, "%s: [%s] %s", g->file, g->name, msg);
}

/* Unknown keys are errors: a typo must not silently drop a feature. */
gboolean
config_check_keys (const Group *g, const char *const *known, GError **error)
{
  for (guint i = 0; i < g->entries->len; i++)
    {
      Entry *e = g_ptr_array_index (g->entries, i);
      g_autofree char *list = NULL;
      const char *hint = NULL;

      if (g_strv_contains (known, e->key))
        continue;
      for (guint k = 0; known[k] != NULL; k++)
        if (g_ascii_strcasecmp (known[k], e->key) == 0)
          hint = known[k];
      list = g_strjoinv (", ", (GStrv) known);
      if (hint != NULL)
        config_key_error (error, g, e, "unknown key: keys are case-sensitive, did you mean %s?", hint);
      else
        config_key_error (error, g, e, "unknown key: expected one of %s", list);
      return FALSE;
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Typed values */

gboolean
config_parse_bool (const Group *g, const Entry *e, gboolean *out, GError **error)
{
  static const char *const yes[] = { "true", "yes", "on", "1", NULL };
  static const char *const no[] = { "false", "no", "off", "0", NULL };

  for (guint i = 0; yes[i] != NULL; i++)
    {
      if (g_ascii_strcasecmp (e->value, yes[i]) == 0)
        {
          *out = TRUE;
          return TRUE;
        }
      if (g_ascii_strcasecmp (e->value, no[i]) == 0)
        {
          *out = FALSE;
          return TRUE;
        }
    }
  config_key_error (error, g, e, "expected true or false, got '%s'", e->value);
  return FALSE;
}

/* Decimal or 0x hex, no sign; FALSE on syntax errors and on overflow. */
gboolean
config_scan_u64 (const char *text, guint64 *out, gboolean *overflow)
{
  guint base = 10;
  guint64 v = 0;
  const char *p = text;

  *overflow = FALSE;
  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
    {
      base = 16;
      p += 2;
    }
  if (*p == '\0')
    return FALSE;
  for (; *p; p++)
    {
      int d = base == 16 ? g_ascii_xdigit_value (*p) : g_ascii_digit_value (*p);
      if (d < 0)
        return FALSE;
      if (v > (G_MAXUINT64 - (guint) d) / base)
        *overflow = TRUE;
      else
        v = v * base + (guint) d;
    }
  *out = v;
  return !*overflow;
}

static gboolean
parse_number_text (const Group *g, const Entry *e, const char *text, gint64 min, gint64 max, gint64 *out,
                   GError **error)
{
  gboolean negative = FALSE, overflow = FALSE;
  const char *p = text;
  guint64 mag = 0;
  gint64 v;

  if ((*p == '-' || *p == '+') && min < 0)
    negative = (*p++ == '-');
  if (!config_scan_u64 (p, &mag, &overflow) && !overflow)
    {
      config_key_error (error, g, e, "expected a number (decimal or 0x hex), got '%s'", text);
      return FALSE;
    }
  if (overflow || mag > (guint64) G_MAXINT64)
    {
      config_key_error (error, g, e, "%s is over the limit of %" G_GINT64_FORMAT, text, max);
      return FALSE;
    }
  v = negative ? -(gint64) mag : (gint64) mag;
  if (v > max)
    {
      if (max >= 0x100 && p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
        config_key_error (error, g, e, "%s is over the limit of 0x%" G_GINT64_MODIFIER "X", text, max);
      else
        config_key_error (error, g, e, "%s is over the limit of %" G_GINT64_FORMAT, text, max);
      return FALSE;
    }
  if (v < min)
    {
      config_key_error (error, g, e, "%s is under the minimum of %" G_GINT64_FORMAT, text, min);
      return FALSE;
    }
  *out = v;
  return TRUE;
}

gboolean
config_parse_uint (const Group *g, const Entry *e, guint min, guint max, guint *out, GError **error)
{
  gint64 v;

  if (!parse_number_text (g, e, e->value, min, max, &v, error))
    return FALSE;
  *out = (guint) v;
  return TRUE;
}

gboolean
config_parse_int (const Group *g, const Entry *e, int min, int max, int *out, GError **error)
{
  gint64 v;

  if (!parse_number_text (g, e, e->value, min, max, &v, error))
    return FALSE;
  *out = (int) v;
  return TRUE;
}

static char *
format_duration (guint64 us)
{
  if (us == 0)
    return g_strdup ("0");
  if (us % (60 * US_PER_S) == 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "min", us / (60 * US_PER_S));
  if (us % US_PER_S == 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "s", us / US_PER_S);
  if (us % US_PER_MS == 0)
    return g_strdup_printf ("%" G_GUINT64_FORMAT "ms", us / US_PER_MS);
  return g_strdup_printf ("%" G_GUINT64_FORMAT "us", us);
}

/* "250ms", "1.5s", "2 min", "0": microseconds. */
gboolean
config_parse_duration (const Group *g, const Entry *e, guint64 max_us, guint64 *out, GError **error)
{
  static const struct {
    const char *unit;
    guint64 us;
  } units[] = {
    { "us", 1 },
    { "ms", US_PER_MS },
    { "s", US_PER_S },
    { "min", 60 * US_PER_S },
  };
  const char *p = e->value;
  guint64 whole = 0, mult = 0, frac_us = 0, total;
  const char *frac = NULL;
  gsize frac_len = 0;
  gboolean any_digit = FALSE;

  for (; g_ascii_isdigit (*p); p++)
    {
      any_digit = TRUE;
      if (whole > G_MAXUINT64 / 100)
        {
          config_key_error (error, g, e, "%s is too long a duration", e->value);
          return FALSE;
        }
      whole = whole * 10 + (guint64) (*p - '0');
    }
  if (*p == '.')
    {
      frac = ++p;
      while (g_ascii_isdigit (*p))
        p++;
      frac_len = (gsize) (p - frac);
      any_digit = any_digit || frac_len > 0;
    }
  if (!any_digit)
    {
      config_key_error (error, g, e, "expected a duration with a unit (us, ms, s or min) such as 250ms, got '%s'",
                        e->value);
      return FALSE;
    }
  while (*p == ' ')
    p++;
  if (*p == '\0')
    {
      if (whole == 0 && frac_len == 0)
        {
          *out = 0;
          return TRUE;
        }
      config_key_error (error, g, e, "%s needs a unit: us, ms, s or min (e.g. %sms)", e->value, e->value);
      return FALSE;
    }
  for (gsize i = 0; i < G_N_ELEMENTS (units); i++)
    if (strcmp (p, units[i].unit) == 0)
      mult = units[i].us;
  if (mult == 0)
    {
      config_key_error (error, g, e, "unknown unit '%s' in %s: expected us, ms, s or min", p, e->value);
      return FALSE;
    }
  {
    guint64 scale = mult;
    for (gsize i = 0; i < frac_len && scale > 1; i++)
      {
        scale /= 10;
        frac_us += (guint64) (frac[i] - '0') * scale;
      }
  }
  if (whole > (G_MAXUINT64 - frac_us) / mult)
    total = G_MAXUINT64;
  else
    total = whole * mult + frac_us;
  if (total > max_us)
    {
      g_autofree char *limit = format_duration (max_us);
      config_key_error (error, g, e, "%s is over the limit of %s", e->value, limit);
      return FALSE;
    }
  *out = total;
  return TRUE;
}

/* A plain or quoted text value (quoted: C escapes, may keep spaces). */
gboolean
config_parse_text (const Group *g, const Entry *e, gsize max_len, char **out, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GBytes) bytes = NULL;
  gsize len;
  const char *data;

  if (e->value[0] != '"')
    {
      len = strlen (e->value);
      data = e->value;
    }
  else
    {
      bytes = bp_value_parse (e->value, BP_FORMAT_UTF8, 0, &local_error);
      if (bytes == NULL)
        {
          config_key_error (error, g, e, "%s", local_error->message);
          return FALSE;
        }
      data = g_bytes_get_data (bytes, &len);
      if (len > 0 && memchr (data, '\0', len) != NULL)
        {
          config_key_error (error, g, e, "the text may not contain \\0");
          return FALSE;
        }
    }
  if (len > max_len)
    {
      config_key_error (error, g, e, "the text is %" G_GSIZE_FORMAT " bytes, over the limit of %" G_GSIZE_FORMAT, len,
                        max_len);
      return FALSE;
    }
  *out = g_strndup (data != NULL ? data : "", len);
  return TRUE;
}

/* Comma-separated items, stripped, empty items dropped; commas inside a
 * quoted string do not separate. */
GPtrArray *
config_split_list (const char *value)
{
  GPtrArray *items = g_ptr_array_new_with_free_func (g_free);
  const char *start = value;
  gboolean quoted = FALSE;

  for (const char *p = value;; p++)
    {
      if (quoted && *p == '\\' && p[1] != '\0')
        {
          p++;
          continue;
        }
      if (*p == '"')
        quoted = !quoted;
      if (*p == '\0' || (*p == ',' && !quoted))
        {
          char *item = g_strstrip (g_strndup (start, (gsize) (p - start)));
          if (*item != '\0')
            g_ptr_array_add (items, item);
          else
            g_free (item);
          if (*p == '\0')
            break;
          start = p + 1;
        }
    }
  return items;
}

gboolean
config_parse_uuid (const Group *g, const Entry *e, const char *text, BpUuid *out, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  if (!bp_uuid_parse (text, out, &local_error))
    {
      config_key_error (error, g, e, "%s", local_error->message);
      return FALSE;
    }
  return TRUE;
}

gboolean
config_parse_value (const Group *g, const Entry *e, BpFormat format, int exponent, GBytes **out, GError **error)
{
  g_autoptr (GError) local_error = NULL;
  GBytes *bytes = bp_value_parse (e->value, format, exponent, &local_error);

  if (bytes == NULL)
    {
      config_key_error (error, g, e, "%s", local_error->message);
      return FALSE;
    }
  g_clear_pointer (out, g_bytes_unref);
  *out = bytes;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Values in the description */

void
config_append_uuid (GString *s, const BpUuid *uuid)
{
  guint16 u16;
  char buf[BP_UUID_STRLEN];

  if (bp_uuid_to_u16 (uuid, &u16))
    g_string_append_printf (s, "0x%04X", u16);
  else
    {
      bp_uuid_to_string (uuid, buf);
      g_string_append (s, buf);
    }
}

void
config_append_bytes (GString *s, GBytes *bytes)
{
  gsize len = 0;
  const guint8 *data = bytes != NULL ? g_bytes_get_data (bytes, &len) : NULL;
  g_autofree char *hex = bp_value_to_hex (data, len);

  g_string_append (s, len > 0 ? hex : "(empty)");
}

void
config_append_duration (GString *s, guint64 us)
{
  g_autofree char *d = format_duration (us);
  g_string_append (s, d);
}
