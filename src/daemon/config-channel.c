/* [Channel NAME] groups: LE L2CAP connection-oriented channels that centrals
 * open to stream frames both ways beside GATT (SPEC §3, docs/protocol.md).
 * Each channel may add a read-only characteristic holding its PSM to a
 * service (Apple's convention: UUID ABDD3056-…, uint16 little-endian), which
 * the channel server fills in once the kernel has given it a PSM. */
#define G_LOG_DOMAIN "config"

#include "daemon/config.h"

#include <string.h>

#include "daemon/config-private.h"

/* The smallest SDU size an LE credit-based channel may use (Core spec, L2CAP: MTU ≥ 23). */
#define CHANNEL_MTU_MIN 23
#define CHANNEL_MTU_MAX 65535
#define CHANNEL_QUEUE_MAX 1024
#define CHANNEL_CENTRALS_MAX 32

BpChannelConfig *
bp_channel_config_copy (const BpChannelConfig *c)
{
  BpChannelConfig *copy = g_memdup2 (c, sizeof *c);

  copy->name = g_strdup (c->name);
  copy->service_id = g_strdup (c->service_id);
  copy->psm_characteristic = g_strdup (c->psm_characteristic);
  return copy;
}

void
bp_channel_config_free (BpChannelConfig *c)
{
  if (c == NULL)
    return;
  g_free (c->name);
  g_free (c->service_id);
  g_free (c->psm_characteristic);
  g_free (c);
}

gboolean
bp_channel_config_equal (const BpChannelConfig *a, const BpChannelConfig *b)
{
  return g_strcmp0 (a->name, b->name) == 0 && a->psm == b->psm && g_strcmp0 (a->service_id, b->service_id) == 0 &&
         a->mtu == b->mtu && a->security == b->security && a->max_centrals == b->max_centrals &&
         a->framing == b->framing && a->queue_length == b->queue_length && a->on_full == b->on_full;
}

const char *
bp_channel_security_name (BpChannelSecurity s)
{
  switch (s)
    {
    case BP_CHANNEL_SECURITY_MEDIUM:
      return "medium";
    case BP_CHANNEL_SECURITY_HIGH:
      return "high";
    case BP_CHANNEL_SECURITY_LOW:
    default:
      return "low";
    }
}

const char *
bp_channel_framing_name (BpChannelFraming f)
{
  return f == BP_CHANNEL_FRAMING_SDU ? "sdu" : "length";
}

const char *
bp_channel_on_full_name (BpChannelOnFull f)
{
  return f == BP_CHANNEL_ON_FULL_WAIT ? "wait" : "drop-oldest";
}

/* Channel names become file names (channel/NAME) and words of the control
 * protocol: letters, digits, '_' and '-' only. */
static gboolean
channel_name_valid (const char *name)
{
  if (*name == '\0' || strlen (name) > 64)
    return FALSE;
  for (const char *p = name; *p; p++)
    if (!g_ascii_isalnum (*p) && *p != '_' && *p != '-')
      return FALSE;
  return TRUE;
}

/* One of words (NULL-terminated) → its index, else a key error listing them. */
static gboolean
parse_word (const Group *g, const Entry *e, const char *const *words, guint *out, GError **error)
{
  g_autofree char *expected = NULL;

  for (guint i = 0; words[i] != NULL; i++)
    if (strcmp (e->value, words[i]) == 0)
      {
        *out = i;
        return TRUE;
      }
  expected = g_strjoinv (" or ", (char **) words);
  config_key_error (error, g, e, "expected %s, got '%s'", expected, e->value);
  return FALSE;
}

/* Adds the read-only PSM characteristic to service s. */
static gboolean
add_psm_characteristic (Loader *l, const Group *g, const Entry *e, BpServiceConfig *s, BpChannelConfig *c,
                        GError **error)
{
  BpCharacteristicConfig *chr;
  BpUuid uuid;

  bp_uuid_parse (BP_CHANNEL_PSM_UUID, &uuid, NULL);
  for (guint i = 0; i < s->characteristics->len; i++)
    {
      BpCharacteristicConfig *other = g_ptr_array_index (s->characteristics, i);
      if (bp_uuid_equal (&other->uuid, &uuid))
        {
          config_key_error (error, g, e,
                            "the service '%s' already holds a PSM characteristic (%s): "
                            "give each channel a service of its own",
                            s->id, other->id);
          return FALSE;
        }
    }
  chr = g_new0 (BpCharacteristicConfig, 1);
  chr->id = g_strdup_printf ("%s/%s.psm", s->id, c->name);
  if (g_hash_table_contains (l->chars, chr->id))
    {
      config_key_error (error, g, e, "the characteristic %s, which would hold the PSM, is declared already", chr->id);
      g_free (chr->id);
      g_free (chr);
      return FALSE;
    }
  chr->service_id = g_strdup (s->id);
  chr->name = g_strdup_printf ("%s.psm", c->name);
  chr->uuid = uuid;
  chr->flags = BP_FLAG_READ;
  if (c->psm != 0)
    {
      guint8 le[2] = { c->psm & 0xff, c->psm >> 8 };
      chr->initial = g_bytes_new (le, sizeof le);
    }
  else
    chr->initial = g_bytes_new (NULL, 0); /* filled in when the kernel has given the PSM */
  chr->max_length = 2;
  chr->queue_length = 64;
  chr->read_timeout_us = US_PER_S;
  chr->descriptors = g_ptr_array_new ();
  g_ptr_array_add (s->characteristics, chr);
  g_hash_table_insert (l->chars, chr->id, chr);
  c->psm_characteristic = g_strdup (chr->id);
  return TRUE;
}

