/* The channel server: per [Channel NAME] an LE L2CAP listener on the daemon's
 * adapter, the centrals' open channels (links) with their queues and framing,
 * and the channel's life through adapter loss, reload and shutdown. The
 * producer sockets are channel-producer.c's.
 *
 * Sending follows the kernel's credits: every send() is non-blocking and one
 * SDU; EAGAIN means the central granted no more, and G_IO_OUT comes back when
 * it does. Each link holds at most QueueLength frames beyond the one leaving,
 * so a slow central costs bounded memory and never delays another central,
 * another channel or GATT. */
#define G_LOG_DOMAIN "channel"

#include "daemon/channel.h"

#include <errno.h>
#include <glib-unix.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "common/error.h"
#include "daemon/channel-private.h"

/* SDUs sent or read per wake-up of one link, so that one busy central
 * leaves the main loop to the others between batches. */
#define SENDS_PER_WAKE 32
#define RECVS_PER_WAKE 32
/* Framing=length cuts the stream into SDUs of at most this size (or the
 * central's MTU when smaller): the kernel segments a whole SDU into PDUs
 * before it sends, needing about 1 KB of socket buffer per PDU, so a
 * 64 KB SDU may never fit a default send buffer. */
#define LENGTH_SDU_MAX 16384
/* An SDU the kernel keeps refusing with EAGAIN although the socket polls
 * writable this many times in a row cannot fit its send buffer: dropped. */
#define EAGAIN_STUCK 1000
/* Drops are reported at most this often per link. */
#define DROPPED_REPORT_MS 200

static gboolean link_ready (int fd, GIOCondition cond, gpointer data);
static void link_update_watch (Link *k);

void
channel_watch (guint *watch, GIOCondition *current, int fd, GIOCondition cond, GUnixFDSourceFunc func, gpointer data)
{
  if (*watch != 0 && *current == cond)
    return;
  g_clear_handle_id (watch, g_source_remove);
  *current = cond;
  if (cond != 0)
    *watch = g_unix_fd_add (fd, cond, func, data);
}

static void
emit (Channel *ch, BpEventType type, const char *address, guint mtu, guint64 count)
{
  BpEvent ev = { .type = type, .channel = ch->config->name, .address = address, .mtu = mtu, .count = count };

  if (!ch->owner->freeing)
    bp_peripheral_emit (ch->owner->p, &ev);
}

/* ------------------------------------------------------------------------ */
/* Links: one central's channel */

static void
link_report_dropped (Link *k)
{
  guint64 n = k->dropped_unreported;

  k->dropped_unreported = 0;
  if (n > 0)
    emit (k->ch, BP_EVENT_CHANNEL_DROPPED, k->address, 0, n);
}

static gboolean
link_dropped_timeout (gpointer data)
{
  Link *k = data;

  k->dropped_source = 0;
  link_report_dropped (k);
  return G_SOURCE_REMOVE;
}

static void
link_count_drop (Link *k)
{
  k->n_dropped++;
  k->dropped_unreported++;
  if (k->dropped_source == 0)
    k->dropped_source = g_timeout_add (DROPPED_REPORT_MS, link_dropped_timeout, k);
}

/* Closes k and forgets it; reason NULL for a clean end. */
static void
link_close (Link *k, const char *reason)
{
  Channel *ch = k->ch;

  g_clear_handle_id (&k->watch, g_source_remove);
  g_clear_handle_id (&k->dropped_source, g_source_remove);
  link_report_dropped (k);
  if (reason != NULL)
    g_message ("[Channel %s] %s: closed: %s", ch->config->name, k->address, reason);
  else
    g_message ("[Channel %s] %s: closed", ch->config->name, k->address);
  g_ptr_array_remove (ch->links, k);
  ch->closed_sent += k->n_sent;
  ch->closed_received += k->n_received;
  ch->closed_dropped += k->n_dropped;
  emit (ch, BP_EVENT_CHANNEL_CLOSE, k->address, 0, 0);
  close (k->fd);
  g_queue_clear_full (&k->queue, (GDestroyNotify) g_bytes_unref);
  g_clear_pointer (&k->current, g_bytes_unref);
  g_clear_pointer (&k->partial, g_byte_array_unref);
  g_free (k->address);
  g_free (k);
  /* Its queue no longer holds the producers back. */
  if (ch->producers_held && !channel_any_link_full (ch))
    channel_hold_producers (ch, FALSE);
}

