/* The control protocol's lines: see protocol.h and docs/protocol.md. */
#define G_LOG_DOMAIN "protocol"

#include "build-config.h"

#include "common/protocol.h"

#include <string.h>

#include "common/error.h"
#include "common/value.h"

const char bp_protocol_help[] =
  "set notify get take watch unwatch serve reply advertise disconnect status info help pairing bonds forget";

/* The most words any request or event has, plus one to notice extra words. */
#define MAX_WORDS 9

typedef struct {
  const char *name;
  BpRequestVerb verb;
  guint min_words; /* counting the verb */
  guint max_words;
  const char *usage;
} VerbInfo;

static const VerbInfo verbs[] = {
  { "set", BP_REQUEST_SET, 3, 3, "set CHAR VALUE" },
  { "notify", BP_REQUEST_NOTIFY, 3, 4, "notify CHAR VALUE [to=ADDR]" },
  { "get", BP_REQUEST_GET, 2, 2, "get CHAR" },
  { "take", BP_REQUEST_TAKE, 2, 2, "take CHAR" },
  { "watch", BP_REQUEST_WATCH, 1, 7, "watch [write] [connect] [subscribe] [state] [pairing] [all]" },
  { "unwatch", BP_REQUEST_UNWATCH, 1, 7, "unwatch [write] [connect] [subscribe] [state] [pairing] [all]" },
  { "serve", BP_REQUEST_SERVE, 2, 2, "serve CHAR" },
  { "reply", BP_REQUEST_REPLY, 3, 4, "reply ID VALUE | reply ID error CODE" },
  { "advertise", BP_REQUEST_ADVERTISE, 2, 2, "advertise on|off" },
  { "disconnect", BP_REQUEST_DISCONNECT, 2, 2, "disconnect ADDR" },
  { "status", BP_REQUEST_STATUS, 1, 1, "status" },
  { "info", BP_REQUEST_INFO, 2, 2, "info CHAR" },
  { "help", BP_REQUEST_HELP, 1, 1, "help" },
  { "pairing", BP_REQUEST_PAIRING, 2, 3, "pairing on [DURATION] | pairing off | pairing accept|reject ADDR" },
  { "bonds", BP_REQUEST_BONDS, 1, 1, "bonds" },
  { "forget", BP_REQUEST_FORGET, 2, 2, "forget ADDR" },
};

static const char hex_digits[] = "0123456789abcdef";

/* How many bytes of word (valid UTF-8) an error message quotes: at most
 * max, cut before a character rather than inside it, because the reply
 * must stay UTF-8 text. */
static int
quoted_length (const char *word, gsize max)
{
  const char *end = word;

  g_utf8_validate (word, (gssize) max, &end);
  return (int) (end - word);
}

static gboolean
is_space (char c)
{
  return c == ' ' || c == '\t';
}

gboolean
bp_protocol_split (char *line, char **words, guint max_words, guint *n_words, GError **error)
{
  char *p = line;
  guint n = 0;

  *n_words = 0;
  for (;;)
    {
      while (is_space (*p))
        p++;
      if (*p == '\0')
        break;
      if (n == max_words)
        {
          g_set_error (error, BP_ERROR, BP_ERROR_BAD_REQUEST, "more than %u words", max_words);
          return FALSE;
        }
      words[n++] = p;
      if (*p == '"')
        {
          p++;
          while (*p != '\0' && *p != '"')
            p += (*p == '\\' && p[1] != '\0') ? 2 : 1;
          if (*p != '"')
            {
              g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE,
                           "unterminated quoted string %.*s%s: expected a closing '\"'",
                           quoted_length (words[n - 1], 64), words[n - 1], strlen (words[n - 1]) > 64 ? "…" : "");
              return FALSE;
            }
          p++;
          if (*p != '\0' && !is_space (*p))
            {
              g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE,
                           "a quoted string must be a whole word: a space or the end of the "
                           "line must follow its closing '\"'");
              return FALSE;
            }
        }
      else
        {
          while (*p != '\0' && !is_space (*p))
            p++;
        }
      if (*p != '\0')
        *p++ = '\0';
    }
  *n_words = n;
  return TRUE;
}

gboolean
bp_protocol_address_valid (const char *text)
{
  if (text == NULL || strlen (text) != 17)
    return FALSE;
  for (guint i = 0; i < 17; i++)
    {
      if (i % 3 == 2 ? text[i] != ':' : !g_ascii_isxdigit (text[i]))
        return FALSE;
    }
  return TRUE;
}

