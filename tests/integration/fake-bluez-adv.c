/* The stand-in bluetoothd's LEAdvertisingManager1: RegisterAdvertisement
 * reads the advertisement's properties, checks them and sizes the legacy
 * advertising data as bluetoothd 5.66 does (src/advertising.c), Timeout
 * expiry and Release(). */
#define G_LOG_DOMAIN "fake-bluez"

#include "fake-bluez-private.h"

#include <string.h>

/* --- records -------------------------------------------------------------- */

void
fake_advertisement_free (FakeAdvertisement *adv)
{
  g_free (adv->sender);
  g_free (adv->path);
  g_free (adv->error_name);
  g_free (adv->error_message);
  g_clear_pointer (&adv->properties, g_variant_unref);
  g_free (adv->type);
  g_free (adv);
}

guint
fake_bluez_count_live_advertisements (FakeBluez *fb)
{
  guint n = 0;

  for (guint i = 0; i < fb->advertisements->len; i++)
    {
      FakeAdvertisement *adv = g_ptr_array_index (fb->advertisements, i);
      if (fake_registration_is_live (adv->state))
        n++;
    }
  return n;
}

void
fake_bluez_emit_adv_instances (FakeBluez *fb)
{
  g_autoptr (GVariant) props = NULL;
  GVariantBuilder b;
  guint8 active = 0, supported = 0;

  if (!fake_bluez_has_adapter (fb))
    return;
  props = g_variant_ref_sink (fake_bluez_object_properties (fb, FAKE_BLUEZ_ADAPTER_PATH, IFACE_ADV_MANAGER));
  g_variant_lookup (props, "ActiveInstances", "y", &active);
  g_variant_lookup (props, "SupportedInstances", "y", &supported);
  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "SupportedInstances", g_variant_new_byte (supported));
  g_variant_builder_add (&b, "{sv}", "ActiveInstances", g_variant_new_byte (active));
  fake_bluez_emit_properties_changed (fb, FAKE_BLUEZ_ADAPTER_PATH, IFACE_ADV_MANAGER, g_variant_builder_end (&b));
}

/* --- LEAdvertisingManager1 ------------------------------------------------ */

static gsize
uuid_list_len (GVariant *props, const char *name)
{
  g_autofree const char **uuids = NULL;
  gsize n16 = 0, n32 = 0, n128 = 0, len = 0;

  if (!g_variant_lookup (props, name, "^a&s", &uuids))
    return 0;
  for (guint i = 0; uuids[i] != NULL; i++)
    {
      g_autofree char *u = fake_uuid_normalize (uuids[i]);
      if (u == NULL)
        continue;
      if (g_str_has_suffix (u, "-0000-1000-8000-00805f9b34fb"))
        {
          if (g_str_has_prefix (u, "0000"))
            n16++;
          else
            n32++;
        }
      else
        n128++;
    }
  /* One AD structure per UUID size: length, type, UUIDs. */
  if (n16)
    len += 2 + 2 * n16;
  if (n32)
    len += 2 + 4 * n32;
  if (n128)
    len += 2 + 16 * n128;
  return len;
}

static gsize
uuid_short_size (const char *text)
{
  g_autofree char *u = fake_uuid_normalize (text);

  if (u == NULL)
    return 16;
  if (!g_str_has_suffix (u, "-0000-1000-8000-00805f9b34fb"))
    return 16;
  return g_str_has_prefix (u, "0000") ? 2 : 4;
}

/* The AD types bluetoothd refuses in Data and ScanResponseData (its
 * src/shared/ad.c type_reject_list, the same from 5.66 to 5.82). */
static gboolean
ad_type_refused (guint8 type)
{
  static const guint8 refused[] = {
    0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0A, 0x0D, 0x0E, 0x0F,
    0x10, 0x11, 0x12, 0x14, 0x15, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D,
    0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x3D, 0xFF,
  };
  return memchr (refused, type, sizeof refused) != NULL;
}

