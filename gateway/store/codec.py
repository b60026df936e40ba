"""Compact row encodings of the buffer: readings as small CBOR integers, uplinks as a packed struct.

Readings of one row (one uplink, or one batch of local readings of one device) are stored as a
CBOR array with one array per reading: ``[seq, rx - t, index, raw, index, raw, ...]`` where index is
the quantity's wire index in edge.vocab and raw = value in resolution steps, rounded by the node
payload's rule (edge.payload.to_steps), so node readings round-trip exactly
(value = raw * num / den, the node payload decoder's formula). A six-value reading takes about 20
bytes instead of the ~110 of JSON.
"""

import math
import struct
import time
from collections.abc import Sequence

import cbor2

from edge import lora, vocab
from edge.payload import to_steps
from gateway.store.records import Reading, Uplink

_HEX = frozenset("0123456789abcdef")
# A row's uplink (meta), format 2: fcnt, received_at's milliseconds past the row's rx second,
# gateway_eui, rssi and snr as half floats (exact in the SX1301's 0.25 dB steps, within 0.125 dB
# below -128 dBm), freq_hz, form; then the datr text if form has no code for it, DevAddr and FPort
# if form says so, and the PHYPayload. About 23 bytes before the PHYPayload against format 1's 46:
# the row falls from ~118 to ~95 bytes, five rows a 512-byte page instead of four.
FORMAT = 2
_META = struct.Struct("<IH8seeIB")
_ADDR_PORT = struct.Struct("<4sB")
_CODE_MASK = 0x1F  # form: 1 + index in _DATR, or 0 = length-prefixed text follows
_EXPLICIT = 0x80  # form: DevAddr and FPort follow (the uplink's differ from its PHYPayload's)
_DATR = [lora.format_datr(sf, bw) for sf in range(5, 13) for bw in (125000, 250000, 500000)]
_DATR_CODE = {text: i + 1 for i, text in enumerate(_DATR)}
# format 1 (files written before): dev_addr, fcnt, fport, received_at, gateway_eui, rssi, snr, freq, len(datr)
_META_V1 = struct.Struct("<4sIBd8sffIB")


_SCALE = {q[2]: (q[0], q[4], q[5]) for q in vocab.QUANTITIES}  # wire index -> (name, num, den)


Row = tuple[str, int, int, bytes, "bytes | None"]  # (dev_eui, rx, n, data, meta) as the buffer inserts them


class BadRecord(ValueError):
    """A reading or uplink that cannot be stored: the message names the field and the reason."""


def check_eui(name: str, eui: str) -> None:
    if len(eui) != 16 or not set(eui) <= _HEX:
        raise BadRecord("%s must be 16 lower-case hex digits, got %r" % (name, eui))


def _raw(name: str, value: float) -> int:
    q = vocab.BY_NAME.get(name)
    if q is None:
        raise BadRecord("unknown quantity %r (not in edge.vocab)" % (name,))
    v = float(value)
    if not math.isfinite(v):
        raise BadRecord("%s is not a finite number: %r" % (name, value))
    return to_steps(v, q[4], q[5])


def encode_readings(rx: int, readings: Sequence[Reading]) -> bytes:
    rows = []
    for r in readings:
        item: list[int] = [r.seq, rx - r.t]
        for name, value in r.values.items():
            item.append(vocab.BY_NAME[name][2] if name in vocab.BY_NAME else -1)
            item.append(_raw(name, value))
        rows.append(item)
    return cbor2.dumps(rows)


def decode_readings(rx: int, data: bytes) -> list[tuple[int, int, dict[str, float]]]:
    """(seq, t, values) of each reading of a row."""
    out = []
    by_index = _SCALE
    for item in cbor2.loads(data):
        values = {}
        for index, raw in zip(item[2::2], item[3::2], strict=True):
            name, num, den = by_index[index]
            values[name] = raw * num / den
        out.append((item[0], rx - item[1], values))
    return out


def _addr_port(phy: bytes) -> tuple[str, int] | None:
    """DevAddr (display order) and FPort (0 when absent) as the PHYPayload carries them: MHDR 1,
    DevAddr 4 (little-endian), FCtrl 1 (FOptsLen in its low 4 bits), FCnt 2, FOpts, FPort, ..., MIC 4
    (LoRaWAN 1.0.4 section 4). None when it is too short to hold them."""
    if len(phy) < 12:
        return None
    port_at = 8 + (phy[5] & 0x0F)
    return phy[4:0:-1].hex(), phy[port_at] if len(phy) > port_at + 4 else 0


