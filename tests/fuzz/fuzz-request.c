/* Fuzz target: the control protocol's lines. An input is one line, as the
 * daemon cuts what it reads: up to its first "\n" (the rest is ignored), or
 * the whole input when there is none. The daemon handles each line on its
 * own (nothing carries over from line to line), so one line per input makes
 * every execution test a new line instead of the same dozens again; a
 * corpus file holds one line. The line goes where a line goes:
 *   - into bp_request_parse(), on a copy with one byte to spare as in the
 *     daemon's read buffer; what it accepts is checked word by word, and the
 *     VALUE of set, notify and reply is parsed as the daemon does for a
 *     characteristic's Format (check_value() says which), then sent back as an "ok VALUE" reply and as an
 *     "event write" line and read back as the client library reads them;
 *     what it refuses becomes an "error NAME: message" reply that must be one
 *     line of UTF-8 that bp_reply_parse() reads back to the same error;
 *   - into bp_reply_parse() and bp_proto_event_parse(), as the client library
 *     reads the daemon's lines; an event that parses is written out again and
 *     must read back to the same fields;
 *   - into bp_protocol_quote(), as ble-peripheralctl quotes an argument: the
 *     quoted word must travel in a request and parse back to the same bytes. */
#define G_LOG_DOMAIN "fuzz-request"

#include "build-config.h"

#include "fuzz.h"

#include <string.h>

#include "common/error.h"
#include "common/protocol.h"
#include "common/value.h"

/* The exponents a characteristic can have (its Exponent= range) at both
 * ends, and two ordinary ones. */
static const int exponents[] = { 0, -2, 3, -128, 127 };

/* A reply or event line as the daemon writes it: one line of UTF-8 text
 * ending in its only "\n". Returns the line without it, as the client
 * library reads it. */
static char *
check_line (const GString *out)
{
  g_assert_cmpuint (out->len, >, 0);
  g_assert_cmpint (out->str[out->len - 1], ==, '\n');
  g_assert_null (memchr (out->str, '\n', out->len - 1));
  g_assert_null (memchr (out->str, '\r', out->len));
  g_assert_true (g_utf8_validate (out->str, out->len, NULL));
  return g_strndup (out->str, out->len - 1);
}

/* The daemon's reply to a refused request, read back by the client. */
static void
check_error_reply (const GError *error)
{
  g_autoptr (GString) out = g_string_new (NULL);
  g_autofree char *line = NULL;
  g_autofree char *message = g_strdup (error->message);
  g_autoptr (GError) reply_error = NULL;
  BpReply reply;

  bp_reply_append_error (out, error);
  line = check_line (out);
  g_assert_true (bp_reply_parse (line, &reply, &reply_error));
  g_assert_false (reply.ok);
  g_assert_cmpstr (reply.error_name, ==, bp_error_name (error->code));
  g_assert_cmpint (bp_error_from_name (reply.error_name), ==, error->code);
  g_strdelimit (message, "\r\n", ' ');
  g_assert_cmpstr (reply.message, ==, message);
}

/* data as the daemon sends a value (get, take) and as an "event write", read
 * back as the client library reads them. */
static void
check_value_travels (const guint8 *data, gsize len, const char *characteristic, const char *address)
{
  g_autoptr (GString) out = g_string_new ("ok ");
  g_autofree char *line = NULL;
  guint8 buf[BP_VALUE_MAX];
  gsize n = 0;
  BpReply reply;

  bp_protocol_append_value (out, data, len);
  g_string_append_c (out, '\n');
  line = check_line (out);
  g_assert_true (bp_reply_parse (line, &reply, NULL));
  g_assert_true (reply.ok);
  g_assert_true (bp_protocol_decode_value (reply.words, buf, sizeof buf, &n));
  g_assert_cmpmem (buf, n, data, len);

  /* The daemon writes events for its characteristics' ids, which are words. */
  if (characteristic != NULL && bp_protocol_word_valid (characteristic))
    {
      BpProtoEvent ev = {
        .kind = BP_PROTO_EVENT_WRITE,
        .characteristic = characteristic,
        .address = address,
        .data = data,
        .len = len,
        .offset = (guint) len,
      };
      BpProtoEvent back;
      g_autofree char *event_line = NULL;

      g_string_truncate (out, 0);
      bp_proto_event_append (out, &ev);
      event_line = check_line (out);
      g_assert_true (bp_proto_event_parse (event_line, &back, buf, NULL));
      g_assert_cmpint (back.kind, ==, BP_PROTO_EVENT_WRITE);
      g_assert_cmpstr (back.characteristic, ==, characteristic);
      g_assert_cmpstr (back.address, ==, address);
      g_assert_cmpmem (back.data, back.len, data, len);
      g_assert_cmpuint (back.offset, ==, ev.offset);
    }
}

/* One parse of a VALUE word as the daemon parses it for a characteristic of
 * that Format and exponent. A refusal becomes an error reply, checked once
 * per kind of error and line (replied[]), as the replies' texts differ only
 * in the Format's name. */
