"""From received radio packets to committed readings.

    rxpk -> de-duplicate (same PHYPayload from several concentrators: keep the best RSSI/SNR)
         -> parse PHYPayload -> join-request: OTAA join | data uplink: session by DevAddr, 32-bit
            FCnt inference, MIC, replay check, MAC commands, decrypt, node payload -> readings
         -> staged in the buffer (the forwarder may publish them at once) and pending
         -> safe: the broker acknowledged its readings, or the group commit wrote them
         -> counted as received; gaps and acks; class-A downlink in the RX window.

Group commit: an uplink whose readings the broker has not acknowledged waits at most
`commit_deadline_ms` for the commit that writes them. Frame counters are written at most
`counter_deadline_s` after they changed (sooner when a downlink needs a new FCntDown block): a
frame whose readings are on disk is still a replay after any restart, because the agent raises
each session's counter past the newest uplink in the buffer when it starts; after a crash, a
frame of that window whose readings went to the broker and left the buffer is accepted once more
if replayed, and its readings are dropped by the platform as duplicates. The batch is sealed
and committed on the commit thread (gateway.committer) with one `ReadingBuffer.commit_uplinks`
call, while this thread decodes the next one; readings the broker acknowledged meanwhile are not
written. An uplink is counted in received_uplinks, and its readings in stored_readings, once they
are safe (on disk or acknowledged by the broker); one without readings is counted at once.
If a commit fails, the batch comes back and is retried RETRY_S later (bounded in memory).

Every rxpk ends in exactly one outcome counter (see OUTCOMES); the tests check the sum.
"""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from edge import lora, payload
from edge.downlink import FPORT_COMMAND, FPORT_DATA
from edge.downlink import encode as encode_commands
from gateway import lorawan
from gateway.committer import Buffer, Committer, Item, Job
from gateway.config import Config
from gateway.downlinks import RxContext, Scheduler
from gateway.gaps import Backfill
from gateway.lorawan import mac, maccmd
from gateway.metrics import Metrics
from gateway.netmac import NetworkMAC
from gateway.ratelog import RateLimitedLog
from gateway.registry import Registry, Session
from gateway.store.records import Reading, Uplink
from gateway.udp.rxpk import RxPacket

log = logging.getLogger("gateway.ingest")

# Each rxpk is counted in exactly one of these.
OUTCOMES = (
    "accepted_uplinks",  # decoded and queued for commit (received_uplinks counts them once committed)
    "duplicates",  # same frame from another concentrator (or the same one again) within the window
    "joins_accepted",
    "replays",  # frame counter or DevNonce already used
    "retransmissions",  # a confirmed uplink sent again with its counter (its ACK was lost): ACKed again
    "bad_mic",
    "unknown_device",
    "bad_phy",  # malformed PHYPayload (LoRaWANError)
    "crc_failed",  # concentrator reported a CRC error or no CRC
    "not_lora",
    "not_uplink",  # a downlink or join-accept heard on air
)
MAX_RETAINED = 200_000  # uplinks kept in memory while the buffer refuses commits
RETRY_S = 1.0  # a failed commit is retried this long after
MAX_REACKS = 8  # ACKs for one confirmed frame sent again (a node retransmits up to NbTrans = 15 times)


