/* The service manager: readiness, status lines, the watchdog and socket
 * activation, spoken as sd_notify(3) and sd_listen_fds(3) describe (the
 * daemon does not link libsystemd: service.c says why). Outside a service
 * manager (no NOTIFY_SOCKET, no WATCHDOG_USEC, no LISTEN_FDS) every call
 * does nothing. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* READY=1: the control socket listens and the bus connection is up. Also
 * ends a reload. */
void bp_service_ready (void);
/* RELOADING=1 (with MONOTONIC_USEC), at SIGHUP; bp_service_ready() ends it. */
void bp_service_reloading (void);
/* STOPPING=1 and STATUS=stopping. */
void bp_service_stopping (void);
/* STATUS=text (one line), sent only when it changed. */
void bp_service_status (const char *text);
/* When the manager asked for a watchdog (WATCHDOG_USEC, and WATCHDOG_PID
 * naming this process if set), sends WATCHDOG=1 now and from the main loop
 * every half interval. Returns that period in ms, or 0 for no watchdog. */
guint bp_service_start_watchdog (void);
/* The control socket passed by socket activation (LISTEN_FDS=1 for this
 * process: a listening stream Unix socket at fd 3), or -1: then the daemon
 * binds its socket itself. */
int bp_service_listen_fd (void);

G_END_DECLS
