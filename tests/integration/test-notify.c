/* Notifications: one `notify` request is one PropertiesChanged(Value) on the
 * bus, at once, in order, never merged; subscriptions (StartNotify and
 * StopNotify) and indication confirmations reach the producers. */
#define G_LOG_DOMAIN "test-notify"

#include <string.h>

#include "harness.h"

static const char config[] =
  "[Peripheral]\n"
  "Name=bp-test\n"
  "\n"
  "[Service s]\n"
  "UUID=0xFFF0\n"
  "\n"
  "[Characteristic s/counter]\n"
  "UUID=0xFFF1\n"
  "Flags=read,notify\n"
  "\n"
  "[Characteristic s/alarm]\n"
  "UUID=0xFFF2\n"
  "Flags=read,indicate\n"
  "\n"
  "[Characteristic s/plain]\n"
  "UUID=0xFFF3\n"
  "Flags=read\n"
  "\n"
  "[Characteristic s/temperature]\n"
  "UUID=0x2A6E\n"
  "Flags=read,notify\n"
  "Format=sint16\n"
  "Exponent=-2\n";

#define N_NOTIFY 1000

static const char *
subscribed_central (BpHarness *h, const char *chr_path)
{
  const char *dev = fake_bluez_add_device (h->bluez, FAKE_BLUEZ_CENTRAL_ADDRESS, 185);

  fake_bluez_set_connected (h->bluez, dev, TRUE);
  fake_bluez_subscribe (h->bluez, dev, chr_path, TRUE);
  /* The daemon has seen the connection before the test notifies: with no
   * central connected it sends nothing. */
  g_assert_true (fake_bluez_sync (h->bluez));
  return dev;
}

static guint
count_value_signals_after (BpHarness *h, const char *path, guint64 first_index)
{
  GPtrArray *signals = fake_bluez_get_signals (h->bluez);
  guint n = 0;

  for (guint i = 0; i < signals->len; i++)
    {
      FakeSignal *s = g_ptr_array_index (signals, i);
      if (s->index >= first_index && s->value != NULL && g_strcmp0 (s->path, path) == 0)
        n++;
    }
  return n;
}

static void
test_thousand (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff1");
  GPtrArray *signals;
  guint64 first;
  guint seen = 0;

  subscribed_central (h, path);
  /* StartNotify travels before this round trip: the daemon has it. */
  g_assert_true (fake_bluez_sync (h->bluez));
  first = fake_bluez_get_n_signals (h->bluez);

  /* Pipelined: all the requests first, then the replies. */
  for (guint i = 0; i < N_NOTIFY; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *line = g_strdup_printf ("notify s/counter %08x", i * 2654435761u);
      g_assert_true (bp_control_send (h->ctl, line, &error));
      g_assert_no_error (error);
    }
  for (guint i = 0; i < N_NOTIFY; i++)
    {
      g_autofree char *reply = bp_control_read_reply (h->ctl, BP_WAIT_MS);
      if (g_strcmp0 (reply, "ok") != 0)
        g_error ("notify %u: reply %s", i, reply ? reply : "(none)");
    }

  g_assert_true (FAKE_WAIT_UNTIL (count_value_signals_after (h, path, first) >= N_NOTIFY, 10000));
  /* Exactly one signal per request, in order, with the exact bytes. */
  signals = fake_bluez_get_signals (h->bluez);
  for (guint i = 0; i < signals->len; i++)
    {
      FakeSignal *s = g_ptr_array_index (signals, i);
      guint32 be;

      if (s->index < first || g_strcmp0 (s->path, path) != 0)
        continue;
      g_assert_nonnull (s->value);
      g_assert_cmpstr (s->interface, ==, "org.bluez.GattCharacteristic1");
      g_assert_false (s->other_properties);
      be = GUINT32_TO_BE (seen * 2654435761u);
      if (g_bytes_get_size (s->value) != 4 || memcmp (g_bytes_get_data (s->value, NULL), &be, 4) != 0)
        {
          g_autofree char *got = bp_hex_bytes (s->value);
          g_error ("signal %u carries %s, expected %08x", seen, got, seen * 2654435761u);
        }
      seen++;
    }
  g_assert_cmpuint (seen, ==, N_NOTIFY);
  g_free (bp_assert_request_ok (h->ctl, "status"));
  g_assert_cmpuint (count_value_signals_after (h, path, first), ==, N_NOTIFY);

  {
    g_autofree char *n = bp_control_status (h->ctl, "s/counter.notify");
    g_autofree char *last = bp_assert_request_ok (h->ctl, "get s/counter");
    g_autofree char *want = g_strdup_printf ("ok %08x", (N_NOTIFY - 1) * 2654435761u);
    g_assert_cmpstr (n, ==, "1000");
    g_assert_cmpstr (last, ==, want);
  }
}

