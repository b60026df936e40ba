"""LoRaWAN 1.0.x PHYPayloads: typed frame objects, parsing and building.

Byte order of identifiers in this API: DevAddr, DevEUI and JoinEUI are bytes in display order
(most significant byte first, as printed on labels and in configs: ``bytes.fromhex("70b3d5...")``);
the air interface carries them little-endian and this module reverses them. JoinNonce, NetID,
DevNonce and frame counters are integers. Every malformed input raises a LoRaWANError subclass.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import NamedTuple

from gateway.lorawan import crypto
from gateway.lorawan.errors import (
    BadFrame,
    BadKey,
    FrameTooLong,
    FrameTooShort,
    LoRaWANError,
    MICError,
    UnsupportedMajor,
    UnsupportedMType,
)

MAX_PHY = 255  # a LoRa frame carries at most 255 bytes
MAX_FOPTS = 15
_DATA_MIN = 12  # MHDR 1 + DevAddr 4 + FCtrl 1 + FCnt 2 + MIC 4
_JOIN_REQUEST_LEN = 23
_JOIN_ACCEPT_LENS = (17, 33)  # without / with a 16-byte CFList


class MType(IntEnum):
    JOIN_REQUEST = 0
    JOIN_ACCEPT = 1
    UNCONFIRMED_UP = 2
    UNCONFIRMED_DOWN = 3
    CONFIRMED_UP = 4
    CONFIRMED_DOWN = 5
    REJOIN_REQUEST = 6
    PROPRIETARY = 7


_DATA_TYPES = (MType.UNCONFIRMED_UP, MType.UNCONFIRMED_DOWN, MType.CONFIRMED_UP, MType.CONFIRMED_DOWN)
_UPLINK_TYPES = (MType.UNCONFIRMED_UP, MType.CONFIRMED_UP)
_CONFIRMED_TYPES = (MType.CONFIRMED_UP, MType.CONFIRMED_DOWN)
_MTYPES = tuple(MType)  # by MHDR bits 7-5: indexing is cheaper than the enum's lookup by value


def _mhdr(mtype: MType) -> int:
    return (int(mtype) << 5) | 0  # major 0 = LoRaWAN R1


def _eui(value: bytes, name: str) -> bytes:
    if not isinstance(value, (bytes, bytearray)) or len(value) != 8:
        raise BadKey("%s must be 8 bytes (display order, MSB first)" % name)
    return bytes(value)


class DataFrame(NamedTuple):
    """An uplink or downlink data frame as it travels; frm_payload is still encrypted.

    Immutable; a named tuple rather than a frozen dataclass, whose __init__ costs about a
    microsecond more per frame (one setattr call for each of the 12 fields)."""

    mtype: MType
    dev_addr: bytes  # display order
    adr: bool
    adr_ack_req: bool  # uplink only (RFU on downlinks)
    ack: bool
    fpending: bool  # downlink FPending; on uplinks the ClassB bit
    fcnt16: int
    fopts: bytes
    fport: int | None
    frm_payload: bytes
    mic: bytes
    phy: bytes

    @property
    def uplink(self) -> bool:
        return self.mtype in _UPLINK_TYPES

    @property
    def confirmed(self) -> bool:
        return self.mtype in _CONFIRMED_TYPES

    def mic_ok(self, nwkskey: bytes, fcnt32: int) -> bool:
        return crypto.compute_mic(nwkskey, self.dev_addr, fcnt32, self.uplink, self.phy[:-4]) == self.mic

    def check_mic(self, nwkskey: bytes, fcnt32: int) -> None:
        if not self.mic_ok(nwkskey, fcnt32):
            raise MICError("MIC mismatch for DevAddr %s FCnt %d" % (self.dev_addr.hex(), fcnt32))

    def decrypt(self, nwkskey: bytes, appskey: bytes, fcnt32: int) -> bytes:
        """Plain FRMPayload: under the NwkSKey on FPort 0, under the AppSKey otherwise."""
        key = nwkskey if self.fport == 0 else appskey
        return crypto.encrypt_frm_payload(key, self.dev_addr, fcnt32, self.uplink, self.frm_payload)


@dataclass(frozen=True)
class JoinRequest:
    join_eui: bytes  # display order
    dev_eui: bytes  # display order
    dev_nonce: int
    mic: bytes
    phy: bytes

    def mic_ok(self, app_key: bytes) -> bool:
        return crypto.join_mic(app_key, self.phy[:-4]) == self.mic


@dataclass(frozen=True)
class EncryptedJoinAccept:
    """A join-accept as heard on air: only its length is known without the AppKey."""

    phy: bytes


@dataclass(frozen=True)
class JoinAccept:
    join_nonce: int
    net_id: int
    dev_addr: bytes  # display order
    dl_settings: int  # bit 7 OptNeg (1.1), bits 6-4 RX1DROffset, bits 3-0 RX2DataRate
    rx_delay: int  # seconds, 0 means 1
    cflist: bytes | None
    mic: bytes

    @property
    def rx1_delay_s(self) -> int:
        return (self.rx_delay & 0x0F) or 1


Frame = DataFrame | JoinRequest | EncryptedJoinAccept


def parse_phy(phy: bytes) -> Frame:
    """Parse a PHYPayload into a typed frame. Raises a LoRaWANError subclass on malformed input."""
    if not isinstance(phy, (bytes, bytearray)):
        raise LoRaWANError("PHYPayload must be bytes")
    phy = bytes(phy)
    if len(phy) < 1:
        raise FrameTooShort("empty PHYPayload")
    if len(phy) > MAX_PHY:
        raise FrameTooLong("PHYPayload of %d bytes exceeds %d" % (len(phy), MAX_PHY))
    mhdr = phy[0]
    if mhdr & 0x03:
        raise UnsupportedMajor("major version %d is not LoRaWAN R1" % (mhdr & 0x03))
    mtype = _MTYPES[mhdr >> 5]
    if mtype == MType.JOIN_REQUEST:
        return parse_join_request(phy)
    if mtype == MType.JOIN_ACCEPT:
        if len(phy) not in _JOIN_ACCEPT_LENS:
            raise BadFrame("join-accept of %d bytes (17 or 33 expected)" % len(phy))
        return EncryptedJoinAccept(phy)
    if mtype not in _DATA_TYPES:
        raise UnsupportedMType("message type %s is not handled" % mtype.name)
    return _parse_data(phy, mtype)


def _parse_data(phy: bytes, mtype: MType) -> DataFrame:
    n = len(phy)
    if n < _DATA_MIN:
        raise FrameTooShort("data frame of %d bytes (at least %d)" % (n, _DATA_MIN))
    addr_le, fctrl, fcnt16 = struct.unpack_from("<4sBH", phy, 1)
    fopts_len = fctrl & 0x0F
    fhdr_end = 8 + fopts_len
    if fhdr_end + 4 > n:
        raise FrameTooShort("FOptsLen %d does not fit a %d-byte frame" % (fopts_len, n))
    fport: int | None = None
    payload = b""
    if fhdr_end + 4 < n:
        fport = phy[fhdr_end]
        payload = phy[fhdr_end + 1 : -4]
        if fport == 0 and fopts_len:
            raise BadFrame("MAC commands both in FOpts and on FPort 0")
    # positional: mtype, dev_addr, adr, adr_ack_req, ack, fpending, fcnt16, fopts, fport, frm_payload, mic, phy
    return DataFrame(
        mtype, addr_le[::-1], bool(fctrl & 0x80), bool(fctrl & 0x40), bool(fctrl & 0x20), bool(fctrl & 0x10),
        fcnt16, phy[8:fhdr_end], fport, payload, phy[-4:], phy,
    )  # fmt: skip


def build_data_frame(
    *,
    nwkskey: bytes,
    appskey: bytes | None,
    dev_addr: bytes,
    fcnt32: int,
    uplink: bool,
    confirmed: bool = False,
    fport: int | None = None,
    payload: bytes = b"",
    fopts: bytes = b"",
    adr: bool = False,
    adr_ack_req: bool = False,
    ack: bool = False,
    fpending: bool = False,
) -> bytes:
    """Build an encrypted, MIC'd data frame (up or down, confirmed or not).

    payload is the plain FRMPayload; with fport None there is no FPort and no payload; FPort 0
    carries MAC commands encrypted with the NwkSKey (and FOpts must then be empty). fcnt32 is the
    full counter (FCntUp for uplinks, FCntDown for downlinks); its low 16 bits go on air.
    """
    dev_addr = crypto.check_dev_addr(dev_addr)
    if not 0 <= fcnt32 <= 0xFFFFFFFF:
        raise BadFrame("fcnt32 out of 0..2^32-1")
    if len(fopts) > MAX_FOPTS:
        raise BadFrame("FOpts longer than %d bytes" % MAX_FOPTS)
    if fport is None and payload:
        raise BadFrame("a payload needs an FPort")
    if fport is not None and not 0 <= fport <= 255:
        raise BadFrame("FPort out of 0..255")
    if fport == 0 and fopts:
        raise BadFrame("MAC commands both in FOpts and on FPort 0")
    if uplink:
        mtype = MType.CONFIRMED_UP if confirmed else MType.UNCONFIRMED_UP
    else:
        mtype = MType.CONFIRMED_DOWN if confirmed else MType.UNCONFIRMED_DOWN
    fctrl = (adr << 7) | ((adr_ack_req and uplink) << 6) | (ack << 5) | (fpending << 4) | len(fopts)
    msg = bytearray(struct.pack("<B4sBH", _mhdr(mtype), dev_addr[::-1], fctrl, fcnt32 & 0xFFFF))
    msg += fopts
    if fport is not None:
        key = nwkskey if fport == 0 else appskey
        if key is None:
            raise BadKey("appskey needed for FPort %d" % fport)
        msg.append(fport)
        msg += crypto.encrypt_frm_payload(key, dev_addr, fcnt32, uplink, payload)
    if len(msg) + 4 > MAX_PHY:
        raise FrameTooLong("frame of %d bytes exceeds %d" % (len(msg) + 4, MAX_PHY))
    return bytes(msg) + crypto.compute_mic(nwkskey, dev_addr, fcnt32, uplink, bytes(msg))


def build_join_request(app_key: bytes, join_eui: bytes, dev_eui: bytes, dev_nonce: int) -> bytes:
    """MHDR | JoinEUI | DevEUI | DevNonce | MIC, identifiers little-endian on air."""
    join_eui, dev_eui = _eui(join_eui, "join_eui"), _eui(dev_eui, "dev_eui")
    if not isinstance(dev_nonce, int) or not 0 <= dev_nonce <= 0xFFFF:
        raise BadKey("dev_nonce must be an integer of 16 bits")
    msg = struct.pack("<B8s8sH", _mhdr(MType.JOIN_REQUEST), join_eui[::-1], dev_eui[::-1], dev_nonce)
    return msg + crypto.join_mic(app_key, msg)


def parse_join_request(phy: bytes, app_key: bytes | None = None) -> JoinRequest:
    """Parse a join-request; with app_key, also check its MIC (MICError when wrong)."""
    phy = bytes(phy)
    if len(phy) < _JOIN_REQUEST_LEN:
        raise FrameTooShort("join-request of %d bytes (23 expected)" % len(phy))
    if len(phy) > _JOIN_REQUEST_LEN:
        raise FrameTooLong("join-request of %d bytes (23 expected)" % len(phy))
    if phy[0] != _mhdr(MType.JOIN_REQUEST):
        raise BadFrame("MHDR 0x%02x is not a join-request" % phy[0])
    join_eui, dev_eui, dev_nonce = struct.unpack_from("<8s8sH", phy, 1)
    req = JoinRequest(join_eui[::-1], dev_eui[::-1], dev_nonce, phy[-4:], phy)
    if app_key is not None and not req.mic_ok(app_key):
        raise MICError("join-request MIC mismatch for DevEUI %s" % req.dev_eui.hex())
    return req


def build_join_accept(
    app_key: bytes,
    join_nonce: int,
    net_id: int,
    dev_addr: bytes,
    dl_settings: int,
    rx_delay: int,
    cflist: bytes | None = None,
) -> bytes:
    """Encrypted join-accept PHYPayload.

    MIC = CMAC(AppKey, MHDR | JoinNonce | NetID | DevAddr | DLSettings | RxDelay | CFList); the
    fields after MHDR and the MIC are then 'encrypted' with AES *decryption* under the AppKey, so
    the device only needs AES encryption to read them.
    """
    dev_addr = crypto.check_dev_addr(dev_addr)
    for value, bits, name in ((join_nonce, 24, "join_nonce"), (net_id, 24, "net_id")):
        if not isinstance(value, int) or not 0 <= value < (1 << bits):
            raise BadKey("%s must be an integer of %d bits" % (name, bits))
    if not 0 <= dl_settings <= 0xFF or not 0 <= rx_delay <= 0xFF:
        raise BadFrame("dl_settings and rx_delay are single bytes")
    if cflist is not None and len(cflist) != 16:
        raise BadFrame("CFList must be 16 bytes")
    body = join_nonce.to_bytes(3, "little") + net_id.to_bytes(3, "little") + dev_addr[::-1]
    body += bytes((dl_settings, rx_delay)) + (cflist or b"")
    mhdr = bytes((_mhdr(MType.JOIN_ACCEPT),))
    mic = crypto.join_mic(app_key, mhdr + body)
    return mhdr + crypto.aes_decrypt(app_key, body + mic)


def decrypt_join_accept(app_key: bytes, phy: bytes) -> JoinAccept:
    """Decrypt a join-accept with the AppKey and check its MIC (MICError when wrong)."""
    phy = bytes(phy)
    if len(phy) not in _JOIN_ACCEPT_LENS:
        raise BadFrame("join-accept of %d bytes (17 or 33 expected)" % len(phy))
    if phy[0] != _mhdr(MType.JOIN_ACCEPT):
        raise BadFrame("MHDR 0x%02x is not a join-accept" % phy[0])
    plain = crypto.aes_encrypt(app_key, phy[1:])
    body, mic = plain[:-4], plain[-4:]
    if crypto.join_mic(app_key, phy[:1] + body) != mic:
        raise MICError("join-accept MIC mismatch")
    return JoinAccept(
        join_nonce=int.from_bytes(body[0:3], "little"),
        net_id=int.from_bytes(body[3:6], "little"),
        dev_addr=body[6:10][::-1],
        dl_settings=body[10],
        rx_delay=body[11],
        cflist=body[12:28] if len(body) > 12 else None,
        mic=mic,
    )
