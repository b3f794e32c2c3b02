/* The built-in pairing agent (SPEC §3 [Security], BLUEZ.md "Pairing and
 * security").
 *
 * bluetoothd asks only its default agent about a central's pairing, so the
 * agent registers with AgentManager1 (RegisterAgent with the IO capability
 * of the mode, then RequestDefaultAgent) whenever org.bluez is on the bus,
 * and again after bluetoothd returns. One bluetoothd may run several
 * adapters: requests for devices of another adapter are refused. Calls are
 * honoured only from the current owner of org.bluez. A request producers
 * must answer (confirm) is refused when no answer comes within
 * ConfirmTimeout, well inside the kernel's 30 s SMP limit. */
#define G_LOG_DOMAIN "agent"

#include "build-config.h"

#include "daemon/agent.h"

#include <string.h>

#include "common/error.h"
#include "daemon/buscall.h"
#include "daemon/gatt.h"
#include "daemon/log.h"

#define BLUEZ "org.bluez"
#define AGENT_IFACE "org.bluez.Agent1"
#define AGENT_MANAGER_IFACE "org.bluez.AgentManager1"
#define ADAPTER_IFACE "org.bluez.Adapter1"
#define DEVICE_IFACE "org.bluez.Device1"
#define CALL_TIMEOUT_MS 5000
#define RETRY_SECONDS 5

static const char agent_xml[] =
  "<node>"
  "  <interface name='org.bluez.Agent1'>"
  "    <method name='Release'/>"
  "    <method name='RequestPinCode'>"
  "      <arg type='o' direction='in'/><arg type='s' direction='out'/>"
  "    </method>"
  "    <method name='DisplayPinCode'>"
  "      <arg type='o' direction='in'/><arg type='s' direction='in'/>"
  "    </method>"
  "    <method name='RequestPasskey'>"
  "      <arg type='o' direction='in'/><arg type='u' direction='out'/>"
  "    </method>"
  "    <method name='DisplayPasskey'>"
  "      <arg type='o' direction='in'/><arg type='u' direction='in'/>"
  "      <arg type='q' direction='in'/>"
  "    </method>"
  "    <method name='RequestConfirmation'>"
  "      <arg type='o' direction='in'/><arg type='u' direction='in'/>"
  "    </method>"
  "    <method name='RequestAuthorization'>"
  "      <arg type='o' direction='in'/>"
  "    </method>"
  "    <method name='AuthorizeService'>"
  "      <arg type='o' direction='in'/><arg type='s' direction='in'/>"
  "    </method>"
  "    <method name='Cancel'/>"
  "  </interface>"
  "</node>";

typedef enum { AG_NONE, AG_BUSY, AG_DONE } AgentState;

/* A request producers must answer. */
typedef struct {
  BpBusCall *call;
  char *address;
  char *kind; /* "confirm" or "authorize" */
  guint timer;
} Pending;

struct _BpAgent {
  GDBusConnection *conn;
  BpPeripheral *p;
  GDBusNodeInfo *info;
  guint object_id;
  guint watch_id;
  guint listener;
  char *owner; /* unique name of org.bluez, NULL when absent */
  BpPairingMode mode;
  AgentState state;
  guint generation; /* replies of an older registration attempt are ignored */
  guint retry_source;
  guint window_timer;
  guint pairable_idle;
  Pending *pending;
  char *displayed; /* the device whose passkey was last shown (DisplayPasskey repeats per key press) */
};

static void agent_register (BpAgent *agent);

static const char *
capability (BpPairingMode mode)
{
  switch (mode)
    {
    case BP_PAIRING_JUST_WORKS:
      return "NoInputNoOutput";
    case BP_PAIRING_DISPLAY:
      return "DisplayOnly";
    case BP_PAIRING_CONFIRM:
      return "DisplayYesNo";
    case BP_PAIRING_OFF:
      break;
    }
  return "NoInputNoOutput";
}

static const BpSecurityConfig *
security (BpAgent *agent)
{
  return &bp_peripheral_get_config (agent->p)->security;
}

/* "/org/bluez/hci0" of the daemon's adapter, or NULL. */
static char *
adapter_path (BpAgent *agent)
{
  BpState *st = bp_peripheral_get_state (agent->p);

  return st->adapter != NULL ? g_strdup_printf ("/org/bluez/%s", st->adapter) : NULL;
}

