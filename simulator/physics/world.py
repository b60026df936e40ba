"""The use-case physics of one scenario, per node: what each node's emulators are set to over
time, and the truth the checker and the report compare against.

A node's role follows from its configuration, so each fact lives once: a ranging sensor with
`water` settings is a river gauge (distance = sensor height over the datum - water level), with
`fill` settings a waste container (distance = offset + depth x (1 - fill)), an illuminance sensor
sees daylight (and a lamp when the group says `under_lamp`), a `gnss` receiver rides a van.

The emulators are set on a grid of their own (STEP_S per role, half a second past the whole
second so a setting never coincides with a firmware step, which happen on whole seconds): the
value a sensor reads at time t is the model's at the last grid point before t.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from typing import Any

from simulator.physics.containers import ContainerModel
from simulator.physics.light import LightModel
from simulator.physics.river import RiverModel
from simulator.physics.track import TrackModel
from simulator.scenario import Node, Scenario

GRID_OFFSET_S = 0.5
STEP_S = {"river": 5.0, "container": 10.0, "light": 60.0, "van": 5.0}


def ranging(node: Node) -> tuple[str, str, dict[str, Any]] | None:
    """(sensor, "water" | "fill", its settings) of a node's ranging sensor with derived values."""
    for sensor, settings in node.sensor_settings.items():
        for kind in ("water", "fill"):
            if kind in settings:
                return sensor, kind, settings[kind]
    return None


def role(node: Node) -> str | None:
    r = ranging(node)
    if r is not None:
        return "river" if r[1] == "water" else "container"
    if "gnss" in node.sensors:
        return "van"
    if "illuminance" in node.quantities():
        return "light"
    return None


def grid_before(t: float, step: float) -> float:
    """The last setting time at or before t."""
    return math.floor((t - GRID_OFFSET_S) / step) * step + GRID_OFFSET_S


class NodePhysics:
    """One node's share of the world: setting times and what they set on its emulators."""

    def __init__(self, step_s: float, apply: Callable[[dict[str, Any], float], None], seed: int = 0) -> None:
        self.step_s = step_s
        self.apply = apply  # (emulators by sensor type, unix time)
        self.seed = seed  # of the echo physics of this node's ranging sensor

    def setup(self, emulators: dict[str, Any]) -> None:
        """Once, before the first setting: each node's echoes get their own random sequence."""
        for emu in emulators.values():
            reseed = getattr(emu, "reseed", None)
            if reseed is not None:
                reseed(self.seed)

    def times(self, t0: float, t1: float) -> Iterator[float]:
        """Setting times in [t0, t1)."""
        t = grid_before(t0, self.step_s)
        if t < t0:
            t += self.step_s
        while t < t1:
            yield t
            t += self.step_s


class UseCaseWorld:
    def __init__(self, sc: Scenario) -> None:
        w = sc.world
        self.sc = sc
        self.river = RiverModel(w.river, sc.seed, sc.start_unix)
        self.containers = ContainerModel(w.containers, sc.seed, sc.start_unix, w.containers.route)
        self.light = LightModel(w.light, w.city, sc.seed)
        self.track = TrackModel(w.route, w.city, sc.seed, sc.start_unix)

    # ---------------------------------------------------------------- truth

    def water_level(self, node: str, t: float) -> float:
        return self.river.level(node, t)

    def fill(self, node: str, t: float) -> float:
        return self.containers.fill(node, t)

    def value(self, node: str, quantity: str, t: float) -> float:
        """The true water_level or fill_level of a node at unix time t."""
        return self.water_level(node, t) if quantity == "water_level" else self.fill(node, t)

    def fix_at(self, node: str, t: float) -> tuple[float, float] | None:
        """The (lat, lon) a van's receiver gave at unix time t, or None without a fix."""
        e = self.track.epoch(node, grid_before(t, STEP_S["van"]))
        return self.track.degrees(e.x, e.y) if e.fix else None

    # ---------------------------------------------------------------- the emulators

    def for_node(self, node: Node) -> NodePhysics | None:
        kind = role(node)
        if kind in ("river", "container"):
            r = ranging(node)
            assert r is not None
            sensor, _, geo = r
            seed = random.Random("%d:echo:%s" % (self.sc.seed, node.name)).randrange(1, 1 << 30)
            if kind == "river":
                height = geo["sensor_m"] - geo["datum_m"]
                return NodePhysics(
                    STEP_S[kind], lambda emus, t: self._gauge(emus.get(sensor), node.name, height, t), seed
                )
            depth, offset = geo["depth_m"], geo["offset_m"]
            return NodePhysics(
                STEP_S[kind], lambda emus, t: self._bin(emus.get(sensor), node.name, depth, offset, t), seed
            )
        if kind == "van":
            return NodePhysics(STEP_S[kind], lambda emus, t: self._van(emus.get("gnss"), node.name, t))
        if kind == "light":
            lamp = node.under_lamp
            return NodePhysics(STEP_S[kind], lambda emus, t: self._light(emus, lamp, t))
        return None

    def _gauge(self, emu: Any, name: str, height: float, t: float) -> None:
        if emu is None:
            return
        s = self.river.s
        emu.noise_m, emu.dropout = s.echo_noise_m, s.dropout
        emu.spurious = s.spurious_rain if self.river.raining(t) else s.spurious_dry
        emu.set(distance=height - self.river.level(name, t))

    def _bin(self, emu: Any, name: str, depth: float, offset: float, t: float) -> None:
        if emu is None:
            return
        s = self.containers.s
        emu.noise_m, emu.dropout, emu.spurious = s.echo_noise_m, s.dropout, s.spurious
        emu.set(distance=offset + depth * (1 - self.containers.fill(name, t) / 100))

    def _van(self, emu: Any, name: str, t: float) -> None:
        if emu is None:
            return
        e = self.track.epoch(name, t)
        lat, lon = self.track.degrees(e.x, e.y)
        emu.set(latitude=lat, longitude=lon)
        emu.has_fix, emu.hdop, emu.satellites = e.fix, e.hdop, e.satellites

    def _light(self, emus: dict[str, Any], lamp: bool, t: float) -> None:
        lux = self.light.illuminance(t, lamp)
        for emu in emus.values():
            if "illuminance" in emu.QUANTITIES:
                emu.set(illuminance=lux)


def crossings(f: Callable[[float], float], level: float, t0: float, t1: float, step: float = 10.0) -> list[float]:
    """Times in [t0, t1] at which f rises above level (to 0.1 s, by bisection)."""
    out = []
    a, fa = t0, f(t0)
    while a < t1:
        b = min(t1, a + step)
        fb = f(b)
        if fa <= level < fb:
            lo, hi = a, b
            while hi - lo > 0.1:
                mid = (lo + hi) / 2
                if f(mid) > level:
                    hi = mid
                else:
                    lo = mid
            out.append(hi)
        a, fa = b, fb
    return out
