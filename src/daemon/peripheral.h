/* The peripheral: the characteristics' values, capture queues, delegated
 * reads, counters and connected centrals, and the events producers hear.
 * It is the daemon's internal API: the control socket is a thin layer over
 * it, the GATT objects call into it, and the way values leave for the
 * centrals is a BpBackend (D-Bus PropertiesChanged today, an AcquireNotify fd
 * later). Everything runs on the main loop. */
#pragma once

#include <glib.h>

#include "daemon/capabilities.h"
#include "daemon/config.h"

G_BEGIN_DECLS

typedef struct _BpPeripheral BpPeripheral;
typedef struct _BpCharacteristic BpCharacteristic;

/* ATT error codes the daemon produces itself. */
#define BP_ATT_READ_NOT_PERMITTED 0x02
#define BP_ATT_WRITE_NOT_PERMITTED 0x03
#define BP_ATT_INSUFFICIENT_AUTHORIZATION 0x08
#define BP_ATT_INVALID_OFFSET 0x07
#define BP_ATT_INVALID_VALUE_LENGTH 0x0d
#define BP_ATT_UNLIKELY 0x0e

typedef struct {
  char *address; /* "00:AA:01:01:00:01", or NULL when unknown */
  GBytes *data;
  guint offset;
} BpCapturedWrite;

void bp_captured_write_free (BpCapturedWrite *w);

struct _BpCharacteristic {
  BpCharacteristicConfig *config; /* owned by the peripheral's BpConfig */
  const char *id;                 /* config->id */
  GByteArray *value;              /* the stored value */
  GQueue capture;                 /* of BpCapturedWrite*, oldest first, at most config->queue_length */
  guint64 dropped_unreported;     /* dropped since the last "event dropped" */
  gpointer server;                /* the connection answering reads (ReadHandler=socket), or NULL */
  gint64 last_read_us;            /* monotonic time of the last read served, for MinReadInterval */
  gboolean notifying;             /* StartNotify seen and no StopNotify since */
  gboolean mtu_warned;            /* the "longer than MTU-3" warning was given */
  /* counters, for status */
  guint64 n_notify, n_set, n_reads, n_writes, n_captured, n_dropped, n_confirm, n_rejected;
};

typedef enum {
  BP_EVENT_CONNECT,     /* address */
  BP_EVENT_DISCONNECT,  /* address */
  BP_EVENT_SUBSCRIBE,   /* characteristic (address unknown before BlueZ 5.76: NULL) */
  BP_EVENT_UNSUBSCRIBE, /* characteristic */
  BP_EVENT_WRITE,       /* characteristic, address, data, offset; for Capture
                              characteristics the write is in the queue and
                              `captured` is TRUE: take it with
                              bp_characteristic_capture_drain() */
  BP_EVENT_CONFIRM,     /* characteristic, address (may be NULL) */
  BP_EVENT_DROPPED,     /* characteristic, count */
  BP_EVENT_ADVERTISING, /* on = started/stopped, reason ("timeout") or NULL */
  BP_EVENT_ADAPTER,     /* address, on = up/down */
  BP_EVENT_RELOADED,    /* the database was replaced (SIGHUP) */
  BP_EVENT_DRAINED,     /* the way out has room again after bp_peripheral_congested() */
  /* pairing (the agent, the BlueZ module) */
  BP_EVENT_PAIRING,        /* address, reason "passkey"|"confirm"|"authorize"; on: count holds the passkey */
  BP_EVENT_PAIRED,         /* address: a central of the adapter bonded */
  BP_EVENT_PAIRING_FAILED, /* address, reason */
} BpEventType;

typedef struct {
  BpEventType type;
  BpCharacteristic *characteristic;
  const char *address;
  const guint8 *data;
  gsize len;
  guint offset;
  gboolean captured;
  guint64 count;
  gboolean on;
  const char *reason;
  guint16 mtu; /* subscribe: the central's ATT MTU when bluetoothd said, else 0 */
} BpEvent;

typedef void (*BpEventFunc) (const BpEvent *event, gpointer user_data);

/* How values and commands leave the daemon. */
typedef struct {
  /* Send value to every subscriber of chr (or to one central when
   * to_address is not NULL). One call = one notification, in call order. */
  gboolean (*notify) (gpointer backend, BpCharacteristic *chr, GBytes *value, const char *to_address, GError **error);
  gboolean (*set_advertising) (gpointer backend, gboolean on, GError **error);
  gboolean (*disconnect) (gpointer backend, const char *address, GError **error);
  /* TRUE while values sent wait in the way out beyond its bound; the
   * backend emits BP_EVENT_DRAINED when there is room again. Optional. */
  gboolean (*congested) (gpointer backend);
  /* Remove the bond of a central of the adapter (Adapter1.RemoveDevice);
   * BP_ERROR_UNKNOWN_BOND when there is none. Optional. */
  gboolean (*forget) (gpointer backend, const char *address, GError **error);
} BpBackend;

