/* ble-peripheralctl: the daemon's command line (SPEC §6), built on
 * libble-peripheral. */
#define G_LOG_DOMAIN "ctl"

#include "build-config.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <glib.h>

#include "ble-peripheral/client.h"
#include "common/protocol.h"
#include "common/value.h"

enum {
  EXIT_OK = 0,
  EXIT_ERROR = 1,
  EXIT_USAGE = 2,
  EXIT_UNREACHABLE = 3,
};

/* The longest output of a serve COMMAND taken as a value. */
#define SERVE_OUTPUT_MAX 4096

/* clang-format off */
static const char usage_text[] =
  "Usage: ble-peripheralctl [--socket PATH] COMMAND [ARGUMENT…]\n"
  "\n"
  "Commands:\n"
  "  status                         the daemon's state and counters\n"
  "  info CHAR                      a characteristic's UUID, flags and Format\n"
  "  set CHAR VALUE                 store a value (no notification)\n"
  "  notify CHAR VALUE [--to ADDR]  store it and notify or indicate the subscribers\n"
  "  get CHAR                       the stored value, decoded with its Format\n"
  "  take CHAR                      the stored value, then empty it\n"
  "  watch [--json] [CLASS…]        print events (CLASS: write connect subscribe\n"
  "                                 state pairing all)\n"
  "  stream CHAR [--to ADDR]        notify one value per line of standard input\n"
  "  serve CHAR -- COMMAND [ARG…]   answer each read of CHAR with COMMAND's output\n"
  "  advertise on|off               start or stop advertising\n"
  "  disconnect ADDR                disconnect a central\n"
  "  pairing on [DURATION]          open the pairing window (e.g. 2min; default\n"
  "                                 [Security] PairingWindow)\n"
  "  pairing off                    close it\n"
  "  pairing accept|reject ADDR     answer a central's pairing request\n"
  "  bonds                          the bonded centrals, one address a line\n"
  "  forget ADDR                    remove a central's bond (disconnects it)\n"
  "  check-config [FILE]            validate a configuration file\n"
  "\n"
  "VALUE: hex bytes (9a09, 9a:09), a number (24.58) when the characteristic has a\n"
  "Format, or text (\"hello\"; an argument with spaces is sent as text).\n"
  "\n"
  "Options:\n"
  "  --socket PATH  the daemon's control socket (default: $BLE_PERIPHERAL_SOCKET,\n"
  "                 else " BP_CLIENT_DEFAULT_SOCKET ")\n"
  "  --to ADDR      notify one central only (BlueZ 5.76 or later)\n"
  "  --json         watch: one JSON object per event\n"
  "  -h, --help     this help\n"
  "  --version      the version\n"
  "\n"
  "Exit status: 0 ok, 1 the daemon answered an error, 2 usage error,\n"
  "3 the daemon is not reachable.\n";
/* clang-format on */

typedef struct {
  const char *socket;
  const char *to;
  gboolean json;
  GPtrArray *args; /* the command and its positional arguments */
  char **command;  /* after "--", or NULL */
} Options;

static int usage_error (const char *format, ...) G_GNUC_PRINTF (1, 2);

static int
usage_error (const char *format, ...)
{
  va_list args;

  fputs ("ble-peripheralctl: ", stderr);
  va_start (args, format);
  vfprintf (stderr, format, args);
  va_end (args);
  fputs ("\nTry 'ble-peripheralctl --help'.\n", stderr);
  return EXIT_USAGE;
}

/* The exit status for a failed library call, its message on stderr. */
static int
client_failure (bp_client *c, const char *what)
{
  const char *name = bp_client_error_name (c);
  gboolean lost = strcmp (name, "disconnected") == 0 || strcmp (name, "timeout") == 0 || strcmp (name, "io") == 0;
  gboolean ours = lost || strcmp (name, "invalid-argument") == 0 || strcmp (name, "protocol") == 0;

  /* The daemon's messages name the request already; the library's do not. */
  fprintf (stderr, "ble-peripheralctl: %s%s%s\n", ours && what != NULL ? what : "", ours && what != NULL ? ": " : "",
           bp_client_error (c));
  if (lost)
    return EXIT_UNREACHABLE;
  if (strcmp (name, "invalid-argument") == 0)
    return EXIT_USAGE;
  return EXIT_ERROR;
}

