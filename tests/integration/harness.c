/* The integration-test harness: see harness.h. */
#define G_LOG_DOMAIN "harness"

#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <glib-unix.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define CONTROL_LINE_MAX 8192

/* --- control socket client ------------------------------------------------------ */

struct _BpControl {
  int fd;
  guint read_watch;
  GString *inbuf;
  GQueue replies; /* of char* */
  GQueue events;  /* of char* */
  gboolean closed;
};

static void
control_take_lines (BpControl *c)
{
  char *nl;

  while ((nl = memchr (c->inbuf->str, '\n', c->inbuf->len)) != NULL)
    {
      gsize n = nl - c->inbuf->str;
      char *line = g_strndup (c->inbuf->str, n);

      g_string_erase (c->inbuf, 0, n + 1);
      if (g_str_has_prefix (line, "event ") || g_strcmp0 (line, "event") == 0)
        g_queue_push_tail (&c->events, line);
      else
        g_queue_push_tail (&c->replies, line);
    }
}

static gboolean
control_readable_cb (int fd, GIOCondition cond, gpointer data)
{
  BpControl *c = data;
  char buf[65536];

  for (;;)
    {
      ssize_t n = read (fd, buf, sizeof buf);

      if (n > 0)
        {
          g_string_append_len (c->inbuf, buf, n);
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        break;
      /* end of stream or error */
      c->closed = TRUE;
      c->read_watch = 0;
      control_take_lines (c);
      return G_SOURCE_REMOVE;
    }
  control_take_lines (c);
  return G_SOURCE_CONTINUE;
}

BpControl *
bp_control_connect (const char *socket_path, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  BpControl *c;
  int fd;

  if (strlen (socket_path) >= sizeof addr.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG, "%s: path too long", socket_path);
      return NULL;
    }
  strcpy (addr.sun_path, socket_path);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      int saved = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "connecting to %s: %s", socket_path,
                   g_strerror (saved));
      return NULL;
    }
  c = g_new0 (BpControl, 1);
  c->fd = fd;
  c->inbuf = g_string_new (NULL);
  g_queue_init (&c->replies);
  g_queue_init (&c->events);
  c->read_watch = g_unix_fd_add (fd, G_IO_IN | G_IO_HUP | G_IO_ERR, control_readable_cb, c);
  return c;
}

void
bp_control_free (BpControl *c)
{
  if (c == NULL)
    return;
  if (c->read_watch != 0)
    g_source_remove (c->read_watch);
  close (c->fd);
  g_queue_clear_full (&c->replies, g_free);
  g_queue_clear_full (&c->events, g_free);
  g_string_free (c->inbuf, TRUE);
  g_free (c);
}

static gboolean
writable_cb (int fd, GIOCondition cond, gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
bp_control_send (BpControl *c, const char *line, GError **error)
{
  g_autofree char *msg = g_strconcat (line, "\n", NULL);
  gsize len = strlen (msg), done = 0;

  while (done < len)
    {
      ssize_t n = send (c->fd, msg + done, len - done, MSG_NOSIGNAL);

      if (n >= 0)
        {
          done += n;
          continue;
        }
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        {
          /* The daemon is not reading: keep serving the main context (the
           * stand-in, our own reading) until it does. */
          gboolean writable = FALSE;
          guint id = g_unix_fd_add (c->fd, G_IO_OUT | G_IO_ERR | G_IO_HUP, writable_cb, &writable);
          gboolean ok = FAKE_WAIT_UNTIL (writable, BP_WAIT_MS);

          if (!writable)
            g_source_remove (id);
          if (!ok)
            {
              g_set_error (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT, "the daemon does not read its socket");
              return FALSE;
            }
          continue;
        }
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (errno), "sending \"%s\": %s", line, g_strerror (errno));
      return FALSE;
    }
  return TRUE;
}

char *
bp_control_read_reply (BpControl *c, guint timeout_ms)
{
  FAKE_WAIT_UNTIL (!g_queue_is_empty (&c->replies) || c->closed, timeout_ms);
  return g_queue_pop_head (&c->replies);
}

static char *
control_request_va (BpControl *c, const char *format, va_list ap)
{
  g_autofree char *line = g_strdup_vprintf (format, ap);
  g_autoptr (GError) error = NULL;
  char *reply;

  if (!bp_control_send (c, line, &error))
    {
      g_test_message ("control: %s", error->message);
      return NULL;
    }
  reply = bp_control_read_reply (c, BP_WAIT_MS);
  if (reply == NULL)
    g_test_message ("control: no reply to \"%.200s\" (%s)", line, c->closed ? "connection closed" : "timeout");
  return reply;
}

