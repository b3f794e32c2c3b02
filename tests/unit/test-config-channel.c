/* Unit tests of src/daemon/config-channel.c: [Channel NAME] groups, their
 * defaults, every refusal with its message, the PSM characteristic and the
 * description --check-config prints. */
#define G_LOG_DOMAIN "test-config-channel"

#include "build-config.h"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include <glib.h>

#include "common/error.h"
#include "daemon/config.h"

#define ORIGIN "ble-peripheral.conf"
#define BASE "[Peripheral]\nName=t\n\n[Service cam]\nUUID=0xFFF0\n\n"

static BpConfig *
load (const char *text)
{
  g_autoptr (GError) error = NULL;
  BpConfig *config = bp_config_load_from_data (text, -1, ORIGIN, &error);

  if (config == NULL)
    {
      print_error ("%s\n--- gave: %s\n", text, error->message);
      fail ();
    }
  return config;
}

static void
assert_error (const char *text, const char *expected)
{
  g_autoptr (GError) error = NULL;
  g_autoptr (BpConfig) config = bp_config_load_from_data (text, -1, ORIGIN, &error);

  if (config != NULL)
    {
      print_error ("%s\n--- loaded, expected an error\n", text);
      fail ();
    }
  assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_CONFIG));
  assert_string_equal (error->message, expected);
}

static BpChannelConfig *
channel (const BpConfig *config, guint i)
{
  assert_true (i < config->channels->len);
  return g_ptr_array_index (config->channels, i);
}

static void
test_defaults (void **state)
{
  g_autoptr (BpConfig) config = load (BASE "[Channel video]\n");
  BpChannelConfig *c = channel (config, 0);

  assert_int_equal (config->channels->len, 1);
  assert_string_equal (c->name, "video");
  assert_int_equal (c->psm, 0);
  assert_null (c->service_id);
  assert_null (c->psm_characteristic);
  assert_int_equal (c->mtu, 65535);
  assert_int_equal (c->security, BP_CHANNEL_SECURITY_LOW);
  assert_int_equal (c->max_centrals, 1);
  assert_int_equal (c->framing, BP_CHANNEL_FRAMING_LENGTH);
  assert_int_equal (c->queue_length, 8);
  assert_int_equal (c->on_full, BP_CHANNEL_ON_FULL_DROP_OLDEST);
}

static void
test_every_key (void **state)
{
  g_autoptr (BpConfig) config = load (BASE
                                      "[Channel video]\nPSM=0x81\nService=cam\nMTU=512\nSecurity=high\n"
                                      "MaxCentrals=3\nFraming=sdu\nQueueLength=2\nOnFull=wait\n"
                                      "[Channel log]\nPSM=auto\nSecurity=medium\n");
  BpChannelConfig *c = channel (config, 0);
  BpChannelConfig *d = channel (config, 1);
  g_autoptr (GError) error = NULL;
  BpCharacteristicConfig *chr;
  gsize len;
  const guint8 *v;

  assert_int_equal (c->psm, 0x81);
  assert_string_equal (c->service_id, "cam");
  assert_string_equal (c->psm_characteristic, "cam/video.psm");
  assert_int_equal (c->mtu, 512);
  assert_int_equal (c->security, BP_CHANNEL_SECURITY_HIGH);
  assert_int_equal (c->max_centrals, 3);
  assert_int_equal (c->framing, BP_CHANNEL_FRAMING_SDU);
  assert_int_equal (c->queue_length, 2);
  assert_int_equal (c->on_full, BP_CHANNEL_ON_FULL_WAIT);
  assert_int_equal (d->psm, 0);
  assert_int_equal (d->security, BP_CHANNEL_SECURITY_MEDIUM);

  /* The PSM characteristic: read-only, Apple's UUID, the fixed PSM little-endian. */
  chr = bp_config_find_characteristic (config, "cam/video.psm", &error);
  assert_non_null (chr);
  assert_int_equal (chr->flags, BP_FLAG_READ);
  {
    BpUuid uuid;
    assert_true (bp_uuid_parse (BP_CHANNEL_PSM_UUID, &uuid, NULL));
    assert_true (bp_uuid_equal (&chr->uuid, &uuid));
  }
  v = g_bytes_get_data (chr->initial, &len);
  assert_int_equal (len, 2);
  assert_int_equal (v[0], 0x81);
  assert_int_equal (v[1], 0x00);
  assert_int_equal (chr->max_length, 2);
}

static void
test_auto_psm_characteristic_empty (void **state)
{
  g_autoptr (BpConfig) config = load (BASE "[Channel video]\nService=cam\n");
  g_autoptr (GError) error = NULL;
  BpCharacteristicConfig *chr = bp_config_find_characteristic (config, "cam/video.psm", &error);

  assert_non_null (chr);
  /* The kernel picks the PSM when the channel listens: until then the value is empty. */
  assert_int_equal (g_bytes_get_size (chr->initial), 0);
}