static const char *
socket_path (const Options *o)
{
  const char *path = o->socket;

  if (path == NULL)
    path = g_getenv (BP_CLIENT_SOCKET_ENV);
  if (path == NULL || *path == '\0')
    path = BP_CLIENT_DEFAULT_SOCKET;
  return path;
}

static bp_client *
connect_daemon (const Options *o)
{
  const char *path = socket_path (o);
  bp_client *c = bp_client_connect (path);

  if (c == NULL)
    fprintf (stderr, "ble-peripheralctl: cannot reach the daemon at %s: %s\n", path, g_strerror (errno));
  return c;
}

/* A command-line argument as one protocol VALUE word: words pass as they
 * are (hex, numbers, "quoted"), anything with spaces goes as text. */
static char *
value_word (const char *arg)
{
  if (*arg == '\0')
    return g_strdup ("\"\"");
  if (*arg == '"' || bp_protocol_word_valid (arg))
    return g_strdup (arg);
  return bp_protocol_quote (arg, -1);
}

typedef struct {
  char id[256];
  BpFormat format;
  int exponent;
  guint read_timeout_ms;
} CharInfo;

static int
get_char_info (bp_client *c, const char *characteristic, CharInfo *info)
{
  const char *text;
  char buf[64];

  memset (info, 0, sizeof *info);
  info->format = BP_FORMAT_NONE;
  info->read_timeout_ms = 1000;
  if (bp_client_info (c, characteristic, &text) < 0)
    return -1;
  if (bp_client_lookup (text, "id", info->id, sizeof info->id) < 0)
    g_strlcpy (info->id, characteristic, sizeof info->id);
  if (bp_client_lookup (text, "format", buf, sizeof buf) == 0 && !bp_format_from_name (buf, &info->format))
    info->format = BP_FORMAT_NONE;
  if (bp_client_lookup (text, "exponent", buf, sizeof buf) == 0)
    info->exponent = atoi (buf);
  if (bp_client_lookup (text, "read-timeout-ms", buf, sizeof buf) == 0)
    info->read_timeout_ms = (guint) strtoul (buf, NULL, 10);
  return 0;
}

static gboolean
printable_text (const guint8 *data, gsize len)
{
  if (!g_utf8_validate ((const char *) data, len, NULL))
    return FALSE;
  for (gsize i = 0; i < len; i++)
    if (data[i] < 0x20 || data[i] == 0x7f)
      return FALSE;
  return TRUE;
}

/* A value for people: the number, the text, or hex. */
static char *
display_value (const guint8 *data, gsize len, const CharInfo *info)
{
  if (info != NULL && info->format == BP_FORMAT_UTF8 && printable_text (data, len))
    return g_strndup ((const char *) data, len);
  if (info != NULL && info->format != BP_FORMAT_NONE)
    return bp_value_to_display (data, len, info->format, info->exponent);
  return len > 0 ? bp_value_to_hex (data, len) : g_strdup ("\"\"");
}

/* --- simple commands ---------------------------------------------------- */

static int
print_key_values (const char *text)
{
  g_auto (GStrv) words = g_strsplit (text, " ", -1);

  for (guint i = 0; words[i] != NULL; i++)
    if (*words[i] != '\0')
      printf ("%s\n", words[i]);
  return EXIT_OK;
}

static int
cmd_status (bp_client *c, const Options *o)
{
  const char *text;

  if (o->args->len != 1)
    return usage_error ("status: takes no arguments");
  if (bp_client_status (c, &text) < 0)
    return client_failure (c, "status");
  return print_key_values (text);
}

static int
cmd_info (bp_client *c, const Options *o)
{
  const char *text;
  const char *chr = g_ptr_array_index (o->args, 1);

  if (bp_client_info (c, chr, &text) < 0)
    return client_failure (c, "info");
  return print_key_values (text);
}

static int
cmd_set_notify (bp_client *c, const Options *o)
{
  const char *verb = g_ptr_array_index (o->args, 0);
  const char *chr = g_ptr_array_index (o->args, 1);
  g_autofree char *value = value_word (g_ptr_array_index (o->args, 2));
  int r;

  if (strcmp (verb, "set") == 0)
    r = bp_client_set_text (c, chr, value);
  else
    r = bp_client_notify_text (c, chr, value, o->to);
  return r < 0 ? client_failure (c, verb) : EXIT_OK;
}

