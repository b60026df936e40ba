"""Log bad input once per kind, then at most once per interval with the number suppressed.

A flood of malformed datagrams must not flood the log (or the SD card); the counters in
gateway.metrics carry the exact numbers.
"""

from __future__ import annotations

import logging
import time


class RateLimitedLog:
    def __init__(self, log: logging.Logger, interval_s: float = 60.0) -> None:
        self._log = log
        self._interval = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warn(self, kind: str, message: str) -> bool:
        """Log `message` under `kind` unless that kind was logged within the interval; True if logged."""
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False
        self._last[kind] = now
        n = self._suppressed.pop(kind, 0)
        more = " (%d more of this kind since the last report)" % n if n else ""
        self._log.warning("%s: %s%s", kind, message, more)
        return True
