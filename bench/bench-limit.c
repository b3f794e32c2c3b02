/* bench-limit: the least a GDBus program can do to notify — the limit the
 * daemon is measured against. It emits the same PropertiesChanged(Value)
 * signals as the daemon, with GDBus, each built and sent the moment it is
 * due, and nothing else: no socket, no parsing, no objects.
 *
 *   bench-limit [--address BUS]
 *
 * It prints "name UNIQUE-NAME" once on the bus (the receiver subscribes to
 * that name as bluetoothd does to a registrant), then takes commands on
 * stdin, answering each with one line:
 *
 *   flood COUNT SIZE               COUNT signals as fast as it can
 *   rate HZ SECONDS SIZE           one signal every 1/HZ s
 *   multi HZ SECONDS SIZE NCHARS   NCHARS characteristics at HZ each, staggered
 *   quit
 *
 * Each ends, once GDBus has written every signal, with
 * "done sent=N seconds=S". Values are bench-value.h's. */
#define G_LOG_DOMAIN "bench-limit"

#include <errno.h>
#include <gio/gio.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench-bus.h"
#include "bench-value.h"

#define LIMIT_PATH "/org/bench/limit/service0"

static gboolean
emit (GDBusConnection *conn, const char *path, uint64_t seq, gsize size)
{
  guint8 value[BENCH_VALUE_MAX];

  bench_value_fill (value, size, seq, bench_now_ns ());
  return bench_emit_value (conn, "bench-limit", path, value, size);
}

static void
sleep_until (uint64_t t_ns)
{
  struct timespec ts = { (time_t) (t_ns / 1000000000u), (long) (t_ns % 1000000000u) };

  while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

/* ticks signals, one every period_ns (0: back to back), round-robin over
 * n_chars characteristics. */
static void
run (GDBusConnection *conn, uint64_t ticks, uint64_t period_ns, gsize size, guint n_chars)
{
  g_autoptr (GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  uint64_t start = bench_now_ns () + (period_ns > 0 ? 10000000u : 0);
  uint64_t sent = 0;

  for (guint i = 0; i < n_chars; i++)
    g_ptr_array_add (paths, g_strdup_printf (LIMIT_PATH "/char%u", i));
  for (uint64_t t = 0; t < ticks; t++)
    {
      if (period_ns > 0)
        sleep_until (start + t * period_ns);
      if (!emit (conn, g_ptr_array_index (paths, t % n_chars), t, size))
        break;
      sent++;
    }
  g_dbus_connection_flush_sync (conn, NULL, NULL);
  printf ("done sent=%llu seconds=%.6f\n", (unsigned long long) sent, (bench_now_ns () - start) / 1e9);
  fflush (stdout);
}

static gsize
value_size (const char *text)
{
  gsize size = (gsize) g_ascii_strtoull (text, NULL, 10);

  return CLAMP (size, BENCH_VALUE_MIN, BENCH_VALUE_MAX);
}

int
main (int argc, char **argv)
{
  g_autofree char *address = NULL;
  GOptionEntry entries[] = {
    { "address", 'a', 0, G_OPTION_ARG_STRING, &address, "Bus address (default: $DBUS_SYSTEM_BUS_ADDRESS)", "ADDR" },
    { NULL },
  };
  g_autoptr (GOptionContext) ctx = g_option_context_new ("- emit PropertiesChanged(Value) as fast as GDBus can");
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) conn = NULL;
  char line[256];

  g_option_context_add_main_entries (ctx, entries, NULL);
  if (!g_option_context_parse (ctx, &argc, &argv, &error))
    {
      g_printerr ("bench-limit: %s\n", error->message);
      return 2;
    }
  if (!bench_bus_address ("bench-limit", &address))
    return 2;
  conn = bench_bus_connect ("bench-limit", address);
  if (conn == NULL)
    return 1;
  printf ("name %s\n", g_dbus_connection_get_unique_name (conn));
  fflush (stdout);

  /* Commands are read on the main thread; GDBus writes from its own. */
  while (fgets (line, sizeof line, stdin) != NULL)
    {
      g_auto (GStrv) w = g_strsplit_set (g_strstrip (line), " ", -1);
      guint n = g_strv_length (w);

      if (n == 3 && g_str_equal (w[0], "flood"))
        run (conn, g_ascii_strtoull (w[1], NULL, 10), 0, value_size (w[2]), 1);
      else if (n == 4 && g_str_equal (w[0], "rate"))
        run (conn, (uint64_t) (g_ascii_strtod (w[1], NULL) * g_ascii_strtod (w[2], NULL) + 0.5),
             (uint64_t) (1e9 / g_ascii_strtod (w[1], NULL)), value_size (w[3]), 1);
      else if (n == 5 && g_str_equal (w[0], "multi"))
        {
          double hz = g_ascii_strtod (w[1], NULL) * g_ascii_strtoull (w[4], NULL, 10);

          run (conn, (uint64_t) (hz * g_ascii_strtod (w[2], NULL) + 0.5), (uint64_t) (1e9 / hz), value_size (w[3]),
               (guint) g_ascii_strtoull (w[4], NULL, 10));
        }
      else if (n == 1 && g_str_equal (w[0], "quit"))
        break;
      else
        {
          printf ("error unknown command\n");
          fflush (stdout);
        }
    }
  g_dbus_connection_flush_sync (conn, NULL, NULL);
  return 0;
}
