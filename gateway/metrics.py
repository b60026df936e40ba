"""The agent's counters, persisted to a small JSON file so `edge gateway status` in another process
can read them (and so they survive a restart: the agent loads the file when it starts).

One `Metrics` object per agent, passed to whoever counts (no global). Thread-safe: part 2's
forwarder thread counts into the same object. `save()` writes the file atomically (temp file +
rename), so a reader never sees half a file; the agent calls it after every group commit (at most
every `min_interval_s`) and at shutdown. A counter read from the file is a lower bound of what the
agent counted: it may lag by one save interval, never lead.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"

# Counters `edge gateway status` always shows, even at 0. Part 1 (ingest) and part 2 (forwarder).
STATUS_COUNTERS = (
    "received_uplinks",  # uplinks committed to the buffer (counted after the commit returned)
    "stored_readings",  # readings committed with them
    "backlog_readings",  # part 2: readings in the buffer not yet confirmed by the broker
    "forwarded_readings",  # part 2: readings confirmed by a PUBACK and deleted
    "evicted_readings",  # part 2: readings dropped by quota or age
    "malformed_datagrams",
    "bad_mic",
    "unknown_device",
    "replays",
)


class Metrics:
    def __init__(self, path: Path | None = None, min_interval_s: float = 0.5) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._counters: dict[str, int] = dict.fromkeys(STATUS_COUNTERS, 0)
        self._gauges: dict[str, Any] = {}
        self._min_interval = min_interval_s
        self._saved_at = 0.0
        self.started_at = time.time()
        if path is not None and path.exists():
            self._counters.update(read(path).get("counters", {}))

    def inc(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counters[name] = self._counters.get(name, 0) + n

    def put(self, name: str, value: int) -> None:
        """Set a counter that is a level rather than a sum (backlog_readings)."""
        with self._lock:
            self._counters[name] = value

    def set(self, name: str, value: Any) -> None:
        """A gauge: a value that is replaced, not added (backlog size, per-gateway stat)."""
        with self._lock:
            self._gauges[name] = value

    def get(self, name: str) -> int:
        with self._lock:
            return self._counters.get(name, 0)

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "pid": os.getpid(),
                "started_at": self.started_at,
                "updated_at": time.time(),
                "counters": dict(self._counters),
                "gauges": dict(self._gauges),
            }

    def save(self, force: bool = False) -> bool:
        """Write the file if min_interval_s passed since the last write (or when forced)."""
        if self.path is None:
            return False
        now = time.monotonic()
        if not force and now - self._saved_at < self._min_interval:
            return False
        self._saved_at = now
        tmp = self.path.with_name(self.path.name + ".tmp")
        tmp.write_text(json.dumps(self.snapshot(), sort_keys=True))
        os.replace(tmp, self.path)
        return True


def read(path: Path) -> dict[str, Any]:
    """The last saved snapshot ({} when the agent never ran)."""
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return data if isinstance(data, dict) else {}