/* The pairing agent, as the control socket drives it. */
typedef struct {
  /* Open the pairing window for duration_us (0: the configured
   * PairingWindow, or until closed when that is 0), or close it. */
  gboolean (*set_window) (gpointer agent, gboolean open, guint64 duration_us, GError **error);
  /* Answer the request waiting for address; BP_ERROR_NOT_PENDING when none is. */
  gboolean (*answer) (gpointer agent, const char *address, gboolean accept, GError **error);
} BpPairingClass;

/* A producer that answers reads (serve CHAR). */
typedef struct {
  /* Ask the server for read `id` of chr; it answers with bp_peripheral_reply(). */
  void (*read_request) (gpointer server, guint64 id, BpCharacteristic *chr, const char *address, guint offset);
} BpReadServerClass;

/* Completes a read: value (from which the caller serves its offset) or, when
 * value is NULL, the ATT error code att_error. */
typedef void (*BpReadDoneFunc) (GBytes *value, guint8 att_error, gpointer user_data);

BpPeripheral *bp_peripheral_new (BpConfig *config /* owned */);
void bp_peripheral_free (BpPeripheral *p);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BpPeripheral, bp_peripheral_free)

const BpConfig *bp_peripheral_get_config (BpPeripheral *p);
void bp_peripheral_set_backend (BpPeripheral *p, const BpBackend *klass, gpointer backend);

/* Replaces the database (SIGHUP): characteristics whose ID stays keep their
 * value, queue, server and counters; others start from Initial=. Emits
 * BP_EVENT_RELOADED. Takes ownership of config. */
void bp_peripheral_reconfigure (BpPeripheral *p, BpConfig *config);

/* Characteristics, in configuration order. */
GPtrArray *bp_peripheral_get_characteristics (BpPeripheral *p);
/* "service/char", or a bare "char" when unambiguous; NULL with
 * BP_ERROR_UNKNOWN_CHARACTERISTIC or BP_ERROR_AMBIGUOUS. */
BpCharacteristic *bp_peripheral_lookup (BpPeripheral *p, const char *name, GError **error);

guint bp_peripheral_add_listener (BpPeripheral *p, BpEventFunc func, gpointer user_data);
void bp_peripheral_remove_listener (BpPeripheral *p, guint id);
void bp_peripheral_emit (BpPeripheral *p, const BpEvent *event);

/* --- producer side --------------------------------------------------- */

/* TRUE while notifications wait to leave beyond the backend's bound:
 * producers should be read no further until BP_EVENT_DRAINED. Memory stays
 * bounded under a flood, and nothing accepted is dropped. */
gboolean bp_peripheral_congested (BpPeripheral *p);

/* Store; values over BP_VALUE_MAX get BP_ERROR_TOO_LONG. */
gboolean bp_peripheral_set (BpPeripheral *p, BpCharacteristic *chr, GBytes *value, GError **error);
/* Store and notify/indicate (through the backend). Refused with
 * BP_ERROR_NOT_PERMITTED when chr has neither notify nor indicate. */
gboolean bp_peripheral_notify (BpPeripheral *p, BpCharacteristic *chr, GBytes *value, const char *to_address,
                               GError **error);
GBytes *bp_peripheral_get (BpPeripheral *p, BpCharacteristic *chr);
/* The value, which is then emptied (Append buffers). */
GBytes *bp_peripheral_take (BpPeripheral *p, BpCharacteristic *chr);

/* Moves every queued captured write into out (oldest first) and returns the
 * number dropped since the last drain (then reset). */
guint64 bp_characteristic_capture_drain (BpCharacteristic *chr, GQueue *out);
/* Puts writes that never reached a producer back at the front, in order. */
void bp_characteristic_capture_requeue (BpCharacteristic *chr, GQueue *writes);

/* ReadHandler=socket: server answers reads of chr from now on. Fails with
 * BP_ERROR_BUSY when another server has it, BP_ERROR_NOT_PERMITTED when the
 * characteristic is not ReadHandler=socket. */
gboolean bp_peripheral_serve (BpPeripheral *p, BpCharacteristic *chr, const BpReadServerClass *klass, gpointer server,
                              GError **error);
/* The server is gone: its characteristics and its pending reads fall back
 * to the stored value. */
void bp_peripheral_unserve_all (BpPeripheral *p, gpointer server);
/* Answer read `id`: value, or (value NULL) att_error, which must be 0x01–0x0F
 * or 0x80–0x9F. BP_ERROR_UNKNOWN_READ for an unknown or timed-out ID, or one
 * that server does not own. */
gboolean bp_peripheral_reply (BpPeripheral *p, gpointer server, guint64 id, GBytes *value, guint8 att_error,
                              GError **error);

/* --- central side (called by the GATT objects) ------------------------ */

