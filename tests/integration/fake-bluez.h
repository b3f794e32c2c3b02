/* A stand-in bluetoothd for the integration tests and the benchmarks.
 *
 * It owns org.bluez on the bus it is given and behaves as BlueZ 5.66 does
 * towards a GATT server application (/work/shared/BLUEZ.md): an ObjectManager
 * at "/", the adapter /org/bluez/hci0 with Adapter1, GattManager1 and
 * LEAdvertisingManager1, devices that come and go. It records what the
 * application under test did (registrations, the database it exported, the
 * advertisement, every PropertiesChanged signal) so that the tests assert on
 * it, and it makes the calls bluetoothd makes on a central's behalf
 * (ReadValue, WriteValue, StartNotify, …).
 *
 * Everything runs on the thread-default main context of the caller. The
 * application under test may call back into the stand-in at any time (it
 * must answer GetManagedObjects while RegisterApplication is pending), so
 * nothing here blocks: calls are asynchronous and the "wait" helpers iterate
 * the main context until a condition holds or a deadline passes. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define FAKE_BLUEZ_ADAPTER_PATH "/org/bluez/hci0"
#define FAKE_BLUEZ_ADAPTER_ADDRESS "00:AA:01:00:00:00"
#define FAKE_BLUEZ_CENTRAL_ADDRESS "00:AA:01:01:00:01"
/* bluetoothd answers a central with ATT 0x0E when the application does not
 * answer a ReadValue or WriteValue within this long. */
#define FAKE_BLUEZ_CALL_TIMEOUT_MS 5000
/* The legacy advertising data and scan response limit. */
#define FAKE_BLUEZ_MAX_ADV_LEN 31

/* --- waiting ----------------------------------------------------------- */

/* A deadline on the thread-default main context: expired turns TRUE when it
 * passes (a timeout source wakes the context up). */
typedef struct {
  GSource *source;
  gboolean expired;
} FakeDeadline;

void fake_deadline_start (FakeDeadline *deadline, guint timeout_ms);
void fake_deadline_clear (FakeDeadline *deadline);

/* Iterates the thread-default main context until expr is true or timeout_ms
 * pass; evaluates to the final value of expr. Never blocks past the
 * deadline. */
#define FAKE_WAIT_UNTIL(expr, timeout_ms)                                    \
  ({                                                                         \
    FakeDeadline fake_wait_deadline_;                                        \
    gboolean fake_wait_ok_;                                                  \
    fake_deadline_start (&fake_wait_deadline_, (timeout_ms));                \
    while (!(fake_wait_ok_ = !!(expr)) && !fake_wait_deadline_.expired)      \
      g_main_context_iteration (g_main_context_get_thread_default (), TRUE); \
    fake_deadline_clear (&fake_wait_deadline_);                              \
    fake_wait_ok_;                                                           \
  })

/* Dispatches whatever is ready now, without blocking. */
void fake_main_context_flush (void);

/* --- the stand-in ------------------------------------------------------ */

typedef struct _FakeBluez FakeBluez;

typedef enum {
  FAKE_BLUEZ_FLAGS_NONE = 0,
  /* bluetoothd runs with -E: LEAdvertisingManager1.SupportedFeatures and
   * SupportedCapabilities exist, MinInterval/MaxInterval/TxPower are parsed. */
  FAKE_BLUEZ_FLAGS_EXPERIMENTAL = 1 << 0,
  /* Start without the adapter (fake_bluez_add_adapter() brings it). */
  FAKE_BLUEZ_FLAGS_NO_ADAPTER = 1 << 1,
  /* The adapter starts powered off. */
  FAKE_BLUEZ_FLAGS_POWERED_OFF = 1 << 2,
} FakeBluezFlags;

