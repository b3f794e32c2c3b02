/* LE L2CAP sockets: the kernel's ABI, defined here rather than taken from
 * BlueZ's bluetooth/bluetooth.h and l2cap.h (libbluetooth-dev), so that building needs no
 * Bluetooth package and the daemon links no libbluetooth for five numbers and
 * one struct. AF_BLUETOOTH and SOL_BLUETOOTH come with glibc's
 * <sys/socket.h>; the rest is the kernel's stable user ABI, as
 * include/net/bluetooth/bluetooth.h and l2cap.h define it:
 *
 *   BTPROTO_L2CAP 0, BT_SECURITY 4 (struct bt_security { u8 level; u8 key_size; }),
 *   BT_SECURITY_LOW/MEDIUM/HIGH 1/2/3, BT_SNDMTU 12, BT_RCVMTU 13,
 *   BDADDR_LE_PUBLIC 1,
 *   struct sockaddr_l2 { sa_family_t l2_family; __le16 l2_psm; bdaddr_t l2_bdaddr;
 *                        __le16 l2_cid; __u8 l2_bdaddr_type; }   (bdaddr_t: 6 bytes, packed)
 *
 * Binding with an LE address type is what selects LE credit-based mode; PSM 0
 * lets the kernel pick a free dynamic PSM (0x80–0xFF), read back with
 * getsockname(). See ../shared/L2CAP.md for the facts this relies on. */
#define G_LOG_DOMAIN "l2cap"
#define _GNU_SOURCE /* accept4 */

#include "daemon/l2cap.h"

#include <errno.h>
#include <gio/gio.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef AF_BLUETOOTH
#define AF_BLUETOOTH 31
#endif
#ifndef SOL_BLUETOOTH
#define SOL_BLUETOOTH 274
#endif
#define BP_BTPROTO_L2CAP 0
#define BP_BT_SECURITY 4
#define BP_BT_SNDMTU 12
#define BP_BT_RCVMTU 13
#define BP_BDADDR_LE_PUBLIC 0x01

struct bp_bt_security {
  guint8 level;
  guint8 key_size;
};

struct bp_sockaddr_l2 {
  sa_family_t l2_family;
  guint16 l2_psm; /* little-endian */
  guint8 l2_bdaddr[6];
  guint16 l2_cid; /* little-endian */
  guint8 l2_bdaddr_type;
};

/* The kernel's layout, checked at build time. */
G_STATIC_ASSERT (offsetof (struct bp_sockaddr_l2, l2_psm) == 2);
G_STATIC_ASSERT (offsetof (struct bp_sockaddr_l2, l2_bdaddr) == 4);
G_STATIC_ASSERT (offsetof (struct bp_sockaddr_l2, l2_cid) == 10);
G_STATIC_ASSERT (offsetof (struct bp_sockaddr_l2, l2_bdaddr_type) == 12);
G_STATIC_ASSERT (sizeof (struct bp_sockaddr_l2) == 14);
G_STATIC_ASSERT (sizeof (struct bp_bt_security) == 2);

gboolean
bp_l2cap_address_to_bdaddr (const char *text, guint8 out[6])
{
  if (text == NULL || strlen (text) != 17)
    return FALSE;
  for (int i = 0; i < 6; i++)
    {
      const char *p = text + 3 * i;
      int hi = g_ascii_xdigit_value (p[0]), lo = g_ascii_xdigit_value (p[1]);

      if (hi < 0 || lo < 0 || (i < 5 && p[2] != ':'))
        return FALSE;
      out[5 - i] = (guint8) (hi << 4 | lo);
    }
  return TRUE;
}

char *
bp_l2cap_bdaddr_to_address (const guint8 b[6])
{
  return g_strdup_printf ("%02X:%02X:%02X:%02X:%02X:%02X", b[5], b[4], b[3], b[2], b[1], b[0]);
}

static int
fail_errno (GError **error, int fd, const char *what)
{
  int saved = errno;

  g_set_error (
    error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s%s", what, g_strerror (saved),
    saved == EAFNOSUPPORT ? " (AF_BLUETOOTH needs the host's network namespace and a kernel with Bluetooth)" : "");
  if (fd >= 0)
    close (fd);
  return -1;
}

static int
kernel_listen (const BpChannelConfig *c, const char *adapter_address, guint *psm, GError **error)
{
  struct bp_sockaddr_l2 addr = { 0 };
  struct bp_bt_security sec = { .level = (guint8) c->security };
  socklen_t len = sizeof addr;
  guint16 mtu = (guint16) c->mtu;
  int fd;

  if (!bp_l2cap_address_to_bdaddr (adapter_address, addr.l2_bdaddr))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT, "the adapter's address '%s' is not one",
                   adapter_address ? adapter_address : "(unknown)");
      return -1;
    }
  fd = socket (AF_BLUETOOTH, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, BP_BTPROTO_L2CAP);
  if (fd < 0)
    return fail_errno (error, -1, "socket(AF_BLUETOOTH, L2CAP)");
  addr.l2_family = AF_BLUETOOTH;
  addr.l2_psm = GUINT16_TO_LE ((guint16) c->psm);
  addr.l2_bdaddr_type = BP_BDADDR_LE_PUBLIC;
  if (bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    return fail_errno (error, fd, c->psm ? "bind to the fixed PSM" : "bind");
  if (setsockopt (fd, SOL_BLUETOOTH, BP_BT_SECURITY, &sec, sizeof sec) < 0)
    return fail_errno (error, fd, "setsockopt(BT_SECURITY)");
  if (setsockopt (fd, SOL_BLUETOOTH, BP_BT_RCVMTU, &mtu, sizeof mtu) < 0)
    return fail_errno (error, fd, "setsockopt(BT_RCVMTU)");
  if (listen (fd, 8) < 0)
    return fail_errno (error, fd, "listen");
  memset (&addr, 0, sizeof addr);
  if (getsockname (fd, (struct sockaddr *) &addr, &len) < 0)
    return fail_errno (error, fd, "getsockname");
  *psm = GUINT16_FROM_LE (addr.l2_psm);
  return fd;
}

static int
kernel_accept (int listen_fd, char **address, guint *send_mtu, GError **error)
{
  struct bp_sockaddr_l2 peer = { 0 };
  socklen_t len = sizeof peer;
  guint16 mtu = 0;
  socklen_t mlen = sizeof mtu;
  int fd = accept4 (listen_fd, (struct sockaddr *) &peer, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);

  if (fd < 0)
    return fail_errno (error, -1, "accept");
  if (getsockopt (fd, SOL_BLUETOOTH, BP_BT_SNDMTU, &mtu, &mlen) < 0 || mtu == 0)
    return fail_errno (error, fd, "getsockopt(BT_SNDMTU)");
  /* A non-blocking send() needs room for every PDU of its SDU at once (the
   * kernel segments it up front, about 1 KB of buffer per PDU), else it fails
   * with EAGAIN however many credits there are. Ask for room for a 64 KB SDU;
   * the kernel caps this at net.core.wmem_max (times two). */
  {
    int sndbuf = 1024 * 1024;
    (void) setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
  }
  *address = bp_l2cap_bdaddr_to_address (peer.l2_bdaddr);
  *send_mtu = mtu;
  return fd;
}

const BpL2capOps bp_l2cap_kernel = {
  .listen = kernel_listen,
  .accept = kernel_accept,
};
