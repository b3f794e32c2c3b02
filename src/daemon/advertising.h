/* The advertisement: an org.bluez.LEAdvertisement1 object built from
 * [Advertising], and its registration with LEAdvertisingManager1. */
#pragma once

#include <gio/gio.h>

#include "daemon/buscall.h"
#include "daemon/config.h"

G_BEGIN_DECLS

#define BP_ADVERTISEMENT_PATH "/org/bleperipheral/advertisement0"

typedef struct _BpAdvertisement BpAdvertisement;

/* Called when bluetoothd releases the advertisement (Timeout expired, or
 * the adapter went). */
typedef void (*BpAdvertisementReleased) (BpAdvertisement *adv, gpointer user_data);

BpAdvertisement *bp_advertisement_new (GDBusConnection *conn, const BpConfig *config, BpAdvertisementReleased released,
                                       gpointer user_data, GError **error);
/* A method call on the advertisement as if it came over the bus (caller
 * and argument checks, then Release). conn NULL in bp_advertisement_new():
 * not exported, reachable only this way. */
void bp_advertisement_handle_call (BpAdvertisement *adv, BpBusCall *call);

void bp_advertisement_free (BpAdvertisement *adv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BpAdvertisement, bp_advertisement_free)

void bp_advertisement_set_released_func (BpAdvertisement *adv, BpAdvertisementReleased released, gpointer user_data);

/* A new configuration (reload): the properties follow it. */
void bp_advertisement_set_config (BpAdvertisement *adv, const BpConfig *config);

/* The LEAdvertisement1 properties, as bluetoothd reads them. */
GVariant *bp_advertisement_properties (BpAdvertisement *adv);

G_END_DECLS
