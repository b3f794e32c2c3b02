/* The acquired-socket path: see fastpath.h for the rule it keeps. */
#define G_LOG_DOMAIN "fastpath"

#include "build-config.h"

#include "daemon/fastpath.h"

#include <errno.h>
#include <glib-unix.h>
#include <linux/sockios.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/error.h"
#include "daemon/gatt.h"
#include "daemon/log.h"

/* Values waiting (in the ordered queue of a characteristic or for room in
 * a socket): producers wait above HIGH and resume below LOW. */
#define QUEUED_HIGH 1024
#define QUEUED_LOW 256
/* How long a switch from sockets to the bus waits for bluetoothd to read
 * the sockets empty before it goes on anyway (with a warning). */
#define DRAIN_WAIT_MS 2000
#define PING_TIMEOUT_MS 5000
/* Writes read from one socket per main-loop turn. */
#define READS_PER_TURN 64
#define MESSAGE_MAX 512

typedef struct _FpChar FpChar;

typedef struct {
  FpChar *fc;
  char *address; /* the central bluetoothd named, NULL when it did not */
  int fd;
  guint in_watch;
  guint out_watch;
  GQueue queue; /* of GBytes*, waiting for room (EAGAIN) */
} NotifyLink;

typedef struct {
  FpChar *fc;
  char *address;
  int fd;
  guint in_watch;
} WriteLink;

typedef enum { WAY_NONE, WAY_BUS, WAY_SOCKETS } Way;

typedef struct {
  GBytes *value;
  char *to; /* one central, or NULL */
} Item;

struct _FpChar {
  BpFastPath *fp;
  char *id;
  GPtrArray *links;  /* of NotifyLink*, in acquisition order */
  GPtrArray *wlinks; /* of WriteLink* */
  GHashTable *doubt; /* address → address: connected, socket closed, may still be subscribed */
  GQueue pending;    /* of Item*, waiting for the way to change */
  Way last;
  guint64 bus_sent;      /* signals sent for this characteristic */
  guint64 bus_confirmed; /* … of which bluetoothd answered a ping sent after them */
  gboolean pinging;
  guint drain_source;
  guint run_source; /* an idle run asked from inside a send */
  gint64 drain_since;
};

struct _BpFastPath {
  GDBusConnection *conn;
  BpPeripheral *p;
  BpGatt *gatt;
  GCancellable *cancellable;
  GHashTable *chars;  /* id → FpChar* */
  GHashTable *bonded; /* address (upper case) → itself */
  guint listener;
  guint floor_major, floor_minor;
  gboolean seen_per_connection; /* ≥ 5.69 */
  gboolean seen_confirm_byte;   /* ≥ 5.80 */
  guint64 queued;
  gboolean congested;
  gboolean closing;
};

static void fpchar_run (FpChar *fc);
static void fpchar_kick (FpChar *fc);

static void
item_free (Item *it)
{
  g_bytes_unref (it->value);
  g_free (it->to);
  g_free (it);
}

/* --- bookkeeping ----------------------------------------------------------- */

static void
queued_add (BpFastPath *fp, gint64 delta)
{
  fp->queued = (guint64) ((gint64) fp->queued + delta);
  if (fp->queued > QUEUED_HIGH)
    fp->congested = TRUE;
  if (fp->congested && fp->queued < QUEUED_LOW && !fp->closing)
    {
      BpEvent ev = { .type = BP_EVENT_DRAINED };

      fp->congested = FALSE;
      bp_peripheral_emit (fp->p, &ev);
    }
}

static BpCharacteristic *
fpchar_characteristic (FpChar *fc)
{
  return bp_peripheral_lookup (fc->fp->p, fc->id, NULL);
}

static void
notify_link_free (NotifyLink *l)
{
  g_clear_handle_id (&l->in_watch, g_source_remove);
  g_clear_handle_id (&l->out_watch, g_source_remove);
  if (l->fd >= 0)
    close (l->fd);
  queued_add (l->fc->fp, -(gint64) l->queue.length);
  g_queue_clear_full (&l->queue, (GDestroyNotify) g_bytes_unref);
  g_free (l->address);
  g_free (l);
}

