/* Unit tests of src/common/value.c (the value syntax and the typed
 * encoding) and src/common/error.c (the error names). */
#define G_LOG_DOMAIN "test-value"

#include "build-config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <glib.h>

#include "common/error.h"
#include "common/value.h"

/* Parses text and returns its hex (freed by the caller); fails the test on an
 * error. */
static char *
hex_of (const char *text, BpFormat format, int exponent)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = bp_value_parse (text, format, exponent, &error);
  gsize len = 0;
  const guint8 *data;

  if (bytes == NULL)
    {
      print_error ("'%s' as %s (exponent %d): %s\n", text, bp_format_name (format), exponent, error->message);
      fail ();
    }
  data = g_bytes_get_data (bytes, &len);
  return bp_value_to_hex (data, len);
}

#define assert_parses(text, format, exponent, expected)                                                    \
  do                                                                                                       \
    {                                                                                                      \
      g_autofree char *hex_ = hex_of (text, format, exponent);                                             \
      if (strcmp (hex_, expected) != 0)                                                                    \
        print_error ("'%s' as %s (exponent %d) gave %s\n", text, bp_format_name (format), exponent, hex_); \
      assert_string_equal (hex_, expected);                                                                \
    }                                                                                                      \
  while (0)

/* Asserts that parsing fails with code and, when given, exactly message. */
static void
assert_refused (const char *text, BpFormat format, int exponent, int code, const char *message)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) bytes = bp_value_parse (text, format, exponent, &error);

  if (bytes != NULL)
    {
      print_error ("'%s' as %s parsed, expected an error\n", text, bp_format_name (format));
      fail ();
    }
  assert_non_null (error);
  if (!g_error_matches (error, BP_ERROR, code))
    {
      print_error ("'%s': code %d (%s), expected %d\n", text, error->code, error->message, code);
      fail ();
    }
  if (message != NULL)
    assert_string_equal (error->message, message);
}

static char *
display_of (const char *hex, BpFormat format, int exponent)
{
  g_autoptr (GBytes) bytes = bp_value_parse (hex, BP_FORMAT_NONE, 0, NULL);
  gsize len = 0;
  const guint8 *data;

  assert_non_null (bytes);
  data = g_bytes_get_data (bytes, &len);
  return bp_value_to_display (data, len, format, exponent);
}

#define assert_display(hex, format, exponent, expected)         \
  do                                                            \
    {                                                           \
      g_autofree char *d_ = display_of (hex, format, exponent); \
      assert_string_equal (d_, expected);                       \
    }                                                           \
  while (0)

/* ------------------------------------------------------------------------ */

static void
test_error_names (void **state)
{
  static const struct {
    int code;
    const char *name;
  } names[] = {
    { BP_ERROR_FAILED, "failed" },
    { BP_ERROR_BAD_REQUEST, "bad-request" },
    { BP_ERROR_UNKNOWN_CHARACTERISTIC, "unknown-characteristic" },
    { BP_ERROR_AMBIGUOUS, "ambiguous" },
    { BP_ERROR_BAD_VALUE, "bad-value" },
    { BP_ERROR_OUT_OF_RANGE, "out-of-range" },
    { BP_ERROR_TOO_LONG, "too-long" },
    { BP_ERROR_NOT_SUPPORTED, "not-supported" },
    { BP_ERROR_UNKNOWN_READ, "unknown-read" },
    { BP_ERROR_NOT_PERMITTED, "not-permitted" },
    { BP_ERROR_NOT_CONNECTED, "not-connected" },
    { BP_ERROR_BUSY, "busy" },
    { BP_ERROR_CONFIG, "config" },
    { BP_ERROR_UNAVAILABLE, "unavailable" },
  };

  for (gsize i = 0; i < G_N_ELEMENTS (names); i++)
    assert_string_equal (bp_error_name (names[i].code), names[i].name);
  assert_string_equal (bp_error_name (9999), "failed");
  assert_string_equal (g_quark_to_string (BP_ERROR), "bp-error-quark");
}