/* A read from a central: applies MinReadInterval (0x02), asks the serving
 * producer when ReadHandler=socket and offset is 0 (its answer becomes the
 * stored value; blob reads at offset > 0 continue from it), else serves the
 * stored value. done is called once, maybe before this returns. */
void bp_peripheral_read (BpPeripheral *p, BpCharacteristic *chr, const char *address, guint offset, BpReadDoneFunc done,
                         gpointer user_data);
/* A write from a central: offset and MaxLength checks (0x07, 0x0d), Append,
 * Capture (queued, oldest dropped past QueueLength), then BP_EVENT_WRITE.
 * Returns 0 or the ATT error code. */
guint8 bp_peripheral_write (BpPeripheral *p, BpCharacteristic *chr, const char *address, const guint8 *data, gsize len,
                            guint offset);
void bp_peripheral_subscribed (BpPeripheral *p, BpCharacteristic *chr, gboolean on);
/* A subscription bluetoothd told with the central (AcquireNotify and its
 * socket's closing): BP_EVENT_SUBSCRIBE/UNSUBSCRIBE with address (NULL when
 * unknown) and mtu; notifying is whether any central stays subscribed. */
void bp_peripheral_central_subscribed (BpPeripheral *p, BpCharacteristic *chr, const char *address, guint16 mtu,
                                       gboolean on, gboolean notifying);
void bp_peripheral_confirmed (BpPeripheral *p, BpCharacteristic *chr, const char *address);

/* --- link side (called by the BlueZ module) --------------------------- */

void bp_peripheral_central_connected (BpPeripheral *p, const char *address, guint16 mtu);
void bp_peripheral_central_disconnected (BpPeripheral *p, const char *address);
gboolean bp_peripheral_is_connected (BpPeripheral *p, const char *address);
/* Addresses of the connected centrals, in connection order. */
const GPtrArray *bp_peripheral_get_centrals (BpPeripheral *p);
/* Smallest known ATT MTU of the connected centrals, 0 when unknown. */
guint16 bp_peripheral_min_mtu (BpPeripheral *p);
void bp_peripheral_update_mtu (BpPeripheral *p, const char *address, guint16 mtu);
/* The ATT MTU last known for a connected central, 0 when unknown. */
guint16 bp_peripheral_get_mtu (BpPeripheral *p, const char *address);

/* Daemon state for status lines, maintained by the BlueZ and advertising modules. */
typedef struct {
  char *adapter; /* "hci0" or NULL */
  char *adapter_address;
  gboolean bluez_present;
  gboolean registered;         /* GATT application registered */
  gboolean advertising;        /* advertisement registered */
  gboolean advertising_wanted; /* advertise on/off */
  BpCapabilities bluez_caps;   /* what the running bluetoothd can do (capabilities.h) */
  /* pairing, kept by the agent */
  gboolean agent_registered; /* bluetoothd's default agent is ours */
  gboolean window_open;      /* new bonds are accepted */
  gint64 window_end;         /* monotonic time the window closes, 0 when it stays open */
  /* The acquired sockets (fastpath.c): values written to notify sockets,
   * values sent as PropertiesChanged while sockets were open (the
   * fallback), writes read from write sockets. */
  guint64 socket_values, socket_fallbacks, socket_writes;
} BpState;

BpState *bp_peripheral_get_state (BpPeripheral *p);
/* Commands the backend carries out. */
gboolean bp_peripheral_set_advertising (BpPeripheral *p, gboolean on, GError **error);
gboolean bp_peripheral_disconnect (BpPeripheral *p, const char *address, GError **error);

/* --- pairing and bonds ----------------------------------------------- */

void bp_peripheral_set_pairing (BpPeripheral *p, const BpPairingClass *klass, gpointer agent);
/* BP_ERROR_PAIRING_OFF with [Security] Pairing=off. */
gboolean bp_peripheral_pairing_window (BpPeripheral *p, gboolean open, guint64 duration_us, GError **error);
gboolean bp_peripheral_pairing_answer (BpPeripheral *p, const char *address, gboolean accept, GError **error);
/* The bonded centrals of the adapter (identity addresses, sorted), as the
 * BlueZ module sees them. Takes ownership of addresses (of char*). */
void bp_peripheral_set_bonds (BpPeripheral *p, GPtrArray *addresses);
const GPtrArray *bp_peripheral_get_bonds (BpPeripheral *p);
gboolean bp_peripheral_is_bonded (BpPeripheral *p, const char *address);
gboolean bp_peripheral_forget (BpPeripheral *p, const char *address, GError **error);
/* [Security] AllowedCentrals: TRUE when address may use the characteristics
 * (any; or bonded; or the pairing window is open). */
gboolean bp_peripheral_central_allowed (BpPeripheral *p, const char *address);
/* The agent changed state->window_open: with AllowedCentrals=bonded, the
 * connected centrals that are no longer allowed are disconnected. */
void bp_peripheral_pairing_window_changed (BpPeripheral *p);

G_END_DECLS
