"""Readings to a SenML pack (RFC 8428) in deterministic CBOR, as small as SenML allows.

Names: the base name of a device is ``urn:dev:mac:<dev_eui>:`` (RFC 9039 section 4.1: an EUI-64
is a ``mac`` device URN) and the resolved name of a value is that plus the quantity name of
edge.vocab, e.g. ``urn:dev:mac:70b3d57ed0000001:pm2_5``. Times are absolute unix seconds after
resolution (bt + t). Resolved name and time are unique within what a gateway sends: the platform's
de-duplication key (RFC 8428 section 4.5).

Two record layouts, both plain SenML, chosen per device and batch: series when the device has more
than SERIES_ALWAYS_ABOVE readings in the message, otherwise whichever is shorter:
- series: per quantity, a first record {bn: name, bu: unit, bt: t0, v} then {t: t - t0, v} for
  each further reading; best for a backlog (many readings of one device);
- readings: a first record {bn: device prefix, bt: t0}, then per value {n, u, v} with t relative
  to bt when the reading's time differs; best for live traffic (one reading per device).

Units: SenML primary units only (RFC 8428 section 12.1). edge.vocab keeps PM in ug/m3, a secondary
unit that RFC 9100 section 4 allows in ``u`` but not in ``bu``: it is published as kg/m3, the
decimal exponent shifted by -9, which costs no byte. Packs therefore carry no bver (version 10).

Values are exact (RFC 8428 section 6: a value converts to the same double as its decimal): the
value at the quantity's resolution, as an integer when integral, else the shortest float that is
exactly it (48.5), else a decimal fraction, CBOR tag 4 [exponent, mantissa] (RFC 8949 section
3.4.4) with a mantissa not divisible by 10. Deterministic encoding: CBOR core deterministic
encoding (RFC 8949 section 4.2: shortest forms, map keys in bytewise order of their encodings), so
equal input gives equal bytes.
"""

from collections.abc import Iterable, Sequence
from decimal import Decimal

import cbor2

from edge import vocab
from edge.payload import to_steps
from gateway.forward import fastcbor

BVER = -1
BN = -2
BT = -3
BU = -4
N = 0
U = 1
V = 2
T = 6

# For SenML-JSON written with a unit per record (fieldtools): RFC 8798 secondary units are allowed in
# u, never in bu, and a pack using one declares version 26 (RFC 9100 section 4: 10 + feature 4).
SECONDARY_UNITS = frozenset({"ug/m3"})
BVER_SECONDARY_UNITS = 26
CONTENT_TYPE = "application/senml+cbor"
SERIES_ALWAYS_ABOVE = 4  # with more readings of a device in a message, series is shorter: skip the comparison
# SINGLE_READING_RULE: one reading of q >= 2 values, P = len(base name) >= 13, I = len(bt). Per
# value, series spends at least 1 + I + P bytes more than readings (its bn holds the base name, its
# bt a time, one more map pair); readings spends once 2 + h + P + I (bn and bt of its first record,
# h <= 5 the text head). q (1 + I + P) > 2 + h + P + I for q >= 2: readings is strictly shorter.

Reading = tuple[int, int, dict[str, float]]  # (seq, t, values), as the buffer returns them
_ORDER = {name: i for i, name in enumerate(vocab.NAMES)}
_MAP_HEADS = [fastcbor.head(5, n) for n in range(7)]  # a record has 3 to 6 pairs

# Published SenML unit and decimal exponent shift of a vocab unit that is not a SenML primary unit.
_PRIMARY = {"ug/m3": ("kg/m3", -9)}  # RFC 8798 section 5: ug/m3 = 1e-9 kg/m3
# The name prefix gateways published before RFC 9039 names; docs/platform.md says until when
# consumers accept it.
OLD_PREFIX = "urn:dev:eui:"
PREFIX = "urn:dev:mac:"


def _scale(q: tuple) -> tuple[int, int]:
    """(factor, exponent) with value = raw * factor * 10**exponent in the published unit: the
    smallest k with den dividing num * 10**k gives factor num * 10**k / den, exponent -k."""
    num, den = q[4], q[5]
    k = 0
    while num * 10**k % den:
        k += 1
    return num * 10**k // den, -k + _PRIMARY.get(q[1], ("", 0))[1]


_SCALE = {q[0]: _scale(q) for q in vocab.QUANTITIES}


def _by_time(r: Reading) -> int:
    return r[1]