static gboolean
device_is_ours (BpAgent *agent, const char *device)
{
  g_autofree char *adapter = adapter_path (agent);
  gsize n = adapter != NULL ? strlen (adapter) : 0;

  return adapter != NULL && g_str_has_prefix (device, adapter) && device[n] == '/' &&
         strchr (device + n + 1, '/') == NULL;
}

static void
emit (BpAgent *agent, BpEventType type, const char *address, const char *reason, gboolean has_passkey, guint passkey)
{
  BpEvent ev = { .type = type, .address = address, .reason = reason, .on = has_passkey, .count = passkey };
  bp_peripheral_emit (agent->p, &ev);
}

/* --- Pairable / PairableTimeout ----------------------------------------- */

static void
set_property_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree char *what = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);

  if (reply == NULL)
    g_warning ("setting the adapter's %s: %s", what, error->message);
}

static void
set_adapter_property (BpAgent *agent, const char *path, const char *name, GVariant *value)
{
  if (agent->conn == NULL)
    {
      g_variant_unref (g_variant_ref_sink (value));
      return;
    }
  g_dbus_connection_call (agent->conn, BLUEZ, path, "org.freedesktop.DBus.Properties", "Set",
                          g_variant_new ("(ssv)", ADAPTER_IFACE, name, value), NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                          CALL_TIMEOUT_MS, NULL, set_property_done, g_strdup (name));
}

/* The adapter is pairable exactly while the window is open (and for as long). */
static void
apply_pairable (BpAgent *agent)
{
  BpState *st = bp_peripheral_get_state (agent->p);
  g_autofree char *path = adapter_path (agent);

  if (path == NULL || agent->owner == NULL || agent->mode == BP_PAIRING_OFF || agent->state != AG_DONE)
    return;
  if (st->window_open)
    {
      guint32 timeout = 0;

      if (st->window_end > 0)
        {
          gint64 left = st->window_end - g_get_monotonic_time ();
          timeout = left > 0 ? (guint32) ((left + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC) : 1;
        }
      set_adapter_property (agent, path, "PairableTimeout", g_variant_new_uint32 (timeout));
      set_adapter_property (agent, path, "Pairable", g_variant_new_boolean (TRUE));
    }
  else
    {
      set_adapter_property (agent, path, "Pairable", g_variant_new_boolean (FALSE));
    }
}

static gboolean
pairable_idle (gpointer user_data)
{
  BpAgent *agent = user_data;

  agent->pairable_idle = 0;
  apply_pairable (agent);
  return G_SOURCE_REMOVE;
}

/* --- pending requests ---------------------------------------------------- */

static void
pending_free (Pending *pd)
{
  if (pd == NULL)
    return;
  g_clear_handle_id (&pd->timer, g_source_remove);
  if (pd->call != NULL)
    bp_bus_call_return_error (pd->call, "org.bluez.Error.Rejected", "canceled");
  g_free (pd->address);
  g_free (pd->kind);
  g_free (pd);
}

/* Ends the pending request: accepted, or refused with reason. */
static void
pending_finish (BpAgent *agent, gboolean accept, const char *reason)
{
  Pending *pd = g_steal_pointer (&agent->pending);

  if (pd == NULL)
    return;
  if (pd->call != NULL)
    {
      BpBusCall *call = g_steal_pointer (&pd->call);
      if (accept)
        bp_bus_call_return_value (call, NULL);
      else
        bp_bus_call_return_error (call, "org.bluez.Error.Rejected", "%s", reason);
    }
  bp_log_device (G_LOG_LEVEL_MESSAGE, pd->address, "pairing %s of %s: %s", pd->kind, pd->address,
                 accept ? "accepted" : reason);
  if (!accept)
    emit (agent, BP_EVENT_PAIRING_FAILED, pd->address, reason, FALSE, 0);
  pending_free (pd);
}

static gboolean
pending_timed_out (gpointer user_data)
{
  BpAgent *agent = user_data;

  agent->pending->timer = 0;
  pending_finish (agent, FALSE, "timeout");
  return G_SOURCE_REMOVE;
}

/* --- the window ------------------------------------------------------------ */

static gboolean
window_expired (gpointer user_data)
{
  BpAgent *agent = user_data;
  BpState *st = bp_peripheral_get_state (agent->p);

  agent->window_timer = 0;
  st->window_open = FALSE;
  st->window_end = 0;
  g_message ("the pairing window closed: new bonds are refused until \"pairing on\"");
  if (agent->pending != NULL)
    pending_finish (agent, FALSE, "window-closed");
  apply_pairable (agent);
  bp_peripheral_pairing_window_changed (agent->p);
  return G_SOURCE_REMOVE;
}

static void
window_open (BpAgent *agent, gboolean open, guint64 duration_us)
{
  BpState *st = bp_peripheral_get_state (agent->p);

  g_clear_handle_id (&agent->window_timer, g_source_remove);
  st->window_open = open;
  st->window_end = 0;
  if (open && duration_us > 0)
    {
      st->window_end = g_get_monotonic_time () + (gint64) duration_us;
      agent->window_timer = g_timeout_add ((guint) MIN (duration_us / 1000, G_MAXUINT), window_expired, agent);
    }
  if (!open && agent->pending != NULL)
    pending_finish (agent, FALSE, "window-closed");
  apply_pairable (agent);
  if (!open)
    bp_peripheral_pairing_window_changed (agent->p);
}

static gboolean
agent_set_window (gpointer user_data, gboolean open, guint64 duration_us, GError **error)
{
  BpAgent *agent = user_data;

  if (open && duration_us == 0)
    duration_us = security (agent)->window_us;
  window_open (agent, open, duration_us);
  if (open && duration_us > 0)
    g_message ("the pairing window is open for %" G_GUINT64_FORMAT " s",
               (duration_us + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC);
  else
    g_message (open ? "the pairing window is open until \"pairing off\"" : "the pairing window is closed");
  return TRUE;
}

static gboolean
agent_answer (gpointer user_data, const char *address, gboolean accept, GError **error)
{
  BpAgent *agent = user_data;

  if (agent->pending == NULL || g_ascii_strcasecmp (agent->pending->address, address) != 0)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_NOT_PENDING,
                   "no pairing request from %s is waiting (none came, it was answered, canceled, or it timed out "
                   "after [Security] ConfirmTimeout)",
                   address);
      return FALSE;
    }
  pending_finish (agent, accept, accept ? NULL : "rejected");
  return TRUE;
}

