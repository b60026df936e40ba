"""LoRaWAN 1.0.x MAC commands: parse what a device sends in FOpts (or on FPort 0), build answers.

The network answers LinkCheckReq (LinkCheckAns: demodulation margin, gateway count) and
DeviceTimeReq (DeviceTimeAns: GPS time at the end of the uplink). The other device-to-network
commands are answers to requests this gateway never sends; they are parsed so FOpts can be walked
and reported, and otherwise ignored.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from gateway.lorawan.errors import MACCommandError

LINK_CHECK = 0x02
DEVICE_TIME = 0x0D

# CID -> (name, payload length) for commands sent by the device (uplink direction).
UPLINK_COMMANDS = {
    0x02: ("LinkCheckReq", 0),
    0x03: ("LinkADRAns", 1),
    0x04: ("DutyCycleAns", 0),
    0x05: ("RXParamSetupAns", 1),
    0x06: ("DevStatusAns", 2),
    0x07: ("NewChannelAns", 1),
    0x08: ("RXTimingSetupAns", 0),
    0x09: ("TxParamSetupAns", 0),
    0x0A: ("DlChannelAns", 1),
    0x0D: ("DeviceTimeReq", 0),
}

# Demodulation floor (dB SNR) per spreading factor, the reference for LinkCheckAns' margin.
REQUIRED_SNR_DB = {7: -7.5, 8: -10.0, 9: -12.5, 10: -15.0, 11: -17.5, 12: -20.0}

GPS_EPOCH_UNIX = 315964800  # 1980-01-06T00:00:00Z
GPS_LEAP_SECONDS = 18  # GPS - UTC since 2017-01-01; no leap second announced since


@dataclass(frozen=True)
class MACCommand:
    cid: int
    name: str
    payload: bytes


def parse_uplink_commands(data: bytes) -> list[MACCommand]:
    """Split FOpts / an FPort-0 payload into commands; MACCommandError on unknown or truncated ones."""
    out: list[MACCommand] = []
    pos = 0
    while pos < len(data):
        cid = data[pos]
        spec = UPLINK_COMMANDS.get(cid)
        if spec is None:
            raise MACCommandError("unknown MAC command 0x%02x at byte %d" % (cid, pos))
        name, size = spec
        end = pos + 1 + size
        if end > len(data):
            raise MACCommandError("%s truncated at byte %d" % (name, pos))
        out.append(MACCommand(cid, name, bytes(data[pos + 1 : end])))
        pos = end
    return out


def link_check_ans(snr_db: float, sf: int, gateway_count: int) -> bytes:
    """LinkCheckAns: margin (dB above the demodulation floor, 0..254) and gateways that heard it."""
    floor = REQUIRED_SNR_DB.get(sf, -20.0)
    margin = max(0, min(254, int(snr_db - floor)))
    return struct.pack("<BBB", LINK_CHECK, margin, max(0, min(255, gateway_count)))


def device_time_ans(unix_time: float) -> bytes:
    """DeviceTimeAns: GPS seconds (u32) and fractional 1/256 s (u8) for the given UTC time."""
    gps = unix_time - GPS_EPOCH_UNIX + GPS_LEAP_SECONDS
    seconds = int(gps)
    frac = int((gps - seconds) * 256) & 0xFF
    return struct.pack("<BIB", DEVICE_TIME, seconds & 0xFFFFFFFF, frac)


def answers(commands: list[MACCommand], *, snr_db: float, sf: int, gateway_count: int, unix_time: float) -> bytes:
    """The FOpts of the next downlink answering the device's requests (empty when none asked)."""
    out = b""
    for cmd in commands:
        if cmd.cid == LINK_CHECK:
            out += link_check_ans(snr_db, sf, gateway_count)
        elif cmd.cid == DEVICE_TIME:
            out += device_time_ans(unix_time)
    return out
