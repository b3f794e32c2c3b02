#!/bin/bash
# ble-peripheral with e2e.conf on hci0, its producer a Python program written
# with ble_peripheral (tests/e2e/python-producer.py, aioble's shape): the
# producer sees the central connect (connected: ADDR); the central,
# subscribed to test/counter, gets 10 of the values the producer streams
# while connected, consecutive; three writes to test/command (Capture) reach
# the producer once each, in order; a read of test/delegated is answered by
# the producer's on_read; when the central leaves, the producer's
# disconnected() returns and its stream stops.
set -euo pipefail
. "$E2E_SRCDIR/lib.sh"

C=$E2E_CENTRAL P=$E2E_PERIPHERAL_ADDR R=$E2E_RESULTS
CENTRAL=$(tr 'A-F' 'a-f' <<<"$E2E_CENTRAL_ADDR")
COUNTER=$(e2e_test_uuid 1)
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
e2e_start_peripheral

e2e_bg producer env PYTHONUNBUFFERED=1 python3 "$E2E_SRCDIR/python-producer.py"
e2e_wait 20 grep -qx ready "$R/producer.log" || e2e_fail "the Python producer did not start: $(tail -5 "$R/producer.log")"
e2e_wait_status 5 test/delegated.served yes "the Python producer serves test/delegated"

# The central connects and subscribes; the producer streams while connected.
e2e_step "10 streamed values" "$C" --timeout 60 --stats listen "$P" "$COUNTER" 10 >"$R/stream.txt" 2>"$R/stream.err" ||
    { cat "$R/stream.err" >&2; e2e_fail "the central did not get 10 notifications"; }
cat "$R/stream.err" >&2
e2e_expect_grep "^connected: $CENTRAL\$" "$R/producer.log" "the producer's connected()"
prev=
while read -r v; do
    n=$((16#$v))
    [[ -z $prev || $n -eq $((prev + 1)) ]] || e2e_fail "streamed values not consecutive: $(tr '\n' ' ' <"$R/stream.txt")"
    prev=$n
done <"$R/stream.txt"
e2e_log "streamed: $(tr '\n' ' ' <"$R/stream.txt")"

# Commands, captured: each once, in order.
e2e_step "3 writes" "$C" write-each "$P" "$(e2e_test_uuid 2)" 01 0203 ff
e2e_wait_lines 15 3 '^command from ' "$R/producer.log" ||
    e2e_fail "the producer printed $(e2e_count '^command from ' "$R/producer.log") of 3 commands"
printf 'command from %s = %s\n' "$CENTRAL" 01 "$CENTRAL" 0203 "$CENTRAL" ff >"$R/expected-commands.txt"
grep '^command from ' "$R/producer.log" >"$R/commands.txt"
diff -u "$R/expected-commands.txt" "$R/commands.txt" >&2 || e2e_fail "the producer's commands differ"

# A read answered by on_read.
e2e_expect_eq "$(e2e_step "delegated read" "$C" read "$P" "$(e2e_test_uuid 5)")" "$(hex py-1)" "on_read's answer"
e2e_expect_grep "^read by $CENTRAL\$" "$R/producer.log" "the producer's on_read"
e2e_expect_eq "$(e2e_ctl get test/delegated)" py-1 "the answer became the stored value"

# The central leaves: disconnected() returns, the stream stops.
e2e_step "disconnect" "$C" disconnect "$P"
e2e_wait_lines 15 1 '^disconnected$' "$R/producer.log" || e2e_fail "the producer's disconnected() did not return"
sent=$(e2e_status test/counter.notify)
sleep 1
e2e_expect_eq "$(e2e_status test/counter.notify)" "$sent" "notifications after the central left"
e2e_log PASS
