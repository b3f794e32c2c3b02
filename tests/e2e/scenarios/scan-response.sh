#!/bin/bash
# [Advertising] ScanResponseData= and IntervalMin=/IntervalMax= over the radio,
# with bluetoothd in its normal mode (no -E), per version:
#  - BlueZ 5.80 and later: the central (hci1, active scan) receives a scan
#    response (btmon on hci1: an LE Advertising Report of type SCAN_RSP)
#    holding the configured structure, which the advertising data (ADV_IND)
#    does not hold, and bluetoothd's central side shows it in Device1
#    (AdvertisingData); the peripheral's controller (hci0) is given the
#    configured interval (btmon on hci0: LE Set (Extended) Advertising
#    Parameters, min 150 ms = 0x00f0, max 200 ms = 0x0140) and the daemon
#    warns about neither;
#  - before 5.80: the daemon refuses the ScanResponseData configuration by
#    name and does not advertise; before 5.77 it warns that the interval
#    cannot take effect, and hci0 is indeed given another interval than the
#    configured one (the kernel's default).
# The structure is a URI (AD type 0x24): bluetoothd takes only AD types
# outside its reject list in ScanResponseData (src/shared/ad.c
# type_reject_list: names, UUID lists, service and manufacturer data, …),
# and the daemon's configuration refuses those by name.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

R=$E2E_RESULTS
log=$R/ble-peripheral.log
version=$(e2e_bluez_version)
[[ ${E2E_EXPERIMENTAL:-0} == 1 ]] &&
    e2e_skip "this scenario proves what bluetoothd does without -E; the guest runs bluetoothd -E"
# type 0x24 (URI), "https:" (scheme 0x17) + "//e2e.test"
sr_hex=172f2f6532652e74657374
min_hci=0x00f0 max_hci=0x0140

write_conf() { # FILE [EXTRA-ADVERTISING-LINE]
    cat >"$1" <<CONF
[Peripheral]
Name=e2e-scan
[Advertising]
IntervalMin=150ms
IntervalMax=200ms
${2:-}
[Service s]
UUID=0xFFF0
[Characteristic s/c]
UUID=0xFFF1
Flags=read
CONF
}
write_conf "$R/scan-response.conf" "ScanResponseData=0c24 $sr_hex"
write_conf "$R/interval.conf"

# btmon_start INDEX — HCI traffic of one controller as text (line-buffered),
# until btmon_stop; returns once btmon has replayed the controller's index
# (it is reading the monitor socket).
btmon_start() {
    e2e_bg "btmon-hci$1" stdbuf -oL btmon -i "hci$1"
    e2e_wait 10 grep -qE '^= (New|Open) Index' "$R/btmon-hci$1.log" ||
        e2e_fail "btmon on hci$1 did not start: $(cat "$R/btmon-hci$1.log")"
}
btmon_stop() { e2e_bg_stop "btmon-hci$1"; }

# hci_adv_params FILE — "MIN MAX" of each LE Set (Extended) Advertising
# Parameters command (opcodes 0x2006, 0x2036; btmon shortens the names to its
# width) in a btmon text trace (the mgmt commands, which print the same
# labels, are left out), one line each.
hci_adv_params() {
    awk '
        /^[^ ]/ { inblock = ($0 ~ /^< HCI Command: .*[(]0x08[|]0x00(06|36)[)]/) }
        inblock && /Min advertising interval:/ { min = $NF; gsub(/[()]/, "", min) }
        inblock && /Max advertising interval:/ { max = $NF; gsub(/[()]/, "", max); print min, max }
    ' "$1"
}

# reports FILE TYPE-ERE — the data of each LE Advertising Report of that
# event type in a btmon text trace, as one hex string a line (lower case, no
# spaces; what btmon decodes of each AD structure, labels left in).
reports() {
    awk -v want="$2" '
        function flush() { if (inreport && match_type) print data; inreport = 0; match_type = 0; data = "" }
        /^[^ ]/ { flush(); next }
        /Event type:/ { inreport = 1; match_type = ($0 ~ want); data = ""; next }
        inreport { line = tolower($0); gsub(/ /, "", line); data = data "|" line }
        END { flush() }
    ' "$1"
}

