/* bench-producer: the daemon's producers in the benchmark. It speaks the
 * control socket's line protocol (SPEC §5) directly, without the client
 * library, so that what is measured is the daemon and not a client:
 *
 *   bench-producer SOCKET flood CHAR COUNT SIZE
 *       "notify CHAR HEX" COUNT times, as fast as the daemon takes them:
 *       requests are written in large batches and the "ok" replies read as
 *       they come (at most WINDOW requests unanswered), so the producer is
 *       never waiting on a round trip.
 *   bench-producer SOCKET rate CHAR HZ SECONDS SIZE
 *       one notify every 1/HZ s, each written on its own the moment its
 *       value is stamped (latency runs).
 *   bench-producer SOCKET multi HZ SECONDS SIZE CHAR…
 *       one connection per characteristic, each notifying its own at HZ,
 *       the connections evenly staggered (the 10 × 10 Hz run).
 *   bench-producer SOCKET serve CHAR SIZE
 *       "serve CHAR", then answers every "event read ID …" with
 *       "reply ID HEX" at once; prints "ready"; runs until stdin closes.
 *   bench-producer SOCKET hold COUNT VALUE CHAR…
 *       COUNT connections, connection i notifying CHAR[i % n] once with
 *       VALUE ("bench": a 20-byte benchmark value); prints "ready" and
 *       keeps them open until stdin closes (the memory figures).
 *
 * Values are bench-value.h's; the sequence runs across all connections.
 * Each mode ends with one line: "done sent=N ok=N errors=N seconds=S". */
#define _GNU_SOURCE

#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench-value.h"

#define WINDOW 8192
#define OUT_BATCH (64 * 1024)
#define LINE_MAX_BYTES (32 + 64 + 2 * BENCH_VALUE_MAX)

typedef struct {
  int fd;
  char *out; /* pending output */
  size_t out_len, out_cap;
  char in[64 * 1024]; /* partial input line */
  size_t in_len;
  uint64_t sent, ok, errors, events;
  const char *chr;
  size_t serve_size; /* serve mode: value size of replies */
} Conn;

static void
die (const char *what)
{
  fprintf (stderr, "bench-producer: %s: %s\n", what, strerror (errno));
  exit (1);
}

static int
connect_socket (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

  if (fd < 0)
    die ("socket");
  if (strlen (path) >= sizeof addr.sun_path)
    {
      fprintf (stderr, "bench-producer: %s: path too long\n", path);
      exit (1);
    }
  strcpy (addr.sun_path, path);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    die (path);
  return fd;
}

static void
conn_init (Conn *c, const char *path, const char *chr)
{
  memset (c, 0, sizeof *c);
  c->fd = connect_socket (path);
  c->chr = chr;
  c->out_cap = OUT_BATCH + LINE_MAX_BYTES;
  c->out = malloc (c->out_cap);
  if (c->out == NULL)
    die ("malloc");
}

static void
append (Conn *c, const char *data, size_t len)
{
  if (c->out_len + len > c->out_cap)
    {
      c->out_cap = 2 * (c->out_len + len);
      c->out = realloc (c->out, c->out_cap);
      if (c->out == NULL)
        die ("realloc");
    }
  memcpy (c->out + c->out_len, data, len);
  c->out_len += len;
}

/* Appends "notify CHR HEX\n" for sequence number seq, stamped now. */
static void
append_notify (Conn *c, uint64_t seq, size_t size)
{
  char line[LINE_MAX_BYTES];
  uint8_t value[BENCH_VALUE_MAX];
  size_t n = (size_t) snprintf (line, sizeof line, "notify %s ", c->chr);

  bench_value_fill (value, size, seq, bench_now_ns ());
  n += bench_hex (line + n, value, size);
  line[n++] = '\n';
  append (c, line, n);
  c->sent++;
}

/* Writes what it can without blocking (blocking: all of it). */
static void
flush_out (Conn *c, int blocking)
{
  size_t done = 0;

  while (done < c->out_len)
    {
      ssize_t n = send (c->fd, c->out + done, c->out_len - done, MSG_NOSIGNAL | (blocking ? 0 : MSG_DONTWAIT));

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            break;
          die ("send");
        }
      done += (size_t) n;
    }
  memmove (c->out, c->out + done, c->out_len - done);
  c->out_len -= done;
}

static void
handle_line (Conn *c, char *line, size_t len)
{
  line[len] = '\0';
  if (strncmp (line, "event ", 6) == 0)
    {
      unsigned long long id;
      char reply[LINE_MAX_BYTES];
      uint8_t value[BENCH_VALUE_MAX];
      size_t n;

      c->events++;
      /* event read ID CHAR ADDR */
      if (c->serve_size > 0 && sscanf (line, "event read %llu", &id) == 1)
        {
          n = (size_t) snprintf (reply, sizeof reply, "reply %llu ", id);
          bench_value_fill (value, c->serve_size, id, bench_now_ns ());
          n += bench_hex (reply + n, value, c->serve_size);
          reply[n++] = '\n';
          append (c, reply, n);
          c->sent++;
          flush_out (c, 1);
        }
      return;
    }
  if (strcmp (line, "ok") == 0 || strncmp (line, "ok ", 3) == 0)
    {
      c->ok++;
      return;
    }
  c->errors++;
  if (c->errors <= 5)
    fprintf (stderr, "bench-producer: %s\n", line);
}

