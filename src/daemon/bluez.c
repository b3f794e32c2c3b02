/* bluetoothd presence, adapter, devices and registrations. Everything is
 * asynchronous with a timeout; replies that arrive after the world changed
 * (bluetoothd left, the adapter went, a reload) are recognised by a
 * generation number and ignored. */
#define G_LOG_DOMAIN "bluez"

#include "build-config.h"

#include "daemon/bluez.h"

#include "daemon/fastpath.h"

#include "common/error.h"
#include "daemon/buscall.h"
#include "daemon/capabilities.h"
#include "daemon/log.h"

#define BLUEZ "org.bluez"
#define ADAPTER_IFACE "org.bluez.Adapter1"
#define DEVICE_IFACE "org.bluez.Device1"
#define GATT_MANAGER_IFACE "org.bluez.GattManager1"
#define ADV_MANAGER_IFACE "org.bluez.LEAdvertisingManager1"

#define CALL_TIMEOUT_MS 5000
#define REGISTER_TIMEOUT_MS 10000
#define RETRY_SECONDS 5
#define SHUTDOWN_TIMEOUT_MS 1000

typedef struct {
  char *path;
  char *address;
  gboolean powered;
  gboolean has_gatt_manager;
  gboolean has_adv_manager;
} Adapter;

typedef struct {
  char *path;
  char *address;
  char *adapter;
  gboolean connected;
  gboolean paired;
  gboolean bonded;
  gboolean has_bonded; /* Device1.Bonded exists (BlueZ 5.65 and later) */
} Device;

typedef enum { REG_NONE, REG_BUSY, REG_DONE, REG_FAILED } RegState;

struct _BpBluez {
  GDBusConnection *conn;
  BpPeripheral *p;
  BpGatt *gatt;
  BpAdvertisement *adv;
  char *adapter_override;
  guint watch_id;
  guint sub_objects, sub_adapter_props, sub_device_props;
  gboolean present;
  guint generation;
  GHashTable *adapters; /* path → Adapter* */
  GHashTable *devices;  /* path → Device* */
  Adapter *adapter;     /* the chosen one, or NULL */
  char *adapter_name;   /* "hci0" of the chosen one */
  gboolean power_requested;
  RegState app;
  RegState advert;
  gboolean adv_timed_out;   /* Timeout expired: stays off until "advertise on" */
  gint64 adv_registered_at; /* monotonic time of the last registration */
  gboolean reloading;
  guint retry_source;
  char *last_error; /* not to repeat the same warning every retry */
  gboolean interval_warned;
  /* what this bluetoothd can do: probed once per appearance */
  guint appearance;          /* counts bluetoothd's appearances and departures */
  gboolean caps_probed;      /* the probe of this appearance was sent */
  GCancellable *cancellable; /* cancelled when this goes */
  BpBluezStatusFunc status_func;
  gpointer status_data;
  /* shutdown */
  guint shutdown_pending;
  GSourceFunc shutdown_done;
  gpointer shutdown_data;
  guint shutdown_timeout;
};

static void update (BpBluez *bluez);

static void
adapter_free (Adapter *a)
{
  g_free (a->path);
  g_free (a->address);
  g_free (a);
}

static void
device_free (Device *d)
{
  g_free (d->path);
  g_free (d->address);
  g_free (d->adapter);
  g_free (d);
}

static gboolean
device_has_bond (const Device *d)
{
  return d->has_bonded ? d->bonded : d->paired;
}

static gboolean
device_is_ours (BpBluez *bluez, const Device *d)
{
  return bluez->adapter != NULL && g_strcmp0 (d->adapter, bluez->adapter->path) == 0 && d->address != NULL;
}

/* The bonded centrals of our adapter, by address (bluetoothd moves a
 * central to its identity address once it has its IRK). */
static void
sync_bonds (BpBluez *bluez)
{
  GPtrArray *bonds = g_ptr_array_new_with_free_func (g_free);
  GHashTableIter iter;
  Device *d;

  g_hash_table_iter_init (&iter, bluez->devices);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &d))
    if (device_is_ours (bluez, d) && device_has_bond (d))
      g_ptr_array_add (bonds, g_strdup (d->address));
  bp_peripheral_set_bonds (bluez->p, bonds);
}

static void
status_changed (BpBluez *bluez)
{
  BpState *st = bp_peripheral_get_state (bluez->p);

  st->bluez_present = bluez->present;
  st->registered = bluez->app == REG_DONE;
  st->advertising = bluez->advert == REG_DONE;
  g_free (st->adapter);
  st->adapter = g_strdup (bluez->adapter ? bluez->adapter_name : NULL);
  g_free (st->adapter_address);
  st->adapter_address = g_strdup (bluez->adapter ? bluez->adapter->address : NULL);
  sync_bonds (bluez);
  if (bluez->status_func != NULL)
    bluez->status_func (bluez, bluez->status_data);
}

static void
warn_once (BpBluez *bluez, const char *message)
{
  if (g_strcmp0 (bluez->last_error, message) == 0)
    {
      g_debug ("%s", message);
      return;
    }
  bp_log_adapter (G_LOG_LEVEL_WARNING, bluez->adapter_name, "%s", message);
  g_free (bluez->last_error);
  bluez->last_error = g_strdup (message);
}

static const char *
wanted_adapter (BpBluez *bluez)
{
  if (bluez->adapter_override != NULL)
    return bluez->adapter_override;
  return bp_peripheral_get_config (bluez->p)->adapter;
}

static gboolean
adapter_matches (Adapter *a, const char *want)
{
  const char *base = strrchr (a->path, '/');

  if (want == NULL)
    return TRUE;
  base = base ? base + 1 : a->path;
  return g_strcmp0 (base, want) == 0 || (a->address != NULL && g_ascii_strcasecmp (a->address, want) == 0);
}

static void
emit_advertising (BpBluez *bluez, gboolean on, const char *reason)
{
  BpEvent ev = { .type = BP_EVENT_ADVERTISING, .on = on, .reason = reason };
  bp_peripheral_emit (bluez->p, &ev);
}

