/* What the daemon learns of bluetoothd's version and mode, against the
 * stand-in playing several BlueZ versions (fake_bluez_set_version): the
 * status line's bluez-version and bluez-experimental, the log line of each
 * appearance, and the advertising features that depend on them. */
#define G_LOG_DOMAIN "test-capabilities"

#include "harness.h"

#include <string.h>

static const char config[] =
  "[Peripheral]\nName=bp-test\n"
  "[Service s]\nUUID=0xFFF0\n"
  "[Characteristic s/c]\nUUID=0xFFF1\nFlags=read\n";

/* The daemon against a stand-in playing major.minor (-E with experimental),
 * with its application registered. */
static BpHarness *
harness_for (const char *text, guint major, guint minor, gboolean experimental)
{
  BpHarness *h = bp_harness_new (text, BP_HARNESS_NO_BLUEZ | (experimental ? BP_HARNESS_EXPERIMENTAL : 0));
  g_autoptr (GError) error = NULL;

  fake_bluez_set_version (h->bluez, major, minor);
  fake_bluez_start (h->bluez, &error);
  g_assert_no_error (error);
  g_assert_nonnull (bp_harness_wait_application (h, 0, BP_WAIT_MS));
  return h;
}

typedef struct {
  guint major, minor;
  gboolean experimental;
  const char *version; /* bluez-version= */
  const char *log;     /* in the log line of the appearance */
} Case;

static const Case cases[] = {
  { 5, 66, FALSE, "<5.71", "advertising Interval/TxPower ignored (needs 5.77 or -E), ScanResponseData no" },
  { 5, 66, TRUE, "<5.71", "experimental features yes; advertising Interval/TxPower applied" },
  { 5, 72, FALSE, ">=5.71,<5.73", "BlueZ >=5.71,<5.73, experimental features no" },
  { 5, 73, FALSE, ">=5.73,<5.77", "advertising Interval/TxPower ignored" },
  { 5, 76, TRUE, ">=5.71,<5.79", "experimental features yes; advertising Interval/TxPower applied" },
  { 5, 77, FALSE, ">=5.77,<5.79", "advertising Interval/TxPower applied, ScanResponseData no" },
  { 5, 82, FALSE, ">=5.79", "ScanResponseData yes, notification fd per central yes, to one central yes" },
  { 5, 82, TRUE, ">=5.79", "BlueZ >=5.79, experimental features yes" },
};

static guint
count_in_log (BpHarness *h, const char *needle)
{
  const char *at = bp_daemon_get_log (h->daemon);
  guint n = 0;

  while ((at = strstr (at, needle)) != NULL)
    {
      n++;
      at += strlen (needle);
    }
  return n;
}

/* status says what the interfaces prove; the log says it once. */
static void
test_version (const Case *c)
{
  g_autoptr (BpHarness) h = harness_for (config, c->major, c->minor, c->experimental);
  g_autofree char *line = NULL;

  g_assert_true (bp_control_wait_status (h->ctl, "bluez-version", c->version, BP_WAIT_MS));
  g_assert_true (bp_control_wait_status (h->ctl, "bluez-experimental", c->experimental ? "yes" : "no", BP_WAIT_MS));
  line = bp_daemon_wait_log_line (h->daemon, 0, "bluetoothd: BlueZ ", BP_WAIT_MS);
  g_assert_nonnull (line);
  g_test_message ("%s", line);
  g_assert_nonnull (strstr (line, c->log));
  g_assert_true (bp_control_wait_status (h->ctl, "advertising", "on", BP_WAIT_MS));
  g_assert_cmpuint (count_in_log (h, "bluetoothd: BlueZ "), ==, 1);
}

#define VERSION_CASE(i)               \
  static void test_version_##i (void) \
  {                                   \
    test_version (&cases[i]);         \
  }
VERSION_CASE (0)
VERSION_CASE (1)
VERSION_CASE (2)
VERSION_CASE (3)
VERSION_CASE (4)
VERSION_CASE (5)
VERSION_CASE (6)
VERSION_CASE (7)
static const GTestFunc version_tests[] = { test_version_0, test_version_1, test_version_2, test_version_3,
                                           test_version_4, test_version_5, test_version_6, test_version_7 };
