/* The acquired sockets (AcquireSockets=auto) against the stand-in playing
 * BlueZ 5.66, 5.69, 5.76 and 5.80: whatever the version, one `notify` is
 * one notification per subscribed central, in order, never twice, never
 * lost to a socket bluetoothd closed or never gave; `to=ADDR` where
 * bluetoothd can do it and a named error elsewhere; subscriptions and
 * confirmations with the central's address; writes in order with the
 * writer's address. */
#define G_LOG_DOMAIN "test-fastpath"

#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"

static const char config[] =
  "[Peripheral]\n"
  "Name=bp-test\n"
  "MaxConnections=3\n"
  "\n"
  "[Service s]\n"
  "UUID=0xFFF0\n"
  "\n"
  "[Characteristic s/counter]\n"
  "UUID=0xFFF1\n"
  "Flags=read,notify\n"
  "MaxLength=100\n"
  "\n"
  "[Characteristic s/alarm]\n"
  "UUID=0xFFF2\n"
  "Flags=read,indicate\n"
  "\n"
  "[Characteristic s/rx]\n"
  "UUID=0xFFF3\n"
  "Flags=write-without-response\n"
  "MaxLength=512\n"
  "\n"
  "[Characteristic s/slow]\n"
  "UUID=0xFFF4\n"
  "Flags=read,notify\n"
  "AcquireSockets=off\n";

#define ADDR1 "00:AA:01:01:00:01"
#define ADDR2 "00:AA:01:01:00:02"
#define N_VALUES 200

static const guint versions[] = { 566, 569, 576, 580 };

typedef struct {
  guint version;
  BpHarness *h;
  BpControl *events;
  const char *counter, *alarm, *rx, *slow;
  const char *dev1, *dev2;
} Fixture;

/* The version a case plays, from its path: /fastpath/5.80/… → 580. */
static guint
case_version (void)
{
  const char *path = g_test_get_path ();
  guint major = 0, minor = 0;

  g_assert_cmpint (sscanf (path, "/fastpath/%u.%u/", &major, &minor), ==, 2);
  return major * 100 + minor;
}

static void
fixture_setup (Fixture *f)
{
  guint version = case_version ();

  f->version = version;
  f->h = bp_harness_new_version (config, BP_HARNESS_ACQUIRE_SOCKETS, version);
  f->counter = bp_harness_characteristic_path (f->h, "fff1");
  f->alarm = bp_harness_characteristic_path (f->h, "fff2");
  f->rx = bp_harness_characteristic_path (f->h, "fff3");
  f->slow = bp_harness_characteristic_path (f->h, "fff4");
  f->events = bp_harness_connect (f->h);
  g_free (bp_assert_request_ok (f->events, "watch all"));
  f->dev1 = fake_bluez_add_device (f->h->bluez, ADDR1, 185);
  f->dev2 = fake_bluez_add_device (f->h->bluez, ADDR2, 247);
  fake_bluez_set_connected (f->h->bluez, f->dev1, TRUE);
  fake_bluez_set_connected (f->h->bluez, f->dev2, TRUE);
  g_free (bp_control_wait_event (f->events, "event connect " ADDR2, BP_WAIT_MS));
}

static void
fixture_teardown (Fixture *f)
{
  g_assert_cmpuint (fake_bluez_get_n_empty_messages (f->h->bluez), ==, 0);
  bp_control_free (f->events);
  bp_harness_free (f->h);
}

/* Subscribes dev and waits until the daemon told it, with the address when
 * bluetoothd gave a socket. */
static void
subscribe (Fixture *f, const char *dev, const char *addr, const char *path, const char *chr)
{
  g_autofree char *prefix = g_strdup_printf ("event subscribe %s", chr);
  g_autofree char *want = g_strdup_printf ("event subscribe %s %s mtu=%u", chr, addr,
                                           strcmp (addr, ADDR1) == 0 ? 185 : 247);
  g_autofree char *ev = NULL;
  gboolean shared = f->version < 569 && fake_bluez_count_notify_sockets (f->h->bluez, path) > 0;

  fake_bluez_subscribe (f->h->bluez, dev, path, TRUE);
  g_assert_true (FAKE_WAIT_UNTIL (!fake_bluez_acquires_pending (f->h->bluez), BP_WAIT_MS));
  if (shared)
    return; /* 5.66 asks nothing for later subscribers: its one socket reaches them */
  ev = bp_control_wait_event (f->events, prefix, BP_WAIT_MS);
  g_assert_cmpstr (ev, ==, want);
}

