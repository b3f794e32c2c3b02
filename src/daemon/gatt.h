/* The GATT application: our services, characteristics and descriptors
 * exported as org.bluez.Gatt*1 objects under one ObjectManager, and the
 * D-Bus way out for values (one PropertiesChanged per notification). */
#pragma once

#include <gio/gio.h>

#include "daemon/buscall.h"
#include "daemon/peripheral.h"

G_BEGIN_DECLS

#define BP_APP_PATH "/org/bleperipheral/app"

typedef struct _BpGatt BpGatt;

/* Exports the database of p on conn. With conn NULL, builds the objects
 * without exporting them: calls reach them through bp_gatt_handle_call(). */
BpGatt *bp_gatt_new (GDBusConnection *conn, BpPeripheral *p, GError **error);
void bp_gatt_free (BpGatt *gatt);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BpGatt, bp_gatt_free)

/* A method call on the object at the call's path, as if it came over the
 * bus: the caller check, the argument check, then the handler; the call is
 * answered (or dropped when it expects no reply), now or later. */
void bp_gatt_handle_call (BpGatt *gatt, BpBusCall *call);

/* Unexports every object and exports p's current database (after a reload). */
gboolean bp_gatt_rebuild (BpGatt *gatt, GError **error);

/* TRUE while more signals than the bound wait in GDBus to be written to the
 * bus; BP_EVENT_DRAINED on the peripheral says when they went below it. */
gboolean bp_gatt_congested (BpGatt *gatt);

/* One PropertiesChanged(Value) signal for chr, sent now. */
gboolean bp_gatt_emit_value (BpGatt *gatt, BpCharacteristic *chr, GBytes *value, GError **error);

/* The notify of the peripheral's backend: every subscriber (to_address NULL),
 * or one central, by the acquired sockets or PropertiesChanged (fastpath.h). */
gboolean bp_gatt_notify (BpGatt *gatt, BpCharacteristic *chr, GBytes *value, const char *to_address, GError **error);

/* The acquired-socket path of this application. */
typedef struct _BpFastPath BpFastPath;
BpFastPath *bp_gatt_get_fastpath (BpGatt *gatt);

/* The D-Bus error name and message that make bluetoothd answer a central
 * with ATT code att (BlueZ's mapping); codes it cannot carry become 0x0e. */
void bp_att_error_to_dbus (guint8 att, gboolean is_write, const char **name, char **message);

/* "dev_00_AA_01_01_00_01" at the end of a Device1 path → "00:AA:01:01:00:01"; NULL if not a device path. */
char *bp_device_path_to_address (const char *path);

G_END_DECLS
