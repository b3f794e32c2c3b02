# lib.sh — helpers for the e2e guest (sourced by guest.sh and by scenarios).
#
# Everything here runs inside the qemu guest started by vm-run: the host's root
# is mounted read-only, /run /tmp /root /var/lib/bluetooth are tmpfs and
# $E2E_RESULTS is the writable results share. Every wait is bounded.

: "${E2E_RESULTS:=/run/e2e}"
# The logs of the whole boot (bluetoothd.log, btvirt.log, …) go here; a
# scenario run by scenarios/all.sh has its own E2E_RESULTS below it.
: "${E2E_LOGDIR:=$E2E_RESULTS}"
: "${E2E_PERIPHERAL_ADDR:=00:AA:01:00:00:00}"
: "${E2E_CENTRAL_ADDR:=00:AA:01:01:00:01}"
export E2E_RESULTS E2E_LOGDIR E2E_PERIPHERAL_ADDR E2E_CENTRAL_ADDR

E2E_STATE=/run/e2e-state
mkdir -p "$E2E_STATE" 2>/dev/null

# BlueZ's shell tools (btmgmt, bluetoothctl) quit as soon as their standard
# input reaches end of file, before the answer to a command given on their
# command line arrives: `btmgmt info </dev/null` prints nothing and exits 0.
# This FIFO, opened read-write, is a standard input that never ends and never
# delivers data. Scenarios run with it; use it for such tools in pipelines.
E2E_IDLE_STDIN=$E2E_STATE/idle-stdin
[[ -p $E2E_IDLE_STDIN ]] || mkfifo "$E2E_IDLE_STDIN" 2>/dev/null
export E2E_IDLE_STDIN

# e2e_btmgmt ARG... — btmgmt with a bounded run time and a stdin that stays open.
e2e_btmgmt() { timeout 10 btmgmt "$@" <>"$E2E_IDLE_STDIN"; }

# Seconds since boot, as a timestamp for logs.
e2e_uptime() { cut -d' ' -f1 /proc/uptime; }

e2e_log() { printf '[%8s] %s\n' "$(e2e_uptime)" "$*" >&2; }

# Fails the scenario: message on stderr, status 1.
e2e_fail() {
    e2e_log "FAIL: $*"
    # the daemon's view at the moment of failure, for the diagnostics
    if [[ -S ${BLE_PERIPHERAL_SOCKET:-} ]]; then
        timeout 5 "$E2E_CTL" --socket "$BLE_PERIPHERAL_SOCKET" status >"$E2E_RESULTS/daemon-status.log" 2>&1
    fi
    exit 1
}

# e2e_wait SECONDS COMMAND... — retry COMMAND every 0.2 s until it succeeds
# or SECONDS pass. Returns COMMAND's last status.
e2e_wait() {
    local limit=$1 deadline now
    shift
    deadline=$(( $(date +%s%N) / 1000000 + limit * 1000 ))
    while true; do
        "$@" && return 0
        now=$(( $(date +%s%N) / 1000000 ))
        [[ $now -ge $deadline ]] && { "$@"; return; }
        sleep 0.2
    done
}

# The number of controllers the kernel's management interface lists.
e2e_controller_count() {
    e2e_btmgmt info 2>/dev/null | grep -cE '^hci[0-9]+:' || true
}

e2e_has_controllers() { [[ $(e2e_controller_count) -ge ${1:-2} ]]; }

# Crypto that btvirt (AF_ALG) and the kernel's SMP need. Binding each
# algorithm once makes the kernel instantiate and self-test it now: under TCG
# that takes over a second, and if btvirt's first bind paid it, hci0's HCI
# Reset would time out and hci0 would never reach bluetoothd.
e2e_prepare_crypto() {
    modprobe -a af_alg algif_hash algif_skcipher cmac ecb aes_generic ecdh_generic ||
        e2e_log "warning: some crypto modules did not load"
    e2e_log "crypto: modules loaded"
    /usr/bin/python3 - <<'EOF'
import socket
for kind, alg in (("skcipher", "ecb(aes)"), ("hash", "cmac(aes)")):
    with socket.socket(socket.AF_ALG, socket.SOCK_SEQPACKET, 0) as s:
        s.bind((kind, alg))
EOF
}

