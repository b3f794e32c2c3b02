#!/usr/bin/env python3
"""Type=notify: READY=1 once the control socket listens and the bus
connection is up, without waiting for bluetoothd; STATUS= lines that follow
what the daemon does; STOPPING=1 and exit status 0 on SIGTERM."""

import os
import signal

from svctest import (Bus, CONFIG, Daemon, FakeBluez, Notify, check, control_request, log, run)

NAME = "svc-notify"


def test(tmp, cleanup):
    bus = Bus(tmp)
    cleanup.append(bus)
    notify = Notify(tmp)
    cleanup.append(notify)
    config = tmp.file("ble-peripheral.conf", CONFIG.format(name=NAME))
    sock = tmp.file("control")

    log("no bluetoothd on the bus: READY=1 all the same, then STATUS=waiting for bluetoothd")
    daemon = Daemon(tmp, bus, ["--config", config, "--socket", sock, "--adapter", "hci0"],
                    env={"NOTIFY_SOCKET": notify.path})
    cleanup.append(daemon)
    notify.wait_assignment("READY=1")
    # Ready means the socket listens: a producer may connect at once.
    reply = control_request(sock, "status")
    check(reply.startswith("ok ") and "bluez=absent" in reply, "status before bluetoothd: %r" % reply)
    notify.wait_status("waiting for bluetoothd")
    check(notify.statuses()[0] == "waiting for bluetoothd",
          "first STATUS: %r" % notify.statuses())

    log("bluetoothd appears: STATUS=advertising as %s, 0 centrals connected" % NAME)
    fb = FakeBluez(bus)
    cleanup.append(fb)
    notify.wait_status("advertising as %s, 0 centrals connected" % NAME)

    log("a central connects: STATUS says 1 central connected")
    fb.command("device 00:AA:01:01:00:01")
    fb.command("connect 00:AA:01:01:00:01")
    notify.wait_status("advertising as %s, 1 central connected" % NAME)
    fb.command("disconnect 00:AA:01:01:00:01")
    notify.wait_status("advertising as %s, 0 centrals connected" % NAME)

    log("the adapter goes: STATUS=adapter hci0 missing; it returns: advertising again")
    fb.command("adapter off")
    notify.wait_status("adapter hci0 missing")
    fb.command("adapter on")
    notify.wait_status("advertising as %s" % NAME)

    log("bluetoothd leaves the bus: STATUS=waiting for bluetoothd")
    fb.close()
    notify.wait_status("waiting for bluetoothd")

    # READY=1 was sent once: nothing but a reload may send it again.
    check(notify.seen.count("READY=1") == 1, "READY=1 sent %d times" % notify.seen.count("READY=1"))
    for status in notify.statuses():
        check("\n" not in status and status != "", "bad STATUS %r" % status)

    log("SIGTERM: STOPPING=1, exit status 0, the socket file is removed")
    daemon.signal(signal.SIGTERM)
    notify.wait_assignment("STOPPING=1")
    status = daemon.stop()
    check(status == 0, "exit status %d after SIGTERM" % status)
    check(not os.path.exists(sock), "the daemon left its socket %s behind" % sock)


run(test)