char *
bp_control_request (BpControl *c, const char *format, ...)
{
  va_list ap;
  char *reply;

  va_start (ap, format);
  reply = control_request_va (c, format, ap);
  va_end (ap);
  return reply;
}

char *
bp_control_assert_ok_ (BpControl *c, const char *file, int line, const char *func, const char *format, ...)
{
  va_list ap;
  char *reply;

  va_start (ap, format);
  reply = control_request_va (c, format, ap);
  va_end (ap);
  if (reply == NULL || !(g_str_equal (reply, "ok") || g_str_has_prefix (reply, "ok ")))
    {
      g_autofree char *request = NULL;
      g_autofree char *msg = NULL;

      va_start (ap, format);
      request = g_strdup_vprintf (format, ap);
      va_end (ap);
      msg = g_strdup_printf ("request \"%.200s\": expected ok, got %s", request, reply ? reply : "(nothing)");
      g_assertion_message (G_LOG_DOMAIN, file, line, func, msg);
    }
  return reply;
}

char *
bp_control_next_event (BpControl *c, guint timeout_ms)
{
  FAKE_WAIT_UNTIL (!g_queue_is_empty (&c->events) || c->closed, timeout_ms);
  return g_queue_pop_head (&c->events);
}

char *
bp_control_wait_event (BpControl *c, const char *prefix, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  for (;;)
    {
      gint64 left = (deadline - g_get_monotonic_time ()) / 1000;
      g_autofree char *event = bp_control_next_event (c, left > 0 ? (guint) left : 0);

      if (event == NULL)
        return NULL;
      if (g_str_has_prefix (event, prefix))
        return g_steal_pointer (&event);
      g_test_message ("control: skipping \"%s\" while waiting for \"%s\"", event, prefix);
    }
}

guint
bp_control_count_events (BpControl *c)
{
  return g_queue_get_length (&c->events);
}

gboolean
bp_control_is_closed (BpControl *c)
{
  return c->closed;
}

/* --- child processes ----------------------------------------------------------- */

static void
child_setup (gpointer data)
{
  /* Nothing may outlive a test that aborts. */
  prctl (PR_SET_PDEATHSIG, SIGKILL);
}

typedef struct {
  GSubprocess *proc;
  GDataInputStream *out;
  GCancellable *cancellable;
  GString *log;
  const char *prefix;
  gboolean eof;
  gboolean exited;
} ChildOutput;

static void read_next_line (ChildOutput *o);

static void
line_read_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  ChildOutput *o = data;
  g_autoptr (GError) error = NULL;
  gsize len = 0;
  g_autofree char *line = g_data_input_stream_read_line_finish (G_DATA_INPUT_STREAM (source), res, &len, &error);

  if (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return; /* o may be gone */
  if (line == NULL)
    {
      o->eof = TRUE;
      return;
    }
  g_string_append_len (o->log, line, len);
  g_string_append_c (o->log, '\n');
  g_printerr ("%s%s\n", o->prefix, line);
  read_next_line (o);
}

static void
read_next_line (ChildOutput *o)
{
  g_data_input_stream_read_line_async (o->out, G_PRIORITY_DEFAULT, o->cancellable, line_read_cb, o);
}

static void
child_exited_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  ChildOutput *o = data;
  g_autoptr (GError) error = NULL;

  if (!g_subprocess_wait_finish (G_SUBPROCESS (source), res, &error) &&
      g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
    return;
  o->exited = TRUE;
}

static GSubprocessLauncher *
launcher_new (GSubprocessFlags flags, const char *bus_address)
{
  GSubprocessLauncher *l = g_subprocess_launcher_new (flags);

  g_subprocess_launcher_set_child_setup (l, child_setup, NULL, NULL);
  g_subprocess_launcher_unsetenv (l, "NOTIFY_SOCKET");
  g_subprocess_launcher_unsetenv (l, "DBUS_SESSION_BUS_ADDRESS");
  g_subprocess_launcher_unsetenv (l, "BLE_PERIPHERAL_SOCKET");
  g_subprocess_launcher_unsetenv (l, "JOURNAL_STREAM");
  g_subprocess_launcher_unsetenv (l, "RUNTIME_DIRECTORY");
  if (bus_address != NULL)
    g_subprocess_launcher_setenv (l, "DBUS_SYSTEM_BUS_ADDRESS", bus_address, TRUE);
  else
    /* Never the machine's own bus. */
    g_subprocess_launcher_setenv (l, "DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/bp-test-bus", TRUE);
  return l;
}

