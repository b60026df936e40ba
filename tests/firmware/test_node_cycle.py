"""The node firmware end to end on CPython: driver emulators, the LoRa-E5 emulator producing real
LoRaWAN frames, a loopback network server, a VirtualClock."""

from edge import downlink
from simulator.node_hal import NodeReset
from tests.firmware.nodekit import START, Kit, config


def test_intervals_measure_log_join_and_arrive(tmp_path):
    k = Kit(tmp_path)
    readings = [k.node.run_interval() for _ in range(3)]
    assert [r["seq"] for r in readings] == [1, 2, 3]
    assert [r["t"] for r in readings] == [START + 300, START + 600, START + 900]
    assert abs(readings[0]["pm2_5"] - 12.3) < 0.05 and abs(readings[0]["humidity"] - 48.0) < 0.5
    assert k.net.joins == 1 and k.node.counters["joins"] == 1
    got = k.dev.readings
    assert sorted(got) == [1, 2, 3]
    assert got[2]["t"] == START + 600 and abs(got[2]["temperature"] - 21.5) < 0.02
    assert k.hal.clock.time() >= START + 900 and k.clock.time() == START  # only the node's clock moved


def test_pm_sensor_sleeps_between_intervals_and_warms_up_first(tmp_path):
    k = Kit(tmp_path)
    k.node.run_interval()
    assert k.pm.asleep  # the laser rests after the interval
    r = k.node.run_interval()
    assert "pm2_5" in r and k.node.sensors[0].faults == 0


def test_failed_sensor_gives_a_reading_without_it_and_a_fault(tmp_path):
    k = Kit(tmp_path)
    k.th.fault("nack")
    r = k.node.run_interval()
    assert "temperature" not in r and "pm2_5" in r
    assert k.node.sensors[1].faults >= 1
    k.th.fault(None)
    assert "temperature" in k.node.run_interval()


def test_lost_uplinks_are_resent_on_request_and_acks_stick(tmp_path):
    k = Kit(tmp_path)
    k.net.drop = {2, 3}  # frame 0 is the join; uplinks of seq 2 and 3 are lost
    for _ in range(4):
        k.node.run_interval()
    assert sorted(k.dev.readings) == [1, 4]
    k.net.queue(bytes.fromhex("70b3d57ed0000042"), downlink.encode([("ack", 1), ("resend", 2, 2)]))
    k.node.run_interval()  # seq 5 goes up, the downlink comes back in RX1
    assert k.node.log.acked_seq == 1
    k.node.run_interval()  # seq 6 + the resend of 2 and 3
    assert sorted(k.dev.readings) == [1, 2, 3, 4, 5, 6]


def test_unsent_readings_catch_up_after_an_outage(tmp_path):
    k = Kit(tmp_path)
    k.node.run_interval()
    k.net.drop = set(range(k.net.frames, k.net.frames + 1000))  # gateway down
    for _ in range(5):
        k.node.run_interval()
    k.net.drop = set()
    for _ in range(3):
        k.node.run_interval()
    # the backlog is never sent proactively beyond what was not yet on air: lost frames need resend
    k.net.queue(bytes.fromhex("70b3d57ed0000042"), downlink.encode([("resend", 2, 5)]))
    for _ in range(3):
        k.node.run_interval()
    assert sorted(k.dev.readings) == list(range(1, 13))


def test_commands_interval_time_sync_and_bad_ones(tmp_path):
    k = Kit(tmp_path)
    k.node.run_interval()
    k.net.queue(bytes.fromhex("70b3d57ed0000042"), downlink.encode([("set_interval", 60), ("time_sync", START + 7200)]))
    k.node.run_interval()
    assert k.node.interval_s == 60 and abs(k.node.clock.time() - (START + 7200)) < 5
    k.net.queue(bytes.fromhex("70b3d57ed0000042"), b"\x09\x01")
    k.node.run_interval()
    assert k.node.counters["bad_commands"] == 1
    k.net.queue(bytes.fromhex("70b3d57ed0000042"), downlink.encode([("time_sync", 1000)]))
    k.node.run_interval()
    assert k.node.counters["bad_commands"] == 2 and k.node.clock.time() > START + 7200
    r = k.node.run_interval()
    assert r["t"] % 60 == 0
    k.boot()  # the interval survives a restart
    assert k.node.interval_s == 60


def test_reboot_command_resets_and_the_sequence_continues(tmp_path):
    k = Kit(tmp_path)
    k.node.run_interval()
    k.net.queue(bytes.fromhex("70b3d57ed0000042"), downlink.encode([("reboot",)]))
    try:
        k.node.run_interval()
        raise AssertionError("no reset")
    except NodeReset as e:
        assert e.reason == "reset"
    node = k.boot()
    assert node.log.last_seq == 2
    assert node.run_interval()["seq"] == 3
    assert sorted(k.dev.readings) == [1, 2, 3]