static void
test_formats (void **state)
{
  /* clang-format off */
  static const struct {
    const char *name;
    BpFormat format;
    guint8 code;
    gsize size;
  } formats[] = {
    { "boolean", BP_FORMAT_BOOLEAN, 0x01, 1 },
    { "uint8", BP_FORMAT_UINT8, 0x04, 1 },
    { "uint16", BP_FORMAT_UINT16, 0x06, 2 },
    { "uint24", BP_FORMAT_UINT24, 0x07, 3 },
    { "uint32", BP_FORMAT_UINT32, 0x08, 4 },
    { "uint64", BP_FORMAT_UINT64, 0x0A, 8 },
    { "sint8", BP_FORMAT_SINT8, 0x0C, 1 },
    { "sint16", BP_FORMAT_SINT16, 0x0E, 2 },
    { "sint24", BP_FORMAT_SINT24, 0x0F, 3 },
    { "sint32", BP_FORMAT_SINT32, 0x10, 4 },
    { "sint64", BP_FORMAT_SINT64, 0x12, 8 },
    { "float32", BP_FORMAT_FLOAT32, 0x14, 4 },
    { "float64", BP_FORMAT_FLOAT64, 0x15, 8 },
    { "utf8", BP_FORMAT_UTF8, 0x19, 0 },
  };
  /* clang-format on */
  BpFormat f = BP_FORMAT_NONE;

  for (gsize i = 0; i < G_N_ELEMENTS (formats); i++)
    {
      assert_true (bp_format_from_name (formats[i].name, &f));
      assert_int_equal (f, formats[i].format);
      assert_string_equal (bp_format_name (f), formats[i].name);
      assert_int_equal (bp_format_gatt_code (f), formats[i].code);
      assert_int_equal (bp_format_size (f), formats[i].size);
    }
  assert_true (bp_format_from_name ("SINT16", &f));
  assert_int_equal (f, BP_FORMAT_SINT16);
  assert_true (bp_format_from_name ("utf8s", &f));
  assert_int_equal (f, BP_FORMAT_UTF8);
  assert_false (bp_format_from_name ("int16", &f));
  assert_false (bp_format_from_name ("", &f));
  assert_false (bp_format_from_name ("none", &f));
  assert_false (bp_format_from_name (NULL, &f));
  assert_int_equal (bp_format_size (BP_FORMAT_NONE), 0);
}

static void
test_decimal_exactness (void **state)
{
  /* The examples binary floating point gets wrong: 24.58 * 100 is
   * 2457.9999999999995 and 0.29 * 100 is 28.999999999999996. */
  assert_parses ("24.58", BP_FORMAT_SINT16, -2, "9a09");
  assert_parses ("0.29", BP_FORMAT_UINT8, -2, "1d");
  assert_parses ("1.005", BP_FORMAT_UINT16, -3, "ed03");
  assert_parses ("-24.58", BP_FORMAT_SINT16, -2, "66f6");
  assert_parses ("0", BP_FORMAT_SINT16, -2, "0000");
  assert_parses ("-0", BP_FORMAT_SINT16, -2, "0000");
  assert_parses ("00024.580", BP_FORMAT_SINT16, -2, "9a09");
  assert_parses ("+24.58", BP_FORMAT_SINT16, -2, "9a09");
  assert_parses (".5", BP_FORMAT_UINT8, -1, "05");
  assert_parses ("5.", BP_FORMAT_UINT8, 0, "05");
  assert_parses ("45.3", BP_FORMAT_UINT16, -2, "b211");
}

static void
test_rounding (void **state)
{
  /* round(number / 10^exponent), half away from zero */
  assert_parses ("-3.5", BP_FORMAT_SINT8, 0, "fc");  /* -4 */
  assert_parses ("-3.5", BP_FORMAT_SINT8, -1, "dd"); /* -35 */
  assert_parses ("2.5", BP_FORMAT_UINT8, 0, "03");
  assert_parses ("2.4999", BP_FORMAT_UINT8, 0, "02");
  assert_parses ("0.5", BP_FORMAT_UINT8, 0, "01");
  assert_parses ("0.49", BP_FORMAT_UINT8, 0, "00");
  assert_parses ("-0.5", BP_FORMAT_SINT8, 0, "ff");
  assert_parses ("-0.4", BP_FORMAT_UINT8, 0, "00"); /* rounds to 0: fits */
  assert_parses ("24.584", BP_FORMAT_SINT16, -2, "9a09");
  assert_parses ("24.585", BP_FORMAT_SINT16, -2, "9b09");
  assert_parses ("0.001", BP_FORMAT_UINT8, 0, "00");
  assert_parses ("1e-400", BP_FORMAT_UINT8, 0, "00");
}