static void
emit_adapter (BpBluez *bluez, Adapter *a, gboolean up)
{
  BpEvent ev = { .type = BP_EVENT_ADAPTER, .address = a->address, .on = up };
  bp_peripheral_emit (bluez->p, &ev);
}

/* Every central of the adapter is gone (bluetoothd or the adapter left). */
static void
drop_centrals (BpBluez *bluez)
{
  g_autoptr (GPtrArray) addrs = g_ptr_array_new_with_free_func (g_free);
  const GPtrArray *centrals = bp_peripheral_get_centrals (bluez->p);

  for (guint i = 0; i < centrals->len; i++)
    g_ptr_array_add (addrs, g_strdup (g_ptr_array_index (centrals, i)));
  for (guint i = 0; i < addrs->len; i++)
    bp_peripheral_central_disconnected (bluez->p, g_ptr_array_index (addrs, i));
}

static void
forget_links (BpBluez *bluez, const char *adapter_path)
{
  GHashTableIter iter;
  Device *d;

  g_hash_table_iter_init (&iter, bluez->devices);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &d))
    if (g_strcmp0 (d->adapter, adapter_path) == 0)
      d->connected = FALSE;
}

/* Forget registrations: bluetoothd or the adapter went, so they went too. */
static void
lose_adapter (BpBluez *bluez)
{
  gboolean was_advertising = bluez->advert == REG_DONE;

  bluez->generation++;
  if (bluez->adapter != NULL)
    {
      bp_log_adapter (G_LOG_LEVEL_MESSAGE, bluez->adapter_name, "adapter %s (%s) is gone", bluez->adapter_name,
                      bluez->adapter->address);
      emit_adapter (bluez, bluez->adapter, FALSE);
    }
  bluez->adapter = NULL;
  g_clear_pointer (&bluez->adapter_name, g_free);
  bluez->app = REG_NONE;
  bluez->advert = REG_NONE;
  bluez->power_requested = FALSE;
  bluez->reloading = FALSE;
  g_clear_handle_id (&bluez->retry_source, g_source_remove);
  drop_centrals (bluez);
  if (was_advertising)
    emit_advertising (bluez, FALSE, NULL);
}

static void
choose_adapter (BpBluez *bluez)
{
  const char *want = wanted_adapter (bluez);
  g_autoptr (GList) paths = NULL;

  if (bluez->adapter != NULL)
    return;
  paths = g_list_sort (g_hash_table_get_keys (bluez->adapters), (GCompareFunc) g_strcmp0);
  for (GList *l = paths; l != NULL; l = l->next)
    {
      Adapter *a = g_hash_table_lookup (bluez->adapters, l->data);
      const char *base;

      if (!a->has_gatt_manager || !a->has_adv_manager || !adapter_matches (a, want))
        continue;
      bluez->adapter = a;
      base = strrchr (a->path, '/');
      bluez->adapter_name = g_strdup (base ? base + 1 : a->path);
      g_clear_pointer (&bluez->last_error, g_free);
      bp_log_adapter (G_LOG_LEVEL_MESSAGE, bluez->adapter_name, "using adapter %s (%s)", bluez->adapter_name,
                      a->address ? a->address : "?");
      emit_adapter (bluez, a, TRUE);

      /* Re-announce centrals already connected through this adapter (bonds first). */
      sync_bonds (bluez);
      {
        GHashTableIter iter;
        Device *d;
        g_hash_table_iter_init (&iter, bluez->devices);
        while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &d))
          if (d->connected && g_strcmp0 (d->adapter, a->path) == 0 && d->address != NULL)
            bp_peripheral_central_connected (bluez->p, d->address, 0);
      }
      return;
    }
}

/* --- calls ------------------------------------------------------------- */

typedef struct {
  BpBluez *bluez;
  guint generation;
} CallData;

static CallData *
call_data (BpBluez *bluez)
{
  CallData *cd = g_new0 (CallData, 1);

  cd->bluez = bluez;
  cd->generation = bluez->generation;
  return cd;
}

static void
schedule_retry_cb_clear (BpBluez *bluez)
{
  bluez->retry_source = 0;
}

static gboolean
retry_cb (gpointer user_data)
{
  BpBluez *bluez = user_data;

  schedule_retry_cb_clear (bluez);
  if (bluez->app == REG_FAILED)
    bluez->app = REG_NONE;
  if (bluez->advert == REG_FAILED)
    bluez->advert = REG_NONE;
  update (bluez);
  return G_SOURCE_REMOVE;
}

static void
schedule_retry (BpBluez *bluez)
{
  if (bluez->retry_source == 0)
    bluez->retry_source = g_timeout_add_seconds (RETRY_SECONDS, retry_cb, bluez);
}

static gboolean
error_is (GError *error, const char *name)
{
  g_autofree char *remote = g_dbus_error_get_remote_error (error);
  return g_strcmp0 (remote, name) == 0;
}

/* The reply to RegisterApplication or RegisterAdvertisement: TRUE when it
 * took (AlreadyExists counts: a reply lost to a reload or a restart may have
 * registered it). A refusal marks *state failed and retries later. Stale
 * replies (the world changed meanwhile) give FALSE and change nothing. */
static gboolean
registration_finish (CallData *cd, GObject *source, GAsyncResult *res, RegState *state, const char *what)
{
  BpBluez *bluez = cd->bluez;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  g_autofree char *msg = NULL;

  if (cd->generation != bluez->generation)
    return FALSE;
  if (reply != NULL || error_is (error, "org.bluez.Error.AlreadyExists"))
    return TRUE;
  g_dbus_error_strip_remote_error (error);
  msg = g_strdup_printf ("bluetoothd refused the %s on %s: %s; retrying in %d s", what, bluez->adapter_name,
                         error->message, RETRY_SECONDS);
  warn_once (bluez, msg);
  *state = REG_FAILED;
  schedule_retry (bluez);
  status_changed (bluez);
  return FALSE;
}

