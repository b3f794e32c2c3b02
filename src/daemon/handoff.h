/* The handoff file: what the daemon had acknowledged — every stored value
 * (set by a producer, written by a central) and every captured write no
 * producer has taken yet — saved when it must exit without a clean stop
 * (the system bus went away), and taken back by the next start, which
 * removes the file. It lives beside the control socket ("control.handoff"),
 * in the runtime directory that systemd keeps across restarts. */
#pragma once

#include <glib.h>

#include "daemon/peripheral.h"

G_BEGIN_DECLS

/* "<socket_path>.handoff" */
char *bp_handoff_path (const char *socket_path);

/* Writes the file (atomically); n_values and n_writes get what it holds. */
gboolean bp_handoff_save (BpPeripheral *p, const char *path, guint *n_values, guint *n_writes, GError **error);

/* Restores a file saved by bp_handoff_save into p's characteristics of the
 * same name (values that no longer fit the configuration are left out, with
 * a warning) and removes it. No file: TRUE, nothing restored. */
gboolean bp_handoff_restore (BpPeripheral *p, const char *path, guint *n_values, guint *n_writes, GError **error);

G_END_DECLS
