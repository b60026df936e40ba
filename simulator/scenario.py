"""Scenario files: what a simulated deployment consists of, read from TOML and validated.

A scenario names its nodes (board, sensors, interval, position), the concentrators and the gateway
agent, the radio model, the environment and a timeline of faults. The format is documented in
docs/simulator.md. Every problem raises ScenarioError naming the key, what is wrong and the fix.
Each default lives here once, in the dataclass field that carries it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import random
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drivers.registry import CHIPS
from edge import lora
from firmware.config import Config, ConfigError, load_board
from gateway.lorawan import maccmd
from simulator.devices import emulator_class
from simulator.physics.settings import City, Containers, Light, River, Route, WorldSettings
from simulator.scenario_table import ScenarioError, Table, dataclass_from

SCENARIO_DIR = Path(__file__).parent / "scenarios"
HW_DIR = Path(__file__).parents[1] / "hw"

# Sensor kinds a node can carry: the chip registry (drivers/registry.py), plus the percentile
# levels the firmware's noise histogram adds to every noise reading.
_NOISE_EXTRA = ("l10", "l50", "l90")
SENSOR_QUANTITIES: dict[str, tuple[str, ...]] = {
    name: row[3] + (_NOISE_EXTRA if "laeq" in row[3] else ()) for name, row in CHIPS.items()
}
# Boards are the files of hw/boards/.
BOARDS = tuple(sorted(p.stem for p in (Path(__file__).parents[1] / "hw" / "boards").glob("*.json")))
SENSOR_FAULT_MODES = ("crc", "stuck", "absent")
FAULT_MODE = {"crc": "checksum", "stuck": "stuck", "absent": "nack"}  # -> the emulators' fault modes
FAULT_KINDS = ("backhaul_down", "agent_kill", "node_power_loss", "sensor_fault")
MIN_INTERVAL_S = 10  # the firmware's set_interval floor (docs/downlink.md)


@dataclass(frozen=True)
class Node:
    name: str
    dev_eui: str  # 16 hex digits
    dev_addr: str  # 8 hex digits (ABP)
    nwkskey: str  # 32 hex digits (ABP)
    appskey: str  # 32 hex digits (ABP)
    board: str
    sensors: tuple[str, ...]
    interval_s: int
    x: float
    y: float
    sf: int | None  # None: chosen by the radio model from the link budget
    tx_power_dbm: float
    rtc_offset_s: int = 0  # the node's RTC minus true time at power-up
    join_eui: str = "0000000000000000"  # OTAA (the LoRa-E5 modem joins by OTAA)
    app_key: str = "00000000000000000000000000000000"
    # per sensor type, extra keys of its firmware config entry (echoes, reject_m, fill, water)
    sensor_settings: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[str, Any] | None = None  # the firmware's events section (docs/firmware.md "Events")
    under_lamp: bool = False  # a light sensor under a street lamp (simulator/physics/light.py)

    def quantities(self) -> tuple[str, ...]:
        out: list[str] = []
        for s in self.sensors:
            out.extend(q for q in SENSOR_QUANTITIES[s] if q not in out)
        return tuple(out)


@dataclass(frozen=True)
class Concentrator:
    name: str
    eui: str  # 16 hex digits
    x: float
    y: float
    channels: tuple[int, ...] = maccmd.EU868_CHANNELS  # an 8-channel SX1301/SX1302 board: the defaults + CFList
    antenna_gain_db: float = 3.0


@dataclass(frozen=True)
class Gateway:
    gateway_id: str = "sim-gw"
    topic_root: str = "edge"
    # Extra `key = value` settings for the agent's TOML config, applied after `edge gateway init`.
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Radio:
    path_loss_exponent: float = 2.9  # urban log-distance exponent
    reference_loss_db: float = 40.0  # loss at 1 m, 868 MHz free space is 31.2 dB; +clutter
    shadowing_sigma_db: float = 6.0  # log-normal shadowing, fixed per link
    fading_sigma_db: float = 2.0  # per-frame variation around the link's mean
    noise_figure_db: float = 6.0
    capture_threshold_db: float = 6.0  # a frame survives an overlap if this much stronger
    loss_probability: float = 0.0  # random loss of a frame at each concentrator, 0..1
    sf_margin_db: float = 10.0  # link margin the automatic SF choice keeps
    demodulators: int = 8  # concurrent receptions a concentrator can demodulate


@dataclass(frozen=True)
class Environment:
    pm2_5_base: float = 8.0  # ug/m3, clean-air background
    pm2_5_rush: float = 14.0  # extra at the rush-hour peaks
    temperature_mean: float = 12.0  # Cel
    temperature_swing: float = 5.0  # half the day-night difference
    humidity_mean: float = 70.0  # %RH
    humidity_episodes_per_day: float = 0.5  # fog or rain episodes, RH near saturation
    noise_night_db: float = 45.0
    noise_rush_db: float = 70.0
    pedestrians_peak_per_h: float = 300.0
    bikes_peak_per_h: float = 120.0


@dataclass(frozen=True)
class Fault:
    kind: str
    at_s: float
    duration_s: float = 0.0  # 0: instantaneous (agent_kill restarts after restart_after_s)
    node: str | None = None
    sensor: str | None = None
    mode: str | None = None  # sensor_fault: crc | stuck | absent
    restart_after_s: float = 5.0  # agent_kill: virtual seconds before the agent is started again


@dataclass(frozen=True)
class Pacing:
    max_speed: float = 0.0  # virtual seconds per wall second at most; 0 = as fast as the chain takes
    tick_ms: int = 1000  # virtual step between exchanges with the real processes
    rx_wait_ms: float = 20.0  # wall time held per tick with uplinks, for downlinks to arrive
    max_lag_readings: int = 5000  # readings pushed but not yet at the platform before pacing holds
    workers: int = 0  # node processes: 0 = the nodes run in the runner's process (simulator/shards.py)


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    seed: int
    start_unix: int
    duration_s: float
    nodes: tuple[Node, ...]
    concentrators: tuple[Concentrator, ...]
    gateway: Gateway
    radio: Radio
    environment: Environment
    faults: tuple[Fault, ...]
    pacing: Pacing
    mqtt_version: int = 5  # 5 or 3 (3.1.1); the embedded broker speaks only 3.1.1
    world: WorldSettings = field(default_factory=WorldSettings)  # use-case physics

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)


def firmware_config(node: Node, data_dir: str, dr: int) -> Config:
    """The firmware configuration a simulated node runs with (ConfigError when it is invalid)."""
    lw = {"dev_eui": node.dev_eui, "join_eui": node.join_eui, "app_key": node.app_key, "dr": dr}
    sensors: list[dict[str, Any]] = []
    for s in node.sensors:
        entry: dict[str, Any] = {"type": s}
        if CHIPS[s][2] == "uart":
            entry["uart"] = "pm"
        elif CHIPS[s][2] == "i2c":
            entry["i2c"] = "0"
        entry.update(node.sensor_settings.get(s, {}))
        sensors.append(entry)
    data: dict[str, Any] = {"node_id": node.name, "board": node.board, "lorawan": lw, "interval_s": node.interval_s,
                            "sensors": sensors, "datalog": {"dir": data_dir}}  # fmt: skip
    if node.events is not None:
        data["events"] = node.events
    return Config(json.loads(json.dumps(data)), load_board(node.board, str(HW_DIR)))


def sensor_fault_modes(sensor: str) -> tuple[str, ...]:
    """The scenario fault modes a sensor's emulator supports (crc -> checksum, absent -> nack)."""
    emulator = emulator_class(sensor)
    if emulator is None:
        return ()
    faults = emulator.FAULTS
    return tuple(m for m in SENSOR_FAULT_MODES if FAULT_MODE[m] in faults)


