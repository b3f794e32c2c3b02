#!/usr/bin/env python3
"""aioble's per-connection streaming task: while a central is connected,
notify a temperature every second (write with send_update=True)."""
import asyncio
import math
import struct
import time

import ble_peripheral


def read_sensor():
    """A stand-in sensor: about 21 degrees C, drifting."""
    return 21.0 + 0.5 * math.sin(time.monotonic() / 10)


def encode_temperature(temp_deg_c):
    # sint16, 0.01 degC, little-endian (with Format=sint16 and Exponent=-2 in
    # the configuration, temp_char.write(temp_deg_c) encodes it the same way)
    return struct.pack("<h", int(temp_deg_c * 100))


# aioble: temp_char = aioble.Characteristic(env, TEMP_UUID, read=True, notify=True)
p = ble_peripheral.Peripheral()
temp_char = p.characteristic("env/temperature")


async def stream_temperature(connection):
    while connection.is_connected():
        temp_char.write(encode_temperature(read_sensor()), send_update=True)
        await asyncio.sleep(1)


async def serve():
    await p.connect()
    while True:
        connection = await p.connected()
        print("connected:", connection.device.addr_hex())
        async with connection:
            asyncio.create_task(stream_temperature(connection))
            await connection.disconnected()
        print("disconnected")


asyncio.run(serve())