@dataclass
class Pending:
    """An accepted uplink waiting for its group commit."""

    session: Session
    frame: lorawan.DataFrame
    fcnt32: int
    gateway_eui: str
    rx: RxPacket
    received_at: float
    received_mono: float
    readings: list[Reading]
    mac_commands: list[mac.MACCommand]
    gateways: set[str] = field(default_factory=set)
    sealed: bool = False  # handed to the commit thread: its metadata no longer changes
    token: int | None = None  # its readings' place in the buffer's stage
    done: bool = False  # its readings are safe at the broker: counted, downlinks scheduled

    def better(self, gateway_eui: str, rx: RxPacket) -> None:
        self.gateways.add(gateway_eui)
        if (rx.rssi, rx.snr) > (self.rx.rssi, self.rx.snr):
            self.gateway_eui, self.rx = gateway_eui, rx

    def uplink(self) -> Uplink:
        return Uplink(
            dev_eui=self.session.dev_eui,
            dev_addr=self.frame.dev_addr.hex(),
            fcnt=self.fcnt32,
            fport=self.frame.fport or 0,  # no FPort: MAC-only frame, never carries readings
            phy=self.frame.phy,
            received_at=self.received_at,
            gateway_eui=self.gateway_eui,
            rssi=self.rx.rssi,
            snr=self.rx.snr,
            freq_hz=self.rx.freq_hz,
            datr=self.rx.datr,
        )

    def context(self) -> RxContext:
        return RxContext(
            self.gateway_eui, self.rx.tmst, self.rx.freq_hz, self.rx.datr, self.rx.rssi, self.rx.snr, self.received_mono
        )


_JOIN = object()  # marks a join-request in the de-duplication map