static const BpPairingClass agent_pairing_class = {
  agent_set_window,
  agent_answer,
};

/* --- Agent1 ----------------------------------------------------------------- */

static void
disconnect_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, NULL);
}

static void
reject (BpBusCall *call, const char *message)
{
  bp_bus_call_return_error (call, "org.bluez.Error.Rejected", "%s", message);
}

/* A request for one of our centrals: accept, refuse, or ask the producers. */
static void
request (BpAgent *agent, BpBusCall *call, const char *address, const char *kind, gboolean has_passkey, guint passkey)
{
  BpState *st = bp_peripheral_get_state (agent->p);

  if (!st->window_open)
    {
      bp_log_device (G_LOG_LEVEL_MESSAGE, address, "pairing request from %s refused: the pairing window is closed",
                     address);
      reject (call, "the pairing window is closed");
      emit (agent, BP_EVENT_PAIRING_FAILED, address, "window-closed", FALSE, 0);
      return;
    }
  if (agent->mode == BP_PAIRING_JUST_WORKS)
    {
      bp_log_device (G_LOG_LEVEL_MESSAGE, address, "pairing %s of %s accepted (just-works)", kind, address);
      bp_bus_call_return_value (call, NULL);
      return;
    }
  if (agent->mode == BP_PAIRING_DISPLAY)
    {
      /* DisplayOnly promises MITM protection: a Just Works pairing would give a bond without it. */
      bp_log_device (G_LOG_LEVEL_MESSAGE, address,
                     "pairing %s of %s refused: [Security] Pairing=display accepts only passkey entry (MITM)", kind,
                     address);
      reject (call, "Pairing=display needs passkey entry");
      emit (agent, BP_EVENT_PAIRING_FAILED, address, "no-mitm", FALSE, 0);
      return;
    }
  if (agent->pending != NULL)
    {
      reject (call, "another pairing request is waiting for an answer");
      emit (agent, BP_EVENT_PAIRING_FAILED, address, "busy", FALSE, 0);
      return;
    }
  agent->pending = g_new0 (Pending, 1);
  agent->pending->call = call; /* ours until answered */
  agent->pending->address = g_strdup (address);
  agent->pending->kind = g_strdup (kind);
  agent->pending->timer = g_timeout_add ((guint) (security (agent)->confirm_timeout_us / 1000), pending_timed_out,
                                         agent);
  if (has_passkey)
    bp_log_device (G_LOG_LEVEL_MESSAGE, address, "pairing request from %s: confirm passkey %06u", address, passkey);
  else
    bp_log_device (G_LOG_LEVEL_MESSAGE, address, "pairing request from %s: authorize", address);
  emit (agent, BP_EVENT_PAIRING, address, kind, has_passkey, passkey);
}

