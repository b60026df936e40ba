"""Installation metadata on the broker: one retained JSON message per device on
``{root}/{gateway_id}/devices/{dev_eui}`` (see docs/commissioning.md). `payload()` builds the
message, `sync()` publishes what changed and clears the topics of devices no longer registered,
`Publisher` is the one MQTT connection that does it, waiting for each PUBACK.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from gateway.inventory.store import META_FIELDS, Entry, Inventory, check_dev_eui

PAYLOAD_VERSION = 1


def topic_leaf(dev_eui: str) -> str:
    """The topic below {root}/{gateway_id}/ that carries a device's metadata."""
    return "devices/%s" % check_dev_eui(dev_eui)


def payload(gateway_id: str, dev_eui: str, meta: dict[str, Any]) -> bytes:
    """The retained JSON message of a device's metadata: deterministic (sorted keys, no spaces),
    so equal metadata gives equal bytes and an unchanged device is not published again."""
    doc: dict[str, Any] = {k: meta[k] for k in META_FIELDS}
    doc.update(
        v=PAYLOAD_VERSION,
        dev_eui=check_dev_eui(dev_eui),
        gateway_id=gateway_id,
        updated_at=Entry(meta["updated_at"], "", "", None, None).when,
    )
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


class PublishError(Exception):
    """The broker did not take a message; the message says why."""


@dataclass(frozen=True)
class SyncReport:
    published: list[str]
    cleared: list[str]


def sync(
    inv: Inventory,
    registered: Iterable[str],
    gateway_id: str,
    publish: Callable[[str, bytes], None],
    author: str,
) -> SyncReport:
    """Bring the broker's retained messages in line with the inventory: publish the metadata that
    changed since the broker last confirmed it, and clear (empty retained message) the topic of a
    device that has metadata but is no longer registered, then drop its metadata (the history
    stays). `publish(topic_leaf, payload)` raises PublishError when the broker refuses."""
    known = {check_dev_eui(e) for e in registered}
    published, cleared = [], []
    for eui in inv.dev_euis():
        if eui not in known:
            publish(topic_leaf(eui), b"")
            inv.forget(eui, author)
            cleared.append(eui)
            continue
        meta = inv.get(eui)
        if meta is None:  # forgotten meanwhile by another command
            continue
        body = payload(gateway_id, eui, meta)
        digest = hashlib.sha256(body).hexdigest()
        if digest == inv.published_hash(eui):
            continue
        publish(topic_leaf(eui), body)
        inv.mark_published(eui, digest)
        published.append(eui)
    return SyncReport(published, cleared)


class Publisher:
    """One MQTT connection with the agent's settings (TLS, credentials) that publishes retained
    messages and waits for each one's PUBACK (or PUBCOMP), checking its reason code."""

    def __init__(self, settings: Any, timeout: float) -> None:
        import ssl

        from gateway.forward.client import connect, new_client

        self._timeout = timeout
        self._qos = settings.qos
        self._topic = settings.topic
        self._connack: list[Any] = []
        self._acks: dict[int, Any] = {}
        options = settings.mqtt_options("-inventory")
        where = "%s:%d" % (settings.host, settings.port)
        try:
            c = self._client = new_client(options)
            c.on_connect = lambda cl, u, f, rc, p: self._connack.append(rc)
            c.on_publish = lambda cl, u, mid, rc, p: self._acks.__setitem__(mid, rc)
            connect(c, options)
        except (OSError, ssl.SSLError, ValueError) as e:
            raise PublishError("cannot connect to the broker %s: %s" % (where, e)) from None
        if not self._wait(lambda: bool(self._connack)):
            raise PublishError("no answer from the broker %s within %.0f s" % (where, timeout))
        if getattr(self._connack[0], "is_failure", False):
            raise PublishError("the broker %s refused the connection: %s" % (where, self._connack[0]))

    def _wait(self, done: Any) -> bool:
        end = time.monotonic() + self._timeout
        while not done() and time.monotonic() < end:
            if self._client.loop(timeout=0.05) != 0 and not done():
                return False
        return bool(done())

    def publish(self, leaf: str, body: bytes) -> None:
        topic = self._topic(leaf)
        info = self._client.publish(topic, body, qos=self._qos, retain=True)
        if not self._wait(lambda: info.mid in self._acks):
            raise PublishError("the broker did not confirm %s within %.0f s" % (topic, self._timeout))
        rc = self._acks.pop(info.mid)
        if getattr(rc, "is_failure", False):
            raise PublishError("the broker refused %s: %s (check its ACL)" % (topic, rc))

    def close(self) -> None:
        try:
            self._client.disconnect()
        except Exception:
            pass
