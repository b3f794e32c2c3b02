/* The configuration: ble-peripheral.conf and its conf.d drop-ins, merged key
 * by key, then resolved and checked into the GATT database and the
 * advertisement. Every error names the file, the group and the key at fault
 * and says what was expected. */
#define G_LOG_DOMAIN "config"

/* This module's header; here "config.h" would name it too, since it sits in
 * the same folder as this file and shadows the build's config.h. */
#include "daemon/config.h"

#include <errno.h>
#include <string.h>

#include "common/error.h"

const char bp_config_default_text[] =
  "# ble-peripheral configuration: see ble-peripheral.conf(5).\n"
  "# Files in conf.d/*.conf beside this one are read after it, in name order:\n"
  "# they add groups or override keys.\n"
  "\n"
  "[Peripheral]\n"
  "Name=ble-peripheral\n"
  "\n"
  "[Advertising]\n"
  "Interval=250ms\n"
  "Services=env\n"
  "Appearance=0x0540\n"
  "\n"
  "[Service env]\n"
  "UUID=0x181A\n"
  "\n"
  "[Characteristic env/temperature]\n"
  "UUID=0x2A6E\n"
  "Flags=read,notify\n"
  "Format=sint16\n"
  "Exponent=-2\n"
  "Unit=0x272F\n"
  "Initial=0\n"
  "\n"
  "[Characteristic env/humidity]\n"
  "UUID=0x2A6F\n"
  "Flags=read,notify\n"
  "Format=uint16\n"
  "Exponent=-2\n"
  "Unit=0x27AD\n"
  "Initial=0\n";

#define DEFAULT_SOURCE "built-in default"
#define MAX_FILE_SIZE (1024 * 1024)
#define ADV_MAX 31
#define US_PER_MS G_GUINT64_CONSTANT (1000)
#define US_PER_S G_GUINT64_CONSTANT (1000000)
/* bluetoothd answers a read or write itself (0x0E) after 5 s. */
#define BLUEZ_REPLY_TIMEOUT_US (5 * US_PER_S)

/* ------------------------------------------------------------------------ */
/* Flags */

static const struct {
  const char *name;
  BpFlags flag;
} flag_names[] = {
  { "broadcast", BP_FLAG_BROADCAST },
  { "read", BP_FLAG_READ },
  { "write-without-response", BP_FLAG_WRITE_WITHOUT_RESPONSE },
  { "write", BP_FLAG_WRITE },
  { "notify", BP_FLAG_NOTIFY },
  { "indicate", BP_FLAG_INDICATE },
  { "authenticated-signed-writes", BP_FLAG_AUTHENTICATED_SIGNED_WRITES },
  { "extended-properties", BP_FLAG_EXTENDED_PROPERTIES },
  { "reliable-write", BP_FLAG_RELIABLE_WRITE },
  { "writable-auxiliaries", BP_FLAG_WRITABLE_AUXILIARIES },
  { "encrypt-read", BP_FLAG_ENCRYPT_READ },
  { "encrypt-write", BP_FLAG_ENCRYPT_WRITE },
  { "encrypt-notify", BP_FLAG_ENCRYPT_NOTIFY },
  { "encrypt-indicate", BP_FLAG_ENCRYPT_INDICATE },
  { "encrypt-authenticated-read", BP_FLAG_ENCRYPT_AUTHENTICATED_READ },
  { "encrypt-authenticated-write", BP_FLAG_ENCRYPT_AUTHENTICATED_WRITE },
  { "encrypt-authenticated-notify", BP_FLAG_ENCRYPT_AUTHENTICATED_NOTIFY },
  { "encrypt-authenticated-indicate", BP_FLAG_ENCRYPT_AUTHENTICATED_INDICATE },
  { "secure-read", BP_FLAG_SECURE_READ },
  { "secure-write", BP_FLAG_SECURE_WRITE },
  { "secure-notify", BP_FLAG_SECURE_NOTIFY },
  { "secure-indicate", BP_FLAG_SECURE_INDICATE },
  { "authorize", BP_FLAG_AUTHORIZE },
};

/* Any flag that lets a central subscribe. */
#define FLAGS_ANY_NOTIFY (BP_FLAG_NOTIFY | BP_FLAG_INDICATE | BP_FLAG_ENCRYPT_NOTIFY | \
                          BP_FLAG_ENCRYPT_INDICATE | BP_FLAG_ENCRYPT_AUTHENTICATED_NOTIFY | \
                          BP_FLAG_ENCRYPT_AUTHENTICATED_INDICATE | BP_FLAG_SECURE_NOTIFY | \
                          BP_FLAG_SECURE_INDICATE)
/* What BlueZ accepts in a GattDescriptor1's Flags. */
#define FLAGS_DESCRIPTOR (BP_FLAG_READ | BP_FLAG_WRITE | BP_FLAG_ENCRYPT_READ | \
                          BP_FLAG_ENCRYPT_WRITE | BP_FLAG_ENCRYPT_AUTHENTICATED_READ | \
                          BP_FLAG_ENCRYPT_AUTHENTICATED_WRITE | BP_FLAG_SECURE_READ | \
                          BP_FLAG_SECURE_WRITE | BP_FLAG_AUTHORIZE)

BpFlags
bp_flag_from_name (const char *name)
{
  if (name == NULL)
    return 0;
  for (gsize i = 0; i < G_N_ELEMENTS (flag_names); i++)
    if (g_ascii_strcasecmp (name, flag_names[i].name) == 0)
      return flag_names[i].flag;
  return 0;
}

GStrv
bp_flags_to_strv (BpFlags flags)
{
  g_autoptr (GStrvBuilder) builder = g_strv_builder_new ();

  for (gsize i = 0; i < G_N_ELEMENTS (flag_names); i++)
    if (flags & flag_names[i].flag)
      g_strv_builder_add (builder, flag_names[i].name);
  return g_strv_builder_end (builder);
}

static char *
flag_list (BpFlags mask)
{
  GString *s = g_string_new (NULL);

  for (gsize i = 0; i < G_N_ELEMENTS (flag_names); i++)
    if (mask & flag_names[i].flag)
      {
        if (s->len > 0)
          g_string_append (s, ", ");
        g_string_append (s, flag_names[i].name);
      }
  return g_string_free (s, FALSE);
}

/* ------------------------------------------------------------------------ */
/* Freeing */

static void
descriptor_free (BpDescriptorConfig *d)
{
  g_free (d->id);
  g_clear_pointer (&d->value, g_bytes_unref);
  g_free (d);
}

static void
characteristic_free (BpCharacteristicConfig *c)
{
  g_free (c->id);
  g_free (c->service_id);
  g_free (c->name);
  g_clear_pointer (&c->initial, g_bytes_unref);
  g_free (c->description);
  g_clear_pointer (&c->descriptors, g_ptr_array_unref);
  g_free (c);
}

static void
service_free (BpServiceConfig *s)
{
  g_free (s->id);
  g_clear_pointer (&s->characteristics, g_ptr_array_unref);
  g_free (s);
}

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
bp_config_free (BpConfig *config)
{
  BpAdvertisingConfig *a;

  if (config == NULL)
    return;
  a = &config->advertising;
  g_free (config->source);
  g_free (config->name);
  g_free (config->adapter);
  g_clear_pointer (&a->service_uuids, g_array_unref);
  g_clear_pointer (&a->solicit_uuids, g_array_unref);
  g_clear_pointer (&a->manufacturer_data, g_ptr_array_unref);
  g_clear_pointer (&a->service_data, g_ptr_array_unref);
  g_clear_pointer (&a->data, g_ptr_array_unref);
  g_clear_pointer (&a->scan_response, g_bytes_unref);
  g_free (config->control.socket_path);
  g_free (config->control.group);
  g_clear_pointer (&config->services, g_ptr_array_unref);
  g_free (config);
}