static void
notify_values (Fixture *f, const char *chr, guint from, guint to)
{
  for (guint i = from; i < to; i++)
    {
      g_autoptr (GError) error = NULL;
      g_autofree char *line = g_strdup_printf ("notify %s %08x", chr, i);
      g_assert_true (bp_control_send (f->h->ctl, line, &error));
      g_assert_no_error (error);
    }
  for (guint i = from; i < to; i++)
    {
      g_autofree char *reply = bp_control_read_reply (f->h->ctl, BP_WAIT_MS);
      if (g_strcmp0 (reply, "ok") != 0)
        g_error ("notify %u: reply %s", i, reply ? reply : "(none)");
    }
}

/* What dev received of path: exactly the values first..last-1 in order,
 * each once; returns how many came by socket. */
static guint
assert_received (Fixture *f, const char *dev, const char *path, guint first, guint last)
{
  GPtrArray *got = fake_bluez_get_received (f->h->bluez, dev);
  guint next = first, by_socket = 0;

  for (guint i = 0; i < got->len; i++)
    {
      FakeReceived *r = g_ptr_array_index (got, i);
      guint32 be = GUINT32_TO_BE (next);

      if (g_strcmp0 (r->path, path) != 0)
        continue;
      if (next >= last)
        g_error ("BlueZ %u: %s received a value past %u", f->version, dev, last);
      if (g_bytes_get_size (r->value) != 4 || memcmp (g_bytes_get_data (r->value, NULL), &be, 4) != 0)
        {
          g_autofree char *hex = bp_hex_bytes (r->value);
          g_error ("BlueZ %u: %s received %s where %08x was due (a duplicate, a loss or a reordering)", f->version, dev,
                   hex, next);
        }
      by_socket += r->by_socket;
      next++;
    }
  if (next != last)
    g_error ("BlueZ %u: %s received %u of %u values", f->version, dev, next - first, last - first);
  return by_socket;
}

static gboolean
received_at_least (Fixture *f, const char *dev, const char *path, guint n)
{
  return fake_bluez_count_received (f->h->bluez, dev, path) >= n;
}

/* Two subscribers: each value once at each, in order. */
static void
test_two_centrals (void)
{
  Fixture f = { 0 };
  guint s1, s2;

  fixture_setup (&f);
  subscribe (&f, f.dev1, ADDR1, f.counter, "s/counter");
  subscribe (&f, f.dev2, ADDR2, f.counter, "s/counter");
  g_assert_cmpuint (fake_bluez_count_notify_sockets (f.h->bluez, f.counter), ==, f.version < 569 ? 1 : 2);

  notify_values (&f, "s/counter", 0, N_VALUES);
  g_assert_true (FAKE_WAIT_UNTIL (
    received_at_least (&f, f.dev1, f.counter, N_VALUES) && received_at_least (&f, f.dev2, f.counter, N_VALUES), 10000));
  g_assert_true (fake_bluez_sync (f.h->bluez));
  s1 = assert_received (&f, f.dev1, f.counter, 0, N_VALUES);
  s2 = assert_received (&f, f.dev2, f.counter, 0, N_VALUES);
  /* The way each version allows: the one shared socket (5.66); the bus
   * while several sockets may each reach everyone (5.69, and 5.76 which
   * nothing tells from 5.75); each central's socket once 5.79+ is proven. */
  if (f.version < 569 || f.version >= 579)
    {
      g_assert_cmpuint (s1, ==, N_VALUES);
      g_assert_cmpuint (s2, ==, N_VALUES);
    }
  else
    {
      g_assert_cmpuint (s1, ==, 0);
      g_assert_cmpuint (s2, ==, 0);
    }
  {
    /* status: each central's MTU (from AcquireNotify), what the sockets carried. */
    g_autofree char *mtu = bp_control_status (f.h->ctl, "central-mtu");
    g_autofree char *values = bp_control_status (f.h->ctl, "socket-values");
    g_autofree char *want = g_strdup_printf ("%u", s1 + (f.version < 569 ? 0 : s2));

    /* 5.66 tells nothing of the second subscriber: its MTU is unknown (0). */
    g_assert_cmpstr (mtu, ==, f.version < 569 ? ADDR1 "/185," ADDR2 "/0" : ADDR1 "/185," ADDR2 "/247");
    g_assert_cmpstr (values, ==, want);
  }
  /* AcquireSockets=off: no NotifyAcquired, StartNotify and signals. */
  g_assert_false (
    fake_application_get_characteristic (fake_bluez_get_active_application (f.h->bluez), f.slow)->notify_acquired);
  fixture_teardown (&f);
}

