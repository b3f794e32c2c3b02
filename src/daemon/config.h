/* The configuration: ble-peripheral.conf and its conf.d drop-ins, resolved
 * into the GATT database and the advertisement the daemon serves. */
#pragma once

#include <glib.h>

#include "common/uuid.h"
#include "common/value.h"

G_BEGIN_DECLS

typedef enum {
  BP_READ_HANDLER_VALUE = 0,
  BP_READ_HANDLER_SOCKET,
} BpReadHandler;

/* Characteristic property bits, named as BlueZ's Flags strings. */
typedef enum {
  BP_FLAG_BROADCAST = 1 << 0,
  BP_FLAG_READ = 1 << 1,
  BP_FLAG_WRITE_WITHOUT_RESPONSE = 1 << 2,
  BP_FLAG_WRITE = 1 << 3,
  BP_FLAG_NOTIFY = 1 << 4,
  BP_FLAG_INDICATE = 1 << 5,
  BP_FLAG_AUTHENTICATED_SIGNED_WRITES = 1 << 6,
  BP_FLAG_EXTENDED_PROPERTIES = 1 << 7,
  BP_FLAG_RELIABLE_WRITE = 1 << 8,
  BP_FLAG_WRITABLE_AUXILIARIES = 1 << 9,
  BP_FLAG_ENCRYPT_READ = 1 << 10,
  BP_FLAG_ENCRYPT_WRITE = 1 << 11,
  BP_FLAG_ENCRYPT_NOTIFY = 1 << 12,
  BP_FLAG_ENCRYPT_INDICATE = 1 << 13,
  BP_FLAG_ENCRYPT_AUTHENTICATED_READ = 1 << 14,
  BP_FLAG_ENCRYPT_AUTHENTICATED_WRITE = 1 << 15,
  BP_FLAG_ENCRYPT_AUTHENTICATED_NOTIFY = 1 << 16,
  BP_FLAG_ENCRYPT_AUTHENTICATED_INDICATE = 1 << 17,
  BP_FLAG_SECURE_READ = 1 << 18,
  BP_FLAG_SECURE_WRITE = 1 << 19,
  BP_FLAG_SECURE_NOTIFY = 1 << 20,
  BP_FLAG_SECURE_INDICATE = 1 << 21,
  BP_FLAG_AUTHORIZE = 1 << 22,
} BpFlags;

/* Any flag that lets a central write the value. */
#define BP_FLAGS_ANY_WRITE                                                                                         \
  (BP_FLAG_WRITE | BP_FLAG_WRITE_WITHOUT_RESPONSE | BP_FLAG_AUTHENTICATED_SIGNED_WRITES | BP_FLAG_RELIABLE_WRITE | \
   BP_FLAG_ENCRYPT_WRITE | BP_FLAG_ENCRYPT_AUTHENTICATED_WRITE | BP_FLAG_SECURE_WRITE)
#define BP_FLAGS_ANY_READ \
  (BP_FLAG_READ | BP_FLAG_ENCRYPT_READ | BP_FLAG_ENCRYPT_AUTHENTICATED_READ | BP_FLAG_SECURE_READ)

/* "encrypt-read" → BP_FLAG_ENCRYPT_READ; 0 when unknown. */
BpFlags bp_flag_from_name (const char *name);
/* NULL-terminated BlueZ flag names of a mask, in a stable order; free with g_strfreev. */
GStrv bp_flags_to_strv (BpFlags flags);

typedef struct {
  char *id; /* "env/temperature/range": service/char/desc */
  BpUuid uuid;
  BpFlags flags; /* descriptor flags use the same names (read, write, encrypt-read, …) */
  GBytes *value; /* never NULL */
} BpDescriptorConfig;

typedef struct {
  char *id;         /* "env/temperature" */
  char *service_id; /* "env" */
  char *name;       /* "temperature" */
  BpUuid uuid;
  BpFlags flags;
  GBytes *initial;  /* never NULL (empty by default) */
  guint max_length; /* 20 */
  gboolean append;
  gboolean capture;
  guint queue_length; /* 64 */
  BpFormat format;    /* BP_FORMAT_NONE when unset */
  int exponent;
  gboolean has_unit;
  guint16 unit;
  char *description;            /* NULL when unset */
  gboolean presentation_format; /* add a 0x2904 descriptor */
  BpReadHandler read_handler;
  guint64 read_timeout_us;      /* 1 s */
  guint64 min_read_interval_us; /* 0 */
  gboolean notify_on_subscribe;
  gboolean acquire_sockets; /* AcquireSockets=auto (resolved with [Peripheral]'s): NotifyAcquired/WriteAcquired */
  GPtrArray *descriptors;   /* of BpDescriptorConfig*, the custom ones, in file order */
} BpCharacteristicConfig;

typedef struct {
  char *id; /* "env" */
  BpUuid uuid;
  gboolean primary;
  GPtrArray *characteristics; /* of BpCharacteristicConfig*, in file order */
} BpServiceConfig;

typedef struct {
  guint16 company;
  GBytes *data;
} BpManufacturerData;

typedef struct {
  BpUuid uuid;
  GBytes *data;
} BpServiceData;