static void
test_exponents_and_hex_numbers (void **state)
{
  assert_parses ("1e2", BP_FORMAT_UINT8, 0, "64");
  assert_parses ("1E2", BP_FORMAT_UINT8, 0, "64");
  assert_parses ("1.5e1", BP_FORMAT_UINT8, 0, "0f");
  assert_parses ("2500e-2", BP_FORMAT_UINT8, 0, "19");
  assert_parses ("1e+2", BP_FORMAT_UINT8, 0, "64");
  /* a positive exponent: the wire value counts hundreds */
  assert_parses ("12300", BP_FORMAT_UINT8, 2, "7b");
  assert_parses ("12345", BP_FORMAT_UINT8, 2, "7b");
  assert_parses ("12350", BP_FORMAT_UINT8, 2, "7c");
  /* 0x is a hexadecimal number here, and the exponent applies to it */
  assert_parses ("0x10", BP_FORMAT_UINT8, 0, "10");
  assert_parses ("0x10", BP_FORMAT_UINT8, -1, "a0");
  assert_parses ("0xff", BP_FORMAT_UINT8, 0, "ff");
  assert_parses ("-0x10", BP_FORMAT_SINT8, 0, "f0");
  assert_parses ("0x0102", BP_FORMAT_UINT16, 0, "0201");
}

static void
test_integer_formats (void **state)
{
  assert_parses ("513", BP_FORMAT_UINT16, 0, "0102");
  assert_parses ("65535", BP_FORMAT_UINT16, 0, "ffff");
  assert_parses ("16777215", BP_FORMAT_UINT24, 0, "ffffff");
  assert_parses ("66051", BP_FORMAT_UINT24, 0, "030201");
  assert_parses ("4294967295", BP_FORMAT_UINT32, 0, "ffffffff");
  assert_parses ("18446744073709551615", BP_FORMAT_UINT64, 0, "ffffffffffffffff");
  assert_parses ("-128", BP_FORMAT_SINT8, 0, "80");
  assert_parses ("127", BP_FORMAT_SINT8, 0, "7f");
  assert_parses ("327.67", BP_FORMAT_SINT16, -2, "ff7f");
  assert_parses ("-327.68", BP_FORMAT_SINT16, -2, "0080");
  assert_parses ("-8388608", BP_FORMAT_SINT24, 0, "000080");
  assert_parses ("-1", BP_FORMAT_SINT24, 0, "ffffff");
  assert_parses ("-2147483648", BP_FORMAT_SINT32, 0, "00000080");
  assert_parses ("-9223372036854775808", BP_FORMAT_SINT64, 0, "0000000000000080");
  assert_parses ("9223372036854775807", BP_FORMAT_SINT64, 0, "ffffffffffffff7f");
}

