"""Nothing committed is lost: kill -9 of the real agent under load, and a broker outage under load.

The agent runs as its own process (tests/forward/agent_proc.py) with a real UDP socket, real
SQLite files and a real Mosquitto started here; a scripted packet forwarder sends LoRaWAN uplinks
of two ABP devices. After every kill the buffer file is read (the agent is dead, so this is what
was durable): every reading ever seen there must reach the platform; de-duplicated by the SenML
key, what arrives is exactly what was sent and committed.
"""

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gateway import config
from gateway.metrics import METRICS_FILE
from gateway.metrics import read as read_metrics
from gateway.registry import Registry
from gateway.store.buffer import ReadingBuffer
from gateway.udp.push_data import build_push_data
from tests.forward.conftest import dedup, wait
from tests.gateway.harness import APP, NWK, uplink
from tests.gateway.pf import rxpk
from tests.mqtt_broker import MosquittoBroker, Subscriber, free_port

pytestmark = pytest.mark.slow

DEVICES = {"70b3d57ed0000a01": "26011a01", "70b3d57ed0000a02": "26011a02"}
RUNNER = Path(__file__).with_name("agent_proc.py")
T0 = int(time.time()) - 200_000


def sent_values(dev_eui, fcnt):
    t = T0 + fcnt * 10
    return t, {"pm2_5": (fcnt % 1000) / 10, "temperature": 20 + (fcnt % 100) / 100}


def expected_keys(dev_eui, fcnt):
    t, values = sent_values(dev_eui, fcnt)
    return {("urn:dev:mac:%s:%s" % (dev_eui, q), t): v for q, v in values.items()}


def write_config(tmp_path, broker, udp_port):
    raw = {
        "gateway": {"id": "gw1"},
        "udp": {"bind": "127.0.0.1:%d" % udp_port},
        "storage": {"data_dir": str(tmp_path / "data"), "metrics_interval_s": 0.5},
        "ingest": {"commit_deadline_ms": 20},
        "backfill": {"enabled": False},
        "mqtt": {"url": broker.url, "reconnect_min_s": 0.05, "reconnect_max_s": 0.3, "batch_max_readings": 200},
        "buffer": {"delete_interval_s": 0.2},
        "alerts": {"metrics_interval_s": 1.0},
    }
    text = config.render(raw)
    path = tmp_path / "gw.toml"
    path.write_text(text)
    cfg = config.load(path)
    reg = Registry.open(cfg.data_dir)
    for eui, addr in DEVICES.items():
        reg.add_abp(eui, addr, NWK, APP)
    reg.close()
    return path, cfg


class Sender:
    """A packet forwarder sending uplinks of every device in turn, as fast as `rate` allows."""

    def __init__(self, port, rate=300):
        self.port = port
        self.rate = rate
        self.fcnt = {eui: 0 for eui in DEVICES}
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self._stop = threading.Event()
        self._thread = None

    def frame(self, eui):
        n = self.fcnt[eui]
        self.fcnt[eui] = n + 1
        t, values = sent_values(eui, n)
        return rxpk(uplink(DEVICES[eui], n, dict(values, seq=n, t=t)))

    def _run(self):
        while not self._stop.is_set():
            pk = [self.frame(eui) for eui in DEVICES]
            try:
                self.sock.sendto(
                    build_push_data(2, os.urandom(2), "aa555a0000000101", {"rxpk": pk}), ("127.0.0.1", self.port)
                )
            except OSError:
                pass
            try:
                while True:
                    self.sock.recv(100)
            except OSError:
                pass
            time.sleep(len(DEVICES) / self.rate)

    def start(self):
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread:
            self._thread.join()

    def all_sent(self):
        out = {}
        for eui, n in self.fcnt.items():
            for f in range(n):
                out.update(expected_keys(eui, f))
        return out