/* Reads what is there (blocking: at least once) and handles whole lines.
 * Returns 0 at end of stream. */
static int
read_in (Conn *c, int blocking)
{
  for (;;)
    {
      ssize_t n = recv (c->fd, c->in + c->in_len, sizeof c->in - c->in_len - 1, blocking ? 0 : MSG_DONTWAIT);
      size_t start = 0;
      char *nl;

      if (n < 0)
        {
          if (errno == EINTR)
            continue;
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            return 1;
          die ("recv");
        }
      if (n == 0)
        return 0;
      c->in_len += (size_t) n;
      while ((nl = memchr (c->in + start, '\n', c->in_len - start)) != NULL)
        {
          handle_line (c, c->in + start, (size_t) (nl - (c->in + start)));
          start = (size_t) (nl - c->in) + 1;
        }
      memmove (c->in, c->in + start, c->in_len - start);
      c->in_len -= start;
      if (blocking || (size_t) n < sizeof c->in / 2)
        return 1;
    }
}

static uint64_t
answered (const Conn *c)
{
  return c->ok + c->errors;
}

static void
print_done (const Conn *conns, int n, uint64_t start_ns)
{
  uint64_t sent = 0, ok = 0, errors = 0;

  for (int i = 0; i < n; i++)
    {
      sent += conns[i].sent;
      ok += conns[i].ok;
      errors += conns[i].errors;
    }
  printf ("done sent=%llu ok=%llu errors=%llu seconds=%.6f\n", (unsigned long long) sent, (unsigned long long) ok,
          (unsigned long long) errors, (bench_now_ns () - start_ns) / 1e9);
  fflush (stdout);
}

static int
flood (const char *path, const char *chr, uint64_t count, size_t size)
{
  Conn c;
  uint64_t start;

  conn_init (&c, path, chr);
  start = bench_now_ns ();
  while (answered (&c) < count)
    {
      struct pollfd pfd = { .fd = c.fd, .events = POLLIN };

      /* Fill a batch while the window allows. */
      while (c.sent < count && c.sent - answered (&c) < WINDOW && c.out_len < OUT_BATCH)
        append_notify (&c, c.sent, size);
      if (c.out_len > 0)
        pfd.events |= POLLOUT;
      if (poll (&pfd, 1, 10000) <= 0)
        {
          fprintf (stderr, "bench-producer: the daemon stopped answering\n");
          return 1;
        }
      if (pfd.revents & POLLOUT)
        flush_out (&c, 0);
      if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
        if (!read_in (&c, 0))
          {
            fprintf (stderr, "bench-producer: the daemon closed the connection\n");
            return 1;
          }
    }
  print_done (&c, 1, start);
  return c.errors > 0;
}

