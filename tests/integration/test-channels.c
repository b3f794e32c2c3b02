/* The channel server (src/daemon/channel*.c) in-process, with socketpairs
 * standing in for L2CAP sockets: the stand-in "kernel" below listens on a
 * Unix SOCK_SEQPACKET socket and accepts centrals with the MTU the test
 * chooses; the centrals are the test's own ends. Everything else is the
 * daemon's code: the producer sockets, framing, queues, OnFull, events, the
 * PSM characteristic, adapter loss and reload. The real L2CAP socket is
 * proven on the virtual radio (tests/e2e/scenarios/channel.sh). */
#define G_LOG_DOMAIN "test-channels"
#define _GNU_SOURCE /* accept4 */

#include "build-config.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <gio/gio.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "daemon/channel.h"
#include "daemon/peripheral.h"

#define ADAPTER "00:AA:01:00:00:01"
#define WAIT_MS 10000

/* ------------------------------------------------------------------------ */
/* The stand-in kernel */

static char *tmpdir;
static guint next_mtu = 672;
static guint next_central = 1;
static gboolean listen_fails;

static int
fake_listen (const BpChannelConfig *c, const char *adapter_address, guint *psm, GError **error)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  g_autofree char *path = g_strdup_printf ("%s/l2cap-%s", tmpdir, c->name);
  int fd;

  g_assert_cmpstr (adapter_address, ==, ADAPTER);
  if (listen_fails)
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_SUPPORTED, "socket(AF_BLUETOOTH): not supported");
      return -1;
    }
  unlink (path);
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (bind (fd, (struct sockaddr *) &addr, sizeof addr), ==, 0);
  g_assert_cmpint (listen (fd, 8), ==, 0);
  *psm = c->psm != 0 ? c->psm : 0x80 + (guint) (strlen (c->name) % 16); /* the "kernel's pick" */
  return fd;
}

static int
fake_accept (int listen_fd, char **address, guint *send_mtu, GError **error)
{
  int fd = accept4 (listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  int small = 4096;

  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "accept: %s", g_strerror (saved));
      return -1;
    }
  /* Few "credits": the daemon's end holds only a few SDUs in flight. */
  setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  *address = g_strdup_printf ("00:BB:00:00:00:%02X", next_central++);
  *send_mtu = next_mtu;
  return fd;
}

static const BpL2capOps fake_ops = { fake_listen, fake_accept };

/* ------------------------------------------------------------------------ */
/* The fixture */

typedef struct {
  BpPeripheral *p;
  BpChannels *channels;
  char *dir;         /* the producer sockets */
  GPtrArray *events; /* of char*: "open video 00:BB:00:00:00:01 mtu=672" */
  guint listener;
} Fixture;

static void
on_event (const BpEvent *ev, gpointer data)
{
  Fixture *f = data;

  switch (ev->type)
    {
    case BP_EVENT_CHANNEL_OPEN:
      g_ptr_array_add (f->events, g_strdup_printf ("open %s %s mtu=%u", ev->channel, ev->address, ev->mtu));
      break;
    case BP_EVENT_CHANNEL_CLOSE:
      g_ptr_array_add (f->events, g_strdup_printf ("close %s %s", ev->channel, ev->address));
      break;
    case BP_EVENT_CHANNEL_DROPPED:
      g_ptr_array_add (f->events,
                       g_strdup_printf ("dropped %s %s %" G_GUINT64_FORMAT, ev->channel, ev->address, ev->count));
      break;
    default:
      break;
    }
}

static BpConfig *
load (const char *text)
{
  g_autoptr (GError) error = NULL;
  BpConfig *config = bp_config_load_from_data (text, -1, "test.conf", &error);

  g_assert_no_error (error);
  return config;
}

#define BASE "[Peripheral]\nName=t\n[Service cam]\nUUID=0xFFF0\n[Service log]\nUUID=0xFFF1\n"