static void
test_typed_value (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "2a6e");
  guint64 first;
  FakeSignal *s = NULL;
  GPtrArray *signals;

  subscribed_central (h, path);
  first = fake_bluez_get_n_signals (h->bluez);
  /* 24.58 °C at exponent -2 → 2458 = 0x099a, little-endian. */
  g_free (bp_assert_request_ok (h->ctl, "notify s/temperature 24.58"));
  g_assert_true (FAKE_WAIT_UNTIL (count_value_signals_after (h, path, first) == 1, BP_WAIT_MS));
  signals = fake_bluez_get_signals (h->bluez);
  for (guint i = 0; i < signals->len; i++)
    if (((FakeSignal *) g_ptr_array_index (signals, i))->index >= first &&
        g_strcmp0 (((FakeSignal *) g_ptr_array_index (signals, i))->path, path) == 0)
      s = g_ptr_array_index (signals, i);
  g_assert_nonnull (s);
  g_assert_cmpmem (g_bytes_get_data (s->value, NULL), g_bytes_get_size (s->value), "\x9a\x09", 2);
}

/* With no central connected nothing can receive a notification: the value
 * is stored and no signal crosses the bus (bluetoothd would take in every
 * one for nothing). Once a central connects, notify reaches the bus again;
 * when it leaves, the bus goes quiet again. */
static void
test_no_central (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff1");
  const char *dev;
  guint64 first;

  first = fake_bluez_get_n_signals (h->bluez);
  for (guint i = 0; i < 50; i++)
    g_free (bp_assert_request_ok (h->ctl, "notify s/counter %02x", i));
  g_assert_true (fake_bluez_sync (h->bluez));
  g_assert_cmpuint (count_value_signals_after (h, path, first), ==, 0);
  {
    g_autofree char *got = bp_assert_request_ok (h->ctl, "get s/counter");
    g_autofree char *n = bp_control_status (h->ctl, "s/counter.notify");
    g_assert_cmpstr (got, ==, "ok 31");
    g_assert_cmpstr (n, ==, "50");
  }

  dev = subscribed_central (h, path);
  g_free (bp_assert_request_ok (h->ctl, "notify s/counter aa"));
  g_assert_true (FAKE_WAIT_UNTIL (count_value_signals_after (h, path, first) == 1, BP_WAIT_MS));

  fake_bluez_set_connected (h->bluez, dev, FALSE);
  g_assert_true (fake_bluez_sync (h->bluez));
  g_free (bp_assert_request_ok (h->ctl, "notify s/counter bb"));
  g_assert_true (fake_bluez_sync (h->bluez));
  g_assert_cmpuint (count_value_signals_after (h, path, first), ==, 1);
}

static void
test_set_does_not_notify (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff1");
  guint64 first;
  g_autofree char *refused = NULL;

  subscribed_central (h, path);
  first = fake_bluez_get_n_signals (h->bluez);
  g_free (bp_assert_request_ok (h->ctl, "set s/counter 01"));
  g_free (bp_assert_request_ok (h->ctl, "notify s/counter 02"));
  g_assert_true (FAKE_WAIT_UNTIL (count_value_signals_after (h, path, first) == 1, BP_WAIT_MS));
  /* The `set` sent nothing: the one signal is the notify's. */
  g_assert_true (fake_bluez_sync (h->bluez));
  g_assert_cmpuint (count_value_signals_after (h, path, first), ==, 1);

  /* A characteristic without notify or indicate refuses `notify`. */
  refused = bp_control_request (h->ctl, "notify s/plain 01");
  g_assert_nonnull (refused);
  g_assert_true (g_str_has_prefix (refused, "error "));
}

static void
test_subscribe_events (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff1");
  const char *dev1 = fake_bluez_add_device (h->bluez, "00:AA:01:01:00:01", 23);
  const char *dev2 = fake_bluez_add_device (h->bluez, "00:AA:01:01:00:02", 23);
  g_autofree char *event = NULL;
  g_autofree char *subscribed = NULL;

  fake_bluez_set_connected (h->bluez, dev1, TRUE);
  fake_bluez_set_connected (h->bluez, dev2, TRUE);
  g_free (bp_assert_request_ok (h->ctl, "watch subscribe"));

  fake_bluez_subscribe (h->bluez, dev1, path, TRUE);
  event = bp_control_wait_event (h->ctl, "event subscribe", BP_WAIT_MS);
  g_assert_nonnull (event);
  g_assert_true (g_str_has_prefix (event, "event subscribe s/counter"));
  subscribed = bp_control_status (h->ctl, "s/counter.subscribed");
  g_assert_cmpstr (subscribed, ==, "yes");

  /* A second central: StartNotify again (5.66 calls it per central). */
  fake_bluez_subscribe (h->bluez, dev2, path, TRUE);
  /* The first leaves: no StopNotify yet, one central still listens. */
  fake_bluez_subscribe (h->bluez, dev1, path, FALSE);
  g_assert_true (fake_bluez_sync (h->bluez));
  g_clear_pointer (&subscribed, g_free);
  subscribed = bp_control_status (h->ctl, "s/counter.subscribed");
  g_assert_cmpstr (subscribed, ==, "yes");

  /* The last one leaves: StopNotify. */
  fake_bluez_subscribe (h->bluez, dev2, path, FALSE);
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (h->ctl, "event unsubscribe", BP_WAIT_MS);
  g_assert_nonnull (event);
  g_assert_true (g_str_has_prefix (event, "event unsubscribe s/counter"));
  g_clear_pointer (&subscribed, g_free);
  subscribed = bp_control_status (h->ctl, "s/counter.subscribed");
  g_assert_cmpstr (subscribed, ==, "no");
}

