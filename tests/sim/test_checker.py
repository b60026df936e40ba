"""The platform checker: SenML-CBOR decoding, de-duplication, completeness, over real brokers."""

import time
from decimal import Decimal

import cbor2
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from simulator.broker import Broker
from simulator.checker import Checker, Ledger, SenmlError, decode_pack, split_name

EUI_A, EUI_B = "0004a30b001c0530", "70b3d57ed0001234"


def pack(eui, t0, readings):
    """What the gateway publishes for a device: base name and base time, then one record per value."""
    recs = [{-1: 10, -2: "urn:dev:deveui:%s:" % eui, -3: t0}]
    for dt, name, unit, value in readings:
        recs.append({0: name, 1: unit, 2: value, 6: dt})
    return cbor2.dumps(recs, canonical=True)


def test_decode_resolves_base_fields():
    data = cbor2.dumps(
        [{-2: "x:", -3: 1000, -4: "Cel", 0: "a", 2: 1.5}, {0: "b", 2: 2, 6: 60, 1: "%RH"}, {-5: 10, 0: "c", 2: 1}]
    )
    vals = decode_pack(data)
    assert [(v.name, v.t, v.v, v.unit) for v in vals] == [("x:a", 1000, 1.5, "Cel"), ("x:b", 1060, 2, "%RH"),
                                                          ("x:c", 1000, 11, "Cel")]  # fmt: skip


@pytest.mark.parametrize("data", [b"\xff\x00", cbor2.dumps({"a": 1}), cbor2.dumps([]), cbor2.dumps([1, 2]),
                                  cbor2.dumps([{0: 5, 2: 1}]), cbor2.dumps([{0: "a", 2: "x"}]),
                                  cbor2.dumps([{0: "a", 2: float("nan")}]), cbor2.dumps([{0: "a", 2: float("-inf")}]),
                                  cbor2.dumps([{-5: float("inf"), 0: "a", 2: 1}]),
                                  cbor2.dumps([{0: "a", 2: Decimal("NaN")}])])  # fmt: skip
def test_decode_rejects_non_senml(data):
    with pytest.raises(SenmlError):
        decode_pack(data)


def test_split_name():
    assert split_name("urn:dev:deveui:0004A30B001C0530:pm2_5") == (EUI_A, "pm2_5")
    assert split_name("edge/0004a30b001c0530/laeq") == (EUI_A, "laeq")
    assert split_name("gateway:temp") is None


def ledger_with_three():
    led = Ledger({"a": EUI_A, "b": EUI_B})
    led.generated("a", 1, 1000, {"pm2_5": 12.3, "temperature": 21.5})
    led.generated("a", 2, 1300, {"pm2_5": 13.1, "temperature": 21.4})
    led.generated("b", 7, 1000, {"laeq": 55.4})
    return led


def test_verdict_counts_duplicates_losses_and_explanations():
    led = ledger_with_three()
    first = pack(EUI_A, 1000, [(0, "pm2_5", "ug/m3", 12.3), (0, "temperature", "Cel", 21.5)])
    assert led.arrived(first) == 2 and led.arrived(first) == 2  # at-least-once: the same batch twice
    led.explain("b", 7, "radio:collision")
    v = led.verdict()
    assert (v.generated, v.delivered_unique, v.duplicates) == (3, 1, 2)
    assert (v.lost_explained, v.lost_unexplained, v.explained) == (1, 1, {"radio:collision": 1})
    assert v.unexplained == [{"node": "a", "seq": 2, "t": 1300, "missing": ["pm2_5", "temperature"]}]
    assert led.arrived_readings() == 1
    led.arrived(pack(EUI_A, 1300, [(0, "pm2_5", "ug/m3", 13.1)]))
    assert led.arrived_readings() == 1
    led.arrived(pack(EUI_A, 1300, [(0, "temperature", "Cel", 21.4)]))
    assert led.arrived_readings() == 2


def test_wrong_time_partial_and_wrong_value_are_flagged():
    led = ledger_with_three()
    led.arrived(pack(EUI_A, 1001, [(0, "pm2_5", "ug/m3", 12.3), (0, "temperature", "Cel", 21.5)]))  # 1 s off
    led.arrived(pack(EUI_A, 1300, [(0, "pm2_5", "ug/m3", 13.1)]))  # temperature missing
    led.arrived(pack(EUI_B, 1000, [(0, "laeq", "dB", 60.0)]))  # wrong value
    led.arrived(b"garbage")
    led.explain("a", 2, "node_power_loss")  # a partial arrival is not explained by a loss
    v = led.verdict()
    assert (v.delivered_unique, v.lost_unexplained, v.wrong_values) == (1, 2, 1)
    assert v.unexpected_values == 2 and v.malformed_messages == 1
    assert v.time_mismatch == 1  # seq 1: every value arrived, one second off