/* A Data or ScanResponseData property: each value 'ay', no refused type. */
static char *
raw_ad_check (GVariant *props, const char *name)
{
  GVariant *value;
  GVariantIter iter;

  if (g_variant_lookup (props, name, "@a{yv}", &value))
    {
      g_autoptr (GVariant) owned = value;
      GVariant *inner;
      guint8 type;
      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, "{yv}", &type, &inner))
        {
          g_autoptr (GVariant) owned_inner = inner;
          if (!g_variant_is_of_type (inner, G_VARIANT_TYPE_BYTESTRING))
            return g_strdup_printf ("%s value is not 'ay'", name);
          if (ad_type_refused (type))
            return g_strdup_printf ("%s: AD type 0x%02x is refused", name, type);
        }
    }
  return NULL;
}

/* Checks the advertisement as parse_advertisement() does; NULL when fine. */
static char *
advertisement_check (FakeBluez *fb, GVariant *props, gboolean *includes_appearance, gboolean *includes_tx_power,
                     gboolean *includes_name)
{
  static const struct {
    const char *name;
    const char *type;
  } types[] = {
    { "Type", "s" },
    { "ServiceUUIDs", "as" },
    { "SolicitUUIDs", "as" },
    { "ManufacturerData", "a{qv}" },
    { "ServiceData", "a{sv}" },
    { "Includes", "as" },
    { "LocalName", "s" },
    { "Appearance", "q" },
    { "Duration", "q" },
    { "Timeout", "q" },
    { "Data", "a{yv}" },
    { "Discoverable", "b" },
    { "DiscoverableTimeout", "q" },
    { "SecondaryChannel", "s" },
  };
  const char *type = "broadcast";
  g_autofree const char **includes = NULL;
  gboolean discoverable = FALSE, has_flags = FALSE;
  guint16 timeout = 0, disc_timeout = 0;
  GVariantIter iter;
  GVariant *value;
  const char *key;

  for (guint i = 0; i < G_N_ELEMENTS (types); i++)
    {
      g_autoptr (GVariant) v = g_variant_lookup_value (props, types[i].name, NULL);
      if (v != NULL && !g_variant_is_of_type (v, G_VARIANT_TYPE (types[i].type)))
        return g_strdup_printf ("%s is not '%s'", types[i].name, types[i].type);
    }
  g_variant_lookup (props, "Type", "&s", &type);
  if (g_strcmp0 (type, "broadcast") != 0 && g_strcmp0 (type, "peripheral") != 0)
    return g_strdup_printf ("Type \"%s\"", type);
  for (guint k = 0; k < 2; k++)
    {
      const char *list = k == 0 ? "ServiceUUIDs" : "SolicitUUIDs";
      g_autofree const char **uuids = NULL;
      if (g_variant_lookup (props, list, "^a&s", &uuids))
        for (guint i = 0; uuids[i] != NULL; i++)
          {
            g_autofree char *u = fake_uuid_normalize (uuids[i]);
            if (u == NULL)
              return g_strdup_printf ("%s: bad UUID \"%s\"", list, uuids[i]);
          }
    }
  if (g_variant_lookup (props, "ManufacturerData", "@a{qv}", &value))
    {
      g_autoptr (GVariant) owned = value;
      g_variant_iter_init (&iter, value);
      GVariant *inner;
      while (g_variant_iter_next (&iter, "{qv}", NULL, &inner))
        {
          g_autoptr (GVariant) owned_inner = inner;
          if (!g_variant_is_of_type (inner, G_VARIANT_TYPE_BYTESTRING))
            return g_strdup ("ManufacturerData value is not 'ay'");
        }
    }
  if (g_variant_lookup (props, "ServiceData", "@a{sv}", &value))
    {
      g_autoptr (GVariant) owned = value;
      GVariant *inner;
      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, "{&sv}", &key, &inner))
        {
          g_autoptr (GVariant) owned_inner = inner;
          g_autofree char *u = fake_uuid_normalize (key);
          if (u == NULL || !g_variant_is_of_type (inner, G_VARIANT_TYPE_BYTESTRING))
            return g_strdup_printf ("ServiceData entry \"%s\"", key);
        }
    }
  {
    char *why = raw_ad_check (props, "Data");
    /* ScanResponseData: parsed from 5.80 on (ignored before) like Data */
    if (why == NULL && fake_bluez_version_at_least (fb, 5, 80))
      why = raw_ad_check (props, "ScanResponseData");
    if (why != NULL)
      return why;
  }
  *includes_appearance = *includes_tx_power = *includes_name = FALSE;
  if (g_variant_lookup (props, "Includes", "^a&s", &includes))
    {
      *includes_appearance = g_strv_contains (includes, "appearance");
      *includes_tx_power = g_strv_contains (includes, "tx-power");
      *includes_name = g_strv_contains (includes, "local-name");
    }
  if (*includes_name && g_variant_lookup (props, "LocalName", "&s", NULL))
    return g_strdup ("LocalName with the local-name include");
  if (*includes_appearance && g_variant_lookup (props, "Appearance", "q", NULL))
    return g_strdup ("Appearance with the appearance include");
  if (g_variant_lookup (props, "SecondaryChannel", "&s", NULL))
    return g_strdup ("SecondaryChannel needs extended advertising");
  if (g_variant_lookup (props, "Discoverable", "b", &discoverable))
    has_flags = discoverable;
  if (has_flags && g_strcmp0 (type, "broadcast") == 0)
    return g_strdup ("Broadcast cannot set flags");
  g_variant_lookup (props, "Timeout", "q", &timeout);
  if (g_variant_lookup (props, "DiscoverableTimeout", "q", &disc_timeout) && has_flags && timeout &&
      timeout < disc_timeout)
    return g_strdup ("DiscoverableTimeout > Timeout");
  /* parsed from 5.77 on, before only with -E */
  if (fake_bluez_shows_supported_features (fb))
    {
      guint32 min = 0, max = 0;
      gint16 tx = 0;
      g_autoptr (GVariant) any_min = g_variant_lookup_value (props, "MinInterval", NULL);
      g_autoptr (GVariant) any_max = g_variant_lookup_value (props, "MaxInterval", NULL);
      g_autoptr (GVariant) any_tx = g_variant_lookup_value (props, "TxPower", NULL);
      gboolean has_min = g_variant_lookup (props, "MinInterval", "u", &min);
      gboolean has_max = g_variant_lookup (props, "MaxInterval", "u", &max);

      if ((any_min != NULL && !has_min) || (any_max != NULL && !has_max))
        return g_strdup ("MinInterval/MaxInterval are not 'u'");
      /* ms / 0.625 within 0x20…0xFFFFFF */
      if ((has_min && (min * 8 / 5 < 0x20 || min * 8 / 5 > 0xFFFFFF)) ||
          (has_max && (max * 8 / 5 < 0x20 || max * 8 / 5 > 0xFFFFFF)))
        return g_strdup ("MinInterval/MaxInterval out of range");
      if (has_min && has_max && min > max)
        return g_strdup_printf ("MinInterval must be less than MaxInterval (%u > %u)", min, max);
      if (any_tx != NULL && (!g_variant_lookup (props, "TxPower", "n", &tx) || tx < -127 || tx > 20))
        return g_strdup ("TxPower");
    }
  return NULL;
}