static void
register_app_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree CallData *cd = user_data;
  BpBluez *bluez = cd->bluez;

  if (!registration_finish (cd, source, res, &bluez->app, "GATT application"))
    return;
  bp_log_adapter (G_LOG_LEVEL_MESSAGE, bluez->adapter_name, "GATT application registered on %s", bluez->adapter_name);
  g_clear_pointer (&bluez->last_error, g_free);
  bluez->app = REG_DONE;
  update (bluez);
}

static void
register_adv_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree CallData *cd = user_data;
  BpBluez *bluez = cd->bluez;

  if (!registration_finish (cd, source, res, &bluez->advert, "advertisement"))
    return;
  bp_log_adapter (G_LOG_LEVEL_MESSAGE, bluez->adapter_name, "advertising on %s as \"%s\"", bluez->adapter_name,
                  bp_peripheral_get_config (bluez->p)->name);
  bluez->advert = REG_DONE;
  bluez->adv_registered_at = g_get_monotonic_time ();
  emit_advertising (bluez, TRUE, NULL);
  update (bluez);
}

static void
unregister_adv_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree CallData *cd = user_data;
  BpBluez *bluez = cd->bluez;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);

  if (reply == NULL)
    g_debug ("UnregisterAdvertisement: %s", error->message);
  if (cd->generation != bluez->generation)
    return;
  bluez->advert = REG_NONE;
  emit_advertising (bluez, FALSE, NULL);
  update (bluez);
}

static void
call_adapter (BpBluez *bluez, const char *iface, const char *method, GVariant *params, int timeout,
              GAsyncReadyCallback cb)
{
  g_dbus_connection_call (bluez->conn, BLUEZ, bluez->adapter->path, iface, method, params, NULL,
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, timeout, NULL, cb, call_data (bluez));
}

static void
set_powered_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree CallData *cd = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);

  if (reply == NULL && cd->generation == cd->bluez->generation)
    {
      g_autofree char *msg = NULL;
      g_autofree char *remote = g_dbus_error_get_remote_error (error);

      g_dbus_error_strip_remote_error (error);
      /* bluetoothd answers some refusals with an empty message: name the error then. */
      msg = g_strdup_printf ("could not power adapter %s on: %s", cd->bluez->adapter_name,
                             *error->message ? error->message :
                             remote          ? remote :
                                               "unknown error");
      warn_once (cd->bluez, msg);
    }
}

static guint
n_centrals (BpBluez *bluez)
{
  return bp_peripheral_get_centrals (bluez->p)->len;
}

static gboolean
advertising_wanted (BpBluez *bluez)
{
  const BpConfig *config = bp_peripheral_get_config (bluez->p);
  BpState *st = bp_peripheral_get_state (bluez->p);

  if (!st->advertising_wanted || bluez->adv_timed_out)
    return FALSE;
  /* At the connection limit connectable advertising stops; a broadcaster
   * accepts no connection, so it never reaches the limit. */
  if (config->advertising.connectable && config->max_connections > 0 && n_centrals (bluez) >= config->max_connections)
    return FALSE;
  return TRUE;
}

/* Configured limits that this bluetoothd cannot honour, named once per
 * appearance (the configuration is served as it is). */
static void
warn_version_limits (BpBluez *bluez, const char *adapter_name)
{
  const BpConfig *config = bp_peripheral_get_config (bluez->p);
  const BpCapabilities *caps = &bp_peripheral_get_state (bluez->p)->bluez_caps;
  g_autofree char *version = bp_capabilities_version_text (caps);

  if (caps->long_writes_past_508)
    return;
  for (guint i = 0; i < config->services->len; i++)
    {
      const BpServiceConfig *svc = g_ptr_array_index (config->services, i);

      for (guint j = 0; j < svc->characteristics->len; j++)
        {
          const BpCharacteristicConfig *cc = g_ptr_array_index (svc->characteristics, j);

          if ((cc->flags & BP_FLAGS_ANY_WRITE) && cc->max_length > 508)
            bp_log_adapter (G_LOG_LEVEL_WARNING, adapter_name,
                            "[Characteristic %s] MaxLength=%u: bluetoothd before BlueZ 5.69 refuses writes of "
                            "more than 508 bytes (ATT 0x0D), and this one is BlueZ %s",
                            cc->id, cc->max_length, version);
        }
    }
}

typedef struct {
  BpBluez *bluez;
  GCancellable *cancellable;
  guint appearance;
  char *adapter_name;
} ProbeData;

static void
capabilities_probed (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree ProbeData *pd = user_data;
  g_autoptr (GCancellable) cancellable = pd->cancellable;
  g_autofree char *adapter_name = pd->adapter_name;
  BpBluez *bluez = pd->bluez;
  g_autoptr (GError) error = NULL;
  BpCapabilities *caps;

  /* bluez is gone (cancelled), or bluetoothd left meanwhile (a new probe
   * runs when it is back) */
  if (g_cancellable_is_cancelled (cancellable) || pd->appearance != bluez->appearance)
    return;
  caps = &bp_peripheral_get_state (bluez->p)->bluez_caps;
  if (bp_capabilities_probe_finish (res, caps, &error))
    {
      g_autofree char *text = bp_capabilities_describe (caps);
      bp_log_adapter (G_LOG_LEVEL_MESSAGE, adapter_name, "bluetoothd: %s", text);
      /* What the acquired-socket path may count on (fastpath.h). */
      if (caps->version_min != 0)
        bp_fastpath_set_bluez_floor (bp_gatt_get_fastpath (bluez->gatt), caps->version_min / 1000,
                                     caps->version_min % 1000);
    }
  else
    {
      /* Nothing proven: every version-dependent feature counts as missing. */
      caps->known = TRUE;
      bp_log_adapter (G_LOG_LEVEL_WARNING, adapter_name,
                      "could not tell what this bluetoothd can do (Introspect of %s: %s): "
                      "features that need a newer BlueZ count as unavailable",
                      adapter_name, error->message);
    }
  warn_version_limits (bluez, adapter_name);
  update (bluez);
}

/* Once per appearance of bluetoothd, on the first adapter chosen: one
 * bluetoothd serves every adapter, with the same interfaces on each. */