/* More values than the sockets hold while bluetoothd does not read: the
 * daemon queues them (EAGAIN), holds the producer back, and loses none. */
static void
test_flood (void)
{
  Fixture f = { 0 };
  const guint n = 5000;

  fixture_setup (&f);
  subscribe (&f, f.dev1, ADDR1, f.counter, "s/counter");
  /* The stand-in reads nothing until the test waits below. */
  notify_values (&f, "s/counter", 0, n);
  g_assert_true (FAKE_WAIT_UNTIL (received_at_least (&f, f.dev1, f.counter, n), 20000));
  g_assert_true (fake_bluez_sync (f.h->bluez));
  assert_received (&f, f.dev1, f.counter, 0, n);
  fixture_teardown (&f);
}

/* notify … to=ADDR: that central alone on 5.76+ proven, a named error before. */
static void
test_to (void)
{
  Fixture f = { 0 };
  g_autofree char *reply = NULL;

  fixture_setup (&f);
  subscribe (&f, f.dev1, ADDR1, f.counter, "s/counter");
  subscribe (&f, f.dev2, ADDR2, f.counter, "s/counter");
  g_free (bp_control_request (f.h->ctl, "notify s/counter 00000000"));
  reply = bp_control_request (f.h->ctl, "notify s/counter 00000001 to=" ADDR2);
  if (f.version >= 579)
    {
      g_assert_cmpstr (reply, ==, "ok");
      g_free (bp_assert_request_ok (f.h->ctl, "notify s/counter 00000002"));
      g_assert_true (FAKE_WAIT_UNTIL (
        received_at_least (&f, f.dev1, f.counter, 2) && received_at_least (&f, f.dev2, f.counter, 3), BP_WAIT_MS));
      g_assert_true (fake_bluez_sync (f.h->bluez));
      g_assert_cmpuint (fake_bluez_count_received (f.h->bluez, f.dev1, f.counter), ==, 2);
      assert_received (&f, f.dev2, f.counter, 0, 3);
    }
  else
    {
      g_assert_true (g_str_has_prefix (reply, "error not-supported: "));
      g_assert_nonnull (strstr (reply, "5.76"));
    }
  g_clear_pointer (&reply, g_free);
  /* A central with no socket for it is named. */
  reply = bp_control_request (f.h->ctl, "notify s/slow 01 to=" ADDR1);
  g_assert_true (g_str_has_prefix (reply, "error not-supported: "));
  g_assert_nonnull (strstr (reply, "AcquireSockets=off"));
  fixture_teardown (&f);
}

/* A subscriber disconnects while values flow; from 5.69 its disconnect
 * also closes the other's socket (bluez#1452): the other loses nothing. */
static void
test_disconnect (void)
{
  Fixture f = { 0 };

  fixture_setup (&f);
  subscribe (&f, f.dev1, ADDR1, f.counter, "s/counter");
  subscribe (&f, f.dev2, ADDR2, f.counter, "s/counter");
  notify_values (&f, "s/counter", 0, N_VALUES / 2);
  /* What bluetoothd has not read when it closes a socket is lost to that
   * central whatever the application does: disconnect once both have all. */
  g_assert_true (FAKE_WAIT_UNTIL (received_at_least (&f, f.dev1, f.counter, N_VALUES / 2) &&
                                    received_at_least (&f, f.dev2, f.counter, N_VALUES / 2),
                                  10000));
  fake_bluez_set_connected (f.h->bluez, f.dev2, FALSE);
  g_free (bp_control_wait_event (f.events, "event disconnect " ADDR2, BP_WAIT_MS));
  if (f.version >= 569)
    g_assert_cmpuint (fake_bluez_count_notify_sockets (f.h->bluez, f.counter), ==, 0);
  notify_values (&f, "s/counter", N_VALUES / 2, N_VALUES);
  g_assert_true (FAKE_WAIT_UNTIL (received_at_least (&f, f.dev1, f.counter, N_VALUES), 10000));
  g_assert_true (fake_bluez_sync (f.h->bluez));
  assert_received (&f, f.dev1, f.counter, 0, N_VALUES);
  fixture_teardown (&f);
}

