#!/bin/bash
# Harness proof, no daemon of ours: hci0 advertises through the kernel's
# management interface (btmgmt add-adv) and the central on hci1 sees the name,
# appearance, service UUID and manufacturer data.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

out=$E2E_RESULTS/scan.txt
e2e_btmgmt --index 0 power on
e2e_btmgmt --index 0 name e2e-radio
e2e_btmgmt --index 0 appearance 0x0540
# AD: the 16-bit service UUID 0x181a (03 03 1a 18) and manufacturer data,
# company 0xffff, bytes 01 02; the kernel adds flags and puts name and
# appearance in the scan response. Added while the central scans (btvirt
# reports an advertiser reliably when it starts). Not `-u 181a`: btmgmt
# (5.66 to 5.82) writes a 16-bit UUID under AD type 0x07 (128-bit list),
# which bluetoothd 5.82's scanner does not take as a UUID.
t0=$(e2e_uptime)
e2e_scan_while "$out" e2e_btmgmt --index 0 add-adv -c -g -n -a -d 03031a1805ffffff0102 1 ||
    e2e_fail "the central did not see the advertisement"
e2e_log "scan took $(e2e_since "$t0") s"
cat "$out"
e2e_expect_grep '^Name: e2e-radio$' "$out" "name"
e2e_expect_grep '^Appearance: 0x0540$' "$out" "appearance"
e2e_expect_grep '^UUID: 0000181a-0000-1000-8000-00805f9b34fb$' "$out" "service UUID"
e2e_expect_grep '^ManufacturerData: 0xffff 0102$' "$out" "manufacturer data"
e2e_log "PASS"
