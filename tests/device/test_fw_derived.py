# Derived values of ranging sensors (fill level, water level, median of echoes) and mobile readings
# (the position of their own fix, the clock dated by GNSS), through the real firmware on both
# interpreters. The config checks refuse what cannot be measured (a datum above the sensor).
from edge.clock import VirtualClock
from firmware import derived
from firmware.config import Config, ConfigError, load_board
from simulator.devices.gnss import GNSSEmulator
from simulator.devices.maxbotix import MaxBotixEmulator
from simulator.devices.sps30 import SPS30Emulator
from tests.device.fw_kit import START, BenchHAL, BenchModem, config_data
from tests.device.mptest import raises, tmpdir


def _config(sensors):
    return Config(config_data(sensors), load_board("esp32-devkitc", "hw"))


def _problems(sensors):
    with raises(ConfigError) as info:
        _config(sensors)
    return " ".join(info.value.problems)


def test_a_datum_above_the_sensor_is_refused():
    text = _problems([{"type": "maxbotix", "uart": "pm", "water": {"sensor_m": 12.0, "datum_m": 12.5}}])
    assert "datum" in text and "below the sensor" in text
    assert "datum" in _problems([{"type": "maxbotix", "uart": "pm", "water": {"sensor_m": 3, "datum_m": 3}}])


def test_other_bad_derived_settings_are_refused():
    assert "depth_m" in _problems([{"type": "a02yyuw", "uart": "pm", "fill": {"depth_m": 0, "offset_m": 0.1}}])
    assert "echoes" in _problems([{"type": "a02yyuw", "uart": "pm", "echoes": 40}])
    assert "ranging" in _problems([{"type": "sht4x", "i2c": 0, "echoes": 3}])
    both = {
        "type": "a02yyuw",
        "uart": "pm",
        "fill": {"depth_m": 1, "offset_m": 0},
        "water": {"sensor_m": 2, "datum_m": 0},
    }
    assert "not both" in _problems([both])


def test_good_settings_parse():
    cfg = _config([{"type": "a02yyuw", "uart": "pm", "echoes": 5, "fill": {"depth_m": 1.2, "offset_m": 0.1}}])
    assert cfg.sensors[0]["derived"] == {"echoes": 5, "reject_m": derived.DEFAULT_REJECT_M, "fill": (1.2, 0.1)}


def test_formulas():
    assert abs(derived.fill_level(0.1 + 0.3, 1.2, 0.1) - 75.0) < 1e-9  # 0.3 m of 1.2 m empty
    assert derived.fill_level(2.0, 1.2, 0.1) == 0.0 and derived.fill_level(0.05, 1.2, 0.1) == 100.0
    assert abs(derived.water_level(2.412, 4.5 - 1.5) - 0.588) < 1e-9


def test_median_of_echoes_rejects_birds_and_needs_a_majority():
    assert abs(derived.robust_distance([2.0, 2.01, 0.4, 1.99, 0.7], 5, 0.05) - 2.0) < 1e-9
    assert derived.robust_distance([2.0, 0.4, 0.7], 5, 0.05) is None  # 2 of 5 valid: too few
    assert derived.robust_distance([2.0, 2.3, 0.4, 1.1, 0.7], 5, 0.05) is None  # no majority agrees


def _node(sensors, attach, **extra):
    """A bench node with only these sensors; extra: more config keys (events, lorawan.dr)."""
    from firmware.app import Node

    data = config_data(sensors)
    dr = extra.pop("dr", None)
    if dr is not None:
        data["lorawan"]["dr"] = dr
    data.update(extra)
    cfg = Config(data, load_board("esp32-devkitc", "hw"))
    clock = VirtualClock(unix_start=START)
    hal = BenchHAL(clock, cfg.board)
    hal.uarts["modem"] = BenchModem(clock)
    emus = attach(hal, clock)
    return Node(hal, cfg, tmpdir("node")), hal, emus


def test_river_gauge_reports_water_level_through_rain():
    def attach(hal, clock):
        emu = hal.uarts["pm"] = MaxBotixEmulator(clock=clock)
        emu.set(distance=2.412)
        emu.spurious = 0.2  # rain drops: short false echoes
        emu.noise_m = 0.003
        return emu

    water = {"sensor_m": 14.5, "datum_m": 11.5}  # sensor 3 m above the gauge datum
    node, hal, emu = _node([{"type": "maxbotix", "uart": "pm", "echoes": 7, "water": water}], attach)
    for _ in range(3):
        r = node.run_interval()
        assert abs(r["distance"] - 2.412) < 0.01 and abs(r["water_level"] - 0.588) < 0.01, r
    emu.fault("no_echo")
    r = node.run_interval()
    assert "water_level" not in r and "distance" not in r  # no echo: no value, never a wrong one
    assert node.sensors[0].faults >= 1


