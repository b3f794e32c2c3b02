#!/bin/bash
# [Security] Pairing=confirm (DisplayYesNo): each request goes to the
# producers (`event pairing ADDR confirm NNNNNN`, or `authorize`), answered on
# the socket: a reject makes the pairing fail (`event pairing-failed ADDR
# rejected`), an accept makes it succeed; a late answer is an error.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"
. "$E2E_SRCDIR/pairing-lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS A=$E2E_CENTRAL_ADDR
e2e_pair_config "$R/pair.conf" $'Pairing=confirm\nConfirmTimeout=20s'
e2e_start_peripheral --config "$R/pair.conf"
e2e_wait_status 10 agent yes "our agent is bluetoothd's default agent"
e2e_bg watch "$E2E_CTL" --socket "$BLE_PERIPHERAL_SOCKET" watch pairing
e2e_wait_status 5 clients 2 "the watching producer is connected"
e2e_expect_fail "an answer with nothing pending" 'no pairing request' e2e_ctl pairing accept "$A"

request="^pairing $A (confirm [0-9]{6}|authorize)\$"
# reject
e2e_bg pair1 "$C" --timeout 40 --agent-capability KeyboardDisplay pair "$P"
e2e_wait_lines 40 1 "$request" "$R/watch.log" || e2e_fail "no pairing request reached the producer"
e2e_ctl pairing reject "$A"
e2e_wait_lines 20 1 "^pairing-failed $A rejected\$" "$R/watch.log" || e2e_fail "no pairing-failed event"
e2e_wait 40 grep -q "Error" "$R/pair1.log" || e2e_fail "the rejected pairing did not fail at the central"
e2e_central_paired && e2e_fail "the central is paired after a reject"
e2e_expect_eq "$(e2e_ctl bonds)" "" "bonds after reject"
e2e_expect_fail "a second answer" 'no pairing request' e2e_ctl pairing accept "$A"

# accept
e2e_bg pair2 "$C" --timeout 40 --agent-capability KeyboardDisplay pair "$P"
e2e_wait_lines 40 2 "$request" "$R/watch.log" || e2e_fail "no second pairing request"
e2e_ctl pairing accept "$A"
e2e_wait 40 grep -q "^paired $P" "$R/pair2.log" || e2e_fail "the accepted pairing did not succeed"
e2e_wait_lines 15 1 "^paired $A\$" "$R/watch.log" || e2e_fail "no 'paired $A' event"
e2e_expect_eq "$("$C" read "$P" ff02)" e1 "encrypted read after the accepted pairing"
if grep -qE "^pairing $A confirm" "$R/watch.log"; then
    # numeric comparison (LE Secure Connections) gives MITM
    e2e_expect_eq "$("$C" read "$P" ff03)" a1 "encrypt-authenticated-read after numeric comparison"
fi
e2e_expect_eq "$(e2e_ctl bonds)" "$A" "bonds"
e2e_log PASS
