#!/usr/bin/env python3
"""aioble's serving loop: wait for a central, hold the connection until it
leaves, wait for the next. The daemon advertises (aioble.conf's
[Advertising]); connected() returns each connection.

    ble-peripheral --config docs/examples/aioble/aioble.conf &
    python3 docs/examples/aioble/serve.py
"""
import asyncio

import ble_peripheral


async def serve():
    p = await ble_peripheral.connect()
    while True:
        connection = await p.connected()
        print("connected:", connection.device.addr_hex())
        async with connection:
            await connection.disconnected()
        print("disconnected; advertising again")


asyncio.run(serve())
