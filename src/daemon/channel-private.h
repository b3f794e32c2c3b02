/* What the channel server (channel.c: listeners, the centrals' links,
 * framing, queues) shares with the producer side (channel-producer.c: the
 * SOCK_SEQPACKET sockets producers connect to). Not for other modules. */
#pragma once

#include "daemon/channel.h"

G_BEGIN_DECLS

typedef struct _Channel Channel;
typedef struct _Link Link;
typedef struct _Producer Producer;

/* One central's open channel. */
struct _Link {
  Channel *ch;
  int fd;
  char *address;
  guint send_mtu; /* the largest SDU the central accepts */
  guint watch;    /* GSource id, 0 when nothing is watched */
  GIOCondition cond;
  /* sending: frames waiting (GBytes*, at most QueueLength), the one leaving */
  GQueue queue;
  GBytes *current;
  gsize sent; /* bytes of current (its 4-byte header included with Framing=length) handed to the kernel */
  guint8 header[4];
  guint eagain_in_a_row; /* EAGAIN on G_IO_OUT since the last SDU the kernel took */
  gboolean woken_by_out; /* link_flush() runs because the socket polled writable */
  /* receiving, Framing=length: the length being read, the frame being filled */
  guint8 len_buf[4];
  gsize len_have;
  GByteArray *partial;
  guint32 want;
  /* counters */
  guint64 n_sent, n_received, n_dropped, dropped_unreported;
  guint dropped_source;
};

/* A connection to a producer socket. */
struct _Producer {
  Channel *ch;
  int fd;
  gboolean addressed; /* NAME.addr: messages carry an address header */
  guint watch;
  GIOCondition cond;
  GQueue out; /* GBytes*: messages for it that its socket had no room for */
};

/* The producer sockets: [0] NAME (plain frames), [1] NAME.addr (address header). */
#define N_PRODUCER_SOCKETS 2

struct _Channel {
  BpChannels *owner;
  BpChannelConfig *config;
  int listen_fd;
  guint listen_watch;
  guint psm;
  GPtrArray *links; /* of Link*, in open order */
  int producer_listen[N_PRODUCER_SOCKETS];
  guint producer_listen_watch[N_PRODUCER_SOCKETS];
  char *producer_path[N_PRODUCER_SOCKETS];
  GList *producers;        /* of Producer* */
  gboolean producers_held; /* OnFull=wait and a central's queue is full: producers are not read */
  gboolean links_held;     /* a producer's queue is full: centrals are not read (their credits stop) */
  guint64 n_unclaimed;     /* frames from centrals that no producer was there to take */
  guint64 closed_sent, closed_received, closed_dropped; /* the counters of links closed so far */
};

struct _BpChannels {
  BpPeripheral *p;
  const BpL2capOps *ops;
  char *dir;
  guint mode;
  char *group;
  GPtrArray *channels; /* of Channel*, in configuration order */
  guint listener;
  char *adapter_address; /* the adapter listened on, NULL while there is none */
  guint8 *buffer;        /* BP_CHANNEL_FRAME_MAX + BP_CHANNEL_ADDRESS_HEADER: one message read at a time */
  gboolean freeing;      /* no events */
};

/* channel.c */

/* Re-arms fd's watch for cond (0: no watch). */
void channel_watch (guint *watch, GIOCondition *current, int fd, GIOCondition cond, GUnixFDSourceFunc func,
                    gpointer data);
/* Queues frame for every open link, or the one of to_address (NULL: all). */
void channel_send (Channel *ch, const char *to_address, GBytes *frame);
/* OnFull=wait: is any central's queue full? */
gboolean channel_any_link_full (Channel *ch);
/* Stop or go on reading the centrals (a producer's queue is full or drained). */
void channel_hold_links (Channel *ch, gboolean hold);

/* channel-producer.c */

gboolean channel_producers_open (Channel *ch, GError **error);
void channel_producers_close (Channel *ch);
/* A frame from a central to every producer. */
void channel_deliver (Channel *ch, const char *address, const guint8 *data, gsize len);
/* Hold or release the producers (OnFull=wait). */
void channel_hold_producers (Channel *ch, gboolean hold);

G_END_DECLS
