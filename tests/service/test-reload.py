#!/usr/bin/env python3
"""ExecReload= (SIGHUP): with a good file, RELOADING=1 then READY=1, and the
new configuration serves (a new name in STATUS, a new characteristic on the
socket); with a bad file, RELOADING=1 then READY=1 too, the error is logged
naming the file and key, and the running configuration is kept."""

import signal

from svctest import (Bus, CONFIG, Daemon, FakeBluez, Notify, check, control_request, log, run)

PRESSURE = """
[Characteristic env/pressure]
UUID=0x2A6D
Flags=read
Format=uint32
Exponent=-1
Initial=0
"""

BAD = """[Peripheral]
Name=svc-reload-bad
NoSuchKey=1
"""


def reload(daemon, notify):
    """SIGHUP; waits for RELOADING=1 (with MONOTONIC_USEC) and READY=1."""
    notify.seen.clear()
    daemon.signal(signal.SIGHUP)
    notify.wait_assignment("RELOADING=1")
    check(any(a.startswith("MONOTONIC_USEC=") for a in notify.seen),
          "RELOADING=1 without MONOTONIC_USEC: %r" % notify.seen)
    notify.wait_assignment("READY=1")


def test(tmp, cleanup):
    bus = Bus(tmp)
    cleanup.append(bus)
    fb = FakeBluez(bus)
    cleanup.append(fb)
    notify = Notify(tmp)
    cleanup.append(notify)
    config = tmp.file("ble-peripheral.conf", CONFIG.format(name="svc-reload-one"))
    sock = tmp.file("control")
    daemon = Daemon(tmp, bus, ["--config", config, "--socket", sock],
                    env={"NOTIFY_SOCKET": notify.path})
    cleanup.append(daemon)
    notify.wait_assignment("READY=1")
    notify.wait_status("advertising as svc-reload-one")
    reply = control_request(sock, "info env/pressure")
    check(reply.startswith("error"), "env/pressure exists before the reload: %r" % reply)

    log("SIGHUP with a good file: a new name and a new characteristic")
    tmp.file("ble-peripheral.conf", CONFIG.format(name="svc-reload-two") + PRESSURE)
    reload(daemon, notify)
    notify.wait_status("advertising as svc-reload-two")
    reply = control_request(sock, "info env/pressure")
    check(reply.startswith("ok "), "info env/pressure after the reload: %r" % reply)

    log("SIGHUP with a bad file: an error naming the key, the running configuration kept")
    mark = daemon.n_lines()
    tmp.file("ble-peripheral.conf", BAD)
    reload(daemon, notify)
    daemon.wait_log("reload failed", start=mark)
    check("NoSuchKey" in daemon.log().split("\n", mark)[-1],
          "the reload error does not name the key NoSuchKey")
    check(daemon.proc.poll() is None, "the daemon exited after a bad reload")
    reply = control_request(sock, "info env/pressure")
    check(reply.startswith("ok "), "info env/pressure after the bad reload: %r" % reply)
    check(not any("svc-reload-bad" in s for s in notify.statuses()),
          "STATUS names the bad file's peripheral: %r" % notify.statuses())
    reply = control_request(sock, "status")
    check("registered=yes" in reply, "status after the bad reload: %r" % reply)

    log("SIGHUP with the good file again: serves again under its name")
    tmp.file("ble-peripheral.conf", CONFIG.format(name="svc-reload-three"))
    reload(daemon, notify)
    notify.wait_status("advertising as svc-reload-three")
    check(daemon.stop() == 0, "exit status after SIGTERM")


run(test)
