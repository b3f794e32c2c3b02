/* Unit tests of src/common/protocol.c: request parsing (one test per
 * error), replies, events and values as they travel. */
#include "build-config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <glib.h>

#include "common/error.h"
#include "common/protocol.h"
#include "common/value.h"

/* Parses text as a request line; the copy keeps room for the NUL. */
static gboolean
parse (const char *text, BpRequest *r, GError **error)
{
  static char buf[BP_PROTOCOL_LINE_MAX + 2];
  gsize len = strlen (text);

  assert_true (len < sizeof buf);
  memcpy (buf, text, len + 1);
  return bp_request_parse (buf, len, r, error);
}

static void
assert_parse_error (const char *text, int code, const char *fragment)
{
  BpRequest r;
  g_autoptr (GError) error = NULL;

  if (parse (text, &r, &error))
    fail_msg ("\"%s\" was accepted", text);
  assert_non_null (error);
  if (!g_error_matches (error, BP_ERROR, code))
    fail_msg ("\"%s\": expected %s, got %s: %s", text, bp_error_name (code), bp_error_name (error->code),
              error->message);
  if (strstr (error->message, fragment) == NULL)
    fail_msg ("\"%s\": message \"%s\" lacks \"%s\"", text, error->message, fragment);
}

/* --- accepted requests ---------------------------------------------------- */

static void
test_set (void **state)
{
  BpRequest r;

  assert_true (parse ("set env/temperature 24.58", &r, NULL));
  assert_int_equal (r.verb, BP_REQUEST_SET);
  assert_string_equal (r.verb_name, "set");
  assert_string_equal (r.characteristic, "env/temperature");
  assert_string_equal (r.value, "24.58");
  assert_null (r.address);
}

static void
test_notify_to (void **state)
{
  BpRequest r;

  assert_true (parse ("notify  env/raw\t9a:09  to=00:AA:01:01:00:01", &r, NULL));
  assert_int_equal (r.verb, BP_REQUEST_NOTIFY);
  assert_string_equal (r.characteristic, "env/raw");
  assert_string_equal (r.value, "9a:09");
  assert_string_equal (r.address, "00:AA:01:01:00:01");

  assert_true (parse ("notify env/raw 01", &r, NULL));
  assert_null (r.address);
}

static void
test_quoted_value (void **state)
{
  BpRequest r;

  /* The quotes stay, so that the value parser sees a string. */
  assert_true (parse ("set dev/name \"hello world \\\" \\\\\"", &r, NULL));
  assert_string_equal (r.value, "\"hello world \\\" \\\\\"");
  assert_true (parse ("set dev/name \"\"", &r, NULL));
  assert_string_equal (r.value, "\"\"");
}

static void
test_crlf (void **state)
{
  BpRequest r;

  assert_true (parse ("get env/x\r", &r, NULL));
  assert_int_equal (r.verb, BP_REQUEST_GET);
  assert_string_equal (r.characteristic, "env/x");
}

static void
test_simple_verbs (void **state)
{
  BpRequest r;

  assert_true (parse ("take env/buf", &r, NULL));
  assert_int_equal (r.verb, BP_REQUEST_TAKE);
  assert_true (parse ("serve env/name", &r, NULL));
  assert_int_equal (r.verb, BP_REQUEST_SERVE);
  assert_string_equal (r.characteristic, "env/name");
  assert_true (parse ("info name", &r, NULL));
  assert_int_equal (r.verb, BP_REQUEST_INFO);
  assert_true (parse ("status", &r, NULL));
  assert_int_equal (r.verb, BP_REQUEST_STATUS);
  assert_true (parse ("help", &r, NULL));
  assert_int_equal (r.verb, BP_REQUEST_HELP);
  assert_true (parse ("advertise on", &r, NULL));
  assert_int_equal (r.verb, BP_REQUEST_ADVERTISE);
  assert_true (r.on);
  assert_true (parse ("advertise off", &r, NULL));
  assert_false (r.on);
  assert_true (parse ("disconnect 00:aa:01:01:00:01", &r, NULL));
  assert_int_equal (r.verb, BP_REQUEST_DISCONNECT);
  assert_string_equal (r.address, "00:aa:01:01:00:01");
}

