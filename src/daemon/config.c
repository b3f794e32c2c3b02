/* The configuration: ble-peripheral.conf and its conf.d drop-ins, merged key
 * by key, then resolved and checked into the GATT database and the
 * advertisement. Every error names the file, the group and the key at fault
 * and says what was expected. The [Advertising] group and the advertisement's
 * size are config-advertising.c's, the typed values config-values.c's. */
#define G_LOG_DOMAIN "config"

/* This module's header; here "config.h" would name it too, since it sits in
 * the same folder as this file and shadows the build's config.h. */
#include "daemon/config.h"

#include <string.h>

#include "common/error.h"
#include "daemon/config-private.h"

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

#define MAX_FILE_SIZE (1024 * 1024)
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
#define FLAGS_ANY_NOTIFY                                                                                   \
  (BP_FLAG_NOTIFY | BP_FLAG_INDICATE | BP_FLAG_ENCRYPT_NOTIFY | BP_FLAG_ENCRYPT_INDICATE |                 \
   BP_FLAG_ENCRYPT_AUTHENTICATED_NOTIFY | BP_FLAG_ENCRYPT_AUTHENTICATED_INDICATE | BP_FLAG_SECURE_NOTIFY | \
   BP_FLAG_SECURE_INDICATE)
/* What BlueZ accepts in a GattDescriptor1's Flags. */
#define FLAGS_DESCRIPTOR                                                                                              \
  (BP_FLAG_READ | BP_FLAG_WRITE | BP_FLAG_ENCRYPT_READ | BP_FLAG_ENCRYPT_WRITE | BP_FLAG_ENCRYPT_AUTHENTICATED_READ | \
   BP_FLAG_ENCRYPT_AUTHENTICATED_WRITE | BP_FLAG_SECURE_READ | BP_FLAG_SECURE_WRITE | BP_FLAG_AUTHORIZE)

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

void
bp_config_free (BpConfig *config)
{
  if (config == NULL)
    return;
  g_free (config->source);
  g_free (config->name);
  g_free (config->adapter);
  config_advertising_clear (&config->advertising);
  g_free (config->control.socket_path);
  g_free (config->control.group);
  g_clear_pointer (&config->services, g_ptr_array_unref);
  g_clear_pointer (&config->warnings, g_ptr_array_unref);
  g_free (config);
}

static BpConfig *
config_new (void)
{
  BpConfig *config = g_new0 (BpConfig, 1);

  config->max_connections = 1;
  config->power_on = TRUE;
  config->acquire_sockets = TRUE;
  config_advertising_init (&config->advertising);
  config->control.mode = 0660;
  config_security_init (&config->security);
  config->warnings = g_ptr_array_new_with_free_func (g_free);
  config->services = g_ptr_array_new_with_free_func ((GDestroyNotify) service_free);
  return config;
}

/* ------------------------------------------------------------------------ */
/* The merged key file */

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

