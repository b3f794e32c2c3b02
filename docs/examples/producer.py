#!/usr/bin/env python3
"""A producer in Python with a plain socket: notify a humidity value, then
print every command a central writes to a Capture characteristic."""
import os
import socket
import sys

path = os.environ.get("BLE_PERIPHERAL_SOCKET", "/run/ble-peripheral/control")
sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
sock.connect(path)
lines = sock.makefile("r", encoding="utf-8", newline="\n")


def request(line):
    """Send one request; return its reply (events arrive only after 'watch')."""
    sock.sendall((line + "\n").encode())
    reply = lines.readline().rstrip("\n")
    if reply.startswith("error "):
        raise RuntimeError(reply)
    return reply


request("notify env/humidity 45.5")             # uint16, 0.01 %: sent as 0x11c6
print(request("get env/humidity"))              # "ok c611": little-endian hex

request("watch write")                          # queued writes arrive first
for _ in range(int(os.environ.get("COUNT", "0")) or sys.maxsize):
    event = lines.readline().split()            # event write CHAR ADDR HEX [offset=N]
    if event[:2] == ["event", "write"]:
        print(f"{event[2]} from {event[3]}: {bytes.fromhex(event[4].strip(chr(34)))!r}")