gboolean
bp_protocol_word_valid (const char *text)
{
  if (text == NULL || *text == '\0' || *text == '"')
    return FALSE;
  for (const char *p = text; *p != '\0'; p++)
    {
      if (is_space (*p) || (guchar) *p < 0x20 || *p == 0x7f)
        return FALSE;
    }
  return g_utf8_validate (text, -1, NULL);
}

char *
bp_protocol_quote (const char *text, gssize len)
{
  gsize n = len < 0 ? strlen (text) : (gsize) len;
  gboolean utf8 = g_utf8_validate (text, n, NULL);
  GString *out = g_string_sized_new (n + 2);

  g_string_append_c (out, '"');
  for (gsize i = 0; i < n; i++)
    {
      guchar c = text[i];

      switch (c)
        {
        case '"':
          g_string_append (out, "\\\"");
          break;
        case '\\':
          g_string_append (out, "\\\\");
          break;
        case '\n':
          g_string_append (out, "\\n");
          break;
        case '\r':
          g_string_append (out, "\\r");
          break;
        case '\t':
          g_string_append (out, "\\t");
          break;
        default:
          /* Invalid UTF-8 would make the line invalid: its bytes travel escaped. */
          if (c < 0x20 || c == 0x7f || (c >= 0x80 && !utf8))
            g_string_append_printf (out, "\\x%02x", c);
          else
            g_string_append_c (out, c);
        }
    }
  g_string_append_c (out, '"');
  return g_string_free (out, FALSE);
}

void
bp_protocol_append_value (GString *out, const guint8 *data, gsize len)
{
  gsize at = out->len;
  char *p;

  if (len == 0)
    {
      g_string_append (out, "\"\"");
      return;
    }
  g_string_set_size (out, at + 2 * len);
  p = out->str + at;
  for (gsize i = 0; i < len; i++)
    {
      *p++ = hex_digits[data[i] >> 4];
      *p++ = hex_digits[data[i] & 0xf];
    }
}

gboolean
bp_protocol_decode_value (const char *word, guint8 *buf, gsize size, gsize *len)
{
  gsize n = 0;

  *len = 0;
  if (strcmp (word, "\"\"") == 0)
    return TRUE;
  for (const char *p = word; *p != '\0';)
    {
      int hi, lo;

      if (*p == ':')
        {
          p++;
          continue;
        }
      hi = g_ascii_xdigit_value (p[0]);
      lo = hi < 0 ? -1 : g_ascii_xdigit_value (p[1]);
      if (hi < 0 || lo < 0 || n == size)
        return FALSE;
      buf[n++] = (guint8) (hi << 4 | lo);
      p += 2;
    }
  if (n == 0)
    return FALSE;
  *len = n;
  return TRUE;
}

/* --- requests --------------------------------------------------------- */

static gboolean
parse_watch_classes (const char *verb, char **words, guint n, guint *mask, GError **error)
{
  *mask = 0;
  for (guint i = 1; i < n; i++)
    {
      if (strcmp (words[i], "write") == 0)
        *mask |= BP_WATCH_WRITE;
      else if (strcmp (words[i], "connect") == 0)
        *mask |= BP_WATCH_CONNECT;
      else if (strcmp (words[i], "subscribe") == 0)
        *mask |= BP_WATCH_SUBSCRIBE;
      else if (strcmp (words[i], "state") == 0)
        *mask |= BP_WATCH_STATE;
      else if (strcmp (words[i], "pairing") == 0)
        *mask |= BP_WATCH_PAIRING;
      else if (strcmp (words[i], "all") == 0)
        *mask |= BP_WATCH_ALL;
      else
        {
          g_set_error (error, BP_ERROR, BP_ERROR_BAD_REQUEST,
                       "%s: unknown event class \"%s\": expected write, connect, subscribe, "
                       "state, pairing or all",
                       verb, words[i]);
          return FALSE;
        }
    }
  if (*mask == 0)
    *mask = BP_WATCH_ALL;
  return TRUE;
}

static gboolean
parse_u64 (const char *text, guint64 *out)
{
  return g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT64, out, NULL);
}