/* Sends what the credits allow. FALSE when k was closed. */
static gboolean
link_flush (Link *k)
{
  BpChannelConfig *c = k->ch->config;
  gboolean framed = c->framing == BP_CHANNEL_FRAMING_LENGTH;

  for (int i = 0; i < SENDS_PER_WAKE; i++)
    {
      gsize size, total, chunk;
      const guint8 *data;
      struct iovec iov[2];
      struct msghdr msg = { .msg_iov = iov };
      gssize n;

      if (k->current == NULL)
        {
          k->current = g_queue_pop_head (&k->queue);
          if (k->current == NULL)
            break;
          k->sent = 0;
          size = g_bytes_get_size (k->current);
          if (!framed && (size > k->send_mtu || size == 0))
            {
              g_warning (
                "[Channel %s] %s: a frame of %zu bytes is %s: dropped (Framing=sdu sends one frame as "
                "one SDU)",
                c->name, k->address, size, size == 0 ? "empty" : "larger than the central's MTU");
              g_clear_pointer (&k->current, g_bytes_unref);
              link_count_drop (k);
              continue;
            }
          k->header[0] = size & 0xff;
          k->header[1] = (size >> 8) & 0xff;
          k->header[2] = (size >> 16) & 0xff;
          k->header[3] = (size >> 24) & 0xff;
          /* Room in the queue: OnFull=wait producers may go on. */
          if (k->ch->producers_held && !channel_any_link_full (k->ch))
            channel_hold_producers (k->ch, FALSE);
        }
      data = g_bytes_get_data (k->current, &size);
      total = size + (framed ? 4 : 0);
      chunk = MIN (total - k->sent, framed ? MIN (k->send_mtu, LENGTH_SDU_MAX) : k->send_mtu);
      if (framed && k->sent < 4)
        {
          gsize h = MIN (4 - k->sent, chunk);
          iov[0].iov_base = k->header + k->sent;
          iov[0].iov_len = h;
          iov[1].iov_base = (void *) data;
          iov[1].iov_len = chunk - h;
          msg.msg_iovlen = chunk > h ? 2 : 1;
        }
      else
        {
          iov[0].iov_base = (void *) (data + k->sent - (framed ? 4 : 0));
          iov[0].iov_len = chunk;
          msg.msg_iovlen = 1;
        }
      n = sendmsg (k->fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0)
        {
          int saved = errno;
          if ((saved == EAGAIN || saved == EWOULDBLOCK) && k->woken_by_out && ++k->eagain_in_a_row >= EAGAIN_STUCK &&
              !framed)
            {
              g_warning (
                "[Channel %s] %s: the kernel takes no SDU of %zu bytes (its socket send buffer is too small: "
                "raise net.core.wmem_max): frame dropped",
                c->name, k->address, chunk);
              g_clear_pointer (&k->current, g_bytes_unref);
              k->eagain_in_a_row = 0;
              link_count_drop (k);
              continue;
            }
          if (saved == EAGAIN || saved == EWOULDBLOCK)
            break; /* no credits: G_IO_OUT says when */
          if (saved == EINTR)
            continue;
          link_close (k, g_strerror (saved));
          return FALSE;
        }
      k->eagain_in_a_row = 0;
      k->sent += (gsize) n;
      if (k->sent == total)
        {
          g_clear_pointer (&k->current, g_bytes_unref);
          k->n_sent++;
        }
    }
  link_update_watch (k);
  return TRUE;
}

static void
link_deliver (Link *k, const guint8 *data, gsize len)
{
  k->n_received++;
  channel_deliver (k->ch, k->address, data, len);
}

/* Framing=length: a 4-byte little-endian length, then the frame, spread over
 * SDUs as the central likes. FALSE (k closed) on a length over the limit. */
