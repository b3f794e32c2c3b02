#!/bin/bash
# demo.sh — the guest side of tests/e2e/demo (also a scenario of the suite,
# with fewer values): ble-peripheral with its DEFAULT configuration (no
# --config: the built-in Environmental Sensing example) on hci0; a producer
# notifies a changing temperature once a second; a central on hci1 connects,
# subscribes to the temperature (0x2A6E) and prints each value it receives,
# decoded (sint16, exponent -2, degrees Celsius).
#
# E2E_DEMO_VALUES (default 30): how many values the central waits for.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
N=${E2E_DEMO_VALUES:-30}
[[ $N =~ ^[0-9]+$ && $N -ge 1 && $N -le 3600 ]] || e2e_fail "E2E_DEMO_VALUES wants 1 to 3600, got '$N'"
say() { printf '%s\n' "$*"; }

# The default configuration file is the host's (the guest sees the host's
# root): one installed there would be served instead of the built-in example.
# This throw-away guest hides it, and says so.
conf=$("$E2E_DAEMON" --help 2>&1 | sed -n 's/.*Configuration file (default \(.*\)).*/\1/p')
if [[ -n $conf && -e $conf ]]; then
    mount -t tmpfs -o mode=0755 demo-hide "$(dirname "$conf")" ||
        e2e_fail "cannot hide $conf in the guest"
    say "demo: $conf exists on this machine; hidden inside the virtual machine so that the built-in default applies"
fi

say "demo: a central on hci1 ($E2E_CENTRAL_ADDR) scans; ble-peripheral starts on hci0 ($P), without --config"
e2e_scan_while "$R/scan.txt" e2e_start_daemon_ready 2>>"$R/demo.err" ||
    { cat "$R/demo.err" >&2; e2e_fail "ble-peripheral did not start, or the central did not see it"; }
grep -hE 'built-in|configuration:|advertising on' "$R/ble-peripheral.log" | sed 's/^/  /'
say "demo: the central sees it advertising:"
grep -E '^(Name|Appearance|UUID):' "$R/scan.txt" | sed 's/^/  /'

say "demo: the central connects and subscribes to the temperature (0x2A6E); a producer runs"
say "      ble-peripheralctl notify env/temperature VALUE   once a second"

# sint16 little-endian hex, exponent -2 → "21.37"
decode() {
    local hex=$1 v
    v=$((16#${hex:2:2}${hex:0:2}))
    ((v >= 32768)) && v=$((v - 65536))
    awk -v v="$v" 'BEGIN { printf "%.2f", v / 100 }'
}

rm -f "$R/ready"
{
    "$C" --timeout $((N * 3 + 60)) listen "$P" 2a6e "$N" --ready-file "$R/ready" 2>"$R/central.err" |
        while read -r hex; do
            printf '  central  <- notification %s: temperature %s °C\n' "$hex" "$(decode "$hex")"
        done
} &
listener=$!
subscribed_or_gone() { [[ -e $R/ready ]] || ! kill -0 "$listener" 2>/dev/null; }
e2e_wait 60 subscribed_or_gone
[[ -e $R/ready ]] || { cat "$R/central.err" >&2; e2e_fail "the central did not subscribe"; }

# The producer: a temperature drifting around 21 °C, one value a second,
# until the central has what it waits for (bounded).
for ((i = 0; i < N + 30; i++)); do
    kill -0 "$listener" 2>/dev/null || break
    t=$(awk -v i="$i" 'BEGIN { srand(i); printf "%.2f", 21 + 1.5 * sin(i / 4) + (rand() - 0.5) * 0.2 }')
    printf '  producer -> ble-peripheralctl notify env/temperature %s\n' "$t"
    e2e_ctl notify env/temperature "$t" >/dev/null || e2e_fail "notify failed"
    sleep 1
done
wait "$listener" || { cat "$R/central.err" >&2; e2e_fail "the central did not receive $N values"; }
say "demo: the central received $N values over the (virtual) radio; done"
