#!/bin/bash
# boot-steps.sh — the boot test's steps, run by boot-test.service inside the
# booted Debian root (systemd is process 1, bluetoothd runs on btvirt's hci0
# and hci1). Installs our packages with apt-get as a user would, then checks
# the service from the outside: systemctl, the central on hci1, producers on
# the control socket, the journal. One "ok N - WHAT (S s)" or "not ok N - …"
# line per step in results/steps.log, the step's output in step-N.log (the
# last lines of a failed one follow as "#" lines); results/status holds 0 or 1.
set -u
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive SYSTEMD_PAGER='' SYSTEMD_COLORS=0
dir=/opt/boot-test
R=$dir/results
out=$R/steps.log
# shellcheck source=/dev/null
. "$dir/env"
PERIPH=00:AA:01:00:00:00
central() { timeout 90 "$dir/central" --adapter hci1 --timeout 30 "$@"; }
conf=/etc/ble-peripheral/ble-peripheral.conf

n=0 failed=0
t_start=$(cut -d' ' -f1 /proc/uptime)
uptime_s() { cut -d' ' -f1 /proc/uptime; }
say() { printf '%s\n' "$*" >>"$out"; }

# step WHAT FUNCTION — runs FUNCTION (set -e inside a subshell), output to
# step-N.log; one ok/not ok line.
step() {
    local what=$1 t0 status secs
    shift
    n=$((n + 1))
    t0=$(uptime_s)
    ( set -e; "$@" ) >"$R/step-$n.log" 2>&1 </dev/null
    status=$?
    secs=$(awk -v a="$t0" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }')
    if [[ $status -eq 0 ]]; then
        say "ok $n - $what ($secs s)"
    else
        failed=$((failed + 1))
        say "not ok $n - $what ($secs s, status $status)"
        tail -n 25 "$R/step-$n.log" | sed 's/^/#   /' >>"$out"
    fi
    return 0
}

# wait_for SECS CMD... — until CMD succeeds, bounded.
wait_for() {
    local end=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < end)) || return 1
        sleep 0.3
    done
}
fail() { echo "FAILED: $*"; return 1; }
expect_eq() { [[ $1 == "$2" ]] || fail "$3: expected '$2', got '$1'"; }

adapters_on_bus() {
    local tree
    tree=$(busctl --no-pager tree org.bluez 2>/dev/null) || return 1
    grep -q '/org/bluez/hci0$' <<<"$tree" && grep -q '/org/bluez/hci1$' <<<"$tree"
}
status_of() { ble-peripheralctl status 2>/dev/null | awk -v k="$1" 'index($0, k "=") == 1 { print substr($0, length(k) + 2) }'; }
serving() { [[ $(status_of registered) == yes && $(status_of advertising) == on ]]; }

# Steps that need the daemon fail at once when it is not running (a broken
# unit), instead of each waiting for its own timeouts.
running() {
    systemctl -q is-active ble-peripheral.service ||
        fail "ble-peripheral.service is $(systemctl is-active ble-peripheral.service): $(systemctl show -P Result ble-peripheral.service)"
}

# --- the steps --------------------------------------------------------------

s_radio() {
    wait_for 60 adapters_on_bus || fail "hci0 and hci1 are not both on D-Bus"
    local radio bt
    radio=$(systemctl show -P ActiveEnterTimestampMonotonic boot-test-radio.service)
    bt=$(systemctl show -P ExecMainStartTimestampMonotonic bluetooth.service)
    echo "radio up at $radio us, bluetoothd started at $bt us"
    ((radio > 0 && bt > radio)) || fail "bluetoothd started before the controllers were up"
    systemctl is-active bluetooth.service
}

s_install() {
    # The central scans first: btvirt reports an advertiser reliably only
    # when it starts advertising during a scan (tests/e2e/README.md).
    # (Each step is a subshell: the next one waits for the status file.)
    rm -f /run/boot-scan.ready /run/boot-scan.status
    # It waits as long as the install may take on a loaded machine.
    (
        set +e
        timeout 700 "$dir/central" --adapter hci1 --timeout 600 --restart-ms 5000 --trust \
            --ready-file /run/boot-scan.ready scan "$PERIPH" >"$R/scan.txt" 2>"$R/scan.err"
        echo $? >/run/boot-scan.status
    ) &
    wait_for 30 test -e /run/boot-scan.ready || fail "the central did not start scanning"
    (cd "$dir/debs" && apt-get install -y ./ble-peripheral_*.deb ./libble-peripheral0_*.deb)
    getent passwd ble-peripheral
    expect_eq "$(systemctl is-enabled ble-peripheral.service)" enabled "ble-peripheral.service enabled"
    expect_eq "$(systemctl is-enabled ble-peripheral.socket)" enabled "ble-peripheral.socket enabled"
    dpkg-query --control-show ble-peripheral conffiles | grep -F "$conf"
}