static BpConfig *
config_new (void)
{
  BpConfig *config = g_new0 (BpConfig, 1);
  BpAdvertisingConfig *a = &config->advertising;

  config->max_connections = 1;
  config->power_on = TRUE;
  a->enabled = TRUE;
  a->service_uuids = g_array_new (FALSE, TRUE, sizeof (BpUuid));
  a->solicit_uuids = g_array_new (FALSE, TRUE, sizeof (BpUuid));
  a->manufacturer_data = g_ptr_array_new_with_free_func ((GDestroyNotify) manufacturer_data_free);
  a->service_data = g_ptr_array_new_with_free_func ((GDestroyNotify) service_data_free);
  a->data = g_ptr_array_new_with_free_func ((GDestroyNotify) g_bytes_unref);
  a->connectable = TRUE;
  a->discoverable = TRUE;
  config->control.mode = 0660;
  config->services = g_ptr_array_new_with_free_func ((GDestroyNotify) service_free);
  return config;
}

/* ------------------------------------------------------------------------ */
/* The merged key file: groups and keys in order of first appearance, each
 * key remembering the file its value came from. */

typedef struct {
  char *key;
  char *value;       /* raw (escapes untouched), stripped */
  const char *file;  /* label: "ble-peripheral.conf" or "conf.d/NAME.conf" */
} Entry;

typedef struct {
  char *name;        /* "Characteristic env/temperature" */
  const char *file;  /* the file that declared it first */
  GPtrArray *entries;
} Group;

typedef struct {
  GPtrArray *groups;
  GHashTable *by_name;
  GPtrArray *labels;  /* owns the file labels */
} Merged;

static void
entry_free (Entry *e)
{
  g_free (e->key);
  g_free (e->value);
  g_free (e);
}

static void
group_free (Group *g)
{
  g_free (g->name);
  g_ptr_array_unref (g->entries);
  g_free (g);
}

static void
merged_init (Merged *m)
{
  m->groups = g_ptr_array_new_with_free_func ((GDestroyNotify) group_free);
  m->by_name = g_hash_table_new (g_str_hash, g_str_equal);
  m->labels = g_ptr_array_new_with_free_func (g_free);
}

static void
merged_clear (Merged *m)
{
  g_clear_pointer (&m->by_name, g_hash_table_unref);
  g_clear_pointer (&m->groups, g_ptr_array_unref);
  g_clear_pointer (&m->labels, g_ptr_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Merged, merged_clear)

static Entry *
config_group_find (const Group *g, const char *key)
{
  for (guint i = 0; i < g->entries->len; i++)
    {
      Entry *e = g_ptr_array_index (g->entries, i);
      if (strcmp (e->key, key) == 0)
        return e;
    }
  return NULL;
}

/* A line for an error message: at most 40 characters, control characters
 * escaped. */
static char *
excerpt (const char *line, gsize len)
{
  GString *s = g_string_new (NULL);
  gsize shown = MIN (len, 40);

  for (gsize i = 0; i < shown; i++)
    {
      guchar c = (guchar) line[i];
      if (c < 0x20 || c == 0x7f)
        g_string_append_printf (s, "\\x%02x", c);
      else
        g_string_append_c (s, (char) c);
    }
  if (len > shown)
    g_string_append (s, "…");
  return g_string_free (s, FALSE);
}

/* Checks what GKeyFile would reject or silently mangle, so that the error
 * can name the line: NUL bytes, invalid UTF-8, lines that are neither a
 * group, a key nor a comment, keys before the first group. */
static gboolean
check_lines (const char *data, gsize len, const char *label, GError **error)
{
  gsize pos = 0;
  guint lineno = 0;
  gboolean seen_group = FALSE;

  if (len > MAX_FILE_SIZE)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_CONFIG,
                   "%s: the file is %" G_GSIZE_FORMAT " bytes, over the limit of %d",
                   label, len, MAX_FILE_SIZE);
      return FALSE;
    }

  while (pos < len)
    {
      const char *line = data + pos;
      const char *nl = memchr (line, '\n', len - pos);
      gsize line_len = nl != NULL ? (gsize) (nl - line) : len - pos;
      gsize start = 0, end = line_len;

      lineno++;
      pos += line_len + (nl != NULL ? 1 : 0);

      if (memchr (line, '\0', line_len) != NULL)
        {
          g_set_error (error, BP_ERROR, BP_ERROR_CONFIG,
                       "%s: line %u: contains a NUL byte (is this a text file?)", label, lineno);
          return FALSE;
        }
      if (!g_utf8_validate_len (line, line_len, NULL))
        {
          g_set_error (error, BP_ERROR, BP_ERROR_CONFIG,
                       "%s: line %u: is not valid UTF-8", label, lineno);
          return FALSE;
        }
      while (start < end && g_ascii_isspace (line[start]))
        start++;
      while (end > start && g_ascii_isspace (line[end - 1]))
        end--;
      if (start == end || line[start] == '#')
        continue;
      if (line[start] == '[')
        {
          const char *inner = line + start + 1;
          gsize inner_len = end - start - 1;
          if (line[end - 1] != ']' || inner_len < 2 ||
              memchr (inner, '[', inner_len - 1) != NULL ||
              memchr (inner, ']', inner_len - 1) != NULL)
            {
              g_autofree char *ex = excerpt (line + start, end - start);
              g_set_error (error, BP_ERROR, BP_ERROR_CONFIG,
                           "%s: line %u: expected a group header such as [Peripheral], got '%s'",
                           label, lineno, ex);
              return FALSE;
            }
          seen_group = TRUE;
          continue;
        }
      {
        const char *eq = memchr (line + start, '=', end - start);
        if (eq == NULL || eq == line + start)
          {
            g_autofree char *ex = excerpt (line + start, end - start);
            g_set_error (error, BP_ERROR, BP_ERROR_CONFIG,
                         "%s: line %u: expected [Group], Key=Value or a # comment, got '%s'",
                         label, lineno, ex);
            return FALSE;
          }
        if (memchr (line + start, '[', (gsize) (eq - line - start)) != NULL)
          {
            /* GKeyFile would keep Key[locale] entries apart and unseen */
            g_autofree char *ex = excerpt (line + start, (gsize) (eq - line - start));
            g_strchomp (ex);
            g_set_error (error, BP_ERROR, BP_ERROR_CONFIG,
                         "%s: line %u: '%s' is a localized key, which ble-peripheral does not read",
                         label, lineno, ex);
            return FALSE;
          }
        if (!seen_group)
          {
            g_autofree char *ex = excerpt (line + start, end - start);
            g_set_error (error, BP_ERROR, BP_ERROR_CONFIG,
                         "%s: line %u: '%s' comes before the first [Group]", label, lineno, ex);
            return FALSE;
          }
      }
    }
  return TRUE;
}

