#!/bin/bash
# L2CAP channels ([Channel NAME]) on the virtual radio: the central on hci1
# reads the PSM characteristic, opens the channel with the kernel's L2CAP
# socket (tests/e2e/l2cap-central.c) and receives a 50 KB frame whole and 100
# frames in order with their exact bytes (Framing=length, OnFull=wait); sends
# frames a producer receives with the central's address; a central that stops
# reading on a drop-oldest channel makes the daemon drop and count while a
# second channel keeps flowing and GATT is still served; a central that leaves
# mid-frame leaves the daemon serving the next one.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
L=${E2E_L2CAP_CENTRAL:-$E2E_BUILDDIR/tests/e2e/l2cap-central}
ME=$E2E_CENTRAL_ADDR
PSM_UUID=abdd3056-28fa-441d-a470-55a75a52553a

{
    cat "$E2E_CONF"
    cat <<'EOF'

[Channel video]
Service=test
MaxCentrals=2
OnFull=wait

[Channel slow]
QueueLength=2
OnFull=drop-oldest

[Channel secure]
Security=medium
EOF
} >"$R/channel.conf"
e2e_start_peripheral --config "$R/channel.conf"

hex_of() { od -An -v -tx1 "$1" | tr -d ' \n'; echo; }
# channel send reads many files: from the guest's tmpfs, not the results share (9p is slow under TCG)
send() { timeout 90 "$E2E_CTL" --socket "$BLE_PERIPHERAL_SOCKET" channel send "$@"; }
F=$(mktemp -d /tmp/channel-frames.XXXXXX)

