#!/usr/bin/python3
"""Helpers of the fault-injection scenario (scenarios/faults.sh), each over
the daemon's control socket (SPEC §5, raw lines):

  faults.py produce SOCKET CHAR FIRST OUT   notify CHAR at 1 kHz (10 requests every
                                            10 ms, pipelined), values FIRST, FIRST+1, …
                                            as 4-byte hex; every value answered ok is
                                            appended to OUT, every other answer to OUT.err;
                                            runs until SIGTERM (or SIGKILL)
  faults.py ping SOCKET OUT                 `status` every 100 ms on one connection; OUT
                                            gets "requests=N failures=N max_ms=N" each
                                            second; a reply later than 5 s is a failure
                                            (replies over 1 s: OUT.slow, with their uptime;
                                            each change of the centrals counted: OUT.centrals)
  faults.py wait-registered SOCKET T0 SECS  polls `status` every 20 ms until
                                            registered=yes and advertising=on (or a
                                            central connected, which stops it); prints the
                                            seconds since T0 (an uptime); exit 1 on timeout
  faults.py lost ACKED MONITOR-LOG PATH     the values in ACKED (files, comma-separated,
                                            in the order the producers ran) that never
                                            crossed the bus as PATH's Value, in what
                                            dbus-monitor printed: "acked=N on_bus=N
                                            no_central=N never_left=N". A run of missing
                                            values counts as no_central when no central
                                            was connected for it: bluetoothd's signals
                                            show a central connecting between the last
                                            value sent before it and the first after it
                                            (or, at the end, the last central gone)
  faults.py hup PID N SECS                  N SIGHUP to PID over SECS; prints the seconds taken
  faults.py rereg DAEMON-LOG [REF-LOG]      per return of bluetoothd after the first, from
                                            the daemon's uptime-stamped log: seconds from
                                            its adapter on the bus to the application
                                            registered and advertising (or a central
                                            connected), and from bluetoothd's name on the
                                            bus; with the log of ref-peripheral.py --follow
                                            on another adapter, the same for it (its
                                            adapter on the bus to both registrations
                                            answered: the floor, at the same moment);
                                            one "ADAPTER_S NAME_S REF_S" line each ("-"
                                            where a log does not show it)
"""
import os
import select
import signal
import socket
import sys
import time


def uptime():
    with open("/proc/uptime") as f:
        return float(f.read().split()[0])


