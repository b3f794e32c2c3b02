/* The producer side of a channel: two SOCK_SEQPACKET sockets per
 * [Channel NAME] in the channel folder beside the control socket
 * (docs/protocol.md, "Channels"):
 *
 *   NAME       one message = one frame, to every open channel; each frame a
 *              central sends arrives as one message;
 *   NAME.addr  the same with an address header: "00:AA:01:00:00:23\n" (or
 *              "*\n" for every central) before the frame, both ways.
 *
 * OnFull=wait holds the producers back by not reading their sockets (their
 * send() blocks or gets EAGAIN); a producer that does not read what the
 * centrals send holds the centrals back the same way (their credits stop). */
#define G_LOG_DOMAIN "channel"
#define _GNU_SOURCE /* accept4 */

#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/protocol.h"
#include "daemon/channel-private.h"

#define MESSAGES_PER_WAKE 32

static const char *const suffixes[N_PRODUCER_SOCKETS] = { "", ".addr" };

static gboolean producer_ready (int fd, GIOCondition cond, gpointer data);

static void
producer_update_watch (Producer *pr)
{
  GIOCondition cond = 0;

  if (!pr->ch->producers_held)
    cond |= G_IO_IN;
  if (pr->out.length > 0)
    cond |= G_IO_OUT;
  channel_watch (&pr->watch, &pr->cond, pr->fd, cond, producer_ready, pr);
}

static void
producer_close (Producer *pr, const char *reason)
{
  Channel *ch = pr->ch;
  gboolean was_full = pr->out.length >= ch->config->queue_length;

  if (reason != NULL)
    g_message ("[Channel %s] producer closed: %s", ch->config->name, reason);
  else
    g_debug ("[Channel %s] a producer left", ch->config->name);
  g_clear_handle_id (&pr->watch, g_source_remove);
  close (pr->fd);
  g_queue_clear_full (&pr->out, (GDestroyNotify) g_bytes_unref);
  ch->producers = g_list_remove (ch->producers, pr);
  g_free (pr);
  if (was_full && ch->links_held)
    {
      gboolean still = FALSE;
      for (GList *l = ch->producers; l != NULL; l = l->next)
        still = still || ((Producer *) l->data)->out.length >= ch->config->queue_length;
      if (!still)
        channel_hold_links (ch, FALSE);
    }
}

/* Sends the queued messages the socket has room for. FALSE when pr closed. */
static gboolean
producer_flush (Producer *pr)
{
  Channel *ch = pr->ch;
  gboolean was_full = pr->out.length >= ch->config->queue_length;

  while (pr->out.length > 0)
    {
      GBytes *m = g_queue_peek_head (&pr->out);
      gsize len;
      const guint8 *data = g_bytes_get_data (m, &len);
      gssize n = send (pr->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);

      if (n < 0)
        {
          int saved = errno;
          if (saved == EAGAIN || saved == EWOULDBLOCK)
            break;
          if (saved == EINTR)
            continue;
          if (saved == EMSGSIZE)
            {
              g_warning (
                "[Channel %s] a frame of %zu bytes does not fit the producer's socket: dropped "
                "(raise its SO_RCVBUF)",
                ch->config->name, len);
              g_bytes_unref (g_queue_pop_head (&pr->out));
              continue;
            }
          producer_close (pr, g_strerror (saved));
          return FALSE;
        }
      g_bytes_unref (g_queue_pop_head (&pr->out));
    }
  if (was_full && pr->out.length < ch->config->queue_length && ch->links_held)
    {
      gboolean still = FALSE;
      for (GList *l = ch->producers; l != NULL; l = l->next)
        still = still || ((Producer *) l->data)->out.length >= ch->config->queue_length;
      if (!still)
        channel_hold_links (ch, FALSE);
    }
  producer_update_watch (pr);
  return TRUE;
}