# ---------------------------------------------------------------- sections


def _key_hex(seed: int, label: str, digits: int) -> str:
    """Deterministic per-node identity and key material, so a scenario file needs no secrets."""
    rng = random.Random("%d:%s" % (seed, label))
    return "".join("%x" % rng.randrange(16) for _ in range(digits))


def _positions(g: Table, name: str, count: int, seed: int) -> list[tuple[float, float]]:
    """A lone node's position, or count nodes spread uniformly over the group's disc."""
    if count == 1 and g.has("position"):
        return [g.point("position")]
    cx, cy = g.point("center") if g.has("center") else (0.0, 0.0)
    radius = g.num("radius", 1000.0, lo=0)
    rng = random.Random("%d:place:%s" % (seed, name))
    positions = []
    for _ in range(count):
        r, a = radius * math.sqrt(rng.random()), rng.uniform(0, 2 * math.pi)
        positions.append((cx + r * math.cos(a), cy + r * math.sin(a)))
    return positions


def _nodes(root: Table, seed: int) -> tuple[Node, ...]:
    nodes: list[Node] = []
    names: set[str] = set()
    groups = root.array("nodes")
    if not groups:
        raise ScenarioError("nodes", "no nodes", "add at least one [[nodes]] block")
    for g in groups:
        name = g.text("name")
        count = g.integer("count", 1, lo=1, hi=100000)
        board = g.text("board", choices=BOARDS)
        sensors_raw = g.raw("sensors")
        if not isinstance(sensors_raw, list) or not sensors_raw:
            raise ScenarioError(g.path("sensors"), "expected a non-empty list", 'write sensors = ["sds011", "sht3x"]')
        for s in sensors_raw:
            if s not in SENSOR_QUANTITIES:
                raise ScenarioError(
                    g.path("sensors"), "unknown sensor %r" % s, "use: %s" % ", ".join(SENSOR_QUANTITIES)
                )
        interval = g.duration("interval", 300)
        if interval < MIN_INTERVAL_S or interval != int(interval):
            raise ScenarioError(g.path("interval"), "%r s" % interval, "use whole seconds >= %d" % MIN_INTERVAL_S)
        sf_raw = g.raw("sf", "auto")
        if sf_raw != "auto" and (isinstance(sf_raw, bool) or sf_raw not in (7, 8, 9, 10, 11, 12)):
            raise ScenarioError(g.path("sf"), "%r" % (sf_raw,), 'use 7..12 or "auto"')
        tx_power = g.num("tx_power_dbm", 14.0, lo=-10, hi=16)
        rtc = g.text("rtc", "unsynchronised", choices=("unsynchronised", "synchronised"))
        settings, events = _node_settings(g, sensors_raw)
        under_lamp = g.raw("under_lamp", False)
        if not isinstance(under_lamp, bool):
            raise ScenarioError(g.path("under_lamp"), "expected true or false", "write under_lamp = true")
        for i, (x, y) in enumerate(_positions(g, name, count, seed)):
            nname = name if count == 1 else "%s-%d" % (name, i + 1)
            if nname in names:
                raise ScenarioError(g.path("name"), "node name %r used twice" % nname, "give each group its own name")
            names.add(nname)
            nodes.append(
                Node(
                    name=nname,
                    dev_eui=_key_hex(seed, nname + ":eui", 16),
                    dev_addr=_key_hex(seed, nname + ":addr", 8),
                    nwkskey=_key_hex(seed, nname + ":nwk", 32),
                    appskey=_key_hex(seed, nname + ":app", 32),
                    board=board,
                    sensors=tuple(sensors_raw),
                    interval_s=int(interval),
                    x=x,
                    y=y,
                    sf=None if sf_raw == "auto" else int(sf_raw),
                    tx_power_dbm=tx_power,
                    rtc_offset_s=(
                        -random.Random("%d:rtc:%s" % (seed, nname)).randrange(int(interval))
                        if rtc == "unsynchronised"
                        else 0
                    ),
                    join_eui=_key_hex(seed, "join", 16),
                    app_key=_key_hex(seed, nname + ":appkey", 32),
                    sensor_settings=settings,
                    events=events,
                    under_lamp=under_lamp,
                )
            )
        _check_firmware(g, nodes[-1])
        g.done()
    return tuple(nodes)


