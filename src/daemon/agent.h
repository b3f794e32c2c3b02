/* The built-in pairing agent ([Security] Pairing=just-works|display|confirm):
 * org.bluez.Agent1 at BP_AGENT_PATH, bluetoothd's default agent, kept
 * registered through bluetoothd restarts; the pairing window, with the
 * adapter's Pairable/PairableTimeout kept in step. Everything asynchronous. */
#pragma once

#include <gio/gio.h>

#include "daemon/peripheral.h"

G_BEGIN_DECLS

#define BP_AGENT_PATH "/org/bleperipheral/agent"

typedef struct _BpAgent BpAgent;

/* Exports the agent object (whatever the mode: with Pairing=off it is never
 * registered and refuses every call). */
BpAgent *bp_agent_new (GDBusConnection *conn, BpPeripheral *p, GError **error);
void bp_agent_free (BpAgent *agent);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BpAgent, bp_agent_free)

G_END_DECLS
