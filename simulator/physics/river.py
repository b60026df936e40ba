"""A river's storm hydrograph at its gauges: baseflow, a rising limb after the catchment's lag,
the crest, an exponential recession.

The rising limb is a half cosine from base to crest, so the rise rate grows from zero to its
maximum, pi/2 x (crest - base) / rise_s, halfway up and falls back to zero at the crest; the
recession decays towards the baseflow with the e-folding time recession_s. Each gauge sees the
flood wave late by its own travel time (0..travel_s, per seed and gauge), and the storm's crest
and rise time vary by up to +-10 % per seed. Rain (rain_at_s .. + rain_s) puts drops under the
ultrasonic sensors: more spurious short echoes.
"""

from __future__ import annotations

import math
import random

from simulator.physics.settings import River


class RiverModel:
    def __init__(self, s: River, seed: int, start_unix: float) -> None:
        self.s = s
        rng = random.Random("%d:river" % seed)
        self.peak_m = s.base_m + (s.peak_m - s.base_m) * rng.uniform(0.9, 1.1)
        self.rise_s = s.rise_s * rng.uniform(0.9, 1.1)
        self.rain = (start_unix + s.rain_at_s, start_unix + s.rain_at_s + s.rain_s)
        self.rise_at = self.rain[0] + s.lag_s
        self._seed = seed

    def travel_s(self, gauge: str) -> float:
        return random.Random("%d:travel:%s" % (self._seed, gauge)).uniform(0.0, self.s.travel_s)

    def level(self, gauge: str, t: float) -> float:
        """Water level above the gauge's datum at unix time t, metres."""
        s = self.s
        x = t - self.rise_at - self.travel_s(gauge)
        if x <= 0:
            return s.base_m
        if x < self.rise_s:
            return s.base_m + (self.peak_m - s.base_m) * (1 - math.cos(math.pi * x / self.rise_s)) / 2
        return s.base_m + (self.peak_m - s.base_m) * math.exp(-(x - self.rise_s) / s.recession_s)

    def raining(self, t: float) -> bool:
        return self.rain[0] <= t < self.rain[1]
