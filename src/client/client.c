/* libble-peripheral: see include/ble-peripheral/client.h. */
#define G_LOG_DOMAIN "ble-peripheral-client"

#include "build-config.h"

#include "ble-peripheral/client.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib.h>

#include "common/error.h"
#include "common/protocol.h"
#include "common/value.h"

#define DEFAULT_TIMEOUT_MS 10000
/* Lines from the daemon longer than this are not ours. */
#define LINE_LIMIT (1024 * 1024)

struct bp_client {
  int fd;
  int timeout_ms;
  GString *in; /* received; in->str + in_head not yet consumed */
  gsize in_head;
  GQueue events;      /* of char*: event lines received while waiting for a reply */
  guint skip_replies; /* replies of requests that timed out, still to come */
  gboolean broken;    /* the connection is gone */
  char *reply;        /* the last reply line, cut in place */
  char *event_line;   /* the last event, cut in place */
  char *event_text;   /* and as received */
  guint8 event_data[BP_VALUE_MAX];
  GString *error;      /* "NAME: message" */
  char error_name[64]; /* "NAME" */
};

static void set_error (bp_client *c, const char *name, const char *format, ...) G_GNUC_PRINTF (3, 4);

static void
set_error (bp_client *c, const char *name, const char *format, ...)
{
  va_list args;

  g_strlcpy (c->error_name, name, sizeof c->error_name);
  g_string_assign (c->error, name);
  g_string_append (c->error, ": ");
  va_start (args, format);
  g_string_append_vprintf (c->error, format, args);
  va_end (args);
}

bp_client *
bp_client_connect (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  bp_client *c;
  int fd;

  if (path == NULL)
    path = g_getenv (BP_CLIENT_SOCKET_ENV);
  if (path == NULL || *path == '\0')
    path = BP_CLIENT_DEFAULT_SOCKET;
  if (strlen (path) >= sizeof addr.sun_path)
    {
      errno = ENAMETOOLONG;
      return NULL;
    }
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);

  fd = socket (AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return NULL;
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0 ||
      fcntl (fd, F_SETFL, fcntl (fd, F_GETFL) | O_NONBLOCK) < 0)
    {
      int saved = errno;

      close (fd);
      errno = saved;
      return NULL;
    }

  c = g_new0 (bp_client, 1);
  c->fd = fd;
  c->timeout_ms = DEFAULT_TIMEOUT_MS;
  c->in = g_string_sized_new (4096);
  c->error = g_string_new ("");
  g_queue_init (&c->events);
  return c;
}

void
bp_client_close (bp_client *c)
{
  if (c == NULL)
    return;
  if (c->fd >= 0)
    close (c->fd);
  g_string_free (c->in, TRUE);
  g_string_free (c->error, TRUE);
  g_queue_clear_full (&c->events, g_free);
  g_free (c->reply);
  g_free (c->event_line);
  g_free (c->event_text);
  g_free (c);
}

void
bp_client_set_timeout (bp_client *c, int timeout_ms)
{
  c->timeout_ms = timeout_ms;
}

const char *
bp_client_error (const bp_client *c)
{
  return c->error->str;
}

const char *
bp_client_error_name (const bp_client *c)
{
  return c->error_name;
}

int
bp_client_fd (const bp_client *c)
{
  return c->fd;
}

size_t
bp_client_pending_events (const bp_client *c)
{
  return c->events.length;
}

/* --- the wire -------------------------------------------------------- */

static gint64
deadline_after (int timeout_ms)
{
  return timeout_ms < 0 ? -1 : g_get_monotonic_time () + (gint64) timeout_ms * 1000;
}

static int
remaining_ms (gint64 deadline)
{
  gint64 left;

  if (deadline < 0)
    return -1;
  left = deadline - g_get_monotonic_time ();
  return left <= 0 ? 0 : (int) MIN ((left + 999) / 1000, G_MAXINT);
}

static void
mark_broken (bp_client *c, const char *why)
{
  c->broken = TRUE;
  set_error (c, "disconnected", "%s", why);
}

static int
send_all (bp_client *c, const char *data, gsize len, gint64 deadline)
{
  while (len > 0)
    {
      ssize_t n = send (c->fd, data, len, MSG_NOSIGNAL);

      if (n >= 0)
        {
          data += n;
          len -= n;
          continue;
        }
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        {
          struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
          int r = poll (&pfd, 1, remaining_ms (deadline));

          if (r == 0)
            {
              set_error (c, "timeout", "the daemon did not take the request in time");
              return -1;
            }
          if (r < 0 && errno != EINTR)
            {
              set_error (c, "io", "poll: %s", g_strerror (errno));
              return -1;
            }
          continue;
        }
      mark_broken (c, errno == EPIPE || errno == ECONNRESET ? "the daemon closed the connection" : g_strerror (errno));
      return -1;
    }
  return 0;
}

