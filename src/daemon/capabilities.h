/* What the running bluetoothd can do, read from its D-Bus interfaces.
 *
 * No D-Bus API gives BlueZ's version. The members a version added tell it
 * (/work/shared/BLUEZ.md "Telling versions apart"): Introspect of an adapter
 * lists them whatever their values. From them come bounds on the version
 * (a lower bound proven by a member that exists, an upper bound by one that
 * does not) and whether bluetoothd runs with experimental features (-E),
 * and from those the features that depend on them. Every module that must
 * know asks here, with bp_capabilities_bluez_at_least() or the feature
 * fields; none reads the interfaces itself. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

/* A BlueZ version as one number: BP_BLUEZ_VERSION (5, 79) = 5079. */
#define BP_BLUEZ_VERSION(major, minor) ((guint) (major) *1000u + (guint) (minor))

typedef enum {
  BP_TRISTATE_UNKNOWN = 0,
  BP_TRISTATE_NO,
  BP_TRISTATE_YES,
} BpTristate;

typedef struct {
  gboolean known;          /* an adapter was introspected since bluetoothd appeared */
  guint version_min;       /* proven: version >= this; 0 when nothing proves a lower bound */
  guint version_below;     /* proven: version < this; 0 when nothing proves an upper bound */
  BpTristate experimental; /* bluetoothd -E (Experimental=true) */
  /* LEAdvertisement1 MinInterval/MaxInterval/TxPower are applied: 5.77, or
   * earlier with -E. */
  gboolean adv_interval;
  /* LEAdvertisement1 ScanResponse* are parsed: 5.80. Nothing on D-Bus tells
   * 5.79 from 5.80; Adapter1.Connectable (5.79) is taken as the sign. */
  gboolean scan_response;
  /* What an AcquireNotify fd does, as far as the interfaces prove it:
   * per-central fds (5.69), fds that reach their central only (5.76). */
  gboolean notify_fd_per_connection;
  gboolean notify_to_one_central;
  /* Long writes of more than 508 bytes are accepted (5.69). */
  gboolean long_writes_past_508;
} BpCapabilities;

/* Nothing known: every feature off, no bounds. */
void bp_capabilities_clear (BpCapabilities *caps);

/* TRUE when the version is proven to be MAJOR.MINOR or later. */
gboolean bp_capabilities_bluez_at_least (const BpCapabilities *caps, guint major, guint minor);

/* The bounds as the status line shows them: ">=5.79", "<5.71",
 * ">=5.65,<5.71", or "-" when nothing is known. Newly allocated. */
char *bp_capabilities_version_text (const BpCapabilities *caps);
/* "yes", "no" or "-". */
const char *bp_capabilities_experimental_text (const BpCapabilities *caps);
/* One line for the log: the bounds, experimental mode and each feature. */
char *bp_capabilities_describe (const BpCapabilities *caps);

/* Reads the introspection XML of an adapter object (/org/bluez/hciN) into
 * caps (known turns TRUE). FALSE with error when the XML does not parse or
 * has no org.bluez.Adapter1. */
gboolean bp_capabilities_parse_adapter_xml (BpCapabilities *caps, const char *xml, GError **error);
/* A Device1's properties as bluetoothd sent them (GetManagedObjects,
 * InterfacesAdded): Device1.Bonded (5.65) raises the lower bound. Returns
 * TRUE when caps changed. */
gboolean bp_capabilities_note_device (BpCapabilities *caps, GVariant *device_props);

/* Introspects adapter_path of org.bluez on conn, asynchronously (bounded
 * by timeout_ms); finish adds what it found to caps (bounds already proven
 * there, e.g. by a device, stay) and sets known. */
void bp_capabilities_probe (GDBusConnection *conn, const char *adapter_path, int timeout_ms, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data);
gboolean bp_capabilities_probe_finish (GAsyncResult *result, BpCapabilities *caps, GError **error);

G_END_DECLS