static void
write_link_free (WriteLink *l)
{
  g_clear_handle_id (&l->in_watch, g_source_remove);
  if (l->fd >= 0)
    close (l->fd);
  g_free (l->address);
  g_free (l);
}

static void
fpchar_free (FpChar *fc)
{
  g_clear_handle_id (&fc->drain_source, g_source_remove);
  g_clear_handle_id (&fc->run_source, g_source_remove);
  g_ptr_array_unref (fc->links);
  g_ptr_array_unref (fc->wlinks);
  g_hash_table_unref (fc->doubt);
  queued_add (fc->fp, -(gint64) fc->pending.length);
  g_queue_clear_full (&fc->pending, (GDestroyNotify) item_free);
  g_free (fc->id);
  g_free (fc);
}

static FpChar *
fpchar_get (BpFastPath *fp, BpCharacteristic *chr, gboolean create)
{
  FpChar *fc = g_hash_table_lookup (fp->chars, chr->id);

  if (fc == NULL && create)
    {
      fc = g_new0 (FpChar, 1);
      fc->fp = fp;
      fc->id = g_strdup (chr->id);
      fc->links = g_ptr_array_new_with_free_func ((GDestroyNotify) notify_link_free);
      fc->wlinks = g_ptr_array_new_with_free_func ((GDestroyNotify) write_link_free);
      fc->doubt = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
      g_queue_init (&fc->pending);
      /* Values may have gone by the bus before: the first one on a socket
       * waits for bluetoothd to have taken them. */
      fc->last = WAY_BUS;
      fc->bus_sent = 1;
      g_hash_table_insert (fp->chars, fc->id, fc);
    }
  return fc;
}

static char *
address_key (const char *address)
{
  return g_ascii_strup (address, -1);
}

/* --- what is known of bluetoothd ------------------------------------------- */

gboolean
bp_fastpath_bluez_at_least (BpFastPath *fp, guint major, guint minor)
{
  guint want = major * 1000 + minor;
  guint floor = fp->floor_major * 1000 + fp->floor_minor;

  if (floor >= want)
    return TRUE;
  if (fp->seen_confirm_byte && want <= 5 * 1000 + 80)
    return TRUE;
  if (fp->seen_per_connection && want <= 5 * 1000 + 69)
    return TRUE;
  return FALSE;
}

void
bp_fastpath_set_bluez_floor (BpFastPath *fp, guint major, guint minor)
{
  if (major * 1000 + minor > fp->floor_major * 1000 + fp->floor_minor)
    {
      fp->floor_major = major;
      fp->floor_minor = minor;
      g_info ("bluetoothd is BlueZ %u.%u or later (from its interfaces)", major, minor);
    }
}

void
bp_fastpath_set_bonded (BpFastPath *fp, const char *address, gboolean bonded)
{
  if (address == NULL)
    return;
  if (bonded)
    {
      char *key = address_key (address);
      g_hash_table_replace (fp->bonded, key, key);
    }
  else
    {
      g_autofree char *key = address_key (address);
      g_hash_table_remove (fp->bonded, key);
    }
}

static gboolean
is_bonded (BpFastPath *fp, const char *address)
{
  g_autofree char *key = address_key (address);
  return g_hash_table_contains (fp->bonded, key);
}

/* --- which characteristics ------------------------------------------------- */

gboolean
bp_fastpath_exports_notify (BpFastPath *fp, BpCharacteristic *chr)
{
  return chr->config->acquire_sockets && (chr->config->flags & (BP_FLAG_NOTIFY | BP_FLAG_INDICATE)) != 0;
}

gboolean
bp_fastpath_exports_write (BpFastPath *fp, BpCharacteristic *chr)
{
  return chr->config->acquire_sockets && (chr->config->flags & BP_FLAG_WRITE_WITHOUT_RESPONSE) != 0;
}

gboolean
bp_fastpath_notify_acquired (BpFastPath *fp, BpCharacteristic *chr)
{
  FpChar *fc = fpchar_get (fp, chr, FALSE);
  return fc != NULL && fc->links->len > 0;
}

