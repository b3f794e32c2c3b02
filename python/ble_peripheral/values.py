"""Values of characteristics: Python objects to bytes and back, by the
characteristic's ``Format=`` and ``Exponent=``, with the daemon's own rules.

The daemon encodes a number as ``round(number / 10**Exponent)``, rounding
half away from zero in decimal (never through binary floating point, so that
24.58 with exponent -2 is exactly 2458), little-endian in the format's size.
This module does the same, so that a value is refused here, with the
daemon's error, before it is sent:

>>> encode(24.58, "sint16", -2).hex()
'9a09'
>>> decode(bytes.fromhex("9a09"), "sint16", -2)
24.58

A Python ``float`` is taken by its shortest decimal form (``repr``), which is
what a person typing it meant: ``encode(0.1, "uint8", -1)`` is ``b"\\x01"``.
"""

import decimal
import re
import struct
from fractions import Fraction
from typing import Optional, Union

from .errors import BadValue, OutOfRange, TooLong

__all__ = ["FORMATS", "MAX_LENGTH", "encode", "decode", "to_token", "Value"]

#: The largest value in bytes (the ATT limit), whatever ``MaxLength`` says.
MAX_LENGTH = 512

#: Format name -> (size in bytes, signed); 0 for variable size.
FORMATS = {
    "none": (0, False),
    "boolean": (1, False),
    "uint8": (1, False),
    "uint16": (2, False),
    "uint24": (3, False),
    "uint32": (4, False),
    "uint64": (8, False),
    "sint8": (1, True),
    "sint16": (2, True),
    "sint24": (3, True),
    "sint32": (4, True),
    "sint64": (8, True),
    "float32": (4, True),
    "float64": (8, True),
    "utf8": (0, False),
}

_INTEGERS = {n for n in FORMATS if n[0] in "us" and n != "utf8"}
_FLOATS = {"float32", "float64"}

#: What ``write()`` accepts: bytes-like, a number, text, a bool.
Value = Union[bytes, bytearray, memoryview, int, float, str, bool]

_UINT64_MAX = (1 << 64) - 1
# The daemon bounds a decimal exponent so that sums cannot overflow.
_EXPONENT_LIMIT = 100000


def _format_name(fmt: Optional[str]) -> str:
    if fmt is None:
        return "none"
    name = fmt.lower()
    if name == "utf8s":
        return "utf8"
    if name not in FORMATS:
        raise ValueError("unknown Format %r (expected one of %s)" % (fmt, " ".join(FORMATS)))
    return name


class _Decimal:
    """(-1 if negative) x digits x 10**scale, digits without leading or
    trailing zeros ("" for zero), or one of the IEEE specials."""

    __slots__ = ("negative", "nan", "inf", "digits", "scale")

    def __init__(self):
        self.negative = False
        self.nan = False
        self.inf = False
        self.digits = ""
        self.scale = 0


_NUMBER = re.compile(r"([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?)([0-9]+))?\Z")


def _decimal_parse(text: str) -> Optional[_Decimal]:
    """The daemon's number syntax: [+-] then nan, inf, 0xHEX or decimal
    digits with an optional point and exponent. None when it is not one."""
    d = _Decimal()
    p = text
    if p[:1] in ("+", "-"):
        d.negative = p[0] == "-"
        p = p[1:]
    low = p.lower()
    if low == "nan":
        d.nan = True
        return d
    if low in ("inf", "infinity"):
        d.inf = True
        return d
    if p[:2] in ("0x", "0X"):
        h = p[2:]
        if not h or any(c not in "0123456789abcdefABCDEF" for c in h):
            return None
        v = int(h, 16)
        if v > _UINT64_MAX:
            d.digits = "9" * 23  # larger than any format holds
            return d
        d.digits = str(v) if v else ""
    else:
        m = _NUMBER.match(p)
        if m is None or not p.isascii():
            return None
        whole, frac, esign, edigits = m.group(1), m.group(2) or "", m.group(3), m.group(4)
        if not whole and not frac:
            return None
        digits = (whole + frac).lstrip("0")
        scale = -len(frac)
        if edigits is not None:
            e = 0
            for c in edigits:
                if e < _EXPONENT_LIMIT:
                    e = e * 10 + ord(c) - 48
            scale += -e if esign == "-" else e
        d.digits = digits
        d.scale = scale
    stripped = d.digits.rstrip("0")
    d.scale += len(d.digits) - len(stripped)
    d.digits = stripped
    if not d.digits:
        d.scale = 0
    return d


def _magnitude(d: _Decimal, exponent: int) -> Optional[int]:
    """|round(d / 10**exponent)|, half away from zero; None past 64 bits."""
    n = len(d.digits)
    k = d.scale - exponent
    if n == 0:
        return 0
    if k >= 0:
        if n + k > 20:
            return None
        v = int(d.digits) * 10 ** k
        return v if v <= _UINT64_MAX else None
    keep = n + k
    if keep < 0:
        return 0
    if keep > 20:
        return None
    v = int(d.digits[:keep]) if keep else 0
    if v > _UINT64_MAX:
        return None
    if d.digits[keep] >= "5":
        if v == _UINT64_MAX:
            return None
        v += 1
    return v