def _node_settings(g: Table, sensors: list[str]) -> tuple[dict[str, dict[str, Any]], dict[str, Any] | None]:
    """[nodes.settings.<sensor>] (extra keys of that sensor's firmware entry) and [nodes.events]."""
    settings = g.table("settings")
    for sensor, keys in settings.data.items():
        if sensor not in sensors:
            raise ScenarioError(
                settings.path(sensor), "not a sensor of this group", "use one of: %s" % ", ".join(sensors)
            )
        if not isinstance(keys, dict):
            raise ScenarioError(settings.path(sensor), "expected a table", "write [nodes.settings.%s]" % sensor)
        settings.used.add(sensor)
    events = g.raw("events")
    if events is not None and not isinstance(events, dict):
        raise ScenarioError(g.path("events"), "expected a table", "write [nodes.events] with watch_s and rules")
    return dict(settings.data), events


def _check_firmware(g: Table, node: Node) -> None:
    """The firmware's own validation of a group's configuration (derived values, events)."""
    try:
        firmware_config(node, "/data", 12 - (node.sf or 7))
    except ConfigError as e:
        key = g.path("settings") if any(p.startswith("sensors") for p in e.problems) else g.path("events")
        raise ScenarioError(key, "; ".join(e.problems), "see docs/firmware.md (derived values, events)") from None


