"""Readings to a SenML pack (RFC 8428) in deterministic CBOR, as small as SenML allows.

Names: the base name of a device is ``urn:dev:eui:<dev_eui>:`` and the resolved name of a value is
that plus the quantity name of edge.vocab, e.g. ``urn:dev:eui:70b3d57ed0000001:pm2_5``. Times are
absolute unix seconds after resolution (bt + t). Resolved name and time are unique within what a
gateway sends: the platform's de-duplication key (RFC 8428 section 4.5).

Two record layouts, both plain SenML, chosen per device and batch: series when the device has more
than SERIES_ALWAYS_ABOVE readings in the message, otherwise whichever is shorter:
- series: per quantity, a first record {bn: name, bu: unit, bt: t0, v} then {t: t - t0, v} for
  each further reading; best for a backlog (many readings of one device);
- readings: a first record {bn: device prefix, bt: t0}, then per value {n, u, v} with t relative
  to bt when the reading's time differs; best for live traffic (one reading per device).

Units come from edge.vocab. µg/m³ is the secondary unit ``ug/m3`` of RFC 8798, so a pack holding
one carries bver 26 (RFC 9100: base version 10 plus feature code 4, secondary units).

Values: integers when integral; otherwise the shortest IEEE float (16, 32 or 64 bit) whose
value, rounded to the quantity's resolution, gives back the stored value. A float32 such as
21.3700008 stands for 21.37 (resolution 0.01): consumers round to the resolution of
docs/platform.md. Deterministic encoding: CBOR core deterministic encoding (RFC 8949 section 4.2:
shortest forms, map keys in bytewise order of their encodings), so equal input gives equal bytes.
"""

import math
import struct
from collections.abc import Iterable, Sequence

import cbor2

from edge import vocab
from gateway.forward import fastcbor

BVER = -1
BN = -2
BT = -3
BU = -4
N = 0
U = 1
V = 2
T = 6

SECONDARY_UNITS = frozenset({"ug/m3"})  # RFC 8798
BVER_SECONDARY_UNITS = 26  # RFC 9100: 10 | (1 << 4)
CONTENT_TYPE = "application/senml+cbor"
SERIES_ALWAYS_ABOVE = 4  # with more readings of a device in a message, series is shorter: skip the comparison

Reading = tuple[int, int, dict[str, float]]  # (seq, t, values), as the buffer returns them
_ORDER = {name: i for i, name in enumerate(vocab.NAMES)}


def _by_time(r: Reading) -> int:
    return r[1]


def base_name(dev_eui: str) -> str:
    return "urn:dev:eui:%s:" % dev_eui


def compact_value(name: str, value: float) -> float | int:
    """The shortest number that still identifies value at the quantity's resolution."""
    if value == int(value) and abs(value) < 2**53:
        return int(value)
    step = vocab.resolution(name) if name in vocab.BY_NAME else 0.0
    if step:
        for fmt in ("e", "f"):
            try:
                short = struct.unpack(fmt, struct.pack(fmt, value))[0]
            except OverflowError:
                continue
            if math.isfinite(short) and abs(short - value) < step / 20:
                return short
    return value


def at_resolution(name: str, value: float) -> float:
    """What a consumer does with a received value: round it to the quantity's resolution."""
    q = vocab.BY_NAME[name]
    x = value * q[5] / q[4]
    raw = int(x + 0.5) if x >= 0 else -int(0.5 - x)
    return raw * q[4] / q[5]


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
            v = compact_value(name, value)
            if first:
                records.append({BN: prefix + name, BU: vocab.unit(name), BT: t0, V: v})
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
            rec: dict[int, object] = {N: name, U: vocab.unit(name), V: compact_value(name, values[name])}
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
    units: set[str] = set()
    for dev_eui, readings in groups:
        recs = device_records(dev_eui, readings)
        for r in recs:
            for key in (U, BU):
                if key in r:
                    units.add(str(r[key]))
        records += recs
    if records and units & SECONDARY_UNITS:
        records[0][BVER] = BVER_SECONDARY_UNITS
    return _dumps(records)


