#!/bin/bash
# ble-peripheral with e2e.conf on hci0: bluetoothd is killed (SIGKILL) while a
# central is connected, and started again; within 5 s of its adapters being
# back on the bus the daemon has registered its application and its
# advertisement again (status and log), and the central reads the values the
# producer had set before.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
LOG=$R/ble-peripheral.log
e2e_start_peripheral

e2e_ctl set env/temperature 23.45
e2e_ctl set test/short 0a0b0c
e2e_expect_eq "$(e2e_step "read before" "$C" read "$P" 2a6e)" 2909 "temperature before the restart"
e2e_wait_status 10 centrals 1 "central connected"

pid=$(cat "$E2E_STATE/bluetoothd.pid")
kill -9 "$pid"
e2e_wait 5 e2e_not_running "$pid" || e2e_fail "bluetoothd did not die"
rm -f "$E2E_STATE/bluetoothd.pid"
e2e_log "bluetoothd killed"
e2e_wait 10 e2e_status_is bluez absent || e2e_fail "the daemon did not notice bluetoothd leaving"
e2e_expect_eq "$(e2e_status registered)" no "registered while bluetoothd is gone"

t_start=$(e2e_uptime)
e2e_start_bluetoothd || e2e_fail "bluetoothd did not come back"
t_back=$(e2e_uptime)
e2e_wait 10 e2e_daemon_ready || e2e_fail "not registered and advertising 10 s after bluetoothd came back"
took=$(e2e_since "$t_back")
e2e_log "registered and advertising again $took s after bluetoothd's adapters were on the bus ($(e2e_since "$t_start") s after it was started)"
awk -v t="$took" 'BEGIN { exit !(t <= 5) }' || e2e_fail "registration took $took s, more than 5 s"
[[ $(e2e_count 'GATT application registered on hci0' "$LOG") -eq 2 ]] || e2e_fail "the log does not show a second registration"
[[ $(e2e_count 'advertising on hci0' "$LOG") -eq 2 ]] || e2e_fail "the log does not show advertising again"

# The new bluetoothd knows no device: the central scans, connects and reads.
e2e_expect_eq "$(e2e_step "read temperature after" "$C" read "$P" 2a6e)" 2909 "temperature after the restart"
e2e_expect_eq "$("$C" read "$P" "$(e2e_test_uuid 3)")" 0a0b0c "test/short after the restart"
e2e_expect_eq "$(e2e_ctl get env/temperature)" 23.45 "stored temperature"
e2e_log PASS
