/* l2cap-central — the central side of an LE L2CAP connection-oriented channel
 * for the end-to-end tests: connects from an adapter (hci1's address) to a
 * peripheral's PSM with the kernel's AF_BLUETOOTH socket, then receives or
 * sends frames with Framing=length (a 4-byte little-endian length, then the
 * frame, across SDUs), as a phone's stream reader does.
 *
 *   l2cap-central [OPTIONS] recv PEER PSM N          print N frames, one hex line each
 *   l2cap-central [OPTIONS] recv-until PEER PSM HEX  frames until one equals HEX; prints "frames N"
 *   l2cap-central [OPTIONS] send PEER PSM FILE…      send each FILE as one frame
 *   l2cap-central [OPTIONS] partial PEER PSM         read one SDU, then close (mid-frame)
 *   l2cap-central [OPTIONS] connect PEER PSM         connect, print "connected", close
 *
 * Options: --from ADDR (our adapter's address; default 00:AA:01:01:00:01),
 * --timeout S (every wait; default 60), --ready-file F (created once connected),
 * --start-file F (recv, recv-until: read nothing until F exists),
 * --security low|medium (BT_SECURITY of our socket; default low).
 *
 * The kernel ABI (sockaddr_l2, BT_* options) is defined here as in
 * src/daemon/l2cap.c: no Bluetooth headers are needed to build it.
 * Exit status: 0 success, 1 failure (message on stderr), 2 usage. */
#define _GNU_SOURCE

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#ifndef AF_BLUETOOTH
#define AF_BLUETOOTH 31
#endif
#ifndef SOL_BLUETOOTH
#define SOL_BLUETOOTH 274
#endif
#define BTPROTO_L2CAP_ 0
#define BT_SECURITY_ 4
#define BT_SNDMTU_ 12
#define BT_RCVMTU_ 13
#define BDADDR_LE_PUBLIC_ 1

struct sockaddr_l2_ {
  sa_family_t l2_family;
  uint16_t l2_psm;
  uint8_t l2_bdaddr[6];
  uint16_t l2_cid;
  uint8_t l2_bdaddr_type;
};

_Static_assert(sizeof (struct sockaddr_l2_) == 14, "the kernel's sockaddr_l2");

#define FRAME_MAX (1024 * 1024)

static int opt_timeout = 60;
static const char *opt_from = "00:AA:01:01:00:01";
static const char *opt_ready = NULL;
static const char *opt_start = NULL;
static int opt_security = 1;

static void
die (const char *what)
{
  fprintf (stderr, "l2cap-central: %s: %s\n", what, strerror (errno));
  exit (1);
}

static void
fail (const char *message)
{
  fprintf (stderr, "l2cap-central: %s\n", message);
  exit (1);
}

