/* Reads from a central, as bluetoothd makes them: ReadValue with an offset
 * for each Read Blob, values that span several ATT responses, offsets past
 * the end, MinReadInterval, and reads answered by a producer. */
#define G_LOG_DOMAIN "test-reads"

#include <string.h>

#include "harness.h"

static const char config[] =
  "[Peripheral]\n"
  "Name=bp-test\n"
  "\n"
  "[Service s]\n"
  "UUID=0xFFF0\n"
  "\n"
  "[Characteristic s/short]\n"
  "UUID=0xFFF1\n"
  "Flags=read\n"
  "Initial=00010203040506070809\n"
  "\n"
  "[Characteristic s/long]\n"
  "UUID=0xFFF2\n"
  "Flags=read,write\n"
  "MaxLength=512\n"
  "\n"
  "[Characteristic s/limited]\n"
  "UUID=0xFFF3\n"
  "Flags=read\n"
  "MinReadInterval=30s\n"
  "Initial=2a\n"
  "\n"
  "[Characteristic s/served]\n"
  "UUID=0xFFF4\n"
  "Flags=read\n"
  "ReadHandler=socket\n"
  "ReadTimeout=2s\n"
  "Initial=ff\n";

static const char *
central (BpHarness *h, guint16 mtu)
{
  const char *dev = fake_bluez_add_device (h->bluez, FAKE_BLUEZ_CENTRAL_ADDRESS, mtu);

  fake_bluez_set_connected (h->bluez, dev, TRUE);
  return dev;
}

static void
assert_bytes (GBytes *bytes, const void *data, gsize len)
{
  g_assert_nonnull (bytes);
  g_assert_cmpmem (g_bytes_get_data (bytes, NULL), g_bytes_get_size (bytes), data, len);
}

static void
test_offset (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff1");
  const char *dev = central (h, 23);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) whole = NULL;
  g_autoptr (GBytes) tail = NULL;
  g_autoptr (GBytes) end = NULL;
  g_autoptr (GBytes) past = NULL;

  whole = fake_bluez_read_value (h->bluez, path, dev, 0, &error);
  g_assert_no_error (error);
  assert_bytes (whole, "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09", 10);

  /* A Read Blob: the value from the offset on. */
  tail = fake_bluez_read_value (h->bluez, path, dev, 4, &error);
  g_assert_no_error (error);
  assert_bytes (tail, "\x04\x05\x06\x07\x08\x09", 6);

  /* At the very end: empty, not an error. */
  end = fake_bluez_read_value (h->bluez, path, dev, 10, &error);
  g_assert_no_error (error);
  assert_bytes (end, "", 0);

  /* Past the end: Invalid Offset (ATT 0x07). */
  past = fake_bluez_read_value (h->bluez, path, dev, 11, &error);
  g_assert_null (past);
  fake_assert_dbus_error (error, "org.bluez.Error.InvalidOffset");
  g_assert_cmpuint (fake_error_to_att (error, FALSE), ==, 0x07);
}

static void
test_long_value (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff2");
  const char *dev = central (h, 23);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) value = NULL;
  g_autofree char *hex = NULL;
  g_autofree char *reply = NULL;
  guint8 data[300];
  guint n_calls = 0;

  for (guint i = 0; i < sizeof data; i++)
    data[i] = (i * 31 + 7) & 0xff;
  hex = bp_hex (data, sizeof data);
  g_free (bp_assert_request_ok (h->ctl, "set s/long %s", hex));

  /* MTU 23: a Read and 13 Read Blobs of 22 bytes, then a short one. */
  value = fake_bluez_read_long (h->bluez, path, dev, &n_calls, &error);
  g_assert_no_error (error);
  assert_bytes (value, data, sizeof data);
  g_assert_cmpuint (n_calls, ==, 14);

  /* Also at a larger MTU: 185 → two responses. */
  g_clear_pointer (&value, g_bytes_unref);
  fake_bluez_set_device_mtu (h->bluez, dev, 185);
  value = fake_bluez_read_long (h->bluez, path, dev, &n_calls, &error);
  g_assert_no_error (error);
  assert_bytes (value, data, sizeof data);
  g_assert_cmpuint (n_calls, ==, 2);

  reply = bp_assert_request_ok (h->ctl, "get s/long");
  g_assert_cmpstr (reply + 3, ==, hex);
}

