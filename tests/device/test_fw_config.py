# Device configuration: a good file loads, every problem of a bad one is reported at once.
import json

from firmware.config import DEFAULTS, Config, ConfigError, load, load_board
from tests.device.mptest import raises, tmpdir

GOOD = {
    "node_id": "lamp-0042",
    "board": "esp32-devkitc",
    "lorawan": {
        "dev_eui": "70b3d57ed0000042",
        "join_eui": "0000000000000001",
        "app_key": "2b7e151628aed2a6abf7158809cf4f3c",
        "dr": 5,
    },
    "interval_s": 300,
    "sensors": [
        {"type": "sds011", "uart": "pm"},
        {"type": "sht4x", "i2c": 0, "calibration": {"temperature": [1.0, -0.4]}},
        {"type": "dnms", "i2c": "0", "address": "0x55"},
        {"type": "beam_counter", "pins": ["counter_a", "counter_b"]},
    ],
}


def write(d, data):
    path = d + "/config.json"
    with open(path, "w") as f:
        f.write(json.dumps(data))
    return path


def test_good_config_loads_with_board_and_defaults():
    cfg = load(write(tmpdir("cfg"), GOOD), "hw")
    assert cfg.node_id == "lamp-0042" and cfg.interval_s == 300
    assert cfg.board["uart"]["modem"]["baud"] == 9600
    assert cfg.lorawan["app_key"] == bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    assert cfg.sensors[1]["calibration"] == {"temperature": (1.0, -0.4)}
    assert cfg.sensors[2]["address"] == 0x55
    assert cfg.datalog["batch"] == DEFAULTS["batch"]
    assert cfg.datalog["budget_bytes"] == cfg.board["datalog_budget_bytes"]


def test_both_boards_exist():
    for name in ("esp32-devkitc", "pico-w"):
        b = load_board(name, "hw")
        assert "modem" in b["uart"] and "0" in b["i2c"]
        assert len(b["channels"]) == 8 and 868100000 in b["channels"]  # from hw/channels/eu868.json


def test_every_problem_is_reported():
    bad = json.loads(json.dumps(GOOD))
    bad["interval_s"] = 5
    bad["lorawan"]["app_key"] = "zz"
    bad["sensors"].append({"type": "geiger"})
    bad["sensors"].append({"type": "sht3x", "i2c": 3})
    bad["sensors"].append({"type": "sht3x", "address": 0x55})
    with raises(ConfigError) as e:
        Config(bad, load_board("esp32-devkitc", "hw"))
    text = str(e.value)
    assert len(e.value.problems) == 5, e.value.problems
    for word in ("interval_s", "app_key", "geiger", "I2C bus 3", "0x55"):
        assert word in text, word


def test_missing_or_broken_files_are_config_errors():
    d = tmpdir("cfg")
    with raises(ConfigError):
        load(d + "/nope.json", "hw")
    with open(d + "/broken.json", "w") as f:
        f.write("{not json")
    with raises(ConfigError):
        load(d + "/broken.json", "hw")
    bad = dict(GOOD)
    bad["board"] = "arduino-uno"
    with raises(ConfigError) as e:
        load(write(d, bad), "hw")
    assert "arduino-uno" in str(e.value)


def _uplink(**u):
    data = json.loads(json.dumps(GOOD))
    data["uplink"] = u
    return Config(data, load_board("esp32-devkitc", "hw")).uplink


def test_network_sets_the_airtime_policy():
    # a node of the city's own gateway: duty cycle per sub-band only, and ADR on by default
    cfg = Config(json.loads(json.dumps(GOOD)), load_board("esp32-devkitc", "hw"))
    assert cfg.uplink["network"] == "private" and cfg.uplink["fair_use_s_per_day"] == 0
    assert cfg.lorawan["adr"] is True
    # TTN adds its 30 s/day fair use; it may be tightened, never loosened nor switched off
    assert _uplink(network="ttn")["fair_use_s_per_day"] == 30
    assert _uplink(network="ttn", fair_use_s_per_day=20)["fair_use_s_per_day"] == 20
    for bad in (31, 0):
        with raises(ConfigError) as e:
            _uplink(network="ttn", fair_use_s_per_day=bad)
        assert "uplink.fair_use_s_per_day must be an integer 1..30" in str(e.value)
    assert _uplink(fair_use_s_per_day=120)["fair_use_s_per_day"] == 120  # a private network's own rule
    with raises(ConfigError) as e:
        _uplink(network="lorawan")
    assert "uplink.network must be one of private, ttn" in str(e.value)
