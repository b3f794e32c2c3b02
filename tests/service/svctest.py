"""Helpers of the service tests: a private system bus, the stand-in
bluetoothd, a fake systemd notify socket and the daemon as a process.

Every wait has a deadline; a test waits for an event (a notify datagram, a
line of output), never for a fixed time, except where it checks that
something does *not* happen.
"""

import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

BUILD_ROOT = os.environ.get("BP_BUILD_ROOT", "")
SOURCE_ROOT = os.environ.get("BP_SOURCE_ROOT", "")
DAEMON = os.path.join(BUILD_ROOT, "src", "daemon", "ble-peripheral")
FAKE_BLUEZ = os.path.join(BUILD_ROOT, "tests", "integration", "fake-bluez")

# Generous: CI machines are slow, and a test only waits this long when it fails.
TIMEOUT = 10.0

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <listen>unix:path={path}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
  </policy>
</busconfig>
"""

# The default configuration of SPEC §3, with a name of the test's own and
# room for two centrals, so that one connected central keeps advertising on.
CONFIG = """[Peripheral]
Name={name}
MaxConnections=2

[Advertising]
Services=env
Appearance=0x0540

[Service env]
UUID=0x181A

[Characteristic env/temperature]
UUID=0x2A6E
Flags=read,notify
Format=sint16
Exponent=-2
Unit=0x272F
Initial=0
"""


class TestFailure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise TestFailure(message)


def log(message):
    print("# " + message, flush=True)


class Deadline:
    def __init__(self, seconds=TIMEOUT):
        self.end = time.monotonic() + seconds

    def left(self):
        return max(0.0, self.end - time.monotonic())

    def expired(self):
        return time.monotonic() >= self.end


def read_line(pipe, deadline, what):
    """One line from a text pipe opened unbuffered-by-line, or TestFailure."""
    fd = pipe.fileno()
    buf = b""
    while True:
        ready, _, _ = select.select([fd], [], [], deadline.left())
        if not ready:
            raise TestFailure("timed out waiting for %s" % what)
        chunk = os.read(fd, 1)
        if not chunk:
            raise TestFailure("%s: end of output (%r so far)" % (what, buf))
        if chunk == b"\n":
            return buf.decode("utf-8", "replace")
        buf += chunk


class TempDir:
    def __init__(self):
        # Short: Unix socket paths are limited to 107 bytes.
        self.path = tempfile.mkdtemp(prefix="bp-svc-")

    def file(self, name, text=None):
        path = os.path.join(self.path, name)
        if text is not None:
            with open(path, "w") as f:
                f.write(text)
        return path

    def close(self):
        shutil.rmtree(self.path, ignore_errors=True)


class Bus:
    """A private dbus-daemon standing for the system bus."""

    def __init__(self, tmp):
        config = tmp.file("bus.conf", BUS_CONFIG.format(path=tmp.file("bus")))
        self.proc = subprocess.Popen(
            ["dbus-daemon", "--config-file=" + config, "--print-address=1", "--nofork"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.address = read_line(self.proc.stdout, Deadline(), "the dbus-daemon address").strip()
        check(self.address.startswith("unix:"), "dbus-daemon printed %r" % self.address)

    def close(self):
        stop(self.proc)


class FakeBluez:
    """The tests/integration `fake-bluez` process: org.bluez on the bus."""

    def __init__(self, bus, *args):
        check(os.access(FAKE_BLUEZ, os.X_OK), "%s is not built" % FAKE_BLUEZ)
        self.proc = subprocess.Popen([FAKE_BLUEZ, "--address", bus.address] + list(args),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        line = read_line(self.proc.stdout, Deadline(), "fake-bluez to say ready")
        check(line == "ready", "fake-bluez said %r" % line)

    def command(self, text):
        self.proc.stdin.write((text + "\n").encode())
        self.proc.stdin.flush()
        reply = read_line(self.proc.stdout, Deadline(), "fake-bluez to answer %r" % text)
        check(reply.startswith("ok"), "fake-bluez: %s -> %s" % (text, reply))
        return reply

    def close(self):
        stop(self.proc)


class Notify:
    """A fake NOTIFY_SOCKET: the datagrams sd_notify() sends, as lists of
    KEY=VALUE assignments, in order."""

    def __init__(self, tmp, name="notify"):
        self.path = tmp.file(name)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.seen = []   # every assignment received, in order

    def receive(self, timeout):
        """The next datagram's assignments, or None after timeout seconds."""
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return None
        data = self.sock.recv(65536).decode("utf-8", "replace")
        message = [a for a in data.split("\n") if a]
        self.seen.extend(message)
        return message

    def wait_for(self, predicate, what, deadline=None):
        """Receives until an assignment satisfies predicate; returns it."""
        deadline = deadline or Deadline()
        while True:
            message = self.receive(deadline.left())
            if message is None:
                raise TestFailure("timed out waiting for %s on NOTIFY_SOCKET; received %r"
                                  % (what, self.seen[-20:]))
            for a in message:
                if predicate(a):
                    return a

    def wait_assignment(self, exact, deadline=None):
        return self.wait_for(lambda a: a == exact, exact, deadline)

    def wait_status(self, contains, deadline=None):
        return self.wait_for(lambda a: a.startswith("STATUS=") and contains in a,
                             "STATUS containing %r" % contains, deadline)

    def statuses(self):
        return [a[len("STATUS="):] for a in self.seen if a.startswith("STATUS=")]

    def close(self):
        self.sock.close()


