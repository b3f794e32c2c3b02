#!/bin/bash
# Harness proof with a GATT application: tests/e2e/ref-peripheral.py serves a
# fixed database on hci0 through bluetoothd's D-Bus API (as ble-peripheral
# does); the central checks advertising, discovery, long reads with offsets,
# writes, notifications, indications and ATT errors; gatttool checks a long
# read at MTU 23.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL
P=$E2E_PERIPHERAL_ADDR
R=$E2E_RESULTS
uuid() { echo "0000$1-0000-4000-8000-00000000e2e0"; }
expected_long=$(python3 -c 'print(bytes(i % 256 for i in range(300)).hex())')

start_ref() {
    rm -f /run/ref-ready
    e2e_bg ref-peripheral /usr/bin/python3 "$E2E_SRCDIR/ref-peripheral.py" \
        --log "$R/ref-calls.log" --ready-file /run/ref-ready
    e2e_wait 20 test -e /run/ref-ready
}
trap 'e2e_bg_stop ref-peripheral' EXIT
# the central scans while the reference starts (see e2e_scan_while)
e2e_step scan e2e_scan_while "$R/scan.txt" start_ref || e2e_fail "ref-peripheral did not register, or the central did not see it"
cat "$R/scan.txt"
e2e_expect_grep '^Name: e2e-ref$' "$R/scan.txt" name
e2e_expect_grep '^Appearance: 0x0540$' "$R/scan.txt" appearance
e2e_expect_grep "^UUID: $(uuid e2e0)\$" "$R/scan.txt" "service UUID"
e2e_expect_grep '^ManufacturerData: 0xffff 01$' "$R/scan.txt" "manufacturer data"

e2e_step discover "$C" discover "$P" >"$R/discover.txt"
cat "$R/discover.txt"
e2e_expect_grep "^service 0x[0-9a-f]{4} $(uuid e2e0) primary\$" "$R/discover.txt" service
e2e_expect_grep "^  char 0x[0-9a-f]{4} $(uuid e2e3) flags=read,notify value=" "$R/discover.txt" "notify char"
e2e_expect_grep "^  char 0x[0-9a-f]{4} $(uuid e2e5) flags=read,write error=org.bluez.Error.NotPermitted" \
    "$R/discover.txt" "refused read shown as an error"

value=$(e2e_step "long read" "$C" read "$P" "$(uuid e2e1)")
e2e_expect_eq "$value" "$expected_long" "300-byte read"
value=$(e2e_step "read at offset 100" "$C" --offset 100 read "$P" "$(uuid e2e1)")
e2e_expect_eq "$value" "${expected_long:200}" "read from offset 100"

e2e_step write "$C" write "$P" "$(uuid e2e2)" 0102030405
e2e_expect_grep '^write e2e2 0102030405 ' "$R/ref-calls.log" "write reached the server"
value=$("$C" read "$P" "$(uuid e2e2)")
e2e_expect_eq "$value" 0102030405 "value read back"

e2e_step "listen to 5 notifications" "$C" listen "$P" "$(uuid e2e3)" 5 >"$R/notify.txt"
cat "$R/notify.txt"
[[ $(wc -l <"$R/notify.txt") -eq 5 ]] || e2e_fail "expected 5 notifications"
e2e_step "listen to 3 indications" "$C" listen "$P" "$(uuid e2e4)" 3 >"$R/indicate.txt"
cat "$R/indicate.txt"
[[ $(wc -l <"$R/indicate.txt") -eq 3 ]] || e2e_fail "expected 3 indications"
e2e_wait 5 grep -q '^confirm e2e4' "$R/ref-calls.log" || e2e_fail "no Confirm() for the indications"

e2e_expect_fail "read refused with 0x02" 'org\.bluez\.Error\.NotPermitted: Read not permitted' \
    "$C" read "$P" "$(uuid e2e5)"
e2e_expect_fail "write refused with 0x0D" 'org\.bluez\.Error\.InvalidArguments: Invalid Length' \
    "$C" write "$P" "$(uuid e2e5)" 0102030405
"$C" write "$P" "$(uuid e2e5)" 0102

e2e_step disconnect "$C" disconnect "$P"

# gatttool: its own ATT bearer at MTU 23, Read + Read Blob for the long value.
handle=$(sed -n "s/^  char \(0x[0-9a-f]*\) $(uuid e2e1) .*/\1/p" "$R/discover.txt")
e2e_step "gatttool long read" timeout 30 gatttool -i hci1 -b "$P" --char-read -a "$handle" \
    <>"$E2E_IDLE_STDIN" >"$R/gatttool-read.txt" 2>&1
cat "$R/gatttool-read.txt"
got=$(sed -n 's/^Characteristic value\/descriptor: //p' "$R/gatttool-read.txt" | tr -d ' ')
e2e_expect_eq "$got" "$expected_long" "gatttool long read"
e2e_log "ReadValue calls for e2e1: $(grep -c "^read e2e1" "$R/ref-calls.log")"
e2e_log PASS
