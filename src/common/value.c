/* The value syntax shared by the configuration and the control protocol:
 * hex bytes, quoted C strings, and numbers encoded per a GATT Presentation
 * Format with a decimal exponent. Numbers are parsed as decimal digits, never
 * through binary floating point, so that "24.58" with exponent -2 is exactly
 * 2458. */
#define G_LOG_DOMAIN "value"

#include "build-config.h"

#include "common/value.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "common/error.h"

typedef struct {
  const char *name;
  BpFormat format;
  guint8 gatt_code;
  gsize size;
  gboolean is_signed;
} FormatInfo;

/* Indexed by BpFormat. */
/* clang-format off */
static const FormatInfo formats[] = {
  { "none", BP_FORMAT_NONE, 0x00, 0, FALSE },
  { "boolean", BP_FORMAT_BOOLEAN, 0x01, 1, FALSE },
  { "uint8", BP_FORMAT_UINT8, 0x04, 1, FALSE },
  { "uint16", BP_FORMAT_UINT16, 0x06, 2, FALSE },
  { "uint24", BP_FORMAT_UINT24, 0x07, 3, FALSE },
  { "uint32", BP_FORMAT_UINT32, 0x08, 4, FALSE },
  { "uint64", BP_FORMAT_UINT64, 0x0A, 8, FALSE },
  { "sint8", BP_FORMAT_SINT8, 0x0C, 1, TRUE },
  { "sint16", BP_FORMAT_SINT16, 0x0E, 2, TRUE },
  { "sint24", BP_FORMAT_SINT24, 0x0F, 3, TRUE },
  { "sint32", BP_FORMAT_SINT32, 0x10, 4, TRUE },
  { "sint64", BP_FORMAT_SINT64, 0x12, 8, TRUE },
  { "float32", BP_FORMAT_FLOAT32, 0x14, 4, TRUE },
  { "float64", BP_FORMAT_FLOAT64, 0x15, 8, TRUE },
  { "utf8", BP_FORMAT_UTF8, 0x19, 0, FALSE },
};
/* clang-format on */

G_STATIC_ASSERT (G_N_ELEMENTS (formats) == BP_FORMAT_UTF8 + 1);

static const FormatInfo *
format_info (BpFormat format)
{
  if ((guint) format >= G_N_ELEMENTS (formats))
    return &formats[BP_FORMAT_NONE];
  return &formats[format];
}

static gboolean
format_is_integer (BpFormat format)
{
  return format >= BP_FORMAT_UINT8 && format <= BP_FORMAT_SINT64;
}

static gboolean
format_is_float (BpFormat format)
{
  return format == BP_FORMAT_FLOAT32 || format == BP_FORMAT_FLOAT64;
}

gboolean
bp_format_from_name (const char *name, BpFormat *out)
{
  if (name == NULL)
    return FALSE;
  /* "utf8s" is the Assigned Numbers spelling */
  if (g_ascii_strcasecmp (name, "utf8s") == 0)
    {
      *out = BP_FORMAT_UTF8;
      return TRUE;
    }
  for (gsize i = 1; i < G_N_ELEMENTS (formats); i++)
    if (g_ascii_strcasecmp (name, formats[i].name) == 0)
      {
        *out = formats[i].format;
        return TRUE;
      }
  return FALSE;
}

const char *
bp_format_name (BpFormat format)
{
  return format_info (format)->name;
}

guint8
bp_format_gatt_code (BpFormat format)
{
  return format_info (format)->gatt_code;
}

gsize
bp_format_size (BpFormat format)
{
  return format_info (format)->size;
}

/* ------------------------------------------------------------------------ */
/* Decimal numbers */

/* value = (negative ? -1 : 1) × digits × 10^scale, digits without leading or
 * trailing zeros ("" for zero); or one of the IEEE specials. */
typedef struct {
  gboolean negative;
  gboolean is_nan;
  gboolean is_inf;
  GString *digits;
  gint64 scale;
} Decimal;

