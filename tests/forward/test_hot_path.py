"""The hot path through the real agent and a real Mosquitto: live readings the broker acknowledges
before their commit are never written to the buffer; only their frame counters are, in the
registry's counter log, which a restarted agent reads back so old frames stay replays."""

import json
import sqlite3
import time

import pytest

from gateway.agent import BUFFER_FILE
from gateway.registry import REGISTRY_FILE
from tests.forward.conftest import dedup, wait
from tests.gateway.harness import AgentThread, add_abp, make_config, uplink
from tests.gateway.pf import Forwarder, rxpk
from tests.mqtt_broker import MosquittoBroker, Subscriber

pytestmark = pytest.mark.slow

DEV, ADDR = "70b3d57ed0000c01", "26011c01"
T0 = int(time.time()) - 86_400


def reading(seq):
    return {"seq": seq, "t": T0 + 60 * seq, "pm2_5": 10.0 + seq / 10, "humidity": 48.5}


def count(path, sql):
    db = sqlite3.connect(path)
    try:
        return db.execute(sql).fetchone()[0]
    finally:
        db.close()


@pytest.fixture
def setup(tmp_path):
    broker = MosquittoBroker(tmp_path, persistence=True).start()
    sub = Subscriber(broker, "edge/+/up", persistent_id="platform")  # keeps its messages across a restart
    cfg = make_config(
        tmp_path,
        mqtt={"url": broker.url, "reconnect_min_s": 0.05, "reconnect_max_s": 0.3},
        ingest={"commit_deadline_ms": 1000, "counter_deadline_s": 0.5},
        backfill={"enabled": False},
    )
    add_abp(cfg, DEV, ADDR)
    yield cfg, broker, sub
    sub.close()
    broker.stop()


def test_live_readings_reach_the_broker_without_a_buffer_write(setup):
    cfg, broker, sub = setup
    a = AgentThread(cfg)
    f = Forwarder(a.address)
    try:
        for fcnt in range(5):
            f.push([rxpk(uplink(ADDR, fcnt, reading(fcnt + 1)))])
        assert a.wait("received_uplinks", 5) == 5
        assert wait(lambda: len(dedup(sub.messages)) == 10)
        assert wait(lambda: count(cfg.data_dir / REGISTRY_FILE, "SELECT count(*) FROM counter_log") >= 1, 5)
        assert a.metrics.get("stored_readings") == 5
    finally:
        a.stop()
        f.close()
    assert count(cfg.data_dir / BUFFER_FILE, "SELECT count(*) FROM reading") == 0
    assert count(cfg.data_dir / BUFFER_FILE, "SELECT coalesce(max(id), 0) FROM reading") == 0  # never written
    # a restarted agent reads the counters back: the old frames are replays, the next one is new
    a = AgentThread(cfg)
    f = Forwarder(a.address)
    try:
        f.push([rxpk(uplink(ADDR, 4, reading(5)))])
        assert a.wait("replays", 1) == 1
        f.push([rxpk(uplink(ADDR, 5, reading(6)))])
        assert a.wait("received_uplinks", 6) == 6
    finally:
        a.stop()
        f.close()


def test_with_the_broker_away_readings_are_written_at_the_commit_deadline(setup):
    cfg, broker, sub = setup
    broker.stop()
    a = AgentThread(cfg)
    f = Forwarder(a.address)
    try:
        f.push([rxpk(uplink(ADDR, 0, reading(1)))])
        time.sleep(0.3)
        assert a.metrics.get("received_uplinks") == 0  # neither at the broker nor on disk yet
        assert a.wait("received_uplinks", 1, timeout=5) == 1  # the 1 s deadline wrote it
        assert a.agent.buffer.stats().pending_readings == 1
        broker.start()
        assert wait(lambda: len(dedup(sub.messages)) == 2, 30)
    finally:
        a.stop()
        f.close()


def test_readings_the_broker_took_before_their_commit_still_get_their_value_checks(setup):
    cfg, broker, sub = setup
    alerts = Subscriber(broker, "edge/+/alerts")
    a = AgentThread(cfg)
    f = Forwarder(a.address)
    try:
        humid = {"seq": 1, "t": T0 + 60, "pm2_5": 12.0, "humidity": 95.0}  # PM over-reads in humid air
        f.push([rxpk(uplink(ADDR, 0, humid))])
        assert a.wait("received_uplinks", 1) == 1
        assert wait(lambda: any(json.loads(p)["alert"] == "pm_high_humidity" for _, p, _ in alerts.snapshot()), 10)
        health = next(s for s in a.agent.services if hasattr(s, "engine"))
        assert DEV in health.engine.devices  # the device is known to the silence check and the metrics
    finally:
        a.stop()
        f.close()
        alerts.close()
    assert count(cfg.data_dir / BUFFER_FILE, "SELECT coalesce(max(id), 0) FROM reading") == 0  # it skipped the disk
