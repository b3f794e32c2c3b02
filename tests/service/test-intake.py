#!/usr/bin/env python3
"""A slow bluetoothd (the stand-in taking in 40 signals a second, in order,
as bluetoothd reads its bus connection) under a producer's flood: a
central's read, which bluetoothd answers with ATT 0x0e when the daemon's
reply is 5 s late, is answered well within that, because the backlog the
daemon lets wait follows what bluetoothd is measured to take in (about a
second's worth, 64 at the least)."""

import time

from svctest import (Bus, CONFIG, Daemon, Deadline, FakeBluez, Flood, check, log, run)

NAME = "svc-intake"
ADDR = "00:AA:01:01:00:01"
INTAKE = 40   # signals a second
N = 600
DEADLINE_S = 5.0  # bluetoothd's for a reply (BLUEZ.md)


def test(tmp, cleanup):
    bus = Bus(tmp)
    cleanup.append(bus)
    config = tmp.file("ble-peripheral.conf", CONFIG.format(name=NAME) + "AcquireSockets=off\n")
    sock = tmp.file("control")
    daemon = Daemon(tmp, bus, ["--config", config, "--socket", sock, "--adapter", "hci0", "--verbose"])
    cleanup.append(daemon)
    fb = FakeBluez(bus, "--intake", str(INTAKE))
    cleanup.append(fb)
    fb.command("wait-registered")
    fb.command("device " + ADDR)
    fb.command("connect " + ADDR)
    fb.command("subscribe 2a6e " + ADDR)
    daemon.wait_log("a central subscribed")

    log("a producer floods %d notify requests; bluetoothd takes in %d/s" % (N, INTAKE))
    flood = Flood(sock, "env/temperature", N)
    cleanup.append(flood)
    # The daemon measures bluetoothd's intake from its pings and says so.
    line = daemon.lines[daemon.wait_log("bluetoothd takes in about") - 1]
    log("daemon: %s" % line.strip())
    rate = float(line.split("takes in about", 1)[1].split()[0])
    check(INTAKE / 2 <= rate <= INTAKE * 2, "measured %s signals/s for %d" % (rate, INTAKE))
    daemon.wait_log("pausing reading notifying producers", start=daemon.wait_log("bluetoothd takes in about"))
    # Reads while the producer is held back at the measured bound (64
    # signals, the least, and what one read of the producer held:
    # about 3.5 s at 40/s; 256 would be over 8 s).
    worst = 0.0
    for i in range(3):
        t0 = time.monotonic()
        reply = fb.command("read 2a6e")
        took = time.monotonic() - t0
        worst = max(worst, took)
        log("a central's read answered in %.2f s (%s)" % (took, reply[:20]))
    check(worst < DEADLINE_S,
          "a read waited %.2f s behind the backlog: bluetoothd answers 0x0e after %.0f s" % (worst, DEADLINE_S))

    log("every value is taken in the end")
    flood.join(Deadline(120))


if __name__ == "__main__":
    run(test)
