/* What the parts of the stand-in bluetoothd share (fake-bluez.c: the bus,
 * the objects, the adapter and its devices; fake-bluez-gatt.c: GattManager1
 * and bluetoothd's calls on the application; fake-bluez-adv.c:
 * LEAdvertisingManager1). Not for the tests: they use fake-bluez.h. */
#pragma once

#include "fake-bluez.h"

G_BEGIN_DECLS

#define BLUEZ_NAME "org.bluez"
#define IFACE_OM "org.freedesktop.DBus.ObjectManager"
#define IFACE_PROPS "org.freedesktop.DBus.Properties"
#define IFACE_ADAPTER "org.bluez.Adapter1"
#define IFACE_GATT_MANAGER "org.bluez.GattManager1"
#define IFACE_ADV_MANAGER "org.bluez.LEAdvertisingManager1"
#define IFACE_AGENT_MANAGER "org.bluez.AgentManager1"
#define IFACE_DEVICE "org.bluez.Device1"
#define IFACE_SERVICE "org.bluez.GattService1"
#define IFACE_CHRC "org.bluez.GattCharacteristic1"
#define IFACE_DESC "org.bluez.GattDescriptor1"
#define IFACE_ADV "org.bluez.LEAdvertisement1"
#define ERROR_FAILED "org.bluez.Error.Failed"

/* GetManagedObjects and GetAll on a registrant: bluetoothd's GDBusClient
 * waits longer, but a test must not. */
#define REGISTRANT_TIMEOUT_MS 10000
#define SUPPORTED_INSTANCES 4
#define ATT_MAX_VALUE_LEN 512

typedef struct {
  char *path;
  char *address;
  gboolean connected;
  guint16 mtu;
  guint n_disconnect_calls;
  gboolean paired;
  gboolean bonded;
  GArray *registrations; /* of guint */
  GPtrArray *received;   /* of FakeReceived*: what reached this central */
} FakeDevice;

/* An AgentManager1.RegisterAgent. */
typedef struct {
  char *sender;
  char *path;
  char *capability;
} FakeAgent;

/* A registrant (bus name) the stand-in follows: its disappearance and its
 * PropertiesChanged signals. */
typedef struct {
  FakeBluez *fb;
  char *sender;
  guint name_watch;
  guint signal_subscription;
} FakeWatch;

struct _FakeBluez {
  char *bus_address;
  FakeBluezFlags flags;
  guint version; /* FAKE_BLUEZ_VERSION (5, 66), … */
  GDBusNodeInfo *node_info;
  GDBusNodeInfo *adv_manager_info;

  GDBusConnection *conn;
  GCancellable *cancellable;     /* replaced at each start */
  GArray *root_registrations;    /* of guint: "/" and "/org/bluez" */
  GArray *adapter_registrations; /* of guint, empty when the adapter is gone */

  /* adapter state */
  gboolean powered;
  gboolean discoverable;
  gboolean pairable;
  guint32 pairable_timeout;
  GPtrArray *agents; /* of FakeAgent* */
  FakeAgent *default_agent;
  char *alias;
  GHashTable *adapter_sets; /* property name → GUINT count */

  GPtrArray *devices; /* of FakeDevice* */
  gboolean advertising_not_resumed;

  GHashTable *watches; /* sender → FakeWatch* */

  GPtrArray *applications;   /* of FakeApplication*, every call */
  GPtrArray *advertisements; /* of FakeAdvertisement* */
  GHashTable *adv_timeouts;  /* FakeAdvertisement* → GSource* */
  guint n_unregister_application;
  guint n_unregister_advertisement;

  GPtrArray *signals; /* of FakeSignal* */
  guint64 n_signals;
  gboolean record_signals;
  guint intake_per_s;  /* 0: as fast as they come */
  guint intake_filter; /* on conn */
  FakeSignalFunc signal_func;
  gpointer signal_func_data;

  GPtrArray *calls; /* of FakeCall* */

  gboolean unresponsive;
  GPtrArray *held; /* of GDBusMethodInvocation*, never answered */

  /* fake-bluez-sockets.c */
  GPtrArray *socks; /* of FakeSock* (private there) */
  guint n_empty_messages;
  guint64 n_socket_messages;
  guint n_acquires_pending;
};

/* A RegisterApplication or RegisterAdvertisement waiting for the
 * registrant's objects. */
typedef struct {
  FakeBluez *fb;
  FakeApplication *app;
  FakeAdvertisement *adv;
  GDBusMethodInvocation *invocation;
} PendingRegistration;

