/* Method calls on our exported objects: the invocation or its stand-in, the
 * argument check GDBus makes, and the one rule for callers (bluetoothd, the
 * owner of org.bluez, and no one else). */
#define G_LOG_DOMAIN "buscall"

#include "build-config.h"

#include "daemon/buscall.h"

struct _BpBusCall {
  GDBusMethodInvocation *invocation; /* NULL for a stand-in */
  /* stand-in */
  char *sender;
  char *path;
  char *interface;
  char *method;
  GVariant *params;
  gboolean no_reply;
  BpBusCallReplyFunc reply;
  gpointer user_data;
};

static char *bluez_owner;
static char *last_refused; /* the last caller logged, not to log each call */
static guint64 refused;

BpBusCall *
bp_bus_call_new (GDBusMethodInvocation *invocation)
{
  BpBusCall *call = g_new0 (BpBusCall, 1);

  call->invocation = invocation;
  return call;
}

BpBusCall *
bp_bus_call_new_stand_in (const char *sender, const char *path, const char *interface, const char *method,
                          GVariant *params, gboolean no_reply, BpBusCallReplyFunc reply, gpointer user_data)
{
  BpBusCall *call = g_new0 (BpBusCall, 1);

  call->sender = g_strdup (sender);
  call->path = g_strdup (path);
  call->interface = g_strdup (interface);
  call->method = g_strdup (method);
  call->params = params != NULL ? g_variant_ref_sink (params) : g_variant_ref_sink (g_variant_new ("()"));
  call->no_reply = no_reply;
  call->reply = reply;
  call->user_data = user_data;
  return call;
}

const char *
bp_bus_call_get_sender (BpBusCall *call)
{
  return call->invocation ? g_dbus_method_invocation_get_sender (call->invocation) : call->sender;
}

const char *
bp_bus_call_get_path (BpBusCall *call)
{
  return call->invocation ? g_dbus_method_invocation_get_object_path (call->invocation) : call->path;
}

const char *
bp_bus_call_get_interface (BpBusCall *call)
{
  return call->invocation ? g_dbus_method_invocation_get_interface_name (call->invocation) : call->interface;
}

const char *
bp_bus_call_get_method (BpBusCall *call)
{
  return call->invocation ? g_dbus_method_invocation_get_method_name (call->invocation) : call->method;
}

GVariant *
bp_bus_call_get_parameters (BpBusCall *call)
{
  return call->invocation ? g_dbus_method_invocation_get_parameters (call->invocation) : call->params;
}

gboolean
bp_bus_call_no_reply (BpBusCall *call)
{
  if (call->invocation == NULL)
    return call->no_reply;
  return (g_dbus_message_get_flags (g_dbus_method_invocation_get_message (call->invocation)) &
          G_DBUS_MESSAGE_FLAGS_NO_REPLY_EXPECTED) != 0;
}

static void
call_free (BpBusCall *call)
{
  g_free (call->sender);
  g_free (call->path);
  g_free (call->interface);
  g_free (call->method);
  g_clear_pointer (&call->params, g_variant_unref);
  g_free (call);
}

void
bp_bus_call_return_value (BpBusCall *call, GVariant *value)
{
  if (call->invocation != NULL)
    {
      /* GDBus sends nothing when no reply is expected. */
      g_dbus_method_invocation_return_value (call->invocation, value);
    }
  else
    {
      g_autoptr (GVariant) v = value != NULL ? g_variant_ref_sink (value) : g_variant_ref_sink (g_variant_new ("()"));

      if (!call->no_reply && call->reply != NULL)
        call->reply (v, NULL, NULL, call->user_data);
    }
  call_free (call);
}

void
bp_bus_call_return_value_with_fds (BpBusCall *call, GVariant *value, GUnixFDList *fds)
{
  if (call->invocation != NULL)
    {
      g_dbus_method_invocation_return_value_with_unix_fd_list (call->invocation, value, fds);
      g_clear_object (&fds);
      call_free (call);
      return;
    }
  /* The list's descriptors close with it. */
  g_clear_object (&fds);
  bp_bus_call_return_value (call, value);
}

