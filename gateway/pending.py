"""Accepted uplinks until they are safe, and sessions whose frame counters are not on disk yet.

The ingest thread adds each accepted uplink here (its readings staged in the buffer, held back
from the broker until its counter is on disk when its payload is relative) and marks its
session's counters unsaved. This module decides when a batch is sealed and handed to the commit
thread (gateway/committer.py): the oldest unsafe reading's wait, the oldest unsaved counter's
`counter_deadline_s`, a full batch, or a downlink that needs FCntDown on disk first. Uplinks the
broker acknowledged while staged are settled without a commit. A failed commit gives its batch
back, retried RETRY_S later, at most MAX_RETAINED uplinks kept in memory.

The wait is `commit_deadline_ms` while the broker acknowledges anything. While it acknowledges
nothing (an outage: every reading must be written), each commit that writes overdue readings
doubles the wait, up to `outage_commit_s`, and the first acknowledgement brings it back: each
fsynced commit re-dirties a 4 KiB block and the pages at the end of the table, so fewer, larger
commits write far fewer bytes a reading (docs/gateway-forward.md, Disk writes). Nothing is
acknowledged to a node before it is safe either way: an uplink is counted, answered and its
readings acked (gateway/gaps.py) only after its commit, and a power cut costs at most the wait's
uplinks, which the node still holds. An uplink that expects an answer in its receive windows
(confirmed, ADRACKReq, MAC commands) keeps `commit_deadline_ms`, so its ACK still makes RX1.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from gateway import lorawan
from gateway.committer import Buffer, Committer, Item, Job
from gateway.downlinks import RxContext
from gateway.lorawan import mac
from gateway.registry import Registry, Session
from gateway.store.records import Reading, Uplink
from gateway.udp.rxpk import RxPacket

MAX_RETAINED = 200_000  # uplinks kept in memory while the buffer refuses commits
# While the broker is away, an uplink's frame counter is on disk with its readings (the buffer row,
# read back at start by Registry.raise_up_counters), so the counter log need not repeat it every
# counter_deadline_s. This bounds the rest: uplinks without readings, whose replay after a crash
# brings no reading to the platform. The broker's return makes overdue counters due at once.
AWAY_COUNTER_S = 300.0
RETRY_S = 1.0  # a failed commit is retried this long after


@dataclass(slots=True)  # built for each accepted uplink: slots make its fields cheaper to set and read
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


def expects_answer(p: Pending) -> bool:
    """The node listens for an answer to this uplink in its receive windows (RX1 one second after
    it): an ACK (confirmed frame), a downlink (ADRACKReq) or MAC answers."""
    return p.frame.confirmed or p.frame.adr_ack_req or bool(p.mac_commands)


class PendingUplinks:
    """The ingest thread's side of the group commit (one thread: no locks)."""

    def __init__(
        self,
        registry: Registry,
        buffer: Buffer,
        committer: Committer,
        deadline_s: float,
        counter_deadline_s: float,
        batch_size: int,
        outage_s: float = 0.0,
    ) -> None:
        self.registry = registry
        self.buffer = buffer
        self.committer = committer
        self.deadline_s = deadline_s
        self.counter_deadline_s = max(counter_deadline_s, deadline_s)
        self.batch_size = batch_size
        self.outage_s = max(outage_s, deadline_s)  # the longest the wait grows to
        self.wait_s = deadline_s  # how long readings wait for their commit now
        self._acks = buffer.acks  # the broker's acknowledgements so far: it is there when they move
        self._urgent_since: float | None = None  # the oldest pending uplink that expects an answer
        self._pending: deque[Pending] = deque()  # not yet safe, in arrival order (done ones leave)
        self._by_token: dict[int, Pending] = {}  # staged and not yet sealed
        self._dirty: dict[int, Session] = {}  # sessions whose frame counters are not on disk yet
        self._dirty_since: float | None = None
        self._held: list[int] = []  # stage tokens of relative frames whose counters are not on disk yet
        self._held_since: float | None = None
        self._force = False  # commit at the next poll
        self._retry_at = 0.0  # no commit before this after a failed one

    def counters_changed(self, s: Session, now_mono: float) -> None:
        self._dirty[id(s)] = s
        if self._dirty_since is None:
            self._dirty_since = now_mono

    def add(self, p: Pending, now_unix: float, held: bool = False) -> None:
        """Stage p's readings and keep p until they are safe; a full batch is sealed at once.
        held: its readings may leave for the broker only once its frame counter is on disk."""
        if p.readings:
            p.token = self.buffer.stage(p.session.dev_eui, now_unix, p.readings, held)
            self._by_token[p.token] = p
            if held:
                self._held.append(p.token)
                if self._held_since is None:
                    self._held_since = p.received_mono
        if self._urgent_since is None and expects_answer(p):
            self._urgent_since = p.received_mono
        self._pending.append(p)
        if len(self._pending) >= self.batch_size:
            self.seal(True, False)

    def settle(self, p: Pending) -> bool:
        """p's readings are safe without a commit (at the broker, or it has none): mark it done so
        the caller counts it and schedules its downlinks now. False (and a commit forced) when a
        downlink would first need FCntDown on disk."""
        if p.session.fcnt_down_next >= p.session.fcnt_down_saved:
            self._force = True
            return False
        p.done = True
        return True

    def delivered(self) -> list[Pending]:
        """Uplinks whose readings the broker acknowledged while staged: safe now; only their frame
        counters wait for a commit."""
        done = []
        for token in self.buffer.take_delivered():
            p = self._by_token.pop(token, None)
            if p is not None and self.settle(p):  # None: sealed meanwhile, its commit counts it
                done.append(p)
        while self._pending and self._pending[0].done:
            self._pending.popleft()
        return done

    def commit_at(self) -> float | None:
        """When the next commit is due: the oldest unsafe reading's wait (the commit deadline for
        one that expects an answer), or the oldest unsaved frame counter's counter deadline; None
        when nothing waits."""
        ats = []
        if self._pending:
            ats.append(self._pending[0].received_mono + self.wait_s)
        if self._urgent_since is not None:
            ats.append(self._urgent_since + self.deadline_s)
        if self._dirty_since is not None:
            ats.append(self._dirty_since + self.counter_wait())
        if self._held_since is not None:  # no broker to take them before the readings' own commit either
            ats.append(self._held_since + self.wait_s)
        if not ats:
            return None
        return self._retry_at if self._force else max(min(ats), self._retry_at)

    def counter_wait(self) -> float:
        """How long unsaved frame counters wait: longer while the broker is away (AWAY_COUNTER_S)."""
        if self.wait_s <= self.deadline_s:
            return self.counter_deadline_s
        return max(self.counter_deadline_s, AWAY_COUNTER_S)

    def seal_due(self, now_mono: float) -> None:
        """Hand a due batch to the commit thread. Readings overdue for the disk (the broker is slow
        or away) are written all in one commit; young readings are left to their likely PUBACK."""
        acks = self.buffer.acks
        if acks != self._acks:  # the broker is there: back to the commit deadline
            self._acks, self.wait_s = acks, self.deadline_s
        at = self.commit_at()
        if at is None or now_mono < at:
            return
        overdue = bool(self._pending) and now_mono >= self._pending[0].received_mono + self.wait_s
        urgent = self._urgent_since is not None and now_mono >= self._urgent_since + self.deadline_s
        counters = (self._dirty_since is not None and now_mono >= self._dirty_since + self.counter_wait()) or (
            self._held_since is not None and now_mono >= self._held_since + self.wait_s
        )
        self.seal(self._force or overdue or urgent, self._force or counters)
        if overdue:  # readings the broker did not take in time went to the disk: wait longer next time
            self.wait_s = min(2 * self.wait_s, self.outage_s)

    def seal(self, readings: bool, counters: bool) -> None:
        """Submit the uplinks not yet safe (readings) and the unsaved counters (counters) as one job."""
        batch = [p for p in self._pending if not p.done] if readings else []
        self._pending = deque() if readings else deque(p for p in self._pending if not p.done)
        if readings:
            self._urgent_since = None
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

    def give_back(self, job: Job, now: float) -> int:
        """A failed job's uplinks and counters wait again, retried RETRY_S later; returns how many
        uplinks were dropped to keep at most MAX_RETAINED in memory."""
        for s in job.sessions:
            self._dirty[id(s)] = s
        if job.sessions and self._dirty_since is None:
            self._dirty_since = now
        if job.offer:
            self._held[:0] = job.offer
            if self._held_since is None:
                self._held_since = now
        for p in job.batch:
            p.sealed = False
            if expects_answer(p) and (self._urgent_since is None or p.received_mono < self._urgent_since):
                self._urgent_since = p.received_mono
        self._pending.extendleft(reversed(job.batch))
        dropped = max(0, len(self._pending) - MAX_RETAINED)
        for _ in range(dropped):
            p = self._pending.popleft()
            if p.token is not None:
                self.buffer.discard(p.token)
        self._by_token.update((p.token, p) for p in self._pending if p.token is not None and not p.done)
        self._retry_at = now + RETRY_S
        return dropped

    def left_behind(self) -> bool:
        """Uplinks or counters still not on disk."""
        return bool(self._pending or self._dirty)