static void
test_confirm (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff2");
  g_autofree char *event = NULL;
  g_autofree char *confirms = NULL;
  guint64 first;

  subscribed_central (h, path);
  g_free (bp_assert_request_ok (h->ctl, "watch subscribe"));
  first = fake_bluez_get_n_signals (h->bluez);
  g_free (bp_assert_request_ok (h->ctl, "notify s/alarm 01"));
  g_assert_true (FAKE_WAIT_UNTIL (count_value_signals_after (h, path, first) == 1, BP_WAIT_MS));
  /* The central confirms the indication. */
  fake_bluez_confirm (h->bluez, path);
  event = bp_control_wait_event (h->ctl, "event confirm", BP_WAIT_MS);
  g_assert_nonnull (event);
  g_assert_true (g_str_has_prefix (event, "event confirm s/alarm"));
  confirms = bp_control_status (h->ctl, "s/alarm.confirm");
  g_assert_cmpstr (confirms, ==, "1");
}

/* A flood: far more notifications than the bus takes at once. The daemon
 * stops reading the producer while GDBus holds more than its bound (so its
 * memory stays small), and every value still arrives, once, in order. */
#define N_FLOOD 20000

static void
test_flood_backpressure (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config, BP_HARNESS_NONE);
  const char *path = bp_harness_characteristic_path (h, "fff1");
  GPtrArray *signals;
  guint64 first;
  guint seen = 0;
  GString *batch = g_string_new (NULL);
  guint replies = 0;

  subscribed_central (h, path);
  g_assert_true (fake_bluez_sync (h->bluez));
  first = fake_bluez_get_n_signals (h->bluez);

  /* In batches of 500 lines, reading the replies as they come: the daemon
   * may pause reading, and the producer must not block on a full socket. */
  for (guint i = 0; i < N_FLOOD; i++)
    {
      g_string_append_printf (batch, "notify s/counter %08x", i);
      if ((i + 1) % 500 == 0)
        {
          g_autoptr (GError) error = NULL;
          g_assert_true (bp_control_send (h->ctl, batch->str, &error));
          g_assert_no_error (error);
          g_string_truncate (batch, 0);
          while (replies + 2000 < i)
            {
              g_autofree char *reply = bp_control_read_reply (h->ctl, BP_WAIT_MS);
              g_assert_cmpstr (reply, ==, "ok");
              replies++;
            }
        }
      else
        {
          g_string_append_c (batch, '\n');
        }
    }
  g_string_free (batch, TRUE);
  while (replies < N_FLOOD)
    {
      g_autofree char *reply = bp_control_read_reply (h->ctl, BP_WAIT_MS);
      g_assert_cmpstr (reply, ==, "ok");
      replies++;
    }

  g_assert_true (FAKE_WAIT_UNTIL (count_value_signals_after (h, path, first) >= N_FLOOD, 30000));
  signals = fake_bluez_get_signals (h->bluez);
  for (guint i = 0; i < signals->len; i++)
    {
      FakeSignal *s = g_ptr_array_index (signals, i);
      guint32 be = GUINT32_TO_BE (seen);

      if (s->index < first || g_strcmp0 (s->path, path) != 0)
        continue;
      g_assert_cmpuint (g_bytes_get_size (s->value), ==, 4);
      g_assert_cmpmem (g_bytes_get_data (s->value, NULL), 4, &be, 4);
      seen++;
    }
  g_assert_cmpuint (seen, ==, N_FLOOD);
  /* The daemon did hold the producer back (and let it go again). */
  g_assert_true (bp_daemon_wait_log (h->daemon, 0, "pausing reading notifying producers", 1000));
  g_assert_true (bp_daemon_wait_log (h->daemon, 0, "resuming reading notifying producers", 1000));
}

int
main (int argc, char **argv)
{
  bp_test_init (&argc, &argv);
  bp_test_add ("/notify/thousand", test_thousand);
  bp_test_add ("/notify/flood-backpressure", test_flood_backpressure);
  bp_test_add ("/notify/typed-value", test_typed_value);
  bp_test_add ("/notify/set-does-not-notify", test_set_does_not_notify);
  bp_test_add ("/notify/no-central", test_no_central);
  bp_test_add ("/notify/subscribe-events", test_subscribe_events);
  bp_test_add ("/notify/confirm", test_confirm);
  return g_test_run ();
}