/* The legacy advertising data and scan response as bluetoothd builds them
 * (refresh_legacy_adv), with the room the kernel keeps for its own fields. */
static void
advertisement_sizes (FakeBluez *fb, GVariant *props, gboolean includes_appearance, gboolean includes_tx_power,
                     gboolean includes_name, gsize *adv_len, gsize *adv_max, gsize *scan_len)
{
  gsize len = 0, max = FAKE_BLUEZ_MAX_ADV_LEN;
  gboolean discoverable = FALSE;
  const char *type = "broadcast", *name = NULL;
  GVariantIter iter;
  GVariant *value, *inner;
  const char *key;

  g_variant_lookup (props, "Type", "&s", &type);
  if (g_variant_lookup (props, "Discoverable", "b", &discoverable) && discoverable)
    len += 3; /* Flags */
  else if (g_strcmp0 (type, "peripheral") == 0 && fb->discoverable)
    max -= 3; /* the kernel adds the Flags */
  len += uuid_list_len (props, "ServiceUUIDs");
  len += uuid_list_len (props, "SolicitUUIDs");
  if (g_variant_lookup (props, "ManufacturerData", "@a{qv}", &value))
    {
      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, "{qv}", NULL, &inner))
        {
          len += 2 + 2 + g_variant_get_size (inner);
          g_variant_unref (inner);
        }
      g_variant_unref (value);
    }
  if (g_variant_lookup (props, "ServiceData", "@a{sv}", &value))
    {
      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, "{&sv}", &key, &inner))
        {
          len += 2 + uuid_short_size (key) + g_variant_get_size (inner);
          g_variant_unref (inner);
        }
      g_variant_unref (value);
    }
  if (g_variant_lookup (props, "Appearance", "q", NULL) || includes_appearance)
    len += 4;
  if (includes_appearance)
    max -= 4;
  if (includes_tx_power)
    max -= 3;
  if (g_variant_lookup (props, "Data", "@a{yv}", &value))
    {
      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, "{yv}", NULL, &inner))
        {
          len += 2 + g_variant_get_size (inner);
          g_variant_unref (inner);
        }
      g_variant_unref (value);
    }
  *adv_len = len;
  *adv_max = max;
  /* The name goes in the scan response, shortened to fit. */
  *scan_len = 0;
  if (g_variant_lookup (props, "LocalName", "&s", &name) || includes_name)
    *scan_len = MIN (2 + strlen (name ? name : fb->alias), (gsize) FAKE_BLUEZ_MAX_ADV_LEN);
  /* ScanResponseData: parsed from 5.80 on, ignored before */
  if (fake_bluez_version_at_least (fb, 5, 80) && g_variant_lookup (props, "ScanResponseData", "@a{yv}", &value))
    {
      g_variant_iter_init (&iter, value);
      while (g_variant_iter_next (&iter, "{yv}", NULL, &inner))
        {
          *scan_len += 2 + g_variant_get_size (inner);
          g_variant_unref (inner);
        }
      g_variant_unref (value);
    }
}

