"""The forwarder against a real Mosquitto: PUBACK-confirmed deletion, refusals, MQTT 3.1.1, TLS and auth."""

import os
import signal
import time
import zlib

import pytest

from gateway.forward.settings import SettingsError
from gateway.store.buffer import ReadingBuffer
from gateway.store.records import Reading
from tests.forward.conftest import dedup, expected, make_settings, wait
from tests.mqtt_broker import MosquittoBroker, Subscriber

DEV = "70b3d57ed00000%02x"


def fill(buf, n, devices=3, t0=1763800000):
    rs = [Reading(DEV % (i % devices), i, t0 + 60 * i, {"pm2_5": (i % 900) / 10, "laeq": 55.5}) for i in range(n)]
    for k in range(0, n, 500):
        buf.commit_local(rs[k : k + 500])
    return [(r.dev_eui, r.seq, r.t, r.values) for r in rs]


def test_every_reading_arrives_once_and_is_deleted_after_its_puback(tmp_path, running):
    with MosquittoBroker(tmp_path) as broker:
        sub = Subscriber(broker, "edge/gw1/up")
        buf = ReadingBuffer(tmp_path / "b.db")
        stored = fill(buf, 5000)
        f = running(buf, make_settings(broker, batch_max_readings=400))
        assert wait(lambda: f.stats.forwarded_readings == 5000)
        assert wait(lambda: buf.acked_unflushed == 0)
        assert wait(lambda: dedup(sub.snapshot()) == expected(stored), 5)
        ups = [m for m in sub.snapshot() if m[0].endswith("/up")]
        assert sum(len(p) for _, p, _ in ups) == f.stats.payload_bytes
        assert buf.stats().pending_readings == 0
        assert buf._conn().execute("SELECT count(*) FROM reading").fetchone()[0] == 0
        props = ups[0][2].properties
        assert props.ContentType == "application/senml+cbor"
        assert dict(props.UserProperty)["batch"].endswith(".1")
        sub.close()


def test_deflate_compression_goes_to_its_own_topic_and_shrinks_the_backlog(tmp_path, running):
    with MosquittoBroker(tmp_path) as broker:
        sub = Subscriber(broker, "edge/gw1/up/#")
        buf = ReadingBuffer(tmp_path / "b.db")
        stored = fill(buf, 3000)
        f = running(buf, make_settings(broker, batch_max_readings=1000, compression="deflate"))
        assert wait(lambda: f.stats.forwarded_readings == 3000)
        assert wait(lambda: dedup(sub.snapshot()) == expected(stored), 5)
        msgs = sub.snapshot()
        assert msgs and {m[0] for m in msgs} == {"edge/gw1/up/deflate"}  # never on /up
        assert dict(msgs[0][2].properties.UserProperty)["content-encoding"] == "deflate"
        plain = sum(len(zlib.decompress(p)) for _, p, _ in msgs)
        assert f.stats.payload_bytes == sum(len(p) for _, p, _ in msgs) < plain / 2
        sub.close()


def test_live_readings_overtake_the_backlog(tmp_path, running):
    with MosquittoBroker(tmp_path) as broker:
        sub = Subscriber(broker, "edge/gw1/up")
        buf = ReadingBuffer(tmp_path / "b.db")
        fill(buf, 20000, devices=1)
        f = running(buf, make_settings(broker, batch_max_readings=200, max_inflight=1, rate_readings_per_s=2000))
        assert wait(lambda: f.stats.forwarded_readings >= 400)
        live = Reading("70b3d57ed00000ff", 1, 1763900000, {"temperature": 19.5})
        buf.commit_local([live])
        key = ("urn:dev:mac:70b3d57ed00000ff:temperature", 1763900000)
        assert wait(lambda: key in dedup(sub.snapshot()), 5)
        assert f.stats.forwarded_readings < 20000 - 2000  # long before the backlog is through
        sub.close()


def test_a_refused_puback_keeps_the_readings_until_the_broker_accepts(tmp_path, running):
    acl = tmp_path / "acl"
    acl.write_text("user gw\ntopic write edge/gw1/status\n")
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    pw.chmod(0o600)
    with MosquittoBroker(tmp_path, users={"gw": "s3cret", "sub": "x"}, extra_conf="acl_file %s\n" % acl) as broker:
        acl.write_text("user gw\ntopic write edge/gw1/status\nuser sub\ntopic read edge/#\n")
        os.kill(broker.pid, signal.SIGHUP)
        time.sleep(0.3)
        sub = Subscriber(broker, "edge/gw1/up", username="sub", password="x")
        buf = ReadingBuffer(tmp_path / "b.db")
        stored = fill(buf, 300)
        settings = make_settings(broker, username="gw", password_file=str(pw), retry_after_failure_s=0.2)
        f = running(buf, settings)
        assert wait(lambda: f.stats.failed_publishes.get("Not authorized", 0) >= 2)
        assert f.stats.forwarded_readings == 0
        assert buf.stats().pending_readings == 300  # paho called it published; we did not delete
        acl.write_text("user gw\ntopic write edge/gw1/#\nuser sub\ntopic read edge/#\n")
        os.kill(broker.pid, signal.SIGHUP)
        assert wait(lambda: f.stats.forwarded_readings == 300)
        assert wait(lambda: dedup(sub.snapshot()) == expected(stored), 5)
        sub.close()