def start_agent(cfg_path):
    proc = subprocess.Popen([sys.executable, str(RUNNER), str(cfg_path)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line.strip() == "ready", line
    return proc


def on_disk(cfg):
    """Readings in the buffer file, keyed as the platform keys them (read while the agent is dead)."""
    buf = ReadingBuffer(cfg.data_dir / "buffer.sqlite")
    out = {}
    try:
        while (c := buf.claim(100_000)) is not None:
            for row in c.rows:
                for _, t, values in row.readings:
                    for q, v in values.items():
                        out[("urn:dev:mac:%s:%s" % (row.dev_eui, q), t)] = v
    finally:
        buf._db.close()  # no flush, no checkpoint: leave the file as the crash left it
        buf._db = None
    return out


def drain_and_stop(proc, cfg, sub, must_have):
    assert wait(lambda: set(must_have) <= set(dedup(sub.snapshot())), 30), "not everything arrived"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0


def test_kill_9_at_random_moments_loses_nothing_committed(tmp_path):
    rnd = random.Random(1234)
    udp_port = free_port()
    with MosquittoBroker(tmp_path, persistence=True) as broker:
        sub = Subscriber(broker, "edge/gw1/up", persistent_id="platform")
        cfg_path, cfg = write_config(tmp_path, broker, udp_port)
        sender = Sender(udp_port)
        committed = {}
        kills = 0
        start = time.monotonic()
        # at least 22 kills, and on until enough went through to mean something (a loaded machine
        # commits less between kills), within a bounded time
        while kills < 22 or (len(committed) <= 1000 and time.monotonic() - start < 60):
            proc = start_agent(cfg_path)
            sender.start()
            time.sleep(rnd.uniform(0.05, 0.8))
            if rnd.random() < 0.3:  # sometimes kill while the broker is away: then rows pile up
                broker.stop()
                time.sleep(rnd.uniform(0.05, 0.4))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            sender.stop()
            kills += 1
            if not broker.running:
                broker.start()
            committed.update(on_disk(cfg))
        counted = read_metrics(cfg.data_dir / METRICS_FILE).get("counters", {}).get("stored_readings", 0)
        proc = start_agent(cfg_path)
        drain_and_stop(proc, cfg, sub, committed)
        got = dedup(sub.snapshot())
        sent = sender.all_sent()
        assert time.monotonic() - start < 90
        assert kills >= 20 and len(committed) > 1000
        missing = [k for k in committed if k not in got]
        assert not missing, "%d committed values never arrived, e.g. %s" % (len(missing), missing[:3])
        assert set(got) <= set(sent), "values that were never sent arrived"
        assert all(abs(got[k] - sent[k]) < 1e-9 for k in got)
        assert len(got) >= 2 * counted  # two values per reading; the counter is a lower bound
        assert on_disk(cfg) == {}  # and the buffer is empty once confirmed
        sub.close()


def test_broker_outage_under_load_every_reading_arrives(tmp_path):
    udp_port = free_port()
    with MosquittoBroker(tmp_path, persistence=True) as broker:
        sub = Subscriber(broker, "edge/gw1/up", persistent_id="platform")
        cfg_path, cfg = write_config(tmp_path, broker, udp_port)
        proc = start_agent(cfg_path)
        sender = Sender(udp_port, rate=400)
        sender.start()
        time.sleep(1.0)
        broker.stop()  # the backhaul goes down under load
        time.sleep(3.0)
        broker.start()
        time.sleep(1.0)
        sender.stop()
        sent = sender.all_sent()

        # every uplink the agent received is stored and forwarded: wait for all it counted
        def counted():
            return read_metrics(cfg.data_dir / METRICS_FILE).get("counters", {}).get("stored_readings", 0)

        def settled():  # the sender stopped: the count stops once the last uplinks are committed
            before = counted()
            time.sleep(1.5)  # metrics.json is rewritten at most every 0.5 s
            return counted() == before

        assert wait(settled, 30)
        n_counted = counted()
        assert wait(lambda: len(dedup(sub.snapshot())) >= 2 * n_counted > 0, 30)
        drain_and_stop(proc, cfg, sub, {})
        got = dedup(sub.snapshot())
        assert counted() == n_counted, "nothing was counted after the count settled"
        assert len(got) == 2 * n_counted, "every counted reading arrives once after de-duplication"
        assert set(got) <= set(sent)
        assert len(got) > 0.9 * len(sent)  # the agent kept receiving through the outage
        ups = [m for m in sub.snapshot() if m[0].endswith("/up")]
        raw_values = sum(len(__import__("gateway.forward.senml", fromlist=["x"]).resolve(p)) for _, p, _ in ups)
        assert raw_values >= len(got)  # duplicates allowed only as extra copies of the same keys
        sub.close()


def test_agent_with_a_garbage_buffer_file_reports_it_and_keeps_serving(tmp_path):
    udp_port = free_port()
    with MosquittoBroker(tmp_path) as broker:
        sub = Subscriber(broker, "edge/gw1/up")
        cfg_path, cfg = write_config(tmp_path, broker, udp_port)
        (cfg.data_dir / "buffer.sqlite").write_bytes(b"\x00garbage, not SQLite" * 500)
        proc = subprocess.Popen([sys.executable, str(RUNNER), str(cfg_path)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)  # fmt: skip
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        sender = Sender(udp_port, rate=100)
        sender.start()
        time.sleep(1.0)
        sender.stop()
        assert wait(lambda: len(dedup(sub.snapshot())) > 50, 15), "nothing forwarded after the corrupt file"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0
        assert "buffer was corrupt" in err and ".corrupt-" in err  # reported, with where the file went
        assert list(cfg.data_dir.glob("buffer.sqlite.corrupt-*"))
        sub.close()