static void
test_watch_classes (void **state)
{
  BpRequest r;

  assert_true (parse ("watch", &r, NULL));
  assert_int_equal (r.watch, BP_WATCH_ALL);
  assert_true (parse ("watch write", &r, NULL));
  assert_int_equal (r.watch, BP_WATCH_WRITE);
  assert_true (parse ("watch connect subscribe", &r, NULL));
  assert_int_equal (r.watch, BP_WATCH_CONNECT | BP_WATCH_SUBSCRIBE);
  assert_true (parse ("watch state write", &r, NULL));
  assert_int_equal (r.watch, BP_WATCH_STATE | BP_WATCH_WRITE);
  assert_true (parse ("watch all", &r, NULL));
  assert_int_equal (r.watch, BP_WATCH_ALL);
  assert_true (parse ("unwatch", &r, NULL));
  assert_int_equal (r.verb, BP_REQUEST_UNWATCH);
  assert_int_equal (r.watch, BP_WATCH_ALL);
  assert_true (parse ("unwatch connect", &r, NULL));
  assert_int_equal (r.watch, BP_WATCH_CONNECT);
}

static void
test_reply (void **state)
{
  BpRequest r;

  assert_true (parse ("reply 7 2409", &r, NULL));
  assert_int_equal (r.verb, BP_REQUEST_REPLY);
  assert_int_equal (r.id, 7);
  assert_false (r.is_error);
  assert_string_equal (r.value, "2409");

  assert_true (parse ("reply 18446744073709551615 error 0x80", &r, NULL));
  assert_true (r.id == G_MAXUINT64);
  assert_true (r.is_error);
  assert_int_equal (r.att_error, 0x80);

  assert_true (parse ("reply 8 error 2", &r, NULL));
  assert_int_equal (r.att_error, 0x02);
  assert_true (parse ("reply 8 error 0x9F", &r, NULL));
  assert_int_equal (r.att_error, 0x9f);

  /* A value that is the word "error", quoted. */
  assert_true (parse ("reply 9 \"error\"", &r, NULL));
  assert_false (r.is_error);
  assert_string_equal (r.value, "\"error\"");
}

static void
test_longest_line (void **state)
{
  g_autofree char *line = g_malloc (BP_PROTOCOL_LINE_MAX + 1);
  BpRequest r;

  memset (line, 'a', BP_PROTOCOL_LINE_MAX);
  memcpy (line, "set env/raw ", 12);
  line[BP_PROTOCOL_LINE_MAX] = '\0';
  assert_true (parse (line, &r, NULL));
  assert_int_equal (strlen (r.value), BP_PROTOCOL_LINE_MAX - 12);
}

/* --- one test per error --------------------------------------------------- */

static void
test_error_empty (void **state)
{
  assert_parse_error ("", BP_ERROR_BAD_REQUEST, "empty request");
  assert_parse_error ("   \t ", BP_ERROR_BAD_REQUEST, "empty request");
}

static void
test_error_unknown_verb (void **state)
{
  assert_parse_error ("frobnicate env/x", BP_ERROR_BAD_REQUEST, "unknown request \"frobnicate\"");
  /* Verbs are case-sensitive. */
  assert_parse_error ("SET env/x 01", BP_ERROR_BAD_REQUEST, "unknown request");
}

static void
test_error_missing_words (void **state)
{
  assert_parse_error ("set env/x", BP_ERROR_BAD_REQUEST, "set: missing words: expected \"set CHAR VALUE\"");
  assert_parse_error ("get", BP_ERROR_BAD_REQUEST, "get CHAR");
  assert_parse_error ("reply 7", BP_ERROR_BAD_REQUEST, "reply ID VALUE");
  assert_parse_error ("advertise", BP_ERROR_BAD_REQUEST, "advertise on|off");
}

static void
test_error_too_many_words (void **state)
{
  assert_parse_error ("set env/x 01 02", BP_ERROR_BAD_REQUEST, "set: too many words");
  assert_parse_error ("status now", BP_ERROR_BAD_REQUEST, "status: too many words");
  assert_parse_error ("get a b", BP_ERROR_BAD_REQUEST, "get CHAR");
  assert_parse_error ("set a b c d e f g h i j k", BP_ERROR_BAD_REQUEST, "set");
}

static void
test_error_notify_extra_word (void **state)
{
  assert_parse_error ("notify env/x 01 02", BP_ERROR_BAD_REQUEST, "expected to=ADDR");
}

static void
test_error_notify_bad_address (void **state)
{
  assert_parse_error ("notify env/x 01 to=00:11:22", BP_ERROR_BAD_VALUE, "expected a Bluetooth address");
  assert_parse_error ("notify env/x 01 to=", BP_ERROR_BAD_VALUE, "expected a Bluetooth address");
}

