#!/bin/bash
# Notifications per second over the virtual radio, as the central on hci1
# receives them (first to last, MTU 517, 2-byte values): from ble-peripheral
# fed by a producer that pipelines its `notify` requests on the control
# socket, and from the Python reference (ref-peripheral.py: a burst of
# PropertiesChanged signals from dbus-python). Reported as
#   bench radio_notify_per_s_daemon N per_s
#   bench radio_notify_per_s_python N per_s
# not asserted: under TCG the emulated radio is slow and noisy. Every
# notification must be received (the central counts N); how many distinct
# values came unchanged and their order are reported, not asserted here
# (bursts this large can come out of bluetoothd's EATT bearers in another
# order, README.md; the notify scenario asserts 200 exactly and in order).
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
N=${E2E_BENCH_COUNT:-1000}
per_s() { sed -n 's/^central: stats .*per_s=\([0-9.]*\).*/\1/p' "$1"; }
seq 1 "$N" | xargs printf '%04x\n' >"$R/expected.txt"
# complete WHO FILE — reports how many of the N values arrived as sent, and
# their order. Reported, not asserted: the central reads them through
# bluetoothd's client API, whose Value property changes may be merged or
# repeated when notifications come this fast; the notify scenario asserts
# 200 values exactly, and the integration tests assert the bus side.
# (Files, not <(…): the guest has no /dev/fd.)
distinct() {
    sort -u "$R/expected.txt" >"$R/expected.sorted"
    sort -u "$1" >"$1.sorted"
    comm -12 "$R/expected.sorted" "$1.sorted" | wc -l
}
complete() {
    e2e_log "$1 notifications: $(distinct "$2") of $N distinct values seen, $(e2e_order_breaks "$2") out of order"
}

# --- ble-peripheral
e2e_start_peripheral
"$C" --timeout 120 --stats listen "$P" "$(e2e_test_uuid 1)" "$N" --ready-file "$R/daemon.ready" \
    >"$R/daemon.txt" 2>"$R/daemon.err" &
listener=$!
e2e_wait 30 test -e "$R/daemon.ready" || e2e_fail "the central did not subscribe to the daemon"
e2e_wait_status 5 test/counter.subscribed yes "subscription seen"
e2e_step "daemon: $N notifications" e2e_notify_pipelined test/counter "$R/expected.txt" ||
    e2e_fail "the producer's requests failed"
wait "$listener" || { cat "$R/daemon.err" >&2; e2e_fail "the daemon's notifications did not all arrive"; }
complete "the daemon's" "$R/daemon.txt"
cat "$R/daemon.err" >&2
daemon_rate=$(per_s "$R/daemon.err")
"$C" remove "$P"
e2e_stop_daemon

# --- the Python reference, found the same way (scanning while it starts)
start_ref() {
    e2e_bg ref-peripheral /usr/bin/python3 "$E2E_SRCDIR/ref-peripheral.py" --burst "$N" \
        --log "$R/ref-calls.log" --ready-file "$R/ref.ready"
    e2e_wait 20 test -e "$R/ref.ready"
}
e2e_scan_while "$R/ref-scan.txt" start_ref || e2e_fail "ref-peripheral did not register, or the central did not see it"
e2e_step "python: $N notifications" \
    "$C" --timeout 120 --stats listen "$P" "0000e2e6-0000-4000-8000-00000000e2e0" "$N" \
    >"$R/python.txt" 2>"$R/python.err" || { cat "$R/python.err" >&2; e2e_fail "the reference's notifications did not all arrive"; }
complete "the reference's" "$R/python.txt"
cat "$R/python.err" >&2
python_rate=$(per_s "$R/python.err")

e2e_bench radio_notify_per_s_daemon "$daemon_rate" per_s
e2e_bench radio_notify_distinct_daemon "$(distinct "$R/daemon.txt")" count
e2e_bench radio_notify_per_s_python "$python_rate" per_s
e2e_bench radio_notify_distinct_python "$(distinct "$R/python.txt")" count
e2e_log PASS
