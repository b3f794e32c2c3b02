/* The control socket protocol's lines (docs/protocol.md): requests as the
 * daemon parses them, replies and events as the daemon writes them and the
 * client library reads them. One place for the words, so that daemon,
 * libble-peripheral and ble-peripheralctl cannot drift apart.
 *
 * Parsers work in place on a writable line (no allocation): the strings
 * they return point into that line. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* The longest request line, not counting its "\n". */
#define BP_PROTOCOL_LINE_MAX 8192

/* Event classes of `watch` / `unwatch`. */
typedef enum {
  BP_WATCH_WRITE = 1 << 0,     /* write, dropped */
  BP_WATCH_CONNECT = 1 << 1,   /* connect, disconnect */
  BP_WATCH_SUBSCRIBE = 1 << 2, /* subscribe, unsubscribe, confirm */
  BP_WATCH_STATE = 1 << 3,     /* advertising, adapter, reloaded */
  BP_WATCH_PAIRING = 1 << 4,   /* pairing, paired, pairing-failed */
  BP_WATCH_ALL = 0x1f,
} BpWatchMask;

typedef enum {
  BP_REQUEST_SET,
  BP_REQUEST_NOTIFY,
  BP_REQUEST_GET,
  BP_REQUEST_TAKE,
  BP_REQUEST_WATCH,
  BP_REQUEST_UNWATCH,
  BP_REQUEST_SERVE,
  BP_REQUEST_REPLY,
  BP_REQUEST_ADVERTISE,
  BP_REQUEST_DISCONNECT,
  BP_REQUEST_STATUS,
  BP_REQUEST_INFO,
  BP_REQUEST_HELP,
  /* pairing (control-pairing.c) */
  BP_REQUEST_PAIRING,
  BP_REQUEST_BONDS,
  BP_REQUEST_FORGET,
} BpRequestVerb;

/* pairing on|off|accept|reject */
typedef enum {
  BP_PAIRING_ON,
  BP_PAIRING_OFF_REQ,
  BP_PAIRING_ACCEPT,
  BP_PAIRING_REJECT,
} BpPairingOp;

typedef struct {
  BpRequestVerb verb;
  const char *verb_name;      /* "notify" */
  const char *characteristic; /* set notify get take serve info */
  const char *value;          /* set notify reply: the VALUE word, unparsed (its meaning depends on the Format) */
  const char *address;        /* notify to=ADDR (else NULL), disconnect ADDR */
  guint64 id;                 /* reply */
  gboolean is_error;          /* reply ID error CODE */
  guint8 att_error;           /* its CODE */
  guint watch;                /* watch/unwatch: BpWatchMask (all when no class is named) */
  gboolean on;                /* advertise on|off */
  BpPairingOp pairing;        /* pairing on|off|accept|reject (accept, reject: address) */
  guint64 duration_us;        /* pairing on DURATION; 0 when none was given */
} BpRequest;

/* The request words, space-separated, as `help` lists them. */
extern const char bp_protocol_help[];

/* Parses one request line of len bytes (without its "\n"; a trailing "\r"
 * is ignored). The line is modified: words are cut in place. Errors
 * (BP_ERROR_BAD_REQUEST, BP_ERROR_BAD_VALUE) name the request and say what
 * was expected. Values are not parsed here: that needs the characteristic's
 * Format, which the daemon knows. */
gboolean bp_request_parse (char *line, gsize len, BpRequest *request, GError **error);

/* Splits line into at most max_words words in place, as the daemon does:
 * words separated by spaces or tabs; a word starting with a double quote
 * runs to the matching unescaped quote (kept, with its escapes) and must be
 * followed by a space or the end. Returns FALSE with BP_ERROR_BAD_VALUE on
 * an unterminated quote, BP_ERROR_BAD_REQUEST when there are more than
 * max_words words. */
gboolean bp_protocol_split (char *line, char **words, guint max_words, guint *n_words, GError **error);

/* A Bluetooth address as the protocol writes it: six pairs of hex digits
 * separated by colons. */
gboolean bp_protocol_address_valid (const char *text);

/* TRUE when text can travel as one bare word: not empty, no space, tab,
 * control character or double quote at its start, valid UTF-8. */
gboolean bp_protocol_word_valid (const char *text);

/* text as a quoted string word ("…" with C escapes), which bp_value_parse()
 * reads back to the same bytes. */
char *bp_protocol_quote (const char *text, gssize len);