static void
probe_capabilities (BpBluez *bluez)
{
  ProbeData *pd;

  if (bluez->caps_probed)
    return;
  bluez->caps_probed = TRUE;
  pd = g_new0 (ProbeData, 1);
  pd->bluez = bluez;
  pd->cancellable = g_object_ref (bluez->cancellable);
  pd->appearance = bluez->appearance;
  pd->adapter_name = g_strdup (bluez->adapter_name);
  bp_capabilities_probe (bluez->conn, bluez->adapter->path, CALL_TIMEOUT_MS, bluez->cancellable, capabilities_probed,
                         pd);
}

static void
warn_interval (BpBluez *bluez)
{
  const BpAdvertisingConfig *a = &bp_peripheral_get_config (bluez->p)->advertising;

  const BpCapabilities *caps = &bp_peripheral_get_state (bluez->p)->bluez_caps;
  g_autofree char *version = NULL;

  if (bluez->interval_warned || caps->adv_interval)
    return;
  if (!a->has_interval && !a->has_tx_power)
    return;
  bluez->interval_warned = TRUE;
  version = bp_capabilities_version_text (caps);
  bp_log_adapter (G_LOG_LEVEL_WARNING, bluez->adapter_name,
                  "[Advertising] %s cannot take effect: bluetoothd ignores advertising intervals and "
                  "TX power before BlueZ 5.77 unless it runs with experimental features (bluetoothd -E, "
                  "or Experimental=true in main.conf), and this one is BlueZ %s without them",
                  a->has_interval ? "Interval" : "TxPower", version);
}

static void
update (BpBluez *bluez)
{
  const BpConfig *config = bp_peripheral_get_config (bluez->p);

  if (!bluez->present || bluez->reloading || bluez->shutdown_done != NULL)
    {
      status_changed (bluez);
      return;
    }
  choose_adapter (bluez);
  if (bluez->adapter == NULL)
    {
      status_changed (bluez);
      return;
    }
  probe_capabilities (bluez);
  if (!bluez->adapter->powered)
    {
      if (config->power_on && !bluez->power_requested)
        {
          bluez->power_requested = TRUE;
          bp_log_adapter (G_LOG_LEVEL_MESSAGE, bluez->adapter_name, "powering adapter %s on", bluez->adapter_name);
          g_dbus_connection_call (bluez->conn, BLUEZ, bluez->adapter->path, "org.freedesktop.DBus.Properties", "Set",
                                  g_variant_new ("(ssv)", ADAPTER_IFACE, "Powered", g_variant_new_boolean (TRUE)), NULL,
                                  G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, set_powered_done,
                                  call_data (bluez));
        }
      else if (!config->power_on)
        {
          warn_once (bluez, "the adapter is off and [Peripheral] PowerOn=false: waiting for it to be powered");
        }
      status_changed (bluez);
      return;
    }

  if (bluez->app == REG_NONE)
    {
      bluez->app = REG_BUSY;
      bp_log_adapter (G_LOG_LEVEL_INFO, bluez->adapter_name, "registering the GATT application on %s",
                      bluez->adapter_name);
      call_adapter (bluez, GATT_MANAGER_IFACE, "RegisterApplication", g_variant_new ("(oa{sv})", BP_APP_PATH, NULL),
                    REGISTER_TIMEOUT_MS, register_app_done);
    }
  if (bluez->app != REG_DONE)
    {
      status_changed (bluez);
      return;
    }

  if (advertising_wanted (bluez))
    {
      const BpCapabilities *caps = &bp_peripheral_get_state (bluez->p)->bluez_caps;

      /* What the advertisement may carry depends on the version: wait for
       * the probe (one round trip, or its timeout). */
      if (!caps->known)
        {
          status_changed (bluez);
          return;
        }
      if (bluez->advert == REG_NONE && config->advertising.scan_response != NULL && !caps->scan_response)
        {
          /* Older bluetoothd ignores ScanResponseData silently: refuse rather
           * than advertise something else than configured. */
          g_autofree char *version = bp_capabilities_version_text (caps);
          g_autofree char *msg = g_strdup_printf (
            "[Advertising] ScanResponseData needs BlueZ 5.80 or later, and this "
            "bluetoothd is BlueZ %s: not advertising; remove ScanResponseData "
            "or upgrade BlueZ",
            version);
          warn_once (bluez, msg);
          bluez->advert = REG_FAILED;
        }
      if (bluez->advert == REG_NONE)
        {
          warn_interval (bluez);
          bluez->advert = REG_BUSY;
          call_adapter (bluez, ADV_MANAGER_IFACE, "RegisterAdvertisement",
                        g_variant_new ("(oa{sv})", BP_ADVERTISEMENT_PATH, NULL), CALL_TIMEOUT_MS, register_adv_done);
        }
    }
  else if (bluez->advert == REG_DONE)
    {
      bluez->advert = REG_BUSY;
      call_adapter (bluez, ADV_MANAGER_IFACE, "UnregisterAdvertisement", g_variant_new ("(o)", BP_ADVERTISEMENT_PATH),
                    CALL_TIMEOUT_MS, unregister_adv_done);
    }
  status_changed (bluez);
}

/* --- objects ------------------------------------------------------------ */

static void
adapter_apply (Adapter *a, const char *iface, GVariant *props)
{
  if (g_str_equal (iface, ADAPTER_IFACE))
    {
      const char *s;
      gboolean b;

      if (g_variant_lookup (props, "Address", "&s", &s))
        {
          g_free (a->address);
          a->address = g_strdup (s);
        }
      if (g_variant_lookup (props, "Powered", "b", &b))
        a->powered = b;
    }
  else if (g_str_equal (iface, GATT_MANAGER_IFACE))
    {
      a->has_gatt_manager = TRUE;
    }
  else if (g_str_equal (iface, ADV_MANAGER_IFACE))
    {
      a->has_adv_manager = TRUE;
    }
}

