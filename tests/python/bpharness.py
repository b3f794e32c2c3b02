"""The python suite's harness: the real daemon on a private dbus-daemon with
the stand-in org.bluez (tests/integration/fake-bluez), started fresh for each
test by the process helpers of tests/service/svctest.py, and the package
imported from the source tree (python/)."""

import asyncio
import os
import sys
import threading
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.environ.get("BP_SOURCE_ROOT") or os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(SOURCE_ROOT, "python"))
sys.path.insert(0, os.path.join(SOURCE_ROOT, "tests", "service"))

import svctest  # noqa: E402
from svctest import Bus, Daemon, Deadline, FakeBluez, TempDir, read_line  # noqa: E402,F401

CENTRAL = "00:AA:01:01:00:01"      # the stand-in's default central (its read/write commands use it)
OTHER = "00:AA:01:01:00:02"
CMD_UUID = "12345678-0000-1000-8000-00805f9b34fb"
STATE_UUID = "12345678-0001-1000-8000-00805f9b34fb"
DELEGATED_UUID = "12345678-0002-1000-8000-00805f9b34fb"
SLOW_UUID = "12345678-0003-1000-8000-00805f9b34fb"

# Everything the API tests touch. MaxConnections=2: two centrals at once.
CONFIG = """[Peripheral]
Name=python-test
MaxConnections=2

[Advertising]
Services=env

[Service env]
UUID=0x181A

[Characteristic env/temperature]
UUID=0x2A6E
Flags=read,notify
Format=sint16
Exponent=-2
Initial=21.5

[Characteristic env/humidity]
UUID=0x2A6F
Flags=read,notify
Format=uint16
Exponent=-2

[Service test]
UUID=12345678-ffff-1000-8000-00805f9b34fb

[Characteristic test/command]
UUID={cmd}
Flags=write
Capture=true
QueueLength=16

[Characteristic test/state]
UUID={state}
Flags=read,write

[Characteristic test/name]
UUID=12345678-0004-1000-8000-00805f9b34fb
Flags=read
Format=utf8

[Characteristic test/flag]
UUID=12345678-0005-1000-8000-00805f9b34fb
Flags=read
Format=boolean

[Characteristic test/delegated]
UUID={delegated}
Flags=read
Format=sint16
Exponent=-2
ReadHandler=socket
ReadTimeout=500ms
Initial=1.5

[Characteristic test/slow]
UUID={slow}
Flags=read
ReadHandler=socket
ReadTimeout=300ms
Initial=0102

[Service other]
UUID=12345678-eeee-1000-8000-00805f9b34fb

[Characteristic other/temperature]
UUID=12345678-0006-1000-8000-00805f9b34fb
Flags=read
""".format(cmd=CMD_UUID, state=STATE_UUID, delegated=DELEGATED_UUID, slow=SLOW_UUID)


class System:
    """dbus-daemon, fake-bluez and the daemon, in a temporary directory."""

    def __init__(self, config=CONFIG, fake_args=("--record",)):
        self.tmp = TempDir()
        self.closers = []
        self.lock = threading.Lock()
        try:
            self.bus = Bus(self.tmp)
            self.closers.append(self.bus)
            self.fb = FakeBluez(self.bus, *fake_args)
            self.closers.append(self.fb)
            self.socket = self.tmp.file("control")
            self.config = self.tmp.file("bp.conf", config)
            self.daemon = None
            self.start_daemon()
            self.command("wait-registered 10000")
        except BaseException:
            self.close()
            raise

    def start_daemon(self):
        """Starts the daemon and waits for its READY=1 (sd_notify): the
        socket is listening then."""
        notify = svctest.Notify(self.tmp, "notify-%d" % len(self.closers))
        self.closers.append(notify)
        self.daemon = Daemon(self.tmp, self.bus, ["--config", self.config, "--socket", self.socket],
                             env={"NOTIFY_SOCKET": notify.path})
        self.closers.append(self.daemon)
        notify.wait_assignment("READY=1")

    def stop_daemon(self):
        status = self.daemon.stop()
        return status

    def raw(self, text):
        """A fake-bluez command's reply line, whatever it is."""
        with self.lock:
            self.fb.proc.stdin.write((text + "\n").encode())
            self.fb.proc.stdin.flush()
            return read_line(self.fb.proc.stdout, Deadline(), "fake-bluez to answer %r" % text)

    def command(self, text):
        reply = self.raw(text)
        if not reply.startswith("ok"):
            raise svctest.TestFailure("fake-bluez: %s -> %s" % (text, reply))
        return reply

    async def acommand(self, text):
        """command() from a coroutine, without blocking the event loop (the
        daemon may need this process to answer, as for delegated reads)."""
        return await asyncio.to_thread(self.command, text)

    async def araw(self, text):
        return await asyncio.to_thread(self.raw, text)

    def connect_central(self, address="00:AA:01:01:00:0C"):
        """A central connected, and the daemon has seen it: with none, a
        notify sends nothing on the bus."""
        self.command("device %s" % address)
        self.command("connect %s" % address)
        deadline = Deadline()
        while "centrals=0" in svctest.control_request(self.socket, "status").split():
            if deadline.expired():
                raise svctest.TestFailure("the daemon did not see central %s connect" % address)
            time.sleep(0.01)

    def log(self):
        return self.daemon.log() if self.daemon else ""

    def close(self):
        for obj in reversed(self.closers):
            try:
                obj.close()
            except Exception:
                pass
            proc = getattr(obj, "proc", None)
            for f in (getattr(proc, "stdin", None), getattr(proc, "stdout", None)):
                if f is not None:
                    f.close()
        self.tmp.close()


class SystemTestCase(unittest.IsolatedAsyncioTestCase):
    """A fresh System per test; self.sys, and self.env for subprocesses."""

    config = CONFIG

    def setUp(self):
        self.sys = System(self.config)
        self.env = dict(os.environ, BLE_PERIPHERAL_SOCKET=self.sys.socket,
                        PYTHONPATH=os.path.join(SOURCE_ROOT, "python"))

    async def asyncSetUp(self):
        # unittest runs the loop in debug mode: a test's own blocking calls
        # (the stand-in's commands) are not what its slow-callback log is for
        asyncio.get_running_loop().slow_callback_duration = 30

    def tearDown(self):
        failed = any(e for _, e in getattr(self._outcome, "errors", []) if e) if hasattr(self, "_outcome") else False
        if failed:
            print("--- daemon output ---\n%s--- end ---" % self.sys.log(), flush=True)
        self.sys.close()

    async def wait_for(self, aw, seconds=svctest.TIMEOUT):
        """aw, bounded: a test that would hang fails instead."""
        return await asyncio.wait_for(aw, seconds)
