/* The built-in pairing agent ([Security] Pairing=just-works|display|confirm):
 * org.bluez.Agent1 at BP_AGENT_PATH, bluetoothd's default agent, kept
 * registered through bluetoothd restarts; the pairing window, with the
 * adapter's Pairable/PairableTimeout kept in step. Everything asynchronous. */
#pragma once

#include <gio/gio.h>

#include "daemon/buscall.h"
#include "daemon/peripheral.h"

G_BEGIN_DECLS

#define BP_AGENT_PATH "/org/bleperipheral/agent"

typedef struct _BpAgent BpAgent;

/* Exports the agent object (whatever the mode: with Pairing=off it is never
 * registered and refuses every call). conn NULL (fuzz targets): nothing is
 * exported or registered; calls come through bp_agent_handle_call(). */
BpAgent *bp_agent_new (GDBusConnection *conn, BpPeripheral *p, GError **error);
/* One method call on the agent object (Agent1), answered now or, for a
 * request producers must answer, later. */
void bp_agent_handle_call (BpAgent *agent, BpBusCall *call);
void bp_agent_free (BpAgent *agent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BpAgent, bp_agent_free)

G_END_DECLS