gboolean
bp_fastpath_write_acquired (BpFastPath *fp, BpCharacteristic *chr)
{
  FpChar *fc = fpchar_get (fp, chr, FALSE);
  return fc != NULL && fc->wlinks->len > 0;
}

/* --- notify sockets -------------------------------------------------------- */

static NotifyLink *
find_link (FpChar *fc, const char *address)
{
  for (guint i = 0; i < fc->links->len; i++)
    {
      NotifyLink *l = g_ptr_array_index (fc->links, i);
      if (l->address != NULL && g_ascii_strcasecmp (l->address, address) == 0)
        return l;
    }
  return NULL;
}

/* The link is gone (bluetoothd closed its end, or a newer one replaced it). */
static void
close_link (NotifyLink *l, gboolean superseded)
{
  FpChar *fc = l->fc;
  BpFastPath *fp = fc->fp;
  BpCharacteristic *chr = fpchar_characteristic (fc);
  g_autofree char *address = g_strdup (l->address);
  gboolean connected = address != NULL && bp_peripheral_is_connected (fp->p, address);

  if (l->queue.length > 0)
    bp_log_characteristic (G_LOG_LEVEL_INFO, fc->id, "%s: %u values waiting for %s's socket were not sent: it closed",
                           fc->id, l->queue.length, address ? address : "a central");
  g_ptr_array_remove (fc->links, l);
  if (superseded)
    return;
  /* A socket that closes while its central stays connected is an
   * unsubscription, or bluetoothd closing the wrong one (bluez#1452) while
   * the central stays subscribed: the central is in doubt until it gets a
   * new socket or disconnects, and PropertiesChanged covers it meanwhile. */
  if (connected)
    g_hash_table_add (fc->doubt, address_key (address));
  if (chr != NULL)
    bp_peripheral_central_subscribed (fp->p, chr, address, 0, FALSE, fc->links->len > 0);
  fpchar_kick (fc);
}

/* Takes in what the socket holds (at most MAX messages): confirmation
 * bytes. TRUE when it is closed (its end, or an error). */
static gboolean
link_read (NotifyLink *l, guint max)
{
  FpChar *fc = l->fc;
  guint8 buf[MESSAGE_MAX];

  for (guint i = 0; i < max; i++)
    {
      ssize_t n = recv (l->fd, buf, sizeof buf, MSG_DONTWAIT);

      if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return FALSE;
      if (n <= 0)
        return TRUE;
      if (n == 1 && buf[0] == 0x01)
        {
          /* An indication confirmed by the central of this socket: 5.80+. */
          BpCharacteristic *chr = fpchar_characteristic (fc);

          if (!fc->fp->seen_confirm_byte)
            g_info ("a confirmation byte on a notify socket: bluetoothd is BlueZ 5.80 or later");
          fc->fp->seen_confirm_byte = TRUE;
          if (chr != NULL)
            bp_peripheral_confirmed (fc->fp->p, chr, l->address);
        }
      else
        {
          bp_log_characteristic (G_LOG_LEVEL_DEBUG, fc->id, "%s: %zd unexpected bytes on a notify socket", fc->id, n);
        }
    }
  return FALSE;
}

