"""Scenario files: the shipped ones load, bad ones fail naming the key and the fix."""

import pytest

from simulator import scenario
from simulator.scenario import ScenarioError
from simulator.scenario_table import parse_duration

BASE = """
duration = "1h"
[[nodes]]
name = "n"
board = "pico-w"
sensors = ["sds011", "sht3x"]
position = [10, 20]
[[concentrators]]
name = "c"
eui = "0016c001ff10a001"
position = [0, 0]
"""


def load_text(tmp_path, text):
    p = tmp_path / "s.toml"
    p.write_text(text)
    return scenario.load(p)


@pytest.mark.parametrize("name", ["demo", "outage-24h", "dense-city", "chaos"])
def test_shipped_scenarios_load(name):
    s = scenario.load(name)
    assert s.name == name and s.nodes and s.concentrators


def test_dense_city_has_1000_nodes_and_3_concentrators():
    s = scenario.load("dense-city")
    assert len(s.nodes) == 1000 and len(s.concentrators) == 3
    assert len({n.dev_addr for n in s.nodes}) == 1000 and len({n.dev_eui for n in s.nodes}) == 1000


def test_chaos_declares_every_fault_kind():
    assert {f.kind for f in scenario.load("chaos").faults} == set(scenario.FAULT_KINDS)


def test_minimal_scenario_defaults(tmp_path):
    s = load_text(tmp_path, BASE)
    (n,) = s.nodes
    assert (n.x, n.y, n.interval_s, n.sf) == (10, 20, 300, None)
    assert n.quantities() == ("pm2_5", "pm10", "temperature", "humidity")
    assert s.radio == scenario.Radio() and s.pacing == scenario.Pacing() and s.mqtt_version == 5


def test_groups_are_placed_deterministically_within_radius(tmp_path):
    text = BASE.replace("position = [10, 20]", "count = 50\ncenter = [100, 0]\nradius = 200", 1)
    a, b = load_text(tmp_path, text), load_text(tmp_path, text)
    assert [(n.x, n.y) for n in a.nodes] == [(n.x, n.y) for n in b.nodes]
    assert all((n.x - 100) ** 2 + n.y**2 <= 200**2 + 1e-6 for n in a.nodes)
    assert a.nodes[0].name == "n-1" and a.nodes[-1].name == "n-50"


@pytest.mark.parametrize("value, seconds", [(300, 300), ("90s", 90), ("5m", 300), ("2h", 7200), ("1d", 86400),
                                            ("250ms", 0.25), (1.5, 1.5)])  # fmt: skip
def test_durations(value, seconds):
    assert parse_duration(value, "k") == seconds


@pytest.mark.parametrize(
    "edit, key, fix",
    [
        (('sensors = ["sds011", "sht3x"]', 'sensors = ["sds011", "bogus"]'), "nodes[0].sensors", "sht3x"),
        (('board = "pico-w"', 'board = "arduino"'), "nodes[0].board", "esp32-devkitc"),
        (('duration = "1h"', 'duration = "soon"'), "duration", "5m"),
        (('name = "n"', 'name = "n"\ninterval = 5'), "nodes[0].interval", ">= 10"),
        (('name = "n"', 'name = "n"\nsf = 13'), "nodes[0].sf", "auto"),
        (('eui = "0016c001ff10a001"', 'eui = "xyz"'), "concentrators[0].eui", "16 hex"),
        (("position = [0, 0]", "position = [0]"), "concentrators[0].position", "[0, 0]"),
        (('duration = "1h"', 'duration = "1h"\nspeed = 3'), "speed", "remove it"),
        (('duration = "1h"', 'duration = "1h"\n[radio]\ncapture_db = 3'), "radio.capture_db",
         "capture_threshold_db"),
        (('duration = "1h"', 'duration = "1h"\n[radio]\nloss_probability = 2'), "radio.loss_probability", "0..1"),
        (('duration = "1h"', 'duration = "1h"\nmqtt_version = 4'), "mqtt_version", "3.1.1"),
    ],
)  # fmt: skip
def test_errors_name_the_key_and_the_fix(tmp_path, edit, key, fix):
    with pytest.raises(ScenarioError) as e:
        load_text(tmp_path, BASE.replace(edit[0], edit[1], 1))
    assert e.value.key == key and fix in e.value.fix, str(e.value)


@pytest.mark.parametrize(
    "fault, key",
    [
        ('kind = "meteor"\nat = "1m"', "faults[0].kind"),
        ('kind = "backhaul_down"\nat = "2h"\nduration = "1m"', "faults[0].at"),
        ('kind = "backhaul_down"\nat = "1m"', "faults[0].duration"),
        ('kind = "node_power_loss"\nat = "1m"\nduration = "1m"\nnode = "ghost"', "faults[0].node"),
        (
            'kind = "sensor_fault"\nat = "1m"\nduration = "1m"\nnode = "n"\nsensor = "dnms"\nmode = "crc"',
            "faults[0].sensor",
        ),
        (
            'kind = "sensor_fault"\nat = "1m"\nduration = "1m"\nnode = "n"\nsensor = "sht3x"\nmode = "fire"',
            "faults[0].mode",
        ),
    ],
)  # fmt: skip
def test_fault_errors(tmp_path, fault, key):
    with pytest.raises(ScenarioError) as e:
        load_text(tmp_path, BASE + "\n[[faults]]\n" + fault + "\n")
    assert e.value.key == key, str(e.value)


def test_sensor_fault_mode_must_exist_on_the_emulator(tmp_path):
    text = BASE.replace('"sht3x"]', '"sht3x", "bme280"]').replace("sht3x", "sht4x")
    fault = (
        '[[faults]]\nkind = "sensor_fault"\nat = "1m"\nduration = "1m"\nnode = "n"\nsensor = "bme280"\nmode = "crc"\n'
    )
    with pytest.raises(ScenarioError) as e:
        load_text(tmp_path, text + fault)
    assert e.value.key == "faults[0].mode" and "stuck" in e.value.fix and "absent" in e.value.fix


def test_faults_sorted_by_time(tmp_path):
    text = BASE + '\n[[faults]]\nkind = "agent_kill"\nat = "30m"\n'
    text += '[[faults]]\nkind = "backhaul_down"\nat = "10m"\nduration = "5m"\n'
    s = load_text(tmp_path, text)
    assert [(f.kind, f.at_s) for f in s.faults] == [("backhaul_down", 600), ("agent_kill", 1800)]
    assert s.faults[1].restart_after_s == scenario.Fault.restart_after_s


def test_bad_toml_and_missing_file(tmp_path):
    with pytest.raises(ScenarioError) as e:
        load_text(tmp_path, "duration = ")
    assert "TOML" in e.value.problem
    with pytest.raises(ScenarioError) as e:
        scenario.load("no-such-scenario")
    assert "demo" in e.value.fix