static int
parse_address (const char *text, uint8_t out[6])
{
  unsigned b[6];

  if (strlen (text) != 17 || sscanf (text, "%2x:%2x:%2x:%2x:%2x:%2x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
    return -1;
  for (int i = 0; i < 6; i++)
    out[5 - i] = (uint8_t) b[i];
  return 0;
}

static double
now_s (void)
{
  struct timespec ts;
  clock_gettime (CLOCK_MONOTONIC, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

static double deadline;

/* Waits for events on fd until the deadline. */
static void
wait_fd (int fd, short events, const char *what)
{
  for (;;)
    {
      struct pollfd p = { fd, events, 0 };
      int left = (int) ((deadline - now_s ()) * 1000);
      int r;

      if (left <= 0)
        {
          fprintf (stderr, "l2cap-central: timed out after %d s %s\n", opt_timeout, what);
          exit (1);
        }
      r = poll (&p, 1, left);
      if (r < 0 && errno == EINTR)
        continue;
      if (r < 0)
        die ("poll");
      if (r > 0)
        return;
    }
}

static int
open_channel (const char *peer, const char *psm_text, unsigned *sndmtu)
{
  struct sockaddr_l2_ local = { 0 }, remote = { 0 };
  struct {
    uint8_t level, key_size;
  } sec = { (uint8_t) opt_security, 0 };
  uint16_t rcvmtu = 65535, mtu = 0;
  socklen_t len = sizeof mtu;
  char *end = NULL;
  unsigned long psm = strtoul (psm_text, &end, 0);
  int fd, err = 0;
  socklen_t elen = sizeof err;

  if (end == psm_text || *end != '\0' || psm == 0 || psm > 0xffff)
    fail ("PSM: expected a number such as 0x80");
  fd = socket (AF_BLUETOOTH, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, BTPROTO_L2CAP_);
  if (fd < 0)
    die ("socket(AF_BLUETOOTH, L2CAP)");
  local.l2_family = AF_BLUETOOTH;
  local.l2_bdaddr_type = BDADDR_LE_PUBLIC_;
  if (parse_address (opt_from, local.l2_bdaddr) < 0)
    fail ("--from: expected an address such as 00:AA:01:01:00:01");
  if (bind (fd, (struct sockaddr *) &local, sizeof local) < 0)
    die ("bind");
  if (setsockopt (fd, SOL_BLUETOOTH, BT_SECURITY_, &sec, sizeof sec) < 0)
    die ("setsockopt(BT_SECURITY)");
  if (setsockopt (fd, SOL_BLUETOOTH, BT_RCVMTU_, &rcvmtu, sizeof rcvmtu) < 0)
    die ("setsockopt(BT_RCVMTU)");
  {
    int big = 4 * 1024 * 1024;
    setsockopt (fd, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
  }
  remote.l2_family = AF_BLUETOOTH;
  remote.l2_psm = (uint16_t) psm; /* little-endian hosts only: the tests run on x86-64 */
  remote.l2_bdaddr_type = BDADDR_LE_PUBLIC_;
  if (parse_address (peer, remote.l2_bdaddr) < 0)
    fail ("PEER: expected an address such as 00:AA:01:00:00:00");
  if (connect (fd, (struct sockaddr *) &remote, sizeof remote) < 0 && errno != EINPROGRESS)
    die ("connect");
  wait_fd (fd, POLLOUT, "connecting");
  if (getsockopt (fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err != 0)
    {
      errno = err;
      die ("connect");
    }
  if (getsockopt (fd, SOL_BLUETOOTH, BT_SNDMTU_, &mtu, &len) < 0)
    die ("getsockopt(BT_SNDMTU)");
  *sndmtu = mtu;
  fprintf (stderr, "l2cap-central: connected to %s PSM 0x%04lx, its MTU %u\n", peer, psm, mtu);
  if (opt_ready != NULL)
    {
      FILE *f = fopen (opt_ready, "w");
      if (f == NULL)
        die (opt_ready);
      fclose (f);
    }
  return fd;
}

static ssize_t
recv_sdu (int fd, uint8_t *buf, size_t size)
{
  for (;;)
    {
      ssize_t n = recv (fd, buf, size, MSG_DONTWAIT);

      if (n >= 0)
        return n;
      if (errno == EINTR)
        continue;
      if (errno != EAGAIN)
        die ("recv");
      wait_fd (fd, POLLIN, "receiving");
    }
}

/* One Framing=length frame; its length. */
static size_t
recv_frame (int fd, uint8_t *frame, uint8_t *sdu)
{
  uint8_t head[4];
  size_t have = 0, want = 0, got = 0;

  while (have < 4 || got < want)
    {
      ssize_t n = recv_sdu (fd, sdu, 65536);
      size_t off = 0;

      if (n == 0)
        fail ("the peripheral closed the channel in the middle of a frame");
      while (off < (size_t) n && have < 4)
        head[have++] = sdu[off++];
      if (have == 4 && want == 0 && got == 0)
        {
          want = (size_t) head[0] | (size_t) head[1] << 8 | (size_t) head[2] << 16 | (size_t) head[3] << 24;
          if (want > FRAME_MAX)
            fail ("a frame length over 1 MiB: the stream lost its framing");
        }
      if ((size_t) n - off > want - got)
        fail ("an SDU holds bytes past the end of its frame");
      memcpy (frame + got, sdu + off, (size_t) n - off);
      got += (size_t) n - off;
    }
  return want;
}

static void
print_hex (const uint8_t *data, size_t len)
{
  static const char digits[] = "0123456789abcdef";
  char *line = malloc (len * 2 + 2);

  for (size_t i = 0; i < len; i++)
    {
      line[2 * i] = digits[data[i] >> 4];
      line[2 * i + 1] = digits[data[i] & 15];
    }
  line[2 * len] = '\n';
  fwrite (line, 1, len * 2 + 1, stdout);
  free (line);
}

static void
wait_start_file (void)
{
  struct stat st;

  while (opt_start != NULL && stat (opt_start, &st) < 0)
    {
      struct timespec ts = { 0, 50 * 1000 * 1000 };
      if (now_s () > deadline)
        fail ("timed out waiting for the --start-file");
      nanosleep (&ts, NULL);
    }
}

static void
send_file (int fd, unsigned mtu, const char *path)
{
  FILE *f = fopen (path, "rb");
  uint8_t *buf = malloc (FRAME_MAX + 4);
  size_t len, sent = 0;

  if (f == NULL)
    die (path);
  len = fread (buf + 4, 1, FRAME_MAX, f);
  fclose (f);
  buf[0] = len & 0xff;
  buf[1] = (len >> 8) & 0xff;
  buf[2] = (len >> 16) & 0xff;
  buf[3] = (len >> 24) & 0xff;
  while (sent < len + 4)
    {
      size_t chunk = len + 4 - sent < mtu ? len + 4 - sent : mtu;
      ssize_t n = send (fd, buf + sent, chunk, MSG_DONTWAIT);

      if (n < 0 && errno == EAGAIN)
        {
          wait_fd (fd, POLLOUT, "waiting for credits");
          continue;
        }
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        die ("send");
      sent += (size_t) n;
    }
  free (buf);
}

int
main (int argc, char **argv)
{
  int i = 1, fd;
  unsigned mtu = 0;
  const char *mode;
  uint8_t *frame = malloc (FRAME_MAX), *sdu = malloc (65536);

  for (; i < argc && strncmp (argv[i], "--", 2) == 0; i += 2)
    {
      if (i + 1 >= argc)
        fail ("an option needs a value");
      if (strcmp (argv[i], "--timeout") == 0)
        opt_timeout = atoi (argv[i + 1]);
      else if (strcmp (argv[i], "--from") == 0)
        opt_from = argv[i + 1];
      else if (strcmp (argv[i], "--ready-file") == 0)
        opt_ready = argv[i + 1];
      else if (strcmp (argv[i], "--start-file") == 0)
        opt_start = argv[i + 1];
      else if (strcmp (argv[i], "--security") == 0)
        opt_security = strcmp (argv[i + 1], "medium") == 0 ? 2 : strcmp (argv[i + 1], "high") == 0 ? 3 : 1;
      else
        {
          fprintf (stderr, "l2cap-central: unknown option %s\n", argv[i]);
          return 2;
        }
    }
  if (argc - i < 3)
    {
      fprintf (stderr, "usage: l2cap-central [OPTIONS] recv|recv-until|send|partial|connect PEER PSM [ARG…]\n");
      return 2;
    }
  mode = argv[i];
  deadline = now_s () + opt_timeout;
  setvbuf (stdout, NULL, _IOFBF, 1 << 20);
  fd = open_channel (argv[i + 1], argv[i + 2], &mtu);
  i += 3;

  if (strcmp (mode, "recv") == 0 && i < argc)
    {
      long n = atol (argv[i]);
      wait_start_file ();
      for (long k = 0; k < n; k++)
        {
          print_hex (frame, recv_frame (fd, frame, sdu));
          fflush (stdout);
        }
    }
  else if (strcmp (mode, "recv-until") == 0 && i < argc)
    {
      const char *want = argv[i];
      long n = 0;

      wait_start_file ();
      for (;;)
        {
          size_t len = recv_frame (fd, frame, sdu);
          char *hex = malloc (len * 2 + 1);

          for (size_t k = 0; k < len; k++)
            sprintf (hex + 2 * k, "%02x", frame[k]);
          hex[2 * len] = '\0';
          n++;
          if (strcmp (hex, want) == 0)
            {
              free (hex);
              break;
            }
          free (hex);
        }
      printf ("frames %ld\n", n);
    }
  else if (strcmp (mode, "send") == 0)
    {
      for (; i < argc; i++)
        send_file (fd, mtu, argv[i]);
      /* Closing at once could drop SDUs the kernel still holds: wait until
       * its send buffer is all free again (TIOCOUTQ gives the free room of a
       * Bluetooth socket), bounded by --timeout. */
      {
        int sndbuf = 0, room = 0;
        socklen_t sl = sizeof sndbuf;

        getsockopt (fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, &sl);
        while (ioctl (fd, TIOCOUTQ, &room) == 0 && room < sndbuf && now_s () < deadline)
          {
            struct timespec ts = { 0, 20 * 1000 * 1000 };
            nanosleep (&ts, NULL);
          }
      }
    }
  else if (strcmp (mode, "partial") == 0)
    {
      ssize_t n = recv_sdu (fd, sdu, 65536);
      printf ("partial %zd\n", n);
    }
  else if (strcmp (mode, "connect") == 0)
    printf ("connected\n");
  else
    {
      fprintf (stderr, "l2cap-central: unknown mode or missing argument: %s\n", mode);
      return 2;
    }
  fflush (stdout);
  close (fd);
  return 0;
}
