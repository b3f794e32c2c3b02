#!/usr/bin/env python3
"""WatchdogSec=: with WATCHDOG_USEC=200000 and WATCHDOG_PID naming the
daemon, WATCHDOG=1 arrives about every 100 ms (half the interval) from the
main loop; with WATCHDOG_PID naming another process, none arrives."""

import time

from svctest import (Bus, CONFIG, Daemon, Deadline, Notify, check, log, run, wrapper)

WATCHDOG_USEC = 200000
WINDOW = 2.0          # seconds of pings counted
MIN_PINGS = 10        # 20 expected at 100 ms; a loaded machine may miss a few
MAX_PINGS = 45        # but not ping in a busy loop


def count_pings(notify, seconds):
    """WATCHDOG=1 datagrams in the next `seconds`, and the longest gap."""
    n, gap, last = 0, 0.0, time.monotonic()
    deadline = Deadline(seconds)
    while not deadline.expired():
        message = notify.receive(deadline.left())
        if message and "WATCHDOG=1" in message:
            now = time.monotonic()
            n, gap, last = n + 1, max(gap, now - last), now
    return n, gap


def test(tmp, cleanup):
    bus = Bus(tmp)
    cleanup.append(bus)
    config = tmp.file("ble-peripheral.conf", CONFIG.format(name="svc-watchdog"))

    log("WATCHDOG_USEC=%d, WATCHDOG_PID=the daemon" % WATCHDOG_USEC)
    notify = Notify(tmp)
    cleanup.append(notify)
    daemon = Daemon(tmp, bus, ["--config", config, "--socket", tmp.file("control"), "--verbose"],
                    env={"NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": str(WATCHDOG_USEC)},
                    wrapper=wrapper(pid_vars=["WATCHDOG_PID"]))
    cleanup.append(daemon)
    notify.wait_assignment("READY=1")
    n, gap = count_pings(notify, WINDOW)
    log("%d pings in %.1f s, longest gap %.0f ms" % (n, WINDOW, gap * 1000))
    check(MIN_PINGS <= n <= MAX_PINGS, "%d WATCHDOG=1 in %.1f s, expected about 20" % (n, WINDOW))
    check(gap < WATCHDOG_USEC / 1e6, "a gap of %.0f ms between pings: the watchdog would fire" % (gap * 1000))
    daemon.wait_log("watchdog: pinging every 100 ms")
    check(daemon.stop() == 0, "exit status after SIGTERM")

    log("WATCHDOG_PID names another process: no pings")
    notify2 = Notify(tmp, "notify2")
    cleanup.append(notify2)
    other = Daemon(tmp, bus, ["--config", config, "--socket", tmp.file("control2")],
                   env={"NOTIFY_SOCKET": notify2.path, "WATCHDOG_USEC": str(WATCHDOG_USEC),
                        "WATCHDOG_PID": "1"},
                   name="daemon-other-pid")
    cleanup.append(other)
    notify2.wait_assignment("READY=1")
    # Absence cannot be awaited: watch for 5 intervals.
    n, _ = count_pings(notify2, 5 * WATCHDOG_USEC / 2e6)
    check(n == 0, "%d WATCHDOG=1 although WATCHDOG_PID named another process" % n)
    check(other.stop() == 0, "exit status after SIGTERM")


run(test)