static gboolean
link_readable (int fd, GIOCondition cond, gpointer user_data)
{
  NotifyLink *l = user_data;

  if ((cond & G_IO_IN) && link_read (l, READS_PER_TURN))
    cond |= G_IO_HUP;
  if (cond & (G_IO_HUP | G_IO_ERR))
    {
      l->in_watch = 0;
      close_link (l, FALSE);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

/* Sends what waits in l's queue; FALSE when the socket is full again. */
static gboolean
link_flush (NotifyLink *l)
{
  GBytes *v;

  while ((v = g_queue_peek_head (&l->queue)) != NULL)
    {
      gsize len = 0;
      const guint8 *data = g_bytes_get_data (v, &len);
      ssize_t n = send (l->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);

      if (n < 0 && errno == EAGAIN)
        return FALSE;
      /* Sent, or the socket failed (its HUP follows): either way done. */
      g_bytes_unref (g_queue_pop_head (&l->queue));
      queued_add (l->fc->fp, -1);
    }
  return TRUE;
}

static gboolean
link_writable (int fd, GIOCondition cond, gpointer user_data)
{
  NotifyLink *l = user_data;

  if (!link_flush (l))
    return G_SOURCE_CONTINUE;
  l->out_watch = 0;
  fpchar_run (l->fc);
  return G_SOURCE_REMOVE;
}

/* One message on l, in order after what waits; FALSE when the socket is
 * closed (the message went nowhere). */
static gboolean
link_send (NotifyLink *l, GBytes *value)
{
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (value, &len);
  ssize_t n;

  if (l->queue.length == 0)
    {
      n = send (l->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n >= 0)
        return TRUE;
      if (errno != EAGAIN)
        return FALSE;
    }
  g_queue_push_tail (&l->queue, g_bytes_ref (value));
  queued_add (l->fc->fp, 1);
  if (l->out_watch == 0)
    l->out_watch = g_unix_fd_add (l->fd, G_IO_OUT, link_writable, l);
  return TRUE;
}

/* Closes links whose other end bluetoothd has already closed, after taking
 * in what they still hold; one poll for them all. TRUE when one closed.
 * (A closed socket polls readable too: POLLHUP is what tells.) */
static gboolean
reap_closed_links (FpChar *fc)
{
  struct pollfd pfds[16];
  guint n = MIN (fc->links->len, G_N_ELEMENTS (pfds));
  gboolean reaped = FALSE;

  if (n == 0)
    return FALSE;
  for (guint i = 0; i < n; i++)
    pfds[i] = (struct pollfd) { .fd = ((NotifyLink *) g_ptr_array_index (fc->links, i))->fd, .events = POLLIN };
  if (poll (pfds, n, 0) <= 0)
    return FALSE;
  for (guint i = n; i > 0; i--)
    {
      NotifyLink *l = g_ptr_array_index (fc->links, i - 1);

      if (!(pfds[i - 1].revents & (POLLHUP | POLLERR)))
        continue;
      g_clear_handle_id (&l->in_watch, g_source_remove);
      /* all it holds is there: its other end is closed */
      for (guint round = 0; round < 64 && !link_read (l, READS_PER_TURN); round++)
        ;
      close_link (l, FALSE);
      reaped = TRUE;
    }
  return reaped;
}

int
bp_fastpath_acquire_notify (BpFastPath *fp, BpCharacteristic *chr, const char *address, guint16 mtu, GError **error)
{
  FpChar *fc = fpchar_get (fp, chr, TRUE);
  NotifyLink *l, *old;
  int sv[2];

  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "socketpair: %s", g_strerror (e));
      return -1;
    }
  reap_closed_links (fc);
  if (fc->links->len > 0 && !fp->seen_per_connection)
    {
      /* 5.66–5.68 call AcquireNotify only while no socket is open. */
      g_info ("a second notify socket for %s: bluetoothd is BlueZ 5.69 or later", chr->id);
      fp->seen_per_connection = TRUE;
    }
  if (address != NULL && (old = find_link (fc, address)) != NULL)
    close_link (old, TRUE);

  l = g_new0 (NotifyLink, 1);
  l->fc = fc;
  l->address = g_strdup (address);
  l->fd = sv[0];
  g_queue_init (&l->queue);
  l->in_watch = g_unix_fd_add (l->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, link_readable, l);
  g_ptr_array_add (fc->links, l);
  if (address != NULL)
    {
      g_autofree char *key = address_key (address);
      g_hash_table_remove (fc->doubt, key);
      bp_peripheral_update_mtu (fp->p, address, mtu);
    }
  bp_log_characteristic (G_LOG_LEVEL_INFO, chr->id, "%s: notify socket for %s (MTU %u, %u open)", chr->id,
                         address ? address : "a central", mtu, fc->links->len);
  bp_peripheral_central_subscribed (fp->p, chr, address, mtu, TRUE, TRUE);
  fpchar_run (fc);
  return sv[1];
}

/* --- the way of each value ------------------------------------------------- */