static void
child_output_start (ChildOutput *o, GSubprocess *proc, const char *prefix)
{
  o->proc = g_object_ref (proc);
  o->cancellable = g_cancellable_new ();
  o->log = g_string_new (NULL);
  o->prefix = prefix;
  o->out = g_data_input_stream_new (g_subprocess_get_stdout_pipe (proc));
  read_next_line (o);
  g_subprocess_wait_async (proc, o->cancellable, child_exited_cb, o);
}

static void
child_output_clear (ChildOutput *o)
{
  if (o->proc != NULL && !o->exited)
    {
      g_subprocess_force_exit (o->proc);
      FAKE_WAIT_UNTIL (o->exited, BP_WAIT_MS);
    }
  if (o->cancellable != NULL)
    g_cancellable_cancel (o->cancellable);
  g_clear_object (&o->cancellable);
  g_clear_object (&o->out);
  g_clear_object (&o->proc);
  if (o->log != NULL)
    g_string_free (g_steal_pointer (&o->log), TRUE);
}

/* --- the bus --------------------------------------------------------------------- */

struct _BpBus {
  ChildOutput output;
  char *address;
  char *config_path;
};

static const char bus_config[] =
  "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n"
  " \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n"
  "<busconfig>\n"
  "  <listen>unix:path=%s</listen>\n"
  "  <auth>EXTERNAL</auth>\n"
  "  <policy context=\"default\">\n"
  "    <allow user=\"*\"/>\n"
  "    <allow own=\"*\"/>\n"
  "    <allow send_destination=\"*\" eavesdrop=\"true\"/>\n"
  "    <allow eavesdrop=\"true\"/>\n"
  "  </policy>\n"
  "</busconfig>\n";

BpBus *
bp_bus_start (const char *dir, GError **error)
{
  g_autoptr (BpBus) bus = g_new0 (BpBus, 1);
  g_autoptr (GSubprocessLauncher) l = NULL;
  g_autoptr (GSubprocess) proc = NULL;
  g_autofree char *socket_path = g_build_filename (dir, "bus", NULL);
  g_autofree char *text = g_strdup_printf (bus_config, socket_path);
  g_autofree char *config_arg = NULL;
  const char *nl;

  bus->config_path = g_build_filename (dir, "bus.conf", NULL);
  if (!g_file_set_contents (bus->config_path, text, -1, error))
    return NULL;
  config_arg = g_strconcat ("--config-file=", bus->config_path, NULL);
  l = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, NULL);
  proc = g_subprocess_launcher_spawn (l, error, "dbus-daemon", config_arg, "--nofork", "--nopidfile", "--nosyslog",
                                      "--print-address=1", NULL);
  if (proc == NULL)
    return NULL;
  child_output_start (&bus->output, proc, "[dbus-daemon] ");
  /* Its first line is the address it listens on. */
  if (!FAKE_WAIT_UNTIL (strchr (bus->output.log->str, '\n') != NULL || bus->output.eof, 10000) ||
      (nl = strchr (bus->output.log->str, '\n')) == NULL)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FAILED, "dbus-daemon did not start: %s", bus->output.log->str);
      return NULL;
    }
  bus->address = g_strndup (bus->output.log->str, nl - bus->output.log->str);
  return g_steal_pointer (&bus);
}

const char *
bp_bus_get_address (BpBus *bus)
{
  return bus->address;
}

void
bp_bus_send_signal (BpBus *bus, int signum)
{
  if (bus->output.proc != NULL && !bus->output.exited)
    g_subprocess_send_signal (bus->output.proc, signum);
}

void
bp_bus_free (BpBus *bus)
{
  if (bus == NULL)
    return;
  if (bus->output.proc != NULL && !bus->output.exited)
    {
      g_subprocess_send_signal (bus->output.proc, SIGTERM);
      FAKE_WAIT_UNTIL (bus->output.exited, BP_WAIT_MS);
    }
  child_output_clear (&bus->output);
  g_free (bus->address);
  g_free (bus->config_path);
  g_free (bus);
}

/* --- the daemon ---------------------------------------------------------------- */

struct _BpDaemon {
  ChildOutput output;
  int notify_fd; /* -1 without NOTIFY_SOCKET */
  guint notify_watch;
  GString *notifications;
  gboolean ready;
};

static gboolean
notify_readable_cb (int fd, GIOCondition cond, gpointer data)
{
  BpDaemon *d = data;
  char buf[4096];
  ssize_t n;

  while ((n = recv (fd, buf, sizeof buf - 1, MSG_DONTWAIT)) > 0)
    {
      buf[n] = '\0';
      g_string_append_printf (d->notifications, "%s\n", buf);
      for (char *line = buf; line != NULL && *line != '\0';)
        {
          char *nl = strchr (line, '\n');
          if (nl != NULL)
            *nl = '\0';
          if (g_str_equal (line, "READY=1"))
            d->ready = TRUE;
          line = nl ? nl + 1 : NULL;
        }
    }
  return G_SOURCE_CONTINUE;
}

