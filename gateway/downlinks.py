"""Class-A downlinks: a queue per device, sent in the RX window after that device's uplink.

Timing (EU868, LoRaWAN 1.0.x): RX1 opens rx1_delay s after the end of the uplink (the
concentrator's `tmst` marks that end) on the uplink's frequency and data rate (RX1DROffset 0);
RX2 one second later on the configured RX2 frequency and data rate. Join-accepts use
JOIN_ACCEPT_DELAY1/2 = 5 s / 6 s. A window is used only if the PULL_RESP can reach the forwarder
`downlink_margin_ms` before it opens and the gateway's duty cycle in that sub-band allows the
airtime (edge.lora: 1 % on 868.0-868.6 MHz, 10 % on 869.4-869.65 MHz for RX2). When RX1 is
refused by the forwarder (TX_ACK error), the same frame is retried in RX2 if there is time.
Anything that cannot be sent waits for the device's next uplink.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from edge import lora
from gateway import lorawan
from gateway.config import LorawanSection
from gateway.lorawan import maccmd
from gateway.metrics import Metrics
from gateway.registry import Registry, Session
from gateway.udp.pull_resp import TxPacket

JOIN_ACCEPT_DELAY1_S = 5
JOIN_ACCEPT_DELAY2_S = 6
_US = 1_000_000
_TMST_MASK = 0xFFFFFFFF
_MAX_QUEUE = 16  # application downlinks waiting per device
_MIN_DOWN = 12  # MHDR + FHDR without FOpts + MIC: the smallest downlink
_MAX_MAC = 40  # MAC answers kept for one downlink: with the requests (<= 6 bytes) within DR0's 51-byte payload

log = logging.getLogger("gateway.downlinks")


@dataclass(frozen=True)
class RxContext:
    """What the RX windows of a device's uplink depend on: the copy heard best."""

    gateway_eui: str
    tmst: int
    freq_hz: int
    datr: str
    rssi: float
    snr: float
    received_mono: float  # time.monotonic() when the datagram arrived


class DutyCycle:
    """Airtime a gateway spent per EU868 sub-band over a sliding window."""

    def __init__(self, window_s: float) -> None:
        self.window_s = window_s
        self._used: dict[tuple[str, int], deque[tuple[float, float]]] = {}
        self._sum: dict[tuple[str, int], float] = {}

    def _band(self, freq_hz: int) -> tuple[int, float]:
        band = lora.eu868_subband(freq_hz)
        return band, lora.EU868_SUBBANDS[band][2] / 1000.0

    def used_s(self, gateway: str, freq_hz: int, now: float) -> float:
        band, _ = self._band(freq_hz)
        key = (gateway, band)
        q = self._used.get(key)
        if not q:
            return 0.0
        while q and q[0][0] <= now - self.window_s:
            self._sum[key] -= q.popleft()[1]
        return max(0.0, self._sum[key])

    def allows(self, gateway: str, freq_hz: int, airtime_s: float, now: float) -> bool:
        try:
            _, duty = self._band(freq_hz)
        except lora.RadioError:
            return False
        return self.used_s(gateway, freq_hz, now) + airtime_s <= duty * self.window_s

    def record(self, gateway: str, freq_hz: int, airtime_s: float, now: float) -> None:
        band, _ = self._band(freq_hz)
        key = (gateway, band)
        self._used.setdefault(key, deque()).append((now, airtime_s))
        self._sum[key] = self._sum.get(key, 0.0) + airtime_s


@dataclass
class _InFlight:
    dev_eui: str
    ctx: RxContext
    phy: bytes
    rx2_at_s: float  # delay of RX2 from the uplink, seconds


@dataclass
class DeviceQueue:
    app: deque[tuple[int, bytes]] = field(default_factory=deque)  # (fport, plain payload)
    mac: bytes = b""  # MAC answers for the next downlink's FOpts
    requests: list[bytes] = field(default_factory=list)  # the network's own MAC requests, after the answers


SendFn = Callable[[str, TxPacket], "bytes | None"]  # (gateway EUI, txpk) -> token, None if no route
ContentFn = Callable[[str, int, float], "tuple[int, bytes] | None"]  # (dev_eui, max bytes, now) -> (fport, payload)
DueFn = Callable[[str, float], bool]  # (dev_eui, now) -> would ContentFn return something