static void
decimal_clear (Decimal *d)
{
  if (d->digits != NULL)
    g_string_free (d->digits, TRUE);
  d->digits = NULL;
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (Decimal, decimal_clear)

/* Bounds the exponent of "1e999999999" so that sums stay far from overflow:
 * such a number is out of every range (or rounds to zero) anyway. */
#define EXPONENT_LIMIT 100000

static gboolean
decimal_parse (const char *text, Decimal *d)
{
  const char *p = text;
  gboolean any_digit = FALSE;
  gint64 frac_digits = 0;

  d->negative = FALSE;
  d->is_nan = d->is_inf = FALSE;
  d->digits = g_string_new (NULL);
  d->scale = 0;

  if (*p == '+' || *p == '-')
    d->negative = (*p++ == '-');

  if (g_ascii_strcasecmp (p, "nan") == 0)
    {
      d->is_nan = TRUE;
      return TRUE;
    }
  if (g_ascii_strcasecmp (p, "inf") == 0 || g_ascii_strcasecmp (p, "infinity") == 0)
    {
      d->is_inf = TRUE;
      return TRUE;
    }

  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
    {
      guint64 v = 0;
      p += 2;
      if (*p == '\0')
        return FALSE;
      for (; *p; p++)
        {
          int x = g_ascii_xdigit_value (*p);
          if (x < 0)
            return FALSE;
          if (v > (G_MAXUINT64 >> 4))
            {
              /* Too large for any format: keep it representable as
               * "larger than 2^64" by a digit count that overflows. */
              g_string_assign (d->digits, "99999999999999999999999");
              return TRUE;
            }
          v = (v << 4) | (guint64) x;
        }
      if (v != 0)
        g_string_printf (d->digits, "%" G_GUINT64_FORMAT, v);
    }
  else
    {
      for (; g_ascii_isdigit (*p); p++)
        {
          any_digit = TRUE;
          if (d->digits->len > 0 || *p != '0')
            g_string_append_c (d->digits, *p);
        }
      if (*p == '.')
        {
          for (p++; g_ascii_isdigit (*p); p++)
            {
              any_digit = TRUE;
              frac_digits++;
              if (d->digits->len > 0 || *p != '0')
                g_string_append_c (d->digits, *p);
            }
        }
      if (!any_digit)
        return FALSE;
      d->scale = -frac_digits;
      if (*p == 'e' || *p == 'E')
        {
          gboolean neg_exp = FALSE;
          gint64 e = 0;
          p++;
          if (*p == '+' || *p == '-')
            neg_exp = (*p++ == '-');
          if (!g_ascii_isdigit (*p))
            return FALSE;
          for (; g_ascii_isdigit (*p); p++)
            if (e < EXPONENT_LIMIT)
              e = e * 10 + (*p - '0');
          d->scale += neg_exp ? -e : e;
        }
      if (*p != '\0')
        return FALSE;
    }

  /* Trailing zeros move into the scale: "2400" = 24 × 10^2. */
  while (d->digits->len > 0 && d->digits->str[d->digits->len - 1] == '0')
    {
      g_string_truncate (d->digits, d->digits->len - 1);
      d->scale++;
    }
  if (d->digits->len == 0)
    d->scale = 0;
  return TRUE;
}

/* The first n characters of digits as an integer; FALSE on overflow. */
static gboolean
digits_to_u64 (const char *digits, gsize n, guint64 *out)
{
  guint64 v = 0;

  for (gsize i = 0; i < n; i++)
    {
      guint d = (guint) (digits[i] - '0');
      if (v > (G_MAXUINT64 - d) / 10)
        return FALSE;
      v = v * 10 + d;
    }
  *out = v;
  return TRUE;
}

/* |round(d / 10^exponent)|, rounding half away from zero; FALSE when it
 * exceeds 64 bits. */
static gboolean
decimal_to_magnitude (const Decimal *d, int exponent, guint64 *out)
{
  gint64 n = (gint64) d->digits->len;
  gint64 k = d->scale - exponent;
  guint64 v;

  if (n == 0)
    {
      *out = 0;
      return TRUE;
    }
  if (k >= 0)
    {
      if (n + k > 20)
        return FALSE;
      if (!digits_to_u64 (d->digits->str, (gsize) n, &v))
        return FALSE;
      for (gint64 i = 0; i < k; i++)
        {
          if (v > G_MAXUINT64 / 10)
            return FALSE;
          v *= 10;
        }
      *out = v;
      return TRUE;
    }

  /* Drop the last -k digits, rounding on the first dropped one. */
  {
    gint64 keep = n + k;
    if (keep < 0)
      {
        *out = 0;
        return TRUE;
      }
    if (keep > 20)
      return FALSE;
    if (!digits_to_u64 (d->digits->str, (gsize) keep, &v))
      return FALSE;
    if (d->digits->str[keep] >= '5')
      {
        if (v == G_MAXUINT64)
          return FALSE;
        v++;
      }
    *out = v;
    return TRUE;
  }
}

/* Renders ±digits × 10^scale in plain decimal notation ("24.58", "0.05",
 * "1200"); digits may have leading/trailing zeros, which are kept after the
 * point so that the resolution shows. */
static void
append_plain_decimal (GString *s, gboolean negative, const char *digits, gint64 scale)
{
  gint64 n = (gint64) strlen (digits);

  if (negative)
    g_string_append_c (s, '-');
  if (scale >= 0)
    {
      g_string_append (s, digits);
      for (gint64 i = 0; i < scale; i++)
        g_string_append_c (s, '0');
      return;
    }
  if (n + scale > 0)
    {
      g_string_append_len (s, digits, (gssize) (n + scale));
      g_string_append_c (s, '.');
      g_string_append (s, digits + n + scale);
      return;
    }
  g_string_append (s, "0.");
  for (gint64 i = 0; i < -(n + scale); i++)
    g_string_append_c (s, '0');
  g_string_append (s, digits);
}

static char *
integer_to_display (gboolean negative, guint64 magnitude, int exponent)
{
  char digits[32];
  GString *s = g_string_new (NULL);

  g_snprintf (digits, sizeof digits, "%" G_GUINT64_FORMAT, magnitude);
  /* zero counts no hundreds: "0", not "000"; but "0.00" keeps the resolution */
  append_plain_decimal (s, negative && magnitude != 0, digits, magnitude == 0 && exponent > 0 ? 0 : exponent);
  return g_string_free (s, FALSE);
}

typedef struct {
  guint64 max_positive; /* largest magnitude of a non-negative value */
  guint64 max_negative; /* largest magnitude of a negative value */
} IntRange;

static IntRange
integer_range (BpFormat format)
{
  const FormatInfo *info = format_info (format);
  guint bits = (guint) info->size * 8;
  IntRange r;

  if (info->is_signed)
    {
      r.max_positive = (G_GUINT64_CONSTANT (1) << (bits - 1)) - 1;
      r.max_negative = G_GUINT64_CONSTANT (1) << (bits - 1);
    }
  else
    {
      r.max_positive = bits == 64 ? G_MAXUINT64 : (G_GUINT64_CONSTANT (1) << bits) - 1;
      r.max_negative = 0;
    }
  return r;
}

static void
set_out_of_range (GError **error, const char *text, BpFormat format, int exponent)
{
  IntRange r = integer_range (format);
  g_autofree char *lo = integer_to_display (r.max_negative != 0, r.max_negative, exponent);
  g_autofree char *hi = integer_to_display (FALSE, r.max_positive, exponent);

  if (exponent != 0)
    g_set_error (error, BP_ERROR, BP_ERROR_OUT_OF_RANGE, "%s is out of range for %s with exponent %d (%s to %s)", text,
                 bp_format_name (format), exponent, lo, hi);
  else
    g_set_error (error, BP_ERROR, BP_ERROR_OUT_OF_RANGE, "%s is out of range for %s (%s to %s)", text,
                 bp_format_name (format), lo, hi);
}

static void
set_not_a_number (GError **error, const char *text, BpFormat format)
{
  if (*text == '\0')
    g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE, "expected a number for %s, got an empty value",
                 bp_format_name (format));
  else
    g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE, "expected a number such as 24.58, -3 or 0x10 for %s, got '%s'",
                 bp_format_name (format), text);
}