static int
notify_socket_open (const char *path, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  if (strlen (path) >= sizeof addr.sun_path)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG, "%s: path too long", path);
      return -1;
    }
  strcpy (addr.sun_path, path);
  fd = socket (AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    {
      int saved = errno;
      if (fd >= 0)
        close (fd);
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "%s: %s", path, g_strerror (saved));
      return -1;
    }
  return fd;
}

guint
bp_wait_scale (void)
{
  static guint scale;

  if (scale == 0)
    {
      guint64 v = 1;

      if (g_getenv ("BP_WAIT_SCALE") != NULL)
        g_ascii_string_to_unsigned (g_getenv ("BP_WAIT_SCALE"), 10, 1, 20, &v, NULL);
      scale = (guint) v;
    }
  return scale;
}

char *
bp_daemon_path (void)
{
  const char *explicit_path = g_getenv ("BP_DAEMON");
  const char *build_root = g_getenv ("BP_BUILD_ROOT");

  if (explicit_path != NULL && *explicit_path != '\0')
    return g_strdup (explicit_path);
  if (build_root == NULL)
    g_error ("BP_BUILD_ROOT is not set: run the integration tests with meson test");
  return g_build_filename (build_root, "src", "daemon", "ble-peripheral", NULL);
}

BpDaemon *
bp_daemon_spawn (const char *bus_address, const char *const *args, GError **error)
{
  return bp_daemon_spawn_notify (bus_address, args, NULL, error);
}

BpDaemon *
bp_daemon_spawn_notify (const char *bus_address, const char *const *args, const char *notify_socket_path,
                        GError **error)
{
  g_autoptr (GSubprocessLauncher) l = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE,
                                                    bus_address);
  int notify_fd = -1;
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GSubprocess) proc = NULL;
  g_autofree char *cmdline = NULL;
  BpDaemon *d;

  /* BP_DAEMON_WRAPPER: a command line the daemon runs under (the valgrind
   * suite: memcheck). */
  if (g_getenv ("BP_DAEMON_WRAPPER") != NULL && *g_getenv ("BP_DAEMON_WRAPPER") != '\0')
    {
      g_auto (GStrv) wrapper = NULL;

      if (!g_shell_parse_argv (g_getenv ("BP_DAEMON_WRAPPER"), NULL, &wrapper, error))
        return NULL;
      for (guint i = 0; wrapper[i] != NULL; i++)
        g_ptr_array_add (argv, g_strdup (wrapper[i]));
    }
  g_ptr_array_add (argv, bp_daemon_path ());
  for (guint i = 0; args != NULL && args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);
  cmdline = g_strjoinv (" ", (char **) argv->pdata);
  g_test_message ("running %s", cmdline);
  if (notify_socket_path != NULL)
    {
      notify_fd = notify_socket_open (notify_socket_path, error);
      if (notify_fd < 0)
        return NULL;
      g_subprocess_launcher_setenv (l, "NOTIFY_SOCKET", notify_socket_path, TRUE);
    }
  proc = g_subprocess_launcher_spawnv (l, (const char *const *) argv->pdata, error);
  if (proc == NULL)
    {
      if (notify_fd >= 0)
        close (notify_fd);
      return NULL;
    }
  d = g_new0 (BpDaemon, 1);
  d->notify_fd = notify_fd;
  d->notifications = g_string_new (NULL);
  if (notify_fd >= 0)
    d->notify_watch = g_unix_fd_add (notify_fd, G_IO_IN, notify_readable_cb, d);
  child_output_start (&d->output, proc, "[ble-peripheral] ");
  return d;
}

void
bp_daemon_free (BpDaemon *d)
{
  if (d == NULL)
    return;
  child_output_clear (&d->output);
  if (d->notify_watch != 0)
    g_source_remove (d->notify_watch);
  if (d->notify_fd >= 0)
    close (d->notify_fd);
  g_string_free (d->notifications, TRUE);
  g_free (d);
}

static gboolean
tick_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

gboolean
bp_daemon_wait_socket (BpDaemon *d, const char *socket_path, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  /* The socket is bound and listened on in one step by the daemon; until
   * then a connection is refused. Retry every 10 ms, bounded. */
  while (!d->output.exited)
    {
      g_autoptr (BpControl) c = bp_control_connect (socket_path, NULL);
      gboolean tick = FALSE;

      if (c != NULL)
        return TRUE;
      if (g_get_monotonic_time () >= deadline)
        return FALSE;
      g_timeout_add (10, tick_cb, &tick);
      FAKE_WAIT_UNTIL (tick, 1000);
    }
  return FALSE;
}

