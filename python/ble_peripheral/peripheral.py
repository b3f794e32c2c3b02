"""The asyncio client: Peripheral, Characteristic, Connection, Device.

See the package's documentation (``help(ble_peripheral)``) for the guide."""

import asyncio
import contextvars
import inspect
import logging
import os
from collections import deque
from typing import Any, Callable, Deque, Dict, List, Optional, Tuple, Union

from . import values
from .errors import (Ambiguous, ConnectionLost, DaemonUnreachable, Error, OutOfRange,
                     RequestError, UnknownCharacteristic, UnknownRead, error_from_reply)

__all__ = ["DEFAULT_SOCKET", "default_socket", "connect", "wait_for_daemon", "Peripheral",
           "Characteristic", "Connection", "Device", "Pending", "CharacteristicInfo"]

log = logging.getLogger("ble_peripheral")

#: Where the daemon listens unless told otherwise.
DEFAULT_SOCKET = "/run/ble-peripheral/control"

# A request line is at most 8192 bytes; a reply (status) can be longer: the
# daemon bounds what it holds for a client at 1 MiB.
_LINE_LIMIT = 1 << 20

_ATT_UNLIKELY_ERROR = 0x0E


def default_socket() -> str:
    """``$BLE_PERIPHERAL_SOCKET``, else ``/run/ble-peripheral/control``."""
    return os.environ.get("BLE_PERIPHERAL_SOCKET") or DEFAULT_SOCKET


def _seconds(timeout_ms: Optional[float]) -> Optional[float]:
    return None if timeout_ms is None else timeout_ms / 1000.0


# ---------------------------------------------------------------------------
# Requests and their replies


class Pending:
    """A request sent to the daemon, whose reply has not necessarily come.

    The request is on its way as soon as the call that made it returns: a
    caller may ignore it (as aioble code does with ``char.write(v)``) or
    ``await`` it, which returns the reply's words after ``ok`` (a str) or
    raises the daemon's error. An error nobody awaited is raised by the
    next call made on the Peripheral, so that none goes unseen."""

    __slots__ = ("_p", "request", "_state", "_result", "_future", "_awaited", "_on_error", "_on_ok")

    def __init__(self, p: "Peripheral", request: str, on_error: Optional[Callable] = None,
                 on_ok: Optional[Callable] = None):
        self._p = p
        self.request = request
        self._state = 0          # 0 waiting, 1 ok, 2 error
        self._result: Any = None
        self._future: Optional[asyncio.Future] = None
        self._awaited = False
        self._on_error = on_error
        self._on_ok = on_ok

    def done(self) -> bool:
        """Whether the reply came (or the connection was lost)."""
        return self._state != 0

    def _resolve(self, ok: bool, result: Any) -> None:
        self._state = 1 if ok else 2
        self._result = result
        if ok and self._on_ok is not None:
            # in the reader, before any later line: state follows the stream
            self._on_ok(result)
        if self._future is not None and not self._future.done():
            if ok:
                self._future.set_result(result)
            else:
                self._future.set_exception(result)
        if not ok and not self._awaited:
            if self._on_error is not None:
                self._on_error(result)
            elif not isinstance(result, ConnectionLost):
                self._p._defer(self, result)

    async def _wait(self) -> str:
        self._awaited = True
        if self._state == 0:
            if self._future is None:
                self._future = asyncio.get_running_loop().create_future()
            # shielded: one awaiter cancelled leaves the others waiting
            return await asyncio.shield(self._future)
        self._p._undefer(self)
        if self._state == 2:
            raise self._result
        return self._result

    def __await__(self):
        return self._wait().__await__()

    def __repr__(self) -> str:
        state = ("waiting", "ok", "error")[self._state]
        return "<Pending %r %s>" % (self.request, state)


# ---------------------------------------------------------------------------
# Centrals


class Device:
    """A central, by its Bluetooth address."""

    __slots__ = ("address",)

    def __init__(self, address: Optional[str]):
        #: The address as the daemon writes it (``00:AA:01:01:00:01``), or
        #: None when bluetoothd did not say.
        self.address = address

    def addr_hex(self) -> str:
        """The address as aioble writes it: lower-case hex bytes with colons."""
        return (self.address or "").lower()

    def __eq__(self, other) -> bool:
        return isinstance(other, Device) and self.addr_hex() == other.addr_hex()

    def __hash__(self) -> int:
        return hash(self.addr_hex())

    def __repr__(self) -> str:
        return "Device(%r)" % self.address


