"""PULL_DATA (0x02): forwarder -> server keep-alive that opens the downlink path; answered by PULL_ACK.

    [version | token 2 | 0x02 | gateway EUI 8]

The datagram's source address is where PULL_RESP downlinks for this gateway go.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.udp.errors import WrongSize
from gateway.udp.header import EUI_LEN, HEADER_LEN, PULL_ACK, PULL_DATA, Header, build_header, gateway_eui


@dataclass(frozen=True)
class PullData:
    header: Header
    gateway_eui: str


def parse_pull_data(data: bytes, header: Header) -> PullData:
    eui = gateway_eui(data)
    if len(data) != HEADER_LEN + EUI_LEN:
        raise WrongSize("PULL_DATA of %d bytes (12 expected)" % len(data))
    return PullData(header, eui)


def build_pull_ack(header: Header) -> bytes:
    return build_header(header.version, header.token, PULL_ACK)


def build_pull_data(version: int, token: bytes, eui: str) -> bytes:
    return build_header(version, token, PULL_DATA) + bytes.fromhex(eui)