/* The same, in the order that lost values: bluetoothd closes both sockets
 * with one central's disconnection (5.69+, bluez#1452) while the daemon is
 * busy, and the producer's values are there before the sockets' end when
 * it runs again (it reads the older connection first). The socket of the
 * central that stayed is found closed before a value is sent on it: the
 * value goes by the bus instead, none is lost. */
static void
test_closed_unseen (void)
{
  Fixture f = { 0 };

  fixture_setup (&f);
  if (f.version < 569)
    {
      /* one socket per characteristic before 5.69: nothing to close with another */
      fixture_teardown (&f);
      return;
    }
  subscribe (&f, f.dev1, ADDR1, f.counter, "s/counter");
  subscribe (&f, f.dev2, ADDR2, f.counter, "s/counter");
  notify_values (&f, "s/counter", 0, 10);
  g_assert_true (FAKE_WAIT_UNTIL (
    received_at_least (&f, f.dev1, f.counter, 10) && received_at_least (&f, f.dev2, f.counter, 10), BP_WAIT_MS));
  bp_daemon_send_signal (f.h->daemon, SIGSTOP);
  fake_bluez_set_connected (f.h->bluez, f.dev2, FALSE);
  g_assert_cmpuint (fake_bluez_count_notify_sockets (f.h->bluez, f.counter), ==, 0);
  for (guint i = 10; i < 20; i++)
    {
      g_autofree char *line = g_strdup_printf ("notify s/counter %08x", i);
      g_assert_true (bp_control_send (f.h->ctl, line, NULL));
    }
  bp_daemon_send_signal (f.h->daemon, SIGCONT);
  for (guint i = 10; i < 20; i++)
    {
      g_autofree char *reply = bp_control_read_reply (f.h->ctl, BP_WAIT_MS);
      g_assert_cmpstr (reply, ==, "ok");
    }
  g_assert_true (FAKE_WAIT_UNTIL (received_at_least (&f, f.dev1, f.counter, 20), BP_WAIT_MS));
  g_assert_true (fake_bluez_sync (f.h->bluez));
  assert_received (&f, f.dev1, f.counter, 0, 20);
  fixture_teardown (&f);
}

/* A bonded central reconnects subscribed and (5.69+) gets no socket while
 * the other has one: both still get every value once. */
static void
test_bonded (void)
{
  Fixture f = { 0 };

  fixture_setup (&f);
  fake_bluez_set_device_bonded (f.h->bluez, f.dev2, TRUE);
  subscribe (&f, f.dev2, ADDR2, f.counter, "s/counter");
  fake_bluez_set_connected (f.h->bluez, f.dev2, FALSE);
  g_free (bp_control_wait_event (f.events, "event disconnect " ADDR2, BP_WAIT_MS));
  fake_bluez_set_connected (f.h->bluez, f.dev2, TRUE);
  g_free (bp_control_wait_event (f.events, "event connect " ADDR2, BP_WAIT_MS));
  subscribe (&f, f.dev1, ADDR1, f.counter, "s/counter");
  notify_values (&f, "s/counter", 0, N_VALUES);
  g_assert_true (FAKE_WAIT_UNTIL (
    received_at_least (&f, f.dev1, f.counter, N_VALUES) && received_at_least (&f, f.dev2, f.counter, N_VALUES), 10000));
  g_assert_true (fake_bluez_sync (f.h->bluez));
  assert_received (&f, f.dev1, f.counter, 0, N_VALUES);
  assert_received (&f, f.dev2, f.counter, 0, N_VALUES);
  fixture_teardown (&f);
}

/* Indication confirmations: Confirm() before 5.76 (no address), nothing in
 * 5.76–5.79, a byte on the central's socket from 5.80 (with its address). */