void
bp_agent_handle_call (BpAgent *agent, BpBusCall *call)
{
  const char *method = bp_bus_call_get_method (call);
  GVariant *params = bp_bus_call_get_parameters (call);
  const char *device = NULL;
  g_autofree char *address = NULL;

  /* The one rule for every exported object (buscall.h): bluetoothd only;
   * anyone else gets org.bluez.Error.NotAuthorized. */
  if (!bp_bus_call_from_bluez (call))
    return;
  if (g_strcmp0 (bp_bus_call_get_path (call), BP_AGENT_PATH) != 0 ||
      g_strcmp0 (bp_bus_call_get_interface (call), AGENT_IFACE) != 0)
    {
      bp_bus_call_return_error (call, "org.freedesktop.DBus.Error.UnknownMethod", "No such interface at %s",
                                bp_bus_call_get_path (call));
      return;
    }
  /* GDBus checked them already; a stand-in call gets the same check. */
  if (!bp_bus_call_check_args (call, agent->info->interfaces[0]))
    return;
  if (g_str_equal (method, "Release"))
    {
      g_message ("bluetoothd released the pairing agent");
      agent->state = AG_NONE;
      bp_peripheral_get_state (agent->p)->agent_registered = FALSE;
      pending_finish (agent, FALSE, "canceled");
      bp_bus_call_return_value (call, NULL);
      return;
    }
  if (g_str_equal (method, "Cancel"))
    {
      /* bluetoothd has given up on the call; answering it anyway costs nothing. */
      pending_finish (agent, FALSE, "canceled");
      bp_bus_call_return_value (call, NULL);
      return;
    }

  g_variant_get_child (params, 0, "&o", &device);
  address = bp_device_path_to_address (device);
  if (agent->mode == BP_PAIRING_OFF || !device_is_ours (agent, device) || address == NULL)
    {
      g_debug ("%s for %s: not a device of our adapter, refused", method, device);
      reject (call, "not a device of this daemon's adapter");
      return;
    }

  if (g_str_equal (method, "RequestAuthorization"))
    request (agent, call, address, "authorize", FALSE, 0);
  else if (g_str_equal (method, "RequestConfirmation"))
    {
      guint32 passkey = 0;
      g_variant_get_child (params, 1, "u", &passkey);
      request (agent, call, address, "confirm", TRUE, passkey);
    }
  else if (g_str_equal (method, "DisplayPasskey"))
    {
      guint32 passkey = 0;
      guint16 entered = 0;

      g_variant_get (params, "(&ouq)", NULL, &passkey, &entered);
      if (!bp_peripheral_get_state (agent->p)->window_open)
        {
          /* Nothing to refuse (DisplayPasskey has no answer): end the link instead. */
          bp_log_device (G_LOG_LEVEL_MESSAGE, address,
                         "pairing of %s refused: the pairing window is closed; disconnecting it", address);
          if (agent->conn != NULL)
            g_dbus_connection_call (agent->conn, BLUEZ, device, DEVICE_IFACE, "Disconnect", NULL, NULL,
                                    G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, disconnect_done, NULL);
          emit (agent, BP_EVENT_PAIRING_FAILED, address, "window-closed", FALSE, 0);
        }
      else if (entered == 0 || g_strcmp0 (agent->displayed, device) != 0)
        {
          g_free (agent->displayed);
          agent->displayed = g_strdup (device);
          bp_log_device (G_LOG_LEVEL_MESSAGE, address, "pairing with %s: passkey %06u", address, passkey);
          emit (agent, BP_EVENT_PAIRING, address, "passkey", TRUE, passkey);
        }
      bp_bus_call_return_value (call, NULL);
    }
  else if (g_str_equal (method, "AuthorizeService"))
    bp_bus_call_return_value (call, NULL);
  else
    {
      /* RequestPinCode, RequestPasskey, DisplayPinCode: not for an LE peripheral of these modes. */
      bp_log_device (G_LOG_LEVEL_MESSAGE, address, "%s from %s refused: not supported in Pairing=%s", method, address,
                     bp_pairing_mode_name (agent->mode));
      reject (call, "not supported");
      emit (agent, BP_EVENT_PAIRING_FAILED, address, "unsupported", FALSE, 0);
    }
}