typedef enum {
  FAKE_REGISTRATION_PENDING,      /* call received, objects being read */
  FAKE_REGISTRATION_ACTIVE,       /* registered */
  FAKE_REGISTRATION_FAILED,       /* refused: error_name/error_message */
  FAKE_REGISTRATION_UNREGISTERED, /* Unregister* called */
  FAKE_REGISTRATION_VANISHED,     /* the registrant's bus name went away */
  FAKE_REGISTRATION_DROPPED,      /* bluetoothd restarted or the adapter went */
  FAKE_REGISTRATION_RELEASED,     /* advertisement: Timeout expired, Release() sent */
} FakeRegistrationState;

const char *fake_registration_state_name (FakeRegistrationState state);

typedef struct {
  char *path;
  char *uuid;    /* as exported */
  char *uuid128; /* normalised: lower-case 128-bit form */
  gboolean primary;
} FakeGattService;

typedef struct {
  char *path;
  char *uuid;
  char *uuid128;
  char *service_path;
  GStrv flags;
  gboolean notify_acquired; /* exports NotifyAcquired */
  gboolean write_acquired;  /* exports WriteAcquired */
  gboolean write_without_response;
  /* the centrals (device paths) whose CCCD is on, see fake_bluez_subscribe() */
  GPtrArray *subscribers;
  gboolean write_wedged; /* an AcquireWrite error before 5.76: writes are lost for good */
} FakeGattCharacteristic;

typedef struct {
  char *path;
  char *uuid;
  char *uuid128;
  char *characteristic_path;
  GStrv flags;
  GBytes *value; /* NULL until fake_bluez_read_descriptors() */
} FakeGattDescriptor;

typedef struct {
  guint serial; /* 1 for the first RegisterApplication call seen, … */
  char *sender;
  char *path;
  FakeRegistrationState state;
  char *error_name; /* when FAILED */
  char *error_message;
  GPtrArray *services;        /* of FakeGattService*, in GetManagedObjects order */
  GPtrArray *characteristics; /* of FakeGattCharacteristic* */
  GPtrArray *descriptors;     /* of FakeGattDescriptor* */
  GVariant *objects;          /* the GetManagedObjects reply, a{oa{sa{sv}}} */
  gint64 time_us;             /* monotonic time of the call */
} FakeApplication;

typedef struct {
  guint serial;
  char *sender;
  char *path;
  FakeRegistrationState state;
  char *error_name;
  char *error_message;
  GVariant *properties; /* a{sv} of LEAdvertisement1, kept up to date */
  char *type;           /* "peripheral" or "broadcast" (also when Type is missing) */
  gboolean type_missing;
  gsize adv_data_len; /* legacy advertising data as bluetoothd builds it */
  gsize scan_rsp_len;
  gboolean broadcasting; /* FALSE while a connection stopped the set */
  guint refreshes;       /* PropertiesChanged that bluetoothd applied */
  gint64 time_us;
} FakeAdvertisement;

/* Looks a property of the advertisement up: a new reference, or NULL when
 * it is not there. */
GVariant *fake_advertisement_get (FakeAdvertisement *adv, const char *name);

typedef struct {
  guint64 index; /* 0, 1, … in arrival order */
  char *sender;
  char *path;
  char *interface;
  GVariant *changed;         /* a{sv} */
  GBytes *value;             /* the "Value" bytes, NULL when the signal has no Value */
  gboolean other_properties; /* keys other than Value changed too */
  gint64 time_us;
} FakeSignal;

typedef struct {
  char *method; /* "ReadValue", "WriteValue", "StartNotify", … */
  char *path;
  gboolean no_reply;
} FakeCall;

FakeBluez *fake_bluez_new (const char *bus_address, FakeBluezFlags flags);
/* The BlueZ version to play, before fake_bluez_start() (default 5.66): what
 * the adapter's introspection and properties show (BLUEZ.md "Telling
 * versions apart": Adapter1.Manufacturer/Version from 5.71, PowerState from
 * 5.73 (before: -E only), LEAdvertisingManager1.SupportedFeatures from 5.77
 * (before: -E only), Adapter1.Connectable from 5.79; Adapter1.ConnectDevice
 * with -E only), whether MinInterval/MaxInterval/TxPower are parsed (5.77
 * or -E) and ScanResponseData (5.80). */
