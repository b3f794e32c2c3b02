/* systemd: readiness, status lines, the watchdog and socket activation.
 * Without systemd (or libsystemd) every call does nothing. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

void bp_service_ready (void);
void bp_service_reloading (void);
void bp_service_stopping (void);
/* STATUS=text, sent only when it changed. */
void bp_service_status (const char *text);
/* Starts WATCHDOG=1 pings from the main loop at half WatchdogSec, when the
 * manager asked for a watchdog. */
void bp_service_start_watchdog (void);
/* The control socket passed by socket activation, or -1. */
int bp_service_listen_fd (void);

G_END_DECLS