static void
fixture_setup (Fixture *f, gconstpointer data)
{
  const char *text = data;

  tmpdir = g_dir_make_tmp ("test-channels-XXXXXX", NULL);
  g_assert_nonnull (tmpdir);
  next_mtu = 672;
  next_central = 1;
  listen_fails = FALSE;
  f->dir = g_build_filename (tmpdir, "channel", NULL);
  f->events = g_ptr_array_new_with_free_func (g_free);
  f->p = bp_peripheral_new (load (text));
  f->listener = bp_peripheral_add_listener (f->p, on_event, f);
  f->channels = bp_channels_new (f->p, f->dir, 0600, NULL, &fake_ops, NULL);
}

static void
fixture_teardown (Fixture *f, gconstpointer data)
{
  g_autoptr (GDir) d = NULL;
  const char *name;

  bp_channels_free (f->channels);
  /* The daemon removed its producer sockets and their folder. */
  g_assert_false (g_file_test (f->dir, G_FILE_TEST_EXISTS));
  bp_peripheral_remove_listener (f->p, f->listener);
  bp_peripheral_free (f->p);
  g_ptr_array_unref (f->events);
  d = g_dir_open (tmpdir, 0, NULL);
  while ((name = g_dir_read_name (d)) != NULL)
    {
      g_autofree char *path = g_build_filename (tmpdir, name, NULL);
      unlink (path);
    }
  g_rmdir (tmpdir);
  g_clear_pointer (&tmpdir, g_free);
  g_free (f->dir);
}

static void
adapter (Fixture *f, gboolean up)
{
  BpEvent ev = { .type = BP_EVENT_ADAPTER, .address = ADAPTER, .on = up };
  bp_peripheral_emit (f->p, &ev);
}

/* ------------------------------------------------------------------------ */
/* Waiting: the main loop runs until the condition holds, at most WAIT_MS */

static gboolean
timeout_cb (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

static gboolean
fd_cb (int fd, GIOCondition cond, gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the loop until fd has cond (or the deadline): TRUE when it has. */
static gboolean
pump_until_fd (int fd, GIOCondition cond)
{
  gboolean ready = FALSE, expired = FALSE;
  guint src = g_unix_fd_add (fd, cond, fd_cb, &ready);
  guint timer = g_timeout_add (WAIT_MS, timeout_cb, &expired);

  while (!ready && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!ready)
    g_source_remove (src);
  if (!expired)
    g_source_remove (timer);
  return ready;
}

static gboolean
has_event (Fixture *f, const char *text)
{
  for (guint i = 0; i < f->events->len; i++)
    if (g_str_has_prefix (g_ptr_array_index (f->events, i), text))
      return TRUE;
  return FALSE;
}

static void
pump_until_event (Fixture *f, const char *text)
{
  gboolean expired = FALSE;
  guint timer = g_timeout_add (WAIT_MS, timeout_cb, &expired);

  while (!has_event (f, text) && !expired)
    g_main_context_iteration (NULL, TRUE);
  if (!expired)
    g_source_remove (timer);
  if (!has_event (f, text))
    g_error ("no event \"%s\" within %d ms", text, WAIT_MS);
}

/* Runs what is ready without blocking. */
static void
pump_pending (void)
{
  while (g_main_context_iteration (NULL, FALSE))
    ;
}

/* ------------------------------------------------------------------------ */
/* Centrals and producers */

static int
connect_seqpacket (const char *path)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  int fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  int big = 4 * 1024 * 1024;

  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  setsockopt (fd, SOL_SOCKET, SO_SNDBUF, &big, sizeof big);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) < 0)
    g_error ("connect %s: %s", path, g_strerror (errno));
  return fd;
}

/* A central opens channel name; returns its end once the daemon reported it open. */
static int
central_open (Fixture *f, const char *name)
{
  g_autofree char *path = g_strdup_printf ("%s/l2cap-%s", tmpdir, name);
  g_autofree char *expect = g_strdup_printf ("open %s 00:BB:00:00:00:%02X mtu=%u", name, next_central, next_mtu);
  int fd = connect_seqpacket (path);

  pump_until_event (f, expect);
  return fd;
}