Entry *
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
      g_set_error (error, BP_ERROR, BP_ERROR_CONFIG, "%s: the file is %" G_GSIZE_FORMAT " bytes, over the limit of %d",
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
          g_set_error (error, BP_ERROR, BP_ERROR_CONFIG, "%s: line %u: contains a NUL byte (is this a text file?)",
                       label, lineno);
          return FALSE;
        }
      if (!g_utf8_validate_len (line, line_len, NULL))
        {
          g_set_error (error, BP_ERROR, BP_ERROR_CONFIG, "%s: line %u: is not valid UTF-8", label, lineno);
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
          if (line[end - 1] != ']' || inner_len < 2 || memchr (inner, '[', inner_len - 1) != NULL ||
              memchr (inner, ']', inner_len - 1) != NULL)
            {
              g_autofree char *ex = excerpt (line + start, end - start);
              g_set_error (error, BP_ERROR, BP_ERROR_CONFIG,
                           "%s: line %u: expected a group header such as [Peripheral], got '%s'", label, lineno, ex);
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
                         "%s: line %u: expected [Group], Key=Value or a # comment, got '%s'", label, lineno, ex);
            return FALSE;
          }
        if (memchr (line + start, '[', (gsize) (eq - line - start)) != NULL)
          {
            /* GKeyFile would keep Key[locale] entries apart and unseen */
            g_autofree char *ex = excerpt (line + start, (gsize) (eq - line - start));
            g_strchomp (ex);
            g_set_error (error, BP_ERROR, BP_ERROR_CONFIG,
                         "%s: line %u: '%s' is a localized key, which ble-peripheral does not read", label, lineno, ex);
            return FALSE;
          }
        if (!seen_group)
          {
            g_autofree char *ex = excerpt (line + start, end - start);
            g_set_error (error, BP_ERROR, BP_ERROR_CONFIG, "%s: line %u: '%s' comes before the first [Group]", label,
                         lineno, ex);
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
/* Flags= and group IDs */

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

/* AcquireSockets=auto|off: "auto" lets bluetoothd acquire sockets
 * (AcquireNotify/AcquireWrite) where the daemon can keep its promises on
 * them, "off" keeps every value on D-Bus. */
static gboolean
parse_acquire_sockets (const Group *g, const Entry *e, gboolean *out, GError **error)
{
  if (g_ascii_strcasecmp (e->value, "auto") == 0)
    *out = TRUE;
  else if (g_ascii_strcasecmp (e->value, "off") == 0)
    *out = FALSE;
  else
    {
      config_key_error (error, g, e, "expected auto or off, got '%s'", e->value);
      return FALSE;
    }
  return TRUE;
}

static gboolean
load_peripheral (Loader *l, const Group *g, GError **error)
{
  static const char *const keys[] = { "Name", "Adapter", "MaxConnections", "PowerOn", "AcquireSockets", NULL };
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
          config_key_error (error, g, e,
                            "expected hciN or a controller address such as 00:1A:7D:DA:71:13, "
                            "got '%s'",
                            v);
          return FALSE;
        }
      c->adapter = g_strdup (v);
    }
  if ((e = config_group_find (g, "MaxConnections")) != NULL &&
      !config_parse_uint (g, e, 0, 255, &c->max_connections, error))
    return FALSE;
  if ((e = config_group_find (g, "PowerOn")) != NULL && !config_parse_bool (g, e, &c->power_on, error))
    return FALSE;
  if ((e = config_group_find (g, "AcquireSockets")) != NULL &&
      !parse_acquire_sockets (g, e, &c->acquire_sockets, error))
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
    "UUID",           "Flags",       "Initial",         "MaxLength",
    "Append",         "Capture",     "QueueLength",     "Format",
    "Exponent",       "Unit",        "Description",     "PresentationFormat",
    "ReadHandler",    "ReadTimeout", "MinReadInterval", "NotifyOnSubscribe",
    "AcquireSockets", NULL,
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
      config_key_error (error, g, e,
                        "unknown format '%s': expected uint8, uint16, uint24, uint32, uint64, "
                        "sint8, sint16, sint24, sint32, sint64, float32, float64, utf8 or boolean",
                        e->value);
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
          config_key_error (error, g, e,
                            "the unit goes into the 0x2904 Presentation Format descriptor, "
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
  if ((append_e = config_group_find (g, "Append")) != NULL && !config_parse_bool (g, append_e, &c->append, error))
    return FALSE;
  if ((capture_e = config_group_find (g, "Capture")) != NULL && !config_parse_bool (g, capture_e, &c->capture, error))
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
          config_key_error (error, g, e,
                            "socket needs a read flag (read, encrypt-read, …) in Flags: "
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
          config_key_error (error, g, e,
                            "%s is not under 5s: bluetoothd answers the central with ATT "
                            "0x0E itself when a read takes 5 seconds",
                            e->value);
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
  c->acquire_sockets = l->config->acquire_sockets;
  if ((e = config_group_find (g, "AcquireSockets")) != NULL &&
      !parse_acquire_sockets (g, e, &c->acquire_sockets, error))
    return FALSE;

  /* Combinations that cannot work */
  if (c->capture && !(c->flags & BP_FLAGS_ANY_WRITE))
    {
      config_key_error (error, g, capture_e,
                        "true needs a write flag (write, write-without-response, …) "
                        "in Flags: without one no central can write");
      return FALSE;
    }
  if (c->append && !(c->flags & BP_FLAGS_ANY_WRITE))
    {
      config_key_error (error, g, append_e,
                        "true needs a write flag (write, …) in Flags: "
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
        config_key_error (error, g, flags_e,
                          "write-without-response cannot be combined with Append=true: "
                          "bluetoothd acknowledges such writes before the daemon sees them, so a write that "
                          "overflows the buffer could not be refused; drop write-without-response or Append");
      else
        config_key_error (error, g, flags_e,
                          "write-without-response cannot be combined with MaxLength=%u: "
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
      config_group_error (error, g, "the characteristic '%s' is not declared: add a [Characteristic %s] group", cid,
                          cid);
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
          config_key_error (error, g, e,
                            "0x2902 (Client Characteristic Configuration) is made by bluetoothd "
                            "itself for notify and indicate; leave this descriptor out");
          return FALSE;
        }
      if (u16 == 0x2900 && (c->flags & (BP_FLAG_RELIABLE_WRITE | BP_FLAG_WRITABLE_AUXILIARIES)))
        {
          config_key_error (error, g, e,
                            "0x2900 (Extended Properties) is made by bluetoothd itself for "
                            "reliable-write and writable-auxiliaries; leave this descriptor out");
          return FALSE;
        }
      if (u16 == 0x2901 && c->description != NULL)
        {
          config_key_error (error, g, e,
                            "0x2901 (User Description) is generated from Description= of "
                            "[Characteristic %s]; keep one of them",
                            c->id);
          return FALSE;
        }
      if (u16 == 0x2904 && c->presentation_format)
        {
          config_key_error (error, g, e,
                            "0x2904 (Presentation Format) is generated from Format= of "
                            "[Characteristic %s]; set PresentationFormat=false there to write your own",
                            c->id);
          return FALSE;
        }
    }
  if ((e = config_group_find (g, "Flags")) != NULL && !parse_flags (g, e, FLAGS_DESCRIPTOR, &d->flags, error))
    return FALSE;
  if ((e = config_group_find (g, "Value")) != NULL && !config_parse_value (g, e, BP_FORMAT_NONE, 0, &d->value, error))
    return FALSE;
  return TRUE;
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
      else if (strcmp (g->name, "Security") == 0)
        l->security = g;
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
                config_group_error (error, g, "the ID '%s' may only hold letters, digits, '_', '-' and '.'", parts[k]);
                return FALSE;
              }
          g_ptr_array_add (is_char ? l->char_groups : l->desc_groups, g);
        }
      else
        {
          config_group_error (error, g,
                              "unknown group: expected [Peripheral], [Advertising], [Control], [Security], "
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
      if (g_str_has_prefix (g->name, "Service ") && !load_service (l, g, g->name + strlen ("Service "), error))
        return NULL;
    }
  for (guint i = 0; i < l->char_groups->len; i++)
    if (!load_characteristic (l, g_ptr_array_index (l->char_groups, i), error))
      return NULL;
  for (guint i = 0; i < l->desc_groups->len; i++)
    if (!load_descriptor (l, g_ptr_array_index (l->desc_groups, i), error))
      return NULL;
  if (l->advertising != NULL && !config_load_advertising (l, l->advertising, error))
    return NULL;
  if (l->security != NULL && !config_load_security (l, l->security, error))
    return NULL;
  if (!config_check_security (l, error))
    return NULL;
  if (!config_check_advertising_size (l->config, l->origins, l->main_label, error))
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
      if (name[0] == '.' || !g_str_has_suffix (name, ".conf") || !g_file_test (full, G_FILE_TEST_IS_REGULAR))
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
      g_set_error (error, BP_ERROR, BP_ERROR_AMBIGUOUS, "'%s' names several characteristics (%s): say SERVICE/CHAR",
                   name, matches->str);
      return NULL;
    }
  g_set_error (error, BP_ERROR, BP_ERROR_UNKNOWN_CHARACTERISTIC, "no characteristic '%s' in the configuration",
               name != NULL ? name : "");
  return NULL;
}

