# Clocks for drivers and firmware. Code that waits or timestamps takes a clock object instead of
# calling time.sleep_ms() itself, so the same code runs on a board (SystemClock on MicroPython),
# on the gateway (SystemClock on CPython) and in the simulator (VirtualClock: no real waiting).
#
# Interface: sleep_ms(ms), ticks_ms(), ticks_diff(a, b), ticks_add(t, ms), time() -> unix seconds.
import time

from micropython import const

# MicroPython ports whose time.time() counts from 2000-01-01 need this added for unix time.
_EPOCH_2000 = const(946684800)
_TICKS_PERIOD = const(1 << 29)  # MicroPython's ticks wrap at 2^29 ms (about 6.2 days)
_TICKS_HALF = const(1 << 28)


def _ticks_diff(a, b):
    return ((a - b + _TICKS_HALF) % _TICKS_PERIOD) - _TICKS_HALF


class SystemClock:
    """The machine's own clock, on MicroPython or CPython."""

    def __init__(self):
        self._mp = hasattr(time, "ticks_ms")
        self._offset = _EPOCH_2000 if time.gmtime(0)[0] == 2000 else 0
        self._t0 = time.monotonic() if not self._mp else 0

    def sleep_ms(self, ms):
        if self._mp:
            time.sleep_ms(ms)
        else:
            time.sleep(ms / 1000)

    def ticks_ms(self):
        if self._mp:
            return time.ticks_ms()
        return int((time.monotonic() - self._t0) * 1000) % _TICKS_PERIOD

    def ticks_diff(self, a, b):
        return _ticks_diff(a, b)

    def ticks_add(self, t, ms):
        return (t + ms) % _TICKS_PERIOD

    def time(self):
        return int(time.time()) + self._offset


class VirtualClock:
    """A clock that only moves when told to: sleep_ms() and advance() add time, nothing waits.

    Used by tests and the simulator. ticks wrap like MicroPython's, so code tested here copes
    with the wrap on a board. listeners registered with on_advance(fn) are called as fn(now_ms)
    after every step, so emulators can run their own timelines (a sensor's measurement period).
    """

    def __init__(self, unix_start=1763800000, ms=0):
        self._ms = ms
        self._unix0 = unix_start
        self._listeners = []

    def sleep_ms(self, ms):
        if ms > 0:
            self.advance(ms)

    def advance(self, ms):
        self._ms += ms
        for fn in self._listeners:
            fn(self._ms)

    def on_advance(self, fn):
        self._listeners.append(fn)

    def ticks_ms(self):
        return self._ms % _TICKS_PERIOD

    def ticks_diff(self, a, b):
        return _ticks_diff(a, b)

    def ticks_add(self, t, ms):
        return (t + ms) % _TICKS_PERIOD

    def monotonic_ms(self):
        """Milliseconds since the clock started, without wrap (for the simulator's bookkeeping)."""
        return self._ms

    def time(self):
        return self._unix0 + self._ms // 1000

    def set_time(self, unix_seconds):
        self._unix0 = unix_seconds - self._ms // 1000
