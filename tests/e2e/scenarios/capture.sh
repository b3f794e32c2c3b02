#!/bin/bash
# ble-peripheral with e2e.conf on hci0: the central writes 50 commands to the
# Capture characteristic test/command; a producer watching with
# `ble-peripheralctl watch write` sees 50 "write test/command ADDR HEX" lines
# with the central's address and the exact bytes, in order, and nothing else.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
e2e_start_peripheral
e2e_bg watch "$E2E_CTL" --socket "$BLE_PERIPHERAL_SOCKET" watch write
# clients counts the connection that asks for the status too
e2e_wait_status 5 clients 2 "the watching producer is connected"

# 50 values of 1 to 20 bytes (MaxLength=20), each different: byte j of value
# i is (i * 7 + j) mod 256.
values=()
for ((i = 1; i <= 50; i++)); do
    v=
    for ((j = 0; j < i % 20 + 1; j++)); do
        v+=$(printf '%02x' $(((i * 7 + j) % 256)))
    done
    values+=("$v")
    printf 'write test/command %s %s\n' "$E2E_CENTRAL_ADDR" "$v"
done >"$R/expected.txt"

e2e_step "50 writes" "$C" --stats write-each "$P" "$(e2e_test_uuid 2)" "${values[@]}"
e2e_wait_lines 20 50 '^write ' "$R/watch.log" ||
    e2e_fail "the producer saw $(e2e_count '^write ' "$R/watch.log") of 50 writes"
sleep 0.5   # anything more would show now
if ! diff -u "$R/expected.txt" "$R/watch.log" >"$R/watch.diff"; then
    head -n 40 "$R/watch.diff" >&2
    e2e_fail "the producer's events differ from the 50 writes"
fi
e2e_expect_eq "$(e2e_status test/command.captured)" 50 "writes captured"
e2e_expect_eq "$(e2e_status test/command.queued)" 0 "writes still queued"
e2e_expect_eq "$(e2e_status test/command.dropped)" 0 "writes dropped"
e2e_log PASS