def _world(root: Table, nodes: tuple[Node, ...]) -> WorldSettings:
    """[city], [river], [containers], [light], [route]: the use-case physics."""
    city_t = root.table("city")
    city = City(latitude=city_t.num("latitude", City.latitude, lo=-85, hi=85),
                longitude=city_t.num("longitude", City.longitude, lo=-180, hi=180))  # fmt: skip
    city_t.done()
    cont_t = root.table("containers")
    fills = [n.name for n in nodes if any("fill" in keys for keys in n.sensor_settings.values())]
    names = cont_t.raw("route", fills)  # default: every container, in scenario order
    if not isinstance(names, list) or any(r not in {n.name for n in nodes} for r in names):
        raise ScenarioError(cont_t.path("route"), "expected node names", 'write route = ["bin-1", "bin-2"]')
    containers = dataclasses.replace(dataclass_from(cont_t, Containers, skip=("route",)), route=tuple(names))
    route_t = root.table("route")
    points, canyons = route_t.rows("waypoints", 2, Route.waypoints, 2), route_t.rows("canyons", 4, Route.canyons)
    route = dataclasses.replace(dataclass_from(route_t, Route, ("waypoints", "canyons")), waypoints=points,
                                canyons=canyons)  # fmt: skip
    if route.speed_kmh <= 0:
        raise ScenarioError(route_t.path("speed_kmh"), "must be > 0", "use a street speed, e.g. 25")
    for key in ("containers.rate_spread", "containers.day_spread", "route.fix_loss_in_canyon"):
        if getattr(containers if key[0] == "c" else route, key.split(".")[1]) > 1:
            raise ScenarioError(key, "above 1", "use a share 0..1")
    if containers.start_min_pct > containers.start_max_pct or containers.start_max_pct > 100:
        raise ScenarioError("containers.start_max_pct", "below start_min_pct or above 100", "use 0..100, min <= max")
    river, light = dataclass_from(root.table("river"), River), dataclass_from(root.table("light"), Light)
    return WorldSettings(city=city, river=river, containers=containers, light=light, route=route)


def _concentrators(root: Table) -> tuple[Concentrator, ...]:
    out: list[Concentrator] = []
    tables = root.array("concentrators")
    if not tables:
        raise ScenarioError("concentrators", "no concentrators", "add a [[concentrators]] block with eui and position")
    for t in tables:
        chans = t.raw("channels", list(maccmd.EU868_CHANNELS))
        if not isinstance(chans, list) or not chans or len(chans) > 8:
            raise ScenarioError(t.path("channels"), "expected 1..8 frequencies in Hz", "write [868100000, ...]")
        for c in chans:
            try:
                lora.eu868_subband(c)
            except (lora.RadioError, TypeError):
                raise ScenarioError(t.path("channels"), "%r Hz is outside EU868" % (c,), "use 863-870 MHz") from None
        x, y = t.point("position")
        c = Concentrator(
            name=t.text("name"),
            eui=t.hexstr("eui", 16),
            x=x,
            y=y,
            channels=tuple(int(c) for c in chans),
            antenna_gain_db=t.num("antenna_gain_db", Concentrator.antenna_gain_db, lo=-10, hi=20),
        )
        t.done()
        if any(o.eui == c.eui for o in out):
            raise ScenarioError(t.path("eui"), "EUI %s used twice" % c.eui, "give each concentrator its own EUI")
        out.append(c)
    return tuple(out)