class Daemon:
    """The daemon as a process. Its output (stdout and stderr) is collected
    by a thread, so that a test can wait for a line; it is printed when the
    test fails."""

    def __init__(self, tmp, bus, args, env=None, pass_fds=(), wrapper=None, name="daemon"):
        check(os.access(DAEMON, os.X_OK), "%s is not built" % DAEMON)
        full_env = dict(os.environ)
        for key in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS",
                    "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM", "RUNTIME_DIRECTORY",
                    "G_MESSAGES_DEBUG"):
            full_env.pop(key, None)
        full_env["DBUS_SYSTEM_BUS_ADDRESS"] = bus.address
        full_env.update(env or {})
        argv = (wrapper or []) + [DAEMON] + list(args)
        self.name = name
        self.lines = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(argv, env=full_env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     pass_fds=pass_fds)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for raw in self.proc.stdout:
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # end of output
            self.cond.notify_all()

    @property
    def pid(self):
        return self.proc.pid

    def signal(self, signum):
        self.proc.send_signal(signum)

    def log(self):
        with self.cond:
            return "".join(line + "\n" for line in self.lines if line is not None)

    def wait_log(self, text, deadline=None, start=0):
        """Waits for a line containing text (from line number start on);
        returns the number of the line after it."""
        deadline = deadline or Deadline()
        with self.cond:
            i = start
            while True:
                while i < len(self.lines):
                    if self.lines[i] is None:
                        raise TestFailure("%s exited without logging %r" % (self.name, text))
                    i += 1
                    if text in self.lines[i - 1]:
                        return i
                if not self.cond.wait(deadline.left()) and deadline.expired():
                    raise TestFailure("%s never logged %r" % (self.name, text))

    def n_lines(self):
        with self.cond:
            return len(self.lines)

    def stop(self, deadline=None):
        """SIGTERM; returns the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            status = self.proc.wait((deadline or Deadline()).left())
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise TestFailure("%s did not exit after SIGTERM" % self.name)
        self.reader.join(TIMEOUT)
        return status

    def close(self):
        stop(self.proc)
        self.reader.join(TIMEOUT)


def stop(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Flood:
    """A producer's flood: N `notify CHAR VALUE` requests written at once on
    one connection to the control socket, after one notify answered (the
    daemon then reads the connection as a notifier, in small reads), the
    replies read as they come; both in threads. `replies` grows."""

    def __init__(self, sock, char, n):
        self.n = n
        self.replies = []
        self.conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.conn.connect(sock)
        self.conn.sendall(("notify %s 1\n" % char).encode())
        check(self.conn.recv(16) == b"ok\n", "the first notify was not answered ok")
        batch = "".join("notify %s %.2f\n" % (char, (i % 30000) / 100) for i in range(n)).encode()
        self.sender = threading.Thread(target=self.conn.sendall, args=(batch,), daemon=True)
        self.receiver = threading.Thread(target=self._receive, daemon=True)
        self.sender.start()
        self.receiver.start()

    def _receive(self):
        data = b""
        while len(self.replies) < self.n:
            try:
                chunk = self.conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            data += chunk
            *lines, data = data.split(b"\n")
            self.replies.extend(lines)

    def join(self, deadline):
        """Every reply, ok, within the deadline (or TestFailure)."""
        self.receiver.join(deadline.left())
        check(len(self.replies) == self.n and all(r == b"ok" for r in self.replies),
              "%d replies, not %d ok: %r" % (len(self.replies), self.n, set(self.replies)))
        self.sender.join(deadline.left())

    def close(self):
        self.conn.close()


def control_request(path, request, deadline=None):
    """Connects to the control socket, sends one request, returns the reply line."""
    deadline = deadline or Deadline()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(deadline.left())
        s.connect(path)
        s.sendall((request + "\n").encode())
        data = b""
        while b"\n" not in data:
            s.settimeout(max(deadline.left(), 0.001))
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                raise TestFailure("no reply to %r on %s" % (request, path))
            if not chunk:
                raise TestFailure("%s closed before replying to %r" % (path, request))
            data += chunk
        return data.split(b"\n", 1)[0].decode()


# An exec wrapper that makes the environment name the daemon's own pid, as
# systemd does: `python3 -c WRAPPER FD VAR... -- daemon args`: moves FD (if
# not "-") to 3, sets each VAR (LISTEN_PID, WATCHDOG_PID) to its own pid, and
# execs the rest, which keeps the pid.
WRAPPER = r"""
import os, sys
fd = sys.argv[1]
i = sys.argv.index("--")
if fd != "-":
    fd = int(fd)
    if fd != 3:
        os.dup2(fd, 3)
        os.close(fd)
    os.set_inheritable(3, True)
for var in sys.argv[2:i]:
    os.environ[var] = str(os.getpid())
os.execv(sys.argv[i + 1], sys.argv[i + 1:])
"""


def wrapper(fd=None, pid_vars=()):
    return [sys.executable, "-c", WRAPPER, "-" if fd is None else str(fd)] + list(pid_vars) + ["--"]


def run(test):
    """Runs test(tmp, cleanup) and exits 0 or 1; cleanup is a list the test
    appends objects with close() to; they are closed in reverse order."""
    tmp = TempDir()
    cleanup = []
    status = 0
    try:
        test(tmp, cleanup)
        log("ok")
    except TestFailure as e:
        status = 1
        print("FAIL: %s" % e, flush=True)
        for obj in cleanup:
            if isinstance(obj, Daemon):
                print("--- %s output ---\n%s--- end ---" % (obj.name, obj.log()), flush=True)
    finally:
        for obj in reversed(cleanup):
            try:
                obj.close()
            except Exception as e:  # a failed cleanup must not hide the result
                print("# cleanup: %r" % e)
        tmp.close()
    sys.exit(status)