static gboolean
parse_att_code (const char *text, guint8 *out, GError **error)
{
  guint64 code;
  const char *digits = text;
  guint base = 10;

  if (g_str_has_prefix (text, "0x") || g_str_has_prefix (text, "0X"))
    {
      digits = text + 2;
      base = 16;
    }
  if (!g_ascii_string_to_unsigned (digits, base, 0, G_MAXUINT64, &code, NULL))
    {
      g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE,
                   "error CODE \"%s\" is not a number: expected an ATT error code such as 0x80", text);
      return FALSE;
    }
  if (!((code >= 0x01 && code <= 0x0f) || (code >= 0x80 && code <= 0x9f)))
    {
      g_set_error (error, BP_ERROR, BP_ERROR_OUT_OF_RANGE,
                   "error CODE %s is not an ATT error a read can carry: expected 0x01-0x0f "
                   "or 0x80-0x9f",
                   text);
      return FALSE;
    }
  *out = (guint8) code;
  return TRUE;
}

static gboolean
check_address (const char *verb, const char *what, const char *text, GError **error)
{
  if (bp_protocol_address_valid (text))
    return TRUE;
  g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE,
               "%s: %s \"%s\": expected a Bluetooth address such as 00:11:22:33:44:55", verb, what, text);
  return FALSE;
}

gboolean
bp_protocol_parse_duration (const char *text, guint64 *us)
{
  static const struct {
    const char *unit;
    guint64 us;
  } units[] = {
    { "ms", 1000 },
    { "s", G_USEC_PER_SEC },
    { "min", G_GUINT64_CONSTANT (60) * G_USEC_PER_SEC },
    { "h", G_GUINT64_CONSTANT (3600) * G_USEC_PER_SEC },
  };
  const char *p = text;
  guint64 n = 0;

  if (!g_ascii_isdigit (*p))
    return FALSE;
  for (; g_ascii_isdigit (*p); p++)
    {
      if (n > G_MAXUINT32)
        return FALSE;
      n = n * 10 + (guint64) (*p - '0');
    }
  for (guint i = 0; i < G_N_ELEMENTS (units); i++)
    {
      if (strcmp (p, units[i].unit) == 0)
        {
          *us = n * units[i].us;
          return n > 0;
        }
    }
  return FALSE;
}

static gboolean
parse_pairing (char **words, guint n, BpRequest *request, GError **error)
{
  const char *op = words[1];

  if (strcmp (op, "on") == 0)
    {
      request->pairing = BP_PAIRING_ON;
      if (n == 3 && !bp_protocol_parse_duration (words[2], &request->duration_us))
        {
          g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE,
                       "pairing on: \"%.*s\" is not a duration: expected e.g. 2min, 90s or 1h",
                       quoted_length (words[2], 64), words[2]);
          return FALSE;
        }
      return TRUE;
    }
  if (strcmp (op, "off") == 0)
    {
      request->pairing = BP_PAIRING_OFF_REQ;
      if (n != 2)
        {
          g_set_error (error, BP_ERROR, BP_ERROR_BAD_REQUEST, "pairing off: too many words: expected \"pairing off\"");
          return FALSE;
        }
      return TRUE;
    }
  if (strcmp (op, "accept") == 0 || strcmp (op, "reject") == 0)
    {
      request->pairing = op[0] == 'a' ? BP_PAIRING_ACCEPT : BP_PAIRING_REJECT;
      if (n != 3)
        {
          g_set_error (error, BP_ERROR, BP_ERROR_BAD_REQUEST, "pairing %s: missing words: expected \"pairing %s ADDR\"",
                       op, op);
          return FALSE;
        }
      request->address = words[2];
      return check_address (op[0] == 'a' ? "pairing accept" : "pairing reject", "address", request->address, error);
    }
  g_set_error (error, BP_ERROR, BP_ERROR_BAD_REQUEST,
               "pairing: unknown \"%.*s\": expected on [DURATION], off, accept ADDR or reject ADDR",
               quoted_length (op, 64), op);
  return FALSE;
}

