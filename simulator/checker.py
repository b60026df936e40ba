"""The platform checker: a reference consumer of the gateway's SenML-CBOR that proves completeness.

It subscribes to ``{root}/+/alerts`` (the gateway's alerts, JSON, kept for simulator/usecases.py)
and ``{root}/+/up/#`` (``/up``, and ``/up/deflate`` when the agent compresses: zlib, RFC 1950):
with MQTT 5 as a shared subscription ``$share/<group>/{root}/+/up/#``
(several checkers in one group split the messages, as platform consumers scale out), with MQTT 3.1.1
as a plain subscription (3.1.1 has no shared subscriptions). Its session is persistent (QoS 1,
clean start off), so messages published while it reconnects are not lost to it.

Each message is a SenML pack (RFC 8428) in CBOR with integer labels: bver -1, bn -2, bt -3, bu -4,
bv -5, n 0, u 1, v 2, t 6. Base fields carry forward to later records. A value's unique key is its
resolved name and time (bn+n, bt+t); a key seen again is a duplicate and is dropped.

Names are mapped back to nodes by the node's DevEUI (16 hex digits) inside the resolved name and
the quantity that follows it (``urn:dev:deveui:<eui>:pm2_5``, ``<eui>/pm2_5`` and similar all work).

The ``Ledger`` holds what the nodes generated (per node: sequence, measurement time, values) and the
losses the runner can explain (radio loss never recovered by backfill, eviction, power loss before
logging). ``verdict()`` says, per reading, whether it arrived exactly once after de-duplication
with its measurement time and values, and explains or flags every one that did not.
"""

from __future__ import annotations

import json
import math
import re
import threading
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import cbor2

from edge import vocab
from edge.payload import ROUNDING_BAND, to_steps
from gateway.forward.senml import from_published

CONTENT_TYPE = "application/senml+cbor"
_EUI = re.compile(r"[0-9a-fA-F]{16}")
BVER, BN, BT, BU, BV, N, U, V, T = -1, -2, -3, -4, -5, 0, 1, 2, 6


class SenmlError(ValueError):
    """A message that is not a SenML-CBOR pack."""


class Value(NamedTuple):
    name: str  # resolved name
    t: float  # resolved time, unix seconds
    v: int | float | Decimal  # exact: bv + v in decimal arithmetic (tag-4 values arrive as Decimal)
    unit: str | None


_NUMBER = (int, float, Decimal)  # tuples, not unions: isinstance() is several times faster on them


def _finite(x: int | float | Decimal) -> bool:
    """Decimal(x).is_finite(), without building a Decimal for an int or a float."""
    if isinstance(x, float):
        return math.isfinite(x)
    return x.is_finite() if isinstance(x, Decimal) else True


def decode_pack(data: bytes) -> list[Value]:
    """Resolve every record of a SenML-CBOR pack (base name, time, unit and value carried forward)."""
    try:
        pack = cbor2.loads(data)
    except Exception as e:  # cbor2 raises several types for malformed input
        raise SenmlError("not CBOR: %s" % e) from None
    if not isinstance(pack, list) or not pack:
        raise SenmlError("a SenML pack is a non-empty array")
    out: list[Value] = []
    bn, bt, bu, bv = "", 0.0, None, 0.0
    for rec in pack:
        if not isinstance(rec, dict):
            raise SenmlError("a SenML record is a map")
        bn = rec.get(BN, bn)
        bt = rec.get(BT, bt)
        bu = rec.get(BU, bu)
        bv = rec.get(BV, bv)
        if V not in rec:
            continue  # a record carrying only base fields
        n, v, t = rec.get(N, ""), rec[V], rec.get(T, 0)
        if not isinstance(bn, str) or not isinstance(n, str):
            raise SenmlError("names must be text")
        name = bn + n
        if isinstance(v, bool) or not isinstance(v, _NUMBER) or not isinstance(t, _NUMBER[:2]):
            raise SenmlError("name must be text, value and time numbers")
        if not isinstance(bt, _NUMBER[:2]) or not isinstance(bv, _NUMBER):
            raise SenmlError("base time and base value must be numbers")
        if not _finite(v) or not _finite(bv):
            raise SenmlError("values must be finite")
        out.append(Value(name, bt + t, Decimal(bv) + Decimal(v) if bv else v, rec.get(U, bu)))
    return out