static void
method_call (GDBusConnection *conn, const char *sender, const char *path, const char *iface, const char *method,
             GVariant *params, GDBusMethodInvocation *invocation, gpointer user_data)
{
  bp_agent_handle_call (user_data, bp_bus_call_new (invocation));
}

static const GDBusInterfaceVTable agent_vtable = { method_call, NULL, NULL, { 0 } };

/* --- registration ------------------------------------------------------------- */

typedef struct {
  BpAgent *agent;
  guint generation;
} CallData;

static CallData *
call_data (BpAgent *agent)
{
  CallData *cd = g_new0 (CallData, 1);
  cd->agent = agent;
  cd->generation = agent->generation;
  return cd;
}

static gboolean
retry_cb (gpointer user_data)
{
  BpAgent *agent = user_data;

  agent->retry_source = 0;
  agent_register (agent);
  return G_SOURCE_REMOVE;
}

static void
registration_failed (BpAgent *agent, const char *step, GError *error)
{
  g_dbus_error_strip_remote_error (error);
  g_warning ("bluetoothd refused %s of the pairing agent: %s; retrying in %d s", step, error->message, RETRY_SECONDS);
  agent->state = AG_NONE;
  if (agent->retry_source == 0)
    agent->retry_source = g_timeout_add_seconds (RETRY_SECONDS, retry_cb, agent);
}

static gboolean
error_is (GError *error, const char *name)
{
  g_autofree char *remote = g_dbus_error_get_remote_error (error);
  return g_strcmp0 (remote, name) == 0;
}

static void
request_default_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree CallData *cd = user_data;
  BpAgent *agent = cd->agent;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);

  if (cd->generation != agent->generation)
    return;
  if (reply == NULL)
    {
      registration_failed (agent, "RequestDefaultAgent", error);
      return;
    }
  agent->state = AG_DONE;
  bp_peripheral_get_state (agent->p)->agent_registered = TRUE;
  g_message ("pairing agent registered (%s, Pairing=%s): bluetoothd's default agent", capability (agent->mode),
             bp_pairing_mode_name (agent->mode));
  /* RequestDefaultAgent turned the adapter pairable: put it in step with the window. */
  apply_pairable (agent);
}

static void
register_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree CallData *cd = user_data;
  BpAgent *agent = cd->agent;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);

  if (cd->generation != agent->generation)
    return;
  if (reply == NULL && !error_is (error, "org.bluez.Error.AlreadyExists"))
    {
      registration_failed (agent, "RegisterAgent", error);
      return;
    }
  g_dbus_connection_call (agent->conn, BLUEZ, "/org/bluez", AGENT_MANAGER_IFACE, "RequestDefaultAgent",
                          g_variant_new ("(o)", BP_AGENT_PATH), NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS,
                          NULL, request_default_done, call_data (agent));
}

static void
agent_register (BpAgent *agent)
{
  if (agent->mode == BP_PAIRING_OFF || agent->owner == NULL || agent->state != AG_NONE)
    return;
  agent->state = AG_BUSY;
  g_dbus_connection_call (agent->conn, BLUEZ, "/org/bluez", AGENT_MANAGER_IFACE, "RegisterAgent",
                          g_variant_new ("(os)", BP_AGENT_PATH, capability (agent->mode)), NULL,
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, CALL_TIMEOUT_MS, NULL, register_done, call_data (agent));
}

static void
unregister_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree CallData *cd = user_data;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, NULL);

  if (cd->generation != cd->agent->generation)
    return;
  agent_register (cd->agent);
}

static void
bluez_appeared (GDBusConnection *conn, const char *name, const char *owner, gpointer user_data)
{
  BpAgent *agent = user_data;

  g_free (agent->owner);
  agent->owner = g_strdup (owner);
  agent->generation++;
  agent->state = AG_NONE;
  g_clear_handle_id (&agent->retry_source, g_source_remove);
  agent_register (agent);
}