class Connection:
    """One connection of a central, from ``event connect`` to ``event
    disconnect`` (aioble's DeviceConnection). ``async with connection:``
    disconnects the central when the block ends, unless it already left."""

    def __init__(self, p: "Peripheral", address: Optional[str], connected: bool = True):
        self._p = p
        #: The central (``connection.device.addr_hex()``).
        self.device = Device(address)
        self._connected = connected

    def is_connected(self) -> bool:
        """Whether the central is still connected, as far as the events said."""
        return self._connected

    async def disconnected(self, timeout_ms: Optional[float] = None) -> None:
        """Returns once the central disconnected (at once if it did already).
        Raises asyncio.TimeoutError after timeout_ms (None: no limit) and
        ConnectionLost when the daemon's connection ends first."""
        await self._p._wait_until(lambda: True if not self._connected else None, timeout_ms)

    async def disconnect(self, timeout_ms: Optional[float] = 5000) -> None:
        """Disconnects the central (``disconnect ADDR``) and waits, up to
        timeout_ms, until it is gone."""
        if not self._connected or self.device.address is None:
            return
        await self._p.request("disconnect %s" % self.device.address)
        await self.disconnected(timeout_ms)

    async def __aenter__(self) -> "Connection":
        return self

    async def __aexit__(self, *exc) -> None:
        if self._connected and not self._p._lost:
            try:
                await self.disconnect()
            except (RequestError, ConnectionLost, asyncio.TimeoutError):
                pass

    def __repr__(self) -> str:
        return "<Connection %s%s>" % (self.device.address, "" if self._connected else " (gone)")


# ---------------------------------------------------------------------------
# Characteristics


class CharacteristicInfo:
    """What ``info CHAR`` says of a characteristic."""

    def __init__(self, words: Dict[str, str]):
        self.words = words
        #: SERVICE/CHAR.
        self.id: str = words.get("id", "")
        #: The UUID, 128-bit form.
        self.uuid: str = words.get("uuid", "")
        #: BlueZ flag names (``read``, ``notify``, …).
        self.flags: List[str] = [f for f in words.get("flags", "-").split(",") if f and f != "-"]
        #: The Format name, or None.
        self.format: Optional[str] = None if words.get("format", "none") == "none" else words["format"]
        #: The decimal exponent.
        self.exponent: int = int(words.get("exponent", "0"))
        #: Largest value a central may write.
        self.max_length: int = int(words.get("max-length", "20"))
        #: Append=true.
        self.append: bool = words.get("append") == "yes"
        #: Capture=true: every write is queued and delivered once.
        self.capture: bool = words.get("capture") == "yes"
        #: QueueLength.
        self.queue_length: int = int(words.get("queue-length", "64"))
        #: ``value`` or ``socket`` (reads answered by a producer).
        self.read_handler: str = words.get("read-handler", "value")
        #: ReadTimeout in ms.
        self.read_timeout_ms: int = int(words.get("read-timeout-ms", "1000"))

    def __repr__(self) -> str:
        return "<CharacteristicInfo %s format=%s exponent=%d flags=%s>" % (
            self.id, self.format, self.exponent, ",".join(self.flags))


class _CharState:
    """What a Peripheral keeps per characteristic, shared by its handles."""

    def __init__(self, info: Optional[CharacteristicInfo], name: str = ""):
        self.info = info
        #: what a handle made before connect() asked for; alias: the state
        #: it resolved to
        self.name = name
        self.alias: Optional["_CharState"] = None
        self.captured: Deque[Tuple[Connection, bytes]] = deque()
        self.last_writer: Optional[Connection] = None  # non-capture writes
        self.dropped = 0
        self.late_replies = 0
        self.server: Optional["Characteristic"] = None
        self.confirms = 0


class _ReadContext:
    __slots__ = ("state", "value")

    def __init__(self, state: _CharState):
        self.state = state
        self.value: Optional[bytes] = None


# The read being answered by the on_read running in this context.
_READ: contextvars.ContextVar = contextvars.ContextVar("ble_peripheral_read", default=None)


