# LoRa radio facts shared by the node's uplink policy, the gateway (packet forwarder, downlinks,
# joins), the planner and the simulator: time on air, data-rate strings, EU868 tables.
from micropython import const

# LoRaWAN 1.0.x PHYPayload overhead around FRMPayload without FOpts:
# MHDR 1 + DevAddr 4 + FCtrl 1 + FCnt 2 + FPort 1 + MIC 4.
PHY_OVERHEAD = const(13)

# EU868 data rates (LoRaWAN Regional Parameters RP002, EU863-870): DR -> (SF, bandwidth Hz),
# and the largest FRMPayload N with no FOpts (51 at DR0-DR2, 115 at DR3, 222 at DR4-DR6).
EU868_DR = ((12, 125000), (11, 125000), (10, 125000), (9, 125000), (8, 125000), (7, 125000), (7, 250000))
EU868_MAX_PAYLOAD = (51, 51, 51, 115, 222, 222, 222)

# ETSI EN 300 220 sub-bands used by EU868: (low Hz, high Hz, duty cycle in 1/1000).
EU868_SUBBANDS = (
    (863000000, 865000000, 1),  # 0.1 %
    (865000000, 868000000, 10),  # 1 %
    (868000000, 868600000, 10),  # 1 %: the three default channels 868.1/868.3/868.5
    (868700000, 869200000, 1),  # 0.1 %
    (869400000, 869650000, 100),  # 10 %: RX2 869.525
    (869700000, 870000000, 10),  # 1 %
)
EU868_DEFAULT_CHANNELS = (868100000, 868300000, 868500000)


class RadioError(ValueError):
    """A radio parameter outside what LoRa or the region allows."""


def time_on_air_us(phy_bytes, sf, bw_hz=125000, cr=1, preamble=8, explicit_header=True, crc=True):
    """Time on air in microseconds of a LoRa frame (Semtech AN1200.13).

    Tsym = 2^SF / BW; payload symbols n = 8 + max(ceil((8PL - 4SF + 28 + 16CRC - 20IH) / (4(SF - 2DE))) * (CR + 4), 0);
    ToA = (preamble + 4.25 + n) * Tsym. DE (low data rate optimisation) is on when Tsym >= 16 ms,
    that is SF11 and SF12 at 125 kHz. cr is 1..4 for coding rates 4/5..4/8.
    Integer arithmetic in quarter symbols keeps the result exact on boards with 32-bit floats.
    """
    if sf < 6 or sf > 12:
        raise RadioError("spreading factor must be 6..12")
    if bw_hz not in (125000, 250000, 500000):
        raise RadioError("bandwidth must be 125, 250 or 500 kHz")
    if cr < 1 or cr > 4:
        raise RadioError("coding rate index must be 1..4 (4/5..4/8)")
    if phy_bytes < 0 or phy_bytes > 255:
        raise RadioError("PHY payload must be 0..255 bytes")
    de = 1 if (bw_hz == 125000 and sf >= 11) else 0
    ih = 0 if explicit_header else 1
    num = 8 * phy_bytes - 4 * sf + 28 + (16 if crc else 0) - 20 * ih
    den = 4 * (sf - 2 * de)
    blocks = (num + den - 1) // den if num > 0 else 0
    n_payload = 8 + blocks * (cr + 4)
    quarter_symbols = 4 * (preamble + n_payload) + 17  # 4.25 symbols = 17 quarters
    # Tsym in us = 2^SF * 1e6 / BW; multiply first, divide once, round to the nearest microsecond.
    return (quarter_symbols * (1 << sf) * 1000000 + 2 * bw_hz) // (4 * bw_hz)


def eu868_dr(dr):
    """(SF, bandwidth Hz, max FRMPayload bytes) of an EU868 data rate."""
    if dr < 0 or dr >= len(EU868_DR):
        raise RadioError("EU868 data rate must be 0..6")
    sf, bw = EU868_DR[dr]
    return sf, bw, EU868_MAX_PAYLOAD[dr]


# Data-rate strings of the Semtech packet forwarder (PROTOCOL.TXT): "SF7BW125" .. "SF12BW500";
# the SX1302 adds SF5 and SF6. Exact text only: no leading zeros, spaces or other bandwidths.
_SF_TEXT = ("5", "6", "7", "8", "9", "10", "11", "12")
_BW_TEXT = ("125", "250", "500")


def parse_datr(datr):
    """(SF, bandwidth Hz) of a LoRa data-rate string ("SF9BW125" -> (9, 125000)); RadioError otherwise."""
    if isinstance(datr, str) and datr.startswith("SF"):
        i = datr.find("BW")
        if i > 2 and datr[2:i] in _SF_TEXT and datr[i + 2 :] in _BW_TEXT:
            return int(datr[2:i]), int(datr[i + 2 :]) * 1000
    raise RadioError("not a LoRa data rate: %r (SF5..SF12 with BW125, BW250 or BW500)" % (datr,))


def format_datr(sf, bw_hz):
    """The packet forwarder's string of a LoRa data rate: (9, 125000) -> "SF9BW125"."""
    return "SF%dBW%d" % (sf, bw_hz // 1000)


_EU868_DR_OF = {EU868_DR[dr]: dr for dr in range(len(EU868_DR))}  # asked once per uplink by the gateway


def eu868_dr_of(sf, bw_hz=125000):
    """The EU868 data-rate index of (SF, bandwidth); RadioError when the region has none."""
    dr = _EU868_DR_OF.get((sf, bw_hz))
    if dr is None:
        raise RadioError("EU868 has no data rate SF%d at %d kHz" % (sf, bw_hz // 1000))
    return dr


def eu868_max_payload(datr):
    """The largest FRMPayload (no FOpts) at an EU868 data-rate string; RadioError otherwise."""
    return EU868_MAX_PAYLOAD[eu868_dr_of(*parse_datr(datr))]


def eu868_subband(freq_hz):
    """Index into EU868_SUBBANDS of the sub-band holding freq_hz."""
    for i in range(len(EU868_SUBBANDS)):
        lo, hi, _ = EU868_SUBBANDS[i]
        if lo <= freq_hz <= hi:
            return i
    raise RadioError("frequency outside the EU868 sub-bands")