/* 1 with a line (without "\n", to g_free), 0 when the deadline passed, -1
 * on error. */
static int
read_line (bp_client *c, gint64 deadline, char **line)
{
  for (;;)
    {
      char *start = c->in->str + c->in_head;
      gsize avail = c->in->len - c->in_head;
      char *nl = memchr (start, '\n', avail);
      ssize_t n;

      if (nl != NULL)
        {
          gsize len = nl - start;

          *line = g_strndup (start, len > 0 && start[len - 1] == '\r' ? len - 1 : len);
          c->in_head += len + 1;
          if (c->in_head == c->in->len)
            {
              g_string_truncate (c->in, 0);
              c->in_head = 0;
            }
          return 1;
        }
      if (avail > LINE_LIMIT)
        {
          mark_broken (c, "a line from the daemon is over 1 MiB");
          set_error (c, "protocol", "a line from the daemon is over 1 MiB");
          return -1;
        }
      if (c->broken)
        {
          set_error (c, "disconnected", "the daemon closed the connection");
          return -1;
        }
      if (c->in_head > 0)
        {
          g_string_erase (c->in, 0, c->in_head);
          c->in_head = 0;
        }

      {
        gsize at = c->in->len;

        g_string_set_size (c->in, at + 65536);
        n = recv (c->fd, c->in->str + at, 65536, 0);
        g_string_set_size (c->in, at + MAX (n, 0));
      }
      if (n > 0)
        continue;
      if (n == 0)
        {
          mark_broken (c, "the daemon closed the connection");
          return -1;
        }
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK)
        {
          struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
          int timeout = remaining_ms (deadline);
          int r;

          if (timeout == 0)
            return 0;
          r = poll (&pfd, 1, timeout);
          if (r == 0)
            return 0;
          if (r < 0 && errno != EINTR)
            {
              set_error (c, "io", "poll: %s", g_strerror (errno));
              return -1;
            }
          continue;
        }
      mark_broken (c, g_strerror (errno));
      return -1;
    }
}

/* Sends request (which ends in "\n") and waits for its reply; events
 * arriving meanwhile are queued. On ok, *words are the reply's words. */
static int
request (bp_client *c, const GString *req, const char **words)
{
  gint64 deadline = deadline_after (c->timeout_ms);

  g_string_truncate (c->error, 0);
  c->error_name[0] = '\0';
  if (c->broken)
    {
      set_error (c, "disconnected", "the connection to the daemon is closed");
      return -1;
    }
  if (send_all (c, req->str, req->len, deadline) < 0)
    return -1;

  for (;;)
    {
      char *line = NULL;
      BpReply reply;
      int r = read_line (c, deadline, &line);

      if (r < 0)
        return -1;
      if (r == 0)
        {
          /* Its reply may still come: skip it then, so replies stay paired. */
          c->skip_replies++;
          set_error (c, "timeout", "no reply within %d ms", c->timeout_ms);
          return -1;
        }
      if (g_str_has_prefix (line, "event "))
        {
          g_queue_push_tail (&c->events, line);
          continue;
        }
      if (c->skip_replies > 0)
        {
          c->skip_replies--;
          g_free (line);
          continue;
        }
      g_free (c->reply);
      c->reply = line;
      if (!bp_reply_parse (line, &reply, NULL))
        {
          set_error (c, "protocol", "unexpected line from the daemon: %.80s", line);
          return -1;
        }
      if (!reply.ok)
        {
          set_error (c, reply.error_name, "%s", reply.message);
          return -1;
        }
      if (words != NULL)
        *words = reply.words;
      return 0;
    }
}

static gboolean
check_word (bp_client *c, const char *what, const char *word)
{
  if (word != NULL && bp_protocol_word_valid (word))
    return TRUE;
  set_error (c, "invalid-argument", "%s \"%s\": expected one word without spaces", what,
             word != NULL ? word : "(null)");
  return FALSE;
}

static gboolean
check_text_value (bp_client *c, const char *value)
{
  if (value != NULL && strpbrk (value, "\r\n") == NULL && g_utf8_validate (value, -1, NULL))
    return TRUE;
  set_error (c, "invalid-argument", "a value must be one line of UTF-8 text");
  return FALSE;
}

