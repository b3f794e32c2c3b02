/* Pairing ([Security]): the built-in agent against the stand-in's
 * AgentManager1 — registration as the default agent with the mode's IO
 * capability, again after bluetoothd returns; answers only for the
 * adapter's devices and only to bluetoothd; the pairing window and
 * Pairable; confirm requests answered by producers, refused on timeout or
 * Cancel; bonds, forget; AllowedCentrals=bonded. */
#define G_LOG_DOMAIN "test-pairing"

#include <string.h>

#include "harness.h"

#define BODY                   \
  "[Service s]\n"              \
  "UUID=0xFFF0\n"              \
  "\n"                         \
  "[Characteristic s/value]\n" \
  "UUID=0xFFF1\n"              \
  "Flags=read,encrypt-read\n"  \
  "Initial=2a\n"               \
  "\n"                         \
  "[Characteristic s/cmd]\n"   \
  "UUID=0xFFF2\n"              \
  "Flags=write\n"

#define ADDR1 "00:AA:01:01:00:01"
#define ADDR2 "00:AA:01:01:00:02"
#define OTHER_ADAPTER_DEVICE "/org/bluez/hci1/dev_00_AA_01_00_00_00"

static BpHarness *
start (const char *security)
{
  g_autofree char *config = g_strdup_printf ("[Peripheral]\nName=bp-test\n\n[Security]\n%s\n%s", security, BODY);
  return bp_harness_new (config, BP_HARNESS_NONE);
}

/* Waits until the daemon is bluetoothd's default agent. */
static const char *
wait_agent (BpHarness *h, const char *capability)
{
  const char *cap = NULL;
  const char *path = NULL;

  g_assert_true (FAKE_WAIT_UNTIL (fake_bluez_get_default_agent (h->bluez, &path, &cap) != NULL, BP_WAIT_MS));
  g_assert_cmpstr (cap, ==, capability);
  g_assert_cmpstr (path, ==, "/org/bleperipheral/agent");
  g_assert_true (bp_control_wait_status (h->ctl, "agent", "yes", BP_WAIT_MS));
  return fake_bluez_get_default_agent (h->bluez, NULL, NULL);
}

static void
assert_error_reply (BpControl *c, const char *request, const char *prefix)
{
  g_autofree char *reply = bp_control_request (c, "%s", request);

  if (reply == NULL || !g_str_has_prefix (reply, prefix))
    g_error ("request \"%s\": expected \"%s…\", got %s", request, prefix, reply ? reply : "(nothing)");
}

static void
test_off (void)
{
  g_autoptr (BpHarness) h = start ("Pairing=off");
  g_autofree char *status = bp_assert_request_ok (h->ctl, "status");
  g_autofree char *bonds = bp_assert_request_ok (h->ctl, "bonds");
  g_autofree char *pairing = bp_status_get (status, "pairing");
  g_autofree char *nbonds = bp_status_get (status, "bonds");

  g_assert_cmpstr (pairing, ==, "off");
  g_assert_cmpstr (nbonds, ==, "0");
  g_assert_cmpstr (bonds, ==, "ok");
  /* No agent: bluetoothd refuses the pairing. */
  g_assert_true (fake_bluez_sync (h->bluez));
  g_assert_cmpuint (fake_bluez_count_agents (h->bluez), ==, 0);
  {
    g_autoptr (GError) error = NULL;
    const char *dev = fake_bluez_add_device (h->bluez, ADDR1, 23);
    g_assert_false (fake_bluez_pair (h->bluez, dev, "RequestAuthorization", 0, &error));
    g_assert_false (fake_bluez_device_is_bonded (h->bluez, dev));
  }
  assert_error_reply (h->ctl, "pairing on", "error pairing-off: pairing on: [Security] Pairing=off");
  assert_error_reply (h->ctl, "pairing accept " ADDR1, "error pairing-off: pairing accept: ");
  assert_error_reply (h->ctl, "forget " ADDR1, "error unknown-bond: forget " ADDR1 ": no central");
}