typedef struct {
  FakeBluez *fb;
  FakeAdvertisement *adv;
} AdvTimeout;

static void
advertisement_cancel_timeout (FakeBluez *fb, FakeAdvertisement *adv)
{
  g_hash_table_remove (fb->adv_timeouts, adv);
}

static gboolean
adv_timeout_fired_cb (gpointer data)
{
  AdvTimeout *t = data;
  FakeBluez *fb = t->fb;
  FakeAdvertisement *adv = t->adv;

  g_debug ("advertisement %s%s: Timeout expired, Release()", adv->sender, adv->path);
  adv->state = FAKE_REGISTRATION_RELEASED;
  fake_bluez_send_no_reply (fb, adv->sender, adv->path, IFACE_ADV, "Release", NULL);
  fake_bluez_emit_adv_instances (fb);
  g_hash_table_remove (fb->adv_timeouts, adv); /* destroys this source */
  return G_SOURCE_REMOVE;
}

static void
advertisement_arm_timeout (FakeBluez *fb, FakeAdvertisement *adv)
{
  guint16 timeout = 0;
  GSource *source;
  AdvTimeout *t;

  advertisement_cancel_timeout (fb, adv);
  if (!g_variant_lookup (adv->properties, "Timeout", "q", &timeout) || timeout == 0)
    return;
  t = g_new0 (AdvTimeout, 1);
  t->fb = fb;
  t->adv = adv;
  source = g_timeout_source_new_seconds (timeout);
  g_source_set_callback (source, adv_timeout_fired_cb, t, g_free);
  g_source_attach (source, g_main_context_get_thread_default ());
  g_hash_table_insert (fb->adv_timeouts, adv, source);
}

static void
advertisement_apply (FakeBluez *fb, FakeAdvertisement *adv)
{
  const char *type = NULL;

  adv->type_missing = !g_variant_lookup (adv->properties, "Type", "&s", &type);
  g_free (adv->type);
  adv->type = g_strdup (type ? type : "broadcast");
}