static int
cmd_get_take (bp_client *c, const Options *o)
{
  const char *verb = g_ptr_array_index (o->args, 0);
  const char *chr = g_ptr_array_index (o->args, 1);
  guint8 buf[BP_CLIENT_VALUE_MAX];
  size_t len = 0;
  CharInfo info;
  g_autofree char *shown = NULL;
  int r;

  if (get_char_info (c, chr, &info) < 0)
    return client_failure (c, verb);
  if (strcmp (verb, "get") == 0)
    r = bp_client_get (c, chr, buf, sizeof buf, &len);
  else
    r = bp_client_take (c, chr, buf, sizeof buf, &len);
  if (r < 0)
    return client_failure (c, verb);
  shown = display_value (buf, len, &info);
  printf ("%s\n", shown);
  return EXIT_OK;
}

static int
cmd_advertise (bp_client *c, const Options *o)
{
  const char *arg = g_ptr_array_index (o->args, 1);

  if (strcmp (arg, "on") != 0 && strcmp (arg, "off") != 0)
    return usage_error ("advertise: expected on or off, not \"%s\"", arg);
  if (bp_client_advertise (c, strcmp (arg, "on") == 0) < 0)
    return client_failure (c, "advertise");
  return EXIT_OK;
}

static int
cmd_disconnect (bp_client *c, const Options *o)
{
  const char *address = g_ptr_array_index (o->args, 1);

  if (!bp_protocol_address_valid (address))
    return usage_error ("disconnect: \"%s\" is not a Bluetooth address such as 00:11:22:33:44:55", address);
  if (bp_client_disconnect (c, address) < 0)
    return client_failure (c, "disconnect");
  return EXIT_OK;
}

/* --- pairing ------------------------------------------------------------ */

static int
cmd_pairing (bp_client *c, const Options *o)
{
  const char *op = g_ptr_array_index (o->args, 1);
  const char *arg = o->args->len > 2 ? g_ptr_array_index (o->args, 2) : NULL;

  if (strcmp (op, "on") == 0)
    {
      guint64 us = 0;

      if (arg != NULL && !bp_protocol_parse_duration (arg, &us))
        return usage_error ("pairing on: \"%s\" is not a duration such as 2min, 90s or 1h", arg);
      if (bp_client_pairing (c, 1, (unsigned long) (us / 1000)) < 0)
        return client_failure (c, "pairing on");
      return EXIT_OK;
    }
  if (strcmp (op, "off") == 0)
    {
      if (arg != NULL)
        return usage_error ("pairing off: takes no more arguments");
      if (bp_client_pairing (c, 0, 0) < 0)
        return client_failure (c, "pairing off");
      return EXIT_OK;
    }
  if (strcmp (op, "accept") == 0 || strcmp (op, "reject") == 0)
    {
      if (arg == NULL || !bp_protocol_address_valid (arg))
        return usage_error ("pairing %s: expected a Bluetooth address such as 00:11:22:33:44:55", op);
      if (bp_client_pairing_answer (c, arg, op[0] == 'a') < 0)
        return client_failure (c, op[0] == 'a' ? "pairing accept" : "pairing reject");
      return EXIT_OK;
    }
  return usage_error ("pairing: expected on [DURATION], off, accept ADDR or reject ADDR, not \"%s\"", op);
}

static int
cmd_bonds (bp_client *c, const Options *o)
{
  const char *text;
  g_auto (GStrv) words = NULL;

  if (bp_client_bonds (c, &text) < 0)
    return client_failure (c, "bonds");
  words = g_strsplit (text, " ", -1);
  for (guint i = 0; words[i] != NULL; i++)
    if (*words[i] != '\0')
      printf ("%s\n", words[i]);
  return EXIT_OK;
}

static int
cmd_forget (bp_client *c, const Options *o)
{
  const char *address = g_ptr_array_index (o->args, 1);

  if (!bp_protocol_address_valid (address))
    return usage_error ("forget: \"%s\" is not a Bluetooth address such as 00:11:22:33:44:55", address);
  if (bp_client_forget (c, address) < 0)
    return client_failure (c, "forget");
  return EXIT_OK;
}

/* --- watch -------------------------------------------------------------- */

