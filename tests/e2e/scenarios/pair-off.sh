#!/bin/bash
# [Security] Pairing=off: the daemon registers no agent; an encrypt-read
# characteristic loads with a warning naming it; a central's pairing fails
# and the encrypted value stays unreadable, while the plain one reads.
# (No agent of ours is there, so the central's own agent is bluetoothd's
# default agent: it is asked about hci0's side and refuses, being hci1's.)
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"
. "$E2E_SRCDIR/pairing-lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
e2e_pair_config "$R/pair.conf" "Pairing=off"
e2e_start_peripheral --config "$R/pair.conf"
e2e_expect_grep 'Characteristic sec/enc\] Flags: encrypt-read needs a paired central' "$R/ble-peripheral.log" \
    "the warning naming sec/enc"
e2e_expect_eq "$(e2e_status pairing)" off "status pairing"

e2e_expect_eq "$("$C" read "$P" ff01)" 01 "plain read"
e2e_expect_fail "encrypted read before pairing" 'Error|Timeout was reached' "$C" --timeout 10 read "$P" ff02
e2e_expect_fail "pairing with Pairing=off" 'Error' "$C" --timeout 30 pair "$P"
e2e_central_paired && e2e_fail "the central says it is paired"
e2e_expect_fail "encrypted read after the failed pairing" 'Error|Timeout was reached' "$C" --timeout 10 read "$P" ff02
e2e_expect_eq "$(e2e_ctl bonds)" "" "bonds"
e2e_expect_eq "$(e2e_status bonds)" 0 "status bonds"
e2e_log PASS
