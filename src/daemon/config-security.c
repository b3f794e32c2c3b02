/* The [Security] group: Pairing=, PairingWindow=, AllowedCentrals=,
 * ConfirmTimeout=; the combinations with the characteristics' security
 * flags that can never work (errors) or likely do not do what was meant
 * (warnings); and its line in the description. */
#define G_LOG_DOMAIN "config"

#include "daemon/config-private.h"

#include <string.h>

#include "common/error.h"

/* bluetoothd waits 60 s for an agent, but the kernel's SMP gives up after
 * 30 s: an answer must leave well before that. */
#define CONFIRM_TIMEOUT_DEFAULT_US (20 * US_PER_S)
#define CONFIRM_TIMEOUT_MAX_US (25 * US_PER_S)
/* A pairing window longer than a day is almost surely a typo for 0. */
#define WINDOW_MAX_US (24 * 60 * 60 * US_PER_S)

static const char *const mode_names[] = {
  [BP_PAIRING_OFF] = "off",
  [BP_PAIRING_JUST_WORKS] = "just-works",
  [BP_PAIRING_DISPLAY] = "display",
  [BP_PAIRING_CONFIRM] = "confirm",
};

const char *
bp_pairing_mode_name (BpPairingMode mode)
{
  if ((guint) mode < G_N_ELEMENTS (mode_names))
    return mode_names[mode];
  return "off";
}

int
bp_pairing_mode_from_name (const char *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (mode_names); i++)
    if (g_strcmp0 (name, mode_names[i]) == 0)
      return (int) i;
  return -1;
}

void
config_security_init (BpSecurityConfig *s)
{
  s->pairing = BP_PAIRING_OFF;
  s->window_us = 0;
  s->allowed = BP_ALLOWED_ANY;
  s->confirm_timeout_us = CONFIRM_TIMEOUT_DEFAULT_US;
}

gboolean
config_load_security (Loader *l, const Group *g, GError **error)
{
  static const char *const keys[] = { "Pairing", "PairingWindow", "AllowedCentrals", "ConfirmTimeout", NULL };
  BpSecurityConfig *s = &l->config->security;
  Entry *e;

  if (!config_check_keys (g, keys, error))
    return FALSE;
  if ((e = config_group_find (g, "Pairing")) != NULL)
    {
      int mode = bp_pairing_mode_from_name (e->value);
      if (mode < 0)
        {
          config_key_error (error, g, e, "unknown mode '%s': expected off, just-works, display or confirm", e->value);
          return FALSE;
        }
      s->pairing = (BpPairingMode) mode;
    }
  if ((e = config_group_find (g, "PairingWindow")) != NULL &&
      !config_parse_duration (g, e, WINDOW_MAX_US, &s->window_us, error))
    return FALSE;
  if ((e = config_group_find (g, "AllowedCentrals")) != NULL)
    {
      if (strcmp (e->value, "any") == 0)
        s->allowed = BP_ALLOWED_ANY;
      else if (strcmp (e->value, "bonded") == 0)
        s->allowed = BP_ALLOWED_BONDED;
      else
        {
          config_key_error (error, g, e, "expected any or bonded, got '%s'", e->value);
          return FALSE;
        }
    }
  if ((e = config_group_find (g, "ConfirmTimeout")) != NULL)
    {
      if (!config_parse_duration (g, e, CONFIRM_TIMEOUT_MAX_US, &s->confirm_timeout_us, error))
        return FALSE;
      if (s->confirm_timeout_us < 100 * US_PER_MS)
        {
          config_key_error (error, g, e,
                            "%s is too short: expected at least 100ms (and at most 25s, under the "
                            "kernel's 30 s pairing limit)",
                            e->value);
          return FALSE;
        }
    }
  return TRUE;
}

/* The flags that need an encrypted link, and those that need MITM. */
#define FLAGS_ENCRYPT                                                                                                \
  (BP_FLAG_ENCRYPT_READ | BP_FLAG_ENCRYPT_WRITE | BP_FLAG_ENCRYPT_NOTIFY | BP_FLAG_ENCRYPT_INDICATE |                \
   BP_FLAG_ENCRYPT_AUTHENTICATED_READ | BP_FLAG_ENCRYPT_AUTHENTICATED_WRITE | BP_FLAG_ENCRYPT_AUTHENTICATED_NOTIFY | \
   BP_FLAG_ENCRYPT_AUTHENTICATED_INDICATE | BP_FLAG_SECURE_READ | BP_FLAG_SECURE_WRITE | BP_FLAG_SECURE_NOTIFY |     \
   BP_FLAG_SECURE_INDICATE)
#define FLAGS_MITM                                                                                                   \
  (BP_FLAG_ENCRYPT_AUTHENTICATED_READ | BP_FLAG_ENCRYPT_AUTHENTICATED_WRITE | BP_FLAG_ENCRYPT_AUTHENTICATED_NOTIFY | \
   BP_FLAG_ENCRYPT_AUTHENTICATED_INDICATE | BP_FLAG_SECURE_READ | BP_FLAG_SECURE_WRITE | BP_FLAG_SECURE_NOTIFY |     \
   BP_FLAG_SECURE_INDICATE)