static void
json_string (GString *out, const char *s, gssize len)
{
  gsize n = len < 0 ? strlen (s) : (gsize) len;

  g_string_append_c (out, '"');
  for (gsize i = 0; i < n; i++)
    {
      guchar ch = s[i];

      if (ch == '"' || ch == '\\')
        g_string_append_printf (out, "\\%c", ch);
      else if (ch < 0x20)
        g_string_append_printf (out, "\\u%04x", ch);
      else
        g_string_append_c (out, ch);
    }
  g_string_append_c (out, '"');
}

static void
json_key_string (GString *out, const char *key, const char *value)
{
  g_string_append_printf (out, ",\"%s\":", key);
  if (value == NULL)
    g_string_append (out, "null");
  else
    json_string (out, value, -1);
}

static const char *
event_name (bp_client_event_type type)
{
  static const char *const names[] = {
    "connect",     "disconnect", "subscribe", "unsubscribe", "write",   "read",   "confirm",        "dropped",
    "advertising", "adapter",    "reloaded",  "other",       "pairing", "paired", "pairing-failed",
  };

  return (guint) type < G_N_ELEMENTS (names) ? names[type] : "other";
}

static gboolean
is_json_number (const char *s)
{
  char *end = NULL;
  double d;

  if (*s == '\0' || *s == '+' || *s == '.' || (s[0] == '0' && g_ascii_isdigit (s[1])))
    return FALSE;
  d = g_ascii_strtod (s, &end);
  return end != NULL && *end == '\0' && isfinite (d);
}

static void
json_value (GString *out, const guint8 *data, gsize len, const CharInfo *info)
{
  g_autofree char *shown = NULL;

  if (info->format == BP_FORMAT_UTF8 && g_utf8_validate ((const char *) data, len, NULL))
    {
      g_string_append (out, ",\"value\":");
      json_string (out, (const char *) data, len);
      return;
    }
  if (info->format == BP_FORMAT_NONE)
    return;
  shown = bp_value_to_display (data, len, info->format, info->exponent);
  g_string_append (out, ",\"value\":");
  if (strcmp (shown, "true") == 0 || strcmp (shown, "false") == 0 || is_json_number (shown))
    g_string_append (out, shown);
  else
    json_string (out, shown, -1);
}

static const CharInfo *
cached_info (bp_client *c, GHashTable *cache, const char *characteristic)
{
  CharInfo *info = g_hash_table_lookup (cache, characteristic);

  if (info == NULL)
    {
      info = g_new0 (CharInfo, 1);
      /* A characteristic a reload removed is shown in hex. */
      if (get_char_info (c, characteristic, info) < 0)
        info->format = BP_FORMAT_NONE;
      g_hash_table_insert (cache, g_strdup (characteristic), info);
    }
  return info;
}

