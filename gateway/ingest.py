"""From received radio packets to committed readings.

    rxpk -> de-duplicate (same PHYPayload from several concentrators: keep the best RSSI/SNR)
         -> parse PHYPayload -> join-request: OTAA join | data uplink:
            authenticate (session by DevAddr, 32-bit FCnt inference, MIC, replay check)
            -> decode (decrypt, MAC commands, node payload -> readings) -> stage
         -> staged in the buffer (the forwarder may publish them at once) and pending
         -> safe: the broker acknowledged its readings, or the group commit wrote them
         -> counted as received; gaps and acks; class-A downlink in the RX window.

Group commit: an uplink whose readings the broker has not acknowledged waits at most
`commit_deadline_ms` for the commit that writes them. Frame counters are written at most
`counter_deadline_s` after they changed (sooner when a downlink needs a new FCntDown block): a
frame whose readings are on disk is still a replay after any restart, because the agent raises
each session's counter past the newest uplink in the buffer when it starts; after a crash, a
frame of that window whose readings went to the broker and left the buffer is accepted once more
if replayed, and its readings are dropped by the platform as duplicates. When a batch is due
is decided in gateway/pending.py; it is committed on the commit thread (gateway/committer.py) with
one `ReadingBuffer.commit_uplinks` call, while this thread decodes the next one; readings the
broker acknowledged meanwhile are not written. An uplink is counted in received_uplinks, and its
readings in stored_readings, once they are safe (on disk or acknowledged by the broker); one
without readings is counted at once. A failed commit's batch comes back and is retried.

Every rxpk ends in exactly one outcome counter (see OUTCOMES); the tests check the sum.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import lru_cache

from edge import lora, payload
from edge.downlink import FPORT_COMMAND, FPORT_DATA
from edge.downlink import encode as encode_commands
from gateway import lorawan
from gateway.committer import Buffer, Committer, Job
from gateway.config import Config
from gateway.downlinks import RxContext, Scheduler
from gateway.gaps import Backfill
from gateway.lorawan import mac, maccmd
from gateway.metrics import Metrics
from gateway.netmac import NetworkMAC
from gateway.pending import Pending, PendingUplinks
from gateway.ratelog import RateLimitedLog
from gateway.registry import Registry, Session
from gateway.store.records import Reading
from gateway.udp.rxpk import RxPacket

log = logging.getLogger("gateway.ingest")

# Each rxpk is counted in exactly one of these.
OUTCOMES = (
    "accepted_uplinks",  # decoded and queued for commit (received_uplinks counts them once committed)
    "duplicates",  # same frame from another concentrator (or the same one again) within the window, or
    # the last accepted unconfirmed frame again, byte for byte, in this run (NbTrans repetitions)
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
MAX_REACKS = 8  # ACKs for one confirmed frame sent again (a node retransmits up to NbTrans = 15 times)


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
        self.dedup_s = cfg.ingest.dedup_window_ms / 1000.0
        self._rxpk_time = cfg.ingest.time_source == "concentrator"  # else the agent's clock dates uplinks
        self.net_id = int(cfg.lorawan.net_id, 16)
        self.committer = Committer(registry, buffer, wake)
        self.pending = PendingUplinks(
            registry, buffer, self.committer, cfg.ingest.commit_deadline_ms / 1000.0,
            cfg.ingest.counter_deadline_s, cfg.ingest.commit_batch,
            cfg.ingest.outage_commit_s if cfg.mqtt.url else 0.0,  # no broker configured: no outage to wait out
        )  # fmt: skip
        self._reacks: dict[str, tuple[int, int]] = {}  # dev_eui -> (FCnt, ACKs sent again)
        # frames seen within the dedup window, in two generations: the older one is dropped whole
        # once the newer one spans a window (no per-frame expiry: one dict store per uplink)
        self._recent: dict[bytes, tuple[float, Pending | object]] = {}
        self._older: dict[bytes, tuple[float, Pending | object]] = {}
        self._recent_since = 0.0
        self._ratelog = RateLimitedLog(log)
        self.netmac = NetworkMAC(cfg.lorawan, metrics)
        # value checks of readings the broker took before their commit (committed ones reach them
        # through the buffer's listener): one call per batch, (RSSI, SNR, readings) per uplink
        self.observe_delivered: Callable[[list[tuple[float, float, list[Reading]]]], None] | None = None
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
        if seen is None:
            seen = self._older.get(rx.phy)
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

    def _tx_start(self, rx: RxPacket, now_unix: float) -> int:
        """The second the node started transmitting: the ref time its payload ages count from.

        rxpk.time marks the end of reception, so the frame's time on air is taken off. The node
        packs the frame just before sending, so this is the second it packed it in.
        """
        end = rx.time_unix if rx.time_unix is not None and self._rxpk_time else now_unix
        return int(end - _airtime_s(len(rx.phy), rx.datr))

    def _data(self, frame: lorawan.DataFrame, gw: str, rx: RxPacket, now_mono: float, now_unix: float) -> None:
        found = self._authenticate(frame, gw, rx, now_mono)
        if found is None:
            return
        s, fcnt32 = found
        s.fcnt_up_next = fcnt32 + 1
        s.last_phy = frame.phy
        plain, commands = self._open(s, frame, fcnt32)
        readings = self._decode(s, frame, plain, rx, now_unix)
        # a relative payload is dated by this reception: replayed after a crash it would decode to
        # new times the platform cannot recognise, so its readings leave only once its counter is
        # on disk (within the commit deadline, not the counter deadline)
        held = bool(readings) and payload.is_relative(plain)
        self._stage(Pending(s, frame, fcnt32, gw, rx, now_unix, now_mono, readings, commands, {gw}), now_unix, held)

    def _authenticate(
        self, frame: lorawan.DataFrame, gw: str, rx: RxPacket, now_mono: float
    ) -> tuple[Session, int] | None:
        """The session whose NwkSKey checks the MIC at the inferred 32-bit FCnt, and that FCnt, for
        a new frame; None (counted: unknown device, bad MIC, replay, re-ACKed retransmission) else."""
        m = self.metrics
        sessions = self.registry.sessions_for(frame.dev_addr)
        if not sessions:
            m.inc("unknown_device")
            self._ratelog.warn("unknown_device", "uplink from unregistered DevAddr %s" % frame.dev_addr.hex())
            return None
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
                return None
            m.inc("bad_mic")
            self._ratelog.warn("bad_mic", "MIC mismatch, DevAddr %s FCnt %d" % (frame.dev_addr.hex(), frame.fcnt16))
            return None
        if fcnt32 < s.fcnt_up_next:
            if fcnt32 == s.fcnt_up_next - 1 and not frame.confirmed and frame.phy == s.last_phy:
                m.inc("duplicates")  # a repetition of the last frame (NbTrans, LoRaWAN 1.0.x §5.3)
                return None
            if not self._reack(s, frame, fcnt32, gw, rx, now_mono):
                m.inc("replays")
                self._ratelog.warn("replay", "device %s FCnt %d < next %d" % (s.dev_eui, fcnt32, s.fcnt_up_next))
            return None
        return s, fcnt32

    def _open(self, s: Session, frame: lorawan.DataFrame, fcnt32: int) -> tuple[bytes, list[mac.MACCommand]]:
        """The decrypted FRMPayload and the MAC commands (FOpts, or the payload on FPort 0); a
        malformed command list is counted and yields none."""
        commands: list[mac.MACCommand] = []
        plain = b""
        try:
            if frame.fport is not None:
                plain = frame.decrypt(s.nwkskey, s.appskey, fcnt32)
            listed = plain if frame.fport == 0 else frame.fopts
            if listed:  # most uplinks carry no MAC command
                commands = mac.parse_uplink_commands(listed)
        except lorawan.LoRaWANError as e:
            self.metrics.inc("mac_errors")
            self._ratelog.warn("mac_command", "device %s: %s" % (s.dev_eui, e))
        return plain, commands

    def _decode(
        self, s: Session, frame: lorawan.DataFrame, plain: bytes, rx: RxPacket, now_unix: float
    ) -> list[Reading]:
        """The readings of a node payload on FPORT_DATA (none, counted, when it does not decode)."""
        readings: list[Reading] = []
        if frame.fport == FPORT_DATA:
            ref = {"seq": s.last_seq if s.last_seq is not None else 0, "t": self._tx_start(rx, now_unix)}
            try:
                decoded = payload.decode(plain, ref)
            except payload.PayloadError as e:
                self.metrics.inc("payload_errors")
                self._ratelog.warn("payload." + type(e).__name__, "device %s: %s" % (s.dev_eui, e))
                return readings
            for r in decoded:
                seq, t = r.pop("seq"), r.pop("t")
                readings.append(Reading(s.dev_eui, seq, t, r))
                if s.last_seq is None or seq > s.last_seq:
                    s.last_seq = seq
        elif frame.fport not in (None, 0):
            self.metrics.inc("other_fport")
        return readings

    def _stage(self, p: Pending, now_unix: float, held: bool) -> None:
        """An accepted uplink: counted, remembered for de-duplication, its counters marked unsaved;
        without readings it is answered at once, else its readings wait in the stage to be safe."""
        self.metrics.inc("accepted_uplinks")
        self._remember(p.frame.phy, p, p.received_mono)
        self.pending.counters_changed(p.session, p.received_mono)
        if not p.readings and self.pending.settle(p):  # nothing to keep safe: count it, answer it now
            self._count([p], p.received_mono)
            return
        self.pending.add(p, now_unix, held)

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

    def due_in(self, now_mono: float) -> float | None:
        """Seconds until a batch must be handed to the commit thread; None when idle."""
        at = self.pending.commit_at()
        return None if at is None else max(0.0, at - now_mono)

    def poll(self, now_mono: float) -> None:
        """Count committed batches and uplinks the broker took (and send their downlinks), hand over
        a due batch, expire dedup."""
        self._collect(now_mono)
        done = self.pending.delivered()
        if done:
            self._count(done, now_mono)
            if self.observe_delivered is not None:
                self.observe_delivered([(p.rx.rssi, p.rx.snr, p.readings) for p in done if p.readings])
        self.pending.seal_due(now_mono)
        if now_mono - self._recent_since >= self.dedup_s:  # every frame of the older one is past its window
            self._older, self._recent, self._recent_since = self._recent, {}, now_mono

    def flush(self) -> None:
        """Seal every uplink still waiting, with every unsaved frame counter, and hand them to the
        commit thread (blocks if two batches are in flight)."""
        self.pending.seal(True, True)

    def finish(self) -> bool:
        """At shutdown: commit everything pending, wait for it; True when nothing was left behind."""
        self.flush()
        now = time.monotonic()
        for job in self.committer.close():
            self._done(job, now)
        if self.pending.left_behind():
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
            dropped = self.pending.give_back(job, now)
            if dropped:
                self.metrics.inc("dropped_uplinks", dropped)
            return
        self.buffer.offer(job.offer)  # held readings whose counters are now on disk
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
        sf, bw_hz = rx.lora_rate
        requests = self.netmac.commands(p.session.dev_eui, p.frame, p.mac_commands, sf, bw_hz, rx.snr, p.received_at)
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


@lru_cache(maxsize=1024)  # a few data rates (LoRa ones only reach here: rxpk.py) times the payload sizes a fleet sends
def _airtime_s(size: int, datr: str) -> float:
    """A frame's time on air in seconds, 0 for a datr that is not LoRa (nothing to take off)."""
    try:
        return lora.time_on_air_us(size, *lora.parse_datr(datr)) / 1e6
    except lora.RadioError:
        return 0.0
