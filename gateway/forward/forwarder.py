"""The MQTT forwarder: drains the reading buffer to the broker as SenML-CBOR batches, QoS 1.

One thread owns the paho client and drives it with ``loop()``, so paho's callbacks run in this
thread and nothing else touches the client. Per turn: keep the connection (capped exponential
back-off with full jitter), fill the in-flight window (min of [mqtt] max_inflight and the broker's
Receive Maximum) with batches claimed from the buffer (live readings first), apply the rate and
the bytes-per-day budget, and delete acknowledged rows in one transaction every
[buffer] delete_interval_s.

A batch's rows are acknowledged to the buffer only when its PUBACK arrives with a success reason
code (< 0x80). paho reports a refused PUBACK through on_publish like a success, so the reason code
is checked: a refused batch goes back to pending and is retried after retry_after_failure_s.
When the connection drops, paho keeps the unacknowledged messages and sends them again after the
reconnect (DUP set); their rows stay in flight meanwhile. Duplicates are possible only for those.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import time
import zlib
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from gateway.forward import senml
from gateway.forward.client import connect, new_client
from gateway.forward.settings import ForwarderSettings
from gateway.service import ThreadService
from gateway.store.buffer import Claim, ReadingBuffer
from gateway.store.errors import StoreError

log = logging.getLogger("edge.gateway.forward")

STATUS_WILL = b'{"state":"offline"}'  # the last will: the broker publishes it if we vanish
DEFLATE_LEVEL = 6  # zlib's default: level 9 saved only 0.6-1.1 % more on 1,000-reading packs


def status_payload(state: str, reason: str | None = None) -> bytes:
    doc: dict[str, object] = {"state": state, "at": int(time.time())}
    if reason:
        doc["reason"] = reason
    return json.dumps(doc, separators=(",", ":"), sort_keys=True).encode()


@dataclass
class Batch:
    mid: int
    seq: int
    ids: list[int]
    readings: int
    values: int
    nbytes: int
    sent_at: float


@dataclass
class ForwarderStats:
    connected: bool = False
    connected_since: float | None = None
    disconnected_since: float | None = None  # wall clock, None while connected
    connects: int = 0
    connect_failures: Counter[str] = field(default_factory=Counter)
    published_batches: int = 0
    acked_batches: int = 0
    failed_publishes: Counter[str] = field(default_factory=Counter)  # by reason code name
    forwarded_readings: int = 0
    forwarded_values: int = 0
    payload_bytes: int = 0
    inflight_batches: int = 0
    inflight_readings: int = 0
    receive_maximum: int | None = None
    store_errors: Counter[str] = field(default_factory=Counter)
    recent_acks: deque[tuple[float, int]] = field(default_factory=lambda: deque(maxlen=256))

    def drain_rate(self, now: float, window: float = 60.0) -> float:
        """Readings acknowledged per second over the last `window` seconds."""
        pts = [(t, n) for t, n in self.recent_acks if now - t <= window]
        if not pts:
            return 0.0
        span = max(now - pts[0][0], 1.0)
        return sum(n for _, n in pts) / span


class Forwarder(ThreadService):
    def __init__(
        self,
        buffer: ReadingBuffer,
        settings: ForwarderSettings,
        *,
        on_forwarded: Callable[[int], None] | None = None,
        on_connect: Callable[[Forwarder], None] | None = None,
    ) -> None:
        super().__init__("forwarder")
        self.buffer = buffer
        self.s = settings
        self.stats = ForwarderStats()
        self._on_forwarded = on_forwarded
        self._on_connect_hook = on_connect
        self._inflight: dict[int, Batch] = {}
        self._seq = 0
        self._boot = str(int(time.time()))
        self._window = settings.max_inflight
        self._attempt = 0
        self._next_connect = 0.0
        self._connecting = False
        self._paused_until = 0.0  # after a refused batch or a store error
        self._last_flush = time.monotonic()
        self._tokens = 0.0
        self._tokens_at = time.monotonic()
        self._day = -1
        self._day_bytes = 0
        self._side: deque[tuple[str, bytes, bool, int]] = deque(maxlen=1000)  # status/metrics/alerts
        self._encoder = senml.PackEncoder()
        self._options = settings.mqtt_options(keep_session=True)
        self.client = self._make_client()

    # -- client -----------------------------------------------------------------------------------
    def _make_client(self) -> mqtt.Client:
        c = new_client(self._options)
        c.will_set(self.s.topic("status"), STATUS_WILL, qos=1, retain=True)
        c.max_inflight_messages_set(self.s.max_inflight)
        c.max_queued_messages_set(0)
        c.on_connect = self._on_connect
        c.on_disconnect = self._on_disconnect
        c.on_publish = self._on_publish
        c.on_connect_fail = self._on_connect_fail
        return c

    def _connect(self) -> None:
        self._connecting = True
        try:
            connect(self.client, self._options)
        except (OSError, ssl.SSLError, ValueError) as e:
            self._connecting = False
            self._failed_connect(type(e).__name__, str(e))

    def _failed_connect(self, kind: str, detail: str) -> None:
        self.stats.connect_failures[kind] += 1
        delay = self._backoff()
        if self._attempt <= 1 or self._attempt % 10 == 0:
            log.warning(
                "broker %s:%d unreachable (%s: %s); retry in %.1fs", self.s.host, self.s.port, kind, detail, delay
            )
        if self.stats.disconnected_since is None:
            self.stats.disconnected_since = time.time()

    def _backoff(self) -> float:
        self._attempt += 1
        cap = min(self.s.reconnect_max_s, self.s.reconnect_min_s * 2 ** min(self._attempt - 1, 30))
        delay = random.uniform(self.s.reconnect_min_s, max(self.s.reconnect_min_s, cap))  # full jitter
        self._next_connect = time.monotonic() + delay
        return delay

    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        self._connecting = False
        if reason_code.is_failure:
            self._failed_connect("refused", str(reason_code))
            client.disconnect()
            return
        self._attempt = 0
        rm = getattr(properties, "ReceiveMaximum", None) if properties is not None else None
        self.stats.receive_maximum = rm
        self._window = min(self.s.max_inflight, rm) if rm else self.s.max_inflight
        self.stats.connected = True
        self.stats.connects += 1
        self.stats.connected_since = time.time()
        down = self.stats.disconnected_since
        self.stats.disconnected_since = None
        log.info(
            "connected to %s:%d (MQTT %s, window %d%s)",
            self.s.host,
            self.s.port,
            self.s.protocol,
            self._window,
            ", down %.0fs" % (time.time() - down) if down else "",
        )
        client.publish(self.s.topic("status"), status_payload("online"), qos=1, retain=True)
        if self._on_connect_hook is not None:
            self._on_connect_hook(self)

    def _on_connect_fail(self, client, userdata) -> None:
        self._connecting = False
        self._failed_connect("connect_failed", "no CONNACK")

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        was = self.stats.connected
        self._connecting = False
        self.stats.connected = False
        if self.stats.disconnected_since is None:
            self.stats.disconnected_since = time.time()
        if was and not self._stop.is_set():
            log.warning(
                "connection to broker lost (%s); %d batches wait for their PUBACK", reason_code, len(self._inflight)
            )
        self._backoff()

    def _on_publish(self, client, userdata, mid, reason_code, properties) -> None:
        batch = self._inflight.pop(mid, None)
        if batch is None:
            return  # status, metrics or alerts
        self._update_inflight_stats()
        if reason_code.is_failure:
            name = reason_code.getName() if hasattr(reason_code, "getName") else str(reason_code)
            self.stats.failed_publishes[name] += 1
            self.buffer.release(batch.ids)
            self._paused_until = time.monotonic() + self.s.retry_after_failure_s
            log.warning("broker refused batch %d (%s): %d readings stay buffered", batch.seq, name, batch.readings)
            return
        self.buffer.ack(batch.ids)
        self.stats.acked_batches += 1
        self.stats.forwarded_readings += batch.readings
        self.stats.forwarded_values += batch.values
        self.stats.recent_acks.append((time.monotonic(), batch.readings))
        if self._on_forwarded is not None:
            self._on_forwarded(batch.readings)

    def _update_inflight_stats(self) -> None:
        self.stats.inflight_batches = len(self._inflight)
        self.stats.inflight_readings = sum(b.readings for b in self._inflight.values())

    # -- sending -------------------------------------------------------------------------------
    def _budget_ok(self, now: float) -> bool:
        if now < self._paused_until:
            return False
        if self.s.rate_readings_per_s > 0:
            self._tokens = min(
                self._tokens + (now - self._tokens_at) * self.s.rate_readings_per_s,
                max(float(self.s.batch_max_readings), self.s.rate_readings_per_s),
            )
            self._tokens_at = now
            if self._tokens < 1:
                return False
        if self.s.bytes_per_day > 0:
            day = int(time.time() // 86400)
            if day != self._day:
                self._day, self._day_bytes = day, 0
            if self._day_bytes >= self.s.bytes_per_day:
                return False
        return True

    def _batch_limit(self) -> int:
        n = self.s.batch_max_readings
        if self.s.rate_readings_per_s > 0:
            n = max(1, min(n, int(self._tokens)))
        return n

    def _send_one(self) -> bool:
        """Claim and publish one batch; False when there is nothing to send."""
        claim = self.buffer.claim(self._batch_limit())
        if claim is None:
            return False
        payload, claim, values = self._fit(claim)
        self._seq += 1
        props = None
        if self.s.protocol == "5":
            props = Properties(PacketTypes.PUBLISH)
            props.ContentType = senml.CONTENT_TYPE
            user = [("batch", "%s.%d" % (self._boot, self._seq))]
            if self.s.compression == "deflate":
                user.append(("content-encoding", "deflate"))
            props.UserProperty = user
        info = self.client.publish(self.s.up_topic, payload, qos=self.s.qos, properties=props)
        if info.rc != mqtt.MQTT_ERR_SUCCESS and info.rc != mqtt.MQTT_ERR_NO_CONN:
            self.buffer.release(claim.ids)
            self.stats.failed_publishes["client:%s" % mqtt.error_string(info.rc)] += 1
            return False
        self._inflight[info.mid] = Batch(
            info.mid, self._seq, claim.ids, claim.readings, values, len(payload), time.monotonic()
        )
        self._update_inflight_stats()
        self.stats.published_batches += 1
        self.stats.payload_bytes += len(payload)
        self._day_bytes += len(payload)
        if self.s.rate_readings_per_s > 0:
            self._tokens -= claim.readings
        return True

    def _fit(self, claim: Claim) -> tuple[bytes, Claim, int]:
        """Encode (and compress, when configured) the claim; give rows back until the payload fits
        batch_max_bytes."""
        while True:
            groups = _group(claim)
            payload = senml.encode_pack(groups, self._encoder)
            if self.s.compression == "deflate":
                payload = zlib.compress(payload, DEFLATE_LEVEL)
            if len(payload) <= self.s.batch_max_bytes or len(claim.rows) == 1:
                return payload, claim, senml.count_values(groups)
            keep = max(1, len(claim.rows) // 2)
            self.buffer.release([r.id for r in claim.rows[keep:]])
            claim = Claim(claim.rows[:keep], min(claim.live_rows, keep))

    # -- side messages (status, metrics, alerts) ------------------------------------------------
    def publish_side(self, leaf: str, payload: bytes, *, retain: bool = False, qos: int = 1) -> None:
        """Queue a small message for {root}/{gateway_id}/{leaf}; sent when connected (bounded queue)."""
        self._side.append((self.s.topic(leaf), payload, retain, qos))

    def _send_side(self) -> None:
        while self._side and self.stats.connected:
            topic, payload, retain, qos = self._side.popleft()
            self.client.publish(topic, payload, qos=qos, retain=retain)

    # -- the thread ------------------------------------------------------------------------------
    def stop(self, timeout: float = 10.0) -> None:
        """Say offline, wait up to timeout for outstanding PUBACKs, delete what was confirmed, disconnect."""
        self._join_s = timeout + 5
        super().stop()

    def _run(self) -> None:
        self.run()

    def run(self) -> None:
        while not self._stop.is_set():
            try:
                self.turn()
            except Exception as e:  # never die silently: the agent would buffer forever
                self.stats.store_errors["unexpected:%s" % type(e).__name__] += 1
                log.exception("forwarder error; going on in 1 s")
                self._stop.wait(1.0)
        self._shutdown()

    def turn(self) -> None:
        now = time.monotonic()
        if not self.stats.connected and not self._connecting and now >= self._next_connect:
            self._connect()
        busy = False
        if self.stats.connected:
            self._send_side()
            try:
                while len(self._inflight) < self._window and self._budget_ok(time.monotonic()):
                    if not self._send_one():
                        break
                    busy = True
            except StoreError as e:
                self._store_error(e)
        rc = self.client.loop(timeout=0.002 if busy or self._inflight else 0.05)
        if rc != mqtt.MQTT_ERR_SUCCESS and self.stats.connected:
            self.stats.connected = False
        if now - self._last_flush >= self.s.delete_interval_s or self.buffer.acked_unflushed >= 50000:
            self._last_flush = now
            try:
                self.buffer.flush()
            except StoreError as e:
                self._store_error(e)

    def _store_error(self, e: StoreError) -> None:
        self.stats.store_errors[type(e).__name__] += 1
        self._paused_until = time.monotonic() + max(1.0, self.s.retry_after_failure_s)
        log.error("buffer error, forwarding paused: %s", e)

    def _shutdown(self, timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while self._inflight and self.stats.connected and time.monotonic() < deadline:
            self.client.loop(timeout=0.05)
        if self.stats.connected:
            info = self.client.publish(
                self.s.topic("status"), status_payload("offline", "shutdown"), qos=1, retain=True
            )
            end = time.monotonic() + 2
            while not info.is_published() and self.stats.connected and time.monotonic() < end:
                self.client.loop(timeout=0.05)
            self.client.disconnect()
            self.client.loop(timeout=0.05)
        try:
            self.buffer.flush()
        except StoreError as e:
            log.error("could not delete confirmed rows at shutdown (they will be sent again): %s", e)


def _group(claim: Claim) -> list[tuple[str, list[senml.Reading]]]:
    groups: dict[str, list[senml.Reading]] = {}
    for row in claim.rows:
        groups.setdefault(row.dev_eui, []).extend(row.readings)
    return list(groups.items())