# Starts btvirt with $E2E_CONTROLLERS (default 2) LE controllers and waits
# until the kernel lists them all; restarts it (up to three times) when one
# is missing.
e2e_start_btvirt() {
    local attempt pid n=${E2E_CONTROLLERS:-2}
    modprobe hci_vhci || { e2e_log "modprobe hci_vhci failed"; return 1; }
    for attempt in 1 2 3; do
        btvirt -L "-l$n" >>"$E2E_LOGDIR/btvirt.log" 2>&1 &
        pid=$!
        echo "$pid" >"$E2E_STATE/btvirt.pid"
        if e2e_wait 15 e2e_has_controllers "$n"; then
            e2e_log "btvirt: $n controllers up (attempt $attempt)"
            return 0
        fi
        e2e_log "btvirt: only $(e2e_controller_count) of $n controller(s) after 15 s, restarting (attempt $attempt)"
        kill "$pid" 2>/dev/null
        e2e_wait 5 e2e_not_running "$pid"
        kill -9 "$pid" 2>/dev/null
        e2e_wait 5 e2e_no_controllers
    done
    return 1
}

e2e_not_running() { ! kill -0 "$1" 2>/dev/null; }
e2e_no_controllers() { [[ $(e2e_controller_count) -eq 0 ]]; }

# bluetoothd's objects for all adapters (hci0 … hci$((E2E_CONTROLLERS-1))) are on the bus.
e2e_bluez_has_adapters() {
    local objs i
    objs=$(timeout 5 dbus-send --system --print-reply --dest=org.bluez / \
        org.freedesktop.DBus.ObjectManager.GetManagedObjects 2>/dev/null) || return 1
    for ((i = 0; i < ${E2E_CONTROLLERS:-2}; i++)); do
        grep -q "object path \"/org/bluez/hci$i\"" <<<"$objs" || return 1
    done
}

# Starts bluetoothd (-E with E2E_EXPERIMENTAL=1, -d with E2E_BLUETOOTHD_DEBUG=1,
# extra words from E2E_BLUETOOTHD_ARGS) and waits for all adapters on D-Bus.
e2e_start_bluetoothd() {
    local bin args=(-n) pid
    bin=$(command -v bluetoothd || echo /usr/libexec/bluetooth/bluetoothd)
    [[ ${E2E_EXPERIMENTAL:-0} == 1 ]] && args+=(-E)
    [[ ${E2E_BLUETOOTHD_DEBUG:-0} == 1 ]] && args+=(-d)
    # shellcheck disable=SC2206
    args+=(${E2E_BLUETOOTHD_ARGS:-})
    printf '\n----- %s bluetoothd %s -----\n' "$(e2e_uptime)" "${args[*]}" >>"$E2E_LOGDIR/bluetoothd.log"
    "$bin" "${args[@]}" >>"$E2E_LOGDIR/bluetoothd.log" 2>&1 &
    pid=$!
    echo "$pid" >"$E2E_STATE/bluetoothd.pid"
    if ! e2e_wait 20 e2e_bluez_has_adapters; then
        e2e_log "bluetoothd: not all ${E2E_CONTROLLERS:-2} adapters appeared on D-Bus within 20 s"
        return 1
    fi
    e2e_log "bluetoothd: running (pid $pid), ${E2E_CONTROLLERS:-2} adapters on D-Bus"
}