static void
print_event (bp_client *c, const Options *o, GHashTable *cache, const bp_client_event *ev)
{
  g_autoptr (GString) out = g_string_new (NULL);
  const CharInfo *info = NULL;

  if (ev->type == BP_CLIENT_EVENT_RELOADED)
    g_hash_table_remove_all (cache);
  if (ev->type == BP_CLIENT_EVENT_WRITE)
    info = cached_info (c, cache, ev->characteristic);

  if (!o->json)
    {
      if (ev->type == BP_CLIENT_EVENT_WRITE)
        {
          g_autofree char *shown = display_value (ev->data, ev->len, info);

          g_string_append_printf (out, "write %s %s %s", ev->characteristic, ev->address != NULL ? ev->address : "-",
                                  shown);
          if (ev->offset > 0)
            g_string_append_printf (out, " offset=%u", ev->offset);
        }
      else
        {
          g_string_append (out, g_str_has_prefix (ev->line, "event ") ? ev->line + 6 : ev->line);
        }
      printf ("%s\n", out->str);
      fflush (stdout);
      return;
    }

  g_string_append (out, "{\"event\":");
  json_string (out, ev->type == BP_CLIENT_EVENT_OTHER ? ev->line : event_name (ev->type), -1);
  switch (ev->type)
    {
    case BP_CLIENT_EVENT_CONNECT:
    case BP_CLIENT_EVENT_DISCONNECT:
      json_key_string (out, "address", ev->address);
      break;
    case BP_CLIENT_EVENT_SUBSCRIBE:
    case BP_CLIENT_EVENT_UNSUBSCRIBE:
    case BP_CLIENT_EVENT_CONFIRM:
      json_key_string (out, "characteristic", ev->characteristic);
      json_key_string (out, "address", ev->address);
      if (bp_client_event_mtu (ev) > 0)
        g_string_append_printf (out, ",\"mtu\":%u", bp_client_event_mtu (ev));
      break;
    case BP_CLIENT_EVENT_WRITE:
      {
        g_autofree char *hex = bp_value_to_hex (ev->data, ev->len);

        json_key_string (out, "characteristic", ev->characteristic);
        json_key_string (out, "address", ev->address);
        g_string_append_printf (out, ",\"offset\":%u", ev->offset);
        json_key_string (out, "hex", hex);
        json_value (out, ev->data, ev->len, info);
        break;
      }
    case BP_CLIENT_EVENT_READ:
      g_string_append_printf (out, ",\"id\":%" G_GUINT64_FORMAT, (guint64) ev->id);
      json_key_string (out, "characteristic", ev->characteristic);
      json_key_string (out, "address", ev->address);
      g_string_append_printf (out, ",\"offset\":%u", ev->offset);
      break;
    case BP_CLIENT_EVENT_DROPPED:
      json_key_string (out, "characteristic", ev->characteristic);
      g_string_append_printf (out, ",\"count\":%" G_GUINT64_FORMAT, (guint64) ev->count);
      break;
    case BP_CLIENT_EVENT_ADVERTISING:
      json_key_string (out, "state", ev->on ? "started" : "stopped");
      json_key_string (out, "reason", ev->reason);
      break;
    case BP_CLIENT_EVENT_ADAPTER:
      json_key_string (out, "address", ev->address);
      json_key_string (out, "state", ev->on ? "up" : "down");
      break;
    case BP_CLIENT_EVENT_PAIRING:
      json_key_string (out, "address", ev->address);
      json_key_string (out, "kind", ev->reason);
      if (ev->on)
        g_string_append_printf (out, ",\"passkey\":\"%06u\"", (unsigned) ev->count);
      break;
    case BP_CLIENT_EVENT_PAIRED:
      json_key_string (out, "address", ev->address);
      break;
    case BP_CLIENT_EVENT_PAIRING_FAILED:
      json_key_string (out, "address", ev->address);
      json_key_string (out, "reason", ev->reason);
      break;
    case BP_CLIENT_EVENT_RELOADED:
    case BP_CLIENT_EVENT_OTHER:
      break;
    }
  g_string_append_c (out, '}');
  printf ("%s\n", out->str);
  fflush (stdout);
}

static int
cmd_watch (bp_client *c, const Options *o)
{
  g_autoptr (GHashTable) cache = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, g_free);
  unsigned mask = 0;
  bp_client_event ev;

  for (guint i = 1; i < o->args->len; i++)
    {
      const char *class = g_ptr_array_index (o->args, i);

      if (strcmp (class, "write") == 0)
        mask |= BP_CLIENT_WATCH_WRITE;
      else if (strcmp (class, "connect") == 0)
        mask |= BP_CLIENT_WATCH_CONNECT;
      else if (strcmp (class, "subscribe") == 0)
        mask |= BP_CLIENT_WATCH_SUBSCRIBE;
      else if (strcmp (class, "state") == 0)
        mask |= BP_CLIENT_WATCH_STATE;
      else if (strcmp (class, "pairing") == 0)
        mask |= BP_CLIENT_WATCH_PAIRING;
      else if (strcmp (class, "all") == 0)
        mask |= BP_CLIENT_WATCH_ALL;
      else
        return usage_error (
          "watch: unknown event class \"%s\": expected write, connect, "
          "subscribe, state, pairing or all",
          class);
    }
  if (bp_client_watch (c, mask) < 0)
    return client_failure (c, "watch");
  for (;;)
    {
      int r = bp_client_next_event (c, -1, &ev);

      if (r < 0)
        {
          /* A line this version cannot parse is skipped, not fatal. */
          if (strcmp (bp_client_error_name (c), "protocol") == 0)
            {
              fprintf (stderr, "ble-peripheralctl: %s\n", bp_client_error (c));
              continue;
            }
          return client_failure (c, "watch");
        }
      print_event (c, o, cache, &ev);
    }
}

/* --- stream ------------------------------------------------------------- */

