/* [Channel NAME] in the real daemon process against the stand-in bluetoothd:
 * the producer sockets beside the control socket, their modes, the PSM
 * characteristic in the registered application, status, ble-peripheralctl
 * and libble-peripheral's channel calls, reload and shutdown. Where the
 * kernel has no AF_BLUETOOTH (this build host, a container) the channel
 * cannot listen: the daemon says so and serves everything else — which is
 * what this checks too. The L2CAP socket itself is proven on the virtual
 * radio (tests/e2e/scenarios/channel.sh); frames through the channel server
 * in test-channels.c. */
#define G_LOG_DOMAIN "test-channel-daemon"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ble-peripheral/client.h"
#include "harness.h"

#define PSM_UUID "abdd3056-28fa-441d-a470-55a75a52553a"

static const char config_text[] =
  "[Peripheral]\nName=chan\n"
  "[Service cam]\nUUID=0xFFF0\n"
  "[Characteristic cam/shot]\nUUID=0xFFF1\nFlags=read,notify\n"
  "[Channel video]\nService=cam\nPSM=0x85\n"
  "[Channel log]\nFraming=sdu\n";

static const char config_without_video[] =
  "[Peripheral]\nName=chan\n"
  "[Service cam]\nUUID=0xFFF0\n"
  "[Characteristic cam/shot]\nUUID=0xFFF1\nFlags=read,notify\n"
  "[Channel log]\nFraming=sdu\n";

typedef struct {
  gboolean done;
  char *out, *err;
} CtlRun;

static void
ctl_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CtlRun *run = user_data;

  g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &run->out, &run->err, NULL);
  run->done = TRUE;
}

