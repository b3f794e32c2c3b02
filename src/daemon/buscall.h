/* A method call on one of our exported objects (GATT application,
 * advertisement, agent), and who may make it.
 *
 * Only bluetoothd calls these objects: a call is honoured when its sender is
 * the current owner of org.bluez (the unique name the BlueZ module's presence
 * watch reports), and answered org.bluez.Error.NotAuthorized otherwise.
 *
 * BpBusCall wraps a GDBusMethodInvocation, or stands in for one (fuzz targets
 * and unit tests call the handlers without a bus): handlers take a BpBusCall,
 * read its parameters, and answer it exactly once with
 * bp_bus_call_return_value()/_error(), or bp_bus_call_drop() when no reply is
 * expected. Answering consumes the call. */
#pragma once

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

G_BEGIN_DECLS

#define BP_BUS_ERROR_NOT_AUTHORIZED "org.bluez.Error.NotAuthorized"

typedef struct _BpBusCall BpBusCall;

/* How a stand-in call is answered: value (a tuple) on success, else the
 * error's name and message. */
typedef void (*BpBusCallReplyFunc) (GVariant *value, const char *error_name, const char *error_message,
                                    gpointer user_data);

/* Takes the invocation over. */
BpBusCall *bp_bus_call_new (GDBusMethodInvocation *invocation);
/* A call without a bus; params is a tuple (NULL: ()), sunk if floating. */
BpBusCall *bp_bus_call_new_stand_in (const char *sender, const char *path, const char *interface, const char *method,
                                     GVariant *params, gboolean no_reply, BpBusCallReplyFunc reply, gpointer user_data);

const char *bp_bus_call_get_sender (BpBusCall *call);
const char *bp_bus_call_get_path (BpBusCall *call);
const char *bp_bus_call_get_interface (BpBusCall *call);
const char *bp_bus_call_get_method (BpBusCall *call);
GVariant *bp_bus_call_get_parameters (BpBusCall *call);
/* The caller said it wants no reply (write-without-response, StartNotify…). */
gboolean bp_bus_call_no_reply (BpBusCall *call);

/* Answer and free. value: a tuple, floating or not; NULL for (). */
void bp_bus_call_return_value (BpBusCall *call, GVariant *value);
/* The same with file descriptors (type h in value indexes fds); takes fds.
 * A stand-in call gets the value and the descriptors are closed. */
void bp_bus_call_return_value_with_fds (BpBusCall *call, GVariant *value, GUnixFDList *fds);
void bp_bus_call_return_error (BpBusCall *call, const char *name, const char *format, ...) G_GNUC_PRINTF (3, 4);
/* Free without an answer (only for calls that expect none). */
void bp_bus_call_drop (BpBusCall *call);

/* TRUE when the method exists in iface and the parameters have its in-args'
 * types (GDBus checks this before a handler runs; a stand-in call gets the
 * same check). Otherwise answers UnknownMethod or InvalidArgs, as GDBus
 * would, and returns FALSE: the call is gone. */
gboolean bp_bus_call_check_args (BpBusCall *call, GDBusInterfaceInfo *iface);

/* The unique name of the current org.bluez owner; NULL while none. Set by
 * the BlueZ module's presence watch. */
void bp_bus_set_bluez_owner (const char *unique_name);
const char *bp_bus_get_bluez_owner (void);

/* TRUE when the call comes from the current owner of org.bluez. Otherwise
 * answers it org.bluez.Error.NotAuthorized, logs the caller once in a while,
 * and returns FALSE: the call is gone and nothing was changed. Every method
 * handler of an exported object starts with it. */
gboolean bp_bus_call_from_bluez (BpBusCall *call);
/* The same for a handler that keeps its GDBusMethodInvocation. */
gboolean bp_bus_invocation_from_bluez (GDBusMethodInvocation *invocation);

/* How many calls were refused so far (status and tests). */
guint64 bp_bus_refused_calls (void);

G_END_DECLS