/* A connected central that may be subscribed but has no socket. */
static const char *
doubtful_central (FpChar *fc)
{
  const GPtrArray *centrals = bp_peripheral_get_centrals (fc->fp->p);

  if (g_hash_table_size (fc->doubt) == 0 && g_hash_table_size (fc->fp->bonded) == 0)
    return NULL; /* the common case, without a lookup per central */
  for (guint i = 0; i < centrals->len; i++)
    {
      const char *a = g_ptr_array_index (centrals, i);
      g_autofree char *key = NULL;

      if (find_link (fc, a) != NULL)
        continue;
      key = address_key (a);
      if (g_hash_table_contains (fc->doubt, key) || is_bonded (fc->fp, a))
        return a;
    }
  return NULL;
}

static Way
choose_way (FpChar *fc, const Item *it)
{
  if (it->to != NULL)
    return WAY_SOCKETS;
  if (g_bytes_get_size (it->value) == 0 || fc->links->len == 0 || doubtful_central (fc) != NULL)
    return WAY_BUS;
  if (fc->links->len == 1 || bp_fastpath_bluez_at_least (fc->fp, 5, 76))
    return WAY_SOCKETS;
  /* Several sockets that may each reach every subscriber (5.69–5.75). */
  return WAY_BUS;
}

static gboolean
sockets_drained (FpChar *fc)
{
  for (guint i = 0; i < fc->links->len; i++)
    {
      NotifyLink *l = g_ptr_array_index (fc->links, i);
      int outq = 0;

      if (l->queue.length > 0)
        return FALSE;
      if (ioctl (l->fd, SIOCOUTQ, &outq) == 0 && outq > 0)
        return FALSE;
    }
  return TRUE;
}

static gboolean
drain_check (gpointer user_data)
{
  FpChar *fc = user_data;

  if (!sockets_drained (fc) && g_get_monotonic_time () - fc->drain_since < DRAIN_WAIT_MS * G_TIME_SPAN_MILLISECOND)
    return G_SOURCE_CONTINUE;
  if (!sockets_drained (fc))
    bp_log_characteristic (G_LOG_LEVEL_WARNING, fc->id,
                           "%s: bluetoothd has not read its notify sockets for %d ms; later values go by D-Bus and "
                           "may overtake them",
                           fc->id, DRAIN_WAIT_MS);
  fc->drain_source = 0;
  fc->last = WAY_NONE;
  fpchar_run (fc);
  return G_SOURCE_REMOVE;
}

typedef struct {
  BpFastPath *fp;
  char *id;
  guint64 mark;
} Ping;

static void
ping_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  g_autofree Ping *ping = user_data;
  g_autofree char *id = ping->id;
  g_autoptr (GError) error = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_finish (G_DBUS_CONNECTION (source), res, &error);
  FpChar *fc;

  if (error != NULL && g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* fp is gone */
  fc = g_hash_table_lookup (ping->fp->chars, id);
  if (fc == NULL)
    return;
  if (reply == NULL)
    g_debug ("ping to bluetoothd: %s", error->message);
  /* An error reply came after the signals too; a timeout means bluetoothd
   * hangs, and waiting longer would only stop the values. */
  if (ping->mark > fc->bus_confirmed)
    fc->bus_confirmed = ping->mark;
  fc->pinging = FALSE;
  fpchar_run (fc);
}

static void
start_ping (FpChar *fc)
{
  Ping *ping;

  /* No bus (fuzz targets): nothing was sent that could still be on its way. */
  if (fc->fp->conn == NULL)
    {
      fc->bus_confirmed = fc->bus_sent;
      return;
    }
  ping = g_new0 (Ping, 1);

  ping->fp = fc->fp;
  ping->id = g_strdup (fc->id);
  ping->mark = fc->bus_sent;
  fc->pinging = TRUE;
  g_dbus_connection_call (fc->fp->conn, "org.bluez", "/", "org.freedesktop.DBus.Peer", "Ping", NULL, NULL,
                          G_DBUS_CALL_FLAGS_NO_AUTO_START, PING_TIMEOUT_MS, fc->fp->cancellable, ping_done, ping);
}

