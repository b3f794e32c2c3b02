#!/bin/bash
# The acquired sockets (AcquireSockets=auto, the default) with the running
# bluetoothd, asserting what its version allows (docs/ble-peripheral.conf.5,
# "AcquireSockets"):
#  - the subscription is told with the central's address and MTU (AcquireNotify);
#  - 300 values streamed reach the central each once, in order, over the
#    socket (status socket-values), none by the D-Bus fallback;
#  - `notify --to ADDR` reaches that central where bluetoothd proves 5.79+
#    (Adapter1.Connectable), and is refused by name (naming 5.76) elsewhere;
#  - an indication's confirmation comes with the central's address from 5.80
#    (a byte on its socket), without one before 5.76 (Confirm());
#  - two centrals: scenario two-centrals (its own boot, 4 controllers).
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS A=$E2E_CENTRAL_ADDR
COUNTER=$(e2e_test_uuid 1)
ALERT=$(e2e_test_uuid 6)
version=$(bluetoothd --version 2>/dev/null || echo 5.0)
minor=${version#5.}
minor=${minor%%.*}
e2e_log "the leg: BlueZ $version"

e2e_start_peripheral
e2e_bg events "$E2E_CTL" --socket "$BLE_PERIPHERAL_SOCKET" watch subscribe
e2e_wait_status 5 clients 2 "the watching producer is connected"

# 1. One central, 300 values in a row over its socket.
seq 1 300 | xargs printf '%04x\n' >"$R/expected.txt"
rm -f "$R/ready"
"$C" --timeout 60 --stats listen "$P" "$COUNTER" 300 --ready-file "$R/ready" >"$R/values.txt" 2>"$R/listen.err" &
listener=$!
e2e_wait 30 test -e "$R/ready" || e2e_fail "the central did not subscribe"
e2e_wait_lines 10 1 "^subscribe test/counter $A mtu=[0-9]+" "$R/events.log" ||
    e2e_fail "no subscribe event with the central's address and MTU: $(cat "$R/events.log")"
e2e_ctl stream test/counter <"$R/expected.txt"
wait "$listener" || { cat "$R/listen.err" >&2; e2e_fail "the central did not get 300 notifications"; }
e2e_compare_sequence "the 300 notifications" "$R/expected.txt" "$R/values.txt"
e2e_log "300 notifications: $(sed -n 's/^central: stats //p' "$R/listen.err")"
e2e_expect_eq "$(e2e_status socket-values)" 300 "values written to the socket"
e2e_expect_eq "$(e2e_status socket-fallbacks)" 0 "values sent by D-Bus while a socket was open"

# 2. To one central.
if [[ $minor -ge 79 ]]; then
    rm -f "$R/ready"
    "$C" --timeout 30 listen "$P" "$COUNTER" 1 --ready-file "$R/ready" >"$R/to.txt" &
    listener=$!
    e2e_wait 30 test -e "$R/ready" || e2e_fail "the central did not subscribe again"
    e2e_ctl notify test/counter 0bad --to "$A"
    wait "$listener" || e2e_fail "the central did not get the value sent to it"
    e2e_expect_eq "$(cat "$R/to.txt")" 0bad "value sent to $A"
else
    e2e_expect_fail "notify --to on BlueZ $version" 'not-supported.*5\.76' e2e_ctl notify test/counter 0bad --to "$A"
fi

# 3. An indication's confirmation.
rm -f "$R/ready"
"$C" --timeout 30 listen "$P" "$ALERT" 1 --ready-file "$R/ready" >"$R/alert.txt" &
listener=$!
e2e_wait 30 test -e "$R/ready" || e2e_fail "the central did not subscribe to test/alert"
e2e_wait_lines 10 1 '^subscribe test/alert' "$R/events.log" || e2e_fail "no subscribe event for test/alert"
e2e_ctl notify test/alert 7
wait "$listener" || e2e_fail "the central did not get the indication"
if [[ $minor -ge 80 ]]; then
    e2e_wait_lines 10 1 "^confirm test/alert $A\$" "$R/events.log" ||
        e2e_fail "no confirmation with the address: $(cat "$R/events.log")"
elif [[ $minor -lt 76 ]]; then
    e2e_wait_lines 10 1 '^confirm test/alert$' "$R/events.log" || e2e_fail "no confirmation: $(cat "$R/events.log")"
else
    e2e_log "BlueZ $version reports no confirmation of an indication sent on a socket: not asserted"
fi

# 4. Two centrals: scenario two-centrals, in a boot with 4 controllers of its
# own (meson test e2e-centrals-*; btvirt's connection handles need a decoy
# link, see there).
cat "$R/events.log"
e2e_log PASS