void
channel_deliver (Channel *ch, const char *address, const guint8 *data, gsize len)
{
  g_autoptr (GBytes) plain = NULL;
  g_autoptr (GBytes) addressed = NULL;
  gboolean full = FALSE;

  if (ch->producers == NULL)
    {
      ch->n_unclaimed++;
      g_debug ("[Channel %s] %s sent a frame of %zu bytes and no producer is connected: dropped", ch->config->name,
               address, len);
      return;
    }
  for (GList *l = ch->producers, *next; l != NULL; l = next)
    {
      Producer *pr = l->data;
      GBytes *m;

      next = l->next;
      if (pr->addressed)
        {
          if (addressed == NULL)
            {
              GByteArray *a = g_byte_array_sized_new ((guint) (len + BP_CHANNEL_ADDRESS_HEADER));
              g_byte_array_append (a, (const guint8 *) address, 17);
              g_byte_array_append (a, (const guint8 *) "\n", 1);
              g_byte_array_append (a, data, (guint) len);
              addressed = g_byte_array_free_to_bytes (a);
            }
          m = addressed;
        }
      else
        {
          if (plain == NULL)
            plain = g_bytes_new (data, len);
          m = plain;
        }
      g_queue_push_tail (&pr->out, g_bytes_ref (m));
      if (!producer_flush (pr))
        continue;
      full = full || pr->out.length >= ch->config->queue_length;
    }
  /* Read the centrals no further: their credits stop until the producers catch up. */
  if (full)
    channel_hold_links (ch, TRUE);
}

/* One message from a producer. FALSE when pr was closed. */
static gboolean
producer_message (Producer *pr, guint8 *buf, gsize n)
{
  Channel *ch = pr->ch;
  const char *to = NULL;
  char address[18];
  g_autoptr (GBytes) frame = NULL;

  if (pr->addressed)
    {
      const guint8 *nl = memchr (buf, '\n', MIN (n, (gsize) BP_CHANNEL_ADDRESS_HEADER));
      gsize hl = nl != NULL ? (gsize) (nl - buf) : 0;

      if (hl == 1 && buf[0] == '*')
        to = NULL;
      else if (hl == 17)
        {
          memcpy (address, buf, 17);
          address[17] = '\0';
          if (!bp_protocol_address_valid (address))
            hl = 0;
          to = address;
        }
      else
        hl = 0;
      if (hl == 0)
        {
          producer_close (pr, "a message on NAME.addr must start with the central's address and \"\\n\", or \"*\\n\"");
          return FALSE;
        }
      buf += hl + 1;
      n -= hl + 1;
    }
  frame = g_bytes_new (buf, n);
  channel_send (ch, to, frame);
  return TRUE;
}

static gboolean
producer_read (Producer *pr)
{
  Channel *ch = pr->ch;
  guint8 *buf = ch->owner->buffer;
  gsize size = BP_CHANNEL_FRAME_MAX + (pr->addressed ? BP_CHANNEL_ADDRESS_HEADER : 0);

  for (int i = 0; i < MESSAGES_PER_WAKE && !ch->producers_held; i++)
    {
      gssize n = recv (pr->fd, buf, size, MSG_DONTWAIT | MSG_TRUNC);

      if (n < 0)
        {
          int saved = errno;
          if (saved == EAGAIN || saved == EWOULDBLOCK)
            return TRUE;
          if (saved == EINTR)
            continue;
          producer_close (pr, g_strerror (saved));
          return FALSE;
        }
      if (n == 0)
        {
          /* SOCK_SEQPACKET: 0 is the end (an empty message cannot be told apart; it carries no frame). */
          producer_close (pr, NULL);
          return FALSE;
        }
      if ((gsize) n > size)
        {
          g_warning ("[Channel %s] a producer sent a frame of %zd bytes, over the limit of %u: dropped",
                     ch->config->name, n, BP_CHANNEL_FRAME_MAX);
          continue;
        }
      if (!producer_message (pr, buf, (gsize) n))
        return FALSE;
    }
  return TRUE;
}

static gboolean
producer_ready (int fd, GIOCondition cond, gpointer data)
{
  Producer *pr = data;

  if ((cond & G_IO_OUT) && !producer_flush (pr))
    return G_SOURCE_REMOVE;
  if ((cond & (G_IO_IN | G_IO_HUP | G_IO_ERR)) && !producer_read (pr))
    return G_SOURCE_REMOVE;
  if (pr->ch->producers_held)
    producer_update_watch (pr);
  return G_SOURCE_CONTINUE;
}

void
channel_hold_producers (Channel *ch, gboolean hold)
{
  if (ch->producers_held == hold)
    return;
  ch->producers_held = hold;
  g_debug ("[Channel %s] producers %s", ch->config->name, hold ? "held back (a central's queue is full)" : "resume");
  for (GList *l = ch->producers; l != NULL; l = l->next)
    producer_update_watch (l->data);
}

