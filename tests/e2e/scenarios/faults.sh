#!/bin/bash
# Faults injected while ble-peripheral streams (e2e.conf on hci0): a central
# subscribed to test/counter (listening again after each disconnection), a
# producer notifying it at 1 kHz, the status asked every 100 ms throughout.
#   1. bluetoothd killed (SIGKILL) and started again, 10 times;
#   2. hci0 powered off and on, 10 times;
#   3. the producer killed (SIGKILL) mid-stream and another started;
#   4. 50 SIGHUP reloads in 10 s;
#   5. the producer watching test/command (Capture, QueueLength=100) killed
#      while the central writes 50 commands, another watcher started.
# Figures printed (bench lines) and checked:
#   - the time from bluetoothd's return (its adapter on the bus again) to
#     the application registered and advertising again (or connected to the
#     central, which reconnects on its own: MaxConnections=1), from the
#     daemon's log (BLE_PERIPHERAL_LOG_UPTIME): the target is under 2 s each
#     time; beside it the same for a reference (ref-peripheral.py --follow,
#     a minimal client registering an application and an advertisement on
#     hci2 at the same moment: needs vm-run --controllers 3). When a round
#     takes 2 s or more (the guest's host loaded: bluetoothd itself that
#     slow) the daemon passes if the sum of its rounds is within 1.5 times
#     the reference's and no round is over twice the reference's + 0.5 s;
#     the ratio of the sums is printed. The time from bluetoothd's name on the
#     bus is printed too (bluetoothd's own start, 1-2 s in the TCG guest);
#   - captured writes lost within QueueLength: 0 (every command the central
#     wrote is printed by one of the two watchers, in order, none twice);
#   - notify requests answered ok that never left the daemon: 0 (every value
#     a producer had answered ok is seen on the system bus, as the
#     PropertiesChanged signal bluetoothd takes notifications from, except
#     those sent while no central was connected, which go nowhere: a run of
#     them must have a central connecting between the values around it);
#   - the daemon's RSS before and after (growth at most 2 MiB);
#   - the daemon alive and answering status throughout (none missing, none
#     later than 5 s in the saturated TCG guest; the worst is printed).
# E2E_FAULTS_KILLS and E2E_FAULTS_POWER (default 10 each) shorten a trial
# run; E2E_FAULTS_REREG_MAX (default 2 s) moves the re-registration target.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
F="/usr/bin/python3 $E2E_SRCDIR/faults.py"
SOCK=$BLE_PERIPHERAL_SOCKET
COUNTER=$(e2e_test_uuid 1) COMMAND=$(e2e_test_uuid 2)
COUNTER_PATH=/org/bleperipheral/app/service1/char0

# The values go out as PropertiesChanged (AcquireSockets=off), where the
# system bus shows every one of them: that is what "never left" is counted
# against. The acquired sockets have their own scenario (fastpath).
CONF=$E2E_STATE/faults.conf
sed 's/^\[Peripheral\]$/&\nAcquireSockets=off/' "$E2E_CONF" >"$CONF"
grep -q '^AcquireSockets=off$' "$CONF" || e2e_fail "no [Peripheral] group in $E2E_CONF"
# The reference: ref-peripheral.py on hci2 registers its application and
# advertisement each time bluetoothd brings hci2 back, at the same moment as
# the daemon on hci0, in the same guest under the same stream: the floor a
# client of bluetoothd can reach there. Started before the stream (Python's
# own start takes half a minute in the guest under it).
[[ -e /sys/class/bluetooth/hci2 ]] ||
    e2e_fail "no hci2 for the reference peripheral: run this scenario with vm-run --controllers 3"
e2e_bg reference /usr/bin/python3 "$E2E_SRCDIR/ref-peripheral.py" --adapter hci2 --name faults-ref \
    --follow --log "$R/reference.log"
e2e_wait 60 grep -q 'registered adv' "$R/reference.log" || e2e_fail "the reference did not register on hci2"
e2e_start_peripheral --config "$CONF"
DPID=$(cat "$E2E_STATE/ble-peripheral.pid")
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$DPID/status"; }