static void
test_error_disconnect_bad_address (void **state)
{
  assert_parse_error ("disconnect phone", BP_ERROR_BAD_VALUE, "disconnect: address \"phone\"");
  assert_parse_error ("disconnect 00:11:22:33:44:5g", BP_ERROR_BAD_VALUE, "Bluetooth address");
}

static void
test_error_invalid_utf8 (void **state)
{
  assert_parse_error ("set dev/name \"\xff\xfe\"", BP_ERROR_BAD_VALUE, "not valid UTF-8");
}

static void
test_error_nul_byte (void **state)
{
  char line[] = "set env/x 01\0002";
  BpRequest r;
  g_autoptr (GError) error = NULL;

  assert_false (bp_request_parse (line, sizeof line - 1, &r, &error));
  assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_BAD_VALUE));
  assert_non_null (strstr (error->message, "NUL"));
}

static void
test_error_unterminated_quote (void **state)
{
  assert_parse_error ("set dev/name \"abc", BP_ERROR_BAD_VALUE, "set: unterminated quoted string");
  assert_parse_error ("set dev/name \"abc\\\"", BP_ERROR_BAD_VALUE, "unterminated");

  /* The message quotes at most 64 bytes of the rest of the line. */
  {
    g_autofree char *line = g_strdup_printf ("set dev/name \"%s",
                                             "0123456789abcdefghij0123456789abcdefghij"
                                             "0123456789abcdefghij0123456789abcdefghij");
    g_autoptr (GError) error = NULL;
    BpRequest r;

    assert_false (parse (line, &r, &error));
    assert_non_null (strstr (error->message, "0123456789abcdefghij012…: expected a closing"));
  }
}

static void
test_error_quote_inside_word (void **state)
{
  assert_parse_error ("set dev/name \"abc\"def", BP_ERROR_BAD_VALUE, "whole word");
}

static void
test_error_watch_class (void **state)
{
  assert_parse_error ("watch writes", BP_ERROR_BAD_REQUEST, "unknown event class \"writes\"");
  assert_parse_error ("unwatch everything", BP_ERROR_BAD_REQUEST, "unwatch: unknown event class");
}

static void
test_error_reply_id (void **state)
{
  assert_parse_error ("reply abc 01", BP_ERROR_BAD_REQUEST, "\"abc\" is not a read ID");
  assert_parse_error ("reply -1 01", BP_ERROR_BAD_REQUEST, "is not a read ID");
  assert_parse_error ("reply 18446744073709551616 01", BP_ERROR_BAD_REQUEST, "is not a read ID");
}

static void
test_error_reply_code_range (void **state)
{
  assert_parse_error ("reply 7 error 0x42", BP_ERROR_OUT_OF_RANGE, "0x01-0x0f or 0x80-0x9f");
  assert_parse_error ("reply 7 error 0", BP_ERROR_OUT_OF_RANGE, "reply 7: error CODE 0");
  assert_parse_error ("reply 7 error 0xa0", BP_ERROR_OUT_OF_RANGE, "0x80-0x9f");
}

static void
test_error_reply_code_syntax (void **state)
{
  assert_parse_error ("reply 7 error oops", BP_ERROR_BAD_VALUE, "is not a number");
}

static void
test_error_reply_error_without_code (void **state)
{
  assert_parse_error ("reply 7 error", BP_ERROR_BAD_REQUEST, "error without a CODE");
}

static void
test_error_reply_extra_word (void **state)
{
  assert_parse_error ("reply 7 01 02", BP_ERROR_BAD_REQUEST, "reply ID error CODE");
}

static void
test_error_advertise_word (void **state)
{
  assert_parse_error ("advertise yes", BP_ERROR_BAD_REQUEST, "expected on or off");
}

