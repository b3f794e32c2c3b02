/* Fuzz target: the value syntax. The first byte picks the format, the second
 * the exponent (as a signed byte), the rest is the text; the text is also
 * split into words. */
#define G_LOG_DOMAIN "fuzz-value"

#include "build-config.h"

#include "fuzz.h"

#include <string.h>

#include "common/error.h"
#include "common/value.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  BpFormat format;
  int exponent;
  g_autofree char *text = NULL;
  g_autoptr (GBytes) bytes = NULL;
  g_autoptr (GError) error = NULL;
  g_auto (GStrv) words = NULL;

  if (size < 2)
    return 0;
  format = (BpFormat) (data[0] % (BP_FORMAT_UTF8 + 1));
  exponent = (int8_t) data[1];
  /* the parsers take C strings: stop at a NUL as a request line would */
  text = g_strndup ((const char *) data + 2, size - 2);

  bytes = bp_value_parse (text, format, exponent, &error);
  if (bytes == NULL)
    g_assert_true (error != NULL && error->domain == BP_ERROR);
  else
    {
      gsize len = 0;
      const guint8 *p = g_bytes_get_data (bytes, &len);
      g_autofree char *hex = bp_value_to_hex (p, len);
      g_autofree char *shown = bp_value_to_display (p, len, format, exponent);

      g_assert_cmpuint (len, <=, BP_VALUE_MAX);
      g_assert_cmpuint (strlen (hex), ==, 2 * len);
      if (bp_format_size (format) != 0 && format != BP_FORMAT_BOOLEAN && text[0] != '"')
        g_assert_cmpuint (len, ==, bp_format_size (format));
      /* what is displayed parses back to the same bytes (NaN payloads aside) */
      if (len == bp_format_size (format) && format != BP_FORMAT_NONE && strcmp (shown, "nan") != 0 &&
          !(format == BP_FORMAT_BOOLEAN && p[0] > 1))
        {
          g_autoptr (GBytes) back = bp_value_parse (shown, format, exponent, NULL);
          g_assert_nonnull (back);
          g_assert_true (g_bytes_equal (back, bytes));
        }
    }

  words = bp_words_split (text, NULL);
  if (words != NULL)
    for (guint i = 0; words[i] != NULL; i++)
      g_assert_cmpuint (strlen (words[i]), >, 0);
  return 0;
}
