#!/usr/bin/env python3
"""aioble's command handler: every write to a Capture=true characteristic,
exactly once, in arrival order (writes made while this program was not
running come first)."""
import asyncio

import ble_peripheral


# aioble: cmd_char = aioble.Characteristic(env, CMD_UUID, write=True, capture=True)
p = ble_peripheral.Peripheral()
cmd_char = p.characteristic("env/command")   # Capture=true in aioble.conf


async def handle_commands():
    while True:
        connection, data = await cmd_char.written()
        print("command from", connection.device.addr_hex(), "=", data)


async def main():
    await p.connect()
    await handle_commands()


asyncio.run(main())