static gboolean
load_channel (Loader *l, const Group *g, GError **error)
{
  static const char *const keys[] = {
    "PSM", "Service", "MTU", "Security", "MaxCentrals", "Framing", "QueueLength", "OnFull", NULL,
  };
  static const char *const securities[] = { "low", "medium", "high", NULL };
  static const char *const framings[] = { "length", "sdu", NULL };
  static const char *const on_fulls[] = { "drop-oldest", "wait", NULL };
  const char *name = g->name + strlen ("Channel ");
  BpChannelConfig *c;
  Entry *e;
  guint v;

  if (!channel_name_valid (name))
    {
      config_group_error (error, g, "the channel name '%s' may only hold letters, digits, '_' and '-' (64 at most)",
                          name);
      return FALSE;
    }
  if (!config_check_keys (g, keys, error))
    return FALSE;

  c = g_new0 (BpChannelConfig, 1);
  c->name = g_strdup (name);
  c->mtu = CHANNEL_MTU_MAX;
  c->security = BP_CHANNEL_SECURITY_LOW;
  c->max_centrals = 1;
  c->framing = BP_CHANNEL_FRAMING_LENGTH;
  c->queue_length = 8;
  c->on_full = BP_CHANNEL_ON_FULL_DROP_OLDEST;
  g_ptr_array_add (l->config->channels, c);

  if ((e = config_group_find (g, "PSM")) != NULL && strcmp (e->value, "auto") != 0)
    {
      guint64 psm = 0;
      gboolean overflow = FALSE;

      if (!config_scan_u64 (e->value, &psm, &overflow) || overflow || psm < BP_CHANNEL_PSM_MIN ||
          psm > BP_CHANNEL_PSM_MAX)
        {
          config_key_error (error, g, e,
                            "expected auto or a dynamic LE PSM from 0x80 to 0xFF (lower ones are reserved, "
                            "higher ones the kernel refuses), got '%s'",
                            e->value);
          return FALSE;
        }
      c->psm = (guint) psm;
      for (guint i = 0; i + 1 < l->config->channels->len; i++)
        {
          BpChannelConfig *other = g_ptr_array_index (l->config->channels, i);
          if (other->psm == c->psm)
            {
              config_key_error (error, g, e, "PSM 0x%02X is the PSM of [Channel %s] already", c->psm, other->name);
              return FALSE;
            }
        }
    }
  if ((e = config_group_find (g, "MTU")) != NULL &&
      !config_parse_uint (g, e, CHANNEL_MTU_MIN, CHANNEL_MTU_MAX, &c->mtu, error))
    return FALSE;
  if ((e = config_group_find (g, "Security")) != NULL)
    {
      if (!parse_word (g, e, securities, &v, error))
        return FALSE;
      c->security = (BpChannelSecurity) (v + 1);
    }
  if ((e = config_group_find (g, "MaxCentrals")) != NULL &&
      !config_parse_uint (g, e, 1, CHANNEL_CENTRALS_MAX, &c->max_centrals, error))
    return FALSE;
  if ((e = config_group_find (g, "Framing")) != NULL)
    {
      if (!parse_word (g, e, framings, &v, error))
        return FALSE;
      c->framing = (BpChannelFraming) v;
    }
  if ((e = config_group_find (g, "QueueLength")) != NULL &&
      !config_parse_uint (g, e, 1, CHANNEL_QUEUE_MAX, &c->queue_length, error))
    return FALSE;
  if ((e = config_group_find (g, "OnFull")) != NULL)
    {
      if (!parse_word (g, e, on_fulls, &v, error))
        return FALSE;
      c->on_full = (BpChannelOnFull) v;
    }
  if ((e = config_group_find (g, "Service")) != NULL)
    {
      BpServiceConfig *s = g_hash_table_lookup (l->services, e->value);

      if (s == NULL)
        {
          config_key_error (error, g, e, "the service '%s' is not declared: add a [Service %s] group", e->value,
                            e->value);
          return FALSE;
        }
      c->service_id = g_strdup (s->id);
      if (!add_psm_characteristic (l, g, e, s, c, error))
        return FALSE;
    }
  return TRUE;
}

gboolean
config_load_channels (Loader *l, GError **error)
{
  for (guint i = 0; i < l->channel_groups->len; i++)
    if (!load_channel (l, g_ptr_array_index (l->channel_groups, i), error))
      return FALSE;
  return TRUE;
}

void
config_describe_channels (GString *s, const BpConfig *config)
{
  for (guint i = 0; i < config->channels->len; i++)
    {
      BpChannelConfig *c = g_ptr_array_index (config->channels, i);

      g_string_append_printf (s, "\nchannel %s: L2CAP LE credit-based, PSM ", c->name);
      if (c->psm == 0)
        g_string_append (s, "auto (0x80-0xFF, the kernel picks)");
      else
        g_string_append_printf (s, "0x%02X", c->psm);
      g_string_append_printf (s, "\n  mtu %u, security %s, max centrals %u\n", c->mtu,
                              bp_channel_security_name (c->security), c->max_centrals);
      g_string_append_printf (s, "  framing %s, queue %u frames per central, when full %s\n",
                              bp_channel_framing_name (c->framing), c->queue_length,
                              bp_channel_on_full_name (c->on_full));
      if (c->psm_characteristic != NULL)
        g_string_append_printf (s, "  PSM published in characteristic %s (" BP_CHANNEL_PSM_UUID ")\n",
                                c->psm_characteristic);
      else
        g_string_append (s, "  PSM not published in GATT (no Service=)\n");
    }
}
