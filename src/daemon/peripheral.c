/* The peripheral: values, capture queues, delegated reads and events. */
#define G_LOG_DOMAIN "peripheral"

#include "build-config.h"

#include "daemon/peripheral.h"

#include "common/error.h"
#include "daemon/log.h"

typedef struct {
  guint id;
  BpEventFunc func;
  gpointer user_data;
} Listener;

typedef struct {
  guint64 id;
  BpPeripheral *p;
  char *chr_id; /* looked up again on completion: a reload may replace it */
  gpointer server;
  BpReadDoneFunc done;
  gpointer user_data;
  guint timeout_source;
} PendingRead;

typedef struct {
  char *address;
  guint16 mtu;
} Central;

struct _BpPeripheral {
  BpConfig *config;
  GPtrArray *characteristics; /* of BpCharacteristic*, owned */
  GHashTable *by_id;          /* id → BpCharacteristic* */
  GArray *listeners;          /* of Listener */
  guint next_listener_id;
  GHashTable *pending_reads; /* guint64* id → PendingRead* */
  guint64 next_read_id;
  GPtrArray *centrals;          /* of Central*, connection order */
  GPtrArray *central_addresses; /* of char*, mirrors centrals for the getter */
  const BpBackend *backend_class;
  gpointer backend;
  const BpReadServerClass *server_class;
  const BpPairingClass *pairing_class;
  gpointer agent;
  GPtrArray *bonds; /* of char*: identity addresses, sorted */
  BpState state;
};

void
bp_captured_write_free (BpCapturedWrite *w)
{
  if (w == NULL)
    return;
  g_free (w->address);
  g_bytes_unref (w->data);
  g_free (w);
}

static void
characteristic_free (BpCharacteristic *chr)
{
  g_byte_array_unref (chr->value);
  g_queue_clear_full (&chr->capture, (GDestroyNotify) bp_captured_write_free);
  g_free (chr);
}

static BpCharacteristic *
characteristic_new (BpCharacteristicConfig *cc)
{
  BpCharacteristic *chr = g_new0 (BpCharacteristic, 1);
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (cc->initial, &len);

  chr->config = cc;
  chr->id = cc->id;
  chr->value = g_byte_array_sized_new (MAX ((guint) len, 16));
  if (len > 0)
    g_byte_array_append (chr->value, data, len);
  g_queue_init (&chr->capture);
  return chr;
}

static void
pending_read_free (PendingRead *pr)
{
  g_clear_handle_id (&pr->timeout_source, g_source_remove);
  g_free (pr->chr_id);
  g_free (pr);
}

static void
central_free (Central *c)
{
  g_free (c->address);
  g_free (c);
}

static void
build_characteristics (BpPeripheral *p, GHashTable *previous)
{
  p->characteristics = g_ptr_array_new_with_free_func ((GDestroyNotify) characteristic_free);
  p->by_id = g_hash_table_new (g_str_hash, g_str_equal);

  for (guint i = 0; i < p->config->services->len; i++)
    {
      BpServiceConfig *sc = g_ptr_array_index (p->config->services, i);

      for (guint j = 0; j < sc->characteristics->len; j++)
        {
          BpCharacteristicConfig *cc = g_ptr_array_index (sc->characteristics, j);
          BpCharacteristic *old = previous ? g_hash_table_lookup (previous, cc->id) : NULL;
          BpCharacteristic *chr;

          if (old != NULL)
            {
              /* Same ID across a reload: keep what producers and centrals gave it. */
              g_hash_table_remove (previous, cc->id);
              chr = old;
              chr->config = cc;
              chr->id = cc->id;
              while (g_queue_get_length (&chr->capture) > cc->queue_length)
                {
                  bp_captured_write_free (g_queue_pop_head (&chr->capture));
                  chr->dropped_unreported++;
                  chr->n_dropped++;
                }
              if (!(cc->read_handler == BP_READ_HANDLER_SOCKET))
                chr->server = NULL;
            }
          else
            {
              chr = characteristic_new (cc);
            }
          g_ptr_array_add (p->characteristics, chr);
          g_hash_table_insert (p->by_id, (gpointer) chr->id, chr);
        }
    }
}