static void
test_error_long_word_utf8 (void **state)
{
  /* Error messages cut long words, never inside a character: the reply
   * must stay UTF-8. After "a", the two-byte "é"s straddle both cuts (64
   * bytes for a word, 32 for the verb named in a quoting error). */
  g_autoptr (GString) word = g_string_new ("a");
  /* before and after the word */
  const char *const requests[][2] = {
    { "", " x" }, { "", " \"open" }, { "advertise ", "" }, { "reply ", " 00" }, { "notify c 01 ", "" },
  };

  for (guint i = 0; i < 40; i++)
    g_string_append (word, "\xc3\xa9");
  for (guint i = 0; i < G_N_ELEMENTS (requests); i++)
    {
      g_autofree char *text = g_strconcat (requests[i][0], word->str, requests[i][1], NULL);
      BpRequest r;
      g_autoptr (GError) error = NULL;

      assert_false (parse (text, &r, &error));
      assert_non_null (error);
      if (!g_utf8_validate (error->message, -1, NULL))
        fail_msg ("\"%sWORD%s\": the message is not UTF-8", requests[i][0], requests[i][1]);
      assert_non_null (strstr (error->message, "a\xc3\xa9\xc3\xa9"));
    }
}

/* --- splitting, words, addresses ------------------------------------------ */

static void
test_split (void **state)
{
  char line[] = "  a \"b c\"\t\"\" d  ";
  char *w[8];
  guint n;

  assert_true (bp_protocol_split (line, w, 8, &n, NULL));
  assert_int_equal (n, 4);
  assert_string_equal (w[0], "a");
  assert_string_equal (w[1], "\"b c\"");
  assert_string_equal (w[2], "\"\"");
  assert_string_equal (w[3], "d");
}

static void
test_split_too_many (void **state)
{
  char line[] = "a b c";
  char *w[2];
  guint n;
  g_autoptr (GError) error = NULL;

  assert_false (bp_protocol_split (line, w, 2, &n, &error));
  assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_BAD_REQUEST));
}

static void
test_address_valid (void **state)
{
  assert_true (bp_protocol_address_valid ("00:AA:01:01:00:01"));
  assert_true (bp_protocol_address_valid ("ff:ee:dd:cc:bb:aa"));
  assert_false (bp_protocol_address_valid ("00:AA:01:01:00"));
  assert_false (bp_protocol_address_valid ("00-AA-01-01-00-01"));
  assert_false (bp_protocol_address_valid ("00:AA:01:01:00:011"));
  assert_false (bp_protocol_address_valid (NULL));
}

static void
test_word_valid (void **state)
{
  assert_true (bp_protocol_word_valid ("env/temperature"));
  assert_true (bp_protocol_word_valid ("température"));
  assert_false (bp_protocol_word_valid (""));
  assert_false (bp_protocol_word_valid ("a b"));
  assert_false (bp_protocol_word_valid ("a\nb"));
  assert_false (bp_protocol_word_valid ("\"x\""));
  assert_false (bp_protocol_word_valid ("\xff"));
  assert_false (bp_protocol_word_valid (NULL));
}

/* --- values ----------------------------------------------------------------- */

static void
test_append_value (void **state)
{
  g_autoptr (GString) s = g_string_new ("x ");
  const guint8 bytes[] = { 0x9a, 0x09, 0x00, 0xff };

  bp_protocol_append_value (s, bytes, sizeof bytes);
  assert_string_equal (s->str, "x 9a0900ff");
  g_string_truncate (s, 0);
  bp_protocol_append_value (s, NULL, 0);
  assert_string_equal (s->str, "\"\"");
}

static void
test_decode_value (void **state)
{
  guint8 buf[4];
  gsize len = 99;

  assert_true (bp_protocol_decode_value ("9a09", buf, sizeof buf, &len));
  assert_int_equal (len, 2);
  assert_int_equal (buf[0], 0x9a);
  assert_int_equal (buf[1], 0x09);
  assert_true (bp_protocol_decode_value ("9A:09:ff", buf, sizeof buf, &len));
  assert_int_equal (len, 3);
  assert_int_equal (buf[2], 0xff);
  assert_true (bp_protocol_decode_value ("\"\"", buf, sizeof buf, &len));
  assert_int_equal (len, 0);

  assert_false (bp_protocol_decode_value ("9a0", buf, sizeof buf, &len));
  assert_false (bp_protocol_decode_value ("zz", buf, sizeof buf, &len));
  assert_false (bp_protocol_decode_value ("", buf, sizeof buf, &len));
  assert_false (bp_protocol_decode_value ("0102030405", buf, sizeof buf, &len));
}

