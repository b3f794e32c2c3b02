/* Writes from a central, as bluetoothd makes them: WriteValue at an offset,
 * long (prepared) writes, MaxLength, Append buffers, Capture queues and
 * write-without-response. */
#define G_LOG_DOMAIN "test-writes"

#include <string.h>

#include "harness.h"

static const char config[] =
  "[Peripheral]\n"
  "Name=bp-test\n"
  "\n"
  "[Service s]\n"
  "UUID=0xFFF0\n"
  "\n"
  "[Characteristic s/buf]\n"
  "UUID=0xFFF1\n"
  "Flags=read,write\n"
  "MaxLength=20\n"
  "Initial=0011223344\n"
  "\n"
  "[Characteristic s/log]\n"
  "UUID=0xFFF2\n"
  "Flags=write\n"
  "Append=true\n"
  "MaxLength=8\n"
  "\n"
  "[Characteristic s/cmd]\n"
  "UUID=0xFFF3\n"
  "Flags=write\n"
  "Capture=true\n"
  "QueueLength=4\n"
  "\n"
  "[Characteristic s/stream]\n"
  "UUID=0xFFF4\n"
  "Flags=write-without-response\n"
  "Capture=true\n"
  "MaxLength=512\n"
  "\n"
  "[Characteristic s/big]\n"
  "UUID=0xFFF5\n"
  "Flags=read,write\n"
  "MaxLength=100\n";

static const char *
central (BpHarness *h)
{
  const char *dev = fake_bluez_add_device (h->bluez, FAKE_BLUEZ_CENTRAL_ADDRESS, 23);

  fake_bluez_set_connected (h->bluez, dev, TRUE);
  return dev;
}

static void
write_ok (BpHarness *h, const char *path, const char *dev, guint16 offset, const void *data, gsize len)
{
  g_autoptr (GError) error = NULL;

  g_assert_true (fake_bluez_write_value (h->bluez, path, dev, offset, data, len, &error));
  g_assert_no_error (error);
}

/* The value a `get` returns, as hex ("" for an empty value, which the
 * protocol may also write as a quoted empty string). */
static char *
get_hex (BpHarness *h, const char *chr)
{
  g_autofree char *reply = bp_assert_request_ok (h->ctl, "get %s", chr);

  if (g_str_equal (reply, "ok") || g_str_equal (reply, "ok \"\""))
    return g_strdup ("");
  return g_strdup (reply + 3);
}

static void
assert_value (BpHarness *h, const char *chr, const char *hex)
{
  g_autofree char *got = get_hex (h, chr);

  g_assert_cmpstr (got, ==, hex);
}

static void
test_offset (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff1");
  const char *dev = central (h);
  g_autoptr (GError) error = NULL;

  write_ok (h, path, dev, 0, "\x01\x02\x03\x04", 4);
  assert_value (h, "s/buf", "01020304");
  /* At the end of the value: it grows. */
  write_ok (h, path, dev, 4, "\x05\x06", 2);
  assert_value (h, "s/buf", "010203040506");
  /* Past the end: Invalid Offset, and nothing changes. */
  g_assert_false (fake_bluez_write_value (h->bluez, path, dev, 7, "\x09", 1, &error));
  fake_assert_dbus_error (error, "org.bluez.Error.InvalidOffset");
  g_assert_cmpuint (fake_error_to_att (error, TRUE), ==, 0x07);
  assert_value (h, "s/buf", "010203040506");
  /* A central reads back what it wrote. */
  {
    g_autoptr (GBytes) v = fake_bluez_read_value (h->bluez, path, dev, 0, &error);
    g_assert_nonnull (v);
    g_assert_cmpmem (g_bytes_get_data (v, NULL), g_bytes_get_size (v), "\x01\x02\x03\x04\x05\x06", 6);
  }
}

static void
test_long_write (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff5");
  const char *dev = central (h);
  g_autoptr (GError) error = NULL;
  g_autofree char *hex = NULL;
  guint8 data[90];

  for (guint i = 0; i < sizeof data; i++)
    data[i] = 0x80 + i;
  /* Prepared writes of MTU-5 = 18 bytes at offsets 0, 18, 36, 54, 72. */
  g_assert_true (fake_bluez_write_long (h->bluez, path, dev, data, sizeof data, &error));
  g_assert_no_error (error);
  hex = bp_hex (data, sizeof data);
  assert_value (h, "s/big", hex);
}

static void
test_max_length (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff1");
  const char *dev = central (h);
  g_autoptr (GError) error = NULL;
  guint8 data[21];

  memset (data, 0x5a, sizeof data);
  /* 21 bytes into MaxLength=20: refused with 0x0D, never truncated. */
  g_assert_false (fake_bluez_write_value (h->bluez, path, dev, 0, data, 21, &error));
  fake_assert_dbus_error (error, "org.bluez.Error.InvalidValueLength");
  g_assert_cmpuint (fake_error_to_att (error, TRUE), ==, 0x0d);
  g_clear_error (&error);
  assert_value (h, "s/buf", "0011223344");
  /* A write that would end past MaxLength at an offset: refused too. */
  g_assert_false (fake_bluez_write_value (h->bluez, path, dev, 5, data, 16, &error));
  fake_assert_dbus_error (error, "org.bluez.Error.InvalidValueLength");
  g_clear_error (&error);
  assert_value (h, "s/buf", "0011223344");
  /* Exactly 20 fits. */
  write_ok (h, path, dev, 0, data, 20);
  assert_value (h, "s/buf", "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");
  {
    g_autofree char *rejected = bp_control_status (h->ctl, "s/buf.rejected");
    g_assert_cmpstr (rejected, ==, "2");
  }
}