static void
sleep_until (uint64_t t_ns)
{
  struct timespec ts = { (time_t) (t_ns / 1000000000u), (long) (t_ns % 1000000000u) };

  while (clock_nanosleep (CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
    ;
}

/* Notifies at hz per connection for seconds, the ticks of the n
 * connections evenly spread; replies are read between ticks. */
static int
paced (Conn *conns, int n, double hz, double seconds, size_t size)
{
  uint64_t period = (uint64_t) (1e9 / (hz * n));
  uint64_t ticks = (uint64_t) (hz * seconds * n + 0.5);
  uint64_t start = bench_now_ns () + 10000000u;
  struct pollfd pfds[n];

  for (uint64_t t = 0; t < ticks; t++)
    {
      Conn *c = &conns[t % n];

      sleep_until (start + t * period);
      append_notify (c, t, size);
      flush_out (c, 1);
      for (int i = 0; i < n; i++)
        if (conns[i].sent > answered (&conns[i]))
          read_in (&conns[i], 0);
    }
  /* The last replies. */
  for (;;)
    {
      int waiting = 0;

      for (int i = 0; i < n; i++)
        {
          pfds[i].fd = conns[i].fd;
          pfds[i].events = conns[i].sent > answered (&conns[i]) ? POLLIN : 0;
          waiting |= pfds[i].events != 0;
        }
      if (!waiting)
        break;
      if (poll (pfds, n, 10000) <= 0)
        {
          fprintf (stderr, "bench-producer: the daemon stopped answering\n");
          return 1;
        }
      for (int i = 0; i < n; i++)
        if (pfds[i].revents && !read_in (&conns[i], 0))
          return 1;
    }
  print_done (conns, n, start);
  for (int i = 0; i < n; i++)
    if (conns[i].errors > 0)
      return 1;
  return 0;
}

/* Until stdin closes, handling what the daemon sends. */
static void
wait_stdin (Conn *conns, int n)
{
  struct pollfd pfds[n + 1];

  for (;;)
    {
      pfds[0].fd = 0;
      pfds[0].events = POLLIN;
      for (int i = 0; i < n; i++)
        {
          pfds[i + 1].fd = conns[i].fd;
          pfds[i + 1].events = POLLIN;
        }
      if (poll (pfds, n + 1, -1) < 0)
        {
          if (errno == EINTR)
            continue;
          die ("poll");
        }
      if (pfds[0].revents)
        {
          char buf[256];

          if (read (0, buf, sizeof buf) <= 0)
            return;
        }
      for (int i = 0; i < n; i++)
        if (pfds[i + 1].revents && !read_in (&conns[i], 0))
          {
            fprintf (stderr, "bench-producer: the daemon closed connection %d\n", i);
            exit (1);
          }
    }
}

static int
serve (const char *path, const char *chr, size_t size)
{
  Conn c;
  char line[LINE_MAX_BYTES];
  uint64_t start = bench_now_ns ();

  conn_init (&c, path, chr);
  append (&c, line, (size_t) snprintf (line, sizeof line, "serve %s\n", chr));
  flush_out (&c, 1);
  while (c.ok + c.errors < 1)
    if (!read_in (&c, 1))
      return 1;
  if (c.errors > 0)
    return 1;
  c.serve_size = size;
  printf ("ready\n");
  fflush (stdout);
  wait_stdin (&c, 1);
  print_done (&c, 1, start);
  return c.errors > 0;
}

static int
hold (const char *path, int count, const char *value, char **chars, int n_chars)
{
  Conn *conns = calloc ((size_t) count, sizeof *conns);
  uint64_t start = bench_now_ns ();

  if (conns == NULL)
    die ("calloc");
  for (int i = 0; i < count; i++)
    {
      conn_init (&conns[i], path, chars[i % n_chars]);
      if (strcmp (value, "bench") == 0)
        {
          append_notify (&conns[i], (uint64_t) i, 20);
        }
      else
        {
          char line[LINE_MAX_BYTES];
          int n = snprintf (line, sizeof line, "notify %s %s\n", conns[i].chr, value);

          if (n < 0 || (size_t) n >= sizeof line)
            {
              fprintf (stderr, "bench-producer: value too long\n");
              return 2;
            }
          append (&conns[i], line, (size_t) n);
          conns[i].sent++;
        }
      flush_out (&conns[i], 1);
    }
  for (int i = 0; i < count; i++)
    while (answered (&conns[i]) < 1)
      if (!read_in (&conns[i], 1))
        return 1;
  printf ("ready\n");
  fflush (stdout);
  wait_stdin (conns, count);
  print_done (conns, count, start);
  return 0;
}

static void
usage (void)
{
  fprintf (stderr,
           "usage: bench-producer SOCKET flood CHAR COUNT SIZE\n"
           "       bench-producer SOCKET rate CHAR HZ SECONDS SIZE\n"
           "       bench-producer SOCKET multi HZ SECONDS SIZE CHAR...\n"
           "       bench-producer SOCKET serve CHAR SIZE\n"
           "       bench-producer SOCKET hold COUNT VALUE CHAR...\n");
  exit (2);
}

static size_t
value_size (const char *text)
{
  long size = strtol (text, NULL, 10);

  if (size < BENCH_VALUE_MIN || size > BENCH_VALUE_MAX)
    {
      fprintf (stderr, "bench-producer: a value is %d to %d bytes\n", BENCH_VALUE_MIN, BENCH_VALUE_MAX);
      exit (2);
    }
  return (size_t) size;
}

int
main (int argc, char **argv)
{
  const char *path, *mode;

  if (argc < 3)
    usage ();
  path = argv[1];
  mode = argv[2];
  if (strcmp (mode, "flood") == 0 && argc == 6)
    return flood (path, argv[3], strtoull (argv[4], NULL, 10), value_size (argv[5]));
  if (strcmp (mode, "rate") == 0 && argc == 7)
    {
      Conn c;

      conn_init (&c, path, argv[3]);
      return paced (&c, 1, strtod (argv[4], NULL), strtod (argv[5], NULL), value_size (argv[6]));
    }
  if (strcmp (mode, "multi") == 0 && argc >= 7)
    {
      int n = argc - 6;
      Conn *conns = calloc ((size_t) n, sizeof *conns);

      if (conns == NULL)
        die ("calloc");
      for (int i = 0; i < n; i++)
        conn_init (&conns[i], path, argv[6 + i]);
      return paced (conns, n, strtod (argv[3], NULL), strtod (argv[4], NULL), value_size (argv[5]));
    }
  if (strcmp (mode, "serve") == 0 && argc == 5)
    return serve (path, argv[3], value_size (argv[4]));
  if (strcmp (mode, "hold") == 0 && argc >= 6)
    return hold (path, atoi (argv[3]), argv[4], argv + 5, argc - 5);
  usage ();
  return 2;
}