static int
producer_open (Fixture *f, const char *name, gboolean addressed)
{
  g_autofree char *file = g_strconcat (name, addressed ? ".addr" : "", NULL);
  g_autofree char *path = g_build_filename (f->dir, file, NULL);
  int fd = connect_seqpacket (path);

  /* The daemon takes the connection on its loop. */
  pump_pending ();
  return fd;
}

/* One SDU the daemon sent the central (waiting for it); its length. */
static gssize
central_recv_sdu (int fd, guint8 *buf, gsize size)
{
  gssize n;

  if (!pump_until_fd (fd, G_IO_IN))
    g_error ("the central received nothing within %d ms", WAIT_MS);
  n = recv (fd, buf, size, MSG_DONTWAIT);
  g_assert_cmpint (n, >=, 0);
  return n;
}

/* A Framing=length frame: reassembled from SDUs, each at most mtu. */
static GByteArray *
central_recv_frame (int fd, guint mtu)
{
  g_autofree guint8 *sdu = g_malloc (65536);
  GByteArray *stream = g_byte_array_new ();
  guint32 want = G_MAXUINT32;

  while (stream->len < 4 || stream->len - 4 < want)
    {
      gssize n = central_recv_sdu (fd, sdu, 65536);

      g_assert_cmpint (n, >, 0);
      g_assert_cmpint (n, <=, mtu);
      g_byte_array_append (stream, sdu, (guint) n);
      if (stream->len >= 4 && want == G_MAXUINT32)
        want = (guint32) stream->data[0] | (guint32) stream->data[1] << 8 | (guint32) stream->data[2] << 16 |
               (guint32) stream->data[3] << 24;
    }
  g_assert_cmpuint (stream->len - 4, ==, want); /* no byte of the next frame in the same SDU */
  g_byte_array_remove_range (stream, 0, 4);
  return stream;
}

static void
fill (guint8 *buf, gsize len, guint seed)
{
  for (gsize i = 0; i < len; i++)
    buf[i] = (guint8) (i * 7 + seed * 13 + (i >> 8));
}

static void
producer_send (int fd, const void *data, gsize len)
{
  gssize n = send (fd, data, len, MSG_NOSIGNAL);
  g_assert_cmpint (n, ==, (gssize) len);
}

static gssize
producer_recv (int fd, guint8 *buf, gsize size)
{
  if (!pump_until_fd (fd, G_IO_IN))
    g_error ("the producer received nothing within %d ms", WAIT_MS);
  return recv (fd, buf, size, MSG_DONTWAIT);
}

/* ------------------------------------------------------------------------ */
/* Tests */

#define CONF_VIDEO BASE "[Channel video]\nService=cam\n[Channel log]\nService=log\nFraming=sdu\nMaxCentrals=2\n"

static void
test_psm_and_adapter (Fixture *f, gconstpointer data)
{
  g_autoptr (GError) error = NULL;
  BpCharacteristic *chr = bp_peripheral_lookup (f->p, "cam/video.psm", &error);
  g_autoptr (GBytes) v = NULL;
  int central;

  g_assert_nonnull (chr);
  /* No adapter: no listener, the PSM characteristic empty. */
  g_assert_cmpuint (bp_channels_get_psm (f->channels, "video"), ==, 0);
  v = bp_peripheral_get (f->p, chr);
  g_assert_cmpuint (g_bytes_get_size (v), ==, 0);
  g_clear_pointer (&v, g_bytes_unref);
  /* The producer sockets are there from the start. */
  g_assert_true (g_file_test (f->dir, G_FILE_TEST_IS_DIR));

  adapter (f, TRUE);
  g_assert_cmpuint (bp_channels_get_psm (f->channels, "video"), ==, 0x85);
  v = bp_peripheral_get (f->p, chr);
  g_assert_cmpuint (g_bytes_get_size (v), ==, 2);
  g_assert_cmpint (((const guint8 *) g_bytes_get_data (v, NULL))[0], ==, 0x85);
  g_assert_cmpint (((const guint8 *) g_bytes_get_data (v, NULL))[1], ==, 0x00);
  g_clear_pointer (&v, g_bytes_unref);

  central = central_open (f, "video");
  g_assert_cmpuint (bp_channels_count_open (f->channels, "video"), ==, 1);

  /* The adapter goes: the channel closes, the listener too, the PSM is withdrawn. */
  adapter (f, FALSE);
  g_assert_true (has_event (f, "close video 00:BB:00:00:00:01"));
  g_assert_cmpuint (bp_channels_count_open (f->channels, "video"), ==, 0);
  g_assert_cmpuint (bp_channels_get_psm (f->channels, "video"), ==, 0);
  v = bp_peripheral_get (f->p, chr);
  g_assert_cmpuint (g_bytes_get_size (v), ==, 0);
  {
    guint8 b[8];
    g_assert_true (pump_until_fd (central, G_IO_IN | G_IO_HUP));
    g_assert_cmpint (recv (central, b, sizeof b, MSG_DONTWAIT), ==, 0);
  }
  close (central);
}

