/* afalg-bind — bind AF_ALG ecb(aes) and cmac(aes) once, so that their
 * instantiation (and the kernel's self-tests, over a second under TCG) is
 * done before btvirt starts: otherwise hci0's HCI Reset can time out and
 * the kernel never hands hci0 over (/work/shared/VIRTUAL-RADIO.md). The boot
 * test's root has no Python to do it with, so it runs this. */
#include <linux/if_alg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#ifndef AF_ALG
#define AF_ALG 38
#endif

static int
bind_alg (const char *type, const char *name)
{
  struct sockaddr_alg sa = { .salg_family = AF_ALG };
  int fd = socket (AF_ALG, SOCK_SEQPACKET, 0);

  if (fd < 0)
    {
      perror ("afalg-bind: socket(AF_ALG)");
      return 1;
    }
  strncpy ((char *) sa.salg_type, type, sizeof sa.salg_type - 1);
  strncpy ((char *) sa.salg_name, name, sizeof sa.salg_name - 1);
  if (bind (fd, (struct sockaddr *) &sa, sizeof sa) < 0)
    {
      fprintf (stderr, "afalg-bind: bind %s %s: ", type, name);
      perror (NULL);
      close (fd);
      return 1;
    }
  close (fd);
  return 0;
}

int
main (void)
{
  return bind_alg ("skcipher", "ecb(aes)") | bind_alg ("hash", "cmac(aes)");
}
