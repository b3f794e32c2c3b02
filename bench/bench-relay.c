/* bench-relay: the least a GDBus relay can do — the floor of the 10 × 10 Hz
 * figure. bench-limit sends when its own timer says so; the daemon is woken
 * by its producers, and so is this: it listens on a Unix stream socket, runs
 * a GLib main loop with one fd source per connection, reads
 * "notify CHAR HEX" lines, decodes the value, emits the PropertiesChanged
 * (Value) signal bench-limit emits, built the same way, and answers "ok".
 * Nothing else: no configuration, no objects, no bound on what GDBus queues;
 * any other line is answered "error".
 *
 *   bench-relay [--address BUS] SOCKET
 *
 * It prints "name UNIQUE-NAME" once it listens (the receiver is told to
 * `watch` it). CHAR gets the object path /org/bench/relay/charN, N in the
 * order CHARs are first seen. Each time its last connection closes, it
 * waits until GDBus has written every signal, as bench-limit does at the end
 * of a run, and prints "done sent=N seconds=S" (since the first of those
 * connections). It runs until it is killed. Values are bench-value.h's. */
#define G_LOG_DOMAIN "bench-relay"
#define _GNU_SOURCE /* accept4() */

#include <errno.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "bench-bus.h"
#include "bench-value.h"

#define RELAY_PATH "/org/bench/relay"

typedef struct {
  int fd;
  gsize have;
  char in[4096]; /* a line is at most 2 × BENCH_VALUE_MAX + 64 bytes */
} Conn;

static GDBusConnection *bus;
static GHashTable *paths; /* CHAR → object path */
static guint n_open;
static guint64 sent, start_ns;

/* "notify CHAR HEX" (no newline, NUL-terminated): TRUE once emitted. */
static gboolean
handle_line (char *line)
{
  guint8 value[BENCH_VALUE_MAX];
  char *name, *hex, *sp;
  const char *path;
  gsize len;

  if (strncmp (line, "notify ", 7) != 0)
    return FALSE;
  name = line + 7;
  if ((sp = strchr (name, ' ')) == NULL)
    return FALSE;
  *sp = '\0';
  hex = sp + 1;
  len = strlen (hex);
  if (len == 0 || len % 2 != 0 || len / 2 > sizeof value)
    return FALSE;
  for (gsize i = 0; i < len / 2; i++)
    {
      int hi = g_ascii_xdigit_value (hex[2 * i]), lo = g_ascii_xdigit_value (hex[2 * i + 1]);

      if (hi < 0 || lo < 0)
        return FALSE;
      value[i] = (guint8) (hi << 4 | lo);
    }
  path = g_hash_table_lookup (paths, name);
  if (path == NULL)
    {
      char *p = g_strdup_printf (RELAY_PATH "/char%u", g_hash_table_size (paths));

      g_hash_table_insert (paths, g_strdup (name), p);
      path = p;
    }
  if (!bench_emit_value (bus, "bench-relay", path, value, len / 2))
    return FALSE;
  sent++;
  return TRUE;
}

static void
conn_close (Conn *c)
{
  close (c->fd);
  g_free (c);
  if (--n_open == 0)
    {
      g_dbus_connection_flush_sync (bus, NULL, NULL);
      printf ("done sent=%llu seconds=%.6f\n", (unsigned long long) sent, (bench_now_ns () - start_ns) / 1e9);
      fflush (stdout);
      sent = 0;
    }
}

static gboolean
on_readable (int fd, GIOCondition condition, gpointer data)
{
  Conn *c = data;
  char out[sizeof c->in * 6]; /* "error\n" for each byte at worst */
  gsize out_len = 0, start = 0;
  ssize_t n;
  char *nl;

  n = recv (fd, c->in + c->have, sizeof c->in - c->have, 0);
  if (n < 0 && errno == EINTR)
    return G_SOURCE_CONTINUE;
  if (n <= 0)
    {
      conn_close (c);
      return G_SOURCE_REMOVE;
    }
  c->have += (gsize) n;
  while ((nl = memchr (c->in + start, '\n', c->have - start)) != NULL)
    {
      *nl = '\0';
      if (handle_line (c->in + start))
        memcpy (out + out_len, "ok\n", 3), out_len += 3;
      else
        memcpy (out + out_len, "error\n", 6), out_len += 6;
      start = (gsize) (nl - c->in) + 1;
    }
  memmove (c->in, c->in + start, c->have - start);
  c->have -= start;
  if (c->have == sizeof c->in || (out_len > 0 && send (fd, out, out_len, MSG_NOSIGNAL) != (ssize_t) out_len))
    {
      conn_close (c);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
on_connection (int fd, GIOCondition condition, gpointer data)
{
  int cfd = accept4 (fd, NULL, NULL, SOCK_CLOEXEC);
  Conn *c;
  GSource *source;

  if (cfd < 0)
    return G_SOURCE_CONTINUE;
  c = g_new0 (Conn, 1);
  c->fd = cfd;
  if (n_open++ == 0)
    start_ns = bench_now_ns ();
  source = g_unix_fd_source_new (cfd, G_IO_IN);
  /* As the daemon's: without it GLib takes the fd out of its poll set
   * around every dispatch and puts it back, each change waking the loop
   * once more — not the least a relay costs. */
  g_source_set_can_recurse (source, TRUE);
  g_source_set_callback (source, G_SOURCE_FUNC (on_readable), c, NULL);
  g_source_attach (source, NULL);
  g_source_unref (source);
  return G_SOURCE_CONTINUE;
}

int
main (int argc, char **argv)
{
  g_autofree char *address = NULL;
  GOptionEntry entries[] = {
    { "address", 'a', 0, G_OPTION_ARG_STRING, &address, "Bus address (default: $DBUS_SYSTEM_BUS_ADDRESS)", "ADDR" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("SOCKET - relay notify lines to PropertiesChanged signals");
  g_autoptr (GError) error = NULL;
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd;

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error) || argc != 2)
    {
      g_printerr ("bench-relay: %s\n", error != NULL ? error->message : "give the socket's path");
      return 2;
    }
  if (!bench_bus_address ("bench-relay", &address))
    return 2;
  bus = bench_bus_connect ("bench-relay", address);
  if (bus == NULL)
    return 1;
  paths = g_hash_table_new (g_str_hash, g_str_equal);

  if (strlen (argv[1]) >= sizeof addr.sun_path)
    {
      g_printerr ("bench-relay: %s: path too long\n", argv[1]);
      return 2;
    }
  strcpy (addr.sun_path, argv[1]);
  unlink (argv[1]);
  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0 || bind (fd, (struct sockaddr *) &addr, sizeof addr) < 0 || listen (fd, 64) < 0)
    {
      g_printerr ("bench-relay: %s: %s\n", argv[1], g_strerror (errno));
      return 1;
    }
  g_unix_fd_add (fd, G_IO_IN, on_connection, NULL);
  printf ("name %s\n", g_dbus_connection_get_unique_name (bus));
  fflush (stdout);
  g_main_loop_run (g_main_loop_new (NULL, FALSE));
  return 0;
}
