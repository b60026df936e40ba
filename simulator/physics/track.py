"""A van's GNSS track: a round through the city at street speeds with a stop at every waypoint,
in urban canyons losing fixes and getting a worse HDOP.

Each leg is driven at speed_kmh x uniform(0.7, 1.1) (per seed and leg: lights, traffic), then the
van stops stop_s; the round repeats. Several vans share the route, each starting at its own point
of the round (per seed and van). The receiver's state is decided per epoch (one second): in a
canyon (a rectangle of narrow streets) an epoch has no fix with probability fix_loss_in_canyon,
HDOP hdop_canyon x uniform(0.7, 1.5) and 4-6 satellites; in the open HDOP hdop_open x
uniform(0.8, 1.3) and 8-12 satellites. Positions go to WGS84 degrees from the local metres with
an equirectangular projection around the city's point (good to centimetres over a few km).
"""

from __future__ import annotations

import bisect
import math
import random
from dataclasses import dataclass

from simulator.physics.settings import City, Route

_M_PER_DEG_LAT = 111320.0


@dataclass(frozen=True)
class Epoch:
    x: float
    y: float
    fix: bool
    hdop: float
    satellites: int


class TrackModel:
    def __init__(self, s: Route, city: City, seed: int, start_unix: float) -> None:
        self.s = s
        self.city = city
        self.seed = seed
        self.start = start_unix
        pts = list(s.waypoints)
        legs = list(zip(pts, pts[1:] + pts[:1], strict=True))
        rng = random.Random("%d:route" % seed)
        self._legs: list[tuple[float, float, float, float, float]] = []  # (x0, y0, x1, y1, drive s)
        self._ends: list[float] = []  # seconds into the round at which each leg's stop ends
        t = 0.0
        speed = s.speed_kmh / 3.6
        for (x0, y0), (x1, y1) in legs:
            drive = math.hypot(x1 - x0, y1 - y0) / (speed * rng.uniform(0.7, 1.1))
            self._legs.append((x0, y0, x1, y1, drive))
            t += drive + s.stop_s
            self._ends.append(t)
        self.round_s = t

    def _offset(self, van: str) -> float:
        return random.Random("%d:van:%s" % (self.seed, van)).uniform(0.0, self.round_s)

    def position(self, van: str, t: float) -> tuple[float, float]:
        """Local metres of the van at unix time t."""
        r = (t - self.start + self._offset(van)) % self.round_s
        i = min(bisect.bisect_right(self._ends, r), len(self._legs) - 1)
        x0, y0, x1, y1, drive = self._legs[i]
        into = r - (self._ends[i - 1] if i else 0.0)
        f = min(1.0, into / drive) if drive > 0 else 1.0
        return x0 + (x1 - x0) * f, y0 + (y1 - y0) * f

    def in_canyon(self, x: float, y: float) -> bool:
        return any(min(a, c) <= x <= max(a, c) and min(b, d) <= y <= max(b, d) for a, b, c, d in self.s.canyons)

    def epoch(self, van: str, t: float) -> Epoch:
        """The receiver's state in the second of unix time t."""
        x, y = self.position(van, t)
        rng = random.Random("%d:gnss:%s:%d" % (self.seed, van, int(t)))
        if self.in_canyon(x, y):
            fix = rng.random() >= self.s.fix_loss_in_canyon
            return Epoch(x, y, fix, self.s.hdop_canyon * rng.uniform(0.7, 1.5), rng.randint(4, 6))
        return Epoch(x, y, True, self.s.hdop_open * rng.uniform(0.8, 1.3), rng.randint(8, 12))

    def degrees(self, x: float, y: float) -> tuple[float, float]:
        lat0 = self.city.latitude
        lat = lat0 + y / _M_PER_DEG_LAT
        lon = self.city.longitude + x / (_M_PER_DEG_LAT * math.cos(math.radians(lat0)))
        return lat, lon