static void
test_append (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff2");
  const char *dev = central (h);
  g_autoptr (GError) error = NULL;
  g_autofree char *taken = NULL;

  write_ok (h, path, dev, 0, "\x01", 1);
  write_ok (h, path, dev, 0, "\x02\x03", 2);
  write_ok (h, path, dev, 0, "\x04\x05\x06", 3);
  assert_value (h, "s/log", "010203040506");
  /* Past MaxLength=8: 0x0D, and the buffer keeps what it had. */
  g_assert_false (fake_bluez_write_value (h->bluez, path, dev, 0, "\x07\x08\x09", 3, &error));
  fake_assert_dbus_error (error, "org.bluez.Error.InvalidValueLength");
  assert_value (h, "s/log", "010203040506");
  taken = bp_assert_request_ok (h->ctl, "take s/log");
  g_assert_cmpstr (taken, ==, "ok 010203040506");
  assert_value (h, "s/log", "");
  /* Room again after the take. */
  write_ok (h, path, dev, 0, "\x07\x08\x09", 3);
  assert_value (h, "s/log", "070809");
}

static char *
expected_write_event (const char *chr, const char *hex)
{
  return g_strdup_printf ("event write %s %s %s", chr, FAKE_BLUEZ_CENTRAL_ADDRESS, hex);
}

static void
test_capture (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff3");
  const char *dev = central (h);
  g_autoptr (BpControl) watcher = bp_harness_connect (h);

  /* Three writes while nobody watches: they wait in the queue. */
  write_ok (h, path, dev, 0, "\x0a", 1);
  write_ok (h, path, dev, 0, "\x0b\x0b", 2);
  write_ok (h, path, dev, 0, "\x0c", 1);
  {
    g_autofree char *queued = bp_control_status (h->ctl, "s/cmd.queued");
    g_assert_cmpstr (queued, ==, "3");
  }
  /* `watch` delivers them first, in order, then the live ones. */
  g_free (bp_assert_request_ok (watcher, "watch write"));
  write_ok (h, path, dev, 0, "\x0d", 1);
  {
    const char *want[] = { "0a", "0b0b", "0c", "0d" };
    for (guint i = 0; i < G_N_ELEMENTS (want); i++)
      {
        g_autofree char *event = bp_control_next_event (watcher, BP_WAIT_MS);
        g_autofree char *expected = expected_write_event ("s/cmd", want[i]);
        g_assert_cmpstr (event, ==, expected);
      }
  }
  /* Delivered once: a second watcher does not get them again. */
  {
    g_autoptr (BpControl) late = bp_harness_connect (h);
    g_autofree char *event = NULL;
    g_free (bp_assert_request_ok (late, "watch write"));
    g_free (bp_assert_request_ok (late, "status"));
    event = bp_control_next_event (late, 0);
    g_assert_null (event);
  }
  {
    g_autofree char *queued = bp_control_status (h->ctl, "s/cmd.queued");
    g_autofree char *captured = bp_control_status (h->ctl, "s/cmd.captured");
    g_assert_cmpstr (queued, ==, "0");
    g_assert_cmpstr (captured, ==, "4");
  }
}

static void
test_capture_overflow (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff3");
  const char *dev = central (h);
  g_autoptr (BpControl) watcher = bp_harness_connect (h);
  g_autofree char *dropped = NULL;

  /* Six writes into QueueLength=4: the two oldest are dropped. */
  for (guint8 i = 1; i <= 6; i++)
    write_ok (h, path, dev, 0, &i, 1);
  g_free (bp_assert_request_ok (watcher, "watch write"));
  dropped = bp_control_next_event (watcher, BP_WAIT_MS);
  g_assert_cmpstr (dropped, ==, "event dropped s/cmd 2");
  for (guint i = 3; i <= 6; i++)
    {
      g_autofree char *hex = g_strdup_printf ("%02x", i);
      g_autofree char *expected = expected_write_event ("s/cmd", hex);
      g_autofree char *event = bp_control_next_event (watcher, BP_WAIT_MS);
      g_assert_cmpstr (event, ==, expected);
    }
}

/* write-without-response: bluetoothd does not wait for the daemon, so the
 * writes arrive as fast as the bus carries them, and none is lost. */
static void
test_write_without_response (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff4");
  const char *dev = central (h);
  const guint n = 50;

  g_assert_true (
    fake_application_get_characteristic (fake_bluez_get_active_application (h->bluez), path)->write_without_response);
  g_free (bp_assert_request_ok (h->ctl, "watch write"));
  for (guint i = 0; i < n; i++)
    {
      guint8 v[2] = { i, 0xee };
      write_ok (h, path, dev, 0, v, 2);
    }
  for (guint i = 0; i < n; i++)
    {
      g_autofree char *hex = g_strdup_printf ("%02xee", i);
      g_autofree char *expected = expected_write_event ("s/stream", hex);
      g_autofree char *event = bp_control_next_event (h->ctl, BP_WAIT_MS);
      g_assert_cmpstr (event, ==, expected);
    }
}

int
main (int argc, char **argv)
{
  bp_test_init (&argc, &argv);
  bp_test_add ("/writes/offset", test_offset);
  bp_test_add ("/writes/long-write", test_long_write);
  bp_test_add ("/writes/max-length", test_max_length);
  bp_test_add ("/writes/append", test_append);
  bp_test_add ("/writes/capture", test_capture);
  bp_test_add ("/writes/capture-overflow", test_capture_overflow);
  bp_test_add ("/writes/write-without-response", test_write_without_response);
  return g_test_run ();
}
