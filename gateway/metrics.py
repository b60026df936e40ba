"""The agent's counters, persisted to a small JSON file so `edge gateway status` in another process
can read them (and so they survive a restart: the agent loads the file when it starts).

One `Metrics` object per agent, passed to whoever counts (no global). Thread-safe without a
lock per count: each thread adds into a dict of its own (only it writes there, so no count is
lost between threads), and readers sum the threads' dicts; levels, gauges and the thread table
itself change under a lock. `save()` writes the file atomically (temp file,
fsync, rename), so neither a reader nor a power cut leaves half a file (a cut may keep the older
one: the directory is not synced, to keep the ingest thread off a second fsync); the
agent calls it after every group commit (at most every `min_interval_s`, OUTAGE_FACTOR times that
once readings have been stored and none forwarded for that long) and at shutdown. A write
that fails (a full disk) is skipped and counted in metrics_writes_skipped; the next one tries
again. A counter read from the file is a lower bound of what the agent counted: it may lag by one
save interval, never lead. A damaged file (empty, garbage) reads as no file: the agent starts from
zero counters and says so in the log. Non-finite numbers are written as null (JSON has no NaN).
"""

from __future__ import annotations

import json
import logging
import math
import os
import threading
import time
from pathlib import Path
from threading import get_ident
from typing import Any

log = logging.getLogger("gateway.metrics")

METRICS_FILE = "metrics.json"
MAX_DEPTH = 8  # gauges deeper than this are written as null (they are summaries, never raw input)
# Once readings have been stored and none forwarded for OUTAGE_FACTOR intervals (the broker is away,
# or none is configured), every reading is written to the buffer anyway and each rewrite of this
# file dirties a 4 KiB block: at 20 readings/s and 10 s that was 20 bytes a reading
# (bench/agent_disk.py), 3.4 at this factor.
# The file says when it was written (updated_at) and the interval in force then (interval_s).
OUTAGE_FACTOR = 6

# Counters `edge gateway status` always shows, even at 0: the ingest's and the forwarder's.
STATUS_COUNTERS = (
    "received_uplinks",  # uplinks committed to the buffer (counted after the commit returned)
    "stored_readings",  # readings committed with them
    "backlog_readings",  # readings in the buffer not yet confirmed by the broker
    "forwarded_readings",  # readings confirmed by a PUBACK and deleted
    "evicted_readings",  # readings dropped by quota or age
    "malformed_datagrams",
    "bad_mic",
    "unknown_device",
    "replays",
)


class Metrics:
    def __init__(self, path: Path | None = None, min_interval_s: float = 0.5) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._counters: dict[str, int] = dict.fromkeys(STATUS_COUNTERS, 0)  # loaded and put values
        self._by_thread: dict[int, dict[str, int]] = {}  # thread id -> what that thread counted
        self._gauges: dict[str, Any] = {}
        self._min_interval = min_interval_s
        self._saved_at = 0.0
        self._saved_counts = (0, 0)  # stored_readings, forwarded_readings at the last write
        self._storing_since: float | None = None  # readings stored and none forwarded since
        self.interval_s = min_interval_s  # the write interval in force, written in the file
        self.started_at = time.time()
        if path is not None and path.exists():
            counters = read(path).get("counters", {})
            if isinstance(counters, dict):
                self._counters.update((k, v) for k, v in counters.items() if type(v) is int and v >= 0)

    def inc(self, name: str, n: int = 1) -> None:
        c = self._by_thread.get(get_ident())
        if c is None:
            c = self._own_counts()
        c[name] = c.get(name, 0) + n

    def _own_counts(self) -> dict[str, int]:
        """The calling thread's dict of counts (a thread started later under a dead one's id
        carries on in its dict: only one thread with that id runs at a time)."""
        with self._lock:
            return self._by_thread.setdefault(get_ident(), {})

    def _sums(self) -> dict[str, int]:
        """Every counter: the loaded and put values plus each thread's counts (call under the lock)."""
        out = dict(self._counters)
        for counts in list(self._by_thread.values()):
            for name, n in counts.copy().items():  # a dict copy is atomic; its owner may add meanwhile
                out[name] = out.get(name, 0) + n
        return out

    def put(self, name: str, value: int) -> None:
        """Set a counter to value (a level such as backlog_readings, or a reset): what the
        threads counted so far is taken off the base, later counts add to it."""
        with self._lock:
            self._counters[name] = value - sum(c.get(name, 0) for c in list(self._by_thread.values()))

    def set(self, name: str, value: Any) -> None:
        """A gauge: a value that is replaced, not added (backlog size, per-gateway stat)."""
        with self._lock:
            self._gauges[name] = value

    def get(self, name: str) -> int:
        with self._lock:
            return self._counters.get(name, 0) + sum(c.get(name, 0) for c in list(self._by_thread.values()))

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "pid": os.getpid(),
                "started_at": self.started_at,
                "updated_at": time.time(),
                "interval_s": self.interval_s,
                "counters": self._sums(),
                "gauges": dict(self._gauges),
            }

    def save(self, force: bool = False) -> bool:
        """Write the file if min_interval_s passed since the last write (or when forced)."""
        if self.path is None:
            return False
        now = time.monotonic()
        if not force and now - self._saved_at < self._min_interval:
            return False  # the usual call (after each group commit): no counter summed, no lock taken
        counts = (self.get("stored_readings"), self.get("forwarded_readings"))
        if counts[1] != self._saved_counts[1]:  # the broker took readings
            self._storing_since = None
        elif counts[0] != self._saved_counts[0] and self._storing_since is None:
            self._storing_since = now
        outage = self._storing_since is not None and now - self._storing_since >= OUTAGE_FACTOR * self._min_interval
        interval = self._min_interval * (OUTAGE_FACTOR if outage else 1)
        if not force and now - self._saved_at < interval:
            return False
        self._saved_at, self._saved_counts, self.interval_s = now, counts, interval
        text = json.dumps(finite(self.snapshot()), sort_keys=True, allow_nan=False)
        try:
            write_atomic(self.path, text.encode())
        except OSError as e:  # a full or read-only disk: the agent keeps receiving, the file waits
            self.inc("metrics_writes_skipped")
            with self._lock:
                self._gauges["metrics_write_error"] = e.strerror or str(e)
            return False
        with self._lock:
            self._gauges.pop("metrics_write_error", None)
        return True


def write_atomic(path: Path, data: bytes) -> None:
    """Replace path with data so that a reader or a power cut sees the old file or the new one, whole."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError:
        try:
            os.remove(tmp)  # a half-written temp file holds space the disk needs back
        except OSError:
            pass
        raise


def finite(value: Any, depth: int = 0) -> Any:
    """value with NaN and infinities as None, and anything nested deeper than MAX_DEPTH as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth >= MAX_DEPTH and isinstance(value, (dict, list, tuple)):
        return None
    if isinstance(value, dict):
        return {k: finite(v, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v, depth + 1) for v in value]
    return value


def read(path: Path) -> dict[str, Any]:
    """The last saved snapshot ({} when the agent never ran, or the file is damaged: logged)."""
    try:
        data = json.loads(path.read_bytes(), parse_constant=lambda name: None)
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, RecursionError) as e:
        log.warning("%s is damaged or unreadable (%s): counters start from zero", path, str(e)[:80])
        return {}
    if not isinstance(data, dict):
        log.warning("%s holds no counters object: counters start from zero", path)
        return {}
    return data
