"""Group commit on a writer thread, so decoding goes on while SQLite waits for the disk.

The ingest thread hands over a sealed batch: the frame-counter rows for the registry (a snapshot
taken on the ingest thread) and the items for the buffer (readings, their stage token, and a
function building the Uplink record, run here: the batch is sealed, its fields no longer change).
Items the broker acknowledged while staged are skipped by the buffer. A batch may carry counters
only, items only, or both; the writer commits the counters first, then the buffer, in one
transaction each, batch after batch in order, and reports each batch back; only then does the ingest thread count it as
received. At most `depth` batches wait or run, so a slow disk slows the ingest thread down
instead of growing memory.

Only a StoreError (the disk, not the data) fails a whole batch. Any other exception while
building or encoding an item (BadRecord, or a bug such as a value the codec cannot pack) makes
the writer commit the batch item by item: the item that raises is refused alone and the others
are stored, so one bad record can never block every later commit.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from gateway.registry import CounterRow, Registry
from gateway.store.errors import StoreError, is_full
from gateway.store.records import Reading, Uplink

# (build the Uplink record, on the commit thread; its readings; its stage token or None)
Item = tuple[Callable[[], Uplink], Sequence[Reading], "int | None"]


class Buffer(Protocol):
    acks: int  # rows and staged items the broker acknowledged so far

    def commit_uplinks(
        self, items: Sequence[tuple[Uplink, Sequence[Reading]]], tokens: Sequence[int | None] | None = None
    ) -> None: ...

    def stage(self, dev_eui: str, rx: float, readings: Sequence[Reading], held: bool = False) -> int: ...

    def offer(self, tokens: Sequence[int]) -> None: ...

    def take_delivered(self) -> list[int]: ...

    def discard(self, token: int) -> None: ...

    def make_room(self, rows: int) -> None: ...


@dataclass
class Job:
    batch: list[Any]  # the caller's records, handed back untouched
    counters: list[CounterRow]
    items: list[Item]
    kept: list[int] = field(default_factory=list)  # indexes of the items stored
    refused: list[tuple[int, str]] = field(default_factory=list)  # (index, why) refused as invalid
    error: Exception | None = None
    sessions: list[Any] = field(default_factory=list)  # the caller's sessions behind `counters`
    offer: list[int] = field(default_factory=list)  # held stage tokens to offer once `counters` are on disk


class Committer:
    def __init__(self, registry: Registry, buffer: Buffer, wake: Callable[[], None], depth: int = 2) -> None:
        self.registry = registry
        self.buffer = buffer
        self._wake = wake
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=depth)
        self._done: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._inflight = 0
        self._thread = threading.Thread(target=self._run, name="group-commit", daemon=True)
        self._thread.start()

    @property
    def inflight(self) -> int:
        return self._inflight

    def submit(self, job: Job) -> None:
        """Queue a batch; blocks while `depth` batches are already waiting."""
        self._inflight += 1
        self._jobs.put(job)

    def results(self) -> list[Job]:
        if self._done.empty():  # the usual call from the ingest loop: nothing finished, no exception raised
            return []
        out = []
        while True:
            try:
                out.append(self._done.get_nowait())
            except queue.Empty:
                break
        self._inflight -= len(out)
        return out

    def close(self) -> list[Job]:
        """Commit what was submitted, stop the thread, return the last results."""
        self._jobs.put(None)
        self._thread.join()
        return self.results()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            try:
                self._save_counters(job.counters)
                self._store(job)
            except Exception as e:  # disk full, read-only, corrupt: the ingest thread retries later
                job.error = e
            self._done.put(job)
            self._wake()

    def _save_counters(self, rows: list[CounterRow]) -> None:
        """Write the counter rows; on a full disk, let the buffer make room (its reserve and its
        oldest readings: the registry shares its disk) and try once more."""
        try:
            self.registry.save_rows(rows)
        except sqlite3.OperationalError as e:
            if not is_full(e):
                raise
            self.buffer.make_room(len(rows))
            self.registry.save_rows(rows)

    def _store(self, job: Job) -> None:
        tokens = [token for _, _, token in job.items]
        try:
            items = [(make(), readings) for make, readings, _ in job.items]
            self.buffer.commit_uplinks(items, tokens)
            job.kept = list(range(len(job.items)))
            return
        except StoreError:
            raise
        except Exception:  # some item cannot be stored: find it below
            pass
        for i, (make, readings, token) in enumerate(job.items):
            try:
                self.buffer.commit_uplinks([(make(), readings)], [token])
            except StoreError:
                raise
            except Exception as e:
                job.refused.append((i, "%s: %s" % (type(e).__name__, e)))
                if token is not None:
                    self.buffer.discard(token)
                continue
            job.kept.append(i)
