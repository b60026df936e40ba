"""The 4-byte header every Semtech UDP packet-forwarder datagram starts with.

    [version 1 | token 2 | identifier 1]

Protocol versions 1 and 2 are accepted and answered in the version they came in. The token is
echoed unchanged, as two raw bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from gateway.udp.errors import BadHeader, BadVersion, UnknownType, WrongSize

VERSIONS = (1, 2)
PUSH_DATA = 0
PUSH_ACK = 1
PULL_DATA = 2
PULL_RESP = 3
PULL_ACK = 4
TX_ACK = 5
HEADER_LEN = 4
EUI_LEN = 8
NAMES = {
    PUSH_DATA: "PUSH_DATA",
    PUSH_ACK: "PUSH_ACK",
    PULL_DATA: "PULL_DATA",
    PULL_RESP: "PULL_RESP",
    PULL_ACK: "PULL_ACK",
    TX_ACK: "TX_ACK",
}


@dataclass(frozen=True)
class Header:
    version: int
    token: bytes  # 2 raw bytes, echoed as they came
    ident: int


def parse_header(data: bytes) -> Header:
    if len(data) < HEADER_LEN:
        raise BadHeader("datagram of %d bytes, shorter than the 4-byte header" % len(data))
    if data[0] not in VERSIONS:
        raise BadVersion("protocol version %d (1 or 2 expected)" % data[0])
    if data[3] not in NAMES:
        raise UnknownType("packet identifier 0x%02x" % data[3])
    return Header(data[0], bytes(data[1:3]), data[3])


def build_header(version: int, token: bytes, ident: int) -> bytes:
    return bytes((version,)) + token + bytes((ident,))


def gateway_eui(data: bytes) -> str:
    """The 8-byte gateway EUI after the header, as 16 lower-case hex digits."""
    if len(data) < HEADER_LEN + EUI_LEN:
        raise WrongSize("%s without its 8-byte gateway EUI" % NAMES[data[3]])
    return data[HEADER_LEN : HEADER_LEN + EUI_LEN].hex()
