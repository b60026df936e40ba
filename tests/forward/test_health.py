"""Alerts, metrics, the retained status and the last will."""

import json
import signal
import time

from hypothesis import given
from hypothesis import strategies as st

from gateway import config
from gateway.forward.forwarder import Forwarder
from gateway.health import alerts
from gateway.health.alerts import AlertEngine
from gateway.health.service import HealthService
from gateway.store.buffer import ReadingBuffer
from gateway.store.records import Reading
from tests.forward.conftest import make_settings, wait
from tests.forward.test_crash_outage import start_agent, write_config
from tests.mqtt_broker import MosquittoBroker, Subscriber, free_port

DEV = "70b3d57ed0000b01"


def engine(**kw):
    return AlertEngine(config.from_dict({"gateway": {"id": "g"}, "alerts": kw}).alerts)


def kinds(alerts):
    return [(a.alert, a.state) for a in alerts]


def test_value_alerts_out_of_range_stuck_spike_and_humid_pm():
    e = engine(stuck_count=5)
    t = 1763800000
    assert kinds(e.observe(DEV, [(1, t, {"temperature": 150.0})], 0)) == [("out_of_range", "raised")]
    out = []
    for i in range(6):
        out += e.observe(DEV, [(2 + i, t + 60 * (i + 1), {"humidity": 55.5})], 0)
    assert kinds(out) == [("stuck_value", "raised")]
    assert kinds(e.observe(DEV, [(9, t + 600, {"humidity": 60.0})], 0)) == [("stuck_value", "cleared")]
    for i, v in enumerate([12.0, 12.4, 11.8, 12.1, 12.3, 11.9]):
        assert e.observe(DEV, [(20 + i, t + 1000 + 60 * i, {"pm2_5": v})], 0) == []
    spike = e.observe(DEV, [(30, t + 2000, {"pm2_5": 480.0})], 0)
    assert kinds(spike) == [("spike", "raised")] and spike[0].value == 480.0 and spike[0].t == t + 2000
    humid = e.observe(DEV, [(31, t + 2100, {"pm2_5": 12.0, "humidity": 92.0})], 0)
    assert ("pm_high_humidity", "raised") in kinds(humid)
    doc = json.loads(humid[-1].to_json())
    assert doc["device"] == DEV and doc["alert"] == "pm_high_humidity" and "message" in doc


def test_flood_level_and_container_full_are_conditions_on_the_newest_value():
    e = engine(flood_level_m=1.5, container_full_pct=90)
    t = 1763800000
    assert e.observe(DEV, [(1, t, {"water_level": 0.6})], 0) == []
    flood = e.observe(DEV, [(2, t + 60, {"water_level": 1.62})], 0)
    assert kinds(flood) == [("flood_level", "raised")] and flood[0].value == 1.62 and flood[0].t == t + 60
    assert e.observe(DEV, [(3, t + 120, {"water_level": 1.9})], 0) == []  # raised once
    assert e.observe(DEV, [(0, t - 600, {"water_level": 0.2})], 0) == []  # backfill cannot clear it
    assert kinds(e.observe(DEV, [(4, t + 900, {"water_level": 1.2})], 0)) == [("flood_level", "cleared")]
    full = e.observe("70b3d57ed0000b02", [(1, t, {"fill_level": 92.5, "distance": 0.2})], 0)
    assert kinds(full) == [("container_full", "raised")] and full[0].quantity == "fill_level"
    emptied = e.observe("70b3d57ed0000b02", [(2, t + 300, {"fill_level": 3.0, "distance": 1.3})], 0)
    assert kinds(emptied) == [("container_full", "cleared")]  # the collection round came


def test_silent_device_raised_after_n_intervals_and_cleared_when_it_returns():
    e = engine(silent_intervals=3)
    t = 1763800000
    e.observe(DEV, [(1, t, {"laeq": 50.0})], 1000.0)
    e.observe(DEV, [(2, t + 60, {"laeq": 51.0})], 1060.0)  # interval now known: 60 s
    assert e.tick(1060.0 + 170) == []
    assert kinds(e.tick(1060.0 + 190)) == [("device_silent", "raised")]
    assert e.tick(1060.0 + 400) == []  # raised once
    assert kinds(e.observe(DEV, [(3, t + 500, {"laeq": 52.0})], 1500.0)) == [("device_silent", "cleared")]


