"""The ingest service against a real Mosquitto and a real PostgreSQL database."""

from __future__ import annotations

import dataclasses
import json
import time
import zlib

import cbor2
import pytest

from tests.mqtt_broker import MosquittoBroker, Subscriber
from tests.platform import pgdb
from tests.platform.helpers import T0, Publisher, Running, make_config, pack, readings, wait_until

pytestmark = pytest.mark.slow
EUI = "70b3d57ed0000001"
EUI2 = "70b3d57ed0000002"


@pytest.fixture
def env(tmp_path):
    with pgdb.database() as dsn, MosquittoBroker(tmp_path) as broker:
        pub = Publisher(broker)
        yield broker, dsn, pub
        pub.close()


def count(dsn: str, table: str = "observations") -> int:
    return pgdb.rows(dsn, "SELECT count(*) FROM %s" % table)[0][0]


def test_plain_and_deflated_packs_store_every_value_once(env):
    broker, dsn, pub = env
    with Running(make_config(broker, dsn)) as run:
        p1 = pack(EUI, readings(50))
        pub.publish("edge/lamp-1/up", p1)
        pub.publish("edge/lamp-1/up", p1)  # delivered twice: stored once
        pub.publish("edge/lamp-2/up/deflate", zlib.compress(pack(EUI2, readings(30))))
        assert wait_until(lambda: count(dsn) == 160)
        pub.publish("edge/lamp-2/up/deflate", zlib.compress(p1))  # the same values heard by a second gateway
        assert wait_until(lambda: run.service.counts["acked"] == 4)
        assert run.service.counts["values_received"] == 4 * 100 - 40 and run.service.counts["values_stored"] == 160
    rows = pgdb.rows(
        dsn, "SELECT dev_eui, quantity, extract(epoch FROM t)::bigint, value, gateway_id FROM observations"
    )
    assert len(rows) == len({r[:3] for r in rows}) == 160
    got = {(r[0], r[1], r[2]): r[3] for r in rows}
    assert got[(EUI, "pm2_5", T0 + 60 * 7)] == 0.7
    assert got[(EUI2, "temperature", T0 + 60 * 3)] == 20.03
    assert {r[4] for r in rows if r[0] == EUI} == {"lamp-1"}  # the first to deliver stored them
    dev = pgdb.rows(dsn, "SELECT dev_eui, gateway_id, extract(epoch FROM last_t)::bigint FROM devices ORDER BY 1")
    assert dev == [(EUI, "lamp-2", T0 + 60 * 49), (EUI2, "lamp-2", T0 + 60 * 29)]  # gateway of the last data
    assert [r[0] for r in pgdb.rows(dsn, "SELECT gateway_id FROM gateways ORDER BY 1")] == ["lamp-1", "lamp-2"]


def test_bad_messages_become_dead_letters_and_are_acknowledged(env, tmp_path):
    broker, dsn, pub = env
    cfg = make_config(broker, dsn)
    bad = {
        "edge/lamp-1/up": b"\x9f\x01",  # indefinite array, never closed
        "edge/lamp-2/up": cbor2.dumps([{-1: 99, -2: "urn:dev:eui:%s:pm2_5" % EUI, -3: T0, 2: 1}]),
        "edge/lamp-3/up": cbor2.dumps([{-2: "sensor-7:pm2_5", -3: T0, 2: 1}]),
        "edge/lamp-4/up": cbor2.dumps([{-2: "urn:dev:eui:%s:pm2_5" % EUI, -4: "ug/m3", -3: T0, 2: "high"}]),
        "edge/lamp-5/up/deflate": b"\x78\x9c broken",
    }
    with Running(cfg) as run:
        for topic, payload in bad.items():
            pub.publish(topic, payload)
        pub.publish("edge/lamp-1/up", pack(EUI, readings(3)))  # good data after bad is still stored
        assert wait_until(lambda: count(dsn) == 6 and count(dsn, "dead_letters") == 5)
        counts = dict(run.service.counts)
    got = pgdb.rows(dsn, "SELECT topic, reason, payload FROM dead_letters ORDER BY topic")
    assert [(t, r) for t, r, _ in got] == [
        ("edge/lamp-1/up", "not_cbor"),
        ("edge/lamp-2/up", "bad_bver"),
        ("edge/lamp-3/up", "bad_name"),
        ("edge/lamp-4/up", "bad_value"),
        ("edge/lamp-5/up/deflate", "bad_deflate"),
    ]
    assert {t: bytes(p) for t, _, p in got} == bad  # kept byte for byte
    for reason in ("not_cbor", "bad_bver", "bad_name", "bad_value", "bad_deflate"):
        assert counts["dead_" + reason] == 1
    # acknowledged: a new run of the same session receives none of them again
    with Running(cfg) as run:
        pub.publish("edge/lamp-1/up", pack(EUI, readings(4)))
        assert wait_until(lambda: count(dsn) == 8)
        assert not any(k.startswith("dead_") for k in run.service.counts)