# Every Value signal of test/counter on the bus (the daemon's way out),
# into the guest's tmpfs: on the results share dbus-monitor fell minutes
# behind the bus, and what it had not printed yet was counted as lost.
MONITOR_LOG=$E2E_STATE/monitor.log
rm -f "$MONITOR_LOG"
# With them, what tells when a central was connected at all (the daemon
# sends nothing with none): bluetoothd's Device1 Connected changes, devices
# it adds connected, and its own leaving.
stdbuf -oL dbus-monitor --system \
    "type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',path='$COUNTER_PATH'" \
    "type='signal',interface='org.freedesktop.DBus.Properties',member='PropertiesChanged',arg0='org.bluez.Device1'" \
    "type='signal',interface='org.freedesktop.DBus.ObjectManager',member='InterfacesAdded'" \
    "type='signal',sender='org.freedesktop.DBus',member='NameOwnerChanged',arg0='org.bluez'" \
    >"$MONITOR_LOG" 2>&1 <>"$E2E_IDLE_STDIN" &
echo $! >"$E2E_STATE/monitor.pid"
e2e_bg ping $F ping "$SOCK" "$R/ping.txt"
# The central: subscribed whenever it is connected. When a listen fails
# while the peripheral has no central connected, the central drops its link
# before it tries again, as a phone's app would: bluetoothd's central side,
# killed with links up or after many Service Changed, can keep a device it
# calls connected (no services on it, or a subscription that never takes)
# whose link the peripheral side no longer has.
central_loop() {
    local err=$E2E_STATE/central-listen.err
    while :; do
        "$C" --timeout 20 listen "$P" "$COUNTER" 1000000 >>"$R/central-values.txt" 2>"$err" && continue
        cat "$err" >>"$R/central.err"
        if grep -q '(0 services)' "$err" || [[ $(e2e_status centrals) == 0 ]]; then
            "$C" --timeout 5 disconnect "$P" 2>>"$R/central.err" || true
        fi
        sleep 0.5
    done
}
e2e_bg central central_loop
e2e_wait 30 e2e_status_is test/counter.subscribed yes || e2e_fail "the central did not subscribe"
e2e_bg producer1 $F produce "$SOCK" test/counter 1 "$R/acked1.txt"
e2e_wait 10 test -s "$R/acked1.txt" || e2e_fail "the producer got no ok"
sleep 2
rss_before=$(rss)
e2e_log "streaming; RSS ${rss_before} kB"

# --- 1. bluetoothd killed and started again, 10 times -------------------------
KILLS=${E2E_FAULTS_KILLS:-10} POWER_CYCLES=${E2E_FAULTS_POWER:-10}
for ((i = 1; i <= KILLS; i++)); do
    pid=$(cat "$E2E_STATE/bluetoothd.pid")
    kill -KILL "$pid"
    e2e_wait 10 e2e_not_running "$pid" || e2e_fail "bluetoothd did not die"
    rm -f "$E2E_STATE/bluetoothd.pid"
    e2e_wait 10 e2e_status_is bluez absent || e2e_fail "round $i: the daemon did not notice bluetoothd leaving"
    # bluetoothd's own start is not what is measured: under a loaded host
    # it can take longer than e2e_start_bluetoothd's 20 s to put hci0 and
    # hci1 on the bus, so wait for that as long as it takes (60 s)
    e2e_start_bluetoothd || e2e_wait 40 e2e_bluez_has_adapters || e2e_fail "round $i: bluetoothd did not come back"
    t_back=$(e2e_uptime)
    # status, asked by a process started now: in the loaded TCG guest the
    # poller itself can start seconds late, so this is the liveness bound;
    # the figure comes from the daemon's uptime-stamped log, below
    $F wait-registered "$SOCK" "$t_back" 15 >/dev/null ||
        e2e_fail "round $i: not registered and advertising 15 s after bluetoothd came back"
    e2e_wait 15 e2e_has_lines $((i + 1)) 'registered adv' "$R/reference.log" ||
        e2e_fail "round $i: the reference did not register again on hci2"
    read -r took took_name took_ref < <($F rereg "$R/ble-peripheral.log" "$R/reference.log" | tail -n 1)
    e2e_log "bluetoothd kill $i: registered and advertising again $took s after its adapter was back on the bus ($took_name s after its name; the reference on hci2: $took_ref s)"
    [[ $took != - ]] || e2e_fail "round $i: the daemon's log does not show the registration"
    [[ $took_ref != - ]] || e2e_fail "round $i: the reference's log does not show its registration"
