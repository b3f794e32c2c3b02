#!/usr/bin/env python3
"""The README's producers, run as written (docs/examples): the shell one
with socat, the Python one with a plain socket, the C one built against
libble-peripheral. Each against the real daemon on a private bus with the
stand-in bluetoothd, which checks what reached the bus and plays a central
writing commands."""

import os
import subprocess
import sys

import svctest
from svctest import Bus, Daemon, Deadline, FakeBluez, check, control_request

EXAMPLES = os.path.join(svctest.SOURCE_ROOT, "docs", "examples")
CMD_UUID = "12345678-0000-1000-8000-00805f9b34fb"

CONFIG = """[Peripheral]
Name=examples

[Service env]
UUID=0x181A

[Characteristic env/temperature]
UUID=0x2A6E
Flags=read,notify
Format=sint16
Exponent=-2

[Characteristic env/humidity]
UUID=0x2A6F
Flags=read,notify
Format=uint16
Exponent=-2

[Characteristic env/command]
UUID=%s
Flags=write
Capture=true
""" % CMD_UUID


def run_example(argv, env, what):
    proc = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          timeout=Deadline(30).left())
    out = proc.stdout.decode()
    check(proc.returncode == 0, "%s exited %d:\n%s" % (what, proc.returncode, out))
    return out


def start_with_writes(argv, env, fb, what):
    """Starts a producer that watches writes, then has the central write two
    commands; returns the producer's output."""
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    # The writes may come before or after the producer's watch: captured
    # writes wait in their queue either way.
    fb.command("write %s 676f" % CMD_UUID)       # "go"
    fb.command("write %s 73746f70" % CMD_UUID)   # "stop"
    try:
        out, _ = proc.communicate(timeout=Deadline(30).left())
    except subprocess.TimeoutExpired:
        proc.kill()
        out, _ = proc.communicate()
        raise svctest.TestFailure("%s did not finish:\n%s" % (what, out.decode()))
    out = out.decode()
    check(proc.returncode == 0, "%s exited %d:\n%s" % (what, proc.returncode, out))
    return out


def test(tmp, cleanup):
    bus = Bus(tmp)
    cleanup.append(bus)
    fb = FakeBluez(bus, "--record")
    cleanup.append(fb)
    sock = tmp.file("control")
    daemon = Daemon(tmp, bus, ["--config", tmp.file("bp.conf", CONFIG), "--socket", sock])
    cleanup.append(daemon)
    fb.command("wait-registered 10000")
    fb.command("device 00:AA:01:01:00:01")
    fb.command("connect 00:AA:01:01:00:01")

    env = dict(os.environ, BLE_PERIPHERAL_SOCKET=sock, COUNT="3", INTERVAL="0")

    # Shell: three notifies, three "ok", three signals at the stand-in.
    out = run_example(["sh", os.path.join(EXAMPLES, "producer.sh")], env, "producer.sh")
    check(out.split() == ["ok", "ok", "ok"], "producer.sh printed %r" % out)
    fb.command("wait-signals 3 5000")
    check(fb.command("read 2a6e").split()[1] == "ca08", "temperature is not 22.5 after producer.sh")

    # Python: a notify (45.5 % = 0x11c6), its get, then two captured writes.
    env["COUNT"] = "2"
    out = start_with_writes([sys.executable, os.path.join(EXAMPLES, "producer.py")], env, fb,
                            "producer.py")
    lines = out.splitlines()
    check(lines[0] == "ok c611", "producer.py: get printed %r" % lines[0])
    check(lines[1:] == ["env/command from 00:AA:01:01:00:01: b'go'",
                        "env/command from 00:AA:01:01:00:01: b'stop'"],
          "producer.py printed %r" % lines[1:])
    fb.command("wait-signals 4 5000")

    # C: built against the library the way the README says, with the
    # build tree standing for the installed pkg-config paths.
    exe = tmp.file("producer")
    build = svctest.BUILD_ROOT
    cc = subprocess.run(["cc", os.path.join(EXAMPLES, "producer.c"), "-o", exe,
                         "-I", os.path.join(svctest.SOURCE_ROOT, "include"),
                         "-L", os.path.join(build, "src", "client"), "-lble-peripheral",
                         "-Wl,-rpath," + os.path.join(build, "src", "client")],
                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    check(cc.returncode == 0, "producer.c does not build:\n%s" % cc.stdout.decode())
    out = start_with_writes([exe], env, fb, "producer.c")
    check(out.splitlines() == ["env/command from 00:AA:01:01:00:01: 2 bytes: 67 6f",
                               "env/command from 00:AA:01:01:00:01: 4 bytes: 73 74 6f 70"],
          "producer.c printed %r" % out)
    fb.command("wait-signals 5 5000")
    check(control_request(sock, "get env/temperature") == "ok 9a09",
          "the C producer's 24.58 was not stored")
    check(daemon.stop() == 0, "the daemon did not exit 0")


if __name__ == "__main__":
    svctest.run(test)
