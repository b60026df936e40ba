"""Direct CBOR encoding of SenML records, byte for byte what cbor2.dumps(records, canonical=True)
gives for the records of gateway.forward.senml (tests/forward/test_senml.py checks it), about ten
times faster: the drain rate depends on it.

SenML maps here have small integer keys; core deterministic order is by the bytes of the encoded
key: 0 n, 1 u, 2 v, 6 t, then -1 bver (0x20), -2 bn (0x21), -3 bt (0x22), -4 bu (0x23).
"""

import struct
from collections.abc import Callable
from decimal import Decimal

_F16 = struct.Struct(">e")
_F32 = struct.Struct(">f")
_F64 = struct.Struct(">d")

K_N, K_U, K_V, K_T = b"\x00", b"\x01", b"\x02", b"\x06"
K_BVER, K_BN, K_BT, K_BU = b"\x20", b"\x21", b"\x22", b"\x23"


def head(major: int, n: int) -> bytes:
    m = major << 5
    if n < 24:
        return bytes((m | n,))
    if n < 0x100:
        return bytes((m | 24, n))
    if n < 0x10000:
        return bytes((m | 25,)) + n.to_bytes(2, "big")
    if n < 0x100000000:
        return bytes((m | 26,)) + n.to_bytes(4, "big")
    return bytes((m | 27,)) + n.to_bytes(8, "big")


_SMALL = [head(0, n) for n in range(0, 4096)]


def integer(n: int) -> bytes:
    if 0 <= n < 4096:
        return _SMALL[n]
    return head(0, n) if n >= 0 else head(1, -1 - n)


def text(s: str) -> bytes:
    b = s.encode("utf-8")
    return head(3, len(b)) + b


def number(v: float | int | Decimal) -> bytes:
    """Shortest exact CBOR form of v: an int; the shortest float that is exactly v; a Decimal as a
    decimal fraction, tag 4 [exponent, mantissa] (RFC 8949 section 3.4.4), as cbor2 writes it."""
    if isinstance(v, int):
        return integer(v)
    if isinstance(v, Decimal):
        sign, digits, e = v.as_tuple()
        m = int("".join(map(str, digits)))
        return b"\xc4\x82" + integer(int(e)) + integer(-m if sign else m)
    try:
        b = _F16.pack(v)
        if _F16.unpack(b)[0] == v:
            return b"\xf9" + b
    except OverflowError:
        pass
    try:
        b = _F32.pack(v)
        if _F32.unpack(b)[0] == v:
            return b"\xfa" + b
    except OverflowError:
        pass
    return b"\xfb" + _F64.pack(v)


class ValueCache:
    """Encoded values per (quantity, value): readings repeat values at their resolution."""

    def __init__(self, compact: Callable[[str, float], float | int | Decimal], limit: int = 200_000) -> None:
        self._compact = compact
        self._limit = limit
        self._cache: dict[tuple[str, float], bytes] = {}
        self._text: dict[str, bytes] = {}

    def value(self, name: str, v: float) -> bytes:
        key = (name, v)
        b = self._cache.get(key)
        if b is None:
            if len(self._cache) >= self._limit:
                self._cache.clear()
            b = number(self._compact(name, v))
            self._cache[key] = b
        return b

    def text(self, s: str) -> bytes:
        b = self._text.get(s)
        if b is None:
            if len(self._text) >= 10_000:
                self._text.clear()
            b = self._text[s] = text(s)
        return b
