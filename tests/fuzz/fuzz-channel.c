/* Fuzz target: the channel server's input from centrals and producers
 * (src/daemon/channel*.c): the Framing=length reassembly of what a central
 * sends, cut into SDUs as it likes, and the address header of the NAME.addr
 * producer sockets. In-process, with the daemon's real producer sockets and
 * SOCK_SEQPACKET socketpairs standing in for the centrals' L2CAP sockets (as
 * tests/integration/test-channels.c does), on two channels:
 *
 *   len  Framing=length, MaxCentrals=3, QueueLength=2, OnFull=drop-oldest
 *   sdu  Framing=sdu, MaxCentrals=2, QueueLength=2, OnFull=wait
 *
 * An input is a script of steps, each a byte whose value modulo 8 says what
 * happens, followed by its own bytes:
 *
 *   0 C M       a central opens channel C&1 (len, sdu) with MTU 23 + 4*M
 *   1 I N DATA  central I sends one SDU of N bytes (at least 1)
 *   2 C A       a producer connects to channel C&1's socket, NAME.addr if A&1
 *   3 I N DATA  producer I sends one message of N bytes
 *   4 I         central I closes
 *   5 I         producer I closes
 *   6           the main loop runs, everyone reads what came
 *   7 I H N DATA  central I sends a frame of N bytes with its 4-byte length
 *               (Framing=length); producer I sends "ADDR\n" or "*\n" (H) then
 *               the N bytes (NAME.addr)
 *
 * At the end everyone reads what came, closes, and the main loop runs until
 * the daemon has closed its side: nothing carries over to the next input.
 *
 * Checked, besides ASan/UBSan and GLib criticals: every message a producer
 * receives is a frame a central of that channel sent (reassembled from its
 * stream as the protocol says, for Framing=length), after "ADDR\n" naming
 * that central on NAME.addr; every SDU a central receives fits its MTU, and
 * what it receives is frames some producer of that channel sent (each after
 * its 4-byte length, for Framing=length). */
#define G_LOG_DOMAIN "fuzz-channel"

#include "build-config.h"

#include "fuzz.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/error.h"
#include "common/protocol.h"
#include "daemon/channel.h"
#include "daemon/peripheral.h"

#define MAX_CENTRALS 4
#define MAX_PRODUCERS 4
#define N_CHANNELS 2

static const char config_text[] =
  "[Channel len]\n"
  "PSM=0x80\n"
  "Framing=length\n"
  "MaxCentrals=3\n"
  "QueueLength=2\n"
  "OnFull=drop-oldest\n"
  "[Channel sdu]\n"
  "PSM=0x81\n"
  "Framing=sdu\n"
  "MaxCentrals=2\n"
  "QueueLength=2\n"
  "OnFull=wait\n";

static const char *const names[N_CHANNELS] = { "len", "sdu" };

typedef struct {
  int fd; /* our end, -1 when closed */
  guint ch;
  guint mtu;
  char address[18];
  GByteArray *stream; /* what it sent on len, for the reference reassembly */
  GByteArray *in;     /* what it received on len, not yet a whole frame */
} Central;

typedef struct {
  int fd;
  guint ch;
  gboolean addressed;
} ProducerEnd;

typedef struct {
  BpPeripheral *p;
  BpChannels *channels;
  char *tmpdir;
  char *dir;
  Central centrals[MAX_CENTRALS];
  ProducerEnd producers[MAX_PRODUCERS];
  /* Per channel: the frames centrals sent ("ADDR\n" + frame, the sender's
   * address first) and the frames producers sent (GBytes sets). */
  GHashTable *from_centrals[N_CHANNELS];
  GHashTable *from_producers[N_CHANNELS];
  guint8 *buf;
} Target;

static GLogWriterOutput
quiet_writer (GLogLevelFlags level, const GLogField *fields, gsize n_fields, gpointer user_data)
{
  /* The daemon's messages and warnings (a frame dropped, a producer
   * closed) are what the input asked for: only with FUZZ_VERBOSE. */
  if (g_getenv ("FUZZ_VERBOSE") == NULL &&
      (level & (G_LOG_LEVEL_WARNING | G_LOG_LEVEL_MESSAGE | G_LOG_LEVEL_INFO | G_LOG_LEVEL_DEBUG)))
    return G_LOG_WRITER_HANDLED;
  g_log_writer_default (level, fields, n_fields, user_data);
  /* A critical is a finding: abort, which libFuzzer catches. */
  if (level & (G_LOG_LEVEL_CRITICAL | G_LOG_LEVEL_ERROR))
    abort ();
  return G_LOG_WRITER_HANDLED;
}

