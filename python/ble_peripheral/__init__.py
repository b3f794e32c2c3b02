"""ble_peripheral: MicroPython aioble's peripheral API over the
ble-peripheral daemon's control socket.

The daemon (``ble-peripheral``) publishes the GATT database and advertises
what its configuration file says; this package is the producer's side: it
pushes values, receives the centrals' writes, answers reads and follows
connections, with aioble's names, so that aioble code ports line by line.
Pure Python 3, standard library only, asyncio.

Quick start::

    import asyncio, ble_peripheral

    async def main():
        p = await ble_peripheral.connect()          # /run/ble-peripheral/control
        temp_char = p.characteristic("env/temperature")
        while True:
            connection = await p.connected()
            print("connected:", connection.device.addr_hex())
            async with connection:
                while connection.is_connected():
                    temp_char.write(read_sensor(), send_update=True)   # sint16, 0.01 degC
                    await asyncio.sleep(1)

    asyncio.run(main())

aioble and ble_peripheral
-------------------------

==========================================================  =====================================================
aioble                                                      ble_peripheral
==========================================================  =====================================================
``Service(uuid)``, ``Characteristic(svc, uuid, read=…)``    the configuration's ``[Service ID]`` and
                                                            ``[Characteristic ID/CHAR]`` groups
``register_services()``                                     done by the daemon (at start and on reload);
                                                            ``p = Peripheral()``, ``await p.connect()``
``temp_char = Characteristic(env, TEMP_UUID, …)``            ``temp_char = p.characteristic("env/temperature")``
                                                            (at module level too: resolved by ``connect()``)
``char.write(data)``                                        the same: ``set CHAR VALUE``
``char.write(data, send_update=True)``                      the same: ``notify CHAR VALUE``
``char.read()``                                             ``await char.read()`` (``decode=True``: by Format)
``await char.written()`` → ``(connection, data)``           the same (``Capture=true``: each write once, in order)
``char.notify(connection, data)`` / ``indicate``            the same (``notify CHAR VALUE to=ADDR``)
``on_read(self, connection)`` → 0 or ATT error              the same, for ``ReadHandler=socket``
``connection = await aioble.advertise(…)``                  ``connection = await p.connected()``
``await connection.disconnected()``                         the same
``connection.device.addr_hex()``, ``async with connection``  the same
==========================================================  =====================================================

Values
------

``write()`` takes bytes, or a Python value that the characteristic's
``Format=`` encodes exactly as the daemon does (see ``values``): a number
(``24.58`` with ``Format=sint16``, ``Exponent=-2`` is ``9a09``), text for
``utf8`` (and as UTF-8 bytes where there is no Format), ``True``/``False``
for ``boolean``. A value that cannot be encoded raises BadValue, OutOfRange
or TooLong at once, with the daemon's message. ``read()`` returns bytes, or
with ``decode=True`` the Python value.

Requests and errors
-------------------

Calls that send a request (``write``, ``notify``, ``serve``) return a
Pending at once, the request already on its way: aioble code ignores it;
``await`` it to have the daemon's answer. Every error of the daemon becomes
a RequestError subclass named after it (``error out-of-range: …`` is
OutOfRange; ``.name``, ``.reason`` and ``.request`` say what and why); an
error nobody awaited is raised by the next call on the Peripheral. When the
daemon goes away every waiting call raises ConnectionLost;
``await p.reconnect()`` waits for it to come back and carries on.

Reads by code (on_read)
-----------------------

For a ``ReadHandler=socket`` characteristic, subclass Characteristic and
override ``on_read(self, connection)``: return 0 to let the read have the
value (what on_read wrote with ``self.write()``, else the stored value) or
an ATT error code to refuse it. It must answer within the
characteristic's ``ReadTimeout`` (default 1 s): a late answer is counted in
``late_replies`` and the central got the stored value.

Blocking helpers
----------------

For one-line scripts without asyncio: ``notify(char, value)``,
``write(char, value, send_update=False)``, ``read(char, decode=False)``,
``status()``, and ``Client`` for several calls on one connection.

The socket is ``$BLE_PERIPHERAL_SOCKET``, else ``/run/ble-peripheral/control``;
every call takes another path. The protocol underneath: docs/protocol.md of
ble-peripheral.
"""

from . import values
from .blocking import Client, notify, read, status, write
from .errors import (Ambiguous, BadRequest, BadValue, Busy, ConnectionLost, DaemonUnreachable, Error,
                     Failed, NotConnected, NotPermitted, NotSupported, OutOfRange, RequestError,
                     TooLong, Unavailable, UnknownCharacteristic, UnknownRead)
from .peripheral import (DEFAULT_SOCKET, Characteristic, CharacteristicInfo, Connection, Device,
                         Pending, Peripheral, connect, default_socket, wait_for_daemon)

__version__ = "0.1.0"

__all__ = [
    "connect", "wait_for_daemon", "default_socket", "DEFAULT_SOCKET",
    "Peripheral", "Characteristic", "CharacteristicInfo", "Connection", "Device", "Pending",
    "Client", "notify", "write", "read", "status", "values",
    "Error", "RequestError", "BadRequest", "UnknownCharacteristic", "Ambiguous", "BadValue",
    "OutOfRange", "TooLong", "NotSupported", "UnknownRead", "NotPermitted", "NotConnected", "Busy",
    "Unavailable", "Failed", "ConnectionLost", "DaemonUnreachable",
]
