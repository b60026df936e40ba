"""Waste containers: each fills at its own rate, which varies by day and by hour (households put
out most in the evening, little at night), and is emptied by the collection round.

The truck leaves the depot at round_at_s (and every round_every_s after), drives drive_s to the
first container of the route, empties it in stop_s, drives to the next, and so on: container i of
the route is emptied at round start + (i + 1) x drive_s + i x stop_s + stop_s, down to
residual_pct. A container never holds more than 100 %. The fill is a pure function of time:
the filling since the last emptying (or the run's start) is summed hour by hour.
"""

from __future__ import annotations

import math
import random

from simulator.physics.settings import Containers

# Share of a day's waste put out in each UTC hour, relative to a flat day (mean 1): little at
# night, the morning before work, most in the evening.
_HOURLY = (0.2, 0.1, 0.1, 0.1, 0.1, 0.3, 0.9, 1.5, 1.4, 1.0, 0.9, 1.0,
           1.2, 1.1, 0.9, 0.9, 1.1, 1.5, 2.0, 2.3, 1.9, 1.4, 0.8, 0.4)  # fmt: skip
_MEAN = sum(_HOURLY) / 24


class ContainerModel:
    def __init__(self, s: Containers, seed: int, start_unix: float, route: tuple[str, ...]) -> None:
        self.s = s
        self.seed = seed
        self.start = start_unix
        self.route = route
        self._rates: dict[tuple[str, int], float] = {}  # (container, unix hour) -> % per hour

    def _rng(self, *key: object) -> random.Random:
        return random.Random(":".join(str(k) for k in (self.seed, "bin") + key))

    def emptied_at(self, name: str, k: int) -> float:
        """Unix time the k-th round (0, 1, ...) empties the container."""
        i = self.route.index(name)
        s = self.s
        return self.start + s.round_at_s + k * s.round_every_s + (i + 1) * s.drive_s + (i + 1) * s.stop_s

    def last_emptied(self, name: str, t: float) -> float | None:
        s = self.s
        if name not in self.route or t < self.start + s.round_at_s:
            return None
        k = int((t - self.start - s.round_at_s) // s.round_every_s) if s.round_every_s > 0 else 0
        for j in (k, k - 1):
            if j >= 0 and self.emptied_at(name, j) <= t:
                return self.emptied_at(name, j)
        return None

    def rate_pct_per_h(self, name: str, t: float) -> float:
        key = (name, int(t // 3600))
        if key not in self._rates:
            self._rates[key] = self._rate(name, t)
        return self._rates[key]

    def _rate(self, name: str, t: float) -> float:
        s = self.s
        own = self._rng("rate", name).uniform(1 - s.rate_spread, 1 + s.rate_spread)
        day = self._rng("day", name, int(t // 86400)).uniform(1 - s.day_spread, 1 + s.day_spread)
        hour = int(t % 86400 // 3600)
        return s.fill_pct_per_day / 24 * own * day * _HOURLY[hour] / _MEAN

    def fill(self, name: str, t: float) -> float:
        """Fill level at unix time t, % of the usable depth."""
        since = self.last_emptied(name, t)
        if since is None:
            since = self.start
            level = self._rng("start", name).uniform(self.s.start_min_pct, self.s.start_max_pct)
        else:
            level = self.s.residual_pct
        a = since
        while a < t and level < 100.0:
            b = min(t, (math.floor(a / 3600) + 1) * 3600)  # to the end of this hour
            level += self.rate_pct_per_h(name, a) * (b - a) / 3600
            a = b
        return min(level, 100.0)
