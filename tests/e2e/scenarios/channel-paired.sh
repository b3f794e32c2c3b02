#!/bin/bash
# L2CAP channel with Security=medium and the daemon's pairing agent
# ([Security] Pairing=just-works): the central on hci1 asks for the channel on
# an unencrypted link, its kernel pairs (Just Works, through the daemon's
# agent) and asks again; the channel opens on the now encrypted link and a
# frame arrives whole.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
L=${E2E_L2CAP_CENTRAL:-$E2E_BUILDDIR/tests/e2e/l2cap-central}

{
    cat "$E2E_CONF"
    cat <<'EOF'

[Security]
Pairing=just-works

[Channel secure]
Service=test
Security=medium
EOF
} >"$R/channel-paired.conf"
e2e_start_peripheral --config "$R/channel-paired.conf"

psm_le=$(e2e_step "read the PSM characteristic" "$C" read "$P" abdd3056-28fa-441d-a470-55a75a52553a)
[[ $psm_le =~ ^[0-9a-f]{4}$ ]] || e2e_fail "the PSM characteristic holds '$psm_le'"
psm=$((16#${psm_le:2:2}${psm_le:0:2}))

printf 'a frame on an encrypted link' >/tmp/channel-paired.frame
"$L" --timeout 60 --ready-file "$R/secure.ready" recv "$P" "$psm" 1 >"$R/secure.txt" 2>"$R/secure.err" &
central=$!
e2e_wait 50 test -e "$R/secure.ready" || { cat "$R/secure.err" >&2; e2e_fail "the channel did not open after pairing"; }
e2e_wait_status 10 channel.secure.open 1 "the daemon sees the channel open"
paired=$(timeout 5 dbus-send --system --print-reply --dest=org.bluez \
    "/org/bluez/hci1/dev_${P//:/_}" org.freedesktop.DBus.Properties.Get \
    string:org.bluez.Device1 string:Paired 2>&1 | grep -o 'boolean [a-z]*' || true)
e2e_expect_eq "$paired" "boolean true" "the central's link is paired"
timeout 30 "$E2E_CTL" --socket "$BLE_PERIPHERAL_SOCKET" channel send secure /tmp/channel-paired.frame ||
    e2e_fail "channel send failed"
wait "$central" || { cat "$R/secure.err" >&2; e2e_fail "the frame did not arrive"; }
e2e_expect_eq "$(cat "$R/secure.txt")" "$(od -An -v -tx1 /tmp/channel-paired.frame | tr -d ' \n')" "the frame"
e2e_log PASS