#define FAKE_BLUEZ_VERSION(major, minor) ((guint) (major) *1000u + (guint) (minor))
void fake_bluez_set_version (FakeBluez *fb, guint major, guint minor);
guint fake_bluez_get_version (FakeBluez *fb);
gboolean fake_bluez_version_at_least (FakeBluez *fb, guint major, guint minor);
/* Parses "5.66", "5.82", …: the version number, or 0 when text is not one. */
guint fake_bluez_parse_version (const char *text);
void fake_bluez_free (FakeBluez *fb);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (FakeBluez, fake_bluez_free)

/* Connects, exports the objects and owns org.bluez (waits, bounded, for the
 * bus to grant the name). */
gboolean fake_bluez_start (FakeBluez *fb, GError **error);
/* Plays bluetoothd killed or crashing: the connection closes (the bus drops
 * org.bluez), every registration is DROPPED, devices are forgotten; nothing
 * is released. start() again plays its return with a fresh adapter. */
void fake_bluez_stop (FakeBluez *fb);
/* Plays bluetoothd exiting cleanly (SIGTERM, systemctl restart): its
 * adapters are removed first, as adapter_cleanup() does (devices go,
 * InterfacesRemoved, advertisements get Release()), then it leaves the bus. */
void fake_bluez_shutdown (FakeBluez *fb);
gboolean fake_bluez_is_running (FakeBluez *fb);
GDBusConnection *fake_bluez_get_connection (FakeBluez *fb);

/* The adapter goes (InterfacesRemoved; its devices go first, registrations
 * on it are DROPPED and advertisements Released) and returns (InterfacesAdded). */
void fake_bluez_remove_adapter (FakeBluez *fb);
void fake_bluez_add_adapter (FakeBluez *fb);
gboolean fake_bluez_has_adapter (FakeBluez *fb);
gboolean fake_bluez_get_powered (FakeBluez *fb);
/* Changes Powered as the kernel would (PropertiesChanged). */
void fake_bluez_set_powered (FakeBluez *fb, gboolean powered);
/* How many Properties.Set calls the adapter received, per property. */
guint fake_bluez_get_n_adapter_sets (FakeBluez *fb, const char *property);

/* When TRUE, calls on the adapter's managers (GattManager1,
 * LEAdvertisingManager1) are held unanswered, as by a bluetoothd that hangs. */
void fake_bluez_set_unresponsive (FakeBluez *fb, gboolean unresponsive);

/* --- centrals ------------------------------------------------------------ */

/* Adds a Device1 (InterfacesAdded) and returns its path (owned by fb). The
 * ATT MTU is what ReadValue/WriteValue will carry in their "mtu" option. */
const char *fake_bluez_add_device (FakeBluez *fb, const char *address, guint16 mtu);
/* Flips Connected (PropertiesChanged). Connecting stops a connectable
 * advertisement as the controller does; the last disconnection resumes it
 * (unless fake_bluez_set_advertising_not_resumed()). Disconnecting clears
 * the central's subscriptions (StopNotify when it was the last one). */
void fake_bluez_set_connected (FakeBluez *fb, const char *device_path, gboolean connected);
/* Sends Connected=true again for a device that is connected, as bluetoothd
 * does when the device dropped and came back before its idle handler sent
 * the change (BlueZ's gdbus merges a property's changes and sends the value
 * of the moment): after a quick power cycle, say. */
void fake_bluez_resend_connected (FakeBluez *fb, const char *device_path);
void fake_bluez_remove_device (FakeBluez *fb, const char *device_path);
gboolean fake_bluez_device_is_connected (FakeBluez *fb, const char *device_path);
void fake_bluez_set_device_mtu (FakeBluez *fb, const char *device_path, guint16 mtu);
/* How many Device1.Disconnect() calls the device received. */
guint fake_bluez_get_n_disconnect_calls (FakeBluez *fb, const char *device_path);
/* Plays bluez#644: advertising does not come back after a disconnection. */
void fake_bluez_set_advertising_not_resumed (FakeBluez *fb, gboolean not_resumed);

/* --- what the application did ------------------------------------------- */