static void
test_listen_failure (Fixture *f, gconstpointer data)
{
  /* Where AF_BLUETOOTH is missing the daemon says so and serves the rest. */
  listen_fails = TRUE;
  g_test_expect_message ("channel", G_LOG_LEVEL_WARNING, "*cannot listen on " ADAPTER "*not supported*");
  g_test_expect_message ("channel", G_LOG_LEVEL_WARNING, "*cannot listen on " ADAPTER "*not supported*");
  adapter (f, TRUE);
  g_test_assert_expected_messages ();
  g_assert_cmpuint (bp_channels_get_psm (f->channels, "video"), ==, 0);
}

static void
test_length_framing (Fixture *f, gconstpointer data)
{
  int central, producer;
  g_autofree guint8 *big = g_malloc (50 * 1024);

  adapter (f, TRUE);
  central = central_open (f, "video");
  producer = producer_open (f, "video", FALSE);

  /* A 50 KB frame reaches the central whole, over SDUs of its MTU. */
  fill (big, 50 * 1024, 1);
  producer_send (producer, big, 50 * 1024);
  {
    g_autoptr (GByteArray) got = central_recv_frame (central, 672);
    g_assert_cmpuint (got->len, ==, 50 * 1024);
    g_assert_cmpmem (got->data, got->len, big, 50 * 1024);
  }
  /* 100 frames in order, exact bytes (QueueLength 8: the producer paces itself on the central). */
  for (guint i = 0; i < 100; i++)
    {
      guint8 frame[300];
      gsize len = 1 + i * 3;

      fill (frame, len, i);
      producer_send (producer, frame, len);
      {
        g_autoptr (GByteArray) got = central_recv_frame (central, 672);
        g_assert_cmpmem (got->data, got->len, frame, len);
      }
    }
  /* An empty frame is a length of 0. */
  producer_send (producer, "", 0);
  close (producer);
  close (central);
  pump_until_event (f, "close video 00:BB:00:00:00:01");
}

static void
test_sdu_framing (Fixture *f, gconstpointer data)
{
  int central, producer;
  guint8 frame[600], sdu[2048];

  next_mtu = 512;
  adapter (f, TRUE);
  central = central_open (f, "log");
  producer = producer_open (f, "log", FALSE);

  fill (frame, sizeof frame, 3);
  producer_send (producer, frame, 512);
  g_assert_cmpint (central_recv_sdu (central, sdu, sizeof sdu), ==, 512);
  g_assert_cmpmem (sdu, 512, frame, 512);

  /* Larger than the central's MTU: refused for that central, counted. */
  g_test_expect_message ("channel", G_LOG_LEVEL_WARNING, "*a frame of 600 bytes is larger than the central's MTU*");
  producer_send (producer, frame, 600);
  pump_until_event (f, "dropped log 00:BB:00:00:00:01 1");
  g_test_assert_expected_messages ();
  producer_send (producer, frame, 10);
  g_assert_cmpint (central_recv_sdu (central, sdu, sizeof sdu), ==, 10);
  close (producer);
  close (central);
}

