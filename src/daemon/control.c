/* The control socket server (SPEC §5, docs/protocol.md).
 *
 * One listening Unix stream socket, one GSource per connection on the main
 * loop, no GIO streams: a connection is read with large non-blocking reads
 * into one shared buffer, lines are cut in place, the replies of one read are
 * written together. Output is buffered per connection up to
 * BP_CONTROL_OUTPUT_MAX; a client that does not read is closed rather than
 * allowed to stall the daemon, and the captured writes it had not received
 * go back to their queues. */
#define G_LOG_DOMAIN "control"
/* accept4(), struct ucred */
#define _GNU_SOURCE

#include "build-config.h"

#include "daemon/control.h"
#include "daemon/control-private.h"

#include <errno.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>

#include "common/error.h"
#include "common/protocol.h"

/* One read takes up to this much; lines are at most BP_PROTOCOL_LINE_MAX. */
#define READ_BUFFER_SIZE (128 * 1024)
/* What one read takes from a connection that notifies: a flood of notify
 * requests is handled about a hundred at a time, and the other connections
 * (status, get, …) get their turn in between instead of waiting behind
 * thousands. Congestion is looked at after each read, so this is also how
 * far the bus's backlog bound (gatt.c) can be overshot: our replies to
 * bluetoothd wait behind that backlog, and it answers a central with ATT
 * 0x0e when one is 5 s late. */
#define NOTIFIER_READ_SIZE (2 * 1024)
/* A connection that is closing gets this long to take its last replies. */
#define LINGER_TIMEOUT_MS 5000
/* Pause before accepting again after running out of file descriptors. */
#define ACCEPT_RETRY_MS 200
/* Captured writes wait in their queue while a watcher has this much
 * output unsent, and flow again once it is under CAPTURE_LOW_WATER. */
#define CAPTURE_HIGH_WATER (256 * 1024)
#define CAPTURE_LOW_WATER (64 * 1024)
/* A connection whose output does not move for this long is closed. */
#define STALL_TIMEOUT_US (5 * G_USEC_PER_SEC)

/* A captured write handed to one or more connections. It goes back to its
 * characteristic's queue when every connection holding its line unsent is
 * closed and none had sent it. */
typedef struct {
  guint refs;
  char *chr_id;
  BpCapturedWrite *write; /* NULL once requeued */
  guint pending;          /* live connections holding its line unsent */
  gboolean sent;          /* one connection handed its line to the kernel */
} Capture;

typedef struct {
  Capture *capture;
  guint64 end; /* output stream position just past its line */
} Delivery;

typedef struct {
  GSource source;
  Connection *conn;
  gpointer tag;
} ConnectionSource;

static void connection_close (Connection *c, const char *reason);
static void connection_flush (Connection *c);
static void control_watch_stalls (BpControl *control);

/* --- captures ---------------------------------------------------------- */

static Capture *
capture_new (const char *chr_id, BpCapturedWrite *write)
{
  Capture *cap = g_new0 (Capture, 1);

  cap->refs = 1;
  cap->chr_id = g_strdup (chr_id);
  cap->write = write;
  return cap;
}

static void
capture_unref (Capture *cap)
{
  if (--cap->refs > 0)
    return;
  g_free (cap->chr_id);
  g_clear_pointer (&cap->write, bp_captured_write_free);
  g_free (cap);
}

void
control_read_info_free (ReadInfo *ri)
{
  g_free (ri->chr_id);
  g_free (ri);
}

/* --- output ------------------------------------------------------------ */

static gsize
connection_unsent (Connection *c)
{
  return c->out->len - c->out_head;
}

/* Not read for now: it notifies, and the way to the bus is congested. */
static gboolean
connection_paused (Connection *c)
{
  return c->control->paused && c->notifier;
}

static void
connection_set_condition (Connection *c, GIOCondition condition)
{
  if (c->source == NULL || c->condition == condition)
    return;
  if ((condition & G_IO_OUT) && !(c->condition & G_IO_OUT))
    {
      c->stalled_since = g_get_monotonic_time ();
      control_watch_stalls (c->control);
    }
  else if (!(condition & G_IO_OUT))
    {
      c->stalled_since = 0;
    }
  c->condition = condition;
  g_source_modify_unix_fd (c->source, ((ConnectionSource *) c->source)->tag,
                           connection_paused (c) ? condition & ~G_IO_IN : condition);
}

