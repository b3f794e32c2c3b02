#!/usr/bin/env python3
"""bluetoothd slow to take in notifications: the daemon holds the notifying
producer back by what bluetoothd itself has taken in (it pings bluetoothd
behind its signals), not by what dbus-daemon accepted, which queues hundreds
of MB. While the stand-in bluetoothd is stopped (SIGSTOP) a producer's flood
is paused after about a thousand values and other clients are still
answered; once it runs again every value arrives."""

import os
import signal
import time

from svctest import (Bus, CONFIG, Daemon, Deadline, FakeBluez, Flood, check, control_request, log, run)

NAME = "svc-backlog"
ADDR = "00:AA:01:01:00:01"
N = 8000
HIGH = 256  # the daemon's BACKLOG_HIGH_MAX (gatt.c): the most it lets wait


def test(tmp, cleanup):
    bus = Bus(tmp)
    cleanup.append(bus)
    # The values as PropertiesChanged: the path this is about.
    config = tmp.file("ble-peripheral.conf", CONFIG.format(name=NAME) + "AcquireSockets=off\n")
    sock = tmp.file("control")
    daemon = Daemon(tmp, bus, ["--config", config, "--socket", sock, "--adapter", "hci0", "--verbose"])
    cleanup.append(daemon)
    fb = FakeBluez(bus)
    cleanup.append(fb)
    fb.command("wait-registered")
    fb.command("device " + ADDR)
    fb.command("connect " + ADDR)
    fb.command("subscribe 2a6e " + ADDR)
    daemon.wait_log("a central subscribed")
    before = int(fb.command("count").split()[1])

    log("bluetoothd stops taking anything in; a producer sends %d notify requests" % N)
    os.kill(fb.proc.pid, signal.SIGSTOP)
    flood = Flood(sock, "env/temperature", N)
    cleanup.append(flood)
    replies = flood.replies
    try:
        daemon.wait_log("pausing reading notifying producers")
        # Other connections are answered all the same.
        reply = control_request(sock, "status")
        check(reply.startswith("ok "), "status while held back: %r" % reply)
        # The replies already sent reach the receiver thread after the log
        # line: count them once they stop coming (bounded).
        held, deadline = -1, Deadline()
        while held != len(replies) and not deadline.expired():
            held = len(replies)
            time.sleep(0.3)
        log("held back after %d of %d values" % (held, N))
        # What the daemon took beyond bluetoothd's last answer: one
        # threshold and what one read of the socket holds.
        check(held < N - 1000, "the producer was not held back: %d of %d answered" % (held, N))
        check(held <= HIGH + 32 + 2 * 2048 // 20, "%d values taken with bluetoothd stopped" % held)
        # And it stays held back while bluetoothd takes nothing in, however
        # much dbus-daemon would still accept (a time-bound check of
        # something that must not happen).
        time.sleep(1.0)
        check(len(replies) == held, "taken on with bluetoothd stopped: %d, then %d" % (held, len(replies)))
        check("resuming reading notifying producers" not in daemon.log(),
              "resumed with bluetoothd stopped")
    finally:
        os.kill(fb.proc.pid, signal.SIGCONT)

    log("bluetoothd runs again: every value arrives")
    flood.join(Deadline())
    daemon.wait_log("resuming reading notifying producers")
    reply = fb.command("wait-signals %d 20000" % (before + N + 1))
    check(int(reply.split()[1]) >= before + N + 1, "bluetoothd got %r, wanted %d signals" % (reply, before + N + 1))


if __name__ == "__main__":
    run(test)