static GBytes *
parse_integer (const char *text, BpFormat format, int exponent, GError **error)
{
  g_auto (Decimal) d = { 0 };
  const FormatInfo *info = format_info (format);
  IntRange r = integer_range (format);
  guint64 magnitude = 0, wire;
  guint8 buf[8];

  if (!decimal_parse (text, &d) || d.is_nan || d.is_inf)
    {
      set_not_a_number (error, text, format);
      return NULL;
    }
  /* -0.4 rounds to a magnitude of 0, which every format holds */
  if (!decimal_to_magnitude (&d, exponent, &magnitude) || magnitude > (d.negative ? r.max_negative : r.max_positive))
    {
      set_out_of_range (error, text, format, exponent);
      return NULL;
    }
  wire = d.negative ? (guint64) 0 - magnitude : magnitude;
  for (gsize i = 0; i < info->size; i++)
    buf[i] = (guint8) (wire >> (8 * i));
  return g_bytes_new (buf, info->size);
}

static GBytes *
parse_float (const char *text, BpFormat format, int exponent, GError **error)
{
  g_auto (Decimal) d = { 0 };
  guint8 buf[8];

  if (!decimal_parse (text, &d))
    {
      set_not_a_number (error, text, format);
      return NULL;
    }

  if (format == BP_FORMAT_FLOAT32)
    {
      float f;
      guint32 bits;

      if (d.is_nan)
        f = NAN;
      else if (d.is_inf)
        f = d.negative ? -INFINITY : INFINITY;
      else
        {
          /* "2458e-2" has no decimal point, so no locale can misread it. */
          g_autofree char *s = g_strdup_printf ("%s%se%" G_GINT64_FORMAT, d.negative ? "-" : "",
                                                d.digits->len ? d.digits->str : "0", d.scale - exponent);
          f = strtof (s, NULL);
          if (isinf (f))
            {
              g_set_error (error, BP_ERROR, BP_ERROR_OUT_OF_RANGE, "%s is out of range for float32%s (at most ±3.4e38)",
                           text, exponent != 0 ? " with this exponent" : "");
              return NULL;
            }
        }
      memcpy (&bits, &f, sizeof bits);
      for (gsize i = 0; i < 4; i++)
        buf[i] = (guint8) (bits >> (8 * i));
      return g_bytes_new (buf, 4);
    }
  else
    {
      double v;
      guint64 bits;

      if (d.is_nan)
        v = NAN;
      else if (d.is_inf)
        v = d.negative ? -INFINITY : INFINITY;
      else
        {
          g_autofree char *s = g_strdup_printf ("%s%se%" G_GINT64_FORMAT, d.negative ? "-" : "",
                                                d.digits->len ? d.digits->str : "0", d.scale - exponent);
          v = strtod (s, NULL);
          if (isinf (v))
            {
              g_set_error (error, BP_ERROR, BP_ERROR_OUT_OF_RANGE,
                           "%s is out of range for float64%s (at most ±1.8e308)", text,
                           exponent != 0 ? " with this exponent" : "");
              return NULL;
            }
        }
      memcpy (&bits, &v, sizeof bits);
      for (gsize i = 0; i < 8; i++)
        buf[i] = (guint8) (bits >> (8 * i));
      return g_bytes_new (buf, 8);
    }
}

