#!/bin/bash
# [Security] Pairing=display (DisplayOnly): the central pairs; the kernel's
# random passkey reaches the watching producer (`event pairing ADDR passkey
# NNNNNN`) and the daemon's log; the central's agent enters it; the
# encrypt-authenticated-read value (MITM) reads.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"
. "$E2E_SRCDIR/pairing-lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS A=$E2E_CENTRAL_ADDR
e2e_pair_config "$R/pair.conf" "Pairing=display"
e2e_start_peripheral --config "$R/pair.conf"
e2e_wait_status 10 agent yes "our agent is bluetoothd's default agent"
e2e_bg watch "$E2E_CTL" --socket "$BLE_PERIPHERAL_SOCKET" watch pairing
e2e_wait_status 5 clients 2 "the watching producer is connected"
# No read before pairing here: a BlueZ central answered 0x05 starts a pairing
# of its own, our agent shows a passkey for it that nobody types, and that
# SMP exchange holds the link for the kernel's 30 s (the pairing below then
# meets InProgress, or the stale passkey; bluetoothd 5.82 once crashed on it).
# pair-off and pair-just-works show that an encrypted value is unreadable
# before a pairing.

rm -f "$R/passkey"
e2e_bg pair "$C" --timeout 50 --agent-capability KeyboardDisplay --passkey-file "$R/passkey" pair "$P"
e2e_wait_lines 40 1 "^pairing $A passkey [0-9]{6}\$" "$R/watch.log" || e2e_fail "no passkey event"
passkey=$(grep -oE "^pairing $A passkey [0-9]{6}\$" "$R/watch.log" | head -n 1 | awk '{ print $4 }')
e2e_log "the producer got passkey $passkey"
e2e_expect_grep "passkey $passkey" "$R/ble-peripheral.log" "the passkey in the log"
echo "$passkey" >"$R/passkey"
e2e_wait 45 grep -q "^paired $P" "$R/pair.log" || e2e_fail "the pairing with the passkey did not succeed"
e2e_wait_lines 15 1 "^paired $A\$" "$R/watch.log" || e2e_fail "no 'paired $A' event"
e2e_expect_eq "$("$C" read "$P" ff03)" a1 "encrypt-authenticated-read after passkey pairing"
e2e_expect_eq "$(e2e_ctl bonds)" "$A" "bonds"
e2e_log PASS