class Characteristic:
    """A handle on a characteristic of the daemon's configuration (aioble's
    Characteristic): ``Characteristic(p, "env/temperature")``, or
    ``p.characteristic("env/temperature")``. A bare name (``temperature``)
    is accepted when only one service has it.

    The characteristic itself (UUID, flags, Format, Capture, ReadHandler) is
    the configuration's; ``info`` says what it is.

    Subclass it and override ``on_read`` to answer reads of a
    ``ReadHandler=socket`` characteristic, as in aioble::

        class TempChar(ble_peripheral.Characteristic):
            def on_read(self, connection):
                self.write(sample())
                return 0

        temp_char = TempChar(p, "env/temperature")
    """

    def __init__(self, peripheral: "Peripheral", char_id: str):
        self._p = peripheral
        self._st = peripheral._lookup(char_id)
        if type(self).on_read is not Characteristic.on_read:
            if peripheral._loaded:
                self.serve()
            else:
                self._st.server = self   # served once connected

    @property
    def _state(self) -> _CharState:
        st = self._st
        while st.alias is not None:
            st = self._st = st.alias
        if st.info is None:
            raise ConnectionLost("%s: the Peripheral is not connected yet (await p.connect())" % st.name)
        return st

    # --- what it is ---------------------------------------------------

    @property
    def info(self) -> CharacteristicInfo:
        """``info CHAR``, as of the connection (or the last reload)."""
        return self._state.info

    @property
    def id(self) -> str:
        """SERVICE/CHAR (before connect(): the name given)."""
        st = self._st
        while st.alias is not None:
            st = st.alias
        return st.info.id if st.info is not None else st.name

    @property
    def format(self) -> Optional[str]:
        return self._state.info.format

    @property
    def exponent(self) -> int:
        return self._state.info.exponent

    @property
    def dropped(self) -> int:
        """Captured writes lost to a full queue (``event dropped``)."""
        return self._state.dropped

    @property
    def late_replies(self) -> int:
        """Reads on_read answered after the ReadTimeout (the central got the
        stored value)."""
        return self._state.late_replies

    def encode(self, value: values.Value) -> bytes:
        """value's bytes by this characteristic's Format (see values.encode)."""
        return values.encode(value, self.format, self.exponent, self.id)

    def decode(self, data: bytes):
        """data's Python value by this characteristic's Format."""
        return values.decode(data, self.format, self.exponent)

    def _token(self, value: values.Value, verb: str) -> str:
        try:
            data = self.encode(value)
        except RequestError as e:
            e.reason = "%s %s: %s" % (verb, self.id, e.reason)
            e.request = "%s %s" % (verb, self.id)
            raise
        ctx = _READ.get()
        if ctx is not None and ctx.state is self._state:
            ctx.value = data
        return values.to_token(data, self.format)

    # --- aioble's calls -----------------------------------------------

    def write(self, data: values.Value, send_update: bool = False) -> Pending:
        """Stores the value (``set CHAR VALUE``); with send_update=True also
        notifies or indicates every subscribed central (``notify CHAR
        VALUE``). data: bytes, or a number or text for the Format. An
        invalid value raises at once; the returned Pending may be awaited
        for the daemon's answer.

        Inside on_read, the value written is the read's answer."""
        verb = "notify" if send_update else "set"
        token = self._token(data, verb)
        ctx = _READ.get()
        if ctx is not None and ctx.state is self._state and not send_update:
            return self._p._done("set %s (answered with the read)" % self.id)
        return self._p._send("%s %s %s" % (verb, self.id, token))

    async def read(self, decode: bool = False):
        """The stored value (``get CHAR``): bytes, or with decode=True the
        value by the Format (see decode())."""
        data = values.from_token(await self._p.request("get %s" % self.id))
        return self.decode(data) if decode else data

    async def take(self, decode: bool = False):
        """The stored value, which is then emptied (``take CHAR``, for
        Append=true buffers)."""
        data = values.from_token(await self._p.request("take %s" % self.id))
        return self.decode(data) if decode else data

    async def written(self, timeout_ms: Optional[float] = None):
        """Waits for a central's write. For a ``Capture=true``
        characteristic returns ``(connection, data)`` for each write,
        exactly once, in arrival order (writes made while no producer
        watched come first); otherwise returns the connection of the latest
        write, once per "something new", as aioble does without capture
        (the value: ``await read()``).

        The first call makes this connection watch writes: from then on the
        captured writes of every characteristic come to this process and
        wait here for their ``written()``."""
        await self._p._watch_writes()
        st = self._state
        if st.info.capture:
            def take():
                return st.captured.popleft() if st.captured else None
            return await self._p._wait_until(take, timeout_ms)

        def latest():
            conn, st.last_writer = st.last_writer, None
            return conn
        return await self._p._wait_until(latest, timeout_ms)

    def notify(self, connection: Connection,
               data: Optional[values.Value] = None) -> "Union[Pending, asyncio.Task]":
        """Notifies (or indicates) one central: ``notify CHAR VALUE
        to=ADDR``; without data, the stored value. Needs a bluetoothd that
        tells centrals apart (BlueZ 5.76 on): before, the daemon answers
        NotSupported. Returns a Pending (a Task without data), which may
        be awaited."""
        if data is None:
            return self._p._spawn(self._notify_stored(connection))
        token = self._token(data, "notify")
        return self._p._send("notify %s %s to=%s" % (self.id, token, _address(connection)))

    async def _notify_stored(self, connection: Connection) -> str:
        data = await self.read()
        return await self.notify(connection, data)

    async def indicate(self, connection: Connection, data: Optional[values.Value] = None,
                       timeout_ms: Optional[float] = 1000) -> None:
        """Indicates one central (as notify()) and waits, up to timeout_ms,
        for its confirmation (``event confirm``)."""
        await self._p._watch("subscribe")
        st = self._state
        seen = st.confirms
        await self.notify(connection, data)
        await self._p._wait_until(lambda: True if st.confirms > seen else None, timeout_ms)

    def on_read(self, connection: Connection) -> int:
        """Override to answer reads (``ReadHandler=socket``): called for each
        read by a central; return 0 to let the read have the value (the one
        written here with write(), else the stored one), or an ATT error
        code (0x01-0x0f, 0x80-0x9f) to refuse it. May be a coroutine, which
        must finish within the characteristic's ReadTimeout."""
        return 0

    def serve(self) -> Pending:
        """Makes this handle answer the characteristic's reads with on_read
        (``serve CHAR``); done by the constructor when on_read is
        overridden. Served again after reconnect()."""
        self._state.server = self
        return self._p._send("serve %s" % self.id)

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, self.id)


