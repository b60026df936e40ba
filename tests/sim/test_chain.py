"""The shipped demo and chaos scenarios end to end: real firmware, agent process, SQLite, mosquitto.

Completeness with measurement times: every generated reading arrives once after dedup with its
time and values, or its loss is explained; the run fails on any unexplained loss.
"""

import gc

import pytest

from simulator import scenario
from simulator.runner import Runner, write_reports

pytestmark = pytest.mark.slow

KNOWN_REASONS = {"radio_collision", "radio_out_of_range", "radio_random_loss", "radio_demodulators_busy",
                 "agent_down", "agent_killed_before_commit", "push_data_unacknowledged",
                 "node_power_loss_before_logging", "still_on_node_at_end"}  # fmt: skip


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    wd = tmp_path_factory.mktemp("demo")
    result = Runner(scenario.load("demo"), wd).run()
    write_reports(result, wd / "report.json", wd / "report.html", scenario.load("demo").start_unix)
    return result, wd


@pytest.fixture(scope="module")
def chaos(tmp_path_factory):
    wd = tmp_path_factory.mktemp("chaos")
    return Runner(scenario.load("chaos"), wd).run(), wd


def check_chain(s):
    gw = s["gateway_status"]["counters"]
    assert s["generated"] > 0 and s["uplinks"] >= s["nodes"] and s["readings_at_gateway"] > 0
    assert gw["stored_readings"] > 0
    assert gw["backlog_readings"] == 0 and gw["evicted_readings"] == 0, gw  # everything stored was forwarded
    assert s["values_received"] > 0 and s["malformed_messages"] == 0 and s["wrong_values"] == 0
    assert s["malformed_from_agent"] == 0 and s["content_type_missing"] == 0
    assert set(s["lost_by_reason"]) <= KNOWN_REASONS, s["lost_by_reason"]
    assert s["acceleration"] > 100


def test_demo_runs_the_whole_chain(demo):
    result, wd = demo
    s = result.summary
    check_chain(s)
    assert s["generated"] >= 8 * 70  # 8 nodes x 72 intervals, less the first partial one
    assert s["agent_exit_code"] == 0 and s["downlinks_delivered"] > 0
    assert gc.get_freeze_count() == 0  # the run froze what it keeps (runner.py), and thawed it at the end
    gw = s["gateway_status"]["counters"]
    assert gw["forwarded_readings"] == gw["stored_readings"]  # no kill -9 here: the counters are exact
    html = (wd / "report.html").read_text()
    assert "<svg" in html and "backhaul down" in html and "http" not in html.replace('"http://www.w3.org/2000/svg"', "")


def test_chaos_applies_every_fault(chaos):
    result, _ = chaos
    s = result.summary
    check_chain(s)
    assert (s["agent_kills"], s["agent_starts"]) == (2, 3)
    assert s["frames_lost_on_radio"].get("random_loss", 0) + s["frames_lost_on_radio"].get("collision", 0) > 0


def test_demo_every_reading_arrives_once_with_its_time(demo):
    s = demo[0].summary
    assert s["lost_unexplained"] == 0 and s["delivered_unique"] + s["lost_explained"] == s["generated"], s


def test_chaos_every_loss_explained(chaos):
    s = chaos[0].summary
    assert s["lost_unexplained"] == 0, s


def test_embedded_broker_runs_the_chain_over_mqtt_3_1_1(tmp_path):
    text = (scenario.SCENARIO_DIR / "demo.toml").read_text().replace('duration = "6h"', 'duration = "40m"')
    text = text.replace('at = "2h"', 'at = "10m"')
    path = tmp_path / "small.toml"
    path.write_text(text)
    sc = scenario.load(path)
    s = Runner(sc, tmp_path / "run", broker="amqtt").run().summary
    assert s["broker"] == "amqtt" and s["mqtt_version"] == "3.1.1"
    assert any("shared subscription" in x for x in s["skipped"])
    assert s["values_received"] > 0 and s["malformed_messages"] == 0 and s["wrong_values"] == 0


def test_compressed_packs_reach_the_checker(tmp_path):
    text = (scenario.SCENARIO_DIR / "demo.toml").read_text().replace('duration = "6h"', 'duration = "40m"')
    text = text.replace('at = "2h"', 'at = "10m"')
    text += '\n[gateway.extra.mqtt]\ncompression = "deflate"\n'
    path = tmp_path / "deflate.toml"
    path.write_text(text)
    s = Runner(scenario.load(path), tmp_path / "run").run().summary
    assert s["deflated_messages"] > 0 and s["deflated_messages"] == s["messages"], s  # all of them compressed
    assert s["values_received"] > 0 and s["malformed_messages"] == 0 and s["wrong_values"] == 0
    assert s["lost_unexplained"] == 0 and s["delivered_unique"] + s["lost_explained"] == s["generated"], s