static void
test_just_works (void)
{
  g_autoptr (BpHarness) h = start ("Pairing=just-works");
  g_autoptr (GError) error = NULL;
  g_autofree char *event = NULL;
  g_autofree char *bonds = NULL;
  const char *dev;

  wait_agent (h, "NoInputNoOutput");
  g_assert_true (fake_bluez_get_pairable (h->bluez));
  g_assert_true (bp_control_wait_status (h->ctl, "window", "open", BP_WAIT_MS));
  g_free (bp_assert_request_ok (h->ctl, "watch pairing"));

  dev = fake_bluez_add_device (h->bluez, ADDR1, 23);
  g_assert_true (fake_bluez_pair (h->bluez, dev, "RequestAuthorization", 0, &error));
  g_assert_no_error (error);
  event = bp_control_wait_event (h->ctl, "event paired", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event paired " ADDR1);
  bonds = bp_assert_request_ok (h->ctl, "bonds");
  g_assert_cmpstr (bonds, ==, "ok " ADDR1);
  g_assert_true (bp_control_wait_status (h->ctl, "bonds", "1", BP_WAIT_MS));

  /* One bluetoothd, several adapters: another adapter's device is refused. */
  g_assert_false (fake_request_finish_agent (
    fake_bluez_agent_request_begin (h->bluez, "RequestAuthorization", OTHER_ADAPTER_DEVICE, 0), &error));
  fake_assert_dbus_error (error, "org.bluez.Error.Rejected");
  g_clear_error (&error);

  /* forget: RemoveDevice; the bond is gone; forgetting again is an error. */
  g_free (bp_assert_request_ok (h->ctl, "forget %s", ADDR1));
  g_assert_true (FAKE_WAIT_UNTIL (fake_bluez_device_is_bonded (h->bluez, dev) == FALSE, BP_WAIT_MS));
  g_clear_pointer (&bonds, g_free);
  bonds = bp_assert_request_ok (h->ctl, "bonds");
  g_assert_cmpstr (bonds, ==, "ok");
  assert_error_reply (h->ctl, "forget " ADDR1, "error unknown-bond: forget " ADDR1 ": no central " ADDR1);
  assert_error_reply (h->ctl, "forget 00:AA", "error bad-value: forget: address");
  assert_error_reply (h->ctl, "pairing accept " ADDR1, "error not-pending: pairing accept: no pairing request");
}

/* Only bluetoothd may call the agent. */
static void
test_sender_checked (void)
{
  g_autoptr (BpHarness) h = start ("Pairing=just-works");
  const char *owner = wait_agent (h, "NoInputNoOutput");
  g_autoptr (GError) error = NULL;
  g_autoptr (GDBusConnection) other = g_dbus_connection_new_for_address_sync (
    bp_bus_get_address (h->bus),
    G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION, NULL, NULL, &error);
  g_autoptr (GVariant) reply = NULL;

  g_assert_no_error (error);
  reply = g_dbus_connection_call_sync (other, owner, "/org/bleperipheral/agent", "org.bluez.Agent1",
                                       "RequestAuthorization",
                                       g_variant_new ("(o)", "/org/bluez/hci0/dev_00_AA_01_01_00_01"), NULL,
                                       G_DBUS_CALL_FLAGS_NONE, BP_WAIT_MS, NULL, &error);
  g_assert_null (reply);
  fake_assert_dbus_error (error, "org.bluez.Error.NotAuthorized");
}

static void
test_window (void)
{
  g_autoptr (BpHarness) h = start ("Pairing=just-works\nPairingWindow=2s");
  g_autoptr (GError) error = NULL;
  g_autofree char *event = NULL;
  const char *dev;

  wait_agent (h, "NoInputNoOutput");
  g_assert_true (FAKE_WAIT_UNTIL (fake_bluez_get_pairable_timeout (h->bluez) > 0, BP_WAIT_MS));
  g_assert_cmpuint (fake_bluez_get_pairable_timeout (h->bluez), <=, 2);
  g_free (bp_assert_request_ok (h->ctl, "watch pairing"));

  /* The window closes by itself: not pairable, the agent refuses. */
  g_assert_true (bp_control_wait_status (h->ctl, "window", "closed", 10000));
  g_assert_true (FAKE_WAIT_UNTIL (!fake_bluez_get_pairable (h->bluez), BP_WAIT_MS));
  dev = fake_bluez_add_device (h->bluez, ADDR1, 23);
  g_assert_false (fake_bluez_pair (h->bluez, dev, "RequestAuthorization", 0, &error));
  fake_assert_dbus_error (error, "org.bluez.Error.Rejected");
  g_clear_error (&error);
  event = bp_control_wait_event (h->ctl, "event pairing-failed", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event pairing-failed " ADDR1 " window-closed");

  /* pairing on DURATION opens it again, for that long. */
  assert_error_reply (h->ctl, "pairing on 5", "error bad-value: pairing on: \"5\" is not a duration");
  assert_error_reply (h->ctl, "pairing maybe", "error bad-request: pairing: unknown \"maybe\"");
  g_assert_true (bp_control_wait_status (h->ctl, "window", "closed", BP_WAIT_MS));
  g_free (bp_assert_request_ok (h->ctl, "pairing on 1min"));
  g_assert_true (FAKE_WAIT_UNTIL (fake_bluez_get_pairable (h->bluez), BP_WAIT_MS));
  g_assert_cmpuint (fake_bluez_get_pairable_timeout (h->bluez), ==, 60);
  g_assert_true (bp_control_wait_status (h->ctl, "window", "open", BP_WAIT_MS));
  g_assert_true (fake_bluez_pair (h->bluez, dev, "RequestAuthorization", 0, &error));
  g_assert_no_error (error);

  g_free (bp_assert_request_ok (h->ctl, "pairing off"));
  g_assert_true (FAKE_WAIT_UNTIL (!fake_bluez_get_pairable (h->bluez), BP_WAIT_MS));
  g_assert_true (bp_control_wait_status (h->ctl, "window", "closed", BP_WAIT_MS));
}

static void
test_confirm (void)
{
  g_autoptr (BpHarness) h = start ("Pairing=confirm\nConfirmTimeout=1s");
  g_autoptr (GError) error = NULL;
  g_autofree char *event = NULL;
  FakeRequest *req;
  const char *dev;

  wait_agent (h, "DisplayYesNo");
  g_free (bp_assert_request_ok (h->ctl, "watch pairing"));
  dev = fake_bluez_add_device (h->bluez, ADDR1, 23);

  /* A producer rejects: the pairing fails. */
  req = fake_bluez_agent_request_begin (h->bluez, "RequestConfirmation", dev, 12345);
  event = bp_control_wait_event (h->ctl, "event pairing ", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event pairing " ADDR1 " confirm 012345");
  assert_error_reply (h->ctl, "pairing accept " ADDR2,
                      "error not-pending: pairing accept: no pairing request from " ADDR2);
  g_free (bp_assert_request_ok (h->ctl, "pairing reject %s", ADDR1));
  g_assert_false (fake_request_finish_agent (req, &error));
  fake_assert_dbus_error (error, "org.bluez.Error.Rejected");
  g_clear_error (&error);
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (h->ctl, "event pairing-failed", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event pairing-failed " ADDR1 " rejected");
  assert_error_reply (h->ctl, "pairing accept " ADDR1, "error not-pending: ");

  /* Accepts: it succeeds. */
  req = fake_bluez_agent_request_begin (h->bluez, "RequestAuthorization", dev, 0);
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (h->ctl, "event pairing ", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event pairing " ADDR1 " authorize");
  g_free (bp_assert_request_ok (h->ctl, "pairing accept %s", ADDR1));
  g_assert_true (fake_request_finish_agent (req, &error));
  g_assert_no_error (error);

  /* No answer in time: refused; a late answer is an error. */
  req = fake_bluez_agent_request_begin (h->bluez, "RequestConfirmation", dev, 999999);
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (h->ctl, "event pairing-failed", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event pairing-failed " ADDR1 " timeout");
  g_assert_false (fake_request_finish_agent (req, &error));
  fake_assert_dbus_error (error, "org.bluez.Error.Rejected");
  g_clear_error (&error);
  assert_error_reply (h->ctl, "pairing accept " ADDR1, "error not-pending: ");

  /* bluetoothd cancels: the request ends, a later answer is an error. */
  req = fake_bluez_agent_request_begin (h->bluez, "RequestConfirmation", dev, 1);
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (h->ctl, "event pairing ", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event pairing " ADDR1 " confirm 000001");
  g_assert_true (fake_bluez_agent_cancel (h->bluez));
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (h->ctl, "event pairing-failed", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event pairing-failed " ADDR1 " canceled");
  assert_error_reply (h->ctl, "pairing reject " ADDR1, "error not-pending: ");
  /* bluetoothd gave the call up itself: what it got does not matter. */
  fake_request_finish_agent (req, NULL);
}

/* Only a device's own path (…/dev_XX_XX_XX_XX_XX_XX) under our adapter is
 * asked about: anything else is refused at once, and no event names it. */
static void
test_bad_device_path (void)
{
  g_autoptr (BpHarness) h = start ("Pairing=confirm");
  const char *paths[] = { "/org/bluez/hci0/1", "/org/bluez/hci0/dev_zz_AA_01_01_00_01",
                          "/org/bluez/hci0/dev_00AA_01_01_00_01_" };

  wait_agent (h, "DisplayYesNo");
  g_free (bp_assert_request_ok (h->ctl, "watch pairing"));
  for (guint i = 0; i < G_N_ELEMENTS (paths); i++)
    {
      g_autoptr (GError) error = NULL;
      FakeRequest *req = fake_bluez_agent_request_begin (h->bluez, "RequestConfirmation", paths[i], 1);

      g_assert_false (fake_request_finish_agent (req, &error));
      fake_assert_dbus_error (error, "org.bluez.Error.Rejected");
    }
  /* A real device's request is the first event the producer sees. */
  {
    const char *dev = fake_bluez_add_device (h->bluez, ADDR1, 23);
    g_autofree char *event = NULL;
    FakeRequest *req = fake_bluez_agent_request_begin (h->bluez, "RequestAuthorization", dev, 0);

    event = bp_control_wait_event (h->ctl, "event pairing", BP_WAIT_MS);
    g_assert_cmpstr (event, ==, "event pairing " ADDR1 " authorize");
    g_free (bp_assert_request_ok (h->ctl, "pairing accept %s", ADDR1));
    g_assert_true (fake_request_finish_agent (req, NULL));
  }
}

static void
test_display (void)
{
  g_autoptr (BpHarness) h = start ("Pairing=display");
  g_autoptr (GError) error = NULL;
  g_autofree char *event = NULL;
  const char *dev;
  gsize from = bp_daemon_get_log_length (h->daemon);

  wait_agent (h, "DisplayOnly");
  g_free (bp_assert_request_ok (h->ctl, "watch pairing"));
  dev = fake_bluez_add_device (h->bluez, ADDR1, 23);
  g_assert_true (fake_bluez_agent_display_passkey (h->bluez, dev, 4242, 0));
  event = bp_control_wait_event (h->ctl, "event pairing ", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event pairing " ADDR1 " passkey 004242");
  g_assert_true (bp_daemon_wait_log (h->daemon, from, "passkey 004242", BP_WAIT_MS));
  /* Key presses repeat DisplayPasskey: one event only. */
  g_assert_true (fake_bluez_agent_display_passkey (h->bluez, dev, 4242, 1));
  g_assert_true (fake_bluez_sync (h->bluez));
  g_assert_null (bp_control_next_event (h->ctl, 300));

  /* Just Works would give a bond without MITM: refused. */
  g_assert_false (fake_bluez_pair (h->bluez, dev, "RequestAuthorization", 0, &error));
  fake_assert_dbus_error (error, "org.bluez.Error.Rejected");
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (h->ctl, "event pairing-failed", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event pairing-failed " ADDR1 " no-mitm");
}

static void
test_allowed_bonded (void)
{
  g_autoptr (BpHarness) h = start ("Pairing=just-works\nAllowedCentrals=bonded");
  g_autoptr (BpControl) watcher = bp_harness_connect (h);
  g_autoptr (GError) error = NULL;
  g_autoptr (GBytes) value = NULL;
  g_autofree char *event = NULL;
  const char *cmd = bp_harness_characteristic_path (h, "0xFFF2");
  const char *val = bp_harness_characteristic_path (h, "0xFFF1");
  const char *stranger, *friend;

  wait_agent (h, "NoInputNoOutput");
  g_free (bp_assert_request_ok (watcher, "watch write connect"));
  friend = fake_bluez_add_device (h->bluez, ADDR1, 23);
  g_assert_true (fake_bluez_pair (h->bluez, friend, "RequestAuthorization", 0, &error));
  g_assert_true (bp_control_wait_status (h->ctl, "bonds", "1", BP_WAIT_MS));

  g_free (bp_assert_request_ok (h->ctl, "pairing off"));
  stranger = fake_bluez_add_device (h->bluez, ADDR2, 23);

  /* Before the disconnection lands, its reads and writes get 0x08 and reach nobody. */
  g_assert_false (fake_bluez_write_value (h->bluez, cmd, stranger, 0, "\x01", 1, &error));
  g_assert_cmpuint (fake_error_to_att (error, TRUE), ==, 0x08);
  g_clear_error (&error);
  value = fake_bluez_read_value (h->bluez, val, stranger, 0, &error);
  g_assert_null (value);
  g_assert_cmpuint (fake_error_to_att (error, FALSE), ==, 0x08);
  g_clear_error (&error);

  /* On connection it is disconnected. */
  fake_bluez_set_connected (h->bluez, stranger, TRUE);
  g_assert_true (FAKE_WAIT_UNTIL (fake_bluez_get_n_disconnect_calls (h->bluez, stranger) == 1, BP_WAIT_MS));
  g_assert_false (fake_bluez_device_is_connected (h->bluez, stranger));

  /* The bonded central is served. */
  fake_bluez_set_connected (h->bluez, friend, TRUE);
  g_assert_true (fake_bluez_write_value (h->bluez, cmd, friend, 0, "\x02", 1, &error));
  g_assert_no_error (error);
  event = bp_control_wait_event (watcher, "event write", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event write s/cmd " ADDR1 " 02");
  g_assert_cmpuint (fake_bluez_get_n_disconnect_calls (h->bluez, friend), ==, 0);

  /* Inside the window everyone is served. */
  g_free (bp_assert_request_ok (h->ctl, "pairing on"));
  g_assert_true (fake_bluez_write_value (h->bluez, cmd, stranger, 0, "\x03", 1, &error));
  g_assert_no_error (error);
  g_clear_pointer (&event, g_free);
  event = bp_control_wait_event (watcher, "event write", BP_WAIT_MS);
  g_assert_cmpstr (event, ==, "event write s/cmd " ADDR2 " 03");

  /* Connected inside the window, it goes when the window closes; the bonded one stays. */
  fake_bluez_set_connected (h->bluez, stranger, TRUE);
  g_assert_true (fake_bluez_sync (h->bluez));
  g_assert_cmpuint (fake_bluez_get_n_disconnect_calls (h->bluez, stranger), ==, 1);
  g_free (bp_assert_request_ok (h->ctl, "pairing off"));
  g_assert_true (FAKE_WAIT_UNTIL (fake_bluez_get_n_disconnect_calls (h->bluez, stranger) == 2, BP_WAIT_MS));
  g_assert_false (fake_bluez_device_is_connected (h->bluez, stranger));
  g_assert_true (fake_bluez_device_is_connected (h->bluez, friend));
  g_assert_cmpuint (fake_bluez_get_n_disconnect_calls (h->bluez, friend), ==, 0);
}

/* bluetoothd restarts: the agent registers again. */
static void
test_bluez_restart (void)
{
  g_autoptr (BpHarness) h = start ("Pairing=confirm");
  g_autoptr (GError) error = NULL;

  wait_agent (h, "DisplayYesNo");
  fake_bluez_stop (h->bluez);
  g_assert_true (bp_control_wait_status (h->ctl, "agent", "no", BP_WAIT_MS));
  g_assert_true (fake_bluez_start (h->bluez, &error));
  g_assert_no_error (error);
  wait_agent (h, "DisplayYesNo");
  g_assert_cmpuint (fake_bluez_count_agents (h->bluez), ==, 1);
}

/* --- ble-peripheralctl and libble-peripheral ----------------------------- */

typedef struct {
  gboolean done;
  char *out;
  char *err;
} CtlRun;

static void
ctl_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CtlRun *run = user_data;
  g_autoptr (GError) error = NULL;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &run->out, &run->err, &error);
  g_assert_no_error (error);
  run->done = TRUE;
}

/* ble-peripheralctl args… against h's daemon, while the stand-in runs; its
 * exit status, stdout in *out. */
static int
ctl (BpHarness *h, char **out, char **err, const char *const *args)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GSubprocessLauncher) launcher = NULL;
  g_autoptr (GSubprocess) p = NULL;
  g_autoptr (GError) error = NULL;
  CtlRun run = { 0 };

  g_ptr_array_add (argv, g_build_filename (g_getenv ("BP_BUILD_ROOT"), "src", "ctl", "ble-peripheralctl", NULL));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, g_strdup (args[i]));
  g_ptr_array_add (argv, NULL);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "BLE_PERIPHERAL_SOCKET", h->socket_path, TRUE);
  p = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (p, NULL, NULL, ctl_done, &run);
  g_assert_true (FAKE_WAIT_UNTIL (run.done, 20000));
  *out = run.out;
  *err = run.err;
  return g_subprocess_get_exit_status (p);
}

#define CTL(h, out, err, ...) ctl (h, out, err, (const char *const[]) { __VA_ARGS__, NULL })

static void
test_ctl (void)
{
  g_autoptr (BpHarness) h = start ("Pairing=just-works\nPairingWindow=1min");
  g_autoptr (GError) error = NULL;
  const char *dev;

  wait_agent (h, "NoInputNoOutput");
  {
    g_autofree char *out = NULL, *err = NULL;
    g_assert_cmpint (CTL (h, &out, &err, "pairing", "off"), ==, 0);
    g_assert_true (FAKE_WAIT_UNTIL (!fake_bluez_get_pairable (h->bluez), BP_WAIT_MS));
  }
  {
    g_autofree char *out = NULL, *err = NULL;
    g_assert_cmpint (CTL (h, &out, &err, "pairing", "on", "2min"), ==, 0);
    g_assert_true (FAKE_WAIT_UNTIL (fake_bluez_get_pairable (h->bluez), BP_WAIT_MS));
    g_assert_cmpuint (fake_bluez_get_pairable_timeout (h->bluez), ==, 120);
  }
  {
    g_autofree char *out = NULL, *err = NULL;
    g_assert_cmpint (CTL (h, &out, &err, "pairing", "on", "soon"), ==, 2);
    g_assert_nonnull (strstr (err, "is not a duration"));
  }
  dev = fake_bluez_add_device (h->bluez, ADDR1, 23);
  g_assert_true (fake_bluez_pair (h->bluez, dev, "RequestAuthorization", 0, &error));
  g_assert_true (bp_control_wait_status (h->ctl, "bonds", "1", BP_WAIT_MS));
  {
    g_autofree char *out = NULL, *err = NULL;
    g_assert_cmpint (CTL (h, &out, &err, "bonds"), ==, 0);
    g_assert_cmpstr (out, ==, ADDR1 "\n");
  }
  {
    g_autofree char *out = NULL, *err = NULL;
    g_assert_cmpint (CTL (h, &out, &err, "pairing", "accept", ADDR1), ==, 1);
    g_assert_nonnull (strstr (err, "no pairing request from " ADDR1));
  }
  {
    g_autofree char *out = NULL, *err = NULL;
    g_assert_cmpint (CTL (h, &out, &err, "forget", ADDR1), ==, 0);
    g_assert_true (FAKE_WAIT_UNTIL (!fake_bluez_device_is_bonded (h->bluez, dev), BP_WAIT_MS));
  }
  {
    g_autofree char *out = NULL, *err = NULL;
    g_assert_cmpint (CTL (h, &out, &err, "forget", ADDR1), ==, 1);
    g_assert_nonnull (strstr (err, "no central " ADDR1 " is bonded"));
    g_clear_pointer (&out, g_free);
    g_clear_pointer (&err, g_free);
    g_assert_cmpint (CTL (h, &out, &err, "bonds"), ==, 0);
  }
}

int
main (int argc, char **argv)
{
  bp_test_init (&argc, &argv);
  bp_test_add ("/pairing/off", test_off);
  bp_test_add ("/pairing/just-works", test_just_works);
  bp_test_add ("/pairing/sender-checked", test_sender_checked);
  bp_test_add ("/pairing/window", test_window);
  bp_test_add ("/pairing/confirm", test_confirm);
  bp_test_add ("/pairing/bad-device-path", test_bad_device_path);
  bp_test_add ("/pairing/display", test_display);
  bp_test_add ("/pairing/allowed-bonded", test_allowed_bonded);
  bp_test_add ("/pairing/bluez-restart", test_bluez_restart);
  bp_test_add ("/pairing/ctl", test_ctl);
  return g_test_run ();
}
