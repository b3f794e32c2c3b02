/* One error domain for everything ble-peripheral: the codes double as the
 * NAME of the control protocol's "error NAME: message" replies. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define BP_ERROR (bp_error_quark ())
GQuark bp_error_quark (void);

typedef enum {
  BP_ERROR_FAILED,                 /* "failed" */
  BP_ERROR_BAD_REQUEST,            /* "bad-request": unknown verb, missing or extra words */
  BP_ERROR_UNKNOWN_CHARACTERISTIC, /* "unknown-characteristic" */
  BP_ERROR_AMBIGUOUS,              /* "ambiguous": a bare CHAR that names several */
  BP_ERROR_BAD_VALUE,              /* "bad-value": bad hex, bad quoting, invalid UTF-8 */
  BP_ERROR_OUT_OF_RANGE,           /* "out-of-range": a number its format cannot hold */
  BP_ERROR_TOO_LONG,               /* "too-long": over 512 bytes, or MaxLength for writes */
  BP_ERROR_NOT_SUPPORTED,          /* "not-supported": e.g. to=ADDR before BlueZ 5.76 */
  BP_ERROR_UNKNOWN_READ,           /* "unknown-read": reply to an unknown or expired ID */
  BP_ERROR_NOT_PERMITTED,          /* "not-permitted" */
  BP_ERROR_NOT_CONNECTED,          /* "not-connected": disconnect of an unknown central */
  BP_ERROR_BUSY,                   /* "busy": serve of a CHAR another connection serves */
  BP_ERROR_CONFIG,                 /* "config": configuration file errors */
  BP_ERROR_UNAVAILABLE,            /* "unavailable": bluetoothd or the adapter is not there */
  /* pairing */
  BP_ERROR_NOT_PENDING,  /* "not-pending": pairing accept|reject for a central with no request waiting (or too late) */
  BP_ERROR_UNKNOWN_BOND, /* "unknown-bond": forget of an address with no bond */
  BP_ERROR_PAIRING_OFF,  /* "pairing-off": [Security] Pairing=off: no agent, so no pairing window */
} BpErrorCode;

/* The protocol NAME of an error code, e.g. "unknown-characteristic". */
const char *bp_error_name (int code);

G_END_DECLS
