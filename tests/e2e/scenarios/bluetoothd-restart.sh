#!/bin/bash
# ble-peripheral with e2e.conf on hci0, a central connected: bluetoothd is
# stopped (SIGTERM, as `systemctl restart bluetooth` does) and started again,
# then killed (SIGKILL, a crash) and started again. Each time, within 5 s of
# hci0 being back (on the bus and powered by bluetoothd) the daemon has
# registered its application and advertisement again (status registered=yes
# advertising=on, and its log), and the central (which trusted the
# peripheral: it reconnects by address, as a phone does) reads the values the
# producer had set.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
LOG=$R/ble-peripheral.log
e2e_start_peripheral

hci0_powered() {
    timeout 5 dbus-send --system --print-reply --dest=org.bluez /org/bluez/hci0 \
        org.freedesktop.DBus.Properties.Get string:org.bluez.Adapter1 string:Powered 2>/dev/null |
        grep -q 'boolean true'
}

# round N SIGNAL TEMPERATURE HEX
round() {
    local n=$1 sig=$2 temp=$3 hex=$4 pid t_start t_bus t_powered took want_reg=$(($1 + 1))
    e2e_ctl set env/temperature "$temp"
    e2e_ctl set test/short 0a0b0c0$n
    e2e_expect_eq "$(e2e_step "read before ($sig)" "$C" read "$P" 2a6e)" "$hex" "temperature before SIG$sig"
    e2e_wait_status 10 centrals 1 "central connected before SIG$sig"

    pid=$(cat "$E2E_STATE/bluetoothd.pid")
    kill -"$sig" "$pid"
    e2e_wait 10 e2e_not_running "$pid" || e2e_fail "bluetoothd did not end on SIG$sig"
    rm -f "$E2E_STATE/bluetoothd.pid"
    e2e_log "bluetoothd ended (SIG$sig)"
    e2e_wait 10 e2e_status_is bluez absent || e2e_fail "the daemon did not notice bluetoothd leaving (SIG$sig)"
    e2e_expect_eq "$(e2e_status registered)" no "registered while bluetoothd is gone"

    t_start=$(e2e_uptime)
    e2e_start_bluetoothd || e2e_fail "bluetoothd did not come back"
    t_bus=$(e2e_uptime)
    # bluetoothd powers its adapters on after it has put them on the bus
    # (AutoEnable): the daemon can register from then on.
    e2e_wait 10 hci0_powered || e2e_fail "bluetoothd did not power hci0 on"
    t_powered=$(e2e_uptime)
    e2e_wait 15 e2e_daemon_ready || e2e_fail "not registered and advertising 15 s after bluetoothd came back (SIG$sig): $(e2e_ctl status | grep -E '^(bluez|registered|advertising|centrals)=' | tr '\n' ' ')"
    took=$(e2e_since "$t_powered")
    e2e_log "SIG$sig: registered and advertising again $took s after hci0 was powered ($(e2e_since "$t_bus") s after the adapters were on the bus, $(e2e_since "$t_start") s after bluetoothd was started)"
    printf 'SIG%s %s s after powered, %s s after bluetoothd started\n' "$sig" "$took" "$(e2e_since "$t_start")" >>"$R/registration-times.txt"
    awk -v t="$took" 'BEGIN { exit !(t <= 5) }' || e2e_fail "SIG$sig: registration took $took s, more than 5 s"
    [[ $(e2e_count 'GATT application registered on hci0' "$LOG") -eq $want_reg ]] ||
        e2e_fail "the log does not show registration $want_reg"
    [[ $(e2e_count 'advertising on hci0' "$LOG") -ge $want_reg ]] ||
        e2e_fail "the log does not show advertising again"

    # The central knows the peripheral (trusted): it reconnects by address.
    e2e_expect_eq "$(e2e_step "read after ($sig)" "$C" read "$P" 2a6e)" "$hex" "temperature after SIG$sig"
    e2e_expect_eq "$("$C" read "$P" "$(e2e_test_uuid 3)")" "0a0b0c0$n" "test/short after SIG$sig"
    e2e_expect_eq "$(e2e_ctl get env/temperature)" "$temp" "stored temperature after SIG$sig"
}
round 1 TERM 23.45 2909
round 2 KILL -1.28 80ff
e2e_log PASS