def _faults(root: Table, nodes: tuple[Node, ...], duration: float) -> tuple[Fault, ...]:
    names = {n.name: n for n in nodes}
    out: list[Fault] = []
    for t in root.array("faults"):
        kind = t.text("kind", choices=FAULT_KINDS)
        at = t.duration("at")
        if at > duration:
            raise ScenarioError(t.path("at"), "after the end of the run (%gs)" % duration, "move it earlier")
        f = Fault(kind=kind, at_s=at)
        if kind in ("backhaul_down", "node_power_loss", "sensor_fault"):
            f = Fault(kind=kind, at_s=at, duration_s=t.duration("duration"))
        if kind == "agent_kill":
            f = Fault(kind=kind, at_s=at, restart_after_s=t.duration("restart_after", Fault.restart_after_s))
        if kind in ("node_power_loss", "sensor_fault"):
            node = t.text("node")
            if node not in names:
                raise ScenarioError(t.path("node"), "no node named %r" % node, "use a node name (group-N for groups)")
            f = Fault(kind=kind, at_s=at, duration_s=f.duration_s, node=node)
            if kind == "sensor_fault":
                sensor = t.text("sensor")
                if sensor not in names[node].sensors:
                    raise ScenarioError(t.path("sensor"), "%s has no %r" % (node, sensor), "use one of its sensors")
                mode = t.text("mode", choices=SENSOR_FAULT_MODES)
                supported = sensor_fault_modes(sensor)
                if mode not in supported:
                    fix = "use one of: %s" % ", ".join(supported) if supported else "choose a sensor with an emulator"
                    raise ScenarioError(t.path("mode"), "the %s emulator has no %r fault" % (sensor, mode), fix)
                f = Fault(kind=kind, at_s=at, duration_s=f.duration_s, node=node, sensor=sensor, mode=mode)
        t.done()
        out.append(f)
    return tuple(sorted(out, key=lambda f: f.at_s))


def _gateway(t: Table) -> Gateway:
    gw = Gateway(
        gateway_id=t.text("gateway_id", Gateway.gateway_id),
        topic_root=t.text("topic_root", Gateway.topic_root),
        extra=dict(t.table("extra").data),
    )
    for ch in "/+#":
        if ch in gw.gateway_id or ch in gw.topic_root.strip("/").replace("/", ""):
            raise ScenarioError(t.path("gateway_id"), "MQTT wildcard or separator in a name", "use letters, digits, -")
    t.done()
    return gw


def load(source: str | Path) -> Scenario:
    """A scenario from a file path, or from the name of a shipped scenario (demo, chaos, ...)."""
    path = Path(source)
    if not path.exists() and (SCENARIO_DIR / (str(source) + ".toml")).exists():
        path = SCENARIO_DIR / (str(source) + ".toml")
    if not path.exists():
        shipped = ", ".join(sorted(p.stem for p in SCENARIO_DIR.glob("*.toml")))
        raise ScenarioError(str(source), "no such file or shipped scenario", "give a path or one of: %s" % shipped)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(str(path), "not valid TOML: %s" % e, "fix the TOML syntax at that line") from None
    return parse(data, default_name=path.stem)


def parse(data: dict[str, Any], default_name: str = "scenario") -> Scenario:
    root = Table(data, "")
    seed = root.integer("seed", 1)
    duration = root.duration("duration")
    if duration <= 0:
        raise ScenarioError("duration", "must be > 0", 'write duration = "1h"')
    mqtt = root.integer("mqtt_version", 5)
    if mqtt not in (3, 5):
        raise ScenarioError("mqtt_version", "%d" % mqtt, "use 5 (MQTT 5) or 3 (MQTT 3.1.1)")
    nodes = _nodes(root, seed)
    sc = Scenario(
        name=root.text("name", default_name),
        description=str(root.raw("description", "")),
        seed=seed,
        start_unix=root.integer("start_unix", 1763800000, lo=946684800, hi=4102444800),
        duration_s=duration,
        nodes=nodes,
        concentrators=_concentrators(root),
        gateway=_gateway(root.table("gateway")),
        radio=dataclass_from(root.table("radio"), Radio),
        environment=dataclass_from(root.table("environment"), Environment),
        faults=_faults(root, nodes, duration),
        pacing=dataclass_from(root.table("pacing"), Pacing),
        mqtt_version=mqtt,
        world=_world(root, nodes),
    )
    if sc.radio.loss_probability > 1:
        raise ScenarioError("radio.loss_probability", "above 1", "use a probability 0..1")
    if sc.pacing.workers < 0:
        raise ScenarioError("pacing.workers", "must be >= 0", "use 0 (nodes in this process) or the number of cores")
    if sc.pacing.tick_ms < 1:
        raise ScenarioError("pacing.tick_ms", "must be >= 1", "use 1000 (the RX1 delay) unless you need finer steps")
    root.done()
    return sc