static gboolean
accept_ready (int fd, GIOCondition cond, gpointer data)
{
  Channel *ch = data;
  gboolean addressed = fd == ch->producer_listen[1];

  for (;;)
    {
      int pfd = accept4 (fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
      Producer *pr;

      if (pfd < 0)
        {
          if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            g_warning ("[Channel %s] accepting a producer: %s", ch->config->name, g_strerror (errno));
          break;
        }
      pr = g_new0 (Producer, 1);
      pr->ch = ch;
      pr->fd = pfd;
      pr->addressed = addressed;
      g_queue_init (&pr->out);
      ch->producers = g_list_append (ch->producers, pr);
      g_debug ("[Channel %s] a producer connected%s", ch->config->name, addressed ? " (addressed)" : "");
      producer_update_watch (pr);
    }
  return G_SOURCE_CONTINUE;
}

/* Binds, sets the mode and group of, and listens on fd at path; FALSE with
 * errno set when a step fails. */
static gboolean
socket_steps (BpChannels *channels, int fd, const struct sockaddr_un *addr, const char *path)
{
  if (bind (fd, (const struct sockaddr *) addr, sizeof *addr) < 0 || chmod (path, channels->mode) < 0)
    return FALSE;
  if (channels->group != NULL)
    {
      struct group *gr;

      errno = 0;
      gr = getgrnam (channels->group);
      if (gr == NULL)
        {
          /* getgrnam leaves errno 0 when the group does not exist */
          if (errno == 0)
            errno = ENOENT;
          return FALSE;
        }
      if (chown (path, (uid_t) -1, gr->gr_gid) < 0)
        return FALSE;
    }
  return listen (fd, 16) == 0;
}

static int
open_socket (BpChannels *channels, const char *path, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  struct stat st;
  int fd, saved;

  if (strlen (path) >= sizeof addr.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG, "%s: the path is too long for a socket", path);
      return -1;
    }
  strcpy (addr.sun_path, path);
  /* A socket file left by an earlier run (the folder is the daemon's). */
  if (lstat (path, &st) == 0 && S_ISSOCK (st.st_mode))
    unlink (path);
  fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd >= 0 && socket_steps (channels, fd, &addr, path))
    return fd;

  saved = errno;
  g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: cannot make the producer socket: %s", path,
               g_strerror (saved));
  if (fd >= 0)
    close (fd);
  return -1;
}

gboolean
channel_producers_open (Channel *ch, GError **error)
{
  BpChannels *channels = ch->owner;

  if (channels->dir == NULL)
    return TRUE;
  /* 0755 whatever the umask (the unit's is 0077): the sockets' own modes decide who may connect. */
  if (g_mkdir_with_parents (channels->dir, 0755) < 0 || chmod (channels->dir, 0755) < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: cannot make the channel folder: %s",
                   channels->dir, g_strerror (saved));
      return FALSE;
    }
  for (int i = 0; i < N_PRODUCER_SOCKETS; i++)
    {
      g_autofree char *file = g_strconcat (ch->config->name, suffixes[i], NULL);
      char *path = g_build_filename (channels->dir, file, NULL);
      int fd = open_socket (channels, path, error);

      if (fd < 0)
        {
          g_free (path);
          return FALSE;
        }
      ch->producer_listen[i] = fd;
      ch->producer_path[i] = path;
      ch->producer_listen_watch[i] = g_unix_fd_add (fd, G_IO_IN, accept_ready, ch);
    }
  return TRUE;
}

void
channel_producers_close (Channel *ch)
{
  while (ch->producers != NULL)
    producer_close (ch->producers->data, NULL);
  for (int i = 0; i < N_PRODUCER_SOCKETS; i++)
    {
      g_clear_handle_id (&ch->producer_listen_watch[i], g_source_remove);
      if (ch->producer_listen[i] >= 0)
        {
          close (ch->producer_listen[i]);
          ch->producer_listen[i] = -1;
        }
      if (ch->producer_path[i] != NULL)
        {
          unlink (ch->producer_path[i]);
          g_clear_pointer (&ch->producer_path[i], g_free);
        }
    }
}
