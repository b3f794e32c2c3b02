/* libble-peripheral: talk to the ble-peripheral daemon from C.
 *
 * A producer pushes values to the centrals (set, notify), takes what they
 * write (watch, next_event), and may answer their reads (serve, reply). Each
 * call sends one request on the daemon's control socket and waits for its
 * reply; events that arrive meanwhile are kept for bp_client_next_event().
 * The protocol is described in docs/protocol.md.
 *
 *     bp_client *c = bp_client_connect (NULL);
 *     if (c == NULL) { perror ("ble-peripheral"); return 3; }
 *     if (bp_client_notify_text (c, "env/temperature", "24.58", NULL) < 0)
 *       fprintf (stderr, "%s\n", bp_client_error (c));
 *     bp_client_close (c);
 *
 * Return values: 0 on success, -1 on failure; bp_client_error() then says
 * why. Thread-compatible: a client is used by one thread at a time; use one
 * client per thread. Link with `pkg-config --libs ble-peripheral`. */
#ifndef BLE_PERIPHERAL_CLIENT_H
#define BLE_PERIPHERAL_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The largest value: the ATT limit. */
#define BP_CLIENT_VALUE_MAX 512
/* Where the daemon listens unless told otherwise. */
#define BP_CLIENT_DEFAULT_SOCKET "/run/ble-peripheral/control"
/* Environment variable naming another socket. */
#define BP_CLIENT_SOCKET_ENV "BLE_PERIPHERAL_SOCKET"

typedef struct bp_client bp_client;

/* Event classes for bp_client_watch(). */
enum {
  BP_CLIENT_WATCH_WRITE = 1 << 0,     /* write, dropped */
  BP_CLIENT_WATCH_CONNECT = 1 << 1,   /* connect, disconnect */
  BP_CLIENT_WATCH_SUBSCRIBE = 1 << 2, /* subscribe, unsubscribe, confirm */
  BP_CLIENT_WATCH_STATE = 1 << 3,     /* advertising, adapter, reloaded */
  BP_CLIENT_WATCH_PAIRING = 1 << 4,   /* pairing, paired, pairing-failed */
  BP_CLIENT_WATCH_ALL = 0x1f,
};

typedef enum {
  BP_CLIENT_EVENT_CONNECT,     /* address */
  BP_CLIENT_EVENT_DISCONNECT,  /* address */
  BP_CLIENT_EVENT_SUBSCRIBE,   /* characteristic, address when known */
  BP_CLIENT_EVENT_UNSUBSCRIBE, /* characteristic, address when known */
  BP_CLIENT_EVENT_WRITE,       /* characteristic, address, data, len, offset */
  BP_CLIENT_EVENT_READ,        /* id, characteristic, address, offset: answer with bp_client_reply() */
  BP_CLIENT_EVENT_CONFIRM,     /* characteristic, address when known */
  BP_CLIENT_EVENT_DROPPED,     /* characteristic, count: captured writes lost to QueueLength */
  BP_CLIENT_EVENT_ADVERTISING, /* on (started = 1), reason ("timeout") or NULL */
  BP_CLIENT_EVENT_ADAPTER,     /* address, on (up = 1) */
  BP_CLIENT_EVENT_RELOADED,    /* the daemon reloaded its configuration */
  BP_CLIENT_EVENT_OTHER,       /* an event this library does not know: see line */
  /* pairing ([Security]; after OTHER so that the values above stay) */
  BP_CLIENT_EVENT_PAIRING,        /* address, reason "passkey", "confirm" or "authorize"; on = 1 when
                                     count holds the 6-digit passkey. Answer confirm and authorize with
                                     bp_client_pairing_answer() */
  BP_CLIENT_EVENT_PAIRED,         /* address: a central bonded */
  BP_CLIENT_EVENT_PAIRING_FAILED, /* address, reason ("rejected", "timeout", "canceled", "window-closed", …) */
} bp_client_event_type;

/* The strings and data stay valid until the next call on the client. */
typedef struct {
  bp_client_event_type type;
  const char *line;           /* the event line as received, without "\n" */
  const char *characteristic; /* "env/temperature", or NULL */
  const char *address;        /* "00:11:22:33:44:55", or NULL when unknown */
  const uint8_t *data;        /* a write's bytes */
  size_t len;
  unsigned offset; /* a write's or read's offset */
  uint64_t id;     /* a read's ID */
  uint64_t count;  /* dropped */
  int on;
  const char *reason;
} bp_client_event;

/* The ATT MTU a subscribe event names (event subscribe CHAR ADDR mtu=N,
 * BlueZ's AcquireNotify), 0 when it names none. Kept out of bp_client_event
 * so that the structure's size stays as programs built earlier know it. */
unsigned bp_client_event_mtu (const bp_client_event *event);

/* Connects to path, or when NULL to $BLE_PERIPHERAL_SOCKET or
 * BP_CLIENT_DEFAULT_SOCKET. NULL with errno set when the daemon cannot be
 * reached (ENOENT: no socket; ECONNREFUSED: no daemon; EACCES: permission). */