static void
test_min_read_interval (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff3");
  const char *other = bp_harness_characteristic_path (h, "fff1");
  const char *dev = central (h, 23);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) first = NULL;
  g_autoptr (GBytes) second = NULL;
  g_autoptr (GBytes) unlimited = NULL;

  first = fake_bluez_read_value (h->bluez, path, dev, 0, &error);
  g_assert_no_error (error);
  assert_bytes (first, "\x2a", 1);

  /* Within 30 s of the last read served: Read Not Permitted (ATT 0x02). */
  second = fake_bluez_read_value (h->bluez, path, dev, 0, &error);
  g_assert_null (second);
  fake_assert_dbus_error (error, "org.bluez.Error.NotPermitted");
  g_assert_cmpuint (fake_error_to_att (error, FALSE), ==, 0x02);
  g_clear_error (&error);

  /* Other characteristics are not limited. */
  unlimited = fake_bluez_read_value (h->bluez, other, dev, 0, &error);
  g_assert_no_error (error);
  g_clear_pointer (&unlimited, g_bytes_unref);
  unlimited = fake_bluez_read_value (h->bluez, other, dev, 0, &error);
  g_assert_no_error (error);
}

/* ReadHandler=socket: the producer that serves the characteristic answers
 * each read (event read ID CHAR ADDR → reply ID VALUE). */
static void
test_served_read (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff4");
  const char *dev = central (h, 23);
  g_autoptr (BpControl) producer = bp_harness_connect (h);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) value = NULL;
  g_autofree char *event = NULL;
  g_auto (GStrv) words = NULL;
  FakeRequest *req;

  g_free (bp_assert_request_ok (producer, "serve s/served"));

  req = fake_bluez_read_value_begin (h->bluez, path, dev, 0);
  event = bp_control_wait_event (producer, "event read ", BP_WAIT_MS);
  g_assert_nonnull (event);
  words = g_strsplit (event, " ", -1);
  /* event read ID CHAR ADDR */
  g_assert_cmpuint (g_strv_length (words), >=, 5);
  g_assert_cmpstr (words[3], ==, "s/served");
  g_assert_cmpstr (words[4], ==, FAKE_BLUEZ_CENTRAL_ADDRESS);
  g_assert_false (fake_request_is_done (req));
  g_free (bp_assert_request_ok (producer, "reply %s c0ffee", words[2]));
  value = fake_request_finish_read (req, &error);
  g_assert_no_error (error);
  assert_bytes (value, "\xc0\xff\xee", 3);

  /* An ATT error from the producer: 0x80 travels as Error.Failed "0x80". */
  g_clear_pointer (&value, g_bytes_unref);
  g_clear_pointer (&event, g_free);
  g_clear_pointer (&words, g_strfreev);
  req = fake_bluez_read_value_begin (h->bluez, path, dev, 0);
  event = bp_control_wait_event (producer, "event read ", BP_WAIT_MS);
  g_assert_nonnull (event);
  words = g_strsplit (event, " ", -1);
  g_free (bp_assert_request_ok (producer, "reply %s error 0x80", words[2]));
  value = fake_request_finish_read (req, &error);
  g_assert_null (value);
  fake_assert_dbus_error (error, "org.bluez.Error.Failed");
  g_assert_cmpuint (fake_error_to_att (error, FALSE), ==, 0x80);
  g_clear_error (&error);

  /* The producer leaves: reads fall back to the stored value (the last
   * answer became it). */
  g_clear_pointer (&producer, bp_control_free);
  g_assert_true (bp_control_wait_status (h->ctl, "s/served.served", "no", BP_WAIT_MS));
  value = fake_bluez_read_value (h->bluez, path, dev, 0, &error);
  g_assert_no_error (error);
  assert_bytes (value, "\xc0\xff\xee", 3);
}

/* A producer that does not answer within ReadTimeout: the central gets an
 * error from the daemon before bluetoothd's own 5 s limit. */
static void
test_served_read_timeout (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff4");
  const char *dev = central (h, 23);
  g_autoptr (BpControl) producer = bp_harness_connect (h);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) value = NULL;
  g_autofree char *event = NULL;
  gint64 start;

  g_free (bp_assert_request_ok (producer, "serve s/served"));
  start = g_get_monotonic_time ();
  {
    FakeRequest *req = fake_bluez_read_value_begin (h->bluez, path, dev, 0);
    event = bp_control_wait_event (producer, "event read ", BP_WAIT_MS);
    g_assert_nonnull (event);
    value = fake_request_finish_read (req, &error);
  }
  /* Answered by the daemon itself (value or error) once ReadTimeout=2s
   * passed, well before bluetoothd's 5 s limit. */
  g_assert_false (g_error_matches (error, G_IO_ERROR, G_IO_ERROR_TIMED_OUT));
  g_assert_cmpint (g_get_monotonic_time () - start, <, 4 * G_USEC_PER_SEC);
  g_test_message ("unanswered read: %s", value ? "stored value" : error->message);
}

int
main (int argc, char **argv)
{
  bp_test_init (&argc, &argv);
  bp_test_add ("/reads/offset", test_offset);
  bp_test_add ("/reads/long-value", test_long_value);
  bp_test_add ("/reads/min-read-interval", test_min_read_interval);
  bp_test_add ("/reads/served", test_served_read);
  bp_test_add ("/reads/served-timeout", test_served_read_timeout);
  return g_test_run ();
}