static void
check_value_as (const BpRequest *request, BpFormat f, int exponent, gboolean *replied)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = bp_value_parse (request->value, f, exponent, &error);
  const guint8 *data;
  gsize len = 0;

  if (bytes == NULL)
    {
      g_assert_nonnull (error);
      g_assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_BAD_VALUE) ||
                     g_error_matches (error, BP_ERROR, BP_ERROR_OUT_OF_RANGE) ||
                     g_error_matches (error, BP_ERROR, BP_ERROR_TOO_LONG));
      if (!replied[error->code])
        check_error_reply (error);
      replied[error->code] = TRUE;
      return;
    }
  data = g_bytes_get_data (bytes, &len);
  g_assert_cmpuint (len, <=, BP_VALUE_MAX);
  if (exponent == 0)
    {
      g_autofree char *shown = bp_value_to_display (data, len, f, exponent);

      g_assert_nonnull (shown);
      check_value_travels (data, len, request->characteristic, request->address);
    }
}

/* The VALUE word of set, notify or reply, parsed for a characteristic of
 * each Format with exponent 0, and with every other exponent for one
 * numeric Format and one 64-bit integer Format (the longest digit strings);
 * which ones the line's length chooses, so that every pair is met across
 * inputs while a line costs 23 parses, not 63 (every Format with every
 * exponent on any text is also fuzz-value's job). */
static void
check_value (const BpRequest *request, gsize line_len)
{
  const BpFormat numeric = BP_FORMAT_UINT8 + (BpFormat) (line_len % (BP_FORMAT_FLOAT64 - BP_FORMAT_UINT8 + 1));
  const BpFormat wide = line_len % 2 == 0 ? BP_FORMAT_SINT64 : BP_FORMAT_UINT64;
  gboolean replied[BP_ERROR_TOO_LONG + 1] = { FALSE };

  G_STATIC_ASSERT (BP_ERROR_BAD_VALUE <= BP_ERROR_TOO_LONG && BP_ERROR_OUT_OF_RANGE <= BP_ERROR_TOO_LONG);
  for (int f = BP_FORMAT_NONE; f <= BP_FORMAT_UTF8; f++)
    check_value_as (request, (BpFormat) f, 0, replied);
  for (guint e = 0; e < G_N_ELEMENTS (exponents); e++)
    {
      if (exponents[e] == 0)
        continue;
      check_value_as (request, numeric, exponents[e], replied);
      if (wide != numeric)
        check_value_as (request, wide, exponents[e], replied);
    }
}

static gboolean
points_into (const char *word, const char *line, gsize len)
{
  return word >= line && word < line + len && strlen (word) > 0 && word + strlen (word) <= line + len;
}

static void
check_request (const BpRequest *r, const char *line, gsize len)
{
  g_auto (GStrv) verbs = g_strsplit (bp_protocol_help, " ", -1);

  g_assert_nonnull (r->verb_name);
  g_assert_true (g_strv_contains ((const char *const *) verbs, r->verb_name));
  if (r->characteristic != NULL)
    g_assert_true (points_into (r->characteristic, line, len));
  if (r->value != NULL)
    g_assert_true (points_into (r->value, line, len));
  if (r->address != NULL)
    {
      g_assert_true (points_into (r->address, line, len));
      g_assert_true (bp_protocol_address_valid (r->address));
    }

  switch (r->verb)
    {
    case BP_REQUEST_SET:
    case BP_REQUEST_NOTIFY:
      g_assert_nonnull (r->characteristic);
      g_assert_nonnull (r->value);
      g_assert_true (r->verb == BP_REQUEST_NOTIFY || r->address == NULL);
      check_value (r, len);
      break;
    case BP_REQUEST_GET:
    case BP_REQUEST_TAKE:
    case BP_REQUEST_SERVE:
    case BP_REQUEST_INFO:
      g_assert_nonnull (r->characteristic);
      g_assert_null (r->value);
      break;
    case BP_REQUEST_WATCH:
    case BP_REQUEST_UNWATCH:
      g_assert_cmpuint (r->watch, !=, 0);
      g_assert_cmpuint (r->watch & ~(guint) BP_WATCH_ALL, ==, 0);
      break;
    case BP_REQUEST_REPLY:
      g_assert_null (r->characteristic);
      if (r->is_error)
        {
          g_assert_null (r->value);
          g_assert_true ((r->att_error >= 0x01 && r->att_error <= 0x0f) ||
                         (r->att_error >= 0x80 && r->att_error <= 0x9f));
        }
      else
        {
          g_assert_nonnull (r->value);
          g_assert_cmpstr (r->value, !=, "error");
          check_value (r, len);
        }
      break;
    case BP_REQUEST_DISCONNECT:
    case BP_REQUEST_FORGET:
      g_assert_nonnull (r->address);
      break;
    case BP_REQUEST_PAIRING:
      g_assert_null (r->characteristic);
      g_assert_true ((r->pairing == BP_PAIRING_ACCEPT || r->pairing == BP_PAIRING_REJECT) == (r->address != NULL));
      g_assert_true (r->pairing == BP_PAIRING_ON || r->duration_us == 0);
      break;
    case BP_REQUEST_BONDS:
    case BP_REQUEST_ADVERTISE:
    case BP_REQUEST_STATUS:
    case BP_REQUEST_HELP:
      g_assert_null (r->characteristic);
      g_assert_null (r->value);
      break;
    }
}