static void
test_confirm (void)
{
  Fixture f = { 0 };
  g_autofree char *ev = NULL;

  fixture_setup (&f);
  subscribe (&f, f.dev1, ADDR1, f.alarm, "s/alarm");
  g_free (bp_assert_request_ok (f.h->ctl, "notify s/alarm 01"));
  if (f.version >= 576 && f.version < 580)
    {
      /* Nothing to report: no confirm event may appear (bounded look). */
      g_assert_true (FAKE_WAIT_UNTIL (received_at_least (&f, f.dev1, f.alarm, 1), BP_WAIT_MS));
      g_assert_true (fake_bluez_sync (f.h->bluez));
      while ((ev = bp_control_next_event (f.events, 300)) != NULL)
        {
          g_assert_false (g_str_has_prefix (ev, "event confirm"));
          g_clear_pointer (&ev, g_free);
        }
      fixture_teardown (&f);
      return;
    }
  ev = bp_control_wait_event (f.events, "event confirm", BP_WAIT_MS);
  g_assert_cmpstr (ev, ==, f.version >= 580 ? "event confirm s/alarm " ADDR1 : "event confirm s/alarm");
  fixture_teardown (&f);
}

/* Writes without response on the write socket(s): in order per central,
 * with the writer's address where the socket is one central's, bounded by
 * MaxLength. */
static void
test_writes (void)
{
  Fixture f = { 0 };
  guint next[2] = { 0, 0 };

  fixture_setup (&f);
  for (guint i = 0; i < 40; i++)
    {
      g_autoptr (GError) error = NULL;
      guint8 v[2] = { (guint8) (i % 2), (guint8) (i / 2) };

      g_assert_true (fake_bluez_write_value (f.h->bluez, f.rx, i % 2 ? f.dev2 : f.dev1, 0, v, sizeof v, &error));
      g_assert_no_error (error);
    }
  for (guint i = 0; i < 40; i++)
    {
      g_autofree char *ev = bp_control_wait_event (f.events, "event write s/rx ", BP_WAIT_MS);
      g_auto (GStrv) w = NULL;
      guint who, seq;

      g_assert_nonnull (ev);
      w = g_strsplit (ev, " ", -1);
      g_assert_cmpuint (g_strv_length (w), ==, 5);
      g_assert_cmpuint (strlen (w[4]), ==, 4);
      who = (guint) g_ascii_strtoull (w[4], NULL, 16) >> 8;
      seq = (guint) g_ascii_strtoull (w[4] + 2, NULL, 16);
      g_assert_cmpuint (who, <, 2);
      g_assert_cmpuint (seq, ==, next[who]);
      next[who]++;
      /* Never a wrong address: 5.66 shares one socket among the centrals
       * (unknown, "-", while both are connected); from 5.69 each central's
       * own, known once a second socket proved it (from the third write). */
      if (f.version < 569)
        g_assert_cmpstr (w[3], ==, "-");
      else if (i >= 2)
        g_assert_cmpstr (w[3], ==, who ? ADDR2 : ADDR1);
      else
        g_assert_true (g_str_equal (w[3], "-") || g_str_equal (w[3], who ? ADDR2 : ADDR1));
    }
  g_assert_cmpuint (next[0] + next[1], ==, 40);
  {
    /* The longest write arrives whole, as one message. */
    g_autoptr (GError) error = NULL;
    g_autofree char *ev = NULL;
    guint8 big[512];

    memset (big, 0xab, sizeof big);
    g_assert_true (fake_bluez_write_value (f.h->bluez, f.rx, f.dev2, 0, big, sizeof big, &error));
    ev = bp_control_wait_event (f.events, "event write s/rx ", BP_WAIT_MS);
    g_assert_nonnull (ev);
    g_assert_cmpuint (strlen (strrchr (ev, ' ') + 1), ==, 1024);
  }
  fixture_teardown (&f);
}

int
main (int argc, char **argv)
{
  static const struct {
    const char *name;
    GTestFunc func;
  } cases[] = {
    { "two-centrals", test_two_centrals },
    { "to", test_to },
    { "disconnect", test_disconnect },
    { "closed-unseen", test_closed_unseen },
    { "bonded", test_bonded },
    { "confirm", test_confirm },
    { "writes", test_writes },
    { "flood", test_flood },
  };

  bp_test_init (&argc, &argv);
  for (guint v = 0; v < G_N_ELEMENTS (versions); v++)
    for (guint c = 0; c < G_N_ELEMENTS (cases); c++)
      {
        g_autofree char *path = g_strdup_printf ("/fastpath/%u.%u/%s", versions[v] / 100, versions[v] % 100,
                                                 cases[c].name);
        bp_test_add (path, cases[c].func);
      }
  return g_test_run ();
}