/* Every RegisterApplication call, in order (of FakeApplication*). */
GPtrArray *fake_bluez_get_applications (FakeBluez *fb);
/* The newest ACTIVE application, or NULL. */
FakeApplication *fake_bluez_get_active_application (FakeBluez *fb);
guint fake_bluez_count_applications (FakeBluez *fb, FakeRegistrationState state);
/* Every RegisterAdvertisement call, in order (of FakeAdvertisement*). */
GPtrArray *fake_bluez_get_advertisements (FakeBluez *fb);
FakeAdvertisement *fake_bluez_get_active_advertisement (FakeBluez *fb);
guint fake_bluez_count_advertisements (FakeBluez *fb, FakeRegistrationState state);
guint fake_bluez_get_n_unregister_application (FakeBluez *fb);
guint fake_bluez_get_n_unregister_advertisement (FakeBluez *fb);

/* Lookups in an application's database by UUID ("2a6e", "0x2A6E" or the
 * 128-bit form); the first match, or NULL. */
FakeGattService *fake_application_find_service (FakeApplication *app, const char *uuid);
FakeGattCharacteristic *fake_application_find_characteristic (FakeApplication *app, const char *uuid);
FakeGattCharacteristic *fake_application_get_characteristic (FakeApplication *app, const char *path);
/* The descriptors of a characteristic, in order (of FakeGattDescriptor*, not owned). */
GPtrArray *fake_application_get_descriptors (FakeApplication *app, const char *characteristic_path);
FakeGattDescriptor *fake_application_find_descriptor (FakeApplication *app, const char *characteristic_path,
                                                      const char *uuid);
gboolean fake_characteristic_has_flag (FakeGattCharacteristic *chr, const char *flag);

/* Normalises a UUID as bluetoothd parses it (16-, 32-bit with or without 0x,
 * 128-bit); NULL when bluetoothd would refuse it. */
char *fake_uuid_normalize (const char *text);

/* --- PropertiesChanged from the registrants ----------------------------- */

/* Every PropertiesChanged signal received from a registrant, in arrival
 * order (of FakeSignal*). */
GPtrArray *fake_bluez_get_signals (FakeBluez *fb);
guint64 fake_bluez_get_n_signals (FakeBluez *fb);
/* Signals carrying a Value for that object path. */
guint fake_bluez_count_value_signals (FakeBluez *fb, const char *path);
/* Forgets the recorded signals (the count goes on). */
void fake_bluez_clear_signals (FakeBluez *fb);
/* When FALSE, signals are counted (and passed to the callback) but not kept:
 * for benchmarks. */
void fake_bluez_set_record_signals (FakeBluez *fb, gboolean record);
/* Takes in at most PER_S PropertiesChanged signals a second (0: no limit;
 * before fake_bluez_start), as a slow bluetoothd does: it reads its bus
 * connection in order, so whatever comes behind the signals (the replies to
 * its calls, a ping) waits for them to be taken in. */
void fake_bluez_set_intake (FakeBluez *fb, guint per_s);
typedef void (*FakeSignalFunc) (FakeBluez *fb, const FakeSignal *signal, gpointer user_data);
void fake_bluez_set_signal_func (FakeBluez *fb, FakeSignalFunc func, gpointer user_data);

/* --- calls on the application, as bluetoothd makes them ----------------- */

/* ReadValue({device, offset (only when non-zero), link: "LE", mtu}) on a
 * characteristic or descriptor of the active application. Returns the reply
 * cut to 512 bytes as bluetoothd does, or NULL and the error: a D-Bus error
 * (g_dbus_error_get_remote_error() gives its name) or G_IO_ERROR_TIMED_OUT
 * after FAKE_BLUEZ_CALL_TIMEOUT_MS. */
GBytes *fake_bluez_read_value (FakeBluez *fb, const char *path, const char *device_path, guint16 offset,
                               GError **error);
/* The same in two steps, for a test that must act (e.g. answer on the
 * control socket) while bluetoothd waits for the reply: begin sends the
 * call, finish waits for it (bounded) and frees the request. */