/* fake-bluez.c */
void fake_bluez_record_call (FakeBluez *fb, const char *method, const char *path, gboolean no_reply);
gboolean fake_registration_is_live (FakeRegistrationState state);
FakeDevice *fake_bluez_find_device (FakeBluez *fb, const char *path);
char *fake_device_path_for (const char *address);
gboolean fake_uuid_equal (const char *uuid128, const char *text);
/* Emits PropertiesChanged(iface, changed, []) on path; sinks changed. */
void fake_bluez_emit_properties_changed (FakeBluez *fb, const char *path, const char *iface, GVariant *changed);
/* A method call with no reply expected; sinks body (may be NULL). */
void fake_bluez_send_no_reply (FakeBluez *fb, const char *dest, const char *path, const char *iface, const char *method,
                               GVariant *body);
/* Follows a registrant's PropertiesChanged signals and its leaving. */
void fake_bluez_ensure_watch (FakeBluez *fb, const char *sender);
/* The a{sv} of one interface of one object (floating). */
GVariant *fake_bluez_object_properties (FakeBluez *fb, const char *path, const char *iface);
void fake_pending_registration_free (PendingRegistration *p);
/* Records the refusal in *state, *error_name, *error_message and answers
 * it; consumes the invocation. */
void fake_registration_fail (GDBusMethodInvocation *invocation, FakeRegistrationState *state, char **error_name,
                             char **error_message, const char *name, const char *message);

/* fake-bluez-gatt.c */
void fake_application_free (FakeApplication *app);
void fake_bluez_handle_register_application (FakeBluez *fb, const char *sender, GVariant *params,
                                             GDBusMethodInvocation *invocation);
void fake_bluez_handle_unregister_application (FakeBluez *fb, const char *sender, GVariant *params,
                                               GDBusMethodInvocation *invocation);
/* A central is gone: its subscriptions end (StopNotify for the last one). */
void fake_bluez_unsubscribe_device (FakeBluez *fb, const char *device_path);

/* The generic asynchronous call on a registrant, and its bounded wait. */
FakeRequest *fake_bluez_call_begin (FakeBluez *fb, const char *dest, const char *path, const char *iface,
                                    const char *method, GVariant *params, const GVariantType *reply_type,
                                    int timeout_ms);
GVariant *fake_request_finish (FakeRequest *req, GError **error);

/* fake-bluez-agent.c */
void fake_agent_free (FakeAgent *agent);
void fake_bluez_handle_agent_manager (FakeBluez *fb, const char *sender, const char *method, GVariant *params,
                                      GDBusMethodInvocation *invocation);
/* The registrant left (or bluetoothd stopped: sender NULL): its agents go. */
void fake_bluez_agents_vanished (FakeBluez *fb, const char *sender);
void fake_bluez_emit_adapter_property (FakeBluez *fb, const char *name, GVariant *value);

/* fake-bluez-sockets.c */
void fake_bluez_sockets_init (FakeBluez *fb);
/* bluetoothd is gone: every socket closes. */
void fake_bluez_sockets_clear (FakeBluez *fb);
void fake_received_free (FakeReceived *r);
/* A PropertiesChanged(Value) of path reaches its connected subscribers. */
void fake_bluez_sockets_signal (FakeBluez *fb, const char *path, GBytes *value);
/* A CCCD write of a NotifyAcquired characteristic (after the subscriber list changed). */
void fake_bluez_sockets_subscribe (FakeBluez *fb, FakeApplication *app, FakeGattCharacteristic *chr,
                                   const char *device_path, gboolean on);
/* device_path disconnected (its subscription already updated). */
void fake_bluez_sockets_disconnect (FakeBluez *fb, FakeGattCharacteristic *chr, const char *device_path,
                                    const char *first_subscriber, gboolean bonded);
/* A write on a WriteAcquired characteristic; FALSE (5.76+) when
 * AcquireWrite failed and WriteValue must carry it. */
gboolean fake_bluez_sockets_write (FakeBluez *fb, FakeApplication *app, FakeGattCharacteristic *chr,
                                   const char *device_path, const void *data, gsize len, GError **error);

/* fake-bluez-adv.c */
void fake_advertisement_free (FakeAdvertisement *adv);
void fake_bluez_handle_register_advertisement (FakeBluez *fb, const char *sender, GVariant *params,
                                               GDBusMethodInvocation *invocation);
void fake_bluez_handle_unregister_advertisement (FakeBluez *fb, const char *sender, GVariant *params,
                                                 GDBusMethodInvocation *invocation);
void fake_bluez_advertisement_properties_changed (FakeBluez *fb, const char *sender, const char *path,
                                                  GVariant *changed, const char *const *invalidated);
void fake_advertisement_end (FakeBluez *fb, FakeAdvertisement *adv, FakeRegistrationState state);
guint fake_bluez_count_live_advertisements (FakeBluez *fb);
/* PropertiesChanged for ActiveInstances and SupportedInstances. */
void fake_bluez_emit_adv_instances (FakeBluez *fb);

/* Version-dependent members (fake_bluez_set_version). */
gboolean fake_bluez_shows_power_state (FakeBluez *fb);
gboolean fake_bluez_shows_supported_features (FakeBluez *fb);

G_END_DECLS
