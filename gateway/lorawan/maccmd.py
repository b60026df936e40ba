"""LoRaWAN 1.0.x MAC commands the network sends for data-rate management, and their answers.

Layouts (LoRaWAN 1.0.3 §5.3, §5.5; 1.0.4 §5.3, §5.5), all little-endian:
  LinkADRReq  0x03 | DataRate_TXPower (DR bits 7:4, TXPower bits 3:0) | ChMask u16 | Redundancy
              (RFU bit 7, ChMaskCntl bits 6:4, NbTrans bits 3:0)
  LinkADRAns  0x03 | Status (bit 2 power ACK, bit 1 data rate ACK, bit 0 channel mask ACK)
  DevStatusReq 0x06
  DevStatusAns 0x06 | Battery (0 external power, 1..254 level, 255 unknown) | Margin (6-bit signed SNR dB)
and the Join-Accept's CFList (§6.2.5 / RP002 EU863-870 §2.4.4): five frequencies of 3 bytes each in
units of 100 Hz, then CFListType 0.

Everything is checked against the EU868 tables of edge/lora.py, so a request can never name a data
rate, power or channel the region does not have.
"""

from __future__ import annotations

from dataclasses import dataclass

from edge import lora
from gateway.lorawan.errors import MACCommandError

LINK_ADR = 0x03
DEV_STATUS = 0x06
DEV_STATUS_REQ = bytes((DEV_STATUS,))
FOPTS_MAX = 15  # FOptsLen is 4 bits (LoRaWAN 1.0.x §4.3.1)

# RP002 EU863-870 TXPower: index 0 = max EIRP (16 dBm), each step 2 dB less, down to 7 = max - 14 dB.
EU868_MAX_EIRP_DBM = 16
EU868_MAX_TX_POWER = 7
# The highest data rate ADR assigns: DR5 (SF7/125 kHz); DR6 (250 kHz) is not in every node's plan.
ADR_MAX_DR = 5
# ChMaskCntl values meaningful in EU868: 0 = ChMask applies to channels 0..15, 6 = all defined on.
CH_MASK_CNTL_BANK = 0
CH_MASK_CNTL_ALL_ON = 6
# The five extra EU868 channels this network adds in the CFList (867.1..867.9 MHz, sub-band 865-868 MHz).
EU868_CFLIST_CHANNELS = (867100000, 867300000, 867500000, 867700000, 867900000)
EU868_CHANNELS = lora.EU868_DEFAULT_CHANNELS + EU868_CFLIST_CHANNELS


@dataclass(frozen=True)
class LinkADRReq:
    dr: int
    tx_power: int
    ch_mask: int
    ch_mask_cntl: int = CH_MASK_CNTL_BANK
    nb_trans: int = 1


@dataclass(frozen=True)
class LinkADRAns:
    power_ack: bool
    dr_ack: bool
    ch_mask_ack: bool

    @property
    def accepted(self) -> bool:
        return self.power_ack and self.dr_ack and self.ch_mask_ack


@dataclass(frozen=True)
class DevStatusAns:
    battery: int  # 0 external power, 1..254 level, 255 the device could not measure
    margin_db: int  # SNR of the last DevStatusReq as the device received it, -32..31


def _in_eu868(freq_hz: int) -> bool:
    try:
        lora.eu868_subband(freq_hz)
    except lora.RadioError:
        return False
    return True


def eu868_channel_mask(n_channels: int = len(EU868_CHANNELS)) -> int:
    """The ChMask enabling the first n channels of the EU868 plan (3 defaults then the CFList)."""
    if n_channels < 1 or n_channels > len(EU868_CHANNELS):
        raise MACCommandError("EU868 plan has 1..%d channels" % len(EU868_CHANNELS))
    return (1 << n_channels) - 1


def _check_link_adr(req: LinkADRReq, channels: int) -> None:
    if not 0 <= req.dr < len(lora.EU868_DR):
        raise MACCommandError("LinkADRReq data rate %d outside EU868 DR0..DR%d" % (req.dr, len(lora.EU868_DR) - 1))
    if not 0 <= req.tx_power <= EU868_MAX_TX_POWER:
        raise MACCommandError("LinkADRReq TXPower %d outside EU868 0..%d" % (req.tx_power, EU868_MAX_TX_POWER))
    if req.ch_mask_cntl == CH_MASK_CNTL_BANK:
        if req.ch_mask == 0 or req.ch_mask >> channels:
            raise MACCommandError("LinkADRReq ChMask 0x%04x outside the %d channels" % (req.ch_mask, channels))
    elif req.ch_mask_cntl != CH_MASK_CNTL_ALL_ON:
        raise MACCommandError("LinkADRReq ChMaskCntl %d is RFU in EU868" % req.ch_mask_cntl)
    if not 0 <= req.nb_trans <= 15:
        raise MACCommandError("LinkADRReq NbTrans %d outside 0..15" % req.nb_trans)


def build_link_adr_req(req: LinkADRReq, channels: int = len(EU868_CHANNELS)) -> bytes:
    """The 5 bytes of a LinkADRReq; MACCommandError for anything outside the EU868 tables."""
    _check_link_adr(req, channels)
    redundancy = (req.ch_mask_cntl << 4) | req.nb_trans
    return bytes((LINK_ADR, (req.dr << 4) | req.tx_power, req.ch_mask & 0xFF, req.ch_mask >> 8, redundancy))


