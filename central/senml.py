"""What the ingest reads from a gateway's message: topic, pack, values (docs/platform.md only).

`resolve(payload)` applies SenML resolution (RFC 8428 section 4.6: bn, bt and bu carry forward to the
following records until changed; name = bn + n, time = bt + t, unit = u else bu) to a CBOR pack with
the integer labels of RFC 8428 section 6 and returns (dev_eui, quantity, time, value) tuples, the
value rounded to the quantity's resolution (edge/vocab.py), as docs/platform.md tells consumers to.
A value may be a CBOR integer, float or decimal fraction (tag 4, which cbor2 gives as Decimal).
Names are ``urn:dev:mac:<eui>:<quantity>`` or the older ``urn:dev:eui:<eui>:<quantity>`` (one key).
Values are stored in the vocabulary's unit: PM arrives in ``kg/m3`` (or ``ug/m3`` from older
gateways, with bver 26) and is stored in µg/m³, scaled by an exact power of ten.

Anything else raises PackError with a short reason (the dead-letter reason) and a detail; a pack is
used whole or not at all, so a message is either stored or kept as a dead letter, never half.
"""

from __future__ import annotations

import math
import re
import zlib
from decimal import Decimal

import cbor2

from edge import vocab

BVER, BN, BT, BU, N, U, V, T = -1, -2, -3, -4, 0, 1, 2, 6
KNOWN_BVER = (10, 26)  # RFC 8428 base version 10; 26 = 10 plus RFC 9100 feature 4, secondary units (ug/m3)
OTHER_VALUES = (3, 4, 5, 8)  # vs, vb, s, vd: no quantity of the vocabulary has such a value
RELATIVE_TIME_BELOW = 2**28  # RFC 8428 section 4.5.3: smaller times are relative to "now"; packs never use them
MAX_TIME = 2**35  # year 3058: later "times" are refused rather than handed to the database
MAX_INT = 2**53  # integers a double holds exactly (RFC 8428 section 6 asks values to survive that)
MAX_INFLATED = 16 << 20  # a deflated pack larger than this when inflated is refused, not inflated
EUI = re.compile("[0-9a-f]{16}")
_NAME = re.compile(r"urn:dev:(?:mac|eui):([0-9a-f]{16}):([a-z][a-z0-9_]*)\Z")
_STEP = {q[0]: (q[4], q[5]) for q in vocab.QUANTITIES}  # value = raw * num / den
_UNIT = {q[0]: q[1] for q in vocab.QUANTITIES}
# SenML units accepted for a vocabulary unit, with the power of ten that takes them to it
WIRE_UNITS = {"ug/m3": {"kg/m3": 9, "ug/m3": 0}}

Value = tuple[str, str, float, float]  # dev_eui, quantity, unix time, value


class PackError(ValueError):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__("%s: %s" % (reason, detail))
        self.reason = reason
        self.detail = detail


def parse_topic(root: str, topic: str) -> tuple[str, str]:
    """(gateway_id, leaf) of ``{root}/{gateway_id}/{leaf}``; leaf may hold slashes (``up/deflate``)."""
    prefix = root + "/"
    if not topic.startswith(prefix):
        raise PackError("bad_topic", "topic %r is not under %r" % (topic, root))
    gw, _, leaf = topic[len(prefix) :].partition("/")
    if not gw or not leaf:
        raise PackError("bad_topic", "topic %r has no gateway and leaf" % topic)
    return gw, leaf


def unpack(leaf: str, payload: bytes) -> list[Value]:
    """The values of an ``up`` or ``up/deflate`` message."""
    if leaf == "up/deflate":
        payload = inflate(payload)
    elif leaf != "up":
        raise PackError("bad_topic", "unknown data topic leaf %r (expected up or up/deflate)" % leaf)
    return resolve(payload)


def inflate(payload: bytes) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(payload, MAX_INFLATED)
    except zlib.error as e:
        raise PackError("bad_deflate", str(e)) from None
    if d.unconsumed_tail:
        raise PackError("bad_deflate", "inflates to more than %d bytes" % MAX_INFLATED)
    if not d.eof:
        raise PackError("bad_deflate", "truncated zlib stream")
    return out