/* A quoted word reads back, through the value parser, as the same bytes. */
static void
check_quote_round_trip (const char *text, gssize len)
{
  gsize n = len < 0 ? strlen (text) : (gsize) len;
  g_autofree char *quoted = bp_protocol_quote (text, len);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = NULL;
  gsize got_len;
  const guint8 *got;

  assert_true (g_utf8_validate (quoted, -1, NULL));
  assert_null (strchr (quoted, '\n'));
  bytes = bp_value_parse (quoted, BP_FORMAT_NONE, 0, &error);
  if (bytes == NULL)
    fail_msg ("%s: %s", quoted, error->message);
  got = g_bytes_get_data (bytes, &got_len);
  assert_int_equal (got_len, n);
  assert_memory_equal (got, text, n);
}

static void
test_quote_round_trip (void **state)
{
  check_quote_round_trip ("hello world", -1);
  check_quote_round_trip ("tab\there \"quoted\" back\\slash\nnew line\r", -1);
  check_quote_round_trip ("température 24°", -1);
  check_quote_round_trip ("\x01\x1f\x7f", -1);
  check_quote_round_trip ("bad \xff utf8", -1);
  check_quote_round_trip ("", -1);
}

/* --- replies -------------------------------------------------------------- */

static void
test_reply_append_error (void **state)
{
  g_autoptr (GString) s = g_string_new (NULL);
  g_autoptr (GError) e1 = g_error_new (BP_ERROR, BP_ERROR_UNKNOWN_CHARACTERISTIC, "get: no \"x\"\nsecond line");
  g_autoptr (GError) e2 = g_error_new (G_FILE_ERROR, G_FILE_ERROR_NOENT, "elsewhere");

  bp_reply_append_error (s, e1);
  assert_string_equal (s->str, "error unknown-characteristic: get: no \"x\" second line\n");
  g_string_truncate (s, 0);
  bp_reply_append_error (s, e2);
  assert_string_equal (s->str, "error failed: elsewhere\n");
}

static void
test_reply_parse (void **state)
{
  char ok[] = "ok";
  char ok_words[] = "ok 9a09";
  char err[] = "error bad-value: set env/x: expected hex: got 'zz'";
  char junk[] = "okay";
  char junk2[] = "error nocolon";
  BpReply r;
  g_autoptr (GError) error = NULL;

  assert_true (bp_reply_parse (ok, &r, NULL));
  assert_true (r.ok);
  assert_string_equal (r.words, "");
  assert_true (bp_reply_parse (ok_words, &r, NULL));
  assert_string_equal (r.words, "9a09");
  assert_true (bp_reply_parse (err, &r, NULL));
  assert_false (r.ok);
  assert_string_equal (r.error_name, "bad-value");
  assert_string_equal (r.message, "set env/x: expected hex: got 'zz'");
  assert_false (bp_reply_parse (junk, &r, &error));
  g_clear_error (&error);
  assert_false (bp_reply_parse (junk2, &r, &error));
}

static void
test_error_from_name (void **state)
{
  for (int code = 0; code <= BP_ERROR_UNAVAILABLE; code++)
    assert_int_equal (bp_error_from_name (bp_error_name (code)), code);
  assert_int_equal (bp_error_from_name ("no-such-name"), BP_ERROR_FAILED);
}

/* --- events ----------------------------------------------------------------- */

static void
check_event (const BpProtoEvent *ev, const char *expected)
{
  g_autoptr (GString) s = g_string_new (NULL);
  BpProtoEvent back;
  guint8 buf[BP_VALUE_MAX];
  g_autoptr (GError) error = NULL;

  bp_proto_event_append (s, ev);
  assert_string_equal (s->str, expected);
  g_string_truncate (s, s->len - 1); /* the "\n" */
  if (!bp_proto_event_parse (s->str, &back, buf, &error))
    fail_msg ("%s: %s", expected, error->message);
  assert_int_equal (back.kind, ev->kind);
  assert_string_equal (back.characteristic != NULL ? back.characteristic : "(none)",
                       ev->characteristic != NULL ? ev->characteristic : "(none)");
  assert_string_equal (back.address != NULL ? back.address : "(none)", ev->address != NULL ? ev->address : "(none)");
  assert_int_equal (back.len, ev->len);
  if (ev->len > 0)
    assert_memory_equal (back.data, ev->data, ev->len);
  assert_int_equal (back.offset, ev->offset);
  assert_true (back.id == ev->id);
  assert_true (back.count == ev->count);
  assert_int_equal (back.on, ev->on);
  assert_string_equal (back.reason != NULL ? back.reason : "(none)", ev->reason != NULL ? ev->reason : "(none)");
  assert_int_equal (back.mtu, ev->mtu);
}