BpPeripheral *
bp_peripheral_new (BpConfig *config)
{
  BpPeripheral *p = g_new0 (BpPeripheral, 1);

  p->config = config;
  p->listeners = g_array_new (FALSE, FALSE, sizeof (Listener));
  p->next_listener_id = 1;
  p->next_read_id = 1;
  p->pending_reads = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify) pending_read_free);
  p->centrals = g_ptr_array_new_with_free_func ((GDestroyNotify) central_free);
  p->central_addresses = g_ptr_array_new ();
  p->state.advertising_wanted = config->advertising.enabled;
  build_characteristics (p, NULL);
  return p;
}

static void complete_read (PendingRead *pr, BpCharacteristic *chr, GBytes *value, guint8 att_error);

static void
fail_all_pending_reads (BpPeripheral *p)
{
  g_autoptr (GPtrArray) pending = g_ptr_array_new ();
  GHashTableIter iter;
  PendingRead *pr;

  g_hash_table_iter_init (&iter, p->pending_reads);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &pr))
    g_ptr_array_add (pending, pr);

  /* Answer every waiting central before the reads go away (the stored value,
   * as on a timeout): nothing waits for bluetoothd's own 5 s timeout. */
  for (guint i = 0; i < pending->len; i++)
    {
      pr = g_ptr_array_index (pending, i);
      complete_read (pr, g_hash_table_lookup (p->by_id, pr->chr_id), NULL, 0);
    }
}

void
bp_peripheral_free (BpPeripheral *p)
{
  if (p == NULL)
    return;
  fail_all_pending_reads (p);
  g_hash_table_unref (p->pending_reads);
  g_hash_table_unref (p->by_id);
  g_ptr_array_unref (p->characteristics);
  g_ptr_array_unref (p->centrals);
  g_ptr_array_unref (p->central_addresses);
  g_array_unref (p->listeners);
  g_free (p->state.adapter);
  g_free (p->state.adapter_address);
  g_clear_pointer (&p->bonds, g_ptr_array_unref);
  bp_config_free (p->config);
  g_free (p);
}

const BpConfig *
bp_peripheral_get_config (BpPeripheral *p)
{
  return p->config;
}

void
bp_peripheral_set_backend (BpPeripheral *p, const BpBackend *klass, gpointer backend)
{
  p->backend_class = klass;
  p->backend = backend;
}

void
bp_peripheral_reconfigure (BpPeripheral *p, BpConfig *config)
{
  g_autoptr (GHashTable) previous = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr (GPtrArray) old_chars = g_steal_pointer (&p->characteristics);
  BpConfig *old_config = p->config;
  BpEvent ev = { .type = BP_EVENT_RELOADED };
  GHashTableIter iter;
  gpointer leftover;

  /* Characteristics are carried over by ID; keys are copies because the
   * old configuration, which owns the IDs, goes. */
  g_ptr_array_set_free_func (old_chars, NULL);
  for (guint i = 0; i < old_chars->len; i++)
    {
      BpCharacteristic *chr = g_ptr_array_index (old_chars, i);
      g_hash_table_insert (previous, g_strdup (chr->id), chr);
    }
  g_clear_pointer (&p->by_id, g_hash_table_unref);

  p->config = config;
  build_characteristics (p, previous);

  g_hash_table_iter_init (&iter, previous);
  while (g_hash_table_iter_next (&iter, NULL, &leftover))
    characteristic_free (leftover);

  p->state.advertising_wanted = config->advertising.enabled;
  bp_config_free (old_config);
  bp_peripheral_emit (p, &ev);
}

GPtrArray *
bp_peripheral_get_characteristics (BpPeripheral *p)
{
  return p->characteristics;
}

BpCharacteristic *
bp_peripheral_lookup (BpPeripheral *p, const char *name, GError **error)
{
  BpCharacteristic *found = NULL;

  if (name == NULL || *name == '\0')
    {
      g_set_error (error, BP_ERROR, BP_ERROR_BAD_REQUEST, "a characteristic is required (SERVICE/CHAR)");
      return NULL;
    }

  found = g_hash_table_lookup (p->by_id, name);
  if (found != NULL)
    return found;

  if (strchr (name, '/') == NULL)
    {
      for (guint i = 0; i < p->characteristics->len; i++)
        {
          BpCharacteristic *chr = g_ptr_array_index (p->characteristics, i);

          if (g_strcmp0 (chr->config->name, name) != 0)
            continue;
          if (found != NULL)
            {
              g_set_error (error, BP_ERROR, BP_ERROR_AMBIGUOUS, "\"%s\" is ambiguous: %s and %s; give SERVICE/CHAR",
                           name, found->id, chr->id);
              return NULL;
            }
          found = chr;
        }
      if (found != NULL)
        return found;
    }

  g_set_error (error, BP_ERROR, BP_ERROR_UNKNOWN_CHARACTERISTIC, "no characteristic \"%s\"", name);
  return NULL;
}

