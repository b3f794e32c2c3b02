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
                                            second; a reply later than 2 s is a failure
  faults.py wait-registered SOCKET T0 SECS  polls `status` every 20 ms until
                                            registered=yes and advertising=on (or a
                                            central connected, which stops it); prints the
                                            seconds since T0 (an uptime); exit 1 on timeout
  faults.py bus-values MONITOR-LOG          the Value bytes of every PropertiesChanged
                                            that dbus-monitor printed, one hex line each
  faults.py lost ACKED BUS                  the values in ACKED (files, comma-separated)
                                            missing from BUS: "acked=N on_bus=N never_left=N"
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


def ping(path, out):
    stop = []
    signal.signal(signal.SIGTERM, lambda *a: stop.append(1))
    lines = Lines(connect(path))
    requests = failures = 0
    worst = 0.0
    last = 0.0

    def report():
        with open(out + ".tmp", "w") as f:
            f.write("requests=%d failures=%d max_ms=%.0f\n" % (requests, failures, worst * 1000))
        os.rename(out + ".tmp", out)

    while not stop:
        t0 = time.monotonic()
        try:
            reply = lines.request("status", 2.0)
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


def bus_values(log):
    values, cur = [], None
    for line in open(log, errors="replace"):
        if "array of bytes [" in line:
            cur = []
            continue
        if cur is not None:
            if line.strip().startswith("]"):
                values.append("".join(cur))
                cur = None
            else:
                cur.extend(line.split())
    for v in values:
        print(v)


def lost(acked_files, bus_file):
    acked = set()
    for f in acked_files.split(","):
        if os.path.exists(f):
            acked.update(l.strip() for l in open(f) if l.strip())
    bus = set(l.strip() for l in open(bus_file) if l.strip())
    missing = sorted(acked - bus)
    print("acked=%d on_bus=%d never_left=%d%s" % (len(acked), len(bus & acked), len(missing),
                                                 (" first: " + " ".join(missing[:5])) if missing else ""))


def main(argv):
    cmd = argv[1]
    if cmd == "produce":
        produce(argv[2], argv[3], int(argv[4]), argv[5])
    elif cmd == "ping":
        ping(argv[2], argv[3])
    elif cmd == "wait-registered":
        return wait_registered(argv[2], float(argv[3]), float(argv[4]))
    elif cmd == "bus-values":
        bus_values(argv[2])
    elif cmd == "lost":
        lost(argv[2], argv[3])
    else:
        sys.exit(__doc__)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