gboolean
bp_request_parse (char *line, gsize len, BpRequest *request, GError **error)
{
  char *words[MAX_WORDS];
  guint n = 0;
  const VerbInfo *info = NULL;
  g_autoptr (GError) split_error = NULL;
  char verb_name[33];

  memset (request, 0, sizeof *request);
  if (len > 0 && line[len - 1] == '\r')
    len--;
  /* g_utf8_validate() with a length refuses NUL bytes too. */
  if (!g_utf8_validate (line, len, NULL))
    {
      g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE, "the request is not valid UTF-8 text (or holds a NUL byte)");
      return FALSE;
    }
  line[len] = '\0';

  /* The first word names the request in errors; keep it before the split. */
  {
    const char *first = line + strspn (line, " \t");
    gsize flen = quoted_length (first, MIN (strcspn (first, " \t"), sizeof verb_name - 1));

    memcpy (verb_name, first, flen);
    verb_name[flen] = '\0';
  }
  if (!bp_protocol_split (line, words, MAX_WORDS, &n, &split_error))
    {
      if (verb_name[0] != '\0' && verb_name[0] != '"')
        g_set_error (error, BP_ERROR, split_error->code, "%s: %s", verb_name, split_error->message);
      else
        g_propagate_error (error, g_steal_pointer (&split_error));
      return FALSE;
    }
  if (n == 0)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_BAD_REQUEST, "empty request: expected one of %s", bp_protocol_help);
      return FALSE;
    }

  for (guint i = 0; i < G_N_ELEMENTS (verbs); i++)
    {
      if (strcmp (words[0], verbs[i].name) == 0)
        {
          info = &verbs[i];
          break;
        }
    }
  if (info == NULL)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_BAD_REQUEST, "unknown request \"%.*s\": expected one of %s",
                   quoted_length (words[0], 64), words[0], bp_protocol_help);
      return FALSE;
    }
  if (n < info->min_words || n > info->max_words)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_BAD_REQUEST, "%s: %s words: expected \"%s\"", info->name,
                   n < info->min_words ? "missing" : "too many", info->usage);
      return FALSE;
    }

  request->verb = info->verb;
  request->verb_name = info->name;
  switch (info->verb)
    {
    case BP_REQUEST_NOTIFY:
      if (n == 4)
        {
          if (!g_str_has_prefix (words[3], "to="))
            {
              g_set_error (error, BP_ERROR, BP_ERROR_BAD_REQUEST,
                           "notify: unexpected \"%.*s\" after the value: expected to=ADDR",
                           quoted_length (words[3], 64), words[3]);
              return FALSE;
            }
          request->address = words[3] + 3;
          if (!check_address ("notify", "to=", request->address, error))
            return FALSE;
        }
      G_GNUC_FALLTHROUGH;
    case BP_REQUEST_SET:
      request->characteristic = words[1];
      request->value = words[2];
      break;
    case BP_REQUEST_GET:
    case BP_REQUEST_TAKE:
    case BP_REQUEST_SERVE:
    case BP_REQUEST_INFO:
      request->characteristic = words[1];
      break;
    case BP_REQUEST_WATCH:
    case BP_REQUEST_UNWATCH:
      if (!parse_watch_classes (info->name, words, n, &request->watch, error))
        return FALSE;
      break;
    case BP_REQUEST_REPLY:
      if (!parse_u64 (words[1], &request->id))
        {
          g_set_error (error, BP_ERROR, BP_ERROR_BAD_REQUEST,
                       "reply: \"%.*s\" is not a read ID: expected the decimal ID of an "
                       "\"event read\" line",
                       quoted_length (words[1], 64), words[1]);
          return FALSE;
        }
      if (n == 4)
        {
          if (strcmp (words[2], "error") != 0)
            {
              g_set_error (error, BP_ERROR, BP_ERROR_BAD_REQUEST,
                           "reply %s: too many words: expected \"reply ID VALUE\" or "
                           "\"reply ID error CODE\"",
                           words[1]);
              return FALSE;
            }
          request->is_error = TRUE;
          if (!parse_att_code (words[3], &request->att_error, error))
            {
              g_prefix_error (error, "reply %s: ", words[1]);
              return FALSE;
            }
        }
      else if (strcmp (words[2], "error") == 0)
        {
          g_set_error (error, BP_ERROR, BP_ERROR_BAD_REQUEST,
                       "reply %s: error without a CODE: expected \"reply ID error CODE\" "
                       "(quote a value that is the word error: \"error\")",
                       words[1]);
          return FALSE;
        }
      else
        {
          request->value = words[2];
        }
      break;
    case BP_REQUEST_ADVERTISE:
      if (strcmp (words[1], "on") == 0)
        request->on = TRUE;
      else if (strcmp (words[1], "off") != 0)
        {
          g_set_error (error, BP_ERROR, BP_ERROR_BAD_REQUEST, "advertise: \"%.*s\": expected on or off",
                       quoted_length (words[1], 64), words[1]);
          return FALSE;
        }
      break;
    case BP_REQUEST_DISCONNECT:
      request->address = words[1];
      if (!check_address ("disconnect", "address", request->address, error))
        return FALSE;
      break;
    case BP_REQUEST_STATUS:
    case BP_REQUEST_HELP:
    case BP_REQUEST_BONDS:
      break;
    case BP_REQUEST_PAIRING:
      if (!parse_pairing (words, n, request, error))
        return FALSE;
      break;
    case BP_REQUEST_FORGET:
      request->address = words[1];
      if (!check_address ("forget", "address", request->address, error))
        return FALSE;
      break;
    }
  return TRUE;
}