/* Appends data as a protocol value: lower-case hex, or "" (an empty
 * quoted string) for an empty value, so that a value is always one word. */
void bp_protocol_append_value (GString *out, const guint8 *data, gsize len);

/* Decodes a value word written by bp_protocol_append_value() (hex, with or
 * without ':' separators, or "") into buf. FALSE when it is not one or does
 * not fit size bytes. */
gboolean bp_protocol_decode_value (const char *word, guint8 *buf, gsize size, gsize *len);

/* "2min", "30s", "500ms", "1h": a duration as `pairing on` takes it
 * (a unit is required). FALSE when it is not one or is 0. */
gboolean bp_protocol_parse_duration (const char *text, guint64 *us);

/* --- replies --------------------------------------------------------- */

/* "error NAME: message\n", NAME from the BP_ERROR code (other domains:
 * "failed"); line breaks in the message become spaces. */
void bp_reply_append_error (GString *out, const GError *error);

typedef struct {
  gboolean ok;
  const char *words;      /* after "ok" ("" when none) */
  const char *error_name; /* "unknown-characteristic" */
  const char *message;    /* what follows "NAME: " */
} BpReply;

/* Parses a reply line ("ok …" or "error NAME: message") in place. FALSE
 * with BP_ERROR_FAILED when the line is neither. */
gboolean bp_reply_parse (char *line, BpReply *reply, GError **error);

/* The BP_ERROR code of a protocol error NAME; BP_ERROR_FAILED when unknown. */
int bp_error_from_name (const char *name);

/* --- events ---------------------------------------------------------- */

typedef enum {
  BP_PROTO_EVENT_CONNECT,        /* event connect ADDR */
  BP_PROTO_EVENT_DISCONNECT,     /* event disconnect ADDR */
  BP_PROTO_EVENT_SUBSCRIBE,      /* event subscribe CHAR [ADDR [mtu=N]] */
  BP_PROTO_EVENT_UNSUBSCRIBE,    /* event unsubscribe CHAR [ADDR] */
  BP_PROTO_EVENT_WRITE,          /* event write CHAR ADDR VALUE [offset=N] */
  BP_PROTO_EVENT_READ,           /* event read ID CHAR ADDR [offset=N] */
  BP_PROTO_EVENT_CONFIRM,        /* event confirm CHAR [ADDR] */
  BP_PROTO_EVENT_DROPPED,        /* event dropped CHAR N */
  BP_PROTO_EVENT_ADVERTISING,    /* event advertising started|stopped [REASON] */
  BP_PROTO_EVENT_ADAPTER,        /* event adapter ADDR up|down */
  BP_PROTO_EVENT_RELOADED,       /* event reloaded */
  BP_PROTO_EVENT_PAIRING,        /* event pairing ADDR passkey|confirm NNNNNN / event pairing ADDR authorize */
  BP_PROTO_EVENT_PAIRED,         /* event paired ADDR */
  BP_PROTO_EVENT_PAIRING_FAILED, /* event pairing-failed ADDR REASON */
  BP_PROTO_EVENT_UNKNOWN,        /* a newer daemon's event: ignore it */
} BpProtoEventKind;

typedef struct {
  BpProtoEventKind kind;
  const char *characteristic; /* NULL when the event has none */
  const char *address;        /* NULL when unknown ("-" on the wire) or not part of the event */
  const guint8 *data;         /* write */
  gsize len;
  guint offset;  /* write, read */
  guint64 id;    /* read */
  guint64 count; /* dropped */
  gboolean on;   /* advertising started, adapter up */
  const char
    *reason; /* advertising stopped REASON, or NULL; pairing: passkey|confirm|authorize; pairing-failed REASON */
  gboolean has_passkey; /* pairing passkey|confirm: the 6-digit passkey is in count */
  guint mtu;            /* subscribe: the central's ATT MTU, 0 when unknown */
} BpProtoEvent;

/* The watch class an event belongs to; 0 for read (sent to its server). */
BpWatchMask bp_proto_event_class (BpProtoEventKind kind);

/* Appends the event's line, "\n" included. */
void bp_proto_event_append (GString *out, const BpProtoEvent *event);

/* Parses an event line in place; write data is decoded into buf
 * (BP_VALUE_MAX bytes). Unknown event names give BP_PROTO_EVENT_UNKNOWN;
 * a malformed known event gives FALSE with BP_ERROR_FAILED. */
gboolean bp_proto_event_parse (char *line, BpProtoEvent *event, guint8 *buf, GError **error);

G_END_DECLS
