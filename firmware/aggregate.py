# Aggregation of one measurement interval into one reading (docs/firmware.md):
#   PM (pm1, pm2_5, pm4, pm10)           trimmed mean: min and max dropped when there are 3+ samples
#   laeq                                  energetic mean 10*log10(mean(10^(L/10))) of the short LAeq
#                                         periods (DESIGN.md: 20, 50, 80 dB -> 75.2 dB)
#   lamin / lamax                         lowest / highest the sound sensor reported
#   l10 / l50 / l90                       levels exceeded 10/50/90 % of the short periods, from a fixed
#                                         histogram (0.5 dB classes, 20..140 dB): no samples kept
#   temperature, humidity, pressure       arithmetic mean
#   count_in, count_out                   sum over the interval
#   latitude, longitude                   the last fix's: a failed GNSS read forgets it (forget()),
#                                         so a reading carries its own fix's position or none
# Running sums only: memory does not grow with the number of samples.
import math
from array import array

from micropython import const

from edge import vocab

_HIST_LO_X2 = const(40)  # 20 dB, in half-dB steps
_HIST_BINS = const(240)  # 20 .. 140 dB
_PM = ("pm1", "pm2_5", "pm4", "pm10")
_MEAN = ("temperature", "humidity", "pressure")
_COUNT = ("count_in", "count_out")
POSITION = ("latitude", "longitude")
_PERCENTILES = (("l10", 10), ("l50", 50), ("l90", 90))


class Aggregator:
    """Collects samples over an interval; result() gives the reading's quantities."""

    def __init__(self):
        self._stats = {}  # quantity -> [n, sum, min, max]
        self._hist = array("H", bytes(2 * _HIST_BINS))
        self._hist_n = 0
        self._hist_top = -1  # the highest class counted since reset(): the classes above are 0
        self._hist_bottom = _HIST_BINS  # ... and the lowest
        self._energy = 0.0
        self._noise_n = 0
        self.out_of_range = 0  # values outside the vocabulary's range, dropped

    def reset(self):
        for q in self._stats:
            s = self._stats[q]
            s[0] = 0
            s[1] = 0.0
            s[2] = 0.0
            s[3] = 0.0
        for i in range(self._hist_bottom, self._hist_top + 1):  # the other classes are still 0
            self._hist[i] = 0
        self._hist_n = 0
        self._hist_top = -1
        self._hist_bottom = _HIST_BINS
        self._energy = 0.0
        self._noise_n = 0

    def add(self, values):
        """One sample from a sensor: a dict of quantities (a driver's read(), calibrated).

        The running sums are updated here, in the loop, not in a call per value: a device hot path
        (every sample of every sensor), where a MicroPython call is costly."""
        stats = self._stats
        for q in values:
            v = values[q]
            if v is None:
                continue
            if q == "laeq":
                self._add_level(v)
            elif q in POSITION:
                self.forget((q,))  # only the newest fix counts
            s = stats.get(q)
            if s is None:
                s = [0, 0.0, 0.0, 0.0]
                stats[q] = s
            if s[0] == 0:
                s[2] = v
                s[3] = v
            elif v < s[2]:
                s[2] = v
            elif v > s[3]:
                s[3] = v
            s[0] += 1
            s[1] += v

    def forget(self, quantities):
        """Drop what was collected of quantities (a GNSS read without a fix: no stale position)."""
        for q in quantities:
            s = self._stats.get(q)
            if s is not None:
                s[0] = 0
                s[1] = 0.0

    def _add_level(self, level):
        self._energy += math.pow(10.0, level / 10.0)
        self._noise_n += 1
        i = int(level * 2 + 0.5) - _HIST_LO_X2
        if i < 0:
            i = 0
        elif i >= _HIST_BINS:
            i = _HIST_BINS - 1
        if self._hist[i] < 0xFFFF:
            self._hist[i] += 1
            self._hist_n += 1
            if i > self._hist_top:
                self._hist_top = i
            if i < self._hist_bottom:
                self._hist_bottom = i

    def _exceeded(self, percent):
        # the level exceeded by `percent` % of the periods: walk the classes from the loudest down
        target = self._hist_n * percent / 100.0
        seen = 0
        for i in range(self._hist_top, -1, -1):  # the classes above the top are empty
            seen += self._hist[i]
            if seen >= target and seen > 0:
                return (i + _HIST_LO_X2) / 2.0
        return None

    def result(self):
        """The interval's quantities (only those with samples, and within the vocabulary's range)."""
        out = {}
        for q in self._stats:
            n, total, lo, hi = self._stats[q]
            if n == 0:
                continue
            if q in _COUNT:
                v = total
            elif q in _PM:
                v = (total - lo - hi) / (n - 2) if n > 2 else total / n
            elif q == "lamin":
                v = lo
            elif q == "lamax":
                v = hi
            elif q == "laeq":
                continue
            else:
                v = total / n
            out[q] = v
        if self._noise_n:
            out["laeq"] = 10.0 * math.log10(self._energy / self._noise_n)
            for name, pct in _PERCENTILES:
                out[name] = self._exceeded(pct)
        for q in list(out):
            if q not in vocab.BY_NAME or not vocab.in_range(q, out[q]):
                del out[q]
                self.out_of_range += 1
        return out