def _plain_decimal(negative: bool, digits: str, scale: int) -> str:
    n = len(digits)
    s = "-" if negative else ""
    if scale >= 0:
        return s + digits + "0" * scale
    if n + scale > 0:
        return s + digits[:n + scale] + "." + digits[n + scale:]
    return s + "0." + "0" * (-(n + scale)) + digits


def _integer_display(negative: bool, magnitude: int, exponent: int) -> str:
    return _plain_decimal(negative and magnitude != 0, str(magnitude),
                          0 if magnitude == 0 and exponent > 0 else exponent)


def _range(fmt: str):
    size, signed = FORMATS[fmt]
    bits = size * 8
    if signed:
        return (1 << (bits - 1)) - 1, 1 << (bits - 1)
    return (1 << bits) - 1, 0


def _out_of_range(text: str, fmt: str, exponent: int) -> OutOfRange:
    hi, lo = _range(fmt)
    low = _integer_display(lo != 0, lo, exponent)
    high = _integer_display(False, hi, exponent)
    if exponent:
        return OutOfRange("%s is out of range for %s with exponent %d (%s to %s)"
                          % (text, fmt, exponent, low, high))
    return OutOfRange("%s is out of range for %s (%s to %s)" % (text, fmt, low, high))


def _not_a_number(text: str, fmt: str) -> BadValue:
    if not text:
        return BadValue("expected a number for %s, got an empty value" % fmt)
    return BadValue("expected a number such as 24.58, -3 or 0x10 for %s, got '%s'" % (fmt, text))


def _encode_integer(text: str, fmt: str, exponent: int) -> bytes:
    d = _decimal_parse(text)
    if d is None or d.nan or d.inf:
        raise _not_a_number(text, fmt)
    hi, lo = _range(fmt)
    m = _magnitude(d, exponent)
    if m is None or m > (lo if d.negative else hi):
        raise _out_of_range(text, fmt, exponent)
    size = FORMATS[fmt][0]
    wire = (-m) & ((1 << (8 * size)) - 1) if d.negative else m
    return wire.to_bytes(size, "little")


# Values at or past this round to infinity in float32 (round to nearest,
# ties to even: FLT_MAX's last mantissa bit is odd).
_F32_OVERFLOW = Fraction(2 ** 128 - 2 ** 103)


def _f32_bits(x: float) -> int:
    return struct.unpack("<I", struct.pack("<f", x))[0]


def _f32_value(bits: int) -> Fraction:
    return Fraction(struct.unpack("<f", struct.pack("<I", bits))[0])


def _nearest_float32(exact: Fraction) -> int:
    """The bits of the float32 nearest to exact (>= 0, below the overflow
    bound), ties to even: what strtof() gives, without double rounding."""
    guess = _f32_bits(float(exact)) if exact < Fraction(2 ** 128 - 2 ** 104) else 0x7F7FFFFF
    best = None
    for bits in (guess - 1, guess, guess + 1):
        if bits < 0 or bits > 0x7F7FFFFF:
            continue
        diff = abs(_f32_value(bits) - exact)
        if best is None or diff < best[0] or (diff == best[0] and bits % 2 == 0):
            best = (diff, bits)
    return best[1]


def _encode_float(text: str, fmt: str, exponent: int) -> bytes:
    d = _decimal_parse(text)
    if d is None:
        raise _not_a_number(text, fmt)
    big = " with this exponent" if exponent else ""
    if fmt == "float32":
        if d.nan:
            return struct.pack("<I", 0x7FC00000)
        if d.inf:
            return struct.pack("<f", float("-inf") if d.negative else float("inf"))
        e = d.scale - exponent
        n = len(d.digits)
        sign = 0x80000000 if d.negative else 0
        if n == 0 or n + e < -60:
            bits = 0
        elif n + e > 45:
            raise OutOfRange("%s is out of range for float32%s (at most \u00b13.4e38)" % (text, big))
        else:
            exact = Fraction(int(d.digits)) * Fraction(10) ** e
            if exact >= _F32_OVERFLOW:
                raise OutOfRange("%s is out of range for float32%s (at most \u00b13.4e38)" % (text, big))
            bits = _nearest_float32(exact)
        return struct.pack("<I", sign | bits)
    if d.nan:
        return struct.pack("<d", float("nan"))
    if d.inf:
        return struct.pack("<d", float("-inf") if d.negative else float("inf"))
    v = float("%s%se%d" % ("-" if d.negative else "", d.digits or "0", d.scale - exponent))
    if v in (float("inf"), float("-inf")):
        raise OutOfRange("%s is out of range for float64%s (at most \u00b11.8e308)" % (text, big))
    return struct.pack("<d", v)