static void
test_central_to_producers (Fixture *f, gconstpointer data)
{
  int central, plain, addressed;
  g_autofree guint8 *big = g_malloc (3000);
  g_autofree guint8 *buf = g_malloc (4000);
  guint8 header[4] = { 3000 & 0xff, 3000 >> 8, 0, 0 };

  adapter (f, TRUE);
  central = central_open (f, "video");
  plain = producer_open (f, "video", FALSE);
  addressed = producer_open (f, "video", TRUE);

  /* The central sends a frame of 3000 bytes as 4-byte length + SDUs of its own cutting. */
  fill (big, 3000, 9);
  g_assert_cmpint (send (central, header, 2, 0), ==, 2);
  g_assert_cmpint (send (central, header + 2, 2, 0), ==, 2);
  g_assert_cmpint (send (central, big, 1000, 0), ==, 1000);
  g_assert_cmpint (send (central, big + 1000, 2000, 0), ==, 2000);

  g_assert_cmpint (producer_recv (plain, buf, 4000), ==, 3000);
  g_assert_cmpmem (buf, 3000, big, 3000);
  g_assert_cmpint (producer_recv (addressed, buf, 4000), ==, 3018);
  g_assert_cmpmem (buf, 18, "00:BB:00:00:00:01\n", 18);
  g_assert_cmpmem (buf + 18, 3000, big, 3000);

  /* A length over the limit is not a frame: the channel closes, the daemon goes on. */
  g_test_expect_message ("channel", G_LOG_LEVEL_MESSAGE, "*closed: the central announced a frame of*");
  g_assert_cmpint (send (central, "\xff\xff\xff\xff", 4, 0), ==, 4);
  pump_until_event (f, "close video 00:BB:00:00:00:01");
  g_test_assert_expected_messages ();
  close (central);
  close (plain);
  close (addressed);
}

static void
test_addressed_send (Fixture *f, gconstpointer data)
{
  int a, b, producer;
  guint8 sdu[64];
  char msg[64];

  adapter (f, TRUE);
  a = central_open (f, "log");
  b = central_open (f, "log");
  producer = producer_open (f, "log", TRUE);

  memcpy (msg, "00:BB:00:00:00:02\nfor-b", 23);
  producer_send (producer, msg, 23);
  memcpy (msg, "*\nfor-all", 9);
  producer_send (producer, msg, 9);
  g_assert_cmpint (central_recv_sdu (b, sdu, sizeof sdu), ==, 5);
  g_assert_cmpmem (sdu, 5, "for-b", 5);
  g_assert_cmpint (central_recv_sdu (b, sdu, sizeof sdu), ==, 7);
  g_assert_cmpint (central_recv_sdu (a, sdu, sizeof sdu), ==, 7);
  g_assert_cmpmem (sdu, 7, "for-all", 7);

  /* MaxCentrals=2: a third central is refused. */
  {
    g_autofree char *path = g_strdup_printf ("%s/l2cap-log", tmpdir);
    int c = connect_seqpacket (path);
    g_test_expect_message ("channel", G_LOG_LEVEL_MESSAGE, "*refused: MaxCentrals=2 channels are open*");
    g_assert_true (pump_until_fd (c, G_IO_HUP));
    g_test_assert_expected_messages ();
    close (c);
  }

  /* A malformed header closes that producer with a reason. */
  g_test_expect_message ("channel", G_LOG_LEVEL_MESSAGE, "*producer closed: a message on NAME.addr must start*");
  producer_send (producer, "hello", 5);
  g_assert_true (pump_until_fd (producer, G_IO_HUP));
  g_test_assert_expected_messages ();
  close (producer);
  close (a);
  close (b);
}

#define CONF_DROP BASE "[Channel video]\nQueueLength=4\n[Channel log]\nFraming=sdu\n"