static void
device_set_connected (BpBluez *bluez, Device *d, gboolean connected)
{
  gboolean ours = bluez->adapter != NULL && g_strcmp0 (d->adapter, bluez->adapter->path) == 0;
  gboolean was = d->connected;

  d->connected = connected;
  if (!ours || d->address == NULL || was == connected)
    return;
  if (connected)
    {
      bp_peripheral_central_connected (bluez->p, d->address, 0);
    }
  else
    {
      bp_peripheral_central_disconnected (bluez->p, d->address);
      /* Advertising may not come back by itself after a disconnect: when it
       * stayed registered, register it again to be sure it runs. */
      if (bluez->advert == REG_DONE && advertising_wanted (bluez))
        {
          bluez->advert = REG_BUSY;
          call_adapter (bluez, ADV_MANAGER_IFACE, "UnregisterAdvertisement",
                        g_variant_new ("(o)", BP_ADVERTISEMENT_PATH), CALL_TIMEOUT_MS, unregister_adv_done);
        }
    }
}

static void
device_apply (BpBluez *bluez, Device *d, GVariant *props, gboolean announce)
{
  const char *s;
  gboolean b;
  gboolean had_bond = device_has_bond (d);

  if (g_variant_lookup (props, "Address", "&s", &s))
    {
      g_free (d->address);
      d->address = g_strdup (s);
    }
  if (g_variant_lookup (props, "Adapter", "&o", &s))
    {
      g_free (d->adapter);
      d->adapter = g_strdup (s);
    }
  if (g_variant_lookup (props, "Paired", "b", &b))
    d->paired = b;
  if (g_variant_lookup (props, "Bonded", "b", &b))
    {
      d->bonded = b;
      d->has_bonded = TRUE;
    }
  /* Bonds first: a bonded central that connects must be known as one. */
  if (announce && !had_bond && device_has_bond (d) && device_is_ours (bluez, d))
    {
      BpEvent ev = { .type = BP_EVENT_PAIRED, .address = d->address };

      sync_bonds (bluez);
      bp_log_device (G_LOG_LEVEL_MESSAGE, d->address, "central %s bonded", d->address);
      bp_peripheral_emit (bluez->p, &ev);
    }
  else if (had_bond != device_has_bond (d))
    sync_bonds (bluez);
  /* Bonded since 5.65 (Paired before): a bonded central may stay
   * subscribed across reconnections without a new notify socket. */
  if (d->address != NULL)
    bp_fastpath_set_bonded (bp_gatt_get_fastpath (bluez->gatt), d->address, device_has_bond (d));
  if (g_variant_lookup (props, "Connected", "b", &b))
    device_set_connected (bluez, d, b);
}

static void
interfaces_added (BpBluez *bluez, const char *path, GVariant *ifaces)
{
  GVariantIter iter;
  const char *iface;
  GVariant *props;

  g_variant_iter_init (&iter, ifaces);
  while (g_variant_iter_loop (&iter, "{&s@a{sv}}", &iface, &props))
    {
      if (g_str_equal (iface, ADAPTER_IFACE) || g_str_equal (iface, GATT_MANAGER_IFACE) ||
          g_str_equal (iface, ADV_MANAGER_IFACE))
        {
          Adapter *a = g_hash_table_lookup (bluez->adapters, path);
          if (a == NULL)
            {
              a = g_new0 (Adapter, 1);
              a->path = g_strdup (path);
              g_hash_table_insert (bluez->adapters, a->path, a);
            }
          adapter_apply (a, iface, props);
        }
      else if (g_str_equal (iface, DEVICE_IFACE))
        {
          Device *d = g_hash_table_lookup (bluez->devices, path);
          if (d == NULL)
            {
              d = g_new0 (Device, 1);
              d->path = g_strdup (path);
              g_hash_table_insert (bluez->devices, d->path, d);
            }
          bp_capabilities_note_device (&bp_peripheral_get_state (bluez->p)->bluez_caps, props);
          device_apply (bluez, d, props, FALSE);
        }
    }
}

static void
interfaces_removed (BpBluez *bluez, const char *path, const char *const *ifaces)
{
  for (guint i = 0; ifaces[i] != NULL; i++)
    {
      if (g_str_equal (ifaces[i], ADAPTER_IFACE))
        {
          Adapter *a = g_hash_table_lookup (bluez->adapters, path);
          if (a != NULL && a == bluez->adapter)
            lose_adapter (bluez);
          g_hash_table_remove (bluez->adapters, path);
        }
      else if (g_str_equal (ifaces[i], DEVICE_IFACE))
        {
          Device *d = g_hash_table_lookup (bluez->devices, path);
          if (d != NULL)
            device_set_connected (bluez, d, FALSE);
          g_hash_table_remove (bluez->devices, path);
          sync_bonds (bluez);
        }
    }
}

static void
on_object_manager_signal (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
                          const char *signal, GVariant *params, gpointer user_data)
{
  BpBluez *bluez = user_data;

  if (!bluez->present)
    return;
  if (g_str_equal (signal, "InterfacesAdded") && g_variant_is_of_type (params, G_VARIANT_TYPE ("(oa{sa{sv}})")))
    {
      const char *obj;
      g_autoptr (GVariant) ifaces = NULL;

      g_variant_get (params, "(&o@a{sa{sv}})", &obj, &ifaces);
      interfaces_added (bluez, obj, ifaces);
      update (bluez);
    }
  else if (g_str_equal (signal, "InterfacesRemoved") && g_variant_is_of_type (params, G_VARIANT_TYPE ("(oas)")))
    {
      const char *obj;
      g_autofree const char **ifaces = NULL;

      g_variant_get (params, "(&o^a&s)", &obj, &ifaces);
      interfaces_removed (bluez, obj, ifaces);
      update (bluez);
    }
}