def _encode_boolean(text: str) -> bytes:
    low = text.lower()
    if low == "true" or text == "1":
        return b"\x01"
    if low == "false" or text == "0":
        return b"\x00"
    raise BadValue("expected true or false for boolean, got '%s'" % text)


def _number_text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)  # decimal.Decimal and the like


def _valid_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
        return True
    except UnicodeDecodeError:
        return False


def _check_length(data: bytes, what: str = "value") -> bytes:
    if len(data) > MAX_LENGTH:
        raise TooLong("the %s is %d bytes, over the limit of %d" % (what, len(data), MAX_LENGTH))
    return data


def encode(value: Value, fmt: Optional[str] = None, exponent: int = 0, char_id: str = "") -> bytes:
    """The bytes the daemon would store for value on a characteristic of
    Format fmt (a ``Format=`` name, ``None`` or ``"none"`` for none) and
    Exponent exponent.

    - bytes, bytearray, memoryview: as they are (for ``utf8``, valid UTF-8);
    - str: a number's text for number formats (``"24.58"``, ``"0x10"``,
      ``"-3"``), ``true``/``false``/``1``/``0`` for ``boolean``, otherwise its
      UTF-8 bytes (``utf8`` and characteristics without a Format);
    - int, float, decimal.Decimal: for number formats, by the rule above;
    - bool: for ``boolean`` (and as 1 or 0 for numbers).

    Raises BadValue, OutOfRange or TooLong with the daemon's message."""
    fmt = _format_name(fmt)
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if fmt == "utf8" and not _valid_utf8(data):
            raise BadValue("%r is not valid UTF-8, which utf8 needs" % data)
        return _check_length(data)
    if fmt == "none":
        if isinstance(value, str):
            return _check_length(value.encode("utf-8"), "string")
        if isinstance(value, (int, float)) or type(value).__name__ == "Decimal":
            raise BadValue("%s has no Format: give hex bytes or a quoted string, not the number %s"
                           % (char_id or "the characteristic", _number_text(value)))
        raise BadValue("expected bytes or text, got %s" % type(value).__name__)
    if fmt == "utf8":
        if isinstance(value, str):
            return _check_length(value.encode("utf-8"))
        return _check_length(_number_text(value).encode("utf-8"))
    if not isinstance(value, (str, int, float)) and type(value).__name__ != "Decimal":
        raise BadValue("expected a number for %s, got %s" % (fmt, type(value).__name__))
    text = value if isinstance(value, str) else _number_text(value)
    if fmt == "boolean":
        return _encode_boolean(text)
    if fmt in _INTEGERS:
        return _encode_integer(text, fmt, exponent)
    return _encode_float(text, fmt, exponent)


def _shortest_float(data: bytes, fmt: str, exponent: int) -> float:
    v = struct.unpack("<f" if fmt == "float32" else "<d", data)[0]
    if v != v or v in (float("inf"), float("-inf")):
        return v
    for p in range(1, 10 if fmt == "float32" else 18):
        s = "%.*e" % (p - 1, v)
        if _encode_float(s, fmt, 0) == data:
            break
    if exponent:
        return float(decimal.Decimal(s).scaleb(exponent))
    return float(s)


def decode(data: bytes, fmt: Optional[str] = None, exponent: int = 0):
    """A value's Python form by its Format, as ``ble-peripheralctl`` shows it:
    an int (a float with a negative exponent: 2458 with exponent -2 is 24.58),
    a float, a bool, a str (``utf8``); bytes when there is no Format or the
    bytes do not fit it (wrong size, invalid UTF-8, a boolean not 0 or 1)."""
    fmt = _format_name(fmt)
    data = bytes(data)
    size, signed = FORMATS[fmt]
    if fmt == "utf8":
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            return data
    if fmt == "none" or size != len(data):
        return data
    if fmt == "boolean":
        return {0: False, 1: True}.get(data[0], data)
    if fmt in _FLOATS:
        return _shortest_float(data, fmt, exponent)
    raw = int.from_bytes(data, "little", signed=signed)
    if exponent >= 0:
        return raw * 10 ** exponent
    return float(_integer_display(raw < 0, abs(raw), exponent))


_ESCAPES = ["\\x%02x" % b for b in range(256)]
for _b in range(0x20, 0x7F):
    _ESCAPES[_b] = chr(_b)
_ESCAPES[ord('"')] = '\\"'
_ESCAPES[ord("\\")] = "\\\\"


def to_token(data: bytes, fmt: Optional[str] = None) -> str:
    """One word of a request that carries exactly data: hex bytes for a
    characteristic without a Format, a quoted string otherwise (where a bare
    word would be read as a number or as text); ``""`` when empty."""
    if not data:
        return '""'
    if fmt is None or fmt == "none":
        return data.hex()
    return '"' + "".join([_ESCAPES[b] for b in data]) + '"'


def from_token(word: str) -> bytes:
    """The bytes of a value in a reply or event (lower-case hex, ``""``)."""
    if word == '""':
        return b""
    return bytes.fromhex(word)
