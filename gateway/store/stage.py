"""Readings accepted but not yet on disk: offered to the forwarder at once, written only if needed.

With the broker up, a live reading's PUBACK usually arrives long before its group commit is due.
Such a reading is then safe at the broker and never needs to be written: the SD card is spared
and the platform gets it a commit deadline sooner. A staged reading has one of three fates:

- the broker acknowledges it first: it leaves the stage and the commit skips it (``delivered``);
- the commit comes first while it waits: it is written as a pending row and leaves the stage;
- the commit comes first while it is in flight: it is written as a row that is in flight under
  the token's alias, so the PUBACK (or the failure) that comes later resolves the row.

An item staged *held* is not offered until `offer` releases it: the ingest thread holds the
readings of a frame whose payload is relative (its times count from the moment it was received)
until that frame's counter is on disk, so that a replay after a crash is refused instead of
reaching the platform as readings with new times.

Staged items carry negative ids (tokens) so the forwarder treats them like rows. A reading is
never out of both the stage and the disk unless the broker acknowledged it. Not thread-safe by
itself: ReadingBuffer calls it under its lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gateway.store.records import Reading

WAITING = 0
IN_FLIGHT = 1
HELD = 2  # staged, not offered yet

StoredReading = tuple[int, int, dict[str, float]]  # (seq, t, values), as claims carry them


@dataclass(slots=True)
class Staged:
    dev_eui: str
    rx: int
    readings: list[StoredReading]
    state: int = WAITING


class Stage:
    def __init__(self) -> None:
        self.items: dict[int, Staged] = {}  # token -> item, in arrival order
        self.alias: dict[int, int] = {}  # token -> row id, for items written while in flight
        self.delivered: list[int] = []  # tokens the broker acknowledged, not yet taken
        self._next = -1

    def add(self, dev_eui: str, rx: int, readings: Sequence[Reading], held: bool = False) -> int:
        token = self._next
        self._next -= 1
        # the values dicts are shared, not copied: a Reading is frozen and nothing changes its values
        stored = [r[1:] for r in readings]  # (seq, t, values): a Reading less its dev_eui
        self.items[token] = Staged(dev_eui, rx, stored, HELD if held else WAITING)
        return token

    def offer(self, tokens: Sequence[int]) -> None:
        """Held items become waiting: the forwarder may take them (gone ones are skipped)."""
        for token in tokens:
            s = self.items.get(token)
            if s is not None and s.state == HELD:
                s.state = WAITING

    @property
    def readings(self) -> int:
        return sum(len(s.readings) for s in self.items.values())

    def take(self, max_readings: int, count: int = 0) -> tuple[list[tuple[int, Staged]], int]:
        """Waiting items, oldest first, up to max_readings (at least one); they become in flight."""
        out: list[tuple[int, Staged]] = []
        for token, s in self.items.items():
            if s.state != WAITING:
                continue
            n = len(s.readings)
            if out and count + n > max_readings:
                break
            s.state = IN_FLIGHT
            out.append((token, s))
            count += n
            if count >= max_readings:
                break
        return out, count

    def ack(self, token: int) -> int | None:
        """The broker acknowledged the token: the row id to acknowledge instead, if it was written."""
        row = self.alias.pop(token, None)
        if row is not None:
            return row
        if self.items.pop(token, None) is not None:
            self.delivered.append(token)
        return None

    def release(self, token: int) -> int | None:
        """Publishing the token failed: it waits again (or its row, if written, is released)."""
        row = self.alias.pop(token, None)
        if row is not None:
            return row
        s = self.items.get(token)
        if s is not None:
            s.state = WAITING
        return None

    def release_all(self) -> None:
        self.alias.clear()
        for s in self.items.values():
            if s.state == IN_FLIGHT:
                s.state = WAITING

    def take_delivered(self) -> list[int]:
        out, self.delivered = self.delivered, []
        return out
