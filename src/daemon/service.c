#define G_LOG_DOMAIN "service"

#include "config.h"

#include "daemon/service.h"

#include <sys/socket.h>

#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

static char *last_status;

#if HAVE_LIBSYSTEMD
static void
notify (const char *state)
{
  int r = sd_notify (0, state);

  if (r < 0)
    g_debug ("sd_notify %s: %s", state, g_strerror (-r));
}
#else
static void
notify (const char *state)
{
  static gboolean warned;

  /* A unit of Type=notify would wait for READY=1 in vain: say why. */
  if (!warned && g_getenv ("NOTIFY_SOCKET") != NULL)
    {
      warned = TRUE;
      g_warning ("NOTIFY_SOCKET is set, but this ble-peripheral was built without libsystemd: "
                 "no readiness, status or watchdog notifications");
    }
}
#endif

void
bp_service_ready (void)
{
  notify ("READY=1");
}

void
bp_service_reloading (void)
{
  /* MONOTONIC_USEC lets a Type=notify-reload manager (systemd 253+) match
   * this RELOADING=1 with the SIGHUP it sent; older managers ignore it. */
  g_autofree char *state = g_strdup_printf ("RELOADING=1\nMONOTONIC_USEC=%" G_GINT64_FORMAT,
                                            g_get_monotonic_time ());
  notify (state);
}

void
bp_service_stopping (void)
{
  g_free (last_status);
  last_status = g_strdup ("stopping");
  notify ("STOPPING=1\nSTATUS=stopping");
}

void
bp_service_status (const char *text)
{
  g_autofree char *state = NULL;

  if (text == NULL || g_strcmp0 (text, last_status) == 0)
    return;
  g_free (last_status);
  last_status = g_strdup (text);
  /* A newline would start another KEY=VALUE assignment. */
  state = g_strconcat ("STATUS=", text, NULL);
  g_strdelimit (state, "\n", ' ');
  notify (state);
}

#if HAVE_LIBSYSTEMD
static guint watchdog_source;

static gboolean
watchdog_ping (gpointer user_data)
{
  notify ("WATCHDOG=1");
  return G_SOURCE_CONTINUE;
}
#endif

guint
bp_service_start_watchdog (void)
{
#if HAVE_LIBSYSTEMD
  uint64_t usec = 0;
  guint interval_ms;

  /* sd_watchdog_enabled() checks WATCHDOG_PID too: a watchdog asked of
   * another process (our parent) is not ours to feed. */
  if (watchdog_source != 0 || sd_watchdog_enabled (0, &usec) <= 0 || usec == 0)
    return 0;
  interval_ms = (guint) MAX (usec / 2000, 1);
  g_info ("watchdog: pinging every %u ms", interval_ms);
  notify ("WATCHDOG=1");
  /* Seconds granularity lets GLib coalesce wake-ups; it may fire up to a
   * second late, which only a long interval can absorb. */
  if (interval_ms >= 5000)
    watchdog_source = g_timeout_add_seconds (interval_ms / 1000, watchdog_ping, NULL);
  else
    watchdog_source = g_timeout_add (interval_ms, watchdog_ping, NULL);
  g_source_set_name_by_id (watchdog_source, "[ble-peripheral] watchdog");
  return interval_ms;
#else
  return 0;
#endif
}

int
bp_service_listen_fd (void)
{
#if HAVE_LIBSYSTEMD
  /* Also clears LISTEN_PID/LISTEN_FDS/LISTEN_FDNAMES and sets FD_CLOEXEC. */
  int n = sd_listen_fds (1);

  if (n < 0)
    {
      g_warning ("socket activation: %s", g_strerror (-n));
      return -1;
    }
  if (n >= 1)
    {
      if (n > 1)
        g_warning ("socket activation passed %d sockets; using the first", n);
      if (sd_is_socket_unix (SD_LISTEN_FDS_START, SOCK_STREAM, 1, NULL, 0) <= 0)
        {
          g_warning ("socket activation: the passed fd is not a listening stream Unix socket; "
                     "binding the control socket myself");
          return -1;
        }
      g_info ("socket activation: using the control socket passed as fd %d", SD_LISTEN_FDS_START);
      return SD_LISTEN_FDS_START;
    }
#endif
  return -1;
}