def base_name(dev_eui: str) -> str:
    return PREFIX + dev_eui + ":"


def canonical_name(name: str) -> str:
    """A resolved name with the pre-RFC 9039 prefix mapped to the current one (transition)."""
    return PREFIX + name[len(OLD_PREFIX) :] if name.startswith(OLD_PREFIX) else name


def unit(name: str) -> str:
    """The SenML unit a quantity is published in."""
    u = vocab.unit(name)
    return _PRIMARY[u][0] if u in _PRIMARY else u


def raw_value(name: str, value: float) -> int:
    """The stored value as a count of resolution steps (the node payload's rounding)."""
    q = vocab.BY_NAME[name]
    return to_steps(value, q[4], q[5])


def exact_value(name: str, value: float) -> int | float | Decimal:
    """The value at the quantity's resolution, in its published unit, in the first exact form of
    docs/platform.md: integer, else a float that is exactly it, else a decimal fraction."""
    factor, e = _SCALE[name]
    m = raw_value(name, value) * factor
    while e < 0 and m and m % 10 == 0:
        m //= 10
        e += 1
    if not m:
        return 0
    if e >= 0:
        return m * 10**e
    if m % 5**-e == 0:  # m / 10**-e is a binary fraction: an exact float (integer division rounds right)
        return m / 10**-e
    return Decimal(m).scaleb(e)


def from_published(name: str, value: int | float | Decimal, published_unit: str | None) -> float:
    """A received value back in its vocab unit, as the nearest float: what a consumer stores."""
    u = vocab.unit(name)
    d = Decimal(value)
    if u in _PRIMARY and published_unit == _PRIMARY[u][0]:
        d = d.scaleb(-_PRIMARY[u][1])
    return float(d)


def _series(dev_eui: str, readings: Sequence[Reading]) -> list[dict[int, object]]:
    records: list[dict[int, object]] = []
    prefix = base_name(dev_eui)
    for name in vocab.NAMES:
        points = sorted((t, values[name]) for _, t, values in readings if name in values)
        if not points:
            continue
        t0 = points[0][0]
        first = True
        for t, value in points:
            v = exact_value(name, value)
            if first:
                records.append({BN: prefix + name, BU: unit(name), BT: t0, V: v})
                first = False
            else:
                records.append({T: t - t0, V: v})
    return records


def _by_reading(dev_eui: str, readings: Sequence[Reading]) -> list[dict[int, object]]:
    records: list[dict[int, object]] = []
    t0 = min(t for _, t, _ in readings)
    for _, t, values in sorted(readings, key=lambda r: r[1]):
        for name in vocab.NAMES:
            if name not in values:
                continue
            rec: dict[int, object] = {N: name, U: unit(name), V: exact_value(name, values[name])}
            if t != t0:
                rec[T] = t - t0
            if not records:
                rec[BN] = base_name(dev_eui)
                rec[BT] = t0
            records.append(rec)
    return records


def _dumps(obj: object) -> bytes:
    return cbor2.dumps(obj, canonical=True)


def device_records(dev_eui: str, readings: Sequence[Reading]) -> list[dict[int, object]]:
    """The records of one device's readings, in the shorter of the two layouts."""
    readings = _unique(readings)
    if not readings:
        return []
    a = _series(dev_eui, readings)
    if len(readings) > SERIES_ALWAYS_ABOVE:
        return a
    b = _by_reading(dev_eui, readings)
    return a if len(_dumps(a)) <= len(_dumps(b)) else b


def _unique(readings: Sequence[Reading]) -> list[Reading]:
    # two readings of one device with the same time would give two values with one key:
    # keep the one with the higher sequence number (a device that re-sends keeps its seq)
    by_t: dict[int, Reading] = {}
    for r in readings:
        old = by_t.get(r[1])
        if old is None or r[0] >= old[0]:
            by_t[r[1]] = r
    return list(by_t.values())


def reference_pack(groups: Iterable[tuple[str, Sequence[Reading]]]) -> bytes:
    """The pack built as dicts and encoded by cbor2 (canonical): the reference the fast encoder matches."""
    records: list[dict[int, object]] = []
    for dev_eui, readings in groups:
        records += device_records(dev_eui, readings)
    return _dumps(records)


