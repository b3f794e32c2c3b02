/* What the control socket's dispatcher (control.c) shares with its request
 * handlers (control-*.c): the connection and server state, and the few
 * ways a handler queues output or moves captured writes. A handler carries
 * out one parsed request and appends its reply line to c->out. */
#pragma once

#include <glib.h>

#include "common/protocol.h"
#include "daemon/control.h"
#include "daemon/peripheral.h"

G_BEGIN_DECLS

/* Read IDs a connection never answered are forgotten after this long. */
#define READ_FORGET_US (60 * G_USEC_PER_SEC)

typedef struct _Connection Connection;

/* A read asked of a serving connection, until it answers. */
typedef struct {
  guint64 id;
  char *chr_id;
  gint64 since;
} ReadInfo;

struct _Connection {
  BpControl *control;
  guint number;
  int fd;
  GSource *source;
  GIOCondition condition; /* what the source waits for */
  GByteArray *partial;    /* an incomplete request line kept between reads */
  GString *out;           /* out->str + out_head: not yet sent */
  gsize out_head;
  guint64 out_sent;     /* bytes handed to the kernel so far */
  gint64 stalled_since; /* monotonic time output began to wait, 0 when none waits */
  GQueue deliveries;    /* of Delivery*, oldest first: captured writes not yet sent */
  guint watch;          /* BpWatchMask */
  gboolean serving;
  gboolean notifier;    /* has sent notify: not read while the bus is behind */
  GHashTable *reads;    /* guint64 id → ReadInfo: reads asked of this connection */
  gboolean in_dispatch; /* replies are flushed when the read cycle ends */
  gboolean closing;     /* no more requests: send what is queued, then close */
  guint linger_source;
  gboolean closed;
};

struct _BpControl {
  BpPeripheral *p;
  int listen_fd;
  guint listen_source;
  guint retry_source;
  char *path; /* the socket file this created, or NULL */
  dev_t dev;
  ino_t ino;
  guint listener;
  GList *connections; /* of Connection*, oldest first; closed ones until reaped */
  guint n_open;
  guint next_number;
  guint reap_source;
  guint stall_source;        /* checks waiting output while some does */
  gboolean captured_waiting; /* captured writes were held back by a full watcher */
  gboolean paused;           /* no request is read while the way to the bus is congested */
  gboolean delivering;
  char *read_buffer; /* READ_BUFFER_SIZE + 1 */
  GString *scratch;  /* an event line being formatted */
};

/* Queue output on c (it is sent when the read cycle ends, or at once). */
void control_connection_append (Connection *c, const char *data, gsize len);
/* After output was queued: closes c when over its bound, else sends. */
void control_connection_output_done (Connection *c);
/* Moves every characteristic's queued captured writes to the write-watchers. */
void control_deliver_all_captured (BpControl *control);

void control_read_info_free (ReadInfo *ri);

/* One request. chr is the characteristic the request names, looked up
 * already (NULL when it names none). */
typedef gboolean (*ControlHandler) (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error);

/* control-values.c: values and reads served by producers */
gboolean control_handle_set_notify (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error);
gboolean control_handle_get_take (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error);
gboolean control_handle_info (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error);
gboolean control_handle_serve (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error);
gboolean control_handle_reply (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error);

/* control-session.c: events, the radio, the daemon's state */
gboolean control_handle_watch (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error);
gboolean control_handle_unwatch (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error);
gboolean control_handle_advertise (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error);
gboolean control_handle_disconnect (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error);
gboolean control_handle_status (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error);
gboolean control_handle_help (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error);

/* control-pairing.c: pairing window and answers, bonds */
gboolean control_handle_pairing (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error);
gboolean control_handle_bonds (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error);
gboolean control_handle_forget (Connection *c, const BpRequest *r, BpCharacteristic *chr, GError **error);
/* The protocol event of a pairing event (BP_EVENT_PAIRING, _PAIRED, _PAIRING_FAILED). */
void control_pairing_event (const BpEvent *event, BpProtoEvent *ev);
/* " pairing=MODE window=… bonds=N" for status. */
void control_pairing_status (BpControl *control, GString *out);

static inline const char *
control_yes_no (gboolean b)
{
  return b ? "yes" : "no";
}

/* "-" for a missing or empty word. */
static inline const char *
control_or_dash (const char *s)
{
  return s != NULL && *s != '\0' ? s : "-";
}

G_END_DECLS