static Target *the_target;

static void
target_free (void)
{
  Target *t = the_target;

  bp_channels_free (t->channels);
  g_rmdir (t->tmpdir);
}

static Target *
target (void)
{
  g_autoptr (GError) error = NULL;
  Target *t = the_target;

  if (t != NULL)
    return t;
  t = the_target = g_new0 (Target, 1);
  g_log_set_writer_func (quiet_writer, NULL, NULL);
  /* A peer that closed its end must not kill the process. */
  signal (SIGPIPE, SIG_IGN);
  t->p = bp_peripheral_new (bp_config_load_from_data (config_text, -1, "fuzz-channel.conf", &error));
  g_assert_no_error (error);
  t->tmpdir = g_dir_make_tmp ("fuzz-channel-XXXXXX", &error);
  g_assert_no_error (error);
  t->dir = g_build_filename (t->tmpdir, "channel", NULL);
  /* No adapter: nothing listens; the centrals come through bp_channels_adopt(). */
  t->channels = bp_channels_new (t->p, t->dir, 0600, NULL, &bp_l2cap_kernel, &error);
  g_assert_no_error (error);
  for (guint c = 0; c < N_CHANNELS; c++)
    {
      t->from_centrals[c] = g_hash_table_new_full (g_bytes_hash, g_bytes_equal, (GDestroyNotify) g_bytes_unref, NULL);
      t->from_producers[c] = g_hash_table_new_full (g_bytes_hash, g_bytes_equal, (GDestroyNotify) g_bytes_unref, NULL);
    }
  for (guint i = 0; i < MAX_CENTRALS; i++)
    t->centrals[i].fd = -1;
  for (guint i = 0; i < MAX_PRODUCERS; i++)
    t->producers[i].fd = -1;
  t->buf = g_malloc (BP_CHANNEL_FRAME_MAX + BP_CHANNEL_ADDRESS_HEADER + 1);
  atexit (target_free);
  return t;
}

/* Runs what is ready until nothing is. */
static void
pump (void)
{
  for (guint i = 0; i < 1000 && g_main_context_iteration (NULL, FALSE); i++)
    ;
}

static void
remember (GHashTable *set, const guint8 *data, gsize len)
{
  g_hash_table_add (set, g_bytes_new (data, len));
}

static gboolean
known (GHashTable *set, const guint8 *data, gsize len)
{
  g_autoptr (GBytes) b = g_bytes_new_static (data, len);
  return g_hash_table_contains (set, b);
}

/* The frames in a central's stream on len, as the protocol defines them:
 * a 4-byte little-endian length, then that many bytes. */
static void
reassemble (Target *t, Central *c)
{
  gsize at = 0;

  while (c->stream->len - at >= 4)
    {
      const guint8 *h = c->stream->data + at;
      guint32 want = (guint32) h[0] | (guint32) h[1] << 8 | (guint32) h[2] << 16 | (guint32) h[3] << 24;
      g_autoptr (GByteArray) f = NULL;

      if (want > BP_CHANNEL_FRAME_MAX || c->stream->len - at - 4 < want)
        break;
      f = g_byte_array_new ();
      g_byte_array_append (f, (const guint8 *) c->address, 17);
      g_byte_array_append (f, (const guint8 *) "\n", 1);
      g_byte_array_append (f, h + 4, want);
      remember (t->from_centrals[c->ch], f->data, f->len);
      at += 4 + want;
    }
  g_byte_array_remove_range (c->stream, 0, (guint) at);
}

static void
central_close (Central *c)
{
  if (c->fd < 0)
    return;
  close (c->fd);
  c->fd = -1;
  g_clear_pointer (&c->stream, g_byte_array_unref);
  g_clear_pointer (&c->in, g_byte_array_unref);
}

static void
producer_close (ProducerEnd *pr)
{
  if (pr->fd < 0)
    return;
  close (pr->fd);
  pr->fd = -1;
}

/* What came to a central: SDUs within its MTU, frames some producer sent. */
static void
central_read (Target *t, Central *c)
{
  for (;;)
    {
      gssize n = recv (c->fd, t->buf, c->mtu + 1, MSG_DONTWAIT | MSG_TRUNC);

      if (n <= 0)
        return;
      g_assert_cmpint (n, <=, (gssize) c->mtu);
      if (c->ch == 1)
        {
          g_assert_true (known (t->from_producers[1], t->buf, (gsize) n));
          continue;
        }
      g_byte_array_append (c->in, t->buf, (guint) n);
      while (c->in->len >= 4)
        {
          const guint8 *h = c->in->data;
          guint32 want = (guint32) h[0] | (guint32) h[1] << 8 | (guint32) h[2] << 16 | (guint32) h[3] << 24;

          g_assert_cmpuint (want, <=, BP_CHANNEL_FRAME_MAX);
          if (c->in->len - 4 < want)
            break;
          g_assert_true (known (t->from_producers[0], c->in->data + 4, want));
          g_byte_array_remove_range (c->in, 0, 4 + want);
        }
    }
}