def test_power_loss_skips_batched_seqs_and_rejoins(tmp_path):
    k = Kit(tmp_path)
    for _ in range(3):
        k.node.run_interval()
    k.hal.power_loss()
    node = k.boot()
    # the three readings waited in RTC memory for their batch: gone, and their seqs never reused
    assert node.log.last_seq == node.log.batch and node.log.skipped_seqs == node.log.batch
    r = node.run_interval()
    assert r["seq"] == node.log.batch + 1 and k.net.joins == 2
    assert abs(k.dev.readings[r["seq"]]["t"] - r["t"]) <= 1  # ages are whole seconds before the uplink


def test_watchdog_is_fed_through_long_waits(tmp_path):
    k = Kit(tmp_path)
    k.hal.wdt_start(8000)
    for _ in range(3):
        k.node.run_interval()
    assert k.hal.wdt_bites == 0


def test_two_nodes_share_one_time_line_through_step(tmp_path):
    """How the simulator drives nodes: one shared clock in ticks, each node stepped when due."""
    from edge.clock import VirtualClock
    from firmware.app import Node
    from simulator.devices.sht4x import SHT4xEmulator
    from simulator.modem.e5 import LoRaE5Emulator
    from simulator.modem.network import LoopbackNetwork
    from simulator.node_hal import VirtualHAL
    from tests.firmware.nodekit import APP_KEY, config

    clock = VirtualClock(unix_start=START)
    net = LoopbackNetwork(clock)
    nodes = []
    for i in range(2):
        eui = bytes.fromhex("70b3d57ed000010%d" % i)
        net.register(eui, APP_KEY)
        cfg = config(sensors=[{"type": "sht4x", "i2c": 0}])
        cfg.lorawan["dev_eui"] = eui
        hal = VirtualHAL(clock, cfg.board)
        hal.attach_uart("modem", LoRaE5Emulator(hal.clock, radio=net, seed=i))
        hal.i2c("0").attach(SHT4xEmulator(clock=hal.clock)).set(temperature=10.0 + i, humidity=50.0)
        nodes.append([Node(hal, cfg, str(tmp_path / ("n%d" % i))), 0])
    while clock.monotonic_ms() < 1000 * 1000:
        now = clock.monotonic_ms()
        for entry in nodes:
            node = entry[0]
            while entry[1] <= now:
                entry[1] = node.hal.clock.monotonic_ms() + node.step()
        clock.advance(1000)
    for i in range(2):
        dev = net.devices[bytes.fromhex("70b3d57ed000010%d" % i)]
        assert sorted(dev.readings) == [1, 2, 3]
        assert all(abs(r["temperature"] - (10.0 + i)) < 0.05 for r in dev.readings.values())
        assert abs(nodes[i][0].hal.clock.time() - clock.time()) <= 10  # node clocks stay near the shared one


def test_deep_sleep_between_intervals_keeps_batch_and_session(tmp_path):
    k = Kit(tmp_path)  # esp32-devkitc: deep sleep, 2 KB RTC memory; PM + T/RH only
    assert k.node.deep_sleep_ok()
    for _ in range(12):
        try:
            k.node.run()
        except NodeReset as e:
            assert e.reason == "deep_sleep"
            k.boot()
    assert k.hal.deep_sleeps == 12 and k.net.joins == 1
    # the first sleep came before the first interval; 8 readings went to flash as one record,
    # the rest wait in RTC memory; nothing skipped
    n = k.node.log.last_seq
    assert n == 11 and k.node.log.skipped_seqs == 0 and len(k.node.log._pending) == n - 8
    assert [r["seq"] for r in k.node.log.read(1, 99)] == list(range(1, n + 1))
    assert sorted(k.dev.readings)[:10] == list(range(1, 11))
    assert k.modem.asleep  # the modem rests in AT+LOWPOWER while the MCU sleeps


def test_noise_sensor_keeps_the_node_in_light_sleep(tmp_path):
    from simulator.devices.dnms import DNMSEmulator

    cfg = config(sensors=[{"type": "dnms", "i2c": 0}])
    k = Kit(tmp_path, cfg=cfg)
    k.hal.i2c("0").attach(DNMSEmulator(clock=k.hal.clock))
    assert not k.node.deep_sleep_ok()
    r = k.node.run_interval()
    assert "laeq" in r and "l90" in r


def test_join_failures_back_off_and_readings_are_still_logged(tmp_path):
    k = Kit(tmp_path)
    k.dev.app_key = bytes(16)  # the network does not know this node's key: every join fails
    for _ in range(4):
        k.node.run_interval()
    # tried within the intervals as the back-off (15 s doubling, jittered: uplink.JoinPolicy) allows
    failures = k.node.counters["join_failures"]
    assert 4 <= failures <= 7 and k.net.joins == 0
    assert k.node.joins.backoff_s == 15 * 2**failures
    assert k.node.joins.next_at > k.node.clock.time()  # waiting out the back-off
    assert k.node.log.last_seq == 4 and k.node.counters["uplinks"] == 0
    k.dev.app_key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    k.node.joins.next_at = 0
    k.node.run_interval()
    k.node.run_interval()
    assert k.net.joins == 1 and 6 in k.dev.readings and 1 in k.dev.readings  # the backlog follows