static gboolean
merge_data (Merged *m, const char *data, gsize len, const char *file, GError **error)
{
  g_autoptr (GKeyFile) kf = g_key_file_new ();
  g_autoptr (GError) local_error = NULL;
  g_auto (GStrv) groups = NULL;
  char *label = g_strdup (file);

  g_ptr_array_add (m->labels, label);

  /* Some editors start UTF-8 files with a byte order mark. */
  if (len >= 3 && memcmp (data, "\xef\xbb\xbf", 3) == 0)
    {
      data += 3;
      len -= 3;
    }
  if (!check_lines (data, len, label, error))
    return FALSE;
  if (!g_key_file_load_from_data (kf, data, len, G_KEY_FILE_NONE, &local_error))
    {
      g_set_error (error, BP_ERROR, BP_ERROR_CONFIG, "%s: %s", label, local_error->message);
      return FALSE;
    }

  groups = g_key_file_get_groups (kf, NULL);
  for (guint i = 0; groups[i] != NULL; i++)
    {
      g_auto (GStrv) keys = g_key_file_get_keys (kf, groups[i], NULL, NULL);
      Group *g = g_hash_table_lookup (m->by_name, groups[i]);

      if (g == NULL)
        {
          g = g_new0 (Group, 1);
          g->name = g_strdup (groups[i]);
          g->file = label;
          g->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) entry_free);
          g_ptr_array_add (m->groups, g);
          g_hash_table_insert (m->by_name, g->name, g);
        }
      for (guint k = 0; keys != NULL && keys[k] != NULL; k++)
        {
          g_autofree char *value = g_key_file_get_value (kf, groups[i], keys[k], NULL);
          Entry *e = config_group_find (g, keys[k]);

          if (value == NULL)
            continue;
          g_strstrip (value);
          if (e == NULL)
            {
              e = g_new0 (Entry, 1);
              e->key = g_strdup (keys[k]);
              g_ptr_array_add (g->entries, e);
            }
          g_free (e->value);
          e->value = g_steal_pointer (&value);
          e->file = label;
        }
    }
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* Errors */

static void G_GNUC_PRINTF (4, 5)
config_key_error (GError **error, const Group *g, const Entry *e, const char *format, ...)
{
  va_list ap;
  g_autofree char *msg = NULL;

  va_start (ap, format);
  msg = g_strdup_vprintf (format, ap);
  va_end (ap);
  g_set_error (error, BP_ERROR, BP_ERROR_CONFIG, "%s: [%s] %s: %s", e->file, g->name, e->key, msg);
}

static void G_GNUC_PRINTF (3, 4)
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
static gboolean
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

static gboolean
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
static gboolean
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
parse_number_text (const Group *g, const Entry *e, const char *text,
                   gint64 min, gint64 max, gint64 *out, GError **error)
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

static gboolean
config_parse_uint (const Group *g, const Entry *e, guint min, guint max, guint *out, GError **error)
{
  gint64 v;

  if (!parse_number_text (g, e, e->value, min, max, &v, error))
    return FALSE;
  *out = (guint) v;
  return TRUE;
}

static gboolean
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
static gboolean
config_parse_duration (const Group *g, const Entry *e, guint64 max_us, guint64 *out, GError **error)
{
  static const struct {
    const char *unit;
    guint64 us;
  } units[] = {
    { "us", 1 }, { "ms", US_PER_MS }, { "s", US_PER_S }, { "min", 60 * US_PER_S },
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
static gboolean
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
      config_key_error (error, g, e, "the text is %" G_GSIZE_FORMAT " bytes, over the limit of %" G_GSIZE_FORMAT,
                        len, max_len);
      return FALSE;
    }
  *out = g_strndup (data != NULL ? data : "", len);
  return TRUE;
}

/* Comma-separated items, stripped, empty items dropped; commas inside a
 * quoted string do not separate. */
static GPtrArray *
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

static gboolean
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

static gboolean
parse_flags (const Group *g, const Entry *e, BpFlags allowed, BpFlags *out, GError **error)
{
  g_autoptr (GPtrArray) items = config_split_list (e->value);
  BpFlags flags = 0;

  if (items->len == 0)
    {
      config_key_error (error, g, e, "expected at least one flag, e.g. read,notify");
      return FALSE;
    }
  for (guint i = 0; i < items->len; i++)
    {
      const char *name = g_ptr_array_index (items, i);
      BpFlags f = bp_flag_from_name (name);
      if (f == 0 || !(f & allowed))
        {
          g_autofree char *list = flag_list (allowed);
          if (f == 0)
            config_key_error (error, g, e, "unknown flag '%s': expected %s", name, list);
          else
            config_key_error (error, g, e, "'%s' is not a descriptor flag: expected %s", name, list);
          return FALSE;
        }
      flags |= f;
    }
  *out = flags;
  return TRUE;
}

static gboolean
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