static void
test_events (void **state)
{
  const guint8 data[] = { 0x9a, 0x09 };
  const char *addr = "00:AA:01:01:00:01";

  check_event (&(BpProtoEvent) { .kind = BP_PROTO_EVENT_CONNECT, .address = addr },
               "event connect 00:AA:01:01:00:01\n");
  check_event (&(BpProtoEvent) { .kind = BP_PROTO_EVENT_DISCONNECT, .address = addr },
               "event disconnect 00:AA:01:01:00:01\n");
  check_event (&(BpProtoEvent) { .kind = BP_PROTO_EVENT_SUBSCRIBE, .characteristic = "env/t" },
               "event subscribe env/t\n");
  check_event (
    &(BpProtoEvent) { .kind = BP_PROTO_EVENT_SUBSCRIBE, .characteristic = "env/t", .address = addr, .mtu = 185 },
    "event subscribe env/t 00:AA:01:01:00:01 mtu=185\n");
  check_event (&(BpProtoEvent) { .kind = BP_PROTO_EVENT_SUBSCRIBE, .characteristic = "env/t", .address = addr },
               "event subscribe env/t 00:AA:01:01:00:01\n");
  check_event (&(BpProtoEvent) { .kind = BP_PROTO_EVENT_UNSUBSCRIBE, .characteristic = "env/t", .address = addr },
               "event unsubscribe env/t 00:AA:01:01:00:01\n");
  check_event (
    &(BpProtoEvent) {
      .kind = BP_PROTO_EVENT_WRITE, .characteristic = "env/raw", .address = addr, .data = data, .len = 2 },
    "event write env/raw 00:AA:01:01:00:01 9a09\n");
  check_event (
    &(BpProtoEvent) { .kind = BP_PROTO_EVENT_WRITE, .characteristic = "env/raw", .data = data, .len = 2, .offset = 18 },
    "event write env/raw - 9a09 offset=18\n");
  check_event (&(BpProtoEvent) { .kind = BP_PROTO_EVENT_WRITE, .characteristic = "env/raw", .address = addr },
               "event write env/raw 00:AA:01:01:00:01 \"\"\n");
  check_event (&(BpProtoEvent) { .kind = BP_PROTO_EVENT_READ, .id = 7, .characteristic = "env/name", .address = addr },
               "event read 7 env/name 00:AA:01:01:00:01\n");
  check_event (&(BpProtoEvent) { .kind = BP_PROTO_EVENT_READ, .id = 8, .characteristic = "env/name", .offset = 22 },
               "event read 8 env/name - offset=22\n");
  check_event (&(BpProtoEvent) { .kind = BP_PROTO_EVENT_CONFIRM, .characteristic = "env/t" }, "event confirm env/t\n");
  check_event (&(BpProtoEvent) { .kind = BP_PROTO_EVENT_DROPPED, .characteristic = "env/raw", .count = 3 },
               "event dropped env/raw 3\n");
  check_event (&(BpProtoEvent) { .kind = BP_PROTO_EVENT_ADVERTISING, .on = TRUE }, "event advertising started\n");
  check_event (&(BpProtoEvent) { .kind = BP_PROTO_EVENT_ADVERTISING, .reason = "timeout" },
               "event advertising stopped timeout\n");
  check_event (&(BpProtoEvent) { .kind = BP_PROTO_EVENT_ADAPTER, .address = addr, .on = TRUE },
               "event adapter 00:AA:01:01:00:01 up\n");
  check_event (&(BpProtoEvent) { .kind = BP_PROTO_EVENT_ADAPTER }, "event adapter - down\n");
  check_event (&(BpProtoEvent) { .kind = BP_PROTO_EVENT_RELOADED }, "event reloaded\n");
}

static void
test_event_classes (void **state)
{
  assert_int_equal (bp_proto_event_class (BP_PROTO_EVENT_WRITE), BP_WATCH_WRITE);
  assert_int_equal (bp_proto_event_class (BP_PROTO_EVENT_DROPPED), BP_WATCH_WRITE);
  assert_int_equal (bp_proto_event_class (BP_PROTO_EVENT_CONNECT), BP_WATCH_CONNECT);
  assert_int_equal (bp_proto_event_class (BP_PROTO_EVENT_DISCONNECT), BP_WATCH_CONNECT);
  assert_int_equal (bp_proto_event_class (BP_PROTO_EVENT_SUBSCRIBE), BP_WATCH_SUBSCRIBE);
  assert_int_equal (bp_proto_event_class (BP_PROTO_EVENT_CONFIRM), BP_WATCH_SUBSCRIBE);
  assert_int_equal (bp_proto_event_class (BP_PROTO_EVENT_ADVERTISING), BP_WATCH_STATE);
  assert_int_equal (bp_proto_event_class (BP_PROTO_EVENT_ADAPTER), BP_WATCH_STATE);
  assert_int_equal (bp_proto_event_class (BP_PROTO_EVENT_RELOADED), BP_WATCH_STATE);
  assert_int_equal (bp_proto_event_class (BP_PROTO_EVENT_READ), 0);
}