static gboolean
check_address (bp_client *c, const char *address)
{
  if (address == NULL || bp_protocol_address_valid (address))
    return TRUE;
  set_error (c, "invalid-argument", "address \"%s\": expected 00:11:22:33:44:55", address);
  return FALSE;
}

static gboolean
check_bytes (bp_client *c, const void *data, size_t len)
{
  if (len <= BP_VALUE_MAX && (data != NULL || len == 0))
    return TRUE;
  set_error (c, "invalid-argument", "a value is at most %d bytes, not %zu", BP_VALUE_MAX, len);
  return FALSE;
}

static void
begin (bp_client *c)
{
  g_string_truncate (c->error, 0);
  c->error_name[0] = '\0';
}

static int
value_request (bp_client *c, const char *verb, const char *characteristic, const void *data, size_t len,
               const char *text, const char *address)
{
  g_autoptr (GString) req = g_string_sized_new (64 + 2 * len);

  begin (c);
  if (!check_word (c, "characteristic", characteristic) || !check_address (c, address))
    return -1;
  if (text != NULL ? !check_text_value (c, text) : !check_bytes (c, data, len))
    return -1;
  g_string_append_printf (req, "%s %s ", verb, characteristic);
  if (text != NULL)
    g_string_append (req, *text != '\0' ? text : "\"\"");
  else
    bp_protocol_append_value (req, data, len);
  if (address != NULL)
    g_string_append_printf (req, " to=%s", address);
  g_string_append_c (req, '\n');
  return request (c, req, NULL);
}

int
bp_client_set (bp_client *c, const char *characteristic, const void *data, size_t len)
{
  return value_request (c, "set", characteristic, data, len, NULL, NULL);
}

int
bp_client_set_text (bp_client *c, const char *characteristic, const char *value)
{
  if (value == NULL)
    value = "";
  return value_request (c, "set", characteristic, NULL, 0, value, NULL);
}

int
bp_client_notify (bp_client *c, const char *characteristic, const void *data, size_t len, const char *address)
{
  return value_request (c, "notify", characteristic, data, len, NULL, address);
}

int
bp_client_notify_text (bp_client *c, const char *characteristic, const char *value, const char *address)
{
  if (value == NULL)
    value = "";
  return value_request (c, "notify", characteristic, NULL, 0, value, address);
}

static int simple_request (bp_client *c, const char **words, const char *format, ...) G_GNUC_PRINTF (3, 4);

static int
simple_request (bp_client *c, const char **words, const char *format, ...)
{
  g_autoptr (GString) req = g_string_new (NULL);
  va_list args;

  va_start (args, format);
  g_string_append_vprintf (req, format, args);
  va_end (args);
  g_string_append_c (req, '\n');
  return request (c, req, words);
}

static int
value_reply (bp_client *c, const char *verb, const char *characteristic, uint8_t *buf, size_t size, size_t *len)
{
  const char *words = NULL;
  gsize n = 0;

  begin (c);
  if (!check_word (c, "characteristic", characteristic))
    return -1;
  if (simple_request (c, &words, "%s %s", verb, characteristic) < 0)
    return -1;
  if (!bp_protocol_decode_value (words, buf, size, &n))
    {
      set_error (c, strlen (words) / 2 > size ? "invalid-argument" : "protocol",
                 "%s %s: the value \"%.40s\" does not fit %zu bytes or is not hex", verb, characteristic, words, size);
      return -1;
    }
  if (len != NULL)
    *len = n;
  return 0;
}

int
bp_client_get (bp_client *c, const char *characteristic, uint8_t *buf, size_t size, size_t *len)
{
  return value_reply (c, "get", characteristic, buf, size, len);
}

int
bp_client_take (bp_client *c, const char *characteristic, uint8_t *buf, size_t size, size_t *len)
{
  return value_reply (c, "take", characteristic, buf, size, len);
}

static int
watch_request (bp_client *c, const char *verb, unsigned mask)
{
  g_autoptr (GString) req = g_string_new (verb);

  begin (c);
  if (mask == 0 || (mask & BP_CLIENT_WATCH_ALL) == BP_CLIENT_WATCH_ALL)
    g_string_append (req, " all");
  else
    {
      if (mask & BP_CLIENT_WATCH_WRITE)
        g_string_append (req, " write");
      if (mask & BP_CLIENT_WATCH_CONNECT)
        g_string_append (req, " connect");
      if (mask & BP_CLIENT_WATCH_SUBSCRIBE)
        g_string_append (req, " subscribe");
      if (mask & BP_CLIENT_WATCH_STATE)
        g_string_append (req, " state");
      if (mask & BP_CLIENT_WATCH_PAIRING)
        g_string_append (req, " pairing");
    }
  g_string_append_c (req, '\n');
  return request (c, req, NULL);
}