gboolean
bp_daemon_wait_ready (BpDaemon *d, const char *socket_path, guint timeout_ms)
{
  g_return_val_if_fail (d->notify_fd >= 0, FALSE);
  if (!FAKE_WAIT_UNTIL (d->ready || d->output.exited, timeout_ms) || d->output.exited)
    return FALSE;
  return bp_daemon_wait_socket (d, socket_path, timeout_ms);
}

const char *
bp_daemon_get_notifications (BpDaemon *d)
{
  return d->notifications->str;
}

void
bp_daemon_send_signal (BpDaemon *d, int signum)
{
  g_subprocess_send_signal (d->output.proc, signum);
}

gboolean
bp_daemon_has_exited (BpDaemon *d)
{
  return d->output.exited;
}

gboolean
bp_daemon_wait_exit (BpDaemon *d, guint timeout_ms)
{
  if (!FAKE_WAIT_UNTIL (d->output.exited, timeout_ms))
    return FALSE;
  /* What it wrote last is still in the pipe. */
  FAKE_WAIT_UNTIL (d->output.eof, 2000);
  return TRUE;
}

int
bp_daemon_get_exit_status (BpDaemon *d, int *signum)
{
  g_return_val_if_fail (d->output.exited, -1);
  if (g_subprocess_get_if_exited (d->output.proc))
    return g_subprocess_get_exit_status (d->output.proc);
  if (signum != NULL)
    *signum = g_subprocess_get_term_sig (d->output.proc);
  return -1;
}

const char *
bp_daemon_get_log (BpDaemon *d)
{
  return d->output.log->str;
}

gsize
bp_daemon_get_log_length (BpDaemon *d)
{
  return d->output.log->len;
}

gboolean
bp_daemon_wait_log (BpDaemon *d, gsize from, const char *needle, guint timeout_ms)
{
  return FAKE_WAIT_UNTIL (strstr (d->output.log->str + MIN (from, d->output.log->len), needle) != NULL ||
                            (d->output.exited && d->output.eof),
                          timeout_ms) &&
         strstr (d->output.log->str + MIN (from, d->output.log->len), needle) != NULL;
}

char *
bp_daemon_wait_log_line (BpDaemon *d, gsize from, const char *needle, guint timeout_ms)
{
  const char *hit, *start, *end;

  if (!bp_daemon_wait_log (d, from, needle, timeout_ms))
    return NULL;
  /* The log holds whole lines only. */
  hit = strstr (d->output.log->str + MIN (from, d->output.log->len), needle);
  start = hit;
  while (start > d->output.log->str && start[-1] != '\n')
    start--;
  end = strchr (hit, '\n');
  return g_strndup (start, end ? (gsize) (end - start) : strlen (start));
}

/* --- short runs ----------------------------------------------------------------- */

typedef struct {
  gboolean done;
  GBytes *out;
  GBytes *err;
} Communicate;

static void
communicate_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  Communicate *c = data;

  g_subprocess_communicate_finish (G_SUBPROCESS (source), res, &c->out, &c->err, NULL);
  c->done = TRUE;
}

static void
wait_cb (GObject *source, GAsyncResult *res, gpointer data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), res, NULL);
  *(gboolean *) data = TRUE;
}

static char *
bytes_to_string (GBytes *bytes)
{
  gsize len = 0;
  const char *data = bytes ? g_bytes_get_data (bytes, &len) : NULL;

  return g_strndup (data ? data : "", len);
}

BpRun *
bp_run_daemon (const char *const *args, guint timeout_ms)
{
  g_autoptr (GSubprocessLauncher) l = launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE,
                                                    NULL);
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GSubprocess) proc = NULL;
  g_autoptr (GError) error = NULL;
  Communicate c = { 0 };
  gboolean exited = FALSE;
  BpRun *run = g_new0 (BpRun, 1);

  g_ptr_array_add (argv, bp_daemon_path ());
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);
  proc = g_subprocess_launcher_spawnv (l, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_async (proc, NULL, NULL, communicate_cb, &c);
  g_subprocess_wait_async (proc, NULL, wait_cb, &exited);
  if (!FAKE_WAIT_UNTIL (c.done && exited, timeout_ms))
    {
      run->timed_out = TRUE;
      g_subprocess_force_exit (proc);
      FAKE_WAIT_UNTIL (c.done && exited, BP_WAIT_MS);
    }
  g_assert_true (c.done && exited);
  run->exited = g_subprocess_get_if_exited (proc);
  if (run->exited)
    run->status = g_subprocess_get_exit_status (proc);
  else
    run->signum = g_subprocess_get_term_sig (proc);
  run->out = bytes_to_string (c.out);
  run->err = bytes_to_string (c.err);
  g_clear_pointer (&c.out, g_bytes_unref);
  g_clear_pointer (&c.err, g_bytes_unref);
  return run;
}

