#!/usr/bin/env python3
"""Socket activation: a listening Unix socket passed as fd 3 with LISTEN_FDS=1
and LISTEN_PID=the daemon is the control socket; a producer that connected
before the daemon started is answered; the daemon leaves the socket file to
its owner (systemd) when it stops. Without LISTEN_FDS, or with LISTEN_PID
naming another process, the daemon binds its own socket."""

import os
import socket

from svctest import (Bus, CONFIG, Daemon, Deadline, Notify, TestFailure, check,
                     control_request, log, run, wrapper)


def test(tmp, cleanup):
    bus = Bus(tmp)
    cleanup.append(bus)
    config = tmp.file("ble-peripheral.conf", CONFIG.format(name="svc-activation"))

    log("LISTEN_FDS=1: a producer connects and sends before the daemon runs")
    passed_path = tmp.file("activated")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(passed_path)
    listener.listen(16)
    cleanup.append(listener)
    early = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    cleanup.append(early)
    early.connect(passed_path)
    early.sendall(b"status\n")

    notify = Notify(tmp)
    cleanup.append(notify)
    own_path = tmp.file("own")  # --socket: must not be bound when a socket is passed
    daemon = Daemon(tmp, bus, ["--config", config, "--socket", own_path, "--verbose"],
                    env={"NOTIFY_SOCKET": notify.path, "LISTEN_FDS": "1"},
                    pass_fds=[listener.fileno()],
                    wrapper=wrapper(fd=listener.fileno(), pid_vars=["LISTEN_PID"]))
    cleanup.append(daemon)
    listener.close()  # the daemon holds it now
    notify.wait_assignment("READY=1")

    early.settimeout(Deadline().left())
    data = b""
    while b"\n" not in data:
        try:
            chunk = early.recv(65536)
        except socket.timeout:
            raise TestFailure("no reply on the connection made before the daemon started")
        check(chunk, "the daemon closed the early connection")
        data += chunk
    check(data.startswith(b"ok "), "early status reply: %r" % data)
    reply = control_request(passed_path, "status")
    check(reply.startswith("ok "), "status on the passed socket: %r" % reply)
    check(not os.path.exists(own_path), "the daemon bound --socket %s although a socket was passed" % own_path)
    daemon.wait_log("socket activation: using the control socket passed as fd 3")

    check(daemon.stop() == 0, "exit status after SIGTERM")
    check(os.path.exists(passed_path), "the daemon removed the passed socket's file: systemd owns it")

    log("no LISTEN_FDS: the daemon binds --socket itself")
    notify2 = Notify(tmp, "notify2")
    cleanup.append(notify2)
    plain = Daemon(tmp, bus, ["--config", config, "--socket", own_path],
                   env={"NOTIFY_SOCKET": notify2.path}, name="daemon-no-activation")
    cleanup.append(plain)
    notify2.wait_assignment("READY=1")
    reply = control_request(own_path, "status")
    check(reply.startswith("ok "), "status on the daemon's own socket: %r" % reply)
    check(plain.stop() == 0, "exit status after SIGTERM")
    check(not os.path.exists(own_path), "the daemon left its own socket behind")

    log("LISTEN_PID names another process: the fds are not ours, the daemon binds --socket")
    other_path = tmp.file("other")
    stray = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stray.bind(other_path)
    stray.listen(1)
    cleanup.append(stray)
    notify3 = Notify(tmp, "notify3")
    cleanup.append(notify3)
    foreign = Daemon(tmp, bus, ["--config", config, "--socket", own_path],
                     env={"NOTIFY_SOCKET": notify3.path, "LISTEN_FDS": "1", "LISTEN_PID": "1"},
                     pass_fds=[stray.fileno()], name="daemon-foreign-pid",
                     wrapper=wrapper(fd=stray.fileno()))
    cleanup.append(foreign)
    notify3.wait_assignment("READY=1")
    reply = control_request(own_path, "status")
    check(reply.startswith("ok "), "status on the daemon's own socket: %r" % reply)
    check(foreign.stop() == 0, "exit status after SIGTERM")


run(test)