static void
test_drop_oldest (Fixture *f, gconstpointer data)
{
  int slow, fast, vp, lp;
  guint8 frame[600], sdu[2048];
  guint received = 0;
  guint last = 0;

  adapter (f, TRUE);
  slow = central_open (f, "video");
  fast = central_open (f, "log");
  vp = producer_open (f, "video", FALSE);
  lp = producer_open (f, "log", FALSE);

  /* The slow central reads nothing while 200 frames go out; the other
   * channel keeps flowing meanwhile. */
  for (guint i = 0; i < 200; i++)
    {
      fill (frame, sizeof frame, i);
      frame[0] = (guint8) i;
      producer_send (vp, frame, sizeof frame);
      producer_send (lp, &i, 1);
      g_assert_cmpint (central_recv_sdu (fast, sdu, sizeof sdu), ==, 1);
      g_assert_cmpint (sdu[0], ==, (guint8) i);
    }
  pump_until_event (f, "dropped video 00:BB:00:00:00:01");
  g_assert_cmpuint (bp_channels_count_dropped (f->channels, "video"), >, 150);

  /* What it gets when it reads: whole frames in order, the newest last;
   * every frame either arrives or is counted. */
  while (received + bp_channels_count_dropped (f->channels, "video") < 200)
    {
      g_autoptr (GByteArray) got = central_recv_frame (slow, 672);
      g_assert_cmpuint (got->len, ==, sizeof frame);
      g_assert_true (received == 0 || got->data[0] > last);
      last = got->data[0];
      received++;
    }
  g_assert_cmpuint (last, ==, 199);
  g_assert_cmpuint (received + bp_channels_count_dropped (f->channels, "video"), ==, 200);
  /* At most QueueLength waiting beyond what the "kernel" held. */
  g_assert_cmpuint (received, <, 4 + 10);
  /* The count outlives the central's channel (status shows it after). */
  {
    guint64 dropped = bp_channels_count_dropped (f->channels, "video");
    g_autofree char *status = NULL;
    g_autofree char *word = g_strdup_printf ("channel.video.dropped=%" G_GUINT64_FORMAT, dropped);

    close (slow);
    pump_until_event (f, "close video 00:BB:00:00:00:01");
    g_assert_cmpuint (bp_channels_count_dropped (f->channels, "video"), ==, dropped);
    status = bp_channels_status (f->channels);
    g_assert_nonnull (strstr (status, word));
    g_assert_nonnull (strstr (status, "channel.video.open=0"));
  }
  close (fast);
  close (vp);
  close (lp);
}

#define CONF_WAIT BASE "[Channel video]\nQueueLength=2\nOnFull=wait\n"