static void
on_properties_changed (GDBusConnection *conn, const char *sender, const char *path, const char *iface,
                       const char *signal, GVariant *params, gpointer user_data)
{
  BpBluez *bluez = user_data;
  const char *changed_iface;
  g_autoptr (GVariant) changed = NULL;

  if (!bluez->present || !g_variant_is_of_type (params, G_VARIANT_TYPE ("(sa{sv}as)")))
    return;
  g_variant_get (params, "(&s@a{sv}as)", &changed_iface, &changed, NULL);
  if (g_str_equal (changed_iface, ADAPTER_IFACE))
    {
      Adapter *a = g_hash_table_lookup (bluez->adapters, path);
      gboolean powered;

      if (a == NULL)
        return;
      if (g_variant_lookup (changed, "Powered", "b", &powered) && a == bluez->adapter && powered != a->powered)
        {
          a->powered = powered;
          if (!powered)
            {
              /* Powering off drops the registrations' effect; register anew when it returns. */
              bp_log_adapter (G_LOG_LEVEL_MESSAGE, bluez->adapter_name, "adapter %s was powered off",
                              bluez->adapter_name);
              bluez->generation++;
              bluez->app = REG_NONE;
              if (bluez->advert == REG_DONE)
                emit_advertising (bluez, FALSE, NULL);
              bluez->advert = REG_NONE;
              bluez->power_requested = FALSE;
              drop_centrals (bluez);
              /* Its links went with the power. bluetoothd may not say so
               * before they come back (a Connected change it has not sent
               * yet is sent with the value of the moment: true again), so
               * the next Connected=true counts as a new connection. */
              forget_links (bluez, a->path);
            }
        }
      adapter_apply (a, changed_iface, changed);
      update (bluez);
    }
  else if (g_str_equal (changed_iface, DEVICE_IFACE))
    {
      Device *d = g_hash_table_lookup (bluez->devices, path);

      if (d != NULL)
        {
          device_apply (bluez, d, changed, TRUE);
          update (bluez);
        }
    }
}

static void
get_managed_objects_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree CallData *cd = user_data;
  BpBluez *bluez = cd->bluez;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  g_autoptr (GVariant) objects = NULL;
  GVariantIter iter;
  const char *path;
  GVariant *ifaces;

  if (cd->generation != bluez->generation)
    return;
  if (reply == NULL)
    {
      g_autofree char *msg = g_strdup_printf ("could not list bluetoothd's objects: %s", error->message);
      warn_once (bluez, msg);
      return;
    }
  objects = g_variant_get_child_value (reply, 0);
  g_variant_iter_init (&iter, objects);
  while (g_variant_iter_loop (&iter, "{&o@a{sa{sv}}}", &path, &ifaces))
    interfaces_added (bluez, path, ifaces);
  update (bluez);
}

static void
bluez_appeared (GDBusConnection *conn, const char *name, const char *owner, gpointer user_data)
{
  BpBluez *bluez = user_data;

  g_message ("bluetoothd is on the bus (%s)", owner);
  /* From now on, calls on our objects are honoured from this name only. */
  bp_bus_set_bluez_owner (owner);
  bluez->present = TRUE;
  bluez->generation++;
  bluez->appearance++;
  bluez->caps_probed = FALSE;
  bluez->interval_warned = FALSE;
  bp_capabilities_clear (&bp_peripheral_get_state (bluez->p)->bluez_caps);
  g_dbus_connection_call (conn, BLUEZ, "/", "org.freedesktop.DBus.ObjectManager", "GetManagedObjects", NULL,
                          G_VARIANT_TYPE ("(a{oa{sa{sv}}})"), G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL,
                          get_managed_objects_done, call_data (bluez));
  status_changed (bluez);
}

static void
bluez_vanished (GDBusConnection *conn, const char *name, gpointer user_data)
{
  BpBluez *bluez = user_data;

  if (bluez->present)
    g_message ("bluetoothd left the bus; waiting for it to return");
  else
    g_message ("waiting for bluetoothd (org.bluez) to appear on the bus");
  bp_bus_set_bluez_owner (NULL);
  lose_adapter (bluez);
  bluez->present = FALSE;
  bluez->appearance++;
  bluez->caps_probed = FALSE;
  bp_capabilities_clear (&bp_peripheral_get_state (bluez->p)->bluez_caps);
  g_hash_table_remove_all (bluez->devices);
  g_hash_table_remove_all (bluez->adapters);
  status_changed (bluez);
}

/* --- backend ------------------------------------------------------------ */

static gboolean
backend_notify (gpointer backend, BpCharacteristic *chr, GBytes *value, const char *to_address, GError **error)
{
  BpBluez *bluez = backend;

  /* With no central connected a notification reaches nobody: the value is
   * stored (reads get it) and nothing crosses the bus, where bluetoothd
   * would take in every signal for nothing. */
  if (to_address == NULL && n_centrals (bluez) == 0)
    return TRUE;
  return bp_gatt_notify (bluez->gatt, chr, value, to_address, error);
}

static gboolean
backend_set_advertising (gpointer backend, gboolean on, GError **error)
{
  BpBluez *bluez = backend;
  BpState *st = bp_peripheral_get_state (bluez->p);

  st->advertising_wanted = on;
  if (on)
    bluez->adv_timed_out = FALSE;
  update (bluez);
  return TRUE;
}

static void
disconnect_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree char *path = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);

  if (reply == NULL)
    g_warning ("disconnecting %s: %s", path, error->message);
}

static gboolean
backend_disconnect (gpointer backend, const char *address, GError **error)
{
  BpBluez *bluez = backend;
  GHashTableIter iter;
  Device *d;

  g_hash_table_iter_init (&iter, bluez->devices);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &d))
    {
      if (d->connected && d->address != NULL && g_ascii_strcasecmp (d->address, address) == 0)
        {
          g_dbus_connection_call (bluez->conn, BLUEZ, d->path, DEVICE_IFACE, "Disconnect", NULL, NULL,
                                  G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, disconnect_done,
                                  g_strdup (d->path));
          return TRUE;
        }
    }
  g_set_error (error, BP_ERROR, BP_ERROR_NOT_CONNECTED, "no central %s is connected", address);
  return FALSE;
}

static void
remove_device_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree char *address = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);

  if (reply == NULL)
    bp_log_device (G_LOG_LEVEL_WARNING, address, "forgetting %s: %s", address, error->message);
  else
    bp_log_device (G_LOG_LEVEL_MESSAGE, address, "forgot the bond of %s", address);
}

