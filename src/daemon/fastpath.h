/* The acquired-socket path (AcquireSockets=auto): bluetoothd's AcquireNotify
 * and AcquireWrite, answered with one end of a SEQPACKET socket pair, so
 * that a value costs a write(2) instead of a D-Bus signal through
 * dbus-daemon, and a central's write-without-response a read(2) instead of a
 * method call.
 *
 * What a socket does depends on the BlueZ version (/work/shared/BLUEZ.md,
 * "Acquired fds"): one socket per characteristic that reaches every
 * subscriber (5.66–5.68), one per (characteristic, connection) that still
 * reaches every subscriber (5.69–5.75), one per central that reaches that
 * central only (5.76+); and bluetoothd may close a central's socket or never
 * give one while the central stays subscribed. The rule kept for every
 * value (bp_fastpath_notify):
 *
 *  - PropertiesChanged(Value) reaches every subscriber of the characteristic,
 *    so it is used for the whole characteristic, alone, whenever the sockets
 *    cannot be proven to reach each subscriber exactly once: no socket; a
 *    connected central that may be subscribed without a socket (bonded, or
 *    its socket closed while it stayed connected); two or more sockets while
 *    bluetoothd is not known to be 5.76 or later; an empty value (a 0-byte
 *    message would stop bluetoothd reading the socket).
 *  - Otherwise the value is written once to the only socket, or once to
 *    each central's socket (5.76+).
 *  - A value never goes both ways, and values keep their order when the way
 *    changes: a switch from sockets to the bus waits until bluetoothd has
 *    read every socket empty; a switch from the bus to sockets waits for a
 *    round trip with bluetoothd (Peer.Ping), which it answers after the
 *    signals sent before it.
 *
 * Writes read from an AcquireWrite socket go to bp_peripheral_write() in
 * order with the writer's address when bluetoothd's socket is known to be
 * that central's alone (5.69+ proven, or one central connected), else with
 * no address. */
#pragma once

#include <gio/gio.h>

#include "daemon/peripheral.h"

G_BEGIN_DECLS

typedef struct _BpFastPath BpFastPath;
typedef struct _BpGatt BpGatt;

BpFastPath *bp_fastpath_new (GDBusConnection *conn, BpPeripheral *p, BpGatt *gatt);
void bp_fastpath_free (BpFastPath *fp);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BpFastPath, bp_fastpath_free)

/* TRUE when chr is exported with NotifyAcquired / WriteAcquired. */
gboolean bp_fastpath_exports_notify (BpFastPath *fp, BpCharacteristic *chr);
gboolean bp_fastpath_exports_write (BpFastPath *fp, BpCharacteristic *chr);

/* bluetoothd's calls: a new socket for the central at address (NULL when
 * bluetoothd did not say); returns bluetoothd's end (to be sent and closed
 * by the caller) or -1 with error. */
int bp_fastpath_acquire_notify (BpFastPath *fp, BpCharacteristic *chr, const char *address, guint16 mtu,
                                GError **error);
int bp_fastpath_acquire_write (BpFastPath *fp, BpCharacteristic *chr, const char *address, guint16 mtu, GError **error);
/* Whether a socket is open for chr (the NotifyAcquired / WriteAcquired value). */
gboolean bp_fastpath_notify_acquired (BpFastPath *fp, BpCharacteristic *chr);
gboolean bp_fastpath_write_acquired (BpFastPath *fp, BpCharacteristic *chr);

/* The backend's notify: one value to every subscriber, or (to_address) to
 * one central, by the rule above. */
gboolean bp_fastpath_notify (BpFastPath *fp, BpCharacteristic *chr, GBytes *value, const char *to_address,
                             GError **error);
/* TRUE while values wait for a socket with room beyond the bound; the
 * peripheral gets BP_EVENT_DRAINED when they went below it. */
gboolean bp_fastpath_congested (BpFastPath *fp);

/* Every socket closes (the application is registered again). */
void bp_fastpath_reset (BpFastPath *fp);

/* --- what is known of bluetoothd ------------------------------------------ */

/* The one question of version the path asks: is bluetoothd at least
 * major.minor? TRUE only when proven, by a floor the BlueZ module learnt
 * from bluetoothd's interfaces (bp_fastpath_set_bluez_floor) or by what
 * bluetoothd did: a second notify socket for one characteristic while the
 * first is open (5.69), a confirmation byte on a notify socket (5.80). */
gboolean bp_fastpath_bluez_at_least (BpFastPath *fp, guint major, guint minor);
/* What the interfaces prove, e.g. 5.79 from Adapter1.Connectable. */
void bp_fastpath_set_bluez_floor (BpFastPath *fp, guint major, guint minor);
/* Device1.Bonded of a central: bluetoothd gives a bonded central that
 * reconnects subscribed no new socket. */
void bp_fastpath_set_bonded (BpFastPath *fp, const char *address, gboolean bonded);

G_END_DECLS