guint
bp_peripheral_add_listener (BpPeripheral *p, BpEventFunc func, gpointer user_data)
{
  Listener l = { p->next_listener_id++, func, user_data };

  g_array_append_val (p->listeners, l);
  return l.id;
}

void
bp_peripheral_remove_listener (BpPeripheral *p, guint id)
{
  for (guint i = 0; i < p->listeners->len; i++)
    {
      if (g_array_index (p->listeners, Listener, i).id == id)
        {
          g_array_remove_index (p->listeners, i);
          return;
        }
    }
}

void
bp_peripheral_emit (BpPeripheral *p, const BpEvent *event)
{
  /* A listener may remove itself or others: walk a copy. */
  guint n = p->listeners->len;
  g_autofree Listener *copy = g_memdup2 (p->listeners->data, n * sizeof (Listener));

  for (guint i = 0; i < n; i++)
    copy[i].func (event, copy[i].user_data);
}

static gboolean
check_value_size (BpCharacteristic *chr, GBytes *value, GError **error)
{
  gsize len = g_bytes_get_size (value);

  if (len > BP_VALUE_MAX)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_TOO_LONG,
                   "%s: a value is at most %d bytes (ATT limit), this one is %" G_GSIZE_FORMAT, chr->id, BP_VALUE_MAX,
                   len);
      return FALSE;
    }
  return TRUE;
}

static void
store_value (BpCharacteristic *chr, GBytes *value)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (value, &len);

  g_byte_array_set_size (chr->value, 0);
  if (len > 0)
    g_byte_array_append (chr->value, data, len);
}

gboolean
bp_peripheral_congested (BpPeripheral *p)
{
  return p->backend_class != NULL && p->backend_class->congested != NULL && p->backend_class->congested (p->backend);
}

gboolean
bp_peripheral_set (BpPeripheral *p, BpCharacteristic *chr, GBytes *value, GError **error)
{
  if (!check_value_size (chr, value, error))
    return FALSE;
  store_value (chr, value);
  chr->n_set++;
  return TRUE;
}

gboolean
bp_peripheral_notify (BpPeripheral *p, BpCharacteristic *chr, GBytes *value, const char *to_address, GError **error)
{
  if (!(chr->config->flags & (BP_FLAG_NOTIFY | BP_FLAG_INDICATE)))
    {
      g_set_error (error, BP_ERROR, BP_ERROR_NOT_PERMITTED, "%s has neither notify nor indicate in its Flags; use set",
                   chr->id);
      return FALSE;
    }
  if (!check_value_size (chr, value, error))
    return FALSE;
  if (to_address != NULL && !bp_peripheral_is_connected (p, to_address))
    {
      g_set_error (error, BP_ERROR, BP_ERROR_NOT_CONNECTED, "no central %s is connected", to_address);
      return FALSE;
    }

  if (p->backend_class != NULL && p->backend_class->notify != NULL)
    {
      if (!p->backend_class->notify (p->backend, chr, value, to_address, error))
        return FALSE;
    }
  store_value (chr, value);
  chr->n_notify++;

  if (!chr->mtu_warned)
    {
      guint16 mtu = bp_peripheral_min_mtu (p);

      if (mtu > 3 && g_bytes_get_size (value) > (gsize) (mtu - 3))
        {
          chr->mtu_warned = TRUE;
          bp_log_characteristic (G_LOG_LEVEL_WARNING, chr->id,
                                 "%s: a %" G_GSIZE_FORMAT
                                 "-byte value is longer than the smallest connected "
                                 "ATT MTU - 3 (%u); bluetoothd cuts notifications to that length",
                                 chr->id, g_bytes_get_size (value), mtu - 3);
        }
    }
  return TRUE;
}

GBytes *
bp_peripheral_get (BpPeripheral *p, BpCharacteristic *chr)
{
  return g_bytes_new (chr->value->data, chr->value->len);
}