def test_gateway_alerts_disk_backhaul_and_evictions():
    e = engine(backhaul_down_s=60, disk_full_fraction=0.9)
    assert kinds(e.tick(100.0, disk_fraction=0.95)) == [("disk_nearly_full", "raised")]
    assert kinds(e.tick(200.0, disk_fraction=0.5)) == [("disk_nearly_full", "cleared")]
    assert e.tick(130.0, disconnected_since=100.0) == []
    assert kinds(e.tick(170.0, disconnected_since=100.0)) == [("backhaul_down", "raised")]
    assert kinds(e.tick(180.0, disconnected_since=None)) == [("backhaul_down", "cleared")]
    ev = e.tick(190.0, evicted={DEV: 120})
    assert kinds(ev) == [("readings_evicted", "raised")] and ev[0].count == 120


def test_health_service_publishes_metrics_and_alerts(tmp_path, running):
    with MosquittoBroker(tmp_path) as broker:
        sub = Subscriber(broker, "edge/gw1/#")
        buf = ReadingBuffer(tmp_path / "b.db")
        raw = {"gateway": {"id": "gw1"}, "mqtt": {"url": broker.url}, "alerts": {"metrics_interval_s": 1.0}}
        cfg = config.from_dict(raw)
        f = running(buf, make_settings(broker))
        health = HealthService(cfg, buf, f, None)
        health.start()
        try:
            buf.commit_local([Reading(DEV, 1, int(time.time()), {"temperature": 250.0, "humidity": 40.0})])

            def topic(leaf):
                return [json.loads(p) for t, p, _ in sub.snapshot() if t == "edge/gw1/" + leaf]

            assert wait(lambda: any(a["alert"] == "out_of_range" for a in topic("alerts")), 10)
            assert wait(lambda: any(m["forwarded_readings"] >= 1 for m in topic("metrics")), 10)
            m = topic("metrics")[-1]
            keys = ["backlog_readings", "oldest_backlog_age_s", "drain_rate_per_s", "time_to_empty_s"]
            keys += ["failed_publishes", "evicted_readings", "disk_bytes_written", "devices", "connected"]
            for key in keys:
                assert key in m, key
            assert m["devices"][DEV]["backlog"] == 0
            assert topic("status")[0]["state"] == "online"
        finally:
            health.stop()
        sub.close()


def test_last_will_says_offline_when_the_agent_dies(tmp_path):
    with MosquittoBroker(tmp_path) as broker:
        cfg_path, _ = write_config(tmp_path, broker, free_port())
        proc = start_agent(cfg_path)
        sub = Subscriber(broker, "edge/gw1/status")
        assert sub.wait_for(lambda m: any(json.loads(p)["state"] == "online" for _, p, _ in m), 10)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert sub.wait_for(lambda m: json.loads(m[-1][1]) == {"state": "offline"}, 10)
        sub.close()
        late = Subscriber(broker, "edge/gw1/status")  # retained: a newcomer sees offline
        assert late.wait_for(lambda m: m and json.loads(m[-1][1])["state"] == "offline", 5)
        late.close()


def test_clean_stop_publishes_offline_with_reason(tmp_path, running):
    with MosquittoBroker(tmp_path) as broker:
        sub = Subscriber(broker, "edge/gw1/status")
        buf = ReadingBuffer(tmp_path / "b.db")
        f = Forwarder(buf, make_settings(broker))
        f.start()
        assert sub.wait_for(lambda m: any(json.loads(p)["state"] == "online" for _, p, _ in m), 10)
        f.stop()
        assert sub.wait_for(lambda m: json.loads(m[-1][1]).get("reason") == "shutdown", 5)
        sub.close()


def test_a_burst_the_value_checks_cannot_follow_is_skipped_and_counted_not_queued(tmp_path):
    from gateway.health import service

    buf = ReadingBuffer(tmp_path / "b.db")
    cfg = config.from_dict({"gateway": {"id": "gw1"}})
    health = HealthService(cfg, buf, None, None)  # not started: nothing drains the inbox
    t = int(time.time())
    for i in range(service.INBOX_COMMITS + 30):
        buf.commit_local(
            [Reading(DEV, 2 * i, t, {"temperature": 20.0}), Reading(DEV, 2 * i + 1, t, {"temperature": 21.0})]
        )
    assert health._inbox.qsize() == service.INBOX_COMMITS
    assert health.unchecked_readings == 60
    assert buf.stats().pending_readings == 2 * (service.INBOX_COMMITS + 30)  # every reading stored all the same
    buf.close()


@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=5, max_size=15))
def test_the_mad_bound_never_exceeds_the_mad(values):
    """The spike test skips the median absolute deviation when its lower bound already rules a
    spike out: the bound must never be above the MAD itself."""
    ordered = sorted(values)
    med = alerts._median(ordered)
    assert alerts._mad_at_least(ordered, med) <= alerts._median(sorted(abs(x - med) for x in values))