static GBytes *
parse_boolean (const char *text, GError **error)
{
  guint8 b;

  if (g_ascii_strcasecmp (text, "true") == 0 || strcmp (text, "1") == 0)
    b = 1;
  else if (g_ascii_strcasecmp (text, "false") == 0 || strcmp (text, "0") == 0)
    b = 0;
  else
    {
      g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE, "expected true or false for boolean, got '%s'", text);
      return NULL;
    }
  return g_bytes_new (&b, 1);
}

/* ------------------------------------------------------------------------ */
/* Hex and strings */

static inline int
hex_digit (char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  c |= 0x20;
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  return -1;
}

static GBytes *
parse_hex (const char *text, GError **error)
{
  const char *p = text;
  gsize ndigits = 0, n = 0;
  int high = -1;
  g_autofree guint8 *out = NULL;

  if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
    {
      p += 2;
      if (*p == '\0')
        {
          g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE, "expected hex digits after '0x'");
          return NULL;
        }
    }
  out = g_malloc (strlen (p) / 2 + 1);
  for (; *p; p++)
    {
      int x = hex_digit (*p);

      /* A colon may follow any whole byte: "9a:09", "9a:09:" */
      if (*p == ':' && high < 0 && ndigits > 0)
        continue;
      if (x < 0)
        {
          if (*p == ':')
            g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE,
                         "'%s' is not hex bytes: a colon may only follow a whole byte "
                         "(two hex digits), as in 9a:09",
                         text);
          else
            g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE,
                         "expected hex bytes such as 9a09 or 9a:09, or a quoted string, got '%s'", text);
          return NULL;
        }
      ndigits++;
      if (high < 0)
        high = x;
      else
        {
          out[n++] = (guint8) ((high << 4) | x);
          high = -1;
        }
    }
  if (high >= 0)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE, "'%s' has an odd number of hex digits: each byte takes two",
                   text);
      return NULL;
    }
  if (n > BP_VALUE_MAX)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_TOO_LONG, "the value is %u bytes, over the limit of %d", (guint) n,
                   BP_VALUE_MAX);
      return NULL;
    }
  return g_bytes_new_take (g_steal_pointer (&out), n);
}