static void
test_ranges (void **state)
{
  assert_refused ("256", BP_FORMAT_UINT8, 0, BP_ERROR_OUT_OF_RANGE, "256 is out of range for uint8 (0 to 255)");
  assert_refused ("-1", BP_FORMAT_UINT8, 0, BP_ERROR_OUT_OF_RANGE, "-1 is out of range for uint8 (0 to 255)");
  assert_refused ("400", BP_FORMAT_SINT16, -2, BP_ERROR_OUT_OF_RANGE,
                  "400 is out of range for sint16 with exponent -2 (-327.68 to 327.67)");
  assert_refused ("-327.69", BP_FORMAT_SINT16, -2, BP_ERROR_OUT_OF_RANGE, NULL);
  assert_refused ("327.675", BP_FORMAT_SINT16, -2, BP_ERROR_OUT_OF_RANGE, NULL); /* rounds to 32768 */
  assert_refused ("128", BP_FORMAT_SINT8, 0, BP_ERROR_OUT_OF_RANGE, "128 is out of range for sint8 (-128 to 127)");
  assert_refused ("16777216", BP_FORMAT_UINT24, 0, BP_ERROR_OUT_OF_RANGE, NULL);
  assert_refused ("8388608", BP_FORMAT_SINT24, 0, BP_ERROR_OUT_OF_RANGE,
                  "8388608 is out of range for sint24 (-8388608 to 8388607)");
  assert_refused ("4294967296", BP_FORMAT_UINT32, 0, BP_ERROR_OUT_OF_RANGE, NULL);
  assert_refused ("18446744073709551616", BP_FORMAT_UINT64, 0, BP_ERROR_OUT_OF_RANGE,
                  "18446744073709551616 is out of range for uint64 (0 to 18446744073709551615)");
  assert_refused ("9223372036854775808", BP_FORMAT_SINT64, 0, BP_ERROR_OUT_OF_RANGE, NULL);
  assert_refused ("-9223372036854775809", BP_FORMAT_SINT64, 0, BP_ERROR_OUT_OF_RANGE, NULL);
  assert_refused ("1e30", BP_FORMAT_UINT64, 0, BP_ERROR_OUT_OF_RANGE, NULL);
  assert_refused ("1e999999999999", BP_FORMAT_UINT8, 0, BP_ERROR_OUT_OF_RANGE, NULL);
  assert_refused ("99999999999999999999999999999999999999999", BP_FORMAT_UINT64, 0, BP_ERROR_OUT_OF_RANGE, NULL);
  assert_refused ("0x10000000000000000", BP_FORMAT_UINT64, 0, BP_ERROR_OUT_OF_RANGE, NULL);
  /* a positive exponent shows the range in the written unit */
  assert_refused ("25600", BP_FORMAT_UINT8, 2, BP_ERROR_OUT_OF_RANGE,
                  "25600 is out of range for uint8 with exponent 2 (0 to 25500)");
}

static void
test_not_numbers (void **state)
{
  static const char *const bad[] = {
    "12abc", "abc", ".",   "-",   "+",   "1e",   "1e+",      "0x",   "0xg",  "1.2.3", "--1",
    " 1",    "1 ",  "1,5", "nan", "inf", "-inf", "infinity", "\xff", "1e5x", "0x1.8",
  };

  assert_refused ("12abc", BP_FORMAT_SINT16, -2, BP_ERROR_BAD_VALUE,
                  "expected a number such as 24.58, -3 or 0x10 for sint16, got '12abc'");
  assert_refused ("", BP_FORMAT_SINT16, -2, BP_ERROR_BAD_VALUE, "expected a number for sint16, got an empty value");
  assert_refused (NULL, BP_FORMAT_UINT8, 0, BP_ERROR_BAD_VALUE, NULL);
  for (gsize i = 0; i < G_N_ELEMENTS (bad); i++)
    {
      assert_refused (bad[i], BP_FORMAT_UINT32, 0, BP_ERROR_BAD_VALUE, NULL);
      assert_refused (bad[i], BP_FORMAT_SINT64, -2, BP_ERROR_BAD_VALUE, NULL);
    }
}

static void
test_floats (void **state)
{
  assert_parses ("1.5", BP_FORMAT_FLOAT32, 0, "0000c03f");
  assert_parses ("-2", BP_FORMAT_FLOAT32, 0, "000000c0");
  assert_parses ("0", BP_FORMAT_FLOAT32, 0, "00000000");
  /* the exponent applies: 24.58 / 10^-2 = 2458.0 */
  assert_parses ("24.58", BP_FORMAT_FLOAT32, -2, "00a01945");
  assert_parses ("0.1", BP_FORMAT_FLOAT64, 0, "9a9999999999b93f");
  assert_parses ("1e2", BP_FORMAT_FLOAT64, 0, "0000000000005940");
  assert_parses ("0x10", BP_FORMAT_FLOAT32, 0, "00008041");
  assert_parses ("nan", BP_FORMAT_FLOAT32, 0, "0000c07f");
  assert_parses ("inf", BP_FORMAT_FLOAT32, 0, "0000807f");
  assert_parses ("-inf", BP_FORMAT_FLOAT32, 0, "000080ff");
  assert_parses ("Infinity", BP_FORMAT_FLOAT64, 0, "000000000000f07f");
  assert_parses ("1e-50", BP_FORMAT_FLOAT32, 0, "00000000"); /* underflows to 0 */
  assert_refused ("1e39", BP_FORMAT_FLOAT32, 0, BP_ERROR_OUT_OF_RANGE,
                  "1e39 is out of range for float32 (at most ±3.4e38)");
  assert_refused ("1e309", BP_FORMAT_FLOAT64, 0, BP_ERROR_OUT_OF_RANGE, NULL);
  assert_refused ("1e37", BP_FORMAT_FLOAT32, -2, BP_ERROR_OUT_OF_RANGE, NULL);
  assert_refused ("12abc", BP_FORMAT_FLOAT32, 0, BP_ERROR_BAD_VALUE, NULL);
  assert_refused ("", BP_FORMAT_FLOAT64, 0, BP_ERROR_BAD_VALUE, NULL);
}

