/* bench-client: notifications through libble-peripheral, the C library a
 * producer links, for the Python client's overhead bench (python-client.py):
 *
 *   bench-client SOCKET CHAR COUNT SIZE
 *
 * COUNT × bp_client_notify() of a SIZE-byte value (one request, one "ok",
 * one round trip each, as the library works), then one line
 * "done sent=N seconds=S cpu=S" (this process's CPU, user + system). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <ble-peripheral/client.h>

static double
now (clockid_t clock)
{
  struct timespec ts;

  clock_gettime (clock, &ts);
  return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

int
main (int argc, char **argv)
{
  bp_client *c;
  long count, size;
  uint8_t value[512];
  double t0, cpu0;

  if (argc != 5)
    {
      fprintf (stderr, "usage: bench-client SOCKET CHAR COUNT SIZE\n");
      return 2;
    }
  count = strtol (argv[3], NULL, 10);
  size = strtol (argv[4], NULL, 10);
  if (count < 1 || size < 4 || size > (long) sizeof value)
    {
      fprintf (stderr, "bench-client: COUNT >= 1 and SIZE 4..512\n");
      return 2;
    }
  c = bp_client_connect (argv[1]);
  if (c == NULL)
    {
      perror ("bench-client: connect");
      return 3;
    }
  memset (value, 0xa5, sizeof value);
  t0 = now (CLOCK_MONOTONIC);
  cpu0 = now (CLOCK_PROCESS_CPUTIME_ID);
  for (long i = 0; i < count; i++)
    {
      value[0] = (uint8_t) i;
      value[1] = (uint8_t) (i >> 8);
      value[2] = (uint8_t) (i >> 16);
      value[3] = (uint8_t) (i >> 24);
      if (bp_client_notify (c, argv[2], value, (size_t) size, NULL) != 0)
        {
          fprintf (stderr, "bench-client: notify %ld: %s\n", i, bp_client_error (c));
          return 1;
        }
    }
  printf ("done sent=%ld seconds=%.6f cpu=%.6f\n", count, now (CLOCK_MONOTONIC) - t0,
          now (CLOCK_PROCESS_CPUTIME_ID) - cpu0);
  bp_client_close (c);
  return 0;
}
