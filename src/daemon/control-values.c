/* The control socket's requests on values and on reads that producers
 * serve: set, notify, get, take, info, serve, reply (docs/protocol.md). */
#define G_LOG_DOMAIN "control"

#include "build-config.h"

#include "daemon/control-private.h"

#include "common/error.h"
#include "common/uuid.h"
#include "common/value.h"

/* --- delegated reads --------------------------------------------------- */

static void
connection_read_request (gpointer server, guint64 id, BpCharacteristic *chr, const char *address, guint offset)
{
  Connection *c = server;
  BpControl *control = c->control;
  ReadInfo *ri;
  BpProtoEvent ev = {
    .kind = BP_PROTO_EVENT_READ,
    .id = id,
    .characteristic = chr->id,
    .address = address,
    .offset = offset,
  };

  if (c->closed || c->closing)
    return;

  /* Forget IDs never answered long ago, so that a producer that ignores
   * reads cannot grow this table without bound. */
  if (g_hash_table_size (c->reads) > 64)
    {
      GHashTableIter iter;
      gint64 now = g_get_monotonic_time ();

      g_hash_table_iter_init (&iter, c->reads);
      while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &ri))
        if (now - ri->since > READ_FORGET_US)
          g_hash_table_iter_remove (&iter);
    }
  ri = g_new0 (ReadInfo, 1);
  ri->id = id;
  ri->chr_id = g_strdup (chr->id);
  ri->since = g_get_monotonic_time ();
  g_hash_table_replace (c->reads, &ri->id, ri);

  g_string_truncate (control->scratch, 0);
  bp_proto_event_append (control->scratch, &ev);
  control_connection_append (c, control->scratch->str, control->scratch->len);
  control_connection_output_done (c);
}

static const BpReadServerClass read_server_class = {
  .read_request = connection_read_request,
};

static gboolean
looks_like_number (const char *text)
{
  gboolean digits = FALSE;
  const char *p = text;

  if (*p == '-' || *p == '+')
    p++;
  for (; *p != '\0'; p++)
    {
      if (g_ascii_isdigit (*p))
        digits = TRUE;
      else if (*p != '.' && *p != 'e' && *p != 'E' && *p != '-' && *p != '+')
        return FALSE;
    }
  return digits;
}

static GBytes *
parse_value (BpCharacteristic *chr, const char *text, GError **error)
{
  g_autoptr (GError) local = NULL;
  BpCharacteristicConfig *cc = chr->config;
  GBytes *value = bp_value_parse (text, cc->format, cc->exponent, &local);

  if (value != NULL)
    return value;
  if (cc->format == BP_FORMAT_NONE && local->domain == BP_ERROR && local->code == BP_ERROR_BAD_VALUE &&
      looks_like_number (text))
    {
      g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE,
                   "%s has no Format: give hex bytes or a quoted string, not the number %s", chr->id, text);
      return NULL;
    }
  g_propagate_error (error, g_steal_pointer (&local));
  return NULL;
}

static void
append_info (BpCharacteristic *chr, GString *out)
{
  BpCharacteristicConfig *cc = chr->config;
  char uuid[BP_UUID_STRLEN];
  g_auto (GStrv) flags = bp_flags_to_strv (cc->flags);
  g_autofree char *flag_list = g_strjoinv (",", flags);

  bp_uuid_to_string (&cc->uuid, uuid);
  g_string_append_printf (out, "ok id=%s uuid=%s flags=%s format=%s exponent=%d", chr->id, uuid,
                          control_or_dash (flag_list),
                          cc->format == BP_FORMAT_NONE ? "none" : bp_format_name (cc->format), cc->exponent);
  if (cc->has_unit)
    g_string_append_printf (out, " unit=0x%04x", cc->unit);
  g_string_append_printf (out,
                          " max-length=%u append=%s capture=%s queue-length=%u queued=%u"
                          " read-handler=%s read-timeout-ms=%" G_GUINT64_FORMAT " served=%s length=%u\n",
                          cc->max_length, control_yes_no (cc->append), control_yes_no (cc->capture), cc->queue_length,
                          g_queue_get_length (&chr->capture),
                          cc->read_handler == BP_READ_HANDLER_SOCKET ? "socket" : "value", cc->read_timeout_us / 1000,
                          control_yes_no (chr->server != NULL), chr->value->len);
}

