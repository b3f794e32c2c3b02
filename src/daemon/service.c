#define G_LOG_DOMAIN "service"

#include "config.h"

#include "daemon/service.h"

#include <sys/socket.h>
#include <sys/stat.h>

#if HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

static char *last_status;

void
bp_service_ready (void)
{
#if HAVE_LIBSYSTEMD
  sd_notify (0, "READY=1");
#endif
}

void
bp_service_reloading (void)
{
#if HAVE_LIBSYSTEMD
  sd_notify (0, "RELOADING=1");
#endif
}

void
bp_service_stopping (void)
{
#if HAVE_LIBSYSTEMD
  sd_notify (0, "STOPPING=1");
#endif
}

void
bp_service_status (const char *text)
{
  if (g_strcmp0 (text, last_status) == 0)
    return;
  g_free (last_status);
  last_status = g_strdup (text);
#if HAVE_LIBSYSTEMD
  sd_notifyf (0, "STATUS=%s", text);
#endif
}

#if HAVE_LIBSYSTEMD
static gboolean
watchdog_ping (gpointer user_data)
{
  sd_notify (0, "WATCHDOG=1");
  return G_SOURCE_CONTINUE;
}
#endif

void
bp_service_start_watchdog (void)
{
#if HAVE_LIBSYSTEMD
  uint64_t usec = 0;

  if (sd_watchdog_enabled (0, &usec) > 0 && usec > 0)
    {
      guint interval_ms = (guint) MAX (usec / 2000, 1);

      g_info ("watchdog: pinging every %u ms", interval_ms);
      sd_notify (0, "WATCHDOG=1");
      /* Seconds granularity coalesces wake-ups when the interval allows it. */
      if (interval_ms >= 2000)
        g_timeout_add_seconds (interval_ms / 1000, watchdog_ping, NULL);
      else
        g_timeout_add (interval_ms, watchdog_ping, NULL);
    }
#endif
}

int
bp_service_listen_fd (void)
{
#if HAVE_LIBSYSTEMD
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
          g_warning ("socket activation: the passed fd is not a listening stream Unix socket");
          return -1;
        }
      return SD_LISTEN_FDS_START;
    }
#endif
  return -1;
}
