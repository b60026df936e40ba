"""What the buffer stores and hands out: uplinks as received, the readings decoded from them, the
rows a forwarder claims, and the buffer's statistics."""

from dataclasses import dataclass, field
from typing import NamedTuple


class Uplink(NamedTuple):
    """One LoRaWAN uplink as received, kept beside its readings so they can be re-derived.

    Immutable; a named tuple rather than a frozen dataclass, whose __init__ (one setattr call for
    each of the 11 fields) cost the commit thread about 2 µs per uplink it commits."""

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


class Reading(NamedTuple):
    """One reading of one device: its sequence number, measurement time and values.

    values maps quantity names of edge.vocab to floats in the vocabulary's units. Immutable; a
    named tuple rather than a frozen dataclass, whose __init__ (one setattr call per field) costs
    about a microsecond more, once per reading on the ingest thread.
    """

    dev_eui: str
    seq: int
    t: int  # unix seconds
    values: dict[str, float]


class StoredRow(NamedTuple):
    """A claimed row, or a staged item (negative id); a named tuple: one per uplink on the
    forwarder's hot path, where a frozen dataclass's __init__ costs about 0.5 µs more."""

    id: int
    dev_eui: str
    rx: int
    readings: list[tuple[int, int, dict[str, float]]]  # (seq, t, values)


@dataclass(frozen=True)
class Claim:
    rows: list[StoredRow]
    live_rows: int  # how many of rows (the first ones) were live rather than backlog

    @property
    def ids(self) -> list[int]:
        return [r.id for r in self.rows]

    @property
    def readings(self) -> int:
        return sum(len(r.readings) for r in self.rows)


@dataclass
class BufferStats:
    pending_readings: int  # stored and not yet acknowledged (includes in flight)
    pending_rows: int
    inflight_readings: int
    oldest_rx: int | None  # receive time of the oldest pending row
    used_bytes: int  # database pages holding data (free pages and the WAL file excluded)
    file_bytes: int  # database file plus WAL file on disk
    per_device: dict[str, int] = field(default_factory=dict)  # pending readings per device
    evicted: dict[str, int] = field(default_factory=dict)  # readings evicted per device, ever
    staged_readings: int = 0  # accepted, not on disk, offered to the broker (gateway.store.stage)