GBytes *
bp_peripheral_take (BpPeripheral *p, BpCharacteristic *chr)
{
  GBytes *value = g_bytes_new (chr->value->data, chr->value->len);

  g_byte_array_set_size (chr->value, 0);
  return value;
}

guint64
bp_characteristic_capture_drain (BpCharacteristic *chr, GQueue *out)
{
  guint64 dropped = chr->dropped_unreported;
  BpCapturedWrite *w;

  while ((w = g_queue_pop_head (&chr->capture)) != NULL)
    g_queue_push_tail (out, w);
  chr->dropped_unreported = 0;
  return dropped;
}

void
bp_characteristic_capture_requeue (BpCharacteristic *chr, GQueue *writes)
{
  BpCapturedWrite *w;

  /* Older than anything queued since: they go in front, in order. */
  while ((w = g_queue_pop_tail (writes)) != NULL)
    g_queue_push_head (&chr->capture, w);
  while (g_queue_get_length (&chr->capture) > chr->config->queue_length)
    {
      bp_captured_write_free (g_queue_pop_head (&chr->capture));
      chr->dropped_unreported++;
      chr->n_dropped++;
    }
}

gboolean
bp_peripheral_serve (BpPeripheral *p, BpCharacteristic *chr, const BpReadServerClass *klass, gpointer server,
                     GError **error)
{
  if (chr->config->read_handler != BP_READ_HANDLER_SOCKET)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_NOT_PERMITTED,
                   "%s is not ReadHandler=socket; its reads are served from the stored value", chr->id);
      return FALSE;
    }
  if (chr->server != NULL && chr->server != server)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_BUSY, "%s is already served by another connection", chr->id);
      return FALSE;
    }
  p->server_class = klass;
  chr->server = server;
  return TRUE;
}

static void
complete_read (PendingRead *pr, BpCharacteristic *chr, GBytes *value, guint8 att_error)
{
  BpReadDoneFunc done = pr->done;
  gpointer user_data = pr->user_data;

  /* Removing frees pr: take what is needed first. */
  g_hash_table_remove (pr->p->pending_reads, &pr->id);
  if (value == NULL && att_error == 0 && chr != NULL)
    {
      g_autoptr (GBytes) stored = g_bytes_new (chr->value->data, chr->value->len);
      done (stored, 0, user_data);
      return;
    }
  if (value == NULL && att_error == 0)
    att_error = BP_ATT_UNLIKELY;
  done (value, att_error, user_data);
}

void
bp_peripheral_unserve_all (BpPeripheral *p, gpointer server)
{
  GHashTableIter iter;
  PendingRead *pr;
  g_autoptr (GPtrArray) orphans = g_ptr_array_new ();

  for (guint i = 0; i < p->characteristics->len; i++)
    {
      BpCharacteristic *chr = g_ptr_array_index (p->characteristics, i);
      if (chr->server == server)
        chr->server = NULL;
    }

  g_hash_table_iter_init (&iter, p->pending_reads);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &pr))
    if (pr->server == server)
      g_ptr_array_add (orphans, pr);

  for (guint i = 0; i < orphans->len; i++)
    {
      pr = g_ptr_array_index (orphans, i);
      bp_log_characteristic (G_LOG_LEVEL_MESSAGE, pr->chr_id,
                             "%s: the producer serving read %" G_GUINT64_FORMAT " left; serving the stored value",
                             pr->chr_id, pr->id);
      complete_read (pr, g_hash_table_lookup (p->by_id, pr->chr_id), NULL, 0);
    }
}

gboolean
bp_peripheral_reply (BpPeripheral *p, gpointer server, guint64 id, GBytes *value, guint8 att_error, GError **error)
{
  PendingRead *pr = g_hash_table_lookup (p->pending_reads, &id);
  BpCharacteristic *chr;

  if (pr == NULL || pr->server != server)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_UNKNOWN_READ,
                   "no read %" G_GUINT64_FORMAT
                   " is waiting for this connection "
                   "(unknown, already answered, or timed out and served the stored value)",
                   id);
      return FALSE;
    }
  if (value == NULL && !((att_error >= 0x01 && att_error <= 0x0f) || (att_error >= 0x80 && att_error <= 0x9f)))
    {
      g_set_error (error, BP_ERROR, BP_ERROR_OUT_OF_RANGE,
                   "ATT error 0x%02x is not one a read can carry (0x01-0x0f, 0x80-0x9f)", att_error);
      return FALSE;
    }
  chr = g_hash_table_lookup (p->by_id, pr->chr_id);
  if (value != NULL)
    {
      if (chr != NULL && !check_value_size (chr, value, error))
        return FALSE;
      if (chr != NULL)
        store_value (chr, value);
    }
  else if (chr != NULL)
    {
      chr->n_rejected++;
    }
  complete_read (pr, chr, value, value != NULL ? 0 : att_error);
  return TRUE;
}