static int
cmd_stream (bp_client *c, const Options *o)
{
  const char *chr = g_ptr_array_index (o->args, 1);
  g_autofree char *line = NULL;
  size_t cap = 0;
  ssize_t n;
  guint64 number = 0;
  int status = EXIT_OK;

  while ((n = getline (&line, &cap, stdin)) >= 0)
    {
      g_autofree char *value = NULL;
      char *text;

      number++;
      while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
        line[--n] = '\0';
      text = g_strstrip (line);
      if (*text == '\0')
        continue;
      value = value_word (text);
      if (bp_client_notify_text (c, chr, value, o->to) < 0)
        {
          const char *name = bp_client_error_name (c);

          /* One bad line does not stop the stream; a lost daemon does. */
          if (strcmp (name, "disconnected") == 0 || strcmp (name, "timeout") == 0 || strcmp (name, "io") == 0)
            return client_failure (c, "stream");
          fprintf (stderr, "ble-peripheralctl: stream: line %" G_GUINT64_FORMAT ": %s\n", number, bp_client_error (c));
          status = EXIT_ERROR;
        }
    }
  return status;
}

/* --- serve -------------------------------------------------------------- */

/* Runs argv with a deadline; its standard output (trimmed) into *output.
 * TRUE when it exited 0 in time. */
static gboolean
run_command (char **argv, char **envp, guint timeout_ms, char **output, char **why)
{
  GPid pid;
  int out_fd = -1;
  g_autoptr (GError) error = NULL;
  g_autoptr (GString) buf = g_string_new (NULL);
  gint64 deadline = g_get_monotonic_time () + (gint64) timeout_ms * 1000;
  gboolean timed_out = FALSE;
  int wstatus = 0;

  if (!g_spawn_async_with_pipes (NULL, argv, envp,
                                 G_SPAWN_SEARCH_PATH | G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL, NULL,
                                 NULL, &pid, NULL, &out_fd, NULL, &error))
    {
      *why = g_strdup (error->message);
      return FALSE;
    }

  for (;;)
    {
      struct pollfd pfd = { .fd = out_fd, .events = POLLIN };
      gint64 left = deadline - g_get_monotonic_time ();
      char chunk[1024];
      ssize_t n;
      int r;

      if (left <= 0)
        {
          timed_out = TRUE;
          break;
        }
      r = poll (&pfd, 1, (int) ((left + 999) / 1000));
      if (r < 0 && errno == EINTR)
        continue;
      if (r == 0)
        {
          timed_out = TRUE;
          break;
        }
      n = read (out_fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0)
        break;
      if (buf->len < SERVE_OUTPUT_MAX)
        g_string_append_len (buf, chunk, n);
    }
  close (out_fd);
  if (timed_out)
    kill (pid, SIGKILL);
  while (waitpid (pid, &wstatus, 0) < 0 && errno == EINTR)
    ;
  g_spawn_close_pid (pid);

  if (timed_out)
    {
      *why = g_strdup_printf ("%s did not answer within %u ms", argv[0], timeout_ms);
      return FALSE;
    }
  if (!WIFEXITED (wstatus) || WEXITSTATUS (wstatus) != 0)
    {
      *why = WIFEXITED (wstatus) ? g_strdup_printf ("%s exited with status %d", argv[0], WEXITSTATUS (wstatus)) :
                                   g_strdup_printf ("%s was killed by signal %d", argv[0], WTERMSIG (wstatus));
      return FALSE;
    }
  if (buf->len >= SERVE_OUTPUT_MAX)
    {
      *why = g_strdup_printf ("%s printed more than %d bytes", argv[0], SERVE_OUTPUT_MAX);
      return FALSE;
    }
  *output = g_strdup (g_strstrip (buf->str));
  return TRUE;
}

