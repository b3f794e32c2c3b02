/* LE L2CAP connection-oriented channel sockets: what the channel server
 * (channel.c) needs of the kernel, behind a table of two calls so that tests
 * can stand a socketpair in for an L2CAP socket (no AF_BLUETOOTH on a build
 * host, nor in a container's network namespace). */
#pragma once

#include <glib.h>

#include "daemon/config.h"

G_BEGIN_DECLS

typedef struct {
  /* A non-blocking listening socket for channel c on the adapter whose
   * address is adapter_address ("00:AA:01:00:00:23"); *psm is the PSM it
   * listens on (the kernel's pick when c->psm is 0). -1 with error. */
  int (*listen) (const BpChannelConfig *c, const char *adapter_address, guint *psm, GError **error);
  /* Takes one pending central from listen_fd: its non-blocking socket, its
   * address (to free) and the largest SDU it accepts (its MTU). -1 with
   * G_IO_ERROR_WOULD_BLOCK when none waits, or another error. */
  int (*accept) (int listen_fd, char **address, guint *send_mtu, GError **error);
} BpL2capOps;

/* The kernel's AF_BLUETOOTH sockets. */
extern const BpL2capOps bp_l2cap_kernel;

/* "00:AA:01:00:00:23" ↔ the kernel's bdaddr_t (least significant byte first). */
gboolean bp_l2cap_address_to_bdaddr (const char *text, guint8 out[6]);
char *bp_l2cap_bdaddr_to_address (const guint8 b[6]);

G_END_DECLS