G_STATIC_ASSERT (G_N_ELEMENTS (version_tests) == G_N_ELEMENTS (cases));

/* Before bluetoothd is there nothing is known; a device's Device1.Bonded
 * (5.65) adds a lower bound to 5.66's upper one. */
static void
test_device_bound (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NO_BLUEZ | BP_HARNESS_NO_WAIT);
  g_autoptr (GError) error = NULL;

  g_assert_true (bp_control_wait_status (h->ctl, "bluez", "absent", BP_WAIT_MS));
  g_assert_true (bp_control_wait_status (h->ctl, "bluez-version", "-", BP_WAIT_MS));
  g_assert_true (bp_control_wait_status (h->ctl, "bluez-experimental", "-", BP_WAIT_MS));
  fake_bluez_start (h->bluez, &error);
  g_assert_no_error (error);
  g_assert_true (bp_control_wait_status (h->ctl, "bluez-version", "<5.71", BP_WAIT_MS));
  fake_bluez_add_device (h->bluez, FAKE_BLUEZ_CENTRAL_ADDRESS, 23);
  g_assert_true (bp_control_wait_status (h->ctl, "bluez-version", ">=5.65,<5.71", BP_WAIT_MS));
}

/* Each appearance of bluetoothd is probed anew: an upgrade (5.66 stopped,
 * 5.82 started) shows, and is logged once more. */
static void
test_upgrade (void)
{
  g_autoptr (BpHarness) h = harness_for (config, 5, 66, FALSE);
  g_autoptr (GError) error = NULL;
  gsize from;

  g_assert_true (bp_control_wait_status (h->ctl, "bluez-version", "<5.71", BP_WAIT_MS));
  from = bp_daemon_get_log_length (h->daemon);
  fake_bluez_stop (h->bluez);
  g_assert_true (bp_control_wait_status (h->ctl, "bluez-version", "-", BP_WAIT_MS));
  fake_bluez_set_version (h->bluez, 5, 82);
  fake_bluez_start (h->bluez, &error);
  g_assert_no_error (error);
  g_assert_true (bp_control_wait_status (h->ctl, "bluez-version", ">=5.79", BP_WAIT_MS));
  g_assert_true (bp_daemon_wait_log (h->daemon, from, "bluetoothd: BlueZ >=5.79", BP_WAIT_MS));
}

static const char scan_response_config[] =
  "[Peripheral]\nName=bp-test\n"
  "[Advertising]\nScanResponseData=05 24 ffff 0102\n"
  "[Service s]\nUUID=0xFFF0\n"
  "[Characteristic s/c]\nUUID=0xFFF1\nFlags=read\n";

/* ScanResponseData: refused by name on a bluetoothd that would ignore it,
 * carried on one that parses it. */
static void
test_scan_response_old (void)
{
  g_autoptr (BpHarness) h = harness_for (scan_response_config, 5, 66, FALSE);

  g_assert_true (bp_daemon_wait_log (h->daemon, 0,
                                     "[Advertising] ScanResponseData needs BlueZ 5.80 or later, and this "
                                     "bluetoothd is BlueZ <5.71: not advertising",
                                     BP_WAIT_MS));
  g_assert_true (bp_control_wait_status (h->ctl, "advertising", "off", BP_WAIT_MS));
  g_assert_cmpuint (fake_bluez_get_advertisements (h->bluez)->len, ==, 0);
}

static void
test_scan_response_new (void)
{
  g_autoptr (BpHarness) h = harness_for (scan_response_config, 5, 82, FALSE);
  FakeAdvertisement *adv = bp_harness_wait_advertisement (h, 0, BP_WAIT_MS);

  g_assert_nonnull (adv);
  g_assert_true (bp_control_wait_status (h->ctl, "advertising", "on", BP_WAIT_MS));
  /* the stand-in 5.82 counted the structure into the scan response */
  g_assert_cmpuint (adv->scan_rsp_len, >=, 6);
  g_assert_null (strstr (bp_daemon_get_log (h->daemon), "ScanResponseData needs"));
}