/* IDs travel as words of the control protocol: no spaces, no slashes. */
static gboolean
id_is_valid (const char *id)
{
  if (*id == '\0')
    return FALSE;
  for (const char *p = id; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-' && *p != '.')
      return FALSE;
  return TRUE;
}

/* ------------------------------------------------------------------------ */
/* The loader */

typedef enum {
  FIELD_FLAGS,
  FIELD_NAME,
  FIELD_APPEARANCE,
  FIELD_SERVICE_UUIDS,
  FIELD_SOLICIT_UUIDS,
  FIELD_MANUFACTURER_DATA,
  FIELD_SERVICE_DATA,
  FIELD_TX_POWER,
  FIELD_DATA,
  N_FIELDS,
} AdField;

static const char *const field_labels[N_FIELDS] = {
  "flags", "name", "appearance", "service UUIDs", "solicit UUIDs",
  "manufacturer data", "service data", "TX power", "data",
};

/* Where an advertising field was set, for the size error. */
typedef struct {
  const char *file;
  const char *group;
  const char *key;
} FieldOrigin;

typedef struct {
  Merged merged;
  BpConfig *config;
  const char *main_label;
  Group *peripheral, *advertising, *control;
  GPtrArray *char_groups;  /* of Group* */
  GPtrArray *desc_groups;  /* of Group* */
  GHashTable *services;    /* id → BpServiceConfig* */
  GHashTable *chars;       /* "s/c" → BpCharacteristicConfig* */
  gboolean name_explicit;
  gboolean discoverable_explicit, limited_explicit, tx_power_explicit;
  FieldOrigin origins[N_FIELDS];
} Loader;

static void
loader_init (Loader *l)
{
  merged_init (&l->merged);
  l->char_groups = g_ptr_array_new ();
  l->desc_groups = g_ptr_array_new ();
  l->services = g_hash_table_new (g_str_hash, g_str_equal);
  l->chars = g_hash_table_new (g_str_hash, g_str_equal);
}

static void
loader_clear (Loader *l)
{
  merged_clear (&l->merged);
  g_clear_pointer (&l->char_groups, g_ptr_array_unref);
  g_clear_pointer (&l->desc_groups, g_ptr_array_unref);
  g_clear_pointer (&l->services, g_hash_table_unref);
  g_clear_pointer (&l->chars, g_hash_table_unref);
  g_clear_pointer (&l->config, bp_config_free);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Loader, loader_clear)

static void
config_set_origin (Loader *l, AdField f, const char *group, const Entry *e)
{
  l->origins[f].file = e->file;
  l->origins[f].group = group;
  l->origins[f].key = e->key;
}

static gboolean
load_peripheral (Loader *l, const Group *g, GError **error)
{
  static const char *const keys[] = { "Name", "Adapter", "MaxConnections", "PowerOn", NULL };
  BpConfig *c = l->config;
  Entry *e;

  if (!config_check_keys (g, keys, error))
    return FALSE;

  if ((e = config_group_find (g, "Name")) != NULL)
    {
      g_clear_pointer (&c->name, g_free);
      /* 248 bytes: the Bluetooth device name limit */
      if (!config_parse_text (g, e, 248, &c->name, error))
        return FALSE;
      if (*c->name == '\0')
        {
          config_key_error (error, g, e, "expected a name; leave the key out for the host name");
          return FALSE;
        }
      l->name_explicit = TRUE;
      config_set_origin (l, FIELD_NAME, g->name, e);
    }
  if ((e = config_group_find (g, "Adapter")) != NULL)
    {
      gboolean ok = FALSE;
      const char *v = e->value;
      if (g_str_has_prefix (v, "hci") && v[3] != '\0')
        {
          ok = TRUE;
          for (const char *p = v + 3; *p; p++)
            ok = ok && g_ascii_isdigit (*p);
        }
      else if (strlen (v) == 17)
        {
          ok = TRUE;
          for (int i = 0; i < 17; i++)
            ok = ok && (i % 3 == 2 ? v[i] == ':' : g_ascii_isxdigit (v[i]));
        }
      if (!ok)
        {
          config_key_error (error, g, e, "expected hciN or a controller address such as 00:1A:7D:DA:71:13, "
                            "got '%s'", v);
          return FALSE;
        }
      c->adapter = g_strdup (v);
    }
  if ((e = config_group_find (g, "MaxConnections")) != NULL &&
      !config_parse_uint (g, e, 0, 255, &c->max_connections, error))
    return FALSE;
  if ((e = config_group_find (g, "PowerOn")) != NULL && !config_parse_bool (g, e, &c->power_on, error))
    return FALSE;
  return TRUE;
}

static gboolean
load_control (Loader *l, const Group *g, GError **error)
{
  static const char *const keys[] = { "Socket", "Mode", "Group", NULL };
  BpControlConfig *c = &l->config->control;
  Entry *e;

  if (!config_check_keys (g, keys, error))
    return FALSE;
  if ((e = config_group_find (g, "Socket")) != NULL)
    {
      if (!config_parse_text (g, e, 107, &c->socket_path, error))
        return FALSE;
      if (!g_path_is_absolute (c->socket_path))
        {
          config_key_error (error, g, e, "expected an absolute path such as /run/ble-peripheral/control, got '%s'",
                            c->socket_path);
          return FALSE;
        }
    }
  if ((e = config_group_find (g, "Mode")) != NULL)
    {
      guint mode = 0;
      gboolean ok = e->value[0] != '\0';
      for (const char *p = e->value; *p && ok; p++)
        {
          ok = *p >= '0' && *p <= '7' && mode <= 0777;
          mode = mode * 8 + (guint) (*p - '0');
        }
      if (!ok || mode > 0777)
        {
          config_key_error (error, g, e, "expected an octal mode such as 0660, got '%s'", e->value);
          return FALSE;
        }
      c->mode = mode;
    }
  if ((e = config_group_find (g, "Group")) != NULL)
    {
      if (!config_parse_text (g, e, 255, &c->group, error))
        return FALSE;
      if (*c->group == '\0' || strpbrk (c->group, " :/,") != NULL)
        {
          config_key_error (error, g, e, "expected a group name such as ble-producers, got '%s'", c->group);
          return FALSE;
        }
    }
  return TRUE;
}

static gboolean
load_service (Loader *l, const Group *g, const char *id, GError **error)
{
  static const char *const keys[] = { "UUID", "Primary", NULL };
  BpServiceConfig *s;
  Entry *e;

  if (!config_check_keys (g, keys, error))
    return FALSE;
  s = g_new0 (BpServiceConfig, 1);
  s->id = g_strdup (id);
  s->primary = TRUE;
  s->characteristics = g_ptr_array_new_with_free_func ((GDestroyNotify) characteristic_free);
  g_ptr_array_add (l->config->services, s);
  g_hash_table_insert (l->services, s->id, s);

  if ((e = config_group_find (g, "UUID")) == NULL)
    {
      config_group_error (error, g, "UUID is required, e.g. UUID=0x181A");
      return FALSE;
    }
  if (!config_parse_uuid (g, e, e->value, &s->uuid, error))
    return FALSE;
  if ((e = config_group_find (g, "Primary")) != NULL && !config_parse_bool (g, e, &s->primary, error))
    return FALSE;
  return TRUE;
}

static gboolean
load_characteristic (Loader *l, const Group *g, GError **error)
{
  static const char *const keys[] = {
    "UUID", "Flags", "Initial", "MaxLength", "Append", "Capture", "QueueLength",
    "Format", "Exponent", "Unit", "Description", "PresentationFormat", "ReadHandler",
    "ReadTimeout", "MinReadInterval", "NotifyOnSubscribe", NULL,
  };
  const char *path = g->name + strlen ("Characteristic ");
  const char *slash = strchr (path, '/');
  g_autofree char *sid = g_strndup (path, (gsize) (slash - path));
  BpServiceConfig *s = g_hash_table_lookup (l->services, sid);
  BpCharacteristicConfig *c;
  Entry *e, *flags_e, *append_e, *capture_e;

  if (s == NULL)
    {
      config_group_error (error, g, "the service '%s' is not declared: add a [Service %s] group", sid, sid);
      return FALSE;
    }
  if (!config_check_keys (g, keys, error))
    return FALSE;

  c = g_new0 (BpCharacteristicConfig, 1);
  c->id = g_strdup (path);
  c->service_id = g_strdup (sid);
  c->name = g_strdup (slash + 1);
  c->initial = g_bytes_new (NULL, 0);
  c->max_length = 20;
  c->queue_length = 64;
  c->read_timeout_us = US_PER_S;
  c->descriptors = g_ptr_array_new_with_free_func ((GDestroyNotify) descriptor_free);
  g_ptr_array_add (s->characteristics, c);
  g_hash_table_insert (l->chars, c->id, c);

  if ((e = config_group_find (g, "UUID")) == NULL)
    {
      config_group_error (error, g, "UUID is required, e.g. UUID=0x2A6E");
      return FALSE;
    }
  if (!config_parse_uuid (g, e, e->value, &c->uuid, error))
    return FALSE;
  if ((flags_e = config_group_find (g, "Flags")) == NULL)
    {
      config_group_error (error, g, "Flags is required, e.g. Flags=read,notify");
      return FALSE;
    }
  if (!parse_flags (g, flags_e, ~(BpFlags) 0, &c->flags, error))
    return FALSE;

  if ((e = config_group_find (g, "Format")) != NULL && !bp_format_from_name (e->value, &c->format))
    {
      config_key_error (error, g, e, "unknown format '%s': expected uint8, uint16, uint24, uint32, uint64, "
                        "sint8, sint16, sint24, sint32, sint64, float32, float64, utf8 or boolean", e->value);
      return FALSE;
    }
  if ((e = config_group_find (g, "Exponent")) != NULL)
    {
      if (!config_parse_int (g, e, -128, 127, &c->exponent, error))
        return FALSE;
      if (c->format == BP_FORMAT_NONE)
        {
          config_key_error (error, g, e, "needs Format= (the exponent scales a number of that format)");
          return FALSE;
        }
    }
  c->presentation_format = c->format != BP_FORMAT_NONE;
  if ((e = config_group_find (g, "PresentationFormat")) != NULL)
    {
      if (!config_parse_bool (g, e, &c->presentation_format, error))
        return FALSE;
      if (c->presentation_format && c->format == BP_FORMAT_NONE)
        {
          config_key_error (error, g, e, "true needs Format= (the 0x2904 descriptor describes the format)");
          return FALSE;
        }
    }
  if ((e = config_group_find (g, "Unit")) != NULL)
    {
      guint unit;
      if (!config_parse_uint (g, e, 0, 0xffff, &unit, error))
        return FALSE;
      if (!c->presentation_format)
        {
          config_key_error (error, g, e, "the unit goes into the 0x2904 Presentation Format descriptor, "
                            "which needs Format= (and PresentationFormat not false)");
          return FALSE;
        }
      c->has_unit = TRUE;
      c->unit = (guint16) unit;
    }
  if ((e = config_group_find (g, "Description")) != NULL &&
      !config_parse_text (g, e, BP_VALUE_MAX, &c->description, error))
    return FALSE;
  if ((e = config_group_find (g, "MaxLength")) != NULL &&
      !config_parse_uint (g, e, 0, BP_VALUE_MAX, &c->max_length, error))
    return FALSE;
  if ((append_e = config_group_find (g, "Append")) != NULL &&
      !config_parse_bool (g, append_e, &c->append, error))
    return FALSE;
  if ((capture_e = config_group_find (g, "Capture")) != NULL &&
      !config_parse_bool (g, capture_e, &c->capture, error))
    return FALSE;
  if ((e = config_group_find (g, "QueueLength")) != NULL &&
      !config_parse_uint (g, e, 1, 65535, &c->queue_length, error))
    return FALSE;
  if ((e = config_group_find (g, "ReadHandler")) != NULL)
    {
      if (strcmp (e->value, "value") == 0)
        c->read_handler = BP_READ_HANDLER_VALUE;
      else if (strcmp (e->value, "socket") == 0)
        c->read_handler = BP_READ_HANDLER_SOCKET;
      else
        {
          config_key_error (error, g, e, "expected value or socket, got '%s'", e->value);
          return FALSE;
        }
      if (c->read_handler == BP_READ_HANDLER_SOCKET && !(c->flags & BP_FLAGS_ANY_READ))
        {
          config_key_error (error, g, e, "socket needs a read flag (read, encrypt-read, …) in Flags: "
                            "without one no central can read");
          return FALSE;
        }
    }
  if ((e = config_group_find (g, "ReadTimeout")) != NULL)
    {
      if (!config_parse_duration (g, e, G_MAXUINT64, &c->read_timeout_us, error))
        return FALSE;
      if (c->read_timeout_us == 0)
        {
          config_key_error (error, g, e, "must be more than 0");
          return FALSE;
        }
      if (c->read_timeout_us >= BLUEZ_REPLY_TIMEOUT_US)
        {
          config_key_error (error, g, e, "%s is not under 5s: bluetoothd answers the central with ATT "
                            "0x0E itself when a read takes 5 seconds", e->value);
          return FALSE;
        }
    }
  if ((e = config_group_find (g, "MinReadInterval")) != NULL &&
      !config_parse_duration (g, e, G_MAXUINT64, &c->min_read_interval_us, error))
    return FALSE;
  if ((e = config_group_find (g, "NotifyOnSubscribe")) != NULL)
    {
      if (!config_parse_bool (g, e, &c->notify_on_subscribe, error))
        return FALSE;
      if (c->notify_on_subscribe && !(c->flags & FLAGS_ANY_NOTIFY))
        {
          config_key_error (error, g, e, "true needs notify or indicate in Flags");
          return FALSE;
        }
    }
  if ((e = config_group_find (g, "Initial")) != NULL &&
      !config_parse_value (g, e, c->format, c->exponent, &c->initial, error))
    return FALSE;

  /* Combinations that cannot work */
  if (c->capture && !(c->flags & BP_FLAGS_ANY_WRITE))
    {
      config_key_error (error, g, capture_e, "true needs a write flag (write, write-without-response, …) "
                        "in Flags: without one no central can write");
      return FALSE;
    }
  if (c->append && !(c->flags & BP_FLAGS_ANY_WRITE))
    {
      config_key_error (error, g, append_e, "true needs a write flag (write, …) in Flags: "
                        "without one no central can write");
      return FALSE;
    }
  if (c->append && c->max_length == 0)
    {
      config_key_error (error, g, append_e, "true needs room in the buffer, but MaxLength is 0");
      return FALSE;
    }
  if ((c->flags & BP_FLAG_WRITE_WITHOUT_RESPONSE) && (c->max_length != BP_VALUE_MAX || c->append))
    {
      /* BLUEZ.md: with write-without-response bluetoothd acknowledges every
       * write before the daemon sees it, so no error reaches the central. */
      if (c->append)
        config_key_error (error, g, flags_e, "write-without-response cannot be combined with Append=true: "
                          "bluetoothd acknowledges such writes before the daemon sees them, so a write that "
                          "overflows the buffer could not be refused; drop write-without-response or Append");
      else
        config_key_error (error, g, flags_e, "write-without-response cannot be combined with MaxLength=%u: "
                          "bluetoothd acknowledges such writes before the daemon sees them, so a write longer "
                          "than MaxLength could not be refused; set MaxLength=512 or drop write-without-response",
                          c->max_length);
      return FALSE;
    }
  return TRUE;
}

static gboolean
load_descriptor (Loader *l, const Group *g, GError **error)
{
  static const char *const keys[] = { "UUID", "Flags", "Value", NULL };
  const char *path = g->name + strlen ("Descriptor ");
  const char *last = strrchr (path, '/');
  g_autofree char *cid = g_strndup (path, (gsize) (last - path));
  BpCharacteristicConfig *c = g_hash_table_lookup (l->chars, cid);
  BpDescriptorConfig *d;
  Entry *e;
  guint16 u16 = 0;

  if (c == NULL)
    {
      config_group_error (error, g, "the characteristic '%s' is not declared: add a [Characteristic %s] group",
                          cid, cid);
      return FALSE;
    }
  if (!config_check_keys (g, keys, error))
    return FALSE;

  d = g_new0 (BpDescriptorConfig, 1);
  d->id = g_strdup (path);
  d->flags = BP_FLAG_READ;
  d->value = g_bytes_new (NULL, 0);
  g_ptr_array_add (c->descriptors, d);

  if ((e = config_group_find (g, "UUID")) == NULL)
    {
      config_group_error (error, g, "UUID is required, e.g. UUID=0x2906");
      return FALSE;
    }
  if (!config_parse_uuid (g, e, e->value, &d->uuid, error))
    return FALSE;
  if (bp_uuid_to_u16 (&d->uuid, &u16))
    {
      if (u16 == 0x2902)
        {
          config_key_error (error, g, e, "0x2902 (Client Characteristic Configuration) is made by bluetoothd "
                            "itself for notify and indicate; leave this descriptor out");
          return FALSE;
        }
      if (u16 == 0x2900 && (c->flags & (BP_FLAG_RELIABLE_WRITE | BP_FLAG_WRITABLE_AUXILIARIES)))
        {
          config_key_error (error, g, e, "0x2900 (Extended Properties) is made by bluetoothd itself for "
                            "reliable-write and writable-auxiliaries; leave this descriptor out");
          return FALSE;
        }
      if (u16 == 0x2901 && c->description != NULL)
        {
          config_key_error (error, g, e, "0x2901 (User Description) is generated from Description= of "
                            "[Characteristic %s]; keep one of them", c->id);
          return FALSE;
        }
      if (u16 == 0x2904 && c->presentation_format)
        {
          config_key_error (error, g, e, "0x2904 (Presentation Format) is generated from Format= of "
                            "[Characteristic %s]; set PresentationFormat=false there to write your own", c->id);
          return FALSE;
        }
    }
  if ((e = config_group_find (g, "Flags")) != NULL && !parse_flags (g, e, FLAGS_DESCRIPTOR, &d->flags, error))
    return FALSE;
  if ((e = config_group_find (g, "Value")) != NULL &&
      !config_parse_value (g, e, BP_FORMAT_NONE, 0, &d->value, error))
    return FALSE;
  return TRUE;
}

/* "env" or a UUID, for Services= and SolicitServices=. */
static gboolean
resolve_service_ref (Loader *l, const Group *g, const Entry *e, const char *item, BpUuid *out,
                     GError **error)
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
add_manufacturer_data (const Group *g, const Entry *e, GPtrArray *list, guint16 company, GBytes *data,
                       GError **error)
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
add_service_data (const Group *g, const Entry *e, GPtrArray *list, const BpUuid *uuid, GBytes *data,
                  GError **error)
{
  BpServiceData *sd;

  for (guint i = 0; i < list->len; i++)
    if (bp_uuid_equal (&((BpServiceData *) g_ptr_array_index (list, i))->uuid, uuid))
      {
        char buf[BP_UUID_STRLEN];
        bp_uuid_to_string (uuid, buf);
        config_key_error (error, g, e, "service %s appears twice: the advertisement holds one value per service",
                          buf);
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

/* Walks length-type-value AD structures; with a NULL loader only checks
 * their framing (ScanResponseData). */
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
                config_key_error (error, g, e, "the AD structure at byte %" G_GSIZE_FORMAT " has length 0, "
                                  "but data follows", pos);
                return FALSE;
              }
          break;
        }
      if (pos + 1 + ad_len > len)
        {
          config_key_error (error, g, e, "the AD structure at byte %" G_GSIZE_FORMAT " says %u bytes follow, "
                            "but only %" G_GSIZE_FORMAT " do", pos, ad_len, len - pos - 1);
          return FALSE;
        }
      type = data[pos + 1];
      payload = data + pos + 2;
      plen = ad_len - 1u;
      pos += 1u + ad_len;

      if (a == NULL)
        continue;

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
                config_key_error (error, g, e, "the Flags structure (type 0x01) disagrees with Discoverable= "
                                  "or LimitedDiscoverable=; keep one of them");
                return FALSE;
              }
            a->discoverable = discoverable;
            a->limited_discoverable = limited;
            config_set_origin (l, FIELD_FLAGS, g->name, e);
            break;
          }
        case 0x02: case 0x03: case 0x04: case 0x05: case 0x06: case 0x07:
        case 0x14: case 0x15: case 0x1F:
          {
            gsize size = (type == 0x02 || type == 0x03 || type == 0x14) ? 2
                       : (type == 0x04 || type == 0x05 || type == 0x1F) ? 4 : 16;
            gboolean solicit = type >= 0x14;
            if (plen % size != 0)
              {
                config_key_error (error, g, e, "the UUID list of type 0x%02X is %" G_GSIZE_FORMAT " bytes, "
                                  "not a multiple of %" G_GSIZE_FORMAT, type, plen, size);
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
        case 0x08: case 0x09: /* Shortened / Complete Local Name */
          {
            g_autofree char *name = g_strndup ((const char *) payload, plen);
            if (plen == 0 || strlen (name) != plen || !g_utf8_validate (name, -1, NULL))
              {
                config_key_error (error, g, e, "the local name (type 0x%02X) is not UTF-8 text", type);
                return FALSE;
              }
            if (l->name_explicit && strcmp (name, l->config->name) != 0)
              {
                config_key_error (error, g, e, "the local name '%s' (type 0x%02X) disagrees with Name=%s of "
                                  "[Peripheral]; keep one of them", name, type, l->config->name);
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
                config_key_error (error, g, e, "the appearance 0x%04X (type 0x19) disagrees with "
                                  "Appearance=0x%04X; keep one of them", appearance, a->appearance);
                return FALSE;
              }
            a->has_appearance = TRUE;
            a->appearance = appearance;
            config_set_origin (l, FIELD_APPEARANCE, g->name, e);
            break;
          }
        case 0x16: case 0x20: case 0x21: /* Service Data */
          {
            gsize size = type == 0x16 ? 2 : type == 0x20 ? 4 : 16;
            g_autoptr (GBytes) sd = NULL;
            BpUuid uuid;
            if (plen < size)
              {
                config_key_error (error, g, e, "the service data (type 0x%02X) is shorter than its "
                                  "%" G_GSIZE_FORMAT "-byte UUID", type, size);
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
                config_key_error (error, g, e, "the manufacturer data (type 0xFF) is shorter than its "
                                  "2-byte company ID");
                return FALSE;
              }
            md = g_bytes_new (payload + 2, plen - 2);
            if (!add_manufacturer_data (g, e, a->manufacturer_data,
                                        (guint16) (payload[0] | (payload[1] << 8)), md, error))
              return FALSE;
            config_set_origin (l, FIELD_MANUFACTURER_DATA, g->name, e);
            break;
          }
        default:
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

static gboolean
load_advertising (Loader *l, const Group *g, GError **error)
{
  static const char *const keys[] = {
    "Enabled", "Interval", "IntervalMin", "IntervalMax", "Services", "SolicitServices",
    "Appearance", "ManufacturerData", "ServiceData", "Connectable", "Discoverable",
    "LimitedDiscoverable", "Timeout", "TxPower", "IncludeTxPower", "Data", "ScanResponseData", NULL,
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
      config_key_error (error, g, blame, "the interval's minimum (%ums) is over its maximum (%ums)",
                        a->interval_min_ms, a->interval_max_ms);
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
          config_key_error (error, g, e, "true needs Discoverable=true (limited discoverable is a kind of "
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
      if (!parse_spaced_hex (g, e, &raw, error) ||
          !parse_ad_structures (l, g, e, raw, error))
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
          config_key_error (error, g, e, "the scan response is %" G_GSIZE_FORMAT " bytes, %" G_GSIZE_FORMAT
                            " over the %d-byte limit", g_bytes_get_size (a->scan_response),
                            g_bytes_get_size (a->scan_response) - ADV_MAX, ADV_MAX);
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
  "Discoverable", "Name", "Appearance", "Services", "SolicitServices",
  "ManufacturerData", "ServiceData", "IncludeTxPower", "Data",
};

static gboolean
check_advertising_size (const BpConfig *config, const FieldOrigin *origins, const char *fallback_file,
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
          group = origins != NULL && origins[f].group ? origins[f].group
                  : f == FIELD_NAME ? "Peripheral" : "Advertising";
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
                     raw_alone ? "Advertising" : "Peripheral",
                     raw_alone ? "ScanResponseData" : "Name",
                     n, n - ADV_MAX, ADV_MAX, name, n - name);
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
      g_autofree char *path = suffix != NULL ? g_strndup (source, (gsize) (suffix - source))
                                             : g_strdup (source);
      file = g_path_get_basename (path);
    }
  return check_advertising_size (config, NULL, file, error);
}

/* ------------------------------------------------------------------------ */
/* Resolution */

static gboolean
classify_groups (Loader *l, GError **error)
{
  for (guint i = 0; i < l->merged.groups->len; i++)
    {
      Group *g = g_ptr_array_index (l->merged.groups, i);
      const char *rest;

      if (strcmp (g->name, "Peripheral") == 0)
        l->peripheral = g;
      else if (strcmp (g->name, "Advertising") == 0)
        l->advertising = g;
      else if (strcmp (g->name, "Control") == 0)
        l->control = g;
      else if (g_str_has_prefix (g->name, "Service "))
        {
          rest = g->name + strlen ("Service ");
          if (!id_is_valid (rest))
            {
              config_group_error (error, g, "the service ID '%s' may only hold letters, digits, '_', '-' and '.'",
                                  rest);
              return FALSE;
            }
        }
      else if (g_str_has_prefix (g->name, "Characteristic ") || g_str_has_prefix (g->name, "Descriptor "))
        {
          gboolean is_char = g->name[0] == 'C';
          g_auto (GStrv) parts = NULL;
          guint n;

          rest = strchr (g->name, ' ') + 1;
          parts = g_strsplit (rest, "/", -1);
          n = g_strv_length (parts);
          if (n != (is_char ? 2u : 3u))
            {
              config_group_error (error, g, "expected [%s], got '%s'",
                                  is_char ? "Characteristic SERVICE/CHAR" : "Descriptor SERVICE/CHAR/DESC", rest);
              return FALSE;
            }
          for (guint k = 0; k < n; k++)
            if (!id_is_valid (parts[k]))
              {
                config_group_error (error, g, "the ID '%s' may only hold letters, digits, '_', '-' and '.'",
                                    parts[k]);
                return FALSE;
              }
          g_ptr_array_add (is_char ? l->char_groups : l->desc_groups, g);
        }
      else
        {
          config_group_error (error, g, "unknown group: expected [Peripheral], [Advertising], [Control], "
                              "[Service ID], [Characteristic SERVICE/CHAR] or [Descriptor SERVICE/CHAR/DESC]");
          return FALSE;
        }
    }
  return TRUE;
}

static BpConfig *
resolve (Loader *l, const char *source, GError **error)
{
  l->config = config_new ();
  l->config->source = g_strdup (source);

  if (!classify_groups (l, error))
    return NULL;
  if (l->peripheral != NULL && !load_peripheral (l, l->peripheral, error))
    return NULL;
  if (l->config->name == NULL)
    l->config->name = g_strdup (g_get_host_name ());
  if (l->control != NULL && !load_control (l, l->control, error))
    return NULL;
  for (guint i = 0; i < l->merged.groups->len; i++)
    {
      Group *g = g_ptr_array_index (l->merged.groups, i);
      if (g_str_has_prefix (g->name, "Service ") &&
          !load_service (l, g, g->name + strlen ("Service "), error))
        return NULL;
    }
  for (guint i = 0; i < l->char_groups->len; i++)
    if (!load_characteristic (l, g_ptr_array_index (l->char_groups, i), error))
      return NULL;
  for (guint i = 0; i < l->desc_groups->len; i++)
    if (!load_descriptor (l, g_ptr_array_index (l->desc_groups, i), error))
      return NULL;
  if (l->advertising != NULL && !load_advertising (l, l->advertising, error))
    return NULL;
  if (!check_advertising_size (l->config, l->origins, l->main_label, error))
    return NULL;
  return g_steal_pointer (&l->config);
}

BpConfig *
bp_config_load_from_data (const char *data, gssize len, const char *origin, GError **error)
{
  g_auto (Loader) l = { 0 };

  g_return_val_if_fail (data != NULL, NULL);
  if (origin == NULL)
    origin = "configuration";
  if (len < 0)
    len = (gssize) strlen (data);

  loader_init (&l);
  l.main_label = origin;
  if (!merge_data (&l.merged, data, (gsize) len, origin, error))
    return NULL;
  return resolve (&l, origin, error);
}

static gint
compare_names (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const char *const *) a, *(const char *const *) b);
}

