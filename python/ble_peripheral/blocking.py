"""Blocking helpers, for scripts of a line or two::

    import ble_peripheral
    ble_peripheral.notify("env/temperature", 24.58)
    print(ble_peripheral.read("env/temperature", decode=True))

Each call opens the control socket, asks, and closes it; a Client keeps one
connection for many calls. Values are encoded as the asyncio API does."""

import os
import socket
from typing import Dict, Optional

from . import values
from .errors import ConnectionLost, DaemonUnreachable, RequestError, error_from_reply
from .peripheral import CharacteristicInfo, _words, default_socket

__all__ = ["Client", "write", "notify", "read", "status"]


class Client:
    """One blocking connection to the daemon (a context manager)::

        with ble_peripheral.Client() as c:
            for v in readings():
                c.write("env/temperature", v, send_update=True)

    timeout: seconds a reply may take (None: no limit)."""

    def __init__(self, path: Optional[str] = None, timeout: Optional[float] = 10.0):
        self.path = path or default_socket()
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.settimeout(timeout)
        try:
            self._sock.connect(self.path)
        except OSError as e:
            self._sock.close()
            raise DaemonUnreachable("cannot open the control socket %s: %s"
                                    % (self.path, e.strerror or e)) from e
        self._buf = b""
        self._infos: Dict[str, CharacteristicInfo] = {}

    def close(self) -> None:
        self._sock.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _line(self) -> str:
        while b"\n" not in self._buf:
            try:
                chunk = self._sock.recv(65536)
            except socket.timeout:
                raise ConnectionLost("%s: no reply in time" % self.path) from None
            except OSError as e:
                raise ConnectionLost("%s: %s" % (self.path, e)) from e
            if not chunk:
                raise ConnectionLost("%s: the daemon closed the connection" % self.path)
            self._buf += chunk
        line, self._buf = self._buf.split(b"\n", 1)
        return line.decode("utf-8", "replace").rstrip("\r")

    def request(self, line: str) -> str:
        """Sends one request line; returns the words after ``ok`` or raises
        the daemon's error. Events are skipped (this client does not watch)."""
        try:
            self._sock.sendall(line.encode("utf-8") + b"\n")
        except OSError as e:
            raise ConnectionLost("%s: %s" % (self.path, e)) from e
        while True:
            reply = self._line()
            if reply.startswith("event "):
                continue
            if reply == "ok":
                return ""
            if reply.startswith("ok "):
                return reply[3:]
            raise error_from_reply(reply, line)

    def info(self, char: str) -> CharacteristicInfo:
        """``info CHAR`` (kept for the connection's later calls)."""
        got = self._infos.get(char)
        if got is None:
            got = CharacteristicInfo(_words(self.request("info %s" % char)))
            self._infos[char] = got
        return got

    def _token(self, char: str, value, verb: str) -> str:
        info = self.info(char)
        try:
            data = values.encode(value, info.format, info.exponent, info.id)
        except RequestError as e:
            e.reason = "%s %s: %s" % (verb, info.id, e.reason)
            e.request = "%s %s" % (verb, info.id)
            raise
        return "%s %s" % (info.id, values.to_token(data, info.format))

    def write(self, char: str, value, send_update: bool = False) -> None:
        """``set`` (or with send_update=True ``notify``) CHAR's value."""
        verb = "notify" if send_update else "set"
        self.request("%s %s" % (verb, self._token(char, value, verb)))

    def notify(self, char: str, value, to: Optional[str] = None) -> None:
        """``notify CHAR VALUE [to=ADDR]``."""
        line = "notify %s" % self._token(char, value, "notify")
        self.request(line + (" to=%s" % to if to else ""))

    def read(self, char: str, decode: bool = False):
        """``get CHAR``: bytes, or decoded by the Format with decode=True."""
        info = self.info(char)
        data = values.from_token(self.request("get %s" % info.id))
        return values.decode(data, info.format, info.exponent) if decode else data

    def status(self) -> Dict[str, str]:
        """``status`` as a dict."""
        return _words(self.request("status"))


def write(char: str, value, send_update: bool = False, path: Optional[str] = None) -> None:
    """Stores (send_update=True: and notifies) one value, then disconnects."""
    with Client(path) as c:
        c.write(char, value, send_update)


def notify(char: str, value, to: Optional[str] = None, path: Optional[str] = None) -> None:
    """Notifies one value (``notify CHAR VALUE [to=ADDR]``)."""
    with Client(path) as c:
        c.notify(char, value, to)


def read(char: str, decode: bool = False, path: Optional[str] = None):
    """The stored value of char."""
    with Client(path) as c:
        return c.read(char, decode)


def status(path: Optional[str] = None) -> Dict[str, str]:
    """The daemon's ``status`` as a dict."""
    with Client(path) as c:
        return c.status()