static const char interval_config[] =
  "[Peripheral]\nName=bp-test\n"
  "[Advertising]\nInterval=250ms\n"
  "[Service s]\nUUID=0xFFF0\n"
  "[Characteristic s/c]\nUUID=0xFFF1\nFlags=read\n";

/* Interval: a warning naming the version where it cannot take effect (5.66
 * without -E); none on 5.77 and later, which applies it. */
static void
test_interval_old (void)
{
  g_autoptr (BpHarness) h = harness_for (interval_config, 5, 66, FALSE);

  g_assert_nonnull (bp_harness_wait_advertisement (h, 0, BP_WAIT_MS));
  g_assert_true (bp_daemon_wait_log (h->daemon, 0,
                                     "[Advertising] Interval cannot take effect: bluetoothd ignores advertising "
                                     "intervals and TX power before BlueZ 5.77",
                                     BP_WAIT_MS));
  g_assert_true (bp_daemon_wait_log (h->daemon, 0, "and this one is BlueZ <5.71 without them", BP_WAIT_MS));
}

static void
test_interval_new (void)
{
  g_autoptr (BpHarness) h = harness_for (interval_config, 5, 82, FALSE);
  FakeAdvertisement *adv = bp_harness_wait_advertisement (h, 0, BP_WAIT_MS);
  g_autoptr (GVariant) min = NULL;

  g_assert_nonnull (adv);
  min = fake_advertisement_get (adv, "MinInterval");
  g_assert_nonnull (min);
  g_assert_cmpuint (g_variant_get_uint32 (min), ==, 250);
  g_assert_true (fake_bluez_sync (h->bluez));
  g_assert_null (strstr (bp_daemon_get_log (h->daemon), "cannot take effect"));
}

static const char long_write_config[] =
  "[Peripheral]\nName=bp-test\n"
  "[Service s]\nUUID=0xFFF0\n"
  "[Characteristic s/long]\nUUID=0xFFF1\nFlags=read,write\nMaxLength=512\n"
  "[Characteristic s/short]\nUUID=0xFFF2\nFlags=read,write\nMaxLength=508\n";

/* MaxLength past 508 on a writable characteristic: named where bluetoothd
 * refuses such writes (before 5.69), not where it takes them. */
static void
test_long_writes (void)
{
  g_autoptr (BpHarness) old = harness_for (long_write_config, 5, 66, FALSE);
  g_autoptr (BpHarness) new = NULL;

  g_assert_true (bp_daemon_wait_log (old->daemon, 0,
                                     "[Characteristic s/long] MaxLength=512: bluetoothd before BlueZ 5.69 refuses "
                                     "writes of more than 508 bytes (ATT 0x0D), and this one is BlueZ <5.71",
                                     BP_WAIT_MS));
  g_assert_null (strstr (bp_daemon_get_log (old->daemon), "[Characteristic s/short]"));
  g_clear_pointer (&old, bp_harness_free);
  new = harness_for (long_write_config, 5, 82, FALSE);
  g_assert_true (bp_control_wait_status (new->ctl, "bluez-version", ">=5.79", BP_WAIT_MS));
  g_assert_true (fake_bluez_sync (new->bluez));
  g_assert_null (strstr (bp_daemon_get_log (new->daemon), "refuses writes of more than 508"));
}

int
main (int argc, char **argv)
{
  bp_test_init (&argc, &argv);
  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree char *name = g_strdup_printf ("/capabilities/version/%u.%u%s", cases[i].major, cases[i].minor,
                                               cases[i].experimental ? "-E" : "");
      bp_test_add (name, version_tests[i]);
    }
  bp_test_add ("/capabilities/device-bound", test_device_bound);
  bp_test_add ("/capabilities/upgrade", test_upgrade);
  bp_test_add ("/capabilities/scan-response-old", test_scan_response_old);
  bp_test_add ("/capabilities/scan-response-new", test_scan_response_new);
  bp_test_add ("/capabilities/interval-old", test_interval_old);
  bp_test_add ("/capabilities/interval-new", test_interval_new);
  bp_test_add ("/capabilities/long-writes", test_long_writes);
  return g_test_run ();
}
