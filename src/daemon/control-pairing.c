/* The control socket's pairing requests: pairing on|off|accept|reject,
 * bonds, forget; the pairing events' lines and the pairing part of status
 * (docs/protocol.md). */
#define G_LOG_DOMAIN "control"

#include "build-config.h"

#include "daemon/control-private.h"

#include "common/error.h"

gboolean
control_handle_pairing (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error)
{
  BpPeripheral *p = c->control->p;
  gboolean ok;
  const char *what;

  switch (r->pairing)
    {
    case BP_PAIRING_ON:
    case BP_PAIRING_OFF_REQ:
      what = r->pairing == BP_PAIRING_ON ? "pairing on" : "pairing off";
      ok = bp_peripheral_pairing_window (p, r->pairing == BP_PAIRING_ON, r->duration_us, error);
      break;
    case BP_PAIRING_ACCEPT:
    case BP_PAIRING_REJECT:
    default:
      what = r->pairing == BP_PAIRING_ACCEPT ? "pairing accept" : "pairing reject";
      ok = bp_peripheral_pairing_answer (p, r->address, r->pairing == BP_PAIRING_ACCEPT, error);
      break;
    }
  if (!ok)
    {
      g_prefix_error (error, "%s: ", what);
      return FALSE;
    }
  g_string_append (c->out, "ok\n");
  return TRUE;
}

gboolean
control_handle_bonds (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error)
{
  const GPtrArray *bonds = bp_peripheral_get_bonds (c->control->p);

  g_string_append (c->out, "ok");
  for (guint i = 0; i < bonds->len; i++)
    g_string_append_printf (c->out, " %s", (const char *) g_ptr_array_index (bonds, i));
  g_string_append_c (c->out, '\n');
  return TRUE;
}

gboolean
control_handle_forget (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error)
{
  if (!bp_peripheral_forget (c->control->p, r->address, error))
    {
      g_prefix_error (error, "forget %s: ", r->address);
      return FALSE;
    }
  g_string_append (c->out, "ok\n");
  return TRUE;
}

void
control_pairing_event (const BpEvent *event, BpProtoEvent *ev)
{
  switch (event->type)
    {
    case BP_EVENT_PAIRING:
      ev->kind = BP_PROTO_EVENT_PAIRING;
      ev->reason = event->reason;
      ev->has_passkey = event->on;
      ev->count = event->count;
      break;
    case BP_EVENT_PAIRED:
      ev->kind = BP_PROTO_EVENT_PAIRED;
      break;
    default:
      ev->kind = BP_PROTO_EVENT_PAIRING_FAILED;
      ev->reason = event->reason;
      break;
    }
}

void
control_pairing_status (BpControl *control, GString *out)
{
  BpPeripheral *p = control->p;
  const BpConfig *config = bp_peripheral_get_config (p);
  BpState *st = bp_peripheral_get_state (p);

  g_string_append_printf (out, " pairing=%s", bp_pairing_mode_name (config->security.pairing));
  if (config->security.pairing != BP_PAIRING_OFF)
    {
      g_string_append_printf (out, " agent=%s window=%s", control_yes_no (st->agent_registered),
                              st->window_open ? "open" : "closed");
      if (st->window_open && st->window_end > 0)
        {
          gint64 left = st->window_end - g_get_monotonic_time ();
          g_string_append_printf (out, " window-remaining=%" G_GINT64_FORMAT "s",
                                  left > 0 ? (left + G_USEC_PER_SEC - 1) / G_USEC_PER_SEC : 0);
        }
    }
  g_string_append_printf (out, " allowed-centrals=%s bonds=%u",
                          config->security.allowed == BP_ALLOWED_BONDED ? "bonded" : "any",
                          bp_peripheral_get_bonds (p)->len);
}