void
bp_run_free (BpRun *run)
{
  if (run == NULL)
    return;
  g_free (run->out);
  g_free (run->err);
  g_free (run);
}

/* --- test cases ---------------------------------------------------------------- */

#define CASE_TIMEOUT_US (60 * G_USEC_PER_SEC)

void
bp_test_init (int *argc, char ***argv)
{
  /* A case's own process is verbose, so that its messages reach the log. */
  if (g_strv_contains ((const char *const *) *argv, "--GTestSubprocess") &&
      !g_strv_contains ((const char *const *) *argv, "--verbose"))
    {
      char **with_verbose = g_new0 (char *, *argc + 2);

      memcpy (with_verbose, *argv, *argc * sizeof (char *));
      with_verbose[(*argc)++] = (char *) "--verbose";
      *argv = with_verbose; /* lives as long as the process */
    }
  g_test_init (argc, argv, NULL);
  if (!g_test_subprocess ())
    g_test_set_nonfatal_assertions ();
}

static void
run_isolated (gconstpointer data)
{
  GTestFunc func = (GTestFunc) data;

  if (g_test_subprocess ())
    {
      func ();
      return;
    }
  g_test_trap_subprocess (NULL, CASE_TIMEOUT_US, G_TEST_SUBPROCESS_INHERIT_STDOUT | G_TEST_SUBPROCESS_INHERIT_STDERR);
  g_test_trap_assert_passed ();
}

void
bp_test_add (const char *path, GTestFunc func)
{
  g_test_add_data_func (path, (gconstpointer) func, run_isolated);
}

/* --- the whole setup -------------------------------------------------------------- */

static void
remove_tree (const char *path)
{
  g_autoptr (GDir) dir = g_dir_open (path, 0, NULL);
  const char *name;

  if (dir != NULL)
    while ((name = g_dir_read_name (dir)) != NULL)
      {
        g_autofree char *child = g_build_filename (path, name, NULL);
        if (g_file_test (child, G_FILE_TEST_IS_DIR) && !g_file_test (child, G_FILE_TEST_IS_SYMLINK))
          remove_tree (child);
        else
          g_unlink (child);
      }
  g_rmdir (path);
}

void
bp_harness_write_config (BpHarness *h, const char *config_text)
{
  g_autoptr (GError) error = NULL;

  g_file_set_contents (h->config_path, config_text, -1, &error);
  g_assert_no_error (error);
}

BpControl *
bp_harness_connect (BpHarness *h)
{
  g_autoptr (GError) error = NULL;
  BpControl *c = bp_control_connect (h->socket_path, &error);

  g_assert_no_error (error);
  return c;
}

static BpHarness *harness_new (const char *config_text, BpHarnessFlags flags, const char *const *extra_args,
                               guint bluez_version);

BpHarness *
bp_harness_new_full (const char *config_text, BpHarnessFlags flags, const char *const *extra_args)
{
  return harness_new (config_text, flags, extra_args, 566);
}

BpHarness *
bp_harness_new_version (const char *config_text, BpHarnessFlags flags, guint bluez_version)
{
  return harness_new (config_text, flags, NULL, bluez_version);
}

