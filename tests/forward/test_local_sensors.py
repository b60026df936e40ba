"""Local sensors: the nodes' drivers on register-level emulators, read on their interval and stored."""

import time

import pytest

from gateway import config
from gateway.local.service import LocalSensors, parse_sensors
from gateway.store.buffer import ReadingBuffer
from simulator.devices.bme280 import BME280Emulator
from simulator.devices.i2c import VirtualI2C
from simulator.devices.sht4x import SHT4xEmulator

T_EUI = "00000000000000a1"
P_EUI = "00000000000000a2"


def test_readings_of_attached_sensors_are_stored_with_their_eui(tmp_path):
    bus = VirtualI2C()
    sht = bus.attach(SHT4xEmulator())
    sht.set(temperature=23.5, humidity=41.0)
    bus.attach(BME280Emulator())
    specs = parse_sensors([
        {"name": "t", "driver": "sht4x", "dev_eui": T_EUI, "interval_s": 1},
        {"name": "p", "driver": "bme280", "dev_eui": P_EUI, "interval_s": 1},
        {"name": "gone", "driver": "sht3x", "dev_eui": "00000000000000a3", "interval_s": 1, "address": 0x45},
    ])  # fmt: skip
    buf = ReadingBuffer(tmp_path / "b.db")
    local = LocalSensors(specs, buf, bus_factory=lambda spec: bus)
    local.start()
    time.sleep(2.3)
    local.stop()
    c = buf.claim(1000)
    assert c is not None
    by_dev = {}
    for row in c.rows:
        by_dev.setdefault(row.dev_eui, []).extend(row.readings)
    assert 2 <= len(by_dev[T_EUI]) <= 4  # every second, for about two seconds
    _, t, values = by_dev[T_EUI][0]
    assert abs(values["temperature"] - 23.5) <= 0.01 and abs(values["humidity"] - 41.0) <= 0.5
    assert abs(t - time.time()) < 5
    assert "pressure" in by_dev[P_EUI][0][2]
    gone = next(s for s in local.sensors if s.spec.name == "gone")
    assert gone.errors >= 2 and gone.reads == 0  # no chip at 0x45: typed NotPresent, counted, the others go on
    buf.close()


@pytest.mark.parametrize(
    "bad, words",
    [
        ([{"driver": "nope", "dev_eui": T_EUI}], "driver"),
        ([{"driver": "sht4x", "dev_eui": "XYZ"}], "dev_eui"),
        ([{"driver": "sds011", "dev_eui": T_EUI}], "port"),
        ([{"driver": "sht4x", "dev_eui": T_EUI, "interval_s": 0}], "interval_s"),
        ([{"driver": "sht4x", "dev_eui": T_EUI, "colour": 1}], "unknown keys"),
    ],
)
def test_config_names_the_key_and_the_fix(bad, words):
    with pytest.raises(config.ConfigError, match=r"\[local_sensors\] sensors.*" + words):
        config.from_dict({"gateway": {"id": "g"}, "local_sensors": {"enabled": True, "sensors": bad}})