class PackEncoder:
    """Encodes packs straight to bytes, identical to reference_pack; keep one per forwarder."""

    def __init__(self) -> None:
        self.cache = fastcbor.ValueCache(exact_value)
        self._names: dict[str, bytes] = {}  # quantity name -> its records' n, u and v key

    def encode(self, groups: Iterable[tuple[str, Sequence[Reading]]]) -> bytes:
        cleaned = [(dev, _unique(rs)) for dev, rs in groups]
        records: list[bytes] = []
        for dev_eui, readings in cleaned:
            if not readings:
                continue
            if len(readings) == 1 and len(readings[0][2]) > 1:
                records += self._by_reading(dev_eui, readings)  # always shorter here: SINGLE_READING_RULE
                continue
            a = self._series(dev_eui, readings)
            if len(readings) > SERIES_ALWAYS_ABOVE:
                records += a
                continue
            b = self._by_reading(dev_eui, readings)
            records += a if sum(map(len, a)) <= sum(map(len, b)) else b
        return fastcbor.head(4, len(records)) + b"".join(records)

    def _series(self, dev_eui: str, readings: list[Reading]) -> list[bytes]:
        c = self.cache
        out: list[bytes] = []
        prefix = base_name(dev_eui)
        series: dict[str, list[tuple[int, float]]] = {}
        for _, t, values in sorted(readings, key=_by_time):
            for name, value in values.items():
                pts = series.get(name)
                if pts is None:
                    series[name] = [(t, value)]
                else:
                    pts.append((t, value))
        for name in sorted(series, key=_ORDER.__getitem__):
            points = series[name]
            t0 = points[0][0]
            out.append(b"".join((b"\xa4", fastcbor.K_V, c.value(name, points[0][1]), fastcbor.K_BN,
                                 c.text(prefix + name), fastcbor.K_BT, fastcbor.integer(t0),
                                 fastcbor.K_BU, c.text(unit(name)))))  # fmt: skip
            value_of = c.value
            integer = fastcbor.integer
            out += [b"\xa2\x02" + value_of(name, v) + b"\x06" + integer(t - t0) for t, v in points[1:]]
        return out

    def _by_reading(self, dev_eui: str, readings: list[Reading]) -> list[bytes]:
        c = self.cache
        value, named = c.value, self._named
        out: list[bytes] = []
        t0 = min(t for _, t, _ in readings)
        for _, t, values in sorted(readings, key=lambda r: r[1]):
            names = [name for name in values if name in _ORDER]  # a name outside the vocabulary is left out
            if len(names) > 1:
                names.sort(key=_ORDER.__getitem__)
            for name in names:
                # a map of n, u, v (3 pairs) [, t] [, bn, bt] in the keys' order; head(5, n) is 0xa0 | n
                rec = named(name) + value(name, values[name])
                pairs = 3
                if t != t0:
                    rec += fastcbor.K_T + fastcbor.integer(t - t0)
                    pairs += 1
                if not out:
                    rec += fastcbor.K_BN + c.text(base_name(dev_eui)) + fastcbor.K_BT + fastcbor.integer(t0)
                    pairs += 2
                out.append(_MAP_HEADS[pairs] + rec)
        return out

    def _named(self, name: str) -> bytes:
        """n and u of a record, with the v key after them: the same bytes for every value of name."""
        b = self._names.get(name)
        if b is None:
            c = self.cache
            b = self._names[name] = fastcbor.K_N + c.text(name) + fastcbor.K_U + c.text(unit(name)) + fastcbor.K_V
        return b


def encode_pack(groups: Iterable[tuple[str, Sequence[Reading]]], encoder: PackEncoder | None = None) -> bytes:
    """One SenML pack of several devices' readings (a device may appear once)."""
    return (encoder or PackEncoder()).encode(groups)


def count_values(groups: Iterable[tuple[str, Sequence[Reading]]]) -> int:
    return sum(len(values) for _, rs in groups for _, _, values in _unique(rs))


def resolve(pack: bytes) -> list[tuple[str, float, object, str | None]]:
    """(resolved name, time, value, unit) of every record: a reference resolver (RFC 8428 section
    4.6), names of the pre-RFC 9039 form mapped to the current one."""
    out = []
    bn, bt, bu = "", 0.0, None
    for rec in cbor2.loads(pack):
        bn = rec.get(BN, bn)
        bt = rec.get(BT, bt)
        bu = rec.get(BU, bu)
        out.append((canonical_name(bn + rec.get(N, "")), bt + rec.get(T, 0), rec.get(V), rec.get(U, bu)))
    return out
