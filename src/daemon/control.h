/* The control socket: the Unix stream socket producers talk to
 * (SPEC §5, docs/protocol.md). A thin layer over the peripheral's API. */
#pragma once

#include <glib.h>

#include "daemon/peripheral.h"

G_BEGIN_DECLS

/* Bound of a connection's unsent output; past it the connection is closed. */
#define BP_CONTROL_OUTPUT_MAX (1024 * 1024)

typedef struct _BpControl BpControl;

/* listen_fd >= 0: a listening socket passed by systemd (sd_listen_fds),
 * used as is (path, mode and group are then ignored). Else binds path with
 * mode and, when group is not NULL, that group. Creates the parent directory
 * if missing. A stale socket file (nobody answers on it) is replaced; one a
 * live daemon answers on is not: "PATH: another ble-peripheral is answering
 * on this socket". */
BpControl *bp_control_new (BpPeripheral *p, const char *path, guint mode, const char *group, int listen_fd,
                           GError **error);
/* Closes every connection and removes the socket file it created. */
void bp_control_free (BpControl *control);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BpControl, bp_control_free)

/* Connections open now. */
guint bp_control_n_clients (BpControl *control);

G_END_DECLS