def split_name(name: str) -> tuple[str, str] | None:
    """(dev_eui lower-case, quantity) from a resolved name, or None when it names no node quantity."""
    m = _EUI.search(name)
    if not m:
        return None
    quantity = name[m.end() :].lstrip(":/._-")
    return m.group(0).lower(), quantity


@dataclass
class Reading:
    node: str
    seq: int
    t: int
    values: dict[str, float]


@dataclass
class Verdict:
    generated: int = 0
    delivered_unique: int = 0
    duplicates: int = 0
    lost_explained: int = 0
    lost_unexplained: int = 0
    explained: dict[str, int] = field(default_factory=dict)
    unexplained: list[dict[str, Any]] = field(default_factory=list)  # first few, for the report
    wrong_values: int = 0
    wrong: list[dict[str, Any]] = field(default_factory=list)  # first few wrong values, for the report
    unexpected_values: int = 0  # arrivals matching no generated reading (wrong time or name)
    malformed_messages: int = 0
    time_mismatch: int = 0  # unexplained readings whose values all arrived, but under another time
    messages: int = 0
    values_received: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "generated": self.generated,
            "delivered_unique": self.delivered_unique,
            "duplicates": self.duplicates,
            "lost_explained": self.lost_explained,
            "lost_unexplained": self.lost_unexplained,
            "lost_by_reason": dict(sorted(self.explained.items())),
            "wrong_values": self.wrong_values,
            "unexpected_values": self.unexpected_values,
            "malformed_messages": self.malformed_messages,
            "time_mismatch": self.time_mismatch,
            "messages": self.messages,
            "values_received": self.values_received,
            "unexplained_examples": self.unexplained[:20],
            "wrong_value_examples": self.wrong[:20],
        }


def _steps(quantity: str, value: float) -> int:
    """A value in wire steps, rounded as the node payload codec does (docs/payload.md "Rounding")."""
    q = vocab.BY_NAME[quantity]
    return to_steps(value, q[4], q[5])