@pytest.mark.parametrize("kind, version", [("mosquitto", 5), ("mosquitto", 3), ("amqtt", 3)])
def test_checker_over_a_real_broker(tmp_path, kind, version):
    with Broker(prefer=kind, workdir=tmp_path) as broker:
        led = ledger_with_three()
        checker = Checker(led, broker.port, "edge", mqtt_version=version, client_id="chk-%s-%d" % (kind, version))
        checker.start()
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5 if version == 5 else mqtt.MQTTv311)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        props = None
        if version == 5:
            props = Properties(PacketTypes.PUBLISH)
            props.ContentType = "application/senml+cbor"
        msgs = [pack(EUI_A, 1000, [(0, "pm2_5", "ug/m3", 12.3), (0, "temperature", "Cel", 21.5),
                                   (300, "pm2_5", "ug/m3", 13.1), (300, "temperature", "Cel", 21.4)]),
                pack(EUI_B, 1000, [(0, "laeq", "dB", 55.4)])]  # fmt: skip
        for m in msgs + msgs[:1]:
            pub.publish("edge/gw1/up", m, qos=1, properties=props).wait_for_publish(5)
        pub.publish("edge/gw1/status", b"online", qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 5
        while led.messages < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        checker.stop()
        pub.loop_stop()
        v = led.verdict()
        assert (v.generated, v.delivered_unique, v.duplicates, v.lost_unexplained) == (3, 3, 4, 0)
        assert led.content_type_missing == 0


def test_shared_subscription_splits_messages_between_checkers(tmp_path):
    with Broker(prefer="mosquitto", workdir=tmp_path) as broker:
        leds = [Ledger({"a": EUI_A}) for _ in range(2)]
        checkers = [Checker(led, broker.port, "edge", 5, client_id="chk%d" % i) for i, led in enumerate(leds)]
        for c in checkers:
            c.start()
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        for i in range(40):
            pub.publish(
                "edge/gw1/up", pack(EUI_A, 1000 + 60 * i, [(0, "pm2_5", "ug/m3", 1.0)]), qos=1
            ).wait_for_publish(5)
        deadline = time.monotonic() + 5
        while sum(led.messages for led in leds) < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
        for c in checkers:
            c.stop()
        pub.loop_stop()
        counts = [led.messages for led in leds]
        assert sum(counts) == 40 and min(counts) > 0, counts
        assert not set(leds[0].arrivals) & set(leds[1].arrivals)


def test_exact_values_are_read_in_their_published_unit():
    # A sensor's float32 11.9499998 (11.95 on the host) goes on the wire as 12.0 (docs/payload.md
    # rounding) and into SenML exactly, as kg/m3 decimal fractions (docs/platform.md).
    led = Ledger({"a": EUI_A})
    led.generated("a", 1, 1000, {"pm2_5": 11.949999809265137})
    led.generated("a", 2, 1300, {"pm2_5": 11.949999809265137})
    values = [(0, "pm2_5", "kg/m3", Decimal("1.2E-8")), (300, "pm2_5", "kg/m3", Decimal("1.16E-8"))]
    led.arrived(pack(EUI_A, 1000, values))
    v = led.verdict()
    assert (v.delivered_unique, v.wrong_values) == (2, 1)  # 11.6 is a wrong value, 12.0 is not
    assert v.wrong[0]["seq"] == 2 and v.wrong[0]["arrived"] == 11.6


def test_reading_lost_before_flash_but_already_on_air_counts_as_delivered():
    led = ledger_with_three()
    led.discard("a", 2, "node_power_loss_before_logging")  # the node lost power with seq 2 in RAM ...
    led.generated("a", 2, 1400, {"pm2_5": 9.0})  # ... and reuses the seq after the reboot
    led.discard("b", 7, "node_power_loss_before_logging")  # never sent: stays an explained loss
    led.arrived(pack(EUI_A, 1000, [(0, "pm2_5", "ug/m3", 12.3), (0, "temperature", "Cel", 21.5),
                                   (300, "pm2_5", "ug/m3", 13.1), (300, "temperature", "Cel", 21.4),
                                   (400, "pm2_5", "ug/m3", 9.0)]))  # fmt: skip
    v = led.verdict()
    assert (v.generated, v.delivered_unique, v.unexpected_values, v.lost_unexplained) == (4, 3, 0, 0)
    assert v.explained == {"node_power_loss_before_logging": 1}


def test_event_readings_are_expected_and_dated_at_their_arrival():
    now = [5000.0]
    led = Ledger({"a": EUI_A}, now=lambda: now[0])
    led.generated("a", 1, 1000, {"water_level": 1.25, "distance": 2.75})
    led.generated("a", 2, 1017, {"water_level": 1.31, "distance": 2.69}, event=True)  # between intervals
    now[0] = 1030.0
    led.arrived(pack(EUI_A, 1017, [(0, "water_level", "m", 1.31), (0, "distance", "m", 2.69)]))
    led.arrived(pack(EUI_A, 1017, [(0, "water_level", "m", 1.31)]))  # a repeat of the confirmed uplink
    v = led.verdict()
    assert led.events == {("a", 2)} and led.arrived_at == {("a", 2): 1030.0}
    assert (v.generated, v.delivered_unique, v.unexpected_values, v.duplicates) == (2, 1, 0, 1)
    assert v.lost_unexplained == 1  # the interval reading never came


def test_alerts_are_kept_with_their_arrival_and_malformed_ones_counted(tmp_path):
    with Broker(prefer="mosquitto", workdir=tmp_path) as broker:
        led = Ledger({"a": EUI_A}, now=lambda: 777.0)
        checker = Checker(led, broker.port, "edge", client_id="chk-alerts")
        checker.start()
        pub = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        pub.connect("127.0.0.1", broker.port)
        pub.loop_start()
        doc = b'{"alert":"flood_level","state":"raised","at":1,"device":"%s","message":"m"}' % EUI_A.encode()
        pub.publish("edge/gw1/alerts", doc, qos=1).wait_for_publish(5)
        pub.publish("edge/gw1/alerts", b"[1, 2", qos=1).wait_for_publish(5)
        deadline = time.monotonic() + 5
        while len(led.alerts) + led.malformed < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        checker.stop()
        pub.loop_stop()
        assert led.alerts == [{"alert": "flood_level", "state": "raised", "at": 1, "device": EUI_A, "message": "m",
                               "received_at": 777.0}]  # fmt: skip
        assert led.malformed == 1 and led.messages == 0
