"""The use-case physics: a storm hydrograph, containers and their round, daylight and lamps, a van's
GNSS track; deterministic per seed, and the scenario sections and node settings that drive them."""

import calendar
import math

import pytest

from edge.clock import VirtualClock
from simulator import scenario
from simulator.devices.a02yyuw import A02YYUWEmulator
from simulator.devices.gnss import GNSSEmulator
from simulator.environment import World
from simulator.nodes import Fleet, Wiring
from simulator.physics.containers import ContainerModel
from simulator.physics.light import LightModel, clear_sky_lux, sun_elevation_deg
from simulator.physics.river import RiverModel
from simulator.physics.settings import City, Containers, Light, River, Route
from simulator.physics.track import TrackModel
from simulator.physics.world import UseCaseWorld, crossings, grid_before, role
from simulator.radio import RadioChannel
from simulator.shards import ShardedFleet

T0 = 1796380200  # 2026-12-03 10:30 UTC


def test_hydrograph_rises_after_the_rain_crests_and_recedes():
    r = RiverModel(River(), seed=3, start_unix=T0)
    s = River()
    rise_at = T0 + s.rain_at_s + s.lag_s + r.travel_s("g")
    assert r.level("g", rise_at - 1) == s.base_m
    crest = rise_at + r.rise_s
    assert r.level("g", crest) == pytest.approx(r.peak_m)
    assert s.base_m + 0.9 * (s.peak_m - s.base_m) <= r.peak_m <= s.base_m + 1.1 * (s.peak_m - s.base_m)
    ts = [rise_at + k * 60 for k in range(int(r.rise_s // 60))]
    assert all(r.level("g", a) < r.level("g", b) for a, b in zip(ts, ts[1:], strict=False))  # rising limb
    assert r.level("g", crest + 3600) < r.level("g", crest + 60) < r.peak_m  # recession
    # fastest rise halfway up: pi/2 x amplitude / rise time, in m/h
    mid = rise_at + r.rise_s / 2
    rate = (r.level("g", mid + 1) - r.level("g", mid - 1)) / 2 * 3600
    assert rate == pytest.approx(math.pi / 2 * (r.peak_m - s.base_m) / r.rise_s * 3600, rel=1e-3)
    assert r.raining(T0 + s.rain_at_s) and not r.raining(T0 + s.rain_at_s + s.rain_s)


def test_hydrograph_is_the_same_for_a_seed_and_differs_between_seeds():
    a, b, c = (RiverModel(River(), seed, T0) for seed in (1, 1, 2))
    t = T0 + 3 * 3600
    assert a.level("g", t) == b.level("g", t) != c.level("g", t)
    assert a.travel_s("g-1") != a.travel_s("g-2")  # the wave reaches each gauge at its own time


def test_crossings_find_the_rising_passages_to_a_tenth_of_a_second():
    f = lambda t: math.sin(t / 100)  # noqa: E731
    got = crossings(f, 0.5, 0, 1300, step=10)
    want = [100 * math.asin(0.5), 100 * (2 * math.pi + math.asin(0.5))]
    assert got == pytest.approx(want, abs=0.1)
    assert crossings(f, 2.0, 0, 1300) == []


def test_containers_fill_at_their_own_rate_and_are_emptied_in_route_order():
    s = Containers(round_at_s=3600, drive_s=300, stop_s=60, start_min_pct=20, start_max_pct=20, rate_spread=0.5)
    m = ContainerModel(s, seed=5, start_unix=T0, route=("b1", "b2"))
    assert m.fill("b1", T0) == pytest.approx(20.0)
    e1, e2 = m.emptied_at("b1", 0), m.emptied_at("b2", 0)
    assert e1 == T0 + 3600 + 300 + 60 and e2 == e1 + 360
    assert m.fill("b1", e1 - 1) > 20 and m.fill("b1", e1) == pytest.approx(s.residual_pct)
    assert m.fill("b2", e1 + 1) > m.fill("b1", e1 + 1)  # the truck has not reached b2 yet
    assert m.fill("b2", e2) == pytest.approx(s.residual_pct)
    assert m.fill("b1", T0 + 3000) != m.fill("b2", T0 + 3000)  # each container its own rate
    assert m.fill("b1", e1 + 86400 - 1) > m.fill("b1", e1 + 3600)  # refills until the next day's round
    full = ContainerModel(Containers(fill_pct_per_day=500, start_min_pct=95, start_max_pct=95), 5, T0, ("b",))
    assert full.fill("b", T0 + 7200) == 100.0  # never above full


def test_sun_elevation_matches_the_solstices_at_the_city():
    lat, lon = City().latitude, City().longitude
    noon = lambda y, m, d: calendar.timegm((y, m, d, 12, 0, 0)) - int(lon * 240)  # noqa: E731
    assert sun_elevation_deg(lat, lon, noon(2026, 6, 21)) == pytest.approx(90 - lat + 23.44, abs=0.6)
    assert sun_elevation_deg(lat, lon, noon(2026, 12, 21)) == pytest.approx(90 - lat - 23.44, abs=0.6)
    assert sun_elevation_deg(lat, lon, calendar.timegm((2026, 12, 21, 0, 0, 0))) < -60  # midnight
    assert clear_sky_lux(90) == pytest.approx(126000 * math.exp(-0.16), rel=1e-6)
    assert clear_sky_lux(-6) < 5 < 300 < clear_sky_lux(0) <= 400


def test_lamp_lights_its_sensor_from_dusk_and_the_open_sky_goes_dark():
    m = LightModel(Light(cloud_cover=0.0, lamp_lux=25), City(), seed=1)
    day = calendar.timegm((2026, 12, 3, 12, 0, 0))
    night = calendar.timegm((2026, 12, 3, 21, 0, 0))
    assert m.illuminance(day, True) == m.illuminance(day, False) > 5000
    assert m.illuminance(night, False) < 0.01
    assert m.illuminance(night, True) == pytest.approx(25, abs=0.01)
    dusk = next(t for t in range(day, night, 60) if m.lamp_on(t))
    assert m.elevation(dusk) < -2 <= m.elevation(dusk - 60)


def test_van_drives_the_route_stops_and_loses_fixes_only_in_canyons():
    route = Route(waypoints=((0.0, 0.0), (1000.0, 0.0)), canyons=((400.0, -10.0, 600.0, 10.0),), stop_s=60)
    m = TrackModel(route, City(), seed=2, start_unix=T0)
    assert 2 * 1000 / (25 / 3.6 * 1.1) + 120 <= m.round_s <= 2 * 1000 / (25 / 3.6 * 0.7) + 120
    seen = [m.epoch("v", T0 + k) for k in range(int(m.round_s))]
    inside = [e for e in seen if 400 <= e.x <= 600]
    outside = [e for e in seen if not 400 <= e.x <= 600]
    assert all(e.fix and e.hdop < 1.2 and e.satellites >= 8 for e in outside)
    lost = sum(not e.fix for e in inside) / len(inside)
    assert 0.35 < lost < 0.65 and all(e.hdop > 3 and e.satellites <= 6 for e in inside)
    stops = sum(1 for a, b in zip(seen, seen[1:], strict=False) if (a.x, a.y) == (b.x, b.y))
    assert stops >= 2 * 60 - 4  # standing at each waypoint
    lat, lon = m.degrees(1000.0, 0.0)
    assert lat == City().latitude and (lon - City().longitude) * 111320 * math.cos(math.radians(lat)) == pytest.approx(
        1000
    )


def _flood():
    return scenario.load("flood")


def test_nodes_take_their_role_from_their_configuration():
    sc = scenario.load("collection-round")
    roles = {n.name: role(n) for n in sc.nodes}
    assert roles["bin-1"] == roles["bin-plain-1"] == "container" and roles["lamp"] == roles["sky"] == "light"
    assert {role(n) for n in _flood().nodes} == {"river"}
    assert {role(n) for n in scenario.load("mobile").nodes} == {"van"}
    assert sc.world.containers.route == tuple("bin-%d" % i for i in range(1, 6)) + tuple(
        "bin-plain-%d" % i for i in range(1, 4)
    )


def test_gauge_emulator_reads_the_river_through_its_echo_physics():
    sc = _flood()
    w = UseCaseWorld(sc)
    node = sc.node("gauge-1")
    ph = w.for_node(node)
    assert ph is not None and list(ph.times(T0, T0 + 12)) == [T0 + 0.5, T0 + 5.5, T0 + 10.5]
    emu = A02YYUWEmulator()
    ph.setup({"maxbotix": emu})
    t = T0 + 3 * 3600
    ph.apply({"maxbotix": emu}, t)
    assert emu.values["distance"] == pytest.approx(4.0 - w.water_level("gauge-1", t))
    assert emu.spurious == sc.world.river.spurious_dry and emu.noise_m > 0
    ph.apply({"maxbotix": emu}, T0 + sc.world.river.rain_at_s + 10)
    assert emu.spurious == sc.world.river.spurious_rain


def test_van_emulator_follows_the_track_and_the_truth_is_the_last_setting():
    sc = scenario.load("mobile")
    w = UseCaseWorld(sc)
    ph = w.for_node(sc.nodes[0])
    emu = GNSSEmulator()
    start = sc.start_unix
    for t in ph.times(start, start + 3600):
        ph.apply({"gnss": emu}, t)
        e = w.track.epoch("van-1", t)
        assert emu.has_fix == e.fix and emu.hdop == e.hdop
        fix = w.fix_at("van-1", t + 4.9)  # what a reading taken before the next setting sees
        assert (fix is None) == (not e.fix)
        if fix:
            assert fix == pytest.approx((emu.values["latitude"], emu.values["longitude"]))
    assert grid_before(start + 10, 5) == start + 5.5


def test_scenario_node_settings_are_checked_by_the_firmware_rules(tmp_path):
    text = (scenario.SCENARIO_DIR / "flood.toml").read_text()
    bad = text.replace("datum_m = 10.0 }  # NGF", "datum_m = 15.0 }  # NGF", 1)
    path = tmp_path / "bad.toml"
    path.write_text(bad)
    with pytest.raises(scenario.ScenarioError) as e:
        scenario.load(path)
    assert e.value.key == "nodes[0].settings" and "datum" in e.value.problem
    path.write_text(text.replace('quantity = "water_level", above = 1.2', 'quantity = "fill_level", above = 1.2'))
    with pytest.raises(scenario.ScenarioError) as e:
        scenario.load(path)
    assert e.value.key == "nodes[0].events" and "fill_level" in e.value.problem
    path.write_text(text.replace("[nodes.settings.maxbotix]", "[nodes.settings.sds011]", 1))
    with pytest.raises(scenario.ScenarioError) as e:
        scenario.load(path)
    assert e.value.key == "nodes[0].settings.sds011"
    path.write_text(text.replace("base_m = 0.6", "base_m = 0.6\nbogus = 1"))
    with pytest.raises(scenario.ScenarioError) as e:
        scenario.load(path)
    assert e.value.key == "river.bogus"


def test_scenario_world_sections_are_validated(tmp_path):
    base = (scenario.SCENARIO_DIR / "flood.toml").read_text()
    cases = {
        "[route]\nwaypoints = [[0, 0]]\n": "route.waypoints",
        "[route]\ncanyons = [[0, 0, 1]]\n": "route.canyons",
        "[route]\nfix_loss_in_canyon = 1.5\n": "route.fix_loss_in_canyon",
        "[route]\nspeed_kmh = 0\n": "route.speed_kmh",
        '[containers]\nroute = ["nobody"]\n': "containers.route",
        "[containers]\nstart_min_pct = 50\nstart_max_pct = 40\n": "containers.start_max_pct",
        "[city]\nlatitude = 91\n": "city.latitude",
        '[light]\nlamp_lux = "bright"\n': "light.lamp_lux",
    }
    for extra, key in cases.items():
        path = tmp_path / "w.toml"
        path.write_text(base + "\n" + extra)
        with pytest.raises(scenario.ScenarioError) as e:
            scenario.load(path)
        assert e.value.key == key, (extra, e.value)


def _fleet_log(fleet_cls, sc, workdir, **kw):
    got = []
    radio = RadioChannel(sc.radio, sc.nodes, sc.concentrators, sc.seed)
    wiring = Wiring(World(sc.environment, sc.seed), radio.sf, workdir,
                    lambda node, seq, t, values, *event: got.append((node, seq, t, values, event)),
                    lambda *frame: None, lambda *lost: None)  # fmt: skip
    clock = VirtualClock(unix_start=sc.start_unix)
    fleet = fleet_cls(sc, clock, wiring, **kw)
    try:
        for ms in range(1000, 25 * 60 * 1000 + 1, 1000):
            fleet.run_until(ms)
    finally:
        getattr(fleet, "close", lambda: None)()
    return sorted(got, key=repr)


def test_containers_seen_alike_by_one_process_and_two_workers(tmp_path):
    text = (scenario.SCENARIO_DIR / "collection-round.toml").read_text()
    text = text.replace('duration = "6h"', 'duration = "25m"').replace("start_min_pct = 72", "start_min_pct = 89.7")
    path = tmp_path / "short.toml"
    path.write_text(text.replace("start_max_pct = 88", "start_max_pct = 89.9"))
    sc = scenario.load(path)
    one = _fleet_log(Fleet, sc, tmp_path / "one")
    two = _fleet_log(ShardedFleet, sc, tmp_path / "two", workers=2)
    events = [r for r in one if r[4]]
    assert len(one) >= 10 * 2 and {r[0] for r in events} == {"bin-%d" % i for i in range(1, 6)}
    assert all(r[3]["fill_level"] > 90 for r in events)  # the watch saw the container pass 90 %
    assert one == two
