#!/bin/bash
# ble-peripheral with e2e.conf on hci0: a scanning central on hci1 sees the
# configured name (scan response), service UUID, appearance and manufacturer
# data, and nothing it was not given. (e2e_start_peripheral scans while the
# daemon starts and keeps what the central saw in scan.txt.)
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

R=$E2E_RESULTS
e2e_start_peripheral
cat "$R/scan.txt"
e2e_expect_grep '^Name: e2e-peripheral$' "$R/scan.txt" "local name"
e2e_expect_grep '^Appearance: 0x0540$' "$R/scan.txt" "appearance"
e2e_expect_grep '^UUID: 0000181a-0000-1000-8000-00805f9b34fb$' "$R/scan.txt" "service UUID"
e2e_expect_grep '^ManufacturerData: 0xffff c0ffee01$' "$R/scan.txt" "manufacturer data"
[[ $(e2e_count '^UUID: ' "$R/scan.txt") -eq 1 ]] || e2e_fail "exactly one advertised service UUID expected"
[[ $(e2e_count '^ManufacturerData: ' "$R/scan.txt") -eq 1 ]] || e2e_fail "exactly one manufacturer data entry expected"
e2e_log PASS
