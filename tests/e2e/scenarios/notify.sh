#!/bin/bash
# ble-peripheral with e2e.conf on hci0: the initial values read back; a
# `ble-peripheralctl notify` reaches the subscribed central with the exact
# bytes (hex, and a number encoded with Format/Exponent); 200 notifications
# streamed in a row arrive complete and in order.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
COUNTER=$(e2e_test_uuid 1)
e2e_start_peripheral

# Initial values: Initial=21.5 as sint16 with Exponent=-2 is 2150 = 0x0866.
e2e_expect_eq "$(e2e_step "read temperature" "$C" read "$P" 2a6e)" 6608 "initial temperature"
e2e_expect_eq "$(e2e_step "read counter" "$C" read "$P" "$COUNTER")" 0000 "initial counter"

# listen_then NAME CHAR N PRODUCER... — the central subscribes to CHAR and
# waits for N notifications (into NAME.txt); once it is subscribed, the
# producer command runs.
listen_then() {
    local name=$1 chr=$2 count=$3 pid
    shift 3
    rm -f "$R/$name.ready"
    "$C" --timeout 60 --stats listen "$P" "$chr" "$count" --ready-file "$R/$name.ready" \
        >"$R/$name.txt" 2>"$R/$name.err" &
    pid=$!
    e2e_wait 30 test -e "$R/$name.ready" || { cat "$R/$name.err" >&2; e2e_fail "$name: the central did not subscribe"; }
    e2e_wait_status 5 "$(e2e_status_key "$chr")" yes "$name: the daemon sees the subscription"
    "$@" || e2e_fail "$name: the producer failed"
    wait "$pid" || { cat "$R/$name.err" >&2; e2e_fail "$name: the central did not get $count notifications"; }
    cat "$R/$name.err" >&2
}
e2e_status_key() { case $1 in 2a6e) echo env/temperature.subscribed ;; *) echo test/counter.subscribed ;; esac; }

# One notification, exact bytes.
value=0102030405060708090a0b0c0d0e0f10111213ff
e2e_step "notify 20 bytes" listen_then one "$COUNTER" 1 e2e_ctl notify test/counter "$value"
e2e_expect_eq "$(cat "$R/one.txt")" "$value" "notified bytes"

# A number with Format=sint16, Exponent=-2: -3.5 → -350 → a2fe.
e2e_step "notify -3.5" listen_then temperature 2a6e 1 e2e_ctl notify env/temperature -3.5
e2e_expect_eq "$(cat "$R/temperature.txt")" a2fe "notified temperature"
e2e_expect_eq "$(e2e_ctl get env/temperature)" "-3.50" "stored temperature"

# 200 in a row through `ble-peripheralctl stream`: 0001 … 00c8.
seq 1 200 | xargs printf '%04x\n' >"$R/expected-200.txt"
stream() { e2e_ctl stream test/counter <"$R/expected-200.txt"; }
e2e_step "200 notifications" listen_then burst "$COUNTER" 200 stream
e2e_compare_sequence "the 200 notifications" "$R/expected-200.txt" "$R/burst.txt"
e2e_log "200 notifications: $(sed -n 's/^central: stats //p' "$R/burst.err")"
e2e_expect_eq "$(e2e_status test/counter.notify)" 201 "notifications counted by the daemon"
# the last one is the stored value, read back
e2e_expect_eq "$("$C" read "$P" "$COUNTER")" 00c8 "counter after the stream"
e2e_log PASS