def test_mqtt_311_payload_and_topic_alone_suffice(tmp_path, running):
    with MosquittoBroker(tmp_path) as broker:
        sub = Subscriber(broker, "edge/gw1/up")
        buf = ReadingBuffer(tmp_path / "b.db")
        stored = fill(buf, 1000)
        f = running(buf, make_settings(broker, version="3.1.1"))
        assert wait(lambda: f.stats.forwarded_readings == 1000)
        assert wait(lambda: dedup(sub.snapshot()) == expected(stored), 5)
        sub.close()


def test_tls_with_client_certificate_and_password(tmp_path, running):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    pw.chmod(0o600)
    with MosquittoBroker(tmp_path, tls=True, users={"gw": "s3cret"}) as broker:
        buf = ReadingBuffer(tmp_path / "b.db")
        fill(buf, 100)
        t = broker.tls
        s = make_settings(
            broker, ca_file=t.ca_cert, cert_file=t.client_cert, key_file=t.client_key, username="gw",
            password_file=str(pw),
        )  # fmt: skip
        assert s.tls and "s3cret" not in repr(s)
        f = running(buf, s)
        assert wait(lambda: f.stats.forwarded_readings == 100)


def test_a_wrong_password_is_reported_and_nothing_is_deleted(tmp_path, running):
    pw = tmp_path / "pw"
    pw.write_text("wrong\n")
    pw.chmod(0o600)
    with MosquittoBroker(tmp_path, users={"gw": "s3cret"}) as broker:
        buf = ReadingBuffer(tmp_path / "b.db")
        fill(buf, 10)
        f = running(buf, make_settings(broker, username="gw", password_file=str(pw)))
        assert wait(lambda: f.stats.connect_failures["refused"] >= 2)
        assert buf.stats().pending_readings == 10 and f.stats.forwarded_readings == 0


def test_secret_files_must_be_private(tmp_path):
    pw = tmp_path / "pw"
    pw.write_text("s3cret\n")
    pw.chmod(0o644)
    broker = MosquittoBroker(tmp_path)
    with pytest.raises(SettingsError, match="chmod 600"):
        make_settings(broker, username="gw", password_file=str(pw))


def test_window_stays_within_the_brokers_receive_maximum(tmp_path, running):
    with MosquittoBroker(tmp_path, max_inflight=2) as broker:
        buf = ReadingBuffer(tmp_path / "b.db")
        fill(buf, 3000)
        f = running(buf, make_settings(broker, batch_max_readings=100, max_inflight=16))
        peak = 0
        end = time.monotonic() + 20
        while f.stats.forwarded_readings < 3000 and time.monotonic() < end:
            peak = max(peak, f.stats.inflight_batches)
            time.sleep(0.0005)
        assert f.stats.receive_maximum == 2
        assert f.stats.forwarded_readings == 3000 and 1 <= peak <= 2


def test_bytes_per_day_budget_stops_sending_and_keeps_the_rest(tmp_path, running):
    with MosquittoBroker(tmp_path) as broker:
        buf = ReadingBuffer(tmp_path / "b.db")
        fill(buf, 2000)
        f = running(buf, make_settings(broker, batch_max_readings=100, bytes_per_day=5000))
        assert wait(lambda: f.stats.acked_batches >= 1)
        time.sleep(0.5)
        assert 5000 <= f.stats.payload_bytes < 5000 + 4096  # stops once the day's budget is spent
        assert buf.stats().pending_readings == 2000 - f.stats.forwarded_readings > 0


def test_reconnect_delay_grows_to_its_cap_with_jitter(tmp_path):
    from gateway.forward.forwarder import Forwarder

    broker = MosquittoBroker(tmp_path)  # never started: every attempt fails
    f = Forwarder(ReadingBuffer(tmp_path / "b.db"), make_settings(broker, reconnect_min_s=1.0, reconnect_max_s=8.0))
    delays = []
    for _ in range(200):
        before = time.monotonic()
        f._backoff()
        delays.append(f._next_connect - before)
    assert all(1.0 <= d <= 8.01 for d in delays)
    assert max(delays[:1]) <= 1.01  # first retry soon
    late = delays[10:]
    assert max(late) > 7 and min(late) < 3  # capped, and spread: no thundering herd after an outage
