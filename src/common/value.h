/* The value syntax of the configuration (Initial=, Value=) and of the control
 * protocol: hex bytes, quoted C strings, numbers encoded little-endian per a
 * GATT Presentation Format with a decimal exponent. Shared by daemon,
 * library and ble-peripheralctl. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The ATT limit on an attribute value. */
#define BP_VALUE_MAX 512

typedef enum {
  BP_FORMAT_NONE = 0,
  BP_FORMAT_BOOLEAN,
  BP_FORMAT_UINT8,
  BP_FORMAT_UINT16,
  BP_FORMAT_UINT24,
  BP_FORMAT_UINT32,
  BP_FORMAT_UINT64,
  BP_FORMAT_SINT8,
  BP_FORMAT_SINT16,
  BP_FORMAT_SINT24,
  BP_FORMAT_SINT32,
  BP_FORMAT_SINT64,
  BP_FORMAT_FLOAT32,
  BP_FORMAT_FLOAT64,
  BP_FORMAT_UTF8,
} BpFormat;

/* "sint16" → BP_FORMAT_SINT16; FALSE for an unknown name. */
gboolean bp_format_from_name (const char *name, BpFormat *out);
const char *bp_format_name (BpFormat format);
/* The Format byte of a 0x2904 Characteristic Presentation Format descriptor
 * (Bluetooth Assigned Numbers: boolean 0x01, uint8 0x04 … utf8s 0x19). */
guint8 bp_format_gatt_code (BpFormat format);
/* Encoded size in bytes; 0 for BP_FORMAT_UTF8 and BP_FORMAT_NONE. */
gsize bp_format_size (BpFormat format);

/* Parses one value as written in a request or a configuration file:
 *   - a quoted string "…" with C escapes (\n \t \\ \" \xHH \0 …) → its bytes,
 *     which must be valid UTF-8 when format is BP_FORMAT_UTF8;
 *   - when format is BP_FORMAT_NONE: hex bytes "9a09", "9a:09:", "0x9a09",
 *     or the empty string (an empty value);
 *   - when format is numeric: a number "24.58", "-3", "0x10", "true"/"false"
 *     for boolean, encoded little-endian as round(number / 10^exponent),
 *     refused with BP_ERROR_OUT_OF_RANGE when it does not fit ("0x10" is a
 *     hexadecimal number here, not bytes);
 *   - when format is BP_FORMAT_UTF8: a quoted string, or a bare word taken as
 *     text.
 * Values over BP_VALUE_MAX bytes get BP_ERROR_TOO_LONG.
 * Errors are in BP_ERROR and say what was expected. */
GBytes *bp_value_parse (const char *text, BpFormat format, int exponent, GError **error);

/* Lower-case hex without separators ("9a09"); "" for an empty value. */
char *bp_value_to_hex (const guint8 *data, gsize len);

/* Decodes bytes for display: a number with the exponent applied ("24.58"),
 * "true"/"false", a quoted UTF-8 string, or hex when format is NONE or the
 * length does not match the format. */
char *bp_value_to_display (const guint8 *data, gsize len, BpFormat format, int exponent);

/* Splits a request line into words: spaces separate words, a double-quoted
 * word keeps its spaces and escapes (returned with its quotes, so that
 * bp_value_parse() sees it as a string). Returns NULL with BP_ERROR_BAD_VALUE
 * on an unterminated quote. */
GStrv bp_words_split (const char *line, GError **error);

G_END_DECLS
