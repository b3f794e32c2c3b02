#!/bin/bash
# all.sh — runs the e2e scenarios one after the other in one guest (one boot),
# each with its own time limit and a clean radio: before each scenario but the
# first, leftover processes are ended, both controllers are checked (btvirt
# restarted if one is missing) and bluetoothd is restarted, so that no
# connection, cached device or registration carries over.
#
# Usage (in the guest, as the command of vm-run):
#   all.sh [SCENARIO[:SECONDS]...]     default: the list below
#
# Output: TAP on standard output, one "ok N - NAME (S s)" or "not ok N - NAME
# (S s, status X)" per scenario ("ok N - NAME # SKIP REASON" for one that
# cannot apply to this BlueZ: status 77, see e2e_skip); for a failure, the tails of its output, of the
# daemon's log and of bluetoothd's, btvirt's and the kernel's messages during
# it follow as "# " lines. "bench NAME VALUE UNIT" lines of the scenarios are
# repeated as they are. Each scenario's files are in $E2E_RESULTS/NAME/.
# Exit status: 0 when every scenario passed, 1 otherwise.
set -uo pipefail
. "$E2E_SRCDIR/lib.sh"

# NAME:SECONDS — the time limit covers the scenario only; the reset between
# scenarios is bounded by its own waits.
default_scenarios=(
    # harness proofs, no daemon of ours: btmgmt advertising seen by the
    # central; bluetoothd's own GATT database; the Python reference app
    radio-advertise:60
    radio-gatt:120
    ref-gatt:150
    # ble-peripheral with e2e.conf (README.md: what each asserts)
    advertise:90
    discover:90
    notify:150
    capture:120
    limits:150
    delegated-read:120
    reconnect:150
    indicate:120
    bluetoothd-restart:150
    # a producer written in Python with ble_peripheral (python/)
    python-producer:240
    # the bounds of bluetoothd's version the daemon reads from its interfaces
    capabilities:90
    # ScanResponseData seen by the central and the advertising interval
    # given to the controller without -E (5.80+), refused/warned before
    scan-response:150
    radio-bench:330
    # [Security]: pairing and who may connect (pairing-lib.sh)
    pair-off:150
    pair-just-works:240
    pair-display:150
    pair-confirm:180
    # the acquired sockets (AcquireNotify/AcquireWrite) on this leg's BlueZ
    fastpath:150
    # the demo's guest side, with the default configuration, 5 values
    demo:120
)
# Not in the list: channel and channel-paired (L2CAP channels), two-centrals
# and faults (while streaming at 1 kHz: bluetoothd killed ×10, power ×10,
# producer killed, 50 SIGHUP, watcher killed) run in boots of their own
# (meson test e2e-channel-*, e2e-centrals-*, e2e-faults-*).
if [[ $# -gt 0 ]]; then
    scenarios=("$@")
else
    # E2E_SCENARIOS="a b:60 …" chooses from the environment (vm-run passes E2E_*).
    # shellcheck disable=SC2206
    scenarios=(${E2E_SCENARIOS:-${default_scenarios[*]}})
fi

top=$E2E_RESULTS
# the demo scenario, in the suite: a few values are enough
export E2E_DEMO_VALUES=${E2E_DEMO_VALUES:-5}
E2E_DIAG_LINES=${E2E_DIAG_LINES:-40}
infra=" bluetoothd btvirt btmon dbus-monitor "

size_of() { stat -c %s "$1" 2>/dev/null || echo 0; }

# diag TITLE FILE [BYTE-OFFSET] — the last lines of FILE (from OFFSET on) as
# TAP diagnostics.
diag() {
    local title=$1 file=$2 from=${3:-0}
    [[ -s $file ]] || return 0
    # where the host finds it: the results folder holds what the guest's $top holds
    printf '# ----- %s (last %s lines; the whole file: %s in the results) -----\n' \
        "$title" "$E2E_DIAG_LINES" "${file#"$top"/}"
    tail -c +"$((from + 1))" "$file" | tail -n "$E2E_DIAG_LINES" | sed 's/^/#   /'
}

# Ends what a scenario left running: its process group (timeout made one),
# then any pid file of a background helper that is not infrastructure.
cleanup_after() {
    local pgid=$1 f name pid
    kill -TERM -- "-$pgid" 2>/dev/null && sleep 0.5
    kill -KILL -- "-$pgid" 2>/dev/null
    for f in "$E2E_STATE"/*.pid; do
        [[ -e $f ]] || continue
        name=${f##*/}
        name=${name%.pid}
        [[ $infra == *" $name "* ]] && continue
        pid=$(<"$f")
        kill "$pid" 2>/dev/null
        e2e_wait 3 e2e_not_running "$pid" || kill -9 "$pid" 2>/dev/null
        rm -f "$f"
    done
}

# A fresh radio for the next scenario: both controllers present (btvirt
# restarted otherwise), no advertising instance left by btmgmt, a new
# bluetoothd (which powers the adapters off and on: every link drops, every
# cached device and registration is gone) with empty storage.
reset_radio() {
    local pid
    if ! e2e_has_controllers "${E2E_CONTROLLERS:-2}"; then
        e2e_log "all: a controller is missing; restarting btvirt"
        e2e_stop_bluetoothd
        pid=$(cat "$E2E_STATE/btvirt.pid" 2>/dev/null) && {
            kill "$pid" 2>/dev/null
            e2e_wait 5 e2e_not_running "$pid" || kill -9 "$pid" 2>/dev/null
        }
        e2e_wait 5 e2e_no_controllers
        e2e_start_btvirt || return 1
    fi
    e2e_btmgmt --index 0 clr-adv >/dev/null 2>&1
    e2e_stop_bluetoothd
    # devices the central trusted (stored), keys, caches: none carry over
    rm -rf /var/lib/bluetooth/*
    e2e_start_bluetoothd
}

leg=$(e2e_leg)
printf '1..%d\n' "${#scenarios[@]}"
printf '# leg: %s\n' "$leg"
n=0
failed=0
skipped=0
failed_names=()
suite_t0=$(e2e_uptime)
for entry in "${scenarios[@]}"; do
    n=$((n + 1))
    name=${entry%%:*}
    limit=${E2E_EACH_TIMEOUT:-150}
    [[ $entry == *:* ]] && limit=${entry##*:}
    script=$E2E_SRCDIR/scenarios/$name.sh
    dir=$top/$name
    # a scenario listed twice gets a folder of its own each time
    [[ -e $dir ]] && dir=$top/$name-$n
    mkdir -p "$dir"

    if [[ $n -gt 1 ]] && ! reset_radio >>"$dir/reset.log" 2>&1; then
        printf 'not ok %d - %s (no clean radio: btvirt or bluetoothd did not come back)\n' "$n" "$name"
        diag "reset" "$dir/reset.log"
        diag "bluetoothd.log" "$E2E_LOGDIR/bluetoothd.log"
        failed=$((failed + 1))
        failed_names+=("$name")
        continue
    fi
    if [[ ! -x $script ]]; then
        printf 'not ok %d - %s (no executable %s)\n' "$n" "$name" "$script"
        failed=$((failed + 1))
        failed_names+=("$name")
        continue
    fi

    # A scenario that fails is run once more on a clean radio (E2E_RETRIES,
    # default 1): the virtual radio under TCG has timing outliers that are
    # not the daemon's. The first failure stays in the output ("passed on a
    # second run") and its logs in the results (NAME/first-run/).
    attempt=0
    first_why=
    while :; do
        bt_from=$(size_of "$E2E_LOGDIR/bluetoothd.log")
        btvirt_from=$(size_of "$E2E_LOGDIR/btvirt.log")
        dmesg_from=$(dmesg 2>/dev/null | wc -l)
        printf '# %s: starting (limit %s s)\n' "$name" "$limit"
        t0=$(e2e_uptime)
        E2E_RESULTS=$dir E2E_NAME=$name \
            timeout --kill-after=5 "$limit" "$script" >"$dir/output.log" 2>&1 <>"$E2E_IDLE_STDIN" &
        pgid=$!
        wait "$pgid"
        status=$?
        took=$(e2e_since "$t0")
        cleanup_after "$pgid"
        [[ $status -eq 137 ]] && status=124
        attempt=$((attempt + 1))
        [[ $status -eq 0 || $status -eq 77 || $attempt -gt ${E2E_RETRIES:-1} ]] && break
        first_why="status $status"
        [[ $status -eq 124 ]] && first_why="timed out after $limit s"
        printf '# %s: failed (%s after %s s); once more on a clean radio\n' "$name" "$first_why" "$took"
        diag "$name: output of the first run" "$dir/output.log"
        mkdir -p "$dir/first-run" && mv "$dir"/*.log "$dir/first-run/" 2>/dev/null
        if ! reset_radio >>"$dir/reset.log" 2>&1; then
            break
        fi
    done

    if [[ $status -eq 0 && -n $first_why ]]; then
        printf 'ok %d - %s (%s s; passed on a second run, the first: %s)\n' "$n" "$name" "$took" "$first_why"
    elif [[ $status -eq 0 ]]; then
        printf 'ok %d - %s (%s s)\n' "$n" "$name" "$took"
    elif [[ $status -eq 77 ]]; then
        # e2e_skip: the scenario cannot apply to this leg, and says why
        skipped=$((skipped + 1))
        why=$(grep -a '^SKIP: ' "$dir/output.log" | tail -n 1)
        printf 'ok %d - %s # SKIP %s\n' "$n" "$name" "${why#SKIP: }"
    else
        failed=$((failed + 1))
        failed_names+=("$name")
        why="status $status"
        [[ $status -eq 124 ]] && why="timed out after $limit s"
        printf 'not ok %d - %s (%s s, %s)\n' "$n" "$name" "$took" "$why"
        diag "$name: output" "$dir/output.log"
        for f in "$dir"/*.log; do
            case ${f##*/} in output.log|reset.log) continue ;; esac
            diag "$name: ${f##*/}" "$f"
        done
        diag "bluetoothd.log during $name" "$E2E_LOGDIR/bluetoothd.log" "$bt_from"
        diag "btvirt.log during $name" "$E2E_LOGDIR/btvirt.log" "$btvirt_from"
        dmesg 2>/dev/null | tail -n +"$((dmesg_from + 1))" >"$dir/dmesg.log"
        diag "kernel messages during $name" "$dir/dmesg.log"
    fi
    grep -E '^bench [^ ]+ [^ ]+ [^ ]+$' "$dir/output.log" 2>/dev/null
done

printf '# %s: %d passed, %d skipped, %d failed in %s s%s\n' "$leg" "$((n - failed - skipped))" "$skipped" \
    "$failed" "$(e2e_since "$suite_t0")" "${failed_names[*]:+ (failed: ${failed_names[*]})}"
[[ $failed -eq 0 ]]