def parse_link_adr_req(payload: bytes, channels: int = len(EU868_CHANNELS)) -> LinkADRReq:
    """The 4-byte LinkADRReq payload (after the CID) as the end device reads it, checked like it builds."""
    if len(payload) != 4:
        raise MACCommandError("LinkADRReq payload is 4 bytes, got %d" % len(payload))
    if payload[3] & 0x80:
        raise MACCommandError("LinkADRReq RFU bit set")
    req = LinkADRReq(
        dr=payload[0] >> 4,
        tx_power=payload[0] & 0x0F,
        ch_mask=payload[1] | (payload[2] << 8),
        ch_mask_cntl=(payload[3] >> 4) & 0x07,
        nb_trans=payload[3] & 0x0F,
    )
    _check_link_adr(req, channels)
    return req


def build_link_adr_ans(ans: LinkADRAns) -> bytes:
    return bytes((LINK_ADR, (ans.power_ack << 2) | (ans.dr_ack << 1) | int(ans.ch_mask_ack)))


def parse_link_adr_ans(payload: bytes) -> LinkADRAns:
    if len(payload) != 1:
        raise MACCommandError("LinkADRAns payload is 1 byte, got %d" % len(payload))
    status = payload[0]
    if status & 0xF8:
        raise MACCommandError("LinkADRAns RFU bits set: 0x%02x" % status)
    return LinkADRAns(bool(status & 4), bool(status & 2), bool(status & 1))


def build_dev_status_ans(ans: DevStatusAns) -> bytes:
    if not 0 <= ans.battery <= 255 or not -32 <= ans.margin_db <= 31:
        raise MACCommandError("DevStatusAns battery 0..255, margin -32..31 dB")
    return bytes((DEV_STATUS, ans.battery, ans.margin_db & 0x3F))


def parse_dev_status_ans(payload: bytes) -> DevStatusAns:
    if len(payload) != 2:
        raise MACCommandError("DevStatusAns payload is 2 bytes, got %d" % len(payload))
    if payload[1] & 0xC0:
        raise MACCommandError("DevStatusAns margin RFU bits set: 0x%02x" % payload[1])
    margin = payload[1] & 0x3F
    return DevStatusAns(payload[0], margin - 64 if margin >= 32 else margin)


def build_cflist(freqs_hz: tuple[int, ...] = EU868_CFLIST_CHANNELS) -> bytes:
    """The 16-byte CFList of frequencies (type 0); unused slots are 0 (channel disabled)."""
    if len(freqs_hz) > 5:
        raise MACCommandError("a CFList holds at most 5 frequencies")
    out = bytearray()
    for f in freqs_hz:
        if f % 100 or not _in_eu868(f):
            raise MACCommandError("CFList frequency %d Hz not an EU868 100 Hz step" % f)
        out += (f // 100).to_bytes(3, "little")
    out += bytes(3 * (5 - len(freqs_hz)))
    out.append(0)  # CFListType 0: frequencies
    return bytes(out)


def parse_cflist(cflist: bytes) -> tuple[int, ...]:
    """Frequencies (Hz) of a type-0 CFList, zero slots dropped."""
    if len(cflist) != 16:
        raise MACCommandError("CFList is 16 bytes, got %d" % len(cflist))
    if cflist[15] != 0:
        raise MACCommandError("CFListType %d is not a frequency list" % cflist[15])
    out = []
    for i in range(5):
        f = int.from_bytes(cflist[3 * i : 3 * i + 3], "little") * 100
        if f:
            if not _in_eu868(f):
                raise MACCommandError("CFList frequency %d Hz outside EU868" % f)
            out.append(f)
    return tuple(out)


def fit_fopts(pending: list[bytes], already: bytes = b"") -> tuple[bytes, list[bytes]]:
    """Pack whole commands after ``already`` while FOpts stays within 15 bytes; return (FOpts, left over)."""
    fopts = bytes(already)
    rest: list[bytes] = []
    for cmd in pending:
        if not rest and len(fopts) + len(cmd) <= FOPTS_MAX:
            fopts += cmd
        else:
            rest.append(cmd)
    return fopts, rest


# CID -> (name, payload length) for commands sent by the network (downlink direction), LoRaWAN 1.0.x §5.
DOWNLINK_COMMANDS = {
    0x02: ("LinkCheckAns", 2),
    0x03: ("LinkADRReq", 4),
    0x04: ("DutyCycleReq", 1),
    0x05: ("RXParamSetupReq", 4),
    0x06: ("DevStatusReq", 0),
    0x07: ("NewChannelReq", 5),
    0x08: ("RXTimingSetupReq", 1),
    0x09: ("TxParamSetupReq", 1),
    0x0A: ("DlChannelReq", 4),
    0x0D: ("DeviceTimeAns", 5),
}


def parse_downlink_commands(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """Split a downlink's FOpts / FPort-0 payload into (CID, payload) pairs, as an end device does.

    Returns the commands and the count of bytes left unparsed: an unknown CID or a truncated command
    ends the walk (its length is unknown, so nothing after it can be trusted), LoRaWAN 1.0.4 §5.
    """
    out: list[tuple[int, bytes]] = []
    pos = 0
    while pos < len(data):
        spec = DOWNLINK_COMMANDS.get(data[pos])
        if spec is None or pos + 1 + spec[1] > len(data):
            return out, len(data) - pos
        out.append((data[pos], bytes(data[pos + 1 : pos + 1 + spec[1]])))
        pos += 1 + spec[1]
    return out, 0
