"""The virtual radio: which concentrators hear a node's frame, how strongly, and which frames collide.

Model (all randomness from the scenario seed, so a run repeats exactly):

- Path loss, log-distance with log-normal shadowing:
  ``PL(d) = PL(1 m) + 10 n log10(d / 1 m) + X_link + X_frame``, where X_link ~ N(0, shadowing_sigma)
  is drawn once per node-concentrator link (buildings do not move) and X_frame = |N(0, fading_sigma)|
  per frame and concentrator (a fade only ever weakens the link's mean). RSSI = tx power + antenna gain - PL.
- Noise floor ``-174 dBm/Hz + 10 log10(BW) + NF``; SNR = RSSI - noise floor. A frame is demodulated
  when its SNR reaches the SX127x/SX1302 demodulation floor of its spreading factor
  (-7.5 dB at SF7 down to -20 dB at SF12, 2.5 dB a step).
- Spreading factor per node: fixed by the scenario, or the smallest SF whose best link keeps
  ``sf_margin_db`` above that floor (what ADR converges to).
- Airtime from edge.lora.time_on_air_us (Semtech AN1200.13).
- Collisions: two frames overlapping in time on the same frequency and the same spreading factor
  interfere at a concentrator that hears both. Capture effect: a frame survives the overlap when
  it is at least ``capture_threshold_db`` stronger than every overlapping frame; otherwise it is
  lost there. Different spreading factors are treated as orthogonal.
- Demodulators: a concentrator receives at most ``demodulators`` frames at once; a frame that
  starts while all are busy is lost there.
- Random loss: each reception is dropped with ``loss_probability``.
- A frame is delivered when at least one concentrator receives it; each reception is a separate
  rxpk (the gateway agent de-duplicates).

Not modelled: inter-SF interference (imperfect orthogonality), adjacent-channel leakage,
interference from other networks, multipath and Doppler, antenna patterns, half-duplex
blocking of uplinks while a concentrator transmits, the time the gateway needs to switch to TX.
Downlinks reach the node when the node's link to the sending concentrator demodulates at the
downlink's SF (same path loss, reciprocal) and pass the random loss; they never collide.
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass, field

from edge import lora
from simulator.scenario import Concentrator, Node, Radio

SNR_FLOOR_DB = {7: -7.5, 8: -10.0, 9: -12.5, 10: -15.0, 11: -17.5, 12: -20.0}
BANDWIDTH_HZ = 125000


@dataclass
class Reception:
    concentrator: str  # concentrator name
    rssi: float
    snr: float


@dataclass
class Frame:
    """One uplink on the air."""

    node: str
    phy: bytes
    freq_hz: int
    sf: int
    start_us: int  # virtual time since the run began
    airtime_us: int
    receptions: list[Reception] = field(default_factory=list)
    losses: dict[str, str] = field(default_factory=dict)  # concentrator -> reason
    seqs: list[int] = field(default_factory=list)  # readings the frame carries (the runner's bookkeeping)
    order: int = 0  # submission order, breaks ties between frames that start together
    power_down_db: float = 0.0  # below the node's TX power (ADR's TXPower index x 2 dB)
    rssi_at: dict[str, float] = field(default_factory=dict)  # concentrator -> RSSI, computed once
    audible: dict[str, bool] = field(default_factory=dict)  # concentrator -> above its SNR floor, computed once

    @property
    def end_us(self) -> int:
        return self.start_us + self.airtime_us

    @property
    def delivered(self) -> bool:
        return bool(self.receptions)

    def loss_reason(self) -> str:
        """Why no concentrator received the frame: the most telling reason over all of them."""
        for reason in ("collision", "demodulators_busy", "random_loss", "out_of_range"):
            if reason in self.losses.values():
                return reason
        return "out_of_range"


class RadioChannel:
    """The shared air of one scenario: nodes transmit, settle() decides what each concentrator heard."""

    def __init__(self, radio: Radio, nodes: tuple[Node, ...], concentrators: tuple[Concentrator, ...], seed: int):
        self.cfg = radio
        self.concentrators = concentrators
        self.nodes = {n.name: n for n in nodes}
        self._rng = random.Random("%d:radio" % seed)
        self._link_shadow: dict[tuple[str, str], float] = {}
        for n in nodes:
            for c in concentrators:
                rng = random.Random("%d:shadow:%s:%s" % (seed, n.name, c.name))
                self._link_shadow[(n.name, c.name)] = rng.gauss(0.0, radio.shadowing_sigma_db)
        self.noise_floor_dbm = -174.0 + 10 * math.log10(BANDWIDTH_HZ) + radio.noise_figure_db
        self.sf = {n.name: (n.sf if n.sf is not None else self._auto_sf(n)) for n in nodes}
        self._pending: list[Frame] = []  # not yet settled, in start order
        self._recent: list[Frame] = []  # settled but may still overlap a pending frame
        self._settled_us = 0
        self._count = 0

    # -- link budget

    def mean_rssi(self, node: Node, conc: Concentrator) -> float:
        d = max(1.0, math.hypot(node.x - conc.x, node.y - conc.y))
        pl = self.cfg.reference_loss_db + 10 * self.cfg.path_loss_exponent * math.log10(d)
        return node.tx_power_dbm + conc.antenna_gain_db - pl - self._link_shadow[(node.name, conc.name)]

    def _auto_sf(self, node: Node) -> int:
        best_snr = max(self.mean_rssi(node, c) for c in self.concentrators) - self.noise_floor_dbm
        for sf in range(7, 13):
            if best_snr >= SNR_FLOOR_DB[sf] + self.cfg.sf_margin_db:
                return sf
        return 12

    def airtime_us(self, phy_bytes: int, sf: int) -> int:
        return lora.time_on_air_us(phy_bytes, sf, BANDWIDTH_HZ)

    # -- frames

    def transmit(
        self, node: str, phy: bytes, freq_hz: int, start_us: int, sf: int | None = None, tx_power: int = 0
    ) -> Frame:
        """Put a frame on the air (at the node's SF unless the modem chose one; tx_power is the
        LoRaWAN TXPower index ADR set: 2 dB below the node's power a step, RP002 EU868).

        Frames may come in any order between two settle() calls, but none may start before the time
        of the last settle(): those frames were already judged without it.
        """
        if start_us < self._settled_us:
            raise ValueError("frame starts at %d us, before the last settle (%d us)" % (start_us, self._settled_us))
        sf = self.sf[node] if sf is None else sf
        self._count += 1
        f = Frame(node, phy, freq_hz, sf, start_us, self.airtime_us(len(phy), sf), order=self._count)
        f.power_down_db = 2.0 * tx_power
        bisect.insort(self._pending, f, key=lambda x: x.start_us)
        return f

    def in_flight(self) -> list[Frame]:
        """Frames sent but not yet decided (still on the air at the last settle)."""
        return list(self._pending)

    def settle(self, now_us: int) -> list[Frame]:
        """Decide every frame that ended by now_us (no later frame can overlap it); oldest first."""
        self._settled_us = max(self._settled_us, now_us)
        done = [f for f in self._pending if f.end_us <= now_us]
        if not done:
            return []
        self._pending = [f for f in self._pending if f.end_us > now_us]
        window = self._recent + done + self._pending
        for f in done:
            self._decide(f, window)
        horizon = min([f.start_us for f in self._pending] + [now_us])
        self._recent = [f for f in self._recent + done if f.end_us > horizon]
        return done

    def _decide(self, f: Frame, window: list[Frame]) -> None:
        f_start, f_end = f.start_us, f.end_us
        overlapping = [o for o in window if o is not f and o.start_us < f_end and f_start < o.end_us]
        # demodulators already locked on frames that started earlier (ties: submission order)
        key = (f_start, f.order)
        earlier = [o for o in overlapping if (o.start_us, o.order) < key]
        for c in self.concentrators:
            if f.freq_hz not in c.channels:
                f.losses[c.name] = "out_of_range"
                continue
            rssi = self._rssi(f, c)
            snr = rssi - self.noise_floor_dbm
            if snr < SNR_FLOOR_DB[f.sf]:
                f.losses[c.name] = "out_of_range"
                continue
            busy = sum(1 for o in earlier if self._audible(o, c))
            if busy >= self.cfg.demodulators:
                f.losses[c.name] = "demodulators_busy"
                continue
            rivals = [o for o in overlapping if o.freq_hz == f.freq_hz and o.sf == f.sf and self._audible(o, c)]
            if any(rssi - self._rssi(o, c) < self.cfg.capture_threshold_db for o in rivals):
                f.losses[c.name] = "collision"
                continue
            if self._rng.random() < self.cfg.loss_probability:
                f.losses[c.name] = "random_loss"
                continue
            f.receptions.append(Reception(c.name, round(rssi, 1), round(snr, 1)))

    def _rssi(self, f: Frame, c: Concentrator) -> float:
        """The frame's RSSI at a concentrator: link mean plus its fade, computed once per frame."""
        if c.name not in f.rssi_at:
            rng = random.Random("%s:%d:%s" % (f.node, f.start_us, c.name))
            fade = -abs(rng.gauss(0.0, self.cfg.fading_sigma_db)) if self.cfg.fading_sigma_db else 0.0
            f.rssi_at[c.name] = self.mean_rssi(self.nodes[f.node], c) + fade - f.power_down_db
        return f.rssi_at[c.name]

    def _audible(self, f: Frame, c: Concentrator) -> bool:
        a = f.audible.get(c.name)
        if a is None:
            a = f.freq_hz in c.channels and self._rssi(f, c) - self.noise_floor_dbm >= SNR_FLOOR_DB[f.sf]
            f.audible[c.name] = a
        return a

    def downlink_reaches(self, node: str, concentrator: str, sf: int) -> bool:
        """Whether a downlink from the concentrator is demodulated by the node."""
        conc = next(c for c in self.concentrators if c.name == concentrator)
        snr = self.mean_rssi(self.nodes[node], conc) - self.noise_floor_dbm
        if snr < SNR_FLOOR_DB.get(sf, SNR_FLOOR_DB[12]):
            return False
        return self._rng.random() >= self.cfg.loss_probability