def test_mobile_reading_carries_its_own_fix_or_none():
    def attach(hal, clock):
        gnss = hal.uarts["pm"] = GNSSEmulator(clock=clock)
        gnss.set(latitude=43.61092, longitude=3.87723)
        sps = hal.i2c0.attach(SPS30Emulator(clock=clock))
        sps.set(pm2_5=14.2, pm10=22.9)
        return gnss

    sensors = [{"type": "gnss", "uart": "pm"}, {"type": "sps30", "i2c": 0}]
    node, hal, gnss = _node(sensors, attach)
    hal.clock.set_time(START - 1000)  # the node's clock is 1000 s behind the satellites'
    r = node.run_interval()
    assert abs(r["latitude"] - 43.61092) < 1e-5 and abs(r["longitude"] - 3.87723) < 1e-5 and "pm2_5" in r
    assert abs(hal.clock.time() - gnss.utc()) <= 2  # dated by the fix
    gnss.set(latitude=43.62000)
    gnss.has_fix = False  # a street canyon at the end of the interval
    r = node.run_interval()
    assert "latitude" not in r and "longitude" not in r and "pm2_5" in r  # never the old position
    gnss.has_fix = True
    r = node.run_interval()
    assert abs(r["latitude"] - 43.62) < 1e-5


def _gauge(events, dr=0):
    def attach(hal, clock):
        emu = hal.uarts["pm"] = MaxBotixEmulator(clock=clock)
        emu.set(distance=2.7)  # 0.3 m above the datum
        return emu

    water = {"sensor_m": 14.5, "datum_m": 11.5}
    sensors = [{"type": "maxbotix", "uart": "pm", "echoes": 3, "water": water}]
    return _node(sensors, attach, events=events, dr=dr)


def test_event_rules_are_checked():
    bad = {"watch_s": 5, "rules": [{"quantity": "fill_level", "above": 90}, {"quantity": "water_level"}]}
    data = config_data([{"type": "maxbotix", "uart": "pm", "water": {"sensor_m": 3, "datum_m": 0}}])
    data["events"] = bad
    with raises(ConfigError) as info:
        Config(data, load_board("esp32-devkitc", "hw"))
    text = " ".join(info.value.problems)
    assert "watch_s" in text and "fill_level" in text and "one of above, rise_per_h" in text


def test_threshold_crossing_sends_a_confirmed_uplink_at_once_until_acked():
    node, hal, emu = _gauge({"watch_s": 30, "rules": [{"quantity": "water_level", "above": 1.0}]})
    modem = hal.uarts["modem"]
    r = node.run_interval()  # joins; level 0.3 m: no event
    assert node.counters["events"] == 0 and modem.confirmed == 0
    crossing = [None]

    def flood(now_ms):  # the river rises 100 s into the next interval
        if crossing[0] is None and hal.clock.time() >= START + 400:
            emu.set(distance=1.2)  # 1.8 m above the datum
            crossing[0] = hal.clock.time()

    hal.clock.on_advance(flood)
    modem.ack_confirmed = False  # the first ack is lost
    r = node.run_interval()
    assert node.counters["events"] == 1 and modem.confirmed >= 2 and node.counters["events_acked"] == 0
    assert node.pending_event is not None
    modem.ack_confirmed = True
    sent_before = modem.confirmed
    node.run_interval()
    assert node.counters["events_acked"] == 1 and node.pending_event is None
    assert modem.confirmed == sent_before + 1  # repeated until acknowledged, then no more
    assert node.counters["events"] == 1  # the level stays high: no new event until it falls
    ports = [p for p, _ in modem.payloads]
    assert ports.count(1) == len(ports)
    assert abs(r["water_level"] - 1.8) < 0.01  # the interval's own reading goes on as before


def test_first_event_latency_is_one_watch_step():
    # at DR5 the band reopens within seconds of the interval's uplink (at DR0, SF12, a 1 % sub-band
    # stays closed about two minutes after it: the event then waits for it, as the law says)
    rise = START + 300 + 95
    sent_at = _first_event_sent(rise, intervals=1)
    assert sent_at is not None and 0 <= sent_at - rise <= 30 + 5, sent_at


def _first_event_sent(rise, intervals):
    """Unix s of a 30 s-watch gauge's first confirmed uplink when the river jumps over its level
    at rise (after a first interval that joins), running that many more intervals; None if none."""
    node, hal, emu = _gauge({"watch_s": 30, "rules": [{"quantity": "water_level", "above": 1.0}]}, dr=5)
    node.run_interval()
    modem = hal.uarts["modem"]
    sent_at = []

    def watch(now_ms):
        if hal.clock.time() >= rise and emu.values["distance"] > 2:
            emu.set(distance=1.2)
        if modem.confirmed and not sent_at:
            sent_at.append(hal.clock.time())

    hal.clock.on_advance(watch)
    for _ in range(intervals):
        node.run_interval()
    return sent_at[0] if sent_at else None


def test_a_crossing_just_before_an_interval_ends_waits_one_watch_step_too():
    # the watches keep one grid across intervals: the interval's end is a watch like the others
    rise = START + 300 + 275  # just after the interval's last watch before its end
    sent_at = _first_event_sent(rise, intervals=2)
    assert sent_at is not None and 0 <= sent_at - rise <= 30 + 5, sent_at

def test_rise_rate_rule_fires_once_on_a_steady_rise():
    from firmware.events import Watch

    w = Watch([("water_level", "rise_per_h", 0.3)])
    fired = []
    level = 0.5
    for k in range(0, 121):  # two hours, a watch every minute; steady from 0..30 min, then +0.6 m/h
        t = START + 60 * k
        if k > 30:
            level += 0.6 / 60
        noise = 0.003 if k % 2 else -0.003  # echo noise: +-3 mm between watches
        fired.extend((k, i) for i in w.check({"water_level": level + noise}, t))
    assert len(fired) == 1 and 31 <= fired[0][0] <= 31 + 20, fired