class Ingest:
    def __init__(
        self,
        cfg: Config,
        registry: Registry,
        buffer: Buffer,
        metrics: Metrics,
        scheduler: Scheduler,
        backfill: Backfill,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self.cfg = cfg
        self.registry = registry
        self.buffer = buffer
        self.metrics = metrics
        self.scheduler = scheduler
        self.backfill = backfill
        self.deadline_s = cfg.ingest.commit_deadline_ms / 1000.0
        self.counter_deadline_s = max(cfg.ingest.counter_deadline_s, self.deadline_s)
        self.batch_size = cfg.ingest.commit_batch
        self.dedup_s = cfg.ingest.dedup_window_ms / 1000.0
        self.net_id = int(cfg.lorawan.net_id, 16)
        self.committer = Committer(registry, buffer, wake)
        self._pending: deque[Pending] = deque()  # not yet safe, in arrival order (done ones leave)
        self._by_token: dict[int, Pending] = {}  # staged and not yet sealed
        self._dirty: dict[int, Session] = {}  # sessions whose frame counters are not on disk yet
        self._dirty_since: float | None = None
        self._held: list[int] = []  # stage tokens of relative frames whose counters are not on disk yet
        self._held_since: float | None = None
        self._reacks: dict[str, tuple[int, int]] = {}  # dev_eui -> (FCnt, ACKs sent again)
        self._force = False  # commit at the next poll
        self._retry_at = 0.0  # no commit before this after a failed one
        self._recent: dict[bytes, tuple[float, Pending | object]] = {}
        self._recent_order: deque[tuple[float, bytes]] = deque()
        self._ratelog = RateLimitedLog(log)
        self.netmac = NetworkMAC(cfg.lorawan, metrics)
        scheduler.content = self._backfill_content
        scheduler.content_due = backfill.due

    # ---- per packet -----------------------------------------------------------------------------

    def on_rxpk(self, gateway_eui: str, rx: RxPacket, now_mono: float, now_unix: float) -> None:
        m = self.metrics
        m.inc("rxpk_received")
        if rx.crc_status != 1:
            m.inc("crc_failed")
            return
        if rx.modulation != "LORA":
            m.inc("not_lora")
            return
        seen = self._recent.get(rx.phy)
        if seen is not None and now_mono - seen[0] <= self.dedup_s:
            m.inc("duplicates")
            first = seen[1]
            if isinstance(first, Pending) and not first.sealed:
                first.better(gateway_eui, rx)
            return
        try:
            frame = lorawan.parse_phy(rx.phy)
        except lorawan.LoRaWANError as e:
            m.inc("bad_phy")
            self._ratelog.warn("bad_phy." + type(e).__name__, str(e))
            return
        if isinstance(frame, lorawan.JoinRequest):
            self._join(frame, gateway_eui, rx, now_mono)
            return
        if not isinstance(frame, lorawan.DataFrame) or not frame.uplink:
            m.inc("not_uplink")
            return
        self._data(frame, gateway_eui, rx, now_mono, now_unix)

    def _remember(self, phy: bytes, value: Pending | object, now_mono: float) -> None:
        self._recent[phy] = (now_mono, value)
        self._recent_order.append((now_mono, phy))

    def _tx_start(self, rx: RxPacket, now_unix: float) -> int:
        """The second the node started transmitting: the ref time its payload ages count from.

        rxpk.time marks the end of reception, so the frame's time on air is taken off. The node
        packs the frame just before sending, so this is the second it packed it in.
        """
        end = rx.time_unix if rx.time_unix is not None and self.cfg.ingest.time_source == "concentrator" else now_unix
        try:
            airtime_s = lora.time_on_air_us(len(rx.phy), rx.sf, rx.bw_hz) / 1e6
        except lora.RadioError:  # a datr that is not LoRa: no time on air to take off
            airtime_s = 0.0
        return int(end - airtime_s)

    def _data(self, frame: lorawan.DataFrame, gw: str, rx: RxPacket, now_mono: float, now_unix: float) -> None:
        m = self.metrics
        sessions = self.registry.sessions_for(frame.dev_addr)
        if not sessions:
            m.inc("unknown_device")
            self._ratelog.warn("unknown_device", "uplink from unregistered DevAddr %s" % frame.dev_addr.hex())
            return
        for s in sessions:
            fcnt32 = frame.fcnt16 if s.fcnt_up_next == 0 else lorawan.infer_fcnt32(s.fcnt_up_next, frame.fcnt16)
            if frame.mic_ok(s.nwkskey, fcnt32):
                break
        else:
            if self._is_old_frame(frame, sessions):
                m.inc("replays")
                self._ratelog.warn(
                    "replay", "DevAddr %s resent FCnt %d (low bits)" % (frame.dev_addr.hex(), frame.fcnt16)
                )
                return
            m.inc("bad_mic")
            self._ratelog.warn("bad_mic", "MIC mismatch, DevAddr %s FCnt %d" % (frame.dev_addr.hex(), frame.fcnt16))
            return
        if fcnt32 < s.fcnt_up_next and self._reack(s, frame, fcnt32, gw, rx, now_mono):
            return
        if fcnt32 < s.fcnt_up_next:
            m.inc("replays")
            self._ratelog.warn("replay", "device %s FCnt %d < next %d" % (s.dev_eui, fcnt32, s.fcnt_up_next))
            return
        s.fcnt_up_next = fcnt32 + 1
        commands: list[mac.MACCommand] = []
        plain = b""
        try:
            if frame.fport is not None:
                plain = frame.decrypt(s.nwkskey, s.appskey, fcnt32)
            commands = mac.parse_uplink_commands(plain if frame.fport == 0 else frame.fopts)
        except lorawan.LoRaWANError as e:
            m.inc("mac_errors")
            self._ratelog.warn("mac_command", "device %s: %s" % (s.dev_eui, e))
        readings: list[Reading] = []
        if frame.fport == FPORT_DATA:
            ref = {"seq": s.last_seq if s.last_seq is not None else 0, "t": self._tx_start(rx, now_unix)}
            try:
                decoded = payload.decode(plain, ref)
            except payload.PayloadError as e:
                m.inc("payload_errors")
                self._ratelog.warn("payload." + type(e).__name__, "device %s: %s" % (s.dev_eui, e))
            else:
                for r in decoded:
                    seq, t = r.pop("seq"), r.pop("t")
                    readings.append(Reading(s.dev_eui, seq, t, r))
                    if s.last_seq is None or seq > s.last_seq:
                        s.last_seq = seq
        elif frame.fport not in (None, 0):
            m.inc("other_fport")
        p = Pending(s, frame, fcnt32, gw, rx, now_unix, now_mono, readings, commands, {gw})
        m.inc("accepted_uplinks")
        self._remember(frame.phy, p, now_mono)
        self._dirty[id(s)] = s
        if self._dirty_since is None:
            self._dirty_since = now_mono
        if not readings and self._settle(p):  # nothing to keep safe: count it, answer it now
            self._count([p], now_mono)
            return
        if readings:
            # a relative payload is dated by this reception: replayed after a crash it would decode
            # to new times the platform cannot recognise, so its readings leave only once its
            # counter is on disk (within the commit deadline, not the counter deadline)
            held = payload.is_relative(plain)
            p.token = self.buffer.stage(s.dev_eui, now_unix, readings, held)
            self._by_token[p.token] = p
            if held:
                self._held.append(p.token)
                if self._held_since is None:
                    self._held_since = now_mono
        self._pending.append(p)
        if len(self._pending) >= self.batch_size:
            self._seal(True, False)

    def _reack(self, s: Session, frame: lorawan.DataFrame, fcnt32: int, gw: str, rx: RxPacket, now: float) -> bool:
        """A confirmed frame again with the last accepted counter: its ACK was lost, the node
        retransmits with the same FCnt (LoRaWAN 1.0.x). ACK it again, a bounded number of times; its readings are
        not taken twice. True when handled."""
        if not frame.confirmed or fcnt32 != s.fcnt_up_next - 1:
            return False
        last = self._reacks.get(s.dev_eui)
        n = last[1] + 1 if last is not None and last[0] == fcnt32 else 1
        if n > MAX_REACKS:
            return False
        self._reacks[s.dev_eui] = (fcnt32, n)
        self.metrics.inc("retransmissions")
        ctx = RxContext(gw, rx.tmst, rx.freq_hz, rx.datr, rx.rssi, rx.snr, now)
        self.scheduler.on_uplink(s, lambda: ctx, True, now)
        return True

    @staticmethod
    def _is_old_frame(frame: lorawan.DataFrame, sessions: list[Session]) -> bool:
        """An authentic frame from the past: its MIC checks with the latest counter below `next`
        that has its low 16 bits. Tried only after the forward inference failed."""
        for s in sessions:
            back = s.fcnt_up_next - ((s.fcnt_up_next - frame.fcnt16) & 0xFFFF or 0x10000)
            if back >= 0 and frame.mic_ok(s.nwkskey, back):
                return True
        return False

    def _join(self, req: lorawan.JoinRequest, gw: str, rx: RxPacket, now_mono: float) -> None:
        m = self.metrics
        self._remember(rx.phy, _JOIN, now_mono)
        dev_eui = req.dev_eui.hex()
        dev = self.registry.otaa_device(dev_eui)
        if dev is None or dev.join_eui != req.join_eui.hex():
            m.inc("unknown_device")
            self._ratelog.warn("unknown_device", "join-request from unregistered DevEUI %s" % dev_eui)
            return
        if not req.mic_ok(dev.app_key):
            m.inc("bad_mic")
            self._ratelog.warn("bad_mic", "join-request MIC mismatch, DevEUI %s" % dev_eui)
            return
        reserved = self.registry.accept_join(dev_eui, req.dev_nonce, self.net_id)
        if reserved is None:
            m.inc("replays")
            m.inc("join_replays")
            self._ratelog.warn("join_replay", "DevEUI %s reused DevNonce %d" % (dev_eui, req.dev_nonce))
            return
        join_nonce, dev_addr = reserved
        nwk, app = lorawan.derive_session_keys(dev.app_key, join_nonce, self.net_id, req.dev_nonce)
        session = self.registry.activate(dev_eui, dev_addr, nwk, app)
        rx2_dr = lora.eu868_dr_of(*lora.parse_datr(self.cfg.lorawan.rx2_datr))
        cflist = maccmd.build_cflist() if self.cfg.lorawan.cflist else None
        phy = lorawan.build_join_accept(
            dev.app_key, join_nonce, self.net_id, dev_addr, rx2_dr & 0x0F, self.cfg.lorawan.rx1_delay_s, cflist
        )
        self.netmac.joined(dev_eui)
        m.inc("joins_accepted")
        log.info("device %s joined as DevAddr %s", dev_eui, session.dev_addr.hex())
        ctx = RxContext(gw, rx.tmst, rx.freq_hz, rx.datr, rx.rssi, rx.snr, now_mono)
        self.scheduler.send_join_accept(dev_eui, ctx, phy, now_mono)

    # ---- group commit ---------------------------------------------------------------------------

    def _commit_at(self) -> float | None:
        """When the next commit is due: the oldest unsafe reading's commit deadline, or the oldest
        unsaved frame counter's counter deadline; None when nothing waits."""
        ats = []
        if self._pending:
            ats.append(self._pending[0].received_mono + self.deadline_s)
        if self._dirty_since is not None:
            ats.append(self._dirty_since + self.counter_deadline_s)
        if self._held_since is not None:
            ats.append(self._held_since + self.deadline_s)
        if not ats:
            return None
        return self._retry_at if self._force else max(min(ats), self._retry_at)

    def due_in(self, now_mono: float) -> float | None:
        """Seconds until a batch must be handed to the commit thread; None when idle."""
        at = self._commit_at()
        return None if at is None else max(0.0, at - now_mono)

    def poll(self, now_mono: float) -> None:
        """Count committed batches and uplinks the broker took (and send their downlinks), hand over
        a due batch, expire dedup."""
        self._collect(now_mono)
        self._deliver(now_mono)
        at = self._commit_at()
        if at is not None and now_mono >= at:
            # readings overdue for the disk (the broker is slow or away): write them all in one
            # commit; otherwise young readings are left to their likely PUBACK
            overdue = bool(self._pending) and now_mono >= self._pending[0].received_mono + self.deadline_s
            counters = (self._dirty_since is not None and now_mono >= self._dirty_since + self.counter_deadline_s) or (
                self._held_since is not None and now_mono >= self._held_since + self.deadline_s
            )
            self._seal(self._force or overdue, self._force or counters)
        horizon = now_mono - self.dedup_s
        order, recent = self._recent_order, self._recent
        while order and order[0][0] < horizon:
            t, phy = order.popleft()
            if recent.get(phy, (None,))[0] == t:
                del recent[phy]

    def _settle(self, p: Pending) -> bool:
        """p's readings are safe without a commit (at the broker, or it has none): mark it done so
        the caller counts it and schedules its downlinks now. False (and a commit forced) when a
        downlink would first need FCntDown on disk."""
        if p.session.fcnt_down_next >= p.session.fcnt_down_saved:
            self._force = True
            return False
        p.done = True
        return True

    def _deliver(self, now: float) -> None:
        """Uplinks whose readings the broker acknowledged while staged are safe: count them and
        schedule their downlinks now; only their frame counters wait for a commit."""
        done = []
        for token in self.buffer.take_delivered():
            p = self._by_token.pop(token, None)
            if p is not None and self._settle(p):  # None: sealed meanwhile, its commit counts it
                done.append(p)
        while self._pending and self._pending[0].done:
            self._pending.popleft()
        if done:
            self._count(done, now)

    def flush(self) -> None:
        """Seal every uplink still waiting, with every unsaved frame counter, and hand them to the
        commit thread (blocks if two batches are in flight)."""
        self._seal(True, True)

    def _seal(self, readings: bool, counters: bool) -> None:
        batch = [p for p in self._pending if not p.done] if readings else []
        self._pending = deque() if readings else deque(p for p in self._pending if not p.done)
        self._force = False
        for p in batch:
            p.sealed = True
            if p.token is not None:
                self._by_token.pop(p.token, None)
            if p.session.reserve_down():  # FCntDown for the downlinks after this batch, in the same write
                counters = True
                self._dirty[id(p.session)] = p.session
        sessions: list[Session] = []
        offer: list[int] = []
        if counters:
            sessions = list(self._dirty.values())
            self._dirty, self._dirty_since = {}, None
            offer, self._held, self._held_since = self._held, [], None
        if not batch and not sessions:
            if offer:
                self.buffer.offer(offer)  # their counters went with an earlier write
            return
        rows = self.registry.counter_rows(sessions)
        items: list[Item] = [(p.uplink, p.readings, p.token) for p in batch]
        self.committer.submit(Job(batch, rows, items, sessions=sessions, offer=offer))

    def finish(self) -> bool:
        """At shutdown: commit everything pending, wait for it; True when nothing was left behind."""
        self.flush()
        now = time.monotonic()
        for job in self.committer.close():
            self._done(job, now)
        if self._pending or self._dirty:
            self.metrics.inc("commit_errors")
            return False
        return True

    def _collect(self, now: float) -> None:
        for job in self.committer.results():
            self._done(job, now)

    def _done(self, job: Job, now: float) -> None:
        batch: list[Pending] = job.batch
        if job.error is not None:  # disk full, read-only, corrupt file: keep receiving, retry later
            self.metrics.inc("commit_errors")
            self._ratelog.warn("commit_failed", "%s: %s" % (type(job.error).__name__, job.error))
            for s in job.sessions:
                self._dirty[id(s)] = s
            if job.sessions and self._dirty_since is None:
                self._dirty_since = now
            if job.offer:
                self._held[:0] = job.offer
                if self._held_since is None:
                    self._held_since = now
            for p in batch:
                p.sealed = False
            self._pending.extendleft(reversed(batch))
            if len(self._pending) > MAX_RETAINED:
                self.metrics.inc("dropped_uplinks", len(self._pending) - MAX_RETAINED)
                while len(self._pending) > MAX_RETAINED:
                    p = self._pending.popleft()
                    if p.token is not None:
                        self.buffer.discard(p.token)
            self._by_token.update((p.token, p) for p in self._pending if p.token is not None and not p.done)
            self._retry_at = now + RETRY_S
            return
        self.buffer.offer(job.offer)
        for i, why in job.refused:
            p = batch[i]
            self.metrics.inc("unstorable_uplinks")
            self._ratelog.warn("unstorable", "device %s FCnt %d: %s" % (p.session.dev_eui, p.fcnt32, why))
        self._count([batch[i] for i in job.kept], now)

    def _count(self, safe: list[Pending], now: float) -> None:
        self._after_commit(safe, now)
        # counted last: whoever sees the count also sees the gaps and downlinks of these uplinks
        self.metrics.inc("received_uplinks", len(safe))
        self.metrics.inc("stored_readings", sum(len(p.readings) for p in safe))
        self.metrics.save()

    def _after_commit(self, batch: list[Pending], now: float) -> None:
        for p in batch:
            try:
                self._answer(p, now)
            except Exception as e:  # a bug in one uplink's answer must not cost the others theirs
                self.metrics.inc("internal_errors")
                self._ratelog.warn(
                    "internal_error.answer", "device %s: %s: %s" % (p.session.dev_eui, type(e).__name__, e)
                )

    def _answer(self, p: Pending, now: float) -> None:
        """Gaps, MAC answers and the downlink of one safe uplink."""
        if p.readings:
            self.backfill.on_stored(p.session.dev_eui, [r.seq for r in p.readings])
        if p.mac_commands:
            answers = mac.answers(
                p.mac_commands, snr_db=p.rx.snr, sf=p.rx.sf, gateway_count=len(p.gateways), unix_time=p.received_at
            )
            self.scheduler.add_mac(p.session.dev_eui, answers)
        rx = p.rx
        requests = self.netmac.commands(
            p.session.dev_eui, p.frame, p.mac_commands, rx.sf, rx.bw_hz, rx.snr, p.received_at
        )
        self.scheduler.set_requests(p.session.dev_eui, requests)
        self.scheduler.on_uplink(p.session, p.context, p.frame.confirmed, now, answer=p.frame.adr_ack_req)

    def _backfill_content(self, dev_eui: str, limit: int, now: float) -> tuple[int, bytes] | None:
        commands = self.backfill.commands(dev_eui, now)
        if not commands:
            return None
        data = encode_commands(commands)
        while len(data) > limit and len(commands) > 1:
            commands.pop()
            data = encode_commands(commands)
        self.metrics.inc("backfill_downlinks")
        return FPORT_COMMAND, data