static BpHarness *
harness_new (const char *config_text, BpHarnessFlags flags, const char *const *extra_args, guint bluez_version)
{
  BpHarness *h = g_new0 (BpHarness, 1);
  g_autoptr (GError) error = NULL;
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  g_autofree char *notify_path = NULL;
  FakeBluezFlags fake_flags = FAKE_BLUEZ_FLAGS_NONE;

  h->dir = g_dir_make_tmp ("bp-test-XXXXXX", &error);
  g_assert_no_error (error);
  h->bus = bp_bus_start (h->dir, &error);
  g_assert_no_error (error);

  if (flags & BP_HARNESS_NO_ADAPTER)
    fake_flags |= FAKE_BLUEZ_FLAGS_NO_ADAPTER;
  if (flags & BP_HARNESS_EXPERIMENTAL)
    fake_flags |= FAKE_BLUEZ_FLAGS_EXPERIMENTAL;
  if (flags & BP_HARNESS_POWERED_OFF)
    fake_flags |= FAKE_BLUEZ_FLAGS_POWERED_OFF;
  h->bluez = fake_bluez_new (bp_bus_get_address (h->bus), fake_flags);
  fake_bluez_set_version (h->bluez, bluez_version / 100, bluez_version % 100);
  if (!(flags & BP_HARNESS_NO_BLUEZ))
    {
      fake_bluez_start (h->bluez, &error);
      g_assert_no_error (error);
    }

  h->config_path = g_build_filename (h->dir, "ble-peripheral.conf", NULL);
  h->socket_path = g_build_filename (h->dir, "control", NULL);
  bp_harness_write_config (h, config_text);
  if (!(flags & BP_HARNESS_ACQUIRE_SOCKETS))
    {
      g_autofree char *confd = g_build_filename (h->dir, "conf.d", NULL);
      g_autofree char *dropin = g_build_filename (confd, "00-harness.conf", NULL);

      g_assert_cmpint (g_mkdir_with_parents (confd, 0700), ==, 0);
      g_file_set_contents (dropin, "[Peripheral]\nAcquireSockets=off\n", -1, &error);
      g_assert_no_error (error);
    }
  g_ptr_array_add (args, "--config");
  g_ptr_array_add (args, h->config_path);
  g_ptr_array_add (args, "--socket");
  g_ptr_array_add (args, h->socket_path);
  g_ptr_array_add (args, "--verbose");
  for (guint i = 0; extra_args != NULL && extra_args[i] != NULL; i++)
    g_ptr_array_add (args, (gpointer) extra_args[i]);
  g_ptr_array_add (args, NULL);
  notify_path = g_build_filename (h->dir, "notify", NULL);
  h->daemon = bp_daemon_spawn_notify (bp_bus_get_address (h->bus), (const char *const *) args->pdata, notify_path,
                                      &error);
  g_assert_no_error (error);
  if (!bp_daemon_wait_ready (h->daemon, h->socket_path, 10000 * bp_wait_scale ()))
    {
      if (bp_daemon_has_exited (h->daemon))
        g_error ("the daemon exited before it was ready");
      g_error ("the daemon was not ready (READY=1, control socket %s) within %u s", h->socket_path,
               10 * bp_wait_scale ());
    }
  h->ctl = bp_harness_connect (h);

  if (!(flags & (BP_HARNESS_NO_WAIT | BP_HARNESS_NO_BLUEZ | BP_HARNESS_NO_ADAPTER)))
    g_assert_nonnull (bp_harness_wait_application (h, 0, BP_WAIT_MS));
  return h;
}

BpHarness *
bp_harness_new (const char *config_text, BpHarnessFlags flags)
{
  return bp_harness_new_full (config_text, flags, NULL);
}

void
bp_harness_stop_daemon (BpHarness *h)
{
  int status, signum = 0;

  g_assert_false (h->stopped);
  h->stopped = TRUE;
  if (!bp_daemon_has_exited (h->daemon))
    bp_daemon_send_signal (h->daemon, SIGTERM);
  if (!bp_daemon_wait_exit (h->daemon, 10000 * bp_wait_scale ()))
    g_error ("the daemon did not exit within 10 s of SIGTERM");
  status = bp_daemon_get_exit_status (h->daemon, &signum);
  if (status != 0)
    g_error ("the daemon exited with %s %d, not 0", status < 0 ? "signal" : "status", status < 0 ? signum : status);
  /* Under -Db_sanitize=undefined the daemon reports and goes on: a finding
   * fails the case all the same. (ASan and LSan change the exit status.) */
  if (strstr (bp_daemon_get_log (h->daemon), "runtime error:") != NULL)
    g_error ("the daemon's log has an undefined-behaviour report (see above)");
}

void
bp_harness_free (BpHarness *h)
{
  if (h == NULL)
    return;
  g_clear_pointer (&h->ctl, bp_control_free);
  /* In no scenario may bluetoothd have had to refuse the daemon. */
  if (h->bluez != NULL)
    bp_harness_assert_no_refusals (h);
  if (h->daemon != NULL && !h->stopped)
    bp_harness_stop_daemon (h);
  g_clear_pointer (&h->daemon, bp_daemon_free);
  g_clear_pointer (&h->bluez, fake_bluez_free);
  g_clear_pointer (&h->bus, bp_bus_free);
  remove_tree (h->dir);
  g_free (h->dir);
  g_free (h->config_path);
  g_free (h->socket_path);
  g_free (h);
}

static FakeApplication *
newest_active_application (FakeBluez *fb, guint after)
{
  FakeApplication *app = fake_bluez_get_active_application (fb);

  return app != NULL && app->serial > after ? app : NULL;
}