/* Unescapes a string that begins with a double quote and must end with its
 * closing quote. */
static GByteArray *
parse_quoted (const char *text, GError **error)
{
  g_autoptr (GByteArray) out = g_byte_array_new ();
  const char *p = text + 1;

  for (;;)
    {
      guint8 b;

      if (*p == '\0')
        {
          g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE, "unterminated string: expected a closing \" in %s", text);
          return NULL;
        }
      if (*p == '"')
        {
          p++;
          break;
        }
      if (*p != '\\')
        {
          b = (guint8) *p++;
        }
      else
        {
          p++;
          switch (*p)
            {
            /* clang-format off */
            case 'n': b = '\n'; p++; break;
            case 't': b = '\t'; p++; break;
            case 'r': b = '\r'; p++; break;
            case 'a': b = '\a'; p++; break;
            case 'b': b = '\b'; p++; break;
            case 'f': b = '\f'; p++; break;
            case 'v': b = '\v'; p++; break;
            case 'e': b = 0x1b; p++; break;
            case '\\': b = '\\'; p++; break;
            case '"': b = '"'; p++; break;
            case '\'': b = '\''; p++; break;
            case '?': b = '?'; p++; break;
            /* clang-format on */
            case 'x':
              {
                int v = 0, n = 0;
                p++;
                while (n < 2 && g_ascii_isxdigit (*p))
                  {
                    v = (v << 4) | g_ascii_xdigit_value (*p++);
                    n++;
                  }
                if (n == 0)
                  {
                    g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE,
                                 "\\x must be followed by one or two hex digits in %s", text);
                    return NULL;
                  }
                b = (guint8) v;
                break;
              }
            case '0':
            case '1':
            case '2':
            case '3':
            case '4':
            case '5':
            case '6':
            case '7':
              {
                int v = 0, n = 0;
                while (n < 3 && *p >= '0' && *p <= '7')
                  {
                    v = (v << 3) | (*p++ - '0');
                    n++;
                  }
                if (v > 0xff)
                  {
                    g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE, "octal escape \\%o is over \\377 in %s",
                                 (guint) v, text);
                    return NULL;
                  }
                b = (guint8) v;
                break;
              }
            case '\0':
              g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE, "unterminated string: expected a closing \" in %s",
                           text);
              return NULL;
            default:
              {
                /* Quote the whole character, however many bytes it takes. */
                int clen = g_utf8_skip[*(const guchar *) p];
                g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE,
                             "unknown escape '\\%.*s' in %s: expected \\n \\t \\r \\\\ \\\" \\' "
                             "\\0 \\xHH \\a \\b \\f \\v or an octal \\NNN",
                             clen, p, text);
                return NULL;
              }
            }
        }
      g_byte_array_append (out, &b, 1);
    }

  if (*p != '\0')
    {
      g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE, "unexpected text after the closing quote: %s", p);
      return NULL;
    }
  if (out->len > BP_VALUE_MAX)
    {
      g_set_error (error, BP_ERROR, BP_ERROR_TOO_LONG, "the string is %u bytes, over the limit of %d", out->len,
                   BP_VALUE_MAX);
      return NULL;
    }
  return g_steal_pointer (&out);
}

/* UTF-8 that may contain NUL characters (U+0000 is valid in a utf8s value,
 * g_utf8_validate() stops at it). */
static gboolean
utf8_validate_with_nuls (const guint8 *data, gsize len)
{
  gsize start = 0;

  while (start < len)
    {
      const guint8 *nul = memchr (data + start, 0, len - start);
      gsize end = nul != NULL ? (gsize) (nul - data) : len;

      if (!g_utf8_validate_len ((const char *) data + start, end - start, NULL))
        return FALSE;
      start = end + 1;
    }
  return TRUE;
}

