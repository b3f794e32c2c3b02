#!/usr/bin/env python3
"""The aioble examples ported to ble_peripheral (docs/examples/aioble/), run
as written against the real daemon with their own configuration
(aioble.conf), the stand-in org.bluez playing the central."""

import os
import signal
import subprocess
import sys
import time
import unittest

from bpharness import CENTRAL, SOURCE_ROOT, System
import svctest
from svctest import Deadline, read_line

EXAMPLES = os.path.join(SOURCE_ROOT, "docs", "examples", "aioble")
CMD_UUID = "7e5a0001-4a1c-4e0b-9c6d-5f0e3a2b1c00"


class Example:
    def __init__(self, system, name):
        env = dict(os.environ, BLE_PERIPHERAL_SOCKET=system.socket,
                   PYTHONPATH=os.path.join(SOURCE_ROOT, "python"), PYTHONUNBUFFERED="1")
        self.name = name
        self.proc = subprocess.Popen([sys.executable, os.path.join(EXAMPLES, name)], env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        self.lines = []

    def line(self):
        line = read_line(self.proc.stdout, Deadline(), "%s to print (so far: %r)" % (self.name, self.lines))
        self.lines.append(line)
        return line

    def close(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


class Examples(unittest.TestCase):
    def setUp(self):
        with open(os.path.join(EXAMPLES, "aioble.conf")) as f:
            self.sys = System(f.read())
        self.examples = []

    def tearDown(self):
        for e in self.examples:
            e.close()
        self.sys.close()

    def run_example(self, name):
        e = Example(self.sys, name)
        self.examples.append(e)
        return e

    def signals(self):
        return int(self.sys.command("count").split()[1])

    def test_serve(self):
        e = self.run_example("serve.py")
        self.sys.command("device %s" % CENTRAL)
        for _ in range(2):
            self.sys.command("connect %s" % CENTRAL)
            self.assertEqual(e.line(), "connected: %s" % CENTRAL.lower())
            self.sys.command("disconnect %s" % CENTRAL)
            self.assertEqual(e.line(), "disconnected; advertising again")

    def test_stream_temperature(self):
        e = self.run_example("stream_temperature.py")
        self.sys.command("device %s" % CENTRAL)
        self.sys.command("connect %s" % CENTRAL)
        self.assertEqual(e.line(), "connected: %s" % CENTRAL.lower())
        before = self.signals()
        self.sys.command("wait-signals %d 5000" % (before + 2))   # one a second
        value = self.sys.command("read 2a6e").split()[1]
        degrees = int.from_bytes(bytes.fromhex(value), "little", signed=True) / 100
        self.assertTrue(20.4 <= degrees <= 21.6, "temperature %s" % degrees)
        self.sys.command("disconnect %s" % CENTRAL)
        self.assertEqual(e.line(), "disconnected")
        # the streaming task ends with the connection: nothing more within 2 s
        after = self.signals()
        time.sleep(2)
        self.assertLessEqual(self.signals(), after + 1)

    def test_handle_commands(self):
        # two commands before the handler runs: captured, they wait
        self.sys.command("write %s 676f" % CMD_UUID)
        self.sys.command("write %s 01" % CMD_UUID)
        e = self.run_example("handle_commands.py")
        self.assertEqual(e.line(), "command from %s = b'go'" % CENTRAL.lower())
        self.assertEqual(e.line(), "command from %s = b'\\x01'" % CENTRAL.lower())
        self.sys.command("write %s 73746f70" % CMD_UUID)
        self.assertEqual(e.line(), "command from %s = b'stop'" % CENTRAL.lower())
        e.close()
        # restarted: what came meanwhile, once, in order
        self.sys.command("write %s 02" % CMD_UUID)
        self.sys.command("write %s 03" % CMD_UUID)
        e2 = self.run_example("handle_commands.py")
        self.assertEqual([e2.line(), e2.line()], ["command from %s = b'\\x02'" % CENTRAL.lower(),
                                                  "command from %s = b'\\x03'" % CENTRAL.lower()])
        self.assertIn(" queued=0 ", svctest.control_request(self.sys.socket, "info env/command"))

    def test_temp_char(self):
        e = self.run_example("temp_char.py")
        self.assertEqual(e.line(), "serving reads of env/temperature")
        self.sys.command("device %s" % CENTRAL)
        first = self.sys.raw("read 2a6e")
        self.assertTrue(first.startswith("ok "), first)
        degrees = int.from_bytes(bytes.fromhex(first.split()[1]), "little", signed=True) / 100
        self.assertTrue(20.4 <= degrees <= 21.6, "temperature %s" % degrees)
        t0 = time.monotonic()
        second = self.sys.raw("read 2a6e")
        if time.monotonic() - t0 < 0.9:
            self.assertTrue(second.startswith("error org.bluez.Error.NotPermitted"), second)
        time.sleep(max(0.0, 1.1 - (time.monotonic() - t0)))
        third = self.sys.raw("read 2a6e")
        self.assertTrue(third.startswith("ok "), third)
        status = svctest.control_request(self.sys.socket, "status")
        self.assertIn("env/temperature.served=yes", status)


if __name__ == "__main__":
    unittest.main(verbosity=2)
