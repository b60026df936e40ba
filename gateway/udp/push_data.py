"""PUSH_DATA (0x00): forwarder -> server, received packets and status; answered by PUSH_ACK.

    [version | token 2 | 0x00 | gateway EUI 8 | JSON {"rxpk": [...], "stat": {...}}]

One datagram may carry many rxpk. An rxpk that fails validation is reported on its own so the
good ones of the same datagram still go through.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from gateway.udp import jsonbody
from gateway.udp.errors import BadField, BadJSON, DatagramError, WrongSize
from gateway.udp.header import EUI_LEN, HEADER_LEN, PUSH_ACK, PUSH_DATA, Header, build_header, gateway_eui
from gateway.udp.rxpk import RxPacket, parse_rxpk

_BODY = HEADER_LEN + EUI_LEN
MAX_JSON = 65507 - _BODY  # the largest UDP payload over IPv4 (RFC 768, 16-bit length) less the header

# The `stat` fields of Semtech's PROTOCOL.TXT (and the SX1302 forwarder's temp), with the range kept;
# anything else a forwarder sends there is dropped, so a concentrator's status stays a few hundred bytes.
STAT_FIELDS = {
    "lati": (-90.0, 90.0),
    "long": (-180.0, 180.0),
    "alti": (-1000.0, 20000.0),  # m
    "rxnb": (0, 0xFFFFFFFF),  # radio packets received
    "rxok": (0, 0xFFFFFFFF),  # ... with a valid CRC
    "rxfw": (0, 0xFFFFFFFF),  # ... forwarded
    "ackr": (0.0, 100.0),  # % of upstream datagrams acknowledged
    "dwnb": (0, 0xFFFFFFFF),  # downlinks received
    "txnb": (0, 0xFFFFFFFF),  # packets emitted
    "temp": (-60.0, 150.0),  # concentrator temperature, °C
}
STAT_TIME_LEN = 32  # "2014-01-12 08:59:28 GMT"


@dataclass(frozen=True)
class PushData:
    header: Header
    gateway_eui: str
    rxpk: list[RxPacket]
    bad_rxpk: list[DatagramError] = field(default_factory=list)
    stat: dict[str, Any] | None = None


def parse_push_data(data: bytes, header: Header) -> PushData:
    eui = gateway_eui(data)
    if len(data) == _BODY:
        raise WrongSize("PUSH_DATA without its JSON object")
    obj = jsonbody.loads(data[_BODY:], "PUSH_DATA", MAX_JSON)
    if not isinstance(obj, dict):
        raise BadJSON("PUSH_DATA JSON is not an object")
    raw = obj.get("rxpk", [])
    stat = obj.get("stat")
    if not isinstance(raw, list) or (stat is not None and not isinstance(stat, dict)):
        raise BadField("PUSH_DATA rxpk must be a list and stat an object")
    good: list[RxPacket] = []
    bad: list[DatagramError] = []
    for item in raw:
        try:
            good.append(parse_rxpk(item))
        except DatagramError as e:
            bad.append(e)
    return PushData(header, eui, good, bad, None if stat is None else stat_summary(stat))


def stat_summary(stat: dict[str, Any]) -> dict[str, Any]:
    """The known fields of a `stat` object with a plausible value, nothing else."""
    out: dict[str, Any] = {}
    for key, (lo, hi) in STAT_FIELDS.items():
        v = stat.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and lo <= v <= hi:
            out[key] = v
    t = stat.get("time")
    if isinstance(t, str) and len(t) <= STAT_TIME_LEN and t.isprintable() and t.isascii():
        out["time"] = t
    return out


def build_push_ack(header: Header) -> bytes:
    return build_header(header.version, header.token, PUSH_ACK)


def build_push_data(version: int, token: bytes, eui: str, body: dict[str, Any]) -> bytes:
    """For scripted forwarders in tests, the simulator and the load generator."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    return build_header(version, token, PUSH_DATA) + bytes.fromhex(eui) + payload