/* --- replies ---------------------------------------------------------- */

void
bp_reply_append_error (GString *out, const GError *error)
{
  const char *name = error->domain == BP_ERROR ? bp_error_name (error->code) : "failed";
  gsize at;

  g_string_append (out, "error ");
  g_string_append (out, name != NULL ? name : "failed");
  g_string_append (out, ": ");
  at = out->len;
  g_string_append (out, error->message);
  /* The reply is one line whatever the message holds. */
  for (gsize i = at; i < out->len; i++)
    {
      if (out->str[i] == '\n' || out->str[i] == '\r')
        out->str[i] = ' ';
    }
  g_string_append_c (out, '\n');
}

int
bp_error_from_name (const char *name)
{
  for (int code = 0; code <= BP_ERROR_PAIRING_OFF; code++)
    {
      const char *n = bp_error_name (code);

      if (n != NULL && strcmp (n, name) == 0)
        return code;
    }
  return BP_ERROR_FAILED;
}

gboolean
bp_reply_parse (char *line, BpReply *reply, GError **error)
{
  memset (reply, 0, sizeof *reply);
  if (strcmp (line, "ok") == 0 || g_str_has_prefix (line, "ok "))
    {
      reply->ok = TRUE;
      reply->words = line[2] == '\0' ? line + 2 : line + 3;
      return TRUE;
    }
  if (g_str_has_prefix (line, "error "))
    {
      char *name = line + 6;
      char *colon = strchr (name, ':');

      if (colon != NULL && colon > name)
        {
          *colon = '\0';
          reply->error_name = name;
          reply->message = colon[1] == ' ' ? colon + 2 : colon + 1;
          return TRUE;
        }
    }
  g_set_error (error, BP_ERROR, BP_ERROR_FAILED,
               "not a reply line: \"%.64s\": expected \"ok …\" or \"error NAME: message\"", line);
  return FALSE;
}

/* --- events ----------------------------------------------------------- */

BpWatchMask
bp_proto_event_class (BpProtoEventKind kind)
{
  switch (kind)
    {
    case BP_PROTO_EVENT_WRITE:
    case BP_PROTO_EVENT_DROPPED:
      return BP_WATCH_WRITE;
    case BP_PROTO_EVENT_CONNECT:
    case BP_PROTO_EVENT_DISCONNECT:
      return BP_WATCH_CONNECT;
    case BP_PROTO_EVENT_SUBSCRIBE:
    case BP_PROTO_EVENT_UNSUBSCRIBE:
    case BP_PROTO_EVENT_CONFIRM:
      return BP_WATCH_SUBSCRIBE;
    case BP_PROTO_EVENT_ADVERTISING:
    case BP_PROTO_EVENT_ADAPTER:
    case BP_PROTO_EVENT_RELOADED:
    case BP_PROTO_EVENT_UNKNOWN:
      return BP_WATCH_STATE;
    case BP_PROTO_EVENT_PAIRING:
    case BP_PROTO_EVENT_PAIRED:
    case BP_PROTO_EVENT_PAIRING_FAILED:
      return BP_WATCH_PAIRING;
    case BP_PROTO_EVENT_READ:
      return 0;
    }
  return 0;
}

static void
append_word (GString *out, const char *word)
{
  g_string_append_c (out, ' ');
  g_string_append (out, word != NULL && *word != '\0' ? word : "-");
}

static void
append_offset (GString *out, guint offset)
{
  if (offset > 0)
    g_string_append_printf (out, " offset=%u", offset);
}