# The PSM, as a central finds it: the characteristic ABDD3056-… of the service, uint16 LE.
psm_le=$(e2e_step "read the PSM characteristic" "$C" read "$P" "$PSM_UUID")
[[ $psm_le =~ ^[0-9a-f]{4}$ ]] || e2e_fail "the PSM characteristic holds '$psm_le', not a uint16"
psm=$((16#${psm_le:2:2}${psm_le:0:2}))
e2e_expect_eq "$(e2e_status channel.video.psm)" "$psm" "the PSM the daemon listens on"
[[ $psm -ge 128 && $psm -le 255 ]] || e2e_fail "PSM $psm is not a dynamic LE PSM"
psm_slow=$(e2e_status channel.slow.psm)
e2e_log "channel video: PSM $psm (0x$psm_le LE); channel slow: PSM $psm_slow"

# The frames and what the other side must see, made by one process (a
# process per file takes minutes under TCG).
/usr/bin/python3 - "$R" "$ME" "$F" <<'PY'
import os, sys
r, me, frames_dir = sys.argv[1], sys.argv[2], sys.argv[3]
def put(path, data):
    with open(path, "wb") as f:
        f.write(data)
for d in ("frames", "slow"):
    os.makedirs(os.path.join(frames_dir, d), exist_ok=True)
frames = [os.urandom(51200)] + [os.urandom(i * 37) for i in range(1, 101)]
for i, data in enumerate(frames):
    put(os.path.join(frames_dir, "frames", "%03d" % i), data)
with open(os.path.join(r, "expected-down.txt"), "w") as f:
    f.writelines(data.hex() + "\n" for data in frames)
with open(os.path.join(r, "expected-fast.txt"), "w") as f:
    f.writelines(data.hex() + "\n" for data in frames[:20])
with open(os.path.join(r, "expected-up.txt"), "w") as f:
    for name, size in (("up1", 3000), ("up2", 1), ("up3", 20000)):
        data = os.urandom(size)
        put(os.path.join(frames_dir, name), data)
        f.write("%s %s\n" % (me, data.hex()))
for i in range(1, 201):
    put(os.path.join(frames_dir, "slow", "%03d" % i), os.urandom(4000))
PY

# --- 1. a 50 KB frame whole, then 100 frames in order, exact bytes ---------

"$L" --timeout 90 --ready-file "$R/down.ready" recv "$P" "$psm" 101 >"$R/down.txt" 2>"$R/down.err" &
down=$!
e2e_wait 30 test -e "$R/down.ready" || { cat "$R/down.err" >&2; e2e_fail "the central did not open the channel"; }
e2e_wait_status 10 channel.video.open 1 "the daemon sees the channel open"
t0=$(e2e_uptime)
e2e_step "send 101 frames" send video "$F"/frames/* || e2e_fail "channel send failed"
wait "$down" || { cat "$R/down.err" >&2; e2e_fail "the central did not receive 101 frames"; }
took=$(e2e_since "$t0")
cat "$R/down.err" >&2
e2e_compare_sequence "the 101 frames" "$R/expected-down.txt" "$R/down.txt"
bytes=$(cat "$F"/frames/* | wc -c)
e2e_log "101 frames, $bytes bytes through the channel in $took s (emulator timing, not the radio's)"
e2e_bench channel-down-bytes-per-s "$(awk -v b="$bytes" -v t="$took" 'BEGIN { printf "%.0f", b / (t > 0 ? t : 1) }')" B/s
e2e_wait_status 10 channel.video.open 0 "the channel closes when the central leaves"

# --- 2. frames from the central reach the producer, with its address ------
timeout 60 "$E2E_CTL" --socket "$BLE_PERIPHERAL_SOCKET" channel receive video 3 >"$R/up.txt" 2>"$R/up.err" &
up=$!
e2e_wait_status 10 channel.video.producers 1 "the producer is connected"
e2e_step "the central sends 3 frames" "$L" --timeout 60 send "$P" "$psm" "$F/up1" "$F/up2" "$F/up3" ||
    e2e_fail "the central could not send"
wait "$up" || { cat "$R/up.err" >&2; e2e_fail "the producer did not receive 3 frames"; }
e2e_compare_sequence "the frames from the central" "$R/expected-up.txt" "$R/up.txt"

# --- 3. a central that stops reading: drops counted, the rest flows --------
end=656e64 # "end": the last frame, the newest, which drop-oldest keeps
printf end >"$F/end"
timeout 120 "$E2E_CTL" --socket "$BLE_PERIPHERAL_SOCKET" watch connect >"$R/events.txt" 2>&1 &
"$L" --timeout 110 --ready-file "$R/slow.ready" --start-file "$R/slow.go" recv-until "$P" "$psm_slow" "$end" \
    >"$R/slow.txt" 2>"$R/slow.err" &
slow=$!
e2e_wait 30 test -e "$R/slow.ready" || { cat "$R/slow.err" >&2; e2e_fail "the slow central did not open"; }
e2e_wait_status 10 channel.slow.open 1 "the slow channel is open"
"$L" --timeout 90 --ready-file "$R/fast.ready" recv "$P" "$psm" 20 >"$R/fast.txt" 2>"$R/fast.err" &
fast=$!
e2e_wait 30 test -e "$R/fast.ready" || { cat "$R/fast.err" >&2; e2e_fail "the second central channel did not open"; }
e2e_wait_status 10 channel.video.open 1 "the video channel is open beside the slow one"

e2e_step "800 KB to the slow channel" send slow "$F"/slow/* || e2e_fail "channel send slow failed"
e2e_step "20 frames to the video channel meanwhile" send video $(ls "$F"/frames/* | head -20) ||
    e2e_fail "channel send video failed"
wait "$fast" || { cat "$R/fast.err" >&2; e2e_fail "the video channel stalled behind the slow one"; }
e2e_compare_sequence "the video frames beside the slow channel" "$R/expected-fast.txt" "$R/fast.txt"
# GATT is served all along.
e2e_expect_eq "$(e2e_step "GATT read beside the channels" "$C" read "$P" 2a6e)" 6608 "temperature read"

dropped=$(e2e_status channel.slow.dropped)
e2e_log "slow channel: $dropped of 200 frames dropped by the daemon while the central did not read"
[[ $dropped -gt 0 ]] || e2e_fail "no frame was dropped for a central that did not read (QueueLength=2)"
e2e_wait_lines 10 1 "^channel dropped slow $ME [0-9]+$" "$R/events.txt" ||
    e2e_fail "no 'event channel dropped slow' for the producers"
send slow "$F/end" || e2e_fail "channel send end failed"
touch "$R/slow.go"
wait "$slow" || { cat "$R/slow.err" >&2; e2e_fail "the slow central did not get the newest frame"; }
received=$(sed -n 's/^frames //p' "$R/slow.txt")
dropped=$(e2e_status channel.slow.dropped)
e2e_log "the slow central then read $received frames; the daemon dropped $dropped of 201"
# every frame either reached the central or was counted: nothing vanished
e2e_expect_eq "$((received + dropped))" 201 "frames received + dropped"

# --- 4. a central that leaves mid-frame leaves the daemon serving ----------
e2e_wait_status 10 channel.video.open 0 "the video channel closed"
"$L" --timeout 60 --ready-file "$R/partial.ready" partial "$P" "$psm" >"$R/partial.txt" 2>"$R/partial.err" &
part=$!
e2e_wait 30 test -e "$R/partial.ready" || e2e_fail "the partial central did not open"
e2e_wait_status 10 channel.video.open 1
send video "$F/frames/000" || e2e_fail "channel send failed"
wait "$part" || e2e_fail "the partial central failed"
e2e_wait_status 20 channel.video.open 0 "the daemon closes the channel the central left mid-frame"
"$L" --timeout 60 --ready-file "$R/again.ready" recv "$P" "$psm" 1 >"$R/again.txt" 2>"$R/again.err" &
again=$!
e2e_wait 30 test -e "$R/again.ready" || e2e_fail "the next central did not open"
e2e_wait_status 10 channel.video.open 1
send video "$F/frames/000"
wait "$again" || { cat "$R/again.err" >&2; e2e_fail "the next central did not get its frame"; }
e2e_expect_eq "$(cat "$R/again.txt")" "$(hex_of "$F/frames/000")" "the frame after a mid-frame disconnect"
e2e_expect_grep "^channel (open|close) video $ME( mtu=[0-9]+)?$" "$R/events.txt" "open/close events"

# --- 5. Security=medium: never an unencrypted channel ----------------------
# The kernel refuses the central's request on an unencrypted link; a Linux
# central then raises the link's security itself (Just Works pairing) and
# asks again. Either it is refused, or the link it gets is encrypted.
psm_secure=$(e2e_status channel.secure.psm)
if "$L" --timeout 40 connect "$P" "$psm_secure" >"$R/secure.txt" 2>"$R/secure.err"; then
    paired=$(timeout 5 dbus-send --system --print-reply --dest=org.bluez \
        "/org/bluez/hci1/dev_${P//:/_}" org.freedesktop.DBus.Properties.Get \
        string:org.bluez.Device1 string:Paired 2>&1 | grep -o 'boolean [a-z]*' || true)
    e2e_log "Security=medium: the central got the channel after raising its link's security ($paired)"
    [[ $paired == "boolean true" ]] || e2e_fail "a Security=medium channel opened on a link that is not paired"
else
    e2e_log "Security=medium: the unencrypted central was refused: $(cat "$R/secure.err")"
    e2e_expect_grep "connect: " "$R/secure.err" "a refusal from connect()"
fi
e2e_log PASS