typedef struct {
  gboolean enabled; /* true */
  gboolean has_interval;
  guint32 interval_min_ms; /* LEAdvertisement1 MinInterval, ms */
  guint32 interval_max_ms; /* MaxInterval */
  GArray *service_uuids;   /* of BpUuid */
  GArray *solicit_uuids;   /* of BpUuid */
  gboolean has_appearance;
  guint16 appearance;
  GPtrArray *manufacturer_data;  /* of BpManufacturerData* */
  GPtrArray *service_data;       /* of BpServiceData* */
  gboolean connectable;          /* true → Type=peripheral, false → broadcast */
  gboolean discoverable;         /* true */
  gboolean limited_discoverable; /* false */
  guint64 timeout_us;            /* 0 = forever */
  gboolean has_tx_power;
  gint16 tx_power; /* dBm */
  gboolean include_tx_power;
  GPtrArray *data;       /* raw AD structures from Data= that map to no property: of GBytes* (type byte then payload) */
  GBytes *scan_response; /* ScanResponseData=, NULL when unset */
} BpAdvertisingConfig;

typedef struct {
  char *socket_path; /* NULL: $RUNTIME_DIRECTORY/control or the built-in default */
  guint mode;        /* 0660 */
  char *group;       /* NULL */
} BpControlConfig;

/* [Security]: pairing and who may connect. */
typedef enum {
  BP_PAIRING_OFF = 0,    /* no agent: bluetoothd refuses pairing unless another default agent exists */
  BP_PAIRING_JUST_WORKS, /* NoInputNoOutput: encryption, no MITM */
  BP_PAIRING_DISPLAY,    /* DisplayOnly: the kernel's passkey goes to producers; MITM */
  BP_PAIRING_CONFIRM,    /* DisplayYesNo: producers accept or reject each request */
} BpPairingMode;

typedef enum {
  BP_ALLOWED_ANY = 0,
  BP_ALLOWED_BONDED, /* outside the pairing window only bonded centrals are served */
} BpAllowedCentrals;

typedef struct {
  BpPairingMode pairing;      /* off */
  guint64 window_us;          /* PairingWindow: 0 = always open */
  BpAllowedCentrals allowed;  /* any */
  guint64 confirm_timeout_us; /* ConfirmTimeout: 20 s, under the kernel's 30 s SMP limit */
} BpSecurityConfig;

/* "just-works" for BP_PAIRING_JUST_WORKS, and back (-1 when unknown). */
const char *bp_pairing_mode_name (BpPairingMode mode);
int bp_pairing_mode_from_name (const char *name);

typedef struct {
  char *source; /* what was read: "/etc/ble-peripheral/ble-peripheral.conf (+2 drop-ins)" or "built-in default" */
  gboolean is_default;      /* no file: the built-in Environmental Sensing example */
  char *name;               /* Peripheral Name: the host name by default */
  char *adapter;            /* NULL: the first adapter that appears; "hciN" or an address */
  guint max_connections;    /* 1; 0 = no limit */
  gboolean power_on;        /* true */
  gboolean acquire_sockets; /* [Peripheral] AcquireSockets=auto (true) or off */
  BpAdvertisingConfig advertising;
  BpControlConfig control;
  BpSecurityConfig security;
  GPtrArray *warnings; /* of char*: what works but is likely not what was meant, e.g. encrypt-read with Pairing=off */
  GPtrArray *services; /* of BpServiceConfig*, in file order */
} BpConfig;

/* The built-in default configuration (SPEC §3), the text of conf/ble-peripheral.conf. */
extern const char bp_config_default_text[];

/* Loads PATH, then the *.conf files of the conf.d folder beside it
 * (dirname(PATH)/conf.d) in name order: later files add groups or override keys. When PATH does not exist
 * and allow_missing is TRUE, the built-in default is returned with
 * is_default set. Errors (BP_ERROR_CONFIG) read e.g.
 *   "ble-peripheral.conf: [Characteristic env/temperature] MaxLength: 600 is over the limit of 512"
 * naming the file (basename for the main file, "conf.d/NAME.conf" for a drop-in),
 * group, key and what was expected. */
BpConfig *bp_config_load (const char *path, gboolean allow_missing, GError **error);

/* Parses configuration text as if read from a file called origin (tests, the default). */
BpConfig *bp_config_load_from_data (const char *data, gssize len, const char *origin, GError **error);

void bp_config_free (BpConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BpConfig, bp_config_free)

/* Looks a characteristic up by "service/char", or by a bare "char" that is
 * unique across services. NULL with BP_ERROR_UNKNOWN_CHARACTERISTIC or
 * BP_ERROR_AMBIGUOUS otherwise. */
BpCharacteristicConfig *bp_config_find_characteristic (const BpConfig *config, const char *name, GError **error);

/* The resolved database and advertisement as text, for --check-config. */
char *bp_config_describe (const BpConfig *config);

/* Encoded length of the legacy advertising data and of the scan response as
 * bluetoothd will build them (flags, name, appearance, UUID lists, service
 * and manufacturer data, TX power, raw Data), and the check that each fits
 * 31 bytes: the error names the field that overflows and by how many bytes. */
gboolean bp_config_check_advertising_size (const BpConfig *config, GError **error);

G_END_DECLS