s_active() {
    wait_for 30 systemctl -q is-active ble-peripheral || { systemctl status ble-peripheral; fail "not active"; }
    systemctl is-active ble-peripheral ble-peripheral.socket
}

s_user() {
    running
    local pid st
    pid=$(systemctl show -P MainPID ble-peripheral)
    ((pid > 0)) || fail "no main process"
    expect_eq "$(stat -c %U "/proc/$pid")" ble-peripheral "the process's user"
    st=$(cat "/proc/$pid/status")
    grep -E '^(Uid|Gid|Groups|NoNewPrivs|Seccomp|CapEff|CapBnd|CapAmb):' <<<"$st"
    grep -qE '^NoNewPrivs:\s+1$' <<<"$st" || fail "NoNewPrivs is not set"
    grep -qE '^Seccomp:\s+2$' <<<"$st" || fail "no seccomp filter"
    grep -qE '^CapEff:\s+0+$' <<<"$st" || fail "effective capabilities"
    grep -qE '^CapBnd:\s+0+$' <<<"$st" || fail "bounding set not empty"
    [[ $(readlink "/proc/$pid/ns/mnt") != "$(readlink /proc/1/ns/mnt)" ]] || fail "no mount namespace of its own"
    # L2CAP channels need the initial network namespace (AF_BLUETOOTH
    # exists only there): no PrivateNetwork=, IP shut out by IPAddressDeny=.
    [[ $(readlink "/proc/$pid/ns/net") == "$(readlink /proc/1/ns/net)" ]] ||
        fail "not in the initial network namespace (L2CAP channels cannot listen)"
    systemctl show -P IPAddressDeny ble-peripheral | grep -Eq '0\.0\.0\.0/0|any' || fail "IPAddressDeny= does not deny any"
    grep -E ' / / ' "/proc/$pid/mountinfo" | grep -q ' ro[, ]' || fail "/ is writable to it (ProtectSystem=strict)"
    id ble-peripheral
    id -nG ble-peripheral | grep -qw bluetooth || fail "the user is not in the bluetooth group"
}

s_advertises() {
    running
    wait_for 120 test -s /run/boot-scan.status || fail "the scan did not end"
    [[ $(cat /run/boot-scan.status) == 0 ]] || { cat "$R/scan.err"; fail "the central did not see $PERIPH advertise"; }
    cat "$R/scan.txt"
    grep -qx 'Name: ble-peripheral' "$R/scan.txt" || fail "not the default configuration's name"
}

s_read() {
    running
    local v
    v=$(central --disconnect read "$PERIPH" 2a6e)
    expect_eq "$v" 0000 "env/temperature (Initial=0 of the default configuration)"
}

s_notify() {
    running
    useradd --no-create-home --shell /usr/sbin/nologin --groups ble-peripheral producer
    useradd --no-create-home --shell /usr/sbin/nologin outsider
    rm -f /run/boot-listen.ready
    central --disconnect --ready-file /run/boot-listen.ready listen "$PERIPH" 2a6e 1 >"$R/listen.txt" &
    local pid=$!
    wait_for 40 test -e /run/boot-listen.ready || { kill "$pid"; fail "the central did not subscribe"; }
    runuser -u producer -- ble-peripheralctl notify env/temperature 21.5
    wait "$pid" || fail "the central got no notification"
    expect_eq "$(cat "$R/listen.txt")" 6608 "the notification (21.5 as sint16, exponent -2)"
    if runuser -u outsider -- ble-peripheralctl status >"$R/outsider.txt" 2>&1; then
        fail "a user outside the producers' group reached the control socket"
    fi
    cat "$R/outsider.txt"
}

s_reload() {
    running
    local before after
    before=$(central --disconnect discover "$PERIPH")
    grep -qi '2a6d' <<<"$before" && fail "2a6d is there before the edit"
    cat >>"$conf" <<'CONF'

# added by the boot test
[Characteristic env/pressure]
UUID=0x2A6D
Flags=read
Format=uint32
Exponent=-1
Unit=0x2724
Initial=1013250
CONF
    # The central forgets the peripheral (no cached database), scans, and the
    # daemon reloads meanwhile.
    central remove "$PERIPH" || true
    rm -f /run/boot-scan.ready
    central --timeout 60 --restart-ms 5000 --trust --ready-file /run/boot-scan.ready \
        scan "$PERIPH" >"$R/scan-reload.txt" 2>"$R/scan-reload.err" &
    local pid=$!
    wait_for 30 test -e /run/boot-scan.ready || fail "the central did not start scanning"
    systemctl reload ble-peripheral
    wait_for 30 serving || fail "not registered and advertising again after the reload"
    wait "$pid" || { cat "$R/scan-reload.err"; fail "the central did not see it after the reload"; }
    after=$(central --disconnect discover "$PERIPH")
    echo "$after"
    grep -qi '2a6d' <<<"$after" || fail "the central does not discover the added env/pressure (0x2A6D)"
    systemctl -q is-active ble-peripheral
}

