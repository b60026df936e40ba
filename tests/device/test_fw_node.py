# The node firmware with every sensor emulator attached, on both interpreters: readings carry every
# quantity, frames decode like the gateway decodes them, commands work, failing sensors do not stop it.
from edge import downlink, payload
from tests.device.fw_kit import START, bench_node
from tests.device.mptest import tmpdir

ALL = ("pm1", "pm2_5", "pm4", "pm10", "temperature", "humidity", "pressure")
ALL += ("laeq", "lamin", "lamax", "l10", "l50", "l90")


def test_all_sensors_make_a_full_reading_that_goes_on_air():
    node, hal, emus = bench_node(tmpdir("node"))
    r = node.run_interval()
    for q in ALL:
        assert q in r, q
    assert r["seq"] == 1 and r["t"] == START + 300
    assert abs(r["pm10"] - 19.0) < 1.0 and abs(r["laeq"] - 55.0) < 0.2 and r["l90"] <= r["l50"] <= r["l10"]
    assert r["count_in"] == 0 and r["count_out"] == 0
    port, frame = hal.uarts["modem"].payloads[-1]
    got = payload.decode(frame, {"seq": 0, "t": START + 300})
    assert port == 1 and got[0]["seq"] == 1 and got[0]["t"] == START + 300
    assert abs(got[0]["pressure"] - r["pressure"]) <= 10


def test_beam_counter_counts_passages_in_the_interval():
    node, hal, emus = bench_node(tmpdir("node"))
    node.run_interval()
    a = hal.pin("counter_a")
    b = hal.pin("counter_b")
    for levels in ((1, 0), (1, 1), (0, 1), (0, 0)):  # one passage "in"
        hal.clock.sleep_ms(100)
        a.drive(levels[0])
        b.drive(levels[1])
    r = node.run_interval()
    assert r["count_in"] == 1 and r["count_out"] == 0


def test_broken_sensors_leave_the_rest_of_the_reading():
    node, hal, emus = bench_node(tmpdir("node"))
    emus["sps30"].fault("checksum")
    emus["sds011"].fault("garbage")
    emus["dnms"].fault("nack")
    r = node.run_interval()
    assert "temperature" in r and "laeq" in r  # the PCB meter still hears
    faults = dict((s.type, s.faults) for s in node.sensors)
    assert faults["sps30"] > 0 and faults["dnms"] > 0 and faults["sht4x"] == 0


def test_commands_from_the_gateway():
    node, hal, emus = bench_node(tmpdir("node"))
    node.run_interval()
    hal.uarts["modem"].downlinks.append(downlink.encode([("ack", 1), ("set_interval", 600)]))
    node.run_interval()
    assert node.log.acked_seq == 1 and node.interval_s == 600
    hal.uarts["modem"].downlinks.append(b"\x07\x07")  # unknown opcode: ignored and counted
    node.run_interval()
    assert node.counters["bad_commands"] == 1
    assert node.run_interval()["t"] % 600 == 0


def test_no_sensor_fault_in_healthy_intervals():
    node, hal, emus = bench_node(tmpdir("node"))
    for _ in range(3):
        node.run_interval()
    assert [(s.type, s.last_error) for s in node.sensors if s.faults] == []