static gboolean
link_feed (Link *k, const guint8 *data, gsize len)
{
  while (len > 0)
    {
      if (k->len_have < 4)
        {
          gsize take = MIN (4 - k->len_have, len);

          memcpy (k->len_buf + k->len_have, data, take);
          k->len_have += take;
          data += take;
          len -= take;
          if (k->len_have < 4)
            break;
          k->want = (guint32) k->len_buf[0] | (guint32) k->len_buf[1] << 8 | (guint32) k->len_buf[2] << 16 |
                    (guint32) k->len_buf[3] << 24;
          if (k->want > BP_CHANNEL_FRAME_MAX)
            {
              g_autofree char *why = g_strdup_printf (
                "the central announced a frame of %u bytes, over the limit of %u "
                "(is it sending the 4-byte length first?)",
                k->want, BP_CHANNEL_FRAME_MAX);
              link_close (k, why);
              return FALSE;
            }
          k->partial = g_byte_array_sized_new (k->want);
        }
      else
        {
          gsize take = MIN (k->want - k->partial->len, len);

          g_byte_array_append (k->partial, data, (guint) take);
          data += take;
          len -= take;
        }
      if (k->len_have == 4 && k->partial->len == k->want)
        {
          link_deliver (k, k->partial->data, k->partial->len);
          g_clear_pointer (&k->partial, g_byte_array_unref);
          k->len_have = 0;
        }
    }
  return TRUE;
}

/* Reads what the central sent. FALSE when k was closed. */
static gboolean
link_read (Link *k)
{
  guint8 *buf = k->ch->owner->buffer;

  for (int i = 0; i < RECVS_PER_WAKE; i++)
    {
      gssize n = recv (k->fd, buf, BP_CHANNEL_FRAME_MAX, MSG_DONTWAIT);

      if (n < 0)
        {
          int saved = errno;
          if (saved == EAGAIN || saved == EWOULDBLOCK)
            return TRUE;
          if (saved == EINTR)
            continue;
          link_close (k, g_strerror (saved));
          return FALSE;
        }
      if (n == 0)
        {
          link_close (k, NULL);
          return FALSE;
        }
      if (k->ch->config->framing == BP_CHANNEL_FRAMING_SDU)
        link_deliver (k, buf, (gsize) n);
      else if (!link_feed (k, buf, (gsize) n))
        return FALSE;
      if (k->ch->links_held)
        return TRUE;
    }
  return TRUE;
}

static void
link_update_watch (Link *k)
{
  GIOCondition cond = 0;

  if (!k->ch->links_held)
    cond |= G_IO_IN;
  if (k->current != NULL || k->queue.length > 0)
    cond |= G_IO_OUT;
  channel_watch (&k->watch, &k->cond, k->fd, cond, link_ready, k);
}