typedef struct _FakeRequest FakeRequest;
FakeRequest *fake_bluez_read_value_begin (FakeBluez *fb, const char *path, const char *device_path, guint16 offset);
gboolean fake_request_is_done (FakeRequest *req);
GBytes *fake_request_finish_read (FakeRequest *req, GError **error);
/* A long read as a central does it with Read and Read Blob: ReadValue at 0,
 * then at each offset the previous ATT responses (MTU-1 bytes each) reached,
 * until a short response; returns the reassembled value. n_calls, when not
 * NULL, gets the number of ReadValue calls made. */
GBytes *fake_bluez_read_long (FakeBluez *fb, const char *path, const char *device_path, guint *n_calls, GError **error);
/* WriteValue(value, {device, offset, link, mtu}). When the characteristic has
 * write-without-response in its flags the call is sent with no reply expected
 * and TRUE is returned at once, as bluetoothd acknowledges such writes
 * itself. */
gboolean fake_bluez_write_value (FakeBluez *fb, const char *path, const char *device_path, guint16 offset,
                                 const void *data, gsize len, GError **error);
/* A prepared (long) write: one WriteValue per MTU-5 chunk, each with its offset. */
gboolean fake_bluez_write_long (FakeBluez *fb, const char *path, const char *device_path, const void *data, gsize len,
                                GError **error);
/* StartNotify(), StopNotify(), Confirm(): no reply expected. */
void fake_bluez_start_notify (FakeBluez *fb, const char *path);
void fake_bluez_stop_notify (FakeBluez *fb, const char *path);
void fake_bluez_confirm (FakeBluez *fb, const char *path);
/* A central writes its CCCD: StartNotify when it is the first to subscribe
 * this characteristic, StopNotify when the last one leaves (BlueZ 5.66). */
void fake_bluez_subscribe (FakeBluez *fb, const char *device_path, const char *path, gboolean on);
/* Reads every descriptor of the active application into its value. */
gboolean fake_bluez_read_descriptors (FakeBluez *fb, GError **error);
/* The calls the stand-in made on registrants, in order (of FakeCall*). */
GPtrArray *fake_bluez_get_calls (FakeBluez *fb);

/* A round trip with the active application that its main loop answers
 * (GetManagedObjects): every message it sent before has arrived once this
 * returns TRUE. */
gboolean fake_bluez_sync (FakeBluez *fb);

/* The ATT error code bluetoothd answers a central with for this error of a
 * ReadValue (is_write FALSE) or WriteValue. */
guint8 fake_error_to_att (const GError *error, gboolean is_write);

/* --- acquired sockets (BLUEZ.md "Acquired fds") -------------------------- */

/* What the version the stand-in plays (fake_bluez_set_version: 5.66 by
 * default; 5.69, 5.76, 5.80 are the steps below, 5.82 plays as 5.80)
 * changes for acquired sockets. For characteristics that export
 * NotifyAcquired, a CCCD write (fake_bluez_subscribe) calls AcquireNotify
 * instead of StartNotify: for the first subscriber only, one socket that
 * reaches every subscriber (< 569); for each connection, a socket that
 * reaches every subscriber (569–575) or that central only (576+), closed
 * when it unsubscribes or disconnects. Confirmations of indications sent on
 * a socket: Confirm() (< 576), nothing (576–579), a 0x01 byte on the
 * central's socket (580+). From 569 the two bugs still in 5.83: a non-bonded
 * central's disconnect closes the first subscriber's socket (bluez#1452),
 * and a bonded central keeps its subscription across a reconnection but
 * gets no socket. WriteAcquired: the first write (< 569, one socket for all,
 * never closed) or each connection's first write calls AcquireWrite; each
 * write is one message; an error reply wedges the characteristic before
 * 576. */

typedef struct {
  char *path;         /* the characteristic */
  GBytes *value;      /* cut to the central's MTU - 3 */
  gboolean by_socket; /* from a notify socket, else a PropertiesChanged */
} FakeReceived;

