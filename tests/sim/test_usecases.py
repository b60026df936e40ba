"""The flood, collection-round and mobile scenarios end to end: real firmware with derived values,
event uplinks and GNSS, the agent process, its alerts, mosquitto, the checker's use-case verdict."""

import pytest

from simulator import scenario
from simulator.physics.world import UseCaseWorld
from simulator.runner import Runner, write_reports

pytestmark = pytest.mark.slow


def run(name, tmp_path_factory):
    wd = tmp_path_factory.mktemp(name)
    sc = scenario.load(name)
    result = Runner(sc, wd).run()
    write_reports(result, wd / "report.json", wd / "report.html", sc.start_unix)
    return result.summary, wd, result.ledger


@pytest.fixture(scope="module")
def flood(tmp_path_factory):
    return run("flood", tmp_path_factory)


@pytest.fixture(scope="module")
def collection(tmp_path_factory):
    return run("collection-round", tmp_path_factory)


@pytest.fixture(scope="module")
def mobile(tmp_path_factory):
    return run("mobile", tmp_path_factory)


def complete(s):
    assert s["lost_unexplained"] == 0 and s["wrong_values"] == 0 and s["unexpected_values"] == 0, s
    assert s["duplicates"] == 0 and s["malformed_messages"] == 0 and s["time_mismatch"] == 0
    assert s["ok"], s.get("use_cases")


def test_flood_every_level_crossing_reaches_the_platform_within_a_minute(flood):
    s, wd, _ = flood
    complete(s)
    ev = s["use_cases"]["events"]
    assert ev["crossings"] == 4 * 3 and ev["missed"] == []  # four gauges, three levels each
    assert ev["latency_s"]["n"] == 12 and ev["latency_s"]["p99"] <= 60, ev["latency_s"]
    assert ev["rise_crossings"] == 4 and ev["rise_latency_s"]["n"] == 4
    assert ev["event_readings"] == ev["event_readings_delivered"] >= 12  # one reading may serve two rules
    assert "Use cases: PASS" in (wd / "report.html").read_text()


def test_flood_batch_uplinks_of_event_gauges_match_the_control_gauges(flood):
    b = flood[0]["use_cases"]["batch"]
    ev, ctl = b["with_events"], b["without_events"]
    assert ev["nodes"] == 4 and ctl["nodes"] == 2
    assert abs(ev["readings"] - 2 * ctl["readings"]) <= 4 and ctl["readings"] > 100  # first intervals partial
    assert ev["share"] == ctl["share"] == 1.0
    assert ev["latency_s"]["p99"] <= ctl["latency_s"]["p99"] + 30, b


def test_flood_level_alert_raised_and_cleared_for_every_gauge(flood):
    a = flood[0]["use_cases"]["alerts"]["flood_level"]
    gauges = sorted(["gauge-%d" % i for i in range(1, 5)] + ["control-1", "control-2"])
    assert a["raised"] == a["expected_raised"] == gauges
    assert a["cleared"] == a["expected_cleared"] == gauges and a["ok"]


def test_collection_round_full_containers_alert_and_are_emptied(collection):
    s, _, _ = collection
    complete(s)
    uc = s["use_cases"]
    assert uc["events"]["crossings"] == 5 and uc["events"]["missed"] == [], uc["events"]
    a = uc["alerts"]["container_full"]
    assert len(a["raised"]) >= 6 and a["raised"] == a["expected_raised"] and a["cleared"] == a["raised"], a
    assert uc["batch"]["with_events"]["share"] == uc["batch"]["without_events"]["share"] == 1.0


def test_collection_round_lamp_sensor_sees_dusk_and_the_lamp(collection):
    _, _, ledger = collection
    sc = scenario.load("collection-round")
    world = UseCaseWorld(sc)
    lamp = {r.t: r.values["illuminance"] for (n, _), r in ledger.readings.items() if n == "lamp"}
    sky = {r.t: r.values["illuminance"] for (n, _), r in ledger.readings.items() if n == "sky"}
    night = [t for t in lamp if world.light.elevation(t) < -8]
    day = [t for t in lamp if world.light.elevation(t) > 3]
    assert len(night) > 30 and len(day) >= 3
    assert all(abs(lamp[t] - sc.world.light.lamp_lux) < 1.0 for t in night)  # the lamp alone
    assert all(sky[t] < 1.0 for t in night if t in sky)  # a winter night in the open
    assert all(lamp[t] > 100 and sky[t] > 100 for t in day if t in sky)  # daylight under and beside the lamp


def test_mobile_readings_carry_their_own_fix_or_no_position(mobile):
    s, _, _ = mobile
    complete(s)
    m = s["use_cases"]["mobile"]
    assert m["readings"] >= 3 * 110
    assert m["position_without_fix"] == m["no_position_with_fix"] == m["wrong_position"] == 0, m["examples"]
    assert m["with_position"] == m["fix_at_reading"]
    assert 0 < m["readings"] - m["with_position"] < m["readings"] / 4  # canyons cost some fixes, not most
