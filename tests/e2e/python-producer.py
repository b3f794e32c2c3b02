#!/usr/bin/env python3
"""The producer of the python-producer scenario, written with ble_peripheral
(python/ of this tree) in aioble's shape, against e2e.conf: it streams
test/counter (two bytes, 0001, 0002, …, every 100 ms) while a central is
connected, prints each command a central writes to test/command (Capture),
answers reads of test/delegated with on_read ("py-N") and follows the
connection. Lines on stdout: ready, connected: ADDR, command from ADDR = HEX,
read by ADDR, disconnected."""
import asyncio
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "python"))
import ble_peripheral  # noqa: E402


class Delegated(ble_peripheral.Characteristic):
    reads = 0

    def on_read(self, connection):
        self.reads += 1
        self.write("py-%d" % self.reads)          # Format=utf8
        print("read by", connection.device.addr_hex(), flush=True)
        return 0


async def stream(connection, counter):
    i = 0
    while connection.is_connected():
        i += 1
        counter.write(i.to_bytes(2, "big"), send_update=True)
        await asyncio.sleep(0.1)


async def handle_commands(cmd_char):
    while True:
        connection, data = await cmd_char.written()
        print("command from", connection.device.addr_hex(), "=", data.hex(), flush=True)


async def main():
    p = await ble_peripheral.connect()
    counter = p.characteristic("test/counter")
    Delegated(p, "test/delegated")
    await p.watch_writes()
    asyncio.create_task(handle_commands(p.characteristic("test/command")))
    await p.drain()
    print("ready", flush=True)
    while True:
        connection = await p.connected()
        print("connected:", connection.device.addr_hex(), flush=True)
        async with connection:
            asyncio.create_task(stream(connection, counter))
            await connection.disconnected()
        print("disconnected", flush=True)


asyncio.run(main())
