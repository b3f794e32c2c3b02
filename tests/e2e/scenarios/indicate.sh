#!/bin/bash
# ble-peripheral with e2e.conf on hci0: the central subscribes to the
# indicate characteristic test/alert; three `ble-peripheralctl notify` arrive
# as indications, and the producer watching `subscribe` events sees the
# subscription and one `confirm test/alert` per indication (each before it
# sends the next: the values then arrive in order).
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
e2e_start_peripheral
e2e_bg events "$E2E_CTL" --socket "$BLE_PERIPHERAL_SOCKET" watch subscribe
e2e_wait_status 5 clients 2 "the watching producer is connected"

# The central listens for more than will come and is stopped once the
# producer has all three confirmations: one that stopped at the third
# indication could unsubscribe before its confirmation went out.
"$C" --timeout 60 listen "$P" "$(e2e_test_uuid 6)" 4 --ready-file "$R/ready" >"$R/indications.txt" &
listener=$!
e2e_wait 30 test -e "$R/ready" || e2e_fail "the central did not subscribe"
e2e_wait_lines 5 1 '^subscribe test/alert' "$R/events.log" || e2e_fail "no subscribe event"
# One indication at a time, the next once the producer has heard the
# confirmation of the previous: with EATT (BlueZ's default), bluetoothd sends
# queued indications over several ATT bearers at once, and they may reach the
# central in another order (README.md).
for v in 1 2 3; do
    e2e_ctl notify test/alert "$v"
    e2e_wait_lines 10 "$v" '^confirm test/alert' "$R/events.log" ||
        e2e_fail "the producer saw $(e2e_count '^confirm test/alert' "$R/events.log") of $v confirmations"
done
e2e_wait 10 e2e_has_lines 3 . "$R/indications.txt" || e2e_fail "the central did not get 3 indications"
kill "$listener" 2>/dev/null || e2e_fail "the central's listen ended early: $(tail -n 1 "$R/indications.txt")"
wait "$listener" 2>/dev/null || true
e2e_expect_eq "$(tr '\n' ' ' <"$R/indications.txt")" "01 02 03 " "indicated values"
cat "$R/events.log"
e2e_expect_eq "$(e2e_status test/alert.confirm)" 3 "confirmations counted by the daemon"
e2e_log PASS
