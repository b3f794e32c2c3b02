/* The stand-in's acquired sockets (AcquireNotify, AcquireWrite), per BlueZ
 * version as /work/shared/BLUEZ.md "Acquired fds" tells, and what each
 * central receives by either way. */
#include "fake-bluez-private.h"

#include <errno.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#define READ_MAX 512 /* bluetoothd: read (fd, buf, 512) per message */

typedef struct {
  FakeBluez *fb;
  char *chr_path;
  char *device_path; /* the central bluetoothd asked for */
  int fd;
  guint watch;
  gboolean write; /* AcquireWrite */
  gboolean dead;  /* a 0-byte message arrived: bluetoothd stops reading */
} FakeSock;

static void
sock_free (FakeSock *s)
{
  g_clear_handle_id (&s->watch, g_source_remove);
  if (s->fd >= 0)
    close (s->fd);
  g_free (s->chr_path);
  g_free (s->device_path);
  g_free (s);
}

void
fake_received_free (FakeReceived *r)
{
  g_free (r->path);
  g_bytes_unref (r->value);
  g_free (r);
}

void
fake_bluez_sockets_init (FakeBluez *fb)
{
  fb->socks = g_ptr_array_new_with_free_func ((GDestroyNotify) sock_free);
}

void
fake_bluez_sockets_clear (FakeBluez *fb)
{
  g_ptr_array_set_size (fb->socks, 0);
}

static FakeSock *
find_sock (FakeBluez *fb, const char *chr_path, const char *device_path, gboolean write)
{
  for (guint i = 0; i < fb->socks->len; i++)
    {
      FakeSock *s = g_ptr_array_index (fb->socks, i);
      if (s->write == write && g_strcmp0 (s->chr_path, chr_path) == 0 &&
          (device_path == NULL || g_strcmp0 (s->device_path, device_path) == 0))
        return s;
    }
  return NULL;
}

static void
close_sock (FakeBluez *fb, FakeSock *s)
{
  if (s != NULL)
    g_ptr_array_remove (fb->socks, s);
}

guint
fake_bluez_count_notify_sockets (FakeBluez *fb, const char *path)
{
  guint n = 0;

  for (guint i = 0; i < fb->socks->len; i++)
    {
      FakeSock *s = g_ptr_array_index (fb->socks, i);
      n += !s->write && g_strcmp0 (s->chr_path, path) == 0;
    }
  return n;
}

guint
fake_bluez_get_n_empty_messages (FakeBluez *fb)
{
  return fb->n_empty_messages;
}

guint64
fake_bluez_get_n_socket_messages (FakeBluez *fb)
{
  return fb->n_socket_messages;
}

GPtrArray *
fake_bluez_get_received (FakeBluez *fb, const char *device_path)
{
  FakeDevice *d = fake_bluez_find_device (fb, device_path);

  g_return_val_if_fail (d != NULL, NULL);
  return d->received;
}

guint
fake_bluez_count_received (FakeBluez *fb, const char *device_path, const char *path)
{
  FakeDevice *d = fake_bluez_find_device (fb, device_path);
  guint n = 0;

  g_return_val_if_fail (d != NULL, 0);
  for (guint i = 0; i < d->received->len; i++)
    n += g_strcmp0 (((FakeReceived *) g_ptr_array_index (d->received, i))->path, path) == 0;
  return n;
}

static FakeGattCharacteristic *
active_characteristic (FakeBluez *fb, const char *path)
{
  FakeApplication *app = fake_bluez_get_active_application (fb);

  return app != NULL ? fake_application_get_characteristic (app, path) : NULL;
}

static gboolean
is_subscriber (FakeGattCharacteristic *chr, const char *device_path)
{
  for (guint i = 0; i < chr->subscribers->len; i++)
    if (g_strcmp0 (g_ptr_array_index (chr->subscribers, i), device_path) == 0)
      return TRUE;
  return FALSE;
}

static gboolean
is_indication (FakeGattCharacteristic *chr)
{
  return fake_characteristic_has_flag (chr, "indicate") && !fake_characteristic_has_flag (chr, "notify");
}

