/* A producer in C with libble-peripheral:
 *   cc producer.c $(pkg-config --cflags --libs ble-peripheral) -o producer
 * Notifies a temperature, then prints the writes of a Capture characteristic. */
#include <ble-peripheral/client.h>
#include <stdio.h>
#include <stdlib.h>

int
main (void)
{
  bp_client *c = bp_client_connect (NULL); /* $BLE_PERIPHERAL_SOCKET or the default */
  bp_client_event ev;
  int count = getenv ("COUNT") ? atoi (getenv ("COUNT")) : -1;

  if (c == NULL)
    {
      perror ("ble-peripheral");
      return 3;
    }
  if (bp_client_notify_text (c, "env/temperature", "24.58", NULL) < 0)
    {
      fprintf (stderr, "notify: %s\n", bp_client_error (c));
      return 1;
    }
  bp_client_watch (c, BP_CLIENT_WATCH_WRITE);
  while (count != 0 && bp_client_next_event (c, -1, &ev) == 1)
    {
      if (ev.type != BP_CLIENT_EVENT_WRITE)
        continue;
      printf ("%s from %s: %zu bytes:", ev.characteristic, ev.address ? ev.address : "?", ev.len);
      for (size_t i = 0; i < ev.len; i++)
        printf (" %02x", ev.data[i]);
      printf ("\n");
      fflush (stdout);
      if (count > 0)
        count--;
    }
  bp_client_close (c);
  return 0;
}