static void
bluez_vanished (GDBusConnection *conn, const char *name, gpointer user_data)
{
  BpAgent *agent = user_data;

  g_clear_pointer (&agent->owner, g_free);
  agent->generation++;
  agent->state = AG_NONE;
  bp_peripheral_get_state (agent->p)->agent_registered = FALSE;
  g_clear_handle_id (&agent->retry_source, g_source_remove);
  pending_finish (agent, FALSE, "canceled");
}

static void
on_event (const BpEvent *event, gpointer user_data)
{
  BpAgent *agent = user_data;

  if (event->type == BP_EVENT_ADAPTER && event->on)
    {
      /* The adapter's name is in the state once the BlueZ module is done. */
      if (agent->pairable_idle == 0)
        agent->pairable_idle = g_idle_add (pairable_idle, agent);
    }
  else if (event->type == BP_EVENT_RELOADED)
    {
      BpPairingMode mode = security (agent)->pairing;

      if (mode == agent->mode)
        return;
      g_message ("[Security] Pairing changed from %s to %s", bp_pairing_mode_name (agent->mode),
                 bp_pairing_mode_name (mode));
      agent->mode = mode;
      pending_finish (agent, FALSE, "canceled");
      window_open (agent, TRUE, security (agent)->window_us);
      if (agent->state == AG_NONE)
        {
          agent_register (agent);
          return;
        }
      agent->generation++;
      agent->state = AG_NONE;
      bp_peripheral_get_state (agent->p)->agent_registered = FALSE;
      if (agent->owner != NULL)
        g_dbus_connection_call (agent->conn, BLUEZ, "/org/bluez", AGENT_MANAGER_IFACE, "UnregisterAgent",
                                g_variant_new ("(o)", BP_AGENT_PATH), NULL, G_DBUS_CALL_FLAGS_NO_AUTO_START,
                                CALL_TIMEOUT_MS, NULL, unregister_done, call_data (agent));
    }
}

/* --- life ------------------------------------------------------------------ */

BpAgent *
bp_agent_new (GDBusConnection *conn, BpPeripheral *p, GError **error)
{
  g_autoptr (BpAgent) agent = g_new0 (BpAgent, 1);

  agent->conn = conn != NULL ? g_object_ref (conn) : NULL;
  agent->p = p;
  agent->info = g_dbus_node_info_new_for_xml (agent_xml, error);
  if (agent->info == NULL)
    return NULL;
  /* Without a connection (fuzz targets): calls through bp_agent_handle_call(). */
  if (conn != NULL)
    {
      agent->object_id = g_dbus_connection_register_object (conn, BP_AGENT_PATH, agent->info->interfaces[0],
                                                            &agent_vtable, agent, NULL, error);
      if (agent->object_id == 0)
        return NULL;
    }
  agent->mode = security (agent)->pairing;
  window_open (agent, TRUE, security (agent)->window_us);
  bp_peripheral_set_pairing (p, &agent_pairing_class, agent);
  agent->listener = bp_peripheral_add_listener (p, on_event, agent);
  if (conn != NULL)
    agent->watch_id = g_bus_watch_name_on_connection (conn, BLUEZ, G_BUS_NAME_WATCHER_FLAGS_NONE, bluez_appeared,
                                                      bluez_vanished, agent, NULL);
  return g_steal_pointer (&agent);
}

void
bp_agent_free (BpAgent *agent)
{
  if (agent == NULL)
    return;
  if (agent->pending != NULL)
    pending_finish (agent, FALSE, "canceled");
  g_clear_handle_id (&agent->watch_id, g_bus_unwatch_name);
  g_clear_handle_id (&agent->retry_source, g_source_remove);
  g_clear_handle_id (&agent->window_timer, g_source_remove);
  g_clear_handle_id (&agent->pairable_idle, g_source_remove);
  if (agent->listener != 0)
    {
      bp_peripheral_set_pairing (agent->p, NULL, NULL);
      bp_peripheral_remove_listener (agent->p, agent->listener);
    }
  if (agent->object_id != 0)
    g_dbus_connection_unregister_object (agent->conn, agent->object_id);
  g_clear_pointer (&agent->info, g_dbus_node_info_unref);
  g_free (agent->owner);
  g_free (agent->displayed);
  g_clear_object (&agent->conn);
  g_free (agent);
}