static int
answer_read (bp_client *c, const Options *o, const CharInfo *info, const bp_client_event *ev)
{
  g_auto (GStrv) envp = g_get_environ ();
  g_autofree char *output = NULL;
  g_autofree char *why = NULL;
  g_autofree char *id = g_strdup_printf ("%" G_GUINT64_FORMAT, (guint64) ev->id);
  g_autofree char *offset = g_strdup_printf ("%u", ev->offset);

  envp = g_environ_setenv (envp, "BLE_PERIPHERAL_CHARACTERISTIC", info->id, TRUE);
  envp = g_environ_setenv (envp, "BLE_PERIPHERAL_ADDRESS", ev->address != NULL ? ev->address : "", TRUE);
  envp = g_environ_setenv (envp, "BLE_PERIPHERAL_READ_ID", id, TRUE);
  envp = g_environ_setenv (envp, "BLE_PERIPHERAL_OFFSET", offset, TRUE);

  if (run_command (o->command, envp, MAX (info->read_timeout_ms, 100), &output, &why))
    {
      g_autofree char *value = value_word (output);

      if (bp_client_reply_text (c, ev->id, value) == 0)
        return EXIT_OK;
      if (strcmp (bp_client_error_name (c), "bad-value") != 0 &&
          strcmp (bp_client_error_name (c), "out-of-range") != 0 && strcmp (bp_client_error_name (c), "too-long") != 0)
        return client_failure (c, "serve") == EXIT_UNREACHABLE ? EXIT_UNREACHABLE : EXIT_OK;
      why = g_strdup_printf ("%s's output is not a value of %s: %s", o->command[0], info->id, bp_client_error (c));
    }
  fprintf (stderr, "ble-peripheralctl: serve: read %s: %s; answering ATT error 0x80\n", id, why);
  if (bp_client_reply_error (c, ev->id, 0x80) < 0)
    return client_failure (c, "serve") == EXIT_UNREACHABLE ? EXIT_UNREACHABLE : EXIT_OK;
  return EXIT_OK;
}

static int
cmd_serve (bp_client *c, const Options *o)
{
  const char *chr = g_ptr_array_index (o->args, 1);
  CharInfo info;
  bp_client_event ev;

  if (o->command == NULL || o->command[0] == NULL)
    return usage_error ("serve: expected CHAR -- COMMAND [ARGUMENT…]");
  if (get_char_info (c, chr, &info) < 0)
    return client_failure (c, "serve");
  if (bp_client_serve (c, chr) < 0)
    return client_failure (c, "serve");
  for (;;)
    {
      int r = bp_client_next_event (c, -1, &ev);

      if (r < 0)
        {
          if (strcmp (bp_client_error_name (c), "protocol") == 0)
            continue;
          return client_failure (c, "serve");
        }
      if (ev.type == BP_CLIENT_EVENT_READ && answer_read (c, o, &info, &ev) == EXIT_UNREACHABLE)
        return EXIT_UNREACHABLE;
    }
}

/* --- check-config --------------------------------------------------------- */

static char *
find_daemon (void)
{
  const char *env = g_getenv ("BLE_PERIPHERAL_DAEMON");
  g_autofree char *self = NULL;

  if (env != NULL && *env != '\0')
    return g_strdup (env);
  /* In the build tree the daemon is beside us: src/ctl/ → src/daemon/. */
  self = g_file_read_link ("/proc/self/exe", NULL);
  if (self != NULL)
    {
      g_autofree char *dir = g_path_get_dirname (self);
      g_autofree char *built = g_build_filename (dir, "..", "daemon", "ble-peripheral", NULL);

      if (g_file_test (built, G_FILE_TEST_IS_EXECUTABLE))
        return g_steal_pointer (&built);
    }
  return g_build_filename (BP_SBINDIR, "ble-peripheral", NULL);
}

static int
cmd_check_config (const Options *o)
{
  g_autofree char *daemon = find_daemon ();
  const char *argv[5] = { daemon, "--check-config", NULL, NULL, NULL };

  if (o->args->len > 2)
    return usage_error ("check-config: expected at most one FILE");
  if (o->args->len == 2)
    {
      argv[2] = "--config";
      argv[3] = g_ptr_array_index (o->args, 1);
    }
  fflush (NULL);
  execv (daemon, (char **) argv);
  fprintf (stderr,
           "ble-peripheralctl: check-config: cannot run %s: %s "
           "(set BLE_PERIPHERAL_DAEMON to the daemon's path)\n",
           daemon, g_strerror (errno));
  return EXIT_ERROR;
}

/* --- main ----------------------------------------------------------------- */

typedef struct {
  const char *name;
  guint min_args; /* counting the command */
  guint max_args;
  const char *usage;
  int (*run) (bp_client *c, const Options *o);
} Command;

