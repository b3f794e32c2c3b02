/* The ble-peripheral error domain and the protocol names of its codes. */
#define G_LOG_DOMAIN "error"

#include "build-config.h"

#include "common/error.h"

GQuark
bp_error_quark (void)
{
  return g_quark_from_static_string ("bp-error-quark");
}

const char *
bp_error_name (int code)
{
  switch ((BpErrorCode) code)
    {
    case BP_ERROR_FAILED:
      return "failed";
    case BP_ERROR_BAD_REQUEST:
      return "bad-request";
    case BP_ERROR_UNKNOWN_CHARACTERISTIC:
      return "unknown-characteristic";
    case BP_ERROR_AMBIGUOUS:
      return "ambiguous";
    case BP_ERROR_BAD_VALUE:
      return "bad-value";
    case BP_ERROR_OUT_OF_RANGE:
      return "out-of-range";
    case BP_ERROR_TOO_LONG:
      return "too-long";
    case BP_ERROR_NOT_SUPPORTED:
      return "not-supported";
    case BP_ERROR_UNKNOWN_READ:
      return "unknown-read";
    case BP_ERROR_NOT_PERMITTED:
      return "not-permitted";
    case BP_ERROR_NOT_CONNECTED:
      return "not-connected";
    case BP_ERROR_BUSY:
      return "busy";
    case BP_ERROR_CONFIG:
      return "config";
    case BP_ERROR_UNAVAILABLE:
      return "unavailable";
    case BP_ERROR_NOT_PENDING:
      return "not-pending";
    case BP_ERROR_UNKNOWN_BOND:
      return "unknown-bond";
    case BP_ERROR_PAIRING_OFF:
      return "pairing-off";
    }
  /* A code from elsewhere (a future code, or a foreign domain's) is reported
   * as the generic failure rather than as nothing. */
  return "failed";
}