void
bp_bus_call_return_error (BpBusCall *call, const char *name, const char *format, ...)
{
  g_autofree char *message = NULL;
  va_list ap;

  va_start (ap, format);
  message = g_strdup_vprintf (format, ap);
  va_end (ap);
  if (call->invocation != NULL)
    g_dbus_method_invocation_return_dbus_error (call->invocation, name, message);
  else if (!call->no_reply && call->reply != NULL)
    call->reply (NULL, name, message, call->user_data);
  call_free (call);
}

void
bp_bus_call_drop (BpBusCall *call)
{
  if (call->invocation != NULL)
    g_object_unref (call->invocation);
  call_free (call);
}

gboolean
bp_bus_call_check_args (BpBusCall *call, GDBusInterfaceInfo *iface)
{
  const char *method = bp_bus_call_get_method (call);
  GDBusMethodInfo *info = g_dbus_interface_info_lookup_method (iface, method);
  GVariant *params = bp_bus_call_get_parameters (call);
  g_autoptr (GString) sig = g_string_new ("(");

  if (info == NULL)
    {
      bp_bus_call_return_error (call, "org.freedesktop.DBus.Error.UnknownMethod", "No such method “%s”", method);
      return FALSE;
    }
  for (guint i = 0; info->in_args != NULL && info->in_args[i] != NULL; i++)
    g_string_append (sig, info->in_args[i]->signature);
  g_string_append_c (sig, ')');
  if (params == NULL || !g_str_equal (g_variant_get_type_string (params), sig->str))
    {
      bp_bus_call_return_error (call, "org.freedesktop.DBus.Error.InvalidArgs",
                                "Type of message, “%s”, does not match expected type “%s”",
                                params ? g_variant_get_type_string (params) : "()", sig->str);
      return FALSE;
    }
  return TRUE;
}

void
bp_bus_set_bluez_owner (const char *unique_name)
{
  g_free (bluez_owner);
  bluez_owner = g_strdup (unique_name);
}

const char *
bp_bus_get_bluez_owner (void)
{
  return bluez_owner;
}

static gboolean
sender_is_bluez (const char *sender, const char *method, const char *path)
{
  if (sender != NULL && bluez_owner != NULL && g_str_equal (sender, bluez_owner))
    return TRUE;
  refused++;
  if (g_strcmp0 (last_refused, sender) != 0)
    {
      g_message ("refused %s on %s from %s: only bluetoothd (org.bluez, %s) may call it", method, path,
                 sender ? sender : "a peer without a bus name", bluez_owner ? bluez_owner : "not on the bus");
      g_free (last_refused);
      last_refused = g_strdup (sender);
    }
  return FALSE;
}

gboolean
bp_bus_call_from_bluez (BpBusCall *call)
{
  const char *method = bp_bus_call_get_method (call);

  if (sender_is_bluez (bp_bus_call_get_sender (call), method, bp_bus_call_get_path (call)))
    return TRUE;
  bp_bus_call_return_error (call, BP_BUS_ERROR_NOT_AUTHORIZED, "%s is for bluetoothd (the owner of org.bluez) only",
                            method);
  return FALSE;
}

gboolean
bp_bus_invocation_from_bluez (GDBusMethodInvocation *invocation)
{
  const char *method = g_dbus_method_invocation_get_method_name (invocation);
  g_autofree char *message = NULL;

  if (sender_is_bluez (g_dbus_method_invocation_get_sender (invocation), method,
                       g_dbus_method_invocation_get_object_path (invocation)))
    return TRUE;
  message = g_strdup_printf ("%s is for bluetoothd (the owner of org.bluez) only", method);
  g_dbus_method_invocation_return_dbus_error (invocation, BP_BUS_ERROR_NOT_AUTHORIZED, message);
  return FALSE;
}

guint64
bp_bus_refused_calls (void)
{
  return refused;
}
