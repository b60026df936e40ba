"""The network side of the MAC commands that manage a device's radio: ADR, DevStatus.

One NetworkMAC per agent keeps, per device, its AdrState (gateway/lorawan/adr.py) and its last
DevStatusAns. For each uplink that is safe on disk the ingest asks ``commands`` what to send in the
next downlink's FOpts (LinkADRReq when the algorithm wants a change, DevStatusReq at most every
``dev_status_interval_s``), after feeding it the answers the uplink carried (LinkADRAns,
DevStatusAns). An answer nobody asked for is counted (``mac_unsolicited``) and ignored. Requests
are decided afresh at every uplink: one whose downlink was lost or did not fit is simply decided
again, one the device refused is not repeated (AdrState caps what it asks).

The record of each device (SNR and FCnt history, data rate, power, NbTrans, refused settings, the
request in flight, the last DevStatus) is saved with the device registry (``states``, ``restore``
at start), so a restarted agent goes on where it was instead of learning every device again; a new
session (join) starts afresh. A record is saved soon after what the device told us changes (a power
or NbTrans it took, a data rate or power it refused: ``_answers``); the histories and the DevStatus
times, which change with nearly every uplink, only with the periodic full save and at stop. Saving
every heard device each minute rewrote the whole table (about 1.2 KB of disk a reading at 20
readings/s); after a kill -9 the worst left is one repeated DevStatusReq and a shorter history.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edge import lora
from gateway import lorawan
from gateway import metrics as metrics_file
from gateway.config import LorawanSection
from gateway.lorawan import adr, mac, maccmd
from gateway.metrics import Metrics

STATUS_GAUGE = "device_status"  # metrics gauge: dev_eui -> battery, margin_db, at (unix s)


@dataclass
class DeviceMAC:
    adr: adr.AdrState = field(default_factory=adr.AdrState)
    status_asked_at: float | None = None  # unix time of the last DevStatusReq sent
    status_pending: bool = False
    battery: int | None = None  # last DevStatusAns: 0 external power, 1..254, 255 unknown
    margin_db: int | None = None
    status_at: float | None = None


def _answers(d: DeviceMAC) -> tuple[int, int, int, int]:
    """What the device told the network and its next uplinks would not tell again: the power and
    NbTrans it took, the highest data rate and power it accepts."""
    a = d.adr
    return (a.tx_power, a.nb_trans, a.max_dr, a.max_tx_power)


_FRESH = _answers(DeviceMAC())


class NetworkMAC:
    def __init__(self, cfg: LorawanSection, metrics: Metrics) -> None:
        self.cfg = cfg
        self.metrics = metrics
        self.devices: dict[str, DeviceMAC] = {}
        self.dirty: set[str] = set()  # devices heard since their record was last handed out
        self._saved: dict[str, tuple[int, int, int, int]] = {}  # _answers of each record handed out

    def joined(self, dev_eui: str) -> None:
        """A new session: the device starts over at its configured data rate and full power."""
        self.devices.pop(dev_eui, None)
        self.dirty.discard(dev_eui)
        self._saved.pop(dev_eui, None)

    def states(self, full: bool = True) -> dict[str, str]:
        """The JSON record, for the registry, of every device heard since its last one: all of them
        when ``full``, else only those whose answers changed (the others wait for a full save)."""
        out = {}
        for eui in list(self.dirty):
            d = self.devices.get(eui)
            if d is None:
                self.dirty.discard(eui)
                continue
            answers = _answers(d)
            if full or answers != self._saved.get(eui, _FRESH):
                out[eui] = json.dumps(_dump(d))
                self._saved[eui] = answers
                self.dirty.discard(eui)
        return out

    def restore(self, states: dict[str, str]) -> int:
        """Take the records the registry kept; one that does not read is counted and skipped."""
        n = 0
        for eui, text in states.items():
            try:
                self.devices[eui] = d = _load(json.loads(text))
                self._saved[eui] = _answers(d)
                n += 1
            except (ValueError, TypeError, KeyError, AttributeError):
                self.metrics.inc("mac_state_unreadable")
        return n

    def commands(
        self, dev_eui: str, frame: lorawan.DataFrame, received: list[mac.MACCommand], rx_sf: int, rx_bw: int,
        snr_db: float, now_unix: float,
    ) -> list[bytes]:  # fmt: skip
        """MAC requests for the next downlink to this device, after taking in this uplink."""
        d = self.devices.get(dev_eui)
        if d is None:  # not setdefault: a DeviceMAC (two deques) costs microseconds to build
            d = self.devices[dev_eui] = DeviceMAC()
        self.dirty.add(dev_eui)
        asked_adr = d.adr.asked is not None
        for cmd in received:
            try:
                if cmd.cid == maccmd.LINK_ADR:
                    self._link_adr_ans(d, cmd.payload)
                elif cmd.cid == maccmd.DEV_STATUS:
                    self._dev_status_ans(d, cmd.payload, now_unix)
            except lorawan.LoRaWANError:
                self.metrics.inc("mac_errors")
        if asked_adr and d.adr.asked is not None:
            d.adr.unanswered()  # the downlink with the request was lost: it may be decided again
        if d.status_pending and not any(c.cid == maccmd.DEV_STATUS for c in received):
            d.status_pending = False
        out: list[bytes] = []
        try:
            dr = lora.eu868_dr_of(rx_sf, rx_bw)
        except lora.RadioError:
            return out
        d.adr.observe(dr, snr_db, frame.fcnt16)
        if self.cfg.adr and frame.adr:
            req = d.adr.decide(float(self.cfg.adr_margin_db), self.cfg.nb_trans_max)
            if req is not None:
                out.append(maccmd.build_link_adr_req(req))
                self.metrics.inc("adr_requests")
        every = self.cfg.dev_status_interval_s
        if every and not d.status_pending and (d.status_asked_at is None or now_unix - d.status_asked_at >= every):
            d.status_asked_at = now_unix
            d.status_pending = True
            out.append(maccmd.DEV_STATUS_REQ)
        return out

    def _link_adr_ans(self, d: DeviceMAC, payload: bytes) -> None:
        ans = maccmd.parse_link_adr_ans(payload)
        if d.adr.asked is None:
            self.metrics.inc("mac_unsolicited")
            return
        d.adr.answered(ans)
        self.metrics.inc("adr_accepted" if ans.accepted else "adr_rejected")

    def _dev_status_ans(self, d: DeviceMAC, payload: bytes, now_unix: float) -> None:
        ans = maccmd.parse_dev_status_ans(payload)
        if not d.status_pending:
            self.metrics.inc("mac_unsolicited")
            return
        d.status_pending = False
        d.battery, d.margin_db, d.status_at = ans.battery, ans.margin_db, now_unix
        self.metrics.set(STATUS_GAUGE, {
            eui: {"battery": m.battery, "margin_db": m.margin_db, "at": m.status_at}
            for eui, m in self.devices.items() if m.status_at is not None
        })  # fmt: skip


def _dump(d: DeviceMAC) -> dict[str, Any]:
    a = d.adr
    return {
        "adr": {"dr": a.dr, "tx_power": a.tx_power, "nb_trans": a.nb_trans, "snr": list(a.snr),
                "fcnts": list(a.fcnts), "asked": a.asked, "max_dr": a.max_dr, "max_tx_power": a.max_tx_power,
                "asks": a.asks, "rejects": a.rejects},
        "status_asked_at": d.status_asked_at, "status_pending": d.status_pending, "battery": d.battery,
        "margin_db": d.margin_db, "status_at": d.status_at,
    }  # fmt: skip


def _load(o: dict[str, Any]) -> DeviceMAC:
    """A DeviceMAC from _dump's dict; values outside the region's tables are refused (ValueError)."""
    a = o["adr"]
    state = adr.AdrState(
        dr=int(a["dr"]), tx_power=int(a["tx_power"]), nb_trans=int(a["nb_trans"]),
        asked=tuple(int(x) for x in a["asked"]) if a["asked"] is not None else None,  # type: ignore[arg-type]
        max_dr=int(a["max_dr"]), max_tx_power=int(a["max_tx_power"]), asks=int(a["asks"]), rejects=int(a["rejects"]),
    )  # fmt: skip
    state.snr.extend(float(x) for x in a["snr"])
    state.fcnts.extend(int(x) & 0xFFFF for x in a["fcnts"])
    for dr in (state.dr, state.max_dr) + ((state.asked[0],) if state.asked else ()):
        lora.eu868_dr(dr)  # RadioError (a ValueError) outside the region's data rates
    powers = (state.tx_power, state.max_tx_power) + ((state.asked[1],) if state.asked else ())
    if not all(0 <= p <= maccmd.EU868_MAX_TX_POWER for p in powers) or not 1 <= state.nb_trans <= 15:
        raise ValueError("TXPower or NbTrans outside the region's table")
    if state.asked is not None and len(state.asked) != 3:
        raise ValueError("asked is (dr, tx_power, nb_trans)")

    def opt(key: str, kind: type) -> Any:
        return None if o[key] is None else kind(o[key])

    return DeviceMAC(state, opt("status_asked_at", float), bool(o["status_pending"]), opt("battery", int),
                     opt("margin_db", int), opt("status_at", float))  # fmt: skip


def device_status(data_dir: Path) -> dict[str, dict[str, Any]]:
    """The last DevStatusAns of each device, as the running (or last) agent saved it in its metrics."""
    gauges = metrics_file.read(data_dir / metrics_file.METRICS_FILE).get("gauges", {})
    status = gauges.get(STATUS_GAUGE, {}) if isinstance(gauges, dict) else {}
    return status if isinstance(status, dict) else {}