/* Sends it now, or tells why it must wait (FALSE, a barrier started). */
static gboolean
try_send (FpChar *fc, BpCharacteristic *chr, const Item *it, GError **error)
{
  BpFastPath *fp = fc->fp;
  Way way = choose_way (fc, it);

  if (way == WAY_BUS && fc->last == WAY_SOCKETS && !sockets_drained (fc))
    {
      if (fc->drain_source == 0)
        {
          fc->drain_since = g_get_monotonic_time ();
          fc->drain_source = g_timeout_add (1, drain_check, fc);
        }
      return FALSE;
    }
  if (way == WAY_SOCKETS && fc->last == WAY_BUS && fc->bus_confirmed < fc->bus_sent)
    {
      if (!fc->pinging)
        start_ping (fc);
      return FALSE;
    }

  /* A socket bluetoothd closed since the last value (bluez#1452 closes a
   * subscribed central's with another's disconnection) is closed here
   * first: its central is then in doubt and the way chosen again, where
   * the value would have gone nowhere for it. (One socket alone is
   * handled where its send fails, below: the bus carries the value.) */
  if (way == WAY_SOCKETS && fc->links->len > 1 && reap_closed_links (fc))
    return try_send (fc, chr, it, error);

  if (way == WAY_BUS)
    {
      fc->last = WAY_BUS;
      fc->bus_sent++;
      if (fc->links->len > 0)
        bp_peripheral_get_state (fp->p)->socket_fallbacks++;
      return bp_gatt_emit_value (fp->gatt, chr, it->value, error);
    }

  fc->last = WAY_SOCKETS;
  if (it->to != NULL)
    {
      NotifyLink *l = find_link (fc, it->to);

      if (l == NULL || !link_send (l, it->value))
        bp_log_characteristic (G_LOG_LEVEL_INFO, chr->id, "%s: the value for %s was not sent: its socket closed",
                               chr->id, it->to);
      else
        bp_peripheral_get_state (fp->p)->socket_values++;
      return TRUE;
    }
  if (fc->links->len == 1)
    {
      NotifyLink *l = g_ptr_array_index (fc->links, 0);

      if (link_send (l, it->value))
        {
          bp_peripheral_get_state (fp->p)->socket_values++;
          return TRUE;
        }
      /* The only socket had closed: the value reached nobody, so the bus
       * carries it to whoever is subscribed. */
      g_clear_handle_id (&l->in_watch, g_source_remove);
      close_link (l, FALSE);
      fc->last = WAY_BUS;
      fc->bus_sent++;
      bp_peripheral_get_state (fp->p)->socket_fallbacks++;
      return bp_gatt_emit_value (fp->gatt, chr, it->value, error);
    }
  for (guint i = 0; i < fc->links->len; i++)
    {
      NotifyLink *l = g_ptr_array_index (fc->links, i);

      if (link_send (l, it->value))
        bp_peripheral_get_state (fp->p)->socket_values++;
      else
        bp_log_characteristic (G_LOG_LEVEL_INFO, chr->id, "%s: the value for %s was not sent: its socket closed",
                               chr->id, l->address ? l->address : "a central");
    }
  return TRUE;
}

/* Sends what waits, in order, as far as the way allows. */
static void
fpchar_run (FpChar *fc)
{
  BpCharacteristic *chr = fpchar_characteristic (fc);
  Item *it;

  while ((it = g_queue_peek_head (&fc->pending)) != NULL)
    {
      g_autoptr (GError) error = NULL;

      if (chr == NULL)
        {
          g_queue_clear_full (&fc->pending, (GDestroyNotify) item_free);
          return;
        }
      if (!try_send (fc, chr, it, &error))
        {
          if (error == NULL)
            return; /* waiting */
          bp_log_characteristic (G_LOG_LEVEL_WARNING, chr->id, "%s: %s", chr->id, error->message);
        }
      item_free (g_queue_pop_head (&fc->pending));
      queued_add (fc->fp, -1);
    }
}

static gboolean
run_idle (gpointer user_data)
{
  FpChar *fc = user_data;

  fc->run_source = 0;
  fpchar_run (fc);
  return G_SOURCE_REMOVE;
}