/* The *.conf files of dir in name order; none when dir does not exist. */
static GPtrArray *
list_drop_ins (const char *dir, GError **error)
{
  g_autoptr (GPtrArray) names = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GError) local_error = NULL;
  g_autoptr (GDir) d = g_dir_open (dir, 0, &local_error);
  const char *name;

  if (d == NULL)
    {
      if (g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT) ||
          g_error_matches (local_error, G_FILE_ERROR, G_FILE_ERROR_NOTDIR))
        return g_steal_pointer (&names);
      g_set_error (error, BP_ERROR, BP_ERROR_CONFIG, "%s: %s", dir, local_error->message);
      return NULL;
    }
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *full = g_build_filename (dir, name, NULL);
      if (name[0] == '.' || !g_str_has_suffix (name, ".conf") ||
          !g_file_test (full, G_FILE_TEST_IS_REGULAR))
        continue;
      g_ptr_array_add (names, g_strdup (name));
    }
  g_ptr_array_sort (names, compare_names);
  return g_steal_pointer (&names);
}

static gboolean
read_file (const char *path, char **data, gsize *len, GError **error)
{
  g_autoptr (GError) local_error = NULL;

  if (!g_file_get_contents (path, data, len, &local_error))
    {
      g_set_error (error, BP_ERROR, BP_ERROR_CONFIG, "%s", local_error->message);
      return FALSE;
    }
  return TRUE;
}