static gboolean
handle_reply (Connection *c, const BpRequest *r, GError **error)
{
  BpPeripheral *p = c->control->p;
  ReadInfo *ri = g_hash_table_lookup (c->reads, &r->id);
  g_autoptr (GBytes) value = NULL;
  g_autoptr (GError) local = NULL;

  if (ri == NULL)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_UNKNOWN_READ,
                   "no read %" G_GUINT64_FORMAT
                   " was asked of this connection "
                   "(unknown, or already answered)",
                   r->id);
      return FALSE;
    }
  if (!r->is_error)
    {
      BpCharacteristic *chr = bp_peripheral_lookup (p, ri->chr_id, NULL);

      if (chr == NULL)
        {
          g_hash_table_remove (c->reads, &r->id);
          g_set_error (error, BP_ERROR, BP_ERROR_UNKNOWN_READ,
                       "read %" G_GUINT64_FORMAT " was of %s, which a reload removed", r->id, ri->chr_id);
          return FALSE;
        }
      /* A bad value leaves the read waiting: the producer may answer again. */
      value = parse_value (chr, r->value, error);
      if (value == NULL)
        return FALSE;
    }
  if (!bp_peripheral_reply (p, c, r->id, value, r->att_error, &local))
    {
      if (g_error_matches (local, BP_ERROR, BP_ERROR_UNKNOWN_READ))
        {
          g_hash_table_remove (c->reads, &r->id);
          g_set_error (error, BP_ERROR, BP_ERROR_UNKNOWN_READ,
                       "read %" G_GUINT64_FORMAT " timed out; the stored value was served", r->id);
          return FALSE;
        }
      g_propagate_error (error, g_steal_pointer (&local));
      return FALSE;
    }
  g_hash_table_remove (c->reads, &r->id);
  return TRUE;
}

gboolean
control_handle_set_notify (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error)
{
  BpPeripheral *p = c->control->p;
  g_autoptr (GBytes) value = parse_value (chr, r->value, error);

  if (r->verb != BP_REQUEST_SET)
    c->notifier = TRUE;
  if (value == NULL || !(r->verb == BP_REQUEST_SET ? bp_peripheral_set (p, chr, value, error) :
                                                     bp_peripheral_notify (p, chr, value, r->address, error)))
    {
      g_prefix_error (error, "%s %s: ", r->verb_name, chr->id);
      return FALSE;
    }
  g_string_append (c->out, "ok\n");
  return TRUE;
}

gboolean
control_handle_get_take (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error)
{
  BpPeripheral *p = c->control->p;
  g_autoptr (GBytes) value = r->verb == BP_REQUEST_GET ? bp_peripheral_get (p, chr) : bp_peripheral_take (p, chr);
  gsize len;
  const guint8 *data = g_bytes_get_data (value, &len);

  g_string_append (c->out, "ok ");
  bp_protocol_append_value (c->out, data, len);
  g_string_append_c (c->out, '\n');
  return TRUE;
}

gboolean
control_handle_info (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error)
{
  append_info (chr, c->out);
  return TRUE;
}

gboolean
control_handle_serve (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error)
{
  if (!bp_peripheral_serve (c->control->p, chr, &read_server_class, c, error))
    {
      g_prefix_error (error, "serve %s: ", chr->id);
      return FALSE;
    }
  c->serving = TRUE;
  g_string_append (c->out, "ok\n");
  return TRUE;
}

gboolean
control_handle_reply (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error)
{
  if (!handle_reply (c, r, error))
    {
      g_prefix_error (error, "reply %" G_GUINT64_FORMAT ": ", r->id);
      return FALSE;
    }
  g_string_append (c->out, "ok\n");
  return TRUE;
}
