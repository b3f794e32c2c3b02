#!/bin/bash
# guest.sh — process 1 of the e2e guest, started by the initramfs of vm-run
# after switch_root into the host's root (read-only).
#
# Brings up D-Bus, the crypto btvirt needs, btvirt's two LE controllers
# (hci0 = peripheral, hci1 = central) and bluetoothd, runs the scenario from
# $E2E_RESULTS/guest.env, writes its status to $E2E_RESULTS/status and powers
# off. Output goes to the console (console.log on the host).

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export E2E_RESULTS=/run/e2e
export HOME=/root LANG=C.UTF-8 TERM=dumb

# devtmpfs has no /dev/fd: bash's <(…) and scripts reading /dev/stdin need it.
[ -e /dev/fd ] || ln -s /proc/self/fd /dev/fd
for i in 0:stdin 1:stdout 2:stderr; do
    [ -e "/dev/${i#*:}" ] || ln -s "/proc/self/fd/${i%%:*}" "/dev/${i#*:}"
done

poweroff_now() {
    sync
    /bin/busybox poweroff -f
    sleep 5
    echo o >/proc/sysrq-trigger
    # process 1 exiting panics the kernel; panic=-1 and -no-reboot end qemu
    exit 1
}

# Setup failure: say why, record status 125 (harness failure), power off.
setup_failed() {
    echo "e2e-guest: SETUP FAILED: $*"
    echo 125 >"$E2E_RESULTS/status"
    echo "setup: $*" >"$E2E_RESULTS/setup-error"
    collect
    poweroff_now
}

collect() {
    dmesg >"$E2E_RESULTS/dmesg.log" 2>&1
}

# shellcheck source=/dev/null
. "$E2E_RESULTS/guest.env" || { echo 125 >"$E2E_RESULTS/status"; poweroff_now; }
# The caller's E2E_* variables came with it: these describe the guest.
export E2E_RESULTS=/run/e2e E2E_LOGDIR=/run/e2e
# shellcheck source=lib.sh
. "$E2E_SRCDIR/lib.sh" || { echo 125 >"$E2E_RESULTS/status"; poweroff_now; }

e2e_log "guest: up"
hostname e2e-guest 2>/dev/null
mkdir -p /dev/pts /dev/shm /run/dbus /run/lock
mount -t devpts devpts /dev/pts 2>/dev/null
mount -t tmpfs shm /dev/shm 2>/dev/null
ip link set lo up 2>/dev/null

# The bus and the crypto self-tests each take seconds under TCG: overlap them.
dbus-daemon --system --fork >>"$E2E_RESULTS/dbus.log" 2>&1 &
dbus_pid=$!
e2e_prepare_crypto || setup_failed "AF_ALG pre-bind of ecb(aes)/cmac(aes)"
e2e_log "guest: crypto ready"
wait "$dbus_pid" || setup_failed "dbus-daemon --system"
e2e_wait 10 test -S /run/dbus/system_bus_socket || setup_failed "no system bus socket"
e2e_log "guest: system bus up"

if [[ ${E2E_BTMON:-0} == 1 ]]; then
    modprobe bluetooth
    btmon -T -C 200 >"$E2E_RESULTS/btmon.log" 2>&1 &
    echo $! >"$E2E_STATE/btmon.pid"
fi
if [[ ${E2E_DBUS_MONITOR:-0} == 1 ]]; then
    dbus-monitor --system >"$E2E_RESULTS/dbus-monitor.log" 2>&1 &
    echo $! >"$E2E_STATE/dbus-monitor.pid"
fi

e2e_start_btvirt || setup_failed "btvirt did not bring up ${E2E_CONTROLLERS:-2} controllers"
e2e_start_bluetoothd || setup_failed "bluetoothd did not come up"
e2e_log "guest: ready, running: ${E2E_CMD[*]}"

cd "$E2E_PROJECT_ROOT" || setup_failed "cd $E2E_PROJECT_ROOT"
started=$(e2e_uptime)
timeout --kill-after=10 "$E2E_SCENARIO_TIMEOUT" "${E2E_CMD[@]}" \
    >"$E2E_RESULTS/scenario.log" 2>&1 <>"$E2E_IDLE_STDIN"
status=$?
[[ $status -eq 137 ]] && status=124
e2e_log "guest: scenario exited with $status after $(echo "$(e2e_uptime) $started" | awk '{printf "%.1f", $1 - $2}') s"
[[ $status -eq 124 ]] && echo "scenario timed out after ${E2E_SCENARIO_TIMEOUT}s" >>"$E2E_RESULTS/scenario.log"
echo "$status" >"$E2E_RESULTS/status.tmp"
e2e_btmgmt info >"$E2E_RESULTS/controllers.txt" 2>&1

for name in bluetoothd btvirt btmon dbus-monitor; do
    pid=$(cat "$E2E_STATE/$name.pid" 2>/dev/null) || continue
    kill "$pid" 2>/dev/null
done
for name in bluetoothd btvirt btmon dbus-monitor; do
    pid=$(cat "$E2E_STATE/$name.pid" 2>/dev/null) || continue
    e2e_wait 5 e2e_not_running "$pid" || kill -9 "$pid" 2>/dev/null
done
collect
mv "$E2E_RESULTS/status.tmp" "$E2E_RESULTS/status"
e2e_log "guest: done, powering off"
poweroff_now