# Stops bluetoothd (SIGTERM, then SIGKILL after 5 s) and waits until its name
# has left the bus.
e2e_stop_bluetoothd() {
    local pid
    pid=$(cat "$E2E_STATE/bluetoothd.pid" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null
    e2e_wait 5 e2e_not_running "$pid" || kill -9 "$pid" 2>/dev/null
    e2e_wait 5 e2e_not_running "$pid"
    rm -f "$E2E_STATE/bluetoothd.pid"
    e2e_wait 5 e2e_bluez_gone
    e2e_log "bluetoothd: stopped"
}

e2e_bluez_gone() {
    ! timeout 5 dbus-send --system --print-reply --dest=org.freedesktop.DBus / \
        org.freedesktop.DBus.GetNameOwner string:org.bluez >/dev/null 2>&1
}

e2e_restart_bluetoothd() {
    e2e_stop_bluetoothd
    e2e_start_bluetoothd
}

# e2e_power INDEX on|off — through the kernel's management interface.
e2e_power() {
    e2e_btmgmt --index "$1" power "$2" >/dev/null
}

# e2e_expect_grep PATTERN FILE [WHAT] — fail unless FILE matches the ERE.
e2e_expect_grep() {
    grep -qE -- "$1" "$2" || {
        e2e_log "expected /$1/ in $2; it holds:"
        sed 's/^/    /' "$2" >&2
        e2e_fail "${3:-pattern not found}"
    }
}

# e2e_expect_eq ACTUAL EXPECTED [WHAT]
e2e_expect_eq() {
    [[ $1 == "$2" ]] || e2e_fail "${3:-value}: expected '$2', got '$1'"
}

# e2e_step WHAT COMMAND... — run COMMAND, log how long it took; its status is returned.
e2e_step() {
    local what=$1 t0 status
    shift
    t0=$(e2e_uptime)
    "$@"
    status=$?
    e2e_log "$what: $(awk -v a="$t0" -v b="$(e2e_uptime)" 'BEGIN { printf "%.1f", b - a }') s (status $status)"
    return $status
}

# e2e_expect_fail WHAT PATTERN COMMAND... — COMMAND must fail and its stderr
# match the ERE PATTERN.
e2e_expect_fail() {
    local what=$1 pattern=$2 err
    shift 2
    err=$("$@" 2>&1 >/dev/null) && e2e_fail "$what: expected a failure, it succeeded"
    grep -qE -- "$pattern" <<<"$err" || e2e_fail "$what: expected /$pattern/ in: $err"
    e2e_log "$what: failed as expected: $err"
}

# e2e_bg NAME COMMAND... — start COMMAND in the background, output to
# $E2E_RESULTS/NAME.log, pid in $E2E_STATE/NAME.pid; stopped by e2e_bg_stop.
e2e_bg() {
    local name=$1
    shift
    "$@" >>"$E2E_RESULTS/$name.log" 2>&1 <>"$E2E_IDLE_STDIN" &
    echo $! >"$E2E_STATE/$name.pid"
}

e2e_bg_stop() {
    local pid
    pid=$(cat "$E2E_STATE/$1.pid" 2>/dev/null) || return 0
    kill "$pid" 2>/dev/null
    e2e_wait 5 e2e_not_running "$pid" || kill -9 "$pid" 2>/dev/null
    rm -f "$E2E_STATE/$1.pid"
}

# ble-peripheral from the build under test. Its control socket defaults to
# /run/ble-peripheral/control (the guest's /run is its own tmpfs).
: "${BLE_PERIPHERAL_SOCKET:=/run/ble-peripheral/control}"
export BLE_PERIPHERAL_SOCKET
E2E_DAEMON=${E2E_DAEMON:-$E2E_BUILDDIR/src/daemon/ble-peripheral}
E2E_CTL=${E2E_CTL:-$E2E_BUILDDIR/src/ctl/ble-peripheralctl}

# e2e_ctl ARG... — ble-peripheralctl on the test socket, bounded.
e2e_ctl() { timeout 15 "$E2E_CTL" --socket "$BLE_PERIPHERAL_SOCKET" "$@"; }

# e2e_start_daemon [ARG...] — ble-peripheral on hci0 (--verbose, log in
# $E2E_RESULTS/ble-peripheral.log), then waits until its socket answers
# `status`. Extra arguments go to the daemon (e.g. --config FILE).
e2e_start_daemon() {
    mkdir -p "$(dirname "$BLE_PERIPHERAL_SOCKET")"
    # seconds since boot on each line, as in dmesg.log and the scenario's output
    BLE_PERIPHERAL_LOG_UPTIME=1 e2e_bg ble-peripheral "$E2E_DAEMON" --adapter hci0 \
        --socket "$BLE_PERIPHERAL_SOCKET" --verbose "$@"
    if ! e2e_wait 20 e2e_ctl_quiet status; then
        e2e_log "ble-peripheral did not answer on $BLE_PERIPHERAL_SOCKET within 20 s"
        return 1
    fi
    e2e_log "ble-peripheral: running (pid $(cat "$E2E_STATE/ble-peripheral.pid"))"
}

e2e_ctl_quiet() { e2e_ctl "$@" >/dev/null 2>&1; }

e2e_stop_daemon() { e2e_bg_stop ble-peripheral; }

# ---------------------------------------------------------------------------
# Scenarios with ble-peripheral on hci0 and e2e.conf
# ---------------------------------------------------------------------------

E2E_CONF=${E2E_CONF:-$E2E_SRCDIR/e2e.conf}

# e2e_test_uuid N — UUID of the test service (0) or of its characteristic N
# in e2e.conf: e2e0000N-0000-4000-8000-00000000e2e0.
e2e_test_uuid() { printf 'e2e0000%s-0000-4000-8000-00000000e2e0' "$1"; }

# e2e_status KEY — one value of the daemon's `status` (empty when absent).
e2e_status() { e2e_ctl status 2>/dev/null | awk -v k="$1" 'index($0, k "=") == 1 { print substr($0, length(k) + 2) }'; }

# e2e_status_is KEY VALUE
e2e_status_is() { [[ $(e2e_status "$1") == "$2" ]]; }

# The GATT application is registered and the advertisement too.
e2e_daemon_ready() {
    local s
    s=$(e2e_ctl status 2>/dev/null) || return 1
    grep -qx 'registered=yes' <<<"$s" && grep -qx 'advertising=on' <<<"$s"
}

# e2e_wait_status SECS KEY VALUE [WHAT] — fail the scenario unless the
# daemon's status shows KEY=VALUE within SECS.
e2e_wait_status() {
    e2e_wait "$1" e2e_status_is "$2" "$3" ||
        e2e_fail "${4:-status}: expected $2=$3 within $1 s, got $2=$(e2e_status "$2")"
}

# e2e_scan_while OUT COMMAND... — the central on hci1 starts scanning for
# $E2E_PERIPHERAL_ADDR; once it is discovering, COMMAND runs (it makes hci0
# advertise); then the central must see the advertisement within 40 s. What
# it saw goes to OUT (scan.txt), its messages to OUT with .err for .txt. The
# central marks the device Trusted, so that later connections go by address
# and the device object never expires. Scanning first matters: btvirt reports
# an advertiser reliably only when it starts advertising while a scan runs
# (README.md). Returns non-zero when COMMAND or the scan failed.
e2e_scan_while() {
    local out=$1 err=${1%.txt}.err scan_pid
    shift
    rm -f "$E2E_STATE/scan.ready"
    "$E2E_CENTRAL" --timeout 40 --restart-ms 5000 --trust --ready-file "$E2E_STATE/scan.ready" \
        scan "$E2E_PERIPHERAL_ADDR" >"$out" 2>"$err" &
    scan_pid=$!
    if ! e2e_wait 20 test -e "$E2E_STATE/scan.ready"; then
        cat "$err" >&2
        e2e_log "the central did not start scanning"
        kill "$scan_pid" 2>/dev/null
        return 1
    fi
    "$@" || { kill "$scan_pid" 2>/dev/null; return 1; }
    if ! wait "$scan_pid"; then
        cat "$err" >&2
        e2e_log "the central did not see $E2E_PERIPHERAL_ADDR advertise"
        return 1
    fi
    e2e_log "$(grep -h 'seen after' "$err")"
}

# e2e_start_peripheral [ARG...] — how every scenario with our daemon begins:
# ble-peripheral starts on hci0 with e2e.conf (or the arguments given) while
# the central scans (e2e_scan_while; what it saw is in $E2E_RESULTS/scan.txt).
# Fails the scenario when the daemon is not registered and advertising within
# 20 s, or the central does not see it.
e2e_start_peripheral() {
    if [[ $# -eq 0 ]]; then
        set -- --config "$E2E_CONF"
    fi
    e2e_scan_while "$E2E_RESULTS/scan.txt" e2e_start_daemon_ready "$@" ||
        e2e_fail "ble-peripheral did not start, or the central did not see it advertise"
}

# e2e_start_daemon_ready [ARG...] — e2e_start_daemon, then waits (20 s) until
# the daemon is registered and advertising.
e2e_start_daemon_ready() {
    e2e_start_daemon "$@" || return 1
    if ! e2e_wait 20 e2e_daemon_ready; then
        e2e_log "ble-peripheral not registered and advertising within 20 s: $(e2e_ctl status 2>&1 | grep -E '^(bluez|registered|advertising)=' | tr '\n' ' ')"
        return 1
    fi
    e2e_log "ble-peripheral: registered and advertising"
}

# e2e_count ERE FILE — lines of FILE matching ERE (0 when none or no file).
e2e_count() { grep -cE -- "$1" "$2" 2>/dev/null || true; }

# e2e_wait_lines SECS N ERE FILE — until FILE has at least N lines matching ERE.
e2e_wait_lines() {
    local secs=$1 n=$2 ere=$3 file=$4
    e2e_wait "$secs" e2e_has_lines "$n" "$ere" "$file"
}
e2e_has_lines() { [[ $(e2e_count "$2" "$3") -ge $1 ]]; }

# e2e_since T0 — seconds since the uptime T0, one decimal.
e2e_since() { awk -v a="$1" -v b="$(e2e_uptime)" 'BEGIN { printf "%.1f", b - a }'; }

# e2e_compare_sequence WHAT EXPECTED ACTUAL — fails the scenario unless the
# two files hold the same lines in the same order; says whether the values
# all arrived but in another order (which BlueZ's EATT bearers can do under
# load, README.md) or some are missing or changed.
e2e_compare_sequence() {
    local what=$1 expected=$2 actual=$3
    cmp -s "$expected" "$actual" && return 0
    # (diff's status 1 must not end a scenario under set -e -o pipefail
    # before the message below)
    { diff "$expected" "$actual" || true; } | head -n 20 >&2
    if e2e_same_lines "$expected" "$actual"; then
        e2e_fail "$what: all $(wc -l <"$expected") arrived, but out of order ($(e2e_order_breaks "$actual") places; with EATT bluetoothd sends queued notifications over several bearers)"
    fi
    e2e_fail "$what: $(wc -l <"$actual") of $(wc -l <"$expected") arrived, some missing or changed"
}

# e2e_same_lines A B — the two files hold the same lines, in any order.
e2e_same_lines() {
    [[ $(sort "$1" | md5sum) == "$(sort "$2" | md5sum)" ]]
}

# e2e_order_breaks FILE — how many lines of FILE (hex numbers) are not one
# more than the line before.
e2e_order_breaks() {
    python3 -c 'import sys
v = [int(l, 16) for l in open(sys.argv[1]) if l.strip()]
print(sum(1 for a, b in zip(v, v[1:]) if b != a + 1))' "$1"
}

# e2e_bench NAME VALUE UNIT — a benchmark figure: printed on stdout as
# "bench NAME VALUE UNIT" and kept in $E2E_LOGDIR/bench.txt.
e2e_bench() {
    printf 'bench %s %s %s\n' "$1" "$2" "$3" | tee -a "$E2E_LOGDIR/bench.txt"
}

# e2e_notify_pipelined CHAR FILE [READY] — one `notify CHAR VALUE` request per
# line of FILE (a value each), all written at once on one connection to the
# control socket (the protocol allows pipelining), then every reply read:
# fails unless each is `ok`. The fastest a producer can feed the daemon.
# With READY: connects, writes its pid to READY and sends only on SIGUSR1
# (run it in the background), so that its start-up is over by then; the CPU
# seconds it used from then on go to READY.cpu.
e2e_notify_pipelined() {
    timeout 120 /usr/bin/python3 - "$BLE_PERIPHERAL_SOCKET" "$1" "$2" "${3:-}" <<'PY'
import os, resource, signal, socket, sys
path, char, values, ready = sys.argv[1], sys.argv[2], open(sys.argv[3]).read().split(), sys.argv[4]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(path)
requests = "".join("notify %s %s\n" % (char, v) for v in values).encode()
if ready:
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
    with open(ready + ".tmp", "w") as f:
        f.write("%d\n" % os.getpid())
    os.rename(ready + ".tmp", ready)
    signal.sigwait({signal.SIGUSR1})
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
cpu0 = cpu()
s.sendall(requests)
buf = b""
while buf.count(b"\n") < len(values):
    chunk = s.recv(65536)
    if not chunk:
        break
    buf += chunk
replies = buf.decode().splitlines()
if ready:
    with open(ready + ".cpu", "w") as f:
        f.write("%.2f\n" % (cpu() - cpu0))
bad = [r for r in replies if r != "ok"]
if len(replies) != len(values) or bad:
    sys.exit("notify: %d replies for %d requests; not ok: %s" % (len(replies), len(values), bad[:3]))
PY
}

# --- BlueZ versions (the two legs: the host's root, and --debian SUITE) -----

# The guest's bluetoothd version, e.g. "5.82".
e2e_bluez_version() {
    local bin
    bin=$(command -v bluetoothd || echo /usr/libexec/bluetooth/bluetoothd)
    "$bin" --version 2>/dev/null | head -n 1
}

# e2e_bluez_at_least MAJOR MINOR — the guest's bluetoothd is that version or later.
e2e_bluez_at_least() {
    local v major minor
    v=$(e2e_bluez_version)
    major=${v%%.*}
    minor=${v#*.}
    minor=${minor%%.*}
    [[ $major =~ ^[0-9]+$ && $minor =~ ^[0-9]+$ ]] || return 1
    (( major > $1 || (major == $1 && minor >= $2) ))
}

# The leg, as the output names it: "bluez-5.82 (Debian GNU/Linux 13 (trixie) root)".
e2e_leg() {
    local os
    os=$( (. /etc/os-release 2>/dev/null && printf '%s' "${PRETTY_NAME:-unknown}") )
    printf 'bluez-%s (%s root%s)' "$(e2e_bluez_version)" "$os" "${E2E_DEBIAN:+, --debian $E2E_DEBIAN}"
}

# e2e_skip REASON — the scenario cannot apply here: all.sh reports it as
# "ok N - NAME # SKIP REASON" (status 77), never as a pass.
e2e_skip() {
    e2e_log "SKIP: $*"
    printf 'SKIP: %s\n' "$*" >&2
    exit 77
}

# e2e_require_bluez MAJOR MINOR WHAT — skips the scenario on an older bluetoothd.
e2e_require_bluez() {
    e2e_bluez_at_least "$1" "$2" ||
        e2e_skip "$3 needs BlueZ $1.$2 or later; this leg runs $(e2e_bluez_version)"
}
