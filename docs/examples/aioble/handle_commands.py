#!/usr/bin/env python3
"""aioble's command handler: every write to a Capture=true characteristic,
exactly once, in arrival order (writes made while this program was not
running come first)."""
import asyncio

import ble_peripheral


async def handle_commands(cmd_char):
    while True:
        connection, data = await cmd_char.written()
        print("command from", connection.device.addr_hex(), "=", data)


async def main():
    p = await ble_peripheral.connect()
    cmd_char = p.characteristic("env/command")   # Capture=true in aioble.conf
    await handle_commands(cmd_char)


asyncio.run(main())
