/* The channel server: LE L2CAP connection-oriented channels ([Channel NAME])
 * that centrals open to stream frames both ways beside GATT, and the
 * producer-facing SOCK_SEQPACKET sockets that feed them
 * ($RUNTIME_DIRECTORY/channel/NAME and NAME.addr, docs/protocol.md).
 *
 * It listens on the daemon's adapter while there is one, publishes each
 * PSM in its characteristic, accepts up to MaxCentrals per channel, frames
 * what producers send (Framing=length or sdu), queues at most QueueLength
 * frames per central (OnFull=drop-oldest drops and counts, wait holds the
 * producers back), follows the kernel's credits (EAGAIN, then G_IO_OUT) and
 * delivers the centrals' frames to the producers. Nothing here blocks the
 * main loop. Events (BP_EVENT_CHANNEL_*) go out through the peripheral. */
#pragma once

#include <glib.h>

#include "daemon/l2cap.h"
#include "daemon/peripheral.h"

G_BEGIN_DECLS

/* The largest frame a producer or a central may send through a channel. */
#define BP_CHANNEL_FRAME_MAX (1024 * 1024)
/* "00:AA:01:00:00:23\n": the address header of the NAME.addr sockets. */
#define BP_CHANNEL_ADDRESS_HEADER 18

typedef struct _BpChannels BpChannels;

/* dir: where the producer sockets go (created when missing), mode and group
 * as the control socket's. ops: bp_l2cap_kernel, or a test's stand-in. */
BpChannels *bp_channels_new (BpPeripheral *p, const char *dir, guint mode, const char *group, const BpL2capOps *ops,
                             GError **error);
/* Closes every channel and producer socket (no events), removes the socket files. */
void bp_channels_free (BpChannels *channels);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BpChannels, bp_channels_free)

/* A central's channel socket, as accept() gives it: fd (non-blocking; taken
 * over, closed on failure), the central's address and the largest SDU it
 * accepts. Refused with BP_ERROR_BUSY past MaxCentrals, BP_ERROR_FAILED
 * for an unknown channel. The way the listener hands over accepted
 * centrals, and the seam through which tests pass one end of a socketpair. */
gboolean bp_channels_adopt (BpChannels *channels, const char *name, int fd, const char *address, guint send_mtu,
                            GError **error);

/* The PSM channel name listens on, 0 when it does not listen. */
guint bp_channels_get_psm (BpChannels *channels, const char *name);
/* Open channels of name (centrals), and frames dropped since its configuration last changed. */
guint bp_channels_count_open (BpChannels *channels, const char *name);
guint64 bp_channels_count_dropped (BpChannels *channels, const char *name);
/* "channel.NAME.psm=128 channel.NAME.open=1 …" words for status. */
char *bp_channels_status (BpChannels *channels);

G_END_DECLS