static void
test_refusals (void **state)
{
  assert_error (BASE "[Channel vi.deo]\n",
                "ble-peripheral.conf: [Channel vi.deo] the channel name 'vi.deo' may only hold letters, digits, '_' "
                "and '-' (64 at most)");
  assert_error (BASE "[Channel v]\nPsm=1\n",
                "ble-peripheral.conf: [Channel v] Psm: unknown key: keys are case-sensitive, did you mean PSM?");
  assert_error (BASE "[Channel v]\nCredits=1\n",
                "ble-peripheral.conf: [Channel v] Credits: unknown key: expected one of PSM, Service, MTU, Security, "
                "MaxCentrals, Framing, QueueLength, OnFull");
  assert_error (BASE "[Channel v]\nPSM=0x25\n",
                "ble-peripheral.conf: [Channel v] PSM: expected auto or a dynamic LE PSM from 0x80 to 0xFF "
                "(lower ones are reserved, higher ones the kernel refuses), got '0x25'");
  assert_error (BASE "[Channel v]\nPSM=256\n",
                "ble-peripheral.conf: [Channel v] PSM: expected auto or a dynamic LE PSM from 0x80 to 0xFF "
                "(lower ones are reserved, higher ones the kernel refuses), got '256'");
  assert_error (BASE "[Channel v]\nPSM=fast\n",
                "ble-peripheral.conf: [Channel v] PSM: expected auto or a dynamic LE PSM from 0x80 to 0xFF "
                "(lower ones are reserved, higher ones the kernel refuses), got 'fast'");
  assert_error (BASE "[Channel a]\nPSM=0x90\n[Channel b]\nPSM=144\n",
                "ble-peripheral.conf: [Channel b] PSM: PSM 0x90 is the PSM of [Channel a] already");
  assert_error (BASE "[Channel v]\nMTU=22\n", "ble-peripheral.conf: [Channel v] MTU: 22 is under the minimum of 23");
  assert_error (BASE "[Channel v]\nMTU=65536\n",
                "ble-peripheral.conf: [Channel v] MTU: 65536 is over the limit of 65535");
  assert_error (BASE "[Channel v]\nSecurity=max\n",
                "ble-peripheral.conf: [Channel v] Security: expected low or medium or high, got 'max'");
  assert_error (BASE "[Channel v]\nMaxCentrals=0\n",
                "ble-peripheral.conf: [Channel v] MaxCentrals: 0 is under the minimum of 1");
  assert_error (BASE "[Channel v]\nFraming=cobs\n",
                "ble-peripheral.conf: [Channel v] Framing: expected length or sdu, got 'cobs'");
  assert_error (BASE "[Channel v]\nQueueLength=0\n",
                "ble-peripheral.conf: [Channel v] QueueLength: 0 is under the minimum of 1");
  assert_error (BASE "[Channel v]\nOnFull=block\n",
                "ble-peripheral.conf: [Channel v] OnFull: expected drop-oldest or wait, got 'block'");
  assert_error (BASE "[Channel v]\nService=nope\n",
                "ble-peripheral.conf: [Channel v] Service: the service 'nope' is not declared: add a [Service nope] "
                "group");
  assert_error (BASE "[Channel a]\nService=cam\n[Channel b]\nService=cam\n",
                "ble-peripheral.conf: [Channel b] Service: the service 'cam' already holds a PSM characteristic "
                "(cam/a.psm): give each channel a service of its own");
  assert_error (BASE "[Characteristic cam/v.psm]\nUUID=0x2A00\nFlags=read\n[Channel v]\nService=cam\n",
                "ble-peripheral.conf: [Channel v] Service: the characteristic cam/v.psm, which would hold the PSM, "
                "is declared already");
}

static void
test_equal_and_copy (void **state)
{
  g_autoptr (BpConfig) a = load (BASE "[Channel v]\nService=cam\nMTU=512\n");
  g_autoptr (BpConfig) b = load (BASE "[Channel v]\nService=cam\nMTU=512\n");
  g_autoptr (BpConfig) c = load (BASE "[Channel v]\nService=cam\nMTU=513\n");
  BpChannelConfig *copy = bp_channel_config_copy (channel (a, 0));

  assert_true (bp_channel_config_equal (channel (a, 0), channel (b, 0)));
  assert_false (bp_channel_config_equal (channel (a, 0), channel (c, 0)));
  assert_true (bp_channel_config_equal (copy, channel (b, 0)));
  assert_string_equal (copy->psm_characteristic, "cam/v.psm");
  bp_channel_config_free (copy);
}

static void
test_describe (void **state)
{
  g_autoptr (BpConfig) config = load (BASE
                                      "[Channel video]\nPSM=0x81\nService=cam\nFraming=sdu\nOnFull=wait\n"
                                      "[Channel log]\n");
  g_autofree char *text = bp_config_describe (config);

  assert_non_null (strstr (text,
                           "\nchannel video: L2CAP LE credit-based, PSM 0x81\n"
                           "  mtu 65535, security low, max centrals 1\n"
                           "  framing sdu, queue 8 frames per central, when full wait\n"
                           "  PSM published in characteristic cam/video.psm "
                           "(ABDD3056-28FA-441D-A470-55A75A52553A)\n"));
  assert_non_null (strstr (text, "\nchannel log: L2CAP LE credit-based, PSM auto (0x80-0xFF, the kernel picks)\n"));
  assert_non_null (strstr (text, "  PSM not published in GATT (no Service=)\n"));
  assert_non_null (strstr (text, "  characteristic cam/video.psm: "));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_defaults),
    cmocka_unit_test (test_every_key),
    cmocka_unit_test (test_auto_psm_characteristic_empty),
    cmocka_unit_test (test_refusals),
    cmocka_unit_test (test_equal_and_copy),
    cmocka_unit_test (test_describe),
  };

  return cmocka_run_group_tests (tests, NULL, NULL);
}
