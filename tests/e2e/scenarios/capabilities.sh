#!/bin/bash
# What the daemon reads of the real bluetoothd's version and mode from its
# interfaces (status bluez-version and bluez-experimental, one log line per
# appearance), on each leg: the bounds are exactly the ones the markers of
# the version `bluetoothd --version` gives allow (capabilities.c), and an
# advertising Interval is warned about exactly where bluetoothd ignores it
# (before 5.77 without -E). A bluetoothd restart is probed again.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

R=$E2E_RESULTS
log=$R/ble-peripheral.log
version=$(e2e_bluez_version)
experimental=no
[[ ${E2E_EXPERIMENTAL:-0} == 1 ]] && experimental=yes

# The bounds the markers prove (Manufacturer 5.71, PowerState 5.73 and
# SupportedFeatures 5.77 unless -E shows them earlier, Connectable 5.79).
expected_bounds() {
    if e2e_bluez_at_least 5 79; then
        echo '>=5.79'
    elif [[ $experimental == yes ]] && e2e_bluez_at_least 5 71; then
        echo '>=5.71,<5.79'
    elif e2e_bluez_at_least 5 77; then
        echo '>=5.77,<5.79'
    elif e2e_bluez_at_least 5 73; then
        echo '>=5.73,<5.77'
    elif e2e_bluez_at_least 5 71; then
        echo '>=5.71,<5.73'
    else
        echo '<5.71'
    fi
}
want=$(expected_bounds)
# A Device1 (any adapter's) proves 5.65 as well: "<5.71" becomes ">=5.65,<5.71".
bounds_ok() {
    local got
    got=$(e2e_status bluez-version)
    [[ $got == "$want" || ($want == '<5.71' && $got == '>=5.65,<5.71') ]]
}

cat >"$R/capabilities.conf" <<'CONF'
[Peripheral]
Name=e2e-capabilities
[Advertising]
Interval=100ms
[Service s]
UUID=0xFFF0
[Characteristic s/c]
UUID=0xFFF1
Flags=read
CONF

e2e_start_daemon_ready --config "$R/capabilities.conf" || e2e_fail "the daemon did not register and advertise"
e2e_wait 10 grep -q 'bluetoothd: BlueZ ' "$log" || e2e_fail "no capabilities line in the daemon's log"
grep 'bluetoothd: BlueZ ' "$log"
e2e_wait 5 bounds_ok || e2e_fail "bluez-version=$(e2e_status bluez-version) for bluetoothd $version, expected $want"
e2e_expect_eq "$(e2e_status bluez-experimental)" "$experimental" "bluez-experimental"
if e2e_bluez_at_least 5 77 || [[ $experimental == yes ]]; then
    [[ $(e2e_count 'Interval cannot take effect' "$log") -eq 0 ]] ||
        e2e_fail "Interval warned about on bluetoothd $version, which applies it"
else
    e2e_expect_grep 'Interval cannot take effect: bluetoothd ignores advertising intervals' "$log" "Interval warning"
fi

# A new bluetoothd is asked again, and logged once more.
e2e_restart_bluetoothd
e2e_wait 20 e2e_daemon_ready || e2e_fail "not registered and advertising again after the bluetoothd restart"
e2e_wait 10 e2e_has_lines 2 'bluetoothd: BlueZ ' "$log" || e2e_fail "no second capabilities line after the restart"
e2e_wait 5 bounds_ok || e2e_fail "after the restart: bluez-version=$(e2e_status bluez-version), expected $want"
[[ $(e2e_count 'bluetoothd: BlueZ ' "$log") -eq 2 ]] || e2e_fail "the capabilities line was logged more than once per appearance"
e2e_log "PASS: bluetoothd $version shows bluez-version=$(e2e_status bluez-version) bluez-experimental=$experimental"