/* Producers are not read while notifications wait to leave for the bus
 * beyond its bound (bp_peripheral_congested): what they send waits in their
 * sockets, so a flood costs no memory, and nothing is dropped. Only the
 * connections that notify are held back: the others (status, get, watch…)
 * are answered all the same. */
static void
control_set_paused (BpControl *control, gboolean paused)
{
  if (control->paused == paused)
    return;
  control->paused = paused;
  g_debug ("%s reading notifying producers: the bus %s", paused ? "pausing" : "resuming",
           paused ? "is behind" : "caught up");
  for (GList *l = control->connections; l != NULL; l = l->next)
    {
      Connection *c = l->data;

      if (!c->closed && c->source != NULL)
        g_source_modify_unix_fd (c->source, ((ConnectionSource *) c->source)->tag,
                                 connection_paused (c) ? c->condition & ~G_IO_IN : c->condition);
    }
}

void
control_connection_append (Connection *c, const char *data, gsize len)
{
  g_string_append_len (c->out, data, len);
}

/* After output was queued: close a connection over its bound, else send
 * now unless a read cycle is going on (it sends when it ends). */
void
control_connection_output_done (Connection *c)
{
  if (c->closed)
    return;
  if (connection_unsent (c) > BP_CONTROL_OUTPUT_MAX)
    {
      g_autofree char *reason = g_strdup_printf ("over %d KiB of output wait: the client does not read",
                                                 BP_CONTROL_OUTPUT_MAX / 1024);

      connection_close (c, reason);
      return;
    }
  if (!c->in_dispatch && !(c->condition & G_IO_OUT))
    connection_flush (c);
}

static void
connection_flush (Connection *c)
{
  Delivery *d;

  while (connection_unsent (c) > 0)
    {
      ssize_t n = send (c->fd, c->out->str + c->out_head, connection_unsent (c), MSG_NOSIGNAL | MSG_DONTWAIT);

      if (n < 0)
        {
          int saved = errno;

          if (saved == EINTR)
            continue;
          if (saved == EAGAIN || saved == EWOULDBLOCK)
            break;
          connection_close (c, g_strerror (saved));
          return;
        }
      c->out_head += n;
      c->out_sent += n;
      if (c->stalled_since != 0)
        c->stalled_since = g_get_monotonic_time ();
    }

  /* Captured writes whose whole line went to the kernel are delivered. */
  while ((d = g_queue_peek_head (&c->deliveries)) != NULL && d->end <= c->out_sent)
    {
      g_queue_pop_head (&c->deliveries);
      d->capture->sent = TRUE;
      d->capture->pending--;
      capture_unref (d->capture);
      g_free (d);
    }

  if (connection_unsent (c) == 0)
    {
      c->out_head = 0;
      if (c->out->allocated_len > 256 * 1024)
        {
          /* A burst is over: give its memory back. */
          g_string_free (c->out, TRUE);
          c->out = g_string_sized_new (4096);
        }
      else
        {
          g_string_truncate (c->out, 0);
        }
      if (c->closing)
        {
          connection_close (c, NULL);
          return;
        }
      connection_set_condition (c, G_IO_IN);
    }
  else
    {
      if (c->out_head > 64 * 1024 && c->out_head > c->out->len / 2)
        {
          g_string_erase (c->out, 0, c->out_head);
          c->out_head = 0;
        }
      connection_set_condition (c, c->closing ? G_IO_OUT : G_IO_IN | G_IO_OUT);
    }

  /* Room again: the captured writes held back for this watcher flow. */
  if (c->control->captured_waiting && (c->watch & BP_WATCH_WRITE) && connection_unsent (c) < CAPTURE_LOW_WATER)
    control_deliver_all_captured (c->control);
}

/* --- events ------------------------------------------------------------ */

static gboolean
connection_full (Connection *c)
{
  return connection_unsent (c) >= CAPTURE_HIGH_WATER;
}

/* Moves chr's queued captured writes to every write-watcher, the count of
 * the ones dropped first. With no write-watcher they stay queued; while a
 * watcher has CAPTURE_HIGH_WATER unsent, the rest wait in the queue (in
 * order, bounded by QueueLength) until it reads. */