GBytes *
bp_value_parse (const char *text, BpFormat format, int exponent, GError **error)
{
  if (text == NULL)
    text = "";

  if (text[0] == '"')
    {
      g_autoptr (GByteArray) bytes = parse_quoted (text, error);
      if (bytes == NULL)
        return NULL;
      if (format == BP_FORMAT_UTF8 && !utf8_validate_with_nuls (bytes->data, bytes->len))
        {
          g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE, "%s is not valid UTF-8, which utf8 needs", text);
          return NULL;
        }
      return g_byte_array_free_to_bytes (g_steal_pointer (&bytes));
    }

  if (format == BP_FORMAT_NONE)
    return parse_hex (text, error);
  if (format == BP_FORMAT_UTF8)
    {
      gsize len = strlen (text);
      if (!g_utf8_validate (text, -1, NULL))
        {
          g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE, "the text is not valid UTF-8, which utf8 needs");
          return NULL;
        }
      if (len > BP_VALUE_MAX)
        {
          g_set_error (error, BP_ERROR, BP_ERROR_TOO_LONG,
                       "the value is %" G_GSIZE_FORMAT " bytes, over the limit of %d", len, BP_VALUE_MAX);
          return NULL;
        }
      return g_bytes_new (text, len);
    }
  if (format == BP_FORMAT_BOOLEAN)
    return parse_boolean (text, error);
  if (format_is_integer (format))
    return parse_integer (text, format, exponent, error);
  if (format_is_float (format))
    return parse_float (text, format, exponent, error);

  g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE, "unknown value format %d", (int) format);
  return NULL;
}

char *
bp_value_to_hex (const guint8 *data, gsize len)
{
  static const char hex[] = "0123456789abcdef";
  char *out = g_malloc (len * 2 + 1);

  for (gsize i = 0; i < len; i++)
    {
      out[2 * i] = hex[data[i] >> 4];
      out[2 * i + 1] = hex[data[i] & 0xf];
    }
  out[len * 2] = '\0';
  return out;
}

static char *
utf8_to_display (const guint8 *data, gsize len)
{
  GString *s = g_string_new ("\"");

  for (gsize i = 0; i < len; i++)
    {
      guint8 c = data[i];
      switch (c)
        {
        /* clang-format off */
        case '"': g_string_append (s, "\\\""); break;
        case '\\': g_string_append (s, "\\\\"); break;
        case '\n': g_string_append (s, "\\n"); break;
        case '\t': g_string_append (s, "\\t"); break;
        case '\r': g_string_append (s, "\\r"); break;
        /* clang-format on */
        default:
          if (c < 0x20 || c == 0x7f)
            g_string_append_printf (s, "\\x%02x", c);
          else
            g_string_append_c (s, (char) c);
        }
    }
  g_string_append_c (s, '"');
  return g_string_free (s, FALSE);
}

/* The shortest decimal form of a float that parses back to the same bytes,
 * with the exponent applied in decimal (exactly). */
static char *
float_to_display (const guint8 *data, gsize len, BpFormat format, int exponent)
{
  double v;
  int max_digits = format == BP_FORMAT_FLOAT32 ? 9 : 17;
  char *best = NULL;

  if (format == BP_FORMAT_FLOAT32)
    {
      guint32 bits = 0;
      float f;
      for (gsize i = 0; i < 4; i++)
        bits |= (guint32) data[i] << (8 * i);
      memcpy (&f, &bits, sizeof f);
      v = f;
    }
  else
    {
      guint64 bits = 0;
      for (gsize i = 0; i < 8; i++)
        bits |= (guint64) data[i] << (8 * i);
      memcpy (&v, &bits, sizeof v);
    }

  if (isnan (v))
    return g_strdup ("nan");
  if (isinf (v))
    return g_strdup (v < 0 ? "-inf" : "inf");

  for (int p = 1; p <= max_digits && best == NULL; p++)
    {
      char fmt[16], buf[G_ASCII_DTOSTR_BUF_SIZE];
      g_autofree char *digits = NULL;
      g_autoptr (GString) s = g_string_new (NULL);
      g_autoptr (GBytes) back = NULL;
      gboolean negative;
      const char *mant, *e;
      gint64 dec_exp, scale;

      /* "d.ddde±XX": the p significant digits of v */
      g_snprintf (fmt, sizeof fmt, "%%.%de", p - 1);
      g_ascii_formatd (buf, sizeof buf, fmt, v);
      negative = buf[0] == '-';
      mant = negative ? buf + 1 : buf;
      e = strchr (mant, 'e');
      if (e == NULL)
        break;
      digits = g_strndup (mant, (gsize) (e - mant));
      /* drop the point */
      if (digits[1] == '.')
        memmove (digits + 1, digits + 2, strlen (digits + 2) + 1);
      dec_exp = g_ascii_strtoll (e + 1, NULL, 10);
      /* value = digits × 10^(dec_exp - (ndigits - 1)) × 10^exponent */
      scale = dec_exp - (gint64) (strlen (digits) - 1) + exponent;
      {
        gsize n = strlen (digits);
        while (n > 1 && digits[n - 1] == '0')
          {
            digits[--n] = '\0';
            scale++;
          }
      }
      if (strcmp (digits, "0") == 0)
        scale = 0;
      if (scale + (gint64) strlen (digits) > 21 || scale + (gint64) strlen (digits) < -6)
        {
          /* scientific: d.ddde±N */
          gsize n = strlen (digits);
          if (negative)
            g_string_append_c (s, '-');
          g_string_append_c (s, digits[0]);
          if (n > 1)
            {
              g_string_append_c (s, '.');
              g_string_append (s, digits + 1);
            }
          g_string_append_printf (s, "e%" G_GINT64_FORMAT, scale + (gint64) n - 1);
        }
      else
        append_plain_decimal (s, negative, digits, scale);

      back = bp_value_parse (s->str, format, exponent, NULL);
      if (back != NULL && g_bytes_get_size (back) == len && memcmp (g_bytes_get_data (back, NULL), data, len) == 0)
        best = g_strdup (s->str);
      else if (p == max_digits)
        best = g_strdup (s->str);
    }
  return best != NULL ? best : bp_value_to_hex (data, len);
}