void
bp_proto_event_append (GString *out, const BpProtoEvent *ev)
{
  switch (ev->kind)
    {
    case BP_PROTO_EVENT_CONNECT:
    case BP_PROTO_EVENT_DISCONNECT:
      g_string_append (out, ev->kind == BP_PROTO_EVENT_CONNECT ? "event connect" : "event disconnect");
      append_word (out, ev->address);
      break;
    case BP_PROTO_EVENT_SUBSCRIBE:
    case BP_PROTO_EVENT_UNSUBSCRIBE:
    case BP_PROTO_EVENT_CONFIRM:
      g_string_append (out, ev->kind == BP_PROTO_EVENT_SUBSCRIBE   ? "event subscribe" :
                            ev->kind == BP_PROTO_EVENT_UNSUBSCRIBE ? "event unsubscribe" :
                                                                     "event confirm");
      append_word (out, ev->characteristic);
      if (ev->address != NULL)
        append_word (out, ev->address);
      if (ev->address != NULL && ev->kind == BP_PROTO_EVENT_SUBSCRIBE && ev->mtu > 0)
        g_string_append_printf (out, " mtu=%u", ev->mtu);
      break;
    case BP_PROTO_EVENT_WRITE:
      g_string_append (out, "event write");
      append_word (out, ev->characteristic);
      append_word (out, ev->address);
      g_string_append_c (out, ' ');
      bp_protocol_append_value (out, ev->data, ev->len);
      append_offset (out, ev->offset);
      break;
    case BP_PROTO_EVENT_READ:
      g_string_append_printf (out, "event read %" G_GUINT64_FORMAT, ev->id);
      append_word (out, ev->characteristic);
      append_word (out, ev->address);
      append_offset (out, ev->offset);
      break;
    case BP_PROTO_EVENT_DROPPED:
      g_string_append (out, "event dropped");
      append_word (out, ev->characteristic);
      g_string_append_printf (out, " %" G_GUINT64_FORMAT, ev->count);
      break;
    case BP_PROTO_EVENT_ADVERTISING:
      g_string_append (out, ev->on ? "event advertising started" : "event advertising stopped");
      if (ev->reason != NULL && bp_protocol_word_valid (ev->reason))
        append_word (out, ev->reason);
      break;
    case BP_PROTO_EVENT_ADAPTER:
      g_string_append (out, "event adapter");
      append_word (out, ev->address);
      g_string_append (out, ev->on ? " up" : " down");
      break;
    case BP_PROTO_EVENT_RELOADED:
      g_string_append (out, "event reloaded");
      break;
    case BP_PROTO_EVENT_PAIRING:
      g_string_append (out, "event pairing");
      append_word (out, ev->address);
      append_word (out, ev->reason);
      if (ev->has_passkey)
        g_string_append_printf (out, " %06u", (guint) (ev->count % 1000000));
      break;
    case BP_PROTO_EVENT_PAIRED:
      g_string_append (out, "event paired");
      append_word (out, ev->address);
      break;
    case BP_PROTO_EVENT_PAIRING_FAILED:
      g_string_append (out, "event pairing-failed");
      append_word (out, ev->address);
      append_word (out, ev->reason);
      break;
    case BP_PROTO_EVENT_UNKNOWN:
      g_string_append (out, "event unknown");
      break;
    }
  g_string_append_c (out, '\n');
}

static const char *
address_word (const char *word)
{
  return strcmp (word, "-") == 0 ? NULL : word;
}

static gboolean
parse_offset_word (const char *word, guint *offset)
{
  guint64 v;

  if (!g_str_has_prefix (word, "offset="))
    return FALSE;
  if (!g_ascii_string_to_unsigned (word + 7, 10, 0, G_MAXUINT, &v, NULL))
    return FALSE;
  *offset = (guint) v;
  return TRUE;
}

static gboolean
parse_mtu_word (const char *word, guint *mtu)
{
  guint64 v;

  if (!g_str_has_prefix (word, "mtu=") || !g_ascii_string_to_unsigned (word + 4, 10, 23, 65535, &v, NULL))
    return FALSE;
  *mtu = (guint) v;
  return TRUE;
}