static void
deliver_captured (BpControl *control, BpCharacteristic *chr)
{
  g_autoptr (GPtrArray) targets = g_ptr_array_new ();
  GQueue writes = G_QUEUE_INIT;
  guint64 dropped;
  BpCapturedWrite *w;
  GString *line = control->scratch;
  gboolean full = FALSE;

  for (GList *l = control->connections; l != NULL; l = l->next)
    {
      Connection *c = l->data;

      if (!c->closed && (c->watch & BP_WATCH_WRITE))
        {
          g_ptr_array_add (targets, c);
          full = full || connection_full (c);
        }
    }
  if (targets->len == 0 || g_queue_is_empty (&chr->capture))
    return;
  if (full)
    {
      control->captured_waiting = TRUE;
      return;
    }

  dropped = bp_characteristic_capture_drain (chr, &writes);
  if (dropped > 0)
    {
      BpProtoEvent ev = { .kind = BP_PROTO_EVENT_DROPPED, .characteristic = chr->id, .count = dropped };

      g_string_truncate (line, 0);
      bp_proto_event_append (line, &ev);
      for (guint i = 0; i < targets->len; i++)
        control_connection_append (g_ptr_array_index (targets, i), line->str, line->len);
    }

  while (!full && (w = g_queue_pop_head (&writes)) != NULL)
    {
      Capture *cap = capture_new (chr->id, w);
      BpProtoEvent ev = {
        .kind = BP_PROTO_EVENT_WRITE,
        .characteristic = chr->id,
        .address = w->address,
        .offset = w->offset,
      };

      ev.data = g_bytes_get_data (w->data, &ev.len);
      g_string_truncate (line, 0);
      bp_proto_event_append (line, &ev);
      for (guint i = 0; i < targets->len; i++)
        {
          Connection *c = g_ptr_array_index (targets, i);
          Delivery *d = g_new0 (Delivery, 1);

          control_connection_append (c, line->str, line->len);
          d->capture = cap;
          d->end = c->out_sent + connection_unsent (c);
          cap->refs++;
          cap->pending++;
          g_queue_push_tail (&c->deliveries, d);
          full = full || connection_full (c);
        }
      capture_unref (cap);
    }
  if (!g_queue_is_empty (&writes))
    {
      /* The rest waits, in front of anything captured since. */
      bp_characteristic_capture_requeue (chr, &writes);
      control->captured_waiting = TRUE;
    }

  for (guint i = 0; i < targets->len; i++)
    control_connection_output_done (g_ptr_array_index (targets, i));
}

void
control_deliver_all_captured (BpControl *control)
{
  GPtrArray *chars = bp_peripheral_get_characteristics (control->p);
  gboolean progress;

  /* Sending makes room, which delivers: not from inside a delivery. */
  if (control->delivering)
    return;
  control->delivering = TRUE;
  do
    {
      progress = FALSE;
      control->captured_waiting = FALSE;
      for (guint i = 0; i < chars->len; i++)
        {
          BpCharacteristic *chr = g_ptr_array_index (chars, i);
          guint before = g_queue_get_length (&chr->capture);

          if (!chr->config->capture)
            continue;
          deliver_captured (control, chr);
          progress = progress || g_queue_get_length (&chr->capture) < before;
        }
    }
  /* What was sent meanwhile made room: go on while it helps. */
  while (control->captured_waiting && progress);
  control->delivering = FALSE;
}

/* Closes connections whose output has not moved for STALL_TIMEOUT_US:
 * with captured writes held back for them, a watcher that never reads
 * would otherwise hold the others up. */
static gboolean
check_stalls (gpointer user_data)
{
  BpControl *control = user_data;
  gint64 now = g_get_monotonic_time ();
  gboolean waiting = FALSE;

  for (GList *l = control->connections; l != NULL; l = l->next)
    {
      Connection *c = l->data;

      if (c->closed || c->stalled_since == 0)
        continue;
      if (now - c->stalled_since >= STALL_TIMEOUT_US)
        {
          g_autofree char *reason = g_strdup_printf ("%" G_GSIZE_FORMAT
                                                     " bytes of output wait and none was taken for %d s: "
                                                     "the client does not read",
                                                     connection_unsent (c), (int) (STALL_TIMEOUT_US / G_USEC_PER_SEC));

          connection_close (c, reason);
          continue;
        }
      waiting = TRUE;
    }
  if (waiting)
    return G_SOURCE_CONTINUE;
  control->stall_source = 0;
  return G_SOURCE_REMOVE;
}