def test_metadata_history_status_metrics_and_gateway_alerts(env):
    broker, dsn, pub = env
    cfg = make_config(broker, dsn)
    meta = {
        "dev_eui": EUI, "gateway_id": "lamp-7", "height_m": 4.5, "installed": "2026-11-20", "latitude": 48.13743,
        "longitude": 11.57549, "photos": ["/tmp/mast.jpg"], "support": "lamp-post",
        "updated_at": "2026-11-22T03:49:25Z", "v": 1,
    }  # fmt: skip
    topic = "edge/lamp-7/devices/%s" % EUI
    pub.publish(topic, json.dumps(meta).encode(), retain=True)  # retained before the service starts
    pub.publish("edge/lamp-7/status", b'{"at":1763800000,"state":"online"}', retain=True)
    with Running(cfg):
        assert wait_until(lambda: count(dsn, "device_metadata") == 1 and count(dsn, "gateway_status") == 1)
        moved = dict(meta, height_m=6.0, support="mast", updated_at="2026-11-23T08:00:00Z")
        pub.publish(topic, json.dumps(moved).encode(), retain=True)
        assert wait_until(lambda: count(dsn, "device_metadata") == 2)
        pub.publish(topic, b"", retain=True)  # removed from the gateway
        assert wait_until(lambda: count(dsn, "device_metadata") == 3)
        pub.publish(topic, json.dumps(moved).encode(), retain=True)  # installed again
        pub.publish("edge/lamp-7/metrics", b'{"at":1763800100,"backlog_readings":5,"connected":true}')
        pub.publish("edge/lamp-7/metrics", b'{"at":1763800100,"backlog_readings":5,"connected":true}')
        alert = {"alert": "stuck_value", "state": "raised", "at": 1763800200, "device": EUI, "quantity": "pm2_5",
                 "value": 3.0, "t": 1763800150, "message": "stuck"}  # fmt: skip
        pub.publish("edge/lamp-7/alerts", json.dumps(alert).encode())
        pub.publish("edge/lamp-7/alerts", json.dumps(alert).encode())
        pub.publish("edge/lamp-7/alerts", b"[1,2]")  # not an alert object
        assert wait_until(lambda: count(dsn, "device_metadata") == 4 and count(dsn, "gateway_alerts") == 1)
        assert wait_until(lambda: count(dsn, "dead_letters") == 1)
    # a restart receives the retained messages again: no new history rows
    with Running(cfg):
        pub.publish("edge/lamp-7/up", pack(EUI, readings(1)))
        assert wait_until(lambda: count(dsn) == 2)
    hist = pgdb.rows(dsn, "SELECT removed, height_m, support FROM device_metadata ORDER BY id")
    assert hist == [(False, 4.5, "lamp-post"), (False, 6.0, "mast"), (True, None, None), (False, 6.0, "mast")]
    dev = pgdb.rows(dsn, "SELECT gateway_id, height_m, support, installed::text, photos, removed FROM devices")
    assert dev == [("lamp-7", 6.0, "mast", "2026-11-20", ["/tmp/mast.jpg"], False)]
    assert pgdb.rows(dsn, "SELECT state, extract(epoch FROM at)::bigint FROM gateway_status") == [
        ("online", 1763800000)
    ]
    assert count(dsn, "gateway_metrics") == 1
    assert pgdb.rows(dsn, "SELECT reason FROM dead_letters") == [("bad_alerts",)]


def test_a_message_the_database_refuses_is_kept_and_the_rest_of_its_batch_stored(env):
    broker, dsn, pub = env
    with Running(make_config(broker, dsn, batch_wait_s=0.5)) as run:
        run.service.client.loop_stop()  # hold delivery so that both messages land in one batch
        pub.publish("edge/lamp-1/up", pack(EUI, readings(5)))
        nul = b'{"at":1763800000,"reason":"a\\u0000b","state":"offline"}'  # text columns refuse NUL
        pub.publish("edge/lamp-1/status", nul)
        run.service.client.loop_start()
        assert wait_until(lambda: count(dsn) == 10 and count(dsn, "dead_letters") == 1)
        assert run.service.counts["dead_db_refused"] == 1
    assert pgdb.rows(dsn, "SELECT topic, reason, payload FROM dead_letters") == [
        ("edge/lamp-1/status", "db_refused", nul)
    ]


def test_checks_publish_their_alerts_and_the_ingest_ignores_them(env):
    broker, dsn, pub = env
    watcher = Subscriber(broker, "edge/platform/alerts")
    cfg = make_config(broker, dsn)
    cfg = dataclasses.replace(cfg, checks=dataclasses.replace(cfg.checks, interval_s=0.2))
    with Running(cfg):
        pub.publish("edge/lamp-1/up", pack(EUI, readings(20)))  # measured in 2025: silent by the wall clock
        assert watcher.wait_for(lambda ms: len(ms) >= 1)
        time.sleep(0.5)  # further check rounds: nothing new to say
    watcher.close()
    msgs = [json.loads(p) for _, p, _ in watcher.snapshot()]
    assert [(m["alert"], m["state"], m["device"]) for m in msgs] == [("device_silent", "raised", EUI)]
    assert pgdb.rows(dsn, "SELECT alert, dev_eui, cleared_at FROM platform_alerts") == [("device_silent", EUI, None)]
    assert count(dsn, "gateway_alerts") == 0 and count(dsn, "dead_letters") == 0  # our own topic is not ingested