static void
test_boolean (void **state)
{
  assert_parses ("true", BP_FORMAT_BOOLEAN, 0, "01");
  assert_parses ("false", BP_FORMAT_BOOLEAN, 0, "00");
  assert_parses ("TRUE", BP_FORMAT_BOOLEAN, 0, "01");
  assert_parses ("1", BP_FORMAT_BOOLEAN, 0, "01");
  assert_parses ("0", BP_FORMAT_BOOLEAN, 0, "00");
  assert_refused ("2", BP_FORMAT_BOOLEAN, 0, BP_ERROR_BAD_VALUE, "expected true or false for boolean, got '2'");
  assert_refused ("", BP_FORMAT_BOOLEAN, 0, BP_ERROR_BAD_VALUE, NULL);
  assert_refused ("truee", BP_FORMAT_BOOLEAN, 0, BP_ERROR_BAD_VALUE, NULL);
}

static void
test_utf8 (void **state)
{
  assert_parses ("hello", BP_FORMAT_UTF8, 0, "68656c6c6f");
  assert_parses ("\"hello world\"", BP_FORMAT_UTF8, 0, "68656c6c6f20776f726c64");
  assert_parses ("h\xc3\xa9", BP_FORMAT_UTF8, 0, "68c3a9");
  assert_parses ("\"\\xc3\\xa9\"", BP_FORMAT_UTF8, 0, "c3a9");
  assert_parses ("", BP_FORMAT_UTF8, 0, "");
  assert_parses ("\"\"", BP_FORMAT_UTF8, 0, "");
  /* U+0000 is a character */
  assert_parses ("\"a\\0b\"", BP_FORMAT_UTF8, 0, "610062");
  assert_refused ("\"\\xff\"", BP_FORMAT_UTF8, 0, BP_ERROR_BAD_VALUE, "\"\\xff\" is not valid UTF-8, which utf8 needs");
  assert_refused ("\"\\xc3\"", BP_FORMAT_UTF8, 0, BP_ERROR_BAD_VALUE, NULL);
  assert_refused ("a\xff", BP_FORMAT_UTF8, 0, BP_ERROR_BAD_VALUE, NULL);
  /* for no format, a quoted string is its bytes, UTF-8 or not */
  assert_parses ("\"\\xff\"", BP_FORMAT_NONE, 0, "ff");
}

static void
test_hex (void **state)
{
  assert_parses ("9a09", BP_FORMAT_NONE, 0, "9a09");
  assert_parses ("9a:09:", BP_FORMAT_NONE, 0, "9a09");
  assert_parses ("9a:09", BP_FORMAT_NONE, 0, "9a09");
  assert_parses ("0x9a09", BP_FORMAT_NONE, 0, "9a09");
  assert_parses ("0X9A09", BP_FORMAT_NONE, 0, "9a09");
  assert_parses ("9A09", BP_FORMAT_NONE, 0, "9a09");
  assert_parses ("", BP_FORMAT_NONE, 0, "");
  assert_parses ("00", BP_FORMAT_NONE, 0, "00");
  assert_refused ("9a0", BP_FORMAT_NONE, 0, BP_ERROR_BAD_VALUE,
                  "'9a0' has an odd number of hex digits: each byte takes two");
  assert_refused ("zz", BP_FORMAT_NONE, 0, BP_ERROR_BAD_VALUE,
                  "expected hex bytes such as 9a09 or 9a:09, or a quoted string, got 'zz'");
  assert_refused ("9a 09", BP_FORMAT_NONE, 0, BP_ERROR_BAD_VALUE, NULL);
  assert_refused ("0x", BP_FORMAT_NONE, 0, BP_ERROR_BAD_VALUE, "expected hex digits after '0x'");
  assert_refused (":9a", BP_FORMAT_NONE, 0, BP_ERROR_BAD_VALUE, NULL);
  assert_refused ("9:a0", BP_FORMAT_NONE, 0, BP_ERROR_BAD_VALUE, NULL);
  assert_refused ("24.58", BP_FORMAT_NONE, 0, BP_ERROR_BAD_VALUE, NULL);
}