static gboolean
backend_forget (gpointer backend, const char *address, GError **error)
{
  BpBluez *bluez = backend;
  GHashTableIter iter;
  Device *d;

  if (bluez->adapter == NULL)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_UNAVAILABLE, "bluetoothd or the adapter is not available");
      return FALSE;
    }
  g_hash_table_iter_init (&iter, bluez->devices);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &d))
    {
      if (device_is_ours (bluez, d) && device_has_bond (d) && g_ascii_strcasecmp (d->address, address) == 0)
        {
          /* The bond goes now for the daemon's checks; bluetoothd removes the object after. */
          d->paired = d->bonded = FALSE;
          sync_bonds (bluez);
          g_dbus_connection_call (bluez->conn, BLUEZ, bluez->adapter->path, ADAPTER_IFACE, "RemoveDevice",
                                  g_variant_new ("(o)", d->path), NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                                  CALL_TIMEOUT_MS, NULL, remove_device_done, g_strdup (address));
          return TRUE;
        }
    }
  g_set_error (error, BP_ERROR, BP_ERROR_UNKNOWN_BOND, "no central %s is bonded with this adapter", address);
  return FALSE;
}

static gboolean
backend_congested (gpointer backend)
{
  BpBluez *bluez = backend;
  return bp_gatt_congested (bluez->gatt);
}

static const BpBackend bluez_backend = {
  backend_notify, backend_set_advertising, backend_disconnect, backend_congested, backend_forget,
};

static void
advertisement_released (BpAdvertisement *adv, gpointer user_data)
{
  BpBluez *bluez = user_data;
  guint64 timeout_us = bp_peripheral_get_config (bluez->p)->advertising.timeout_us;
  gint64 age = g_get_monotonic_time () - bluez->adv_registered_at;

  if (bluez->advert != REG_DONE)
    return;
  bluez->advert = REG_NONE;
  /* bluetoothd calls Release when Timeout expires, and also when the
   * adapter goes or bluetoothd stops: only the first keeps it off. */
  if (timeout_us > 0 && age + 500 * G_TIME_SPAN_MILLISECOND >= (gint64) timeout_us)
    {
      g_message ("advertising stopped: [Advertising] Timeout expired");
      bluez->adv_timed_out = TRUE;
      emit_advertising (bluez, FALSE, "timeout");
    }
  else
    {
      g_message ("bluetoothd released the advertisement; registering it again when it can");
      emit_advertising (bluez, FALSE, NULL);
    }
  update (bluez);
}

/* --- life --------------------------------------------------------------- */

BpBluez *
bp_bluez_new (GDBusConnection *conn, BpPeripheral *p, BpGatt *gatt, BpAdvertisement *adv, const char *adapter)
{
  BpBluez *bluez = g_new0 (BpBluez, 1);

  bluez->conn = g_object_ref (conn);
  bluez->p = p;
  bluez->gatt = gatt;
  bluez->adv = adv;
  bluez->adapter_override = g_strdup (adapter);
  bluez->cancellable = g_cancellable_new ();
  bluez->adapters = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) adapter_free);
  bluez->devices = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) device_free);
  bp_peripheral_set_backend (p, &bluez_backend, bluez);
  bp_advertisement_set_released_func (adv, advertisement_released, bluez);

  bluez->sub_objects = g_dbus_connection_signal_subscribe (conn, BLUEZ, "org.freedesktop.DBus.ObjectManager", NULL,
                                                           NULL, NULL, G_DBUS_SIGNAL_FLAGS_NONE,
                                                           on_object_manager_signal, bluez, NULL);
  /* Only the adapters' and devices' changes (arg0 is the interface): with
   * no arg0 the bus would send us every PropertiesChanged of bluetoothd,
   * among them one per notification received by any central of this
   * machine (its GATT client objects), each woken for and thrown away. */
  bluez->sub_adapter_props = g_dbus_connection_signal_subscribe (
    conn, BLUEZ, "org.freedesktop.DBus.Properties", "PropertiesChanged", NULL, ADAPTER_IFACE, G_DBUS_SIGNAL_FLAGS_NONE,
    on_properties_changed, bluez, NULL);
  bluez->sub_device_props = g_dbus_connection_signal_subscribe (
    conn, BLUEZ, "org.freedesktop.DBus.Properties", "PropertiesChanged", NULL, DEVICE_IFACE, G_DBUS_SIGNAL_FLAGS_NONE,
    on_properties_changed, bluez, NULL);
  bluez->watch_id = g_bus_watch_name_on_connection (conn, BLUEZ, G_BUS_NAME_WATCHER_FLAGS_NONE, bluez_appeared,
                                                    bluez_vanished, bluez, NULL);
  return bluez;
}

void
bp_bluez_free (BpBluez *bluez)
{
  if (bluez == NULL)
    return;
  g_clear_handle_id (&bluez->watch_id, g_bus_unwatch_name);
  bp_bus_set_bluez_owner (NULL);
  g_cancellable_cancel (bluez->cancellable);
  g_clear_object (&bluez->cancellable);
  if (bluez->sub_objects)
    g_dbus_connection_signal_unsubscribe (bluez->conn, bluez->sub_objects);
  if (bluez->sub_adapter_props)
    g_dbus_connection_signal_unsubscribe (bluez->conn, bluez->sub_adapter_props);
  if (bluez->sub_device_props)
    g_dbus_connection_signal_unsubscribe (bluez->conn, bluez->sub_device_props);
  g_clear_handle_id (&bluez->retry_source, g_source_remove);
  g_clear_handle_id (&bluez->shutdown_timeout, g_source_remove);
  bp_peripheral_set_backend (bluez->p, NULL, NULL);
  bp_advertisement_set_released_func (bluez->adv, NULL, NULL);
  g_hash_table_unref (bluez->devices);
  g_hash_table_unref (bluez->adapters);
  g_free (bluez->adapter_name);
  g_free (bluez->adapter_override);
  g_free (bluez->last_error);
  g_object_unref (bluez->conn);
  g_free (bluez);
}

void
bp_bluez_set_status_func (BpBluez *bluez, BpBluezStatusFunc func, gpointer user_data)
{
  bluez->status_func = func;
  bluez->status_data = user_data;
}

