#!/bin/bash
# Notifications per second over the virtual radio, as the central receives
# them (first to last), from ble-peripheral (fed by `ble-peripheralctl stream`)
# and from the Python reference (ref-peripheral.py, a burst of
# PropertiesChanged signals). Reported, not asserted: under TCG the emulated
# radio is slow and noisy. Every notification must arrive, though.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
N=${E2E_BENCH_COUNT:-200}
per_s() { sed -n 's/^central: stats .*per_s=\([0-9.]*\).*/\1/p' "$1"; }

# --- ble-peripheral
e2e_start_peripheral
seq 1 "$N" | xargs printf '%04x\n' >"$R/expected.txt"
"$C" --timeout 120 --stats listen "$P" "$(e2e_test_uuid 1)" "$N" --ready-file "$R/daemon.ready" \
    >"$R/daemon.txt" 2>"$R/daemon.err" &
listener=$!
e2e_wait 30 test -e "$R/daemon.ready" || e2e_fail "the central did not subscribe to the daemon"
e2e_wait_status 5 test/counter.subscribed yes "subscription seen"
e2e_ctl stream test/counter <"$R/expected.txt"
wait "$listener" || { cat "$R/daemon.err" >&2; e2e_fail "the daemon's notifications did not all arrive"; }
diff -q "$R/expected.txt" "$R/daemon.txt" >/dev/null || e2e_fail "the daemon's notifications arrived changed or out of order"
cat "$R/daemon.err" >&2
daemon_rate=$(per_s "$R/daemon.err")
"$C" disconnect "$P"
e2e_stop_daemon

# --- the Python reference
e2e_bg ref-peripheral /usr/bin/python3 "$E2E_SRCDIR/ref-peripheral.py" --burst "$N" \
    --log "$R/ref-calls.log" --ready-file "$R/ref.ready"
e2e_wait 20 test -e "$R/ref.ready" || e2e_fail "ref-peripheral did not register"
"$C" remove "$P" || true   # the database changed: no cached services
"$C" --timeout 120 --stats listen "$P" "0000e2e6-0000-4000-8000-00000000e2e0" "$N" \
    >"$R/python.txt" 2>"$R/python.err" || { cat "$R/python.err" >&2; e2e_fail "the reference's notifications did not all arrive"; }
diff -q "$R/expected.txt" "$R/python.txt" >/dev/null || e2e_fail "the reference's notifications arrived changed or out of order"
cat "$R/python.err" >&2
python_rate=$(per_s "$R/python.err")

e2e_bench radio_notify_per_s_daemon "$daemon_rate" per_s
e2e_bench radio_notify_per_s_python "$python_rate" per_s
e2e_log PASS