static void
test_quoted_strings (void **state)
{
  assert_parses ("\"hi\\n\"", BP_FORMAT_NONE, 0, "68690a");
  assert_parses ("\"\\n\\t\\r\\\\\\\"\\'\\0\\x41\\a\\b\\f\\v\\101\\7\\?\"", BP_FORMAT_NONE, 0,
                 "0a090d5c2227004107080c0b41073f");
  assert_parses ("\"\\x4\"", BP_FORMAT_NONE, 0, "04");
  assert_parses ("\"\\x414\"", BP_FORMAT_NONE, 0, "4134"); /* two hex digits at most */
  assert_parses ("\"\\0101\"", BP_FORMAT_NONE, 0, "0831"); /* three octal digits at most */
  assert_parses ("\"\\377\"", BP_FORMAT_NONE, 0, "ff");
  assert_parses ("\"a b, c\"", BP_FORMAT_NONE, 0, "6120622c2063");
  /* a quoted string is its bytes whatever the format */
  assert_parses ("\"ab\"", BP_FORMAT_SINT16, -2, "6162");

  assert_refused ("\"abc", BP_FORMAT_NONE, 0, BP_ERROR_BAD_VALUE,
                  "unterminated string: expected a closing \" in \"abc");
  assert_refused ("\"abc\\", BP_FORMAT_NONE, 0, BP_ERROR_BAD_VALUE, NULL);
  assert_refused ("\"abc\\\"", BP_FORMAT_NONE, 0, BP_ERROR_BAD_VALUE, NULL);
  assert_refused ("\"abc\"x", BP_FORMAT_NONE, 0, BP_ERROR_BAD_VALUE, "unexpected text after the closing quote: x");
  assert_refused ("\"\\q\"", BP_FORMAT_NONE, 0, BP_ERROR_BAD_VALUE,
                  "unknown escape '\\q' in \"\\q\": expected \\n \\t \\r \\\\ \\\" \\' \\0 \\xHH "
                  "\\a \\b \\f \\v or an octal \\NNN");
  assert_refused ("\"\\x\"", BP_FORMAT_NONE, 0, BP_ERROR_BAD_VALUE, NULL);
  assert_refused ("\"\\400\"", BP_FORMAT_NONE, 0, BP_ERROR_BAD_VALUE, NULL);
  assert_refused ("\"", BP_FORMAT_UTF8, 0, BP_ERROR_BAD_VALUE, NULL);
}

static void
test_too_long (void **state)
{
  g_autoptr (GString) hex = g_string_new (NULL);
  g_autoptr (GString) quoted = g_string_new ("\"");
  g_autoptr (GString) text = g_string_new (NULL);
  g_autoptr (GBytes) ok = NULL;

  for (int i = 0; i < 512; i++)
    {
      g_string_append (hex, "ab");
      g_string_append_c (quoted, 'x');
      g_string_append_c (text, 'y');
    }
  ok = bp_value_parse (hex->str, BP_FORMAT_NONE, 0, NULL);
  assert_non_null (ok);
  assert_int_equal (g_bytes_get_size (ok), 512);

  g_string_append (hex, "cd");
  g_string_append (quoted, "x\"");
  g_string_append_c (text, 'y');
  assert_refused (hex->str, BP_FORMAT_NONE, 0, BP_ERROR_TOO_LONG, "the value is 513 bytes, over the limit of 512");
  assert_refused (quoted->str, BP_FORMAT_NONE, 0, BP_ERROR_TOO_LONG, "the string is 513 bytes, over the limit of 512");
  assert_refused (text->str, BP_FORMAT_UTF8, 0, BP_ERROR_TOO_LONG, NULL);
}

