"""Log bad input once per kind, then at most once per interval with the number suppressed.

A flood of malformed datagrams must not flood the log (or the SD card); the counters in
gateway.metrics carry the exact numbers. At most MAX_KINDS kinds are tracked (a kind may hold
text from the network): further ones share the kind OTHER. Kinds and messages are logged with
control characters escaped and cut to MAX_MESSAGE characters, so no peer can forge a log line
(a newline) or fill the disk with one.
"""

from __future__ import annotations

import logging
import time

MAX_KINDS = 256
MAX_MESSAGE = 400
OTHER = "other"
# C0 controls, DEL and C1 controls -> \xNN; a backslash doubles, so an escape cannot be faked either
_ESCAPES = {c: "\\x%02x" % c for c in (*range(0x20), *range(0x7F, 0xA0))}
_ESCAPES[ord("\\")] = "\\\\"
_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})  # line separators to some log viewers


def clean(text: str, limit: int = MAX_MESSAGE) -> str:
    """text with control characters escaped, at most limit characters (then '...')."""
    out = text[: limit + 1].translate(_ESCAPES)
    return out[:limit] + "..." if len(out) > limit else out


class RateLimitedLog:
    def __init__(self, log: logging.Logger, interval_s: float = 60.0) -> None:
        self._log = log
        self._interval = interval_s
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def warn(self, kind: str, message: str) -> bool:
        """Log `message` under `kind` unless that kind was logged within the interval; True if logged."""
        now = time.monotonic()
        if kind not in self._last and len(self._last) >= MAX_KINDS:
            kind = OTHER
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False
        self._last[kind] = now
        n = self._suppressed.pop(kind, 0)
        more = " (%d more of this kind since the last report)" % n if n else ""
        self._log.warning("%s: %s%s", clean(kind, 80), clean(message), more)
        return True