int
bp_client_watch (bp_client *c, unsigned mask)
{
  return watch_request (c, "watch", mask);
}

int
bp_client_unwatch (bp_client *c, unsigned mask)
{
  return watch_request (c, "unwatch", mask);
}

static bp_client_event_type
event_type (BpProtoEventKind kind)
{
  switch (kind)
    {
    case BP_PROTO_EVENT_CONNECT:
      return BP_CLIENT_EVENT_CONNECT;
    case BP_PROTO_EVENT_DISCONNECT:
      return BP_CLIENT_EVENT_DISCONNECT;
    case BP_PROTO_EVENT_SUBSCRIBE:
      return BP_CLIENT_EVENT_SUBSCRIBE;
    case BP_PROTO_EVENT_UNSUBSCRIBE:
      return BP_CLIENT_EVENT_UNSUBSCRIBE;
    case BP_PROTO_EVENT_WRITE:
      return BP_CLIENT_EVENT_WRITE;
    case BP_PROTO_EVENT_READ:
      return BP_CLIENT_EVENT_READ;
    case BP_PROTO_EVENT_CONFIRM:
      return BP_CLIENT_EVENT_CONFIRM;
    case BP_PROTO_EVENT_DROPPED:
      return BP_CLIENT_EVENT_DROPPED;
    case BP_PROTO_EVENT_ADVERTISING:
      return BP_CLIENT_EVENT_ADVERTISING;
    case BP_PROTO_EVENT_ADAPTER:
      return BP_CLIENT_EVENT_ADAPTER;
    case BP_PROTO_EVENT_RELOADED:
      return BP_CLIENT_EVENT_RELOADED;
    case BP_PROTO_EVENT_PAIRING:
      return BP_CLIENT_EVENT_PAIRING;
    case BP_PROTO_EVENT_PAIRED:
      return BP_CLIENT_EVENT_PAIRED;
    case BP_PROTO_EVENT_PAIRING_FAILED:
      return BP_CLIENT_EVENT_PAIRING_FAILED;
    case BP_PROTO_EVENT_UNKNOWN:
      return BP_CLIENT_EVENT_OTHER;
    }
  return BP_CLIENT_EVENT_OTHER;
}

int
bp_client_next_event (bp_client *c, int timeout_ms, bp_client_event *event)
{
  gint64 deadline = deadline_after (timeout_ms);
  char *line;
  BpProtoEvent ev;
  g_autoptr (GError) error = NULL;

  begin (c);
  line = g_queue_pop_head (&c->events);
  while (line == NULL)
    {
      int r = read_line (c, deadline, &line);

      if (r <= 0)
        return r;
      if (g_str_has_prefix (line, "event "))
        break;
      if (c->skip_replies > 0)
        c->skip_replies--;
      else
        g_warning ("ignoring a line from the daemon that answers no request: %.80s", line);
      g_clear_pointer (&line, g_free);
    }

  g_free (c->event_line);
  g_free (c->event_text);
  c->event_line = line;
  c->event_text = g_strdup (line);
  memset (event, 0, sizeof *event);
  event->line = c->event_text;
  if (!bp_proto_event_parse (c->event_line, &ev, c->event_data, &error))
    {
      set_error (c, "protocol", "%s: %.80s", error->message, c->event_text);
      return -1;
    }
  event->type = event_type (ev.kind);
  event->characteristic = ev.characteristic;
  event->address = ev.address;
  event->data = ev.data;
  event->len = ev.len;
  event->offset = ev.offset;
  event->id = ev.id;
  event->count = ev.count;
  event->on = ev.on;
  event->reason = ev.reason;
  if (ev.kind == BP_PROTO_EVENT_PAIRING)
    event->on = ev.has_passkey;
  return 1;
}

unsigned
bp_client_event_mtu (const bp_client_event *event)
{
  const char *m;
  guint64 v = 0;

  if (event == NULL || event->type != BP_CLIENT_EVENT_SUBSCRIBE || event->line == NULL)
    return 0;
  m = strstr (event->line, " mtu=");
  if (m == NULL || !g_ascii_string_to_unsigned (m + 5, 10, 23, 65535, &v, NULL))
    return 0;
  return (unsigned) v;
}