static gboolean
read_timed_out (gpointer user_data)
{
  PendingRead *pr = user_data;
  BpCharacteristic *chr = g_hash_table_lookup (pr->p->by_id, pr->chr_id);

  pr->timeout_source = 0;
  bp_log_characteristic (G_LOG_LEVEL_MESSAGE, pr->chr_id,
                         "%s: read %" G_GUINT64_FORMAT " not answered within ReadTimeout; serving the stored value",
                         pr->chr_id, pr->id);
  complete_read (pr, chr, NULL, 0);
  return G_SOURCE_REMOVE;
}

void
bp_peripheral_read (BpPeripheral *p, BpCharacteristic *chr, const char *address, guint offset, BpReadDoneFunc done,
                    gpointer user_data)
{
  BpCharacteristicConfig *cc = chr->config;
  gint64 now = g_get_monotonic_time ();

  /* AllowedCentrals=bonded: a central without a bond reaches no producer. */
  if (!bp_peripheral_central_allowed (p, address))
    {
      chr->n_rejected++;
      bp_log_device (G_LOG_LEVEL_INFO, address, "%s: read from %s refused (ATT 0x08): no bond, pairing window closed",
                     chr->id, address ? address : "an unknown central");
      done (NULL, BP_ATT_INSUFFICIENT_AUTHORIZATION, user_data);
      return;
    }

  /* Blob reads (offset > 0) continue a long read: neither rate-limited nor re-asked. */
  if (offset == 0)
    {
      if (cc->min_read_interval_us > 0 && chr->last_read_us != 0 &&
          (guint64) (now - chr->last_read_us) < cc->min_read_interval_us)
        {
          chr->n_rejected++;
          done (NULL, BP_ATT_READ_NOT_PERMITTED, user_data);
          return;
        }
      chr->last_read_us = now;
    }
  chr->n_reads++;

  if (offset == 0 && cc->read_handler == BP_READ_HANDLER_SOCKET && chr->server != NULL && p->server_class != NULL)
    {
      PendingRead *pr = g_new0 (PendingRead, 1);

      pr->id = p->next_read_id++;
      pr->p = p;
      pr->chr_id = g_strdup (chr->id);
      pr->server = chr->server;
      pr->done = done;
      pr->user_data = user_data;
      pr->timeout_source = g_timeout_add_full (G_PRIORITY_DEFAULT, MAX (1, cc->read_timeout_us / 1000), read_timed_out,
                                               pr, NULL);
      g_hash_table_insert (p->pending_reads, &pr->id, pr);
      p->server_class->read_request (chr->server, pr->id, chr, address, offset);
      return;
    }

  {
    g_autoptr (GBytes) value = g_bytes_new (chr->value->data, chr->value->len);
    done (value, 0, user_data);
  }
}

