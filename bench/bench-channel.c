/* bench-channel — the daemon's CPU per MB through an L2CAP channel, on the
 * host: the channel server (src/daemon/channel*.c) runs on this program's
 * main thread as in the daemon, a producer thread sends frames on the
 * channel's producer socket, and a central thread reads them from a
 * socketpair standing in for the L2CAP socket (the kernel's L2CAP work is
 * not counted: it would be the same for any program). The figure beside it
 * is bench/README.md's CPU per GATT notification of 244 bytes (the daemon's
 * thread only: bluetoothd and dbus-daemon are not counted there either).
 *
 *   bench-channel [MB] [FRAME-BYTES] [CENTRAL-MTU]    defaults: 64 16384 65535
 *
 * Prints "bench channel-cpu-ms-per-mb VALUE ms/MB" and the wall time. */
#define _GNU_SOURCE

#include <errno.h>
#include <glib-unix.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon/channel.h"
#include "daemon/peripheral.h"

static int central_fd[2];
static guint central_mtu = 65535;
static gsize frame_bytes = 16384;
static guint64 total_frames;
static char *producer_path;

static int
no_listen (const BpChannelConfig *c, const char *adapter_address, guint *psm, GError **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "no listener in the benchmark");
  return -1;
}

static int
no_accept (int listen_fd, char **address, guint *send_mtu, GError **error)
{
  g_set_error (error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK, "none");
  return -1;
}

static const BpL2capOps ops = { no_listen, no_accept };

static void *
producer_thread (void *data)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  guint8 *frame = g_malloc (frame_bytes);
  int fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  int big = 4 * 1024 * 1024;

  memset (frame, 0x5a, frame_bytes);
  g_strlcpy (addr.sun_path, producer_path, sizeof addr.sun_path);
  setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    g_error ("producer: connect: %s", g_strerror (errno));
  for (guint64 i = 0; i < total_frames; i++)
    if (send (fd, frame, frame_bytes, MSG_NOSIGNAL) != (gssize) frame_bytes)
      g_error ("producer: send: %s", g_strerror (errno));
  g_free (frame);
  /* stays connected: closing early is not part of the measure */
  return GINT_TO_POINTER (fd);
}

static gint64 central_done_at;
static volatile gboolean central_done;

static void *
central_thread (void *data)
{
  guint8 *sdu = g_malloc (65536);
  guint64 bytes = 0, want = total_frames * (frame_bytes + 4);

  while (bytes < want)
    {
      gssize n = recv (central_fd[1], sdu, 65536, 0);
      if (n <= 0)
        g_error ("central: recv: %s", n == 0 ? "closed" : g_strerror (errno));
      bytes += (guint64) n;
    }
  central_done_at = g_get_monotonic_time ();
  central_done = TRUE;
  g_main_context_wakeup (NULL);
  g_free (sdu);
  return NULL;
}

static double
thread_cpu_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int
main (int argc, char **argv)
{
  guint64 mb = argc > 1 ? g_ascii_strtoull (argv[1], NULL, 10) : 64;
  g_autofree char *dir = g_dir_make_tmp ("bench-channel-XXXXXX", NULL);
  g_autofree char *chdir_ = g_build_filename (dir, "channel", NULL);
  g_autoptr (GError) error = NULL;
  BpConfig *config;
  BpPeripheral *p;
  BpChannels *channels;
  pthread_t prod, cent;
  double cpu0, cpu1;
  gint64 t0;
  g_autofree char *conf = NULL;

  if (argc > 2)
    frame_bytes = g_ascii_strtoull (argv[2], NULL, 10);
  if (argc > 3)
    central_mtu = (guint) g_ascii_strtoull (argv[3], NULL, 10);
  total_frames = mb * 1024 * 1024 / frame_bytes;
  conf = g_strdup_printf ("[Peripheral]\nName=b\n[Channel bench]\nOnFull=wait\nQueueLength=8\n");
  config = bp_config_load_from_data (conf, -1, "bench.conf", &error);
  g_assert_no_error (error);
  p = bp_peripheral_new (config);
  channels = bp_channels_new (p, chdir_, 0600, NULL, &ops, NULL);
  producer_path = g_build_filename (chdir_, "bench", NULL);
  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, central_fd) < 0)
    g_error ("socketpair: %s", g_strerror (errno));
  g_unix_set_fd_nonblocking (central_fd[0], TRUE, NULL);
  if (!bp_channels_adopt (channels, "bench", central_fd[0], "00:BB:00:00:00:01", central_mtu, &error))
    g_error ("%s", error->message);

  t0 = g_get_monotonic_time ();
  cpu0 = thread_cpu_s ();
  pthread_create (&cent, NULL, central_thread, NULL);
  pthread_create (&prod, NULL, producer_thread, NULL);
  while (!central_done)
    g_main_context_iteration (NULL, TRUE);
  cpu1 = thread_cpu_s ();
  pthread_join (cent, NULL);
  {
    void *fd;
    pthread_join (prod, &fd);
    close (GPOINTER_TO_INT (fd));
  }
  {
    double mbytes = (double) (total_frames * frame_bytes) / (1024.0 * 1024.0);
    double wall = (double) (central_done_at - t0) / 1e6;

    printf (
      "channel: %.0f MB in frames of %zu bytes, central MTU %u (SDUs of %u): daemon thread %.3f CPU-s, "
      "%.2f s wall, %.0f MB/s\n",
      mbytes, frame_bytes, central_mtu, MIN (central_mtu, 16384), cpu1 - cpu0, wall, mbytes / wall);
    printf ("bench channel-cpu-ms-per-mb %.2f ms/MB\n", (cpu1 - cpu0) * 1000.0 / mbytes);
  }
  bp_channels_free (channels);
  bp_peripheral_free (p);
  g_rmdir (dir);
  return 0;
}