/* What reached a central, in order (of FakeReceived*, owned by fb): every
 * PropertiesChanged(Value) reaches each connected subscriber, a socket
 * message whom the version says. Kept only while signals are recorded. */
GPtrArray *fake_bluez_get_received (FakeBluez *fb, const char *device_path);
guint fake_bluez_count_received (FakeBluez *fb, const char *device_path, const char *path);
/* Notify sockets open for a characteristic. */
guint fake_bluez_count_notify_sockets (FakeBluez *fb, const char *path);
/* TRUE while an AcquireNotify waits for its reply. */
gboolean fake_bluez_acquires_pending (FakeBluez *fb);
/* 0-byte messages read (each stops bluetoothd reading that socket). */
guint fake_bluez_get_n_empty_messages (FakeBluez *fb);
/* Messages read from or written to sockets. */
guint64 fake_bluez_get_n_socket_messages (FakeBluez *fb);

/* Asserts that error is the D-Bus error `name`. */
#define fake_assert_dbus_error(error, name)                                                                            \
  G_STMT_START                                                                                                         \
  {                                                                                                                    \
    const GError *fake_e_ = (error);                                                                                   \
    g_autofree char *fake_n_ = NULL;                                                                                   \
    if (fake_e_ == NULL)                                                                                               \
      g_assertion_message (G_LOG_DOMAIN, __FILE__, __LINE__, G_STRFUNC, "expected D-Bus error " name ", got success"); \
    fake_n_ = g_dbus_error_get_remote_error (fake_e_);                                                                 \
    if (g_strcmp0 (fake_n_, (name)) != 0)                                                                              \
      {                                                                                                                \
        g_autofree char *fake_m_ = g_strdup_printf ("expected D-Bus error %s, got %s (%s)", (name),                    \
                                                    fake_n_ ? fake_n_ : "no D-Bus error", fake_e_->message);           \
        g_assertion_message (G_LOG_DOMAIN, __FILE__, __LINE__, G_STRFUNC, fake_m_);                                    \
      }                                                                                                                \
  }                                                                                                                    \
  G_STMT_END

/* --- pairing (AgentManager1, as bluetoothd 5.66 keeps agents) ---------- */

/* The default agent's sender and path (NULL when none), its capability. */
const char *fake_bluez_get_default_agent (FakeBluez *fb, const char **path, const char **capability);
guint fake_bluez_count_agents (FakeBluez *fb);
gboolean fake_bluez_get_pairable (FakeBluez *fb);
guint32 fake_bluez_get_pairable_timeout (FakeBluez *fb);
/* Paired and Bonded of a device (PropertiesChanged), as after a pairing
 * with bonding. */
void fake_bluez_set_device_bonded (FakeBluez *fb, const char *device_path, gboolean bonded);
gboolean fake_bluez_device_is_bonded (FakeBluez *fb, const char *device_path);
/* What bluetoothd asks the default agent on a central's incoming pairing:
 * RequestAuthorization(device) (Just Works), RequestConfirmation(device,
 * passkey) (numeric comparison). device_path may name a device of another
 * adapter (bluetoothd with several). Fails with G_IO_ERROR_NOT_FOUND when no
 * default agent exists (bluetoothd refuses the pairing then). The reply is
 * awaited for up to 60 s, as bluetoothd does. */
FakeRequest *fake_bluez_agent_request_begin (FakeBluez *fb, const char *method, const char *device_path,
                                             guint32 passkey);
gboolean fake_request_finish_agent (FakeRequest *req, GError **error);
/* DisplayPasskey(device, passkey, entered) and Cancel(): no reply expected. */
gboolean fake_bluez_agent_display_passkey (FakeBluez *fb, const char *device_path, guint32 passkey, guint16 entered);
gboolean fake_bluez_agent_cancel (FakeBluez *fb);
/* A whole incoming Just Works / numeric comparison pairing: asks the default
 * agent, and when it accepts makes the device Paired and Bonded. */
gboolean fake_bluez_pair (FakeBluez *fb, const char *device_path, const char *method, guint32 passkey, GError **error);

G_END_DECLS
