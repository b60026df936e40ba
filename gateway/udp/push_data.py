"""PUSH_DATA (0x00): forwarder -> server, received packets and status; answered by PUSH_ACK.

    [version | token 2 | 0x00 | gateway EUI 8 | JSON {"rxpk": [...], "stat": {...}}]

One datagram may carry many rxpk. An rxpk that fails validation is reported on its own so the
good ones of the same datagram still go through.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from gateway.udp.errors import BadField, BadJSON, DatagramError, WrongSize
from gateway.udp.header import EUI_LEN, HEADER_LEN, PUSH_ACK, PUSH_DATA, Header, build_header, gateway_eui
from gateway.udp.rxpk import RxPacket, parse_rxpk

_BODY = HEADER_LEN + EUI_LEN


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
    try:
        obj = json.loads(data[_BODY:])
    except (ValueError, RecursionError) as e:
        raise BadJSON("PUSH_DATA JSON: %s" % str(e)[:80]) from None
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
    return PushData(header, eui, good, bad, stat)


def build_push_ack(header: Header) -> bytes:
    return build_header(header.version, header.token, PUSH_ACK)


def build_push_data(version: int, token: bytes, eui: str, body: dict[str, Any]) -> bytes:
    """For scripted forwarders in tests, the simulator and the load generator."""
    payload = json.dumps(body, separators=(",", ":")).encode()
    return build_header(version, token, PUSH_DATA) + bytes.fromhex(eui) + payload
