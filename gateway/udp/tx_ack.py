"""TX_ACK (0x05, protocol v2): forwarder -> server, the fate of a PULL_RESP.

    [version | token 2 | 0x05 | gateway EUI 8 | optional JSON {"txpk_ack": {"error": "..."}}]

No JSON, an empty object or error "NONE" means the downlink was accepted for transmission. Errors
named by the protocol: TOO_LATE, TOO_EARLY, COLLISION_PACKET, COLLISION_BEACON, TX_FREQ, TX_POWER,
GPS_UNLOCKED. Some forwarders send "warn" instead of "error" for accepted downlinks.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.udp import jsonbody
from gateway.udp.errors import BadField, BadJSON
from gateway.udp.header import EUI_LEN, HEADER_LEN, Header, gateway_eui

_BODY = HEADER_LEN + EUI_LEN
OK = "NONE"
# The errors PROTOCOL.TXT names; any other string is reported as OTHER, so what a peer writes there
# never becomes a counter or log key of its own.
ERRORS = frozenset({OK, "TOO_LATE", "TOO_EARLY", "COLLISION_PACKET", "COLLISION_BEACON", "TX_FREQ", "TX_POWER",
                    "GPS_UNLOCKED"})  # fmt: skip
OTHER = "OTHER"
MAX_JSON = 1024  # {"txpk_ack":{"error":"COLLISION_BEACON"}} is 40 bytes


@dataclass(frozen=True)
class TxAck:
    header: Header
    gateway_eui: str
    error: str  # "NONE" when accepted

    @property
    def ok(self) -> bool:
        return self.error == OK


def parse_tx_ack(data: bytes, header: Header) -> TxAck:
    eui = gateway_eui(data)
    body = data[_BODY:].rstrip(b"\x00")
    if not body:
        return TxAck(header, eui, OK)
    obj = jsonbody.loads(body, "TX_ACK", MAX_JSON)
    if not isinstance(obj, dict):
        raise BadJSON("TX_ACK JSON is not an object")
    ack = obj.get("txpk_ack", {})
    if not isinstance(ack, dict):
        raise BadField("txpk_ack must be an object")
    error = ack.get("error", OK)
    if not isinstance(error, str):
        raise BadField("txpk_ack.error must be a string")
    return TxAck(header, eui, error if error in ERRORS else OTHER)