static void
control_watch_stalls (BpControl *control)
{
  if (control->stall_source == 0)
    control->stall_source = g_timeout_add_seconds (1, check_stalls, control);
}

static void
broadcast (BpControl *control, const BpProtoEvent *ev)
{
  guint class = bp_proto_event_class (ev->kind);
  GString *line = control->scratch;

  g_string_truncate (line, 0);
  bp_proto_event_append (line, ev);
  for (GList *l = control->connections; l != NULL; l = l->next)
    {
      Connection *c = l->data;

      if (c->closed || !(c->watch & class))
        continue;
      control_connection_append (c, line->str, line->len);
      control_connection_output_done (c);
    }
}

static void
on_peripheral_event (const BpEvent *event, gpointer user_data)
{
  BpControl *control = user_data;
  BpProtoEvent ev = { 0 };

  ev.characteristic = event->characteristic != NULL ? event->characteristic->id : NULL;
  ev.address = event->address;
  switch (event->type)
    {
    case BP_EVENT_CONNECT:
      ev.kind = BP_PROTO_EVENT_CONNECT;
      break;
    case BP_EVENT_DISCONNECT:
      ev.kind = BP_PROTO_EVENT_DISCONNECT;
      break;
    case BP_EVENT_SUBSCRIBE:
      ev.kind = BP_PROTO_EVENT_SUBSCRIBE;
      ev.mtu = event->mtu;
      break;
    case BP_EVENT_UNSUBSCRIBE:
      ev.kind = BP_PROTO_EVENT_UNSUBSCRIBE;
      break;
    case BP_EVENT_CONFIRM:
      ev.kind = BP_PROTO_EVENT_CONFIRM;
      break;
    case BP_EVENT_WRITE:
      if (event->captured)
        {
          /* It is queued: watchers take it from there, in order with any
           * older ones; with no watcher it waits. */
          deliver_captured (control, event->characteristic);
          return;
        }
      ev.kind = BP_PROTO_EVENT_WRITE;
      ev.data = event->data;
      ev.len = event->len;
      ev.offset = event->offset;
      break;
    case BP_EVENT_DROPPED:
      ev.kind = BP_PROTO_EVENT_DROPPED;
      ev.count = event->count;
      break;
    case BP_EVENT_ADVERTISING:
      ev.kind = BP_PROTO_EVENT_ADVERTISING;
      ev.on = event->on;
      ev.reason = event->reason;
      break;
    case BP_EVENT_ADAPTER:
      ev.kind = BP_PROTO_EVENT_ADAPTER;
      ev.on = event->on;
      break;
    case BP_EVENT_RELOADED:
      ev.kind = BP_PROTO_EVENT_RELOADED;
      break;
    case BP_EVENT_DRAINED:
      control_set_paused (control, FALSE);
      return;
    case BP_EVENT_CHANNEL_OPEN:
    case BP_EVENT_CHANNEL_CLOSE:
    case BP_EVENT_CHANNEL_DROPPED:
      ev.kind = BP_PROTO_EVENT_CHANNEL;
      ev.channel = event->channel;
      ev.channel_what = event->type == BP_EVENT_CHANNEL_OPEN  ? "open" :
                        event->type == BP_EVENT_CHANNEL_CLOSE ? "close" :
                                                                "dropped";
      ev.mtu = event->mtu;
      ev.count = event->count;
      break;
    case BP_EVENT_PAIRING:
    case BP_EVENT_PAIRED:
    case BP_EVENT_PAIRING_FAILED:
      control_pairing_event (event, &ev);
      break;
    default:
      return;
    }
  broadcast (control, &ev);
}

/* --- requests ---------------------------------------------------------- */

/* Each request's handler, in the file of its job (control-*.c). */
static const ControlHandler handlers[] = {
  [BP_REQUEST_SET] = control_handle_set_notify,
  [BP_REQUEST_NOTIFY] = control_handle_set_notify,
  [BP_REQUEST_GET] = control_handle_get_take,
  [BP_REQUEST_TAKE] = control_handle_get_take,
  [BP_REQUEST_INFO] = control_handle_info,
  [BP_REQUEST_SERVE] = control_handle_serve,
  [BP_REQUEST_REPLY] = control_handle_reply,
  [BP_REQUEST_WATCH] = control_handle_watch,
  [BP_REQUEST_UNWATCH] = control_handle_unwatch,
  [BP_REQUEST_ADVERTISE] = control_handle_advertise,
  [BP_REQUEST_DISCONNECT] = control_handle_disconnect,
  [BP_REQUEST_STATUS] = control_handle_status,
  [BP_REQUEST_HELP] = control_handle_help,
  [BP_REQUEST_PAIRING] = control_handle_pairing,
  [BP_REQUEST_BONDS] = control_handle_bonds,
  [BP_REQUEST_FORGET] = control_handle_forget,
};