class Ledger:
    """What was generated, what the runner can explain, what arrived; thread-safe for the MQTT thread."""

    def __init__(self, dev_euis: dict[str, str], now: Callable[[], float] | None = None) -> None:
        self._now = now  # virtual unix time, for the delivery latency of each reading
        self._node_of = {eui.lower(): node for node, eui in dev_euis.items()}
        self._names: dict[str, tuple[str, str] | None] = {}  # split_name() of each name met: nodes x quantities
        self._lock = threading.Lock()
        self.readings: dict[tuple[str, int], Reading] = {}
        self.explanations: dict[tuple[str, int], str] = {}
        self.arrivals: dict[tuple[str, str, float], float] = {}  # (node, quantity, t) -> value
        self.duplicates = 0
        self.unrecognised = 0
        self.malformed = 0
        self.messages = 0
        self.values_received = 0
        self.content_type_missing = 0
        self.deflated_messages = 0  # arrived on /up/deflate
        self._by_time: dict[tuple[str, float], tuple[str, int]] = {}
        self._got: dict[tuple[str, int], int] = {}
        self._complete = 0
        self.discarded: list[tuple[Reading, str]] = []
        self._values_seen: set[tuple[str, str, int]] = set()  # (node, quantity, value in wire steps), any time
        self._latency: list[float] = []  # seconds from measurement to the reading's last value arriving
        self.events: set[tuple[str, int]] = set()  # event readings (confirmed uplinks outside the batch)
        self.arrived_at: dict[tuple[str, int], float] = {}  # virtual unix time the reading's last value came
        self.alerts: list[dict[str, Any]] = []  # from the gateway's alert topic, with "received_at"

    def generated(self, node: str, seq: int, t: int, values: dict[str, float], event: bool = False) -> None:
        """A reading the node logged; event: an event reading, sent at once outside the batch."""
        with self._lock:
            self.readings[(node, seq)] = Reading(node, seq, t, dict(values))
            if event:
                self.events.add((node, seq))
            self._by_time[(node, float(t))] = (node, seq)
            got = sum(1 for q in values if (node, q, float(t)) in self.arrivals)
            self._got[(node, seq)] = got
            if values and got == len(values):
                self._complete += 1
                if self._now is not None:
                    self.arrived_at[(node, seq)] = self._now()

    def arrived_readings(self) -> int:
        """Generated readings whose every value arrived (cheap: kept up to date on each arrival)."""
        return self._complete

    def explain(self, node: str, seq: int, reason: str) -> None:
        """A loss the scenario declared or the radio caused; the first reason given stays."""
        with self._lock:
            self.explanations.setdefault((node, seq), reason)

    def discard(self, node: str, seq: int, reason: str) -> None:
        """A generated reading lost before it reached flash: the node cannot resend it and may reuse its
        seq. It still arrives if a frame carried it before the loss (counted delivered, not unexpected)."""
        with self._lock:
            r = self.readings.pop((node, seq), None)
            if r is not None:
                self._by_time.pop((node, float(r.t)), None)
                self._got.pop((node, seq), None)
                self.discarded.append((r, reason))

    def unexplain(self, node: str, seq: int) -> None:
        """Withdraw an explanation (a frame lost on the radio whose readings were later resent)."""
        with self._lock:
            self.explanations.pop((node, seq), None)

    def arrived(self, payload: bytes, content_type: str | None = None) -> int:
        """Record one MQTT message; how many values it held (0 when malformed)."""
        try:
            values = decode_pack(payload)
        except SenmlError:
            with self._lock:
                self.malformed += 1
            return 0
        with self._lock:
            self.messages += 1
            if content_type is not None and content_type != CONTENT_TYPE:
                self.content_type_missing += 1
            for v in values:
                self.values_received += 1
                if v.name in self._names:
                    parts = self._names[v.name]
                else:
                    parts = self._names[v.name] = split_name(v.name)
                node = self._node_of.get(parts[0]) if parts else None
                if node is None or parts is None or parts[1] not in vocab.BY_NAME:
                    self.unrecognised += 1
                    continue
                key = (node, parts[1], v.t)
                value = from_published(parts[1], v.v, v.unit)  # exact: no rounding (docs/platform.md)
                self._values_seen.add((node, parts[1], _steps(parts[1], value)))
                if key in self.arrivals:
                    self.duplicates += 1
                    continue
                self.arrivals[key] = value
                rkey = self._by_time.get((node, v.t))
                if rkey is not None and parts[1] in self.readings[rkey].values:
                    self._got[rkey] += 1
                    if self._got[rkey] == len(self.readings[rkey].values):
                        self._complete += 1
                        if self._now is not None:
                            self.arrived_at[rkey] = self._now()
                            self._latency.append(self._now() - self.readings[rkey].t)
        return len(values)

    def alert(self, payload: bytes) -> None:
        """One message of the gateway's alert topic (JSON, docs/platform.md); malformed ones are counted."""
        try:
            doc = json.loads(payload)
            if not isinstance(doc, dict):
                raise ValueError("not an object")
        except ValueError:
            with self._lock:
                self.malformed += 1
            return
        with self._lock:
            if self._now is not None:
                doc["received_at"] = self._now()
            self.alerts.append(doc)

    def latencies(self) -> list[float]:
        with self._lock:
            return list(self._latency)

    def arrived_count(self) -> int:
        with self._lock:
            return len(self.arrivals)

    def _delivered(self, out: Verdict, r: Reading, keys: list[tuple[str, str, float]], example_limit: int) -> None:
        """Count a reading whose every value arrived, and any value outside the wire resolution."""
        out.delivered_unique += 1
        for k in keys:
            # the node rounds to its step with an error of at most ROUNDING_BAND steps
            if abs(self.arrivals[k] - r.values[k[1]]) > vocab.resolution(k[1]) * ROUNDING_BAND + 1e-9:
                out.wrong_values += 1
                if len(out.wrong) < example_limit:
                    example = {"node": r.node, "seq": r.seq, "t": r.t, "quantity": k[1]}
                    example.update(generated=r.values[k[1]], arrived=self.arrivals[k])
                    out.wrong.append(example)

    def verdict(self, example_limit: int = 20) -> Verdict:
        with self._lock:
            out = Verdict(
                generated=len(self.readings),
                duplicates=self.duplicates,
                malformed_messages=self.malformed,
                messages=self.messages,
                values_received=self.values_received,
            )
            matched: set[tuple[str, str, float]] = set()
            reasons: Counter[str] = Counter()
            for (node, seq), r in sorted(self.readings.items()):
                keys = [(node, q, float(r.t)) for q in r.values]
                present = [k for k in keys if k in self.arrivals]
                matched.update(present)
                if present and len(present) == len(keys):
                    self._delivered(out, r, keys, example_limit)
                    continue
                reason = self.explanations.get((node, seq))
                if reason is not None and not present:
                    reasons[reason] += 1
                    continue
                out.lost_unexplained += 1
                if all((node, q, _steps(q, v)) in self._values_seen for q, v in r.values.items()):
                    out.time_mismatch += 1
                if len(out.unexplained) < example_limit:
                    missing = sorted(k[1] for k in keys if k not in self.arrivals)
                    out.unexplained.append({"node": node, "seq": seq, "t": r.t, "missing": missing})
            for r, reason in self.discarded:
                out.generated += 1
                keys = [(r.node, q, float(r.t)) for q in r.values]
                if keys and all(k in self.arrivals and k not in matched for k in keys):
                    # lost from the node's RAM before it reached flash, but a frame had already carried it
                    matched.update(keys)
                    self._delivered(out, r, keys, example_limit)
                    continue
                reasons[reason] += 1
            out.explained = dict(reasons)
            out.lost_explained = sum(reasons.values())
            out.unexpected_values = len(set(self.arrivals) - matched) + self.unrecognised
            return out


