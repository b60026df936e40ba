"""One received radio packet (`rxpk` object of PUSH_DATA), validated into a typed record.

Fields used (Semtech PROTOCOL.TXT): tmst (concentrator µs counter at the end of reception, u32),
freq (MHz), stat (CRC status: 1 OK, -1 failed, 0 no CRC), modu ("LORA"/"FSK"), datr ("SF7BW125"
for LoRa), codr, rssi (dBm), lsnr (dB), size (bytes), data (base64 PHYPayload), chan, rfch, time.
"""

from __future__ import annotations

import binascii
import math
from datetime import datetime
from functools import lru_cache
from typing import Any, NamedTuple

from edge import lora
from gateway.udp.errors import BadBase64, BadField

MAX_PHY = 255
# Physical bounds of the numbers a packet forwarder reports; anything outside is a bad_field rxpk.
# SX1302 datasheet: sensitivity about -141 dBm at SF12, at most +10 dBm at the input; SNR down to
# -20 dB at SF12 (demodulation floor), well under +30 dB above the noise.
RSSI_DBM = (-200.0, 30.0)
LSNR_DB = (-50.0, 50.0)
FREQ_MHZ = (100.0, 3000.0)  # sub-GHz and 2.4 GHz LoRa concentrators


class RxPacket(NamedTuple):
    """Immutable; a named tuple rather than a frozen dataclass, whose __init__ costs about a
    microsecond more per rxpk (one setattr call per field)."""

    tmst: int
    freq_hz: int
    crc_status: int
    modulation: str
    datr: str
    codr: str
    rssi: float
    snr: float
    phy: bytes
    rfch: int
    time_unix: float | None = None  # concentrator's UTC time at the end of reception, when it sent one

    @property
    def bw_hz(self) -> int:
        """Bandwidth from datr ("SF9BW125" -> 125000), 0 when not LoRa."""
        return _lora_datr(self.datr)[1]

    @property
    def sf(self) -> int:
        """Spreading factor from datr ("SF9BW125" -> 9), 0 when not LoRa."""
        return _lora_datr(self.datr)[0]

    @property
    def lora_rate(self) -> tuple[int, int]:
        """(sf, bw_hz) in one look-up, (0, 0) when not LoRa."""
        return _lora_datr(self.datr)


def _lora_datr(datr: str) -> tuple[int, int]:
    """(SF, bandwidth Hz) of a LoRa datr, (0, 0) when it is none (FSK)."""
    # "SF12BW500" is the longest LoRa datr: longer text from the network is never cached
    return _parse_datr(datr) if len(datr) <= 9 else (0, 0)


@lru_cache(maxsize=64)  # a region has a handful of data rates; asked several times per uplink
def _parse_datr(datr: str) -> tuple[int, int]:
    try:
        return lora.parse_datr(datr)
    except lora.RadioError:
        return 0, 0


def _num(obj: dict[str, Any], key: str, default: float | None, bounds: tuple[float, float]) -> float:
    """A finite number within bounds (NaN, Infinity and 1e39 are valid JSON to Python, not here)."""
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise BadField("rxpk.%s must be a number" % key)
    if not (math.isfinite(value) and bounds[0] <= value <= bounds[1]):
        raise BadField("rxpk.%s %.6g out of range %g..%g" % (key, value, bounds[0], bounds[1]))
    return value


def _int(obj: dict[str, Any], key: str, default: int, lo: int, hi: int) -> int:
    value = obj.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise BadField("rxpk.%s must be an integer %d..%d" % (key, lo, hi))
    return value


def _utc_time(value: Any) -> float | None:
    """rxpk.time (ISO 8601 UTC, e.g. "2013-03-31T16:21:17.528002Z") as unix seconds.

    The field is optional and only a timestamp: a malformed one is treated as absent, and the
    packet keeps its data (the agent falls back to its own clock).
    """
    if not isinstance(value, str):
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return dt.timestamp() if dt.tzinfo is not None else None


def parse_rxpk(obj: Any) -> RxPacket:
    if not isinstance(obj, dict):
        raise BadField("rxpk entry is not an object")
    data = obj.get("data")
    if not isinstance(data, str):
        raise BadField("rxpk.data missing or not a string")
    if len(data) % 4:
        data += "=" * (-len(data) % 4)  # some forwarders omit the padding
    try:
        phy = binascii.a2b_base64(data, strict_mode=True)
    except (binascii.Error, ValueError) as e:
        raise BadBase64("rxpk.data: %s" % e) from None
    size = obj.get("size", len(phy))
    if size != len(phy):
        raise BadBase64("rxpk.size %r but data holds %d bytes" % (size, len(phy)))
    if len(phy) > MAX_PHY:
        raise BadField("rxpk of %d bytes exceeds %d" % (len(phy), MAX_PHY))
    # Each number is checked inline for the usual case (an int or float in range: a comparison
    # chain is False for NaN and infinities); anything else goes to the checker that names the error.
    get = obj.get
    tmst = get("tmst", 0)
    if type(tmst) is not int or not 0 <= tmst <= 0xFFFFFFFF:
        tmst = _int(obj, "tmst", 0, 0, 0xFFFFFFFF)
    freq = get("freq")
    if not ((type(freq) is float or type(freq) is int) and FREQ_MHZ[0] <= freq <= FREQ_MHZ[1]):
        freq = _num(obj, "freq", None, FREQ_MHZ)
    stat = get("stat", 1)  # CRC status: 1 OK, -1 failed, 0 no CRC
    if type(stat) is not int or not -1 <= stat <= 1:
        stat = _int(obj, "stat", 1, -1, 1)
    datr = get("datr", "")
    if not isinstance(datr, (str, int)):
        raise BadField("rxpk.datr must be a string (LoRa) or a number (FSK)")
    modu = get("modu", "LORA")
    codr = get("codr", "")
    rfch = get("rfch", 0)
    if type(rfch) is not int or not 0 <= rfch <= 255:
        rfch = _int(obj, "rfch", 0, 0, 255)
    if not isinstance(modu, str) or not isinstance(codr, str):
        raise BadField("rxpk.modu/codr must be strings")
    if type(datr) is not str:
        datr = str(datr)
    if modu == "LORA" and _lora_datr(datr) == (0, 0):
        raise BadField("rxpk.datr %r is not a LoRa data rate (SF5..SF12 with BW125, BW250 or BW500)" % datr)
    rssi = get("rssi", 0)
    if not ((type(rssi) is float or type(rssi) is int) and RSSI_DBM[0] <= rssi <= RSSI_DBM[1]):
        rssi = _num(obj, "rssi", 0, RSSI_DBM)
    snr = get("lsnr", 0)
    if not ((type(snr) is float or type(snr) is int) and LSNR_DB[0] <= snr <= LSNR_DB[1]):
        snr = _num(obj, "lsnr", 0, LSNR_DB)
    time_s = get("time")
    # positional: tmst, freq_hz, crc_status, modulation, datr, codr, rssi, snr, phy, rfch, time_unix
    return RxPacket(
        tmst, round(freq * 1e6), stat, modu, datr, codr, float(rssi), float(snr), phy, rfch,
        None if time_s is None else _utc_time(time_s),
    )  # fmt: skip
