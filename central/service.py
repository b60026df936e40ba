"""`edge platform run`: MQTT messages of every gateway into PostgreSQL, acknowledged after commit.

Threads: paho's network loop receives messages (manual acknowledgement: paho sends no PUBACK by
itself) and queues them; the writer (the caller of `run`) takes a batch from the queue, resolves
it, writes it in one transaction (central/store.py) and only then acknowledges each message. A
crash before the commit leaves the messages unacknowledged: the broker sends them again (to this
instance's persistent session when it is back) and the unique keys drop what was already stored.
While the database is unreachable, the writer keeps its batch, acknowledges nothing, and retries
with exponential back-off; the broker stops sending after [mqtt] receive_maximum messages.

Subscriptions: data and gateway alerts through the shared subscription
``$share/{group}/{root}/+/up/#`` and ``.../+/alerts`` (MQTT 5: instances of one group split them);
retained topics (devices, status, metrics) directly: Mosquitto sends no retained message on a
shared subscription; their writes are idempotent, so every instance may write them. MQTT 3.1.1 has no
shared subscriptions: one instance, plain topic filters.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import queue
import threading
import time
from collections import Counter
from pathlib import Path

import paho.mqtt.client as mqtt
import psycopg
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from central import checks, db, store
from central.config import Config
from central.senml import PackError, parse_topic, unpack
from gateway.forward.client import MqttOptions, new_client
from gateway.forward.settings import check_private

log = logging.getLogger("edge.platform")

DATA_LEAVES = ("up", "up/deflate")
OTHER_LEAVES = ("status", "metrics", "alerts")
PLATFORM_LEVEL = "platform"  # {root}/platform/alerts is ours, not a gateway's
STATS_EVERY_S = 10.0


def make_client(cfg: Config, on_message, on_connect) -> mqtt.Client:
    """The paho client from the project's one factory (gateway/forward/client.py: TLS, credentials,
    protocol, persistent session), with manual acknowledgement; connected in the background, so a
    broker that is down at start is retried like one that goes away later."""
    password = ""
    if cfg.mqtt.password_file:
        check_private(cfg.mqtt.password_file, "[mqtt] password_file")
        password = Path(cfg.mqtt.password_file).read_text().strip()
    opts = MqttOptions.from_url(
        cfg.mqtt.url, cfg.client_id, protocol=cfg.mqtt.version, ca_file=cfg.mqtt.ca_file,
        username=cfg.mqtt.username, password=password, keepalive_s=cfg.mqtt.keepalive_s,
        session_expiry_s=cfg.mqtt.session_expiry_s,
    )  # fmt: skip
    c = new_client(opts)
    c.manual_ack_set(True)  # PUBACK only after the commit (Service._ack)
    c.reconnect_delay_set(1, 30)
    c.on_message = on_message
    c.on_connect = on_connect
    if opts.protocol == "5":
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = cfg.mqtt.session_expiry_s
        props.ReceiveMaximum = cfg.mqtt.receive_maximum  # unacknowledged messages the broker may send us
        c.connect_async(opts.host, opts.port, opts.keepalive_s, clean_start=False, properties=props)
    else:
        c.max_inflight_messages_set(cfg.mqtt.receive_maximum)
        c.connect_async(opts.host, opts.port, opts.keepalive_s)  # clean session off: new_client
    return c


def topic_filters(cfg: Config) -> list[tuple[str, int]]:
    root = cfg.mqtt.topic_root
    shared = "$share/%s/" % cfg.mqtt.group if cfg.mqtt.version == "5" else ""
    return [
        (shared + "%s/+/up/#" % root, 1),
        (shared + "%s/+/alerts" % root, 1),
        ("%s/+/devices/+" % root, 1),
        ("%s/+/status" % root, 1),
        ("%s/+/metrics" % root, 1),
    ]


class Service:
    def __init__(self, cfg: Config, client_id: str | None = None) -> None:
        if client_id:
            cfg = dataclasses.replace(cfg, mqtt=dataclasses.replace(cfg.mqtt, client_id=client_id))
        self.cfg = cfg
        self.counts: Counter[str] = Counter()
        self._queue: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._stop = threading.Event()
        self._conn: psycopg.Connection | None = None
        # A packet id is only meaningful on the connection that brought the message: after a
        # reconnect the broker may give it to another message. Messages of an earlier connection
        # are not acknowledged; a resumed session sends them again (stored already: dropped).
        self.connections = 0  # connections made to the broker so far
        self._arrived_on: dict[int, int] = {}  # id(message) -> connection number
        self.subscribed = threading.Event()  # set once the broker confirmed the subscriptions
        self.client = make_client(cfg, self._on_message, self._on_connect)
        self.client.on_subscribe = self._on_subscribe

    # paho thread
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            log.warning("broker refused the connection: %s", reason_code)
            return
        self.connections += 1
        self.subscribed.clear()  # until the broker confirms the subscriptions of this connection
        log.info("connected to %s (session present: %s)", self.cfg.mqtt.url, flags.session_present)
        client.subscribe(topic_filters(self.cfg))

    def _on_subscribe(self, client, userdata, mid, reason_codes, properties) -> None:
        refused = [str(rc) for rc in reason_codes if rc.is_failure]
        if refused:
            log.error("broker refused subscriptions: %s", ", ".join(refused))
            return
        log.info("subscribed to %s", ", ".join(f for f, _ in topic_filters(self.cfg)))
        self.subscribed.set()

    def _on_message(self, client, userdata, msg: mqtt.MQTTMessage) -> None:
        self._arrived_on[id(msg)] = self.connections
        self._queue.put(msg)

    # writer thread
    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        with db.connect(self.cfg.database.dsn) as conn:
            db.require_schema(conn)
        self.client.loop_start()
        checker = None
        if self.cfg.checks.interval_s > 0:
            checker = threading.Thread(target=self._check_loop, name="platform-checks", daemon=True)
            checker.start()
        try:
            last_stats = time.monotonic()
            while not self._stop.is_set():
                msgs = self._take()
                if msgs:
                    self._commit(msgs)
                if time.monotonic() - last_stats >= STATS_EVERY_S:
                    last_stats = time.monotonic()
                    log.info("counts %s", dict(sorted(self.counts.items())))
        finally:
            log.info("stopping; counts %s", dict(sorted(self.counts.items())))
            if checker is not None:
                checker.join(10)
            self.client.disconnect()  # the session stays on the broker for session_expiry_s
            self.client.loop_stop()
            if self._conn is not None:
                self._conn.close()

    def _take(self) -> list[mqtt.MQTTMessage]:
        try:
            first = self._queue.get(timeout=0.2)
        except queue.Empty:
            return []
        msgs = [first]
        deadline = time.monotonic() + self.cfg.ingest.batch_wait_s
        size = len(first.payload)
        budget = self.cfg.ingest.batch_values * 12  # a value takes about 12 bytes of pack (docs/platform.md)
        while size < budget:
            try:
                m = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                break
            msgs.append(m)
            size += len(m.payload)
        return msgs

    def batch(self, msgs: list[mqtt.MQTTMessage]) -> store.Batch:
        """Sort messages into what one transaction writes; bad ones become dead letters."""
        b = store.Batch()
        root = self.cfg.mqtt.topic_root
        for m in msgs:
            payload = bytes(m.payload)
            try:
                gw, leaf = parse_topic(root, m.topic)
            except PackError as e:
                b.dead.append((m.topic, None, e.reason, e.detail, payload))
                self.counts["dead_" + e.reason] += 1
                continue
            if gw == PLATFORM_LEVEL:
                continue  # our own alerts
            b.gateways.add(gw)
            if leaf in DATA_LEAVES or leaf.startswith("up/"):
                try:
                    values = unpack(leaf, payload)
                except PackError as e:
                    b.dead.append((m.topic, gw, e.reason, e.detail, payload))
                    self.counts["dead_" + e.reason] += 1
                    continue
                except Exception as e:  # a bug of ours must not stop the ingest: keep the message
                    log.exception("cannot read the message on %s", m.topic)
                    b.dead.append((m.topic, gw, "unreadable", "%s: %s" % (type(e).__name__, e), payload))
                    self.counts["dead_unreadable"] += 1
                    continue
                b.values.append((gw, values))
                self.counts["messages"] += 1
                self.counts["values_received"] += len(values)
            elif leaf in OTHER_LEAVES:
                b.other.append((leaf, gw, "", payload))
            elif leaf.startswith("devices/"):
                b.other.append(("devices", gw, leaf[len("devices/") :], payload))
        return b

    def _commit(self, msgs: list[mqtt.MQTTMessage]) -> None:
        if self._write(msgs, self.batch(msgs)):
            self._ack(msgs)

    def _write(self, msgs: list[mqtt.MQTTMessage], b: store.Batch) -> bool:
        """Write until committed (True), or until stopping (False: nothing acknowledged)."""
        delay = self.cfg.ingest.retry_min_s
        while True:
            try:
                conn = self._connection()
                self.counts["values_stored"] += store.write(conn, b)
                return True
            except (psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure):
                self.counts["retried_conflicts"] += 1  # the other instance held rows we needed: again
            except (psycopg.OperationalError, psycopg.InterfaceError, db.DatabaseError) as e:
                self.counts["db_errors"] += 1
                why = (str(e).strip() or type(e).__name__).splitlines()[0]
                log.warning("database unavailable (%s); holding %d messages, retry in %.1f s", why, len(msgs), delay)
                self._drop_connection()
                if self._stop.wait(delay):
                    return False  # stopping: nothing acknowledged, the broker sends them again
                delay = min(delay * 2, self.cfg.ingest.retry_max_s)
            except psycopg.Error as e:  # the database refused something in the batch: find the message
                self._refused(msgs, e)
                return False

    def _refused(self, msgs: list[mqtt.MQTTMessage], error: psycopg.Error) -> None:
        if len(msgs) > 1:
            for m in msgs:
                self._commit([m])
            return
        m = msgs[0]
        self.counts["dead_db_refused"] += 1
        log.warning("database refused the message on %s: %s", m.topic, str(error).strip())
        dead = store.Batch(dead=[(m.topic, None, "db_refused", str(error).strip(), bytes(m.payload))])
        if self._write(msgs, dead):
            self._ack(msgs)

    def _ack(self, msgs: list[mqtt.MQTTMessage]) -> None:
        for m in msgs:
            if self._arrived_on.pop(id(m), None) != self.connections:
                self.counts["not_acked_stale_connection"] += 1
                continue
            if m.qos:
                self.client.ack(m.mid, m.qos)
            self.counts["acked"] += 1

    def _check_loop(self) -> None:
        """Every [checks] interval_s: the platform checks, their transitions on {root}/platform/alerts."""
        topic = "%s/%s/alerts" % (self.cfg.mqtt.topic_root, PLATFORM_LEVEL)
        while not self._stop.wait(self.cfg.checks.interval_s):
            try:
                with db.connect(self.cfg.database.dsn, name=self.cfg.client_id + "-checks") as conn:
                    events = checks.run(conn, time.time(), self.cfg.checks)
            except (psycopg.Error, db.DatabaseError) as e:
                log.warning("platform checks skipped: %s", str(e).strip().splitlines()[0] if str(e).strip() else e)
                continue
            for ev in events:
                self.counts["alerts_" + ev["state"]] += 1
                self.client.publish(topic, json.dumps(ev, separators=(",", ":"), sort_keys=True), qos=1)

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            self._conn = db.connect(self.cfg.database.dsn, name=self.cfg.client_id)
            store.prepare(self._conn)
        return self._conn

    def _drop_connection(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except psycopg.Error:
                pass
            self._conn = None
