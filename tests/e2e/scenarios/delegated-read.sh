#!/bin/bash
# ble-peripheral with e2e.conf on hci0: test/delegated has ReadHandler=socket
# and MinReadInterval=3s. A producer serves it (`ble-peripheralctl serve`,
# which answers each `event read` with `reply ID VALUE`): the central reads
# the producer's answer; a second read right after gets ATT 0x02 without the
# producer being asked; after the interval a read is served again.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
DELEGATED=$(e2e_test_uuid 5)
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
e2e_start_peripheral

# The producer's answer names the read: answer-ID (Format=utf8: text).
cat >"$R/answer.sh" <<EOT
#!/bin/sh
echo "\$BLE_PERIPHERAL_READ_ID \$BLE_PERIPHERAL_CHARACTERISTIC \$BLE_PERIPHERAL_ADDRESS" >>"$R/asked.txt"
echo "answer-\$BLE_PERIPHERAL_READ_ID"
EOT
chmod +x "$R/answer.sh"
e2e_bg producer "$E2E_CTL" --socket "$BLE_PERIPHERAL_SOCKET" serve test/delegated -- "$R/answer.sh"
e2e_wait_status 5 test/delegated.served yes "the producer serves test/delegated"

e2e_step "connect" "$C" connect "$P"
e2e_step "two reads in a row" "$C" reads "$P" "$DELEGATED" 2 >"$R/reads.txt"
cat "$R/reads.txt"
[[ $(wc -l <"$R/asked.txt") -eq 1 ]] || e2e_fail "the producer was asked $(wc -l <"$R/asked.txt") times, expected once"
read -r id chr addr <"$R/asked.txt"
e2e_expect_eq "$chr" test/delegated "characteristic in the read event"
e2e_expect_eq "$addr" "$E2E_CENTRAL_ADDR" "central in the read event"
e2e_expect_eq "$(sed -n 1p "$R/reads.txt")" "value=$(hex "answer-$id")" "first read: the producer's answer"
e2e_expect_eq "$(sed -n 2p "$R/reads.txt")" "error=org.bluez.Error.NotPermitted: Read not permitted" \
    "second read within MinReadInterval: ATT 0x02"
e2e_expect_eq "$(e2e_ctl get test/delegated)" "answer-$id" "the answer became the stored value"

# After MinReadInterval (3 s since the read served), the producer is asked again.
sleep 3.2
value=$(e2e_step "read after the interval" "$C" read "$P" "$DELEGATED")
[[ $(wc -l <"$R/asked.txt") -eq 2 ]] || e2e_fail "the producer was asked $(wc -l <"$R/asked.txt") times, expected twice"
id2=$(sed -n '2s/ .*//p' "$R/asked.txt")
e2e_expect_eq "$value" "$(hex "answer-$id2")" "read after the interval"
e2e_log PASS
