"""The settings of the use-case physics (docs/simulator.md "Use-case physics"): one dataclass per
scenario section, each default in its field. Durations are virtual seconds from the run's start.

Read by simulator/scenario.py (which validates them) and used by the models beside this module.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class City:
    """Where the scenario's local metres are: [0, 0] is this point (WGS84 degrees)."""

    latitude: float = 43.6086  # Montpellier, place de la Comédie
    longitude: float = 3.8800


@dataclass(frozen=True)
class River:
    """A storm hydrograph at the gauges (water level above their datum, metres)."""

    base_m: float = 0.6  # baseflow level before the storm
    peak_m: float = 2.9  # crest
    rain_at_s: float = 3600.0  # the rain begins
    rain_s: float = 5400.0  # and lasts this long (spurious echoes of drops under the sensor)
    lag_s: float = 1200.0  # catchment response: rain start -> the river starts to rise
    rise_s: float = 5400.0  # rising limb: start of rise -> crest
    recession_s: float = 10800.0  # e-folding time of the recession after the crest
    travel_s: float = 600.0  # the flood wave reaches the gauges within this spread (per gauge)
    echo_noise_m: float = 0.008  # echo noise, about one standard deviation
    dropout: float = 0.03  # share of echoes that never return
    spurious_dry: float = 0.01  # share of short false echoes (leaves, birds)
    spurious_rain: float = 0.15  # ... while it rains


@dataclass(frozen=True)
class Containers:
    """Waste containers filling at their own rate and emptied by a collection round."""

    fill_pct_per_day: float = 45.0  # mean filling rate
    rate_spread: float = 0.5  # each container's rate: mean x uniform(1 - spread, 1 + spread)
    day_spread: float = 0.3  # each container's day: x uniform(1 - spread, 1 + spread)
    start_min_pct: float = 10.0  # fill at the run's start: uniform between these
    start_max_pct: float = 80.0
    round_at_s: float = 14400.0  # the truck leaves the depot
    round_every_s: float = 86400.0  # and again this often
    drive_s: float = 240.0  # from the depot or one container to the next
    stop_s: float = 90.0  # lifting and emptying one container
    residual_pct: float = 3.0  # what stays in an emptied container
    echo_noise_m: float = 0.004
    dropout: float = 0.01
    spurious: float = 0.03  # lids, bags, flies
    route: tuple[str, ...] = ()  # container nodes in visiting order (the scenario's default: its order)


@dataclass(frozen=True)
class Light:
    """Daylight at the city's latitude on the run's dates, clouds, and street lamps."""

    cloud_cover: float = 0.4  # mean share of the sky, 0..1
    lamp_lux: float = 25.0  # a lamp's illuminance on the sensor under it (EN 13201 roads: 10-50 lx)
    lamp_on_below_deg: float = 2.0  # lamps switch on when the sun sinks this far below the horizon


@dataclass(frozen=True)
class Route:
    """A van's round through the city (local metres), stopping at every waypoint."""

    waypoints: tuple[tuple[float, float], ...] = (
        (0.0, 0.0), (600.0, 150.0), (900.0, 700.0), (350.0, 1100.0), (-300.0, 800.0), (-500.0, 200.0),
    )  # fmt: skip
    # narrow streets (x0, y0, x1, y1 in metres) where the sky is a slit: fixes drop, HDOP degrades
    canyons: tuple[tuple[float, float, float, float], ...] = (
        (700.0, 300.0, 1000.0, 800.0),
        (-550.0, 150.0, -250.0, 850.0),
    )
    speed_kmh: float = 25.0  # mean street speed between stops
    stop_s: float = 120.0  # a delivery at each waypoint
    fix_loss_in_canyon: float = 0.5  # share of GNSS epochs without a fix in a canyon
    hdop_open: float = 0.9
    hdop_canyon: float = 4.5


@dataclass(frozen=True)
class WorldSettings:
    city: City = field(default_factory=City)
    river: River = field(default_factory=River)
    containers: Containers = field(default_factory=Containers)
    light: Light = field(default_factory=Light)
    route: Route = field(default_factory=Route)