/* What came to a producer: frames centrals sent, "ADDR\n" first on NAME.addr. */
static void
producer_read (Target *t, ProducerEnd *pr)
{
  for (;;)
    {
      gssize n = recv (pr->fd, t->buf, BP_CHANNEL_FRAME_MAX + BP_CHANNEL_ADDRESS_HEADER + 1, MSG_DONTWAIT | MSG_TRUNC);
      gboolean found = FALSE;

      if (n <= 0)
        return;
      g_assert_cmpint (n, <=, BP_CHANNEL_FRAME_MAX + BP_CHANNEL_ADDRESS_HEADER);
      if (pr->addressed)
        {
          g_assert_cmpint (n, >=, BP_CHANNEL_ADDRESS_HEADER);
          g_assert_cmpint (t->buf[17], ==, '\n');
          found = known (t->from_centrals[pr->ch], t->buf, (gsize) n);
        }
      else
        {
          /* Any central's: try each address. */
          g_autoptr (GByteArray) f = g_byte_array_new ();
          for (guint i = 0; i < MAX_CENTRALS && !found; i++)
            {
              g_byte_array_set_size (f, 0);
              g_byte_array_append (f, (const guint8 *) t->centrals[i].address, 17);
              g_byte_array_append (f, (const guint8 *) "\n", 1);
              g_byte_array_append (f, t->buf, (guint) n);
              found = known (t->from_centrals[pr->ch], f->data, f->len);
            }
        }
      g_assert_true (found);
    }
}

static void
read_all (Target *t)
{
  pump ();
  for (guint i = 0; i < MAX_CENTRALS; i++)
    if (t->centrals[i].fd >= 0)
      central_read (t, &t->centrals[i]);
  for (guint i = 0; i < MAX_PRODUCERS; i++)
    if (t->producers[i].fd >= 0)
      producer_read (t, &t->producers[i]);
}

/* The next byte of the script, 0 past its end. */
static guint8
next (const guint8 **p, const guint8 *end)
{
  return *p < end ? *(*p)++ : 0;
}