class PackEncoder:
    """Encodes packs straight to bytes, identical to reference_pack; keep one per forwarder."""

    def __init__(self) -> None:
        self.cache = fastcbor.ValueCache(compact_value)

    def encode(self, groups: Iterable[tuple[str, Sequence[Reading]]]) -> bytes:
        cleaned = [(dev, _unique(rs)) for dev, rs in groups]
        kept = [(dev, rs) for dev, rs in cleaned if rs]
        bver = any(
            vocab.BY_NAME[name][1] in SECONDARY_UNITS for _, rs in kept for _, _, values in rs for name in values
        )
        records: list[bytes] = []
        for dev_eui, readings in kept:
            mark = bver and not records
            a = self._series(dev_eui, readings, mark)
            if len(readings) > SERIES_ALWAYS_ABOVE:
                records += a
                continue
            b = self._by_reading(dev_eui, readings, mark)
            records += a if sum(map(len, a)) <= sum(map(len, b)) else b
        return fastcbor.head(4, len(records)) + b"".join(records)

    def _series(self, dev_eui: str, readings: list[Reading], bver: bool) -> list[bytes]:
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
            v0 = c.value(name, points[0][1])
            first = [b"\xa4" if not bver else b"\xa5", fastcbor.K_V, v0]
            if bver:
                first += [fastcbor.K_BVER, fastcbor.integer(BVER_SECONDARY_UNITS)]
                bver = False
            first += [fastcbor.K_BN, c.text(prefix + name), fastcbor.K_BT, fastcbor.integer(t0),
                      fastcbor.K_BU, c.text(vocab.unit(name))]  # fmt: skip
            out.append(b"".join(first))
            value_of = c.value
            integer = fastcbor.integer
            out += [b"\xa2\x02" + value_of(name, v) + b"\x06" + integer(t - t0) for t, v in points[1:]]
        return out

    def _by_reading(self, dev_eui: str, readings: list[Reading], bver: bool) -> list[bytes]:
        c = self.cache
        out: list[bytes] = []
        t0 = min(t for _, t, _ in readings)
        for _, t, values in sorted(readings, key=lambda r: r[1]):
            for name in vocab.NAMES:
                if name not in values:
                    continue
                parts = [fastcbor.K_N, c.text(name), fastcbor.K_U, c.text(vocab.unit(name)),
                         fastcbor.K_V, c.value(name, values[name])]  # fmt: skip
                if t != t0:
                    parts += [fastcbor.K_T, fastcbor.integer(t - t0)]
                if not out:
                    if bver:
                        parts += [fastcbor.K_BVER, fastcbor.integer(BVER_SECONDARY_UNITS)]
                    parts += [fastcbor.K_BN, c.text(base_name(dev_eui)), fastcbor.K_BT, fastcbor.integer(t0)]
                out.append(fastcbor.head(5, len(parts) // 2) + b"".join(parts))
        return out


def encode_pack(groups: Iterable[tuple[str, Sequence[Reading]]], encoder: PackEncoder | None = None) -> bytes:
    """One SenML pack of several devices' readings (a device may appear once)."""
    return (encoder or PackEncoder()).encode(groups)


def count_values(groups: Iterable[tuple[str, Sequence[Reading]]]) -> int:
    return sum(len(values) for _, rs in groups for _, _, values in _unique(rs))


def resolve(pack: bytes) -> list[tuple[str, float, object, str | None]]:
    """(resolved name, time, value, unit) of every record: a reference resolver (RFC 8428 section 4.6)."""
    out = []
    bn, bt, bu = "", 0.0, None
    for rec in cbor2.loads(pack):
        bn = rec.get(BN, bn)
        bt = rec.get(BT, bt)
        bu = rec.get(BU, bu)
        out.append((bn + rec.get(N, ""), bt + rec.get(T, 0), rec.get(V), rec.get(U, bu)))
    return out