def connect(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


class Lines:
    def __init__(self, sock):
        self.sock, self.buf = sock, b""

    def read(self, timeout):
        """The next line, None on timeout; raises EOFError when closed."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.sock], [], [], left)[0]:
                return None
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode()

    def request(self, line, timeout):
        self.sock.sendall((line + "\n").encode())
        while True:
            reply = self.read(timeout)
            if reply is None or not reply.startswith("event "):
                return reply


def produce(path, char, first, out):
    """10 requests every 10 ms while the daemon takes them; when it holds the
    producer back (the bus is behind), nothing more is queued until what was
    sent is taken: the rate then is the chain's, not 1 kHz. Replies are read
    all the time, so the daemon never waits on this producer."""
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    s = connect(path)
    s.setblocking(False)
    acked = open(out, "a", buffering=1)
    errors = open(out + ".err", "a", buffering=1)
    sent = []  # values whose reply has not come yet, in order
    outbuf, inbuf = b"", b""
    n = first
    tick = time.monotonic()
    while not stop or sent:
        now = time.monotonic()
        if not stop and now >= tick:
            if not outbuf:
                batch = ["%08x" % (v & 0xFFFFFFFF) for v in range(n, n + 10)]
                n += 10
                outbuf = "".join("notify %s %s\n" % (char, v) for v in batch).encode()
                sent.extend(batch)
            tick += 0.010
            if tick < now - 1:
                tick = now  # held back for a while: no burst to catch up
        r, w, _ = select.select([s], [s] if outbuf else [], [], max(0, min(tick - time.monotonic(), 0.5)))
        if w:
            try:
                outbuf = outbuf[s.send(outbuf):]
            except BlockingIOError:
                pass
        if r:
            chunk = s.recv(65536)
            if not chunk:
                break
            inbuf += chunk
            *lines, inbuf = inbuf.split(b"\n")
            for line in lines:
                reply = line.decode()
                if reply.startswith("event ") or not sent:
                    continue
                value = sent.pop(0)
                if reply == "ok":
                    acked.write(value + "\n")
                else:
                    errors.write("%s %s\n" % (value, reply))
        if stop and not outbuf and time.monotonic() > tick + 5:
            break


# A status reply later than this is a failure: the guest is TCG-emulated and
# saturated by the 1 kHz stream (bluetoothd, dbus-daemon, the central), so a
# healthy daemon's reply can take a second or two there; replies over 1 s are
# listed with their time in OUT.slow, to be read beside the daemon's log.
LATE_S = 5.0


def ping(path, out):
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    lines = Lines(connect(path))
    requests = failures = 0
    worst = 0.0
    last = 0.0
    centrals = None

    def report():
        with open(out + ".tmp", "w") as f:
            f.write("requests=%d failures=%d max_ms=%.0f\n" % (requests, failures, worst * 1000))
        os.rename(out + ".tmp", out)

    while not stop:
        t0 = time.monotonic()
        try:
            reply = lines.request("status", LATE_S)
        except (EOFError, OSError):
            reply = None
        took = time.monotonic() - t0
        requests += 1
        if reply is None or not reply.startswith("ok "):
            failures += 1
            try:
                lines = Lines(connect(path))
            except OSError:
                pass
        worst = max(worst, took)
        if reply is not None and " centrals=" in reply:
            now = reply.split(" centrals=", 1)[1].split()[0]
            if now != centrals:
                # when the daemon counted a central, beside the values sent
                with open(out + ".centrals", "a") as f:
                    f.write("[%8.2f] centrals=%s\n" % (uptime(), now))
                centrals = now
        if took >= 1.0 or reply is None:
            with open(out + ".slow", "a") as f:
                f.write("[%8.2f] status took %.2f s%s\n" % (uptime(), took, "" if reply else ", no reply"))
        if time.monotonic() - last >= 1:
            report()
            last = time.monotonic()
        time.sleep(max(0, 0.1 - took))
    report()


def wait_registered(path, t0, secs):
    lines = Lines(connect(path))
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:
        reply = lines.request("status", 5) or ""
        words = reply.split()
        # advertising, or a central connected (MaxConnections=1 stops it)
        if "registered=yes" in words and ("advertising=on" in words or
                                          not any(w in words for w in ("centrals=0", "centrals=-"))):
            print("%.2f" % (uptime() - t0))
            return 0
        time.sleep(0.02)
    return 1


def monitor_events(log, path):
    """What dbus-monitor printed, in bus order: ("V", hex, time) for each
    Value of PATH, ("C", time) for a central connected to hci0, ("D", time)
    for one gone or bluetoothd leaving the bus (time: the signal's wall
    clock, as dbus-monitor prints it)."""
    events = []

    def flush(header, body):
        if not header:
            return
        text = "\n".join(body)
        n = len(events)
        if "member=PropertiesChanged" in header and ("path=%s;" % path) in header:
            if "array of bytes [" in text:
                hexpart = text.split("array of bytes [", 1)[1].split("]", 1)[0]
                events.append(("V", "".join(hexpart.split())))
        elif "path=/org/bluez/hci0/dev_" in header and "member=PropertiesChanged" in header:
            if '"org.bluez.Device1"' in text and '"Connected"' in text:
                after = text.split('"Connected"', 1)[1]
                events.append(("C",) if after.split("boolean", 1)[1].strip().startswith("true") else ("D",))
        elif "member=InterfacesAdded" in header:
            if 'object path "/org/bluez/hci0/dev_' in text and '"org.bluez.Device1"' in text \
                    and '"Connected"' in text:
                after = text.split('"Connected"', 1)[1]
                if after.split("boolean", 1)[1].strip().startswith("true"):
                    events.append(("C",))
        elif "member=NameOwnerChanged" in header and 'string "org.bluez"' in text:
            # (name, old owner, new owner): an empty new owner is bluetoothd gone
            strings = [l.strip() for l in body if l.strip().startswith("string ")]
            if len(strings) == 3 and strings[2] == 'string ""':
                events.append(("D",))

        if len(events) > n:
            # the signal's wall-clock time, to set beside the logs
            t = header.split(" time=", 1)[1].split()[0] if " time=" in header else "?"
            events[-1] = events[-1] + (t,)

    header, body = None, []
    for line in open(log, errors="replace"):
        line = line.rstrip("\n")
        if line and not line[0].isspace() and not line.startswith("]") and " time=" in line:
            flush(header, body)
            header, body = line, []
        else:
            body.append(line)
    flush(header, body)
    return events


def lost(acked_files, log, path):
    acked = []
    for f in acked_files.split(","):
        if os.path.exists(f):
            acked.extend(l.strip() for l in open(f) if l.strip())
    events = monitor_events(log, path)
    where = {}  # value -> index of its first signal in events
    for i, e in enumerate(events):
        if e[0] == "V" and e[1] not in where:
            where[e[1]] = i
    on_bus = sum(1 for v in acked if v in where)
    no_central = never_left = 0
    first_lost, runs = [], []
    i = 0
    while i < len(acked):
        if acked[i] in where:
            i += 1
            continue
        j = i
        while j < len(acked) and acked[j] not in where:
            j += 1
        run = acked[i:j]
        a = where[acked[i - 1]] if i > 0 else -1
        if j < len(acked):
            b = where[acked[j]]
            excused = any(e[0] == "C" for e in events[a + 1:b])
        else:
            kinds = [e[0] for e in events[a + 1:] if e[0] in "CD"]
            excused = bool(kinds) and kinds[-1] == "D"
        if excused:
            no_central += len(run)
        else:
            never_left += len(run)
            first_lost.extend(run[:5 - len(first_lost)])
            if len(runs) < 3:
                # where it sits among the signals: the value before, the
                # connection events in between, the value after
                between = events[a + 1:b] if j < len(acked) else events[a + 1:]
                between = [e for e in between if e[0] in "CD"]
                if len(between) > 8:
                    between = between[:4] + [("...", "%d more" % (len(between) - 8))] + between[-4:]
                runs.append("%d from %s: after %s at %s, %s, before %s" % (
                    len(run), run[0], acked[i - 1] if i > 0 else "-",
                    events[a][-1] if a >= 0 else "-",
                    " ".join("%s@%s" % (e[0], e[-1]) for e in between) or "no connection events",
                    ("%s at %s" % (acked[j], events[b][-1])) if j < len(acked) else "the end"))
        i = j
    print("acked=%d on_bus=%d no_central=%d never_left=%d%s" % (
        len(acked), on_bus, no_central, never_left,
        (" first: " + " ".join(first_lost)) if first_lost else ""))
    for r in runs:
        print("never left: run of " + r)


def stamp(line):
    return float(line[1:line.index("]")])


def rereg_rounds(log):
    """The daemon's rounds: [{"name": t, "adapter": t, "done": t}, …]."""
    rounds, cur, centrals = [], None, 0
    for line in open(log, errors="replace"):
        if not line.startswith("["):
            continue
        if "[peripheral]" in line and " connected)" in line and line.rstrip().endswith("connected)"):
            # "central ADDR connected (N connected)" / "… disconnected (N connected)"
            try:
                centrals = int(line.rsplit("(", 1)[1].split()[0])
            except (IndexError, ValueError):
                pass
        if "bluetoothd is on the bus" in line:
            cur = {"name": stamp(line)}
            rounds.append(cur)
        elif cur is None or "done" in cur:
            continue
        elif "using adapter hci0" in line and "adapter" not in cur:
            cur["adapter"] = stamp(line)
        elif "GATT application registered on hci0" in line and "adapter" in cur:
            cur["registered"] = stamp(line)
            if centrals > 0:
                cur["done"] = cur["registered"]
        elif "registered" in cur and ("advertising on hci0" in line or
                                      ("[peripheral]" in line and " connected (" in line and centrals > 0)):
            cur["done"] = stamp(line)
    return rounds


def ref_rounds(log):
    """ref-peripheral.py --follow: [(adapter back, both registrations answered), …]."""
    rounds, cur = [], None
    for line in open(log, errors="replace"):
        if not line.startswith("["):
            continue
        if " on the bus" in line and "] adapter " in line:
            cur = {"adapter": stamp(line)}
            rounds.append(cur)
        elif cur is not None and ("] registered gatt" in line or "] registered adv" in line):
            cur[line.split()[-1]] = stamp(line)
            if "gatt" in cur and "adv" in cur:
                cur["done"] = max(cur["gatt"], cur["adv"])
    return rounds


def rereg(log, ref_log=None):
    """See the module's doc: registered and advertising, or registered with
    a central connected (it can connect before the registration ends: the
    kernel keeps links across bluetoothd's restart)."""
    rounds = rereg_rounds(log)
    refs = ref_rounds(ref_log) if ref_log and os.path.exists(ref_log) else []
    for k, r in enumerate(rounds[1:], 1):
        if "done" in r:
            out = "%.2f %.2f" % (r["done"] - r["adapter"], r["done"] - r["name"])
        else:
            out = "- -"
        # the reference's round: its adapter back after this bluetoothd's name
        # and before the next one's
        until = rounds[k + 1]["name"] if k + 1 < len(rounds) else float("inf")
        ref = [x for x in refs if r["name"] <= x["adapter"] < until]
        out += " %.2f" % (ref[0]["done"] - ref[0]["adapter"]) if ref and "done" in ref[0] else " -"
        print(out)


def hup(pid, n, secs):
    """N SIGHUP to PID, evenly over SECS, from one process (a shell loop
    forks a sleep per signal: in the loaded guest 50 took a minute)."""
    t0 = time.monotonic()
    for i in range(n):
        os.kill(pid, signal.SIGHUP)
        time.sleep(max(0.0, t0 + (i + 1) * secs / n - time.monotonic()))
    print("%.2f" % (time.monotonic() - t0))


def main(argv):
    cmd = argv[1]
    if cmd == "produce":
        produce(argv[2], argv[3], int(argv[4]), argv[5])
    elif cmd == "ping":
        ping(argv[2], argv[3])
    elif cmd == "wait-registered":
        return wait_registered(argv[2], float(argv[3]), float(argv[4]))
    elif cmd == "lost":
        lost(argv[2], argv[3], argv[4])
    elif cmd == "hup":
        hup(int(argv[2]), int(argv[3]), float(argv[4]))
    elif cmd == "rereg":
        rereg(argv[2], argv[3] if len(argv) > 3 else None)
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