/* Carries out one request; its reply goes to c->out. */
static gboolean
handle_request (Connection *c, const BpRequest *r, GError **error)
{
  BpCharacteristic *chr = NULL;

  if (r->characteristic != NULL)
    {
      chr = bp_peripheral_lookup (c->control->p, r->characteristic, error);
      if (chr == NULL)
        {
          g_prefix_error (error, "%s: ", r->verb_name);
          return FALSE;
        }
    }
  if ((guint) r->verb >= G_N_ELEMENTS (handlers) || handlers[r->verb] == NULL)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_BAD_REQUEST, "%s: not implemented", r->verb_name);
      return FALSE;
    }
  return handlers[r->verb](c, r, chr, error);
}

static void
connection_handle_line (Connection *c, char *line, gsize len)
{
  BpRequest request;
  g_autoptr (GError) error = NULL;

  if (!bp_request_parse (line, len, &request, &error) || !handle_request (c, &request, &error))
    {
      g_debug ("client %u: error %s", c->number, error->message);
      bp_reply_append_error (c->out, error);
    }
}

/* --- connections ------------------------------------------------------- */

static gboolean
reap_connections (gpointer user_data)
{
  BpControl *control = user_data;
  GList *l = control->connections;

  control->reap_source = 0;
  while (l != NULL)
    {
      GList *next = l->next;
      Connection *c = l->data;

      if (c->closed)
        {
          control->connections = g_list_delete_link (control->connections, l);
          g_byte_array_unref (c->partial);
          g_string_free (c->out, TRUE);
          g_hash_table_unref (c->reads);
          g_free (c);
        }
      l = next;
    }
  return G_SOURCE_REMOVE;
}

typedef struct {
  char *chr_id;
  GQueue writes;
} GiveBack;

/* Hands the captured writes this connection had not sent back to their
 * queues, unless another connection holds or sent them. */
static void
connection_give_back_captures (Connection *c)
{
  BpPeripheral *p = c->control->p;
  g_autoptr (GArray) groups = g_array_new (FALSE, TRUE, sizeof (GiveBack));
  Delivery *d;
  guint n = 0;

  while ((d = g_queue_pop_head (&c->deliveries)) != NULL)
    {
      Capture *cap = d->capture;

      cap->pending--;
      if (cap->pending == 0 && !cap->sent && cap->write != NULL)
        {
          GiveBack *g = NULL;

          for (guint i = 0; i < groups->len && g == NULL; i++)
            if (strcmp (g_array_index (groups, GiveBack, i).chr_id, cap->chr_id) == 0)
              g = &g_array_index (groups, GiveBack, i);
          if (g == NULL)
            {
              GiveBack fresh = { g_strdup (cap->chr_id), G_QUEUE_INIT };

              g_array_append_val (groups, fresh);
              g = &g_array_index (groups, GiveBack, groups->len - 1);
            }
          g_queue_push_tail (&g->writes, g_steal_pointer (&cap->write));
          n++;
        }
      capture_unref (cap);
      g_free (d);
    }

  for (guint i = 0; i < groups->len; i++)
    {
      GiveBack *g = &g_array_index (groups, GiveBack, i);
      BpCharacteristic *chr = bp_peripheral_lookup (p, g->chr_id, NULL);

      if (chr != NULL)
        bp_characteristic_capture_requeue (chr, &g->writes);
      else
        g_message ("client %u: %u captured writes of %s, which a reload removed, are dropped", c->number,
                   g_queue_get_length (&g->writes), g->chr_id);
      g_queue_clear_full (&g->writes, (GDestroyNotify) bp_captured_write_free);
      g_free (g->chr_id);
    }
  if (n > 0)
    g_message ("client %u: %u captured writes it had not received are queued again", c->number, n);
}

