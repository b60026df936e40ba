"""A frame whose payload is relative (the firmware's usual frame) is dated by its reception, so a
replay after a crash would decode to new times the platform cannot drop as duplicates. Its readings
therefore reach the broker only once its frame counter is on disk; a frame with absolute times
keeps the hot path (published at once, its counter written up to counter_deadline_s later)."""

import sqlite3
import time

import pytest

from edge import payload
from gateway import lorawan
from gateway.registry import REGISTRY_FILE
from tests.forward.conftest import dedup, wait
from tests.gateway.harness import APP, NWK, AgentThread, H, add_abp, make_config, uplink
from tests.gateway.pf import Forwarder, rxpk
from tests.mqtt_broker import MosquittoBroker, Subscriber

pytestmark = pytest.mark.slow

DEV, ADDR = "70b3d57ed0000c02", "26011c02"


def logged_counters(cfg):
    """The newest FCnt the registry file holds for DEV: folded, or in the counter log."""
    from gateway.registry import Registry

    reg = Registry(sqlite3.connect(cfg.data_dir / REGISTRY_FILE, isolation_level=None), cfg.data_dir)  # folds
    try:
        return reg.session(DEV).fcnt_up_next
    finally:
        reg._db.close()


def relative_uplink(fcnt, seq):
    now = int(time.time())
    data = payload.encode([{"seq": seq, "t": now - 30, "pm2_5": 7.5}], {"seq": seq, "t": now})
    assert payload.is_relative(data)
    return lorawan.build_data_frame(nwkskey=NWK, appskey=APP, dev_addr=H(ADDR), fcnt32=fcnt, uplink=True,
                                    confirmed=False, fport=1, payload=data)  # fmt: skip


@pytest.fixture
def setup(tmp_path):
    broker = MosquittoBroker(tmp_path).start()
    sub = Subscriber(broker, "edge/+/up")
    cfg = make_config(tmp_path, mqtt={"url": broker.url}, ingest={"counter_deadline_s": 30.0},
                      backfill={"enabled": False})  # fmt: skip
    add_abp(cfg, DEV, ADDR)
    a = AgentThread(cfg)
    f = Forwarder(a.address)
    yield cfg, a, f, sub
    f.close()
    a.stop()
    sub.close()
    broker.stop()


def test_a_relative_frame_reaches_the_broker_only_after_its_counter_is_on_disk(setup):
    cfg, a, f, sub = setup
    f.push([rxpk(relative_uplink(7, 100))])
    assert wait(lambda: len(dedup(sub.messages)) == 1, 10)
    assert logged_counters(cfg) == 8  # on disk before the platform saw the reading: a replay is refused


def test_an_absolute_frame_still_leaves_at_once(setup):
    cfg, a, f, sub = setup
    f.push([rxpk(uplink(ADDR, 7, {"seq": 100, "t": int(time.time()) - 30, "pm2_5": 7.5}))])
    assert wait(lambda: len(dedup(sub.messages)) == 1, 10)
    # the broker can take a live reading before its commit, which is when it is counted
    assert wait(lambda: a.metrics.get("received_uplinks") == 1, 10)
    assert logged_counters(cfg) == 0  # its counter waits for counter_deadline_s: a replay repeats its times
