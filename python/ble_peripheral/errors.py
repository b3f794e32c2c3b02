"""Exceptions. A daemon's ``error NAME: message`` reply becomes the subclass
of RequestError named by NAME (``error out-of-range: …`` is OutOfRange); the
same classes are raised before sending when a value cannot be encoded."""

from typing import Dict, Optional, Type

__all__ = [
    "Error", "RequestError", "BadRequest", "UnknownCharacteristic", "Ambiguous", "BadValue",
    "OutOfRange", "TooLong", "NotSupported", "UnknownRead", "NotPermitted", "NotConnected",
    "Busy", "Unavailable", "Failed", "ConnectionLost", "DaemonUnreachable", "error_from_reply",
]


class Error(Exception):
    """Every error of this package."""


class RequestError(Error):
    """The daemon refused a request (or would have: a value that cannot be
    encoded is refused here with the daemon's words).

    Attributes: ``name`` (the protocol's error name, e.g. ``out-of-range``),
    ``reason`` (the daemon's message) and ``request`` (the request line, or
    the part of it that names what was asked)."""

    name = "failed"

    def __init__(self, reason: str, request: Optional[str] = None, name: Optional[str] = None):
        self.reason = reason
        self.request = request
        if name is not None:
            self.name = name
        super().__init__(reason)

    def __str__(self) -> str:
        # The daemon's message starts with the request it refuses
        # ("notify env/temperature: …"); others get it added.
        if self.request and not self.reason.startswith(self.request.split(" ", 1)[0]):
            return "%s: %s: %s" % (self.name, self.request, self.reason)
        return "%s: %s" % (self.name, self.reason)


class BadRequest(RequestError):
    """Unknown request, missing or extra words, an unknown event class."""
    name = "bad-request"


class UnknownCharacteristic(RequestError, KeyError):
    """No such characteristic."""
    name = "unknown-characteristic"

    __str__ = RequestError.__str__


class Ambiguous(RequestError, KeyError):
    """A bare CHAR that several services have: give SERVICE/CHAR."""
    name = "ambiguous"

    __str__ = RequestError.__str__


class BadValue(RequestError, ValueError):
    """A value that is not what the characteristic's Format takes."""
    name = "bad-value"


class OutOfRange(RequestError, ValueError):
    """A number its Format cannot hold; an ATT code a read cannot carry."""
    name = "out-of-range"


class TooLong(RequestError, ValueError):
    """A value over 512 bytes."""
    name = "too-long"


class NotSupported(RequestError):
    """Something the running bluetoothd (or daemon) cannot do, e.g. ``to=``."""
    name = "not-supported"


class UnknownRead(RequestError):
    """A reply to a read that timed out or was never asked."""
    name = "unknown-read"


class NotPermitted(RequestError):
    """notify of a characteristic without notify/indicate; serve of one that
    is not ReadHandler=socket."""
    name = "not-permitted"


class NotConnected(RequestError):
    """disconnect or to= of a central that is not connected."""
    name = "not-connected"


class Busy(RequestError):
    """serve of a characteristic another connection serves."""
    name = "busy"


class Unavailable(RequestError):
    """bluetoothd or the adapter is not there."""
    name = "unavailable"


class Failed(RequestError):
    """Anything else."""
    name = "failed"


class ConnectionLost(Error, ConnectionError):
    """The connection to the daemon ended (the daemon stopped or restarted).
    ``Peripheral.reconnect()`` waits for it to come back."""


class DaemonUnreachable(Error, ConnectionError):
    """The control socket cannot be opened (the daemon is not running, or the
    path or its permissions are wrong)."""


_BY_NAME: Dict[str, Type[RequestError]] = {
    cls.name: cls
    for cls in (BadRequest, UnknownCharacteristic, Ambiguous, BadValue, OutOfRange, TooLong,
                NotSupported, UnknownRead, NotPermitted, NotConnected, Busy, Unavailable, Failed)
}


def error_from_reply(line: str, request: Optional[str]) -> RequestError:
    """The exception for an ``error NAME: message`` reply to request."""
    rest = line[len("error "):] if line.startswith("error ") else line
    name, _, reason = rest.partition(": ")
    cls = _BY_NAME.get(name, RequestError)
    return cls(reason, request, name)