static void
central_open (Target *t, guint slot, guint ch, guint mtu)
{
  Central *c = &t->centrals[slot];
  int sv[2];
  g_autoptr (GError) error = NULL;

  if (socketpair (AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0)
    return;
  if (!bp_channels_adopt (t->channels, names[ch], sv[1], c->address, mtu, &error))
    {
      g_assert_true (g_error_matches (error, BP_ERROR, BP_ERROR_BUSY));
      close (sv[0]);
      return;
    }
  c->fd = sv[0];
  c->ch = ch;
  c->mtu = mtu;
  c->stream = g_byte_array_new ();
  c->in = g_byte_array_new ();
}

/* A central sends bytes: one SDU on sdu, part of its stream on len. */
static void
central_send (Target *t, Central *c, const guint8 *data, gsize len)
{
  gssize n = send (c->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL);

  if (n != (gssize) len)
    return; /* the daemon reads no more for now (OnFull=wait) */
  if (c->ch == 1)
    {
      g_autoptr (GByteArray) f = g_byte_array_new ();
      g_byte_array_append (f, (const guint8 *) c->address, 17);
      g_byte_array_append (f, (const guint8 *) "\n", 1);
      g_byte_array_append (f, data, (guint) len);
      remember (t->from_centrals[1], f->data, f->len);
      return;
    }
  g_byte_array_append (c->stream, data, (guint) len);
  reassemble (t, c);
}

static void
producer_open (Target *t, ProducerEnd *pr, guint ch, gboolean addressed)
{
  struct sockaddr_un addr = { .sun_family = AF_UNIX };
  g_autofree char *path = g_strdup_printf ("%s/%s%s", t->dir, names[ch], addressed ? ".addr" : "");
  int fd = socket (AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  g_strlcpy (addr.sun_path, path, sizeof addr.sun_path);
  if (connect (fd, (struct sockaddr *) &addr, sizeof addr) != 0)
    {
      close (fd);
      return;
    }
  pr->fd = fd;
  pr->ch = ch;
  pr->addressed = addressed;
}

/* A producer sends a message; what a central may get of it is remembered
 * (without the address header on NAME.addr; the daemon closes a producer
 * whose header is wrong, and then nothing of it goes out). */
static void
producer_send (Target *t, ProducerEnd *pr, const guint8 *data, gsize len)
{
  const guint8 *frame = data;
  gsize frame_len = len;

  if (pr->addressed)
    {
      const guint8 *nl = memchr (data, '\n', MIN (len, (gsize) BP_CHANNEL_ADDRESS_HEADER));
      gsize hl = nl != NULL ? (gsize) (nl - data) : 0;

      if (hl != 1 && hl != 17)
        hl = 0;
      frame = hl > 0 ? data + hl + 1 : data;
      frame_len = hl > 0 ? len - hl - 1 : len;
    }
  remember (t->from_producers[pr->ch], frame, frame_len);
  if (send (pr->fd, data, len, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 && errno != EAGAIN)
    producer_close (pr);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
  Target *t = target ();
  const guint8 *p = data, *end = data + size;
  guint8 msg[256 + 4 + BP_CHANNEL_ADDRESS_HEADER];

  for (guint i = 0; i < MAX_CENTRALS; i++)
    g_snprintf (t->centrals[i].address, sizeof t->centrals[i].address, "00:BB:00:00:00:%02X", i + 1);
  while (p < end)
    {
      guint8 op = next (&p, end) % 8;
      guint8 a = next (&p, end), b;
      Central *c = &t->centrals[a % MAX_CENTRALS];
      ProducerEnd *pr = &t->producers[a % MAX_PRODUCERS];
      gsize n, off = 0;

      switch (op)
        {
        case 0:
          b = next (&p, end);
          for (guint i = 0; i < MAX_CENTRALS; i++)
            if (t->centrals[i].fd < 0)
              {
                central_open (t, i, a & 1, 23 + 4 * (guint) b);
                break;
              }
          break;
        case 1:
        case 3:
          /* (MIN and MAX are macros: one next() each, in its own statement) */
          n = next (&p, end);
          n = MIN (MAX (n, 1), (gsize) (end - p));
          if (n == 0)
            break;
          if (op == 1 && c->fd >= 0)
            central_send (t, c, p, n);
          else if (op == 3 && pr->fd >= 0)
            producer_send (t, pr, p, n);
          p += n;
          break;
        case 2:
          b = next (&p, end);
          for (guint i = 0; i < MAX_PRODUCERS; i++)
            if (t->producers[i].fd < 0)
              {
                producer_open (t, &t->producers[i], a & 1, b & 1);
                break;
              }
          break;
        case 4:
          central_close (c);
          break;
        case 5:
          producer_close (pr);
          break;
        case 6:
          read_all (t);
          break;
        case 7:
          b = next (&p, end);
          n = next (&p, end);
          n = MIN (n, (gsize) (end - p));
          if (c->fd >= 0 && c->ch == 0)
            {
              msg[0] = (guint8) n;
              msg[1] = msg[2] = msg[3] = 0;
              memcpy (msg + 4, p, n);
              central_send (t, c, msg, 4 + n);
            }
          if (pr->fd >= 0 && pr->addressed)
            {
              if (b % 3 == 0)
                off = (gsize) g_snprintf ((char *) msg, sizeof msg, "*\n");
              else
                off = (gsize) g_snprintf ((char *) msg, sizeof msg, "%s\n", t->centrals[b % MAX_CENTRALS].address);
              memcpy (msg + off, p, n);
              if (off + n > 0)
                producer_send (t, pr, msg, off + n);
            }
          p += n;
          break;
        }
    }

  /* The end: everyone reads, closes, and the daemon closes its side. */
  read_all (t);
  for (guint i = 0; i < MAX_CENTRALS; i++)
    central_close (&t->centrals[i]);
  for (guint i = 0; i < MAX_PRODUCERS; i++)
    producer_close (&t->producers[i]);
  for (guint i = 0;
       i < 100 && (bp_channels_count_open (t->channels, "len") > 0 || bp_channels_count_open (t->channels, "sdu") > 0);
       i++)
    pump ();
  pump ();
  g_assert_cmpuint (bp_channels_count_open (t->channels, "len"), ==, 0);
  g_assert_cmpuint (bp_channels_count_open (t->channels, "sdu"), ==, 0);
  for (guint c = 0; c < N_CHANNELS; c++)
    {
      g_hash_table_remove_all (t->from_centrals[c]);
      g_hash_table_remove_all (t->from_producers[c]);
    }
  return 0;
}
