"""PULL_RESP (0x03): server -> forwarder, one downlink to transmit.

    [version | token 2 | 0x03 | JSON {"txpk": {...}}]

txpk fields written: imme, tmst (µs counter of the concentrator), freq (MHz), rfch, powe (dBm),
modu, datr, codr, ipol (true: inverted polarity for end devices), size, data (base64), ncrc (true:
no CRC on downlinks). With protocol version 2 the forwarder answers with TX_ACK carrying the token.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from gateway.udp.header import PULL_RESP, build_header


@dataclass(frozen=True)
class TxPacket:
    tmst: int
    freq_hz: int
    datr: str
    phy: bytes
    power_dbm: int = 14
    codr: str = "4/5"
    rfch: int = 0

    def to_json(self) -> dict[str, object]:
        return {
            "imme": False,
            "tmst": self.tmst,
            "freq": round(self.freq_hz / 1e6, 6),
            "rfch": self.rfch,
            "powe": self.power_dbm,
            "modu": "LORA",
            "datr": self.datr,
            "codr": self.codr,
            "ipol": True,
            "size": len(self.phy),
            "data": base64.b64encode(self.phy).decode(),
            "ncrc": True,
        }


def build_pull_resp(version: int, token: bytes, tx: TxPacket) -> bytes:
    body = json.dumps({"txpk": tx.to_json()}, separators=(",", ":")).encode()
    return build_header(version, token, PULL_RESP) + body