BpConfig *
bp_config_load (const char *path, gboolean allow_missing, GError **error)
{
  g_auto (Loader) l = { 0 };
  g_autofree char *data = NULL;
  g_autofree char *label = NULL;
  g_autofree char *dir = NULL;
  g_autofree char *source = NULL;
  g_autoptr (GPtrArray) drop_ins = NULL;
  gsize len = 0;

  g_return_val_if_fail (path != NULL, NULL);

  if (allow_missing && !g_file_test (path, G_FILE_TEST_EXISTS))
    {
      BpConfig *config = bp_config_load_from_data (bp_config_default_text, -1, DEFAULT_SOURCE, error);
      if (config != NULL)
        config->is_default = TRUE;
      return config;
    }
  if (!read_file (path, &data, &len, error))
    return NULL;

  loader_init (&l);
  label = g_path_get_basename (path);
  l.main_label = label;
  if (!merge_data (&l.merged, data, len, label, error))
    return NULL;

  {
    g_autofree char *parent = g_path_get_dirname (path);
    dir = g_build_filename (parent, "conf.d", NULL);
  }
  drop_ins = list_drop_ins (dir, error);
  if (drop_ins == NULL)
    return NULL;
  for (guint i = 0; i < drop_ins->len; i++)
    {
      const char *name = g_ptr_array_index (drop_ins, i);
      g_autofree char *full = g_build_filename (dir, name, NULL);
      g_autofree char *drop_label = g_strdup_printf ("conf.d/%s", name);
      g_autofree char *drop_data = NULL;
      gsize drop_len = 0;

      if (!read_file (full, &drop_data, &drop_len, error) ||
          !merge_data (&l.merged, drop_data, drop_len, drop_label, error))
        return NULL;
    }

  if (drop_ins->len == 0)
    source = g_strdup (path);
  else
    source = g_strdup_printf ("%s (+%u drop-in%s)", path, drop_ins->len, drop_ins->len == 1 ? "" : "s");
  return resolve (&l, source, error);
}