static void
test_wait (Fixture *f, gconstpointer data)
{
  int central, producer;
  guint8 frame[2000];
  guint sent = 0;
  guint got = 0;

  adapter (f, TRUE);
  central = central_open (f, "video");
  producer = producer_open (f, "video", FALSE);
  {
    int small = 4608;
    setsockopt (producer, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  }

  /* The central reads nothing: the daemon stops reading the producer, whose send then fails with EAGAIN. */
  for (;;)
    {
      gssize n;

      fill (frame, sizeof frame, sent);
      frame[0] = (guint8) sent;
      pump_pending ();
      n = send (producer, frame, sizeof frame, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0)
        {
          g_assert_true (errno == EAGAIN || errno == EWOULDBLOCK);
          pump_pending ();
          n = send (producer, frame, sizeof frame, MSG_DONTWAIT | MSG_NOSIGNAL);
          if (n < 0)
            break;
        }
      sent++;
      g_assert_cmpuint (sent, <, 200); /* held back well before */
    }
  g_assert_cmpuint (bp_channels_count_dropped (f->channels, "video"), ==, 0);

  /* Once the central reads, everything arrives, in order. */
  while (got < sent)
    {
      g_autoptr (GByteArray) frame_got = central_recv_frame (central, 672);
      g_assert_cmpuint (frame_got->len, ==, sizeof frame);
      g_assert_cmpint (frame_got->data[0], ==, (guint8) got);
      got++;
    }
  g_assert_cmpuint (bp_channels_count_dropped (f->channels, "video"), ==, 0);
  g_assert_false (has_event (f, "dropped"));
  close (central);
  close (producer);
}

/* A producer that does not read holds the centrals back (their sends stop
 * going through); nothing is lost once it reads. */
static void
test_slow_producer (Fixture *f, gconstpointer data)
{
  int central, producer;
  guint8 sdu[300], buf[400];
  guint sent = 0, got = 0;

  adapter (f, TRUE);
  central = central_open (f, "log"); /* Framing=sdu: one SDU = one frame */
  producer = producer_open (f, "log", FALSE);
  {
    int small = 4608;
    setsockopt (producer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    setsockopt (central, SOL_SOCKET, SO_SNDBUF, &small, sizeof small);
  }
  /* The central sends until its socket takes no more: the daemon stopped reading it. */
  for (;;)
    {
      gssize n;

      memset (sdu, (int) (sent & 0xff), sizeof sdu);
      sdu[0] = (guint8) sent;
      pump_pending ();
      n = send (central, sdu, sizeof sdu, MSG_DONTWAIT | MSG_NOSIGNAL);
      if (n < 0)
        {
          g_assert_true (errno == EAGAIN || errno == EWOULDBLOCK);
          pump_pending ();
          n = send (central, sdu, sizeof sdu, MSG_DONTWAIT | MSG_NOSIGNAL);
          if (n < 0)
            break;
        }
      sent++;
      g_assert_cmpuint (sent, <, 2000); /* held back well before */
    }
  g_assert_cmpuint (bp_channels_count_open (f->channels, "log"), ==, 1);
  /* The producer reads: every frame, in order. */
  while (got < sent)
    {
      gssize n = producer_recv (producer, buf, sizeof buf);
      g_assert_cmpint (n, ==, sizeof sdu);
      g_assert_cmpint (buf[0], ==, (guint8) got);
      got++;
    }
  close (producer);
  close (central);
}

static void
test_reload (Fixture *f, gconstpointer data)
{
  int video, log, producer;
  guint8 sdu[64];

  adapter (f, TRUE);
  video = central_open (f, "video");
  log = central_open (f, "log");
  producer = producer_open (f, "video", FALSE);

  /* video unchanged, log changed (MTU): video stays open, log closes. */
  bp_peripheral_reconfigure (f->p, load (BASE "[Channel video]\nService=cam\n"
                                              "[Channel log]\nService=log\nFraming=sdu\nMTU=100\n"));
  g_assert_true (has_event (f, "close log 00:BB:00:00:00:02"));
  g_assert_false (has_event (f, "close video"));
  g_assert_cmpuint (bp_channels_count_open (f->channels, "video"), ==, 1);
  producer_send (producer, "x", 1);
  {
    g_autoptr (GByteArray) got = central_recv_frame (video, 672);
    g_assert_cmpuint (got->len, ==, 1);
  }
  /* The PSM characteristic still holds the PSM in the new database. */
  {
    g_autoptr (GBytes) v = bp_peripheral_get (f->p, bp_peripheral_lookup (f->p, "cam/video.psm", NULL));
    g_assert_cmpuint (g_bytes_get_size (v), ==, 2);
  }
  /* video removed: it closes, its producer socket goes. */
  bp_peripheral_reconfigure (f->p, load (BASE));
  g_assert_true (has_event (f, "close video 00:BB:00:00:00:01"));
  g_assert_true (pump_until_fd (producer, G_IO_HUP));
  (void) sdu;
  close (video);
  close (log);
  close (producer);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  signal (SIGPIPE, SIG_IGN);

#define ADD(name, conf, fn) g_test_add ("/channels/" name, Fixture, conf, fixture_setup, fn, fixture_teardown)
  ADD ("psm-and-adapter", CONF_VIDEO, test_psm_and_adapter);
  ADD ("listen-failure", CONF_VIDEO, test_listen_failure);
  ADD ("length-framing", CONF_VIDEO, test_length_framing);
  ADD ("sdu-framing", CONF_VIDEO, test_sdu_framing);
  ADD ("central-to-producers", CONF_VIDEO, test_central_to_producers);
  ADD ("addressed-send", CONF_VIDEO, test_addressed_send);
  ADD ("drop-oldest", CONF_DROP, test_drop_oldest);
  ADD ("wait", CONF_WAIT, test_wait);
  ADD ("slow-producer", CONF_VIDEO, test_slow_producer);
  ADD ("reload", CONF_VIDEO, test_reload);
  return g_test_run ();
}