/* fpchar_run soon, never from inside itself (a value would go twice). */
static void
fpchar_kick (FpChar *fc)
{
  if (fc->run_source == 0 && fc->pending.length > 0)
    fc->run_source = g_idle_add (run_idle, fc);
}

gboolean
bp_fastpath_notify (BpFastPath *fp, BpCharacteristic *chr, GBytes *value, const char *to_address, GError **error)
{
  FpChar *fc = fpchar_get (fp, chr, FALSE);
  Item it = { value, (char *) to_address };

  if (to_address != NULL)
    {
      if (!bp_fastpath_exports_notify (fp, chr))
        {
          g_set_error (error, BP_ERROR, BP_ERROR_NOT_SUPPORTED,
                       "notifying one central (to=%s) needs the acquired sockets, which AcquireSockets=off "
                       "turns off for %s",
                       to_address, chr->id);
          return FALSE;
        }
      if (!bp_fastpath_bluez_at_least (fp, 5, 76))
        {
          g_set_error (error, BP_ERROR, BP_ERROR_NOT_SUPPORTED,
                       "notifying one central (to=%s) needs BlueZ 5.76 or later, and nothing bluetoothd showed "
                       "proves it is (a notify socket reaches every subscriber before 5.76)",
                       to_address);
          return FALSE;
        }
      if (fc == NULL || find_link (fc, to_address) == NULL)
        {
          g_set_error (error, BP_ERROR, BP_ERROR_UNAVAILABLE,
                       "%s has no notify socket for %s: it is not subscribed, or bluetoothd gave it none "
                       "(a bonded central that reconnected, or bluez#1452)",
                       to_address, chr->id);
          return FALSE;
        }
      if (g_bytes_get_size (value) == 0)
        {
          g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE,
                       "an empty value cannot go to one central: a 0-byte message stops bluetoothd reading "
                       "its socket");
          return FALSE;
        }
    }
  if (fc == NULL)
    return bp_gatt_emit_value (fp->gatt, chr, value, error);
  if (fc->pending.length == 0 && try_send (fc, chr, &it, error))
    return TRUE;
  if (error != NULL && *error != NULL)
    return FALSE;
  /* Waiting for the way to change: in order behind the others. */
  {
    Item *copy = g_new0 (Item, 1);

    copy->value = g_bytes_ref (value);
    copy->to = g_strdup (to_address);
    g_queue_push_tail (&fc->pending, copy);
    queued_add (fp, 1);
  }
  return TRUE;
}

gboolean
bp_fastpath_congested (BpFastPath *fp)
{
  return fp->congested;
}

/* --- write sockets --------------------------------------------------------- */

/* recv() gave 0 bytes: the end (TRUE) or an empty message. */
static gboolean
peer_closed (int fd)
{
  struct pollfd pfd = { .fd = fd, .events = POLLIN };

  return poll (&pfd, 1, 0) == 1 && (pfd.revents & (POLLHUP | POLLERR)) != 0;
}

