#!/bin/bash
# ble-peripheral with e2e.conf on hci0: a write over MaxLength (21 bytes to
# test/short, MaxLength=20) gets ATT 0x0D at the central and changes nothing;
# 20 bytes are accepted; the 200-byte test/blob reads back whole over
# bluetoothd's client (MTU 517) and with gatttool at MTU 23, where it takes a
# Read and Read Blobs with offsets.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
SHORT=$(e2e_test_uuid 3) BLOB=$(e2e_test_uuid 4)
blob=$(python3 -c 'print(bytes(range(200)).hex())')
e2e_start_peripheral

v20=0102030405060708090a0b0c0d0e0f1011121314
v21=${v20}15
e2e_step "write 20 bytes" "$C" write "$P" "$SHORT" "$v20"
e2e_expect_fail "write 21 bytes" 'org\.bluez\.Error\.InvalidArguments: Invalid Length' \
    "$C" write "$P" "$SHORT" "$v21"
e2e_expect_eq "$("$C" read "$P" "$SHORT")" "$v20" "value after the refused write"
e2e_expect_eq "$(e2e_ctl get test/short)" "$v20" "stored value after the refused write"
e2e_expect_eq "$(e2e_status test/short.rejected)" 1 "writes rejected"
e2e_expect_eq "$(e2e_status test/short.writes)" 1 "writes accepted"

e2e_expect_eq "$(e2e_step "read 200 bytes (MTU 517)" "$C" read "$P" "$BLOB")" "$blob" "200-byte read"
e2e_expect_eq "$("$C" --offset 150 read "$P" "$BLOB")" "${blob:300}" "read from offset 150"

"$C" --no-read discover "$P" >"$R/discover.txt"
handle=$(sed -n "s/^  char \(0x[0-9a-f]*\) $BLOB .*/\1/p" "$R/discover.txt")
[[ -n $handle ]] || e2e_fail "no handle for test/blob"
e2e_step disconnect "$C" disconnect "$P"
e2e_wait_status 10 centrals 0 "the central left"

# gatttool: its own ATT bearer at MTU 23: Read, then Read Blob from 22 on.
reads_before=$(e2e_status test/blob.reads)
e2e_step "gatttool long read (MTU 23)" timeout 30 gatttool -i hci1 -b "$P" --char-read -a "$handle" \
    <>"$E2E_IDLE_STDIN" >"$R/gatttool-read.txt" 2>&1 || true
cat "$R/gatttool-read.txt"
got=$(sed -n 's/^Characteristic value\/descriptor: //p' "$R/gatttool-read.txt" | tr -d ' ')
e2e_expect_eq "$got" "$blob" "gatttool long read at MTU 23"
reads=$(($(e2e_status test/blob.reads) - reads_before))
e2e_log "ReadValue calls for the gatttool read: $reads"
[[ $reads -ge 2 ]] || e2e_fail "a 200-byte read at MTU 23 should take several ReadValue calls (offsets), saw $reads"
e2e_log PASS