class Scheduler:
    def __init__(self, cfg: LorawanSection, registry: Registry, metrics: Metrics, send: SendFn) -> None:
        self.cfg = cfg
        self.registry = registry
        self.metrics = metrics
        self.send = send
        self.duty = DutyCycle(cfg.duty_window_s)
        self.queues: dict[str, DeviceQueue] = {}
        self.content: ContentFn | None = None  # on-demand content (backfill/acks), asked at send time
        self.content_due: DueFn | None = None
        self._inflight: dict[bytes, _InFlight] = {}
        self._tmst: dict[str, tuple[int, int]] = {}  # gateway -> (latest tmst, wraps): duty_clock "concentrator"

    def _duty_now(self, ctx: RxContext, now: float) -> float:
        """The time the downlink duty cycle is measured on: the agent's clock, or (duty_clock =
        "concentrator") the concentrator's 32-bit µs counter of the uplink, unwrapped per gateway."""
        if self.cfg.duty_clock != "concentrator":
            return now
        last, wraps = self._tmst.get(ctx.gateway_eui, (ctx.tmst, 0))
        half = 1 << 31
        if ctx.tmst > last + half:  # a late frame from before the last wrap
            return ((wraps - 1) * (1 << 32) + ctx.tmst) / _US
        if ctx.tmst < last - half:  # the counter wrapped (every 71.6 min)
            wraps += 1
            last = ctx.tmst
        last = max(last, ctx.tmst)
        self._tmst[ctx.gateway_eui] = (last, wraps)
        return (wraps * (1 << 32) + ctx.tmst) / _US

    # ---- queueing -------------------------------------------------------------------------------

    def enqueue(self, dev_eui: str, fport: int, payload: bytes) -> bool:
        q = self.queues.setdefault(dev_eui, DeviceQueue())
        if len(q.app) >= _MAX_QUEUE:
            self.metrics.inc("downlinks_queue_full")
            return False
        q.app.append((fport, payload))
        return True

    def add_mac(self, dev_eui: str, answers: bytes) -> None:
        if answers:
            q = self.queues.setdefault(dev_eui, DeviceQueue())
            # whole commands only (a cut one would garble the rest), at most a frame's worth
            cmds, _ = maccmd.parse_downlink_commands(answers)
            for cid, body in cmds:
                if len(q.mac) + 1 + len(body) <= _MAX_MAC:
                    q.mac += bytes((cid,)) + body

    def set_requests(self, dev_eui: str, requests: list[bytes]) -> None:
        """The network's MAC requests (gateway/netmac.py) for the next downlink, replacing older ones;
        whole commands ride in FOpts after the answers as long as FOpts stays within 15 bytes."""
        q = self.queues.get(dev_eui)
        if q is None:
            if not requests:
                return
            q = self.queues[dev_eui] = DeviceQueue()  # not setdefault: no DeviceQueue built per uplink
        q.requests = list(requests)

    # ---- the RX windows of an uplink ------------------------------------------------------------

    def _windows(self, ctx: RxContext, delay_s: int) -> list[tuple[float, TxPacket]]:
        """[(seconds after the uplink, txpk without phy)] for RX1 and RX2."""
        rx1 = TxPacket((ctx.tmst + delay_s * _US) & _TMST_MASK, ctx.freq_hz, ctx.datr, b"", self.cfg.tx_power_dbm)
        rx2 = TxPacket(
            (ctx.tmst + (delay_s + 1) * _US) & _TMST_MASK,
            self.cfg.rx2_frequency_hz,
            self.cfg.rx2_datr,
            b"",
            self.cfg.tx_power_dbm,
        )
        return [(float(delay_s), rx1), (float(delay_s + 1), rx2)]

    def _window(self, ctx: RxContext, delay_s: int, phy_len: int, now: float) -> tuple[float, TxPacket, float] | None:
        """The first window (RX1, then RX2) still reachable and within the duty cycle for a frame
        of phy_len bytes: (seconds after the uplink, txpk without phy, airtime s)."""
        margin = self.cfg.downlink_margin_ms / 1000.0
        for at_s, tx in self._windows(ctx, delay_s):
            if now > ctx.received_mono + at_s - margin:
                continue  # too late for this window
            try:
                sf, bw = lora.parse_datr(tx.datr)
                airtime = lora.time_on_air_us(phy_len, sf, bw) / _US
            except lora.RadioError:
                continue
            if self.duty.allows(ctx.gateway_eui, tx.freq_hz, airtime, self._duty_now(ctx, now)):
                return at_s, tx, airtime
        return None

    def _transmit(self, dev_eui: str, ctx: RxContext, phy: bytes, delay_s: int, now: float) -> bool:
        win = self._window(ctx, delay_s, len(phy), now)
        if win is None:
            self.metrics.inc("downlinks_deferred")
            return False
        at_s, tx, airtime = win
        pkt = TxPacket(tx.tmst, tx.freq_hz, tx.datr, phy, tx.power_dbm)
        token = self.send(ctx.gateway_eui, pkt)
        if token is None:
            self.metrics.inc("downlinks_no_route")
            return False
        self.duty.record(ctx.gateway_eui, tx.freq_hz, airtime, self._duty_now(ctx, now))
        self.metrics.inc("downlinks_sent")
        if at_s == float(delay_s):
            self._inflight[token] = _InFlight(dev_eui, ctx, phy, float(delay_s + 1))
            if len(self._inflight) > 1024:
                self._inflight.pop(next(iter(self._inflight)))
        else:
            self.metrics.inc("downlinks_rx2")
        return True

    def on_uplink(
        self, session: Session, ctx_of: Callable[[], RxContext], confirmed: bool, now: float, answer: bool = False
    ) -> bool:
        """Send what is queued for this device (and an ACK for a confirmed uplink) in its RX windows.
        ctx_of builds the uplink's RxContext, only when there is something to send. answer: the uplink
        asked for a downlink (ADRACKReq), so one goes even with nothing to carry."""
        q = self.queues.get(session.dev_eui)
        fopts = mac_all = b""  # no MAC command queued: the usual uplink, decided without parsing anything
        if q is not None and (q.mac or q.requests):
            cmds = [bytes((cid,)) + body for cid, body in maccmd.parse_downlink_commands(q.mac)[0]] + q.requests
            fopts = maccmd.fit_fopts(cmds)[0]  # whole commands, answers first, 15 bytes at most
            mac_all = b"".join(cmds)
        has_app = bool(q and q.app)
        # MAC commands FOpts cannot hold all go alone as the payload on FPort 0, encrypted with the
        # NwkSKey (LoRaWAN 1.0.x §4.3.1.6, §4.3.3); with an application payload waiting, FOpts
        # takes what fits, the answers left out are dropped (the device asks again) and the
        # requests are decided again at the next uplink
        port0 = len(mac_all) > len(fopts) and not has_app
        if port0:
            fopts = b""
        confirmed_or_asked = confirmed or answer
        if not has_app and not fopts and not port0 and not confirmed_or_asked:
            if self.content is None or self.content_due is None or not self.content_due(session.dev_eui, now):
                return False
        ctx = ctx_of()
        # Cheap feasibility check with the smallest frame before building anything.
        mac_len = 1 + len(mac_all) if port0 else len(fopts)
        if self._window(ctx, self.cfg.rx1_delay_s, _MIN_DOWN + mac_len, now) is None:
            if has_app or fopts or port0 or confirmed_or_asked:
                self.metrics.inc("downlinks_deferred")
            return False
        try:
            limit = min(lora.eu868_max_payload(ctx.datr), lora.eu868_max_payload(self.cfg.rx2_datr)) - len(fopts)
        except lora.RadioError:
            return False
        item: tuple[int, bytes] | None = None
        if port0:
            item = (0, mac_all)  # within every data rate's payload (_MAX_MAC)
            self.metrics.inc("downlinks_mac_fport0")
        elif q and q.app and len(q.app[0][1]) <= limit:
            item = q.app[0]
        elif self.content is not None:
            item = self.content(session.dev_eui, limit, now)
        if item is None and not fopts and not confirmed_or_asked:
            return False
        fcnt = session.fcnt_down_next
        phy = lorawan.build_data_frame(
            nwkskey=session.nwkskey,
            appskey=session.appskey,
            dev_addr=session.dev_addr,
            fcnt32=fcnt,
            uplink=False,
            fport=item[0] if item else None,
            payload=item[1] if item else b"",
            fopts=fopts,
            ack=confirmed,
            fpending=bool(q and len(q.app) > 1),
        )
        if self._window(ctx, self.cfg.rx1_delay_s, len(phy), now) is None:
            self.metrics.inc("downlinks_deferred")
            return False
        if session.reserve_down():  # a used FCntDown is never reused, even after a crash
            self.registry.save_counters([session])
        session.fcnt_down_next = fcnt + 1
        if not self._transmit(session.dev_eui, ctx, phy, self.cfg.rx1_delay_s, now):
            return False
        if q:
            q.mac = b""
            q.requests = []
            if item is not None and q.app and q.app[0] is item:
                q.app.popleft()
        return True

    def send_join_accept(self, dev_eui: str, ctx: RxContext, phy: bytes, now: float) -> bool:
        return self._transmit(dev_eui, ctx, phy, JOIN_ACCEPT_DELAY1_S, now)

    def on_tx_ack(self, token: bytes, error: str, now: float) -> None:
        """TX_ACK from the forwarder: on an RX1 error, try the same frame in RX2."""
        inflight = self._inflight.pop(token, None)
        if error == "NONE" or inflight is None:
            return
        self.metrics.inc("tx_ack_errors")
        self.metrics.inc("tx_ack_error." + error.lower()[:32])
        ctx = inflight.ctx
        margin = self.cfg.downlink_margin_ms / 1000.0
        if now > ctx.received_mono + inflight.rx2_at_s - margin:
            return
        sf, bw = lora.parse_datr(self.cfg.rx2_datr)
        airtime = lora.time_on_air_us(len(inflight.phy), sf, bw) / _US
        if not self.duty.allows(ctx.gateway_eui, self.cfg.rx2_frequency_hz, airtime, self._duty_now(ctx, now)):
            return
        tmst = (ctx.tmst + int(inflight.rx2_at_s * _US)) & _TMST_MASK
        pkt = TxPacket(tmst, self.cfg.rx2_frequency_hz, self.cfg.rx2_datr, inflight.phy, self.cfg.tx_power_dbm)
        if self.send(ctx.gateway_eui, pkt) is not None:
            self.duty.record(ctx.gateway_eui, self.cfg.rx2_frequency_hz, airtime, self._duty_now(ctx, now))
            self.metrics.inc("downlinks_rx2")
