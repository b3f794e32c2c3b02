#!/bin/bash
# Harness proof, no daemon of ours: the central on hci1 connects to hci0
# (advertising through btmgmt) and discovers bluetoothd's own GATT database
# there (GAP 0x1800, GATT 0x1801), over D-Bus and with gatttool.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

elapsed() { awk -v a="$1" -v b="$(e2e_uptime)" 'BEGIN { printf "%.1f", b - a }'; }

e2e_btmgmt --index 0 power on
e2e_btmgmt --index 0 name e2e-radio
e2e_scan_while "$E2E_RESULTS/scan.txt" e2e_btmgmt --index 0 add-adv -c -g -n 1 ||
    e2e_fail "the central did not see the advertisement"

t0=$(e2e_uptime)
"$E2E_CENTRAL" connect "$E2E_PERIPHERAL_ADDR"
e2e_log "connect (scan + connect + service discovery) took $(elapsed "$t0") s"

t0=$(e2e_uptime)
"$E2E_CENTRAL" discover "$E2E_PERIPHERAL_ADDR" >"$E2E_RESULTS/discover.txt"
e2e_log "discover took $(elapsed "$t0") s"
cat "$E2E_RESULTS/discover.txt"
e2e_expect_grep '^service 0x[0-9a-f]{4} 00001801-0000-1000-8000-00805f9b34fb primary$' \
    "$E2E_RESULTS/discover.txt" "GATT service over D-Bus"
e2e_expect_grep '^  char 0x[0-9a-f]{4} 00002a05-0000-1000-8000-00805f9b34fb flags=indicate' \
    "$E2E_RESULTS/discover.txt" "Service Changed characteristic"

t0=$(e2e_uptime)
"$E2E_CENTRAL" --disconnect disconnect "$E2E_PERIPHERAL_ADDR"
e2e_log "disconnect took $(elapsed "$t0") s"

# gatttool talks ATT itself (no bluetoothd client): it sees every service,
# including GAP, which bluetoothd's client keeps to itself.
t0=$(e2e_uptime)
timeout 30 gatttool -i hci1 -b "$E2E_PERIPHERAL_ADDR" --primary <>"$E2E_IDLE_STDIN" >"$E2E_RESULTS/primary.txt" 2>&1
e2e_log "gatttool --primary took $(elapsed "$t0") s"
cat "$E2E_RESULTS/primary.txt"
e2e_expect_grep 'uuid: 00001800-0000-1000-8000-00805f9b34fb' "$E2E_RESULTS/primary.txt" "GAP via gatttool"
e2e_expect_grep 'uuid: 00001801-0000-1000-8000-00805f9b34fb' "$E2E_RESULTS/primary.txt" "GATT via gatttool"

# Device Name of GAP, handle from gatttool's characteristic list.
timeout 30 gatttool -i hci1 -b "$E2E_PERIPHERAL_ADDR" --characteristics <>"$E2E_IDLE_STDIN" \
    >"$E2E_RESULTS/characteristics.txt" 2>&1
cat "$E2E_RESULTS/characteristics.txt"
name_handle=$(sed -n 's/.*char value handle = \(0x[0-9a-f]*\), uuid = 00002a00-.*/\1/p' "$E2E_RESULTS/characteristics.txt")
[[ -n $name_handle ]] || e2e_fail "no Device Name characteristic"
timeout 30 gatttool -i hci1 -b "$E2E_PERIPHERAL_ADDR" --char-read -a "$name_handle" <>"$E2E_IDLE_STDIN" \
    >"$E2E_RESULTS/name.txt" 2>&1
cat "$E2E_RESULTS/name.txt"
# bluetoothd serves its adapter's name ("BlueZ 5.66" from main.conf), not the
# controller name set with btmgmt.
e2e_expect_grep 'Characteristic value/descriptor: ([0-9a-f]{2} )+' "$E2E_RESULTS/name.txt" "GAP name"
e2e_log "PASS"
