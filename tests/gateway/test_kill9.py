"""kill -9 of the agent process while the load generator runs loses no uplink counted as received.

Three rounds, each about a second of load at ~4,000 uplinks/s and a SIGKILL at a random moment.
"Counted as received" is what the agent itself reported (received_uplinks in its metrics file,
written only after the buffer commit returned); after each kill the buffer must hold at least that
many distinct uplinks, each one a frame the generator really sent, and every stored frame must be
refused as a replay when the forwarder sends it again to the restarted agent.
"""

import json
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

from bench import pf_loadgen as lg
from gateway import config
from gateway.agent import BUFFER_FILE
from gateway.metrics import METRICS_FILE
from gateway.store.buffer import ReadingBuffer

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def start(cfg_path):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "hostshims")]))
    return subprocess.Popen([sys.executable, "-m", "cli.main", "gateway", "run", "--config", str(cfg_path)],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip


def wait_ready(port, timeout=20):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            s.sendto(b"\x02\x00\x01\x02" + bytes.fromhex(lg.GATEWAY_EUI), ("127.0.0.1", port))
            try:
                if s.recv(16)[3] == 4:
                    return
            except TimeoutError:
                pass
    raise AssertionError("agent did not start")


def reported(data_dir):
    try:
        return json.loads((data_dir / METRICS_FILE).read_text())["counters"]
    except (FileNotFoundError, ValueError, KeyError):
        return {}


def stored_frames(data_dir):
    buf = ReadingBuffer(data_dir / BUFFER_FILE)
    try:
        claim = buf.claim(10**7)
        return [] if claim is None else [buf.uplink_of(r.id) for r in claim.rows]
    finally:
        buf.close()


def test_kill9_under_load_loses_nothing_counted(tmp_path):
    port = free_port()
    cfg_path = tmp_path / "gateway.toml"
    cfg_path.write_text(config.render({"gateway": {"id": "k9"}, "udp": {"bind": "127.0.0.1:%d" % port},
                                       "storage": {"data_dir": "data", "metrics_interval_s": 0.5}}))  # fmt: skip
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o700)
    devices = lg.make_devices(200)
    lg.register(data_dir, devices)
    phys = lg.frames(devices, 200)  # 40,000 unique frames, 10 s at 500 datagrams/s: each round sends until its kill
    sent_phys = set(phys)
    datagrams = lg.datagrams(phys, 8)
    rng = random.Random(9)
    pos = 0
    for _round in range(3):
        agent = start(cfg_path)
        try:
            wait_ready(port)
            sender = lg.Sender(("127.0.0.1", port))
            chunk = datagrams[pos:]
            t = threading.Thread(target=sender.send, args=(chunk, 500))  # 500 datagrams/s = 4,000 uplinks/s
            before = reported(data_dir).get("received_uplinks", 0)
            t.start()
            end = time.monotonic() + 8  # a loaded machine starts the agent slowly
            while reported(data_dir).get("received_uplinks", 0) <= before and time.monotonic() < end:
                time.sleep(0.01)  # the agent has reported some of this round's uplinks
            time.sleep(rng.uniform(0.0, 0.3))
            counted = reported(data_dir).get("received_uplinks", 0)
            assert t.is_alive(), "the load should still be running when the agent is killed"
            agent.send_signal(signal.SIGKILL)
            agent.wait(10)
            counted = max(counted, reported(data_dir).get("received_uplinks", 0))
            sender.stop.set()
            t.join()
            sender.close()
            pos += sender.sent
        finally:
            if agent.poll() is None:
                agent.kill()
                agent.wait()
        frames = stored_frames(data_dir)
        keys = {(u.dev_eui, u.fcnt) for u in frames}
        assert len(keys) == len(frames), "an uplink was stored twice"
        assert all(u.phy in sent_phys for u in frames)
        assert len(frames) >= counted > before, (len(frames), counted, before)

    # Restarted, the agent refuses every stored frame as a replay: counters were durable first.
    stored = [u.phy for u in stored_frames(data_dir)][:400]  # read first: the agent holds its buffer exclusively
    agent = start(cfg_path)
    try:
        wait_ready(port)
        before = reported(data_dir)
        sender = lg.Sender(("127.0.0.1", port))
        sender.send(lg.datagrams(stored, 8), 0)
        sender.close()
        end = time.monotonic() + 10
        while time.monotonic() < end:
            now = reported(data_dir)
            if now.get("replays", 0) - before.get("replays", 0) >= len(stored):
                break
            time.sleep(0.05)
        assert now.get("replays", 0) - before.get("replays", 0) == len(stored)
        assert now.get("received_uplinks", 0) == before.get("received_uplinks", 0)
    finally:
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(20) == 0