def resolve(payload: bytes) -> list[Value]:
    try:
        pack = cbor2.loads(payload)
    except Exception as e:  # cbor2 raises several types for malformed input
        raise PackError("not_cbor", "%s: %s" % (type(e).__name__, e)) from None
    if not isinstance(pack, list) or not pack:
        raise PackError("not_senml", "a SenML pack is a non-empty array, got %s" % type(pack).__name__)
    bn, bt, bu = "", 0, None
    out: list[Value] = []
    subjects: dict[tuple[object, object, object], tuple[str, str, int, int, int]] = {}  # names repeat: resolve once
    for i, rec in enumerate(pack):
        if type(rec) is not dict:
            raise PackError("not_senml", "record %d is %s, not a map" % (i, type(rec).__name__))
        if BVER in rec and rec[BVER] not in KNOWN_BVER:
            raise PackError("bad_bver", "record %d has bver %r; this ingest reads %s" % (i, rec[BVER], KNOWN_BVER))
        bn = rec.get(BN, bn)
        bt = rec.get(BT, bt)
        bu = rec.get(BU, bu)
        key = (bn, rec.get(N, ""), rec.get(U, bu))
        sub = subjects.get(key)
        if sub is None:
            sub = subjects[key] = _subject(*key, i)
        eui, quantity, exp10, num, den = sub
        t = rec.get(T, 0)
        if type(bt) is int and type(t) is int and RELATIVE_TIME_BELOW <= bt + t < MAX_TIME:
            t = bt + t  # the usual case, checked without a call
        else:
            t = _time(bt, t, i)
        v = rec.get(V)
        if exp10 or not (type(v) is float and math.isfinite(v) or type(v) is int and -MAX_INT < v < MAX_INT):
            v = _value(rec, i, exp10)
        x = v * den / num  # round to the resolution, half away from zero
        raw = math.floor(x + 0.5) if x >= 0 else -math.floor(0.5 - x)
        out.append((eui, quantity, t, raw * num / den))
    return out


def _subject(bn: object, n: object, unit: object, i: int) -> tuple[str, str, int, int, int]:
    """(dev_eui, quantity, power of ten to the vocabulary unit, step num, step den) of a record."""
    if not isinstance(bn, str) or not isinstance(n, str):
        raise PackError("bad_name", "record %d: bn and n must be text" % i)
    m = _NAME.match(bn + n)
    if m is None:
        raise PackError("bad_name", "record %d: %r is not urn:dev:mac:<16 hex>:<quantity>" % (i, bn + n))
    eui, quantity = m.group(1), m.group(2)
    if quantity not in _STEP:
        raise PackError("unknown_quantity", "record %d: %r is not in the vocabulary" % (i, quantity))
    accepted = WIRE_UNITS.get(_UNIT[quantity], {_UNIT[quantity]: 0})
    if unit not in accepted:
        raise PackError("bad_unit", "record %d: %s in %r, expected %s" % (i, quantity, unit, " or ".join(accepted)))
    num, den = _STEP[quantity]
    return eui, quantity, accepted[unit], num, den


def _number(x: object) -> bool:
    return isinstance(x, (int, float, Decimal)) and not isinstance(x, bool)


def _finite(x: int | float | Decimal) -> bool:
    if isinstance(x, Decimal):
        return x.is_finite() and x.adjusted() < 300  # sNaN, NaN, inf, and beyond a double refused
    if isinstance(x, int):
        return -MAX_INT < x < MAX_INT
    return math.isfinite(x)


def _time(bt: object, t: object, i: int) -> float:
    if not _number(bt) or not _number(t):
        raise PackError("bad_time", "record %d: bt and t must be numbers" % i)
    if not _finite(bt) or not _finite(t):  # type: ignore[arg-type]
        raise PackError("bad_time", "record %d: time %r + %r is not an absolute unix time" % (i, bt, t))
    total = bt + t  # type: ignore[operator]
    if isinstance(total, Decimal):
        total = int(total) if total == total.to_integral_value() else float(total)
    if not RELATIVE_TIME_BELOW <= total < MAX_TIME:
        raise PackError("bad_time", "record %d: time %r is not an absolute unix time" % (i, total))
    return total


def _value(rec: dict, i: int, exp10: int) -> float:
    """The value of a record in the vocabulary's unit, before rounding; PackError when there is none."""
    if V not in rec:
        other = [k for k in OTHER_VALUES if k in rec]
        raise PackError("bad_value", "record %d has no numeric value%s" % (i, " (label %s)" % other if other else ""))
    v = rec[V]
    if not _number(v) or not _finite(v):
        raise PackError("bad_value", "record %d: value %r is not a finite number" % (i, v))
    if exp10:
        v = Decimal(v).scaleb(exp10)  # exact: Decimal(float) is the float's exact value
    return float(v)