static void
test_to_hex (void **state)
{
  static const guint8 data[] = { 0x9a, 0x09, 0x00, 0xff };
  g_autofree char *a = bp_value_to_hex (data, 2);
  g_autofree char *b = bp_value_to_hex (data, 4);
  g_autofree char *c = bp_value_to_hex (NULL, 0);

  assert_string_equal (a, "9a09");
  assert_string_equal (b, "9a0900ff");
  assert_string_equal (c, "");
}

static void
test_display (void **state)
{
  assert_display ("9a09", BP_FORMAT_SINT16, -2, "24.58");
  assert_display ("66f6", BP_FORMAT_SINT16, -2, "-24.58");
  assert_display ("0080", BP_FORMAT_SINT16, -2, "-327.68");
  assert_display ("0500", BP_FORMAT_SINT16, -2, "0.05");
  assert_display ("fbff", BP_FORMAT_SINT16, -2, "-0.05");
  assert_display ("6009", BP_FORMAT_UINT16, -2, "24.00");
  assert_display ("0000", BP_FORMAT_SINT16, -2, "0.00");
  assert_display ("7b", BP_FORMAT_UINT8, 2, "12300");
  assert_display ("ff", BP_FORMAT_UINT8, 0, "255");
  assert_display ("ff", BP_FORMAT_SINT8, 0, "-1");
  assert_display ("030201", BP_FORMAT_UINT24, 0, "66051");
  assert_display ("ffffff", BP_FORMAT_SINT24, 0, "-1");
  assert_display ("ffffffffffffffff", BP_FORMAT_UINT64, 0, "18446744073709551615");
  assert_display ("0000000000000080", BP_FORMAT_SINT64, 0, "-9223372036854775808");
  assert_display ("01", BP_FORMAT_BOOLEAN, 0, "true");
  assert_display ("00", BP_FORMAT_BOOLEAN, 0, "false");
  assert_display ("02", BP_FORMAT_BOOLEAN, 0, "02");
  assert_display ("68690a22", BP_FORMAT_UTF8, 0, "\"hi\\n\\\"\"");
  assert_display ("5c01", BP_FORMAT_UTF8, 0, "\"\\\\\\x01\"");
  assert_display ("ff", BP_FORMAT_UTF8, 0, "ff");
  assert_display ("9a09", BP_FORMAT_NONE, 0, "9a09");
  assert_display ("", BP_FORMAT_NONE, 0, "");
  /* a length that does not match the format: hex */
  assert_display ("9a0900", BP_FORMAT_SINT16, -2, "9a0900");
  assert_display ("0000c03f", BP_FORMAT_FLOAT32, 0, "1.5");
  assert_display ("00a01945", BP_FORMAT_FLOAT32, -2, "24.58");
  assert_display ("9a9999999999b93f", BP_FORMAT_FLOAT64, 0, "0.1");
  assert_display ("0000c07f", BP_FORMAT_FLOAT32, 0, "nan");
  assert_display ("000080ff", BP_FORMAT_FLOAT32, 0, "-inf");
  assert_display ("0000000000005940", BP_FORMAT_FLOAT64, 3, "100000");
}

/* display → parse gives the same bytes, for every format. */
static void
test_display_round_trip (void **state)
{
  static const BpFormat numeric[] = {
    BP_FORMAT_UINT8,  BP_FORMAT_UINT16, BP_FORMAT_UINT24, BP_FORMAT_UINT32, BP_FORMAT_UINT64,  BP_FORMAT_SINT8,
    BP_FORMAT_SINT16, BP_FORMAT_SINT24, BP_FORMAT_SINT32, BP_FORMAT_SINT64, BP_FORMAT_FLOAT32, BP_FORMAT_FLOAT64,
  };
  static const int exponents[] = { 0, -2, 3, -7 };
  GRand *rand = g_rand_new_with_seed (1234);

  for (gsize f = 0; f < G_N_ELEMENTS (numeric); f++)
    for (gsize e = 0; e < G_N_ELEMENTS (exponents); e++)
      for (int i = 0; i < 200; i++)
        {
          gsize size = bp_format_size (numeric[f]);
          guint8 data[8];
          g_autofree char *shown = NULL;
          g_autoptr (GBytes) back = NULL;
          g_autoptr (GError) error = NULL;

          for (gsize k = 0; k < size; k++)
            data[k] = (guint8) g_rand_int_range (rand, 0, 256);
          shown = bp_value_to_display (data, size, numeric[f], exponents[e]);
          if (g_str_equal (shown, "nan"))
            continue; /* NaN payloads need not survive */
          back = bp_value_parse (shown, numeric[f], exponents[e], &error);
          if (back == NULL || g_bytes_get_size (back) != size ||
              memcmp (g_bytes_get_data (back, NULL), data, size) != 0)
            {
              g_autofree char *hex = bp_value_to_hex (data, size);
              print_error ("%s exponent %d: %s shown as %s did not come back (%s)\n", bp_format_name (numeric[f]),
                           exponents[e], hex, shown, error ? error->message : "other bytes");
              g_rand_free (rand);
              fail ();
            }
        }
  g_rand_free (rand);
}