static void
connection_close (Connection *c, const char *reason)
{
  BpControl *control = c->control;

  if (c->closed)
    return;
  c->closed = TRUE;
  control->n_open--;
  if (reason != NULL)
    g_message ("client %u: %s; closing the connection", c->number, reason);
  else
    g_info ("client %u: disconnected", c->number);

  if (c->source != NULL)
    {
      g_source_destroy (c->source);
      g_clear_pointer (&c->source, g_source_unref);
    }
  g_clear_handle_id (&c->linger_source, g_source_remove);
  if (c->fd >= 0)
    close (c->fd);
  c->fd = -1;
  c->watch = 0;
  if (c->serving)
    bp_peripheral_unserve_all (control->p, c);
  c->serving = FALSE;
  connection_give_back_captures (c);
  if (control->captured_waiting)
    control_deliver_all_captured (control);

  if (control->reap_source == 0)
    control->reap_source = g_idle_add (reap_connections, control);
}

static gboolean
connection_linger_expired (gpointer user_data)
{
  Connection *c = user_data;

  c->linger_source = 0;
  connection_close (c, "its last replies were not read within " G_STRINGIFY (LINGER_TIMEOUT_MS) " ms");
  return G_SOURCE_REMOVE;
}

/* Stop taking requests; close once the queued output is sent. */
static void
connection_begin_closing (Connection *c)
{
  if (c->closing || c->closed)
    return;
  c->closing = TRUE;
  c->watch = 0;
  if (c->serving)
    bp_peripheral_unserve_all (c->control->p, c);
  c->serving = FALSE;
  c->linger_source = g_timeout_add (LINGER_TIMEOUT_MS, connection_linger_expired, c);
  if (!c->in_dispatch)
    connection_flush (c);
}

static void
connection_too_long (Connection *c)
{
  g_message ("client %u: a request line is over %d bytes; closing the connection", c->number, BP_PROTOCOL_LINE_MAX);
  g_string_append (c->out, "error too-long: line over " G_STRINGIFY (BP_PROTOCOL_LINE_MAX) " bytes; closing\n");
  connection_begin_closing (c);
}

static void
connection_read (Connection *c)
{
  BpControl *control = c->control;
  char *buf = control->read_buffer;
  gsize have = c->partial->len;
  gsize start = 0;
  gsize total;
  ssize_t n;

  if (have > 0)
    memcpy (buf, c->partial->data, have);
  g_byte_array_set_size (c->partial, 0);
  do
    n = recv (c->fd, buf + have, c->notifier ? NOTIFIER_READ_SIZE : READ_BUFFER_SIZE - have, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    {
      int saved = errno;

      if (saved == EAGAIN || saved == EWOULDBLOCK)
        {
          g_byte_array_append (c->partial, (guint8 *) buf, have);
          return;
        }
      connection_close (c, g_strerror (saved));
      return;
    }
  total = have + n;

  c->in_dispatch = TRUE;
  while (!c->closed && !c->closing)
    {
      char *line = buf + start;
      char *nl = memchr (line, '\n', total - start);
      gsize len;

      if (nl == NULL)
        break;
      len = nl - line;
      if (len > (gsize) BP_PROTOCOL_LINE_MAX + (len > 0 && line[len - 1] == '\r'))
        {
          connection_too_long (c);
          break;
        }
      connection_handle_line (c, line, len);
      start += len + 1;
    }
  if (!c->closed && !c->closing)
    {
      gsize rest = total - start;

      if (rest > BP_PROTOCOL_LINE_MAX)
        {
          connection_too_long (c);
        }
      else if (n == 0)
        {
          /* The client is done sending: a last line without "\n" counts. */
          if (rest > 0)
            connection_handle_line (c, buf + start, rest);
          connection_begin_closing (c);
        }
      else
        {
          g_byte_array_append (c->partial, (guint8 *) buf + start, rest);
        }
    }
  c->in_dispatch = FALSE;
  control_connection_output_done (c);
}

static gboolean
connection_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  ConnectionSource *cs = (ConnectionSource *) source;
  Connection *c = cs->conn;
  GIOCondition revents = g_source_query_unix_fd (source, cs->tag);

  if (c->closed)
    return G_SOURCE_REMOVE;
  if (revents & G_IO_OUT)
    connection_flush (c);
  if (c->closed)
    return G_SOURCE_REMOVE;
  if (c->closing)
    {
      if (revents & (G_IO_HUP | G_IO_ERR))
        connection_close (c, NULL);
    }
  else if ((revents & (G_IO_HUP | G_IO_ERR)) || ((revents & G_IO_IN) && !connection_paused (c)))
    {
      connection_read (c);
      if (bp_peripheral_congested (c->control->p))
        control_set_paused (c->control, TRUE);
    }
  return G_SOURCE_CONTINUE;
}