bp_client *bp_client_connect (const char *path);
/* Closes the connection and frees the client; NULL is ignored. */
void bp_client_close (bp_client *client);

/* How long a request waits for its reply, in milliseconds (default 10000;
 * negative: forever). */
void bp_client_set_timeout (bp_client *client, int timeout_ms);

/* Why the last call failed: "NAME: message", NAME being the daemon's error
 * name (e.g. "unknown-characteristic", "bad-value"), or one of this
 * library's: "disconnected" (the daemon closed the connection), "timeout",
 * "invalid-argument", "protocol" (a line the library does not understand),
 * "io". */
const char *bp_client_error (const bp_client *client);
/* The NAME part alone. */
const char *bp_client_error_name (const bp_client *client);

/* The socket, for poll(): readable means bp_client_next_event() may have an
 * event. Events already read are kept inside the client: call
 * bp_client_next_event() with timeout 0 until it returns 0 before polling
 * again. */
int bp_client_fd (const bp_client *client);
/* Events received and not yet returned by bp_client_next_event(). */
size_t bp_client_pending_events (const bp_client *client);

/* Store a value; centrals read it, nobody is notified. The raw forms send
 * bytes as they are; the _text forms send value as the protocol writes it:
 * hex ("9a09"), a quoted string ("\"hello\""), or a number ("24.58") that
 * the daemon encodes with the characteristic's Format. */
int bp_client_set (bp_client *client, const char *characteristic, const void *data, size_t len);
int bp_client_set_text (bp_client *client, const char *characteristic, const char *value);
/* Store and notify/indicate every subscriber, or the central at address
 * when it is not NULL (BlueZ >= 5.76). */
int bp_client_notify (bp_client *client, const char *characteristic, const void *data, size_t len, const char *address);
int bp_client_notify_text (bp_client *client, const char *characteristic, const char *value, const char *address);

/* The stored value into buf (size bytes; BP_CLIENT_VALUE_MAX is always
 * enough), its length in *len. take also empties it (Append buffers). */
int bp_client_get (bp_client *client, const char *characteristic, uint8_t *buf, size_t size, size_t *len);
int bp_client_take (bp_client *client, const char *characteristic, uint8_t *buf, size_t size, size_t *len);

/* Start (watch) or stop (unwatch) receiving the events of mask
 * (BP_CLIENT_WATCH_*; 0 means all). Captured writes queued while nobody
 * watched arrive first. */
int bp_client_watch (bp_client *client, unsigned mask);
int bp_client_unwatch (bp_client *client, unsigned mask);
/* The next event: 1 when one is in *event, 0 when none came within
 * timeout_ms (0: do not wait; negative: wait forever), -1 on error. */
int bp_client_next_event (bp_client *client, int timeout_ms, bp_client_event *event);

/* Answer the reads of characteristic (ReadHandler=socket) from now on:
 * BP_CLIENT_EVENT_READ events arrive, each to be answered with
 * bp_client_reply() or bp_client_reply_error() within the characteristic's
 * ReadTimeout. */
int bp_client_serve (bp_client *client, const char *characteristic);
int bp_client_reply (bp_client *client, uint64_t id, const void *data, size_t len);
int bp_client_reply_text (bp_client *client, uint64_t id, const char *value);
/* att_error: 0x01-0x0f or 0x80-0x9f (application errors). */
int bp_client_reply_error (bp_client *client, uint64_t id, uint8_t att_error);

int bp_client_advertise (bp_client *client, int on);
int bp_client_disconnect (bp_client *client, const char *address);

/* "key=value …" of the daemon's status (adapter=, bluez=, centrals=, …) or
 * info (format=, exponent=, flags=, …) reply; valid until the next call. */
int bp_client_status (bp_client *client, const char **text);

/* Pairing ([Security] Pairing= other than off). Open the pairing window for
 * duration_ms (0: [Security] PairingWindow, or until closed when that is 0),
 * or close it. */
int bp_client_pairing (bp_client *client, int on, unsigned long duration_ms);
/* Answer a "pairing ADDR confirm|authorize" event: accept (1) or reject (0). */
int bp_client_pairing_answer (bp_client *client, const char *address, int accept);
/* The bonded centrals' addresses, space-separated ("" when none), valid
 * until the next call. */
int bp_client_bonds (bp_client *client, const char **addresses);
/* Remove a central's bond (bluetoothd disconnects it). */
int bp_client_forget (bp_client *client, const char *address);
int bp_client_info (bp_client *client, const char *characteristic, const char **text);
/* The value of key in such a text, copied into buf; -1 when absent or
 * longer than size - 1. */
int bp_client_lookup (const char *text, const char *key, char *buf, size_t size);

/* Any request line (without "\n"); *text receives the words after "ok". */
int bp_client_request (bp_client *client, const char *line, const char **text);

#ifdef __cplusplus
}
#endif

#endif /* BLE_PERIPHERAL_CLIENT_H */