guint8
bp_peripheral_write (BpPeripheral *p, BpCharacteristic *chr, const char *address, const guint8 *data, gsize len,
                     guint offset)
{
  BpCharacteristicConfig *cc = chr->config;
  BpEvent ev = {
    .type = BP_EVENT_WRITE,
    .characteristic = chr,
    .address = address,
    .data = data,
    .len = len,
    .offset = offset,
  };

  if (!bp_peripheral_central_allowed (p, address))
    {
      chr->n_rejected++;
      bp_log_device (G_LOG_LEVEL_INFO, address, "%s: write from %s refused (ATT 0x08): no bond, pairing window closed",
                     chr->id, address ? address : "an unknown central");
      return BP_ATT_INSUFFICIENT_AUTHORIZATION;
    }
  if (cc->append)
    {
      /* Append: each write adds to the buffer until a producer takes it;
       * offsets address the buffer as usual (long writes arrive in chunks). */
      gsize base = offset > 0 ? offset : chr->value->len;

      if (offset > chr->value->len)
        {
          chr->n_rejected++;
          return BP_ATT_INVALID_OFFSET;
        }
      if (base + len > cc->max_length)
        {
          chr->n_rejected++;
          return BP_ATT_INVALID_VALUE_LENGTH;
        }
      g_byte_array_set_size (chr->value, base);
      g_byte_array_append (chr->value, data, len);
    }
  else
    {
      if (offset > cc->max_length)
        {
          chr->n_rejected++;
          return BP_ATT_INVALID_OFFSET;
        }
      if (offset + len > cc->max_length)
        {
          chr->n_rejected++;
          return BP_ATT_INVALID_VALUE_LENGTH;
        }
      if (offset > chr->value->len)
        {
          chr->n_rejected++;
          return BP_ATT_INVALID_OFFSET;
        }
      /* A write replaces the value from offset on (a prepared write's
       * chunks arrive in offset order and rebuild the whole value). */
      g_byte_array_set_size (chr->value, offset);
      g_byte_array_append (chr->value, data, len);
    }
  chr->n_writes++;

  if (cc->capture)
    {
      BpCapturedWrite *w = g_new0 (BpCapturedWrite, 1);

      w->address = g_strdup (address);
      w->data = g_bytes_new (data, len);
      w->offset = offset;
      g_queue_push_tail (&chr->capture, w);
      chr->n_captured++;
      while (g_queue_get_length (&chr->capture) > cc->queue_length)
        {
          bp_captured_write_free (g_queue_pop_head (&chr->capture));
          chr->dropped_unreported++;
          chr->n_dropped++;
        }
      ev.captured = TRUE;
    }

  bp_peripheral_emit (p, &ev);
  return 0;
}

void
bp_peripheral_subscribed (BpPeripheral *p, BpCharacteristic *chr, gboolean on)
{
  BpEvent ev = {
    .type = on ? BP_EVENT_SUBSCRIBE : BP_EVENT_UNSUBSCRIBE,
    .characteristic = chr,
  };

  /* One journal record per change, with its BLE_CHARACTERISTIC field:
   * `journalctl BLE_CHARACTERISTIC=ID` shows when centrals listened. */
  if (chr->notifying != on)
    bp_log_characteristic (G_LOG_LEVEL_MESSAGE, chr->id, "%s: %s", chr->id,
                           on ? "a central subscribed (bluetoothd's StartNotify)" :
                                "no central subscribed any more (StopNotify)");
  chr->notifying = on;
  bp_peripheral_emit (p, &ev);

  if (on && chr->config->notify_on_subscribe && p->backend_class != NULL && p->backend_class->notify != NULL)
    {
      g_autoptr (GBytes) value = g_bytes_new (chr->value->data, chr->value->len);
      g_autoptr (GError) error = NULL;

      if (!p->backend_class->notify (p->backend, chr, value, NULL, &error))
        bp_log_characteristic (G_LOG_LEVEL_WARNING, chr->id, "%s: NotifyOnSubscribe: %s", chr->id, error->message);
      else
        chr->n_notify++;
    }
}

void
bp_peripheral_central_subscribed (BpPeripheral *p, BpCharacteristic *chr, const char *address, guint16 mtu, gboolean on,
                                  gboolean notifying)
{
  BpEvent ev = {
    .type = on ? BP_EVENT_SUBSCRIBE : BP_EVENT_UNSUBSCRIBE,
    .characteristic = chr,
    .address = address,
    .mtu = mtu,
  };

  /* As bp_peripheral_subscribed: one journal record per central's change,
   * with BLE_CHARACTERISTIC (and the central's address in the text). */
  bp_log_characteristic (G_LOG_LEVEL_MESSAGE, chr->id, "%s: central %s %s", chr->id, address ? address : "(unknown)",
                         on ? "subscribed (bluetoothd's AcquireNotify)" : "unsubscribed");
  chr->notifying = notifying;
  bp_peripheral_emit (p, &ev);

  if (on && chr->config->notify_on_subscribe && p->backend_class != NULL && p->backend_class->notify != NULL)
    {
      g_autoptr (GBytes) value = g_bytes_new (chr->value->data, chr->value->len);
      g_autoptr (GError) error = NULL;

      /* To the new subscriber alone where bluetoothd can do it, else to all
       * as StartNotify does. */
      if ((address == NULL || !p->backend_class->notify (p->backend, chr, value, address, NULL)) &&
          !p->backend_class->notify (p->backend, chr, value, NULL, &error))
        bp_log_characteristic (G_LOG_LEVEL_WARNING, chr->id, "%s: NotifyOnSubscribe: %s", chr->id, error->message);
      else
        chr->n_notify++;
    }
}