if e2e_bluez_at_least 5 80; then
    btmon_start 0
    btmon_start 1
    e2e_scan_while "$R/scan.txt" e2e_start_daemon_ready --config "$R/scan-response.conf" ||
        e2e_fail "the daemon with ScanResponseData did not advertise, or the central did not see it"
    cat "$R/scan.txt"
    # bluetoothd's central side: the structure of the scan response in Device1
    e2e_expect_grep "^AdvertisingData: 0x24 $sr_hex\$" "$R/scan.txt" "the scan response's URI in the central's Device1.AdvertisingData"
    e2e_expect_grep '^Name: e2e-scan$' "$R/scan.txt" "name"
    btmon_stop 0
    btmon_stop 1
    # the central's controller: a SCAN_RSP report holds it, no ADV_IND does
    reports "$R/btmon-hci1.log" 'SCAN_RSP' >"$R/scan-rsp.txt"
    reports "$R/btmon-hci1.log" 'ADV_IND' >"$R/adv-ind.txt"
    e2e_log "hci1: $(wc -l <"$R/scan-rsp.txt") SCAN_RSP and $(wc -l <"$R/adv-ind.txt") ADV_IND reports"
    e2e_expect_grep "$sr_hex" "$R/scan-rsp.txt" "a scan response report with the URI on the central's controller (btmon-hci1.log)"
    [[ -s $R/adv-ind.txt ]] || e2e_fail "no ADV_IND report on the central's controller (btmon-hci1.log)"
    if grep -q "$sr_hex" "$R/adv-ind.txt"; then
        e2e_fail "the URI is in the advertising data (ADV_IND) too: not scan-response-only"
    fi
    # the peripheral's controller: the configured interval, without -E
    hci_adv_params "$R/btmon-hci0.log" >"$R/adv-params.txt"
    e2e_log "hci0 advertising parameters (min max): $(tr '\n' ';' <"$R/adv-params.txt")"
    [[ -s $R/adv-params.txt ]] || e2e_fail "no LE Set Advertising Parameters command on hci0 (btmon-hci0.log)"
    e2e_expect_eq "$(tail -n 1 "$R/adv-params.txt")" "$min_hci $max_hci" "hci0's advertising interval (min max)"
    e2e_expect_eq "$(e2e_status bluez-experimental)" no "bluez-experimental"
    [[ $(e2e_count 'cannot take effect|ScanResponseData needs' "$log") -eq 0 ]] ||
        e2e_fail "the daemon warned about Interval or ScanResponseData on bluetoothd $version: $(grep -E 'cannot take effect|ScanResponseData needs' "$log")"
    e2e_log "PASS: bluetoothd $version: scan response seen by the central, interval 150-200 ms given to hci0, without -E"
    exit 0
fi

# Before 5.80: ScanResponseData is refused by name, and nothing advertises.
e2e_start_daemon --config "$R/scan-response.conf" || e2e_fail "the daemon did not start"
e2e_wait 20 grep -q 'ScanResponseData needs BlueZ 5.80' "$log" ||
    e2e_fail "no refusal of ScanResponseData naming BlueZ 5.80 in the daemon's log"
grep 'ScanResponseData needs' "$log"
e2e_expect_grep "\\[Advertising\\] ScanResponseData needs BlueZ 5\\.80 or later, and this bluetoothd is BlueZ [^ ]+: not advertising" "$log" "the refusal's text"
e2e_wait_status 10 registered yes "the GATT application is served all the same"
e2e_expect_eq "$(e2e_status advertising)" off "advertising with a refused ScanResponseData"
e2e_stop_daemon

# The interval alone: advertised, with the kernel's interval where bluetoothd
# ignores it (warned about), the configured one where it applies it.
btmon_start 0
e2e_scan_while "$R/scan.txt" e2e_start_daemon_ready --config "$R/interval.conf" ||
    e2e_fail "the daemon with IntervalMin/IntervalMax did not advertise, or the central did not see it"
btmon_stop 0
hci_adv_params "$R/btmon-hci0.log" >"$R/adv-params.txt"
e2e_log "hci0 advertising parameters (min max): $(tr '\n' ';' <"$R/adv-params.txt")"
[[ -s $R/adv-params.txt ]] || e2e_fail "no LE Set Advertising Parameters command on hci0 (btmon-hci0.log)"
if e2e_bluez_at_least 5 77; then
    e2e_expect_eq "$(tail -n 1 "$R/adv-params.txt")" "$min_hci $max_hci" "hci0's advertising interval (min max)"
    [[ $(e2e_count 'cannot take effect' "$log") -eq 0 ]] || e2e_fail "Interval warned about on bluetoothd $version"
else
    e2e_expect_grep 'Interval cannot take effect: bluetoothd ignores advertising intervals' "$log" "the interval warning"
    grep 'cannot take effect' "$log"
    if grep -q "^$min_hci $max_hci\$" "$R/adv-params.txt"; then
        e2e_fail "hci0 was given the configured interval although bluetoothd $version without -E ignores it (the warning would be wrong)"
    fi
fi
e2e_log "PASS: bluetoothd $version: ScanResponseData refused by name; interval $(tail -n 1 "$R/adv-params.txt") on hci0"
