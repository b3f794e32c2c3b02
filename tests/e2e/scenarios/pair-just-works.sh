#!/bin/bash
# [Security] Pairing=just-works, AllowedCentrals=bonded.
# - window closed (`pairing off`): an unbonded central is disconnected when it
#   connects and its write never reaches a watching producer; its pairing is
#   refused;
# - window open (`pairing on`): the central pairs (Just Works), `event paired`
#   comes, the encrypt-read value reads, `bonds` lists the central;
# - window closed again: the bonded central reconnects and reads the
#   encrypted value without a new pairing, and its write reaches the producer;
# - `forget`: the bond is gone on our side and the encrypted read fails again.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"
. "$E2E_SRCDIR/pairing-lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS A=$E2E_CENTRAL_ADDR
e2e_pair_config "$R/pair.conf" $'Pairing=just-works\nAllowedCentrals=bonded'
e2e_start_peripheral --config "$R/pair.conf"
e2e_wait_status 10 agent yes "our agent is bluetoothd's default agent"
e2e_bg watch "$E2E_CTL" --socket "$BLE_PERIPHERAL_SOCKET" watch write pairing connect
e2e_wait_status 5 clients 2 "the watching producer is connected"

# window closed: strangers are turned away
e2e_ctl pairing off
e2e_wait_status 5 window closed "pairing off"
"$C" connect "$P" || e2e_log "connect failed (the daemon may have dropped it already)"
e2e_wait 15 e2e_expect_log_has "has no bond and the pairing window is closed" ||
    e2e_fail "the unbonded central was not disconnected"
e2e_wait_status 15 centrals 0 "the unbonded central is gone"
e2e_expect_fail "write by an unbonded central" 'Error|central' "$C" write "$P" ff04 0badbad0
e2e_expect_fail "pairing with the window closed" 'Error' "$C" --timeout 30 pair "$P"
e2e_central_paired && e2e_fail "the central says it is paired while the window is closed"
e2e_expect_eq "$(e2e_count '^write' "$R/watch.log")" 0 "writes that reached the producer from the stranger"
e2e_expect_eq "$(e2e_ctl bonds)" "" "bonds while closed"

# window open: Just Works pairing
e2e_ctl pairing on
e2e_wait_status 5 window open "pairing on"
e2e_step "pair" "$C" --timeout 40 pair "$P" || e2e_fail "Just Works pairing failed"
e2e_wait_lines 15 1 "^paired $A\$" "$R/watch.log" || e2e_fail "no 'paired $A' event"
e2e_expect_eq "$(e2e_ctl bonds)" "$A" "bonds after pairing"
e2e_expect_eq "$(e2e_status bonds)" 1 "status bonds"
e2e_expect_eq "$("$C" read "$P" ff02)" e1 "encrypted read after pairing"

# window closed: the bond is enough, no new pairing
e2e_ctl pairing off
e2e_wait_status 5 window closed "pairing off (2)"
"$C" disconnect "$P"
e2e_wait_status 15 centrals 0 "disconnection"
e2e_expect_eq "$("$C" read "$P" ff02)" e1 "encrypted read after reconnecting"
e2e_wait_status 5 centrals 1 "the bonded central stays connected"
"$C" write "$P" ff04 c0ffee || e2e_fail "the bonded central's write"
e2e_wait_lines 10 1 "^write sec/cmd $A c0ffee\$" "$R/watch.log" || e2e_fail "the bonded central's write did not reach the producer"
e2e_expect_eq "$(e2e_count 'accepted \(just-works\)' "$R/ble-peripheral.log")" 1 "pairings (only the first)"
e2e_expect_eq "$(e2e_count '^write' "$R/watch.log")" 1 "writes that reached the producer"

# forget: the bond goes, the encrypted value is unreadable again
e2e_ctl forget "$A"
e2e_wait 10 test -z "$(e2e_ctl bonds)" || e2e_fail "bonds after forget: $(e2e_ctl bonds)"
e2e_expect_eq "$(e2e_status bonds)" 0 "status bonds after forget"
e2e_expect_fail "forget again" 'no central .* is bonded' e2e_ctl forget "$A"
e2e_expect_fail "encrypted read after forget" 'Error|central|Timeout was reached' "$C" --timeout 10 read "$P" ff02
e2e_log PASS
