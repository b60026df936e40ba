"""Adaptive data rate: the network server's choice of data rate and TX power for each device.

The algorithm is ChirpStack's default (LoRa only), as its documentation gives it:
  margin  = max SNR of the device's last 20 uplinks − required SNR of its current data rate
            − installation margin (default 10 dB);
  nstep   = floor(margin / 3);
  nstep > 0: raise the data rate one step per nstep up to DR5, then lower the TX power (raise the
             TXPower index) one 2 dB step per nstep down to the region's lowest;
  nstep < 0: raise the TX power (lower the index) back towards the maximum, one step per nstep;
  the data rate is never lowered by command: a node that loses the gateway backs off itself
  (ADR_ACK_LIMIT/ADR_ACK_DELAY, LoRaWAN 1.0.x §4.3.1.1);
  NbTrans (LinkADRReq Redundancy, 1..3) from the frame loss the FCnt gaps of the same 20 uplinks
  show: below 5 % one less, 5-10 % kept, 10-30 % one more, 30 % and above 3 (ChirpStack's table).
The history holds the best concentrator's SNR of each frame (the one a downlink would go through).

AdrState is the per-device record: the history, what the device uses now, what was asked and not
yet answered, and what the device refused (never asked again blindly).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from edge import lora
from gateway.lorawan import maccmd
from gateway.lorawan.mac import REQUIRED_SNR_DB

HISTORY = 20  # uplinks whose SNR and FCnt the decision looks at
MAX_NB_TRANS = 3
# ChirpStack's default ADR: NbTrans by loss bucket (<5, <10, <30, >=30 %) and the current NbTrans 1..3
_NB_TRANS_TABLE = ((1, 1, 2), (1, 2, 3), (2, 3, 3), (3, 3, 3))
STEP_DB = 3  # one nstep; a data-rate step is 2.5 dB of demodulation floor, a power step 2 dB
DEFAULT_MARGIN_DB = 10.0


def required_snr(dr: int) -> float:
    """Demodulation floor (dB) of an EU868 data rate (Semtech SX1276 datasheet table 13, by SF)."""
    sf, _, _ = lora.eu868_dr(dr)
    return REQUIRED_SNR_DB[sf]


def nstep(max_snr: float, dr: int, margin_db: float = DEFAULT_MARGIN_DB) -> int:
    return math.floor((max_snr - required_snr(dr) - margin_db) / STEP_DB)


def loss_percent(fcnts: list[int]) -> float:
    """Frames lost between the first and the last of these uplink counters (16-bit, ascending as
    the network accepted them)."""
    if len(fcnts) < 2:
        return 0.0
    span = ((fcnts[-1] - fcnts[0]) & 0xFFFF) + 1
    return max(0.0, 100.0 * (span - len(fcnts)) / span)


def nb_trans(current: int, loss: float) -> int:
    """The NbTrans to ask for, from the current one and the measured loss (%)."""
    current = max(1, min(MAX_NB_TRANS, current))
    bucket = 0 if loss < 5 else 1 if loss < 10 else 2 if loss < 30 else 3
    return _NB_TRANS_TABLE[bucket][current - 1]


def ideal(
    dr: int,
    tx_power: int,
    steps: int,
    max_dr: int = maccmd.ADR_MAX_DR,
    max_tx_power: int = maccmd.EU868_MAX_TX_POWER,
) -> tuple[int, int]:
    """(data rate, TXPower index) after ``steps`` ADR steps from (dr, tx_power)."""
    while steps > 0:
        if dr < max_dr:
            dr += 1
        elif tx_power < max_tx_power:
            tx_power += 1
        else:
            break
        steps -= 1
    while steps < 0 and tx_power > 0:
        tx_power -= 1
        steps += 1
    return dr, tx_power


@dataclass
class AdrState:
    """What the network knows and wants of one device's data rate and power.

    LoRa's reported SNR is measured in the channel bandwidth whatever the spreading factor, so the
    history stays valid across data-rate changes (as in ChirpStack, which keeps it).
    """

    dr: int = 0
    tx_power: int = 0
    nb_trans: int = 1
    snr: deque[float] = field(default_factory=lambda: deque(maxlen=HISTORY))
    fcnts: deque[int] = field(default_factory=lambda: deque(maxlen=HISTORY))  # 16-bit FCnt of each
    asked: tuple[int, int, int] | None = None  # (dr, tx_power, nb_trans) sent, LinkADRAns not yet seen
    max_dr: int = maccmd.ADR_MAX_DR  # held at the device's data rate once it refused one
    max_tx_power: int = maccmd.EU868_MAX_TX_POWER  # held at its TXPower once it refused one
    asks: int = 0
    rejects: int = 0

    def observe(self, dr: int, snr_db: float, fcnt16: int | None = None) -> None:
        """An uplink heard at ``dr`` with this best-concentrator SNR (non-finite SNRs are skipped)."""
        self.dr = dr
        if math.isfinite(snr_db):
            self.snr.append(snr_db)
        if fcnt16 is not None:
            self.fcnts.append(fcnt16 & 0xFFFF)

    def decide(
        self, margin_db: float = DEFAULT_MARGIN_DB, max_nb_trans: int = MAX_NB_TRANS
    ) -> maccmd.LinkADRReq | None:
        """The LinkADRReq to send now, or None (no history, nothing to change, or one in flight)."""
        if not self.snr or self.asked is not None or self.dr > self.max_dr:
            return None
        steps = nstep(max(self.snr), self.dr, margin_db)
        dr, tx_power = ideal(self.dr, self.tx_power, steps, self.max_dr, self.max_tx_power)
        nb = self.nb_trans
        if len(self.fcnts) == HISTORY:  # a loss figure only from a full history, as ChirpStack
            nb = min(max_nb_trans, nb_trans(self.nb_trans, loss_percent(list(self.fcnts))))
        if (dr, tx_power, nb) == (self.dr, self.tx_power, self.nb_trans):
            return None
        self.asked = (dr, tx_power, nb)
        self.asks += 1
        return maccmd.LinkADRReq(dr=dr, tx_power=tx_power, ch_mask=maccmd.eu868_channel_mask(), nb_trans=nb)

    def answered(self, ans: maccmd.LinkADRAns) -> None:
        """Apply a LinkADRAns to the request in flight. A device applies all or nothing (LoRaWAN
        1.0.x §5.3); a refused part is never asked again in this session, so it is not re-sent blindly."""
        if self.asked is None:
            return
        dr, tx_power, nb = self.asked
        self.asked = None
        if ans.accepted:
            if nb != self.nb_trans:
                self.fcnts.clear()  # that loss was measured with the old NbTrans: measure it afresh
            self.dr, self.tx_power, self.nb_trans = dr, tx_power, nb
            return
        self.rejects += 1
        # what was refused stays where the device is; the rest may still be asked on its own
        if not ans.power_ack:
            self.max_tx_power = self.tx_power
        if not ans.dr_ack:
            self.max_dr = self.dr
        if not ans.ch_mask_ack:  # the channel plan itself is refused: stop asking
            self.max_dr, self.max_tx_power = self.dr, self.tx_power

    def unanswered(self) -> None:
        """An uplink came without a LinkADRAns to the request in flight: it may be asked again."""
        self.asked = None
