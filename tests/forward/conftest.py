"""Helpers for the forwarder tests: configs, a running forwarder, and the platform's de-duplication."""

import time
import zlib

import pytest

from gateway import config
from gateway.forward import senml
from gateway.forward.forwarder import Forwarder
from gateway.forward.settings import from_config


def make_settings(broker, **mqtt):
    raw = {"gateway": {"id": "gw1"}, "mqtt": {"url": broker.url, "reconnect_min_s": 0.05, "reconnect_max_s": 0.5}}
    raw["mqtt"].update(mqtt)
    raw["buffer"] = {"delete_interval_s": 0.2}
    return from_config(config.from_dict(raw))


def dedup(messages):
    """What the platform keeps: {(resolved name, time): value} over every /up message."""
    out = {}
    for topic, payload, _ in messages:
        if topic.endswith("/up/deflate"):
            topic, payload = topic[: -len("/deflate")], zlib.decompress(payload)
        if topic.endswith("/up"):
            for name, t, v, unit in senml.resolve(payload):
                out[(name, t)] = senml.from_published(name.rsplit(":", 1)[1], v, unit)
    return out


def expected(readings):
    """The same keys for readings as stored: [(dev_eui, seq, t, values)]."""
    out = {}
    for dev, _, t, values in readings:
        for q, v in values.items():
            out[(senml.base_name(dev) + q, t)] = v
    return out


def wait(predicate, timeout=20.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return predicate()


@pytest.fixture
def running():
    started = []

    def start(buf, settings, **kw):
        f = Forwarder(buf, settings, **kw)
        f.start()
        started.append(f)
        return f

    yield start
    for f in started:
        f.stop()