s_socket() {
    running
    systemctl stop ble-peripheral.service
    expect_eq "$(systemctl is-active ble-peripheral.service)" inactive "the service after stop"
    expect_eq "$(systemctl is-active ble-peripheral.socket)" active "the socket after stop"
    # The producer's request reaches the socket, systemd starts the daemon,
    # and the daemon answers it.
    timeout 60 runuser -u producer -- ble-peripheralctl notify env/temperature 22.25
    expect_eq "$(systemctl is-active ble-peripheral.service)" active "the service after the connection"
    expect_eq "$(runuser -u producer -- ble-peripheralctl get env/temperature)" 22.25 "the value set through the activated daemon"
}

s_security() {
    local line level
    systemd-analyze security --no-pager ble-peripheral.service | tee "$R/security.txt" | tail -n 3
    line=$(grep -a 'Overall exposure level' "$R/security.txt")
    level=$(grep -oE '[0-9]+\.[0-9]+' <<<"$line" | head -n 1)
    [[ -n $level ]] || fail "no exposure level in: $line"
    awk -v l="$level" 'BEGIN { exit !(l <= 2.0) }' || fail "exposure $level > 2.0"
    echo "exposure level $level"
}

s_journal() {
    running
    journalctl --no-pager -u ble-peripheral BLE_CHARACTERISTIC=env/temperature -o verbose >"$R/journal-temperature.txt"
    journalctl --no-pager -u ble-peripheral BLE_CHARACTERISTIC=env/temperature -o cat
    grep -q '^ *MESSAGE=env/temperature: ' "$R/journal-temperature.txt" || fail "no record with BLE_CHARACTERISTIC=env/temperature"
}

s_bluetooth_restart() {
    running
    local v
    systemctl restart bluetooth.service
    wait_for 60 adapters_on_bus || fail "bluetoothd's adapters did not come back"
    wait_for 30 serving || fail "not registered and advertising again: $(ble-peripheralctl status | tr '\n' ' ')"
    v=$(central --disconnect read "$PERIPH" 2a6e)
    expect_eq "$v" b108 "env/temperature read back after the restart (22.25)"
}

s_remove() {
    apt-get remove -y ble-peripheral
    expect_eq "$(systemctl is-active ble-peripheral.service)" inactive "the service after apt remove"
    expect_eq "$(systemctl is-active ble-peripheral.socket)" inactive "the socket after apt remove"
    if pgrep -u ble-peripheral -l; then fail "a process of ble-peripheral is left"; fi
    test -e "$conf" || fail "remove (not purge) should keep the configuration"
}

# --- run --------------------------------------------------------------------

say "# boot test on Debian $(cat /etc/debian_version) ($BOOT_SUITE), systemd $(systemctl --version | awk 'NR == 1 { print $2 }'), bluez $(dpkg-query -W -f '${Version}' bluez); booted in ${t_start} s"
[[ -n ${BOOT_DROPIN:-} ]] && say "# with the drop-in $BOOT_DROPIN in ble-peripheral.service.d"
say "1..13"
step "btvirt's controllers up before bluetooth.service, both adapters on D-Bus" s_radio
step "apt-get install ./ble-peripheral_*.deb ./libble-peripheral0_*.deb (user, units enabled, conffile)" s_install
step "systemctl is-active ble-peripheral (and its socket)" s_active
step "runs as ble-peripheral with the unit's hardening" s_user
step "the central on hci1 sees it advertise" s_advertises
step "the central reads env/temperature" s_read
step "a producer (group ble-peripheral) notifies 21.5; the central receives it; others are refused" s_notify
step "edited ble-peripheral.conf + systemctl reload: the central discovers env/pressure" s_reload
step "stopped, a producer's connection starts it through ble-peripheral.socket and is answered" s_socket
step "systemd-analyze security ble-peripheral.service <= 2.0" s_security
step "journalctl -u ble-peripheral BLE_CHARACTERISTIC=env/temperature shows records" s_journal
step "systemctl restart bluetooth: serving again, the central reads the value" s_bluetooth_restart
step "apt-get remove ble-peripheral stops it" s_remove
n_total=$n
say "# $((n_total - failed)) passed, $failed failed in $(awk -v a="$t_start" -v b="$(uptime_s)" 'BEGIN { printf "%.1f", b - a }') s"
journalctl -b --no-pager >"$R/journal.log" 2>&1
[[ $failed -eq 0 ]] && echo 0 >"$R/status" || echo 1 >"$R/status"
sync
