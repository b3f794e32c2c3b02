/* The control socket's requests on the session and the daemon: watch,
 * unwatch, advertise, disconnect, status, help (docs/protocol.md). */
#define G_LOG_DOMAIN "control"

#include "build-config.h"

#include "daemon/control-private.h"

#include "common/error.h"

static void
append_status (BpControl *control, GString *out)
{
  BpPeripheral *p = control->p;
  BpState *st = bp_peripheral_get_state (p);
  const GPtrArray *centrals = bp_peripheral_get_centrals (p);
  GPtrArray *chars = bp_peripheral_get_characteristics (p);

  g_autofree char *bluez_version = bp_capabilities_version_text (&st->bluez_caps);

  g_string_append_printf (
    out,
    "ok adapter=%s address=%s bluez=%s bluez-version=%s bluez-experimental=%s "
    "registered=%s advertising=%s advertise=%s centrals=%u connected=",
    control_or_dash (st->adapter), control_or_dash (st->adapter_address), st->bluez_present ? "present" : "absent",
    bluez_version, bp_capabilities_experimental_text (&st->bluez_caps), control_yes_no (st->registered),
    st->advertising ? "on" : "off", st->advertising_wanted ? "on" : "off", centrals != NULL ? centrals->len : 0);
  if (centrals == NULL || centrals->len == 0)
    g_string_append_c (out, '-');
  for (guint i = 0; centrals != NULL && i < centrals->len; i++)
    g_string_append_printf (out, "%s%s", i > 0 ? "," : "", (const char *) g_ptr_array_index (centrals, i));
  g_string_append_printf (out, " clients=%u", control->n_open);
  /* The acquired sockets: each connected central's ATT MTU, and what the
   * sockets carried (fastpath.c). */
  g_string_append (out, " central-mtu=");
  if (centrals == NULL || centrals->len == 0)
    g_string_append_c (out, '-');
  for (guint i = 0; centrals != NULL && i < centrals->len; i++)
    {
      const char *a = g_ptr_array_index (centrals, i);
      g_string_append_printf (out, "%s%s/%u", i > 0 ? "," : "", a, bp_peripheral_get_mtu (p, a));
    }
  g_string_append_printf (
    out, " socket-values=%" G_GUINT64_FORMAT " socket-fallbacks=%" G_GUINT64_FORMAT " socket-writes=%" G_GUINT64_FORMAT,
    st->socket_values, st->socket_fallbacks, st->socket_writes);
  control_pairing_status (control, out);

  for (guint i = 0; i < chars->len; i++)
    {
      BpCharacteristic *chr = g_ptr_array_index (chars, i);
      const char *id = chr->id;

      g_string_append_printf (
        out,
        " %s.notify=%" G_GUINT64_FORMAT " %s.set=%" G_GUINT64_FORMAT " %s.reads=%" G_GUINT64_FORMAT
        " %s.writes=%" G_GUINT64_FORMAT " %s.captured=%" G_GUINT64_FORMAT
        " %s.queued=%u"
        " %s.dropped=%" G_GUINT64_FORMAT " %s.rejected=%" G_GUINT64_FORMAT " %s.confirm=%" G_GUINT64_FORMAT
        " %s.subscribed=%s %s.served=%s",
        id, chr->n_notify, id, chr->n_set, id, chr->n_reads, id, chr->n_writes, id, chr->n_captured, id,
        g_queue_get_length (&chr->capture), id, chr->n_dropped, id, chr->n_rejected, id, chr->n_confirm, id,
        control_yes_no (chr->notifying), id, control_yes_no (chr->server != NULL));
    }
  g_string_append_c (out, '\n');
}

gboolean
control_handle_watch (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error)
{
  c->watch |= r->watch;
  g_string_append (c->out, "ok\n");
  /* Writes captured while nobody listened come first. */
  if (r->watch & BP_WATCH_WRITE)
    control_deliver_all_captured (c->control);
  return TRUE;
}

gboolean
control_handle_unwatch (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error)
{
  c->watch &= ~r->watch;
  g_string_append (c->out, "ok\n");
  return TRUE;
}

gboolean
control_handle_advertise (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error)
{
  if (!bp_peripheral_set_advertising (c->control->p, r->on, error))
    {
      g_prefix_error (error, "advertise %s: ", r->on ? "on" : "off");
      return FALSE;
    }
  g_string_append (c->out, "ok\n");
  return TRUE;
}

gboolean
control_handle_disconnect (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error)
{
  if (!bp_peripheral_disconnect (c->control->p, r->address, error))
    {
      g_prefix_error (error, "disconnect %s: ", r->address);
      return FALSE;
    }
  g_string_append (c->out, "ok\n");
  return TRUE;
}

gboolean
control_handle_status (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error)
{
  append_status (c->control, c->out);
  return TRUE;
}

gboolean
control_handle_help (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error)
{
  g_string_append_printf (c->out, "ok %s\n", bp_protocol_help);
  return TRUE;
}