void
bp_peripheral_confirmed (BpPeripheral *p, BpCharacteristic *chr, const char *address)
{
  BpEvent ev = {
    .type = BP_EVENT_CONFIRM,
    .characteristic = chr,
    .address = address,
  };

  chr->n_confirm++;
  bp_peripheral_emit (p, &ev);
}

static Central *
find_central (BpPeripheral *p, const char *address, guint *index)
{
  for (guint i = 0; i < p->centrals->len; i++)
    {
      Central *c = g_ptr_array_index (p->centrals, i);
      if (g_ascii_strcasecmp (c->address, address) == 0)
        {
          if (index != NULL)
            *index = i;
          return c;
        }
    }
  return NULL;
}

gboolean
bp_peripheral_is_connected (BpPeripheral *p, const char *address)
{
  return find_central (p, address, NULL) != NULL;
}

/* AllowedCentrals=bonded, outside the pairing window: a central without a bond goes. */
static void
disconnect_if_not_allowed (BpPeripheral *p, const char *address)
{
  g_autoptr (GError) error = NULL;

  if (bp_peripheral_central_allowed (p, address) || p->backend_class == NULL || p->backend_class->disconnect == NULL)
    return;
  bp_log_device (G_LOG_LEVEL_MESSAGE, address,
                 "central %s has no bond and the pairing window is closed ([Security] AllowedCentrals=bonded): "
                 "disconnecting it",
                 address);
  if (!p->backend_class->disconnect (p->backend, address, &error))
    bp_log_device (G_LOG_LEVEL_WARNING, address, "disconnecting %s: %s", address, error->message);
}

void
bp_peripheral_central_connected (BpPeripheral *p, const char *address, guint16 mtu)
{
  Central *c;
  BpEvent ev = { .type = BP_EVENT_CONNECT, .address = address };

  if (find_central (p, address, NULL) != NULL)
    return;
  c = g_new0 (Central, 1);
  c->address = g_strdup (address);
  c->mtu = mtu;
  g_ptr_array_add (p->centrals, c);
  g_ptr_array_add (p->central_addresses, c->address);
  bp_log_device (G_LOG_LEVEL_MESSAGE, address, "central %s connected (%u connected)", address, p->centrals->len);
  bp_peripheral_emit (p, &ev);
  disconnect_if_not_allowed (p, address);
}

void
bp_peripheral_central_disconnected (BpPeripheral *p, const char *address)
{
  guint index = 0;
  Central *c = find_central (p, address, &index);
  g_autofree char *addr = NULL;
  BpEvent ev = { .type = BP_EVENT_DISCONNECT };

  if (c == NULL)
    return;
  addr = g_strdup (c->address);
  g_ptr_array_remove_index (p->central_addresses, index);
  g_ptr_array_remove_index (p->centrals, index);
  ev.address = addr;
  bp_log_device (G_LOG_LEVEL_MESSAGE, addr, "central %s disconnected (%u connected)", addr, p->centrals->len);
  bp_peripheral_emit (p, &ev);
}

const GPtrArray *
bp_peripheral_get_centrals (BpPeripheral *p)
{
  return p->central_addresses;
}

guint16
bp_peripheral_min_mtu (BpPeripheral *p)
{
  guint16 min = 0;

  for (guint i = 0; i < p->centrals->len; i++)
    {
      Central *c = g_ptr_array_index (p->centrals, i);
      if (c->mtu != 0 && (min == 0 || c->mtu < min))
        min = c->mtu;
    }
  return min;
}

void
bp_peripheral_update_mtu (BpPeripheral *p, const char *address, guint16 mtu)
{
  Central *c = address != NULL ? find_central (p, address, NULL) : NULL;

  if (c != NULL && mtu != 0)
    c->mtu = mtu;
}

guint16
bp_peripheral_get_mtu (BpPeripheral *p, const char *address)
{
  Central *c = address != NULL ? find_central (p, address, NULL) : NULL;

  return c != NULL ? c->mtu : 0;
}

BpState *
bp_peripheral_get_state (BpPeripheral *p)
{
  return &p->state;
}