/* ------------------------------------------------------------------------ */
/* Queries */

BpCharacteristicConfig *
bp_config_find_characteristic (const BpConfig *config, const char *name, GError **error)
{
  BpCharacteristicConfig *found = NULL;
  g_autoptr (GString) matches = g_string_new (NULL);
  guint n = 0;
  gboolean qualified = name != NULL && strchr (name, '/') != NULL;

  for (guint s = 0; name != NULL && s < config->services->len; s++)
    {
      BpServiceConfig *svc = g_ptr_array_index (config->services, s);
      for (guint c = 0; c < svc->characteristics->len; c++)
        {
          BpCharacteristicConfig *chr = g_ptr_array_index (svc->characteristics, c);
          if (qualified ? strcmp (chr->id, name) == 0 : strcmp (chr->name, name) == 0)
            {
              found = chr;
              g_string_append_printf (matches, "%s%s", n++ ? ", " : "", chr->id);
            }
        }
    }
  if (n == 1)
    return found;
  if (n > 1)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_AMBIGUOUS,
                   "'%s' names several characteristics (%s): say SERVICE/CHAR", name, matches->str);
      return NULL;
    }
  g_set_error (error, BP_ERROR, BP_ERROR_UNKNOWN_CHARACTERISTIC,
               "no characteristic '%s' in the configuration", name != NULL ? name : "");
  return NULL;
}

