"""Per-device sequence tracking: missing readings are detected and asked for again (backfill),
stored readings are acknowledged, both as node commands (edge.downlink) within the radio budget.

Only readings that are committed to the buffer reach `on_stored`, so an ack never covers a
reading that is not on disk. State is kept in memory: after a restart the node's own datalog
still holds what was never acknowledged, and each device starts from the seq the registry saved
(`seed`), so readings received but lost before they were written are asked for again.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from edge.downlink import MAX_RESEND

MAX_GAPS = 64  # ranges tracked per device; the oldest beyond this are given up
MAX_GAP_LEN = 65536  # a jump larger than this is a reset or a foreign sequence, not loss
MAX_RESENDS_PER_DOWNLINK = 4  # 1 ack (5 B) + 4 resends (7 B each) = 33 B, fits DR0's 51 B


@dataclass
class Gap:
    first: int
    last: int
    next_ask: float = 0.0  # monotonic seconds
    attempts: int = 0


@dataclass
class DeviceSeq:
    hi: int | None = None
    gaps: list[Gap] = field(default_factory=list)
    acked: int | None = None
    acked_at: float = float("-inf")


class Backfill:
    def __init__(self, *, retry_s: float, max_attempts: int, ack_interval_s: float, enabled: bool = True) -> None:
        self.retry_s = retry_s
        self.max_attempts = max_attempts
        self.ack_interval_s = ack_interval_s
        self.enabled = enabled
        self._devices: dict[str, DeviceSeq] = {}
        self.given_up = 0

    def seed(self, dev_eui: str, last_seq: int) -> None:
        """At start: the highest seq the registry saved for the device. Readings after it that the
        agent does not see stored again (lost from memory in a crash or power cut) become a gap to
        ask for, so an ack never covers them; without it the first ack would."""
        self._devices.setdefault(dev_eui, DeviceSeq(hi=last_seq, acked=last_seq))

    def gaps(self, dev_eui: str) -> list[tuple[int, int]]:
        d = self._devices.get(dev_eui)
        return [(g.first, g.last) for g in d.gaps] if d else []

    def on_stored(self, dev_eui: str, seqs: list[int]) -> None:
        """Readings of this device that are now durable."""
        d = self._devices.get(dev_eui)
        if d is None:
            d = self._devices[dev_eui] = DeviceSeq()
        for s in sorted(seqs) if len(seqs) > 1 else seqs:  # an uplink's usual one reading: nothing to sort
            if d.hi is None:
                d.hi = s
            elif s > d.hi:
                if 1 < s - d.hi <= MAX_GAP_LEN:
                    d.gaps.append(Gap(d.hi + 1, s - 1))
                d.hi = s
            else:
                self._fill(d, s)
        if len(d.gaps) > MAX_GAPS:
            self.given_up += len(d.gaps) - MAX_GAPS
            del d.gaps[: len(d.gaps) - MAX_GAPS]

    @staticmethod
    def _fill(d: DeviceSeq, s: int) -> None:
        for i, g in enumerate(d.gaps):
            if g.first <= s <= g.last:
                parts = []
                if g.first < s:
                    parts.append(Gap(g.first, s - 1, g.next_ask, g.attempts))
                if s < g.last:
                    parts.append(Gap(s + 1, g.last, g.next_ask, g.attempts))
                d.gaps[i : i + 1] = parts
                return

    def due(self, dev_eui: str, now: float) -> bool:
        """Cheap test: would `commands` return anything now?"""
        d = self._devices.get(dev_eui)
        if not self.enabled or d is None or d.hi is None:
            return False
        if d.acked is None or (d.hi > d.acked and now - d.acked_at >= self.ack_interval_s):
            return True
        return bool(d.gaps) and any(g.next_ask <= now for g in d.gaps)

    def commands(self, dev_eui: str, now: float) -> list[tuple[object, ...]]:
        """Commands worth a downlink now: resend requests that are due, and an ack when it moved
        and the last one is older than ack_interval_s (or is sent anyway with resends).
        Marks what it returns as asked."""
        d = self._devices.get(dev_eui)
        if not self.enabled or d is None or d.hi is None:
            return []
        out: list[tuple[object, ...]] = []
        keep: list[Gap] = []
        for g in d.gaps:
            if g.attempts >= self.max_attempts:
                self.given_up += 1
                continue
            keep.append(g)
            if g.next_ask <= now and len(out) < MAX_RESENDS_PER_DOWNLINK:
                count = min(g.last - g.first + 1, MAX_RESEND)
                out.append(("resend", g.first, count))
                g.attempts += 1
                g.next_ask = now + self.retry_s
        d.gaps = keep
        watermark = (d.gaps[0].first - 1) if d.gaps else d.hi
        moved = watermark >= 0 and (d.acked is None or watermark > d.acked)
        if moved and (out or now - d.acked_at >= self.ack_interval_s):
            out.insert(0, ("ack", watermark))
            d.acked, d.acked_at = watermark, now
        return out
