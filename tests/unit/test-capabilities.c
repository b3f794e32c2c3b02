/* The capabilities module: what an adapter's introspection proves about
 * bluetoothd's version and mode, and the features that follow. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glib.h>

#include <string.h>

#include "daemon/capabilities.h"

#define ADAPTER_OPEN "<node><interface name='org.bluez.Adapter1'><property name='Address' type='s' access='read'/>"
#define ADAPTER_CLOSE "</interface>"
#define ADV(features)                                  \
  "<interface name='org.bluez.LEAdvertisingManager1'>" \
  "<property name='SupportedInstances' type='y' access='read'/>" features "</interface></node>"
#define FEATURES "<property name='SupportedFeatures' type='as' access='read'/>"
#define CONNECT_DEVICE "<method name='ConnectDevice'><arg name='p' type='a{sv}' direction='in'/></method>"
#define POWER_STATE "<property name='PowerState' type='s' access='read'/>"
#define MANUFACTURER \
  "<property name='Manufacturer' type='q' access='read'/><property name='Version' type='y' access='read'/>"
#define CONNECTABLE "<property name='Connectable' type='b' access='readwrite'/>"

static BpCapabilities
parse (const char *xml)
{
  BpCapabilities caps;
  g_autoptr (GError) error = NULL;

  bp_capabilities_clear (&caps);
  assert_true (bp_capabilities_parse_adapter_xml (&caps, xml, &error));
  assert_null (error);
  assert_true (caps.known);
  return caps;
}

static void
assert_version_text (const BpCapabilities *caps, const char *want)
{
  g_autofree char *text = bp_capabilities_version_text (caps);
  assert_string_equal (text, want);
}

static void
test_nothing_known (void **state)
{
  BpCapabilities caps;

  bp_capabilities_clear (&caps);
  assert_false (caps.known);
  assert_version_text (&caps, "-");
  assert_string_equal (bp_capabilities_experimental_text (&caps), "-");
  assert_false (bp_capabilities_bluez_at_least (&caps, 5, 0));
  assert_false (caps.adv_interval);
  assert_false (caps.scan_response);
}

static void
test_5_66 (void **state)
{
  BpCapabilities caps = parse (ADAPTER_OPEN ADAPTER_CLOSE ADV (""));

  assert_version_text (&caps, "<5.71");
  assert_string_equal (bp_capabilities_experimental_text (&caps), "no");
  assert_false (caps.adv_interval);
  assert_false (caps.scan_response);
  assert_false (caps.notify_to_one_central);
  assert_false (bp_capabilities_bluez_at_least (&caps, 5, 65));
}

static void
test_5_66_experimental (void **state)
{
  BpCapabilities caps = parse (ADAPTER_OPEN CONNECT_DEVICE POWER_STATE ADAPTER_CLOSE ADV (FEATURES));

  /* PowerState and SupportedFeatures are -E's here, not a newer version's */
  assert_version_text (&caps, "<5.71");
  assert_string_equal (bp_capabilities_experimental_text (&caps), "yes");
  assert_true (caps.adv_interval);
  assert_false (caps.scan_response);
}

static void
test_5_73 (void **state)
{
  BpCapabilities caps = parse (ADAPTER_OPEN POWER_STATE MANUFACTURER ADAPTER_CLOSE ADV (""));

  assert_version_text (&caps, ">=5.73,<5.77");
  assert_true (bp_capabilities_bluez_at_least (&caps, 5, 73));
  assert_false (bp_capabilities_bluez_at_least (&caps, 5, 74));
  assert_true (caps.notify_fd_per_connection);
  assert_false (caps.notify_to_one_central);
  assert_false (caps.adv_interval);
}

static void
test_5_82 (void **state)
{
  BpCapabilities caps = parse (ADAPTER_OPEN POWER_STATE MANUFACTURER CONNECTABLE ADAPTER_CLOSE ADV (FEATURES));

  assert_version_text (&caps, ">=5.79");
  assert_string_equal (bp_capabilities_experimental_text (&caps), "no");
  assert_true (bp_capabilities_bluez_at_least (&caps, 5, 79));
  assert_false (bp_capabilities_bluez_at_least (&caps, 5, 80));
  assert_false (bp_capabilities_bluez_at_least (&caps, 6, 0));
  assert_true (caps.adv_interval);
  assert_true (caps.scan_response);
  assert_true (caps.notify_to_one_central);
  assert_true (caps.long_writes_past_508);
}

/* Without LEAdvertisingManager1 its SupportedFeatures proves nothing. */
static void
test_no_adv_manager (void **state)
{
  BpCapabilities caps = parse (ADAPTER_OPEN POWER_STATE MANUFACTURER ADAPTER_CLOSE "</node>");

  assert_version_text (&caps, ">=5.73,<5.79");
}

static void
test_device_bonded (void **state)
{
  BpCapabilities caps = parse (ADAPTER_OPEN ADAPTER_CLOSE ADV (""));
  g_autoptr (GVariant) with = g_variant_ref_sink (
    g_variant_new_parsed ("{'Address': <'00:AA:01:01:00:01'>, 'Bonded': <false>, 'Connected': <true>}"));
  g_autoptr (GVariant) without = g_variant_ref_sink (g_variant_new_parsed ("{'Address': <'00:AA:01:01:00:01'>}"));
  g_autoptr (GVariant) changed = g_variant_ref_sink (g_variant_new_parsed ("{'Bonded': <true>}"));

  assert_false (bp_capabilities_note_device (&caps, without));
  /* a PropertiesChanged holds only what changed: not a whole Device1 */
  assert_false (bp_capabilities_note_device (&caps, changed));
  assert_true (bp_capabilities_note_device (&caps, with));
  assert_version_text (&caps, ">=5.65,<5.71");
  assert_false (bp_capabilities_note_device (&caps, with));
}

static void
test_bad_xml (void **state)
{
  BpCapabilities caps;
  g_autoptr (GError) error = NULL;

  bp_capabilities_clear (&caps);
  assert_false (bp_capabilities_parse_adapter_xml (&caps, "<node><interf", &error));
  assert_non_null (error);
  g_clear_error (&error);
  assert_false (bp_capabilities_parse_adapter_xml (&caps, "<node/>", &error));
  assert_non_null (strstr (error->message, "org.bluez.Adapter1"));
  assert_false (caps.known);
}

static void
test_describe (void **state)
{
  BpCapabilities caps = parse (ADAPTER_OPEN ADAPTER_CLOSE ADV (""));
  g_autofree char *text = bp_capabilities_describe (&caps);

  assert_non_null (strstr (text, "BlueZ <5.71, experimental features no"));
  assert_non_null (strstr (text, "ScanResponseData no (needs 5.80)"));
}

int
main (void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test (test_nothing_known), cmocka_unit_test (test_5_66),    cmocka_unit_test (test_5_66_experimental),
    cmocka_unit_test (test_5_73),          cmocka_unit_test (test_5_82),    cmocka_unit_test (test_no_adv_manager),
    cmocka_unit_test (test_device_bonded), cmocka_unit_test (test_bad_xml), cmocka_unit_test (test_describe),
  };
  return cmocka_run_group_tests (tests, NULL, NULL);
}
