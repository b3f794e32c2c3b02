#!/bin/bash
# ble-peripheral with e2e.conf on hci0: the central connects and discovers
# every configured service, characteristic (UUID, properties, value) and
# descriptor (0x2901 text, 0x2904 bytes), in the configured order, and nothing
# else of ours.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
e2e_start_peripheral

e2e_step connect "$C" connect "$P"
e2e_wait_status 10 centrals 1 "the daemon sees the central"
e2e_expect_eq "$(e2e_status connected)" "$E2E_CENTRAL_ADDR" "connected central"

e2e_step discover "$C" discover "$P" >"$R/discover.txt"
cat "$R/discover.txt"

sig() { printf '0000%s-0000-1000-8000-00805f9b34fb' "$1"; }
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
blob=$(python3 -c 'print(bytes(range(200)).hex())')
# What e2e.conf describes, as `central discover` prints it without handles.
cat >"$R/expected.txt" <<EOT
service $(sig 181a) primary
  char $(sig 2a6e) flags=read,notify value=6608
    desc $(sig 2901) value=$(hex Temperature)
    desc $(sig 2904) value=0efe2f27010000
service $(e2e_test_uuid 0) primary
  char $(e2e_test_uuid 1) flags=read,notify value=0000
    desc $(sig 2901) value=$(hex Counter)
  char $(e2e_test_uuid 2) flags=write
    desc $(sig 2901) value=$(hex Command)
  char $(e2e_test_uuid 3) flags=read,write value=00
  char $(e2e_test_uuid 4) flags=read value=$blob
  char $(e2e_test_uuid 5) flags=read value=$(hex stored)
    desc $(sig 2901) value=$(hex Delegated)
    desc $(sig 2904) value=19000027010000
  char $(e2e_test_uuid 6) flags=read,indicate value=00
    desc $(sig 2904) value=04000027010000
EOT
# Our services (bluetoothd's own 0x1801 and 0x180a are left out), handles and
# the CCCDs bluetoothd adds (0x2902) removed.
awk '/^service / { ours = ($3 == "'"$(sig 181a)"'" || $3 == "'"$(e2e_test_uuid 0)"'") }
     ours && !/ 00002902-/' "$R/discover.txt" |
    sed -E 's/^(service|  char|    desc) 0x[0-9a-f]{4} /\1 /' >"$R/actual.txt"
if ! diff -u "$R/expected.txt" "$R/actual.txt" >"$R/discover.diff"; then
    cat "$R/discover.diff" >&2
    e2e_fail "the discovered database differs from e2e.conf"
fi
# A CCCD under each notify/indicate characteristic, none under the others.
[[ $(e2e_count ' 00002902-' "$R/discover.txt") -ge 3 ]] || e2e_fail "expected CCCDs under the 3 notify/indicate characteristics"
e2e_expect_grep '^mtu 517$' "$R/discover.txt" "MTU exchanged"
e2e_step disconnect "$C" disconnect "$P"
e2e_log PASS