def _address(connection: Union[Connection, Device, str]) -> str:
    if isinstance(connection, Connection):
        connection = connection.device
    if isinstance(connection, Device):
        if connection.address is None:
            raise ValueError("the central's address is not known")
        return connection.address
    return connection


# ---------------------------------------------------------------------------
# The daemon


class _Protocol(asyncio.Protocol):
    """The socket: lines in, to the Peripheral."""

    def __init__(self, p: "Peripheral"):
        self.p = p
        self.buf = b""
        self.closed = asyncio.get_running_loop().create_future()

    def data_received(self, data: bytes) -> None:
        if b"\n" not in data:
            self.buf += data
            if len(self.buf) > _LINE_LIMIT:
                self.p._set_lost("the daemon sent a line over %d bytes" % _LINE_LIMIT)
                if self.p._transport is not None:
                    self.p._transport.close()
            return
        lines = (self.buf + data).split(b"\n")
        self.buf = lines.pop()
        on_line = self.p._on_line
        for line in lines:
            on_line(line)

    def eof_received(self) -> bool:
        self.p._set_lost("the daemon closed the connection")
        return False

    def connection_lost(self, exc: Optional[Exception]) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        self.p._set_lost("the connection to the daemon was lost: %s" % exc if exc else
                         "the daemon closed the connection")


def _words(reply: str) -> Dict[str, str]:
    out = {}
    for w in reply.split():
        k, sep, v = w.partition("=")
        if sep:
            out[k] = v
    return out