static gboolean
wlink_readable (int fd, GIOCondition cond, gpointer user_data)
{
  WriteLink *l = user_data;
  FpChar *fc = l->fc;
  BpFastPath *fp = fc->fp;
  guint8 buf[MESSAGE_MAX + 1];

  if (cond & G_IO_IN)
    {
      BpCharacteristic *chr = fpchar_characteristic (fc);
      /* The writer: the socket's central when sockets are per connection
       * (5.69+ proven), else the only central connected (5.66 shares one
       * socket among all, named after the first writer), else unknown. */
      const GPtrArray *centrals = bp_peripheral_get_centrals (fp->p);
      const char *address = bp_fastpath_bluez_at_least (fp, 5, 69) ? l->address :
                            centrals->len == 1                     ? g_ptr_array_index (centrals, 0) :
                                                                     NULL;

      for (guint i = 0; i < READS_PER_TURN; i++)
        {
          ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);
          guint8 att;

          if (n < 0 && (errno == EAGAIN || errno == EINTR))
            break;
          if (n < 0 || (n == 0 && peer_closed (fd)))
            {
              cond |= G_IO_HUP;
              break;
            }
          /* Without a hang-up, 0 bytes are an empty write. */
          if (chr == NULL)
            continue;
          bp_peripheral_get_state (fp->p)->socket_writes++;
          att = bp_peripheral_write (fp->p, chr, address, buf, (gsize) n, 0);
          if (att != 0)
            bp_log_characteristic (G_LOG_LEVEL_WARNING, chr->id,
                                   "%s: a %zd-byte write from %s was refused (ATT 0x%02x) but bluetoothd has already "
                                   "acknowledged it",
                                   chr->id, n, address ? address : "a central", att);
        }
    }
  if (cond & (G_IO_HUP | G_IO_ERR))
    {
      l->in_watch = 0;
      g_ptr_array_remove (fc->wlinks, l);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

int
bp_fastpath_acquire_write (BpFastPath *fp, BpCharacteristic *chr, const char *address, guint16 mtu, GError **error)
{
  FpChar *fc = fpchar_get (fp, chr, TRUE);
  WriteLink *l;
  int sv[2];

  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
    {
      int e = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (e), "socketpair: %s", g_strerror (e));
      return -1;
    }
  for (guint i = 0; i < fc->wlinks->len; i++)
    {
      WriteLink *o = g_ptr_array_index (fc->wlinks, i);
      struct pollfd pfd = { .fd = o->fd, .events = POLLIN };

      /* 5.66 asks once and never closes its socket: a second open one is 5.69+. */
      if (!(poll (&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP)) && !fp->seen_per_connection)
        {
          g_info ("a second write socket for %s: bluetoothd is BlueZ 5.69 or later", chr->id);
          fp->seen_per_connection = TRUE;
        }
    }
  l = g_new0 (WriteLink, 1);
  l->fc = fc;
  l->address = g_strdup (address);
  l->fd = sv[0];
  l->in_watch = g_unix_fd_add (l->fd, G_IO_IN | G_IO_HUP | G_IO_ERR, wlink_readable, l);
  g_ptr_array_add (fc->wlinks, l);
  if (address != NULL)
    bp_peripheral_update_mtu (fp->p, address, mtu);
  bp_log_characteristic (G_LOG_LEVEL_INFO, chr->id, "%s: write socket for %s (MTU %u)", chr->id,
                         address ? address : "a central", mtu);
  return sv[1];
}

/* --- life ------------------------------------------------------------------ */

static void
on_event (const BpEvent *event, gpointer user_data)
{
  BpFastPath *fp = user_data;
  GHashTableIter iter;
  FpChar *fc;

  if (event->type != BP_EVENT_DISCONNECT || event->address == NULL)
    return;
  /* A disconnected central is no longer in doubt: it gets nothing either way. */
  g_hash_table_iter_init (&iter, fp->chars);
  while (g_hash_table_iter_next (&iter, NULL, (gpointer *) &fc))
    {
      g_autofree char *key = address_key (event->address);
      if (g_hash_table_remove (fc->doubt, key))
        fpchar_kick (fc);
    }
}

BpFastPath *
bp_fastpath_new (GDBusConnection *conn, BpPeripheral *p, BpGatt *gatt)
{
  BpFastPath *fp = g_new0 (BpFastPath, 1);

  fp->conn = conn != NULL ? g_object_ref (conn) : NULL; /* NULL: no bus (fuzz targets) */
  fp->p = p;
  fp->gatt = gatt;
  fp->cancellable = g_cancellable_new ();
  fp->chars = g_hash_table_new_full (g_str_hash, g_str_equal, NULL, (GDestroyNotify) fpchar_free);
  fp->bonded = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  fp->listener = bp_peripheral_add_listener (p, on_event, fp);
  return fp;
}

void
bp_fastpath_reset (BpFastPath *fp)
{
  g_hash_table_remove_all (fp->chars);
}

void
bp_fastpath_free (BpFastPath *fp)
{
  if (fp == NULL)
    return;
  fp->closing = TRUE;
  g_cancellable_cancel (fp->cancellable);
  bp_peripheral_remove_listener (fp->p, fp->listener);
  g_hash_table_unref (fp->chars);
  g_hash_table_unref (fp->bonded);
  g_clear_object (&fp->cancellable);
  g_clear_object (&fp->conn);
  g_free (fp);
}