/* The line as a request, as the daemon's connection_handle_line() takes it. */
static void
parse_request (const char *data, gsize len)
{
  /* The daemon's buffer holds the "\n" (or one spare byte) after the line;
   * the parser writes its NUL there. */
  g_autofree char *line = g_malloc (len + 1);
  g_autoptr (GError) error = NULL;
  BpRequest request;

  memcpy (line, data, len);
  line[len] = '\n';
  if (!bp_request_parse (line, len, &request, &error))
    {
      g_assert_nonnull (error);
      g_assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_BAD_REQUEST) ||
                     g_error_matches (error, BP_ERROR, BP_ERROR_BAD_VALUE) ||
                     g_error_matches (error, BP_ERROR, BP_ERROR_OUT_OF_RANGE));
      check_error_reply (error);
      return;
    }
  g_assert_null (error);
  check_request (&request, line, len);
}

/* The line as the client library reads the daemon's lines. */
static void
parse_reply_and_event (const char *data, gsize len)
{
  g_autofree char *line = g_strndup (data, len > 0 && data[len - 1] == '\r' ? len - 1 : len);
  g_autofree char *event_line = g_strdup (line);
  g_autoptr (GString) out = g_string_new (NULL);
  guint8 buf[BP_VALUE_MAX];
  guint8 back_buf[BP_VALUE_MAX];
  BpReply reply;
  BpProtoEvent ev, back;
  g_autofree char *again = NULL;

  if (bp_reply_parse (line, &reply, NULL))
    {
      if (reply.ok)
        g_assert_nonnull (reply.words);
      else
        g_assert_true (reply.error_name[0] != '\0' && reply.message != NULL);
    }

  if (!bp_proto_event_parse (event_line, &ev, buf, NULL))
    return;
  if (ev.kind == BP_PROTO_EVENT_UNKNOWN)
    return;
  if (ev.kind == BP_PROTO_EVENT_WRITE)
    g_assert_cmpuint (ev.len, <=, BP_VALUE_MAX);
  bp_proto_event_append (out, &ev);
  /* Words come back as they are, so the line is UTF-8 only when the input
   * was; the rest of the line's shape holds. */
  g_assert_cmpint (out->str[out->len - 1], ==, '\n');
  again = g_strndup (out->str, out->len - 1);
  g_assert_true (bp_proto_event_parse (again, &back, back_buf, NULL));
  g_assert_cmpint (back.kind, ==, ev.kind);
  g_assert_cmpstr (back.characteristic, ==, ev.characteristic);
  g_assert_cmpstr (back.address, ==, ev.address);
  g_assert_cmpmem (back.data, back.len, ev.data, ev.len);
  g_assert_cmpuint (back.offset, ==, ev.offset);
  g_assert_cmpuint (back.id, ==, ev.id);
  g_assert_cmpuint (back.count, ==, ev.count);
  g_assert_cmpint (back.on, ==, ev.on);
  /* A reason that is not a plain word is left out. */
  if (ev.reason != NULL && bp_protocol_word_valid (ev.reason))
    g_assert_cmpstr (back.reason, ==, ev.reason);
  else if (ev.kind == BP_PROTO_EVENT_ADVERTISING)
    g_assert_null (back.reason);
  else
    g_assert_cmpstr (back.reason, ==, ev.reason);
}

/* The line's bytes as ble-peripheralctl sends an argument that is not one
 * word: quoted, in a set request. */
static void
quote_and_send (const char *data, gsize len)
{
  g_autofree char *quoted = bp_protocol_quote (data, (gssize) len);
  g_autofree char *line = g_strconcat ("set c ", quoted, NULL);
  gsize line_len = strlen (line);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = NULL;
  BpRequest request;

  g_assert_true (g_utf8_validate (quoted, -1, NULL));
  if (line_len > BP_PROTOCOL_LINE_MAX)
    return;
  g_assert_true (bp_request_parse (line, line_len, &request, &error));
  g_assert_cmpstr (request.value, ==, quoted);
  bytes = bp_value_parse (request.value, BP_FORMAT_NONE, 0, &error);
  if (len > BP_VALUE_MAX)
    {
      g_assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_TOO_LONG));
      return;
    }
  g_assert_nonnull (bytes);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), data, len);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  const char *p = (const char *) data;
  const char *nl = memchr (p, '\n', size);
  gsize len = nl != NULL ? (gsize) (nl - p) : size;

  /* A longer line closes the connection unparsed. */
  if (len <= (gsize) BP_PROTOCOL_LINE_MAX + (len > 0 && p[len - 1] == '\r'))
    {
      parse_request (p, len);
      parse_reply_and_event (p, len);
    }
  if (len <= BP_VALUE_MAX)
    quote_and_send (p, len);
  return 0;
}