def encode_uplink(u: Uplink, version: int = FORMAT) -> bytes:
    """The uplink as a row's meta (format 2: what the PHYPayload says is not repeated; format 1
    for a file that could not be upgraded)."""
    try:
        if version == 1:
            return _META_V1.pack(bytes.fromhex(u.dev_addr), u.fcnt, u.fport, u.received_at,
                                 bytes.fromhex(u.gateway_eui), u.rssi, u.snr, u.freq_hz,
                                 len(u.datr)) + u.datr.encode("ascii") + bytes(u.phy)  # fmt: skip
        phy = bytes(u.phy)
        ms = int((u.received_at - int(u.received_at)) * 1000 + 0.5)  # past the row's rx second
        ms = 999 if ms > 999 else 0 if ms < 0 else ms
        form = _DATR_CODE.get(u.datr, 0)
        tail = b"" if form else _text(u.datr)
        if _addr_port(phy) != (u.dev_addr, u.fport):  # not what the frame says: kept as given
            form |= _EXPLICIT
            tail += _ADDR_PORT.pack(bytes.fromhex(u.dev_addr), u.fport)
        head = _META.pack(u.fcnt, ms, bytes.fromhex(u.gateway_eui), u.rssi, u.snr, u.freq_hz, form)
    except (ValueError, OverflowError, struct.error, UnicodeEncodeError) as e:  # rssi 1e39 overflows
        raise BadRecord("uplink of %s cannot be stored: %s" % (u.dev_eui, e)) from None
    return head + tail + phy


def _text(datr: str) -> bytes:
    raw = datr.encode("ascii")
    if len(raw) > 255:
        raise ValueError("datr longer than 255 characters")
    return bytes((len(raw),)) + raw


def decode_uplink(dev_eui: str, rx: int, blob: bytes, version: int = FORMAT) -> Uplink:
    """The uplink of a row received at rx (its second) from its meta, in the file's format."""
    if version == 1:
        return _decode_v1(dev_eui, blob)
    fcnt, ms, gw, rssi, snr, freq, form = _META.unpack_from(blob)
    pos = _META.size
    if form & _CODE_MASK:
        datr = _DATR[(form & _CODE_MASK) - 1]
    else:
        datr = blob[pos + 1 : pos + 1 + blob[pos]].decode("ascii")
        pos += 1 + blob[pos]
    if form & _EXPLICIT:
        addr, fport = _ADDR_PORT.unpack_from(blob, pos)
        dev_addr = addr.hex()
        pos += _ADDR_PORT.size
        phy = bytes(blob[pos:])
    else:
        phy = bytes(blob[pos:])
        dev_addr, fport = _addr_port(phy) or ("", 0)
    return Uplink(dev_eui, dev_addr, fcnt, fport, phy, rx + ms / 1000, gw.hex(), rssi, snr, freq, datr)


def _decode_v1(dev_eui: str, blob: bytes) -> Uplink:
    dev_addr, fcnt, fport, received_at, gw, rssi, snr, freq, n = _META_V1.unpack_from(blob)
    pos = _META_V1.size
    datr = blob[pos : pos + n].decode("ascii")
    phy = bytes(blob[pos + n :])
    return Uplink(dev_eui, dev_addr.hex(), fcnt, fport, phy, received_at, gw.hex(), rssi, snr, freq, datr)


def upgrade_meta(blob: bytes) -> bytes:
    """A format-1 meta in format 2 (the buffer's migration); ValueError if it cannot be read."""
    try:
        return encode_uplink(_decode_v1("0" * 16, blob))
    except (BadRecord, struct.error, UnicodeDecodeError) as e:
        raise ValueError("unreadable uplink record: %s" % e) from None


def encode_items(items: Sequence[tuple[Uplink | None, Sequence[Reading]]], version: int = FORMAT) -> list[Row]:
    """Rows (dev_eui, rx, n, data, meta) for uplinks with their readings and for local readings
    (uplink None: one row per device, dated now); BadRecord names what is invalid."""
    now = int(time.time())
    out: list[Row] = []
    for uplink, readings in items:
        if not readings:
            continue
        if uplink is not None:
            check_eui("uplink dev_eui", uplink.dev_eui)
            for r in readings:
                if r.dev_eui != uplink.dev_eui:
                    raise BadRecord("reading of %s inside an uplink of %s" % (r.dev_eui, uplink.dev_eui))
            rx = int(uplink.received_at)
            meta = encode_uplink(uplink, version)
            out.append((uplink.dev_eui, rx, len(readings), encode_readings(rx, readings), meta))
            continue
        by_dev: dict[str, list[Reading]] = {}
        for r in readings:
            check_eui("reading dev_eui", r.dev_eui)
            by_dev.setdefault(r.dev_eui, []).append(r)
        for eui, rs in by_dev.items():
            out.append((eui, now, len(rs), encode_readings(now, rs), None))
    return out
