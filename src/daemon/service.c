#define G_LOG_DOMAIN "service"

#include "build-config.h"

#include "daemon/service.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

/* The service manager's protocols are spoken here directly rather than
 * through libsystemd: all three are small, documented and stable
 * (sd_notify(3), sd_listen_fds(3), sd_watchdog_enabled(3) describe them),
 * and libsystemd would bring its own dependencies (on Debian 12 libgcrypt,
 * liblzma, liblz4, libzstd, libcap) into the daemon for these few lines:
 * about 1.2 MiB of resident memory and six libraries of attack surface. */

/* The first fd passed by socket activation. */
#define LISTEN_FDS_START 3

static char *last_status;
static int notify_fd = -1;
static gboolean notify_disabled;

/* NOTIFY_SOCKET as an address: a path, or "@name" for the abstract
 * namespace. FALSE for anything else (such as "vsock:…", which only a
 * service manager in a virtual machine's host uses). */
static gboolean
notify_address (const char *text, struct sockaddr_un *addr, socklen_t *len)
{
  size_t n = strlen (text);

  memset (addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if ((text[0] != '/' && text[0] != '@') || n < 2 || n > sizeof addr->sun_path)
    return FALSE;
  /* A path needs its NUL inside sun_path; an abstract name does not. */
  if (text[0] == '/' && n == sizeof addr->sun_path)
    return FALSE;
  memcpy (addr->sun_path, text, n);
  if (text[0] == '@')
    addr->sun_path[0] = '\0';
  *len = (socklen_t) (offsetof (struct sockaddr_un, sun_path) + n + (text[0] == '/' ? 1 : 0));
  return TRUE;
}

static void
notify (const char *state)
{
  const char *socket_path = g_getenv ("NOTIFY_SOCKET");
  struct sockaddr_un addr;
  socklen_t len;

  if (socket_path == NULL || notify_disabled)
    return;
  if (!notify_address (socket_path, &addr, &len))
    {
      notify_disabled = TRUE;
      g_warning (
        "NOTIFY_SOCKET=%s is not a Unix socket path or @abstract name: "
        "no readiness, status or watchdog notifications",
        socket_path);
      return;
    }
  if (notify_fd < 0)
    {
      /* Blocking, with a bound: a datagram to a manager whose queue is full
       * waits rather than being dropped (a lost READY=1 fails the start),
       * but a stuck manager cannot hold the main loop for long. */
      struct timeval limit = { .tv_sec = 2 };

      notify_fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
      if (notify_fd < 0)
        {
          g_debug ("notify socket: %s", g_strerror (errno));
          return;
        }
      setsockopt (notify_fd, SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
    }
  /* The manager learns our pid from the credentials the kernel attaches
   * (it sets SO_PASSCRED), so nothing but the text is sent. The address is
   * given each time: a re-executed manager binds the same path anew. */
  if (sendto (notify_fd, state, strlen (state), MSG_NOSIGNAL, (struct sockaddr *) &addr, len) < 0)
    g_debug ("notify %s: %s", state, g_strerror (errno));
}

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
  g_autofree char *state = g_strdup_printf ("RELOADING=1\nMONOTONIC_USEC=%" G_GINT64_FORMAT, g_get_monotonic_time ());
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

/* A decimal variable of the environment as a positive number, or 0 when
 * unset, empty, not a number or out of range. */
static guint64
env_number (const char *name)
{
  const char *text = g_getenv (name);
  guint64 value = 0;

  if (text == NULL || !g_ascii_string_to_unsigned (text, 10, 1, G_MAXUINT64, &value, NULL))
    return 0;
  return value;
}

static guint watchdog_source;

static gboolean
watchdog_ping (gpointer user_data)
{
  notify ("WATCHDOG=1");
  return G_SOURCE_CONTINUE;
}

guint
bp_service_start_watchdog (void)
{
  guint64 usec = env_number ("WATCHDOG_USEC");
  guint interval_ms;

  if (watchdog_source != 0 || usec == 0)
    return 0;
  /* A watchdog asked of another process (our parent) is not ours to feed. */
  if (g_getenv ("WATCHDOG_PID") != NULL && env_number ("WATCHDOG_PID") != (guint64) getpid ())
    return 0;
  interval_ms = (guint) CLAMP (usec / 2000, 1, G_MAXUINT);
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
}

static gboolean
is_listening_unix_stream (int fd)
{
  struct sockaddr_un addr;
  socklen_t len = sizeof addr;
  int type = 0, listening = 0;
  socklen_t olen = sizeof type;

  if (getsockopt (fd, SOL_SOCKET, SO_TYPE, &type, &olen) < 0 || type != SOCK_STREAM)
    return FALSE;
  olen = sizeof listening;
  if (getsockopt (fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &olen) < 0 || !listening)
    return FALSE;
  memset (&addr, 0, sizeof addr);
  return getsockname (fd, (struct sockaddr *) &addr, &len) == 0 && addr.sun_family == AF_UNIX;
}

int
bp_service_listen_fd (void)
{
  gboolean ours = g_getenv ("LISTEN_PID") != NULL && env_number ("LISTEN_PID") == (guint64) getpid ();
  guint64 n = ours ? env_number ("LISTEN_FDS") : 0;

  /* Not passed on to anything the daemon might start. */
  g_unsetenv ("LISTEN_PID");
  g_unsetenv ("LISTEN_FDS");
  g_unsetenv ("LISTEN_FDNAMES");
  if (n == 0)
    return -1;
  if (n > 1)
    g_warning ("socket activation passed %" G_GUINT64_FORMAT " sockets; using the first", n);
  for (guint64 i = 0; i < n && i < 64; i++)
    {
      int fd = LISTEN_FDS_START + (int) i;
      int flags = fcntl (fd, F_GETFD);

      if (flags < 0)
        {
          g_warning ("socket activation: fd %d: %s", fd, g_strerror (errno));
          return -1;
        }
      fcntl (fd, F_SETFD, flags | FD_CLOEXEC);
    }
  if (!is_listening_unix_stream (LISTEN_FDS_START))
    {
      g_warning (
        "socket activation: the passed fd is not a listening stream Unix socket; "
        "binding the control socket myself");
      return -1;
    }
  g_info ("socket activation: using the control socket passed as fd %d", LISTEN_FDS_START);
  return LISTEN_FDS_START;
}
