/* Fuzz target: the configuration parser, on any bytes. Whatever loads must
 * also describe and size-check without trouble. */
#define G_LOG_DOMAIN "fuzz-config"

#include "build-config.h"

#include "fuzz.h"

#include <string.h>

#include "common/error.h"
#include "daemon/config.h"

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BpConfig) config = NULL;

  config = bp_config_load_from_data ((const char *) data, (gssize) size, "fuzz.conf", &error);
  if (config == NULL)
    {
      /* every refusal is a configuration error naming the file */
      g_assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_CONFIG));
      g_assert_true (g_str_has_prefix (error->message, "fuzz.conf"));
      return 0;
    }
  {
    g_autofree char *text = bp_config_describe (config);
    g_autoptr (GError) size_error = NULL;

    g_assert_nonnull (text);
    /* bp_config_load_from_data already checked the size */
    g_assert_true (bp_config_check_advertising_size (config, &size_error));
    for (guint s = 0; s < config->services->len; s++)
      {
        BpServiceConfig *svc = g_ptr_array_index (config->services, s);
        for (guint c = 0; c < svc->characteristics->len; c++)
          {
            BpCharacteristicConfig *chr = g_ptr_array_index (svc->characteristics, c);
            g_assert_nonnull (chr->initial);
            g_assert_cmpuint (g_bytes_get_size (chr->initial), <=, BP_VALUE_MAX);
            g_assert_cmpuint (chr->max_length, <=, BP_VALUE_MAX);
            g_assert_true (bp_config_find_characteristic (config, chr->id, NULL) == chr);
          }
      }
  }
  return 0;
}
