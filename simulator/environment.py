"""The physical world the virtual sensors measure: deterministic, seeded curves over a city day.

Every value is a pure function of (seed, node, time), so a run repeats exactly and any moment can be
asked for in any order (the runner asks at each sensor's sampling time). Times are unix seconds,
hours are UTC hours of the scenario's day.

- Temperature: a diurnal cosine (coldest near 05:00, warmest near 15:00) around the mean, a
  per-node offset (street canyon, shade) and small noise.
- Humidity: the mirror of temperature around its mean, plus episodes (fog, rain) drawn per day:
  RH climbs to 90-98 % for 1-4 h. Optical PM sensors over-read there, which is why firmware and
  gateway keep RH beside PM.
- PM2.5: background plus two rush-hour peaks (08:00, 18:00) and a night inversion bump; PM10, PM1
  and PM4 follow as fixed ratios of the coarse and fine fractions.
- Noise: traffic LAeq between the night floor and the rush-hour level, following the same traffic
  curve; LAmin/LAmax and L10/L50/L90 spread around it as a traffic noise distribution does.
- Pressure: a slow weather wave of a few hPa over days.
- Counters: pedestrians (count_in / count_out) and bikes as Poisson counts per interval with
  rush-hour and lunchtime peaks and near-empty nights.
"""

from __future__ import annotations

import math
import random

from simulator.scenario import Environment, Node

_DAY = 86400.0


def _bump(hour: float, centre: float, width: float) -> float:
    """A smooth peak of height 1 at `centre` o'clock, wrapping around midnight."""
    d = min(abs(hour - centre), 24 - abs(hour - centre))
    return math.exp(-0.5 * (d / width) ** 2)


def traffic(hour: float) -> float:
    """Relative road traffic, 0 (night) .. about 1 (rush hours)."""
    day = 0.35 * _bump(hour, 13.0, 3.5)
    return min(1.0, _bump(hour, 8.0, 1.2) + _bump(hour, 17.5, 1.5) + day)


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 50:  # normal approximation keeps large counts cheap
        return max(0, int(round(rng.gauss(mean, math.sqrt(mean)))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


class World:
    """Environment generators of one scenario."""

    def __init__(self, env: Environment, seed: int) -> None:
        self.env = env
        self.seed = seed
        self._episodes: dict[int, list[tuple[float, float]]] = {}
        self._offsets: dict[str, tuple[float, float, float]] = {}

    def _rng(self, *key: object) -> random.Random:
        return random.Random(":".join(map(str, (self.seed,) + key)))

    def _node_offsets(self, node: str) -> tuple[float, float, float]:
        """(temperature offset Cel, PM factor, noise offset dB) of a node's spot."""
        if node not in self._offsets:
            rng = self._rng("spot", node)
            self._offsets[node] = (rng.gauss(0, 0.8), rng.uniform(0.8, 1.3), rng.gauss(0, 3.0))
        return self._offsets[node]

    def humidity_episodes(self, day: int) -> list[tuple[float, float]]:
        """(start, end) unix seconds of the fog or rain episodes of a day."""
        if day not in self._episodes:
            rng = self._rng("rh", day)
            n = _poisson(rng, self.env.humidity_episodes_per_day)
            spans = []
            for _ in range(n):
                start = day * _DAY + rng.uniform(0, _DAY)
                spans.append((start, start + rng.uniform(1, 4) * 3600))
            self._episodes[day] = spans
        return self._episodes[day]

    def in_episode(self, t: float) -> bool:
        day = int(t // _DAY)
        return any(a <= t < b for d in (day - 1, day) for a, b in self.humidity_episodes(d))

    def temperature(self, node: str, t: float) -> float:
        hour = (t % _DAY) / 3600
        base = self.env.temperature_mean - self.env.temperature_swing * math.cos(2 * math.pi * (hour - 3.0) / 24)
        return base + self._node_offsets(node)[0] + self._rng("t", node, int(t)).gauss(0, 0.15)

    def humidity(self, node: str, t: float) -> float:
        hour = (t % _DAY) / 3600
        swing = 15.0 * math.cos(2 * math.pi * (hour - 3.0) / 24)
        rh = self.env.humidity_mean + swing + self._rng("h", node, int(t)).gauss(0, 1.0)
        if self.in_episode(t):
            rh = max(rh, 90.0 + 8.0 * self._rng("he", node, int(t)).random())
        return min(100.0, max(5.0, rh))

    def pm2_5(self, node: str, t: float) -> float:
        hour = (t % _DAY) / 3600
        inversion = 0.4 * _bump(hour, 2.0, 2.5)
        level = self.env.pm2_5_base * (1 + inversion) + self.env.pm2_5_rush * traffic(hour)
        noise = self._rng("pm", node, int(t)).lognormvariate(0, 0.15)
        return level * self._node_offsets(node)[1] * noise

    def laeq(self, node: str, t: float) -> float:
        hour = (t % _DAY) / 3600
        span = self.env.noise_rush_db - self.env.noise_night_db
        return self.env.noise_night_db + span * traffic(hour) + self._node_offsets(node)[2]

    def pressure(self, t: float) -> float:
        return 101325.0 + 800.0 * math.sin(2 * math.pi * t / (3.7 * _DAY)) + 200.0 * math.sin(2 * math.pi * t / _DAY)

    def flow_per_hour(self, t: float, bikes: bool) -> float:
        hour = (t % _DAY) / 3600
        peak = self.env.bikes_peak_per_h if bikes else self.env.pedestrians_peak_per_h
        shape = 0.02 + _bump(hour, 8.0, 1.0) + _bump(hour, 17.5, 1.3) + 0.6 * _bump(hour, 12.5, 1.5)
        return peak * min(1.0, shape)

    def sample(self, node: Node, t: float, interval_s: float) -> dict[str, float]:
        """The true values of every quantity the node measures at time t (counts over the interval)."""
        out: dict[str, float] = {}
        qs = node.quantities()
        if "pm2_5" in qs or "pm10" in qs or "pm1" in qs or "pm4" in qs:
            pm25 = self.pm2_5(node.name, t)
            humid = 1.0 + (0.6 if self.in_episode(t) else 0.0)  # hygroscopic growth in fog
            fine = {"pm1": 0.72 * pm25, "pm2_5": pm25, "pm4": 1.25 * pm25, "pm10": 1.65 * pm25}
            out.update({q: round(v * humid, 2) for q, v in fine.items() if q in qs})
        if "temperature" in qs:
            out["temperature"] = round(self.temperature(node.name, t), 2)
        if "humidity" in qs:
            out["humidity"] = round(self.humidity(node.name, t), 1)
        if "pressure" in qs:
            out["pressure"] = round(self.pressure(t))
        if "laeq" in qs:
            leq = self.laeq(node.name, t)
            rng = self._rng("n", node.name, int(t))
            leq += rng.gauss(0, 1.0)
            out.update(
                {
                    "laeq": round(leq, 1),
                    "lamin": round(leq - 9 - 3 * rng.random(), 1),
                    "lamax": round(leq + 12 + 6 * rng.random(), 1),
                    "l10": round(leq + 3.5, 1),
                    "l50": round(leq - 2.5, 1),
                    "l90": round(leq - 6.5, 1),
                }
            )
        if "count_in" in qs:
            bikes = "pulse_counter" in node.sensors
            mean = self.flow_per_hour(t, bikes) * interval_s / 3600
            rng = self._rng("c", node.name, int(t))
            out["count_in"] = float(_poisson(rng, mean / (1 if bikes else 2)))
            if "count_out" in qs:
                out["count_out"] = float(_poisson(rng, mean / 2))
        return out