static void
assert_words (const char *line, const char *const *expected)
{
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) words = bp_words_split (line, &error);

  assert_null (error);
  assert_non_null (words);
  assert_int_equal (g_strv_length (words), g_strv_length ((GStrv) expected));
  for (guint i = 0; expected[i] != NULL; i++)
    assert_string_equal (words[i], expected[i]);
}

static void
test_words_split (void **state)
{
  {
    const char *const w[] = { "notify", "env/temperature", "24.58", NULL };
    assert_words ("notify env/temperature 24.58", w);
  }
  {
    const char *const w[] = { "a", "b", NULL };
    assert_words ("  a   b  ", w);
    assert_words ("a\tb\n", w);
    assert_words ("a b\r\n", w);
  }
  {
    const char *const w[] = { NULL };
    assert_words ("", w);
    assert_words ("   ", w);
    assert_words (NULL, w);
  }
  {
    const char *const w[] = { "set", "x", "\"hello world\"", NULL };
    assert_words ("set x \"hello world\"", w);
  }
  {
    /* escapes are kept for the value parser; an escaped quote does not end the word */
    const char *const w[] = { "set", "x", "\"a \\\" b\\n\"", NULL };
    assert_words ("set x \"a \\\" b\\n\"", w);
  }
  {
    const char *const w[] = { "x=\"a b\"c", "d", NULL };
    assert_words ("x=\"a b\"c d", w);
  }
  {
    const char *const w[] = { "\"\"", "\"\\\\\"", NULL };
    assert_words ("\"\" \"\\\\\"", w);
  }

  {
    g_autoptr (GError) error = NULL;
    g_auto (GStrv) words = bp_words_split ("set x \"abc", &error);
    assert_null (words);
    assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_BAD_VALUE));
    assert_string_equal (error->message, "unterminated string: expected a closing \"");
  }
  {
    g_autoptr (GError) error = NULL;
    g_auto (GStrv) words = bp_words_split ("set x \"abc\\", &error);
    assert_null (words);
    assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_BAD_VALUE));
  }
  {
    g_autoptr (GError) error = NULL;
    g_auto (GStrv) words = bp_words_split ("set x \"abc\\\"", &error);
    assert_null (words);
    assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_BAD_VALUE));
  }
}

/* What a split word gives to the value parser. */
static void
test_words_then_values (void **state)
{
  g_auto (GStrv) words = bp_words_split ("notify x \"a b\\n\"", NULL);

  assert_non_null (words);
  assert_parses (words[2], BP_FORMAT_UTF8, 0, "6120620a");
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_error_names),
    cmocka_unit_test (test_formats),
    cmocka_unit_test (test_decimal_exactness),
    cmocka_unit_test (test_rounding),
    cmocka_unit_test (test_exponents_and_hex_numbers),
    cmocka_unit_test (test_integer_formats),
    cmocka_unit_test (test_ranges),
    cmocka_unit_test (test_not_numbers),
    cmocka_unit_test (test_floats),
    cmocka_unit_test (test_boolean),
    cmocka_unit_test (test_utf8),
    cmocka_unit_test (test_hex),
    cmocka_unit_test (test_quoted_strings),
    cmocka_unit_test (test_too_long),
    cmocka_unit_test (test_to_hex),
    cmocka_unit_test (test_display),
    cmocka_unit_test (test_display_round_trip),
    cmocka_unit_test (test_words_split),
    cmocka_unit_test (test_words_then_values),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