static void
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

static void
config_append_bytes (GString *s, GBytes *bytes)
{
  gsize len = 0;
  const guint8 *data = bytes != NULL ? g_bytes_get_data (bytes, &len) : NULL;
  g_autofree char *hex = bp_value_to_hex (data, len);

  g_string_append (s, len > 0 ? hex : "(empty)");
}

static void
config_append_duration (GString *s, guint64 us)
{
  g_autofree char *d = format_duration (us);
  g_string_append (s, d);
}

char *
bp_config_describe (const BpConfig *config)
{
  GString *s = g_string_new (NULL);
  const BpAdvertisingConfig *a = &config->advertising;
  gsize sizes[N_FIELDS], total = 0;
  g_autofree char *breakdown = NULL;

  g_string_append_printf (s, "configuration: %s%s\n", config->source ? config->source : "(unknown)",
                          config->is_default ? " (no configuration file: the built-in example)" : "");
  g_string_append_printf (s, "peripheral: name \"%s\", adapter %s, max connections %u%s, power on %s\n",
                          config->name ? config->name : "", config->adapter ? config->adapter : "(first one)",
                          config->max_connections, config->max_connections == 0 ? " (no limit)" : "",
                          config->power_on ? "yes" : "no");
  g_string_append_printf (s, "control: socket %s, mode %04o, group %s\n",
                          config->control.socket_path ? config->control.socket_path : "(default)",
                          config->control.mode, config->control.group ? config->control.group : "(none)");

  for (guint i = 0; i < config->services->len; i++)
    {
      BpServiceConfig *svc = g_ptr_array_index (config->services, i);

      g_string_append_printf (s, "\nservice %s: ", svc->id);
      config_append_uuid (s, &svc->uuid);
      g_string_append (s, svc->primary ? " (primary)\n" : " (secondary)\n");
      for (guint c = 0; c < svc->characteristics->len; c++)
        {
          BpCharacteristicConfig *chr = g_ptr_array_index (svc->characteristics, c);
          g_auto (GStrv) flags = bp_flags_to_strv (chr->flags);
          g_autofree char *flags_text = g_strjoinv (",", flags);
          gsize len = 0;
          const guint8 *data = g_bytes_get_data (chr->initial, &len);

          g_string_append_printf (s, "  characteristic %s: ", chr->id);
          config_append_uuid (s, &chr->uuid);
          g_string_append_printf (s, "\n    flags: %s\n    initial value: ", flags_text);
          config_append_bytes (s, chr->initial);
          if (chr->format != BP_FORMAT_NONE && len > 0)
            {
              g_autofree char *shown = bp_value_to_display (data, len, chr->format, chr->exponent);
              g_string_append_printf (s, " (%s)", shown);
            }
          g_string_append_printf (s, "\n    max length: %u%s\n", chr->max_length,
                                  chr->append ? ", append (take empties the buffer)" : "");
          if (chr->capture)
            g_string_append_printf (s, "    capture: queue of %u\n", chr->queue_length);
          if (chr->format != BP_FORMAT_NONE)
            {
              g_string_append_printf (s, "    format: %s, exponent %d", bp_format_name (chr->format), chr->exponent);
              if (chr->has_unit)
                g_string_append_printf (s, ", unit 0x%04X", chr->unit);
              g_string_append_c (s, '\n');
            }
          if (chr->read_handler == BP_READ_HANDLER_SOCKET)
            {
              g_string_append (s, "    reads: answered by a producer (serve), timeout ");
              config_append_duration (s, chr->read_timeout_us);
              g_string_append_c (s, '\n');
            }
          if (chr->min_read_interval_us > 0)
            {
              g_string_append (s, "    min read interval: ");
              config_append_duration (s, chr->min_read_interval_us);
              g_string_append_c (s, '\n');
            }
          if (chr->notify_on_subscribe)
            g_string_append (s, "    notify on subscribe\n");
          if (chr->description != NULL)
            {
              g_autofree char *hex = bp_value_to_hex ((const guint8 *) chr->description,
                                                      strlen (chr->description));
              g_string_append_printf (s, "    descriptor 0x2901 (generated, user description \"%s\"): %s\n",
                                      chr->description, hex);
            }
          if (chr->presentation_format && chr->format != BP_FORMAT_NONE)
            {
              guint16 unit = chr->has_unit ? chr->unit : 0x2700;
              guint8 pf[7] = {
                bp_format_gatt_code (chr->format), (guint8) (gint8) chr->exponent,
                unit & 0xff, unit >> 8, 0x01, 0x00, 0x00,
              };
              g_autofree char *hex = bp_value_to_hex (pf, sizeof pf);
              g_string_append_printf (s, "    descriptor 0x2904 (generated, presentation format): %s\n", hex);
            }
          for (guint d = 0; d < chr->descriptors->len; d++)
            {
              BpDescriptorConfig *desc = g_ptr_array_index (chr->descriptors, d);
              g_auto (GStrv) dflags = bp_flags_to_strv (desc->flags);
              g_autofree char *dflags_text = g_strjoinv (",", dflags);

              g_string_append_printf (s, "    descriptor %s: ", desc->id);
              config_append_uuid (s, &desc->uuid);
              g_string_append_printf (s, " [%s]: ", dflags_text);
              config_append_bytes (s, desc->value);
              g_string_append_c (s, '\n');
            }
        }
    }

  g_string_append_printf (s, "\nadvertising: %s, %s, %s\n", a->enabled ? "enabled" : "disabled (advertise on starts it)",
                          a->connectable ? "connectable" : "not connectable (broadcast)",
                          a->limited_discoverable ? "limited discoverable"
                          : a->discoverable ? "discoverable" : "not discoverable");
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
    g_string_append_printf (s, "  scan response: %" G_GSIZE_FORMAT " of %d bytes (name %" G_GSIZE_FORMAT
                            ", scan response data %" G_GSIZE_FORMAT ")\n", sr, ADV_MAX, name, sr - name);
  }
  if (a->scan_response != NULL)
    {
      g_string_append_printf (s, "  scan response data: %" G_GSIZE_FORMAT " bytes: ",
                              g_bytes_get_size (a->scan_response));
      config_append_bytes (s, a->scan_response);
      g_string_append_c (s, '\n');
    }
  return g_string_free (s, FALSE);
}
