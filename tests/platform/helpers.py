"""Shared pieces of the platform tests: a config, a service in a thread, a publisher of packs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import paho.mqtt.client as mqtt

from central import config
from central.service import Service
from gateway.forward import senml
from tests.mqtt_broker import MosquittoBroker

T0 = 1763800000


def make_config(broker: MosquittoBroker, dsn: str, receive_maximum: int = 64, **ingest: object) -> config.Config:
    return config.from_dict(
        {
            "database": {"dsn": dsn},
            "mqtt": {"url": broker.url, "client_id": "platform-test", "receive_maximum": receive_maximum},
            "ingest": {"batch_wait_s": 0.05, "retry_min_s": 0.05, "retry_max_s": 0.2, **ingest},
            "checks": {"interval_s": 0.0},
        }
    )


class Running:
    """A Service in a thread, subscribed before the constructor returns."""

    def __init__(self, cfg: config.Config, client_id: str | None = None) -> None:
        self.service = Service(cfg, client_id=client_id)
        self.thread = threading.Thread(target=self.service.run, daemon=True)
        self.thread.start()
        if not self.service.subscribed.wait(10):
            self.stop()
            raise RuntimeError("the service did not subscribe")

    def stop(self) -> None:
        self.service.stop()
        self.thread.join(10)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Publisher:
    def __init__(self, broker: MosquittoBroker) -> None:
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, retain: bool = False) -> None:
        self.client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(10)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def readings(n: int, t0: int = T0, step: int = 60) -> list[senml.Reading]:
    return [(i, t0 + step * i, {"pm2_5": (i % 500) / 10, "temperature": 20 + (i % 100) / 100}) for i in range(n)]


def pack(eui: str, rs: list[senml.Reading]) -> bytes:
    return senml.reference_pack([(eui, rs)])


def wait_until(pred: Callable[[], bool], timeout: float = 20.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()