class Checker:
    """An MQTT consumer feeding a Ledger; paho-mqtt 2.x in its own network thread."""

    def __init__(
        self,
        ledger: Ledger,
        port: int,
        topic_root: str,
        mqtt_version: int = 5,
        group: str = "edge-checker",
        client_id: str = "edge-sim-checker",
        host: str = "127.0.0.1",
    ) -> None:
        import paho.mqtt.client as mqtt
        from paho.mqtt.enums import CallbackAPIVersion

        self.ledger = ledger
        self.host, self.port = host, port
        self.mqtt_version = mqtt_version
        topic = "%s/+/up/#" % topic_root.strip("/")
        self.topic = "$share/%s/%s" % (group, topic) if mqtt_version == 5 else topic
        self.alert_topic = "%s/+/alerts" % topic_root.strip("/")
        proto = mqtt.MQTTv5 if mqtt_version == 5 else mqtt.MQTTv311
        kwargs: dict[str, Any] = {"client_id": client_id, "protocol": proto}
        if mqtt_version != 5:
            kwargs["clean_session"] = False
        self._mqtt = mqtt
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, **kwargs)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(1, 2)
        self.subscribed = threading.Event()
        self.client.on_subscribe = lambda *a: self.subscribed.set()

    def start(self, timeout_s: float = 10.0) -> None:
        if self.mqtt_version == 5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = 3600
            self.client.connect(self.host, self.port, keepalive=30, clean_start=False, properties=props)
        else:
            self.client.connect(self.host, self.port, keepalive=30)
        self.client.loop_start()
        if not self.subscribed.wait(timeout_s):
            raise RuntimeError("checker: no SUBACK from the broker on port %d within %gs" % (self.port, timeout_s))

    def stop(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any = None) -> None:
        if not reason.is_failure:
            client.subscribe([(self.alert_topic, 1), (self.topic, 1)])

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        content_type = None
        if self.mqtt_version == 5:
            content_type = getattr(msg.properties, "ContentType", "") if msg.properties else ""
        payload = msg.payload
        if msg.topic.endswith("/alerts"):
            self.ledger.alert(payload)
            return
        if msg.topic.endswith("/deflate"):
            self.ledger.deflated_messages += 1
            try:
                payload = zlib.decompress(payload)
            except zlib.error:
                payload = b""  # counted as malformed by the ledger
        self.ledger.arrived(payload, content_type)