static FakeAdvertisement *
newest_active_advertisement (FakeBluez *fb, guint after)
{
  FakeAdvertisement *adv = fake_bluez_get_active_advertisement (fb);

  return adv != NULL && adv->serial > after ? adv : NULL;
}

FakeApplication *
bp_harness_wait_application (BpHarness *h, guint after, guint timeout_ms)
{
  FAKE_WAIT_UNTIL (newest_active_application (h->bluez, after) != NULL || bp_daemon_has_exited (h->daemon), timeout_ms);
  return newest_active_application (h->bluez, after);
}

FakeAdvertisement *
bp_harness_wait_advertisement (BpHarness *h, guint after, guint timeout_ms)
{
  FAKE_WAIT_UNTIL (newest_active_advertisement (h->bluez, after) != NULL || bp_daemon_has_exited (h->daemon),
                   timeout_ms);
  return newest_active_advertisement (h->bluez, after);
}

static void
note_refusal (GString *refusals, const char *call, guint serial, const char *path, const char *name,
              const char *message)
{
  if (g_strcmp0 (name, "org.bluez.Error.AlreadyExists") == 0)
    {
      g_test_message ("%s #%u %s: AlreadyExists (a second registration of a live one)", call, serial, path);
      return;
    }
  g_string_append_printf (refusals, "; %s #%u %s: %s \"%s\"", call, serial, path, name, message);
}

void
bp_harness_assert_no_refusals (BpHarness *h)
{
  GPtrArray *apps = fake_bluez_get_applications (h->bluez);
  GPtrArray *advs = fake_bluez_get_advertisements (h->bluez);
  g_autoptr (GString) refusals = g_string_new (NULL);

  for (guint i = 0; i < apps->len; i++)
    {
      FakeApplication *app = g_ptr_array_index (apps, i);
      if (app->state == FAKE_REGISTRATION_FAILED)
        note_refusal (refusals, "RegisterApplication", app->serial, app->path, app->error_name, app->error_message);
    }
  for (guint i = 0; i < advs->len; i++)
    {
      FakeAdvertisement *adv = g_ptr_array_index (advs, i);
      if (adv->state == FAKE_REGISTRATION_FAILED)
        note_refusal (refusals, "RegisterAdvertisement", adv->serial, adv->path, adv->error_name, adv->error_message);
    }
  if (refusals->len > 0)
    g_error ("bluetoothd refused registrations%s", refusals->str);
}

const char *
bp_harness_characteristic_path (BpHarness *h, const char *uuid)
{
  FakeApplication *app = fake_bluez_get_active_application (h->bluez);
  FakeGattCharacteristic *chr;

  g_assert_nonnull (app);
  chr = fake_application_find_characteristic (app, uuid);
  if (chr == NULL)
    g_error ("the registered application has no characteristic %s", uuid);
  return chr->path;
}

char *
bp_status_get (const char *status, const char *key)
{
  g_auto (GStrv) words = NULL;
  gsize key_len = strlen (key);

  if (status == NULL)
    return NULL;
  words = g_strsplit (status, " ", -1);
  for (guint i = 0; words[i] != NULL; i++)
    if (strncmp (words[i], key, key_len) == 0 && words[i][key_len] == '=')
      return g_strdup (words[i] + key_len + 1);
  return NULL;
}

char *
bp_control_status (BpControl *c, const char *key)
{
  g_autofree char *status = bp_assert_request_ok (c, "status");

  return bp_status_get (status, key);
}

gboolean
bp_control_wait_status (BpControl *c, const char *key, const char *value, guint timeout_ms)
{
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;

  for (;;)
    {
      g_autofree char *got = bp_control_status (c, key);
      gboolean tick = FALSE;

      if (g_strcmp0 (got, value) == 0)
        return TRUE;
      if (g_get_monotonic_time () >= deadline)
        {
          g_test_message ("status %s is %s, not %s", key, got ? got : "(missing)", value);
          return FALSE;
        }
      g_timeout_add (20, tick_cb, &tick);
      FAKE_WAIT_UNTIL (tick, 1000);
    }
}

char *
bp_hex (const void *data, gsize len)
{
  GString *s = g_string_sized_new (len * 2 + 1);

  for (gsize i = 0; i < len; i++)
    g_string_append_printf (s, "%02x", ((const guint8 *) data)[i]);
  return g_string_free (s, FALSE);
}

char *
bp_hex_bytes (GBytes *bytes)
{
  gsize len = 0;
  const void *data = g_bytes_get_data (bytes, &len);

  return bp_hex (data, len);
}