static void
test_event_unknown (void **state)
{
  char line[] = "event sparkle env/x 42";
  BpProtoEvent ev;
  guint8 buf[BP_VALUE_MAX];

  assert_true (bp_proto_event_parse (line, &ev, buf, NULL));
  assert_int_equal (ev.kind, BP_PROTO_EVENT_UNKNOWN);
}

static void
test_event_malformed (void **state)
{
  const char *bad[] = {
    "event write env/raw 00:AA:01:01:00:01 zz",
    "event write env/raw 00:AA:01:01:00:01",
    "event write env/raw - 01 offset=x",
    "event read x env/name -",
    "event dropped env/raw many",
    "event advertising paused",
    "event adapter - sideways",
    "event connect",
    "event subscribe env/t 00:AA:01:01:00:01 mtu=x",
    "event subscribe env/t 00:AA:01:01:00:01 mtu=22",
    "ok",
    "event",
  };

  for (guint i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      g_autofree char *line = g_strdup (bad[i]);
      BpProtoEvent ev;
      guint8 buf[BP_VALUE_MAX];
      g_autoptr (GError) error = NULL;

      if (bp_proto_event_parse (line, &ev, buf, &error))
        fail_msg ("\"%s\" was accepted", bad[i]);
      assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_FAILED));
    }
}

/* --- pairing ------------------------------------------------------------ */