static void
adv_properties_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  PendingRegistration *p = data;
  FakeBluez *fb = p->fb;
  FakeAdvertisement *adv = p->adv;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  g_autofree char *why = NULL;
  gboolean inc_appearance = FALSE, inc_tx = FALSE, inc_name = FALSE;
  gsize adv_max = 0;

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    {
      fake_pending_registration_free (p);
      return;
    }
  if (adv->state != FAKE_REGISTRATION_PENDING)
    {
      fake_pending_registration_free (p);
      return;
    }
  if (reply == NULL)
    {
      g_message ("RegisterAdvertisement %s%s: GetAll failed: %s", adv->sender, adv->path, error->message);
      fake_registration_fail (g_steal_pointer (&p->invocation), &adv->state, &adv->error_name, &adv->error_message,
                              ERROR_FAILED, "Failed to parse advertisement.");
      fake_pending_registration_free (p);
      return;
    }
  adv->properties = g_variant_get_child_value (reply, 0);
  advertisement_apply (fb, adv);
  why = advertisement_check (fb, adv->properties, &inc_appearance, &inc_tx, &inc_name);
  if (why != NULL)
    {
      g_message ("RegisterAdvertisement %s%s refused: %s", adv->sender, adv->path, why);
      fake_registration_fail (g_steal_pointer (&p->invocation), &adv->state, &adv->error_name, &adv->error_message,
                              ERROR_FAILED, "Failed to parse advertisement.");
      fake_pending_registration_free (p);
      return;
    }
  advertisement_sizes (fb, adv->properties, inc_appearance, inc_tx, inc_name, &adv->adv_data_len, &adv_max,
                       &adv->scan_rsp_len);
  if (adv->adv_data_len > adv_max)
    {
      g_message ("RegisterAdvertisement %s%s refused: advertising data of %" G_GSIZE_FORMAT
                 " bytes, room for %" G_GSIZE_FORMAT,
                 adv->sender, adv->path, adv->adv_data_len, adv_max);
      fake_registration_fail (g_steal_pointer (&p->invocation), &adv->state, &adv->error_name, &adv->error_message,
                              ERROR_FAILED, "Failed to register advertisement");
      fake_pending_registration_free (p);
      return;
    }
  g_debug ("RegisterAdvertisement %s%s: %s, %" G_GSIZE_FORMAT " + %" G_GSIZE_FORMAT " bytes", adv->sender, adv->path,
           adv->type, adv->adv_data_len, adv->scan_rsp_len);
  adv->state = FAKE_REGISTRATION_ACTIVE;
  adv->broadcasting = TRUE;
  advertisement_arm_timeout (fb, adv);
  fake_bluez_emit_adv_instances (fb);
  g_dbus_method_invocation_return_value (g_steal_pointer (&p->invocation), NULL);
  fake_pending_registration_free (p);
}

static FakeAdvertisement *
find_live_advertisement (FakeBluez *fb, const char *sender, const char *path)
{
  for (guint i = 0; i < fb->advertisements->len; i++)
    {
      FakeAdvertisement *adv = g_ptr_array_index (fb->advertisements, i);
      if (fake_registration_is_live (adv->state) && g_strcmp0 (adv->sender, sender) == 0 &&
          g_strcmp0 (adv->path, path) == 0)
        return adv;
    }
  return NULL;
}

void
fake_bluez_advertisement_properties_changed (FakeBluez *fb, const char *sender, const char *path, GVariant *changed,
                                             const char *const *invalidated)
{
  FakeAdvertisement *adv = find_live_advertisement (fb, sender, path);
  GVariantDict dict;
  GVariantIter iter;
  const char *key;
  GVariant *value;

  if (adv == NULL || adv->state != FAKE_REGISTRATION_ACTIVE)
    return;
  /* bluetoothd applies changed properties and refreshes the advertisement. */
  g_variant_dict_init (&dict, adv->properties);
  g_variant_iter_init (&iter, changed);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_variant_dict_insert_value (&dict, key, value);
      g_variant_unref (value);
    }
  for (guint i = 0; invalidated != NULL && invalidated[i] != NULL; i++)
    g_variant_dict_remove (&dict, invalidated[i]);
  g_clear_pointer (&adv->properties, g_variant_unref);
  adv->properties = g_variant_ref_sink (g_variant_dict_end (&dict));
  advertisement_apply (fb, adv);
  if (g_variant_lookup (changed, "Timeout", "q", NULL))
    advertisement_arm_timeout (fb, adv);
  adv->refreshes++;
}

