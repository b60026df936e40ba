"""What the buffer stores: uplinks as received and the readings decoded from them."""

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Uplink:
    """One LoRaWAN uplink as received, kept beside its readings so they can be re-derived."""

    dev_eui: str  # 16 lower-case hex digits
    dev_addr: str  # 8 hex digits
    fcnt: int  # 32-bit frame counter as inferred
    fport: int
    phy: bytes  # the raw PHYPayload
    received_at: float  # unix seconds, gateway clock
    gateway_eui: str  # the concentrator that heard it best (16 hex digits)
    rssi: float
    snr: float
    freq_hz: int
    datr: str  # e.g. "SF7BW125"


@dataclass(frozen=True)
class Reading:
    """One reading of one device: its sequence number, measurement time and values.

    values maps quantity names of edge.vocab to floats in the vocabulary's units.
    """

    dev_eui: str
    seq: int
    t: int  # unix seconds
    values: dict[str, float] = field(hash=False)
