/* bluetoothd: its presence, the adapter, the connected centrals, and the
 * registration of our application and advertisement, kept up through
 * bluetoothd restarts, adapters that come and go, and reloads. */
#pragma once

#include <gio/gio.h>

#include "daemon/advertising.h"
#include "daemon/gatt.h"
#include "daemon/peripheral.h"

G_BEGIN_DECLS

typedef struct _BpBluez BpBluez;

/* Called whenever what the status line says may have changed. */
typedef void (*BpBluezStatusFunc) (BpBluez *bluez, gpointer user_data);

/* adapter: --adapter, which wins over [Peripheral] Adapter; NULL for none. */
BpBluez *bp_bluez_new (GDBusConnection *conn, BpPeripheral *p, BpGatt *gatt, BpAdvertisement *adv, const char *adapter);
void bp_bluez_free (BpBluez *bluez);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BpBluez, bp_bluez_free)

void bp_bluez_set_status_func (BpBluez *bluez, BpBluezStatusFunc func, gpointer user_data);

/* The peripheral was reconfigured: unregister, export the new database,
 * register again. */
void bp_bluez_reload (BpBluez *bluez);

/* Unregisters the advertisement and the application; done runs when
 * bluetoothd answered both, or after a bounded wait. */
void bp_bluez_shutdown (BpBluez *bluez, GSourceFunc done, gpointer user_data);

/* One line for systemd's STATUS=: "advertising as NAME, 1 central connected",
 * "waiting for bluetoothd", "adapter hci0 missing", … */
char *bp_bluez_status_text (BpBluez *bluez);

G_END_DECLS