char *
bp_value_to_display (const guint8 *data, gsize len, BpFormat format, int exponent)
{
  const FormatInfo *info = format_info (format);

  if (format == BP_FORMAT_UTF8)
    {
      if (utf8_validate_with_nuls (data, len))
        return utf8_to_display (data, len);
      return bp_value_to_hex (data, len);
    }
  if (format == BP_FORMAT_NONE || info->size != len)
    return bp_value_to_hex (data, len);
  if (format == BP_FORMAT_BOOLEAN)
    {
      if (data[0] == 0)
        return g_strdup ("false");
      if (data[0] == 1)
        return g_strdup ("true");
      return bp_value_to_hex (data, len);
    }
  if (format_is_float (format))
    return float_to_display (data, len, format, exponent);

  {
    guint64 raw = 0;
    gboolean negative = FALSE;
    guint bits = (guint) len * 8;

    for (gsize i = 0; i < len; i++)
      raw |= (guint64) data[i] << (8 * i);
    if (info->is_signed && (raw >> (bits - 1)) & 1)
      {
        negative = TRUE;
        /* magnitude of the two's complement value */
        raw = bits == 64 ? (guint64) 0 - raw : (G_GUINT64_CONSTANT (1) << bits) - raw;
      }
    return integer_to_display (negative, raw, exponent);
  }
}

/* ------------------------------------------------------------------------ */
/* Words */

static gboolean
is_word_space (char c)
{
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

GStrv
bp_words_split (const char *line, GError **error)
{
  g_autoptr (GPtrArray) words = g_ptr_array_new_with_free_func (g_free);
  const char *p = line != NULL ? line : "";

  for (;;)
    {
      GString *word;

      while (is_word_space (*p))
        p++;
      if (*p == '\0')
        break;

      word = g_string_new (NULL);
      while (*p != '\0' && !is_word_space (*p))
        {
          if (*p != '"')
            {
              g_string_append_c (word, *p++);
              continue;
            }
          /* A quoted part, spaces and escapes kept as written, so that the
           * value parser sees the string exactly. */
          g_string_append_c (word, *p++);
          while (*p != '"')
            {
              if (*p == '\0' || (*p == '\\' && p[1] == '\0'))
                {
                  g_string_free (word, TRUE);
                  g_set_error (error, BP_ERROR, BP_ERROR_BAD_VALUE, "unterminated string: expected a closing \"");
                  return NULL;
                }
              if (*p == '\\')
                g_string_append_c (word, *p++);
              g_string_append_c (word, *p++);
            }
          g_string_append_c (word, *p++);
        }
      g_ptr_array_add (words, g_string_free (word, FALSE));
    }
  g_ptr_array_add (words, NULL);
  return (GStrv) g_ptr_array_free (g_steal_pointer (&words), FALSE);
}
