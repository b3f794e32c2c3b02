#!/bin/bash
# Notifications per second over the virtual radio, as the central on hci1
# receives them (first to last, MTU 517, 2-byte values): from ble-peripheral
# fed by a producer that pipelines its `notify` requests on the control
# socket, once over the acquired socket (AcquireSockets=auto, the default:
# phase "daemon", asserted to have gone by the socket, status socket-values)
# and once over D-Bus (AcquireSockets=off: phase "daemon-bus", asserted to
# have written no socket), and from the Python reference (ref-peripheral.py:
# a burst of PropertiesChanged signals from dbus-python). Reported as
#   bench radio_notify_per_s_WHO N per_s
#   bench radio_cpu_s_per_1000_WHO S cpu_s   (bluetoothd + dbus-daemon + the
#                                             peripheral, per 1000 values)
# (WHO: daemon, daemon_bus, python), not asserted: under TCG the emulated
# radio is slow and noisy. Every
# notification must be received (the central counts N); how many distinct
# values came unchanged and their order are reported, not asserted here
# (bursts this large can come out of bluetoothd's EATT bearers in another
# order, README.md; the notify scenario asserts 200 exactly and in order).
#
# Both sides are measured the same way: the central connects and subscribes
# (in the background, --ready-file), the peripheral's side sees the
# subscription, the source is already running and waits for SIGUSR1 (the
# producer connected to the control socket, the reference registered), the
# scenario waits E2E_BENCH_SETTLE seconds (default 1: bluetoothd is still
# busy with the new connection for a while, EATT bearers and its own GATT
# client on hci0), then signals the source. The central times first to last
# value; each phase's CPU time of bluetoothd, dbus-daemon and the source is
# logged (guest clock ticks) to tell which process the time went to.
# E2E_BENCH_ORDER="python daemon-bus daemon" runs the phases in another
# order (the first phase of a boot can be slower or faster; alternate when
# comparing); the default is "daemon daemon-bus python".
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
N=${E2E_BENCH_COUNT:-1000}
SETTLE=${E2E_BENCH_SETTLE:-1}
ORDER=${E2E_BENCH_ORDER:-daemon daemon-bus python}
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

# ticks PID... — their CPU time so far (user + system, clock ticks).
ticks() {
    local pid sum=0 stat f
    for pid in "$@"; do
        stat=$(cat "/proc/$pid/stat" 2>/dev/null) || continue
        read -r -a f <<<"${stat##*) }"
        sum=$((sum + f[11] + f[12]))
    done
    echo "$sum"
}
seconds() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", t / hz }'; }

# phase WHO CHAR SOURCE_PID SEEN CPU_PID — the central subscribes to CHAR in
# the background; once SEEN (a command) says the peripheral saw it, and
# SETTLE seconds more, SOURCE_PID gets SIGUSR1; then waits for the N values
# and logs the figures, with the CPU time bluetoothd, dbus-daemon and CPU_PID
# (the peripheral) used meanwhile.
phase() {
    local who=$1 char=$2 source_pid=$3 seen=$4 cpu_pid=$5 listener t0 t1 pids
    pids=("$(pidof bluetoothd)" "$(pidof dbus-daemon)" "$cpu_pid")
    local -a before=() after=()
    rm -f "$R/$who.ready"
    "$C" --timeout 120 --stats --times "$R/$who.times" listen "$P" "$char" "$N" \
        --ready-file "$R/$who.ready" >"$R/$who.txt" 2>"$R/$who.err" &
    listener=$!
    e2e_wait 30 test -e "$R/$who.ready" || e2e_fail "the central did not subscribe to $who"
    e2e_wait 5 "$seen" || e2e_fail "$who: the subscription was not seen"
    sleep "$SETTLE"
    for p in "${pids[@]}"; do before+=("$(ticks $p)"); done
    t0=$(date +%s.%N)
    kill -USR1 "$source_pid"
    wait "$listener" || { cat "$R/$who.err" >&2; e2e_fail "$who: the notifications did not all arrive"; }
    t1=$(date +%s.%N)
    for p in "${pids[@]}"; do after+=("$(ticks $p)"); done
    e2e_log "$who: the last of $N notifications $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s after the signal;" \
        "CPU s meanwhile: bluetoothd $(seconds $((after[0] - before[0])))," \
        "dbus-daemon $(seconds $((after[1] - before[1]))), $who $(seconds $((after[2] - before[2])))"
    # the three together, per 1000 values
    cpu_per_1000[$who]=$(awk -v t=$((after[0] - before[0] + after[1] - before[1] + after[2] - before[2])) \
        -v hz="$(getconf CLK_TCK)" -v n="$N" 'BEGIN { printf "%.2f", t / hz * 1000 / n }')
    complete "$who's" "$R/$who.txt"
    cat "$R/$who.err" >&2
    "$C" remove "$P"
}