static void
reload_unregistered (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree CallData *cd = user_data;
  BpBluez *bluez = cd->bluez;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);

  if (reply == NULL)
    g_debug ("UnregisterApplication: %s", error->message);
  if (cd->generation != bluez->generation)
    return;
  bluez->reloading = FALSE;
  {
    g_autoptr (GError) rebuild_error = NULL;
    if (!bp_gatt_rebuild (bluez->gatt, &rebuild_error))
      g_warning ("exporting the new database: %s", rebuild_error->message);
  }
  update (bluez);
}

void
bp_bluez_reload (BpBluez *bluez)
{
  gboolean had_app = bluez->app == REG_DONE || bluez->app == REG_BUSY;
  gboolean had_adv = bluez->advert == REG_DONE || bluez->advert == REG_BUSY;

  bp_advertisement_set_config (bluez->adv, bp_peripheral_get_config (bluez->p));
  bluez->adv_timed_out = FALSE;
  bluez->interval_warned = FALSE;
  /* The UnregisterApplication of an earlier reload is on its way: its reply
   * exports the peripheral's database, which is already this new one, and
   * registers it. Calling again (and moving the generation on) would make
   * that reply stale and leave the daemon waiting for it for ever. */
  if (bluez->reloading)
    return;
  bluez->generation++;
  g_clear_handle_id (&bluez->retry_source, g_source_remove);
  bluez->app = REG_NONE;
  bluez->advert = REG_NONE;

  if (!bluez->present || bluez->adapter == NULL || !had_app)
    {
      g_autoptr (GError) error = NULL;
      if (!bp_gatt_rebuild (bluez->gatt, &error))
        g_warning ("exporting the new database: %s", error->message);
      update (bluez);
      return;
    }

  /* The whole database is replaced: bluetoothd drops the old one first. */
  bluez->reloading = TRUE;
  if (had_adv)
    {
      g_dbus_connection_call (bluez->conn, BLUEZ, bluez->adapter->path, ADV_MANAGER_IFACE, "UnregisterAdvertisement",
                              g_variant_new ("(o)", BP_ADVERTISEMENT_PATH), NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                              CALL_TIMEOUT_MS, NULL, NULL, NULL);
      emit_advertising (bluez, FALSE, NULL);
    }
  call_adapter (bluez, GATT_MANAGER_IFACE, "UnregisterApplication", g_variant_new ("(o)", BP_APP_PATH), CALL_TIMEOUT_MS,
                reload_unregistered);
}

static void
shutdown_step (BpBluez *bluez)
{
  GSourceFunc done = bluez->shutdown_done;

  if (bluez->shutdown_pending > 0 || done == NULL)
    return;
  g_clear_handle_id (&bluez->shutdown_timeout, g_source_remove);
  bluez->shutdown_done = NULL;
  done (bluez->shutdown_data);
}

static void
shutdown_call_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  BpBluez *bluez = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);

  if (reply == NULL)
    g_debug ("unregistering: %s", error->message);
  if (bluez->shutdown_pending > 0)
    bluez->shutdown_pending--;
  shutdown_step (bluez);
}

static gboolean
shutdown_timed_out (gpointer user_data)
{
  BpBluez *bluez = user_data;

  bluez->shutdown_timeout = 0;
  bluez->shutdown_pending = 0;
  g_message ("bluetoothd did not answer the unregistration in time; leaving anyway");
  shutdown_step (bluez);
  return G_SOURCE_REMOVE;
}

void
bp_bluez_shutdown (BpBluez *bluez, GSourceFunc done, gpointer user_data)
{
  bluez->shutdown_done = done;
  bluez->shutdown_data = user_data;
  bluez->shutdown_pending = 0;
  g_clear_handle_id (&bluez->retry_source, g_source_remove);

  if (bluez->present && bluez->adapter != NULL)
    {
      if (bluez->advert == REG_DONE || bluez->advert == REG_BUSY)
        {
          bluez->shutdown_pending++;
          g_dbus_connection_call (bluez->conn, BLUEZ, bluez->adapter->path, ADV_MANAGER_IFACE,
                                  "UnregisterAdvertisement", g_variant_new ("(o)", BP_ADVERTISEMENT_PATH), NULL,
                                  G_DBUS_CALL_FLAGS_NO_AUTO_START, SHUTDOWN_TIMEOUT_MS, NULL, shutdown_call_done,
                                  bluez);
        }
      if (bluez->app == REG_DONE || bluez->app == REG_BUSY)
        {
          bluez->shutdown_pending++;
          g_dbus_connection_call (bluez->conn, BLUEZ, bluez->adapter->path, GATT_MANAGER_IFACE, "UnregisterApplication",
                                  g_variant_new ("(o)", BP_APP_PATH), NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                                  SHUTDOWN_TIMEOUT_MS, NULL, shutdown_call_done, bluez);
        }
    }
  bluez->generation++;
  if (bluez->shutdown_pending > 0)
    bluez->shutdown_timeout = g_timeout_add (SHUTDOWN_TIMEOUT_MS + 200, shutdown_timed_out, bluez);
  else
    bluez->shutdown_timeout = g_idle_add (shutdown_timed_out, bluez);
}

char *
bp_bluez_status_text (BpBluez *bluez)
{
  const BpConfig *config = bp_peripheral_get_config (bluez->p);
  guint n = n_centrals (bluez);
  const char *want = wanted_adapter (bluez);

  if (!bluez->present)
    return g_strdup ("waiting for bluetoothd");
  if (bluez->adapter == NULL)
    return want ? g_strdup_printf ("adapter %s missing", want) : g_strdup ("no Bluetooth adapter");
  if (!bluez->adapter->powered)
    return g_strdup_printf ("adapter %s is off", bluez->adapter_name);
  if (bluez->app != REG_DONE)
    return g_strdup_printf ("registering with bluetoothd on %s", bluez->adapter_name);
  if (bluez->advert == REG_DONE)
    return g_strdup_printf ("advertising as %s, %u central%s connected", config->name, n, n == 1 ? "" : "s");
  return g_strdup_printf ("serving on %s, not advertising, %u central%s connected", bluez->adapter_name, n,
                          n == 1 ? "" : "s");
}