static GSourceFuncs connection_source_funcs = {
  .dispatch = connection_source_dispatch,
};

static void
connection_new (BpControl *control, int fd)
{
  Connection *c = g_new0 (Connection, 1);
  ConnectionSource *cs;
  struct ucred cred;
  socklen_t cred_len = sizeof cred;

  c->control = control;
  c->number = ++control->next_number;
  c->fd = fd;
  c->partial = g_byte_array_new ();
  c->out = g_string_sized_new (4096);
  c->reads = g_hash_table_new_full (g_int64_hash, g_int64_equal, NULL, (GDestroyNotify) control_read_info_free);
  g_queue_init (&c->deliveries);

  c->source = g_source_new (&connection_source_funcs, sizeof (ConnectionSource));
  cs = (ConnectionSource *) c->source;
  cs->conn = c;
  c->condition = G_IO_IN;
  cs->tag = g_source_add_unix_fd (c->source, fd, c->condition);
  g_source_set_name (c->source, "ble-peripheral control connection");
  /* Never dispatched recursively (nothing here iterates the loop); without
   * this GLib takes the fd out of its poll set around every dispatch and
   * puts it back, and each change wakes the loop once more. */
  g_source_set_can_recurse (c->source, TRUE);
  g_source_attach (c->source, NULL);

  control->connections = g_list_append (control->connections, c);
  control->n_open++;

  if (getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &cred_len) == 0)
    g_info ("client %u connected (pid %d, uid %u)", c->number, (int) cred.pid, (guint) cred.uid);
  else
    g_info ("client %u connected", c->number);
}

/* --- listening --------------------------------------------------------- */

static gboolean on_listen_ready (int fd, GIOCondition condition, gpointer user_data);

static gboolean
accept_again (gpointer user_data)
{
  BpControl *control = user_data;

  control->retry_source = 0;
  control->listen_source = g_unix_fd_add (control->listen_fd, G_IO_IN, on_listen_ready, control);
  return G_SOURCE_REMOVE;
}

static gboolean
on_listen_ready (int fd, GIOCondition condition, gpointer user_data)
{
  BpControl *control = user_data;

  /* A burst at a time, so that a crowd of connections cannot starve the loop. */
  for (guint i = 0; i < 64; i++)
    {
      int cfd = accept4 (fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

      if (cfd >= 0)
        {
          connection_new (control, cfd);
          continue;
        }
      if (errno == EINTR || errno == ECONNABORTED)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        break;
      g_warning ("cannot accept a control connection: %s; trying again in %d ms", g_strerror (errno), ACCEPT_RETRY_MS);
      /* Out of descriptors or memory: the socket stays readable, so pause
       * instead of spinning. */
      control->listen_source = 0;
      control->retry_source = g_timeout_add (ACCEPT_RETRY_MS, accept_again, control);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
prepare_socket_path (const char *path, GError **error)
{
  g_autofree char *dir = g_path_get_dirname (path);
  struct stat st;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int probe;
  int saved;

  if (g_mkdir_with_parents (dir, 0755) < 0)
    {
      saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot create the directory %s: %s", dir,
                   g_strerror (saved));
      return FALSE;
    }
  if (lstat (path, &st) < 0)
    return TRUE;
  if (!S_ISSOCK (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_EXISTS, "%s exists and is not a socket; not replacing it", path);
      return FALSE;
    }

  /* Is somebody answering, or is it a dead daemon's leftover? */
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  probe = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (probe < 0)
    {
      saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: cannot create a socket: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  if (connect (probe, (struct sockaddr *) &addr, sizeof addr) == 0 || errno == EAGAIN || errno == EINPROGRESS)
    {
      close (probe);
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                   "%s: another ble-peripheral is answering on this socket", path);
      return FALSE;
    }
  saved = errno;
  close (probe);
  if (saved != ECONNREFUSED)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved),
                   "%s: cannot tell whether another daemon uses this socket: %s", path, g_strerror (saved));
      return FALSE;
    }
  g_message ("%s: replacing a stale socket nobody answers on", path);
  if (unlink (path) < 0 && errno != ENOENT)
    {
      saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: cannot remove the stale socket: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

static gboolean
bind_socket_steps (BpControl *control, const char *path, guint mode, const char *group, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct stat st;
  int saved;

  if (strlen (path) >= sizeof addr.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                   "%s: too long for a Unix socket path (at most %zu bytes)", path, sizeof addr.sun_path - 1);
      return FALSE;
    }
  if (!prepare_socket_path (path, error))
    return FALSE;

  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  control->listen_fd = socket (AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (control->listen_fd < 0 || bind (control->listen_fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: cannot bind the control socket: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  control->path = g_strdup (path);

  /* Permissions before listen(): nobody can connect before they apply. */
  if (chmod (path, mode) < 0)
    {
      saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: cannot set mode %04o: %s", path, mode,
                   g_strerror (saved));
      return FALSE;
    }
  if (group != NULL)
    {
      struct group *gr = getgrnam (group);

      if (gr == NULL)
        {
          g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s: [Control] Group: no group \"%s\" on this system",
                       path, group);
          return FALSE;
        }
      if (chown (path, (uid_t) -1, gr->gr_gid) < 0)
        {
          saved = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: cannot give the socket to group %s: %s",
                       path, group, g_strerror (saved));
          return FALSE;
        }
    }
  if (listen (control->listen_fd, 128) < 0 || stat (path, &st) < 0)
    {
      saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: cannot listen: %s", path, g_strerror (saved));
      return FALSE;
    }
  control->dev = st.st_dev;
  control->ino = st.st_ino;
  return TRUE;
}