/* One notification or indication reaches d. */
static void
receive (FakeBluez *fb, FakeDevice *d, const char *path, const guint8 *data, gsize len, gboolean by_socket)
{
  FakeReceived *r;
  gsize max = d->mtu > 3 ? (gsize) d->mtu - 3 : 20;

  if (!fb->record_signals)
    return;
  r = g_new0 (FakeReceived, 1);
  r->path = g_strdup (path);
  r->value = g_bytes_new (data, MIN (len, max));
  r->by_socket = by_socket;
  g_ptr_array_add (d->received, r);
}

void
fake_bluez_sockets_signal (FakeBluez *fb, const char *path, GBytes *value)
{
  FakeGattCharacteristic *chr = active_characteristic (fb, path);
  gsize len = 0;
  const guint8 *data = g_bytes_get_data (value, &len);

  if (chr == NULL)
    return;
  /* PropertiesChanged(Value) goes to every connected subscriber, sockets or not. */
  for (guint i = 0; i < chr->subscribers->len; i++)
    {
      FakeDevice *d = fake_bluez_find_device (fb, g_ptr_array_index (chr->subscribers, i));
      if (d != NULL && d->connected)
        receive (fb, d, path, data, len, FALSE);
    }
}

static void
confirm (FakeBluez *fb, FakeGattCharacteristic *chr, FakeDevice *d)
{
  if (fb->version >= FAKE_BLUEZ_VERSION (5, 80))
    {
      FakeSock *s = find_sock (fb, chr->path, d->path, FALSE);
      guint8 one = 0x01;

      if (s != NULL && send (s->fd, &one, 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
        g_debug ("confirmation byte: %s", g_strerror (errno));
    }
  else if (fb->version < FAKE_BLUEZ_VERSION (5, 76))
    fake_bluez_confirm (fb, chr->path);
  /* 5.76–5.79 report nothing. */
}

static void
socket_message (FakeBluez *fb, FakeSock *s, const guint8 *data, gsize len)
{
  FakeGattCharacteristic *chr = active_characteristic (fb, s->chr_path);

  fb->n_socket_messages++;
  if (chr == NULL)
    return;
  if (s->write)
    return;
  for (guint i = 0; i < chr->subscribers->len; i++)
    {
      FakeDevice *d = fake_bluez_find_device (fb, g_ptr_array_index (chr->subscribers, i));

      if (d == NULL || !d->connected)
        continue;
      /* Before 5.76 every socket reaches every subscriber. */
      if (fb->version >= FAKE_BLUEZ_VERSION (5, 76) && g_strcmp0 (d->path, s->device_path) != 0)
        continue;
      receive (fb, d, chr->path, data, len, TRUE);
      if (is_indication (chr))
        confirm (fb, chr, d);
    }
}

static gboolean
sock_readable (int fd, GIOCondition cond, gpointer user_data)
{
  FakeSock *s = user_data;
  FakeBluez *fb = s->fb;
  guint8 buf[READ_MAX];

  if (cond & G_IO_IN)
    {
      for (;;)
        {
          ssize_t n = recv (fd, buf, sizeof buf, MSG_DONTWAIT);

          if (n < 0)
            break;
          if (n == 0)
            {
              struct pollfd p = { .fd = fd, .events = POLLIN };
              if (poll (&p, 1, 0) == 1 && (p.revents & POLLHUP))
                {
                  cond |= G_IO_HUP;
                  break;
                }
              /* bluetoothd stops reading a socket that gave it 0 bytes. */
              fb->n_empty_messages++;
              s->dead = TRUE;
              s->watch = 0;
              return G_SOURCE_REMOVE;
            }
          socket_message (fb, s, buf, (gsize) n);
        }
    }
  if (cond & (G_IO_HUP | G_IO_ERR))
    {
      s->watch = 0;
      close_sock (fb, s);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static FakeSock *
add_sock (FakeBluez *fb, const char *chr_path, const char *device_path, int fd, gboolean write)
{
  FakeSock *s = g_new0 (FakeSock, 1);

  s->fb = fb;
  s->chr_path = g_strdup (chr_path);
  s->device_path = g_strdup (device_path);
  s->fd = fd;
  s->write = write;
  if (!write)
    s->watch = g_unix_fd_add (fd, G_IO_IN | G_IO_HUP | G_IO_ERR, sock_readable, s);
  g_ptr_array_add (fb->socks, s);
  return s;
}

static GVariant *
acquire_options (FakeBluez *fb, const char *device_path)
{
  FakeDevice *d = fake_bluez_find_device (fb, device_path);
  GVariantBuilder b;

  g_variant_builder_init (&b, G_VARIANT_TYPE_VARDICT);
  g_variant_builder_add (&b, "{sv}", "device", g_variant_new_object_path (device_path));
  g_variant_builder_add (&b, "{sv}", "link", g_variant_new_string ("LE"));
  g_variant_builder_add (&b, "{sv}", "mtu", g_variant_new_uint16 (d != NULL ? d->mtu : 23));
  return g_variant_builder_end (&b);
}

/* The fd of a reply (hq), or -1. */
static int
reply_fd (GVariant *reply, GUnixFDList *fds)
{
  gint32 handle = -1;
  guint16 mtu = 0;

  if (reply == NULL || fds == NULL)
    return -1;
  g_variant_get (reply, "(hq)", &handle, &mtu);
  return g_unix_fd_list_get (fds, handle, NULL);
}

typedef struct {
  FakeBluez *fb;
  char *chr_path;
  char *device_path;
  GCancellable *cancellable;
} AcquireOp;

static void
acquire_op_free (AcquireOp *op)
{
  g_free (op->chr_path);
  g_free (op->device_path);
  g_object_unref (op->cancellable);
  g_free (op);
}

static void
acquire_notify_done (GObject *source, GAsyncResult *res, gpointer user_data)
{
  AcquireOp *op = user_data;
  g_autoptr (GError) error = NULL;
  g_autoptr (GUnixFDList) fds = NULL;
  g_autoptr (GVariant) reply = g_dbus_connection_call_with_unix_fd_list_finish (G_DBUS_CONNECTION (source), &fds, res,
                                                                                &error);
  FakeBluez *fb = op->fb;
  FakeGattCharacteristic *chr;
  int fd;

  if (g_cancellable_is_cancelled (op->cancellable))
    goto out;
  fb->n_acquires_pending--;
  chr = active_characteristic (fb, op->chr_path);
  fd = reply_fd (reply, fds);
  if (fd < 0)
    {
      g_autofree char *name = error ? g_dbus_error_get_remote_error (error) : NULL;

      g_debug ("AcquireNotify: %s", error ? error->message : "no fd");
      /* Any error but Failed or NoReply: StartNotify instead. */
      if (chr != NULL && g_strcmp0 (name, ERROR_FAILED) != 0 && g_strcmp0 (name, "org.bluez.Error.NoReply") != 0)
        fake_bluez_start_notify (fb, op->chr_path);
      goto out;
    }
  if (chr == NULL || !is_subscriber (chr, op->device_path))
    {
      close (fd); /* unsubscribed meanwhile */
      goto out;
    }
  add_sock (fb, op->chr_path, op->device_path, fd, FALSE);
out:
  acquire_op_free (op);
}

static void
acquire_notify (FakeBluez *fb, FakeApplication *app, FakeGattCharacteristic *chr, const char *device_path)
{
  AcquireOp *op = g_new0 (AcquireOp, 1);

  op->fb = fb;
  op->chr_path = g_strdup (chr->path);
  op->device_path = g_strdup (device_path);
  op->cancellable = g_object_ref (fb->cancellable);
  fb->n_acquires_pending++;
  fake_bluez_record_call (fb, "AcquireNotify", chr->path, FALSE);
  g_dbus_connection_call_with_unix_fd_list (fb->conn, app->sender, chr->path, IFACE_CHRC, "AcquireNotify",
                                            g_variant_new ("(@a{sv})", acquire_options (fb, device_path)),
                                            G_VARIANT_TYPE ("(hq)"), G_DBUS_CALL_FLAGS_NO_AUTO_START,
                                            FAKE_BLUEZ_CALL_TIMEOUT_MS, NULL, op->cancellable, acquire_notify_done, op);
}

gboolean
fake_bluez_acquires_pending (FakeBluez *fb)
{
  return fb->n_acquires_pending > 0;
}

void
fake_bluez_sockets_subscribe (FakeBluez *fb, FakeApplication *app, FakeGattCharacteristic *chr, const char *device_path,
                              gboolean on)
{
  if (on)
    {
      /* Called from the CCCD write handler: 5.66–5.68 only while no socket
       * is open for the characteristic, 5.69+ for each connection. */
      if (fb->version < FAKE_BLUEZ_VERSION (5, 69) ? find_sock (fb, chr->path, NULL, FALSE) == NULL :
                                                     find_sock (fb, chr->path, device_path, FALSE) == NULL)
        acquire_notify (fb, app, chr, device_path);
      return;
    }
  if (fb->version < FAKE_BLUEZ_VERSION (5, 69))
    {
      if (chr->subscribers->len == 0)
        close_sock (fb, find_sock (fb, chr->path, NULL, FALSE));
    }
  else
    close_sock (fb, find_sock (fb, chr->path, device_path, FALSE));
}

void
fake_bluez_sockets_disconnect (FakeBluez *fb, FakeGattCharacteristic *chr, const char *device_path,
                               const char *first_subscriber, gboolean bonded)
{
  /* 5.69+: the central's sockets close with its connection. */
  if (fb->version >= FAKE_BLUEZ_VERSION (5, 69))
    {
      FakeSock *own = find_sock (fb, chr->path, device_path, FALSE);

      /* bluez#1452: a non-bonded subscriber's disconnect closes the first
       * subscriber's socket, which stays subscribed. */
      if (own != NULL && !bonded && first_subscriber != NULL && g_strcmp0 (first_subscriber, device_path) != 0)
        close_sock (fb, find_sock (fb, chr->path, first_subscriber, FALSE));
      close_sock (fb, own);
      close_sock (fb, find_sock (fb, chr->path, device_path, TRUE));
    }
  else if (chr->subscribers->len == 0)
    close_sock (fb, find_sock (fb, chr->path, NULL, FALSE));
}

gboolean
fake_bluez_sockets_write (FakeBluez *fb, FakeApplication *app, FakeGattCharacteristic *chr, const char *device_path,
                          const void *data, gsize len, GError **error)
{
  FakeSock *s = find_sock (fb, chr->path, fb->version < FAKE_BLUEZ_VERSION (5, 69) ? NULL : device_path, TRUE);

  if (chr->write_wedged)
    return TRUE; /* acknowledged, and lost */
  if (s == NULL)
    {
      g_autoptr (GUnixFDList) fds = NULL;
      g_autoptr (GVariant) reply = NULL;
      g_autoptr (GError) local = NULL;
      int fd;

      fake_bluez_record_call (fb, "AcquireWrite", chr->path, FALSE);
      reply = g_dbus_connection_call_with_unix_fd_list_sync (
        fb->conn, app->sender, chr->path, IFACE_CHRC, "AcquireWrite",
        g_variant_new ("(@a{sv})", acquire_options (fb, device_path)), G_VARIANT_TYPE ("(hq)"),
        G_DBUS_CALL_FLAGS_NO_AUTO_START, FAKE_BLUEZ_CALL_TIMEOUT_MS, NULL, &fds, NULL, &local);
      fd = reply_fd (reply, fds);
      if (fd < 0)
        {
          if (fb->version < FAKE_BLUEZ_VERSION (5, 76))
            {
              /* An error reply wedges the characteristic for good. */
              chr->write_wedged = TRUE;
              return TRUE;
            }
          return FALSE; /* the caller falls back to WriteValue */
        }
      s = add_sock (fb, chr->path, device_path, fd, TRUE);
    }
  if (send (s->fd, data, len, MSG_NOSIGNAL) < 0)
    {
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "write socket: %s", g_strerror (errno));
      close_sock (fb, s);
      return FALSE;
    }
  fb->n_socket_messages++;
  return TRUE;
}