static gboolean
link_ready (int fd, GIOCondition cond, gpointer data)
{
  Link *k = data;

  if (cond & G_IO_OUT)
    {
      gboolean alive;

      k->woken_by_out = TRUE;
      alive = link_flush (k);
      if (!alive)
        return G_SOURCE_REMOVE;
      k->woken_by_out = FALSE;
    }
  if (cond & (G_IO_IN | G_IO_HUP | G_IO_ERR))
    {
      /* A hang-up is read too: recv() gives what is left, then 0 or the error. */
      if (!link_read (k))
        return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static void
link_enqueue (Link *k, GBytes *frame)
{
  BpChannelConfig *c = k->ch->config;

  if (k->queue.length >= c->queue_length)
    {
      /* OnFull=wait never gets here (the producers are held before); an
       * addressed frame that arrives meanwhile waits beyond the bound. */
      if (c->on_full == BP_CHANNEL_ON_FULL_DROP_OLDEST)
        {
          g_bytes_unref (g_queue_pop_head (&k->queue));
          link_count_drop (k);
        }
    }
  g_queue_push_tail (&k->queue, g_bytes_ref (frame));
  if (k->current == NULL)
    link_flush (k);
  else
    link_update_watch (k);
}

gboolean
channel_any_link_full (Channel *ch)
{
  for (guint i = 0; i < ch->links->len; i++)
    {
      Link *k = g_ptr_array_index (ch->links, i);
      if (k->queue.length >= ch->config->queue_length)
        return TRUE;
    }
  return FALSE;
}

void
channel_send (Channel *ch, const char *to_address, GBytes *frame)
{
  gboolean found = FALSE;

  /* From the newest: a link closed by its flush leaves the array. */
  for (guint i = ch->links->len; i-- > 0;)
    {
      Link *k = g_ptr_array_index (ch->links, i);

      if (i >= ch->links->len)
        continue;
      if (to_address != NULL && g_ascii_strcasecmp (k->address, to_address) != 0)
        continue;
      found = TRUE;
      link_enqueue (k, frame);
    }
  if (to_address != NULL && !found)
    g_debug ("[Channel %s] a frame for %s, which has no open channel: dropped", ch->config->name, to_address);
  if (ch->config->on_full == BP_CHANNEL_ON_FULL_WAIT && channel_any_link_full (ch))
    channel_hold_producers (ch, TRUE);
}

void
channel_hold_links (Channel *ch, gboolean hold)
{
  if (ch->links_held == hold)
    return;
  ch->links_held = hold;
  g_debug ("[Channel %s] centrals %s", ch->config->name, hold ? "held back (a producer's queue is full)" : "resume");
  for (guint i = 0; i < ch->links->len; i++)
    link_update_watch (g_ptr_array_index (ch->links, i));
}

/* ------------------------------------------------------------------------ */
/* Channels */

static Channel *
find_channel (BpChannels *channels, const char *name)
{
  for (guint i = 0; i < channels->channels->len; i++)
    {
      Channel *ch = g_ptr_array_index (channels->channels, i);
      if (strcmp (ch->config->name, name) == 0)
        return ch;
    }
  return NULL;
}

gboolean
bp_channels_adopt (BpChannels *channels, const char *name, int fd, const char *address, guint send_mtu, GError **error)
{
  Channel *ch = find_channel (channels, name);
  Link *k;

  if (ch == NULL)
    {
      close (fd);
      g_set_error (error, BP_ERROR, BP_ERROR_FAILED, "no channel '%s' in the configuration", name);
      return FALSE;
    }
  if (ch->links->len >= ch->config->max_centrals)
    {
      close (fd);
      g_set_error (error, BP_ERROR, BP_ERROR_BUSY, "[Channel %s] %s refused: MaxCentrals=%u channels are open",
                   ch->config->name, address, ch->config->max_centrals);
      return FALSE;
    }
  k = g_new0 (Link, 1);
  k->ch = ch;
  k->fd = fd;
  k->address = g_ascii_strup (address, -1);
  k->send_mtu = MAX (send_mtu, 1);
  g_queue_init (&k->queue);
  g_ptr_array_add (ch->links, k);
  g_message ("[Channel %s] %s: open, its MTU %u", ch->config->name, k->address, k->send_mtu);
  emit (ch, BP_EVENT_CHANNEL_OPEN, k->address, k->send_mtu, 0);
  link_update_watch (k);
  return TRUE;
}

static gboolean
listener_ready (int fd, GIOCondition cond, gpointer data)
{
  Channel *ch = data;

  for (;;)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *address = NULL;
      guint mtu = 0;
      int cfd = ch->owner->ops->accept (fd, &address, &mtu, &error);

      if (cfd < 0)
        {
          if (!g_error_matches (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            g_warning ("[Channel %s] %s", ch->config->name, error->message);
          break;
        }
      if (!bp_channels_adopt (ch->owner, ch->config->name, cfd, address, mtu, &error))
        g_message ("%s", error->message);
    }
  return G_SOURCE_CONTINUE;
}

static void
publish_psm (Channel *ch)
{
  BpChannelConfig *c = ch->config;
  g_autoptr (GBytes) value = NULL;
  g_autoptr (GError) error = NULL;
  BpCharacteristic *chr;
  guint8 le[2] = { ch->psm & 0xff, ch->psm >> 8 };

  if (c->psm_characteristic == NULL)
    return;
  chr = bp_peripheral_lookup (ch->owner->p, c->psm_characteristic, &error);
  if (chr == NULL)
    return;
  value = g_bytes_new (le, ch->psm != 0 ? sizeof le : 0);
  bp_peripheral_set (ch->owner->p, chr, value, NULL);
}

static void
channel_listen (Channel *ch)
{
  g_autoptr (GError) error = NULL;
  BpChannels *channels = ch->owner;

  if (ch->listen_fd >= 0 || channels->adapter_address == NULL)
    return;
  ch->listen_fd = channels->ops->listen (ch->config, channels->adapter_address, &ch->psm, &error);
  if (ch->listen_fd < 0)
    {
      g_warning ("[Channel %s] cannot listen on %s: %s", ch->config->name, channels->adapter_address, error->message);
      ch->psm = 0;
      return;
    }
  ch->listen_watch = g_unix_fd_add (ch->listen_fd, G_IO_IN, listener_ready, ch);
  g_message ("[Channel %s] listening on %s, PSM 0x%02X (%u)%s%s", ch->config->name, channels->adapter_address, ch->psm,
             ch->psm, ch->config->psm_characteristic ? ", published in " : "",
             ch->config->psm_characteristic ? ch->config->psm_characteristic : "");
  publish_psm (ch);
}

/* Stops listening and closes every central's channel. */
static void
channel_stop (Channel *ch, const char *reason)
{
  while (ch->links->len > 0)
    link_close (g_ptr_array_index (ch->links, ch->links->len - 1), reason);
  g_clear_handle_id (&ch->listen_watch, g_source_remove);
  if (ch->listen_fd >= 0)
    {
      close (ch->listen_fd);
      ch->listen_fd = -1;
      ch->psm = 0;
      if (!ch->owner->freeing)
        publish_psm (ch);
    }
}

static void
channel_free (Channel *ch)
{
  channel_stop (ch, ch->owner->freeing ? "the daemon stops" : "its configuration changed");
  channel_producers_close (ch);
  g_ptr_array_unref (ch->links);
  bp_channel_config_free (ch->config);
  g_free (ch);
}

static Channel *
channel_new (BpChannels *channels, const BpChannelConfig *config)
{
  Channel *ch = g_new0 (Channel, 1);
  g_autoptr (GError) error = NULL;

  ch->owner = channels;
  ch->config = bp_channel_config_copy (config);
  ch->listen_fd = -1;
  ch->links = g_ptr_array_new ();
  for (int i = 0; i < N_PRODUCER_SOCKETS; i++)
    ch->producer_listen[i] = -1;
  if (!channel_producers_open (ch, &error))
    g_warning ("[Channel %s] %s", config->name, error->message);
  return ch;
}

/* The configuration's channels: unchanged ones stay open, changed or
 * removed ones close, new ones start. */
static void
reconcile (BpChannels *channels)
{
  const BpConfig *config = bp_peripheral_get_config (channels->p);
  g_autoptr (GPtrArray) next = g_ptr_array_new ();

  for (guint i = 0; i < config->channels->len; i++)
    {
      BpChannelConfig *c = g_ptr_array_index (config->channels, i);
      Channel *ch = find_channel (channels, c->name);

      if (ch != NULL && bp_channel_config_equal (ch->config, c))
        {
          g_ptr_array_remove (channels->channels, ch);
          publish_psm (ch); /* the database was rebuilt: the value is kept, but say it again */
        }
      else
        {
          if (ch != NULL)
            {
              g_ptr_array_remove (channels->channels, ch);
              channel_free (ch);
            }
          ch = channel_new (channels, c);
        }
      g_ptr_array_add (next, ch);
    }
  /* What is left was removed from the configuration. */
  while (channels->channels->len > 0)
    {
      Channel *ch = g_ptr_array_steal_index (channels->channels, channels->channels->len - 1);
      channel_free (ch);
    }
  for (guint i = 0; i < next->len; i++)
    {
      Channel *ch = g_ptr_array_index (next, i);
      g_ptr_array_add (channels->channels, ch);
      channel_listen (ch);
    }
}

static void
set_adapter (BpChannels *channels, const char *address)
{
  if (g_strcmp0 (channels->adapter_address, address) == 0)
    return;
  if (channels->adapter_address != NULL)
    for (guint i = 0; i < channels->channels->len; i++)
      channel_stop (g_ptr_array_index (channels->channels, i), "the adapter is gone");
  g_free (channels->adapter_address);
  channels->adapter_address = g_strdup (address);
  for (guint i = 0; i < channels->channels->len; i++)
    channel_listen (g_ptr_array_index (channels->channels, i));
}

static void
on_event (const BpEvent *event, gpointer user_data)
{
  BpChannels *channels = user_data;

  switch (event->type)
    {
    case BP_EVENT_ADAPTER:
      set_adapter (channels, event->on ? event->address : NULL);
      break;
    case BP_EVENT_RELOADED:
      reconcile (channels);
      break;
    default:
      break;
    }
}

static char *
status_words (gpointer data)
{
  return bp_channels_status (data);
}

BpChannels *
bp_channels_new (BpPeripheral *p, const char *dir, guint mode, const char *group, const BpL2capOps *ops, GError **error)
{
  BpChannels *channels = g_new0 (BpChannels, 1);
  BpState *state = bp_peripheral_get_state (p);

  channels->p = p;
  channels->ops = ops;
  channels->dir = g_strdup (dir);
  channels->mode = mode;
  channels->group = g_strdup (group);
  channels->channels = g_ptr_array_new ();
  channels->buffer = g_malloc (BP_CHANNEL_FRAME_MAX + BP_CHANNEL_ADDRESS_HEADER);
  channels->listener = bp_peripheral_add_listener (p, on_event, channels);
  state->channel_status = status_words;
  state->channel_status_data = channels;
  reconcile (channels);
  if (state->adapter_address != NULL)
    set_adapter (channels, state->adapter_address);
  return channels;
}

void
bp_channels_free (BpChannels *channels)
{
  if (channels == NULL)
    return;
  channels->freeing = TRUE;
  bp_peripheral_remove_listener (channels->p, channels->listener);
  bp_peripheral_get_state (channels->p)->channel_status = NULL;
  for (guint i = 0; i < channels->channels->len; i++)
    channel_free (g_ptr_array_index (channels->channels, i));
  g_ptr_array_unref (channels->channels);
  if (channels->dir != NULL)
    g_rmdir (channels->dir); /* when empty: nothing else of ours lives there */
  g_free (channels->dir);
  g_free (channels->group);
  g_free (channels->adapter_address);
  g_free (channels->buffer);
  g_free (channels);
}

guint
bp_channels_get_psm (BpChannels *channels, const char *name)
{
  Channel *ch = find_channel (channels, name);
  return ch != NULL ? ch->psm : 0;
}

guint
bp_channels_count_open (BpChannels *channels, const char *name)
{
  Channel *ch = find_channel (channels, name);
  return ch != NULL ? ch->links->len : 0;
}

guint64
bp_channels_count_dropped (BpChannels *channels, const char *name)
{
  Channel *ch = find_channel (channels, name);
  guint64 n = ch != NULL ? ch->closed_dropped : 0;

  for (guint i = 0; ch != NULL && i < ch->links->len; i++)
    n += ((Link *) g_ptr_array_index (ch->links, i))->n_dropped;
  return n;
}

char *
bp_channels_status (BpChannels *channels)
{
  GString *s = g_string_new (NULL);

  for (guint i = 0; i < channels->channels->len; i++)
    {
      Channel *ch = g_ptr_array_index (channels->channels, i);
      guint64 sent = ch->closed_sent, received = ch->closed_received, dropped = ch->closed_dropped;

      for (guint j = 0; j < ch->links->len; j++)
        {
          Link *k = g_ptr_array_index (ch->links, j);
          sent += k->n_sent;
          received += k->n_received;
          dropped += k->n_dropped;
        }
      g_string_append_printf (
        s,
        "%schannel.%s.psm=%u channel.%s.open=%u channel.%s.producers=%u channel.%s.sent=%" G_GUINT64_FORMAT
        " channel.%s.received=%" G_GUINT64_FORMAT " channel.%s.dropped=%" G_GUINT64_FORMAT,
        s->len > 0 ? " " : "", ch->config->name, ch->psm, ch->config->name, ch->links->len, ch->config->name,
        g_list_length (ch->producers), ch->config->name, sent, ch->config->name, received, ch->config->name, dropped);
    }
  return g_string_free (s, FALSE);
}