void
fake_bluez_handle_register_advertisement (FakeBluez *fb, const char *sender, GVariant *params,
                                          GDBusMethodInvocation *invocation)
{
  const char *path;
  FakeAdvertisement *adv;
  PendingRegistration *p;

  g_variant_get (params, "(&o@a{sv})", &path, NULL);
  adv = g_new0 (FakeAdvertisement, 1);
  adv->serial = fb->advertisements->len + 1;
  adv->sender = g_strdup (sender);
  adv->path = g_strdup (path);
  adv->time_us = g_get_monotonic_time ();
  adv->state = FAKE_REGISTRATION_PENDING;
  if (find_live_advertisement (fb, sender, path) != NULL)
    {
      g_ptr_array_add (fb->advertisements, adv);
      fake_registration_fail (invocation, &adv->state, &adv->error_name, &adv->error_message,
                              "org.bluez.Error.AlreadyExists", "Already Exists");
      return;
    }
  if (fake_bluez_count_live_advertisements (fb) >= SUPPORTED_INSTANCES)
    {
      g_ptr_array_add (fb->advertisements, adv);
      fake_registration_fail (invocation, &adv->state, &adv->error_name, &adv->error_message,
                              "org.bluez.Error.NotPermitted", "Maximum advertisements reached");
      return;
    }
  g_ptr_array_add (fb->advertisements, adv);
  fake_bluez_ensure_watch (fb, sender);

  p = g_new0 (PendingRegistration, 1);
  p->fb = fb;
  p->adv = adv;
  p->invocation = invocation;
  fake_bluez_record_call (fb, "GetAll", path, FALSE);
  g_dbus_connection_call (fb->conn, sender, path, IFACE_PROPS, "GetAll", g_variant_new ("(s)", IFACE_ADV),
                          G_VARIANT_TYPE ("(a{sv})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, REGISTRANT_TIMEOUT_MS,
                          fb->cancellable, adv_properties_cb, p);
}

void
fake_advertisement_end (FakeBluez *fb, FakeAdvertisement *adv, FakeRegistrationState state)
{
  advertisement_cancel_timeout (fb, adv);
  adv->state = state;
  adv->broadcasting = FALSE;
}

void
fake_bluez_handle_unregister_advertisement (FakeBluez *fb, const char *sender, GVariant *params,
                                            GDBusMethodInvocation *invocation)
{
  const char *path;
  FakeAdvertisement *adv;

  g_variant_get (params, "(&o)", &path);
  fb->n_unregister_advertisement++;
  adv = find_live_advertisement (fb, sender, path);
  if (adv == NULL)
    {
      g_dbus_method_invocation_return_dbus_error (invocation, "org.bluez.Error.DoesNotExist", "Does Not Exist");
      return;
    }
  fake_advertisement_end (fb, adv, FAKE_REGISTRATION_UNREGISTERED);
  fake_bluez_emit_adv_instances (fb);
  g_dbus_method_invocation_return_value (invocation, NULL);
}

/* --- queries -------------------------------------------------------------- */

GPtrArray *
fake_bluez_get_advertisements (FakeBluez *fb)
{
  return fb->advertisements;
}

FakeAdvertisement *
fake_bluez_get_active_advertisement (FakeBluez *fb)
{
  for (guint i = fb->advertisements->len; i > 0; i--)
    {
      FakeAdvertisement *adv = g_ptr_array_index (fb->advertisements, i - 1);
      if (adv->state == FAKE_REGISTRATION_ACTIVE)
        return adv;
    }
  return NULL;
}

guint
fake_bluez_count_advertisements (FakeBluez *fb, FakeRegistrationState state)
{
  guint n = 0;

  for (guint i = 0; i < fb->advertisements->len; i++)
    if (((FakeAdvertisement *) g_ptr_array_index (fb->advertisements, i))->state == state)
      n++;
  return n;
}

guint
fake_bluez_get_n_unregister_advertisement (FakeBluez *fb)
{
  return fb->n_unregister_advertisement;
}

GVariant *
fake_advertisement_get (FakeAdvertisement *adv, const char *name)
{
  if (adv->properties == NULL)
    return NULL;
  return g_variant_lookup_value (adv->properties, name, NULL);
}