declare -A rate cpu_per_1000

# --- ble-peripheral, fed by a producer pipelining its requests: WHO is
# "daemon" (the acquired socket, e2e.conf as it is) or "daemon-bus"
# (AcquireSockets=off: every value a PropertiesChanged through dbus-daemon).
bench_daemon_with() {
    local who=$1 conf=$E2E_CONF
    if [[ $who == daemon-bus ]]; then
        conf=$R/bus.conf
        sed 's/^\[Peripheral\]$/[Peripheral]\nAcquireSockets=off/' "$E2E_CONF" >"$conf"
        grep -qx 'AcquireSockets=off' "$conf" || e2e_fail "could not write $conf"
    fi
    e2e_start_peripheral --config "$conf"
    rm -f "$R/producer.ready"
    e2e_notify_pipelined test/counter "$R/expected.txt" "$R/producer.ready" &
    local producer=$!
    e2e_wait 20 test -s "$R/producer.ready" || e2e_fail "the producer did not connect"
    subscribed() { [[ $(e2e_status test/counter.subscribed) == yes ]]; }
    phase "$who" "$(e2e_test_uuid 1)" "$(cat "$R/producer.ready")" subscribed \
        "$(cat "$E2E_STATE/ble-peripheral.pid")"
    wait "$producer" || e2e_fail "the producer's requests failed"
    e2e_log "$who: the producer used $(cat "$R/producer.ready.cpu") CPU s after the signal;" \
        "socket-values $(e2e_status socket-values), socket-fallbacks $(e2e_status socket-fallbacks)"
    # what was measured is the path named: all by the socket, or none
    if [[ $who == daemon ]]; then
        e2e_expect_eq "$(e2e_status socket-values)" "$N" "$who: values written to the acquired socket"
    else
        e2e_expect_eq "$(e2e_status socket-values)" 0 "$who: values written to a socket with AcquireSockets=off"
    fi
    rate[$who]=$(per_s "$R/$who.err")
    e2e_stop_daemon
}
bench_daemon() { bench_daemon_with daemon; }
bench_daemon-bus() { bench_daemon_with daemon-bus; }

# --- the Python reference, found the same way (scanning while it starts)
bench_python() {
    start_ref() {
        e2e_bg ref-peripheral /usr/bin/python3 "$E2E_SRCDIR/ref-peripheral.py" --burst "$N" \
            --burst-on-usr1 --log "$R/ref-calls.log" --ready-file "$R/ref.ready"
        e2e_wait 20 test -e "$R/ref.ready"
    }
    e2e_scan_while "$R/ref-scan.txt" start_ref || e2e_fail "ref-peripheral did not register, or the central did not see it"
    subscribed() { grep -q '^start-notify e2e6$' "$R/ref-calls.log"; }
    phase python "0000e2e6-0000-4000-8000-00000000e2e0" "$(cat "$E2E_STATE/ref-peripheral.pid")" subscribed \
        "$(cat "$E2E_STATE/ref-peripheral.pid")"
    rate[python]=$(per_s "$R/python.err")
    e2e_bg_stop ref-peripheral
}

for side in $ORDER; do
    "bench_$side"
done

for side in $ORDER; do
    name=${side//-/_}
    e2e_bench "radio_notify_per_s_$name" "${rate[$side]}" per_s
    e2e_bench "radio_cpu_s_per_1000_$name" "${cpu_per_1000[$side]}" cpu_s
    e2e_bench "radio_notify_distinct_$name" "$(distinct "$R/$side.txt")" count
done
e2e_log "PASS on bluetoothd $(e2e_bluez_version)"