/* The first flag name of flags & mask, for messages. */
static char *
first_flag (BpFlags flags, BpFlags mask)
{
  g_auto (GStrv) names = bp_flags_to_strv (flags & mask);
  return g_strdup (names[0] != NULL ? names[0] : "?");
}

/* One characteristic's or descriptor's Flags against [Security]. */
static gboolean
check_flags (Loader *l, const Group *g, BpFlags flags, GError **error)
{
  const BpSecurityConfig *s = &l->config->security;
  Entry *e = config_group_find (g, "Flags");
  const char *sec_file = l->security != NULL ? l->security->file : l->main_label;

  if (e == NULL)
    return TRUE;
  if (s->pairing == BP_PAIRING_JUST_WORKS && (flags & FLAGS_MITM))
    {
      g_autofree char *f = first_flag (flags, FLAGS_MITM);
      config_key_error (error, g, e,
                        "%s needs a pairing with MITM protection, which [Security] Pairing=just-works (%s) never "
                        "gives, so no central could ever use it: use Pairing=display or Pairing=confirm, or "
                        "encrypt-%s instead",
                        f, sec_file,
                        strstr (f, "read")  ? "read" :
                        strstr (f, "write") ? "write" :
                                              "notify");
      return FALSE;
    }
  if (s->pairing == BP_PAIRING_OFF && (flags & FLAGS_ENCRYPT))
    {
      g_autofree char *f = first_flag (flags, FLAGS_ENCRYPT);
      g_ptr_array_add (l->config->warnings,
                       g_strdup_printf ("%s: [%s] Flags: %s needs a paired central, but [Security] Pairing=off: no "
                                        "central can use it unless another program is bluetoothd's default agent "
                                        "(set Pairing=just-works, display or confirm)",
                                        e->file, g->name, f));
    }
  return TRUE;
}

gboolean
config_check_security (Loader *l, GError **error)
{
  const BpSecurityConfig *s = &l->config->security;

  if (s->allowed == BP_ALLOWED_BONDED && s->pairing == BP_PAIRING_OFF && s->window_us == 0)
    {
      const Group *g = l->security;
      Entry *e = config_group_find (g, "AllowedCentrals");
      config_key_error (error, g, e,
                        "bonded with Pairing=off and no PairingWindow can never work: no central could bond "
                        "through the daemon, and none without a bond may connect (set Pairing=just-works, "
                        "display or confirm)");
      return FALSE;
    }
  if (s->pairing == BP_PAIRING_OFF && s->window_us > 0 && s->allowed == BP_ALLOWED_ANY)
    {
      Entry *e = config_group_find (l->security, "PairingWindow");
      g_ptr_array_add (l->config->warnings,
                       g_strdup_printf ("%s: [Security] PairingWindow: has no effect with Pairing=off and "
                                        "AllowedCentrals=any",
                                        e != NULL ? e->file : l->main_label));
    }

  for (guint i = 0; i < l->char_groups->len; i++)
    {
      const Group *g = g_ptr_array_index (l->char_groups, i);
      BpCharacteristicConfig *c = g_hash_table_lookup (l->chars, g->name + strlen ("Characteristic "));

      if (c != NULL && !check_flags (l, g, c->flags, error))
        return FALSE;
    }
  for (guint i = 0; i < l->desc_groups->len; i++)
    {
      const Group *g = g_ptr_array_index (l->desc_groups, i);
      const char *id = g->name + strlen ("Descriptor ");
      g_autofree char *chr_id = g_strndup (id, strrchr (id, '/') - id);
      BpCharacteristicConfig *c = g_hash_table_lookup (l->chars, chr_id);

      for (guint d = 0; c != NULL && d < c->descriptors->len; d++)
        {
          BpDescriptorConfig *desc = g_ptr_array_index (c->descriptors, d);
          if (strcmp (desc->id, id) == 0 && !check_flags (l, g, desc->flags, error))
            return FALSE;
        }
    }
  return TRUE;
}

void
config_describe_security (GString *s, const BpConfig *config)
{
  const BpSecurityConfig *sec = &config->security;

  g_string_append_printf (s, "security: pairing %s", bp_pairing_mode_name (sec->pairing));
  switch (sec->pairing)
    {
    case BP_PAIRING_OFF:
      g_string_append (s, " (no agent: pairing refused)");
      break;
    case BP_PAIRING_JUST_WORKS:
      g_string_append (s, " (agent NoInputNoOutput: encryption, no MITM)");
      break;
    case BP_PAIRING_DISPLAY:
      g_string_append (s, " (agent DisplayOnly: passkey to producers, MITM)");
      break;
    case BP_PAIRING_CONFIRM:
      g_string_append (s, " (agent DisplayYesNo: producers accept or reject, confirm timeout ");
      config_append_duration (s, sec->confirm_timeout_us);
      g_string_append (s, ")");
      break;
    }
  g_string_append (s, ", window ");
  if (sec->window_us == 0)
    g_string_append (s, "always open");
  else
    {
      config_append_duration (s, sec->window_us);
      g_string_append (s, " after start and after pairing on");
    }
  g_string_append_printf (s, ", allowed centrals %s\n",
                          sec->allowed == BP_ALLOWED_BONDED ? "bonded (others only inside the window)" : "any");
}
