/* libble-peripheral: the producer sockets of the L2CAP channels
 * (docs/protocol.md, "Channels"). */
#include "build-config.h"

#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

#include "ble-peripheral/client.h"

/* "00:AA:01:00:00:23\n" */
#define ADDRESS_HEADER 18

int
bp_client_channel_open (const char *control_path, const char *name, int addressed)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  g_autofree char *dir = NULL;
  g_autofree char *file = NULL;
  g_autofree char *path = NULL;
  int fd, size = BP_CLIENT_CHANNEL_FRAME_MAX + ADDRESS_HEADER + 4096;

  if (name == NULL || *name == '\0' || strchr (name, '/') != NULL)
    {
      errno = EINVAL;
      return -1;
    }
  if (control_path == NULL)
    control_path = g_getenv (BP_CLIENT_SOCKET_ENV);
  if (control_path == NULL || *control_path == '\0')
    control_path = BP_CLIENT_DEFAULT_SOCKET;
  dir = g_path_get_dirname (control_path);
  file = g_strconcat (name, addressed ? ".addr" : "", NULL);
  path = g_build_filename (dir, "channel", file, NULL);
  if (strlen (path) >= sizeof addr.sun_path)
    {
      errno = ENAMETOOLONG;
      return -1;
    }
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  /* A message must fit the send buffer whole; the kernel caps this at
   * net.core.wmem_max (about 200 KB by default) for an unprivileged caller. */
  (void) setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
  (void) setsockopt (fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      int saved = errno;
      close (fd);
      errno = saved;
      return -1;
    }
  return fd;
}

int
bp_client_channel_send (int fd, int addressed, const char *address, const void *frame, size_t len)
{
  char header[ADDRESS_HEADER + 1];
  struct iovec iov[2] = { { header, 0 }, { (void *) frame, len } };
  struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
  ssize_t n;

  if (!addressed && address != NULL)
    {
      errno = EINVAL;
      return -1;
    }
  if (addressed)
    {
      if (address == NULL)
        iov[0].iov_len = (size_t) g_snprintf (header, sizeof header, "*\n");
      else if (strlen (address) == 17)
        iov[0].iov_len = (size_t) g_snprintf (header, sizeof header, "%s\n", address);
      else
        {
          errno = EINVAL;
          return -1;
        }
    }
  do
    n = sendmsg (fd, &msg, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n < 0 ? -1 : 0;
}

long
bp_client_channel_receive (int fd, int addressed, char *address, void *buf, size_t size)
{
  char header[ADDRESS_HEADER];
  struct iovec iov[2] = { { header, addressed ? ADDRESS_HEADER : 0 }, { buf, size } };
  struct msghdr msg = { .msg_iov = iov, .msg_iovlen = 2 };
  ssize_t n;

  do
    n = recvmsg (fd, &msg, 0);
  while (n < 0 && errno == EINTR);
  if (n < 0)
    return -1;
  if (n == 0)
    {
      errno = ECONNRESET;
      return -1;
    }
  if (msg.msg_flags & MSG_TRUNC)
    {
      errno = EMSGSIZE;
      return -1;
    }
  if (addressed)
    {
      if (n < ADDRESS_HEADER || header[17] != '\n')
        {
          errno = EPROTO;
          return -1;
        }
      if (address != NULL)
        {
          memcpy (address, header, 17);
          address[17] = '\0';
        }
      n -= ADDRESS_HEADER;
    }
  return (long) n;
}