class Peripheral:
    """A connection to the daemon: the peripheral it serves.

    Made by ``await ble_peripheral.connect()``. Its characteristics are the
    configuration's (``characteristic()``, ``characteristics()``); its
    centrals arrive through ``connected()``. Use it from one event loop."""

    def __init__(self, path: Optional[str] = None):
        #: The control socket's path.
        self.path = path or default_socket()
        self._transport: Optional[asyncio.Transport] = None
        self._protocol: Optional[_Protocol] = None
        self._out: List[bytes] = []
        self._flush_scheduled = False
        self._pending: Deque[Pending] = deque()
        self._lost = True
        self._lost_reason = "not connected"
        self._deferred: Optional[Tuple[Pending, BaseException]] = None
        self._states: Dict[str, _CharState] = {}
        self._loaded = False
        self._placeholders: List[_CharState] = []
        self._connections: Dict[str, Connection] = {}
        self._new: Deque[Connection] = deque()
        self._watching = {"connect", "state"}
        self._change: Optional[asyncio.Future] = None
        self._tasks = set()

    # --- opening ------------------------------------------------------

    async def _open(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            self._transport, self._protocol = await loop.create_unix_connection(lambda: _Protocol(self), self.path)
        except OSError as e:
            raise DaemonUnreachable("cannot open the control socket %s: %s" % (self.path, e.strerror or e)) from e
        self._lost = False
        self._pending.clear()
        self._out.clear()
        self._deferred = None
        self._change = loop.create_future()
        try:
            await self._setup()
        except BaseException:
            await self.close()
            raise

    async def _setup(self) -> None:
        watch = self._send("watch " + " ".join(sorted(self._watching)), internal=True)
        status = self._send("status", internal=True, on_ok=self._reconcile)
        await watch
        words = _words(await status)
        ids = [k[:-len(".notify")] for k in words if k.endswith(".notify")]
        await self._load_infos(ids)
        self._loaded = True
        placeholders, self._placeholders = self._placeholders, []
        for ph in placeholders:
            st = self._lookup(ph.name)        # raises UnknownCharacteristic, Ambiguous
            ph.alias = st
            if ph.server is not None:
                st.server = ph.server
        for st in self._states.values():
            if st.server is not None:
                await self._send("serve %s" % st.info.id, internal=True)

    def _reconcile(self, reply: str) -> None:
        """The centrals of a status reply against those we know, in the reader
        (so that the events after the reply apply on top of it)."""
        present = set(a for a in _words(reply).get("connected", "-").split(",") if a and a != "-")
        for addr in list(self._connections):
            if addr not in present:
                self._gone(addr)
        for addr in sorted(present):
            if addr not in self._connections:
                self._arrived(addr)
        self._wake()

    async def _load_infos(self, ids: List[str]) -> None:
        replies = [(i, self._send("info %s" % i, internal=True)) for i in ids]
        known = set()
        for i, r in replies:
            info = CharacteristicInfo(_words(await r))
            known.add(info.id)
            st = self._states.get(info.id)
            if st is None:
                self._states[info.id] = _CharState(info)
            else:
                st.info = info
        for i in list(self._states):
            if i not in known and self._states[i].server is None:
                del self._states[i]

    async def connect(self, wait: Optional[float] = 0) -> "Peripheral":
        """Connects to the daemon (``self.path``) and learns its
        characteristics; handles made before (as aioble code makes them, at
        module level) are resolved now, and an unknown one raises
        UnknownCharacteristic. With wait (seconds, None for no limit), waits
        for a daemon that is not there yet. Raises DaemonUnreachable."""
        if wait is None or wait > 0:
            await wait_for_daemon(self.path, wait)
        await self._open()
        return self

    async def close(self) -> None:
        """Closes the connection to the daemon. Captured writes received but
        not yet taken with written() are lost with it."""
        transport, self._transport = self._transport, None
        if transport is not None:
            self._flush(transport)
            transport.close()
            # closed for real (the daemon sees it) when this returns
            await self._protocol.closed
        self._set_lost("closed")

    async def __aenter__(self) -> "Peripheral":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def reconnect(self, timeout: Optional[float] = None) -> None:
        """Waits for the daemon to come back (up to timeout seconds; None: no
        limit) and connects again: the same handles, connections and
        on_read servers go on; what is watched is watched again, and captured
        writes queued meanwhile arrive through written(). Raises
        DaemonUnreachable after timeout."""
        if self._transport is not None:
            await self.close()
        await wait_for_daemon(self.path, timeout)
        await self._open()

    def is_connected(self) -> bool:
        """Whether the connection to the daemon is up."""
        return not self._lost

    # --- reading ------------------------------------------------------

    def _on_line(self, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        if text.endswith("\r"):
            text = text[:-1]
        if text.startswith("event "):
            try:
                self._on_event(text.split())
            except Exception as e:  # a bug of ours or the user's must not stop the reading
                self._report("handling %r failed" % text, e)
            return
        if not self._pending:
            return
        p = self._pending.popleft()
        if text == "ok":
            p._resolve(True, "")
        elif text.startswith("ok "):
            p._resolve(True, text[3:])
        else:
            p._resolve(False, error_from_reply(text, p.request))

    def _set_lost(self, reason: str) -> None:
        if not self._lost:
            self._lost_reason = reason
        self._lost = True
        pending, self._pending = self._pending, deque()
        for p in pending:
            p._resolve(False, ConnectionLost("%s (%s): %s" % (self.path, p.request, self._lost_reason)))
        self._wake()

    def _wake(self) -> None:
        if self._change is not None and not self._change.done():
            self._change.set_result(None)
        if not self._lost:
            self._change = asyncio.get_running_loop().create_future()

    async def _wait_until(self, predicate: Callable[[], Any], timeout_ms: Optional[float]) -> Any:
        async def wait():
            while True:
                result = predicate()
                if result is not None:
                    return result
                self._check()
                # shielded: a waiter cancelled (a timeout) must not cancel
                # the future every other waiter shares
                await asyncio.shield(self._change)
        result = predicate()
        if result is not None:
            return result
        timeout = _seconds(timeout_ms)
        if timeout is None:
            return await wait()
        return await asyncio.wait_for(wait(), timeout)

    def _check(self) -> None:
        if self._deferred is not None:
            p, e = self._deferred
            self._deferred = None
            raise e
        if self._lost:
            raise ConnectionLost("%s: %s" % (self.path, self._lost_reason))

    def _defer(self, p: Pending, e: BaseException) -> None:
        log.warning("%s", e)
        if self._deferred is None:
            self._deferred = (p, e)
        self._wake()

    def _undefer(self, p: Pending) -> None:
        if self._deferred is not None and self._deferred[0] is p:
            self._deferred = None

    # --- sending ------------------------------------------------------

    def _send(self, line: str, on_error: Optional[Callable] = None, internal: bool = False,
              on_ok: Optional[Callable] = None) -> Pending:
        if internal:
            if self._lost:
                raise ConnectionLost("%s: %s" % (self.path, self._lost_reason))
        else:
            self._check()
        p = Pending(self, line, on_error, on_ok)
        self._pending.append(p)
        # Lines sent in one turn of the event loop leave in one write.
        self._out.append(line.encode("utf-8"))
        if not self._flush_scheduled:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush)
        return p

    def _flush(self, transport: Optional[asyncio.Transport] = None) -> None:
        self._flush_scheduled = False
        transport = transport or self._transport
        if self._out and transport is not None and not transport.is_closing():
            self._out.append(b"")
            transport.write(b"\n".join(self._out))
        self._out.clear()

    def _done(self, request: str) -> Pending:
        p = Pending(self, request)
        p._resolve(True, "")
        return p

    def _spawn(self, coro) -> "asyncio.Task":
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def request(self, line: str) -> str:
        """Sends one request line as it is and returns the words of its
        ``ok`` reply (``""`` for a bare ok); raises the daemon's error
        (RequestError's subclass by name) or ConnectionLost."""
        return await self._send(line)

    async def drain(self, window: int = 0) -> None:
        """Waits until at most window requests sent so far are unanswered
        (0: all answered), and raises the first error nobody awaited. A
        producer that writes faster than the daemon takes its values calls
        it now and then (``drain(1024)`` keeps a window in flight), so that
        what it sends cannot pile up in memory."""
        while len(self._pending) > window:
            target = self._pending[len(self._pending) - window - 1]
            try:
                await target
            except RequestError:
                pass
        self._check()

    async def _watch(self, cls: str) -> None:
        if cls not in self._watching:
            self._watching.add(cls)
            await self._send("watch %s" % cls)

    async def _watch_writes(self) -> None:
        await self._watch("write")

    async def watch_writes(self) -> None:
        """Starts receiving writes now (written() does it on its first call):
        captured writes queued in the daemon come to this process, and so do
        other characteristics' writes from then on."""
        await self._watch_writes()

    # --- characteristics ----------------------------------------------

    def _lookup(self, char_id: str) -> _CharState:
        if not self._loaded:
            # a handle made before connect(), as aioble code makes them at
            # module level: resolved (or refused) by connect()
            st = _CharState(None, char_id)
            self._placeholders.append(st)
            return st
        st = self._states.get(char_id)
        if st is not None:
            return st
        if "/" not in char_id:
            found = [s for i, s in self._states.items() if i.split("/", 1)[-1] == char_id]
            if len(found) == 1:
                return found[0]
            if found:
                raise Ambiguous("%s is in several services (%s): give SERVICE/CHAR"
                                % (char_id, ", ".join(s.info.id for s in found)), "characteristic")
        raise UnknownCharacteristic("no characteristic %s (the configuration has %s)"
                                    % (char_id, ", ".join(self._states) or "none"), "characteristic")

    def characteristic(self, char_id: str) -> Characteristic:
        """A handle on the characteristic SERVICE/CHAR (or a bare CHAR that
        only one service has). Raises UnknownCharacteristic or Ambiguous."""
        return Characteristic(self, char_id)

    def characteristics(self) -> List[str]:
        """The characteristics of the configuration, SERVICE/CHAR each."""
        return list(self._states)

    async def status(self) -> Dict[str, str]:
        """The daemon's ``status``, as a dict of its KEY=VALUE words."""
        return _words(await self.request("status"))

    async def advertise(self, on: bool = True) -> None:
        """Starts or stops advertising (``advertise on|off``)."""
        await self.request("advertise %s" % ("on" if on else "off"))

    # --- centrals -----------------------------------------------------

    async def connected(self, timeout_ms: Optional[float] = None) -> Connection:
        """The next central's connection (aioble's ``await advertise(…)``:
        the daemon advertises by itself). Each connection is returned once,
        in order; centrals already connected when this Peripheral connected
        come first. Raises asyncio.TimeoutError after timeout_ms."""
        return await self._wait_until(lambda: self._new.popleft() if self._new else None, timeout_ms)

    def connections(self) -> List[Connection]:
        """The centrals connected now."""
        return list(self._connections.values())

    def _arrived(self, addr: str) -> Connection:
        old = self._connections.get(addr)
        if old is not None:
            old._connected = False
        conn = Connection(self, addr)
        self._connections[addr] = conn
        self._new.append(conn)
        return conn

    def _gone(self, addr: str) -> None:
        conn = self._connections.pop(addr, None)
        if conn is not None:
            conn._connected = False

    def _connection(self, addr: str) -> Connection:
        if addr == "-":
            return Connection(self, None)
        conn = self._connections.get(addr)
        if conn is None:
            # Not connected now (status and the connect events say who is):
            # a write captured before it left, or by a central that never
            # connected as far as bluetoothd told.
            conn = Connection(self, addr, connected=False)
        return conn

    # --- events -------------------------------------------------------

    def _on_event(self, w: List[str]) -> None:
        kind = w[1] if len(w) > 1 else ""
        if kind == "write" and len(w) >= 5:
            st = self._states.get(w[2])
            if st is None:
                return
            conn = self._connection(w[3])
            data = values.from_token(w[4])
            if st.info.capture:
                st.captured.append((conn, data))
                if len(st.captured) > max(st.info.queue_length, 1):
                    st.captured.popleft()
                    st.dropped += 1
            else:
                st.last_writer = conn
        elif kind == "read" and len(w) >= 5:
            self._on_read(w[2], w[3], w[4])
            return
        elif kind == "connect" and len(w) >= 3:
            if w[2] not in self._connections or not self._connections[w[2]]._connected:
                self._arrived(w[2])
            else:
                # the status of _setup() already had it
                pass
        elif kind == "disconnect" and len(w) >= 3:
            self._gone(w[2])
        elif kind == "dropped" and len(w) >= 4:
            st = self._states.get(w[2])
            if st is not None:
                st.dropped += int(w[3])
        elif kind == "confirm" and len(w) >= 3:
            st = self._states.get(w[2])
            if st is not None:
                st.confirms += 1
        elif kind == "reloaded":
            self._spawn(self._reloaded())
            return
        else:
            return
        self._wake()

    async def _reloaded(self) -> None:
        words = _words(await self._send("status", internal=True))
        await self._load_infos([k[:-len(".notify")] for k in words if k.endswith(".notify")])

    def _on_read(self, read_id: str, char_id: str, addr: str) -> None:
        st = self._states.get(char_id)
        handler = st.server if st is not None else None
        if handler is None:
            self._send("reply %s error 0x%02x" % (read_id, _ATT_UNLIKELY_ERROR), internal=True)
            return
        conn = self._connection(addr)
        ctx = _ReadContext(st)
        token = _READ.set(ctx)
        try:
            result = handler.on_read(conn)
            if inspect.isawaitable(result):
                self._spawn(self._finish_async_read(read_id, handler, ctx, result))
                return
        except Exception as e:
            self._report("on_read of %s raised" % char_id, e)
            result = _ATT_UNLIKELY_ERROR
        finally:
            _READ.reset(token)
        self._finish_read(read_id, handler, ctx, result)

    async def _finish_async_read(self, read_id, handler, ctx, awaitable) -> None:
        try:
            result = await awaitable
        except Exception as e:
            self._report("on_read of %s raised" % handler.id, e)
            result = _ATT_UNLIKELY_ERROR
        if not self._lost:
            self._finish_read(read_id, handler, ctx, result)

    def _finish_read(self, read_id, handler, ctx, result) -> None:
        st = ctx.state

        def late(e):
            if isinstance(e, UnknownRead):
                st.late_replies += 1
                log.warning("%s", e)
                self._wake()
            elif not isinstance(e, ConnectionLost):
                self._defer(None, e)

        if result:
            code = int(result)
            if not (0x01 <= code <= 0x0F or 0x80 <= code <= 0x9F):
                self._report("on_read of %s" % handler.id,
                             OutOfRange("reply %s: ATT error 0x%02x cannot answer a read (0x01-0x0f, "
                                        "0x80-0x9f); answered 0x0e" % (read_id, code), "reply"))
                code = _ATT_UNLIKELY_ERROR
            self._send("reply %s error 0x%02x" % (read_id, code), on_error=late, internal=True)
        elif ctx.value is not None:
            self._send("reply %s %s" % (read_id, values.to_token(ctx.value, st.info.format)), on_error=late,
                       internal=True)
        else:
            async def stored():
                data = values.from_token(await self._send("get %s" % st.info.id, internal=True))
                self._send("reply %s %s" % (read_id, values.to_token(data, st.info.format)), on_error=late,
                           internal=True)
            self._spawn(stored())

    def _report(self, message: str, e: BaseException) -> None:
        asyncio.get_running_loop().call_exception_handler({"message": "ble_peripheral: " + message,
                                                           "exception": e})


async def wait_for_daemon(path: Optional[str] = None, timeout: Optional[float] = None) -> None:
    """Waits until the daemon accepts connections on path (default:
    default_socket()), for up to timeout seconds (None: no limit); raises
    DaemonUnreachable after it. Tries again at growing intervals (50 ms to
    1 s)."""
    path = path or default_socket()
    loop = asyncio.get_running_loop()
    end = None if timeout is None else loop.time() + timeout
    delay = 0.05
    while True:
        try:
            _, writer = await asyncio.open_unix_connection(path)
            writer.close()
            try:
                await writer.wait_closed()
            except OSError:
                pass
            return
        except OSError as e:
            if end is not None and loop.time() + delay > end:
                raise DaemonUnreachable("the daemon did not come back on %s within %g s: %s"
                                        % (path, timeout, e.strerror or e)) from e
        await asyncio.sleep(delay)
        delay = min(delay * 2, 1.0)


async def connect(path: Optional[str] = None, wait: Optional[float] = 0) -> Peripheral:
    """Connects to the daemon's control socket (default: ``$BLE_PERIPHERAL_SOCKET``
    or ``/run/ble-peripheral/control``) and learns its characteristics.
    With wait (seconds, or None for no limit), waits for a daemon that is not
    there yet. Raises DaemonUnreachable."""
    return await Peripheral(path).connect(wait)