gboolean
bp_proto_event_parse (char *line, BpProtoEvent *ev, guint8 *buf, GError **error)
{
  char *w[MAX_WORDS];
  guint n = 0;
  gboolean ok = FALSE;
  const char *name;

  memset (ev, 0, sizeof *ev);
  if (!g_str_has_prefix (line, "event ") || !bp_protocol_split (line, w, MAX_WORDS, &n, NULL) || n < 2)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_FAILED, "not an event line");
      return FALSE;
    }
  name = w[1];

  if (strcmp (name, "connect") == 0 || strcmp (name, "disconnect") == 0)
    {
      ev->kind = name[0] == 'c' ? BP_PROTO_EVENT_CONNECT : BP_PROTO_EVENT_DISCONNECT;
      ok = n == 3;
      if (ok)
        ev->address = address_word (w[2]);
    }
  else if (strcmp (name, "subscribe") == 0 || strcmp (name, "unsubscribe") == 0 || strcmp (name, "confirm") == 0)
    {
      ev->kind = name[0] == 's' ? BP_PROTO_EVENT_SUBSCRIBE :
                 name[0] == 'u' ? BP_PROTO_EVENT_UNSUBSCRIBE :
                                  BP_PROTO_EVENT_CONFIRM;
      ok = n == 3 || n == 4 || (n == 5 && parse_mtu_word (w[4], &ev->mtu));
      if (ok)
        {
          ev->characteristic = w[2];
          ev->address = n >= 4 ? address_word (w[3]) : NULL;
        }
    }
  else if (strcmp (name, "write") == 0)
    {
      ev->kind = BP_PROTO_EVENT_WRITE;
      ok = (n == 5 || (n == 6 && parse_offset_word (w[5], &ev->offset))) &&
           bp_protocol_decode_value (w[4], buf, BP_VALUE_MAX, &ev->len);
      if (ok)
        {
          ev->characteristic = w[2];
          ev->address = address_word (w[3]);
          ev->data = buf;
        }
    }
  else if (strcmp (name, "read") == 0)
    {
      ev->kind = BP_PROTO_EVENT_READ;
      ok = (n == 5 || (n == 6 && parse_offset_word (w[5], &ev->offset))) && parse_u64 (w[2], &ev->id);
      if (ok)
        {
          ev->characteristic = w[3];
          ev->address = address_word (w[4]);
        }
    }
  else if (strcmp (name, "dropped") == 0)
    {
      ev->kind = BP_PROTO_EVENT_DROPPED;
      ok = n == 4 && parse_u64 (w[3], &ev->count);
      if (ok)
        ev->characteristic = w[2];
    }
  else if (strcmp (name, "advertising") == 0)
    {
      ev->kind = BP_PROTO_EVENT_ADVERTISING;
      ok = (n == 3 || n == 4) && (strcmp (w[2], "started") == 0 || strcmp (w[2], "stopped") == 0);
      if (ok)
        {
          ev->on = w[2][2] == 'a';
          ev->reason = n == 4 ? w[3] : NULL;
        }
    }
  else if (strcmp (name, "adapter") == 0)
    {
      ev->kind = BP_PROTO_EVENT_ADAPTER;
      ok = n == 4 && (strcmp (w[3], "up") == 0 || strcmp (w[3], "down") == 0);
      if (ok)
        {
          ev->address = address_word (w[2]);
          ev->on = w[3][0] == 'u';
        }
    }
  else if (strcmp (name, "pairing") == 0)
    {
      ev->kind = BP_PROTO_EVENT_PAIRING;
      ok = n == 4 || n == 5;
      if (ok)
        {
          ev->address = address_word (w[2]);
          ev->reason = w[3];
          if (n == 5)
            {
              ok = strlen (w[4]) == 6 && parse_u64 (w[4], &ev->count);
              ev->has_passkey = TRUE;
            }
        }
    }
  else if (strcmp (name, "paired") == 0)
    {
      ev->kind = BP_PROTO_EVENT_PAIRED;
      ok = n == 3;
      if (ok)
        ev->address = address_word (w[2]);
    }
  else if (strcmp (name, "pairing-failed") == 0)
    {
      ev->kind = BP_PROTO_EVENT_PAIRING_FAILED;
      ok = n == 4;
      if (ok)
        {
          ev->address = address_word (w[2]);
          ev->reason = w[3];
        }
    }
  else if (strcmp (name, "reloaded") == 0)
    {
      ev->kind = BP_PROTO_EVENT_RELOADED;
      ok = n == 2;
    }
  else
    {
      /* A newer daemon's event: not an error, the caller skips it. */
      ev->kind = BP_PROTO_EVENT_UNKNOWN;
      ok = TRUE;
    }

  if (!ok)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_FAILED, "malformed \"event %s\" line", name);
      return FALSE;
    }
  return TRUE;
}