static const Command commands[] = {
  { "status", 1, 1, "status", cmd_status },
  { "info", 2, 2, "info CHAR", cmd_info },
  { "set", 3, 3, "set CHAR VALUE", cmd_set_notify },
  { "notify", 3, 3, "notify CHAR VALUE [--to ADDR]", cmd_set_notify },
  { "get", 2, 2, "get CHAR", cmd_get_take },
  { "take", 2, 2, "take CHAR", cmd_get_take },
  { "watch", 1, 7, "watch [--json] [CLASS…]", cmd_watch },
  { "stream", 2, 2, "stream CHAR [--to ADDR]", cmd_stream },
  { "serve", 2, 2, "serve CHAR -- COMMAND [ARGUMENT…]", cmd_serve },
  { "advertise", 2, 2, "advertise on|off", cmd_advertise },
  { "disconnect", 2, 2, "disconnect ADDR", cmd_disconnect },
  { "pairing", 2, 3, "pairing on [DURATION] | off | accept ADDR | reject ADDR", cmd_pairing },
  { "bonds", 1, 1, "bonds", cmd_bonds },
  { "forget", 2, 2, "forget ADDR", cmd_forget },
};

static gboolean
looks_negative_number (const char *arg)
{
  return arg[0] == '-' && (g_ascii_isdigit (arg[1]) || arg[1] == '.');
}

/* 0 to go on, else the exit status (help, version, usage error: -1). */
static int
parse_options (int argc, char **argv, Options *o)
{
  for (int i = 1; i < argc; i++)
    {
      const char *arg = argv[i];
      const char **target = NULL;
      const char *name = NULL;

      if (strcmp (arg, "--") == 0)
        {
          o->command = argv + i + 1;
          break;
        }
      if (strcmp (arg, "-h") == 0 || strcmp (arg, "--help") == 0)
        {
          fputs (usage_text, stdout);
          return 1;
        }
      if (strcmp (arg, "--version") == 0)
        {
          printf ("ble-peripheralctl %s\n", PACKAGE_VERSION);
          return 1;
        }
      if (strcmp (arg, "--json") == 0)
        {
          o->json = TRUE;
          continue;
        }
      if (g_str_has_prefix (arg, "--socket"))
        target = &o->socket, name = "--socket";
      else if (g_str_has_prefix (arg, "--to"))
        target = &o->to, name = "--to";
      if (target != NULL && arg[strlen (name)] == '=')
        {
          *target = arg + strlen (name) + 1;
          continue;
        }
      if (target != NULL && arg[strlen (name)] == '\0')
        {
          if (i + 1 >= argc)
            {
              usage_error ("%s needs a value", name);
              return -1;
            }
          *target = argv[++i];
          continue;
        }
      if (arg[0] == '-' && arg[1] != '\0' && !looks_negative_number (arg))
        {
          usage_error ("unknown option \"%s\"", arg);
          return -1;
        }
      g_ptr_array_add (o->args, (gpointer) arg);
    }
  return 0;
}

int
main (int argc, char **argv)
{
  Options o = { 0 };
  g_autoptr (GPtrArray) args = g_ptr_array_new ();
  const Command *cmd = NULL;
  const char *name;
  bp_client *c;
  int r;

  setlocale (LC_ALL, "");
  o.args = args;
  r = parse_options (argc, argv, &o);
  if (r != 0)
    return r > 0 ? EXIT_OK : EXIT_USAGE;
  if (args->len == 0)
    return usage_error ("a command is required");
  name = g_ptr_array_index (args, 0);

  if (o.to != NULL && !bp_protocol_address_valid (o.to))
    return usage_error ("--to \"%s\": expected a Bluetooth address such as 00:11:22:33:44:55", o.to);
  if (strcmp (name, "check-config") == 0)
    return cmd_check_config (&o);
  for (guint i = 0; i < G_N_ELEMENTS (commands); i++)
    if (strcmp (commands[i].name, name) == 0)
      cmd = &commands[i];
  if (cmd == NULL)
    return usage_error ("unknown command \"%s\"", name);
  if (args->len < cmd->min_args || args->len > cmd->max_args)
    return usage_error ("%s: expected \"%s\"", name, cmd->usage);
  if (o.to != NULL && strcmp (name, "notify") != 0 && strcmp (name, "stream") != 0)
    return usage_error ("--to applies to notify and stream only");
  if (o.json && strcmp (name, "watch") != 0)
    return usage_error ("--json applies to watch only");
  if (o.command != NULL && strcmp (name, "serve") != 0)
    return usage_error ("\"--\" and a COMMAND apply to serve only");

  c = connect_daemon (&o);
  if (c == NULL)
    return EXIT_UNREACHABLE;
  r = cmd->run (c, &o);
  bp_client_close (c);
  return r;
}