int
bp_client_serve (bp_client *c, const char *characteristic)
{
  begin (c);
  if (!check_word (c, "characteristic", characteristic))
    return -1;
  return simple_request (c, NULL, "serve %s", characteristic);
}

int
bp_client_reply (bp_client *c, uint64_t id, const void *data, size_t len)
{
  g_autoptr (GString) req = g_string_new (NULL);

  begin (c);
  if (!check_bytes (c, data, len))
    return -1;
  g_string_append_printf (req, "reply %" G_GUINT64_FORMAT " ", (guint64) id);
  bp_protocol_append_value (req, data, len);
  g_string_append_c (req, '\n');
  return request (c, req, NULL);
}

int
bp_client_reply_text (bp_client *c, uint64_t id, const char *value)
{
  begin (c);
  if (value == NULL)
    value = "";
  if (!check_text_value (c, value))
    return -1;
  return simple_request (c, NULL, "reply %" G_GUINT64_FORMAT " %s", (guint64) id, *value != '\0' ? value : "\"\"");
}

int
bp_client_reply_error (bp_client *c, uint64_t id, uint8_t att_error)
{
  begin (c);
  return simple_request (c, NULL, "reply %" G_GUINT64_FORMAT " error 0x%02x", (guint64) id, att_error);
}

int
bp_client_advertise (bp_client *c, int on)
{
  begin (c);
  return simple_request (c, NULL, "advertise %s", on ? "on" : "off");
}

int
bp_client_disconnect (bp_client *c, const char *address)
{
  begin (c);
  if (address == NULL)
    {
      set_error (c, "invalid-argument", "an address is required");
      return -1;
    }
  if (!check_address (c, address))
    return -1;
  return simple_request (c, NULL, "disconnect %s", address);
}

int
bp_client_status (bp_client *c, const char **text)
{
  begin (c);
  return simple_request (c, text, "status");
}

int
bp_client_pairing (bp_client *c, int on, unsigned long duration_ms)
{
  begin (c);
  if (!on)
    return simple_request (c, NULL, "pairing off");
  if (duration_ms == 0)
    return simple_request (c, NULL, "pairing on");
  return simple_request (c, NULL, "pairing on %lums", duration_ms);
}

int
bp_client_pairing_answer (bp_client *c, const char *address, int accept)
{
  begin (c);
  if (address == NULL)
    {
      set_error (c, "invalid-argument", "an address is required");
      return -1;
    }
  if (!check_address (c, address))
    return -1;
  return simple_request (c, NULL, "pairing %s %s", accept ? "accept" : "reject", address);
}

int
bp_client_bonds (bp_client *c, const char **addresses)
{
  begin (c);
  return simple_request (c, addresses, "bonds");
}

int
bp_client_forget (bp_client *c, const char *address)
{
  begin (c);
  if (address == NULL)
    {
      set_error (c, "invalid-argument", "an address is required");
      return -1;
    }
  if (!check_address (c, address))
    return -1;
  return simple_request (c, NULL, "forget %s", address);
}

int
bp_client_info (bp_client *c, const char *characteristic, const char **text)
{
  begin (c);
  if (!check_word (c, "characteristic", characteristic))
    return -1;
  return simple_request (c, text, "info %s", characteristic);
}

int
bp_client_request (bp_client *c, const char *line, const char **text)
{
  begin (c);
  if (line == NULL || strpbrk (line, "\r\n") != NULL)
    {
      set_error (c, "invalid-argument", "a request is one line without \"\\n\"");
      return -1;
    }
  return simple_request (c, text, "%s", line);
}

int
bp_client_lookup (const char *text, const char *key, char *buf, size_t size)
{
  gsize key_len = strlen (key);
  const char *p = text;

  while (p != NULL && *p != '\0')
    {
      const char *end = strchr (p, ' ');
      gsize word_len = end != NULL ? (gsize) (end - p) : strlen (p);

      if (word_len > key_len && strncmp (p, key, key_len) == 0 && p[key_len] == '=')
        {
          gsize value_len = word_len - key_len - 1;

          if (value_len + 1 > size)
            return -1;
          memcpy (buf, p + key_len + 1, value_len);
          buf[value_len] = '\0';
          return 0;
        }
      p = end != NULL ? end + 1 : NULL;
    }
  return -1;
}