char *
bp_config_describe (const BpConfig *config)
{
  GString *s = g_string_new (NULL);

  g_string_append_printf (s, "configuration: %s%s\n", config->source ? config->source : "(unknown)",
                          config->is_default ? " (no configuration file: the built-in example)" : "");
  g_string_append_printf (s, "peripheral: name \"%s\", adapter %s, max connections %u%s, power on %s\n",
                          config->name ? config->name : "", config->adapter ? config->adapter : "(first one)",
                          config->max_connections, config->max_connections == 0 ? " (no limit)" : "",
                          config->power_on ? "yes" : "no");
  g_string_append_printf (s, "control: socket %s, mode %04o, group %s\n",
                          config->control.socket_path ? config->control.socket_path : "(default)", config->control.mode,
                          config->control.group ? config->control.group : "(none)");
  config_describe_security (s, config);

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
          if (!chr->acquire_sockets)
            g_string_append (s, "    acquired sockets: off (every value by D-Bus)\n");
          if (chr->description != NULL)
            {
              g_autofree char *hex = bp_value_to_hex ((const guint8 *) chr->description, strlen (chr->description));
              g_string_append_printf (s, "    descriptor 0x2901 (generated, user description \"%s\"): %s\n",
                                      chr->description, hex);
            }
          if (chr->presentation_format && chr->format != BP_FORMAT_NONE)
            {
              guint16 unit = chr->has_unit ? chr->unit : 0x2700;
              guint8 pf[7] = {
                bp_format_gatt_code (chr->format),
                (guint8) (gint8) chr->exponent,
                unit & 0xff,
                unit >> 8,
                0x01,
                0x00,
                0x00,
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

  config_describe_advertising (s, config);
  return g_string_free (s, FALSE);
}