done
$F rereg "$R/ble-peripheral.log" "$R/reference.log" >"$R/reregistration.txt"
e2e_bg_stop reference
# The target is under 2 s each time. In the TCG guest on a loaded host
# bluetoothd itself can be slower than that, so when a round takes longer the
# reference decides: the daemon fails when the sum of its rounds is over 1.5
# times the reference's (it is slower than the floor throughout), or when that
# round alone is over twice the reference's + 0.5 s (one round stuck).
read -r worst worst_name worst_ref ratio over < <(awk -v m="${E2E_FAULTS_REREG_MAX:-2}" '
    { if ($1 > w) w = $1; if ($2 > n) n = $2; if ($3 > r) r = $3; d += $1; f += $3
      if ($1 >= m && $1 > 2 * $3 + 0.5) stuck++ }
    END { ratio = f > 0 ? d / f : 99; bad = 0
          if (w >= m) bad = stuck + (ratio > 1.5 ? 1 : 0)
          printf "%.2f %.2f %.2f %.2f %d\n", w, n, r, ratio, bad }' \
    "$R/reregistration.txt")
e2e_bench faults_bluetoothd_kills "$KILLS" count
e2e_bench faults_reregistration_max "$worst" s
e2e_bench faults_reregistration_from_name_max "$worst_name" s
e2e_bench faults_reregistration_reference_max "$worst_ref" s
e2e_bench faults_reregistration_ratio_to_reference "$ratio" ratio
[[ $over -eq 0 ]] || e2e_fail "re-registration took $worst s at worst (the target: under ${E2E_FAULTS_REREG_MAX:-2} s), $ratio times the reference's in sum: $(tr '\n' ';' <"$R/reregistration.txt")"

# --- 2. hci0 powered off and on, 10 times -----------------------------------------
for ((i = 1; i <= POWER_CYCLES; i++)); do
    n=$(e2e_count 'was powered off' "$R/ble-peripheral.log")
    e2e_power 0 off
    # bluetoothd's Powered=false can take a while under the stream; the
    # daemon must have it 10 s after bluetoothd shows it (the daemon's
    # PowerOn=true may have turned it on again by the time it is read)
    noticed() { e2e_has_lines $((n + 1)) 'was powered off' "$R/ble-peripheral.log"; }
    off_or_noticed() { noticed || bluez_says_off; }
    e2e_wait 60 off_or_noticed || e2e_fail "power cycle $i: bluetoothd did not show hci0 off within 60 s"
    e2e_wait 10 noticed || e2e_fail "power cycle $i: the daemon did not notice hci0 going off (bluetoothd shows it)"
    # PowerOn=true: the daemon powers it again itself; this is for PowerOn=false
    e2e_power 0 on
    t0=$(e2e_uptime)
    took=$($F wait-registered "$SOCK" "$t0" 30) || e2e_fail "power cycle $i: not registered and advertising again 30 s after power on"
    e2e_log "power cycle $i: registered and advertising $took s after power on"
done
e2e_bench faults_power_cycles "$POWER_CYCLES" count

# --- 3. the producer killed mid-stream, another started ---------------------------
kill -KILL "$(cat "$E2E_STATE/producer1.pid")"
rm -f "$E2E_STATE/producer1.pid"
e2e_bg producer2 $F produce "$SOCK" test/counter 100000000 "$R/acked2.txt"
e2e_wait 10 test -s "$R/acked2.txt" || e2e_fail "the second producer got no ok"

# --- 4. 50 SIGHUP reloads in 10 s ---------------------------------------------------
from=$(e2e_count 'reloaded:' "$R/ble-peripheral.log")
took=$($F hup "$DPID" 50 10)
e2e_log "50 SIGHUP sent in $took s"
$F wait-registered "$SOCK" "$(e2e_uptime)" 20 >/dev/null || e2e_fail "not registered and advertising after 50 reloads"
reloads=$(($(e2e_count 'reloaded:' "$R/ble-peripheral.log") - from))
e2e_log "50 SIGHUP: $reloads reloads logged (signals that land together are one)"
e2e_bench faults_reloads "$reloads" count
[[ $reloads -ge 10 ]] || e2e_fail "only $reloads reloads for 50 SIGHUP in 10 s"

# --- 5. the watching producer killed while the central writes --------------------
e2e_wait 90 e2e_status_is centrals 1 || e2e_fail "the central did not come back"
e2e_bg watch1 "$E2E_CTL" --socket "$SOCK" watch write
values=()
for ((i = 1; i <= 50; i++)); do values+=("$(printf 'c0de%04x' "$i")"); done
printf '%s\n' "${values[@]}" >"$R/commands.txt"
e2e_bg writer "$C" write-each "$P" "$COMMAND" "${values[@]}"
# Each write request waits behind the notification stream on the link: in
# the TCG guest about 2 s each, hence the bounds.
e2e_wait 120 e2e_has_lines 10 '^write ' "$R/watch1.log" || e2e_fail "the first watcher saw no writes"
kill -KILL "$(cat "$E2E_STATE/watch1.pid")"
rm -f "$E2E_STATE/watch1.pid"
writer=$(cat "$E2E_STATE/writer.pid")
e2e_wait 240 e2e_not_running "$writer" ||
    e2e_fail "the central's writes did not end ($(e2e_status test/command.captured) of 50 captured)"
wstatus=0
wait "$writer" 2>/dev/null || wstatus=$?
[[ $wstatus -eq 0 ]] || e2e_fail "a write of the central failed (status $wstatus): $(tail -n 1 "$R/writer.log")"
e2e_bg watch2 "$E2E_CTL" --socket "$SOCK" watch write
e2e_wait 10 e2e_status_is test/command.queued 0 || e2e_fail "captured writes stay queued"
sleep 0.5
cat "$R/watch1.log" "$R/watch2.log" | awk '/^write / { print $NF }' >"$R/commands-seen.txt"
seen=$(wc -l <"$R/commands-seen.txt")
lost=$(comm -23 <(sort "$R/commands.txt") <(sort -u "$R/commands-seen.txt") | wc -l)
dropped=$(e2e_status test/command.dropped)
e2e_log "captured writes: 50 written, $seen seen by the two watchers ($(e2e_count . "$R/watch1.log") + $(e2e_count . "$R/watch2.log")), $lost lost, dropped=$dropped"
e2e_bench faults_captured_lost "$lost" count
[[ $lost -eq 0 ]] || e2e_fail "$lost captured writes lost"
cmp -s "$R/commands.txt" "$R/commands-seen.txt" || e2e_fail "the watchers saw the writes out of order or twice"

# --- figures ------------------------------------------------------------------------
e2e_bg_stop producer2
# the monitor has printed every value the producers had answered ok, or
# 120 s passed: then what is missing is counted
all_on_bus() {
    [[ $($F lost "$R/acked1.txt,$R/acked2.txt" "$MONITOR_LOG" "$COUNTER_PATH") == *" never_left=0"* ]]
}
e2e_wait 120 all_on_bus || true
e2e_bg_stop monitor
cp "$MONITOR_LOG" "$R/monitor.log"
$F lost "$R/acked1.txt,$R/acked2.txt" "$R/monitor.log" "$COUNTER_PATH" >"$R/lost.txt"
acked_line=$(head -n 1 "$R/lost.txt")
e2e_log "notify: $acked_line; refused: $(cat "$R"/acked*.txt.err 2>/dev/null | wc -l)"
if [[ $(wc -l <"$R/lost.txt") -gt 1 ]]; then
    # where the runs sit, in the bus's wall-clock times; the logs' uptimes beside them
    tail -n +2 "$R/lost.txt" >&2
    e2e_log "wall clock $(date +%s.%N) is uptime $(e2e_uptime)"
fi
never_left=$(sed -n 's/.*never_left=\([0-9]*\).*/\1/p' <<<"$acked_line")
e2e_bench faults_notify_acked "$(sed -n 's/.*acked=\([0-9]*\).*/\1/p' <<<"$acked_line")" count
e2e_bench faults_notify_no_central "$(sed -n 's/.*no_central=\([0-9]*\).*/\1/p' <<<"$acked_line")" count
e2e_bench faults_notify_never_left "$never_left" count
e2e_log "the central received $(wc -l <"$R/central-values.txt") notifications across its connections"
[[ $never_left -eq 0 ]] || e2e_fail "$never_left notify requests answered ok never left the daemon"

sleep 2
rss_after=$(rss)
e2e_bench faults_rss_before "$rss_before" kB
e2e_bench faults_rss_after "$rss_after" kB
[[ $((rss_after - rss_before)) -le 2048 ]] || e2e_fail "RSS grew from $rss_before to $rss_after kB"

e2e_bg_stop ping
ping_line=$(cat "$R/ping.txt")
e2e_log "status throughout: $ping_line"
e2e_bench faults_status_requests "$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$ping_line")" count
e2e_bench faults_status_max_ms "$(sed -n 's/.*max_ms=\([0-9]*\).*/\1/p' <<<"$ping_line")" ms
[[ $ping_line == *" failures=0 "* ]] || e2e_fail "status went unanswered: $ping_line"
kill -0 "$DPID" || e2e_fail "the daemon is gone"
e2e_log PASS
