#!/usr/bin/env python3
"""aioble's rate-limited TempChar.on_read: each read by a central samples
the sensor first; a read within a second of the last one gets ATT 0x02
(Read Not Permitted). Needs ReadHandler=socket (aioble.conf)."""
import asyncio
import math
import struct
import time

import ble_peripheral

_ATT_ERR_READ_NOT_PERMITTED = 0x02
_MIN_READ_INTERVAL_MS = 1000  # at most once per second


def read_sensor():
    """A stand-in sensor: about 21 degrees C, drifting."""
    return 21.0 + 0.5 * math.sin(time.monotonic() / 10)


def encode_temperature(temp_deg_c):
    return struct.pack("<h", int(temp_deg_c * 100))


def ticks_ms():
    return int(time.monotonic() * 1000)


class TempChar(ble_peripheral.Characteristic):
    _last_read_ms = -_MIN_READ_INTERVAL_MS

    def on_read(self, connection):
        now = ticks_ms()
        if now - self._last_read_ms < _MIN_READ_INTERVAL_MS:
            return _ATT_ERR_READ_NOT_PERMITTED
        self._last_read_ms = now
        self.write(encode_temperature(read_sensor()))
        return 0


# aioble: temp_char = TempChar(env, TEMP_UUID, read=True)
p = ble_peripheral.Peripheral()
temp_char = TempChar(p, "env/temperature")


async def main():
    await p.connect()
    await p.drain()                      # the daemon took the serve request
    print("serving reads of", temp_char.id)
    while True:                          # reads are answered as they come
        connection = await p.connected()
        print("connected:", connection.device.addr_hex())


asyncio.run(main())