gboolean
bp_peripheral_set_advertising (BpPeripheral *p, gboolean on, GError **error)
{
  if (p->backend_class == NULL || p->backend_class->set_advertising == NULL)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_UNAVAILABLE, "advertising is not available");
      return FALSE;
    }
  return p->backend_class->set_advertising (p->backend, on, error);
}

gboolean
bp_peripheral_disconnect (BpPeripheral *p, const char *address, GError **error)
{
  if (!bp_peripheral_is_connected (p, address))
    {
      g_set_error (error, BP_ERROR, BP_ERROR_NOT_CONNECTED, "no central %s is connected", address);
      return FALSE;
    }
  if (p->backend_class == NULL || p->backend_class->disconnect == NULL)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_UNAVAILABLE, "bluetoothd is not available");
      return FALSE;
    }
  return p->backend_class->disconnect (p->backend, address, error);
}

/* --- pairing and bonds ---------------------------------------------- */

static gint
compare_addresses (gconstpointer a, gconstpointer b)
{
  return g_ascii_strcasecmp (*(const char *const *) a, *(const char *const *) b);
}

void
bp_peripheral_set_pairing (BpPeripheral *p, const BpPairingClass *klass, gpointer agent)
{
  p->pairing_class = klass;
  p->agent = agent;
}

gboolean
bp_peripheral_pairing_window (BpPeripheral *p, gboolean open, guint64 duration_us, GError **error)
{
  if (p->config->security.pairing == BP_PAIRING_OFF || p->pairing_class == NULL)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_PAIRING_OFF,
                   "[Security] Pairing=off: the daemon is no pairing agent, so it has no pairing window");
      return FALSE;
    }
  return p->pairing_class->set_window (p->agent, open, duration_us, error);
}

gboolean
bp_peripheral_pairing_answer (BpPeripheral *p, const char *address, gboolean accept, GError **error)
{
  if (p->config->security.pairing == BP_PAIRING_OFF || p->pairing_class == NULL)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_PAIRING_OFF,
                   "[Security] Pairing=off: the daemon is no pairing agent, so no request waits for an answer");
      return FALSE;
    }
  return p->pairing_class->answer (p->agent, address, accept, error);
}

void
bp_peripheral_set_bonds (BpPeripheral *p, GPtrArray *addresses)
{
  g_ptr_array_sort (addresses, compare_addresses);
  g_clear_pointer (&p->bonds, g_ptr_array_unref);
  p->bonds = addresses;
}

const GPtrArray *
bp_peripheral_get_bonds (BpPeripheral *p)
{
  if (p->bonds == NULL)
    p->bonds = g_ptr_array_new_with_free_func (g_free);
  return p->bonds;
}

gboolean
bp_peripheral_is_bonded (BpPeripheral *p, const char *address)
{
  if (address == NULL || p->bonds == NULL)
    return FALSE;
  for (guint i = 0; i < p->bonds->len; i++)
    if (g_ascii_strcasecmp (g_ptr_array_index (p->bonds, i), address) == 0)
      return TRUE;
  return FALSE;
}

gboolean
bp_peripheral_forget (BpPeripheral *p, const char *address, GError **error)
{
  if (!bp_peripheral_is_bonded (p, address))
    {
      g_set_error (error, BP_ERROR, BP_ERROR_UNKNOWN_BOND, "no central %s is bonded with this adapter", address);
      return FALSE;
    }
  if (p->backend_class == NULL || p->backend_class->forget == NULL)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_UNAVAILABLE, "bluetoothd is not available");
      return FALSE;
    }
  return p->backend_class->forget (p->backend, address, error);
}

gboolean
bp_peripheral_central_allowed (BpPeripheral *p, const char *address)
{
  if (p->config->security.allowed != BP_ALLOWED_BONDED)
    return TRUE;
  if (p->state.window_open)
    return TRUE;
  return bp_peripheral_is_bonded (p, address);
}

void
bp_peripheral_pairing_window_changed (BpPeripheral *p)
{
  g_autoptr (GPtrArray) addresses = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < p->central_addresses->len; i++)
    g_ptr_array_add (addresses, g_strdup (g_ptr_array_index (p->central_addresses, i)));
  for (guint i = 0; i < addresses->len; i++)
    disconnect_if_not_allowed (p, g_ptr_array_index (addresses, i));
}