/* ble-peripheralctl ARGS… (NULL-terminated) on the harness's socket: its exit status. */
static int
run_ctl (BpHarness *h, char **err, ...)
{
  g_autoptr (GPtrArray) argv = g_ptr_array_new_with_free_func (g_free);
  g_autoptr (GSubprocessLauncher) launcher = g_subprocess_launcher_new (
    G_SUBPROCESS_FLAGS_STDIN_PIPE | G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_autoptr (GSubprocess) p = NULL;
  g_autoptr (GError) error = NULL;
  CtlRun run = { 0 };
  const char *arg;
  va_list ap;

  g_ptr_array_add (argv, g_build_filename (g_getenv ("BP_BUILD_ROOT"), "src", "ctl", "ble-peripheralctl", NULL));
  va_start (ap, err);
  while ((arg = va_arg (ap, const char *)) != NULL)
    g_ptr_array_add (argv, g_strdup (arg));
  va_end (ap);
  g_ptr_array_add (argv, NULL);
  g_subprocess_launcher_setenv (launcher, "BLE_PERIPHERAL_SOCKET", h->socket_path, TRUE);
  p = g_subprocess_launcher_spawnv (launcher, (const char *const *) argv->pdata, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8_async (p, "", NULL, ctl_done, &run);
  if (!FAKE_WAIT_UNTIL (run.done, BP_WAIT_MS))
    {
      g_subprocess_force_exit (p);
      g_error ("ble-peripheralctl %s did not finish in time", (char *) argv->pdata[1]);
    }
  g_test_message ("ble-peripheralctl → %d\n%s%s", g_subprocess_get_exit_status (p), run.out, run.err);
  if (err != NULL)
    *err = g_strdup (run.err);
  g_free (run.out);
  g_free (run.err);
  return g_subprocess_get_exit_status (p);
}

static gboolean
status_has (BpHarness *h, const char *word)
{
  g_autofree char *status = bp_assert_request_ok (h->ctl, "status");
  return strstr (status, word) != NULL;
}

static void
test_daemon (void)
{
  g_autoptr (BpHarness) h = bp_harness_new (config_text, BP_HARNESS_NONE);
  g_autofree char *dir = g_path_get_dirname (h->socket_path);
  g_autofree char *chdir_ = g_build_filename (dir, "channel", NULL);
  g_autofree char *video = g_build_filename (chdir_, "video", NULL);
  g_autofree char *video_addr = g_build_filename (chdir_, "video.addr", NULL);
  g_autofree char *frame_file = g_build_filename (dir, "frame.bin", NULL);
  g_autofree char *err = NULL;
  FakeApplication *app = fake_bluez_get_active_application (h->bluez);
  struct stat st;
  int fd;

  /* The PSM characteristic is in the registered database, holding the fixed PSM. */
  g_assert_nonnull (app);
  g_assert_nonnull (fake_application_find_characteristic (app, PSM_UUID));
  {
    g_autofree char *reply = bp_assert_request_ok (h->ctl, "get cam/video.psm");
    g_assert_cmpstr (reply, ==, "ok 8500");
  }

  /* The producer sockets, with the control socket's mode. */
  g_assert_cmpint (stat (video, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));
  g_assert_cmpint (st.st_mode & 0777, ==, 0660);
  g_assert_cmpint (stat (video_addr, &st), ==, 0);
  g_assert_true (S_ISSOCK (st.st_mode));
  g_assert_cmpint (stat (chdir_, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0777, ==, 0755);

  /* Without AF_BLUETOOTH (as here) the daemon says why and goes on; with it, it listens. */
  g_assert_true (bp_daemon_wait_log (h->daemon, 0, "[Channel video] ", BP_WAIT_MS));
  if (strstr (bp_daemon_get_log (h->daemon), "[Channel video] cannot listen on") != NULL)
    g_assert_true (status_has (h, "channel.video.psm=0 channel.video.open=0"));
  else
    g_assert_true (status_has (h, "channel.video.psm=133 channel.video.open=0"));
  g_assert_true (status_has (h, "channel.log.open=0"));

  /* libble-peripheral: a producer connects; status counts it. */
  fd = bp_client_channel_open (h->socket_path, "video", 1);
  g_assert_cmpint (fd, >=, 0);
  g_assert_true (FAKE_WAIT_UNTIL (status_has (h, "channel.video.producers=1"), BP_WAIT_MS));
  g_assert_cmpint (bp_client_channel_send (fd, 1, NULL, "frame", 5), ==, 0);
  g_assert_cmpint (bp_client_channel_send (fd, 1, "00:BB:00:00:00:01", "frame", 5), ==, 0);
  g_assert_cmpint (bp_client_channel_send (fd, 0, "00:BB:00:00:00:01", "frame", 5), ==, -1);
  g_assert_cmpint (errno, ==, EINVAL);
  close (fd);
  g_assert_cmpint (bp_client_channel_open (h->socket_path, "nope", 0), ==, -1);
  g_assert_cmpint (errno, ==, ENOENT);

  /* ble-peripheralctl: a file as a frame (no central: it goes nowhere, and that is no error). */
  g_assert_true (g_file_set_contents (frame_file, "\xff\xd8 jpeg \xff\xd9", 10, NULL));
  g_assert_cmpint (run_ctl (h, NULL, "channel", "send", "video", frame_file, NULL), ==, 0);
  g_assert_cmpint (run_ctl (h, NULL, "channel", "send", "video", frame_file, "--to", "00:BB:00:00:00:01", NULL), ==, 0);
  g_assert_cmpint (run_ctl (h, &err, "channel", "receive", "nope", "1", NULL), ==, 1);
  g_assert_nonnull (strstr (err, "no such [Channel NAME]"));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (run_ctl (h, NULL, "channel", "twiddle", "video", NULL), ==, 2);
  g_assert_cmpint (run_ctl (h, NULL, "channel", "receive", "video", "0", NULL), ==, 2);
  /* The daemon is still fine. */
  g_assert_true (status_has (h, "channel.video.dropped=0"));

  /* Reload without the video channel: its sockets go, the log channel's stay. */
  bp_harness_write_config (h, config_without_video);
  bp_daemon_send_signal (h->daemon, SIGHUP);
  /* (the two go one after the other: wait for both) */
  g_assert_true (FAKE_WAIT_UNTIL (
    !g_file_test (video, G_FILE_TEST_EXISTS) && !g_file_test (video_addr, G_FILE_TEST_EXISTS), BP_WAIT_MS));
  {
    g_autofree char *log_sock = g_build_filename (chdir_, "log", NULL);
    g_assert_true (g_file_test (log_sock, G_FILE_TEST_EXISTS));
  }
  g_assert_true (FAKE_WAIT_UNTIL (!status_has (h, "channel.video."), BP_WAIT_MS));

  /* Shutdown removes the sockets and their folder. */
  g_unlink (frame_file);
  bp_harness_stop_daemon (h);
  g_assert_false (g_file_test (chdir_, G_FILE_TEST_EXISTS));
}

static void
test_check_config (void)
{
  g_autofree char *dir = g_dir_make_tmp ("test-channel-XXXXXX", NULL);
  g_autofree char *path = g_build_filename (dir, "ble-peripheral.conf", NULL);
  const char *args[] = { "--check-config", "--config", path, NULL };
  g_autoptr (BpRun) run = NULL;

  g_assert_true (g_file_set_contents (path, config_text, -1, NULL));
  run = bp_run_daemon (args, BP_WAIT_MS);
  g_assert_cmpint (run->status, ==, 0);
  g_assert_nonnull (strstr (run->out, "channel video: L2CAP LE credit-based, PSM 0x85"));
  g_assert_nonnull (strstr (run->out, "characteristic cam/video.psm: "));
  g_unlink (path);
  g_rmdir (dir);
}

int
main (int argc, char **argv)
{
  bp_test_init (&argc, &argv);
  bp_test_add ("/channel-daemon/sockets-status-ctl-reload", test_daemon);
  bp_test_add ("/channel-daemon/check-config", test_check_config);
  return g_test_run ();
}