static void
test_pairing_requests (void **state)
{
  BpRequest r;
  g_autoptr (GString) s = g_string_new (NULL);
  BpProtoEvent ev = { 0 }, back;
  guint8 buf[BP_VALUE_MAX];
  g_autoptr (GError) error = NULL;
  guint64 us = 0;

  assert_true (parse ("pairing on", &r, NULL));
  assert_int_equal (r.verb, BP_REQUEST_PAIRING);
  assert_int_equal (r.pairing, BP_PAIRING_ON);
  assert_int_equal (r.duration_us, 0);
  assert_true (parse ("pairing on 2min", &r, NULL));
  assert_int_equal (r.duration_us, 120 * G_USEC_PER_SEC);
  assert_true (parse ("pairing off", &r, NULL));
  assert_int_equal (r.pairing, BP_PAIRING_OFF_REQ);
  assert_true (parse ("pairing accept 00:AA:01:01:00:01", &r, NULL));
  assert_int_equal (r.pairing, BP_PAIRING_ACCEPT);
  assert_string_equal (r.address, "00:AA:01:01:00:01");
  assert_true (parse ("pairing reject 00:aa:01:01:00:01", &r, NULL));
  assert_int_equal (r.pairing, BP_PAIRING_REJECT);
  assert_true (parse ("bonds", &r, NULL));
  assert_int_equal (r.verb, BP_REQUEST_BONDS);
  assert_true (parse ("forget 00:AA:01:01:00:01", &r, NULL));
  assert_int_equal (r.verb, BP_REQUEST_FORGET);
  assert_string_equal (r.address, "00:AA:01:01:00:01");
  assert_true (parse ("watch pairing", &r, NULL));
  assert_int_equal (r.watch, BP_WATCH_PAIRING);

  assert_parse_error ("pairing", BP_ERROR_BAD_REQUEST, "pairing: missing words");
  assert_parse_error ("pairing maybe", BP_ERROR_BAD_REQUEST, "pairing: unknown \"maybe\"");
  assert_parse_error ("pairing on 5", BP_ERROR_BAD_VALUE, "pairing on: \"5\" is not a duration");
  assert_parse_error ("pairing on 0s", BP_ERROR_BAD_VALUE, "is not a duration");
  assert_parse_error ("pairing off now", BP_ERROR_BAD_REQUEST, "pairing off: too many words");
  assert_parse_error ("pairing accept", BP_ERROR_BAD_REQUEST, "pairing accept ADDR");
  assert_parse_error ("pairing accept phone", BP_ERROR_BAD_VALUE, "pairing accept: address \"phone\"");
  assert_parse_error ("bonds all", BP_ERROR_BAD_REQUEST, "bonds: too many words");
  assert_parse_error ("forget", BP_ERROR_BAD_REQUEST, "forget ADDR");
  assert_parse_error ("forget 00:11", BP_ERROR_BAD_VALUE, "forget: address");

  assert_true (bp_protocol_parse_duration ("90s", &us));
  assert_int_equal (us, 90 * G_USEC_PER_SEC);
  assert_true (bp_protocol_parse_duration ("1h", &us));
  assert_true (bp_protocol_parse_duration ("500ms", &us));
  assert_int_equal (us, 500000);
  assert_false (bp_protocol_parse_duration ("2 min", &us));
  assert_false (bp_protocol_parse_duration ("min", &us));
  assert_false (bp_protocol_parse_duration ("99999999999999s", &us));

  ev.kind = BP_PROTO_EVENT_PAIRING;
  ev.address = "00:AA:01:01:00:01";
  ev.reason = "confirm";
  ev.has_passkey = TRUE;
  ev.count = 4242;
  bp_proto_event_append (s, &ev);
  assert_string_equal (s->str, "event pairing 00:AA:01:01:00:01 confirm 004242\n");
  g_string_truncate (s, s->len - 1);
  assert_true (bp_proto_event_parse (s->str, &back, buf, &error));
  assert_int_equal (back.kind, BP_PROTO_EVENT_PAIRING);
  assert_true (back.has_passkey);
  assert_int_equal (back.count, 4242);
  assert_int_equal (bp_proto_event_class (back.kind), BP_WATCH_PAIRING);

  g_string_truncate (s, 0);
  ev.kind = BP_PROTO_EVENT_PAIRING_FAILED;
  ev.reason = "timeout";
  bp_proto_event_append (s, &ev);
  assert_string_equal (s->str, "event pairing-failed 00:AA:01:01:00:01 timeout\n");
  g_string_truncate (s, 0);
  ev.kind = BP_PROTO_EVENT_PAIRED;
  bp_proto_event_append (s, &ev);
  assert_string_equal (s->str, "event paired 00:AA:01:01:00:01\n");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_set),
    cmocka_unit_test (test_notify_to),
    cmocka_unit_test (test_quoted_value),
    cmocka_unit_test (test_crlf),
    cmocka_unit_test (test_simple_verbs),
    cmocka_unit_test (test_watch_classes),
    cmocka_unit_test (test_reply),
    cmocka_unit_test (test_longest_line),
    cmocka_unit_test (test_error_empty),
    cmocka_unit_test (test_error_unknown_verb),
    cmocka_unit_test (test_error_missing_words),
    cmocka_unit_test (test_error_too_many_words),
    cmocka_unit_test (test_error_notify_extra_word),
    cmocka_unit_test (test_error_notify_bad_address),
    cmocka_unit_test (test_error_disconnect_bad_address),
    cmocka_unit_test (test_pairing_requests),
    cmocka_unit_test (test_error_invalid_utf8),
    cmocka_unit_test (test_error_nul_byte),
    cmocka_unit_test (test_error_unterminated_quote),
    cmocka_unit_test (test_error_quote_inside_word),
    cmocka_unit_test (test_error_watch_class),
    cmocka_unit_test (test_error_reply_id),
    cmocka_unit_test (test_error_reply_code_range),
    cmocka_unit_test (test_error_reply_code_syntax),
    cmocka_unit_test (test_error_reply_error_without_code),
    cmocka_unit_test (test_error_reply_extra_word),
    cmocka_unit_test (test_error_advertise_word),
    cmocka_unit_test (test_error_long_word_utf8),
    cmocka_unit_test (test_split),
    cmocka_unit_test (test_split_too_many),
    cmocka_unit_test (test_address_valid),
    cmocka_unit_test (test_word_valid),
    cmocka_unit_test (test_append_value),
    cmocka_unit_test (test_decode_value),
    cmocka_unit_test (test_quote_round_trip),
    cmocka_unit_test (test_reply_append_error),
    cmocka_unit_test (test_reply_parse),
    cmocka_unit_test (test_error_from_name),
    cmocka_unit_test (test_events),
    cmocka_unit_test (test_event_classes),
    cmocka_unit_test (test_event_unknown),
    cmocka_unit_test (test_event_malformed),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