static gboolean
bind_socket (BpControl *control, const char *path, guint mode, const char *group, GError **error)
{
  if (bind_socket_steps (control, path, mode, group, error))
    return TRUE;
  /* Leave no half-made socket behind. */
  if (control->path != NULL)
    unlink (control->path);
  g_clear_pointer (&control->path, g_free);
  return FALSE;
}

BpControl *
bp_control_new (BpPeripheral *p, const char *path, guint mode, const char *group, int listen_fd, GError **error)
{
  g_autoptr (BpControl) control = g_new0 (BpControl, 1);

  control->p = p;
  control->listen_fd = -1;
  control->read_buffer = g_malloc (READ_BUFFER_SIZE + 1);
  control->scratch = g_string_sized_new (1024);

  if (listen_fd >= 0)
    {
      control->listen_fd = listen_fd;
      if (!g_unix_set_fd_nonblocking (listen_fd, TRUE, error))
        {
          g_prefix_error (error, "the control socket passed by systemd: ");
          return NULL;
        }
      g_message ("listening on the control socket passed by systemd");
    }
  else
    {
      if (!bind_socket (control, path, mode, group, error))
        return NULL;
      g_message ("listening on %s", path);
    }

  control->listen_source = g_unix_fd_add (control->listen_fd, G_IO_IN, on_listen_ready, control);
  control->listener = bp_peripheral_add_listener (p, on_peripheral_event, control);
  return g_steal_pointer (&control);
}

void
bp_control_free (BpControl *control)
{
  if (control == NULL)
    return;
  if (control->listener != 0)
    bp_peripheral_remove_listener (control->p, control->listener);
  for (GList *l = control->connections; l != NULL; l = l->next)
    connection_close (l->data, NULL);
  g_clear_handle_id (&control->reap_source, g_source_remove);
  reap_connections (control);
  g_clear_handle_id (&control->listen_source, g_source_remove);
  g_clear_handle_id (&control->retry_source, g_source_remove);
  g_clear_handle_id (&control->stall_source, g_source_remove);
  if (control->listen_fd >= 0)
    close (control->listen_fd);
  if (control->path != NULL)
    {
      struct stat st;

      /* Only our own socket: a newer daemon may have replaced it. */
      if (stat (control->path, &st) == 0 && st.st_dev == control->dev && st.st_ino == control->ino)
        unlink (control->path);
      g_free (control->path);
    }
  g_free (control->read_buffer);
  g_string_free (control->scratch, TRUE);
  g_free (control);
}

guint
bp_control_n_clients (BpControl *control)
{
  return control->n_open;
}
