#!/bin/bash
# ble-peripheral with e2e.conf (MaxConnections=1) on hci0: while the central
# is connected the daemon does not advertise; when it disconnects, advertising
# resumes (status advertising=on, `event advertising started`) and the central
# connects again (an LE connection needs connectable advertising) and reads;
# a third connection after a second disconnection works too.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
A=$E2E_CENTRAL_ADDR
e2e_start_peripheral
e2e_bg events "$E2E_CTL" --socket "$BLE_PERIPHERAL_SOCKET" watch connect state
e2e_wait_status 5 clients 2 "the watching producer is connected"

for round in 1 2 3; do
    e2e_step "connect ($round)" "$C" connect "$P"
    e2e_wait_status 10 centrals 1 "connection $round seen by the daemon"
    e2e_wait_status 10 advertising off "no advertising while connected ($round)"
    e2e_expect_eq "$(e2e_status connected)" "$A" "connected central ($round)"
    e2e_expect_eq "$("$C" read "$P" 2a6e)" 6608 "read over connection $round"
    [[ $round -eq 3 ]] && break
    e2e_step "disconnect ($round)" "$C" disconnect "$P"
    e2e_wait_status 10 centrals 0 "disconnection $round seen by the daemon"
    e2e_wait_status 10 advertising on "advertising resumed after disconnection $round"
    e2e_wait_lines 10 "$round" '^advertising started' "$R/events.log" ||
        e2e_fail "no 'advertising started' event after disconnection $round"
done
cat "$R/events.log"
# connect, advertising stopped, disconnect, advertising started, … in order
grep -E '^(connect|disconnect|advertising)' "$R/events.log" >"$R/sequence.txt"
cat >"$R/expected.txt" <<EOT
connect $A
advertising stopped
disconnect $A
advertising started
connect $A
advertising stopped
disconnect $A
advertising started
connect $A
advertising stopped
EOT
if ! diff -u "$R/expected.txt" "$R/sequence.txt" >"$R/sequence.diff"; then
    cat "$R/sequence.diff" >&2
    e2e_fail "connection and advertising events out of order"
fi
e2e_log PASS
